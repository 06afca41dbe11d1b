// Filter transform, run once when weights are prepared: one invocation per (output, input
// channel) computes U = G g Gᵀ in f32 and stores it channel-major ([c][k], rows padded to
// k_stride) in the Winograd-domain layout, the operand order the product kernel loads as vec4.
{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;

{{WINO_INDEX}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.out_channels * params.in_channels) {
        return;
    }
    let k = id / params.in_channels;
    let c = id % params.in_channels;
    let base = k * params.ws_o + c * params.ws_i;
    {{BODY}}
}
