//! Images too large for one binding: the rule that splits them into staged bands.
//!
//! Every pass binds whole images of input and output (a band of one NCHW image is not one
//! contiguous range: each channel holds its own rows), so an image whose input or output
//! exceeds `max_storage_buffer_binding_size` cannot be bound at all. It runs instead as bands
//! of output rows, each a convolution of its own on buffers of binding size: the band's input
//! rows, its halo and its padding rows included, are copied into a staging buffer (one copy per
//! channel and run of rows; zero rows are cleared), the band convolution runs on it with no
//! top or bottom padding (the padding rows are in the staged data, whatever the padding mode),
//! and its output rows are copied back into place. Copies are transfer commands, which no
//! binding limit bounds, and they record into the caller's encoder like any pass.
//!
//! The cost is one extra read and write of the activations, paid only by images that could not
//! run otherwise (a 4K frame at 32 channels in f32 on a 128 MiB binding, say).

use crate::desc::{Conv2dDesc, DataFormat, Padding};
use crate::error::{Error, Result};
use wgpu::Limits;

/// The largest binding a band may use: the device's, less one offset alignment of slack, as
/// [`crate::algo::Budget`] counts it.
fn max_binding(limits: &Limits) -> u64 {
    let slack = limits.min_storage_buffer_offset_alignment as u64;
    limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).saturating_sub(slack)
}

/// Bytes of one row (all channels) of an image of `channels × width`.
fn row_bytes(channels: usize, width: usize, element: u64) -> u64 {
    (channels * width) as u64 * element
}

/// Whether one image of `input` (or of its `output`) is larger than a binding, so that the call
/// must run in staged bands. An empty batch runs nothing and is never staged.
pub(crate) fn needed(desc: &Conv2dDesc, input: [usize; 4], output: [usize; 4], limits: &Limits) -> bool {
    let [n, c, h, w] = input;
    let [_, k, oh, ow] = output;
    let es = desc.dtype.size();
    let image = (row_bytes(c, w, es) * h as u64).max(row_bytes(k, ow, es) * oh as u64);
    n > 0 && image > max_binding(limits)
}

/// Input rows (padded coordinates) that `rows` output rows read: their windows and the stride
/// between them.
pub(crate) fn input_rows(desc: &Conv2dDesc, rows: usize) -> usize {
    let reach = (desc.kernel[0] - 1) * desc.dilation[0] + 1;
    (rows.max(1) - 1) * desc.stride[0] + reach
}

/// Output rows per staged band: the most whose staged input and output each fit one binding.
/// Refuses what no band can hold (one output row with its halo over a binding) and f16 rows
/// of an odd byte count, which buffer copies (4-byte aligned) cannot move.
pub(crate) fn band_rows(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
) -> Result<usize> {
    let [_, c, _, w] = input;
    let [_, k, oh, ow] = output;
    let es = desc.dtype.size();
    // A copy moves one channel's row (NCHW) or all channels' (NHWC).
    let (in_row, out_row) = match desc.data_format {
        DataFormat::Nchw => (row_bytes(1, w, es), row_bytes(1, ow, es)),
        DataFormat::Nhwc => (row_bytes(c, w, es), row_bytes(k, ow, es)),
    };
    if in_row % 4 != 0 || out_row % 4 != 0 {
        return Err(Error::TooLarge(format!(
            "one image exceeds a binding, and its bands cannot be staged: buffer copies move 4-byte \
             words, but a row of its input or output is {in_row} or {out_row} bytes (f16 with an odd \
             width{}); use f32 or an even width",
            if desc.data_format == DataFormat::Nhwc { " × channels" } else { "" }
        )));
    }
    let most = max_binding(limits);
    let fits = |rows: usize| {
        row_bytes(c, w, es) * input_rows(desc, rows) as u64 <= most
            && row_bytes(k, ow, es) * rows as u64 <= most
    };
    if !fits(1) {
        return Err(Error::TooLarge(format!(
            "one output row with its {} input rows needs more than a {most}-byte binding",
            input_rows(desc, 1)
        )));
    }
    // `fits` is monotone in the row count: bisect for the largest.
    let (mut lo, mut hi) = (1, oh.max(1));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if fits(mid) {
            lo = mid
        } else {
            hi = mid - 1
        }
    }
    Ok(lo)
}

/// The convolution a band runs: the same, with no top or bottom padding, since the staged rows
/// hold the padding already.
pub(crate) fn band_desc(desc: &Conv2dDesc) -> Conv2dDesc {
    let Padding { left, right, .. } = desc.padding;
    Conv2dDesc { padding: Padding { top: 0, bottom: 0, left, right }, ..desc.clone() }
}

