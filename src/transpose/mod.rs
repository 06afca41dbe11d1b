//! 2-D transposed convolution (PyTorch's `ConvTranspose2d`) as stride-1 convolutions.
//!
//! A stride-s transposed convolution is split into `sh·sw` phases by output position modulo
//! the stride (`phases`): each phase is an ordinary stride-1 [`Conv2d`] of the whole input with
//! a flipped, sub-sampled sub-kernel, built once in [`ConvTranspose2d::new_async`], so each goes
//! through the dispatch ladder (Winograd where its sub-kernel is 3×3 or 5×5 with dilation 1,
//! implicit GEMM otherwise). No multiply by an inserted zero and no scatter (with its atomics
//! or races) is ever done: every output element is one phase's sum.
//!
//! Why the phases write a scratch tensor that a generated interleave pass then places: it is
//! the simplest form that reuses `Conv2d` unchanged (a convolution writes a dense output; the
//! strided placement, and the epilogue applied exactly once per element, live in one small
//! kernel), at the price of one extra read and write of the output. Each phase has its own
//! scratch, so the phases' convolutions run without barriers between them. A stride-1 transposed
//! convolution whose single phase produces exactly the output (the input gradient of a
//! stride-1 convolution, say) skips both: its convolution carries the epilogue and writes the
//! output itself. Phases no kernel tap reaches (dilation sharing a factor with the stride, or a
//! kernel shorter than the stride) get the bias alone from the same pass, without a convolution.

mod chunks;
mod desc;
mod phases;
mod plan;
mod record;
mod state;
mod timing;

pub use desc::{ConvTranspose2dDesc, MAX_PHASES};
pub use plan::{TransposePhase, TransposePlan};

use crate::codegen::Storage;
use crate::desc::{Conv2dDesc, Padding, PaddingMode, WeightFormat};
use crate::error::{Error, Result};
use crate::runtime::{now, padded_bytes, read_back, Context, Conv2d, Element};
use phases::AxisPhase;
use state::{HostBuffers, ShapeState};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// One phase: its row and column residues and, where a tap reaches it, its convolution.
struct Phase {
    rows: AxisPhase,
    cols: AxisPhase,
    conv: Option<Conv2d>,
}

/// A call's input shape and output padding.
type ShapeKey = ([usize; 4], [usize; 2]);

/// Shapes whose state a transposed convolution keeps; past it the cache starts over.
const CACHED_SHAPES: usize = 16;

