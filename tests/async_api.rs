//! The async core (issue 19): `Context::new_async`, `Conv2d::new_async` and `Conv2d::run_async`
//! give what the blocking calls give, errors included; so do the async calls of the operators
//! built on it (ConvTranspose2d, Conv1d, InputGrad, WeightGrad), each checked against its f64
//! reference, with `encode` on a shape built by `prepare_async`; and a device the app brought
//! keeps the app's uncaptured-error handler.

mod common;
use common::{bits, ctx, data, encode_and_read, round_f16, tensor, to_f16, Tensors};
use pollster::block_on;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wgpu_winograd::reference::{
    conv1d_f64, conv2d_bias_grad_f64, conv2d_input_grad_f64, conv2d_weight_grad_f64, conv_transpose2d_f64,
    max_rel_error, tolerance,
};
use wgpu_winograd::{
    Algo, Context, Conv1d, Conv1dDesc, Conv2d, Conv2dDesc, ConvTranspose2d, ConvTranspose2dDesc, DType,
    DataFormat, Error, InputGrad, Padding, Product, WeightGrad,
};

/// One case per kernel family.
fn cases() -> Vec<(Conv2dDesc, [usize; 4])> {
    let base = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(8, 16, 3, 1) };
    vec![
        (
            Conv2dDesc { algo: Some(Algo::Winograd), product: Some(Product::Separate), ..base.clone() },
            [2, 8, 10, 12],
        ),
        (Conv2dDesc { algo: Some(Algo::Gemm), ..base.clone() }, [1, 8, 9, 9]),
        (Conv2dDesc { groups: 8, ..Conv2dDesc::new(8, 8, 3, 1) }, [1, 8, 11, 7]),
        (Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() }, [1, 8, 6, 6]),
        (Conv2dDesc { dtype: DType::F16, ..base }, [1, 8, 8, 8]),
    ]
}

#[test]
fn run_async_gives_what_run_gives() {
    for (d, shape) in cases() {
        let t = Tensors::new(&d, shape, 7);
        let conv = pollster::block_on(Conv2d::new_async(ctx(), d.clone(), &t.w, t.b.as_deref())).unwrap();
        let (blocking, awaited) = match d.dtype {
            DType::F32 => (
                conv.run(&t.x, shape, None).unwrap(),
                pollster::block_on(conv.run_async(&t.x, shape, None)).unwrap(),
            ),
            DType::F16 => {
                let x = to_f16(&t.x);
                let f32s = |v: Vec<half::f16>| v.into_iter().map(f32::from).collect::<Vec<_>>();
                (
                    f32s(conv.run(&x, shape, None).unwrap()),
                    f32s(pollster::block_on(conv.run_async(&x, shape, None)).unwrap()),
                )
            }
        };
        assert_eq!(bits(&blocking), bits(&awaited), "{d:?}");
        let want = t.reference(&d, shape);
        let err = wgpu_winograd::reference::max_rel_error(&awaited, &want);
        assert!(err < common::tolerance(&conv, shape), "{d:?}: error {err}");
        // The same typed errors.
        let short = vec![0.0f32; 3];
        if d.dtype == DType::F32 {
            let a = conv.run(&short, shape, None).unwrap_err();
            let b = pollster::block_on(conv.run_async(&short, shape, None)).unwrap_err();
            assert_eq!(a, b);
            assert!(matches!(b, Error::InvalidShape(_)), "{b}");
        } else {
            let b = pollster::block_on(conv.run_async(&t.x, shape, None)).unwrap_err();
            assert!(matches!(b, Error::InvalidDescriptor(_)), "f32 data into an f16 convolution: {b}");
        }
    }
}

#[test]
fn new_async_errors_match_new() {
    let d = Conv2dDesc::new(4, 4, 3, 1);
    let a = Conv2d::new(ctx(), d.clone(), &[1.0; 5], None).err().unwrap();
    let b = pollster::block_on(Conv2d::new_async(ctx(), d, &[1.0; 5], None)).err().unwrap();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "{b}");
}

