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
    /// Leased work: the only index ranges `(start, len)` that may be searched, extended with
    /// [`WorkHandle::grant`](crate::WorkHandle::grant). `None`: open work from `start_index`.
    pub grants: Option<Vec<(u64, u64)>>,
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
            grants: None,
        }
    }

    /// Sets the first index handed out.
    pub fn start_index(mut self, index: u64) -> Self {
        self.start_index = index;
        self
    }

    /// Makes it leased work: only `grants` (ranges `(start, len)`, searched in order) and
    /// ranges granted later are searched; the devices idle when they run out. The start index
    /// becomes the first grant's start.
    pub fn leased(mut self, grants: Vec<(u64, u64)>) -> Self {
        if let Some(first) = grants.first() {
            self.start_index = first.0;
        }
        self.grants = Some(grants);
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

/// The index accounting of a job that ended: every index handed out (for open work
/// `[start_index, next_index)`, for leased work the grants taken) was either searched
/// (reported by a device) or is listed in `pending` (handed out but cut short, re-queued, or
/// never searched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobAccount {
    /// The job.
    pub job_id: JobId,
    /// First index of its space.
    pub start_index: u64,
    /// The index after the latest fresh range handed out.
    pub next_index: u64,
    /// Fresh indexes handed out.
    pub issued: u64,
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
    /// Fresh indexes handed out (for open work `next_index - start_index`, wrapping).
    pub fn issued(&self) -> u64 {
        self.issued
    }

    /// Total length of the pending ranges.
    pub fn pending_len(&self) -> u64 {
        self.pending.iter().map(|r| r.1).sum()
    }
}
