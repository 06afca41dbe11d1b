// Output transform: one invocation per (output channel, tile). Gathers the α×α products of the
// tile, computes Y = Aᵀ M A, crops it at the image edge and applies the fused epilogue
// (bias, residual, activation) on the way out. The vector-store variants bind the output (and
// residual) as vec2s or vec4s and write each row of the tile with m/2 or m/4 stores.
alias act_t = f32;

struct Params {
    out_channels: u32,
    tiles: u32,
    tiles_w: u32,
    tiles_per_image: u32,
    tile_row0: u32,
    tile_stride: u32,
    y_offset: u32,
    r_offset: u32,
    out_h: u32,
    out_w: u32,
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> prod: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<act_t>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<vec4<act_t>>;

fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {
    return (row * 36u + e) * cols + col;
}

fn st_y4(i: u32, v: vec4<f32>) {
    y[i] = vec4<act_t>(v);
}

fn ld_r(i: u32) -> f32 {
    return f32(residual[i / 4u][i % 4u]);
}

fn ld_r4(i: u32) -> vec4<f32> {
    return vec4<f32>(residual[i]);
}

fn finish(acc: vec4<f32>, k: u32, rel: u32) -> vec4<f32> {
    var v = acc;
    v += bias[k];
    v += ld_r4(params.r_offset / 4u + rel);
    v = v / (1.0 + exp(-v));
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.out_channels * params.tiles) {
        return;
    }
    let k = id / params.tiles;
    let p = id % params.tiles;
    let t = p % params.tiles_per_image;
    let y0 = (params.tile_row0 + t / params.tiles_w) * 4u;
    let x0 = (t % params.tiles_w) * 4u;
    let base = (p / params.tiles_per_image) * params.ys_n + k * params.ys_c;
    let in0_0 = prod[wino_index(0u, k, p, params.out_channels, params.tile_stride)];
    let in0_1 = prod[wino_index(1u, k, p, params.out_channels, params.tile_stride)];
    let in0_2 = prod[wino_index(2u, k, p, params.out_channels, params.tile_stride)];
    let in0_3 = prod[wino_index(3u, k, p, params.out_channels, params.tile_stride)];
    let in0_4 = prod[wino_index(4u, k, p, params.out_channels, params.tile_stride)];
    let in0_5 = prod[wino_index(5u, k, p, params.out_channels, params.tile_stride)];
    let in1_0 = prod[wino_index(6u, k, p, params.out_channels, params.tile_stride)];
    let in1_1 = prod[wino_index(7u, k, p, params.out_channels, params.tile_stride)];
    let in1_2 = prod[wino_index(8u, k, p, params.out_channels, params.tile_stride)];
    let in1_3 = prod[wino_index(9u, k, p, params.out_channels, params.tile_stride)];
    let in1_4 = prod[wino_index(10u, k, p, params.out_channels, params.tile_stride)];
    let in1_5 = prod[wino_index(11u, k, p, params.out_channels, params.tile_stride)];
    let in2_0 = prod[wino_index(12u, k, p, params.out_channels, params.tile_stride)];
    let in2_1 = prod[wino_index(13u, k, p, params.out_channels, params.tile_stride)];
    let in2_2 = prod[wino_index(14u, k, p, params.out_channels, params.tile_stride)];
    let in2_3 = prod[wino_index(15u, k, p, params.out_channels, params.tile_stride)];
    let in2_4 = prod[wino_index(16u, k, p, params.out_channels, params.tile_stride)];
    let in2_5 = prod[wino_index(17u, k, p, params.out_channels, params.tile_stride)];
    let in3_0 = prod[wino_index(18u, k, p, params.out_channels, params.tile_stride)];
    let in3_1 = prod[wino_index(19u, k, p, params.out_channels, params.tile_stride)];
    let in3_2 = prod[wino_index(20u, k, p, params.out_channels, params.tile_stride)];
    let in3_3 = prod[wino_index(21u, k, p, params.out_channels, params.tile_stride)];
    let in3_4 = prod[wino_index(22u, k, p, params.out_channels, params.tile_stride)];
    let in3_5 = prod[wino_index(23u, k, p, params.out_channels, params.tile_stride)];
    let in4_0 = prod[wino_index(24u, k, p, params.out_channels, params.tile_stride)];
    let in4_1 = prod[wino_index(25u, k, p, params.out_channels, params.tile_stride)];
    let in4_2 = prod[wino_index(26u, k, p, params.out_channels, params.tile_stride)];
    let in4_3 = prod[wino_index(27u, k, p, params.out_channels, params.tile_stride)];
    let in4_4 = prod[wino_index(28u, k, p, params.out_channels, params.tile_stride)];
    let in4_5 = prod[wino_index(29u, k, p, params.out_channels, params.tile_stride)];
    let in5_0 = prod[wino_index(30u, k, p, params.out_channels, params.tile_stride)];
    let in5_1 = prod[wino_index(31u, k, p, params.out_channels, params.tile_stride)];
    let in5_2 = prod[wino_index(32u, k, p, params.out_channels, params.tile_stride)];
    let in5_3 = prod[wino_index(33u, k, p, params.out_channels, params.tile_stride)];
    let in5_4 = prod[wino_index(34u, k, p, params.out_channels, params.tile_stride)];
    let in5_5 = prod[wino_index(35u, k, p, params.out_channels, params.tile_stride)];
    let mid0_0 = in0_0 + in1_0 + in2_0 + in3_0 + in4_0;
    let mid1_0 = 0.70710677 * (in1_0 - in2_0) + 1.4142135 * (in3_0 - in4_0);
    let mid2_0 = 0.5 * (in1_0 + in2_0) + 2.0 * (in3_0 + in4_0);
    let mid3_0 = in5_0 + 0.35355338 * (in1_0 - in2_0) + 2.828427 * (in3_0 - in4_0);
    let mid0_1 = in0_1 + in1_1 + in2_1 + in3_1 + in4_1;
    let mid1_1 = 0.70710677 * (in1_1 - in2_1) + 1.4142135 * (in3_1 - in4_1);
    let mid2_1 = 0.5 * (in1_1 + in2_1) + 2.0 * (in3_1 + in4_1);
    let mid3_1 = in5_1 + 0.35355338 * (in1_1 - in2_1) + 2.828427 * (in3_1 - in4_1);
    let mid0_2 = in0_2 + in1_2 + in2_2 + in3_2 + in4_2;
    let mid1_2 = 0.70710677 * (in1_2 - in2_2) + 1.4142135 * (in3_2 - in4_2);
    let mid2_2 = 0.5 * (in1_2 + in2_2) + 2.0 * (in3_2 + in4_2);
    let mid3_2 = in5_2 + 0.35355338 * (in1_2 - in2_2) + 2.828427 * (in3_2 - in4_2);
    let mid0_3 = in0_3 + in1_3 + in2_3 + in3_3 + in4_3;
    let mid1_3 = 0.70710677 * (in1_3 - in2_3) + 1.4142135 * (in3_3 - in4_3);
    let mid2_3 = 0.5 * (in1_3 + in2_3) + 2.0 * (in3_3 + in4_3);
    let mid3_3 = in5_3 + 0.35355338 * (in1_3 - in2_3) + 2.828427 * (in3_3 - in4_3);
    let mid0_4 = in0_4 + in1_4 + in2_4 + in3_4 + in4_4;
    let mid1_4 = 0.70710677 * (in1_4 - in2_4) + 1.4142135 * (in3_4 - in4_4);
    let mid2_4 = 0.5 * (in1_4 + in2_4) + 2.0 * (in3_4 + in4_4);
    let mid3_4 = in5_4 + 0.35355338 * (in1_4 - in2_4) + 2.828427 * (in3_4 - in4_4);
    let mid0_5 = in0_5 + in1_5 + in2_5 + in3_5 + in4_5;
    let mid1_5 = 0.70710677 * (in1_5 - in2_5) + 1.4142135 * (in3_5 - in4_5);
    let mid2_5 = 0.5 * (in1_5 + in2_5) + 2.0 * (in3_5 + in4_5);
    let mid3_5 = in5_5 + 0.35355338 * (in1_5 - in2_5) + 2.828427 * (in3_5 - in4_5);
    let out0_0 = mid0_0 + mid0_1 + mid0_2 + mid0_3 + mid0_4;
    let out0_1 = 0.70710677 * (mid0_1 - mid0_2) + 1.4142135 * (mid0_3 - mid0_4);
    let out0_2 = 0.5 * (mid0_1 + mid0_2) + 2.0 * (mid0_3 + mid0_4);
    let out0_3 = mid0_5 + 0.35355338 * (mid0_1 - mid0_2) + 2.828427 * (mid0_3 - mid0_4);
    let out1_0 = mid1_0 + mid1_1 + mid1_2 + mid1_3 + mid1_4;
    let out1_1 = 0.70710677 * (mid1_1 - mid1_2) + 1.4142135 * (mid1_3 - mid1_4);
    let out1_2 = 0.5 * (mid1_1 + mid1_2) + 2.0 * (mid1_3 + mid1_4);
    let out1_3 = mid1_5 + 0.35355338 * (mid1_1 - mid1_2) + 2.828427 * (mid1_3 - mid1_4);
    let out2_0 = mid2_0 + mid2_1 + mid2_2 + mid2_3 + mid2_4;
    let out2_1 = 0.70710677 * (mid2_1 - mid2_2) + 1.4142135 * (mid2_3 - mid2_4);
    let out2_2 = 0.5 * (mid2_1 + mid2_2) + 2.0 * (mid2_3 + mid2_4);
    let out2_3 = mid2_5 + 0.35355338 * (mid2_1 - mid2_2) + 2.828427 * (mid2_3 - mid2_4);
    let out3_0 = mid3_0 + mid3_1 + mid3_2 + mid3_3 + mid3_4;
    let out3_1 = 0.70710677 * (mid3_1 - mid3_2) + 1.4142135 * (mid3_3 - mid3_4);
    let out3_2 = 0.5 * (mid3_1 + mid3_2) + 2.0 * (mid3_3 + mid3_4);
    let out3_3 = mid3_5 + 0.35355338 * (mid3_1 - mid3_2) + 2.828427 * (mid3_3 - mid3_4);
    if (y0 + 0u < params.out_h) {
        let row = base + (y0 + 0u) * params.ys_h;
        if (x0 + 0u < params.out_w) {
            let rel = (row + x0 + 0u) / 4u;
            st_y4(params.y_offset / 4u + rel, finish(vec4<f32>(out0_0, out0_1, out0_2, out0_3), k, rel));
        }
    }
    if (y0 + 1u < params.out_h) {
        let row = base + (y0 + 1u) * params.ys_h;
        if (x0 + 0u < params.out_w) {
            let rel = (row + x0 + 0u) / 4u;
            st_y4(params.y_offset / 4u + rel, finish(vec4<f32>(out1_0, out1_1, out1_2, out1_3), k, rel));
        }
    }
    if (y0 + 2u < params.out_h) {
        let row = base + (y0 + 2u) * params.ys_h;
        if (x0 + 0u < params.out_w) {
            let rel = (row + x0 + 0u) / 4u;
            st_y4(params.y_offset / 4u + rel, finish(vec4<f32>(out2_0, out2_1, out2_2, out2_3), k, rel));
        }
    }
    if (y0 + 3u < params.out_h) {
        let row = base + (y0 + 3u) * params.ys_h;
        if (x0 + 0u < params.out_w) {
            let rel = (row + x0 + 0u) / 4u;
            st_y4(params.y_offset / 4u + rel, finish(vec4<f32>(out3_0, out3_1, out3_2, out3_3), k, rel));
        }
    }
}
