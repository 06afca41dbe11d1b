//! Every path against the f64 CPU reference: each Winograd tile, each fallback case, f16,
//! NHWC/HWIO, each epilogue, prepared weights reused across shapes, and options that must
//! change the path taken.

mod common;
use common::{check, ctx, data};
use half::f16;
use wgpu_winograd::dispatch::Path;
use wgpu_winograd::{
    reference, Activation, Algo, Conv2d, Conv2dDesc, DType, DataFormat, Error, Padding, TileLayout,
    WeightFormat,
};

fn conv3(c: usize, k: usize, pad: usize) -> Conv2dDesc {
    Conv2dDesc::new(c, k, 3, pad)
}

#[test]
fn every_winograd_tile_matches_reference_in_both_layouts() {
    // (m, r, tolerance): F(6,3) is the least accurate tile (measured ~1.5e-5 at 256 channels).
    let tiles = [(2, 3, 1e-4), (4, 3, 1e-4), (6, 3, 1e-4), (2, 5, 1e-4)];
    // (n, c, k, h, w, padding)
    let shapes: &[(usize, usize, usize, usize, usize, Padding)] = &[
        (1, 1, 1, 1, 1, Padding::uniform(2)),
        (1, 3, 4, 2, 3, Padding::uniform(2)),
        (2, 5, 3, 5, 97, Padding::uniform(2)),
        (3, 17, 6, 7, 13, Padding { top: 0, bottom: 2, left: 1, right: 0 }),
        (4, 33, 17, 9, 10, Padding::uniform(1)),
        (1, 256, 8, 12, 12, Padding::uniform(2)),
        (1, 64, 64, 19, 11, Padding::uniform(0)),
    ];
    for (m, r, tol) in tiles {
        for (i, &(n, c, k, h, w, padding)) in shapes.iter().enumerate() {
            let mut d =
                Conv2dDesc { padding, algo: Algo::Winograd, tile: Some(m), ..Conv2dDesc::new(c, k, r, 0) };
            if d.output_hw(h, w).is_err() {
                continue;
            }
            d.has_bias = i % 2 == 0;
            d.layout = TileLayout::R16_6_6;
            let (a, ea) = check(&d, [n, c, h, w], i as u64);
            d.layout = TileLayout::R6_6_16;
            let (b, eb) = check(&d, [n, c, h, w], i as u64);
            assert!(ea <= tol && eb <= tol, "F({m},{r}) shape {:?}: {ea:e} {eb:e}", shapes[i]);
            assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "F({m},{r}) layouts differ");
        }
    }
}

#[test]
fn fallback_cases_take_the_direct_path_and_match_reference() {
    let base = |c, k, kernel| Conv2dDesc { has_bias: true, ..Conv2dDesc::new(c, k, kernel, 1) };
    let cases = [
        Conv2dDesc { stride: [2, 2], ..base(8, 12, 3) },
        Conv2dDesc { stride: [2, 1], ..base(8, 12, 3) },
        Conv2dDesc { dilation: [2, 2], ..base(8, 12, 3) },
        Conv2dDesc { groups: 2, ..base(8, 12, 3) },
        Conv2dDesc { groups: 8, ..base(8, 8, 3) },
        Conv2dDesc { groups: 8, ..base(8, 16, 3) },
        Conv2dDesc { padding: Padding::uniform(0), ..base(8, 12, 1) },
        Conv2dDesc { padding: Padding::uniform(3), ..base(8, 12, 7) },
        Conv2dDesc { stride: [2, 2], padding: Padding::uniform(2), ..base(8, 12, 5) },
        Conv2dDesc {
            kernel: [3, 1],
            padding: Padding { top: 1, bottom: 1, left: 0, right: 0 },
            ..base(8, 12, 3)
        },
        Conv2dDesc {
            stride: [2, 2],
            padding: Padding { top: 0, bottom: 2, left: 1, right: 0 },
            ..base(5, 7, 3)
        },
    ];
    for (i, d) in cases.iter().enumerate() {
        for shape in [[2, d.in_channels, 13, 17], [1, d.in_channels, 8, 8]] {
            let conv =
                Conv2d::new(ctx(), d.clone(), &data(d.weight_len(), 1), Some(&data(d.out_channels, 2)))
                    .unwrap();
            assert_eq!(conv.plan(shape).unwrap().path, Path::Direct, "case {i}");
            let (_, err) = check(d, shape, i as u64);
            assert!(err <= 1e-4, "case {i} {d:?} {shape:?}: {err:e}");
        }
    }
}

