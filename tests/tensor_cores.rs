//! `Precision::High` and the cooperative-matrix (tensor-core) path.
//!
//! The first tests run on every adapter: the CPU emulation of `High` against the f64 reference
//! at every input scale, and what `High` does where the adapter has no cooperative matrices
//! (runs `Highest`, says so) or has them (takes the tensor path).
//!
//! The `#[ignore]`d tests need an adapter with cooperative matrices (the H100 through Vulkan):
//! run them with `cargo test --test tensor_cores -- --ignored` (or the built test executable
//! with `--ignored`, see BENCHMARKS.md). On an adapter without them they fail, never skip.

mod common;

use common::{ctx, Tensors};
use wgpu_winograd::lowering::Transforms;
use wgpu_winograd::reference::{
    conv2d_high_emulated, conv2d_winograd_high_emulated, max_rel_error, round_like_tensor_cores,
};
use wgpu_winograd::{
    tensor_matmul, Activation, Algo, Choice, Conv2dDesc, DType, DataFormat, Engine, Error, Padding,
    PaddingMode, Path, Precision, Product, TensorBlock, TileLayout, WeightGrad, WinogradKernels,
};

/// cuDNN's TF32 error on the ResNet-50 layers was 2.6e-4 to 3.3e-4 (torch_conv_bench.py);
/// f16 operands carry as many bits as TF32's, so the same order, with margin.
const HIGH_ERROR: f64 = 1e-3;

fn high(d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { precision: Precision::High, ..d }
}

/// `high` with the GEMM forced: the ladder keeps small or shallow GEMMs on f32 data on the f32
/// cores, and these tests are about the tensor path (its block still chosen per shape).
fn high_gemm(d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { algo: Some(Algo::Gemm), ..high(d) }
}

/// Shapes over every gather the tensor path takes and what it must handle: odd, tiny and
/// non-square images, batch > 1, channel counts that are not multiples of 4, groups, NHWC,
/// stride, bias, residual and activation.
fn shapes() -> Vec<(Conv2dDesc, [usize; 4])> {
    let full =
        |d: Conv2dDesc| Conv2dDesc { has_bias: true, residual: true, activation: Activation::Relu, ..d };
    vec![
        (Conv2dDesc::new(64, 64, 1, 0), [2, 64, 12, 12]),
        (full(Conv2dDesc::new(13, 22, 1, 0)), [3, 13, 9, 14]),
        (Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(24, 40, 1, 0) }, [2, 24, 11, 7]),
        (Conv2dDesc { data_format: DataFormat::Nhwc, ..full(Conv2dDesc::new(32, 48, 1, 0)) }, [2, 32, 5, 6]),
        (Conv2dDesc { groups: 2, ..Conv2dDesc::new(48, 64, 1, 0) }, [1, 48, 10, 10]),
        (Conv2dDesc::new(40, 200, 1, 0), [1, 40, 1, 1]),
    ]
}

#[test]
fn the_high_emulation_stays_within_tf32_error_at_every_input_scale() {
    let mut shapes = shapes();
    shapes.push((Conv2dDesc::new(24, 40, 3, 1), [2, 24, 13, 11]));
    shapes.push((Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(3, 16, 7, 3) }, [1, 3, 20, 20]));
    for (d, shape) in shapes {
        for scale in [1e-6f32, 1.0, 1e4, 1e8] {
            let mut t = Tensors::new(&d, shape, 5);
            t.x.iter_mut().for_each(|v| *v *= scale);
            let want = t.reference(&d, shape);
            let emu = conv2d_high_emulated(&d, &t.x, shape, &t.w, t.b.as_deref(), t.r.as_deref()).unwrap();
            let emu32: Vec<f32> = emu.iter().map(|&v| v as f32).collect();
            let err = max_rel_error(&emu32, &want);
            assert!(err.is_finite() && err <= HIGH_ERROR, "{d:?} ×{scale:e}: {err:e}");
            // The rounding is real: f16 operands differ from f32 arithmetic (unless an unscaled
            // bias or residual dwarfs the product).
            assert!(err > 1e-6 || d.has_bias, "{d:?} ×{scale:e}: suspiciously exact ({err:e})");
        }
    }
}

