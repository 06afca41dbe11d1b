//! Timing a convolution: GPU timestamps around the call or each dispatch, and the wall time
//! of synchronous calls next to the empty-submit floor.

use super::host::read_back_now;
use super::resources::{Queries, ShapeResources, Stamps};
use super::{lock, median, Conv2d};
use crate::desc::DType;
use crate::error::{Error, Result};
use std::sync::Arc;
use web_time::Instant;

impl Conv2d {
    /// Times repeated calls on `shape` with the blocking path's buffers (filled with a fixed
    /// pattern): the median GPU time from timestamp queries (None without TIMESTAMP_QUERY) and
    /// the median wall time of one synchronous call (submit + wait, no upload, no readback).
    pub fn benchmark(&self, shape: [usize; 4], iterations: usize) -> Result<Timing> {
        let iterations = iterations.max(1);
        let (_res, call) = self.bench_setup(shape)?;
        // GPU time first, calls back to back: the wall-time loop below leaves the GPU mostly
        // idle between calls, and a Hopper lowers its clock within a second of that (1980 to
        // 630 MHz measured on the H200 in a 50-call loop of a 0.05 ms layer), so timestamps taken
        // after it measured the lowered clock.
        let gpu_ms = if self.ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            let call = |q: Queries<'_>, g: u32| call(Stamps::Call(q, g));
            Some(gpu_spans_ms(&self.ctx, &call, 1, iterations)?[0])
        } else {
            None
        };
        wall_timing(&self.ctx, gpu_ms, iterations, &|| Ok(call(Stamps::None)))
    }

    /// Median GPU time of each dispatch of a call on `shape`, each recorded in its own
    /// timestamped compute pass, as (kernel name, ms) in dispatch order. Needs TIMESTAMP_QUERY.
    /// An empty batch has no dispatches and gives an empty list (as [`Conv2d::benchmark`] times
    /// its empty call). Any number of dispatches is timed, over as many query sets as that takes;
    /// past 2048 dispatches (4096 queries) each call is timed once, not `iterations` times.
    pub fn benchmark_kernels(&self, shape: [usize; 4], iterations: usize) -> Result<Vec<(String, f64)>> {
        if !self.ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            return Err(Error::Unsupported(format!(
                "per-kernel timing needs TIMESTAMP_QUERY, which adapter '{}' lacks",
                self.ctx.adapter_info().name
            )));
        }
        let (res, call) = self.bench_setup(shape)?;
        if res.is_staged() {
            return Err(Error::Unsupported(format!(
                "per-kernel timing of {shape:?}, whose images exceed a binding and run in staged \
                 bands, is not supported: time the whole call (Conv2d::benchmark)"
            )));
        }
        let passes = res.passes.len();
        if passes == 0 {
            return Ok(Vec::new());
        }
        let call = |q: Queries<'_>, g: u32| call(Stamps::EachPass(q, g));
        let ms = gpu_spans_ms(&self.ctx, &call, passes, iterations.max(1))?;
        Ok(res.passes.iter().map(|p| p.kernel.clone()).zip(ms).collect())
    }

    /// The blocking path's buffers for `shape`, filled with a fixed pattern and warmed up, and a
    /// function that records one call into a new encoder.
    #[allow(clippy::type_complexity)]
    fn bench_setup(
        &self,
        shape: [usize; 4],
    ) -> Result<(Arc<ShapeResources>, impl Fn(Stamps<'_>) -> wgpu::CommandEncoder + '_)> {
        let res = match self.desc.dtype {
            DType::F32 => self.host_io::<f32>(shape)?,
            DType::F16 => self.host_io::<half::f16>(shape)?,
        };
        let (input, bound) = {
            let guard = lock(&res.host);
            let io = guard.as_ref().expect("host buffers were just made");
            (io.input.clone(), io.bound.clone())
        };
        // Values in [-0.5, 0.5), written in the convolution's element type.
        let values = (0..input.size() as usize / self.desc.dtype.size() as usize)
            .map(|i| ((i * 7919 % 1000) as f32) / 1000.0 - 0.5);
        let bytes: Vec<u8> = match self.desc.dtype {
            DType::F32 => values.flat_map(f32::to_le_bytes).collect(),
            DType::F16 => values.flat_map(|v| half::f16::from_f32(v).to_le_bytes()).collect(),
        };
        self.ctx.queue().write_buffer(&input, 0, &bytes);
        let held = res.clone();
        let call = move |stamps: Stamps<'_>| {
            let mut enc = self.ctx.device().create_command_encoder(&Default::default());
            self.record(&mut enc, &held, &bound, stamps);
            enc
        };
        // Warm up: first submissions pay for driver-side pipeline finalisation.
        for _ in 0..3 {
            self.ctx
                .scoped("benchmark warm-up", || self.ctx.queue().submit([call(Stamps::None).finish()]))?;
            self.ctx.wait()?;
        }
        // Then keep the GPU busy with this call before anything is timed: an idle Hopper sits
        // at 345 MHz, also while a process compiles pipelines (as `tune` does before timing
        // each candidate), and climbs back only under sustained load. Without this, `tune` on
        // the H200 timed its candidates at 345–600 MHz and cached a register block at 0.21 ms
        // where the tensor block it passed over takes 0.11 (BENCHMARKS.md, third session).
        warm_clock(&self.ctx, &|| Ok(call(Stamps::None)))?;
        Ok((res, call))
    }
}

