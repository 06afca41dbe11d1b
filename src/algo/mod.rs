//! One module per algorithm. Each says whether it applies, plans a shape against the adapter's
//! limits (`plan`: its path parameters and how the batch is split) and turns a plan into a
//! [`Recipe`] (`build`): the kernels, grids, uniform values and bindings of every pass, plus
//! the one-time weight preparation and the scratch buffers it needs. Recipes are plain data,
//! so the runtime that turns them into wgpu objects is the same for every algorithm, and the
//! recipes themselves can be inspected in unit tests.

pub(crate) mod depthwise;
pub(crate) mod direct;
pub(crate) mod gemm;
pub(crate) mod winograd;

use crate::codegen::uniform::fit;
use crate::codegen::{Epilogue, Kernel, Storage, WORKGROUP};
use crate::desc::Conv2dDesc;
use crate::error::{Error, Result};
use crate::plan::{Choice, Path, Piece, Plan};
use wgpu::Limits;

/// What one buffer binding of a pass refers to. The uniform block is always binding 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The caller's input, bound from the pass's first image.
    Input,
    /// The caller's output, bound from the pass's first image.
    Output,
    /// The caller's residual, bound like the output.
    Residual,
    /// The weights as uploaded.
    Weights,
    /// The bias.
    Bias,
    /// The prepared weights ([`Recipe::prep`]).
    Prepared,
    /// Scratch buffer i of [`Recipe::scratch`].
    Scratch(usize),
}

/// One dispatch.
#[derive(Clone, Debug)]
pub(crate) struct PassSpec {
    /// What runs.
    pub kernel: Kernel,
    /// Workgroups.
    pub grid: [u32; 3],
    /// Bindings 1.. in order.
    pub slots: Vec<Slot>,
    /// The uniform block's words.
    pub params: Vec<u32>,
    /// The batch index of the first image the pass binds, and how many.
    pub first_image: u64,
    /// Images bound.
    pub images: u64,
    /// The output-channel slice whose weights, bias and prepared weights it binds.
    pub slice: usize,
}

/// A one-time transformation of the weights into the layout a path multiplies with, run when
/// a shape first needs it and cached per `key` for the life of the convolution.
#[derive(Clone, Debug)]
pub(crate) struct Prep {
    /// Identifies the prepared layout (paths that share it share the buffer).
    pub key: String,
    /// Size of the prepared buffer.
    pub bytes: u64,
    /// The pass that writes it (slots: [`Slot::Weights`], [`Slot::Prepared`]); its `slice`
    /// says which slice's weights it reads and prepares.
    pub pass: PassSpec,
}

impl Prep {
    /// A preparation that runs `kernel` once over `invocations` element-wise invocations,
    /// reading the weights and writing `bytes` of prepared weights under `key`.
    fn new(
        key: String,
        bytes: u64,
        kernel: Kernel,
        invocations: u64,
        params: Vec<u32>,
        limits: &Limits,
    ) -> Result<Prep> {
        let pass = PassSpec {
            kernel,
            grid: grid(invocations, limits)?,
            slots: vec![Slot::Weights, Slot::Prepared],
            params,
            first_image: 0,
            images: 0,
            slice: 0,
        };
        Ok(Prep { key, bytes, pass })
    }
}

/// Everything a plan needs on the GPU besides the caller's tensors.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recipe {
    /// The dispatches of one call, in order.
    pub passes: Vec<PassSpec>,
    /// Scratch buffers `(label, bytes)`, allocated once per shape.
    pub scratch: Vec<(&'static str, u64)>,
    /// The weight preparation of each slice, if the path has one.
    pub preps: Vec<Prep>,
    /// Scratch buffers (indices into `scratch`) cleared to zero at the start of every call.
    pub cleared: Vec<usize>,
}

impl Recipe {
    /// A scratch word for the input's largest magnitude (the tensor cores' activation scale),
    /// cleared at the start of every call; its slot.
    fn input_max_word(&mut self) -> Slot {
        self.cleared.push(self.scratch.len());
        self.scratch.push(("input max", 4));
        Slot::Scratch(self.scratch.len() - 1)
    }

