//! WGSL text: turns the exact transforms into straight-line code and fills the skeletons in
//! `shaders/`.
//!
//! Every matrix product is unrolled. Zero terms are dropped, ±1 terms become adds and subtracts,
//! terms sharing a coefficient magnitude are summed before one multiply, and pairs of rows that
//! differ only in the signs of some terms (the ±p point pairs) share their even and odd partial
//! sums, so `y_a = e + o`, `y_b = e − o`.

use crate::desc::{Activation, DType, TileLayout};
use crate::lowering::{Exact, Matrix, Transforms};
use std::collections::HashMap;

/// One generated compute shader, entry point `main`.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// A file-name-safe name that says what the kernel is, e.g. `input_f4_3_r_6_6_16_f32`.
    pub name: String,
    /// WGSL source.
    pub source: String,
    /// The fields of its uniform `Params` block (binding 0), in order.
    pub params: Fields,
}

/// Names of a kernel's uniform fields. Each kernel's WGSL `Params` struct is generated from its
/// list and the runtime packs values by name ([`Kernel::pack`]), so the two cannot drift apart.
pub type Fields = &'static [&'static str];

/// The uniform fields that are `i32` (coordinates that go negative in padding); the rest are `u32`.
const SIGNED: Fields = &["in_h", "in_w", "pad_top", "pad_left", "dil_h", "dil_w"];
// Grouped per line: what the kernel computes over, the input tensor, the output tensor.
#[rustfmt::skip]
const FILTER_PARAMS: Fields = &["out_channels", "in_channels", "k_stride", "ws_o", "ws_i", "ws_h", "ws_w"];
#[rustfmt::skip]
const INPUT_PARAMS: Fields = &[
    "channels", "tiles", "tiles_w", "tiles_per_image", "tile_row0", "tile_stride",
    "x_offset", "in_h", "in_w", "pad_top", "pad_left", "xs_n", "xs_c", "xs_h", "xs_w",
];
const GEMM_PARAMS: Fields = &["out_channels", "channels", "k_stride", "tile_stride"];
#[rustfmt::skip]
const OUTPUT_PARAMS: Fields = &[
    "out_channels", "tiles", "tiles_w", "tiles_per_image", "tile_row0", "tile_stride",
    "y_offset", "r_offset", "out_h", "out_w", "ys_n", "ys_c", "ys_h", "ys_w",
];
#[rustfmt::skip]
const FUSED_PARAMS: Fields = &[
    "channels", "out_channels", "k_stride", "tiles", "tiles_w", "tiles_per_image", "tile_row0",
    "x_offset", "in_h", "in_w", "pad_top", "pad_left", "xs_n", "xs_c", "xs_h", "xs_w",
    "y_offset", "r_offset", "out_h", "out_w", "ys_n", "ys_c", "ys_h", "ys_w",
];
#[rustfmt::skip]
const DIRECT_PARAMS: Fields = &[
    "pixels", "blocks", "out_hw", "k_blocks_per_group", "group_in", "group_out",
    "kernel_h", "kernel_w", "stride_h", "stride_w", "dil_h", "dil_w", "ws_o", "ws_i", "ws_h", "ws_w",
    "x_offset", "in_h", "in_w", "pad_top", "pad_left", "xs_n", "xs_c", "xs_h", "xs_w",
    "y_offset", "r_offset", "out_w", "ys_n", "ys_c", "ys_h", "ys_w",
];

/// The most uniform fields a kernel has: each pass gets a slot of at least 128 bytes.
pub const MAX_PARAMS: usize = 32;

/// `struct Params { … }` for a field list.
fn params_struct(fields: Fields) -> String {
    let lines: String = fields
        .iter()
        .map(|f| format!("    {f}: {},\n", if SIGNED.contains(f) { "i32" } else { "u32" }))
        .collect();
    format!("struct Params {{\n{lines}}}")
}

impl Kernel {
    /// Size of the generated WGSL in lines.
    pub fn lines(&self) -> usize {
        self.source.lines().count()
    }

    /// The uniform block's words for named values (`i32` fields as their two's-complement bits).
    /// Values for fields the kernel does not have are ignored, so callers can share one list
    /// among kernels; a missing field is a bug in the caller, caught by any test that runs it.
    pub fn pack(&self, values: &[(&str, u32)]) -> [u32; MAX_PARAMS] {
        let mut words = [0u32; MAX_PARAMS];
        for (slot, field) in words.iter_mut().zip(self.params) {
            *slot = values
                .iter()
                .find(|(name, _)| name == field)
                .map(|&(_, v)| v)
                .unwrap_or_else(|| panic!("{}: no value for uniform field {field}", self.name));
        }
        words
    }
}

/// What the output stage does after the convolution sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Epilogue {
    /// Add the per-channel bias.
    pub bias: bool,
    /// Add a residual tensor shaped like the output.
    pub residual: bool,
    /// Activation applied last.
    pub activation: Activation,
}

