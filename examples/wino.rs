//! `wino`: the command-line face of wgpu-winograd.
//!
//! ```text
//! wino info
//!     Every adapter wgpu sees (name, backend, device type, driver), the one `Context::new`
//!     picks, its key limits and whether it has SHADER_F16, TIMESTAMP_QUERY and SUBGROUP.
//! wino conv --input X.npy --weight W.npy [--bias B.npy] [--residual R.npy] [--output Y.npy]
//!           [--padding P|T,B,L,R] [--stride S|SH,SW] [--dilation D|DH,DW] [--groups G]
//!           [--algo auto|winograd|direct] [--tile 2|4|6] [--layout auto|r_16_6_6|r_6_6_16]
//!           [--fuse auto|on|off]
//!           [--dtype f32|f16] [--data-format nchw|nhwc] [--weight-format oihw|hwio]
//!           [--activation none|relu|relu6|silu] [--iters N] [--verify]
//! wino conv --random N,C,H,W [--out-channels K] [--kernel R] [...]
//!     One convolution on little-endian float32/float16 C-order `.npy` files (or on random
//!     data). Prints the path taken and a timing line on stderr; `--verify` compares with the
//!     f64 CPU reference. The output has the input file's element type and data format.
//! wino emit --target wgsl|msl|spv --out DIR
//!     Every generated kernel as WGSL, Metal Shading Language or SPIR-V, one file each.
//! wino bench --suite seed|resnet|all [--json FILE] [--plot FILE.svg] [--iters N] [--dtype f32|f16]
//!            [--tune] [--fuse auto|on|off] [--kernels]
//!     Winograd (layout auto and both fixed layouts) against direct on each suite shape: a
//!     table on stdout, progress on stderr, optionally JSON records and an SVG plot.
//!     `--kernels` adds each Winograd record's per-kernel GPU times (timestamps per dispatch).
//! ```
//!
//! Every failure is one `wino: error: …` line on stderr and exit code 1. Output files are
//! written under a temporary name in the same directory and renamed into place only when
//! complete, so a failed run never leaves a partial file.

use clap::{Args, Parser, Subcommand, ValueEnum};
use npyz::WriterBuilder;
use serde::Serialize;
use std::fmt::Display;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wgpu_winograd::dispatch::{Path as ConvPath, Plan, Product};
use wgpu_winograd::{
    codegen, emit, reference, runtime, tune, Activation, Algo, Context, Conv2d, Conv2dDesc, DType,
    DataFormat, Padding, TileLayout, Timing, WeightFormat,
};

/// Every fallible step returns its one-line message.
type Res<T> = Result<T, String>;

#[derive(Parser)]
#[command(name = "wino", about = "Winograd convolution on any wgpu adapter")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List adapters and show the chosen one's limits and features.
    Info,
    /// Run one convolution on .npy files (or random data).
    Conv(Box<ConvArgs>),
    /// Write every generated kernel to a directory.
    Emit(EmitArgs),
    /// Time Winograd against direct on the seed and ResNet suites.
    Bench(BenchArgs),
}

#[derive(Args)]
struct ConvArgs {
    /// Input tensor (.npy, float32 or float16; NCHW or NHWC per --data-format).
    #[arg(long, required_unless_present = "random", conflicts_with = "random")]
    input: Option<PathBuf>,
    /// Weights (.npy, float32 or float16; OIHW or HWIO per --weight-format).
    #[arg(long, required_unless_present = "random", conflicts_with = "random")]
    weight: Option<PathBuf>,
    /// Use random data of logical shape N,C,H,W instead of --input and --weight.
    #[arg(long, value_name = "N,C,H,W", value_parser = parse_dims)]
    random: Option<[usize; 4]>,
    /// Output channels for --random.
    #[arg(long, default_value_t = 16, requires = "random")]
    out_channels: usize,
    /// Kernel side for --random.
    #[arg(long, default_value_t = 3, requires = "random")]
    kernel: usize,
    /// Bias of K values (.npy, rank 1).
    #[arg(long)]
    bias: Option<PathBuf>,
    /// A tensor shaped like the output, added before the activation.
    #[arg(long)]
    residual: Option<PathBuf>,
    /// Where to write the result (.npy, same element type and data format as the input).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Zero padding: P on every side, or T,B,L,R.
    #[arg(long, default_value = "0", value_name = "P|T,B,L,R", allow_hyphen_values = true, value_parser = parse_padding)]
    padding: Padding,
    /// Stride: S, or SH,SW.
    #[arg(long, default_value = "1", value_name = "S|SH,SW", allow_hyphen_values = true, value_parser = parse_pair)]
    stride: [usize; 2],
    /// Dilation: D, or DH,DW.
    #[arg(long, default_value = "1", value_name = "D|DH,DW", allow_hyphen_values = true, value_parser = parse_pair)]
    dilation: [usize; 2],
    /// Channel groups (must divide the input and output channels).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    groups: usize,
    /// auto, winograd or direct.
    #[arg(long, default_value = "auto")]
    algo: Algo,
    /// Winograd output tile side m (2, 4 or 6 for 3×3 kernels; 2 for 5×5); default: per shape.
    #[arg(long, value_name = "M", allow_hyphen_values = true)]
    tile: Option<usize>,
    /// Winograd-domain layout: auto, r_16_6_6 or r_6_6_16.
    #[arg(long, default_value = "auto")]
    layout: TileLayout,
    /// Winograd in one fused kernel (on), as three kernels (off), or per shape (auto).
    #[arg(long, default_value = "auto")]
    fuse: Fuse,
    /// Element type of activations on the GPU: f32 or f16 (arithmetic is f32).
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// Memory order of input, residual and output: nchw or nhwc.
    #[arg(long, default_value = "nchw")]
    data_format: DataFormat,
    /// Memory order of the weights: oihw or hwio.
    #[arg(long, default_value = "oihw")]
    weight_format: WeightFormat,
    /// Fused activation: none, relu, relu6 or silu.
    #[arg(long, default_value = "none")]
    activation: Activation,
    /// Timed calls behind the timing line.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// Compare with the f64 CPU reference (tolerance 1e-4 for f32, 1e-2 for f16).
    #[arg(long)]
    verify: bool,
}

