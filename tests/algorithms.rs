//! The implicit-GEMM and depthwise paths (issue #10), forced with `algo`, against the f64
//! reference within `reference::tolerance`: kernel sizes, strides, dilations, asymmetric padding,
//! groups, channel multipliers, NCHW and NHWC, f32 and f16, every epilogue, edge sizes, forced
//! product blocks, refusals, and batches split under lowered device limits; and Winograd for
//! grouped convolutions.
//!
//! Table-driven: each test runs all its cases and fails once, naming every failing case.

mod common;
use common::{ctx, limited_ctx, Tensors};
use wgpu_winograd::reference::{max_rel_error, tolerance};
use wgpu_winograd::{
    Activation, Algo, Choice, Context, Conv2dDesc, DType, DataFormat, Engine, Error, GemmBlock, Padding,
    Product, TileLayout, WeightFormat,
};

/// One convolution on one input shape.
struct Case {
    name: String,
    desc: Conv2dDesc,
    shape: [usize; 4],
}

fn case(name: impl Into<String>, desc: Conv2dDesc, shape: [usize; 4]) -> Case {
    Case { name: name.into(), desc, shape }
}

fn pad(top: usize, bottom: usize, left: usize, right: usize) -> Padding {
    Padding { top, bottom, left, right }
}

fn p(v: usize) -> Padding {
    Padding::uniform(v)
}

/// A forced implicit-GEMM `c → k` convolution with a bias.
fn gemm(c: usize, k: usize, kernel: [usize; 2], padding: Padding) -> Conv2dDesc {
    Conv2dDesc { algo: Some(Algo::Gemm), kernel, padding, has_bias: true, ..Conv2dDesc::new(c, k, 1, 0) }
}

/// A forced depthwise convolution on `c` channels with channel multiplier `mult`, with a bias.
fn dw(c: usize, mult: usize, kernel: [usize; 2], padding: Padding) -> Conv2dDesc {
    Conv2dDesc { groups: c, algo: Some(Algo::Depthwise), ..gemm(c, c * mult, kernel, padding) }
}

fn nhwc(d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { data_format: DataFormat::Nhwc, ..d }
}

fn f16(d: Conv2dDesc) -> Conv2dDesc {
    Conv2dDesc { dtype: DType::F16, ..d }
}

fn epilogue(d: Conv2dDesc, has_bias: bool, residual: bool, activation: Activation) -> Conv2dDesc {
    Conv2dDesc { has_bias, residual, activation, ..d }
}

/// Runs one case on `ctx` (f16 host data where the dtype is f16, against the reference on the
/// f16-rounded data); checks that the plan takes the forced algorithm (and block) and that the
/// result is within the plan's tolerance. Returns a one-line summary, or why it failed.
fn run_case(ctx: &Context, c: &Case, seed: u64) -> Result<String, String> {
    let (d, shape) = (&c.desc, c.shape);
    let mut t = Tensors::new(d, shape, seed);
    if d.dtype == DType::F16 {
        t = t.rounded_to_f16();
    }
    let conv = t.conv_on(ctx, d).map_err(|e| format!("Conv2d::new: {e}"))?;
    let plan = conv.plan(shape).map_err(|e| format!("plan: {e}"))?;
    if let Some(algo) = d.algo {
        if plan.path.algo() != algo {
            return Err(format!("forced {algo} but planned {plan}"));
        }
    }
    if let Some(Product::Engine(Engine::Registers(block))) = d.product {
        if plan.path.choice() != Some(Choice::Gemm(Engine::Registers(block))) {
            return Err(format!("forced block {block} but planned {plan}"));
        }
    }
    let got: Vec<f32> = if d.dtype == DType::F16 {
        let r = t.r.as_deref().map(common::to_f16);
        let out = conv.run(&common::to_f16(&t.x), shape, r.as_deref()).map_err(|e| format!("run: {e}"))?;
        out.into_iter().map(f32::from).collect()
    } else {
        conv.run(&t.x, shape, t.r.as_deref()).map_err(|e| format!("run: {e}"))?
    };
    let err = max_rel_error(&got, &t.reference(d, shape));
    let tol = tolerance(d.dtype, &plan);
    if err <= tol {
        Ok(format!("{plan}: error {err:.2e}"))
    } else {
        Err(format!("{plan}: max relative error {err:.3e} > {tol:e}"))
    }
}

