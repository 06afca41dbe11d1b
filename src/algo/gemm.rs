//! Implicit GEMM: the convolution as `Y[g] (K/G × N·OH·OW) = W[g] (K/G × C/G·kh·kw) · X[g]`,
//! through the same product core as the Winograd product. The weights are packed once into
//! the core's A layout; the B operand is gathered from the input inside the loader (im2col
//! indexing, never materialised), and the shared epilogue writes the output directly. A 1×1,
//! stride-1, unpadded convolution is the plain-GEMM special case: each column is one pixel.

use super::{auto_block, with_epilogue, workgroup_fits, Budget, Geometry, Prep, Recipe, Slot};
use crate::blocks::{Engine, GemmBlock, TensorBlock};
use crate::codegen::uniform::{fit, GemmParams, PackParams, Uniform};
use crate::codegen::{self, ConvOperands, FragType, Gather, Operands, Storage, TensorOperands};
use crate::desc::{Conv2dDesc, DataFormat, Padding, Precision, Product};
use crate::error::{Error, Result};
use crate::plan::{Choice, Path, Piece, Plan, TensorCaps};
use crate::reference::f16_operand_scale;
use wgpu::Limits;

/// Whether each GEMM column reads one input element per channel: 1×1, unpadded, any stride.
fn is_pointwise(desc: &Conv2dDesc) -> bool {
    desc.kernel == [1, 1] && desc.padding == Padding::default()
}

/// How B is read for a descriptor, output size and block: one element per column for 1×1
/// unpadded convolutions (any stride) — aligned vec4s of four columns where stride-1 NCHW images have a
/// multiple of 4 pixels, of four channels where NHWC groups have a multiple of 4 channels (and
/// the block's reduction step is too) — and im2col indexing for everything else.
fn gather(desc: &Conv2dDesc, out_hw: usize, bk: u32) -> Gather {
    let pointwise = is_pointwise(desc);
    let channels_by_4 = (desc.in_channels / desc.groups).is_multiple_of(4) && bk.is_multiple_of(4);
    match (pointwise, desc.data_format) {
        (true, DataFormat::Nchw) if out_hw.is_multiple_of(4) && desc.stride == [1, 1] => {
            Gather::PointwiseVec4
        }
        (true, DataFormat::Nhwc) if channels_by_4 => Gather::PointwiseNhwcVec4,
        (true, _) => Gather::Pointwise,
        (false, _) => Gather::Window,
    }
}

/// Below this many 64×64 workgroups a GEMM leaves the H100's 132 SMs under-filled (fewer than
/// about 2.7 waves), and the narrow 64×16 block, with 4× the workgroups, wins: measured on every
/// ResNet-50 layer at batch 1 and MobileNetV2's at batch 32 (BENCHMARKS.md, "GEMM blocks",
/// run 5), by up to 2× (256→256 3×3 stride 2 at batch 1: 0.060 against 0.113 ms).
const MIN_WORKGROUPS_64X64: usize = 350;

/// The block for a GEMM of `rows` output channels per group and `columns` output pixels, each
/// rung measured on the H100 (BENCHMARKS.md, "GEMM blocks"):
/// - up to 32 rows: the shared rule's 16- or 32-row blocks;
/// - 1×1 convolutions with at least 128 rows and 6272 columns (ResNet-50's at batch 32 from 14²
///   up): 128×64, which beat 64×64 on 10 of 11 such layers by 4–30%;
/// - too few 64×64 workgroups to fill the GPU: 64×16;
/// - else the shared rule (64×64 for big products).
fn gemm_block(desc: &Conv2dDesc, rows: usize, columns: usize, limits: &Limits) -> Result<GemmBlock> {
    let fits = |b: &GemmBlock| workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), limits);
    let wide = |b: GemmBlock| rows.div_ceil(b.bm() as usize) * columns.div_ceil(b.bn() as usize);
    let chosen = if rows <= 32 {
        None
    } else if desc.kernel == [1, 1] && rows >= 128 && columns >= 6272 {
        Some(GemmBlock::B128X64)
    } else if wide(GemmBlock::B64) < MIN_WORKGROUPS_64X64 {
        Some(GemmBlock::NARROW)
    } else {
        None
    };
    match chosen.filter(fits) {
        Some(b) => Ok(b),
        None => auto_block(rows, columns, limits),
    }
}

/// Rows (output channels per group), reduction length and packed row stride.
fn dims(desc: &Conv2dDesc) -> (usize, usize, usize) {
    let [k, cg, kh, kw] = desc.weight_shape();
    let group_out = k / desc.groups;
    (group_out, cg * kh * kw, group_out.next_multiple_of(4))
}

