//! `wino bench --grad input|weight`: the gradients of a conv2d suite's layers, an `InputGrad`
//! (dx) or a `WeightGrad` (dw) of the layer's forward descriptor, timed through their
//! `benchmark` like a convolution and recorded in the same `Record`, marked with the gradient.

use crate::bench::{error_data, layer_weights, measure, run_as, Ran, Record, Warmer};
use crate::{glue, lib, BenchArgs, Fuse, Res, Wrt};
use wgpu_winograd::suites::Layer;
use wgpu_winograd::{reference, Context, Conv2dDesc, DType, Engine, InputGrad, Precision, WeightGrad};

/// Times the `grad` gradient of one forward layer (every conv2d layer has both).
pub fn bench_grad(ctx: &Context, warmer: &Warmer, layer: &Layer, grad: Wrt, a: &BenchArgs) -> Res<Record> {
    let desc = glue::layer_desc(layer, None, None, Fuse::Auto, a.dtype, a.precision);
    let x_shape = layer.input_shape();
    let dy_shape = lib(desc.output_shape(x_shape))?;
    let one = |[_, c, h, w]: [usize; 4]| [1, c, h, w];
    match grad {
        Wrt::Input => {
            let weights = layer_weights(&desc, layer)?;
            let op = lib(InputGrad::new(ctx, &desc, &weights))?;
            let plan = lib(op.plan(dy_shape, x_shape))?;
            let timed = measure(warmer, a.iters, |iters| op.benchmark(dy_shape, x_shape, iters))?;
            let max_error = match a.error {
                true => Some(input_error(&op, &weights, one(dy_shape), one(x_shape))?),
                false => None,
            };
            Ok(Record::new(layer, a, crate::bench_up::ran(&plan, None), timed, max_error))
        }
        Wrt::Weight => {
            let op = lib(WeightGrad::new(ctx, &desc))?;
            let plan = lib(op.plan(x_shape))?;
            let timed = measure(warmer, a.iters, |iters| op.benchmark(x_shape, iters))?;
            let max_error = match a.error {
                true => Some(weight_error(&op, one(dy_shape), one(x_shape))?),
                false => None,
            };
            // WeightGrad has no plan note: say where `high` kept the f32 units.
            let on_f32_units = matches!(plan.engine, Engine::Registers(_));
            let precision_note = (a.precision == Precision::High && on_f32_units).then(|| {
                "precision: high requested, this weight gradient ran on the f32 units (WeightGrad takes the \
                 tensor cores only where the adapter has cooperative matrices and they win on the shape)"
                    .to_string()
            });
            let ran = Ran {
                algo: format!("gemm split-K {}", plan.splits),
                requested: None,
                product: Some(plan.engine.to_string()),
                precision_note,
            };
            Ok(Record::new(layer, a, ran, timed, max_error))
        }
    }
}

/// dx at batch 1 from pseudo-random dy against the f64 input gradient.
fn input_error(op: &InputGrad, weights: &[f32], dy_shape: [usize; 4], x_shape: [usize; 4]) -> Res<f64> {
    let dtype = op.forward().dtype;
    let dy = error_data(dy_shape.iter().product(), 17, dtype);
    let got = run_as(dtype, &dy, |dy| op.run(dy, dy_shape, x_shape), |dy| op.run(dy, dy_shape, x_shape))?;
    let want = lib(reference::conv2d_input_grad_f64(op.forward(), &dy, weights, x_shape))?;
    Ok(reference::max_rel_error(&got, &want))
}

/// dw at batch 1 from pseudo-random x and dy against the f64 weight gradient.
fn weight_error(op: &WeightGrad, dy_shape: [usize; 4], x_shape: [usize; 4]) -> Res<f64> {
    let desc: &Conv2dDesc = op.desc();
    let x = error_data(x_shape.iter().product(), 17, desc.dtype);
    let dy = error_data(dy_shape.iter().product(), 19, desc.dtype);
    let half = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
    let got = match desc.dtype {
        DType::F32 => lib(op.run(&x, x_shape, &dy))?,
        DType::F16 => lib(op.run(&half(&x), x_shape, &half(&dy)))?,
    };
    let want = lib(reference::conv2d_weight_grad_f64(desc, &x, x_shape, &dy))?;
    Ok(reference::max_rel_error(&got, &want))
}
