//! What a caller asks of a transposed convolution: [`ConvTranspose2dDesc`] and the rules that
//! can be checked before a shape is seen.

use crate::desc::{Activation, Algo, DType, DataFormat, Padding, PaddingMode, Precision};
use crate::error::{Error, Result};

/// Everything about a 2-D transposed convolution (PyTorch's `ConvTranspose2d`) except the
/// batch and image size. Weights are in PyTorch's layout `(in_channels, out_channels / groups,
/// kh, kw)`; the output is `(h − 1)·stride − padding.top − padding.bottom + dilation·(kh − 1)
/// + output_padding + 1` rows (columns alike). PyTorch's symmetric `padding = p` is
/// [`Padding::uniform`]`(p)`; unequal sides crop unequally from the full output.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvTranspose2dDesc {
    /// Input channels (the channels of the tensor the transposed convolution reads).
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Rows and columns cropped from each side of the full output.
    pub padding: Padding,
    /// Extra rows and columns at the bottom and right; each below `max(stride, dilation)`.
    pub output_padding: [usize; 2],
    /// Only [`PaddingMode::Zeros`], as in PyTorch; other modes are [`Error::Unsupported`].
    pub padding_mode: PaddingMode,
    /// Channel groups; must divide both channel counts.
    pub groups: usize,
    /// Whether a bias of `out_channels` values is added.
    pub has_bias: bool,
    /// Activation applied last.
    pub activation: Activation,
    /// Add a tensor shaped like the output before the activation.
    pub residual: bool,
    /// Force the algorithm of every phase's convolution; `None` lets the ladder choose per phase.
    pub algo: Option<Algo>,
    /// Element type of input, output and residual in GPU memory.
    pub dtype: DType,
    /// Memory order of input, output and residual.
    pub data_format: DataFormat,
    /// Arithmetic precision of the phases' products.
    pub precision: Precision,
}

/// The most phases (`stride_h · stride_w`) a transposed convolution is split into: one
/// convolution and one interleave dispatch each.
pub const MAX_PHASES: usize = 4096;

impl ConvTranspose2dDesc {
    /// A square `kernel`, `stride`, symmetric `padding`, defaults for the rest.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> ConvTranspose2dDesc {
        ConvTranspose2dDesc {
            in_channels,
            out_channels,
            kernel: [kernel; 2],
            stride: [stride; 2],
            dilation: [1, 1],
            padding: Padding::uniform(padding),
            output_padding: [0, 0],
            padding_mode: PaddingMode::Zeros,
            groups: 1,
            has_bias: false,
            activation: Activation::None,
            residual: false,
            algo: None,
            dtype: DType::F32,
            data_format: DataFormat::Nchw,
            precision: Precision::Highest,
        }
    }

    /// The weight shape `[in_channels, out_channels / groups, kh, kw]` (PyTorch's).
    pub fn weight_shape(&self) -> [usize; 4] {
        [self.in_channels, self.out_channels / self.groups.max(1), self.kernel[0], self.kernel[1]]
    }

    /// Number of weight values `ConvTranspose2d::new` expects, or an error if it overflows.
    pub fn weight_len(&self) -> Result<usize> {
        self.weight_shape().iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| {
            Error::InvalidDescriptor(format!("the weight tensor {:?} overflows usize", self.weight_shape()))
        })
    }

    /// Checks everything that can be known before a shape is seen.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidDescriptor(msg));
        if self.padding_mode != PaddingMode::Zeros {
            return Err(Error::Unsupported(format!(
                "a transposed convolution pads with zeros only (PyTorch's ConvTranspose2d too), not {}",
                self.padding_mode
            )));
        }
        if self.in_channels == 0 || self.out_channels == 0 {
            return bad("channel counts must be positive".into());
        }
        if self.kernel.contains(&0) || self.stride.contains(&0) || self.dilation.contains(&0) {
            return bad(format!(
                "kernel {:?}, stride {:?} and dilation {:?} must be positive",
                self.kernel, self.stride, self.dilation
            ));
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
        for i in 0..2 {
            let most = self.stride[i].max(self.dilation[i]);
            if self.output_padding[i] >= most {
                return bad(format!(
                    "output_padding {:?} must be smaller than max(stride, dilation) = {most} in each \
                     dimension (stride {:?}, dilation {:?})",
                    self.output_padding, self.stride, self.dilation
                ));
            }
        }
        if self.stride[0].saturating_mul(self.stride[1]) > MAX_PHASES {
            return Err(Error::Unsupported(format!(
                "stride {:?} splits into more than {MAX_PHASES} phases",
                self.stride
            )));
        }
        if self.weight_len()?.checked_mul(4).is_none() {
            return bad("the weight tensor's size overflows".into());
        }
        Ok(())
    }

    /// Output `[oh, ow]` for an `[h, w]` input: the one size formula, or [`Error::InvalidShape`]
    /// for an empty image or a crop that leaves nothing.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<[usize; 2]> {
        let p = self.padding;
        let one = |i: usize, size: usize, before: usize, after: usize| -> Option<i128> {
            let v = (size as i128 - 1) * self.stride[i] as i128 - before as i128 - after as i128
                + self.dilation[i] as i128 * (self.kernel[i] as i128 - 1)
                + self.output_padding[i] as i128
                + 1;
            (size > 0 && v > 0).then_some(v)
        };
        match (one(0, h, p.top, p.bottom), one(1, w, p.left, p.right)) {
            (Some(oh), Some(ow)) => {
                let fit =
                    |v: i128| usize::try_from(v).map_err(|_| Error::TooLarge(format!("output side {v}")));
                Ok([fit(oh)?, fit(ow)?])
            }
            _ => Err(Error::InvalidShape(format!(
                "a {h}×{w} input gives no output: kernel {:?}, stride {:?}, dilation {:?}, padding {:?}, \
                 output_padding {:?}",
                self.kernel, self.stride, self.dilation, self.padding, self.output_padding
            ))),
        }
    }

    /// The logical output shape `[n, out_channels, oh, ow]` for a logical input `[n, c, h, w]`.
    pub fn output_shape(&self, [n, c, h, w]: [usize; 4]) -> Result<[usize; 4]> {
        if c != self.in_channels {
            return Err(Error::InvalidShape(format!(
                "input has {c} channels but the transposed convolution has {}",
                self.in_channels
            )));
        }
        let [oh, ow] = self.output_hw(h, w)?;
        Ok([n, self.out_channels, oh, ow])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_is_pytorchs() {
        // torch.nn.ConvTranspose2d(…)(torch.zeros(1, 1, h, w)).shape[2:], by hand.
        let d = ConvTranspose2dDesc::new(1, 1, 4, 2, 1);
        assert_eq!(d.output_hw(4, 7).unwrap(), [8, 14]);
        let d = ConvTranspose2dDesc {
            output_padding: [1, 2],
            dilation: [2, 3],
            ..ConvTranspose2dDesc::new(1, 1, 3, 3, 2)
        };
        // (h − 1)·3 − 4 + d·2 + op + 1: 5 → 12 − 4 + 4 + 1 + 1 = 14; 2 → 3 − 4 + 6 + 2 + 1 = 8.
        assert_eq!(d.output_hw(5, 2).unwrap(), [14, 8]);
        assert!(d.validate().is_ok());
        assert!(ConvTranspose2dDesc { output_padding: [3, 0], ..d.clone() }.validate().is_err());
        assert!(ConvTranspose2dDesc::new(1, 1, 3, 1, 2).output_hw(1, 1).is_err());
        assert!(ConvTranspose2dDesc::new(1, 1, 3, 1, 0).output_hw(0, 4).is_err());
    }
}
