//! The tensor-core product core (`shaders/coop_product.wgsl`): the same operands as the
//! register-tiled core in `product`, multiplied on cooperative matrices (`coop_mat16x16` on
//! Vulkan tensor cores, `coop_mat8x8` on Apple simdgroup matrices) with f32 accumulators.
//! Operands are rounded to the fragment type once, when staged in workgroup memory. With f16
//! fragments and f32 data they are first multiplied by a power of two per tensor (`pow2_scale`,
//! the same rule as [`crate::reference::f16_operand_scale`]), so the largest magnitude lands
//! in [2^14, 2^15): nothing overflows and the large values keep f16's full 11 bits; the
//! epilogue divides the scales back out, exactly.

use super::product::{
    conv_wgsl, prefetch, ConvOperands, Loads, Prefetch, StageAt, GROUPED_WINOGRAD_FUNCTIONS,
    WINOGRAD_FUNCTIONS, WINOGRAD_OPERANDS,
};
use super::skeleton::fill;
use super::storage::Storage;
use super::uniform::{AmaxParams, GemmParams, MatmulParams, TensorProductParams, Uniform};
use super::weight_grad::GradOperands;
use super::winograd::wino_index;
use super::Kernel;
use crate::blocks::TensorBlock;
use crate::desc::TileLayout;
use crate::lowering::Transforms;

const SKELETON: &str = include_str!("../../shaders/coop_product.wgsl");
const AMAX_SKELETON: &str = include_str!("../../shaders/amax.wgsl");

/// The element type of the A and B fragments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FragType {
    /// f16 operands (tensor cores; `Precision::High`).
    F16,
    /// f32 operands (Apple simdgroup matrices: ordinary f32 arithmetic, `Precision::Highest`).
    F32,
}

impl FragType {
    fn wgsl(self) -> &'static str {
        match self {
            FragType::F16 => "f16",
            FragType::F32 => "f32",
        }
    }
}

/// Where the tensor-core product's operands come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TensorOperands {
    /// The convolution as an implicit GEMM, as in the register-tiled core; with f16 fragments
    /// the packed weights are f16 (scaled when packed) and f32 activations are scaled by the
    /// power of two their largest magnitude (`amax`, the last binding) asks for.
    Conv(ConvOperands),
    /// The Winograd batched product of F(m×m, r×r), as the register-tiled core's
    /// `Operands::Winograd`: grid layer z is the tile element (and group, when grouped), A the
    /// transformed weights U, B the transformed input V, both f32 in memory. With f16
    /// fragments each tile element's operands are multiplied by the powers of two of their
    /// bounds (`Transforms::operand_bounds`): the weights' largest magnitude
    /// (`params.w_amax`) and the input's (`amax[0]`, from the max-magnitude pass) times
    /// compiled-in constants per element, and the products are divided back, exactly.
    Winograd {
        /// Output tile side.
        m: usize,
        /// Kernel side.
        r: usize,
        /// Winograd-domain layout.
        layout: TileLayout,
        /// One product per (tile element, channel group).
        grouped: bool,
    },
    /// A plain GEMM for benchmarks: A `[K][M]` and B `[K][N]` in the fragment type, C `[M][N]`
    /// f32; M, N, K multiples of the block.
    Matmul,
    /// The weight gradient, as the register-tiled core's `Operands::Grad`: both operands
    /// (dy and the input's patches) come along the reduction; with f16 fragments and f32
    /// activations each is multiplied by the power of two of its largest magnitude
    /// (`amax_a[0]`, `amax_b[0]`, from max-magnitude passes) and the partial sums divided back.
    Grad(GradOperands),
}

