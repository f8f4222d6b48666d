//! The launch loop shared by every GPU API: a [`Launcher`] runs the kernel of one device,
//! [`drive_search`] keeps two launches in flight with the [`SearchOutcome`] rules, and
//! [`decode_results`] reads a result buffer.

use crate::job::GpuJob;
use crate::{MAX_HITS, MIDSTATE_WORDS, RESULT_WORDS};
use pow_backend_api::{BackendError, DeviceInfo, Hit, SearchOutcome};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};

/// Turns a result buffer into the sorted, distinct hit offsets of a launch of `count`
/// indexes. Inconsistent contents (offsets out of range, a count without a lowest offset) are
/// an error: the device or the transfer is broken.
pub fn decode_results(words: &[u32], count: u32) -> Result<Vec<u32>, BackendError> {
    if words.len() < RESULT_WORDS {
        return Err(BackendError::failed("result buffer too short"));
    }
    let n = words[0] as usize;
    let min = words[1];
    if n == 0 {
        return if min == u32::MAX {
            Ok(Vec::new())
        } else {
            Err(BackendError::failed(format!(
                "device result buffer is inconsistent: no hits but lowest offset {min}"
            )))
        };
    }
    if n > count as usize || min >= count {
        return Err(BackendError::failed(format!(
            "device result buffer is inconsistent: {n} hits, lowest offset {min}, launch of {count}"
        )));
    }
    let mut offsets: Vec<u32> = words[2..2 + n.min(MAX_HITS)].to_vec();
    offsets.push(min);
    if let Some(bad) = offsets.iter().find(|&&o| o >= count || o < min) {
        return Err(BackendError::failed(format!(
            "device result buffer is inconsistent: hit offset {bad} in a launch of {count} with lowest {min}"
        )));
    }
    offsets.sort_unstable();
    offsets.dedup();
    Ok(offsets)
}

/// Runs the kernel of one device: two result slots (0 and 1) so that one launch can run while
/// the host reads the other's results.
pub trait Launcher {
    /// The device, as the plugin lists it.
    fn info(&self) -> DeviceInfo;
    /// Indexes per launch for the loaded job (after [`Launcher::load`]).
    fn batch(&self) -> Result<u32, BackendError>;
    /// Uploads a job's parameters and selects (building if needed) its layout's kernels.
    fn load(&mut self, job: &GpuJob) -> Result<(), BackendError>;
    /// Starts a search launch of `count` indexes from `base` with results in `slot`, without
    /// waiting for it; `midstates` is the launch's [`GpuJob::midstate_table`].
    fn launch(
        &mut self,
        slot: usize,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<(), BackendError>;
    /// Waits for the launch in `slot` and returns its [`RESULT_WORDS`] result words.
    fn finish(&mut self, slot: usize) -> Result<Vec<u32>, BackendError>;
    /// Waits for everything in flight, ignoring errors (used after a failure).
    fn drain(&mut self);
    /// Computes the seals of `count` indexes from `base` (self-test): 8 little-endian words
    /// per index.
    fn seals(
        &mut self,
        base: u64,
        count: u32,
        midstates: &[u32; MIDSTATE_WORDS],
    ) -> Result<Vec<u32>, BackendError>;
}

/// Searches `[start, start + count)` with at most `batch` indexes per launch and two launches
/// in flight, with the [`SearchOutcome`] rules: every hit is re-verified with the seal
/// library (a hit that fails is an error), `searched` is the completed prefix up to and
/// including the lowest hit, and the cancel flag is read before each launch.
pub fn drive_search<L: Launcher + ?Sized>(
    launcher: &mut L,
    job: &GpuJob,
    start: u64,
    count: u64,
    batch: u32,
    cancel: &AtomicBool,
) -> Result<SearchOutcome, BackendError> {
    let result = drive(launcher, job, start, count, batch.max(1), cancel);
    if result.is_err() {
        launcher.drain();
    }
    result
}

fn drive<L: Launcher + ?Sized>(
    launcher: &mut L,
    job: &GpuJob,
    start: u64,
    count: u64,
    batch: u32,
    cancel: &AtomicBool,
) -> Result<SearchOutcome, BackendError> {
    let mut inflight: VecDeque<(usize, u64, u32)> = VecDeque::with_capacity(2);
    let mut issued = 0u64;
    let mut next_slot = 0usize;
    let mut searched = 0u64;
    let mut attempts = 0u64;
    let mut found = false;
    let mut hits: Vec<Hit> = Vec::new();
    loop {
        while !found && inflight.len() < 2 && issued < count && !cancel.load(Ordering::Relaxed) {
            let base = start.wrapping_add(issued);
            let len = (batch as u64).min(count - issued).min(job.room(base)) as u32;
            let midstates = job.midstate_table(base, len);
            launcher.launch(next_slot, base, len, &midstates)?;
            inflight.push_back((next_slot, issued, len));
            next_slot ^= 1;
            issued += len as u64;
        }
        let Some((slot, offset, len)) = inflight.pop_front() else {
            break;
        };
        let words = launcher.finish(slot)?;
        attempts += len as u64;
        let offsets = decode_results(&words, len)?;
        for &o in &offsets {
            let index = start.wrapping_add(offset + o as u64);
            let seal = job.job.reference_seal_at(index);
            if !job.job.is_met_by(&seal) {
                return Err(BackendError::failed(format!(
                    "device reported index {index} whose seal does not meet the target; \
                     the device computes wrong seals"
                )));
            }
            hits.push(Hit {
                index,
                nonce: job.job.mapping.nonce(index),
                seal,
            });
        }
        if !found {
            if let Some(&lowest) = offsets.first() {
                found = true;
                searched = offset + lowest as u64 + 1;
            } else {
                searched = offset + len as u64;
            }
        }
    }
    hits.sort_by_key(|h| h.index.wrapping_sub(start));
    Ok(SearchOutcome {
        searched,
        attempts,
        hits: hits.into(),
    })
}

/// Parses an optional positive integer option, refusing zero.
pub fn positive_option(
    options: &pow_backend_api::Options,
    key: &str,
) -> Result<Option<u64>, BackendError> {
    match options.get_parsed::<u64>(key)? {
        Some(0) => Err(BackendError::invalid(format!(
            "option `{key}` must be positive"
        ))),
        v => Ok(v),
    }
}
