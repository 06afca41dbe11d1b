//! The Winograd kernels: filter transform `U = G g Gᵀ`, input transform `V = Bᵀ d B`, output
//! transform `Y = Aᵀ M A` with the epilogue, and all three fused into one kernel. The batched
//! product between them is the shared product core (`product.rs`).

use super::epilogue::Epilogue;
use super::expr::{emit_matvec, emit_sandwich, for_each_element};
use super::padding;
use super::skeleton::fill;
use super::storage::{act_header, buffer, Access, Storage};
use super::uniform::{FilterParams, FusedParams, GroupedFilterParams, InputParams, OutputParams, Uniform};
use super::{Kernel, WORKGROUP};
use crate::desc::{PaddingMode, TileLayout};
use crate::lowering::Transforms;

const INPUT_SKELETON: &str = include_str!("../../shaders/input_transform.wgsl");
const OUTPUT_SKELETON: &str = include_str!("../../shaders/output_transform.wgsl");
const FILTER_SKELETON: &str = include_str!("../../shaders/filter_transform.wgsl");
const FUSED_SKELETON: &str = include_str!("../../shaders/fused.wgsl");

fn tile_name(t: &Transforms) -> String {
    format!("f{}_{}", t.m, t.r)
}

fn lines(v: Vec<String>) -> String {
    v.join("\n")
}

/// Workgroup block of the fused kernel: `tiles` tiles × `out_channels` output channels, with
/// one invocation per (output channel, row of the α×α products, tile), `in_channels` input
/// channels transformed per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FusedBlock {
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
    pub(crate) fn new(m: usize, r: usize) -> FusedBlock {
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
    pub(crate) fn workgroup_size(&self) -> [u32; 2] {
        [self.tiles * self.out_channels, self.alpha]
    }
    /// Workgroup memory: one step's transformed input and the row-pass results.
    pub(crate) fn workgroup_bytes(&self) -> u32 {
        let a = self.alpha;
        (self.in_channels * a * a * self.tiles + self.tiles * self.out_channels * a * self.m) * 4
    }
}

/// `wino_index(e, row, col, rows, cols)`: where element e of a rows×cols Winograd-domain
/// matrix lives. The layout is baked in as code, so each layout is its own kernel.
pub(crate) fn wino_index(layout: TileLayout, alpha: usize) -> String {
    let expr = match layout {
        TileLayout::R16_6_6 => format!("(row * {}u + e) * cols + col", alpha * alpha),
        TileLayout::R6_6_16 => "(e * rows + row) * cols + col".to_string(),
    };
    format!(
        "fn wino_index(e: u32, row: u32, col: u32, rows: u32, cols: u32) -> u32 {{\n    return {expr};\n}}"
    )
}

/// Filter transform `U = G g Gᵀ` for one layout.
///
/// With `grouped`, the weights are `[K][C/G][r][r]` and U is stored with the global input
/// channel as its row and the output channel within its group as its column, the operands of
/// one product per (tile element, group).
pub(crate) fn filter_transform(t: &Transforms, layout: TileLayout, grouped: bool) -> Kernel {
    let (a, r) = (t.alpha(), t.r);
    let mut body = Vec::new();
    for_each_element(r, |i, j| {
        body.push(format!("let in{i}_{j} = w[base + {i}u * params.ws_h + {j}u * params.ws_w];"))
    });
    emit_sandwich(&t.g, "in", "out", &mut body);
    let (row, col, rows) = if grouped {
        ("(k / params.group_out) * params.in_channels + c", "k % params.group_out", "params.channels")
    } else {
        ("c", "k", "params.in_channels")
    };
    for_each_element(a, |i, j| {
        body.push(format!(
            "u[wino_index({}u, {row}, {col}, {rows}, params.k_stride)] = out{i}_{j};",
            i * a + j
        ))
    });
    let (params, fields) = if grouped {
        (GroupedFilterParams::wgsl(), GroupedFilterParams::FIELDS)
    } else {
        (FilterParams::wgsl(), FilterParams::FIELDS)
    };
    Kernel {
        name: format!("filter_{}_{}{}", tile_name(t), layout, if grouped { "_grouped" } else { "" }),
        source: fill(
            FILTER_SKELETON,
            &[
                ("PARAMS", params),
                ("WINO_INDEX", wino_index(layout, a)),
                ("BODY", lines(body)),
                ("WORKGROUP", WORKGROUP.to_string()),
            ],
        ),
        fields,
    }
}

