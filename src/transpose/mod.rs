//! 2-D transposed convolution (PyTorch's `ConvTranspose2d`) as stride-1 convolutions.
//!
//! A stride-s transposed convolution is split into `sh·sw` phases by output position modulo
//! the stride (`phases`): each phase is an ordinary stride-1 [`Conv2d`] of the whole input with
//! a flipped, sub-sampled sub-kernel, built once in [`ConvTranspose2d::new`], so each goes
//! through the dispatch ladder (Winograd where its sub-kernel is 3×3 or 5×5 with dilation 1,
//! implicit GEMM otherwise). No multiply by an inserted zero and no scatter (with its atomics
//! or races) is ever done: every output element is one phase's sum.
//!
//! Why the phases write a scratch tensor that a generated interleave pass then places: it is
//! the simplest form that reuses `Conv2d` unchanged (a convolution writes a dense output; the
//! strided placement, and the epilogue applied exactly once per element, live in one small
//! kernel), at the price of one extra read and write of the output. A stride-1 transposed
//! convolution whose single phase produces exactly the output (the input gradient of a
//! stride-1 convolution, say) skips both: its convolution carries the epilogue and writes the
//! output itself. Phases no kernel tap reaches (dilation sharing a factor with the stride, or a
//! kernel shorter than the stride) get the bias alone from the same pass, without a convolution.

mod desc;
mod phases;
mod plan;
mod timing;

pub use desc::{ConvTranspose2dDesc, MAX_PHASES};
pub use plan::{TransposePhase, TransposePlan};

use crate::codegen::uniform::{fit, InterleaveParams, UncoveredParams, Uniform, MAX_PARAMS};
use crate::codegen::{interleave, Epilogue, PhaseSource, Storage};
use crate::desc::{Conv2dDesc, DataFormat, Padding, PaddingMode, WeightFormat};
use crate::error::{Error, Result};
use crate::runtime::{padded_bytes, read_back, Context, Conv2d, Element};
use phases::AxisPhase;
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// One phase: its row and column residues and, where a tap reaches it, its convolution.
struct Phase {
    rows: AxisPhase,
    cols: AxisPhase,
    conv: Option<Conv2d>,
}

/// One interleave dispatch of a shape.
struct Pass {
    phase: usize,
    pipeline: Arc<wgpu::ComputePipeline>,
    grid: [u32; 3],
    uniform_offset: u64,
}

/// What one input shape (and output padding) needs besides the caller's tensors.
struct ShapeState {
    plan: TransposePlan,
    /// Bytes of the input and of the output (and residual) tensors, rounded up to 4.
    bytes: (u64, u64),
    /// The phases' dense outputs, one phase at a time (largest phase's size).
    scratch: Option<wgpu::Buffer>,
    /// Bytes of the scratch each phase binds.
    scratch_bytes: Vec<u64>,
    uniforms: Option<wgpu::Buffer>,
    passes: Vec<Pass>,
}

/// A call's input shape and output padding.
type ShapeKey = ([usize; 4], [usize; 2]);

/// Shapes whose state a transposed convolution keeps; past it the cache starts over.
const CACHED_SHAPES: usize = 16;

