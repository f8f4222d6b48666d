//! Handing out batches to idle devices.

use super::{Coordinator, Mode};
use crate::dispatcher::protocol::{Batch, Order};
use crate::dispatcher::sizing::batch_deadline;
use crate::dispatcher::slot::{InFlight, SlotState};
use crate::events::DropReason;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

impl Coordinator {
    /// Gives every idle device its next batch of the current work or measurement.
    pub(super) fn fill_idle(&mut self, now: Instant) {
        for id in 0..self.slots.len() {
            if self.slots[id].busy.is_some() {
                continue;
            }
            let state = self.slots[id].state;
            let batch = match &mut self.mode {
                Mode::Work(w) if !w.solved && state == SlotState::Active => {
                    let want = self.cfg.fixed_batch.unwrap_or(self.slots[id].batch);
                    w.take_range(want)
                        .map(|(start, count)| (w.gen, w.job.clone(), start, count))
                }
                Mode::Measure(m) if now < m.ends_at => m
                    .next_batch(id, &self.slots[id], now, self.cfg.max_batch)
                    .map(|(start, count)| (m.gen, m.job.clone(), start, count)),
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
}
