//! Winograd F(m×m, r×r): filter transform once per weight set, then per call either the input
//! transform, the batched product (the product core) and the output transform, or the three
//! fused into one kernel.

use super::{auto_block, with_epilogue, workgroup_fits, Budget, Geometry, Prep, Recipe, Slot};
use crate::blocks::Engine;
use crate::codegen::uniform::{
    fit, FilterParams, FusedParams, GroupedFilterParams, GroupedProductParams, InputParams, OutputParams,
    ProductParams, TensorProductParams, Uniform,
};
use crate::codegen::{self, FragType, FusedBlock, InputLoad, Kernel, Operands, OutputStore, TensorOperands};
use crate::desc::{Conv2dDesc, DataFormat, PaddingMode, Precision, Product, TileLayout};
use crate::error::{Error, Result};
use crate::lowering::Transforms;
use crate::plan::{Choice, Path, Piece, Plan, TensorCaps, WinogradKernels};
use wgpu::{DeviceType, Limits};

/// Picks the output tile m for an r×r kernel. F(4,3) does 2.25× fewer multiplies than F(2,3)
/// but makes 4× fewer, bigger tiles; on an H100 it only pays once the product has real work
/// (C·K·tiles ≥ 4M, the ResNet layers at batch 32); small problems are latency-bound and
/// F(2,3) wins (ncnn makes the same switch for small images). A CPU adapter has no launch
/// latency to hide and pays for every multiply: on lavapipe F(4,3) took 0.29–0.77× F(2,3)'s
/// time on all five seed shapes, 16 to 64 channels (e.g. 64×64: 2.02 against 7.04 ms), so
/// CPUs always take F(4,3). F(2,5) for 5×5.
pub(crate) fn auto_tile(r: usize, [n, c, k]: [usize; 3], oh: usize, ow: usize, device: DeviceType) -> usize {
    let tiles4 = n * oh.div_ceil(4) * ow.div_ceil(4);
    if r == 3 && (device == DeviceType::Cpu || c * k * tiles4 >= 4 << 20) {
        4
    } else {
        2
    }
}

/// The default layout for a shape. Both layouts do identical arithmetic; they differ in how
/// the Winograd-domain buffers are strided. Measured on an H100 (`BENCHMARKS.md`): channel-major
/// `r_16_6_6` wins by 1–3% on the ResNet layers and on tiny images, element-major `r_6_6_16`
/// by 2–3% on few-channel images of 64 tiles or more.
pub(crate) fn auto_layout(c: usize, tiles: usize) -> TileLayout {
    if c < 64 && tiles >= 64 {
        TileLayout::R6_6_16
    } else {
        TileLayout::R16_6_6
    }
}

/// Whether to fuse the three Winograd stages into one kernel. The fused kernel keeps α²
/// accumulators per invocation and re-transforms the input for every 16 output channels, so it
/// can only pay for F(2,3) with few channels. Measured (`BENCHMARKS.md`): on an H100 it matches
/// the three kernels' GPU time on the seed shapes and trims the synchronous call by one
/// dispatch; on lavapipe, a CPU, it is 1.3–2× slower, so CPU adapters never fuse.
fn auto_fuse(m: usize, c: usize, k: usize, device: DeviceType) -> bool {
    device != DeviceType::Cpu && m == 2 && c <= 32 && k <= 32
}

/// How the output transform stores: the widest aligned vectors that both the tile side m and
/// the output width divide into (NCHW only; then every image, channel and row starts on a
/// multiple of the vector width), else element by element.
fn output_store(format: DataFormat, m: usize, out_w: usize) -> OutputStore {
    [OutputStore::Vec4, OutputStore::Vec2]
        .into_iter()
        .find(|s| {
            format == DataFormat::Nchw && m.is_multiple_of(s.width()) && out_w.is_multiple_of(s.width())
        })
        .unwrap_or(OutputStore::Scalar)
}

/// How the input transform loads: aligned vectors for the middle of each patch row where NCHW,
/// the tile side m and the input width allow it and the left padding is under r, else element
/// by element.
fn input_load(format: DataFormat, m: usize, r: usize, in_w: usize, pad_left: usize) -> InputLoad {
    [4, 2]
        .into_iter()
        .find(|&w| {
            format == DataFormat::Nchw && m.is_multiple_of(w) && in_w.is_multiple_of(w) && pad_left < r
        })
        .map_or(InputLoad::Scalar, |width| InputLoad::Vector { width, pad_left })
}

