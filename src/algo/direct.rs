//! The direct convolution: one invocation per output pixel and four output channels of a group.
//! Every convolution, the reference path and the last resort.

use super::{with_epilogue, Budget, Geometry, Recipe, Slot};
use crate::codegen;
use crate::codegen::uniform::{fit, DirectParams, Uniform};
use crate::desc::Conv2dDesc;
use crate::error::Result;
use crate::plan::{Path, Plan};
use wgpu::Limits;

/// How the batch splits: as many images as the grid and the bindings allow.
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
) -> Result<(Path, usize, usize)> {
    let budget = Budget::new(input, output, desc.dtype.size(), limits)?;
    let [n, _, _, _] = input;
    let [_, k, oh, ow] = output;
    let per_image = (k.div_ceil(4) * oh * ow) as u64;
    if per_image > budget.max_invocations {
        return Err(crate::error::Error::TooLarge(format!(
            "one image's {per_image} invocations exceed the grid's {}",
            budget.max_invocations
        )));
    }
    Ok((Path::Direct, budget.images(n, per_image, budget.max_invocations), 1))
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
        let pixels: u32 = fit("pixels per pass", piece.images * plan.output[2] * plan.output[3])?;
        let y_offset = g.y_offset(piece);
        let params = DirectParams {
            pixels,
            blocks,
            out_hw: g.out_h * g.out_w,
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
            x_offset: g.x_offset(piece),
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
            out_w: g.out_w,
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
