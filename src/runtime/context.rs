//! The device and queue, the adapter choice, the pipeline cache and the submit floors.

use super::{lock, median};
use crate::codegen::Kernel;
use crate::error::{Error, Result};
use crate::plan::TensorCaps;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use web_time::Instant;

/// How [`Context::with_options_async`] creates its device.
#[derive(Clone, Debug, Default)]
pub struct ContextOptions {
    /// Limits to request instead of the adapter's own (e.g. lowered, to exercise splitting).
    pub limits: Option<wgpu::Limits>,
    /// Store f16 activations packed in pairs into `u32` words and convert with the core WGSL
    /// builtins `unpack2x16float`/`pack2x16float`, even where the adapter has SHADER_F16: for
    /// tests (the packed path is bit-identical to the native one) and for adapters whose native
    /// f16 you do not want. Adapters without SHADER_F16 always use the packed storage.
    pub packed_f16: bool,
}

/// A device and queue plus the compiled pipelines shared by every convolution made from it.
/// Cheap to clone.
#[derive(Clone)]
pub struct Context {
    shared: Arc<Shared>,
}

struct Shared {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    lost: Arc<AtomicBool>,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    packed_f16: bool,
    tensor: TensorCaps,
}

/// The device features a cooperative-matrix kernel needs: the matrices themselves, f16 for
/// their operands, subgroups for the subgroup index that places each fragment.
const TENSOR_FEATURES: wgpu::Features = wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX
    .union(wgpu::Features::SHADER_F16)
    .union(wgpu::Features::SUBGROUP);

/// What the planner may use of an adapter's cooperative matrices on a device with `features`:
/// nothing unless the device has all of [`TENSOR_FEATURES`] and the adapter one fixed
/// subgroup size (the generated workgroups are that many invocations per subgroup).
fn tensor_caps(
    props: &[wgpu::CooperativeMatrixProperties],
    features: wgpu::Features,
    info: &wgpu::AdapterInfo,
) -> TensorCaps {
    use wgpu::CooperativeScalarType as T;
    if !features.contains(TENSOR_FEATURES) || info.subgroup_min_size != info.subgroup_max_size {
        return TensorCaps::default();
    }
    let has = |side: u32, ab: T| {
        props.iter().any(|p| {
            p.m_size == side && p.n_size == side && p.k_size == side && p.ab_type == ab && p.cr_type == T::F32
        })
    };
    TensorCaps {
        f16_16: has(16, T::F16),
        f16_8: has(8, T::F16),
        f32_8: has(8, T::F32),
        subgroup: info.subgroup_min_size,
    }
}

const NO_ADAPTER_HINT: &str = "no wgpu adapter found; on Linux without a GPU install the lavapipe software \
     Vulkan driver (apt-get install mesa-vulkan-drivers), or set WGPU_BACKEND";

/// Lists the adapters wgpu can see, honouring WGPU_BACKEND.
pub async fn enumerate_adapters_async() -> Vec<wgpu::Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    instance.enumerate_adapters(wgpu::Backends::all()).await
}

/// [`enumerate_adapters_async`], blocking.
#[cfg(feature = "blocking")]
pub fn enumerate_adapters() -> Vec<wgpu::Adapter> {
    pollster::block_on(enumerate_adapters_async())
}

/// The names `WGPU_BACKEND` accepts (wgpu's own, case-insensitive, comma-separated), with the
/// backends they select. wgpu's `noop` backend is left out: it runs nothing.
const BACKEND_NAMES: &[(&[&str], wgpu::Backends)] = &[
    (&["vulkan", "vk"], wgpu::Backends::VULKAN),
    (&["metal", "mtl"], wgpu::Backends::METAL),
    (&["dx12", "d3d12"], wgpu::Backends::DX12),
    (&["gl", "gles", "opengl"], wgpu::Backends::GL),
    (&["webgpu"], wgpu::Backends::BROWSER_WEBGPU),
];

