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
{{HEADER}}

{{PARAMS}}

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const THREADS: u32 = {{THREADS}}u;

@group(0) @binding(0) var<uniform> params: Params;
{{BINDINGS}}

// a_tile[kk][row / 4] and b_tile[kk][col / 4].
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

{{OPERANDS}}

@compute @workgroup_size({{WG_X}}, {{WG_Y}})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    {{ACC_DECL}}
    {{PREFETCH_FIRST}}
    for (var k0 = 0u; k0 < {{REDUCTION}}; k0 += BK) {
        {{TILE_STORES}}
        workgroupBarrier();
        {{PREFETCH_NEXT}}
        for (var kk = 0u; kk < BK; kk++) {
            {{FMA}}
        }
        workgroupBarrier();
    }
    {{STORES}}
}
