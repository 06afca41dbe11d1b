//! `wino conv --transpose` (ConvTranspose2d) and `wino conv` on rank-3 tensors (Conv1d): the
//! same flow as the convolution of `conv.rs` (read or make the operands, run once, verify
//! against the f64 reference, write the output) for the two operators built on it.

use crate::conv::{
    check, check_f16_range, random_array, round_to_dtype, timing, RANDOM_KERNEL, RANDOM_OUT_CHANNELS,
};
use crate::npy::{is_stdout, read_npy, write_npy, Array, Role};
use crate::{lib, ConvArgs, Fuse, Res};
use std::time::Instant;
use wgpu_winograd::{
    reference, Context, Conv1d, Conv1dDesc, ConvTranspose2d, ConvTranspose2dDesc, DType, DataFormat,
    DataFormat1d, Padding1d, WeightFormat, WeightFormat1d,
};

/// The operands as read, or `None` where `--random` makes them.
struct Files {
    input: Option<Array>,
    weights: Option<Array>,
    bias: Option<Array>,
    residual: Option<Array>,
}

fn read_files(a: &ConvArgs, ctx: &Context, input: Role, weight: Role, residual: Role) -> Res<Files> {
    let max_bytes = ctx.limits().max_buffer_size;
    let read = |path: &Option<std::path::PathBuf>, role: Role| {
        path.as_deref().map(|p| read_npy(p, &role, max_bytes)).transpose()
    };
    let files = Files {
        input: read(&a.input, input)?,
        weights: read(&a.weight, weight)?,
        bias: read(&a.bias, Role::BIAS)?,
        residual: read(&a.residual, residual)?,
    };
    if a.fwd.dtype == DType::F16 {
        for (what, array) in [("input", &files.input), ("residual", &files.residual)] {
            if let Some(array) = array.as_ref().filter(|x| !x.f16) {
                check_f16_range(what, &array.data)?;
            }
        }
    }
    Ok(files)
}

/// Runs the transposed convolution or the conv1d of `a` (`one_d`: the input has rank 3).
pub fn run(a: &ConvArgs, ctx: &Context, one_d: bool) -> Res<()> {
    let what = if one_d { "a conv1d" } else { "--transpose" };
    if one_d && a.transpose {
        return Err(
            "--transpose takes a rank-4 input (N,C,H,W): there is no 1-D transposed convolution".into()
        );
    }
    if let Some(flag) =
        [("--tile", a.tile.is_some()), ("--layout", a.layout.0.is_some()), ("--fuse", a.fuse != Fuse::Auto)]
            .iter()
            .find_map(|(flag, set)| set.then_some(flag))
    {
        return Err(format!("{flag} is a Winograd option of conv2d; {what} lets the ladder choose"));
    }
    if one_d {
        conv1d(a, ctx)
    } else {
        transpose(a, ctx)
    }
}

/// Runs `f32` or `f16` host data per `dtype`; returns f32 values.
pub(crate) fn run_as(
    dtype: DType,
    input: &[f32],
    residual: Option<&[f32]>,
    f32_run: impl FnOnce(&[f32], Option<&[f32]>) -> wgpu_winograd::Result<Vec<f32>>,
    f16_run: impl FnOnce(&[half::f16], Option<&[half::f16]>) -> wgpu_winograd::Result<Vec<half::f16>>,
) -> Res<Vec<f32>> {
    match dtype {
        DType::F32 => lib(f32_run(input, residual)),
        DType::F16 => {
            let half = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
            let out = lib(f16_run(&half(input), residual.map(half).as_deref()))?;
            Ok(out.into_iter().map(f32::from).collect())
        }
    }
}

/// How the operator runs: once on f32 or f16 host data (`run_as`), and `--iters` timed calls.
struct Calls<F32, F16, B> {
    f32_run: F32,
    f16_run: F16,
    benchmark: B,
}

