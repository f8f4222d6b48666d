//! The dispatcher's run loops on the host side: solve one job to its first solution
//! ([`run_to_solution`], and [`solve`] for tools and tests), and the `bench` measurement
//! ([`bench_dispatch`]).

use crate::dispatch_devices::{DeviceList, HostDevice};
use crate::plugins::OpenDevice;
use crate::status::{StatusMode, StatusPrinter};
use crate::Failure;
use pow_backend_api::Job;
use pow_dispatch::{
    calibrate, default_cache_path, CalibrationCache, CalibrationSettings, Config, DeviceMeta,
    DispatchDevice, Dispatcher, Event, Plan, Solution, Stats, WorkSpec,
};
use std::time::{Duration, Instant};

/// What [`run_to_solution`] ended with.
pub struct SolveOutcome {
    /// The solution, unless every device failed.
    pub solution: Option<Solution>,
    /// Statistics at the end.
    pub stats: Option<Stats>,
    /// Wall time from `set_work` to the solution.
    pub elapsed: Duration,
}

/// Sets `spec` on the dispatcher and waits for the first solution, showing statistics and
/// warnings on stderr; then stops the dispatcher.
pub fn run_to_solution(dispatcher: Dispatcher, spec: WorkSpec, status: StatusMode) -> SolveOutcome {
    let mut printer = StatusPrinter::new(status);
    let job_id = spec.job_id;
    let started = Instant::now();
    dispatcher.set_work(spec);
    let mut solution = None;
    while let Ok(event) = dispatcher.events().recv() {
        match event {
            Event::Solution(s) if s.job_id == job_id => {
                solution = Some(s);
                break;
            }
            Event::Solution(_) | Event::Switched(_) => {}
            Event::Stats(st) => printer.show(&st),
            Event::DeviceDropped {
                label,
                plugin,
                reason,
                ..
            } => printer.dropped(&label, &plugin, &reason),
            Event::NoDevices => break,
        }
    }
    let elapsed = started.elapsed();
    printer.finish();
    let report = dispatcher.stop();
    SolveOutcome {
        solution,
        stats: Some(report.stats),
        elapsed,
    }
}

/// A verified solution found by [`solve`].
#[derive(Clone, Debug)]
pub struct SolvedBy {
    /// The passing attempt.
    pub hit: pow_backend_api::Hit,
    /// `backend:index` of the device that found it.
    pub device: String,
    /// Attempts made by all devices.
    pub attempts: u64,
    /// Wall time of the search.
    pub elapsed: Duration,
}

/// A device that was dropped during a [`solve`].
#[derive(Clone, Debug)]
pub struct DeviceFailure {
    /// `backend:index`.
    pub device: String,
    /// What went wrong.
    pub reason: String,
}

/// Outcome of [`solve`].
#[derive(Debug)]
pub struct SolveReport {
    /// The solution, if one was found before every device failed.
    pub solution: Option<SolvedBy>,
    /// Devices that were dropped.
    pub failures: Vec<DeviceFailure>,
}

/// Searches `job` from `start_index` upward on every device with the dispatcher (no
/// calibration; fixed batches of `batch` indexes) until a verified solution is found or every
/// device has failed. A simple entry point for tests and tools; `pow-host solve` calibrates.
pub fn solve(devices: Vec<OpenDevice>, job: &Job, start_index: u64, batch: u64) -> SolveReport {
    let devices: DeviceList = devices
        .into_iter()
        .map(|d| Box::new(HostDevice::unfingerprinted(d)) as Box<dyn DispatchDevice>)
        .collect();
    let config = Config {
        fixed_batch: Some(batch.max(1)),
        ..Config::default()
    };
    let Ok(dispatcher) = Dispatcher::new(devices, config) else {
        return SolveReport {
            solution: None,
            failures: Vec::new(),
        };
    };
    let started = Instant::now();
    dispatcher.set_work(WorkSpec::new(0, job.clone()).start_index(start_index));
    let mut solution = None;
    let mut failures = Vec::new();
    while let Ok(event) = dispatcher.events().recv() {
        match event {
            Event::Solution(s) => {
                solution = Some(SolvedBy {
                    hit: s.hit,
                    device: s.label,
                    attempts: s.attempts,
                    elapsed: started.elapsed(),
                });
                break;
            }
            Event::DeviceDropped { label, reason, .. } => failures.push(DeviceFailure {
                device: label,
                reason: reason.to_string(),
            }),
            Event::NoDevices => break,
            _ => {}
        }
    }
    dispatcher.stop();
    SolveReport { solution, failures }
}

