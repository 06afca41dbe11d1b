//! The tune cache: measured Winograd choices per adapter and convolution, kept in a small text
//! file that `auto` reads before its heuristics. Storage only; `tune` does the measuring.
//!
//! One line per adapter and convolution: `adapter<TAB>key<TAB>choice`, where the choice is
//! `winograd M LAYOUT fused|BLOCK` or `gemm BLOCK` (blocks as `64x64x16/8x4`), and the key names
//! everything that changes a plan (shape, channels, kernel, stride, dilation, padding and its
//! mode, groups, dtype, format).
//! The file lives at `$WGPU_WINOGRAD_CACHE` if set, else under the user's cache directory as
//! `wgpu-winograd/tune.tsv`.
//!
//! **Reading.** A process reads the file once, at its first automatic plan. Only a regular file
//! (after following symlinks) of at most [`MAX_CACHE_BYTES`] (16 MiB) is read: the size is
//! checked from the file's metadata and again while reading, and on Linux the file is opened
//! non-blocking, so a FIFO, a device (`/dev/zero`), a directory or an oversize file never blocks
//! or exhausts memory. Anything else is logged with `log::warn!` and read as an empty cache; a
//! missing file is simply empty. Lines that do not parse, or name a choice the current
//! generator cannot build, are skipped.
//!
//! **Writing.** Storing a choice re-reads the file and merges under an exclusive lock on the
//! sidecar file `<cache>.lock` (kept next to the cache, never removed: removing it would let two
//! writers lock different files). The new entry wins for its key; entries other processes wrote
//! meanwhile survive. The merged table goes to a temporary file with a name unique to the
//! process and call (`<cache>.<pid>.<n>.<nanos>.tmp`, same directory), is synced, and renamed over
//! the cache, so readers see the old file or the new one, never half of one. Concurrent tuners
//! on one cache therefore keep every result. The in-memory table takes the merged entries too.
//! If the cache path exists and is not a regular file, storing fails with [`Error::Io`] and
//! leaves it alone. On a file system without locks (`lock` reports unsupported) the merge goes
//! ahead unlocked, with a warning.
// Writing is `tune`'s, which needs the blocking API (feature `blocking`).
#![cfg_attr(not(feature = "blocking"), allow(dead_code))]

use crate::desc::{Conv2dDesc, WINOGRAD_TILES};
use crate::error::{Error, Result};
use crate::plan::Choice;
use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The largest tune cache read or written, in bytes (16 MiB: some hundred thousand lines). A
/// larger file is ignored with a warning.
pub(crate) const MAX_CACHE_BYTES: u64 = 16 << 20;

/// Where the cache file lives.
///
/// The file is read only if it is a regular file (symlinks followed) of at most 16 MiB; a FIFO,
/// device, directory or larger file is ignored with a warning. Concurrent processes may tune
/// into one cache: each store merges into the current file under a lock on `<cache>.lock` and
/// replaces it by an atomic rename, so every process's results survive.
pub fn cache_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WGPU_WINOGRAD_CACHE") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let base = if cfg!(target_os = "macos") {
        home.map(|h| h.join("Library/Caches"))
    } else if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or(home.map(|h| h.join(".cache")))
    };
    base.map(|b| b.join("wgpu-winograd").join("tune.tsv"))
}

/// The adapter part of a key.
pub(crate) fn adapter_key(info: &wgpu::AdapterInfo) -> String {
    format!("{} {:?} {}", info.name, info.backend, info.driver_info).replace('\t', " ")
}

/// The convolution part of a key: everything that changes a plan.
pub(crate) fn conv_key(desc: &Conv2dDesc, [n, c, h, w]: [usize; 4]) -> String {
    let p = desc.padding;
    format!(
        "n{n}_c{c}_h{h}_w{w}_k{}_r{}x{}_s{}x{}_d{}x{}_p{}.{}.{}.{}{}_g{}_{}_{}{}",
        desc.out_channels,
        desc.kernel[0],
        desc.kernel[1],
        desc.stride[0],
        desc.stride[1],
        desc.dilation[0],
        desc.dilation[1],
        p.top,
        p.bottom,
        p.left,
        p.right,
        desc.padding_mode,
        desc.groups,
        desc.dtype,
        desc.data_format,
        // A `high` measurement (tensor blocks among the candidates) says nothing about
        // `highest`; the default keeps the keys of earlier caches.
        match desc.precision {
            crate::desc::Precision::Highest => "",
            crate::desc::Precision::High => "_high",
        }
    )
}