/// The common tail: one call (with its wall time), `--iters` timed calls, verify against
/// `reference` (given the values as the GPU saw them) at the tolerance the plan that ran gives
/// the checked dtype, write.
fn finish<F32, F16, B>(
    a: &ConvArgs,
    files: &Files,
    input: &[f32],
    out_shape: &[usize],
    calls: Calls<F32, F16, B>,
    tolerance: impl FnOnce(DType) -> f64,
    reference: impl FnOnce(&[f32], Option<&[f32]>) -> wgpu_winograd::Result<Vec<f64>>,
) -> Res<()>
where
    F32: FnOnce(&[f32], Option<&[f32]>) -> wgpu_winograd::Result<Vec<f32>>,
    F16: FnOnce(&[half::f16], Option<&[half::f16]>) -> wgpu_winograd::Result<Vec<half::f16>>,
    B: FnOnce(usize) -> wgpu_winograd::Result<wgpu_winograd::Timing>,
{
    let start = Instant::now();
    let residual = files.residual.as_ref().map(|r| &r.data[..]);
    let output = run_as(a.fwd.dtype, input, residual, calls.f32_run, calls.f16_run)?;
    eprintln!("time: {:.3} ms (one call, wall)", start.elapsed().as_secs_f64() * 1e3);
    if let Some(iters) = a.iters {
        let t = lib((calls.benchmark)(iters as usize))?;
        eprintln!("time: {} over {iters} calls", timing(&t));
    }
    let input_f16 = files.input.as_ref().is_some_and(|x| x.f16);
    let checked = if input_f16 { DType::F16 } else { a.fwd.dtype };
    let tolerance = tolerance(checked);
    let output = if input_f16 { round_to_dtype(&output, DType::F16) } else { output };
    if a.verify {
        let start = Instant::now();
        let rounded = |v: &[f32]| round_to_dtype(v, a.fwd.dtype);
        let residual = files.residual.as_ref().map(|r| rounded(&r.data));
        let want = lib(reference(&rounded(input), residual.as_deref()))?;
        let on_stderr = a.output.as_deref().is_some_and(is_stdout);
        check(
            &output,
            &want,
            (input_f16, checked),
            tolerance,
            start.elapsed().as_secs_f64() * 1e3,
            on_stderr,
        )?;
    }
    if let Some(path) = &a.output {
        write_npy(path, out_shape, &output, input_f16)?;
        eprintln!("wrote {} {out_shape:?} {}", path.display(), if input_f16 { "<f2" } else { "<f4" });
    }
    Ok(())
}

