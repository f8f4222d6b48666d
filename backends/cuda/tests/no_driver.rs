//! Behaviour on a machine without an NVIDIA driver or GPU (CI): the plugin lists no devices,
//! says why, refuses to open a device with an "unavailable" error, and never panics.
//! On a machine with a working driver this test has nothing to check and says so.

use pow_backend_api::{Backend, ErrorKind, Options};
use pow_backend_cuda::{driver_status, CudaBackend};

#[test]
fn without_a_driver_there_are_no_devices_and_a_reason() {
    if let Ok(n) = driver_status() {
        eprintln!("SKIPPED: a CUDA driver with {n} device(s) is present");
        return;
    }
    let backend = CudaBackend;
    let options = Options::default();
    assert_eq!(backend.name(), "cuda");
    assert!(backend.list_devices(&options).unwrap().is_empty());
    let reason = backend.unavailable_reason(&options).expect("a reason");
    assert!(
        reason.contains("driver") || reason.contains("device"),
        "{reason}"
    );
    match backend.open_device(0, &options) {
        Err(e) => assert_eq!(e.kind, ErrorKind::Unavailable, "{e}"),
        Ok(_) => panic!("opened a CUDA device without a driver"),
    }
    // Asking twice gives the same answer (the failed probe is not cached as a panic).
    assert_eq!(backend.unavailable_reason(&options), Some(reason));
}
