//! Batches whose output (or a phase's scratch) does not fit one binding: the batch runs in
//! chunks of whole images, each copied into staging buffers a chunk's size (transfer commands
//! have no binding limit), convolved there by the chunk shape's own state, and copied back
//! into place. Images are contiguous in NCHW and NHWC alike, so a chunk is one byte range.

use super::state::{Layout, ShapeState};
use super::ConvTranspose2d;
use crate::error::{Error, Result};
use std::sync::Arc;

/// How one call's batch runs: whole, or in chunks of `images`.
pub(super) enum Split {
    Whole(Layout),
    Chunks {
        images: usize,
        /// The layout of a full chunk.
        chunk: Layout,
        /// Bytes of one image of the input and of the output.
        image_bytes: (u64, u64),
    },
}

/// The chunked form of a shape: the states of a full chunk and of the last, shorter one, and
/// the staging buffers a chunk runs in.
pub(super) struct Chunks {
    pub(super) images: usize,
    pub(super) image_bytes: (u64, u64),
    pub(super) full: Arc<ShapeState>,
    pub(super) rest: Option<Arc<ShapeState>>,
    pub(super) input: wgpu::Buffer,
    pub(super) output: wgpu::Buffer,
    pub(super) residual: Option<wgpu::Buffer>,
}

impl ConvTranspose2d {
    /// Whether `input` runs whole or in chunks: whole where one pass's output and phase scratch
    /// fit a binding (or one phase writes the output itself: its convolution splits on its
    /// own), else in chunks of the most images that fit.
    pub(super) fn split(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<Split> {
        let [n, c, h, w] = input;
        let whole = self.layout(input, output_padding);
        let too_large = matches!(whole, Err(Error::TooLarge(_)));
        if !too_large || n <= 1 || self.direct {
            return whole.map(Split::Whole);
        }
        // One image must fit (its layout's error says why not); its sizes scale with the images.
        let one = self.layout([1, c, h, w], output_padding)?;
        let es = self.desc.dtype.size();
        let elements = |s: [usize; 4]| s[1..].iter().product::<usize>() as u64;
        let image_bytes = (elements(input) * es, elements(one.plan.output) * es);
        if !image_bytes.0.is_multiple_of(4) || !image_bytes.1.is_multiple_of(4) {
            return Err(Error::TooLarge(format!(
                "the batch's output needs more than one binding and its f16 images ({} and {} bytes) \
                 are not whole 4-byte words, so they cannot be copied in chunks",
                image_bytes.0, image_bytes.1
            )));
        }
        let limits = self.ctx.limits();
        let binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let per_image =
            one.scratch_bytes.iter().copied().chain([image_bytes.0, image_bytes.1]).max().unwrap_or(1);
        let images = ((binding / per_image.max(1)) as usize).clamp(1, n);
        let chunk = self.layout([images, c, h, w], output_padding)?;
        Ok(Split::Chunks { images, chunk, image_bytes })
    }

    /// The chunked state of `input`: the chunks' own states and the staging buffers.
    pub(super) async fn make_chunks(
        &self,
        input: [usize; 4],
        output_padding: [usize; 2],
        images: usize,
        image_bytes: (u64, u64),
    ) -> Result<Chunks> {
        let [n, c, h, w] = input;
        let full = Box::pin(self.state_async([images, c, h, w], output_padding)).await?;
        let rest = match n % images {
            0 => None,
            r => Some(Box::pin(self.state_async([r, c, h, w], output_padding)).await?),
        };
        use wgpu::BufferUsages as U;
        let make = |label, size, usage| super::buffer(self.ctx.device(), label, size, usage);
        let (in_bytes, out_bytes) = (images as u64 * image_bytes.0, images as u64 * image_bytes.1);
        let made = self.ctx.scoped_async("allocating chunk staging buffers", || {
            (
                make("chunk input", in_bytes, U::STORAGE | U::COPY_DST),
                make("chunk output", out_bytes, U::STORAGE | U::COPY_SRC),
                self.desc.residual.then(|| make("chunk residual", out_bytes, U::STORAGE | U::COPY_DST)),
            )
        });
        let (input, output, residual) = made.await?;
        Ok(Chunks { images, image_bytes, full, rest, input, output, residual })
    }

    /// Records a chunked call: each chunk's images copied in, convolved, copied out.
    pub(super) fn record_chunks(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        chunks: &Chunks,
        n: usize,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        use wgpu::BufferUsages as U;
        let needs = [(input, U::COPY_SRC, "input"), (output, U::COPY_DST, "output")]
            .into_iter()
            .chain(residual.map(|r| (r, U::COPY_SRC, "residual")));
        for (buffer, usage, what) in needs {
            if !buffer.usage().contains(usage) {
                return Err(Error::InvalidBuffer(format!(
                    "this batch runs in chunks of {} images (its output exceeds a binding), copied \
                     through staging buffers: the {what} buffer needs BufferUsages::{usage:?}",
                    chunks.images
                )));
            }
        }
        let (ib, ob) = chunks.image_bytes;
        for first in (0..n).step_by(chunks.images) {
            let count = chunks.images.min(n - first);
            let state = if count == chunks.images {
                &chunks.full
            } else {
                chunks.rest.as_ref().expect("a shorter last chunk has its state")
            };
            let (count, first) = (count as u64, first as u64);
            encoder.copy_buffer_to_buffer(input, first * ib, &chunks.input, 0, count * ib);
            if let (Some(r), Some(staged)) = (residual, &chunks.residual) {
                encoder.copy_buffer_to_buffer(r, first * ob, staged, 0, count * ob);
            }
            self.record(encoder, state, &chunks.input, &chunks.output, chunks.residual.as_ref())?;
            encoder.copy_buffer_to_buffer(&chunks.output, 0, output, first * ob, count * ob);
        }
        Ok(())
    }
}
