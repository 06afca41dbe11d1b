//! wgpu objects: the device context (`context`), a convolution with prepared weights and its
//! public calls (here), the per-shape resources a plan's recipe becomes (`resources`), and
//! timing (`timing`).

mod context;
mod futures;
mod host;
mod matmul;
mod recorded;
mod resources;
mod staged;
mod timing;

#[cfg(feature = "blocking")]
pub use context::enumerate_adapters;
pub use context::{enumerate_adapters_async, Context, ContextOptions};
pub(crate) use futures::{now, read_back};
pub(crate) use host::padded_bytes;
pub use matmul::{tensor_matmul, MatmulTiming};
pub(crate) use recorded::{benchmark_buffer, benchmark_recorded};
pub use timing::Timing;

use crate::desc::{Conv2dDesc, DType, WeightFormat};
use crate::error::{Error, Result};
use crate::plan::Plan;
use resources::{storage, HostIo, ShapeResources, Stamps};
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

/// Per-shape resources of the most recently used input shapes, least recently used out first:
/// at most `max_shapes` of them and, beyond the most recently used one (kept whatever its
/// size, so that a large shape used over and over is not rebuilt on every call), at most
/// `max_bytes` of their buffers.
struct ShapeCache {
    /// Each shape with the clock of its last use.
    map: HashMap<[usize; 4], (u64, Arc<ShapeResources>)>,
    clock: u64,
    max_shapes: usize,
    max_bytes: u64,
}

impl Default for ShapeCache {
    fn default() -> ShapeCache {
        ShapeCache {
            map: HashMap::new(),
            clock: 0,
            max_shapes: Conv2d::DEFAULT_CACHED_SHAPES,
            max_bytes: Conv2d::DEFAULT_CACHED_SHAPE_BYTES,
        }
    }
}

impl ShapeCache {
    fn get(&mut self, shape: &[usize; 4]) -> Option<Arc<ShapeResources>> {
        self.clock += 1;
        let entry = self.map.get_mut(shape)?;
        entry.0 = self.clock;
        Some(entry.1.clone())
    }

    /// Caches `res` as the most recently used shape; returns what that evicts.
    fn insert(&mut self, shape: [usize; 4], res: Arc<ShapeResources>) -> Vec<Arc<ShapeResources>> {
        self.clock += 1;
        self.map.insert(shape, (self.clock, res));
        self.trim()
    }

    /// Evicts least recently used shapes until the limits hold; returns them, to be dropped
    /// outside the lock (a shape still in use elsewhere lives on until that call ends).
    fn trim(&mut self) -> Vec<Arc<ShapeResources>> {
        let mut evicted = Vec::new();
        loop {
            let bytes: u64 = self.map.values().map(|(_, r)| r.bytes()).sum();
            let over = self.map.len() > self.max_shapes || (self.map.len() > 1 && bytes > self.max_bytes);
            let oldest = self.map.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| *k);
            match oldest {
                Some(k) if over => evicted.extend(self.map.remove(&k).map(|(_, r)| r)),
                _ => return evicted,
            }
        }
    }

    /// The cached shapes, most recently used first.
    fn shapes(&self) -> Vec<[usize; 4]> {
        let mut v: Vec<_> = self.map.iter().map(|(k, (t, _))| (*t, *k)).collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.0));
        v.into_iter().map(|(_, k)| k).collect()
    }
}

/// A convolution with prepared weights. `Send + Sync`; per-shape resources (the plan's passes,
/// uniforms, scratch and the blocking call's buffers) are built on first use of a shape and kept
/// for the [`Conv2d::DEFAULT_CACHED_SHAPES`] most recently used shapes, within
/// [`Conv2d::DEFAULT_CACHED_SHAPE_BYTES`] of buffers (see [`Conv2d::set_shape_cache_limit`]), so
/// a repeated call on a cached shape allocates no buffer and compiles nothing (`encode` makes
/// only its bind groups). A shape evicted from the cache is rebuilt when used again, without
/// compiling: pipelines are the [`Context`]'s.
pub struct Conv2d {
    ctx: Context,
    desc: Conv2dDesc,
    weights: wgpu::Buffer,
    bias: Option<wgpu::Buffer>,
    /// Prepared weights per layout key (Winograd tile and layout, GEMM packing, and the
    /// output-channel slice), each made once. The key names no input shape (a slice depends on
    /// the path and the limits only), so the map is bounded by the layouts the paths offer and
    /// is not part of the shape cache.
    prepared: Arc<Mutex<HashMap<String, Arc<wgpu::Buffer>>>>,
    shapes: Mutex<ShapeCache>,
    /// The weights' largest magnitude, for the tensor cores' weight scale.
    weight_amax: f32,
}

