//! Limit profiles: the test matrix (Winograd F(2,3)/F(4,3)/F(6,3) separate and fused, the
//! product blocks at the workgroup limits, GEMM 1×1 / 3×3 stride 2 / 7×7 stride 2, depthwise,
//! direct, and a Winograd convolution whose domain buffer must be split into bands) under
//! WebGPU's default limits, wgpu's downlevel defaults and the limits wgpu's Metal backend
//! reports for an Apple7 (M1) GPU, each on the test adapter through `ContextOptions::limits`.
//!
//! A device cannot be created with limits above its adapter's, so each profile is clamped to the
//! adapter (`Limits::or_worse_values_from`): on lavapipe that changes only the Apple profile's
//! buffer sizes (lavapipe binds at most 128 MiB, like the two WebGPU profiles).

mod common;

use common::{ctx, data};
use std::sync::OnceLock;
use wgpu_winograd::reference::{conv2d_f64, max_rel_error, tolerance};
use wgpu_winograd::{
    Activation, Algo, Context, ContextOptions, Conv2d, Conv2dDesc, Engine, Error, GemmBlock, Product,
};

/// The limits wgpu-hal 30.0.2's Metal backend reports for an Apple7 (M1) GPU on macOS, from
/// `wgpu-hal/src/metal/adapter.rs` (crates.io wgpu-hal 30.0.2, the version this crate builds
/// against; `PrivateCapabilities::new` (line 622) fills the fields, `capabilities()` (line
/// 1333) turns them into `wgt::Limits` at lines 1398–1450). The fields a compute convolution
/// reads:
/// * `max_compute_invocations_per_workgroup` and `max_compute_workgroup_size_{x,y,z}`:
///   `max_threads_per_group` = 1024 for `macOS_GPUFamily1_v1` (lines 997–1007, used at 1441–1444);
/// * `max_compute_workgroup_storage_size`: `max_total_threadgroup_memory` = 32 KiB (lines
///   1012–1022, used at 1440);
/// * `max_compute_workgroups_per_dimension`: 0xFFFF (line 1446);
/// * `max_storage_buffers_per_shader_stage`: `MAX_BUFFERS - 2` = 29 (lines 54 and 1391), 9 with
///   `InstanceFlags::STRICT_WEBGPU_COMPLIANCE` (line 1384);
/// * `min_storage_buffer_offset_alignment`: 32 (line 1431); `min_uniform_buffer_offset_alignment`:
///   256 on macOS (lines 887–891);
/// * `max_buffer_size` and `max_storage_buffer_binding_size`: `MTLDevice.maxBufferLength`
///   (lines 897–898, 1424–1428), a run-time value not in the code: left unbounded here, so the
///   adapter's (clamped) value is used.
fn apple7() -> wgpu::Limits {
    wgpu::Limits {
        max_compute_invocations_per_workgroup: 1024,
        max_compute_workgroup_size_x: 1024,
        max_compute_workgroup_size_y: 1024,
        max_compute_workgroup_size_z: 1024,
        max_compute_workgroup_storage_size: 32 << 10,
        max_compute_workgroups_per_dimension: 0xFFFF,
        max_storage_buffers_per_shader_stage: 29,
        min_storage_buffer_offset_alignment: 32,
        min_uniform_buffer_offset_alignment: 256,
        max_buffer_size: u64::MAX,
        max_storage_buffer_binding_size: u64::MAX,
        ..wgpu::Limits::default()
    }
}

/// A context whose device has `profile`'s limits, clamped to the adapter's.
fn profile_ctx(profile: wgpu::Limits) -> Context {
    let limits = profile.or_worse_values_from(&ctx().limits());
    Context::with_options(ContextOptions { limits: Some(limits.clone()), ..Default::default() })
        .unwrap_or_else(|e| panic!("a device with limits {limits:?}: {e}"))
}

/// One convolution of the matrix.
struct Case {
    name: &'static str,
    desc: Conv2dDesc,
    shape: [usize; 4],
    /// The plan must split the call into more than one piece under every profile.
    must_split: bool,
}

/// Inputs and the f64 reference of one case, computed once for all profiles.
struct Prepared {
    x: Vec<f32>,
    w: Vec<f32>,
    b: Option<Vec<f32>>,
    r: Option<Vec<f32>>,
    want: Vec<f64>,
}

fn winograd(m: usize, product: Product, c: usize, k: usize) -> Conv2dDesc {
    Conv2dDesc {
        algo: Some(Algo::Winograd),
        tile: Some(m),
        product: Some(product),
        ..Conv2dDesc::new(c, k, 3, 1)
    }
}

fn forced(algo: Algo, mut d: Conv2dDesc) -> Conv2dDesc {
    d.algo = Some(algo);
    d
}

