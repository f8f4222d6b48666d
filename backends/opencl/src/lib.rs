//! OpenCL solver backend for pow-host.
//!
//! The OpenCL library (`libOpenCL.so.1`, the ICD loader) is loaded at run time, so the plugin
//! builds without an SDK and, where no runtime is installed, lists no devices and says why.
//! Every device of every platform (GPU, CPU, accelerator) is one entry of a flat index list.
//!
//! Opening a device builds the shared kernel (`kernels/`) from its embedded source, with
//! program binaries cached on disk, and runs the self-test of [`pow_gpu_kernels::self_test`];
//! a device that fails it is refused. Searches run through
//! [`pow_gpu_kernels::drive_search`] with two launches in flight.
//!
//! Options: `work_group_size` (work items per group), `batch` (indexes per launch),
//! `cache` (`off` disables the program binary cache), `self_test` (`off` skips it).
//! `POW_OPENCL_BUILD_LOG=1` prints the compiler's log of each program built from source.

use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::{
    Device as ClDevice, CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU,
    CL_DEVICE_TYPE_GPU,
};
use opencl3::event::Event;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::program::Program;
use opencl3::types::{cl_device_id, cl_uint, cl_ulong, CL_BLOCKING, CL_NON_BLOCKING};
use pow_backend_api::{
    Backend, BackendError, Device, DeviceInfo, DeviceKind, Job, Options, SearchOutcome,
};
use pow_gpu_kernels::{
    GpuJob, KeccakShape, Launcher, Layout, MIDSTATE_WORDS, RESULT_INIT, RESULT_WORDS,
};
use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;

/// One OpenCL device found on the machine.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Flat index over all platforms.
    pub index: u32,
    /// Platform name.
    pub platform: String,
    /// Device name.
    pub name: String,
    /// Kind of hardware.
    pub kind: DeviceKind,
    /// Compute units.
    pub compute_units: u32,
    /// Driver version.
    pub driver: String,
    /// OpenCL version of the device.
    pub version: String,
    id: cl_device_id,
}

/// Serializes platform enumeration, context creation and program builds: ICD loaders and
/// some drivers (seen with ocl-icd + PoCL) crash when first initialised from several threads
/// at once.
static CL_LOCK: Mutex<()> = Mutex::new(());

fn cl_lock() -> std::sync::MutexGuard<'static, ()> {
    CL_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why OpenCL cannot be used here, when the library itself is missing.
fn library_problem() -> Option<String> {
    match cl3::load_library() {
        Ok(_) => None,
        Err(e) => Some(format!(
            "OpenCL runtime library (libOpenCL.so.1) cannot be loaded: {e}; install an ICD \
             loader and a driver (for example ocl-icd-libopencl1 and pocl-opencl-icd)"
        )),
    }
}

/// The Keccak shape a device gets unless option `keccak` says otherwise: fully unrolled on
/// GPUs and accelerators (no register moves between rounds; the CUDA backend's Hopper SASS
/// has 3% fewer instructions per attempt that way), a loop on CPU devices such as PoCL
/// (smaller code to compile; which is faster there was not measured).
pub fn default_keccak(kind: DeviceKind) -> KeccakShape {
    match kind {
        DeviceKind::Cpu => KeccakShape::Loop,
        _ => KeccakShape::Unrolled,
    }
}

fn kind_of(device_type: u64) -> DeviceKind {
    if device_type & CL_DEVICE_TYPE_GPU != 0 {
        DeviceKind::Gpu
    } else if device_type & CL_DEVICE_TYPE_CPU != 0 {
        DeviceKind::Cpu
    } else if device_type & CL_DEVICE_TYPE_ACCELERATOR != 0 {
        DeviceKind::Accelerator
    } else {
        DeviceKind::Other
    }
}

