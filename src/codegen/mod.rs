//! WGSL text. Each algorithm's kernels are generated from a skeleton in `shaders/` and the
//! exact transforms: `expr` (straight-line arithmetic), `skeleton` (placeholder filling),
//! `uniform` (the typed `Params` blocks), `storage` (activation reads and writes in f32, f16 or
//! f16 packed into `u32`), `padding` (the padding modes), `epilogue` (the one output stage),
//! then one module per kernel family: `winograd`, `product` (the register-tiled GEMM core every
//! matrix product goes through), `direct`, `depthwise`, `interleave` (the last pass of a
//! transposed convolution), and `weight_grad` (the parameter gradients' operands of the product
//! core, and their split-K reduction).

mod coop;
mod depthwise;
mod direct;
mod epilogue;
mod expr;
mod interleave;
mod padding;
mod product;
mod skeleton;
mod storage;
pub(crate) mod uniform;
mod weight_grad;
mod winograd;

pub(crate) use coop::{amax, amax_loads_vec4, coop_product, FragType, TensorOperands};
pub(crate) use depthwise::{depthwise, DepthwiseShape, STRIP};
pub(crate) use direct::direct;
pub(crate) use epilogue::{epilogue_pass, Epilogue};
pub(crate) use interleave::{interleave, PhaseSource};
pub(crate) use product::{pack_weights, product, ConvOperands, Gather, Operands};
pub(crate) use storage::Storage;
pub(crate) use weight_grad::{grad_reduce, GradB, GradOperands};
pub(crate) use winograd::{
    filter_transform, fused, input_transform, output_transform, FusedBlock, InputLoad, OutputStore,
};

use crate::blocks::GemmBlock;
use crate::desc::{PaddingMode, TileLayout, WINOGRAD_TILES};

/// Every activation storage.
const STORAGES: [Storage; 3] = [Storage::F32, Storage::F16, Storage::PackedF16];
use crate::lowering::Transforms;

/// Every padding mode, zeros first.
const MODES: [PaddingMode; 4] =
    [PaddingMode::Zeros, PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular];

/// Invocations per workgroup of the element-wise kernels (transforms, direct, depthwise,
/// weight packing), which fold their grid into two dimensions (see `plan::grid`).
pub(crate) const WORKGROUP: u32 = 64;

/// One generated compute shader, entry point `main`.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// A file-name-safe name that says what the kernel is, e.g. `input_f4_3_r_6_6_16_f32`.
    pub name: String,
    /// WGSL source.
    pub source: String,
    /// `(name, type)` of its uniform `Params` fields (binding 0), in order; checked against the
    /// source by the catalogue tests.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fields: &'static [(&'static str, &'static str)],
}

impl Kernel {
    /// Size of the generated WGSL in lines.
    pub fn lines(&self) -> usize {
        self.source.lines().count()
    }
}

