//! `WeightGrad` against the f64 references (`conv2d_weight_grad_f64`, `conv2d_bias_grad_f64`):
//! odd and tiny shapes, batches, strides, dilation, groups, every padding mode, layouts, f16,
//! split-K at several split counts, batch chunks and channel slices under lowered limits, a
//! finite-difference check of the gradient itself, and typed errors for bad input.

mod common;

use common::{ctx, data, limited_ctx, to_f16};
use wgpu::BufferUsages as U;
use wgpu_winograd::reference::{conv2d_bias_grad_f64, conv2d_f64, conv2d_weight_grad_f64, max_rel_error};
use wgpu_winograd::{
    Activation, Context, ContextOptions, Conv2dDesc, DType, DataFormat, Engine, Error, GemmBlock, Padding,
    PaddingMode, WeightFormat, WeightGrad,
};

/// f32 products summed in f32 over at most a few thousand terms (fewer per split).
const TOL: f64 = 1e-4;

fn desc(c: usize, k: usize, kernel: [usize; 2], edit: impl FnOnce(&mut Conv2dDesc)) -> Conv2dDesc {
    let mut d = Conv2dDesc { kernel, ..Conv2dDesc::new(c, k, 1, 0) };
    edit(&mut d);
    d
}

/// Runs the weight gradient of `d` on `shape` (forcing `splits` if given) and returns its max
/// relative error against the reference.
fn weight_error(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], splits: Option<usize>, seed: u64) -> f64 {
    let mut grad = WeightGrad::new(ctx, d).unwrap_or_else(|e| panic!("{d:?}: {e}"));
    grad.force_splits(splits);
    let dy_shape = grad.dy_shape(shape).unwrap();
    let x = data(shape.iter().product(), seed);
    let dy = data(dy_shape.iter().product(), seed + 1);
    let got = grad.run(&x, shape, &dy).unwrap_or_else(|e| panic!("{d:?} on {shape:?}: {e}"));
    let want = conv2d_weight_grad_f64(d, &x, shape, &dy).unwrap();
    if let Some(s) = splits {
        // Clamped to one split per 16 reduction steps (the kernel's staging depth).
        let steps = dy_shape[0] * dy_shape[2] * dy_shape[3];
        assert_eq!(grad.plan(shape).unwrap().splits, s.min(steps.div_ceil(16)), "{d:?} on {shape:?}");
    }
    max_rel_error(&got, &want)
}

fn assert_close(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], splits: Option<usize>) {
    let err = weight_error(ctx, d, shape, splits, 7);
    assert!(err <= TOL, "{d:?} on {shape:?} (splits {splits:?}): error {err:.2e}");
}

#[test]
fn strides_dilations_groups_and_odd_sizes_match_the_reference() {
    let cases = [
        (desc(3, 5, [3, 3], |d| d.padding = Padding::uniform(1)), [2, 3, 7, 9]),
        (desc(1, 1, [1, 1], |_| {}), [1, 1, 1, 1]),
        (desc(2, 3, [2, 2], |_| {}), [3, 2, 2, 3]),
        (desc(5, 7, [3, 3], |d| d.stride = [2, 2]), [2, 5, 11, 8]),
        (desc(6, 4, [3, 2], |d| d.stride = [3, 1]), [1, 6, 13, 6]),
        (desc(3, 6, [3, 3], |d| d.stride = [1, 3]), [2, 3, 5, 10]),
        (desc(4, 3, [3, 3], |d| (d.dilation, d.padding) = ([2, 3], Padding::uniform(2))), [2, 4, 9, 11]),
        (desc(6, 9, [3, 3], |d| (d.groups, d.padding) = (3, Padding::uniform(1))), [2, 6, 6, 5]),
        (
            desc(8, 8, [3, 3], |d| (d.groups, d.stride, d.padding) = (8, [2, 2], Padding::uniform(1))),
            [3, 8, 9, 9],
        ),
        (desc(5, 10, [5, 5], |d| (d.groups, d.padding) = (5, Padding::uniform(2))), [1, 5, 7, 6]),
        (desc(7, 70, [1, 1], |_| {}), [2, 7, 9, 9]),
        (desc(3, 4, [7, 7], |d| (d.stride, d.padding) = ([2, 2], Padding::uniform(3))), [2, 3, 12, 10]),
    ];
    for (d, shape) in cases {
        assert_close(ctx(), &d, shape, None);
    }
}

