//! The dispatcher: one driver thread per device, one coordinator thread, events out.
//!
//! The coordinator owns every piece of state (the index space, the re-issue queue, deadlines,
//! statistics). Drivers block only on their own device and on their own order channel; the
//! coordinator only ever sends on unbounded channels and waits on its inbox with a timeout, so
//! no device can hold it up.

use crate::config::Config;
use crate::device::{DeviceId, DeviceMeta, DispatchDevice};
use crate::stats::{DeviceStats, Ewma, Stats};
use pow_backend_api::{ErrorKind, Hit, Job};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Caller-chosen identifier of a piece of work (for example a counter bumped per block).
pub type JobId = u64;

/// Most hits of one batch that are verified and kept (they are sorted; the lowest matters).
const MAX_HITS_CHECKED: usize = 64;

/// Batches in a row a device may return with no progress before it is dropped.
const MAX_STALLS: u32 = 3;

/// A batch shorter than this says nothing reliable about a device's speed.
const MIN_SAMPLE: Duration = Duration::from_millis(2);

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

/// A verified solution.
#[derive(Clone, Debug)]
pub struct Solution {
    /// The job it solves. Compare with [`Dispatcher::current_job`] before submitting: a
    /// solution for an older job is stale.
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

/// What a device is doing, for statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceState {
    /// In the mix, waiting for work.
    Idle,
    /// Searching a batch.
    Working,
    /// Not in the chosen mix.
    Excluded,
    /// Dropped after an error or panic.
    Failed,
    /// Dropped after results that failed verification.
    Quarantined,
    /// Dropped after missing a deadline.
    Abandoned,
}

impl DeviceState {
    /// Lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Idle => "idle",
            DeviceState::Working => "working",
            DeviceState::Excluded => "excluded",
            DeviceState::Failed => "failed",
            DeviceState::Quarantined => "quarantined",
            DeviceState::Abandoned => "abandoned",
        }
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
    /// Attempts reported per device, by [`DeviceId`].
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

/// Result of [`Dispatcher::measure`]: devices run together for a while.
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

/// What [`Dispatcher::stop`] returns.
#[derive(Clone, Debug)]
pub struct FinalReport {
    /// Statistics at the end.
    pub stats: Stats,
    /// The accounting of the job that was running, if any.
    pub account: Option<JobAccount>,
}

/// Dispatcher errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DispatchError {
    /// No device was given or none is left.
    NoDevices,
    /// A measurement needs the dispatcher idle.
    Busy,
    /// The dispatcher has stopped.
    Stopped,
}

impl std::fmt::Display for DispatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DispatchError::NoDevices => "no usable device",
            DispatchError::Busy => "the dispatcher is working on a job",
            DispatchError::Stopped => "the dispatcher has stopped",
        })
    }
}

impl std::error::Error for DispatchError {}

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

// ---------------------------------------------------------------------------------------------
// Messages

struct Batch {
    gen: u64,
    job: Arc<Job>,
    start: u64,
    count: u64,
    cancel: Arc<AtomicBool>,
}

enum Order {
    Search(Batch),
    Exit,
}

enum Fault {
    Failed(String),
    Panicked(String),
    Misbehaved(String),
}

struct Checked {
    searched: u64,
    attempts: u64,
    hits: Vec<Hit>,
}

struct Report {
    id: DeviceId,
    gen: u64,
    start: u64,
    count: u64,
    finished: Instant,
    elapsed: Duration,
    outcome: Result<Checked, Fault>,
}

enum Cmd {
    SetWork(Box<WorkSpec>),
    ClearWork,
    Measure {
        job: Box<Job>,
        devices: Vec<DeviceId>,
        duration: Duration,
        reply: Sender<Result<Measurement, DispatchError>>,
    },
    Configure(Vec<(DeviceId, DeviceSetup)>),
    Stats(Sender<Stats>),
    Stop(Sender<FinalReport>),
}

enum Msg {
    Report(Report),
    Cmd(Cmd),
}

// ---------------------------------------------------------------------------------------------
// Driver thread

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".into()
    }
}

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

