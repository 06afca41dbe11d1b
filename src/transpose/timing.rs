//! Timing a transposed convolution for `wino bench`, through the runtime's timing of recorded
//! work (timestamps around the whole call, as `Conv2d::benchmark` reports them).

use super::ConvTranspose2d;
use crate::error::Result;
use crate::runtime::{benchmark_buffer, benchmark_recorded, Timing};

impl ConvTranspose2d {
    /// Times `iterations` calls on `shape` with buffers of its own (input filled with a fixed
    /// pattern): GPU time from timestamps (`None` without TIMESTAMP_QUERY), wall time of one
    /// synchronous call (submit + wait, no upload, no readback).
    pub fn benchmark(&self, shape: [usize; 4], iterations: usize) -> Result<Timing> {
        let iterations = iterations.clamp(1, (wgpu::QUERY_SET_MAX_QUERIES / 2) as usize);
        let ctx = &self.ctx;
        let (in_bytes, out_bytes) = self.tensor_bytes(shape)?;
        let (x, y, r) = ctx.scoped("allocating benchmark buffers", || {
            let x = benchmark_buffer(ctx, "input", in_bytes, true);
            let y = benchmark_buffer(ctx, "output", out_bytes, false);
            let r = self.desc.residual.then(|| benchmark_buffer(ctx, "residual", out_bytes, true));
            (x, y, r)
        })?;
        benchmark_recorded(ctx, &|enc| self.encode(enc, shape, &x, &y, r.as_ref()), iterations)
    }
}
