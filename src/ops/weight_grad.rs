//! [`WeightGrad`]: the gradients of a convolution's weights and bias on the GPU. Each call is
//! an implicit GEMM per channel group and batch chunk, split over its reduction (split-K) into
//! partial sums in a scratch buffer, then a reduce pass that adds the splits (and the chunks)
//! in a fixed order: deterministic, no float atomics. The passes of a shape are built once
//! and cached; bind groups over the caller's buffers are made per call.

use super::grad_split::{self, GradPlan, GradProblem};
use crate::blocks::Engine;
use crate::codegen::uniform::{
    fit, AmaxParams, BiasGradParams, GradReduceParams, Uniform, WeightGradParams, MAX_PARAMS,
};
use crate::codegen::{
    coop_product, grad_reduce, product, FragType, GradB, GradOperands, Operands, Storage, TensorOperands,
};
use crate::desc::{Activation, Conv2dDesc, DataFormat, Padding, Precision, WeightFormat};
use crate::error::{Error, Result};
use crate::runtime::{benchmark_buffer, benchmark_recorded, now, padded_bytes, read_back, Context, Element};
use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// Which gradient a set of passes computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Weight,
    Bias,
}

/// What a binding of a pass refers to: a caller buffer's byte range, or the scratch.
#[derive(Clone, Copy, Debug)]
enum Bind {
    X(u64, u64),
    Dy(u64, u64),
    Out(u64, u64),
    Part,
    /// Word `i` of the max-magnitude scratch (0: dy's, 1: the input's).
    Amax(u64),
}

struct Pass {
    pipeline: Arc<wgpu::ComputePipeline>,
    grid: [u32; 3],
    uniform_offset: u64,
    binds: Vec<Bind>,
}

/// The passes, uniforms and scratch of one shape.
struct ShapePasses {
    plan: GradPlan,
    passes: Vec<Pass>,
    uniforms: wgpu::Buffer,
    slot: u64,
    scratch: wgpu::Buffer,
    /// The max-magnitude words of the tensor-core passes with f32 data (one per aligned
    /// binding offset), cleared at the start of every call.
    amax: Option<wgpu::Buffer>,
}

/// The cache key: which gradient, on which shape (the input's, or dy's for the bias).
type ShapeKey = (Kind, [usize; 4]);

/// Shapes whose passes are kept; past this the cache starts afresh (a training loop uses a
/// handful of shapes).
const CACHED_SHAPES: usize = 8;

/// The gradients of a convolution with respect to its weights and its bias, for the forward
/// descriptor it was made from: any stride, dilation, groups, padding and padding mode, f32 or
/// f16 activations (f32 sums), NCHW or NHWC. `dy` is the gradient with respect to the
/// convolution's output before its activation (bias and residual do not change the weight
/// gradient); a forward descriptor with an activation is refused, as its derivative needs the
/// forward output. `Send + Sync`.
pub struct WeightGrad {
    ctx: Context,
    desc: Conv2dDesc,
    forced_splits: Option<usize>,
    shapes: Mutex<HashMap<ShapeKey, Arc<ShapePasses>>>,
}

impl WeightGrad {
    /// Checks the forward descriptor (everything `Conv2d::new` checks that does not involve
    /// weights).
    pub fn new(ctx: &Context, forward: &Conv2dDesc) -> Result<WeightGrad> {
        forward.validate()?;
        if forward.activation != Activation::None {
            return Err(Error::Unsupported(format!(
                "the weight gradient takes dy with respect to the convolution's output before its \
                 activation ({}); apply the activation's derivative to dy and pass a descriptor with \
                 activation none",
                forward.activation
            )));
        }
        Ok(WeightGrad {
            ctx: ctx.clone(),
            desc: forward.clone(),
            forced_splits: None,
            shapes: Mutex::default(),
        })
    }

    /// The forward descriptor.
    pub fn desc(&self) -> &Conv2dDesc {
        &self.desc
    }

