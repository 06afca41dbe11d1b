//! What a caller asks for: the convolution descriptor, its option enums, and every rule that can
//! be checked before a shape is seen ([`Conv2dDesc::validate`], run by `Conv2d::new`).
//!
//! "Automatic" is spelled one way: a `None` in an `Option` field. Forced choices are typed so
//! that a block the kernels cannot run ([`GemmBlock`]) cannot be written.

use crate::blocks::{Engine, GemmBlock, TensorBlock};
use crate::error::{Error, Result};
use std::fmt;
use std::str::FromStr;

/// The Winograd tiles the generator ships, as (m, r): F(m×m, r×r).
pub const WINOGRAD_TILES: [(usize, usize); 4] = [(2, 3), (4, 3), (6, 3), (2, 5)];

/// Which algorithm computes the convolution. `None` in [`Conv2dDesc::algo`] lets the dispatch
/// ladder choose per shape and adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algo {
    /// Winograd F(m×m, r×r): square 3×3 or 5×5 kernels, stride 1, dilation 1 (grouped too).
    Winograd,
    /// Implicit GEMM through the register-tiled product core: any dense or grouped convolution
    /// (1×1 convolutions are its plain-GEMM special case).
    Gemm,
    /// One kernel per channel: groups = in_channels (a channel multiplier is allowed).
    Depthwise,
    /// The GPU direct convolution: every convolution, the reference path and last resort.
    Direct,
}

/// Memory and grid order of the Winograd-domain buffers (transformed weights, transformed
/// input, products). Both give bit-identical results: only addresses differ, never arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileLayout {
    /// Channels outermost, then the α×α tile elements: `[c][e][p]`.
    R16_6_6,
    /// Tile elements outermost, channels inside: `[e][c][p]`.
    R6_6_16,
}

/// Arithmetic precision of f32 convolutions, named after PyTorch's
/// `torch.set_float32_matmul_precision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Exact f32 arithmetic (the default).
    #[default]
    Highest,
    /// Tensor-core products: operands rounded to f16 after a power-of-two scale per tensor
    /// (so nothing overflows or flushes), accumulated in f32; f16 activations go in as stored.
    /// Runs as `Highest` where the adapter has no cooperative matrices, or on layers another
    /// path runs as fast (Winograd's 3×3 stride 1), and the plan says so.
    High,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Highest => "highest",
            Precision::High => "high",
        })
    }
}

impl FromStr for Precision {
    type Err = Error;
    /// `highest` or `high`.
    fn from_str(s: &str) -> Result<Precision> {
        match s {
            "highest" => Ok(Precision::Highest),
            "high" => Ok(Precision::High),
            _ => Err(Error::InvalidDescriptor(format!("precision '{s}' is not highest or high"))),
        }
    }
}

/// What a descriptor forces of the product: Winograd's fused or separate kernels, or an engine
/// and its block (which serves whichever of Winograd and the GEMM runs). A partial choice; the
/// concrete one a plan makes is `Choice`, which forces itself through this option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Product {
    /// Winograd: input transform, product and output transform in one kernel, in registers.
    Fused,
    /// Winograd: three separate kernels, with the engine and block chosen per shape.
    Separate,
    /// This engine and block: Winograd's batched product (three separate kernels) with `algo`
    /// Winograd or a tile or layout, else the GEMM's. On the cooperative-matrix engine, f16
    /// fragments for [`Precision::High`], f32 ones for [`Precision::Highest`] (where the
    /// adapter has them).
    Engine(Engine),
}

impl Product {
    /// The engine it forces, if any.
    pub fn engine(&self) -> Option<Engine> {
        match self {
            Product::Engine(e) => Some(*e),
            Product::Fused | Product::Separate => None,
        }
    }
}

impl From<Engine> for Product {
    fn from(e: Engine) -> Product {
        Product::Engine(e)
    }
}

impl From<GemmBlock> for Product {
    fn from(b: GemmBlock) -> Product {
        Product::Engine(Engine::Registers(b))
    }
}

impl From<TensorBlock> for Product {
    fn from(b: TensorBlock) -> Product {
        Product::Engine(Engine::Coop(b))
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Product::Fused => f.write_str("fused"),
            Product::Separate => f.write_str("separate"),
            Product::Engine(e) => e.fmt(f),
        }
    }
}

impl FromStr for Product {
    type Err = Error;
    /// `fused`, `separate`, or a block as [`Engine`] reads it (`BMxBNxBK/TMxTN`, or a tensor
    /// block `BMxBNxBK/wWMxWN/mF`).
    fn from_str(s: &str) -> Result<Product> {
        match s {
            "fused" => Ok(Product::Fused),
            "separate" => Ok(Product::Separate),
            engine => engine.parse().map(Product::Engine),
        }
    }
}