fn driver(
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

// ---------------------------------------------------------------------------------------------
// Coordinator state

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SlotState {
    Active,
    Excluded,
    Failed,
    Quarantined,
    Abandoned,
}

struct InFlight {
    gen: u64,
    start: u64,
    count: u64,
    cancel: Arc<AtomicBool>,
    issued: Instant,
    deadline: Instant,
    cancelled_at: Option<Instant>,
}

struct Slot {
    meta: DeviceMeta,
    orders: Sender<Order>,
    state: SlotState,
    busy: Option<InFlight>,
    batch: u64,
    rate: Option<f64>,
    batch_time: Duration,
    ever_ran: bool,
    stalls: u32,
    attempts_total: u64,
    attempts_job: u64,
    rounds_job: u64,
    sample_attempts: u64,
    ewma: Ewma,
}

struct WorkState {
    job_id: JobId,
    job: Arc<Job>,
    gen: u64,
    start_index: u64,
    next: u64,
    reissue: VecDeque<(u64, u64)>,
    started: Instant,
    searched: u64,
    attempts: u64,
    device_attempts: Vec<u64>,
    rounds: u64,
    solved: bool,
    block_number: Option<u64>,
    difficulty: Option<u64>,
}

impl WorkState {
    fn take_range(&mut self, want: u64) -> (u64, u64) {
        let want = want.max(1);
        if let Some((s, l)) = self.reissue.pop_front() {
            if l > want {
                self.reissue.push_front((s.wrapping_add(want), l - want));
                (s, want)
            } else {
                (s, l)
            }
        } else {
            let s = self.next;
            self.next = self.next.wrapping_add(want);
            (s, want)
        }
    }

    fn account(&self) -> JobAccount {
        JobAccount {
            job_id: self.job_id,
            start_index: self.start_index,
            next_index: self.next,
            searched: self.searched,
            attempts: self.attempts,
            device_attempts: self.device_attempts.clone(),
            pending: self.reissue.iter().copied().collect(),
        }
    }
}

#[derive(Default)]
struct Acc {
    batches: u32,
    attempts: u64,
    busy: Duration,
    warm_attempts: u64,
    warm_busy: Duration,
    latency: Option<Duration>,
    failure: Option<String>,
}

struct MeasureState {
    gen: u64,
    job: Arc<Job>,
    participants: Vec<DeviceId>,
    started: Instant,
    ends_at: Instant,
    cancel_sent: bool,
    next: u64,
    acc: Vec<Acc>,
    reply: Sender<Result<Measurement, DispatchError>>,
}

impl MeasureState {
    fn pos(&self, id: DeviceId) -> Option<usize> {
        self.participants.iter().position(|p| *p == id)
    }
}

enum Mode {
    Idle,
    Work(WorkState),
    Measure(MeasureState),
}

struct Closing {
    gen: u64,
    account: JobAccount,
    outstanding: usize,
    at: Instant,
    latency: Duration,
    cancelled: usize,
    new_job: Option<JobId>,
    emit: bool,
}

struct Stopping {
    reply: Sender<FinalReport>,
    grace_end: Instant,
    account: Option<JobAccount>,
}

struct Coordinator {
    cfg: Config,
    slots: Vec<Slot>,
    inbox: Receiver<Msg>,
    sink: Box<dyn FnMut(Event) + Send>,
    gen: u64,
    mode: Mode,
    closing: Vec<Closing>,
    first_work: Option<Instant>,
    rounds_total: u64,
    work_attempts_total: u64,
    total_ewma: Ewma,
    last_sample: Instant,
    sample_attempts: u64,
    stopping: Option<Stopping>,
    no_devices_sent: bool,
}

impl Coordinator {
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

    fn emit(&mut self, e: Event) {
        (self.sink)(e);
    }

    // --- commands -----------------------------------------------------------------------

    fn on_cmd(&mut self, c: Cmd) {
        match c {
            Cmd::SetWork(spec) => {
                let now = Instant::now();
                let new_job = Some(spec.job_id);
                self.close_current(now, new_job, true);
                if self.first_work.is_none() {
                    self.first_work = Some(now);
                }
                self.reset_samples(now);
                self.gen += 1;
                for s in &mut self.slots {
                    s.attempts_job = 0;
                    s.rounds_job = 0;
                }
                self.mode = Mode::Work(WorkState {
                    job_id: spec.job_id,
                    job: Arc::new(spec.job),
                    gen: self.gen,
                    start_index: spec.start_index,
                    next: spec.start_index,
                    reissue: VecDeque::new(),
                    started: now,
                    searched: 0,
                    attempts: 0,
                    device_attempts: vec![0; self.slots.len()],
                    rounds: 0,
                    solved: false,
                    block_number: spec.block_number,
                    difficulty: spec.difficulty,
                });
            }
            Cmd::ClearWork => {
                self.close_current(Instant::now(), None, true);
            }
            Cmd::Measure {
                job,
                devices,
                duration,
                reply,
            } => {
                if !matches!(self.mode, Mode::Idle) {
                    let _ = reply.send(Err(DispatchError::Busy));
                    return;
                }
                let participants: Vec<DeviceId> = devices
                    .into_iter()
                    .filter(|id| {
                        self.slots.get(*id).is_some_and(|s| {
                            matches!(s.state, SlotState::Active | SlotState::Excluded)
                        })
                    })
                    .collect();
                if participants.is_empty() {
                    let _ = reply.send(Err(DispatchError::NoDevices));
                    return;
                }
                self.gen += 1;
                let now = Instant::now();
                let acc = participants.iter().map(|_| Acc::default()).collect();
                self.mode = Mode::Measure(MeasureState {
                    gen: self.gen,
                    job: Arc::new(*job),
                    participants,
                    started: now,
                    ends_at: now + duration,
                    cancel_sent: false,
                    next: 0x5a5a_0000_0000_0000,
                    acc,
                    reply,
                });
            }
            Cmd::Configure(list) => {
                for (id, setup) in list {
                    let cfg_batch_max = self.cfg.max_batch;
                    let Some(s) = self.slots.get_mut(id) else {
                        continue;
                    };
                    s.batch_time = setup.batch_time;
                    if let Some(r) = setup.rate.filter(|r| *r > 0.0) {
                        s.rate = Some(r);
                        s.batch =
                            ((r * setup.batch_time.as_secs_f64()) as u64).clamp(1, cfg_batch_max);
                    }
                    match (s.state, setup.enabled) {
                        (SlotState::Active, false) => s.state = SlotState::Excluded,
                        (SlotState::Excluded, true) => s.state = SlotState::Active,
                        _ => {}
                    }
                }
                self.check_no_devices();
            }
            Cmd::Stats(reply) => {
                let _ = reply.send(self.snapshot(Instant::now()));
            }
            Cmd::Stop(reply) => {
                let now = Instant::now();
                if let Mode::Measure(m) = &self.mode {
                    let _ = m.reply.send(Err(DispatchError::Stopped));
                }
                self.stopping = Some(Stopping {
                    reply,
                    grace_end: now + self.cfg.stop_grace,
                    account: None,
                });
                self.close_current(now, None, false);
                // Cancel everything still running (including older closing jobs).
                for s in &mut self.slots {
                    if let Some(b) = &mut s.busy {
                        b.cancel.store(true, Ordering::Relaxed);
                        b.cancelled_at.get_or_insert(now);
                    }
                }
                self.mode = Mode::Idle;
            }
        }
    }

    /// Ends the current work or measurement: cancels its in-flight batches and starts tracking
    /// their return for the switch report.
    fn close_current(&mut self, now: Instant, new_job: Option<JobId>, emit: bool) {
        match std::mem::replace(&mut self.mode, Mode::Idle) {
            Mode::Idle => {}
            Mode::Measure(m) => {
                for s in &mut self.slots {
                    if let Some(b) = &mut s.busy {
                        if b.gen == m.gen {
                            b.cancel.store(true, Ordering::Relaxed);
                        }
                    }
                }
                let _ = m.reply.send(Err(DispatchError::Busy));
            }
            Mode::Work(w) => {
                let mut outstanding = 0;
                for s in &mut self.slots {
                    if let Some(b) = &mut s.busy {
                        if b.gen == w.gen {
                            b.cancel.store(true, Ordering::Relaxed);
                            b.cancelled_at = Some(now);
                            outstanding += 1;
                        }
                    }
                }
                let closing = Closing {
                    gen: w.gen,
                    account: w.account(),
                    outstanding,
                    at: now,
                    latency: Duration::ZERO,
                    cancelled: outstanding,
                    new_job,
                    emit,
                };
                self.closing.push(closing);
                self.settle_closings();
            }
        }
    }

    fn settle_closings(&mut self) {
        let mut i = 0;
        while i < self.closing.len() {
            if self.closing[i].outstanding == 0 {
                let c = self.closing.remove(i);
                if c.emit {
                    self.emit(Event::Switched(Switch {
                        job_id: c.new_job,
                        previous: c.account,
                        cancelled: c.cancelled,
                        latency: c.latency,
                    }));
                } else if let Some(st) = &mut self.stopping {
                    st.account = Some(c.account);
                }
            } else {
                i += 1;
            }
        }
    }

    fn reset_samples(&mut self, now: Instant) {
        if !matches!(self.mode, Mode::Work(_)) {
            self.last_sample = now;
            self.sample_attempts = 0;
            for s in &mut self.slots {
                s.sample_attempts = 0;
            }
        }
    }

    // --- reports ------------------------------------------------------------------------

    fn on_report(&mut self, r: Report) {
        let id = r.id;
        let slot = &mut self.slots[id];
        if slot.state == SlotState::Abandoned {
            return;
        }
        let Some(flight) = slot.busy.take() else {
            return;
        };
        debug_assert!(flight.gen == r.gen && flight.start == r.start);
        slot.ever_ran = true;
        match r.outcome {
            Err(fault) => {
                let reason = match fault {
                    Fault::Failed(m) => DropReason::Failed(m),
                    Fault::Panicked(m) => DropReason::Panicked(m),
                    Fault::Misbehaved(m) => DropReason::Quarantined(format!(
                        "{m}; its results are ignored for the rest of the run (plugin {})",
                        slot.meta.plugin.display()
                    )),
                };
                self.give_back(r.gen, r.start, r.count, r.finished);
                self.drop_device(id, reason);
            }
            Ok(c) => {
                // A device that keeps returning without progress, unasked, would spin.
                if c.searched == 0 && c.hits.is_empty() && !flight.cancel.load(Ordering::Relaxed) {
                    slot.stalls += 1;
                } else {
                    slot.stalls = 0;
                }
                if slot.stalls >= MAX_STALLS {
                    self.give_back(r.gen, r.start, r.count, r.finished);
                    self.drop_device(
                        id,
                        DropReason::Failed(format!(
                            "returned {MAX_STALLS} batches in a row without searching anything"
                        )),
                    );
                    return;
                }
                let max_batch = self.cfg.max_batch;
                let fixed = self.cfg.fixed_batch.is_some();
                slot.attempts_total += c.attempts;
                slot.sample_attempts += c.attempts;
                self.sample_attempts += c.attempts;
                self.rounds_total += 1;
                if c.hits.is_empty() {
                    learn(slot, c.searched, r.count, r.elapsed, fixed, max_batch);
                }
                let rest = (r.start.wrapping_add(c.searched), r.count - c.searched);
                if let Mode::Work(w) = &mut self.mode {
                    if w.gen == r.gen {
                        self.work_attempts_total += c.attempts;
                        w.attempts += c.attempts;
                        w.device_attempts[id] += c.attempts;
                        w.searched += c.searched;
                        w.rounds += 1;
                        let slot = &mut self.slots[id];
                        slot.attempts_job += c.attempts;
                        slot.rounds_job += 1;
                        if rest.1 > 0 {
                            w.reissue.push_front(rest);
                        }
                        if !w.solved {
                            if let Some(hit) =
                                c.hits.iter().min_by_key(|h| h.index.wrapping_sub(r.start))
                            {
                                let solution = Solution {
                                    job_id: w.job_id,
                                    hit: *hit,
                                    device: id,
                                    label: slot.meta.label.clone(),
                                    attempts: w.attempts,
                                    elapsed: w.started.elapsed(),
                                };
                                if self.cfg.stop_on_solution {
                                    w.solved = true;
                                    let gen = w.gen;
                                    for s in &mut self.slots {
                                        if let Some(b) = &mut s.busy {
                                            if b.gen == gen {
                                                b.cancel.store(true, Ordering::Relaxed);
                                            }
                                        }
                                    }
                                }
                                self.emit(Event::Solution(solution));
                            }
                        }
                        return;
                    }
                }
                if let Mode::Measure(m) = &mut self.mode {
                    if m.gen == r.gen {
                        if let Some(p) = m.pos(id) {
                            let a = &mut m.acc[p];
                            if a.batches == 0 || r.elapsed < MIN_SAMPLE * 2 {
                                a.warm_attempts += c.attempts;
                                a.warm_busy += r.elapsed;
                            } else {
                                a.attempts += c.attempts;
                                a.busy += r.elapsed;
                            }
                            a.batches += 1;
                            if let Some(at) = flight.cancelled_at {
                                let l = r.finished.saturating_duration_since(at);
                                a.latency = Some(a.latency.map_or(l, |x| x.max(l)));
                            }
                        }
                        return;
                    }
                }
                if let Some(cl) = self.closing.iter_mut().find(|cl| cl.gen == r.gen) {
                    self.work_attempts_total += c.attempts;
                    cl.account.searched += c.searched;
                    cl.account.attempts += c.attempts;
                    cl.account.device_attempts[id] += c.attempts;
                    if rest.1 > 0 {
                        cl.account.pending.push(rest);
                    }
                    cl.outstanding -= 1;
                    cl.latency = cl.latency.max(r.finished.saturating_duration_since(cl.at));
                    self.settle_closings();
                }
            }
        }
    }

    /// Returns an unsearched range of generation `gen` to wherever it is accounted.
    fn give_back(&mut self, gen: u64, start: u64, len: u64, when: Instant) {
        if let Mode::Work(w) = &mut self.mode {
            if w.gen == gen {
                if len > 0 {
                    w.reissue.push_front((start, len));
                }
                return;
            }
        }
        if let Some(cl) = self.closing.iter_mut().find(|cl| cl.gen == gen) {
            if len > 0 {
                cl.account.pending.push((start, len));
            }
            cl.outstanding -= 1;
            cl.latency = cl.latency.max(when.saturating_duration_since(cl.at));
            self.settle_closings();
        }
    }

    fn drop_device(&mut self, id: DeviceId, reason: DropReason) {
        let slot = &mut self.slots[id];
        slot.state = match reason {
            DropReason::Quarantined(_) => SlotState::Quarantined,
            DropReason::Abandoned { .. } => SlotState::Abandoned,
            _ => SlotState::Failed,
        };
        let _ = slot.orders.send(Order::Exit);
        let label = slot.meta.label.clone();
        let plugin = slot.meta.plugin.clone();
        if let Mode::Measure(m) = &mut self.mode {
            if let Some(p) = m.pos(id) {
                m.acc[p].failure = Some(reason.to_string());
            }
        }
        self.emit(Event::DeviceDropped {
            device: id,
            label,
            plugin,
            reason,
        });
        self.check_no_devices();
    }

    fn check_no_devices(&mut self) {
        if self.slots.iter().any(|s| s.state == SlotState::Active) {
            return;
        }
        if self.slots.iter().any(|s| s.state == SlotState::Excluded) {
            // The chosen mix is gone: fall back on the devices left out of it.
            for s in &mut self.slots {
                if s.state == SlotState::Excluded {
                    s.state = SlotState::Active;
                }
            }
            return;
        }
        if !self.no_devices_sent {
            self.no_devices_sent = true;
            self.emit(Event::NoDevices);
        }
    }

    // --- time ---------------------------------------------------------------------------

    fn check_deadlines(&mut self, now: Instant) {
        let grace_end = self.stopping.as_ref().map(|s| s.grace_end);
        for id in 0..self.slots.len() {
            let slot = &mut self.slots[id];
            let Some(b) = &slot.busy else {
                continue;
            };
            let deadline = grace_end.map_or(b.deadline, |g| g.min(b.deadline));
            if now < deadline {
                continue;
            }
            let b = slot.busy.take().unwrap();
            b.cancel.store(true, Ordering::Relaxed);
            let waited = now.saturating_duration_since(b.issued);
            self.give_back(b.gen, b.start, b.count, now);
            self.drop_device(id, DropReason::Abandoned { waited });
        }
    }

    fn check_measure(&mut self, now: Instant) {
        let Mode::Measure(m) = &mut self.mode else {
            return;
        };
        if now < m.ends_at {
            return;
        }
        if !m.cancel_sent {
            m.cancel_sent = true;
            for s in &mut self.slots {
                if let Some(b) = &mut s.busy {
                    if b.gen == m.gen {
                        b.cancel.store(true, Ordering::Relaxed);
                        b.cancelled_at = Some(now);
                    }
                }
            }
        }
        let gen = m.gen;
        let busy = |s: &Slot| s.busy.as_ref().is_some_and(|b| b.gen == gen);
        // Wait for the phase's batches, but not for a device still in a slow first batch
        // (or hung): it is reported unfinished and joins when it returns (or is abandoned at
        // its deadline).
        if self.slots.iter().any(busy) && now < m.ends_at + self.cfg.min_deadline {
            return;
        }
        let unfinished: Vec<bool> = m
            .participants
            .iter()
            .map(|id| busy(&self.slots[*id]))
            .collect();
        let Mode::Measure(m) = std::mem::replace(&mut self.mode, Mode::Idle) else {
            unreachable!()
        };
        let devices = m
            .participants
            .iter()
            .zip(m.acc)
            .zip(unfinished)
            .map(|((id, a), unfinished)| {
                let (attempts, busy, warm_only) = if a.busy > Duration::ZERO {
                    (a.attempts, a.busy, false)
                } else {
                    (a.warm_attempts, a.warm_busy, true)
                };
                DeviceMeasurement {
                    id: *id,
                    label: self.slots[*id].meta.label.clone(),
                    attempts,
                    busy,
                    rate: if busy > Duration::ZERO {
                        attempts as f64 / busy.as_secs_f64()
                    } else {
                        0.0
                    },
                    cancel_latency: a.latency,
                    warm_only,
                    unfinished,
                    failure: a.failure,
                }
            })
            .collect();
        let _ = m.reply.send(Ok(Measurement {
            devices,
            wall: now - m.started,
        }));
    }

    fn maybe_stats(&mut self, now: Instant) {
        let Mode::Work(w) = &self.mode else {
            return;
        };
        if w.solved || now < self.last_sample + self.cfg.stats_interval {
            return;
        }
        let dt = now
            .saturating_duration_since(self.last_sample)
            .as_secs_f64();
        if dt <= 0.0 {
            return;
        }
        for s in &mut self.slots {
            if matches!(s.state, SlotState::Active) {
                s.ewma.push(s.sample_attempts as f64 / dt);
            }
            s.sample_attempts = 0;
        }
        self.total_ewma.push(self.sample_attempts as f64 / dt);
        self.sample_attempts = 0;
        self.last_sample = now;
        let stats = self.snapshot(now);
        self.emit(Event::Stats(stats));
    }

    fn snapshot(&self, now: Instant) -> Stats {
        let (job_id, block_number, difficulty, time_spent, rounds, attempts) = match &self.mode {
            Mode::Work(w) => (
                Some(w.job_id),
                w.block_number,
                w.difficulty,
                now.saturating_duration_since(w.started),
                w.rounds,
                w.attempts,
            ),
            _ => (None, None, None, Duration::ZERO, 0, 0),
        };
        let time_spent_total = self
            .first_work
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        Stats {
            job_id,
            block_number,
            difficulty,
            time_spent,
            time_spent_total,
            rounds,
            rounds_total: self.rounds_total,
            attempts,
            attempts_total: self.work_attempts_total,
            hash_rate: self.total_ewma.value(),
            hash_rate_perpetual: if time_spent_total > Duration::ZERO {
                self.work_attempts_total as f64 / time_spent_total.as_secs_f64()
            } else {
                0.0
            },
            devices: self
                .slots
                .iter()
                .enumerate()
                .map(|(id, s)| DeviceStats {
                    id,
                    label: s.meta.label.clone(),
                    state: match s.state {
                        SlotState::Active if s.busy.is_some() => DeviceState::Working,
                        SlotState::Active => DeviceState::Idle,
                        SlotState::Excluded => DeviceState::Excluded,
                        SlotState::Failed => DeviceState::Failed,
                        SlotState::Quarantined => DeviceState::Quarantined,
                        SlotState::Abandoned => DeviceState::Abandoned,
                    },
                    hash_rate: s.ewma.value(),
                    attempts: s.attempts_job,
                    attempts_total: s.attempts_total,
                    rounds: s.rounds_job,
                    batch: self.cfg.fixed_batch.unwrap_or(s.batch),
                })
                .collect(),
        }
    }

    // --- handing out batches ------------------------------------------------------------

    fn fill_idle(&mut self, now: Instant) {
        for id in 0..self.slots.len() {
            if self.slots[id].busy.is_some() {
                continue;
            }
            let state = self.slots[id].state;
            let batch = match &mut self.mode {
                Mode::Work(w) if !w.solved && state == SlotState::Active => {
                    let want = self.cfg.fixed_batch.unwrap_or(self.slots[id].batch);
                    let (start, count) = w.take_range(want);
                    Some((w.gen, w.job.clone(), start, count))
                }
                Mode::Measure(m) if now < m.ends_at => {
                    let Some(p) = m.pos(id) else {
                        continue;
                    };
                    if m.acc[p].failure.is_some()
                        || !matches!(state, SlotState::Active | SlotState::Excluded)
                    {
                        continue;
                    }
                    let s = &self.slots[id];
                    let count = match s.rate {
                        Some(rate) if m.acc[p].batches > 0 => {
                            // Run past the end of the phase by one batch time, so that the
                            // phase ends with a cancel whose latency is measured (a device
                            // that ignores it overruns by at most that much).
                            let left = m.ends_at - now;
                            let t = (left + s.batch_time).min(Duration::from_secs(2));
                            ((rate * t.as_secs_f64()) as u64).clamp(1, self.cfg.max_batch)
                        }
                        _ => s.batch,
                    };
                    let start = m.next;
                    m.next = m.next.wrapping_add(count);
                    Some((m.gen, m.job.clone(), start, count))
                }
                _ => None,
            };
            let Some((gen, job, start, count)) = batch else {
                continue;
            };
            let cancel = Arc::new(AtomicBool::new(false));
            let slot = &mut self.slots[id];
            let deadline = now + batch_deadline(&self.cfg, slot, count);
            let sent = slot.orders.send(Order::Search(Batch {
                gen,
                job,
                start,
                count,
                cancel: cancel.clone(),
            }));
            slot.busy = Some(InFlight {
                gen,
                start,
                count,
                cancel,
                issued: now,
                deadline,
                cancelled_at: None,
            });
            if sent.is_err() {
                // The driver thread is gone (it cannot be, short of a bug): drop the device.
                slot.busy = None;
                self.give_back(gen, start, count, now);
                self.drop_device(id, DropReason::Failed("its driver thread ended".into()));
            }
        }
    }

    fn finish_stop(&mut self) {
        self.settle_closings();
        let now = Instant::now();
        let stats = self.snapshot(now);
        for s in &self.slots {
            let _ = s.orders.send(Order::Exit);
        }
        if let Some(st) = self.stopping.take() {
            let _ = st.reply.send(FinalReport {
                stats,
                account: st.account,
            });
        }
    }
}

/// Updates a device's speed estimate and batch size after a batch.
fn learn(
    slot: &mut Slot,
    searched: u64,
    count: u64,
    elapsed: Duration,
    fixed: bool,
    max_batch: u64,
) {
    if elapsed < MIN_SAMPLE {
        // Too quick to time: grow fast towards a measurable size.
        if searched == count && !fixed {
            slot.batch = slot.batch.saturating_mul(8).min(max_batch);
        }
        return;
    }
    if searched == 0 {
        return;
    }
    let sample = searched as f64 / elapsed.as_secs_f64();
    let rate = match slot.rate {
        None => sample,
        Some(r) => 0.5 * r + 0.5 * sample,
    };
    slot.rate = Some(rate);
    if !fixed {
        let want = (rate * slot.batch_time.as_secs_f64()).max(1.0) as u64;
        let lo = (slot.batch / 4).max(1);
        let hi = slot.batch.saturating_mul(4);
        slot.batch = want.clamp(lo, hi).clamp(1, max_batch);
    }
}

/// How long a batch of `count` indexes may take on this device.
fn batch_deadline(cfg: &Config, slot: &Slot, count: u64) -> Duration {
    let expected = slot.rate.filter(|r| *r > 0.0).map_or(Duration::ZERO, |r| {
        Duration::from_secs_f64((count as f64 / r).min(1e6))
    });
    let base = expected.mul_f64(cfg.deadline_factor).max(cfg.min_deadline);
    if slot.ever_ran {
        base
    } else {
        base + cfg.warmup_grace
    }
}

// ---------------------------------------------------------------------------------------------
// The handle

/// Runs jobs on a set of devices. See the crate documentation.
pub struct Dispatcher {
    tx: Sender<Msg>,
    events: Receiver<Event>,
    metas: Vec<DeviceMeta>,
    current: Arc<Mutex<Option<JobId>>>,
    coordinator: Option<JoinHandle<()>>,
    config: Config,
}

impl Dispatcher {
    /// Starts a dispatcher over `devices`; events arrive on [`Dispatcher::events`].
    pub fn new(
        devices: Vec<Box<dyn DispatchDevice>>,
        config: Config,
    ) -> Result<Dispatcher, DispatchError> {
        let (etx, erx) = channel();
        let mut d = Self::with_sink(devices, config, move |e| {
            let _ = etx.send(e);
        })?;
        d.events = erx;
        Ok(d)
    }

    /// Starts a dispatcher that hands every event to `sink` (called on the coordinator
    /// thread: it must not block). [`Dispatcher::events`] then yields nothing.
    pub fn with_sink(
        devices: Vec<Box<dyn DispatchDevice>>,
        config: Config,
        sink: impl FnMut(Event) + Send + 'static,
    ) -> Result<Dispatcher, DispatchError> {
        if devices.is_empty() {
            return Err(DispatchError::NoDevices);
        }
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
            slots.push(Slot {
                meta,
                orders: otx,
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
            });
        }
        let coordinator = Coordinator {
            cfg: config.clone(),
            slots,
            inbox,
            sink: Box::new(sink),
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
        let (_, dead) = channel();
        Ok(Dispatcher {
            tx,
            events: dead,
            metas,
            current: Arc::new(Mutex::new(None)),
            coordinator: Some(handle),
            config,
        })
    }

    /// A cloneable handle for other threads (for example a block watcher that calls
    /// [`WorkHandle::set_work`] while this thread reads events).
    pub fn handle(&self) -> WorkHandle {
        WorkHandle {
            tx: self.tx.clone(),
            current: self.current.clone(),
        }
    }

    /// The devices, indexed by [`DeviceId`].
    pub fn devices(&self) -> &[DeviceMeta] {
        &self.metas
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Events: solutions, dropped devices, switches, statistics.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    fn send(&self, c: Cmd) {
        let _ = self.tx.send(Msg::Cmd(c));
    }

    /// Switches to new work: in-flight batches are cancelled, the index space restarts at
    /// `spec.start_index`, and every device gets batches of the new job as soon as it returns.
    /// Returns at once; [`Event::Switched`] follows when the old batches are all back.
    pub fn set_work(&self, spec: WorkSpec) {
        *self.current.lock().unwrap() = Some(spec.job_id);
        self.send(Cmd::SetWork(Box::new(spec)));
    }

    /// Stops working (cancels in-flight batches) and waits idle for the next
    /// [`Dispatcher::set_work`].
    pub fn clear_work(&self) {
        *self.current.lock().unwrap() = None;
        self.send(Cmd::ClearWork);
    }

    /// The job last set, if any; solutions for any other job are stale.
    pub fn current_job(&self) -> Option<JobId> {
        *self.current.lock().unwrap()
    }

    /// Whether `job_id` is the job last set (a solution for it may be submitted).
    pub fn is_current(&self, job_id: JobId) -> bool {
        self.current_job() == Some(job_id)
    }

    /// Runs `devices` together on `job` for about `duration` (plus the time to cancel) and
    /// measures each one. The dispatcher must be idle. Used by [`crate::calibrate()`].
    pub fn measure(
        &self,
        job: &Job,
        devices: &[DeviceId],
        duration: Duration,
    ) -> Result<Measurement, DispatchError> {
        let (reply, rx) = channel();
        self.send(Cmd::Measure {
            job: Box::new(job.clone()),
            devices: devices.to_vec(),
            duration,
            reply,
        });
        rx.recv().map_err(|_| DispatchError::Stopped)?
    }

    pub(crate) fn configure(&self, list: Vec<(DeviceId, DeviceSetup)>) {
        self.send(Cmd::Configure(list));
    }

    /// A statistics snapshot now.
    pub fn stats(&self) -> Option<Stats> {
        let (reply, rx) = channel();
        self.send(Cmd::Stats(reply));
        rx.recv().ok()
    }

    /// Cancels everything, waits (up to the stop grace) for in-flight batches and ends the
    /// driver threads (a hung one is left detached).
    pub fn stop(mut self) -> FinalReport {
        self.stop_inner().unwrap_or_else(|| FinalReport {
            stats: Stats {
                job_id: None,
                block_number: None,
                difficulty: None,
                time_spent: Duration::ZERO,
                time_spent_total: Duration::ZERO,
                rounds: 0,
                rounds_total: 0,
                attempts: 0,
                attempts_total: 0,
                hash_rate: 0.0,
                hash_rate_perpetual: 0.0,
                devices: Vec::new(),
            },
            account: None,
        })
    }

    fn stop_inner(&mut self) -> Option<FinalReport> {
        let handle = self.coordinator.take()?;
        let (reply, rx) = channel();
        self.send(Cmd::Stop(reply));
        let report = rx.recv().ok();
        let _ = handle.join();
        report
    }
}

/// Sets and clears work from any thread; see [`Dispatcher::handle`]. Does nothing once the
/// dispatcher has stopped.
#[derive(Clone)]
pub struct WorkHandle {
    tx: Sender<Msg>,
    current: Arc<Mutex<Option<JobId>>>,
}

impl WorkHandle {
    /// Same as [`Dispatcher::set_work`].
    pub fn set_work(&self, spec: WorkSpec) {
        *self.current.lock().unwrap() = Some(spec.job_id);
        let _ = self.tx.send(Msg::Cmd(Cmd::SetWork(Box::new(spec))));
    }

    /// Same as [`Dispatcher::clear_work`].
    pub fn clear_work(&self) {
        *self.current.lock().unwrap() = None;
        let _ = self.tx.send(Msg::Cmd(Cmd::ClearWork));
    }

    /// Same as [`Dispatcher::current_job`].
    pub fn current_job(&self) -> Option<JobId> {
        *self.current.lock().unwrap()
    }

    /// Same as [`Dispatcher::is_current`].
    pub fn is_current(&self, job_id: JobId) -> bool {
        self.current_job() == Some(job_id)
    }

    /// Same as [`Dispatcher::stats`].
    pub fn stats(&self) -> Option<Stats> {
        let (reply, rx) = channel();
        let _ = self.tx.send(Msg::Cmd(Cmd::Stats(reply)));
        rx.recv().ok()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}
