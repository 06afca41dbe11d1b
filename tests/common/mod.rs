//! Shared helpers for the GPU tests: one context per test binary, deterministic data.
#![allow(dead_code)]

use std::sync::OnceLock;
use wgpu_winograd::{reference, Context, Conv2d, Conv2dDesc};

/// The adapter every GPU test runs on. Fails loudly when there is none: CI installs lavapipe.
pub fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = Context::new().unwrap_or_else(|e| panic!("GPU tests need a wgpu adapter: {e}"));
        eprintln!("GPU tests on: {} ({:?})", ctx.adapter_info().name, ctx.adapter_info().backend);
        ctx
    })
}

/// Deterministic pseudo-random values in [-1, 1): `data(len, seed)`.
pub use wgpu_winograd::reference::pseudo_random as data;

/// Runs `desc` on the GPU and on the f64 reference; returns (gpu output, max relative error).
pub fn check(desc: &Conv2dDesc, shape: [usize; 4], seed: u64) -> (Vec<f32>, f64) {
    let out_hw = desc.output_hw(shape[2], shape[3]).unwrap();
    let out_len = shape[0] * desc.out_channels * out_hw[0] * out_hw[1];
    let input = data(shape.iter().product(), seed);
    let weights = data(desc.weight_len(), seed + 1);
    let bias = desc.has_bias.then(|| data(desc.out_channels, seed + 2));
    let residual = desc.residual.then(|| data(out_len, seed + 3));
    let conv = Conv2d::new(ctx(), desc.clone(), &weights, bias.as_deref()).unwrap();
    let got = conv.run(&input, shape, residual.as_deref()).unwrap();
    let want =
        reference::conv2d_f64(desc, &input, shape, &weights, bias.as_deref(), residual.as_deref()).unwrap();
    let err = reference::max_rel_error(&got, &want);
    (got, err)
}

/// A STORAGE | COPY_SRC | COPY_DST buffer of `len` f32 values, filled with `values` if given.
pub fn gpu_buffer(len: usize, values: Option<&[f32]>) -> wgpu::Buffer {
    let buffer = ctx().device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (len * 4) as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    if let Some(v) = values {
        ctx().queue().write_buffer(&buffer, 0, bytemuck::cast_slice(v));
    }
    buffer
}

/// Records with `record` into a fresh encoder, submits, waits, and returns `output`'s values.
pub fn encode_and_read(record: impl FnOnce(&mut wgpu::CommandEncoder), output: &wgpu::Buffer) -> Vec<f32> {
    let device = ctx().device();
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: output.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    record(&mut enc);
    enc.copy_buffer_to_buffer(output, 0, &readback, 0, None);
    ctx().queue().submit([enc.finish()]);
    readback.map_async(wgpu::MapMode::Read, .., |r| r.expect("mapping the readback buffer"));
    ctx().wait().unwrap();
    let view = readback.get_mapped_range(..).unwrap();
    bytemuck::pod_collect_to_vec(&view)
}

/// `x`, logically `[n, c, h, w]` in NCHW order, rearranged into NHWC.
pub fn nchw_to_nhwc<T: Copy>(x: &[T], [n, c, h, w]: [usize; 4]) -> Vec<T> {
    let plane = h * w;
    (0..n * plane * c).map(|i| x[(i / (plane * c) * c + i % c) * plane + i / c % plane]).collect()
}

/// Weights `[k][cg][kh][kw]` (OIHW) rearranged into HWIO `[kh][kw][cg][k]`.
pub fn oihw_to_hwio(w: &[f32], [k, cg, kh, kw]: [usize; 4]) -> Vec<f32> {
    let taps = kh * kw;
    (0..taps * cg * k).map(|i| w[(i % k * cg + i / k % cg) * taps + i / (cg * k)]).collect()
}
