//! `pow-host soak`: solve continuously for N minutes with a challenge switch every second and
//! random device failures; report lost or duplicated work and memory growth.
//!
//! Every device is wrapped in a recorder that logs, per job, the index range each search call
//! reports as searched. At every switch the dispatcher's accounting of the old job (its
//! handed-out space and the ranges still pending) is checked against those logs: the searched
//! ranges plus the pending ranges must tile the handed-out space exactly. An overlap is
//! duplicated work, a hole is lost work. Failures are injected into all devices but the first,
//! at random times: an error, a hang (the device stops answering) or a lie (a hit whose seal is
//! wrong), so the dispatcher's drop, abandon and quarantine paths all run.

use crate::Context;
use pow_backend_api::{BackendError, Hit, Job, SearchOutcome};
use pow_dispatch::{Config, DeviceMeta, DispatchDevice, Dispatcher, Event, JobAccount, WorkSpec};
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::output::{SoakDropOutput, SoakOutput};
use pow_host::Failure;
use pow_seal::{Challenge, SealOrder, Work};
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Arguments of `pow-host soak`.
#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How long to run, minutes.
    #[arg(long, default_value_t = 5.0, value_name = "M")]
    minutes: f64,
    /// Time between challenge switches, milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    switch_ms: u64,
    /// Difficulty of the soak challenges (solutions are found and verified along the way).
    #[arg(long, default_value_t = 20_000_000, value_name = "D")]
    difficulty: u64,
    /// Inject no failures.
    #[arg(long)]
    no_failures: bool,
    /// Print one JSON object at the end.
    #[arg(long)]
    json: bool,
}

/// Searched ranges `(start, searched)` per job id, shared by every recorder.
type RangeLog = Arc<Mutex<HashMap<u64, Vec<(u64, u64)>>>>;
/// Job id per job suffix (each soak job has its own block hash, hence its own suffix).
type JobIds = Arc<Mutex<HashMap<Vec<u8>, u64>>>;

#[derive(Clone, Copy, Debug)]
enum Fault {
    Error,
    Hang,
    Lie,
}

struct Recorder {
    inner: Box<dyn DispatchDevice>,
    log: RangeLog,
    ids: JobIds,
    job: Option<u64>,
    fault: Option<(Instant, Fault)>,
    hang_for: Duration,
}

impl DispatchDevice for Recorder {
    fn meta(&self) -> DeviceMeta {
        self.inner.meta()
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.job = self.ids.lock().unwrap().get(job.suffix.as_slice()).copied();
        self.inner.set_job(job)
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        if let Some((at, fault)) = self.fault {
            if Instant::now() >= at {
                match fault {
                    Fault::Error => return Err(BackendError::failed("soak: injected failure")),
                    Fault::Hang => {
                        std::thread::sleep(self.hang_for);
                        return Err(BackendError::failed("soak: injected hang ended"));
                    }
                    Fault::Lie => {
                        return Ok(SearchOutcome {
                            searched: 1,
                            attempts: 1,
                            hits: vec![Hit {
                                index: start,
                                nonce: start,
                                seal: [0; 32],
                            }]
                            .into(),
                        });
                    }
                }
            }
        }
        let out = self.inner.search(start, count, cancel)?;
        if let Some(job) = self.job {
            self.log
                .lock()
                .unwrap()
                .entry(job)
                .or_default()
                .push((start, out.searched));
        }
        Ok(out)
    }
}