fn transpose(a: &ConvArgs, ctx: &Context) -> Res<()> {
    if a.fwd.weight_format != WeightFormat::Oihw {
        return Err("--transpose takes PyTorch's (C_in, C_out/groups, KH, KW) weights; --weight-format hwio does not apply".into());
    }
    let df = a.fwd.data_format;
    let files = read_files(a, ctx, Role::input(df), Role::TRANSPOSE_WEIGHT, Role::residual(df))?;
    let (input_shape, [cw, kg, kh, kw]) = match (&files.input, &files.weights, &a.random) {
        (Some(x), Some(w), _) => (
            df.logical([x.shape[0], x.shape[1], x.shape[2], x.shape[3]]),
            [w.shape[0], w.shape[1], w.shape[2], w.shape[3]],
        ),
        (_, _, Some(crate::Dims(d))) => {
            let k = a.out_channels.unwrap_or(RANDOM_OUT_CHANNELS);
            let r = a.kernel.unwrap_or(RANDOM_KERNEL);
            ([d[0], d[1], d[2], d[3]], [d[1], k / a.fwd.groups.max(1), r, r])
        }
        _ => return Err("give --input X.npy --weight W.npy, or --random N,C,H,W".into()),
    };
    let k = match &a.random {
        Some(_) => a.out_channels.unwrap_or(RANDOM_OUT_CHANNELS),
        None => kg * a.fwd.groups,
    };
    let desc = ConvTranspose2dDesc {
        in_channels: input_shape[1],
        out_channels: k,
        kernel: [kh, kw],
        stride: a.fwd.stride,
        dilation: a.fwd.dilation,
        padding: a.fwd.padding,
        output_padding: a.output_padding.unwrap_or([0, 0]),
        padding_mode: a.fwd.padding_mode,
        groups: a.fwd.groups,
        has_bias: files.bias.is_some(),
        activation: a.activation,
        residual: files.residual.is_some(),
        algo: a.algo.0,
        dtype: a.fwd.dtype,
        data_format: df,
        precision: a.precision,
    };
    lib(desc.validate())?;
    if cw != input_shape[1] {
        return Err(format!(
            "channel mismatch: the input has {} channels but the weights (C_in, C_out/groups, KH, KW) have {cw}",
            input_shape[1]
        ));
    }
    let out = lib(desc.output_shape(input_shape))?;
    let max_bytes = ctx.limits().max_buffer_size;
    let (input, weights) = match (&files.input, &files.weights) {
        (Some(x), Some(w)) => (x.data.clone(), w.data.clone()),
        _ => {
            let x = random_array("input values", df.stored(input_shape).to_vec(), 1, 1.0, max_bytes)?;
            let fan_in =
                (input_shape[1] / a.fwd.groups * kh * kw / (a.fwd.stride[0] * a.fwd.stride[1])).max(1);
            let scale = 1.0 / (fan_in as f32).sqrt();
            (x.data, random_array("weights", desc.weight_shape().to_vec(), 2, scale, max_bytes)?.data)
        }
    };
    let bias = files.bias.as_ref().map(|b| &b.data[..]);
    let conv = lib(ConvTranspose2d::new(ctx, desc.clone(), &weights, bias))?;
    let plan = lib(conv.plan(input_shape))?;
    let out_shape = df.stored(out).to_vec();
    if let Some(r) = files.residual.as_ref().filter(|r| r.shape != out_shape) {
        return Err(format!("residual has shape {:?} but the output is {out_shape:?} ({df})", r.shape));
    }
    eprintln!("adapter: {} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
    eprintln!("shape: {input_shape:?} → {out:?} (logical NCHW; data format {df})");
    eprintln!("path: {plan}");
    let calls = Calls {
        f32_run: |x: &[f32], r: Option<&[f32]>| conv.run(x, input_shape, r),
        f16_run: |x: &[half::f16], r: Option<&[half::f16]>| conv.run(x, input_shape, r),
        benchmark: |iters| conv.benchmark(input_shape, iters),
    };
    finish(
        a,
        &files,
        &input,
        &out_shape,
        calls,
        |dt| plan.tolerance(dt),
        |x, r| reference::conv_transpose2d_f64(&desc, x, input_shape, &weights, bias, r),
    )
}

/// One value for a 1-D option given as S or SH,SW.
fn one(flag: &str, [h, w]: [usize; 2]) -> Res<usize> {
    if h == w {
        Ok(w)
    } else {
        Err(format!("a conv1d takes one {flag} value, got {h},{w}"))
    }
}

fn conv1d(a: &ConvArgs, ctx: &Context) -> Res<()> {
    let nlc = a.fwd.data_format == DataFormat::Nhwc;
    let wio = a.fwd.weight_format == WeightFormat::Hwio;
    let files = read_files(a, ctx, Role::input1d(nlc), Role::weight1d(wio), Role::residual1d(nlc))?;
    let logical = |s: &[usize]| if nlc { [s[0], s[2], s[1]] } else { [s[0], s[1], s[2]] };
    let stored = |s: [usize; 3]| if nlc { vec![s[0], s[2], s[1]] } else { s.to_vec() };
    let (input_shape, [k, cg, r]) = match (&files.input, &files.weights, &a.random) {
        (Some(x), Some(w), _) => {
            let ws = &w.shape;
            (logical(&x.shape), if wio { [ws[2], ws[1], ws[0]] } else { [ws[0], ws[1], ws[2]] })
        }
        (_, _, Some(crate::Dims(d))) => {
            let k = a.out_channels.unwrap_or(RANDOM_OUT_CHANNELS);
            ([d[0], d[1], d[2]], [k, d[1] / a.fwd.groups.max(1), a.kernel.unwrap_or(RANDOM_KERNEL)])
        }
        _ => return Err("give --input X.npy --weight W.npy, or --random N,C,L".into()),
    };
    let p = a.fwd.padding;
    let padding = match (p.top, p.bottom) {
        (0, 0) => Padding1d { left: p.left, right: p.right },
        (t, b) if t == p.left && b == p.right => Padding1d { left: t, right: b },
        _ => return Err("a conv1d takes --padding P, or 0,0,L,R (left and right only)".into()),
    };
    let desc = Conv1dDesc {
        in_channels: input_shape[1],
        out_channels: k,
        kernel: r,
        stride: one("--stride", a.fwd.stride)?,
        dilation: one("--dilation", a.fwd.dilation)?,
        padding,
        padding_mode: a.fwd.padding_mode,
        groups: a.fwd.groups,
        has_bias: files.bias.is_some(),
        activation: a.activation,
        residual: files.residual.is_some(),
        algo: a.algo.0,
        product: None,
        dtype: a.fwd.dtype,
        data_format: if nlc { DataFormat1d::Nlc } else { DataFormat1d::Ncl },
        weight_format: if wio { WeightFormat1d::Wio } else { WeightFormat1d::Oiw },
        precision: a.precision,
    };
    lib(desc.to_conv2d().validate())?;
    if cg * a.fwd.groups != input_shape[1] {
        return Err(format!(
            "channel mismatch: the input has {} channels but the weights expect {cg} per group × {} group(s)",
            input_shape[1], a.fwd.groups
        ));
    }
    let out = lib(desc.output_shape(input_shape))?;
    let max_bytes = ctx.limits().max_buffer_size;
    let (input, weights) = match (&files.input, &files.weights) {
        (Some(x), Some(w)) => (x.data.clone(), w.data.clone()),
        _ => {
            let x = random_array("input values", stored(input_shape), 1, 1.0, max_bytes)?;
            let ws = if wio { vec![r, cg, k] } else { vec![k, cg, r] };
            let scale = 1.0 / ((cg * r) as f32).sqrt();
            (x.data, random_array("weights", ws, 2, scale, max_bytes)?.data)
        }
    };
    let bias = files.bias.as_ref().map(|b| &b.data[..]);
    let conv = lib(Conv1d::new(ctx, desc.clone(), &weights, bias))?;
    let plan = lib(conv.plan(input_shape))?;
    let out_shape = stored(out);
    if let Some(r) = files.residual.as_ref().filter(|r| r.shape != out_shape) {
        return Err(format!(
            "residual has shape {:?} but the output is {out_shape:?} ({})",
            r.shape, desc.data_format
        ));
    }
    eprintln!("adapter: {} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
    eprintln!("shape: {input_shape:?} → {out:?} (conv1d, logical NCL; data format {})", desc.data_format);
    eprintln!("path: {plan} (as a 1×{r} conv2d over height 1)");
    let calls = Calls {
        f32_run: |x: &[f32], r: Option<&[f32]>| conv.run(x, input_shape, r),
        f16_run: |x: &[half::f16], r: Option<&[half::f16]>| conv.run(x, input_shape, r),
        benchmark: |iters| {
            let [n, c, l] = input_shape;
            conv.conv2d().benchmark([n, c, 1, l], iters)
        },
    };
    finish(
        a,
        &files,
        &input,
        &out_shape,
        calls,
        |dt| reference::tolerance(dt, &plan),
        |x, r| reference::conv1d_f64(&desc, x, input_shape, &weights, bias, r),
    )
}
