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
    rows: u32,
    cols: u32,
    groups: u32,
    reduction: u32,
    split_len: u32,
    group_in: u32,
    k0: u32,
    g0: u32,
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
    dy_offset: u32,
    ds_n: u32,
    ds_c: u32,
    ds_h: u32,
    ds_w: u32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const THREADS: u32 = 128u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<act_t>;
@group(0) @binding(2) var<storage, read> x: array<act_t>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// a_tile[kk][row / 4] and b_tile[kk][col / 4].
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

// A parameter gradient's operands for the product core: C (rows × cols) = A (rows × T) · B (T ×
// cols) per (split, channel group), with A[m][t] = dy[n, k0 + g·rows + m, p, q] for reduction
// step t = (n, p, q) of the batch chunk, and B the input's patches (or ones, for the bias).
// Grid layer z = split · groups + g; split z / groups sums t in [split · split_len, (split + 1) ·
// split_len) and writes its block of partial sums to `part[z]`, which a reduce pass adds in
// split order. Steps past the chunk read zero in both operands; rows and columns past the
// matrix edges are never stored.
fn ld_dy(i: u32) -> f32 {
    return f32(dy[i]);
}

fn ld_x(i: u32) -> f32 {
    return f32(x[i]);
}

// Padding mode reflect: a coordinate outside the image mapped back into it.
fn pad_coord(i: i32, n: i32) -> i32 {
    let r = select(i, -i, i < i32(0));
    return select(r, i32(2) * (n - i32(1)) - r, r >= n);
}

fn pad_coord4(i: vec4<i32>, n: i32) -> vec4<i32> {
    let nn = vec4<i32>(n);
    let r = select(i, -i, i < vec4<i32>(0));
    return select(r, vec4<i32>(2) * (nn - vec4<i32>(1)) - r, r >= nn);
}

fn load(base: u32, iy: i32, ix: i32) -> f32 {
    let py = pad_coord(iy, params.in_h);
    let px = pad_coord(ix, params.in_w);
    return ld_x(base + u32(py) * params.xs_h + u32(px) * params.xs_w);
}

// dy's output width and pixels per image, compiled in: the reduction index splits by constants.
const OUT_W: u32 = 7u;
const OUT_HW: u32 = 49u;
const NONE: u32 = 0xffffffffu;

// The first reduction step of grid layer z's split, and the end of its steps.
fn steps(z: u32) -> vec2<u32> {
    let begin = (z / params.groups) * params.split_len;
    return vec2<u32>(begin, min(begin + params.split_len, params.reduction));
}

// The offset of reduction step t's pixel in dy, without the channel term.
fn dy_pixel(t: u32) -> u32 {
    let pq = t % OUT_HW;
    return params.dy_offset + (t / OUT_HW) * params.ds_n + (pq / OUT_W) * params.ds_h + (pq % OUT_W) * params.ds_w;
}

// dy at steps k..k + 4 of the split, in gradient row `row`.
fn load_a(z: u32, k: u32, row: u32) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    let s = steps(z);
    let t = s.x + k;
    if (row >= params.rows || t >= s.y) {
        return v;
    }
    let ch = (params.k0 + (z % params.groups) * params.rows + row) * params.ds_c;
    if (t + 0u < s.y) { v[0] = ld_dy(dy_pixel(t + 0u) + ch); }
    if (t + 1u < s.y) { v[1] = ld_dy(dy_pixel(t + 1u) + ch); }
    if (t + 2u < s.y) { v[2] = ld_dy(dy_pixel(t + 2u) + ch); }
    if (t + 3u < s.y) { v[3] = ld_dy(dy_pixel(t + 3u) + ch); }
    return v;
}

const KW: u32 = 3u;
const KHW: u32 = 9u;

// Column j = (c, ky, kx) of the patches: its input channel's offset (NONE past the last column)
// and its tap's offset from an output pixel's receptive-field origin.
struct Col { base: u32, dy: i32, dx: i32 }
fn columns(z: u32, col: u32) -> Col {
    let c = col / KHW;
    let tap = col % KHW;
    let channel = (params.g0 + z % params.groups) * params.group_in + c;
    let base = params.x_offset + channel * params.xs_c;
    return Col(select(NONE, base, col < params.cols), i32(tap / KW) * params.dil_h - params.pad_top, i32(tap % KW) * params.dil_w - params.pad_left);
}

// The input x at steps k..k + 4 of the split, for column c (padding read per the mode).
fn load_b(z: u32, k: u32, c: Col) -> vec4<f32> {
    var v = vec4<f32>(0.0);
    let s = steps(z);
    let t = s.x + k;
    if (c.base == NONE || t >= s.y) {
        return v;
    }
    if (t + 0u < s.y) {
        let pq0 = (t + 0u) % OUT_HW;
        v[0] = load(c.base + ((t + 0u) / OUT_HW) * params.xs_n, i32((pq0 / OUT_W) * params.stride_h) + c.dy, i32((pq0 % OUT_W) * params.stride_w) + c.dx);
    }
    if (t + 1u < s.y) {
        let pq1 = (t + 1u) % OUT_HW;
        v[1] = load(c.base + ((t + 1u) / OUT_HW) * params.xs_n, i32((pq1 / OUT_W) * params.stride_h) + c.dy, i32((pq1 % OUT_W) * params.stride_w) + c.dx);
    }
    if (t + 2u < s.y) {
        let pq2 = (t + 2u) % OUT_HW;
        v[2] = load(c.base + ((t + 2u) / OUT_HW) * params.xs_n, i32((pq2 / OUT_W) * params.stride_h) + c.dy, i32((pq2 % OUT_W) * params.stride_w) + c.dx);
    }
    if (t + 3u < s.y) {
        let pq3 = (t + 3u) % OUT_HW;
        v[3] = load(c.base + ((t + 3u) / OUT_HW) * params.xs_n, i32((pq3 / OUT_W) * params.stride_h) + c.dy, i32((pq3 % OUT_W) * params.stride_w) + c.dx);
    }
    return v;
}

