//! Criterion benches (HTML reports under target/criterion): the seed table with both layouts
//! side by side, the ResNet 3×3 layers, the fused kernel against the separate ones, Winograd
//! against direct, and every distinct layer of ResNet-50 and MobileNetV2 (`auto`). The shapes
//! come from `wgpu_winograd::suites`, the list `wino bench` uses. Each sample is the median
//! GPU time from timestamp queries where the adapter has them, else the wall time of a
//! synchronous call. `WINO_BENCH_BATCH` sets the batch of the ResNet layers and the networks
//! (default 1; 32 on a real GPU).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use wgpu_winograd::suites::{self, Layer, Suite};
use wgpu_winograd::{Algo, Context, Conv2d, Conv2dDesc, Padding, TileLayout};

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

/// `WINO_BENCH_BATCH`, default 1.
fn batch() -> usize {
    std::env::var("WINO_BENCH_BATCH").ok().and_then(|v| v.parse().ok()).unwrap_or(1)
}

fn layouts(c: &mut Criterion, ctx: &Context, group: &str, layers: &[Layer]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    for [n, ch, h, w] in layers.iter().map(Layer::input_shape) {
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
    layouts(c, &ctx, "seed", &Suite::Seed.layers(1));
}

fn resnet(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    layouts(c, &ctx, "resnet", &suites::resnet_3x3(batch()));
}

/// F(2,3) as one fused kernel against input transform + product + output transform, on the
/// seed shapes (where auto fuses) and a 64-channel layer (where it does not).
fn fusion(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let mut g = c.benchmark_group("fusion");
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    let seed = Suite::Seed.layers(1).into_iter().filter(|l| [24, 48, 96].contains(&l.h));
    let mut shapes: Vec<[usize; 4]> = seed.map(|l| l.input_shape()).collect();
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

/// Every distinct layer of ResNet-50 and MobileNetV2 at `WINO_BENCH_BATCH`, algorithm `auto`.
fn networks(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    for suite in [Suite::Resnet50, Suite::Mobilenetv2] {
        let layers = suite.layers(batch());
        let mut g = c.benchmark_group(layers[0].name.split('_').next().unwrap_or("network").to_string());
        g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
        for layer in &layers {
            let desc = Conv2dDesc {
                stride: [layer.stride; 2],
                padding: Padding::uniform(layer.padding),
                groups: layer.groups,
                ..Conv2dDesc::new(layer.c, layer.k, layer.kernel, layer.padding)
            };
            let cv = with_desc(&ctx, desc);
            let shape = layer.input_shape();
            g.bench_function(&layer.name, |b| b.iter_custom(|iters| measure(&cv, shape, iters)));
        }
        g.finish();
    }
}

criterion_group!(benches, seed, resnet, fusion, winograd_vs_direct, networks);
criterion_main!(benches);
