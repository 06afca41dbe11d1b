//! The one output stage every path shares: bias, residual and activation applied to an
//! accumulated value on its way to memory, plus the activation element type header.

use super::storage::{act_header, buffer, Access, Storage};
use crate::desc::Activation;

/// What the output stage does after the convolution sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Epilogue {
    /// Add the per-channel bias.
    pub bias: bool,
    /// Add a residual tensor shaped like the output.
    pub residual: bool,
    /// Activation applied last.
    pub activation: Activation,
}

impl Epilogue {
    /// The epilogues the catalogue generates every kernel with: none, the fullest, and each
    /// clamping activation.
    pub const SAMPLES: [Epilogue; 4] = [
        Epilogue { bias: false, residual: false, activation: Activation::None },
        Epilogue { bias: true, residual: true, activation: Activation::Silu },
        Epilogue { bias: true, residual: false, activation: Activation::Relu },
        Epilogue { bias: false, residual: false, activation: Activation::Relu6 },
    ];

    /// `_bias_residual_relu`: the part of a kernel name the epilogue decides.
    pub fn suffix(self) -> String {
        let mut s = String::new();
        if self.bias {
            s.push_str("_bias");
        }
        if self.residual {
            s.push_str("_residual");
        }
        if self.activation != Activation::None {
            s.push_str(&format!("_{}", self.activation));
        }
        s
    }

    /// The extra bindings (from `first_binding` on: bias, then residual) and the `finish`
    /// function, which maps an accumulated value for channel k at output offset `rel` to the
    /// stored element. With a vector `width` > 1, values, the residual binding and `rel` all
    /// count in vectors of that width; the result stays f32 (the store converts it). Returns
    /// the `EPILOGUE_BINDINGS` and `EPILOGUE` values.
    pub fn wgsl(self, storage: Storage, first_binding: u32, width: usize) -> [(&'static str, String); 2] {
        let acc = if width == 1 { "f32".to_string() } else { format!("vec{width}<f32>") };
        let (zero, six) = (format!("{acc}(0.0)"), format!("{acc}(6.0)"));
        // PyTorch: relu(NaN) = relu6(NaN) = NaN, relu(+Inf) = +Inf, relu6(+Inf) = 6. WGSL lets a
        // driver assume floats are never NaN (comparisons and selects alone gave relu6(NaN) = 6 on
        // the H100), so NaN is told by its bits, which no such assumption touches.
        let bits = if width == 1 { "u32".to_string() } else { format!("vec{width}<u32>") };
        let nan = format!("let nan = (bitcast<{bits}>(v) & {bits}(0x7fffffffu)) > {bits}(0x7f800000u);");
        let r_offset =
            if width == 1 { "params.r_offset".to_string() } else { format!("params.r_offset / {width}u") };
        let mut bindings = Vec::new();
        let mut accessors = String::new();
        let mut body = vec!["var v = acc;".to_string()];
        if self.bias {
            bindings
                .push(format!("@group(0) @binding({first_binding}) var<storage, read> bias: array<f32>;"));
            body.push("v += bias[k];".into());
        }
        if self.residual {
            let b = first_binding + self.bias as u32;
            let (decl, fns) = buffer(storage, "residual", "r", b, Access::Read, width);
            bindings.push(decl);
            accessors = format!("{fns}\n\n");
            let load = if width == 1 { "ld_r".to_string() } else { format!("ld_r{width}") };
            body.push(format!("v += {load}({r_offset} + rel);"));
        }
        match self.activation {
            Activation::None => {}
            Activation::Relu => {
                body.push(nan);
                body.push(format!("v = select(select(v, {zero}, v < {zero}), v, nan);"));
            }
            Activation::Relu6 => {
                body.push(nan);
                body.push(format!(
                    "v = select(select(select(v, {zero}, v < {zero}), {six}, v > {six}), v, nan);"
                ));
            }
            Activation::Silu => body.push("v = v / (1.0 + exp(-v));".into()),
        }
        body.push("return v;".into());
        let body: String = body.iter().map(|l| format!("    {l}\n")).collect();
        let func = format!("{accessors}fn finish(acc: {acc}, k: u32, rel: u32) -> {acc} {{\n{body}}}");
        [("EPILOGUE_BINDINGS", bindings.join("\n")), ("EPILOGUE", func)]
    }
}

/// The epilogue as a pass of its own over an output written without it (`shaders/epilogue.wgsl`),
/// for adapters with too few storage buffers per stage to bind it inside the convolution.
pub(crate) fn epilogue_pass(storage: Storage, ep: Epilogue) -> super::Kernel {
    use super::uniform::{EpilogueParams, Uniform};
    let mut values = act_header(storage).to_vec();
    let (y, accessors) = buffer(storage, "y", "y", 1, Access::ReadWrite, 1);
    values.extend([("Y_BINDING", y), ("ACCESSORS", accessors)]);
    values.extend(ep.wgsl(storage, 2, 1));
    values.push(("PARAMS", EpilogueParams::wgsl()));
    values.push(("WORKGROUP", super::WORKGROUP.to_string()));
    super::Kernel {
        name: format!("epilogue_{storage}{}", ep.suffix()),
        source: super::skeleton::fill(include_str!("../../shaders/epilogue.wgsl"), &values),
        fields: EpilogueParams::FIELDS,
    }
}