// One row of the split's partial sums; columns past the edge are dropped.
fn store(z: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= params.rows) {
        return;
    }
    let at = (z * params.rows + row) * params.cols + col;
    for (var j = 0u; j < 4u; j++) {
        if (col + j < params.cols) {
            part[at + j] = v[j];
        }
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
    pa0 = load_a(z, 0u + ((li + 0u) % (BK / 4u)) * 4u, row0 + ((li + 0u) / (BK / 4u)));
    var pa1 = vec4<f32>();
    pa1 = load_a(z, 0u + ((li + 128u) % (BK / 4u)) * 4u, row0 + ((li + 128u) / (BK / 4u)));
    let cols0 = columns(z, col0 + ((li + 0u) / (BK / 4u)));
    var pb0 = vec4<f32>();
    pb0 = load_b(z, 0u + ((li + 0u) % (BK / 4u)) * 4u, cols0);
    let cols1 = columns(z, col0 + ((li + 128u) / (BK / 4u)));
    var pb1 = vec4<f32>();
    pb1 = load_b(z, 0u + ((li + 128u) % (BK / 4u)) * 4u, cols1);
    for (var k0 = 0u; k0 < params.split_len; k0 += BK) {
        a_tile[(((li + 0u) % (BK / 4u)) * 4u + 0u) * (BM / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pa0[0]; a_tile[(((li + 0u) % (BK / 4u)) * 4u + 1u) * (BM / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pa0[1]; a_tile[(((li + 0u) % (BK / 4u)) * 4u + 2u) * (BM / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pa0[2]; a_tile[(((li + 0u) % (BK / 4u)) * 4u + 3u) * (BM / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pa0[3];
        a_tile[(((li + 128u) % (BK / 4u)) * 4u + 0u) * (BM / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pa1[0]; a_tile[(((li + 128u) % (BK / 4u)) * 4u + 1u) * (BM / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pa1[1]; a_tile[(((li + 128u) % (BK / 4u)) * 4u + 2u) * (BM / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pa1[2]; a_tile[(((li + 128u) % (BK / 4u)) * 4u + 3u) * (BM / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pa1[3];
        b_tile[(((li + 0u) % (BK / 4u)) * 4u + 0u) * (BN / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pb0[0]; b_tile[(((li + 0u) % (BK / 4u)) * 4u + 1u) * (BN / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pb0[1]; b_tile[(((li + 0u) % (BK / 4u)) * 4u + 2u) * (BN / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pb0[2]; b_tile[(((li + 0u) % (BK / 4u)) * 4u + 3u) * (BN / 4u) + ((li + 0u) / (BK / 4u)) / 4u][((li + 0u) / (BK / 4u)) % 4u] = pb0[3];
        b_tile[(((li + 128u) % (BK / 4u)) * 4u + 0u) * (BN / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pb1[0]; b_tile[(((li + 128u) % (BK / 4u)) * 4u + 1u) * (BN / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pb1[1]; b_tile[(((li + 128u) % (BK / 4u)) * 4u + 2u) * (BN / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pb1[2]; b_tile[(((li + 128u) % (BK / 4u)) * 4u + 3u) * (BN / 4u) + ((li + 128u) / (BK / 4u)) / 4u][((li + 128u) / (BK / 4u)) % 4u] = pb1[3];
        workgroupBarrier();
        pa0 = load_a(z, k0 + BK + ((li + 0u) % (BK / 4u)) * 4u, row0 + ((li + 0u) / (BK / 4u)));
        pa1 = load_a(z, k0 + BK + ((li + 128u) % (BK / 4u)) * 4u, row0 + ((li + 128u) / (BK / 4u)));
        pb0 = load_b(z, k0 + BK + ((li + 0u) % (BK / 4u)) * 4u, cols0);
        pb1 = load_b(z, k0 + BK + ((li + 128u) % (BK / 4u)) * 4u, cols1);
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
    store(z, row0 + (0u + lid.y) * 4u + 0u, col0 + (0u + lid.x) * 4u, acc0_0);
    store(z, row0 + (0u + lid.y) * 4u + 1u, col0 + (0u + lid.x) * 4u, acc1_0);
    store(z, row0 + (0u + lid.y) * 4u + 2u, col0 + (0u + lid.x) * 4u, acc2_0);
    store(z, row0 + (0u + lid.y) * 4u + 3u, col0 + (0u + lid.x) * 4u, acc3_0);
    store(z, row0 + (8u + lid.y) * 4u + 0u, col0 + (0u + lid.x) * 4u, acc4_0);
    store(z, row0 + (8u + lid.y) * 4u + 1u, col0 + (0u + lid.x) * 4u, acc5_0);
    store(z, row0 + (8u + lid.y) * 4u + 2u, col0 + (0u + lid.x) * 4u, acc6_0);
    store(z, row0 + (8u + lid.y) * 4u + 3u, col0 + (0u + lid.x) * 4u, acc7_0);
}
