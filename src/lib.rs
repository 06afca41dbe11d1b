#![deny(missing_docs)]
// wasm32 without atomics has one thread, and wgpu's types are not Send there: the Arcs that share
// them across threads on native are shared within that one thread.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]
//! # wgpu-winograd
//!
//! Fast 2-D convolution on any GPU wgpu reaches (Vulkan, Metal, DX12, GL), built around
//! Winograd's minimal filtering algorithm F(m×m, r×r), with implicit GEMM, depthwise and direct
//! paths for every other convolution.
//!
//! [`ConvTranspose2d`], [`Conv1d`], [`InputGrad`] and [`WeightGrad`] are built on the same
//! runtime (never the reverse): a transposed convolution as stride-1 phase convolutions, a
//! conv1d as a `1×R` conv2d, the input gradient as the transposed convolution of the forward
//! weights, the weight gradient as a split-K implicit GEMM. Each has the async calls of
//! [`Conv2d`] (`new_async`, `run_async`, `prepare_async`; `encode` never blocks), so they run in
//! the browser too.
//!
//! A [`Conv2dDesc`] says what to compute; [`Conv2d`] uploads the weights once and either runs on
//! host slices ([`Conv2d::run_async`], or the blocking [`Conv2d::run`]) or records into your
//! encoder ([`Conv2d::encode`]); [`Conv2d::plan`] says which path (Winograd, implicit GEMM,
//! depthwise, direct), tile and split a shape takes ([`Plan`]). [`reference`](mod@reference)
//! holds the CPU reference the tests and `wino conv --verify` (the CLI, feature `cli`) check
//! against; [`backends`] validates the generated kernels ([`all_kernels`]) and writes them as
//! MSL, SPIR-V and HLSL for inspection; `tune` measures the choices for an adapter and caches them.
//!
//! The core is async and never blocks, so it runs on a browser's main thread too
//! (wasm32-unknown-unknown with the `webgpu` feature; README "Running in the browser"). The
//! default feature `blocking` adds the blocking calls, each the async one run by `pollster`:
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
//!
//! In an app that has its own device, wrap it with [`Context::from_device`] (the device stays
//! yours: no handler of yours is replaced) and record into your own encoder:
//!
//! ```
//! use wgpu_winograd::{wgpu, Context, Conv2d, Conv2dDesc};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The app's device (here from wgpu's default adapter).
//! let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
//! let adapter = pollster::block_on(instance.request_adapter(&Default::default()))?;
//! let (device, queue) = pollster::block_on(adapter.request_device(&Default::default()))?;
//! let ctx = Context::from_device(device.clone(), queue.clone());
//!
//! let desc = Conv2dDesc::new(4, 8, 3, 1);
//! let weights = vec![0.5f32; desc.weight_len()?];
//! let conv = Conv2d::new(&ctx, desc, &weights, None)?;
//! let shape = [1, 4, 6, 6];
//! let (in_bytes, out_bytes) = conv.tensor_bytes(shape)?;
//! let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
//! let buffer = |size| device.create_buffer(&wgpu::BufferDescriptor { label: None, size, usage, mapped_at_creation: false });
//! let (x, y) = (buffer(in_bytes), buffer(out_bytes));
//! queue.write_buffer(&x, 0, bytemuck::cast_slice(&vec![1.0f32; 4 * 6 * 6]));
//! let readback = device.create_buffer(&wgpu::BufferDescriptor {
//!     label: None,
//!     size: out_bytes,
//!     usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
//!     mapped_at_creation: false,
//! });
//! let mut encoder = device.create_command_encoder(&Default::default());
//! conv.encode(&mut encoder, shape, &x, &y, None)?;
//! encoder.copy_buffer_to_buffer(&y, 0, &readback, 0, out_bytes);
//! queue.submit([encoder.finish()]);
//! readback.map_async(wgpu::MapMode::Read, .., |r| r.expect("mapped"));
//! device.poll(wgpu::PollType::wait_indefinitely())?;
//! let out: Vec<f32> = bytemuck::cast_slice(&readback.get_mapped_range(..)?).to_vec();
//! // Pixel (1, 1) of channel 0 sees all 4 × 3 × 3 taps: 36 × 0.5.
//! assert!((out[6 + 1] - 18.0).abs() < 1e-4, "{}", out[7]);
//! # Ok(()) }
//! ```

mod algo;
pub mod backends;
mod blocks;
mod codegen;
mod conv1d;
mod desc;
mod dispatch;
mod error;
mod input_grad;
pub mod lowering;
mod ops;
mod plan;
pub mod reference;
mod runtime;
mod staging;
pub mod suites;
mod transpose;
#[cfg(feature = "blocking")]
pub mod tune;
mod tuned;

pub use blocks::{Engine, GemmBlock, TensorBlock};
pub use codegen::{all_kernels, tensor_kernels, Kernel};
pub use conv1d::{Conv1d, Conv1dDesc, DataFormat1d, Padding1d, WeightFormat1d};
pub use desc::{
    Activation, Algo, Conv2dDesc, DType, DataFormat, Padding, PaddingMode, Precision, Product, TileLayout,
    WeightFormat, WINOGRAD_TILES,
};
pub use error::{Error, Result};
pub use input_grad::InputGrad;
pub use ops::{split_count, GradPlan, WeightGrad};
pub use plan::{Choice, Path, Piece, Plan, WinogradKernels};
#[cfg(feature = "blocking")]
pub use runtime::enumerate_adapters;
pub use runtime::{
    enumerate_adapters_async, tensor_matmul, Context, ContextOptions, Conv2d, Element, MatmulTiming, Timing,
};
pub use transpose::{ConvTranspose2d, ConvTranspose2dDesc, TransposePhase, TransposePlan, MAX_PHASES};
pub use tuned::cache_path;
/// The wgpu this crate is built against (30): use it for your own device, queue, buffers and
/// encoders, so the versions cannot differ.
pub use wgpu;
