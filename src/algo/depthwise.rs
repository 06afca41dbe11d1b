//! Depthwise convolution (groups = in_channels, any channel multiplier): one invocation per
//! strip of output pixels of one channel, the filter in registers. Memory-bound, so it is
//! judged by bytes moved (input read once, output written once), not FLOP/s.

use super::{with_epilogue, Budget, Geometry, Recipe, Slot};
use crate::codegen::uniform::{fit, DepthwiseParams, Uniform};
use crate::codegen::{self, DepthwiseShape, STRIP};
use crate::desc::{Conv2dDesc, DataFormat};
use crate::error::{Error, Result};
use crate::plan::{Path, Plan};
use wgpu::Limits;

/// Kernel sides and strides beyond this are not compiled into straight-line code (the window
/// would be hundreds of registers); such convolutions go to the GEMM or direct path.
const MAX_WINDOW: usize = 64;

/// Why the depthwise kernel cannot run a descriptor, if it cannot.
pub(crate) fn refuses(desc: &Conv2dDesc) -> Option<String> {
    let [kh, kw] = desc.kernel;
    let span = (STRIP - 1) * desc.stride[1] + (kw - 1) * desc.dilation[1] + 1;
    if !desc.is_depthwise() {
        Some(format!(
            "depthwise needs groups = in_channels > 1 (got groups {}, in_channels {})",
            desc.groups, desc.in_channels
        ))
    } else if kh * kw > MAX_WINDOW || span > MAX_WINDOW || desc.dilation[0] * kh > 4 * MAX_WINDOW {
        Some(format!(
            "the depthwise kernel compiles the window in; kernel {:?}, stride {:?}, dilation {:?} is too wide",
            desc.kernel, desc.stride, desc.dilation
        ))
    } else {
        None
    }
}

/// How the batch splits: as many images as the grid and the bindings allow.
pub(crate) fn plan(
    desc: &Conv2dDesc,
    input: [usize; 4],
    output: [usize; 4],
    limits: &Limits,
) -> Result<(Path, usize, usize)> {
    if let Some(why) = refuses(desc) {
        return Err(Error::Unsupported(why));
    }
    let budget = Budget::new(input, output, desc.dtype.size(), limits)?;
    let [n, _, _, _] = input;
    let [_, k, oh, ow] = output;
    // One invocation per strip of a row, per channel; the epilogue, where it runs as a pass of
    // its own, one per output element. Bands are whole output rows.
    let per_row = (k * ow.div_ceil(STRIP)) as u64;
    let per_row = if super::epilogue_split(desc, 3, limits) { per_row.max((k * ow) as u64) } else { per_row };
    let rows = budget.max_invocations / per_row.max(1);
    if rows == 0 {
        return Err(Error::TooLarge(format!(
            "one output row's {per_row} invocations exceed the grid's {}",
            budget.max_invocations
        )));
    }
    Ok(if rows >= oh as u64 {
        (Path::Depthwise, budget.images(n, per_row * oh as u64, budget.max_invocations), oh * ow)
    } else {
        (Path::Depthwise, 1, rows as usize * ow)
    })
}

/// The passes of a depthwise plan.
pub(crate) fn build(desc: &Conv2dDesc, plan: &Plan, g: &Geometry, limits: &Limits) -> Result<Recipe> {
    let ep = super::epilogue(desc);
    let vec4_store = desc.data_format == DataFormat::Nchw && plan.output[3].is_multiple_of(STRIP);
    let shape = DepthwiseShape {
        kernel: desc.kernel,
        stride: desc.stride,
        dilation: desc.dilation,
        vec4_store,
        padding_mode: desc.padding_mode,
        channels_fastest: desc.data_format == DataFormat::Nhwc,
    };
    let kernel = codegen::depthwise(shape, g.storage, ep);
    let strips_w: u32 = fit("strips per row", plan.output[3].div_ceil(STRIP))?;
    let [ws_o, _, ws_h, ws_w] = g.ws;
    let [xs_n, xs_c, xs_h, xs_w] = g.xs;
    let [ys_n, ys_c, ys_h, ys_w] = g.ys;
    let mut recipe = Recipe::default();
    for piece in &plan.pieces() {
        let window = g.window(desc, plan, piece, false)?;
        let strips: u32 =
            fit("strips per pass", piece.images * plan.output[1] * piece.tile_rows * strips_w as usize)?;
        let y_offset = window.y_offset;
        let params = DepthwiseParams {
            out_channels: g.k,
            multiplier: g.k / g.c,
            strips_w,
            strips,
            out_h: window.out_h,
            out_w: g.out_w,
            ws_o,
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
            ys_n,
            ys_c,
            ys_h,
            ys_w,
        };
        let slots = with_epilogue(ep, vec![Slot::Input, Slot::Output, Slot::Weights]);
        recipe.push(&kernel, super::grid(strips as u64, limits)?, slots, params.words(), piece);
    }
    Ok(recipe)
}
