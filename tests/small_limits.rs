//! Limits below what the kernels need (issue 18, #8): each profile gives a typed error that
//! names the limit, or runs correctly against the f64 reference; never wgpu's own validation
//! text.

mod common;

use common::{ctx, verify};
use wgpu_winograd::reference::tolerance;
use wgpu_winograd::{Algo, Context, ContextOptions, Conv2d, Conv2dDesc, Error};

/// The adapter's limits with `edit` applied.
fn lowered(edit: impl FnOnce(&mut wgpu::Limits)) -> wgpu::Limits {
    let mut limits = ctx().limits();
    edit(&mut limits);
    limits
}

fn context(limits: wgpu::Limits) -> Result<Context, Error> {
    Context::with_options(ContextOptions { limits: Some(limits), ..Default::default() })
}

/// Context creation refuses `limits` with an `Unsupported` error that names `limit`.
fn refused(limits: wgpu::Limits, limit: &str) {
    match context(limits) {
        Err(Error::Unsupported(m)) => assert!(m.contains(limit), "{limit}: {m}"),
        Err(e) => panic!("{limit}: expected Unsupported naming the limit, got {e}"),
        Ok(_) => panic!("{limit}: a context was created below what the kernels need"),
    }
}

/// Runs `d` on `shape`: either correct against the reference, or a typed error (never
/// `Error::Gpu`, which carries wgpu's own text). Returns whether it ran.
fn runs_or_refuses(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> bool {
    match verify(ctx, d, shape, seed) {
        Ok((plan, err)) => {
            let tol = tolerance(d.dtype, &plan);
            assert!(err <= tol, "{d:?} on {shape:?}: error {err:.2e} > {tol:.0e} ({plan})");
            true
        }
        Err(Error::TooLarge(m) | Error::Unsupported(m)) => {
            assert!(!m.contains("Validation"), "{m}");
            eprintln!("{shape:?}: refused: {m}");
            false
        }
        Err(e) => panic!("{d:?} on {shape:?}: expected a result or a typed refusal, got {e}"),
    }
}

/// One of each algorithm, with bias, residual and activation where it has the most bindings.
fn matrix() -> Vec<(Conv2dDesc, [usize; 4])> {
    let with_epilogue = |d: Conv2dDesc| Conv2dDesc {
        has_bias: true,
        residual: true,
        activation: wgpu_winograd::Activation::Relu,
        ..d
    };
    let forced = |algo, d: Conv2dDesc| Conv2dDesc { algo: Some(algo), ..d };
    vec![
        (with_epilogue(forced(Algo::Winograd, Conv2dDesc::new(8, 8, 3, 1))), [1, 8, 12, 12]),
        (with_epilogue(forced(Algo::Gemm, Conv2dDesc::new(8, 8, 1, 0))), [2, 8, 6, 6]),
        (with_epilogue(forced(Algo::Gemm, Conv2dDesc::new(4, 8, 3, 1))), [1, 4, 7, 7]),
        (with_epilogue(forced(Algo::Direct, Conv2dDesc::new(4, 4, 3, 1))), [1, 4, 4, 4]),
        (
            with_epilogue(Conv2dDesc { groups: 8, ..forced(Algo::Depthwise, Conv2dDesc::new(8, 8, 3, 1)) }),
            [1, 8, 5, 5],
        ),
        (Conv2dDesc::new(16, 16, 3, 1), [1, 16, 10, 10]),
    ]
}

#[test]
fn two_storage_buffers_per_stage_are_refused_by_name() {
    refused(lowered(|l| l.max_storage_buffers_per_shader_stage = 2), "max_storage_buffers_per_shader_stage");
}

#[test]
fn thirty_two_invocations_per_workgroup_are_refused_by_name() {
    refused(
        lowered(|l| {
            l.max_compute_invocations_per_workgroup = 32;
            l.max_compute_workgroup_size_x = 32;
            l.max_compute_workgroup_size_y = 32;
        }),
        "max_compute_invocations_per_workgroup",
    );
    refused(lowered(|l| l.max_compute_workgroup_size_x = 32), "max_compute_workgroup_size_x");
}

#[test]
fn sixty_four_byte_uniform_bindings_are_refused_by_name() {
    refused(lowered(|l| l.max_uniform_buffer_binding_size = 64), "max_uniform_buffer_binding_size");
}

#[test]
fn three_storage_buffers_run_every_algorithm_through_the_epilogue_pass() {
    let ctx = context(lowered(|l| l.max_storage_buffers_per_shader_stage = 3)).unwrap();
    for (i, (d, shape)) in matrix().into_iter().enumerate() {
        assert!(runs_or_refuses(&ctx, &d, shape, 10 + i as u64), "{d:?} refused");
    }
}

#[test]
fn one_workgroup_per_dimension_runs_or_refuses_cleanly() {
    let ctx = context(lowered(|l| l.max_compute_workgroups_per_dimension = 1)).unwrap();
    let ran: Vec<bool> = matrix()
        .into_iter()
        .enumerate()
        .map(|(i, (d, s))| runs_or_refuses(&ctx, &d, s, 30 + i as u64))
        .collect();
    // A 4×4 image of 4 channels is 16 invocations of the direct kernel: one workgroup.
    assert!(ran[3], "the direct 4×4 case fits one workgroup");
}

#[test]
fn seven_workgroups_per_dimension_on_a_pointwise_conv_run_or_refuse_cleanly() {
    let ctx = context(lowered(|l| l.max_compute_workgroups_per_dimension = 7)).unwrap();
    for (i, (d, shape)) in [
        (Conv2dDesc { algo: Some(Algo::Gemm), ..Conv2dDesc::new(64, 64, 1, 0) }, [1, 64, 16, 16]),
        (Conv2dDesc::new(64, 64, 1, 0), [1, 64, 16, 16]),
        (Conv2dDesc::new(256, 256, 1, 0), [1, 256, 4, 4]),
        (Conv2dDesc { algo: Some(Algo::Gemm), ..Conv2dDesc::new(16, 16, 1, 0) }, [1, 16, 8, 8]),
    ]
    .into_iter()
    .enumerate()
    {
        let ran = runs_or_refuses(&ctx, &d, shape, 50 + i as u64);
        // Without a forced algorithm the planner finds a path that fits (the direct kernel in
        // bands of rows where the GEMM's packing exceeds the grid).
        assert!(ran || d.algo.is_some(), "{d:?} on {shape:?} was refused");
    }
    // The packing of 256×256 weights is 65536 invocations, past 7×7 workgroups of 64: refused
    // at planning, not by wgpu when the weights are prepared.
    let d = Conv2dDesc { algo: Some(Algo::Gemm), ..Conv2dDesc::new(256, 256, 1, 0) };
    let conv = Conv2d::new(&ctx, d, &vec![0.0; 256 * 256], None).unwrap();
    assert!(matches!(conv.plan([1, 256, 4, 4]), Err(Error::TooLarge(_))));
}

#[test]
fn the_winograd_band_message_names_the_padding_slack() {
    // F(2,3), 16 channels, a row of 4 tiles: 4096 bytes per row, and 4096 bytes kept for the
    // padding of each band's rows, out of 6144.
    let ctx = context(lowered(|l| {
        l.max_storage_buffer_binding_size = 6144 + l.min_storage_buffer_offset_alignment as u64;
    }))
    .unwrap();
    let d = Conv2dDesc { algo: Some(Algo::Winograd), tile: Some(2), ..Conv2dDesc::new(16, 16, 3, 1) };
    let conv = Conv2d::new(&ctx, d, &vec![0.0; 16 * 16 * 9], None).unwrap();
    match conv.plan([1, 16, 8, 8]) {
        Err(Error::TooLarge(m)) => assert!(m.contains("padding"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn channel_slices_without_a_bias_need_no_bias_alignment() {
    // 16 → 128 channels 3×3: 576 bytes of weights per output channel; 16 KiB bindings hold 28
    // channels' weights, and 256-byte offset alignment would need slices of 64 for a bias.
    let ctx = context(lowered(|l| {
        l.max_storage_buffer_binding_size = 16 << 10;
        l.min_storage_buffer_offset_alignment = 256;
    }))
    .unwrap();
    let d = Conv2dDesc { algo: Some(Algo::Direct), ..Conv2dDesc::new(16, 128, 3, 1) };
    let (plan, err) = verify(&ctx, &d, [1, 16, 4, 4], 70).unwrap();
    assert!(plan.channel_slice < 64 && err <= tolerance(d.dtype, &plan), "{plan}: {err:.1e}");
    let biased = Conv2dDesc { has_bias: true, ..d };
    assert!(matches!(verify(&ctx, &biased, [1, 16, 4, 4], 71), Err(Error::TooLarge(_))));
}
