//! The input gradient of a 2-D convolution: `dx` from `dy` and the forward weights, as the
//! transposed convolution of the same weights. The forward weight `(K, C/g, kh, kw)` is exactly
//! the transposed convolution's `(in = K, out / g = C/g, kh, kw)`, its padding the forward
//! padding, and the output padding, chosen per call, the rows and columns the forward stride
//! left unread at the bottom and right, so that `dx` has the forward input's shape.

use crate::desc::{Activation, Conv2dDesc, PaddingMode, WeightFormat};
use crate::error::{Error, Result};
use crate::runtime::{benchmark_buffer, benchmark_recorded, Context, Element};
use crate::transpose::{ConvTranspose2d, ConvTranspose2dDesc, TransposePlan};

/// The gradient of a convolution with respect to its input. It is the gradient through the
/// linear convolution: the forward bias and residual do not change it and are ignored; an
/// activation is refused ([`Error::Unsupported`]: its derivative needs the forward output, so
/// multiply `dy` by it first), and so are padding modes other than zeros.
pub struct InputGrad {
    forward: Conv2dDesc,
    transpose: ConvTranspose2d,
}

impl InputGrad {
    /// Prepares the gradient of the convolution `forward` with weights `forward_weights`
    /// (laid out per `forward.weight_format`): blocks on [`InputGrad::new_async`].
    #[cfg(feature = "blocking")]
    pub fn new(ctx: &Context, forward: &Conv2dDesc, forward_weights: &[f32]) -> Result<InputGrad> {
        pollster::block_on(InputGrad::new_async(ctx, forward, forward_weights))
    }

    /// [`InputGrad::new`] without blocking: the uploads' error scopes are awaited.
    pub async fn new_async(
        ctx: &Context,
        forward: &Conv2dDesc,
        forward_weights: &[f32],
    ) -> Result<InputGrad> {
        forward.validate()?;
        if forward.padding_mode != PaddingMode::Zeros {
            return Err(Error::Unsupported(format!(
                "the input gradient of {} padding is not a transposed convolution; only zeros padding is supported",
                forward.padding_mode
            )));
        }
        if forward.activation != Activation::None {
            return Err(Error::Unsupported(format!(
                "the input gradient is taken through the convolution only: apply the derivative of {} to dy \
                 and pass a descriptor without the activation",
                forward.activation
            )));
        }
        let expected = forward.weight_len()?;
        if forward_weights.len() != expected {
            return Err(Error::InvalidShape(format!(
                "expected {expected} forward weight values ({:?}, {}), got {}",
                forward.weight_format.stored(forward.weight_shape()),
                forward.weight_format,
                forward_weights.len()
            )));
        }
        let oihw = match forward.weight_format {
            WeightFormat::Oihw => forward_weights.to_vec(),
            WeightFormat::Hwio => {
                let [k, cg, kh, kw] = forward.weight_shape();
                (0..expected)
                    .map(|i| {
                        let (o, ci, y, x) = (i / (cg * kh * kw), i / (kh * kw) % cg, i / kw % kh, i % kw);
                        forward_weights[((y * kw + x) * cg + ci) * k + o]
                    })
                    .collect()
            }
        };
        let desc = ConvTranspose2dDesc {
            in_channels: forward.out_channels,
            out_channels: forward.in_channels,
            kernel: forward.kernel,
            stride: forward.stride,
            dilation: forward.dilation,
            padding: forward.padding,
            output_padding: [0, 0],
            padding_mode: PaddingMode::Zeros,
            groups: forward.groups,
            has_bias: false,
            activation: Activation::None,
            residual: false,
            algo: None,
            dtype: forward.dtype,
            data_format: forward.data_format,
            precision: forward.precision,
        };
        // Every output padding a call can need is below the stride.
        let most = [forward.stride[0] - 1, forward.stride[1] - 1];
        let transpose = ConvTranspose2d::build(ctx, desc, &oihw, None, most).await?;
        Ok(InputGrad { forward: forward.clone(), transpose })
    }

    /// The forward convolution's descriptor.
    pub fn forward(&self) -> &Conv2dDesc {
        &self.forward
    }

