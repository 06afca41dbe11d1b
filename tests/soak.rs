//! Repeated calls: identical results and no growth in resident memory. Its own test binary, so
//! no other test allocates in the process while it measures.

mod common;
use common::{bits, ctx, rss_kib, Tensors};
use wgpu_winograd::reference::max_rel_error;
use wgpu_winograd::Conv2dDesc;

const WARM_UP: usize = 200;
const CALLS: usize = 10_000;

#[test]
fn repeated_calls_keep_memory_flat_and_results_identical() {
    let d = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) };
    let shape = [2, 4, 9, 7];
    let t = Tensors::new(&d, shape, 11);
    let conv = t.conv(&d);
    let first = t.run(&conv, shape);
    let err = max_rel_error(&first, &t.reference(&d, shape));
    assert!(err <= common::tolerance(&conv, shape), "first call: error {err:e}");
    for _ in 0..WARM_UP {
        t.run(&conv, shape);
    }
    let (before, start) = (rss_kib(), std::time::Instant::now());
    let first = bits(&first);
    for i in 0..CALLS {
        assert!(bits(&t.run(&conv, shape)) == first, "call {i} differs from the first");
    }
    let elapsed = start.elapsed();
    // Off Linux there is no /proc/self/statm: the calls and the identity check still run above.
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        let growth = a as i64 - b as i64;
        eprintln!(
            "soak on {}: {CALLS} calls in {elapsed:.2?}; RSS {b} KiB → {a} KiB ({growth:+} KiB)",
            ctx().adapter_info().name
        );
        assert!(a <= b + 4096, "resident memory grew from {b} KiB to {a} KiB over {CALLS} calls");
    }
}