/// The GEMM path for a shape: the forced engine and block (a tuned one arrives forced) or one
/// chosen for (output channels per group, output pixels), and how the batch splits. With
/// `tensor` (the precision the fragments compute in, and the adapter's fragments), the product
/// runs on the cooperative-matrix engine, else on the register engine.
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
    tensor: Option<(Precision, TensorCaps)>,
) -> Result<(Path, usize, usize)> {
    let [n, _, _, _] = input;
    let [_, _, oh, ow] = output;
    let (group_out, _, _) = dims(desc);
    let columns = n * oh * ow;
    let (engine, precision) = match tensor {
        Some((precision, caps)) => {
            caps.frag(precision).ok_or_else(|| {
                Error::Unsupported(format!("no cooperative matrices for precision {precision}"))
            })?;
            let block = match desc.product {
                Some(Product::Engine(Engine::Coop(block))) => block,
                _ => tensor_block((group_out, columns, desc.groups), precision, caps, limits)?,
            };
            (Engine::Coop(block), precision)
        }
        None => {
            let block = match desc.product {
                Some(Product::Engine(Engine::Registers(b))) => b,
                Some(p) => {
                    return Err(Error::InvalidDescriptor(format!(
                        "gemm on the f32 cores takes only a product block, not '{p}'"
                    )))
                }
                None => gemm_block(desc, group_out, columns, limits)?,
            };
            (Engine::Registers(block), Precision::Highest)
        }
    };
    let (_, caps) = tensor.unwrap_or_default();
    super::check_engine(&engine, precision, caps, limits)?;
    // The f16 path on f32 data binds the input's max-magnitude word too.
    let scaled = engine.is_coop() && precision == Precision::High && desc.dtype == crate::desc::DType::F32;
    let [bm, bn, _] = engine.dims();
    let (chunk, band) = split(desc, input, output, limits, [bm, bn], if scaled { 4 } else { 3 })?;
    let choice = Choice::Gemm(engine);
    Ok((Path::Core { choice, kernel: desc.kernel, precision }, chunk, band))
}

/// Images per pass and output pixels per pass (`super::band_shape`) for a `[bm, bn]` block
/// whose passes bind `slots` storage buffers besides the epilogue's: the row blocks and groups
/// must fit one grid dimension, the column blocks another; where one image's do not, the image
/// runs in bands of output rows (or segments of one row).
fn split(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
    [bm, bn]: [u32; 2],
    slots: usize,
) -> Result<(usize, usize)> {
    let [n, _, _, _] = input;
    let [_, _, oh, ow] = output;
    let (group_out, _, _) = dims(desc);
    let budget = Budget::new(input, output, desc.dtype.size(), limits)?;
    // Weights past a binding are split into output-channel slices by the planner.
    let row_blocks = group_out.div_ceil(bm as usize) as u64;
    if row_blocks > budget.max_groups || desc.groups as u64 > budget.max_groups {
        return Err(Error::TooLarge(format!(
            "{row_blocks} row blocks or {} groups exceed {} workgroups per dimension",
            desc.groups, budget.max_groups
        )));
    }
    // The grid's x counts column blocks of the chunk's pixels; an epilogue pass of its own
    // takes one invocation per output element.
    let mut max_columns = (budget.max_groups * bn as u64).min(u32::MAX as u64);
    if super::epilogue_split(desc, slots, limits) {
        max_columns = max_columns.min(budget.max_invocations / output[1].max(1) as u64);
    }
    // The weight packing runs once, one invocation per packed element.
    let (_, reduction, k_stride) = dims(desc);
    let packed = (desc.groups * reduction * k_stride) as u64;
    if packed > budget.max_invocations {
        return Err(Error::TooLarge(format!(
            "the weight packing's {packed} invocations exceed the grid's {} ({} workgroups per dimension)",
            budget.max_invocations, budget.max_groups
        )));
    }
    budget.pixels(n, [oh, ow], 1, max_columns)
}

/// The tensor blocks a convolution GEMM takes, in order of preference, each with the fewest
/// workgroups it needs: measured on ResNet-50's and MobileNetV2's 1×1 layers at batch 32 on the
/// H100 (BENCHMARKS.md, "Tensor blocks").
/// - 128×128×16 double-buffered from one wave (132 workgroups): the fastest wherever it fills
///   the GPU once (e.g. 1024→512 at 14²: 0.073 ms, against 0.129 for 128×64×32);
/// - 64×128×32 from two waves: 64 output channels (256→64 at 56²: 0.104 ms);
/// - 64×64×32 from two waves: few columns (1024→256 at 14²: 0.049 ms, against 0.075 for
///   128×64×16 double-buffered with 196 workgroups);
/// - then the narrow blocks, whatever the count (2048→512 at 7²: 64×32×16, 0.068 ms).
const TENSOR_LADDER: [(TensorBlock, usize); 5] = [
    (TensorBlock::T128_DB, 132),
    (TensorBlock::T64X128, 264),
    (TensorBlock::T64, 264),
    (TensorBlock::T64X32, 0),
    (TensorBlock::T32X64, 0),
];