    /// The max-magnitude pass into `word` over the whole images `piece` binds (all channels: a
    /// superset of a slice's is a safe maximum).
    fn push_input_max(
        &mut self,
        plan: &Plan,
        g: &Geometry,
        limits: &Limits,
        piece: &Piece,
        word: Slot,
    ) -> Result<()> {
        use crate::codegen::uniform::{AmaxParams, Uniform};
        let [_, c, h, w] = plan.input;
        let count: u32 = fit("input elements per pass", piece.images * c * h * w)?;
        let params = AmaxParams { count, offset: g.x_offset(piece) - g.x_channel };
        let (kernel, grid) = amax_pass(g.storage, count, params.offset, limits);
        self.push(&kernel, grid, vec![Slot::Input, word], params.words(), piece);
        Ok(())
    }

    fn push(&mut self, kernel: &Kernel, grid: [u32; 3], slots: Vec<Slot>, params: Vec<u32>, piece: &Piece) {
        self.passes.push(PassSpec {
            kernel: kernel.clone(),
            grid,
            slots,
            params,
            first_image: piece.first_image as u64,
            images: piece.images as u64,
            slice: 0,
        });
    }
}

/// The recipe for a plan: each output-channel slice built as a convolution of its own over the
/// same activations, its output and input offset by the slice's first channel and group.
/// `desc` must describe the weights as they are stored on the GPU (OIHW).
/// `weight_amax` is the weights' largest magnitude (the tensor cores' weight scale), `subgroup`
/// the adapter's subgroup size.
pub(crate) fn build(
    desc: &Conv2dDesc,
    plan: &Plan,
    limits: &Limits,
    storage: Storage,
    (weight_amax, subgroup): (f32, u32),
) -> Result<Recipe> {
    let mut recipe = Recipe::default();
    let kg = desc.out_channels / desc.groups;
    for (slice, (k0, len)) in plan.slices().into_iter().enumerate() {
        let sub = slice_desc(desc, &plan.path, len);
        let sub_plan = Plan { output: [plan.output[0], len, plan.output[2], plan.output[3]], ..plan.clone() };
        let mut g = Geometry::new(desc, plan, limits)?;
        g.storage = storage;
        g.weight_amax = weight_amax;
        g.subgroup = subgroup;
        g.k = fit("output channels", len)?;
        g.c = fit("channels", sub.in_channels)?;
        g.y_channel = fit("output channel offset", k0 * g.ys[1] as usize)?;
        g.x_channel =
            fit("input channel offset", k0 / kg * (desc.in_channels / desc.groups) * g.xs[1] as usize)?;
        let build_one = |sub: &Conv2dDesc| match sub_plan.path {
            Path::Core { choice: Choice::Winograd { m, layout, kernels }, kernel: [r, _], .. } => {
                winograd::build(sub, &sub_plan, &g, limits, (m, r, layout, kernels))
            }
            Path::Core { choice: Choice::Gemm(engine), precision, .. } => {
                gemm::build(sub, &sub_plan, &g, limits, (engine, precision, subgroup))
            }
            Path::Depthwise => depthwise::build(sub, &sub_plan, &g, limits),
            Path::Direct => direct::build(sub, &sub_plan, &g, limits),
        };
        let mut part = build_one(&sub)?;
        // Too many storage bindings for the adapter (wgpu's downlevel limits allow 4): the
        // convolution writes its sums, and a pass of its own applies the epilogue.
        let most = (limits.max_storage_buffers_per_shader_stage as usize)
            .min((limits.max_bindings_per_bind_group as usize).saturating_sub(1));
        if part.passes.iter().any(|p| p.slots.len() > most) {
            let bare = Conv2dDesc {
                has_bias: false,
                residual: false,
                activation: Default::default(),
                ..sub.clone()
            };
            part = build_one(&bare)?;
            part.passes.extend(epilogue_passes(&sub, &sub_plan, &g, limits)?);
            if let Some(p) = part.passes.iter().find(|p| p.slots.len() > most) {
                return Err(Error::Unsupported(format!(
                    "the {} pass binds {} storage buffers but max_storage_buffers_per_shader_stage is {} \
                     (and max_bindings_per_bind_group {})",
                    p.kernel.name,
                    p.slots.len(),
                    limits.max_storage_buffers_per_shader_stage,
                    limits.max_bindings_per_bind_group
                )));
            }
        }
        recipe.passes.extend(part.passes.into_iter().map(|p| PassSpec { slice, ..p }));
        recipe.preps.extend(part.preps.into_iter().map(|p| Prep {
            key: format!("{}#{slice}", p.key),
            pass: PassSpec { slice, ..p.pass },
            ..p
        }));
        for c in part.cleared {
            if !recipe.cleared.contains(&c) {
                recipe.cleared.push(c);
            }
        }
        // Scratch is per shape and reused by every slice: keep the largest of each.
        for (i, (label, bytes)) in part.scratch.into_iter().enumerate() {
            match recipe.scratch.get_mut(i) {
                Some(s) => s.1 = s.1.max(bytes),
                None => recipe.scratch.push((label, bytes)),
            }
        }
    }
    // Every grid must fit the adapter's workgroups per dimension (each split planned so; a
    // grid past it would be wgpu's validation error at dispatch).
    let max = limits.max_compute_workgroups_per_dimension;
    let passes = recipe.passes.iter().chain(recipe.preps.iter().map(|p| &p.pass));
    if let Some(p) = passes.into_iter().find(|p| p.grid.iter().any(|&d| d > max)) {
        return Err(Error::TooLarge(format!(
            "the {} pass needs a {:?} grid but max_compute_workgroups_per_dimension is {max}",
            p.kernel.name, p.grid
        )));
    }
    Ok(recipe)
}

