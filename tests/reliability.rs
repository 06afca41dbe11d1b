//! Reliability: bad input gives a typed `Error` (never a panic, never a leaked wgpu validation
//! error), work past the device limits is split (or refused with `TooLarge`), one convolution is
//! shared across threads, NaN/Inf propagate, and random
//! convolutions agree with the f64 reference (property tests).

mod common;
use common::{buffer, ctx, data, read, tensor, verify, Tensors};
use proptest::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, PoisonError, RwLock, RwLockReadGuard};
use wgpu::BufferUsages as U;
use wgpu_winograd::{
    reference, Activation, Algo, Context, Conv2d, Conv2dDesc, DType, DataFormat, Engine, Error, GemmBlock,
    Padding, Product, TensorBlock, TileLayout, WeightFormat,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// One test sets an environment variable, so it runs alone: every other test that touches the
/// GPU holds this shared.
static EXCLUSIVE: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    EXCLUSIVE.read().unwrap_or_else(PoisonError::into_inner)
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
        Err(Error::Io(_)) => "Io",
        Err(Error::Codegen(_)) => "Codegen",
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
    let (w, b) = (data(d.weight_len().unwrap(), 1), data(6, 2));
    let scope = ctx().device().push_error_scope(wgpu::ErrorFilter::Validation);
    let new = |d: Conv2dDesc, w: &[f32], b: Option<&[f32]>| kind(&Conv2d::new(ctx(), d, w, b));
    let with = |f: Tweak| {
        let mut d = base();
        f(&mut d);
        d
    };
    let cases: [(&str, &str, &str); 19] = [
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
        // Forced options the forced algorithm cannot honour.
        (
            "depthwise on a dense conv",
            new(with(|d| d.algo = Some(Algo::Depthwise)), &w, Some(&b)),
            "InvalidDescriptor",
        ),
        (
            "gemm with a fused product",
            new(with(|d| (d.algo, d.product) = (Some(Algo::Gemm), Some(Product::Fused))), &w, Some(&b)),
            "InvalidDescriptor",
        ),
        (
            "direct with a tile",
            new(with(|d| (d.algo, d.tile) = (Some(Algo::Direct), Some(2))), &w, Some(&b)),
            "InvalidDescriptor",
        ),
        (
            "direct with a product block",
            new(
                with(|d| {
                    (d.algo, d.product) =
                        (Some(Algo::Direct), Some(Product::Engine(Engine::Registers(GemmBlock::B64))))
                }),
                &w,
                Some(&b),
            ),
            "InvalidDescriptor",
        ),
        (
            "tile 4 with stride 2",
            new(with(|d| (d.tile, d.stride) = (Some(4), [2, 2])), &w, Some(&b)),
            "Unsupported",
        ),
    ];
    for (what, got, expected) in cases {
        assert_eq!(got, expected, "{what}");
    }
    // Product blocks the kernels cannot run cannot be built.
    for (bm, bn, bk, tm, tn) in
        [(64, 64, 16, 6, 4), (62, 64, 16, 4, 4), (64, 64, 0, 4, 4), (64, 64, 65, 4, 4), (512, 512, 8, 4, 4)]
    {
        let r = GemmBlock::new(bm, bn, bk, tm, tn);
        assert_eq!(kind(&r), "InvalidDescriptor", "block {bm}×{bn}×{bk}/{tm}×{tn}");
    }
    assert_no_validation_error(scope);
}

