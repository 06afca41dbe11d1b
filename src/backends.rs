//! Back ends for inspection: a generated WGSL kernel validated by naga and written as MSL
//! (what Metal runs on Apple Silicon), HLSL (what DX12 compiles) or SPIR-V (what Vulkan runs).
//!
//! The versions are the ones wgpu 30 itself hands naga (wgpu-hal 30.0.2):
//! * **MSL**: `wgpu-hal/src/metal/adapter.rs` lines 707–731 pick the language version from the
//!   OS, not from the GPU family: macOS 11 → 2.3, 12 → 2.4, 13 → 3.0, 14 → 3.1, 15 → 3.2,
//!   26 → 4.0; `wgpu-hal/src/metal/device.rs` line 192 passes it to naga. An Apple7 GPU (M1)
//!   needs macOS 11 or later, so 2.3 is the oldest MSL wgpu writes for it ([`MSL_APPLE7`]) and
//!   4.0 the newest ([`MSL_APPLE7_NEWEST`]).
//! * **HLSL**: `wgpu-hal/src/dx12/adapter.rs` lines 391–437: with DXC the shader model is the
//!   lower of the device's and DXC's highest (adapters under 6.0 are not exposed); with FXC,
//!   the fallback of the default `Dx12Compiler::Auto`, it is 5.1. `SHADER_F16` needs 6.2
//!   (line 586). [`to_hlsl`] writes each kernel at the lowest model wgpu can run it at:
//!   5.1 (FXC) without f16, 6.2 with.
//! * **SPIR-V**: 1.3.
//!
//! The writers need the `backends` cargo feature (on by default; it pulls in naga's MSL, HLSL
//! and SPIR-V back ends, which an app in the browser does not need); [`validate`] does not.

use crate::codegen::Kernel;
use crate::error::{Error, Result};

/// The oldest MSL version wgpu 30 writes for an Apple7 (M1) GPU: macOS 11, the first macOS the
/// M1 runs (wgpu-hal 30.0.2 `src/metal/adapter.rs` lines 717–718).
pub const MSL_APPLE7: (u8, u8) = (2, 3);

/// The newest MSL version wgpu 30 writes (macOS 26; wgpu-hal 30.0.2 `src/metal/adapter.rs`
/// line 708).
pub const MSL_APPLE7_NEWEST: (u8, u8) = (4, 0);

/// A kernel parsed and validated by naga, ready for any back end.
// Without the `backends` feature only `uses_f16` reads it.
#[cfg_attr(not(feature = "backends"), allow(dead_code))]
pub struct Validated {
    name: String,
    module: naga::Module,
    info: naga::valid::ModuleInfo,
}

/// Parses and validates a kernel with every capability allowed (f16 included).
pub fn validate(kernel: &Kernel) -> Result<Validated> {
    let fail = |stage: &str, e: String| Error::Codegen(format!("{} failed naga {stage}: {e}", kernel.name));
    let module = naga::front::wgsl::parse_str(&kernel.source)
        .map_err(|e| fail("parsing", e.emit_to_string(&kernel.source)))?;
    let info =
        naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
            .validate(&module)
            .map_err(|e| fail("validation", format!("{:?}", e.into_inner())))?;
    Ok(Validated { name: kernel.name.clone(), module, info })
}

impl Validated {
    /// Whether the kernel uses f16 anywhere (storage or arithmetic).
    pub fn uses_f16(&self) -> bool {
        self.module.types.iter().any(|(_, ty)| match ty.inner {
            naga::TypeInner::Scalar(s) | naga::TypeInner::Vector { scalar: s, .. } => {
                s.kind == naga::ScalarKind::Float && s.width == 2
            }
            naga::TypeInner::Matrix { scalar, .. } => scalar.width == 2,
            _ => false,
        })
    }

    #[cfg(feature = "backends")]
    /// Metal Shading Language source at `version` (major, minor).
    pub fn msl(&self, version: (u8, u8)) -> Result<String> {
        let options = naga::back::msl::Options { lang_version: version, ..Default::default() };
        let pipeline = naga::back::msl::PipelineOptions::default();
        naga::back::msl::write_string(&self.module, &self.info, &options, &pipeline)
            .map(|(source, _)| source)
            .map_err(|e| {
                Error::Codegen(format!("{}: MSL {}.{} output failed: {e}", self.name, version.0, version.1))
            })
    }

    #[cfg(feature = "backends")]
    /// The lowest shader model wgpu's DX12 backend can run this kernel at: 5.1 (FXC) without
    /// f16, 6.2 (where wgpu exposes SHADER_F16) with.
    pub fn hlsl_shader_model(&self) -> naga::back::hlsl::ShaderModel {
        if self.uses_f16() {
            naga::back::hlsl::ShaderModel::V6_2
        } else {
            naga::back::hlsl::ShaderModel::V5_1
        }
    }

    #[cfg(feature = "backends")]
    /// HLSL source at `shader_model`.
    pub fn hlsl(&self, shader_model: naga::back::hlsl::ShaderModel) -> Result<String> {
        let options = naga::back::hlsl::Options { shader_model, ..Default::default() };
        let pipeline = naga::back::hlsl::PipelineOptions {
            entry_point: Some((naga::ShaderStage::Compute, "main".into())),
        };
        let mut out = String::new();
        naga::back::hlsl::Writer::new(&mut out, &options, &pipeline)
            .write(&self.module, &self.info, None)
            .map_err(|e| {
                Error::Codegen(format!("{}: HLSL {shader_model:?} output failed: {e}", self.name))
            })?;
        Ok(out)
    }

    #[cfg(feature = "backends")]
    /// SPIR-V 1.3 words.
    pub fn spirv(&self) -> Result<Vec<u32>> {
        let options = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
        let pipeline = naga::back::spv::PipelineOptions {
            shader_stage: naga::ShaderStage::Compute,
            entry_point: "main".into(),
        };
        naga::back::spv::write_vec(&self.module, &self.info, &options, Some(&pipeline))
            .map_err(|e| Error::Codegen(format!("{}: SPIR-V output failed: {e}", self.name)))
    }
}

#[cfg(feature = "backends")]
/// Metal Shading Language source for a kernel, at [`MSL_APPLE7`] (2.3): the MSL wgpu writes for
/// an M1 on its oldest macOS. Newer macOS gets a newer version; see [`Validated::msl`].
pub fn to_msl(kernel: &Kernel) -> Result<String> {
    validate(kernel)?.msl(MSL_APPLE7)
}

#[cfg(feature = "backends")]
/// HLSL source for a kernel, at the lowest shader model wgpu's DX12 backend runs it at
/// ([`Validated::hlsl_shader_model`]).
pub fn to_hlsl(kernel: &Kernel) -> Result<String> {
    let v = validate(kernel)?;
    v.hlsl(v.hlsl_shader_model())
}

#[cfg(feature = "backends")]
/// SPIR-V 1.3 words for a kernel.
pub fn to_spirv(kernel: &Kernel) -> Result<Vec<u32>> {
    validate(kernel)?.spirv()
}
