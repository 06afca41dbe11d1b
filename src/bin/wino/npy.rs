//! `.npy` files in and out: reading little-endian float32/float16 C-order arrays through npyz,
//! with the header's size checked against the file and the device before any data is read, and
//! writing results atomically (temporary file beside the target, then a rename), through
//! symbolic links and never onto one of the command's own inputs, and devices, FIFOs and
//! `/dev/stdout` in place.

use crate::{quietly, Res};
use npyz::WriterBuilder;
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use wgpu_winograd::{DataFormat, WeightFormat};

/// A float array from a `.npy` file (or made up): its stored shape, its values as f32, and
/// whether the file held float16.
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
    pub f16: bool,
}

/// What an array is for: its axes give the rank checked and the words used in errors.
pub struct Role {
    what: &'static str,
    axes: &'static str,
    /// An activation: its first axis is the batch, which may be 0 (an empty batch gives an
    /// empty output, as in PyTorch); every other axis must be positive.
    batch: bool,
}

impl Role {
    pub const BIAS: Role = Role { what: "bias", axes: "K", batch: false };

    pub fn input(f: DataFormat) -> Role {
        Role { what: "input", axes: if f == DataFormat::Nhwc { "N,H,W,C" } else { "N,C,H,W" }, batch: true }
    }
    pub fn residual(f: DataFormat) -> Role {
        Role {
            what: "residual",
            axes: if f == DataFormat::Nhwc { "N,OH,OW,K" } else { "N,K,OH,OW" },
            batch: true,
        }
    }
    /// The gradient of a convolution's output (`wino grad --grad-output`).
    pub fn grad_output(f: DataFormat) -> Role {
        Role {
            what: "grad-output",
            axes: if f == DataFormat::Nhwc { "N,OH,OW,K" } else { "N,K,OH,OW" },
            batch: true,
        }
    }
    pub fn weight(f: WeightFormat) -> Role {
        Role {
            what: "weight",
            axes: if f == WeightFormat::Hwio { "KH,KW,C/groups,K" } else { "K,C/groups,KH,KW" },
            batch: false,
        }
    }
    /// A conv1d's input `N,C,L` (or `N,L,C`), residual and weights `K,C/groups,R` (or `R,C/groups,K`).
    pub fn input1d(nlc: bool) -> Role {
        Role { what: "input", axes: if nlc { "N,L,C" } else { "N,C,L" }, batch: true }
    }
    pub fn residual1d(nlc: bool) -> Role {
        Role { what: "residual", axes: if nlc { "N,OL,K" } else { "N,K,OL" }, batch: true }
    }
    pub fn weight1d(wio: bool) -> Role {
        Role { what: "weight", axes: if wio { "R,C/groups,K" } else { "K,C/groups,R" }, batch: false }
    }
    /// A transposed convolution's weights, PyTorch's layout.
    pub const TRANSPOSE_WEIGHT: Role = Role { what: "weight", axes: "C,K/groups,KH,KW", batch: false };
    fn rank(&self) -> usize {
        self.axes.split(',').count()
    }
}

/// The rank of an `.npy` file's array, from its header (which picks conv1d or conv2d).
pub fn rank(path: &Path) -> Res<usize> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("cannot read input file {name}: {e}"))?;
    let header = quietly(|| npyz::NpyHeader::from_reader(&mut BufReader::new(file)))
        .ok_or_else(|| format!("{name}: not a valid .npy file: the header's shape overflows"))?
        .map_err(|e| format!("{name}: not a valid .npy file: {}", npyz_message(&e)))?;
    Ok(header.shape().len())
}

