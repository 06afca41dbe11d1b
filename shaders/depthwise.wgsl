// Depthwise convolution: invocation (n, k, oy, strip) computes STRIP neighbouring output
// pixels of output channel k from input channel k / multiplier. Neighbouring invocations take
// what is contiguous in memory: neighbouring strips of one row (NCHW), or neighbouring channels
// of one pixel (NHWC), so a warp's loads and stores walk along memory.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

// Output pixels per invocation, along a row.
const STRIP: u32 = {{STRIP}}u;

@group(0) @binding(0) var<uniform> params: Params;
{{X_BINDING}}
{{Y_BINDING}}
@group(0) @binding(3) var<storage, read> w: array<f32>;
{{EPILOGUE_BINDINGS}}

{{ACCESSORS}}

{{EPILOGUE}}

{{PAD_FUNCTIONS}}

{{LOAD}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.strips) {
        return;
    }
    {{DECODE}}
    let wb = k * params.ws_o;
    let xb = params.x_offset + n * params.xs_n + (k / params.multiplier) * params.xs_c;
    let top = i32(oy * {{SH}}u) - params.pad_top;
    let left = i32(ox0 * {{SW}}u) - params.pad_left;
    {{BODY}}
    {{STORES}}
}
