//! `wino conv`: one convolution on `.npy` files or random data. Reads and checks the operands,
//! runs the convolution once and prints that call's wall time (`--iters N` adds repeated GPU
//! timing), verifies the values as they will be stored against the f64 CPU reference, and
//! writes the output atomically.

use crate::npy::{check_output, is_stdout, read_npy, write_npy, Array, Role};
use crate::{glue, lib, ConvArgs, Res};
use std::path::Path;
use std::time::Instant;
use wgpu_winograd::{reference, Context, Conv2d, Conv2dDesc, DType, DataFormat, Timing};

/// `--out-channels` and `--kernel` when `--random` leaves them out.
pub(crate) const RANDOM_OUT_CHANNELS: usize = 16;
pub(crate) const RANDOM_KERNEL: usize = 3;

pub fn run(a: &ConvArgs) -> Res<()> {
    // clap's `requires = "random"` is bypassed when --input (which conflicts with --random) is
    // given (clap-rs/clap#4520), so it is checked here too.
    if a.random.is_none() {
        for (flag, given) in [("--out-channels", a.out_channels.is_some()), ("--kernel", a.kernel.is_some())]
        {
            if given {
                return Err(format!(
                    "{flag} applies to --random only (with files, the weights' shape sets it) (see wino --help)"
                ));
            }
        }
    }
    if let Some(out) = &a.output {
        let inputs = [
            ("--input", &a.input),
            ("--weight", &a.weight),
            ("--bias", &a.bias),
            ("--residual", &a.residual),
        ];
        let inputs: Vec<(&str, &Path)> =
            inputs.iter().filter_map(|(flag, p)| p.as_deref().map(|p| (*flag, p))).collect();
        check_output(out, &inputs)?;
    }
    if a.input.is_none() && a.random.is_none() {
        return Err("give --input X.npy --weight W.npy, or --random N,C,H,W".into());
    }
    let one_d = match (&a.input, &a.random) {
        (Some(path), _) => crate::npy::rank(path)? == 3,
        (None, Some(dims)) => dims.0.len() == 3,
        _ => false,
    };
    let ctx = lib(Context::new())?;
    if one_d || a.transpose {
        return crate::ops::run(a, &ctx, one_d);
    }
    let max_bytes = ctx.limits().max_buffer_size;
    let read = |path: &Option<std::path::PathBuf>, role: Role| {
        path.as_deref().map(|p| read_npy(p, &role, max_bytes)).transpose()
    };
    let input = read(&a.input, Role::input(a.fwd.data_format))?;
    let weights = read(&a.weight, Role::weight(a.fwd.weight_format))?;
    let bias = read(&a.bias, Role::BIAS)?;
    let residual = read(&a.residual, Role::residual(a.fwd.data_format))?;
    if a.fwd.dtype == DType::F16 {
        for (what, array) in [("input", &input), ("residual", &residual)] {
            if let Some(array) = array.as_ref().filter(|x| !x.f16) {
                check_f16_range(what, &array.data)?;
            }
        }
    }
    let (input_shape, weight_shape) = match (&input, &weights, &a.random) {
        (Some(input), Some(weights), _) => (input.shape.clone(), weights.shape.clone()),
        (_, _, Some(crate::Dims(d))) => random_shapes(a, [d[0], d[1], d[2], d[3]]),
        _ => return Err("give --input X.npy --weight W.npy, or --random N,C,H,W".into()),
    };
    let shape = logical(&input_shape, a.fwd.data_format);
    let desc = descriptor(a, shape, &weight_shape, bias.is_some(), residual.is_some())?;
    let (input, weights) = match (input, weights) {
        (Some(input), Some(weights)) => (input, weights),
        _ => random_operands(a, shape, max_bytes)?,
    };
    let conv = lib(Conv2d::new(&ctx, desc, &weights.data, bias.as_ref().map(|b| &b.data[..])))?;
    let plan = lib(conv.plan(shape))?;
    let out_shape = stored(plan.output, a.fwd.data_format);
    if let Some(r) = residual.as_ref().filter(|r| r.shape != out_shape) {
        return Err(format!(
            "residual has shape {:?} but the output is {out_shape:?} ({})",
            r.shape, a.fwd.data_format
        ));
    }
    eprintln!("adapter: {} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
    eprintln!(
        "shape: {:?} → {:?} (logical NCHW; data format {})",
        plan.input, plan.output, a.fwd.data_format
    );
    eprintln!("path: {}", glue::describe(&plan));
    // Also on its own line: `precision: high requested, ran highest (…)`.
    if let Some(note) = &plan.precision_note {
        eprintln!("{note}");
    }
    let start = Instant::now();
    let output = run_conv(&conv, &input.data, shape, residual.as_ref().map(|r| &r.data[..]))?;
    eprintln!(
        "time: {:.3} ms (one call, wall: upload, pipeline creation on first use, run and read-back; \
         --iters N for GPU timing)",
        start.elapsed().as_secs_f64() * 1e3
    );
    if let Some(iters) = a.iters {
        eprintln!("time: {} over {iters} calls", timing(&lib(conv.benchmark(shape, iters as usize))?));
    }
    // The values as they will be stored: f16 input files give f16 output files.
    let output = if input.f16 { round_to_dtype(&output, DType::F16) } else { output };
    if a.verify {
        let start = Instant::now();
        let rounded = |v: &[f32]| round_to_dtype(v, a.fwd.dtype);
        let want = lib(reference::conv2d_f64(
            conv.desc(),
            &rounded(&input.data),
            shape,
            &weights.data,
            bias.as_ref().map(|b| &b.data[..]),
            residual.as_ref().map(|r| rounded(&r.data)).as_deref(),
        ))?;
        let reference_ms = start.elapsed().as_secs_f64() * 1e3;
        let checked = if input.f16 { DType::F16 } else { a.fwd.dtype };
        // With --output /dev/stdout the report goes to stderr, not into the file.
        let report_on_stderr = a.output.as_deref().is_some_and(is_stdout);
        let tolerance = glue::tolerance(checked, &plan);
        check(&output, &want, (input.f16, checked), tolerance, reference_ms, report_on_stderr)?;
    } else if a.fwd.dtype == DType::F16 || input.f16 {
        let overflows = output.iter().filter(|v| v.is_infinite()).count();
        if overflows > 0 && input.data.iter().all(|v| v.is_finite()) {
            eprintln!(
                "warning: {overflows} of {} output values overflow float16 (max 65504) and are ±inf",
                output.len()
            );
        }
    }
    if let Some(path) = &a.output {
        write_npy(path, &out_shape, &output, input.f16)?;
        eprintln!("wrote {} {out_shape:?} {}", path.display(), if input.f16 { "<f2" } else { "<f4" });
    }
    Ok(())
}

/// The logical `[n, c, h, w]` of an activation stored in `format` (rank checked by the reader).
pub fn logical(shape: &[usize], format: DataFormat) -> [usize; 4] {
    format.logical([shape[0], shape[1], shape[2], shape[3]])
}

/// The stored shape of a logical `[n, c, h, w]` activation.
pub fn stored(dims: [usize; 4], format: DataFormat) -> Vec<usize> {
    format.stored(dims).to_vec()
}

/// The stored input and weight shapes `--random` makes.
fn random_shapes(a: &ConvArgs, dims: [usize; 4]) -> (Vec<usize>, Vec<usize>) {
    let cg = dims[1] / a.fwd.groups.max(1);
    let k = a.out_channels.unwrap_or(RANDOM_OUT_CHANNELS);
    let r = a.kernel.unwrap_or(RANDOM_KERNEL);
    (stored(dims, a.fwd.data_format), a.fwd.weight_format.stored([k, cg, r, r]).to_vec())
}

/// Random input and weights for `--random` (after the descriptor has been validated, so the
/// sizes do not overflow), refused where one is more than a buffer holds.
fn random_operands(a: &ConvArgs, dims: [usize; 4], max_bytes: u64) -> Res<(Array, Array)> {
    let array = |what: &str, shape: Vec<usize>, seed: u64, scale: f32| {
        random_array(what, shape, seed, scale, max_bytes)
    };
    let (input, weights) = random_shapes(a, dims);
    // 1/sqrt(fan-in) keeps the output near the input's magnitude.
    let r = a.kernel.unwrap_or(RANDOM_KERNEL);
    let fan_in = dims[1] / a.fwd.groups * r * r;
    Ok((array("input values", input, 1, 1.0)?, array("weights", weights, 2, 1.0 / (fan_in as f32).sqrt())?))
}

/// Seeded values in [−scale, scale) of `shape`, refused where they need more than a buffer holds.
pub(crate) fn random_array(
    what: &str,
    shape: Vec<usize>,
    seed: u64,
    scale: f32,
    max_bytes: u64,
) -> Res<Array> {
    let bytes = shape.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
    match bytes {
        Some(bytes) if bytes <= max_bytes => {
            let data = reference::pseudo_random(bytes as usize / 4, seed).iter().map(|v| v * scale).collect();
            Ok(Array { shape, data, f16: false })
        }
        _ => Err(format!(
            "--random: the {what} of shape {shape:?} need more than the {max_bytes} bytes a buffer holds"
        )),
    }
}

/// The descriptor from the options, with channels and kernel taken from the arrays, checked
/// against the logical input shape `[n, c, h, w]` before any GPU work.
fn descriptor(
    a: &ConvArgs,
    [_, channels, h, w]: [usize; 4],
    weight_shape: &[usize],
    bias: bool,
    residual: bool,
) -> Res<Conv2dDesc> {
    let ws = weight_shape;
    let [k, cg, kh, kw] = a.fwd.weight_format.logical([ws[0], ws[1], ws[2], ws[3]]);
    let kernel = [kh, kw];
    let desc = glue::conv_desc(a, [channels, k], kernel, bias, residual);
    glue::weight_len(&desc)?;
    // The descriptor is valid, so groups divides the channels and this cannot overflow.
    if cg * a.fwd.groups != channels {
        return Err(format!(
            "channel mismatch: the input has {channels} channels but weights of shape {ws:?} ({}) \
             expect {cg} per group × {} group(s) = {}",
            a.fwd.weight_format,
            a.fwd.groups,
            cg * a.fwd.groups
        ));
    }
    lib(desc.output_hw(h, w))?;
    Ok(desc)
}

/// Runs with host data of the descriptor's dtype; returns f32 values.
fn run_conv(conv: &Conv2d, input: &[f32], shape: [usize; 4], residual: Option<&[f32]>) -> Res<Vec<f32>> {
    match conv.desc().dtype {
        DType::F32 => lib(conv.run(input, shape, residual)),
        DType::F16 => {
            let half = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
            let out = lib(conv.run(&half(input), shape, residual.map(half).as_deref()))?;
            Ok(out.into_iter().map(f32::from).collect())
        }
    }
}

pub(crate) fn timing(t: &Timing) -> String {
    let gpu = t.gpu_ms.map_or("n/a".to_string(), |g| format!("{g:.3} ms"));
    format!(
        "gpu {gpu} (timestamps), wall {:.3} ms per call (submit + wait, upload excluded; empty submit + wait {:.3} ms)",
        t.wall_ms, t.floor_ms
    )
}

/// What the GPU saw (f16 runs round the input and residual to f16), or what an f16 file stores.
pub(crate) fn round_to_dtype(v: &[f32], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F32 => v.to_vec(),
        DType::F16 => v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect(),
    }
}