/// What [`bench_dispatch`] measured.
pub struct BenchReport {
    /// The devices, by id.
    pub devices: Vec<DeviceMeta>,
    /// The calibration: each device alone, the mixes tried, the choice.
    pub plan: Plan,
    /// Attempts credited by the dispatcher while running the chosen mix.
    pub mix_attempts: u64,
    /// Wall time of that run.
    pub mix_seconds: f64,
    /// Per device, attempts credited in that run (by device id).
    pub device_attempts: Vec<u64>,
    /// For each challenge switch: time from `set_work` to the return (or abandonment) of
    /// the last cancelled batch, as seen by the caller.
    pub switch_latencies: Vec<Duration>,
    /// Batches cancelled by those switches.
    pub switch_cancelled: usize,
    /// Devices dropped during the run, with the reason.
    pub dropped: Vec<(String, String)>,
}

impl BenchReport {
    /// Attempts per second of the dispatched mix.
    pub fn mix_rate(&self) -> f64 {
        if self.mix_seconds > 0.0 {
            self.mix_attempts as f64 / self.mix_seconds
        } else {
            0.0
        }
    }
}

/// Benchmarks the dispatcher on `job`'s layout: calibrates afresh with phases of `phase`
/// (each device alone, then all together, then all but one in turn when there are three or
/// more), runs the chosen mix for `phase` through the dispatcher, then switches challenge
/// `switches` times and times each switch. Nothing can pass (the target is zero), so no run
/// stops early. The fresh calibration also goes to the cache.
pub fn bench_dispatch(
    devices: DeviceList,
    job: &Job,
    config: Config,
    phase: Duration,
    switches: usize,
) -> Result<BenchReport, Failure> {
    let mut job = job.clone();
    job.target = [0; 4];
    let n = devices.len() as u32;
    let calibration = CalibrationSettings {
        budget: phase * (2 * n + 2),
        recalibrate: true,
        cache: default_cache_path().map(CalibrationCache::new),
        min_phase: phase,
        max_phase: phase,
        ..CalibrationSettings::default()
    };
    let run = phase;
    let dispatcher = Dispatcher::new(devices, config)
        .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e}")))?;
    let plan = calibrate(&dispatcher, &job, &calibration)
        .map_err(|e| Failure::runtime(format!("calibration failed: {e}")))?;
    let mut dropped = Vec::new();
    let note = |e: Event, dropped: &mut Vec<(String, String)>| {
        if let Event::DeviceDropped { label, reason, .. } = e {
            dropped.push((label, reason.to_string()));
        }
    };

    // The chosen mix, dispatched for `run`.
    let started = Instant::now();
    dispatcher.set_work(WorkSpec::new(1, job.clone()));
    while started.elapsed() < run {
        if let Ok(e) = dispatcher
            .events()
            .recv_timeout(run.saturating_sub(started.elapsed()))
        {
            note(e, &mut dropped);
        }
    }
    // Switching ends the run: the switch report carries its complete accounting.
    let mut variant = job.clone();
    let mut switch_latencies = Vec::new();
    let mut switch_cancelled = 0;
    let mut mix = None;
    for k in 0..=switches {
        // Another challenge with the same layout: flip a prefix (or suffix) byte.
        let bytes = if variant.prefix.is_empty() {
            &mut variant.suffix
        } else {
            &mut variant.prefix
        };
        if let Some(b) = bytes.last_mut() {
            *b = b.wrapping_add(1);
        }
        let t0 = Instant::now();
        dispatcher.set_work(WorkSpec::new(2 + k as u64, variant.clone()));
        let end = t0 + Duration::from_secs(30);
        loop {
            match dispatcher
                .events()
                .recv_timeout(end.saturating_duration_since(Instant::now()))
            {
                Ok(Event::Switched(s)) => {
                    let latency = t0.elapsed();
                    if mix.is_none() {
                        mix = Some((s.previous.clone(), t0.duration_since(started)));
                    } else {
                        switch_latencies.push(latency);
                        switch_cancelled += s.cancelled;
                    }
                    break;
                }
                Ok(e) => note(e, &mut dropped),
                Err(_) => {
                    return Err(Failure::runtime(
                        "a challenge switch did not complete within 30 s",
                    ))
                }
            }
        }
        if k < switches {
            // Switch again part-way through the devices' batches.
            let pause = config_pause(&plan, k);
            std::thread::sleep(pause);
        }
    }
    let dispatcher_metas = dispatcher.devices().to_vec();
    dispatcher.stop();
    let (account, mix_time) = mix.ok_or_else(|| Failure::runtime("no switch completed"))?;
    Ok(BenchReport {
        devices: dispatcher_metas,
        plan,
        mix_attempts: account.attempts,
        mix_seconds: mix_time.as_secs_f64(),
        device_attempts: account.device_attempts,
        switch_latencies,
        switch_cancelled,
        dropped,
    })
}

/// Pause before the next switch: spread over 20 % to 120 % of the longest batch time, so
/// switches land at different points of the batches.
fn config_pause(plan: &Plan, k: usize) -> Duration {
    let longest = plan
        .devices
        .iter()
        .map(|p| p.batch_time)
        .max()
        .unwrap_or(Duration::from_millis(100));
    longest.mul_f64(0.2 + ((k * 37) % 100) as f64 / 100.0)
}
