//! The product core (`shaders/product.wgsl`): one register-tiled GEMM generator for every
//! algorithm that multiplies matrices. The block's loads, multiply-adds and stores are
//! unrolled here; what differs between algorithms is only where the operands come from and
//! where the result goes ([`Operands`]).

use super::epilogue::Epilogue;
use super::padding;
use super::skeleton::fill;
use super::storage::{act_header, buffer, raw_f16_loads, Access, Storage};
use super::uniform::{GemmParams, GroupedProductParams, PackParams, ProductParams, Uniform};
use super::weight_grad::GradOperands;
use super::winograd::wino_index;
use super::{Kernel, WORKGROUP};
use crate::blocks::GemmBlock;
use crate::desc::{PaddingMode, TileLayout};

const PRODUCT_SKELETON: &str = include_str!("../../shaders/product.wgsl");
const PACK_SKELETON: &str = include_str!("../../shaders/pack_weights.wgsl");
const CONV_OPERANDS: &str = include_str!("../../shaders/conv/operands.wgsl");
const GATHER_WINDOW: &str = include_str!("../../shaders/conv/gather_window.wgsl");
const GATHER_POINTWISE: &str = include_str!("../../shaders/conv/gather_pointwise.wgsl");
const GATHER_POINTWISE_VEC4: &str = include_str!("../../shaders/conv/gather_pointwise_vec4.wgsl");
const GATHER_POINTWISE_NHWC_VEC4: &str = include_str!("../../shaders/conv/gather_pointwise_nhwc_vec4.wgsl");
const STORE_SCALAR: &str = include_str!("../../shaders/conv/store_scalar.wgsl");
const STORE_VEC4: &str = include_str!("../../shaders/conv/store_vec4.wgsl");

/// How the convolution GEMM reads its B operand (input pixels × reduction index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Gather {
    /// im2col indexing: any kernel size, stride, dilation and padding.
    Window,
    /// 1×1, no padding (any stride): column q of channel c is one element.
    Pointwise,
    /// Pointwise in NCHW with images of a multiple of 4 pixels: four columns are one aligned vec4.
    PointwiseVec4,
    /// Pointwise (any stride) in NHWC with channels (per group) a multiple of 4: four reduction steps of one
    /// column are one aligned vec4, transposed into the tile.
    PointwiseNhwcVec4,
}

/// Where the convolution GEMM's operands come from and its results go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ConvOperands {
    /// Kernel `[kh, kw]`, compiled in so the reduction index splits by constants.
    pub kernel: [usize; 2],
    /// How B is read.
    pub gather: Gather,
    /// Whether results are stored as aligned vec4s of four pixels (NCHW, 4 | pixels per image).
    pub vec4_store: bool,
    /// How activations sit in memory.
    pub storage: Storage,
    /// The output stage.
    pub epilogue: Epilogue,
    /// What the padding reads as (im2col gathers only; pointwise reads have no padding).
    pub padding_mode: PaddingMode,
}

impl ConvOperands {
    /// `3x3_window_store4_f32_bias_relu`: the part of a kernel name the operands decide.
    pub(super) fn describe(&self) -> String {
        let gather = match self.gather {
            Gather::Window => "window",
            Gather::Pointwise => "pointwise",
            Gather::PointwiseVec4 => "pointwise_vec4",
            Gather::PointwiseNhwcVec4 => "pointwise_nhwc_vec4",
        };
        let store = if self.vec4_store { "_store4" } else { "" };
        format!(
            "{}x{}_{gather}{store}_{}{}{}",
            self.kernel[0],
            self.kernel[1],
            self.storage,
            self.epilogue.suffix(),
            padding::suffix(self.padding_mode)
        )
    }
}

/// Where the product core's operands come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Operands {
    /// The Winograd batched product: z is the tile element, A the transformed weights
    /// (`[c][k]`), B the transformed input (`[c][tile]`), C the products (`[k][tile]`).
    Winograd {
        /// Winograd-domain layout.
        layout: TileLayout,
        /// Tile side α.
        alpha: usize,
        /// One product per (tile element, channel group): grid layer z = e · groups + g.
        grouped: bool,
    },
    /// The convolution as a GEMM: z is the channel group, A the packed weights
    /// (`[group][reduction][k]`), B the input pixels gathered per (channel, ky, kx), C the output.
    Conv(ConvOperands),
    /// A parameter gradient as a GEMM over (image, output pixel): z is (split, channel group),
    /// A is dy, B the input's patches (or ones, for the bias), C the split's partial sums.
    Grad(GradOperands),
}

