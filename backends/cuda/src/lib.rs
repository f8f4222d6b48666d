//! CUDA solver backend for pow-host.
//!
//! The NVIDIA driver (`libcuda.so.1`) is loaded at run time through cudarc, so the plugin
//! builds without the CUDA toolkit and, on a machine without a driver or GPU, lists no
//! devices and says why. Every GPU is one device (index = CUDA ordinal).
//!
//! Kernels: the shared source in `kernels/` compiled to PTX at build time by clang (see
//! build.rs) for each prebuilt job [`Layout`]; NVRTC (found by [`nvrtc`]: CUDA 11.2 to 13,
//! from the toolkit or a Python wheel) compiles the embedded source at run time when no
//! prebuilt PTX fits the layout or the device, or when the driver refuses the PTX. NVRTC output
//! is cached on disk like the OpenCL binaries.
//! Opening a device runs [`pow_gpu_kernels::self_test`]; a failing device is refused. The
//! device is the shared [`pow_gpu_kernels::GpuDevice`] over this crate's [`CudaLauncher`].
//!
//! Options: `block` (threads per block, a multiple of 32), `batch` (indexes per launch),
//! `ptx` (`off` forces NVRTC), `cache` (`off`), `self_test` (`off`), `keccak` (`unrolled`, the
//! default and what the prebuilt PTX holds, or `loop`, compiled by NVRTC).

pub mod geometry;
pub mod nvrtc;

use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, LaunchConfig, PinnedHostSlice,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
pub use geometry::Geometry;
use pow_backend_api::{Backend, BackendError, Device, DeviceInfo, DeviceKind, Options};
use pow_gpu_kernels::{
    GpuDevice, GpuJob, KeccakShape, Launcher, Layout, MIDSTATE_WORDS, RESULT_INIT, RESULT_WORDS,
};
use std::collections::HashMap;
use std::panic::catch_unwind;
use std::sync::Arc;
use thiserror::Error;

mod prebuilt {
    include!(concat!(env!("OUT_DIR"), "/prebuilt_ptx.rs"));
}
pub use prebuilt::{PREBUILT_PTX, PTX_NOTE};

/// The prebuilt PTX for a layout that a device of compute capability `cc` (e.g. 90) can
/// load, best first.
pub fn prebuilt_for(layout: Layout, cc: u32) -> Vec<(u32, &'static str)> {
    let key = layout.key();
    let mut v: Vec<(u32, &'static str)> = PREBUILT_PTX
        .iter()
        .filter(|(k, sm, _)| *k == key && *sm <= cc)
        .map(|(_, sm, ptx)| (*sm, *ptx))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.0));
    v
}

/// The driver's CUDA version as `major.minor`.
fn driver_version() -> String {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: only called after the driver library was found; writes one int.
    let r = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    if r == cudarc::driver::sys::CUresult::CUDA_SUCCESS {
        format!("{}.{}", v / 1000, (v % 1000) / 10)
    } else {
        "?".into()
    }
}

/// Why no CUDA device can be used.
#[derive(Clone, Debug, Error)]
pub enum DriverUnavailable {
    /// `libcuda.so.1` is not on the loader's path.
    #[error("NVIDIA driver library (libcuda.so.1) not found: no NVIDIA driver is installed")]
    NoLibrary,
    /// `cuInit` or `cuDeviceGetCount` failed.
    #[error("{call} failed: {error}")]
    Call {
        /// The driver function.
        call: &'static str,
        /// The driver's error.
        error: String,
    },
    /// The driver works and has no device.
    #[error("the NVIDIA driver reports no CUDA device")]
    NoDevice,
    /// cudarc panicked on a missing driver entry point.
    #[error("the NVIDIA driver is too old for this plugin (a driver entry point is missing)")]
    TooOld,
}