#[test]
fn bad_run_calls_are_typed_errors() {
    let _g = shared();
    let d = base();
    let io5 = Tensors::new(&d, [1, 4, 5, 5], 3);
    let conv = io5.conv_on(ctx(), &d).unwrap();
    let x = &io5.x;
    let res_desc = Conv2dDesc { residual: true, ..d.clone() };
    let with_res = Tensors::new(&res_desc, [1, 4, 5, 5], 3).conv_on(ctx(), &res_desc).unwrap();
    let out = vec![0.5f32; 6 * 25];
    let unpadded = Conv2dDesc { padding: Padding::uniform(0), ..d.clone() };
    let no_pad = io5.conv_on(ctx(), &unpadded).unwrap();
    let dilated = io5.conv_on(ctx(), &Conv2dDesc { dilation: [2, 2], ..d.clone() }).unwrap();
    let half_desc = Conv2dDesc { dtype: DType::F16, ..d.clone() };
    let f16_conv = io5.conv_on(ctx(), &half_desc).unwrap();
    let half: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    let scope = ctx().device().push_error_scope(wgpu::ErrorFilter::Validation);
    let cases: Vec<(&str, &str, &str)> = vec![
        ("input one short", kind(&conv.run(&x[1..], [1, 4, 5, 5], None)), "InvalidShape"),
        ("input for another shape", kind(&conv.run(x, [1, 4, 5, 6], None)), "InvalidShape"),
        ("shape c != in_channels", kind(&conv.run(x, [1, 5, 4, 5], None)), "InvalidShape"),
        ("zero batch with a residual", kind(&with_res.run::<f32>(&[], [0, 4, 5, 5], None)), "InvalidShape"),
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
    // An empty batch is valid, as in PyTorch: an empty output.
    assert_eq!(conv.run::<f32>(&[], [0, 4, 5, 5], None), Ok(Vec::new()), "zero batch");
    assert_eq!(
        with_res.run::<f32>(&[], [0, 4, 5, 5], Some(&[])),
        Ok(Vec::new()),
        "zero batch, empty residual"
    );
    // Winograd forced where it cannot apply: Unsupported from `Conv2d::new` (the descriptor is
    // checked before any shape is seen), in one line.
    let forced: [(&str, Option<usize>, usize, Tweak); 9] = [
        ("tile 3 on 3×3", Some(3), 3, |_| {}),
        ("tile 5 on 3×3", Some(5), 3, |_| {}),
        ("tile 4 on 5×5", Some(4), 5, |_| {}),
        ("stride 2", None, 3, |d| d.stride = [2, 2]),
        ("stride 1×2", None, 3, |d| d.stride = [1, 2]),
        ("dilation 2", None, 3, |d| d.dilation = [2, 2]),
        ("fused, groups 2", None, 3, |d| {
            d.groups = 2;
            d.product = Some(wgpu_winograd::Product::Fused);
        }),
        ("1×3 kernel", None, 3, |d| d.kernel = [1, 3]),
        ("7×7 kernel", None, 7, |_| {}),
    ];
    for (what, tile, kernel, f) in forced {
        let mut d = Conv2dDesc { algo: Some(Algo::Winograd), tile, ..Conv2dDesc::new(4, 6, kernel, 1) };
        f(&mut d);
        let r = Conv2d::new(ctx(), d.clone(), &data(d.weight_len().unwrap(), 1), None);
        assert_eq!(kind(&r), "Unsupported", "Winograd {what}");
        let message = r.err().unwrap().to_string();
        assert!(!message.contains('\n'), "Winograd {what}: a message of several lines: {message}");
    }
    // The failed calls left nothing behind: the good call still works.
    let got = conv.run(x, [1, 4, 5, 5], None).unwrap();
    assert!(reference::max_rel_error(&got, &io5.reference(&d, [1, 4, 5, 5])) <= 1e-4);
    assert_no_validation_error(scope);
}

#[test]
fn unknown_option_names_are_typed_errors() {
    fn bad<T: std::str::FromStr<Err = Error>>() -> Error {
        "foo".parse::<T>().err().expect("'foo' parsed")
    }
    for e in [
        bad::<Product>(),
        bad::<GemmBlock>(),
        bad::<TileLayout>(),
        bad::<Algo>(),
        bad::<DType>(),
        bad::<DataFormat>(),
        bad::<WeightFormat>(),
        bad::<Activation>(),
    ] {
        match e {
            Error::InvalidDescriptor(m) => assert!(m.contains("'foo'") && !m.contains('\n'), "{m}"),
            e => panic!("wrong variant {e:?}"),
        }
    }
    // Every name that Display writes parses back (case-insensitively).
    for l in [TileLayout::R16_6_6, TileLayout::R6_6_16] {
        assert_eq!(l.to_string().to_uppercase().parse::<TileLayout>(), Ok(l));
    }
    for a in [Algo::Winograd, Algo::Gemm, Algo::Depthwise, Algo::Direct] {
        assert_eq!(a.to_string().parse::<Algo>(), Ok(a));
    }
    let engines = GemmBlock::CATALOGUE
        .map(Product::from)
        .into_iter()
        .chain(TensorBlock::CATALOGUE_16.map(Product::from));
    for p in [Product::Fused, Product::Separate].into_iter().chain(engines) {
        assert_eq!(p.to_string().parse::<Product>(), Ok(p));
    }
    for t in [DType::F32, DType::F16] {
        assert_eq!(t.to_string().parse::<DType>(), Ok(t));
    }
}

/// `encode` checks the caller's buffers itself: a too-small buffer or one without STORAGE is
/// `InvalidBuffer` (a residual buffer given or missing against the descriptor `InvalidShape`,
/// as in `run`), with no wgpu validation error raised, and the encoder stays usable.
#[test]
fn encode_rejects_bad_buffers_without_validation_errors() {
    let _g = shared();
    let c = ctx();
    let shape = [2, 4, 5, 5];
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    for algo in [Algo::Direct, Algo::Winograd, Algo::Gemm] {
        let d = Conv2dDesc { residual: true, algo: Some(algo), ..base() };
        let io = Tensors::new(&d, shape, 4);
        let conv = io.conv_on(c, &d).unwrap();
        let plain = io.conv_on(c, &Conv2dDesc { residual: false, ..d.clone() }).unwrap();
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
            // A residual given or missing against the descriptor is the rule `run` applies too.
            ("residual missing", encode(&conv, shape, &x, &y, None), "InvalidShape"),
            ("unexpected residual", encode(&plain, shape, &x, &y, Some(&r)), "InvalidShape"),
            ("shape c != in_channels", encode(&conv, [2, 3, 5, 5], &x, &y, Some(&r)), "InvalidShape"),
            ("zero width", encode(&conv, [1, 4, 1, 0], &x, &y, Some(&r)), "InvalidShape"),
            // An empty batch records nothing.
            ("zero batch", encode(&conv, [0, 4, 5, 5], &x, &y, Some(&r)), "Ok"),
        ];
        for (what, got, expected) in cases {
            assert_eq!(got, expected, "{algo:?}: {what}");
        }
        // The same encoder still records a valid call.
        conv.encode(&mut enc, shape, &x, &y, Some(&r)).unwrap();
        c.queue().submit([enc.finish()]);
        let err = reference::max_rel_error(&read(c, &y, 300), &io.reference(&d, shape));
        assert!(err <= 1e-4, "{algo:?}: error {err:e}");
    }
    assert_no_validation_error(scope);
}

