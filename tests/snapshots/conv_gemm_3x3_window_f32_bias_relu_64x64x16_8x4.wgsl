// The product core: a register-tiled GEMM, C (M×N) = A (M×K) · B (K×N), accumulated in f32,
// one product per grid layer z. Its operands come from functions the generator supplies
// (OPERANDS): for Winograd, z is the tile element and A, B, C are the transformed weights,
// the transformed input and the products; for the convolution GEMM, z is the channel group,
// A the packed weights, B gathered from the input image by im2col indexing inside the loader
// (never materialised), and C goes through the shared epilogue straight to the output.
// A workgroup computes a BM×BN block, BK reduction steps at a time through workgroup memory;
// each invocation holds a TM×TN block in registers (generated, unrolled code below) and
// fetches the next step's operands into registers before this step's multiply-adds.
// Loads past the reduction or the matrix edges give zero; stores past the edges are dropped.
alias act_t = f32;

struct Params {
    group_out: u32,
    reduction: u32,
    k_stride: u32,
    group_stride: u32,
    group_in: u32,
    columns: u32,
    out_hw: u32,
    out_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: i32,
    dil_w: i32,
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
    w_unscale: f32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const THREADS: u32 = 128u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> y: array<act_t>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// a_tile[kk][row / 4] and b_tile[kk][col / 4].
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

fn ld_x(i: u32) -> f32 {
    return f32(x[i]);
}

fn st_y(i: u32, v: f32) {
    y[i] = act_t(v);
}


const KW: u32 = 3u;
const KHW: u32 = 9u;

// Four rows of the packed weights, in their stored type (f32: f16 weights go to f16 fragments
// as stored, with no round trip through f32).
fn load_a(g: u32, k: u32, row: u32) -> vec4<f32> {
    if (k >= params.reduction || row >= params.k_stride) {
        return vec4<f32>(0.0);
    }
    return w[(g * params.group_stride + k * params.k_stride + row) / 4u];
}

// Image offset, channel-group offset and output pixel of one column.
fn column_base(g: u32, q: u32) -> vec3<u32> {
    let n = q / params.out_hw;
    let pix = q % params.out_hw;
    return vec3<u32>(params.x_offset + n * params.xs_n + g * params.group_in * params.xs_c, pix / params.out_w, pix % params.out_w);
}

// Four columns' image bases and receptive-field origins; a column past the end gets a
// row far outside the image, so its loads read zero.
struct Cols { base: vec4<u32>, iy: vec4<i32>, ix: vec4<i32> }
fn columns(g: u32, col: u32) -> Cols {
    var c: Cols;
    let b0 = column_base(g, col + 0u);
    c.base[0] = b0.x;
    c.iy[0] = select(-0x40000000, i32(b0.y * params.stride_h) - params.pad_top, col + 0u < params.columns);
    c.ix[0] = i32(b0.z * params.stride_w) - params.pad_left;
    let b1 = column_base(g, col + 1u);
    c.base[1] = b1.x;
    c.iy[1] = select(-0x40000000, i32(b1.y * params.stride_h) - params.pad_top, col + 1u < params.columns);
    c.ix[1] = i32(b1.z * params.stride_w) - params.pad_left;
    let b2 = column_base(g, col + 2u);
    c.base[2] = b2.x;
    c.iy[2] = select(-0x40000000, i32(b2.y * params.stride_h) - params.pad_top, col + 2u < params.columns);
    c.ix[2] = i32(b2.z * params.stride_w) - params.pad_left;
    let b3 = column_base(g, col + 3u);
    c.base[3] = b3.x;
    c.iy[3] = select(-0x40000000, i32(b3.y * params.stride_h) - params.pad_top, col + 3u < params.columns);
    c.ix[3] = i32(b3.z * params.stride_w) - params.pad_left;
    return c;
}

fn load_b(g: u32, k: u32, c: Cols) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    if (k >= params.reduction) {
        return v;
    }
    let ci = k / KHW;
    let kyx = k % KHW;
    let iy = c.iy + vec4<i32>(i32(kyx / KW) * params.dil_h);
    let ix = c.ix + vec4<i32>(i32(kyx % KW) * params.dil_w);
    let inside = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(params.in_h)) & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(params.in_w));
    let py = iy;
    let px = ix;
    let at = c.base + vec4<u32>(ci * params.xs_c);
    if (inside[0]) { v[0] = ld_x(at[0] + u32(py[0]) * params.xs_h + u32(px[0]) * params.xs_w); }
    if (inside[1]) { v[1] = ld_x(at[1] + u32(py[1]) * params.xs_h + u32(px[1]) * params.xs_w); }
    if (inside[2]) { v[2] = ld_x(at[2] + u32(py[2]) * params.xs_h + u32(px[2]) * params.xs_w); }
    if (inside[3]) { v[3] = ld_x(at[3] + u32(py[3]) * params.xs_h + u32(px[3]) * params.xs_w); }
    return v;
}

fn finish(acc: f32, k: u32, rel: u32) -> f32 {
    var v = acc;
    v += bias[k];
    let nan = (bitcast<u32>(v) & u32(0x7fffffffu)) > u32(0x7f800000u);
    v = select(select(v, f32(0.0), v < f32(0.0)), v, nan);
    return v;
}

