//! Statistics: periodic rate samples and snapshots.

use super::{Coordinator, Mode};
use crate::dispatcher::slot::SlotState;
use crate::events::Event;
use crate::stats::{DeviceStats, Stats};
use std::time::{Duration, Instant};

impl Coordinator {
    /// While working, takes a rate sample every `stats_interval` and reports
    /// [`Event::Stats`].
    pub(super) fn maybe_stats(&mut self, now: Instant) {
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

    /// The statistics now.
    pub(super) fn snapshot(&self, now: Instant) -> Stats {
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
                    state: s.device_state(),
                    hash_rate: s.ewma.value(),
                    attempts: s.attempts_job,
                    attempts_total: s.attempts_total,
                    rounds: s.rounds_job,
                    batch: self.cfg.fixed_batch.unwrap_or(s.batch),
                })
                .collect(),
        }
    }
}
