//! Tuning times the candidates on the adapter, writes the cache, and automatic dispatch then
//! follows it. The cache is this binary's own temporary file (`common::cache_file`), never the
//! developer's.

mod common;
use wgpu_winograd::{cache_path, tune, Choice, Conv2dDesc, Engine};

#[test]
fn tuned_choice_is_cached_and_used_by_auto() {
    let ctx = common::ctx();
    let path = common::cache_file();
    assert_eq!(cache_path(), Some(path.clone()), "the tests must not use the developer's tune cache");
    let desc = Conv2dDesc::new(8, 20, 3, 1);
    let shape = [1, 8, 12, 12];
    let t = common::Tensors::new(&desc, shape, 1);
    let results = tune::tune(ctx, &desc, &t.w, None, shape, 2).unwrap();
    assert!(results.len() >= 4, "only {} candidates", results.len());
    assert!(
        results.iter().any(|c| matches!(c.choice, Choice::Gemm { .. })),
        "GEMM blocks are candidates too"
    );
    let best = results[0].choice;
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("n1_c8_h12_w12_k20_r3") && text.contains(&best.to_string()), "cache: {text}");
    let conv = t.conv(&desc);
    let plan = conv.plan(shape).unwrap();
    assert_eq!(plan.path.choice(), Some(best), "{plan}");
    // The tuned plan still computes the right thing.
    let err = wgpu_winograd::reference::max_rel_error(&t.run(&conv, shape), &t.reference(&desc, shape));
    assert!(err <= common::tolerance(&conv, shape), "{plan}: error {err:e}");
    std::fs::remove_file(path).ok();
}

#[test]
fn a_gemm_layer_is_tuned_over_product_blocks_and_auto_follows() {
    let ctx = common::ctx();
    let desc = Conv2dDesc { stride: [2, 2], ..Conv2dDesc::new(32, 48, 3, 1) };
    let shape = [1, 32, 14, 14];
    let t = common::Tensors::new(&desc, shape, 2);
    let results = tune::tune(ctx, &desc, &t.w, None, shape, 2).unwrap();
    assert!(results.iter().all(|c| matches!(c.choice, Choice::Gemm { .. })), "stride 2: GEMM only");
    let Choice::Gemm(Engine::Registers(block)) = results[0].choice else { unreachable!() };
    let conv = t.conv(&desc);
    assert_eq!(conv.plan(shape).unwrap().path.choice(), Some(Choice::Gemm(Engine::Registers(block))));
    let err = wgpu_winograd::reference::max_rel_error(&t.run(&conv, shape), &t.reference(&desc, shape));
    assert!(err <= common::tolerance(&conv, shape), "{block}: error {err:e}");
}

/// What a re-invoked copy of this binary does (see `children`): with
/// `WGPU_WINOGRAD_TEST_CHILD=tune:I` it tunes the I-th small convolution into the inherited
/// `$WGPU_WINOGRAD_CACHE`; with `plan` it plans one automatic convolution, which reads the
/// cache. Run normally, it does nothing.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var("WGPU_WINOGRAD_TEST_CHILD") else { return };
    // Not `common::ctx()`: that points the cache at a file of this process's own.
    let ctx = wgpu_winograd::Context::new().expect("a wgpu adapter");
    if let Some(i) = mode.strip_prefix("tune:") {
        let (desc, shape) = child_conv(i.parse().unwrap());
        let t = common::Tensors::new(&desc, shape, 3);
        let results = tune::tune(&ctx, &desc, &t.w, None, shape, 1).unwrap();
        assert_eq!(results.len(), 1, "one forced candidate");
    } else {
        let desc = Conv2dDesc::new(4, 4, 3, 1);
        let t = common::Tensors::new(&desc, [1, 4, 8, 8], 3);
        let conv = wgpu_winograd::Conv2d::new(&ctx, desc, &t.w, None).unwrap();
        conv.plan([1, 4, 8, 8]).unwrap();
    }
}

/// The I-th child's convolution: distinct output channels, one forced candidate (cheap).
fn child_conv(i: usize) -> (Conv2dDesc, [usize; 4]) {
    let desc = Conv2dDesc {
        algo: Some(wgpu_winograd::Algo::Gemm),
        product: Some(wgpu_winograd::Product::Engine(Engine::Registers(
            wgpu_winograd::GemmBlock::B64_SHALLOW,
        ))),
        ..Conv2dDesc::new(4, 4 + i, 3, 1)
    };
    (desc, [1, 4, 8, 8])
}

/// Runs `child_process_entry` in one child process per mode, all at once, on `cache`; panics
/// unless every one passes within `limit`.
fn children(cache: &std::path::Path, modes: &[String], limit: std::time::Duration) {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().unwrap();
    let mut running: Vec<_> = modes
        .iter()
        .map(|mode| {
            let child = Command::new(&exe)
                .args(["child_process_entry", "--exact", "--nocapture", "--test-threads=1"])
                .env("WGPU_WINOGRAD_CACHE", cache)
                .env("WGPU_WINOGRAD_TEST_CHILD", mode)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (mode, child)
        })
        .collect();
    let start = std::time::Instant::now();
    while running.iter_mut().any(|(_, c)| c.try_wait().unwrap().is_none()) {
        if start.elapsed() > limit {
            for (_, c) in &mut running {
                let _ = c.kill();
            }
            panic!("children on {} still running after {limit:?}", cache.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for (mode, child) in running {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "child {mode}: {}\n{stdout}\n{stderr}", out.status);
        assert!(stdout.contains("1 passed"), "child {mode} ran no test:\n{stdout}");
    }
}

fn scratch(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wgpu-winograd-tune-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Issue #18: six processes tuning six convolutions into one cache all reported success and
/// the file ended with one line. Each store now merges under a lock.
#[test]
fn concurrent_tuners_keep_every_result() {
    let dir = scratch("concurrent");
    let cache = dir.join("tune.tsv");
    let n = 6;
    let modes: Vec<String> = (0..n).map(|i| format!("tune:{i}")).collect();
    children(&cache, &modes, std::time::Duration::from_secs(300));
    let text = std::fs::read_to_string(&cache).unwrap();
    assert_eq!(text.lines().count(), n, "cache:\n{text}");
    for i in 0..n {
        let want = format!("_k{}_r3", 4 + i);
        let choice = format!("gemm {}", wgpu_winograd::GemmBlock::B64_SHALLOW);
        assert!(text.lines().any(|l| l.contains(&want) && l.ends_with(&choice)), "{want}: {text}");
    }
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "temporary files left: {names:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// Issue #18: a cache at a FIFO hung the first automatic plan; at `/dev/zero` it read until
/// memory ran out. Such caches are now ignored (with a warning) and planning goes on.
#[cfg(unix)]
#[test]
fn a_cache_that_is_no_regular_file_is_ignored_promptly() {
    let dir = scratch("hostile");
    let fifo = dir.join("fifo.tsv");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let big = dir.join("big.tsv");
    std::fs::File::create(&big).unwrap().set_len((16 << 20) + 1).unwrap();
    let plan = ["plan".to_string()];
    for cache in [fifo.clone(), "/dev/zero".into(), dir.clone(), big] {
        children(&cache, &plan, std::time::Duration::from_secs(120));
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    std::fs::remove_dir_all(dir).ok();
}