/// Workgroup block of the Winograd-domain product: `bm` output channels × `bn` tiles, `bk`
/// input channels per step through workgroup memory; each invocation owns `tm` × `tn`
/// (multiples of 4) in registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GemmTile {
    /// Output channels per workgroup.
    pub bm: u32,
    /// Tiles per workgroup.
    pub bn: u32,
    /// Input channels staged in workgroup memory per step.
    pub bk: u32,
    /// Output channels per invocation (multiple of 4).
    pub tm: u32,
    /// Tiles per invocation (multiple of 4).
    pub tn: u32,
}

impl GemmTile {
    /// The variants dispatch and tuning choose from.
    pub const ALL: [GemmTile; 12] = [
        GemmTile { bm: 16, bn: 64, bk: 16, tm: 4, tn: 4 },
        GemmTile { bm: 32, bn: 64, bk: 16, tm: 4, tn: 4 },
        GemmTile { bm: 64, bn: 16, bk: 16, tm: 4, tn: 4 },
        GemmTile { bm: 64, bn: 64, bk: 8, tm: 4, tn: 4 },
        GemmTile { bm: 64, bn: 64, bk: 16, tm: 8, tn: 4 },
        GemmTile { bm: 64, bn: 128, bk: 8, tm: 8, tn: 8 },
        GemmTile { bm: 64, bn: 128, bk: 16, tm: 8, tn: 8 },
        GemmTile { bm: 128, bn: 64, bk: 8, tm: 8, tn: 4 },
        GemmTile { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
        GemmTile { bm: 128, bn: 128, bk: 16, tm: 8, tn: 8 },
        GemmTile { bm: 64, bn: 64, bk: 32, tm: 8, tn: 4 },
        GemmTile { bm: 128, bn: 64, bk: 16, tm: 8, tn: 4 },
    ];

    /// Workgroup size `[x, y]`: tiles across, channels down.
    pub fn workgroup_size(&self) -> [u32; 2] {
        [self.bn / self.tn, self.bm / self.tm]
    }
    /// Invocations per workgroup.
    pub fn invocations(&self) -> u32 {
        (self.bm / self.tm) * (self.bn / self.tn)
    }
    /// Workgroup memory the block needs.
    pub fn workgroup_bytes(&self) -> u32 {
        self.bk * (self.bm + self.bn) * 4
    }
}

const INPUT_SKELETON: &str = include_str!("../shaders/input_transform.wgsl");
const OUTPUT_SKELETON: &str = include_str!("../shaders/output_transform.wgsl");
const FILTER_SKELETON: &str = include_str!("../shaders/filter_transform.wgsl");
const GEMM_SKELETON: &str = include_str!("../shaders/gemm.wgsl");
const DIRECT_SKELETON: &str = include_str!("../shaders/direct.wgsl");
const FUSED_SKELETON: &str = include_str!("../shaders/fused.wgsl");

/// Workgroup block of the fused kernel: `tiles` tiles × `out_channels` output channels, with
/// one invocation per (output channel, row of the α×α products, tile), `in_channels` input
/// channels transformed per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FusedBlock {
    /// Tiles per workgroup (workgroup y).
    pub tiles: u32,
    /// Output channels per workgroup.
    pub out_channels: u32,
    /// Input channels staged in workgroup memory per step.
    pub in_channels: u32,
    /// Tile side α = m + r − 1.
    pub alpha: u32,
    /// Output tile side m.
    pub m: u32,
}

impl FusedBlock {
    /// The block for F(m×m, r×r): 16 output and 16 input channels, and as many tiles as keep
    /// the workgroup at most 256 invocations. On the H100, 16 output channels per workgroup beat
    /// 4 and 8 (0.0105 against 0.0165 and 0.0133 ms at 1×16×96², where fewer channels mean the
    /// same patches are transformed by more workgroups).
    pub fn new(m: usize, r: usize) -> FusedBlock {
        let alpha = (m + r - 1) as u32;
        FusedBlock {
            tiles: (256 / (16 * alpha)).max(1),
            out_channels: 16,
            in_channels: 16,
            alpha,
            m: m as u32,
        }
    }
    /// Workgroup size `[x, y]`: (tile, output channel) across, product rows down.
    pub fn workgroup_size(&self) -> [u32; 2] {
        [self.tiles * self.out_channels, self.alpha]
    }
    /// Workgroup memory: one step's transformed input and the row-pass results.
    pub fn workgroup_bytes(&self) -> u32 {
        let a = self.alpha;
        (self.in_channels * a * a * self.tiles + self.tiles * self.out_channels * a * self.m) * 4
    }
}

/// Fills `{{KEY}}` placeholders; every placeholder must be given, so a typo fails loudly in tests.
fn fill(skeleton: &str, values: &[(&str, String)]) -> String {
    let mut out = skeleton.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    assert!(!out.contains("{{"), "unfilled placeholder in skeleton");
    out
}

