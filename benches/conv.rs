//! Criterion benches (HTML reports under target/criterion): the seed table with both layouts
//! side by side, the ResNet 3×3 layers, the fused kernel against the separate ones, Winograd
//! against direct, auto against direct on a 3×3, a 1×1 and a strided layer, every distinct layer
//! of ResNet-50 and MobileNetV2 (`auto`), and the tensor-core GEMM per block. The shapes
//! come from `wgpu_winograd::suites`, the list `wino bench` uses. Each sample is the median
//! GPU time from timestamp queries where the adapter has them, else the wall time of a
//! synchronous call. `WINO_BENCH_BATCH` sets the batch of the ResNet layers and the networks
//! (default 1; 32 on a real GPU).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use wgpu_winograd::suites::{self, Layer, Suite};
use wgpu_winograd::{
    tensor_matmul, Algo, Context, Conv2d, Conv2dDesc, Padding, Precision, Product, TensorBlock, TileLayout,
};

fn conv(ctx: &Context, c: usize, k: usize, algo: Option<Algo>, layout: Option<TileLayout>) -> Conv2d {
    with_desc(ctx, Conv2dDesc { algo, layout, ..Conv2dDesc::new(c, k, 3, 1) })
}

fn with_desc(ctx: &Context, desc: Conv2dDesc) -> Conv2d {
    let weights: Vec<f32> = (0..desc.weight_len().expect("a benchmark-sized descriptor"))
        .map(|i| ((i % 17) as f32 - 8.0) / 64.0)
        .collect();
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
        for layout in [None, Some(TileLayout::R16_6_6), Some(TileLayout::R6_6_16)] {
            let cv = conv(ctx, ch, ch, Some(Algo::Winograd), layout);
            let name = layout.map_or("auto".to_string(), |l| l.to_string());
            let id = BenchmarkId::new(name, format!("n{n}_c{ch}_{h}x{w}"));
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
        for (name, product) in [("fused", Product::Fused), ("separate", Product::Separate)] {
            let desc = Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(2),
                product: Some(product),
                ..Conv2dDesc::new(ch, ch, 3, 1)
            };
            let cv = with_desc(&ctx, desc);
            let id = BenchmarkId::new(name, format!("n{n}_c{ch}_{h}x{w}"));
            g.bench_function(id, |b| b.iter_custom(|iters| measure(&cv, [n, ch, h, w], iters)));
        }
    }
    g.finish();
}

/// `auto` against the direct kernel on a 3×3 layer (Winograd), a 1×1 layer and a 3×3
/// stride-2 layer (implicit GEMM): the speed-up every layer gets from its own algorithm.
fn auto_vs_direct(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let mut g = c.benchmark_group("auto_vs_direct");
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    let layers = [
        ("3x3_c64_32x32", Conv2dDesc::new(64, 64, 3, 1), [1, 64, 32, 32]),
        ("1x1_c256_28x28", Conv2dDesc::new(256, 256, 1, 0), [1, 256, 28, 28]),
        (
            "3x3s2_c128_56x56",
            Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(128, 128, 3, 1) },
            [1, 128, 56, 56],
        ),
    ];
    for (name, desc, shape) in layers {
        for algo in [None, Some(Algo::Direct)] {
            let cv = with_desc(&ctx, Conv2dDesc { algo, ..desc.clone() });
            let id = BenchmarkId::new(algo.map_or("auto".to_string(), |a| a.to_string()), name);
            g.bench_function(id, |b| b.iter_custom(|iters| measure(&cv, shape, iters)));
        }
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

/// The tensor-core core alone: a 4096³ f16 → f32 GEMM per catalogue block (`wino bench --suite
/// gemm` prints TFLOP/s). Adapters without cooperative matrices have nothing to time: the group
/// says so and is empty.
fn tensor_gemm(c: &mut Criterion) {
    let ctx = Context::new().expect("a wgpu adapter");
    let mut g = c.benchmark_group("tensor_gemm");
    g.sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(300));
    if ctx.cooperative_matrices() == "none" {
        eprintln!("tensor_gemm: adapter '{}' has no cooperative matrices", ctx.adapter_info().name);
    }
    for block in TensorBlock::CATALOGUE_16 {
        if !ctx.tensor_block_fits(&block, Precision::High) {
            continue;
        }
        g.bench_function(block.to_string(), |b| {
            b.iter_custom(|iters| {
                let t = tensor_matmul(&ctx, [4096, 4096, 4096], block, iters as usize).expect("GEMM");
                assert_eq!(t.wrong, 0, "{block}: wrong results");
                Duration::from_secs_f64(t.gpu_ms * iters as f64 / 1e3)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, seed, resnet, fusion, auto_vs_direct, networks, tensor_gemm);
criterion_main!(benches);