/// Checks the limits every kernel needs whatever the shape: the element-wise kernels'
/// `WORKGROUP` invocations, one uniform block of `MAX_PARAMS` words per pass (bound at the
/// uniform offset alignment), and the storage buffers of the split-epilogue fallback (a
/// convolution's input, output and weights). Refused with the limit's name, before wgpu would
/// refuse a pipeline or a bind group in its own words.
pub(crate) fn check_limits(limits: &Limits) -> Result<()> {
    use crate::codegen::uniform::MAX_PARAMS;
    let uniform =
        (MAX_PARAMS as u64 * 4).next_multiple_of(limits.min_uniform_buffer_offset_alignment.max(1) as u64);
    let needs: [(&str, u64, u64, &str); 8] = [
        (
            "max_compute_invocations_per_workgroup",
            limits.max_compute_invocations_per_workgroup as u64,
            WORKGROUP as u64,
            "the element-wise kernels' workgroups",
        ),
        (
            "max_compute_workgroup_size_x",
            limits.max_compute_workgroup_size_x as u64,
            WORKGROUP as u64,
            "the element-wise kernels' workgroups",
        ),
        (
            "max_uniform_buffer_binding_size",
            limits.max_uniform_buffer_binding_size,
            uniform,
            "one pass's parameter block, bound at the uniform offset alignment",
        ),
        (
            "max_uniform_buffers_per_shader_stage",
            limits.max_uniform_buffers_per_shader_stage as u64,
            1,
            "the parameter block",
        ),
        (
            "max_storage_buffers_per_shader_stage",
            limits.max_storage_buffers_per_shader_stage as u64,
            MIN_STORAGE_BUFFERS,
            "a convolution's input, output and weights (the epilogue then runs as a pass of its own)",
        ),
        ("max_bind_groups", limits.max_bind_groups as u64, 1, "every pass's bind group"),
        (
            "max_bindings_per_bind_group",
            limits.max_bindings_per_bind_group as u64,
            MIN_STORAGE_BUFFERS + 1,
            "the parameter block and three storage buffers",
        ),
        (
            "max_compute_workgroups_per_dimension",
            limits.max_compute_workgroups_per_dimension as u64,
            1,
            "any dispatch",
        ),
    ];
    for (name, have, need, what) in needs {
        if have < need {
            return Err(Error::Unsupported(format!(
                "the device limit {name} is {have} but the kernels need at least {need} ({what})"
            )));
        }
    }
    Ok(())
}

/// Storage buffers a pass of the fallback needs at most: a convolution's input, output and
/// weights; its epilogue pass the output, bias and residual.
const MIN_STORAGE_BUFFERS: u64 = 3;

