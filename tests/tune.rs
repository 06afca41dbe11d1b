//! Tuning times the candidates on the adapter, writes the cache, and automatic dispatch then
//! follows it. The cache is this binary's own temporary file (`common::cache_file`), never the
//! developer's.

mod common;
use wgpu_winograd::{cache_path, tune, Conv2dDesc, Path, Tuned};

#[test]
fn tuned_choice_is_cached_and_used_by_auto() {
    let ctx = common::ctx();
    let path = common::cache_file();
    assert_eq!(cache_path(), Some(path.clone()), "the tests must not use the developer's tune cache");
    let desc = Conv2dDesc::new(8, 20, 3, 1);
    let shape = [1, 8, 12, 12];
    let t = common::Tensors::new(&desc, shape, 1);
    let results = tune::tune(ctx, &desc, &t.w, None, shape, 2).unwrap();
    assert!(results.len() >= 4, "only {} candidates", results.len());
    assert!(results.iter().any(|c| matches!(c.choice, Tuned::Gemm { .. })), "GEMM blocks are candidates too");
    let best = results[0].choice;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("n1_c8_h12_w12_k20_r3") && text.contains(&best.to_string()), "cache: {text}");
    let conv = t.conv(&desc);
    let plan = conv.plan(shape).unwrap();
    let want = match best {
        Tuned::Winograd { m, layout, kernels } => Path::Winograd { m, r: 3, layout, kernels },
        Tuned::Gemm { block } => Path::Gemm { block },
        Tuned::Tensor { block } => Path::TensorGemm { block, precision: desc.precision },
    };
    assert_eq!(plan.path, want);
    // The tuned plan still computes the right thing.
    let err = wgpu_winograd::reference::max_rel_error(&t.run(&conv, shape), &t.reference(&desc, shape));
    assert!(err <= common::tolerance(&conv, shape), "{plan}: error {err:e}");
    std::fs::remove_file(path).ok();
}

#[test]
fn a_gemm_layer_is_tuned_over_product_blocks_and_auto_follows() {
    let ctx = common::ctx();
    let desc = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(32, 48, 3, 1) };
    let shape = [1, 32, 14, 14];
    let t = common::Tensors::new(&desc, shape, 2);
    let results = tune::tune(ctx, &desc, &t.w, None, shape, 2).unwrap();
    assert!(results.iter().all(|c| matches!(c.choice, Tuned::Gemm { .. })), "stride 2: GEMM only");
    let Tuned::Gemm { block } = results[0].choice else { unreachable!() };
    let conv = t.conv(&desc);
    assert_eq!(conv.plan(shape).unwrap().path, Path::Gemm { block });
    let err = wgpu_winograd::reference::max_rel_error(&t.run(&conv, shape), &t.reference(&desc, shape));
    assert!(err <= common::tolerance(&conv, shape), "{block}: error {err:e}");
}