/// How the input transform reads its α×α patch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum InputLoad {
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
pub(crate) fn input_transform(
    t: &Transforms,
    layout: TileLayout,
    storage: Storage,
    load: InputLoad,
    mode: PaddingMode,
) -> Kernel {
    let (a, m) = (t.alpha(), t.m);
    let mut body = Vec::new();
    let (width, suffix) = match load {
        InputLoad::Scalar => {
            for_each_element(a, |i, j| body.push(format!("let in{i}_{j} = load(base, y0 + {i}, x0 + {j});")));
            (1, String::new())
        }
        InputLoad::Vector { width, pad_left } => {
            assert!(
                m.is_multiple_of(width) && pad_left < t.r && mode == PaddingMode::Zeros,
                "vector loads need width | m, pad_left < r and zero padding"
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
                        "if (row{i} && {col} < u32(params.in_w)) {{ c{i}_{q} = ld_x{width}((base + u32(iy{i}) * params.xs_h + {col}) / {width}u); }}"
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
    let (x, accessors) = buffer(storage, "x", "x", 1, Access::Read, width);
    let mut values = vec![
        ("WINO_INDEX", wino_index(layout, a)),
        ("M", m.to_string()),
        ("BODY", lines(body)),
        ("X_BINDING", x),
        ("ACCESSORS", accessors),
        ("PAD_FUNCTIONS", padding::functions(mode)),
        ("LOAD", padding::load_fn(mode)),
        ("WORKGROUP", WORKGROUP.to_string()),
    ];
    values.push(("PARAMS", InputParams::wgsl()));
    values.extend(act_header(storage));
    Kernel {
        name: format!("input_{}_{}_{}{suffix}{}", tile_name(t), layout, storage, padding::suffix(mode)),
        source: fill(INPUT_SKELETON, &values),
        fields: InputParams::FIELDS,
    }
}

/// How the output transform writes each row of its m×m block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum OutputStore {
    /// One element at a time, cropped per element: any format and size.
    Scalar,
    /// Aligned vec2 stores: NCHW, even m and an even output width.
    Vec2,
    /// Aligned vec4 stores: NCHW, m a multiple of 4 and an output width that is too.
    Vec4,
}

impl OutputStore {
    /// Elements per store.
    pub(crate) fn width(self) -> usize {
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
pub(crate) fn output_transform(
    t: &Transforms,
    layout: TileLayout,
    storage: Storage,
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
                body.push(format!("        st_y(params.y_offset + rel, finish(out{i}_{j}, k, rel));"));
            } else {
                let parts: Vec<String> = (j..j + width).map(|q| format!("out{i}_{q}")).collect();
                body.push(format!("        let rel = (row + x0 + {j}u) / {width}u;"));
                body.push(format!(
                    "        st_y{width}(params.y_offset / {width}u + rel, finish(vec{width}<f32>({}), k, rel));",
                    parts.join(", ")
                ));
            }
            body.push("    }".into());
        }
        body.push("}".into());
    }
    let (y, accessors) = buffer(storage, "y", "y", 2, Access::Write, width);
    let mut values = vec![
        ("WINO_INDEX", wino_index(layout, a)),
        ("M", m.to_string()),
        ("BODY", lines(body)),
        ("Y_BINDING", y),
        ("ACCESSORS", accessors),
        ("WORKGROUP", WORKGROUP.to_string()),
    ];
    values.push(("PARAMS", OutputParams::wgsl()));
    values.extend(act_header(storage));
    values.extend(ep.wgsl(storage, 3, width));
    let suffix = if width == 1 { String::new() } else { format!("_vec{width}") };
    Kernel {
        name: format!("output_{}_{}_{}{}{suffix}", tile_name(t), layout, storage, ep.suffix()),
        source: fill(OUTPUT_SKELETON, &values),
        fields: OutputParams::FIELDS,
    }
}

/// Input transform, product and output transform in one kernel (`shaders/fused.wgsl`), from the
/// same straight-line transforms as the separate kernels; the output transform is split into a
/// row pass per invocation and a column pass over workgroup memory.
pub(crate) fn fused(
    t: &Transforms,
    layout: TileLayout,
    storage: Storage,
    ep: Epilogue,
    mode: PaddingMode,
) -> Kernel {
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
            format!("    st_y(params.y_offset + rel, finish(out{p}_{q}, k, rel));"),
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
        ("ACC_DECL", lines(decl)),
        ("INPUT", lines(input)),
        ("PRODUCT", lines(product)),
        ("ROW_PASS", lines(row_pass)),
        ("COLUMN_PASS", lines(column_pass)),
        ("STORES", lines(stores)),
        ("PAD_FUNCTIONS", padding::functions(mode)),
        ("LOAD", padding::load_fn(mode)),
    ];
    let (x, x_fns) = buffer(storage, "x", "x", 1, Access::Read, 1);
    let (y, y_fns) = buffer(storage, "y", "y", 2, Access::Write, 1);
    values.extend([("X_BINDING", x), ("Y_BINDING", y), ("ACCESSORS", format!("{x_fns}\n\n{y_fns}"))]);
    values.push(("PARAMS", FusedParams::wgsl()));
    values.extend(act_header(storage));
    values.extend(ep.wgsl(storage, 4, 1));
    Kernel {
        name: format!(
            "fused_{}_{}_{}{}{}",
            tile_name(t),
            layout,
            storage,
            ep.suffix(),
            padding::suffix(mode)
        ),
        source: fill(FUSED_SKELETON, &values),
        fields: FusedParams::FIELDS,
    }
}
