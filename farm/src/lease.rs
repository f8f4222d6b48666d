//! Leases: the coordinator's record of which part of a job's index space belongs to whom.
//!
//! The index space of a job is split in two halves at a random base: the coordinator's own
//! devices search open work upward from `base + 2^63` (they would need 2^63 attempts, decades
//! at any rate, to reach the other half), and workers are leased consecutive ranges of the
//! lower half `[base, base + 2^63)`. A range is leased once: the cursor only moves forward, so
//! a lease abandoned by a worker that stopped heart-beating is never leased to anyone else
//! (its unsearched rest is wasted, never searched twice).

use std::collections::HashMap;

/// Indexes in the half of the space that is leased to workers.
pub const LEASED_HALF: u64 = 1 << 63;

/// One lease: range `[start, start + len)` of job `job_id` for one worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job_id: u64,
    /// First index.
    pub start: u64,
    /// Number of indexes.
    pub len: u64,
}

/// The leases of the current job.
#[derive(Debug)]
pub struct LeaseBook {
    job_id: u64,
    base: u64,
    /// Indexes of the leased half handed out so far.
    cursor: u64,
    /// Leases by worker id.
    held: HashMap<String, Vec<Lease>>,
}

impl LeaseBook {
    /// The book of job `job_id`, whose index space is split at `base`.
    pub fn new(job_id: u64, base: u64) -> LeaseBook {
        LeaseBook {
            job_id,
            base,
            cursor: 0,
            held: HashMap::new(),
        }
    }

    /// The job.
    pub fn job_id(&self) -> u64 {
        self.job_id
    }

    /// Where the coordinator's own devices start: the first index of the half never leased.
    pub fn local_start(&self) -> u64 {
        self.base.wrapping_add(LEASED_HALF)
    }

    /// Leases the next `len` indexes (at least 1) to `worker`; `None` once the leased half is
    /// used up.
    pub fn lease(&mut self, worker: &str, len: u64) -> Option<Lease> {
        let len = len.max(1).min(LEASED_HALF - self.cursor);
        if len == 0 {
            return None;
        }
        let lease = Lease {
            job_id: self.job_id,
            start: self.base.wrapping_add(self.cursor),
            len,
        };
        self.cursor += len;
        self.held.entry(worker.to_string()).or_default().push(lease);
        Some(lease)
    }

    /// The leases `worker` holds.
    pub fn held_by(&self, worker: &str) -> &[Lease] {
        self.held.get(worker).map_or(&[], Vec::as_slice)
    }

    /// Whether `index` lies in a lease of `worker`.
    pub fn is_leased_to(&self, worker: &str, index: u64) -> bool {
        self.held_by(worker)
            .iter()
            .any(|l| index.wrapping_sub(l.start) < l.len)
    }

    /// Leases granted.
    pub fn count(&self) -> u64 {
        self.held.values().map(|v| v.len() as u64).sum()
    }

    /// Indexes leased.
    pub fn leased_indexes(&self) -> u64 {
        self.cursor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_never_overlap_each_other_or_the_local_half() {
        let base = u64::MAX - 1000; // the space wraps inside the leased half
        let mut book = LeaseBook::new(4, base);
        let mut all = Vec::new();
        for (i, want) in [10u64, 0, 5000, 1, 77].iter().enumerate() {
            let worker = format!("w{}", i % 2);
            all.push(book.lease(&worker, *want).unwrap());
        }
        let mut offsets: Vec<(u64, u64)> = all
            .iter()
            .map(|l| (l.start.wrapping_sub(base), l.len))
            .collect();
        offsets.sort_unstable();
        let mut end = 0;
        for (s, l) in offsets {
            assert_eq!(s, end, "leases overlap or leave a gap");
            end = s + l;
        }
        assert_eq!(end, book.leased_indexes());
        assert!(end <= LEASED_HALF);
        assert_eq!(book.local_start().wrapping_sub(base), LEASED_HALF);
        assert_eq!(book.count(), 5);
        assert!(book.is_leased_to("w0", base));
        assert!(!book.is_leased_to("w1", base));
        assert!(!book.is_leased_to("w9", base));
    }

    #[test]
    fn the_leased_half_runs_out_rather_than_wrapping_into_the_local_half() {
        let mut book = LeaseBook::new(1, 0);
        let first = book.lease("a", LEASED_HALF - 10).unwrap();
        assert_eq!(first.len, LEASED_HALF - 10);
        assert_eq!(book.lease("b", 100).unwrap().len, 10);
        assert_eq!(book.lease("b", 1), None);
    }
}
