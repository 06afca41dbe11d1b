//! Reliability: bad input gives a typed `Error` (never a panic, never a leaked wgpu validation
//! error), work past the device limits is split (or refused with `TooLarge`), one convolution is
//! shared across threads, NaN/Inf propagate, 2,000 repeated calls keep memory flat, and random
//! convolutions agree with the f64 reference (property tests).

mod common;
use common::{ctx, data};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Barrier, PoisonError, RwLock, RwLockReadGuard};
use wgpu::BufferUsages as U;
use wgpu_winograd::dispatch::{Path, Plan};
use wgpu_winograd::{
    reference, Activation, Algo, Context, ContextOptions, Conv2d, Conv2dDesc, DType, DataFormat, Error,
    Padding, TileLayout, WeightFormat,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// The soak measures resident memory and one test sets an environment variable, so those run
/// alone: every other test that touches the GPU holds this shared.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner)
}

/// Input, weights, bias and residual for `desc` on `shape`, all deterministic in `seed`.
struct Io {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    r: Option<Vec<f32>>,
}

fn io(desc: &Conv2dDesc, shape: [usize; 4], seed: u64) -> Io {
    let [oh, ow] = desc.output_hw(shape[2], shape[3]).unwrap();
    Io {
        x: data(shape.iter().product(), seed),
        w: data(desc.weight_len(), seed + 1),
        b: desc.has_bias.then(|| data(desc.out_channels, seed + 2)),
        r: desc.residual.then(|| data(shape[0] * desc.out_channels * oh * ow, seed + 3)),
    }
}

fn build(ctx: &Context, desc: &Conv2dDesc, io: &Io) -> Result<Conv2d, Error> {
    Conv2d::new(ctx, desc.clone(), &io.w, io.b.as_deref())
}

fn want(desc: &Conv2dDesc, shape: [usize; 4], io: &Io) -> Vec<f64> {
    reference::conv2d_f64(desc, &io.x, shape, &io.w, io.b.as_deref(), io.r.as_deref()).unwrap()
}

/// F(6,3) is the least accurate tile; everything else is held to 1e-4.
fn tolerance(plan: &Plan) -> f64 {
    if matches!(plan.path, Path::Winograd { m: 6, .. }) {
        5e-4
    } else {
        1e-4
    }
}

/// Runs `desc` on `ctx` with the blocking API; returns the plan taken and the error against the
/// f64 reference.
fn verify(ctx: &Context, desc: &Conv2dDesc, shape: [usize; 4], seed: u64) -> Result<(Plan, f64), Error> {
    let io = io(desc, shape, seed);
    let conv = build(ctx, desc, &io)?;
    let plan = conv.plan(shape)?;
    let got = conv.run(&io.x, shape, io.r.as_deref())?;
    Ok((plan, reference::max_rel_error(&got, &want(desc, shape, &io))))
}

fn buffer(ctx: &Context, bytes: u64, usage: U) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage,
        mapped_at_creation: false,
    })
}

/// A buffer the convolution can read and write, filled with `values` (or zeros).
fn tensor(ctx: &Context, len: usize, values: Option<&[f32]>) -> wgpu::Buffer {
    let b = buffer(ctx, 4 * len as u64, U::STORAGE | U::COPY_DST | U::COPY_SRC);
    if let Some(v) = values {
        ctx.queue().write_buffer(&b, 0, bytemuck::cast_slice(v));
    }
    b
}

/// Copies `len` f32 values out of `src` after everything submitted so far.
fn read(ctx: &Context, src: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let staging = buffer(ctx, 4 * len as u64, U::MAP_READ | U::COPY_DST);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(src, 0, &staging, 0, 4 * len as u64);
    ctx.queue().submit([enc.finish()]);
    let (tx, rx) = mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r).unwrap());
    ctx.wait().unwrap();
    rx.recv().unwrap().unwrap();
    let bytes = staging.get_mapped_range(..).unwrap().to_vec();
    bytemuck::pod_collect_to_vec(&bytes)
}

/// `f()`, or the panic message if it panicked.
fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or(p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Compact name of an error variant for table assertions.
fn kind<T>(r: &Result<T, Error>) -> &'static str {
    match r {
        Ok(_) => "Ok",
        Err(Error::NoAdapter(_)) => "NoAdapter",
        Err(Error::RequestDevice(_)) => "RequestDevice",
        Err(Error::InvalidDescriptor(_)) => "InvalidDescriptor",
        Err(Error::InvalidShape(_)) => "InvalidShape",
        Err(Error::InvalidBuffer(_)) => "InvalidBuffer",
        Err(Error::Unsupported(_)) => "Unsupported",
        Err(Error::TooLarge(_)) => "TooLarge",
        Err(Error::Gpu(_)) => "Gpu",
    }
}

/// Pops `scope` and fails if a wgpu validation error was raised on this thread since its push.
fn assert_no_validation_error(scope: wgpu::ErrorScopeGuard) {
    let leaked = pollster::block_on(scope.pop());
    assert!(leaked.is_none(), "a wgpu validation error leaked: {leaked:?}");
}

/// An edit to a descriptor, for tables of cases.
type Tweak = fn(&mut Conv2dDesc);