/// Element type of activations (input, output, residual) in GPU memory. Arithmetic and the
/// Winograd-domain buffers are always f32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DType {
    #[default]
    /// 32-bit floats.
    F32,
    /// 16-bit floats in memory (`half::f16` on the host), converted to f32 on load.
    F16,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
        }
    }
}

/// Memory order of input, output and residual tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataFormat {
    #[default]
    /// Batch, channel, row, column.
    Nchw,
    /// Batch, row, column, channel.
    Nhwc,
}

impl DataFormat {
    /// Element strides `[n, c, y, x]` of a tensor of logical shape `[n, c, h, w]`.
    pub fn strides(self, [_, c, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            DataFormat::Nchw => [c * h * w, h * w, w, 1],
            DataFormat::Nhwc => [h * w * c, 1, w * c, c],
        }
    }
    /// The stored shape of a tensor of logical shape `[n, c, h, w]`.
    pub fn stored(self, [n, c, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            DataFormat::Nchw => [n, c, h, w],
            DataFormat::Nhwc => [n, h, w, c],
        }
    }
    /// The logical `[n, c, h, w]` of a stored shape.
    pub fn logical(self, [a, b, c, d]: [usize; 4]) -> [usize; 4] {
        match self {
            DataFormat::Nchw => [a, b, c, d],
            DataFormat::Nhwc => [a, d, b, c],
        }
    }
}

/// Memory order of the weights handed to `Conv2d::new`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WeightFormat {
    /// `[out_channels][in_channels / groups][kh][kw]` (PyTorch, ONNX).
    #[default]
    Oihw,
    /// `[kh][kw][in_channels / groups][out_channels]` (TensorFlow).
    Hwio,
}

impl WeightFormat {
    /// The stored shape of weights of logical shape `[o, i, kh, kw]`.
    pub fn stored(self, [o, i, kh, kw]: [usize; 4]) -> [usize; 4] {
        match self {
            WeightFormat::Oihw => [o, i, kh, kw],
            WeightFormat::Hwio => [kh, kw, i, o],
        }
    }
    /// The logical `[o, i, kh, kw]` of a stored shape.
    pub fn logical(self, [a, b, c, d]: [usize; 4]) -> [usize; 4] {
        match self {
            WeightFormat::Oihw => [a, b, c, d],
            WeightFormat::Hwio => [d, c, a, b],
        }
    }
}

/// The activation fused into the output stage, applied after bias and residual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    None,
    /// `max(v, 0)`.
    Relu,
    /// `clamp(v, 0, 6)`.
    Relu6,
    /// `v · sigmoid(v)`.
    Silu,
}

impl Activation {
    /// The activation in f64, as the CPU reference applies it. NaN stays NaN, as in PyTorch
    /// (`f64::max` and `clamp` would turn it into a number).
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Activation::None => v,
            Activation::Relu if v < 0.0 => 0.0,
            Activation::Relu => v,
            Activation::Relu6 if v < 0.0 => 0.0,
            Activation::Relu6 if v > 6.0 => 6.0,
            Activation::Relu6 => v,
            Activation::Silu => v / (1.0 + (-v).exp()),
        }
    }
}

/// What the padding ring around an image reads as, as PyTorch's `padding_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PaddingMode {
    /// Zeros.
    #[default]
    Zeros,
    /// The image mirrored at its edge, the edge not repeated (`dcb|abcd|cba`); padding must be
    /// smaller than the image.
    Reflect,
    /// The edge repeated (`aaa|abcd|ddd`).
    Replicate,
    /// The image wrapped around (`bcd|abcd|abc`); padding must not exceed the image.
    Circular,
}

impl PaddingMode {
    /// Where padded coordinate `i` (in `-pad .. n + pad`) reads from in an image of `n`, or
    /// `None` for a zero. The rule the CPU reference applies; the kernels compile the same.
    pub fn source(self, i: isize, n: isize) -> Option<isize> {
        match self {
            _ if (0..n).contains(&i) => Some(i),
            PaddingMode::Zeros => None,
            PaddingMode::Reflect => Some(if i < 0 { -i } else { 2 * (n - 1) - i }),
            PaddingMode::Replicate => Some(i.clamp(0, n - 1)),
            PaddingMode::Circular => Some(if i < 0 { i + n } else { i - n }),
        }
    }
}

