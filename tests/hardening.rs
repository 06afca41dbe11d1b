//! Hardening regressions from issue #12: buffers of another context, aliased and mapped buffers,
//! f16 buffer sizes, zero batch, NaN/Inf through every activation and path, and geometry that
//! does not fit the kernels' 32-bit uniforms.

mod common;
use common::{buffer, ctx, read, tensor, Tensors};
use std::panic::{catch_unwind, AssertUnwindSafe};
use wgpu::BufferUsages as U;
use wgpu_winograd::lowering::{matmul, transpose, Exact, Matrix, PointSet, Rational, Transforms};
use wgpu_winograd::reference::{
    conv2d_f64, conv2d_high_emulated, conv2d_winograd_f32, conv2d_winograd_high_emulated, max_rel_error,
    nchw_to_nhwc, oihw_to_hwio, pseudo_random,
};
use wgpu_winograd::{
    Activation, Algo, Context, Conv2d, Conv2dDesc, DType, Error, Padding, PaddingMode, Product,
    WINOGRAD_TILES,
};

/// `f()`, or the panic message if it panicked.
fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or(p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// The message of an `InvalidBuffer`, or a panic naming what came instead.
fn invalid_buffer(what: &str, r: Result<(), Error>) -> String {
    match r {
        Err(Error::InvalidBuffer(m)) => m,
        other => panic!("{what}: expected InvalidBuffer, got {other:?}"),
    }
}

/// Pops `scope` and fails if a wgpu validation error was raised on this thread since its push.
fn assert_no_validation_error(scope: wgpu::ErrorScopeGuard, what: &str) {
    let leaked = pollster::block_on(scope.pop());
    assert!(leaked.is_none(), "{what}: a wgpu validation error leaked: {leaked:?}");
}

/// All bytes of `src` (size a multiple of 4) after everything submitted so far on `c`.
fn read_bytes(c: &Context, src: &wgpu::Buffer) -> Vec<u8> {
    let words = read(c, src, (src.size() / 4) as usize);
    bytemuck::cast_slice(&words).to_vec()
}

// ---------------------------------------------------------------------------------------------
// Item 2: buffers and encoders of another context

/// Every mix of foreign input, output and residual, with this context's encoder or a foreign
/// one, is `InvalidBuffer` before anything is recorded: no panic, no write into any buffer of
/// either context (sentinel buffers and the convolution's own weights are checked afterwards),
/// no validation error, and both encoders stay usable. Both directions: a conv on the shared
/// context (many buffers, large ids) fed buffers of a fresh one (small ids, which name live
/// buffers of the shared context), and a conv on the fresh context fed the shared one's buffers
/// (ids that do not exist there, which made wgpu-core panic).
#[test]
fn foreign_buffers_are_refused_without_panic_or_stray_writes() {
    let a = ctx();
    let b = Context::new().expect("a second context");
    let d = Conv2dDesc { residual: true, has_bias: true, ..Conv2dDesc::new(2, 3, 3, 1) };
    let shape = [1, 2, 6, 6];
    let (in_len, out_len) = (72, 108);
    let io = Tensors::new(&d, shape, 21);
    let want = io.reference(&d, shape);
    for (home, away, dir) in [(a, &b, "conv on shared ctx"), (&b, a, "conv on fresh ctx")] {
        let conv = io.conv_on(home, &d).unwrap();
        // Sentinels: buffers of both contexts, several so that foreign ids are likely to hit one.
        let sentinel = vec![7.0f32; out_len];
        let mk = |c: &Context, len, v: &[f32]| tensor(c, len, Some(&v[..len]));
        let sentinels: Vec<(&Context, wgpu::Buffer)> = [home, away]
            .into_iter()
            .flat_map(|c| (0..6).map(move |_| c))
            .map(|c| (c, mk(c, out_len, &sentinel)))
            .collect();
        let bufs = |c: &Context| {
            (mk(c, in_len, &io.x), mk(c, out_len, &sentinel), mk(c, out_len, io.r.as_ref().unwrap()))
        };
        let (hx, hy, hr) = bufs(home);
        let (fx, fy, fr) = bufs(away);
        for mask in 1..8u32 {
            let x = if mask & 1 != 0 { &fx } else { &hx };
            let y = if mask & 2 != 0 { &fy } else { &hy };
            let r = if mask & 4 != 0 { &fr } else { &hr };
            for foreign_encoder in [false, true] {
                let what = format!("{dir}: foreign mask {mask:03b}, foreign encoder {foreign_encoder}");
                let enc_ctx = if foreign_encoder { away } else { home };
                // The probe's one validation error (unmapping an unmapped buffer) lands on the
                // device that owns the foreign buffer, as `encode` documents; nothing else may.
                let home_scope = home.device().push_error_scope(wgpu::ErrorFilter::Validation);
                let away_scope = away.device().push_error_scope(wgpu::ErrorFilter::Validation);
                let mut enc = enc_ctx.device().create_command_encoder(&Default::default());
                let got = no_panic(|| conv.encode(&mut enc, shape, x, y, Some(r)))
                    .unwrap_or_else(|p| panic!("{what}: panicked: {p}"));
                let msg = invalid_buffer(&what, got);
                assert!(msg.contains("device"), "{what}: {msg}");
                if let Some(e) = pollster::block_on(away_scope.pop()) {
                    let e = e.to_string();
                    assert!(e.contains("buffer_unmap") && e.contains("not mapped"), "{what}: {e}");
                }
                assert_no_validation_error(home_scope, &what);
                // The encoder is untouched: it finishes and submits without a validation error.
                let scope = enc_ctx.device().push_error_scope(wgpu::ErrorFilter::Validation);
                enc_ctx.queue().submit([enc.finish()]);
                enc_ctx.wait().unwrap();
                assert_no_validation_error(scope, &what);
            }
        }
        let watched = sentinels.iter().map(|(c, s)| (*c, s)).chain([(home, &hy), (away, &fy)]);
        for (c, s) in watched {
            assert_eq!(read(c, s, out_len), sentinel, "{dir}: a buffer was written");
        }
        // The convolution's own weights and bias are intact and home buffers still work.
        let mut enc = home.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, shape, &hx, &hy, Some(&hr)).unwrap();
        home.queue().submit([enc.finish()]);
        let err = max_rel_error(&read(home, &hy, out_len), &want);
        assert!(err <= 1e-4, "{dir}: error {err:e} after the refused calls");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 4: aliasing and mapped buffers

/// In-place residual, input == output and a mapped output are `InvalidBuffer` naming the
/// problem, raise no wgpu validation error, and leave the encoder usable; after `unmap` the
/// same buffer works.
#[test]
fn aliased_and_mapped_buffers_are_refused() {
    let c = ctx();
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let shape = [1, 4, 6, 6];
    for algo in [Algo::Direct, Algo::Winograd, Algo::Gemm] {
        let d = Conv2dDesc { residual: true, algo: Some(algo), ..Conv2dDesc::new(4, 4, 3, 1) };
        let io = Tensors::new(&d, shape, 5);
        let conv = io.conv_on(c, &d).unwrap();
        let (x, y, r) = (tensor(c, 144, Some(&io.x)), tensor(c, 144, None), tensor(c, 144, io.r.as_deref()));
        let mut enc = c.device().create_command_encoder(&Default::default());
        let m = invalid_buffer("in-place residual", conv.encode(&mut enc, shape, &x, &y, Some(&y)));
        assert!(m.contains("residual and output are the same"), "{algo:?}: {m}");
        let m = invalid_buffer("input == output", conv.encode(&mut enc, shape, &y, &y, Some(&r)));
        assert!(m.contains("input and output are the same"), "{algo:?}: {m}");
        let m = invalid_buffer("input == output == residual", conv.encode(&mut enc, shape, &x, &x, Some(&x)));
        assert!(m.contains("same buffer"), "{algo:?}: {m}");
        // Mapped at creation: still mapped until `unmap`.
        let mapped = c.device().create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: 576,
            usage: U::STORAGE | U::COPY_SRC,
            mapped_at_creation: true,
        });
        let m = invalid_buffer("mapped output", conv.encode(&mut enc, shape, &x, &mapped, Some(&r)));
        assert!(m.contains("mapped"), "{algo:?}: {m}");
        let m = invalid_buffer("mapped input", conv.encode(&mut enc, shape, &mapped, &y, Some(&r)));
        assert!(m.contains("mapped"), "{algo:?}: {m}");
        // A view held on it is refused too, and the view stays valid.
        {
            let view = mapped.get_mapped_range(..).unwrap();
            let m = invalid_buffer("mapped residual", conv.encode(&mut enc, shape, &x, &y, Some(&mapped)));
            assert!(m.contains("mapped"), "{algo:?}: {m}");
            assert_eq!(view.len(), 576);
        }
        mapped.unmap();
        conv.encode(&mut enc, shape, &x, &mapped, Some(&r)).unwrap();
        c.queue().submit([enc.finish()]);
        let err = max_rel_error(&read(c, &mapped, 144), &io.reference(&d, shape));
        assert!(err <= 1e-4, "{algo:?}: error {err:e}");
    }
    assert_no_validation_error(scope, "aliasing");
}