// Four pixels' output offsets without the channel term; `ok` marks those that exist.
struct Outs { rel: vec4<u32>, ok: vec4<bool> }
fn outputs(col: u32) -> Outs {
    var o: Outs;
    let q0 = col + 0u;
    let pix0 = q0 % params.out_hw;
    o.rel[0] = (q0 / params.out_hw) * params.ys_n + (pix0 / params.out_w) * params.ys_h + (pix0 % params.out_w) * params.ys_w;
    o.ok[0] = q0 < params.columns;
    let q1 = col + 1u;
    let pix1 = q1 % params.out_hw;
    o.rel[1] = (q1 / params.out_hw) * params.ys_n + (pix1 / params.out_w) * params.ys_h + (pix1 % params.out_w) * params.ys_w;
    o.ok[1] = q1 < params.columns;
    let q2 = col + 2u;
    let pix2 = q2 % params.out_hw;
    o.rel[2] = (q2 / params.out_hw) * params.ys_n + (pix2 / params.out_w) * params.ys_h + (pix2 % params.out_w) * params.ys_w;
    o.ok[2] = q2 < params.columns;
    let q3 = col + 3u;
    let pix3 = q3 % params.out_hw;
    o.rel[3] = (q3 / params.out_hw) * params.ys_n + (pix3 / params.out_w) * params.ys_h + (pix3 % params.out_w) * params.ys_w;
    o.ok[3] = q3 < params.columns;
    return o;
}

fn store(g: u32, row: u32, o: Outs, value: vec4<f32>) {
    if (row >= params.group_out) {
        return;
    }
    let k = g * params.group_out + row;
    if (o.ok[0]) {
        let rel = o.rel[0] + k * params.ys_c;
        st_y(params.y_offset + rel, finish(value[0], k, rel));
    }
    if (o.ok[1]) {
        let rel = o.rel[1] + k * params.ys_c;
        st_y(params.y_offset + rel, finish(value[1], k, rel));
    }
    if (o.ok[2]) {
        let rel = o.rel[2] + k * params.ys_c;
        st_y(params.y_offset + rel, finish(value[2], k, rel));
    }
    if (o.ok[3]) {
        let rel = o.rel[3] + k * params.ys_c;
        st_y(params.y_offset + rel, finish(value[3], k, rel));
    }
}

@compute @workgroup_size(16, 8)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc0_0 = vec4<f32>(0.0);
    var acc1_0 = vec4<f32>(0.0);
    var acc2_0 = vec4<f32>(0.0);
    var acc3_0 = vec4<f32>(0.0);
    var acc4_0 = vec4<f32>(0.0);
    var acc5_0 = vec4<f32>(0.0);
    var acc6_0 = vec4<f32>(0.0);
    var acc7_0 = vec4<f32>(0.0);
    var pa0 = vec4<f32>();
    pa0 = load_a(z, 0u + (li + 0u) / (BM / 4u), row0 + ((li + 0u) % (BM / 4u)) * 4u);
    var pa1 = vec4<f32>();
    pa1 = load_a(z, 0u + (li + 128u) / (BM / 4u), row0 + ((li + 128u) % (BM / 4u)) * 4u);
    let cols0 = columns(z, col0 + ((li + 0u) % (BN / 4u)) * 4u);
    var pb0 = vec4<f32>();
    pb0 = load_b(z, 0u + (li + 0u) / (BN / 4u), cols0);
    let cols1 = columns(z, col0 + ((li + 128u) % (BN / 4u)) * 4u);
    var pb1 = vec4<f32>();
    pb1 = load_b(z, 0u + (li + 128u) / (BN / 4u), cols1);
    for (var k0 = 0u; k0 < params.reduction; k0 += BK) {
        a_tile[li + 0u] = pa0;
        a_tile[li + 128u] = pa1;
        b_tile[li + 0u] = pb0;
        b_tile[li + 128u] = pb1;
        workgroupBarrier();
        pa0 = load_a(z, k0 + BK + (li + 0u) / (BM / 4u), row0 + ((li + 0u) % (BM / 4u)) * 4u);
        pa1 = load_a(z, k0 + BK + (li + 128u) / (BM / 4u), row0 + ((li + 128u) % (BM / 4u)) * 4u);
        pb0 = load_b(z, k0 + BK + (li + 0u) / (BN / 4u), cols0);
        pb1 = load_b(z, k0 + BK + (li + 128u) / (BN / 4u), cols1);
        for (var kk = 0u; kk < BK; kk++) {
            let a0 = a_tile[kk * (BM / 4u) + 0u + lid.y];
            let a1 = a_tile[kk * (BM / 4u) + 8u + lid.y];
            let b0 = b_tile[kk * (BN / 4u) + 0u + lid.x];
            acc0_0 += a0.x * b0;
            acc1_0 += a0.y * b0;
            acc2_0 += a0.z * b0;
            acc3_0 += a0.w * b0;
            acc4_0 += a1.x * b0;
            acc5_0 += a1.y * b0;
            acc6_0 += a1.z * b0;
            acc7_0 += a1.w * b0;
        }
        workgroupBarrier();
    }
    let out0 = outputs(col0 + (0u + lid.x) * 4u);
    store(z, row0 + (0u + lid.y) * 4u + 0u, out0, acc0_0);
    store(z, row0 + (0u + lid.y) * 4u + 1u, out0, acc1_0);
    store(z, row0 + (0u + lid.y) * 4u + 2u, out0, acc2_0);
    store(z, row0 + (0u + lid.y) * 4u + 3u, out0, acc3_0);
    store(z, row0 + (8u + lid.y) * 4u + 0u, out0, acc4_0);
    store(z, row0 + (8u + lid.y) * 4u + 1u, out0, acc5_0);
    store(z, row0 + (8u + lid.y) * 4u + 2u, out0, acc6_0);
    store(z, row0 + (8u + lid.y) * 4u + 3u, out0, acc7_0);
}
