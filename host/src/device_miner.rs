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
use tokio::sync::mpsc::UnboundedSender;

/// Runs jobs on the dispatcher and sends its verified solutions to a channel.
pub struct DispatchMiner {
    dispatcher: Dispatcher,
    attempts: Arc<AtomicU64>,
    labels: Vec<String>,
}

impl DispatchMiner {
    /// Takes ownership of `devices`; solutions go to `out`, dropped devices to `warn`.
    /// `fixed_batch` pins the indexes per search call; by default the dispatcher sizes batches
    /// to its target batch time per device.
    pub fn new(
        devices: DeviceList,
        fixed_batch: Option<u64>,
        out: UnboundedSender<MinedSolution>,
        warn: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Result<Self, Failure> {
        let labels = devices.iter().map(|d| d.meta().label).collect();
        let attempts = Arc::new(AtomicU64::new(0));
        let counter = attempts.clone();
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
            Event::Stats(stats) => counter.store(stats.attempts_total, Ordering::Relaxed),
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
            attempts,
            labels,
        })
    }

    /// `backend:index` of every device.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Nonces tried so far, over all jobs and devices (as of the last statistics report).
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::Relaxed)
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
}