type Table = HashMap<(String, String), Choice>;

fn parse(text: &str) -> Table {
    let mut table = Table::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [adapter, key, choice] = f[..] else { continue };
        let Ok(choice) = choice.parse::<Choice>() else { continue };
        // Only choices the current generator can build are trusted.
        let trusted = match choice {
            Choice::Gemm(engine) => engine.catalogued(),
            Choice::Winograd { m, kernels, .. } => {
                WINOGRAD_TILES.iter().any(|t| t.0 == m) && kernels.engine().is_none_or(|e| e.catalogued())
            }
        };
        if trusted {
            table.insert((adapter.into(), key.into()), choice);
        }
    }
    table
}

fn format_line((adapter, key): &(String, String), t: &Choice) -> String {
    format!("{adapter}\t{key}\t{t}")
}

fn table() -> &'static Mutex<Table> {
    static TABLE: OnceLock<Mutex<Table>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(cache_path().map(|p| load(&p)).unwrap_or_default()))
}

/// The cache at `path` as a table: empty if it is missing, and empty with a warning if it is
/// not a regular file, too large or unreadable. Never blocks.
fn load(path: &Path) -> Table {
    match read_cache(path) {
        Ok(text) => parse(&text),
        Err(e) => {
            log::warn!("ignoring the tune cache {}: {e}", path.display());
            Table::new()
        }
    }
}

/// The cache file's text under the reading rules (module docs); `""` if there is no file.
fn read_cache(path: &Path) -> std::io::Result<String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    check_regular(&meta)?;
    let file = match open_nonblocking(OpenOptions::new().read(true), path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(e),
    };
    // The path may have been replaced between the two looks: what was opened is what counts.
    check_regular(&file.metadata()?)?;
    let bytes = read_capped(file)?;
    // A line with bad bytes fails to parse and is skipped, like any other bad line.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Everything `r` yields, or an error once it passes `MAX_CACHE_BYTES` (a file that grows, or
