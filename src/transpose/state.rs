//! The per-shape state of a transposed convolution: each phase's outputs and sub-plan for one
//! input shape and output padding, each phase's scratch, and the interleave passes
//! with their uniforms.

use super::chunks::{Chunks, Split};
use super::{phases, ConvTranspose2d, ConvTranspose2dDesc, TransposePhase, TransposePlan};
use crate::codegen::uniform::{fit, InterleaveParams, UncoveredParams, Uniform, MAX_PARAMS};
use crate::codegen::{interleave, Epilogue, PhaseSource};
use crate::desc::{DataFormat, Padding};
use crate::error::{Error, Result};
use std::sync::Arc;
use wgpu::util::DeviceExt;

/// The blocking call's buffers for one shape, made on its first call.
pub(super) struct HostBuffers {
    pub(super) input: wgpu::Buffer,
    pub(super) output: wgpu::Buffer,
    pub(super) residual: Option<wgpu::Buffer>,
    pub(super) readback: wgpu::Buffer,
}

/// One interleave dispatch of a shape.
pub(super) struct Pass {
    pub(super) phase: usize,
    pub(super) pipeline: Arc<wgpu::ComputePipeline>,
    pub(super) grid: [u32; 3],
    pub(super) uniform_offset: u64,
}

/// What one input shape (and output padding) needs besides the caller's tensors.
pub(super) struct ShapeState {
    pub(super) plan: TransposePlan,
    /// Bytes of the input and of the output (and residual) tensors, rounded up to 4.
    pub(super) bytes: (u64, u64),
    /// Each phase's dense output (`None` for phases without taps or outputs): a buffer per
    /// phase, so the phases' convolutions share no written buffer and need no barrier between
    /// them, and the GPU may overlap them (their GEMMs are small: 32 workgroups per phase on
    /// DCGAN's 512→256 layer at batch 32). On the H200 the DCGAN generator at batch 32 went
    /// from 0.818 to 0.720 ms against one shared scratch, U-Net's up-convolutions at batch 4
    /// from 2.562 to 2.452 (BENCHMARKS.md), for scratch the size of the output in place of the
    /// largest phase's.
    pub(super) scratch: Vec<Option<wgpu::Buffer>>,
    /// Bytes of the scratch each phase binds.
    pub(super) scratch_bytes: Vec<u64>,
    pub(super) uniforms: Option<wgpu::Buffer>,
    pub(super) passes: Vec<Pass>,
    /// The blocking call's buffers, made on its first call.
    pub(super) host: std::sync::Mutex<Option<HostBuffers>>,
    /// Where the batch runs in chunks: their states and staging buffers (this state then has
    /// no passes of its own).
    pub(super) chunks: Option<Chunks>,
}

/// What one shape (and output padding) runs, worked out without the GPU: the plan, the bytes of
/// the input and of the output, and of the scratch each phase binds.
pub(super) struct Layout {
    pub(super) plan: TransposePlan,
    pub(super) bytes: (u64, u64),
    pub(super) scratch_bytes: Vec<u64>,
}

