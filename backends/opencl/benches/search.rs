//! Search throughput of the OpenCL backend on device 0 (PoCL in CI), for the v1 and legacy
//! layouts. Options come from `POW_OPENCL_OPTS` (`key=value,...`, e.g. `batch=65536`).
//! Prints a message and measures nothing when no OpenCL device exists.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pow_backend_api::{Backend, Job, Options};
use pow_backend_opencl::OpenClBackend;
use pow_seal::{Challenge, SealOrder, Work};
use std::sync::atomic::AtomicBool;

fn options() -> Options {
    let mut o = Options::default();
    if let Ok(list) = std::env::var("POW_OPENCL_OPTS") {
        for pair in list.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("key=value");
            o.set(k, v);
        }
    }
    o
}

fn bench(c: &mut Criterion) {
    let backend = OpenClBackend;
    let options = options();
    if backend.list_devices(&options).unwrap().is_empty() {
        eprintln!(
            "no OpenCL device: {}",
            backend.unavailable_reason(&options).unwrap_or_default()
        );
        return;
    }
    let mut dev = backend.open_device(0, &options).expect("open device 0");
    let name = dev.info().name.to_string();
    let v1 = Challenge::v1(1, [1; 32], [2; 32], [3; 32]).unwrap();
    let legacy = Challenge::Legacy {
        block_hash: [1; 32],
        hotkey: [2; 32],
        seal_order: SealOrder::LittleEndian,
    };
    let mut group = c.benchmark_group(format!("opencl search ({name})"));
    group.sample_size(10);
    const N: u64 = 1 << 20;
    group.throughput(Throughput::Elements(N));
    for (label, challenge) in [("v1", v1), ("legacy", legacy)] {
        // Difficulty 2^64-1: a hit is practically impossible, so every search covers N.
        dev.set_job(&Job::from_work(&Work::new(challenge, u64::MAX)))
            .unwrap();
        let cancel = AtomicBool::new(false);
        let mut start = 0u64;
        group.bench_function(label, |b| {
            b.iter(|| {
                let out = dev.search(start, N, &cancel).unwrap();
                start += N;
                out.searched
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