/// The image row each staged row of the band starting at output row `oy0` copies (`None`: a
/// zero row), for `rows` output rows of an image of height `h`.
pub(crate) fn sources(desc: &Conv2dDesc, h: usize, oy0: usize, rows: usize) -> Vec<Option<usize>> {
    let first = (oy0 * desc.stride[0]) as isize - desc.padding.top as isize;
    (0..input_rows(desc, rows) as isize)
        .map(|i| desc.padding_mode.source(first + i, h as isize).map(|y| y as usize))
        .collect()
}

/// Staged rows copied from the image: `(first staged row, first image row, rows)`.
pub(crate) type CopyRun = (usize, usize, usize);
/// Staged rows of zeros: `(first staged row, rows)`.
pub(crate) type ZeroRun = (usize, usize);

/// Consecutive runs `(first staged row, first image row, rows)` of `sources` whose image rows
/// ascend by one, and the zero runs `(first staged row, rows)`: the copies and clears that
/// stage a band.
pub(crate) fn runs(sources: &[Option<usize>]) -> (Vec<CopyRun>, Vec<ZeroRun>) {
    let (mut copies, mut zeros): (Vec<CopyRun>, Vec<ZeroRun>) = (Vec::new(), Vec::new());
    for (i, s) in sources.iter().enumerate() {
        match *s {
            Some(y) => match copies.last_mut() {
                Some((r0, y0, n)) if *r0 + *n == i && *y0 + *n == y => *n += 1,
                _ => copies.push((i, y, 1)),
            },
            None => match zeros.last_mut() {
                Some((r0, n)) if *r0 + *n == i => *n += 1,
                _ => zeros.push((i, 1)),
            },
        }
    }
    (copies, zeros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::PaddingMode;

    fn limits(binding: u64) -> Limits {
        Limits { max_storage_buffer_binding_size: binding, ..Limits::default() }
    }

    #[test]
    fn a_4k_frame_at_32_channels_is_staged_in_bands_that_fit() {
        let desc = Conv2dDesc::new(32, 32, 3, 1);
        let (input, output) = ([1, 32, 1080, 1920], [1, 32, 1080, 1920]);
        let l = limits(128 << 20);
        assert!(needed(&desc, input, output, &l));
        let rows = band_rows(&desc, input, output, &l).unwrap();
        let bytes = 32 * 1920 * 4 * input_rows(&desc, rows) as u64;
        assert!(
            bytes <= max_binding(&l) && 32 * 1920 * 4 * input_rows(&desc, rows + 1) as u64 > max_binding(&l)
        );
        assert!(!needed(&desc, [1, 32, 256, 256], [1, 32, 256, 256], &l));
        assert!(!needed(&desc, [0, 32, 1080, 1920], [0, 32, 1080, 1920], &l));
    }

    #[test]
    fn staged_rows_hold_the_padding_of_every_mode() {
        let mut desc = Conv2dDesc::new(1, 1, 3, 2);
        let at_top = |d: &Conv2dDesc| sources(d, 5, 0, 4);
        assert_eq!(at_top(&desc), [None, None, Some(0), Some(1), Some(2), Some(3)]);
        desc.padding_mode = PaddingMode::Reflect;
        assert_eq!(at_top(&desc), [Some(2), Some(1), Some(0), Some(1), Some(2), Some(3)]);
        desc.padding_mode = PaddingMode::Circular;
        assert_eq!(sources(&desc, 5, 4, 3), [Some(2), Some(3), Some(4), Some(0), Some(1)]);
        let (copies, zeros) = runs(&[None, Some(1), Some(0), Some(1), Some(2), None]);
        assert_eq!(copies, [(1, 1, 1), (2, 0, 3)]);
        assert_eq!(zeros, [(0, 1), (5, 1)]);
    }

    #[test]
    fn odd_f16_rows_and_rows_over_a_binding_are_refused() {
        let desc = Conv2dDesc { dtype: crate::desc::DType::F16, ..Conv2dDesc::new(1, 1, 3, 1) };
        let e = band_rows(&desc, [1, 1, 9, 9], [1, 1, 9, 9], &limits(64)).unwrap_err();
        assert!(e.to_string().contains("4-byte"), "{e}");
        let desc = Conv2dDesc::new(8, 8, 3, 1);
        assert!(band_rows(&desc, [1, 8, 100, 100], [1, 8, 100, 100], &limits(8 * 100 * 4 * 2)).is_err());
    }
}
