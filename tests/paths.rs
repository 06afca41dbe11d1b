//! Every path against the f64 CPU reference (error = max |gpu − ref| / max |ref|): each Winograd
//! tile in both layouts, the direct fallbacks, f16 storage, NHWC/HWIO, every epilogue, prepared
//! weights reused across shapes, caller buffers chained in one encoder, and the options that must
//! change the plan.

mod common;
use common::{ctx, data, encode_and_read, gpu_buffer, nchw_to_nhwc, oihw_to_hwio};
use half::f16;
use wgpu_winograd::dispatch::{Path, Plan, Product, WINOGRAD_TILES};
use wgpu_winograd::reference::{conv2d_f64, max_rel_error};
use wgpu_winograd::{
    Activation, Algo, Conv2d, Conv2dDesc, DType, DataFormat, Error, Padding, TileLayout, WeightFormat,
};

/// Every f32 path, every Winograd tile included. F(6,3) is the least accurate tile but stays well
/// inside: measured on lavapipe 1.4e-5 at 256 channels and 2.2e-5 at 512 (F(4,3): 1.6e-6, 4.1e-6).
const TOL: f64 = 1e-4;
const F16_TOL: f64 = 3e-3;
const LAYOUTS: [TileLayout; 2] = [TileLayout::R16_6_6, TileLayout::R6_6_16];
const ACTIVATIONS: [Activation; 4] =
    [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu];

fn pad(top: usize, bottom: usize, left: usize, right: usize) -> Padding {
    Padding { top, bottom, left, right }
}

/// A `c → k` convolution with a `kernel × kernel` window and `padding`; other options by struct update.
fn conv(c: usize, k: usize, kernel: usize, padding: Padding) -> Conv2dDesc {
    Conv2dDesc { padding, ..Conv2dDesc::new(c, k, kernel, 0) }
}

/// Forced Winograd F(m, r) in `layout`.
fn wino(m: usize, r: usize, layout: TileLayout, d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { algo: Algo::Winograd, tile: Some(m), layout, kernel: [r, r], ..d }
}

fn out_shape(d: &Conv2dDesc, [n, _, h, w]: [usize; 4]) -> [usize; 4] {
    let [oh, ow] = d.output_hw(h, w).unwrap();
    [n, d.out_channels, oh, ow]
}

/// Deterministic tensors for one call of a descriptor on one input shape.
struct Tensors {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    r: Option<Vec<f32>>,
}