#[test]
fn f16_storage_matches_reference_within_3e3() {
    for (algo, tile) in [(Algo::Winograd, Some(4)), (Algo::Winograd, Some(2)), (Algo::Direct, None)] {
        let d = Conv2dDesc { algo, tile, dtype: DType::F16, has_bias: true, ..conv3(24, 16, 1) };
        let shape = [2, 24, 15, 18];
        let round = |v: Vec<f32>| v.into_iter().map(|x| f16::from_f32(x).to_f32()).collect::<Vec<_>>();
        let x = round(data(shape.iter().product(), 1));
        let w = data(d.weight_len(), 2);
        let b = data(16, 3);
        let conv = Conv2d::new(ctx(), d.clone(), &w, Some(&b)).unwrap();
        let xh: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
        let got: Vec<f32> = conv.run(&xh, shape, None).unwrap().into_iter().map(f32::from).collect();
        let want = reference::conv2d_f64(&d, &x, shape, &w, Some(&b), None).unwrap();
        let err = reference::max_rel_error(&got, &want);
        eprintln!("f16 {algo:?} tile {tile:?}: max relative error {err:.2e}");
        assert!(err <= 3e-3, "f16 {algo:?} {tile:?}: {err:e}");
        assert!(matches!(conv.run(&x, shape, None), Err(Error::InvalidDescriptor(_))));
    }
}

#[test]
fn nhwc_and_hwio_match_reference() {
    for algo in [Algo::Winograd, Algo::Direct] {
        for wf in [WeightFormat::Oihw, WeightFormat::Hwio] {
            let d = Conv2dDesc {
                algo,
                data_format: DataFormat::Nhwc,
                weight_format: wf,
                has_bias: true,
                residual: true,
                activation: Activation::Relu,
                ..conv3(6, 10, 1)
            };
            let (_, err) = check(&d, [2, 6, 11, 9], 4);
            assert!(err <= 1e-4, "{algo:?} {wf:?}: {err:e}");
        }
    }
}

#[test]
fn every_epilogue_matches_reference() {
    for algo in [Algo::Winograd, Algo::Direct] {
        for activation in [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu] {
            for (has_bias, residual) in [(false, false), (true, false), (false, true), (true, true)] {
                let d = Conv2dDesc { algo, activation, has_bias, residual, ..conv3(7, 9, 1) };
                let (_, err) = check(&d, [2, 7, 10, 6], 5);
                assert!(err <= 1e-4, "{algo:?} {activation:?} bias {has_bias} residual {residual}: {err:e}");
            }
        }
    }
}

#[test]
fn prepared_weights_serve_every_shape() {
    let d = Conv2dDesc { has_bias: true, ..conv3(12, 20, 1) };
    let w = data(d.weight_len(), 1);
    let b = data(20, 2);
    let conv = Conv2d::new(ctx(), d.clone(), &w, Some(&b)).unwrap();
    for (i, shape) in
        [[1, 12, 8, 8], [3, 12, 20, 9], [1, 12, 8, 8], [2, 12, 33, 40], [3, 12, 20, 9]].iter().enumerate()
    {
        let x = data(shape.iter().product(), 10 + i as u64);
        let got = conv.run(&x, *shape, None).unwrap();
        let want = reference::conv2d_f64(&d, &x, *shape, &w, Some(&b), None).unwrap();
        assert!(reference::max_rel_error(&got, &want) <= 1e-4, "shape {shape:?}");
    }
}

#[test]
fn options_change_the_path() {
    let plan = |d: Conv2dDesc| {
        let conv = Conv2d::new(ctx(), d.clone(), &data(d.weight_len(), 1), None).unwrap();
        conv.plan([1, d.in_channels, 32, 32])
    };
    assert_eq!(plan(Conv2dDesc { algo: Algo::Direct, ..conv3(16, 16, 1) }).unwrap().path, Path::Direct);
    let forced =
        Conv2dDesc { algo: Algo::Winograd, tile: Some(6), layout: TileLayout::R6_6_16, ..conv3(16, 16, 1) };
    assert!(matches!(plan(forced).unwrap().path, Path::Winograd { m: 6, layout: TileLayout::R6_6_16, .. }));
    let strided = Conv2dDesc { algo: Algo::Winograd, stride: [2, 2], ..conv3(16, 16, 1) };
    assert!(matches!(plan(strided), Err(Error::Unsupported(_))));
    let bad_tile = Conv2dDesc { algo: Algo::Winograd, tile: Some(3), ..conv3(16, 16, 1) };
    assert!(matches!(plan(bad_tile), Err(Error::Unsupported(_))));
}

#[test]
fn f43_error_by_channel_count() {
    for c in [16, 64, 256, 512] {
        let d = Conv2dDesc { algo: Algo::Winograd, tile: Some(4), ..conv3(c, 16, 1) };
        let (_, err) = check(&d, [1, c, 16, 16], c as u64);
        eprintln!("F(4,3) GPU, {c} input channels: max relative error {err:.2e}");
        assert!(err <= 1e-4, "{c} channels: {err:e}");
    }
}