#[test]
fn every_padding_mode_and_asymmetric_padding_match_the_reference() {
    let asym = Padding { top: 0, bottom: 2, left: 1, right: 0 };
    for mode in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        for (padding, stride, dilation) in [
            (Padding::uniform(1), [1, 1], [1, 1]),
            (asym, [2, 1], [1, 2]),
            (Padding::uniform(2), [1, 2], [2, 1]),
        ] {
            let d = desc(3, 5, [3, 3], |d| {
                (d.padding, d.padding_mode, d.stride, d.dilation) = (padding, mode, stride, dilation)
            });
            assert_close(ctx(), &d, [2, 3, 6, 7], None);
        }
    }
}

#[test]
fn every_split_count_gives_the_reference_and_repeats_bit_for_bit() {
    let d = desc(6, 10, [3, 3], |d| d.padding = Padding::uniform(1));
    let shape = [3, 6, 13, 11];
    for splits in [1, 2, 3, 7, 16, 64] {
        assert_close(ctx(), &d, shape, Some(splits));
    }
    let mut grad = WeightGrad::new(ctx(), &d).unwrap();
    grad.force_splits(Some(5));
    let x = data(shape.iter().product(), 1);
    let dy = data(grad.dy_shape(shape).unwrap().iter().product(), 2);
    let (a, b) = (grad.run(&x, shape, &dy).unwrap(), grad.run(&x, shape, &dy).unwrap());
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

/// Both dy decodes, with gradients wider than one block in rows and columns: rows of a multiple
/// of 4 pixels (one decode serves four steps, strided or not) and other widths (one per step);
/// in NCHW images of a multiple of 4 pixels, whatever their rows, one vec4 load of dy (and of
/// x for a 1×1 stride-1 kernel), in f32, f16 and packed f16;
/// split at counts whose boundaries fall inside images; and the block on lowered limits.
#[test]
fn both_dy_decodes_and_every_block_match_the_reference() {
    let pad1 = |d: &mut Conv2dDesc| d.padding = Padding::uniform(1);
    let cases = [
        (desc(15, 130, [3, 3], pad1), [2, 15, 8, 8], None),
        (desc(15, 130, [3, 3], pad1), [3, 15, 7, 7], Some(3)),
        (desc(4, 140, [1, 1], |_| {}), [3, 4, 5, 12], Some(5)),
        (desc(4, 140, [1, 1], |_| {}), [3, 4, 6, 10], Some(5)),
        (desc(15, 70, [3, 3], pad1), [2, 15, 6, 14], Some(4)),
        (
            desc(16, 20, [3, 3], |d| (d.stride, d.padding) = ([2, 2], Padding::uniform(1))),
            [2, 16, 15, 16],
            Some(2),
        ),
        (
            desc(6, 10, [3, 3], |d| (d.data_format, d.padding) = (DataFormat::Nhwc, Padding::uniform(1))),
            [2, 6, 4, 12],
            Some(2),
        ),
    ];
    let packed = packed_ctx();
    for (d, shape, splits) in &cases {
        assert_eq!(
            WeightGrad::new(ctx(), d).unwrap().plan(*shape).unwrap().engine,
            Engine::Registers(GemmBlock::B64)
        );
        assert_close(ctx(), d, *shape, *splits);
        for c in [ctx(), &packed] {
            assert_f16_close(c, d, *shape);
        }
    }
    // Fewer than 128 invocations per workgroup: the 16-row block (64 invocations).
    let limits = wgpu::Limits { max_compute_invocations_per_workgroup: 127, ..ctx().limits() };
    let small = Context::with_options(ContextOptions { limits: Some(limits), ..Default::default() }).unwrap();
    let (d, shape, splits) = &cases[0];
    assert_eq!(
        WeightGrad::new(&small, d).unwrap().plan(*shape).unwrap().engine,
        Engine::Registers(GemmBlock::K16)
    );
    assert_close(&small, d, *shape, *splits);
}

/// `Precision::High` takes the tensor cores where the adapter has them (f16 operands: the
/// tensor tolerance), else the f32 units (the f32 tolerance); the bias gradient always the f32
/// units. The tensor path itself is tested in `tests/tensor_cores.rs`.
#[test]
fn high_precision_takes_tensor_cores_where_present_else_the_f32_units() {
    let d = Conv2dDesc {
        precision: wgpu_winograd::Precision::High,
        ..desc(8, 12, [3, 3], |d| d.padding = Padding::uniform(1))
    };
    let shape = [2, 8, 9, 8];
    let plan = WeightGrad::new(ctx(), &d).unwrap().plan(shape).unwrap();
    let tensor = ctx().cooperative_matrices().contains(" f16");
    let tol = match plan.engine {
        Engine::Coop(_) => 2e-3,
        Engine::Registers(_) => TOL,
    };
    assert_eq!(
        matches!(plan.engine, Engine::Coop(_)),
        tensor,
        "{plan}; adapter has {}",
        ctx().cooperative_matrices()
    );
    let err = weight_error(ctx(), &d, shape, None, 5);
    assert!(err <= tol, "{plan}: {err:.2e}");
}

#[test]
fn small_gradients_over_large_reductions_are_split_by_default() {
    // 64×64×3×3 weights over a 32×56×56 batch: 9 workgroups alone would idle the GPU.
    let d = desc(64, 64, [3, 3], |d| d.padding = Padding::uniform(1));
    let plan = WeightGrad::new(ctx(), &d).unwrap().plan([32, 64, 56, 56]).unwrap();
    assert!(plan.splits > 1, "{plan}");
    // A larger one that runs: 16×24×3×3 over 4×32×32, with the heuristic's own count.
    let d = desc(16, 24, [3, 3], |d| d.padding = Padding::uniform(1));
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    assert!(grad.plan([4, 16, 32, 32]).unwrap().splits > 1);
    assert_close(ctx(), &d, [4, 16, 32, 32], None);
}

#[test]
fn lowered_limits_split_the_batch_and_the_output_channels() {
    common::ctx();
    // 4 KiB bindings: batch chunks of three 16×4×4 images, slices of the 20 output channels.
    let small = limited_ctx(4096, 1 << 20, 65535);
    for groups in [1, 2] {
        let d = desc(16, 20, [3, 3], |d| (d.groups, d.padding) = (groups, Padding::uniform(1)));
        let shape = [5, 16, 4, 4];
        let mut grad = WeightGrad::new(&small, &d).unwrap();
        grad.force_splits(Some(3));
        let plan = grad.plan(shape).unwrap();
        assert!(plan.chunk < 5 && plan.slices.len() > 1, "{plan}");
        assert_close(&small, &d, shape, Some(plan.splits));
    }
}

#[test]
fn nhwc_hwio_and_f16_match_the_reference() {
    let base = desc(5, 6, [3, 3], |d| {
        (d.padding, d.stride) = (Padding { top: 1, bottom: 0, left: 2, right: 1 }, [2, 1])
    });
    let shape = [2, 5, 7, 6];
    for (format, weights) in [
        (DataFormat::Nhwc, WeightFormat::Oihw),
        (DataFormat::Nchw, WeightFormat::Hwio),
        (DataFormat::Nhwc, WeightFormat::Hwio),
    ] {
        let d = Conv2dDesc { data_format: format, weight_format: weights, ..base.clone() };
        assert_close(ctx(), &d, shape, Some(2));
    }
    let packed = packed_ctx();
    for (c, format) in [(ctx(), DataFormat::Nchw), (&packed, DataFormat::Nchw), (&packed, DataFormat::Nhwc)] {
        let d = Conv2dDesc { data_format: format, ..base.clone() };
        assert_f16_close(c, &d, shape);
    }
}

fn packed_ctx() -> Context {
    Context::with_options(ContextOptions { packed_f16: true, ..Default::default() }).unwrap()
}

/// The weight gradient of `d` in f16 data against the reference on the same (f16) values.
fn assert_f16_close(c: &Context, d: &Conv2dDesc, shape: [usize; 4]) {
    let d = Conv2dDesc { dtype: DType::F16, ..d.clone() };
    let grad = WeightGrad::new(c, &d).unwrap();
    let dy_len: usize = grad.dy_shape(shape).unwrap().iter().product();
    let (x, dy) = (to_f16(&data(shape.iter().product(), 3)), to_f16(&data(dy_len, 4)));
    let got = grad.run(&x, shape, &dy).unwrap();
    let widen = |v: &[half::f16]| v.iter().map(|h| h.to_f32()).collect::<Vec<_>>();
    let want = conv2d_weight_grad_f64(&d, &widen(&x), shape, &widen(&dy)).unwrap();
    // The inputs are exactly f16 values and the sums f32: the f32 tolerance holds.
    let err = max_rel_error(&got, &want);
    assert!(err <= TOL, "f16 {d:?} on {shape:?}: {err:.2e}");
}

#[test]
fn bias_gradient_matches_the_reference() {
    for (d, dy_shape, splits) in [
        (desc(3, 5, [3, 3], |_| {}), [3, 5, 7, 9], None),
        (desc(4, 70, [1, 1], |d| d.data_format = DataFormat::Nhwc), [2, 70, 5, 3], Some(4)),
        (desc(4, 8, [3, 3], |d| d.groups = 4), [0, 8, 3, 3], None),
    ] {
        let mut grad = WeightGrad::new(ctx(), &d).unwrap();
        grad.force_splits(splits);
        let dy = data(dy_shape.iter().product(), 5);
        let got = grad.bias_grad(&dy, dy_shape).unwrap();
        let want = conv2d_bias_grad_f64(&d, &dy, dy_shape).unwrap();
        assert_eq!(got.len(), d.out_channels);
        assert!(max_rel_error(&got, &want) <= TOL, "{d:?}");
    }
}

/// ⟨dy, conv(x; w)⟩ is linear in w, so its central difference along δw is ⟨dw, δw⟩ up to rounding.
#[test]
fn the_gradient_is_the_derivative_of_the_forward_convolution() {
    let d = desc(3, 4, [3, 2], |d| {
        (d.padding, d.stride, d.padding_mode) =
            (Padding { top: 1, bottom: 1, left: 0, right: 1 }, [2, 1], PaddingMode::Reflect)
    });
    let shape = [2, 3, 6, 5];
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    let dy_shape = grad.dy_shape(shape).unwrap();
    let (x, dy) = (data(shape.iter().product(), 11), data(dy_shape.iter().product(), 12));
    let w = data(d.weight_len().unwrap(), 13);
    let delta = data(w.len(), 14);
    let dw = grad.run(&x, shape, &dy).unwrap();
    let loss = |eps: f32| {
        let wp: Vec<f32> = w.iter().zip(&delta).map(|(a, b)| a + eps * b).collect();
        let y = conv2d_f64(&d, &x, shape, &wp, None, None).unwrap();
        y.iter().zip(&dy).map(|(a, &b)| a * f64::from(b)).sum::<f64>()
    };
    let eps = 1.0 / 64.0; // a power of two: w ± eps·δ rounds little
    let numeric = (loss(eps) - loss(-eps)) / (2.0 * f64::from(eps));
    let analytic: f64 = dw.iter().zip(&delta).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
    let scale: f64 = dw.iter().zip(&delta).map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs()).sum();
    assert!((numeric - analytic).abs() <= 1e-4 * scale, "numeric {numeric}, analytic {analytic}");
}

