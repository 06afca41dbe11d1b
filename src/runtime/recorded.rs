//! Timing work that some operator records into an encoder (a transposed convolution's phases,
//! a gradient's passes): the median GPU span between timestamps written by an empty compute
//! pass before the work and one after it, and the median wall time of a synchronous call next
//! to the empty-submit floor, as [`crate::Conv2d::benchmark`] reports them.

use super::{median, read_back, Context, Timing};
use crate::error::{Error, Result};
use std::time::Instant;

/// Records one call into `encoder`.
pub(crate) type Record<'a> = dyn Fn(&mut wgpu::CommandEncoder) -> Result<()> + 'a;

/// Records one call into a new encoder, with timestamps at this query and the next if given.
type Stamped<'a> = dyn Fn(Option<(&wgpu::QuerySet, u32)>) -> Result<wgpu::CommandEncoder> + 'a;

/// Times `iterations` calls of `record` (after one warm-up call): GPU time from timestamps
/// (`None` without TIMESTAMP_QUERY) taken back to back first, then the wall time.
pub(crate) fn benchmark_recorded(ctx: &Context, record: &Record<'_>, iterations: usize) -> Result<Timing> {
    let iterations = iterations.clamp(1, (wgpu::QUERY_SET_MAX_QUERIES / 2) as usize);
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
    let gpu_ms = match ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        true => Some(gpu_ms(ctx, &encoded, iterations)?),
        false => None,
    };
    let (mut wall, mut floor, mut host) = (Vec::new(), Vec::new(), Vec::new());
    ctx.scoped("benchmark", || -> Result<()> {
        for _ in 0..iterations {
            floor.push(ctx.empty_submit_ms(1)?);
            let start = Instant::now();
            ctx.queue().submit([encoded(None)?.finish()]);
            host.push(start.elapsed().as_secs_f64() * 1e3);
            ctx.wait()?;
            wall.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    })??;
    Ok(Timing {
        gpu_ms,
        wall_ms: median(&mut wall),
        floor_ms: median(&mut floor),
        submit_ms: median(&mut host),
    })
}

/// The median span between the timestamps `encoded` writes around each of `iterations` calls
/// submitted back to back.
fn gpu_ms(ctx: &Context, encoded: &Stamped<'_>, iterations: usize) -> Result<f64> {
    let count = 2 * iterations as u32;
    let bytes = count as u64 * wgpu::QUERY_SIZE as u64;
    let (set, resolve, readback) = ctx.scoped("creating timestamp queries", || {
        let set = ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("recorded timestamps"),
            ty: wgpu::QueryType::Timestamp,
            count,
        });
        let buffer = |usage| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: bytes,
                usage,
                mapped_at_creation: false,
            })
        };
        let resolve = buffer(wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC);
        (set, resolve, buffer(wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST))
    })?;
    ctx.scoped("timing", || -> Result<()> {
        for i in 0..iterations as u32 {
            ctx.queue().submit([encoded(Some((&set, 2 * i)))?.finish()]);
        }
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        enc.resolve_query_set(&set, 0..count, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &readback, 0, bytes);
        ctx.queue().submit([enc.finish()]);
        Ok(())
    })??;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&read_back(ctx, &readback)?);
    let period = f64::from(ctx.queue().get_timestamp_period());
    let mut spans: Vec<f64> =
        ticks.chunks_exact(2).map(|p| p[1].saturating_sub(p[0]) as f64 * period / 1e6).collect();
    if spans.is_empty() {
        return Err(Error::Gpu("no timestamps came back".into()));
    }
    Ok(median(&mut spans))
}
