//! `wino bench`: times the layers of a suite (`wgpu_winograd::suites`) per algorithm variant:
//! a table and the network totals (Σ time × count) on stdout, progress and skipped layers on
//! stderr, optionally JSON records and an SVG plot. `--suite gemm` instead times a plain GEMM
//! on cooperative matrices with every block of 16×16 fragments. The transposed layers of the
//! dcgan and unet suites are timed in `bench_up`, the conv1d layers of whisper in `bench_1d`,
//! and the gradients of `--grad` in `bench_grad`; every record is built by [`Record::new`].

use crate::npy::{check_output, write_atomically};
use crate::{glue, lib, plot, Auto, BenchArgs, Fuse, Res, SuiteArg};
use clap::ValueEnum;
use serde::Serialize;
use wgpu_winograd::suites::{Layer, LayerOp, Suite};
use wgpu_winograd::{
    reference, tensor_matmul, tune, Algo, Context, Conv2d, Conv2dDesc, DType, Error, Precision, Product,
    TensorBlock, TileLayout, Timing,
};

/// A timed variant: forced algorithm, layout and Winograd tile (a forced tile also forces the
/// three separate kernels), each `None` for automatic.
type Variant = (Option<Algo>, Option<TileLayout>, Option<usize>);

/// The variants timed per layer of the seed and ResNet suites when `--algo` is not given.
const VARIANTS: [Variant; 4] = [
    (Some(Algo::Winograd), None, None),
    (Some(Algo::Winograd), Some(TileLayout::R16_6_6), None),
    (Some(Algo::Winograd), Some(TileLayout::R6_6_16), None),
    (Some(Algo::Direct), None, None),
];