/// A transposed convolution with its phases' weights uploaded. `Send + Sync`.
pub struct ConvTranspose2d {
    ctx: Context,
    desc: ConvTranspose2dDesc,
    /// The output padding the phases were built for (the calls may use less: see `InputGrad`).
    most_output_padding: [usize; 2],
    phases: Vec<Phase>,
    /// Whether the one phase's convolution writes the output itself, epilogue included.
    direct: bool,
    /// The bias for the interleave pass (`None` when direct: the convolution has it).
    bias: Option<wgpu::Buffer>,
    shapes: Mutex<HashMap<ShapeKey, Arc<ShapeState>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ConvTranspose2d {
    /// Checks the descriptor, splits the kernel into its phases' sub-kernels and uploads them
    /// (`weights` in PyTorch's `(in_channels, out_channels / groups, kh, kw)` layout, f32) and
    /// the bias (`out_channels` values).
    pub fn new(
        ctx: &Context,
        desc: ConvTranspose2dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<ConvTranspose2d> {
        let most = desc.output_padding;
        ConvTranspose2d::build(ctx, desc, weights, bias, most)
    }

    /// [`ConvTranspose2d::new`] with phases long enough for any output padding up to
    /// `most_output_padding` (the descriptor's is ignored by the calls that name their own).
    pub(crate) fn build(
        ctx: &Context,
        desc: ConvTranspose2dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
        most_output_padding: [usize; 2],
    ) -> Result<ConvTranspose2d> {
        desc.validate()?;
        let expected = desc.weight_len()?;
        if weights.len() != expected {
            return Err(Error::InvalidShape(format!(
                "expected {expected} weight values ({:?}, PyTorch's (in, out / groups, kh, kw)), got {}",
                desc.weight_shape(),
                weights.len()
            )));
        }
        match (bias.map(<[f32]>::len), desc.has_bias) {
            (Some(b), true) if b != desc.out_channels => {
                return Err(Error::InvalidShape(format!(
                    "bias has {b} values but there are {} output channels",
                    desc.out_channels
                )))
            }
            (Some(_), false) => {
                return Err(Error::InvalidShape("a bias was given but has_bias is false".into()))
            }
            (None, true) => return Err(Error::InvalidShape("has_bias is set but no bias was given".into())),
            _ => {}
        }
        let p = desc.padding;
        let rows = phases::axis(
            desc.kernel[0],
            desc.stride[0],
            desc.dilation[0],
            [p.top, p.bottom],
            most_output_padding[0],
        )?;
        let cols = phases::axis(
            desc.kernel[1],
            desc.stride[1],
            desc.dilation[1],
            [p.left, p.right],
            most_output_padding[1],
        )?;
        let direct = rows.len() == 1 && cols.len() == 1 && rows[0].exact() && cols[0].exact();
        let mut built = Vec::with_capacity(rows.len() * cols.len());
        for r in &rows {
            for c in &cols {
                let conv = match r.taps.is_empty() || c.taps.is_empty() {
                    true => None,
                    false => Some(phase_conv(ctx, &desc, weights, bias, r, c, direct)?),
                };
                built.push(Phase { rows: r.clone(), cols: c.clone(), conv });
            }
        }
        let bias = match (direct, bias) {
            (false, Some(b)) => Some(ctx.scoped("uploading the bias", || {
                ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("transpose bias"),
                    contents: bytemuck::cast_slice(b),
                    usage: wgpu::BufferUsages::STORAGE,
                })
            })?),
            _ => None,
        };
        Ok(ConvTranspose2d {
            ctx: ctx.clone(),
            desc,
            most_output_padding,
            phases: built,
            direct,
            bias,
            shapes: Mutex::default(),
        })
    }

    /// The descriptor this transposed convolution was built from.
    pub fn desc(&self) -> &ConvTranspose2dDesc {
        &self.desc
    }

