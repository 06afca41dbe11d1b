//! The dispatch ladder: which algorithm runs a descriptor on a shape and adapter. Like MLX's
//! `dispatch_conv_2D_gpu`, one named condition per rung, each with the measured reason for its
//! threshold; each algorithm module then plans its own parameters and split.

use crate::algo;
use crate::blocks::Engine;
use crate::desc::{Algo, Conv2dDesc, Precision, Product};
use crate::error::{Error, Result};
use crate::plan::{Choice, Path, Plan, TensorCaps};
use crate::staging;
use wgpu::{DeviceType, Limits};

/// Below this many channel pairs (C/G · K/G), a convolution's products are too small for a
/// product block to fill (a 16×64 block on 4×4 channels is 94% padding), and launch latency
/// dominates: the direct kernel, one invocation per pixel and four channels, is as fast
/// (BENCHMARKS.md: seed shapes, lavapipe).
const MIN_CHANNEL_PAIRS: usize = 64;

/// Grouped 3×3 convolutions take Winograd from this many input and output channels per group.
/// Measured on the H100 (BENCHMARKS.md, "Grouped convolutions"): with 64 per group Winograd took
/// 0.66× (batch 32) and 0.86× (batch 1) the implicit GEMM's time; with 32 per group it won at
/// one shape and lost at three; with 4–16 per group (ResNeXt's 32 groups) it took 1.3–2.4×.
const MIN_GROUP_CHANNELS_WINOGRAD: usize = 64;

/// The algorithm for a descriptor when none is forced.
fn choose(desc: &Conv2dDesc) -> Algo {
    let [_, cg, _, _] = desc.weight_shape();
    let pairs = cg * (desc.out_channels / desc.groups);
    if desc.forces_winograd() {
        // The caller set a Winograd option (validate has checked Winograd applies).
        Algo::Winograd
    } else if matches!(desc.product, Some(Product::Engine(Engine::Coop(_)))) {
        // A forced tensor block without a Winograd option is a GEMM option (a product block
        // serves whichever algorithm the ladder takes).
        Algo::Gemm
    } else if desc.is_depthwise() && algo::depthwise::refuses(desc).is_none() {
        // One output channel per input channel: no reduction over channels to feed a product
        // block, so the dedicated memory-bound kernel.
        Algo::Depthwise
    } else if pairs < MIN_CHANNEL_PAIRS {
        Algo::Direct
    } else if desc.winograd_applies() && desc.groups == 1 {
        // 3×3/5×5 stride 1: Winograd does 2.25–4× fewer multiplies than the GEMM
        // (BENCHMARKS.md: 0.30–0.54× cuDNN fp32 on the ResNet 3×3 layers).
        Algo::Winograd
    } else if desc.winograd_applies()
        && cg.min(desc.out_channels / desc.groups) >= MIN_GROUP_CHANNELS_WINOGRAD
    {
        // Grouped with wide groups: the per-group products are big enough for Winograd's
        // transforms to pay (BENCHMARKS.md, "Grouped convolutions").
        Algo::Winograd
    } else {
        // Everything else dense or grouped: implicit GEMM through the product core.
        Algo::Gemm
    }
}