/// A WGSL float literal for a coefficient, at the f32 precision the shader computes in.
fn literal(v: Exact) -> String {
    format!("{:?}", v.to_f64() as f32)
}

fn negative(v: Exact) -> bool {
    v.to_f64() < 0.0
}

/// `Σ c_t · x_t` as WGSL, grouped by |c_t|: `a - b + 4.0 * (c + d) - 0.5 * e`.
fn linear_combination(terms: &[(Exact, &str)]) -> String {
    let mut groups: Vec<(Exact, Vec<(bool, &str)>)> = Vec::new();
    for &(c, x) in terms.iter().filter(|(c, _)| !c.is_zero()) {
        let mag = c.abs();
        match groups.iter_mut().find(|(m, _)| *m == mag) {
            Some((_, vars)) => vars.push((negative(c), x)),
            None => groups.push((mag, vec![(negative(c), x)])),
        }
    }
    // Unit terms first, so an expression starts with a plain variable where it can.
    groups.sort_by_key(|(m, _)| *m != Exact::ONE);
    let mut pieces: Vec<(bool, String)> = Vec::new();
    for (mag, vars) in groups {
        if mag == Exact::ONE {
            pieces.extend(vars.into_iter().map(|(neg, x)| (neg, x.to_string())));
            continue;
        }
        let flip = vars[0].0;
        let mut inner = String::new();
        for (i, (neg, x)) in vars.iter().enumerate() {
            match (i, neg ^ flip) {
                (0, _) => inner.push_str(x),
                (_, false) => inner.push_str(&format!(" + {x}")),
                (_, true) => inner.push_str(&format!(" - {x}")),
            }
        }
        let body = if vars.len() > 1 { format!("({inner})") } else { inner };
        pieces.push((flip, format!("{} * {body}", literal(mag))));
    }
    if pieces.is_empty() {
        return "0.0".into();
    }
    let mut out = String::new();
    for (i, (neg, s)) in pieces.into_iter().enumerate() {
        match (i, neg) {
            (0, false) => out.push_str(&s),
            (0, true) => out.push_str(&format!("-{s}")),
            (_, false) => out.push_str(&format!(" + {s}")),
            (_, true) => out.push_str(&format!(" - {s}")),
        }
    }
    out
}

/// Emits `let y_i = Σ_t mat[i][t] · x_t;` for every row, sharing even/odd sums between rows
/// that are sign-flipped copies of each other.
fn emit_matvec(mat: &Matrix, x: &[String], y: &[String], out: &mut Vec<String>) {
    let mut done = vec![false; mat.len()];
    for a in 0..mat.len() {
        if done[a] {
            continue;
        }
        let partner = (a + 1..mat.len()).find(|&b| {
            let same = |t: usize| mat[b][t] == mat[a][t];
            let flipped = |t: usize| mat[b][t] == -mat[a][t];
            let nonzero = |t: &usize| !mat[a][*t].is_zero();
            !done[b]
                && (0..x.len()).all(|t| same(t) || flipped(t))
                && (0..x.len()).filter(nonzero).any(same)
                && (0..x.len()).filter(nonzero).any(|t| !same(t))
        });
        let row = |keep: &dyn Fn(usize) -> bool| -> Vec<(Exact, &str)> {
            (0..x.len()).filter(|&t| keep(t)).map(|t| (mat[a][t], x[t].as_str())).collect()
        };
        match partner {
            Some(b) => {
                let (even, odd) = (format!("{}_e", y[a]), format!("{}_o", y[a]));
                let same = |t: usize| mat[b][t] == mat[a][t];
                out.push(format!("let {even} = {};", linear_combination(&row(&same))));
                out.push(format!("let {odd} = {};", linear_combination(&row(&|t| !same(t)))));
                out.push(format!("let {} = {even} + {odd};", y[a]));
                out.push(format!("let {} = {even} - {odd};", y[b]));
                done[b] = true;
            }
            None => out.push(format!("let {} = {};", y[a], linear_combination(&row(&|_| true)))),
        }
        done[a] = true;
    }
}

/// Emits `out = mat · in · matᵀ` for a square `in` named `{input}{i}_{j}`: a column pass into
/// `mid{i}_{j}`, then a row pass into `{output}{i}_{j}`.
fn emit_sandwich(mat: &Matrix, input: &str, output: &str, out: &mut Vec<String>) {
    let (rows, n) = (mat.len(), mat[0].len());
    let name = |p: &str, i: usize, j: usize| format!("{p}{i}_{j}");
    for j in 0..n {
        let x: Vec<String> = (0..n).map(|i| name(input, i, j)).collect();
        let y: Vec<String> = (0..rows).map(|i| name("mid", i, j)).collect();
        emit_matvec(mat, &x, &y, out);
    }
    for i in 0..rows {
        let x: Vec<String> = (0..n).map(|j| name("mid", i, j)).collect();
        let y: Vec<String> = (0..rows).map(|j| name(output, i, j)).collect();
        emit_matvec(mat, &x, &y, out);
    }
}

