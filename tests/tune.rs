//! Tuning times the candidates on the adapter, writes the cache, and `auto` then follows it.

mod common;
use wgpu_winograd::dispatch::Path;
use wgpu_winograd::{tune, Conv2d, Conv2dDesc};

#[test]
fn tuned_choice_is_cached_and_used_by_auto() {
    let path = std::env::temp_dir().join(format!("wino-tune-{}.tsv", std::process::id()));
    std::env::set_var("WGPU_WINOGRAD_CACHE", &path);
    let desc = Conv2dDesc::new(8, 20, 3, 1);
    let shape = [1, 8, 12, 12];
    let w = common::data(desc.weight_len(), 1);
    let results = tune::tune(common::ctx(), &desc, &w, None, shape, 2).unwrap();
    assert!(results.len() >= 4, "only {} candidates", results.len());
    let best = results[0].choice;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("n1_c8_h12_w12_k20_r3"), "cache: {text}");
    let conv = Conv2d::new(common::ctx(), desc.clone(), &w, None).unwrap();
    let plan = conv.plan(shape).unwrap();
    assert_eq!(plan.path, Path::Winograd { m: best.m, r: 3, layout: best.layout, product: best.product });
    // The tuned plan still computes the right thing.
    let (_, err) = common::check(&desc, shape, 3);
    assert!(err <= 1e-4, "error {err:e}");
    std::fs::remove_file(path).ok();
}