/// The backends `WGPU_BACKEND` names, `None` where it is unset. wgpu itself skips names it
/// does not know (with a log line) and, given none it knows, finds no adapter and says so as if
/// nothing were installed; here every comma-separated entry must be a backend name, and an
/// empty value, an empty entry or an unknown one is an error that names it.
fn backends_from_env() -> Result<Option<wgpu::Backends>> {
    let Some(value) = std::env::var_os("WGPU_BACKEND") else { return Ok(None) };
    let accepted = BACKEND_NAMES
        .iter()
        .map(|(names, _)| match names {
            [name] => name.to_string(),
            [name, aliases @ ..] => format!("{name} ({})", aliases.join(", ")),
            [] => unreachable!("every backend has a name"),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let shown = value.to_string_lossy();
    let bad = |why: String| {
        Error::NoAdapter(format!(
            "WGPU_BACKEND='{shown}' {why}; expected a comma-separated list of {accepted}, or leave \
             WGPU_BACKEND unset to try them all"
        ))
    };
    let text = value.to_str().ok_or_else(|| bad("is not valid UTF-8".into()))?;
    let mut backends = wgpu::Backends::empty();
    for entry in text.split(',') {
        let name = entry.trim().to_lowercase();
        if name.is_empty() {
            return Err(bad("has an empty entry".into()));
        }
        match BACKEND_NAMES.iter().find(|(names, _)| names.contains(&name.as_str())) {
            Some((_, b)) => backends |= *b,
            None => return Err(bad(format!("names an unknown backend '{}'", entry.trim()))),
        }
    }
    Ok(Some(backends))
}

/// The power preference `WGPU_POWER_PREF` names (`low`, `high` or `none`, case-insensitive, as
/// wgpu reads it), high performance where it is unset. wgpu ignores any other value; here it is
/// an error.
fn power_preference_from_env() -> Result<wgpu::PowerPreference> {
    let Some(value) = std::env::var_os("WGPU_POWER_PREF") else {
        return Ok(wgpu::PowerPreference::HighPerformance);
    };
    match value.to_str().map(|v| v.trim().to_lowercase()).as_deref() {
        Some("high") => Ok(wgpu::PowerPreference::HighPerformance),
        Some("low") => Ok(wgpu::PowerPreference::LowPower),
        Some("none") => Ok(wgpu::PowerPreference::None),
        _ => Err(Error::NoAdapter(format!(
            "WGPU_POWER_PREF='{}' is not a power preference; expected low, high or none, or leave \
             WGPU_POWER_PREF unset for high",
            value.to_string_lossy()
        ))),
    }
}

/// The adapter WGPU_ADAPTER_NAME names, else wgpu's pick for WGPU_POWER_PREF (high performance by
/// default). Without WGPU_BACKEND the primary backends (Vulkan, Metal, DX12) are tried before GL,
/// the least capable one (no f16, no subgroups, no timestamps on most drivers), which is used only
/// when nothing else is there. A WGPU_BACKEND or WGPU_POWER_PREF that names nothing wgpu knows is
/// an error, before any adapter is looked for.
async fn choose_adapter() -> Result<wgpu::Adapter> {
    let backends = backends_from_env()?;
    let power_preference = power_preference_from_env()?;
    let tiers = match backends {
        Some(backends) => vec![backends],
        None => vec![wgpu::Backends::PRIMARY, wgpu::Backends::SECONDARY],
    };
    let wanted = std::env::var("WGPU_ADAPTER_NAME").ok();
    let mut seen = Vec::new();
    for backends in tiers {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = backends;
        // Indirect-call validation costs time per dispatch and we issue no indirect calls.
        desc.flags = wgpu::InstanceFlags::empty().with_env();
        let instance = wgpu::Instance::new(desc);
        let found = match &wanted {
            Some(name) => {
                let adapters = instance.enumerate_adapters(backends).await;
                seen.extend(adapters.iter().map(|a| a.get_info().name));
                adapters.into_iter().find(|a| a.get_info().name.to_lowercase().contains(&name.to_lowercase()))
            }
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference,
                    force_fallback_adapter: false,
                    compatible_surface: None,
                    apply_limit_buckets: false,
                })
                .await
                .ok(),
        };
        if let Some(adapter) = found {
            return Ok(adapter);
        }
    }
    Err(Error::NoAdapter(match wanted {
        Some(name) => {
            format!("WGPU_ADAPTER_NAME='{name}' matches none of the adapters: [{}]", seen.join(", "))
        }
        // WGPU_BACKEND is valid here (checked above) but its backends have no adapter.
        None => match std::env::var("WGPU_BACKEND") {
            Ok(set) => format!(
                "no wgpu adapter found on the backends WGPU_BACKEND='{set}' selects; choose others, or \
                 leave WGPU_BACKEND unset to try them all"
            ),
            Err(_) => NO_ADAPTER_HINT.into(),
        },
    }))
}