#[derive(Args)]
struct EmitArgs {
    /// Output language.
    #[arg(long)]
    target: Target,
    /// Directory to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Fuse {
    Auto,
    On,
    Off,
}

impl Fuse {
    fn choice(self) -> Option<bool> {
        match self {
            Fuse::Auto => None,
            Fuse::On => Some(true),
            Fuse::Off => Some(false),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Wgsl,
    Msl,
    Spv,
}

#[derive(Args)]
struct BenchArgs {
    /// Which shapes.
    #[arg(long, default_value = "seed")]
    suite: Suite,
    /// Write the records as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw time against image size as SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Timed calls per record.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    iters: u32,
    /// Element type of activations: f32 or f16.
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// First time every Winograd candidate per shape and cache the winner, which `auto` then uses.
    /// Time again in a new process for figures: after tuning, this process's timings run slow.
    #[arg(long)]
    tune: bool,
    /// Winograd variants in one fused kernel (on), as three kernels (off), or per shape (auto).
    #[arg(long, default_value = "auto")]
    fuse: Fuse,
    /// Also time each kernel of the Winograd variants on its own (needs TIMESTAMP_QUERY).
    #[arg(long)]
    kernels: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Suite {
    Seed,
    Resnet,
    All,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help
        Err(e) => return fail(&one_line(&e)),
    };
    // A panic anywhere (library or wgpu) still ends as one line and exit code 1.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload_as_str().unwrap_or("unknown panic");
        eprintln!("wino: error: internal error: {}", msg.split_whitespace().collect::<Vec<_>>().join(" "));
    }));
    let result = std::panic::catch_unwind(|| match &cli.command {
        Command::Info => info(),
        Command::Conv(args) => conv(args),
        Command::Emit(args) => emit_kernels(args),
        Command::Bench(args) => bench(args),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(msg)) => fail(&msg),
        Err(_) => ExitCode::FAILURE, // the hook has printed the line
    }
}

/// Prints the one error line (a multi-line message from below is folded into it).
fn fail(msg: &str) -> ExitCode {
    let msg: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    eprintln!("wino: error: {}", msg.join(" "));
    ExitCode::FAILURE
}

/// A clap error as one line: its message and hints, without the usage block.
fn one_line(e: &clap::Error) -> String {
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "no subcommand given: use info, conv, emit or bench (see wino --help)".into();
    }
    let text = e.to_string();
    let lines =
        text.lines().take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"));
    let mut joined = String::new();
    for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
        if !joined.is_empty() {
            joined += if joined.ends_with(':') { " " } else { "; " };
        }
        joined += line.trim_start_matches("error: ");
    }
    format!("{joined} (see wino --help)")
}

/// Library errors through their Display.
fn lib<T>(r: wgpu_winograd::Result<T>) -> Res<T> {
    r.map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// wino info

fn info() -> Res<()> {
    let adapters = runtime::enumerate_adapters();
    println!("adapters:");
    if adapters.is_empty() {
        println!("  (none)");
    }
    for a in &adapters {
        println!("  {}", adapter_line(&a.get_info()));
    }
    let ctx = lib(Context::new())?;
    let chosen = ctx.adapter_info();
    println!("chosen by Context::new():\n  {}", adapter_line(chosen));
    let l = ctx.limits();
    println!("limits:");
    for (name, value) in [
        ("max_storage_buffer_binding_size", l.max_storage_buffer_binding_size),
        ("max_buffer_size", l.max_buffer_size),
        ("max_compute_workgroups_per_dimension", l.max_compute_workgroups_per_dimension.into()),
        ("max_compute_invocations_per_workgroup", l.max_compute_invocations_per_workgroup.into()),
        ("max_compute_workgroup_storage_size", l.max_compute_workgroup_storage_size.into()),
    ] {
        println!("  {name:<40} {value}");
    }
    // The device enables only what the library asks for; the adapter says what exists.
    let features =
        adapters.iter().find(|a| a.get_info() == *chosen).map_or_else(|| ctx.features(), |a| a.features());
    println!("features:");
    for (name, flag) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
    ] {
        let state = match features.contains(flag) {
            false => "no".to_string(),
            true if flag == wgpu::Features::SUBGROUP => {
                format!("yes (size {}..{})", chosen.subgroup_min_size, chosen.subgroup_max_size)
            }
            true => "yes".to_string(),
        };
        println!("  {name:<40} {state}");
    }
    Ok(())
}