    /// Forces the split-K count (clamped to what the device allows), for tests and experiments;
    /// `None` restores the heuristic ([`split_count`](crate::split_count)).
    #[doc(hidden)]
    pub fn force_splits(&mut self, splits: Option<usize>) {
        self.forced_splits = splits.map(|s| s.max(1));
        self.shapes.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// How a weight-gradient call on logical input shape `x_shape` splits. Builds the shape's
    /// passes where they are not yet (never blocking: on WebGPU only a prepared shape answers;
    /// [`WeightGrad::prepare_async`] returns the same plan).
    pub fn plan(&self, x_shape: [usize; 4]) -> Result<GradPlan> {
        Ok(self.passes(Kind::Weight, x_shape)?.plan.clone())
    }

    /// Builds and caches the weight-gradient passes of logical input shape `x_shape` (compiling
    /// their kernels), awaiting their error scopes: on WebGPU, [`WeightGrad::encode`] of a new
    /// shape needs this first.
    pub async fn prepare_async(&self, x_shape: [usize; 4]) -> Result<GradPlan> {
        Ok(self.passes_async(Kind::Weight, x_shape).await?.plan.clone())
    }

    /// [`WeightGrad::prepare_async`] for the bias gradient of dy of logical shape `dy_shape`,
    /// which [`WeightGrad::encode_bias_grad`] needs first on WebGPU.
    pub async fn prepare_bias_grad_async(&self, dy_shape: [usize; 4]) -> Result<GradPlan> {
        Ok(self.passes_async(Kind::Bias, dy_shape).await?.plan.clone())
    }

    /// The logical shape `[n, k, oh, ow]` of dy for logical input shape `x_shape`, after
    /// checking the shape against the descriptor.
    pub fn dy_shape(&self, x_shape: [usize; 4]) -> Result<[usize; 4]> {
        let [n, c, h, w] = x_shape;
        if c != self.desc.in_channels {
            return Err(Error::InvalidShape(format!(
                "input has {c} channels but the convolution has {}",
                self.desc.in_channels
            )));
        }
        if h == 0 || w == 0 {
            return Err(Error::InvalidShape(format!(
                "input images of {h}×{w} pixels: both must be positive"
            )));
        }
        self.desc.check_padding(h, w)?;
        let [oh, ow] = self.desc.output_hw(h, w)?;
        checked_len("dy", &[n, self.desc.out_channels, oh, ow])?;
        checked_len("input", &x_shape)?;
        Ok([n, self.desc.out_channels, oh, ow])
    }

    /// Bytes of the input, dy and weight-gradient buffers [`WeightGrad::encode`] needs for
    /// `x_shape` (tensor bytes rounded up to 4).
    pub fn buffer_bytes(&self, x_shape: [usize; 4]) -> Result<[u64; 3]> {
        let dy = self.dy_shape(x_shape)?;
        let es = self.desc.dtype.size();
        let dw = self.desc.weight_len()? as u64 * 4;
        Ok([bytes(&x_shape, es)?, bytes(&dy, es)?, dw])
    }

    /// The weight gradient `dw[k, c, r, s] = Σ_{n,p,q} dy[n, k, p, q] · x[n, g·C/g + c, p·sh +
    /// r·dh − pad_top, q·sw + s·dw − pad_left]` (padding read per the padding mode), in the
    /// forward weights' layout (`desc.weight_format`: OIHW `(K, C/groups, kh, kw)` by default).
    /// `x` (logical shape `x_shape`) and `dy` (logical `[n, k, oh, ow]`) are laid out per
    /// `desc.data_format`, of `desc.dtype`. An empty batch gives zeros. Blocks on
    /// [`WeightGrad::run_async`].
    #[cfg(feature = "blocking")]
    pub fn run<T: Element>(&self, x: &[T], x_shape: [usize; 4], dy: &[T]) -> Result<Vec<f32>> {
        pollster::block_on(self.run_async(x, x_shape, dy))
    }

    /// [`WeightGrad::run`] without blocking: every error scope and the read-back are awaited.
    pub async fn run_async<T: Element>(&self, x: &[T], x_shape: [usize; 4], dy: &[T]) -> Result<Vec<f32>> {
        self.check_dtype::<T>()?;
        let dy_shape = self.dy_shape(x_shape)?;
        check_len("input", x.len(), &x_shape)?;
        check_len("dy", dy.len(), &dy_shape)?;
        let dw_len = self.desc.weight_len()?;
        if x_shape[0] == 0 {
            return Ok(vec![0.0; dw_len]);
        }
        let [xb, dyb, dwb] = self.buffer_bytes(x_shape)?;
        // Recorded with these passes, not looked up again: the cache may drop them meanwhile.
        let res = self.passes_async(Kind::Weight, x_shape).await?;
        let inputs = [(x, xb), (dy, dyb)];
        let record = |enc: &mut _, bufs: &[_], out: &_| self.record(enc, &res, Some(&bufs[0]), &bufs[1], out);
        self.host_call(&inputs, dwb, dw_len, record).await
    }

    /// The bias gradient `db[k] = Σ_{n,p,q} dy[n, k, p, q]` for dy of logical shape `dy_shape`
    /// (laid out per `desc.data_format`). An empty batch gives zeros. Blocks on
    /// [`WeightGrad::bias_grad_async`].
    #[cfg(feature = "blocking")]
    pub fn bias_grad<T: Element>(&self, dy: &[T], dy_shape: [usize; 4]) -> Result<Vec<f32>> {
        pollster::block_on(self.bias_grad_async(dy, dy_shape))
    }

    /// [`WeightGrad::bias_grad`] without blocking: every error scope and the read-back are awaited.
    pub async fn bias_grad_async<T: Element>(&self, dy: &[T], dy_shape: [usize; 4]) -> Result<Vec<f32>> {
        self.check_dtype::<T>()?;
        self.check_dy_shape(dy_shape)?;
        check_len("dy", dy.len(), &dy_shape)?;
        let k = self.desc.out_channels;
        if dy_shape[0] == 0 {
            return Ok(vec![0.0; k]);
        }
        let dyb = bytes(&dy_shape, self.desc.dtype.size())?;
        let res = self.passes_async(Kind::Bias, dy_shape).await?;
        let record = |enc: &mut _, bufs: &[_], out: &_| self.record(enc, &res, None, &bufs[0], out);
        self.host_call(&[(dy, dyb)], k as u64 * 4, k, record).await
    }

    /// Records the weight gradient into the caller's encoder: reads `x` and `dy` (STORAGE,
    /// `desc.dtype`, `desc.data_format`, at least [`WeightGrad::buffer_bytes`]) and writes every
    /// element of `dw` (STORAGE, f32, the forward weights' layout). Nothing is submitted. A buffer
    /// of another device, or one that is mapped, is refused (`InvalidBuffer`) before anything is
    /// recorded. An empty batch records a pass that zeroes `dw`. Never
    /// blocks: on WebGPU a new shape needs [`WeightGrad::prepare_async`] first.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x_shape: [usize; 4],
        x: &wgpu::Buffer,
        dy: &wgpu::Buffer,
        dw: &wgpu::Buffer,
    ) -> Result<()> {
        let [xb, dyb, dwb] = self.buffer_bytes(x_shape)?;
        check_buffer("input", x, xb)?;
        check_buffer("dy", dy, dyb)?;
        check_buffer("weight-gradient", dw, dwb)?;
        if x == dw || dy == dw {
            return Err(Error::InvalidBuffer(
                "the weight-gradient buffer is also an input: a dispatch cannot bind one buffer read-only and writable"
                    .into(),
            ));
        }
        let res = self.passes(Kind::Weight, x_shape)?;
        // Before binding: a foreign buffer's id would resolve as one of this device's.
        for (what, buffer) in [("input", x), ("dy", dy), ("weight-gradient", dw)] {
            self.ctx.check_owned(what, buffer)?;
        }
        self.record(encoder, &res, Some(x), dy, dw)
    }