/// Runs every case; fails naming each failing case with its descriptor and shape.
fn run_table(ctx: &Context, what: &str, cases: &[Case]) {
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        match run_case(ctx, c, 1000 + 10 * i as u64) {
            Ok(summary) => eprintln!("{what} '{}' on {:?}: {summary}", c.name, c.shape),
            Err(why) => failures.push(format!("'{}' on {:?}: {why}\n    {:?}", c.name, c.shape, c.desc)),
        }
    }
    assert!(
        failures.is_empty(),
        "{what}: {} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn gemm_matches_reference() {
    use Activation::{Relu, Relu6, Silu};
    let pw = gemm(16, 24, [1, 1], p(0));
    let c3 = gemm(8, 12, [3, 3], p(1));
    let cases = [
        // The 1×1 stride-1 unpadded case is a plain GEMM: vec4 gathers and stores where NCHW
        // images have a multiple of 4 pixels (8×8), element access where they do not (7×7).
        case("1×1 pointwise, 64 pixels", pw.clone(), [2, 16, 8, 8]),
        case("1×1 pointwise, 49 pixels", pw.clone(), [2, 16, 7, 7]),
        case("1×1 pointwise NHWC", nhwc(pw.clone()), [2, 16, 8, 8]),
        case("1×1 pointwise f16, 64 pixels", f16(pw.clone()), [2, 16, 8, 8]),
        case("1×1 pointwise f16, 49 pixels", f16(pw.clone()), [1, 16, 7, 7]),
        case("1×1 pointwise, residual + SiLU", epilogue(pw.clone(), true, true, Silu), [2, 16, 8, 8]),
        case(
            "1×1 pointwise, 49 pixels, residual + ReLU6",
            epilogue(pw.clone(), false, true, Relu6),
            [1, 16, 7, 7],
        ),
        case("1×1 padded", gemm(8, 12, [1, 1], p(1)), [1, 8, 5, 6]),
        case("1×1 stride 2", Conv2dDesc { stride: [2, 2], ..pw.clone() }, [2, 16, 9, 9]),
        case("1×1 on 1×1 images", pw.clone(), [3, 16, 1, 1]),
        // Kernel sizes, square and not.
        case("3×3", c3.clone(), [2, 8, 13, 13]),
        case("3×3 width 7", c3.clone(), [1, 8, 6, 7]),
        case("3×3 on 1×1 images", c3.clone(), [3, 8, 1, 1]),
        case("5×5", gemm(8, 12, [5, 5], p(2)), [1, 8, 11, 13]),
        case("7×7", gemm(3, 16, [7, 7], p(3)), [1, 3, 14, 13]),
        case("1×7", gemm(8, 12, [1, 7], pad(0, 0, 3, 3)), [2, 8, 9, 13]),
        case("7×1", gemm(8, 12, [7, 1], pad(3, 3, 0, 0)), [1, 8, 13, 7]),
        case("3×2 unpadded", gemm(8, 12, [3, 2], p(0)), [1, 8, 7, 13]),
        // Strides.
        case("3×3 stride 2", Conv2dDesc { stride: [2, 2], ..c3.clone() }, [2, 8, 13, 13]),
        case("3×3 stride 3", Conv2dDesc { stride: [3, 3], ..c3.clone() }, [1, 8, 14, 13]),
        case("5×5 stride (3, 2)", Conv2dDesc { stride: [3, 2], ..gemm(8, 12, [5, 5], p(2)) }, [1, 8, 16, 13]),
        case("7×7 stride 2", Conv2dDesc { stride: [2, 2], ..gemm(3, 16, [7, 7], p(3)) }, [2, 3, 17, 16]),
        // Dilations.
        case("3×3 dilation 2", Conv2dDesc { dilation: [2, 2], ..gemm(8, 12, [3, 3], p(2)) }, [1, 8, 11, 13]),
        case("3×3 dilation 3", Conv2dDesc { dilation: [3, 3], ..gemm(8, 12, [3, 3], p(3)) }, [1, 8, 12, 13]),
        case(
            "3×3 dilation (1, 2)",
            Conv2dDesc { dilation: [1, 2], ..gemm(8, 12, [3, 3], pad(1, 1, 2, 2)) },
            [2, 8, 9, 7],
        ),
        case(
            "3×3 dilation 2 stride 2",
            Conv2dDesc { dilation: [2, 2], stride: [2, 2], ..gemm(8, 12, [3, 3], p(2)) },
            [1, 8, 13, 13],
        ),
        // Asymmetric padding.
        case("3×3 padding (2, 0, 1, 3)", gemm(8, 12, [3, 3], pad(2, 0, 1, 3)), [2, 8, 9, 13]),
        case(
            "3×3 stride 2 padding (0, 2, 1, 0)",
            Conv2dDesc { stride: [2, 2], ..gemm(5, 16, [3, 3], pad(0, 2, 1, 0)) },
            [1, 5, 12, 13],
        ),
        // Groups.
        case("3×3 groups 2", Conv2dDesc { groups: 2, ..c3.clone() }, [2, 8, 9, 13]),
        case("3×3 groups 4", Conv2dDesc { groups: 4, ..gemm(8, 16, [3, 3], p(1)) }, [1, 8, 9, 7]),
        case("1×1 groups 4", Conv2dDesc { groups: 4, ..gemm(16, 8, [1, 1], p(0)) }, [2, 16, 8, 8]),
        case(
            "NHWC 3×3 stride 2 groups 2",
            nhwc(Conv2dDesc { stride: [2, 2], groups: 2, ..c3.clone() }),
            [2, 8, 13, 13],
        ),
        // Formats and f16.
        case("NHWC 3×3", nhwc(c3.clone()), [2, 8, 9, 13]),
        case(
            "NHWC HWIO 5×5",
            nhwc(Conv2dDesc { weight_format: WeightFormat::Hwio, ..gemm(8, 12, [5, 5], p(2)) }),
            [1, 8, 9, 7],
        ),
        case(
            "HWIO 3×3 groups 2",
            Conv2dDesc { weight_format: WeightFormat::Hwio, groups: 2, ..c3.clone() },
            [1, 8, 9, 7],
        ),
        case("f16 3×3", f16(c3.clone()), [2, 8, 9, 13]),
        case("f16 3×3 width 12", f16(c3.clone()), [1, 8, 6, 12]),
        case("f16 NHWC 3×3 stride 2", f16(nhwc(Conv2dDesc { stride: [2, 2], ..c3.clone() })), [1, 8, 13, 13]),
        // Channel counts.
        case("1 → 8 channels", gemm(1, 8, [3, 3], p(1)), [2, 1, 9, 9]),
        case("3 → 33 channels", gemm(3, 33, [3, 3], p(1)), [1, 3, 7, 13]),
        case("33 → 3 channels", gemm(33, 3, [3, 3], p(1)), [1, 33, 6, 7]),
        case("33 → 33 channels 1×1", gemm(33, 33, [1, 1], p(0)), [2, 33, 7, 7]),
        case("1 → 1 channel", gemm(1, 1, [3, 3], p(1)), [1, 1, 5, 7]),
        // Epilogues.
        case("no bias", Conv2dDesc { has_bias: false, ..c3.clone() }, [1, 8, 9, 13]),
        case("bias + ReLU", epilogue(c3.clone(), true, false, Relu), [2, 8, 9, 13]),
        case("bias + ReLU6", epilogue(c3.clone(), true, false, Relu6), [2, 8, 9, 13]),
        case("bias + SiLU", epilogue(c3.clone(), true, false, Silu), [2, 8, 9, 13]),
        case("residual", epilogue(c3.clone(), false, true, Activation::None), [2, 8, 9, 13]),
        case("bias + residual + SiLU", epilogue(c3.clone(), true, true, Silu), [2, 8, 9, 12]),
        case("NHWC bias + residual + ReLU", nhwc(epilogue(c3.clone(), true, true, Relu)), [2, 8, 9, 13]),
        case("f16 bias + residual + SiLU", f16(epilogue(c3.clone(), true, true, Silu)), [2, 8, 9, 13]),
        // Batches.
        case("batch 5", c3.clone(), [5, 8, 6, 7]),
        case("batch 4 stride 2", Conv2dDesc { stride: [2, 2], ..c3.clone() }, [4, 8, 9, 9]),
        // Forced product blocks.
        case(
            "block K16, 3×3",
            Conv2dDesc { product: Some(Product::Engine(Engine::Registers(GemmBlock::K16))), ..c3.clone() },
            [2, 8, 9, 13],
        ),
        case(
            "block K16, 1×1 pointwise",
            Conv2dDesc { product: Some(Product::Engine(Engine::Registers(GemmBlock::K16))), ..pw.clone() },
            [1, 16, 7, 7],
        ),
        case(
            "block B64, 1×1 pointwise",
            Conv2dDesc { product: Some(Product::Engine(Engine::Registers(GemmBlock::B64))), ..pw.clone() },
            [2, 16, 8, 8],
        ),
        case(
            "block B64, 3×3 groups 2 f16",
            f16(Conv2dDesc {
                groups: 2,
                product: Some(Product::Engine(Engine::Registers(GemmBlock::B64))),
                ..c3.clone()
            }),
            [1, 8, 9, 13],
        ),
        case(
            "block B64, 1×1 on 70 channels",
            Conv2dDesc {
                product: Some(Product::Engine(Engine::Registers(GemmBlock::B64))),
                ..gemm(24, 70, [1, 1], p(0))
            },
            [1, 24, 5, 7],
        ),
    ];
    run_table(ctx(), "gemm", &cases);
}

