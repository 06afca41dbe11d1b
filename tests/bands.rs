//! One image split into bands of output rows (issue 18, #7): where one image's work exceeds
//! the grid, the direct, GEMM and depthwise paths run it in bands of output rows (or a row in
//! segments of columns), each band a sub-convolution of the whole image; Winograd in bands of
//! tile rows where its Winograd-domain buffers exceed a binding. Every case is checked against
//! the f64 reference, and the plan says it runs in bands.

mod common;

use common::{ctx, verify};
use wgpu_winograd::reference::tolerance;
use wgpu_winograd::{
    Activation, Algo, Context, ContextOptions, Conv2dDesc, DataFormat, Padding, PaddingMode,
};

fn context(edit: impl FnOnce(&mut wgpu::Limits)) -> Context {
    let mut limits = ctx().limits();
    edit(&mut limits);
    Context::with_options(ContextOptions { limits: Some(limits), ..Default::default() }).unwrap()
}

/// A grid of 4×4 workgroups (1024 invocations per pass).
fn small_grid() -> &'static Context {
    static C: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    C.get_or_init(|| context(|l| l.max_compute_workgroups_per_dimension = 4))
}

/// `algo` forced, bias, residual and ReLU, on a 3×3 (padding 1) or 1×3 (padding 0, 1) kernel.
fn desc(algo: Algo, c: usize, k: usize, kernel: [usize; 2], stride: usize) -> Conv2dDesc {
    let padding =
        Padding { top: kernel[0] / 2, bottom: kernel[0] / 2, left: kernel[1] / 2, right: kernel[1] / 2 };
    Conv2dDesc {
        algo: Some(algo),
        kernel,
        padding,
        stride: [stride, stride],
        groups: if algo == Algo::Depthwise { c } else { 1 },
        has_bias: true,
        residual: true,
        activation: Activation::Relu,
        ..Conv2dDesc::new(c, k, 3, 1)
    }
}

/// Runs `d` on `shape` on `ctx`: the plan must be in bands and the result within tolerance.
fn check_bands(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], seed: u64) {
    let (plan, err) = verify(ctx, d, shape, seed).unwrap_or_else(|e| panic!("{d:?} on {shape:?}: {e}"));
    let tol = tolerance(d.dtype, &plan);
    eprintln!("{:?} {shape:?}: {plan} ({} pieces), error {err:.1e}", d.algo, plan.pieces().len());
    assert!(plan.in_bands() && plan.to_string().contains("bands of"), "{shape:?}: not in bands: {plan}");
    assert!(err <= tol, "{d:?} on {shape:?}: error {err:.2e} > {tol:.0e} ({plan})");
}

#[test]
fn direct_runs_one_image_in_bands() {
    for (i, (kernel, stride)) in [([3, 3], 1), ([3, 3], 2), ([1, 3], 1), ([1, 3], 2)].into_iter().enumerate()
    {
        check_bands(small_grid(), &desc(Algo::Direct, 4, 8, kernel, stride), [2, 4, 64, 60], 10 + i as u64);
    }
}

#[test]
fn gemm_runs_one_image_in_bands() {
    for (i, (kernel, stride)) in [([3, 3], 1), ([3, 3], 2), ([1, 3], 1), ([1, 3], 2)].into_iter().enumerate()
    {
        check_bands(small_grid(), &desc(Algo::Gemm, 8, 8, kernel, stride), [2, 8, 64, 60], 20 + i as u64);
    }
    // 1×1: the pointwise gathers move the input offset instead of the padding; NCHW rows of a
    // multiple of 4 pixels keep the vector loads and stores.
    let pointwise =
        Conv2dDesc { kernel: [1, 1], padding: Padding::default(), ..desc(Algo::Gemm, 8, 8, [1, 1], 1) };
    check_bands(small_grid(), &pointwise, [2, 8, 40, 64], 28);
    check_bands(small_grid(), &Conv2dDesc { stride: [2, 2], ..pointwise.clone() }, [2, 8, 80, 62], 29);
}

#[test]
fn depthwise_runs_one_image_in_bands() {
    for (i, (kernel, stride)) in [([3, 3], 1), ([3, 3], 2), ([1, 3], 1), ([1, 3], 2)].into_iter().enumerate()
    {
        check_bands(
            small_grid(),
            &desc(Algo::Depthwise, 8, 8, kernel, stride),
            [2, 8, 64, 60],
            30 + i as u64,
        );
    }
}

