// Direct convolution, the path for everything Winograd does not cover (any kernel size,
// stride, dilation, groups, asymmetric padding) and the baseline Winograd is measured against.
// One invocation computes one output pixel for 4 output channels of one group, so each input
// value it loads feeds four accumulators; neighbouring invocations take neighbouring pixels.
alias act_t = f32;

struct Params {
    pixels: u32,
    blocks: u32,
    out_hw: u32,
    k_blocks_per_group: u32,
    group_in: u32,
    group_out: u32,
    kernel_h: u32,
    kernel_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: i32,
    dil_w: i32,
    ws_o: u32,
    ws_i: u32,
    ws_h: u32,
    ws_w: u32,
    x_offset: u32,
    in_h: i32,
    in_w: i32,
    pad_top: i32,
    pad_left: i32,
    xs_n: u32,
    xs_c: u32,
    xs_h: u32,
    xs_w: u32,
    y_offset: u32,
    r_offset: u32,
    out_w: u32,
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> y: array<act_t>;
@group(0) @binding(3) var<storage, read> w: array<f32>;

fn ld_x(i: u32) -> f32 {
    return f32(x[i]);
}

fn st_y(i: u32, v: f32) {
    y[i] = act_t(v);
}

fn finish(acc: f32, k: u32, rel: u32) -> f32 {
    var v = acc;
    return v;
}


@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.blocks * params.pixels) {
        return;
    }
    let block = id / params.pixels;
    let pix = id % params.pixels;
    let n = pix / params.out_hw;
    let oy = (pix % params.out_hw) / params.out_w;
    let ox = pix % params.out_w;
    let g = block / params.k_blocks_per_group;
    let k_local = (block % params.k_blocks_per_group) * 4u;
    let k0 = g * params.group_out + k_local;
    // Channels past the group's end reuse the last valid weights and are never stored.
    let last = g * params.group_out + params.group_out - 1u;
    let w0 = min(k0, last) * params.ws_o;
    let w1 = min(k0 + 1u, last) * params.ws_o;
    let w2 = min(k0 + 2u, last) * params.ws_o;
    let w3 = min(k0 + 3u, last) * params.ws_o;
    let iy0 = i32(oy * params.stride_h) - params.pad_top;
    let ix0 = i32(ox * params.stride_w) - params.pad_left;
    let x_base = params.x_offset + n * params.xs_n + g * params.group_in * params.xs_c;
    var acc = vec4<f32>(0.0);
    for (var c = 0u; c < params.group_in; c++) {
        let xc = x_base + c * params.xs_c;
        let wc = c * params.ws_i;
        for (var ky = 0u; ky < params.kernel_h; ky++) {
            let iy = iy0 + i32(ky) * params.dil_h;
            if (iy < 0 || iy >= params.in_h) {
                continue;
            }
            let py = iy;
            let xr = xc + u32(py) * params.xs_h;
            let wr = wc + ky * params.ws_h;
            for (var kx = 0u; kx < params.kernel_w; kx++) {
                let ix = ix0 + i32(kx) * params.dil_w;
                if (ix < 0 || ix >= params.in_w) {
                    continue;
                }
                let px = ix;
                let xv = ld_x(xr + u32(px) * params.xs_w);
                let wi = wr + kx * params.ws_w;
                acc += xv * vec4<f32>(w[w0 + wi], w[w1 + wi], w[w2 + wi], w[w3 + wi]);
            }
        }
    }
    let out = n * params.ys_n + oy * params.ys_h + ox * params.ys_w;
    for (var j = 0u; j < 4u; j++) {
        if (k_local + j < params.group_out) {
            let rel = out + (k0 + j) * params.ys_c;
            st_y(params.y_offset + rel, finish(acc[j], k0 + j, rel));
        }
    }
}