/// `encode` again on the same buffers, and on ten buffer sets in turn, reads the current contents
/// (it once cached bind groups per buffer set, at most 8: hits and evictions are still covered).
#[test]
fn encode_bind_group_cache_sees_new_data() {
    let _g = shared();
    let c = ctx();
    let (d, shape) = (base(), [2, 4, 7, 5]);
    let conv = Tensors::new(&d, shape, 12).conv_on(c, &d).unwrap();
    let sets: Vec<_> = (0..10).map(|_| (tensor(c, 280, None), tensor(c, 420, None))).collect();
    for (step, s) in [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 0, 5].into_iter().enumerate() {
        let (x, y) = &sets[s];
        let io = Tensors { x: data(280, 200 + step as u64), ..Tensors::new(&d, shape, 12) };
        c.queue().write_buffer(x, 0, bytemuck::cast_slice(&io.x));
        let mut enc = c.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, shape, x, y, None).unwrap();
        c.queue().submit([enc.finish()]);
        let err = reference::max_rel_error(&read(c, y, 420), &io.reference(&d, shape));
        assert!(err <= 1e-4, "step {step}, buffer set {s}: error {err:e}");
    }
}

/// WGPU_ADAPTER_NAME matching no adapter is a clear `NoAdapter`, not a panic. Holds the
/// exclusive lock: no other test creates a context while the variable is set.
#[test]
fn unknown_adapter_name_is_a_typed_error() {
    // The shared context first: it sets the tune-cache variable (see `common::ctx`).
    ctx();
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
    let io = Tensors::new(&d, [1, 4, 5, 5], 5);
    let conv = io.conv_on(ctx(), &d).unwrap();
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
    common::limited_ctx(BINDING, 1 << 20, groups)
}

