//! The host-data call ([`Conv2d::run_async`], which the blocking `run` blocks on) and its
//! per-shape upload, output and readback buffers.

use super::futures::{now, read_back};
use super::{lock, storage, Context, Conv2d, Element, HostIo, ShapeResources, Stamps};
use crate::error::{Error, Result};
use std::sync::Arc;

impl Conv2d {
    /// Uploads `input` (logical shape `shape`, laid out per `desc.data_format`), runs, and
    /// returns the output, awaiting every error scope and the read-back's mapping (in the
    /// browser nothing blocks; on native wgpu the read-back waits for the GPU in
    /// `device.poll`). `T` must match `desc.dtype`. An empty batch gives an empty output, as in
    /// PyTorch. The first call on a shape compiles its kernels and makes its buffers.
    pub async fn run_async<T: Element>(
        &self,
        input: &[T],
        shape: [usize; 4],
        residual: Option<&[T]>,
    ) -> Result<Vec<T>> {
        // Lengths first: nothing is planned or allocated for data that does not match.
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(input.len()) {
            return Err(Error::InvalidShape(format!(
                "input has {} values but shape {shape:?} needs {}",
                input.len(),
                expected.map_or("more than usize::MAX".to_string(), |e| e.to_string())
            )));
        }
        check_dtype::<T>(self)?;
        let res = self.resources_async(shape).await?;
        let out_len = res.plan.output.iter().product::<usize>();
        self.desc.check_residual(residual.map(<[T]>::len), Some(out_len))?;
        if out_len == 0 {
            return Ok(Vec::new());
        }
        let io = self.take_host_io(&res).await?;
        let out_bytes = io.output.size();
        self.ctx
            .scoped_async("running the convolution", || {
                self.ctx.queue().write_buffer(&io.input, 0, &padded_bytes(input));
                if let (Some(r), Some(buf)) = (residual, &io.residual) {
                    self.ctx.queue().write_buffer(buf, 0, &padded_bytes(r));
                }
                let mut enc = self.ctx.device().create_command_encoder(&Default::default());
                self.record(&mut enc, &res, &io.bound, Stamps::None);
                enc.copy_buffer_to_buffer(&io.output, 0, &io.readback, 0, out_bytes);
                self.ctx.queue().submit([enc.finish()]);
            })
            .await?;
        let bytes = read_back(&self.ctx, &io.readback).await?;
        // Kept only after a clean call: a failed one may leave the readback mapped.
        self.keep_host_io(&res, io);
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&bytes[..out_len * std::mem::size_of::<T>()]))
    }

    /// The shape's resources with its host-call buffers made and cached, for the timings
    /// (native wgpu only: never blocks, and on WebGPU refuses a shape not yet run).
    pub(super) fn host_io<T: Element>(&self, shape: [usize; 4]) -> Result<Arc<ShapeResources>> {
        check_dtype::<T>(self)?;
        now("building a new shape's buffers", "Conv2d::run_async", async {
            let res = self.resources_async(shape).await?;
            let io = self.take_host_io(&res).await?;
            self.keep_host_io(&res, io);
            Ok(res)
        })
    }

    /// This shape's host-call buffers, taken out of the cache for one call, or made where the
    /// cache has none (the first call, or a concurrent one: no lock is held across an await,
    /// which would stall another thread, and on wasm panic).
    async fn take_host_io(&self, res: &ShapeResources) -> Result<HostIo> {
        let taken = lock(&res.host).take();
        if let Some(io) = taken {
            res.sub_bytes(io.bytes());
            return Ok(io);
        }
        let (in_bytes, out_bytes) = self.plan_bytes(&res.plan)?;
        let made = self.ctx.scoped_async("allocating host-call buffers", || {
            let copy = wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
            let input = storage(&self.ctx, "input", in_bytes, copy);
            let output = storage(&self.ctx, "output", out_bytes, copy);
            let residual = self.desc.residual.then(|| storage(&self.ctx, "residual", out_bytes, copy));
            let readback = self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("readback"),
                size: output.size(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (input, output, residual, readback)
        });
        let (input, output, residual, readback) = made.await?;
        let binding = self
            .ctx
            .scoped_async("binding buffers", || self.bind_groups(res, &input, &output, residual.as_ref()));
        let bound = binding.await??;
        Ok(HostIo { input, output, residual, readback, bound })
    }

    /// Puts a call's host buffers back into the cache (unless a concurrent call already did).
    fn keep_host_io(&self, res: &ShapeResources, io: HostIo) {
        {
            let mut slot = lock(&res.host);
            if slot.is_some() {
                return;
            }
            res.add_bytes(io.bytes());
            *slot = Some(io);
        }
        // The shape grew: the cache may be over its byte limit now.
        let evicted = lock(&self.shapes).trim();
        drop(evicted);
    }
}

fn check_dtype<T: Element>(conv: &Conv2d) -> Result<()> {
    if T::DTYPE != conv.desc.dtype {
        return Err(Error::InvalidDescriptor(format!(
            "host data is {} but the convolution's dtype is {}",
            T::DTYPE,
            conv.desc.dtype
        )));
    }
    Ok(())
}

/// Host data as bytes padded to the 4-byte multiple that buffer writes need.
pub(crate) fn padded_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let mut bytes = bytemuck::cast_slice::<T, u8>(data).to_vec();
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    bytes
}

/// [`read_back`] for the synchronous calls (the timings, the operators built on the blocking
/// API). On native wgpu it blocks until the map callback has run: the callback runs in
/// whichever thread's `device.poll` collects it, so with other threads polling the same device
/// it may run just after this thread's wait returns (seen in the parallel tests), and one poll of
/// the future would miss it.
pub(crate) fn read_back_now(ctx: &Context, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    #[cfg(feature = "blocking")]
    if !ctx.is_web() {
        return pollster::block_on(read_back(ctx, buffer));
    }
    now("reading a buffer back", "Conv2d::run_async", read_back(ctx, buffer))
}
