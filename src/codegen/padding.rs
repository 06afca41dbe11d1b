//! How kernels read the padding ring around an image: as zeros (bounds checks, the default and
//! the fastest), or, for PyTorch's other padding modes, by mapping the coordinate back into the
//! image (`pad_coord`), so no padded copy of the input ever exists.

use crate::desc::PaddingMode;

/// `fn pad_coord(i, n)` and `fn pad_coord4(i, n)`: a coordinate in `[-pad, n + pad)` mapped into
/// `[0, n)`; empty for zeros. Reflect needs pad < n and circular pad ≤ n (checked by the plan).
pub(crate) fn functions(mode: PaddingMode) -> String {
    let body = |t: &str, n: &str| {
        match mode {
        PaddingMode::Zeros => String::new(),
        // PyTorch's reflect: the edge itself is not repeated.
        PaddingMode::Reflect => format!(
            "    let r = select(i, -i, i < {t}(0));\n    return select(r, {t}(2) * ({n} - {t}(1)) - r, r >= {n});\n"
        ),
        PaddingMode::Replicate => format!("    return clamp(i, {t}(0), {n} - {t}(1));\n"),
        PaddingMode::Circular => {
            format!("    let r = select(i, i + {n}, i < {t}(0));\n    return select(r, r - {n}, r >= {n});\n")
        }
    }
    };
    if mode == PaddingMode::Zeros {
        return String::new();
    }
    format!(
        "// Padding mode {mode}: a coordinate outside the image mapped back into it.\n\
         fn pad_coord(i: i32, n: i32) -> i32 {{\n{}}}\n\n\
         fn pad_coord4(i: vec4<i32>, n: i32) -> vec4<i32> {{\n    let nn = vec4<i32>(n);\n{}}}",
        body("i32", "n"),
        body("vec4<i32>", "nn")
    )
}

/// `fn load(base, iy, ix) -> f32`: one input element at padded coordinates, read with `ld_x`.
/// Zeros are branch-free: the read goes to the image's first element outside the image and a
/// `select` drops it. Measured under headless Chromium 156's SwiftShader (Dawn): with the early
/// `return 0.0` this replaced, `fused_f2_3_r_16_6_6_f32` did not create a pipeline in 30 s (64
/// of the 67 fused kernels took over 30 s); with the `select`, all 67 took 0.6–2.9 s (median
/// 1.0 s).
pub(crate) fn load_fn(mode: PaddingMode) -> String {
    let at = "ld_x(base + u32(py) * params.xs_h + u32(px) * params.xs_w)";
    let body = match mode {
        PaddingMode::Zeros => format!(
            "    let inside = (iy >= 0) & (iy < params.in_h) & (ix >= 0) & (ix < params.in_w);\n    \
             let py = select(0, iy, inside);\n    let px = select(0, ix, inside);\n    \
             return select(0.0, {at}, inside);\n"
        ),
        _ => format!(
            "    let py = pad_coord(iy, params.in_h);\n    let px = pad_coord(ix, params.in_w);\n    \
             return {at};\n"
        ),
    };
    format!("fn load(base: u32, iy: i32, ix: i32) -> f32 {{\n{body}}}")
}

/// The part of a kernel name the mode decides: nothing for zeros.
pub(crate) fn suffix(mode: PaddingMode) -> String {
    match mode {
        PaddingMode::Zeros => String::new(),
        other => format!("_{other}"),
    }
}
