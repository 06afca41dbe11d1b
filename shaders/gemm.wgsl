// Batched product in the Winograd domain: for each tile element e (grid z),
// prod[e] (K×P) = u[e]ᵀ (K×C) · v[e] (C×P), accumulated in f32. The transformed weights are
// stored channel-major ([c][k]) like the transformed input ([c][p]), and rows of both are
// padded to a multiple of 4, so every global access is an aligned vec4.
// A workgroup computes a BM×BN block, BK input channels at a time through workgroup memory;
// each invocation holds a TM×TN block in registers (generated, unrolled code below), and
// fetches the next step's operands into registers before this step's multiply-adds.
// Rows past K and channels past C load as zero; padding columns compute values nobody reads.
{{PARAMS}}

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const THREADS: u32 = {{THREADS}}u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prod: array<vec4<f32>>;

// a_tile[kk][row / 4] and b_tile[kk][col / 4].
var<workgroup> a_tile: array<vec4<f32>, BK * BM / 4u>;
var<workgroup> b_tile: array<vec4<f32>, BK * BN / 4u>;

{{WINO_INDEX}}

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

@compute @workgroup_size({{WG_X}}, {{WG_Y}})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let e = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
{{ACC_DECL}}
{{PREFETCH_FIRST}}
    for (var k0 = 0u; k0 < params.channels; k0 += BK) {
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
