//! The direct convolution (`shaders/direct.wgsl`): every convolution, the reference path and the
//! last resort.

use super::epilogue::{act_header, Epilogue};
use super::padding;
use super::skeleton::fill;
use super::uniform::{DirectParams, Uniform};
use super::{Kernel, WORKGROUP};
use crate::desc::{DType, PaddingMode};

const DIRECT_SKELETON: &str = include_str!("../../shaders/direct.wgsl");

/// The direct convolution with a fused epilogue.
pub(crate) fn direct(dtype: DType, ep: Epilogue, mode: PaddingMode) -> Kernel {
    let mut values = act_header(dtype).to_vec();
    let guard = |c: &str, n: &str, p: &str| match mode {
        PaddingMode::Zeros => {
            format!("if ({c} < 0 || {c} >= params.{n}) {{\n    continue;\n}}\nlet {p} = {c};")
        }
        _ => format!("let {p} = pad_coord({c}, params.{n});"),
    };
    values.push(("ROW", guard("iy", "in_h", "py")));
    values.push(("COLUMN", guard("ix", "in_w", "px")));
    values.push(("PAD_FUNCTIONS", padding::functions(mode)));
    values.extend(ep.wgsl(4, 1));
    values.push(("PARAMS", DirectParams::wgsl()));
    values.push(("WORKGROUP", WORKGROUP.to_string()));
    Kernel {
        name: format!("direct_{dtype}{}{}", ep.suffix(), padding::suffix(mode)),
        source: fill(DIRECT_SKELETON, &values),
        fields: DirectParams::FIELDS,
    }
}
