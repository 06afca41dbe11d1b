// The tensor-core product core: C (M×N) = A (M×K) · B (K×N) on cooperative matrices (tensor
// cores; Apple's simdgroup matrices), one product per grid layer z. Its operands come from the
// same functions as the register-tiled core's (OPERANDS: `load_a`, `load_b`, `store`, and
// `columns`/`outputs` for the convolution), so every algorithm that multiplies matrices can
// take either core.
// A workgroup of WM × WN subgroups computes a BM×BN block; each subgroup owns FM × FN
// fragments of F×F accumulators. The operand tiles are staged in workgroup memory as f16,
// scaled and rounded once, as they are loaded (A column-major `a_sh[k][m]`, B row-major
// `b_sh[k][n]`, rows padded by 8 elements against bank conflicts). The next step's global loads
// are issued into registers before this step's multiplies, so their latency hides behind them.
// One stage (STAGES = 1) takes two barriers per step; two stages write the next step into the
// other buffer while the subgroups read this one, one barrier per step, for twice the memory.
// On the H100 one stage keeps more workgroups resident: 243 against 175 TFLOP/s for 128×128 at
// 4096³, while two stages won on most ResNet-50 1×1 convolutions (BENCHMARKS.md, "Tensor
// blocks"). The accumulators leave one fragment at a time
// through workgroup memory, where each lane picks up whole vec4 rows for the shared epilogue.
enable f16;
enable wgpu_cooperative_matrix;
alias act_t = f32;

struct Params {
    group_out: u32,
    reduction: u32,
    k_stride: u32,
    group_stride: u32,
    group_in: u32,
    columns: u32,
    out_hw: u32,
    out_w: u32,
    stride_h: u32,
    stride_w: u32,
    dil_h: i32,
    dil_w: i32,
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
    ys_n: u32,
    ys_c: u32,
    ys_h: u32,
    ys_w: u32,
    w_unscale: f32,
}

const BM: u32 = 128u;
const BN: u32 = 128u;
const BK: u32 = 32u;
const F: u32 = 16u;
const WN: u32 = 2u;
const SG: u32 = 32u;
const AS: u32 = BM + 8u;
const BS: u32 = BN + 8u;
// Row stride of each subgroup's epilogue scratch (one fragment), padded.
const CW: u32 = F + 4u;

alias frag_a = coop_mat16x16<f16, A>;
alias frag_b = coop_mat16x16<f16, B>;
alias frag_c = coop_mat16x16<f32, C>;

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<act_t>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<act_t>>;
@group(0) @binding(3) var<storage, read> w: array<vec4<f16>>;
@group(0) @binding(4) var<storage, read> amax: array<u32>;

var<workgroup> a_sh: array<f16, 1u * BK * AS>;
var<workgroup> b_sh: array<f16, 1u * BK * BS>;
var<workgroup> c_sh: array<f32, 4u * F * CW>;

fn ld_x(i: u32) -> f32 {
    return f32(x[i / 4u][i % 4u]);
}

fn ld_x4(i: u32) -> vec4<f32> {
    return vec4<f32>(x[i]);
}

fn st_y4(i: u32, v: vec4<f32>) {
    y[i] = vec4<act_t>(v);
}


const KW: u32 = 1u;
const KHW: u32 = 1u;

// Four rows of the packed weights, in their stored type (f16: f16 weights go to f16 fragments
// as stored, with no round trip through f32).
fn load_a(g: u32, k: u32, row: u32) -> vec4<f16> {
    if (k >= params.reduction || row >= params.k_stride) {
        return vec4<f16>(0.0);
    }
    return w[(g * params.group_stride + k * params.k_stride + row) / 4u];
}

// Image offset, channel-group offset and output pixel of one column.
fn column_base(g: u32, q: u32) -> vec3<u32> {
    let n = q / params.out_hw;
    let pix = q % params.out_hw;
    return vec3<u32>(params.x_offset + n * params.xs_n + g * params.group_in * params.xs_c, pix / params.out_w, pix % params.out_w);
}

// The four columns' element offset at channel 0 (one image, contiguous, aligned), or NONE.
const NONE: u32 = 0xffffffffu;
fn columns(g: u32, col: u32) -> u32 {
    let b = column_base(g, col);
    return select(NONE, b.x + b.y * params.xs_h + b.z, col < params.columns);
}

fn load_b(g: u32, k: u32, c: u32) -> vec4<f32> {
    if (k >= params.reduction || c == NONE) {
        return vec4<f32>(0.0);
    }
    return ld_x4((c + k * params.xs_c) / 4u);
}