#[test]
fn a_context_made_async_runs_and_prepares_shapes() {
    ctx();
    let c = pollster::block_on(Context::new_async()).unwrap();
    assert_eq!(c.adapter_info().name, ctx().adapter_info().name);
    let d = Conv2dDesc::new(4, 8, 3, 1);
    let t = Tensors::new(&d, [1, 4, 8, 8], 3);
    let conv = pollster::block_on(Conv2d::new_async(&c, d.clone(), &t.w, None)).unwrap();
    let plan = pollster::block_on(conv.prepare_async([1, 4, 8, 8])).unwrap();
    assert_eq!(plan, conv.plan([1, 4, 8, 8]).unwrap());
    assert_eq!(conv.cached_shapes(), vec![[1, 4, 8, 8]]);
    let got = pollster::block_on(conv.run_async(&t.x, [1, 4, 8, 8], None)).unwrap();
    let err = wgpu_winograd::reference::max_rel_error(&got, &t.reference(&d, [1, 4, 8, 8]));
    assert!(err < common::tolerance(&conv, [1, 4, 8, 8]), "error {err}");
}

/// The app's own device, on the adapter the tests use.
fn app_device() -> (wgpu::Device, wgpu::Queue) {
    ctx();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions::default()))
        .expect("the tests need an adapter");
    pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor::default())).unwrap()
}

#[test]
fn from_device_leaves_the_apps_error_handler_in_place() {
    let (device, queue) = app_device();
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = errors.clone();
    device.on_uncaptured_error(Arc::new(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    let ctx = Context::from_device(device.clone(), queue);
    // The library's own work, errors included, stays inside its error scopes.
    let d = Conv2dDesc::new(4, 4, 3, 1);
    let t = Tensors::new(&d, [1, 4, 6, 6], 1);
    let conv = Conv2d::new(&ctx, d, &t.w, None).unwrap();
    conv.run(&t.x, [1, 4, 6, 6], None).unwrap();
    assert!(conv.run(&t.x[..5], [1, 4, 6, 6], None).is_err());
    assert_eq!(errors.load(Ordering::SeqCst), 0);
    // An error of the app's own reaches the app's handler, not a replacement.
    let _bad = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("invalid: MAP_READ with STORAGE"),
        size: 16,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    assert_eq!(errors.load(Ordering::SeqCst), 1, "the app's uncaptured-error handler was replaced");
}

// ---------------------------------------------------------------------------------------------
// The operators built on the async core

#[test]
fn conv_transpose_async_matches_the_reference_and_the_blocking_call() {
    let cases = [
        // DCGAN's up-sampling layer: 4×4, stride 2, padding 1 (four 2×2 phases).
        (ConvTranspose2dDesc { has_bias: true, ..ConvTranspose2dDesc::new(6, 4, 4, 2, 1) }, [2, 6, 5, 4]),
        // Stride 2 with output padding: the last row and column come from the bias alone.
        (
            ConvTranspose2dDesc {
                output_padding: [1, 1],
                has_bias: true,
                ..ConvTranspose2dDesc::new(3, 5, 3, 2, 1)
            },
            [1, 3, 4, 5],
        ),
        // Stride 1: one phase that writes the output itself.
        (ConvTranspose2dDesc::new(4, 3, 3, 1, 1), [1, 4, 6, 7]),
        // f16 data, NHWC, output padding along one axis.
        (
            ConvTranspose2dDesc {
                output_padding: [0, 1],
                dtype: DType::F16,
                data_format: DataFormat::Nhwc,
                ..ConvTranspose2dDesc::new(3, 4, 3, 2, 0)
            },
            [1, 3, 5, 4],
        ),
    ];
    for (i, (d, shape)) in cases.into_iter().enumerate() {
        let f16 = d.dtype == DType::F16;
        let seed = 10 * i as u64;
        let x = data(shape.iter().product(), seed);
        let x = if f16 { round_f16(&x) } else { x };
        let w = data(d.weight_len().unwrap(), seed + 1);
        let b = d.has_bias.then(|| data(d.out_channels, seed + 2));
        let conv = block_on(ConvTranspose2d::new_async(ctx(), d.clone(), &w, b.as_deref())).unwrap();
        let plan = block_on(conv.prepare_async(shape)).unwrap();
        assert_eq!(plan, conv.plan(shape).unwrap(), "{d:?}");
        assert_eq!(plan.direct, d.stride == [1, 1], "{d:?}: {plan}");
        let (awaited, blocking) = match f16 {
            false => (block_on(conv.run_async(&x, shape, None)).unwrap(), conv.run(&x, shape, None).unwrap()),
            true => {
                let h = to_f16(&x);
                let widen = |v: Vec<half::f16>| v.into_iter().map(f32::from).collect::<Vec<_>>();
                (
                    widen(block_on(conv.run_async(&h, shape, None)).unwrap()),
                    widen(conv.run(&h, shape, None).unwrap()),
                )
            }
        };
        let want = conv_transpose2d_f64(&d, &x, shape, &w, b.as_deref(), None).unwrap();
        let err = max_rel_error(&awaited, &want);
        assert!(err <= plan.tolerance(d.dtype), "{d:?} on {shape:?}: error {err:.2e}");
        assert_eq!(bits(&awaited), bits(&blocking), "{d:?}");
        if !f16 {
            // The prepared shape encodes into caller buffers without building anything.
            let (xb, yb) = (tensor(ctx(), x.len(), Some(&x)), tensor(ctx(), awaited.len(), None));
            let encoded = encode_and_read(|enc| conv.encode(enc, shape, &xb, &yb, None).unwrap(), &yb);
            assert_eq!(bits(&encoded), bits(&awaited), "{d:?}");
        }
    }
    // The same typed errors as the blocking calls.
    let d = ConvTranspose2dDesc::new(3, 2, 4, 2, 1);
    let w = data(d.weight_len().unwrap(), 1);
    let a = ConvTranspose2d::new(ctx(), d.clone(), &w[1..], None).err().unwrap();
    let b = block_on(ConvTranspose2d::new_async(ctx(), d.clone(), &w[1..], None)).err().unwrap();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "{b}");
    let conv = block_on(ConvTranspose2d::new_async(ctx(), d, &w, None)).unwrap();
    let short = data(10, 2);
    let a = conv.run(&short, [1, 3, 2, 2], None).unwrap_err();
    let b = block_on(conv.run_async(&short, [1, 3, 2, 2], None)).unwrap_err();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "{b}");
    let b = block_on(conv.run_async(&to_f16(&data(12, 2)), [1, 3, 2, 2], None)).unwrap_err();
    assert!(matches!(b, Error::InvalidDescriptor(_)), "f16 data into an f32 transposed convolution: {b}");
}