fn base() -> Conv2dDesc {
    Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) }
}

// ---------------------------------------------------------------------------------------------
// 1. Bad input → typed errors

#[test]
fn bad_descriptors_and_weights_are_typed_errors() {
    let _g = shared();
    let d = base();
    let (w, b) = (data(d.weight_len(), 1), data(6, 2));
    let scope = ctx().device().push_error_scope(wgpu::ErrorFilter::Validation);
    let new = |d: Conv2dDesc, w: &[f32], b: Option<&[f32]>| kind(&Conv2d::new(ctx(), d, w, b));
    let with = |f: Tweak| {
        let mut d = base();
        f(&mut d);
        d
    };
    let cases: [(&str, &str, &str); 14] = [
        ("weights too short", new(d.clone(), &w[1..], Some(&b)), "InvalidShape"),
        ("weights too long", new(d.clone(), &[&w[..], &[0.0]].concat(), Some(&b)), "InvalidShape"),
        ("bias too short", new(d.clone(), &w, Some(&b[1..])), "InvalidShape"),
        ("bias too long", new(d.clone(), &w, Some(&[&b[..], &[0.0]].concat())), "InvalidShape"),
        ("has_bias without bias", new(d.clone(), &w, None), "InvalidShape"),
        (
            "bias without has_bias",
            new(Conv2dDesc { has_bias: false, ..d.clone() }, &w, Some(&b)),
            "InvalidShape",
        ),
        ("zero stride", new(with(|d| d.stride = [1, 0]), &w, Some(&b)), "InvalidDescriptor"),
        ("zero dilation", new(with(|d| d.dilation = [0, 1]), &w, Some(&b)), "InvalidDescriptor"),
        ("groups 3 of 4→6", new(with(|d| d.groups = 3), &w, Some(&b)), "InvalidDescriptor"),
        ("groups 4 of 4→6", new(with(|d| d.groups = 4), &w, Some(&b)), "InvalidDescriptor"),
        ("zero groups", new(with(|d| d.groups = 0), &w, Some(&b)), "InvalidDescriptor"),
        ("zero in_channels", new(with(|d| d.in_channels = 0), &[], Some(&b)), "InvalidDescriptor"),
        ("zero out_channels", new(with(|d| d.out_channels = 0), &[], Some(&[])), "InvalidDescriptor"),
        ("zero kernel", new(with(|d| d.kernel = [0, 3]), &[], Some(&b)), "InvalidDescriptor"),
    ];
    for (what, got, expected) in cases {
        assert_eq!(got, expected, "{what}");
    }
    assert_no_validation_error(scope);
}

#[test]
fn bad_run_calls_are_typed_errors() {
    let _g = shared();
    let d = base();
    let io5 = io(&d, [1, 4, 5, 5], 3);
    let conv = build(ctx(), &d, &io5).unwrap();
    let x = &io5.x;
    let res_desc = Conv2dDesc { residual: true, ..d.clone() };
    let with_res = build(ctx(), &res_desc, &io(&res_desc, [1, 4, 5, 5], 3)).unwrap();
    let out = vec![0.5f32; 6 * 25];
    let unpadded = Conv2dDesc { padding: Padding::uniform(0), ..d.clone() };
    let no_pad = build(ctx(), &unpadded, &io5).unwrap();
    let dilated = build(ctx(), &Conv2dDesc { dilation: [2, 2], ..d.clone() }, &io5).unwrap();
    let half_desc = Conv2dDesc { dtype: DType::F16, ..d.clone() };
    let f16_conv = build(ctx(), &half_desc, &io5).unwrap();
    let half: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let scope = ctx().device().push_error_scope(wgpu::ErrorFilter::Validation);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("input one short", kind(&conv.run(&x[1..], [1, 4, 5, 5], None)), "InvalidShape"),
        ("input for another shape", kind(&conv.run(x, [1, 4, 5, 6], None)), "InvalidShape"),
        ("shape c != in_channels", kind(&conv.run(x, [1, 5, 4, 5], None)), "InvalidShape"),
        ("zero batch", kind(&conv.run::<f32>(&[], [0, 4, 5, 5], None)), "InvalidShape"),
        ("zero height", kind(&conv.run::<f32>(&[], [1, 4, 0, 5], None)), "InvalidShape"),
        ("residual without desc.residual", kind(&conv.run(x, [1, 4, 5, 5], Some(&out))), "InvalidShape"),
        ("residual missing", kind(&with_res.run(x, [1, 4, 5, 5], None)), "InvalidShape"),
        ("residual too short", kind(&with_res.run(x, [1, 4, 5, 5], Some(&out[1..]))), "InvalidShape"),
        (
            "residual too long",
            kind(&with_res.run(x, [1, 4, 5, 5], Some(&[&out[..], &[0.0]].concat()))),
            "InvalidShape",
        ),
        ("kernel 3×3 on 2×2 unpadded", kind(&no_pad.run(&x[..16], [1, 4, 2, 2], None)), "InvalidShape"),
        ("dilated 5×5 span on 2×2+2", kind(&dilated.run(&x[..16], [1, 4, 2, 2], None)), "InvalidShape"),
        ("f16 data on an f32 conv", kind(&conv.run(&half, [1, 4, 5, 5], None)), "InvalidDescriptor"),
        ("f32 data on an f16 conv", kind(&f16_conv.run(x, [1, 4, 5, 5], None)), "InvalidDescriptor"),
    ];
    for (what, got, expected) in cases {
        assert_eq!(got, expected, "{what}");
    }
    // Winograd forced where it cannot apply: Unsupported from both `plan` and `run`.
    let forced: [(&str, Option<usize>, usize, Tweak); 9] = [
        ("tile 3 on 3×3", Some(3), 3, |_| {}),
        ("tile 5 on 3×3", Some(5), 3, |_| {}),
        ("tile 4 on 5×5", Some(4), 5, |_| {}),
        ("stride 2", None, 3, |d| d.stride = [2, 2]),
        ("stride 1×2", None, 3, |d| d.stride = [1, 2]),
        ("dilation 2", None, 3, |d| d.dilation = [2, 2]),
        ("groups 2", None, 3, |d| d.groups = 2),
        ("1×3 kernel", None, 3, |d| d.kernel = [1, 3]),
        ("7×7 kernel", None, 7, |_| {}),
    ];
    for (what, tile, kernel, f) in forced {
        let mut d = Conv2dDesc { algo: Algo::Winograd, tile, ..Conv2dDesc::new(4, 6, kernel, 1) };
        f(&mut d);
        let conv = Conv2d::new(ctx(), d.clone(), &data(d.weight_len(), 1), None).unwrap();
        assert_eq!(kind(&conv.plan([1, 4, 5, 5])), "Unsupported", "plan: Winograd {what}");
        assert_eq!(kind(&conv.run(x, [1, 4, 5, 5], None)), "Unsupported", "run: Winograd {what}");
    }
    // The failed calls left nothing behind: the good call still works.
    let got = conv.run(x, [1, 4, 5, 5], None).unwrap();
    assert!(reference::max_rel_error(&got, &want(&d, [1, 4, 5, 5], &io5)) <= 1e-4);
    assert_no_validation_error(scope);
}