fn finish(acc: vec4<f32>, k: u32, rel: u32) -> vec4<f32> {
    var v = acc;
    return v;
}

// The output offset of four aligned pixels of one image without the channel term, or NONE.
fn outputs(col: u32) -> u32 {
    let n = col / params.out_hw;
    return select(0xffffffffu, n * params.ys_n + col % params.out_hw, col < params.columns);
}

fn store(g: u32, row: u32, o: u32, value: vec4<f32>) {
    if (row < params.group_out && o != 0xffffffffu) {
        let k = g * params.group_out + row;
        let rel = (o + k * params.ys_c) / 4u;
        st_y4(params.y_offset / 4u + rel, finish(value, k, rel));
    }
}

// 2^(14 - e) for a largest magnitude in [2^e, 2^(e+1)), built from its exponent bits so it is
// exact: that magnitude lands in [2^14, 2^15), below f16's 65504. Zero, Inf or NaN give 1 (NaN
// and Inf then propagate as in f32).
fn pow2_scale(bits: u32) -> f32 {
    if (bits == 0u || bits >= 0x7f800000u) {
        return 1.0;
    }
    let e = i32(bits >> 23u) - 127;
    return bitcast<f32>(u32(clamp(141 - e, 1, 254)) << 23u);
}

var<private> scale_a: f32;
var<private> scale_b: f32;

// A prefetched vec4 of A or B in the fragment type: rounded once, as it is loaded (scaled
// first where the operand is), so the registers that hold the next step hold half as many words.
// An operand stored in the fragment type (f16, f32) comes as it is: a round trip through
// f32 costs two conversions per element, and conversions to f16 issue at a fraction of the
// rate of the multiply-adds.
fn to_frag_a(v: vec4<f16>) -> vec4<f16> {
    return vec4<f16>(v);
}

fn to_frag_b(v: vec4<f32>) -> vec4<f16> {
    return vec4<f16>(v * scale_b);
}

// Four consecutive rows of A at step k.
fn stage_a(base: u32, k: u32, m: u32, h: vec4<f16>) {
    let i = base + k * AS + m;
    a_sh[i] = h.x;
    a_sh[i + 1u] = h.y;
    a_sh[i + 2u] = h.z;
    a_sh[i + 3u] = h.w;
}

// Four consecutive columns of B at step k.
fn stage_b(base: u32, k: u32, n: u32, h: vec4<f16>) {
    let i = base + k * BS + n;
    b_sh[i] = h.x;
    b_sh[i + 1u] = h.y;
    b_sh[i + 2u] = h.z;
    b_sh[i + 3u] = h.w;
}

// Four consecutive steps k.. of A's row m.
fn stage_a_along_k(base: u32, k: u32, m: u32, h: vec4<f16>) {
    a_sh[base + k * AS + m] = h.x;
    a_sh[base + (k + 1u) * AS + m] = h.y;
    a_sh[base + (k + 2u) * AS + m] = h.z;
    a_sh[base + (k + 3u) * AS + m] = h.w;
}

// Four consecutive steps k.. of B's column n.
fn stage_b_along_k(base: u32, k: u32, n: u32, h: vec4<f16>) {
    b_sh[base + k * BS + n] = h.x;
    b_sh[base + (k + 1u) * BS + n] = h.y;
    b_sh[base + (k + 2u) * BS + n] = h.z;
    b_sh[base + (k + 3u) * BS + n] = h.w;
}

