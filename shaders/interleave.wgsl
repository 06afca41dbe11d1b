// The last pass of a transposed convolution run as stride-1 phases: one phase's outputs, held
// densely in a scratch tensor by the phase's convolution, written to their strided places in
// the output (every `stride`-th row and column from the phase's offset), with the epilogue
// (bias, residual, activation) applied here, once per output element. The variant without a
// scratch tensor writes the outputs no kernel tap reaches: bias (and residual) only.
// One invocation per output element of the phase.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
{{BINDINGS}}
{{EPILOGUE_BINDINGS}}

{{ACCESSORS}}

{{EPILOGUE}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.elements) {
        return;
    }
    {{INDEX}}
    let oy = qy * params.stride_h + params.phase_h;
    let ox = qx * params.stride_w + params.phase_w;
    let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + ox * params.ys_w;
    {{VALUE}}
    st_y(rel, finish(acc, k, rel));
}
