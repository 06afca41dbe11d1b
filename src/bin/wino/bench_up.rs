//! `wino bench` on a transposed layer (the dcgan and unet suites): a `ConvTranspose2d` built
//! from the layer, timed like a convolution, recorded in the same `Record`.

use crate::bench::{sm_clock_mhz, Record, Warmer, RECORD_WARM_S};
use crate::{lib, Auto, BenchArgs, Res};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{reference, Algo, Context, ConvTranspose2d, ConvTranspose2dDesc, DType, TransposePlan};

fn desc(layer: &Layer, algo: Option<Algo>, a: &BenchArgs) -> ConvTranspose2dDesc {
    ConvTranspose2dDesc {
        groups: layer.groups,
        algo,
        dtype: a.dtype,
        precision: a.precision,
        ..ConvTranspose2dDesc::new(layer.c, layer.k, layer.kernel, layer.stride, layer.padding)
    }
}

/// `transpose 4×gemm`: the phases' algorithms, counted.
fn algo_name(plan: &TransposePlan) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for p in plan.phases.iter().filter_map(|p| p.plan.as_ref()) {
        let algo = p.path.algo().to_string();
        match counts.iter_mut().find(|(a, _)| *a == algo) {
            Some(c) => c.1 += 1,
            None => counts.push((algo, 1)),
        }
    }
    let parts: Vec<String> = counts.iter().map(|(a, n)| format!("{n}×{a}")).collect();
    format!("transpose {}", parts.join("+"))
}

/// The layer's error at batch 1 on pseudo-random data against the f64 reference.
fn layer_error(conv: &ConvTranspose2d, weights: &[f32], shape: [usize; 4]) -> Res<f64> {
    let shape = [1, shape[1], shape[2], shape[3]];
    let x = reference::pseudo_random(shape.iter().product(), 17);
    let (got, x): (Vec<f32>, Vec<f32>) = match conv.desc().dtype {
        DType::F32 => (lib(conv.run(&x, shape, None))?, x),
        DType::F16 => {
            let xh: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
            let got = lib(conv.run(&xh, shape, None))?.into_iter().map(f32::from).collect();
            (got, xh.into_iter().map(f32::from).collect())
        }
    };
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
    let fan_in =
        (layer.c / layer.groups * layer.kernel * layer.kernel / (layer.stride * layer.stride)).max(1);
    let scale = 1.0 / (fan_in as f32).sqrt();
    let weights: Vec<f32> =
        reference::pseudo_random(lib(desc.weight_len())?, 3).iter().map(|v| v * scale).collect();
    let conv = match ConvTranspose2d::new(ctx, desc, &weights, None) {
        Ok(conv) => conv,
        Err(e) if algo.is_some() => {
            eprintln!("skipped: {}: {e}", layer.name);
            return Ok(None);
        }
        Err(e) => return Err(e.to_string()),
    };
    let shape = layer.input_shape();
    let plan = lib(conv.plan(shape))?;
    lib(conv.benchmark(shape, 1))?;
    warmer.spin(RECORD_WARM_S)?;
    let sm_clock_mhz = sm_clock_mhz();
    warmer.spin(0.05)?;
    let t = lib(conv.benchmark(shape, a.iters as usize))?;
    let max_error = if a.error { Some(layer_error(&conv, &weights, shape)?) } else { None };
    let ms = t.gpu_ms.unwrap_or(t.wall_ms);
    let elements = |d: [usize; 4]| d.iter().product::<usize>() as f64;
    let bytes =
        (elements(plan.input) + elements(plan.output)) * a.dtype.size() as f64 + weights.len() as f64 * 4.0;
    let product = plan.phases.iter().find_map(|p| p.plan.as_ref()).and_then(crate::glue::plan_product);
    Ok(Some(Record {
        name: layer.name.clone(),
        n: layer.n,
        c: layer.c,
        h: layer.h,
        w: layer.w,
        k: layer.k,
        kernel: layer.kernel,
        stride: layer.stride,
        padding: layer.padding,
        dilation: 1,
        groups: layer.groups,
        count: layer.count,
        transposed: true,
        algo: algo_name(&plan),
        requested_algo: Auto(algo).to_string(),
        layout: "auto".into(),
        resolved_layout: None,
        requested_tile: None,
        tile: None,
        product,
        dtype: a.dtype.to_string(),
        precision: a.precision.to_string(),
        precision_note: plan.phases.iter().find_map(|p| p.plan.as_ref()?.precision_note.clone()),
        gpu_ms: t.gpu_ms,
        sm_clock_mhz,
        max_error,
        wall_ms: t.wall_ms,
        floor_ms: t.floor_ms,
        submit_ms: t.submit_ms,
        tflops: layer.flop() / ms / 1e9,
        gbps: bytes / ms / 1e6,
        kernels: None,
    }))
}
