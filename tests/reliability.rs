//! Bad input gets typed errors (never a panic or a leaked wgpu validation error), the
//! convolution is shareable across threads, NaN/Inf propagate, repeated calls do not grow
//! memory, and random convolutions agree with the reference (property tests).

mod common;
use common::{check, ctx, data, encode_and_read, gpu_buffer};
use proptest::prelude::*;
use std::sync::Arc;
use wgpu_winograd::{reference, Algo, Context, Conv2d, Conv2dDesc, DType, Error, Padding, TileLayout};

fn desc() -> Conv2dDesc {
    Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) }
}

fn build(d: &Conv2dDesc) -> Result<Conv2d, Error> {
    Conv2d::new(
        ctx(),
        d.clone(),
        &data(d.weight_len(), 1),
        d.has_bias.then(|| data(d.out_channels, 2)).as_deref(),
    )
}

#[test]
fn bad_descriptors_and_data_are_typed_errors() {
    let d = desc();
    let w = data(d.weight_len(), 1);
    let b = data(6, 2);
    let invalid = |r: Result<Conv2d, Error>| matches!(r, Err(Error::InvalidDescriptor(_)));
    let shape_err = |r: Result<Conv2d, Error>| matches!(r, Err(Error::InvalidShape(_)));
    assert!(shape_err(Conv2d::new(ctx(), d.clone(), &w[1..], Some(&b))), "weights too short");
    assert!(shape_err(Conv2d::new(ctx(), d.clone(), &w, Some(&b[1..]))), "bias too short");
    assert!(shape_err(Conv2d::new(ctx(), d.clone(), &w, None)), "bias missing");
    assert!(shape_err(Conv2d::new(ctx(), Conv2dDesc { has_bias: false, ..d.clone() }, &w, Some(&b))));
    assert!(invalid(build(&Conv2dDesc { stride: [0, 1], ..d.clone() })), "zero stride");
    assert!(invalid(build(&Conv2dDesc { dilation: [1, 0], ..d.clone() })), "zero dilation");
    assert!(invalid(build(&Conv2dDesc { groups: 3, ..d.clone() })), "groups not dividing");
    assert!(invalid(build(&Conv2dDesc { in_channels: 0, ..d.clone() })), "zero channels");
    assert!("r_9_9".parse::<TileLayout>().is_err() && "fast".parse::<Algo>().is_err());
    assert!("f64".parse::<DType>().is_err());

    let conv = build(&d).unwrap();
    let x = data(4 * 5 * 5, 3);
    assert!(matches!(conv.run(&x[1..], [1, 4, 5, 5], None), Err(Error::InvalidShape(_))), "input length");
    assert!(matches!(conv.run(&x, [1, 5, 4, 5], None), Err(Error::InvalidShape(_))), "channel mismatch");
    assert!(
        matches!(conv.run(&x, [1, 4, 5, 5], Some(&x)), Err(Error::InvalidShape(_))),
        "unexpected residual"
    );
    let no_pad = build(&Conv2dDesc { padding: Padding::uniform(0), ..d.clone() }).unwrap();
    assert!(matches!(no_pad.run(&x[..8], [1, 4, 2, 1], None), Err(Error::InvalidShape(_))), "kernel > input");
    let res = build(&Conv2dDesc { residual: true, ..d.clone() }).unwrap();
    assert!(matches!(res.run(&x, [1, 4, 5, 5], None), Err(Error::InvalidShape(_))), "missing residual");
    let half: Vec<half::f16> = x.iter().map(|&v| half::f16::from_f32(v)).collect();
    assert!(
        matches!(conv.run(&half, [1, 4, 5, 5], None), Err(Error::InvalidDescriptor(_))),
        "dtype mismatch"
    );
    for (tile, kernel) in [(3, 3), (5, 3), (4, 5)] {
        let forced =
            Conv2dDesc { algo: Algo::Winograd, tile: Some(tile), ..Conv2dDesc::new(4, 6, kernel, 1) };
        assert!(matches!(build(&forced).unwrap().plan([1, 4, 8, 8]), Err(Error::Unsupported(_))));
    }
}

