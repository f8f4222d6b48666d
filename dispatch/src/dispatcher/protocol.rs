//! The messages between the handle, the coordinator thread and the driver threads.
//!
//! The handle sends [`Cmd`]s and drivers send [`Report`]s, both into the coordinator's one
//! inbox as [`Msg`]s; the coordinator sends each driver [`Order`]s on its own channel.

use crate::device::DeviceId;
use crate::error::DispatchError;
use crate::events::{FinalReport, Measurement};
use crate::job::{JobId, WorkSpec};
use crate::stats::Stats;
use pow_backend_api::{Hit, Job};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a device is to be run, from a calibration plan.
#[derive(Clone, Debug)]
pub(crate) struct DeviceSetup {
    /// In the mix.
    pub enabled: bool,
    /// Known speed, indexes per second.
    pub rate: Option<f64>,
    /// Target batch duration.
    pub batch_time: Duration,
}

/// A range of indexes for a driver to search.
pub(super) struct Batch {
    /// Generation of the work or measurement it belongs to.
    pub gen: u64,
    /// The job to search.
    pub job: Arc<Job>,
    /// First index.
    pub start: u64,
    /// Number of indexes.
    pub count: u64,
    /// Set to cut the batch short.
    pub cancel: Arc<AtomicBool>,
}

/// What the coordinator tells a driver.
pub(super) enum Order {
    /// Search a batch and report.
    Search(Batch),
    /// End the driver thread.
    Exit,
}

/// Why a batch failed; every fault drops the device.
pub(super) enum Fault {
    /// A call returned an error.
    Failed(String),
    /// The backend panicked.
    Panicked(String),
    /// Results that fail verification (or more indexes searched than asked).
    Misbehaved(String),
}

/// A batch's outcome after verification on the driver thread.
pub(super) struct Checked {
    /// Indexes searched from the batch start.
    pub searched: u64,
    /// Attempts made (at least `searched`).
    pub attempts: u64,
    /// Verified hits.
    pub hits: Vec<Hit>,
}

/// A driver's report of one batch.
pub(super) struct Report {
    /// The device.
    pub id: DeviceId,
    /// The batch's generation.
    pub gen: u64,
    /// The batch's first index.
    pub start: u64,
    /// The batch's length.
    pub count: u64,
    /// When the device returned.
    pub finished: Instant,
    /// How long the batch took.
    pub elapsed: Duration,
    /// What came of it.
    pub outcome: Result<Checked, Fault>,
}

/// What the handle asks of the coordinator.
pub(super) enum Cmd {
    /// Switch to new work.
    SetWork(Box<WorkSpec>),
    /// Stop working and idle.
    ClearWork,
    /// Add a granted range to the leased work `job_id` (ignored for any other work).
    Grant { job_id: JobId, start: u64, len: u64 },
    /// Reply with the current leased work's id and its granted indexes not handed out yet.
    Unissued(Sender<Option<(JobId, u64)>>),
    /// Run a measurement phase and reply with its result.
    Measure {
        job: Box<Job>,
        devices: Vec<DeviceId>,
        duration: Duration,
        reply: Sender<Result<Measurement, DispatchError>>,
    },
    /// Apply a calibration plan.
    Configure(Vec<(DeviceId, DeviceSetup)>),
    /// Reply with a statistics snapshot.
    Stats(Sender<Stats>),
    /// Cancel everything, wait for the drivers and reply with the final report.
    Stop(Sender<FinalReport>),
}

/// Anything in the coordinator's inbox.
pub(super) enum Msg {
    /// From a driver.
    Report(Report),
    /// From the handle.
    Cmd(Cmd),
}