/// Every device of every platform, in platform order. An absent library or an ICD loader
/// without platforms gives an empty list.
pub fn enumerate() -> Result<Vec<Entry>, BackendError> {
    if library_problem().is_some() {
        return Ok(Vec::new());
    }
    let _guard = cl_lock();
    let platforms = match opencl3::platform::get_platforms() {
        Ok(p) => p,
        // CL_PLATFORM_NOT_FOUND_KHR: the loader found no driver.
        Err(e) if e.0 == -1001 => return Ok(Vec::new()),
        Err(e) => return Err(BackendError::failed(format!("clGetPlatformIDs: {e}"))),
    };
    let mut out = Vec::new();
    for platform in platforms {
        let pname = platform.name().unwrap_or_else(|_| "?".into());
        let ids = match platform.get_devices(CL_DEVICE_TYPE_ALL) {
            Ok(ids) => ids,
            // CL_DEVICE_NOT_FOUND
            Err(e) if e.0 == -1 => continue,
            Err(e) => {
                return Err(BackendError::failed(format!(
                    "clGetDeviceIDs on platform {pname}: {e}"
                )))
            }
        };
        for id in ids {
            let d = ClDevice::new(id);
            out.push(Entry {
                index: out.len() as u32,
                platform: pname.clone(),
                name: d.name().unwrap_or_else(|_| "?".into()).trim().to_string(),
                kind: kind_of(d.dev_type().unwrap_or(0)),
                compute_units: d.max_compute_units().unwrap_or(1),
                driver: d.driver_version().unwrap_or_default(),
                version: d.version().unwrap_or_default(),
                id,
            });
        }
    }
    Ok(out)
}

fn info_of(e: &Entry) -> DeviceInfo {
    DeviceInfo {
        index: e.index,
        name: e.name.clone().into(),
        kind: e.kind,
        compute_units: e.compute_units,
        detail: format!("{}, {}, driver {}", e.platform, e.version, e.driver).into(),
    }
}

/// The OpenCL backend.
#[derive(Default)]
pub struct OpenClBackend;

impl Backend for OpenClBackend {
    fn name(&self) -> &str {
        "opencl"
    }

    fn description(&self) -> String {
        "OpenCL devices of every platform (library loaded at run time)".into()
    }

    fn list_devices(&self, _options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        Ok(enumerate()?.iter().map(info_of).collect())
    }