fn adapter_line(i: &wgpu::AdapterInfo) -> String {
    format!("{} ({}, {:?}, driver: {} {})", i.name, i.backend, i.device_type, i.driver, i.driver_info)
}

// ---------------------------------------------------------------------------------------------
// wino conv: option values

/// Comma-separated non-negative integers, `counts` of them.
fn integers(text: &str, counts: &[usize]) -> Res<Vec<usize>> {
    let values: Vec<usize> = text
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected non-negative integers, got '{text}'"))?;
    if !counts.contains(&values.len()) {
        let counts: Vec<String> = counts.iter().map(usize::to_string).collect();
        return Err(format!("expected {} comma-separated values, got '{text}'", counts.join(" or ")));
    }
    Ok(values)
}

fn parse_padding(text: &str) -> Res<Padding> {
    Ok(match integers(text, &[1, 4])?[..] {
        [p] => Padding::uniform(p),
        [top, bottom, left, right] => Padding { top, bottom, left, right },
        _ => unreachable!("integers() checked the count"),
    })
}

fn parse_pair(text: &str) -> Res<[usize; 2]> {
    let v = integers(text, &[1, 2])?;
    Ok([v[0], v[v.len() - 1]])
}

fn parse_dims(text: &str) -> Res<[usize; 4]> {
    let v = integers(text, &[4])?;
    Ok([v[0], v[1], v[2], v[3]])
}

// ---------------------------------------------------------------------------------------------
// .npy files

/// A float array from a `.npy` file (or made up): its stored shape, its values as f32, and
/// whether the file held float16.
struct Array {
    shape: Vec<usize>,
    data: Vec<f32>,
    f16: bool,
}

/// What an array is for: its axes give the rank checked and the words used in errors.
struct Role {
    what: &'static str,
    axes: &'static str,
}

impl Role {
    const BIAS: Role = Role { what: "bias", axes: "K" };

    fn input(f: DataFormat) -> Role {
        Role { what: "input", axes: if f == DataFormat::Nhwc { "N,H,W,C" } else { "N,C,H,W" } }
    }
    fn residual(f: DataFormat) -> Role {
        Role { what: "residual", axes: if f == DataFormat::Nhwc { "N,OH,OW,K" } else { "N,K,OH,OW" } }
    }
    fn weight(f: WeightFormat) -> Role {
        Role {
            what: "weight",
            axes: if f == WeightFormat::Hwio { "KH,KW,C/groups,K" } else { "K,C/groups,KH,KW" },
        }
    }
    fn rank(&self) -> usize {
        self.axes.split(',').count()
    }
}

/// Reads a little-endian float32 or float16, C-order `.npy` of the role's rank. The header's
/// claims are checked against the file's length before anything is allocated from them.
fn read_npy(path: &Path, role: &Role) -> Res<Array> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {} file {name}: {e}", role.what))?;
    let invalid = |e: &dyn Display| format!("{name}: not a valid .npy file: {e}");
    let (data_start, header) = split_header(&bytes).map_err(|e| invalid(&e))?;
    let claimed = header_shape(header).map_err(|e| invalid(&e))?;
    let available = (bytes.len() - data_start) as u64;
    // At least a byte per element, before npyz multiplies the dimensions unchecked.
    check_data_size(&name, &claimed, 1, available)?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| invalid(&npyz_message(&e)))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let f16 = match npy.dtype() {
        npyz::DType::Plain(t) if t.to_string() == "<f4" => false,
        npyz::DType::Plain(t) if t.to_string() == "<f2" => true,
        other => {
            let expected = "expected little-endian float32 ('<f4') or float16 ('<f2')";
            return Err(format!("{name}: {} array of shape {shape:?}; {expected}", dtype_name(&other)));
        }
    };
    if npy.shape() != claimed {
        return Err(invalid(&format!("ambiguous shape in the header: {claimed:?} or {shape:?}")));
    }
    if npy.order() != npyz::Order::C {
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
    check_data_size(&name, &claimed, if f16 { 2 } else { 4 }, available)?;
    let unreadable = |e: io::Error| format!("{name}: unreadable data: {e}");
    let data = if f16 {
        npy.into_vec::<half::f16>().map_err(unreadable)?.into_iter().map(f32::from).collect()
    } else {
        npy.into_vec::<f32>().map_err(unreadable)?
    };
    Ok(Array { shape, data, f16 })
}

/// Refuses empty arrays and shapes that need more data bytes than the file holds; an
/// `item_bytes` of 1 is the lower bound used before the dtype is known.
fn check_data_size(name: &dyn Display, shape: &[u64], item_bytes: u64, available: u64) -> Res<()> {
    if shape.contains(&0) {
        return Err(format!("{name}: the array of shape {shape:?} is empty"));
    }
    match shape.iter().try_fold(item_bytes, |acc, &d| acc.checked_mul(d)) {
        Some(needed) if needed <= available => Ok(()),
        needed => Err(format!(
            "{name}: truncated: shape {shape:?} needs {} data bytes but the file holds {available}",
            match needed {
                None => "more than 2^64".to_string(),
                Some(n) if item_bytes == 1 => format!("at least {n}"),
                Some(n) => n.to_string(),
            }
        )),
    }
}

