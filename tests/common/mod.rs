//! Shared helpers for the integration tests, each defined once: one context per test binary
//! (with its own tune cache), deterministic tensors, the f64 reference check, caller buffers,
//! layout converters, f16 conversion and the resident-memory probe of the soak.
#![allow(dead_code)]

use half::f16;
use std::path::PathBuf;
use std::sync::OnceLock;
use wgpu::BufferUsages as U;
use wgpu_winograd::reference::{conv2d_f64, max_rel_error};
use wgpu_winograd::{reference, Context, Conv2d, Conv2dDesc, Error, Plan};

/// Deterministic pseudo-random values in [-1, 1): `data(len, seed)`.
pub use wgpu_winograd::reference::pseudo_random as data;

/// The tune cache of this test binary: a fresh file in the temporary directory, named after the
/// binary and the process, so no test reads or writes the developer's `~/.cache` file and two
/// binaries running at once never share one.
pub fn cache_file() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let binary = exe.as_deref().and_then(|p| p.file_stem()).and_then(|s| s.to_str()).unwrap_or("test");
    std::env::temp_dir().join(format!("wgpu-winograd-{binary}-{}.tsv", std::process::id()))
}

/// The adapter every GPU test runs on. Fails loudly when there is none: CI installs lavapipe.
/// Every test that makes a context of its own calls this first, so that the cache variable is
/// set before the library can read it.
pub fn ctx() -> &'static Context {
    static CTX: OnceLock<Context> = OnceLock::new();
    CTX.get_or_init(|| {
        let cache = cache_file();
        // A file left by an earlier process with the same id would be read as this one's.
        let _ = std::fs::remove_file(&cache);
        // SAFETY: `set_var` is unsound only while another thread reads the environment. This
        // runs inside the OnceLock's initialiser, before the first `Context` of the process
        // exists: other threads that want the context block on the OnceLock, the library reads
        // the variable only once a context plans a call, and the tests that create contexts of
        // their own call `ctx()` first. So no thread reads the environment meanwhile.
        unsafe { std::env::set_var("WGPU_WINOGRAD_CACHE", &cache) };
        let ctx = Context::new().unwrap_or_else(|e| panic!("GPU tests need a wgpu adapter: {e}"));
        eprintln!("GPU tests on: {} ({:?})", ctx.adapter_info().name, ctx.adapter_info().backend);
        ctx
    })
}

/// A context on the same adapter with lowered limits (the adapter's others), so that small
/// convolutions must be split. Calls [`ctx`] first (see there).
pub fn limited_ctx(binding: u64, buffer: u64, groups: u32) -> Context {
    let limits = wgpu::Limits {
        max_storage_buffer_binding_size: binding,
        max_buffer_size: buffer,
        max_compute_workgroups_per_dimension: groups,
        ..ctx().limits()
    };
    Context::with_options(wgpu_winograd::ContextOptions { limits: Some(limits), ..Default::default() })
        .expect("lowered limits accepted")
}

/// The logical output shape of `d` on `shape`.
pub fn out_shape(d: &Conv2dDesc, shape: [usize; 4]) -> [usize; 4] {
    d.output_shape(shape).unwrap_or_else(|e| panic!("{d:?} on {shape:?}: {e}"))
}

/// Input, weights, bias and residual for one descriptor on one input shape, deterministic in
/// the seed (laid out as the descriptor says: the data are random either way).
#[derive(Clone)]
pub struct Tensors {
    pub x: Vec<f32>,
    pub w: Vec<f32>,
    pub b: Option<Vec<f32>>,
    pub r: Option<Vec<f32>>,
}