/// Whether the product of the algorithm the ladder chose (Winograd's batched product, the
/// GEMM) runs on cooperative matrices, and in which precision; else why `high` runs `highest`.
/// - `high`: every GEMM on f16 fragments where the adapter has them (on ResNet-50 at batch 32
///   on the H100: 0.51–0.73× the f32 core's time on the strided and 7×7 layers, 0.32–0.98× on
///   the 1×1 ones); Winograd F(2,3)'s product too, its operands scaled per tile element (the
///   tile `high` affords: see `algo::winograd`). Other tiles and 5×5 kernels stay on the f32
///   cores: their f16 rounding error exceeds `high`'s tolerance.
/// - `highest`: the GEMMs on f32 fragments where the adapter has them (Apple7+: simdgroup f32
///   multiply-accumulate is ordinary f32 arithmetic, the path MLX's GEMMs take; not measured
///   here, no Apple hardware), else the f32 cores; Winograd stays on the f32 register core
///   unless a tensor block is forced (unmeasured on Apple).
fn tensor_precision(
    desc: &Conv2dDesc,
    algo: Algo,
    tensor: TensorCaps,
    (input, output): ([usize; 4], [usize; 4]),
    device: DeviceType,
) -> std::result::Result<Option<Precision>, String> {
    let product = matches!(algo, Algo::Gemm | Algo::Winograd);
    if let Some(Product::Engine(Engine::Coop(b))) = desc.product {
        // Forced: the fragments must exist for the requested precision, else it is an error.
        return match tensor.frag(desc.precision) {
            Some(f) if f == b.frag() && product => Ok(Some(desc.precision)),
            _ => Ok(None),
        };
    }
    match desc.precision {
        Precision::High if tensor.f16_frag().is_none() => {
            Err("no cooperative matrices with f16 operands on this adapter".into())
        }
        Precision::High if !product => Err(format!("{algo} has no matrix product")),
        Precision::High if matches!(desc.product, Some(Product::Engine(Engine::Registers(_)) | Product::Fused)) => {
            Err("a forced product block or fused kernel runs on the f32 cores".into())
        }
        Precision::High if algo == Algo::Winograd && desc.kernel[0] != 3 => {
            Err("winograd F(2,5) runs on the f32 cores (f16 operands lose too much accuracy)".into())
        }
        Precision::High if algo == Algo::Winograd && desc.tile.is_some_and(|m| m != 2) => Err(format!(
            "winograd F({0}×{0},3×3) runs on the f32 cores (f16 operands lose too much accuracy)",
            desc.tile.unwrap_or(2)
        )),
        Precision::High if algo == Algo::Winograd && desc.algo.is_none() && winograd_f43_wins(desc, input, output, device) => {
            Err("winograd F(4×4,3×3) on the f32 cores moves less memory than F(2×2,3×3) on the tensor cores here".into())
        }
        Precision::High if algo == Algo::Gemm && desc.algo.is_none() && f32_core_wins(desc, output) => {
            Err("the f32 cores are as fast on this small or shallow product".into())
        }
        Precision::High => Ok(Some(Precision::High)),
        Precision::Highest
            if algo == Algo::Gemm
                && tensor.f32_frag().is_some()
                && desc.algo.is_none()
                && desc.product.is_none()
                && !desc.forces_winograd() =>
        {
            Ok(Some(Precision::Highest))
        }
        Precision::Highest => Ok(None),
    }
}

/// Below this many output channels per group, Winograd F(4,3) on the f32 cores beats F(2,3)'s
/// product on the tensor cores wherever the f32 path takes F(4,3): F(2,3)'s Winograd-domain
/// buffers are 4× the activations (F(4,3)'s 2.25×), and with few channels the separate passes
/// are bound by that traffic. Measured on the H200 (BENCHMARKS.md, "Tensor cores for
/// Winograd"), ResNet-50 at batch 32: 64 channels at 56² took 0.155 against 0.112 ms, 128 at 28²
/// 0.100 against 0.086; 256 at 14² 0.074 against 0.097, 512 at 7² 0.062 against 0.103.
const MIN_CHANNELS_WINOGRAD_TENSOR: usize = 256;

/// Whether the f32 Winograd path would take F(4,3) (`algo::winograd::auto_tile`) on a layer
/// too narrow for the tensor cores' F(2,3) to catch up.
fn winograd_f43_wins(
    desc: &Conv2dDesc,
    [n, c, _, _]: [usize; 4],
    [_, k, oh, ow]: [usize; 4],
    device: DeviceType,
) -> bool {
    let g = desc.groups;
    algo::winograd::auto_tile(desc.kernel[0], [n, c / g, k], oh, ow, device) == 4
        && (c / g).min(k / g) < MIN_CHANNELS_WINOGRAD_TENSOR
}

/// With f32 data, a GEMM below this many multiply-adds… pays more for the tensor path's extra
/// max-magnitude pass and scaled loads than its faster product saves. Measured on the H200
/// (BENCHMARKS.md, "Tensor cores for Winograd"), ResNet-50 at batch 1: the 1×1 layers of 51–103
/// M multiply-adds took 1.0–1.4× the f32 core's time on the tensor cores; from 115 M (the 7×7
/// stem, the 3×3 stride-2 layers) 0.92–1.07×.
const MIN_TENSOR_MACS_F32: usize = 110 << 20;