/// 3×3 stride-1 shapes for Winograd F(2,3) on the tensor cores: odd, tiny and non-square
/// images, batch > 1, channels not multiples of 4, bias, residual, activation, NHWC, asymmetric
/// padding.
fn winograd_shapes() -> Vec<(Conv2dDesc, [usize; 4])> {
    let full =
        |d: Conv2dDesc| Conv2dDesc { has_bias: true, residual: true, activation: Activation::Silu, ..d };
    let asymmetric = Padding { top: 0, bottom: 2, left: 1, right: 0 };
    vec![
        (Conv2dDesc::new(64, 64, 3, 1), [2, 64, 14, 14]),
        (full(Conv2dDesc::new(13, 22, 3, 1)), [3, 13, 9, 14]),
        (Conv2dDesc::new(24, 40, 3, 0), [1, 24, 3, 3]),
        (Conv2dDesc { data_format: DataFormat::Nhwc, ..full(Conv2dDesc::new(32, 48, 3, 1)) }, [2, 32, 5, 6]),
        (Conv2dDesc { padding: asymmetric, ..Conv2dDesc::new(20, 36, 3, 0) }, [2, 20, 7, 5]),
        (Conv2dDesc::new(128, 96, 3, 1), [1, 128, 17, 11]),
    ]
}

#[test]
fn the_winograd_high_emulation_stays_within_tf32_error_at_every_input_scale() {
    let t23 = Transforms::for_tile(2, 3).unwrap();
    for (d, shape) in winograd_shapes() {
        for scale in [1e-6f32, 1.0, 1e4, 1e8] {
            let mut t = Tensors::new(&d, shape, 7);
            t.x.iter_mut().for_each(|v| *v *= scale);
            if let Some(r) = t.r.as_mut() {
                r.iter_mut().for_each(|v| *v *= scale);
            }
            let want = t.reference(&d, shape);
            let emu =
                conv2d_winograd_high_emulated(&d, &t23, &t.x, shape, &t.w, t.b.as_deref(), t.r.as_deref())
                    .unwrap();
            let err = max_rel_error(&emu, &want);
            assert!(err.is_finite() && err <= HIGH_ERROR, "{d:?} ×{scale:e}: {err:e}");
            // The rounding is real (unless an unscaled bias dwarfs the product).
            assert!(err > 1e-6 || d.has_bias, "{d:?} ×{scale:e}: suspiciously exact ({err:e})");
        }
    }
    // The larger tiles amplify the operand rounding past `high`'s budget: why the ladder keeps
    // them on the f32 cores.
    let (d, shape) = winograd_shapes().remove(0);
    let t = Tensors::new(&d, shape, 7);
    let t43 = Transforms::for_tile(4, 3).unwrap();
    let emu = conv2d_winograd_high_emulated(&d, &t43, &t.x, shape, &t.w, None, None).unwrap();
    assert!(max_rel_error(&emu, &t.reference(&d, shape)) > HIGH_ERROR);
}

#[test]
fn operand_rounding_scales_by_powers_of_two_and_keeps_specials() {
    // The largest magnitude lands in [2^14, 2^15): 1e8 does not overflow f16, 1e-6 does not
    // flush, and the round trip is within half an f16 ulp.
    for scale in [1e-6f32, 3.0, 1e8] {
        let v: Vec<f32> = (1..100).map(|i| i as f32 * 0.0137 * scale).collect();
        let r = round_like_tensor_cores(&v);
        for (a, b) in v.iter().zip(&r) {
            assert!(((a - b) / a).abs() <= 4.9e-4, "{a} -> {b}");
        }
    }
    let specials = round_like_tensor_cores(&[1.0, f32::NAN, -2.0]);
    assert!(specials[1].is_nan() && specials[0] == 1.0 && specials[2] == -2.0);
    assert_eq!(round_like_tensor_cores(&[0.0, 0.0]), vec![0.0, 0.0]);
}