#[test]
fn conv1d_async_matches_the_reference_and_the_blocking_call() {
    for (d, shape) in [
        // Groups, dilation, stride and a bias.
        (
            Conv1dDesc { stride: 2, dilation: 2, groups: 2, has_bias: true, ..Conv1dDesc::new(4, 6, 3, 2) },
            [2, 4, 19],
        ),
        // Depthwise, dilated.
        (Conv1dDesc { dilation: 3, groups: 5, ..Conv1dDesc::new(5, 5, 5, 6) }, [1, 5, 17]),
    ] {
        let x = data(shape.iter().product(), 3);
        let w = data(d.weight_len().unwrap(), 4);
        let b = d.has_bias.then(|| data(d.out_channels, 5));
        let conv = block_on(Conv1d::new_async(ctx(), d.clone(), &w, b.as_deref())).unwrap();
        let plan = block_on(conv.prepare_async(shape)).unwrap();
        assert_eq!(plan, conv.plan(shape).unwrap());
        let awaited = block_on(conv.run_async(&x, shape, None)).unwrap();
        let want = conv1d_f64(&d, &x, shape, &w, b.as_deref(), None).unwrap();
        let err = max_rel_error(&awaited, &want);
        assert!(err <= tolerance(d.dtype, &plan), "{d:?} on {shape:?} ({plan}): error {err:.2e}");
        assert_eq!(bits(&awaited), bits(&conv.run(&x, shape, None).unwrap()));
        let (xb, yb) = (tensor(ctx(), x.len(), Some(&x)), tensor(ctx(), awaited.len(), None));
        let encoded = encode_and_read(|enc| conv.encode(enc, shape, &xb, &yb, None).unwrap(), &yb);
        assert_eq!(bits(&encoded), bits(&awaited));
    }
    let d = Conv1dDesc::new(4, 6, 3, 1);
    let a = Conv1d::new(ctx(), d.clone(), &[0.0; 5], None).err().unwrap();
    let b = block_on(Conv1d::new_async(ctx(), d, &[0.0; 5], None)).err().unwrap();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "{b}");
}

