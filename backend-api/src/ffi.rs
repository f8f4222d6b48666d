//! The types that cross the plugin boundary: the root module and the device trait object.

use crate::{BackendError, DeviceInfo, Job, Options, SearchOutcome};
use abi_stable::library::RootModule;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RResult, RString, RVec};
use abi_stable::{declare_root_module_statics, package_version_strings, sabi_trait, StableAbi};
use std::sync::atomic::AtomicBool;

/// An opened device as the host sees it through the boundary.
#[sabi_trait]
pub trait FfiDevice: Send {
    /// Description of the device.
    fn info(&self) -> DeviceInfo;
    /// Loads a new job.
    fn set_job(&mut self, job: &Job) -> RResult<(), BackendError>;
    /// Searches `[start, start + count)` of the current job; see [`crate::Device::search`].
    #[sabi(last_prefix_field)]
    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> RResult<SearchOutcome, BackendError>;
}

/// Owned, type-erased device handed from a plugin to the host.
pub type DeviceBox = FfiDevice_TO<'static, RBox<()>>;

/// The root module every backend library exports (through [`crate::export_backend!`]).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = BackendModuleRef)))]
#[sabi(missing_field(panic))]
pub struct BackendModule {
    /// The [`crate::INTERFACE_VERSION`] the plugin was built for.
    pub interface_version: u32,
    /// Short backend name.
    pub name: extern "C" fn() -> RResult<RString, BackendError>,
    /// One line about the backend.
    pub description: extern "C" fn() -> RResult<RString, BackendError>,
    /// Devices that can be opened.
    pub list_devices: extern "C" fn(options: &Options) -> RResult<RVec<DeviceInfo>, BackendError>,
    /// Why no device is listed, or an empty string.
    pub unavailable_reason: extern "C" fn(options: &Options) -> RResult<RString, BackendError>,
    /// Opens one device.
    #[sabi(last_prefix_field)]
    pub open_device:
        extern "C" fn(index: u32, options: &Options) -> RResult<DeviceBox, BackendError>,
}

impl RootModule for BackendModuleRef {
    declare_root_module_statics! {BackendModuleRef}
    const BASE_NAME: &'static str = "pow_backend";
    const NAME: &'static str = "pow-host backend";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

/// The `pow-backend-api` package version this host or plugin was compiled with.
pub fn api_package_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
