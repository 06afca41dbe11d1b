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

struct Params {
    out_channels: u32,
    channels: u32,
    k_stride: u32,
    tile_stride: u32,
}

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const THREADS: u32 = 128u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prod: array<vec4<f32>>;

// a_tile[kk][row / 4] and b_tile[kk][col / 4].
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {
    return (row * 36u + e) * cols + col;
}

fn load_a(e: u32, c: u32, row: u32) -> vec4<f32> {
    if (c >= params.channels || row >= params.k_stride) {
        return vec4<f32>(0.0);
    }
    return u[wino_index(e, c, row, params.channels, params.k_stride) / 4u];
}

fn load_b(e: u32, c: u32, col: u32) -> vec4<f32> {
    if (c >= params.channels || col >= params.tile_stride) {
        return vec4<f32>(0.0);
    }
    return v[wino_index(e, c, col, params.channels, params.tile_stride) / 4u];
}

fn store(e: u32, row: u32, col: u32, value: vec4<f32>) {
    if (row < params.out_channels && col < params.tile_stride) {
        prod[wino_index(e, row, col, params.out_channels, params.tile_stride) / 4u] = value;
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
    var pb0 = vec4<f32>();
    pb0 = load_b(z, 0u + (li + 0u) / (BN / 4u), col0 + ((li + 0u) % (BN / 4u)) * 4u);
    var pb1 = vec4<f32>();
    pb1 = load_b(z, 0u + (li + 128u) / (BN / 4u), col0 + ((li + 128u) % (BN / 4u)) * 4u);
    for (var k0 = 0u; k0 < params.channels; k0 += BK) {
        a_tile[li + 0u] = pa0;
        a_tile[li + 128u] = pa1;
        b_tile[li + 0u] = pb0;
        b_tile[li + 128u] = pb1;
        workgroupBarrier();
        pa0 = load_a(z, k0 + BK + (li + 0u) / (BM / 4u), row0 + ((li + 0u) % (BM / 4u)) * 4u);
        pa1 = load_a(z, k0 + BK + (li + 128u) / (BM / 4u), row0 + ((li + 128u) % (BM / 4u)) * 4u);
        pb0 = load_b(z, k0 + BK + (li + 0u) / (BN / 4u), col0 + ((li + 0u) % (BN / 4u)) * 4u);
        pb1 = load_b(z, k0 + BK + (li + 128u) / (BN / 4u), col0 + ((li + 128u) % (BN / 4u)) * 4u);
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