/// Padding on each side, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Padding {
    /// Rows of zeros above the image.
    pub top: usize,
    /// Rows of zeros below the image.
    pub bottom: usize,
    /// Columns of zeros left of the image.
    pub left: usize,
    /// Columns of zeros right of the image.
    pub right: usize,
}

impl Padding {
    /// The same padding on every side.
    pub fn uniform(p: usize) -> Padding {
        Padding { top: p, bottom: p, left: p, right: p }
    }
}

/// Everything about a convolution except the batch and image size, which vary per call.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2dDesc {
    /// Input channels C.
    pub in_channels: usize,
    /// Output channels K.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Padding per side.
    pub padding: Padding,
    /// What the padding reads as (zeros unless set).
    pub padding_mode: PaddingMode,
    /// Channel groups (1 = dense, C = depthwise); must divide C and K.
    pub groups: usize,
    /// Whether a bias of K values is added.
    pub has_bias: bool,
    /// Activation fused into the output stage.
    pub activation: Activation,
    /// Add a tensor shaped like the output before the activation (ResNet shortcut).
    pub residual: bool,
    /// Force an algorithm; `None` lets the dispatch ladder choose.
    pub algo: Option<Algo>,
    /// Force the Winograd output tile side m (2, 4 or 6 for 3×3; 2 for 5×5).
    pub tile: Option<usize>,
    /// Force the Winograd-domain layout.
    pub layout: Option<TileLayout>,
    /// Force the product: fused or separate Winograd kernels, or an engine and its block.
    pub product: Option<Product>,
    /// Element type of input, output and residual in GPU memory.
    pub dtype: DType,
    /// Memory order of input, output and residual.
    pub data_format: DataFormat,
    /// Memory order of the weights.
    pub weight_format: WeightFormat,
    /// Exact f32 products, or tensor-core products where the adapter has them.
    pub precision: Precision,
}

