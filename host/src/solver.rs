//! The host side of the dispatcher ([`pow_dispatch`]): opened plugin devices as dispatcher
//! devices, the command-line settings shared by `solve` and `bench`, calibration at start-up
//! and a solve loop.

use crate::plugins::{OpenDevice, Plugin};
use crate::selection::Selection;
use crate::Failure;
use pow_backend_api::{BackendError, Job, SearchOutcome};
use pow_dispatch::status::{StatusMode, StatusPrinter};
use pow_dispatch::{
    calibrate, default_cache_path, CalibrationCache, CalibrationSettings, Config, DeviceMeta,
    DispatchDevice, Dispatcher, Event, EwmaConfig, Plan, Solution, Stats, WorkSpec,
};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// An opened plugin device, ready for the dispatcher.
pub struct HostDevice {
    device: OpenDevice,
    meta: DeviceMeta,
}

/// Identity of a plugin build: its path, size and modification time, and its interface.
fn plugin_fingerprint(plugin: &Plugin) -> String {
    let (size, mtime) = std::fs::metadata(&plugin.path)
        .map(|m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            (m.len(), mtime)
        })
        .unwrap_or((0, 0));
    format!(
        "{}|{}|{size}|{mtime}|api {}|if {}",
        plugin.name,
        plugin.path.display(),
        plugin.api_version,
        plugin.interface_version
    )
}

impl HostDevice {
    /// Wraps a device opened from `plugin` with `options_text` (its options, for the
    /// calibration cache key).
    pub fn new(device: OpenDevice, plugin: &Plugin, options_text: &str) -> Self {
        let info = &device.info;
        let meta = DeviceMeta {
            label: device.label(),
            backend: device.backend.clone(),
            name: info.name.to_string(),
            kind: info.kind,
            plugin: plugin.path.clone(),
            fingerprint: format!(
                "{}|dev {}|{}|{} units|{}|{options_text}",
                plugin_fingerprint(plugin),
                info.index,
                info.name,
                info.compute_units,
                info.detail
            ),
        };
        HostDevice { device, meta }
    }
}

impl DispatchDevice for HostDevice {
    fn meta(&self) -> DeviceMeta {
        self.meta.clone()
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.device.set_job(job)
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        self.device.search(start, count, cancel)
    }
}

/// Owned dispatcher devices.
pub type DeviceList = Vec<Box<dyn DispatchDevice>>;

/// Opens the selected devices (see [`Selection::open_devices`]) as dispatcher devices.
/// Returns the devices and the warnings about devices that could not be opened.
pub fn open_dispatch_devices(
    selection: &Selection,
    plugins: &[Plugin],
) -> Result<(DeviceList, Vec<String>), Failure> {
    let (devices, warnings) = selection.open_devices(plugins)?;
    let out = devices
        .into_iter()
        .map(|d| {
            let plugin = plugins
                .iter()
                .find(|p| p.name == d.backend)
                .expect("an opened device comes from a loaded plugin");
            let options = selection.options_for(&plugin.name);
            let text: Vec<String> = options
                .pairs
                .iter()
                .map(|p| format!("{}={}", p.key, p.value))
                .collect();
            Box::new(HostDevice::new(d, plugin, &text.join(","))) as Box<dyn DispatchDevice>
        })
        .collect();
    Ok((out, warnings))
}

/// Dispatcher settings on the command line (`solve`, `bench`).
#[derive(clap::Args, Debug, Clone)]
pub struct DispatchArgs {
    /// Longest start-up calibration, seconds (0: no calibration, every device runs).
    #[arg(long, default_value_t = 3.0, value_name = "S")]
    pub calibrate_seconds: f64,
    /// Measure again even if a calibration is cached (~/.cache/pow-host/calibration.json).
    #[arg(long)]
    pub recalibrate: bool,
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

    /// The calibration settings.
    pub fn calibration(&self) -> Result<CalibrationSettings, Failure> {
        Ok(CalibrationSettings {
            budget: seconds(self.calibrate_seconds, "--calibrate-seconds")?,
            recalibrate: self.recalibrate,
            cache: default_cache_path().map(CalibrationCache::new),
            ..CalibrationSettings::default()
        })
    }
}

/// Starts a dispatcher over `devices` and calibrates it on `job`'s layout (or skips
/// calibration when the budget is 0). With `verbose`, the measurements and the choice are
/// printed on stderr.
pub fn start(
    devices: Vec<Box<dyn DispatchDevice>>,
    job: &Job,
    config: Config,
    calibration: &CalibrationSettings,
    verbose: bool,
) -> Result<(Dispatcher, Plan), Failure> {
    let dispatcher = Dispatcher::new(devices, config)
        .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e}")))?;
    let plan = if calibration.budget.is_zero() {
        Plan::uncalibrated(&dispatcher)
    } else {
        calibrate(&dispatcher, job, calibration)
            .map_err(|e| Failure::runtime(format!("calibration failed: {e}")))?
    };
    for p in &plan.devices {
        if let Some(f) = &p.failure {
            eprintln!(
                "warning: device {} dropped during calibration ({}): {f}",
                p.label,
                cache_note(dispatcher.devices()[p.id].plugin.as_path())
            );
        }
    }
    if verbose {
        for line in plan.describe() {
            eprintln!("{line}");
        }
    }
    Ok((dispatcher, plan))
}

fn cache_note(plugin: &Path) -> String {
    format!("plugin {}", plugin.display())
}

/// What [`run_to_solution`] ended with.
pub struct SolveOutcome {
    /// The solution, unless every device failed.
    pub solution: Option<Solution>,
    /// Statistics at the end.
    pub stats: Option<Stats>,
    /// Wall time from `set_work` to the solution.
    pub elapsed: Duration,
}

/// Sets `spec` on the dispatcher and waits for the first solution, showing statistics and
/// warnings on stderr; then stops the dispatcher.
pub fn run_to_solution(dispatcher: Dispatcher, spec: WorkSpec, status: StatusMode) -> SolveOutcome {
    let mut printer = StatusPrinter::new(status);
    let job_id = spec.job_id;
    let started = Instant::now();
    dispatcher.set_work(spec);
    let mut solution = None;
    while let Ok(event) = dispatcher.events().recv() {
        match event {
            Event::Solution(s) if s.job_id == job_id => {
                solution = Some(s);
                break;
            }
            Event::Solution(_) | Event::Switched(_) => {}
            Event::Stats(st) => printer.show(&st),
            Event::DeviceDropped {
                label,
                plugin,
                reason,
                ..
            } => printer.message(&format!(
                "warning: device {label} ({}) dropped: {reason}",
                cache_note(&plugin)
            )),
            Event::NoDevices => break,
        }
    }
    let elapsed = started.elapsed();
    printer.finish();
    let report = dispatcher.stop();
    SolveOutcome {
        solution,
        stats: Some(report.stats),
        elapsed,
    }
}
