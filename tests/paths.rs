//! Every path against the f64 CPU reference (error = max |gpu − ref| / max |ref|): each Winograd
//! tile in both layouts, the direct fallbacks, f16 storage, NHWC/HWIO, every epilogue, prepared
//! weights reused across shapes, caller buffers chained in one encoder, and the options that must
//! change the plan.

mod common;
use common::{bits, ctx, nchw_to_nhwc, oihw_to_hwio, out_shape, tensor, Tensors};
use wgpu_winograd::reference::{conv2d_f64, max_rel_error};
use wgpu_winograd::{
    Activation, Algo, Choice, Conv2d, Conv2dDesc, DType, DataFormat, Engine, Error, GemmBlock, Padding, Path,
    Plan, Product, TileLayout, WeightFormat, WinogradKernels, WINOGRAD_TILES,
};

/// Every f32 tile's measured error stays well inside this at up to 512 channels: on lavapipe,
/// F(6,3) 1.4e-5 at 256 channels and 2.2e-5 at 512 (F(4,3): 1.6e-6, 4.1e-6).
const F43_ACCURACY: f64 = 1e-4;
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

/// Forced Winograd F(m, r) in `layout` (`None`: the planner's choice).
fn wino(m: usize, r: usize, layout: Option<TileLayout>, d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { algo: Some(Algo::Winograd), tile: Some(m), layout, kernel: [r, r], ..d }
}

