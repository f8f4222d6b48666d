//! Dispatcher settings.

use std::time::Duration;

/// How hash rates are averaged: the last `n_samples` per-interval rates, the newest weighted 1,
/// each older one `alpha` times the next newer (bittensor's `RegistrationStatistics` uses 10
/// and 0.8).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EwmaConfig {
    /// Samples kept (at least 1).
    pub n_samples: usize,
    /// Decay per sample, in (0, 1].
    pub alpha: f64,
}

impl Default for EwmaConfig {
    fn default() -> Self {
        EwmaConfig {
            n_samples: 10,
            alpha: 0.8,
        }
    }
}

/// Dispatcher settings. [`Config::default`] suits real devices.
#[derive(Clone, Debug)]
pub struct Config {
    /// Target duration of one batch (50 to 200 ms keeps cancels fast and overhead low).
    pub batch_time: Duration,
    /// Longest acceptable time from a cancel to a device's return. A device measured slower
    /// than this gets batches of at most 80 % of it, so even a backend that checks the cancel
    /// flag only between batches stops in time.
    pub cancel_budget: Duration,
    /// Batch size (indexes) for a device whose speed is not yet known.
    pub initial_batch: u64,
    /// Largest batch (indexes).
    pub max_batch: u64,
    /// Fixed batch size for every device, instead of sizing from measured speed.
    pub fixed_batch: Option<u64>,
    /// A batch's deadline is this factor times its expected duration ...
    pub deadline_factor: f64,
    /// ... but at least this long.
    pub min_deadline: Duration,
    /// Extra time allowed for a device's first batch (kernel compilation, warm-up).
    pub warmup_grace: Duration,
    /// How long [`crate::Dispatcher::stop`] waits for in-flight batches before abandoning them.
    pub stop_grace: Duration,
    /// How often [`crate::Event::Stats`] is sent while working.
    pub stats_interval: Duration,
    /// Hash-rate averaging.
    pub ewma: EwmaConfig,
    /// After a solution, stop the job (`true`, the default) or keep searching for more.
    pub stop_on_solution: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch_time: Duration::from_millis(100),
            cancel_budget: Duration::from_millis(50),
            initial_batch: 1024,
            max_batch: 1 << 40,
            fixed_batch: None,
            deadline_factor: 10.0,
            min_deadline: Duration::from_secs(2),
            warmup_grace: Duration::from_secs(10),
            stop_grace: Duration::from_secs(1),
            stats_interval: Duration::from_secs(1),
            ewma: EwmaConfig::default(),
            stop_on_solution: true,
        }
    }
}