impl Tensors {
    pub fn new(d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> Tensors {
        let out: usize = out_shape(d, shape).iter().product();
        Tensors {
            x: data(shape.iter().product(), seed),
            w: data(d.weight_len().unwrap(), seed + 1),
            b: d.has_bias.then(|| data(d.out_channels, seed + 2)),
            r: d.residual.then(|| data(out, seed + 3)),
        }
    }

    /// The same tensors rounded to f16 and back (what f16 storage can hold; weights and bias
    /// stay f32, as the library keeps them).
    pub fn rounded_to_f16(&self) -> Tensors {
        Tensors { x: round_f16(&self.x), r: self.r.as_deref().map(round_f16), ..self.clone() }
    }

    /// The f64 reference output.
    pub fn reference(&self, d: &Conv2dDesc, shape: [usize; 4]) -> Vec<f64> {
        conv2d_f64(d, &self.x, shape, &self.w, self.b.as_deref(), self.r.as_deref()).unwrap()
    }

    /// A convolution on `ctx` with these weights and bias.
    pub fn conv_on(&self, ctx: &Context, d: &Conv2dDesc) -> Result<Conv2d, Error> {
        Conv2d::new(ctx, d.clone(), &self.w, self.b.as_deref())
    }

    /// A convolution on the shared context; panics with the descriptor on error.
    pub fn conv(&self, d: &Conv2dDesc) -> Conv2d {
        self.conv_on(ctx(), d).unwrap_or_else(|e| panic!("Conv2d::new({d:?}): {e}"))
    }

    /// The blocking call on f32 data; panics with the descriptor on error.
    pub fn run(&self, conv: &Conv2d, shape: [usize; 4]) -> Vec<f32> {
        let out = conv.run(&self.x, shape, self.r.as_deref());
        out.unwrap_or_else(|e| panic!("{:?} on {shape:?}: {e}", conv.desc()))
    }

    /// The blocking call with the data converted to f16 (the descriptor's dtype must be F16),
    /// returned as f32.
    pub fn run_f16(&self, conv: &Conv2d, shape: [usize; 4]) -> Vec<f32> {
        let r = self.r.as_deref().map(to_f16);
        let out = conv.run(&to_f16(&self.x), shape, r.as_deref());
        out.unwrap_or_else(|e| panic!("{:?} on {shape:?}: {e}", conv.desc()))
            .into_iter()
            .map(f32::from)
            .collect()
    }
}

/// Runs `d` on the shared context and on the f64 reference; returns (GPU output, error).
pub fn check(d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> (Vec<f32>, f64) {
    let t = Tensors::new(d, shape, seed);
    let got = t.run(&t.conv(d), shape);
    let err = max_rel_error(&got, &t.reference(d, shape));
    (got, err)
}

/// Runs `d` on `ctx` with the blocking API (f32 or f16 per its dtype); returns the plan taken
/// and the error against the f64 reference.
pub fn verify(ctx: &Context, d: &Conv2dDesc, shape: [usize; 4], seed: u64) -> Result<(Plan, f64), Error> {
    let mut t = Tensors::new(d, shape, seed);
    if d.dtype == wgpu_winograd::DType::F16 {
        t = t.rounded_to_f16();
    }
    let conv = t.conv_on(ctx, d)?;
    let plan = conv.plan(shape)?;
    let got = if d.dtype == wgpu_winograd::DType::F16 {
        let r = t.r.as_deref().map(to_f16);
        conv.run(&to_f16(&t.x), shape, r.as_deref())?.into_iter().map(f32::from).collect()
    } else {
        conv.run(&t.x, shape, t.r.as_deref())?
    };
    Ok((plan, max_rel_error(&got, &t.reference(d, shape))))
}

/// The error a correct result of `conv` on `shape` may have against the f64 reference.
pub fn tolerance(conv: &Conv2d, shape: [usize; 4]) -> f64 {
    reference::tolerance(conv.desc().dtype, &conv.plan(shape).unwrap())
}

/// Bit patterns, for comparisons that must be exact.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// `v` rounded to the nearest f16 and back.
pub fn round_f16(v: &[f32]) -> Vec<f32> {
    v.iter().map(|&x| f16::from_f32(x).to_f32()).collect()
}

/// `v` as f16.
pub fn to_f16(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

// ---------------------------------------------------------------------------------------------
// Caller buffers

/// A buffer of `bytes` bytes with `usage`.
pub fn buffer(ctx: &Context, bytes: u64, usage: U) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage,
        mapped_at_creation: false,
    })
}

/// A STORAGE | COPY_SRC | COPY_DST buffer of `len` f32 values, filled with `values` if given.
pub fn tensor(ctx: &Context, len: usize, values: Option<&[f32]>) -> wgpu::Buffer {
    let b = buffer(ctx, 4 * len as u64, U::STORAGE | U::COPY_DST | U::COPY_SRC);
    if let Some(v) = values {
        ctx.queue().write_buffer(&b, 0, bytemuck::cast_slice(v));
    }
    b
}

/// Copies `len` f32 values out of `src` after everything submitted so far.
pub fn read(ctx: &Context, src: &wgpu::Buffer, len: usize) -> Vec<f32> {
    let staging = buffer(ctx, 4 * len as u64, U::MAP_READ | U::COPY_DST);
    let mut enc = ctx.device().create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(src, 0, &staging, 0, 4 * len as u64);
    ctx.queue().submit([enc.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r).unwrap());
    ctx.wait().unwrap();
    rx.recv().unwrap().expect("mapping the readback buffer");
    let bytes = staging.get_mapped_range(..).unwrap().to_vec();
    bytemuck::pod_collect_to_vec(&bytes)
}

/// Records with `record` into a fresh encoder on the shared context, submits, and returns all
/// of `output`'s values.
pub fn encode_and_read(record: impl FnOnce(&mut wgpu::CommandEncoder), output: &wgpu::Buffer) -> Vec<f32> {
    let mut enc = ctx().device().create_command_encoder(&Default::default());
    record(&mut enc);
    ctx().queue().submit([enc.finish()]);
    read(ctx(), output, (output.size() / 4) as usize)
}

// ---------------------------------------------------------------------------------------------
// Layouts

/// The layout converters, shared with the library's own unit tests (not every test binary uses them).
#[allow(unused_imports)]
pub use wgpu_winograd::reference::{nchw_to_nhwc, oihw_to_hwio};

// ---------------------------------------------------------------------------------------------
// Memory

/// Resident set size in KiB (Linux); None elsewhere.
pub fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4) // 4 KiB pages
}