    /// Times `iterations` weight-gradient calls on `x_shape` with buffers of its own (filled with
    /// a fixed pattern): GPU time from timestamps around each call, and the wall time, as
    /// [`crate::Conv2d::benchmark`] reports them.
    pub fn benchmark(&self, x_shape: [usize; 4], iterations: usize) -> Result<crate::Timing> {
        let [xb, dyb, dwb] = self.buffer_bytes(x_shape)?;
        let ctx = &self.ctx;
        let (x, dy, dw) = ctx.scoped("allocating benchmark buffers", || {
            let x = benchmark_buffer(ctx, "input", xb, true);
            let dy = benchmark_buffer(ctx, "dy", dyb, true);
            (x, dy, benchmark_buffer(ctx, "weight gradient", dwb, false))
        })?;
        benchmark_recorded(ctx, &|enc| self.encode(enc, x_shape, &x, &dy, &dw), iterations)
    }

    /// Records the bias gradient of dy (logical `dy_shape`) into `db` (STORAGE, K f32 values).
    /// Never blocks: on WebGPU a new shape needs [`WeightGrad::prepare_bias_grad_async`] first.
    pub fn encode_bias_grad(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        dy_shape: [usize; 4],
        dy: &wgpu::Buffer,
        db: &wgpu::Buffer,
    ) -> Result<()> {
        self.check_dy_shape(dy_shape)?;
        check_buffer("dy", dy, bytes(&dy_shape, self.desc.dtype.size())?)?;
        check_buffer("bias-gradient", db, self.desc.out_channels as u64 * 4)?;
        if dy == db {
            return Err(Error::InvalidBuffer("dy and the bias-gradient buffer are the same buffer".into()));
        }
        let res = self.passes(Kind::Bias, dy_shape)?;
        for (what, buffer) in [("dy", dy), ("bias-gradient", db)] {
            self.ctx.check_owned(what, buffer)?;
        }
        self.record(encoder, &res, None, dy, db)
    }