impl Tensors {
    fn new(d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> Tensors {
        let out: usize = out_shape(d, shape).iter().product();
        Tensors {
            x: data(shape.iter().product(), seed),
            w: data(d.weight_len(), seed + 1),
            b: d.has_bias.then(|| data(d.out_channels, seed + 2)),
            r: d.residual.then(|| data(out, seed + 3)),
        }
    }
    fn reference(&self, d: &Conv2dDesc, shape: [usize; 4]) -> Vec<f64> {
        conv2d_f64(d, &self.x, shape, &self.w, self.b.as_deref(), self.r.as_deref()).unwrap()
    }
    fn conv(&self, d: &Conv2dDesc) -> Conv2d {
        Conv2d::new(ctx(), d.clone(), &self.w, self.b.as_deref()).unwrap()
    }
    fn run(&self, conv: &Conv2d, shape: [usize; 4]) -> Vec<f32> {
        let d = conv.desc();
        let out = conv.run(&self.x, shape, self.r.as_deref());
        out.unwrap_or_else(|e| panic!("{d:?} on {shape:?}: {e}"))
    }
}

/// Runs `d` on deterministic data; returns the error against the reference.
fn check(d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> f64 {
    let t = Tensors::new(d, shape, seed);
    max_rel_error(&t.run(&t.conv(d), shape), &t.reference(d, shape))
}

fn assert_close(err: f64, tol: f64, d: &Conv2dDesc, shape: [usize; 4]) {
    assert!(err <= tol, "{d:?} on {shape:?}: max relative error {err:.3e} > {tol:e}");
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_winograd_tile_matches_reference_in_both_layouts() {
    // (n, c, k, h, w, padding); cases where the kernel does not fit the padded input are skipped.
    let shapes = [
        (1, 1, 1, 1, 1, Padding::uniform(1)),
        (1, 1, 3, 1, 1, Padding::uniform(2)),
        (1, 3, 4, 2, 3, Padding::uniform(2)),
        (2, 5, 3, 5, 97, Padding::uniform(1)),
        (3, 17, 6, 7, 13, pad(0, 2, 1, 0)),
        (2, 3, 5, 7, 13, pad(2, 1, 0, 2)),
        (4, 33, 17, 9, 10, Padding::uniform(1)),
        (1, 1, 7, 6, 30, Padding::uniform(0)),
        (1, 64, 64, 19, 11, Padding::uniform(0)),
        (1, 256, 8, 12, 12, Padding::uniform(2)),
        (2, 17, 5, 11, 4, pad(1, 0, 2, 1)),
    ];
    for (m, r) in WINOGRAD_TILES {
        let (mut worst, mut cases) = ((0f64, 0), 0);
        for (i, &(n, c, k, h, w, padding)) in shapes.iter().enumerate() {
            let base = Conv2dDesc { has_bias: i % 2 == 0, ..conv(c, k, r, padding) };
            if base.output_hw(h, w).is_err() {
                continue;
            }
            let shape = [n, c, h, w];
            let t = Tensors::new(&base, shape, 10 + i as u64);
            let want = t.reference(&base, shape);
            // The separate kernels and the fused kernel, each in both layouts.
            for fuse in [false, true] {
                let outs = LAYOUTS.map(|layout| {
                    let d = Conv2dDesc { fuse: Some(fuse), ..wino(m, r, layout, base.clone()) };
                    let conv = t.conv(&d);
                    let path = conv.plan(shape).unwrap().path;
                    assert!(
                        matches!(path, Path::Winograd { m: pm, r: pr, layout: pl, product }
                            if (pm, pr, pl) == (m, r, layout) && (product == Product::Fused) == fuse),
                        "{d:?} on {shape:?} planned {path:?}"
                    );
                    let got = t.run(&conv, shape);
                    let err = max_rel_error(&got, &want);
                    assert_close(err, TOL, &d, shape);
                    cases += 1;
                    if err > worst.0 {
                        worst = (err, c);
                    }
                    got
                });
                assert!(
                    bits(&outs[0]) == bits(&outs[1]),
                    "F({m},{r}) fused={fuse}: layouts differ on {shape:?}"
                );
            }
        }
        eprintln!(
            "F({m},{r}): {cases} runs, worst max relative error {:.2e} (at {} channels)",
            worst.0, worst.1
        );
    }
}

#[test]
fn fallback_cases_take_the_direct_path_and_match_reference() {
    let base = |c, k, kernel, padding| Conv2dDesc { has_bias: true, ..conv(c, k, kernel, padding) };
    let p1 = Padding::uniform(1);
    let cases = [
        ("stride 2", Conv2dDesc { stride: [2, 2], ..base(8, 12, 3, p1) }),
        ("stride (2,1)", Conv2dDesc { stride: [2, 1], ..base(8, 12, 3, p1) }),
        ("dilation 2", Conv2dDesc { dilation: [2, 2], ..base(8, 12, 3, Padding::uniform(2)) }),
        ("groups 2", Conv2dDesc { groups: 2, ..base(8, 12, 3, p1) }),
        ("depthwise", Conv2dDesc { groups: 8, ..base(8, 8, 3, p1) }),
        ("depthwise ×2", Conv2dDesc { groups: 8, ..base(8, 16, 3, p1) }),
        ("depthwise 5×5 stride 2", Conv2dDesc { groups: 12, stride: [2, 2], ..base(12, 24, 5, p1) }),
        ("1×1", base(8, 12, 1, Padding::uniform(0))),
        ("1×1 64 channels", base(64, 16, 1, Padding::uniform(0))),
        ("7×7", base(8, 12, 7, Padding::uniform(3))),
        ("5×5 stride 2", Conv2dDesc { stride: [2, 2], ..base(8, 12, 5, Padding::uniform(2)) }),
        ("3×1", Conv2dDesc { kernel: [3, 1], ..base(8, 12, 3, pad(1, 1, 0, 0)) }),
        ("asymmetric stride 2", Conv2dDesc { stride: [2, 2], ..base(5, 16, 3, pad(0, 2, 1, 0)) }),
        ("3×3 stride 2, 96 channels", Conv2dDesc { stride: [2, 2], ..base(96, 8, 3, p1) }),
    ];
    for (i, (name, d)) in cases.iter().enumerate() {
        let first = Tensors::new(d, [1, d.in_channels, 8, 8], i as u64);
        let conv = first.conv(d);
        for (j, [n, h, w]) in [[2, 13, 17], [1, 8, 8], [3, 4, 9]].into_iter().enumerate() {
            let shape = [n, d.in_channels, h, w];
            if d.output_hw(h, w).is_err() {
                continue;
            }
            assert_eq!(conv.plan(shape).unwrap().path, Path::Direct, "{name}: {d:?}");
            // The same prepared weights on each shape, new input each time.
            let x = data(shape.iter().product(), 100 * i as u64 + j as u64);
            let t = Tensors { x, w: first.w.clone(), b: first.b.clone(), r: None };
            let err = max_rel_error(&t.run(&conv, shape), &t.reference(d, shape));
            assert_close(err, TOL, d, shape);
            let forced = Conv2dDesc { algo: Algo::Winograd, ..d.clone() };
            let r = t.conv(&forced).plan(shape);
            assert!(matches!(r, Err(Error::Unsupported(_))), "{name} forced to Winograd gave {r:?}");
        }
    }
}

#[test]
fn f16_storage_matches_reference() {
    let round = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x).to_f32()).collect::<Vec<_>>();
    let to_f16 = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
    let base = Conv2dDesc {
        dtype: DType::F16,
        has_bias: true,
        residual: true,
        activation: Activation::Silu,
        ..conv(24, 16, 3, Padding::uniform(1))
    };
    let cases = [
        ("F(4,3)", wino(4, 3, TileLayout::Auto, base.clone())),
        ("F(2,3)", wino(2, 3, TileLayout::Auto, base.clone())),
        ("F(6,3)", wino(6, 3, TileLayout::Auto, base.clone())),
        ("F(2,5)", Conv2dDesc { padding: Padding::uniform(2), ..wino(2, 5, TileLayout::Auto, base.clone()) }),
        ("direct", Conv2dDesc { algo: Algo::Direct, ..base.clone() }),
        ("direct stride 2", Conv2dDesc { stride: [2, 2], ..base.clone() }),
        ("F(2,3) fused", Conv2dDesc { fuse: Some(true), ..wino(2, 3, TileLayout::Auto, base.clone()) }),
        ("F(4,3) fused", Conv2dDesc { fuse: Some(true), ..wino(4, 3, TileLayout::Auto, base.clone()) }),
    ];
    for (name, d) in &cases {
        // An even and an odd element count (f16 pairs share a 32-bit word); width 16 takes
        // F(4,3)'s vec4 row stores.
        for (n, h, w) in [(2, 15, 18), (3, 5, 7), (1, 9, 16)] {
            let shape = [n, 24, h, w];
            let t = Tensors::new(d, shape, 7);
            let t = Tensors { x: round(&t.x), r: t.r.as_deref().map(round), ..t };
            let want = t.reference(d, shape);
            let conv = t.conv(d);
            let got = conv.run(&to_f16(&t.x), shape, t.r.as_deref().map(to_f16).as_deref());
            let got: Vec<f32> = got.unwrap().into_iter().map(f32::from).collect();
            let err = max_rel_error(&got, &want);
            eprintln!("f16 {name} on {shape:?}: max relative error {err:.2e}");
            assert_close(err, F16_TOL, d, shape);
            let wrong_type = conv.run(&t.x, shape, t.r.as_deref());
            assert!(
                matches!(wrong_type, Err(Error::InvalidDescriptor(_))),
                "f32 data on f16: {wrong_type:?}"
            );
        }
    }
}

#[test]
fn nhwc_and_hwio_match_reference_in_the_same_format() {
    let base = Conv2dDesc {
        has_bias: true,
        residual: true,
        activation: Activation::Relu,
        ..conv(6, 10, 3, pad(1, 2, 0, 1))
    };
    let mut cases: Vec<Conv2dDesc> =
        WINOGRAD_TILES.iter().map(|&(m, r)| wino(m, r, TileLayout::Auto, base.clone())).collect();
    cases.push(Conv2dDesc { algo: Algo::Direct, ..base.clone() });
    cases.push(Conv2dDesc { kernel: [3, 2], stride: [2, 1], dilation: [1, 2], groups: 2, ..base.clone() });
    for (i, nchw) in cases.iter().enumerate() {
        for weight_format in [WeightFormat::Oihw, WeightFormat::Hwio] {
            let shape = [2, 6, 11, 9];
            let out = out_shape(nchw, shape);
            let t = Tensors::new(nchw, shape, 20 + i as u64);
            let want_nchw = t.reference(nchw, shape);
            let d = Conv2dDesc { data_format: DataFormat::Nhwc, weight_format, ..nchw.clone() };
            let [kh, kw] = d.kernel;
            let w_dims = [d.out_channels, d.in_channels / d.groups, kh, kw];
            let t = Tensors {
                x: nchw_to_nhwc(&t.x, shape),
                w: if weight_format == WeightFormat::Hwio { oihw_to_hwio(&t.w, w_dims) } else { t.w },
                r: t.r.as_deref().map(|r| nchw_to_nhwc(r, out)),
                b: t.b,
            };
            let want = t.reference(&d, shape);
            assert!(want == nchw_to_nhwc(&want_nchw, out), "reference disagrees with itself: {d:?}");
            let err = max_rel_error(&t.run(&t.conv(&d), shape), &want);
            assert_close(err, TOL, &d, shape);
        }
    }
}

#[test]
fn vector_access_equals_element_access_bit_for_bit() {
    // NCHW with even widths takes vec2 or vec4 input loads and output stores; the same data in
    // NHWC takes element access; the arithmetic is the same, so the outputs must be identical.
    let paddings = [Padding::uniform(1), pad(0, 1, 0, 2), pad(2, 0, 2, 1), pad(1, 2, 3, 0)];
    for (m, padding) in [2, 4, 6].into_iter().flat_map(|m| paddings.map(|p| (m, p))) {
        let base = Conv2dDesc {
            has_bias: true,
            residual: true,
            activation: Activation::Relu6,
            ..wino(m, 3, TileLayout::Auto, conv(8, 12, 3, padding))
        };
        for shape in [[2, 8, 13, 8], [1, 8, 4, 20], [3, 8, 9, 14], [1, 8, 5, 7], [2, 8, 3, 2]] {
            if base.output_hw(shape[2], shape[3]).is_err() {
                continue;
            }
            let out = out_shape(&base, shape);
            let t = Tensors::new(&base, shape, 40);
            let nchw = t.run(&t.conv(&base), shape);
            assert_close(max_rel_error(&nchw, &t.reference(&base, shape)), TOL, &base, shape);
            let d = Conv2dDesc { data_format: DataFormat::Nhwc, ..base.clone() };
            let t = Tensors {
                x: nchw_to_nhwc(&t.x, shape),
                r: t.r.as_deref().map(|r| nchw_to_nhwc(r, out)),
                ..t
            };
            let nhwc = t.run(&t.conv(&d), shape);
            assert!(
                bits(&nhwc) == bits(&nchw_to_nhwc(&nchw, out)),
                "F({m},3) {padding:?} differs on {shape:?}"
            );
        }
    }
}

#[test]
fn every_epilogue_matches_reference() {
    let paths = [
        Conv2dDesc { algo: Algo::Direct, ..conv(16, 9, 3, Padding::uniform(1)) },
        wino(2, 3, TileLayout::Auto, conv(16, 9, 3, Padding::uniform(1))),
        wino(4, 3, TileLayout::Auto, conv(16, 9, 3, Padding::uniform(1))),
        wino(2, 5, TileLayout::Auto, conv(16, 9, 5, Padding::uniform(2))),
        Conv2dDesc { fuse: Some(true), ..wino(2, 3, TileLayout::Auto, conv(16, 9, 3, Padding::uniform(1))) },
        Conv2dDesc { fuse: Some(true), ..wino(4, 3, TileLayout::Auto, conv(16, 9, 3, Padding::uniform(1))) },
    ];
    // Output widths 6 (element stores) and 12 (F(4,3) stores whole vec4 rows).
    for (base, shape) in paths.iter().flat_map(|p| [(p, [2, 16, 10, 6]), (p, [2, 16, 7, 12])]) {
        for activation in ACTIVATIONS {
            for (has_bias, residual) in [(false, false), (true, false), (false, true), (true, true)] {
                let d = Conv2dDesc { activation, has_bias, residual, ..base.clone() };
                let t = Tensors::new(&d, shape, 5);
                let want = t.reference(&d, shape);
                if activation == Activation::Relu6 {
                    // The data must reach both ends of the clamp for the check to mean anything.
                    assert!(want.contains(&6.0) && want.contains(&0.0), "relu6 clamp not exercised");
                }
                let err = max_rel_error(&t.run(&t.conv(&d), shape), &want);
                assert_close(err, TOL, &d, shape);
            }
        }
    }
}

#[test]
fn prepared_weights_serve_every_shape_in_any_order() {
    let base = Conv2dDesc { has_bias: true, residual: true, ..conv(12, 20, 3, Padding::uniform(1)) };
    let descs = [
        base.clone(),
        wino(4, 3, TileLayout::R6_6_16, base.clone()),
        wino(6, 3, TileLayout::R16_6_6, base.clone()),
        Conv2dDesc { algo: Algo::Direct, ..base.clone() },
    ];
    let shapes =
        [[1, 12, 8, 8], [3, 12, 20, 9], [1, 12, 8, 8], [2, 12, 33, 40], [4, 12, 1, 1], [3, 12, 20, 9]];
    for d in &descs {
        let w = Tensors::new(d, shapes[0], 1);
        let conv = w.conv(d);
        let mut seen: Vec<([usize; 4], Vec<u32>)> = Vec::new();
        for shape in shapes {
            // The same seed for a repeated shape, so its result must repeat bit for bit.
            let seed = 10 + shape.iter().sum::<usize>() as u64;
            let t = Tensors { w: w.w.clone(), b: w.b.clone(), ..Tensors::new(d, shape, seed) };
            let got = t.run(&conv, shape);
            let err = max_rel_error(&got, &t.reference(d, shape));
            assert_close(err, TOL, d, shape);
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == shape) {
                assert!(*first == bits(&got), "{d:?} on {shape:?}: a repeated call differs");
            }
            seen.push((shape, bits(&got)));
        }
    }
}

