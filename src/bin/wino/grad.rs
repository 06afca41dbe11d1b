//! `wino grad`: the gradient of one convolution on `.npy` files or random data, with respect
//! to its weights (`WeightGrad`) or its input (`InputGrad`). The forward options are `wino
//! conv`'s geometry and layouts (`ForwardArgs`); reading, verifying and writing go through
//! the same helpers as `wino conv`.

use crate::conv::{check, check_f16_range, logical, random_array, round_to_dtype, stored, timing};
use crate::npy::{check_output, is_stdout, read_npy, write_npy, Role};
use crate::{glue, lib, GradArgs, Res, Wrt};
use std::path::Path;
use std::time::Instant;
use wgpu_winograd::{reference, Context, Conv2dDesc, DType, GradPlan, InputGrad, WeightGrad};

/// `--out-channels` and `--kernel` when `--random` leaves them out.
const RANDOM_OUT_CHANNELS: usize = 16;
const RANDOM_KERNEL: [usize; 2] = [3, 3];

/// Refuses flags that do not apply to `--wrt` (or to files / `--random`), naming them.
fn check_flags(a: &GradArgs) -> Res<()> {
    let random = a.random.is_some();
    let misplaced: &[(&str, bool, &str)] = &[
        (
            "--weight",
            a.wrt == Wrt::Weight && a.weight.is_some(),
            "applies to --wrt input (the weight gradient reads --input)",
        ),
        (
            "--input-shape",
            a.wrt == Wrt::Weight && a.input_shape.is_some(),
            "applies to --wrt input (--wrt weight takes the shape from --input)",
        ),
        (
            "--input",
            a.wrt == Wrt::Input && a.input.is_some(),
            "applies to --wrt weight (the input gradient reads --weight and --input-shape)",
        ),
        (
            "--kernel",
            a.wrt == Wrt::Input && !random && a.kernel.is_some(),
            "is set by the --weight file's shape",
        ),
        ("--out-channels", !random && a.out_channels.is_some(), "applies to --random only"),
    ];
    if let Some((flag, _, why)) = misplaced.iter().find(|m| m.1) {
        return Err(format!("{flag} {why} (see wino --help)"));
    }
    if !random {
        let needed: &[(&str, bool)] = match a.wrt {
            Wrt::Weight => &[("--input X.npy", a.input.is_none()), ("--kernel R|KH,KW", a.kernel.is_none())],
            Wrt::Input => {
                &[("--weight W.npy", a.weight.is_none()), ("--input-shape N,C,H,W", a.input_shape.is_none())]
            }
        };
        if let Some((flag, _)) = needed.iter().find(|n| n.1) {
            let wrt = if a.wrt == Wrt::Weight { "weight" } else { "input" };
            return Err(format!("--wrt {wrt} needs {flag} (or --random N,C,H,W) (see wino --help)"));
        }
    }
    Ok(())
}