#[test]
fn unknown_option_names_are_typed_errors() {
    fn bad<T: std::str::FromStr<Err = Error>>() -> Error {
        "foo".parse::<T>().err().expect("'foo' parsed")
    }
    for e in [
        bad::<TileLayout>(),
        bad::<Algo>(),
        bad::<DType>(),
        bad::<DataFormat>(),
        bad::<WeightFormat>(),
        bad::<Activation>(),
    ] {
        match e {
            Error::InvalidDescriptor(m) => assert!(m.contains("'foo'") && m.contains("expected"), "{m}"),
            e => panic!("wrong variant {e:?}"),
        }
    }
    // Every name that Display writes parses back (case-insensitively).
    for l in [TileLayout::Auto, TileLayout::R16_6_6, TileLayout::R6_6_16] {
        assert_eq!(l.to_string().to_uppercase().parse::<TileLayout>(), Ok(l));
    }
    for a in [Algo::Auto, Algo::Winograd, Algo::Direct] {
        assert_eq!(a.to_string().parse::<Algo>(), Ok(a));
    }
    for t in [DType::F32, DType::F16] {
        assert_eq!(t.to_string().parse::<DType>(), Ok(t));
    }
}

/// `encode` checks the caller's buffers itself: a too-small buffer or one without STORAGE is
/// `InvalidBuffer`, with no wgpu validation error raised, and the encoder stays usable.
#[test]
fn encode_rejects_bad_buffers_without_validation_errors() {
    let _g = shared();
    let c = ctx();
    let shape = [2, 4, 5, 5];
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    for algo in [Algo::Direct, Algo::Winograd] {
        let d = Conv2dDesc { residual: true, algo, ..base() };
        let io = io(&d, shape, 4);
        let conv = build(c, &d, &io).unwrap();
        let plain = build(c, &Conv2dDesc { residual: false, ..d.clone() }, &io).unwrap();
        let (x, y) = (tensor(c, 200, Some(&io.x)), tensor(c, 300, None));
        let r = tensor(c, 300, io.r.as_deref());
        let small = |len: usize| tensor(c, len, None);
        let copy_only = buffer(c, 1200, U::COPY_DST | U::COPY_SRC);
        let map_only = buffer(c, 1200, U::MAP_READ);
        let mut enc = c.device().create_command_encoder(&Default::default());
        let mut encode = |conv: &Conv2d, shape, x: &_, y: &_, r| kind(&conv.encode(&mut enc, shape, x, y, r));
        let cases = [
            ("input 1 value short", encode(&conv, shape, &small(199), &y, Some(&r)), "InvalidBuffer"),
            ("output 1 value short", encode(&conv, shape, &x, &small(299), Some(&r)), "InvalidBuffer"),
            ("residual 1 value short", encode(&conv, shape, &x, &y, Some(&small(299))), "InvalidBuffer"),
            ("input sized for n = 1", encode(&conv, shape, &small(100), &y, Some(&r)), "InvalidBuffer"),
            ("input lacks STORAGE", encode(&conv, shape, &copy_only, &y, Some(&r)), "InvalidBuffer"),
            ("output lacks STORAGE", encode(&conv, shape, &x, &map_only, Some(&r)), "InvalidBuffer"),
            ("residual lacks STORAGE", encode(&conv, shape, &x, &y, Some(&copy_only)), "InvalidBuffer"),
            ("residual missing", encode(&conv, shape, &x, &y, None), "InvalidBuffer"),
            ("unexpected residual", encode(&plain, shape, &x, &y, Some(&r)), "InvalidBuffer"),
            ("shape c != in_channels", encode(&conv, [2, 3, 5, 5], &x, &y, Some(&r)), "InvalidShape"),
            ("zero width", encode(&conv, [1, 4, 1, 0], &x, &y, Some(&r)), "InvalidShape"),
        ];
        for (what, got, expected) in cases {
            assert_eq!(got, expected, "{algo:?}: {what}");
        }
        // The same encoder still records a valid call.
        conv.encode(&mut enc, shape, &x, &y, Some(&r)).unwrap();
        c.queue().submit([enc.finish()]);
        let err = reference::max_rel_error(&read(c, &y, 300), &want(&d, shape, &io));
        assert!(err <= 1e-4, "{algo:?}: error {err:e}");
    }
    assert_no_validation_error(scope);
}

