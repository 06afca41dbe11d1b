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
alias act_t = f32;

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
    y_offset: u32,
    r_offset: u32,
    out_h: u32,
    out_w: u32,
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

const TILES: u32 = 4u;
const KB: u32 = 16u;
const CB: u32 = 16u;
const ALPHA: u32 = 4u;
const A2: u32 = ALPHA * ALPHA;
const M: u32 = 2u;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<act_t>;
@group(0) @binding(2) var<storage, read_write> y: array<act_t>;
@group(0) @binding(3) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// vt[c][e][tile]: this step's transformed input.
var<workgroup> vt: array<f32, CB * A2 * TILES>;
// rows[tile][k][i][q]: row i of the products after the row pass.
var<workgroup> rows: array<f32, TILES * KB * ALPHA * M>;

fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {
    return (row * 16u + e) * cols + col;
}

fn ld_x(i: u32) -> f32 {
    return f32(x[i]);
}

fn st_y(i: u32, v: f32) {
    y[i] = act_t(v);
}

fn finish(acc: f32, k: u32, rel: u32) -> f32 {
    var v = acc;
    v += bias[k];
    let nan = (bitcast<u32>(v) & u32(0x7fffffffu)) > u32(0x7f800000u);
    v = select(select(v, f32(0.0), v < f32(0.0)), v, nan);
    return v;
}


