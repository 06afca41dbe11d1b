//! A VGG-style block used the way a framework would use the library: four convolutions
//! (3×3 Winograd layers with ReLU, one stride-2 layer on the direct path, and a 3×3 layer with
//! a fused residual add) recorded into ONE command encoder on caller-owned buffers, with no
//! host round trip between layers, then checked against the CPU reference layer by layer.
//!
//! `cargo run --release --example vgg_block`

use std::time::Instant;
use wgpu_winograd::reference::{self, pseudo_random};
use wgpu_winograd::{Activation, Context, Conv2d, Conv2dDesc, Error};

/// One layer: its descriptor and weights, and the GPU convolution built from them.
struct Layer {
    desc: Conv2dDesc,
    weights: Vec<f32>,
    bias: Vec<f32>,
    conv: Conv2d,
}

fn layer(ctx: &Context, desc: Conv2dDesc, seed: u32) -> Result<Layer, Error> {
    let scale = 1.0 / ((desc.in_channels * 9) as f32).sqrt();
    let weights: Vec<f32> = pseudo_random(desc.weight_len().expect("a small descriptor"), seed as u64)
        .iter()
        .map(|w| w * scale)
        .collect();
    let bias = pseudo_random(desc.out_channels, seed as u64 + 1);
    let conv = Conv2d::new(ctx, desc.clone(), &weights, Some(&bias))?;
    Ok(Layer { desc, weights, bias, conv })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::init();
    let ctx = Context::new()?;
    println!("adapter: {}", ctx.adapter_info().name);
    let relu = |c_in, c_out| Conv2dDesc {
        has_bias: true,
        activation: Activation::Relu,
        ..Conv2dDesc::new(c_in, c_out, 3, 1)
    };
    let layers = [
        layer(&ctx, relu(3, 32), 1)?,
        layer(&ctx, relu(32, 32), 2)?,
        layer(&ctx, Conv2dDesc { stride: [2, 2], ..relu(32, 64) }, 3)?,
        layer(&ctx, Conv2dDesc { residual: true, ..relu(64, 64) }, 4)?,
    ];
    let input_shape = [2, 3, 64, 64];
    let input = pseudo_random(input_shape.iter().product(), 9);

    // Shapes flow layer to layer; the last layer adds its own input as the residual.
    let mut shapes = vec![input_shape];
    for l in &layers {
        let out = l.conv.output_shape(*shapes.last().unwrap())?;
        println!(
            "{:?} -> {:?} via {:?}",
            shapes.last().unwrap(),
            out,
            l.conv.plan(*shapes.last().unwrap())?.path
        );
        shapes.push(out);
    }
    let device = ctx.device();
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC;
    let buffers: Vec<wgpu::Buffer> = shapes
        .iter()
        .map(|s| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: None,
                size: (s.iter().product::<usize>() * 4) as u64,
                usage,
                mapped_at_creation: false,
            })
        })
        .collect();
    ctx.queue().write_buffer(&buffers[0], 0, bytemuck::cast_slice(&input));
    let last = shapes.last().unwrap();
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (last.iter().product::<usize>() * 4) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    let start = Instant::now();
    let mut encoder = device.create_command_encoder(&Default::default());
    for (i, l) in layers.iter().enumerate() {
        let residual = l.desc.residual.then(|| &buffers[i]);
        l.conv.encode(&mut encoder, shapes[i], &buffers[i], &buffers[i + 1], residual)?;
    }
    encoder.copy_buffer_to_buffer(&buffers[layers.len()], 0, &readback, 0, None);
    ctx.queue().submit([encoder.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    readback.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r).unwrap_or(()));
    ctx.wait()?;
    rx.recv()??;
    let got: Vec<f32> = bytemuck::pod_collect_to_vec(&readback.get_mapped_range(..)?);
    eprintln!(
        "time: {:.2} ms for the whole block (one submit, first call includes compilation)",
        start.elapsed().as_secs_f64() * 1e3
    );

    // The reference runs layer by layer in f64, each layer fed the previous f64 output.
    let mut x = input;
    let mut want = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let residual = l.desc.residual.then(|| x.clone());
        want = reference::conv2d_f64(&l.desc, &x, shapes[i], &l.weights, Some(&l.bias), residual.as_deref())?;
        x = want.iter().map(|&v| v as f32).collect();
    }
    let err = reference::max_rel_error(&got, &want);
    println!("max relative error against the CPU reference: {err:.2e}");
    if err > 1e-4 {
        return Err(format!("error {err:e} exceeds 1e-4").into());
    }
    Ok(())
}