/// `encode` caches bind groups per buffer set (at most 8): encoding again on the same buffers
/// (a hit), or on more sets than the cache holds (evictions), must read the current contents.
#[test]
fn encode_bind_group_cache_sees_new_data() {
    let _g = shared();
    let c = ctx();
    let (d, shape) = (base(), [2, 4, 7, 5]);
    let conv = build(c, &d, &io(&d, shape, 12)).unwrap();
    let sets: Vec<_> = (0..10).map(|_| (tensor(c, 280, None), tensor(c, 420, None))).collect();
    for (step, s) in [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 0, 5].into_iter().enumerate() {
        let (x, y) = &sets[s];
        let io = Io { x: data(280, 200 + step as u64), ..io(&d, shape, 12) };
        c.queue().write_buffer(x, 0, bytemuck::cast_slice(&io.x));
        let mut enc = c.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, shape, x, y, None).unwrap();
        c.queue().submit([enc.finish()]);
        let err = reference::max_rel_error(&read(c, y, 420), &want(&d, shape, &io));
        assert!(err <= 1e-4, "step {step}, buffer set {s}: error {err:e}");
    }
}

/// WGPU_ADAPTER_NAME matching no adapter is a clear `NoAdapter`, not a panic. Holds the
/// exclusive lock: no other test creates a context while the variable is set.
#[test]
fn unknown_adapter_name_is_a_typed_error() {
    let _g = EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner);
    std::env::set_var("WGPU_ADAPTER_NAME", "no-such-adapter-xyz");
    let r = Context::new();
    std::env::remove_var("WGPU_ADAPTER_NAME");
    match r {
        Err(Error::NoAdapter(m)) => assert!(m.contains("no-such-adapter-xyz"), "{m}"),
        r => panic!("expected NoAdapter, got {:?}", r.map(|c| c.adapter_info().name.clone())),
    }
}

fn refused<T>(r: &Result<T, Error>) -> bool {
    matches!(kind(r), "InvalidShape" | "TooLarge" | "InvalidDescriptor")
}

/// Sizes that overflow `usize`/`u64` arithmetic or are absurdly large must be refused up front,
/// not panic, hang, or reach wgpu.
#[test]
fn absurd_sizes_are_errors_not_panics_or_hangs() {
    let _g = shared();
    let d = base();
    let io = io(&d, [1, 4, 5, 5], 5);
    let conv = build(ctx(), &d, &io).unwrap();
    let mut failures = Vec::new();
    // `plan` first: a plan for usize::MAX images is the root of `run` hanging (`Plan::pieces`
    // then enumerates ~10^13 chunks), so only `plan` is called on it.
    let plans: [[usize; 4]; 3] = [[usize::MAX, 4, 5, 5], [1, 4, usize::MAX, 5], [1, 4, 5, usize::MAX / 2]];
    for shape in plans {
        match no_panic(|| conv.plan(shape)) {
            Ok(r) if refused(&r) => {}
            Ok(r) => failures.push(format!("plan({shape:?}) = {:?}", r.map(|p| (p.chunk, p.output)))),
            Err(p) => failures.push(format!("plan({shape:?}) panicked: {p}")),
        }
    }
    // `run` with a short input: the length check must come before anything is allocated.
    for shape in [[1 << 26, 4, 5, 5], [1, 4, usize::MAX, 5], [1, 4, 5, usize::MAX / 2]] {
        match no_panic(|| conv.run(&io.x, shape, None)) {
            Ok(r) if refused(&r) => {}
            Ok(r) => failures.push(format!("run({shape:?}) = {r:?}")),
            Err(p) => failures.push(format!("run({shape:?}) panicked: {p}")),
        }
    }
    let huge = [
        Conv2dDesc { in_channels: 1 << 33, out_channels: 1 << 33, ..Conv2dDesc::new(1, 1, 3, 1) },
        Conv2dDesc { padding: Padding::uniform(usize::MAX / 2), ..Conv2dDesc::new(4, 6, 3, 1) },
        Conv2dDesc { dilation: [usize::MAX, 1], ..Conv2dDesc::new(4, 6, 3, 1) },
    ];
    for d in huge {
        let r = no_panic(|| {
            let conv = Conv2d::new(ctx(), d.clone(), &data(216, 1), None)?;
            conv.run(&io.x, [1, 4, 5, 5], None)
        });
        let what = format!(
            "Conv2d::new + run, channels {}→{} padding {} dilation {:?}",
            d.in_channels, d.out_channels, d.padding.top, d.dilation
        );
        match r {
            Ok(r) if refused(&r) => {}
            Ok(r) => failures.push(format!("{what}: {r:?}")),
            Err(p) => failures.push(format!("{what}: panicked: {p}")),
        }
    }
    assert!(failures.is_empty(), "absurd sizes not refused:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// 2. Splitting past device limits

const BINDING: u64 = 256 << 10;

/// A device with a 256 KiB binding limit, a 1 MiB buffer limit and `groups` workgroups per
/// dimension (the adapter's other limits), so small convolutions must be split.
fn small_device(groups: u32) -> Context {
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: BINDING,
        max_buffer_size: 1 << 20,
        max_compute_workgroups_per_dimension: groups,
        ..ctx().limits()
    };
    Context::with_options(ContextOptions { limits: Some(limits) }).expect("lowered limits accepted")
}

fn small_ctx() -> &'static Context {
    static CTX: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    CTX.get_or_init(|| small_device(64))
}