/// Checks the magic and the header length of a `.npy`; returns where the data starts and the
/// header text.
fn split_header(bytes: &[u8]) -> Res<(usize, &[u8])> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("no \\x93NUMPY magic at the start".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => {
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(format!("unsupported format version {v}.{}", bytes[7])),
    };
    match start.checked_add(len) {
        Some(end) if end <= bytes.len() => Ok((end, &bytes[start..end])),
        _ => Err(format!("header claims {len} bytes but the file has only {}", bytes.len())),
    }
}

/// The `'shape': (…)` tuple of a header, read before npyz parses the header (npyz multiplies
/// the dimensions without overflow checks).
fn header_shape(header: &[u8]) -> Res<Vec<u64>> {
    let text = String::from_utf8_lossy(header);
    let tuple = text
        .find("'shape'")
        .and_then(|at| text[at..].find('(').map(|open| at + open + 1))
        .and_then(|start| text[start..].find(')').map(|close| &text[start..start + close]))
        .ok_or("the header has no 'shape' tuple")?;
    tuple
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().map_err(|_| format!("bad dimension '{d}' in the header's shape")))
        .collect()
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
fn write_npy(path: &Path, shape: &[usize], data: &[f32], f16: bool) -> Res<()> {
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

/// Writes to `.NAME.PID.tmp` beside `path` and renames it into place; removes it on failure.
fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Res<()> {
    let file_name = path.file_name().ok_or_else(|| format!("{}: not a file name", path.display()))?;
    let tmp = path.with_file_name(format!(".{}.{}.tmp", file_name.to_string_lossy(), std::process::id()));
    let result = File::create(&tmp)
        .and_then(|file| {
            let mut w = BufWriter::new(file);
            write(&mut w)?;
            w.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {e}", path.display())
    })
}

/// Fails early, before any GPU work, if an output path is a directory or its directory is missing.
fn check_output_dir(path: &Path) -> Res<()> {
    if path.is_dir() {
        return Err(format!("cannot write {}: it is a directory", path.display()));
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!("cannot write {}: directory {} does not exist", path.display(), dir.display()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// wino conv

/// The logical `[n, c, h, w]` of an activation stored in `format`.
fn logical(shape: &[usize], format: DataFormat) -> [usize; 4] {
    match format {
        DataFormat::Nchw => [shape[0], shape[1], shape[2], shape[3]],
        DataFormat::Nhwc => [shape[0], shape[3], shape[1], shape[2]],
    }
}

/// The stored shape of a logical `[n, c, h, w]` activation.
fn stored([n, c, h, w]: [usize; 4], format: DataFormat) -> Vec<usize> {
    match format {
        DataFormat::Nchw => vec![n, c, h, w],
        DataFormat::Nhwc => vec![n, h, w, c],
    }
}

/// The stored input and weight shapes `--random` makes.
fn random_shapes(a: &ConvArgs, dims: [usize; 4]) -> (Vec<usize>, Vec<usize>) {
    let cg = dims[1] / a.groups.max(1);
    let (k, r) = (a.out_channels, a.kernel);
    let weights = match a.weight_format {
        WeightFormat::Oihw => vec![k, cg, r, r],
        WeightFormat::Hwio => vec![r, r, cg, k],
    };
    (stored(dims, a.data_format), weights)
}

/// Random input and weights for `--random` (after the descriptor has been validated, so the
/// sizes do not overflow), refused where one is more than a buffer holds.
fn random_operands(a: &ConvArgs, dims: [usize; 4], limits: &wgpu::Limits) -> Res<(Array, Array)> {
    let array = |what: &str, shape: Vec<usize>, seed: u64, scale: f32| {
        let bytes = shape.iter().try_fold(4u64, |acc, &d| acc.checked_mul(d as u64));
        match bytes {
            Some(bytes) if bytes <= limits.max_buffer_size => {
                let data =
                    reference::pseudo_random(bytes as usize / 4, seed).iter().map(|v| v * scale).collect();
                Ok(Array { shape, data, f16: false })
            }
            _ => Err(format!(
                "--random: the {what} of shape {shape:?} need more than the {} bytes a buffer holds",
                limits.max_buffer_size
            )),
        }
    };
    let (input, weights) = random_shapes(a, dims);
    // 1/sqrt(fan-in) keeps the output near the input's magnitude.
    let fan_in = dims[1] / a.groups * a.kernel * a.kernel;
    Ok((array("input values", input, 1, 1.0)?, array("weights", weights, 2, 1.0 / (fan_in as f32).sqrt())?))
}

/// The descriptor from the options, with channels and kernel taken from the arrays, checked
/// against the logical input shape `[n, c, h, w]` before any GPU work.
fn descriptor(
    a: &ConvArgs,
    [_, channels, h, w]: [usize; 4],
    weight_shape: &[usize],
    bias: bool,
    residual: bool,
) -> Res<Conv2dDesc> {
    let ws = weight_shape;
    let (k, cg, kernel) = match a.weight_format {
        WeightFormat::Oihw => (ws[0], ws[1], [ws[2], ws[3]]),
        WeightFormat::Hwio => (ws[3], ws[2], [ws[0], ws[1]]),
    };
    let desc = Conv2dDesc {
        in_channels: channels,
        out_channels: k,
        kernel,
        stride: a.stride,
        dilation: a.dilation,
        padding: a.padding,
        groups: a.groups,
        has_bias: bias,
        activation: a.activation,
        residual,
        algo: a.algo,
        tile: a.tile,
        layout: a.layout,
        gemm: None,
        fuse: a.fuse.choice(),
        dtype: a.dtype,
        data_format: a.data_format,
        weight_format: a.weight_format,
    };
    lib(desc.validate())?;
    // validate() has checked that groups divides the channels, so this cannot overflow.
    if cg * a.groups != channels {
        return Err(format!(
            "channel mismatch: the input has {channels} channels but weights of shape {ws:?} ({}) \
             expect {cg} per group × {} group(s) = {}",
            a.weight_format,
            a.groups,
            cg * a.groups
        ));
    }
    lib(desc.output_hw(h, w))?;
    Ok(desc)
}

fn conv(a: &ConvArgs) -> Res<()> {
    if let Some(out) = &a.output {
        check_output_dir(out)?;
    }
    let files = match (&a.input, &a.weight) {
        (Some(input), Some(weight)) => Some((
            read_npy(input, &Role::input(a.data_format))?,
            read_npy(weight, &Role::weight(a.weight_format))?,
        )),
        _ => None,
    };
    let bias = a.bias.as_deref().map(|p| read_npy(p, &Role::BIAS)).transpose()?;
    let residual = a.residual.as_deref().map(|p| read_npy(p, &Role::residual(a.data_format))).transpose()?;
    let (input_shape, weight_shape) = match (&files, a.random) {
        (Some((input, weights)), _) => (input.shape.clone(), weights.shape.clone()),
        (None, Some(dims)) => random_shapes(a, dims),
        (None, None) => return Err("give --input X.npy --weight W.npy, or --random N,C,H,W".into()),
    };
    let shape = logical(&input_shape, a.data_format);
    let desc = descriptor(a, shape, &weight_shape, bias.is_some(), residual.is_some())?;
    let ctx = lib(Context::new())?;
    let (input, weights) = match files {
        Some(files) => files,
        None => random_operands(a, shape, &ctx.limits())?,
    };
    let conv = lib(Conv2d::new(&ctx, desc, &weights.data, bias.as_ref().map(|b| &b.data[..])))?;
    let plan = lib(conv.plan(shape))?;
    let out_shape = stored(plan.output, a.data_format);
    if let Some(r) = residual.as_ref().filter(|r| r.shape != out_shape) {
        return Err(format!(
            "residual has shape {:?} but the output is {out_shape:?} ({})",
            r.shape, a.data_format
        ));
    }
    eprintln!("adapter: {} ({})", ctx.adapter_info().name, ctx.adapter_info().backend);
    eprintln!("shape: {:?} → {:?} (logical NCHW; data format {})", plan.input, plan.output, a.data_format);
    eprintln!("path: {}", describe(&plan));
    let output = run(&conv, &input.data, shape, residual.as_ref().map(|r| &r.data[..]))?;
    eprintln!("time: {}", timing(&lib(conv.benchmark(shape, a.iters as usize))?));
    if a.verify {
        let rounded = |v: &[f32]| round_to_dtype(v, a.dtype);
        let want = lib(reference::conv2d_f64(
            conv.desc(),
            &rounded(&input.data),
            shape,
            &weights.data,
            bias.as_ref().map(|b| &b.data[..]),
            residual.as_ref().map(|r| rounded(&r.data)).as_deref(),
        ))?;
        check_error(reference::max_rel_error(&output, &want), a.dtype)?;
    }
    if let Some(path) = &a.output {
        write_npy(path, &out_shape, &output, input.f16)?;
        eprintln!("wrote {} {out_shape:?} {}", path.display(), if input.f16 { "<f2" } else { "<f4" });
    }
    Ok(())
}

/// `winograd F(4×4,3×3) layout r_6_6_16, product block 64×64×16 (8×4 each); chunk 2 images, 1 pass`.
fn describe(plan: &Plan) -> String {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let split = if plan.band_rows < plan.tiles_hw()[0] {
        format!("1 image at a time in bands of {}", plural(plan.band_rows, "tile row"))
    } else {
        format!("chunk {}", plural(plan.chunk, "image"))
    };
    let passes = plan.pieces().len();
    let passes = format!("{passes} pass{}", if passes == 1 { "" } else { "es" });
    match plan.path {
        ConvPath::Winograd { m, r, layout, product } => {
            format!(
                "winograd F({m}×{m},{r}×{r}) layout {layout}, {}; {split}, {passes}",
                product_name(product)
            )
        }
        ConvPath::Direct => format!("direct; {split}, {passes}"),
    }
}

/// `fused kernel` or `product block 64×64×16 (8×4 each)`: the workgroup block and what each
/// invocation holds.
fn product_name(product: Product) -> String {
    match product {
        Product::Fused => "fused kernel".into(),
        Product::Gemm(g) => format!("product block {}×{}×{} ({}×{} each)", g.bm, g.bn, g.bk, g.tm, g.tn),
    }
}

/// Runs with host data of the descriptor's dtype; returns f32 values.
fn run(conv: &Conv2d, input: &[f32], shape: [usize; 4], residual: Option<&[f32]>) -> Res<Vec<f32>> {
    match conv.desc().dtype {
        DType::F32 => lib(conv.run(input, shape, residual)),
        DType::F16 => {
            let half = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
            let out = lib(conv.run(&half(input), shape, residual.map(half).as_deref()))?;
            Ok(out.into_iter().map(f32::from).collect())
        }
    }
}

fn timing(t: &Timing) -> String {
    let gpu = t.gpu_ms.map_or("n/a".to_string(), |g| format!("{g:.3} ms"));
    format!(
        "gpu {gpu} (timestamps), wall {:.3} ms per call (submit + wait, upload excluded; empty submit + wait {:.3} ms)",
        t.wall_ms, t.floor_ms
    )
}

/// What the GPU saw: f16 runs round the input and residual to f16.
fn round_to_dtype(v: &[f32], dtype: DType) -> Vec<f32> {
    match dtype {
        DType::F32 => v.to_vec(),
        DType::F16 => v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect(),
    }
}

fn check_error(error: f64, dtype: DType) -> Res<()> {
    let tolerance = if dtype == DType::F16 { 1e-2 } else { 1e-4 };
    let ok = error <= tolerance;
    println!(
        "verify: max relative error {error:.2e} (tolerance {tolerance:e}): {}",
        if ok { "OK" } else { "FAIL" }
    );
    if !ok {
        return Err(format!("verification failed: max relative error {error:.2e} exceeds {tolerance:e}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// wino emit

fn emit_kernels(a: &EmitArgs) -> Res<()> {
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let kernels = codegen::all_kernels();
    let (mut total_lines, mut total_wgsl) = (0, 0);
    for k in &kernels {
        let (ext, bytes, lines) = match a.target {
            Target::Wgsl => ("wgsl", k.source.clone().into_bytes(), k.lines()),
            Target::Msl => {
                let msl = lib(emit::to_msl(k))?;
                let lines = msl.lines().count();
                ("metal", msl.into_bytes(), lines)
            }
            Target::Spv => ("spv", lib(emit::to_spirv(k))?.iter().flat_map(|w| w.to_le_bytes()).collect(), 0),
        };
        let path = a.out.join(format!("{}.{ext}", k.name));
        write_atomically(&path, |w| w.write_all(&bytes))?;
        let size = match a.target {
            Target::Wgsl => format!("{lines} lines"),
            Target::Msl => format!("{lines} lines (from {} WGSL lines)", k.lines()),
            Target::Spv => format!("{} bytes (from {} WGSL lines)", bytes.len(), k.lines()),
        };
        println!("{}  {size}", path.display());
        total_lines += lines;
        total_wgsl += k.lines();
    }
    let written = match a.target {
        Target::Spv => String::new(),
        _ => format!("{total_lines} lines written, "),
    };
    println!("total: {} files, {written}from {total_wgsl} WGSL lines", kernels.len());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// wino bench

/// A suite shape: 3×3, padding 1, K = C.
struct Shape {
    name: String,
    nchw: [usize; 4],
}

fn suite_shapes(suite: Suite) -> Vec<Shape> {
    let seed = [24, 32, 48, 64, 96].map(|s| Shape { name: format!("seed_{s}x{s}"), nchw: [1, 16, s, s] });
    let resnet = [32, 1].into_iter().flat_map(|n| {
        [(64, 56), (128, 28), (256, 14), (512, 7)]
            .map(|(c, s)| Shape { name: format!("resnet_{c}c_{s}x{s}_b{n}"), nchw: [n, c, s, s] })
    });
    match suite {
        Suite::Seed => seed.into(),
        Suite::Resnet => resnet.collect(),
        Suite::All => seed.into_iter().chain(resnet).collect(),
    }
}

/// The variants timed per shape.
const VARIANTS: [(Algo, TileLayout); 4] = [
    (Algo::Winograd, TileLayout::Auto),
    (Algo::Winograd, TileLayout::R16_6_6),
    (Algo::Winograd, TileLayout::R6_6_16),
    (Algo::Direct, TileLayout::Auto),
];

#[derive(Serialize)]
struct Report {
    adapter: AdapterJson,
    empty_submit_ms: f64,
    /// One pass with one empty single-invocation dispatch, submit + wait.
    empty_dispatch_ms: f64,
    date: String,
    results: Vec<Record>,
}

#[derive(Serialize)]
struct AdapterJson {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
    driver_info: String,
}

/// One shape × algo × layout × tile × dtype.
#[derive(Serialize)]
struct Record {
    name: String,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    algo: String,
    layout: String,
    tile: Option<usize>,
    /// Winograd only: `fused kernel` or the product block.
    product: Option<String>,
    dtype: String,
    gpu_ms: Option<f64>,
    wall_ms: f64,
    /// Empty submit + wait, timed alternately with the calls.
    floor_ms: f64,
    /// Host time to record and submit one call.
    submit_ms: f64,
    tflops: f64,
    /// With `--kernels`: each dispatch's median GPU time, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    kernels: Option<Vec<KernelTime>>,
}

#[derive(Serialize)]
struct KernelTime {
    kernel: String,
    gpu_ms: f64,
}

impl Record {
    /// GPU time where there are timestamps, else wall time.
    fn ms(&self) -> f64 {
        self.gpu_ms.unwrap_or(self.wall_ms)
    }
    /// `seed` or `resnet`.
    fn suite(&self) -> &str {
        self.name.split('_').next().unwrap_or("")
    }
}

fn bench(a: &BenchArgs) -> Res<()> {
    for path in a.json.iter().chain(&a.plot) {
        check_output_dir(path)?;
    }
    let shapes = suite_shapes(a.suite);
    let ctx = lib(Context::new())?;
    if a.kernels && !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Err(format!(
            "--kernels needs GPU timestamps (TIMESTAMP_QUERY), which adapter '{}' lacks",
            ctx.adapter_info().name
        ));
    }
    let (floor, one_dispatch) = lib(ctx.dispatch_floor_ms(200))?;
    let i = ctx.adapter_info();
    eprintln!(
        "adapter: {} ({}); empty submit + wait {floor:.4} ms; one empty dispatch + wait {one_dispatch:.4} ms ({:.3}×)",
        i.name,
        i.backend,
        one_dispatch / floor
    );
    let total = shapes.len() * VARIANTS.len();
    let mut results = Vec::new();
    print_header();
    for shape in &shapes {
        if a.tune {
            tune_shape(&ctx, shape, a)?;
        }
        let first = results.len();
        for (algo, layout) in VARIANTS {
            eprintln!("[{}/{total}] {} {algo} {layout} ...", results.len() + 1, shape.name);
            let (record, resolved) = bench_one(&ctx, shape, algo, layout, a)?;
            print_row(&record, resolved);
            results.push(record);
        }
        print_ratios(&results[first..]);
    }
    let report = Report {
        adapter: AdapterJson {
            name: i.name.clone(),
            backend: i.backend.to_string(),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
        },
        empty_submit_ms: floor,
        empty_dispatch_ms: one_dispatch,
        date: utc_now(),
        results,
    };
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| format!("JSON: {e}"))?;
        write_atomically(path, |w| w.write_all(text.as_bytes()))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &a.plot {
        let svg = plot(&report.results)?;
        write_atomically(path, |w| w.write_all(svg.as_bytes()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn bench_desc(shape: &Shape, dtype: DType) -> Conv2dDesc {
    let c = shape.nchw[1];
    Conv2dDesc { dtype, ..Conv2dDesc::new(c, c, 3, 1) }
}

/// Deterministic weights scaled like a He initialisation.
fn bench_weights(desc: &Conv2dDesc) -> Vec<f32> {
    let scale = 1.0 / (9.0 * desc.in_channels as f32).sqrt();
    reference::pseudo_random(desc.weight_len(), 3).iter().map(|v| v * scale).collect()
}

fn tune_shape(ctx: &Context, shape: &Shape, a: &BenchArgs) -> Res<()> {
    let desc = bench_desc(shape, a.dtype);
    let tuned = lib(tune::tune(ctx, &desc, &bench_weights(&desc), None, shape.nchw, a.iters as usize))?;
    // The winner (cached) and the runners-up, fastest first.
    for (rank, c) in tuned.iter().take(4).enumerate() {
        let m = c.choice.m;
        eprintln!(
            "{} {}: F({m}×{m},3×3) {} {}: {:.4} ms",
            if rank == 0 { "tuned" } else { "   then" },
            shape.name,
            c.choice.layout,
            product_name(c.choice.product),
            c.ms
        );
    }
    Ok(())
}

/// Times one variant; returns its record and the layout the plan resolved to (Winograd only).
fn bench_one(
    ctx: &Context,
    shape: &Shape,
    algo: Algo,
    layout: TileLayout,
    a: &BenchArgs,
) -> Res<(Record, Option<TileLayout>)> {
    let fuse = if algo == Algo::Direct { None } else { a.fuse.choice() };
    let desc = Conv2dDesc { algo, layout, fuse, ..bench_desc(shape, a.dtype) };
    let weights = bench_weights(&desc);
    let conv = lib(Conv2d::new(ctx, desc, &weights, None))?;
    let plan = lib(conv.plan(shape.nchw))?;
    let t = lib(conv.benchmark(shape.nchw, a.iters as usize))?;
    let (tile, resolved, product) = match plan.path {
        ConvPath::Winograd { m, layout, product, .. } => (Some(m), Some(layout), Some(product_name(product))),
        ConvPath::Direct => (None, None, None),
    };
    let kernels = match (a.kernels, plan.path) {
        (true, ConvPath::Winograd { .. }) => Some(
            lib(conv.benchmark_kernels(shape.nchw, a.iters as usize))?
                .into_iter()
                .map(|(kernel, gpu_ms)| KernelTime { kernel, gpu_ms })
                .collect(),
        ),
        _ => None,
    };
    let [n, c, h, w] = shape.nchw;
    let flop = 2.0 * 9.0 * (n * c * c * h * w) as f64;
    let record = Record {
        name: shape.name.clone(),
        n,
        c,
        h,
        w,
        k: c,
        algo: algo.to_string(),
        layout: layout.to_string(),
        tile,
        product,
        dtype: a.dtype.to_string(),
        gpu_ms: t.gpu_ms,
        wall_ms: t.wall_ms,
        floor_ms: t.floor_ms,
        submit_ms: t.submit_ms,
        tflops: flop / t.gpu_ms.unwrap_or(t.wall_ms) / 1e9,
        kernels,
    };
    Ok((record, resolved))
}

fn print_header() {
    println!(
        "{:<24} {:<9} {:<20} {:>4} {:<20} {:>5} {:>10} {:>10} {:>10} {:>8}",
        "shape", "algo", "layout", "tile", "product", "dtype", "gpu ms", "wall ms", "wall/floor", "TFLOP/s"
    );
}

fn print_row(r: &Record, resolved: Option<TileLayout>) {
    let layout = match resolved {
        Some(l) if r.layout == "auto" => format!("auto ({l})"),
        _ => r.layout.clone(),
    };
    let gpu = r.gpu_ms.map_or("n/a".to_string(), |g| format!("{g:.4}"));
    let tile = r.tile.map_or("-".to_string(), |m| m.to_string());
    let product = r.product.as_deref().unwrap_or("-").replace("product block ", "");
    println!(
        "{:<24} {:<9} {:<20} {:>4} {:<20} {:>5} {:>10} {:>10.4} {:>10.3} {:>8.4}",
        r.name,
        r.algo,
        layout,
        tile,
        product,
        r.dtype,
        gpu,
        r.wall_ms,
        r.wall_ms / r.floor_ms,
        r.tflops
    );
    for k in r.kernels.iter().flatten() {
        println!("{:<24}   {:<60} {:>10.4}", "", k.kernel, k.gpu_ms);
    }
}

/// Per shape: Winograd (auto layout) time over direct, and auto over the faster fixed layout.
fn print_ratios(rows: &[Record]) {
    let ms = |algo: &str, layout: &str| {
        rows.iter().find(|r| r.algo == algo && r.layout == layout).map_or(f64::NAN, Record::ms)
    };
    let auto = ms("winograd", "auto");
    let best_fixed = ms("winograd", "r_16_6_6").min(ms("winograd", "r_6_6_16"));
    println!(
        "{:<24} time ratios: winograd/direct {:.3}, auto/best fixed layout {:.3}",
        rows[0].name,
        auto / ms("direct", "auto"),
        auto / best_fixed
    );
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date after Howard Hinnant).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days + 719_468;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem / 60 % 60, rem % 60)
}

// ---------------------------------------------------------------------------------------------
// SVG plot

fn plot_err(e: impl Display) -> String {
    format!("plotting: {e}")
}

/// Time against image side as SVG: one panel per suite, one line per algo + layout (+ batch).
fn plot(results: &[Record]) -> Res<String> {
    use plotters::prelude::*;
    let mut suites: Vec<&str> = results.iter().map(Record::suite).collect();
    suites.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 480 * suites.len() as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        for (area, suite) in root.split_evenly((suites.len(), 1)).iter().zip(&suites) {
            let rows: Vec<&Record> = results.iter().filter(|r| r.suite() == *suite).collect();
            draw_panel(area, suite, &rows)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// `y` to three significant digits, without trailing zeros: 0.00781, 0.5, 16, 1024.
fn three_digits(y: f64) -> String {
    let decimals = (2 - y.abs().log10().floor() as i32).max(0) as usize;
    let text = format!("{y:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Named series of (image side, ms), each sorted by side.
fn series(rows: &[&Record]) -> Vec<(String, Vec<(f64, f64)>)> {
    let batches = rows.iter().any(|r| r.n != rows[0].n);
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let mut key = format!("{} {}", r.algo, r.layout);
        if batches {
            key += &format!(" batch {}", r.n);
        }
        let point = (r.h as f64, r.ms());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, points)) => points.push(point),
            None => out.push((key, vec![point])),
        }
    }
    for (_, points) in &mut out {
        points.sort_by(|p, q| p.0.total_cmp(&q.0));
    }
    out
}

fn draw_panel<DB: plotters::prelude::DrawingBackend>(
    area: &plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
    suite: &str,
    rows: &[&Record],
) -> Res<()>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let series = series(rows);
    let points = || series.iter().flat_map(|s| s.1.iter());
    let (min_x, max_x) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.0), hi.max(p.0)));
    let (min_y, max_y) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    let pad_x = (max_x - min_x).max(8.0) * 0.05;
    // Log-scale headroom above the data for the legend (about 15 px a series of ~380).
    let (bottom, top) = (min_y.max(1e-6) / 1.5, max_y * 1.5);
    let legend = ((15 * series.len() + 30) as f64 / 380.0).min(0.6);
    let top = top * (top / bottom).powf(legend / (1.0 - legend));
    // Labels fall on powers of the base: powers of 2 give enough of them on narrow ranges.
    let base = if top / bottom < 1000.0 { 2.0 } else { 10.0 };
    let clock = if rows.iter().all(|r| r.gpu_ms.is_some()) { "GPU timestamps" } else { "wall time" };
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{suite} suite: ms per call ({clock})"), ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(min_x - pad_x..max_x + pad_x, (bottom..top).log_scale().base(base))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.04))
        .y_labels(8)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|&y| three_digits(y))
        .x_desc("image side (pixels)")
        .y_desc("ms per call")
        .draw()
        .map_err(plot_err)?;
    // ColorBrewer Set1, distinct on white.
    const COLORS: [RGBColor; 8] = [
        RGBColor(228, 26, 28),
        RGBColor(55, 126, 184),
        RGBColor(77, 175, 74),
        RGBColor(152, 78, 163),
        RGBColor(255, 127, 0),
        RGBColor(166, 86, 40),
        RGBColor(247, 129, 191),
        RGBColor(60, 60, 60),
    ];
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(points.into_iter().map(|p| Circle::new(p, 3, color.filled()))).map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}
