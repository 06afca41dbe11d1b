// Fused Winograd: input transform, product and output transform in one kernel, so nothing of
// the Winograd domain but the prepared weights ever touches memory. Meant for few channels,
// where the three-kernel pipeline is bound by launch latency rather than arithmetic, so the
// work is spread to keep every invocation's chain of dependent steps short.
// A workgroup takes TILES tiles × KB output channels; invocation (tile, k, i) owns row i of
// the α×α products of one tile and one output channel.
//  1. Per step of CB input channels, the first TILES·CB invocations each transform one input
//     patch into workgroup memory (vt).
//  2. Every invocation accumulates its row: α products per input channel.
//  3. It applies Aᵀ along its row (α values → m) and leaves the m values in workgroup memory
//     (rows); the invocations of row 0 then apply Aᵀ down the columns, crop and run the
//     epilogue.
{{ENABLE}}
alias act_t = {{ACT}};

{{PARAMS}}

const TILES: u32 = {{TILES}}u;
const KB: u32 = {{KB}}u;
const CB: u32 = {{CB}}u;
const ALPHA: u32 = {{ALPHA}}u;
const A2: u32 = ALPHA * ALPHA;
const M: u32 = {{M}}u;

@group(0) @binding(0) var<uniform> params: Params;
{{X_BINDING}}
{{Y_BINDING}}
@group(0) @binding(3) var<storage, read> u: array<f32>;
{{EPILOGUE_BINDINGS}}

// vt[c][e][tile]: this step's transformed input.
var<workgroup> vt: array<f32, CB * A2 * TILES>;
// rows[tile][k][i][q]: row i of the products after the row pass.
var<workgroup> rows: array<f32, TILES * KB * ALPHA * M>;

{{WINO_INDEX}}

{{ACCESSORS}}

{{EPILOGUE}}

{{PAD_FUNCTIONS}}

{{LOAD}}

// Where tile `slot` of this workgroup starts, in output pixels: (image, oy0, ox0). Slots past
// the last tile repeat it; their results are never stored.
fn tile_origin(group: u32, slot: u32) -> vec3<u32> {
    let p = min(group * TILES + slot, params.tiles - 1u);
    let t = p % params.tiles_per_image;
    return vec3<u32>(p / params.tiles_per_image, (params.tile_row0 + t / params.tiles_w) * M, (t % params.tiles_w) * M);
}

@compute @workgroup_size(TILES * KB, ALPHA)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    // Tiles vary fastest, so a warp's loads and stores walk along image rows.
    let slot = lid.x % TILES;
    let k_local = lid.x / TILES;
    let i = lid.y;
    let k = wid.y * KB + k_local;
    let kq = min(k, params.out_channels - 1u);
    {{ACC_DECL}}
    for (var c0 = 0u; c0 < params.channels; c0 += CB) {
        if (li < TILES * CB && c0 + li / TILES < params.channels) {
            let at = tile_origin(wid.x, li % TILES);
            let y0 = i32(at.y) - params.pad_top;
            let x0 = i32(at.z) - params.pad_left;
            let base = params.x_offset + at.x * params.xs_n + (c0 + li / TILES) * params.xs_c;
            {{INPUT}}
        }
        workgroupBarrier();
        let steps = min(CB, params.channels - c0);
        for (var s = 0u; s < steps; s++) {
            let c = c0 + s;
            {{PRODUCT}}
        }
        workgroupBarrier();
    }
    {{ROW_PASS}}
    workgroupBarrier();
    let tile = wid.x * TILES + slot;
    if (i != 0u || k >= params.out_channels || tile >= params.tiles) {
        return;
    }
    let at = tile_origin(wid.x, slot);
    let base = at.x * params.ys_n + k * params.ys_c;
    {{COLUMN_PASS}}
    {{STORES}}
}