/// The epilogue of `desc` as passes of their own, one per chunk of whole images.
fn epilogue_passes(desc: &Conv2dDesc, plan: &Plan, g: &Geometry, limits: &Limits) -> Result<Vec<PassSpec>> {
    use crate::codegen::uniform::{EpilogueParams, Uniform};
    let ep = epilogue(desc);
    let kernel = crate::codegen::epilogue_pass(g.storage, ep);
    let mut recipe = Recipe::default();
    for piece in plan.pieces().iter() {
        // The piece's output window (whole images, or its band of rows).
        let window = g.window(desc, plan, piece, true)?;
        let out_hw = window.out_h as usize * window.out_w as usize;
        if out_hw == 0 {
            continue;
        }
        let elements: u32 = fit("output elements per pass", piece.images * plan.output[1] * out_hw)?;
        let y_offset = window.y_offset;
        let [ys_n, ys_c, ys_h, ys_w] = g.ys;
        let params = EpilogueParams {
            elements,
            out_channels: g.k,
            out_hw: fit("output pixels", out_hw)?,
            out_w: window.out_w,
            y_offset,
            r_offset: y_offset,
            ys_n,
            ys_c,
            ys_h,
            ys_w,
        };
        let slots = with_epilogue(ep, vec![Slot::Output]);
        recipe.push(&kernel, grid(elements as u64, limits)?, slots, params.words(), piece);
    }
    Ok(recipe.passes)
}

/// The descriptor of one output-channel slice of `len` channels: whole groups, the path's
/// choices kept.
pub(crate) fn slice_desc(desc: &Conv2dDesc, path: &Path, len: usize) -> Conv2dDesc {
    let kg = desc.out_channels / desc.groups;
    let groups = if desc.groups == 1 { 1 } else { len / kg };
    let sub = Conv2dDesc {
        out_channels: len,
        in_channels: desc.in_channels / desc.groups * groups,
        groups,
        ..desc.clone()
    };
    // The path's own choice, forced as a tuned choice is; the plan's choice never contradicts
    // what the descriptor forces.
    match path.choice().and_then(|choice| choice.forced(&sub)) {
        Some(forced) => forced,
        None => sub,
    }
}

/// Output channels per slice so that every weight binding of `path` fits: the raw weights of a
/// slice, and its prepared weights (Winograd's transformed weights are α²/r² times larger, the
/// GEMM's packed ones padded to 4 rows). A slice is whole groups, a multiple of 4 channels, and
/// starts its weight binding (and its bias binding, where there is a bias) on the adapter's offset alignment. All channels when
/// everything fits.
pub(crate) fn channel_slice(desc: &Conv2dDesc, path: &Path, limits: &Limits) -> Result<usize> {
    let [k, cg, kh, kw] = desc.weight_shape();
    let kg = k / desc.groups;
    let raw = (cg * kh * kw) as u64 * 4;
    let prepared = match *path {
        Path::Core { choice: Choice::Winograd { m, .. }, kernel: [r, _], .. } => {
            ((m + r - 1) * (m + r - 1) * desc.in_channels) as u64 * 4
        }
        // Packed f32, or f16 padded like the f32 packing: never more than the raw weights' rows.
        Path::Core { choice: Choice::Gemm(_), .. } => raw,
        Path::Depthwise | Path::Direct => 0,
    };
    let per_channel = raw.max(prepared);
    let align = limits.min_storage_buffer_offset_alignment as u64;
    let max_binding =
        limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).saturating_sub(align);
    // Padding rows to 4 adds up to 3 channels' worth.
    let fits = |len: u64| len.next_multiple_of(4) * per_channel <= max_binding;
    if fits(k as u64) {
        return Ok(k);
    }
    let aligned = |len: u64| {
        (desc.groups == 1 || len.is_multiple_of(kg as u64))
            && (len * raw).is_multiple_of(align)
            // The bias binding starts at the slice's first channel: only with a bias.
            && (!desc.has_bias || (len * 4).is_multiple_of(align))
            && len.is_multiple_of(4)
    };
    let most = (max_binding / per_channel.max(1)).min(k as u64);
    (1..=most).rev().find(|&len| fits(len) && aligned(len)).map(|len| len as usize).ok_or_else(|| {
        Error::TooLarge(format!(
            "one output channel's weights need {per_channel} bytes (prepared for {path}); with the \
             device's {max_binding}-byte bindings and {align}-byte offset alignment no slice of output \
             channels fits (input channels are not split)"
        ))
    })
}

/// Checks that the sizes every kernel of `plan` receives fit their 32-bit uniform fields.
pub(crate) fn check_fields(desc: &Conv2dDesc, plan: &Plan, limits: &Limits) -> Result<()> {
    Geometry::new(desc, plan, limits).map(|_| ())
}

/// The epilogue a descriptor asks for.
pub(crate) fn epilogue(desc: &Conv2dDesc) -> Epilogue {
    Epilogue { bias: desc.has_bias, residual: desc.residual, activation: desc.activation }
}