impl Conv2d {
    /// Input shapes whose resources a convolution keeps by default (see
    /// [`Conv2d::set_shape_cache_limit`]).
    pub const DEFAULT_CACHED_SHAPES: usize = 16;
    /// Bytes of per-shape buffers a convolution keeps by default beyond its most recently used
    /// shape (see [`Conv2d::set_shape_cache_limit`]).
    pub const DEFAULT_CACHED_SHAPE_BYTES: u64 = 256 << 20;

    /// Uploads the weights (f32, laid out per `desc.weight_format`) and the bias, after checking
    /// everything about the descriptor that does not depend on a shape: blocks on
    /// [`Conv2d::new_async`].
    #[cfg(feature = "blocking")]
    pub fn new(ctx: &Context, desc: Conv2dDesc, weights: &[f32], bias: Option<&[f32]>) -> Result<Conv2d> {
        pollster::block_on(Conv2d::new_async(ctx, desc, weights, bias))
    }

    /// [`Conv2d::new`] without blocking: the upload's error scopes are awaited.
    pub async fn new_async(
        ctx: &Context,
        desc: Conv2dDesc,
        weights: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Conv2d> {
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
        // Stored OIHW whatever the caller's format, so that a slice of output channels is one
        // contiguous range (see `algo::channel_slice`).
        let oihw;
        let weights = match desc.weight_format {
            WeightFormat::Oihw => weights,
            WeightFormat::Hwio => {
                let [k, cg, kh, kw] = desc.weight_shape();
                let mut out = Vec::new();
                out.try_reserve_exact(weights.len()).map_err(|_| {
                    Error::TooLarge(format!("no host memory to reorder {} weights", weights.len()))
                })?;
                out.extend((0..k * cg * kh * kw).map(|i| {
                    let (o, ci, y, x) = (i / (cg * kh * kw), i / (kh * kw) % cg, i / kw % kh, i % kw);
                    weights[((y * kw + x) * cg + ci) * k + o]
                }));
                oihw = out;
                &oihw[..]
            }
        };
        let weight_amax = crate::reference::max_abs(weights);
        let (weights, bias) = ctx
            .scoped_async("uploading weights", || {
                (upload("weights", weights), bias.map(|b| upload("bias", b)))
            })
            .await?;
        Ok(Conv2d {
            ctx: ctx.clone(),
            desc,
            weights,
            bias,
            prepared: Arc::default(),
            shapes: Mutex::default(),
            weight_amax,
        })
    }

    /// The same convolution under another descriptor that reads the weights alike (a staged
    /// band's, with its padding rows staged): weights, bias and prepared weights are shared.
    fn band_conv(&self, desc: Conv2dDesc) -> Conv2d {
        Conv2d {
            ctx: self.ctx.clone(),
            desc,
            weights: self.weights.clone(),
            bias: self.bias.clone(),
            prepared: self.prepared.clone(),
            shapes: Mutex::default(),
            weight_amax: self.weight_amax,
        }
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
        crate::dispatch::plan(
            &self.desc,
            input,
            &self.ctx.limits(),
            info.device_type,
            self.ctx.tensor(),
            tuned,
        )
    }

    /// The logical output shape `[n, k, oh, ow]` for a logical input shape `[n, c, h, w]`.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4]> {
        Ok(self.plan(input)?.output)
    }

    /// Bounds the per-shape cache: at most `shapes` input shapes and, beyond the most recently
    /// used one (always kept while `shapes > 0`, whatever its size), at most `bytes` of their
    /// buffers (uniforms, scratch, and the blocking call's upload, output and readback buffers;
    /// not the weights, nor the prepared weights, which are per convolution). Shapes are evicted
    /// least recently used first, at once if the cache is over the new limits. `shapes = 0`
    /// caches nothing: every call builds its resources and drops them when it returns. Defaults:
    /// [`Conv2d::DEFAULT_CACHED_SHAPES`] shapes, [`Conv2d::DEFAULT_CACHED_SHAPE_BYTES`] bytes.
    pub fn set_shape_cache_limit(&self, shapes: usize, bytes: u64) {
        let evicted = {
            let mut cache = lock(&self.shapes);
            (cache.max_shapes, cache.max_bytes) = (shapes, bytes);
            cache.trim()
        };
        drop(evicted);
    }

    /// The per-shape cache's limits `(shapes, bytes)` (see [`Conv2d::set_shape_cache_limit`]).
    pub fn shape_cache_limit(&self) -> (usize, u64) {
        let cache = lock(&self.shapes);
        (cache.max_shapes, cache.max_bytes)
    }