#[test]
fn input_grad_async_matches_the_reference_and_the_blocking_call() {
    let forward = |c, k, stride| Conv2dDesc { stride: [stride; 2], ..Conv2dDesc::new(c, k, 3, 1) };
    for (f, input) in [
        // 7 rows and 6 columns at stride 2: output padding 0 down, 1 across.
        (forward(3, 4, 2), [1, 3, 7, 6]),
        (Conv2dDesc { groups: 2, dilation: [2, 1], ..forward(4, 6, 2) }, [2, 4, 8, 7]),
        // f16 dy and dx through the generic host call.
        (Conv2dDesc { dtype: DType::F16, ..forward(3, 5, 2) }, [1, 3, 6, 5]),
    ] {
        let f16 = f.dtype == DType::F16;
        let w = data(f.weight_len().unwrap(), 5);
        let dy_shape = f.output_shape(input).unwrap();
        let dy = data(dy_shape.iter().product(), 6);
        let dy = if f16 { round_f16(&dy) } else { dy };
        let grad = block_on(InputGrad::new_async(ctx(), &f, &w)).unwrap();
        let plan = block_on(grad.prepare_async(dy_shape, input)).unwrap();
        assert_eq!(plan, grad.plan(dy_shape, input).unwrap());
        assert_eq!(plan.output, input, "dx has the input's shape");
        let (awaited, blocking) = match f16 {
            false => (
                block_on(grad.run_async(&dy, dy_shape, input)).unwrap(),
                grad.run(&dy, dy_shape, input).unwrap(),
            ),
            true => {
                let h = to_f16(&dy);
                let widen = |v: Vec<half::f16>| v.into_iter().map(f32::from).collect::<Vec<_>>();
                (
                    widen(block_on(grad.run_async(&h, dy_shape, input)).unwrap()),
                    widen(grad.run(&h, dy_shape, input).unwrap()),
                )
            }
        };
        let want = conv2d_input_grad_f64(&f, &dy, &w, input).unwrap();
        let err = max_rel_error(&awaited, &want);
        assert!(err <= plan.tolerance(f.dtype), "{f:?} on {input:?}: error {err:.2e}");
        assert_eq!(bits(&awaited), bits(&blocking));
        if !f16 {
            let (dyb, dxb) = (tensor(ctx(), dy.len(), Some(&dy)), tensor(ctx(), awaited.len(), None));
            let encoded = encode_and_read(|enc| grad.encode(enc, dy_shape, input, &dyb, &dxb).unwrap(), &dxb);
            assert_eq!(bits(&encoded), bits(&awaited));
        }
    }
    let f = forward(3, 4, 2);
    let w = data(f.weight_len().unwrap(), 1);
    let grad = block_on(InputGrad::new_async(ctx(), &f, &w)).unwrap();
    let dy = data(4 * 4 * 3, 2);
    let a = grad.run(&dy, [1, 4, 4, 4], [1, 3, 7, 6]).unwrap_err();
    let b = block_on(grad.run_async(&dy, [1, 4, 4, 4], [1, 3, 7, 6])).unwrap_err();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "dy of the wrong shape: {b}");
    let b = block_on(grad.run_async(&to_f16(&dy), [1, 4, 4, 3], [1, 3, 7, 6])).unwrap_err();
    assert!(matches!(b, Error::InvalidDescriptor(_)), "f16 dy into an f32 gradient: {b}");
}

