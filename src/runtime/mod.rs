//! wgpu objects: the device context (`context`), prepared weights, per-shape resources and
//! encoding (here), and timing (`timing`).

mod context;
mod timing;

pub use context::{enumerate_adapters, Context, ContextOptions};
pub use timing::Timing;

use crate::codegen::{self, Epilogue, Kernel};
use crate::desc::{Conv2dDesc, DType, DataFormat, TileLayout, WeightFormat};
use crate::dispatch::{self, Path, Piece, Plan, Product};
use crate::error::{Error, Result};
use crate::lowering::Transforms;
use std::collections::HashMap;
use std::num::NonZeroU64;
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
    /// Transformed weights per (m, layout), each computed once.
    transformed: Mutex<HashMap<(usize, TileLayout), Arc<wgpu::Buffer>>>,
    shapes: Mutex<HashMap<[usize; 4], Arc<ShapeResources>>>,
}

/// What one buffer binding of a pass refers to.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Uniform(u64),
    Input,
    Output,
    Residual,
    Weights,
    Bias,
    Transformed,
    TransformedInput,
    Products,
}

/// One dispatch of one batch chunk.
struct Pass {
    /// The kernel's name, for per-pass timings.
    kernel: String,
    pipeline: Arc<wgpu::ComputePipeline>,
    grid: [u32; 3],
    slots: Vec<Slot>,
    /// The batch index of this pass's first image, and how many images it binds.
    first_image: u64,
    images: u64,
}

/// Everything a shape needs on the GPU besides the caller's tensors.
struct ShapeResources {
    plan: Plan,
    passes: Vec<Pass>,
    uniforms: wgpu::Buffer,
    slot_size: u64,
    transformed: Option<Arc<wgpu::Buffer>>,
    v: Option<wgpu::Buffer>,
    prod: Option<wgpu::Buffer>,
    /// Buffers and bind groups of the blocking API, made on its first call for this shape.
    host: Mutex<Option<HostIo>>,
    /// Bind groups of recent `encode` calls, keyed by the caller's buffers, so a layer encoded
    /// again on the same buffers creates nothing. Holds at most `ENCODE_CACHE` buffer sets alive.
    encoded: Mutex<Vec<(IoKey, Arc<Vec<wgpu::BindGroup>>)>>,
}

type IoKey = (wgpu::Buffer, wgpu::Buffer, Option<wgpu::Buffer>);
const ENCODE_CACHE: usize = 8;

struct HostIo {
    input: wgpu::Buffer,
    output: wgpu::Buffer,
    residual: Option<wgpu::Buffer>,
    readback: wgpu::Buffer,
    bind_groups: Vec<wgpu::BindGroup>,
}

fn strides(format: DataFormat, [_, c, h, w]: [usize; 4]) -> [u32; 4] {
    let s = match format {
        DataFormat::Nchw => [c * h * w, h * w, w, 1],
        DataFormat::Nhwc => [h * w * c, 1, w * c, c],
    };
    s.map(|v| v as u32)
}

fn weight_strides(desc: &Conv2dDesc) -> [u32; 4] {
    let (k, cg) = (desc.out_channels, desc.in_channels / desc.groups);
    let [kh, kw] = desc.kernel;
    let s = match desc.weight_format {
        WeightFormat::Oihw => [cg * kh * kw, kh * kw, kw, 1],
        WeightFormat::Hwio => [1, k, kw * cg * k, cg * k],
    };
    s.map(|v| v as u32)
}

fn element_size(dtype: DType) -> u64 {
    match dtype {
        DType::F32 => 4,
        DType::F16 => 2,
    }
}

