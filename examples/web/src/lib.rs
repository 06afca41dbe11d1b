//! The browser demo: one convolution per kernel family on random data, each checked against the
//! CPU reference; the page shows each case's plan, time and error, then `ALL n CASES VERIFIED`
//! or `FAILED: …` in `#result` (what .ci/run looks for).

use half::f16;
use wasm_bindgen::prelude::*;
use wgpu_winograd::reference::{conv2d_f64, max_rel_error, pseudo_random, tolerance};
use wgpu_winograd::{Algo, Context, Conv2d, Conv2dDesc, DType, Error, Product};

/// One case per kernel family, each forced through the descriptor.
fn cases() -> Vec<(&'static str, Conv2dDesc, [usize; 4])> {
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

/// Runs one case; returns its line for the page, or why it failed.
async fn case(
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
    let start = now_ms();
    let got: Vec<f32> = match desc.dtype {
        DType::F32 => conv.run_async(&x, shape, None).await.map_err(fail)?,
        DType::F16 => {
            let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
            // The reference sees what f16 storage holds.
            x = h.iter().map(|v| v.to_f32()).collect();
            conv.run_async(&h, shape, None).await.map_err(fail)?.into_iter().map(f32::from).collect()
        }
    };
    let first = now_ms() - start;
    let start = now_ms();
    let again = match desc.dtype {
        DType::F32 => conv.run_async(&x, shape, None).await.map_err(fail)?,
        DType::F16 => {
            let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
            conv.run_async(&h, shape, None).await.map_err(fail)?.into_iter().map(f32::from).collect()
        }
    };
    let second = now_ms() - start;
    let want = conv2d_f64(desc, &x, shape, &w, b.as_deref(), None).map_err(fail)?;
    let (err, tol) = (max_rel_error(&got, &want), tolerance(desc.dtype, &plan));
    let line = format!(
        "{name} {shape:?}: {plan}\n    first call {first:.1} ms (compiles its kernels), second {second:.1} ms, \
         max error {err:.2e} (tolerance {tol:.0e})"
    );
    if err < tol && got == again {
        Ok(line)
    } else {
        Err(format!("{line}\n    {name}: error {err:.2e} over {tol:.0e}, or the two calls differ"))
    }
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
    let cases = cases();
    let mut failures = Vec::new();
    for (i, (name, desc, shape)) in cases.iter().enumerate() {
        match case(&ctx, name, desc, *shape, seed + 10 * i as u64).await {
            Ok(line) => log(&format!("ok   {line}")),
            Err(why) => {
                log(&format!("FAIL {why}"));
                failures.push(name.to_string());
            }
        }
    }
    match failures.is_empty() {
        true => Ok(cases.len()),
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
