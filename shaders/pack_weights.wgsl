// Weight packing for the convolution GEMM, run once when weights are prepared: one invocation
// per element of the packed `[group][reduction][k_stride]` matrix, where the reduction index
// is (input channel, ky, kx) in that order and rows past the group's output channels are zero.
// The tensor-core path packs f16, multiplied by the power of two that keeps the weights in range.
{{HEADER}}
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<{{OUT}}>;

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.total) {
        return;
    }
    let g = id / params.group_stride;
    let rest = id % params.group_stride;
    let r = rest / params.k_stride;
    let row = rest % params.k_stride;
    var value = 0.0;
    if (row < params.group_out) {
        let ci = r / params.kernel_hw;
        let kyx = r % params.kernel_hw;
        let k = g * params.group_out + row;
        value = w[k * params.ws_o + ci * params.ws_i + (kyx / params.kernel_w) * params.ws_h + (kyx % params.kernel_w) * params.ws_w];
    }
    packed[id] = {{OUT}}(value * params.scale);
}
