//! 1-D convolution (PyTorch's `Conv1d`) over `(N, C, L)` as a [`Conv2d`] over `(N, C, 1, L)`
//! with a `1×R` kernel: one convolution code path for both, so every option and algorithm of
//! the 2-D one holds here by construction.

use crate::desc::{
    Activation, Algo, Conv2dDesc, DType, DataFormat, Padding, PaddingMode, Precision, Product, WeightFormat,
};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::runtime::{Context, Conv2d, Element};
use std::fmt;
use std::str::FromStr;

/// Memory order of a 1-D activation tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataFormat1d {
    /// Batch, channel, position (PyTorch).
    #[default]
    Ncl,
    /// Batch, position, channel (TensorFlow).
    Nlc,
}

/// Memory order of 1-D weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum WeightFormat1d {
    /// `(out_channels, in_channels / groups, R)` (PyTorch).
    #[default]
    Oiw,
    /// `(R, in_channels / groups, out_channels)` (TensorFlow).
    Wio,
}

impl fmt::Display for DataFormat1d {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataFormat1d::Ncl => "ncl",
            DataFormat1d::Nlc => "nlc",
        })
    }
}

impl FromStr for DataFormat1d {
    type Err = Error;
    /// `ncl` or `nlc`.
    fn from_str(s: &str) -> Result<DataFormat1d> {
        match s.to_ascii_lowercase().as_str() {
            "ncl" => Ok(DataFormat1d::Ncl),
            "nlc" => Ok(DataFormat1d::Nlc),
            _ => {
                Err(Error::InvalidDescriptor(format!("unknown 1-D data format '{s}' (expected ncl or nlc)")))
            }
        }
    }
}

/// Padding before and after the sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Padding1d {
    /// Positions padded before the first.
    pub left: usize,
    /// Positions padded after the last.
    pub right: usize,
}

impl Padding1d {
    /// The same padding on both sides.
    pub fn uniform(p: usize) -> Padding1d {
        Padding1d { left: p, right: p }
    }
}

/// Everything about a 1-D convolution except the batch and length, which vary per call.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1dDesc {
    /// Input channels C.
    pub in_channels: usize,
    /// Output channels K.
    pub out_channels: usize,
    /// Kernel length R.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Dilation.
    pub dilation: usize,
    /// Padding per side.
    pub padding: Padding1d,
    /// What the padding reads as.
    pub padding_mode: PaddingMode,
    /// Channel groups; must divide C and K.
    pub groups: usize,
    /// Whether a bias of K values is added.
    pub has_bias: bool,
    /// Activation applied last.
    pub activation: Activation,
    /// Add a tensor shaped like the output before the activation.
    pub residual: bool,
    /// Force an algorithm (Winograd has no 1×R tiles); `None` lets the ladder choose.
    pub algo: Option<Algo>,
    /// Force the product's engine and block (`Product::Engine`: a register or tensor block).
    pub product: Option<Product>,
    /// Element type of input, output and residual in GPU memory.
    pub dtype: DType,
    /// Memory order of input, output and residual.
    pub data_format: DataFormat1d,
    /// Memory order of the weights.
    pub weight_format: WeightFormat1d,
    /// Exact f32 products, or tensor-core products where the adapter has them.
    pub precision: Precision,
}

impl Conv1dDesc {
    /// A stride-1 convolution of a length-`kernel` kernel with `padding` on both sides.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, padding: usize) -> Conv1dDesc {
        Conv1dDesc {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            dilation: 1,
            padding: Padding1d::uniform(padding),
            padding_mode: PaddingMode::Zeros,
            groups: 1,
            has_bias: false,
            activation: Activation::None,
            residual: false,
            algo: None,
            product: None,
            dtype: DType::F32,
            data_format: DataFormat1d::Ncl,
            weight_format: WeightFormat1d::Oiw,
            precision: Precision::Highest,
        }
    }

    /// The 2-D convolution this one runs as: height 1, a `1×R` kernel, no vertical padding.
    /// NLC is NHWC with H = 1 and WIO is HWIO with kh = 1, byte for byte.
    pub fn to_conv2d(&self) -> Conv2dDesc {
        Conv2dDesc {
            in_channels: self.in_channels,
            out_channels: self.out_channels,
            kernel: [1, self.kernel],
            stride: [1, self.stride],
            dilation: [1, self.dilation],
            padding: Padding { top: 0, bottom: 0, left: self.padding.left, right: self.padding.right },
            padding_mode: self.padding_mode,
            groups: self.groups,
            has_bias: self.has_bias,
            activation: self.activation,
            residual: self.residual,
            algo: self.algo,
            tile: None,
            layout: None,
            product: self.product,
            dtype: self.dtype,
            data_format: match self.data_format {
                DataFormat1d::Ncl => DataFormat::Nchw,
                DataFormat1d::Nlc => DataFormat::Nhwc,
            },
            weight_format: match self.weight_format {
                WeightFormat1d::Oiw => WeightFormat::Oihw,
                WeightFormat1d::Wio => WeightFormat::Hwio,
            },
            precision: self.precision,
        }
    }

    /// The logical weight shape `[out_channels, in_channels / groups, R]`.
    pub fn weight_shape(&self) -> [usize; 3] {
        [self.out_channels, self.in_channels / self.groups.max(1), self.kernel]
    }

    /// Number of weight values `Conv1d::new` expects.
    pub fn weight_len(&self) -> Result<usize> {
        self.to_conv2d().weight_len()
    }

    /// The logical output shape `[n, k, l_out]` for a logical input `[n, c, l]`.
    pub fn output_shape(&self, [n, c, l]: [usize; 3]) -> Result<[usize; 3]> {
        if c != self.in_channels {
            return Err(Error::InvalidShape(format!(
                "input has {c} channels but the convolution has {}",
                self.in_channels
            )));
        }
        let d = self.to_conv2d();
        d.validate()?;
        d.check_padding(1, l)?;
        let [_, lo] = d.output_hw(1, l)?;
        Ok([n, self.out_channels, lo])
    }
}

