//! Hash-rate statistics.

use crate::config::EwmaConfig;
use crate::device::{DeviceId, DeviceState};
use crate::job::JobId;
use std::collections::VecDeque;
use std::time::Duration;

/// Exponentially weighted average of the last few rate samples.
#[derive(Clone, Debug)]
pub struct Ewma {
    config: EwmaConfig,
    samples: VecDeque<f64>,
}

impl Ewma {
    /// An empty average.
    pub fn new(config: EwmaConfig) -> Self {
        Ewma {
            config: EwmaConfig {
                n_samples: config.n_samples.max(1),
                alpha: config.alpha.clamp(f64::MIN_POSITIVE, 1.0),
            },
            samples: VecDeque::new(),
        }
    }

    /// Adds the newest sample, forgetting the oldest beyond `n_samples`.
    pub fn push(&mut self, rate: f64) {
        self.samples.push_back(rate);
        while self.samples.len() > self.config.n_samples {
            self.samples.pop_front();
        }
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The weighted average (newest sample weight 1, each older one `alpha` times less); 0
    /// without samples. Only samples taken count: there is no warm-up from zeros.
    pub fn value(&self) -> f64 {
        let mut weight = 1.0;
        let (mut sum, mut total) = (0.0, 0.0);
        for r in self.samples.iter().rev() {
            sum += r * weight;
            total += weight;
            weight *= self.config.alpha;
        }
        if total > 0.0 {
            sum / total
        } else {
            0.0
        }
    }
}

/// Statistics of one device.
#[derive(Clone, Debug)]
pub struct DeviceStats {
    /// Device id.
    pub id: DeviceId,
    /// `backend:index`.
    pub label: String,
    /// What the device is doing.
    pub state: DeviceState,
    /// Averaged attempts per second.
    pub hash_rate: f64,
    /// Attempts on the current job.
    pub attempts: u64,
    /// Attempts since the dispatcher started.
    pub attempts_total: u64,
    /// Batches finished on the current job.
    pub rounds: u64,
    /// Current batch size (indexes).
    pub batch: u64,
}

/// A snapshot of the dispatcher's statistics, like bittensor's `RegistrationStatistics`.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Current job, if any.
    pub job_id: Option<JobId>,
    /// Block number of the current work, if the caller gave it.
    pub block_number: Option<u64>,
    /// Difficulty of the current work, if the caller gave it.
    pub difficulty: Option<u64>,
    /// Time on the current job.
    pub time_spent: Duration,
    /// Time since the dispatcher started working on its first job.
    pub time_spent_total: Duration,
    /// Batches finished on the current job.
    pub rounds: u64,
    /// Batches finished since the start.
    pub rounds_total: u64,
    /// Attempts on the current job.
    pub attempts: u64,
    /// Attempts since the start.
    pub attempts_total: u64,
    /// Averaged attempts per second, all devices.
    pub hash_rate: f64,
    /// `attempts_total / time_spent_total`.
    pub hash_rate_perpetual: f64,
    /// Per device.
    pub devices: Vec<DeviceStats>,
}

/// A rate in attempts per second as text, `12.34 MH/s` style.
pub fn rate_text(rate: f64) -> String {
    if rate >= 1e9 {
        format!("{:.2} GH/s", rate / 1e9)
    } else if rate >= 1e6 {
        format!("{:.2} MH/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.2} kH/s", rate / 1e3)
    } else {
        format!("{rate:.0} H/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ewma_weights_newest_most() {
        let mut e = Ewma::new(EwmaConfig {
            n_samples: 3,
            alpha: 0.5,
        });
        assert_eq!(e.value(), 0.0);
        e.push(100.0);
        assert_eq!(e.value(), 100.0);
        e.push(200.0);
        // (200*1 + 100*0.5) / 1.5
        assert!((e.value() - 250.0 / 1.5).abs() < 1e-9);
        e.push(0.0);
        e.push(0.0);
        // 100 has fallen out: (0 + 0 + 200*0.25) / 1.75
        assert!((e.value() - 50.0 / 1.75).abs() < 1e-9);
    }
}