/// `benchmark` runs its timed submits inside an error scope (no validation error leaks to the
/// log) and still returns timings.
#[test]
fn benchmark_surfaces_no_logged_errors() {
    let c = ctx();
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    let d = Conv2dDesc::new(2, 2, 3, 1);
    let conv = Tensors::new(&d, [1, 2, 5, 5], 3).conv(&d);
    let t = conv.benchmark([1, 2, 5, 5], 2).unwrap();
    assert!(t.wall_ms > 0.0);
    assert_no_validation_error(scope, "benchmark");
}

// ---------------------------------------------------------------------------------------------
// Item 9: f16 buffer sizes

/// An f16 tensor of odd length has a byte size that is not a multiple of 4: `tensor_bytes`
/// reports the rounded size, a buffer of the exact size is `InvalidBuffer` naming that size,
/// and a buffer of the reported size gives the blocking call's result bit for bit.
#[test]
fn f16_odd_sizes_are_reported_and_checked() {
    let c = ctx();
    assert!(c.features().contains(wgpu::Features::SHADER_F16), "lavapipe has SHADER_F16");
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    for (algo, shape) in
        [(None, [1, 1, 3, 3]), (Some(Algo::Direct), [1, 1, 5, 3]), (Some(Algo::Gemm), [1, 1, 3, 5])]
    {
        let d = Conv2dDesc { dtype: DType::F16, algo, ..Conv2dDesc::new(1, 1, 3, 0) };
        let io = Tensors::new(&d, shape, 8).rounded_to_f16();
        let conv = io.conv(&d);
        let (n_in, n_out) = (
            shape.iter().product::<usize>() as u64,
            conv.output_shape(shape).unwrap().iter().product::<usize>() as u64,
        );
        assert!(n_in % 2 == 1 && n_out % 2 == 1, "{shape:?}: odd element counts");
        let (bi, bo) = conv.tensor_bytes(shape).unwrap();
        assert_eq!((bi, bo), ((2 * n_in).next_multiple_of(4), (2 * n_out).next_multiple_of(4)), "{shape:?}");
        let usage = U::STORAGE | U::COPY_DST | U::COPY_SRC;
        let exact_in = buffer(c, 2 * n_in, usage);
        let exact_out = buffer(c, 2 * n_out, usage);
        let (x, y) = (buffer(c, bi, usage), buffer(c, bo, usage));
        let mut enc = c.device().create_command_encoder(&Default::default());
        let m = invalid_buffer("exact input", conv.encode(&mut enc, shape, &exact_in, &y, None));
        assert!(m.contains(&bi.to_string()), "{m}");
        let m = invalid_buffer("exact output", conv.encode(&mut enc, shape, &x, &exact_out, None));
        assert!(m.contains(&bo.to_string()), "{m}");
        let mut bytes: Vec<u8> = bytemuck::cast_slice(&common::to_f16(&io.x)).to_vec();
        bytes.resize(bi as usize, 0);
        c.queue().write_buffer(&x, 0, &bytes);
        conv.encode(&mut enc, shape, &x, &y, None).unwrap();
        c.queue().submit([enc.finish()]);
        let got: Vec<half::f16> = bytemuck::pod_collect_to_vec(&read_bytes(c, &y)[..2 * n_out as usize]);
        let blocking = conv.run(&common::to_f16(&io.x), shape, None).unwrap();
        assert_eq!(
            common::bits(&got.iter().map(|v| v.to_f32()).collect::<Vec<_>>()),
            common::bits(&blocking.iter().map(|v| v.to_f32()).collect::<Vec<_>>()),
            "{algo:?} {shape:?}"
        );
        let err =
            max_rel_error(&got.iter().map(|v| v.to_f32()).collect::<Vec<_>>(), &io.reference(&d, shape));
        assert!(err <= 1e-2, "{algo:?} {shape:?}: error {err:e}");
    }
    assert_no_validation_error(scope, "f16 sizes");
}