/// Busy time before a benchmark's timings: long enough for the clock to climb from idle.
const WARM_S: f64 = 0.25;

/// Keeps a GPU adapter busy with `call` for [`WARM_S`] before anything is timed (CPU adapters
/// have no idle clock to raise): back-to-back calls, two submissions of 8 in flight, so the GPU
/// never idles (a loop that waits for each call leaves it idle between calls, and its clock
/// falls). Every benchmark of a call, the convolution's and the recorded operators', runs it.
pub(super) fn warm_clock(
    ctx: &super::Context,
    call: &dyn Fn() -> Result<wgpu::CommandEncoder>,
) -> Result<()> {
    if ctx.adapter_info().device_type == wgpu::DeviceType::Cpu {
        return Ok(());
    }
    ctx.scoped("benchmark warm-up", || -> Result<()> {
        let start = Instant::now();
        let mut previous = None;
        while start.elapsed().as_secs_f64() < WARM_S {
            let calls = (0..8).map(|_| call().map(|e| e.finish())).collect::<Result<Vec<_>>>()?;
            let index = ctx.queue().submit(calls);
            if let Some(index) = previous.replace(index) {
                let wait = wgpu::PollType::Wait { submission_index: Some(index), timeout: None };
                ctx.device().poll(wait).map_err(|e| Error::Gpu(format!("warming the GPU: {e}")))?;
            }
        }
        Ok(())
    })??;
    ctx.wait()
}