/// The epilogue's bindings follow a kernel's own, in the order `Epilogue::wgsl` declares.
fn with_epilogue(ep: Epilogue, mut slots: Vec<Slot>) -> Vec<Slot> {
    slots.extend(ep.bias.then_some(Slot::Bias));
    slots.extend(ep.residual.then_some(Slot::Residual));
    slots
}

/// The sizes every kernel may need about one call's tensors, checked once to fit the kernels'
/// 32-bit fields.
pub(crate) struct Geometry {
    pub c: u32,
    pub k: u32,
    pub in_h: i32,
    pub in_w: i32,
    pub out_h: u32,
    pub out_w: u32,
    pub pad_top: i32,
    pub pad_left: i32,
    /// Input strides `[n, c, y, x]` in elements.
    pub xs: [u32; 4],
    /// Output strides.
    pub ys: [u32; 4],
    /// Weight strides `[o, i, y, x]`.
    pub ws: [u32; 4],
    /// How activations sit in memory (f16 packed into words where the adapter has no f16).
    pub storage: Storage,
    /// Element offset of this slice's first output channel within an output image.
    pub y_channel: u32,
    /// Element offset of this slice's first input channel (its first group's) within an image.
    pub x_channel: u32,
    /// The weights' largest magnitude (for the tensor cores' weight scale).
    pub weight_amax: f32,
    /// Invocations per subgroup (the cooperative-matrix kernels' workgroups assume it).
    pub subgroup: u32,
    in_image: u64,
    out_image: u64,
    element: u64,
    align: u64,
}

impl Geometry {
    fn new(desc: &Conv2dDesc, plan: &Plan, limits: &Limits) -> Result<Geometry> {
        let [_, c, h, w] = plan.input;
        let [_, k, oh, ow] = plan.output;
        let strides = |s: [usize; 4], what: &str| -> Result<[u32; 4]> {
            Ok([fit(what, s[0])?, fit(what, s[1])?, fit(what, s[2])?, fit(what, s[3])?])
        };
        // Stride and dilation only ever multiply coordinates that stay inside the padded input,
        // so checking them and the padded size bounds every coordinate a kernel computes.
        for (what, v) in [
            ("stride", desc.stride[0].max(desc.stride[1])),
            ("dilation", desc.dilation[0].max(desc.dilation[1])),
            ("padded height", h + desc.padding.top + desc.padding.bottom),
            ("padded width", w + desc.padding.left + desc.padding.right),
        ] {
            fit::<i32>(what, v)?;
        }
        Ok(Geometry {
            c: fit("channels", c)?,
            k: fit("output channels", k)?,
            in_h: fit("input height", h)?,
            in_w: fit("input width", w)?,
            out_h: fit("output height", oh)?,
            out_w: fit("output width", ow)?,
            pad_top: fit("top padding", desc.padding.top)?,
            pad_left: fit("left padding", desc.padding.left)?,
            xs: strides(desc.data_format.strides(plan.input), "input stride")?,
            ys: strides(desc.data_format.strides(plan.output), "output stride")?,
            ws: strides(desc.weight_strides(), "weight stride")?,
            storage: Storage::new(desc.dtype, true),
            y_channel: 0,
            x_channel: 0,
            weight_amax: 0.0,
            subgroup: 0,
            in_image: (c * h * w) as u64,
            out_image: (k * oh * ow) as u64,
            element: desc.dtype.size(),
            align: limits.min_storage_buffer_offset_alignment as u64,
        })
    }

    /// Activations are bound from the aligned-down start of each piece; kernels add the
    /// remaining element offset.
    fn remainder(&self, first: usize, per_image: u64) -> u32 {
        ((first as u64 * per_image * self.element % self.align) / self.element) as u32
    }
    /// The input's element offset within its binding for a piece (and slice).
    pub fn x_offset(&self, piece: &Piece) -> u32 {
        self.remainder(piece.first_image, self.in_image) + self.x_channel
    }
    /// The output's (and residual's) element offset within its binding for a piece (and slice).
    pub fn y_offset(&self, piece: &Piece) -> u32 {
        self.remainder(piece.first_image, self.out_image) + self.y_channel
    }
}

