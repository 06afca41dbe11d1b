// Input transform: one invocation per (channel, tile). Reads the α×α input patch of the tile
// (zero outside the image, so padding costs no copy) and writes V = Bᵀ d B to the
// Winograd-domain buffer, one value per tile element e. The vector-load variants bind the input
// as vec2s or vec4s and fetch the aligned middle of each patch row with whole-vector loads, so a
// warp's loads cover whole lines instead of every m-th element of them.
alias act_t = f32;

struct Params {
    channels: u32,
    tiles: u32,
    tiles_w: u32,
    tiles_per_image: u32,
    tile_row0: u32,
    tile_stride: u32,
    x_offset: u32,
    in_h: i32,
    in_w: i32,
    pad_top: i32,
    pad_left: i32,
    xs_n: u32,
    xs_c: u32,
    xs_h: u32,
    xs_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<act_t>>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;

fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {
    return (row * 36u + e) * cols + col;
}

fn ld_x(i: u32) -> f32 {
    return f32(x[i / 4u][i % 4u]);
}

fn ld_x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]);
}


fn load(base: u32, iy: i32, ix: i32) -> f32 {
    let inside = (iy >= 0) & (iy < params.in_h) & (ix >= 0) & (ix < params.in_w);
    let py = select(0, iy, inside);
    let px = select(0, ix, inside);
    return select(0.0, ld_x(base + u32(py) * params.xs_h + u32(px) * params.xs_w), inside);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.channels * params.tiles) {
        return;
    }
    let c = id / params.tiles;
    let p = id % params.tiles;
    let t = p % params.tiles_per_image;
    let y0 = i32((params.tile_row0 + t / params.tiles_w) * 4u) - params.pad_top;
    let xa = (t % params.tiles_w) * 4u;
    let x0 = i32(xa) - params.pad_left;
    let base = params.x_offset + (p / params.tiles_per_image) * params.xs_n + c * params.xs_c;
    let iy0 = y0 + 0;
    let row0 = iy0 >= 0 && iy0 < params.in_h;
    var c0_0 = vec4<f32>(0.0);
    if (row0 && xa + 0u < u32(params.in_w)) { c0_0 = ld_x4((base + u32(iy0) * params.xs_h + xa + 0u) / 4u); }
    let in0_0 = load(base, iy0, x0 + 0);
    let in0_1 = c0_0.x;
    let in0_2 = c0_0.y;
    let in0_3 = c0_0.z;
    let in0_4 = c0_0.w;
    let in0_5 = load(base, iy0, x0 + 5);
    let iy1 = y0 + 1;
    let row1 = iy1 >= 0 && iy1 < params.in_h;
    var c1_0 = vec4<f32>(0.0);
    if (row1 && xa + 0u < u32(params.in_w)) { c1_0 = ld_x4((base + u32(iy1) * params.xs_h + xa + 0u) / 4u); }
    let in1_0 = load(base, iy1, x0 + 0);
    let in1_1 = c1_0.x;
    let in1_2 = c1_0.y;
    let in1_3 = c1_0.z;
    let in1_4 = c1_0.w;
    let in1_5 = load(base, iy1, x0 + 5);
    let iy2 = y0 + 2;
    let row2 = iy2 >= 0 && iy2 < params.in_h;
    var c2_0 = vec4<f32>(0.0);
    if (row2 && xa + 0u < u32(params.in_w)) { c2_0 = ld_x4((base + u32(iy2) * params.xs_h + xa + 0u) / 4u); }
    let in2_0 = load(base, iy2, x0 + 0);
    let in2_1 = c2_0.x;
    let in2_2 = c2_0.y;
    let in2_3 = c2_0.z;
    let in2_4 = c2_0.w;
    let in2_5 = load(base, iy2, x0 + 5);
    let iy3 = y0 + 3;
    let row3 = iy3 >= 0 && iy3 < params.in_h;
    var c3_0 = vec4<f32>(0.0);
    if (row3 && xa + 0u < u32(params.in_w)) { c3_0 = ld_x4((base + u32(iy3) * params.xs_h + xa + 0u) / 4u); }
    let in3_0 = load(base, iy3, x0 + 0);
    let in3_1 = c3_0.x;
    let in3_2 = c3_0.y;
    let in3_3 = c3_0.z;
    let in3_4 = c3_0.w;
    let in3_5 = load(base, iy3, x0 + 5);
    let iy4 = y0 + 4;
    let row4 = iy4 >= 0 && iy4 < params.in_h;
    var c4_0 = vec4<f32>(0.0);
    if (row4 && xa + 0u < u32(params.in_w)) { c4_0 = ld_x4((base + u32(iy4) * params.xs_h + xa + 0u) / 4u); }
    let in4_0 = load(base, iy4, x0 + 0);
    let in4_1 = c4_0.x;
    let in4_2 = c4_0.y;
    let in4_3 = c4_0.z;
    let in4_4 = c4_0.w;
    let in4_5 = load(base, iy4, x0 + 5);
    let iy5 = y0 + 5;
    let row5 = iy5 >= 0 && iy5 < params.in_h;
    var c5_0 = vec4<f32>(0.0);
    if (row5 && xa + 0u < u32(params.in_w)) { c5_0 = ld_x4((base + u32(iy5) * params.xs_h + xa + 0u) / 4u); }
    let in5_0 = load(base, iy5, x0 + 0);
    let in5_1 = c5_0.x;
    let in5_2 = c5_0.y;
    let in5_3 = c5_0.z;
    let in5_4 = c5_0.w;
    let in5_5 = load(base, iy5, x0 + 5);
    let mid0_0 = in0_0 + in4_0 - 2.5 * in2_0;
    let mid1_0_e = -in4_0 + 2.0 * in2_0;
    let mid1_0_o = 1.4142135 * in1_0 - 0.70710677 * in3_0;
    let mid1_0 = mid1_0_e + mid1_0_o;
    let mid2_0 = mid1_0_e - mid1_0_o;
    let mid3_0_e = in4_0 - 0.5 * in2_0;
    let mid3_0_o = -0.70710677 * in1_0 + 1.4142135 * in3_0;
    let mid3_0 = mid3_0_e + mid3_0_o;
    let mid4_0 = mid3_0_e - mid3_0_o;
    let mid5_0 = in1_0 + in5_0 - 2.5 * in3_0;
    let mid0_1 = in0_1 + in4_1 - 2.5 * in2_1;
    let mid1_1_e = -in4_1 + 2.0 * in2_1;
    let mid1_1_o = 1.4142135 * in1_1 - 0.70710677 * in3_1;
    let mid1_1 = mid1_1_e + mid1_1_o;
    let mid2_1 = mid1_1_e - mid1_1_o;
    let mid3_1_e = in4_1 - 0.5 * in2_1;
    let mid3_1_o = -0.70710677 * in1_1 + 1.4142135 * in3_1;
    let mid3_1 = mid3_1_e + mid3_1_o;
    let mid4_1 = mid3_1_e - mid3_1_o;
    let mid5_1 = in1_1 + in5_1 - 2.5 * in3_1;
    let mid0_2 = in0_2 + in4_2 - 2.5 * in2_2;
    let mid1_2_e = -in4_2 + 2.0 * in2_2;
    let mid1_2_o = 1.4142135 * in1_2 - 0.70710677 * in3_2;
    let mid1_2 = mid1_2_e + mid1_2_o;
    let mid2_2 = mid1_2_e - mid1_2_o;
    let mid3_2_e = in4_2 - 0.5 * in2_2;
    let mid3_2_o = -0.70710677 * in1_2 + 1.4142135 * in3_2;
    let mid3_2 = mid3_2_e + mid3_2_o;
    let mid4_2 = mid3_2_e - mid3_2_o;
    let mid5_2 = in1_2 + in5_2 - 2.5 * in3_2;
    let mid0_3 = in0_3 + in4_3 - 2.5 * in2_3;
    let mid1_3_e = -in4_3 + 2.0 * in2_3;
    let mid1_3_o = 1.4142135 * in1_3 - 0.70710677 * in3_3;
    let mid1_3 = mid1_3_e + mid1_3_o;
    let mid2_3 = mid1_3_e - mid1_3_o;
    let mid3_3_e = in4_3 - 0.5 * in2_3;
    let mid3_3_o = -0.70710677 * in1_3 + 1.4142135 * in3_3;
    let mid3_3 = mid3_3_e + mid3_3_o;
    let mid4_3 = mid3_3_e - mid3_3_o;
    let mid5_3 = in1_3 + in5_3 - 2.5 * in3_3;
    let mid0_4 = in0_4 + in4_4 - 2.5 * in2_4;
    let mid1_4_e = -in4_4 + 2.0 * in2_4;
    let mid1_4_o = 1.4142135 * in1_4 - 0.70710677 * in3_4;
    let mid1_4 = mid1_4_e + mid1_4_o;
    let mid2_4 = mid1_4_e - mid1_4_o;
    let mid3_4_e = in4_4 - 0.5 * in2_4;
    let mid3_4_o = -0.70710677 * in1_4 + 1.4142135 * in3_4;
    let mid3_4 = mid3_4_e + mid3_4_o;
    let mid4_4 = mid3_4_e - mid3_4_o;
    let mid5_4 = in1_4 + in5_4 - 2.5 * in3_4;
    let mid0_5 = in0_5 + in4_5 - 2.5 * in2_5;
    let mid1_5_e = -in4_5 + 2.0 * in2_5;
    let mid1_5_o = 1.4142135 * in1_5 - 0.70710677 * in3_5;
    let mid1_5 = mid1_5_e + mid1_5_o;
    let mid2_5 = mid1_5_e - mid1_5_o;
    let mid3_5_e = in4_5 - 0.5 * in2_5;
    let mid3_5_o = -0.70710677 * in1_5 + 1.4142135 * in3_5;
    let mid3_5 = mid3_5_e + mid3_5_o;
    let mid4_5 = mid3_5_e - mid3_5_o;
    let mid5_5 = in1_5 + in5_5 - 2.5 * in3_5;
    let out0_0 = mid0_0 + mid0_4 - 2.5 * mid0_2;
    let out0_1_e = -mid0_4 + 2.0 * mid0_2;
    let out0_1_o = 1.4142135 * mid0_1 - 0.70710677 * mid0_3;
    let out0_1 = out0_1_e + out0_1_o;
    let out0_2 = out0_1_e - out0_1_o;
    let out0_3_e = mid0_4 - 0.5 * mid0_2;
    let out0_3_o = -0.70710677 * mid0_1 + 1.4142135 * mid0_3;
    let out0_3 = out0_3_e + out0_3_o;
    let out0_4 = out0_3_e - out0_3_o;
    let out0_5 = mid0_1 + mid0_5 - 2.5 * mid0_3;
    let out1_0 = mid1_0 + mid1_4 - 2.5 * mid1_2;
    let out1_1_e = -mid1_4 + 2.0 * mid1_2;
    let out1_1_o = 1.4142135 * mid1_1 - 0.70710677 * mid1_3;
    let out1_1 = out1_1_e + out1_1_o;
    let out1_2 = out1_1_e - out1_1_o;
    let out1_3_e = mid1_4 - 0.5 * mid1_2;
    let out1_3_o = -0.70710677 * mid1_1 + 1.4142135 * mid1_3;
    let out1_3 = out1_3_e + out1_3_o;
    let out1_4 = out1_3_e - out1_3_o;
    let out1_5 = mid1_1 + mid1_5 - 2.5 * mid1_3;
    let out2_0 = mid2_0 + mid2_4 - 2.5 * mid2_2;
    let out2_1_e = -mid2_4 + 2.0 * mid2_2;
    let out2_1_o = 1.4142135 * mid2_1 - 0.70710677 * mid2_3;
    let out2_1 = out2_1_e + out2_1_o;
    let out2_2 = out2_1_e - out2_1_o;
    let out2_3_e = mid2_4 - 0.5 * mid2_2;
    let out2_3_o = -0.70710677 * mid2_1 + 1.4142135 * mid2_3;
    let out2_3 = out2_3_e + out2_3_o;
    let out2_4 = out2_3_e - out2_3_o;
    let out2_5 = mid2_1 + mid2_5 - 2.5 * mid2_3;
    let out3_0 = mid3_0 + mid3_4 - 2.5 * mid3_2;
    let out3_1_e = -mid3_4 + 2.0 * mid3_2;
    let out3_1_o = 1.4142135 * mid3_1 - 0.70710677 * mid3_3;
    let out3_1 = out3_1_e + out3_1_o;
    let out3_2 = out3_1_e - out3_1_o;
    let out3_3_e = mid3_4 - 0.5 * mid3_2;
    let out3_3_o = -0.70710677 * mid3_1 + 1.4142135 * mid3_3;
    let out3_3 = out3_3_e + out3_3_o;
    let out3_4 = out3_3_e - out3_3_o;
    let out3_5 = mid3_1 + mid3_5 - 2.5 * mid3_3;
    let out4_0 = mid4_0 + mid4_4 - 2.5 * mid4_2;
    let out4_1_e = -mid4_4 + 2.0 * mid4_2;
    let out4_1_o = 1.4142135 * mid4_1 - 0.70710677 * mid4_3;
    let out4_1 = out4_1_e + out4_1_o;
    let out4_2 = out4_1_e - out4_1_o;
    let out4_3_e = mid4_4 - 0.5 * mid4_2;
    let out4_3_o = -0.70710677 * mid4_1 + 1.4142135 * mid4_3;
    let out4_3 = out4_3_e + out4_3_o;
    let out4_4 = out4_3_e - out4_3_o;
    let out4_5 = mid4_1 + mid4_5 - 2.5 * mid4_3;
    let out5_0 = mid5_0 + mid5_4 - 2.5 * mid5_2;
    let out5_1_e = -mid5_4 + 2.0 * mid5_2;
    let out5_1_o = 1.4142135 * mid5_1 - 0.70710677 * mid5_3;
    let out5_1 = out5_1_e + out5_1_o;
    let out5_2 = out5_1_e - out5_1_o;
    let out5_3_e = mid5_4 - 0.5 * mid5_2;
    let out5_3_o = -0.70710677 * mid5_1 + 1.4142135 * mid5_3;
    let out5_3 = out5_3_e + out5_3_o;
    let out5_4 = out5_3_e - out5_3_o;
    let out5_5 = mid5_1 + mid5_5 - 2.5 * mid5_3;
    v[wino_index(0u, c, p, params.channels, params.tile_stride)] = out0_0;
    v[wino_index(1u, c, p, params.channels, params.tile_stride)] = out0_1;
    v[wino_index(2u, c, p, params.channels, params.tile_stride)] = out0_2;
    v[wino_index(3u, c, p, params.channels, params.tile_stride)] = out0_3;
    v[wino_index(4u, c, p, params.channels, params.tile_stride)] = out0_4;
    v[wino_index(5u, c, p, params.channels, params.tile_stride)] = out0_5;
    v[wino_index(6u, c, p, params.channels, params.tile_stride)] = out1_0;
    v[wino_index(7u, c, p, params.channels, params.tile_stride)] = out1_1;
    v[wino_index(8u, c, p, params.channels, params.tile_stride)] = out1_2;
    v[wino_index(9u, c, p, params.channels, params.tile_stride)] = out1_3;
    v[wino_index(10u, c, p, params.channels, params.tile_stride)] = out1_4;
    v[wino_index(11u, c, p, params.channels, params.tile_stride)] = out1_5;
    v[wino_index(12u, c, p, params.channels, params.tile_stride)] = out2_0;
    v[wino_index(13u, c, p, params.channels, params.tile_stride)] = out2_1;
    v[wino_index(14u, c, p, params.channels, params.tile_stride)] = out2_2;
    v[wino_index(15u, c, p, params.channels, params.tile_stride)] = out2_3;
    v[wino_index(16u, c, p, params.channels, params.tile_stride)] = out2_4;
    v[wino_index(17u, c, p, params.channels, params.tile_stride)] = out2_5;
    v[wino_index(18u, c, p, params.channels, params.tile_stride)] = out3_0;
    v[wino_index(19u, c, p, params.channels, params.tile_stride)] = out3_1;
    v[wino_index(20u, c, p, params.channels, params.tile_stride)] = out3_2;
    v[wino_index(21u, c, p, params.channels, params.tile_stride)] = out3_3;
    v[wino_index(22u, c, p, params.channels, params.tile_stride)] = out3_4;
    v[wino_index(23u, c, p, params.channels, params.tile_stride)] = out3_5;
    v[wino_index(24u, c, p, params.channels, params.tile_stride)] = out4_0;
    v[wino_index(25u, c, p, params.channels, params.tile_stride)] = out4_1;
    v[wino_index(26u, c, p, params.channels, params.tile_stride)] = out4_2;
    v[wino_index(27u, c, p, params.channels, params.tile_stride)] = out4_3;
    v[wino_index(28u, c, p, params.channels, params.tile_stride)] = out4_4;
    v[wino_index(29u, c, p, params.channels, params.tile_stride)] = out4_5;
    v[wino_index(30u, c, p, params.channels, params.tile_stride)] = out5_0;
    v[wino_index(31u, c, p, params.channels, params.tile_stride)] = out5_1;
    v[wino_index(32u, c, p, params.channels, params.tile_stride)] = out5_2;
    v[wino_index(33u, c, p, params.channels, params.tile_stride)] = out5_3;
    v[wino_index(34u, c, p, params.channels, params.tile_stride)] = out5_4;
    v[wino_index(35u, c, p, params.channels, params.tile_stride)] = out5_5;
}