/// Lines indented by `n` spaces, for a placeholder that already sits at its indentation.
fn ind(lines: Vec<String>, n: usize) -> String {
    lines.iter().map(|l| format!("{}{l}\n", " ".repeat(n))).collect::<String>().trim_end().to_string()
}

fn indent(lines: Vec<String>) -> String {
    lines.into_iter().map(|l| format!("    {l}\n")).collect()
}

/// `wino_index(e, row, col, rows, cols)`: where element e of a rows×cols Winograd-domain
/// matrix lives. The layout is baked in as code, so each layout is its own kernel.
fn wino_index(layout: TileLayout, alpha: usize) -> String {
    let expr = match layout {
        TileLayout::R16_6_6 => format!("(row * {}u + e) * cols + col", alpha * alpha),
        _ => "(e * rows + row) * cols + col".to_string(),
    };
    format!(
        "fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {{\n    return {expr};\n}}"
    )
}

fn act_header(dtype: DType) -> [(&'static str, String); 2] {
    match dtype {
        DType::F32 => [("ENABLE", String::new()), ("ACT", "f32".into())],
        DType::F16 => [("ENABLE", "enable f16;".into()), ("ACT", "f16".into())],
    }
}

/// The epilogue's extra bindings (from `first_binding` on) and its `finish` function, which maps
/// an accumulated value for channel k at output offset `rel` to the stored element. With a
/// vector `width` > 1, values, the residual binding and `rel` all count in vectors of that width.
fn epilogue(ep: Epilogue, first_binding: u32, width: usize) -> [(&'static str, String); 2] {
    let vector = |t: &str| if width == 1 { t.to_string() } else { format!("vec{width}<{t}>") };
    let (acc, out) = (vector("f32"), vector("act_t"));
    let (zero, six) = (format!("{acc}(0.0)"), format!("{acc}(6.0)"));
    let r_offset =
        if width == 1 { "params.r_offset".to_string() } else { format!("params.r_offset / {width}u") };
    let mut bindings = Vec::new();
    let mut body = vec!["var v = acc;".to_string()];
    if ep.bias {
        bindings.push(format!("@group(0) @binding({first_binding}) var<storage, read> bias: array<f32>;"));
        body.push("v += bias[k];".into());
    }
    if ep.residual {
        let b = first_binding + ep.bias as u32;
        bindings.push(format!("@group(0) @binding({b}) var<storage, read> residual: array<{out}>;"));
        body.push(format!("v += {acc}(residual[{r_offset} + rel]);"));
    }
    match ep.activation {
        Activation::None => {}
        Activation::Relu => body.push(format!("v = max(v, {zero});")),
        Activation::Relu6 => body.push(format!("v = clamp(v, {zero}, {six});")),
        Activation::Silu => body.push("v = v / (1.0 + exp(-v));".into()),
    }
    body.push(format!("return {out}(v);"));
    let func = format!("fn finish(acc: {acc}, k: u32, rel: u32) -> {out} {{\n{}}}", indent(body));
    [("EPILOGUE_BINDINGS", bindings.join("\n")), ("EPILOGUE", func)]
}

fn tile_name(t: &Transforms) -> String {
    format!("f{}_{}", t.m, t.r)
}

fn for_each_element(n: usize, mut f: impl FnMut(usize, usize)) {
    for i in 0..n {
        for j in 0..n {
            f(i, j)
        }
    }
}

/// Filter transform `U = G g Gᵀ` for one layout.
pub fn filter_transform(t: &Transforms, layout: TileLayout) -> Kernel {
    let (a, r) = (t.alpha(), t.r);
    let mut body = Vec::new();
    for_each_element(r, |i, j| {
        body.push(format!("let in{i}_{j} = w[base + {i}u * params.ws_h + {j}u * params.ws_w];"))
    });
    emit_sandwich(&t.g, "in", "out", &mut body);
    for_each_element(a, |i, j| {
        body.push(format!(
            "u[wino_index({}u, c, k, params.in_channels, params.k_stride)] = out{i}_{j};",
            i * a + j
        ))
    });
    Kernel {
        name: format!("filter_{}_{}", tile_name(t), layout),
        source: fill(
            FILTER_SKELETON,
            &[
                ("PARAMS", params_struct(FILTER_PARAMS)),
                ("WINO_INDEX", wino_index(layout, a)),
                ("BODY", indent(body)),
            ],
        ),
        params: FILTER_PARAMS,
    }
}

/// How the input transform reads its α×α patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputLoad {
    /// Element by element: any format, size and padding.
    Scalar,
    /// The m columns of each patch row that start at the tile's aligned position `m · tx` come as
    /// aligned vectors of `width` (NCHW, `width` divides m and the input width); the `pad_left`
    /// columns before them and the rest after come element by element. `pad_left < r`, so
    /// those m columns lie inside the patch.
    Vector {
        /// Elements per vector load: 2 or 4.
        width: usize,
        /// The convolution's left padding, which fixes where the vectors sit in the patch.
        pad_left: usize,
    },
}

/// Input transform `V = Bᵀ d B`, padding handled in the loads.
pub fn input_transform(t: &Transforms, layout: TileLayout, dtype: DType, load: InputLoad) -> Kernel {
    let (a, m) = (t.alpha(), t.m);
    let mut body = Vec::new();
    let (width, suffix) = match load {
        InputLoad::Scalar => {
            for_each_element(a, |i, j| body.push(format!("let in{i}_{j} = load(base, y0 + {i}, x0 + {j});")));
            (1, String::new())
        }
        InputLoad::Vector { width, pad_left } => {
            assert!(
                m.is_multiple_of(width) && pad_left < t.r,
                "vector loads need width | m and pad_left < r"
            );
            let lanes = ["x", "y", "z", "w"];
            for i in 0..a {
                body.push(format!("let iy{i} = y0 + {i};"));
                body.push(format!("let row{i} = iy{i} >= 0 && iy{i} < params.in_h;"));
                for q in 0..m / width {
                    let (vec, col) = (format!("vec{width}<f32>"), format!("xa + {}u", q * width));
                    // A branch, not select(): the load must not happen outside the image.
                    body.push(format!("var c{i}_{q} = {vec}(0.0);"));
                    body.push(format!(
                        "if (row{i} && {col} < u32(params.in_w)) {{ c{i}_{q} = {vec}(x[(base + u32(iy{i}) * params.xs_h + {col}) / {width}u]); }}"
                    ));
                }
                for j in 0..a {
                    let value = match j.checked_sub(pad_left).filter(|&k| k < m) {
                        Some(k) => format!("c{i}_{}.{}", k / width, lanes[k % width]),
                        None => format!("load(base, iy{i}, x0 + {j})"),
                    };
                    body.push(format!("let in{i}_{j} = {value};"));
                }
            }
            (width, format!("_vec{width}_pad{pad_left}"))
        }
    };
    emit_sandwich(&t.bt, "in", "out", &mut body);
    for_each_element(a, |i, j| {
        body.push(format!(
            "v[wino_index({}u, c, p, params.channels, params.tile_stride)] = out{i}_{j};",
            i * a + j
        ))
    });
    let (in_t, element) = match width {
        1 => ("act_t".to_string(), "x[e]".to_string()),
        w => (format!("vec{w}<act_t>"), format!("x[e / {w}u][e % {w}u]")),
    };
    let mut values = vec![
        ("WINO_INDEX", wino_index(layout, a)),
        ("M", m.to_string()),
        ("BODY", indent(body)),
        ("IN_T", in_t),
        ("ELEMENT", element),
    ];
    values.push(("PARAMS", params_struct(INPUT_PARAMS)));
    values.extend(act_header(dtype));
    Kernel {
        name: format!("input_{}_{}_{}{suffix}", tile_name(t), layout, dtype),
        source: fill(INPUT_SKELETON, &values),
        params: INPUT_PARAMS,
    }
}

/// How the output transform writes each row of its m×m block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputStore {
    /// One element at a time, cropped per element: any format and size.
    Scalar,
    /// Aligned vec2 stores: NCHW, even m and an even output width.
    Vec2,
    /// Aligned vec4 stores: NCHW, m a multiple of 4 and an output width that is too.
    Vec4,
}