    fn check_dtype<T: Element>(&self) -> Result<()> {
        if T::DTYPE != self.desc.dtype {
            return Err(Error::InvalidDescriptor(format!(
                "host data is {} but the convolution's dtype is {}",
                T::DTYPE,
                self.desc.dtype
            )));
        }
        Ok(())
    }

    fn check_dy_shape(&self, [n, k, oh, ow]: [usize; 4]) -> Result<()> {
        if k != self.desc.out_channels {
            return Err(Error::InvalidShape(format!(
                "dy has {k} channels but the convolution has {} output channels",
                self.desc.out_channels
            )));
        }
        if oh == 0 || ow == 0 {
            return Err(Error::InvalidShape(format!("dy images of {oh}×{ow} pixels: both must be positive")));
        }
        checked_len("dy", &[n, k, oh, ow]).map(|_| ())
    }

    /// Uploads `inputs`, records through `record` into an f32 output of `out_bytes`, reads
    /// back `out_len` values, awaiting the error scopes and the read-back.
    async fn host_call<T: Element>(
        &self,
        inputs: &[(&[T], u64)],
        out_bytes: u64,
        out_len: usize,
        record: impl FnOnce(&mut wgpu::CommandEncoder, &[wgpu::Buffer], &wgpu::Buffer) -> Result<()>,
    ) -> Result<Vec<f32>> {
        let max = self.ctx.limits().max_buffer_size;
        if let Some(b) = inputs.iter().map(|i| i.1).chain([out_bytes]).find(|&b| b > max) {
            return Err(Error::TooLarge(format!(
                "a {b}-byte tensor exceeds the device's {max}-byte buffers"
            )));
        }
        let device = self.ctx.device();
        let allocated = self.ctx.scoped_async("allocating gradient buffers", || {
            let bufs: Vec<wgpu::Buffer> = inputs
                .iter()
                .map(|(data, size)| {
                    let b = buffer(device, "gradient input", *size, wgpu::BufferUsages::COPY_DST);
                    self.ctx.queue().write_buffer(&b, 0, &padded_bytes(data));
                    b
                })
                .collect();
            let out = buffer(device, "gradient", out_bytes, wgpu::BufferUsages::COPY_SRC);
            let readback = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("gradient readback"),
                size: out.size(),
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            (bufs, out, readback)
        });
        let (bufs, out, readback) = allocated.await?;
        let mut enc = device.create_command_encoder(&Default::default());
        record(&mut enc, &bufs, &out)?;
        let ran = self.ctx.scoped_async("running the gradient", || {
            enc.copy_buffer_to_buffer(&out, 0, &readback, 0, out.size());
            self.ctx.queue().submit([enc.finish()]);
        });
        ran.await?;
        let bytes = read_back(&self.ctx, &readback).await?;
        Ok(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes[..out_len * 4]))
    }

    /// [`WeightGrad::passes_async`] for the synchronous calls: never blocks; on WebGPU only a
    /// prepared shape is ready at once.
    fn passes(&self, kind: Kind, shape: [usize; 4]) -> Result<Arc<ShapePasses>> {
        let instead = match kind {
            Kind::Weight => "WeightGrad::prepare_async(x_shape) before encoding a new shape",
            Kind::Bias => "WeightGrad::prepare_bias_grad_async(dy_shape) before encoding a new shape",
        };
        now("building a new shape's gradient passes", instead, self.passes_async(kind, shape))
    }

    /// The cached passes of a shape, else built (their kernels compiled and error scopes awaited).
    async fn passes_async(&self, kind: Kind, shape: [usize; 4]) -> Result<Arc<ShapePasses>> {
        let key = (kind, shape);
        if let Some(p) = self.shapes.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(p.clone());
        }
        let built = Arc::new(self.build(kind, shape).await?);
        let mut cache = self.shapes.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHED_SHAPES {
            cache.clear();
        }
        cache.insert(key, built.clone());
        Ok(built)
    }

    /// The passes of one shape: per slice and batch chunk, the GEMM into the split partials and
    /// the reduce pass into the caller's tensor.
    async fn build(&self, kind: Kind, shape: [usize; 4]) -> Result<ShapePasses> {
        let d = &self.desc;
        let limits = self.ctx.limits();
        let es = d.dtype.size();
        let (x_shape, dy_shape) = match kind {
            Kind::Weight => (shape, self.dy_shape(shape)?),
            Kind::Bias => {
                self.check_dy_shape(shape)?;
                ([0; 4], shape)
            }
        };
        let [n, k, oh, ow] = dy_shape;
        let [_, c, h, w] = x_shape;
        let [kh, kw] = d.kernel;
        let (groups, cg) = match kind {
            Kind::Weight => (d.groups, c / d.groups),
            Kind::Bias => (1, 0),
        };
        let cols = match kind {
            Kind::Weight => cg * kh * kw,
            Kind::Bias => 1,
        };
        let kg = k / groups;
        let problem = GradProblem {
            n,
            x_image: (c * h * w) as u64,
            dy_image: (k * oh * ow) as u64,
            element: es,
            k,
            groups,
            rows: kg,
            cols,
            pixels: oh * ow,
        };
        let storage = Storage::new(d.dtype, !self.ctx.packed_f16());
        let engine = self.engine(kind, storage, (kg, cols, groups), oh * ow)?;
        let device = self.ctx.adapter_info().device_type;
        let plan = grad_split::plan(&problem, engine, &limits, device, self.forced_splits)?;
        let u = |what: &str, v: usize| fit::<u32>(what, v);
        let b = match kind {
            Kind::Weight => GradB::Patches { kernel: [kh, kw], padding_mode: d.padding_mode },
            Kind::Bias => GradB::Ones,
        };
        // Aligned vec4 loads: dy in NCHW with images of a multiple of 4 pixels, and x too where
        // a 1×1 stride-1 unpadded kernel reads the pixel dy has. On the H200 they ran
        // ResNet-50's 1×1 weight gradients at 56² and 28² 1.3–1.6× faster than scalar loads
        // (256→64 at 56²: 0.154 against 0.244 ms; BENCHMARKS.md).
        let dy_vec4 = d.data_format == DataFormat::Nchw && (oh * ow).is_multiple_of(4);
        let x_vec4 = dy_vec4 && kind == Kind::Weight && self.reads_dys_pixels();
        let operands = GradOperands {
            b,
            storage,
            out_w: u("output width", ow)?,
            out_hw: u("output pixels", oh * ow)?,
            dy_vec4,
            x_vec4,
        };
        let gemm = match engine {
            Engine::Registers(block) => product(Operands::Grad(operands), block),
            Engine::Coop(block) => {
                coop_product(TensorOperands::Grad(operands), block, FragType::F16, self.ctx.tensor().subgroup)
            }
        };
        // f16 fragments of f32 data: both operands scaled by their largest magnitudes' powers of two.
        let scaled = matches!(engine, Engine::Coop(_)) && storage == Storage::F32;
        let reduce = grad_reduce();
        let align = limits.min_storage_buffer_offset_alignment as u64;
        let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        // A byte range from the aligned-down start, and the element offset of the start within it.
        let range = |start: u64, len: u64, elem: u64| {
            let aligned = start - start % align;
            ((aligned, (len + start - aligned).next_multiple_of(4)), (start - aligned) / elem)
        };
        // Where dw is stored: rows are contiguous for OIHW weights and the bias, so a slice binds
        // its own rows; HWIO interleaves output channels, so it binds the whole tensor.
        let ws: [usize; 4] = match kind {
            Kind::Weight => d.weight_strides(),
            Kind::Bias => [1, 0, 0, 0],
        };
        let contiguous = kind == Kind::Bias || d.weight_format == WeightFormat::Oihw;
        if !contiguous && (k * cols) as u64 * 4 > max_binding {
            return Err(Error::TooLarge(format!(
                "HWIO weights of {} bytes exceed the device's {max_binding}-byte bindings (OIHW is split by output channel)",
                k * cols * 4
            )));
        }
        let xs = d.data_format.strides(x_shape);
        let ds = d.data_format.strides(dy_shape);
        for (what, v) in [
            ("stride", d.stride[0].max(d.stride[1])),
            ("dilation", d.dilation[0].max(d.dilation[1])),
            ("padded height", h + d.padding.top + d.padding.bottom),
            ("padded width", w + d.padding.left + d.padding.right),
        ] {
            fit::<i32>(what, v)?;
        }
        let mut passes = Vec::new();
        let mut words: Vec<Vec<u32>> = Vec::new();
        let max_len = plan.slices.iter().map(|s| s.1).max().unwrap_or(0);
        for &(k0, len) in &plan.slices {
            let count = u("gradient elements per slice", len * cols)?;
            let (out_bind, dw_offset) = if contiguous {
                range((k0 * ws[0]) as u64 * 4, (len * cols) as u64 * 4, 4)
            } else {
                ((0, (k * cols) as u64 * 4), k0 as u64)
            };
            let (slice_groups, rows) = if groups == 1 { (1, len) } else { (len / kg, kg) };
            let mut chunk_starts: Vec<usize> = (0..n).step_by(plan.chunk.max(1)).collect();
            if n == 0 {
                chunk_starts.clear();
            }
            if chunk_starts.is_empty() {
                // An empty batch: the reduce pass over no splits writes zeros.
                let params = reduce_params(count, 0, false, cols, [kh, kw], ws, dw_offset)?;
                passes.push((
                    reduce.clone(),
                    crate::algo::grid(count as u64, &limits)?,
                    vec![Bind::Part, Bind::Out(out_bind.0, out_bind.1)],
                ));
                words.push(params.words());
            }
            for (i, &first) in chunk_starts.iter().enumerate() {
                let images = plan.chunk.min(n - first);
                let reduction = u("reduction steps per chunk", images * oh * ow)?;
                let per_split =
                    (reduction as usize).div_ceil(plan.splits).next_multiple_of(engine.dims()[2] as usize);
                let split_len = u("reduction steps per split", per_split)?;
                let (dy_bind, dy_offset) =
                    range((first * k * oh * ow) as u64 * es, (images * k * oh * ow) as u64 * es, es);
                u("dy elements per chunk", dy_offset as usize + images * k * oh * ow)?;
                // Grid layer z = split · groups + group, as the operands decode it.
                let [bm, bn, _] = engine.dims().map(|v| v as usize);
                let grid = [
                    u("column blocks", cols.div_ceil(bn))?,
                    u("row blocks", rows.div_ceil(bm))?,
                    u("splits × groups", plan.splits * slice_groups)?,
                ];
                let (binds, params) = match kind {
                    Kind::Weight => {
                        let (x_bind, x_offset) =
                            range((first * c * h * w) as u64 * es, (images * c * h * w) as u64 * es, es);
                        u("input elements per chunk", x_offset as usize + images * c * h * w)?;
                        let p = WeightGradParams {
                            rows: u("rows", rows)?,
                            cols: u("columns", cols)?,
                            groups: u("groups", slice_groups)?,
                            reduction,
                            split_len,
                            group_in: u("channels per group", cg)?,
                            k0: u("first output channel", k0)?,
                            g0: u("first group", if groups == 1 { 0 } else { k0 / kg })?,
                            stride_h: u("stride", d.stride[0])?,
                            stride_w: u("stride", d.stride[1])?,
                            dil_h: fit("dilation", d.dilation[0])?,
                            dil_w: fit("dilation", d.dilation[1])?,
                            x_offset: u("input offset", x_offset as usize)?,
                            in_h: fit("input height", h)?,
                            in_w: fit("input width", w)?,
                            pad_top: fit("top padding", d.padding.top)?,
                            pad_left: fit("left padding", d.padding.left)?,
                            xs_n: u("input stride", xs[0])?,
                            xs_c: u("input stride", xs[1])?,
                            xs_h: u("input stride", xs[2])?,
                            xs_w: u("input stride", xs[3])?,
                            dy_offset: u("dy offset", dy_offset as usize)?,
                            ds_n: u("dy stride", ds[0])?,
                            ds_c: u("dy stride", ds[1])?,
                            ds_h: u("dy stride", ds[2])?,
                            ds_w: u("dy stride", ds[3])?,
                        };
                        let mut binds =
                            vec![Bind::Dy(dy_bind.0, dy_bind.1), Bind::X(x_bind.0, x_bind.1), Bind::Part];
                        if scaled {
                            // Each operand's largest magnitude, into its word: dy's (0), the input's (1).
                            let operands = [
                                (binds[0], images * k * oh * ow, dy_offset, "dy"),
                                (binds[1], images * c * h * w, x_offset, "input"),
                            ];
                            for (word, (bind, count, offset, what)) in (0u64..).zip(operands) {
                                let count = u(&format!("{what} elements per chunk"), count)?;
                                let offset = u(&format!("{what} offset"), offset as usize)?;
                                let (kernel, grid) = crate::algo::amax_pass(storage, count, offset, &limits);
                                passes.push((kernel, grid, vec![bind, Bind::Amax(word)]));
                                words.push(AmaxParams { count, offset }.words());
                            }
                            binds.extend([Bind::Amax(0), Bind::Amax(1)]);
                        }
                        (binds, p.words())
                    }
                    Kind::Bias => {
                        let p = BiasGradParams {
                            rows: u("rows", rows)?,
                            cols: 1,
                            groups: 1,
                            reduction,
                            split_len,
                            k0: u("first output channel", k0)?,
                            dy_offset: u("dy offset", dy_offset as usize)?,
                            ds_n: u("dy stride", ds[0])?,
                            ds_c: u("dy stride", ds[1])?,
                            ds_h: u("dy stride", ds[2])?,
                            ds_w: u("dy stride", ds[3])?,
                        };
                        (vec![Bind::Dy(dy_bind.0, dy_bind.1), Bind::Part], p.words())
                    }
                };
                passes.push((gemm.clone(), grid, binds));
                words.push(params);
                let params = reduce_params(count, plan.splits, i > 0, cols, [kh, kw], ws, dw_offset)?;
                passes.push((
                    reduce.clone(),
                    crate::algo::grid(count as u64, &limits)?,
                    vec![Bind::Part, Bind::Out(out_bind.0, out_bind.1)],
                ));
                words.push(params.words());
            }
        }
        let max_dim = limits.max_compute_workgroups_per_dimension;
        if let Some((kernel, grid, _)) = passes.iter().find(|p| p.1.iter().any(|&g| g > max_dim)) {
            return Err(Error::TooLarge(format!(
                "the {} pass needs a {grid:?} grid but max_compute_workgroups_per_dimension is {max_dim}",
                kernel.name
            )));
        }
        let slot =
            (MAX_PARAMS as u64 * 4).next_multiple_of(limits.min_uniform_buffer_offset_alignment as u64);
        let mut uniform_bytes = Vec::with_capacity(words.len() * slot as usize);
        for w in &words {
            let mut s = bytemuck::cast_slice::<u32, u8>(w).to_vec();
            s.resize(slot as usize, 0);
            uniform_bytes.extend(s);
        }
        let scratch_bytes = (plan.splits * max_len * cols) as u64 * 4;
        let mut built = Vec::with_capacity(passes.len());
        for (i, (kernel, grid, binds)) in passes.into_iter().enumerate() {
            built.push(Pass {
                pipeline: self.ctx.pipeline_async(&kernel).await?,
                grid,
                uniform_offset: i as u64 * slot,
                binds,
            });
        }
        let amax_stride = limits.min_storage_buffer_offset_alignment as u64;
        let allocated = self.ctx.scoped_async("allocating gradient scratch", || {
            let device = self.ctx.device();
            let uniforms = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("gradient params"),
                contents: &uniform_bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let amax = scaled
                .then(|| buffer(device, "max magnitudes", 2 * amax_stride, wgpu::BufferUsages::COPY_DST));
            (uniforms, buffer(device, "split-K partials", scratch_bytes, wgpu::BufferUsages::empty()), amax)
        });
        let (uniforms, scratch, amax) = allocated.await?;
        Ok(ShapePasses { plan, passes: built, uniforms, slot, scratch, amax })
    }

    /// The product core for `kind` in `storage` on a gradient of `(rows, cols, groups)`: the
    /// tensor cores for a `Precision::High` weight gradient where the adapter has them and its
    /// bindings allow dy, the input, the partial sums and the two max-magnitude words (f16
    /// operands: packed f16 means the adapter has no shader f16); else the register-tiled core
    /// on the f32 units. The bias gradient, a sum of dy, always takes the f32 units, and so do
    /// 1×1 stride-1 gradients in NCHW over images of 28² pixels or more, whose f32 path loads
    /// both operands as vec4s: on the H200 the tensor cores lost there (256→64 at 56², batch 32:
    /// 0.197 against 0.154 ms; 512→128 at 28²: 0.145 against 0.136), where the f32 path's scalar
    /// loads elsewhere let them win (3×3 layers 1.05–1.4×; BENCHMARKS.md).
    fn engine(
        &self,
        kind: Kind,
        storage: Storage,
        dims: (usize, usize, usize),
        pixels: usize,
    ) -> Result<Engine> {
        let limits = self.ctx.limits();
        let pointwise_vec4 = self.reads_dys_pixels() && self.desc.data_format == DataFormat::Nchw;
        let tensor = self.desc.precision == Precision::High
            && kind == Kind::Weight
            && !(pointwise_vec4 && pixels >= 28 * 28)
            && storage != Storage::PackedF16
            && limits.max_storage_buffers_per_shader_stage >= 5
            && limits.max_bindings_per_bind_group >= 6;
        if tensor {
            let caps = self.ctx.tensor();
            if let Ok(block) = crate::algo::gemm::tensor_block(dims, Precision::High, caps, &limits) {
                if caps.frag(Precision::High) == Some(block.frag()) {
                    return Ok(Engine::Coop(block));
                }
            }
        }
        grad_split::register_block(&limits).map(Engine::Registers)
    }

    /// Whether the weight gradient reads the input at dy's own pixels: a 1×1 stride-1 unpadded
    /// kernel (whose loads can then be vec4s like dy's).
    fn reads_dys_pixels(&self) -> bool {
        let d = &self.desc;
        d.kernel == [1, 1] && d.stride == [1, 1] && d.padding == Padding::uniform(0)
    }

    /// Bind groups over the caller's buffers, then every pass in one compute pass.
    fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        res: &ShapePasses,
        x: Option<&wgpu::Buffer>,
        dy: &wgpu::Buffer,
        out: &wgpu::Buffer,
    ) -> Result<()> {
        let groups = self.ctx.scoped("binding gradient buffers", || {
            res.passes
                .iter()
                .map(|p| {
                    let mut entries = vec![entry(0, &res.uniforms, (p.uniform_offset, res.slot))];
                    for (b, bind) in (1u32..).zip(&p.binds) {
                        entries.push(match *bind {
                            Bind::X(o, s) => entry(b, x.expect("weight passes have an input"), (o, s)),
                            Bind::Dy(o, s) => entry(b, dy, (o, s)),
                            Bind::Out(o, s) => entry(b, out, (o, s)),
                            Bind::Part => entry(b, &res.scratch, (0, res.scratch.size())),
                            Bind::Amax(i) => {
                                let amax = res.amax.as_ref().expect("scaled passes have max-magnitude words");
                                entry(b, amax, (i * (amax.size() / 2), 4))
                            }
                        });
                    }
                    self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                        label: Some("gradient"),
                        layout: &p.pipeline.get_bind_group_layout(0),
                        entries: &entries,
                    })
                })
                .collect::<Vec<_>>()
        })?;
        if let Some(amax) = &res.amax {
            encoder.clear_buffer(amax, 0, None);
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("weight gradient"),
            timestamp_writes: None,
        });
        for (p, bg) in res.passes.iter().zip(&groups) {
            pass.set_pipeline(&p.pipeline);
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(p.grid[0], p.grid[1], p.grid[2]);
        }
        Ok(())
    }
}