    /// The input shapes whose resources are cached now, most recently used first.
    #[doc(hidden)]
    pub fn cached_shapes(&self) -> Vec<[usize; 4]> {
        lock(&self.shapes).shapes()
    }

    /// Builds and caches the resources of input shape `shape` (compiling its kernels and
    /// preparing its weights), awaiting their error scopes: what [`Conv2d::encode`] needs done
    /// first for each new shape on WebGPU, where it cannot wait for them itself.
    pub async fn prepare_async(&self, shape: [usize; 4]) -> Result<Plan> {
        Ok(self.resources_async(shape).await?.plan.clone())
    }

    /// [`Conv2d::resources_async`] for the synchronous calls: never blocks; on WebGPU only a
    /// cached shape is ready at once.
    fn resources(&self, input: [usize; 4]) -> Result<Arc<ShapeResources>> {
        let instead = "Conv2d::prepare_async(shape) before encoding a new shape";
        now("building a new shape's resources", instead, self.resources_async(input))
    }

    /// Per-shape resources: the cached ones, else built and cached (evicting the least recently
    /// used shapes past the limits).
    async fn resources_async(&self, input: [usize; 4]) -> Result<Arc<ShapeResources>> {
        if let Some(r) = lock(&self.shapes).get(&input) {
            return Ok(r);
        }
        let plan = self.plan(input)?;
        let res = Arc::new(self.build_resources(plan).await?);
        let evicted = lock(&self.shapes).insert(input, res.clone());
        drop(evicted);
        Ok(res)
    }

    /// Bytes a caller must allocate for the input and for the output (and residual) buffers of
    /// a logical input shape: the tensor's bytes rounded up to a multiple of 4, as wgpu binds
    /// storage in 4-byte words (an f16 tensor of odd length, say 9 values, needs 20 bytes, not
    /// 18). [`Conv2d::encode`] refuses smaller buffers with [`Error::InvalidBuffer`].
    pub fn tensor_bytes(&self, input: [usize; 4]) -> Result<(u64, u64)> {
        self.plan_bytes(&self.plan(input)?)
    }

    /// [`Conv2d::tensor_bytes`] for a plan already made (the calls hold one: no re-planning).
    fn plan_bytes(&self, plan: &Plan) -> Result<(u64, u64)> {
        let es = self.desc.dtype.size();
        let bytes = |shape: [usize; 4]| {
            shape
                .iter()
                .try_fold(es, |acc, &d| acc.checked_mul(d as u64))
                .and_then(|b| b.checked_next_multiple_of(4))
                .ok_or_else(|| Error::TooLarge(format!("a tensor of shape {shape:?} overflows u64 bytes")))
        };
        Ok((bytes(plan.input)?, bytes(plan.output)?))
    }