/// Below this reduction length (input channels per group × kernel taps), a GEMM on f32 data is
/// bound by reading and scaling its operands, not by its products: 64→64 and 64→256 1×1 at 56²
/// and batch 32 took 1.07× and 1.11× the f32 core's time on the tensor cores (BENCHMARKS.md).
const MIN_TENSOR_REDUCTION_F32: usize = 128;

/// Whether the f32 GEMM core is as fast as the tensor cores for this layer (f32 data only: f16
/// data needs no scale pass and halves the loads).
fn f32_core_wins(desc: &Conv2dDesc, [n, k, oh, ow]: [usize; 4]) -> bool {
    let [_, cg, kh, kw] = desc.weight_shape();
    let reduction = cg * kh * kw;
    let macs = n * k * oh * ow * reduction;
    desc.dtype == crate::desc::DType::F32
        && (macs < MIN_TENSOR_MACS_F32 || reduction < MIN_TENSOR_REDUCTION_F32)
}

/// Resolves the path, its parameters and the batch split for `desc` on an input of logical
/// shape `[n, c, h, w]`, on an adapter with these limits, device type and cooperative
/// matrices. `tuned` is what `tune` measured for this exact descriptor and shape, if anything;
/// forced options win.
///
/// `device` `Cpu` covers the browser's fallback adapters too: wgpu's WebGPU backend reports
/// `isFallbackAdapter` (Chrome's SwiftShader) as `DeviceType::Cpu`, so the CPU adapters' rule
/// that `auto` never fuses Winograd (`algo::winograd::auto_fuse`) applies there: under Dawn's
/// SwiftShader, 64 of the 67 fused kernels took over 30 s each to create a pipeline (one ran
/// 400 s and killed Chrome's GPU process) while their padding read branched; with the
/// branch-free read (`codegen::padding::load_fn`) they take 0.6–2.9 s, still above the other
/// kernels' 0.9 s median, on an adapter where fusing is slower anyway.
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    limits: &Limits,
    device: DeviceType,
    tensor: TensorCaps,
    tuned: Option<Choice>,
) -> Result<Plan> {
    desc.validate()?;
    algo::check_limits(limits)?;
    // A cached choice is planned as the descriptor that forces it, so it passes exactly the
    // checks a forced choice passes; one that fails them (a stale or edited cache) is ignored.
    if let Some(choice) = tuned {
        let forced = choice.forced(desc);
        match forced.as_ref().map(|f| plan(f, input, limits, device, tensor, None)) {
            Some(Ok(mut p)) => {
                if desc.precision == Precision::High && p.precision_note.is_none() && !p.on_tensor_cores() {
                    p.precision_note = Some(format!(
                        "precision: high requested, ran highest (tuned: {choice} measured fastest)"
                    ));
                }
                return Ok(p);
            }
            Some(Err(e)) => log::warn!("the tune cache's choice '{choice}' is ignored for {input:?}: {e}"),
            None => {
                log::warn!("the tune cache's choice '{choice}' contradicts the descriptor's options; ignored")
            }
        }
    }
    let [n, c, h, w] = input;
    if h == 0 || w == 0 {
        return Err(Error::InvalidShape(format!("input shape {input:?} has an empty image")));
    }
    if c != desc.in_channels {
        return Err(Error::InvalidShape(format!(
            "input has {c} channels but the convolution expects {}",
            desc.in_channels
        )));
    }
    let output = desc.output_shape(input)?;
    desc.check_padding(h, w)?;
    // Whole tensors must exist as single buffers; refuse what no buffer can hold, before any
    // product below can overflow.
    let bytes =
        |dims: [usize; 4]| dims.iter().try_fold(desc.dtype.size(), |acc, &d| acc.checked_mul(d as u64));
    for (what, dims) in [("input", input), ("output", output)] {
        match bytes(dims) {
            Some(b) if b <= limits.max_buffer_size => {}
            b => {
                return Err(Error::TooLarge(format!(
                    "the {what} tensor {dims:?} needs {} bytes but a buffer holds at most {}",
                    b.map_or("more than 2^64".to_string(), |b| b.to_string()),
                    limits.max_buffer_size
                )))
            }
        }
    }
    // One image over a binding: plan the widest band as a convolution of its own, which the
    // runtime runs on staged copies of each band's rows (see `staging`).
    if staging::needed(desc, input, output, limits) {
        let rows = staging::band_rows(desc, input, output, limits)?;
        let band = staging::band_desc(desc);
        let band_input = [1, c, staging::input_rows(desc, rows), w];
        let band_output = band.output_shape(band_input)?;
        if staging::needed(&band, band_input, band_output, limits) {
            return Err(Error::TooLarge(format!(
                "a staged band {band_input:?} exceeds a binding (an internal error)"
            )));
        }
        let band_plan = plan(&band, band_input, limits, device, tensor, tuned)?;
        return Ok(Plan { input, output, staged_rows: Some(rows), ..band_plan });
    }
    let algo = desc.algo.unwrap_or_else(|| choose(desc));
    let (on_tensor, precision_note) = match tensor_precision(desc, algo, tensor, (input, output), device) {
        Ok(p) => (p, None),
        Err(why) => (None, Some(format!("precision: high requested, ran highest ({why})"))),
    };
    if let (Some(Product::Engine(Engine::Coop(b))), None) = (desc.product, on_tensor) {
        return Err(Error::Unsupported(format!(
            "tensor block {b} needs {}×{} cooperative matrices for precision {} (this adapter: {})",
            b.frag(),
            b.frag(),
            desc.precision,
            tensor.describe()
        )));
    }
    let planned = plan_algo(algo, desc, (input, output), limits, device, on_tensor.map(|p| (p, tensor)));
    let planned = planned.and_then(|p| sliced(desc, input, output, limits, device, tensor, p));
    let (path, chunk, band_rows, channel_slice) = match planned {
        // Automatic choices never refuse what the direct path can still do.
        Err(Error::TooLarge(_) | Error::Unsupported(_))
            if desc.algo.is_none()
                && desc.product.is_none()
                && !desc.forces_winograd()
                && algo != Algo::Direct =>
        {
            let direct = algo::direct::plan(desc, input, output, limits)?;
            sliced(desc, input, output, limits, device, tensor, direct)?
        }
        other => other?,
    };
    // The non-Winograd paths plan bands in output pixels: whole rows, or segments of one.
    let (band_rows, band_cols) = algo::band_shape(&path, output, band_rows);
    let precision_note = match path {
        _ if path.on_tensor_cores() => None,
        _ if desc.precision == Precision::High => precision_note
            .or_else(|| Some("precision: high requested, ran highest (this shape's fallback path)".into())),
        _ => None,
    };
    let plan = Plan {
        path,
        input,
        output,
        chunk: chunk.min(n.max(1)),
        band_rows,
        band_cols,
        channel_slice,
        precision_note,
        staged_rows: None,
    };
    // Every size the kernels will see must fit their 32-bit fields: refuse at planning, not
    // later at the first call.
    algo::check_fields(desc, &plan, limits)?;
    Ok(plan)
}

