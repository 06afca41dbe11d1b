// The last pass of a transposed convolution run as stride-1 phases: one phase's outputs, held
// densely in a scratch tensor by the phase's convolution, written to their strided places in
// the output (every `stride`-th row and column from the phase's offset), with the epilogue
// (bias, residual, activation) applied here, once per output element. The variant without a
// scratch tensor writes the outputs no kernel tap reaches: bias (and residual) only.
// One invocation per output element of the phase.
alias act_t = f32;

struct Params {
    elements: u32,
    out_channels: u32,
    q_h: u32,
    q_w: u32,
    phase_h: u32,
    phase_w: u32,
    stride_h: u32,
    stride_w: u32,
    s_row0: u32,
    s_col0: u32,
    ss_n: u32,
    ss_c: u32,
    ss_h: u32,
    ss_w: u32,
    r_offset: u32,
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> s: array<act_t>;
@group(0) @binding(2) var<storage, read_write> y: array<act_t>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> residual: array<act_t>;

fn ld_s(i: u32) -> f32 {
    return f32(s[i]);
}

fn st_y(i: u32, v: f32) {
    y[i] = act_t(v);
}

fn ld_r(i: u32) -> f32 {
    return f32(residual[i]);
}

fn finish(acc: f32, k: u32, rel: u32) -> f32 {
    var v = acc;
    v += bias[k];
    v += ld_r(params.r_offset + rel);
    v = v / (1.0 + exp(-v));
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let id = gid.x + gid.y * groups.x * 64u;
    if (id >= params.elements) {
        return;
    }
    let k = id % params.out_channels;
    let qx = (id / params.out_channels) % params.q_w;
    let qy = (id / (params.out_channels * params.q_w)) % params.q_h;
    let n = id / (params.out_channels * params.q_w * params.q_h);
    let oy = qy * params.stride_h + params.phase_h;
    let ox = qx * params.stride_w + params.phase_w;
    let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + ox * params.ys_w;
    let acc = ld_s(n * params.ss_n + k * params.ss_c + (qy + params.s_row0) * params.ss_h + (qx + params.s_col0) * params.ss_w);
    st_y(rel, finish(acc, k, rel));
}