#[test]
fn caller_buffers_chain_three_convs_in_one_encoder() {
    // conv1: Winograd F(4,3) 8 → 16 + bias + ReLU; conv2: Winograd F(2,3) 16 → 8 + the block input
    // as residual + ReLU (a ResNet block); conv3: direct, stride 2, 8 → 4, reading conv2's output.
    let shape = [2, 8, 12, 10];
    let p1 = Padding::uniform(1);
    let d1 = Conv2dDesc {
        has_bias: true,
        activation: Activation::Relu,
        ..wino(4, 3, TileLayout::Auto, conv(8, 16, 3, p1))
    };
    let d2 = Conv2dDesc {
        residual: true,
        activation: Activation::Relu,
        ..wino(2, 3, TileLayout::Auto, conv(16, 8, 3, p1))
    };
    let d3 = Conv2dDesc { algo: Algo::Direct, stride: [2, 2], ..conv(8, 4, 3, p1) };
    let t1 = Tensors::new(&d1, shape, 31);
    let (w2, w3) = (data(d2.weight_len(), 32), data(d3.weight_len(), 33));
    let conv1 = t1.conv(&d1);
    let conv2 = Conv2d::new(ctx(), d2.clone(), &w2, None).unwrap();
    let conv3 = Conv2d::new(ctx(), d3.clone(), &w3, None).unwrap();
    let s2 = conv1.output_shape(shape).unwrap();
    let s3 = conv2.output_shape(s2).unwrap();
    let s4 = conv3.output_shape(s3).unwrap();
    assert_eq!((s2, s3, s4), ([2, 16, 12, 10], shape, [2, 4, 6, 5]));
    let len = |s: [usize; 4]| s.iter().product::<usize>();
    let x = gpu_buffer(len(shape), Some(&t1.x));
    let (y1, y2, y3) = (gpu_buffer(len(s2), None), gpu_buffer(len(s3), None), gpu_buffer(len(s4), None));
    let record = |enc: &mut wgpu::CommandEncoder| {
        conv1.encode(enc, shape, &x, &y1, None).unwrap();
        conv2.encode(enc, s2, &y1, &y2, Some(&x)).unwrap();
        conv3.encode(enc, s3, &y2, &y3, None).unwrap();
    };
    let got = encode_and_read(record, &y3);
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    let r1 = to_f32(t1.reference(&d1, shape));
    let r2 = to_f32(conv2d_f64(&d2, &r1, s2, &w2, None, Some(&t1.x)).unwrap());
    let want = conv2d_f64(&d3, &r2, s3, &w3, None, None).unwrap();
    let err = max_rel_error(&got, &want);
    eprintln!("three chained convs: max relative error {err:.2e}");
    assert!(err <= TOL, "chain on {shape:?}: max relative error {err:.3e}");
    // Encoding again on the same buffers (cached bind groups) gives the same bits.
    assert!(bits(&encode_and_read(record, &y3)) == bits(&got), "second encode differs");
}

