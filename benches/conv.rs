//! Criterion benches (HTML reports under target/criterion): the seed table with both layouts
//! side by side, the ResNet 3×3 layers, the fused kernel against the separate ones, and
//! Winograd against direct. Each sample is the median
//! GPU time from timestamp queries where the adapter has them, else the wall time of a
//! synchronous call. `WINO_BENCH_BATCH` sets the ResNet batch (default 1; 32 on a real GPU).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use wgpu_winograd::{Algo, Context, Conv2d, Conv2dDesc, TileLayout};

fn conv(ctx: &Context, c: usize, k: usize, algo: Algo, layout: TileLayout) -> Conv2d {
    with_desc(ctx, Conv2dDesc { algo, layout, ..Conv2dDesc::new(c, k, 3, 1) })
}

fn with_desc(ctx: &Context, desc: Conv2dDesc) -> Conv2d {
    let weights: Vec<f32> = (0..desc.weight_len()).map(|i| ((i % 17) as f32 - 8.0) / 64.0).collect();
    Conv2d::new(ctx, desc, &weights, None).expect("building the benchmark convolution")
}

/// One criterion measurement of `iters` calls, timed by the library's benchmark helper.
fn measure(conv: &Conv2d, shape: [usize; 4], iters: u64) -> Duration {
    let t = conv.benchmark(shape, iters as usize).expect("benchmark run");
    Duration::from_secs_f64(t.gpu_ms.unwrap_or(t.wall_ms) * iters as f64 / 1e3)
}

fn layouts(c: &mut Criterion, ctx: &Context, group: &str, shapes: &[[usize; 4]]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    for &[n, ch, h, w] in shapes {
        for layout in [TileLayout::Auto, TileLayout::R16_6_6, TileLayout::R6_6_16] {
            let cv = conv(ctx, ch, ch, Algo::Winograd, layout);
            let id = BenchmarkId::new(layout.to_string(), format!("n{n}_c{ch}_{h}x{w}"));
            g.bench_function(id, |b| b.iter_custom(|iters| measure(&cv, [n, ch, h, w], iters)));
        }
    }
    g.finish();
}

fn seed(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let shapes: Vec<[usize; 4]> = [24, 32, 48, 64, 96].iter().map(|&s| [1, 16, s, s]).collect();
    layouts(c, &ctx, "seed", &shapes);
}

fn resnet(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let n = std::env::var("WINO_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let shapes = [[n, 64, 56, 56], [n, 128, 28, 28], [n, 256, 14, 14], [n, 512, 7, 7]];
    layouts(c, &ctx, "resnet", &shapes);
}

/// F(2,3) as one fused kernel against input transform + product + output transform, on the
/// seed shapes (where auto fuses) and a 64-channel layer (where it does not).
fn fusion(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let mut g = c.benchmark_group("fusion");
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    let mut shapes: Vec<[usize; 4]> = [24, 48, 96].iter().map(|&s| [1, 16, s, s]).collect();
    shapes.push([1, 64, 32, 32]);
    for [n, ch, h, w] in shapes {
        for (name, fuse) in [("fused", true), ("separate", false)] {
            let desc = Conv2dDesc {
                algo: Algo::Winograd,
                tile: Some(2),
                fuse: Some(fuse),
                ..Conv2dDesc::new(ch, ch, 3, 1)
            };
            let cv = with_desc(&ctx, desc);
            let id = BenchmarkId::new(name, format!("n{n}_c{ch}_{h}x{w}"));
            g.bench_function(id, |b| b.iter_custom(|iters| measure(&cv, [n, ch, h, w], iters)));
        }
    }
    g.finish();
}

fn winograd_vs_direct(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let mut g = c.benchmark_group("winograd_vs_direct");
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    let shape = [1, 64, 32, 32];
    for algo in [Algo::Winograd, Algo::Direct] {
        let cv = conv(&ctx, 64, 64, algo, TileLayout::Auto);
        g.bench_function(algo.to_string(), |b| b.iter_custom(|iters| measure(&cv, shape, iters)));
    }
    g.finish();
}

criterion_group!(benches, seed, resnet, fusion, winograd_vs_direct);
criterion_main!(benches);
