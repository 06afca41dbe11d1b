//! The `wino` binary as a user meets it: right answers on `.npy` files, and for every bad input
//! one `wino: error:` line, a non-zero exit and no output file left behind.

#[path = "common/cli.rs"]
mod cli_common;

use cli_common::{values, wino, write_f16, write_f32};
use std::path::Path;
use std::process::Command;

fn scratch(test: &str) -> std::path::PathBuf {
    cli_common::scratch("wino-cli", test)
}

/// Runs wino; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(wino()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn conv_on_npy_files_verifies_and_writes_output() {
    let dir = scratch("conv");
    let (x, w, b, y) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("b.npy"), dir.join("y.npy"));
    write_f32(&x, &[2, 5, 9, 13], &values(2 * 5 * 9 * 13, 1));
    write_f32(&w, &[7, 5, 3, 3], &values(7 * 5 * 9, 2));
    write_f32(&b, &[7], &values(7, 3));
    let (x_s, w_s, b_s, y_s) =
        (x.to_str().unwrap(), w.to_str().unwrap(), b.to_str().unwrap(), y.to_str().unwrap());
    for extra in [
        &["--padding", "1"][..],
        &["--padding", "0,2,1,0", "--algo", "winograd", "--tile", "2"],
        &["--stride", "2"],
        &["--padding", "1", "--fuse", "on"],
        &["--padding", "2", "--fuse", "off", "--tile", "4", "--layout", "r_6_6_16"],
    ] {
        let mut args =
            vec!["conv", "--input", x_s, "--weight", w_s, "--bias", b_s, "--output", y_s, "--verify"];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains("verify: max relative error") && stdout.contains("OK"), "{stdout}");
        assert!(stderr.contains("path: ") && stderr.contains("time: "), "{stderr}");
        if extra.contains(&"--fuse") {
            let fused = extra.contains(&"on");
            assert_eq!(stderr.contains("fused kernel"), fused, "{args:?}: {stderr}");
        }
        let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
        assert_eq!(npy.shape()[..2], [2, 7]);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_writes_json_with_per_kernel_times() {
    let dir = scratch("bench");
    let json = dir.join("seed.json");
    let args = ["bench", "--suite", "seed", "--iters", "2", "--fuse", "on", "--kernels", "--json"];
    // 5 seed shapes × (3 Winograd layouts + direct + F(4,3) separate in each forced layout).
    let (code, stdout, stderr) = run(&[&args[..], &[json.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["empty_submit_ms"].as_f64().unwrap() > 0.0, "{report}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 5 * 6, "{results:?}");
    for r in results {
        for key in [
            "name", "n", "c", "h", "w", "k", "kernel", "stride", "padding", "dilation", "groups", "count",
            "algo", "layout", "tile", "dtype", "gpu_ms", "wall_ms", "tflops",
        ] {
            assert!(r.get(key).is_some(), "record lacks {key}: {r}");
        }
        if r["algo"] == "winograd" && r["product"] != "fused" {
            // The seed experiment: F(4,3) in three kernels, the forced layout kept.
            assert_eq!(r["tile"], 4, "{r}");
            assert_eq!(r["kernels"].as_array().unwrap().len(), 3, "{r}");
        } else if r["algo"] == "winograd" {
            // `--fuse on`: one fused dispatch of the tile auto picks (F(4,3) on CPU adapters).
            let kernels = r["kernels"].as_array().unwrap();
            assert_eq!(kernels.len(), 1, "one fused dispatch: {r}");
            let tile = r["tile"].as_u64().unwrap();
            assert!(kernels[0]["kernel"].as_str().unwrap().starts_with(&format!("fused_f{tile}_3")), "{r}");
        }
    }
    let separate = results.iter().filter(|r| r["algo"] == "winograd" && r["product"] != "fused").count();
    assert_eq!(separate, 5 * 2, "the seed experiment's F(4,3) records");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_inputs_give_one_line_and_no_output() {
    let dir = scratch("bad");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    write_f32(Path::new(&p("x.npy")), &[1, 4, 6, 6], &values(144, 1));
    write_f32(Path::new(&p("w.npy")), &[3, 4, 3, 3], &values(108, 2));
    write_f32(Path::new(&p("w5.npy")), &[3, 5, 3, 3], &values(135, 2));
    write_f32(Path::new(&p("rank3.npy")), &[4, 6, 6], &values(144, 1));
    write_f32(Path::new(&p("bias4.npy")), &[4], &values(4, 1));
    let good = std::fs::read(p("x.npy")).unwrap();
    std::fs::write(p("trunc.npy"), &good[..good.len() - 40]).unwrap();
    std::fs::write(p("garbage.npy"), b"this is not a numpy file at all").unwrap();
    // Rewrites a piece of the header, keeping its length (padding spaces absorb the change).
    let header_end = good.iter().position(|&c| c == b'\n').unwrap();
    let patched = |name: &str, from: &str, to: &str| {
        let header = &good[..header_end];
        let at = header.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
        let mut h = [&header[..at], to.as_bytes(), &header[at + from.len()..]].concat();
        h.resize(header_end, b' ');
        std::fs::write(p(name), [&h[..], &good[header_end..]].concat()).unwrap();
    };
    patched("huge.npy", "(1, 4,", "(100000, 4,");
    patched("f64.npy", "'<f4'", "'<f8'");
    patched("i32.npy", "'<f4'", "'<i4'");
    patched("big_endian.npy", "'<f4'", "'>f4'");
    patched("fortran.npy", "False", "True");
    patched("overflow.npy", "(1, 4,", "(4294967296, 4294967296, 4294967296,");
    // A sparse file holding every byte its header promises, more than a GPU buffer can.
    patched("beyond_buffer.npy", "(1, 4,", "(4096, 4096,");
    let file = std::fs::OpenOptions::new().write(true).open(p("beyond_buffer.npy")).unwrap();
    file.set_len(header_end as u64 + 1 + 4096 * 4096 * 6 * 6 * 4).unwrap();

    let (x, w, out) = (p("x.npy"), p("w.npy"), p("y.npy"));
    let cases: Vec<Vec<String>> = [
        vec!["--input", &p("missing.npy"), "--weight", &w],
        vec!["--input", &p("trunc.npy"), "--weight", &w],
        vec!["--input", &p("garbage.npy"), "--weight", &w],
        vec!["--input", &p("huge.npy"), "--weight", &w],
        vec!["--input", &p("f64.npy"), "--weight", &w],
        vec!["--input", &p("i32.npy"), "--weight", &w],
        vec!["--input", &p("big_endian.npy"), "--weight", &w],
        vec!["--input", &p("fortran.npy"), "--weight", &w],
        vec!["--input", &p("overflow.npy"), "--weight", &w],
        vec!["--input", "/dev/zero", "--weight", &w],
        vec!["--input", &p("beyond_buffer.npy"), "--weight", &w],
        vec!["--input", &x, "--weight", &w, "--out-channels", "8"],
        vec!["--input", &x, "--weight", &w, "--kernel", "5"],
        vec!["--input", &p("rank3.npy"), "--weight", &w],
        vec!["--input", &x, "--weight", &p("w5.npy")],
        vec!["--input", &x, "--weight", &w, "--bias", &p("bias4.npy")],
        vec!["--input", &x, "--weight", &w, "--padding", "-1"],
        vec!["--input", &x, "--weight", &w, "--stride", "0"],
        vec!["--input", &x, "--weight", &w, "--dilation", "0"],
        vec!["--input", &x, "--weight", &w, "--groups", "3"],
        vec!["--input", &x, "--weight", &w, "--dilation", "5"],
        vec!["--input", &x, "--weight", &w, "--layout", "r_1_2_3"],
        vec!["--input", &x, "--weight", &w, "--tile", "3", "--algo", "winograd"],
        vec!["--input", &x, "--weight", &w, "--algo", "fastest"],
        vec!["--input", &x, "--weight", &w, "--dtype", "f64"],
        vec!["--input", &x, "--weight", &w, "--precision", "medium"],
        // Geometry past the kernels' 32-bit fields (issue #12 item 1): refused, not truncated.
        vec![
            "--input",
            &x,
            "--weight",
            &w,
            "--padding",
            "4294967296,0,4294967296,0",
            "--stride",
            "8589934592",
        ],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    for case in cases {
        let mut args = vec!["conv".to_string(), "--output".into(), out.clone()];
        args.extend(case);
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (code, _, stderr) = run(&refs);
        assert_ne!(code, 0, "{args:?} succeeded");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).collect();
        assert_eq!(lines.len(), 1, "{args:?}: expected one line, got:\n{stderr}");
        assert!(lines[0].starts_with("wino: error: "), "{args:?}: {stderr}");
        assert!(!Path::new(&out).exists(), "{args:?} left an output file");
        assert!(std::fs::read_dir(&dir).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The lines of stderr that are not Mesa's XDG_RUNTIME_DIR notice.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("wino: error")).collect()
}

#[test]
fn output_onto_an_input_is_refused_and_the_input_kept() {
    let dir = scratch("same");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    write_f32(Path::new(&p("x.npy")), &[1, 4, 6, 6], &values(144, 1));
    write_f32(Path::new(&p("w.npy")), &[3, 4, 3, 3], &values(108, 2));
    write_f32(Path::new(&p("b.npy")), &[3], &values(3, 3));
    write_f32(Path::new(&p("r.npy")), &[1, 3, 4, 4], &values(48, 4));
    let before: Vec<Vec<u8>> =
        ["x.npy", "w.npy", "b.npy", "r.npy"].iter().map(|f| std::fs::read(p(f)).unwrap()).collect();
    let (x, w, b, r) = (p("x.npy"), p("w.npy"), p("b.npy"), p("r.npy"));
    // The same file under another spelling still counts.
    let x_other = format!("{}/./x.npy", dir.display());
    for out in [&x, &w, &b, &r, &x_other] {
        let args = ["conv", "--input", &x, "--weight", &w, "--bias", &b, "--residual", &r, "--output", out];
        let (code, _, stderr) = run(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let lines = error_lines(&stderr);
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains("same file"), "{stderr}");
        assert_eq!(stderr.lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).count(), 1, "{stderr}");
    }
    let after: Vec<Vec<u8>> =
        ["x.npy", "w.npy", "b.npy", "r.npy"].iter().map(|f| std::fs::read(p(f)).unwrap()).collect();
    assert!(before == after, "an input file changed");
    std::fs::remove_dir_all(dir).ok();
}

#[cfg(unix)]
#[test]
fn output_through_a_symlink_writes_the_target() {
    let dir = scratch("symlink");
    std::fs::create_dir_all(dir.join("real")).unwrap();
    let (x, w) = (dir.join("x.npy"), dir.join("w.npy"));
    write_f32(&x, &[1, 4, 6, 6], &values(144, 1));
    write_f32(&w, &[3, 4, 3, 3], &values(108, 2));
    let (link, target) = (dir.join("y.npy"), dir.join("real").join("y.npy"));
    std::fs::write(&target, b"old").unwrap();
    std::os::unix::fs::symlink("real/y.npy", &link).unwrap();
    let args = ["conv", "--input", x.to_str().unwrap(), "--weight", w.to_str().unwrap()];
    let (code, _, stderr) = run(&[&args[..], &["--output", link.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    let npy = npyz::NpyFile::new(std::fs::File::open(&target).unwrap()).unwrap();
    assert_eq!(npy.shape(), [1, 3, 4, 4]);
    let leftovers = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".tmp"))
            .count()
    };
    assert_eq!(leftovers(&dir) + leftovers(&dir.join("real")), 0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn random_defaults_to_16_channels_and_3x3() {
    let (code, _, stderr) = run(&["conv", "--random", "1,4,8,8"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("→ [1, 16, 6, 6]"), "{stderr}");
    assert!(stderr.contains("time: ") && stderr.contains("one call"), "{stderr}");
    let (code, _, stderr) = run(&["conv", "--random", "1,4,8,8", "--out-channels", "8", "--kernel", "5"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("→ [1, 8, 4, 4]"), "{stderr}");
}

#[test]
fn verify_checks_the_stored_f16_values() {
    let dir = scratch("f16");
    let (x, w, y) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("y.npy"));
    // Finite in f32 on the GPU, but up to 4·9·1000·100 = 3.6e6 > 65504 once stored as f16.
    write_f16(&x, &[1, 4, 6, 6], &vec![1000.0; 144]);
    write_f32(&w, &[3, 4, 3, 3], &vec![100.0; 108]);
    let args = ["conv", "--input", x.to_str().unwrap(), "--weight", w.to_str().unwrap(), "--verify"];
    let (code, stdout, stderr) = run(&[&args[..], &["--output", y.to_str().unwrap()]].concat());
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let lines = error_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains("48 of 48") && lines[0].contains("float16"), "{stderr}");
    assert!(!y.exists(), "a failed verification wrote the output");
    // Values that fit verify as stored, and the output is f16.
    write_f16(&x, &[1, 4, 6, 6], &values(144, 1));
    write_f32(&w, &[3, 4, 3, 3], &values(108, 2));
    let (code, stdout, stderr) = run(&[&args[..], &["--output", y.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("as stored in float16") && stdout.contains("OK"), "{stdout}");
    let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
    assert_eq!(npy.dtype().descr(), "'<f2'");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_auto_resolves_the_algorithm_and_prints_totals() {
    let dir = scratch("bench-auto");
    let json = dir.join("auto.json");
    let args =
        ["bench", "--suite", "seed", "--algo", "auto", "--iters", "1", "--json", json.to_str().unwrap()];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "one auto record per seed shape");
    for r in results {
        assert_eq!(r["algo"], "winograd", "auto resolves to the algorithm that ran: {r}");
        assert_eq!(r["requested_algo"], "auto", "{r}");
        assert_eq!(
            (r["kernel"].as_u64(), r["stride"].as_u64(), r["padding"].as_u64()),
            (Some(3), Some(1), Some(1))
        );
        assert_eq!(
            (r["dilation"].as_u64(), r["groups"].as_u64(), r["count"].as_u64()),
            (Some(1), Some(1), Some(1))
        );
    }
    assert!(stdout.contains("total auto: ") && stdout.contains("over 5 convs"), "{stdout}");
    std::fs::remove_dir_all(dir).ok();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, failure_persistence: None, ..Default::default() })]
    /// Arbitrary bytes, and valid headers with arbitrary bodies, never crash the `.npy` reader.
    #[test]
    fn npy_reader_survives_arbitrary_bytes(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        keep_header in proptest::prelude::any::<bool>(),
    ) {
        let dir = scratch("fuzz");
        let (x, w) = (dir.join("x.npy"), dir.join("w.npy"));
        write_f32(&w, &[2, 1, 3, 3], &values(18, 1));
        let mut data = Vec::new();
        if keep_header {
            write_f32(&x, &[1, 1, 4, 4], &values(16, 2));
            let good = std::fs::read(&x).unwrap();
            data.extend_from_slice(&good[..good.iter().position(|&c| c == b'\n').unwrap() + 1]);
        }
        data.extend_from_slice(&bytes);
        std::fs::write(&x, &data).unwrap();
        let (code, _, stderr) = run(&["conv", "--input", x.to_str().unwrap(), "--weight", w.to_str().unwrap()]);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wino: error")).collect();
        // Either the bytes happened to form a valid 1×1×4×4 tensor, or one clean error line.
        proptest::prop_assert!(code == 0 || (code == 1 && lines.len() == 1), "exit {code}: {stderr}");
        proptest::prop_assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn every_padding_mode_and_algorithm_verifies() {
    for mode in ["reflect", "replicate", "circular"] {
        for algo in ["auto", "gemm", "direct"] {
            let args = [
                "conv",
                "--random",
                "1,8,9,11",
                "--out-channels",
                "8",
                "--padding",
                "2,1,1,2",
                "--padding-mode",
                mode,
                "--stride",
                "2",
                "--algo",
                algo,
                "--verify",
            ];
            let (code, stdout, stderr) = run(&args);
            assert_eq!(code, 0, "{mode} {algo}: {stdout}\n{stderr}");
            assert!(stdout.contains("OK"), "{mode} {algo}: {stdout}");
        }
    }
    let (code, _, stderr) =
        run(&["conv", "--random", "1,4,3,3", "--padding", "3", "--padding-mode", "reflect"]);
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn precision_high_verifies_and_says_what_ran() {
    let (code, info, _) = run(&["info"]);
    assert_eq!(code, 0);
    let coop =
        info.lines().find(|l| l.starts_with("cooperative matrices: ")).expect("a cooperative matrices line");
    let args = [
        "conv",
        "--random",
        "1,16,12,12",
        "--out-channels",
        "24",
        "--kernel",
        "1",
        "--precision",
        "high",
        "--verify",
    ];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let notes: Vec<&str> =
        stderr.lines().filter(|l| l.starts_with("precision: high requested, ran highest (")).collect();
    if coop.ends_with("none") {
        // No tensor cores: Highest runs, and says so, once.
        assert_eq!(notes.len(), 1, "{stderr}");
    } else {
        assert!(notes.is_empty() && stdout.contains("cooperative matrices"), "{stdout}{stderr}");
    }
}

#[test]
fn the_gemm_suite_runs_on_tensor_cores_or_fails_in_one_line() {
    let (_, info, _) = run(&["info"]);
    let dir = scratch("gemm");
    let json = dir.join("gemm.json");
    let args = [
        "bench",
        "--suite",
        "gemm",
        "--gemm-size",
        "256,256,64",
        "--iters",
        "2",
        "--json",
        json.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = run(&args);
    if info.contains("cooperative matrices: none") {
        assert_ne!(code, 0);
        assert_eq!(error_lines(&stderr).len(), 1, "{stderr}");
        assert!(stderr.contains("not supported"), "{stderr}");
        assert!(!json.exists());
    } else {
        assert_eq!(code, 0, "{stdout}{stderr}");
        let text = std::fs::read_to_string(&json).unwrap();
        assert!(text.contains("\"wrong\": 0") && !text.contains("\"wrong\": 1"), "{text}");
    }
    for bad in [
        &["bench", "--suite", "gemm", "--gemm-size", "1,2"][..],
        &["bench", "--suite", "seed", "--gemm-size", "128,128,128"],
        &["bench", "--suite", "seed", "--gemm-blocks", "128x128x32/w2x2/m16"],
        &["bench", "--suite", "gemm", "--gemm-blocks", "128x128x32/w2x2"],
        &["bench", "--suite", "gemm", "--gemm-blocks", "128x128x32/w3x2/m16"],
    ] {
        let (code, _, stderr) = run(bad);
        assert_ne!(code, 0, "{bad:?}");
        assert_eq!(error_lines(&stderr).len(), 1, "{bad:?}: {stderr}");
    }
}

#[test]
fn version_is_printed() {
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.trim(), format!("wino {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn grad_wrt_weight_and_input_verify_and_write_outputs() {
    let dir = scratch("grad");
    let (x, w, dy, out) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("dy.npy"), dir.join("out.npy"));
    // 2×5×9×8 input, 6 output channels, 3×3 kernel, stride 2, padding 1: output 5×4.
    write_f32(&x, &[2, 5, 9, 8], &values(2 * 5 * 9 * 8, 1));
    write_f32(&w, &[6, 5, 3, 3], &values(6 * 5 * 9, 2));
    write_f32(&dy, &[2, 6, 5, 4], &values(2 * 6 * 5 * 4, 3));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (x, w, dy, out_s) = (s(&x), s(&w), s(&dy), s(&out));
    let forward = ["--stride", "2", "--padding", "1"];
    let weight =
        [&["grad", "--wrt", "weight", "--grad-output", &dy, "--input", &x, "--kernel", "3"][..], &forward]
            .concat();
    let input = [
        &["grad", "--wrt", "input", "--grad-output", &dy, "--weight", &w, "--input-shape", "2,5,9,8"][..],
        &forward,
    ]
    .concat();
    for (args, shape) in [(&weight, [6u64, 5, 3, 3]), (&input, [2, 5, 9, 8])] {
        let args = [&args[..], &["--verify", "--output", &out_s]].concat();
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains("verify: max relative error") && stdout.contains("OK"), "{stdout}");
        let npy = npyz::NpyFile::new(std::fs::File::open(&out).unwrap()).unwrap();
        assert_eq!(npy.shape(), shape, "{args:?}");
        std::fs::remove_file(&out).unwrap();
    }
    // Random data, every padding mode for the weight gradient, groups, NHWC and f16.
    for extra in [
        &["--padding-mode", "reflect", "--padding", "1,0,2,1"][..],
        &["--groups", "2", "--dilation", "2", "--padding", "2"],
        &["--data-format", "nhwc", "--weight-format", "hwio", "--dtype", "f16", "--stride", "1,2"],
    ] {
        let args = [
            &["grad", "--wrt", "weight", "--random", "2,4,7,6", "--out-channels", "6", "--verify"][..],
            extra,
        ]
        .concat();
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains("OK") && stderr.contains("split-K"), "{stdout}\n{stderr}");
    }
    for extra in [&[][..], &["--dtype", "f16"], &["--precision", "high"]] {
        let args = [
            &[
                "grad", "--wrt", "input", "--random", "2,4,7,6", "--kernel", "3,1", "--stride", "2",
                "--verify",
            ][..],
            extra,
        ]
        .concat();
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
        assert!(stdout.contains("OK"), "{stdout}\n{stderr}");
    }
    let high = ["grad", "--wrt", "weight", "--random", "2,4,7,6", "--precision", "high", "--verify"];
    let (code, stdout, stderr) = run(&high);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("OK"), "{stdout}\n{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn grad_refuses_bad_input_with_one_line_and_no_output() {
    let dir = scratch("grad-errors");
    let (x, dy, out) = (dir.join("x.npy"), dir.join("dy.npy"), dir.join("out.npy"));
    write_f32(&x, &[1, 3, 6, 6], &values(108, 1));
    write_f32(&dy, &[1, 4, 5, 5], &values(100, 2));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (x, dy, out) = (s(&x), s(&dy), s(&out));
    for (args, needle) in [
        (vec!["grad", "--wrt", "weight", "--grad-output", &dy, "--input", &x, "--output", &out], "--kernel"),
        (
            vec![
                "grad",
                "--wrt",
                "weight",
                "--grad-output",
                &dy,
                "--input",
                &x,
                "--kernel",
                "3",
                "--output",
                &out,
            ],
            "shape",
        ),
        (
            vec!["grad", "--wrt", "input", "--grad-output", &dy, "--input", &x, "--output", &out],
            "--input applies",
        ),
        (vec!["grad", "--wrt", "input", "--grad-output", &dy, "--output", &out], "--weight"),
        (vec!["grad", "--wrt", "bias", "--grad-output", &dy], "bias"),
        (
            vec![
                "grad",
                "--wrt",
                "weight",
                "--grad-output",
                &dy,
                "--input",
                &dy,
                "--kernel",
                "2",
                "--output",
                &out,
            ],
            "forward output",
        ),
    ] {
        let (code, stdout, stderr) = run(&args);
        assert_ne!(code, 0, "{args:?}\n{stdout}");
        // (The driver may print its own lines first.)
        let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("wino:")).collect();
        assert_eq!(ours.len(), 1, "{args:?}: {stderr}");
        assert!(ours[0].starts_with("wino: error:") && ours[0].contains(needle), "{args:?}: {stderr}");
        assert!(!Path::new(&out).exists(), "{args:?} left an output file");
    }
    // 2×2 kernel: the matching dy is accepted.
    let (code, _, stderr) = run(&[
        "grad",
        "--wrt",
        "weight",
        "--grad-output",
        &dy,
        "--input",
        &x,
        "--kernel",
        "2",
        "--output",
        &out,
    ]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn conv_transpose_verifies_on_files_and_random_data() {
    let dir = scratch("transpose");
    let (x, w, b, y) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("b.npy"), dir.join("y.npy"));
    // PyTorch's ConvTranspose2d weights: (C_in, C_out/groups, KH, KW).
    write_f32(&x, &[2, 4, 5, 3], &values(2 * 4 * 5 * 3, 1));
    write_f32(&w, &[4, 3, 3, 3], &values(4 * 3 * 9, 2));
    write_f32(&b, &[3], &values(3, 3));
    let (x_s, w_s, b_s, y_s) =
        (x.to_str().unwrap(), w.to_str().unwrap(), b.to_str().unwrap(), y.to_str().unwrap());
    let args = [
        "conv",
        "--transpose",
        "--input",
        x_s,
        "--weight",
        w_s,
        "--bias",
        b_s,
        "--output",
        y_s,
        "--stride",
        "2",
        "--padding",
        "1",
        "--output-padding",
        "1,0",
        "--verify",
    ];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("OK") && stderr.contains("4 phases"), "{stdout}\n{stderr}");
    let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
    // (5 − 1)·2 − 2 + 2 + 1 + 1 = 10 rows, (3 − 1)·2 − 2 + 2 + 0 + 1 = 5 columns.
    assert_eq!(npy.shape(), [2, 3, 10, 5]);
    let (code, stdout, stderr) = run(&[
        "conv",
        "--transpose",
        "--random",
        "1,6,4,5",
        "--kernel",
        "4",
        "--stride",
        "2",
        "--padding",
        "1",
        "--iters",
        "2",
        "--verify",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("OK") && stderr.contains("over 2 calls"), "{stdout}\n{stderr}");
    // output_padding must be below max(stride, dilation): one line, non-zero exit.
    let (code, _, stderr) =
        run(&["conv", "--transpose", "--random", "1,6,4,5", "--stride", "2", "--output-padding", "2"]);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert!(lines.len() == 1 && lines[0].contains("output_padding"), "{stderr}");
    let (code, _, stderr) = run(&["conv", "--transpose", "--random", "1,6,4,5", "--padding-mode", "reflect"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("zeros only"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn conv1d_verifies_on_rank_3_files_and_random_data() {
    let dir = scratch("conv1d");
    let (x, w, y) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("y.npy"));
    write_f32(&x, &[2, 6, 19], &values(2 * 6 * 19, 1));
    write_f32(&w, &[4, 3, 5], &values(4 * 3 * 5, 2));
    let (x_s, w_s, y_s) = (x.to_str().unwrap(), w.to_str().unwrap(), y.to_str().unwrap());
    let args = [
        "conv",
        "--input",
        x_s,
        "--weight",
        w_s,
        "--output",
        y_s,
        "--groups",
        "2",
        "--stride",
        "2",
        "--padding",
        "2",
        "--padding-mode",
        "reflect",
        "--verify",
    ];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("OK") && stderr.contains("conv1d"), "{stdout}\n{stderr}");
    let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
    assert_eq!(npy.shape(), [2, 4, 10]);
    let (code, stdout, _) =
        run(&["conv", "--random", "1,4,33", "--kernel", "7", "--dilation", "2", "--verify"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("OK"), "{stdout}");
    let (code, _, stderr) = run(&["conv", "--random", "1,4,33", "--stride", "1,2"]);
    assert_ne!(code, 0);
    let lines = error_lines(&stderr);
    assert!(lines.len() == 1 && lines[0].contains("one --stride"), "{stderr}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bench_dcgan_times_the_transposed_layers() {
    let dir = scratch("bench-dcgan");
    let json = dir.join("dcgan.json");
    let args = ["bench", "--suite", "dcgan", "--batch", "1", "--iters", "1", "--error", "--json"];
    let (code, stdout, stderr) = run(&[&args[..], &[json.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "{results:?}");
    // The first layer upsamples 1×1 at stride 1 (one phase), the others are stride 2 (four).
    assert!(results[0]["algo"].as_str().unwrap().starts_with("transpose 1×"), "{}", results[0]);
    for r in &results[1..] {
        assert!(r["algo"].as_str().unwrap().starts_with("transpose 4×"), "{r}");
        assert_eq!((r["kernel"].as_u64(), r["stride"].as_u64()), (Some(4), Some(2)), "{r}");
    }
    for r in results {
        assert!(r["max_error"].as_f64().unwrap() < 1e-4, "{r}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Runs `wino bench` with `--json FILE` appended; returns stdout and the JSON's records.
fn bench_json(test: &str, args: &[&str]) -> (String, Vec<serde_json::Value>) {
    let dir = scratch(test);
    let json = dir.join("bench.json");
    let (code, stdout, stderr) = run(&[&["bench"], args, &["--json", json.to_str().unwrap()]].concat());
    assert_eq!(code, 0, "{args:?}\n{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    std::fs::remove_dir_all(dir).ok();
    (stdout, report["results"].as_array().unwrap().clone())
}

/// The total line of `variant` (`total input grad: 12.3456 ms over 6 convs in 3 layers …`)
/// checked against Σ gpu_ms × count of the records, to the four decimals it prints.
fn check_total(stdout: &str, variant: &str, results: &[serde_json::Value]) {
    let convs: u64 = results.iter().map(|r| r["count"].as_u64().unwrap()).sum();
    let prefix = format!("total {variant}: ");
    let line =
        stdout.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no total:\n{stdout}"));
    let tail = format!(" ms over {convs} convs in {} layers (Σ gpu_ms × count)", results.len());
    let printed: f64 = line[prefix.len()..].split(" ms").next().unwrap().parse().unwrap();
    assert!(line.contains(&tail), "{line}");
    let sum: f64 = results.iter().map(|r| r["gpu_ms"].as_f64().unwrap() * r["count"].as_f64().unwrap()).sum();
    assert!((printed - sum).abs() < 1e-4 + 1e-9 * sum, "{line}: Σ gpu_ms × count is {sum}");
}

#[test]
fn bench_whisper_times_the_conv1d_front_end() {
    // The first layer only (80 → 768 over 3000 frames): the stride-2 768 → 768 takes seconds a
    // call on a CPU adapter; its shape is checked in suites.rs.
    let args = ["--suite", "whisper", "--batch", "2", "--iters", "1", "--error", "--layers", "_s1_"];
    let (stdout, results) = bench_json("bench-whisper", &args);
    assert_eq!(results.len(), 1, "{results:?}");
    let r = &results[0];
    assert_eq!(r["name"], "whisper_c80_l3000_k768_3_s1_b2");
    assert_eq!((r["conv1d"].as_bool(), r["transposed"].as_bool()), (Some(true), Some(false)), "{r}");
    assert_eq!(r["input_shape"], serde_json::json!([2, 80, 3000]), "the rank-3 shape at --batch 2: {r}");
    assert_eq!((r["h"].as_u64(), r["w"].as_u64(), r["k"].as_u64()), (Some(1), Some(3000), Some(768)));
    assert_eq!(
        (r["kernel"].as_u64(), r["stride"].as_u64(), r["padding"].as_u64(), r["groups"].as_u64()),
        (Some(3), Some(1), Some(1), Some(1))
    );
    assert!(r["grad"].is_null() && r["requested_algo"] == "auto", "{r}");
    assert!(["gemm", "direct"].contains(&r["algo"].as_str().unwrap()), "a 1×3 kernel runs no Winograd: {r}");
    assert!(r["max_error"].as_f64().unwrap() < 1e-4, "{r}");
    assert!(r["tflops"].as_f64().unwrap() > 0.0 && r["gbps"].as_f64().unwrap() > 0.0, "{r}");
    check_total(&stdout, "auto", &results);
}

#[test]
fn bench_grad_times_resnet50s_input_and_weight_gradients() {
    // Three of ResNet-50's 23 layers (six of its convs): the whole backward at batch 1 takes a
    // minute on a CPU adapter.
    for grad in ["input", "weight"] {
        let args = ["--suite", "resnet50", "--grad", grad, "--batch", "1", "--iters", "1", "--error"];
        let (stdout, results) =
            bench_json(&format!("bench-grad-{grad}"), &[&args[..], &["--layers", "_56x56_k64_"]].concat());
        let names: Vec<&str> = results.iter().map(|r| r["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "resnet50_c64_56x56_k64_1x1_s1_g1_b1",
                "resnet50_c64_56x56_k64_3x3_s1_g1_b1",
                "resnet50_c256_56x56_k64_1x1_s1_g1_b1"
            ]
        );
        let counts: Vec<u64> = results.iter().map(|r| r["count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [1, 3, 2]);
        for r in &results {
            assert_eq!(r["grad"], grad, "{r}");
            assert_eq!((r["n"].as_u64(), r["input_shape"][0].as_u64()), (Some(1), Some(1)), "--batch 1: {r}");
            assert_eq!((r["precision"].as_str(), r["dtype"].as_str()), (Some("highest"), Some("f32")), "{r}");
            assert!(r["max_error"].as_f64().unwrap() < 1e-4, "{r}");
            let algo = r["algo"].as_str().unwrap();
            let want = if grad == "input" { "transpose 1×" } else { "gemm split-K " };
            assert!(algo.starts_with(want), "{r}");
        }
        assert_eq!(results[1]["kernel"].as_u64(), Some(3));
        check_total(&stdout, &format!("{grad} grad"), &results);
    }
    // --precision and --dtype reach both gradients (on an adapter without tensor cores, high
    // runs highest and the record says so).
    let (_, info, _) = run(&["info"]);
    for grad in ["input", "weight"] {
        let args = ["--suite", "resnet50", "--grad", grad, "--batch", "1", "--iters", "1", "--error"];
        let more = ["--precision", "high", "--dtype", "f16", "--layers", "c64_56x56_k64_1x1"];
        let (_, results) = bench_json(&format!("bench-grad-high-{grad}"), &[&args[..], &more].concat());
        let r = &results[0];
        assert_eq!((r["precision"].as_str(), r["dtype"].as_str()), (Some("high"), Some("f16")), "{r}");
        // dx is stored as float16; dw sums f16 data in f32.
        assert!(r["max_error"].as_f64().unwrap() < if grad == "input" { 1e-2 } else { 2e-3 }, "{r}");
        if info.contains("cooperative matrices: none") {
            assert!(r["precision_note"].as_str().is_some_and(|n| n.contains("high")), "{r}");
        }
    }
}

#[test]
fn bench_refuses_options_that_do_not_apply_in_one_line() {
    let dir = scratch("bench-refused");
    let json = dir.join("refused.json");
    for (args, says) in [
        (&["--suite", "dcgan", "--grad", "input"][..], "--grad applies to the conv2d suites"),
        (&["--suite", "whisper", "--grad", "weight"], "not --suite whisper"),
        (&["--suite", "resnet50", "--grad", "input", "--algo", "gemm"], "--algo applies to the forward"),
        (&["--suite", "resnet50", "--grad", "weight", "--kernels"], "--kernels applies to the forward"),
        (&["--suite", "seed", "--grad", "weight", "--tune"], "--tune applies to the forward"),
        (&["--suite", "whisper", "--fuse", "on"], "--fuse is a Winograd option"),
        (&["--suite", "whisper", "--plot", "/dev/null"], "--plot draws time against image side"),
        (&["--suite", "resnet50", "--layers", "no_such_layer"], "matches none of the suite's layers"),
        (&["--suite", "resnet50", "--grad", "bias"], "invalid value 'bias'"),
    ] {
        let (code, _, stderr) = run(&[&["bench"], args, &["--json", json.to_str().unwrap()]].concat());
        assert_ne!(code, 0, "{args:?}");
        let lines = error_lines(&stderr);
        assert!(lines.len() == 1 && lines[0].contains(says), "{args:?}: {stderr}");
        assert!(!json.exists(), "{args:?} wrote the JSON");
    }
    std::fs::remove_dir_all(dir).ok();
}
