//! Without an OpenCL driver the backend lists no devices and explains why, without failing.
//! The ICD loader (ocl-icd) is pointed at an empty vendor folder before its first use.

use pow_backend_api::{Backend, Options};
use pow_backend_opencl::OpenClBackend;

#[test]
fn no_driver_means_no_devices_and_a_reason() {
    let empty = std::env::temp_dir().join(format!("pow-host-no-icd-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("OCL_ICD_VENDORS", &empty);
    let backend = OpenClBackend;
    let options = Options::default();
    let devices = backend.list_devices(&options).unwrap();
    assert!(devices.is_empty(), "{devices:?}");
    let reason = backend.unavailable_reason(&options).expect("a reason");
    assert!(
        reason.contains("no platform") || reason.contains("cannot be loaded"),
        "{reason}"
    );
    let err = match backend.open_device(0, &options) {
        Err(e) => e,
        Ok(_) => panic!("opened a device without a driver"),
    };
    assert!(!err.to_string().is_empty());
    let _ = std::fs::remove_dir(&empty);
}