impl OutputStore {
    /// Elements per store.
    pub fn width(self) -> usize {
        match self {
            OutputStore::Scalar => 1,
            OutputStore::Vec2 => 2,
            OutputStore::Vec4 => 4,
        }
    }
}

/// Output transform `Y = Aᵀ M A` with crop and fused epilogue. Vector stores matter: with one
/// element per store a warp writes every m-th element of a row, so each store instruction
/// touches m times the cache sectors it fills (the element-store kernel ran at half the speed
/// on the ResNet layers, `BENCHMARKS.md`).
pub fn output_transform(
    t: &Transforms,
    layout: TileLayout,
    dtype: DType,
    ep: Epilogue,
    store: OutputStore,
) -> Kernel {
    let (a, m, width) = (t.alpha(), t.m, store.width());
    assert!(m.is_multiple_of(width), "stores of {width} need m = {m} to be a multiple");
    let mut body = Vec::new();
    for_each_element(a, |i, j| {
        body.push(format!(
            "let in{i}_{j} = prod[wino_index({}u, k, p, params.out_channels, params.tile_stride)];",
            i * a + j
        ))
    });
    emit_sandwich(&t.at, "in", "out", &mut body);
    for i in 0..m {
        body.push(format!("if (y0 + {i}u < params.out_h) {{"));
        body.push(format!("    let row = base + (y0 + {i}u) * params.ys_h;"));
        for j in (0..m).step_by(width) {
            body.push(format!("    if (x0 + {j}u < params.out_w) {{"));
            if width == 1 {
                body.push(format!("        let rel = row + (x0 + {j}u) * params.ys_w;"));
                body.push(format!("        y[params.y_offset + rel] = finish(out{i}_{j}, k, rel);"));
            } else {
                let parts: Vec<String> = (j..j + width).map(|q| format!("out{i}_{q}")).collect();
                body.push(format!("        let rel = (row + x0 + {j}u) / {width}u;"));
                body.push(format!(
                    "        y[params.y_offset / {width}u + rel] = finish(vec{width}<f32>({}), k, rel);",
                    parts.join(", ")
                ));
            }
            body.push("    }".into());
        }
        body.push("}".into());
    }
    let out_t = if width == 1 { "act_t".to_string() } else { format!("vec{width}<act_t>") };
    let mut values = vec![
        ("WINO_INDEX", wino_index(layout, a)),
        ("M", m.to_string()),
        ("BODY", indent(body)),
        ("OUT_T", out_t),
    ];
    values.push(("PARAMS", params_struct(OUTPUT_PARAMS)));
    values.extend(act_header(dtype));
    values.extend(epilogue(ep, 3, width));
    let suffix = if width == 1 { String::new() } else { format!("_vec{width}") };
    Kernel {
        name: format!("output_{}_{}_{}{}{suffix}", tile_name(t), layout, dtype, epilogue_suffix(ep)),
        source: fill(OUTPUT_SKELETON, &values),
        params: OUTPUT_PARAMS,
    }
}

