//! Measurement mode: devices run together on a job for a while, each one's speed and cancel
//! latency are recorded, and the result goes back to [`Dispatcher::measure`](super::Dispatcher::measure).

use super::sizing::MIN_SAMPLE;
use super::slot::{Slot, SlotState};
use crate::device::DeviceId;
use crate::error::DispatchError;
use crate::events::{DeviceMeasurement, Measurement};
use pow_backend_api::Job;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One participant's tallies.
#[derive(Default)]
pub(super) struct Acc {
    /// Batches returned.
    pub batches: u32,
    /// Attempts after warm-up.
    pub attempts: u64,
    /// Time in batches after warm-up.
    pub busy: Duration,
    /// Attempts in warm-up batches (the first one, and any too short to time).
    pub warm_attempts: u64,
    /// Time in warm-up batches.
    pub warm_busy: Duration,
    /// Longest time from cancel to return.
    pub latency: Option<Duration>,
    /// Why the device failed, if it did.
    pub failure: Option<String>,
}

/// A measurement phase in progress.
pub(super) struct MeasureState {
    /// Its generation.
    pub gen: u64,
    /// The job measured on.
    pub job: Arc<Job>,
    /// The devices measured, in the order of `acc`.
    pub participants: Vec<DeviceId>,
    /// When the phase started.
    pub started: Instant,
    /// When the phase ends (its batches are then cancelled).
    pub ends_at: Instant,
    /// Whether the end-of-phase cancel went out.
    pub cancel_sent: bool,
    /// Next index handed out.
    pub next: u64,
    /// Tallies, by position in `participants`.
    pub acc: Vec<Acc>,
    /// Where the result goes.
    pub reply: Sender<Result<Measurement, DispatchError>>,
}

impl MeasureState {
    /// A phase of `duration` from `now` on `participants`.
    pub fn new(
        gen: u64,
        job: Job,
        participants: Vec<DeviceId>,
        now: Instant,
        duration: Duration,
        reply: Sender<Result<Measurement, DispatchError>>,
    ) -> MeasureState {
        let acc = participants.iter().map(|_| Acc::default()).collect();
        MeasureState {
            gen,
            job: Arc::new(job),
            participants,
            started: now,
            ends_at: now + duration,
            cancel_sent: false,
            next: 0x5a5a_0000_0000_0000,
            acc,
            reply,
        }
    }

    /// Position of device `id` among the participants.
    pub fn pos(&self, id: DeviceId) -> Option<usize> {
        self.participants.iter().position(|p| *p == id)
    }

    /// The next batch `(start, count)` for device `id`, or `None` if it does not take part
    /// (any more).
    pub fn next_batch(
        &mut self,
        id: DeviceId,
        slot: &Slot,
        now: Instant,
        max_batch: u64,
    ) -> Option<(u64, u64)> {
        let p = self.pos(id)?;
        if self.acc[p].failure.is_some()
            || !matches!(slot.state, SlotState::Active | SlotState::Excluded)
        {
            return None;
        }
        let count = match slot.rate {
            Some(rate) if self.acc[p].batches > 0 => {
                // Run past the end of the phase by one batch time, so that the
                // phase ends with a cancel whose latency is measured (a device
                // that ignores it overruns by at most that much).
                let left = self.ends_at - now;
                let t = (left + slot.batch_time).min(Duration::from_secs(2));
                ((rate * t.as_secs_f64()) as u64).clamp(1, max_batch)
            }
            _ => slot.batch,
        };
        let start = self.next;
        self.next = self.next.wrapping_add(count);
        Some((start, count))
    }

    /// Records a batch of device `id` that returned at `finished` after `elapsed` with
    /// `attempts` attempts; `cancelled_at` is when it was cancelled, if it was.
    pub fn record(
        &mut self,
        id: DeviceId,
        attempts: u64,
        elapsed: Duration,
        finished: Instant,
        cancelled_at: Option<Instant>,
    ) {
        if let Some(p) = self.pos(id) {
            let a = &mut self.acc[p];
            if a.batches == 0 || elapsed < MIN_SAMPLE * 2 {
                a.warm_attempts += attempts;
                a.warm_busy += elapsed;
            } else {
                a.attempts += attempts;
                a.busy += elapsed;
            }
            a.batches += 1;
            if let Some(at) = cancelled_at {
                let l = finished.saturating_duration_since(at);
                a.latency = Some(a.latency.map_or(l, |x| x.max(l)));
            }
        }
    }

    /// Whether device `slot` has a batch of this phase in flight.
    fn is_busy(&self, slot: &Slot) -> bool {
        slot.busy.as_ref().is_some_and(|b| b.gen == self.gen)
    }

    /// Once the phase has ended, cancels its batches (once) and says whether the result can
    /// be sent: when they are all back, or `grace` after the end.
    pub fn is_over(&mut self, now: Instant, slots: &mut [Slot], grace: Duration) -> bool {
        if now < self.ends_at {
            return false;
        }
        if !self.cancel_sent {
            self.cancel_sent = true;
            for s in slots.iter_mut() {
                if let Some(b) = &mut s.busy {
                    if b.gen == self.gen {
                        b.cancel.store(true, Ordering::Relaxed);
                        b.cancelled_at = Some(now);
                    }
                }
            }
        }
        // Wait for the phase's batches, but not for a device still in a slow first batch
        // (or hung): it is reported unfinished and joins when it returns (or is abandoned at
        // its deadline).
        !(slots.iter().any(|s| self.is_busy(s)) && now < self.ends_at + grace)
    }

    /// Sends the result.
    pub fn finish(self, now: Instant, slots: &[Slot]) {
        let unfinished: Vec<bool> = self
            .participants
            .iter()
            .map(|id| self.is_busy(&slots[*id]))
            .collect();
        let devices = self
            .participants
            .iter()
            .zip(self.acc)
            .zip(unfinished)
            .map(|((id, a), unfinished)| {
                let (attempts, busy, warm_only) = if a.busy > Duration::ZERO {
                    (a.attempts, a.busy, false)
                } else {
                    (a.warm_attempts, a.warm_busy, true)
                };
                DeviceMeasurement {
                    id: *id,
                    label: slots[*id].meta.label.clone(),
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
        let _ = self.reply.send(Ok(Measurement {
            devices,
            wall: now - self.started,
        }));
    }
}