/// One piece's output window as a sub-convolution of the whole image: its output offset moved
/// to the window's first row and column, and the padding moved up and left by the stride
/// times as much (negative past the real padding), so the kernels compute every coordinate as
/// they would unbanded and every padding mode reads exactly what it reads unbanded. Pointwise
/// gathers read no padding: their input offset moves instead.
pub(crate) struct Window {
    pub x_offset: u32,
    pub y_offset: u32,
    pub pad_top: i32,
    pub pad_left: i32,
    pub out_h: u32,
    pub out_w: u32,
}

impl Geometry {
    /// The window of `piece` (whole images where the plan has no bands).
    pub(crate) fn window(
        &self,
        desc: &Conv2dDesc,
        plan: &Plan,
        piece: &Piece,
        pointwise: bool,
    ) -> Result<Window> {
        let (oy0, rows) = plan.output_rows(piece);
        let (ox0, cols) = (piece.col0, piece.cols);
        let [_, _, ys_h, ys_w] = self.ys.map(|v| v as usize);
        let [_, _, xs_h, xs_w] = self.xs.map(|v| v as usize);
        let [sh, sw] = desc.stride;
        let y_offset = fit("output offset", self.y_offset(piece) as usize + oy0 * ys_h + ox0 * ys_w)?;
        let (mut x_offset, mut pad_top, mut pad_left) = (self.x_offset(piece), self.pad_top, self.pad_left);
        if pointwise {
            x_offset = fit("input offset", x_offset as usize + oy0 * sh * xs_h + ox0 * sw * xs_w)?;
        } else {
            pad_top -= fit::<i32>("band row", oy0 * sh)?;
            pad_left -= fit::<i32>("band column", ox0 * sw)?;
        }
        Ok(Window {
            x_offset,
            y_offset,
            pad_top,
            pad_left,
            out_h: fit("output rows per pass", rows)?,
            out_w: fit("output columns per pass", cols)?,
        })
    }
}

/// The non-Winograd paths plan bands in output pixels per pass (`band`): whole images where
/// they fit, else bands of whole rows, else segments of one row. Returns (output rows, output
/// columns) per pass; Winograd's `band` is in tile rows already.
pub(crate) fn band_shape(path: &Path, output: [usize; 4], band: usize) -> (usize, usize) {
    let [_, _, oh, ow] = output;
    let ow = ow.max(1);
    match path.algo() {
        crate::desc::Algo::Winograd => (band, ow),
        _ if band >= ow => ((band / ow).clamp(1, oh.max(1)), ow),
        _ => (1, band.max(1)),
    }
}

/// Whether the epilogue of `desc` runs as a pass of its own on this adapter (a kernel with its
/// epilogue would bind more than `slots` plus the epilogue's storage buffers allow).
pub(crate) fn epilogue_split(desc: &Conv2dDesc, slots: usize, limits: &Limits) -> bool {
    let most = (limits.max_storage_buffers_per_shader_stage as usize)
        .min((limits.max_bindings_per_bind_group as usize).saturating_sub(1));
    slots + desc.has_bias as usize + desc.residual as usize > most
}

/// The adapter's binding and grid budget, shared by every algorithm's split.
pub(crate) struct Budget {
    /// The largest binding, less one offset alignment of slack (activations are bound from an
    /// aligned-down offset).
    pub max_binding: u64,
    /// Workgroups per grid dimension.
    pub max_groups: u64,
    /// Invocations of an element-wise kernel (its grid folded into two dimensions, its index
    /// 32 bits).
    pub max_invocations: u64,
    /// Whole images whose input and output each fit one binding.
    pub by_activations: u64,
}

impl Budget {
    /// The budget for a call's input `[n, c, h, w]` and output `[n, k, oh, ow]`.
    pub fn new(input: [usize; 4], output: [usize; 4], element: u64, limits: &Limits) -> Result<Budget> {
        let [_, c, h, w] = input;
        let [_, k, oh, ow] = output;
        let slack = limits.min_storage_buffer_offset_alignment as u64;
        let max_binding =
            limits.max_storage_buffer_binding_size.min(limits.max_buffer_size).saturating_sub(slack);
        let max_groups = limits.max_compute_workgroups_per_dimension as u64;
        let activations = ((c * h * w) as u64 * element).max((k * oh * ow) as u64 * element);
        if activations > max_binding {
            return Err(Error::TooLarge(format!(
                "one image's input or output needs a {activations}-byte binding but the device allows \
                 {max_binding} bytes (an image is split into bands for the grid, but every pass binds \
                 whole images of input and output)"
            )));
        }
        Ok(Budget {
            max_binding,
            max_groups,
            // The kernels index their invocations in 32 bits.
            max_invocations: (max_groups * max_groups * WORKGROUP as u64).min(u32::MAX as u64),
            by_activations: max_binding / activations.max(1),
        })
    }

