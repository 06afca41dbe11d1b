//! The depthwise kernel (`shaders/depthwise.wgsl`): one invocation per strip of four output
//! pixels of one channel. The filter sits in registers, each input row the strip needs is read
//! once into registers, and kernel size, stride and dilation are compiled in, so the whole
//! window is straight-line code. Memory-bound by design: its bar is reading the input once and
//! writing the output once.

use super::epilogue::Epilogue;
use super::padding;
use super::skeleton::fill;
use super::storage::{act_header, buffer, Access, Storage};
use super::uniform::{DepthwiseParams, Uniform};
use super::{Kernel, WORKGROUP};
use crate::desc::PaddingMode;

const DEPTHWISE_SKELETON: &str = include_str!("../../shaders/depthwise.wgsl");

/// Output pixels per invocation, along a row.
pub(crate) const STRIP: usize = 4;

/// What is compiled into a depthwise kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DepthwiseShape {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[dh, dw]`.
    pub dilation: [usize; 2],
    /// Store each strip as one aligned vec4 (NCHW, output width a multiple of 4).
    pub vec4_store: bool,
    /// What the padding reads as.
    pub padding_mode: PaddingMode,
    /// Neighbouring invocations take neighbouring channels (NHWC, where channels are
    /// contiguous) rather than neighbouring strips of a row (NCHW).
    pub channels_fastest: bool,
}

/// The depthwise kernel for one shape, dtype and epilogue.
pub(crate) fn depthwise(s: DepthwiseShape, storage: Storage, ep: Epilogue) -> Kernel {
    let ([kh, kw], [sh, sw], [dh, dw]) = (s.kernel, s.stride, s.dilation);
    let span = (STRIP - 1) * sw + (kw - 1) * dw + 1;
    let mut body = Vec::new();
    for ky in 0..kh {
        for kx in 0..kw {
            body.push(format!("let w{ky}_{kx} = w[wb + {ky}u * params.ws_h + {kx}u * params.ws_w];"));
        }
    }
    for j in 0..STRIP {
        body.push(format!("var acc{j} = 0.0;"));
    }
    for ky in 0..kh {
        body.push(format!("let iy{ky} = top + {};", ky * dh));
        if s.padding_mode == PaddingMode::Zeros {
            body.push(format!("if (iy{ky} >= 0 && iy{ky} < params.in_h) {{"));
            body.push(format!("    let row = xb + u32(iy{ky}) * params.xs_h;"));
        } else {
            body.push("{".into());
            body.push(format!("    let row = xb + u32(pad_coord(iy{ky}, params.in_h)) * params.xs_h;"));
        }
        for t in 0..span {
            body.push(format!("    let s{t} = load(row, left + {t});"));
        }
        for j in 0..STRIP {
            let terms: Vec<String> =
                (0..kw).map(|kx| format!("s{} * w{ky}_{kx}", j * sw + kx * dw)).collect();
            body.push(format!("    acc{j} += {};", terms.join(" + ")));
        }
        body.push("}".into());
    }
    let mut stores = Vec::new();
    if s.vec4_store {
        stores.push("let rel = (n * params.ys_n + k * params.ys_c + oy * params.ys_h + ox0) / 4u;".into());
        stores.push(
            "st_y4(params.y_offset / 4u + rel, finish(vec4<f32>(acc0, acc1, acc2, acc3), k, rel));".into(),
        );
    } else {
        for j in 0..STRIP {
            stores.push(format!("if (ox0 + {j}u < params.out_w) {{"));
            stores.push(format!(
                "    let rel = n * params.ys_n + k * params.ys_c + oy * params.ys_h + (ox0 + {j}u) * params.ys_w;"
            ));
            stores.push(format!("    st_y(params.y_offset + rel, finish(acc{j}, k, rel));"));
            stores.push("}".into());
        }
    }
    let width = if s.vec4_store { 4 } else { 1 };
    let mut values = act_header(storage).to_vec();
    let (x, x_fns) = buffer(storage, "x", "x", 1, Access::Read, 1);
    let (y, y_fns) = buffer(storage, "y", "y", 2, Access::Write, width);
    values.extend([("X_BINDING", x), ("Y_BINDING", y), ("ACCESSORS", format!("{x_fns}\n\n{y_fns}"))]);
    values.extend(ep.wgsl(storage, 4, width));
    values.extend([
        ("PARAMS", DepthwiseParams::wgsl()),
        ("WORKGROUP", WORKGROUP.to_string()),
        ("STRIP", STRIP.to_string()),
        ("DECODE", decode(s.channels_fastest)),
        ("SH", sh.to_string()),
        ("SW", sw.to_string()),
        ("BODY", body.join("\n")),
        ("PAD_FUNCTIONS", padding::functions(s.padding_mode)),
        ("LOAD", load_fn(s.padding_mode)),
        ("STORES", stores.join("\n")),
    ]);
    let store = match (s.vec4_store, s.channels_fastest) {
        (true, _) => "_store4",
        (false, true) => "_cfirst",
        (false, false) => "",
    };
    Kernel {
        name: format!(
            "depthwise_{kh}x{kw}_s{sh}x{sw}_d{dh}x{dw}{store}_{storage}{}{}",
            ep.suffix(),
            padding::suffix(s.padding_mode)
        ),
        source: fill(DEPTHWISE_SKELETON, &values),
        fields: DepthwiseParams::FIELDS,
    }
}

/// `fn load(row, ix) -> f32`: one element of an input row at a padded column.
fn load_fn(mode: PaddingMode) -> String {
    let map = match mode {
        PaddingMode::Zeros => {
            "    if (ix < 0 || ix >= params.in_w) {\n        return 0.0;\n    }\n    let px = ix;\n"
        }
        _ => "    let px = pad_coord(ix, params.in_w);\n",
    };
    format!("fn load(row: u32, ix: i32) -> f32 {{\n{map}    return ld_x(row + u32(px) * params.xs_w);\n}}")
}

/// The invocation index split into (strip, row, channel, image), in the order memory runs.
fn decode(channels_fastest: bool) -> String {
    let lines: &[&str] = if channels_fastest {
        &[
            "let k = id % params.out_channels;",
            "let rest = id / params.out_channels;",
            "let ox0 = (rest % params.strips_w) * STRIP;",
            "let rows = rest / params.strips_w;",
            "let oy = rows % params.out_h;",
            "let n = rows / params.out_h;",
        ]
    } else {
        &[
            "let ox0 = (id % params.strips_w) * STRIP;",
            "let rows = id / params.strips_w;",
            "let oy = rows % params.out_h;",
            "let planes = rows / params.out_h;",
            "let k = planes % params.out_channels;",
            "let n = planes / params.out_channels;",
        ]
    };
    lines.join("\n")
}
