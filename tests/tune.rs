//! Tuning times the candidates on the adapter, writes the cache, and automatic dispatch then
//! follows it. The cache is this binary's own temporary file (`common::cache_file`), never the
//! developer's.

mod common;
use wgpu_winograd::{cache_path, tune, Conv2dDesc, Path};

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
    let best = results[0].choice;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("n1_c8_h12_w12_k20_r3"), "cache: {text}");
    let conv = t.conv(&desc);
    let plan = conv.plan(shape).unwrap();
    assert_eq!(plan.path, Path::Winograd { m: best.m, r: 3, layout: best.layout, kernels: best.kernels });
    // The tuned plan still computes the right thing.
    let err = wgpu_winograd::reference::max_rel_error(&t.run(&conv, shape), &t.reference(&desc, shape));
    assert!(err <= common::tolerance(&conv, shape), "{plan}: error {err:e}");
    std::fs::remove_file(path).ok();
}