/// The tile of the Winograd product on f16 tensor cores: F(2,3). Rounding both transformed
/// operands to f16 (11 bits, as TF32) is amplified by the transforms: in the CPU emulation
/// (`reference::conv2d_winograd_high_emulated`, uniform data at 64–512 channels) F(2,3) gave
/// 4.9–5.8e-4 against f64, F(4,3) 1.7–2.3e-3 and F(6,3) 1.1–1.4e-2, where the f16 implicit
/// GEMM gave 2.6–3.0e-4; only F(2,3) stays within `high`'s tolerance.
const TENSOR_TILE_F16: usize = 2;

/// The Winograd path for a shape: what the descriptor forces (a tuned choice arrives forced),
/// else the heuristics above; and how the batch splits. With `tensor` (the precision the fragments
/// compute in, and the adapter's fragments), the batched product runs on cooperative matrices.
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
    device: DeviceType,
    tensor: Option<(Precision, TensorCaps)>,
) -> Result<(Path, usize, usize)> {
    let [n, c, _, _] = input;
    let [_, k, oh, ow] = output;
    let r = desc.kernel[0];
    // Grouped: each product is (output channels per group) × (input channels per group), and
    // the heuristics below are about one product's size and rows.
    let groups = desc.groups;
    let kg = k / groups;
    let auto = match tensor {
        Some((Precision::High, _)) if r == 3 => TENSOR_TILE_F16,
        _ => auto_tile(r, [n, c / groups, k], oh, ow, device),
    };
    let m = desc.tile.unwrap_or(auto);
    let tiles = n * oh.div_ceil(m) * ow.div_ceil(m);
    let layout = desc.layout.unwrap_or_else(|| auto_layout(c, tiles));
    let a2 = (m + r - 1) * (m + r - 1);
    let kernels = match (desc.product, tensor) {
        (Some(Product::Engine(Engine::Coop(b))), Some(_)) => WinogradKernels::Separate(Engine::Coop(b)),
        (_, Some((precision, caps))) => WinogradKernels::Separate(Engine::Coop(super::gemm::tensor_block(
            (kg, tiles, a2 * groups),
            precision,
            caps,
            limits,
        )?)),
        (Some(Product::Fused), None) if desc.groups > 1 => {
            return Err(Error::Unsupported("the fused Winograd kernel takes one channel group only".into()))
        }
        (Some(Product::Fused), None) => WinogradKernels::Fused,
        (Some(Product::Engine(Engine::Registers(b))), None) => {
            WinogradKernels::Separate(Engine::Registers(b))
        }
        (Some(Product::Engine(Engine::Coop(b))), None) => {
            return Err(Error::Unsupported(format!(
                "tensor block {b}: no cooperative matrices for precision {} on this adapter",
                desc.precision
            )))
        }
        (None, None) if desc.groups == 1 && auto_fuse(m, c, k, device) => WinogradKernels::Fused,
        (Some(Product::Separate) | None, None) => {
            WinogradKernels::Separate(Engine::Registers(auto_block(kg, tiles, limits)?))
        }
    };
    // What the product computes in: the fragments' precision on cooperative matrices, else f32.
    let (precision, caps) = match (kernels.engine(), tensor) {
        (Some(Engine::Coop(_)), Some(tensor)) => tensor,
        _ => (Precision::Highest, TensorCaps::default()),
    };
    if let Some(engine) = kernels.engine() {
        super::check_engine(&engine, precision, caps, limits)?;
    }
    let (chunk, band_rows) = split(m, r, kernels, input, output, desc, limits)?;
    let choice = Choice::Winograd { m, layout, kernels };
    Ok((Path::Core { choice, kernel: desc.kernel, precision }, chunk, band_rows))
}