fn cases() -> Vec<Case> {
    let case = |name, desc, shape| Case { name, desc, shape, must_split: false };
    let mut out = Vec::new();
    for (m, sep, fused) in [
        (2, "F(2,3) separate", "F(2,3) fused"),
        (4, "F(4,3) separate", "F(4,3) fused"),
        (6, "F(6,3) separate", "F(6,3) fused"),
    ] {
        out.push(case(sep, winograd(m, Product::Separate, 24, 40), [2, 24, 19, 21]));
        out.push(case(fused, winograd(m, Product::Fused, 24, 40), [2, 24, 19, 21]));
    }
    // Many output channels and tiles: the automatic block is one of the big ones.
    out.push(case(
        "F(4,3) separate, 128 channels out",
        winograd(4, Product::Separate, 32, 128),
        [1, 32, 34, 34],
    ));
    // The blocks at WebGPU's workgroup limits (256 invocations, 16384 bytes): they fit the
    // default profile exactly and are refused under the downlevel one (16352 bytes).
    out.push(case(
        "F(2,3) block 128x128x16/8x8",
        winograd(2, Product::Engine(Engine::Registers(GemmBlock::B128)), 32, 128),
        [1, 32, 20, 20],
    ));
    out.push(case(
        "F(2,3) block 64x64x32/8x4",
        winograd(2, Product::Engine(Engine::Registers(GemmBlock::B64_DEEP)), 32, 64),
        [1, 32, 20, 20],
    ));
    // Bias, residual and activation: the most bindings a kernel has.
    let mut epilogue = winograd(2, Product::Fused, 16, 16);
    epilogue.has_bias = true;
    epilogue.residual = true;
    epilogue.activation = Activation::Relu;
    out.push(case("F(2,3) fused, bias + residual + ReLU", epilogue.clone(), [2, 16, 14, 14]));
    out.push(case(
        "F(4,3) separate, bias + residual + ReLU",
        Conv2dDesc { tile: Some(4), product: Some(Product::Separate), ..epilogue.clone() },
        [2, 16, 14, 14],
    ));
    let gemm_epilogue = Conv2dDesc { algo: Some(Algo::Gemm), tile: None, product: None, ..epilogue };
    out.push(case("GEMM 3×3, bias + residual + ReLU", gemm_epilogue, [2, 16, 14, 14]));
    // GEMM.
    out.push(case("GEMM 1×1", forced(Algo::Gemm, Conv2dDesc::new(32, 48, 1, 0)), [2, 32, 10, 10]));
    let mut s2 = Conv2dDesc::new(16, 32, 3, 1);
    s2.stride = [2, 2];
    out.push(case("GEMM 3×3 stride 2", forced(Algo::Gemm, s2), [1, 16, 17, 17]));
    let mut stem = Conv2dDesc::new(3, 16, 7, 3);
    stem.stride = [2, 2];
    out.push(case("GEMM 7×7 stride 2", forced(Algo::Gemm, stem), [2, 3, 32, 32]));
    // Depthwise and direct.
    let mut dw = Conv2dDesc::new(32, 32, 3, 1);
    dw.groups = 32;
    out.push(case("depthwise 3×3", forced(Algo::Depthwise, dw.clone()), [2, 32, 15, 15]));
    dw.stride = [2, 2];
    out.push(case("depthwise 3×3 stride 2", forced(Algo::Depthwise, dw), [1, 32, 16, 16]));
    out.push(case("direct 3×3", forced(Algo::Direct, Conv2dDesc::new(8, 12, 3, 1)), [1, 8, 11, 11]));
    // The Winograd-domain buffer of this call (16 elements × 16 channels × 368² tiles × 4 bytes
    // = 139 MB) exceeds a 128 MiB binding (every profile on lavapipe): there it must run in bands.
    out.push(Case {
        name: "F(2,3) separate past the 128 MiB binding (bands)",
        desc: winograd(2, Product::Separate, 16, 4),
        shape: [1, 16, 736, 736],
        must_split: true,
    });
    out
}

/// The matrix and its references, shared by the three profile tests.
fn prepared() -> &'static [(Case, Prepared)] {
    static P: OnceLock<Vec<(Case, Prepared)>> = OnceLock::new();
    P.get_or_init(|| {
        cases()
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let seed = 100 + 10 * i as u64;
                let d = &c.desc;
                let out: usize = d.output_shape(c.shape).unwrap().iter().product();
                let x = data(c.shape.iter().product(), seed);
                let w = data(d.weight_len().unwrap(), seed + 1);
                let b = d.has_bias.then(|| data(d.out_channels, seed + 2));
                let r = d.residual.then(|| data(out, seed + 3));
                let want = conv2d_f64(d, &x, c.shape, &w, b.as_deref(), r.as_deref()).unwrap();
                (c, Prepared { x, w, b, r, want })
            })
            .collect()
    })
}