pub fn run(a: &GradArgs) -> Res<()> {
    check_flags(a)?;
    if let Some(out) = &a.output {
        let inputs = [("--grad-output", &a.grad_output), ("--input", &a.input), ("--weight", &a.weight)];
        let inputs: Vec<(&str, &Path)> =
            inputs.iter().filter_map(|(flag, p)| p.as_deref().map(|p| (*flag, p))).collect();
        check_output(out, &inputs)?;
    }
    let f = &a.fwd;
    let ctx = lib(Context::new())?;
    let max_bytes = ctx.limits().max_buffer_size;
    let read = |path: &Option<std::path::PathBuf>, role: Role| {
        path.as_deref().map(|p| read_npy(p, &role, max_bytes)).transpose()
    };
    let dy = read(&a.grad_output, Role::grad_output(f.data_format))?;
    let input = read(&a.input, Role::input(f.data_format))?;
    let weights = read(&a.weight, Role::weight(f.weight_format))?;
    if f.dtype == DType::F16 {
        for (what, array) in [("grad-output", &dy), ("input", &input)] {
            if let Some(array) = array.as_ref().filter(|x| !x.f16) {
                check_f16_range(what, &array.data)?;
            }
        }
    }
    // The forward descriptor and the input shape, from the files or --random.
    let (x_shape, desc) = match (a.random, &input, &weights, &dy) {
        (Some(dims), _, _, _) => {
            let k = a.out_channels.unwrap_or(RANDOM_OUT_CHANNELS);
            (dims, glue::forward_desc(f, [dims[1], k], a.kernel.unwrap_or(RANDOM_KERNEL)))
        }
        (None, Some(x), _, Some(dy)) => {
            let x_shape = logical(&x.shape, f.data_format);
            let k = logical(&dy.shape, f.data_format)[1];
            (x_shape, glue::forward_desc(f, [x_shape[1], k], a.kernel.expect("checked by check_flags")))
        }
        (None, _, Some(w), Some(_)) => {
            let ws = &w.shape;
            let [k, cg, kh, kw] = f.weight_format.logical([ws[0], ws[1], ws[2], ws[3]]);
            let x_shape = a.input_shape.expect("checked by check_flags");
            if cg.checked_mul(f.groups) != Some(x_shape[1]) {
                return Err(format!(
                    "channel mismatch: --input-shape has {} channels but weights of shape {ws:?} ({}) expect {cg} per \
                     group × {} group(s)",
                    x_shape[1], f.weight_format, f.groups
                ));
            }
            (x_shape, glue::forward_desc(f, [x_shape[1], k], [kh, kw]))
        }
        _ => return Err("give --grad-output DY.npy, or --random N,C,H,W (see wino --help)".into()),
    };
    let desc = Conv2dDesc { precision: a.precision, ..desc };
    let weight_len = glue::weight_len(&desc)?;
    if x_shape[1] != desc.in_channels {
        return Err(format!(
            "the input has {} channels but the weights expect {}",
            x_shape[1], desc.in_channels
        ));
    }
    let dy_shape = lib(desc.output_shape(x_shape))?;
    lib(desc.check_padding(x_shape[2], x_shape[3]))?;
    let dy = match dy {
        Some(dy) => {
            let got = logical(&dy.shape, f.data_format);
            if got != dy_shape {
                return Err(format!(
                    "--grad-output has logical shape {got:?} but the forward output of {x_shape:?} is {dy_shape:?} \
                     (logical NCHW; data format {})",
                    f.data_format
                ));
            }
            dy
        }
        None => random_array("grad-output values", stored(dy_shape, f.data_format), 3, 1.0, max_bytes)?,
    };
    eprintln!("adapter: {} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
    eprintln!(
        "shape: input {x_shape:?}, grad-output {dy_shape:?} (logical NCHW; data format {})",
        f.data_format
    );
    let report_on_stderr = a.output.as_deref().is_some_and(is_stdout);
    let (out_shape, values, f16) = match a.wrt {
        Wrt::Weight => {
            let x = match input {
                Some(x) => x,
                None => random_array("input values", stored(x_shape, f.data_format), 1, 1.0, max_bytes)?,
            };
            let (dw, plan) = weight_grad(&ctx, &desc, &x.data, x_shape, &dy.data, a.iters)?;
            if a.verify {
                let start = Instant::now();
                let rounded = |v: &[f32]| round_to_dtype(v, f.dtype);
                let want = lib(reference::conv2d_weight_grad_f64(
                    &desc,
                    &rounded(&x.data),
                    x_shape,
                    &rounded(&dy.data),
                ))?;
                let ms = start.elapsed().as_secs_f64() * 1e3;
                let tolerance = reference::weight_grad_tolerance(&plan);
                check(&dw, &want, (false, DType::F32), tolerance, ms, report_on_stderr)?;
            }
            (f.weight_format.stored(desc.weight_shape()).to_vec(), dw, false)
        }
        Wrt::Input => {
            let w = match weights {
                Some(w) => w,
                None => {
                    let fan_in = (desc.in_channels / desc.groups * desc.kernel[0] * desc.kernel[1]) as f32;
                    let shape = f.weight_format.stored(desc.weight_shape()).to_vec();
                    random_array("weights", shape, 2, 1.0 / fan_in.sqrt(), max_bytes)?
                }
            };
            debug_assert_eq!(w.data.len(), weight_len);
            let grad = lib(InputGrad::new(&ctx, &desc, &w.data))?;
            let plan = lib(grad.plan(dy_shape, x_shape))?;
            eprintln!("path: {plan}");
            let start = Instant::now();
            let dx = match desc.dtype {
                DType::F32 => lib(grad.run(&dy.data, dy_shape, x_shape))?,
                DType::F16 => {
                    lib(grad.run(&to_half(&dy.data), dy_shape, x_shape))?.iter().map(|h| h.to_f32()).collect()
                }
            };
            eprintln!(
                "time: {:.3} ms (one call, wall: upload, pipeline creation on first use, run and read-back)",
                ms(start)
            );
            if let Some(iters) = a.iters {
                let t = lib(grad.benchmark(dy_shape, x_shape, iters as usize))?;
                eprintln!("time: {} over {iters} calls", timing(&t));
            }
            let f16 = dy.f16 || desc.dtype == DType::F16;
            let dx = if f16 { round_to_dtype(&dx, DType::F16) } else { dx };
            if a.verify {
                let start = Instant::now();
                let dy_values = round_to_dtype(&dy.data, desc.dtype);
                let want = lib(reference::conv2d_input_grad_f64(&desc, &dy_values, &w.data, x_shape))?;
                let ms = start.elapsed().as_secs_f64() * 1e3;
                let checked = if f16 { DType::F16 } else { DType::F32 };
                check(&dx, &want, (f16, checked), plan.tolerance(checked), ms, report_on_stderr)?;
            }
            (stored(x_shape, f.data_format), dx, f16)
        }
    };
    if let Some(path) = &a.output {
        write_npy(path, &out_shape, &values, f16)?;
        eprintln!("wrote {} {out_shape:?} {}", path.display(), if f16 { "<f2" } else { "<f4" });
    }
    Ok(())
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// The weight gradient with host data of the descriptor's dtype, timed on stderr, and its plan.
fn weight_grad(
    ctx: &Context,
    desc: &Conv2dDesc,
    x: &[f32],
    x_shape: [usize; 4],
    dy: &[f32],
    iters: Option<u32>,
) -> Res<(Vec<f32>, GradPlan)> {
    let grad = lib(WeightGrad::new(ctx, desc))?;
    let plan = lib(grad.plan(x_shape))?;
    eprintln!("path: {plan}");
    let start = Instant::now();
    let dw = match desc.dtype {
        DType::F32 => lib(grad.run(x, x_shape, dy))?,
        DType::F16 => lib(grad.run(&to_half(x), x_shape, &to_half(dy)))?,
    };
    eprintln!(
        "time: {:.3} ms (one call, wall: upload, pipeline creation on first use, run and read-back)",
        ms(start)
    );
    if let Some(iters) = iters {
        let t = lib(grad.benchmark(x_shape, iters as usize))?;
        eprintln!("time: {} over {iters} calls", timing(&t));
    }
    Ok((dw, plan))
}

fn to_half(v: &[f32]) -> Vec<half::f16> {
    v.iter().map(|&x| half::f16::from_f32(x)).collect()
}
