//! Work given to the dispatcher and the index accounting of a job that ended.

use pow_backend_api::Job;

/// Caller-chosen identifier of a piece of work (for example a counter bumped per block).
pub type JobId = u64;

/// Work for the dispatcher: a job and where its index space starts.
#[derive(Clone, Debug)]
pub struct WorkSpec {
    /// Identifier reported with every solution, so stale ones can be told apart.
    pub job_id: JobId,
    /// What to search.
    pub job: Job,
    /// First nonce index handed out.
    pub start_index: u64,
    /// Block number, for statistics only.
    pub block_number: Option<u64>,
    /// Difficulty, for statistics only.
    pub difficulty: Option<u64>,
}

impl WorkSpec {
    /// Work starting at index 0.
    pub fn new(job_id: JobId, job: Job) -> Self {
        WorkSpec {
            job_id,
            job,
            start_index: 0,
            block_number: None,
            difficulty: None,
        }
    }

    /// Sets the first index handed out.
    pub fn start_index(mut self, index: u64) -> Self {
        self.start_index = index;
        self
    }

    /// Sets the block number shown in statistics.
    pub fn block_number(mut self, block: u64) -> Self {
        self.block_number = Some(block);
        self
    }

    /// Sets the difficulty shown in statistics.
    pub fn difficulty(mut self, difficulty: u64) -> Self {
        self.difficulty = Some(difficulty);
        self
    }
}

/// The index accounting of a job that ended: every index in
/// `[start_index, next_index)` was either searched (reported by a device) or is listed in
/// `pending` (handed out but cut short, re-queued, or never searched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAccount {
    /// The job.
    pub job_id: JobId,
    /// First index of its space.
    pub start_index: u64,
    /// First index never handed out.
    pub next_index: u64,
    /// Indexes reported searched.
    pub searched: u64,
    /// Attempts reported.
    pub attempts: u64,
    /// Attempts reported per device, by [`DeviceId`](crate::DeviceId).
    pub device_attempts: Vec<u64>,
    /// Unsearched ranges `(start, len)` below `next_index`.
    pub pending: Vec<(u64, u64)>,
}

impl JobAccount {
    /// Indexes handed out (`next_index - start_index`, wrapping).
    pub fn issued(&self) -> u64 {
        self.next_index.wrapping_sub(self.start_index)
    }

    /// Total length of the pending ranges.
    pub fn pending_len(&self) -> u64 {
        self.pending.iter().map(|r| r.1).sum()
    }
}
