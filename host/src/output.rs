//! The JSON the CLI prints on stdout with `--json`: one schema per command, each a
//! `#[derive(Serialize)]` struct. docs/json.md describes every field; programs and the tests
//! parse them, so names, nesting and value types are part of the interface.
//!
//! Values that are absent are `null` where the field is always present (`note`, `failure`,
//! `cancel_latency_ms`, `switch_latency_ms`, `netuid`), and left out where it says so below
//! (the chain commands' context before it is known).

use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// backends

/// `pow-host backends --json`: the loaded plugins, their devices and the refused files.
#[derive(Clone, Debug, Serialize)]
pub struct BackendsOutput {
    /// The host's backend interface version.
    pub interface_version: u32,
    /// The host's `pow-backend-api` version.
    pub api_version: String,
    /// Loaded backends, in search order.
    pub backends: Vec<BackendOutput>,
    /// Plugin files that were not loaded.
    pub skipped: Vec<PluginFileOutput>,
    /// Plugin files loaded although they failed the trust check (`--allow-insecure-plugins`).
    pub insecure: Vec<PluginFileOutput>,
}

impl BackendsOutput {
    /// What `report`'s plugins offer under `selection`'s options: each backend's devices, or
    /// why it has none; and the files refused.
    pub fn collect(
        report: &crate::plugins::LoadReport,
        selection: &crate::selection::Selection,
    ) -> BackendsOutput {
        let backends = report
            .plugins
            .iter()
            .map(|p| {
                let options = selection.options_for(&p.name);
                let (devices, error) = match p.list_devices(&options) {
                    Ok(d) => (d, None),
                    Err(e) => (Vec::new(), Some(e.to_string())),
                };
                let note = if devices.is_empty() && error.is_none() {
                    p.unavailable_reason(&options)
                } else {
                    error
                };
                BackendOutput {
                    name: p.name.clone(),
                    file: p.path.display().to_string(),
                    description: p.description.clone(),
                    api_version: p.api_version.clone(),
                    interface_version: p.interface_version,
                    note,
                    devices: devices.iter().map(DeviceOutput::of).collect(),
                }
            })
            .collect();
        let files = |list: &[crate::plugins::Skipped]| -> Vec<PluginFileOutput> {
            list.iter()
                .map(|s| PluginFileOutput {
                    file: s.path.display().to_string(),
                    reason: s.reason.clone(),
                })
                .collect()
        };
        BackendsOutput {
            interface_version: pow_backend_api::INTERFACE_VERSION,
            api_version: pow_backend_api::ffi::api_package_version().to_string(),
            backends,
            skipped: files(&report.skipped),
            insecure: files(&report.insecure),
        }
    }
}

/// One loaded backend in [`BackendsOutput`].
#[derive(Clone, Debug, Serialize)]
pub struct BackendOutput {
    /// Backend name (what `--backends` takes).
    pub name: String,
    /// The library file.
    pub file: String,
    /// One line about the backend.
    pub description: String,
    /// The `pow-backend-api` version it was built with.
    pub api_version: String,
    /// Its backend interface version.
    pub interface_version: u32,
    /// Why it lists no devices (an error, or the backend's reason), else `null`.
    pub note: Option<String>,
    /// The devices it offers with the selected options.
    pub devices: Vec<DeviceOutput>,
}

/// One device of a backend in [`BackendOutput`].
#[derive(Clone, Debug, Serialize)]
pub struct DeviceOutput {
    /// Index within the backend (what `--cuda-devices` and the like take).
    pub index: u32,
    /// Device name.
    pub name: String,
    /// `cpu`, `gpu` or `other`.
    pub kind: String,
    /// Cores, threads or compute units.
    pub compute_units: u32,
    /// Backend-specific detail (driver, path, ...): the first line of the device's detail.
    pub detail: String,
    /// The rest of the device's detail (`-v`), such as the rates the CPU backend chose its path
    /// by, else `null`.
    pub more_detail: Option<String>,
}

