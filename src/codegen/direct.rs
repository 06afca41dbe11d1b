//! The direct convolution (`shaders/direct.wgsl`): every convolution, the reference path and the
//! last resort.

use super::epilogue::Epilogue;
use super::padding;
use super::skeleton::fill;
use super::storage::{act_header, buffer, Access, Storage};
use super::uniform::{DirectParams, Uniform};
use super::{Kernel, WORKGROUP};
use crate::desc::PaddingMode;

const DIRECT_SKELETON: &str = include_str!("../../shaders/direct.wgsl");

/// The direct convolution with a fused epilogue.
pub(crate) fn direct(storage: Storage, ep: Epilogue, mode: PaddingMode) -> Kernel {
    let mut values = act_header(storage).to_vec();
    let (x, x_fns) = buffer(storage, "x", "x", 1, Access::Read, 1);
    let (y, y_fns) = buffer(storage, "y", "y", 2, Access::Write, 1);
    values.extend([("X_BINDING", x), ("Y_BINDING", y), ("ACCESSORS", format!("{x_fns}\n\n{y_fns}"))]);
    let guard = |c: &str, n: &str, p: &str| match mode {
        PaddingMode::Zeros => {
            format!("if ({c} < 0 || {c} >= params.{n}) {{\n    continue;\n}}\nlet {p} = {c};")
        }
        _ => format!("let {p} = pad_coord({c}, params.{n});"),
    };
    values.push(("ROW", guard("iy", "in_h", "py")));
    values.push(("COLUMN", guard("ix", "in_w", "px")));
    values.push(("PAD_FUNCTIONS", padding::functions(mode)));
    values.extend(ep.wgsl(storage, 4, 1));
    values.push(("PARAMS", DirectParams::wgsl()));
    values.push(("WORKGROUP", WORKGROUP.to_string()));
    Kernel {
        name: format!("direct_{storage}{}{}", ep.suffix(), padding::suffix(mode)),
        source: fill(DIRECT_SKELETON, &values),
        fields: DirectParams::FIELDS,
    }
}