/// Splits the work so every buffer binding and grid fits: whole images per chunk where they
/// fit, else one image at a time in bands of tile rows (the Winograd-domain buffers are the
/// biggest, 2–4× the input). Returns (images per chunk, tile rows per band).
fn split(
    m: usize,
    r: usize,
    kernels: WinogradKernels,
    input: [usize; 4],
    output: [usize; 4],
    desc: &Conv2dDesc,
    limits: &Limits,
) -> Result<(usize, usize)> {
    let [n, c, _, _] = input;
    let [_, k, oh, ow] = output;
    let budget = Budget::new(input, output, desc.dtype.size(), limits)?;
    let max_groups = budget.max_groups;
    let (th, tw) = (oh.div_ceil(m) as u64, ow.div_ceil(m) as u64);
    // The product block's rows and columns per workgroup (none for the fused kernel); its fit
    // to the adapter was checked where it was chosen.
    let block = kernels.engine().map(|e| [e.dims()[0], e.dims()[1]]);
    let max_rows = match block {
        None => {
            let block = FusedBlock::new(m, r);
            let [x, y] = block.workgroup_size();
            if !workgroup_fits([x, y], block.workgroup_bytes(), limits) {
                return Err(Error::TooLarge(format!(
                    "the fused kernel needs {} bytes of workgroup memory and {x}×{y} invocations; \
                     the adapter allows {} bytes and {} invocations",
                    block.workgroup_bytes(),
                    limits.max_compute_workgroup_storage_size,
                    limits.max_compute_invocations_per_workgroup
                )));
            }
            // Nothing but activations in memory; the grid is (tile blocks, channel blocks).
            let channel_blocks = (k as u64).div_ceil(block.out_channels as u64);
            let max_rows = max_groups * block.tiles as u64 / tw;
            if channel_blocks > max_groups || max_rows == 0 {
                return Err(Error::TooLarge(format!(
                    "the fused grid ({tw} tiles per row, {channel_blocks} channel blocks) exceeds \
                     {max_groups} workgroups per dimension"
                )));
            }
            max_rows
        }
        Some([bm, bn]) => {
            let a2 = ((m + r - 1) * (m + r - 1)) as u64;
            // Bytes and invocations per tile row of the biggest Winograd-domain buffer; rows of
            // the buffer are padded by up to 3 tiles, so keep room for that.
            let row_bytes = a2 * c.max(k) as u64 * tw * 4;
            let max_domain = budget.max_binding.saturating_sub(a2 * c.max(k) as u64 * 16);
            let row_invocations = tw * c.max(k) as u64;
            let groups = desc.groups as u64;
            let channel_blocks = (k as u64 / groups).div_ceil(bm as u64);
            if a2 * groups > max_groups || channel_blocks > max_groups {
                return Err(Error::TooLarge(format!(
                    "the product grid ({a2} tile elements, {channel_blocks} channel blocks) exceeds \
                     {max_groups} workgroups per dimension"
                )));
            }
            // The product's grid x counts column blocks of the chunk's tiles.
            let max_rows = (max_domain / row_bytes)
                .min(budget.max_invocations / row_invocations)
                .min(max_groups * bn as u64 / tw);
            if max_rows == 0 {
                let slack = a2 * c.max(k) as u64 * 16;
                return Err(Error::TooLarge(if max_domain < row_bytes && budget.max_binding >= row_bytes {
                    format!(
                        "one row of {tw} tiles needs a {row_bytes}-byte Winograd-domain binding; the \
                         device allows {} bytes, but {slack} of them are kept for padding each band's \
                         rows to a multiple of 4 tiles ({a2} tile elements × {} channels × 4 tiles × 4 \
                         bytes), leaving {max_domain}",
                        budget.max_binding,
                        c.max(k)
                    )
                } else if max_domain < row_bytes {
                    format!(
                        "one row of {tw} tiles needs a {row_bytes}-byte Winograd-domain binding but the device allows {} bytes",
                        budget.max_binding
                    )
                } else {
                    format!(
                        "one row of {tw} tiles of {} channels exceeds the grid ({} invocations or {} \
                         columns at {max_groups} workgroups per dimension)",
                        c.max(k),
                        budget.max_invocations,
                        max_groups * bn as u64
                    )
                }));
            }
            max_rows
        }
    };
    // The filter transform runs once over every (output, input) channel pair of a group.
    let prep = (k * (c / desc.groups)) as u64;
    if prep > budget.max_invocations {
        return Err(Error::TooLarge(format!(
            "the filter transform's {prep} invocations exceed the grid's {} ({max_groups} workgroups per dimension)",
            budget.max_invocations
        )));
    }
    // Whole images per chunk when max_rows tile rows hold at least one image, else one image
    // in bands of max_rows rows.
    Ok(if max_rows >= th {
        ((max_rows / th).min(budget.by_activations).min(n as u64) as usize, th as usize)
    } else {
        (1, max_rows as usize)
    })
}

