//! f16 activations packed in pairs into `u32` words (`unpack2x16float`/`pack2x16float`), the
//! storage for adapters without SHADER_F16: forced on this adapter through
//! `ContextOptions::packed_f16`, every kernel family must give the same bits as the native f16
//! kernels on the same data, and stay within the f16 tolerance of the f64 reference. On an
//! adapter without SHADER_F16 (GL) both contexts are packed, and the reference check is the
//! one that says f16 works there.

mod common;

use common::{bits, ctx, tolerance, Tensors};
use wgpu_winograd::reference::max_rel_error;
use wgpu_winograd::{
    Activation, Algo, Context, ContextOptions, Conv2dDesc, DType, DataFormat, Padding, Product,
};

/// A context on the shared one's adapter that stores f16 packed, with `limits` if given.
fn packed_ctx(limits: Option<wgpu::Limits>) -> Context {
    ctx();
    let ctx = Context::with_options(ContextOptions { limits, packed_f16: true })
        .expect("a context with packed f16");
    assert!(ctx.packed_f16());
    ctx
}

/// An f16 convolution with bias, residual and SiLU: every load and store kind of the epilogue.
fn base(c: usize, k: usize, kernel: usize, pad: usize) -> Conv2dDesc {
    Conv2dDesc {
        dtype: DType::F16,
        has_bias: true,
        residual: true,
        activation: Activation::Silu,
        padding: Padding::uniform(pad),
        ..Conv2dDesc::new(c, k, kernel, 0)
    }
}

/// Every kernel family, with vector and scalar loads and stores: (name, descriptor, shapes).
fn cases() -> Vec<(&'static str, Conv2dDesc, Vec<[usize; 4]>)> {
    let wino = |m, product| Conv2dDesc {
        algo: Some(Algo::Winograd),
        tile: Some(m),
        product: Some(product),
        ..base(8, 12, 3, 1)
    };
    let dw = Conv2dDesc { groups: 8, algo: Some(Algo::Depthwise), ..base(8, 8, 3, 1) };
    let nhwc = |d: &Conv2dDesc| Conv2dDesc { data_format: DataFormat::Nhwc, ..d.clone() };
    // Width 16: F(4,3) vec4 loads and stores, GEMM and depthwise vec4 stores; odd sizes: the
    // scalar paths and an odd element count (the last word half used).
    let shapes = vec![[2, 8, 9, 16], [1, 8, 7, 9]];
    let mut v = vec![
        ("winograd F(4,3) separate", wino(4, Product::Separate), shapes.clone()),
        ("winograd F(2,3) separate", wino(2, Product::Separate), shapes.clone()),
        ("winograd F(2,3) fused", wino(2, Product::Fused), shapes.clone()),
        ("winograd F(4,3) fused", wino(4, Product::Fused), shapes.clone()),
        ("gemm window", Conv2dDesc { algo: Some(Algo::Gemm), ..base(8, 12, 3, 1) }, shapes.clone()),
        ("gemm pointwise", Conv2dDesc { algo: Some(Algo::Gemm), ..base(8, 12, 1, 0) }, shapes.clone()),
        ("depthwise", dw.clone(), shapes.clone()),
        (
            "depthwise stride 2",
            Conv2dDesc { stride: [2, 2], ..dw.clone() },
            vec![[1, 8, 9, 16], [1, 8, 8, 8]],
        ),
        ("direct", Conv2dDesc { algo: Some(Algo::Direct), ..base(8, 12, 3, 1) }, shapes.clone()),
    ];
    let nhwc_cases: Vec<_> = v.iter().map(|(name, d, s)| (*name, nhwc(d), s.clone())).collect();
    v.extend(nhwc_cases);
    v
}

/// Runs every case on `native` and `packed`: equal bits, and within tolerance of the reference.
fn compare(native: &Context, packed: &Context) {
    for (name, d, shapes) in cases() {
        for shape in shapes {
            let t = Tensors::new(&d, shape, 11).rounded_to_f16();
            let a = t.conv_on(native, &d).unwrap_or_else(|e| panic!("{name}: {e}"));
            let b = t.conv_on(packed, &d).unwrap_or_else(|e| panic!("{name} packed: {e}"));
            let plan = b.plan(shape).unwrap();
            let (want_native, got) = (t.run_f16(&a, shape), t.run_f16(&b, shape));
            let fmt = format!("{name} {:?} on {shape:?} via {plan}", d.data_format);
            assert_eq!(bits(&got), bits(&want_native), "{fmt}: packed and native f16 differ");
            let err = max_rel_error(&got, &t.reference(&d, shape));
            let tol = tolerance(&b, shape);
            assert!(err <= tol, "{fmt}: packed error {err:.3e} > {tol:e}");
        }
    }
}

#[test]
fn packed_f16_is_bit_identical_to_native_f16() {
    let native = ctx();
    if !native.features().contains(wgpu::Features::SHADER_F16) {
        eprintln!("no SHADER_F16 on this adapter: both sides are packed");
    }
    compare(native, &packed_ctx(None));
}

#[test]
fn packed_f16_epilogue_pass_is_bit_identical() {
    // Four storage buffers per stage: the epilogue runs as a pass of its own (in-place
    // single-element reads and writes of the packed output, residual reads).
    let limits = wgpu::Limits { max_storage_buffers_per_shader_stage: 4, ..ctx().limits() };
    let native = Context::with_options(ContextOptions { limits: Some(limits.clone()), ..Default::default() })
        .expect("lowered limits");
    compare(&native, &packed_ctx(Some(limits)));
}

#[test]
fn f16_works_without_native_f16() {
    // On an adapter without SHADER_F16 (GL) this is the default context; elsewhere, forced.
    let packed = packed_ctx(None);
    let d = Conv2dDesc { algo: None, ..base(16, 16, 3, 1) };
    let shape = [1, 16, 24, 24];
    let t = Tensors::new(&d, shape, 3).rounded_to_f16();
    let conv = t.conv_on(&packed, &d).expect("f16 without native f16 is accepted");
    let err = max_rel_error(&t.run_f16(&conv, shape), &t.reference(&d, shape));
    assert!(err <= tolerance(&conv, shape), "error {err:.3e}");
}
