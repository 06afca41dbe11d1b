//! `wino bench` on a conv1d layer (the whisper suite): a `Conv1d` built from the layer, timed
//! through `Conv1d::benchmark` (the `(N, C, 1, L)` conv2d it runs as), recorded in the same
//! `Record`.

use crate::bench::{bench_weights, built_or_skipped, error_data, measure, run_as, Ran, Record, Warmer};
use crate::{glue, lib, BenchArgs, Res};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{reference, Algo, Context, Conv1d, Conv1dDesc};

/// The layer's error at batch 1 on pseudo-random data against the f64 reference.
fn layer_error(conv: &Conv1d, weights: &[f32], [_, c, l]: [usize; 3]) -> Res<f64> {
    let (desc, shape) = (conv.desc(), [1, c, l]);
    let x = error_data(c * l, 17, desc.dtype);
    let got = run_as(desc.dtype, &x, |x| conv.run(x, shape, None), |x| conv.run(x, shape, None))?;
    let want = lib(reference::conv1d_f64(desc, &x, shape, weights, None, None))?;
    Ok(reference::max_rel_error(&got, &want))
}

/// Times one conv1d layer; `None` (with a note on stderr) where a forced algorithm cannot do it.
pub fn bench_conv1d(
    ctx: &Context,
    warmer: &Warmer,
    layer: &Layer,
    algo: Option<Algo>,
    a: &BenchArgs,
) -> Res<Option<Record>> {
    let desc = Conv1dDesc {
        stride: layer.stride,
        groups: layer.groups,
        algo,
        dtype: a.dtype,
        precision: a.precision,
        ..Conv1dDesc::new(layer.c, layer.k, layer.kernel, layer.padding)
    };
    let weights = bench_weights(glue::weight_len(&desc.to_conv2d())?, layer.c / layer.groups * layer.taps());
    let Some(conv) = built_or_skipped(Conv1d::new(ctx, desc, &weights, None), layer, algo)? else {
        return Ok(None);
    };
    let shape = [layer.n, layer.c, layer.w];
    let plan = lib(conv.plan(shape))?;
    let timed = measure(warmer, a.iters, |iters| conv.benchmark(shape, iters))?;
    let max_error = if a.error { Some(layer_error(&conv, &weights, shape)?) } else { None };
    Ok(Some(Record::new(layer, a, Ran::of(&plan, algo), timed, max_error)))
}