impl DeviceOutput {
    /// A listed device.
    fn of(d: &pow_backend_api::DeviceInfo) -> DeviceOutput {
        let (detail, more) = d.detail_parts();
        DeviceOutput {
            index: d.index,
            name: d.name.to_string(),
            kind: d.kind.as_str().to_string(),
            compute_units: d.compute_units,
            detail: detail.to_string(),
            more_detail: more.map(str::to_string),
        }
    }
}

/// A plugin file and what was wrong with it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginFileOutput {
    /// The file.
    pub file: String,
    /// One-line reason.
    pub reason: String,
}

// ---------------------------------------------------------------------------------------------
// solve

/// `pow-host solve --json`: the solution found.
#[derive(Clone, Debug, Serialize)]
pub struct SolveOutput {
    /// `v1`, `legacy` or `faucet`.
    pub challenge: String,
    /// The nonce that passes.
    pub nonce: u64,
    /// Its seal, 0x-hex.
    pub seal: String,
    /// Byte order the seal is compared in: `be` or `le`.
    pub seal_order: String,
    /// The difficulty solved.
    pub difficulty: u64,
    /// Attempts made by all devices.
    pub attempts: u64,
    /// Wall time of the search (after calibration), seconds.
    pub seconds: f64,
    /// `attempts / seconds`.
    pub hashes_per_second: f64,
    /// `backend:index` of the device that found it.
    pub device: String,
    /// The first nonce tried.
    pub nonce_start: u64,
    /// The devices that ran (`backend:index`).
    pub mix: Vec<String>,
    /// Where the plan came from: `measured`, `cache` or `uncalibrated`.
    pub calibration: String,
}

// ---------------------------------------------------------------------------------------------
// bench

/// `pow-host bench --json` (pretty-printed): calibration, the dispatched mix and challenge
/// switches.
#[derive(Clone, Debug, Serialize)]
pub struct BenchOutput {
    /// `v1`, `legacy` or `faucet`.
    pub challenge: String,
    /// Seconds per measuring phase (`--seconds`).
    pub seconds: f64,
    /// Every device, by id.
    pub devices: Vec<BenchDeviceOutput>,
    /// All working devices together, as measured during calibration (attempts per second).
    pub total_hashes_per_second: f64,
    /// The chosen mix (`backend:index`).
    pub mix: Vec<String>,
    /// The chosen mix's rate as calibrated.
    pub calibrated_mix_hashes_per_second: f64,
    /// The chosen mix's rate when dispatched.
    pub mix_hashes_per_second: f64,
    /// Every mix measured, fastest first.
    pub candidates: Vec<CandidateOutput>,
    /// Challenge switches timed.
    pub switches: usize,
    /// Batches those switches cancelled.
    pub switch_cancelled_batches: usize,
    /// Switch latencies, or `null` without switches.
    pub switch_latency_ms: Option<LatencyOutput>,
}

/// One device in [`BenchOutput`]. Rates are attempts per second, rounded.
#[derive(Clone, Debug, Serialize)]
pub struct BenchDeviceOutput {
    /// Backend name.
    pub backend: String,
    /// Index within the backend.
    pub device: u32,
    /// Device name.
    pub name: String,
    /// Backend-specific detail.
    pub detail: String,
    /// Alone.
    pub hashes_per_second: f64,
    /// With all working devices together.
    pub together_hashes_per_second: f64,
    /// Whether the chosen mix uses it.
    pub in_mix: bool,
    /// In the dispatched mix.
    pub mix_hashes_per_second: f64,
    /// Time to stop a batch on cancel, milliseconds (`null`: not measured).
    pub cancel_latency_ms: Option<f64>,
    /// Its batch size (nonce indexes per search call).
    pub batch: u64,
    /// Why it failed, else `null`.
    pub failure: Option<String>,
}

/// One measured mix in [`BenchOutput`].
#[derive(Clone, Debug, Serialize)]
pub struct CandidateOutput {
    /// Its devices (`backend:index`).
    pub devices: Vec<String>,
    /// Its rate, attempts per second.
    pub hashes_per_second: f64,
}

/// Challenge-switch latency summary in [`BenchOutput`], milliseconds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LatencyOutput {
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Maximum.
    pub max: f64,
}