// ---------------------------------------------------------------------------------------------
// Zero batch

/// One descriptor per path, each forced.
fn every_path(activation: Activation) -> Vec<(&'static str, Conv2dDesc)> {
    let base = Conv2dDesc { activation, has_bias: true, ..Conv2dDesc::new(4, 4, 3, 1) };
    vec![
        (
            "winograd fused",
            Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(2),
                product: Some(Product::Fused),
                ..base.clone()
            },
        ),
        (
            "winograd separate",
            Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(2),
                product: Some(Product::Separate),
                ..base.clone()
            },
        ),
        ("gemm", Conv2dDesc { algo: Some(Algo::Gemm), ..base.clone() }),
        ("depthwise", Conv2dDesc { algo: Some(Algo::Depthwise), groups: 4, ..base.clone() }),
        ("direct", Conv2dDesc { algo: Some(Algo::Direct), ..base }),
    ]
}

/// PyTorch semantics for n = 0 on every path: `output_shape` is `[0, k, oh, ow]`, `run` returns
/// an empty vector, and `encode` records nothing (the output keeps its contents).
#[test]
fn zero_batch_on_every_path() {
    let c = ctx();
    let scope = c.device().push_error_scope(wgpu::ErrorFilter::Validation);
    for (path, d) in every_path(Activation::None) {
        let shape = [0, 4, 7, 5];
        let conv = Tensors::new(&d, [1, 4, 7, 5], 2).conv(&d);
        assert_eq!(conv.output_shape(shape).unwrap(), [0, 4, 7, 5], "{path}");
        assert_eq!(conv.tensor_bytes(shape).unwrap(), (0, 0), "{path}");
        assert_eq!(conv.run::<f32>(&[], shape, None).unwrap(), Vec::<f32>::new(), "{path}");
        let (x, y) = (tensor(c, 1, Some(&[3.0])), tensor(c, 1, Some(&[5.0])));
        let mut enc = c.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, shape, &x, &y, None).unwrap();
        c.queue().submit([enc.finish()]);
        assert_eq!(read(c, &y, 1), [5.0], "{path}: encode wrote for an empty batch");
    }
    assert_no_validation_error(scope, "zero batch");
}

