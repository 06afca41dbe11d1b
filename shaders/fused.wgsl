// Fused Winograd: input transform, product and output transform in one kernel, so nothing of
// the Winograd domain but the prepared weights ever touches memory. Meant for few channels,
// where the three-kernel pipeline is bound by launch latency and memory round trips, not
// arithmetic. A workgroup takes TILES tiles × 4·KG output channels. Each invocation owns one
// tile and 4 output channels and keeps all α×α products for them in vec4 registers.
// Per step of KG input channels, invocation (tile, j) transforms channel j of its tile's input
// patch (fetched into registers during the previous step) into workgroup memory; then every invocation multiplies its tile's transformed values by
// the transformed weights (vec4 over output channels). At the end each invocation applies the
// output transform to its registers, crops at the image edge and runs the epilogue.
{{ENABLE}}
alias act_t = {{ACT}};

struct Params {
    channels: u32,
    out_channels: u32,
    k_stride: u32,
    tiles: u32,
    tiles_w: u32,
    tiles_per_image: u32,
    tile_row0: u32,
    x_offset: u32,
    in_h: i32,
    in_w: i32,
    pad_top: i32,
    pad_left: i32,
    xs_n: u32,
    xs_c: u32,
    xs_h: u32,
    xs_w: u32,
    out_h: u32,
    out_w: u32,
    y_offset: u32,
    r_offset: u32,
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

const TILES: u32 = {{TILES}}u;
const KG: u32 = {{KG}}u;
const A2: u32 = {{A2}}u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> y: array<act_t>;
@group(0) @binding(3) var<storage, read> u: array<vec4<f32>>;
{{EPILOGUE_BINDINGS}}

// vt[j][e][tile]: this step's transformed input, channel j of the step, element e.
var<workgroup> vt: array<f32, KG * A2 * TILES>;

{{WINO_INDEX}}

{{EPILOGUE}}

fn load(base: u32, iy: i32, ix: i32) -> f32 {
    if (iy < 0 || iy >= params.in_h || ix < 0 || ix >= params.in_w) {
        return 0.0;
    }
    return f32(x[base + u32(iy) * params.xs_h + u32(ix) * params.xs_w]);
}

@compute @workgroup_size(TILES, KG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = wid.x * TILES + lid.x;
    let k0 = (wid.y * KG + lid.y) * 4u;
    // Invocations past the last tile or channel compute on valid data and store nothing.
    let p = min(tile, params.tiles - 1u);
    let kq = min(k0, params.k_stride - 4u);
    let image = p / params.tiles_per_image;
    let t = p % params.tiles_per_image;
    let oy0 = (params.tile_row0 + t / params.tiles_w) * {{M}}u;
    let ox0 = (t % params.tiles_w) * {{M}}u;
    let y0 = i32(oy0) - params.pad_top;
    let x0 = i32(ox0) - params.pad_left;
    let in_base = params.x_offset + image * params.xs_n;
{{ACC_DECL}}
{{PATCH_DECL}}
    if (lid.y < params.channels) {
        let base = in_base + lid.y * params.xs_c;
{{PATCH_LOAD}}
    }
    for (var c0 = 0u; c0 < params.channels; c0 += KG) {
        if (c0 + lid.y < params.channels) {
{{INPUT}}
        }
        workgroupBarrier();
        // The next step's patch is fetched before this step's multiply-adds, to hide its latency.
        if (c0 + KG + lid.y < params.channels) {
            let base = in_base + (c0 + KG + lid.y) * params.xs_c;
{{PATCH_LOAD}}
        }
        let steps = min(KG, params.channels - c0);
        for (var s = 0u; s < steps; s++) {
            let c = c0 + s;
{{PRODUCT}}
        }
        workgroupBarrier();
    }
    if (tile >= params.tiles) {
        return;
    }
{{OUTPUT}}
    for (var lane = 0u; lane < 4u; lane++) {
        let k = k0 + lane;
        if (k < params.out_channels) {
            let base = image * params.ys_n + k * params.ys_c;
{{STORES}}
        }
    }
}
