//! Both Keccak shapes of the kernel (`keccak=loop` and `keccak=unrolled`) on every OpenCL
//! device (PoCL in CI): opening runs the self-test (every layout against the reference
//! vectors), then a v1 search across a run boundary of the canonical mapping, with launches
//! that span several runs, must return exactly the hits of a seal-library scan.
//! Skips with a message when no OpenCL device exists.

use pow_backend_api::{Backend, Job, Options};
use pow_backend_opencl::OpenClBackend;
use pow_seal::{Challenge, Work};
use std::sync::atomic::AtomicBool;

#[test]
fn both_keccak_shapes_pass_the_self_test_and_search_across_runs() {
    let backend = OpenClBackend;
    let devices = backend.list_devices(&Options::default()).unwrap();
    if devices.is_empty() {
        eprintln!(
            "SKIPPED: no OpenCL device: {}",
            backend
                .unavailable_reason(&Options::default())
                .unwrap_or_default()
        );
        return;
    }
    let challenge = Challenge::v1(3, [0x21; 32], [0x43; 32], [0x65; 32]).unwrap();
    let job = Job::from_work(&Work::new(challenge, 20_000));
    // 3 runs of 2^24 indexes are touched; launches of 4096 keep the scan short.
    let start = (1u64 << 24) - 30_000;
    let count = 60_000u64;
    let want: Vec<u64> = (start..start + count)
        .filter(|&i| job.is_met_by(&job.reference_seal_at(i)))
        .collect();
    assert!(
        !want.is_empty(),
        "the range should hold hits at difficulty 20,000"
    );
    for info in devices {
        for shape in ["loop", "unrolled"] {
            let mut options = Options::default();
            options.set("keccak", shape);
            options.set("batch", "4096");
            let mut device = backend
                .open_device(info.index, &options)
                .unwrap_or_else(|e| panic!("{} keccak={shape}: {e}", info.name));
            device.set_job(&job).unwrap();
            // Search from each hit to the next, as the dispatcher does after a hit.
            let mut from = start;
            let mut got = Vec::new();
            while from < start + count {
                let out = device
                    .search(from, start + count - from, &AtomicBool::new(false))
                    .unwrap();
                assert!(out.searched > 0);
                if let Some(hit) = out.hits.first() {
                    got.push(hit.index);
                    assert_eq!(
                        out.searched,
                        hit.index - from + 1,
                        "searched ends at the hit"
                    );
                }
                from += out.searched;
            }
            assert_eq!(got, want, "{} keccak={shape}", info.name);
        }
    }
}