impl Conv2dDesc {
    /// A square `kernel`, stride-1 convolution with `padding` on every side and defaults for the rest.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, padding: usize) -> Conv2dDesc {
        Conv2dDesc {
            in_channels,
            out_channels,
            kernel: [kernel, kernel],
            stride: [1, 1],
            dilation: [1, 1],
            padding: Padding::uniform(padding),
            padding_mode: PaddingMode::Zeros,
            groups: 1,
            has_bias: false,
            activation: Activation::None,
            residual: false,
            algo: None,
            tile: None,
            layout: None,
            product: None,
            dtype: DType::F32,
            data_format: DataFormat::Nchw,
            weight_format: WeightFormat::Oihw,
            precision: Precision::Highest,
        }
    }

    /// The logical weight shape `[out_channels, in_channels / groups, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.out_channels, self.in_channels / self.groups.max(1), self.kernel[0], self.kernel[1]]
    }

    /// Number of weight elements expected by `Conv2d::new`, or an error if it overflows.
    pub fn weight_len(&self) -> Result<usize> {
        self.weight_shape().iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
            Error::InvalidDescriptor(format!("the weight tensor {:?} overflows usize", self.weight_shape()))
        })
    }

    /// Element strides `[o, i, y, x]` of the weights in `weight_format`.
    pub fn weight_strides(&self) -> [usize; 4] {
        let [k, cg, kh, kw] = self.weight_shape();
        match self.weight_format {
            WeightFormat::Oihw => [cg * kh * kw, kh * kw, kw, 1],
            WeightFormat::Hwio => [1, k, kw * cg * k, cg * k],
        }
    }

    /// Whether Winograd can compute this convolution: a square kernel the generator has a tile
    /// for, stride 1, dilation 1 (any groups: one batched product per tile element and group).
    pub fn winograd_applies(&self) -> bool {
        let [kh, kw] = self.kernel;
        kh == kw
            && WINOGRAD_TILES.iter().any(|&(_, r)| r == kh)
            && self.stride == [1, 1]
            && self.dilation == [1, 1]
    }

    /// Whether this is a depthwise convolution: one group per input channel (any multiplier).
    pub fn is_depthwise(&self) -> bool {
        self.groups == self.in_channels && self.groups > 1
    }

    /// Whether a Winograd-only option (tile, layout, fused or separate kernels) is set.
    pub fn forces_winograd(&self) -> bool {
        self.tile.is_some()
            || self.layout.is_some()
            || matches!(self.product, Some(Product::Fused | Product::Separate))
    }

    /// Checks everything that can be known before a shape is seen: sizes, groups, and that the
    /// forced options are ones the forced (or only possible) algorithm can honour.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidDescriptor(msg));
        if self.in_channels == 0 || self.out_channels == 0 {
            return bad("channel counts must be positive".into());
        }
        if self.kernel.contains(&0) {
            return bad("kernel size must be positive".into());
        }
        if self.stride.contains(&0) {
            return bad("stride must be positive".into());
        }
        if self.dilation.contains(&0) {
            return bad("dilation must be positive".into());
        }
        if self.groups == 0
            || !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return bad(format!(
                "groups = {} must divide in_channels = {} and out_channels = {}",
                self.groups, self.in_channels, self.out_channels
            ));
        }
        if self.weight_len()?.checked_mul(4).is_none() {
            return bad("the weight tensor's size overflows".into());
        }
        let winograd_options = self.forces_winograd();
        match self.algo {
            Some(Algo::Direct | Algo::Depthwise) if winograd_options || self.product.is_some() => {
                return bad(format!(
                    "tile, layout and product options apply to winograd and gemm, not to {}",
                    self.algo.expect("matched Some")
                ))
            }
            Some(Algo::Gemm) if winograd_options => {
                return bad(
                    "tile, layout, fused and separate are Winograd options; gemm takes only a product block"
                        .into(),
                )
            }
            Some(Algo::Depthwise) if !self.is_depthwise() => {
                return bad(format!(
                    "depthwise needs groups = in_channels > 1 (got groups {}, in_channels {})",
                    self.groups, self.in_channels
                ))
            }
            Some(Algo::Winograd) | None
                if (self.algo.is_some() || winograd_options) && !self.winograd_applies() =>
            {
                return Err(Error::Unsupported(format!(
                    "Winograd needs a square 3×3 or 5×5 kernel with stride 1 and dilation 1 \
                     (got kernel {:?}, stride {:?}, dilation {:?}); use another algo",
                    self.kernel, self.stride, self.dilation
                )))
            }
            _ => {}
        }
        if self.product == Some(Product::Fused) && self.groups > 1 {
            return Err(Error::Unsupported("the fused Winograd kernel takes one channel group only".into()));
        }
        if let Some(m) = self.tile {
            let r = self.kernel[0];
            if !WINOGRAD_TILES.contains(&(m, r)) {
                let tiles: Vec<String> =
                    WINOGRAD_TILES.iter().filter(|t| t.1 == r).map(|t| t.0.to_string()).collect();
                return Err(Error::Unsupported(format!(
                    "tile {m} with a {r}×{r} kernel (available: {})",
                    tiles.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Checks that a bias is given exactly when the descriptor asks for one, with one value per
    /// output channel. The one rule for every entry point (`Conv2d::new`, the reference).
    pub fn check_bias(&self, bias: Option<usize>) -> Result<()> {
        match (bias, self.has_bias) {
            (Some(b), true) if b != self.out_channels => Err(Error::InvalidShape(format!(
                "bias has {b} values but there are {} output channels",
                self.out_channels
            ))),
            (Some(_), false) => Err(Error::InvalidShape("a bias was given but has_bias is false".into())),
            (None, true) => Err(Error::InvalidShape("has_bias is set but no bias was given".into())),
            _ => Ok(()),
        }
    }

    /// Checks that a residual is given exactly when the descriptor asks for one, and that it has
    /// `output` values where its length is known (host slices; buffers are checked by size).
    pub fn check_residual(&self, residual: Option<usize>, output: Option<usize>) -> Result<()> {
        match (residual, self.residual) {
            (Some(r), true) => match output {
                Some(o) if o != r => {
                    Err(Error::InvalidShape(format!("residual has {r} values, the output has {o}")))
                }
                _ => Ok(()),
            },
            (Some(_), false) => Err(Error::InvalidShape("a residual was given but residual is false".into())),
            (None, true) => Err(Error::InvalidShape("residual is set but no residual was given".into())),
            (None, false) => Ok(()),
        }
    }

    /// Output `[oh, ow]` for an `[h, w]` input, or an error if the kernel does not fit: the one
    /// stride formula, `(padded − dilated kernel) / stride + 1`.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<[usize; 2]> {
        let too_big = || {
            Error::InvalidShape(format!(
                "sizes overflow: input {h}×{w}, kernel {:?}, dilation {:?}, padding {:?}",
                self.kernel, self.dilation, self.padding
            ))
        };
        let span = |k: usize, d: usize| k.checked_sub(1)?.checked_mul(d)?.checked_add(1);
        let pad = |x: usize, a: usize, b: usize| {
            x.checked_add(a).and_then(|v| v.checked_add(b)).ok_or_else(too_big)
        };
        let ph = pad(h, self.padding.top, self.padding.bottom)?;
        let pw = pad(w, self.padding.left, self.padding.right)?;
        let kh = span(self.kernel[0], self.dilation[0]).ok_or_else(too_big)?;
        let kw = span(self.kernel[1], self.dilation[1]).ok_or_else(too_big)?;
        if self.stride.contains(&0) {
            return Err(Error::InvalidDescriptor("stride must be positive".into()));
        }
        if kh > ph || kw > pw {
            return Err(Error::InvalidShape(format!(
                "kernel {kh}×{kw} (dilated) is larger than the padded input {ph}×{pw}"
            )));
        }
        Ok([(ph - kh) / self.stride[0] + 1, (pw - kw) / self.stride[1] + 1])
    }

    /// Checks that the padding mode can read this image: reflect needs padding smaller than the
    /// image, circular at most the image (PyTorch's rules).
    pub fn check_padding(&self, h: usize, w: usize) -> Result<()> {
        let p = self.padding;
        let (most_h, most_w) = (p.top.max(p.bottom), p.left.max(p.right));
        let fits = match self.padding_mode {
            PaddingMode::Zeros | PaddingMode::Replicate => true,
            PaddingMode::Reflect => most_h < h && most_w < w,
            PaddingMode::Circular => most_h <= h && most_w <= w,
        };
        if fits {
            Ok(())
        } else {
            Err(Error::InvalidShape(format!(
                "{} padding {:?} does not fit a {h}×{w} image (reflect needs padding < size, circular ≤ size)",
                self.padding_mode, self.padding
            )))
        }
    }

    /// The logical output shape `[n, k, oh, ow]` for a logical input shape `[n, c, h, w]`.
    pub fn output_shape(&self, [n, _, h, w]: [usize; 4]) -> Result<[usize; 4]> {
        let [oh, ow] = self.output_hw(h, w)?;
        Ok([n, self.out_channels, oh, ow])
    }
}

macro_rules! named_enum {
    ($ty:ty, $what:literal, $($variant:expr => $name:literal),+) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $(if *self == $variant { return f.write_str($name); })+
                unreachable!()
            }
        }
        impl FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $(if s.eq_ignore_ascii_case($name) { return Ok($variant); })+
                Err(Error::InvalidDescriptor(format!(
                    concat!("unknown ", $what, " '{}' (expected one of: {})"),
                    s,
                    [$($name),+].join(", ")
                )))
            }
        }
    };
}