// ---------------------------------------------------------------------------------------------
// soak

/// `pow-host soak --json`: the soak's accounting.
#[derive(Clone, Debug, Serialize)]
pub struct SoakOutput {
    /// Wall time, seconds.
    pub seconds: f64,
    /// Challenge switches.
    pub switches: u64,
    /// Jobs whose index space was checked.
    pub jobs_checked: u64,
    /// Indexes handed out but never searched.
    pub lost_indexes: u64,
    /// Indexes searched more than once.
    pub duplicated_indexes: u64,
    /// Attempts over all jobs.
    pub attempts: u64,
    /// `attempts / seconds`.
    pub hashes_per_second: f64,
    /// Solutions found.
    pub solutions: u64,
    /// Solutions that failed verification against their challenge.
    pub invalid_solutions: u64,
    /// Devices dropped (injected failures).
    pub devices_dropped: Vec<SoakDropOutput>,
    /// Resident memory samples: `[seconds, KiB]` pairs.
    pub rss_kib: Vec<(u64, u64)>,
    /// Resident memory growth from the first sample after 10 s to the last, KiB.
    pub rss_growth_kib_after_warmup: i64,
}

/// A device dropped during the soak.
#[derive(Clone, Debug, Serialize)]
pub struct SoakDropOutput {
    /// `backend:index`.
    pub device: String,
    /// Why.
    pub reason: String,
    /// When, seconds after the start.
    pub at_seconds: f64,
}

// ---------------------------------------------------------------------------------------------
// register and faucet

/// What `register` and `faucet` print with `--json`: the command's context (what is known of
/// the request) merged with its outcome, in one object.
#[derive(Clone, Debug, Serialize)]
pub struct ChainOutput<C, O> {
    /// Fields known before the outcome (network, keys, subnet).
    #[serde(flatten)]
    pub context: C,
    /// The outcome, tagged by `status`.
    #[serde(flatten)]
    pub outcome: O,
}

/// The outcome of a chain command, whichever it is.
pub trait Outcome: Serialize {
    /// The one line printed without `--json`.
    fn message(&self) -> &str;
}

/// `register`'s context. `netuid` is always present (`null` when missing); the others only
/// once known.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RegisterContext {
    /// Subnet.
    pub netuid: Option<u16>,
    /// `dev` or the endpoint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Hotkey, SS58.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hotkey: Option<String>,
    /// Coldkey, SS58.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<String>,
}

/// `faucet`'s context, each field once known.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaucetContext {
    /// `dev` or the endpoint URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// Coldkey (paid and signing), SS58.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coldkey: Option<String>,
}

/// How `register` ended well (`status`: `registered` or `already_registered`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RegisterOutcome {
    /// Registered now.
    Registered {
        /// The UID the chain gave.
        uid: u16,
        /// Block the extrinsic was included in.
        block: u64,
        /// Its hash, 0x-hex.
        block_hash: String,
        /// The work block the proof was made for.
        work_block: u64,
        /// Nonce.
        nonce: u64,
        /// Seal, 0x-hex.
        seal: String,
        /// `v1`, `legacy-be` or `legacy-le`.
        scheme: String,
        /// Attempts made by all devices.
        attempts: u64,
        /// Wall time of mining and submitting, seconds.
        seconds: f64,
        /// The line printed without `--json`.
        message: String,
    },
    /// The hotkey already had a UID; nothing (more) was sent.
    AlreadyRegistered {
        /// Its UID.
        uid: u16,
        /// The scheme that would have been used.
        scheme: String,
        /// The line printed without `--json`.
        message: String,
    },
}

impl Outcome for RegisterOutcome {
    fn message(&self) -> &str {
        match self {
            RegisterOutcome::Registered { message, .. }
            | RegisterOutcome::AlreadyRegistered { message, .. } => message,
        }
    }
}