#[test]
fn options_change_the_path() {
    let shape = [1, 16, 32, 32];
    let base = conv(16, 16, 3, Padding::uniform(1));
    let t = Tensors::new(&base, shape, 3);
    let path = |d: &Conv2dDesc| t.conv(d).plan(shape);
    assert!(matches!(path(&base), Ok(Plan { path: Path::Winograd { r: 3, .. }, .. })));
    assert_eq!(path(&Conv2dDesc { algo: Algo::Direct, ..base.clone() }).unwrap().path, Path::Direct);
    // Auto leaves problems with C·K < 64 to the direct kernel.
    let small = conv(4, 8, 3, Padding::uniform(1));
    let plan = Tensors::new(&small, [1, 4, 32, 32], 3).conv(&small).plan([1, 4, 32, 32]).unwrap();
    assert_eq!(plan.path, Path::Direct);
    // ... unless a Winograd option is given, which auto then honours.
    for d in [
        Conv2dDesc { tile: Some(4), ..small.clone() },
        Conv2dDesc { fuse: Some(true), ..small.clone() },
        Conv2dDesc { layout: TileLayout::R6_6_16, ..small.clone() },
    ] {
        let got = Tensors::new(&d, [1, 4, 32, 32], 3).conv(&d).plan([1, 4, 32, 32]).unwrap().path;
        assert!(matches!(got, Path::Winograd { .. }), "{d:?}: planned {got:?}");
    }
    // Fusion: forced either way, and both it and a product block is an error.
    for (fuse, fused) in [(Some(true), true), (Some(false), false)] {
        let d = Conv2dDesc { fuse, ..base.clone() };
        let got = t.conv(&d).plan(shape).unwrap().path;
        assert!(
            matches!(got, Path::Winograd { product, .. } if (product == Product::Fused) == fused),
            "{d:?}: planned {got:?}"
        );
    }
    let both =
        Conv2dDesc { fuse: Some(true), gemm: Some(wgpu_winograd::codegen::GemmTile::ALL[0]), ..base.clone() };
    assert!(matches!(t.conv(&both).plan(shape), Err(Error::InvalidDescriptor(_))));
    for (m, r) in WINOGRAD_TILES {
        for layout in LAYOUTS {
            let d = wino(m, r, layout, Conv2dDesc { padding: Padding::uniform(r / 2), ..base.clone() });
            let t = Tensors::new(&d, shape, 4);
            let got = t.conv(&d).plan(shape).unwrap().path;
            assert!(
                matches!(got, Path::Winograd { m: gm, r: gr, layout: gl, .. } if (gm, gr, gl) == (m, r, layout)),
                "{d:?}: planned {got:?}"
            );
        }
    }
    let forced = Conv2dDesc { algo: Algo::Winograd, ..base.clone() };
    let unsupported = [
        Conv2dDesc { stride: [2, 2], ..forced.clone() },
        Conv2dDesc { dilation: [2, 2], ..forced.clone() },
        Conv2dDesc { groups: 2, ..forced.clone() },
        Conv2dDesc { tile: Some(3), ..forced.clone() },
        wino(4, 5, TileLayout::Auto, base.clone()),
        // Winograd options under auto on a convolution Winograd cannot do.
        Conv2dDesc { stride: [2, 2], tile: Some(4), ..base.clone() },
        Conv2dDesc { groups: 2, fuse: Some(true), ..base.clone() },
    ];
    for d in &unsupported {
        let t = Tensors::new(d, shape, 5);
        let conv = t.conv(d);
        assert!(matches!(conv.plan(shape), Err(Error::Unsupported(_))), "{d:?}: {:?}", conv.plan(shape));
        let run = conv.run(&t.x, shape, None);
        assert!(matches!(run, Err(Error::Unsupported(_))), "{d:?}: run gave {run:?}");
    }
    // The options reach the kernels: each path rounds differently, and all match the reference.
    let variants = [
        Conv2dDesc { algo: Algo::Direct, ..base.clone() },
        wino(2, 3, TileLayout::Auto, base.clone()),
        wino(4, 3, TileLayout::Auto, base.clone()),
        wino(6, 3, TileLayout::Auto, base.clone()),
    ];
    let want = t.reference(&base, shape);
    let outs: Vec<Vec<u32>> = variants
        .iter()
        .map(|d| {
            let got = t.run(&t.conv(d), shape);
            assert_close(max_rel_error(&got, &want), TOL, d, shape);
            bits(&got)
        })
        .collect();
    for i in 0..outs.len() {
        for j in i + 1..outs.len() {
            assert!(outs[i] != outs[j], "{:?} and {:?} gave identical bits", variants[i], variants[j]);
        }
    }
}

#[test]
fn f43_error_by_channel_count() {
    for c in [16, 64, 256, 512] {
        for (m, r) in WINOGRAD_TILES.into_iter().filter(|t| t.1 == 3) {
            let d = wino(m, r, TileLayout::Auto, conv(c, 16, 3, Padding::uniform(1)));
            let err = check(&d, [1, c, 16, 16], c as u64);
            eprintln!("F({m},{r}), {c} input channels → 16, [1, {c}, 16, 16]: max relative error {err:.2e}");
            assert_close(err, TOL, &d, [1, c, 16, 16]);
        }
    }
}