/// The limits a device is created with unless [`ContextOptions::limits`] says otherwise: the
/// adapter's own, except in the browser, where the WebGPU defaults (`wgpu::Limits::default()`,
/// which every WebGPU adapter supports) are asked for, so that the plans a page makes (and the
/// kernels it compiles) are the same on every visitor's adapter and no request can be refused.
fn default_limits(adapter: &wgpu::Adapter) -> wgpu::Limits {
    match adapter.get_info().backend {
        wgpu::Backend::BrowserWebGpu => wgpu::Limits::default(),
        _ => adapter.limits(),
    }
}

impl Context {
    /// Creates a device on the adapter chosen by WGPU_BACKEND, WGPU_ADAPTER_NAME (a
    /// case-insensitive substring of the adapter name) and WGPU_POWER_PREF: blocks on
    /// [`Context::new_async`].
    #[cfg(feature = "blocking")]
    pub fn new() -> Result<Context> {
        pollster::block_on(Context::new_async())
    }

    /// Like [`Context::new`], with options: blocks on [`Context::with_options_async`].
    #[cfg(feature = "blocking")]
    pub fn with_options(options: ContextOptions) -> Result<Context> {
        pollster::block_on(Context::with_options_async(options))
    }

    /// [`Context::new`] without blocking (the way in the browser, whose main thread cannot
    /// block). In the browser the environment variables are absent: wgpu's high-performance
    /// WebGPU adapter is taken, with the WebGPU default limits.
    pub async fn new_async() -> Result<Context> {
        Context::with_options_async(ContextOptions::default()).await
    }

