//! `wino`: the command-line face of wgpu-winograd.
//!
//! * `wino info` — the adapters, the one chosen, its limits and features.
//! * `wino conv` — one convolution on `.npy` files (or `--random N,C,H,W`), with the path taken
//!   and a timing line on stderr, `--verify` against the f64 CPU reference.
//! * `wino emit` — every generated kernel as WGSL, MSL (Metal) or SPIR-V.
//! * `wino bench` — the seed and ResNet suites, Winograd (both layouts and auto) against direct,
//!   as a table, JSON and an SVG plot.
//!
//! Every failure is one `wino: error: …` line and exit code 1; output files are written to a
//! temporary name and renamed into place only when complete.

use clap::{Args, Parser, Subcommand};
use npyz::WriterBuilder;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wgpu_winograd::dispatch::{Path as ConvPath, Plan};
use wgpu_winograd::{
    codegen, emit, reference, runtime, tune, Activation, Algo, Context, Conv2d, Conv2dDesc, DType,
    DataFormat, Padding, TileLayout, WeightFormat,
};

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
    /// Run one convolution.
    Conv(Box<ConvArgs>),
    /// Write every generated kernel to a directory.
    Emit {
        /// wgsl, msl or spv.
        #[arg(long)]
        target: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Time the seed and ResNet suites.
    Bench(BenchArgs),
}

#[derive(Args)]
struct ConvArgs {
    /// Input tensor (.npy, float32 or float16, NCHW or NHWC per --data-format).
    #[arg(long, conflicts_with = "random")]
    input: Option<PathBuf>,
    /// Use random data of logical shape N,C,H,W instead of files.
    #[arg(long)]
    random: Option<String>,
    /// Output channels for --random.
    #[arg(long, default_value_t = 16)]
    out_channels: usize,
    /// Kernel size for --random.
    #[arg(long, default_value_t = 3)]
    kernel: usize,
    /// Weights (.npy float32, OIHW or HWIO per --weight-format).
    #[arg(long)]
    weight: Option<PathBuf>,
    #[arg(long)]
    bias: Option<PathBuf>,
    /// A tensor shaped like the output, added before the activation.
    #[arg(long)]
    residual: Option<PathBuf>,
    #[arg(long)]
    output: Option<PathBuf>,
    /// P, or T,B,L,R.
    #[arg(long, default_value = "0", allow_hyphen_values = true)]
    padding: String,
    /// S, or SH,SW.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    stride: String,
    /// D, or DH,DW.
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    dilation: String,
    #[arg(long, default_value = "1", allow_hyphen_values = true)]
    groups: String,
    /// auto, winograd or direct.
    #[arg(long, default_value = "auto")]
    algo: String,
    /// Winograd output tile: 2, 4 or 6.
    #[arg(long)]
    tile: Option<String>,
    /// auto, r_16_6_6 or r_6_6_16.
    #[arg(long, default_value = "auto")]
    layout: String,
    /// f32 or f16 (storage; arithmetic is f32).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// nchw or nhwc.
    #[arg(long, default_value = "nchw")]
    data_format: String,
    /// oihw or hwio.
    #[arg(long, default_value = "oihw")]
    weight_format: String,
    /// none, relu, relu6 or silu.
    #[arg(long, default_value = "none")]
    activation: String,
    /// Compare with the f64 CPU reference.
    #[arg(long)]
    verify: bool,
    /// Timed calls for the timing line.
    #[arg(long, default_value_t = 10)]
    iters: usize,
}

#[derive(Args)]
struct BenchArgs {
    /// seed, resnet or all.
    #[arg(long, default_value = "seed")]
    suite: String,
    #[arg(long)]
    json: Option<PathBuf>,
    #[arg(long)]
    plot: Option<PathBuf>,
    #[arg(long, default_value_t = 20)]
    iters: usize,
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Time every Winograd candidate first and let `auto` use the winner (cached on disk).
    #[arg(long)]
    tune: bool,
}