/// Reads a little-endian float32 or float16, C-order `.npy` of the role's rank. The size the
/// header promises is checked against the file's length and `max_bytes` (the device's largest
/// buffer) before anything is allocated from it.
pub fn read_npy(path: &Path, role: &Role, max_bytes: u64) -> Res<Array> {
    let name = path.display();
    let cannot = |e: &dyn Display| format!("cannot read {} file {name}: {e}", role.what);
    let file = File::open(path).map_err(|e| cannot(&e))?;
    let meta = file.metadata().map_err(|e| cannot(&e))?;
    if !meta.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    let mut reader = BufReader::new(file);
    let invalid = |e: &dyn Display| format!("{name}: not a valid .npy file: {e}");
    // npyz multiplies the header's dimensions unchecked: an overflow panics in debug builds.
    let header = quietly(|| npyz::NpyHeader::from_reader(&mut reader))
        .ok_or_else(|| invalid(&"the header's shape overflows"))?
        .map_err(|e| invalid(&npyz_message(&e)))?;
    let available = meta.len().saturating_sub(reader.stream_position().map_err(|e| cannot(&e))?);
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let f16 = match header.dtype() {
        npyz::DType::Plain(t) if t.to_string() == "<f4" => false,
        npyz::DType::Plain(t) if t.to_string() == "<f2" => true,
        other => {
            let expected = "expected little-endian float32 ('<f4') or float16 ('<f2')";
            return Err(format!("{name}: {} array of shape {shape:?}; {expected}", dtype_name(&other)));
        }
    };
    if header.order() != npyz::Order::C {
        return Err(format!("{name}: Fortran-ordered array; expected C order (np.ascontiguousarray)"));
    }
    if shape.len() != role.rank() {
        return Err(format!(
            "{name}: {} array of shape {shape:?} has rank {}; expected rank {} ({})",
            role.what,
            shape.len(),
            role.rank(),
            role.axes
        ));
    }
    let item = if f16 { 2 } else { 4 };
    let len = check_data_size(&name, role, header.shape(), item, available, max_bytes)?;
    let mut data: Vec<f32> = Vec::new();
    data.try_reserve_exact(len).map_err(|_| {
        format!("{name}: cannot allocate {} bytes of host memory for the {}", len as u64 * 4, role.what)
    })?;
    let npy = npyz::NpyFile::with_header(header, reader);
    let unreadable = |e: &dyn Display| format!("{name}: unreadable data: {e}");
    if f16 {
        for v in npy.data::<half::f16>().map_err(|e| unreadable(&e))? {
            data.push(v.map_err(|e| unreadable(&e))?.into());
        }
    } else {
        for v in npy.data::<f32>().map_err(|e| unreadable(&e))? {
            data.push(v.map_err(|e| unreadable(&e))?);
        }
    }
    Ok(Array { shape, data, f16 })
}

/// Refuses empty arrays (an activation's empty batch aside), shapes that need more data bytes
/// than the file holds and arrays larger than a device buffer; returns the element count.
fn check_data_size(
    name: &dyn Display,
    role: &Role,
    shape: &[u64],
    item_bytes: u64,
    available: u64,
    max_bytes: u64,
) -> Res<usize> {
    let what = role.what;
    let from = if role.batch { 1 } else { 0 };
    if shape.get(from..).is_some_and(|rest| rest.contains(&0)) {
        let batch = if role.batch { " (only the batch N may be 0)" } else { "" };
        return Err(format!("{name}: the {what} array of shape {shape:?} is empty{batch}"));
    }
    let needed = shape.iter().try_fold(item_bytes, |acc, &d| acc.checked_mul(d));
    match needed {
        Some(n) if n > available => Err(format!(
            "{name}: truncated: shape {shape:?} needs {n} data bytes but the file holds {available}"
        )),
        Some(n) if n <= max_bytes => Ok((n / item_bytes) as usize),
        _ => Err(format!(
            "{name}: the {what} of shape {shape:?} needs {} bytes, more than the {max_bytes} a GPU buffer holds",
            needed.map_or("more than 2^64".into(), |n| n.to_string())
        )),
    }
}

/// An npyz error without the source excerpt of its parser diagnostics (`1 | {'descr': …`).
fn npyz_message(e: &io::Error) -> String {
    let excerpt =
        |l: &str| l.starts_with('|') || l.split_once(" |").is_some_and(|(n, _)| n.parse::<u32>().is_ok());
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !excerpt(l)).collect();
    lines.join(" ")
}