/// How `faucet` ended well (`status`: `funded`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FaucetOutcome {
    /// The faucet paid.
    Funded {
        /// Amount paid, rao.
        amount_rao: u64,
        /// Block the extrinsic was included in.
        block: u64,
        /// The work block the proof was made for.
        work_block: u64,
        /// Nonce.
        nonce: u64,
        /// The line printed without `--json`.
        message: String,
    },
}

impl Outcome for FaucetOutcome {
    fn message(&self) -> &str {
        match self {
            FaucetOutcome::Funded { message, .. } => message,
        }
    }
}

/// A failed chain command (`status`: `error`).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ErrorOutcome {
    /// Failed.
    Error {
        /// The one-line message (also printed on stderr as `error: ...`).
        error: String,
        /// The process exit code: 2 for bad input, 1 for failures at run time.
        exit_code: i32,
    },
}

// ---------------------------------------------------------------------------------------------
// --json event lines on stderr (solve)

/// `{"event":"stats",...}`: a statistics snapshot, one line on stderr every
/// `--stats-interval` seconds. Rates are attempts per second, times seconds.
#[derive(Clone, Debug, Serialize)]
pub struct StatsEvent {
    /// Always `stats`.
    pub event: &'static str,
    /// Current job id, or `null`.
    pub job_id: Option<u64>,
    /// Block number of the current work, or `null`.
    pub block_number: Option<u64>,
    /// Difficulty of the current work, or `null`.
    pub difficulty: Option<u64>,
    /// Time on the current job.
    pub time_spent: f64,
    /// Time since the first job started.
    pub time_spent_total: f64,
    /// Batches finished on the current job.
    pub rounds: u64,
    /// Batches finished since the start.
    pub rounds_total: u64,
    /// Attempts on the current job.
    pub attempts: u64,
    /// Attempts since the start.
    pub attempts_total: u64,
    /// Averaged rate, all devices.
    pub hash_rate: f64,
    /// `attempts_total / time_spent_total`.
    pub hash_rate_perpetual: f64,
    /// Per device.
    pub devices: Vec<DeviceStatsOutput>,
}

/// One device in a [`StatsEvent`].
#[derive(Clone, Debug, Serialize)]
pub struct DeviceStatsOutput {
    /// `backend:index`.
    pub device: String,
    /// `idle`, `working`, `dropped`, ... (the dispatcher's device state).
    pub state: String,
    /// Averaged rate.
    pub hash_rate: f64,
    /// Attempts on the current job.
    pub attempts: u64,
    /// Attempts since the start.
    pub attempts_total: u64,
    /// Batches finished on the current job.
    pub rounds: u64,
    /// Current batch size (indexes).
    pub batch: u64,
}

impl From<&pow_dispatch::Stats> for StatsEvent {
    fn from(s: &pow_dispatch::Stats) -> Self {
        StatsEvent {
            event: "stats",
            job_id: s.job_id,
            block_number: s.block_number,
            difficulty: s.difficulty,
            time_spent: s.time_spent.as_secs_f64(),
            time_spent_total: s.time_spent_total.as_secs_f64(),
            rounds: s.rounds,
            rounds_total: s.rounds_total,
            attempts: s.attempts,
            attempts_total: s.attempts_total,
            hash_rate: s.hash_rate,
            hash_rate_perpetual: s.hash_rate_perpetual,
            devices: s
                .devices
                .iter()
                .map(|d| DeviceStatsOutput {
                    device: d.label.clone(),
                    state: d.state.as_str().to_string(),
                    hash_rate: d.hash_rate,
                    attempts: d.attempts,
                    attempts_total: d.attempts_total,
                    rounds: d.rounds,
                    batch: d.batch,
                })
                .collect(),
        }
    }
}

/// `{"event":"device_dropped",...}`: a device left the run (after the plain `warning:` line).
#[derive(Clone, Debug, Serialize)]
pub struct DeviceDroppedEvent {
    /// Always `device_dropped`.
    pub event: &'static str,
    /// `backend:index`.
    pub device: String,
    /// The plugin file.
    pub plugin: String,
    /// Why.
    pub reason: String,
}