    /// Checks that `dy_shape` is the forward output of `input_shape`; returns the output
    /// padding that gives `dx` the input's shape.
    fn output_padding(&self, dy_shape: [usize; 4], input_shape: [usize; 4]) -> Result<[usize; 2]> {
        let f = &self.forward;
        if input_shape[1] != f.in_channels {
            return Err(Error::InvalidShape(format!(
                "input shape {input_shape:?} has {} channels but the convolution has {}",
                input_shape[1], f.in_channels
            )));
        }
        let want = f.output_shape(input_shape)?;
        if dy_shape != want {
            return Err(Error::InvalidShape(format!(
                "dy has shape {dy_shape:?} but the forward output of {input_shape:?} is {want:?}"
            )));
        }
        let p = f.padding;
        let unread = |size: usize, a: usize, b: usize, i: usize| {
            (size + a + b - f.dilation[i] * (f.kernel[i] - 1) - 1) % f.stride[i]
        };
        Ok([unread(input_shape[2], p.top, p.bottom, 0), unread(input_shape[3], p.left, p.right, 1)])
    }

    /// What a call runs: the transposed convolution's phases and their plans.
    pub fn plan(&self, dy_shape: [usize; 4], input_shape: [usize; 4]) -> Result<TransposePlan> {
        let op = self.output_padding(dy_shape, input_shape)?;
        self.transpose.plan_padded(dy_shape, op)
    }

    /// The blocking call: blocks on [`InputGrad::run_async`].
    #[cfg(feature = "blocking")]
    pub fn run<T: Element>(&self, dy: &[T], dy_shape: [usize; 4], input_shape: [usize; 4]) -> Result<Vec<T>> {
        pollster::block_on(self.run_async(dy, dy_shape, input_shape))
    }

    /// `dx` (logical shape `input_shape`, laid out per the forward `data_format`) from `dy`
    /// (logical `dy_shape`, the forward output's shape), awaiting every error scope and the
    /// read-back. `T` must match the forward dtype.
    pub async fn run_async<T: Element>(
        &self,
        dy: &[T],
        dy_shape: [usize; 4],
        input_shape: [usize; 4],
    ) -> Result<Vec<T>> {
        let op = self.output_padding(dy_shape, input_shape)?;
        self.transpose.run_padded(dy, dy_shape, op, None).await
    }

    /// Builds and caches what a call on these shapes needs, awaiting its error scopes: on
    /// WebGPU, [`InputGrad::encode`] of new shapes needs this first.
    pub async fn prepare_async(
        &self,
        dy_shape: [usize; 4],
        input_shape: [usize; 4],
    ) -> Result<TransposePlan> {
        let op = self.output_padding(dy_shape, input_shape)?;
        self.transpose.prepare_padded_async(dy_shape, op).await
    }

    /// Bytes a caller must allocate for `dy` and for `dx`.
    pub fn tensor_bytes(&self, dy_shape: [usize; 4], input_shape: [usize; 4]) -> Result<(u64, u64)> {
        let op = self.output_padding(dy_shape, input_shape)?;
        self.transpose.tensor_bytes_padded(dy_shape, op)
    }

    /// Times `iterations` calls on `dy_shape` (for a forward input of `input_shape`) with
    /// buffers of its own, as [`crate::Conv2d::benchmark`] reports them.
    pub fn benchmark(
        &self,
        dy_shape: [usize; 4],
        input_shape: [usize; 4],
        iterations: usize,
    ) -> Result<crate::Timing> {
        let (dyb, dxb) = self.tensor_bytes(dy_shape, input_shape)?;
        let ctx = &self.transpose.ctx;
        let (dy, dx) = ctx.scoped("allocating benchmark buffers", || {
            (benchmark_buffer(ctx, "dy", dyb, true), benchmark_buffer(ctx, "dx", dxb, false))
        })?;
        benchmark_recorded(ctx, &|enc| self.encode(enc, dy_shape, input_shape, &dy, &dx), iterations)
    }

    /// Records the gradient into the caller's encoder: reads `dy`, writes `dx` (both `STORAGE`
    /// buffers in the forward dtype and data format, at least [`InputGrad::tensor_bytes`]
    /// long). Checks as [`crate::Conv2d::encode`]; nothing is submitted. Never blocks: on
    /// WebGPU new shapes need [`InputGrad::prepare_async`] first.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        dy_shape: [usize; 4],
        input_shape: [usize; 4],
        dy: &wgpu::Buffer,
        dx: &wgpu::Buffer,
    ) -> Result<()> {
        let op = self.output_padding(dy_shape, input_shape)?;
        self.transpose.encode_padded(encoder, dy_shape, op, dy, dx, None)
    }
}
