//! CPU reference convolutions for tests and the CLI's `--verify`: a direct convolution accumulated
//! in f64, and an f32 Winograd that follows the GPU's arithmetic step by step.

use crate::blocks::Engine;
use crate::desc::{Activation, Conv2dDesc, DType, Padding, PaddingMode};
use crate::error::{Error, Result};
use crate::lowering::{to_f32, Transforms};
use crate::plan::{Choice, Path, Plan};
use std::ops::Range;

/// The sizes of one call, checked against the descriptor and the data handed in.
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    oh: usize,
    ow: usize,
}

fn shape_error<T>(msg: String) -> Result<T> {
    Err(Error::InvalidShape(msg))
}

/// The product of `dims`, or an error if the product of its non-zero entries overflows (so that
/// every partial product used for indexing fits in `usize` too).
fn checked_len(what: &str, dims: &[usize]) -> Result<usize> {
    let nonzero = dims.iter().filter(|&&d| d != 0).try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match nonzero {
        Some(len) if !dims.contains(&0) => Ok(len),
        Some(_) => Ok(0),
        None => shape_error(format!("{what} dimensions {dims:?} overflow usize")),
    }
}

/// Validates everything about one call; shared by both convolutions.
fn check(
    desc: &Conv2dDesc,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Geometry> {
    desc.validate()?;
    let [n, c, h, w] = shape;
    let k = desc.out_channels;
    if c != desc.in_channels {
        return shape_error(format!("input has {c} channels but the descriptor has {}", desc.in_channels));
    }
    let in_len = checked_len("input", &shape)?;
    if input.len() != in_len {
        return shape_error(format!("input has {} elements but shape {shape:?} needs {in_len}", input.len()));
    }
    let [kh, kw] = desc.kernel;
    let weight_dims = [k, c / desc.groups, kh, kw];
    checked_len("weight", &weight_dims)?;
    if weights.len() != desc.weight_len()? {
        return shape_error(format!(
            "weights have {} elements but {weight_dims:?} needs {}",
            weights.len(),
            desc.weight_len()?
        ));
    }
    desc.check_bias(bias.map(<[f32]>::len))?;
    let p = desc.padding;
    let padded_fits = h.checked_add(p.top).and_then(|v| v.checked_add(p.bottom)).is_some()
        && w.checked_add(p.left).and_then(|v| v.checked_add(p.right)).is_some();
    let span_fits = (0..2)
        .all(|i| (desc.kernel[i] - 1).checked_mul(desc.dilation[i]).and_then(|s| s.checked_add(1)).is_some());
    if !padded_fits || !span_fits {
        return shape_error("padded input or dilated kernel size overflows usize".into());
    }
    let [oh, ow] = desc.output_hw(h, w)?;
    desc.check_padding(h, w)?;
    let out_len = checked_len("output", &[n, k, oh, ow])?;
    desc.check_residual(residual.map(<[f32]>::len), Some(out_len))?;
    Ok(Geometry { n, c, h, w, k, oh, ow })
}

/// Output positions `o < out` whose input coordinate `o·stride + offset − pad` lies in `0..size`.
fn valid_range(out: usize, stride: usize, offset: usize, pad: usize, size: usize) -> Range<usize> {
    let hi = (size + pad).saturating_sub(offset).div_ceil(stride).min(out);
    let lo = pad.saturating_sub(offset).div_ceil(stride).min(hi);
    lo..hi
}

/// Direct 2-D convolution (cross-correlation, as in PyTorch) accumulated in f64: the reference
/// every GPU path is checked against.
///
/// `shape` is the logical `[n, c, h, w]`; `input`, `residual` and the returned output (logically
/// `[n, k, oh, ow]`) are laid out per `desc.data_format`, `weights` per `desc.weight_format`.
/// Supports stride, dilation, groups and asymmetric padding; bias and then the residual are added
/// before `desc.activation`. Returns [`Error::InvalidShape`] when the data does not match `desc`.
pub fn conv2d_f64(
    desc: &Conv2dDesc,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f64>> {
    let Geometry { n, c, h, w, k, oh, ow } = check(desc, input, shape, weights, bias, residual)?;
    let (cpg, kpg) = (c / desc.groups, k / desc.groups);
    let ([kh, kw], [sh, sw], [dh, dw]) = (desc.kernel, desc.stride, desc.dilation);

    // Gather input and weights into NCHW / OIHW f64 so that the inner loop runs along rows.
    // Padding modes other than zeros are applied here, by gathering the padded image whole
    // (rows and columns through `PaddingMode::source`), which then needs no padding.
    let xs = desc.data_format.strides([n, c, h, w]);
    let (p, h, w) = match desc.padding_mode {
        PaddingMode::Zeros => (desc.padding, h, w),
        _ => (
            Padding::default(),
            h + desc.padding.top + desc.padding.bottom,
            w + desc.padding.left + desc.padding.right,
        ),
    };
    checked_len("padded input", &[n, c, h, w])?;
    let source = |i: usize, pad: usize, n: usize| {
        desc.padding_mode
            .source(i as isize - pad as isize, n as isize)
            .expect("a non-zero mode maps every coordinate") as usize
    };
    let [_, _, h0, w0] = shape;
    let mut x = Vec::with_capacity(n * c * h * w);
    for ni in 0..n {
        for ci in 0..c {
            for y in 0..h {
                let sy = if h == h0 { y } else { source(y, desc.padding.top, h0) };
                let row = ni * xs[0] + ci * xs[1] + sy * xs[2];
                x.extend((0..w).map(|xi| {
                    let sx = if w == w0 { xi } else { source(xi, desc.padding.left, w0) };
                    f64::from(input[row + sx * xs[3]])
                }));
            }
        }
    }
    let ws = desc.weight_strides();
    let mut wt = Vec::with_capacity(weights.len());
    for ko in 0..k {
        for ci in 0..cpg {
            for ky in 0..kh {
                let row = ko * ws[0] + ci * ws[1] + ky * ws[2];
                wt.extend((0..kw).map(|kx| f64::from(weights[row + kx * ws[3]])));
            }
        }
    }

    let (plane, out_plane) = (h * w, oh * ow);
    let mut acc = vec![0f64; n * k * out_plane];
    for (nk, out) in acc.chunks_exact_mut(out_plane.max(1)).enumerate() {
        let (ni, ko) = (nk / k, nk % k);
        let c0 = ko / kpg * cpg;
        for ci in 0..cpg {
            let src = &x[(ni * c + c0 + ci) * plane..][..plane];
            for ky in 0..kh {
                let rows = valid_range(oh, sh, ky * dh, p.top, h);
                for kx in 0..kw {
                    let wv = wt[((ko * cpg + ci) * kh + ky) * kw + kx];
                    let cols = valid_range(ow, sw, kx * dw, p.left, w);
                    if cols.is_empty() {
                        continue;
                    }
                    let ix0 = cols.start * sw + kx * dw - p.left;
                    for oy in rows.clone() {
                        let iy = oy * sh + ky * dh - p.top;
                        let src_row = &src[iy * w + ix0..(iy + 1) * w];
                        let dst_row = &mut out[oy * ow + cols.start..oy * ow + cols.end];
                        // An index loop: unoptimised builds run it several times faster than
                        // an iterator chain, and `--verify` may run in a debug build.
                        let mut j = 0;
                        while j < dst_row.len() {
                            dst_row[j] += wv * src_row[j * sw];
                            j += 1;
                        }
                    }
                }
            }
        }
    }

    let ys = desc.data_format.strides([n, k, oh, ow]);
    let mut out = vec![0f64; acc.len()];
    for (i, &a) in acc.iter().enumerate() {
        let (nk, pix) = (i / out_plane, i % out_plane);
        let (ni, ko, oy, ox) = (nk / k, nk % k, pix / ow, pix % ow);
        let at = ni * ys[0] + ko * ys[1] + oy * ys[2] + ox * ys[3];
        let mut v = a;
        if let Some(b) = bias {
            v += f64::from(b[ko]);
        }
        if let Some(r) = residual {
            v += f64::from(r[at]);
        }
        out[at] = desc.activation.apply(v);
    }
    Ok(out)
}

// Weight and bias gradients

/// The gradient of [`conv2d_f64`]'s output with respect to its weights, accumulated in f64:
/// `dw[k, c, r, s] = Σ_{n,p,q} dy[n, k, p, q] · x[n, g·C/g + c, p·sh + r·dh − pad_top, q·sw +
/// s·dw − pad_left]`, the input read through `desc.padding_mode` (zeros outside the image for
/// zero padding). `input` (logical `shape`) and `dy` (logical `[n, k, oh, ow]`) are laid out
/// per `desc.data_format`; the result per `desc.weight_format`. `dy` is taken before the
/// activation (bias and residual do not change it). [`Error::InvalidShape`] when the data do
/// not match `desc`.
pub fn conv2d_weight_grad_f64(
    desc: &Conv2dDesc,
    input: &[f32],
    shape: [usize; 4],
    dy: &[f32],
) -> Result<Vec<f64>> {
    desc.validate()?;
    let [n, c, h, w] = shape;
    if c != desc.in_channels {
        return shape_error(format!("input has {c} channels but the descriptor has {}", desc.in_channels));
    }
    let in_len = checked_len("input", &shape)?;
    if input.len() != in_len {
        return shape_error(format!("input has {} elements but shape {shape:?} needs {in_len}", input.len()));
    }
    let [oh, ow] = desc.output_hw(h, w)?;
    desc.check_padding(h, w)?;
    let k = desc.out_channels;
    let dy_len = checked_len("dy", &[n, k, oh, ow])?;
    if dy.len() != dy_len {
        return shape_error(format!(
            "dy has {} elements but [{n}, {k}, {oh}, {ow}] needs {dy_len}",
            dy.len()
        ));
    }
    let (cpg, kpg) = (c / desc.groups, k / desc.groups);
    let ([kh, kw], [sh, sw], [dh, dw]) = (desc.kernel, desc.stride, desc.dilation);
    let xs = desc.data_format.strides(shape);
    let ys = desc.data_format.strides([n, k, oh, ow]);
    // Where output coordinate o and kernel tap t read in an image of `size`, `None` for a zero.
    let taps = |out: usize, taps: usize, stride: usize, dil: usize, pad: usize, size: usize| {
        let mut v = Vec::with_capacity(out * taps);
        for o in 0..out {
            for t in 0..taps {
                let i = (o * stride + t * dil) as isize - pad as isize;
                v.push(desc.padding_mode.source(i, size as isize).map(|s| s as usize));
            }
        }
        v
    };
    let rows = taps(oh, kh, sh, dh, desc.padding.top, h);
    let cols = taps(ow, kw, sw, dw, desc.padding.left, w);
    let mut grad = vec![0f64; k * cpg * kh * kw];
    for ni in 0..n {
        for ko in 0..k {
            let c0 = ko / kpg * cpg;
            for p in 0..oh {
                for q in 0..ow {
                    let g = f64::from(dy[ni * ys[0] + ko * ys[1] + p * ys[2] + q * ys[3]]);
                    for ci in 0..cpg {
                        let base = ni * xs[0] + (c0 + ci) * xs[1];
                        for r in 0..kh {
                            let Some(iy) = rows[p * kh + r] else {
                                continue;
                            };
                            let at = ((ko * cpg + ci) * kh + r) * kw;
                            for s in 0..kw {
                                if let Some(ix) = cols[q * kw + s] {
                                    grad[at + s] += g * f64::from(input[base + iy * xs[2] + ix * xs[3]]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let ws = desc.weight_strides();
    let mut out = vec![0f64; grad.len()];
    for (i, &v) in grad.iter().enumerate() {
        let (ko, ci, r, s) = (i / (cpg * kh * kw), i / (kh * kw) % cpg, i / kw % kh, i % kw);
        out[ko * ws[0] + ci * ws[1] + r * ws[2] + s * ws[3]] = v;
    }
    Ok(out)
}

/// The gradient of [`conv2d_f64`]'s output with respect to its bias, in f64: `db[k] =
/// Σ_{n,p,q} dy[n, k, p, q]`, dy of logical shape `dy_shape` laid out per `desc.data_format`.
pub fn conv2d_bias_grad_f64(desc: &Conv2dDesc, dy: &[f32], dy_shape: [usize; 4]) -> Result<Vec<f64>> {
    desc.validate()?;
    let [n, k, oh, ow] = dy_shape;
    if k != desc.out_channels {
        return shape_error(format!("dy has {k} channels but the descriptor has {}", desc.out_channels));
    }
    let len = checked_len("dy", &dy_shape)?;
    if dy.len() != len {
        return shape_error(format!("dy has {} elements but shape {dy_shape:?} needs {len}", dy.len()));
    }
    let ys = desc.data_format.strides(dy_shape);
    let mut out = vec![0f64; k];
    for ni in 0..n {
        for (ko, sum) in out.iter_mut().enumerate() {
            for p in 0..oh {
                for q in 0..ow {
                    *sum += f64::from(dy[ni * ys[0] + ko * ys[1] + p * ys[2] + q * ys[3]]);
                }
            }
        }
    }
    Ok(out)
}

/// The activation in f32, as the shaders compute it (NaN kept, like [`Activation::apply`]).
fn activate_f32(act: Activation, v: f32) -> f32 {
    act.apply(f64::from(v)) as f32
}

/// `dst (p×q) = lhs (p×l) · src (l×q)`, `lhs` given as rows, each sum taken in order of l.
fn mul_left(lhs: &[Vec<f32>], src: &[f32], q: usize, dst: &mut [f32]) {
    for (row, out) in lhs.iter().zip(dst.chunks_exact_mut(q)) {
        for (j, o) in out.iter_mut().enumerate() {
            *o = row.iter().enumerate().fold(0.0, |acc, (l, &a)| acc + a * src[l * q + j]);
        }
    }
}

/// `dst (p×q) = src (p×l) · rhsᵀ`, `rhs` given as its q rows of length l, each sum in order of l.
fn mul_right_transposed(src: &[f32], l: usize, rhs: &[Vec<f32>], dst: &mut [f32]) {
    for (src_row, out) in src.chunks_exact(l).zip(dst.chunks_exact_mut(rhs.len())) {
        for (o, row) in out.iter_mut().zip(rhs) {
            *o = src_row.iter().zip(row).fold(0.0, |acc, (&s, &a)| acc + s * a);
        }
    }
}

/// Winograd F(m×m, r×r) on the CPU in f32, mirroring the GPU pipeline: `U = G g Gᵀ`,
/// `V = Bᵀ d B` per α×α input tile, `M[e] = U[e] · V[e]` summed over channels in order, then
/// `Y = Aᵀ M A`, cropped, plus bias and residual, then the activation.
///
/// Only for stride 1, dilation 1, groups 1, zero padding and a square kernel matching `t.r`
/// (the shipped tiles are (m, r) ∈ {(2, 3), (4, 3), (6, 3), (2, 5)}, from
/// [`Transforms::for_tile`]); anything else is [`Error::Unsupported`]. Transforms whose public
/// fields are inconsistent (m = 0, Bᵀ not α×α, G not α×r, Aᵀ not m×α) are
/// [`Error::InvalidShape`]. Layouts and validation as in [`conv2d_f64`].
pub fn conv2d_winograd_f32(
    desc: &Conv2dDesc,
    t: &Transforms,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f32>> {
    winograd_f32(desc, t, (input, shape, weights, bias, residual), None)
}

/// A CPU emulation of Winograd on tensor cores (`Precision::High`): [`conv2d_winograd_f32`]
/// with each transformed operand rounded to f16 as the GPU rounds it, after the power of two
/// per tile element e that the GPU computes from the same bits: `U_e` scaled for the bound
/// `max|w| · γ_e` and `V_e` for `max|x| · β_e` ([`Transforms::operand_bounds`]), so neither
/// overflows and both keep f16's 11 bits. Products and sums stay in f32, as on the tensor
/// cores.
pub fn conv2d_winograd_high_emulated(
    desc: &Conv2dDesc,
    t: &Transforms,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f32>> {
    let (gamma, beta) = t.operand_bounds();
    let su: Vec<f32> = gamma.iter().map(|&g| f16_operand_scale(max_abs(weights) * g)).collect();
    let sv: Vec<f32> = beta.iter().map(|&b| f16_operand_scale(max_abs(input) * b)).collect();
    winograd_f32(desc, t, (input, shape, weights, bias, residual), Some((&su, &sv)))
}

/// α for transforms whose public fields agree (m ≥ 1, r ≥ 1, Bᵀ α×α, G α×r, Aᵀ m×α with
/// α = m + r − 1), else [`Error::InvalidShape`]: what the CPU Winograd indexes by.
fn check_transforms(t: &Transforms) -> Result<usize> {
    let alpha = match t.m.checked_add(t.r) {
        Some(s) if t.m > 0 && t.r > 0 => s - 1,
        _ => return shape_error(format!("transforms for F({},{}): m and r must be at least 1", t.m, t.r)),
    };
    let fits = |rows: &[Vec<crate::lowering::Exact>], n: usize, cols: usize| {
        rows.len() == n && rows.iter().all(|row| row.len() == cols)
    };
    if !fits(&t.bt, alpha, alpha) || !fits(&t.g, alpha, t.r) || !fits(&t.at, t.m, alpha) {
        return shape_error(format!(
            "transforms for F({},{}) need Bᵀ {alpha}×{alpha}, G {alpha}×{} and Aᵀ {}×{alpha}",
            t.m, t.r, t.r, t.m
        ));
    }
    Ok(alpha)
}

/// One call's host data: input, its shape, weights, bias, residual.
type CallData<'a> = (&'a [f32], [usize; 4], &'a [f32], Option<&'a [f32]>, Option<&'a [f32]>);

/// The Winograd CPU path, with f16 rounding of `U_e` and `V_e` after the scales
/// `(su[e], sv[e])` where `scales` is given.
fn winograd_f32(
    desc: &Conv2dDesc,
    t: &Transforms,
    (input, shape, weights, bias, residual): CallData,
    scales: Option<(&[f32], &[f32])>,
) -> Result<Vec<f32>> {
    let round = |s: Option<&[f32]>, e: usize, v: f32| match s {
        Some(s) => half::f16::from_f32(v * s[e]).to_f32() / s[e],
        None => v,
    };
    let Geometry { n, c, h, w, k, oh, ow } = check(desc, input, shape, weights, bias, residual)?;
    let r = desc.kernel[0];
    if desc.padding_mode != PaddingMode::Zeros {
        return Err(Error::Unsupported("CPU Winograd reads padding as zeros only".into()));
    }
    if desc.stride != [1, 1] || desc.dilation != [1, 1] || desc.groups != 1 || desc.kernel[1] != r {
        return Err(Error::Unsupported(format!(
            "CPU Winograd needs stride 1, dilation 1, groups 1 and a square kernel; got stride {:?}, \
             dilation {:?}, groups {}, kernel {:?}",
            desc.stride, desc.dilation, desc.groups, desc.kernel
        )));
    }
    if t.r != r {
        return Err(Error::Unsupported(format!("transforms are for {0}×{0} kernels, not {r}×{r}", t.r)));
    }
    let alpha = check_transforms(t)?;
    let m = t.m;
    let (bt, g, at) = (to_f32(&t.bt), to_f32(&t.g), to_f32(&t.at));
    let ee = alpha * alpha;
    // The Winograd-domain buffers below (outputs were checked by `check`).
    let (tiles_h, tiles_w) = (oh.div_ceil(m), ow.div_ceil(m));
    checked_len("transformed weights", &[ee, k, c])?;
    checked_len("transformed input", &[ee, c, tiles_h, tiles_w])?;
    checked_len("Winograd product", &[ee, k, tiles_h, tiles_w])?;

    // U[e][k][c] = (G g Gᵀ)[e].
    let ws = desc.weight_strides();
    let mut u = vec![0f32; ee * k * c];
    let (mut kernel, mut half, mut tile) = (vec![0f32; r * r], vec![0f32; alpha * r], vec![0f32; ee]);
    for ko in 0..k {
        for ci in 0..c {
            for (i, v) in kernel.iter_mut().enumerate() {
                *v = weights[ko * ws[0] + ci * ws[1] + i / r * ws[2] + i % r * ws[3]];
            }
            mul_left(&g, &kernel, r, &mut half);
            mul_right_transposed(&half, r, &g, &mut tile);
            for (e, &v) in tile.iter().enumerate() {
                u[(e * k + ko) * c + ci] = round(scales.map(|s| s.0), e, v);
            }
        }
    }

    let tiles = tiles_h * tiles_w;
    let (pt, pl) = (desc.padding.top, desc.padding.left);
    let xs = desc.data_format.strides([n, c, h, w]);
    let ys = desc.data_format.strides([n, k, oh, ow]);
    let mut v = vec![0f32; ee * c * tiles];
    let mut prod = vec![0f32; ee * k * tiles];
    let mut out = vec![0f32; n * k * oh * ow];
    let (mut patch, mut cols) = (vec![0f32; ee], vec![0f32; ee]);
    let (mut half_out, mut y) = (vec![0f32; m * alpha], vec![0f32; m * m]);
    for ni in 0..n {
        // V[e][c][tile] = (Bᵀ d B)[e], d the α×α patch at (ty·m − pad_top, tx·m − pad_left).
        for ci in 0..c {
            let base = ni * xs[0] + ci * xs[1];
            for p in 0..tiles {
                let (y0, x0) = (p / tiles_w * m, p % tiles_w * m);
                for (i, d) in patch.iter_mut().enumerate() {
                    let (iy, ix) = (y0 + i / alpha, x0 + i % alpha);
                    let inside = iy >= pt && iy - pt < h && ix >= pl && ix - pl < w;
                    *d = if inside { input[base + (iy - pt) * xs[2] + (ix - pl) * xs[3]] } else { 0.0 };
                }
                mul_left(&bt, &patch, alpha, &mut cols);
                mul_right_transposed(&cols, alpha, &bt, &mut tile);
                for (e, &val) in tile.iter().enumerate() {
                    v[(e * c + ci) * tiles + p] = round(scales.map(|s| s.1), e, val);
                }
            }
        }

        // M[e][k][tile] = Σ_c U[e][k][c] · V[e][c][tile], channels in order.
        prod.fill(0.0);
        for e in 0..ee {
            for ko in 0..k {
                let dst = &mut prod[(e * k + ko) * tiles..][..tiles];
                for ci in 0..c {
                    let uv = u[(e * k + ko) * c + ci];
                    for (o, &vv) in dst.iter_mut().zip(&v[(e * c + ci) * tiles..][..tiles]) {
                        *o += uv * vv;
                    }
                }
            }
        }

        // Y = Aᵀ M A, cropped, then the epilogue.
        for ko in 0..k {
            for p in 0..tiles {
                for (e, val) in tile.iter_mut().enumerate() {
                    *val = prod[(e * k + ko) * tiles + p];
                }
                mul_left(&at, &tile, alpha, &mut half_out);
                mul_right_transposed(&half_out, alpha, &at, &mut y);
                let (y0, x0) = (p / tiles_w * m, p % tiles_w * m);
                for (i, &val) in y.iter().enumerate() {
                    let (oy, ox) = (y0 + i / m, x0 + i % m);
                    if oy >= oh || ox >= ow {
                        continue;
                    }
                    let idx = ni * ys[0] + ko * ys[1] + oy * ys[2] + ox * ys[3];
                    let mut s = val;
                    if let Some(b) = bias {
                        s += b[ko];
                    }
                    if let Some(res) = residual {
                        s += res[idx];
                    }
                    out[idx] = activate_f32(desc.activation, s);
                }
            }
        }
    }
    Ok(out)
}

/// The largest absolute difference between `got` and `want`, divided by the largest finite
/// `|want|` (or not divided when that is 0).
///
/// Positions where both are NaN, or both are the same infinity, count as equal. Any other NaN or
/// infinity in either (and a length mismatch) gives `f64::INFINITY`, so that a check fails.
pub fn max_rel_error(got: &[f32], want: &[f64]) -> f64 {
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    let (mut max_diff, mut scale) = (0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        let g = f64::from(g);
        if !g.is_finite() || !w.is_finite() {
            if (g.is_nan() && w.is_nan()) || g == w {
                continue;
            }
            return f64::INFINITY;
        }
        max_diff = max_diff.max((g - w).abs());
        scale = scale.max(w.abs());
    }
    if scale == 0.0 {
        max_diff
    } else {
        max_diff / scale
    }
}

/// The largest [`max_rel_error`] a correct GPU result may have against [`conv2d_f64`] for a
/// plan: f32 arithmetic gives 1e-4 (the F(6,3) transforms, with points up to ±2 and ±½,
/// amplify rounding ~4×: 5e-4); f16 storage rounds input and output to 11 bits: 1e-2. The one
/// rule the tests and `wino conv --verify` share.
/// Tensor-core (`Precision::High`) products round both operands to f16 (11 significant bits,
/// like TF32's): 2e-3, for the GEMM and for Winograd F(2,3)'s product alike.
pub fn tolerance(dtype: DType, plan: &Plan) -> f64 {
    use crate::desc::Precision;
    use crate::plan::WinogradKernels::Separate;
    match (dtype, plan.path) {
        (DType::F16, _) => 1e-2,
        (
            DType::F32,
            Path::Core { choice: Choice::Gemm(Engine::Coop(_)), precision: Precision::High, .. },
        ) => 2e-3,
        // f16 operands (or, forced on Apple, f32 8×8 fragments: within it too).
        (
            DType::F32,
            Path::Core { choice: Choice::Winograd { kernels: Separate(Engine::Coop(_)), .. }, .. },
        ) => 2e-3,
        (DType::F32, Path::Core { choice: Choice::Winograd { m: 6, .. }, .. }) => 5e-4,
        (DType::F32, _) => 1e-4,
    }
}

/// [`tolerance`]'s rule for a weight gradient (an f32 result whatever the data): f32 products
/// summed in f32 (f16 data is exact in f32) give 1e-4, f16 operands on tensor cores 2e-3.
pub fn weight_grad_tolerance(plan: &crate::GradPlan) -> f64 {
    match plan.engine {
        crate::blocks::Engine::Coop(_) => 2e-3,
        crate::blocks::Engine::Registers(_) => 1e-4,
    }
}

/// The power of two the tensor-core path multiplies an f32 operand tensor by before rounding it
/// to f16, from the tensor's largest magnitude: 2^(14 − e) for a maximum in [2^e, 2^(e+1)), so
/// the maximum lands in [2^14, 2^15) (below f16's 65504) and values down to 2^-10 of it stay
/// normal f16 numbers. 1 for a zero, infinite or NaN maximum. The GPU computes the same value
/// from the same bits (`pow2_scale` in the generated WGSL).
pub fn f16_operand_scale(max_abs: f32) -> f32 {
    let bits = max_abs.abs().to_bits();
    if bits == 0 || bits >= 0x7f80_0000 {
        return 1.0;
    }
    let e = (bits >> 23) as i32 - 127;
    f32::from_bits(((141 - e).clamp(1, 254) as u32) << 23)
}

/// The largest magnitude of `v`, NaN if any element is NaN (ordered by bits, as the GPU does).
pub fn max_abs(v: &[f32]) -> f32 {
    f32::from_bits(v.iter().map(|x| x.abs().to_bits()).max().unwrap_or(0))
}

/// `v` as the tensor-core path sees it: multiplied by its power-of-two scale, rounded to the
/// nearest f16, and divided back (exact), in f32.
pub fn round_like_tensor_cores(v: &[f32]) -> Vec<f32> {
    let s = f16_operand_scale(max_abs(v));
    v.iter().map(|&x| half::f16::from_f32(x * s).to_f32() / s).collect()
}

/// A CPU emulation of `Precision::High`: input and weights rounded to f16 exactly as the GPU
/// rounds them ([`round_like_tensor_cores`], per tensor), then multiplied and summed in f64. The
/// GPU sums in f32, which adds only f32-level error on top; so this checks the operand
/// rounding, the scaling rule and the tolerance on any machine, tensor cores or not.
pub fn conv2d_high_emulated(
    desc: &Conv2dDesc,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f64>> {
    let x = round_like_tensor_cores(input);
    let w = round_like_tensor_cores(weights);
    conv2d_f64(desc, &x, shape, &w, bias, residual)
}

/// `x`, logically `[n, c, h, w]` in NCHW order, rearranged into NHWC: for tests and tools that
/// feed the same data in both formats. [`Error::InvalidShape`] when `x.len()` is not the
/// product of `shape` (or that product overflows `usize`).
pub fn nchw_to_nhwc<T: Copy>(x: &[T], shape: [usize; 4]) -> Result<Vec<T>> {
    let len = checked_len("NCHW tensor", &shape)?;
    if x.len() != len {
        return shape_error(format!("NCHW tensor has {} elements but shape {shape:?} needs {len}", x.len()));
    }
    let [_, c, h, w] = shape;
    let plane = h * w;
    Ok((0..len).map(|i| x[(i / (plane * c) * c + i % c) * plane + i / c % plane]).collect())
}

/// Weights `[k][cg][kh][kw]` (OIHW) rearranged into HWIO `[kh][kw][cg][k]`.
/// [`Error::InvalidShape`] when `w.len()` is not the product of `dims` (or that product
/// overflows `usize`).
pub fn oihw_to_hwio(w: &[f32], dims: [usize; 4]) -> Result<Vec<f32>> {
    let len = checked_len("OIHW weights", &dims)?;
    if w.len() != len {
        return shape_error(format!("OIHW weights have {} elements but {dims:?} needs {len}", w.len()));
    }
    let [k, cg, kh, kw] = dims;
    let taps = kh * kw;
    Ok((0..len).map(|i| w[(i % k * cg + i / k % cg) * taps + i / (cg * k)]).collect())
}

/// Deterministic pseudo-random values in [−1, 1) from a 64-bit LCG: the data of the tests,
/// `wino conv --random` and the examples, reproducible without an extra crate.
///
/// Precondition, as for any `Vec<f32>`: `len · 4` bytes must fit in `isize` (and in memory);
/// beyond that the allocation fails as `Vec::with_capacity` does (a capacity-overflow panic
/// or an out-of-memory abort). Callers sizing it from user input check their own byte limit
/// first (`wino conv --random` does).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

// Transposed convolution, conv1d and the input gradient

/// The epilogue of the references below on accumulated sums laid out like the output: bias per
/// channel (`channel_of` maps an offset to its channel), then the residual, then `activation`.
fn finish_f64(
    acc: &mut [f64],
    channel_of: impl Fn(usize) -> usize,
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
    activation: Activation,
) {
    for (i, v) in acc.iter_mut().enumerate() {
        if let Some(b) = bias {
            *v += f64::from(b[channel_of(i)]);
        }
        if let Some(r) = residual {
            *v += f64::from(r[i]);
        }
        *v = activation.apply(*v);
    }
}

/// Transposed 2-D convolution (PyTorch's `ConvTranspose2d`) in f64, written as its definition:
/// every input element scattered through every tap to output `o = i·s − p + k·d` where that
/// lies inside the output. Weights in PyTorch's `(in, out / groups, kh, kw)`; input, residual and
/// output laid out per `desc.data_format`; bias, then residual, then the activation.
pub fn conv_transpose2d_f64(
    desc: &crate::transpose::ConvTranspose2dDesc,
    input: &[f32],
    shape: [usize; 4],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f64>> {
    desc.validate()?;
    let out_shape = desc.output_shape(shape)?;
    let in_len = checked_len("input", &shape)?;
    if input.len() != in_len {
        return shape_error(format!("input has {} elements but shape {shape:?} needs {in_len}", input.len()));
    }
    if weights.len() != desc.weight_len()? {
        return shape_error(format!(
            "weights have {} elements, {:?} needs more or fewer",
            weights.len(),
            desc.weight_shape()
        ));
    }
    if bias.map(<[f32]>::len) != desc.has_bias.then_some(desc.out_channels) {
        return shape_error(format!("bias must have {} values exactly when has_bias", desc.out_channels));
    }
    let out_len = checked_len("output", &out_shape)?;
    if residual.map(<[f32]>::len) != desc.residual.then_some(out_len) {
        return shape_error(format!("residual must have {out_len} values exactly when residual is set"));
    }
    let [n, c, h, w] = shape;
    let [_, k, oh, ow] = out_shape;
    let (cig, cog) = (c / desc.groups, k / desc.groups);
    let [kh, kw] = desc.kernel;
    let xs = desc.data_format.strides(shape);
    let ys = desc.data_format.strides(out_shape);
    let (pt, pl) = (desc.padding.top as isize, desc.padding.left as isize);
    let mut acc = vec![0f64; out_len];
    for ni in 0..n {
        for ci in 0..c {
            let g = ci / cig;
            for iy in 0..h {
                for ix in 0..w {
                    let xv = f64::from(input[ni * xs[0] + ci * xs[1] + iy * xs[2] + ix * xs[3]]);
                    for col in 0..cog {
                        let co = g * cog + col;
                        for ky in 0..kh {
                            let oy = (iy * desc.stride[0] + ky * desc.dilation[0]) as isize - pt;
                            if !(0..oh as isize).contains(&oy) {
                                continue;
                            }
                            for kx in 0..kw {
                                let ox = (ix * desc.stride[1] + kx * desc.dilation[1]) as isize - pl;
                                if !(0..ow as isize).contains(&ox) {
                                    continue;
                                }
                                let wv = f64::from(weights[((ci * cog + col) * kh + ky) * kw + kx]);
                                acc[ni * ys[0] + co * ys[1] + oy as usize * ys[2] + ox as usize * ys[3]] +=
                                    xv * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    let per_channel = |i: usize| (i / ys[1]) % k;
    let nhwc_channel = |i: usize| i % k;
    match desc.data_format {
        crate::desc::DataFormat::Nchw => finish_f64(&mut acc, per_channel, bias, residual, desc.activation),
        crate::desc::DataFormat::Nhwc => finish_f64(&mut acc, nhwc_channel, bias, residual, desc.activation),
    }
    Ok(acc)
}

/// 1-D convolution in f64 over `[n, c, l]` (laid out per `desc.data_format`): [`conv2d_f64`]
/// on the `(n, c, 1, l)` image with a `1×R` kernel, exactly what `Conv1d` runs.
pub fn conv1d_f64(
    desc: &crate::conv1d::Conv1dDesc,
    input: &[f32],
    [n, c, l]: [usize; 3],
    weights: &[f32],
    bias: Option<&[f32]>,
    residual: Option<&[f32]>,
) -> Result<Vec<f64>> {
    conv2d_f64(&desc.to_conv2d(), input, [n, c, 1, l], weights, bias, residual)
}

/// The gradient of the convolution `forward` with respect to its input, in f64, written
/// independently of the transposed convolution as the adjoint of the forward definition: every
/// `dy[n, k, oy, ox]` scattered through every tap back to the input position
/// `(oy·s − p + ky·d, ox·s − p + kx·d)` it was read from (zero padding; bias, residual and
/// activation play no part). `dy` and the result (logical `input_shape`) are laid out per
/// `forward.data_format`, the weights per `forward.weight_format`.
pub fn conv2d_input_grad_f64(
    forward: &Conv2dDesc,
    dy: &[f32],
    weights: &[f32],
    input_shape: [usize; 4],
) -> Result<Vec<f64>> {
    forward.validate()?;
    if forward.padding_mode != PaddingMode::Zeros {
        return Err(Error::Unsupported("the input gradient reference takes zeros padding only".into()));
    }
    if input_shape[1] != forward.in_channels {
        return shape_error(format!(
            "input shape {input_shape:?} does not have {} channels",
            forward.in_channels
        ));
    }
    let dy_shape = forward.output_shape(input_shape)?;
    let dy_len = checked_len("dy", &dy_shape)?;
    if dy.len() != dy_len {
        return shape_error(format!("dy has {} elements but {dy_shape:?} needs {dy_len}", dy.len()));
    }
    if weights.len() != forward.weight_len()? {
        return shape_error(format!(
            "weights have {} elements but {:?} needs {}",
            weights.len(),
            forward.weight_shape(),
            forward.weight_len()?
        ));
    }
    let [n, c, h, w] = input_shape;
    let [_, k, oh, ow] = dy_shape;
    let (cig, kog) = (c / forward.groups, k / forward.groups);
    let [kh, kw] = forward.kernel;
    let xs = forward.data_format.strides(input_shape);
    let ys = forward.data_format.strides(dy_shape);
    let ws = forward.weight_strides();
    let mut dx = vec![0f64; checked_len("input", &input_shape)?];
    for ni in 0..n {
        for ko in 0..k {
            let c0 = ko / kog * cig;
            for oy in 0..oh {
                for ox in 0..ow {
                    let g = f64::from(dy[ni * ys[0] + ko * ys[1] + oy * ys[2] + ox * ys[3]]);
                    for cl in 0..cig {
                        for ky in 0..kh {
                            let iy = (oy * forward.stride[0] + ky * forward.dilation[0]) as isize
                                - forward.padding.top as isize;
                            if !(0..h as isize).contains(&iy) {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * forward.stride[1] + kx * forward.dilation[1]) as isize
                                    - forward.padding.left as isize;
                                if !(0..w as isize).contains(&ix) {
                                    continue;
                                }
                                let wv =
                                    f64::from(weights[ko * ws[0] + cl * ws[1] + ky * ws[2] + kx * ws[3]]);
                                dx[ni * xs[0]
                                    + (c0 + cl) * xs[1]
                                    + iy as usize * xs[2]
                                    + ix as usize * xs[3]] += g * wv;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(dx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{DataFormat, WeightFormat};

    /// Every output by its textbook formula, with signed coordinates; independent of the
    /// range arithmetic in [`conv2d_f64`]. NCHW and OIHW only.
    fn naive(
        desc: &Conv2dDesc,
        x: &[f32],
        [n, c, h, w]: [usize; 4],
        wt: &[f32],
        bias: Option<&[f32]>,
    ) -> Vec<f64> {
        let [oh, ow] = desc.output_hw(h, w).unwrap();
        let (k, g) = (desc.out_channels, desc.groups);
        let (cpg, kpg, [kh, kw]) = (c / g, k / g, desc.kernel);
        let mut out = Vec::new();
        for ni in 0..n {
            for ko in 0..k {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut s = bias.map_or(0.0, |b| f64::from(b[ko]));
                        for ci in 0..cpg {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * desc.stride[0] + ky * desc.dilation[0]) as isize
                                        - desc.padding.top as isize;
                                    let ix = (ox * desc.stride[1] + kx * desc.dilation[1]) as isize
                                        - desc.padding.left as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let cin = ko / kpg * cpg + ci;
                                    let xv = x[((ni * c + cin) * h + iy as usize) * w + ix as usize];
                                    let wv = wt[((ko * cpg + ci) * kh + ky) * kw + kx];
                                    s += f64::from(xv) * f64::from(wv);
                                }
                            }
                        }
                        out.push(desc.activation.apply(s));
                    }
                }
            }
        }
        out
    }

    fn as_f32(x: &[f64]) -> Vec<f32> {
        x.iter().map(|&v| v as f32).collect()
    }

    #[test]
    fn hand_computed_2x2_kernel() {
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let wt = [1.0, 2.0, 3.0, 4.0];
        let desc = Conv2dDesc::new(1, 1, 2, 0);
        let y = conv2d_f64(&desc, &x, [1, 1, 3, 3], &wt, None, None).unwrap();
        assert_eq!(y, [37.0, 47.0, 67.0, 77.0]);

        // One row of padding on top only, plus a bias and a ReLU that clips nothing.
        let desc = Conv2dDesc {
            padding: Padding { top: 1, bottom: 0, left: 0, right: 0 },
            has_bias: true,
            activation: Activation::Relu,
            ..Conv2dDesc::new(1, 1, 2, 0)
        };
        let y = conv2d_f64(&desc, &x, [1, 1, 3, 3], &wt, Some(&[0.5]), None).unwrap();
        assert_eq!(y, [11.5, 18.5, 37.5, 47.5, 67.5, 77.5]);

        // Residual added before the activation: 37 − 40 = −3 is clipped by ReLU.
        let desc = Conv2dDesc { residual: true, activation: Activation::Relu, ..Conv2dDesc::new(1, 1, 2, 0) };
        let y = conv2d_f64(&desc, &x, [1, 1, 3, 3], &wt, None, Some(&[-40.0, 1.0, 0.0, -77.0])).unwrap();
        assert_eq!(y, [0.0, 48.0, 67.0, 0.0]);
    }

    #[test]
    fn data_and_weight_formats_agree() {
        let shape = [2, 3, 6, 5];
        let desc = Conv2dDesc {
            stride: [2, 1],
            padding: Padding { top: 1, bottom: 2, left: 0, right: 1 },
            has_bias: true,
            residual: true,
            activation: Activation::Silu,
            ..Conv2dDesc::new(3, 4, 3, 0)
        };
        let [oh, ow] = desc.output_hw(6, 5).unwrap();
        let out_shape = [2, 4, oh, ow];
        let x = pseudo_random(2 * 3 * 6 * 5, 1);
        let wt = pseudo_random(desc.weight_len().unwrap(), 2);
        let b = pseudo_random(4, 3);
        let res = pseudo_random(2 * 4 * oh * ow, 4);
        let base = conv2d_f64(&desc, &x, shape, &wt, Some(&b), Some(&res)).unwrap();

        let nhwc = Conv2dDesc { data_format: DataFormat::Nhwc, ..desc.clone() };
        let (x2, res2) = (nchw_to_nhwc(&x, shape).unwrap(), nchw_to_nhwc(&res, out_shape).unwrap());
        let y = conv2d_f64(&nhwc, &x2, shape, &wt, Some(&b), Some(&res2)).unwrap();
        assert_eq!(y, nchw_to_nhwc(&base, out_shape).unwrap());

        let hwio = Conv2dDesc { weight_format: WeightFormat::Hwio, ..desc.clone() };
        let wt2 = oihw_to_hwio(&wt, [4, 3, 3, 3]).unwrap();
        assert_eq!(conv2d_f64(&hwio, &x, shape, &wt2, Some(&b), Some(&res)).unwrap(), base);

        // The same for the CPU Winograd (stride 1).
        let desc = Conv2dDesc { stride: [1, 1], ..desc };
        let [oh, ow] = desc.output_hw(6, 5).unwrap();
        let out_shape = [2, 4, oh, ow];
        let res = pseudo_random(2 * 4 * oh * ow, 5);
        let base = conv2d_winograd_f32(
            &desc,
            &Transforms::for_tile(4, 3).unwrap(),
            &x,
            shape,
            &wt,
            Some(&b),
            Some(&res),
        )
        .unwrap();
        let both = Conv2dDesc { data_format: DataFormat::Nhwc, weight_format: WeightFormat::Hwio, ..desc };
        let res2 = nchw_to_nhwc(&res, out_shape).unwrap();
        let y = conv2d_winograd_f32(
            &both,
            &Transforms::for_tile(4, 3).unwrap(),
            &x2,
            shape,
            &wt2,
            Some(&b),
            Some(&res2),
        )
        .unwrap();
        assert_eq!(y, nchw_to_nhwc(&base, out_shape).unwrap());
    }

    #[test]
    fn depthwise_equals_per_channel_convolutions() {
        let (c, mult, h, w) = (3, 2, 7, 6);
        let desc = Conv2dDesc { groups: c, has_bias: true, ..Conv2dDesc::new(c, c * mult, 3, 1) };
        let x = pseudo_random(2 * c * h * w, 6);
        let wt = pseudo_random(desc.weight_len().unwrap(), 7);
        let b = pseudo_random(c * mult, 8);
        let y = conv2d_f64(&desc, &x, [2, c, h, w], &wt, Some(&b), None).unwrap();
        let plane = h * w;
        let single = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(1, mult, 3, 1) };
        for ni in 0..2 {
            for ci in 0..c {
                let xc = &x[(ni * c + ci) * plane..][..plane];
                let wc = &wt[ci * mult * 9..][..mult * 9];
                let bc = &b[ci * mult..][..mult];
                let want = conv2d_f64(&single, xc, [1, 1, h, w], wc, Some(bc), None).unwrap();
                let got = &y[(ni * c + ci) * mult * plane..][..mult * plane];
                assert_eq!(got, &want[..], "image {ni} channel {ci}");
            }
        }
    }

    #[test]
    fn stride_dilation_groups_match_naive_formula() {
        let cases = [
            // (stride, dilation, groups, kernel, padding, shape)
            ([2, 2], [1, 1], 1, [3, 3], Padding::uniform(1), [2, 3, 9, 8]),
            ([1, 1], [2, 2], 1, [3, 3], Padding::uniform(2), [1, 2, 7, 9]),
            ([2, 1], [2, 3], 2, [3, 2], Padding { top: 2, bottom: 0, left: 1, right: 3 }, [2, 4, 10, 7]),
            ([3, 2], [1, 2], 4, [2, 3], Padding { top: 0, bottom: 1, left: 2, right: 0 }, [1, 4, 8, 11]),
        ];
        for (i, (stride, dilation, groups, kernel, padding, shape)) in cases.into_iter().enumerate() {
            let desc = Conv2dDesc {
                stride,
                dilation,
                groups,
                kernel,
                padding,
                has_bias: true,
                activation: Activation::Relu6,
                ..Conv2dDesc::new(shape[1], 4, 3, 0)
            };
            let x = pseudo_random(shape.iter().product(), 10 + i as u64);
            let wt = pseudo_random(desc.weight_len().unwrap(), 20 + i as u64);
            let b = pseudo_random(4, 30 + i as u64);
            let got = conv2d_f64(&desc, &x, shape, &wt, Some(&b), None).unwrap();
            let want = naive(&desc, &x, shape, &wt, Some(&b));
            assert_eq!(got.len(), want.len(), "case {i}");
            for (j, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!((g - w).abs() <= 1e-12 * w.abs().max(1.0), "case {i} element {j}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn winograd_matches_f64_reference() {
        let activations = [Activation::None, Activation::Relu, Activation::Relu6, Activation::Silu];
        let paddings = [Padding::uniform(0), Padding::uniform(1), Padding::uniform(2)];
        let paddings = paddings.into_iter().chain([Padding { top: 2, bottom: 0, left: 1, right: 2 }]);
        let mut seed = 100;
        for padding in paddings {
            for (m, r) in [(2, 3), (4, 3), (6, 3), (2, 5)] {
                for shape in [[1, 3, 7, 13], [2, 5, 5, 9]] {
                    // Each activation with bias and residual, then once with neither.
                    let variants = activations.iter().map(|&a| (a, true)).chain([(Activation::None, false)]);
                    for (activation, extras) in variants {
                        seed += 1;
                        let desc = Conv2dDesc {
                            padding,
                            activation,
                            has_bias: extras,
                            residual: extras,
                            ..Conv2dDesc::new(shape[1], 4, r, 0)
                        };
                        let [oh, ow] = desc.output_hw(shape[2], shape[3]).unwrap();
                        let x = pseudo_random(shape.iter().product(), seed);
                        let wt = pseudo_random(desc.weight_len().unwrap(), seed + 1000);
                        let b = pseudo_random(4, seed + 2000);
                        let res = pseudo_random(shape[0] * 4 * oh * ow, seed + 3000);
                        let (b, res) = if extras { (Some(&b[..]), Some(&res[..])) } else { (None, None) };
                        let want = conv2d_f64(&desc, &x, shape, &wt, b, res).unwrap();
                        let got = conv2d_winograd_f32(
                            &desc,
                            &Transforms::for_tile(m, r).unwrap(),
                            &x,
                            shape,
                            &wt,
                            b,
                            res,
                        )
                        .unwrap();
                        let err = max_rel_error(&got, &want);
                        assert!(
                            err <= 1e-5,
                            "F({m},{r}) {shape:?} {padding:?} {activation:?} extras={extras}: error {err}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let desc = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(2, 3, 3, 1) };
        let shape = [1, 2, 5, 5];
        let x = pseudo_random(50, 1);
        let wt = pseudo_random(desc.weight_len().unwrap(), 2);
        let b = pseudo_random(3, 3);
        let is_shape_err = |r: Result<Vec<f64>>| matches!(r, Err(Error::InvalidShape(_)));
        assert!(conv2d_f64(&desc, &x, shape, &wt, Some(&b), None).is_ok());
        assert!(is_shape_err(conv2d_f64(&desc, &x[..49], shape, &wt, Some(&b), None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, [1, 3, 5, 5], &wt, Some(&b), None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, [usize::MAX, 2, 5, 5], &wt, Some(&b), None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, shape, &wt[1..], Some(&b), None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, shape, &wt, Some(&b[..2]), None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, shape, &wt, None, None)));
        assert!(is_shape_err(conv2d_f64(&desc, &x, shape, &wt, Some(&b), Some(&x))));
        let with_res = Conv2dDesc { residual: true, ..desc.clone() };
        assert!(is_shape_err(conv2d_f64(&with_res, &x, shape, &wt, Some(&b), Some(&x))));
        assert!(is_shape_err(conv2d_f64(&with_res, &x, shape, &wt, Some(&b), None)));
        // The kernel does not fit the padded input.
        let no_pad = Conv2dDesc { padding: Padding::uniform(0), ..desc.clone() };
        assert!(is_shape_err(conv2d_f64(&no_pad, &x[..4], [1, 2, 1, 2], &wt, Some(&b), None)));
        let bad_groups = Conv2dDesc { groups: 3, ..desc.clone() };
        let r = conv2d_f64(&bad_groups, &x, shape, &wt, Some(&b), None);
        assert!(matches!(r, Err(Error::InvalidDescriptor(_))));

        let t2 = Transforms::for_tile(2, 3).unwrap();
        let r = conv2d_winograd_f32(&desc, &t2, &x[..49], shape, &wt, Some(&b), None);
        assert!(matches!(r, Err(Error::InvalidShape(_))));
        let r = conv2d_winograd_f32(&desc, &t2, &x, shape, &wt, Some(&b[..1]), None);
        assert!(matches!(r, Err(Error::InvalidShape(_))));
        let r =
            conv2d_winograd_f32(&desc, &Transforms::for_tile(2, 5).unwrap(), &x, shape, &wt, Some(&b), None);
        assert!(matches!(r, Err(Error::Unsupported(_))));
        let strided = Conv2dDesc { stride: [2, 2], ..desc };
        let r = conv2d_winograd_f32(&strided, &t2, &x, shape, &wt, Some(&b), None);
        assert!(matches!(r, Err(Error::Unsupported(_))));
    }

    #[test]
    fn max_rel_error_handles_nan_and_infinity() {
        assert_eq!(max_rel_error(&[1.0, 2.0], &[1.0, 4.0]), 0.5);
        assert_eq!(max_rel_error(&[0.5, 0.0], &[0.0, 0.0]), 0.5);
        assert_eq!(max_rel_error(&[f32::NAN, 1.0], &[f64::NAN, 1.0]), 0.0);
        assert_eq!(max_rel_error(&[f32::INFINITY, 1.0], &[f64::INFINITY, 2.0]), 0.5);
        assert_eq!(max_rel_error(&[f32::NAN, 1.0], &[1.0, 1.0]), f64::INFINITY);
        assert_eq!(max_rel_error(&[1.0], &[f64::NAN]), f64::INFINITY);
        assert_eq!(max_rel_error(&[f32::NEG_INFINITY], &[f64::INFINITY]), f64::INFINITY);
        assert_eq!(max_rel_error(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        let want = [1e-3, -2.5, 7.0];
        assert!(max_rel_error(&as_f32(&want), &want) < 1e-7);
    }
}
