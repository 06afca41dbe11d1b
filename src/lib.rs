#![warn(missing_docs)]
//! # wgpu-winograd
//!
//! Fast 2-D convolution on any GPU wgpu reaches (Vulkan, Metal, DX12, GL), built on Winograd's
//! minimal filtering algorithm F(m×m, r×r). The transform matrices are derived from
//! interpolation points in exact arithmetic ([`lowering`]), turned into straight-line WGSL
//! ([`codegen`]), planned per shape and adapter ([`dispatch`]) and run with wgpu ([`runtime`]);
//! [`reference`](mod@reference) holds the CPU reference the tests and `wino conv --verify` check against.
//!
//! ```
//! use wgpu_winograd::{Context, Conv2d, Conv2dDesc};
//!
//! # fn main() -> Result<(), wgpu_winograd::Error> {
//! let ctx = Context::new()?;                              // default adapter
//! let desc = Conv2dDesc::new(16, 32, 3, 1);                // 16 → 32 channels, 3×3, padding 1
//! let weights = vec![0.01f32; desc.weight_len()];          // OIHW
//! let conv = Conv2d::new(&ctx, desc, &weights, None)?;     // weights uploaded and prepared
//! let input = vec![1.0f32; 2 * 16 * 24 * 24];              // NCHW, batch 2
//! let output = conv.run(&input, [2, 16, 24, 24], None)?;   // blocking call
//! assert_eq!(output.len(), 2 * 32 * 24 * 24);
//! # Ok(()) }
//! ```

pub mod codegen;
pub mod desc;
pub mod dispatch;
pub mod emit;
pub mod error;
pub mod lowering;
pub mod reference;
pub mod runtime;
pub mod suites;
pub mod tune;

pub use desc::{Activation, Algo, Conv2dDesc, DType, DataFormat, Padding, TileLayout, WeightFormat};
pub use error::{Error, Result};
pub use runtime::{Context, ContextOptions, Conv2d, Element, Timing};
