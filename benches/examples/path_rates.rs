//! Attempts per second of every CPU path on one thread, measured against the thread's own
//! CPU time (`/proc/thread-self/schedstat`, Linux) as well as wall time, so that a rough
//! per-core figure survives a machine shared with other work.
//!
//! `cargo run -p pow-benches --release --example path_rates [SECONDS]`

use pow_backend_cpu::available_paths;
use pow_backend_cpu::prepared::PreparedJob;
use pow_benches::sample_job;
use std::time::Instant;

/// Nanoseconds this thread has run on a CPU, when the kernel reports it.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    println!("challenge path       wall M/s   cpu-time M/s");
    for kind in ["v1", "legacy", "faucet"] {
        let job = PreparedJob::new(&sample_job(kind));
        for path in available_paths() {
            let batch = 1 << 14;
            let mut start = 0u64;
            let (t0, c0) = (Instant::now(), thread_cpu_ns());
            let mut done = 0u64;
            while t0.elapsed().as_secs_f64() < seconds {
                assert!((path.search)(&job, start, batch).is_none());
                start += batch;
                done += batch;
            }
            let wall = t0.elapsed().as_secs_f64();
            let cpu = match (c0, thread_cpu_ns()) {
                (Some(a), Some(b)) => {
                    format!("{:>10.2}", done as f64 / ((b - a) as f64 * 1e-9) / 1e6)
                }
                _ => "         -".into(),
            };
            println!(
                "{kind:<9} {:<10} {:>8.2}   {cpu}",
                path.name,
                done as f64 / wall / 1e6
            );
        }
    }
}