fn epilogue_suffix(ep: Epilogue) -> String {
    let mut s = String::new();
    if ep.bias {
        s.push_str("_bias");
    }
    if ep.residual {
        s.push_str("_residual");
    }
    if ep.activation != Activation::None {
        s.push_str(&format!("_{}", ep.activation));
    }
    s
}

/// The batched Winograd-domain product for one layout and workgroup block, with the
/// register block's loads, multiply-adds and stores unrolled.
pub fn gemm(layout: TileLayout, alpha: usize, tile: GemmTile) -> Kernel {
    let [wg_x, wg_y] = tile.workgroup_size();
    let threads = tile.invocations();
    let (row_groups, col_groups) = (tile.tm / 4, tile.tn / 4);
    let mut decl = Vec::new();
    let mut fma = Vec::new();
    let mut stores = Vec::new();
    for i in 0..row_groups {
        fma.push(format!("let a{i} = a_tile[kk * (BM / 4u) + {}u + lid.y];", i * wg_y));
    }
    for j in 0..col_groups {
        fma.push(format!("let b{j} = b_tile[kk * (BN / 4u) + {}u + lid.x];", j * wg_x));
    }
    for i in 0..row_groups {
        for (r, lane) in ["x", "y", "z", "w"].iter().enumerate() {
            let row = i * 4 + r as u32;
            for j in 0..col_groups {
                decl.push(format!("var acc{row}_{j} = vec4<f32>(0.0);"));
                fma.push(format!("acc{row}_{j} += a{i}.{lane} * b{j};"));
                stores.push(format!(
                    "store(e, row0 + ({}u + lid.y) * 4u + {r}u, col0 + ({}u + lid.x) * 4u, acc{row}_{j});",
                    i * wg_y,
                    j * wg_x
                ));
            }
        }
    }
    // Operand tiles are double-buffered through registers: the next step's global loads are
    // issued before this step's multiply-adds, so their latency hides behind the arithmetic.
    let (mut stage, mut first, mut next) = (Vec::new(), Vec::new(), Vec::new());
    for (name, load, width, vecs) in
        [("a", "load_a", "BM", tile.bk * tile.bm / 4), ("b", "load_b", "BN", tile.bk * tile.bn / 4)]
    {
        let origin = if name == "a" { "row0" } else { "col0" };
        for it in 0..vecs.div_ceil(threads) {
            let (reg, idx) = (format!("p{name}{it}"), format!("li + {}u", it * threads));
            let fetch = |k: &str| {
                format!("{reg} = {load}(e, {k} + ({idx}) / ({width} / 4u), {origin} + (({idx}) % ({width} / 4u)) * 4u);")
            };
            let guarded = |body: String| {
                if (it + 1) * threads > vecs {
                    format!("if ({idx} < {vecs}u) {{ {body} }}")
                } else {
                    body
                }
            };
            first.push(format!("var {reg} = vec4<f32>(0.0);"));
            first.push(guarded(fetch("0u")));
            next.push(guarded(fetch("k0 + BK")));
            stage.push(guarded(format!("{name}_tile[{idx}] = {reg};")));
        }
    }
    let values = [
        ("PARAMS", params_struct(GEMM_PARAMS)),
        ("WINO_INDEX", wino_index(layout, alpha)),
        ("BM", tile.bm.to_string()),
        ("BN", tile.bn.to_string()),
        ("BK", tile.bk.to_string()),
        ("THREADS", threads.to_string()),
        ("WG_X", wg_x.to_string()),
        ("WG_Y", wg_y.to_string()),
        ("ACC_DECL", ind(decl, 4)),
        ("PREFETCH_FIRST", ind(first, 4)),
        ("TILE_STORES", ind(stage, 8)),
        ("PREFETCH_NEXT", ind(next, 8)),
        ("FMA", ind(fma, 12)),
        ("STORES", ind(stores, 4)),
    ];
    Kernel {
        name: format!("gemm_a{alpha}_{layout}_{}x{}x{}_{}x{}", tile.bm, tile.bn, tile.bk, tile.tm, tile.tn),
        source: fill(GEMM_SKELETON, &values),
        params: GEMM_PARAMS,
    }
}