    fn unavailable_reason(&self, _options: &Options) -> Option<String> {
        if let Some(p) = library_problem() {
            return Some(p);
        }
        match enumerate() {
            Ok(list) if list.is_empty() => Some(
                "the OpenCL loader found no platform with a device (no ICD driver installed)"
                    .into(),
            ),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    fn open_device(&self, index: u32, options: &Options) -> Result<Box<dyn Device>, BackendError> {
        if let Some(p) = library_problem() {
            return Err(BackendError::unavailable(p));
        }
        let list = enumerate()?;
        let entry = list
            .into_iter()
            .nth(index as usize)
            .ok_or_else(|| BackendError::invalid(format!("no OpenCL device with index {index}")))?;
        let mut device = OclDevice::open(entry, options)?;
        if options.get("self_test") != Some("off") {
            pow_gpu_kernels::self_test(&mut device).map_err(|e| {
                BackendError::failed(format!(
                    "OpenCL device {index} ({}) failed the self-test and is refused: {e}",
                    device.entry.name
                ))
            })?;
        }
        Ok(Box::new(device))
    }
}

/// A built program with its two kernels.
struct Built {
    _program: Program,
    search: Kernel,
    seals: Kernel,
    work_group_size: usize,
}

/// Static initial contents of a result buffer (non-blocking writes read from it later).
static INIT: [u32; 2] = RESULT_INIT;

/// An opened OpenCL device.
pub struct OclDevice {
    entry: Entry,
    context: Context,
    queue: CommandQueue,
    programs: HashMap<Layout, Built>,
    layout: Option<Layout>,
    job: Option<GpuJob>,
    params: Buffer<cl_uint>,
    results: [Buffer<cl_uint>; 2],
    host: Box<[[u32; RESULT_WORDS]; 2]>,
    /// Midstate tables of the launches in flight, per slot: host copies (rewritten only after
    /// the slot's launch finished) and their device buffers.
    tables_host: Box<[[u32; MIDSTATE_WORDS]; 2]>,
    tables: [Buffer<cl_uint>; 2],
    events: [Option<Event>; 2],
    wg_option: Option<usize>,
    batch_option: Option<u64>,
    use_cache: bool,
    keccak: KeccakShape,
}

// SAFETY: OpenCL objects may be used from any thread (OpenCL 1.2 §A.2, except setting kernel
// arguments concurrently, which cannot happen: the host drives a device from one thread at a
// time through `&mut self`). The raw device id is a handle, not memory we own.
unsafe impl Send for OclDevice {}

fn cl_err(what: &str) -> impl Fn(opencl3::error_codes::ClError) -> BackendError + '_ {
    move |e| BackendError::failed(format!("{what}: {e}"))
}

impl OclDevice {
    /// Creates the context, queue and buffers of a device (the kernels are built per job
    /// layout on first use).
    pub fn open(entry: Entry, options: &Options) -> Result<OclDevice, BackendError> {
        let entry_kind = entry.kind;
        let _guard = cl_lock();
        let device = ClDevice::new(entry.id);
        let context = Context::from_device(&device).map_err(cl_err("clCreateContext"))?;
        let queue =
            CommandQueue::create_default(&context, 0).map_err(cl_err("clCreateCommandQueue"))?;
        // SAFETY: plain allocations without a host pointer.
        let table = || unsafe {
            Buffer::<cl_uint>::create(&context, CL_MEM_READ_ONLY, MIDSTATE_WORDS, ptr::null_mut())
                .map_err(cl_err("clCreateBuffer"))
        };
        let tables = [table()?, table()?];
        // SAFETY: plain allocations without a host pointer.
        let (params, r0, r1) = unsafe {
            (
                Buffer::<cl_uint>::create(
                    &context,
                    CL_MEM_READ_ONLY,
                    pow_gpu_kernels::PARAM_WORDS,
                    ptr::null_mut(),
                ),
                Buffer::<cl_uint>::create(
                    &context,
                    CL_MEM_READ_WRITE,
                    RESULT_WORDS,
                    ptr::null_mut(),
                ),
                Buffer::<cl_uint>::create(
                    &context,
                    CL_MEM_READ_WRITE,
                    RESULT_WORDS,
                    ptr::null_mut(),
                ),
            )
        };
        let wg_option = pow_gpu_kernels::positive_option(options, "work_group_size")?;
        if let (Some(w), Ok(max)) = (wg_option, device.max_work_group_size()) {
            if w as usize > max {
                return Err(BackendError::invalid(format!(
                    "option `work_group_size` {w} exceeds the device's limit {max} on {}",
                    entry.name
                )));
            }
        }
        let batch_option = pow_gpu_kernels::positive_option(options, "batch")?;
        if let Some(b) = batch_option {
            if b > u32::MAX as u64 / 2 {
                return Err(BackendError::invalid(
                    "option `batch` is at most 2147483647",
                ));
            }
        }
        Ok(OclDevice {
            params: params.map_err(cl_err("clCreateBuffer"))?,
            results: [
                r0.map_err(cl_err("clCreateBuffer"))?,
                r1.map_err(cl_err("clCreateBuffer"))?,
            ],
            entry,
            context,
            queue,
            programs: HashMap::new(),
            layout: None,
            job: None,
            host: Box::new([[0; RESULT_WORDS]; 2]),
            tables_host: Box::new([[0; MIDSTATE_WORDS]; 2]),
            tables,
            events: [None, None],
            wg_option: wg_option.map(|v| v as usize),
            batch_option,
            use_cache: options.get("cache") != Some("off"),
            keccak: KeccakShape::from_options(options, default_keccak(entry_kind))?,
        })
    }