#[test]
fn batches_past_the_limits_are_split_and_correct() {
    let _g = shared();
    let wino = |c, k, r, m| Conv2dDesc {
        algo: Algo::Winograd,
        tile: Some(m),
        fuse: Some(false),
        ..Conv2dDesc::new(c, k, r, r / 2)
    };
    let fused = |c, k, m| Conv2dDesc { fuse: Some(true), ..wino(c, k, 3, m) };
    let direct = |c, k| Conv2dDesc { algo: Algo::Direct, has_bias: true, ..Conv2dDesc::new(c, k, 3, 1) };
    let cases: [(Conv2dDesc, [usize; 4]); 13] = [
        // The fused kernel keeps only activations in memory: chunks of whole images, and bands
        // of tile rows once a row of tiles needs more workgroups than the limit allows.
        (fused(8, 8, 2), [8, 8, 40, 40]),
        (Conv2dDesc { residual: true, has_bias: true, ..fused(5, 7, 4) }, [12, 5, 33, 31]),
        (fused(1, 1, 2), [2, 1, 300, 200]),
        (wino(8, 8, 3, 2), [4, 8, 32, 32]),
        (wino(8, 8, 3, 4), [4, 8, 32, 32]),
        (wino(8, 8, 3, 6), [4, 8, 32, 32]),
        (wino(8, 8, 5, 2), [3, 8, 28, 30]),
        // One image's Winograd-domain buffers exceed the binding: bands of tile rows.
        (wino(8, 8, 3, 2), [2, 8, 96, 80]),
        // Images whose byte size is not a multiple of the offset alignment, NHWC, bias, residual.
        (
            Conv2dDesc {
                data_format: DataFormat::Nhwc,
                has_bias: true,
                residual: true,
                activation: Activation::Relu,
                layout: TileLayout::R16_6_6,
                ..wino(5, 7, 3, 2)
            },
            [5, 5, 23, 23],
        ),
        (direct(8, 8), [8, 8, 40, 40]),
        (direct(3, 5), [7, 3, 45, 45]),
        (Conv2dDesc { stride: [2, 2], groups: 2, ..direct(8, 8) }, [6, 8, 40, 40]),
        (Conv2dDesc { data_format: DataFormat::Nhwc, residual: true, ..direct(3, 5) }, [7, 3, 45, 45]),
    ];
    for (i, (d, shape)) in cases.into_iter().enumerate() {
        let (plan, err) =
            verify(small_ctx(), &d, shape, 40 + i as u64).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        assert!(plan.chunk < shape[0], "case {i} {shape:?} was not split: {plan:?}");
        eprintln!(
            "split case {i} {shape:?}: {:?} chunk {} band {} → {} pieces, error {err:.1e}",
            plan.path,
            plan.chunk,
            plan.band_rows,
            plan.pieces().len()
        );
        assert!(err <= tolerance(&plan), "case {i} {shape:?} {:?}: error {err:e}", d.algo);
    }
}

#[test]
fn one_image_past_the_binding_limit_is_too_large() {
    let _g = shared();
    for algo in [Algo::Winograd, Algo::Direct, Algo::Auto] {
        // 16 × 64 × 64 × 4 bytes = 256 KiB: one image alone fills the binding.
        let d = Conv2dDesc { algo, ..Conv2dDesc::new(16, 16, 3, 1) };
        let needed = (16 * 64 * 64 * 4).to_string();
        match verify(small_ctx(), &d, [2, 16, 64, 64], 1) {
            Err(Error::TooLarge(m)) => {
                let numbers: Vec<u64> =
                    m.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
                assert!(m.contains(&needed) && numbers.iter().any(|&n| n <= BINDING), "{algo:?}: {m}");
            }
            r => panic!("{algo:?}: expected TooLarge, got {:?}", r.map(|(p, e)| (p.chunk, e))),
        }
    }
    // A single row of tiles whose Winograd-domain buffer exceeds the binding.
    let d = Conv2dDesc { algo: Algo::Winograd, ..Conv2dDesc::new(64, 64, 3, 1) };
    let r = verify(small_ctx(), &d, [1, 64, 3, 300], 2);
    assert!(
        matches!(&r, Err(Error::TooLarge(m)) if m.chars().any(|c| c.is_ascii_digit())),
        "{:?}",
        r.map(|p| p.1)
    );
}