/// A [`Timing`] of `gpu_ms` (already measured) and the median wall time of `iterations`
/// synchronous calls, each one encoder from `call`, submitted and waited for. Calls alternate
/// with empty submits, so drift in the host's clocks and scheduling affects both alike and
/// `wall_ms / floor_ms` compares like with like. One error scope around the whole loop (not per
/// call, which would be timed): a validation error of any submit is this call's `Error::Gpu`,
/// never only logged.
pub(super) fn wall_timing(
    ctx: &super::Context,
    gpu_ms: Option<f64>,
    iterations: usize,
    call: &dyn Fn() -> Result<wgpu::CommandEncoder>,
) -> Result<Timing> {
    let (mut wall, mut floor, mut host) = (Vec::new(), Vec::new(), Vec::new());
    ctx.scoped("benchmark", || -> Result<()> {
        for _ in 0..iterations.max(1) {
            floor.push(ctx.empty_submit_ms(1)?);
            let start = Instant::now();
            ctx.queue().submit([call()?.finish()]);
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

/// Median durations over `iterations` calls of the `spans` timestamp pairs each call writes,
/// for a `call` that writes them into one query set from the index it is given (needs
/// `2 · spans` ≤ [`wgpu::QUERY_SET_MAX_QUERIES`]).
pub(super) fn gpu_ms(
    ctx: &super::Context,
    call: &dyn Fn(&wgpu::QuerySet, u32) -> wgpu::CommandEncoder,
    spans: usize,
    iterations: usize,
) -> Result<Vec<f64>> {
    if 2 * spans as u64 > wgpu::QUERY_SET_MAX_QUERIES as u64 {
        return Err(Error::TooLarge(format!(
            "{spans} timestamp pairs do not fit one query set of {} queries",
            wgpu::QUERY_SET_MAX_QUERIES
        )));
    }
    // Each call's queries lie in one set (`gpu_spans_ms` packs calls into the first set).
    gpu_spans_ms(
        ctx,
        &|q, g| {
            let (set, index) = q.at(g);
            call(set, index)
        },
        spans,
        iterations,
    )
}

/// Median durations over `iterations` calls of the `spans` timestamp pairs each call writes:
/// `call(queries, g)` writes pair `s` at queries `g + 2s` and `g + 2s + 1` (see [`Queries`]).
/// The queries of all calls together are kept to one query set of
/// [`wgpu::QUERY_SET_MAX_QUERIES`] (fewer iterations where more would not fit) unless one call
/// alone needs more, which is then timed once over as many sets as it takes. No spans, no
/// durations.
pub(super) fn gpu_spans_ms(
    ctx: &super::Context,
    call: &dyn Fn(Queries<'_>, u32) -> wgpu::CommandEncoder,
    spans: usize,
    iterations: usize,
) -> Result<Vec<f64>> {
    if spans == 0 {
        return Ok(Vec::new());
    }
    let max = wgpu::QUERY_SET_MAX_QUERIES;
    let too_many = || Error::TooLarge(format!("{spans} timestamp pairs per call exceed u32 queries"));
    let per_call = u32::try_from(spans).ok().and_then(|s| s.checked_mul(2)).ok_or_else(too_many)?;
    let iterations = iterations.min((max / per_call) as usize).max(1) as u32;
    let count = per_call.checked_mul(iterations).ok_or_else(too_many)?;
    let (sets, resolve, readback) = ctx.scoped("creating timestamp queries", || {
        let sets: Vec<_> = (0..count.div_ceil(max))
            .map(|s| {
                ctx.device().create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: (count - s * max).min(max),
                })
            })
            .collect();
        let bytes = count as u64 * wgpu::QUERY_SIZE as u64;
        let resolve = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp resolve"),
            size: bytes,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let readback = ctx.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        (sets, resolve, readback)
    })?;
    ctx.scoped("timing", || {
        for i in 0..iterations {
            ctx.queue().submit([call(Queries(&sets), i * per_call).finish()]);
        }
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        // Set `s` lands at query `s · max` of the buffer: offsets of 32 KiB, aligned for resolves.
        for (s, set) in (0u32..).zip(&sets) {
            let offset = (s * max) as u64 * wgpu::QUERY_SIZE as u64;
            enc.resolve_query_set(set, 0..(count - s * max).min(max), &resolve, offset);
        }
        enc.copy_buffer_to_buffer(&resolve, 0, &readback, 0, None);
        ctx.queue().submit([enc.finish()]);
    })?;
    let bytes = read_back_now(ctx, &readback)?;
    let ticks: Vec<u64> = bytemuck::pod_collect_to_vec(&bytes);
    let period = ctx.queue().get_timestamp_period() as f64;
    let span_ms = |call: usize, span: usize| {
        let t = &ticks[call * per_call as usize + 2 * span..];
        t[1].saturating_sub(t[0]) as f64 * period / 1e6
    };
    let iterations = iterations as usize;
    Ok((0..spans).map(|s| median(&mut (0..iterations).map(|c| span_ms(c, s)).collect::<Vec<_>>())).collect())
}

/// Result of [`Conv2d::benchmark`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Median GPU time per call from timestamps; `None` without TIMESTAMP_QUERY.
    pub gpu_ms: Option<f64>,
    /// Median wall time of one synchronous call (submit + wait).
    pub wall_ms: f64,
    /// Median wall time of an empty submit + wait, measured alternately with the calls.
    pub floor_ms: f64,
    /// Median host time to record and submit one call: the CPU share of `wall_ms`.
    pub submit_ms: f64,
}