#[test]
fn encode_rejects_bad_buffers_without_validation_errors() {
    let d = desc();
    let conv = build(&d).unwrap();
    let device = ctx().device();
    let buffer = |size, usage| {
        device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false })
    };
    let storage = wgpu::BufferUsages::STORAGE;
    let shape = [1, 4, 5, 5];
    let (input, output) = (buffer(400, storage), buffer(600, storage));
    let cases = [
        (buffer(396, storage), buffer(600, storage)),
        (buffer(400, storage), buffer(596, storage)),
        (buffer(400, wgpu::BufferUsages::COPY_DST), buffer(600, storage)),
    ];
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    for (x, y) in &cases {
        let mut enc = device.create_command_encoder(&Default::default());
        assert!(matches!(conv.encode(&mut enc, shape, x, y, None), Err(Error::InvalidBuffer(_))));
    }
    let mut enc = device.create_command_encoder(&Default::default());
    assert!(matches!(
        conv.encode(&mut enc, shape, &input, &output, Some(&input)),
        Err(Error::InvalidBuffer(_))
    ));
    conv.encode(&mut enc, shape, &input, &output, None).unwrap();
    ctx().queue().submit([enc.finish()]);
    assert!(pollster::block_on(scope.pop()).is_none(), "a wgpu validation error leaked");
}

