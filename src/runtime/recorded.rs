//! Timing work that some operator records into an encoder (a transposed convolution's phases,
//! a gradient's passes): GPU time from timestamps written by an empty compute pass before the
//! work and one after it, and the wall time, through the measurements
//! [`crate::Conv2d::benchmark`] takes (`timing::gpu_spans_ms`, `timing::wall_timing`).

use super::resources::Queries;
use super::timing::{gpu_spans_ms, wall_timing};
use super::{Context, Timing};
use crate::error::Result;
use std::cell::RefCell;

/// Records one call into `encoder`.
pub(crate) type Record<'a> = dyn Fn(&mut wgpu::CommandEncoder) -> Result<()> + 'a;

/// A STORAGE buffer of `bytes` (rounded up to 4, at least 4) for a benchmark's operands,
/// filled with a fixed pattern of small values where `filled` (the inputs).
pub(crate) fn benchmark_buffer(ctx: &Context, label: &str, bytes: u64, filled: bool) -> wgpu::Buffer {
    let buffer = super::resources::storage(ctx, label, bytes, wgpu::BufferUsages::COPY_DST);
    if filled {
        let pattern: Vec<u8> = (0..buffer.size()).map(|i| (i % 251) as u8 & 0x3f).collect();
        ctx.queue().write_buffer(&buffer, 0, &pattern);
    }
    buffer
}

/// Times `iterations` calls of `record` (after one warm-up call, and the clock warmed as
/// [`Conv2d::benchmark`](super::Conv2d::benchmark) warms it): GPU time from timestamps
/// (`None` without TIMESTAMP_QUERY) taken back to back first, then the wall time.
pub(crate) fn benchmark_recorded(ctx: &Context, record: &Record<'_>, iterations: usize) -> Result<Timing> {
    let iterations = iterations.max(1);
    // The work between an empty pass that writes the first timestamp and one that writes the
    // second, so that no dispatch of the operator needs to carry them.
    let encoded = |stamps: Option<(&wgpu::QuerySet, u32)>| -> Result<wgpu::CommandEncoder> {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        let mark = |enc: &mut wgpu::CommandEncoder, begin: Option<u32>, end: Option<u32>| {
            if let Some((query_set, _)) = stamps {
                let writes = wgpu::ComputePassTimestampWrites {
                    query_set,
                    beginning_of_pass_write_index: begin,
                    end_of_pass_write_index: end,
                };
                drop(enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timestamp"),
                    timestamp_writes: Some(writes),
                }));
            }
        };
        let at = stamps.map(|s| s.1);
        mark(&mut enc, at, None);
        record(&mut enc)?;
        mark(&mut enc, None, at.map(|i| i + 1));
        Ok(enc)
    };
    // Warm up: pipelines and per-shape state.
    ctx.scoped("benchmark warm-up", || -> Result<()> {
        ctx.queue().submit([encoded(None)?.finish()]);
        Ok(())
    })??;
    ctx.wait()?;
    super::timing::warm_clock(ctx, &|| encoded(None))?;
    let gpu_ms = if ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        // `gpu_spans_ms` records through an infallible callback: the first error of a recording
        // is kept and returned after it (the warm-up above recorded the same call already).
        let failed = RefCell::new(None);
        let call = |q: Queries<'_>, g: u32| {
            encoded(Some(q.at(g))).unwrap_or_else(|e| {
                failed.borrow_mut().get_or_insert(e);
                ctx.device().create_command_encoder(&Default::default())
            })
        };
        let ms = gpu_spans_ms(ctx, &call, 1, iterations)?[0];
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        Some(ms)
    } else {
        None
    };
    wall_timing(ctx, gpu_ms, iterations, &|| encoded(None))
}
