//! A recipe made real: pipelines, the uniform buffer, scratch buffers, the prepared weights,
//! bind groups over the caller's buffers, and recording into an encoder (timestamped through
//! [`Queries`] where timed). The same for every algorithm.

use super::staged::Staged;
use super::{lock, Context, Conv2d};
use crate::algo::{PassSpec, Recipe, Slot};
use crate::codegen::uniform::MAX_PARAMS;
use crate::desc::{Conv2dDesc, WeightFormat};
use crate::error::{Error, Result};
use crate::plan::Plan;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// One dispatch of one piece, ready to record.
pub(super) struct Pass {
    /// The kernel's name, for per-pass timings.
    pub kernel: String,
    pipeline: Arc<wgpu::ComputePipeline>,
    grid: [u32; 3],
    slots: Vec<Slot>,
    uniform_offset: u64,
    first_image: u64,
    images: u64,
    /// The output-channel slice whose weights, bias and prepared weights it binds.
    slice: usize,
}

/// Everything a shape needs on the GPU besides the caller's tensors.
pub(super) struct ShapeResources {
    pub plan: Plan,
    pub passes: Vec<Pass>,
    /// The passes' parameter slots (none for a staged plan, whose bands have their own).
    uniforms: Option<wgpu::Buffer>,
    slot_size: u64,
    /// Prepared weights per output-channel slice, where the path prepares them.
    prepared: Vec<Arc<wgpu::Buffer>>,
    scratch: Vec<wgpu::Buffer>,
    /// Scratch buffers zeroed at the start of every call.
    cleared: Vec<usize>,
    /// Buffers and bind groups of the host-data call, made on its first call for this shape
    /// (taken out while a call uses them).
    pub host: Mutex<Option<HostIo>>,
    /// Bytes of the buffers above that belong to this shape alone (not the prepared weights),
    /// for the shape cache's byte limit.
    bytes: AtomicU64,
    /// The band convolution and its stages, where one image exceeds a binding (then `passes`
    /// is empty).
    staged: Option<Staged>,
}

impl ShapeResources {
    /// Bytes of this shape's own buffers (uniforms, scratch, the blocking API's buffers once made).
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
    pub fn add_bytes(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    pub fn sub_bytes(&self, bytes: u64) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
    /// Whether a call on this shape records nothing (an empty batch).
    pub fn records_nothing(&self) -> bool {
        self.passes.is_empty() && self.staged.is_none()
    }
    /// Whether the plan runs in staged bands.
    pub fn is_staged(&self) -> bool {
        self.staged.is_some()
    }
}

/// One call's bind groups and the tensors they bind (kept for a staged plan's copies, which
/// name buffers rather than bind them). Dropped after recording, so it keeps a caller's
/// buffers alive no longer than the call.
#[derive(Clone)]
pub(super) struct Bound {
    groups: Vec<wgpu::BindGroup>,
    input: wgpu::Buffer,
    output: wgpu::Buffer,
    residual: Option<wgpu::Buffer>,
}

impl Bound {
    pub fn input(&self) -> &wgpu::Buffer {
        &self.input
    }
    pub fn output(&self) -> &wgpu::Buffer {
        &self.output
    }
    pub fn residual(&self) -> Option<&wgpu::Buffer> {
        self.residual.as_ref()
    }
}

/// The blocking API's buffers for one shape.
pub(super) struct HostIo {
    pub input: wgpu::Buffer,
    pub output: wgpu::Buffer,
    pub residual: Option<wgpu::Buffer>,
    pub readback: wgpu::Buffer,
    pub bound: Bound,
}

impl HostIo {
    pub fn bytes(&self) -> u64 {
        let residual = self.residual.as_ref().map_or(0, wgpu::Buffer::size);
        self.input.size() + self.output.size() + residual + self.readback.size()
    }
}

/// Timestamp queries numbered across query sets of [`wgpu::QUERY_SET_MAX_QUERIES`] each (the
/// last may be shorter): query `g` is query `g % MAX` of set `g / MAX`. A pair of queries at an
/// even `g` never straddles two sets, MAX being even.
#[derive(Clone, Copy)]
pub(super) struct Queries<'a>(pub &'a [wgpu::QuerySet]);

