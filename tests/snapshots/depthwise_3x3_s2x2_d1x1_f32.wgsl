// Depthwise convolution: invocation (n, k, oy, strip) computes STRIP neighbouring output
// pixels of output channel k from input channel k / multiplier. Neighbouring invocations take
// what is contiguous in memory: neighbouring strips of one row (NCHW), or neighbouring channels
// of one pixel (NHWC), so a warp's loads and stores walk along memory.
alias act_t = f32;

struct Params {
    out_channels: u32,
    multiplier: u32,
    strips_w: u32,
    strips: u32,
    out_h: u32,
    out_w: u32,
    ws_o: u32,
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
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

// Output pixels per invocation, along a row.
const STRIP: u32 = 4u;

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


fn load(row: u32, ix: i32) -> f32 {
    if (ix < 0 || ix >= params.in_w) {
        return 0.0;
    }
    let px = ix;
    return ld_x(row + u32(px) * params.xs_w);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.strips) {
        return;
    }
    let ox0 = (id % params.strips_w) * STRIP;
    let rows = id / params.strips_w;
    let oy = rows % params.out_h;
    let planes = rows / params.out_h;
    let k = planes % params.out_channels;
    let n = planes / params.out_channels;
    let wb = k * params.ws_o;
    let xb = params.x_offset + n * params.xs_n + (k / params.multiplier) * params.xs_c;
    let top = i32(oy * 2u) - params.pad_top;
    let left = i32(ox0 * 2u) - params.pad_left;
    let w0_0 = w[wb + 0u * params.ws_h + 0u * params.ws_w];
    let w0_1 = w[wb + 0u * params.ws_h + 1u * params.ws_w];
    let w0_2 = w[wb + 0u * params.ws_h + 2u * params.ws_w];
    let w1_0 = w[wb + 1u * params.ws_h + 0u * params.ws_w];
    let w1_1 = w[wb + 1u * params.ws_h + 1u * params.ws_w];
    let w1_2 = w[wb + 1u * params.ws_h + 2u * params.ws_w];
    let w2_0 = w[wb + 2u * params.ws_h + 0u * params.ws_w];
    let w2_1 = w[wb + 2u * params.ws_h + 1u * params.ws_w];
    let w2_2 = w[wb + 2u * params.ws_h + 2u * params.ws_w];
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    let iy0 = top + 0;
    if (iy0 >= 0 && iy0 < params.in_h) {
        let row = xb + u32(iy0) * params.xs_h;
        let s0 = load(row, left + 0);
        let s1 = load(row, left + 1);
        let s2 = load(row, left + 2);
        let s3 = load(row, left + 3);
        let s4 = load(row, left + 4);
        let s5 = load(row, left + 5);
        let s6 = load(row, left + 6);
        let s7 = load(row, left + 7);
        let s8 = load(row, left + 8);
        acc0 += s0 * w0_0 + s1 * w0_1 + s2 * w0_2;
        acc1 += s2 * w0_0 + s3 * w0_1 + s4 * w0_2;
        acc2 += s4 * w0_0 + s5 * w0_1 + s6 * w0_2;
        acc3 += s6 * w0_0 + s7 * w0_1 + s8 * w0_2;
    }
    let iy1 = top + 1;
    if (iy1 >= 0 && iy1 < params.in_h) {
        let row = xb + u32(iy1) * params.xs_h;
        let s0 = load(row, left + 0);
        let s1 = load(row, left + 1);
        let s2 = load(row, left + 2);
        let s3 = load(row, left + 3);
        let s4 = load(row, left + 4);
        let s5 = load(row, left + 5);
        let s6 = load(row, left + 6);
        let s7 = load(row, left + 7);
        let s8 = load(row, left + 8);
        acc0 += s0 * w1_0 + s1 * w1_1 + s2 * w1_2;
        acc1 += s2 * w1_0 + s3 * w1_1 + s4 * w1_2;
        acc2 += s4 * w1_0 + s5 * w1_1 + s6 * w1_2;
        acc3 += s6 * w1_0 + s7 * w1_1 + s8 * w1_2;
    }
    let iy2 = top + 2;
    if (iy2 >= 0 && iy2 < params.in_h) {
        let row = xb + u32(iy2) * params.xs_h;
        let s0 = load(row, left + 0);
        let s1 = load(row, left + 1);
        let s2 = load(row, left + 2);
        let s3 = load(row, left + 3);
        let s4 = load(row, left + 4);
        let s5 = load(row, left + 5);
        let s6 = load(row, left + 6);
        let s7 = load(row, left + 7);
        let s8 = load(row, left + 8);
        acc0 += s0 * w2_0 + s1 * w2_1 + s2 * w2_2;
        acc1 += s2 * w2_0 + s3 * w2_1 + s4 * w2_2;
        acc2 += s4 * w2_0 + s5 * w2_1 + s6 * w2_2;
        acc3 += s6 * w2_0 + s7 * w2_1 + s8 * w2_2;
    }
    if (ox0 + 0u < params.out_w) {
        let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + (ox0 + 0u) * params.ys_w;
        st_y(params.y_offset + rel, finish(acc0, k, rel));
    }
    if (ox0 + 1u < params.out_w) {
        let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + (ox0 + 1u) * params.ys_w;
        st_y(params.y_offset + rel, finish(acc1, k, rel));
    }
    if (ox0 + 2u < params.out_w) {
        let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + (ox0 + 2u) * params.ys_w;
        st_y(params.y_offset + rel, finish(acc2, k, rel));
    }
    if (ox0 + 3u < params.out_w) {
        let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + (ox0 + 3u) * params.ys_w;
        st_y(params.y_offset + rel, finish(acc3, k, rel));
    }
}
