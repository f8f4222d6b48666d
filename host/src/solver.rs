//! Runs a job on a set of opened devices until one finds a verified solution.
//!
//! Devices pull batches of nonce indexes from one shared counter (no overlap, no gaps). Every
//! hit is re-verified with the seal library before it is accepted; a device whose hit fails
//! verification, or whose call fails, is dropped and the others continue.

use crate::plugins::{verified_hits, OpenDevice};
use pow_backend_api::{Hit, Job};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A verified solution.
#[derive(Clone, Debug)]
pub struct Solution {
    /// The passing attempt.
    pub hit: Hit,
    /// `backend:index` of the device that found it.
    pub device: String,
    /// Attempts made by all devices.
    pub attempts: u64,
    /// Wall time of the search.
    pub elapsed: Duration,
}

/// A device that was dropped during the run.
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
    pub solution: Option<Solution>,
    /// Devices that were dropped.
    pub failures: Vec<DeviceFailure>,
}

/// Searches `job` from `start_index` upward on every device, in batches of `batch` indexes,
/// until a verified solution is found or every device has failed.
pub fn solve(devices: &mut [OpenDevice], job: &Job, start_index: u64, batch: u64) -> SolveReport {
    let started = Instant::now();
    let next = AtomicU64::new(start_index);
    let cancel = AtomicBool::new(false);
    let attempts = AtomicU64::new(0);
    let best: Mutex<Option<(Hit, String)>> = Mutex::new(None);
    let failures = Mutex::new(Vec::new());
    let batch = batch.max(1);

    std::thread::scope(|s| {
        for dev in devices.iter_mut() {
            let (next, cancel, attempts, best, failures) =
                (&next, &cancel, &attempts, &best, &failures);
            s.spawn(move || {
                let label = dev.label();
                let fail = |reason: String| {
                    failures.lock().unwrap().push(DeviceFailure {
                        device: label.clone(),
                        reason,
                    })
                };
                if let Err(e) = dev.set_job(job) {
                    fail(format!("could not load the job: {e}"));
                    return;
                }
                while !cancel.load(Ordering::Relaxed) {
                    let start = next.fetch_add(batch, Ordering::Relaxed);
                    let outcome = match dev.search(start, batch, cancel) {
                        Ok(o) => o,
                        Err(e) => {
                            fail(e.to_string());
                            return;
                        }
                    };
                    attempts.fetch_add(outcome.attempts, Ordering::Relaxed);
                    let (good, bad) = verified_hits(job, &outcome.hits);
                    if !bad.is_empty() {
                        fail(format!(
                            "reported {} result(s) that fail verification (nonce {}); its \
                             results are ignored for this run",
                            bad.len(),
                            bad[0].nonce
                        ));
                        return;
                    }
                    if let Some(hit) = good.into_iter().min_by_key(|h| h.index.wrapping_sub(start))
                    {
                        let mut best = best.lock().unwrap();
                        if best.is_none() {
                            *best = Some((hit, label.clone()));
                        }
                        cancel.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            });
        }
    });

    let solution = best.into_inner().unwrap().map(|(hit, device)| Solution {
        hit,
        device,
        attempts: attempts.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    });
    SolveReport {
        solution,
        failures: failures.into_inner().unwrap(),
    }
}