/// `float64 ('<f8')`, `big-endian float32 ('>f4')`, `structured`…
fn dtype_name(dtype: &npyz::DType) -> String {
    let npyz::DType::Plain(t) = dtype else { return "structured (record)".into() };
    let kind = match t.type_char().to_str() {
        "f" => "float",
        "i" => "int",
        "u" => "uint",
        "b" => "bool",
        "c" => "complex",
        _ => return format!("'{t}'"),
    };
    let order = if t.to_string().starts_with('>') { "big-endian " } else { "" };
    format!("{order}{kind}{} ('{t}')", t.size_field() * 8)
}

/// Writes `data` as a float16 or float32 `.npy` of `shape`.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32], f16: bool) -> Res<()> {
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    write_atomically(path, |w| {
        if f16 {
            npy_body(w, &shape, data.iter().map(|&v| half::f16::from_f32(v)))
        } else {
            npy_body(w, &shape, data.iter().copied())
        }
    })
}

fn npy_body<T: npyz::AutoSerialize>(
    w: &mut dyn Write,
    shape: &[u64],
    data: impl Iterator<Item = T>,
) -> io::Result<()> {
    let mut out = npyz::WriteOptions::new().default_dtype().shape(shape).writer(w).begin_nd()?;
    out.extend(data)?;
    out.finish()
}

/// Where writing `path` lands: symbolic links followed to their final target, which need not
/// exist yet.
fn resolve_target(path: &Path) -> Res<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let link =
                    std::fs::read_link(&p).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                // A relative link is relative to its own directory; an absolute one replaces it.
                p = p.parent().map_or_else(|| link.clone(), |dir| dir.join(&link));
            }
            _ => return Ok(p),
        }
    }
    Err(format!("cannot write {}: too many levels of symbolic links", path.display()))
}

/// What writing to a path meets: a regular file (or nothing yet), replaced atomically at the
/// resolved `target`, or something else (a device, a FIFO, `/dev/stdout`), written in place.
enum Destination {
    /// Replace `target` (symbolic links followed); `existing` is the file there, if any.
    Replace { target: PathBuf, existing: Option<std::fs::Metadata> },
    /// Open the path itself for writing, truncating only a regular file, never creating,
    /// renaming or removing anything.
    InPlace { regular: bool },
}

/// Where and how `path` is written. `std::fs::metadata` follows links the way the kernel does,
/// `/proc/self/fd/N` magic links included, so it decides what the path is; a regular file is
/// replaced atomically only where following the links by name reaches that very file (else it
/// is written in place, as through `/dev/stdout` redirected to a file). An existing regular
/// file without any write permission bit is refused (root's access checks would pass).
fn destination(path: &Path) -> Res<Destination> {
    let cannot = |e: &dyn Display| format!("cannot write {}: {e}", path.display());
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Destination::Replace { target: resolve_target(path)?, existing: None })
        }
        Err(e) => return Err(cannot(&e)),
    };
    if meta.is_dir() {
        return Err(cannot(&"it is a directory"));
    }
    if !meta.is_file() {
        return Ok(Destination::InPlace { regular: false });
    }
    if read_only(&meta) {
        return Err(cannot(&format!(
            "the file is read-only ({}); refusing to replace it (make it writable, or remove it, first)",
            mode_text(&meta)
        )));
    }
    let target = resolve_target(path)?;
    match std::fs::symlink_metadata(&target) {
        Ok(t) if same_file(&t, &meta) => Ok(Destination::Replace { target, existing: Some(meta) }),
        _ => Ok(Destination::InPlace { regular: true }),
    }
}

#[cfg(unix)]
fn read_only(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o222 == 0
}
#[cfg(not(unix))]
fn read_only(meta: &std::fs::Metadata) -> bool {
    meta.permissions().readonly()
}

#[cfg(unix)]
fn mode_text(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!("mode {:04o}", meta.permissions().mode() & 0o7777)
}
#[cfg(not(unix))]
fn mode_text(_: &std::fs::Metadata) -> String {
    "read-only attribute".into()
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}
#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.is_file() && b.is_file() && a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Whether `path` is what this process's standard output writes to (so that text printed there
/// would land inside the file).
#[cfg(unix)]
pub fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else { return false };
    match (File::from(fd).metadata(), std::fs::metadata(path)) {
        (Ok(out), Ok(p)) => same_file(&out, &p),
        _ => false,
    }
}
#[cfg(not(unix))]
pub fn is_stdout(_: &Path) -> bool {
    false
}