// ---------------------------------------------------------------------------------------------
// Item 5: NaN and Inf through every activation and path

/// One NaN and one +Inf in the input, every activation on every path: no output that is
/// non-finite in the reference is finite on the GPU; direct, GEMM and depthwise match the
/// reference's NaN, +Inf and −Inf positions exactly; Winograd may spread a non-finite value only
/// within an output tile that holds a non-finite reference output; finite outputs are accurate.
#[test]
fn nan_and_inf_through_every_activation_and_path() {
    let shape = [1, 4, 8, 8];
    let (h, w) = (8, 8);
    for activation in [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu] {
        for (path, d) in every_path(activation) {
            let what = format!("{activation:?} on {path}");
            let mut io = Tensors::new(&d, shape, 31);
            io.x[9] = f32::NAN; // channel 0, (1, 1)
            io.x[2 * 64 + 5 * 8 + 6] = f32::INFINITY; // channel 2, (5, 6)
            let want = io.reference(&d, shape);
            assert!(want.iter().any(|v| !v.is_finite()), "{what}: the reference has non-finite outputs");
            let conv = io.conv(&d);
            let got = io.run(&conv, shape);
            let class = |v: f64| {
                if v.is_nan() {
                    0
                } else if v == f64::INFINITY {
                    1
                } else if v == f64::NEG_INFINITY {
                    2
                } else {
                    3
                }
            };
            let tile = conv.plan(shape).unwrap().path.winograd_tile();
            let tile_of = |i: usize, m: usize| (i / (h * w), i % (h * w) / w / m, i % w / m);
            // Winograd spreads before the activation, which may make a value finite (relu(−Inf)):
            // the tiles that may hold non-finite values are those of the pre-activation reference.
            let linear = io.reference(&Conv2dDesc { activation: Activation::None, ..d.clone() }, shape);
            let poisoned: std::collections::HashSet<_> = match tile {
                Some(m) => {
                    (0..linear.len()).filter(|&i| !linear[i].is_finite()).map(|i| tile_of(i, m)).collect()
                }
                None => Default::default(),
            };
            let (mut finite, mut finite_want) = (Vec::new(), Vec::new());
            for (i, (&g, &r)) in got.iter().zip(&want).enumerate() {
                let g64 = g as f64;
                if !r.is_finite() {
                    assert!(!g.is_finite(), "{what}: output {i} is {g}, the reference {r}");
                }
                match tile {
                    None => assert_eq!(class(g64), class(r), "{what}: output {i} is {g}, the reference {r}"),
                    Some(m) if r.is_finite() && !g.is_finite() => {
                        assert!(
                            poisoned.contains(&tile_of(i, m)),
                            "{what}: output {i} is {g} outside a poisoned tile"
                        )
                    }
                    _ => {}
                }
                if r.is_finite() && g.is_finite() {
                    finite.push(g);
                    finite_want.push(r);
                }
            }
            let err = max_rel_error(&finite, &finite_want);
            assert!(err <= 1e-4, "{what}: finite outputs: error {err:e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item 1: geometry past the kernels' 32-bit uniforms

/// The case: padding 2^32 and stride 2^33 once truncated to 0 and 0 in the uniforms and
/// returned `[72.0]`; it must be an error (`TooLarge`) or the reference's `[0.0]`, from `plan` and
/// `run`, on every path that can take it.
#[test]
fn geometry_past_u32_is_refused_or_exact() {
    let ramp: Vec<f32> = (0..36).map(|v| v as f32).collect();
    let weights: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let shape = [1, 1, 6, 6];
    for algo in [None, Some(Algo::Direct), Some(Algo::Gemm)] {
        let d = Conv2dDesc {
            padding: Padding { top: 1 << 32, left: 1 << 32, ..Default::default() },
            stride: [1 << 33, 1 << 33],
            algo,
            ..Conv2dDesc::new(1, 1, 3, 0)
        };
        let want = conv2d_f64(&d, &ramp, shape, &weights, None, None).unwrap();
        assert_eq!(want, [0.0], "{algo:?}: the reference");
        let conv = match Conv2d::new(ctx(), d.clone(), &weights, None) {
            Ok(c) => c,
            Err(e) => {
                assert!(matches!(e, Error::TooLarge(_) | Error::InvalidDescriptor(_)), "{algo:?}: {e:?}");
                continue;
            }
        };
        // `plan` may succeed (the sizes are valid) or refuse; the kernels' uniforms are checked
        // when the call is built, so `run` is `TooLarge` or exact.
        let planned = conv.plan(shape);
        assert!(matches!(planned, Ok(_) | Err(Error::TooLarge(_))), "{algo:?}: plan gave {planned:?}");
        match conv.run(&ramp, shape, None) {
            Err(Error::TooLarge(_)) => {}
            Ok(out) => assert_eq!(out, [0.0], "{algo:?}: run"),
            other => panic!("{algo:?}: run gave {other:?}"),
        }
        if planned.is_err() {
            assert!(conv.output_shape(shape).is_err(), "{algo:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Issue #18 item 11: the public helpers of `reference` and `lowering` return errors on bad input

/// `f()`'s result if it returned without panicking; the panic message names `what` otherwise.
fn calm<T>(what: &str, f: impl FnOnce() -> T) -> T {
    no_panic(f).unwrap_or_else(|p| panic!("{what} panicked: {p}"))
}

/// The cases: a buffer shorter than its shape's product was indexed out of bounds.
#[test]
fn layout_helpers_refuse_lengths_that_do_not_match_the_shape() {
    let r = calm("nchw_to_nhwc", || nchw_to_nhwc(&[1.0, 2.0], [1, 2, 2, 2]));
    assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    let r = calm("oihw_to_hwio", || oihw_to_hwio(&[1.0], [2, 2, 3, 3]));
    assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    // Too long is as wrong as too short; a product past usize is refused, not wrapped.
    let r = calm("nchw_to_nhwc long", || nchw_to_nhwc(&[0u8; 9], [1, 2, 2, 2]));
    assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    let r = calm("nchw_to_nhwc overflow", || nchw_to_nhwc(&[0f32; 4], [usize::MAX, 2, 1, 2]));
    assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    let r = calm("oihw_to_hwio overflow", || oihw_to_hwio(&[0.0; 4], [1 << 32, 1 << 32, 2, 2]));
    assert!(matches!(r, Err(Error::InvalidShape(_))), "{r:?}");
    // Empty shapes give empty outputs; good input is rearranged as before.
    assert_eq!(nchw_to_nhwc::<f32>(&[], [0, 3, 2, 2]).unwrap(), Vec::<f32>::new());
    assert_eq!(oihw_to_hwio(&[], [4, 0, 3, 3]).unwrap(), Vec::<f32>::new());
    assert_eq!(nchw_to_nhwc(&[1, 2, 3, 4], [1, 2, 1, 2]).unwrap(), [1, 3, 2, 4]);
    assert_eq!(oihw_to_hwio(&[1.0, 2.0, 3.0, 4.0], [2, 1, 1, 2]).unwrap(), [1.0, 3.0, 2.0, 4.0]);
}

/// `for_tile(12, 7)` needs 17 points of families that have 11: it asserted.
#[test]
fn for_tile_refuses_tiles_the_point_sets_cannot_serve() {
    for (m, r) in
        [(12, 7), (0, 3), (2, 0), (0, 0), (11, 3), (usize::MAX, 3), (3, usize::MAX), (usize::MAX, usize::MAX)]
    {
        let t = calm(&format!("for_tile({m}, {r})"), || Transforms::for_tile(m, r));
        assert!(matches!(t, Err(Error::Unsupported(_))), "F({m},{r}): {t:?}");
    }
    // Every tile the sets can serve derives, up to the largest (11 points, m + r = 13).
    for (m, r) in [(1, 1), (1, 3), (3, 1), (12, 1), (10, 3), (2, 11)] {
        let t = calm(&format!("for_tile({m}, {r})"), || Transforms::for_tile(m, r))
            .unwrap_or_else(|e| panic!("F({m},{r}): {e}"));
        assert_eq!((t.bt.len(), t.g.len(), t.at.len()), (m + r - 1, m + r - 1, m));
    }
    for (m, r) in WINOGRAD_TILES {
        assert!(Transforms::for_tile(m, r).is_ok(), "shipped tile F({m},{r})");
    }
    // `default_for` no longer underflows for m + r < 2.
    assert_eq!(calm("default_for(0, 0)", || PointSet::default_for(0, 0)), PointSet::Integer);
}

/// `derive` asserted on the point count, divided by zero on equal points and overflowed on
/// huge ones.
#[test]
fn derive_checks_its_points() {
    let five = PointSet::Sqrt2.points(5).unwrap();
    let unsupported = |what: &str, m: usize, r: usize, p: &[Exact]| {
        let t = calm(what, || Transforms::derive(m, r, p));
        assert!(matches!(t, Err(Error::Unsupported(_))), "{what}: {t:?}");
    };
    unsupported("too few points", 4, 3, &five[..4]);
    unsupported("too many points", 2, 3, &five);
    unsupported("m = 0", 0, 3, &five[..1]);
    unsupported("r = 0", 3, 0, &five[..1]);
    unsupported("m = r = 0", 0, 0, &[]);
    unsupported("m + r overflows", usize::MAX, 2, &five);
    let mut equal = five.clone();
    equal[4] = equal[1];
    unsupported("equal points", 4, 3, &equal);
    let huge: Vec<Exact> = (1..=5).map(|i| Exact::int(i128::MAX / 7 * i / 5)).collect();
    unsupported("points whose arithmetic overflows i128", 4, 3, &huge);
    let tiny: Vec<Exact> = (1..=5).map(|i| Exact::ratio(i, i128::MAX - i).unwrap()).collect();
    unsupported("points whose denominators overflow i128", 4, 3, &tiny);
    assert!(Transforms::derive(4, 3, &five).is_ok());
}

#[test]
fn point_sets_refuse_more_points_than_they_have() {
    for set in [PointSet::Integer, PointSet::Sqrt2] {
        let max = set.max_points();
        assert_eq!(set.points(max).unwrap().len(), max);
        assert!(set.points(0).unwrap().is_empty());
        for count in [max + 1, 17, usize::MAX] {
            let p = calm(&format!("{set:?}.points({count})"), || set.points(count));
            assert!(matches!(p, Err(Error::Unsupported(_))), "{set:?} {count}: {p:?}");
        }
    }
}

/// `Rational::new(1, 0)` asserted; its reduction overflowed for `i128::MIN`.
#[test]
fn rationals_refuse_zero_denominators_and_overflow() {
    for (num, den) in [(1, 0), (0, 0), (i128::MIN, 0), (i128::MIN, -1), (i128::MIN, 1), (1, i128::MIN)] {
        let q = calm(&format!("Rational::new({num}, {den})"), || Rational::new(num, den));
        assert!(matches!(q, Err(Error::InvalidShape(_))), "{num}/{den}: {q:?}");
    }
    assert!(matches!(calm("Exact::ratio(1, 0)", || Exact::ratio(1, 0)), Err(Error::InvalidShape(_))));
    assert_eq!(Rational::new(-2, -4).unwrap(), Rational::new(1, 2).unwrap());
    assert_eq!(Rational::new(3, -6).unwrap(), Rational::new(-1, 2).unwrap());
    assert_eq!(Rational::new(i128::MIN, 2).unwrap(), Rational::int(i128::MIN / 2));
    // The checked operations answer None where the operators panic.
    let (one, max, min) = (Rational::int(1), Rational::int(i128::MAX), Rational::int(i128::MIN));
    assert_eq!(one.checked_div(Rational::int(0)), None);
    assert_eq!(max.checked_add(one), None);
    assert_eq!(max.checked_mul(Rational::int(2)), None);
    assert_eq!(min.checked_neg(), None);
    assert_eq!(min.checked_sub(one), None);
    assert_eq!(one.checked_add(one), Some(Rational::int(2)));
    assert_eq!(Exact::ONE.checked_div(Exact::ZERO), None);
    assert_eq!(Exact::int(i128::MAX).checked_pow(2), None);
    assert_eq!(Exact::int(3).checked_pow(3), Some(Exact::int(27)));
}

/// `matmul` indexed `b[0]` and past short rows; `transpose` indexed `a[0]`.
#[test]
fn matmul_and_transpose_refuse_mismatched_sizes() {
    let m = |rows: &[&[i128]]| -> Matrix {
        rows.iter().map(|r| r.iter().map(|&x| Exact::int(x)).collect()).collect()
    };
    let shape_err = |what: &str, r: Result<Matrix, Error>| {
        assert!(matches!(r, Err(Error::InvalidShape(_))), "{what}: {r:?}");
    };
    let (a23, b22) = (m(&[&[1, 2, 3], &[4, 5, 6]]), m(&[&[1, 0], &[0, 1]]));
    shape_err("2×3 · 2×2", calm("matmul", || matmul(&a23, &b22)));
    shape_err("ragged left", calm("matmul", || matmul(&m(&[&[1, 2], &[3]]), &b22)));
    shape_err("ragged right", calm("matmul", || matmul(&b22, &m(&[&[1, 2], &[3]]))));
    shape_err("2×2 · empty", calm("matmul", || matmul(&b22, &Vec::new())));
    shape_err("ragged transpose", calm("transpose", || transpose(&m(&[&[1, 2], &[3]]))));
    assert_eq!(matmul(&b22, &a23).unwrap(), a23);
    assert_eq!(matmul(&Vec::new(), &a23).unwrap(), Matrix::new());
    assert_eq!(matmul(&m(&[&[], &[]]), &Vec::new()).unwrap(), m(&[&[], &[]]));
    assert_eq!(transpose(&Vec::new()).unwrap(), Matrix::new());
    assert_eq!(transpose(&a23).unwrap(), m(&[&[1, 4], &[2, 5], &[3, 6]]));
    let big = m(&[&[i128::MAX]]);
    let r = calm("matmul overflow", || matmul(&big, &big));
    assert!(matches!(r, Err(Error::Unsupported(_))), "{r:?}");
}

/// `Transforms` has public fields: the CPU Winograd indexed by them without checking that they
/// agree, and divided by m.
#[test]
fn cpu_winograd_refuses_inconsistent_transforms() {
    let desc = Conv2dDesc::new(2, 3, 3, 1);
    let shape = [1, 2, 5, 5];
    let (x, w) = (pseudo_random(50, 1), pseudo_random(desc.weight_len().unwrap(), 2));
    let good = Transforms::for_tile(2, 3).unwrap();
    let mut broken = Vec::new();
    broken.push(("m = 0", Transforms { m: 0, ..good.clone() }));
    broken.push(("m larger than Aᵀ", Transforms { m: 4, ..good.clone() }));
    let mut t = good.clone();
    t.bt.pop();
    broken.push(("Bᵀ short a row", t));
    let mut t = good.clone();
    t.g[1].pop();
    broken.push(("G row short", t));
    let mut t = good.clone();
    t.at[0].push(Exact::ONE);
    broken.push(("Aᵀ row long", t));
    for (what, t) in &broken {
        let r = calm(what, || conv2d_winograd_f32(&desc, t, &x, shape, &w, None, None));
        assert!(matches!(r, Err(Error::InvalidShape(_))), "{what}: {r:?}");
        let r = calm(what, || conv2d_winograd_high_emulated(&desc, t, &x, shape, &w, None, None));
        assert!(matches!(r, Err(Error::InvalidShape(_))), "{what} (high): {r:?}");
    }
    let r = Transforms { r: 0, ..good.clone() };
    assert!(matches!(conv2d_winograd_f32(&desc, &r, &x, shape, &w, None, None), Err(Error::Unsupported(_))));
    let want = conv2d_f64(&desc, &x, shape, &w, None, None).unwrap();
    let got = conv2d_winograd_f32(&desc, &good, &x, shape, &w, None, None).unwrap();
    assert!(max_rel_error(&got, &want) <= 1e-5);
}

/// The reference convolutions on degenerate descriptors and shapes: errors, never panics.
#[test]
fn reference_convolutions_refuse_degenerate_input() {
    let base = Conv2dDesc::new(2, 3, 3, 1);
    let (x, w) = (pseudo_random(50, 1), pseudo_random(base.weight_len().unwrap(), 2));
    let shape = [1, 2, 5, 5];
    let t = Transforms::for_tile(2, 3).unwrap();
    let cases = [
        ("kernel 0", Conv2dDesc { kernel: [0, 3], ..base.clone() }, shape),
        ("stride 0", Conv2dDesc { stride: [0, 1], ..base.clone() }, shape),
        ("dilation 0", Conv2dDesc { dilation: [1, 0], ..base.clone() }, shape),
        ("groups 0", Conv2dDesc { groups: 0, ..base.clone() }, shape),
        ("no channels", Conv2dDesc { in_channels: 0, ..base.clone() }, [1, 0, 5, 5]),
        ("no outputs", Conv2dDesc { out_channels: 0, ..base.clone() }, shape),
        ("huge padding", Conv2dDesc { padding: Padding::uniform(usize::MAX / 2), ..base.clone() }, shape),
        ("huge kernel", Conv2dDesc { kernel: [usize::MAX, 1], ..base.clone() }, shape),
        ("huge dilation", Conv2dDesc { dilation: [usize::MAX, 1], ..base.clone() }, shape),
        (
            "reflect past the edge",
            Conv2dDesc { padding_mode: PaddingMode::Reflect, padding: Padding::uniform(5), ..base.clone() },
            shape,
        ),
        (
            "circular past the edge",
            Conv2dDesc { padding_mode: PaddingMode::Circular, padding: Padding::uniform(6), ..base.clone() },
            shape,
        ),
        ("huge batch", base.clone(), [usize::MAX, 2, 5, 5]),
        ("huge width", base.clone(), [1, 2, 1, usize::MAX]),
    ];
    for (what, d, shape) in &cases {
        let r = calm(what, || conv2d_f64(d, &x, *shape, &w, None, None));
        assert!(r.is_err(), "{what}: conv2d_f64 gave {r:?}");
        let r = calm(what, || conv2d_high_emulated(d, &x, *shape, &w, None, None));
        assert!(r.is_err(), "{what}: conv2d_high_emulated gave {r:?}");
        let r = calm(what, || conv2d_winograd_f32(d, &t, &x, *shape, &w, None, None));
        assert!(r.is_err(), "{what}: conv2d_winograd_f32 gave {r:?}");
    }
    // max_rel_error and pseudo_random at their edges.
    assert_eq!(max_rel_error(&[], &[]), 0.0);
    assert_eq!(max_rel_error(&[1.0], &[]), f64::INFINITY);
    assert!(pseudo_random(0, u64::MAX).is_empty());
    assert!(pseudo_random(3, u64::MAX).iter().all(|v| (-1.0..1.0).contains(v)));
}