/// Runs `d` on deterministic data; returns the error against the reference.
fn check(d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> f64 {
    common::check(d, shape, seed).1
}

/// Fails unless `err` is within the reference tolerance of the plan `conv` takes on `shape`.
fn assert_close(err: f64, conv: &Conv2d, shape: [usize; 4]) {
    let tol = common::tolerance(conv, shape);
    let plan = conv.plan(shape).unwrap();
    assert!(err <= tol, "{:?} on {shape:?} via {plan}: max relative error {err:.3e} > {tol:e}", conv.desc());
}

/// Runs `d` and checks it against the reference within its tolerance; returns the output.
fn run_checked(t: &Tensors, d: &Conv2dDesc, shape: [usize; 4]) -> Vec<f32> {
    let conv = t.conv(d);
    let got = t.run(&conv, shape);
    assert_close(max_rel_error(&got, &t.reference(d, shape)), &conv, shape);
    got
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
                let product = if fuse { Product::Fused } else { Product::Separate };
                let outs = LAYOUTS.map(|layout| {
                    let d = Conv2dDesc { product: Some(product), ..wino(m, r, Some(layout), base.clone()) };
                    let conv = t.conv(&d);
                    let path = conv.plan(shape).unwrap().path;
                    assert!(
                        matches!(path, Path::Core { choice: Choice::Winograd { m: pm, layout: pl, kernels }, kernel: [pr, _], .. }
                            if (pm, pr, pl) == (m, r, layout) && (kernels == WinogradKernels::Fused) == fuse),
                        "{d:?} on {shape:?} planned {path}"
                    );
                    let got = t.run(&conv, shape);
                    let err = max_rel_error(&got, &want);
                    assert_close(err, &conv, shape);
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

/// Convolutions Winograd cannot do: automatic dispatch takes the GEMM, depthwise or direct path
/// (by the ladder's rules: depthwise for groups = in_channels, direct below 64 channel pairs,
/// GEMM otherwise); that path and the forced direct path both match the reference, prepared
/// weights serve several shapes, and forcing Winograd is refused when the convolution is made.
#[test]
fn non_winograd_cases_take_the_ladders_path_and_match_reference() {
    let base = |c, k, kernel, padding| Conv2dDesc { has_bias: true, ..conv(c, k, kernel, padding) };
    let p1 = Padding::uniform(1);
    let (gemm, dw, direct) = (Algo::Gemm, Algo::Depthwise, Algo::Direct);
    let cases = [
        ("stride 2", gemm, Conv2dDesc { stride: [2, 2], ..base(8, 12, 3, p1) }),
        ("stride (2,1)", gemm, Conv2dDesc { stride: [2, 1], ..base(8, 12, 3, p1) }),
        ("dilation 2", gemm, Conv2dDesc { dilation: [2, 2], ..base(8, 12, 3, Padding::uniform(2)) }),
        ("groups 2 (24 channel pairs)", direct, Conv2dDesc { groups: 2, ..base(8, 12, 3, p1) }),
        ("groups 2 (128 channel pairs)", gemm, Conv2dDesc { groups: 2, ..base(16, 32, 3, p1) }),
        ("depthwise", dw, Conv2dDesc { groups: 8, ..base(8, 8, 3, p1) }),
        ("depthwise ×2", dw, Conv2dDesc { groups: 8, ..base(8, 16, 3, p1) }),
        ("depthwise 5×5 stride 2", dw, Conv2dDesc { groups: 12, stride: [2, 2], ..base(12, 24, 5, p1) }),
        ("1×1", gemm, base(8, 12, 1, Padding::uniform(0))),
        ("1×1 64 channels", gemm, base(64, 16, 1, Padding::uniform(0))),
        ("1×1 tiny", direct, base(4, 4, 1, Padding::uniform(0))),
        ("7×7", gemm, base(8, 12, 7, Padding::uniform(3))),
        ("5×5 stride 2", gemm, Conv2dDesc { stride: [2, 2], ..base(8, 12, 5, Padding::uniform(2)) }),
        ("3×1", gemm, Conv2dDesc { kernel: [3, 1], ..base(8, 12, 3, pad(1, 1, 0, 0)) }),
        ("asymmetric stride 2", gemm, Conv2dDesc { stride: [2, 2], ..base(5, 16, 3, pad(0, 2, 1, 0)) }),
        ("3×3 stride 2, 96 channels", gemm, Conv2dDesc { stride: [2, 2], ..base(96, 8, 3, p1) }),
        ("3×3 stride 2, 3 → 4", direct, Conv2dDesc { stride: [2, 2], ..base(3, 4, 3, p1) }),
    ];
    for (i, (name, algo, d)) in cases.iter().enumerate() {
        let first = Tensors::new(d, [1, d.in_channels, 8, 8], i as u64);
        let forced = Conv2dDesc { algo: Some(Algo::Direct), ..d.clone() };
        let (auto, direct) = (first.conv(d), first.conv(&forced));
        for (j, [n, h, w]) in [[2, 13, 17], [1, 8, 8], [3, 4, 9]].into_iter().enumerate() {
            let shape = [n, d.in_channels, h, w];
            if d.output_hw(h, w).is_err() {
                continue;
            }
            let plan = auto.plan(shape).unwrap();
            assert_eq!(plan.path.algo(), *algo, "{name} on {shape:?}: planned {plan}");
            // The same prepared weights on each shape, new input each time.
            let x = common::data(shape.iter().product(), 100 * i as u64 + j as u64);
            let t = Tensors { x, ..first.clone() };
            let want = t.reference(d, shape);
            for conv in [&auto, &direct] {
                let got = t.run(conv, shape);
                let err = max_rel_error(&got, &want);
                let tol = common::tolerance(conv, shape);
                assert!(
                    err <= tol,
                    "{name} on {shape:?} via {}: error {err:.3e} > {tol:e}",
                    conv.plan(shape).unwrap()
                );
            }
        }
        // Forced to Winograd: refused unless only groups kept the ladder off it (grouped
        // Winograd runs one product per group; `algorithms::grouped_winograd_matches_reference`).
        let r = first.conv_on(ctx(), &Conv2dDesc { algo: Some(Algo::Winograd), ..d.clone() });
        if d.winograd_applies() {
            assert!(r.is_ok(), "{name} forced to grouped Winograd: {:?}", r.err());
        } else {
            assert!(matches!(r, Err(Error::Unsupported(_))), "{name} forced to Winograd: {:?}", r.err());
        }
    }
}

#[test]
fn f16_storage_matches_reference() {
    let base = Conv2dDesc {
        dtype: DType::F16,
        has_bias: true,
        residual: true,
        activation: Activation::Silu,
        ..conv(24, 16, 3, Padding::uniform(1))
    };
    let cases = [
        ("F(4,3)", wino(4, 3, None, base.clone())),
        ("F(2,3)", wino(2, 3, None, base.clone())),
        ("F(6,3)", wino(6, 3, None, base.clone())),
        ("F(2,5)", Conv2dDesc { padding: Padding::uniform(2), ..wino(2, 5, None, base.clone()) }),
        ("direct", Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() }),
        ("auto stride 2", Conv2dDesc { stride: [2, 2], ..base.clone() }),
        ("F(2,3) fused", Conv2dDesc { product: Some(Product::Fused), ..wino(2, 3, None, base.clone()) }),
        ("F(4,3) fused", Conv2dDesc { product: Some(Product::Fused), ..wino(4, 3, None, base.clone()) }),
    ];
    for (name, d) in &cases {
        // An even and an odd element count (f16 pairs share a 32-bit word); width 16 takes
        // F(4,3)'s vec4 row stores.
        for (n, h, w) in [(2, 15, 18), (3, 5, 7), (1, 9, 16)] {
            let shape = [n, 24, h, w];
            let t = Tensors::new(d, shape, 7).rounded_to_f16();
            let want = t.reference(d, shape);
            let conv = t.conv(d);
            let err = max_rel_error(&t.run_f16(&conv, shape), &want);
            eprintln!(
                "f16 {name} on {shape:?} via {}: max relative error {err:.2e}",
                conv.plan(shape).unwrap()
            );
            assert_close(err, &conv, shape);
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
        WINOGRAD_TILES.iter().map(|&(m, r)| wino(m, r, None, base.clone())).collect();
    cases.push(Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() });
    let odd = Conv2dDesc { kernel: [3, 2], stride: [2, 1], dilation: [1, 2], groups: 2, ..base.clone() };
    cases.push(Conv2dDesc { algo: Some(Algo::Direct), ..odd.clone() });
    cases.push(Conv2dDesc { algo: Some(Algo::Gemm), ..odd });
    cases.push(Conv2dDesc { algo: Some(Algo::Gemm), ..base.clone() });
    cases.push(Conv2dDesc { algo: Some(Algo::Depthwise), groups: 6, out_channels: 12, ..base.clone() });
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
                x: nchw_to_nhwc(&t.x, shape).unwrap(),
                w: if weight_format == WeightFormat::Hwio {
                    oihw_to_hwio(&t.w, w_dims).unwrap()
                } else {
                    t.w
                },
                r: t.r.as_deref().map(|r| nchw_to_nhwc(r, out).unwrap()),
                b: t.b,
            };
            let want = t.reference(&d, shape);
            assert!(want == nchw_to_nhwc(&want_nchw, out).unwrap(), "reference disagrees with itself: {d:?}");
            let conv = t.conv(&d);
            assert_close(max_rel_error(&t.run(&conv, shape), &want), &conv, shape);
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
            ..wino(m, 3, None, conv(8, 12, 3, padding))
        };
        for shape in [[2, 8, 13, 8], [1, 8, 4, 20], [3, 8, 9, 14], [1, 8, 5, 7], [2, 8, 3, 2]] {
            if base.output_hw(shape[2], shape[3]).is_err() {
                continue;
            }
            let out = out_shape(&base, shape);
            let t = Tensors::new(&base, shape, 40);
            let nchw = run_checked(&t, &base, shape);
            let d = Conv2dDesc { data_format: DataFormat::Nhwc, ..base.clone() };
            let t = Tensors {
                x: nchw_to_nhwc(&t.x, shape).unwrap(),
                r: t.r.as_deref().map(|r| nchw_to_nhwc(r, out).unwrap()),
                ..t
            };
            let nhwc = t.run(&t.conv(&d), shape);
            assert!(
                bits(&nhwc) == bits(&nchw_to_nhwc(&nchw, out).unwrap()),
                "F({m},3) {padding:?} differs on {shape:?}"
            );
        }
    }
}

#[test]
fn every_epilogue_matches_reference() {
    let paths = [
        Conv2dDesc { algo: Some(Algo::Direct), ..conv(16, 9, 3, Padding::uniform(1)) },
        wino(2, 3, None, conv(16, 9, 3, Padding::uniform(1))),
        wino(4, 3, None, conv(16, 9, 3, Padding::uniform(1))),
        wino(2, 5, None, conv(16, 9, 5, Padding::uniform(2))),
        Conv2dDesc { product: Some(Product::Fused), ..wino(2, 3, None, conv(16, 9, 3, Padding::uniform(1))) },
        Conv2dDesc { product: Some(Product::Fused), ..wino(4, 3, None, conv(16, 9, 3, Padding::uniform(1))) },
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
                let conv = t.conv(&d);
                assert_close(max_rel_error(&t.run(&conv, shape), &want), &conv, shape);
            }
        }
    }
}

