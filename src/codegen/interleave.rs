//! The interleave pass of a transposed convolution (`shaders/interleave.wgsl`): one phase's
//! outputs from its stride-1 convolution's scratch tensor to their strided output positions,
//! with the one epilogue; or, for a phase no kernel tap reaches, the epilogue of zero.

use super::epilogue::Epilogue;
use super::skeleton::fill;
use super::storage::{act_header, buffer, Access, Storage};
use super::uniform::{InterleaveParams, UncoveredParams, Uniform};
use super::{Kernel, WORKGROUP};

/// Where a phase's sums come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum PhaseSource {
    /// The phase's convolution wrote them to a scratch tensor.
    Scratch,
    /// No kernel tap reaches the phase: every sum is zero.
    Uncovered,
}

/// The interleave kernel for one storage, epilogue and source. `channels_fastest` orders the
/// invocations channel first (NHWC), so that neighbours touch neighbouring addresses.
pub(crate) fn interleave(
    storage: Storage,
    ep: Epilogue,
    source: PhaseSource,
    channels_fastest: bool,
) -> Kernel {
    let mut values = act_header(storage).to_vec();
    let (y_binding, first_epilogue) = match source {
        PhaseSource::Scratch => (2, 3),
        PhaseSource::Uncovered => (1, 2),
    };
    let (y, y_fns) = buffer(storage, "y", "y", y_binding, Access::Write, 1);
    let (bindings, accessors, value) = match source {
        PhaseSource::Scratch => {
            let (s, s_fns) = buffer(storage, "s", "s", 1, Access::Read, 1);
            let at = "n * params.ss_n + k * params.ss_c + (qy + params.s_row0) * params.ss_h \
                      + (qx + params.s_col0) * params.ss_w";
            (format!("{s}\n{y}"), format!("{s_fns}\n\n{y_fns}"), format!("let acc = ld_s({at});"))
        }
        PhaseSource::Uncovered => (y, y_fns, "let acc = 0.0;".to_string()),
    };
    let index = if channels_fastest {
        [
            "let k = id % params.out_channels;",
            "let qx = (id / params.out_channels) % params.q_w;",
            "let qy = (id / (params.out_channels * params.q_w)) % params.q_h;",
            "let n = id / (params.out_channels * params.q_w * params.q_h);",
        ]
    } else {
        [
            "let qx = id % params.q_w;",
            "let qy = (id / params.q_w) % params.q_h;",
            "let k = (id / (params.q_w * params.q_h)) % params.out_channels;",
            "let n = id / (params.q_w * params.q_h * params.out_channels);",
        ]
    };
    values.extend([
        ("BINDINGS", bindings),
        ("ACCESSORS", accessors),
        ("INDEX", index.join("\n")),
        ("VALUE", value),
        ("WORKGROUP", WORKGROUP.to_string()),
    ]);
    values.extend(ep.wgsl(storage, first_epilogue, 1));
    let (params, fields, kind) = match source {
        PhaseSource::Scratch => (InterleaveParams::wgsl(), InterleaveParams::FIELDS, "interleave"),
        PhaseSource::Uncovered => (UncoveredParams::wgsl(), UncoveredParams::FIELDS, "uncovered"),
    };
    values.push(("PARAMS", params));
    let order = if channels_fastest { "_nhwc" } else { "" };
    Kernel {
        name: format!("transpose_{kind}_{storage}{}{order}", ep.suffix()),
        source: fill(include_str!("../../shaders/interleave.wgsl"), &values),
        fields,
    }
}
