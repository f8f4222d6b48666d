//! The coordinator's record of one device: its state, its batch in flight, its speed and
//! batch size, its counters.

use super::protocol::Order;
use crate::config::Config;
use crate::device::{DeviceMeta, DeviceState};
use crate::stats::Ewma;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Whether a device takes part, and why not.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum SlotState {
    /// In the mix.
    Active,
    /// Left out of the chosen mix (used again if the mix is gone).
    Excluded,
    /// Dropped after an error or panic.
    Failed,
    /// Dropped after results that failed verification.
    Quarantined,
    /// Dropped after missing a deadline.
    Abandoned,
}

/// A batch a device is working on.
pub(super) struct InFlight {
    /// Generation of the work or measurement it belongs to.
    pub gen: u64,
    /// First index.
    pub start: u64,
    /// Number of indexes.
    pub count: u64,
    /// Its cancel flag.
    pub cancel: Arc<AtomicBool>,
    /// When it was handed out.
    pub issued: Instant,
    /// When the device is abandoned if the batch is not back.
    pub deadline: Instant,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Instant>,
}

/// One device, as the coordinator sees it.
pub(super) struct Slot {
    /// Its description.
    pub meta: DeviceMeta,
    /// Its driver's order channel.
    pub orders: Sender<Order>,
    /// Whether it takes part.
    pub state: SlotState,
    /// The batch in flight, if any.
    pub busy: Option<InFlight>,
    /// Current batch size (indexes).
    pub batch: u64,
    /// Estimated speed, indexes per second.
    pub rate: Option<f64>,
    /// Target batch duration.
    pub batch_time: Duration,
    /// Whether a batch ever came back (the first one gets a warm-up grace).
    pub ever_ran: bool,
    /// Batches in a row returned without progress, unasked.
    pub stalls: u32,
    /// Attempts since the start.
    pub attempts_total: u64,
    /// Attempts on the current job.
    pub attempts_job: u64,
    /// Batches finished on the current job.
    pub rounds_job: u64,
    /// Attempts since the last statistics sample.
    pub sample_attempts: u64,
    /// Averaged rate.
    pub ewma: Ewma,
}

impl Slot {
    /// A fresh active device driven through `orders`.
    pub fn new(meta: DeviceMeta, orders: Sender<Order>, config: &Config) -> Slot {
        Slot {
            meta,
            orders,
            state: SlotState::Active,
            busy: None,
            batch: config.fixed_batch.unwrap_or(config.initial_batch).max(1),
            rate: None,
            batch_time: config.batch_time,
            ever_ran: false,
            stalls: 0,
            attempts_total: 0,
            attempts_job: 0,
            rounds_job: 0,
            sample_attempts: 0,
            ewma: Ewma::new(config.ewma),
        }
    }

    /// What the device is doing, for statistics.
    pub fn device_state(&self) -> DeviceState {
        match self.state {
            SlotState::Active if self.busy.is_some() => DeviceState::Working,
            SlotState::Active => DeviceState::Idle,
            SlotState::Excluded => DeviceState::Excluded,
            SlotState::Failed => DeviceState::Failed,
            SlotState::Quarantined => DeviceState::Quarantined,
            SlotState::Abandoned => DeviceState::Abandoned,
        }
    }
}