/// Number of CUDA devices, or why there are none usable. Never panics: cudarc panics when
/// a driver symbol is missing, which is reported as [`DriverUnavailable::TooOld`].
pub fn driver_status() -> Result<u32, DriverUnavailable> {
    // SAFETY: probing for the library only loads it.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(DriverUnavailable::NoLibrary);
    }
    let call = |call: &'static str| {
        move |e: cudarc::driver::DriverError| DriverUnavailable::Call {
            call,
            error: format!("{e:?}"),
        }
    };
    let probe = catch_unwind(|| -> Result<u32, DriverUnavailable> {
        cudarc::driver::result::init().map_err(call("cuInit"))?;
        let n = cudarc::driver::result::device::get_count().map_err(call("cuDeviceGetCount"))?;
        Ok(n.max(0) as u32)
    });
    match probe {
        Ok(Ok(0)) => Err(DriverUnavailable::NoDevice),
        Ok(r) => r,
        Err(_) => Err(DriverUnavailable::TooOld),
    }
}

/// Static facts about one GPU.
#[derive(Clone, Debug)]
struct Gpu {
    info: DeviceInfo,
    cc: u32,
    sms: u32,
    threads_per_sm: u32,
}

fn describe(ordinal: u32) -> Result<Gpu, BackendError> {
    use cudarc::driver::result::device;
    let fail = drv;
    let dev = device::get(ordinal as i32).map_err(fail("cuDeviceGet"))?;
    let name = device::get_name(dev).map_err(fail("cuDeviceGetName"))?;
    // SAFETY: valid device handle; attribute queries only.
    let attr = |a: CUdevice_attribute| {
        unsafe { device::get_attribute(dev, a) }.map_err(fail("cuDeviceGetAttribute"))
    };
    let major = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?;
    let minor = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?;
    let sms = attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)?.max(1) as u32;
    let threads_per_sm =
        attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)?.max(32)
            as u32;
    // SAFETY: valid device handle.
    let mem = unsafe { device::total_mem(dev) }.unwrap_or(0);
    Ok(Gpu {
        info: DeviceInfo {
            index: ordinal,
            name: name.trim().to_string().into(),
            kind: DeviceKind::Gpu,
            compute_units: sms,
            detail: format!(
                "sm_{major}{minor}, {sms} SMs, {:.1} GiB, driver CUDA {}",
                mem as f64 / (1u64 << 30) as f64,
                driver_version()
            )
            .into(),
        },
        cc: (major * 10 + minor) as u32,
        sms,
        threads_per_sm,
    })
}

/// The CUDA backend.
#[derive(Default)]
pub struct CudaBackend;

impl Backend for CudaBackend {
    fn name(&self) -> &str {
        "cuda"
    }

    fn description(&self) -> String {
        format!("NVIDIA GPUs through the CUDA driver (loaded at run time); {PTX_NOTE}")
    }

    fn list_devices(&self, _options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        let Ok(n) = driver_status() else {
            return Ok(Vec::new());
        };
        (0..n).map(|i| describe(i).map(|g| g.info)).collect()
    }

    fn unavailable_reason(&self, _options: &Options) -> Option<String> {
        driver_status().err().map(|e| e.to_string())
    }

    fn open_device(&self, index: u32, options: &Options) -> Result<Box<dyn Device>, BackendError> {
        Ok(Box::new(GpuDevice::new(open_cuda_launcher(
            index, options,
        )?)))
    }
}

/// Opens CUDA device `index` and runs its self-test (what `open_device` does), returning its
/// launcher (which `open_device` wraps in the shared [`GpuDevice`]) so that tests can drive it.
pub fn open_cuda_launcher(index: u32, options: &Options) -> Result<CudaLauncher, BackendError> {
    let n = driver_status().map_err(|e| BackendError::unavailable(e.to_string()))?;
    if index >= n {
        return Err(BackendError::invalid(format!(
            "no CUDA device with index {index} ({n} present)"
        )));
    }
    let mut device = CudaLauncher::open(describe(index)?, options)?;
    if options.get("self_test") != Some("off") {
        pow_gpu_kernels::self_test(&mut device).map_err(|e| {
            BackendError::failed(format!(
                "CUDA device {index} ({}) failed the self-test and is refused: {e}",
                device.gpu.info.name
            ))
        })?;
    }
    Ok(device)
}