/// Input transform, product and output transform in one kernel (`shaders/fused.wgsl`), from the
/// same straight-line transforms as the separate kernels; the output transform is split into a
/// row pass per invocation and a column pass over workgroup memory.
pub fn fused(t: &Transforms, layout: TileLayout, dtype: DType, ep: Epilogue) -> Kernel {
    let (a, m) = (t.alpha(), t.m);
    let block = FusedBlock::new(m, t.r);
    let (mut decl, mut input, mut product, mut row_pass) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut column_pass, mut stores) = (Vec::new(), Vec::new());
    for_each_element(a, |i, j| input.push(format!("let in{i}_{j} = load(base, y0 + {i}, x0 + {j});")));
    emit_sandwich(&t.bt, "in", "v", &mut input);
    for_each_element(a, |i, j| {
        input.push(format!("vt[((li / TILES) * A2 + {}u) * TILES + li % TILES] = v{i}_{j};", i * a + j))
    });
    let accs: Vec<String> = (0..a).map(|j| format!("acc{j}")).collect();
    for (j, acc) in accs.iter().enumerate() {
        decl.push(format!("var {acc} = 0.0;"));
        product.push(format!(
            "{acc} += vt[(s * A2 + i * ALPHA + {j}u) * TILES + slot] * u[wino_index(i * ALPHA + {j}u, c, kq, params.channels, params.k_stride)];"
        ));
    }
    let row: Vec<String> = (0..m).map(|q| format!("row{q}")).collect();
    emit_matvec(&t.at, &accs, &row, &mut row_pass);
    let slot = |i: &str, q: usize| format!("rows[((slot * KB + k_local) * ALPHA + {i}) * M + {q}u]");
    for (q, name) in row.iter().enumerate() {
        row_pass.push(format!("{} = {name};", slot("i", q)));
    }
    for q in 0..m {
        let column: Vec<String> = (0..a).map(|i| format!("r{i}_{q}")).collect();
        for (i, name) in column.iter().enumerate() {
            column_pass.push(format!("let {name} = {};", slot(&format!("{i}u"), q)));
        }
        let out: Vec<String> = (0..m).map(|p| format!("out{p}_{q}")).collect();
        emit_matvec(&t.at, &column, &out, &mut column_pass);
    }
    for_each_element(m, |p, q| {
        stores.extend([
            format!("if (at.y + {p}u < params.out_h && at.z + {q}u < params.out_w) {{"),
            format!("    let rel = base + (at.y + {p}u) * params.ys_h + (at.z + {q}u) * params.ys_w;"),
            format!("    y[params.y_offset + rel] = finish(out{p}_{q}, k, rel);"),
            "}".into(),
        ])
    });
    let mut values = vec![
        ("WINO_INDEX", wino_index(layout, a)),
        ("M", m.to_string()),
        ("ALPHA", a.to_string()),
        ("TILES", block.tiles.to_string()),
        ("KB", block.out_channels.to_string()),
        ("CB", block.in_channels.to_string()),
        ("ACC_DECL", ind(decl, 4)),
        ("INPUT", ind(input, 12)),
        ("PRODUCT", ind(product, 12)),
        ("ROW_PASS", ind(row_pass, 4)),
        ("COLUMN_PASS", ind(column_pass, 4)),
        ("STORES", ind(stores, 4)),
    ];
    values.push(("PARAMS", params_struct(FUSED_PARAMS)));
    values.extend(act_header(dtype));
    values.extend(epilogue(ep, 4, 1));
    Kernel {
        name: format!("fused_{}_{}_{}{}", tile_name(t), layout, dtype, epilogue_suffix(ep)),
        source: fill(FUSED_SKELETON, &values),
        params: FUSED_PARAMS,
    }
}