fn storage(ctx: &Context, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

impl Conv2d {
    /// Uploads the weights (f32, laid out per `desc.weight_format`) and the bias.
    pub fn new(ctx: &Context, desc: Conv2dDesc, weights: &[f32], bias: Option<&[f32]>) -> Result<Conv2d> {
        desc.validate()?;
        if weights.len() != desc.weight_len() {
            return Err(Error::InvalidShape(format!(
                "expected {} weight values ({} × {} × {} × {}), got {}",
                desc.weight_len(),
                desc.out_channels,
                desc.in_channels / desc.groups,
                desc.kernel[0],
                desc.kernel[1],
                weights.len()
            )));
        }
        match (bias, desc.has_bias) {
            (Some(b), true) if b.len() != desc.out_channels => {
                return Err(Error::InvalidShape(format!(
                    "bias has {} values but there are {} output channels",
                    b.len(),
                    desc.out_channels
                )))
            }
            (Some(_), false) => {
                return Err(Error::InvalidShape("bias given but desc.has_bias is false".into()))
            }
            (None, true) => {
                return Err(Error::InvalidShape("desc.has_bias is set but no bias was given".into()))
            }
            _ => {}
        }
        if desc.dtype == DType::F16 && !ctx.features().contains(wgpu::Features::SHADER_F16) {
            return Err(Error::Unsupported(format!(
                "f16 needs the SHADER_F16 feature, which adapter '{}' lacks",
                ctx.adapter_info().name
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
            transformed: Mutex::default(),
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
    /// descriptor forces, then what `tune` measured for this adapter and shape, then heuristics.
    pub fn plan(&self, input: [usize; 4]) -> Result<Plan> {
        let device = self.ctx.adapter_info().device_type;
        dispatch::plan(&crate::tune::apply(&self.ctx, &self.desc, input), input, &self.ctx.limits(), device)
    }

    /// The logical output shape `[n, k, oh, ow]` for a logical input shape `[n, c, h, w]`.
    pub fn output_shape(&self, input: [usize; 4]) -> Result<[usize; 4]> {
        Ok(self.plan(input)?.output)
    }

    fn epilogue(&self) -> Epilogue {
        Epilogue { bias: self.desc.has_bias, residual: self.desc.residual, activation: self.desc.activation }
    }

    /// The transformed weights for F(m, r) in `layout`, computing them on first request.
    fn transformed_weights(&self, m: usize, r: usize, layout: TileLayout) -> Result<Arc<wgpu::Buffer>> {
        let mut cache = lock(&self.transformed);
        if let Some(u) = cache.get(&(m, layout)) {
            return Ok(u.clone());
        }
        let t = Transforms::for_tile(m, r);
        let (k, c) = (self.desc.out_channels as u32, self.desc.in_channels as u32);
        let a2 = (t.alpha() * t.alpha()) as u64;
        let kernel = codegen::filter_transform(&t, layout);
        let pipeline = self.ctx.pipeline(&kernel)?;
        let u = self.ctx.scoped("transforming weights", || {
            let u = storage(
                &self.ctx,
                "transformed weights",
                a2 * (k.next_multiple_of(4) * c) as u64 * 4,
                wgpu::BufferUsages::empty(),
            );
            let [so, si, sh, sw] = weight_strides(&self.desc);
            let params = kernel.pack(&[
                ("out_channels", k),
                ("in_channels", c),
                ("ws_o", so),
                ("ws_i", si),
                ("ws_h", sh),
                ("ws_w", sw),
                ("k_stride", k.next_multiple_of(4)),
            ]);
            let uniform = self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("filter params"),
                contents: bytemuck::cast_slice(&params),
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let bg = self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &[
                    entry(0, &uniform, 0, None),
                    entry(1, &self.weights, 0, None),
                    entry(2, &u, 0, None),
                ],
            });
            let mut enc = self.ctx.device().create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bg, &[]);
                let [x, y, z] = dispatch::grid((k * c) as u64, &self.ctx.limits());
                pass.dispatch_workgroups(x, y, z);
            }
            self.ctx.queue().submit([enc.finish()]);
            u
        })?;
        let u = Arc::new(u);
        cache.insert((m, layout), u.clone());
        Ok(u)
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

    fn build_resources(&self, plan: Plan) -> Result<ShapeResources> {
        let limits = self.ctx.limits();
        let slot_size = (limits.min_uniform_buffer_offset_alignment as u64).max(128);
        let d = &self.desc;
        let [_, c, h, w] = plan.input;
        let [_, k, oh, ow] = plan.output;
        let xs = strides(d.data_format, plan.input);
        let ys = strides(d.data_format, plan.output);
        let (in_image, out_image) = ((c * h * w) as u64, (k * oh * ow) as u64);
        let ep = self.epilogue();
        let align = limits.min_storage_buffer_offset_alignment as u64;
        let es = element_size(d.dtype);
        // Activations are bound from the aligned-down start of each chunk; the kernels add
        // the remaining element offset, which depends only on the plan.
        let remainder = |first: usize, per_image: u64| ((first as u64 * per_image * es % align) / es) as u32;
        let mut params: Vec<[u32; codegen::MAX_PARAMS]> = Vec::new();
        let mut passes = Vec::new();
        let kernel = |k: Kernel| -> Result<(Kernel, Arc<wgpu::ComputePipeline>)> {
            let pipeline = self.ctx.pipeline(&k)?;
            Ok((k, pipeline))
        };
        let mut push = |values: &[(&str, u32)],
                        (kernel, pipeline): &(Kernel, Arc<wgpu::ComputePipeline>),
                        grid,
                        slots: Vec<Slot>,
                        piece: &Piece| {
            let uniform = params.len() as u64 * slot_size;
            params.push(kernel.pack(values));
            let mut all = vec![Slot::Uniform(uniform)];
            all.extend(slots);
            passes.push(Pass {
                kernel: kernel.name.clone(),
                pipeline: pipeline.clone(),
                grid,
                slots: all,
                first_image: piece.first_image as u64,
                images: piece.images as u64,
            });
        };
        // The epilogue's bindings follow a kernel's own, in the order `codegen::epilogue` declares.
        let with_epilogue = |mut slots: Vec<Slot>| {
            slots.extend(ep.bias.then_some(Slot::Bias));
            slots.extend(ep.residual.then_some(Slot::Residual));
            slots
        };
        // What every kernel may need about the tensors of one piece; each takes its own fields.
        let geometry = |piece: &Piece| -> Vec<(&'static str, u32)> {
            let (x_rem, y_rem) =
                (remainder(piece.first_image, in_image), remainder(piece.first_image, out_image));
            let [xs_n, xs_c, xs_h, xs_w] = xs;
            let [ys_n, ys_c, ys_h, ys_w] = ys;
            vec![
                ("channels", c as u32),
                ("out_channels", k as u32),
                ("in_h", h as u32),
                ("in_w", w as u32),
                ("out_h", oh as u32),
                ("out_w", ow as u32),
                ("pad_top", d.padding.top as u32),
                ("pad_left", d.padding.left as u32),
                ("x_offset", x_rem),
                ("y_offset", y_rem),
                ("r_offset", y_rem),
                ("xs_n", xs_n),
                ("xs_c", xs_c),
                ("xs_h", xs_h),
                ("xs_w", xs_w),
                ("ys_n", ys_n),
                ("ys_c", ys_c),
                ("ys_h", ys_h),
                ("ys_w", ys_w),
                ("k_stride", (k as u32).next_multiple_of(4)),
            ]
        };
        // Winograd pieces: which tiles they cover.
        let tw = plan.tiles_hw()[1];
        let tiles_of = |piece: &Piece| (piece.images * piece.tile_rows * tw) as u32;
        let tiling = |piece: &Piece| -> Vec<(&'static str, u32)> {
            vec![
                ("tiles", tiles_of(piece)),
                ("tiles_w", tw as u32),
                ("tiles_per_image", (piece.tile_rows * tw) as u32),
                ("tile_row0", piece.tile_row0 as u32),
                // Rows of the Winograd-domain matrices are padded to a multiple of 4 for vec4 access.
                ("tile_stride", tiles_of(piece).next_multiple_of(4)),
            ]
        };
        let (mut transformed, mut v, mut prod) = (None, None, None);
        match plan.path {
            Path::Winograd { m, r, layout, product: Product::Fused } => {
                let t = Transforms::for_tile(m, r);
                let fused_k = kernel(codegen::fused(&t, layout, d.dtype, ep))?;
                transformed = Some(self.transformed_weights(m, r, layout)?);
                let block = codegen::FusedBlock::new(m, r);
                for piece in &plan.pieces() {
                    let values = [geometry(piece), tiling(piece)].concat();
                    let slots = with_epilogue(vec![Slot::Input, Slot::Output, Slot::Transformed]);
                    let grid =
                        [tiles_of(piece).div_ceil(block.tiles), (k as u32).div_ceil(block.out_channels), 1];
                    push(&values, &fused_k, grid, slots, piece);
                }
            }
            Path::Winograd { m, r, layout, product: Product::Gemm(gemm) } => {
                let t = Transforms::for_tile(m, r);
                let a2 = (t.alpha() * t.alpha()) as u64;
                let load = dispatch::input_load(d.data_format, m, r, w, d.padding.left);
                let input_k = kernel(codegen::input_transform(&t, layout, d.dtype, load))?;
                let gemm_k = kernel(codegen::gemm(layout, t.alpha(), gemm))?;
                let store = dispatch::output_store(d.data_format, m, ow);
                let output_k = kernel(codegen::output_transform(&t, layout, d.dtype, ep, store))?;
                transformed = Some(self.transformed_weights(m, r, layout)?);
                // Rows of the Winograd-domain matrices are padded to a multiple of 4 for vec4 access.
                let chunk_tiles = ((plan.chunk * plan.band_rows * tw) as u64).next_multiple_of(4);
                let domain = |label, rows: usize| {
                    storage(&self.ctx, label, a2 * rows as u64 * chunk_tiles * 4, wgpu::BufferUsages::empty())
                };
                v = Some(domain("transformed input", c));
                prod = Some(domain("products", k));
                for piece in &plan.pieces() {
                    let values = [geometry(piece), tiling(piece)].concat();
                    let tiles = tiles_of(piece);
                    let grid = dispatch::grid(c as u64 * tiles as u64, &limits);
                    push(&values, &input_k, grid, vec![Slot::Input, Slot::TransformedInput], piece);
                    let grid = [tiles.div_ceil(gemm.bn), (k as u32).div_ceil(gemm.bm), a2 as u32];
                    let slots = vec![Slot::Transformed, Slot::TransformedInput, Slot::Products];
                    push(&values, &gemm_k, grid, slots, piece);
                    let slots = with_epilogue(vec![Slot::Products, Slot::Output]);
                    let grid = dispatch::grid(k as u64 * tiles as u64, &limits);
                    push(&values, &output_k, grid, slots, piece);
                }
            }
            Path::Direct => {
                let pipeline = kernel(codegen::direct(d.dtype, ep))?;
                let (cg, kg) = ((c / d.groups) as u32, (k / d.groups) as u32);
                let kbpg = kg.div_ceil(4);
                let blocks = kbpg * d.groups as u32;
                let [ws_o, ws_i, ws_h, ws_w] = weight_strides(d);
                for piece in &plan.pieces() {
                    let pixels = (piece.images * oh * ow) as u32;
                    let own = [
                        ("pixels", pixels),
                        ("out_hw", (oh * ow) as u32),
                        ("k_blocks_per_group", kbpg),
                        ("group_in", cg),
                        ("group_out", kg),
                        ("kernel_h", d.kernel[0] as u32),
                        ("kernel_w", d.kernel[1] as u32),
                        ("stride_h", d.stride[0] as u32),
                        ("stride_w", d.stride[1] as u32),
                        ("dil_h", d.dilation[0] as u32),
                        ("dil_w", d.dilation[1] as u32),
                        ("blocks", blocks),
                        ("ws_o", ws_o),
                        ("ws_i", ws_i),
                        ("ws_h", ws_h),
                        ("ws_w", ws_w),
                    ];
                    let values = [geometry(piece), own.to_vec()].concat();
                    let slots = with_epilogue(vec![Slot::Input, Slot::Output, Slot::Weights]);
                    let grid = dispatch::grid(blocks as u64 * pixels as u64, &limits);
                    push(&values, &pipeline, grid, slots, piece);
                }
            }
        }
        let uniforms = self.ctx.scoped("allocating per-shape buffers", || {
            let bytes: Vec<u8> = params
                .iter()
                .flat_map(|p| {
                    let mut slot = bytemuck::cast_slice::<u32, u8>(p).to_vec();
                    slot.resize(slot_size as usize, 0);
                    slot
                })
                .collect();
            self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &bytes,
                usage: wgpu::BufferUsages::UNIFORM,
            })
        })?;
        Ok(ShapeResources {
            plan,
            passes,
            uniforms,
            slot_size,
            transformed,
            v,
            prod,
            host: Mutex::default(),
            encoded: Mutex::default(),
        })
    }

    /// Bytes of the input, output and residual tensors for a logical input shape.
    pub fn tensor_bytes(&self, input: [usize; 4]) -> Result<(u64, u64)> {
        let out = self.output_shape(input)?;
        let es = element_size(self.desc.dtype);
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

    /// Bind groups for every pass, binding activations from each chunk's aligned-down offset.
    fn bind_groups<'a>(
        &'a self,
        res: &'a ShapeResources,
        input: &'a wgpu::Buffer,
        output: &'a wgpu::Buffer,
        residual: Option<&'a wgpu::Buffer>,
    ) -> Result<Vec<wgpu::BindGroup>> {
        let es = element_size(self.desc.dtype);
        let align = self.ctx.limits().min_storage_buffer_offset_alignment as u64;
        let [_, c, h, w] = res.plan.input;
        let [_, k, oh, ow] = res.plan.output;
        let (in_image, out_image) = ((c * h * w) as u64, (k * oh * ow) as u64);
        let bind = |b: u32, buffer: &'a wgpu::Buffer, (first_image, chunk): (u64, u64), per_image: u64| {
            let start = first_image * per_image * es;
            let aligned = start - start % align;
            let size =
                (chunk * per_image * es + start - aligned).next_multiple_of(4).min(buffer.size() - aligned);
            entry(b, buffer, aligned, NonZeroU64::new(size))
        };
        let mut groups = Vec::new();
        for pass in &res.passes {
            let mut entries = Vec::new();
            for (b, slot) in (0u32..).zip(&pass.slots) {
                entries.push(match *slot {
                    Slot::Uniform(off) => entry(b, &res.uniforms, off, NonZeroU64::new(res.slot_size)),
                    Slot::Input => bind(b, input, (pass.first_image, pass.images), in_image),
                    Slot::Output => bind(b, output, (pass.first_image, pass.images), out_image),
                    Slot::Residual => {
                        let r = residual.ok_or_else(|| {
                            Error::InvalidBuffer("this convolution adds a residual but none was given".into())
                        })?;
                        bind(b, r, (pass.first_image, pass.images), out_image)
                    }
                    Slot::Weights => entry(b, &self.weights, 0, None),
                    Slot::Bias => entry(b, self.bias.as_ref().expect("bias slot only with a bias"), 0, None),
                    Slot::Transformed => entry(b, res.transformed.as_ref().expect("winograd pass"), 0, None),
                    Slot::TransformedInput => entry(b, res.v.as_ref().expect("winograd pass"), 0, None),
                    Slot::Products => entry(b, res.prod.as_ref().expect("winograd pass"), 0, None),
                });
            }
            groups.push(self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pass.pipeline.get_bind_group_layout(0),
                entries: &entries,
            }));
        }
        Ok(groups)
    }

    fn record(&self, encoder: &mut wgpu::CommandEncoder, res: &ShapeResources, groups: &[wgpu::BindGroup]) {
        self.record_timed(encoder, res, groups, Stamps::None)
    }

    /// Records the passes: all in one compute pass, timestamped around the whole call or not at
    /// all, or each dispatch in its own timestamped compute pass (for per-kernel timings).
    fn record_timed(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        res: &ShapeResources,
        groups: &[wgpu::BindGroup],
        stamps: Stamps<'_>,
    ) {
        let writes = |query_set, index: u32| wgpu::ComputePassTimestampWrites {
            query_set,
            beginning_of_pass_write_index: Some(index),
            end_of_pass_write_index: Some(index + 1),
        };
        let one = |encoder: &mut wgpu::CommandEncoder, timestamp_writes, range: std::ops::Range<usize>| {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("conv2d"), timestamp_writes });
            for (p, bg) in res.passes[range.clone()].iter().zip(&groups[range]) {
                pass.set_pipeline(&p.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(p.grid[0], p.grid[1], p.grid[2]);
            }
        };
        match stamps {
            Stamps::None => one(encoder, None, 0..res.passes.len()),
            Stamps::Call(q, i) => one(encoder, Some(writes(q, i)), 0..res.passes.len()),
            Stamps::EachPass(q, i) => {
                for p in 0..res.passes.len() {
                    one(encoder, Some(writes(q, i + 2 * p as u32)), p..p + 1);
                }
            }
        }
    }

    fn check_io(
        &self,
        shape: [usize; 4],
        input: &wgpu::Buffer,
        output: &wgpu::Buffer,
        residual: Option<&wgpu::Buffer>,
    ) -> Result<()> {
        let (in_bytes, out_bytes) = self.tensor_bytes(shape)?;
        self.check_buffer("input", input, in_bytes)?;
        self.check_buffer("output", output, out_bytes)?;
        match (residual, self.desc.residual) {
            (Some(r), true) => self.check_buffer("residual", r, out_bytes),
            (None, false) => Ok(()),
            (None, true) => {
                Err(Error::InvalidBuffer("this convolution adds a residual but none was given".into()))
            }
            (Some(_), false) => {
                Err(Error::InvalidBuffer("a residual was given but desc.residual is false".into()))
            }
        }
    }

    /// Records the convolution into the caller's encoder, reading `input` and writing
    /// `output` (and adding `residual`), all in `desc.data_format` with `desc.dtype` elements and
    /// `STORAGE` usage. `shape` is the logical input shape `[n, c, h, w]`. Nothing is submitted.
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
        self.record(encoder, &res, &groups);
        Ok(())
    }

    /// The blocking convenience call: uploads `input` (logical shape `shape`, laid out per
    /// `desc.data_format`), runs, and returns the output. `T` must match `desc.dtype`.
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
        match (residual, self.desc.residual) {
            (Some(r), true) if r.len() != out_len => {
                return Err(Error::InvalidShape(format!(
                    "residual has {} values, output has {out_len}",
                    r.len()
                )))
            }
            (None, true) => {
                return Err(Error::InvalidShape("this convolution needs a residual tensor".into()))
            }
            (Some(_), false) => {
                return Err(Error::InvalidShape("residual given but desc.residual is false".into()))
            }
            _ => {}
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
            self.record(&mut enc, &res, &io.bind_groups);
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

/// Where a recorded call writes timestamps.
#[derive(Clone, Copy)]
enum Stamps<'a> {
    None,
    /// Around the whole call, at this query index and the next.
    Call(&'a wgpu::QuerySet, u32),
    /// Around each dispatch, from this query index on.
    EachPass(&'a wgpu::QuerySet, u32),
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

fn entry<'a>(
    binding: u32,
    buffer: &'a wgpu::Buffer,
    offset: u64,
    size: Option<NonZeroU64>,
) -> wgpu::BindGroupEntry<'a> {
    wgpu::BindGroupEntry {
        binding,
        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding { buffer, offset, size }),
    }
}