    /// [`Context::with_options`] without blocking. The device is the library's: it gets an
    /// uncaptured-error handler that logs and a device-lost callback that makes later calls
    /// fail with [`Error::Gpu`] (see [`Context::from_device`] for a device of your own).
    pub async fn with_options_async(options: ContextOptions) -> Result<Context> {
        let adapter = choose_adapter().await?;
        let web = adapter.get_info().backend == wgpu::Backend::BrowserWebGpu;
        // Timestamps are read back with a blocking wait, which the browser does not have.
        let mut wanted = wgpu::Features::SHADER_F16;
        if !web {
            wanted |= wgpu::Features::TIMESTAMP_QUERY;
        }
        if adapter.features().contains(TENSOR_FEATURES) && !adapter.cooperative_matrix_properties().is_empty()
        {
            wanted |= TENSOR_FEATURES;
        }
        let features = adapter.features() & wanted;
        let limits = options.limits.unwrap_or_else(|| default_limits(&adapter));
        // Limits below what the fixed kernels need are refused here, naming the limit, rather
        // than by wgpu at the first pipeline or bind group.
        crate::algo::check_limits(&limits)?;
        // SAFETY (the `unsafe` opt-in to wgpu's experimental features): cooperative matrices are
        // the only experimental feature requested, and only where the adapter reports both the
        // feature and its fragment shapes. The kernels use only shapes and types the adapter
        // listed, load and store fragments only at offsets the planner proved in bounds (every
        // staged tile lies inside its workgroup array; global memory is touched only through
        // the ordinary bounds-guarded loads), and call the builtins only in uniform control
        // flow with subgroup-uniform pointers and strides, which is what the feature's contract
        // (SPV_KHR_cooperative_matrix, MSL simdgroup_matrix) asks of a shader.
        let experimental = if features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX) {
            unsafe { wgpu::ExperimentalFeatures::enabled() }
        } else {
            wgpu::ExperimentalFeatures::disabled()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-winograd"),
                required_features: features,
                required_limits: limits,
                experimental_features: experimental,
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::RequestDevice(e.to_string()))?;
        // Our device: nobody else can have installed handlers on it.
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_, msg| {
            log::error!("device lost: {msg}");
            flag.store(true, Ordering::SeqCst);
        });
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| log::error!("uncaptured wgpu error: {e}")));
        let tensor = tensor_caps(&adapter.cooperative_matrix_properties(), features, &adapter.get_info());
        Ok(Context::wrap(device, queue, tensor, lost, options.packed_f16))
    }

    /// Like [`Context::from_device`], with the adapter the device came from, so that its
    /// cooperative-matrix shapes (which only the adapter reports) can be used: where the device
    /// was created with `EXPERIMENTAL_COOPERATIVE_MATRIX`, `SHADER_F16` and `SUBGROUP` (see
    /// `device.features()`), `Precision::High` runs on them. The device stays the app's, as
    /// with [`Context::from_device`]: no handler or callback of the app's is replaced.
    pub fn from_adapter_device(adapter: &wgpu::Adapter, device: wgpu::Device, queue: wgpu::Queue) -> Context {
        let tensor =
            tensor_caps(&adapter.cooperative_matrix_properties(), device.features(), &device.adapter_info());
        Context::wrap(device, queue, tensor, Arc::default(), false)
    }

    /// Wraps a device and queue the app already has. The device stays the app's: the library
    /// installs no uncaptured-error handler and no device-lost callback on it (wgpu keeps one
    /// of each per device, so installing ours would silently replace the app's). Errors the
    /// library causes come back as [`Error::Gpu`] from its own error scopes; errors outside
    /// them (the app's `submit` of an encoder `encode` recorded into) reach the app's handler.
    /// A lost device shows as the wgpu errors of the calls after it.
    ///
    /// wgpu reports cooperative-matrix shapes only through the adapter, so a context made here
    /// runs no tensor-core kernels (`Precision::High` runs `Highest` and the plan says so):
    /// use [`Context::from_adapter_device`] for them.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Context {
        Context::wrap(device, queue, TensorCaps::default(), Arc::default(), false)
    }

    /// The one constructor: `lost` is set by a device-lost callback where the device is ours.
    fn wrap(
        device: wgpu::Device,
        queue: wgpu::Queue,
        tensor: TensorCaps,
        lost: Arc<AtomicBool>,
        packed_f16: bool,
    ) -> Context {
        let info = device.adapter_info();
        Context {
            shared: Arc::new(Shared {
                device,
                queue,
                info,
                lost,
                pipelines: Mutex::default(),
                packed_f16,
                tensor,
            }),
        }
    }

    /// Refuses a caller's buffer that is mapped (or being mapped) or that belongs to another
    /// device. wgpu 30 has no accessor for a buffer's device, so the buffer's own device is
    /// asked: `unmap` of an unmapped buffer raises a validation error on the device that owns
    /// it, and only ours has the error scope pushed here (scopes are per thread). Nothing is
    /// resolved through our device, so a foreign id can neither panic nor name another buffer.
    ///
    /// Never blocks: the scope's answer is polled once, ready at once on native wgpu. On WebGPU
    /// the probe is skipped: its scopes answer only asynchronously, unmapping an unmapped buffer
    /// is no error there, and WebGPU itself refuses (as a validation error, never undefined
    /// behaviour) a bind group over another device's buffer and a submit that uses a mapped one.
    pub(crate) fn check_owned(&self, what: &str, buffer: &wgpu::Buffer) -> Result<()> {
        if self.is_web() {
            return Ok(());
        }
        // Mapped (or mapped at creation): the buffer's own device hands out a view. Unmapped or
        // pending: "Buffer is not mapped". Anything else (destroyed, a view already held, a
        // range mapped elsewhere) is refused too. `unmap` below must not meet a mapped buffer.
        let probe = buffer.size().min(4) & !3;
        if probe > 0 {
            match buffer.get_mapped_range(0..probe) {
                Ok(view) => {
                    drop(view);
                    return Err(Error::InvalidBuffer(format!(
                        "{what} buffer is mapped: unmap it before encoding a call that uses it"
                    )));
                }
                Err(e) if !e.to_string().contains("not mapped") => {
                    return Err(Error::InvalidBuffer(format!(
                        "{what} buffer is mapped or destroyed: {}",
                        e.to_string().trim()
                    )));
                }
                Err(_) => {}
            }
        }
        let scope = self.device().push_error_scope(wgpu::ErrorFilter::Validation);
        buffer.unmap();
        match super::futures::poll_once(scope.pop()) {
            Some(Some(_)) => Ok(()),
            // Not answered at once (no backend wgpu-core runs): the probe cannot tell.
            None => Ok(()),
            Some(None) => Err(Error::InvalidBuffer(format!(
                "{what} buffer does not belong to this convolution's device (a buffer of another \
                 Context or wgpu::Device), or had a map_async pending, which was cancelled"
            ))),
        }
    }

    /// The device, for creating buffers and encoders to pass to [`Conv2d::encode`](super::Conv2d::encode).
    pub fn device(&self) -> &wgpu::Device {
        &self.shared.device
    }
    /// The queue the library submits on.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.shared.queue
    }
    /// Name, backend and driver of the adapter.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.shared.info
    }
    /// The device limits plans are made against.
    pub fn limits(&self) -> wgpu::Limits {
        self.shared.device.limits()
    }
    /// The device features (SHADER_F16, TIMESTAMP_QUERY where the adapter has them).
    pub fn features(&self) -> wgpu::Features {
        self.shared.device.features()
    }

    /// The cooperative-matrix products the planner may use: `16×16 f16→f32`, `8×8 f32`, … or
    /// `none` (what `wino info` prints).
    pub fn cooperative_matrices(&self) -> String {
        self.shared.tensor.describe()
    }

    /// Whether this context can run `block` for `precision` (f16 fragments for `High`, f32 for
    /// `Highest`): the adapter has the fragments and the workgroup fits its limits.
    pub fn tensor_block_fits(
        &self,
        block: &crate::blocks::TensorBlock,
        precision: crate::desc::Precision,
    ) -> bool {
        let caps = self.shared.tensor;
        caps.frag(precision) == Some(block.frag())
            && crate::algo::tensor_fits(block, precision, caps, &self.limits())
    }

    pub(crate) fn tensor(&self) -> TensorCaps {
        self.shared.tensor
    }

    /// Whether f16 activations are stored packed in pairs into `u32` words (the adapter lacks
    /// SHADER_F16, or [`ContextOptions::packed_f16`] asked for it) rather than as native f16.
    pub fn packed_f16(&self) -> bool {
        self.shared.packed_f16 || !self.features().contains(wgpu::Features::SHADER_F16)
    }

    /// Whether the device is the browser's WebGPU, whose error scopes and mappings answer only
    /// asynchronously and which has no blocking wait.
    pub(crate) fn is_web(&self) -> bool {
        self.shared.info.backend == wgpu::Backend::BrowserWebGpu
    }

    /// Runs `f` inside validation and out-of-memory error scopes, and returns its value with
    /// the scopes' answer, still to be awaited. Both scopes are popped before this returns
    /// (wgpu-core's scopes are per thread), so dropping the answer unawaited leaves none open.
    fn in_scopes<R>(
        &self,
        what: &str,
        f: impl FnOnce() -> R,
    ) -> Result<(R, impl Future<Output = Result<()>>)> {
        if self.shared.lost.load(Ordering::SeqCst) {
            return Err(Error::Gpu("the device was lost".into()));
        }
        let oom = self.device().push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device().push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let (v, o) = (validation.pop(), oom.pop());
        let what = what.to_string();
        Ok((out, async move {
            match v.await.or(o.await) {
                Some(e) => Err(Error::Gpu(format!("{what}: {e}"))),
                None => Ok(()),
            }
        }))
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch
    /// into [`Error::Gpu`], awaiting the scopes.
    pub(crate) async fn scoped_async<R>(&self, what: &str, f: impl FnOnce() -> R) -> Result<R> {
        let (out, check) = self.in_scopes(what, f)?;
        check.await.map(|()| out)
    }

    /// [`Context::scoped_async`] for the synchronous calls, never blocking: on native wgpu the
    /// scopes answer at once. On WebGPU they answer only asynchronously, so `f` runs without
    /// scopes and what it gets wrong reaches the device's uncaptured-error handler (the
    /// library's, which logs, or the app's own on a device from [`Context::from_device`]).
    pub(crate) fn scoped<R>(&self, what: &str, f: impl FnOnce() -> R) -> Result<R> {
        if self.is_web() {
            return Ok(f());
        }
        let (out, check) = self.in_scopes(what, f)?;
        super::futures::now(what, "the async API", check).map(|()| out)
    }

    /// Blocks until the queue is idle. WebGPU has no such wait: there it is
    /// [`Error::Unsupported`] (the calls that need it, the timings, say so instead of timing
    /// nothing).
    pub fn wait(&self) -> Result<()> {
        if self.is_web() {
            return Err(Error::Unsupported(
                "WebGPU cannot wait for the GPU synchronously: await Conv2d::run_async instead".into(),
            ));
        }
        self.device()
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))
    }

    /// [`Context::pipeline_async`] for the synchronous calls (native wgpu only).
    pub(crate) fn pipeline(&self, kernel: &Kernel) -> Result<Arc<wgpu::ComputePipeline>> {
        super::futures::now("compiling a kernel", "the async API", self.pipeline_async(kernel))
    }

    /// The compute pipeline for a generated kernel, compiled once per context; cached only once
    /// its error scopes said it compiled.
    pub(crate) async fn pipeline_async(&self, kernel: &Kernel) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = lock(&self.shared.pipelines).get(&kernel.name) {
            return Ok(p.clone());
        }
        let compiling = format!("compiling {}", kernel.name);
        let pipeline = self
            .scoped_async(&compiling, || {
                let desc = wgpu::ShaderModuleDescriptor {
                    label: Some(&kernel.name),
                    source: wgpu::ShaderSource::Wgsl(kernel.source.as_str().into()),
                };
                // SAFETY: every generated kernel guards its own indices (bounds are checked in
                // the kernel or proved by the plan), so wgpu's clamping and loop bounding only cost time.
                let module = unsafe {
                    self.device().create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
                };
                self.device().create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&kernel.name),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &[],
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                })
            })
            .await?;
        let pipeline = Arc::new(pipeline);
        lock(&self.shared.pipelines).insert(kernel.name.clone(), pipeline.clone());
        Ok(pipeline)
    }

    /// Wall time of submitting an empty command buffer and waiting for it: the floor under any
    /// synchronous call on this adapter.
    pub fn empty_submit_ms(&self, iterations: usize) -> Result<f64> {
        let mut times = Vec::with_capacity(iterations);
        for _ in 0..iterations.max(1) {
            let start = Instant::now();
            let enc = self.device().create_command_encoder(&Default::default());
            self.queue().submit([enc.finish()]);
            self.wait()?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok(median(&mut times))
    }

    /// Wall time of the smallest synchronous compute call: one pass with one single-invocation
    /// dispatch of an empty kernel, submit + wait, timed alternately with empty submits. Returns
    /// (empty submit ms, empty dispatch ms): what any compute call costs on this adapter and
    /// driver, next to the floor that [`Conv2d::benchmark`](super::Conv2d::benchmark) compares a call with.
    pub fn dispatch_floor_ms(&self, iterations: usize) -> Result<(f64, f64)> {
        let kernel = Kernel {
            name: "empty".into(),
            source: "@compute @workgroup_size(1)\nfn main() {}\n".into(),
            fields: &[],
        };
        let pipeline = self.pipeline(&kernel)?;
        let (mut empty, mut dispatch) = (Vec::new(), Vec::new());
        for _ in 0..iterations.max(1) {
            empty.push(self.empty_submit_ms(1)?);
            let start = Instant::now();
            let mut enc = self.device().create_command_encoder(&Default::default());
            {
                let mut pass = enc.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.dispatch_workgroups(1, 1, 1);
            }
            self.queue().submit([enc.finish()]);
            self.wait()?;
            dispatch.push(start.elapsed().as_secs_f64() * 1e3);
        }
        Ok((median(&mut empty), median(&mut dispatch)))
    }
}
