//! The direct convolution (`shaders/direct.wgsl`): every convolution, the reference path and the
//! last resort.

use super::epilogue::{act_header, Epilogue};
use super::skeleton::fill;
use super::uniform::{DirectParams, Uniform};
use super::{Kernel, WORKGROUP};
use crate::desc::DType;

const DIRECT_SKELETON: &str = include_str!("../../shaders/direct.wgsl");

/// The direct convolution with a fused epilogue.
pub(crate) fn direct(dtype: DType, ep: Epilogue) -> Kernel {
    let mut values = act_header(dtype).to_vec();
    values.extend(ep.wgsl(4, 1));
    values.push(("PARAMS", DirectParams::wgsl()));
    values.push(("WORKGROUP", WORKGROUP.to_string()));
    Kernel {
        name: format!("direct_{dtype}{}", ep.suffix()),
        source: fill(DIRECT_SKELETON, &values),
        fields: DirectParams::FIELDS,
    }
}
