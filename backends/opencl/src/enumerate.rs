//! Finding OpenCL devices: the run-time library, platforms and their devices as one flat
//! index list, and the lock that serializes calls some ICD loaders cannot take in parallel.

use opencl3::device::{
    Device as ClDevice, CL_DEVICE_TYPE_ACCELERATOR, CL_DEVICE_TYPE_ALL, CL_DEVICE_TYPE_CPU,
    CL_DEVICE_TYPE_GPU,
};
use opencl3::types::cl_device_id;
use pow_backend_api::{BackendError, DeviceInfo, DeviceKind};
use pow_gpu_kernels::KeccakShape;
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
    pub(crate) id: cl_device_id,
}

/// Serializes platform enumeration, context creation and program builds: ICD loaders and
/// some drivers (seen with ocl-icd + PoCL) crash when first initialised from several threads
/// at once.
static CL_LOCK: Mutex<()> = Mutex::new(());

pub(crate) fn cl_lock() -> std::sync::MutexGuard<'static, ()> {
    CL_LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why OpenCL cannot be used here, when the library itself is missing.
pub(crate) fn library_problem() -> Option<String> {
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

pub(crate) fn info_of(e: &Entry) -> DeviceInfo {
    DeviceInfo {
        index: e.index,
        name: e.name.clone().into(),
        kind: e.kind,
        compute_units: e.compute_units,
        detail: format!("{}, {}, driver {}", e.platform, e.version, e.driver).into(),
    }
}
