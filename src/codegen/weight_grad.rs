//! The gradient kernels of a convolution's parameters (`shaders/weight_grad.wgsl`,
//! `shaders/grad_reduce.wgsl`): the weight gradient as an implicit GEMM over split ranges of
//! (image, output pixel), the bias gradient as the same GEMM against a column of ones, and the
//! reduce pass that adds the splits' partial sums in a fixed order. What differs between the
//! weight and bias kernels is only the B operand and the bindings ([`GradOperands`]).

use super::padding;
use super::skeleton::fill;
use super::storage::{act_header, buffer, Access, Storage};
use super::uniform::{BiasGradParams, GradReduceParams, Uniform, WeightGradParams};
use super::{Kernel, WORKGROUP};
use crate::desc::PaddingMode;

const WEIGHT_GRAD_SKELETON: &str = include_str!("../../shaders/weight_grad.wgsl");
const REDUCE_SKELETON: &str = include_str!("../../shaders/grad_reduce.wgsl");

/// A gradient GEMM's workgroup: `wg × wg` invocations of 4×4 outputs each, so a block of
/// `4·wg` rows by `4·wg` columns, 16 reduction steps at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct GradBlock {
    /// Invocations per side.
    pub wg: u32,
}

impl GradBlock {
    /// 64×64 outputs from 256 invocations: the forward GEMM's block size, for adapters that
    /// allow 256 invocations (every WebGPU adapter does).
    pub const B64: GradBlock = GradBlock { wg: 16 };
    /// 32×32 outputs from 64 invocations: for adapters below 256 invocations per workgroup.
    pub const B32: GradBlock = GradBlock { wg: 8 };
    /// Reduction steps staged per barrier.
    pub const BK: u32 = 16;

    /// Rows (and columns) of C per workgroup.
    pub fn side(self) -> u32 {
        4 * self.wg
    }
    /// Bytes of workgroup memory: BK steps of A and of B.
    pub fn workgroup_bytes(self) -> u32 {
        2 * Self::BK * self.side() * 4
    }
}

/// What the gradient GEMM multiplies dy with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum GradOperands {
    /// The input's patches (the weight gradient), read through the padding mode.
    Weight(PaddingMode),
    /// A column of ones (the bias gradient).
    Bias,
}

/// The A operand: dy at (group, row, reduction step), for either kernel.
const LOAD_A: &str = "\
fn load_a(g: u32, row: u32, t: u32) -> f32 {
    let n = t / params.out_hw;
    let pq = t % params.out_hw;
    let k = params.k0 + g * params.rows + row;
    return ld_dy(params.dy_offset + n * params.ds_n + k * params.ds_c + (pq / params.out_w) * params.ds_h + (pq % params.out_w) * params.ds_w);
}";

/// The weight gradient's B operand: the input pixel column j = (c, ky, kx) of step t reads.
const LOAD_PATCH: &str = "\
fn load_b(g: u32, t: u32, j: u32) -> f32 {
    let n = t / params.out_hw;
    let pq = t % params.out_hw;
    let khw = params.kernel_h * params.kernel_w;
    let c = j / khw;
    let ky = (j % khw) / params.kernel_w;
    let kx = j % params.kernel_w;
    let iy = i32((pq / params.out_w) * params.stride_h) + i32(ky) * params.dil_h - params.pad_top;
    let ix = i32((pq % params.out_w) * params.stride_w) + i32(kx) * params.dil_w - params.pad_left;
    let channel = (params.g0 + g) * params.group_in + c;
    return load(params.x_offset + n * params.xs_n + channel * params.xs_c, iy, ix);
}";

/// The bias gradient's B operand: ones (the skeleton zeroes steps past the reduction).
const LOAD_ONES: &str = "\
fn load_b(g: u32, t: u32, j: u32) -> f32 {
    return f32(j == 0u);
}";

/// The partial-sum store, dropped past the matrix edges.
const STORE: &str = "\
fn store(base: u32, row: u32, col: u32, v: vec4<f32>) {
    if (row >= params.rows) {
        return;
    }
    let at = (base + row) * params.cols + col;
    for (var j = 0u; j < 4u; j++) {
        if (col + j < params.cols) {
            part[at + j] = v[j];
        }
    }
}";

/// The gradient GEMM for activations in `storage`.
pub(crate) fn grad_gemm(operands: GradOperands, storage: Storage, block: GradBlock) -> Kernel {
    let mut values = act_header(storage).to_vec();
    let (dy, dy_fns) = buffer(storage, "dy", "dy", 1, Access::Read, 1);
    let (bindings, accessors, params, fields, operand_fns, pad, name) = match operands {
        GradOperands::Weight(mode) => {
            let (x, x_fns) = buffer(storage, "x", "x", 2, Access::Read, 1);
            let part = "@group(0) @binding(3) var<storage, read_write> part: array<f32>;";
            (
                format!("{dy}\n{x}\n{part}"),
                format!("{dy_fns}\n\n{x_fns}"),
                WeightGradParams::wgsl(),
                WeightGradParams::FIELDS,
                format!("{LOAD_A}\n\n{LOAD_PATCH}\n\n{}\n\n{STORE}", padding::load_fn(mode)),
                padding::functions(mode),
                format!("weight_grad_{storage}{}", padding::suffix(mode)),
            )
        }
        GradOperands::Bias => (
            format!("{dy}\n@group(0) @binding(2) var<storage, read_write> part: array<f32>;"),
            dy_fns,
            BiasGradParams::wgsl(),
            BiasGradParams::FIELDS,
            format!("{LOAD_A}\n\n{LOAD_ONES}\n\n{STORE}"),
            String::new(),
            format!("bias_grad_{storage}"),
        ),
    };
    let side = block.side();
    values.extend([
        ("PARAMS", params),
        ("BM", side.to_string()),
        ("BN", side.to_string()),
        ("THREADS", (block.wg * block.wg).to_string()),
        ("BINDINGS", bindings),
        ("ACCESSORS", accessors),
        ("PAD_FUNCTIONS", pad),
        ("OPERANDS", operand_fns),
        ("WG_X", block.wg.to_string()),
        ("WG_Y", block.wg.to_string()),
    ]);
    Kernel {
        name: format!("{name}_{side}x{side}x{}", GradBlock::BK),
        source: fill(WEIGHT_GRAD_SKELETON, &values),
        fields,
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
