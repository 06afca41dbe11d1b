// Filter transform, run once when weights are prepared: one invocation per (output, input
// channel) computes U = G g Gᵀ in f32 and stores it channel-major ([c][k], rows padded to
// k_stride) in the Winograd-domain layout, the operand order the product kernel loads as vec4.
struct Params {
    out_channels: u32,
    in_channels: u32,
    k_stride: u32,
    ws_o: u32,
    ws_i: u32,
    ws_h: u32,
    ws_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;

fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {
    return (row * 36u + e) * cols + col;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.out_channels * params.in_channels) {
        return;
    }
    let k = id / params.in_channels;
    let c = id % params.in_channels;
    let base = k * params.ws_o + c * params.ws_i;
    let in0_0 = w[base + 0u * params.ws_h + 0u * params.ws_w];
    let in0_1 = w[base + 0u * params.ws_h + 1u * params.ws_w];
    let in0_2 = w[base + 0u * params.ws_h + 2u * params.ws_w];
    let in1_0 = w[base + 1u * params.ws_h + 0u * params.ws_w];
    let in1_1 = w[base + 1u * params.ws_h + 1u * params.ws_w];
    let in1_2 = w[base + 1u * params.ws_h + 2u * params.ws_w];
    let in2_0 = w[base + 2u * params.ws_h + 0u * params.ws_w];
    let in2_1 = w[base + 2u * params.ws_h + 1u * params.ws_w];
    let in2_2 = w[base + 2u * params.ws_h + 2u * params.ws_w];
    let mid0_0 = in0_0;
    let mid1_0_e = 0.6666667 * in0_0 + 0.33333334 * in2_0;
    let mid1_0_o = 0.47140452 * in1_0;
    let mid1_0 = mid1_0_e + mid1_0_o;
    let mid2_0 = mid1_0_e - mid1_0_o;
    let mid3_0_e = 0.16666667 * in0_0 + 0.33333334 * in2_0;
    let mid3_0_o = 0.23570226 * in1_0;
    let mid3_0 = mid3_0_e + mid3_0_o;
    let mid4_0 = mid3_0_e - mid3_0_o;
    let mid5_0 = in2_0;
    let mid0_1 = in0_1;
    let mid1_1_e = 0.6666667 * in0_1 + 0.33333334 * in2_1;
    let mid1_1_o = 0.47140452 * in1_1;
    let mid1_1 = mid1_1_e + mid1_1_o;
    let mid2_1 = mid1_1_e - mid1_1_o;
    let mid3_1_e = 0.16666667 * in0_1 + 0.33333334 * in2_1;
    let mid3_1_o = 0.23570226 * in1_1;
    let mid3_1 = mid3_1_e + mid3_1_o;
    let mid4_1 = mid3_1_e - mid3_1_o;
    let mid5_1 = in2_1;
    let mid0_2 = in0_2;
    let mid1_2_e = 0.6666667 * in0_2 + 0.33333334 * in2_2;
    let mid1_2_o = 0.47140452 * in1_2;
    let mid1_2 = mid1_2_e + mid1_2_o;
    let mid2_2 = mid1_2_e - mid1_2_o;
    let mid3_2_e = 0.16666667 * in0_2 + 0.33333334 * in2_2;
    let mid3_2_o = 0.23570226 * in1_2;
    let mid3_2 = mid3_2_e + mid3_2_o;
    let mid4_2 = mid3_2_e - mid3_2_o;
    let mid5_2 = in2_2;
    let out0_0 = mid0_0;
    let out0_1_e = 0.6666667 * mid0_0 + 0.33333334 * mid0_2;
    let out0_1_o = 0.47140452 * mid0_1;
    let out0_1 = out0_1_e + out0_1_o;
    let out0_2 = out0_1_e - out0_1_o;
    let out0_3_e = 0.16666667 * mid0_0 + 0.33333334 * mid0_2;
    let out0_3_o = 0.23570226 * mid0_1;
    let out0_3 = out0_3_e + out0_3_o;
    let out0_4 = out0_3_e - out0_3_o;
    let out0_5 = mid0_2;
    let out1_0 = mid1_0;
    let out1_1_e = 0.6666667 * mid1_0 + 0.33333334 * mid1_2;
    let out1_1_o = 0.47140452 * mid1_1;
    let out1_1 = out1_1_e + out1_1_o;
    let out1_2 = out1_1_e - out1_1_o;
    let out1_3_e = 0.16666667 * mid1_0 + 0.33333334 * mid1_2;
    let out1_3_o = 0.23570226 * mid1_1;
    let out1_3 = out1_3_e + out1_3_o;
    let out1_4 = out1_3_e - out1_3_o;
    let out1_5 = mid1_2;
    let out2_0 = mid2_0;
    let out2_1_e = 0.6666667 * mid2_0 + 0.33333334 * mid2_2;
    let out2_1_o = 0.47140452 * mid2_1;
    let out2_1 = out2_1_e + out2_1_o;
    let out2_2 = out2_1_e - out2_1_o;
    let out2_3_e = 0.16666667 * mid2_0 + 0.33333334 * mid2_2;
    let out2_3_o = 0.23570226 * mid2_1;
    let out2_3 = out2_3_e + out2_3_o;
    let out2_4 = out2_3_e - out2_3_o;
    let out2_5 = mid2_2;
    let out3_0 = mid3_0;
    let out3_1_e = 0.6666667 * mid3_0 + 0.33333334 * mid3_2;
    let out3_1_o = 0.47140452 * mid3_1;
    let out3_1 = out3_1_e + out3_1_o;
    let out3_2 = out3_1_e - out3_1_o;
    let out3_3_e = 0.16666667 * mid3_0 + 0.33333334 * mid3_2;
    let out3_3_o = 0.23570226 * mid3_1;
    let out3_3 = out3_3_e + out3_3_o;
    let out3_4 = out3_3_e - out3_3_o;
    let out3_5 = mid3_2;
    let out4_0 = mid4_0;
    let out4_1_e = 0.6666667 * mid4_0 + 0.33333334 * mid4_2;
    let out4_1_o = 0.47140452 * mid4_1;
    let out4_1 = out4_1_e + out4_1_o;
    let out4_2 = out4_1_e - out4_1_o;
    let out4_3_e = 0.16666667 * mid4_0 + 0.33333334 * mid4_2;
    let out4_3_o = 0.23570226 * mid4_1;
    let out4_3 = out4_3_e + out4_3_o;
    let out4_4 = out4_3_e - out4_3_o;
    let out4_5 = mid4_2;
    let out5_0 = mid5_0;
    let out5_1_e = 0.6666667 * mid5_0 + 0.33333334 * mid5_2;
    let out5_1_o = 0.47140452 * mid5_1;
    let out5_1 = out5_1_e + out5_1_o;
    let out5_2 = out5_1_e - out5_1_o;
    let out5_3_e = 0.16666667 * mid5_0 + 0.33333334 * mid5_2;
    let out5_3_o = 0.23570226 * mid5_1;
    let out5_3 = out5_3_e + out5_3_o;
    let out5_4 = out5_3_e - out5_3_o;
    let out5_5 = mid5_2;
    u[wino_index(0u, c, k, params.in_channels, params.k_stride)] = out0_0;
    u[wino_index(1u, c, k, params.in_channels, params.k_stride)] = out0_1;
    u[wino_index(2u, c, k, params.in_channels, params.k_stride)] = out0_2;
    u[wino_index(3u, c, k, params.in_channels, params.k_stride)] = out0_3;
    u[wino_index(4u, c, k, params.in_channels, params.k_stride)] = out0_4;
    u[wino_index(5u, c, k, params.in_channels, params.k_stride)] = out0_5;
    u[wino_index(6u, c, k, params.in_channels, params.k_stride)] = out1_0;
    u[wino_index(7u, c, k, params.in_channels, params.k_stride)] = out1_1;
    u[wino_index(8u, c, k, params.in_channels, params.k_stride)] = out1_2;
    u[wino_index(9u, c, k, params.in_channels, params.k_stride)] = out1_3;
    u[wino_index(10u, c, k, params.in_channels, params.k_stride)] = out1_4;
    u[wino_index(11u, c, k, params.in_channels, params.k_stride)] = out1_5;
    u[wino_index(12u, c, k, params.in_channels, params.k_stride)] = out2_0;
    u[wino_index(13u, c, k, params.in_channels, params.k_stride)] = out2_1;
    u[wino_index(14u, c, k, params.in_channels, params.k_stride)] = out2_2;
    u[wino_index(15u, c, k, params.in_channels, params.k_stride)] = out2_3;
    u[wino_index(16u, c, k, params.in_channels, params.k_stride)] = out2_4;
    u[wino_index(17u, c, k, params.in_channels, params.k_stride)] = out2_5;
    u[wino_index(18u, c, k, params.in_channels, params.k_stride)] = out3_0;
    u[wino_index(19u, c, k, params.in_channels, params.k_stride)] = out3_1;
    u[wino_index(20u, c, k, params.in_channels, params.k_stride)] = out3_2;
    u[wino_index(21u, c, k, params.in_channels, params.k_stride)] = out3_3;
    u[wino_index(22u, c, k, params.in_channels, params.k_stride)] = out3_4;
    u[wino_index(23u, c, k, params.in_channels, params.k_stride)] = out3_5;
    u[wino_index(24u, c, k, params.in_channels, params.k_stride)] = out4_0;
    u[wino_index(25u, c, k, params.in_channels, params.k_stride)] = out4_1;
    u[wino_index(26u, c, k, params.in_channels, params.k_stride)] = out4_2;
    u[wino_index(27u, c, k, params.in_channels, params.k_stride)] = out4_3;
    u[wino_index(28u, c, k, params.in_channels, params.k_stride)] = out4_4;
    u[wino_index(29u, c, k, params.in_channels, params.k_stride)] = out4_5;
    u[wino_index(30u, c, k, params.in_channels, params.k_stride)] = out5_0;
    u[wino_index(31u, c, k, params.in_channels, params.k_stride)] = out5_1;
    u[wino_index(32u, c, k, params.in_channels, params.k_stride)] = out5_2;
    u[wino_index(33u, c, k, params.in_channels, params.k_stride)] = out5_3;
    u[wino_index(34u, c, k, params.in_channels, params.k_stride)] = out5_4;
    u[wino_index(35u, c, k, params.in_channels, params.k_stride)] = out5_5;
}
