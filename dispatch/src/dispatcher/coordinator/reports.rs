//! Batch reports from the drivers: counting, re-queueing what was not searched, solutions,
//! and dropping devices that fault or stall.

use super::{Coordinator, Mode};
use crate::device::DeviceId;
use crate::dispatcher::protocol::{Fault, Order, Report};
use crate::dispatcher::sizing::learn;
use crate::dispatcher::slot::SlotState;
use crate::dispatcher::work::unsearched;
use crate::events::{DropReason, Event, Solution};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Batches in a row a device may return with no progress before it is dropped.
const MAX_STALLS: u32 = 3;

impl Coordinator {
    /// Takes in a driver's report of a batch.
    pub(super) fn on_report(&mut self, r: Report) {
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
                if let Mode::Work(w) = &mut self.mode {
                    if w.gen == r.gen {
                        self.work_attempts_total += c.attempts;
                        w.record(id, r.start, r.count, c.searched, c.attempts);
                        let slot = &mut self.slots[id];
                        slot.attempts_job += c.attempts;
                        slot.rounds_job += 1;
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
                        m.record(id, c.attempts, r.elapsed, r.finished, flight.cancelled_at);
                        return;
                    }
                }
                if let Some(cl) = self.closing.iter_mut().find(|cl| cl.gen == r.gen) {
                    self.work_attempts_total += c.attempts;
                    cl.account.searched += c.searched;
                    cl.account.attempts += c.attempts;
                    cl.account.device_attempts[id] += c.attempts;
                    let rest = unsearched(r.start, r.count, c.searched);
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
    pub(super) fn give_back(&mut self, gen: u64, start: u64, len: u64, when: Instant) {
        if let Mode::Work(w) = &mut self.mode {
            if w.gen == gen {
                w.give_back(start, len);
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

    /// Takes device `id` out of the run and reports why.
    pub(super) fn drop_device(&mut self, id: DeviceId, reason: DropReason) {
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

    /// Falls back on the devices left out of the mix when none of it is left, and reports
    /// [`Event::NoDevices`] (once) when no device is left at all.
    pub(super) fn check_no_devices(&mut self) {
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
}
