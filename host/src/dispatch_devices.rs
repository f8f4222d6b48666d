//! Opening the selected plugin devices as dispatcher devices ([`pow_dispatch::DispatchDevice`]),
//! each with the identity the calibration cache keys on.

use crate::plugins::{OpenDevice, Plugin};
use crate::selection::Selection;
use crate::Failure;
use pow_backend_api::{BackendError, Job, Options, SearchOutcome};
use pow_dispatch::{DeviceMeta, DispatchDevice};
use std::sync::atomic::AtomicBool;

/// An opened plugin device, ready for the dispatcher.
pub struct HostDevice {
    device: OpenDevice,
    meta: DeviceMeta,
}

/// Identity of a plugin build: its path, size and modification time, and its interface.
fn plugin_fingerprint(plugin: &Plugin) -> String {
    let (size, mtime) = std::fs::metadata(&plugin.path)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), mtime)
        })
        .unwrap_or((0, 0));
    format!(
        "{}|{}|{size}|{mtime}|api {}|if {}",
        plugin.name,
        plugin.path.display(),
        plugin.api_version,
        plugin.interface_version
    )
}

impl HostDevice {
    /// Wraps a device opened from `plugin` with `options_text` (its options, for the
    /// calibration cache key). Only the first line of the device's detail goes into its meta
    /// and identity: the lines after it may change from run to run (see
    /// [`pow_backend_api::DeviceInfo::detail`]).
    pub fn new(device: OpenDevice, plugin: &Plugin, options_text: &str) -> Self {
        let info = &device.info;
        let (detail, _) = info.detail_parts();
        let meta = DeviceMeta {
            label: device.label(),
            backend: device.backend.clone(),
            index: info.index,
            name: info.name.to_string(),
            detail: detail.to_string(),
            kind: info.kind,
            plugin: plugin.path.clone(),
            fingerprint: format!(
                "{}|dev {}|{}|{} units|{}|{options_text}",
                plugin_fingerprint(plugin),
                info.index,
                info.name,
                info.compute_units,
                detail
            ),
        };
        HostDevice { device, meta }
    }

    /// Wraps a device without a plugin path or fingerprint (for tools and tests that do not
    /// calibrate, hence never consult the cache).
    pub fn unfingerprinted(device: OpenDevice) -> Self {
        let meta = DeviceMeta {
            label: device.label(),
            backend: device.backend.clone(),
            index: device.info.index,
            name: device.info.name.to_string(),
            detail: device.info.detail_parts().0.to_string(),
            kind: device.info.kind,
            plugin: Default::default(),
            fingerprint: String::new(),
        };
        HostDevice { device, meta }
    }
}

impl DispatchDevice for HostDevice {
    fn meta(&self) -> DeviceMeta {
        self.meta.clone()
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.device.set_job(job)
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        self.device.search(start, count, cancel)
    }
}

/// Owned dispatcher devices.
pub type DeviceList = Vec<Box<dyn DispatchDevice>>;

/// Opens the selected devices (see [`Selection::open_devices`]) as dispatcher devices.
/// Returns the devices and the warnings about devices that could not be opened.
pub fn open_dispatch_devices(
    selection: &Selection,
    plugins: &[Plugin],
) -> Result<(DeviceList, Vec<String>), Failure> {
    let (devices, warnings) = selection.open_devices(plugins)?;
    let out = devices
        .into_iter()
        .map(|d| {
            let plugin = plugins
                .iter()
                .find(|p| p.name == d.backend)
                .expect("an opened device comes from a loaded plugin");
            // The host's own keys say where to cache and whether to measure again, not what
            // the device does: they stay out of its identity.
            let options = selection.options_for(&plugin.name);
            let text: Vec<String> = options
                .pairs
                .iter()
                .filter(|p| !Options::HOST_KEYS.contains(&p.key.as_str()))
                .map(|p| format!("{}={}", p.key, p.value))
                .collect();
            Box::new(HostDevice::new(d, plugin, &text.join(","))) as Box<dyn DispatchDevice>
        })
        .collect();
    Ok((out, warnings))
}