pub(super) const WINOGRAD_OPERANDS: &str = "\
@group(0) @binding(1) var<storage, read> u: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> prod: array<vec4<f32>>;";

pub(super) const WINOGRAD_FUNCTIONS: &str = "\
fn load_a(e: u32, c: u32, row: u32) -> vec4<f32> {
    if (c >= params.channels || row >= params.k_stride) {
        return vec4<f32>(0.0);
    }
    return u[wino_index(e, c, row, params.channels, params.k_stride) / 4u];
}

fn load_b(e: u32, c: u32, col: u32) -> vec4<f32> {
    if (c >= params.channels || col >= params.tile_stride) {
        return vec4<f32>(0.0);
    }
    return v[wino_index(e, c, col, params.channels, params.tile_stride) / 4u];
}

fn store(e: u32, row: u32, col: u32, value: vec4<f32>) {
    if (row < params.out_channels && col < params.tile_stride) {
        prod[wino_index(e, row, col, params.out_channels, params.tile_stride) / 4u] = value;
    }
}";

/// The grouped Winograd product's operands: grid layer z is (tile element e, group g); the
/// reduction runs over the group's input channels, rows over its output channels.
pub(super) const GROUPED_WINOGRAD_FUNCTIONS: &str = "\
fn load_a(z: u32, c: u32, row: u32) -> vec4<f32> {
    if (c >= params.group_in || row >= params.k_stride) {
        return vec4<f32>(0.0);
    }
    let g = z % params.groups;
    return u[wino_index(z / params.groups, g * params.group_in + c, row, params.channels, params.k_stride) / 4u];
}

fn load_b(z: u32, c: u32, col: u32) -> vec4<f32> {
    if (c >= params.group_in || col >= params.tile_stride) {
        return vec4<f32>(0.0);
    }
    let g = z % params.groups;
    return v[wino_index(z / params.groups, g * params.group_in + c, col, params.channels, params.tile_stride) / 4u];
}

fn store(z: u32, row: u32, col: u32, value: vec4<f32>) {
    if (row < params.group_out && col < params.tile_stride) {
        let g = z % params.groups;
        prod[wino_index(z / params.groups, g * params.group_out + row, col, params.out_channels, params.tile_stride) / 4u] = value;
    }
}";

/// `line` once per lane of a vec4, `{j}` replaced by the lane: the unrolled per-column code.
pub(super) fn lanes(line: &str) -> String {
    (0..4).map(|j| line.replace("{j}", &j.to_string())).collect::<Vec<_>>().join("\n")
}

/// How B is gathered (`shaders/conv/gather_*.wgsl`): `columns`, once per thread and load slot
/// before the reduction loop, decodes four columns; `load_b` reads them at a reduction index,
/// as f32 through `ld_x`, or with `raw_f16` as stored through `ldr_x` (f16 activations bound
/// for f16 fragments).
fn gather_wgsl(c: &ConvOperands, raw_f16: bool) -> String {
    let (x_t, ld) = if raw_f16 { ("f16", "ldr_x") } else { ("f32", "ld_x") };
    let types = [("X_T", x_t.to_string()), ("LD", ld.to_string())];
    match c.gather {
        Gather::Window => {
            let inside = match c.padding_mode {
                PaddingMode::Zeros => "let inside = (iy >= vec4<i32>(0)) & (iy < vec4<i32>(params.in_h)) & (ix >= vec4<i32>(0)) & (ix < vec4<i32>(params.in_w));\nlet py = iy;\nlet px = ix;",
                // Padded modes read every coordinate; only columns past the end read zero.
                _ => "let inside = c.iy > vec4<i32>(-0x20000000);\nlet py = pad_coord4(iy, params.in_h);\nlet px = pad_coord4(ix, params.in_w);",
            };
            let columns = lanes(
                "let b{j} = column_base(g, col + {j}u);\n\
                 c.base[{j}] = b{j}.x;\n\
                 c.iy[{j}] = select(-0x40000000, i32(b{j}.y * params.stride_h) - params.pad_top, col + {j}u < params.columns);\n\
                 c.ix[{j}] = i32(b{j}.z * params.stride_w) - params.pad_left;",
            );
            let loads = lanes(&format!(
                "if (inside[{{j}}]) {{ v[{{j}}] = {ld}(at[{{j}}] + u32(py[{{j}}]) * params.xs_h + u32(px[{{j}}]) * params.xs_w); }}"
            ));
            let values = [("COLUMNS", columns), ("INSIDE", inside.to_string()), ("LOADS", loads)];
            fill(GATHER_WINDOW, &[&values[..], &types[..1]].concat())
        }
        Gather::Pointwise => {
            let columns = lanes(
                "let b{j} = column_base(g, col + {j}u);\n\
                 c[{j}] = select(NONE, b{j}.x + b{j}.y * params.stride_h * params.xs_h + b{j}.z * params.stride_w * params.xs_w, col + {j}u < params.columns);",
            );
            let loads =
                lanes(&format!("if (c[{{j}}] != NONE) {{ v[{{j}}] = {ld}(c[{{j}}] + k * params.xs_c); }}"));
            fill(GATHER_POINTWISE, &[&[("COLUMNS", columns), ("LOADS", loads)][..], &types[..1]].concat())
        }
        Gather::PointwiseVec4 => fill(GATHER_POINTWISE_VEC4, &types),
        Gather::PointwiseNhwcVec4 => fill(GATHER_POINTWISE_NHWC_VEC4, &types),
    }
}

