//! What the dispatcher needs from a device.

use pow_backend_api::{BackendError, DeviceKind, Job, SearchOutcome};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

/// Position of a device in the list given to [`crate::Dispatcher::new`].
pub type DeviceId = usize;

/// Description of a device for logs, statistics and the calibration cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceMeta {
    /// Short unique label, `backend:index`.
    pub label: String,
    /// Backend name.
    pub backend: String,
    /// The device's index in its backend.
    pub index: u32,
    /// Human-readable device name.
    pub name: String,
    /// Free-form detail (driver, instruction-set path).
    pub detail: String,
    /// Kind of hardware.
    pub kind: DeviceKind,
    /// The plugin file the device comes from (named in quarantine warnings).
    pub plugin: PathBuf,
    /// Identity of the device and its plugin build, for the calibration cache: changes when
    /// the plugin file, the device or its options change.
    pub fingerprint: String,
}

/// A device the dispatcher can drive: the host's opened plugin devices implement it, and so
/// can in-process test devices. One driver thread owns it; a call that never returns only
/// loses that thread.
pub trait DispatchDevice: Send + 'static {
    /// Description (called once, when the dispatcher is built).
    fn meta(&self) -> DeviceMeta;
    /// Loads a job; later searches use it.
    fn set_job(&mut self, job: &Job) -> Result<(), BackendError>;
    /// Searches `[start, start + count)` of the current job; see
    /// [`pow_backend_api::Device::search`].
    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError>;
}

/// What a device is doing, for statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceState {
    /// In the mix, waiting for work.
    Idle,
    /// Searching a batch.
    Working,
    /// Not in the chosen mix.
    Excluded,
    /// Dropped after an error or panic.
    Failed,
    /// Dropped after results that failed verification.
    Quarantined,
    /// Dropped after missing a deadline.
    Abandoned,
}

impl DeviceState {
    /// Lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Idle => "idle",
            DeviceState::Working => "working",
            DeviceState::Excluded => "excluded",
            DeviceState::Failed => "failed",
            DeviceState::Quarantined => "quarantined",
            DeviceState::Abandoned => "abandoned",
        }
    }
}