named_enum!(Algo, "algo", Algo::Winograd => "winograd", Algo::Gemm => "gemm", Algo::Depthwise => "depthwise", Algo::Direct => "direct");
named_enum!(TileLayout, "layout", TileLayout::R16_6_6 => "r_16_6_6", TileLayout::R6_6_16 => "r_6_6_16");
named_enum!(PaddingMode, "padding mode", PaddingMode::Zeros => "zeros", PaddingMode::Reflect => "reflect", PaddingMode::Replicate => "replicate", PaddingMode::Circular => "circular");
named_enum!(DType, "dtype", DType::F32 => "f32", DType::F16 => "f16");
named_enum!(DataFormat, "data format", DataFormat::Nchw => "nchw", DataFormat::Nhwc => "nhwc");
named_enum!(WeightFormat, "weight format", WeightFormat::Oihw => "oihw", WeightFormat::Hwio => "hwio");
named_enum!(Activation, "activation", Activation::None => "none", Activation::Relu => "relu", Activation::Relu6 => "relu6", Activation::Silu => "silu");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forced_options_must_fit_the_forced_algorithm() {
        let d = Conv2dDesc::new(8, 8, 3, 1);
        assert!(Conv2dDesc { algo: Some(Algo::Direct), tile: Some(2), ..d.clone() }.validate().is_err());
        assert!(Conv2dDesc { algo: Some(Algo::Gemm), product: Some(Product::Fused), ..d.clone() }
            .validate()
            .is_err());
        assert!(Conv2dDesc {
            algo: Some(Algo::Gemm),
            product: Some(Product::Engine(Engine::Registers(GemmBlock::B64))),
            ..d.clone()
        }
        .validate()
        .is_ok());
        assert!(Conv2dDesc { stride: [2, 2], tile: Some(2), ..d.clone() }.validate().is_err());
        assert!(Conv2dDesc { tile: Some(3), ..d.clone() }.validate().is_err());
        assert!(Conv2dDesc { algo: Some(Algo::Depthwise), ..d.clone() }.validate().is_err());
        assert!(Conv2dDesc { algo: Some(Algo::Depthwise), groups: 8, ..d.clone() }.validate().is_ok());
        assert!(Conv2dDesc::new(1 << 33, 1 << 33, 3, 1).weight_len().is_err());
    }
}
