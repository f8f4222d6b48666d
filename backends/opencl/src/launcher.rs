//! Running the kernel on one OpenCL device: buffers, two launch slots, non-blocking writes
//! and reads, and the self-test's seal launches.

use crate::cl_err;
use crate::enumerate::{cl_lock, default_keccak, info_of, Entry};
use crate::program::{build_program, Built};
use opencl3::command_queue::CommandQueue;
use opencl3::context::Context;
use opencl3::device::Device as ClDevice;
use opencl3::event::Event;
use opencl3::kernel::Kernel;
use opencl3::memory::{Buffer, ClMem, CL_MEM_READ_ONLY, CL_MEM_READ_WRITE};
use opencl3::types::{cl_uint, cl_ulong, CL_BLOCKING, CL_NON_BLOCKING};
use pow_backend_api::{BackendError, DeviceInfo, DeviceKind, Options};
use pow_gpu_kernels::{
    GpuJob, KeccakShape, Launcher, Layout, MIDSTATE_WORDS, RESULT_INIT, RESULT_WORDS,
};
use std::collections::HashMap;
use std::ptr;

/// Static initial contents of a result buffer (non-blocking writes read from it later).
static INIT: [u32; 2] = RESULT_INIT;

/// An opened OpenCL device: context, queue, buffers and the programs built so far; it runs
/// the kernel for [`pow_gpu_kernels::GpuDevice`].
pub struct OpenClLauncher {
    entry: Entry,
    context: Context,
    queue: CommandQueue,
    programs: HashMap<Layout, Built>,
    layout: Option<Layout>,
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
unsafe impl Send for OpenClLauncher {}

impl OpenClLauncher {
    /// Creates the context, queue and buffers of a device (the kernels are built per job
    /// layout on first use).
    pub fn open(entry: Entry, options: &Options) -> Result<OpenClLauncher, BackendError> {
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
        Ok(OpenClLauncher {
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

    /// Builds the program of a layout unless it was built before.
    fn build(&mut self, layout: Layout) -> Result<(), BackendError> {
        if !self.programs.contains_key(&layout) {
            let built = build_program(
                &self.context,
                &self.entry,
                layout,
                self.keccak,
                self.use_cache,
                self.wg_option,
            )?;
            self.programs.insert(layout, built);
        }
        Ok(())
    }

    /// The device's entry in the list.
    pub fn entry(&self) -> &Entry {
        &self.entry
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

impl Launcher for OpenClLauncher {
    fn info(&self) -> DeviceInfo {
        info_of(&self.entry)
    }

    fn batch(&self) -> Result<u32, BackendError> {
        OpenClLauncher::batch(self)
    }

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

impl Drop for OpenClLauncher {
    fn drop(&mut self) {
        // Reads into `self.host` must complete before the memory goes away.
        let _ = self.queue.finish();
    }
}
