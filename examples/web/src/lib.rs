//! The browser demo: one convolution per kernel family, then a transposed convolution, a conv1d
//! and the weight and input gradients, on random data through the async API, each checked
//! against the CPU reference; the page shows each case's plan, time and error, then
//! `ALL n CASES VERIFIED` or `FAILED: …` in `#result` (what .ci/web_check.sh looks for).

use half::f16;
use std::future::Future;
use wasm_bindgen::prelude::*;
use wgpu_winograd::reference::{
    conv1d_f64, conv2d_bias_grad_f64, conv2d_f64, conv2d_input_grad_f64, conv2d_weight_grad_f64,
    conv_transpose2d_f64, max_rel_error, pseudo_random, tolerance,
};
use wgpu_winograd::{
    Algo, Context, Conv1d, Conv1dDesc, Conv2d, Conv2dDesc, ConvTranspose2d, ConvTranspose2dDesc, DType,
    Error, InputGrad, Product, WeightGrad,
};

/// One case per kernel family, each forced through the descriptor.
fn conv2d_cases() -> Vec<(&'static str, Conv2dDesc, [usize; 4])> {
    let base = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(8, 16, 3, 1) };
    vec![
        (
            "winograd F(2,3), separate passes",
            Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(2),
                product: Some(Product::Separate),
                ..base.clone()
            },
            [2, 8, 14, 14],
        ),
        ("implicit GEMM", Conv2dDesc { algo: Some(Algo::Gemm), ..base.clone() }, [1, 8, 13, 11]),
        (
            "depthwise",
            Conv2dDesc {
                algo: Some(Algo::Depthwise),
                groups: 8,
                has_bias: true,
                ..Conv2dDesc::new(8, 8, 3, 1)
            },
            [1, 8, 15, 9],
        ),
        ("direct", Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() }, [1, 8, 7, 10]),
        ("f16 (GEMM)", Conv2dDesc { algo: Some(Algo::Gemm), dtype: DType::F16, ..base }, [1, 8, 12, 12]),
    ]
}

/// The operators built on the convolution, one case each.
#[derive(Clone, Copy)]
enum Operator {
    Transposed,
    Conv1d,
    WeightGrad,
    InputGrad,
}

impl Operator {
    const ALL: [Operator; 4] =
        [Operator::Transposed, Operator::Conv1d, Operator::WeightGrad, Operator::InputGrad];

    fn name(self) -> &'static str {
        match self {
            Operator::Transposed => "transposed 4x4 stride 2 (DCGAN)",
            Operator::Conv1d => "conv1d, groups 2, dilation 2, stride 2",
            Operator::WeightGrad => "weight and bias gradients",
            Operator::InputGrad => "input gradient, stride 2",
        }
    }
}

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

fn element(id: &str) -> Option<web_sys::Element> {
    web_sys::window()?.document()?.get_element_by_id(id)
}

fn log(line: &str) {
    web_sys::console::log_1(&line.into());
    if let Some(pre) = element("log") {
        pre.set_text_content(Some(&format!("{}{line}\n", pre.text_content().unwrap_or_default())));
    }
}

fn result(text: &str, ok: bool) {
    web_sys::console::log_1(&text.into());
    if let Some(p) = element("result") {
        p.set_text_content(Some(text));
        p.set_class_name(if ok { "ok" } else { "bad" });
    }
}

/// What a case computed: its shapes, plan and result, and the times of its calls.
struct Run {
    what: String,
    plan: String,
    got: Vec<f32>,
    /// Whether the second call gave the first's result bit for bit.
    repeats: bool,
    /// ms of `prepare_async`, where the case called it (it compiles the kernels; else the first
    /// call does), of the first call and of the second.
    prepared: Option<f64>,
    first: f64,
    second: f64,
}

/// `f`'s value and the ms it took.
async fn timed<T>(f: impl Future<Output = Result<T, Error>>) -> Result<(T, f64), Error> {
    let start = now_ms();
    Ok((f.await?, now_ms() - start))
}

/// Calls `call` twice, timing each: `(result, whether the second equals it bit for bit, ms of
/// the first, ms of the second)`.
async fn twice<F: Future<Output = Result<Vec<f32>, Error>>>(
    call: impl Fn() -> F,
) -> Result<(Vec<f32>, bool, f64, f64), Error> {
    let (got, first) = timed(call()).await?;
    let (again, second) = timed(call()).await?;
    let repeats = got.iter().map(|v| v.to_bits()).eq(again.iter().map(|v| v.to_bits()));
    Ok((got, repeats, first, second))
}

