//! Building the kernel program of a job layout, with program binaries cached on disk.

use crate::cl_err;
use crate::enumerate::{cl_lock, Entry};
use opencl3::context::Context;
use opencl3::kernel::Kernel;
use opencl3::program::Program;
use pow_backend_api::BackendError;
use pow_gpu_kernels::{KeccakShape, Layout};

/// A built program with its two kernels.
pub(crate) struct Built {
    _program: Program,
    pub(crate) search: Kernel,
    pub(crate) seals: Kernel,
    pub(crate) work_group_size: usize,
}

/// Builds (or loads from the cache) the program of a layout for one device: the shared
/// kernel source with the layout's and Keccak shape's definitions, and its two kernels.
pub(crate) fn build_program(
    context: &Context,
    entry: &Entry,
    layout: Layout,
    keccak: KeccakShape,
    use_cache: bool,
    wg_option: Option<usize>,
) -> Result<Built, BackendError> {
    let _guard = cl_lock();
    let source = pow_gpu_kernels::opencl_source();
    let options = layout.defines_with(keccak).join(" ");
    let key = pow_gpu_kernels::text_hash(&format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        entry.platform, entry.name, entry.driver, entry.version, options, source
    ));
    let devices = [entry.id];
    let mut program = None;
    if use_cache {
        if let Some(binary) = pow_gpu_kernels::cache::load("opencl", &key) {
            // SAFETY: the device belongs to the context.
            if let Ok(mut p) = unsafe { Program::create_from_binary(context, &devices, &[&binary]) }
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
            let p = Program::create_and_build_from_source(context, &source, &options).map_err(
                |log| {
                    BackendError::failed(format!(
                        "OpenCL build of the kernel failed on {}: {log}",
                        entry.name
                    ))
                },
            )?;
            if std::env::var_os("POW_OPENCL_BUILD_LOG").is_some() {
                if let Ok(log) = p.get_build_log(entry.id) {
                    eprintln!("OpenCL build log ({}, {options}):\n{log}", entry.name);
                }
            }
            if use_cache {
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
        .get_work_group_size(entry.id)
        .map_err(cl_err("clGetKernelWorkGroupInfo"))?
        .max(1);
    let work_group_size = match wg_option {
        Some(w) if w > max => {
            return Err(BackendError::invalid(format!(
                "option `work_group_size` {w} exceeds the kernel's limit {max} on {}",
                entry.name
            )))
        }
        Some(w) => w,
        None => max.min(256),
    };
    Ok(Built {
        _program: program,
        search,
        seals,
        work_group_size,
    })
}
