//! OpenCL solver backend for pow-host.
//!
//! The OpenCL library (`libOpenCL.so.1`, the ICD loader) is loaded at run time, so the plugin
//! builds without an SDK and, where no runtime is installed, lists no devices and says why.
//! Every device of every platform (GPU, CPU, accelerator) is one entry of a flat index list.
//!
//! Opening a device builds the shared kernel (`kernels/`) from its embedded source, with
//! program binaries cached on disk, and runs the self-test of [`pow_gpu_kernels::self_test`];
//! a device that fails it is refused. The device is the shared
//! [`pow_gpu_kernels::GpuDevice`] over this crate's [`OpenClLauncher`]; searches run through
//! [`pow_gpu_kernels::drive_search`] with two launches in flight.
//!
//! Modules: [`enumerate`] (library, platforms, devices), `program` (build and binary cache),
//! [`launcher`] (buffers and launches).
//!
//! Options: `work_group_size` (work items per group), `batch` (indexes per launch),
//! `cache` (`off` disables the program binary cache), `self_test` (`off` skips it).
//! `POW_OPENCL_BUILD_LOG=1` prints the compiler's log of each program built from source.

pub mod enumerate;
pub mod launcher;
mod program;

pub use enumerate::{default_keccak, enumerate, Entry};
pub use launcher::OpenClLauncher;

use enumerate::{info_of, library_problem};
use pow_backend_api::{Backend, BackendError, Device, DeviceInfo, Options};
use pow_gpu_kernels::GpuDevice;

/// Maps an OpenCL error to a backend failure naming the call.
pub(crate) fn cl_err(what: &str) -> impl Fn(opencl3::error_codes::ClError) -> BackendError + '_ {
    move |e| BackendError::failed(format!("{what}: {e}"))
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
        let mut launcher = OpenClLauncher::open(entry, options)?;
        if options.get("self_test") != Some("off") {
            pow_gpu_kernels::self_test(&mut launcher).map_err(|e| {
                BackendError::failed(format!(
                    "OpenCL device {index} ({}) failed the self-test and is refused: {e}",
                    launcher.entry().name
                ))
            })?;
        }
        Ok(Box::new(GpuDevice::new(launcher)))
    }
}

pow_backend_api::export_backend!(OpenClBackend);