/// The 4-D shape `(N, C, 1, L)` of a 1-D shape.
fn as_2d([n, c, l]: [usize; 3]) -> [usize; 4] {
    [n, c, 1, l]
}

/// A 1-D convolution with prepared weights: a [`Conv2d`] over `(N, C, 1, L)`.
pub struct Conv1d {
    desc: Conv1dDesc,
    conv: Conv2d,
}

impl Conv1d {
    /// Uploads the weights (f32, laid out per `desc.weight_format`) and the bias (K values):
    /// blocks on [`Conv1d::new_async`].
    #[cfg(feature = "blocking")]
    pub fn new(ctx: &Context, desc: Conv1dDesc, weights: &[f32], bias: Option<&[f32]>) -> Result<Conv1d> {
        pollster::block_on(Conv1d::new_async(ctx, desc, weights, bias))
    }

    /// [`Conv1d::new`] without blocking: [`Conv2d::new_async`] of the `1×R` convolution.
    pub async fn new_async(
        ctx: &Context,
        desc: Conv1dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Conv1d> {
        let expected = desc.weight_len()?;
        if weights.len() != expected {
            return Err(Error::InvalidShape(format!(
                "expected {expected} weight values ({:?}, {:?}), got {}",
                desc.weight_shape(),
                desc.weight_format,
                weights.len()
            )));
        }
        let conv = Conv2d::new_async(ctx, desc.to_conv2d(), weights, bias).await?;
        Ok(Conv1d { desc, conv })
    }

    /// The descriptor this convolution was built from.
    pub fn desc(&self) -> &Conv1dDesc {
        &self.desc
    }

    /// The 2-D convolution it runs as.
    pub fn conv2d(&self) -> &Conv2d {
        &self.conv
    }

    /// The logical output shape `[n, k, l_out]` for a logical input `[n, c, l]`.
    pub fn output_shape(&self, input: [usize; 3]) -> Result<[usize; 3]> {
        let [n, k, _, lo] = self.conv.output_shape(as_2d(input))?;
        Ok([n, k, lo])
    }

    /// The plan of the 2-D convolution it runs as, on `(N, C, 1, L)`.
    pub fn plan(&self, input: [usize; 3]) -> Result<Plan> {
        self.conv.plan(as_2d(input))
    }

    /// Bytes a caller must allocate for the input and for the output (and residual).
    pub fn tensor_bytes(&self, input: [usize; 3]) -> Result<(u64, u64)> {
        self.conv.tensor_bytes(as_2d(input))
    }

    /// The blocking call: blocks on [`Conv1d::run_async`].
    #[cfg(feature = "blocking")]
    pub fn run<T: Element>(&self, input: &[T], shape: [usize; 3], residual: Option<&[T]>) -> Result<Vec<T>> {
        pollster::block_on(self.run_async(input, shape, residual))
    }

    /// Uploads `input` (logical shape `[n, c, l]` per `desc.data_format`; `T` must match
    /// `desc.dtype`), runs and returns the output, awaiting everything: [`Conv2d::run_async`]
    /// on `(N, C, 1, L)`. An empty batch gives an empty output.
    pub async fn run_async<T: Element>(
        &self,
        input: &[T],
        shape: [usize; 3],
        residual: Option<&[T]>,
    ) -> Result<Vec<T>> {
        self.conv.run_async(input, as_2d(shape), residual).await
    }

    /// Builds and caches what a call on `shape` needs (see [`Conv2d::prepare_async`]): on
    /// WebGPU, [`Conv1d::encode`] of a new shape needs this first.
    pub async fn prepare_async(&self, shape: [usize; 3]) -> Result<Plan> {
        self.conv.prepare_async(as_2d(shape)).await
    }

    /// Times `iterations` calls on `shape` with buffers of its own: [`Conv2d::benchmark`] of the
    /// `(N, C, 1, L)` convolution it runs as, so a conv1d is timed exactly as a conv2d is.
    pub fn benchmark(&self, shape: [usize; 3], iterations: usize) -> Result<crate::Timing> {
        self.conv.benchmark(as_2d(shape), iterations)
    }

    /// Records the convolution into the caller's encoder; see [`Conv2d::encode`] (never blocks:
    /// on WebGPU a new shape needs [`Conv1d::prepare_async`] first).
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        shape: [usize; 3],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        self.conv.encode(encoder, as_2d(shape), input, output, residual)
    }
}