#[test]
fn empty_batches_give_zeros_and_nan_propagates() {
    let d = desc(3, 4, [3, 3], |d| d.padding = Padding::uniform(1));
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    assert_eq!(grad.run::<f32>(&[], [0, 3, 5, 5], &[]).unwrap(), vec![0.0; 4 * 3 * 9]);
    // encode on an empty batch overwrites whatever the caller's buffer held.
    let dw = common::tensor(ctx(), 4 * 3 * 9, Some(&vec![7.0; 4 * 3 * 9]));
    let empty = common::tensor(ctx(), 1, None);
    let got =
        common::encode_and_read(|enc| grad.encode(enc, [0, 3, 5, 5], &empty, &empty, &dw).unwrap(), &dw);
    assert!(got.iter().all(|&v| v == 0.0), "{got:?}");
    // One NaN input pixel poisons every weight that reads it.
    let shape = [1, 3, 5, 5];
    let mut x = data(75, 1);
    x[0] = f32::NAN;
    let dy = data(4 * 25, 2);
    let got = grad.run(&x, shape, &dy).unwrap();
    let want = conv2d_weight_grad_f64(&d, &x, shape, &dy).unwrap();
    assert!(got.iter().any(|v| v.is_nan()));
    assert_eq!(max_rel_error(&got, &want), max_rel_error(&got, &want).min(TOL));
}

