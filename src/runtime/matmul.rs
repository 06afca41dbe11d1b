//! A plain GEMM on the tensor-core product core, for measuring the core alone (`wino bench
//! --suite gemm`, the `tensor_gemm` criterion group): f16 operands, f32 results, on data whose
//! products and sums are exact, so every result can be checked.

use super::host::read_back_now;
use super::timing::gpu_ms;
use super::Context;
use crate::blocks::TensorBlock;
use crate::codegen::uniform::{fit, MatmulParams, Uniform};
use crate::codegen::{coop_product, FragType, TensorOperands};
use crate::error::{Error, Result};
use wgpu::util::DeviceExt;

/// What [`tensor_matmul`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MatmulTiming {
    /// Median GPU time of one `M×N×K` product.
    pub gpu_ms: f64,
    /// `2·M·N·K / time`.
    pub tflops: f64,
    /// Results that differ from the exact value (all M·N are checked).
    pub wrong: usize,
}

/// A[i][k] and B[k][j]: small integers, so that every f16 product and f32 sum is exact.
fn a_value(i: usize, k: usize) -> f32 {
    ((i * 3 + k) % 5) as f32 - 2.0
}
fn b_value(k: usize, j: usize) -> f32 {
    ((k + 2 * j) % 3) as f32 - 1.0
}

/// Times `C (M×N) = A (M×K) · B (K×N)` with f16 operands on cooperative matrices with `block`,
/// and checks every element of C against the exact product. M, N and K must be multiples of the
/// block. Needs an adapter with cooperative matrices of the block's fragment in f16.
pub fn tensor_matmul(
    ctx: &Context,
    [m, n, k]: [usize; 3],
    block: TensorBlock,
    iterations: usize,
) -> Result<MatmulTiming> {
    let caps = ctx.tensor();
    if caps.f16_frag() != Some(block.frag()) {
        return Err(Error::Unsupported(format!(
            "{}×{} f16 cooperative matrices are not available on this adapter (it has: {})",
            block.frag(),
            block.frag(),
            caps.describe()
        )));
    }
    if !ctx.tensor_block_fits(&block, crate::desc::Precision::High) {
        return Err(Error::Unsupported(format!(
            "tensor block {block} needs more invocations or workgroup memory than this adapter allows"
        )));
    }
    if !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Err(Error::Unsupported("timing the GEMM needs TIMESTAMP_QUERY".into()));
    }
    let (bm, bn, bk) = (block.bm() as usize, block.bn() as usize, block.bk() as usize);
    if m == 0 || n == 0 || k == 0 || !m.is_multiple_of(bm) || !n.is_multiple_of(bn) || !k.is_multiple_of(bk) {
        return Err(Error::InvalidShape(format!(
            "GEMM {m}×{n}×{k} is not a positive multiple of the block {block}"
        )));
    }
    let params = MatmulParams { m: fit("M", m)?, n: fit("N", n)?, k: fit("K", k)? };
    let grid = [fit("column blocks", n / bn)?, fit("row blocks", m / bm)?, 1];
    let limits = ctx.limits();
    let bytes =
        |a: usize, b: usize, e: usize| a.checked_mul(b).and_then(|v| v.checked_mul(e)).map(|v| v as u64);
    let too_large = || Error::TooLarge(format!("GEMM {m}×{n}×{k} exceeds this adapter's grid or bindings"));
    let (a_bytes, b_bytes, c_bytes) = match (bytes(k, m, 2), bytes(k, n, 2), bytes(m, n, 4)) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => return Err(too_large()),
    };
    if grid[0] > limits.max_compute_workgroups_per_dimension
        || grid[1] > limits.max_compute_workgroups_per_dimension
        || a_bytes.max(b_bytes).max(c_bytes) > limits.max_storage_buffer_binding_size
    {
        return Err(too_large());
    }
    let kernel = coop_product(TensorOperands::Matmul, block, FragType::F16, caps.subgroup);
    let pipeline = ctx.pipeline(&kernel)?;
    // A is stored [K][M] and B [K][N] (the core's operand layouts), in f16.
    let f16s = |len: usize, f: &dyn Fn(usize) -> f32| -> Vec<u8> {
        (0..len).flat_map(|i| half::f16::from_f32(f(i)).to_le_bytes()).collect()
    };
    let a = f16s(k * m, &|i| a_value(i % m, i / m));
    let b = f16s(k * n, &|i| b_value(i / n, i % n));
    let (bind_group, c, readback) = ctx.scoped("allocating GEMM buffers", || {
        let dev = ctx.device();
        let init = |label, contents: &[u8], usage| {
            dev.create_buffer_init(&wgpu::util::BufferInitDescriptor { label: Some(label), contents, usage })
        };
        let uniform =
            init("matmul params", bytemuck::cast_slice(&params.words()), wgpu::BufferUsages::UNIFORM);
        let a = init("A", &a, wgpu::BufferUsages::STORAGE);
        let b = init("B", &b, wgpu::BufferUsages::STORAGE);
        let c = super::resources::storage(ctx, "C", c_bytes, wgpu::BufferUsages::COPY_SRC);
        let readback = dev.create_buffer(&wgpu::BufferDescriptor {
            label: Some("C readback"),
            size: c_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let entries: Vec<wgpu::BindGroupEntry> = [&uniform, &a, &b, &c]
            .iter()
            .enumerate()
            .map(|(i, buf)| wgpu::BindGroupEntry { binding: i as u32, resource: buf.as_entire_binding() })
            .collect();
        let bg = dev.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        (bg, c, readback)
    })?;
    let call = |stamps: Option<(&wgpu::QuerySet, u32)>| {
        let mut enc = ctx.device().create_command_encoder(&Default::default());
        {
            let timestamp_writes = stamps.map(|(query_set, i)| wgpu::ComputePassTimestampWrites {
                query_set,
                beginning_of_pass_write_index: Some(i),
                end_of_pass_write_index: Some(i + 1),
            });
            let mut pass = enc
                .begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("matmul"), timestamp_writes });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        enc
    };
    // Warm-up for at least 0.2 s of back-to-back calls: the first submissions pay for
    // pipeline finalisation, and an idle H100 sits at 345 MHz and takes a while to reach its
    // 1980 MHz (timings taken while it climbs came out up to 2× slow).
    let start = web_time::Instant::now();
    while start.elapsed().as_secs_f64() < 0.2 {
        ctx.scoped("GEMM warm-up", || {
            for _ in 0..3 {
                ctx.queue().submit([call(None).finish()]);
            }
        })?;
        ctx.wait()?;
    }
    let ms = gpu_ms(ctx, &|q, i| call(Some((q, i))), 1, iterations.max(1))?[0];
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&c, 0, &readback, 0, None);
    ctx.queue().submit([enc.finish()]);
    let bytes = read_back_now(ctx, &readback)?;
    let got: &[f32] = bytemuck::cast_slice(&bytes);
    // Column j of the exact product depends on j only through (2j) mod 3 and row i through
    // 3i mod 5: 15 distinct dot products, computed once.
    let exact = |i: usize, j: usize| -> f32 { (0..k).map(|l| a_value(i, l) * b_value(l, j)).sum() };
    let table: Vec<f32> = (0..15).map(|t| exact(t / 3, t % 3)).collect();
    let wrong = (0..m * n).filter(|&idx| got[idx] != table[(idx / n) % 5 * 3 + (idx % n) % 3]).count();
    Ok(MatmulTiming { gpu_ms: ms, tflops: 2.0 * (m * n * k) as f64 / (ms * 1e-3) / 1e12, wrong })
}