/// The tensor block for a convolution GEMM of `rows` output channels per group and `columns`
/// columns: the first rung of [`TENSOR_LADDER`] that pads the rows by less than 2×, gives
/// enough workgroups and fits the adapter; 8×8 fragments (Apple) take the largest block that
/// fits (unmeasured).
pub(crate) fn tensor_block(
    (rows, columns, groups): (usize, usize, usize),
    precision: Precision,
    caps: TensorCaps,
    limits: &Limits,
) -> Result<TensorBlock> {
    let fits = |b: &TensorBlock| super::tensor_fits(b, precision, caps, limits);
    let none = || Error::Unsupported("no tensor block fits this adapter's workgroup limits".into());
    if caps.frag(precision) == Some(8) {
        return TensorBlock::catalogue(8).iter().copied().find(fits).ok_or_else(none);
    }
    let workgroups =
        |b: &TensorBlock| rows.div_ceil(b.bm() as usize) * columns.div_ceil(b.bn() as usize) * groups;
    // A block at most one fragment row taller than the rows (16 rows pad to 32 at worst).
    let tall_enough = |b: &TensorBlock| b.bm() as usize <= rows.next_multiple_of(32);
    let usable: Vec<&(TensorBlock, usize)> = TENSOR_LADDER.iter().filter(|(b, _)| fits(b)).collect();
    usable
        .iter()
        .find(|(b, min)| tall_enough(b) && workgroups(b) >= *min)
        .or_else(|| usable.iter().find(|(b, _)| tall_enough(b)))
        .or(usable.last())
        .map(|(b, _)| *b)
        .ok_or_else(none)
}

/// The weight preparation: OIHW/HWIO → `[group][reduction][k_stride]`, in f32, or in f16
/// multiplied by `scale` for the tensor cores.
fn prep(desc: &Conv2dDesc, g: &Geometry, limits: &Limits, f16_scale: Option<f32>) -> Result<Prep> {
    let (group_out, reduction, k_stride) = dims(desc);
    let group_stride = reduction * k_stride;
    let total = desc.groups * group_stride;
    let [ws_o, ws_i, ws_h, ws_w] = g.ws;
    let params = PackParams {
        group_out: fit("output channels per group", group_out)?,
        k_stride: fit("packed row stride", k_stride)?,
        group_stride: fit("packed group size", group_stride)?,
        total: fit("packed weights", total)?,
        kernel_hw: fit("kernel size", desc.kernel[0] * desc.kernel[1])?,
        kernel_w: fit("kernel width", desc.kernel[1])?,
        ws_o,
        ws_i,
        ws_h,
        ws_w,
        scale: f16_scale.unwrap_or(1.0),
    };
    let (key, element) = match f16_scale {
        Some(_) => ("gemm_packed_f16", 2),
        None => ("gemm_packed", 4),
    };
    let kernel = codegen::pack_weights(f16_scale.is_some());
    Prep::new(key.into(), total as u64 * element, kernel, total as u64, params.words(), limits)
}

/// The uniform block of one piece of the convolution GEMM (either core): its output window.
fn params(desc: &Conv2dDesc, plan: &Plan, g: &Geometry, piece: &Piece, w_unscale: f32) -> Result<GemmParams> {
    let window = g.window(desc, plan, piece, is_pointwise(desc))?;
    let out_hw = window.out_h as usize * window.out_w as usize;
    let (group_out, reduction, k_stride) = dims(desc);
    let [xs_n, xs_c, xs_h, xs_w] = g.xs;
    let [ys_n, ys_c, ys_h, ys_w] = g.ys;
    let y_offset = window.y_offset;
    Ok(GemmParams {
        group_out: fit("output channels per group", group_out)?,
        reduction: fit("reduction length", reduction)?,
        k_stride: fit("packed row stride", k_stride)?,
        group_stride: fit("packed group size", reduction * k_stride)?,
        group_in: g.c / desc.groups as u32,
        columns: fit("pixels per pass", piece.images * out_hw)?,
        out_hw: fit("output pixels", out_hw)?,
        out_w: window.out_w,
        stride_h: fit("stride", desc.stride[0])?,
        stride_w: fit("stride", desc.stride[1])?,
        dil_h: fit("dilation", desc.dilation[0])?,
        dil_w: fit("dilation", desc.dilation[1])?,
        x_offset: window.x_offset,
        in_h: g.in_h,
        in_w: g.in_w,
        pad_top: window.pad_top,
        pad_left: window.pad_left,
        xs_n,
        xs_c,
        xs_h,
        xs_w,
        y_offset,
        r_offset: y_offset,
        ys_n,
        ys_c,
        ys_h,
        ys_w,
        w_unscale,
    })
}

