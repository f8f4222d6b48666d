//! Time-driven checks: batches past their deadline, and the end of a measurement phase.

use super::{Coordinator, Mode};
use crate::events::DropReason;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl Coordinator {
    /// Abandons every device whose batch is past its deadline (or past the stop grace) and
    /// re-issues the batch.
    pub(super) fn check_deadlines(&mut self, now: Instant) {
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

    /// Ends a measurement phase whose time is up, and sends its result once its batches are
    /// back (or have had `min_deadline` to come back).
    pub(super) fn check_measure(&mut self, now: Instant) {
        let Mode::Measure(m) = &mut self.mode else {
            return;
        };
        if !m.is_over(now, &mut self.slots, self.cfg.min_deadline) {
            return;
        }
        let Mode::Measure(m) = std::mem::replace(&mut self.mode, Mode::Idle) else {
            unreachable!()
        };
        m.finish(now, &self.slots);
    }
}