/// The page's line for a run checked against `want`, or why it failed.
fn verdict(name: &str, run: Run, want: &[f64], tol: f64) -> Result<String, String> {
    let err = max_rel_error(&run.got, want);
    let times = match run.prepared {
        Some(ms) => {
            format!("prepare_async {ms:.1} ms (compiles its kernels), first call {:.1} ms", run.first)
        }
        None => format!("first call {:.1} ms (compiles its kernels)", run.first),
    };
    let line = format!(
        "{name} {}: {}\n    {times}, second {:.1} ms, max error {err:.2e} (tolerance {tol:.0e})",
        run.what, run.plan, run.second
    );
    if err < tol && run.repeats {
        Ok(line)
    } else {
        Err(format!("{line}\n    {name}: error {err:.2e} over {tol:.0e}, or the two calls differ"))
    }
}

fn f32s(v: Vec<f16>) -> Vec<f32> {
    v.into_iter().map(f32::from).collect()
}

/// A forward convolution through `Conv2d::run_async`.
async fn conv2d_case(
    ctx: &Context,
    name: &str,
    desc: &Conv2dDesc,
    shape: [usize; 4],
    seed: u64,
) -> Result<String, String> {
    let fail = |e: Error| format!("{name}: {e}");
    let mut x = pseudo_random(shape.iter().product(), seed);
    let w = pseudo_random(desc.weight_len().map_err(fail)?, seed + 1);
    let b = desc.has_bias.then(|| pseudo_random(desc.out_channels, seed + 2));
    let conv = Conv2d::new_async(ctx, desc.clone(), &w, b.as_deref()).await.map_err(fail)?;
    let plan = conv.plan(shape).map_err(fail)?;
    let (got, repeats, first, second) = match desc.dtype {
        DType::F32 => twice(|| conv.run_async(&x, shape, None)).await,
        DType::F16 => {
            let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
            // The reference sees what f16 storage holds.
            x = h.iter().map(|v| v.to_f32()).collect();
            let (conv, h) = (&conv, &h);
            twice(move || async move { conv.run_async(h, shape, None).await.map(f32s) }).await
        }
    }
    .map_err(fail)?;
    let want = conv2d_f64(desc, &x, shape, &w, b.as_deref(), None).map_err(fail)?;
    let what = format!("{shape:?}");
    let run = Run { what, plan: plan.to_string(), got, repeats, prepared: None, first, second };
    verdict(name, run, &want, tolerance(desc.dtype, &plan))
}