/// The tensor-core kernel: `operands` with workgroup block `block` of subgroups of `subgroup`
/// invocations, fragments of `frag`.
pub(crate) fn coop_product(
    operands: TensorOperands,
    block: TensorBlock,
    frag: FragType,
    subgroup: u32,
) -> Kernel {
    let [wm, wn] = block.subgroups();
    let [fm, fn_] = block.fragments();
    let f = block.frag();
    let threads = wm * wn * subgroup;
    let ab = frag.wgsl();
    let conv = match operands {
        TensorOperands::Conv(c) => Some(c),
        TensorOperands::Winograd { .. } | TensorOperands::Matmul | TensorOperands::Grad(_) => None,
    };
    let grad = match operands {
        TensorOperands::Grad(g) => Some(g),
        _ => None,
    };
    let winograd = matches!(operands, TensorOperands::Winograd { .. });
    // f32 activations with f16 fragments are scaled; the weights, when f16, were scaled when
    // packed; f16 activations already fit. Winograd scales both transformed operands, and the
    // weight gradient both of its operands (dy and the input, activations alike).
    let grad_f32 = matches!(grad, Some(g) if g.storage == Storage::F32);
    let scaled_a = frag == FragType::F16 && (winograd || grad_f32);
    let scaled_b = frag == FragType::F16
        && (winograd || grad_f32 || matches!(conv, Some(c) if c.storage == Storage::F32));
    let unscaled = frag == FragType::F16 && (conv.is_some() || winograd);
    let reg_type = format!("vec4<{}>", frag.wgsl());
    let dims = [block.bm(), block.bn(), block.bk()];
    let loads = match grad {
        Some(_) => Loads { a_along_k: true, b_along_k: true, b_gathered: true },
        None => Loads::of_conv(conv),
    };
    let Prefetch { first, next, stage } = prefetch(
        loads,
        dims,
        threads,
        Some((&reg_type, "to_frag")),
        |at| match at {
            StageAt::Vec { name, idx, reg } => {
                let width = if name == "a" { "BM" } else { "BN" };
                format!("stage_{name}({name}_base, ({idx}) / ({width} / 4u), (({idx}) % ({width} / 4u)) * 4u, {reg});")
            }
            StageAt::AlongK { name, kq, lc, reg } => {
                format!("stage_{name}_along_k({name}_base, {kq} * 4u, {lc}, {reg});")
            }
        },
    );
    let mut acc = Vec::new();
    for i in 0..fm {
        for j in 0..fn_ {
            acc.push(format!("var acc{i}_{j} = frag_c();"));
        }
    }
    let mut mma = Vec::new();
    for kk in 0..block.bk() / f {
        let mut step = vec!["{".to_string()];
        for i in 0..fm {
            step.push(format!(
                "    let a{i} = coopLoad<frag_a>(&a_sh[a_base + {}u * AS + sr + {}u], AS);",
                kk * f,
                i * f
            ));
        }
        for j in 0..fn_ {
            step.push(format!(
                "    let b{j} = coopLoadT<frag_b>(&b_sh[b_base + {}u * BS + sc + {}u], BS);",
                kk * f,
                j * f
            ));
        }
        for i in 0..fm {
            for j in 0..fn_ {
                step.push(format!("    acc{i}_{j} = coopMultiplyAdd(a{i}, b{j}, acc{i}_{j});"));
            }
        }
        step.push("}".into());
        mma.extend(step);
    }
    // The epilogue: one fragment at a time through this subgroup's f32 scratch (rows padded by
    // 4 floats), each lane taking whole vec4s of it. A row of fragments at a time would need
    // FN× the scratch, and on the H100 the workgroups it keeps off each SM cost more than its
    // barriers save: 90 against 173 TFLOP/s for 128×128×16 at 4096³ (BENCHMARKS.md, "Tensor
    // blocks").
    let row_vecs = f / 4;
    let vecs = f * row_vecs;
    let mut stores = vec!["let c_base = sg * F * CW;".to_string()];
    let value = if scaled_a {
        // Two factors, each exact: their product could leave f32's range.
        "vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale_a * unscale_b"
    } else if unscaled {
        "vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u]) * unscale"
    } else {
        "vec4<f32>(c_sh[at], c_sh[at + 1u], c_sh[at + 2u], c_sh[at + 3u])"
    };
    for i in 0..fm {
        for j in 0..fn_ {
            stores.push(format!("coopStoreT(acc{i}_{j}, &c_sh[c_base], CW);"));
            stores.push("workgroupBarrier();".into());
            for t in 0..vecs.div_ceil(subgroup) {
                let body = [
                    format!("let v = lane + {}u;", t * subgroup),
                    format!("let r = v / {row_vecs}u;"),
                    format!("let c = (v % {row_vecs}u) * 4u;"),
                    "let at = c_base + r * CW + c;".to_string(),
                    format!("let row = row0 + sr + {}u + r;", i * f),
                    format!("let col = col0 + sc + {}u + c;", j * f),
                    format!(
                        "store(z, row, {}, {value});",
                        if conv.is_some() { "outputs(col)" } else { "col" }
                    ),
                ];
                let guard = if (t + 1) * subgroup > vecs {
                    format!("if (lane + {}u < {vecs}u) ", t * subgroup)
                } else {
                    String::new()
                };
                stores.push(format!("{guard}{{\n    {}\n}}", body.join("\n    ")));
            }
            stores.push("workgroupBarrier();".into());
        }
    }
    let mut header = vec!["enable f16;".to_string(), "enable wgpu_cooperative_matrix;".to_string()];
    let f16_data = matches!(conv, Some(c) if c.storage == Storage::F16)
        || matches!(grad, Some(g) if g.storage == Storage::F16);
    if frag == FragType::F32 && !f16_data {
        header.remove(0);
    }
    // What load_a / load_b return: the fragment type where an operand is stored in it unscaled
    // (`conv_wgsl` says which for the convolution; the plain GEMM's operands), else f32.
    let (params, bindings, operand_fns, reduction, name, [a_t, b_t]) = match (operands, conv) {
        (TensorOperands::Winograd { m, r, layout, grouped }, _) => {
            let mut bindings = WINOGRAD_OPERANDS.to_string();
            if scaled_b {
                bindings.push_str("\n@group(0) @binding(4) var<storage, read> amax: array<u32>;");
            }
            let t = Transforms::for_shipped_tile(m, r);
            let alpha = t.alpha();
            let fns = if grouped { GROUPED_WINOGRAD_FUNCTIONS } else { WINOGRAD_FUNCTIONS };
            let mut operand_fns = format!("{}\n\n{fns}", wino_index(layout, alpha));
            if scaled_b {
                let (gamma, beta) = t.operand_bounds();
                let list = |v: Vec<f32>| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>().join(", ");
                let n = alpha * alpha;
                operand_fns.push_str(&format!(
                    "\n\n// Bounds of |U_e| / max|w| and |V_e| / max|x| per tile element e.\n\
                     const GAMMA = array<f32, {n}>({});\nconst BETA = array<f32, {n}>({});",
                    list(gamma),
                    list(beta)
                ));
            }
            let group = if grouped { "_grouped" } else { "" };
            (
                TensorProductParams::wgsl(),
                bindings,
                operand_fns,
                if grouped { "params.group_in" } else { "params.channels" },
                format!("wino_tc_f{m}_{r}_{layout}{group}"),
                ["f32", "f32"],
            )
        }
        (_, Some(c)) => {
            let act = match c.storage {
                Storage::F32 => "f32",
                Storage::F16 => "f16",
                Storage::PackedF16 => "u32",
            };
            header.push(format!("alias act_t = {act};"));
            let (mut bindings, fns, load_types) = conv_wgsl(&c, frag == FragType::F16);
            if scaled_b {
                let slot = bindings.lines().count() + 1;
                bindings
                    .push_str(&format!("\n@group(0) @binding({slot}) var<storage, read> amax: array<u32>;"));
            }
            (
                GemmParams::wgsl(),
                bindings,
                fns,
                "params.reduction",
                format!("conv_tc_{}", c.describe()),
                load_types,
            )
        }
        (TensorOperands::Grad(g), _) => {
            let act = if g.storage == Storage::F16 { "f16" } else { "f32" };
            header.push(format!("alias act_t = {act};"));
            let (params, mut bindings, fns) = g.wgsl();
            if scaled_b {
                let slot = bindings.lines().count() + 1;
                bindings.push_str(&format!(
                    "\n@group(0) @binding({slot}) var<storage, read> amax_a: array<u32>;\n\
                     @group(0) @binding({}) var<storage, read> amax_b: array<u32>;",
                    slot + 1
                ));
            }
            (params, bindings, fns, "params.split_len", format!("{}_tc", g.name()), ["f32", "f32"])
        }
        (_, None) => (
            MatmulParams::wgsl(),
            MATMUL_OPERANDS.replace("{AB}", ab),
            MATMUL_FUNCTIONS.replace("{AB}", ab),
            "params.k",
            "matmul_tc".to_string(),
            [ab, ab],
        ),
    };
    let mut scales = Vec::new();
    if scaled_a {
        if winograd {
            // Per tile element e: the bounds of its operands, scaled by their powers of two.
            let e = match operands {
                TensorOperands::Winograd { grouped: true, .. } => "z / params.groups",
                _ => "z",
            };
            scales.push(format!("let e = {e};"));
            scales.push("scale_a = pow2_scale(bitcast<u32>(params.w_amax * GAMMA[e]));".into());
            scales.push("scale_b = pow2_scale(bitcast<u32>(bitcast<f32>(amax[0]) * BETA[e]));".into());
        } else {
            // The weight gradient: each operand's largest magnitude, from its own pass.
            scales.push("scale_a = pow2_scale(amax_a[0]);".into());
            scales.push("scale_b = pow2_scale(amax_b[0]);".into());
        }
        scales.push("let unscale_a = 1.0 / scale_a;".into());
        scales.push("let unscale_b = 1.0 / scale_b;".into());
    } else if scaled_b {
        scales.push("scale_b = pow2_scale(amax[0]);".to_string());
    }
    if unscaled && !scaled_a {
        scales.push(format!("let unscale = params.w_unscale{};", if scaled_b { " / scale_b" } else { "" }));
    }
    let values = [
        ("HEADER", header.join("\n")),
        ("PARAMS", params),
        ("AB", ab.to_string()),
        ("BM", block.bm().to_string()),
        ("BN", block.bn().to_string()),
        ("BK", block.bk().to_string()),
        ("F", f.to_string()),
        ("WN", wn.to_string()),
        ("SG", subgroup.to_string()),
        ("FM", fm.to_string()),
        ("FN", fn_.to_string()),
        ("STAGES", block.stages().to_string()),
        (
            "NEXT_STAGE",
            if block.stages() == 2 { "stage = 1u - stage;" } else { "workgroupBarrier();" }.to_string(),
        ),
        ("SUBGROUPS", (wm * wn).to_string()),
        ("THREADS", threads.to_string()),
        ("BINDINGS", bindings),
        ("OPERANDS", operand_fns),
        ("SCALE_FNS", if scaled_b { SCALE_FNS.to_string() } else { String::new() }),
        ("A_T", a_t.to_string()),
        ("B_T", b_t.to_string()),
        ("SCALE_A", if scaled_a { "v * scale_a".to_string() } else { "v".to_string() }),
        ("SCALE_B", if scaled_b { "v * scale_b".to_string() } else { "v".to_string() }),
        ("SCALES", scales.join("\n")),
        ("ACC_DECL", acc.join("\n")),
        ("PREFETCH_FIRST", first.join("\n")),
        ("REDUCTION", reduction.to_string()),
        ("TILE_STORES", stage.join("\n")),
        ("PREFETCH_NEXT", next.join("\n")),
        ("MMA", mma.join("\n")),
        ("STORES", stores.join("\n")),
    ];
    let fields = match (operands, conv) {
        (TensorOperands::Winograd { .. }, _) => TensorProductParams::FIELDS,
        (TensorOperands::Grad(g), _) => g.fields(),
        (_, Some(_)) => GemmParams::FIELDS,
        (_, None) => MatmulParams::FIELDS,
    };
    Kernel {
        name: format!(
            "{name}_{ab}_{}x{}x{}_w{wm}x{wn}_m{f}{}_sg{subgroup}",
            block.bm(),
            block.bn(),
            block.bk(),
            if block.stages() == 2 { "_db" } else { "" }
        ),
        source: fill(SKELETON, &values),
        fields,
    }
}

