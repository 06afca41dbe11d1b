//! Winograd and direct paths on the GPU against the f64 CPU reference, over a shape matrix.

mod common;
use common::check;
use wgpu_winograd::{Algo, Conv2dDesc, TileLayout};

const TOL: f64 = 1e-4;

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
    let mut d = Conv2dDesc::new(c, k, 3, pad);
    d.has_bias = bias;
    d
}

#[test]
fn winograd_f4_both_layouts_match_reference_and_each_other() {
    for (i, &(n, c, k, h, w, pad, bias)) in SHAPES.iter().enumerate() {
        if h + 2 * pad < 3 || w + 2 * pad < 3 {
            continue;
        }
        let mut d = desc(c, k, pad, bias);
        d.algo = Algo::Winograd;
        d.tile = Some(4);
        d.layout = TileLayout::R16_6_6;
        let (a, err_a) = check(&d, [n, c, h, w], i as u64);
        d.layout = TileLayout::R6_6_16;
        let (b, err_b) = check(&d, [n, c, h, w], i as u64);
        assert!(err_a <= TOL && err_b <= TOL, "shape {:?}: errors {err_a:e} {err_b:e}", SHAPES[i]);
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "layouts differ at {:?}",
            SHAPES[i]
        );
    }
}

#[test]
fn direct_matches_reference() {
    for (i, &(n, c, k, h, w, pad, bias)) in SHAPES.iter().enumerate() {
        if h + 2 * pad < 3 || w + 2 * pad < 3 {
            continue;
        }
        let mut d = desc(c, k, pad, bias);
        d.algo = Algo::Direct;
        let (_, err) = check(&d, [n, c, h, w], 100 + i as u64);
        assert!(err <= TOL, "shape {:?}: error {err:e}", SHAPES[i]);
    }
}

#[test]
fn every_product_block_matches_reference() {
    for (i, gemm) in wgpu_winograd::codegen::GemmTile::ALL.into_iter().enumerate() {
        for &(n, c, k, h, w) in &[(2, 19, 70, 13, 11), (1, 5, 3, 6, 6), (1, 33, 130, 30, 30)] {
            let mut d = desc(c, k, 1, true);
            d.algo = Algo::Winograd;
            d.gemm = Some(gemm);
            let (_, err) = check(&d, [n, c, h, w], 50 + i as u64);
            assert!(err <= TOL, "{gemm:?} on {:?}: error {err:e}", (n, c, k, h, w));
        }
    }
}

/// With a 1 MiB binding limit, batches are split into chunks and single images into bands
/// of tile rows; both must still match the reference.
#[test]
fn work_past_the_binding_limit_is_split_and_correct() {
    use wgpu_winograd::{reference, Context, ContextOptions, Conv2d};
    let adapter_limits = wgpu_winograd::runtime::enumerate_adapters()
        .into_iter()
        .map(|a| a.limits())
        .next()
        .expect("an adapter");
    let limits = wgpu::Limits { max_storage_buffer_binding_size: 1 << 20, ..adapter_limits };
    let ctx = Context::with_options(ContextOptions { limits: Some(limits) }).unwrap();
    for (shape, algo) in [
        ([4, 16, 48, 48], Algo::Winograd),
        ([2, 16, 200, 60], Algo::Winograd),
        ([3, 16, 90, 90], Algo::Direct),
    ] {
        let mut d = desc(16, 16, 1, true);
        d.algo = algo;
        // The separate kernels, whose Winograd-domain buffers are what outgrows the binding.
        d.fuse = (algo == Algo::Winograd).then_some(false);
        let x = common::data(shape.iter().product(), 1);
        let w = common::data(d.weight_len(), 2);
        let b = common::data(16, 3);
        let conv = Conv2d::new(&ctx, d.clone(), &w, Some(&b)).unwrap();
        let plan = conv.plan(shape).unwrap();
        assert!(plan.pieces().len() > 1, "{shape:?} was not split: {plan:?}");
        let got = conv.run(&x, shape, None).unwrap();
        let want = reference::conv2d_f64(&d, &x, shape, &w, Some(&b), None).unwrap();
        let err = reference::max_rel_error(&got, &want);
        assert!(err <= TOL, "{shape:?} {algo:?} split into {} pieces: error {err:e}", plan.pieces().len());
    }
}
