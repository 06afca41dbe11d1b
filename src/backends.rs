//! Back ends for inspection: a generated WGSL kernel validated by naga and written as MSL
//! (what Metal runs on Apple Silicon) or SPIR-V (what Vulkan runs).

use crate::codegen::Kernel;
use crate::error::{Error, Result};

/// A kernel parsed and validated by naga, ready for any back end.
pub struct Validated {
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
    Ok(Validated { module, info })
}

/// Metal Shading Language 2.4 source for a kernel.
pub fn to_msl(kernel: &Kernel) -> Result<String> {
    let v = validate(kernel)?;
    let options = naga::back::msl::Options { lang_version: (2, 4), ..Default::default() };
    let pipeline = naga::back::msl::PipelineOptions::default();
    naga::back::msl::write_string(&v.module, &v.info, &options, &pipeline)
        .map(|(source, _)| source)
        .map_err(|e| Error::Codegen(format!("{}: MSL output failed: {e}", kernel.name)))
}

/// SPIR-V 1.3 words for a kernel.
pub fn to_spirv(kernel: &Kernel) -> Result<Vec<u32>> {
    let v = validate(kernel)?;
    let options = naga::back::spv::Options { lang_version: (1, 3), ..Default::default() };
    let pipeline = naga::back::spv::PipelineOptions {
        shader_stage: naga::ShaderStage::Compute,
        entry_point: "main".into(),
    };
    naga::back::spv::write_vec(&v.module, &v.info, &options, Some(&pipeline))
        .map_err(|e| Error::Codegen(format!("{}: SPIR-V output failed: {e}", kernel.name)))
}
