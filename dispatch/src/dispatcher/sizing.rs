//! Batch sizes and deadlines: how many indexes a device gets, and how long it may take.

use super::slot::Slot;
use crate::config::Config;
use std::time::Duration;

/// A batch shorter than this says nothing reliable about a device's speed.
pub(super) const MIN_SAMPLE: Duration = Duration::from_millis(2);

/// Updates a device's speed estimate and batch size after a batch.
pub(super) fn learn(
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
pub(super) fn batch_deadline(cfg: &Config, slot: &Slot, count: u64) -> Duration {
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