/// Why the NVRTC path could not give a loaded module.
#[derive(Debug, Error)]
enum NvrtcLoadError {
    #[error(transparent)]
    Nvrtc(#[from] nvrtc::NvrtcError),
    #[error("the driver refused NVRTC's PTX: {0}")]
    Refused(String),
    #[error("{0}")]
    Functions(BackendError),
}

/// A loaded module with its kernels.
struct Loaded {
    _module: Arc<CudaModule>,
    search: CudaFunction,
    seals: CudaFunction,
}

/// Initial contents of a result buffer.
static INIT: [u32; 2] = RESULT_INIT;

fn drv(what: &'static str) -> impl Fn(cudarc::driver::DriverError) -> BackendError {
    move |e| BackendError::failed(format!("{what}: {e:?}"))
}

/// An opened CUDA device: context, stream, buffers and the modules loaded so far; it runs the
/// kernel for [`pow_gpu_kernels::GpuDevice`].
pub struct CudaLauncher {
    gpu: Gpu,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: HashMap<Layout, Loaded>,
    layout: Option<Layout>,
    params: CudaSlice<u32>,
    results: [CudaSlice<u32>; 2],
    host: [PinnedHostSlice<u32>; 2],
    /// Midstate tables of the launches in flight, per slot: pinned host copies (rewritten only
    /// after the slot's launch finished) and their device buffers.
    tables_host: [PinnedHostSlice<u32>; 2],
    tables: [CudaSlice<u32>; 2],
    in_flight: [bool; 2],
    geometry: Geometry,
    use_ptx: bool,
    use_cache: bool,
    keccak: KeccakShape,
}

impl CudaLauncher {
    fn open(gpu: Gpu, options: &Options) -> Result<CudaLauncher, BackendError> {
        // The prebuilt PTX is unrolled; `keccak=loop` is compiled by NVRTC.
        let keccak = KeccakShape::from_options(options, KeccakShape::Unrolled)?;
        let geometry = Geometry::choose(
            gpu.sms,
            gpu.threads_per_sm,
            pow_gpu_kernels::positive_option(options, "block")?,
            pow_gpu_kernels::positive_option(options, "batch")?,
        )?;
        let ctx =
            CudaContext::new(gpu.info.index as usize).map_err(drv("cuDevicePrimaryCtxRetain"))?;
        // Sleep instead of spinning while waiting for a launch: the CPU backend may share the
        // host cores.
        let _ = ctx.set_blocking_synchronize();
        let stream = ctx.new_stream().map_err(drv("cuStreamCreate"))?;
        let device = |words: usize| stream.alloc_zeros::<u32>(words).map_err(drv("cuMemAlloc"));
        let params = device(pow_gpu_kernels::PARAM_WORDS)?;
        let (r0, r1) = (device(RESULT_WORDS)?, device(RESULT_WORDS)?);
        let (t0, t1) = (device(MIDSTATE_WORDS)?, device(MIDSTATE_WORDS)?);
        // SAFETY: pinned host buffers; cudarc waits for the event of their last copy before
        // handing out a slice of them.
        let pinned = |words: usize| unsafe {
            ctx.alloc_pinned::<u32>(words)
                .map_err(drv("cuMemHostAlloc"))
        };
        let (h0, h1) = (pinned(RESULT_WORDS)?, pinned(RESULT_WORDS)?);
        let (th0, th1) = (pinned(MIDSTATE_WORDS)?, pinned(MIDSTATE_WORDS)?);
        Ok(CudaLauncher {
            gpu,
            ctx,
            stream,
            modules: HashMap::new(),
            layout: None,
            params,
            results: [r0, r1],
            host: [h0, h1],
            tables_host: [th0, th1],
            tables: [t0, t1],
            in_flight: [false; 2],
            geometry,
            use_ptx: options.get("ptx") != Some("off"),
            use_cache: options.get("cache") != Some("off"),
            keccak,
        })
    }