fn main() -> ExitCode {
    env_logger::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("bad arguments").trim_start_matches("error: ");
            eprintln!("wino: error: {first} (see wino --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Info => info(),
        Command::Conv(args) => conv(&args),
        Command::Emit { target, out } => emit_kernels(&target, &out),
        Command::Bench(args) => bench(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wino: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn context() -> Res<Context> {
    Context::new().map_err(|e| e.to_string())
}

fn info() -> Res<()> {
    for a in runtime::enumerate_adapters() {
        let i = a.get_info();
        println!(
            "adapter: {} ({:?}, {:?}, driver {} {})",
            i.name, i.backend, i.device_type, i.driver, i.driver_info
        );
    }
    let ctx = context()?;
    let i = ctx.adapter_info();
    println!("chosen:  {} ({:?})", i.name, i.backend);
    let l = ctx.limits();
    println!("  max_storage_buffer_binding_size     {}", l.max_storage_buffer_binding_size);
    println!("  max_buffer_size                     {}", l.max_buffer_size);
    println!("  max_compute_workgroups_per_dimension {}", l.max_compute_workgroups_per_dimension);
    println!("  max_compute_invocations_per_workgroup {}", l.max_compute_invocations_per_workgroup);
    println!("  max_compute_workgroup_storage_size  {}", l.max_compute_workgroup_storage_size);
    let f = runtime::enumerate_adapters()
        .into_iter()
        .find(|a| a.get_info().name == i.name)
        .map_or(ctx.features(), |a| a.features());
    for (name, flag) in [
        ("SHADER_F16", wgpu::Features::SHADER_F16),
        ("TIMESTAMP_QUERY", wgpu::Features::TIMESTAMP_QUERY),
        ("SUBGROUP", wgpu::Features::SUBGROUP),
    ] {
        println!("  {name:<16} {}", if f.contains(flag) { "yes" } else { "no" });
    }
    Ok(())
}

/// "3" or "1,2" as a pair; "3" or "1,2,3,4" as padding.
fn numbers(what: &str, text: &str, counts: &[usize]) -> Res<Vec<usize>> {
    let v: Vec<usize> = text
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("--{what} must be non-negative integers, got '{text}'"))?;
    if !counts.contains(&v.len()) {
        return Err(format!("--{what} takes {counts:?} comma-separated values, got '{text}'"));
    }
    Ok(v)
}

fn pair(what: &str, text: &str) -> Res<[usize; 2]> {
    let v = numbers(what, text, &[1, 2])?;
    Ok([v[0], *v.last().unwrap()])
}

fn parse<T: std::str::FromStr<Err = wgpu_winograd::Error>>(text: &str) -> Res<T> {
    text.parse().map_err(|e: wgpu_winograd::Error| e.to_string())
}

/// A float tensor from a `.npy` file: its shape, its values as f32, and whether it was f16.
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
    f16: bool,
}

fn read_npy(path: &Path, rank: usize, allow_f16: bool) -> Res<Tensor> {
    let name = path.display();
    let file = File::open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
    let file_len = file.metadata().map_err(|e| format!("{name}: {e}"))?.len();
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .map_err(|e| format!("{name}: not a valid .npy file ({e})"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let dtype = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => format!("{other:?}"),
    };
    let f16 = match dtype.as_str() {
        "<f4" => false,
        "<f2" if allow_f16 => true,
        _ => {
            return Err(format!(
                "{name}: dtype {dtype} not supported (expected little-endian float32 '<f4'{})",
                if allow_f16 { " or float16 '<f2'" } else { "" }
            ))
        }
    };
    if npy.order() != npyz::Order::C {
        return Err(format!("{name}: Fortran-ordered arrays are not supported"));
    }
    if shape.len() != rank {
        return Err(format!("{name}: expected a rank-{rank} array, got shape {shape:?}"));
    }
    let bytes = shape.iter().try_fold(if f16 { 2u64 } else { 4 }, |acc, &d| acc.checked_mul(d as u64));
    match bytes {
        Some(b) if b <= file_len => {}
        _ => {
            return Err(format!(
                "{name}: header claims shape {shape:?}, more data than the file's {file_len} bytes"
            ))
        }
    }
    let truncated = |e: std::io::Error| format!("{name}: truncated or unreadable data ({e})");
    let data = if f16 {
        npy.into_vec::<half::f16>().map_err(truncated)?.into_iter().map(f32::from).collect()
    } else {
        npy.into_vec::<f32>().map_err(truncated)?
    };
    Ok(Tensor { shape, data, f16 })
}

/// Writes a `.npy` next to its final name, then renames it into place.
fn write_npy(path: &Path, shape: &[usize], data: &[f32], f16: bool) -> Res<()> {
    let name = path.display();
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let write = || -> std::io::Result<()> {
        let out = BufWriter::new(File::create(&tmp)?);
        if f16 {
            let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
            w.extend(data.iter().map(|&v| half::f16::from_f32(v)))?;
            w.finish()
        } else {
            let mut w = npyz::WriteOptions::new().default_dtype().shape(&shape).writer(out).begin_nd()?;
            w.extend(data.iter().copied())?;
            w.finish()
        }
    };
    if let Err(e) = write().and_then(|_| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {name}: {e}"));
    }
    Ok(())
}

fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn describe(plan: &Plan) -> String {
    match plan.path {
        ConvPath::Winograd { m, r, layout, gemm } => format!(
            "winograd F({m}×{m},{r}×{r}) layout {layout}, product block {}×{}×{} ({} pass{})",
            gemm.bm,
            gemm.bn,
            gemm.bk,
            plan.pieces().len(),
            if plan.pieces().len() == 1 { "" } else { "es" }
        ),
        ConvPath::Direct => format!(
            "direct ({} pass{})",
            plan.pieces().len(),
            if plan.pieces().len() == 1 { "" } else { "es" }
        ),
    }
}

/// Reorders NHWC to logical NCHW dims.
fn logical(shape: &[usize], format: DataFormat) -> [usize; 4] {
    match format {
        DataFormat::Nchw => [shape[0], shape[1], shape[2], shape[3]],
        DataFormat::Nhwc => [shape[0], shape[3], shape[1], shape[2]],
    }
}

fn conv(a: &ConvArgs) -> Res<()> {
    let data_format: DataFormat = parse(&a.data_format)?;
    let weight_format: WeightFormat = parse(&a.weight_format)?;
    let dtype: DType = parse(&a.dtype)?;
    let pad = numbers("padding", &a.padding, &[1, 4])?;
    let padding = match pad[..] {
        [p] => Padding::uniform(p),
        [top, bottom, left, right] => Padding { top, bottom, left, right },
        _ => unreachable!("numbers() checked the count"),
    };
    let groups = numbers("groups", &a.groups, &[1])?[0];
    let (input, weights) = match (&a.input, &a.random) {
        (Some(path), None) => {
            let weight = a.weight.as_ref().ok_or("--weight is required with --input")?;
            (read_npy(path, 4, true)?, read_npy(weight, 4, false)?)
        }
        (None, Some(spec)) => {
            let s = numbers("random", spec, &[4])?;
            let cg = s[1] / groups.max(1);
            let wshape = match weight_format {
                WeightFormat::Oihw => vec![a.out_channels, cg, a.kernel, a.kernel],
                WeightFormat::Hwio => vec![a.kernel, a.kernel, cg, a.out_channels],
            };
            let ishape = match data_format {
                DataFormat::Nchw => s.clone(),
                DataFormat::Nhwc => vec![s[0], s[2], s[3], s[1]],
            };
            let scale = 1.0 / ((cg * a.kernel * a.kernel).max(1) as f32).sqrt();
            let w = random(wshape.iter().product(), 2).iter().map(|v| v * scale).collect();
            (
                Tensor { data: random(s.iter().product(), 1), shape: ishape, f16: false },
                Tensor { shape: wshape, data: w, f16: false },
            )
        }
        _ => return Err("give --input X.npy --weight W.npy, or --random N,C,H,W".into()),
    };
    let shape = logical(&input.shape, data_format);
    let w = &weights.shape;
    let (k, cg, kernel) = match weight_format {
        WeightFormat::Oihw => (w[0], w[1], [w[2], w[3]]),
        WeightFormat::Hwio => (w[3], w[2], [w[0], w[1]]),
    };
    if cg * groups != shape[1] {
        return Err(format!(
            "input has {} channels but the weights expect {cg} per group × {groups} group(s) = {}",
            shape[1],
            cg * groups
        ));
    }
    let bias = a.bias.as_ref().map(|p| read_npy(p, 1, false)).transpose()?;
    let residual = a.residual.as_ref().map(|p| read_npy(p, 4, true)).transpose()?;
    let desc = Conv2dDesc {
        in_channels: shape[1],
        out_channels: k,
        kernel,
        stride: pair("stride", &a.stride)?,
        dilation: pair("dilation", &a.dilation)?,
        padding,
        groups,
        has_bias: bias.is_some(),
        activation: parse::<Activation>(&a.activation)?,
        residual: residual.is_some(),
        algo: parse::<Algo>(&a.algo)?,
        tile: a
            .tile
            .as_ref()
            .map(|t| t.parse().map_err(|_| format!("--tile must be 2, 4 or 6, got '{t}'")))
            .transpose()?,
        layout: parse::<TileLayout>(&a.layout)?,
        gemm: None,
        dtype,
        data_format,
        weight_format,
    };
    let ctx = context()?;
    let err = |e: wgpu_winograd::Error| e.to_string();
    let conv =
        Conv2d::new(&ctx, desc.clone(), &weights.data, bias.as_ref().map(|b| &b.data[..])).map_err(err)?;
    let plan = conv.plan(shape).map_err(err)?;
    if let Some(r) = &residual {
        let want = plan.output;
        if logical(&r.shape, data_format) != want {
            return Err(format!(
                "residual has shape {:?} but the output is {want:?} (logical NCHW)",
                r.shape
            ));
        }
    }
    eprintln!("adapter: {}", ctx.adapter_info().name);
    eprintln!("path: {}", describe(&plan));
    let out: Vec<f32> = match dtype {
        DType::F32 => conv.run(&input.data, shape, residual.as_ref().map(|r| &r.data[..])).map_err(err)?,
        DType::F16 => {
            let h = |v: &[f32]| v.iter().map(|&x| half::f16::from_f32(x)).collect::<Vec<_>>();
            let res = residual.as_ref().map(|r| h(&r.data));
            conv.run(&h(&input.data), shape, res.as_deref())
                .map_err(err)?
                .into_iter()
                .map(f32::from)
                .collect()
        }
    };
    let t = conv.benchmark(shape, a.iters).map_err(err)?;
    let gpu = t.gpu_ms.map_or("n/a".into(), |g| format!("{g:.4} ms"));
    eprintln!(
        "time: gpu {gpu} (timestamps), wall {:.4} ms per call (submit + wait, upload excluded), {:?} → {:?}",
        t.wall_ms, shape, plan.output
    );
    if let Some(path) = &a.output {
        let [n, k, oh, ow] = plan.output;
        let dims = match data_format {
            DataFormat::Nchw => [n, k, oh, ow],
            DataFormat::Nhwc => [n, oh, ow, k],
        };
        write_npy(path, &dims, &out, input.f16)?;
        eprintln!("wrote {}", path.display());
    }
    if a.verify {
        // The reference sees exactly what the GPU saw: f16 runs use the f16-rounded inputs.
        let round = |v: &[f32]| -> Vec<f32> {
            if dtype == DType::F16 {
                v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect()
            } else {
                v.to_vec()
            }
        };
        let res = residual.as_ref().map(|r| round(&r.data));
        let want = reference::conv2d_f64(
            &desc,
            &round(&input.data),
            shape,
            &weights.data,
            bias.as_ref().map(|b| &b.data[..]),
            res.as_deref(),
        )
        .map_err(err)?;
        let e = reference::max_rel_error(&out, &want);
        let tol = if dtype == DType::F16 { 1e-2 } else { 1e-4 };
        let verdict = if e <= tol { "OK" } else { "FAIL" };
        println!("verify: max relative error {e:.3e} (tolerance {tol:e}): {verdict}");
        if e > tol {
            return Err(format!("verification failed: error {e:.3e} exceeds {tol:e}"));
        }
    }
    Ok(())
}

fn emit_kernels(target: &str, out: &Path) -> Res<()> {
    let ext = match target {
        "wgsl" => "wgsl",
        "msl" => "metal",
        "spv" => "spv",
        _ => return Err(format!("unknown --target '{target}' (expected wgsl, msl or spv)")),
    };
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let kernels = codegen::all_kernels();
    let mut total = 0;
    for k in &kernels {
        let (bytes, lines) = match ext {
            "wgsl" => (k.source.clone().into_bytes(), k.lines()),
            "metal" => {
                let msl = emit::to_msl(k).map_err(|e| e.to_string())?;
                let lines = msl.lines().count();
                (msl.into_bytes(), lines)
            }
            _ => {
                let words = emit::to_spirv(k).map_err(|e| e.to_string())?;
                (words.iter().flat_map(|w| w.to_le_bytes()).collect(), k.lines())
            }
        };
        let path = out.join(format!("{}.{ext}", k.name));
        std::fs::write(&path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("{:>6} lines  {}", lines, path.display());
        total += lines;
    }
    println!("{} kernels, {total} lines", kernels.len());
    Ok(())
}

/// One benchmark shape: name and logical [n, c, h, w] with K = C.
fn suite(name: &str) -> Res<Vec<(String, [usize; 4])>> {
    let seed = [24, 32, 48, 64, 96].map(|s| (format!("seed_{s}x{s}"), [1, 16, s, s]));
    let resnet = [32, 1].into_iter().flat_map(|n| {
        [(64, 56), (128, 28), (256, 14), (512, 7)]
            .map(|(c, s)| (format!("resnet_{c}c_{s}x{s}_b{n}"), [n, c, s, s]))
    });
    Ok(match name {
        "seed" => seed.to_vec(),
        "resnet" => resnet.collect(),
        "all" => seed.into_iter().chain(resnet).collect(),
        _ => return Err(format!("unknown --suite '{name}' (expected seed, resnet or all)")),
    })
}

fn bench(a: &BenchArgs) -> Res<()> {
    let shapes = suite(&a.suite)?;
    let dtype: DType = parse(&a.dtype)?;
    let ctx = context()?;
    let err = |e: wgpu_winograd::Error| e.to_string();
    let floor = ctx.empty_submit_ms(50).map_err(err)?;
    eprintln!("adapter: {}; empty submit + wait: {floor:.4} ms", ctx.adapter_info().name);
    let variants = [
        (Algo::Winograd, TileLayout::Auto),
        (Algo::Winograd, TileLayout::R16_6_6),
        (Algo::Winograd, TileLayout::R6_6_16),
        (Algo::Direct, TileLayout::Auto),
    ];
    let total = shapes.len() * variants.len();
    let mut results = Vec::new();
    for (name, shape) in &shapes {
        let [n, c, h, w] = *shape;
        let base = Conv2dDesc { dtype, ..Conv2dDesc::new(c, c, 3, 1) };
        let weights =
            random(base.weight_len(), 3).iter().map(|v| v / (9.0 * c as f32).sqrt()).collect::<Vec<_>>();
        if a.tune {
            let tuned = tune::tune(&ctx, &base, &weights, None, *shape, a.iters).map_err(err)?;
            eprintln!("tuned {name}: best {:?} {:.4} ms", tuned[0].choice, tuned[0].ms);
        }
        let mut row = Vec::new();
        for (algo, layout) in variants {
            let desc = Conv2dDesc { algo, layout, ..base.clone() };
            let conv = Conv2d::new(&ctx, desc, &weights, None).map_err(err)?;
            let plan = conv.plan(*shape).map_err(err)?;
            let t = conv.benchmark(*shape, a.iters).map_err(err)?;
            let (layout_name, tile) = match plan.path {
                ConvPath::Winograd { m, layout: resolved, .. } => (
                    if layout == TileLayout::Auto { "auto".to_string() } else { resolved.to_string() },
                    Some(m),
                ),
                ConvPath::Direct => ("auto".to_string(), None),
            };
            let ms = t.gpu_ms.unwrap_or(t.wall_ms);
            let tflops = 2.0 * 9.0 * (n * c * c * h * w) as f64 / ms / 1e9;
            eprintln!(
                "[{}/{total}] {name} {algo} {layout_name}: gpu {} wall {:.4} ms",
                results.len() + 1,
                t.gpu_ms.map_or("n/a".into(), |g| format!("{g:.4} ms")),
                t.wall_ms
            );
            let record = serde_json::json!({
                "name": name, "n": n, "c": c, "h": h, "w": w, "k": c,
                "algo": algo.to_string(), "layout": layout_name, "tile": tile, "dtype": dtype.to_string(),
                "gpu_ms": t.gpu_ms, "wall_ms": t.wall_ms, "tflops": tflops,
            });
            row.push(ms);
            results.push(record);
        }
        let best_fixed = row[1].min(row[2]);
        println!(
            "{name:<24} winograd auto {:.4} ms  r_16_6_6 {:.4}  r_6_6_16 {:.4}  auto/best {:.3}  direct {:.4}  direct/winograd {:.2}x  wall/floor {:.2}",
            row[0],
            row[1],
            row[2],
            row[0] / best_fixed,
            row[3],
            row[3] / row[0],
            results[results.len() - 4]["wall_ms"].as_f64().unwrap_or(f64::NAN) / floor
        );
    }
    let i = ctx.adapter_info();
    let doc = serde_json::json!({
        "adapter": {"name": i.name, "backend": format!("{:?}", i.backend), "device_type": format!("{:?}", i.device_type),
                     "driver": i.driver, "driver_info": i.driver_info},
        "empty_submit_ms": floor,
        "results": results,
    });
    if let Some(path) = &a.json {
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        write_atomically(path, text.as_bytes())?;
    }
    if let Some(path) = &a.plot {
        plot(path, &doc["results"])?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Res<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Time against image side, one line per (suite, batch, algo, layout).
fn plot(path: &Path, results: &serde_json::Value) -> Res<()> {
    use plotters::prelude::*;
    let rows = results.as_array().cloned().unwrap_or_default();
    let ms = |r: &serde_json::Value| r["gpu_ms"].as_f64().or(r["wall_ms"].as_f64()).unwrap_or(0.0);
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in &rows {
        let key = format!(
            "{} n={} {} {}",
            r["name"].as_str().unwrap_or("").split('_').next().unwrap_or(""),
            r["n"],
            r["algo"].as_str().unwrap_or(""),
            r["layout"].as_str().unwrap_or("")
        );
        let point = (r["h"].as_f64().unwrap_or(0.0), ms(r));
        match series.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push(point),
            None => series.push((key, vec![point])),
        }
    }
    let max_x = series.iter().flat_map(|s| s.1.iter().map(|p| p.0)).fold(1.0, f64::max);
    let max_y = series.iter().flat_map(|s| s.1.iter().map(|p| p.1)).fold(1e-3, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 640)).into_drawing_area();
        let e = |e: &dyn std::fmt::Display| format!("plotting: {e}");
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("conv2d time against image side", ("sans-serif", 20))
            .margin(20)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..max_x * 1.05, (1e-3..max_y * 1.5).log_scale())
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc("image side (pixels)")
            .y_desc("ms (GPU, else wall)")
            .draw()
            .map_err(|x| e(&x))?;
        for (i, (name, mut pts)) in series.into_iter().enumerate() {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|x| e(&x))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).draw().map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    write_atomically(path, svg.as_bytes())
}