#[test]
fn weight_and_bias_gradients_async_match_the_reference_and_the_blocking_calls() {
    let d = Conv2dDesc {
        stride: [2, 1],
        groups: 2,
        padding: Padding { top: 1, bottom: 0, left: 2, right: 1 },
        has_bias: true,
        ..Conv2dDesc::new(4, 6, 3, 0)
    };
    for (d, shape) in [(d.clone(), [2, 4, 7, 6]), (Conv2dDesc { dtype: DType::F16, ..d }, [1, 4, 6, 5])] {
        let f16 = d.dtype == DType::F16;
        let grad = WeightGrad::new(ctx(), &d).unwrap();
        let dy_shape = grad.dy_shape(shape).unwrap();
        let (x, dy) = (data(shape.iter().product(), 1), data(dy_shape.iter().product(), 2));
        let (x, dy) = if f16 { (round_f16(&x), round_f16(&dy)) } else { (x, dy) };
        let plan = block_on(grad.prepare_async(shape)).unwrap();
        assert_eq!(plan, grad.plan(shape).unwrap());
        let bias_plan = block_on(grad.prepare_bias_grad_async(dy_shape)).unwrap();
        assert_eq!(bias_plan.slices.iter().map(|s| s.1).sum::<usize>(), d.out_channels);
        let (dw, dw_blocking, db, db_blocking) = match f16 {
            false => (
                block_on(grad.run_async(&x, shape, &dy)).unwrap(),
                grad.run(&x, shape, &dy).unwrap(),
                block_on(grad.bias_grad_async(&dy, dy_shape)).unwrap(),
                grad.bias_grad(&dy, dy_shape).unwrap(),
            ),
            true => {
                let (hx, hdy) = (to_f16(&x), to_f16(&dy));
                (
                    block_on(grad.run_async(&hx, shape, &hdy)).unwrap(),
                    grad.run(&hx, shape, &hdy).unwrap(),
                    block_on(grad.bias_grad_async(&hdy, dy_shape)).unwrap(),
                    grad.bias_grad(&hdy, dy_shape).unwrap(),
                )
            }
        };
        // f32 sums of products of exact (f16-representable) values.
        let err = max_rel_error(&dw, &conv2d_weight_grad_f64(&d, &x, shape, &dy).unwrap());
        assert!(err <= 1e-4, "{d:?}: weight gradient error {err:.2e}");
        let err = max_rel_error(&db, &conv2d_bias_grad_f64(&d, &dy, dy_shape).unwrap());
        assert!(err <= 1e-4, "{d:?}: bias gradient error {err:.2e}");
        assert_eq!(bits(&dw), bits(&dw_blocking));
        assert_eq!(bits(&db), bits(&db_blocking));
        if !f16 {
            let (xb, dyb) = (tensor(ctx(), x.len(), Some(&x)), tensor(ctx(), dy.len(), Some(&dy)));
            let (dwb, dbb) = (tensor(ctx(), dw.len(), None), tensor(ctx(), db.len(), None));
            let encoded = encode_and_read(|enc| grad.encode(enc, shape, &xb, &dyb, &dwb).unwrap(), &dwb);
            assert_eq!(bits(&encoded), bits(&dw));
            let encoded =
                encode_and_read(|enc| grad.encode_bias_grad(enc, dy_shape, &dyb, &dbb).unwrap(), &dbb);
            assert_eq!(bits(&encoded), bits(&db));
        }
    }
    let d = Conv2dDesc::new(3, 4, 3, 0);
    let grad = WeightGrad::new(ctx(), &d).unwrap();
    let (x, dy) = (data(2 * 3 * 5 * 5, 1), data(2 * 4 * 3 * 3, 2));
    let a = grad.run(&x[1..], [2, 3, 5, 5], &dy).unwrap_err();
    let b = block_on(grad.run_async(&x[1..], [2, 3, 5, 5], &dy)).unwrap_err();
    assert_eq!(a, b);
    assert!(matches!(b, Error::InvalidShape(_)), "{b}");
    let b = block_on(grad.bias_grad_async(&dy, [2, 5, 3, 3])).unwrap_err();
    assert!(matches!(b, Error::InvalidShape(_)), "dy with the wrong channels: {b}");
    let b = block_on(grad.prepare_async([2, 5, 5, 5])).unwrap_err();
    assert!(matches!(b, Error::InvalidShape(_)), "an input with the wrong channels: {b}");
}