/// Lost and duplicated indexes of one job: its searched ranges plus its pending ranges
/// compared with the handed-out space.
fn check(account: &JobAccount, searched: &[(u64, u64)]) -> (u64, u64) {
    let base = account.start_index;
    let mut ranges: Vec<(u64, u64)> = searched
        .iter()
        .chain(account.pending.iter())
        .filter(|r| r.1 > 0)
        .map(|&(s, n)| (s.wrapping_sub(base), n))
        .collect();
    ranges.sort_unstable();
    let issued = account.issued();
    let (mut lost, mut dup, mut covered_to) = (0u64, 0u64, 0u64);
    for (s, n) in ranges {
        let end = s.saturating_add(n);
        if s > covered_to {
            lost += s - covered_to;
        }
        if s < covered_to {
            dup += covered_to.min(end) - s;
        }
        covered_to = covered_to.max(end);
    }
    if covered_to < issued {
        lost += issued - covered_to;
    }
    (lost, dup)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs the soak.
pub fn run(ctx: &Context, args: &SoakArgs) -> Result<(), Failure> {
    if !(args.minutes > 0.0 && args.minutes <= 24.0 * 60.0) {
        return Err(Failure::usage("--minutes must be above 0 and at most 1440"));
    }
    if args.switch_ms == 0 {
        return Err(Failure::usage("--switch-ms must be at least 1"));
    }
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let (devices, warnings) = open_dispatch_devices(&ctx.selection, &ctx.report.plugins)?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let log: RangeLog = Arc::default();
    let ids: JobIds = Arc::default();
    let started = Instant::now();
    let mut rng = rand::thread_rng();
    let faults = [Fault::Error, Fault::Hang, Fault::Lie];
    let devices: Vec<Box<dyn DispatchDevice>> = devices
        .into_iter()
        .enumerate()
        .map(|(i, inner)| {
            // Device 0 never fails, so that work goes on to the end.
            let fault = (i > 0 && !args.no_failures).then(|| {
                let at = total.mul_f64(rng.gen_range(0.1..0.9));
                (started + at, faults[rng.gen_range(0..faults.len())])
            });
            Box::new(Recorder {
                inner,
                log: log.clone(),
                ids: ids.clone(),
                job: None,
                fault,
                hang_for: total + Duration::from_secs(5),
            }) as Box<dyn DispatchDevice>
        })
        .collect();
    let config = Config {
        stop_on_solution: false,
        ..Config::default()
    };
    let dispatcher =
        Dispatcher::new(devices, config).map_err(|e| Failure::runtime(format!("{e:?}")))?;

    let hotkey: [u8; 32] = rng.gen();
    let mut works: HashMap<u64, Work> = HashMap::new();
    let (mut job_id, mut switches, mut checked) = (0u64, 0u64, 0u64);
    let (mut lost, mut duplicated) = (0u64, 0u64);
    let (mut solutions, mut bad_solutions, mut attempts) = (0u64, 0u64, 0u64);
    let mut dropped = Vec::new();
    let mut rss = Vec::new();
    let mut next_sample = started;
    let mut next_switch = started;
    let switch_every = Duration::from_millis(args.switch_ms);

    while started.elapsed() < total {
        let now = Instant::now();
        if now >= next_sample {
            rss.push((started.elapsed().as_secs(), rss_kib()));
            next_sample += Duration::from_secs(10);
        }
        if now >= next_switch {
            job_id += 1;
            let work = Work::new(
                Challenge::Legacy {
                    block_hash: rng.gen(),
                    hotkey,
                    seal_order: SealOrder::LittleEndian,
                },
                args.difficulty,
            );
            let job = Job::from_work(&work);
            ids.lock().unwrap().insert(job.suffix.to_vec(), job_id);
            works.insert(job_id, work);
            dispatcher.set_work(WorkSpec::new(job_id, job).start_index(rng.gen()));
            next_switch += switch_every;
        }
        let wait = next_switch
            .min(next_sample)
            .saturating_duration_since(Instant::now());
        let Ok(event) = dispatcher.events().recv_timeout(wait) else {
            continue;
        };
        match event {
            Event::Solution(s) => {
                solutions += 1;
                // What the soak measures: a solution for a job that was switched away from
                // (or a wrong one) would be counted here; the dispatcher never sends one.
                let ok = works
                    .get(&s.job_id)
                    .is_some_and(|w| w.verify_claim(s.hit.nonce, &s.hit.seal));
                if !ok {
                    bad_solutions += 1;
                }
            }
            Event::Switched(sw) => {
                switches += 1;
                let prev = sw.previous;
                attempts += prev.attempts;
                let ranges = log.lock().unwrap().remove(&prev.job_id).unwrap_or_default();
                let (l, d) = check(&prev, &ranges);
                lost += l;
                duplicated += d;
                checked += 1;
                works.remove(&prev.job_id);
                ids.lock().unwrap().retain(|_, id| *id > prev.job_id);
            }
            Event::DeviceDropped { label, reason, .. } => {
                eprintln!(
                    "soak: {label} dropped at {:.1} s: {reason}",
                    started.elapsed().as_secs_f64()
                );
                dropped.push(SoakDropOutput {
                    device: label,
                    reason: reason.to_string(),
                    at_seconds: started.elapsed().as_secs_f64(),
                });
            }
            Event::NoDevices => return Err(Failure::runtime("soak: every device was dropped")),
            Event::Stats(_) => {}
        }
    }
    rss.push((started.elapsed().as_secs(), rss_kib()));
    let report = dispatcher.stop();
    if let Some(acc) = report.account {
        let ranges = log.lock().unwrap().remove(&acc.job_id).unwrap_or_default();
        // The final job was stopped without a switch event; in-flight batches may still be
        // running, so only count what was reported.
        let _ = check(&acc, &ranges);
        attempts += acc.attempts;
    }
    // Memory growth: last sample against the first one taken after warm-up (10 s in).
    let warm = rss.iter().find(|(t, _)| *t >= 10).or(rss.first()).copied();
    let last = rss.last().copied();
    let growth = match (warm, last) {
        (Some(a), Some(b)) => b.1 as i64 - a.1 as i64,
        _ => 0,
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let summary = SoakOutput {
            seconds,
            switches,
            jobs_checked: checked,
            lost_indexes: lost,
            duplicated_indexes: duplicated,
            attempts,
            hashes_per_second: attempts as f64 / seconds,
            solutions,
            invalid_solutions: bad_solutions,
            devices_dropped: dropped,
            rss_kib: rss,
            rss_growth_kib_after_warmup: growth,
        };
        println!("{}", serde_json::to_string(&summary).expect("JSON"));
    } else {
        println!(
            "soak: {seconds:.0} s, {switches} switches, {checked} jobs checked: {lost} indexes \
             lost, {duplicated} duplicated; {solutions} solutions ({bad_solutions} invalid); \
             {} devices dropped; RSS {} KiB -> {} KiB ({growth:+} KiB after warm-up)",
            dropped.len(),
            warm.map_or(0, |w| w.1),
            last.map_or(0, |l| l.1),
        );
    }
    if lost > 0 || duplicated > 0 || bad_solutions > 0 {
        return Err(Failure::runtime(
            "soak found lost or duplicated work or an invalid solution",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(start: u64, next: u64, pending: Vec<(u64, u64)>) -> JobAccount {
        JobAccount {
            job_id: 1,
            start_index: start,
            next_index: next,
            issued: next.wrapping_sub(start),
            searched: 0,
            attempts: 0,
            device_attempts: Vec::new(),
            pending,
        }
    }

    #[test]
    fn exact_tiling_has_no_loss_or_duplicate() {
        let acc = account(u64::MAX - 9, 20, vec![(5, 5)]);
        let searched = [(u64::MAX - 9, 15), (10, 10)];
        assert_eq!(check(&acc, &searched), (0, 0));
    }

    #[test]
    fn holes_and_overlaps_are_counted() {
        let acc = account(100, 200, vec![]);
        assert_eq!(check(&acc, &[(100, 40), (150, 50)]), (10, 0));
        assert_eq!(check(&acc, &[(100, 60), (150, 50)]), (0, 10));
    }
}
