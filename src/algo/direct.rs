//! The direct convolution: one invocation per output pixel and four output channels of a group.
//! Every convolution, the reference path and the last resort.

use super::{with_epilogue, Budget, Geometry, Recipe, Slot};
use crate::codegen;
use crate::codegen::uniform::{fit, DirectParams, Uniform};
use crate::desc::Conv2dDesc;
use crate::error::Result;
use crate::plan::{Path, Plan};
use wgpu::Limits;

/// How the batch splits: as many images as the grid and the bindings allow, else one image in
/// bands of output rows (or segments of one row) that the grid allows. The third value is
/// output pixels per pass (`super::band_shape`).
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
) -> Result<(Path, usize, usize)> {
    let budget = Budget::new(input, output, desc.dtype.size(), limits)?;
    let [n, _, _, _] = input;
    let [_, k, oh, ow] = output;
    let kg = k / desc.groups;
    let blocks = (kg.div_ceil(4) * desc.groups) as u64;
    // Where the epilogue runs as a pass of its own, it takes one invocation per output element.
    let per_pixel = if super::epilogue_split(desc, 3, limits) { blocks.max(k as u64) } else { blocks };
    let (chunk, band) = budget.pixels(n, [oh, ow], per_pixel, budget.max_invocations)?;
    Ok((Path::Direct, chunk, band))
}

/// The passes of a direct plan.
pub(crate) fn build(desc: &Conv2dDesc, plan: &Plan, g: &Geometry, limits: &Limits) -> Result<Recipe> {
    let ep = super::epilogue(desc);
    let kernel = codegen::direct(g.storage, ep, desc.padding_mode);
    let (cg, kg) = (g.c / desc.groups as u32, g.k / desc.groups as u32);
    let k_blocks_per_group = kg.div_ceil(4);
    let blocks = k_blocks_per_group * desc.groups as u32;
    let [ws_o, ws_i, ws_h, ws_w] = g.ws;
    let [xs_n, xs_c, xs_h, xs_w] = g.xs;
    let [ys_n, ys_c, ys_h, ys_w] = g.ys;
    let mut recipe = Recipe::default();
    for piece in &plan.pieces() {
        let window = g.window(desc, plan, piece, false)?;
        let pixels: u32 = fit("pixels per pass", piece.images * piece.tile_rows * piece.cols)?;
        let y_offset = window.y_offset;
        let params = DirectParams {
            pixels,
            blocks,
            out_hw: window.out_h * window.out_w,
            k_blocks_per_group,
            group_in: cg,
            group_out: kg,
            kernel_h: fit("kernel height", desc.kernel[0])?,
            kernel_w: fit("kernel width", desc.kernel[1])?,
            stride_h: fit("stride", desc.stride[0])?,
            stride_w: fit("stride", desc.stride[1])?,
            dil_h: fit("dilation", desc.dilation[0])?,
            dil_w: fit("dilation", desc.dilation[1])?,
            ws_o,
            ws_i,
            ws_h,
            ws_w,
            x_offset: window.x_offset,
            in_h: g.in_h,
            in_w: g.in_w,
            pad_top: window.pad_top,
            pad_left: window.pad_left,
            xs_n,
            xs_c,
            xs_h,
            xs_w,
            y_offset,
            r_offset: y_offset,
            out_w: window.out_w,
            ys_n,
            ys_c,
            ys_h,
            ys_w,
        };
        let slots = with_epilogue(ep, vec![Slot::Input, Slot::Output, Slot::Weights]);
        let grid = super::grid(blocks as u64 * pixels as u64, limits)?;
        recipe.push(&kernel, grid, slots, params.words(), piece);
    }
    Ok(recipe)
}
