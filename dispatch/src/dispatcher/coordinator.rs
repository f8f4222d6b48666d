//! The coordinator thread: owns every piece of state (the index space, the re-issue queue,
//! deadlines, statistics), takes commands and batch reports from its one inbox, and hands out
//! batches. It only ever sends on unbounded channels and waits on its inbox with a timeout,
//! so no device can hold it up.

mod batches;
mod commands;
mod deadlines;
mod reports;
mod statistics;

use super::driver::driver;
use super::measure::MeasureState;
use super::protocol::Msg;
use super::slot::Slot;
use super::work::WorkState;
use crate::config::Config;
use crate::device::{DeviceMeta, DispatchDevice};
use crate::events::{Event, FinalReport};
use crate::job::{JobAccount, JobId};
use crate::stats::Ewma;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the coordinator is doing.
enum Mode {
    /// Waiting for work.
    Idle,
    /// Working on a job.
    Work(WorkState),
    /// Measuring devices.
    Measure(MeasureState),
}

/// A job switched away from whose cancelled batches are not all back yet.
struct Closing {
    /// Its generation.
    gen: u64,
    /// Its accounting, completed as the batches return.
    account: JobAccount,
    /// Batches still out.
    outstanding: usize,
    /// When it was closed.
    at: Instant,
    /// Time from `at` to the latest return so far.
    latency: Duration,
    /// Batches cancelled.
    cancelled: usize,
    /// The job switched to.
    new_job: Option<JobId>,
    /// Whether to report the switch (otherwise its account goes to the final report).
    emit: bool,
}

/// A stop in progress.
struct Stopping {
    /// Where the final report goes.
    reply: Sender<FinalReport>,
    /// When batches still out are abandoned.
    grace_end: Instant,
    /// The accounting of the job that was running.
    account: Option<JobAccount>,
}

/// The coordinator's state; see the module documentation.
pub(super) struct Coordinator {
    cfg: Config,
    slots: Vec<Slot>,
    inbox: Receiver<Msg>,
    sink: Box<dyn FnMut(Event) + Send>,
    /// Generation of the latest work or measurement.
    gen: u64,
    mode: Mode,
    closing: Vec<Closing>,
    /// When the first work was set.
    first_work: Option<Instant>,
    rounds_total: u64,
    work_attempts_total: u64,
    total_ewma: Ewma,
    /// When statistics were last sampled.
    last_sample: Instant,
    /// Attempts since then.
    sample_attempts: u64,
    stopping: Option<Stopping>,
    no_devices_sent: bool,
}

/// Spawns a driver thread per device and the coordinator thread, which hands every event to
/// `sink`. Returns the coordinator's inbox, the devices' descriptions and its join handle.
pub(super) fn start(
    devices: Vec<Box<dyn DispatchDevice>>,
    config: &Config,
    sink: Box<dyn FnMut(Event) + Send>,
) -> (Sender<Msg>, Vec<DeviceMeta>, JoinHandle<()>) {
    let (tx, inbox) = channel::<Msg>();
    let mut slots = Vec::new();
    let mut metas = Vec::new();
    for (id, dev) in devices.into_iter().enumerate() {
        let meta = dev.meta();
        let (otx, orx) = channel();
        let out = tx.clone();
        std::thread::Builder::new()
            .name(format!("pow-drive-{}", meta.label))
            .spawn(move || driver(id, dev, orx, out))
            .expect("spawning a device driver thread");
        metas.push(meta.clone());
        slots.push(Slot::new(meta, otx, config));
    }
    let coordinator = Coordinator {
        cfg: config.clone(),
        slots,
        inbox,
        sink,
        gen: 0,
        mode: Mode::Idle,
        closing: Vec::new(),
        first_work: None,
        rounds_total: 0,
        work_attempts_total: 0,
        total_ewma: Ewma::new(config.ewma),
        last_sample: Instant::now(),
        sample_attempts: 0,
        stopping: None,
        no_devices_sent: false,
    };
    let handle = std::thread::Builder::new()
        .name("pow-dispatch".into())
        .spawn(move || coordinator.run())
        .expect("spawning the dispatcher thread");
    (tx, metas, handle)
}

impl Coordinator {
    /// The thread's loop: one message (or a timeout) at a time, then the time-driven checks
    /// and new batches for idle devices; ends when a stop completes.
    fn run(mut self) {
        loop {
            let now = Instant::now();
            let wake = self.next_wakeup(now);
            let msg = match self.inbox.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(m) => Some(m),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            match msg {
                Some(Msg::Report(r)) => self.on_report(r),
                Some(Msg::Cmd(c)) => self.on_cmd(c),
                None => {}
            }
            let now = Instant::now();
            self.check_deadlines(now);
            self.check_measure(now);
            self.maybe_stats(now);
            if self.stopping.is_some() {
                if self.slots.iter().all(|s| s.busy.is_none()) {
                    self.finish_stop();
                    return;
                }
            } else {
                self.fill_idle(now);
            }
        }
    }

    /// When the loop must wake without a message: the nearest deadline, stop grace, phase end
    /// or statistics sample (at most 250 ms away).
    fn next_wakeup(&self, now: Instant) -> Instant {
        let mut wake = now + Duration::from_millis(250);
        for s in &self.slots {
            if let Some(b) = &s.busy {
                wake = wake.min(b.deadline);
            }
        }
        if let Some(st) = &self.stopping {
            wake = wake.min(st.grace_end);
        }
        match &self.mode {
            Mode::Work(w) if !w.solved => {
                wake = wake.min(self.last_sample + self.cfg.stats_interval)
            }
            Mode::Measure(m) if !m.cancel_sent => wake = wake.min(m.ends_at),
            Mode::Measure(m) => wake = wake.min(m.ends_at + self.cfg.min_deadline),
            _ => {}
        }
        wake.max(now)
    }

    /// Hands an event to the sink.
    fn emit(&mut self, e: Event) {
        (self.sink)(e);
    }
}
