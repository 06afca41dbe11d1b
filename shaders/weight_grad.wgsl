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
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = 16u;
const THREADS: u32 = {{THREADS}}u;

@group(0) @binding(0) var<uniform> params: Params;
{{BINDINGS}}

// a_tile[kk * BM + row] and b_tile[kk * BN + col].
var<workgroup> a_tile: array<f32, BK * BM>;
var<workgroup> b_tile: array<f32, BK * BN>;

{{ACCESSORS}}

{{PAD_FUNCTIONS}}

{{OPERANDS}}

@compute @workgroup_size({{WG_X}}, {{WG_Y}})
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