/// The weight preparation: `U = G g Gᵀ` for (m, layout), stored `[e][c][k]` or `[c][e][k]`
/// with rows of k (of a group's k, when grouped) padded to a multiple of 4.
fn prep(t: &Transforms, layout: TileLayout, g: &Geometry, limits: &Limits, groups: u32) -> Result<Prep> {
    let kernel = codegen::filter_transform(t, layout, groups > 1);
    let a2 = (t.alpha() * t.alpha()) as u64;
    let (cg, kg) = (g.c / groups, g.k / groups);
    let k_stride = kg.next_multiple_of(4);
    let [ws_o, ws_i, ws_h, ws_w] = g.ws;
    let params = if groups > 1 {
        let p = GroupedFilterParams {
            out_channels: g.k,
            in_channels: cg,
            k_stride,
            group_out: kg,
            channels: g.c,
            ws_o,
            ws_i,
            ws_h,
            ws_w,
        };
        p.words()
    } else {
        FilterParams { out_channels: g.k, in_channels: g.c, k_stride, ws_o, ws_i, ws_h, ws_w }.words()
    };
    let key = format!("winograd_{}_{}_{layout}", t.m, t.r);
    let bytes = a2 * k_stride as u64 * g.c as u64 * 4;
    Prep::new(key, bytes, kernel, g.k as u64 * cg as u64, params, limits)
}

