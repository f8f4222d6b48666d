//! Attempts per second of every CPU path on one thread, measured against the thread's own
//! CPU time (`/proc/thread-self/schedstat`, Linux) as well as wall time, so that a rough
//! per-core figure survives a machine shared with other work. The paths take turns for
//! `ROUNDS` rounds (so a change in clock or load hits all of them alike); each path's best
//! round is printed.
//!
//! `cargo run -p pow-benches --release --example path_rates [SECONDS_PER_ROUND [ROUNDS [PATH,...]]]`

use pow_backend_cpu::available_paths;
use pow_backend_cpu::prepared::PreparedJob;
use pow_benches::sample_job;
use std::time::Instant;

/// Nanoseconds this thread has run on a CPU, when the kernel reports it.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The core's clock in GHz, from a chain of dependent 64-bit multiplies (3 cycles each on
/// every AMD Zen and Intel core since Nehalem; an add chain is not a clock on Intel cores
/// from Golden Cove, whose renamer folds immediate adds) on x86-64, `None` elsewhere, so
/// that rates can be read as cycles per attempt.
fn core_ghz() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        const MUL_LATENCY: f64 = 3.0;
        let muls: u64 = 100_000_000;
        let best = (0..3)
            .map(|_| {
                let t0 = Instant::now();
                // SAFETY: register-only arithmetic.
                unsafe {
                    core::arch::asm!(
                        "2:",
                        "imul {x}, {x}",
                        "imul {x}, {x}",
                        "imul {x}, {x}",
                        "imul {x}, {x}",
                        "sub {n}, 4",
                        "jnz 2b",
                        x = inout(reg) 3u64 => _,
                        n = inout(reg) muls => _,
                        options(nomem, nostack),
                    );
                }
                muls as f64 * MUL_LATENCY / t0.elapsed().as_secs_f64() / 1e9
            })
            .fold(0f64, f64::max);
        Some(best)
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let only: Option<Vec<String>> = args
        .next()
        .map(|s| s.split(',').map(String::from).collect());
    let paths: Vec<_> = available_paths()
        .into_iter()
        .filter(|p| only.as_ref().is_none_or(|o| o.iter().any(|n| n == p.name)))
        .collect();
    let ghz = core_ghz();
    if let Some(g) = ghz {
        println!("core clock {g:.2} GHz (chain of dependent multiplies)");
    }
    println!(
        "challenge path          wall M/s   cpu-time M/s   cycles/attempt   (best of {rounds} rounds)"
    );
    for kind in ["v1", "legacy", "faucet"] {
        let job = PreparedJob::new(&sample_job(kind));
        // Best (wall, cpu-time) rate of each path.
        let mut best = vec![(0f64, None::<f64>); paths.len()];
        let mut start = 0u64;
        for _ in 0..rounds {
            for (path, best) in paths.iter().zip(best.iter_mut()) {
                let batch = 1 << 14;
                let (t0, c0) = (Instant::now(), thread_cpu_ns());
                let mut done = 0u64;
                while t0.elapsed().as_secs_f64() < seconds {
                    assert!((path.search)(&job, start, batch).is_none());
                    start += batch;
                    done += batch;
                }
                let wall = done as f64 / t0.elapsed().as_secs_f64() / 1e6;
                let cpu = match (c0, thread_cpu_ns()) {
                    (Some(a), Some(b)) => Some(done as f64 / ((b - a) as f64 * 1e-9) / 1e6),
                    _ => None,
                };
                best.0 = best.0.max(wall);
                best.1 = match (best.1, cpu) {
                    (Some(x), Some(y)) => Some(x.max(y)),
                    (x, y) => x.or(y),
                };
            }
        }
        for (path, (wall, cpu)) in paths.iter().zip(best) {
            let cycles = match (ghz, cpu) {
                (Some(g), Some(c)) => format!("{:>14.0}", g * 1e3 / c),
                _ => format!("{:>14}", "-"),
            };
            let cpu = cpu.map_or("         -".into(), |c| format!("{c:>10.2}"));
            println!("{kind:<9} {:<13} {wall:>8.2}   {cpu}   {cycles}", path.name);
        }
    }
}
