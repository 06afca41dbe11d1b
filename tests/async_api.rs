//! The async core (issue 19): `Context::new_async`, `Conv2d::new_async` and `Conv2d::run_async`
//! give what the blocking calls give, errors included; and a device the app brought keeps the
//! app's uncaptured-error handler.

mod common;
use common::{bits, ctx, to_f16, Tensors};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use wgpu_winograd::{Algo, Context, Conv2d, Conv2dDesc, DType, Error, Product};

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
