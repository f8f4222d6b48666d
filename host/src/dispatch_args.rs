//! Dispatcher settings on the command line: the calibration options every mining command
//! takes ([`CalibrationArgs`]) and the batch, deadline and statistics options of `solve` and
//! `bench` ([`DispatchArgs`]), turned into [`pow_dispatch`]'s [`Config`] and
//! [`CalibrationSettings`].

use crate::Failure;
use pow_dispatch::{default_cache_path, CalibrationCache, CalibrationSettings, Config, EwmaConfig};
use std::time::Duration;

/// Start-up calibration options (`solve`, `bench`, `register`, `faucet`).
#[derive(clap::Args, Debug, Clone)]
pub struct CalibrationArgs {
    /// Longest start-up calibration, seconds (0: no calibration, every device runs).
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub calibrate_seconds: f64,
    /// Measure again even if a calibration is cached (~/.cache/pow-host/calibration.json).
    #[arg(long)]
    pub recalibrate: bool,
}

impl CalibrationArgs {
    /// The calibration settings: the budget, whether to ignore the cache, and the cache in
    /// `~/.cache/pow-host/`.
    pub fn settings(&self) -> Result<CalibrationSettings, Failure> {
        Ok(CalibrationSettings {
            budget: seconds(self.calibrate_seconds, "--calibrate-seconds")?,
            recalibrate: self.recalibrate,
            cache: default_cache_path().map(CalibrationCache::new),
            ..CalibrationSettings::default()
        })
    }
}

/// Dispatcher settings on the command line (`solve`, `bench`).
#[derive(clap::Args, Debug, Clone)]
pub struct DispatchArgs {
    /// `--calibrate-seconds`, `--recalibrate`.
    #[command(flatten)]
    pub calibration: CalibrationArgs,
    /// Target duration of one device batch, milliseconds.
    #[arg(long, default_value_t = 100, value_name = "MS")]
    pub batch_ms: u64,
    /// A device whose batch is not back within this factor times the batch's expected
    /// duration is abandoned (its batch goes to the other devices).
    #[arg(long, default_value_t = 10.0, value_name = "F")]
    pub deadline_factor: f64,
    /// Smallest batch deadline, seconds.
    #[arg(long, default_value_t = 2.0, value_name = "S")]
    pub min_deadline_seconds: f64,
    /// Seconds between status updates.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub stats_interval: f64,
    /// Rate samples in the moving average.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub ewma_samples: usize,
    /// Weight decay per older rate sample, in (0, 1].
    #[arg(long, default_value_t = 0.8, value_name = "A")]
    pub ewma_alpha: f64,
    /// No status line.
    #[arg(long)]
    pub quiet: bool,
}

/// A duration given in seconds on the command line: at least 0 and below a million.
fn seconds(value: f64, flag: &str) -> Result<Duration, Failure> {
    if (0.0..1e6).contains(&value) {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(Failure::usage(format!(
            "{flag}: expected a number of seconds, not {value}"
        )))
    }
}

impl DispatchArgs {
    /// The dispatcher configuration; `fixed_batch` overrides the batch sizing.
    pub fn config(&self, fixed_batch: Option<u64>) -> Result<Config, Failure> {
        if self.batch_ms == 0 {
            return Err(Failure::usage("--batch-ms must be at least 1"));
        }
        if !(self.deadline_factor.is_finite() && self.deadline_factor >= 1.0) {
            return Err(Failure::usage("--deadline-factor must be at least 1"));
        }
        if self.ewma_samples == 0 {
            return Err(Failure::usage("--ewma-samples must be at least 1"));
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha <= 1.0) {
            return Err(Failure::usage("--ewma-alpha must be in (0, 1]"));
        }
        let stats_interval = seconds(self.stats_interval, "--stats-interval")?;
        if stats_interval < Duration::from_millis(10) {
            return Err(Failure::usage("--stats-interval must be at least 0.01"));
        }
        if fixed_batch == Some(0) {
            return Err(Failure::usage("--batch must be at least 1"));
        }
        Ok(Config {
            batch_time: Duration::from_millis(self.batch_ms),
            fixed_batch,
            deadline_factor: self.deadline_factor,
            min_deadline: seconds(self.min_deadline_seconds, "--min-deadline-seconds")?,
            stats_interval,
            ewma: EwmaConfig {
                n_samples: self.ewma_samples,
                alpha: self.ewma_alpha,
            },
            ..Config::default()
        })
    }

    /// The calibration settings (see [`CalibrationArgs::settings`]).
    pub fn calibration(&self) -> Result<CalibrationSettings, Failure> {
        self.calibration.settings()
    }
}