/// The seed memo's experiment, done properly: F(4×4,3×3) as three kernels with each layout
/// forced, next to the variants above.
const SEED_EXPERIMENT: [Variant; 2] = [
    (Some(Algo::Winograd), Some(TileLayout::R16_6_6), Some(4)),
    (Some(Algo::Winograd), Some(TileLayout::R6_6_16), Some(4)),
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

impl AdapterJson {
    fn new(i: &wgpu::AdapterInfo) -> AdapterJson {
        AdapterJson {
            name: i.name.clone(),
            backend: i.backend.to_string(),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver.clone(),
            driver_info: i.driver_info.clone(),
        }
    }
}

/// Writes a report as pretty JSON, atomically.
fn write_json(path: &std::path::Path, report: &impl Serialize) -> Res<()> {
    let text = serde_json::to_string_pretty(report).map_err(|e| format!("JSON: {e}"))?;
    write_atomically(path, |w| w.write_all(text.as_bytes()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// `--suite gemm`: the adapter and one record per block that ran.
#[derive(Serialize)]
struct GemmReport {
    adapter: AdapterJson,
    /// What `Context::cooperative_matrices` reports, `16×16 f16→f32`.
    cooperative_matrices: String,
    date: String,
    results: Vec<GemmRecord>,
}

/// One block of `--suite gemm`.
#[derive(Serialize)]
struct GemmRecord {
    suite: &'static str,
    m: usize,
    n: usize,
    k: usize,
    block: String,
    gpu_ms: f64,
    tflops: f64,
    /// Elements of C that differ from the exact product.
    wrong: usize,
}

/// `--gemm-size` when not given.
const GEMM_SIZE: [usize; 3] = [4096, 4096, 4096];

/// One layer × variant × dtype (× gradient).
#[derive(Serialize)]
pub struct Record {
    pub name: String,
    pub n: usize,
    pub c: usize,
    /// Input height; 1 for a conv1d, which runs as `(n, c, 1, w)`.
    pub h: usize,
    /// Input width; a conv1d's length.
    pub w: usize,
    /// The operator's logical input shape: `[n, c, h, w]`, or `[n, c, w]` for a conv1d (the
    /// forward input for a gradient).
    pub input_shape: Vec<usize>,
    pub k: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
    pub groups: usize,
    /// How often the layer occurs in its network.
    pub count: usize,
    /// A transposed convolution (`c` → `k`, PyTorch's `ConvTranspose2d`, output padding 0).
    pub transposed: bool,
    /// A 1-D convolution (PyTorch's `Conv1d`): weights `(k, c / groups, kernel)`.
    pub conv1d: bool,
    /// `input` (dx) or `weight` (dw) where `--grad` timed the layer's gradient, else null.
    pub grad: Option<String>,
    /// The algorithm that ran (`auto` resolved): `winograd`, `gemm`, `depthwise`, `direct`,
    /// `transpose 4×gemm` (the phases' algorithms; an input gradient's too) or `gemm split-K 8`
    /// (a weight gradient).
    pub algo: String,
    /// The algorithm asked for: `auto`, `winograd` or `direct`.
    pub requested_algo: String,
    /// The layout asked for (`auto` or a fixed one).
    pub layout: String,
    /// The layout that ran (Winograd only).
    pub resolved_layout: Option<String>,
    /// The tile asked for (the seed experiment forces F(4,3)), if any.
    pub requested_tile: Option<usize>,
    pub tile: Option<usize>,
    /// `fused kernel` or the product block (Winograd, GEMM), a transposed layer's first
    /// phase's, or a weight gradient's engine and block.
    pub product: Option<String>,
    pub dtype: String,
    /// The precision asked for: `highest` or `high`.
    pub precision: String,
    /// Why the requested precision did not run as asked (`high` ran `highest`), if it did not.
    pub precision_note: Option<String>,
    pub gpu_ms: Option<f64>,
    /// The GPU's SM clock as the timing starts, where the platform tells it (nvidia-smi).
    pub sm_clock_mhz: Option<u32>,
    /// With `--error`: the error at batch 1 against the f64 reference, relative to max |y64|.
    pub max_error: Option<f64>,
    pub wall_ms: f64,
    /// Empty submit + wait, timed alternately with the calls.
    pub floor_ms: f64,
    /// Host time to record and submit one call.
    pub submit_ms: f64,
    pub tflops: f64,
    /// Compulsory traffic (input and output once, weights once) per second, in GB/s: the
    /// memory roofline measure for memory-bound layers such as depthwise ones.
    pub gbps: f64,
    /// With `--kernels`: each dispatch's median GPU time, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernels: Option<Vec<KernelTime>>,
}

#[derive(Serialize)]
pub struct KernelTime {
    kernel: String,
    gpu_ms: f64,
}

/// What an operator's plan says ran: the parts of a record that differ by operator.
pub(crate) struct Ran {
    /// See [`Record::algo`].
    pub algo: String,
    /// The algorithm forced (`--algo`), if any.
    pub requested: Option<Algo>,
    pub product: Option<String>,
    pub precision_note: Option<String>,
}

impl Ran {
    /// What a convolution's plan ran (a conv2d's or a conv1d's).
    pub(crate) fn of(plan: &wgpu_winograd::Plan, requested: Option<Algo>) -> Ran {
        Ran {
            algo: glue::algo_name(plan),
            requested,
            product: glue::plan_product(plan),
            precision_note: plan.precision_note.clone(),
        }
    }
}

/// A layer's timing and the SM clock it started at, as [`measure`] takes them.
pub(crate) struct Timed {
    pub timing: Timing,
    pub sm_clock_mhz: Option<u32>,
}

impl Record {
    /// The record of `layer` as every suite writes it: its geometry, the run's dtype, precision
    /// and gradient, what ran, the timing, and the rates (TFLOP/s from the layer's flop, GB/s
    /// from its compulsory traffic). The Winograd fields are left for `bench_one` to fill.
    pub(crate) fn new(
        layer: &Layer,
        a: &BenchArgs,
        ran: Ran,
        timed: Timed,
        max_error: Option<f64>,
    ) -> Record {
        let t = timed.timing;
        let ms = t.gpu_ms.unwrap_or(t.wall_ms);
        let input_shape = match layer.op {
            LayerOp::Conv1d => vec![layer.n, layer.c, layer.w],
            LayerOp::Conv2d | LayerOp::ConvTranspose2d => layer.input_shape().to_vec(),
        };
        Record {
            name: layer.name.clone(),
            n: layer.n,
            c: layer.c,
            h: layer.h,
            w: layer.w,
            input_shape,
            k: layer.k,
            kernel: layer.kernel,
            stride: layer.stride,
            padding: layer.padding,
            dilation: 1,
            groups: layer.groups,
            count: layer.count,
            transposed: layer.op == LayerOp::ConvTranspose2d,
            conv1d: layer.op == LayerOp::Conv1d,
            grad: a.grad.map(|g| g.to_string()),
            algo: ran.algo,
            requested_algo: Auto(ran.requested).to_string(),
            layout: "auto".into(),
            resolved_layout: None,
            requested_tile: None,
            tile: None,
            product: ran.product,
            dtype: a.dtype.to_string(),
            precision: a.precision.to_string(),
            precision_note: ran.precision_note,
            gpu_ms: t.gpu_ms,
            sm_clock_mhz: timed.sm_clock_mhz,
            max_error,
            wall_ms: t.wall_ms,
            floor_ms: t.floor_ms,
            submit_ms: t.submit_ms,
            tflops: layer.flop() / ms / 1e9,
            gbps: compulsory_bytes(layer, a.dtype) / ms / 1e6,
            kernels: None,
        }
    }

    /// GPU time where there are timestamps, else wall time.
    pub fn ms(&self) -> f64 {
        self.gpu_ms.unwrap_or(self.wall_ms)
    }
    /// `seed`, `resnet`, `resnet50`, `mobilenetv2`.
    pub fn suite(&self) -> &str {
        self.name.split('_').next().unwrap_or("")
    }
    /// The variant asked for: `winograd r_16_6_6`, `winograd r_16_6_6 tile 4`, `direct`,
    /// `auto`, `input grad`: records of one variant, and only they, add up to its total.
    fn variant(&self) -> String {
        if let Some(grad) = &self.grad {
            return format!("{grad} grad");
        }
        let mut v = match self.layout.as_str() {
            "auto" => self.requested_algo.clone(),
            layout => format!("{} {layout}", self.requested_algo),
        };
        if let Some(m) = self.requested_tile {
            v += &format!(" tile {m}");
        }
        v
    }
}

/// Keeps a GPU's clock up. An idle Hopper sits at 345 MHz, takes a while under load to reach
/// 1980 MHz, and falls back within a second or two of idling, for instance while a record's
/// pipelines compile: layers timed after such a pause came out up to 3× slow (BENCHMARKS.md,
/// "Clocks"). So one second of back-to-back convolutions before the run, and a fixed busy time
/// right before each record is timed: no figure depends on what ran before it. CPU adapters
/// need none.
pub(crate) struct Warmer(Option<(Conv2d, wgpu::Buffer, wgpu::Buffer)>);

/// The warm-up convolution's input: ResNet's 256→256 3×3 at 28², batch 32 (0.2 ms a call).
const WARM_SHAPE: [usize; 4] = [32, 256, 28, 28];

impl Warmer {
    fn new(ctx: &Context) -> Res<Warmer> {
        if ctx.adapter_info().device_type == wgpu::DeviceType::Cpu {
            return Ok(Warmer(None));
        }
        let desc = Conv2dDesc::new(256, 256, 3, 1);
        let weights = vec![0.01f32; lib(desc.weight_len())?];
        let conv = lib(Conv2d::new(ctx, desc, &weights, None))?;
        let bytes = WARM_SHAPE.iter().product::<usize>() as u64 * 4;
        let buffer = |label| {
            ctx.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            })
        };
        let warmer = Warmer(Some((conv, buffer("warm-up input"), buffer("warm-up output"))));
        warmer.spin(1.0)?;
        Ok(warmer)
    }

    /// Back-to-back convolutions for `seconds`, two submissions of 16 calls in flight, so the
    /// GPU never idles (a loop that waits for each call leaves it idle half the time, and its
    /// clock falls).
    fn spin(&self, seconds: f64) -> Res<()> {
        let Some((conv, x, y)) = &self.0 else { return Ok(()) };
        let (device, queue) = (conv.context().device(), conv.context().queue());
        let start = std::time::Instant::now();
        let mut previous = None;
        while start.elapsed().as_secs_f64() < seconds {
            let mut encoder = device.create_command_encoder(&Default::default());
            for _ in 0..16 {
                lib(conv.encode(&mut encoder, WARM_SHAPE, x, y, None))?;
            }
            let index = queue.submit([encoder.finish()]);
            if let Some(index) = previous.replace(index) {
                let wait = wgpu::PollType::Wait { submission_index: Some(index), timeout: None };
                device.poll(wait).map_err(|e| format!("warming the GPU: {e}"))?;
            }
        }
        device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| format!("warming the GPU: {e}"))?;
        Ok(())
    }
}

/// Busy time right before each record: 0.2 s keeps the clock where the 1 s warm-up took it.
const RECORD_WARM_S: f64 = 0.2;

/// Times a layer as every record is timed, `bench(n)` being the operator's `benchmark` of `n`
/// calls: one call (pipelines compile on the first), the clock warmed, the SM clock read (the
/// query idles the GPU for a moment, so a short spin after it), then `iters` calls.
pub(crate) fn measure(
    warmer: &Warmer,
    iters: u32,
    bench: impl Fn(usize) -> wgpu_winograd::Result<Timing>,
) -> Res<Timed> {
    lib(bench(1))?;
    warmer.spin(RECORD_WARM_S)?;
    let sm_clock_mhz = sm_clock_mhz();
    warmer.spin(0.05)?;
    Ok(Timed { timing: lib(bench(iters as usize))?, sm_clock_mhz })
}

/// The GPU's SM clock now, where the platform tells it (`nvidia-smi`; none elsewhere).
fn sm_clock_mhz() -> Option<u32> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=clocks.sm", "--format=csv,noheader,nounits", "-i", "0"])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

pub fn run(a: &BenchArgs) -> Res<()> {
    for path in a.json.iter().chain(&a.plot) {
        check_output(path, &[])?;
    }
    let suite = match a.suite {
        SuiteArg::Gemm => return run_gemm(a),
        _ if a.gemm_size.is_some() => return Err("--gemm-size applies to --suite gemm only".into()),
        _ if a.gemm_blocks.is_some() => return Err("--gemm-blocks applies to --suite gemm only".into()),
        SuiteArg::Seed => Suite::Seed,
        SuiteArg::Resnet => Suite::Resnet,
        SuiteArg::Resnet50 => Suite::Resnet50,
        SuiteArg::Mobilenetv2 => Suite::Mobilenetv2,
        SuiteArg::All => Suite::All,
        SuiteArg::Dcgan => Suite::Dcgan,
        SuiteArg::Unet => Suite::Unet,
        SuiteArg::Whisper => Suite::Whisper,
    };
    check_options(a, suite)?;
    let mut layers = suite.layers(a.batch as usize);
    if let Some(text) = &a.layers {
        layers.retain(|l| l.name.contains(text.as_str()));
        if layers.is_empty() {
            let names: Vec<String> = suite.layers(a.batch as usize).into_iter().map(|l| l.name).collect();
            return Err(format!(
                "--layers '{text}' matches none of the suite's layers ({})",
                names.join(", ")
            ));
        }
    }
    let variants: Vec<Variant> = match (a.algo, suite) {
        (Some(algo), _) => vec![(algo.0, None, None)],
        (None, _) if a.grad.is_some() => vec![(None, None, None)],
        (None, Suite::Resnet50 | Suite::Mobilenetv2 | Suite::Dcgan | Suite::Unet | Suite::Whisper) => {
            vec![(None, None, None)]
        }
        (None, Suite::Seed) => [&VARIANTS[..], &SEED_EXPERIMENT[..]].concat(),
        (None, _) => VARIANTS.to_vec(),
    };
    let ctx = lib(Context::new())?;
    if a.kernels && !ctx.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
        return Err(format!(
            "--kernels needs GPU timestamps (TIMESTAMP_QUERY), which adapter '{}' lacks",
            ctx.adapter_info().name
        ));
    }
    let warmer = Warmer::new(&ctx)?;
    let (floor, one_dispatch) = lib(ctx.dispatch_floor_ms(200))?;
    let i = ctx.adapter_info();
    eprintln!(
        "adapter: {} ({}); empty submit + wait {floor:.4} ms; one empty dispatch + wait {one_dispatch:.4} ms ({:.3}×)",
        i.name,
        i.backend,
        one_dispatch / floor
    );
    let total = layers.len() * variants.len();
    let (mut results, mut step, mut skipped) = (Vec::new(), 0, 0);
    // Each distinct precision note is printed once, not per layer.
    let mut notes: Vec<String> = Vec::new();
    print_header();
    for layer in &layers {
        if a.tune && layer.op == LayerOp::ConvTranspose2d {
            eprintln!("not tuned: {}: each phase of a transposed layer takes the ladder", layer.name);
        } else if a.tune {
            tune_layer(&ctx, layer, a)?;
        }
        let first = results.len();
        for &(algo, layout, tile) in &variants {
            step += 1;
            match a.grad {
                Some(grad) => eprintln!("[{step}/{total}] {} {grad} grad ...", layer.name),
                None => eprintln!("[{step}/{total}] {} {} {} ...", layer.name, Auto(algo), Auto(layout)),
            }
            let timed = match (layer.op, a.grad) {
                (_, Some(grad)) => {
                    Some((crate::bench_grad::bench_grad(&ctx, &warmer, layer, grad, a)?, None))
                }
                (LayerOp::ConvTranspose2d, None) => {
                    crate::bench_up::bench_transposed(&ctx, &warmer, layer, algo, a)?.map(|r| (r, None))
                }
                (LayerOp::Conv1d, None) => {
                    crate::bench_1d::bench_conv1d(&ctx, &warmer, layer, algo, a)?.map(|r| (r, None))
                }
                (LayerOp::Conv2d, None) => bench_one(&ctx, &warmer, layer, (algo, layout, tile), a)?,
            };
            match timed {
                Some((record, resolved)) => {
                    if let Some(note) = record.precision_note.as_ref().filter(|n| !notes.contains(n)) {
                        eprintln!("{note} (first for {}; not repeated for later layers)", layer.name);
                        notes.push(note.clone());
                    }
                    print_row(&record, resolved);
                    results.push(record);
                }
                None => skipped += 1,
            }
        }
        if variants.starts_with(&VARIANTS) && results.len() - first >= VARIANTS.len() {
            print_ratios(&results[first..]);
        }
    }
    print_totals(&results, skipped);
    let report = Report {
        adapter: AdapterJson::new(i),
        empty_submit_ms: floor,
        empty_dispatch_ms: one_dispatch,
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        results,
    };
    if let Some(path) = &a.json {
        write_json(path, &report)?;
    }
    if let Some(path) = &a.plot {
        let svg = plot::plot(&report.results)?;
        write_atomically(path, |w| w.write_all(svg.as_bytes()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// Refuses options that do not apply to the suite or to `--grad`, naming them and why.
fn check_options(a: &BenchArgs, suite: Suite) -> Res<()> {
    let name = a.suite.to_possible_value().map_or(String::new(), |v| v.get_name().to_string());
    if let Some(grad) = a.grad {
        if !matches!(suite, Suite::Seed | Suite::Resnet | Suite::Resnet50 | Suite::Mobilenetv2 | Suite::All) {
            return Err(format!(
                "--grad applies to the conv2d suites (seed, resnet, resnet50, mobilenetv2, all), not --suite {name}"
            ));
        }
        let forward = [
            ("--algo", a.algo.is_some()),
            ("--tune", a.tune),
            ("--fuse", a.fuse != Fuse::Auto),
            ("--kernels", a.kernels),
        ];
        if let Some((flag, _)) = forward.iter().find(|(_, given)| *given) {
            return Err(format!(
                "{flag} applies to the forward convolution, not --grad {grad}: the gradients choose their own path"
            ));
        }
    }
    if suite == Suite::Whisper {
        let refused = [
            ("--tune", a.tune, "tunes Winograd, which a conv1d's 1×3 kernel never runs"),
            ("--fuse", a.fuse != Fuse::Auto, "is a Winograd option, which a conv1d's 1×3 kernel never runs"),
            ("--kernels", a.kernels, "times Winograd's kernels, which a conv1d's 1×3 kernel never runs"),
            ("--plot", a.plot.is_some(), "draws time against image side; the whisper layers have one length"),
        ];
        if let Some((flag, _, why)) = refused.iter().find(|r| r.1) {
            return Err(format!("{flag} {why} (--suite {name})"));
        }
    }
    Ok(())
}

/// The layer's error at batch 1 on pseudo-random data in [−1, 1) against the f64 reference,
/// relative to max |y64| (f32 data; f16 data are rounded first, as stored).
fn layer_error(conv: &Conv2d, weights: &[f32], shape: [usize; 4]) -> Res<f64> {
    let shape = [1, shape[1], shape[2], shape[3]];
    let desc = conv.desc();
    let x = error_data(shape.iter().product(), 17, desc.dtype);
    let got = run_as(desc.dtype, &x, |x| conv.run(x, shape, None), |x| conv.run(x, shape, None))?;
    let want = lib(reference::conv2d_f64(desc, &x, shape, weights, None, None))?;
    Ok(reference::max_rel_error(&got, &want))
}

/// Pseudo-random values in [−1, 1) as `dtype` stores them (f16 rounds): the data an error
/// check gives both the operator and the f64 reference.
pub(crate) fn error_data(len: usize, seed: u64, dtype: DType) -> Vec<f32> {
    crate::conv::round_to_dtype(&reference::pseudo_random(len, seed), dtype)
}

/// Runs an operator on `x` as `dtype`'s element type (`f32_run` or `f16_run`); f32 values back.
pub(crate) fn run_as(
    dtype: DType,
    x: &[f32],
    f32_run: impl FnOnce(&[f32]) -> wgpu_winograd::Result<Vec<f32>>,
    f16_run: impl FnOnce(&[half::f16]) -> wgpu_winograd::Result<Vec<half::f16>>,
) -> Res<Vec<f32>> {
    crate::ops::run_as(dtype, x, None, |x, _| f32_run(x), |x, _| f16_run(x))
}

/// The operator `made` for `layer`, or `None` where a forced algorithm cannot build it (the
/// layer is skipped, and stderr says why); any other error fails the run.
pub(crate) fn built_or_skipped<T>(
    made: wgpu_winograd::Result<T>,
    layer: &Layer,
    algo: Option<Algo>,
) -> Res<Option<T>> {
    match made {
        Ok(op) => Ok(Some(op)),
        Err(e) if algo.is_some() => {
            eprintln!("skipped: {}: {e}", layer.name);
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Deterministic weights scaled like a He initialisation: `len` values, `fan_in` inputs each.
pub(crate) fn bench_weights(len: usize, fan_in: usize) -> Vec<f32> {
    let scale = 1.0 / (fan_in.max(1) as f32).sqrt();
    reference::pseudo_random(len, 3).iter().map(|v| v * scale).collect()
}

/// A conv2d layer's weights for `desc` (`bench_weights` over the layer's fan-in).
pub(crate) fn layer_weights(desc: &Conv2dDesc, layer: &Layer) -> Res<Vec<f32>> {
    Ok(bench_weights(glue::weight_len(desc)?, layer.c / layer.groups * layer.taps()))
}

fn tune_layer(ctx: &Context, layer: &Layer, a: &BenchArgs) -> Res<()> {
    let desc = glue::layer_desc(layer, None, None, a.fuse, a.dtype, a.precision);
    if desc.is_depthwise() {
        eprintln!("not tuned: {}: depthwise layers have one kernel", layer.name);
        return Ok(());
    }
    let weights = layer_weights(&desc, layer)?;
    let tuned = lib(tune::tune(ctx, &desc, &weights, None, layer.input_shape(), a.iters as usize))?;
    // The winner (cached) and the runners-up, fastest first.
    for (rank, c) in tuned.iter().take(4).enumerate() {
        eprintln!(
            "{} {}: {}: {:.4} ms",
            if rank == 0 { "tuned" } else { "   then" },
            layer.name,
            c.choice,
            c.ms
        );
    }
    Ok(())
}

/// Times one variant; returns its record and the layout the plan resolved to (Winograd only),
/// or `None` (with a note on stderr) where the forced algorithm cannot do the layer.
fn bench_one(
    ctx: &Context,
    warmer: &Warmer,
    layer: &Layer,
    (algo, layout, tile): Variant,
    a: &BenchArgs,
) -> Res<Option<(Record, Option<TileLayout>)>> {
    let desc = glue::layer_desc(layer, algo, layout, a.fuse, a.dtype, a.precision);
    let desc = match tile {
        Some(m) => Conv2dDesc { tile: Some(m), product: Some(Product::Separate), ..desc },
        None => desc,
    };
    if algo == Some(Algo::Winograd) && !glue::winograd_applies(&desc) {
        eprintln!(
            "skipped: {} ({}×{} stride {} groups {}): Winograd does not apply",
            layer.name, layer.kernel, layer.kernel, layer.stride, layer.groups
        );
        return Ok(None);
    }
    let weights = layer_weights(&desc, layer)?;
    let Some(conv) = built_or_skipped(Conv2d::new(ctx, desc, &weights, None), layer, algo)? else {
        return Ok(None);
    };
    let shape = layer.input_shape();
    let plan = lib(conv.plan(shape))?;
    let timed = measure(warmer, a.iters, |iters| conv.benchmark(shape, iters))?;
    let max_error = if a.error { Some(layer_error(&conv, &weights, shape)?) } else { None };
    let parts = glue::winograd_parts(&plan);
    let kernels = match (a.kernels, &parts) {
        (true, Some(_)) => Some(
            lib(conv.benchmark_kernels(shape, a.iters as usize))?
                .into_iter()
                .map(|(kernel, gpu_ms)| KernelTime { kernel, gpu_ms })
                .collect(),
        ),
        _ => None,
    };
    let record = Record {
        layout: Auto(layout).to_string(),
        resolved_layout: parts.as_ref().map(|p| p.1.to_string()),
        requested_tile: tile,
        tile: parts.as_ref().map(|p| p.0),
        kernels,
        ..Record::new(layer, a, Ran::of(&plan, algo), timed, max_error)
    };
    Ok(Some((record, parts.map(|p| p.1))))
}

fn print_header() {
    println!(
        "{:<44} {:<16} {:<20} {:>4} {:<22} {:>5} {:>10} {:>10} {:>10} {:>8} {:>8}",
        "shape",
        "algo",
        "layout",
        "tile",
        "product",
        "dtype",
        "gpu ms",
        "wall ms",
        "wall/floor",
        "TFLOP/s",
        "GB/s"
    );
}

/// Bytes a layer must move at least: its input and output once each (in `dtype`), its weights
/// once (f32). A gradient moves the same: dy and dx, or x and dy, and w or dw.
fn compulsory_bytes(layer: &Layer, dtype: DType) -> f64 {
    let elements = |d: [usize; 4]| d.iter().product::<usize>() as f64;
    let activations = elements(layer.input_shape()) + elements(layer.output_shape());
    activations * dtype.size() as f64 + layer.weight_len() as f64 * 4.0
}

fn print_row(r: &Record, resolved: Option<TileLayout>) {
    let layout = match resolved {
        _ if r.grad.is_some() => "-".to_string(),
        Some(l) if r.layout == "auto" => format!("auto ({l})"),
        _ => r.layout.clone(),
    };
    let algo = match (&r.grad, r.requested_algo.as_str()) {
        (Some(grad), _) => format!("{grad} grad: {}", r.algo),
        (None, "auto") => format!("{} (auto)", r.algo),
        (None, _) => r.algo.clone(),
    };
    let gpu = r.gpu_ms.map_or("n/a".to_string(), |g| format!("{g:.4}"));
    let tile = r.tile.map_or("-".to_string(), |m| m.to_string());
    let product = r.product.as_deref().unwrap_or("-").replace("product block ", "");
    println!(
        "{:<44} {:<16} {:<20} {:>4} {:<22} {:>5} {:>10} {:>10.4} {:>10.3} {:>8.4} {:>8.1}",
        r.name,
        algo,
        layout,
        tile,
        product,
        r.dtype,
        gpu,
        r.wall_ms,
        r.wall_ms / r.floor_ms,
        r.tflops,
        r.gbps
    );
    for k in r.kernels.iter().flatten() {
        println!("{:<44}   {:<69} {:>10.4}", "", k.kernel, k.gpu_ms);
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
        "{:<44} time ratios: winograd/direct {:.3}, auto/best fixed layout {:.3}",
        rows[0].name,
        auto / ms("direct", "auto"),
        auto / best_fixed
    );
}

/// Per variant, the network total Σ time × count, with the share of each algorithm that ran.
fn print_totals(results: &[Record], skipped: usize) {
    let clock = if results.iter().all(|r| r.gpu_ms.is_some()) { "gpu_ms" } else { "gpu_ms, else wall_ms" };
    let mut variants: Vec<String> = Vec::new();
    for v in results.iter().map(Record::variant) {
        if !variants.contains(&v) {
            variants.push(v);
        }
    }
    for variant in variants {
        let rows: Vec<&Record> = results.iter().filter(|r| r.variant() == variant).collect();
        let sum = |rows: &[&Record]| rows.iter().map(|r| r.ms() * r.count as f64).sum::<f64>();
        let convs = |rows: &[&Record]| rows.iter().map(|r| r.count).sum::<usize>();
        let mut line = format!(
            "total {variant}: {:.4} ms over {} convs in {} layers (Σ {clock} × count)",
            sum(&rows),
            convs(&rows),
            rows.len()
        );
        if variant == "auto" {
            let parts: Vec<String> = ["winograd", "gemm", "depthwise", "direct"]
                .iter()
                .filter_map(|algo| {
                    let part: Vec<&Record> = rows.iter().copied().filter(|r| r.algo == *algo).collect();
                    (!part.is_empty())
                        .then(|| format!("{algo} {:.4} ms on {} convs", sum(&part), convs(&part)))
                })
                .collect();
            line += &format!(": {}", parts.join(", "));
        }
        println!("{line}");
    }
    if skipped > 0 {
        println!("({skipped} layer(s) skipped: the forced algorithm cannot do them; see stderr)");
    }
    let noted = results.iter().filter(|r| r.precision_note.is_some()).count();
    if noted > 0 {
        println!(
            "(precision {} ran as highest in {noted} of {} record(s); see stderr and the JSON's precision_note)",
            results[0].precision,
            results.len()
        );
    }
}

/// `--suite gemm`: `tensor_matmul` with every block of 16×16 fragments that fits the adapter.
/// Blocks that cannot run this size here are skipped (stderr); an adapter without cooperative
/// matrices is an error, and so is any wrong element (after the table and JSON are written).
fn run_gemm(a: &BenchArgs) -> Res<()> {
    let conv_only = [
        ("--algo", a.algo.is_some()),
        ("--plot", a.plot.is_some()),
        ("--tune", a.tune),
        ("--kernels", a.kernels),
        ("--batch", a.batch != 32),
        ("--fuse", a.fuse != Fuse::Auto),
        ("--dtype", a.dtype != DType::F32),
        ("--grad", a.grad.is_some()),
        ("--layers", a.layers.is_some()),
    ];
    if let Some((flag, _)) = conv_only.iter().find(|(_, given)| *given) {
        return Err(format!(
            "{flag} applies to the convolution suites, not --suite gemm (f16 operands, f32 results)"
        ));
    }
    let [m, n, k] = a.gemm_size.unwrap_or(GEMM_SIZE);
    if m == 0 || n == 0 || k == 0 {
        return Err(format!("--gemm-size {m},{n},{k}: every dimension must be positive"));
    }
    let ctx = lib(Context::new())?;
    let (i, limits) = (ctx.adapter_info(), ctx.limits());
    // A and B in f16, C in f32, each in one binding (checked before any host allocation).
    let binding = limits.max_storage_buffer_binding_size;
    for (what, rows, cols, bytes) in [("A", k, m, 2u64), ("B", k, n, 2), ("C", m, n, 4)] {
        match (rows as u64).checked_mul(cols as u64).and_then(|e| e.checked_mul(bytes)) {
            Some(b) if b <= binding => {}
            _ => {
                return Err(format!(
                    "--gemm-size {m},{n},{k}: {what} ({rows}×{cols}) needs more than the {binding} bytes \
                     a binding holds on this adapter"
                ))
            }
        }
    }
    let blocks = a.gemm_blocks.as_deref().unwrap_or(&TensorBlock::CATALOGUE_16);
    // An empty GEMM does no GPU work: it fails on the adapter (Unsupported) before the shape, so
    // an adapter without cooperative matrices gives its one error line before any other output.
    if let Err(e @ Error::Unsupported(_)) = tensor_matmul(&ctx, [0, 0, 0], blocks[0], 1) {
        return Err(e.to_string());
    }
    let coop = ctx.cooperative_matrices();
    eprintln!("adapter: {} ({}); cooperative matrices: {coop}", i.name, i.backend);
    let warmer = Warmer::new(&ctx)?;
    let mut results: Vec<GemmRecord> = Vec::new();
    for (step, block) in blocks.iter().enumerate() {
        if !ctx.tensor_block_fits(block, Precision::High) {
            let [wm, wn] = block.subgroups();
            eprintln!(
                "skipped: {block}: its workgroup ({wm}×{wn} subgroups, {} bytes of workgroup memory) \
                 exceeds this adapter's limits ({} invocations, {} bytes)",
                block.workgroup_bytes(2),
                limits.max_compute_invocations_per_workgroup,
                limits.max_compute_workgroup_storage_size
            );
            continue;
        }
        let tile = [block.bm() as usize, block.bn() as usize, block.bk() as usize];
        if !(m.is_multiple_of(tile[0]) && n.is_multiple_of(tile[1]) && k.is_multiple_of(tile[2])) {
            eprintln!(
                "skipped: {block}: {m}×{n}×{k} is not a multiple of its {}×{}×{}",
                tile[0], tile[1], tile[2]
            );
            continue;
        }
        eprintln!("[{}/{}] gemm {m}×{n}×{k} {block} ...", step + 1, blocks.len());
        // Compile (one call), warm the clock, then time.
        let _ = tensor_matmul(&ctx, [m, n, k], *block, 1);
        warmer.spin(RECORD_WARM_S)?;
        let t = match tensor_matmul(&ctx, [m, n, k], *block, a.iters as usize) {
            Ok(t) => t,
            Err(e @ Error::TooLarge(_)) => {
                eprintln!("skipped: {block}: {e}");
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        if results.is_empty() {
            println!("{:<24} {:>16} {:>10} {:>9} {:>8}", "block", "m×n×k", "gpu ms", "TFLOP/s", "wrong");
        }
        println!(
            "{:<24} {:>16} {:>10.4} {:>9.2} {:>8}",
            block.to_string(),
            format!("{m}×{n}×{k}"),
            t.gpu_ms,
            t.tflops,
            t.wrong
        );
        let block = block.to_string();
        let (gpu_ms, tflops, wrong) = (t.gpu_ms, t.tflops, t.wrong);
        results.push(GemmRecord { suite: "gemm", m, n, k, block, gpu_ms, tflops, wrong });
    }
    if results.is_empty() {
        return Err(format!(
            "no block of 16×16 fragments could run GEMM {m}×{n}×{k} on adapter '{}' \
             (cooperative matrices: {coop}); see the skipped lines",
            i.name
        ));
    }
    let wrong: Vec<String> =
        results.iter().filter(|r| r.wrong > 0).map(|r| format!("{} ({} wrong)", r.block, r.wrong)).collect();
    let report = GemmReport {
        adapter: AdapterJson::new(i),
        cooperative_matrices: coop,
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        results,
    };
    if let Some(path) = &a.json {
        write_json(path, &report)?;
    }
    if !wrong.is_empty() {
        return Err(format!("tensor GEMM {m}×{n}×{k} gave wrong elements with {}", wrong.join(", ")));
    }
    Ok(())
}
