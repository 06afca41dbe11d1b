//! Every generated kernel parses and validates in naga and converts to MSL (at the oldest and
//! newest versions wgpu 30 writes for an Apple7 GPU), HLSL (at the shader model wgpu's DX12
//! backend needs for it) and SPIR-V. See `src/backends.rs` for where the versions come from.

use wgpu_winograd::backends::{self, MSL_APPLE7, MSL_APPLE7_NEWEST};
use wgpu_winograd::{all_kernels, tensor_kernels};

#[test]
fn every_kernel_validates_and_converts_to_msl_hlsl_and_spirv() {
    let kernels = all_kernels();
    assert!(kernels.len() > 50, "only {} kernels generated", kernels.len());
    let mut f16_kernels = 0;
    for k in &kernels {
        let v = backends::validate(k).unwrap_or_else(|e| panic!("{e}\n{}", k.source));
        for version in [MSL_APPLE7, MSL_APPLE7_NEWEST] {
            let msl = v.msl(version).unwrap_or_else(|e| panic!("{e}"));
            assert!(msl.contains("kernel void"), "{}: no kernel entry in MSL {version:?}", k.name);
        }
        let model = v.hlsl_shader_model();
        let hlsl = v.hlsl(model).unwrap_or_else(|e| panic!("{e}"));
        assert!(hlsl.contains("[numthreads("), "{}: no compute entry in HLSL", k.name);
        if v.uses_f16() {
            f16_kernels += 1;
            assert_eq!(model, naga::back::hlsl::ShaderModel::V6_2, "{}", k.name);
            assert!(hlsl.contains("half"), "{}: f16 kernel without half in HLSL", k.name);
        }
        let spv = v.spirv().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spv[0], 0x0723_0203, "{}: not SPIR-V", k.name);
    }
    assert!(f16_kernels > 0, "no f16 kernel among {}", kernels.len());
    // The one-call wrappers use the same versions.
    let k = &kernels[0];
    assert_eq!(backends::to_msl(k).unwrap(), backends::validate(k).unwrap().msl(MSL_APPLE7).unwrap());
    assert!(backends::to_hlsl(k).unwrap().contains("[numthreads("));
    assert_eq!(backends::to_spirv(k).unwrap()[0], 0x0723_0203);
}

/// The cooperative-matrix kernels (every fragment shape and type, every catalogue block)
/// validate and convert to MSL (simdgroup matrices need MSL 2.3, the oldest wgpu writes for
/// Apple7) and SPIR-V (SPV_KHR_cooperative_matrix). naga 30 has no HLSL for them.
#[test]
fn tensor_kernels_validate_and_convert_to_msl_and_spirv() {
    let kernels = tensor_kernels();
    for k in &kernels {
        let v = backends::validate(k).unwrap_or_else(|e| panic!("{e}\n{}", k.source));
        for version in [MSL_APPLE7, MSL_APPLE7_NEWEST] {
            let msl = v.msl(version).unwrap_or_else(|e| panic!("{e}"));
            assert!(msl.contains("kernel void"), "{}: no kernel entry in MSL {version:?}", k.name);
            if k.name.contains("_tc_") || k.name.starts_with("matmul") {
                assert!(msl.contains("simdgroup_"), "{}: no simdgroup matrix in MSL", k.name);
            }
        }
        let spv = v.spirv().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spv[0], 0x0723_0203, "{}: not SPIR-V", k.name);
    }
    // 16×16 f16 (Vulkan tensor cores), 8×8 f16 and 8×8 f32 (Apple simdgroup matrices).
    for name in ["_m16_sg32", "_m8_sg32"] {
        assert!(kernels.iter().any(|k| k.name.contains("_f16_") && k.name.contains(name)), "no f16 {name}");
    }
    assert!(kernels.iter().any(|k| k.name.contains("_f32_f32_") && k.name.contains("_m8_")), "no f32 8×8");
}
