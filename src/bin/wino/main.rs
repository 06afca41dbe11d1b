//! `wino`: the command-line face of wgpu-winograd.
//!
//! ```text
//! wino info
//!     Every adapter wgpu sees (name, backend, device type, driver), the one `Context::new`
//!     picks, its key limits, whether it has SHADER_F16, TIMESTAMP_QUERY and SUBGROUP, and the
//!     cooperative matrices the library can use on it.
//! wino conv --input X.npy --weight W.npy [--bias B.npy] [--residual R.npy] [--output Y.npy]
//!           [--padding P|T,B,L,R] [--padding-mode zeros|reflect|replicate|circular]
//!           [--stride S|SH,SW] [--dilation D|DH,DW] [--groups G]
//!           [--algo auto|winograd|gemm|depthwise|direct] [--tile 2|4|6] [--layout auto|r_16_6_6|r_6_6_16]
//!           [--fuse auto|on|off] [--precision highest|high]
//!           [--dtype f32|f16] [--data-format nchw|nhwc] [--weight-format oihw|hwio]
//!           [--activation none|relu|relu6|silu] [--iters N] [--verify]
//! wino conv --random N,C,H,W [--out-channels K] [--kernel R] [...]
//!     One convolution on little-endian float32/float16 C-order `.npy` files (or on random
//!     data). Prints the path taken and the call's wall time on stderr (`--iters N` adds
//!     repeated GPU timing); `--verify` compares the values as stored with the f64 CPU
//!     reference. The output has the input file's element type and data format. Where
//!     `--precision high` runs as `highest`, the plan's note says why.
//! wino grad --wrt weight --grad-output DY.npy --input X.npy --kernel R|KH,KW [--output DW.npy]
//! wino grad --wrt input --grad-output DY.npy --weight W.npy --input-shape N,C,H,W [--output DX.npy]
//!           [--padding …] [--padding-mode …] [--stride …] [--dilation …] [--groups G]
//!           [--dtype f32|f16] [--data-format nchw|nhwc] [--weight-format oihw|hwio] [--verify]
//! wino grad --wrt weight|input --random N,C,H,W [--out-channels K] [--kernel R] [...]
//!     The gradient of a convolution (the forward options as `wino conv` takes them) with
//!     respect to its weights (dw, f32, in --weight-format) or its input (dx, in --data-format,
//!     float16 where dy is): split-K implicit GEMM, or the transposed convolution. `--verify`
//!     compares with the f64 CPU reference.
//! wino emit --target wgsl|msl|hlsl|spv --out DIR
//!     Every generated kernel as WGSL, Metal Shading Language, HLSL or SPIR-V, one file each,
//!     the cooperative-matrix kernels included (except for HLSL, which naga cannot write them in).
//! wino bench --suite seed|resnet|resnet50|mobilenetv2|dcgan|unet|whisper|all [--batch N]
//!            [--algo auto|winograd|gemm|depthwise|direct] [--json FILE] [--plot FILE.svg] [--iters N]
//!            [--dtype f32|f16] [--precision highest|high] [--tune] [--fuse auto|on|off] [--kernels]
//!            [--error] [--layers TEXT]
//!     Times the suite's layers: by default Winograd (layout auto and both fixed layouts)
//!     against direct on seed/resnet, `auto` on the networks. A table and network totals on
//!     stdout, progress on stderr, optionally JSON records and an SVG plot. dcgan and unet are
//!     transposed convolutions (`ConvTranspose2d`), whisper Whisper small's conv1d front end
//!     (80 → 768 over 3000 frames, then 768 → 768 at stride 2; `Conv1d`).
//! wino bench --suite seed|resnet|resnet50|mobilenetv2|all --grad input|weight [--batch N]
//!            [--json FILE] [--iters N] [--dtype f32|f16] [--precision highest|high] [--error]
//!     The layers' gradients instead: `InputGrad` (dx) or `WeightGrad` (dw) of each forward
//!     layer; ResNet-50's backward at batch 32 is `--suite resnet50 --grad input` and
//!     `--grad weight`.
//! wino bench --suite gemm [--gemm-size M,N,K] [--gemm-blocks B,...] [--iters N] [--json FILE]
//!     Times a plain f16 GEMM on cooperative matrices (4096×4096×4096 by default) with every
//!     block of 16×16 fragments, checking every element; needs an adapter with them.
//! ```
//!
//! Every failure is one `wino: error: …` line on stderr and exit code 1. Output files are
//! written under a temporary name beside their target (through symbolic links) and renamed into
//! place only when complete, keeping the replaced file's permission bits, so a failed run never
//! leaves a partial file; a read-only file is refused. A device, a FIFO or `/dev/stdout` is
//! written in place, never replaced.