/// How results are stored (`shaders/conv/store_*.wgsl`): `outputs` decodes a column group's
/// pixels once, `store` writes one row of them through the epilogue.
fn store_wgsl(c: &ConvOperands) -> String {
    if c.vec4_store {
        return fill(STORE_VEC4, &[]);
    }
    let offsets = lanes(
        "let q{j} = col + {j}u;\n\
         let pix{j} = q{j} % params.out_hw;\n\
         o.rel[{j}] = (q{j} / params.out_hw) * params.ys_n + (pix{j} / params.out_w) * params.ys_h + (pix{j} % params.out_w) * params.ys_w;\n\
         o.ok[{j}] = q{j} < params.columns;",
    );
    let stores = lanes(
        "if (o.ok[{j}]) {\n    let rel = o.rel[{j}] + k * params.ys_c;\n    st_y(params.y_offset + rel, finish(value[{j}], k, rel));\n}",
    );
    fill(STORE_SCALAR, &[("OFFSETS", offsets), ("STORES", stores)])
}

/// The convolution operands' WGSL (`shaders/conv/operands.wgsl`): the bindings, and the
/// functions the product core calls — `load_a` (packed weights), the gather, the epilogue and
/// the store.
/// `weights_f16`: the packed weights are f16 (the tensor-core core's prepared operand). Also
/// returns the element types `load_a` and `load_b` return: f16 where the weights, or f16
/// activations bound for f16 weights' fragments, are read as stored; else f32.
pub(super) fn conv_wgsl(c: &ConvOperands, weights_f16: bool) -> (String, String, [&'static str; 2]) {
    let x_width = if matches!(c.gather, Gather::PointwiseVec4 | Gather::PointwiseNhwcVec4) { 4 } else { 1 };
    let y_width = if c.vec4_store { 4 } else { 1 };
    let (x, mut x_fns) = buffer(c.storage, "x", "x", 1, Access::Read, x_width);
    // f16 fragments read f16 activations as stored: a round trip through f32 costs two
    // conversions per element.
    let raw_f16 = weights_f16 && c.storage == Storage::F16;
    if raw_f16 {
        x_fns.push_str(&format!("\n\n{}", raw_f16_loads("x", "x", x_width)));
    }
    let (y, y_fns) = buffer(c.storage, "y", "y", 2, Access::Write, y_width);
    let w_t = if weights_f16 { "f16" } else { "f32" };
    let mut bindings = vec![x, y, format!("@group(0) @binding(3) var<storage, read> w: array<vec4<{w_t}>>;")];
    let w_load = "w[(g * params.group_stride + k * params.k_stride + row) / 4u]".to_string();
    let [ep_bindings, ep_fn] = c.epilogue.wgsl(c.storage, 4, y_width);
    bindings.extend(ep_bindings.1.lines().map(String::from).filter(|l| !l.is_empty()));
    let [kh, kw] = c.kernel;
    let values = [
        ("ACCESSORS", format!("{x_fns}\n\n{y_fns}")),
        ("PAD_FUNCTIONS", padding::functions(c.padding_mode)),
        ("W_LOAD", w_load),
        ("W_T", w_t.to_string()),
        ("KW", kw.to_string()),
        ("KHW", (kh * kw).to_string()),
        ("GATHER", gather_wgsl(c, raw_f16)),
        ("EPILOGUE", ep_fn.1),
        ("STORE", store_wgsl(c)),
    ];
    let x_t = if raw_f16 { "f16" } else { "f32" };
    (bindings.join("\n"), fill(CONV_OPERANDS, &values), [w_t, x_t])
}

/// Where one prefetched vec4 register goes in workgroup memory.
pub(super) enum StageAt<'a> {
    /// Four consecutive rows (A) or columns (B) at one reduction step: the register `reg` holds
    /// tile vec4 number `idx` of operand `name`, at step `idx / (width / 4)`, position
    /// `(idx % (width / 4)) · 4`.
    Vec { name: &'a str, idx: &'a str, reg: &'a str },
    /// Four consecutive reduction steps `kq · 4 + j` of row (A) or column (B) `lc` of operand
    /// `name` (NHWC pointwise B; both operands of the weight gradient).
    AlongK { name: &'a str, kq: &'a str, lc: &'a str, reg: &'a str },
}

/// How the product core's loaders read each operand (`load_a` / `load_b`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Loads {
    /// A is read four consecutive reduction steps of one row at a time (`load_a(z, k, row)`
    /// returns steps `k..k + 4`) and transposed into the tile, where its reduction index is the
    /// contiguous one in memory; else four rows of one step.
    pub a_along_k: bool,
    /// B likewise (`load_b(z, k, cols)`: steps `k..k + 4` of one column).
    pub b_along_k: bool,
    /// B is gathered: `columns(z, col)` decodes a load's columns once, before the reduction
    /// loop, and `load_b` takes what it returned.
    pub b_gathered: bool,
}