#[test]
fn nhwc_and_padding_modes_read_what_they_read_unbanded() {
    for (i, mode) in
        [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular].into_iter().enumerate()
    {
        for algo in [Algo::Direct, Algo::Gemm, Algo::Depthwise] {
            let d = Conv2dDesc { padding_mode: mode, ..desc(algo, 8, 8, [3, 3], 1) };
            check_bands(small_grid(), &d, [1, 8, 40, 36], 40 + i as u64);
        }
    }
    for algo in [Algo::Direct, Algo::Gemm, Algo::Depthwise] {
        let d = Conv2dDesc { data_format: DataFormat::Nhwc, ..desc(algo, 8, 8, [3, 3], 2) };
        check_bands(small_grid(), &d, [2, 8, 64, 60], 50);
    }
}

#[test]
fn the_split_epilogue_runs_per_band() {
    // Three storage buffers: bias and residual are applied by a pass of their own, per band.
    let ctx = context(|l| {
        l.max_compute_workgroups_per_dimension = 4;
        l.max_storage_buffers_per_shader_stage = 3;
    });
    for (i, algo) in [Algo::Direct, Algo::Gemm, Algo::Depthwise].into_iter().enumerate() {
        check_bands(&ctx, &desc(algo, 8, 8, [3, 3], 1), [2, 8, 48, 44], 60 + i as u64);
    }
}

#[test]
fn winograd_runs_one_image_in_bands_of_tile_rows() {
    // 64 KiB bindings: the image's input and output fit, its Winograd-domain buffers do not.
    let ctx = context(|l| l.max_storage_buffer_binding_size = 64 << 10);
    for (i, m) in [2, 4].into_iter().enumerate() {
        // Separate passes: the fused kernel (auto's pick on the H200) keeps no Winograd-domain
        // buffer, so it has nothing to band.
        let d = Conv2dDesc {
            tile: Some(m),
            product: Some(wgpu_winograd::Product::Separate),
            ..desc(Algo::Winograd, 8, 8, [3, 3], 1)
        };
        check_bands(&ctx, &d, [2, 8, 40, 36], 70 + i as u64);
    }
}

#[test]
fn a_row_past_the_grid_runs_in_segments() {
    // Issue 18: a forced GEMM on [1, 4, 1, 5000000] with a 1×3 kernel exceeded the grid.
    let d = Conv2dDesc {
        algo: Some(Algo::Gemm),
        kernel: [1, 3],
        padding: Padding { top: 0, bottom: 0, left: 1, right: 1 },
        ..Conv2dDesc::new(4, 4, 3, 1)
    };
    let (plan, err) = verify(ctx(), &d, [1, 4, 1, 5_000_000], 80).unwrap();
    eprintln!("{plan}, error {err:.1e}");
    assert!(plan.to_string().contains("segments of"), "{plan}");
    assert!(err <= tolerance(d.dtype, &plan), "{err:.2e} ({plan})");
    // The same on the small grid, for every path with segments.
    for algo in [Algo::Direct, Algo::Gemm] {
        let d = Conv2dDesc { algo: Some(algo), has_bias: true, residual: true, ..d.clone() };
        let (plan, err) = verify(small_grid(), &d, [2, 4, 3, 3000], 81).unwrap();
        assert!(plan.to_string().contains("segments of"), "{plan}");
        assert!(err <= tolerance(d.dtype, &plan), "{err:.2e} ({plan})");
    }
}

// ---------------------------------------------------------------------------------------------
// Staged bands: one image larger than a binding (issue 18, #7)

/// A context whose bindings hold `bytes`.
fn binding(bytes: u64) -> Context {
    context(|l| l.max_storage_buffer_binding_size = bytes)
}

/// Runs `d` on `shape`: the plan must stage bands and the result be within tolerance.
fn check_staged(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], seed: u64) {
    let (plan, err) = verify(ctx, d, shape, seed).unwrap_or_else(|e| panic!("{d:?} on {shape:?}: {e}"));
    let tol = tolerance(d.dtype, &plan);
    eprintln!("{:?} {shape:?}: {plan}, error {err:.1e}", d.algo);
    assert!(plan.staged_rows.is_some() && plan.to_string().contains("staged band"), "{shape:?}: {plan}");
    assert!(err <= tol, "{d:?} on {shape:?}: error {err:.2e} > {tol:.0e} ({plan})");
}