fn load(base: u32, iy: i32, ix: i32) -> f32 {
    let inside = (iy >= 0) & (iy < params.in_h) & (ix >= 0) & (ix < params.in_w);
    let py = select(0, iy, inside);
    let px = select(0, ix, inside);
    return select(0.0, ld_x(base + u32(py) * params.xs_h + u32(px) * params.xs_w), inside);
}

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
    var acc0 = 0.0;
    var acc1 = 0.0;
    var acc2 = 0.0;
    var acc3 = 0.0;
    for (var c0 = 0u; c0 < params.channels; c0 += CB) {
        if (li < TILES * CB && c0 + li / TILES < params.channels) {
            let at = tile_origin(wid.x, li % TILES);
            let y0 = i32(at.y) - params.pad_top;
            let x0 = i32(at.z) - params.pad_left;
            let base = params.x_offset + at.x * params.xs_n + (c0 + li / TILES) * params.xs_c;
            let in0_0 = load(base, y0 + 0, x0 + 0);
            let in0_1 = load(base, y0 + 0, x0 + 1);
            let in0_2 = load(base, y0 + 0, x0 + 2);
            let in0_3 = load(base, y0 + 0, x0 + 3);
            let in1_0 = load(base, y0 + 1, x0 + 0);
            let in1_1 = load(base, y0 + 1, x0 + 1);
            let in1_2 = load(base, y0 + 1, x0 + 2);
            let in1_3 = load(base, y0 + 1, x0 + 3);
            let in2_0 = load(base, y0 + 2, x0 + 0);
            let in2_1 = load(base, y0 + 2, x0 + 1);
            let in2_2 = load(base, y0 + 2, x0 + 2);
            let in2_3 = load(base, y0 + 2, x0 + 3);
            let in3_0 = load(base, y0 + 3, x0 + 0);
            let in3_1 = load(base, y0 + 3, x0 + 1);
            let in3_2 = load(base, y0 + 3, x0 + 2);
            let in3_3 = load(base, y0 + 3, x0 + 3);
            let mid0_0 = in0_0 - in2_0;
            let mid1_0_e = in2_0;
            let mid1_0_o = in1_0;
            let mid1_0 = mid1_0_e + mid1_0_o;
            let mid2_0 = mid1_0_e - mid1_0_o;
            let mid3_0 = -in1_0 + in3_0;
            let mid0_1 = in0_1 - in2_1;
            let mid1_1_e = in2_1;
            let mid1_1_o = in1_1;
            let mid1_1 = mid1_1_e + mid1_1_o;
            let mid2_1 = mid1_1_e - mid1_1_o;
            let mid3_1 = -in1_1 + in3_1;
            let mid0_2 = in0_2 - in2_2;
            let mid1_2_e = in2_2;
            let mid1_2_o = in1_2;
            let mid1_2 = mid1_2_e + mid1_2_o;
            let mid2_2 = mid1_2_e - mid1_2_o;
            let mid3_2 = -in1_2 + in3_2;
            let mid0_3 = in0_3 - in2_3;
            let mid1_3_e = in2_3;
            let mid1_3_o = in1_3;
            let mid1_3 = mid1_3_e + mid1_3_o;
            let mid2_3 = mid1_3_e - mid1_3_o;
            let mid3_3 = -in1_3 + in3_3;
            let v0_0 = mid0_0 - mid0_2;
            let v0_1_e = mid0_2;
            let v0_1_o = mid0_1;
            let v0_1 = v0_1_e + v0_1_o;
            let v0_2 = v0_1_e - v0_1_o;
            let v0_3 = -mid0_1 + mid0_3;
            let v1_0 = mid1_0 - mid1_2;
            let v1_1_e = mid1_2;
            let v1_1_o = mid1_1;
            let v1_1 = v1_1_e + v1_1_o;
            let v1_2 = v1_1_e - v1_1_o;
            let v1_3 = -mid1_1 + mid1_3;
            let v2_0 = mid2_0 - mid2_2;
            let v2_1_e = mid2_2;
            let v2_1_o = mid2_1;
            let v2_1 = v2_1_e + v2_1_o;
            let v2_2 = v2_1_e - v2_1_o;
            let v2_3 = -mid2_1 + mid2_3;
            let v3_0 = mid3_0 - mid3_2;
            let v3_1_e = mid3_2;
            let v3_1_o = mid3_1;
            let v3_1 = v3_1_e + v3_1_o;
            let v3_2 = v3_1_e - v3_1_o;
            let v3_3 = -mid3_1 + mid3_3;
            vt[((li / TILES) * A2 + 0u) * TILES + li % TILES] = v0_0;
            vt[((li / TILES) * A2 + 1u) * TILES + li % TILES] = v0_1;
            vt[((li / TILES) * A2 + 2u) * TILES + li % TILES] = v0_2;
            vt[((li / TILES) * A2 + 3u) * TILES + li % TILES] = v0_3;
            vt[((li / TILES) * A2 + 4u) * TILES + li % TILES] = v1_0;
            vt[((li / TILES) * A2 + 5u) * TILES + li % TILES] = v1_1;
            vt[((li / TILES) * A2 + 6u) * TILES + li % TILES] = v1_2;
            vt[((li / TILES) * A2 + 7u) * TILES + li % TILES] = v1_3;
            vt[((li / TILES) * A2 + 8u) * TILES + li % TILES] = v2_0;
            vt[((li / TILES) * A2 + 9u) * TILES + li % TILES] = v2_1;
            vt[((li / TILES) * A2 + 10u) * TILES + li % TILES] = v2_2;
            vt[((li / TILES) * A2 + 11u) * TILES + li % TILES] = v2_3;
            vt[((li / TILES) * A2 + 12u) * TILES + li % TILES] = v3_0;
            vt[((li / TILES) * A2 + 13u) * TILES + li % TILES] = v3_1;
            vt[((li / TILES) * A2 + 14u) * TILES + li % TILES] = v3_2;
            vt[((li / TILES) * A2 + 15u) * TILES + li % TILES] = v3_3;
        }
        workgroupBarrier();
        let steps = min(CB, params.channels - c0);
        for (var s = 0u; s < steps; s++) {
            let c = c0 + s;
            acc0 += vt[(s * A2 + i * ALPHA + 0u) * TILES + slot] * u[wino_index(i * ALPHA + 0u, c, kq, params.channels, params.k_stride)];
            acc1 += vt[(s * A2 + i * ALPHA + 1u) * TILES + slot] * u[wino_index(i * ALPHA + 1u, c, kq, params.channels, params.k_stride)];
            acc2 += vt[(s * A2 + i * ALPHA + 2u) * TILES + slot] * u[wino_index(i * ALPHA + 2u, c, kq, params.channels, params.k_stride)];
            acc3 += vt[(s * A2 + i * ALPHA + 3u) * TILES + slot] * u[wino_index(i * ALPHA + 3u, c, kq, params.channels, params.k_stride)];
        }
        workgroupBarrier();
    }
    let row0 = acc0 + acc1 + acc2;
    let row1 = acc1 - acc2 + acc3;
    rows[((slot * KB + k_local) * ALPHA + i) * M + 0u] = row0;
    rows[((slot * KB + k_local) * ALPHA + i) * M + 1u] = row1;
    workgroupBarrier();
    let tile = wid.x * TILES + slot;
    if (i != 0u || k >= params.out_channels || tile >= params.tiles) {
        return;
    }
    let at = tile_origin(wid.x, slot);
    let base = at.x * params.ys_n + k * params.ys_c;
    let r0_0 = rows[((slot * KB + k_local) * ALPHA + 0u) * M + 0u];
    let r1_0 = rows[((slot * KB + k_local) * ALPHA + 1u) * M + 0u];
    let r2_0 = rows[((slot * KB + k_local) * ALPHA + 2u) * M + 0u];
    let r3_0 = rows[((slot * KB + k_local) * ALPHA + 3u) * M + 0u];
    let out0_0 = r0_0 + r1_0 + r2_0;
    let out1_0 = r1_0 - r2_0 + r3_0;
    let r0_1 = rows[((slot * KB + k_local) * ALPHA + 0u) * M + 1u];
    let r1_1 = rows[((slot * KB + k_local) * ALPHA + 1u) * M + 1u];
    let r2_1 = rows[((slot * KB + k_local) * ALPHA + 2u) * M + 1u];
    let r3_1 = rows[((slot * KB + k_local) * ALPHA + 3u) * M + 1u];
    let out0_1 = r0_1 + r1_1 + r2_1;
    let out1_1 = r1_1 - r2_1 + r3_1;
    if (at.y + 0u < params.out_h && at.z + 0u < params.out_w) {
        let rel = base + (at.y + 0u) * params.ys_h + (at.z + 0u) * params.ys_w;
        st_y(params.y_offset + rel, finish(out0_0, k, rel));
    }
    if (at.y + 0u < params.out_h && at.z + 1u < params.out_w) {
        let rel = base + (at.y + 0u) * params.ys_h + (at.z + 1u) * params.ys_w;
        st_y(params.y_offset + rel, finish(out0_1, k, rel));
    }
    if (at.y + 1u < params.out_h && at.z + 0u < params.out_w) {
        let rel = base + (at.y + 1u) * params.ys_h + (at.z + 0u) * params.ys_w;
        st_y(params.y_offset + rel, finish(out1_0, k, rel));
    }
    if (at.y + 1u < params.out_h && at.z + 1u < params.out_w) {
        let rel = base + (at.y + 1u) * params.ys_h + (at.z + 1u) * params.ys_w;
        st_y(params.y_offset + rel, finish(out1_1, k, rel));
    }
}