/// Temporary names are unique per process and call: `.NAME.PID.N.tmp`.
static TMP_COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Writes `path`. A regular file (or a new one) is written to a fresh `.NAME.PID.N.tmp` beside
/// its target (symbolic links followed, so a link stays a link), synced, given the replaced
/// file's permission bits and renamed onto it; the temporary file is removed on failure. A
/// read-only file is refused. Anything else that exists (a character or block device such as
/// `/dev/null`, a FIFO, `/dev/stdout`) is opened and written in place, never replaced; its
/// errors (`/dev/full`: no space left) are reported.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Res<()> {
    let cannot = |e: &dyn Display| format!("cannot write {}: {e}", path.display());
    match destination(path)? {
        Destination::InPlace { regular } => {
            let file = std::fs::OpenOptions::new().write(true).truncate(regular).open(path);
            file.and_then(|file| {
                let mut w = BufWriter::new(file);
                write(&mut w)?;
                let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
                // Devices and pipes have nothing to sync (fsync fails with EINVAL on a pipe).
                if regular {
                    file.sync_all()?;
                }
                Ok(())
            })
            .map_err(|e| cannot(&e))
        }
        Destination::Replace { target, existing } => {
            replace(&target, existing.as_ref(), write).map_err(|e| cannot(&e))
        }
    }
}

/// Writes a fresh temporary file beside `target` and renames it onto `target`.
fn replace(
    target: &Path,
    existing: Option<&std::fs::Metadata>,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let name = target.file_name().ok_or_else(|| io::Error::other("not a file name"))?;
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = target.with_file_name(format!(".{}.{}.{n}.tmp", name.to_string_lossy(), std::process::id()));
    // create_new: never onto something already there, whatever its name.
    let file = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let result = (|| {
        if let Some(old) = existing {
            keep_owner_and_mode(&file, old)?;
        }
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()?;
        std::fs::rename(&tmp, target)?;
        sync_dir(target);
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Gives the temporary file the replaced file's permission bits (exactly, whatever the umask)
/// and, where this process may, its owner and group.
fn keep_owner_and_mode(file: &File, old: &std::fs::Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // Only root may give a file away; anyone else keeps the file theirs.
        let _ = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid()));
    }
    file.set_permissions(old.permissions())
}

/// Makes a rename durable (best effort: not every platform or file system syncs a directory).
fn sync_dir(target: &Path) {
    #[cfg(unix)]
    if let Some(dir) = target.parent() {
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = target;
}

/// Fails early, before any GPU work, where writing `path` would fail at the end: a directory, a
/// read-only file, a missing directory or one that a file cannot be created in, or the same file
/// as one of `inputs` (`(flag, path)`). Devices, FIFOs and `/dev/stdout` pass untouched (opening
/// a FIFO here would wait for its reader).
pub fn check_output(path: &Path, inputs: &[(&str, &Path)]) -> Res<()> {
    let target = match destination(path)? {
        Destination::InPlace { .. } => return Ok(()),
        Destination::Replace { target, .. } => target,
    };
    let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("cannot write {}: directory {} does not exist", path.display(), dir.display()));
    }
    if let Ok(out) = std::fs::canonicalize(&target) {
        for (flag, input) in inputs {
            if std::fs::canonicalize(input).is_ok_and(|i| i == out) {
                return Err(format!(
                    "--output {} is the same file as {flag} {}; refusing to overwrite an input",
                    path.display(),
                    input.display()
                ));
            }
        }
    }
    // The temporary file the write will need: a read-only file system or directory shows here.
    let n = TMP_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = dir.join(format!(".wino-probe.{}.{n}.tmp", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => {
            Err(format!("cannot write {}: cannot create a file in {}: {e}", path.display(), dir.display()))
        }
    }
}