/// A binding of `size` bytes from `offset` (cut at the buffer's end).
fn entry(binding: u32, buffer: &wgpu::Buffer, (offset, size): (u64, u64)) -> wgpu::BindGroupEntry<'_> {
    let size = size.min(buffer.size() - offset);
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer,
            offset,
            size: NonZeroU64::new(size),
        }),
    }
}

/// The reduce pass's uniforms for a slice of `count` elements.
fn reduce_params(
    count: u32,
    splits: usize,
    accumulate: bool,
    cols: usize,
    [kh, kw]: [usize; 2],
    ws: [usize; 4],
    dw_offset: u64,
) -> Result<GradReduceParams> {
    Ok(GradReduceParams {
        count,
        splits: fit("splits", splits)?,
        accumulate: accumulate as u32,
        cols: fit("columns", cols)?,
        kernel_w: fit("kernel width", kw)?,
        kernel_hw: fit("kernel size", kh * kw)?,
        ws_o: fit("weight stride", ws[0])?,
        ws_i: fit("weight stride", ws[1])?,
        ws_h: fit("weight stride", ws[2])?,
        ws_w: fit("weight stride", ws[3])?,
        dw_offset: fit("weight offset", dw_offset as usize)?,
    })
}

/// A STORAGE buffer of at least `bytes` (rounded up to 4, at least 4).
fn buffer(device: &wgpu::Device, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

fn checked_len(what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::InvalidShape(format!("{what} shape {dims:?} overflows usize")))
}

fn check_len(what: &str, len: usize, shape: &[usize; 4]) -> Result<()> {
    let want = checked_len(what, shape)?;
    if len != want {
        return Err(Error::InvalidShape(format!("{what} has {len} values but shape {shape:?} needs {want}")));
    }
    Ok(())
}

/// Bytes of a tensor of `shape` with `element`-byte values, rounded up to 4.
fn bytes(shape: &[usize; 4], element: u64) -> Result<u64> {
    shape
        .iter()
        .try_fold(element, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|b| b.checked_next_multiple_of(4))
        .ok_or_else(|| Error::TooLarge(format!("a tensor of shape {shape:?} overflows u64 bytes")))
}

fn check_buffer(what: &str, buffer: &wgpu::Buffer, bytes: u64) -> Result<()> {
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
