//! The stable plugin interface between `pow-host` and its solver backends.
//!
//! A backend is a `cdylib` that implements [`Backend`] and [`Device`] in plain Rust and exports
//! them with [`export_backend!`]. The macro wraps every call in a panic guard and hands the host
//! an `abi_stable` root module ([`BackendModule`]), so a host and a plugin built by different
//! compilers agree on every type that crosses the boundary.
//!
//! A [`Job`] is generic: the message bytes before and after the nonce, the seal byte order and
//! the 256-bit target. An opened device searches nonce *indexes* `[start, start + count)`;
//! [`NonceMapping`] turns an index into the nonce that goes into the message, and every backend
//! and the host must use it.
//!
//! The interface is versioned twice: abi_stable refuses a plugin whose `pow-backend-api`
//! version or type layouts are incompatible, and [`INTERFACE_VERSION`] is compared by the host
//! for semantic changes that keep the layout.
#![allow(non_local_definitions)]

pub mod cache_file;
pub mod cpu_id;
pub mod ffi;
mod job;
pub mod layout;
pub mod plugin;

pub use abi_stable;
pub use ffi::{BackendModule, BackendModuleRef, DeviceBox, FfiDevice};
pub use job::{Hit, Job, NonceMapping, SearchOutcome};
pub use layout::MessageLayout;

use abi_stable::std_types::{RString, RVec};
use abi_stable::StableAbi;
use std::sync::atomic::AtomicBool;

/// Version of the interface's meaning. Raise it whenever the contract changes in a way the
/// type layouts do not show (for example the nonce mapping).
pub const INTERFACE_VERSION: u32 = 1;

/// What kind of hardware a device is.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// Host CPU cores.
    Cpu,
    /// A graphics processor.
    Gpu,
    /// Another accelerator (FPGA, OpenCL accelerator).
    Accelerator,
    /// Anything else, including synthetic test devices.
    Other,
}

impl DeviceKind {
    /// Lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Gpu => "gpu",
            DeviceKind::Accelerator => "accelerator",
            DeviceKind::Other => "other",
        }
    }
}

/// Description of one device a backend can open.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Index to pass to `open_device`.
    pub index: u32,
    /// Human-readable name (for example the GPU model).
    pub name: RString,
    /// Kind of hardware.
    pub kind: DeviceKind,
    /// Parallel units (CPU threads, GPU SMs or compute units).
    pub compute_units: u32,
    /// Free-form detail: driver, instruction set path, memory. The first line is the summary
    /// shown everywhere (`path avx2`); lines after it, if any, are more detail that
    /// `pow-host backends -v` and `backends --json` (`more_detail`) show, such as how the
    /// path was chosen. Only the first line goes into the calibration cache's device
    /// identity, so the rest may change from run to run. See [`DeviceInfo::detail_parts`].
    pub detail: RString,
}

impl DeviceInfo {
    /// The detail's summary (its first line) and the rest, if any (see [`DeviceInfo::detail`]).
    pub fn detail_parts(&self) -> (&str, Option<&str>) {
        split_detail(&self.detail)
    }
}

/// A device detail split into its first line and the rest (`None` when there is no rest or it
/// is blank); see [`DeviceInfo::detail`].
pub fn split_detail(detail: &str) -> (&str, Option<&str>) {
    match detail.split_once('\n') {
        Some((summary, more)) => {
            let more = more.trim();
            (summary.trim_end(), (!more.is_empty()).then_some(more))
        }
        None => (detail, None),
    }
}

/// Why a backend call failed.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The call failed; the message says why.
    Failed,
    /// The backend panicked; the panic was caught at the boundary.
    Panicked,
    /// The job or arguments were not acceptable to this backend.
    InvalidInput,
    /// No device or driver is present.
    Unavailable,
}

/// An error returned across the plugin boundary.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct BackendError {
    /// Category of the failure.
    pub kind: ErrorKind,
    /// Explanation for the user.
    pub message: RString,
}

impl BackendError {
    /// A [`ErrorKind::Failed`] error.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    /// An [`ErrorKind::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    /// An [`ErrorKind::Unavailable`] error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// An error of any kind.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            message: RString::from(message.into()),
        }
    }
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            ErrorKind::Panicked => write!(f, "backend panicked: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BackendError {}

/// One `key=value` setting passed from the host to a backend (for example `threads=4` or
/// `devices=0,2`).
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct OptionPair {
    /// Setting name.
    pub key: RString,
    /// Setting value.
    pub value: RString,
}

/// The settings the host passes to a backend: the user's (`threads` from `--threads`, and
/// `--backend-opt BACKEND.KEY=VALUE`) and the host's own.
///
/// # Keys the host provides
///
/// The host sets these for every backend (a `--backend-opt` of the same key overrides them);
/// a backend that keeps nothing between runs ignores them:
///
/// * [`Options::CACHE_DIR`] (`cache-dir=DIR`): the host's cache folder
///   (`$XDG_CACHE_HOME/pow-host`, else `~/.cache/pow-host`), where the host keeps its
///   calibration (`calibration.json`) and a backend may keep what it measured in a file of its
///   own name (the CPU backend: `cpu-paths.json`). Absent when the host has no cache folder (no
///   `HOME`): then measure every time and cache nothing.
/// * [`Options::RECALIBRATE`] (`recalibrate=1`): the user asked to measure again
///   (`--recalibrate`); ignore what is cached (and replace it). Absent otherwise.
///
/// They describe where to keep measurements, not what a device does, so the host leaves them
/// out of the device identity its calibration cache keys on.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The settings in the order given.
    pub pairs: RVec<OptionPair>,
}