/// Refuses f32 data for `--dtype f16` with a finite value beyond float16's range, which the
/// conversion would turn into ±inf (and the output into ±inf and NaN).
pub(crate) fn check_f16_range(what: &str, data: &[f32]) -> Res<()> {
    let max = f32::from(half::f16::MAX);
    let beyond = data.iter().filter(|v| v.is_finite() && v.abs() > max);
    let (count, worst) = beyond.fold((0usize, 0f32), |(n, m), v| (n + 1, m.max(v.abs())));
    if count == 0 {
        return Ok(());
    }
    Err(format!(
        "--dtype f16: {count} of the {} {what} values lie beyond float16's range (|x| up to {worst:e}, \
         max 65504) and would become ±inf; scale the data or use --dtype f32",
        data.len()
    ))
}

/// Compares the stored values with the reference. Values that are ±inf or NaN where the
/// reference is finite (f16 overflows among them) are counted and named, then the max relative
/// error must be within `tolerance`. `(stored_f16, dtype)`: whether the values are as an f16
/// file stores them, and the element type they passed through. The report goes to stdout, or
/// to stderr where stdout is the output file.
pub(crate) fn check(
    stored: &[f32],
    want: &[f64],
    (stored_f16, dtype): (bool, DType),
    tolerance: f64,
    reference_ms: f64,
    report_on_stderr: bool,
) -> Res<()> {
    let report = |line: String| if report_on_stderr { eprintln!("{line}") } else { println!("{line}") };
    let bad = |s: &&(&f32, &f64)| !s.0.is_finite() && s.1.is_finite();
    let pairs: Vec<(&f32, &f64)> = stored.iter().zip(want).collect();
    let not_finite = pairs.iter().filter(bad).count();
    if not_finite > 0 {
        let nan = pairs.iter().filter(bad).filter(|s| s.0.is_nan()).count();
        report(format!(
            "verify: {not_finite} stored value(s) are ±inf or NaN where the reference is finite: FAIL"
        ));
        let kind = match (nan, dtype) {
            (0, DType::F16) => "overflow float16 (max 65504)".to_string(),
            (0, DType::F32) => "are ±inf".to_string(),
            (n, _) if n == not_finite => "are NaN".to_string(),
            (n, _) => format!("are ±inf or NaN ({n} NaN)"),
        };
        return Err(format!(
            "verification failed: {not_finite} of {} stored output values {kind} where the f64 reference is finite",
            stored.len()
        ));
    }
    let error = reference::max_rel_error(stored, want);
    let ok = error <= tolerance;
    report(format!(
        "verify: max relative error {error:.2e} (tolerance {tolerance:e}{}): {}",
        if stored_f16 { ", values as stored in float16" } else { "" },
        if ok { "OK" } else { "FAIL" }
    ));
    eprintln!("reference: f64 CPU convolution took {reference_ms:.0} ms");
    if !ok {
        return Err(format!("verification failed: max relative error {error:.2e} exceeds {tolerance:e}"));
    }
    Ok(())
}