    /// The logical output shape `[n, out_channels, oh, ow]` for a logical input `[n, c, h, w]`.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4]> {
        self.desc.output_shape(input)
    }

    /// What a call on this input shape runs: the phases, their sub-kernels and plans.
    pub fn plan(&self, input: [usize; 4]) -> Result<TransposePlan> {
        self.plan_padded(input, self.desc.output_padding)
    }

    /// [`ConvTranspose2d::plan`] with this call's output padding (at most the built one).
    pub(crate) fn plan_padded(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<TransposePlan> {
        Ok(self.state(input, output_padding)?.plan.clone())
    }

    /// [`ConvTranspose2d::tensor_bytes`] with this call's output padding.
    pub(crate) fn tensor_bytes_padded(
        &self,
        input: [usize; 4],
        output_padding: [usize; 2],
    ) -> Result<(u64, u64)> {
        Ok(self.state(input, output_padding)?.bytes)
    }

    fn storage(&self) -> Storage {
        Storage::new(self.desc.dtype, !self.ctx.packed_f16())
    }

    /// The state of one shape and output padding, made on first use.
    fn state(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<Arc<ShapeState>> {
        if let Some(s) = lock(&self.shapes).get(&(input, output_padding)) {
            return Ok(s.clone());
        }
        let state = Arc::new(self.make_state(input, output_padding)?);
        let mut cache = lock(&self.shapes);
        if cache.len() >= CACHED_SHAPES {
            cache.clear();
        }
        cache.insert((input, output_padding), state.clone());
        Ok(state)
    }

    fn make_state(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<ShapeState> {
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
        let [n, c, h, w] = input;
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
        let mut plan = TransposePlan { input, output, direct: self.direct, phases: Vec::new() };
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
        if self.direct || n == 0 || c == 0 {
            return Ok(ShapeState {
                plan,
                bytes: io,
                scratch: None,
                scratch_bytes,
                uniforms: None,
                passes: Vec::new(),
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
                pipeline: self.ctx.pipeline(&kernel)?,
                grid: crate::algo::grid(elements as u64, &limits)?,
                uniform_offset,
            });
        }
        let (uniforms, scratch) = self.ctx.scoped("allocating transpose buffers", || {
            let uniforms = (!words.is_empty()).then(|| {
                self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("interleave params"),
                    contents: &words,
                    usage: wgpu::BufferUsages::UNIFORM,
                })
            });
            let scratch = (most_scratch > 0).then(|| {
                self.ctx.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("phase scratch"),
                    size: most_scratch,
                    usage: wgpu::BufferUsages::STORAGE,
                    mapped_at_creation: false,
                })
            });
            (uniforms, scratch)
        })?;
        Ok(ShapeState { plan, bytes: io, scratch, scratch_bytes, uniforms, passes })
    }

    /// Bytes a caller must allocate for the input and for the output (and residual) of a
    /// logical input shape, rounded up to 4 as wgpu binds storage in words.
    pub fn tensor_bytes(&self, input: [usize; 4]) -> Result<(u64, u64)> {
        self.tensor_bytes_padded(input, self.desc.output_padding)
    }

    /// Records the transposed convolution into the caller's encoder: reads `input` (logical
    /// `shape`, `desc.data_format`, `desc.dtype` elements), writes `output` (and adds
    /// `residual`), all `STORAGE` buffers at least [`ConvTranspose2d::tensor_bytes`] long.
    /// Nothing is submitted. The checks are [`Conv2d::encode`]'s (sizes, usages, aliasing,
    /// mapping, ownership), made before anything is recorded.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        shape: [usize; 4],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        self.encode_padded(encoder, shape, self.desc.output_padding, input, output, residual)
    }

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
        if self.direct {
            let conv = self.phases[0].conv.as_ref().expect("a direct phase has taps");
            return conv.encode(encoder, shape, input, output, residual);
        }
        self.check_buffers(&state, input, output, residual)?;
        if state.passes.is_empty() {
            return Ok(());
        }
        let groups = self.ctx.scoped("binding buffers", || self.bind_groups(&state, output, residual))??;
        for (pass, group) in state.passes.iter().zip(&groups) {
            if let (Some(conv), Some(scratch)) = (&self.phases[pass.phase].conv, &state.scratch) {
                conv.encode(encoder, shape, input, scratch, None)?;
            }
            let mut cp = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("transpose interleave"),
                timestamp_writes: None,
            });
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
        if state.passes.is_empty() {
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
                let scratch = state.scratch.as_ref().expect("a phase with taps has scratch");
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

    /// The blocking call: uploads `input` (logical `shape`, per `desc.data_format`; `T` must
    /// match `desc.dtype`), runs, and returns the output. An empty batch gives an empty output.
    pub fn run<T: Element>(&self, input: &[T], shape: [usize; 4], residual: Option<&[T]>) -> Result<Vec<T>> {
        self.run_padded(input, shape, self.desc.output_padding, residual)
    }

    /// [`ConvTranspose2d::run`] with this call's output padding (at most the built one).
    pub(crate) fn run_padded<T: Element>(
        &self,
        input: &[T],
        shape: [usize; 4],
        output_padding: [usize; 2],
        residual: Option<&[T]>,
    ) -> Result<Vec<T>> {
        if T::DTYPE != self.desc.dtype {
            return Err(Error::InvalidDescriptor(format!(
                "host data is {} but the transposed convolution's dtype is {}",
                T::DTYPE,
                self.desc.dtype
            )));
        }
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(input.len()) {
            return Err(Error::InvalidShape(format!(
                "input has {} values but shape {shape:?} needs {}",
                input.len(),
                expected.map_or("more than usize::MAX".to_string(), |e| e.to_string())
            )));
        }
        let state = self.state(shape, output_padding)?;
        let out_len: usize = state.plan.output.iter().product();
        match (residual.map(<[T]>::len), self.desc.residual) {
            (Some(r), true) if r != out_len => {
                return Err(Error::InvalidShape(format!("residual has {r} values, the output has {out_len}")))
            }
            (Some(_), false) => {
                return Err(Error::InvalidShape("a residual was given but residual is false".into()))
            }
            (None, true) => {
                return Err(Error::InvalidShape("residual is set but no residual was given".into()))
            }
            _ => {}
        }
        if out_len == 0 {
            return Ok(Vec::new());
        }
        let (in_bytes, out_bytes) = state.bytes;
        let device = self.ctx.device();
        let make = |label, size, usage| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        let (x, y, r, readback) = self.ctx.scoped("allocating host-call buffers", || {
            let x = make("input", in_bytes, U::STORAGE | U::COPY_DST);
            let y = make("output", out_bytes, U::STORAGE | U::COPY_SRC);
            let r = residual.map(|_| make("residual", out_bytes, U::STORAGE | U::COPY_DST));
            (x, y, r, make("readback", out_bytes, U::MAP_READ | U::COPY_DST))
        })?;
        self.ctx.queue().write_buffer(&x, 0, &padded_bytes(input));
        if let (Some(data), Some(buf)) = (residual, &r) {
            self.ctx.queue().write_buffer(buf, 0, &padded_bytes(data));
        }
        let mut enc = device.create_command_encoder(&Default::default());
        self.encode_padded(&mut enc, shape, output_padding, &x, &y, r.as_ref())?;
        self.ctx.scoped("running the transposed convolution", || {
            enc.copy_buffer_to_buffer(&y, 0, &readback, 0, out_bytes);
            self.ctx.queue().submit([enc.finish()]);
        })?;
        let bytes = read_back(&self.ctx, &readback)?;
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&bytes[..out_len * std::mem::size_of::<T>()]))
    }
}

