// The split-K reduction of a gradient: out[i] = (accumulate ? out[i] : 0) + Σ_z part[z][i], the
// splits added in order, so every run gives the same bits. One invocation per element of the
// slice; element i = (row, c, ky, kx) is stored through the gradient's strides (OIHW or HWIO
// weights, or the bias). `accumulate` chains batch chunks: the chunks' passes run in order.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (i >= params.count) {
        return;
    }
    let row = i / params.cols;
    let j = i % params.cols;
    let c = j / params.kernel_hw;
    let ky = (j % params.kernel_hw) / params.kernel_w;
    let kx = j % params.kernel_w;
    let at = params.dw_offset + row * params.ws_o + c * params.ws_i + ky * params.ws_h + kx * params.ws_w;
    var sum = 0.0;
    if (params.accumulate != 0u) {
        sum = out[at];
    }
    for (var z = 0u; z < params.splits; z++) {
        sum += part[z * params.count + i];
    }
    out[at] = sum;
}
