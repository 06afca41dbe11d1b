//! Measured dispatch: time the Winograd candidates (tile, layout, fused kernel or product
//! block) for a convolution and shape on the adapter, and keep the winner in the tune cache,
//! which `auto` reads before its heuristics (see `cache_path`).

use crate::algo::workgroup_fits;
use crate::desc::{Algo, Conv2dDesc, GemmBlock, Product, TensorBlock, TileLayout, WINOGRAD_TILES};
use crate::error::{Error, Result};
use crate::plan::{Tuned, WinogradKernels};
use crate::runtime::{Context, Conv2d};

/// One timed candidate.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// What was timed.
    pub choice: Tuned,
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
    let fits = |b: &GemmBlock| workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), &limits);
    let mut candidates = Vec::new();
    if desc.winograd_applies() && matches!(desc.algo, None | Some(Algo::Winograd)) {
        let r = desc.kernel[0];
        let tiles: Vec<usize> = match desc.tile {
            Some(m) => vec![m],
            None => WINOGRAD_TILES.iter().filter(|t| t.1 == r && t.0 <= 4).map(|t| t.0).collect(),
        };
        let layouts = match desc.layout {
            Some(fixed) => vec![fixed],
            None => vec![TileLayout::R16_6_6, TileLayout::R6_6_16],
        };
        let blocks = GemmBlock::CATALOGUE.iter().filter(|b| fits(b)).map(|&b| WinogradKernels::Separate(b));
        let kernels: Vec<WinogradKernels> = match desc.product {
            Some(Product::Fused) => vec![WinogradKernels::Fused],
            Some(Product::Block(b)) => vec![WinogradKernels::Separate(b)],
            Some(Product::Separate) => blocks.collect(),
            Some(Product::Tensor(_)) => Vec::new(),
            // The fused kernel takes one channel group only.
            None if desc.groups > 1 => blocks.collect(),
            None => blocks.chain([WinogradKernels::Fused]).collect(),
        };
        for &m in &tiles {
            for &layout in &layouts {
                candidates.extend(kernels.iter().map(|&kernels| Tuned::Winograd { m, layout, kernels }));
            }
        }
    }
    let gemm_open = matches!(desc.algo, None | Some(Algo::Gemm)) && !desc.forces_winograd();
    if gemm_open && !matches!(desc.product, Some(Product::Tensor(_))) {
        let blocks: Vec<GemmBlock> = match desc.product {
            Some(Product::Block(b)) => vec![b],
            _ => GemmBlock::CATALOGUE.iter().copied().filter(fits).collect(),
        };
        candidates.extend(blocks.into_iter().map(|block| Tuned::Gemm { block }));
    }
    // The cooperative-matrix blocks, where the precision asks for them and the adapter has
    // them (the f32 cores stay candidates: tune keeps whichever is faster).
    let caps = ctx.tensor();
    if let (true, Some(frag)) = (gemm_open, caps.frag(desc.precision)) {
        let catalogue = TensorBlock::catalogue(frag);
        let blocks: Vec<TensorBlock> = match desc.product {
            Some(Product::Tensor(b)) => vec![b],
            Some(_) => Vec::new(),
            None => catalogue.to_vec(),
        };
        candidates.extend(
            blocks
                .into_iter()
                .filter(|b| crate::algo::tensor_fits(b, desc.precision, caps, &limits))
                .map(|block| Tuned::Tensor { block }),
        );
    }
    if candidates.is_empty() {
        return Err(Error::Unsupported(format!(
            "tuning covers the Winograd and GEMM paths; {} leaves neither open",
            desc.algo.map_or("this descriptor".to_string(), |a| format!("algo {a}"))
        )));
    }
    let time = |choice: Tuned, iterations: usize| -> Result<f64> {
        // A residual changes no choice; time without one so no residual tensor is needed.
        let forced = match choice {
            Tuned::Winograd { m, layout, kernels } => Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(m),
                layout: Some(layout),
                product: Some(match kernels {
                    WinogradKernels::Fused => Product::Fused,
                    WinogradKernels::Separate(b) => Product::Block(b),
                }),
                residual: false,
                ..desc.clone()
            },
            Tuned::Gemm { block } => Conv2dDesc {
                algo: Some(Algo::Gemm),
                product: Some(Product::Block(block)),
                residual: false,
                precision: crate::desc::Precision::Highest,
                ..desc.clone()
            },
            Tuned::Tensor { block } => Conv2dDesc {
                algo: Some(Algo::Gemm),
                product: Some(Product::Tensor(block)),
                residual: false,
                ..desc.clone()
            },
        };
        let t = Conv2d::new(ctx, forced, weights, bias)?.benchmark(shape, iterations)?;
        Ok(t.gpu_ms.unwrap_or(t.wall_ms))
    };
    let mut results = Vec::new();
    for choice in candidates {
        results.push(Candidate { choice, ms: time(choice, iterations)? });
    }
    // Small problems time within noise of each other: the leaders are timed again and keep
    // the slower of their two figures, so one lucky run cannot pick the cached winner.
    results.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    for c in results.iter_mut().take(3) {
        c.ms = c.ms.max(time(c.choice, iterations)?);
    }
    results.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    let best = results.first().ok_or_else(|| Error::Unsupported("no candidate fits this adapter".into()))?;
    crate::tuned::store(
        crate::tuned::adapter_key(ctx.adapter_info()),
        crate::tuned::conv_key(desc, shape),
        best.choice,
    )?;
    Ok(results)
}