/// The stride-1 convolution of one phase: the sub-kernel's taps, flipped, each group's
/// `(in, out)` weights turned into the convolution's `(out, in)`; with the epilogue only when
/// it writes the output itself (`direct`).
fn phase_conv(
    ctx: &Context,
    d: &ConvTranspose2dDesc,
    weights: &[f32],
    bias: Option<&[f32]>,
    rows: &AxisPhase,
    cols: &AxisPhase,
    direct: bool,
) -> Result<Conv2d> {
    let [cin, cog, kh, kw] = d.weight_shape();
    let cig = cin / d.groups;
    let (mh, mw) = (rows.taps.len(), cols.taps.len());
    let mut sub = Vec::new();
    sub.try_reserve_exact(d.out_channels * cig * mh * mw)
        .map_err(|_| Error::TooLarge("no host memory for the phase weights".into()))?;
    for co in 0..d.out_channels {
        let (g, col) = (co / cog, co % cog);
        for cil in 0..cig {
            let ci = g * cig + cil;
            for &ty in &rows.taps {
                for &tx in &cols.taps {
                    sub.push(weights[((ci * cog + col) * kh + ty) * kw + tx]);
                }
            }
        }
    }
    let conv = Conv2dDesc {
        in_channels: cin,
        out_channels: d.out_channels,
        kernel: [mh, mw],
        stride: [1, 1],
        dilation: [rows.dilation, cols.dilation],
        padding: Padding { top: rows.pad[0], bottom: rows.pad[1], left: cols.pad[0], right: cols.pad[1] },
        padding_mode: PaddingMode::Zeros,
        groups: d.groups,
        has_bias: direct && d.has_bias,
        activation: if direct { d.activation } else { Default::default() },
        residual: direct && d.residual,
        algo: d.algo,
        tile: None,
        layout: None,
        product: None,
        dtype: d.dtype,
        data_format: d.data_format,
        weight_format: WeightFormat::Oihw,
        precision: d.precision,
    };
    Conv2d::new(ctx, conv, &sub, if direct { bias } else { None })
}