/// The power of two per tensor, computed from its largest magnitude's bits on the GPU.
const SCALE_FNS: &str = "\
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
var<private> scale_b: f32;";

const MATMUL_OPERANDS: &str = "\
@group(0) @binding(1) var<storage, read> a: array<vec4<{AB}>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<{AB}>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;";

const MATMUL_FUNCTIONS: &str = "\
fn load_a(z: u32, k: u32, row: u32) -> vec4<{AB}> {
    return a[(k * params.m + row) / 4u];
}

fn load_b(z: u32, k: u32, col: u32) -> vec4<{AB}> {
    return b[(k * params.n + col) / 4u];
}

fn store(z: u32, row: u32, col: u32, value: vec4<f32>) {
    c[(row * params.n + col) / 4u] = value;
}";

/// The largest magnitude of an f32 or f16 tensor, as the bits of |x| (ordered like the values,
/// NaN above Inf), max-accumulated into `amax[0]`, which the call clears first. With `vec4`, the
/// tensor's element offset and count must be multiples of 4 ([`amax_loads_vec4`]).
pub(crate) fn amax(storage: Storage, vec4: bool) -> Kernel {
    let (header, elem) = match storage {
        Storage::F16 => ("enable f16;", "f16"),
        // Packed f16 never reaches the tensor cores (they need shader f16).
        Storage::F32 | Storage::PackedF16 => ("", "f32"),
    };
    let (load, width, bits, f32_, fold) = if vec4 {
        (format!("vec4<{elem}>"), "4", "vec4<u32>", "vec4<f32>", "max(max(b.x, b.y), max(b.z, b.w))")
    } else {
        (elem.to_string(), "1", "u32", "f32", "b")
    };
    let values = [
        ("HEADER", header.to_string()),
        ("LOAD", load),
        ("WIDTH", width.to_string()),
        ("BITS", bits.to_string()),
        ("F32", f32_.to_string()),
        ("FOLD", fold.to_string()),
        ("PARAMS", AmaxParams::wgsl()),
    ];
    Kernel {
        name: format!("amax_{elem}{}", if vec4 { "_vec4" } else { "" }),
        source: fill(AMAX_SKELETON, &values),
        fields: AmaxParams::FIELDS,
    }
}