impl DeviceDroppedEvent {
    /// The event for `label` of `plugin`, dropped for `reason`.
    pub fn new(label: &str, plugin: &std::path::Path, reason: &str) -> Self {
        DeviceDroppedEvent {
            event: "device_dropped",
            device: label.to_string(),
            plugin: plugin.display().to_string(),
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_dispatch::{DeviceState, DeviceStats, Stats};
    use std::time::Duration;

    /// The event line's schema, field by field (docs/json.md).
    #[test]
    fn stats_event_has_the_documented_schema() {
        let stats = Stats {
            job_id: Some(3),
            block_number: None,
            difficulty: Some(7),
            time_spent: Duration::from_millis(1500),
            time_spent_total: Duration::from_secs(4),
            rounds: 2,
            rounds_total: 9,
            attempts: 100,
            attempts_total: 400,
            hash_rate: 66.5,
            hash_rate_perpetual: 100.0,
            devices: vec![DeviceStats {
                id: 0,
                label: "cpu:0".into(),
                state: DeviceState::Working,
                hash_rate: 66.5,
                attempts: 100,
                attempts_total: 400,
                rounds: 2,
                batch: 50,
            }],
        };
        let expected = serde_json::json!({
            "event": "stats", "job_id": 3, "block_number": null, "difficulty": 7,
            "time_spent": 1.5, "time_spent_total": 4.0, "rounds": 2, "rounds_total": 9,
            "attempts": 100, "attempts_total": 400, "hash_rate": 66.5,
            "hash_rate_perpetual": 100.0,
            "devices": [{"device": "cpu:0", "state": "working", "hash_rate": 66.5,
                "attempts": 100, "attempts_total": 400, "rounds": 2, "batch": 50}],
        });
        let typed = serde_json::to_value(StatsEvent::from(&stats)).unwrap();
        assert_eq!(typed, expected);
    }

    #[test]
    fn error_outcome_is_merged_with_its_context() {
        let out = ChainOutput {
            context: RegisterContext {
                netuid: None,
                network: Some("dev".into()),
                ..RegisterContext::default()
            },
            outcome: ErrorOutcome::Error {
                error: "bad".into(),
                exit_code: 2,
            },
        };
        assert_eq!(
            serde_json::to_value(out).unwrap(),
            serde_json::json!({"netuid": null, "network": "dev", "status": "error",
                "error": "bad", "exit_code": 2})
        );
    }
}

// --json farm lines on stderr (register, faucet, solve with --farm; worker)

/// `{"event":"<kind>",...}`: one farm event of a coordinator or a worker (for example
/// `worker_joined`, `worker_quarantined`, `lease`, `hit`); `farm` lines carry the whole
/// [`pow_farm::FarmStatus`] under `status`.
#[derive(Clone, Debug, Serialize)]
pub struct FarmEventLine {
    /// The kind of event.
    pub event: &'static str,
    /// `coordinator` or `worker`.
    pub role: &'static str,
    /// The worker it is about, if any.
    pub worker: Option<String>,
    /// The event in words.
    pub message: String,
    /// The farm (on `farm` lines).
    pub status: Option<pow_farm::FarmStatus>,
}

impl FarmEventLine {
    /// The line of a coordinator's event.
    pub fn coordinator(e: &pow_farm::FarmEvent) -> FarmEventLine {
        FarmEventLine {
            event: e.kind(),
            role: "coordinator",
            worker: e.worker().map(str::to_string),
            message: e.to_string(),
            status: match e {
                pow_farm::FarmEvent::Status(s) => Some((**s).clone()),
                _ => None,
            },
        }
    }

    /// The line of a worker's event.
    pub fn worker(id: &str, e: &pow_farm::WorkerEvent) -> FarmEventLine {
        FarmEventLine {
            event: e.kind(),
            role: "worker",
            worker: Some(id.to_string()),
            message: e.to_string(),
            status: None,
        }
    }

    /// Prints it on stderr: one JSON line, or `farm: <message>`.
    pub fn print(&self, json: bool) {
        if json {
            eprintln!("{}", serde_json::to_string(self).expect("JSON"));
        } else {
            eprintln!("farm: {}", self.message);
        }
    }
}