/// The path of `algo` for a shape, from its module's planner; with `tensor` (the precision
/// the fragments compute in, and the adapter's fragments), Winograd's product or the GEMM runs
/// on the cooperative-matrix engine.
fn plan_algo(
    algo: Algo,
    desc: &Conv2dDesc,
    (input, output): ([usize; 4], [usize; 4]),
    limits: &Limits,
    device: DeviceType,
    tensor: Option<(Precision, TensorCaps)>,
) -> Result<(Path, usize, usize)> {
    match algo {
        Algo::Winograd => algo::winograd::plan(desc, input, output, limits, device, tensor),
        Algo::Gemm => algo::gemm::plan(desc, input, output, limits, tensor),
        Algo::Depthwise => algo::depthwise::plan(desc, input, output, limits),
        Algo::Direct => algo::direct::plan(desc, input, output, limits),
    }
}

/// Where a path's weights (as uploaded, or as prepared for it) exceed a binding, the output
/// channels are split into slices that fit, and the path's own split is redone for a slice.
fn sliced(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
    device: DeviceType,
    tensor: TensorCaps,
    (path, chunk, band_rows): (Path, usize, usize),
) -> Result<(Path, usize, usize, usize)> {
    let k = desc.out_channels;
    let slice = algo::channel_slice(desc, &path, limits)?;
    if slice >= k {
        return Ok((path, chunk, band_rows, k));
    }
    // Plan one slice as a convolution of its own, keeping the path's choices.
    let sub = algo::slice_desc(desc, &path, slice);
    let sub_output = [output[0], slice, output[2], output[3]];
    let sub_input = [input[0], sub.in_channels, input[2], input[3]];
    let on_tensor = match path {
        Path::Core { precision, .. } if path.on_tensor_cores() => Some((precision, tensor)),
        _ => None,
    };
    let (path, chunk, band_rows) =
        plan_algo(path.algo(), &sub, (sub_input, sub_output), limits, device, on_tensor)?;
    // The activations stay whole images of all channels: bind no more of them than fit.
    let whole = algo::Budget::new(input, output, desc.dtype.size(), limits)?;
    Ok((path, chunk.min(whole.by_activations.max(1) as usize), band_rows, slice))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::GemmBlock;
    use crate::desc::Product;
    use crate::plan::{Path, WinogradKernels};
    const GPU: DeviceType = DeviceType::DiscreteGpu;

    fn path(d: &Conv2dDesc, input: [usize; 4]) -> Path {
        plan(d, input, &Limits::default(), GPU, TensorCaps::default(), None).unwrap().path
    }

    #[test]
    fn the_ladder_picks_each_algorithm_where_it_belongs() {
        assert!(matches!(
            path(&Conv2dDesc::new(64, 64, 3, 1), [32, 64, 56, 56]).choice(),
            Some(Choice::Winograd { m: 4, .. })
        ));
        assert!(matches!(
            path(&Conv2dDesc::new(16, 16, 3, 1), [1, 16, 32, 32]).choice(),
            Some(Choice::Winograd { m: 2, .. })
        ));
        assert!(matches!(
            path(&Conv2dDesc::new(256, 64, 1, 0), [1, 256, 56, 56]).choice(),
            Some(Choice::Gemm(Engine::Registers(_)))
        ));
        let strided = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(128, 128, 3, 1) };
        assert!(matches!(
            path(&strided, [1, 128, 56, 56]).choice(),
            Some(Choice::Gemm(Engine::Registers(_)))
        ));
        let dw = Conv2dDesc { groups: 32, ..Conv2dDesc::new(32, 32, 3, 1) };
        assert_eq!(path(&dw, [1, 32, 56, 56]), Path::Depthwise);
        let resnext = Conv2dDesc { groups: 32, ..Conv2dDesc::new(128, 128, 3, 1) };
        assert_eq!(path(&resnext, [1, 128, 56, 56]), Path::Direct);
        let wide_groups = Conv2dDesc { groups: 8, ..Conv2dDesc::new(512, 512, 3, 1) };
        assert!(matches!(path(&wide_groups, [1, 512, 28, 28]).choice(), Some(Choice::Winograd { .. })));
        let tiny = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(4, 4, 3, 1) };
        assert_eq!(path(&tiny, [1, 4, 16, 16]), Path::Direct);
        let forced = Conv2dDesc { algo: Some(Algo::Winograd), ..tiny };
        assert!(matches!(
            plan(&forced, [1, 4, 16, 16], &Limits::default(), GPU, TensorCaps::default(), None),
            Err(Error::Unsupported(_))
        ));
    }

    #[test]
    fn batch_is_chunked_under_small_binding_limits() {
        let limits = Limits { max_storage_buffer_binding_size: 1 << 20, ..Limits::default() };
        let d = Conv2dDesc::new(32, 32, 3, 1);
        let p = plan(&d, [8, 32, 32, 32], &limits, GPU, TensorCaps::default(), None).unwrap();
        assert!(p.chunk < 8 && p.chunk >= 1, "chunk {}", p.chunk);
        assert_eq!(p.pieces().iter().map(|p| p.images).sum::<usize>(), 8);
    }

    #[test]
    fn one_big_image_is_split_into_tile_row_bands() {
        let limits = Limits { max_storage_buffer_binding_size: 1 << 20, ..Limits::default() };
        let d = Conv2dDesc { tile: Some(4), ..Conv2dDesc::new(16, 16, 3, 1) };
        let p = plan(&d, [2, 16, 200, 60], &limits, GPU, TensorCaps::default(), None).unwrap();
        let pieces = p.pieces();
        assert_eq!(p.chunk, 1);
        assert!(p.band_rows < 50, "band {}", p.band_rows);
        assert_eq!(pieces.iter().filter(|q| q.first_image == 1).map(|q| q.tile_rows).sum::<usize>(), 50);
        let tiny = Limits { max_storage_buffer_binding_size: 4096, ..Limits::default() };
        assert!(matches!(
            plan(&d, [1, 16, 100, 60], &tiny, GPU, TensorCaps::default(), None),
            Err(Error::TooLarge(_))
        ));
    }

    #[test]
    fn auto_fuses_few_channels_on_gpus_only() {
        let limits = Limits::default();
        let seed = Conv2dDesc::new(16, 16, 3, 1);
        let kernels = |d: &Conv2dDesc, device| match plan(
            d,
            [1, d.in_channels, 32, 32],
            &limits,
            device,
            TensorCaps::default(),
            None,
        ) {
            Ok(Plan { path: Path::Core { choice: Choice::Winograd { kernels, .. }, .. }, .. }) => kernels,
            other => panic!("{other:?}"),
        };
        assert_eq!(kernels(&seed, GPU), WinogradKernels::Fused);
        assert_ne!(kernels(&seed, DeviceType::Cpu), WinogradKernels::Fused);
        assert_ne!(kernels(&Conv2dDesc::new(64, 64, 3, 1), GPU), WinogradKernels::Fused);
        assert_ne!(
            kernels(&Conv2dDesc { product: Some(Product::Separate), ..seed }, GPU),
            WinogradKernels::Fused
        );
    }

    #[test]
    fn cpu_adapters_take_f43_and_gpus_keep_f23_on_small_problems() {
        // Issue 18 #13: on lavapipe F(4,3) took 0.29–0.77× F(2,3)'s time on every seed shape.
        let tile = |d: &Conv2dDesc, input, device| match plan(
            d,
            input,
            &Limits::default(),
            device,
            TensorCaps::default(),
            None,
        ) {
            Ok(Plan { path: Path::Core { choice: Choice::Winograd { m, .. }, .. }, .. }) => m,
            other => panic!("{other:?}"),
        };
        for layer in crate::suites::Suite::Seed.layers(1) {
            let d = Conv2dDesc::new(layer.c, layer.k, 3, 1);
            assert_eq!(tile(&d, layer.input_shape(), DeviceType::Cpu), 4, "{}", layer.name);
            assert_eq!(tile(&d, layer.input_shape(), GPU), 2, "{}", layer.name);
        }
        // Big products take F(4,3) on GPUs too.
        assert_eq!(tile(&Conv2dDesc::new(64, 64, 3, 1), [32, 64, 56, 56], GPU), 4);
    }

    #[test]
    fn a_tuned_choice_does_not_leak_into_other_descriptors() {
        let tuned = Choice::Winograd {
            m: 4,
            layout: crate::desc::TileLayout::R6_6_16,
            kernels: WinogradKernels::Fused,
        };
        let strided = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(64, 64, 3, 1) };
        let p = plan(&strided, [1, 64, 32, 32], &Limits::default(), GPU, TensorCaps::default(), Some(tuned))
            .unwrap();
        assert!(matches!(p.path.choice(), Some(Choice::Gemm(Engine::Registers(_)))));
    }

    #[test]
    fn a_cached_choice_passes_the_checks_a_forced_choice_passes() {
        // Issue 18: a cached fused kernel for a grouped conv (1.54 relative error) and F(6,5) /
        // F(4,5) for a 5×5 conv (tiles the generator does not ship) were taken unchecked.
        let fused: Choice = "winograd 2 r_16_6_6 fused".parse().unwrap();
        let grouped = Conv2dDesc { groups: 2, ..Conv2dDesc::new(16, 16, 3, 1) };
        let p = plan(&grouped, [1, 16, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(fused));
        assert!(!matches!(
            p.unwrap().path.choice(),
            Some(Choice::Winograd { kernels: WinogradKernels::Fused, .. })
        ));
        let depthwise = Conv2dDesc { groups: 16, ..Conv2dDesc::new(16, 16, 3, 1) };
        let p =
            plan(&depthwise, [1, 16, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(fused));
        assert_eq!(p.unwrap().path, Path::Depthwise);
        for m in [4, 6] {
            let big: Choice = format!("winograd {m} r_16_6_6 64x64x16/8x4").parse().unwrap();
            let five = Conv2dDesc::new(64, 64, 5, 2);
            let p = plan(&five, [1, 64, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(big));
            assert!(matches!(
                p.unwrap().path,
                Path::Core { choice: Choice::Winograd { m: 2, .. }, kernel: [5, _], .. }
            ));
        }
        // A tensor block cached for an adapter without cooperative matrices is ignored too.
        let tensor: Choice = "tensor 128x128x32/w2x2/m16".parse().unwrap();
        let d = Conv2dDesc::new(64, 64, 1, 0);
        let p = plan(&d, [1, 64, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(tensor));
        assert!(matches!(p.unwrap().path.choice(), Some(Choice::Gemm(Engine::Registers(_)))));
        // A valid cached choice is taken, and a descriptor's own forced option still wins.
        let block: Choice = "gemm 64x64x16/8x4".parse().unwrap();
        let p = plan(&d, [1, 64, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(block));
        assert_eq!(p.unwrap().path.choice(), Some(block));
        let other = Conv2dDesc { product: Some(Product::Engine(Engine::Registers(GemmBlock::K32))), ..d };
        let p = plan(&other, [1, 64, 20, 20], &Limits::default(), GPU, TensorCaps::default(), Some(block));
        assert_eq!(p.unwrap().path.choice(), Some(Choice::Gemm(Engine::Registers(GemmBlock::K32))));
    }

    #[test]
    fn the_precision_rungs_pick_tensor_cores_where_they_measured_faster() {
        use crate::blocks::TensorBlock;
        use crate::desc::Precision;
        let limits = Limits {
            max_compute_workgroup_storage_size: 32768,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroup_size_x: 1024,
            ..Limits::default()
        };
        let nvidia = TensorCaps { f16_16: true, subgroup: 32, ..TensorCaps::default() };
        let apple = TensorCaps { f16_8: true, f32_8: true, subgroup: 32, ..TensorCaps::default() };
        let plan_on = |d: &Conv2dDesc, caps, input| plan(d, input, &limits, GPU, caps, None).unwrap();
        let high = |d: Conv2dDesc| Conv2dDesc { precision: Precision::High, ..d };
        let pointwise = Conv2dDesc::new(256, 128, 1, 0);
        let p = plan_on(&high(pointwise.clone()), nvidia, [8, 256, 28, 28]);
        assert!(
            matches!(
                p.path,
                Path::Core { choice: Choice::Gemm(Engine::Coop(_)), precision: Precision::High, .. }
            ),
            "{p}"
        );
        assert_eq!(p.precision_note, None);
        // 3×3 stride 1 runs Winograd F(2,3) with its product on the tensor cores; a forced
        // F(4,3) or a 5×5 kernel stays on the f32 cores, and says why.
        let p = plan_on(&high(Conv2dDesc::new(64, 64, 3, 1)), nvidia, [8, 64, 28, 28]);
        assert!(
            matches!(
                p.path.choice(),
                Some(Choice::Winograd { m: 2, kernels: WinogradKernels::Separate(Engine::Coop(_)), .. })
            ) && p.precision_note.is_none(),
            "{p}"
        );
        // The measured rungs: narrow layers where the f32 path takes F(4,3) keep it; small or
        // shallow GEMMs on f32 data keep the f32 core; f16 data takes the tensor cores.
        let p = plan_on(&high(Conv2dDesc::new(64, 64, 3, 1)), nvidia, [32, 64, 56, 56]);
        assert!(
            matches!(
                p.path.choice(),
                Some(Choice::Winograd { m: 4, kernels: WinogradKernels::Separate(Engine::Registers(_)), .. })
            ),
            "{p}"
        );
        assert!(p.precision_note.unwrap().contains("F(4×4,3×3)"));
        let p = plan_on(&high(Conv2dDesc::new(512, 512, 3, 1)), nvidia, [32, 512, 7, 7]);
        assert!(
            matches!(
                p.path.choice(),
                Some(Choice::Winograd { m: 2, kernels: WinogradKernels::Separate(Engine::Coop(_)), .. })
            ),
            "{p}"
        );
        let p = plan_on(&high(Conv2dDesc::new(64, 256, 1, 0)), nvidia, [32, 64, 56, 56]);
        assert!(
            matches!(p.path.choice(), Some(Choice::Gemm(Engine::Registers(_)))) && p.precision_note.is_some(),
            "{p}"
        );
        let p = plan_on(&high(Conv2dDesc::new(512, 128, 1, 0)), nvidia, [1, 512, 28, 28]);
        assert!(
            matches!(p.path.choice(), Some(Choice::Gemm(Engine::Registers(_)))) && p.precision_note.is_some(),
            "{p}"
        );
        let f16 = Conv2dDesc { dtype: crate::desc::DType::F16, ..high(Conv2dDesc::new(512, 128, 1, 0)) };
        assert!(plan_on(&f16, nvidia, [1, 512, 28, 28]).on_tensor_cores());
        let f43 = Conv2dDesc { tile: Some(4), ..high(Conv2dDesc::new(64, 64, 3, 1)) };
        let p = plan_on(&f43, nvidia, [8, 64, 28, 28]);
        assert!(
            matches!(
                p.path.choice(),
                Some(Choice::Winograd { m: 4, kernels: WinogradKernels::Separate(Engine::Registers(_)), .. })
            ),
            "{p}"
        );
        assert!(p.precision_note.unwrap().contains("accuracy"));
        let p = plan_on(&high(Conv2dDesc::new(64, 64, 5, 2)), nvidia, [8, 64, 28, 28]);
        assert!(!p.on_tensor_cores() && p.precision_note.is_some(), "{p}");
        // A forced tensor block with a Winograd option is Winograd's product.
        let forced = Conv2dDesc {
            product: Some(Product::Engine(Engine::Coop(TensorBlock::T64))),
            algo: Some(Algo::Winograd),
            ..high(Conv2dDesc::new(64, 64, 3, 1))
        };
        let p = plan_on(&forced, nvidia, [2, 64, 28, 28]);
        assert_eq!(p.path.choice().unwrap().to_string(), "winograd 2 r_16_6_6 64x64x32/w2x2/m16");
        // Depthwise has no product.
        let dw = Conv2dDesc { groups: 32, ..Conv2dDesc::new(32, 32, 3, 1) };
        let p = plan_on(&high(dw), nvidia, [1, 32, 28, 28]);
        assert!(p.precision_note.unwrap().contains("depthwise"));
        // Highest never takes f16 fragments; on Apple-like fragments its GEMMs take f32 ones,
        // its Winograd layers stay Winograd.
        assert!(matches!(
            plan_on(&pointwise, nvidia, [8, 256, 28, 28]).path.choice(),
            Some(Choice::Gemm(Engine::Registers(_)))
        ));
        let p = plan_on(&pointwise, apple, [8, 256, 28, 28]);
        assert!(
            matches!(p.path, Path::Core { choice: Choice::Gemm(Engine::Coop(block)), precision: Precision::Highest, .. } if block.frag() == 8),
            "{p}"
        );
        let p = plan_on(&Conv2dDesc::new(64, 64, 3, 1), apple, [8, 64, 28, 28]);
        assert!(matches!(p.path.choice(), Some(Choice::Winograd { .. })), "{p}");
        // A forced tensor block without the fragments is an error, not a fallback.
        let forced = Conv2dDesc {
            product: Some(crate::desc::Product::Engine(Engine::Coop(TensorBlock::T128))),
            ..high(pointwise)
        };
        assert!(matches!(
            plan(&forced, [8, 256, 28, 28], &limits, GPU, TensorCaps::default(), None),
            Err(Error::Unsupported(_))
        ));
    }
}
