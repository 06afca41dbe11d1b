//! How a parameter-gradient call is split: batch chunks whose input and dy fit one binding
//! (accumulated in order), output-channel slices whose partial sums fit one binding and whose
//! grid fits the adapter, and the split-K count that fills the GPU when the gradient itself is
//! small. Plain data and arithmetic, so every rule is unit-tested without a device.

use crate::blocks::{Engine, GemmBlock};
use crate::error::{Error, Result};
use std::fmt;
use wgpu::{DeviceType, Limits};

/// The sizes of one gradient GEMM: `rows × cols` outputs per group, reduced over the batch's
/// output pixels.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GradProblem {
    /// Images.
    pub n: usize,
    /// Elements of one image of the input (0 for the bias gradient, which reads none) and of dy.
    pub x_image: u64,
    pub dy_image: u64,
    /// Bytes per activation element.
    pub element: u64,
    /// Output channels in all.
    pub k: usize,
    /// Channel groups.
    pub groups: usize,
    /// Output channels per group (the GEMM's rows).
    pub rows: usize,
    /// Columns: input channels per group × kernel height × kernel width (1 for the bias).
    pub cols: usize,
    /// Output pixels per image.
    pub pixels: usize,
}

/// How one gradient call runs: what [`WeightGrad::plan`](crate::WeightGrad::plan) reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GradPlan {
    /// Images per batch chunk: each chunk is one GEMM pass per slice, its sums added to the
    /// previous chunks' in order.
    pub chunk: usize,
    /// Output-channel slices `(first channel, channels)`, each its own passes.
    pub slices: Vec<(usize, usize)>,
    /// Splits of each chunk's reduction (split-K): partial sums per split, added in split order
    /// by a reduce pass.
    pub splits: usize,
    /// The product core and its block: the register engine (every adapter;
    /// `Precision::Highest`), or the cooperative-matrix engine with f16 operands, for
    /// `Precision::High` on adapters that have them.
    pub engine: Engine,
}

impl fmt::Display for GradPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{e}, split-K {s}, batch chunks of {c} image(s), {n} output-channel slice(s)",
            e = match self.engine {
                Engine::Registers(b) => format!("implicit GEMM {b}"),
                Engine::Coop(b) => format!("tensor-core implicit GEMM {b} (f16 operands)"),
            },
            s = self.splits,
            c = self.chunk,
            n = self.slices.len()
        )
    }
}

/// Workgroups that keep an adapter busy, by device type. A discrete GPU such as the H100/H200
/// (132 SMs, each holding several 256-invocation workgroups at once) needs two thousand: on
/// the H200, 2048 with splits down to 256 steps (at most 256 of them) ran ResNet-50's
/// under-filled weight gradients 1.5–3× faster than 1024 with 512 and 64 (64→64 1×1 at 56²,
/// batch 32: 0.185 against 0.563 ms; BENCHMARKS.md, "Weight gradients"); integrated GPUs have a tenth of the cores; a
/// CPU adapter (lavapipe, WARP) runs one workgroup per thread, so a few dozen suffice and more
/// splits would only add partial sums to write and add.
fn busy_workgroups(device: DeviceType) -> u64 {
    match device {
        DeviceType::DiscreteGpu => 2048,
        DeviceType::IntegratedGpu | DeviceType::VirtualGpu | DeviceType::Other => 256,
        DeviceType::Cpu => 32,
    }
}

/// Fewest reduction steps a split keeps: its workgroup writes one partial sum per output and the
/// reduce pass reads it back, against `MIN_SPLIT_STEPS` multiply-adds per output, so the split-K
/// traffic stays below a fraction of a percent of the GEMM's work.
pub(crate) const MIN_SPLIT_STEPS: u64 = 256;

/// Most splits: the reduce pass reads every split's partial per output (256 splits of a
/// 64×64×3×3 gradient are 37 MB of partials, 10 µs at the H200's bandwidth).
pub(crate) const MAX_SPLITS: u64 = 256;

