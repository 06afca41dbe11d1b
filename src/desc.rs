//! What a caller asks for: the convolution descriptor and its option enums.

use crate::codegen::GemmTile;
use crate::error::Error;
use std::fmt;
use std::str::FromStr;

/// Which algorithm computes the convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Algo {
    /// Winograd where it applies (3×3 or 5×5, stride 1, dilation 1, groups 1), else direct.
    #[default]
    Auto,
    /// Force Winograd; an error if the convolution is not one Winograd can do.
    Winograd,
    /// The GPU direct convolution; handles every convolution.
    Direct,
}

/// Memory and grid order of the Winograd-domain buffers (transformed weights, transformed
/// input, products). Both give bit-identical results: only addresses differ, never arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TileLayout {
    /// Chosen per shape and adapter by the dispatch layer.
    #[default]
    Auto,
    /// Channels outermost, then the α×α tile elements: `[c][e][p]`.
    R16_6_6,
    /// Tile elements outermost, channels inside: `[e][c][p]`.
    R6_6_16,
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

/// Memory order of input, output and residual tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataFormat {
    #[default]
    /// Batch, channel, row, column.
    Nchw,
    /// Batch, row, column, channel.
    Nhwc,
}

/// Memory order of the weights handed to [`crate::Conv2d::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WeightFormat {
    /// `[out_channels][in_channels / groups][kh][kw]` (PyTorch, ONNX).
    #[default]
    Oihw,
    /// `[kh][kw][in_channels / groups][out_channels]` (TensorFlow).
    Hwio,
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
    /// The activation in f64, as the CPU reference applies it.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Activation::None => v,
            Activation::Relu => v.max(0.0),
            Activation::Relu6 => v.clamp(0.0, 6.0),
            Activation::Silu => v / (1.0 + (-v).exp()),
        }
    }
}

/// Zero padding on each side, in pixels.
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
    /// Zero padding per side.
    pub padding: Padding,
    /// Channel groups (1 = dense, C = depthwise); must divide C and K.
    pub groups: usize,
    /// Whether a bias of K values is added.
    pub has_bias: bool,
    /// Activation fused into the output stage.
    pub activation: Activation,
    /// Add a tensor shaped like the output before the activation (ResNet shortcut).
    pub residual: bool,
    /// Which algorithm; `Auto` chooses per shape.
    pub algo: Algo,
    /// Winograd output tile side m (2, 4 or 6 for 3×3; 2 for 5×5); `None` lets dispatch choose.
    pub tile: Option<usize>,
    /// Winograd-domain layout; `Auto` chooses per shape.
    pub layout: TileLayout,
    /// Workgroup block of the Winograd-domain product; `None` lets dispatch choose.
    pub gemm: Option<GemmTile>,
    /// Fuse the Winograd stages into one kernel (`Some(true)`), keep them separate
    /// (`Some(false)`), or let dispatch choose (`None`).
    pub fuse: Option<bool>,
    /// Element type of input, output and residual in GPU memory.
    pub dtype: DType,
    /// Memory order of input, output and residual.
    pub data_format: DataFormat,
    /// Memory order of the weights.
    pub weight_format: WeightFormat,
}

impl Conv2dDesc {
    /// A 3×3, stride-1 convolution with `padding` on every side and defaults for the rest.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, padding: usize) -> Conv2dDesc {
        Conv2dDesc {
            in_channels,
            out_channels,
            kernel: [kernel, kernel],
            stride: [1, 1],
            dilation: [1, 1],
            padding: Padding::uniform(padding),
            groups: 1,
            has_bias: false,
            activation: Activation::None,
            residual: false,
            algo: Algo::Auto,
            tile: None,
            layout: TileLayout::Auto,
            gemm: None,
            fuse: None,
            dtype: DType::F32,
            data_format: DataFormat::Nchw,
            weight_format: WeightFormat::Oihw,
        }
    }

    /// Number of weight elements expected by [`crate::Conv2d::new`].
    pub fn weight_len(&self) -> usize {
        self.out_channels * (self.in_channels / self.groups.max(1)) * self.kernel[0] * self.kernel[1]
    }

    /// Checks the descriptor itself (shape-independent rules).
    pub fn validate(&self) -> Result<(), Error> {
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
        let weights = [self.in_channels / self.groups.max(1), self.kernel[0], self.kernel[1]]
            .iter()
            .try_fold(self.out_channels, |acc, &d| acc.checked_mul(d));
        if weights.is_none_or(|n| n.checked_mul(4).is_none()) {
            return bad("the weight tensor's size overflows".into());
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
        Ok(())
    }

    /// Output `[oh, ow]` for an `[h, w]` input, or an error if the kernel does not fit.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<[usize; 2], Error> {
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

named_enum!(Algo, "algo", Algo::Auto => "auto", Algo::Winograd => "winograd", Algo::Direct => "direct");
named_enum!(TileLayout, "layout", TileLayout::Auto => "auto", TileLayout::R16_6_6 => "r_16_6_6", TileLayout::R6_6_16 => "r_6_6_16");
named_enum!(DType, "dtype", DType::F32 => "f32", DType::F16 => "f16");
named_enum!(DataFormat, "data format", DataFormat::Nchw => "nchw", DataFormat::Nhwc => "nhwc");
named_enum!(WeightFormat, "weight format", WeightFormat::Oihw => "oihw", WeightFormat::Hwio => "hwio");
named_enum!(Activation, "activation", Activation::None => "none", Activation::Relu => "relu", Activation::Relu6 => "relu6", Activation::Silu => "silu");
