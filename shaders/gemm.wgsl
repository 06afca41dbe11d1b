// Batched product in the Winograd domain: for each tile element e (grid z),
// prod[e] (K×P) = u[e] (K×C) · v[e] (C×P), accumulated in f32.
// Each workgroup computes a BM×BN block; each invocation a 4×4 sub-block held in registers.
// Operand tiles go through workgroup memory BK channels at a time; out-of-range rows and
// columns load as zero, so the inner loop has no bounds checks.
struct Params {
    rows: u32,
    inner: u32,
    cols: u32,
    _pad: u32,
}

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const THREADS: u32 = (BM / 4u) * (BN / 4u);

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> prod: array<f32>;

// a_tile[kk][row / 4] and b_tile[kk][col / 4], as vec4 so each invocation reads 4 at once.
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

{{WINO_INDEX}}

@compute @workgroup_size(BN / 4u, BM / 4u)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = 0u; k0 < params.inner; k0 += BK) {
        for (var i = li; i < BK * BM / 4u; i += THREADS) {
            let kk = i / (BM / 4u);
            let r = row0 + (i % (BM / 4u)) * 4u;
            let c = k0 + kk;
            var q = vec4<f32>(0.0);
            if (c < params.inner) {
                for (var j = 0u; j < 4u; j++) {
                    if (r + j < params.rows) {
                        q[j] = u[wino_index(e, r + j, c, params.rows, params.inner)];
                    }
                }
            }
            a_tile[i] = q;
        }
        for (var i = li; i < BK * BN / 4u; i += THREADS) {
            let kk = i / (BN / 4u);
            let col = col0 + (i % (BN / 4u)) * 4u;
            let c = k0 + kk;
            var q = vec4<f32>(0.0);
            if (c < params.inner) {
                let at = wino_index(e, c, col, params.inner, params.cols);
                for (var j = 0u; j < 4u; j++) {
                    if (col + j < params.cols) {
                        q[j] = v[at + j];
                    }
                }
            }
            b_tile[i] = q;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk++) {
            let a = a_tile[kk * (BM / 4u) + lid.y];
            let b = b_tile[kk * (BN / 4u) + lid.x];
            acc[0] += a.x * b;
            acc[1] += a.y * b;
            acc[2] += a.z * b;
            acc[3] += a.w * b;
        }
        workgroupBarrier();
    }
    let col = col0 + lid.x * 4u;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + lid.y * 4u + i;
        if (r < params.rows) {
            let at = wino_index(e, r, col, params.rows, params.cols);
            for (var j = 0u; j < 4u; j++) {
                if (col + j < params.cols) {
                    prod[at + j] = acc[i][j];
                }
            }
        }
    }
}