#[test]
fn high_runs_on_tensor_cores_or_says_why_not() {
    // Big and deep enough for the ladder's tensor rung on f32 data.
    let d = high(Conv2dDesc::new(256, 256, 1, 0));
    let shape = [2, 256, 32, 32];
    let t = Tensors::new(&d, shape, 3);
    let conv = t.conv(&d);
    let plan = conv.plan(shape).unwrap();
    if ctx().cooperative_matrices() == "none" {
        let note = plan.precision_note.clone().expect("a note");
        assert!(note.starts_with("precision: high requested, ran highest ("), "{note}");
        assert!(plan.to_string().contains(&note), "{plan}");
        assert!(!matches!(plan.path.choice(), Some(Choice::Gemm(Engine::Coop(_)))));
        // It runs, as Highest.
        let err = max_rel_error(&t.run(&conv, shape), &t.reference(&d, shape));
        assert!(err <= 1e-4, "{plan}: {err:e}");
        // A forced tensor block cannot run here: a typed error, not a fallback.
        let forced =
            Conv2dDesc { product: Some(Product::Engine(Engine::Coop(TensorBlock::T128))), ..d.clone() };
        assert!(matches!(t.conv(&forced).plan(shape), Err(Error::Unsupported(_))));
        assert!(matches!(
            tensor_matmul(ctx(), [128, 128, 16], TensorBlock::T128, 1),
            Err(Error::Unsupported(_))
        ));
    } else {
        assert!(
            matches!(
                plan.path,
                Path::Core { choice: Choice::Gemm(Engine::Coop(_)), precision: Precision::High, .. }
            ),
            "{plan}"
        );
        assert_eq!(plan.precision_note, None);
    }
    // Highest never takes f16 fragments, and says nothing.
    let exact = t.conv(&Conv2dDesc { precision: Precision::Highest, ..d });
    let plan = exact.plan(shape).unwrap();
    assert!(!matches!(
        plan.path,
        Path::Core { choice: Choice::Gemm(Engine::Coop(_)), precision: Precision::High, .. }
    ));
    assert_eq!(plan.precision_note, None);
}

/// Fails unless the shared context has 16×16 f16 cooperative matrices.
fn require_tensor_cores() {
    let have = ctx().cooperative_matrices();
    assert!(
        have.contains("16×16 f16"),
        "these tests need 16×16 f16 cooperative matrices; adapter '{}' has: {have}",
        ctx().adapter_info().name
    );
}

