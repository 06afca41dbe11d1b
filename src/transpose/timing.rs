//! Timing a transposed convolution for `wino bench`: the median GPU span of a call (timestamps
//! written by an empty compute pass before its first dispatch and one after its last) and the
//! median wall time of a synchronous call next to the empty-submit floor, as [`Conv2d`]'s
//! `benchmark` reports them.
//!
//! [`Conv2d`]: crate::Conv2d

use super::ConvTranspose2d;
use crate::error::{Error, Result};
use crate::runtime::{median, read_back, Timing};
use std::time::Instant;

/// Records one call into a new encoder, with timestamps at this query and the next if given.
type Record<'a> = dyn Fn(Option<(&wgpu::QuerySet, u32)>) -> Result<wgpu::CommandEncoder> + 'a;

impl ConvTranspose2d {
    /// Times `iterations` calls on `shape` with buffers of its own (input filled with a fixed
    /// pattern): GPU time from timestamps (`None` without TIMESTAMP_QUERY), wall time of one
    /// synchronous call (submit + wait, no upload, no readback).
    pub fn benchmark(&self, shape: [usize; 4], iterations: usize) -> Result<Timing> {
        let iterations = iterations.clamp(1, (wgpu::QUERY_SET_MAX_QUERIES / 2) as usize);
        let ctx = &self.ctx;
        let (in_bytes, out_bytes) = self.tensor_bytes(shape)?;
        use wgpu::BufferUsages as U;
        let make = |label, size, usage| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        let (x, y, r) = ctx.scoped("allocating benchmark buffers", || {
            let x = make("input", in_bytes.max(4), U::STORAGE | U::COPY_DST);
            let y = make("output", out_bytes.max(4), U::STORAGE);
            let r = self.desc.residual.then(|| make("residual", out_bytes.max(4), U::STORAGE));
            (x, y, r)
        })?;
        let pattern: Vec<u8> = (0..in_bytes).map(|i| (i % 251) as u8 & 0x3f).collect();
        ctx.queue().write_buffer(&x, 0, &pattern);
        let record = |stamps: Option<(&wgpu::QuerySet, u32)>| -> Result<wgpu::CommandEncoder> {
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
            self.encode(&mut enc, shape, &x, &y, r.as_ref())?;
            mark(&mut enc, None, at.map(|i| i + 1));
            Ok(enc)
        };
        // Warm up: pipelines and per-shape state.
        ctx.queue().submit([record(None)?.finish()]);
        ctx.wait()?;
        let gpu_ms = if ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            Some(self.gpu_ms(&record, iterations)?)
        } else {
            None
        };
        let (mut wall, mut floor, mut host) = (Vec::new(), Vec::new(), Vec::new());
        ctx.scoped("benchmark", || -> Result<()> {
            for _ in 0..iterations {
                floor.push(ctx.empty_submit_ms(1)?);
                let start = Instant::now();
                ctx.queue().submit([record(None)?.finish()]);
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

    /// The median span between the timestamps `record` writes around each of `iterations`
    /// calls submitted back to back.
    fn gpu_ms(&self, record: &Record<'_>, iterations: usize) -> Result<f64> {
        let ctx = &self.ctx;
        let count = 2 * iterations as u32;
        let bytes = count as u64 * wgpu::QUERY_SIZE as u64;
        let (set, resolve, readback) = ctx.scoped("creating timestamp queries", || {
            let set = ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("transpose timestamps"),
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
                ctx.queue().submit([record(Some((&set, 2 * i)))?.finish()]);
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
}
