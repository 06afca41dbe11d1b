// The tensor-core product core: C (M×N) = A (M×K) · B (K×N) on cooperative matrices (tensor
// cores; Apple's simdgroup matrices), one product per grid layer z. Its operands come from the
// same functions as the register-tiled core's (OPERANDS: `load_a`, `load_b`, `store`, and
// `columns`/`outputs` for the convolution), so every algorithm that multiplies matrices can
// take either core.
// A workgroup of WM × WN subgroups computes a BM×BN block; each subgroup owns FM × FN
// fragments of F×F accumulators. The operand tiles are staged in workgroup memory as {{AB}},
// scaled and rounded once, as they are loaded (A column-major `a_sh[k][m]`, B row-major
// `b_sh[k][n]`, rows padded by 8 elements against bank conflicts). The next step's global loads
// are issued into registers before this step's multiplies, so their latency hides behind them.
// One stage (STAGES = 1) takes two barriers per step; two stages write the next step into the
// other buffer while the subgroups read this one, one barrier per step, for twice the memory.
// On the H100 one stage keeps more workgroups resident: 243 against 175 TFLOP/s for 128×128 at
// 4096³, while two stages won on most ResNet-50 1×1 convolutions (BENCHMARKS.md, "Tensor
// blocks"). The accumulators leave one fragment at a time
// through workgroup memory, where each lane picks up whole vec4 rows for the shared epilogue.
{{HEADER}}

{{PARAMS}}

const BM: u32 = {{BM}}u;
const BN: u32 = {{BN}}u;
const BK: u32 = {{BK}}u;
const F: u32 = {{F}}u;
const WN: u32 = {{WN}}u;
const SG: u32 = {{SG}}u;
const AS: u32 = BM + 8u;
const BS: u32 = BN + 8u;
// Row stride of each subgroup's epilogue scratch (one fragment), padded.
const CW: u32 = F + 4u;

alias frag_a = coop_mat{{F}}x{{F}}<{{AB}}, A>;
alias frag_b = coop_mat{{F}}x{{F}}<{{AB}}, B>;
alias frag_c = coop_mat{{F}}x{{F}}<f32, C>;

@group(0) @binding(0) var<uniform> params: Params;
{{BINDINGS}}

var<workgroup> a_sh: array<{{AB}}, {{STAGES}}u * BK * AS>;
var<workgroup> b_sh: array<{{AB}}, {{STAGES}}u * BK * BS>;
var<workgroup> c_sh: array<f32, {{SUBGROUPS}}u * F * CW>;

{{OPERANDS}}

{{SCALE_FNS}}

// A prefetched vec4 of A or B in the fragment type: rounded once, as it is loaded (scaled
// first where the operand is), so the registers that hold the next step hold half as many words.
// An operand stored in the fragment type ({{A_T}}, {{B_T}}) comes as it is: a round trip through
// f32 costs two conversions per element, and conversions to f16 issue at a fraction of the
// rate of the multiply-adds.
fn to_frag_a(v: vec4<{{A_T}}>) -> vec4<{{AB}}> {
    return vec4<{{AB}}>({{SCALE_A}});
}

fn to_frag_b(v: vec4<{{B_T}}>) -> vec4<{{AB}}> {
    return vec4<{{AB}}>({{SCALE_B}});
}

// Four consecutive rows of A at step k.
fn stage_a(base: u32, k: u32, m: u32, h: vec4<{{AB}}>) {
    let i = base + k * AS + m;
    a_sh[i] = h.x;
    a_sh[i + 1u] = h.y;
    a_sh[i + 2u] = h.z;
    a_sh[i + 3u] = h.w;
}

// Four consecutive columns of B at step k.
fn stage_b(base: u32, k: u32, n: u32, h: vec4<{{AB}}>) {
    let i = base + k * BS + n;
    b_sh[i] = h.x;
    b_sh[i + 1u] = h.y;
    b_sh[i + 2u] = h.z;
    b_sh[i + 3u] = h.w;
}

// Four consecutive steps k.. of A's row m.
fn stage_a_along_k(base: u32, k: u32, m: u32, h: vec4<{{AB}}>) {
    a_sh[base + k * AS + m] = h.x;
    a_sh[base + (k + 1u) * AS + m] = h.y;
    a_sh[base + (k + 2u) * AS + m] = h.z;
    a_sh[base + (k + 3u) * AS + m] = h.w;
}

// Four consecutive steps k.. of B's column n.
fn stage_b_along_k(base: u32, k: u32, n: u32, h: vec4<{{AB}}>) {
    b_sh[base + k * BS + n] = h.x;
    b_sh[base + (k + 1u) * BS + n] = h.y;
    b_sh[base + (k + 2u) * BS + n] = h.z;
    b_sh[base + (k + 3u) * BS + n] = h.w;
}

@compute @workgroup_size({{THREADS}})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let z = wid.z;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    {{SCALES}}
    // The subgroup's first row and column within the block.
    let sr = (sg / WN) * {{FM}}u * F;
    let sc = (sg % WN) * {{FN}}u * F;
    {{ACC_DECL}}
    {{PREFETCH_FIRST}}
    var stage = 0u;
    for (var k0 = 0u; k0 < {{REDUCTION}}; k0 += BK) {
        let a_base = stage * BK * AS;
        let b_base = stage * BK * BS;
        {{TILE_STORES}}
        workgroupBarrier();
        {{PREFETCH_NEXT}}
        {{MMA}}
        {{NEXT_STAGE}}
    }
    {{STORES}}
}