    /// Builds (or loads from the cache) the program of a layout.
    fn build(&mut self, layout: Layout) -> Result<(), BackendError> {
        if self.programs.contains_key(&layout) {
            return Ok(());
        }
        let _guard = cl_lock();
        let source = pow_gpu_kernels::opencl_source();
        let options = layout.defines_with(self.keccak).join(" ");
        let key = pow_gpu_kernels::text_hash(&format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.entry.platform,
            self.entry.name,
            self.entry.driver,
            self.entry.version,
            options,
            source
        ));
        let devices = [self.entry.id];
        let mut program = None;
        if self.use_cache {
            if let Some(binary) = pow_gpu_kernels::cache::load("opencl", &key) {
                // SAFETY: the device belongs to the context.
                if let Ok(mut p) =
                    unsafe { Program::create_from_binary(&self.context, &devices, &[&binary]) }
                {
                    if p.build(&devices, &options).is_ok() {
                        program = Some(p);
                    }
                }
            }
        }
        let program = match program {
            Some(p) => p,
            None => {
                let p = Program::create_and_build_from_source(&self.context, &source, &options)
                    .map_err(|log| {
                        BackendError::failed(format!(
                            "OpenCL build of the kernel failed on {}: {log}",
                            self.entry.name
                        ))
                    })?;
                if std::env::var_os("POW_OPENCL_BUILD_LOG").is_some() {
                    if let Ok(log) = p.get_build_log(self.entry.id) {
                        eprintln!("OpenCL build log ({}, {options}):\n{log}", self.entry.name);
                    }
                }
                if self.use_cache {
                    if let Ok(bins) = p.get_binaries() {
                        if let Some(bin) = bins.first().filter(|b| !b.is_empty()) {
                            pow_gpu_kernels::cache::store("opencl", &key, bin);
                        }
                    }
                }
                p
            }
        };
        let search = Kernel::create(&program, pow_gpu_kernels::SEARCH_KERNEL)
            .map_err(cl_err("clCreateKernel"))?;
        let seals = Kernel::create(&program, pow_gpu_kernels::SEALS_KERNEL)
            .map_err(cl_err("clCreateKernel"))?;
        let max = search
            .get_work_group_size(self.entry.id)
            .map_err(cl_err("clGetKernelWorkGroupInfo"))?
            .max(1);
        let work_group_size = match self.wg_option {
            Some(w) if w > max => {
                return Err(BackendError::invalid(format!(
                    "option `work_group_size` {w} exceeds the kernel's limit {max} on {}",
                    self.entry.name
                )))
            }
            Some(w) => w,
            None => max.min(256),
        };
        self.programs.insert(
            layout,
            Built {
                _program: program,
                search,
                seals,
                work_group_size,
            },
        );
        Ok(())
    }

    fn built(&self) -> Result<&Built, BackendError> {
        self.layout
            .and_then(|l| self.programs.get(&l))
            .ok_or_else(|| BackendError::invalid("search called before set_job"))
    }

    /// Indexes per launch: the `batch` option, else sized from the device so that one launch
    /// keeps every compute unit busy for a while (about tens of milliseconds).
    pub fn batch(&self) -> Result<u32, BackendError> {
        if let Some(b) = self.batch_option {
            return Ok(b as u32);
        }
        let wg = self.built()?.work_group_size as u64;
        let per_item = match self.entry.kind {
            DeviceKind::Gpu | DeviceKind::Accelerator => 1024,
            _ => 64,
        };
        Ok((self.entry.compute_units.max(1) as u64 * wg * per_item).min(1 << 30) as u32)
    }

    /// Work-group size of the current layout's kernel.
    pub fn work_group_size(&self) -> Result<usize, BackendError> {
        Ok(self.built()?.work_group_size)
    }

    fn set_args(
        kernel: &Kernel,
        params: &Buffer<cl_uint>,
        out: &Buffer<cl_uint>,
        base: u64,
        count: u32,
        table: &Buffer<cl_uint>,
    ) -> Result<(), BackendError> {
        let set = cl_err("clSetKernelArg");
        // SAFETY: argument types match the kernel signature in kernels/pow.cl.
        unsafe {
            kernel.set_arg(0, &params.get()).map_err(&set)?;
            kernel.set_arg(1, &out.get()).map_err(&set)?;
            kernel.set_arg(2, &(base as cl_ulong)).map_err(&set)?;
            kernel.set_arg(3, &(count as cl_uint)).map_err(&set)?;
            kernel.set_arg(4, &table.get()).map_err(&set)?;
        }
        Ok(())
    }
}