/// The direct convolution with a fused epilogue.
pub fn direct(dtype: DType, ep: Epilogue) -> Kernel {
    let mut values = act_header(dtype).to_vec();
    values.extend(epilogue(ep, 4, 1));
    values.push(("PARAMS", params_struct(DIRECT_PARAMS)));
    Kernel {
        name: format!("direct_{dtype}{}", epilogue_suffix(ep)),
        source: fill(DIRECT_SKELETON, &values),
        params: DIRECT_PARAMS,
    }
}

/// Every kernel the library can generate for the shipped tiles, layouts and dtypes, with the
/// plain and the fullest epilogue: what the naga tests validate and `wino emit` writes.
pub fn all_kernels() -> Vec<Kernel> {
    let mut out = Vec::new();
    let epilogues = [
        Epilogue::default(),
        Epilogue { bias: true, residual: true, activation: Activation::Silu },
        Epilogue { bias: true, residual: false, activation: Activation::Relu },
        Epilogue { bias: false, residual: false, activation: Activation::Relu6 },
    ];
    let mut seen_alpha = HashMap::new();
    for (m, r) in crate::dispatch::WINOGRAD_TILES {
        let t = Transforms::for_tile(m, r);
        for layout in [TileLayout::R16_6_6, TileLayout::R6_6_16] {
            out.push(filter_transform(&t, layout));
            for dtype in [DType::F32, DType::F16] {
                out.push(input_transform(&t, layout, dtype, InputLoad::Scalar));
                for width in [2, 4].into_iter().filter(|w| t.m.is_multiple_of(*w)) {
                    for pad_left in 0..t.r {
                        out.push(input_transform(&t, layout, dtype, InputLoad::Vector { width, pad_left }));
                    }
                }
                for ep in epilogues {
                    for store in [OutputStore::Scalar, OutputStore::Vec2, OutputStore::Vec4] {
                        if t.m.is_multiple_of(store.width()) {
                            out.push(output_transform(&t, layout, dtype, ep, store));
                        }
                    }
                    out.push(fused(&t, layout, dtype, ep));
                }
            }
            if seen_alpha.insert((t.alpha(), layout), ()).is_none() {
                out.extend(GemmTile::ALL.iter().map(|&g| gemm(layout, t.alpha(), g)));
            }
        }
    }
    for dtype in [DType::F32, DType::F16] {
        out.extend(epilogues.iter().map(|&ep| direct(dtype, ep)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_combination_factors_and_drops() {
        let t = |v: i128| Exact::int(v);
        let s = linear_combination(&[(t(1), "a"), (t(0), "b"), (t(-4), "c"), (t(4), "d"), (t(-1), "e")]);
        assert_eq!(s, "a - e - 4.0 * (c - d)");
        assert_eq!(linear_combination(&[(t(-2), "x")]), "-2.0 * x");
        assert_eq!(linear_combination(&[(t(0), "x")]), "0.0");
    }

    #[test]
    fn pairs_share_even_and_odd_sums() {
        let t = Transforms::for_tile(2, 3);
        let mut lines = Vec::new();
        let x: Vec<String> = (0..4).map(|i| format!("x{i}")).collect();
        let y: Vec<String> = (0..4).map(|i| format!("y{i}")).collect();
        emit_matvec(&t.bt, &x, &y, &mut lines);
        assert!(lines.iter().any(|l| l.contains("y1_e + y1_o")), "{lines:#?}");
    }

    #[test]
    fn no_multiply_by_zero_or_one_survives() {
        for k in all_kernels() {
            for bad in ["* 0.0", "* 1.0", "* -1.0", "0.0 *", "1.0 *"] {
                assert!(!k.source.contains(bad), "{} contains '{bad}'", k.name);
            }
        }
    }

    #[test]
    fn every_uniform_field_is_declared_and_read() {
        for k in all_kernels() {
            assert!(k.source.contains(&params_struct(k.params)), "{}: Params struct not generated", k.name);
            for field in k.params {
                // r_offset is read only by the residual epilogue; vector stores imply ys_w = 1.
                let read = k.source.contains(&format!("params.{field}"));
                let optional = *field == "r_offset" || (*field == "ys_w" && k.name.contains("_vec"));
                assert!(read || optional, "{}: uniform field {field} is never read", k.name);
            }
        }
    }

    #[test]
    #[should_panic(expected = "no value for uniform field")]
    fn packing_a_missing_field_is_caught() {
        let k = gemm(TileLayout::R16_6_6, 4, GemmTile::ALL[0]);
        k.pack(&[("out_channels", 1), ("channels", 2), ("k_stride", 4), ("typo", 4)]);
    }

    #[test]
    fn kernel_names_are_unique() {
        let kernels = all_kernels();
        let mut names: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), kernels.len());
    }
}
