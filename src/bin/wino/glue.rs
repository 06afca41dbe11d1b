//! Everything that touches the library's descriptor and plan types, one small function each:
//! building a `Conv2dDesc` (for `wino conv` and for a bench layer), counting its weights,
//! rendering a plan, naming the algorithm it resolved to, and the verification tolerance. When
//! the descriptor API changes, this is the file to change.

use crate::{lib, ConvArgs, ForwardArgs, Fuse, Res};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{
    reference, Algo, Choice, Conv2dDesc, DType, Padding, Plan, Precision, Product, TileLayout,
};

/// `--fuse` as the descriptor's product choice.
fn product(fuse: Fuse) -> Option<Product> {
    match fuse {
        Fuse::Auto => None,
        Fuse::On => Some(Product::Fused),
        Fuse::Off => Some(Product::Separate),
    }
}

/// The forward descriptor of `wino conv` and `wino grad`: geometry and layouts from `f`,
/// channels and kernel from the arrays, defaults for the rest.
pub fn forward_desc(
    f: &ForwardArgs,
    [in_channels, out_channels]: [usize; 2],
    kernel: [usize; 2],
) -> Conv2dDesc {
    Conv2dDesc {
        in_channels,
        out_channels,
        kernel,
        stride: f.stride,
        dilation: f.dilation,
        padding: f.padding,
        padding_mode: f.padding_mode,
        groups: f.groups,
        dtype: f.dtype,
        data_format: f.data_format,
        weight_format: f.weight_format,
        ..Conv2dDesc::new(in_channels, out_channels, 1, 0)
    }
}

/// The `wino conv` descriptor: options from `a`, channels and kernel from the arrays.
pub fn conv_desc(
    a: &ConvArgs,
    channels: [usize; 2],
    kernel: [usize; 2],
    has_bias: bool,
    residual: bool,
) -> Conv2dDesc {
    Conv2dDesc {
        has_bias,
        activation: a.activation,
        residual,
        algo: a.algo.0,
        tile: a.tile,
        layout: a.layout.0,
        product: product(a.fuse),
        precision: a.precision,
        ..forward_desc(&a.fwd, channels, kernel)
    }
}

/// The descriptor of a bench layer with the variant's forced algorithm and layout, and the
/// requested element type and precision.
pub fn layer_desc(
    layer: &Layer,
    algo: Option<Algo>,
    layout: Option<TileLayout>,
    fuse: Fuse,
    dtype: DType,
    precision: Precision,
) -> Conv2dDesc {
    let winograd = matches!(algo, None | Some(Algo::Winograd)) && layer.stride == 1 && layer.groups == 1;
    Conv2dDesc {
        stride: [layer.stride; 2],
        padding: Padding::uniform(layer.padding),
        groups: layer.groups,
        algo,
        layout,
        product: if winograd { product(fuse) } else { None },
        dtype,
        precision,
        ..Conv2dDesc::new(layer.c, layer.k, layer.kernel, layer.padding)
    }
}

/// Weight elements the descriptor expects (after `validate`).
pub fn weight_len(desc: &Conv2dDesc) -> Res<usize> {
    lib(desc.validate())?;
    lib(desc.weight_len())
}

/// Whether Winograd can compute the descriptor's convolution (what `--tune` covers).
pub fn winograd_applies(desc: &Conv2dDesc) -> bool {
    desc.winograd_applies()
}

/// The algorithm the plan resolved to: `winograd`, `gemm`, `depthwise` or `direct`.
pub fn algo_name(plan: &Plan) -> String {
    plan.path.algo().to_string()
}

/// Winograd only: the plan's tile m, layout and product stage (`fused` or the block).
pub fn winograd_parts(plan: &Plan) -> Option<(usize, TileLayout, String)> {
    match plan.path.choice()? {
        Choice::Winograd { m, layout, kernels } => Some((m, layout, kernels.to_string())),
        Choice::Gemm(_) => None,
    }
}

/// The product stage or block a plan runs, if it has one: `fused` or the engine's block.
pub fn plan_product(plan: &Plan) -> Option<String> {
    match plan.path.choice()? {
        Choice::Winograd { kernels, .. } => Some(kernels.to_string()),
        Choice::Gemm(engine) => Some(engine.to_string()),
    }
}

/// `winograd F(4×4,3×3) layout r_6_6_16, product block 64x64x16/8x4; chunk 2 images, 1 pass`.
pub fn describe(plan: &Plan) -> String {
    plan.to_string()
}

/// The largest max relative error `--verify` accepts for a result of `dtype` from `plan`.
pub fn tolerance(dtype: DType, plan: &Plan) -> f64 {
    reference::tolerance(dtype, plan)
}