impl ConvTranspose2d {
    /// The [`Layout`] of one shape and output padding, checked against the adapter's limits.
    pub(super) fn layout(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<Layout> {
        let d = &self.desc;
        if output_padding[0] > self.most_output_padding[0] || output_padding[1] > self.most_output_padding[1]
        {
            return Err(Error::InvalidShape(format!(
                "output padding {output_padding:?} exceeds the {:?} the phases were built for",
                self.most_output_padding
            )));
        }
        let call = ConvTranspose2dDesc { output_padding, ..d.clone() };
        let output = call.output_shape(input)?;
        let [n, _, h, w] = input;
        let es = d.dtype.size();
        let bytes = |shape: [usize; 4]| {
            shape
                .iter()
                .try_fold(es, |acc, &v| acc.checked_mul(v as u64))
                .and_then(|b| b.checked_next_multiple_of(4))
                .ok_or_else(|| Error::TooLarge(format!("a tensor of shape {shape:?} overflows u64 bytes")))
        };
        let io = (bytes(input)?, bytes(output)?);
        // The outputs of each phase for this call's output padding (shorter phases than built
        // for, where it is smaller; the built ones cover them).
        let p = d.padding;
        let rows =
            phases::axis(d.kernel[0], d.stride[0], d.dilation[0], [p.top, p.bottom], output_padding[0])?;
        let cols =
            phases::axis(d.kernel[1], d.stride[1], d.dilation[1], [p.left, p.right], output_padding[1])?;
        let limits = self.ctx.limits();
        let binding = limits.max_storage_buffer_binding_size;
        let mut plan =
            TransposePlan { input, output, direct: self.direct, phases: Vec::new(), batch_chunk: n };
        let mut scratch_bytes = Vec::with_capacity(self.phases.len());
        for (i, ph) in self.phases.iter().enumerate() {
            let outputs = [rows[i / cols.len()].outputs(h), cols[i % cols.len()].outputs(w)];
            let runs = n > 0 && outputs[0] * outputs[1] > 0;
            let mut sb = 0;
            let sub_plan = match &ph.conv {
                Some(conv) if runs => {
                    let sub = conv.plan(input)?;
                    let [_, _, sh, sw] = sub.output;
                    if sh < ph.rows.skip + outputs[0] || sw < ph.cols.skip + outputs[1] {
                        return Err(Error::InvalidShape(format!(
                            "phase ({}, {}) covers {sh}×{sw} rows but needs {}×{} (a bug in the split)",
                            ph.rows.residue,
                            ph.cols.residue,
                            ph.rows.skip + outputs[0],
                            ph.cols.skip + outputs[1]
                        )));
                    }
                    sb = if self.direct { 0 } else { bytes(sub.output)? };
                    Some(sub)
                }
                _ => None,
            };
            scratch_bytes.push(sb);
            let sub_kernel = [ph.rows.taps.len(), ph.cols.taps.len()];
            plan.phases.push(TransposePhase {
                residue: [ph.rows.residue, ph.cols.residue],
                outputs,
                sub_kernel: if ph.conv.is_some() { sub_kernel } else { [0, 0] },
                dilation: [ph.rows.dilation, ph.cols.dilation],
                padding: Padding {
                    top: ph.rows.pad[0],
                    bottom: ph.rows.pad[1],
                    left: ph.cols.pad[0],
                    right: ph.cols.pad[1],
                },
                plan: sub_plan,
            });
        }
        let most_scratch = scratch_bytes.iter().copied().max().unwrap_or(0);
        for (what, b) in [("output", io.1), ("phase scratch", most_scratch)] {
            if !self.direct && (b > binding || b > limits.max_buffer_size) {
                return Err(Error::TooLarge(format!(
                    "the {what} needs {b} bytes in one binding but the adapter allows {binding} \
                     (max_storage_buffer_binding_size)"
                )));
            }
        }
        Ok(Layout { plan, bytes: io, scratch_bytes })
    }

    /// The [`ShapeState`] of one shape and output padding: its layout, the interleave passes'
    /// pipelines and uniforms and the scratch, awaiting their compilation and error scopes.
    pub(super) async fn make_state(
        &self,
        input: [usize; 4],
        output_padding: [usize; 2],
    ) -> Result<ShapeState> {
        let Layout { plan, bytes: io, scratch_bytes } = match self.split(input, output_padding)? {
            Split::Whole(layout) => layout,
            Split::Chunks { images, chunk, image_bytes } => {
                let n = input[0] as u64;
                let plan = chunk.plan.whole_batch(input, images);
                let chunks = self.make_chunks(input, output_padding, images, image_bytes).await?;
                return Ok(ShapeState {
                    plan,
                    bytes: (n * image_bytes.0, n * image_bytes.1),
                    scratch: Vec::new(),
                    scratch_bytes: Vec::new(),
                    uniforms: None,
                    passes: Vec::new(),
                    host: Default::default(),
                    chunks: Some(chunks),
                });
            }
        };
        let d = &self.desc;
        let (output, [n, c, _, _]) = (plan.output, input);
        let limits = self.ctx.limits();
        if self.direct || n == 0 || c == 0 {
            return Ok(ShapeState {
                plan,
                bytes: io,
                scratch: Vec::new(),
                scratch_bytes,
                uniforms: None,
                passes: Vec::new(),
                host: Default::default(),
                chunks: None,
            });
        }
        // The interleave passes and their uniforms.
        let storage = self.storage();
        let ep = Epilogue { bias: d.has_bias, residual: d.residual, activation: d.activation };
        let channels_fastest = d.data_format == DataFormat::Nhwc;
        let slot =
            (MAX_PARAMS as u64 * 4).next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
        let ys = d.data_format.strides(output);
        let stride = |i: usize| fit::<u32>("output stride", ys[i]);
        let [ys_n, ys_c, ys_h, ys_w] = [stride(0)?, stride(1)?, stride(2)?, stride(3)?];
        let k = output[1];
        let mut passes = Vec::new();
        let mut words: Vec<u8> = Vec::new();
        for (i, (ph, pp)) in self.phases.iter().zip(&plan.phases).enumerate() {
            let [qh, qw] = pp.outputs;
            if qh * qw == 0 {
                continue;
            }
            let elements = [n, k, qh, qw].iter().try_fold(1usize, |a, &v| a.checked_mul(v));
            let elements = fit::<u32>("phase outputs", elements.unwrap_or(usize::MAX))?;
            let common = |v: usize, what: &str| fit::<u32>(what, v);
            let (q_h, q_w) = (common(qh, "phase rows")?, common(qw, "phase columns")?);
            let (phase_h, phase_w) =
                (common(ph.rows.residue, "residue")?, common(ph.cols.residue, "residue")?);
            let (stride_h, stride_w) = (common(d.stride[0], "stride")?, common(d.stride[1], "stride")?);
            let out_channels = common(k, "output channels")?;
            let (kernel, params) = match &pp.plan {
                Some(sub) => {
                    let ss = d.data_format.strides(sub.output);
                    let p = InterleaveParams {
                        elements,
                        out_channels,
                        q_h,
                        q_w,
                        phase_h,
                        phase_w,
                        stride_h,
                        stride_w,
                        s_row0: common(ph.rows.skip, "phase skip")?,
                        s_col0: common(ph.cols.skip, "phase skip")?,
                        ss_n: common(ss[0], "scratch stride")?,
                        ss_c: common(ss[1], "scratch stride")?,
                        ss_h: common(ss[2], "scratch stride")?,
                        ss_w: common(ss[3], "scratch stride")?,
                        r_offset: 0,
                        ys_n,
                        ys_c,
                        ys_h,
                        ys_w,
                    };
                    (interleave(storage, ep, PhaseSource::Scratch, channels_fastest), p.words())
                }
                None => {
                    let p = UncoveredParams {
                        elements,
                        out_channels,
                        q_h,
                        q_w,
                        phase_h,
                        phase_w,
                        stride_h,
                        stride_w,
                        r_offset: 0,
                        ys_n,
                        ys_c,
                        ys_h,
                        ys_w,
                    };
                    (interleave(storage, ep, PhaseSource::Uncovered, channels_fastest), p.words())
                }
            };
            let uniform_offset = words.len() as u64;
            let mut bytes = bytemuck::cast_slice::<u32, u8>(&params).to_vec();
            bytes.resize(slot as usize, 0);
            words.extend(bytes);
            passes.push(Pass {
                phase: i,
                pipeline: self.ctx.pipeline_async(&kernel).await?,
                grid: crate::algo::grid(elements as u64, &limits)?,
                uniform_offset,
            });
        }
        let allocated = self.ctx.scoped_async("allocating transpose buffers", || {
            let uniforms = (!words.is_empty()).then(|| {
                self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("interleave params"),
                    contents: &words,
                    usage: wgpu::BufferUsages::UNIFORM,
                })
            });
            let scratch = self
                .phases
                .iter()
                .zip(&scratch_bytes)
                .map(|(phase, &bytes)| {
                    (phase.conv.is_some() && bytes > 0).then(|| {
                        self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
                            label: Some("phase scratch"),
                            size: bytes,
                            usage: wgpu::BufferUsages::STORAGE,
                            mapped_at_creation: false,
                        })
                    })
                })
                .collect();
            (uniforms, scratch)
        });
        let (uniforms, scratch) = allocated.await?;
        Ok(ShapeState {
            plan,
            bytes: io,
            scratch,
            scratch_bytes,
            uniforms,
            passes,
            host: Default::default(),
            chunks: None,
        })
    }
}
