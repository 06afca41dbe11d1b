//! `.npy` files in and out: reading little-endian float32/float16 C-order arrays through npyz,
//! with the header's size checked against the file and the device before any data is read, and
//! writing results atomically (temporary file beside the target, then a rename), through
//! symbolic links and never onto one of the command's own inputs.

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
}

impl Role {
    pub const BIAS: Role = Role { what: "bias", axes: "K" };

    pub fn input(f: DataFormat) -> Role {
        Role { what: "input", axes: if f == DataFormat::Nhwc { "N,H,W,C" } else { "N,C,H,W" } }
    }
    pub fn residual(f: DataFormat) -> Role {
        Role { what: "residual", axes: if f == DataFormat::Nhwc { "N,OH,OW,K" } else { "N,K,OH,OW" } }
    }
    pub fn weight(f: WeightFormat) -> Role {
        Role {
            what: "weight",
            axes: if f == WeightFormat::Hwio { "KH,KW,C/groups,K" } else { "K,C/groups,KH,KW" },
        }
    }
    fn rank(&self) -> usize {
        self.axes.split(',').count()
    }
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
    let len = check_data_size(&name, role.what, header.shape(), item, available, max_bytes)?;
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

/// Refuses empty arrays, shapes that need more data bytes than the file holds and arrays larger
/// than a device buffer; returns the element count.
fn check_data_size(
    name: &dyn Display,
    what: &str,
    shape: &[u64],
    item_bytes: u64,
    available: u64,
    max_bytes: u64,
) -> Res<usize> {
    if shape.contains(&0) {
        return Err(format!("{name}: the array of shape {shape:?} is empty"));
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

/// Writes to `.NAME.PID.tmp` beside the target of `path` (symbolic links followed) and renames
/// it onto the target, so a link stays a link; removes the temporary file on failure.
pub fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Res<()> {
    let target = resolve_target(path)?;
    let file_name = target.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let tmp = target.with_file_name(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    let result = File::create(&tmp)
        .and_then(|file| {
            let mut w = BufWriter::new(file);
            write(&mut w)?;
            w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &target));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Fails early, before any GPU work, if an output path (after symbolic links) is a directory,
/// its directory is missing, or it is the same file as one of `inputs` (`(flag, path)`).
pub fn check_output(path: &Path, inputs: &[(&str, &Path)]) -> Res<()> {
    let target = resolve_target(path)?;
    if target.is_dir() {
        return Err(format!("cannot write {}: it is a directory", path.display()));
    }
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
    Ok(())
}