/// Whether `block` fits `limits` (what the library must check before it uses it).
fn block_fits(block: GemmBlock, limits: &wgpu::Limits) -> bool {
    let [x, y] = block.workgroup_size();
    x * y <= limits.max_compute_invocations_per_workgroup
        && x <= limits.max_compute_workgroup_size_x
        && y <= limits.max_compute_workgroup_size_y
        && block.workgroup_bytes() <= limits.max_compute_workgroup_storage_size
}

/// Runs the matrix on a context with `profile`'s limits; collects every failure and panics
/// with all of them at the end.
fn run_profile(name: &str, profile: wgpu::Limits) {
    let pctx = profile_ctx(profile);
    let limits = pctx.limits();
    eprintln!(
        "{name}: {} invocations, {} bytes of workgroup memory, {} storage buffers per stage, \
         {} byte bindings",
        limits.max_compute_invocations_per_workgroup,
        limits.max_compute_workgroup_storage_size,
        limits.max_storage_buffers_per_shader_stage,
        limits.max_storage_buffer_binding_size
    );
    let mut failures = Vec::new();
    let mut split = false;
    for (case, p) in prepared() {
        let result = (|| -> Result<String, Error> {
            // A forced block the profile cannot hold must be refused as Unsupported, up front.
            if let Some(Product::Engine(Engine::Registers(b))) = case.desc.product {
                if !block_fits(b, &limits) {
                    return match Conv2d::new(&pctx, case.desc.clone(), &p.w, p.b.as_deref())
                        .and_then(|conv| conv.plan(case.shape).map(|_| ()))
                    {
                        Err(Error::Unsupported(_)) => Ok("refused (block does not fit): OK".into()),
                        Err(e) => Err(e),
                        Ok(()) => Err(Error::Codegen(format!("block {b} planned although it does not fit"))),
                    };
                }
            }
            let conv = Conv2d::new(&pctx, case.desc.clone(), &p.w, p.b.as_deref())?;
            let plan = conv.plan(case.shape)?;
            let pieces = plan.pieces().len();
            // The band split is forced only where the profile's binding is below the 139 MB the
            // case needs (every profile clamped to lavapipe's 128 MiB; Apple7's own is larger).
            let binding_too_small = limits.max_storage_buffer_binding_size < 139 << 20;
            if case.must_split && binding_too_small && pieces < 2 {
                return Err(Error::Codegen(format!("expected a split, got one piece: {plan}")));
            }
            split |= pieces > 1;
            if let Some(Engine::Registers(block)) = plan.path.engine() {
                if !block_fits(block, &limits) {
                    return Err(Error::Codegen(format!("the plan took block {block}, which does not fit")));
                }
            }
            let got = conv.run(&p.x, case.shape, p.r.as_deref())?;
            let (err, tol) = (max_rel_error(&got, &p.want), tolerance(case.desc.dtype, &plan));
            if err > tol {
                return Err(Error::Codegen(format!("max relative error {err:.2e} > {tol:.0e} ({plan})")));
            }
            Ok(format!("{plan}; {pieces} piece(s); error {err:.1e}"))
        })();
        match result {
            Ok(line) => eprintln!("  {}: {line}", case.name),
            Err(e) => {
                eprintln!("  {}: FAILED: {e}", case.name);
                failures.push(format!("{}: {e}", case.name));
            }
        }
    }
    assert!(split || limits.max_storage_buffer_binding_size >= 139 << 20, "{name}: no case was split");
    assert!(failures.is_empty(), "{name}: {} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn webgpu_default_limits() {
    run_profile("WebGPU defaults", wgpu::Limits::default());
}

#[test]
fn wgpu_downlevel_defaults() {
    run_profile("downlevel defaults", wgpu::Limits::downlevel_defaults());
}

#[test]
fn apple7_m1_limits() {
    run_profile("Apple7 (M1)", apple7());
}

#[test]
fn profiles_are_what_they_claim() {
    let default = profile_ctx(wgpu::Limits::default()).limits();
    assert_eq!(default.max_compute_invocations_per_workgroup, 256);
    assert_eq!(default.max_compute_workgroup_storage_size, 16 << 10);
    assert_eq!(default.max_storage_buffer_binding_size, 128 << 20);
    assert_eq!(default.max_storage_buffers_per_shader_stage, 8);
    let down = profile_ctx(wgpu::Limits::downlevel_defaults()).limits();
    assert_eq!(down.max_compute_workgroup_storage_size, 16352);
    assert_eq!(down.max_storage_buffers_per_shader_stage, 4);
    let apple = profile_ctx(apple7()).limits();
    let adapter = ctx().limits();
    assert_eq!(
        apple.max_compute_invocations_per_workgroup,
        adapter.max_compute_invocations_per_workgroup.min(1024)
    );
    assert_eq!(
        apple.max_compute_workgroup_storage_size,
        adapter.max_compute_workgroup_storage_size.min(32 << 10)
    );
}
