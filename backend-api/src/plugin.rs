//! Plugin-side glue: turns a plain-Rust [`Backend`] into the exported [`BackendModule`], with
//! every call guarded so that a panic becomes an [`ErrorKind::Panicked`] error instead of
//! aborting the host.
//!
//! Plugins use it through [`crate::export_backend!`]; nothing here needs calling by hand.

use crate::ffi::{BackendModule, BackendModuleRef, DeviceBox, FfiDevice, FfiDevice_TO};
use crate::{Backend, BackendError, Device, DeviceInfo, ErrorKind, Job, Options, SearchOutcome};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RString, RVec};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;

/// Returns the backend instance of the plugin (created on first use).
pub type BackendGetter = fn() -> &'static dyn Backend;

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f`, turning a panic into an [`ErrorKind::Panicked`] error.
pub fn guard<T>(f: impl FnOnce() -> Result<T, BackendError>) -> RResult<T, BackendError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => RResult::ROk(v),
        Ok(Err(e)) => RResult::RErr(e),
        Err(payload) => RResult::RErr(BackendError::new(
            ErrorKind::Panicked,
            panic_message(payload),
        )),
    }
}

/// A device wrapped for the boundary. After a panic it refuses further calls, since its state
/// may be broken.
struct GuardedDevice {
    inner: Box<dyn Device>,
    info: DeviceInfo,
    poisoned: bool,
}

impl GuardedDevice {
    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut dyn Device) -> Result<T, BackendError>,
    ) -> RResult<T, BackendError> {
        if self.poisoned {
            return RResult::RErr(BackendError::failed(
                "device is unusable after an earlier panic",
            ));
        }
        let inner = &mut self.inner;
        let result = guard(|| f(inner.as_mut()));
        if let RResult::RErr(e) = &result {
            if e.kind == ErrorKind::Panicked {
                self.poisoned = true;
            }
        }
        result
    }
}

impl FfiDevice for GuardedDevice {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    fn set_job(&mut self, job: &Job) -> RResult<(), BackendError> {
        self.call(|d| d.set_job(job))
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> RResult<SearchOutcome, BackendError> {
        self.call(|d| d.search(start, count, cancel))
    }
}

/// `BackendModule::name` for a backend.
pub fn ffi_name(get: BackendGetter) -> RResult<RString, BackendError> {
    guard(|| Ok(RString::from(get().name())))
}

/// `BackendModule::description` for a backend.
pub fn ffi_description(get: BackendGetter) -> RResult<RString, BackendError> {
    guard(|| Ok(RString::from(get().description())))
}

/// `BackendModule::list_devices` for a backend.
pub fn ffi_list_devices(
    get: BackendGetter,
    options: &Options,
) -> RResult<RVec<DeviceInfo>, BackendError> {
    guard(|| get().list_devices(options).map(RVec::from))
}

/// `BackendModule::unavailable_reason` for a backend.
pub fn ffi_unavailable_reason(
    get: BackendGetter,
    options: &Options,
) -> RResult<RString, BackendError> {
    guard(|| {
        Ok(RString::from(
            get().unavailable_reason(options).unwrap_or_default(),
        ))
    })
}

/// `BackendModule::open_device` for a backend.
pub fn ffi_open_device(
    get: BackendGetter,
    index: u32,
    options: &Options,
) -> RResult<DeviceBox, BackendError> {
    guard(|| {
        let inner = get().open_device(index, options)?;
        let info = inner.info();
        Ok(FfiDevice_TO::from_value(
            GuardedDevice {
                inner,
                info,
                poisoned: false,
            },
            TD_Opaque,
        ))
    })
}

/// The functions a plugin's [`crate::export_backend!`] expansion fills in.
pub struct ModuleFns {
    /// Name.
    pub name: extern "C" fn() -> RResult<RString, BackendError>,
    /// Description.
    pub description: extern "C" fn() -> RResult<RString, BackendError>,
    /// Device list.
    pub list_devices: extern "C" fn(&Options) -> RResult<RVec<DeviceInfo>, BackendError>,
    /// Reason for no devices.
    pub unavailable_reason: extern "C" fn(&Options) -> RResult<RString, BackendError>,
    /// Device opener.
    pub open_device: extern "C" fn(u32, &Options) -> RResult<DeviceBox, BackendError>,
}

/// Builds the root module from the expansion's functions.
pub fn build_module(interface_version: u32, fns: ModuleFns) -> BackendModuleRef {
    BackendModule {
        interface_version,
        name: fns.name,
        description: fns.description,
        list_devices: fns.list_devices,
        unavailable_reason: fns.unavailable_reason,
        open_device: fns.open_device,
    }
    .leak_into_prefix()
}

/// Exports a backend from a `cdylib`.
///
/// ```ignore
/// pow_backend_api::export_backend!(MyBackend::new());
/// ```
///
/// The expression is evaluated once, on first use, inside a panic guard. The plugin crate must
/// depend on `abi_stable` (0.11) as well, since its root-module attribute expands to paths of
/// that crate.
#[macro_export]
macro_rules! export_backend {
    ($ctor:expr) => {
        $crate::export_backend!($ctor, interface_version = $crate::INTERFACE_VERSION);
    };
    ($ctor:expr, interface_version = $version:expr) => {
        fn __pow_backend_instance() -> &'static dyn $crate::Backend {
            static INSTANCE: ::std::sync::OnceLock<::std::boxed::Box<dyn $crate::Backend>> =
                ::std::sync::OnceLock::new();
            INSTANCE
                .get_or_init(|| ::std::boxed::Box::new($ctor))
                .as_ref()
        }
        extern "C" fn __pow_backend_name() -> $crate::abi_stable::std_types::RResult<
            $crate::abi_stable::std_types::RString,
            $crate::BackendError,
        > {
            $crate::plugin::ffi_name(__pow_backend_instance)
        }
        extern "C" fn __pow_backend_description() -> $crate::abi_stable::std_types::RResult<
            $crate::abi_stable::std_types::RString,
            $crate::BackendError,
        > {
            $crate::plugin::ffi_description(__pow_backend_instance)
        }
        extern "C" fn __pow_backend_list_devices(
            options: &$crate::Options,
        ) -> $crate::abi_stable::std_types::RResult<
            $crate::abi_stable::std_types::RVec<$crate::DeviceInfo>,
            $crate::BackendError,
        > {
            $crate::plugin::ffi_list_devices(__pow_backend_instance, options)
        }
        extern "C" fn __pow_backend_unavailable_reason(
            options: &$crate::Options,
        ) -> $crate::abi_stable::std_types::RResult<
            $crate::abi_stable::std_types::RString,
            $crate::BackendError,
        > {
            $crate::plugin::ffi_unavailable_reason(__pow_backend_instance, options)
        }
        extern "C" fn __pow_backend_open_device(
            index: u32,
            options: &$crate::Options,
        ) -> $crate::abi_stable::std_types::RResult<$crate::DeviceBox, $crate::BackendError> {
            $crate::plugin::ffi_open_device(__pow_backend_instance, index, options)
        }
        #[$crate::abi_stable::export_root_module]
        pub fn __pow_backend_root_module() -> $crate::BackendModuleRef {
            $crate::plugin::build_module(
                $version,
                $crate::plugin::ModuleFns {
                    name: __pow_backend_name,
                    description: __pow_backend_description,
                    list_devices: __pow_backend_list_devices,
                    unavailable_reason: __pow_backend_unavailable_reason,
                    open_device: __pow_backend_open_device,
                },
            )
        }
    };
}
