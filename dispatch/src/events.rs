//! What the dispatcher reports: events, measurements and the final report.

use crate::device::DeviceId;
use crate::job::{JobAccount, JobId};
use crate::stats::Stats;
use pow_backend_api::Hit;
use std::path::PathBuf;
use std::time::Duration;

/// A verified solution.
#[derive(Clone, Debug)]
pub struct Solution {
    /// The job it solves. Compare with [`WorkHandle::current_job`](crate::WorkHandle::current_job)
    /// (also callable on a [`Dispatcher`](crate::Dispatcher)) before submitting: a solution for
    /// an older job is stale.
    pub job_id: JobId,
    /// The passing attempt, re-verified with the seal library.
    pub hit: Hit,
    /// The device that found it.
    pub device: DeviceId,
    /// Its label.
    pub label: String,
    /// Attempts on this job by all devices, up to this report.
    pub attempts: u64,
    /// Time since the job was set.
    pub elapsed: Duration,
}

/// Why a device left the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A call returned an error.
    Failed(String),
    /// The backend panicked.
    Panicked(String),
    /// It reported results that fail verification; none of its results are used.
    Quarantined(String),
    /// A batch did not return before its deadline; its thread was left behind.
    Abandoned {
        /// How long it had been running.
        waited: Duration,
    },
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::Failed(m) => write!(f, "failed: {m}"),
            DropReason::Panicked(m) => write!(f, "panicked: {m}"),
            DropReason::Quarantined(m) => write!(f, "quarantined: {m}"),
            DropReason::Abandoned { waited } => write!(
                f,
                "abandoned: a batch did not return within {:.2} s",
                waited.as_secs_f64()
            ),
        }
    }
}

/// A completed challenge switch.
#[derive(Clone, Debug)]
pub struct Switch {
    /// The job switched to (`None` when work was cleared).
    pub job_id: Option<JobId>,
    /// The accounting of the job switched away from.
    pub previous: JobAccount,
    /// In-flight batches of the old job that were cancelled.
    pub cancelled: usize,
    /// Time from the switch until the last cancelled batch returned (or was abandoned).
    pub latency: Duration,
}

/// What the dispatcher reports.
#[derive(Clone, Debug)]
pub enum Event {
    /// A verified solution of the job `job_id`.
    Solution(Solution),
    /// A device left the run; the others go on.
    DeviceDropped {
        /// Which device.
        device: DeviceId,
        /// Its label.
        label: String,
        /// Its plugin file.
        plugin: PathBuf,
        /// Why.
        reason: DropReason,
    },
    /// Every cancelled batch of the previous job has returned.
    Switched(Switch),
    /// Periodic statistics while working.
    Stats(Stats),
    /// No usable device is left.
    NoDevices,
}

/// One device's share of a [`Measurement`].
#[derive(Clone, Debug)]
pub struct DeviceMeasurement {
    /// Device id.
    pub id: DeviceId,
    /// Label.
    pub label: String,
    /// Attempts counted (after warm-up).
    pub attempts: u64,
    /// Time spent in those batches.
    pub busy: Duration,
    /// Attempts per second.
    pub rate: f64,
    /// Time from the end-of-phase cancel to the device's return, if it was busy then.
    pub cancel_latency: Option<Duration>,
    /// Only warm-up batches ran, so the rate is rough.
    pub warm_only: bool,
    /// Still busy (with a slow first batch, or hung) when the phase was closed.
    pub unfinished: bool,
    /// Why it failed, if it did (it is then dropped).
    pub failure: Option<String>,
}

/// Result of [`Dispatcher::measure`](crate::Dispatcher::measure): devices run together for a
/// while.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Per device.
    pub devices: Vec<DeviceMeasurement>,
    /// Wall time of the phase.
    pub wall: Duration,
}

impl Measurement {
    /// Sum of the rates of the devices that did not fail.
    pub fn total_rate(&self) -> f64 {
        self.devices
            .iter()
            .filter(|d| d.failure.is_none())
            .map(|d| d.rate)
            .sum()
    }
}

/// What [`Dispatcher::stop`](crate::Dispatcher::stop) returns.
#[derive(Clone, Debug)]
pub struct FinalReport {
    /// Statistics at the end.
    pub stats: Stats,
    /// The accounting of the job that was running, if any.
    pub account: Option<JobAccount>,
}
