//! A [`pow_chain::flow::Miner`] over opened backend devices: one thread per device, all
//! pulling nonce batches of the current job from a shared counter. A new job cancels the old
//! one at once (the cancel flag reaches into the backend's search). Every hit is re-verified
//! with the seal library before it is reported; a device that reports a bad hit is dropped.
//!
//! This is the adapter the `register` and `faucet` commands use until the device dispatcher
//! (`pow-dispatch`) replaces it behind the same trait.

use crate::plugins::{verified_hits, OpenDevice};
use pow_backend_api::Job;
use pow_chain::flow::{MinedSolution, Miner};
use pow_seal::Work;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use tokio::sync::mpsc::UnboundedSender;

struct Current {
    id: u64,
    job: Arc<Job>,
    cancel: Arc<AtomicBool>,
    next: Arc<AtomicU64>,
}

#[derive(Default)]
struct Slot {
    current: Option<Current>,
    generation: u64,
    shutdown: bool,
}

struct Shared {
    slot: Mutex<Slot>,
    wake: Condvar,
    attempts: AtomicU64,
}

/// Runs jobs on a set of devices and sends verified solutions to a channel.
pub struct DeviceMiner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    labels: Vec<String>,
}

impl DeviceMiner {
    /// Takes ownership of `devices`; solutions and device failures are reported through
    /// `out` and `warn`. `batch` is the number of nonce indexes per search call.
    pub fn new(
        devices: Vec<OpenDevice>,
        batch: u64,
        out: UnboundedSender<MinedSolution>,
        warn: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Self {
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            wake: Condvar::new(),
            attempts: AtomicU64::new(0),
        });
        let labels = devices.iter().map(|d| d.label()).collect();
        let threads = devices
            .into_iter()
            .map(|dev| {
                let (shared, out, warn) = (shared.clone(), out.clone(), warn.clone());
                std::thread::spawn(move || device_loop(dev, batch.max(1), shared, out, warn))
            })
            .collect();
        DeviceMiner {
            shared,
            threads,
            labels,
        }
    }

    /// `backend:index` of every device.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Nonces tried so far, over all jobs and devices.
    pub fn attempts(&self) -> u64 {
        self.shared.attempts.load(Ordering::Relaxed)
    }

    fn replace(&self, next: Option<Current>) {
        let mut slot = self.shared.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.current.take() {
            old.cancel.store(true, Ordering::Relaxed);
        }
        slot.current = next;
        slot.generation += 1;
        self.shared.wake.notify_all();
    }
}

impl Miner for DeviceMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        let job = Job::from_work(work);
        let start = job.mapping.index(rand::random());
        self.replace(Some(Current {
            id: job_id,
            job: Arc::new(job),
            cancel: Arc::new(AtomicBool::new(false)),
            next: Arc::new(AtomicU64::new(start)),
        }));
    }

    fn stop(&mut self) {
        self.replace(None);
    }
}

impl Drop for DeviceMiner {
    fn drop(&mut self) {
        {
            let mut slot = self.shared.slot.lock().unwrap_or_else(|p| p.into_inner());
            slot.shutdown = true;
            if let Some(old) = slot.current.take() {
                old.cancel.store(true, Ordering::Relaxed);
            }
            self.shared.wake.notify_all();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn device_loop(
    mut dev: OpenDevice,
    batch: u64,
    shared: Arc<Shared>,
    out: UnboundedSender<MinedSolution>,
    warn: Arc<dyn Fn(String) + Send + Sync>,
) {
    let label = dev.label();
    let mut seen_generation = 0;
    loop {
        // Wait for a job this device has not started yet.
        let (id, job, cancel, next) = {
            let mut slot = shared.slot.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if slot.shutdown {
                    return;
                }
                if slot.generation != seen_generation {
                    seen_generation = slot.generation;
                    if let Some(c) = &slot.current {
                        break (c.id, c.job.clone(), c.cancel.clone(), c.next.clone());
                    }
                }
                slot = shared.wake.wait(slot).unwrap_or_else(|p| p.into_inner());
            }
        };
        if let Err(e) = dev.set_job(&job) {
            warn(format!(
                "device {label} dropped: could not load the job: {e}"
            ));
            return;
        }
        while !cancel.load(Ordering::Relaxed) {
            let start = next.fetch_add(batch, Ordering::Relaxed);
            let outcome = match dev.search(start, batch, &cancel) {
                Ok(o) => o,
                Err(e) => {
                    warn(format!("device {label} dropped: {e}"));
                    return;
                }
            };
            shared
                .attempts
                .fetch_add(outcome.attempts, Ordering::Relaxed);
            let (good, bad) = verified_hits(&job, &outcome.hits);
            if !bad.is_empty() {
                warn(format!(
                    "device {label} dropped: it reported nonce {} whose seal fails verification",
                    bad[0].nonce
                ));
                return;
            }
            if let Some(hit) = good.first() {
                // First solution ends the job; the flow sets a new one if it needs more.
                if !cancel.swap(true, Ordering::Relaxed) {
                    let _ = out.send(MinedSolution {
                        job_id: id,
                        nonce: hit.nonce,
                        seal: hit.seal,
                        device: label.clone(),
                    });
                }
                break;
            }
        }
    }
}
