//! `wino bench` on a transposed layer (the dcgan and unet suites): a `ConvTranspose2d` built
//! from the layer, timed like a convolution, recorded in the same `Record`.

use crate::bench::{bench_weights, built_or_skipped, error_data, measure, run_as, Ran, Record, Warmer};
use crate::{lib, BenchArgs, Res};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{reference, Algo, Context, ConvTranspose2d, ConvTranspose2dDesc, TransposePlan};

fn desc(layer: &Layer, algo: Option<Algo>, a: &BenchArgs) -> ConvTranspose2dDesc {
    ConvTranspose2dDesc {
        groups: layer.groups,
        algo,
        dtype: a.dtype,
        precision: a.precision,
        ..ConvTranspose2dDesc::new(layer.c, layer.k, layer.kernel, layer.stride, layer.padding)
    }
}

/// What a transposed plan ran (a transposed layer's, or an input gradient's): its phases'
/// algorithms counted (`transpose 4×gemm`), the first phase's product and precision note.
pub(crate) fn ran(plan: &TransposePlan, requested: Option<Algo>) -> Ran {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for p in plan.phases.iter().filter_map(|p| p.plan.as_ref()) {
        let algo = p.path.algo().to_string();
        match counts.iter_mut().find(|(a, _)| *a == algo) {
            Some(c) => c.1 += 1,
            None => counts.push((algo, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(a, n)| format!("{n}×{a}")).collect();
    let mut phases = plan.phases.iter().filter_map(|p| p.plan.as_ref());
    Ran {
        algo: format!("transpose {}", parts.join("+")),
        requested,
        product: phases.clone().next().and_then(crate::glue::plan_product),
        precision_note: phases.find_map(|p| p.precision_note.clone()),
    }
}

/// The layer's error at batch 1 on pseudo-random data against the f64 reference.
fn layer_error(conv: &ConvTranspose2d, weights: &[f32], shape: [usize; 4]) -> Res<f64> {
    let shape = [1, shape[1], shape[2], shape[3]];
    let x = error_data(shape.iter().product(), 17, conv.desc().dtype);
    let got = run_as(conv.desc().dtype, &x, |x| conv.run(x, shape, None), |x| conv.run(x, shape, None))?;
    let want = lib(reference::conv_transpose2d_f64(conv.desc(), &x, shape, weights, None, None))?;
    Ok(reference::max_rel_error(&got, &want))
}

/// Times one transposed layer; `None` (with a note on stderr) where a forced algorithm cannot
/// run one of its phases.
pub fn bench_transposed(
    ctx: &Context,
    warmer: &Warmer,
    layer: &Layer,
    algo: Option<Algo>,
    a: &BenchArgs,
) -> Res<Option<Record>> {
    let desc = desc(layer, algo, a);
    lib(desc.validate())?;
    // Each output sees about 1/stride² of the taps.
    let fan_in = layer.c / layer.groups * layer.taps() / (layer.stride * layer.stride);
    let weights = bench_weights(lib(desc.weight_len())?, fan_in);
    let Some(conv) = built_or_skipped(ConvTranspose2d::new(ctx, desc, &weights, None), layer, algo)? else {
        return Ok(None);
    };
    let shape = layer.input_shape();
    let plan = lib(conv.plan(shape))?;
    let timed = measure(warmer, a.iters, |iters| conv.benchmark(shape, iters))?;
    let max_error = if a.error { Some(layer_error(&conv, &weights, shape)?) } else { None };
    Ok(Some(Record::new(layer, a, ran(&plan, algo), timed, max_error)))
}