    /// Launch sizes in use.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    fn functions(module: Arc<CudaModule>) -> Result<Loaded, BackendError> {
        Ok(Loaded {
            search: module
                .load_function(pow_gpu_kernels::SEARCH_KERNEL)
                .map_err(drv("cuModuleGetFunction"))?,
            seals: module
                .load_function(pow_gpu_kernels::SEALS_KERNEL)
                .map_err(drv("cuModuleGetFunction"))?,
            _module: module,
        })
    }

    /// Loads the kernels of a layout: prebuilt PTX, else NVRTC (cached on disk).
    fn load_layout(&mut self, layout: Layout) -> Result<(), BackendError> {
        if self.modules.contains_key(&layout) {
            return Ok(());
        }
        let mut problems = Vec::new();
        if self.use_ptx && self.keccak == KeccakShape::Unrolled {
            for (sm, ptx) in prebuilt_for(layout, self.gpu.cc) {
                match self.ctx.load_module(Ptx::from_src(ptx)) {
                    Ok(m) => {
                        self.modules.insert(layout, Self::functions(m)?);
                        return Ok(());
                    }
                    Err(e) => problems.push(format!("prebuilt sm_{sm} PTX refused: {e:?}")),
                }
            }
            if problems.is_empty() {
                problems.push(format!(
                    "no prebuilt PTX for layout {} and sm_{} ({PTX_NOTE})",
                    layout.key(),
                    self.gpu.cc
                ));
            }
        }
        let loaded = self.nvrtc(layout).map_err(|e| {
            BackendError::failed(format!(
                "cannot load the CUDA kernel: {}; {e}",
                problems.join("; ")
            ))
        })?;
        self.modules.insert(layout, loaded);
        Ok(())
    }

    fn nvrtc(&self, layout: Layout) -> Result<Loaded, NvrtcLoadError> {
        nvrtc::status()?;
        let arch = geometry::compute_arch(self.gpu.cc);
        let key = pow_gpu_kernels::text_hash(&format!(
            "{}\n{arch}\n{}\n{}\n{}",
            self.gpu.info.name,
            driver_version(),
            layout.defines_with(self.keccak).join(" "),
            pow_gpu_kernels::cuda_source()
        ));
        if self.use_cache {
            if let Some(text) =
                pow_gpu_kernels::cache::load("cuda", &key).and_then(|b| String::from_utf8(b).ok())
            {
                if let Ok(m) = self.ctx.load_module(Ptx::from_src(text)) {
                    return Self::functions(m).map_err(NvrtcLoadError::Functions);
                }
            }
        }
        let text = nvrtc::compile_ptx(layout, self.keccak, arch)?;
        let module = self
            .ctx
            .load_module(Ptx::from_src(text.clone()))
            .map_err(|e| NvrtcLoadError::Refused(format!("{e:?}")))?;
        if self.use_cache {
            pow_gpu_kernels::cache::store("cuda", &key, text.as_bytes());
        }
        Self::functions(module).map_err(NvrtcLoadError::Functions)
    }

    fn loaded(&self) -> Result<&Loaded, BackendError> {
        self.layout
            .and_then(|l| self.modules.get(&l))
            .ok_or_else(|| BackendError::invalid("search called before set_job"))
    }
}

impl Launcher for CudaLauncher {
    fn info(&self) -> DeviceInfo {
        self.gpu.info.clone()
    }

    fn batch(&self) -> Result<u32, BackendError> {
        Ok(self.geometry.batch)
    }

