//! Timing a transposed convolution for `wino bench`, through the runtime's timing of recorded
//! work (timestamps around the whole call, as `Conv2d::benchmark` reports them).

use super::ConvTranspose2d;
use crate::error::Result;
use crate::runtime::Timing;

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
        crate::runtime::benchmark_recorded(
            ctx,
            &|enc| self.encode(enc, shape, &x, &y, r.as_ref()),
            iterations,
        )
    }
}
