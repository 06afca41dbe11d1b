//! Everything that touches the library's descriptor and plan types, one small function each:
//! building a `Conv2dDesc` (for `wino conv` and for a bench layer), counting its weights,
//! rendering a plan, naming the algorithm it resolved to, and the verification tolerance. When
//! the descriptor API changes, this is the file to change.

use crate::{lib, ConvArgs, Fuse, Res};
use wgpu_winograd::dispatch::{self, Path as ConvPath, Plan, Product};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{Algo, Conv2dDesc, DType, Padding, TileLayout};

/// `--fuse` as the descriptor's choice.
fn fuse_choice(fuse: Fuse) -> Option<bool> {
    match fuse {
        Fuse::Auto => None,
        Fuse::On => Some(true),
        Fuse::Off => Some(false),
    }
}

/// The `wino conv` descriptor: options from `a`, channels and kernel from the arrays.
pub fn conv_desc(
    a: &ConvArgs,
    [in_channels, out_channels]: [usize; 2],
    kernel: [usize; 2],
    has_bias: bool,
    residual: bool,
) -> Conv2dDesc {
    Conv2dDesc {
        in_channels,
        out_channels,
        kernel,
        stride: a.stride,
        dilation: a.dilation,
        padding: a.padding,
        groups: a.groups,
        has_bias,
        activation: a.activation,
        residual,
        algo: a.algo,
        tile: a.tile,
        layout: a.layout,
        gemm: None,
        fuse: fuse_choice(a.fuse),
        dtype: a.dtype,
        data_format: a.data_format,
        weight_format: a.weight_format,
    }
}

/// The descriptor of a bench layer with the variant's forced algorithm and layout.
pub fn layer_desc(layer: &Layer, algo: Algo, layout: TileLayout, fuse: Fuse, dtype: DType) -> Conv2dDesc {
    Conv2dDesc {
        stride: [layer.stride; 2],
        padding: Padding::uniform(layer.padding),
        groups: layer.groups,
        algo,
        layout,
        fuse: if algo == Algo::Direct { None } else { fuse_choice(fuse) },
        dtype,
        ..Conv2dDesc::new(layer.c, layer.k, layer.kernel, layer.padding)
    }
}

/// Weight elements the descriptor expects (after `validate`).
pub fn weight_len(desc: &Conv2dDesc) -> Res<usize> {
    lib(desc.validate())?;
    Ok(desc.weight_len())
}

/// Whether Winograd can compute the descriptor's convolution (what `--tune` covers).
pub fn winograd_applies(desc: &Conv2dDesc) -> bool {
    dispatch::winograd_applies(desc)
}

/// The algorithm the plan resolved to: `winograd` or `direct`.
pub fn algo_name(plan: &Plan) -> &'static str {
    match plan.path {
        ConvPath::Winograd { .. } => "winograd",
        ConvPath::Direct => "direct",
    }
}

/// Winograd only: the plan's tile m, layout and product stage (`product_name`).
pub fn winograd_parts(plan: &Plan) -> Option<(usize, TileLayout, String)> {
    match plan.path {
        ConvPath::Winograd { m, layout, product, .. } => Some((m, layout, product_name(product))),
        ConvPath::Direct => None,
    }
}

/// `winograd F(4×4,3×3) layout r_6_6_16, product block 64×64×16 (8×4 each); chunk 2 images, 1 pass`.
pub fn describe(plan: &Plan) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let split = if plan.band_rows < plan.tiles_hw()[0] {
        format!("1 image at a time in bands of {}", plural(plan.band_rows, "tile row"))
    } else {
        format!("chunk {}", plural(plan.chunk, "image"))
    };
    let passes = plan.pieces().len();
    let passes = format!("{passes} pass{}", if passes == 1 { "" } else { "es" });
    match plan.path {
        ConvPath::Winograd { m, r, layout, product } => {
            format!(
                "winograd F({m}×{m},{r}×{r}) layout {layout}, {}; {split}, {passes}",
                product_name(product)
            )
        }
        ConvPath::Direct => format!("direct; {split}, {passes}"),
    }
}

/// `fused kernel` or `product block 64×64×16 (8×4 each)`: the workgroup block and what each
/// invocation holds.
pub fn product_name(product: Product) -> String {
    match product {
        Product::Fused => "fused kernel".into(),
        Product::Gemm(g) => format!("product block {}×{}×{} ({}×{} each)", g.bm, g.bn, g.bk, g.tm, g.tn),
    }
}

/// The largest max relative error `--verify` accepts for a result of `dtype` from `plan`.
pub fn tolerance(dtype: DType, _plan: &Plan) -> f64 {
    if dtype == DType::F16 {
        1e-2
    } else {
        1e-4
    }
}