#[test]
fn one_image_past_a_binding_runs_in_staged_bands_on_every_path() {
    // 64 KiB bindings; every image below is larger (6 × 45 × 62 × 4 bytes = 66960).
    let ctx = binding(64 << 10);
    for (i, m) in [2, 4].into_iter().enumerate() {
        let d = Conv2dDesc { tile: Some(m), ..desc(Algo::Winograd, 6, 10, [3, 3], 1) };
        check_staged(&ctx, &d, [2, 6, 45, 62], 100 + i as u64);
    }
    check_staged(&ctx, &desc(Algo::Gemm, 6, 10, [3, 3], 1), [2, 6, 45, 62], 102);
    check_staged(&ctx, &desc(Algo::Gemm, 6, 10, [3, 3], 2), [1, 6, 61, 70], 103);
    check_staged(&ctx, &desc(Algo::Direct, 6, 10, [1, 3], 1), [2, 6, 45, 62], 104);
    check_staged(&ctx, &desc(Algo::Depthwise, 12, 12, [3, 3], 2), [2, 12, 40, 37], 105);
    // Auto, and an output (not the input) past the binding: 2 → 24 channels.
    let auto = Conv2dDesc { algo: None, ..desc(Algo::Gemm, 2, 24, [3, 3], 1) };
    check_staged(&ctx, &auto, [1, 2, 30, 25], 106);
}

#[test]
fn staged_bands_hold_every_padding_mode_dilation_nhwc_and_f16() {
    let ctx = binding(64 << 10);
    for (i, mode) in [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular]
        .into_iter()
        .enumerate()
    {
        let d = Conv2dDesc {
            algo: None,
            padding_mode: mode,
            padding: Padding { top: 3, bottom: 1, left: 2, right: 0 },
            dilation: [2, 1],
            ..desc(Algo::Gemm, 6, 8, [3, 3], 1)
        };
        check_staged(&ctx, &d, [2, 6, 47, 60], 110 + i as u64);
    }
    let nhwc = Conv2dDesc { data_format: DataFormat::Nhwc, ..desc(Algo::Gemm, 6, 8, [3, 3], 2) };
    check_staged(&ctx, &nhwc, [2, 6, 45, 62], 115);
    let f16 =
        Conv2dDesc { dtype: wgpu_winograd::DType::F16, algo: None, ..desc(Algo::Gemm, 12, 8, [3, 3], 1) };
    check_staged(&ctx, &f16, [1, 12, 45, 62], 116);
    // Buffer copies move 4-byte words: f16 rows of an odd width cannot be staged.
    match verify(&ctx, &f16, [1, 12, 45, 61], 117) {
        Err(wgpu_winograd::Error::TooLarge(m)) => assert!(m.contains("4-byte"), "{m}"),
        other => panic!("{:?}", other.map(|p| p.0.to_string())),
    }
}

#[test]
fn encode_stages_bands_in_the_callers_encoder() {
    use common::{read, tensor, Tensors};
    let ctx = binding(64 << 10);
    let d = desc(Algo::Gemm, 6, 10, [3, 3], 1);
    let shape = [2, 6, 45, 62];
    let t = Tensors::new(&d, shape, 120);
    let conv = t.conv_on(&ctx, &d).unwrap();
    let out_len: usize = conv.output_shape(shape).unwrap().iter().product();
    let (x, y, r) = (
        tensor(&ctx, t.x.len(), Some(&t.x)),
        tensor(&ctx, out_len, None),
        tensor(&ctx, out_len, t.r.as_deref()),
    );
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    conv.encode(&mut enc, shape, &x, &y, Some(&r)).unwrap();
    ctx.queue().submit([enc.finish()]);
    let got = read(&ctx, &y, out_len);
    assert_eq!(common::bits(&got), common::bits(&t.run(&conv, shape)), "encode and run differ");
    // A caller buffer the copies cannot read is refused, naming the usage.
    let bare = common::buffer(&ctx, 4 * t.x.len() as u64, wgpu::BufferUsages::STORAGE);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    match conv.encode(&mut enc, shape, &bare, &y, Some(&r)) {
        Err(wgpu_winograd::Error::InvalidBuffer(m)) => assert!(m.contains("COPY_SRC"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_4k_frame_at_32_channels_runs_on_a_128_mib_binding() {
    // Issue 18: [1, 32, 1080, 1920] f32 (265 MB) was refused on lavapipe's 128 MiB bindings.
    let ctx = binding(128 << 20);
    let d = Conv2dDesc { algo: None, ..Conv2dDesc::new(32, 4, 3, 1) };
    check_staged(&ctx, &d, [1, 32, 1080, 1920], 130);
}