/// Auto picks Winograd for this shape, but one row of its tiles cannot fit the 256 KiB binding
/// while the direct path needs only 230 KiB: Auto should fall back to direct rather than refuse.
#[test]
fn auto_falls_back_to_direct_when_winograd_cannot_fit() {
    let _g = shared();
    let shape = [1, 64, 3, 300];
    let direct = Conv2dDesc { algo: Algo::Direct, ..Conv2dDesc::new(64, 64, 3, 1) };
    assert!(verify(small_ctx(), &direct, shape, 3).unwrap().1 <= 1e-4, "direct alone fits");
    match verify(small_ctx(), &Conv2dDesc::new(64, 64, 3, 1), shape, 3) {
        Ok((plan, err)) => assert!(err <= tolerance(&plan), "error {err:e}"),
        Err(e) => panic!("algo auto on {shape:?} under a 256 KiB binding limit: {e:?}"),
    }
}

/// 10 images of 128 KiB: every chunk fits the 256 KiB binding, but the whole batch (1.25 MiB)
/// is larger than `max_buffer_size` (1 MiB). The blocking call must either split its own
/// host-call buffers or refuse with `TooLarge` — not fail inside wgpu.
#[test]
fn batch_past_max_buffer_size_is_split_or_too_large() {
    let _g = shared();
    for algo in [Algo::Direct, Algo::Winograd] {
        let d = Conv2dDesc { algo, ..Conv2dDesc::new(8, 8, 3, 1) };
        match verify(small_ctx(), &d, [10, 8, 64, 64], 4) {
            Ok((plan, err)) => assert!(err <= tolerance(&plan), "{algo:?}: error {err:e}"),
            Err(Error::TooLarge(_)) => {}
            Err(e) => panic!("{algo:?}: {e:?}"),
        }
    }
}