#[test]
fn prepared_weights_serve_every_shape_in_any_order() {
    let base = Conv2dDesc { has_bias: true, residual: true, ..conv(12, 20, 3, Padding::uniform(1)) };
    let descs = [
        base.clone(),
        wino(4, 3, Some(TileLayout::R6_6_16), base.clone()),
        wino(6, 3, Some(TileLayout::R16_6_6), base.clone()),
        Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() },
        Conv2dDesc { algo: Some(Algo::Gemm), ..base.clone() },
        Conv2dDesc { algo: Some(Algo::Depthwise), groups: 12, out_channels: 24, ..base.clone() },
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
            assert_close(max_rel_error(&got, &t.reference(d, shape)), &conv, shape);
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
    // as residual + ReLU (a ResNet block); conv3: implicit GEMM, stride 2, 8 → 4, reading conv2's
    // output; conv4: depthwise 4 → 4 with a bias.
    let shape = [2, 8, 12, 10];
    let p1 = Padding::uniform(1);
    let d1 =
        Conv2dDesc { has_bias: true, activation: Activation::Relu, ..wino(4, 3, None, conv(8, 16, 3, p1)) };
    let d2 =
        Conv2dDesc { residual: true, activation: Activation::Relu, ..wino(2, 3, None, conv(16, 8, 3, p1)) };
    let d3 = Conv2dDesc { algo: Some(Algo::Gemm), stride: [2, 2], ..conv(8, 4, 3, p1) };
    let d4 = Conv2dDesc { algo: Some(Algo::Depthwise), groups: 4, has_bias: true, ..conv(4, 4, 3, p1) };
    let t1 = Tensors::new(&d1, shape, 31);
    let (t2, t3, t4) =
        (Tensors::new(&d2, shape, 32), Tensors::new(&d3, shape, 33), Tensors::new(&d4, [2, 4, 6, 5], 34));
    let (conv1, conv2, conv3, conv4) = (t1.conv(&d1), t2.conv(&d2), t3.conv(&d3), t4.conv(&d4));
    let s2 = conv1.output_shape(shape).unwrap();
    let s3 = conv2.output_shape(s2).unwrap();
    let s4 = conv3.output_shape(s3).unwrap();
    let s5 = conv4.output_shape(s4).unwrap();
    assert_eq!((s2, s3, s4, s5), ([2, 16, 12, 10], shape, [2, 4, 6, 5], [2, 4, 6, 5]));
    let len = |s: [usize; 4]| s.iter().product::<usize>();
    let x = tensor(ctx(), len(shape), Some(&t1.x));
    let [y1, y2, y3, y4] = [s2, s3, s4, s5].map(|s| tensor(ctx(), len(s), None));
    let record = |enc: &mut wgpu::CommandEncoder| {
        conv1.encode(enc, shape, &x, &y1, None).unwrap();
        conv2.encode(enc, s2, &y1, &y2, Some(&x)).unwrap();
        conv3.encode(enc, s3, &y2, &y3, None).unwrap();
        conv4.encode(enc, s4, &y3, &y4, None).unwrap();
    };
    let got = common::encode_and_read(record, &y4);
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<_>>();
    let r1 = to_f32(t1.reference(&d1, shape));
    let r2 = to_f32(conv2d_f64(&d2, &r1, s2, &t2.w, None, Some(&t1.x)).unwrap());
    let r3 = to_f32(conv2d_f64(&d3, &r2, s3, &t3.w, None, None).unwrap());
    let want = conv2d_f64(&d4, &r3, s4, &t4.w, t4.b.as_deref(), None).unwrap();
    let err = max_rel_error(&got, &want);
    eprintln!("four chained convs: max relative error {err:.2e}");
    // Each stage's rounding feeds the next: the sum of the four tolerances.
    let tol = [(&conv1, shape), (&conv2, s2), (&conv3, s3), (&conv4, s4)]
        .iter()
        .map(|(c, s)| common::tolerance(c, *s))
        .sum::<f64>();
    assert!(err <= tol, "chain on {shape:?}: max relative error {err:.3e} > {tol:e}");
    // Encoding again on the same buffers gives the same bits.
    assert!(bits(&common::encode_and_read(record, &y4)) == bits(&got), "second encode differs");
    // An empty batch records nothing and leaves the output alone.
    let untouched =
        common::encode_and_read(|enc| conv4.encode(enc, [0, 4, 6, 5], &y3, &y4, None).unwrap(), &y4);
    assert!(bits(&untouched) == bits(&got), "an empty batch wrote to the output");
}

