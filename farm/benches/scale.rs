//! The farm at scale on loopback: a real `nats-server`, this process as the coordinator, and N
//! `pow-host worker` processes. Not a test: it prints figures for docs/farm.md.
//!
//! ```text
//! cargo bench -p pow-farm --bench scale -- [--workers 1,8,32,64] [--rate 5000]
//!     [--rate-seconds 12] [--switches 30] [--cpu-workers N]
//! ```
//!
//! Per worker count it reports:
//! * the farm rate (attempts the workers reported over a 12 s window with one block switch in
//!   the middle) as a fraction of the sum of their solo rates (one worker's backend measured
//!   alone by `pow-host bench`, times N);
//! * new block to all workers switched: for each of `--switches` job switches 400 ms apart,
//!   the time from the announcement until the last worker took its first lease of the new job
//!   (coordinator clock), p50 and p99; and the same per worker;
//! * the coordinator's CPU time over wall time, and messages per second per worker.
//!
//! Workers use the synthetic backend (real seals, simulated speed `--rate` per worker) unless
//! `--cpu-workers N` asks for N workers on the CPU backend with one thread each.

use pow_backend_api::Job;
use pow_farm::{CoordinatorConfig, FarmConnect, FarmCoordinator, FarmStatus};
use pow_seal::{Challenge, Work};
use pow_test_support::NatsServer;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    workers: Vec<usize>,
    rate: f64,
    rate_seconds: f64,
    switches: usize,
    cpu_workers: Option<usize>,
}