/// Every kernel family the library generates, over the shipped tiles, layouts, dtypes, product
/// blocks and sample epilogues (kernel-size variants of the GEMM and depthwise kernels for the
/// common sizes): what the naga tests validate and `wino emit` writes.
pub fn all_kernels() -> Vec<Kernel> {
    let mut out = Vec::new();
    let mut seen_alpha = Vec::new();
    for (m, r) in WINOGRAD_TILES {
        let t = Transforms::for_shipped_tile(m, r);
        for layout in [TileLayout::R16_6_6, TileLayout::R6_6_16] {
            out.push(filter_transform(&t, layout, false));
            out.push(filter_transform(&t, layout, true));
            for storage in STORAGES {
                for mode in MODES {
                    out.push(input_transform(&t, layout, storage, InputLoad::Scalar, mode));
                }
                for width in [2, 4].into_iter().filter(|w| t.m.is_multiple_of(*w)) {
                    for pad_left in 0..t.r {
                        let load = InputLoad::Vector { width, pad_left };
                        out.push(input_transform(&t, layout, storage, load, PaddingMode::Zeros));
                    }
                }
                for ep in Epilogue::SAMPLES {
                    for store in [OutputStore::Scalar, OutputStore::Vec2, OutputStore::Vec4] {
                        if t.m.is_multiple_of(store.width()) {
                            out.push(output_transform(&t, layout, storage, ep, store));
                        }
                    }
                    out.push(fused(&t, layout, storage, ep, PaddingMode::Zeros));
                }
            }
            if !seen_alpha.contains(&(t.alpha(), layout)) {
                seen_alpha.push((t.alpha(), layout));
                let operands = Operands::Winograd { layout, alpha: t.alpha(), grouped: false };
                out.extend(GemmBlock::CATALOGUE.iter().map(|&b| product(operands, b)));
                let grouped = Operands::Winograd { layout, alpha: t.alpha(), grouped: true };
                out.extend([GemmBlock::K16, GemmBlock::K32, GemmBlock::B64].map(|b| product(grouped, b)));
            }
        }
    }
    out.push(pack_weights(false));
    out.push(pack_weights(true));
    for storage in STORAGES {
        for ep in Epilogue::SAMPLES {
            out.push(epilogue_pass(storage, ep));
            for source in [PhaseSource::Scratch, PhaseSource::Uncovered] {
                for channels_fastest in [false, true] {
                    out.push(interleave(storage, ep, source, channels_fastest));
                }
            }
            out.push(direct(storage, ep, PaddingMode::Zeros));
            for (kernel, gather) in [
                ([1, 1], Gather::PointwiseVec4),
                ([1, 1], Gather::PointwiseNhwcVec4),
                ([1, 1], Gather::Pointwise),
                ([3, 3], Gather::Window),
                ([7, 7], Gather::Window),
            ] {
                for vec4_store in [false, true] {
                    let padding_mode = PaddingMode::Zeros;
                    let operands = Operands::Conv(ConvOperands {
                        kernel,
                        gather,
                        vec4_store,
                        storage,
                        epilogue: ep,
                        padding_mode,
                    });
                    out.push(product(operands, GemmBlock::B64));
                }
            }
            for (kernel, stride) in [(3, 1), (3, 2), (5, 1)] {
                for vec4_store in [false, true] {
                    let shape = DepthwiseShape {
                        kernel: [kernel; 2],
                        stride: [stride; 2],
                        dilation: [1, 1],
                        vec4_store,
                        padding_mode: PaddingMode::Zeros,
                        channels_fastest: false,
                    };
                    out.push(depthwise(shape, storage, ep));
                    if !vec4_store {
                        // The NHWC variant: neighbouring invocations take neighbouring channels.
                        out.push(depthwise(DepthwiseShape { channels_fastest: true, ..shape }, storage, ep));
                    }
                }
            }
        }
    }
    let conv = |gather| {
        Operands::Conv(ConvOperands {
            kernel: [1, 1],
            gather,
            vec4_store: true,
            storage: Storage::F32,
            epilogue: Epilogue::default(),
            padding_mode: PaddingMode::Zeros,
        })
    };
    // Every non-zero padding mode in every kernel family that reads padding.
    for mode in &MODES[1..] {
        let t = Transforms::for_shipped_tile(2, 3);
        out.push(fused(&t, TileLayout::R6_6_16, Storage::F32, Epilogue::default(), *mode));
        out.push(direct(Storage::F32, Epilogue::default(), *mode));
        let window = ConvOperands {
            kernel: [3, 3],
            gather: Gather::Window,
            vec4_store: false,
            storage: Storage::F32,
            epilogue: Epilogue::default(),
            padding_mode: *mode,
        };
        out.push(product(Operands::Conv(window), GemmBlock::B64));
        let shape = DepthwiseShape {
            kernel: [3, 3],
            stride: [1, 1],
            dilation: [1, 1],
            vec4_store: false,
            padding_mode: *mode,
            channels_fastest: false,
        };
        out.push(depthwise(shape, Storage::F32, Epilogue::default()));
    }
    out.extend(
        GemmBlock::CATALOGUE
            .iter()
            .filter(|&&b| b != GemmBlock::B64)
            .map(|&b| product(conv(Gather::PointwiseVec4), b)),
    );
    // The parameter gradients: every storage and padding mode, dy rows of four pixels (vec4
    // loads of dy, and of x for 1×1 kernels) and not (ResNet-50's 56² and 7² layers), the
    // small block.
    for storage in STORAGES {
        for [out_w, out_hw] in [[56, 3136], [7, 49]] {
            let dy_vec4 = out_w == 56;
            let grad =
                |b, x_vec4| Operands::Grad(GradOperands { b, storage, out_w, out_hw, dy_vec4, x_vec4 });
            for mode in MODES {
                let b = GradB::Patches { kernel: [3, 3], padding_mode: mode };
                out.push(product(grad(b, false), GemmBlock::B64));
            }
            let pointwise = GradB::Patches { kernel: [1, 1], padding_mode: PaddingMode::Zeros };
            out.push(product(grad(pointwise, dy_vec4), GemmBlock::B64));
            out.push(product(grad(GradB::Ones, false), GemmBlock::B64));
        }
    }
    let small = GradOperands {
        b: GradB::Patches { kernel: [1, 1], padding_mode: PaddingMode::Zeros },
        storage: Storage::F32,
        out_w: 14,
        out_hw: 196,
        dy_vec4: false,
        x_vec4: false,
    };
    out.push(product(Operands::Grad(small), GemmBlock::K16));
    out.push(grad_reduce());
    out
}