    /// (images per chunk, output pixels per pass) for a path that runs `per_pixel` units of a
    /// resource per output pixel, of which a pass allows `max`: whole images where one fits,
    /// else one image in bands (see [`band_shape`]).
    pub fn pixels(&self, n: usize, [oh, ow]: [usize; 2], per_pixel: u64, max: u64) -> Result<(usize, usize)> {
        let per_image = (oh * ow) as u64;
        let most = max / per_pixel.max(1);
        if most == 0 {
            return Err(Error::TooLarge(format!(
                "one output pixel needs {per_pixel} invocations, more than a pass's grid allows ({max})"
            )));
        }
        Ok(if per_image <= most {
            (self.images(n, per_image * per_pixel, max), per_image as usize)
        } else {
            (1, most as usize)
        })
    }

    /// Whole images per chunk for a path whose pieces need `per_image` units of a resource
    /// that allows `max` units per pass.
    pub fn images(&self, n: usize, per_image: u64, max: u64) -> usize {
        (max / per_image.max(1)).min(self.by_activations).min(n as u64).max(1) as usize
    }
}

/// A 2-D grid of `WORKGROUP`-wide workgroups covering `invocations`, folded so each dimension
/// stays within the limit; kernels recover the linear index as `x + y · groups_x · WORKGROUP`.
/// `TooLarge` where even the folded grid's y exceeds the limit.
pub(crate) fn grid(invocations: u64, limits: &Limits) -> Result<[u32; 3]> {
    let groups = invocations.div_ceil(WORKGROUP as u64).max(1);
    let max = (limits.max_compute_workgroups_per_dimension as u64).max(1);
    let x = groups.min(max);
    let y = groups.div_ceil(x);
    if y > max {
        return Err(Error::TooLarge(format!(
            "{invocations} invocations need {groups} workgroups of {WORKGROUP}, more than a {max}×{max} \
             grid (max_compute_workgroups_per_dimension {max})"
        )));
    }
    Ok([x as u32, y as u32, 1])
}

/// The max-magnitude pass over `count` elements from element `offset` of its binding, and its
/// grid: at most 1024 workgroups (8 per SM on the H100, enough to saturate memory), each
/// folding its share, so few atomics.
pub(crate) fn amax_pass(storage: Storage, count: u32, offset: u32, limits: &Limits) -> (Kernel, [u32; 3]) {
    let vec4 = crate::codegen::amax_loads_vec4(count, offset);
    let loads = if vec4 { count / 4 } else { count };
    let groups = loads.div_ceil(256 * 4).clamp(1, 1024.min(limits.max_compute_workgroups_per_dimension));
    (crate::codegen::amax(storage, vec4), [groups, 1, 1])
}

/// Whether a workgroup of `[x, y]` invocations using `bytes` of workgroup memory is within the
/// adapter's limits.
pub(crate) fn workgroup_fits([x, y]: [u32; 2], bytes: u32, limits: &Limits) -> bool {
    x * y <= limits.max_compute_invocations_per_workgroup
        && x <= limits.max_compute_workgroup_size_x
        && y <= limits.max_compute_workgroup_size_y
        && bytes <= limits.max_compute_workgroup_storage_size
}

/// Bytes per staged tensor-core operand element: f16 fragments for `High`, f32 for `Highest`.
pub(crate) fn operand_bytes(precision: crate::desc::Precision) -> u32 {
    match precision {
        crate::desc::Precision::High => 2,
        crate::desc::Precision::Highest => 4,
    }
}

/// Whether a tensor block's workgroup (its subgroups of the adapter's size, its workgroup
/// memory for the operands of `precision`) fits the adapter.
pub(crate) fn tensor_fits(
    b: &crate::blocks::TensorBlock,
    precision: crate::desc::Precision,
    caps: crate::plan::TensorCaps,
    limits: &Limits,
) -> bool {
    let [wm, wn] = b.subgroups();
    // The tensor passes bind the input's max-magnitude word besides input, output and weights,
    // and the max-magnitude pass runs 256 invocations per workgroup.
    caps.subgroup > 0
        && limits.max_storage_buffers_per_shader_stage >= 4
        && limits.max_bindings_per_bind_group >= 5
        && workgroup_fits([256, 1], 0, limits)
        && workgroup_fits([wm * wn * caps.subgroup, 1], b.workgroup_bytes(operand_bytes(precision)), limits)
}

