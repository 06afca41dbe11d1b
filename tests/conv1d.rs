//! Conv1d against the f64 reference: stride, dilation, padding and its modes, groups
//! (depthwise too), the epilogue, f16, NLC and WIO, caller buffers and typed errors.

mod common;

use common::{ctx, data, round_f16, to_f16};
use wgpu_winograd::reference::{conv1d_f64, max_rel_error, tolerance};
use wgpu_winograd::{
    Activation, Algo, Conv1d, Conv1dDesc, DType, DataFormat1d, Error, Padding1d, PaddingMode, WeightFormat1d,
};

fn check(d: &Conv1dDesc, shape: [usize; 3]) -> f64 {
    let f16 = d.dtype == DType::F16;
    let round = |v: Vec<f32>| if f16 { round_f16(&v) } else { v };
    let x = round(data(shape.iter().product(), 3));
    let w = data(d.weight_len().unwrap(), 4);
    let b = d.has_bias.then(|| data(d.out_channels, 5));
    let out = d.output_shape(shape).unwrap();
    let r = d.residual.then(|| round(data(out.iter().product(), 6)));
    let conv = Conv1d::new(ctx(), d.clone(), &w, b.as_deref()).unwrap();
    assert_eq!(conv.output_shape(shape).unwrap(), out);
    let want = conv1d_f64(d, &x, shape, &w, b.as_deref(), r.as_deref()).unwrap();
    let got: Vec<f32> = if f16 {
        let r = r.as_deref().map(to_f16);
        conv.run(&to_f16(&x), shape, r.as_deref()).unwrap().into_iter().map(f32::from).collect()
    } else {
        conv.run(&x, shape, r.as_deref()).unwrap()
    };
    let plan = conv.plan(shape).unwrap();
    let err = max_rel_error(&got, &want);
    assert!(err <= tolerance(d.dtype, &plan), "{d:?} on {shape:?} ({plan}): {err:.2e}");
    err
}

#[test]
fn strides_dilation_padding_and_kernels() {
    for (kernel, stride, dilation, pad) in
        [(3, 1, 1, 1), (5, 2, 1, 2), (1, 1, 1, 0), (4, 3, 2, 3), (7, 1, 3, 0), (2, 2, 1, 0)]
    {
        let d = Conv1dDesc { stride, dilation, ..Conv1dDesc::new(5, 6, kernel, pad) };
        check(&d, [2, 5, 23]);
    }
    let asym = Conv1dDesc { padding: Padding1d { left: 3, right: 0 }, ..Conv1dDesc::new(3, 2, 4, 0) };
    check(&asym, [1, 3, 9]);
    check(&Conv1dDesc::new(3, 2, 3, 0), [1, 3, 3]); // one output
}

#[test]
fn padding_modes() {
    for mode in [PaddingMode::Reflect, PaddingMode::Replicate, PaddingMode::Circular] {
        let d = Conv1dDesc { padding_mode: mode, stride: 2, ..Conv1dDesc::new(3, 4, 5, 2) };
        check(&d, [2, 3, 11]);
    }
}

#[test]
fn groups_and_depthwise() {
    check(&Conv1dDesc { groups: 2, ..Conv1dDesc::new(6, 4, 3, 1) }, [1, 6, 17]);
    check(&Conv1dDesc { groups: 6, ..Conv1dDesc::new(6, 6, 3, 1) }, [2, 6, 17]);
    check(&Conv1dDesc { groups: 3, stride: 2, ..Conv1dDesc::new(3, 6, 5, 2) }, [1, 3, 16]);
}

#[test]
fn epilogue_layouts_dtypes_and_algorithms() {
    for data_format in [DataFormat1d::Ncl, DataFormat1d::Nlc] {
        for dtype in [DType::F32, DType::F16] {
            let d = Conv1dDesc {
                has_bias: true,
                residual: true,
                activation: Activation::Silu,
                dtype,
                data_format,
                weight_format: WeightFormat1d::Wio,
                ..Conv1dDesc::new(5, 7, 3, 1)
            };
            check(&d, [2, 5, 13]);
        }
    }
    for algo in [Algo::Gemm, Algo::Direct] {
        check(&Conv1dDesc { algo: Some(algo), ..Conv1dDesc::new(4, 8, 3, 1) }, [1, 4, 40]);
    }
    let dw = Conv1dDesc { algo: Some(Algo::Depthwise), groups: 4, ..Conv1dDesc::new(4, 4, 3, 1) };
    check(&dw, [1, 4, 40]);
}

#[test]
fn empty_batch_encode_and_errors() {
    let d = Conv1dDesc::new(3, 2, 3, 1);
    let w = data(d.weight_len().unwrap(), 1);
    let conv = Conv1d::new(ctx(), d.clone(), &w, None).unwrap();
    assert!(conv.run::<f32>(&[], [0, 3, 8], None).unwrap().is_empty());
    let x = data(24, 2);
    let xb = common::tensor(ctx(), 24, Some(&x));
    let yb = common::tensor(ctx(), 16, None);
    let got = common::encode_and_read(|enc| conv.encode(enc, [1, 3, 8], &xb, &yb, None).unwrap(), &yb);
    assert!(max_rel_error(&got, &conv1d_f64(&d, &x, [1, 3, 8], &w, None, None).unwrap()) < 1e-5);
    assert!(matches!(Conv1d::new(ctx(), d.clone(), &w[1..], None).err(), Some(Error::InvalidShape(_))));
    let winograd = Conv1dDesc { algo: Some(Algo::Winograd), ..d.clone() };
    assert!(matches!(Conv1d::new(ctx(), winograd, &w, None).err(), Some(Error::Unsupported(_))));
    assert!(matches!(conv.run(&x, [1, 3, 7], None), Err(Error::InvalidShape(_))));
    assert!(matches!(conv.output_shape([1, 3, 0]), Err(Error::InvalidShape(_))));
    let reflect = Conv1dDesc { padding_mode: PaddingMode::Reflect, ..Conv1dDesc::new(3, 2, 3, 4) };
    assert!(matches!(reflect.output_shape([1, 3, 4]), Err(Error::InvalidShape(_))));
}
