//! Single-thread throughput of every CPU hashing path on each challenge, in attempts.
//!
//! `cargo bench -p pow-benches --bench cpu_paths`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pow_backend_cpu::available_paths;
use pow_backend_cpu::prepared::PreparedJob;
use pow_benches::sample_job;
use std::hint::black_box;
use std::time::Duration;

/// Attempts per measured call: a multiple of every lane count, large enough that the call
/// overhead vanishes.
const ATTEMPTS: u64 = 1 << 14;

fn paths(c: &mut Criterion) {
    for kind in ["v1", "legacy", "faucet"] {
        let job = PreparedJob::new(&sample_job(kind));
        let mut group = c.benchmark_group(kind);
        group.throughput(Throughput::Elements(ATTEMPTS));
        group.measurement_time(Duration::from_secs(4));
        group.warm_up_time(Duration::from_secs(1));
        group.sample_size(20);
        for path in available_paths() {
            let mut start = 0u64;
            group.bench_function(path.name, |b| {
                b.iter(|| {
                    let hit = (path.search)(black_box(&job), start, ATTEMPTS);
                    start = start.wrapping_add(ATTEMPTS);
                    black_box(hit)
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, paths);
criterion_main!(benches);