/// Runs `d` (High) on the GPU, checks it took the tensor path, and returns its error against
/// the emulation (f32 summation only) and against the f64 reference.
fn gpu_errors(d: &Conv2dDesc, shape: [usize; 4], t: &Tensors) -> (f64, f64) {
    let conv = t.conv(d);
    let plan = conv.plan(shape).unwrap();
    assert!(matches!(plan.path.choice(), Some(Choice::Gemm(Engine::Coop(_)))), "{d:?}: {plan}");
    let got = if d.dtype == DType::F16 { t.run_f16(&conv, shape) } else { t.run(&conv, shape) };
    let emu = conv2d_high_emulated(d, &t.x, shape, &t.w, t.b.as_deref(), t.r.as_deref()).unwrap();
    (max_rel_error(&got, &emu), max_rel_error(&got, &t.reference(d, shape)))
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn tensor_cores_match_the_emulation_on_every_gather_block_and_scale() {
    require_tensor_cores();
    let mut cases: Vec<(Conv2dDesc, [usize; 4])> =
        shapes().into_iter().map(|(d, s)| (high_gemm(d), s)).collect();
    // Forced onto the tensor path: im2col gathers, every padding mode, dilation, groups.
    let forced = |d: Conv2dDesc| Conv2dDesc {
        product: Some(Product::Engine(Engine::Coop(TensorBlock::T64))),
        ..high(d)
    };
    cases.push((forced(Conv2dDesc::new(24, 40, 3, 1)), [2, 24, 13, 11]));
    cases.push((forced(Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(3, 16, 7, 3) }), [1, 3, 20, 20]));
    cases.push((
        forced(Conv2dDesc { dilation: [2, 2], groups: 4, ..Conv2dDesc::new(16, 32, 3, 2) }),
        [2, 16, 9, 8],
    ));
    for mode in [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        cases.push((forced(Conv2dDesc { padding_mode: mode, ..Conv2dDesc::new(8, 20, 3, 1) }), [1, 8, 7, 9]));
    }
    let asymmetric = Padding { top: 0, bottom: 2, left: 1, right: 0 };
    cases.push((forced(Conv2dDesc { padding: asymmetric, ..Conv2dDesc::new(12, 20, 3, 0) }), [2, 12, 6, 5]));
    // Every catalogue block on one shape.
    for b in TensorBlock::CATALOGUE_16 {
        let d = Conv2dDesc {
            product: Some(Product::Engine(Engine::Coop(b))),
            ..high(Conv2dDesc::new(72, 136, 1, 0))
        };
        cases.push((d, [2, 72, 15, 13]));
    }
    for (d, shape) in cases {
        for scale in [1e-6f32, 1.0, 1e4, 1e8] {
            let mut t = Tensors::new(&d, shape, 11);
            t.x.iter_mut().for_each(|v| *v *= scale);
            if let Some(r) = t.r.as_mut() {
                r.iter_mut().for_each(|v| *v *= scale);
            }
            let (vs_emulation, vs_f64) = gpu_errors(&d, shape, &t);
            assert!(vs_emulation <= 2e-5, "{d:?} ×{scale:e}: {vs_emulation:e} from the emulation");
            assert!(vs_f64 <= HIGH_ERROR, "{d:?} ×{scale:e}: {vs_f64:e} from f64");
        }
    }
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn tensor_cores_take_f16_activations_directly() {
    require_tensor_cores();
    let d = Conv2dDesc { dtype: DType::F16, ..high(Conv2dDesc::new(64, 48, 1, 0)) };
    let shape = [2, 64, 10, 10];
    let t = Tensors::new(&d, shape, 2).rounded_to_f16();
    let (vs_emulation, _) = gpu_errors(&d, shape, &t);
    // The output is stored in f16: its rounding dominates.
    assert!(vs_emulation <= 1e-3, "{vs_emulation:e}");
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn nan_inf_and_empty_batches_follow_pytorch_on_tensor_cores() {
    require_tensor_cores();
    let d = Conv2dDesc {
        activation: Activation::Relu6,
        has_bias: true,
        ..high_gemm(Conv2dDesc::new(16, 24, 1, 0))
    };
    let shape = [2, 16, 6, 6];
    let mut t = Tensors::new(&d, shape, 4);
    t.x[7] = f32::NAN;
    t.x[300] = f32::INFINITY;
    let conv = t.conv(&d);
    assert!(matches!(conv.plan(shape).unwrap().path.choice(), Some(Choice::Gemm(Engine::Coop(_)))));
    let got = t.run(&conv, shape);
    let want = t.reference(&d, shape);
    // Every output that saw the NaN is NaN (relu6(NaN) = NaN), as in PyTorch; the rest match.
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.is_nan(), w.is_nan(), "got {g}, want {w}");
    }
    assert!(got.iter().any(|v| v.is_nan()));
    assert!(conv.run(&[] as &[f32], [0, 16, 6, 6], None).unwrap().is_empty());
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn the_plain_tensor_gemm_is_exact_with_every_block() {
    require_tensor_cores();
    for b in TensorBlock::CATALOGUE_16 {
        let size = [256, 256, 64];
        let t = tensor_matmul(ctx(), size, b, 2).unwrap_or_else(|e| panic!("{b}: {e}"));
        assert_eq!(t.wrong, 0, "{b}");
        assert!(t.gpu_ms > 0.0);
    }
}

/// Runs `d` (High) on the GPU, checks Winograd's product took the tensor cores, and returns the
/// output.
fn run_winograd_on_tensor_cores(d: &Conv2dDesc, shape: [usize; 4], t: &Tensors) -> Vec<f32> {
    let conv = t.conv(d);
    let plan = conv.plan(shape).unwrap();
    assert!(
        matches!(
            plan.path.choice(),
            Some(Choice::Winograd { kernels: WinogradKernels::Separate(Engine::Coop(_)), .. })
        ),
        "{d:?}: {plan}"
    );
    if d.dtype == DType::F16 {
        t.run_f16(&conv, shape)
    } else {
        t.run(&conv, shape)
    }
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn winograd_on_tensor_cores_matches_the_emulation_on_every_shape_layout_block_and_scale() {
    require_tensor_cores();
    let t23 = Transforms::for_tile(2, 3).unwrap();
    let mut cases: Vec<(Conv2dDesc, [usize; 4])> =
        winograd_shapes().into_iter().map(|(d, s)| (high(d), s)).collect();
    for layout in [TileLayout::R16_6_6, TileLayout::R6_6_16] {
        for b in TensorBlock::CATALOGUE_16 {
            let d = Conv2dDesc {
                algo: Some(Algo::Winograd),
                layout: Some(layout),
                product: Some(Product::Engine(Engine::Coop(b))),
                ..high(Conv2dDesc::new(72, 136, 3, 1))
            };
            cases.push((d, [2, 72, 15, 13]));
        }
    }
    for (d, shape) in cases {
        for scale in [1e-6f32, 1.0, 1e4, 1e8] {
            let mut t = Tensors::new(&d, shape, 13);
            t.x.iter_mut().for_each(|v| *v *= scale);
            if let Some(r) = t.r.as_mut() {
                r.iter_mut().for_each(|v| *v *= scale);
            }
            let got = run_winograd_on_tensor_cores(&d, shape, &t);
            let emu =
                conv2d_winograd_high_emulated(&d, &t23, &t.x, shape, &t.w, t.b.as_deref(), t.r.as_deref())
                    .unwrap();
            let emu64: Vec<f64> = emu.iter().map(|&v| f64::from(v)).collect();
            let (vs_emulation, vs_f64) =
                (max_rel_error(&got, &emu64), max_rel_error(&got, &t.reference(&d, shape)));
            // The transforms and sums run in another order on the GPU: a few operands round to
            // the neighbouring f16.
            assert!(vs_emulation <= 1e-4, "{d:?} ×{scale:e}: {vs_emulation:e} from the emulation");
            assert!(vs_f64 <= HIGH_ERROR, "{d:?} ×{scale:e}: {vs_f64:e} from f64");
        }
    }
}

#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn winograd_on_tensor_cores_takes_groups_padding_modes_f16_nan_and_empty_batches() {
    require_tensor_cores();
    // Wide groups (the ladder's grouped Winograd), every padding mode: against f64.
    let mut cases =
        vec![(high(Conv2dDesc { groups: 2, ..Conv2dDesc::new(128, 128, 3, 1) }), [2, 128, 9, 10])];
    for mode in [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        cases.push((high(Conv2dDesc { padding_mode: mode, ..Conv2dDesc::new(40, 72, 3, 1) }), [1, 40, 7, 9]));
    }
    for (d, shape) in cases {
        let t = Tensors::new(&d, shape, 17);
        let err = max_rel_error(&run_winograd_on_tensor_cores(&d, shape, &t), &t.reference(&d, shape));
        assert!(err <= HIGH_ERROR, "{d:?}: {err:e}");
    }
    // f16 data: the output's own rounding dominates.
    let d = Conv2dDesc { dtype: DType::F16, has_bias: true, ..high(Conv2dDesc::new(64, 48, 3, 1)) };
    let shape = [2, 64, 10, 10];
    let t = Tensors::new(&d, shape, 2).rounded_to_f16();
    let err = max_rel_error(&run_winograd_on_tensor_cores(&d, shape, &t), &t.reference(&d, shape));
    assert!(err <= 2e-3, "f16: {err:e}");
    // NaN and Inf propagate as in PyTorch; an empty batch gives an empty output.
    let d = Conv2dDesc { activation: Activation::Relu, ..high(Conv2dDesc::new(64, 64, 3, 1)) };
    let shape = [1, 64, 8, 8];
    let mut t = Tensors::new(&d, shape, 4);
    t.x[70] = f32::NAN;
    let got = run_winograd_on_tensor_cores(&d, shape, &t);
    let want = t.reference(&d, shape);
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g.is_nan(), w.is_nan(), "got {g}, want {w}");
    }
    assert!(t.conv(&d).run(&[] as &[f32], [0, 64, 8, 8], None).unwrap().is_empty());
}

