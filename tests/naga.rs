//! Every generated kernel parses and validates in naga and converts to MSL and SPIR-V.

use wgpu_winograd::{all_kernels, backends};

#[test]
fn every_kernel_validates_and_converts_to_msl_and_spirv() {
    let kernels = all_kernels();
    assert!(kernels.len() > 50, "only {} kernels generated", kernels.len());
    for k in &kernels {
        let msl = backends::to_msl(k).unwrap_or_else(|e| panic!("{e}\n{}", k.source));
        assert!(msl.contains("kernel void"), "{}: no kernel entry in MSL", k.name);
        let spv = backends::to_spirv(k).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spv[0], 0x0723_0203, "{}: not SPIR-V", k.name);
    }
}