/// Each operator on a small shape, through its async calls (`prepare_async` first, as an app
/// that encodes would, then `run_async`).
async fn operator_case(ctx: &Context, op: Operator, seed: u64) -> Result<String, String> {
    let name = op.name();
    let fail = |e: Error| format!("{name}: {e}");
    let random = |len: usize, s: u64| pseudo_random(len, seed + s);
    let (run, want, tol) = match op {
        Operator::Transposed => {
            let d = ConvTranspose2dDesc { has_bias: true, ..ConvTranspose2dDesc::new(8, 4, 4, 2, 1) };
            let shape = [1, 8, 6, 6];
            let (x, w, b) =
                (random(shape.iter().product(), 0), random(d.weight_len().map_err(fail)?, 1), random(4, 2));
            let conv = ConvTranspose2d::new_async(ctx, d.clone(), &w, Some(&b)).await.map_err(fail)?;
            let (plan, prepared) = timed(conv.prepare_async(shape)).await.map_err(fail)?;
            let (got, repeats, first, second) =
                twice(|| conv.run_async(&x, shape, None)).await.map_err(fail)?;
            let want = conv_transpose2d_f64(&d, &x, shape, &w, Some(&b), None).map_err(fail)?;
            let out = plan.output;
            let what = format!("{shape:?} -> {out:?}");
            let tol = plan.tolerance(d.dtype);
            let prepared = Some(prepared);
            (Run { what, plan: plan.to_string(), got, repeats, prepared, first, second }, want, tol)
        }
        Operator::Conv1d => {
            let d = Conv1dDesc {
                stride: 2,
                dilation: 2,
                groups: 2,
                has_bias: true,
                ..Conv1dDesc::new(8, 6, 3, 2)
            };
            let shape = [1, 8, 40];
            let (x, w, b) =
                (random(shape.iter().product(), 0), random(d.weight_len().map_err(fail)?, 1), random(6, 2));
            let conv = Conv1d::new_async(ctx, d.clone(), &w, Some(&b)).await.map_err(fail)?;
            let (plan, prepared) = timed(conv.prepare_async(shape)).await.map_err(fail)?;
            let (got, repeats, first, second) =
                twice(|| conv.run_async(&x, shape, None)).await.map_err(fail)?;
            let want = conv1d_f64(&d, &x, shape, &w, Some(&b), None).map_err(fail)?;
            let what = format!("{shape:?}");
            let tol = tolerance(d.dtype, &plan);
            let prepared = Some(prepared);
            (Run { what, plan: plan.to_string(), got, repeats, prepared, first, second }, want, tol)
        }
        Operator::WeightGrad => {
            // dw and db of one layer, concatenated: f32 sums of f32 products.
            let d = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(8, 8, 3, 1) };
            let shape = [2, 8, 8, 8];
            let grad = WeightGrad::new(ctx, &d).map_err(fail)?;
            let dy_shape = grad.dy_shape(shape).map_err(fail)?;
            let (x, dy) = (random(shape.iter().product(), 0), random(dy_shape.iter().product(), 1));
            let both = async {
                Ok((grad.prepare_async(shape).await?, grad.prepare_bias_grad_async(dy_shape).await?))
            };
            let ((plan, bias_plan), prepared) = timed(both).await.map_err(fail)?;
            let (grad, x, dy) = (&grad, &x, &dy);
            let both = move || async move {
                let mut dw = grad.run_async(x, shape, dy).await?;
                dw.extend(grad.bias_grad_async(dy, dy_shape).await?);
                Ok(dw)
            };
            let (got, repeats, first, second) = twice(both).await.map_err(fail)?;
            let mut want = conv2d_weight_grad_f64(&d, x, shape, dy).map_err(fail)?;
            want.extend(conv2d_bias_grad_f64(&d, dy, dy_shape).map_err(fail)?);
            let what = format!("x {shape:?}, dy {dy_shape:?}");
            let (plan, prepared) = (format!("dw: {plan}; db: {bias_plan}"), Some(prepared));
            (Run { what, plan, got, repeats, prepared, first, second }, want, 1e-4)
        }
        Operator::InputGrad => {
            let f = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(8, 8, 3, 1) };
            // 9 rows and 8 columns at stride 2: output padding 0 down, 1 across.
            let input = [1, 8, 9, 8];
            let dy_shape = f.output_shape(input).map_err(fail)?;
            let (w, dy) = (random(f.weight_len().map_err(fail)?, 0), random(dy_shape.iter().product(), 1));
            let grad = InputGrad::new_async(ctx, &f, &w).await.map_err(fail)?;
            let (plan, prepared) = timed(grad.prepare_async(dy_shape, input)).await.map_err(fail)?;
            let (got, repeats, first, second) =
                twice(|| grad.run_async(&dy, dy_shape, input)).await.map_err(fail)?;
            let want = conv2d_input_grad_f64(&f, &dy, &w, input).map_err(fail)?;
            let what = format!("dy {dy_shape:?} -> dx {input:?}");
            let tol = plan.tolerance(f.dtype);
            let prepared = Some(prepared);
            (Run { what, plan: plan.to_string(), got, repeats, prepared, first, second }, want, tol)
        }
    };
    verdict(name, run, &want, tol)
}

async fn run() -> Result<usize, String> {
    let ctx = Context::new_async().await.map_err(|e| e.to_string())?;
    let info = ctx.adapter_info();
    log(&format!(
        "adapter: {} ({:?}, {:?}), f16 {}, subgroups {}..{}",
        info.name,
        info.backend,
        info.device_type,
        if ctx.packed_f16() { "packed into u32" } else { "native" },
        info.subgroup_min_size,
        info.subgroup_max_size
    ));
    let seed = now_ms() as u64;
    log(&format!("seed {seed}"));
    let mut failures = Vec::new();
    let mut report = |name: &str, outcome: Result<String, String>| match outcome {
        Ok(line) => log(&format!("ok   {line}")),
        Err(why) => {
            log(&format!("FAIL {why}"));
            failures.push(name.to_string());
        }
    };
    let convs = conv2d_cases();
    for (i, (name, desc, shape)) in convs.iter().enumerate() {
        report(name, conv2d_case(&ctx, name, desc, *shape, seed + 10 * i as u64).await);
    }
    for (i, op) in Operator::ALL.into_iter().enumerate() {
        report(op.name(), operator_case(&ctx, op, seed + 10 * (convs.len() + i) as u64).await);
    }
    match failures.is_empty() {
        true => Ok(convs.len() + Operator::ALL.len()),
        false => Err(failures.join(", ")),
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    wasm_bindgen_futures::spawn_local(async {
        match run().await {
            Ok(n) => result(&format!("ALL {n} CASES VERIFIED"), true),
            Err(why) => result(&format!("FAILED: {why}"), false),
        }
    });
}
