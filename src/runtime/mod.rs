//! wgpu objects: the device context (`context`), a convolution with prepared weights and its
//! public calls (here), the per-shape resources a plan's recipe becomes (`resources`), and
//! timing (`timing`).

mod context;
mod resources;
mod timing;

pub use context::{enumerate_adapters, Context, ContextOptions};
pub use timing::Timing;

use crate::desc::{Conv2dDesc, DType};
use crate::error::{Error, Result};
use crate::plan::Plan;
use resources::{storage, HostIo, IoKey, ShapeResources, Stamps, ENCODE_CACHE};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use wgpu::util::DeviceExt;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A host element type the blocking API accepts: `f32`, or `half::f16` for [`DType::F16`].
pub trait Element: bytemuck::Pod {
    /// The matching [`DType`].
    const DTYPE: DType;
}
impl Element for f32 {
    const DTYPE: DType = DType::F32;
}
impl Element for half::f16 {
    const DTYPE: DType = DType::F16;
}

/// A convolution with prepared weights. `Send + Sync`; per-shape resources are built on first
/// use of a shape and reused after, so a repeated call allocates nothing and compiles nothing.
pub struct Conv2d {
    ctx: Context,
    desc: Conv2dDesc,
    weights: wgpu::Buffer,
    bias: Option<wgpu::Buffer>,
    /// Prepared weights per layout key (Winograd tile and layout, GEMM packing), each made once.
    prepared: Mutex<HashMap<String, Arc<wgpu::Buffer>>>,
    shapes: Mutex<HashMap<[usize; 4], Arc<ShapeResources>>>,
}

