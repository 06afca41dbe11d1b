//! `wino` and what it writes to, reads and is configured by (issue #18): devices, FIFOs and
//! `/dev/stdout` written in place and never replaced, read-only files refused, permission bits
//! kept; f32 data beyond float16's range refused for `--dtype f16`; empty batches; and
//! WGPU_BACKEND / WGPU_POWER_PREF values that name nothing wgpu knows.

#[path = "common/cli.rs"]
mod cli_common;

use cli_common::{values, wino, write_f16, write_f32};
use std::path::Path;
use std::process::Command;

fn scratch(test: &str) -> std::path::PathBuf {
    cli_common::scratch("wino-cli-outputs", test)
}

struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// The lines of stderr other than Mesa's XDG_RUNTIME_DIR notice.
    fn lines(&self) -> Vec<&str> {
        self.stderr.lines().filter(|l| !l.contains("XDG_RUNTIME_DIR")).collect()
    }
    /// Exit code 1 and exactly one `wino: error:` line on stderr, the last, which is returned
    /// (progress lines may come before it where the failure follows the GPU work).
    fn one_error(&self, what: &str) -> &str {
        assert_eq!(self.code, 1, "{what}: expected failure\n{}\n{}", self.stdout(), self.stderr);
        let lines = self.lines();
        let errors = lines.iter().filter(|l| l.contains("error")).count();
        assert_eq!(errors, 1, "{what}: expected one error line, got:\n{}", self.stderr);
        let last = lines.last().copied().unwrap_or_default();
        assert!(last.starts_with("wino: error: "), "{what}: {}", self.stderr);
        last
    }
    /// [`Out::one_error`], before any GPU work: the error is the only line.
    fn early_error(&self, what: &str) -> &str {
        let line = self.one_error(what);
        assert_eq!(self.lines().len(), 1, "{what}: expected one line, got:\n{}", self.stderr);
        line
    }
    fn ok(&self, what: &str) {
        assert_eq!(self.code, 0, "{what}: expected success\n{}\n{}", self.stdout(), self.stderr);
    }
}

fn wino_with(args: &[&str], env: &[(&str, &str)]) -> Out {
    let mut cmd = Command::new(wino());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn run(args: &[&str]) -> Out {
    wino_with(args, &[])
}

/// A small convolution on random data: 1×3×8×8 → 1×16×6×6.
const RANDOM: [&str; 3] = ["conv", "--random", "1,3,8,8"];

fn random_to(output: &Path) -> Out {
    run(&[&RANDOM[..], &["--output", output.to_str().unwrap()]].concat())
}

fn npy_shape(bytes: &[u8]) -> Vec<u64> {
    npyz::NpyFile::new(bytes).expect("a valid .npy").shape().to_vec()
}

fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[cfg(unix)]
#[test]
fn output_onto_dev_null_writes_in_place_and_keeps_the_device() {
    use std::os::unix::fs::FileTypeExt;
    let out = random_to(Path::new("/dev/null"));
    out.ok("--output /dev/null");
    let meta = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(meta.file_type().is_char_device(), "/dev/null is no longer a character device: {meta:?}");
    assert!(temporaries(Path::new("/dev")).is_empty(), "temporary files left in /dev");
}

#[cfg(target_os = "linux")]
#[test]
fn output_onto_dev_full_fails_in_one_line() {
    use std::os::unix::fs::FileTypeExt;
    let out = random_to(Path::new("/dev/full"));
    let line = out.one_error("--output /dev/full");
    assert!(line.contains("/dev/full") && line.contains("No space left"), "{line}");
    assert!(std::fs::symlink_metadata("/dev/full").unwrap().file_type().is_char_device());
}

#[cfg(unix)]
#[test]
fn output_into_a_fifo_writes_through_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = scratch("fifo");
    let fifo = dir.join("y.npy");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let fifo = fifo.clone();
        std::thread::spawn(move || tx.send(std::fs::read(fifo).unwrap()).unwrap());
    }
    let out = random_to(&fifo);
    // Checked first: had the FIFO been replaced, its reader would wait for a writer forever.
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(meta.file_type().is_fifo(), "the FIFO was replaced: {meta:?}");
    out.ok("--output FIFO");
    let bytes = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the FIFO's reader got nothing");
    assert_eq!(npy_shape(&bytes), [1, 16, 6, 6]);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    std::fs::remove_dir_all(dir).ok();
}

/// `--output /dev/stdout` into a pipe gives the `.npy` on stdout, and `--verify`'s report moves
/// to stderr so that it does not land inside the file.
#[cfg(target_os = "linux")]
#[test]
fn output_to_dev_stdout_through_a_pipe() {
    let out = run(&[&RANDOM[..], &["--output", "/dev/stdout", "--verify"]].concat());
    out.ok("--output /dev/stdout");
    assert_eq!(npy_shape(&out.stdout), [1, 16, 6, 6]);
    assert!(out.stderr.contains("verify: max relative error") && out.stderr.contains("OK"), "{}", out.stderr);
}

