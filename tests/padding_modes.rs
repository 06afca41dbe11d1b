//! PyTorch's padding modes (zeros, reflect, replicate, circular) on every path against the f64
//! reference, and the reference's own rule on a hand-computed example.

mod common;

use common::ctx;
use wgpu_winograd::{reference, Algo, Conv2d, Conv2dDesc, DataFormat, Error, Padding, PaddingMode, Product};

/// A 1×1×1×4 image [1, 2, 3, 4], a 1×3 kernel of ones, padding 2 left and right: each output is
/// the sum of three neighbours of the padded row, which PyTorch gives as below.
#[test]
fn the_reference_pads_like_pytorch() {
    let cases = [
        (PaddingMode::Zeros, vec![3.0, 6.0, 9.0, 7.0]),
        // reflect: 3 2 | 1 2 3 4 | 3 2
        (PaddingMode::Reflect, vec![6.0, 5.0, 6.0, 9.0, 10.0, 9.0]),
        // replicate: 1 1 | 1 2 3 4 | 4 4
        (PaddingMode::Replicate, vec![3.0, 4.0, 6.0, 9.0, 11.0, 12.0]),
        // circular: 3 4 | 1 2 3 4 | 1 2
        (PaddingMode::Circular, vec![8.0, 7.0, 6.0, 9.0, 8.0, 7.0]),
    ];
    for (mode, want) in cases {
        let pad = if mode == PaddingMode::Zeros { 1 } else { 2 };
        let desc = Conv2dDesc {
            kernel: [1, 3],
            padding: Padding { top: 0, bottom: 0, left: pad, right: pad },
            padding_mode: mode,
            ..Conv2dDesc::new(1, 1, 1, 0)
        };
        let got =
            reference::conv2d_f64(&desc, &[1.0, 2.0, 3.0, 4.0], [1, 1, 1, 4], &[1.0; 3], None, None).unwrap();
        assert_eq!(got, want, "{mode}");
    }
}

#[test]
fn every_path_matches_the_reference_in_every_mode() {
    let pad = Padding { top: 2, bottom: 1, left: 1, right: 3 };
    for mode in [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        let base =
            Conv2dDesc { padding: pad, padding_mode: mode, has_bias: true, ..Conv2dDesc::new(8, 12, 3, 0) };
        let cases = [
            ("direct", Conv2dDesc { algo: Some(Algo::Direct), ..base.clone() }),
            ("gemm s2x1", Conv2dDesc { algo: Some(Algo::Gemm), stride: [2, 1], ..base.clone() }),
            (
                "gemm d2 nhwc",
                Conv2dDesc {
                    algo: Some(Algo::Gemm),
                    dilation: [2, 2],
                    data_format: DataFormat::Nhwc,
                    ..base.clone()
                },
            ),
            (
                "winograd fused",
                Conv2dDesc { algo: Some(Algo::Winograd), product: Some(Product::Fused), ..base.clone() },
            ),
            (
                "winograd F(4,3)",
                Conv2dDesc { tile: Some(4), product: Some(Product::Separate), ..base.clone() },
            ),
            (
                "winograd F(2,3) nchw w=8",
                Conv2dDesc { tile: Some(2), product: Some(Product::Separate), ..base.clone() },
            ),
            (
                "depthwise x2",
                Conv2dDesc { algo: Some(Algo::Depthwise), groups: 8, out_channels: 16, ..base.clone() },
            ),
        ];
        for (name, desc) in cases {
            for shape in [[2, 8, 7, 9], [1, 8, 4, 8]] {
                let (plan, err) = common::verify(ctx(), &desc, shape, 5).unwrap();
                let tol = reference::tolerance(desc.dtype, &plan);
                assert!(err <= tol, "{name} {mode} {shape:?} ({plan}): error {err:.2e} > {tol:e}");
            }
        }
    }
}

#[test]
fn reflect_padding_must_be_smaller_than_the_image() {
    let desc = Conv2dDesc { padding_mode: PaddingMode::Reflect, ..Conv2dDesc::new(2, 2, 3, 3) };
    let conv = Conv2d::new(ctx(), desc.clone(), &vec![0.5; desc.weight_len().unwrap()], None).unwrap();
    assert!(matches!(conv.plan([1, 2, 3, 3]), Err(Error::InvalidShape(_))));
    assert!(conv.plan([1, 2, 4, 4]).is_ok());
    let circular = Conv2dDesc { padding_mode: PaddingMode::Circular, ..desc };
    let conv = Conv2d::new(ctx(), circular, &[0.5; 36], None).unwrap();
    assert!(conv.plan([1, 2, 3, 3]).is_ok());
    assert!(matches!(conv.plan([1, 2, 2, 2]), Err(Error::InvalidShape(_))));
}