impl Loads {
    /// The loads of the convolution operands (`Some`) or of plain operands (`None`).
    pub(super) fn of_conv(conv: Option<ConvOperands>) -> Loads {
        Loads {
            a_along_k: false,
            b_along_k: matches!(conv, Some(c) if c.gather == Gather::PointwiseNhwcVec4),
            b_gathered: conv.is_some(),
        }
    }
}

/// The operand loads of a product core, as unrolled statements: `first` before the reduction
/// loop (decoding gathered columns once and loading step 0), `next` loading step `k0 + BK`
/// into the same registers, `stage` writing the registers to workgroup memory (by `at`).
pub(super) struct Prefetch {
    pub first: Vec<String>,
    pub next: Vec<String>,
    pub stage: Vec<String>,
}

/// The loads of `[bm, bn, bk]` operand tiles spread over `threads` invocations (`li`), through
/// the operand functions `load_a`/`load_b` (and `columns` for gathered B). The registers are
/// `vec4<f32>`, or, with `convert` = (type, function), that type, each load passed through
/// `{function}_a` / `{function}_b` (the tensor-core core keeps them as f16: half the registers).
pub(super) fn prefetch(
    loads: Loads,
    [bm, bn, bk]: [u32; 3],
    threads: u32,
    convert: Option<(&str, &str)>,
    at: impl Fn(StageAt) -> String,
) -> Prefetch {
    let reg_type = convert.map_or("vec4<f32>", |c| c.0);
    let wrap = |name: &str, call: String| match convert {
        Some((_, f)) => format!("{f}_{name}({call})"),
        None => call,
    };
    let (mut stage, mut first, mut next) = (Vec::new(), Vec::new(), Vec::new());
    for (name, load, width, vecs) in [("a", "load_a", "BM", bk * bm / 4), ("b", "load_b", "BN", bk * bn / 4)]
    {
        let origin = if name == "a" { "row0" } else { "col0" };
        let along_k = if name == "a" { loads.a_along_k } else { loads.b_along_k };
        let gathered = name == "b" && loads.b_gathered;
        for it in 0..vecs.div_ceil(threads) {
            let (reg, idx) = (format!("p{name}{it}"), format!("li + {}u", it * threads));
            let guarded = |body: String| {
                if (it + 1) * threads > vecs {
                    format!("if ({idx} < {vecs}u) {{ {body} }}")
                } else {
                    body
                }
            };
            if along_k {
                // Four consecutive reduction steps of one row or column, transposed into the
                // tile: neighbouring invocations read neighbouring steps.
                let (kq, lc) = (format!("(({idx}) % (BK / 4u))"), format!("(({idx}) / (BK / 4u))"));
                let target = if gathered {
                    first.push(format!("let cols{it} = columns(z, {origin} + {lc});"));
                    format!("cols{it}")
                } else {
                    format!("{origin} + {lc}")
                };
                first.push(format!("var {reg} = {reg_type}();"));
                let fetch = |k: &str| {
                    format!("{reg} = {};", wrap(name, format!("{load}(z, {k} + {kq} * 4u, {target})")))
                };
                first.push(guarded(fetch("0u")));
                next.push(guarded(fetch("k0 + BK")));
                stage.push(guarded(at(StageAt::AlongK { name, kq: &kq, lc: &lc, reg: &reg })));
                continue;
            }
            let position = format!("{origin} + (({idx}) % ({width} / 4u)) * 4u");
            // A gathered B operand decodes its four columns once, before the reduction loop.
            let target = if gathered {
                first.push(format!("let cols{it} = columns(z, {position});"));
                format!("cols{it}")
            } else {
                position
            };
            let fetch = |k: &str| {
                format!(
                    "{reg} = {};",
                    wrap(name, format!("{load}(z, {k} + ({idx}) / ({width} / 4u), {target})"))
                )
            };
            first.push(format!("var {reg} = {reg_type}();"));
            first.push(guarded(fetch("0u")));
            next.push(guarded(fetch("k0 + BK")));
            stage.push(guarded(at(StageAt::Vec { name, idx: &idx, reg: &reg })));
        }
    }
    Prefetch { first, next, stage }
}