impl Launcher for OclDevice {
    fn load(&mut self, job: &GpuJob) -> Result<(), BackendError> {
        self.drain();
        self.build(job.layout)?;
        // SAFETY: blocking write of PARAM_WORDS words into a buffer of that size.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.params, CL_BLOCKING, 0, &job.params, &[])
                .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
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
        let built = self
            .programs
            .get(&layout)
            .ok_or_else(|| BackendError::failed("kernel not built"))?;
        let wg = built.work_group_size;
        Self::set_args(
            &built.search,
            &self.params,
            &self.results[slot],
            base,
            count,
            &self.tables[slot],
        )?;
        // This slot's previous launch has finished (`finish` or `drain`), so its table copy is
        // no longer read.
        self.tables_host[slot] = *midstates;
        let table: *const [u32; MIDSTATE_WORDS] = &self.tables_host[slot];
        // SAFETY: the write source is `self.tables_host[slot]`, a boxed array that is neither
        // moved nor touched until this slot's launch was waited for. INIT is static, so the
        // non-blocking write may read it at any later time.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut self.tables[slot], CL_NON_BLOCKING, 0, &*table, &[])
                .map_err(cl_err("clEnqueueWriteBuffer"))?;
            self.queue
                .enqueue_write_buffer(&mut self.results[slot], CL_NON_BLOCKING, 0, &INIT, &[])
                .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
        enqueue(&self.queue, &built.search, count, wg)?;
        let host: *mut [u32; RESULT_WORDS] = &mut self.host[slot];
        // SAFETY: the read target is `self.host[slot]`, a boxed array that is neither moved nor
        // touched until `finish`, `drain` or `drop` waited for this read.
        let event = unsafe {
            self.queue
                .enqueue_read_buffer(&self.results[slot], CL_NON_BLOCKING, 0, &mut *host, &[])
                .map_err(cl_err("clEnqueueReadBuffer"))?
        };
        self.queue.flush().map_err(cl_err("clFlush"))?;
        self.events[slot] = Some(event);
        Ok(())
    }

    fn finish(&mut self, slot: usize) -> Result<Vec<u32>, BackendError> {
        let event = self.events[slot]
            .take()
            .ok_or_else(|| BackendError::failed("no launch in flight in this slot"))?;
        event.wait().map_err(cl_err("clWaitForEvents"))?;
        Ok(self.host[slot].to_vec())
    }

    fn drain(&mut self) {
        let _ = self.queue.finish();
        self.events = [None, None];
    }

    fn seals(
        &mut self,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<Vec<u32>, BackendError> {
        let built = self.built()?;
        let words = count as usize * 8;
        // SAFETY: plain allocations without a host pointer.
        let (out, table) = unsafe {
            (
                Buffer::<cl_uint>::create(&self.context, CL_MEM_READ_WRITE, words, ptr::null_mut()),
                Buffer::<cl_uint>::create(
                    &self.context,
                    CL_MEM_READ_ONLY,
                    MIDSTATE_WORDS,
                    ptr::null_mut(),
                ),
            )
        };
        let (out, mut table) = (
            out.map_err(cl_err("clCreateBuffer"))?,
            table.map_err(cl_err("clCreateBuffer"))?,
        );
        // SAFETY: blocking write of the table into a buffer of its size.
        unsafe {
            self.queue
                .enqueue_write_buffer(&mut table, CL_BLOCKING, 0, midstates, &[])
                .map_err(cl_err("clEnqueueWriteBuffer"))?;
        }
        Self::set_args(&built.seals, &self.params, &out, base, count, &table)?;
        enqueue(&self.queue, &built.seals, count, built.work_group_size)?;
        let mut host = vec![0u32; words];
        // SAFETY: blocking read into a vector of the buffer's size.
        unsafe {
            self.queue
                .enqueue_read_buffer(&out, CL_BLOCKING, 0, &mut host, &[])
                .map_err(cl_err("clEnqueueReadBuffer"))?;
        }
        Ok(host)
    }
}

impl Device for OclDevice {
    fn info(&self) -> DeviceInfo {
        info_of(&self.entry)
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        let gpu = GpuJob::new(job)?;
        self.load(&gpu)?;
        self.job = Some(gpu);
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let job = self
            .job
            .take()
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        let batch = self.batch();
        let result =
            batch.and_then(|b| pow_gpu_kernels::drive_search(self, &job, start, count, b, cancel));
        self.job = Some(job);
        result
    }
}

/// Enqueues a one-dimensional launch of `count` work items in groups of `wg`.
fn enqueue(
    queue: &CommandQueue,
    kernel: &Kernel,
    count: u32,
    wg: usize,
) -> Result<(), BackendError> {
    let global = (count as usize).div_ceil(wg) * wg;
    let (g, l) = ([global], [wg]);
    // SAFETY: one dimension; sizes point to live arrays.
    unsafe {
        queue
            .enqueue_nd_range_kernel(kernel.get(), 1, ptr::null(), g.as_ptr(), l.as_ptr(), &[])
            .map_err(cl_err("clEnqueueNDRangeKernel"))?;
    }
    Ok(())
}

impl Drop for OclDevice {
    fn drop(&mut self) {
        // Reads into `self.host` must complete before the memory goes away.
        let _ = self.queue.finish();
    }
}

pow_backend_api::export_backend!(OpenClBackend);