    fn check_buffer(&self, what: &str, buffer: &wgpu::Buffer, bytes: u64) -> Result<()> {
        if buffer.size() < bytes {
            return Err(Error::InvalidBuffer(format!(
                "{what} buffer has {} bytes but this shape needs {bytes} (see Conv2d::tensor_bytes)",
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
        plan: &Plan,
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let (in_bytes, out_bytes) = self.plan_bytes(plan)?;
        self.desc.check_residual(residual.map(|r| r.size() as usize), None)?;
        self.check_buffer("input", input, in_bytes)?;
        self.check_buffer("output", output, out_bytes)?;
        if let Some(r) = residual {
            self.check_buffer("residual", r, out_bytes)?;
        }
        // Buffers compare by wgpu id, which is unique per device: equal ids of a foreign
        // buffer are caught by `check_owned`, which runs next.
        if input == output {
            return Err(Error::InvalidBuffer(
                "input and output are the same buffer: in-place convolution is not supported (a \
                 dispatch cannot bind one buffer read-only and writable); use two buffers"
                    .into(),
            ));
        }
        if residual == Some(output) {
            return Err(Error::InvalidBuffer(
                "residual and output are the same buffer: an in-place residual is not supported (a \
                 dispatch cannot bind one buffer read-only and writable); copy the residual first"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Records the convolution into the caller's encoder, reading `input` and writing
    /// `output` (and adding `residual`), all in `desc.data_format` with `desc.dtype` elements and
    /// `STORAGE` usage, each at least as large as [`Conv2d::tensor_bytes`] says. `shape` is the
    /// logical input shape `[n, c, h, w]`. Nothing is submitted; an empty batch records nothing
    /// and checks only the shape and the buffers' sizes, usages and aliasing.
    ///
    /// # What is checked
    /// Before anything is recorded, `encode` returns [`Error::InvalidBuffer`] (and leaves the
    /// encoder untouched) when a buffer:
    /// - is smaller than [`Conv2d::tensor_bytes`] or lacks `STORAGE`;
    /// - aliases another: `input == output`, or `residual == output` (in-place residual);
    /// - is mapped, mapped at creation and not yet unmapped, or being mapped (`map_async` not yet
    ///   completed; that pending mapping is cancelled, and its callback receives an error);
    /// - belongs to another device, e.g. was created on another [`Context`] (each has its own
    ///   wgpu instance, where the same id names a different buffer). wgpu 30 exposes no owner
    ///   of a buffer, so `encode` asks the buffer's own device: it raises a harmless validation
    ///   error (unmapping an unmapped buffer) inside an error scope of this context's device. A
    ///   foreign buffer's device therefore receives that error: another `Context` logs it, and a
    ///   bare `wgpu::Device` without an error scope or `on_uncaptured_error` handler panics, as
    ///   wgpu does for every uncaptured error.
    ///
    /// Such a call never panics, never records, and never writes into another buffer. Bind groups
    /// are created inside error scopes, so any other validation error there is
    /// [`Error::Gpu`].
    ///
    /// # What the caller must guarantee
    /// `encoder` must come from this convolution's device (`self.context().device()`). wgpu 30
    /// gives no way to tell an encoder's device without corrupting the encoder, so this is not
    /// checked: recording into an encoder of another device may panic inside wgpu or dispatch
    /// another device's pipelines.
    ///
    /// # Errors after `encode`
    /// Recording and submitting are the caller's: wgpu reports their validation errors (e.g. a
    /// buffer mapped or destroyed between `encode` and `submit`) on the caller's
    /// `encoder.finish()` / `queue.submit`, not here. Wrap those in
    /// `device.push_error_scope(wgpu::ErrorFilter::Validation)` … `pop()` to receive them, or
    /// install a handler with `device.on_uncaptured_error` (a device from [`Context::from_device`]
    /// keeps yours; one the library created has one that only logs).
    ///
    /// # Never blocking
    /// `encode` waits for nothing: on native wgpu its error scopes answer at once. On WebGPU they
    /// answer only asynchronously, so a shape must be built first with
    /// [`Conv2d::prepare_async`] (else [`Error::Unsupported`]), the foreign-device probe above
    /// is left to WebGPU's own validation, and bind-group errors reach the device's handler.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        shape: [usize; 4],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let res = self.resources(shape)?;
        self.check_io(&res.plan, input, output, residual)?;
        if res.records_nothing() {
            return Ok(());
        }
        if res.is_staged() {
            // Staged bands move rows by buffer copies (see `crate::staging`).
            let copies = [("input", Some(input), wgpu::BufferUsages::COPY_SRC)]
                .into_iter()
                .chain([("output", Some(output), wgpu::BufferUsages::COPY_DST)])
                .chain([("residual", residual, wgpu::BufferUsages::COPY_SRC)]);
            for (what, buffer, usage) in copies {
                if buffer.is_some_and(|b| !b.usage().contains(usage)) {
                    return Err(Error::InvalidBuffer(format!(
                        "one image of shape {shape:?} exceeds a binding and runs in bands staged by \
                         buffer copies: the {what} buffer needs BufferUsages::{usage:?}"
                    )));
                }
            }
        }
        // Before binding: our device would resolve a foreign buffer's id as one of its own.
        self.ctx.check_owned("input", input)?;
        self.ctx.check_owned("output", output)?;
        if let Some(r) = residual {
            self.ctx.check_owned("residual", r)?;
        }
        // Made for this call and dropped after recording (the encoder keeps what it needs): a
        // bind group holds its buffers alive, so a cached one would keep the caller's buffers
        // past their use. Creating them costs a few µs per pass (next to the ownership checks
        // above, which every call pays anyway).
        let bound =
            self.ctx.scoped("binding buffers", || self.bind_groups(&res, input, output, residual))??;
        self.record(encoder, &res, &bound, Stamps::None);
        Ok(())
    }

    /// The blocking convenience call: uploads `input` (logical shape `shape`, laid out per
    /// `desc.data_format`), runs, and returns the output: blocks on [`Conv2d::run_async`].
    #[cfg(feature = "blocking")]
    pub fn run<T: Element>(&self, input: &[T], shape: [usize; 4], residual: Option<&[T]>) -> Result<Vec<T>> {
        pollster::block_on(self.run_async(input, shape, residual))
    }

    /// Refuses a caller's buffer that is mapped or belongs to another device (see
    /// [`Conv2d::encode`]), for the operators built on this one that bind buffers themselves.
    pub(crate) fn check_caller_buffer(&self, what: &str, buffer: &wgpu::Buffer) -> Result<()> {
        self.ctx.check_owned(what, buffer)
    }
}