mod bench;
mod bench_1d;
mod bench_grad;
mod bench_up;
mod conv;
mod emit;
mod glue;
mod grad;
mod info;
mod npy;
mod ops;
mod plot;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use wgpu_winograd::{
    Activation, Algo, DType, DataFormat, Padding, PaddingMode, Precision, TileLayout, WeightFormat,
};

/// Every fallible step returns its one-line message.
type Res<T> = Result<T, String>;

#[derive(Parser)]
#[command(name = "wino", version, about = "Winograd convolution on any wgpu adapter")]
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
    /// Time the convolutions of a suite (seed shapes, ResNet layers, whole networks).
    Bench(BenchArgs),
    /// The gradient of a convolution with respect to its weights or its input.
    Grad(Box<GradArgs>),
}

#[derive(Args)]
struct GradArgs {
    /// What to differentiate with respect to: weight (needs --input) or input (needs --weight).
    #[arg(long)]
    wrt: Wrt,
    /// The gradient of the convolution's output, dy (.npy, float32 or float16; N,K,OH,OW or N,OH,OW,K).
    #[arg(long, value_name = "DY.npy", required_unless_present = "random", conflicts_with = "random")]
    grad_output: Option<PathBuf>,
    /// The forward input (--wrt weight).
    #[arg(long, conflicts_with = "random")]
    input: Option<PathBuf>,
    /// The forward weights (--wrt input; OIHW or HWIO per --weight-format).
    #[arg(long, conflicts_with = "random")]
    weight: Option<PathBuf>,
    /// The forward input's logical shape (--wrt input, whose input is not given).
    #[arg(long, value_name = "N,C,H,W", value_parser = parse_dims, conflicts_with = "random")]
    input_shape: Option<[usize; 4]>,
    /// Use random data for the forward input of logical shape N,C,H,W (and weights and dy).
    #[arg(long, value_name = "N,C,H,W", value_parser = parse_dims)]
    random: Option<[usize; 4]>,
    /// Output channels for --random [default: 16].
    #[arg(long, value_name = "K", requires = "random")]
    out_channels: Option<usize>,
    /// Kernel size: R or KH,KW (--wrt weight, and --random) [default with --random: 3].
    #[arg(long, value_name = "R|KH,KW", value_parser = parse_pair)]
    kernel: Option<[usize; 2]>,
    /// Where to write the gradient (.npy): dw in --weight-format, or dx in --data-format.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Compare with the f64 CPU reference.
    #[arg(long)]
    verify: bool,
    /// Also time N calls after warm-up (GPU timestamps and wall time); default: the one call.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    iters: Option<u32>,
    /// highest (f32 products) or high (f16 operands on cooperative matrices where the adapter
    /// has them: the weight gradient's GEMM, the input gradient's convolutions).
    #[arg(long, default_value = "highest")]
    precision: Precision,
    #[command(flatten)]
    fwd: ForwardArgs,
}

/// `--wrt`: which gradient `wino grad` computes (and `wino bench --grad` times).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Wrt {
    Weight,
    Input,
}

impl fmt::Display for Wrt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Wrt::Weight => "weight",
            Wrt::Input => "input",
        })
    }
}

