//! Weights (as uploaded, or as prepared for a path) larger than a binding: the convolution runs
//! over slices of its output channels, on every path, in every weight and data format, with the
//! epilogue; checked against the f64 reference under lowered binding limits.

mod common;

use common::{limited_ctx, verify};
use wgpu_winograd::{
    reference, Activation, Algo, Conv2dDesc, DataFormat, Error, Padding, Product, WeightFormat,
};

#[test]
fn every_path_runs_in_output_channel_slices() {
    // 300 KiB bindings: more than any activation below, less than the weights.
    let ctx = limited_ctx(300 << 10, 1 << 30, 65535);
    let base = Conv2dDesc {
        has_bias: true,
        residual: true,
        activation: Activation::Relu,
        ..Conv2dDesc::new(64, 160, 3, 1)
    };
    let cases = [
        ("winograd F(2,3)", Conv2dDesc { tile: Some(2), product: Some(Product::Separate), ..base.clone() }),
        (
            "winograd F(4,3) hwio",
            Conv2dDesc { tile: Some(4), weight_format: WeightFormat::Hwio, ..base.clone() },
        ),
        (
            "winograd fused nhwc",
            Conv2dDesc {
                tile: Some(2),
                product: Some(Product::Fused),
                data_format: DataFormat::Nhwc,
                ..base.clone()
            },
        ),
        (
            "gemm 1x1",
            Conv2dDesc {
                algo: Some(Algo::Gemm),
                kernel: [1, 1],
                padding: Padding::default(),
                in_channels: 512,
                ..base.clone()
            },
        ),
        (
            "gemm 3x3 s2",
            Conv2dDesc { algo: Some(Algo::Gemm), stride: [2, 2], in_channels: 128, ..base.clone() },
        ),
        (
            "gemm groups 4",
            Conv2dDesc {
                algo: Some(Algo::Gemm),
                groups: 4,
                in_channels: 256,
                out_channels: 256,
                ..base.clone()
            },
        ),
        (
            "direct groups 4",
            Conv2dDesc {
                algo: Some(Algo::Direct),
                groups: 4,
                in_channels: 512,
                out_channels: 256,
                ..base.clone()
            },
        ),
    ];
    for (name, desc) in cases {
        let shape = [2, desc.in_channels, 9, 12];
        let (plan, err) = verify(&ctx, &desc, shape, 7).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(plan.channel_slice < desc.out_channels, "{name}: not sliced: {plan}");
        assert!(plan.to_string().contains("slices of"), "{plan}");
        let tol = reference::tolerance(desc.dtype, &plan);
        assert!(err <= tol, "{name} ({plan}): error {err:.2e} > {tol:e}");
    }
}

#[test]
fn auto_slices_rather_than_fails_and_refuses_only_what_cannot_fit() {
    let ctx = limited_ctx(300 << 10, 1 << 30, 65535);
    let desc = Conv2dDesc::new(64, 256, 3, 1);
    let (plan, err) = verify(&ctx, &desc, [1, 64, 16, 16], 3).unwrap();
    assert!(plan.channel_slice < 256 && err <= reference::tolerance(desc.dtype, &plan), "{plan}: {err:.2e}");
    // One output channel's weights larger than a binding: input channels are not split.
    let huge = Conv2dDesc { algo: Some(Algo::Direct), ..Conv2dDesc::new(4096, 64, 5, 2) };
    assert!(matches!(verify(&ctx, &huge, [1, 4096, 2, 2], 3), Err(Error::TooLarge(_))));
}

/// A binding limit below the offset alignment (issue #9 item 8: `max_binding - slack` underflowed)
/// is refused with a typed error, never an arithmetic panic.
#[test]
fn a_binding_limit_below_the_offset_alignment_is_an_error_not_a_panic() {
    let ctx = limited_ctx(16, 1 << 30, 65535);
    let desc = Conv2dDesc::new(4, 4, 3, 1);
    assert!(matches!(verify(&ctx, &desc, [1, 4, 8, 8], 1), Err(Error::TooLarge(_))));
}
