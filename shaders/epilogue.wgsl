// The epilogue as a pass of its own: bias, residual and activation applied in place to an
// output the convolution wrote without them. Used only where an adapter allows too few storage
// buffers per stage for a kernel to bind its operands and the epilogue's at once (wgpu's
// downlevel limits: 4). One invocation per output element of the pass's images and channels.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

@group(0) @binding(0) var<uniform> params: Params;
{{Y_BINDING}}
{{EPILOGUE_BINDINGS}}

{{ACCESSORS}}

{{EPILOGUE}}

@compute @workgroup_size({{WORKGROUP}})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * {{WORKGROUP}}u;
    if (id >= params.elements) {
        return;
    }
    let pix = id % params.out_hw;
    let k = (id / params.out_hw) % params.out_channels;
    let n = id / (params.out_hw * params.out_channels);
    let rel = n * params.ys_n + k * params.ys_c + (pix / params.out_w) * params.ys_h + (pix % params.out_w) * params.ys_w;
    st_y(params.y_offset + rel, finish(ld_y(params.y_offset + rel), k, rel));
}