/// Split-K count for a GEMM of `tiles` workgroups over `reduction` steps on `device`: enough
/// splits to reach the adapter's busy workgroup count, none shorter than 256 steps,
/// at most 256 (the private `MIN_SPLIT_STEPS` and `MAX_SPLITS` say why); 1 when the tiles alone fill the adapter (the ResNet-50 layers at
/// batch 32 with 256+ channels) or the reduction is short.
pub fn split_count(tiles: u64, reduction: u64, device: DeviceType) -> usize {
    let wanted = busy_workgroups(device).div_ceil(tiles.max(1));
    let by_length = reduction / MIN_SPLIT_STEPS;
    wanted.min(by_length).clamp(1, MAX_SPLITS) as usize
}

/// The block a workgroup computes: 64×64 outputs, 8×4 per invocation, 16 reduction steps per
/// stage (the forward GEMM's workhorse); smaller blocks where the adapter allows fewer than 128
/// invocations. Measured on the H200 (ResNet-50's weight gradients at batch 32, BENCHMARKS.md
/// "Weight gradients through the product core"); 16×64 blocks of 64 invocations below): 128-wide blocks (8×8 per invocation) were
/// slower on every layer but one, by up to 1.6× (7×7 stem: 0.838 against 0.536 ms; 64→64 3×3
/// at 56²: 0.488 against 0.368), as their fewer workgroups needed more splits.
pub(crate) fn register_block(limits: &Limits) -> Result<GemmBlock> {
    [GemmBlock::B64, GemmBlock::K16]
        .into_iter()
        .find(|b| crate::algo::workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), limits))
        .ok_or_else(|| {
            Error::Unsupported(
                "the gradient kernels need 64 invocations and 5 KiB of workgroup memory per workgroup".into(),
            )
        })
}

