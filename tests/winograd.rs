//! Winograd and direct paths on the GPU against the f64 CPU reference, over a shape matrix.

mod common;
use common::{check, ctx, Tensors};
use wgpu_winograd::reference::{max_rel_error, tolerance};
use wgpu_winograd::{
    Algo, Choice, Conv2dDesc, DType, Engine, GemmBlock, Product, TileLayout, WinogradKernels,
};

/// (batch, in channels, out channels, h, w, padding, bias)
const SHAPES: &[(usize, usize, usize, usize, usize, usize, bool)] = &[
    (1, 1, 1, 1, 1, 1, false),
    (1, 3, 4, 2, 3, 1, true),
    (1, 5, 3, 5, 97, 1, false),
    (2, 3, 5, 7, 13, 2, true),
    (1, 17, 9, 11, 11, 0, true),
    (3, 33, 17, 9, 14, 1, false),
    (4, 5, 33, 6, 6, 2, true),
    (1, 64, 64, 16, 16, 1, true),
    (2, 16, 16, 24, 24, 1, false),
    (1, 256, 32, 8, 8, 1, true),
    (1, 32, 256, 10, 7, 0, false),
    (2, 1, 7, 19, 23, 2, true),
    (1, 3, 3, 5, 5, 0, false),
    (1, 8, 8, 3, 3, 0, true),
    (3, 4, 6, 13, 4, 1, true),
];

fn desc(c: usize, k: usize, pad: usize, bias: bool) -> Conv2dDesc {
    Conv2dDesc { has_bias: bias, ..Conv2dDesc::new(c, k, 3, pad) }
}

/// The reference tolerance for the plan `d` takes on `shape`.
fn tol(d: &Conv2dDesc, shape: [usize; 4]) -> f64 {
    let t = Tensors::new(d, shape, 0);
    common::tolerance(&t.conv(d), shape)
}

#[test]
fn winograd_f4_both_layouts_match_reference_and_each_other() {
    for (i, &(n, c, k, h, w, pad, bias)) in SHAPES.iter().enumerate() {
        if h + 2 * pad < 3 || w + 2 * pad < 3 {
            continue;
        }
        let shape = [n, c, h, w];
        let mut d = Conv2dDesc { algo: Some(Algo::Winograd), tile: Some(4), ..desc(c, k, pad, bias) };
        d.layout = Some(TileLayout::R16_6_6);
        let (a, err_a) = check(&d, shape, i as u64);
        d.layout = Some(TileLayout::R6_6_16);
        let (b, err_b) = check(&d, shape, i as u64);
        let tol = tol(&d, shape);
        assert!(err_a <= tol && err_b <= tol, "shape {:?}: errors {err_a:e} {err_b:e}", SHAPES[i]);
        assert!(common::bits(&a) == common::bits(&b), "layouts differ at {:?}", SHAPES[i]);
    }
}

#[test]
fn direct_matches_reference() {
    for (i, &(n, c, k, h, w, pad, bias)) in SHAPES.iter().enumerate() {
        if h + 2 * pad < 3 || w + 2 * pad < 3 {
            continue;
        }
        let d = Conv2dDesc { algo: Some(Algo::Direct), ..desc(c, k, pad, bias) };
        let (_, err) = check(&d, [n, c, h, w], 100 + i as u64);
        assert!(err <= tol(&d, [n, c, h, w]), "shape {:?}: error {err:e}", SHAPES[i]);
    }
}

#[test]
fn every_product_block_matches_reference() {
    for (i, block) in GemmBlock::CATALOGUE.into_iter().enumerate() {
        for &(n, c, k, h, w) in &[(2, 19, 70, 13, 11), (1, 5, 3, 6, 6), (1, 33, 130, 30, 30)] {
            let d = Conv2dDesc {
                algo: Some(Algo::Winograd),
                product: Some(Product::Engine(Engine::Registers(block))),
                ..desc(c, k, 1, true)
            };
            let shape = [n, c, h, w];
            let t = Tensors::new(&d, shape, 50 + i as u64);
            let conv = t.conv(&d);
            let plan = conv.plan(shape).unwrap();
            assert!(
                matches!(plan.path.choice(), Some(Choice::Winograd { kernels: WinogradKernels::Separate(Engine::Registers(b)), .. }) if b == block),
                "{block} on {shape:?} planned {plan}"
            );
            let err = max_rel_error(&t.run(&conv, shape), &t.reference(&d, shape));
            assert!(err <= tolerance(DType::F32, &plan), "{block} on {shape:?}: error {err:e}");
        }
    }
}

/// With a 1 MiB binding limit, batches are split into chunks and single images into bands
/// of tile rows; both must still match the reference.
#[test]
fn work_past_the_binding_limit_is_split_and_correct() {
    let ctx = common::limited_ctx(
        1 << 20,
        ctx().limits().max_buffer_size,
        ctx().limits().max_compute_workgroups_per_dimension,
    );
    for (shape, algo) in [
        ([4, 16, 48, 48], Algo::Winograd),
        ([2, 16, 200, 60], Algo::Winograd),
        ([3, 16, 90, 90], Algo::Direct),
    ] {
        // The separate kernels, whose Winograd-domain buffers are what outgrows the binding.
        let product = (algo == Algo::Winograd).then_some(Product::Separate);
        let d = Conv2dDesc { algo: Some(algo), product, ..desc(16, 16, 1, true) };
        let t = Tensors::new(&d, shape, 1);
        let conv = t.conv_on(&ctx, &d).unwrap();
        let plan = conv.plan(shape).unwrap();
        assert!(plan.pieces().len() > 1, "{shape:?} was not split: {plan}");
        let err = max_rel_error(&t.run(&conv, shape), &t.reference(&d, shape));
        assert!(err <= tolerance(DType::F32, &plan), "{shape:?} {plan}: error {err:e}");
    }
}