impl Options {
    /// Host-provided key: the host's cache folder (see [`Options`]).
    pub const CACHE_DIR: &'static str = "cache-dir";
    /// Host-provided key: `1` when the user asked to measure again (see [`Options`]).
    pub const RECALIBRATE: &'static str = "recalibrate";
    /// Every key the host provides.
    pub const HOST_KEYS: [&'static str; 2] = [Options::CACHE_DIR, Options::RECALIBRATE];

    /// The host's cache folder ([`Options::CACHE_DIR`]), if it has one.
    pub fn cache_dir(&self) -> Option<std::path::PathBuf> {
        self.get(Options::CACHE_DIR)
            .filter(|d| !d.is_empty())
            .map(std::path::PathBuf::from)
    }

    /// Whether the user asked to measure again ([`Options::RECALIBRATE`] is `1` or `true`).
    pub fn recalibrate(&self) -> bool {
        matches!(
            self.get(Options::RECALIBRATE).map(str::trim),
            Some("1" | "true")
        )
    }

    /// Adds or replaces a setting.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = RString::from(value.into());
        if let Some(p) = self.pairs.iter_mut().find(|p| p.key.as_str() == key) {
            p.value = value;
        } else {
            self.pairs.push(OptionPair {
                key: key.into(),
                value,
            });
        }
    }

    /// The value of a setting, if given.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|p| p.key.as_str() == key)
            .map(|p| p.value.as_str())
    }

    /// A setting parsed as a number; an unparsable value is an [`ErrorKind::InvalidInput`].
    pub fn get_parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, BackendError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.trim().parse::<T>().map(Some).map_err(|_| {
                    BackendError::invalid(format!("option `{key}`: cannot parse `{v}`"))
                })
            }
        }
    }
}

/// A solver backend, implemented in plain Rust by a plugin and exported with
/// [`export_backend!`].
pub trait Backend: Send + Sync + 'static {
    /// Short name used with `--backends` (for example `cpu`).
    fn name(&self) -> &str;
    /// One line about the backend.
    fn description(&self) -> String {
        String::new()
    }
    /// The devices this backend can open. No hardware is not an error: return an empty list
    /// (and say why in [`Backend::unavailable_reason`]).
    fn list_devices(&self, options: &Options) -> Result<Vec<DeviceInfo>, BackendError>;
    /// Why no devices are listed, when that is the case (for example "no NVIDIA driver").
    fn unavailable_reason(&self, _options: &Options) -> Option<String> {
        None
    }
    /// Opens one device for searching.
    fn open_device(&self, index: u32, options: &Options) -> Result<Box<dyn Device>, BackendError>;
}

/// An opened device. One host thread drives it at a time.
pub trait Device: Send + 'static {
    /// Description of the device.
    fn info(&self) -> DeviceInfo;
    /// Loads a new job (midstates, buffers); later searches use it.
    fn set_job(&mut self, job: &Job) -> Result<(), BackendError>;
    /// Searches nonce indexes `[start, start + count)` (wrapping at 2^64) of the current job.
    ///
    /// Returns when the range is exhausted, when `cancel` becomes true, or when a passing index
    /// is found. See [`SearchOutcome`] for what must be reported.
    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_splits_into_summary_and_more() {
        assert_eq!(split_detail("path avx2"), ("path avx2", None));
        assert_eq!(
            split_detail("path avx2\nrates: avx2 5.4 M/s\nmore"),
            ("path avx2", Some("rates: avx2 5.4 M/s\nmore"))
        );
        assert_eq!(split_detail("path avx2 \n  \n"), ("path avx2", None));
    }

    #[test]
    fn host_keys_read_back() {
        let mut o = Options::default();
        assert_eq!((o.cache_dir(), o.recalibrate()), (None, false));
        o.set(Options::CACHE_DIR, "/tmp/c");
        o.set(Options::RECALIBRATE, "1");
        assert_eq!(o.cache_dir(), Some(std::path::PathBuf::from("/tmp/c")));
        assert!(o.recalibrate());
        o.set(Options::RECALIBRATE, "0");
        o.set(Options::CACHE_DIR, "");
        assert_eq!((o.cache_dir(), o.recalibrate()), (None, false));
    }
}