fn options() -> Options {
    let mut o = Options {
        workers: vec![1, 8, 32, 64],
        rate: 5000.0,
        rate_seconds: 12.0,
        switches: 30,
        cpu_workers: None,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--workers" => o.workers = value.split(',').map(|v| v.parse().unwrap()).collect(),
            "--rate" => o.rate = value.parse().unwrap(),
            "--rate-seconds" => o.rate_seconds = value.parse().unwrap(),
            "--switches" => o.switches = value.parse().unwrap(),
            "--cpu-workers" => o.cpu_workers = Some(value.parse().unwrap()),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// Backend arguments of a worker.
fn backend_args(plugins: &Path, synthetic_rate: Option<f64>) -> Vec<String> {
    match synthetic_rate {
        Some(rate) => vec![
            "--plugin-dir".into(),
            plugins.display().to_string(),
            "--backends".into(),
            "synthetic".into(),
            "--backend-opt".into(),
            format!("synthetic.rate={rate}"),
        ],
        None => vec![
            "--backends".into(),
            "cpu".into(),
            "--threads".into(),
            "1".into(),
        ],
    }
}

/// One worker's backend measured alone by `pow-host bench` (attempts per second).
fn solo_rate(backend: &[String]) -> f64 {
    let out = Command::new(pow_test_support::pow_host_bin())
        .args(backend)
        .args(["bench", "--challenge", "v1", "--seconds", "3", "--json"])
        .args(["--calibrate-seconds", "1"])
        .stderr(Stdio::null())
        .output()
        .expect("pow-host bench runs");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bench JSON");
    j["mix_hashes_per_second"].as_f64().expect("a rate")
}

fn spawn_worker(backend: &[String], url: &str, id: &str) -> Child {
    Command::new(pow_test_support::pow_host_bin())
        .args(backend)
        .args([
            "worker",
            "--farm",
            url,
            "--farm.name",
            "scale",
            "--worker-id",
            id,
        ])
        .args(["--calibrate-seconds", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pow-host worker starts")
}

fn never_job(block: u32) -> Job {
    let mut hash = [0u8; 32];
    hash[..4].copy_from_slice(&block.to_le_bytes());
    let mut job = Job::from_work(&Work::new(
        Challenge::v1(1, hash, [2; 32], [3; 32]).unwrap(),
        1,
    ));
    job.target = [0; 4];
    job
}

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage struct into `u`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !check() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Attempts and uptime of every worker, by id.
fn counters(s: &FarmStatus) -> std::collections::HashMap<String, (u64, f64)> {
    s.workers
        .iter()
        .map(|w| (w.worker.clone(), (w.attempts_total, w.uptime_seconds)))
        .collect()
}

/// The farm's rate between two snapshots: each worker's attempts over its own clock, summed.
fn farm_rate(before: &FarmStatus, after: &FarmStatus) -> f64 {
    let b = counters(before);
    counters(after)
        .iter()
        .filter_map(|(id, (a1, t1))| {
            let (a0, t0) = b.get(id)?;
            (t1 > t0).then(|| (a1 - a0) as f64 / (t1 - t0))
        })
        .sum()
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

fn run(n: usize, backend: &[String], solo: f64, o: &Options) {
    let nats = NatsServer::start().expect("nats-server on PATH");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let farm = rt
        .block_on(FarmCoordinator::start(
            &FarmConnect::new(&nats.url(), "scale").unwrap(),
            CoordinatorConfig {
                status_every: Duration::ZERO,
                ..CoordinatorConfig::default()
            },
            Arc::new(|_| {}),
            None,
            Arc::new(AtomicU64::new(0)),
        ))
        .unwrap();
    let mut workers: Vec<Child> = (0..n)
        .map(|i| spawn_worker(backend, &nats.url(), &format!("w{i:03}")))
        .collect();
    let mut block = 0u32;
    let mut next_job = |farm: &FarmCoordinator| {
        block += 1;
        farm.set_job(block as u64, &never_job(block), None, None);
    };
    next_job(&farm);
    let joined = wait_for(Duration::from_secs(120), || {
        let s = farm.status();
        s.workers.len() == n && s.workers.iter().all(|w| w.leases > 0 && w.rate > 0.0)
    });
    assert!(joined, "not every worker joined and leased");
    std::thread::sleep(Duration::from_secs(2));

    // Rate: a window with one block switch in the middle.
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let s0 = farm.status();
    std::thread::sleep(Duration::from_secs_f64(o.rate_seconds / 2.0));
    next_job(&farm);
    std::thread::sleep(Duration::from_secs_f64(o.rate_seconds / 2.0));
    let s1 = farm.status();
    let wall = t0.elapsed().as_secs_f64();
    let farm_rate = farm_rate(&s0, &s1);
    let cpu_rate = (cpu_seconds() - cpu0) / wall;
    let messages = (s1.messages_in_per_second + s1.messages_out_per_second) / n as f64;

    // Switch latency: many quick blocks.
    let mut all = Vec::new();
    for _ in 0..o.switches {
        next_job(&farm);
        let done = wait_for(Duration::from_secs(5), || {
            farm.status().all_switched_ms.is_some()
        });
        if done {
            all.push(farm.status().all_switched_ms.unwrap());
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let s2 = farm.status();
    let missed = o.switches - all.len();
    println!(
        "| {n} | {} | {} | {:.1} % | {:.1} / {:.1} | {:.1} / {:.1} | {:.1} % | {:.1} |{}",
        pow_dispatch::rate_text(solo * n as f64),
        pow_dispatch::rate_text(farm_rate),
        100.0 * farm_rate / (solo * n as f64),
        percentile(&mut all.clone(), 0.5),
        percentile(&mut all, 0.99),
        s2.switch_ms_p50.unwrap_or(f64::NAN),
        s2.switch_ms_p99.unwrap_or(f64::NAN),
        100.0 * cpu_rate,
        messages,
        if missed > 0 {
            format!(" ({missed} switches not complete within 5 s)")
        } else {
            String::new()
        }
    );
    for w in &mut workers {
        let _ = w.kill();
    }
    for w in &mut workers {
        let _ = w.wait();
    }
    drop(farm);
    drop(rt);
}

fn main() {
    let o = options();
    let plugins = tempfile::tempdir().unwrap();
    let lib = pow_test_support::synthetic_library();
    std::fs::copy(&lib, plugins.path().join(lib.file_name().unwrap())).unwrap();
    println!(
        "| workers | sum of solo rates | farm rate | fraction | all switched p50 / p99 ms | per worker p50 / p99 ms | coordinator CPU | messages/s per worker |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    if let Some(n) = o.cpu_workers {
        let backend = backend_args(plugins.path(), None);
        let solo = solo_rate(&backend);
        run(n, &backend, solo, &o);
        return;
    }
    let backend = backend_args(plugins.path(), Some(o.rate));
    let solo = solo_rate(&backend);
    for &n in &o.workers {
        run(n, &backend, solo, &o);
    }
}