/// The convolution operands of a descriptor for a reduction step of `bk`.
fn operands(desc: &Conv2dDesc, plan: &Plan, g: &Geometry, bk: u32) -> ConvOperands {
    // Four consecutive columns are four consecutive aligned pixels only where every pass
    // covers whole rows of a multiple of 4 pixels (or whole images of a multiple of 4).
    let whole_rows_by_4 =
        !plan.in_bands() || (plan.band_cols == plan.output[3] && plan.output[3].is_multiple_of(4));
    let out_hw = if whole_rows_by_4 { plan.output[2] * plan.output[3] } else { 1 };
    ConvOperands {
        kernel: desc.kernel,
        gather: gather(desc, out_hw, bk),
        vec4_store: desc.data_format == DataFormat::Nchw && out_hw.is_multiple_of(4),
        storage: g.storage,
        epilogue: super::epilogue(desc),
        padding_mode: desc.padding_mode,
    }
}

/// The passes of a GEMM plan on its engine. On f16 fragments the weights are packed in f16
/// times their power-of-two scale; f32 activations get theirs from a max-magnitude pass over
/// the input (the scratch word it accumulates into is cleared at the start of every call).
/// `subgroup` is the adapter's subgroup size (the cooperative-matrix engine's workgroups).
pub(crate) fn build(
    desc: &Conv2dDesc,
    plan: &Plan,
    g: &Geometry,
    limits: &Limits,
    (engine, precision, subgroup): (Engine, Precision, u32),
) -> Result<Recipe> {
    let ep = super::epilogue(desc);
    let (kernel, frag) = match engine {
        Engine::Registers(block) => {
            (codegen::product(Operands::Conv(operands(desc, plan, g, block.bk())), block), None)
        }
        Engine::Coop(block) => {
            let frag = match precision {
                Precision::High => FragType::F16,
                Precision::Highest => FragType::F32,
            };
            let conv = operands(desc, plan, g, block.bk());
            (codegen::coop_product(TensorOperands::Conv(conv), block, frag, subgroup), Some(frag))
        }
    };
    let w_scale = (frag == Some(FragType::F16)).then(|| f16_operand_scale(g.weight_amax));
    let scaled_input = frag == Some(FragType::F16) && g.storage == Storage::F32;
    let (group_out, _, _) = dims(desc);
    let [bm, bn, _] = engine.dims();
    let mut recipe = Recipe { preps: vec![prep(desc, g, limits, w_scale)?], ..Recipe::default() };
    let input_max = scaled_input.then(|| recipe.input_max_word());
    for piece in &plan.pieces() {
        if let Some(word) = input_max {
            recipe.push_input_max(plan, g, limits, piece, word)?;
        }
        let params = params(desc, plan, g, piece, w_scale.map_or(1.0, |s| 1.0 / s))?;
        let grid = [params.columns.div_ceil(bn), (group_out as u32).div_ceil(bm), desc.groups as u32];
        let mut slots = with_epilogue(ep, vec![Slot::Input, Slot::Output, Slot::Prepared]);
        slots.extend(input_max);
        recipe.push(&kernel, grid, slots, params.words(), piece);
    }
    Ok(recipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tensor_ladder_picks_each_block_where_it_measured_fastest() {
        let caps = TensorCaps { f16_16: true, subgroup: 32, ..TensorCaps::default() };
        let limits = Limits {
            max_compute_workgroup_storage_size: 49152,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            ..Limits::default()
        };
        let pick = |rows, columns| tensor_block((rows, columns, 1), Precision::High, caps, &limits).unwrap();
        assert_eq!(pick(512, 6272), TensorBlock::T128_DB);
        assert_eq!(pick(256, 6272), TensorBlock::T64);
        assert_eq!(pick(64, 100352), TensorBlock::T64X128);
        assert_eq!(pick(512, 1568), TensorBlock::T64X32);
        assert_eq!(pick(16, 401408), TensorBlock::T32X64);
        // Without the workgroup memory the double-buffered block needs, the next rung.
        let small = Limits { max_compute_workgroup_storage_size: 16384, ..limits.clone() };
        let b = tensor_block((512, 100352, 1), Precision::High, caps, &small).unwrap();
        assert!(b.workgroup_bytes(2) <= 16384, "{b}");
    }
}