/// WebGPU guarantees 65535 workgroups per dimension, but wgpu lets a device be created with
/// fewer; the planner claims every grid fits, so F(4,3)'s product grid (z = α² = 36) must too.
#[test]
fn tiny_workgroup_grid_limit_is_respected() {
    let _g = shared();
    let c = small_device(16);
    let direct = Conv2dDesc { algo: Algo::Direct, ..Conv2dDesc::new(4, 32, 3, 1) };
    let (plan, err) = verify(&c, &direct, [4, 4, 30, 30], 5).unwrap();
    assert!(plan.chunk < 4 && err <= 1e-4, "{plan:?} {err:e}");
    let wino = Conv2dDesc { algo: Algo::Winograd, tile: Some(4), ..Conv2dDesc::new(8, 8, 3, 1) };
    match verify(&c, &wino, [4, 8, 32, 32], 6) {
        Ok((plan, err)) => assert!(err <= 1e-4, "{plan:?} {err:e}"),
        Err(Error::TooLarge(_) | Error::Unsupported(_)) => {}
        Err(e) => panic!("F(4,3) with 16 workgroups per dimension: {e:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Thread safety

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Conv2d>();
    send_sync::<Context>();
};

#[test]
fn four_threads_share_one_conv2d_with_run() {
    let _g = shared();
    let d = Conv2dDesc { has_bias: true, activation: Activation::Silu, ..Conv2dDesc::new(8, 8, 3, 1) };
    let io0 = io(&d, [1, 8, 1, 1], 7);
    let conv = Arc::new(build(ctx(), &d, &io0).unwrap());
    let shapes = [[1, 8, 9, 9], [2, 8, 6, 11], [3, 8, 5, 4], [1, 8, 17, 3]];
    let start = Arc::new(Barrier::new(shapes.len()));
    let threads: Vec<_> = (0..shapes.len())
        .map(|t| {
            let (conv, d, start) = (conv.clone(), d.clone(), start.clone());
            std::thread::spawn(move || {
                let shape = shapes[t];
                // Two inputs alternated, so a result computed from another call's data shows.
                let ios = [
                    io(&d, shape, 7),
                    Io { x: data(shape.iter().product(), 70 + t as u64), ..io(&d, shape, 7) },
                ];
                let wants: Vec<_> = ios.iter().map(|io| want(&d, shape, io)).collect();
                start.wait();
                for i in 0..6 {
                    let got = conv.run(&ios[i % 2].x, shape, None).unwrap();
                    let err = reference::max_rel_error(&got, &wants[i % 2]);
                    assert!(err <= 1e-4, "thread {t} call {i} {shape:?}: error {err:e}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn threads_encode_into_their_own_encoders_and_buffers() {
    let _g = shared();
    let d = Conv2dDesc { has_bias: true, residual: true, ..Conv2dDesc::new(5, 7, 3, 1) };
    let conv = Arc::new(build(ctx(), &d, &io(&d, [1, 5, 1, 1], 8)).unwrap());
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4usize)
        .map(|t| {
            let (conv, d, start) = (conv.clone(), d.clone(), start.clone());
            std::thread::spawn(move || {
                let c = ctx();
                // Threads 0 and 2 share a shape (and so its cached resources), 1 and 3 do not.
                let shape = [[2, 5, 8, 8], [1, 5, 13, 6], [2, 5, 8, 8], [3, 5, 4, 9]][t];
                start.wait();
                for i in 0..3 {
                    let io =
                        Io { x: data(shape.iter().product(), 100 + 10 * t as u64 + i), ..io(&d, shape, 8) };
                    let want = want(&d, shape, &io);
                    let r = io.r.as_deref().unwrap();
                    let (x, y, res) = (
                        tensor(c, io.x.len(), Some(&io.x)),
                        tensor(c, want.len(), None),
                        tensor(c, r.len(), Some(r)),
                    );
                    let mut enc = c.device().create_command_encoder(&Default::default());
                    conv.encode(&mut enc, shape, &x, &y, Some(&res)).unwrap();
                    c.queue().submit([enc.finish()]);
                    let err = reference::max_rel_error(&read(c, &y, want.len()), &want);
                    assert!(err <= 1e-4, "thread {t} call {i} {shape:?}: error {err:e}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// 4. NaN and Inf

/// Two NaNs, a +Inf and a −Inf in the input. Direct matches the reference exactly: outputs
/// whose receptive field holds a NaN are NaN, those holding an Inf are ±Inf by the weight's sign
/// (NaN where both meet), all others finite and accurate.
///
/// Winograd is looser by construction: each output tile is `Aᵀ[Σ_c U ⊙ (Bᵀ d B)]A` over a
/// whole α×α input patch, so a NaN or Inf anywhere in the patch can reach every output of the
/// m×m tile, and an Inf mostly becomes NaN (the transforms subtract it from itself). So for
/// Winograd we assert only: every output the reference marks non-finite is non-finite on the
/// GPU, non-finite outputs stay inside output tiles that contain a reference non-finite output,
/// and every other output is finite and accurate. Measured on lavapipe: the generated transforms
/// skip zero coefficients, so F(2,3) and F(2,5) give exactly the reference's non-finite set
/// (Infs turned NaN), while F(4,3) and F(6,3) spread it over most of the tile.
#[test]
fn nan_and_inf_propagate_like_the_reference() {
    let _g = shared();
    let (h, w) = (12, 12);
    let shape = [2, 2, h, w];
    let cases = [
        (Algo::Direct, 3, None),
        (Algo::Winograd, 3, Some(2)),
        (Algo::Winograd, 3, Some(4)),
        (Algo::Winograd, 3, Some(6)),
        (Algo::Winograd, 5, Some(2)),
    ];
    for (algo, ks, tile) in cases {
        let d = Conv2dDesc { algo, tile, has_bias: true, ..Conv2dDesc::new(2, 3, ks, ks / 2) };
        let mut io = io(&d, shape, 9);
        io.x[13] = f32::NAN; // image 0, channel 0, (1, 1)
        io.x[144 + 100] = f32::INFINITY; // image 0, channel 1, (8, 4)
        io.x[2 * 144 + 144 + 143] = f32::NAN; // image 1, channel 1, (11, 11): the corner tile
        io.x[2 * 144 + 66] = f32::NEG_INFINITY; // image 1, channel 0, (5, 6)
        let want = want(&d, shape, &io);
        let got = build(ctx(), &d, &io).unwrap().run(&io.x, shape, None).unwrap();
        // (NaN count, Inf count); printed so the behaviour is on record (`--nocapture`).
        let census = |v: &mut dyn Iterator<Item = f64>| {
            v.fold((0, 0), |(n, i), v| (n + v.is_nan() as usize, i + v.is_infinite() as usize))
        };
        let (rc, gc) = (census(&mut want.iter().copied()), census(&mut got.iter().map(|&v| v as f64)));
        let same = got.iter().zip(&want).all(|(g, r)| g.is_finite() == r.is_finite());
        let what = format!("{algo:?} {tile:?} {ks}×{ks}");
        eprintln!("{what}: (NaN, Inf) reference {rc:?}, GPU {gc:?}; same non-finite set: {same}");
        if algo == Algo::Direct {
            let err = reference::max_rel_error(&got, &want);
            assert!(err <= 1e-4, "direct: NaN/Inf pattern or values differ from the reference ({err:e})");
            continue;
        }
        let m = tile.unwrap();
        let tile_of = |i: usize| (i / (h * w), i % (h * w) / w / m, i % w / m); // (plane, ty, tx)
        let poisoned: std::collections::HashSet<_> =
            (0..want.len()).filter(|&i| !want[i].is_finite()).map(tile_of).collect();
        let (mut finite, mut finite_want) = (Vec::new(), Vec::new());
        for (i, (&g, &r)) in got.iter().zip(&want).enumerate() {
            if !r.is_finite() {
                assert!(!g.is_finite(), "F({m},{ks}) output {i}: reference {r}, GPU {g}");
            } else if !g.is_finite() {
                assert!(
                    poisoned.contains(&tile_of(i)),
                    "F({m},{ks}) output {i} is {g} outside a poisoned tile"
                );
            } else {
                finite.push(g);
                finite_want.push(r);
            }
        }
        let err = reference::max_rel_error(&finite, &finite_want);
        assert!(err <= 1e-4, "F({m},{ks}) finite outputs: error {err:e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Soak

/// Resident set size in KiB (Linux); None elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4) // 4 KiB pages
}

#[test]
fn soak_2000_runs_keep_memory_flat_and_results_identical() {
    // Alone in the process: no other test allocates while resident memory is measured.
    let _g = EXCLUSIVE.write().unwrap_or_else(PoisonError::into_inner);
    let d = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) };
    let shape = [2, 4, 9, 7];
    let io = io(&d, shape, 11);
    let conv = build(ctx(), &d, &io).unwrap();
    let first = conv.run(&io.x, shape, None).unwrap();
    assert!(reference::max_rel_error(&first, &want(&d, shape, &io)) <= 1e-4);
    for _ in 0..200 {
        conv.run(&io.x, shape, None).unwrap(); // warm-up
    }
    let (before, start) = (rss_kib(), std::time::Instant::now());
    for i in 0..2000 {
        let got = conv.run(&io.x, shape, None).unwrap();
        assert!(got.iter().zip(&first).all(|(a, b)| a.to_bits() == b.to_bits()), "call {i} differs");
    }
    let elapsed = start.elapsed();
    // Off Linux there is no /proc/self/statm: the calls and the identity check still run above.
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        let growth = a as i64 - b as i64;
        eprintln!("soak: 2000 calls in {elapsed:.2?}; RSS {b} KiB → {a} KiB ({growth:+} KiB)");
        assert!(a <= b + 4096, "resident memory grew from {b} KiB to {a} KiB over 2000 calls");
    }
}

// ---------------------------------------------------------------------------------------------
// 6. Property tests

/// Common divisors of `c` and `k`.
fn divisors(c: usize, k: usize) -> Vec<usize> {
    (1..=c.min(k)).filter(|g| c.is_multiple_of(*g) && k.is_multiple_of(*g)).collect()
}

/// A random convolution and input shape. With `Algo::Winograd` only what Winograd supports is
/// generated (square 3×3 or 5×5, stride 1, dilation 1, groups 1, a matching tile).
fn arb_case() -> impl Strategy<Value = (Conv2dDesc, [usize; 4])> {
    let sizes = (1usize..=3, 1usize..=20, 1usize..=20, 1usize..=20, 1usize..=20);
    let kernel = (1usize..=5, 1usize..=5, [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2]);
    let stepping = (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, any::<prop::sample::Index>());
    let options = (
        0usize..3,
        any::<prop::sample::Index>(),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        0usize..3,
    );
    (sizes, kernel, stepping, options).prop_map(|((n, c, k, h, w), (kh, kw, p), (sh, sw, dh, dw, g), o)| {
        let (algo_pick, tile_pick, layout_pick, has_bias, residual, act, fuse_pick) = o;
        let algo = [Algo::Auto, Algo::Winograd, Algo::Direct][algo_pick];
        let mut d = Conv2dDesc {
            kernel: [kh, kw],
            stride: [sh, sw],
            dilation: [dh, dw],
            padding: Padding { top: p[0], bottom: p[1], left: p[2], right: p[3] },
            groups: *g.get(&divisors(c, k)),
            has_bias,
            residual,
            activation: [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu][act],
            algo,
            layout: [TileLayout::Auto, TileLayout::R16_6_6, TileLayout::R6_6_16][layout_pick],
            ..Conv2dDesc::new(c, k, 3, 0)
        };
        if algo == Algo::Winograd {
            let r = if kh <= 3 { 3 } else { 5 };
            (d.kernel, d.stride, d.dilation, d.groups) = ([r, r], [1, 1], [1, 1], 1);
        }
        // Winograd tiles for a square 3×3 / 5×5 kernel; Auto may also leave the tile to dispatch.
        let tiles: &[usize] = match (d.kernel, algo) {
            ([3, 3], Algo::Winograd) => &[2, 4, 6],
            ([5, 5], Algo::Winograd) => &[2],
            ([3, 3], Algo::Auto) => &[0, 2, 4, 6],
            ([5, 5], Algo::Auto) => &[0, 2],
            _ => &[0],
        };
        d.tile = Some(*tile_pick.get(tiles)).filter(|&m| m != 0);
        // Winograd-only options (tile, layout, fusion) only where Winograd can run: auto refuses
        // them elsewhere.
        if algo == Algo::Direct || !wgpu_winograd::dispatch::winograd_applies(&d) {
            (d.layout, d.tile) = (TileLayout::Auto, None);
        } else {
            d.fuse = [None, Some(true), Some(false)][fuse_pick];
        }
        (d, [n, c, h, w])
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_convolutions_match_the_reference((d, shape) in arb_case()) {
        let _g = shared();
        prop_assume!(d.output_hw(shape[2], shape[3]).is_ok());
        let (plan, err) = verify(ctx(), &d, shape, 77).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert!(err <= tolerance(&plan), "{:?} {:?} via {:?}: error {:e}", d, shape, plan.path, err);
    }
}