/// The product kernel for `operands` with workgroup block `block`.
pub(crate) fn product(operands: Operands, block: GemmBlock) -> Kernel {
    let [wg_x, wg_y] = block.workgroup_size();
    let threads = block.invocations();
    let (row_groups, col_groups) = (block.tm() / 4, block.tn() / 4);
    let conv = match operands {
        Operands::Conv(c) => Some(c),
        Operands::Winograd { .. } | Operands::Grad(_) => None,
    };
    let loads = match operands {
        // Both gradient operands are contiguous along the reduction (output pixels).
        Operands::Grad(_) => Loads { a_along_k: true, b_along_k: true, b_gathered: true },
        _ => Loads::of_conv(conv),
    };
    let (mut decl, mut fma, mut stores) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..row_groups {
        fma.push(format!("let a{i} = a_tile[kk * (BM / 4u) + {}u + lid.y];", i * wg_y));
    }
    for j in 0..col_groups {
        fma.push(format!("let b{j} = b_tile[kk * (BN / 4u) + {}u + lid.x];", j * wg_x));
    }
    // The convolution decodes each stored column group's pixels once, before its rows.
    let store_col = |j: u32| format!("col0 + ({}u + lid.x) * 4u", j * wg_x);
    if conv.is_some() {
        for j in 0..col_groups {
            stores.push(format!("let out{j} = outputs({});", store_col(j)));
        }
    }
    for i in 0..row_groups {
        for (r, lane) in ["x", "y", "z", "w"].iter().enumerate() {
            let row = i * 4 + r as u32;
            for j in 0..col_groups {
                decl.push(format!("var acc{row}_{j} = vec4<f32>(0.0);"));
                fma.push(format!("acc{row}_{j} += a{i}.{lane} * b{j};"));
                let target = if conv.is_some() { format!("out{j}") } else { store_col(j) };
                stores.push(format!(
                    "store(z, row0 + ({}u + lid.y) * 4u + {r}u, {target}, acc{row}_{j});",
                    i * wg_y
                ));
            }
        }
    }
    // Operand tiles are double-buffered through registers: the next step's global loads are
    // issued before this step's multiply-adds, so their latency hides behind the arithmetic.
    let dims = [block.bm(), block.bn(), block.bk()];
    let Prefetch { first, next, stage } = prefetch(loads, dims, threads, None, |at| match at {
        StageAt::Vec { name, idx, reg } => format!("{name}_tile[{idx}] = {reg};"),
        StageAt::AlongK { name, kq, lc, reg } => {
            let width = if name == "a" { "BM" } else { "BN" };
            (0..4)
                .map(|j| {
                    format!("{name}_tile[({kq} * 4u + {j}u) * ({width} / 4u) + {lc} / 4u][{lc} % 4u] = {reg}[{j}];")
                })
                .collect::<Vec<_>>()
                .join(" ")
        }
    });
    let (header, params, bindings, operand_fns, reduction, name) = match operands {
        Operands::Winograd { layout, alpha, grouped: false } => (
            String::new(),
            ProductParams::wgsl(),
            WINOGRAD_OPERANDS.to_string(),
            format!("{}\n\n{WINOGRAD_FUNCTIONS}", wino_index(layout, alpha)),
            "params.channels",
            format!("gemm_a{alpha}_{layout}"),
        ),
        Operands::Winograd { layout, alpha, grouped: true } => (
            String::new(),
            GroupedProductParams::wgsl(),
            WINOGRAD_OPERANDS.to_string(),
            format!("{}\n\n{GROUPED_WINOGRAD_FUNCTIONS}", wino_index(layout, alpha)),
            "params.group_in",
            format!("gemm_a{alpha}_{layout}_grouped"),
        ),
        Operands::Conv(c) => {
            let (bindings, fns, _) = conv_wgsl(&c, false);
            (
                storage_header(c.storage),
                GemmParams::wgsl(),
                bindings,
                fns,
                "params.reduction",
                format!("conv_gemm_{}", c.describe()),
            )
        }
        Operands::Grad(g) => {
            let (params, bindings, fns) = g.wgsl();
            (storage_header(g.storage), params, bindings, fns, "params.split_len", g.name())
        }
    };
    let values = [
        ("HEADER", header),
        ("PARAMS", params),
        ("BINDINGS", bindings),
        ("OPERANDS", operand_fns),
        ("REDUCTION", reduction.to_string()),
        ("BM", block.bm().to_string()),
        ("BN", block.bn().to_string()),
        ("BK", block.bk().to_string()),
        ("THREADS", threads.to_string()),
        ("WG_X", wg_x.to_string()),
        ("WG_Y", wg_y.to_string()),
        ("ACC_DECL", decl.join("\n")),
        ("PREFETCH_FIRST", first.join("\n")),
        ("TILE_STORES", stage.join("\n")),
        ("PREFETCH_NEXT", next.join("\n")),
        ("FMA", fma.join("\n")),
        ("STORES", stores.join("\n")),
    ];
    let fields = match operands {
        Operands::Conv(_) => GemmParams::FIELDS,
        Operands::Grad(g) => g.fields(),
        Operands::Winograd { grouped: false, .. } => ProductParams::FIELDS,
        Operands::Winograd { grouped: true, .. } => GroupedProductParams::FIELDS,
    };
    Kernel {
        name: format!("{name}_{}x{}x{}_{}x{}", block.bm(), block.bn(), block.bk(), block.tm(), block.tn()),
        source: fill(PRODUCT_SKELETON, &values),
        fields,
    }
}

/// The `enable f16;` line (where the activations are f16) and the `act_t` alias of kernels whose
/// activations are in `storage`.
fn storage_header(storage: Storage) -> String {
    let [enable, act] = act_header(storage);
    format!("{}\nalias act_t = {};", enable.1, act.1).trim_start().to_string()
}

/// Packs OIHW or HWIO weights (one invocation per element) into the convolution GEMM's A
/// operand: `[group][reduction = (c, ky, kx)][k_stride]`, rows padded with zeros to a multiple
/// of 4 so every load is an aligned vec4.
pub(crate) fn pack_weights(f16: bool) -> Kernel {
    let (header, out) = if f16 { ("enable f16;", "f16") } else { ("", "f32") };
    let values = [
        ("HEADER", header.to_string()),
        ("OUT", out.to_string()),
        ("PARAMS", PackParams::wgsl()),
        ("WORKGROUP", WORKGROUP.to_string()),
    ];
    let name = if f16 { "pack_weights_f16" } else { "pack_weights" };
    Kernel { name: name.into(), source: fill(PACK_SKELETON, &values), fields: PackParams::FIELDS }
}
