#![deny(missing_docs)]
//! # wgpu-winograd
//!
//! Fast 2-D convolution on any GPU wgpu reaches (Vulkan, Metal, DX12, GL), built around
//! Winograd's minimal filtering algorithm F(m×m, r×r), with implicit GEMM, depthwise and direct
//! paths for every other convolution.
//!
//! Data flows one way through the modules: `desc` (what the caller asks for, and every
//! shape-independent rule) → `dispatch` (the ladder that picks an algorithm per shape and
//! adapter) → `algo` (one module per algorithm: its split and its passes) → `codegen` (WGSL
//! from the skeletons in `shaders/`, with the exact transforms of `lowering`) → `runtime`
//! (wgpu objects, recording, timing). [`reference`](mod@reference) holds the CPU reference the
//! tests and `wino conv --verify` check against; [`backends`] writes MSL, SPIR-V and HLSL for
//! inspection; [`tune`] measures choices and `tuned` caches them.
//!
//! ```
//! use wgpu_winograd::{Context, Conv2d, Conv2dDesc};
//!
//! # fn main() -> Result<(), wgpu_winograd::Error> {
//! let ctx = Context::new()?;                              // default adapter
//! let desc = Conv2dDesc::new(16, 32, 3, 1);                // 16 → 32 channels, 3×3, padding 1
//! let weights = vec![0.01f32; desc.weight_len()?];         // OIHW
//! let conv = Conv2d::new(&ctx, desc, &weights, None)?;     // weights uploaded
//! let input = vec![1.0f32; 2 * 16 * 24 * 24];              // NCHW, batch 2
//! let output = conv.run(&input, [2, 16, 24, 24], None)?;   // blocking call
//! assert_eq!(output.len(), 2 * 32 * 24 * 24);
//! # Ok(()) }
//! ```

mod algo;
pub mod backends;
mod codegen;
mod desc;
mod dispatch;
mod error;
pub mod lowering;
mod plan;
pub mod reference;
mod runtime;
pub mod suites;
#[cfg(feature = "blocking")]
pub mod tune;
mod tuned;

pub use codegen::{all_kernels, tensor_kernels, Kernel};
pub use desc::{
    Activation, Algo, Conv2dDesc, DType, DataFormat, GemmBlock, Padding, PaddingMode, Precision, Product,
    TensorBlock, TileLayout, WeightFormat, WINOGRAD_TILES,
};
pub use error::{Error, Result};
pub use plan::{Path, Piece, Plan, Tuned, WinogradKernels};
#[cfg(feature = "blocking")]
pub use runtime::enumerate_adapters;
pub use runtime::{
    enumerate_adapters_async, tensor_matmul, Context, ContextOptions, Conv2d, Element, MatmulTiming, Timing,
};
pub use tuned::cache_path;
/// The wgpu this crate is built against (30): use it for your own device, queue, buffers and
/// encoders, so the versions cannot differ.
pub use wgpu;