/// The passes of a Winograd plan.
pub(crate) fn build(
    desc: &Conv2dDesc,
    plan: &Plan,
    g: &Geometry,
    limits: &Limits,
    (m, r, layout, kernels): (usize, usize, TileLayout, WinogradKernels),
) -> Result<Recipe> {
    let t = Transforms::for_shipped_tile(m, r);
    let ep = super::epilogue(desc);
    let tw = plan.tiles_hw()[1];
    let mut recipe =
        Recipe { preps: vec![prep(&t, layout, g, limits, desc.groups as u32)?], ..Recipe::default() };
    let [xs_n, xs_c, xs_h, xs_w] = g.xs;
    let [ys_n, ys_c, ys_h, ys_w] = g.ys;
    let k_stride = g.k.next_multiple_of(4);
    // Which tiles a piece covers; rows of the Winograd-domain matrices are padded to a
    // multiple of 4 for vec4 access.
    let tiling = |p: &Piece| -> Result<[u32; 5]> {
        let tiles: u32 = fit("tiles per pass", p.images * p.tile_rows * tw)?;
        Ok([
            tiles,
            fit("tiles per row", tw)?,
            fit("tiles per image", p.tile_rows * tw)?,
            p.tile_row0 as u32,
            tiles.next_multiple_of(4),
        ])
    };
    // The three separate kernels around a product kernel with a `[bm, bn]` block, on the
    // register core (`coop` None) or on cooperative matrices of this fragment type; with f16
    // fragments a max-magnitude pass over each piece's input feeds the product's scales.
    let separate = |recipe: &mut Recipe, product_k: Kernel, [bm, bn]: [u32; 2], coop: Option<FragType>| {
        let input_max = coop == Some(FragType::F16);
        let load = match desc.padding_mode {
            PaddingMode::Zeros => input_load(desc.data_format, m, r, plan.input[3], desc.padding.left),
            // The vector loads read the aligned middle of a patch row and zeros around it.
            _ => InputLoad::Scalar,
        };
        let input_k = codegen::input_transform(&t, layout, g.storage, load, desc.padding_mode);
        let groups = desc.groups as u32;
        let grouped = groups > 1;
        let store = output_store(desc.data_format, m, plan.output[3]);
        let output_k = codegen::output_transform(&t, layout, g.storage, ep, store);
        let a2 = (t.alpha() * t.alpha()) as u64;
        let chunk_tiles = ((plan.chunk * plan.band_rows * tw) as u64).next_multiple_of(4);
        recipe.scratch = vec![
            ("transformed input", a2 * g.c as u64 * chunk_tiles * 4),
            ("products", a2 * g.k as u64 * chunk_tiles * 4),
        ];
        let input_max = input_max.then(|| recipe.input_max_word());
        let (v, prod) = (Slot::Scratch(0), Slot::Scratch(1));
        for piece in &plan.pieces() {
            if let Some(word) = input_max {
                recipe.push_input_max(plan, g, limits, piece, word)?;
            }
            let [tiles, tiles_w, tiles_per_image, tile_row0, tile_stride] = tiling(piece)?;
            let (x_offset, y_offset) = (g.x_offset(piece), g.y_offset(piece));
            let input_params = InputParams {
                channels: g.c,
                tiles,
                tiles_w,
                tiles_per_image,
                tile_row0,
                tile_stride,
                x_offset,
                in_h: g.in_h,
                in_w: g.in_w,
                pad_top: g.pad_top,
                pad_left: g.pad_left,
                xs_n,
                xs_c,
                xs_h,
                xs_w,
            };
            let grid = super::grid(g.c as u64 * tiles as u64, limits)?;
            recipe.push(&input_k, grid, vec![Slot::Input, v], input_params.words(), piece);
            let (group_in, group_out) = (g.c / groups, g.k / groups);
            let product_params = if coop.is_some() {
                let p = TensorProductParams {
                    out_channels: g.k,
                    channels: g.c,
                    k_stride: group_out.next_multiple_of(4),
                    tile_stride,
                    groups,
                    group_in,
                    group_out,
                    w_amax: g.weight_amax,
                };
                p.words()
            } else if grouped {
                let p = GroupedProductParams {
                    out_channels: g.k,
                    channels: g.c,
                    k_stride: group_out.next_multiple_of(4),
                    tile_stride,
                    groups,
                    group_in,
                    group_out,
                };
                p.words()
            } else {
                ProductParams { out_channels: g.k, channels: g.c, k_stride, tile_stride }.words()
            };
            let grid = [tiles.div_ceil(bn), group_out.div_ceil(bm), a2 as u32 * groups];
            let mut slots = vec![Slot::Prepared, v, prod];
            slots.extend(input_max);
            recipe.push(&product_k, grid, slots, product_params, piece);
            let output_params = OutputParams {
                out_channels: g.k,
                tiles,
                tiles_w,
                tiles_per_image,
                tile_row0,
                tile_stride,
                y_offset,
                r_offset: y_offset,
                out_h: g.out_h,
                out_w: g.out_w,
                ys_n,
                ys_c,
                ys_h,
                ys_w,
            };
            let grid = super::grid(g.k as u64 * tiles as u64, limits)?;
            recipe.push(
                &output_k,
                grid,
                with_epilogue(ep, vec![prod, Slot::Output]),
                output_params.words(),
                piece,
            );
        }
        Ok::<(), Error>(())
    };
    match kernels {
        WinogradKernels::Fused => {
            let kernel = codegen::fused(&t, layout, g.storage, ep, desc.padding_mode);
            let block = FusedBlock::new(m, r);
            for piece in &plan.pieces() {
                let [tiles, tiles_w, tiles_per_image, tile_row0, _] = tiling(piece)?;
                let (x_offset, y_offset) = (g.x_offset(piece), g.y_offset(piece));
                let params = FusedParams {
                    channels: g.c,
                    out_channels: g.k,
                    k_stride,
                    tiles,
                    tiles_w,
                    tiles_per_image,
                    tile_row0,
                    x_offset,
                    in_h: g.in_h,
                    in_w: g.in_w,
                    pad_top: g.pad_top,
                    pad_left: g.pad_left,
                    xs_n,
                    xs_c,
                    xs_h,
                    xs_w,
                    y_offset,
                    r_offset: y_offset,
                    out_h: g.out_h,
                    out_w: g.out_w,
                    ys_n,
                    ys_c,
                    ys_h,
                    ys_w,
                };
                let slots = with_epilogue(ep, vec![Slot::Input, Slot::Output, Slot::Prepared]);
                let grid = [tiles.div_ceil(block.tiles), g.k.div_ceil(block.out_channels), 1];
                recipe.push(&kernel, grid, slots, params.words(), piece);
            }
        }
        WinogradKernels::Separate(Engine::Registers(b)) => {
            let grouped = desc.groups > 1;
            let k = codegen::product(Operands::Winograd { layout, alpha: t.alpha(), grouped }, b);
            separate(&mut recipe, k, [b.bm(), b.bn()], None)?;
        }
        WinogradKernels::Separate(Engine::Coop(b)) => {
            // f16 fragments scale V by a power of two of the input's largest magnitude, from a
            // max-magnitude pass into a cleared scratch word; f32 ones (Apple) need none.
            let frag = match desc.precision {
                Precision::High => FragType::F16,
                Precision::Highest => FragType::F32,
            };
            let operands = TensorOperands::Winograd { m, r, layout, grouped: desc.groups > 1 };
            let k = codegen::coop_product(operands, b, frag, g.subgroup);
            separate(&mut recipe, k, [b.bm(), b.bn()], Some(frag))?;
        }
    }
    Ok(recipe)
}