#[test]
fn encode_on_caller_buffers_matches_run() {
    let d = desc(4, 6, [3, 3], |d| (d.padding, d.groups) = (Padding::uniform(1), 2));
    let shape = [2, 4, 6, 6];
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    let dy_len: usize = grad.dy_shape(shape).unwrap().iter().product();
    let (x, dy) = (data(shape.iter().product(), 1), data(dy_len, 2));
    let (xb, dyb) = (common::tensor(ctx(), x.len(), Some(&x)), common::tensor(ctx(), dy_len, Some(&dy)));
    let dw = common::tensor(ctx(), d.weight_len().unwrap(), None);
    let got = common::encode_and_read(|enc| grad.encode(enc, shape, &xb, &dyb, &dw).unwrap(), &dw);
    assert_eq!(got, grad.run(&x, shape, &dy).unwrap());
    let db = common::tensor(ctx(), 6, None);
    let got =
        common::encode_and_read(|enc| grad.encode_bias_grad(enc, [2, 6, 6, 6], &dyb, &db).unwrap(), &db);
    assert!(max_rel_error(&got, &conv2d_bias_grad_f64(&d, &dy, [2, 6, 6, 6]).unwrap()) <= TOL);
}

#[test]
fn bad_input_is_a_typed_error() {
    let d = desc(3, 4, [3, 3], |_| {});
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    let x = data(2 * 3 * 5 * 5, 1);
    let dy = data(2 * 4 * 3 * 3, 2);
    let shape_err = |r: Result<Vec<f32>, Error>| assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    shape_err(grad.run(&x[1..], [2, 3, 5, 5], &dy));
    shape_err(grad.run(&x, [2, 3, 5, 5], &dy[1..]));
    shape_err(grad.run(&x, [2, 5, 3, 5], &dy));
    shape_err(grad.run(&x, [2, 3, 25, 1], &dy));
    shape_err(grad.run(&x, [usize::MAX, 3, 5, 5], &dy));
    shape_err(grad.bias_grad(&dy, [2, 5, 3, 3]));
    shape_err(grad.bias_grad(&dy, [2, 4, 3, 4]));
    assert!(matches!(grad.run(&to_f16(&x), [2, 3, 5, 5], &to_f16(&dy)), Err(Error::InvalidDescriptor(_))));
    let relu = Conv2dDesc { activation: Activation::Relu, ..d.clone() };
    assert!(matches!(WeightGrad::new(ctx(), &relu), Err(Error::Unsupported(_))));
    assert!(matches!(
        WeightGrad::new(ctx(), &Conv2dDesc { groups: 2, ..d.clone() }),
        Err(Error::InvalidDescriptor(_))
    ));
    let reflect =
        Conv2dDesc { padding: Padding::uniform(5), padding_mode: PaddingMode::Reflect, ..d.clone() };
    let g = WeightGrad::new(ctx(), &reflect).unwrap();
    assert!(matches!(g.run(&x, [2, 3, 5, 5], &dy), Err(Error::InvalidShape(_))));
    // Caller buffers: too small, no STORAGE, aliasing.
    let small = common::tensor(ctx(), 3, None);
    let (xb, dyb) = (common::tensor(ctx(), x.len(), Some(&x)), common::tensor(ctx(), dy.len(), Some(&dy)));
    let dw = common::tensor(ctx(), 4 * 27, None);
    let no_storage = common::buffer(ctx(), 4 * 27 * 4, U::COPY_DST);
    let mut enc = ctx().device().create_command_encoder(&Default::default());
    for (x, dy, dw) in [
        (&small, &dyb, &dw),
        (&xb, &small, &dw),
        (&xb, &dyb, &small),
        (&xb, &dyb, &no_storage),
        (&xb, &dyb, &xb),
    ] {
        let r = grad.encode(&mut enc, [2, 3, 5, 5], x, dy, dw);
        assert!(matches!(r, Err(Error::InvalidBuffer(_))), "{r:?}");
    }
}