#[derive(Args)]
struct ConvArgs {
    /// Input tensor (.npy, float32 or float16; NCHW or NHWC per --data-format; a rank-3 N,C,L
    /// (or N,L,C) input with a rank-3 K,C/groups,R weight runs a conv1d).
    #[arg(long, required_unless_present = "random", conflicts_with = "random")]
    input: Option<PathBuf>,
    /// Weights (.npy, float32 or float16; OIHW or HWIO per --weight-format).
    #[arg(long, required_unless_present = "random", conflicts_with = "random")]
    weight: Option<PathBuf>,
    /// Use random data of logical shape N,C,H,W (or N,C,L: a conv1d) instead of --input and --weight.
    #[arg(long, value_name = "N,C,H,W|N,C,L", value_parser = parse_random)]
    random: Option<Dims>,
    /// A transposed convolution (PyTorch's ConvTranspose2d): --weight is (C_in, C_out/groups, KH, KW).
    #[arg(long)]
    transpose: bool,
    /// Output padding of --transpose: P, or PH,PW (each below max(stride, dilation)).
    #[arg(long, value_name = "P|PH,PW", requires = "transpose", value_parser = parse_pair)]
    output_padding: Option<[usize; 2]>,
    /// Output channels for --random [default: 16].
    #[arg(long, value_name = "K", requires = "random")]
    out_channels: Option<usize>,
    /// Kernel side for --random [default: 3].
    #[arg(long, value_name = "R", requires = "random")]
    kernel: Option<usize>,
    /// Bias of K values (.npy, rank 1).
    #[arg(long)]
    bias: Option<PathBuf>,
    /// A tensor shaped like the output, added before the activation.
    #[arg(long)]
    residual: Option<PathBuf>,
    /// Where to write the result (.npy, same element type and data format as the input).
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    fwd: ForwardArgs,
    /// auto, winograd, gemm, depthwise or direct.
    #[arg(long, default_value = "auto")]
    algo: Auto<Algo>,
    /// Winograd output tile side m (2, 4 or 6 for 3×3 kernels; 2 for 5×5); default: per shape.
    #[arg(long, value_name = "M", allow_hyphen_values = true)]
    tile: Option<usize>,
    /// Winograd-domain layout: auto, r_16_6_6 or r_6_6_16.
    #[arg(long, default_value = "auto")]
    layout: Auto<TileLayout>,
    /// Winograd in one fused kernel (on), as three kernels (off), or per shape (auto).
    #[arg(long, default_value = "auto")]
    fuse: Fuse,
    /// highest (f32 products) or high (f16 operands on cooperative matrices where the adapter
    /// has them; else runs highest, and says so).
    #[arg(long, default_value = "highest")]
    precision: Precision,
    /// Fused activation: none, relu, relu6 or silu.
    #[arg(long, default_value = "none")]
    activation: Activation,
    /// Also time N calls after warm-up (GPU timestamps and wall time); default: the one call.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    iters: Option<u32>,
    /// Compare the values as stored with the f64 CPU reference.
    #[arg(long)]
    verify: bool,
}

/// The forward convolution's geometry and layouts, shared by `wino conv` and `wino grad`.
#[derive(Args)]
struct ForwardArgs {
    /// Zero padding: P on every side, or T,B,L,R.
    #[arg(long, default_value = "0", value_name = "P|T,B,L,R", allow_hyphen_values = true, value_parser = parse_padding)]
    padding: Padding,
    /// Stride: S, or SH,SW.
    #[arg(long, default_value = "1", value_name = "S|SH,SW", allow_hyphen_values = true, value_parser = parse_pair)]
    stride: [usize; 2],
    /// Dilation: D, or DH,DW.
    #[arg(long, default_value = "1", value_name = "D|DH,DW", allow_hyphen_values = true, value_parser = parse_pair)]
    dilation: [usize; 2],
    /// What the padding reads as: zeros, reflect, replicate or circular (PyTorch's padding_mode).
    #[arg(long, default_value = "zeros")]
    padding_mode: PaddingMode,
    /// Channel groups (must divide the input and output channels).
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    groups: usize,
    /// Element type of activations on the GPU: f32 or f16 (arithmetic is f32).
    #[arg(long, default_value = "f32")]
    dtype: DType,
    /// Memory order of input, residual and output: nchw or nhwc.
    #[arg(long, default_value = "nchw")]
    data_format: DataFormat,
    /// Memory order of the weights: oihw or hwio.
    #[arg(long, default_value = "oihw")]
    weight_format: WeightFormat,
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

/// A library option or `auto` (the library's `None`: chosen per shape).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auto<T>(pub Option<T>);

impl<T: FromStr<Err = wgpu_winograd::Error>> FromStr for Auto<T> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Auto(None)),
            other => other.parse().map(|v| Auto(Some(v))).map_err(|e: wgpu_winograd::Error| e.to_string()),
        }
    }
}

impl<T: fmt::Display> fmt::Display for Auto<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("auto"),
            Some(v) => v.fmt(f),
        }
    }
}

/// `--fuse`: the Winograd product stage as one fused kernel, three kernels, or per shape.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Fuse {
    Auto,
    On,
    Off,
}

#[derive(Clone, Copy, ValueEnum)]
enum Target {
    Wgsl,
    Msl,
    Hlsl,
    Spv,
}