#[test]
fn depthwise_matches_reference() {
    use Activation::{Relu, Relu6, Silu};
    let d3 = dw(8, 1, [3, 3], p(1));
    let d5 = dw(8, 1, [5, 5], p(2));
    let s2 = |d: Conv2dDesc| Conv2dDesc { stride: [2, 2], ..d };
    let cases = [
        // Output widths a multiple of 4 (NCHW: vec4 stores) and not.
        case("3×3, width 12", d3.clone(), [2, 8, 10, 12]),
        case("3×3, width 13", d3.clone(), [2, 8, 9, 13]),
        case("3×3, width 7", d3.clone(), [1, 8, 7, 7]),
        case("5×5, width 12", d5.clone(), [1, 8, 11, 12]),
        case("5×5, width 13", d5.clone(), [1, 8, 9, 13]),
        case("3×3 stride 2, output width 7", s2(d3.clone()), [2, 8, 13, 13]),
        case("3×3 stride 2, output width 8", s2(d3.clone()), [1, 8, 16, 16]),
        case("5×5 stride 2", s2(d5.clone()), [1, 8, 15, 17]),
        case("3×3 dilation 2", Conv2dDesc { dilation: [2, 2], ..dw(8, 1, [3, 3], p(2)) }, [2, 8, 11, 12]),
        case(
            "5×5 dilation 2 stride 2",
            Conv2dDesc { dilation: [2, 2], ..s2(dw(8, 1, [5, 5], p(4))) },
            [1, 8, 13, 15],
        ),
        case("3×3 padding (2, 0, 1, 3)", dw(8, 1, [3, 3], pad(2, 0, 1, 3)), [1, 8, 9, 13]),
        case("3×3 unpadded", dw(8, 1, [3, 3], p(0)), [1, 8, 9, 14]),
        // Channel multiplier 2: out_channels = 2 × in_channels, groups = in_channels.
        case("multiplier 2, 3×3", dw(6, 2, [3, 3], p(1)), [2, 6, 9, 12]),
        case("multiplier 2, 5×5 stride 2", s2(dw(6, 2, [5, 5], p(2))), [1, 6, 13, 11]),
        case("multiplier 2 NHWC", nhwc(dw(6, 2, [3, 3], p(1))), [2, 6, 9, 13]),
        case("multiplier 3 f16", f16(dw(4, 3, [3, 3], p(1))), [1, 4, 9, 12]),
        // Formats and f16.
        case("NHWC 3×3", nhwc(d3.clone()), [2, 8, 9, 13]),
        case("NHWC 3×3 width 12", nhwc(d3.clone()), [1, 8, 9, 12]),
        case(
            "NHWC HWIO 5×5",
            nhwc(Conv2dDesc { weight_format: WeightFormat::Hwio, ..d5.clone() }),
            [1, 8, 9, 7],
        ),
        case("f16 3×3 width 12", f16(d3.clone()), [2, 8, 9, 12]),
        case("f16 3×3 width 13", f16(d3.clone()), [1, 8, 9, 13]),
        case("f16 NHWC 3×3 stride 2", f16(nhwc(s2(d3.clone()))), [1, 8, 13, 13]),
        // Epilogues, with element and vec4 stores.
        case("no bias", Conv2dDesc { has_bias: false, ..d3.clone() }, [1, 8, 9, 13]),
        case("bias + ReLU", epilogue(d3.clone(), true, false, Relu), [2, 8, 9, 13]),
        case("ReLU6", epilogue(d3.clone(), false, false, Relu6), [2, 8, 9, 12]),
        case("bias + SiLU", epilogue(d3.clone(), true, false, Silu), [1, 8, 9, 13]),
        case("bias + residual + SiLU, width 12", epilogue(d3.clone(), true, true, Silu), [2, 8, 9, 12]),
        case("residual + ReLU, width 13", epilogue(d3.clone(), false, true, Relu), [2, 8, 9, 13]),
        case("NHWC residual + ReLU6", nhwc(epilogue(d3.clone(), true, true, Relu6)), [1, 8, 9, 13]),
        case("f16 bias + residual + SiLU", f16(epilogue(d3.clone(), true, true, Silu)), [2, 8, 9, 12]),
        // Edge sizes and channel counts.
        case("1×1 images", d3.clone(), [3, 8, 1, 1]),
        case("2 channels", dw(2, 1, [3, 3], p(1)), [2, 2, 9, 13]),
        case("3 channels", dw(3, 1, [3, 3], p(1)), [1, 3, 9, 13]),
        case("33 channels", dw(33, 1, [3, 3], p(1)), [1, 33, 7, 7]),
        case("batch 5", d3.clone(), [5, 8, 6, 7]),
    ];
    run_table(ctx(), "depthwise", &cases);
}