#[test]
fn no_matching_adapter_is_a_clear_error() {
    // Context::new reads WGPU_ADAPTER_NAME; a name that matches nothing must not panic.
    std::env::set_var("WGPU_ADAPTER_NAME", "no-such-adapter-xyz");
    let r = Context::new();
    std::env::remove_var("WGPU_ADAPTER_NAME");
    match r {
        Err(Error::NoAdapter(msg)) => assert!(msg.contains("no-such-adapter-xyz"), "{msg}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("matched a nonexistent adapter"),
    }
}

#[test]
fn shared_across_threads_with_run_and_encode() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Conv2d>();
    assert_send_sync::<Context>();
    let d = desc();
    let w = data(d.weight_len(), 1);
    let b = data(6, 2);
    let conv = Arc::new(Conv2d::new(ctx(), d.clone(), &w, Some(&b)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let (conv, d, w, b) = (conv.clone(), d.clone(), w.clone(), b.clone());
            std::thread::spawn(move || {
                let shape = [1 + t % 2, 4, 6 + t, 9 - t];
                let x = data(shape.iter().product(), 20 + t as u64);
                let want = reference::conv2d_f64(&d, &x, shape, &w, Some(&b), None).unwrap();
                for _ in 0..5 {
                    let got = conv.run(&x, shape, None).unwrap();
                    assert!(reference::max_rel_error(&got, &want) <= 1e-4);
                }
                // The same convolution encoded into this thread's own encoder and buffers.
                let (input, output) = (gpu_buffer(x.len(), Some(&x)), gpu_buffer(want.len(), None));
                let got =
                    encode_and_read(|enc| conv.encode(enc, shape, &input, &output, None).unwrap(), &output);
                assert!(reference::max_rel_error(&got, &want) <= 1e-4);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// NaN and Inf in the input reach every output whose receptive field holds them. The direct
/// path matches the reference exactly in which outputs are non-finite; Winograd mixes a whole
/// α×α input tile into every output of its m×m tile, so a NaN or Inf can spread to the other
/// outputs of that tile (they become NaN) — never fewer non-finite outputs than the reference.
#[test]
fn nan_and_inf_propagate() {
    let d = Conv2dDesc::new(2, 3, 3, 1);
    let shape = [1, 2, 12, 12];
    let mut x = data(2 * 144, 5);
    x[13] = f32::NAN;
    x[144 + 100] = f32::INFINITY;
    let w = data(d.weight_len(), 6);
    let want = reference::conv2d_f64(&d, &x, shape, &w, None, None).unwrap();
    for algo in [Algo::Direct, Algo::Winograd] {
        let conv = Conv2d::new(ctx(), Conv2dDesc { algo, ..d.clone() }, &w, None).unwrap();
        let got = conv.run(&x, shape, None).unwrap();
        for (i, (&g, &r)) in got.iter().zip(&want).enumerate() {
            if !r.is_finite() {
                assert!(!g.is_finite(), "{algo:?}: output {i} should be non-finite, got {g}");
            } else if algo == Algo::Direct {
                assert!(g.is_finite(), "direct: output {i} should be finite");
            }
        }
    }
}

/// A random convolution the generator can describe: Winograd-only options only when Winograd applies.
fn arb_case() -> impl Strategy<Value = (Conv2dDesc, [usize; 4])> {
    (
        1usize..3,
        1usize..5,
        1usize..5,
        1usize..20,
        1usize..20,
        0usize..3,
        0usize..3,
        prop::bool::ANY,
        0usize..4,
    )
        .prop_flat_map(|(n, cg, kg, h, w, pt, pl, winograd, groups_pick)| {
            let groups = [1, 1, 2, 3][groups_pick];
            let direct = (1usize..6, 1usize..6, 1usize..4, 1usize..3, 0usize..3, 0usize..3);
            let wino =
                (prop::sample::select(vec![(2usize, 3usize), (4, 3), (6, 3), (2, 5)]), prop::bool::ANY);
            (Just((n, cg * groups, kg * groups, h, w, pt, pl, winograd, groups)), direct, wino)
        })
        .prop_map(
            |((n, c, k, h, w, pt, pl, winograd, groups), (kh, kw, s, dil, pb, pr), ((m, r), layout))| {
                let padding = Padding { top: pt, bottom: pb, left: pl, right: pr };
                let d = if winograd {
                    Conv2dDesc {
                        padding,
                        algo: Algo::Winograd,
                        tile: Some(m),
                        layout: if layout { TileLayout::R16_6_6 } else { TileLayout::R6_6_16 },
                        has_bias: layout,
                        ..Conv2dDesc::new(c / groups, k / groups, r, 0)
                    }
                } else {
                    Conv2dDesc {
                        kernel: [kh, kw],
                        stride: [s, s],
                        dilation: [dil, dil],
                        padding,
                        groups,
                        algo: if s == 1 { Algo::Auto } else { Algo::Direct },
                        has_bias: pb == 0,
                        ..Conv2dDesc::new(c, k, 3, 0)
                    }
                };
                let shape = [n, d.in_channels, h, w];
                (d, shape)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_convolutions_match_reference((d, shape) in arb_case()) {
        prop_assume!(d.output_hw(shape[2], shape[3]).is_ok());
        let (_, err) = check(&d, shape, 77);
        let tol = if d.tile == Some(6) { 5e-4 } else { 1e-4 };
        prop_assert!(err <= tol, "{:?} {:?}: {:e}", d, shape, err);
    }
}

/// A second `encode` on the same buffers reuses its bind groups; it must still read the
/// buffers' new contents.
#[test]
fn encode_on_the_same_buffers_twice_sees_new_data() {
    let d = desc();
    let (w, b) = (data(d.weight_len(), 1), data(6, 2));
    let conv = Conv2d::new(ctx(), d.clone(), &w, Some(&b)).unwrap();
    let shape = [2, 4, 7, 5];
    let (input, output) = (gpu_buffer(2 * 4 * 35, None), gpu_buffer(2 * 6 * 35, None));
    for seed in [10, 11] {
        let x = data(2 * 4 * 35, seed);
        ctx().queue().write_buffer(&input, 0, bytemuck::cast_slice(&x));
        let got = encode_and_read(|enc| conv.encode(enc, shape, &input, &output, None).unwrap(), &output);
        let want = reference::conv2d_f64(&d, &x, shape, &w, Some(&b), None).unwrap();
        assert!(reference::max_rel_error(&got, &want) <= 1e-4, "seed {seed}");
    }
}
