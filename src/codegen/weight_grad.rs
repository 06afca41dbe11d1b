//! The parameter-gradient operands of the product core (`shaders/grad/*.wgsl`): the weight
//! gradient as an implicit GEMM of dy with the input's patches over split ranges of (image,
//! output pixel), the bias gradient as the same GEMM against a column of ones, and the reduce
//! pass (`shaders/grad_reduce.wgsl`) that adds the splits' partial sums in a fixed order.
//! The register tiling, prefetch and multiply-adds are the product core's
//! ([`super::product::product`]); only where the operands come from is here.

use super::padding;
use super::product::lanes;
use super::skeleton::fill;
use super::storage::{buffer, Access, Storage};
use super::uniform::{BiasGradParams, GradReduceParams, Uniform, WeightGradParams};
use super::{Kernel, WORKGROUP};
use crate::desc::PaddingMode;

const OPERANDS: &str = include_str!("../../shaders/grad/operands.wgsl");
const PATCHES: &str = include_str!("../../shaders/grad/patches.wgsl");
const ONES: &str = include_str!("../../shaders/grad/ones.wgsl");
const REDUCE_SKELETON: &str = include_str!("../../shaders/grad_reduce.wgsl");

/// What the gradient GEMM multiplies dy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GradB {
    /// The input's patches (the weight gradient): kernel `[kh, kw]`, compiled in so a column
    /// splits into (channel, tap) by constants, read through the padding mode.
    Patches { kernel: [usize; 2], padding_mode: PaddingMode },
    /// A column of ones (the bias gradient).
    Ones,
}

/// A parameter gradient's operands: dy's geometry is compiled in, because decoding a
/// reduction step into (image, row, column) by divisions with uniforms cost more than the
/// multiply-adds (the previous kernel, with uniform divisors, ran the ResNet-50 3×3 weight
/// gradients at 10–11 TFLOP/s on the H200).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GradOperands {
    pub b: GradB,
    /// How the activations (x and dy) sit in memory.
    pub storage: Storage,
    /// dy's width and pixels per image.
    pub out_w: u32,
    pub out_hw: u32,
    /// Four steps from a multiple of 4 are one aligned vec4 of dy (NCHW with images of a
    /// multiple of 4 pixels: every image, channel and chunk then starts at a multiple of 4
    /// elements, and four steps never leave an image).
    pub dy_vec4: bool,
    /// Likewise of x (and dy), where a 1×1 stride-1 unpadded kernel reads dy's own pixel.
    pub x_vec4: bool,
}

impl GradOperands {
    /// Whether four steps from a multiple of 4 always lie in one output row, so one decode serves
    /// four loads (every row a multiple of 4 pixels; splits start at multiples of the block's
    /// reduction depth, itself a multiple of 4).
    fn rows_of_four(&self) -> bool {
        self.out_w.is_multiple_of(4)
    }

    pub(super) fn name(&self) -> String {
        let vec4 = match (self.dy_vec4, self.x_vec4) {
            (_, true) => "_vec4",
            (true, false) => "_dy4",
            _ => "",
        };
        let geometry = format!("w{}_hw{}{vec4}", self.out_w, self.out_hw);
        match self.b {
            GradB::Patches { kernel: [kh, kw], padding_mode } => {
                format!("weight_grad_{kh}x{kw}_{}{}_{geometry}", self.storage, padding::suffix(padding_mode))
            }
            GradB::Ones => format!("bias_grad_{}_{geometry}", self.storage),
        }
    }

    pub(super) fn fields(&self) -> &'static [(&'static str, &'static str)] {
        match self.b {
            GradB::Patches { .. } => WeightGradParams::FIELDS,
            GradB::Ones => BiasGradParams::FIELDS,
        }
    }

    /// The uniform struct, the bindings and the operand functions the product core calls.
    pub(super) fn wgsl(&self) -> (String, String, String) {
        let width = |vec4: bool| if vec4 { 4 } else { 1 };
        let (dy, dy_fns) = buffer(self.storage, "dy", "dy", 1, Access::Read, width(self.dy_vec4));
        let part = |binding: u32| {
            format!("@group(0) @binding({binding}) var<storage, read_write> part: array<f32>;")
        };
        let dy_loads = if self.dy_vec4 {
            "v = ld_dy4((dy_pixel(t) + ch) / 4u);".to_string()
        } else if self.rows_of_four() {
            "let at = dy_pixel(t) + ch;\n\
             v = vec4<f32>(ld_dy(at), ld_dy(at + params.ds_w), ld_dy(at + 2u * params.ds_w), ld_dy(at + 3u * params.ds_w));"
                .to_string()
        } else {
            lanes("if (t + {j}u < s.y) { v[{j}] = ld_dy(dy_pixel(t + {j}u) + ch); }")
        };
        let (params, bindings, accessors, pad, b_operand) = match self.b {
            GradB::Patches { kernel: [kh, kw], padding_mode } => {
                let (x, x_fns) = buffer(self.storage, "x", "x", 2, Access::Read, width(self.x_vec4));
                let x_loads = if self.x_vec4 {
                    "v = ld_x4((c.base + (t / OUT_HW) * params.xs_n + t % OUT_HW) / 4u);".to_string()
                } else if self.rows_of_four() {
                    "let pq = t % OUT_HW;\n\
                     let base = c.base + (t / OUT_HW) * params.xs_n;\n\
                     let iy = i32((pq / OUT_W) * params.stride_h) + c.dy;\n\
                     let ix = i32((pq % OUT_W) * params.stride_w) + c.dx;\n\
                     let sw = i32(params.stride_w);\n\
                     v = vec4<f32>(load(base, iy, ix), load(base, iy, ix + sw), load(base, iy, ix + 2 * sw), load(base, iy, ix + 3 * sw));"
                        .to_string()
                } else {
                    lanes(
                        "if (t + {j}u < s.y) {\n    \
                         let pq{j} = (t + {j}u) % OUT_HW;\n    \
                         v[{j}] = load(c.base + ((t + {j}u) / OUT_HW) * params.xs_n, i32((pq{j} / OUT_W) * params.stride_h) + c.dy, i32((pq{j} % OUT_W) * params.stride_w) + c.dx);\n\
                         }",
                    )
                };
                let b = fill(
                    PATCHES,
                    &[("KW", kw.to_string()), ("KHW", (kh * kw).to_string()), ("X_LOADS", x_loads)],
                );
                (
                    WeightGradParams::wgsl(),
                    format!("{dy}\n{x}\n{}", part(3)),
                    format!("{dy_fns}\n\n{x_fns}"),
                    format!("{}\n\n{}", padding::functions(padding_mode), padding::load_fn(padding_mode)),
                    b,
                )
            }
            GradB::Ones => {
                (BiasGradParams::wgsl(), format!("{dy}\n{}", part(2)), dy_fns, String::new(), ONES.into())
            }
        };
        let values = [
            ("ACCESSORS", accessors),
            ("PAD_FUNCTIONS", pad),
            ("OUT_W", self.out_w.to_string()),
            ("OUT_HW", self.out_hw.to_string()),
            ("DY_LOADS", dy_loads),
            ("B_OPERAND", b_operand),
        ];
        (params, bindings, fill(OPERANDS, &values))
    }
}

/// The split-K reduction into the caller's gradient tensor.
pub(crate) fn grad_reduce() -> Kernel {
    let values = [("PARAMS", GradReduceParams::wgsl()), ("WORKGROUP", WORKGROUP.to_string())];
    Kernel {
        name: "grad_reduce".into(),
        source: fill(REDUCE_SKELETON, &values),
        fields: GradReduceParams::FIELDS,
    }
}