/// Every cooperative-matrix kernel family (tensor cores, Apple simdgroup matrices): the
/// tensor-core GEMM for each block and fragment type over sample operands, the plain GEMM of
/// the benchmarks, and the max-magnitude pass. Kept apart from [`all_kernels`] because only
/// adapters with `EXPERIMENTAL_COOPERATIVE_MATRIX` run them and HLSL has no cooperative
/// matrices in naga 30; the naga tests write them as MSL and SPIR-V, `wino emit` writes them.
/// Generated for 32-invocation subgroups (NVIDIA, Apple).
pub fn tensor_kernels() -> Vec<Kernel> {
    use crate::blocks::TensorBlock;
    let sample = |kernel, gather, vec4_store, storage, epilogue| {
        TensorOperands::Conv(ConvOperands {
            kernel,
            gather,
            vec4_store,
            storage,
            epilogue,
            padding_mode: PaddingMode::Zeros,
        })
    };
    let full = Epilogue::SAMPLES[1];
    let mut out = vec![
        amax(Storage::F32, false),
        amax(Storage::F16, false),
        amax(Storage::F32, true),
        amax(Storage::F16, true),
    ];
    for (frag, blocks) in [
        (FragType::F16, &TensorBlock::CATALOGUE_16[..]),
        (FragType::F16, &TensorBlock::CATALOGUE_8[..]),
        (FragType::F32, &TensorBlock::CATALOGUE_8[..]),
    ] {
        for &block in blocks {
            out.push(coop_product(
                sample([1, 1], Gather::PointwiseVec4, true, Storage::F32, Epilogue::default()),
                block,
                frag,
                32,
            ));
            out.push(coop_product(TensorOperands::Matmul, block, frag, 32));
        }
        let block = blocks[0];
        // The Winograd product: both layouts, grouped, and the tiles the ladder takes.
        for (m, layout, grouped) in [
            (2, TileLayout::R16_6_6, false),
            (2, TileLayout::R6_6_16, false),
            (2, TileLayout::R16_6_6, true),
            (4, TileLayout::R16_6_6, false),
        ] {
            out.push(coop_product(TensorOperands::Winograd { m, r: 3, layout, grouped }, block, frag, 32));
        }
        for storage in STORAGES {
            out.push(coop_product(sample([3, 3], Gather::Window, false, storage, full), block, frag, 32));
            out.push(coop_product(
                sample([1, 1], Gather::PointwiseNhwcVec4, false, storage, full),
                block,
                frag,
                32,
            ));
            out.push(coop_product(
                sample([7, 7], Gather::Window, true, storage, Epilogue::SAMPLES[2]),
                block,
                frag,
                32,
            ));
        }
        // The weight gradient (f16 fragments only): f32 data (scaled) and f16, dy rows of four
        // pixels (vec4 loads, of x too for 1×1) and not.
        if frag == FragType::F16 {
            for storage in [Storage::F32, Storage::F16] {
                for (kernel, [out_w, out_hw], x_vec4, padding_mode) in [
                    ([3, 3], [56, 3136], false, PaddingMode::Zeros),
                    ([1, 1], [56, 3136], true, PaddingMode::Zeros),
                    ([3, 3], [7, 49], false, PaddingMode::Reflect),
                ] {
                    let b = GradB::Patches { kernel, padding_mode };
                    let dy_vec4 = u32::is_multiple_of(out_hw, 4);
                    let g = GradOperands { b, storage, out_w, out_hw, dy_vec4, x_vec4 };
                    out.push(coop_product(TensorOperands::Grad(g), block, frag, 32));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_multiply_by_zero_or_one_survives() {
        for k in all_kernels().into_iter().chain(tensor_kernels()) {
            for bad in ["* 0.0", "* 1.0", "* -1.0", "0.0 *", "1.0 *"] {
                assert!(!k.source.contains(bad), "{} contains '{bad}'", k.name);
            }
        }
    }

    #[test]
    fn every_uniform_field_is_read() {
        for k in all_kernels().into_iter().chain(tensor_kernels()) {
            for (field, _) in k.fields {
                // r_offset is read only by the residual epilogue; vector stores imply ys_w = 1
                // and whole rows (out_w unread).
                let read = k.source.contains(&format!("params.{field}"));
                let pointwise_unread = ["dil_h", "dil_w", "in_h", "in_w", "pad_top", "pad_left"];
                let vec4_unread = ["stride_h", "stride_w"];
                // w_unscale and scale serve the tensor-core kernels (weights scaled to f16).
                // (f32 fragments and f16 activations need no activation scale either.)
                let words: Vec<&str> = k.name.split('_').collect();
                let f32_fragments = k.name.starts_with("conv_tc")
                    && words.windows(2).any(|w| w[0] == "f32" && w[1].contains('x'));
                let tensor_only = (*field == "w_unscale"
                    && (k.name.starts_with("conv_gemm") || f32_fragments))
                    || (*field == "scale" && k.name == "pack_weights")
                    // The tensor-core Winograd product: one block for grouped and ungrouped
                    // products, the weight bound only for f16 fragments.
                    || (k.name.starts_with("wino_tc")
                        && ((["groups", "group_in", "group_out"].contains(field) && !k.name.contains("_grouped"))
                            || (*field == "w_amax" && k.name.contains("_f32_"))));
                let optional = tensor_only
                    || *field == "r_offset"
                    || (*field == "ys_w" && (k.name.contains("_vec") || k.name.contains("_store4")))
                    || (*field == "ys_h" && k.name.starts_with("conv_") && k.name.contains("_store4"))
                    || (*field == "out_w" && k.name.starts_with("depthwise") && k.name.contains("_store4"))
                    || (k.name.contains("_pointwise") && pointwise_unread.contains(field))
                    || (k.name.contains("_pointwise_vec4")
                        && (*field == "xs_w" || vec4_unread.contains(field)))
                    // A 1×1 stride-1 weight gradient reads x at dy's own pixel.
                    || (k.name.starts_with("weight_grad")
                        && k.name.contains("_vec4")
                        && ["stride_h", "stride_w"].contains(field));
                assert!(read || optional, "{}: uniform field {field} is never read", k.name);
            }
        }
    }

    #[test]
    fn kernel_names_are_unique() {
        let kernels: Vec<Kernel> = all_kernels().into_iter().chain(tensor_kernels()).collect();
        let mut names: Vec<&str> = kernels.iter().map(|k| k.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), kernels.len());
    }
}
