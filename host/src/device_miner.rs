//! A [`pow_chain::flow::Miner`] over the device dispatcher (`pow-dispatch`): the `register`
//! and `faucet` commands mine through the same machinery as `solve` and `bench` — one shared
//! nonce-index space, re-verification of every hit, quarantine of lying devices, dropping of
//! failing ones, abandoning of hung ones, and cancel of in-flight work when a block arrives.

use crate::solver::DeviceList;
use crate::Failure;
use pow_backend_api::Job;
use pow_chain::flow::{MinedSolution, Miner};
use pow_dispatch::{Config, Dispatcher, Event, WorkSpec};
use pow_seal::Work;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc::{self, UnboundedReceiver};

/// Runs jobs on the dispatcher and delivers its verified solutions.
pub struct DispatchMiner {
    dispatcher: Dispatcher,
    /// The dispatcher's solutions, in the order it found them.
    solutions: UnboundedReceiver<MinedSolution>,
    /// The latest averaged rate (f64 bits), 0 until the first statistics report.
    rate: Arc<AtomicU64>,
    labels: Vec<String>,
}

impl DispatchMiner {
    /// Takes ownership of `devices`; dropped devices are reported to `warn`.
    /// `fixed_batch` pins the indexes per search call; by default the dispatcher sizes batches
    /// to its target batch time per device.
    pub fn new(
        devices: DeviceList,
        fixed_batch: Option<u64>,
        warn: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Result<Self, Failure> {
        let (out, solutions) = mpsc::unbounded_channel();
        let labels = devices.iter().map(|d| d.meta().label).collect();
        let rate = Arc::new(AtomicU64::new(0));
        let rate_out = rate.clone();
        let config = Config {
            fixed_batch: fixed_batch.map(|b| b.max(1)),
            ..Config::default()
        };
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
            } => warn(format!(
                "device {label} ({}) dropped: {reason}",
                plugin.display()
            )),
            Event::NoDevices => warn("no usable device is left".to_string()),
            Event::Switched(_) => {}
        })
        .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e:?}")))?;
        Ok(DispatchMiner {
            dispatcher,
            solutions,
            rate,
            labels,
        })
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

impl Miner for DispatchMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        let job = Job::from_work(work);
        let start = job.mapping.index(rand::random());
        self.dispatcher.set_work(
            WorkSpec::new(job_id, job)
                .start_index(start)
                .difficulty(work.difficulty),
        );
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