/// one whose metadata says less than it holds).
fn read_capped(r: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(MAX_CACHE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_CACHE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

fn check_regular(meta: &std::fs::Metadata) -> std::io::Result<()> {
    if !meta.is_file() {
        return Err(std::io::Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    if meta.len() > MAX_CACHE_BYTES {
        return Err(too_large());
    }
    Ok(())
}

fn too_large() -> std::io::Error {
    std::io::Error::new(ErrorKind::InvalidData, format!("larger than {MAX_CACHE_BYTES} bytes"))
}

/// Opens without blocking on a FIFO that has no writer (Linux; elsewhere the metadata check
/// before opening stands alone).
fn open_nonblocking(options: &mut OpenOptions, path: &Path) -> std::io::Result<File> {
    #[cfg(all(
        target_os = "linux",
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000;
        options.custom_flags(O_NONBLOCK);
    }
    options.open(path)
}

/// The cached choice for this adapter and convolution, if `tune` has run for it.
pub(crate) fn lookup(adapter: &str, key: &str) -> Option<Choice> {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.get(&(adapter.to_string(), key.to_string())).copied()
}

/// Records a choice and merges it into the cache file (module docs: locked, merged, written to
/// a unique temporary file and renamed, so a crash never leaves a half-written cache and
/// concurrent tuners keep each other's results).
pub(crate) fn store(adapter: String, key: String, choice: Choice) -> Result<()> {
    store_in(table(), cache_path().as_deref(), (adapter, key), choice)
}

/// `store` on a given table and cache path (`None`: memory only).
fn store_in(table: &Mutex<Table>, path: Option<&Path>, key: (String, String), choice: Choice) -> Result<()> {
    let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
    let Some(path) = path else {
        t.insert(key, choice);
        return Ok(());
    };
    match merge_into_file(path, key.clone(), choice) {
        Ok(merged) => {
            // What the file holds now wins over what this process read earlier; entries only
            // this process knows (an earlier store that failed) stay in memory.
            t.extend(merged);
            Ok(())
        }
        Err(e) => {
            t.insert(key, choice);
            Err(e)
        }
    }
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Fails if `path` exists and is not a regular file (after following symlinks).
fn refuse_non_regular(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Err(Error::Io(format!(
            "the tune cache {what} {} exists and is not a regular file; not replaced",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Re-reads the cache at `path` under its lock, sets `key` to `choice`, and replaces the file
/// atomically. Returns the merged table.
fn merge_into_file(path: &Path, key: (String, String), choice: Choice) -> Result<Table> {
    let io = |e: std::io::Error| Error::Io(format!("writing the tune cache {}: {e}", path.display()));
    refuse_non_regular(path, "path")?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let lock_path = sibling(path, ".lock");
    refuse_non_regular(&lock_path, "lock file")?;
    let lock =
        open_nonblocking(OpenOptions::new().read(true).write(true).create(true).truncate(false), &lock_path)
            .map_err(io)?;
    match lock.lock() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::Unsupported => {
            log::warn!("tune cache {}: no file locks here ({e}); merging unlocked", path.display())
        }
        Err(e) => return Err(io(e)),
    }
    // Checked again under the lock: another process may have put something there.
    refuse_non_regular(path, "path")?;
    let mut merged = match read_cache(path) {
        Ok(text) => parse(&text),
        Err(e) => {
            log::warn!("tune cache {}: replacing an unreadable file: {e}", path.display());
            Table::new()
        }
    };
    merged.insert(key, choice);
    let mut lines: Vec<String> = merged.iter().map(|(k, v)| format_line(k, v)).collect();
    lines.sort();
    let text = lines.join("\n") + "\n";
    if text.len() as u64 > MAX_CACHE_BYTES {
        return Err(Error::Io(format!(
            "the tune cache {} would exceed {MAX_CACHE_BYTES} bytes; not written",
            path.display()
        )));
    }
    write_atomically(path, &text).map_err(io)?;
    // Dropping the handle releases the lock too; unlocking first says when.
    let _ = lock.unlock();
    Ok(merged)
}

/// Writes `text` to a temporary file unique to this process and call, next to `path`, and
/// renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = sibling(path, &format!(".{}.{n}.{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::{Engine, GemmBlock, TensorBlock};
    use crate::desc::TileLayout;
    use crate::plan::WinogradKernels;

    #[test]
    fn cache_lines_round_trip_and_reject_unknown_blocks() {
        let b = GemmBlock::B64_SHALLOW;
        let text = format!(
            "gpu\tshape\twinograd 4 r_6_6_16 {b}\ngpu\tother\twinograd 4 r_6_6_16 16x16x16/4x4\nbroken line\n\
             gpu\tsmall\twinograd 2 r_16_6_6 fused\ngpu\tone\tgemm 128x64x16/8x4\ngpu\told\t4\tr_6_6_16\tfused\n"
        );
        let t = parse(&text);
        assert_eq!(t.len(), 3);
        let tiled = Choice::Winograd {
            m: 4,
            layout: TileLayout::R6_6_16,
            kernels: WinogradKernels::Separate(Engine::Registers(b)),
        };
        assert_eq!(t[&("gpu".into(), "shape".into())], tiled);
        assert_eq!(format_line(&("gpu".into(), "shape".into()), &tiled), text.lines().next().unwrap());
        let fused = Choice::Winograd { m: 2, layout: TileLayout::R16_6_6, kernels: WinogradKernels::Fused };
        assert_eq!(t[&("gpu".into(), "small".into())], fused);
        assert_eq!(t[&("gpu".into(), "one".into())], Choice::Gemm(Engine::Registers(GemmBlock::B128X64)));
    }

    #[test]
    fn caches_written_before_engines_still_read() {
        // The spellings of `Tuned`, before `Choice`: a GEMM on cooperative matrices was
        // `tensor BLOCK`; it is now `gemm BLOCK`, and both read as the same choice.
        let text = "gpu\ta\tgemm 128x64x16/8x4\ngpu\tb\ttensor 128x128x32/w2x2/m16\n\
                    gpu\tc\twinograd 2 r_16_6_6 64x64x32/w2x2/m16\ngpu\td\twinograd 4 r_6_6_16 64x64x16/8x4\n\
                    gpu\te\twinograd 2 r_16_6_6 fused\ngpu\tf\ttensor 64x64x16/8x4\n";
        let t = parse(text);
        let at = |k: &str| t.get(&("gpu".to_string(), k.to_string())).copied();
        assert_eq!(at("a"), Some(Choice::Gemm(Engine::Registers(GemmBlock::B128X64))));
        let coop = Choice::Gemm(Engine::Coop(TensorBlock::T128));
        assert_eq!(at("b"), Some(coop));
        assert_eq!(coop.to_string(), "gemm 128x128x32/w2x2/m16");
        assert_eq!(coop.to_string().parse::<Choice>().unwrap(), coop);
        let kernels = WinogradKernels::Separate(Engine::Coop(TensorBlock::T64));
        assert_eq!(at("c"), Some(Choice::Winograd { m: 2, layout: TileLayout::R16_6_6, kernels }));
        let kernels = WinogradKernels::Separate(Engine::Registers(GemmBlock::B64));
        assert_eq!(at("d"), Some(Choice::Winograd { m: 4, layout: TileLayout::R6_6_16, kernels }));
        let kernels = WinogradKernels::Fused;
        assert_eq!(at("e"), Some(Choice::Winograd { m: 2, layout: TileLayout::R16_6_6, kernels }));
        assert_eq!(at("f"), None, "`tensor` names a tensor block only");
        for line in text.lines().take(5) {
            let choice: Choice = line.split('\t').nth(2).unwrap().parse().unwrap();
            assert_eq!(choice.to_string().parse::<Choice>().unwrap(), choice, "{line}");
        }
    }

    #[test]
    fn keys_tell_apart_everything_that_changes_a_plan() {
        let d = Conv2dDesc::new(64, 64, 3, 1);
        let shape = [1, 64, 32, 32];
        let key = conv_key(&d, shape);
        for other in [
            Conv2dDesc { stride: [2, 2], ..d.clone() },
            Conv2dDesc { dilation: [2, 2], ..d.clone() },
            Conv2dDesc { groups: 2, ..d.clone() },
            Conv2dDesc::new(64, 64, 3, 2),
            Conv2dDesc { precision: crate::desc::Precision::High, ..d.clone() },
        ] {
            assert_ne!(conv_key(&other, shape), key);
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wgpu-winograd-tuned-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn gemm() -> Choice {
        Choice::Gemm(Engine::Registers(GemmBlock::B128X64))
    }

    fn key(i: usize) -> (String, String) {
        ("gpu".into(), format!("conv{i}"))
    }

    #[cfg(unix)]
    fn mkfifo(path: &Path) {
        let ok = std::process::Command::new("mkfifo").arg(path).status().unwrap().success();
        assert!(ok, "mkfifo {}", path.display());
    }

    #[cfg(unix)]
    /// Runs `f` on a thread; panics if it takes more than 10 s (a blocked open or read).
    fn promptly<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap_or_else(|_| panic!("{what} blocked"))
    }

    #[test]
    fn concurrent_stores_merge_and_keep_every_entry() {
        let dir = scratch("concurrent");
        let path = dir.join("sub").join("tune.tsv");
        let (writers, each) = (8, 6);
        // Each thread has a table of its own, as a process would.
        let tables: Vec<Mutex<Table>> = (0..writers).map(|_| Mutex::new(Table::new())).collect();
        std::thread::scope(|s| {
            for (w, table) in tables.iter().enumerate() {
                let path = &path;
                s.spawn(move || {
                    for i in 0..each {
                        store_in(table, Some(path), key(w * each + i), gemm()).unwrap();
                    }
                });
            }
        });
        let t = load(&path);
        assert_eq!(t.len(), writers * each, "{}", std::fs::read_to_string(&path).unwrap());
        for (w, table) in tables.iter().enumerate() {
            let table = table.lock().unwrap();
            assert!((0..each).all(|i| table.contains_key(&key(w * each + i))), "writer {w} forgot its own");
        }
        // The last writer's table holds everything; no temporary file is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_store_keeps_what_others_wrote_and_its_table_learns_it() {
        let dir = scratch("sync");
        let path = dir.join("tune.tsv");
        let other = Choice::Gemm(Engine::Registers(GemmBlock::B64_SHALLOW));
        // Another process wrote conv0 and conv1; this one read conv1 long ago, differently.
        merge_into_file(&path, key(0), other).unwrap();
        merge_into_file(&path, key(1), other).unwrap();
        let mine = Mutex::new(Table::from([(key(1), gemm()), (key(9), gemm())]));
        store_in(&mine, Some(&path), key(2), gemm()).unwrap();
        let file = load(&path);
        assert_eq!(file.len(), 3);
        assert_eq!((file[&key(0)], file[&key(1)], file[&key(2)]), (other, other, gemm()));
        let mine = mine.into_inner().unwrap();
        assert_eq!((mine[&key(0)], mine[&key(1)], mine[&key(2)]), (other, other, gemm()));
        assert_eq!(mine[&key(9)], gemm(), "memory-only entries stay in memory");
        // The new entry wins for its key.
        store_in(&Mutex::new(Table::new()), Some(&path), key(0), gemm()).unwrap();
        assert_eq!(load(&path)[&key(0)], gemm());
        std::fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn the_reader_never_blocks_on_a_fifo() {
        let dir = scratch("fifo");
        let fifo = dir.join("tune.tsv");
        mkfifo(&fifo);
        let f = fifo.clone();
        let err = promptly("reading a FIFO", move || read_cache(&f)).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let f = fifo.clone();
        assert!(promptly("loading a FIFO", move || load(&f)).is_empty());
        // A symlink to it is followed and refused the same way.
        let link = dir.join("link.tsv");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        assert!(promptly("loading a link to a FIFO", move || load(&link)).is_empty());
        std::fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn the_reader_refuses_devices_directories_and_oversize_files() {
        let zero = promptly("reading /dev/zero", || read_cache(Path::new("/dev/zero")));
        assert!(zero.unwrap_err().to_string().contains("not a regular file"));
        assert!(promptly("loading /dev/zero", || load(Path::new("/dev/zero"))).is_empty());
        let dir = scratch("refuse");
        assert!(read_cache(&dir).is_err() && load(&dir).is_empty(), "a directory");
        let big = dir.join("big.tsv");
        let line = format!("gpu\tshape\t{}\n", gemm());
        std::fs::write(&big, &line).unwrap();
        assert_eq!(load(&big).len(), 1);
        // Sparse: the size is refused from the metadata, before anything is read.
        File::options().write(true).open(&big).unwrap().set_len(MAX_CACHE_BYTES + 1).unwrap();
        assert!(read_cache(&big).unwrap_err().to_string().contains("larger than"));
        assert!(load(&big).is_empty());
        // A source that says nothing of its size is cut off at the cap while reading.
        let endless = read_capped(std::io::repeat(b'x')).unwrap_err();
        assert!(endless.to_string().contains("larger than"), "{endless}");
        assert_eq!(read_capped(line.as_bytes()).unwrap(), line.as_bytes());
        // Missing is simply empty.
        assert_eq!(read_cache(&dir.join("missing.tsv")).unwrap(), "");
        std::fs::remove_dir_all(dir).ok();
    }

    #[cfg(unix)]
    #[test]
    fn the_writer_never_replaces_what_is_not_a_regular_file() {
        let dir = scratch("writer");
        let fifo = dir.join("fifo.tsv");
        mkfifo(&fifo);
        let sub = dir.join("a-directory");
        std::fs::create_dir(&sub).unwrap();
        for target in [fifo.clone(), sub.clone(), PathBuf::from("/dev/null")] {
            let t = target.clone();
            let table = Mutex::new(Table::new());
            let r = promptly("storing", move || store_in(&table, Some(&t), key(0), gemm()));
            assert!(matches!(&r, Err(Error::Io(m)) if m.contains("not a regular file")), "{target:?}: {r:?}");
        }
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO is still there");
        assert!(std::fs::metadata(&sub).unwrap().is_dir());
        // A lock path that is not a regular file is refused too, without blocking.
        let path = dir.join("tune.tsv");
        mkfifo(&sibling(&path, ".lock"));
        let r = promptly("locking", move || merge_into_file(&path, key(0), gemm()));
        assert!(matches!(&r, Err(Error::Io(m)) if m.contains("lock file")), "{r:?}");
        std::fs::remove_dir_all(dir).ok();
    }
}
