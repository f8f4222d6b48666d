//! The driver thread: owns one device, searches the batches it is ordered to, verifies what
//! the device reports and reports back. It blocks only on its device and its order channel.

use super::protocol::{Checked, Fault, Msg, Order, Report};
use crate::device::{DeviceId, DispatchDevice};
use pow_backend_api::{ErrorKind, Hit, Job};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

/// Most hits of one batch that are verified and kept (they are sorted; the lowest matters).
const MAX_HITS_CHECKED: usize = 64;

/// The message of a caught panic.
fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".into()
    }
}

/// Checks a device's outcome of a batch of `count`: no more searched than asked, every kept
/// hit verified with the seal library.
fn check_outcome(
    job: &Job,
    count: u64,
    outcome: pow_backend_api::SearchOutcome,
) -> Result<Checked, Fault> {
    if outcome.searched > count {
        return Err(Fault::Misbehaved(format!(
            "reported {} indexes searched of a batch of {count}",
            outcome.searched
        )));
    }
    let mut hits: Vec<Hit> = outcome.hits.into_vec();
    hits.truncate(MAX_HITS_CHECKED);
    let bad: Vec<&Hit> = hits.iter().filter(|h| !job.verify_hit(h)).collect();
    if let Some(first) = bad.first() {
        return Err(Fault::Misbehaved(format!(
            "reported {} result(s) that fail verification (nonce {}, index {})",
            bad.len(),
            first.nonce,
            first.index
        )));
    }
    Ok(Checked {
        searched: outcome.searched,
        attempts: outcome.attempts.max(outcome.searched),
        hits,
    })
}

/// The body of device `id`'s driver thread: runs until told to exit, the coordinator is
/// gone, or a batch faults.
pub(super) fn driver(
    id: DeviceId,
    mut dev: Box<dyn DispatchDevice>,
    orders: Receiver<Order>,
    out: Sender<Msg>,
) {
    let mut loaded: Option<u64> = None;
    while let Ok(Order::Search(b)) = orders.recv() {
        let began = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            if loaded != Some(b.gen) {
                loaded = None;
                dev.set_job(&b.job)
                    .map_err(|e| (e.kind, format!("could not load the job: {e}")))?;
                loaded = Some(b.gen);
            }
            dev.search(b.start, b.count, &b.cancel)
                .map_err(|e| (e.kind, e.to_string()))
        }));
        let finished = Instant::now();
        let outcome = match result {
            Err(payload) => Err(Fault::Panicked(panic_text(payload))),
            Ok(Err((ErrorKind::Panicked, m))) => Err(Fault::Panicked(m)),
            Ok(Err((_, m))) => Err(Fault::Failed(m)),
            Ok(Ok(o)) => check_outcome(&b.job, b.count, o),
        };
        let fatal = outcome.is_err();
        let report = Report {
            id,
            gen: b.gen,
            start: b.start,
            count: b.count,
            finished,
            elapsed: finished - began,
            outcome,
        };
        if out.send(Msg::Report(report)).is_err() || fatal {
            break;
        }
    }
}