/// The split of `p` for `engine` on an adapter with `limits`, `forced` splits where given
/// (clamped to what the bindings and the grid allow).
pub(crate) fn plan(
    p: &GradProblem,
    engine: Engine,
    limits: &Limits,
    device: DeviceType,
    forced: Option<usize>,
) -> Result<GradPlan> {
    let [bm, bn, bk] = engine.dims().map(u64::from);
    let align = limits.min_storage_buffer_offset_alignment as u64;
    let max_binding =
        limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).saturating_sub(align);
    let max_dim = limits.max_compute_workgroups_per_dimension.max(1) as u64;
    let image_bytes = (p.x_image.max(p.dy_image)).saturating_mul(p.element);
    if image_bytes > max_binding {
        return Err(Error::TooLarge(format!(
            "one image's input or dy needs a {image_bytes}-byte binding but the device allows {max_binding} bytes"
        )));
    }
    let pixels = p.pixels.max(1) as u64;
    let max_steps = u32::MAX as u64 - bk;
    if pixels > max_steps {
        return Err(Error::TooLarge(format!(
            "{pixels} output pixels per image do not fit the kernels' 32-bit index"
        )));
    }
    // Whole images per chunk: bound by the bindings and by 32-bit reduction indices.
    let chunk = (max_binding / image_bytes.max(1)).min(max_steps / pixels).min(p.n as u64).max(1) as usize;

    let cols = p.cols as u64;
    let col_blocks = cols.div_ceil(bn);
    if col_blocks > max_dim {
        return Err(Error::TooLarge(format!(
            "{cols} gradient columns need {col_blocks} workgroups across but max_compute_workgroups_per_dimension is {max_dim}"
        )));
    }
    // A slice is whole groups (or, ungrouped, any rows): its grid's y (row blocks) and z
    // (splits × groups) and its partial sums must fit.
    let row_blocks = (p.rows as u64).div_ceil(bm);
    if p.groups > 1 && row_blocks > max_dim {
        return Err(Error::TooLarge(format!(
            "{} gradient rows per group need {row_blocks} workgroups down but max_compute_workgroups_per_dimension is {max_dim}",
            p.rows
        )));
    }
    let (unit, by_grid) = match p.groups {
        1 => (1, max_dim * bm),
        _ => (p.rows as u64, max_dim * p.rows as u64),
    };
    let by_bytes = max_binding / (cols * 4).max(1);
    let by_index = u32::MAX as u64 / cols.max(1);
    let most = (p.k as u64).min(by_grid).min(by_bytes).min(by_index);
    let len = most - most % unit;
    if len == 0 {
        return Err(Error::TooLarge(format!(
            "one slice of {unit} output channel(s) × {cols} columns does not fit a {max_binding}-byte binding and a \
             {max_dim}-workgroup grid"
        )));
    }
    let slices: Vec<(usize, usize)> = (0..p.k as u64)
        .step_by(len as usize)
        .map(|k0| (k0 as usize, (p.k as u64 - k0).min(len) as usize))
        .collect();

    let reduction = chunk as u64 * pixels;
    let (y, slice_groups) =
        if p.groups == 1 { (len.div_ceil(bm), 1) } else { (row_blocks, len / p.rows as u64) };
    let wanted = forced
        .map_or_else(|| split_count(col_blocks * y * slice_groups, reduction, device) as u64, |s| s as u64);
    let slice_elements = len * cols;
    let splits = wanted
        .min(max_dim / slice_groups)
        .min(max_binding / (slice_elements * 4))
        .min(u32::MAX as u64 / slice_elements)
        .min(reduction.div_ceil(bk))
        .max(1) as usize;
    Ok(GradPlan { chunk, slices, splits, engine })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(n: usize, k: usize, groups: usize, cols: usize, pixels: usize) -> GradProblem {
        GradProblem {
            n,
            x_image: 64 * pixels as u64,
            dy_image: (k * pixels) as u64,
            element: 4,
            k,
            groups,
            rows: k / groups,
            cols,
            pixels,
        }
    }

    #[test]
    fn small_gradients_over_large_batches_are_split_and_large_ones_are_not() {
        // 64×64×3×3 over a 32×56×56 batch: 9 tiles of 64×64 on an H200 → 228 splits.
        assert_eq!(split_count(9, 32 * 56 * 56, DeviceType::DiscreteGpu), 228);
        // 512×4608 columns: 8 × 72 = 576 tiles → 4 splits; short reductions are never split.
        assert_eq!(split_count(576, 32 * 7 * 7, DeviceType::DiscreteGpu), 4);
        assert_eq!(split_count(1, 255, DeviceType::DiscreteGpu), 1);
        assert_eq!(split_count(2048, 1 << 20, DeviceType::DiscreteGpu), 1);
        assert_eq!(split_count(1, 1 << 20, DeviceType::Cpu), 32);
    }

    #[test]
    fn limits_split_the_batch_the_channels_and_cap_the_splits() {
        let limits = Limits::default();
        let p = problem(32, 64, 1, 576, 3136);
        let regs = Engine::Registers(GemmBlock::B64);
        let plan = plan(&p, regs, &limits, DeviceType::DiscreteGpu, None).unwrap();
        assert_eq!((plan.chunk, plan.slices.len(), plan.splits, plan.engine), (32, 1, 228, regs));
        // A 1 MiB binding: chunks of images, slices of channels, splits within the scratch.
        let small =
            Limits { max_storage_buffer_binding_size: 1 << 20, max_buffer_size: 1 << 20, ..limits.clone() };
        let plan = super::plan(&problem(4, 512, 1, 4608, 49), regs, &small, DeviceType::DiscreteGpu, Some(8))
            .unwrap();
        assert!(plan.slices.len() > 1 && plan.slices.iter().map(|s| s.1).sum::<usize>() == 512);
        assert!(plan.splits * plan.slices[0].1 * 4608 * 4 <= 1 << 20);
        let grouped =
            super::plan(&problem(2, 64, 16, 36, 100), regs, &small, DeviceType::Cpu, Some(3)).unwrap();
        assert!(grouped.slices.iter().all(|s| s.0 % 4 == 0 && s.1 % 4 == 0));
        assert_eq!(grouped.splits, 3);
        let big = GradProblem { x_image: 1 << 20, ..problem(1, 4, 1, 9, 4) };
        assert!(matches!(super::plan(&big, regs, &small, DeviceType::Cpu, None), Err(Error::TooLarge(_))));
    }
}