@compute @workgroup_size(128)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    scale_b = pow2_scale(amax[0]);
    let unscale = params.w_unscale / scale_b;
    // The subgroup's first row and column within the block.
    let sr = (sg / WN) * 4u * F;
    let sc = (sg % WN) * 4u * F;
    var acc0_0 = frag_c();
    var acc0_1 = frag_c();
    var acc0_2 = frag_c();
    var acc0_3 = frag_c();
    var acc1_0 = frag_c();
    var acc1_1 = frag_c();
    var acc1_2 = frag_c();
    var acc1_3 = frag_c();
    var acc2_0 = frag_c();
    var acc2_1 = frag_c();
    var acc2_2 = frag_c();
    var acc2_3 = frag_c();
    var acc3_0 = frag_c();
    var acc3_1 = frag_c();
    var acc3_2 = frag_c();
    var acc3_3 = frag_c();
    var pa0 = vec4<f16>();
    pa0 = to_frag_a(load_a(z, 0u + (li + 0u) / (BM / 4u), row0 + ((li + 0u) % (BM / 4u)) * 4u));
    var pa1 = vec4<f16>();
    pa1 = to_frag_a(load_a(z, 0u + (li + 128u) / (BM / 4u), row0 + ((li + 128u) % (BM / 4u)) * 4u));
    var pa2 = vec4<f16>();
    pa2 = to_frag_a(load_a(z, 0u + (li + 256u) / (BM / 4u), row0 + ((li + 256u) % (BM / 4u)) * 4u));
    var pa3 = vec4<f16>();
    pa3 = to_frag_a(load_a(z, 0u + (li + 384u) / (BM / 4u), row0 + ((li + 384u) % (BM / 4u)) * 4u));
    var pa4 = vec4<f16>();
    pa4 = to_frag_a(load_a(z, 0u + (li + 512u) / (BM / 4u), row0 + ((li + 512u) % (BM / 4u)) * 4u));
    var pa5 = vec4<f16>();
    pa5 = to_frag_a(load_a(z, 0u + (li + 640u) / (BM / 4u), row0 + ((li + 640u) % (BM / 4u)) * 4u));
    var pa6 = vec4<f16>();
    pa6 = to_frag_a(load_a(z, 0u + (li + 768u) / (BM / 4u), row0 + ((li + 768u) % (BM / 4u)) * 4u));
    var pa7 = vec4<f16>();
    pa7 = to_frag_a(load_a(z, 0u + (li + 896u) / (BM / 4u), row0 + ((li + 896u) % (BM / 4u)) * 4u));
    let cols0 = columns(z, col0 + ((li + 0u) % (BN / 4u)) * 4u);
    var pb0 = vec4<f16>();
    pb0 = to_frag_b(load_b(z, 0u + (li + 0u) / (BN / 4u), cols0));
    let cols1 = columns(z, col0 + ((li + 128u) % (BN / 4u)) * 4u);
    var pb1 = vec4<f16>();
    pb1 = to_frag_b(load_b(z, 0u + (li + 128u) / (BN / 4u), cols1));
    let cols2 = columns(z, col0 + ((li + 256u) % (BN / 4u)) * 4u);
    var pb2 = vec4<f16>();
    pb2 = to_frag_b(load_b(z, 0u + (li + 256u) / (BN / 4u), cols2));
    let cols3 = columns(z, col0 + ((li + 384u) % (BN / 4u)) * 4u);
    var pb3 = vec4<f16>();
    pb3 = to_frag_b(load_b(z, 0u + (li + 384u) / (BN / 4u), cols3));
    let cols4 = columns(z, col0 + ((li + 512u) % (BN / 4u)) * 4u);
    var pb4 = vec4<f16>();
    pb4 = to_frag_b(load_b(z, 0u + (li + 512u) / (BN / 4u), cols4));
    let cols5 = columns(z, col0 + ((li + 640u) % (BN / 4u)) * 4u);
    var pb5 = vec4<f16>();
    pb5 = to_frag_b(load_b(z, 0u + (li + 640u) / (BN / 4u), cols5));
    let cols6 = columns(z, col0 + ((li + 768u) % (BN / 4u)) * 4u);
    var pb6 = vec4<f16>();
    pb6 = to_frag_b(load_b(z, 0u + (li + 768u) / (BN / 4u), cols6));
    let cols7 = columns(z, col0 + ((li + 896u) % (BN / 4u)) * 4u);
    var pb7 = vec4<f16>();
    pb7 = to_frag_b(load_b(z, 0u + (li + 896u) / (BN / 4u), cols7));
    var stage = 0u;
    for (var k0 = 0u; k0 < params.reduction; k0 += BK) {
        let a_base = stage * BK * AS;
        let b_base = stage * BK * BS;
        stage_a(a_base, (li + 0u) / (BM / 4u), ((li + 0u) % (BM / 4u)) * 4u, pa0);
        stage_a(a_base, (li + 128u) / (BM / 4u), ((li + 128u) % (BM / 4u)) * 4u, pa1);
        stage_a(a_base, (li + 256u) / (BM / 4u), ((li + 256u) % (BM / 4u)) * 4u, pa2);
        stage_a(a_base, (li + 384u) / (BM / 4u), ((li + 384u) % (BM / 4u)) * 4u, pa3);
        stage_a(a_base, (li + 512u) / (BM / 4u), ((li + 512u) % (BM / 4u)) * 4u, pa4);
        stage_a(a_base, (li + 640u) / (BM / 4u), ((li + 640u) % (BM / 4u)) * 4u, pa5);
        stage_a(a_base, (li + 768u) / (BM / 4u), ((li + 768u) % (BM / 4u)) * 4u, pa6);
        stage_a(a_base, (li + 896u) / (BM / 4u), ((li + 896u) % (BM / 4u)) * 4u, pa7);
        stage_b(b_base, (li + 0u) / (BN / 4u), ((li + 0u) % (BN / 4u)) * 4u, pb0);
        stage_b(b_base, (li + 128u) / (BN / 4u), ((li + 128u) % (BN / 4u)) * 4u, pb1);
        stage_b(b_base, (li + 256u) / (BN / 4u), ((li + 256u) % (BN / 4u)) * 4u, pb2);
        stage_b(b_base, (li + 384u) / (BN / 4u), ((li + 384u) % (BN / 4u)) * 4u, pb3);
        stage_b(b_base, (li + 512u) / (BN / 4u), ((li + 512u) % (BN / 4u)) * 4u, pb4);
        stage_b(b_base, (li + 640u) / (BN / 4u), ((li + 640u) % (BN / 4u)) * 4u, pb5);
        stage_b(b_base, (li + 768u) / (BN / 4u), ((li + 768u) % (BN / 4u)) * 4u, pb6);
        stage_b(b_base, (li + 896u) / (BN / 4u), ((li + 896u) % (BN / 4u)) * 4u, pb7);
        workgroupBarrier();
        pa0 = to_frag_a(load_a(z, k0 + BK + (li + 0u) / (BM / 4u), row0 + ((li + 0u) % (BM / 4u)) * 4u));
        pa1 = to_frag_a(load_a(z, k0 + BK + (li + 128u) / (BM / 4u), row0 + ((li + 128u) % (BM / 4u)) * 4u));
        pa2 = to_frag_a(load_a(z, k0 + BK + (li + 256u) / (BM / 4u), row0 + ((li + 256u) % (BM / 4u)) * 4u));
        pa3 = to_frag_a(load_a(z, k0 + BK + (li + 384u) / (BM / 4u), row0 + ((li + 384u) % (BM / 4u)) * 4u));
        pa4 = to_frag_a(load_a(z, k0 + BK + (li + 512u) / (BM / 4u), row0 + ((li + 512u) % (BM / 4u)) * 4u));
        pa5 = to_frag_a(load_a(z, k0 + BK + (li + 640u) / (BM / 4u), row0 + ((li + 640u) % (BM / 4u)) * 4u));
        pa6 = to_frag_a(load_a(z, k0 + BK + (li + 768u) / (BM / 4u), row0 + ((li + 768u) % (BM / 4u)) * 4u));
        pa7 = to_frag_a(load_a(z, k0 + BK + (li + 896u) / (BM / 4u), row0 + ((li + 896u) % (BM / 4u)) * 4u));
        pb0 = to_frag_b(load_b(z, k0 + BK + (li + 0u) / (BN / 4u), cols0));
        pb1 = to_frag_b(load_b(z, k0 + BK + (li + 128u) / (BN / 4u), cols1));
        pb2 = to_frag_b(load_b(z, k0 + BK + (li + 256u) / (BN / 4u), cols2));
        pb3 = to_frag_b(load_b(z, k0 + BK + (li + 384u) / (BN / 4u), cols3));
        pb4 = to_frag_b(load_b(z, k0 + BK + (li + 512u) / (BN / 4u), cols4));
        pb5 = to_frag_b(load_b(z, k0 + BK + (li + 640u) / (BN / 4u), cols5));
        pb6 = to_frag_b(load_b(z, k0 + BK + (li + 768u) / (BN / 4u), cols6));
        pb7 = to_frag_b(load_b(z, k0 + BK + (li + 896u) / (BN / 4u), cols7));
        {
            let a0 = coopLoad<frag_a>(&a_sh[a_base + 0u * AS + sr + 0u], AS);
            let a1 = coopLoad<frag_a>(&a_sh[a_base + 0u * AS + sr + 16u], AS);
            let a2 = coopLoad<frag_a>(&a_sh[a_base + 0u * AS + sr + 32u], AS);
            let a3 = coopLoad<frag_a>(&a_sh[a_base + 0u * AS + sr + 48u], AS);
            let b0 = coopLoadT<frag_b>(&b_sh[b_base + 0u * BS + sc + 0u], BS);
            let b1 = coopLoadT<frag_b>(&b_sh[b_base + 0u * BS + sc + 16u], BS);
            let b2 = coopLoadT<frag_b>(&b_sh[b_base + 0u * BS + sc + 32u], BS);
            let b3 = coopLoadT<frag_b>(&b_sh[b_base + 0u * BS + sc + 48u], BS);
            acc0_0 = coopMultiplyAdd(a0, b0, acc0_0);
            acc0_1 = coopMultiplyAdd(a0, b1, acc0_1);
            acc0_2 = coopMultiplyAdd(a0, b2, acc0_2);
            acc0_3 = coopMultiplyAdd(a0, b3, acc0_3);
            acc1_0 = coopMultiplyAdd(a1, b0, acc1_0);
            acc1_1 = coopMultiplyAdd(a1, b1, acc1_1);
            acc1_2 = coopMultiplyAdd(a1, b2, acc1_2);
            acc1_3 = coopMultiplyAdd(a1, b3, acc1_3);
            acc2_0 = coopMultiplyAdd(a2, b0, acc2_0);
            acc2_1 = coopMultiplyAdd(a2, b1, acc2_1);
            acc2_2 = coopMultiplyAdd(a2, b2, acc2_2);
            acc2_3 = coopMultiplyAdd(a2, b3, acc2_3);
            acc3_0 = coopMultiplyAdd(a3, b0, acc3_0);
            acc3_1 = coopMultiplyAdd(a3, b1, acc3_1);
            acc3_2 = coopMultiplyAdd(a3, b2, acc3_2);
            acc3_3 = coopMultiplyAdd(a3, b3, acc3_3);
        }
        {
            let a0 = coopLoad<frag_a>(&a_sh[a_base + 16u * AS + sr + 0u], AS);
            let a1 = coopLoad<frag_a>(&a_sh[a_base + 16u * AS + sr + 16u], AS);
            let a2 = coopLoad<frag_a>(&a_sh[a_base + 16u * AS + sr + 32u], AS);
            let a3 = coopLoad<frag_a>(&a_sh[a_base + 16u * AS + sr + 48u], AS);
            let b0 = coopLoadT<frag_b>(&b_sh[b_base + 16u * BS + sc + 0u], BS);
            let b1 = coopLoadT<frag_b>(&b_sh[b_base + 16u * BS + sc + 16u], BS);
            let b2 = coopLoadT<frag_b>(&b_sh[b_base + 16u * BS + sc + 32u], BS);
            let b3 = coopLoadT<frag_b>(&b_sh[b_base + 16u * BS + sc + 48u], BS);
            acc0_0 = coopMultiplyAdd(a0, b0, acc0_0);
            acc0_1 = coopMultiplyAdd(a0, b1, acc0_1);
            acc0_2 = coopMultiplyAdd(a0, b2, acc0_2);
            acc0_3 = coopMultiplyAdd(a0, b3, acc0_3);
            acc1_0 = coopMultiplyAdd(a1, b0, acc1_0);
            acc1_1 = coopMultiplyAdd(a1, b1, acc1_1);
            acc1_2 = coopMultiplyAdd(a1, b2, acc1_2);
            acc1_3 = coopMultiplyAdd(a1, b3, acc1_3);
            acc2_0 = coopMultiplyAdd(a2, b0, acc2_0);
            acc2_1 = coopMultiplyAdd(a2, b1, acc2_1);
            acc2_2 = coopMultiplyAdd(a2, b2, acc2_2);
            acc2_3 = coopMultiplyAdd(a2, b3, acc2_3);
            acc3_0 = coopMultiplyAdd(a3, b0, acc3_0);
            acc3_1 = coopMultiplyAdd(a3, b1, acc3_1);
            acc3_2 = coopMultiplyAdd(a3, b2, acc3_2);
            acc3_3 = coopMultiplyAdd(a3, b3, acc3_3);
        }
        workgroupBarrier();
    }
    let c_base = sg * F * CW;
    coopStoreT(acc0_0, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc0_1, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc0_2, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc0_3, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 0u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc1_0, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc1_1, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc1_2, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc1_3, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 16u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc2_0, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc2_1, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc2_2, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc2_3, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 32u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc3_0, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 0u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc3_1, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 16u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc3_2, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 32u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
    coopStoreT(acc3_3, &c_sh[c_base], CW);
    workgroupBarrier();
    {
        let v = lane + 0u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    {
        let v = lane + 32u;
        let r = v / 4u;
        let c = (v % 4u) * 4u;
        let at = c_base + r * CW + c;
        let row = row0 + sr + 48u + r;
        let col = col0 + sc + 48u + c;
        store(z, row, outputs(col), vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale);
    }
    workgroupBarrier();
}