/// Checks that an engine's workgroup fits the adapter (a register block's invocations and
/// workgroup memory; a tensor block's as [`tensor_fits`] says, for the operands of `precision`
/// on `caps`): the one refusal of a forced or tuned block that Winograd and the GEMM share.
pub(crate) fn check_engine(
    engine: &crate::blocks::Engine,
    precision: crate::desc::Precision,
    caps: crate::plan::TensorCaps,
    limits: &Limits,
) -> Result<()> {
    match engine {
        crate::blocks::Engine::Registers(b) if !workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), limits) => {
            Err(Error::Unsupported(format!(
                "product block {b} needs {} invocations and {} bytes of workgroup memory, more than this adapter allows",
                b.invocations(),
                b.workgroup_bytes()
            )))
        }
        crate::blocks::Engine::Coop(b) if !tensor_fits(b, precision, caps, limits) => Err(Error::Unsupported(format!(
            "tensor block {b} needs {} bytes of workgroup memory or more invocations than this adapter allows",
            b.workgroup_bytes(operand_bytes(precision))
        ))),
        _ => Ok(()),
    }
}

/// The product block for `rows` output channels and `columns` columns, from the H100 tuning
/// runs in `BENCHMARKS.md`: as tall as the rows need, narrow where there are few columns, 64×64
/// with 8×4 per invocation for the big ResNet products; the first that fits the adapter.
pub(crate) fn auto_block(rows: usize, columns: usize, limits: &Limits) -> Result<crate::blocks::GemmBlock> {
    use crate::blocks::GemmBlock as B;
    let fits = |b: &B| workgroup_fits(b.workgroup_size(), b.workgroup_bytes(), limits);
    let preference: &[B] = match (rows, columns) {
        (..=16, _) => &[B::K16],
        (..=32, _) => &[B::K32, B::K16],
        (_, ..=64) => &[B::NARROW, B::K32, B::K16],
        (128.., 256..) | (256.., 128..) => &[B::B64, B::B64_SHALLOW, B::K32, B::K16],
        (_, ..=1023) => &[B::K32, B::K16],
        _ => &[B::B64, B::B64_SHALLOW, B::K32, B::K16],
    };
    preference
        .iter()
        .copied()
        .find(fits)
        .ok_or_else(|| Error::Unsupported("no product block fits this adapter's workgroup limits".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_folds_past_the_dimension_limit() {
        let limits = Limits::default();
        let [x, y, _] = grid(70_000 * 64, &limits).unwrap();
        assert!(x <= 65535 && (x as u64) * (y as u64) >= 70_000);
        let seven = Limits { max_compute_workgroups_per_dimension: 7, ..Limits::default() };
        assert_eq!(grid(49 * 64, &seven).unwrap(), [7, 7, 1]);
        assert!(matches!(grid(49 * 64 + 1, &seven), Err(Error::TooLarge(_))));
    }

    #[test]
    fn bands_are_whole_images_rows_or_segments_within_32_bit_indices() {
        let limits = Limits::default();
        let budget = Budget::new([1, 1, 1, 1], [1, 1, 1, 1], 4, &limits).unwrap();
        assert_eq!(budget.max_invocations, u32::MAX as u64);
        // 100 pixels per pass: whole images of 64, bands of 10 rows of 10, segments of 100.
        assert_eq!(budget.pixels(4, [8, 8], 1, 100).unwrap(), (1, 64));
        assert_eq!(budget.pixels(4, [20, 10], 1, 100).unwrap(), (1, 100));
        assert!(matches!(budget.pixels(1, [2, 2], 101, 100), Err(Error::TooLarge(_))));
        assert_eq!(band_shape(&Path::Direct, [1, 4, 20, 10], 100), (10, 10));
        assert_eq!(band_shape(&Path::Direct, [1, 4, 1, 5000], 100), (1, 100));
        assert_eq!(band_shape(&Path::Direct, [1, 4, 8, 8], 64), (8, 8));
    }
}