#[cfg(unix)]
#[test]
fn read_only_output_is_refused_before_any_gpu_work() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("readonly");
    let y = dir.join("y.npy");
    std::fs::write(&y, b"keep me").unwrap();
    std::fs::set_permissions(&y, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = random_to(&y);
    let line = out.early_error("read-only --output");
    assert!(line.contains("read-only") && line.contains("0444"), "{line}");
    assert!(!out.stderr.contains("adapter:"), "refused only after the GPU work: {}", out.stderr);
    assert_eq!(std::fs::read(&y).unwrap(), b"keep me");
    assert_eq!(std::fs::metadata(&y).unwrap().permissions().mode() & 0o777, 0o444);
    // Through a symbolic link too.
    let link = dir.join("link.npy");
    std::os::unix::fs::symlink("y.npy", &link).unwrap();
    let line = random_to(&link).early_error("read-only --output through a link").to_string();
    assert!(line.contains("read-only"), "{line}");
    assert_eq!(std::fs::read(&y).unwrap(), b"keep me");
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    std::fs::remove_dir_all(dir).ok();
}

#[cfg(unix)]
#[test]
fn replaced_output_keeps_its_permission_bits() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("mode");
    let y = dir.join("y.npy");
    std::fs::write(&y, b"old").unwrap();
    std::fs::set_permissions(&y, std::fs::Permissions::from_mode(0o640)).unwrap();
    random_to(&y).ok("--output onto a 0640 file");
    assert_eq!(npy_shape(&std::fs::read(&y).unwrap()), [1, 16, 6, 6]);
    assert_eq!(std::fs::metadata(&y).unwrap().permissions().mode() & 0o7777, 0o640);
    // A new file gets the usual mode, and two writes in a row leave no temporary file.
    let new = dir.join("new.npy");
    random_to(&new).ok("--output onto a new file");
    random_to(&new).ok("--output onto it again");
    assert_eq!(npy_shape(&std::fs::read(&new).unwrap()), [1, 16, 6, 6]);
    assert!(temporaries(&dir).is_empty(), "{:?}", temporaries(&dir));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn output_into_a_missing_directory_fails_before_any_gpu_work() {
    let dir = scratch("nodir");
    let out = random_to(&dir.join("missing").join("y.npy"));
    let line = out.early_error("--output into a missing directory");
    assert!(line.contains("does not exist"), "{line}");
    assert!(!out.stderr.contains("adapter:"), "{}", out.stderr);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dtype_f16_refuses_f32_values_beyond_its_range() {
    let dir = scratch("f16-range");
    let (x, w, r, y) = (dir.join("x.npy"), dir.join("w.npy"), dir.join("r.npy"), dir.join("y.npy"));
    let mut big = values(144, 1);
    big[17] = 1.0e5;
    write_f32(&x, &[1, 4, 6, 6], &big);
    write_f32(&w, &[3, 4, 3, 3], &values(108, 2));
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let base =
        ["conv", "--input", &s(&x), "--weight", &s(&w), "--dtype", "f16", "--verify"].map(String::from);
    let args = |extra: &[&str]| -> Vec<String> {
        base.iter().cloned().chain(extra.iter().map(|e| e.to_string())).collect()
    };
    let call = |args: Vec<String>| run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // Before the fix: every output NaN or ±inf, and "verify: max relative error 0.00e0: OK".
    let out = call(args(&["--output", &s(&y)]));
    let line = out.early_error("--dtype f16 with 1e5 in the input");
    assert!(line.contains("float16") && line.contains("65504") && line.contains("input"), "{line}");
    assert!(!out.stdout().contains("OK"), "{}", out.stdout());
    assert!(!y.exists(), "an output was written");
    // A residual is converted to f16 as well.
    write_f32(&x, &[1, 4, 6, 6], &values(144, 1));
    let mut big = values(48, 4);
    big[0] = -7.0e4;
    write_f32(&r, &[1, 3, 4, 4], &big);
    let line =
        call(args(&["--residual", &s(&r)])).early_error("--dtype f16 with -7e4 in the residual").to_string();
    assert!(line.contains("float16") && line.contains("residual"), "{line}");
    // In range it runs and verifies; the f16 output's overflow (3.6e6 > 65504) fails --verify
    // and is a warning without it.
    write_f32(&x, &[1, 4, 6, 6], &[1000.0; 144]);
    write_f32(&w, &[3, 4, 3, 3], &[100.0; 108]);
    let line = call(args(&[])).one_error("--dtype f16 overflowing output").to_string();
    assert!(line.contains("48 of 48") && line.contains("float16"), "{line}");
    let quiet: Vec<String> = args(&[]).into_iter().filter(|a| a != "--verify").collect();
    let out = call(quiet);
    out.ok("--dtype f16 overflowing output without --verify");
    assert!(out.stderr.contains("warning: 48 of 48 output values overflow float16"), "{}", out.stderr);
    // --dtype f32 takes the same large values.
    write_f32(&x, &[1, 4, 6, 6], &[1.0e5; 144]);
    write_f32(&w, &[3, 4, 3, 3], &values(108, 2));
    let f32_args: Vec<String> =
        args(&[]).into_iter().map(|a| if a == "f16" { "f32".into() } else { a }).collect();
    let out = call(f32_args);
    out.ok("--dtype f32 with 1e5 in the input");
    assert!(out.stdout().contains("OK"), "{}", out.stdout());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_empty_batch_gives_an_empty_output() {
    let dir = scratch("empty");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    write_f32(Path::new(&p("x.npy")), &[0, 3, 7, 5], &[]);
    write_f16(Path::new(&p("x16.npy")), &[0, 3, 7, 5], &[]);
    write_f32(Path::new(&p("w.npy")), &[4, 3, 3, 3], &values(108, 2));
    write_f32(Path::new(&p("r.npy")), &[0, 4, 5, 3], &[]);
    write_f32(Path::new(&p("b.npy")), &[4], &values(4, 3));
    let (x, x16, w, r, b, y) = (p("x.npy"), p("x16.npy"), p("w.npy"), p("r.npy"), p("b.npy"), p("y.npy"));
    for (input, extra, descr) in [
        (&x, &[][..], "'<f4'"),
        (&x, &["--residual", &r, "--bias", &b][..], "'<f4'"),
        (&x16, &[][..], "'<f2'"),
        (&x, &["--dtype", "f16"][..], "'<f4'"),
    ] {
        let args =
            [&["conv", "--input", input, "--weight", &w, "--verify", "--output", &y][..], extra].concat();
        let out = run(&args);
        out.ok(&format!("{args:?}"));
        assert!(out.stdout().contains("OK"), "{args:?}: {}", out.stdout());
        let npy = npyz::NpyFile::new(std::fs::File::open(&y).unwrap()).unwrap();
        assert_eq!(npy.shape(), [0, 4, 5, 3], "{args:?}");
        assert_eq!(npy.dtype().descr(), descr, "{args:?}");
        std::fs::remove_file(&y).unwrap();
    }
    let out = run(&["conv", "--random", "0,3,7,5", "--verify", "--output", &y]);
    out.ok("--random 0,3,7,5");
    assert!(out.stderr.contains("→ [0, 16, 5, 3]"), "{}", out.stderr);
    assert_eq!(npy_shape(&std::fs::read(&y).unwrap()), [0, 16, 5, 3]);
    // Only the batch may be empty.
    write_f32(Path::new(&p("c0.npy")), &[1, 0, 7, 5], &[]);
    write_f32(Path::new(&p("w0.npy")), &[0, 3, 3, 3], &[]);
    for (input, weight) in [(p("c0.npy"), w.clone()), (x.clone(), p("w0.npy"))] {
        let out = run(&["conv", "--input", &input, "--weight", &weight]);
        let line = out.early_error(&format!("{input} {weight}"));
        assert!(line.contains("is empty"), "{line}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unknown_wgpu_backend_or_power_preference_is_named() {
    for value in ["garbage", "", "primary", ",,,", "vulkan,nope"] {
        let out = wino_with(&RANDOM, &[("WGPU_BACKEND", value)]);
        let line = out.early_error(&format!("WGPU_BACKEND='{value}'"));
        assert!(line.contains(&format!("WGPU_BACKEND='{value}'")), "{line}");
        assert!(line.contains("vulkan") && line.contains("gl") && line.contains("dx12"), "{line}");
        assert!(!line.contains("or set WGPU_BACKEND"), "{line}");
        let out = wino_with(&["info"], &[("WGPU_BACKEND", value)]);
        assert_eq!(out.code, 1, "wino info with WGPU_BACKEND='{value}'");
        assert!(out.lines().iter().any(|l| l.contains("WGPU_BACKEND=")), "{}", out.stderr);
    }
    for value in ["garbage", "", "highest"] {
        let out = wino_with(&RANDOM, &[("WGPU_POWER_PREF", value)]);
        let line = out.early_error(&format!("WGPU_POWER_PREF='{value}'"));
        assert!(
            line.contains(&format!("WGPU_POWER_PREF='{value}'")) && line.contains("low, high or none"),
            "{line}"
        );
    }
    // The accepted values still work, in any case.
    for value in ["low", "HIGH", "none"] {
        wino_with(&RANDOM, &[("WGPU_POWER_PREF", value)]).ok(&format!("WGPU_POWER_PREF={value}"));
    }
}