/// Whether the max-magnitude pass over `count` elements from element `offset` of its binding
/// reads vec4s: both multiples of 4 (bindings start 256-byte aligned).
pub(crate) fn amax_loads_vec4(count: u32, offset: u32) -> bool {
    count.is_multiple_of(4) && offset.is_multiple_of(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_and_buffering_shows_in_the_kernel_name() {
        for b in TensorBlock::CATALOGUE_16.iter().chain(&TensorBlock::CATALOGUE_8) {
            assert_eq!(b.to_string().parse::<TensorBlock>().unwrap(), *b);
        }
        assert_eq!("128x128x16/w2x2/m16/db".parse::<TensorBlock>().unwrap(), TensorBlock::T128_DB);
        assert!("128x128x16/w2x2/m16/xx".parse::<TensorBlock>().is_err());
        let single = TensorBlock::new(16, 2, 2, 4, 4, 16).unwrap();
        let [a, b] = [single, single.double_buffered()]
            .map(|blk| coop_product(TensorOperands::Matmul, blk, FragType::F16, 32));
        assert_ne!(a.name, b.name);
        assert!(b.source.contains("2u * BK * AS") && a.source.contains("1u * BK * AS"));
    }

    #[cfg(feature = "blocking")]
    /// Runs the max-magnitude pass over `count` elements from element `offset` of `bytes` on
    /// the test adapter; the largest |x| as bits.
    fn gpu_amax(
        ctx: &crate::runtime::Context,
        storage: Storage,
        bytes: &[u8],
        count: u32,
        offset: u32,
    ) -> u32 {
        use wgpu::util::DeviceExt;
        let (kernel, grid) = crate::algo::amax_pass(storage, count, offset, &ctx.limits());
        let pipeline = ctx.pipeline(&kernel).unwrap();
        let dev = ctx.device();
        let init = |contents: &[u8], usage| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: None, contents, usage })
        };
        let params =
            init(bytemuck::cast_slice(&AmaxParams { count, offset }.words()), wgpu::BufferUsages::UNIFORM);
        let x = init(bytes, wgpu::BufferUsages::STORAGE);
        let word = init(&[0; 4], wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC);
        let readback = dev.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let entries: Vec<wgpu::BindGroupEntry> = [&params, &x, &word]
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        let bind_group = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut enc = dev.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        enc.copy_buffer_to_buffer(&word, 0, &readback, 0, 4);
        ctx.queue().submit([enc.finish()]);
        let out = pollster::block_on(crate::runtime::read_back(ctx, &readback)).unwrap();
        u32::from_le_bytes(out[..4].try_into().unwrap())
    }

    #[cfg(feature = "blocking")]
    #[test]
    fn the_max_magnitude_pass_finds_the_largest_magnitude_with_scalar_and_vec4_loads() {
        let ctx = crate::runtime::Context::new().expect("a wgpu adapter (GPU tests never skip)");
        let f16_too = ctx.features().contains(wgpu::Features::SHADER_F16);
        // (elements, offset): vec4 loads where both are multiples of 4, scalar ones elsewhere;
        // more than one grid-strided round of 1024 workgroups for the largest.
        for (count, offset) in [(5_000_000, 0), (4099, 4), (4099, 0), (1000, 5), (1, 0), (7, 3)] {
            let total = (count + offset) as usize;
            for (case, special) in
                [("finite", None), ("nan", Some(f32::NAN)), ("inf", Some(f32::NEG_INFINITY))]
            {
                let mut v: Vec<f32> = (0..total).map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5).collect();
                // Outside the counted range: ignored however large.
                if offset > 0 {
                    v[0] = 1e6;
                }
                let peak = offset as usize + (count as usize * 5) / 7;
                v[peak] = -3.25;
                if let Some(s) = special {
                    v[offset as usize + count as usize - 1] = s;
                }
                let expected =
                    |vals: &[f32]| vals[offset as usize..].iter().map(|x| x.abs().to_bits()).max().unwrap();
                let bytes: Vec<u8> = bytemuck::cast_slice(&v).to_vec();
                let got = gpu_amax(&ctx, Storage::F32, &bytes, count, offset);
                assert_eq!(got, expected(&v), "f32 {case}, {count} elements from {offset}");
                if f16_too {
                    let h: Vec<half::f16> = v.iter().map(|&x| half::f16::from_f32(x)).collect();
                    let mut bytes: Vec<u8> = bytemuck::cast_slice(&h).to_vec();
                    bytes.resize(bytes.len().next_multiple_of(4), 0);
                    let rounded: Vec<f32> = h.iter().map(|x| x.to_f32()).collect();
                    let want = expected(&rounded);
                    let got = gpu_amax(&ctx, Storage::F16, &bytes, count, offset);
                    // NaN's payload may change in f16 → f32; any NaN is above Inf.
                    let nan = f32::from_bits(want).is_nan();
                    assert!(
                        got == want || (nan && f32::from_bits(got).is_nan()),
                        "f16 {case}, {count} from {offset}"
                    );
                }
            }
        }
    }

    #[test]
    fn tensor_kernels_validate() {
        for k in super::super::tensor_kernels() {
            crate::backends::validate(&k).unwrap_or_else(|e| {
                let numbered: Vec<String> =
                    k.source.lines().enumerate().map(|(i, l)| format!("{:4} {l}", i + 1)).collect();
                panic!("{e}\n{}", numbered.join("\n"))
            });
        }
    }
}