/// The weight gradient in `High` on tensor cores against the f64 reference (f16 operands, f32
/// sums): f32 data (both operands scaled by their powers of two) at input scales far from 1, f16
/// data, strides, dilation, groups, padding modes, NHWC, forced splits, both dy decodes.
#[test]
#[ignore = "needs cooperative matrices: cargo test --test tensor_cores -- --ignored on a GPU that has them"]
fn weight_gradients_on_tensor_cores_match_the_reference() {
    use wgpu_winograd::reference::conv2d_weight_grad_f64;
    require_tensor_cores();
    let base = |c, k, kernel: usize, edit: &dyn Fn(&mut Conv2dDesc)| {
        let mut d = high(Conv2dDesc::new(c, k, kernel, kernel / 2));
        edit(&mut d);
        d
    };
    let cases = [
        (base(64, 64, 3, &|_| {}), [4, 64, 16, 16], None),
        (base(15, 130, 3, &|_| {}), [3, 15, 7, 7], Some(3)),
        (base(32, 96, 1, &|_| {}), [2, 32, 12, 12], None),
        (base(16, 20, 3, &|d| d.stride = [2, 2]), [2, 16, 15, 16], Some(2)),
        (base(12, 24, 3, &|d| (d.groups, d.dilation) = (3, [2, 2])), [2, 12, 11, 9], None),
        (base(8, 16, 3, &|d| d.padding_mode = PaddingMode::Reflect), [2, 8, 9, 10], None),
        (base(6, 10, 3, &|d| d.data_format = DataFormat::Nhwc), [2, 6, 4, 12], Some(2)),
    ];
    for (d, shape, splits) in cases {
        for (dtype, scale) in [(DType::F32, 1.0), (DType::F32, 1e-6), (DType::F32, 1e5), (DType::F16, 1.0)] {
            let d = Conv2dDesc { dtype, ..d.clone() };
            let mut grad = WeightGrad::new(ctx(), &d).unwrap();
            grad.force_splits(splits);
            let plan = grad.plan(shape).unwrap();
            assert!(matches!(plan.engine, Engine::Coop(_)), "{d:?}: {plan}");
            let dy_shape = grad.dy_shape(shape).unwrap();
            let f16 = |v: Vec<f32>| v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect::<Vec<_>>();
            let mut x: Vec<f32> =
                common::data(shape.iter().product(), 11).iter().map(|v| v * scale).collect();
            let mut dy = common::data(dy_shape.iter().product(), 12);
            let got = if dtype == DType::F16 {
                (x, dy) = (f16(x), f16(dy));
                let h = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
                grad.run(&h(&x), shape, &h(&dy)).unwrap()
            } else {
                grad.run(&x, shape, &dy).unwrap()
            };
            let want = conv2d_weight_grad_f64(&d, &x, shape, &dy).unwrap();
            let err = max_rel_error(&got, &want);
            assert!(err <= HIGH_ERROR, "{d:?} on {shape:?} ({dtype}, scale {scale}): {err:.2e} ({plan})");
        }
    }
}