    fn load(&mut self, job: &GpuJob) -> Result<(), BackendError> {
        self.drain();
        self.load_layout(job.layout)?;
        self.stream
            .memcpy_htod(&job.params[..], &mut self.params)
            .map_err(drv("cuMemcpyHtoD"))?;
        self.layout = Some(job.layout);
        Ok(())
    }

    fn launch(
        &mut self,
        slot: usize,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<(), BackendError> {
        let layout = self
            .layout
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        let loaded = self
            .modules
            .get(&layout)
            .ok_or_else(|| BackendError::failed("kernel not loaded"))?;
        let stream = &self.stream;
        // Waits for this slot's previous copy (its launch has finished) before rewriting.
        self.tables_host[slot]
            .as_mut_slice()
            .map_err(drv("cuEventSynchronize"))?
            .copy_from_slice(midstates);
        stream
            .memcpy_htod(&self.tables_host[slot], &mut self.tables[slot])
            .map_err(drv("cuMemcpyHtoDAsync"))?;
        let result = &mut self.results[slot];
        stream
            .memcpy_htod(&INIT[..], &mut result.slice_mut(0..2))
            .map_err(drv("cuMemcpyHtoDAsync"))?;
        let cfg = self.geometry.config(count);
        let mut args = stream.launch_builder(&loaded.search);
        args.arg(&self.params)
            .arg(&mut *result)
            .arg(&base)
            .arg(&count)
            .arg(&self.tables[slot]);
        // SAFETY: the argument list matches `pow_search` in kernels/pow.cu.
        unsafe { args.launch(cfg) }.map_err(drv("cuLaunchKernel"))?;
        stream
            .memcpy_dtoh(&self.results[slot], &mut self.host[slot])
            .map_err(drv("cuMemcpyDtoHAsync"))?;
        self.in_flight[slot] = true;
        Ok(())
    }

    fn finish(&mut self, slot: usize) -> Result<Vec<u32>, BackendError> {
        if !std::mem::take(&mut self.in_flight[slot]) {
            return Err(BackendError::failed("no launch in flight in this slot"));
        }
        // `as_slice` waits for the copy's event.
        Ok(self.host[slot]
            .as_slice()
            .map_err(drv("cuEventSynchronize"))?
            .to_vec())
    }

    fn drain(&mut self) {
        let _ = self.stream.synchronize();
        self.in_flight = [false; 2];
    }

    fn seals(
        &mut self,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<Vec<u32>, BackendError> {
        let loaded = self.loaded()?;
        let mut out = self
            .stream
            .alloc_zeros::<u32>(count as usize * 8)
            .map_err(drv("cuMemAlloc"))?;
        let table = self
            .stream
            .clone_htod(&midstates[..])
            .map_err(drv("cuMemcpyHtoD"))?;
        let cfg = self.geometry.config(count);
        let mut args = self.stream.launch_builder(&loaded.seals);
        args.arg(&self.params)
            .arg(&mut out)
            .arg(&base)
            .arg(&count)
            .arg(&table);
        // SAFETY: the argument list matches `pow_seals` in kernels/pow.cu.
        unsafe { args.launch(cfg) }.map_err(drv("cuLaunchKernel"))?;
        self.stream.clone_dtoh(&out).map_err(drv("cuMemcpyDtoH"))
    }
}

impl Drop for CudaLauncher {
    fn drop(&mut self) {
        let _ = self.stream.synchronize();
    }
}

/// Launch configuration of a launch of `count` indexes.
impl Geometry {
    /// Grid and block dimensions for `count` work items.
    pub fn config(&self, count: u32) -> LaunchConfig {
        LaunchConfig {
            grid_dim: (self.grid(count), 1, 1),
            block_dim: (self.block, 1, 1),
            shared_mem_bytes: 0,
        }
    }
}

pow_backend_api::export_backend!(CudaBackend);