/// A transposed convolution with its phases' weights uploaded. `Send + Sync`.
pub struct ConvTranspose2d {
    pub(crate) ctx: Context,
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
    /// the bias (`out_channels` values): blocks on [`ConvTranspose2d::new_async`].
    #[cfg(feature = "blocking")]
    pub fn new(
        ctx: &Context,
        desc: ConvTranspose2dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<ConvTranspose2d> {
        pollster::block_on(ConvTranspose2d::new_async(ctx, desc, weights, bias))
    }

    /// [`ConvTranspose2d::new`] without blocking: the uploads' error scopes are awaited.
    pub async fn new_async(
        ctx: &Context,
        desc: ConvTranspose2dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<ConvTranspose2d> {
        let most = desc.output_padding;
        ConvTranspose2d::build(ctx, desc, weights, bias, most).await
    }

    /// [`ConvTranspose2d::new_async`] with phases long enough for any output padding up to
    /// `most_output_padding` (the descriptor's is ignored by the calls that name their own).
    pub(crate) async fn build(
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
                    false => Some(phase_conv(ctx, &desc, weights, bias, r, c, direct).await?),
                };
                built.push(Phase { rows: r.clone(), cols: c.clone(), conv });
            }
        }
        let bias = match (direct, bias) {
            (false, Some(b)) => {
                let upload = ctx.scoped_async("uploading the bias", || {
                    ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("transpose bias"),
                        contents: bytemuck::cast_slice(b),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
                });
                Some(upload.await?)
            }
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

    /// What a call on this input shape runs: the phases, their sub-kernels and plans. Needs no
    /// GPU work (nothing is compiled), so it answers at once on WebGPU too.
    pub fn plan(&self, input: [usize; 4]) -> Result<TransposePlan> {
        self.plan_padded(input, self.desc.output_padding)
    }

    /// [`ConvTranspose2d::plan`] with this call's output padding (at most the built one).
    pub(crate) fn plan_padded(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<TransposePlan> {
        Ok(match self.split(input, output_padding)? {
            chunks::Split::Whole(layout) => layout.plan,
            chunks::Split::Chunks { images, chunk, .. } => chunk.plan.whole_batch(input, images),
        })
    }

    /// [`ConvTranspose2d::tensor_bytes`] with this call's output padding.
    pub(crate) fn tensor_bytes_padded(
        &self,
        input: [usize; 4],
        output_padding: [usize; 2],
    ) -> Result<(u64, u64)> {
        Ok(match self.split(input, output_padding)? {
            chunks::Split::Whole(layout) => layout.bytes,
            chunks::Split::Chunks { image_bytes: (i, o), .. } => (input[0] as u64 * i, input[0] as u64 * o),
        })
    }

    /// Builds and caches what a call on `input` needs (the phases' kernels and weights, the
    /// interleave passes and scratch), awaiting their error scopes: on WebGPU,
    /// [`ConvTranspose2d::encode`] of a new shape needs this first.
    pub async fn prepare_async(&self, input: [usize; 4]) -> Result<TransposePlan> {
        self.prepare_padded_async(input, self.desc.output_padding).await
    }

    /// [`ConvTranspose2d::prepare_async`] with this call's output padding.
    pub(crate) async fn prepare_padded_async(
        &self,
        input: [usize; 4],
        output_padding: [usize; 2],
    ) -> Result<TransposePlan> {
        Ok(self.state_async(input, output_padding).await?.plan.clone())
    }

    fn storage(&self) -> Storage {
        Storage::new(self.desc.dtype, !self.ctx.packed_f16())
    }

    /// [`ConvTranspose2d::state_async`] for `encode`: never blocks; on WebGPU only a prepared
    /// shape is ready at once.
    fn state(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<Arc<ShapeState>> {
        let instead = "ConvTranspose2d::prepare_async(shape) before encoding a new shape";
        now("building a new shape's state", instead, self.state_async(input, output_padding))
    }

    /// The state of one shape and output padding, made on first use, its phases prepared.
    async fn state_async(&self, input: [usize; 4], output_padding: [usize; 2]) -> Result<Arc<ShapeState>> {
        let cached = lock(&self.shapes).get(&(input, output_padding)).cloned();
        let state = match cached {
            Some(s) => s,
            None => {
                let state = Arc::new(self.make_state(input, output_padding).await?);
                let mut cache = lock(&self.shapes);
                if cache.len() >= CACHED_SHAPES {
                    cache.clear();
                }
                cache.insert((input, output_padding), state.clone());
                state
            }
        };
        self.prepare_phases(&state).await?;
        Ok(state)
    }

    /// Asks each phase convolution that runs for `state`'s shape (for a chunked batch, each
    /// chunk state's): the phase's [`Conv2d`] caches its resources and may have evicted them
    /// since, so this runs on every call (a lookup once built).
    async fn prepare_phases(&self, state: &ShapeState) -> Result<()> {
        if let Some(chunks) = &state.chunks {
            for chunk in [Some(&chunks.full), chunks.rest.as_ref()].into_iter().flatten() {
                Box::pin(self.prepare_phases(chunk)).await?;
            }
            return Ok(());
        }
        for (phase, planned) in self.phases.iter().zip(&state.plan.phases) {
            // A direct phase is encoded whatever the batch; another only where it has outputs.
            if let (Some(conv), true) = (&phase.conv, self.direct || planned.plan.is_some()) {
                conv.prepare_async(state.plan.input).await?;
            }
        }
        Ok(())
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

    /// The blocking call: blocks on [`ConvTranspose2d::run_async`].
    #[cfg(feature = "blocking")]
    pub fn run<T: Element>(&self, input: &[T], shape: [usize; 4], residual: Option<&[T]>) -> Result<Vec<T>> {
        pollster::block_on(self.run_async(input, shape, residual))
    }

    /// Uploads `input` (logical `shape`, per `desc.data_format`; `T` must match `desc.dtype`),
    /// runs, and returns the output, awaiting every error scope and the read-back (as
    /// [`Conv2d::run_async`]). An empty batch gives an empty output. The first call on a shape
    /// compiles its kernels and makes its buffers.
    pub async fn run_async<T: Element>(
        &self,
        input: &[T],
        shape: [usize; 4],
        residual: Option<&[T]>,
    ) -> Result<Vec<T>> {
        self.run_padded(input, shape, self.desc.output_padding, residual).await
    }

    /// [`ConvTranspose2d::run_async`] with this call's output padding (at most the built one).
    pub(crate) async fn run_padded<T: Element>(
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
        let state = self.state_async(shape, output_padding).await?;
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
        let io = self.take_host(&state).await?;
        self.ctx.queue().write_buffer(&io.input, 0, &padded_bytes(input));
        if let (Some(data), Some(buf)) = (residual, &io.residual) {
            self.ctx.queue().write_buffer(buf, 0, &padded_bytes(data));
        }
        let mut enc = self.ctx.device().create_command_encoder(&Default::default());
        // Recorded with this state, not looked up again: the cache may drop it meanwhile.
        self.record(&mut enc, &state, &io.input, &io.output, io.residual.as_ref())?;
        let out_bytes = state.bytes.1;
        self.ctx
            .scoped_async("running the transposed convolution", || {
                enc.copy_buffer_to_buffer(&io.output, 0, &io.readback, 0, out_bytes);
                self.ctx.queue().submit([enc.finish()]);
            })
            .await?;
        let bytes = read_back(&self.ctx, &io.readback).await?;
        // Kept only after a clean call: a failed one may leave the readback mapped.
        let mut slot = lock(&state.host);
        if slot.is_none() {
            *slot = Some(io);
        }
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&bytes[..out_len * std::mem::size_of::<T>()]))
    }

    /// The shape's host-call buffers, taken out of its state for one call, or made where it has
    /// none (the first call, or a concurrent one: no lock is held across an await).
    async fn take_host(&self, state: &ShapeState) -> Result<HostBuffers> {
        let taken = lock(&state.host).take();
        if let Some(io) = taken {
            return Ok(io);
        }
        let (in_bytes, out_bytes) = state.bytes;
        let make = |label, size, usage| buffer(self.ctx.device(), label, size, usage);
        use wgpu::BufferUsages as U;
        let made = self.ctx.scoped_async("allocating host-call buffers", || HostBuffers {
            // COPY_SRC / COPY_DST besides: a chunked batch is copied through staging buffers.
            input: make("input", in_bytes, U::STORAGE | U::COPY_DST | U::COPY_SRC),
            output: make("output", out_bytes, U::STORAGE | U::COPY_SRC | U::COPY_DST),
            residual: self
                .desc
                .residual
                .then(|| make("residual", out_bytes, U::STORAGE | U::COPY_DST | U::COPY_SRC)),
            readback: make("readback", out_bytes, U::MAP_READ | U::COPY_DST),
        });
        made.await
    }
}

/// A buffer of `size` bytes for `usage`, not mapped.
fn buffer(device: &wgpu::Device, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage,
        mapped_at_creation: false,
    })
}

/// The stride-1 convolution of one phase: the sub-kernel's taps, flipped, each group's
/// `(in, out)` weights turned into the convolution's `(out, in)`; with the epilogue only when
/// it writes the output itself (`direct`).
async fn phase_conv(
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
    Conv2d::new_async(ctx, conv, &sub, if direct { bias } else { None }).await
}