/// Depthwise kernels that are not square (separable convolutions use 1×k and k×1), forced and
/// under automatic dispatch, which sends every depthwise convolution the kernel accepts to it.
#[test]
fn depthwise_non_square_kernels_match_reference() {
    let auto = |d: Conv2dDesc| Conv2dDesc { algo: None, ..d };
    let cases = [
        case("1×3", dw(8, 1, [1, 3], pad(0, 0, 1, 1)), [2, 8, 9, 13]),
        case("3×1", dw(8, 1, [3, 1], pad(1, 1, 0, 0)), [2, 8, 9, 12]),
        case(
            "1×7 stride 2",
            Conv2dDesc { stride: [2, 2], ..dw(8, 1, [1, 7], pad(0, 0, 3, 3)) },
            [1, 8, 9, 13],
        ),
        case("5×3 multiplier 2", dw(4, 2, [5, 3], p(1)), [1, 4, 9, 13]),
        case("automatic 3×1", auto(dw(8, 1, [3, 1], pad(1, 1, 0, 0))), [2, 8, 9, 12]),
        case("automatic 1×2, 2 channels", auto(dw(2, 2, [1, 2], p(0))), [1, 2, 5, 5]),
    ];
    run_table(ctx(), "non-square depthwise", &cases);
}

/// A forced algorithm that cannot run the convolution is a typed error with a one-line message,
/// from `Conv2d::new` where the descriptor alone decides it, else from `plan` and `run`.
#[test]
fn forced_algorithms_that_cannot_apply_are_refused() {
    let shape = [1, 8, 9, 9];
    let dense = Conv2dDesc::new(8, 8, 3, 1);
    let at_new = [
        (
            "depthwise on a dense conv",
            Conv2dDesc { algo: Some(Algo::Depthwise), ..dense.clone() },
            "InvalidDescriptor",
        ),
        (
            "depthwise with groups 2",
            Conv2dDesc { algo: Some(Algo::Depthwise), groups: 2, ..dense.clone() },
            "InvalidDescriptor",
        ),
        (
            "depthwise on 1 channel",
            Conv2dDesc { algo: Some(Algo::Depthwise), ..Conv2dDesc::new(1, 1, 3, 1) },
            "InvalidDescriptor",
        ),
        (
            "winograd with stride 2",
            Conv2dDesc { algo: Some(Algo::Winograd), stride: [2, 2], ..dense.clone() },
            "Unsupported",
        ),
        (
            "winograd with dilation 2",
            Conv2dDesc { algo: Some(Algo::Winograd), dilation: [2, 2], ..dense.clone() },
            "Unsupported",
        ),
        (
            "fused winograd with groups 8",
            Conv2dDesc { product: Some(Product::Fused), groups: 8, ..dense.clone() },
            "Unsupported",
        ),
        (
            "gemm with a fused product",
            Conv2dDesc { algo: Some(Algo::Gemm), product: Some(Product::Fused), ..dense.clone() },
            "InvalidDescriptor",
        ),
        (
            "depthwise with a product block",
            Conv2dDesc {
                algo: Some(Algo::Depthwise),
                groups: 8,
                product: Some(Product::Engine(Engine::Registers(GemmBlock::K16))),
                ..dense.clone()
            },
            "InvalidDescriptor",
        ),
    ];
    let mut failures = Vec::new();
    for (name, d, want) in at_new {
        let t = Tensors::new(&d, shape, 1);
        let got = match t.conv_on(ctx(), &d) {
            Ok(conv) => {
                Err(format!("Conv2d::new accepted it; plan: {:?}", conv.plan(shape).map(|p| p.to_string())))
            }
            Err(e) => Ok(e),
        };
        match got {
            Ok(e) if variant(&e) == want && !e.to_string().contains('\n') => {}
            Ok(e) => failures.push(format!("{name}: expected one-line {want}, got {e:?}")),
            Err(why) => failures.push(format!("{name}: {why}")),
        }
    }
    // The depthwise kernel compiles its window in and refuses one too wide: `plan` and `run`.
    let wide = Conv2dDesc { algo: Some(Algo::Depthwise), groups: 8, ..Conv2dDesc::new(8, 8, 9, 4) };
    let t = Tensors::new(&wide, shape, 2);
    match t.conv_on(ctx(), &wide) {
        Ok(conv) => {
            for (call, r) in
                [("plan", conv.plan(shape).map(|_| ())), ("run", conv.run(&t.x, shape, None).map(|_| ()))]
            {
                match r {
                    Err(e) if variant(&e) == "Unsupported" && !e.to_string().contains('\n') => {}
                    r => failures
                        .push(format!("9×9 depthwise {call}: expected one-line Unsupported, got {r:?}")),
                }
            }
        }
        Err(e) => failures.push(format!("9×9 depthwise: Conv2d::new refused a valid descriptor: {e}")),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn variant(e: &Error) -> &'static str {
    match e {
        Error::InvalidDescriptor(_) => "InvalidDescriptor",
        Error::Unsupported(_) => "Unsupported",
        Error::InvalidShape(_) => "InvalidShape",
        Error::TooLarge(_) => "TooLarge",
        _ => "other",
    }
}

/// Under a lowered binding limit (128 KiB) or grid limit (16 workgroups per dimension), GEMM and
/// depthwise convolutions over a batch are split into several passes and still match.
#[test]
fn gemm_and_depthwise_batches_are_split_under_lowered_limits() {
    let limits = ctx().limits();
    let binding = limited_ctx(128 << 10, limits.max_buffer_size, limits.max_compute_workgroups_per_dimension);
    let grid = limited_ctx(limits.max_storage_buffer_binding_size, limits.max_buffer_size, 16);
    let c3 = Conv2dDesc { activation: Activation::Relu, ..gemm(16, 16, [3, 3], p(1)) };
    let pw = Conv2dDesc { residual: true, ..gemm(16, 24, [1, 1], p(0)) };
    let d3 = dw(16, 1, [3, 3], p(1));
    for (limit, ctx) in [("128 KiB binding", &binding), ("16 workgroups per dimension", &grid)] {
        let cases = [
            case("gemm 3×3", c3.clone(), [6, 16, 32, 32]),
            case(
                "gemm 3×3 stride 2 NHWC",
                nhwc(Conv2dDesc { stride: [2, 2], ..c3.clone() }),
                [5, 16, 33, 31],
            ),
            case("gemm 1×1 pointwise + residual", pw.clone(), [6, 16, 32, 32]),
            case("gemm 1×1 f16", f16(pw.clone()), [9, 16, 32, 30]),
            case("depthwise 3×3", d3.clone(), [6, 16, 32, 32]),
            case(
                "depthwise 3×3 NHWC + residual",
                nhwc(Conv2dDesc { residual: true, ..d3.clone() }),
                [6, 16, 31, 33],
            ),
            case(
                "depthwise multiplier 2 stride 2",
                Conv2dDesc { stride: [2, 2], ..dw(8, 2, [5, 5], p(2)) },
                [7, 8, 64, 60],
            ),
            case("depthwise f16", f16(d3.clone()), [9, 16, 32, 32]),
        ];
        let mut failures = Vec::new();
        for (i, c) in cases.iter().enumerate() {
            let t = Tensors::new(&c.desc, c.shape, 0);
            let pieces = t
                .conv_on(ctx, &c.desc)
                .and_then(|conv| conv.plan(c.shape))
                .map(|p| (p.pieces().len(), p.to_string()));
            match pieces {
                Ok((n, _)) if n > 1 => {}
                Ok((_, plan)) => {
                    failures.push(format!("'{}' on {:?} was not split: {plan}", c.name, c.shape))
                }
                Err(e) => failures.push(format!("'{}' on {:?}: {e}", c.name, c.shape)),
            }
            match run_case(ctx, c, 2000 + i as u64) {
                Ok(summary) => eprintln!("{limit}: '{}' on {:?}: {summary}", c.name, c.shape),
                Err(why) => failures.push(format!("'{}' on {:?}: {why}", c.name, c.shape)),
            }
        }
        assert!(failures.is_empty(), "{limit}:\n{}", failures.join("\n"));
    }
}

/// Winograd for grouped convolutions (ResNeXt-style): one batched product per tile element and
/// group, forced, in every tile and both layouts, against the reference.
#[test]
fn grouped_winograd_matches_reference() {
    let grouped = |c: usize, k: usize, g: usize| Conv2dDesc { groups: g, ..Conv2dDesc::new(c, k, 3, 1) };
    let mut cases = Vec::new();
    for (m, layout) in [(2, TileLayout::R16_6_6), (4, TileLayout::R6_6_16), (6, TileLayout::R16_6_6)] {
        for (c, k, g) in [(32, 32, 8), (16, 32, 4), (12, 6, 3), (64, 64, 32)] {
            let desc = Conv2dDesc {
                algo: Some(Algo::Winograd),
                tile: Some(m),
                layout: Some(layout),
                has_bias: true,
                residual: true,
                activation: Activation::Relu,
                ..grouped(c, k, g)
            };
            cases.push((format!("F({m},3) {layout} {c}→{k} g{g}"), desc, [2, c, 9, 14]));
        }
    }
    let fiver = Conv2dDesc { algo: Some(Algo::Winograd), groups: 2, ..Conv2dDesc::new(8, 8, 5, 2) };
    cases.push(("F(2,5) g2".into(), fiver, [1, 8, 11, 10]));
    let nhwc = Conv2dDesc { algo: Some(Algo::Winograd), data_format: DataFormat::Nhwc, ..grouped(16, 16, 4) };
    cases.push(("F(2,3) g4 NHWC".into(), nhwc, [2, 16, 8, 8]));
    for (name, desc, shape) in cases {
        let (plan, err) = common::verify(ctx(), &desc, shape, 11).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(matches!(plan.path.choice(), Some(Choice::Winograd { .. })), "{name}: {plan}");
        let tol = tolerance(desc.dtype, &plan);
        assert!(err <= tol, "{name} ({plan}): error {err:.2e} > {tol:e}");
    }
    // The fused kernel takes one group only: refused with a typed error.
    let fused = Conv2dDesc { product: Some(Product::Fused), ..grouped(8, 8, 2) };
    assert!(common::verify(ctx(), &fused, [1, 8, 8, 8], 1).is_err());
}

/// 1×1 convolutions in NHWC read four channels of a pixel as one vec4 (channels per group a
/// multiple of 4) and transpose them into the product tile; the rest read element by element.
#[test]
fn nhwc_pointwise_matches_reference() {
    let pw = |c: usize, k: usize, g: usize| Conv2dDesc {
        algo: Some(Algo::Gemm),
        groups: g,
        data_format: DataFormat::Nhwc,
        has_bias: true,
        residual: true,
        activation: Activation::Silu,
        ..Conv2dDesc::new(c, k, 1, 0)
    };
    let mut cases = vec![
        ("C 16", pw(16, 24, 1), [2, 16, 7, 9]),
        ("C 64 → 96", pw(64, 96, 1), [3, 64, 5, 5]),
        ("C 33 (scalar)", pw(33, 8, 1), [1, 33, 6, 6]),
        ("groups 2, 8 per group", pw(16, 8, 2), [2, 16, 3, 7]),
        ("f16", Conv2dDesc { dtype: DType::F16, ..pw(32, 20, 1) }, [2, 32, 5, 6]),
    ];
    for block in [GemmBlock::K16, GemmBlock::B64_SHALLOW, GemmBlock::B64_DEEP, GemmBlock::NARROW] {
        cases.push((
            "forced block",
            Conv2dDesc { product: Some(Product::Engine(Engine::Registers(block))), ..pw(40, 36, 1) },
            [2, 40, 7, 7],
        ));
    }
    for (name, desc, shape) in cases {
        let (plan, err) = common::verify(ctx(), &desc, shape, 13).unwrap_or_else(|e| panic!("{name}: {e}"));
        let tol = tolerance(desc.dtype, &plan);
        assert!(err <= tol, "{name} ({plan}): error {err:.2e} > {tol:e}");
    }
}