#[test]
fn options_change_the_path() {
    let shape = [1, 16, 32, 32];
    let base = conv(16, 16, 3, Padding::uniform(1));
    let t = Tensors::new(&base, shape, 3);
    let path = |d: &Conv2dDesc| t.conv(d).plan(shape);
    assert!(matches!(
        path(&base),
        Ok(Plan { path: Path::Core { choice: Choice::Winograd { .. }, kernel: [3, _], .. }, .. })
    ));
    assert_eq!(path(&Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() }).unwrap().path, Path::Direct);
    // Automatic dispatch leaves problems with C·K < 64 to the direct kernel.
    let small = conv(4, 8, 3, Padding::uniform(1));
    let plan = Tensors::new(&small, [1, 4, 32, 32], 3).conv(&small).plan([1, 4, 32, 32]).unwrap();
    assert_eq!(plan.path, Path::Direct);
    // ... unless a Winograd option is given, which automatic dispatch then honours.
    for d in [
        Conv2dDesc { tile: Some(4), ..small.clone() },
        Conv2dDesc { product: Some(Product::Fused), ..small.clone() },
        Conv2dDesc { product: Some(Product::Separate), ..small.clone() },
        Conv2dDesc { layout: Some(TileLayout::R6_6_16), ..small.clone() },
    ] {
        let got = Tensors::new(&d, [1, 4, 32, 32], 3).conv(&d).plan([1, 4, 32, 32]).unwrap().path;
        assert!(matches!(got.choice(), Some(Choice::Winograd { .. })), "{d:?}: planned {got}");
    }
    // The product: fused, separate with the planner's block, or separate with a forced block.
    let block = GemmBlock::K32;
    for (product, want) in [
        (Product::Fused, Some(WinogradKernels::Fused)),
        (Product::Separate, None),
        (
            Product::Engine(Engine::Registers(block)),
            Some(WinogradKernels::Separate(Engine::Registers(block))),
        ),
    ] {
        let d = Conv2dDesc { product: Some(product), ..base.clone() };
        let got = t.conv(&d).plan(shape).unwrap().path;
        let Path::Core { choice: Choice::Winograd { kernels, .. }, .. } = got else {
            panic!("{d:?}: planned {got}")
        };
        match want {
            Some(want) => assert_eq!(kernels, want, "{d:?}"),
            None => assert!(
                matches!(kernels, WinogradKernels::Separate(Engine::Registers(_))),
                "{d:?}: planned {got}"
            ),
        }
    }
    // A forced block on the GEMM path is that path's block; Winograd products on it are refused.
    let gemm = Conv2dDesc {
        algo: Some(Algo::Gemm),
        product: Some(Product::Engine(Engine::Registers(block))),
        ..base.clone()
    };
    assert_eq!(
        t.conv(&gemm).plan(shape).unwrap().path.choice(),
        Some(Choice::Gemm(Engine::Registers(block)))
    );
    for product in [Product::Fused, Product::Separate] {
        let d = Conv2dDesc { product: Some(product), ..gemm.clone() };
        let r = t.conv_on(ctx(), &d);
        assert!(matches!(r, Err(Error::InvalidDescriptor(_))), "{d:?}: {:?}", r.err());
    }
    for (m, r) in WINOGRAD_TILES {
        for layout in LAYOUTS {
            let d = wino(m, r, Some(layout), Conv2dDesc { padding: Padding::uniform(r / 2), ..base.clone() });
            let t = Tensors::new(&d, shape, 4);
            let got = t.conv(&d).plan(shape).unwrap().path;
            assert!(
                matches!(got, Path::Core { choice: Choice::Winograd { m: gm, layout: gl, .. }, kernel: [gr, _], .. }
                    if (gm, gr, gl) == (m, r, layout)),
                "{d:?}: planned {got}"
            );
        }
    }
    let forced = Conv2dDesc { algo: Some(Algo::Winograd), ..base.clone() };
    let unsupported = [
        Conv2dDesc { stride: [2, 2], ..forced.clone() },
        Conv2dDesc { dilation: [2, 2], ..forced.clone() },
        Conv2dDesc { tile: Some(3), ..forced.clone() },
        wino(4, 5, None, base.clone()),
        // Winograd options under automatic dispatch on a convolution Winograd cannot do.
        Conv2dDesc { stride: [2, 2], tile: Some(4), ..base.clone() },
        Conv2dDesc { groups: 2, product: Some(Product::Fused), ..base.clone() },
        Conv2dDesc { dilation: [2, 2], layout: Some(TileLayout::R16_6_6), ..base.clone() },
    ];
    // `Conv2d::new` validates the descriptor, so these never reach a plan.
    for d in &unsupported {
        let t = Tensors::new(d, shape, 5);
        let r = t.conv_on(ctx(), d);
        assert!(matches!(r, Err(Error::Unsupported(_))), "{d:?}: {:?}", r.err());
    }
    // The options reach the kernels: each path rounds differently, and all match the reference.
    // (The GEMM path is left out: it sums in the direct kernel's order and may give its bits.)
    let variants = [
        Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() },
        wino(2, 3, None, base.clone()),
        wino(4, 3, None, base.clone()),
        wino(6, 3, None, base.clone()),
    ];
    let outs: Vec<Vec<u32>> = variants.iter().map(|d| bits(&run_checked(&t, d, shape))).collect();
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
            let d = wino(m, r, None, conv(c, 16, 3, Padding::uniform(1)));
            let err = check(&d, [1, c, 16, 16], c as u64);
            eprintln!("F({m},{r}), {c} input channels → 16, [1, {c}, 16, 16]: max relative error {err:.2e}");
            // An accuracy test: held to the measured bound, tighter than the general tolerance.
            assert!(err <= F43_ACCURACY, "F({m},{r}) at {c} channels: max relative error {err:.3e}");
        }
    }
}