impl Conv2d {
    /// Uploads the weights (f32, laid out per `desc.weight_format`) and the bias, after checking
    /// everything about the descriptor that does not depend on a shape.
    pub fn new(ctx: &Context, desc: Conv2dDesc, weights: &[f32], bias: Option<&[f32]>) -> Result<Conv2d> {
        desc.validate()?;
        let expected = desc.weight_len()?;
        if weights.len() != expected {
            return Err(Error::InvalidShape(format!(
                "expected {expected} weight values ({:?}, {}), got {}",
                desc.weight_format.stored(desc.weight_shape()),
                desc.weight_format,
                weights.len()
            )));
        }
        desc.check_bias(bias.map(<[f32]>::len))?;
        if desc.dtype == DType::F16 && !ctx.features().contains(wgpu::Features::SHADER_F16) {
            return Err(Error::Unsupported(format!(
                "f16 needs the SHADER_F16 feature, which adapter '{}' lacks",
                ctx.adapter_info().name
            )));
        }
        let bytes = expected as u64 * 4;
        if bytes > ctx.limits().max_buffer_size {
            return Err(Error::TooLarge(format!(
                "the weights need {bytes} bytes but a buffer holds at most {}",
                ctx.limits().max_buffer_size
            )));
        }
        let upload = |label, data: &[f32]| {
            ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::cast_slice(data),
                usage: wgpu::BufferUsages::STORAGE,
            })
        };
        let (weights, bias) = ctx
            .scoped("uploading weights", || (upload("weights", weights), bias.map(|b| upload("bias", b))))?;
        Ok(Conv2d {
            ctx: ctx.clone(),
            desc,
            weights,
            bias,
            prepared: Mutex::default(),
            shapes: Mutex::default(),
        })
    }

    /// The descriptor this convolution was built from.
    pub fn desc(&self) -> &Conv2dDesc {
        &self.desc
    }
    /// The context it runs on.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The plan (path, tile, layout, chunking) a call on this input shape takes: what the
    /// descriptor forces, then what `tune` measured for this adapter and convolution, then the
    /// dispatch ladder's heuristics.
    pub fn plan(&self, input: [usize; 4]) -> Result<Plan> {
        let info = self.ctx.adapter_info();
        let tuned = crate::tuned::lookup(
            &crate::tuned::adapter_key(info),
            &crate::tuned::conv_key(&self.desc, input),
        );
        crate::dispatch::plan(&self.desc, input, &self.ctx.limits(), info.device_type, tuned)
    }

    /// The logical output shape `[n, k, oh, ow]` for a logical input shape `[n, c, h, w]`.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4]> {
        Ok(self.plan(input)?.output)
    }

    /// Per-shape resources, built once per input shape.
    fn resources(&self, input: [usize; 4]) -> Result<Arc<ShapeResources>> {
        if let Some(r) = lock(&self.shapes).get(&input) {
            return Ok(r.clone());
        }
        let plan = self.plan(input)?;
        let res = Arc::new(self.build_resources(plan)?);
        lock(&self.shapes).insert(input, res.clone());
        Ok(res)
    }

    /// Bytes of the input and of the output (and residual) tensors for a logical input shape.
    pub fn tensor_bytes(&self, input: [usize; 4]) -> Result<(u64, u64)> {
        let out = self.output_shape(input)?;
        let es = self.desc.dtype.size();
        Ok((input.iter().product::<usize>() as u64 * es, out.iter().product::<usize>() as u64 * es))
    }

    fn check_buffer(&self, what: &str, buffer: &wgpu::Buffer, bytes: u64) -> Result<()> {
        if buffer.size() < bytes {
            return Err(Error::InvalidBuffer(format!(
                "{what} buffer has {} bytes but this shape needs {bytes}",
                buffer.size()
            )));
        }
        if !buffer.usage().contains(wgpu::BufferUsages::STORAGE) {
            return Err(Error::InvalidBuffer(format!("{what} buffer lacks BufferUsages::STORAGE")));
        }
        Ok(())
    }

    fn check_io(
        &self,
        shape: [usize; 4],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let (in_bytes, out_bytes) = self.tensor_bytes(shape)?;
        self.desc.check_residual(residual.map(|r| r.size() as usize), None)?;
        self.check_buffer("input", input, in_bytes)?;
        self.check_buffer("output", output, out_bytes)?;
        if let Some(r) = residual {
            self.check_buffer("residual", r, out_bytes)?;
        }
        Ok(())
    }

    /// Records the convolution into the caller's encoder, reading `input` and writing
    /// `output` (and adding `residual`), all in `desc.data_format` with `desc.dtype` elements and
    /// `STORAGE` usage. `shape` is the logical input shape `[n, c, h, w]`. Nothing is submitted;
    /// an empty batch records nothing.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        shape: [usize; 4],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let res = self.resources(shape)?;
        self.check_io(shape, input, output, residual)?;
        if res.passes.is_empty() {
            return Ok(());
        }
        let key: IoKey = (input.clone(), output.clone(), residual.cloned());
        let cached = lock(&res.encoded).iter().find(|(k, _)| *k == key).map(|(_, g)| g.clone());
        let groups = match cached {
            Some(g) => g,
            None => {
                let g = Arc::new(
                    self.ctx
                        .scoped("binding buffers", || self.bind_groups(&res, input, output, residual))??,
                );
                let mut cache = lock(&res.encoded);
                if cache.len() == ENCODE_CACHE {
                    cache.remove(0);
                }
                cache.push((key, g.clone()));
                g
            }
        };
        self.record(encoder, &res, &groups, Stamps::None);
        Ok(())
    }

    /// The blocking convenience call: uploads `input` (logical shape `shape`, laid out per
    /// `desc.data_format`), runs, and returns the output. `T` must match `desc.dtype`. An empty
    /// batch gives an empty output, as in PyTorch.
    pub fn run<T: Element>(&self, input: &[T], shape: [usize; 4], residual: Option<&[T]>) -> Result<Vec<T>> {
        // Lengths first: nothing is planned or allocated for data that does not match.
        let expected = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        if expected != Some(input.len()) {
            return Err(Error::InvalidShape(format!(
                "input has {} values but shape {shape:?} needs {}",
                input.len(),
                expected.map_or("more than usize::MAX".to_string(), |e| e.to_string())
            )));
        }
        let res = self.host_io::<T>(shape)?;
        let out_len = res.plan.output.iter().product::<usize>();
        self.desc.check_residual(residual.map(<[T]>::len), Some(out_len))?;
        if out_len == 0 {
            return Ok(Vec::new());
        }
        // Held for the whole call: the host buffers of a shape serve one call at a time.
        let guard = lock(&res.host);
        let io = guard.as_ref().expect("host buffers were just made");
        let out_bytes = io.output.size();
        self.ctx.scoped("running the convolution", || {
            self.ctx.queue().write_buffer(&io.input, 0, &padded_bytes(input));
            if let (Some(r), Some(buf)) = (residual, &io.residual) {
                self.ctx.queue().write_buffer(buf, 0, &padded_bytes(r));
            }
            let mut enc = self.ctx.device().create_command_encoder(&Default::default());
            self.record(&mut enc, &res, &io.bind_groups, Stamps::None);
            enc.copy_buffer_to_buffer(&io.output, 0, &io.readback, 0, out_bytes);
            self.ctx.queue().submit([enc.finish()]);
        })?;
        let bytes = read_back(&self.ctx, &io.readback)?;
        Ok(bytemuck::pod_collect_to_vec::<u8, T>(&bytes[..out_len * std::mem::size_of::<T>()]))
    }

    /// The blocking path's per-shape buffers and bind groups, made on first use.
    fn host_io<T: Element>(&self, shape: [usize; 4]) -> Result<Arc<ShapeResources>> {
        if T::DTYPE != self.desc.dtype {
            return Err(Error::InvalidDescriptor(format!(
                "host data is {} but the convolution's dtype is {}",
                T::DTYPE,
                self.desc.dtype
            )));
        }
        let res = self.resources(shape)?;
        let (in_bytes, out_bytes) = self.tensor_bytes(shape)?;
        let mut guard = lock(&res.host);
        if guard.is_none() {
            let made = self.ctx.scoped("allocating host-call buffers", || {
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
            })?;
            let (input, output, residual, readback) = made;
            let bind_groups = self
                .ctx
                .scoped("binding buffers", || self.bind_groups(&res, &input, &output, residual.as_ref()))??;
            *guard = Some(HostIo { input, output, residual, readback, bind_groups });
        }
        drop(guard);
        Ok(res)
    }
}

/// Host data as bytes padded to the 4-byte multiple that buffer writes need.
fn padded_bytes<T: Element>(data: &[T]) -> Vec<u8> {
    let mut bytes = bytemuck::cast_slice::<T, u8>(data).to_vec();
    bytes.resize(bytes.len().next_multiple_of(4), 0);
    bytes
}

/// Maps a MAP_READ buffer after the queue is idle and copies its contents out.
fn read_back(ctx: &Context, buffer: &wgpu::Buffer) -> Result<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    buffer.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.wait()?;
    rx.recv()
        .map_err(|_| Error::Gpu("buffer mapping was dropped".into()))?
        .map_err(|e| Error::Gpu(format!("mapping the result: {e}")))?;
    let bytes =
        buffer.get_mapped_range(..).map_err(|e| Error::Gpu(format!("reading the result: {e}")))?.to_vec();
    buffer.unmap();
    Ok(bytes)
}
