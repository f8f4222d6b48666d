//! Commands from the handle: set or clear work, measure, configure, statistics, stop; and
//! closing the current work (switch reports, the final report).

use super::{Closing, Coordinator, Mode, Stopping};
use crate::device::DeviceId;
use crate::dispatcher::measure::MeasureState;
use crate::dispatcher::protocol::{Cmd, Order};
use crate::dispatcher::slot::SlotState;
use crate::dispatcher::work::WorkState;
use crate::error::DispatchError;
use crate::events::{Event, FinalReport, Switch};
use crate::job::JobId;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

impl Coordinator {
    /// Carries out a command.
    pub(super) fn on_cmd(&mut self, c: Cmd) {
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
                self.mode = Mode::Work(WorkState::new(*spec, self.gen, self.slots.len(), now));
            }
            Cmd::ClearWork => {
                self.close_current(Instant::now(), None, true);
            }
            Cmd::Grant { job_id, start, len } => {
                if let Mode::Work(w) = &mut self.mode {
                    if w.job_id == job_id {
                        w.grant(start, len);
                    }
                }
            }
            Cmd::Unissued(reply) => {
                let left = match &self.mode {
                    Mode::Work(w) if !w.solved => w.unissued().map(|n| (w.job_id, n)),
                    _ => None,
                };
                let _ = reply.send(left);
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
                self.mode = Mode::Measure(MeasureState::new(
                    self.gen,
                    *job,
                    participants,
                    now,
                    duration,
                    reply,
                ));
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

    /// Reports every closed job whose batches are all back (or, while stopping, keeps its
    /// account for the final report).
    pub(super) fn settle_closings(&mut self) {
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

    /// Starts a fresh statistics sample unless work is already running.
    fn reset_samples(&mut self, now: Instant) {
        if !matches!(self.mode, Mode::Work(_)) {
            self.last_sample = now;
            self.sample_attempts = 0;
            for s in &mut self.slots {
                s.sample_attempts = 0;
            }
        }
    }

    /// Ends the stop: ends the driver threads and sends the final report.
    pub(super) fn finish_stop(&mut self) {
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
