//! Measured dispatch: time the Winograd candidates (tile, layout, fused kernel or product
//! block) for a convolution and shape on the adapter, and keep the winner in the tune cache,
//! which `auto` reads before its heuristics (see `cache_path`).

use crate::algo::workgroup_fits;
use crate::blocks::{Engine, GemmBlock, TensorBlock};
use crate::desc::{Conv2dDesc, Precision, TileLayout, WINOGRAD_TILES};
use crate::error::{Error, Result};
use crate::plan::{Choice, WinogradKernels};
use crate::runtime::{Context, Conv2d};

/// One timed candidate.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// What was timed.
    pub choice: Choice,
    /// Median time per call (GPU timestamps, else wall).
    pub ms: f64,
}

/// Times every candidate the descriptor leaves open on `shape` — Winograd (tile, layout, fused
/// kernel or product block) where it applies, and the implicit GEMM with every product block the
/// adapter can run — stores the fastest in the cache, and returns all timings, fastest first.
/// Timing uses GPU timestamps where the adapter has them, else wall time.
pub fn tune(
    ctx: &Context,
    desc: &Conv2dDesc,
    weights: &[f32],
    bias: Option<&[f32]>,
    shape: [usize; 4],
    iterations: usize,
) -> Result<Vec<Candidate>> {
    desc.validate()?;
    let limits = ctx.limits();
    let caps = ctx.tensor();
    let fits = |b: &GemmBlock| workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), &limits);
    let registers: Vec<GemmBlock> = GemmBlock::CATALOGUE.iter().copied().filter(fits).collect();
    // The cooperative-matrix blocks, where the precision asks for them and the adapter has
    // them (the f32 cores stay candidates: tune keeps whichever is faster).
    let frag = caps.frag(desc.precision);
    let tensor: Vec<TensorBlock> = frag
        .map_or(&[][..], TensorBlock::catalogue)
        .iter()
        .copied()
        .filter(|b| crate::algo::tensor_fits(b, desc.precision, caps, &limits))
        .collect();
    // Every engine the adapter can run: the register blocks, then the tensor ones.
    let engines: Vec<Engine> =
        registers.into_iter().map(Engine::Registers).chain(tensor.into_iter().map(Engine::Coop)).collect();
    // Every concrete choice; those that contradict what the descriptor forces drop out below.
    let mut all = Vec::new();
    if desc.winograd_applies() {
        let r = desc.kernel[0];
        for (m, _) in WINOGRAD_TILES.iter().copied().filter(|t| t.1 == r && t.0 <= 4) {
            // f16 operands afford F(2,3) only (`algo::winograd`); f32 fragments any tile.
            let tensor_tile = frag == Some(8) && desc.precision == Precision::Highest || (m, r) == (2, 3);
            for layout in [TileLayout::R16_6_6, TileLayout::R6_6_16] {
                let separate = |coop: bool| engines.iter().filter(move |e| e.is_coop() == coop);
                let mut kernels: Vec<WinogradKernels> =
                    separate(false).map(|&e| WinogradKernels::Separate(e)).collect();
                if desc.groups == 1 {
                    // The fused kernel takes one channel group only.
                    kernels.push(WinogradKernels::Fused);
                }
                if tensor_tile {
                    kernels.extend(separate(true).map(|&e| WinogradKernels::Separate(e)));
                }
                all.extend(kernels.into_iter().map(|kernels| Choice::Winograd { m, layout, kernels }));
            }
        }
    }
    all.extend(engines.iter().map(|&e| Choice::Gemm(e)));
    let candidates: Vec<(Choice, Conv2dDesc)> = all
        .into_iter()
        // A residual changes no choice; time without one so no residual tensor is needed.
        .filter_map(|choice| Some((choice, Conv2dDesc { residual: false, ..choice.forced(desc)? })))
        .collect();
    if candidates.is_empty() {
        return Err(Error::Unsupported(format!(
            "tuning covers the Winograd and GEMM paths; {} leaves neither open",
            desc.algo.map_or("this descriptor".to_string(), |a| format!("algo {a}"))
        )));
    }
    let time = |forced: &Conv2dDesc, iterations: usize| -> Result<f64> {
        let t = Conv2d::new(ctx, forced.clone(), weights, bias)?.benchmark(shape, iterations)?;
        Ok(t.gpu_ms.unwrap_or(t.wall_ms))
    };
    let mut results = Vec::new();
    for (choice, forced) in &candidates {
        results.push((Candidate { choice: *choice, ms: time(forced, iterations)? }, forced));
    }
    // Small problems time within noise of each other: the leaders are timed again and keep
    // the slower of their two figures, so one lucky run cannot pick the cached winner.
    results.sort_by(|a, b| a.0.ms.total_cmp(&b.0.ms));
    for (c, forced) in results.iter_mut().take(3) {
        c.ms = c.ms.max(time(forced, iterations)?);
    }
    let mut results: Vec<Candidate> = results.into_iter().map(|(c, _)| c).collect();
    results.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    let best = results.first().ok_or_else(|| Error::Unsupported("no candidate fits this adapter".into()))?;
    crate::tuned::store(
        crate::tuned::adapter_key(ctx.adapter_info()),
        crate::tuned::conv_key(desc, shape),
        best.choice,
    )?;
    Ok(results)
}
