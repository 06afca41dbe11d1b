//! 10,000 repeated calls: identical results and no growth in resident memory. Its own test
//! binary, so no other test allocates in the process while it measures.

mod common;
use wgpu_winograd::{Conv2d, Conv2dDesc};

/// Resident set size in KiB (Linux); None elsewhere.
fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    Some(statm.split_whitespace().nth(1)?.parse::<u64>().ok()? * 4)
}

#[test]
fn repeated_calls_do_not_grow_memory() {
    let d = Conv2dDesc { has_bias: true, ..Conv2dDesc::new(4, 6, 3, 1) };
    let bias = common::data(6, 2);
    let conv = Conv2d::new(common::ctx(), d.clone(), &common::data(d.weight_len(), 1), Some(&bias)).unwrap();
    let shape = [1, 4, 8, 8];
    let x = common::data(256, 9);
    let first = conv.run(&x, shape, None).unwrap();
    for _ in 0..500 {
        conv.run(&x, shape, None).unwrap();
    }
    let before = rss_kib();
    for _ in 0..10_000 {
        assert_eq!(conv.run(&x, shape, None).unwrap(), first);
    }
    if let (Some(b), Some(a)) = (before, rss_kib()) {
        eprintln!("RSS over 10000 calls: {b} KiB -> {a} KiB");
        assert!(a <= b + 4096, "resident memory grew from {b} KiB to {a} KiB");
    }
}
