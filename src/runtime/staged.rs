//! A plan staged in bands (the rule and its reasons are in `crate::staging`): the band
//! convolution, its staging buffers and bind groups (made once: they bind no caller buffer),
//! and the copies that move each band's rows between the caller's tensors and the stages.

use super::resources::{storage, Bound, ShapeResources, Stamps};
use super::Conv2d;
use crate::desc::DataFormat;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::staging;
use std::sync::Arc;

/// One band of output rows of every image.
struct Band {
    /// First output row and output rows.
    oy0: usize,
    rows: usize,
    /// Staged input rows copied `(first staged row, first image row, rows)` and zeroed
    /// `(first staged row, rows)`.
    copies: Vec<staging::CopyRun>,
    zeros: Vec<staging::ZeroRun>,
    /// The band convolution's resources for this band's height, and its bind groups on the stages.
    res: Arc<ShapeResources>,
    bound: Bound,
}

/// Everything a staged plan runs besides the caller's tensors.
pub(super) struct Staged {
    band: Conv2d,
    bands: Vec<Band>,
    /// Bytes of the staging buffers and of the band convolution's per-shape buffers.
    pub bytes: u64,
}

/// Row geometry of one tensor `[n, c, h, w]` for copies of whole rows: bytes of a row of one
/// channel (NCHW) or of all channels (NHWC), rows per channel plane, planes per image.
struct Rows {
    row: u64,
    height: usize,
    planes: usize,
}

impl Rows {
    fn new(format: DataFormat, [_, c, h, w]: [usize; 4], element: u64) -> Rows {
        match format {
            DataFormat::Nchw => Rows { row: w as u64 * element, height: h, planes: c },
            DataFormat::Nhwc => Rows { row: (w * c) as u64 * element, height: h, planes: 1 },
        }
    }

    /// Byte offset of row `y` of plane `p` of image `n`.
    fn at(&self, n: usize, p: usize, y: usize) -> u64 {
        ((n * self.planes + p) * self.height + y) as u64 * self.row
    }
}

impl Staged {
    /// The band convolution and its stages for `plan` (whose `staged_rows` is set).
    pub async fn new(conv: &Conv2d, plan: &Plan, rows: usize) -> Result<Staged> {
        let desc = conv.desc();
        let band = conv.band_conv(staging::band_desc(desc));
        let [_, c, h, w] = plan.input;
        let [_, k, oh, ow] = plan.output;
        let es = desc.dtype.size();
        let widest = staging::input_rows(desc, rows);
        let copy = wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
        let staging = conv.ctx.scoped_async("allocating staging buffers", || {
            let input = storage(&conv.ctx, "staged input", (c * widest * w) as u64 * es, copy);
            let output = storage(&conv.ctx, "staged output", (k * rows * ow) as u64 * es, copy);
            let residual = desc.residual.then(|| storage(&conv.ctx, "staged residual", output.size(), copy));
            (input, output, residual)
        });
        let (stage_in, stage_out, stage_res) = staging.await?;
        let mut bytes = stage_in.size() + stage_out.size() + stage_res.as_ref().map_or(0, wgpu::Buffer::size);
        let mut bands = Vec::new();
        for oy0 in (0..oh).step_by(rows.max(1)) {
            let rows = rows.min(oh - oy0);
            let (copies, zeros) = staging::runs(&staging::sources(desc, h, oy0, rows));
            // Boxed: a band's resources are built by the same call that is building these.
            let band_shape = [1, c, staging::input_rows(desc, rows), w];
            let building: std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<Arc<ShapeResources>>> + '_>,
            > = Box::pin(band.resources_async(band_shape));
            let res = building.await?;
            if res.plan.output[2] != rows || res.plan.staged_rows.is_some() {
                return Err(Error::Gpu(format!(
                    "a staged band of {rows} output rows planned {:?} (an internal error)",
                    res.plan.output
                )));
            }
            if !bands.iter().any(|b: &Band| Arc::ptr_eq(&b.res, &res)) {
                bytes += res.bytes();
            }
            let bound = conv.ctx.scoped("binding staging buffers", || {
                band.bind_groups(&res, &stage_in, &stage_out, stage_res.as_ref())
            })??;
            bands.push(Band { oy0, rows, copies, zeros, res, bound });
        }
        Ok(Staged { band, bands, bytes })
    }

    /// Records the whole call: for each image and band, stage the input (and residual) rows,
    /// run the band, copy its output rows into place. `Stamps::Call` brackets the first band's
    /// compute pass to the last's (the first staging and last output copies fall outside);
    /// per-pass stamps are refused before this is reached.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder, plan: &Plan, io: &Bound, stamps: Stamps<'_>) {
        let desc = self.band.desc();
        let (es, format) = (desc.dtype.size(), desc.data_format);
        let images = plan.input[0];
        let input = Rows::new(format, plan.input, es);
        let output = Rows::new(format, plan.output, es);
        let calls = images * self.bands.len();
        for n in 0..images {
            for (b, band) in self.bands.iter().enumerate() {
                let height = staging::input_rows(desc, band.rows);
                let staged_in = Rows::new(format, [1, plan.input[1], height, plan.input[3]], es);
                let staged_out = Rows::new(format, [1, plan.output[1], band.rows, plan.output[3]], es);
                let stage_in = band.bound.input();
                for p in 0..input.planes {
                    for &(r0, rows) in &band.zeros {
                        encoder.clear_buffer(stage_in, staged_in.at(0, p, r0), Some(rows as u64 * input.row));
                    }
                    for &(r0, y0, rows) in &band.copies {
                        let (src, dst) = (input.at(n, p, y0), staged_in.at(0, p, r0));
                        encoder.copy_buffer_to_buffer(
                            io.input(),
                            src,
                            stage_in,
                            dst,
                            rows as u64 * input.row,
                        );
                    }
                }
                let rows = band.rows as u64 * output.row;
                if let (Some(residual), Some(stage)) = (io.residual(), band.bound.residual()) {
                    for p in 0..output.planes {
                        let (src, dst) = (output.at(n, p, band.oy0), staged_out.at(0, p, 0));
                        encoder.copy_buffer_to_buffer(residual, src, stage, dst, rows);
                    }
                }
                let call = n * self.bands.len() + b;
                let stamps = match stamps {
                    Stamps::Call(q, i) if calls == 1 => Stamps::Call(q, i),
                    Stamps::Call(q, i) if call == 0 => Stamps::Begin(q, i),
                    Stamps::Call(q, i) if call == calls - 1 => Stamps::End(q, i + 1),
                    _ => Stamps::None,
                };
                self.band.record(encoder, &band.res, &band.bound, stamps);
                for p in 0..output.planes {
                    let (src, dst) = (staged_out.at(0, p, 0), output.at(n, p, band.oy0));
                    encoder.copy_buffer_to_buffer(band.bound.output(), src, io.output(), dst, rows);
                }
            }
        }
    }
}
