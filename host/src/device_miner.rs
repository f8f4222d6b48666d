//! A [`pow_chain::flow::Miner`] over the device dispatcher (`pow-dispatch`): the `register`
//! and `faucet` commands mine through the same machinery as `solve` and `bench` — one shared
//! nonce-index space, re-verification of every hit, quarantine of lying devices, dropping of
//! failing ones, abandoning of hung ones, and cancel of in-flight work when a block arrives.
//! Like `solve`, the miner calibrates the devices (or reads the cached plan) before it mines:
//! on the first job it is given, which has the layout of the challenge being mined.

use crate::calibration::calibrate_dispatcher;
use crate::dispatch_devices::DeviceList;
use crate::Failure;
use pow_backend_api::Job;
use pow_chain::flow::{MinedSolution, Miner};
use pow_dispatch::{CalibrationSettings, Config, Dispatcher, Event, WorkSpec};
use pow_seal::Work;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, UnboundedReceiver};

/// Runs jobs on the dispatcher and delivers its verified solutions.
pub struct DispatchMiner {
    dispatcher: Dispatcher,
    /// The dispatcher's solutions, in the order it found them.
    solutions: UnboundedReceiver<MinedSolution>,
    /// The latest averaged rate (f64 bits), 0 until the first statistics report.
    rate: Arc<AtomicU64>,
    labels: Vec<String>,
    /// The calibration still to run on the first job (taken when it runs).
    calibration: Option<MinerCalibration>,
    /// Wall time the calibration took.
    calibration_time: Duration,
    warn: Warn,
}

/// Where the miner's warnings go.
type Warn = Arc<dyn Fn(String) + Send + Sync>;

/// How a [`DispatchMiner`] calibrates on its first job.
#[derive(Clone, Debug)]
pub struct MinerCalibration {
    /// Budget, cache and `--recalibrate`.
    pub settings: CalibrationSettings,
    /// Print the measurements and the choice on stderr (`-v`).
    pub verbose: bool,
}

impl DispatchMiner {
    /// Takes ownership of `devices`; dropped devices are reported to `warn`.
    /// `fixed_batch` pins the indexes per search call; by default the dispatcher sizes batches
    /// to its target batch time per device. The devices are calibrated with `calibration` on
    /// the first job, before it starts.
    pub fn new(
        devices: DeviceList,
        fixed_batch: Option<u64>,
        calibration: MinerCalibration,
        warn: Warn,
    ) -> Result<Self, Failure> {
        let (out, solutions) = mpsc::unbounded_channel();
        let labels = devices.iter().map(|d| d.meta().label).collect();
        let rate = Arc::new(AtomicU64::new(0));
        let rate_out = rate.clone();
        let config = Config {
            fixed_batch: fixed_batch.map(|b| b.max(1)),
            ..Config::default()
        };
        let sink_warn = warn.clone();
        let dispatcher = Dispatcher::with_sink(devices, config, move |event| match event {
            Event::Solution(s) => {
                let _ = out.send(MinedSolution {
                    job_id: s.job_id,
                    nonce: s.hit.nonce,
                    seal: s.hit.seal,
                    device: s.label,
                });
            }
            Event::Stats(stats) => rate_out.store(stats.hash_rate.to_bits(), Ordering::Relaxed),
            Event::DeviceDropped {
                label,
                plugin,
                reason,
                ..
            } => sink_warn(format!(
                "device {label} ({}) dropped: {reason}",
                plugin.display()
            )),
            Event::NoDevices => sink_warn("no usable device is left".to_string()),
            Event::Switched(_) => {}
        })
        .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e:?}")))?;
        Ok(DispatchMiner {
            dispatcher,
            solutions,
            rate,
            labels,
            calibration: Some(calibration),
            calibration_time: Duration::ZERO,
            warn,
        })
    }

    /// Calibrates on `job`'s layout the first time it is called (the dispatcher is still idle
    /// then); a failed calibration is a warning and every device runs uncalibrated.
    fn calibrate_once(&mut self, job: &Job) {
        if let Some(c) = self.calibration.take() {
            let started = Instant::now();
            let result = calibrate_dispatcher(&self.dispatcher, job, &c.settings, c.verbose);
            self.calibration_time = started.elapsed();
            if let Err(f) = result {
                (self.warn)(f.message);
            }
        }
    }

    /// Wall time the calibration took (zero before the first job; next to none with a cached
    /// plan).
    pub fn calibration_time(&self) -> Duration {
        self.calibration_time
    }

    /// `backend:index` of every device.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Nonces tried so far, over all jobs and devices (a snapshot taken now).
    pub fn attempts(&self) -> u64 {
        self.dispatcher.stats().map_or(0, |s| s.attempts_total)
    }
}

impl DispatchMiner {
    /// Like [`Miner::set_work`], starting at index `start` (default: a random nonce).
    pub fn set_work_from(&mut self, job_id: u64, work: &Work, start: Option<u64>) {
        let job = Job::from_work(work);
        self.calibrate_once(&job);
        let start = start.unwrap_or_else(|| job.mapping.index(rand::random()));
        self.dispatcher.set_work(
            WorkSpec::new(job_id, job)
                .start_index(start)
                .difficulty(work.difficulty),
        );
    }

    /// The cell holding the latest averaged rate (f64 bits; 0 before the first figure).
    pub fn rate_handle(&self) -> Arc<AtomicU64> {
        self.rate.clone()
    }
}

impl Miner for DispatchMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        self.set_work_from(job_id, work, None);
    }

    fn stop(&mut self) {
        self.dispatcher.clear_work();
    }

    fn poll_solution(&mut self, cx: &mut Context<'_>) -> Poll<Option<MinedSolution>> {
        self.solutions.poll_recv(cx)
    }

    fn rate(&self) -> Option<f64> {
        Some(f64::from_bits(self.rate.load(Ordering::Relaxed))).filter(|r| *r > 0.0)
    }
}