fn small_ctx() -> &'static Context {
    static CTX: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    CTX.get_or_init(|| small_device(64))
}

#[test]
fn batches_past_the_limits_are_split_and_correct() {
    let _g = shared();
    let wino = |c, k, r, m| Conv2dDesc {
        algo: Some(Algo::Winograd),
        tile: Some(m),
        product: Some(Product::Separate),
        ..Conv2dDesc::new(c, k, r, r / 2)
    };
    let fused = |c, k, m| Conv2dDesc { product: Some(Product::Fused), ..wino(c, k, 3, m) };
    let direct =
        |c, k| Conv2dDesc { algo: Some(Algo::Direct), has_bias: true, ..Conv2dDesc::new(c, k, 3, 1) };
    let gemm =
        |c, k, r| Conv2dDesc { algo: Some(Algo::Gemm), has_bias: true, ..Conv2dDesc::new(c, k, r, r / 2) };
    let depthwise =
        |c, r| Conv2dDesc { algo: Some(Algo::Depthwise), groups: c, ..Conv2dDesc::new(c, c, r, r / 2) };
    let cases: [(Conv2dDesc, [usize; 4]); 18] = [
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
                layout: Some(TileLayout::R16_6_6),
                ..wino(5, 7, 3, 2)
            },
            [5, 5, 23, 23],
        ),
        (direct(8, 8), [8, 8, 40, 40]),
        (direct(3, 5), [7, 3, 45, 45]),
        (Conv2dDesc { stride: [2, 2], groups: 2, ..direct(8, 8) }, [6, 8, 40, 40]),
        (Conv2dDesc { data_format: DataFormat::Nhwc, residual: true, ..direct(3, 5) }, [7, 3, 45, 45]),
        (gemm(8, 8, 3), [8, 8, 40, 40]),
        (gemm(8, 16, 1), [8, 8, 40, 40]),
        (
            Conv2dDesc { stride: [2, 2], groups: 2, data_format: DataFormat::Nhwc, ..gemm(8, 8, 3) },
            [6, 8, 40, 40],
        ),
        (depthwise(8, 3), [8, 8, 40, 40]),
        (Conv2dDesc { residual: true, data_format: DataFormat::Nhwc, ..depthwise(5, 5) }, [7, 5, 45, 45]),
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
        assert!(
            err <= reference::tolerance(d.dtype, &plan),
            "case {i} {shape:?} {:?}: error {err:e}",
            d.algo
        );
    }
}

#[test]
fn one_image_past_the_binding_limit_runs_in_staged_bands() {
    let _g = shared();
    for algo in [Some(Algo::Winograd), Some(Algo::Direct), Some(Algo::Gemm), None] {
        // 16 × 64 × 64 × 4 bytes = 256 KiB: one image alone fills the binding.
        let d = Conv2dDesc { algo, ..Conv2dDesc::new(16, 16, 3, 1) };
        match verify(small_ctx(), &d, [2, 16, 64, 64], 1) {
            Ok((plan, err)) => {
                assert!(plan.staged_rows.is_some(), "{algo:?}: {plan}");
                assert!(err <= reference::tolerance(d.dtype, &plan), "{algo:?}: {plan}: error {err:e}");
            }
            Err(e) => panic!("{algo:?}: {e}"),
        }
    }
    // A single row of tiles whose Winograd-domain buffer exceeds the binding.
    let d = Conv2dDesc { algo: Some(Algo::Winograd), ..Conv2dDesc::new(64, 64, 3, 1) };
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
    let direct = Conv2dDesc { algo: Some(Algo::Direct), ..Conv2dDesc::new(64, 64, 3, 1) };
    assert!(verify(small_ctx(), &direct, shape, 3).unwrap().1 <= 1e-4, "direct alone fits");
    match verify(small_ctx(), &Conv2dDesc::new(64, 64, 3, 1), shape, 3) {
        Ok((plan, err)) => assert!(err <= reference::tolerance(DType::F32, &plan), "{plan}: error {err:e}"),
        Err(e) => panic!("algo auto on {shape:?} under a 256 KiB binding limit: {e:?}"),
    }
}

