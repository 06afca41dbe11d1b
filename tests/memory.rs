//! Memory over many shapes: one `Conv2d` run and encoded over hundreds of distinct input shapes
//! keeps a bounded per-shape cache (least recently used out first) and never keeps a caller's
//! buffers alive past the call. Its own test binary, and its tests take turns, so no other test
//! allocates in the process while one measures resident memory.

mod common;
use common::{bits, ctx, rss_kib, tensor, Tensors};
use std::sync::{Mutex, MutexGuard, PoisonError};
use wgpu_winograd::reference::max_rel_error;
use wgpu_winograd::{Algo, Conv2d, Conv2dDesc};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

const MIB: u64 = 1024;

/// A cheap convolution (1×1, 2 → 3 channels) whose per-shape buffers are large next to its
/// arithmetic, so that lavapipe runs hundreds of shapes in seconds and an unbounded cache shows.
fn desc() -> Conv2dDesc {
    Conv2dDesc { has_bias: true, ..Conv2dDesc::new(2, 3, 1, 0) }
}

/// The `i`-th of 500 distinct shapes (2 × 160² to 2 × 184×179 images, ~0.3 MiB).
fn shape(i: usize) -> [usize; 4] {
    [1, 2, 160 + i % 25, 160 + i / 25]
}

/// Runs and encodes `shapes` distinct shapes through one convolution (fresh caller buffers for
/// every `encode`, dropped after); returns the resident-memory growth in KiB.
fn many_shapes(conv: &Conv2d, t: &Tensors, shapes: usize) -> Option<i64> {
    let c = ctx();
    let d = conv.desc().clone();
    let before = rss_kib();
    for i in 0..shapes {
        let s = shape(i);
        let x = &t.x[..s.iter().product()];
        let got = conv.run(x, s, None).unwrap();
        if i % 50 == 0 {
            let t = Tensors { x: x.to_vec(), ..t.clone() };
            let err = max_rel_error(&got, &t.reference(&d, s));
            assert!(err <= common::tolerance(conv, s), "shape {s:?}: error {err:e}");
        }
        let (xb, yb) = (tensor(c, x.len(), Some(x)), tensor(c, got.len(), None));
        let mut enc = c.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, s, &xb, &yb, None).unwrap();
        c.queue().submit([enc.finish()]);
        if i % 50 == 0 {
            assert!(bits(&common::read(c, &yb, got.len())) == bits(&got), "shape {s:?}: encode ≠ run");
        }
        c.wait().unwrap();
    }
    Some(rss_kib()? as i64 - before? as i64)
}

/// 500 distinct shapes through one convolution, each run and encoded: resident memory stays
/// within 200 MiB of where it started (unbounded, as before the cache had a limit, the shapes'
/// resources grew it by 160 MiB per 200 shapes).
#[test]
fn five_hundred_shapes_keep_memory_bounded() {
    let _g = alone();
    let d = desc();
    let t = Tensors::new(&d, shape(499), 3);
    let conv = t.conv(&d);
    // Compiles the pipelines and warms the driver, which the bound is not about.
    many_shapes(&conv, &t, 20);
    let growth = many_shapes(&conv, &t, 500);
    assert!(conv.cached_shapes().len() <= Conv2d::DEFAULT_CACHED_SHAPES, "{:?}", conv.cached_shapes());
    if let Some(g) = growth {
        eprintln!("500 shapes: RSS {g:+} KiB");
        assert!(g <= 200 * MIB as i64, "resident memory grew by {g} KiB over 500 shapes");
    }
}