#[derive(Args)]
struct BenchArgs {
    /// Which layers, or `gemm`: a plain GEMM on cooperative matrices with every 16×16 block.
    #[arg(long, default_value = "seed")]
    suite: SuiteArg,
    /// GEMM size of --suite gemm [default: 4096,4096,4096]; blocks it is not a multiple of are skipped.
    #[arg(long, value_name = "M,N,K", value_parser = parse_triple)]
    gemm_size: Option<[usize; 3]>,
    /// Blocks --suite gemm times, comma-separated (e.g. 128x256x32/w2x4/m16), in place of the
    /// catalogue's; any block `TensorBlock::new` accepts.
    #[arg(long, value_name = "BLOCK,...", value_delimiter = ',')]
    gemm_blocks: Option<Vec<wgpu_winograd::TensorBlock>>,
    /// Batch of the resnet50, mobilenetv2, dcgan, unet and whisper suites.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Time only this algorithm: auto (resolved per layer), winograd, gemm, depthwise or direct;
    /// default: Winograd's layouts against direct on seed/resnet, auto on the networks.
    #[arg(long)]
    algo: Option<Auto<Algo>>,
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
    /// highest or high (f16 operands on cooperative matrices where the adapter has them).
    #[arg(long, default_value = "highest")]
    precision: Precision,
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
    /// Also measure each layer's error at batch 1 against the f64 CPU reference (max |y − y64|
    /// / max |y64|, the metric torch_conv_bench.py prints for cuDNN), into the JSON's `max_error`;
    /// with --grad, the gradient's error against the f64 gradient.
    #[arg(long)]
    error: bool,
    /// Time the layers' gradients instead of the layers: input (dx, InputGrad) or weight (dw,
    /// WeightGrad), as `wino grad --wrt` computes them. A flag, not more suites: it applies to
    /// every conv2d suite (seed, resnet, resnet50, mobilenetv2, all) with its layer list,
    /// --batch, --dtype and --precision as they are, so ResNet-50's backward is `--suite resnet50
    /// --grad input` and `--grad weight`. The gradients choose their own path: --algo, --tune,
    /// --fuse and --kernels do not apply.
    #[arg(long, value_name = "input|weight")]
    grad: Option<Wrt>,
    /// Time only the suite's layers whose name contains TEXT (`_14x14_`, `k768`); the totals
    /// then cover those layers.
    #[arg(long, value_name = "TEXT")]
    layers: Option<String>,
}

/// `--suite`, mirrored onto [`wgpu_winograd::suites::Suite`], plus the tensor-core GEMM.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SuiteArg {
    Seed,
    Resnet,
    Resnet50,
    Mobilenetv2,
    All,
    /// DCGAN's generator: 4×4 stride-2 transposed convolutions.
    Dcgan,
    /// U-Net's 2×2 stride-2 up-convolutions.
    Unet,
    /// Whisper small's conv1d front end: 80 → 768 over 3000 frames, then 768 → 768 at stride 2.
    Whisper,
    // Not a convolution suite: `tensor_matmul` with every block of 16×16 fragments.
    Gemm,
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
        if QUIET_PANICS.load(Ordering::Relaxed) {
            return; // caught and reported by `quietly`
        }
        let msg = info.payload_as_str().unwrap_or("unknown panic");
        eprintln!("wino: error: internal error: {}", msg.split_whitespace().collect::<Vec<_>>().join(" "));
    }));
    let result = std::panic::catch_unwind(|| match &cli.command {
        Command::Info => info::run(),
        Command::Conv(args) => conv::run(args),
        Command::Emit(args) => emit::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Grad(args) => grad::run(args),
    });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(msg)) => fail(&msg),
        Err(_) => ExitCode::FAILURE, // the hook has printed the line
    }
}

/// Set while `quietly` runs code whose panics become an error message.
static QUIET_PANICS: AtomicBool = AtomicBool::new(false);

/// Runs `f`, turning a panic into `None` without the hook's error line (for third-party code
/// that may panic on hostile input, such as npyz multiplying a header's dimensions).
fn quietly<T>(f: impl FnOnce() -> T) -> Option<T> {
    QUIET_PANICS.store(true, Ordering::Relaxed);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.store(false, Ordering::Relaxed);
    result.ok()
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
        return "no subcommand given: use info, conv, grad, emit or bench (see wino --help)".into();
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

/// `--random`'s logical shape: N,C,H,W, or N,C,L for a conv1d (a newtype: clap reads a bare
/// `Vec` as a list of occurrences).
#[derive(Clone, Debug)]
pub struct Dims(pub Vec<usize>);

fn parse_random(text: &str) -> Res<Dims> {
    integers(text, &[3, 4]).map(Dims)
}

fn parse_dims(text: &str) -> Res<[usize; 4]> {
    let v = integers(text, &[4])?;
    Ok([v[0], v[1], v[2], v[3]])
}

fn parse_triple(text: &str) -> Res<[usize; 3]> {
    let v = integers(text, &[3])?;
    Ok([v[0], v[1], v[2]])
}