/// 10 images of 128 KiB: every chunk fits the 256 KiB binding, but the whole batch (1.25 MiB)
/// is larger than `max_buffer_size` (1 MiB). The blocking call must either split its own
/// host-call buffers or refuse with `TooLarge` — not fail inside wgpu.
#[test]
fn batch_past_max_buffer_size_is_split_or_too_large() {
    let _g = shared();
    for algo in [Algo::Direct, Algo::Winograd, Algo::Gemm] {
        let d = Conv2dDesc { algo: Some(algo), ..Conv2dDesc::new(8, 8, 3, 1) };
        match verify(small_ctx(), &d, [10, 8, 64, 64], 4) {
            Ok((plan, err)) => {
                assert!(err <= reference::tolerance(d.dtype, &plan), "{algo:?}: error {err:e}")
            }
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
    let direct = Conv2dDesc { algo: Some(Algo::Direct), ..Conv2dDesc::new(4, 32, 3, 1) };
    let (plan, err) = verify(&c, &direct, [4, 4, 30, 30], 5).unwrap();
    assert!(plan.chunk < 4 && err <= 1e-4, "{plan:?} {err:e}");
    let wino = Conv2dDesc { algo: Some(Algo::Winograd), tile: Some(4), ..Conv2dDesc::new(8, 8, 3, 1) };
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
    let io0 = Tensors::new(&d, [1, 8, 1, 1], 7);
    let conv = Arc::new(io0.conv_on(ctx(), &d).unwrap());
    let shapes = [[1, 8, 9, 9], [2, 8, 6, 11], [3, 8, 5, 4], [1, 8, 17, 3]];
    let start = Arc::new(Barrier::new(shapes.len()));
    let threads: Vec<_> = (0..shapes.len())
        .map(|t| {
            let (conv, d, start) = (conv.clone(), d.clone(), start.clone());
            std::thread::spawn(move || {
                let shape = shapes[t];
                // Two inputs alternated, so a result computed from another call's data shows.
                let ios = [
                    Tensors::new(&d, shape, 7),
                    Tensors { x: data(shape.iter().product(), 70 + t as u64), ..Tensors::new(&d, shape, 7) },
                ];
                let wants: Vec<_> = ios.iter().map(|io| io.reference(&d, shape)).collect();
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
    let conv = Arc::new(Tensors::new(&d, [1, 5, 1, 1], 8).conv_on(ctx(), &d).unwrap());
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
                    let io = Tensors {
                        x: data(shape.iter().product(), 100 + 10 * t as u64 + i),
                        ..Tensors::new(&d, shape, 8)
                    };
                    let want = io.reference(&d, shape);
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

/// Four threads cycle through more shapes than the shape cache holds (two), so shapes are
/// evicted while another thread's call still uses them: every result stays right.
#[test]
fn threads_share_a_shape_cache_smaller_than_their_shapes() {
    let _g = shared();
    let d = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) };
    let shapes = [[1, 4, 9, 9], [2, 4, 6, 11], [1, 4, 5, 4], [1, 4, 17, 3], [3, 4, 7, 7]];
    let io0 = Tensors::new(&d, [1, 4, 1, 1], 8);
    let conv = Arc::new(io0.conv_on(ctx(), &d).unwrap());
    conv.set_shape_cache_limit(2, u64::MAX);
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (conv, d, start) = (conv.clone(), d.clone(), start.clone());
            std::thread::spawn(move || {
                let cases: Vec<_> = shapes
                    .iter()
                    .map(|&s| {
                        let io = Tensors::new(&d, s, 8);
                        let want = io.reference(&d, s);
                        (s, io, want)
                    })
                    .collect();
                start.wait();
                for i in 0..10 {
                    let (s, io, want) = &cases[(i + t) % cases.len()];
                    let err = reference::max_rel_error(&conv.run(&io.x, *s, None).unwrap(), want);
                    assert!(err <= 1e-4, "thread {t} call {i} {s:?}: error {err:e}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(conv.cached_shapes().len() <= 2, "{:?}", conv.cached_shapes());
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
        let d = Conv2dDesc { algo: Some(algo), tile, has_bias: true, ..Conv2dDesc::new(2, 3, ks, ks / 2) };
        let mut io = Tensors::new(&d, shape, 9);
        io.x[13] = f32::NAN; // image 0, channel 0, (1, 1)
        io.x[144 + 100] = f32::INFINITY; // image 0, channel 1, (8, 4)
        io.x[2 * 144 + 144 + 143] = f32::NAN; // image 1, channel 1, (11, 11): the corner tile
        io.x[2 * 144 + 66] = f32::NEG_INFINITY; // image 1, channel 0, (5, 6)
        let want = io.reference(&d, shape);
        let got = io.conv_on(ctx(), &d).unwrap().run(&io.x, shape, None).unwrap();
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
// 5. Timing

fn has_timestamps(c: &Context) -> bool {
    let has = c.features().contains(wgpu::Features::TIMESTAMP_QUERY);
    if !has {
        eprintln!("skipped: {} lacks TIMESTAMP_QUERY", c.adapter_info().name);
    }
    has
}

/// An empty batch records no dispatch: `benchmark` times the empty call, `benchmark_kernels`
/// lists no kernel (it divided by its zero dispatches).
#[test]
fn benchmark_kernels_on_an_empty_batch_is_empty() {
    let _g = shared();
    let d = base();
    let conv = Tensors::new(&d, [1, 4, 7, 5], 3).conv(&d);
    let empty = [0, 4, 7, 5];
    let t = no_panic(|| conv.benchmark(empty, 3)).unwrap().unwrap();
    assert!(t.wall_ms >= 0.0 && t.gpu_ms.is_none_or(|g| g >= 0.0), "{t:?}");
    if has_timestamps(ctx()) {
        assert_eq!(no_panic(|| conv.benchmark_kernels(empty, 3)).unwrap().unwrap(), vec![]);
        assert_eq!(
            conv.benchmark_kernels([1, 4, 7, 5], 3).unwrap().len(),
            conv.plan([1, 4, 7, 5]).unwrap().pieces().len()
        );
    }
}

/// A call of more than 2048 dispatches needs more than one query set's 4096 timestamps: a
/// batch of 2100 images of 256 bytes split one image per dispatch by a 512-byte binding limit.
#[test]
fn benchmark_kernels_times_more_than_2048_dispatches() {
    let _g = shared();
    let big = ctx().limits().max_buffer_size;
    let c = common::limited_ctx(512, big, ctx().limits().max_compute_workgroups_per_dimension);
    if !has_timestamps(&c) {
        return;
    }
    let d = Conv2dDesc { algo: Some(Algo::Direct), ..Conv2dDesc::new(1, 1, 3, 1) };
    let shape = [2100, 1, 8, 8];
    let t = Tensors::new(&d, shape, 4);
    let conv = t.conv_on(&c, &d).unwrap();
    let plan = conv.plan(shape).unwrap();
    let dispatches = plan.pieces().len() * plan.slices().len();
    assert!(dispatches > 2048, "{plan}: {dispatches} dispatches");
    let kernels = conv.benchmark_kernels(shape, 2).unwrap_or_else(|e| panic!("{plan}: {e}"));
    assert_eq!(kernels.len(), dispatches);
    assert!(kernels.iter().all(|(name, ms)| name.starts_with("direct") && ms.is_finite() && *ms >= 0.0));
    // The call itself is still right on this context.
    let err = reference::max_rel_error(&t.run(&conv, shape), &t.reference(&d, shape));
    assert!(err <= 1e-4, "error {err:e}");
}

// ---------------------------------------------------------------------------------------------
// 6. Property tests

/// Common divisors of `c` and `k`.
fn divisors(c: usize, k: usize) -> Vec<usize> {
    (1..=c.min(k)).filter(|g| c.is_multiple_of(*g) && k.is_multiple_of(*g)).collect()
}

/// A random convolution and input shape, with the algorithm left to dispatch or forced. Forced
/// options are generated only where the forced (or automatic) algorithm can honour them:
/// Winograd gets a square 3×3 or 5×5 kernel, stride 1, dilation 1, groups 1 and a matching
/// tile; depthwise gets groups = in_channels (with a channel multiplier of 1 or 2); GEMM may get
/// a product block.
fn arb_case() -> impl Strategy<Value = (Conv2dDesc, [usize; 4])> {
    let sizes = (1usize..=3, 1usize..=20, 1usize..=20, 1usize..=20, 1usize..=20);
    let kernel = (1usize..=5, 1usize..=5, [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2]);
    let stepping = (1usize..=3, 1usize..=3, 1usize..=2, 1usize..=2, any::<prop::sample::Index>());
    let options = (
        0usize..5,
        any::<prop::sample::Index>(),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
        0usize..3,
    );
    (sizes, kernel, stepping, options).prop_map(|((n, c, k, h, w), (kh, kw, p), (sh, sw, dh, dw, g), o)| {
        let (algo_pick, tile_pick, layout_pick, has_bias, residual, act, product_pick) = o;
        let algo = [None, Some(Algo::Winograd), Some(Algo::Direct), Some(Algo::Gemm), Some(Algo::Depthwise)]
            [algo_pick];
        let depthwise = algo == Some(Algo::Depthwise);
        let (c, k) = if depthwise { (c.max(2), c.max(2) * (1 + k % 2)) } else { (c, k) };
        let mut d = Conv2dDesc {
            kernel: [kh, kw],
            stride: [sh, sw],
            dilation: [dh, dw],
            padding: Padding { top: p[0], bottom: p[1], left: p[2], right: p[3] },
            groups: if depthwise { c } else { *g.get(&divisors(c, k)) },
            has_bias,
            residual,
            activation: [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu][act],
            algo,
            layout: [None, Some(TileLayout::R16_6_6), Some(TileLayout::R6_6_16)][layout_pick],
            ..Conv2dDesc::new(c, k, 3, 0)
        };
        if algo == Some(Algo::Winograd) {
            let r = if kh <= 3 { 3 } else { 5 };
            (d.kernel, d.stride, d.dilation, d.groups) = ([r, r], [1, 1], [1, 1], 1);
        }
        // Winograd tiles for a square 3×3 / 5×5 kernel; automatic dispatch may also choose.
        let tiles: &[usize] = match (d.kernel, algo) {
            ([3, 3], Some(Algo::Winograd)) => &[2, 4, 6],
            ([5, 5], Some(Algo::Winograd)) => &[2],
            ([3, 3], None) => &[0, 2, 4, 6],
            ([5, 5], None) => &[0, 2],
            _ => &[0],
        };
        d.tile = Some(*tile_pick.get(tiles)).filter(|&m| m != 0);
        let winograd_possible = matches!(algo, None | Some(Algo::Winograd)) && d.winograd_applies();
        if winograd_possible {
            d.product = [None, Some(Product::Fused), Some(Product::Separate)][product_pick];
        } else {
            // Winograd-only options where Winograd cannot run are refused by `Conv2d::new`.
            (d.layout, d.tile) = (None, None);
            if algo == Some(Algo::Gemm) {
                d.product =
                    [None, Some(GemmBlock::K16), Some(GemmBlock::B64)][product_pick].map(Product::from);
            }
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
        prop_assert!(err <= reference::tolerance(d.dtype, &plan), "{:?} {:?} via {}: error {:e}", d, shape, plan, err);
    }
}