/// `encode` keeps no bind group, so the caller's buffers are freed when the caller drops them:
/// 40 shapes of ~4 MiB buffers, with a shape cache large enough to keep every shape.
#[test]
fn encode_does_not_keep_caller_buffers_alive() {
    let _g = alone();
    let c = ctx();
    let conv = Conv2d::new(c, Conv2dDesc::new(4, 4, 1, 0), &common::data(16, 5), None).unwrap();
    conv.set_shape_cache_limit(1000, u64::MAX);
    let encode = |i: usize| {
        let s = [1, 4, 512, 512 + i];
        let len = s.iter().product();
        let (x, y) = (tensor(c, len, None), tensor(c, len, None));
        let mut enc = c.device().create_command_encoder(&Default::default());
        conv.encode(&mut enc, s, &x, &y, None).unwrap();
        c.queue().submit([enc.finish()]);
        c.wait().unwrap();
    };
    encode(100);
    let before = rss_kib();
    for i in 0..40 {
        encode(i);
    }
    assert_eq!(conv.cached_shapes().len(), 41);
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        eprintln!("40 encodes of 8 MiB of buffers: RSS {b} KiB → {a} KiB");
        // Kept alive, they would be 320 MiB.
        assert!(a <= b + 100 * MIB, "resident memory grew from {b} KiB to {a} KiB");
    }
}

/// The cache holds at most its limit of shapes, evicts the least recently used first, and a shape
/// used again after eviction is rebuilt and gives the same bits, by `run` and by `encode`.
#[test]
fn shape_cache_evicts_least_recently_used() {
    let _g = alone();
    let c = ctx();
    // Winograd: scratch per shape, and prepared weights shared by every shape.
    let d = Conv2dDesc { algo: Some(Algo::Winograd), has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) };
    let shape = |i: usize| [1, 4, 10 + i, 12];
    let t = Tensors::new(&d, shape(9), 9);
    let conv = t.conv(&d);
    assert_eq!(conv.shape_cache_limit(), (Conv2d::DEFAULT_CACHED_SHAPES, Conv2d::DEFAULT_CACHED_SHAPE_BYTES));
    let run = |i: usize| conv.run(&t.x[..shape(i).iter().product()], shape(i), None).unwrap();
    let first: Vec<Vec<u32>> = (0..4).map(|i| bits(&run(i))).collect();
    assert_eq!(conv.cached_shapes().len(), 4);
    conv.set_shape_cache_limit(3, u64::MAX);
    assert_eq!(conv.cached_shapes(), [shape(3), shape(2), shape(1)]);
    assert!(bits(&run(1)) == first[1], "a cached shape");
    assert_eq!(conv.cached_shapes(), [shape(1), shape(3), shape(2)]);
    run(4);
    assert_eq!(conv.cached_shapes(), [shape(4), shape(1), shape(3)]);
    // Evicted shapes, rebuilt.
    assert!(bits(&run(0)) == first[0], "shape 0 after eviction");
    assert!(bits(&run(2)) == first[2], "shape 2 after eviction");
    assert_eq!(conv.cached_shapes(), [shape(2), shape(0), shape(4)]);
    let s = shape(3);
    let x = &t.x[..s.iter().product()];
    let (xb, yb) = (tensor(c, x.len(), Some(x)), tensor(c, first[3].len(), None));
    let got = common::encode_and_read(|enc| conv.encode(enc, s, &xb, &yb, None).unwrap(), &yb);
    assert!(bits(&got) == first[3], "encode of an evicted shape");
    assert_eq!(conv.cached_shapes().len(), 3);
    // A byte limit below one shape keeps only the most recently used one.
    conv.set_shape_cache_limit(16, 1);
    assert_eq!(conv.cached_shapes(), [shape(3)]);
    assert!(bits(&run(1)) == first[1]);
    assert_eq!(conv.cached_shapes(), [shape(1)]);
    // No cache at all: every call builds and drops its resources, with the same results.
    conv.set_shape_cache_limit(0, 0);
    assert!(conv.cached_shapes().is_empty());
    for i in [0, 1, 0] {
        assert!(bits(&run(i)) == first[i], "shape {i} without a cache");
    }
    assert!(conv.cached_shapes().is_empty());
}
