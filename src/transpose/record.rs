//! Recording a transposed convolution into an encoder: the buffer checks, each phase's
//! convolution into its scratch, then the interleave passes.

use super::state::ShapeState;
use super::ConvTranspose2d;
use crate::codegen::uniform::MAX_PARAMS;
use crate::error::{Error, Result};
use std::num::NonZeroU64;

impl ConvTranspose2d {
    /// [`ConvTranspose2d::encode`] with this call's output padding (at most the built one).
    pub(crate) fn encode_padded(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        shape: [usize; 4],
        output_padding: [usize; 2],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let state = self.state(shape, output_padding)?;
        self.record(encoder, &state, input, output, residual)
    }

    /// Checks the buffers and records one call of the shape `state` was built for.
    pub(super) fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        state: &ShapeState,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let shape = state.plan.input;
        if self.direct {
            let conv = self.phases[0].conv.as_ref().expect("a direct phase has taps");
            return conv.encode(encoder, shape, input, output, residual);
        }
        self.check_buffers(state, input, output, residual)?;
        if let Some(chunks) = &state.chunks {
            return self.record_chunks(encoder, chunks, shape[0], input, output, residual);
        }
        if state.passes.is_empty() {
            return Ok(());
        }
        let groups = self.ctx.scoped("binding buffers", || self.bind_groups(state, output, residual))??;
        // Every phase's convolution first (independent: each writes its own scratch), then the
        // interleave passes, which share the output.
        for pass in &state.passes {
            if let (Some(conv), Some(Some(scratch))) =
                (&self.phases[pass.phase].conv, state.scratch.get(pass.phase))
            {
                conv.encode(encoder, shape, input, scratch, None)?;
            }
        }
        let mut cp = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("transpose interleave"),
            timestamp_writes: None,
        });
        for (pass, group) in state.passes.iter().zip(&groups) {
            cp.set_pipeline(&pass.pipeline);
            cp.set_bind_group(0, group, &[]);
            cp.dispatch_workgroups(pass.grid[0], pass.grid[1], pass.grid[2]);
        }
        Ok(())
    }

    fn check_buffers(
        &self,
        state: &ShapeState,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        match (residual.is_some(), self.desc.residual) {
            (true, false) => {
                return Err(Error::InvalidShape("a residual was given but residual is false".into()))
            }
            (false, true) => {
                return Err(Error::InvalidShape("residual is set but no residual was given".into()))
            }
            _ => {}
        }
        let (in_bytes, out_bytes) = state.bytes;
        let mut named = vec![("input", input, in_bytes), ("output", output, out_bytes)];
        named.extend(residual.map(|r| ("residual", r, out_bytes)));
        for (what, buffer, bytes) in &named {
            if buffer.size() < *bytes {
                return Err(Error::InvalidBuffer(format!(
                    "{what} buffer has {} bytes but this shape needs {bytes} (see ConvTranspose2d::tensor_bytes)",
                    buffer.size()
                )));
            }
            if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
                return Err(Error::InvalidBuffer(format!("{what} buffer lacks BufferUsages::STORAGE")));
            }
        }
        if input == output || residual == Some(output) {
            return Err(Error::InvalidBuffer(
                "the output buffer is also the input or the residual: in-place is not supported; use two buffers"
                    .into(),
            ));
        }
        if state.passes.is_empty() && state.chunks.is_none() {
            return Ok(());
        }
        let conv = self.phases.iter().find_map(|p| p.conv.as_ref()).expect("one phase always has taps");
        for (what, buffer, _) in named {
            conv.check_caller_buffer(what, buffer)?;
        }
        Ok(())
    }

    fn bind_groups(
        &self,
        state: &ShapeState,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<Vec<wgpu::BindGroup>> {
        let uniforms = state.uniforms.as_ref().expect("passes have uniforms");
        let slot = NonZeroU64::new((MAX_PARAMS as u64 * 4).min(uniforms.size()));
        let whole = |b: &'_ wgpu::Buffer, bytes: u64| NonZeroU64::new(bytes.max(4).min(b.size()));
        let entry = |binding: u32, buffer, offset, size| wgpu::BindGroupEntry {
            binding,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset, size }),
        };
        let mut groups = Vec::with_capacity(state.passes.len());
        for pass in &state.passes {
            let mut entries = vec![entry(0, uniforms, pass.uniform_offset, slot)];
            if self.phases[pass.phase].conv.is_some() {
                let scratch =
                    state.scratch[pass.phase].as_ref().expect("a phase with taps and outputs has scratch");
                entries.push(entry(1, scratch, 0, whole(scratch, state.scratch_bytes[pass.phase])));
            }
            let next = entries.len() as u32;
            entries.push(entry(next, output, 0, whole(output, state.bytes.1)));
            if let Some(b) = &self.bias {
                entries.push(entry(next + 1, b, 0, None));
            }
            if let Some(r) = residual {
                let at = next + 1 + self.bias.is_some() as u32;
                entries.push(entry(at, r, 0, whole(r, state.bytes.1)));
            }
            groups.push(self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("transpose interleave"),
                layout: &pass.pipeline.get_bind_group_layout(0),
                entries: &entries,
            }));
        }
        Ok(groups)
    }
}