/// Buffers of another context, and mapped buffers, are refused by both gradient calls with a
/// typed error before anything is recorded (no panic, no validation error on our device), as
/// `Conv2d::encode` refuses them; this context's buffers then work.
#[test]
fn foreign_and_mapped_buffers_are_refused() {
    use common::tensor;
    let home = ctx();
    let away = Context::new().expect("a second context");
    let d = desc(3, 4, [3, 3], |d| d.padding = Padding::uniform(1));
    let grad = WeightGrad::new(home, &d).unwrap();
    let shape = [2, 3, 5, 6];
    let dy_shape = grad.dy_shape(shape).unwrap();
    let [xb, dyb, dwb] = grad.buffer_bytes(shape).unwrap().map(|b| (b / 4) as usize);
    let bufs =
        |c: &Context| (tensor(c, xb, None), tensor(c, dyb, None), tensor(c, dwb, None), tensor(c, 4, None));
    let (hx, hdy, hdw, hdb) = bufs(home);
    let (fx, fdy, fdw, fdb) = bufs(&away);
    let refused = |what: &str, r: Result<(), Error>| match r {
        Err(Error::InvalidBuffer(m)) => assert!(m.contains(what), "{what}: {m}"),
        other => panic!("{what}: expected InvalidBuffer, got {other:?}"),
    };
    let scope = home.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let mut enc = home.device().create_command_encoder(&Default::default());
    refused("input", grad.encode(&mut enc, shape, &fx, &hdy, &hdw));
    refused("dy", grad.encode(&mut enc, shape, &hx, &fdy, &hdw));
    refused("weight-gradient", grad.encode(&mut enc, shape, &hx, &hdy, &fdw));
    refused("dy", grad.encode_bias_grad(&mut enc, dy_shape, &fdy, &hdb));
    refused("bias-gradient", grad.encode_bias_grad(&mut enc, dy_shape, &hdy, &fdb));
    // A buffer mapped at creation is refused too.
    let mapped = home.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: hdw.size(),
        usage: U::STORAGE,
        mapped_at_creation: true,
    });
    refused("mapped", grad.encode(&mut enc, shape, &hx, &hdy, &mapped));
    grad.encode(&mut enc, shape, &hx, &hdy, &hdw).unwrap();
    grad.encode_bias_grad(&mut enc, dy_shape, &hdy, &hdb).unwrap();
    home.queue().submit([enc.finish()]);
    home.wait().unwrap();
    let leaked = pollster::block_on(scope.pop());
    assert!(leaked.is_none(), "a validation error leaked on our device: {leaked:?}");
}
