// Gradient of a convolution with respect to its weights (or, with a column of ones for B, its
// bias) as an implicit GEMM per channel group: C (rows × cols) = A (rows × T) · B (T × cols),
// A[m][t] = dy[n, k0 + g·rows + m, p, q] and B[t][j] = x[n, (g0 + g)·group_in + c, p·sh + r·dh − pad,
// q·sw + s·dw − pad] for t = (n, p, q) and j = (c, r, s), both read in place (never materialised).
// Grid: x = column blocks, y = (group, row block), z = the split of the reduction. Split z sums
// t in [z·split_len, (z + 1)·split_len) and writes its BM×BN block of partial sums to
// `part[z]`; a reduce pass then adds the splits in order, so the result is deterministic (no
// float atomics). A workgroup stages BK reduction steps of A and B at a time in workgroup
// memory; each invocation holds a 4×4 block of C in registers. Loads past the reduction or
// the matrix edges give zero; stores past the edges are dropped.
alias act_t = f32;

struct Params {
    rows: u32,
    cols: u32,
    groups: u32,
    reduction: u32,
    split_len: u32,
    out_hw: u32,
    out_w: u32,
    group_in: u32,
    k0: u32,
    g0: u32,
    kernel_h: u32,
    kernel_w: u32,
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
const THREADS: u32 = 256u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> dy: array<act_t>;
@group(0) @binding(2) var<storage, read> x: array<act_t>;
@group(0) @binding(3) var<storage, read_write> part: array<f32>;

// a_tile[kk * BM + row] and b_tile[kk * BN + col].
var<workgroup> a_tile: array<f32, BK * BM>;
var<workgroup> b_tile: array<f32, BK * BN>;

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

fn load_a(g: u32, row: u32, t: u32) -> f32 {
    let n = t / params.out_hw;
    let pq = t % params.out_hw;
    let k = params.k0 + g * params.rows + row;
    return ld_dy(params.dy_offset + n * params.ds_n + k * params.ds_c + (pq / params.out_w) * params.ds_h + (pq % params.out_w) * params.ds_w);
}

fn load_b(g: u32, t: u32, j: u32) -> f32 {
    let n = t / params.out_hw;
    let pq = t % params.out_hw;
    let khw = params.kernel_h * params.kernel_w;
    let c = j / khw;
    let ky = (j % khw) / params.kernel_w;
    let kx = j % params.kernel_w;
    let iy = i32((pq / params.out_w) * params.stride_h) + i32(ky) * params.dil_h - params.pad_top;
    let ix = i32((pq % params.out_w) * params.stride_w) + i32(kx) * params.dil_w - params.pad_left;
    let channel = (params.g0 + g) * params.group_in + c;
    return load(params.x_offset + n * params.xs_n + channel * params.xs_c, iy, ix);
}

fn load(base: u32, iy: i32, ix: i32) -> f32 {
    let py = pad_coord(iy, params.in_h);
    let px = pad_coord(ix, params.in_w);
    return ld_x(base + u32(py) * params.xs_h + u32(px) * params.xs_w);
}

fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= params.rows) {
        return;
    }
    let at = (base + row) * params.cols + col;
    for (var j = 0u; j < 4u; j++) {
        if (col + j < params.cols) {
            part[at + j] = v[j];
        }
    }
}

@compute @workgroup_size(16, 16)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row_blocks = (params.rows + BM - 1u) / BM;
    let g = wid.y / row_blocks;
    let row0 = (wid.y % row_blocks) * BM;
    let col0 = wid.x * BN;
    let split = wid.z;
    let t_begin = split * params.split_len;
    let t_end = min(t_begin + params.split_len, params.reduction);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var t0 = t_begin; t0 < t_end; t0 += BK) {
        // Neighbouring invocations take neighbouring reduction steps: neighbouring pixels.
        for (var e = li; e < BK * BM; e += THREADS) {
            let kk = e % BK;
            let row = row0 + e / BK;
            let t = t0 + kk;
            var v = 0.0;
            if (t < t_end && row < params.rows) {
                v = load_a(g, row, t);
            }
            a_tile[kk * BM + e / BK] = v;
        }
        for (var e = li; e < BK * BN; e += THREADS) {
            let kk = e % BK;
            let col = col0 + e / BK;
            let t = t0 + kk;
            var v = 0.0;
            if (t < t_end && col < params.cols) {
                v = load_b(g, t, col);
            }
            b_tile[kk * BN + e / BK] = v;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let ai = kk * BM + lid.y * 4u;
            let bi = kk * BN + lid.x * 4u;
            let a = vec4<f32>(a_tile[ai], a_tile[ai + 1u], a_tile[ai + 2u], a_tile[ai + 3u]);
            let b = vec4<f32>(b_tile[bi], b_tile[bi + 1u], b_tile[bi + 2u], b_tile[bi + 3u]);
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
        }
        workgroupBarrier();
    }
    let base = (split * params.groups + g) * params.rows;
    let col = col0 + lid.x * 4u;
    let row = row0 + lid.y * 4u;
    store(base, row, col, acc0);
    store(base, row + 1u, col, acc1);
    store(base, row + 2u, col, acc2);
    store(base, row + 3u, col, acc3);
}