impl<'a> Queries<'a> {
    /// The set and index of query `g`.
    pub fn at(self, g: u32) -> (&'a wgpu::QuerySet, u32) {
        let max = wgpu::QUERY_SET_MAX_QUERIES;
        (&self.0[(g / max) as usize], g % max)
    }
}

/// Where a recorded call writes timestamps.
#[derive(Clone, Copy)]
pub(super) enum Stamps<'a> {
    None,
    /// Around the whole call, at this (even) query and the next.
    Call(Queries<'a>, u32),
    /// Around each dispatch, two queries each, from this (even) query on.
    EachPass(Queries<'a>, u32),
    /// At the start of the call only, at this query (a staged plan's first band).
    Begin(Queries<'a>, u32),
    /// At the end of the call only, at this query (a staged plan's last band).
    End(Queries<'a>, u32),
}

/// A STORAGE buffer of at least `bytes` (rounded up to 4, at least 4).
pub(super) fn storage(ctx: &Context, label: &str, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

pub(super) fn entry<'a>(
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

/// Bytes of one uniform slot: the largest `Params` block, aligned for dynamic-free offsets.
fn slot_size(ctx: &Context) -> u64 {
    (MAX_PARAMS as u64 * 4).next_multiple_of(ctx.limits().min_uniform_buffer_offset_alignment as u64)
}

impl Conv2d {
    /// How this convolution's activations sit in memory on its context.
    pub(super) fn storage(&self) -> crate::codegen::Storage {
        crate::codegen::Storage::new(self.desc.dtype, !self.ctx.packed_f16())
    }

    /// The byte range of slice `(k0, len)`'s weights (stored OIHW, so contiguous) and of its
    /// bias, for sub-range bindings; `channel_slice` aligned the starts.
    fn slice_ranges(&self, (k0, len): (usize, usize)) -> [(u64, Option<NonZeroU64>); 2] {
        let [_, cg, kh, kw] = self.desc.weight_shape();
        let row = (cg * kh * kw) as u64 * 4;
        [
            (k0 as u64 * row, NonZeroU64::new(len as u64 * row)),
            (k0 as u64 * 4, NonZeroU64::new(len as u64 * 4)),
        ]
    }

    /// The prepared weights of each slice of a recipe, computing them on first request.
    async fn prepared(&self, recipe: &Recipe, slices: &[(usize, usize)]) -> Result<Vec<Arc<wgpu::Buffer>>> {
        let mut out = Vec::with_capacity(recipe.preps.len());
        for prep in &recipe.preps {
            // Not held across an await: on wasm a second lock of a held mutex panics.
            if let Some(u) = lock(&self.prepared).get(&prep.key) {
                out.push(u.clone());
                continue;
            }
            let pipeline = self.ctx.pipeline_async(&prep.pass.kernel).await?;
            let [(offset, size), _] = self.slice_ranges(slices[prep.pass.slice]);
            let u = self
                .ctx
                .scoped_async("preparing weights", || {
                    let u = storage(&self.ctx, "prepared weights", prep.bytes, wgpu::BufferUsages::empty());
                    let uniform = self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("preparation params"),
                        contents: bytemuck::cast_slice(&prep.pass.params),
                        usage: wgpu::BufferUsages::UNIFORM,
                    });
                    let bg = self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout: &pipeline.get_bind_group_layout(0),
                        entries: &[
                            entry(0, &uniform, 0, None),
                            entry(1, &self.weights, offset, size),
                            entry(2, &u, 0, None),
                        ],
                    });
                    let mut enc = self.ctx.device().create_command_encoder(&Default::default());
                    {
                        let mut pass = enc.begin_compute_pass(&Default::default());
                        pass.set_pipeline(&pipeline);
                        pass.set_bind_group(0, &bg, &[]);
                        let [x, y, z] = prep.pass.grid;
                        pass.dispatch_workgroups(x, y, z);
                    }
                    self.ctx.queue().submit([enc.finish()]);
                    u
                })
                .await?;
            // A call that prepared the same weights meanwhile keeps its own (they are equal).
            let u = lock(&self.prepared).entry(prep.key.clone()).or_insert_with(|| Arc::new(u)).clone();
            out.push(u);
        }
        Ok(out)
    }

    /// Per-shape resources from a plan's recipe.
    pub(super) async fn build_resources(&self, plan: Plan) -> Result<ShapeResources> {
        if let Some(rows) = plan.staged_rows {
            let staged = Staged::new(self, &plan, rows).await?;
            return Ok(ShapeResources {
                bytes: AtomicU64::new(staged.bytes),
                plan,
                passes: Vec::new(),
                uniforms: None,
                slot_size: 0,
                prepared: Vec::new(),
                scratch: Vec::new(),
                cleared: Vec::new(),
                host: Mutex::default(),
                staged: Some(staged),
            });
        }
        let stored = Conv2dDesc { weight_format: WeightFormat::Oihw, ..self.desc.clone() };
        let numerics = (self.weight_amax, self.ctx.tensor().subgroup);
        let recipe = crate::algo::build(&stored, &plan, &self.ctx.limits(), self.storage(), numerics)?;
        let slot_size = slot_size(&self.ctx);
        let prepared = self.prepared(&recipe, &plan.slices()).await?;
        let mut passes = Vec::with_capacity(recipe.passes.len());
        let mut uniform_bytes = Vec::with_capacity(recipe.passes.len() * slot_size as usize);
        for (i, spec) in recipe.passes.iter().enumerate() {
            let PassSpec { kernel, grid, slots, params, first_image, images, slice } = spec;
            let mut slot = bytemuck::cast_slice::<u32, u8>(params).to_vec();
            slot.resize(slot_size as usize, 0);
            uniform_bytes.extend(slot);
            passes.push(Pass {
                kernel: kernel.name.clone(),
                pipeline: self.ctx.pipeline_async(kernel).await?,
                grid: *grid,
                slots: slots.clone(),
                uniform_offset: i as u64 * slot_size,
                first_image: *first_image,
                images: *images,
                slice: *slice,
            });
        }
        let (uniforms, scratch) = self
            .ctx
            .scoped_async("allocating per-shape buffers", || {
                let uniforms = self.ctx.device().create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("params"),
                    contents: &uniform_bytes,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
                let scratch = (recipe.scratch.iter().enumerate())
                    .map(|(i, &(label, bytes))| {
                        // Cleared by `clear_buffer`, a transfer write.
                        let extra = match recipe.cleared.contains(&i) {
                            true => wgpu::BufferUsages::COPY_DST,
                            false => wgpu::BufferUsages::empty(),
                        };
                        storage(&self.ctx, label, bytes, extra)
                    })
                    .collect::<Vec<_>>();
                (uniforms, scratch)
            })
            .await?;
        let bytes = uniforms.size() + scratch.iter().map(wgpu::Buffer::size).sum::<u64>();
        Ok(ShapeResources {
            bytes: AtomicU64::new(bytes),
            plan,
            passes,
            uniforms: Some(uniforms),
            slot_size,
            prepared,
            scratch,
            cleared: recipe.cleared.clone(),
            host: Mutex::default(),
            staged: None,
        })
    }

    /// Bind groups for every pass, binding activations from each piece's aligned-down offset.
    pub(super) fn bind_groups<'a>(
        &'a self,
        res: &'a ShapeResources,
        input: &'a wgpu::Buffer,
        output: &'a wgpu::Buffer,
        residual: Option<&'a wgpu::Buffer>,
    ) -> Result<Bound> {
        let es = self.desc.dtype.size();
        let align = self.ctx.limits().min_storage_buffer_offset_alignment as u64;
        let [_, c, h, w] = res.plan.input;
        let [_, k, oh, ow] = res.plan.output;
        let (in_image, out_image) = ((c * h * w) as u64, (k * oh * ow) as u64);
        let bind = |b: u32, buffer: &'a wgpu::Buffer, pass: &Pass, per_image: u64| {
            let start = pass.first_image * per_image * es;
            let aligned = start - start % align;
            let size = (pass.images * per_image * es + start - aligned)
                .next_multiple_of(4)
                .min(buffer.size() - aligned);
            entry(b, buffer, aligned, NonZeroU64::new(size))
        };
        let mut groups = Vec::new();
        let slices = res.plan.slices();
        for pass in &res.passes {
            let [weights, bias] = self.slice_ranges(slices[pass.slice]);
            let uniforms = res.uniforms.as_ref().expect("a plan with passes has their parameters");
            let mut entries = vec![entry(0, uniforms, pass.uniform_offset, NonZeroU64::new(res.slot_size))];
            for (b, slot) in (1u32..).zip(&pass.slots) {
                entries.push(match *slot {
                    Slot::Input => bind(b, input, pass, in_image),
                    Slot::Output => bind(b, output, pass, out_image),
                    Slot::Residual => {
                        let r = residual.ok_or_else(|| {
                            Error::InvalidBuffer("this convolution adds a residual but none was given".into())
                        })?;
                        bind(b, r, pass, out_image)
                    }
                    Slot::Weights => entry(b, &self.weights, weights.0, weights.1),
                    Slot::Bias => {
                        entry(b, self.bias.as_ref().expect("bias slot only with a bias"), bias.0, bias.1)
                    }
                    Slot::Prepared => entry(b, &res.prepared[pass.slice], 0, None),
                    Slot::Scratch(i) => entry(b, &res.scratch[i], 0, None),
                });
            }
            groups.push(self.ctx.device().create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pass.pipeline.get_bind_group_layout(0),
                entries: &entries,
            }));
        }
        if self.desc.residual && residual.is_none() {
            return Err(Error::InvalidBuffer("this convolution adds a residual but none was given".into()));
        }
        Ok(Bound { groups, input: input.clone(), output: output.clone(), residual: residual.cloned() })
    }

    /// Records the passes: all in one compute pass, timestamped around the whole call or not at
    /// all, or each dispatch in its own timestamped compute pass (for per-kernel timings).
    pub(super) fn record(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        res: &ShapeResources,
        bound: &Bound,
        stamps: Stamps<'_>,
    ) {
        if let Some(staged) = &res.staged {
            return staged.record(encoder, &res.plan, bound, stamps);
        }
        let groups = &bound.groups;
        /// Writes at query `g` where `begin`, at `g + 1` where `end` (`g` even: one set).
        fn writes(
            queries: Queries<'_>,
            g: u32,
            begin: bool,
            end: bool,
        ) -> wgpu::ComputePassTimestampWrites<'_> {
            let (query_set, index) = queries.at(g - g % 2);
            wgpu::ComputePassTimestampWrites {
                query_set,
                beginning_of_pass_write_index: begin.then_some(index),
                end_of_pass_write_index: end.then_some(index + 1),
            }
        }
        let one = |encoder: &mut wgpu::CommandEncoder, timestamp_writes, range: std::ops::Range<usize>| {
            let mut pass = encoder
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("conv2d"), timestamp_writes });
            for (p, bg) in res.passes[range.clone()].iter().zip(&groups[range]) {
                pass.set_pipeline(&p.pipeline);
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(p.grid[0], p.grid[1], p.grid[2]);
            }
        };
        for &i in &res.cleared {
            encoder.clear_buffer(&res.scratch[i], 0, None);
        }
        match stamps {
            Stamps::None => one(encoder, None, 0..res.passes.len()),
            Stamps::Call(q, i) => one(encoder, Some(writes(q, i, true, true)), 0..res.passes.len()),
            Stamps::Begin(q, i) => one(encoder, Some(writes(q, i, true, false)), 0..res.passes.len()),
            Stamps::End(q, i) => one(encoder, Some(writes(q, i, false, true)), 0..res.passes.len()),
            Stamps::EachPass(q, i) => {
                for p in 0..res.passes.len() {
                    one(encoder, Some(writes(q, i + 2 * p as u32, true, true)), p..p + 1);
                }
            }
        }
    }
}
