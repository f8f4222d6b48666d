//! `pow_host._native`: the Rust side of the Python package. The Python layer (`pow_host/`)
//! checks and converts arguments, loops over [`Solver::poll`] (so that `KeyboardInterrupt` and
//! progress callbacks run between short waits with the GIL released) and wraps results in
//! typed objects; everything here reuses the `pow-host` library: the plugin loader, device
//! selection, the dispatcher with its calibration and verification, and the JSON structs.

use pow_backend_api::Job;
use pow_dispatch::{CalibrationCache, CalibrationSettings, Config, Dispatcher, Event, WorkSpec};
use pow_host::calibration::calibrate_dispatcher;
use pow_host::dispatch_devices::open_dispatch_devices;
use pow_host::output::{BackendsOutput, StatsEvent};
use pow_host::plugins::{load_all_with, plugin_dirs, LoadPolicy, LoadReport};
use pow_host::selection::Selection;
use pow_host::Failure;
use pow_seal::{Challenge, SealOrder, Work};
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Mutex;
use std::time::{Duration, Instant};

create_exception!(
    _native,
    BackendError,
    PyRuntimeError,
    "A backend or device failed (no device left, a plugin that cannot start)."
);

/// Bad input is a `ValueError`, the rest a `BackendError`; the message is the CLI's.
fn to_py(f: Failure) -> PyErr {
    if f.code == 2 {
        PyValueError::new_err(f.message)
    } else {
        BackendError::new_err(f.message)
    }
}

/// Loads the plugins of the default folders, `POW_HOST_PLUGIN_PATH` and `dirs`, and the
/// selection `backends` (`"all"` or a comma-separated list) with `threads` and `options`
/// (`"BACKEND.KEY=VALUE"`).
fn load(
    dirs: &[PathBuf],
    backends: &str,
    threads: Option<usize>,
    options: &[String],
) -> Result<(LoadReport, Selection), Failure> {
    let mut selection = Selection::new(backends);
    if let Some(t) = threads {
        if t == 0 || t > 4096 {
            return Err(Failure::usage("threads must be between 1 and 4096"));
        }
        selection.common.push(("threads".into(), t.to_string()));
    }
    for o in options {
        selection.add_backend_option(o)?;
    }
    let report = load_all_with(&plugin_dirs(dirs), LoadPolicy::default());
    Ok((report, selection))
}

/// `pow-host backends --json` as a string.
#[pyfunction]
#[pyo3(signature = (plugin_dirs, backends="all"))]
fn backends_json(plugin_dirs: Vec<PathBuf>, backends: &str) -> PyResult<String> {
    let (report, selection) = load(&plugin_dirs, backends, None, &[]).map_err(to_py)?;
    Ok(serde_json::to_string(&BackendsOutput::collect(&report, &selection)).expect("JSON"))
}

/// `pow-host bench --json` as a string: the selected devices measured on the sample
/// `challenge` with phases of `seconds` (the GIL released).
#[pyfunction]
#[pyo3(signature = (plugin_dirs, backends="all", threads=None, options=Vec::new(), challenge="v1", seconds=5.0, switches=20))]
#[allow(clippy::too_many_arguments)]
fn bench_json(
    py: Python<'_>,
    plugin_dirs: Vec<PathBuf>,
    backends: &str,
    threads: Option<usize>,
    options: Vec<String>,
    challenge: &str,
    seconds: f64,
    switches: usize,
) -> PyResult<String> {
    pow_host::bench::check_seconds(seconds).map_err(to_py)?;
    let sample = pow_host::bench::sample_challenge(challenge).map_err(to_py)?;
    let (report, selection) = load(&plugin_dirs, backends, threads, &options).map_err(to_py)?;
    let (devices, _warnings) = open_dispatch_devices(&selection, &report.plugins).map_err(to_py)?;
    let bench = py
        .allow_threads(|| {
            pow_host::bench::run_bench(devices, &sample, Config::default(), seconds, switches)
        })
        .map_err(to_py)?;
    Ok(serde_json::to_string(&bench.output).expect("JSON"))
}

/// The plugin files that were not loaded from the default folders, `POW_HOST_PLUGIN_PATH` and
/// `plugin_dirs`: `[(file, reason)]`.
#[pyfunction]
fn skipped_plugins(plugin_dirs: Vec<PathBuf>) -> Vec<(String, String)> {
    let report = load_all_with(
        &pow_host::plugins::plugin_dirs(&plugin_dirs),
        LoadPolicy::default(),
    );
    report
        .skipped
        .iter()
        .chain(&report.insecure)
        .map(|s| (s.path.display().to_string(), s.reason.clone()))
        .collect()
}

/// The 32-byte public key of an SS58 address or a 0x-hex key.
#[pyfunction]
fn parse_key<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyBytes>> {
    let key = pow_host::keys::parse_public_key(text)
        .map_err(|e| PyValueError::new_err(format!("key {text:?}: {e}")))?;
    Ok(PyBytes::new(py, &key))
}

/// The 32 bytes of a 0x-hex block hash.
#[pyfunction]
fn parse_hash<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyBytes>> {
    let hash = pow_seal::parse_bytes32(text)
        .map_err(|e| PyValueError::new_err(format!("block hash: {e}")))?;
    Ok(PyBytes::new(py, &hash))
}

/// The seal of `nonce` for a challenge (the reference library), for checks from Python.
#[pyfunction]
#[pyo3(signature = (kind, nonce, block_hash, hotkey=None, coldkey=None, netuid=0, seal_order="le"))]
#[allow(clippy::too_many_arguments)]
fn seal<'py>(
    py: Python<'py>,
    kind: &str,
    nonce: u64,
    block_hash: [u8; 32],
    hotkey: Option<[u8; 32]>,
    coldkey: Option<[u8; 32]>,
    netuid: u16,
    seal_order: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let c = challenge(kind, netuid, block_hash, hotkey, coldkey, seal_order).map_err(to_py)?;
    Ok(PyBytes::new(py, &c.seal(nonce)))
}

/// A challenge from its parts.
fn challenge(
    kind: &str,
    netuid: u16,
    block_hash: [u8; 32],
    hotkey: Option<[u8; 32]>,
    coldkey: Option<[u8; 32]>,
    seal_order: &str,
) -> Result<Challenge, Failure> {
    let need = |k: Option<[u8; 32]>, name: &str| {
        k.ok_or_else(|| Failure::usage(format!("the {kind} challenge needs the {name}")))
    };
    match kind {
        "v1" => Challenge::v1(
            netuid,
            block_hash,
            need(hotkey, "hotkey")?,
            need(coldkey, "coldkey")?,
        )
        .map_err(|e| Failure::usage(e.to_string())),
        "legacy" => Ok(Challenge::Legacy {
            block_hash,
            hotkey: need(hotkey, "hotkey")?,
            seal_order: seal_order
                .parse::<SealOrder>()
                .map_err(|e| Failure::usage(e.to_string()))?,
        }),
        "faucet" => Ok(Challenge::Faucet {
            block_hash,
            coldkey: need(coldkey, "coldkey")?,
        }),
        other => Err(Failure::usage(format!(
            "unknown challenge {other:?}: v1, legacy or faucet"
        ))),
    }
}

/// Devices kept open across challenges: the dispatcher, calibrated on the first challenge.
#[pyclass(module = "pow_host._native")]
struct Solver {
    /// Behind a mutex so that it can be used with the GIL released (pyclasses are `Sync`).
    dispatcher: Option<Mutex<Dispatcher>>,
    calibration: Option<CalibrationSettings>,
    work: Option<Work>,
    job_id: u64,
    set_at: Instant,
    labels: Vec<String>,
}

/// A solution: `(job_id, nonce, seal, attempts, seconds, device)`.
type Found = (u64, u64, Vec<u8>, u64, f64, String);

#[pymethods]
impl Solver {
    /// Opens the selected devices (nothing runs until the first challenge).
    #[new]
    #[pyo3(signature = (plugin_dirs, backends="all", threads=None, options=Vec::new(), calibrate_seconds=3.0, batch=None))]
    fn new(
        plugin_dirs: Vec<PathBuf>,
        backends: &str,
        threads: Option<usize>,
        options: Vec<String>,
        calibrate_seconds: f64,
        batch: Option<u64>,
    ) -> PyResult<Solver> {
        if !(0.0..=3600.0).contains(&calibrate_seconds) {
            return Err(PyValueError::new_err(
                "calibrate_seconds must be between 0 and 3600",
            ));
        }
        let (report, selection) = load(&plugin_dirs, backends, threads, &options).map_err(to_py)?;
        let (devices, _warnings) =
            open_dispatch_devices(&selection, &report.plugins).map_err(to_py)?;
        if devices.is_empty() {
            return Err(PyValueError::new_err(format!(
                "no devices to mine on (backends {backends:?})"
            )));
        }
        let config = Config {
            fixed_batch: batch.map(|b| b.max(1)),
            ..Config::default()
        };
        let dispatcher = Dispatcher::new(devices, config)
            .map_err(|e| BackendError::new_err(format!("cannot start the dispatcher: {e}")))?;
        let labels = dispatcher
            .devices()
            .iter()
            .map(|m| m.label.clone())
            .collect();
        Ok(Solver {
            dispatcher: Some(Mutex::new(dispatcher)),
            calibration: Some(CalibrationSettings {
                budget: Duration::from_secs_f64(calibrate_seconds),
                cache: pow_dispatch::default_cache_path().map(CalibrationCache::new),
                ..CalibrationSettings::default()
            }),
            work: None,
            job_id: 0,
            set_at: Instant::now(),
            labels,
        })
    }

    /// `backend:index` of every device.
    fn devices(&self) -> Vec<String> {
        self.labels.clone()
    }

    /// Switches every device to a new challenge (in-flight work is cancelled); returns the
    /// new job id. Solutions of earlier challenges are never returned after this.
    #[pyo3(signature = (kind, difficulty, block_hash, hotkey=None, coldkey=None, netuid=0, seal_order="le", nonce_start=None, sequential=false))]
    #[allow(clippy::too_many_arguments)]
    fn set_challenge(
        &mut self,
        py: Python<'_>,
        kind: &str,
        difficulty: u64,
        block_hash: [u8; 32],
        hotkey: Option<[u8; 32]>,
        coldkey: Option<[u8; 32]>,
        netuid: u16,
        seal_order: &str,
        nonce_start: Option<u64>,
        sequential: bool,
    ) -> PyResult<u64> {
        let c = challenge(kind, netuid, block_hash, hotkey, coldkey, seal_order).map_err(to_py)?;
        let work = Work::new(c, difficulty);
        let mut job = Job::from_work(&work);
        if sequential {
            // Nonces in plain ascending order (the CLI's `--nonce-order sequential`).
            job = job.with_mapping(pow_backend_api::NonceMapping::IDENTITY);
        }
        let calibration = self.calibration.take();
        let d = self.running()?;
        if let Some(settings) = calibration {
            py.allow_threads(|| calibrate_dispatcher(&d.lock().unwrap(), &job, &settings, false))
                .map_err(to_py)?;
        }
        self.job_id += 1;
        let start = job.mapping.index(nonce_start.unwrap_or_else(rand::random));
        let spec = WorkSpec::new(self.job_id, job)
            .start_index(start)
            .difficulty(work.difficulty);
        self.running()?.lock().unwrap().set_work(spec);
        self.work = Some(work);
        self.set_at = Instant::now();
        Ok(self.job_id)
    }

    /// Waits up to `seconds` (the GIL released) for a solution of the current challenge:
    /// `(job_id, nonce, seal, attempts, seconds, device)` or `None`.
    fn poll(&mut self, py: Python<'_>, seconds: f64) -> PyResult<Option<Found>> {
        let end = Instant::now() + Duration::from_secs_f64(seconds.max(0.0));
        loop {
            let d = self.running()?;
            let wait = end.saturating_duration_since(Instant::now());
            let event = py.allow_threads(|| d.lock().unwrap().events().recv_timeout(wait));
            match event {
                Ok(Event::Solution(s)) if s.job_id == self.job_id => {
                    let work = self.work.as_ref().expect("a challenge is set");
                    // The dispatcher verified the hit against the job; check it against the
                    // challenge once more before it leaves for Python.
                    if !work.verify_claim(s.hit.nonce, &s.hit.seal) {
                        continue;
                    }
                    return Ok(Some((
                        s.job_id,
                        s.hit.nonce,
                        s.hit.seal.to_vec(),
                        s.attempts,
                        self.set_at.elapsed().as_secs_f64(),
                        s.label,
                    )));
                }
                Ok(Event::NoDevices) => {
                    return Err(BackendError::new_err(
                        "every device failed; no device is left",
                    ))
                }
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Ok(None),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(BackendError::new_err("the dispatcher stopped"))
                }
            }
            if Instant::now() >= end {
                return Ok(None);
            }
        }
    }

    /// The current statistics as JSON (the CLI's `{"event":"stats",...}` line).
    fn stats_json(&self) -> PyResult<String> {
        let stats = self
            .running()?
            .lock()
            .unwrap()
            .stats()
            .ok_or_else(|| BackendError::new_err("the dispatcher stopped"))?;
        Ok(serde_json::to_string(&StatsEvent::from(&stats)).expect("JSON"))
    }

    /// Cancels the current challenge (devices stay open).
    fn clear(&mut self) -> PyResult<()> {
        self.running()?.lock().unwrap().clear_work();
        self.work = None;
        Ok(())
    }

    /// Stops every device; the solver cannot be used afterwards.
    fn stop(&mut self, py: Python<'_>) {
        if let Some(d) = self.dispatcher.take() {
            let d = d.into_inner().unwrap_or_else(|e| e.into_inner());
            py.allow_threads(|| {
                d.stop();
            });
        }
    }
}

impl Solver {
    fn running(&self) -> PyResult<&Mutex<Dispatcher>> {
        self.dispatcher
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("the solver was stopped"))
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BackendError", m.py().get_type::<BackendError>())?;
    m.add_function(wrap_pyfunction!(backends_json, m)?)?;
    m.add_function(wrap_pyfunction!(bench_json, m)?)?;
    m.add_function(wrap_pyfunction!(skipped_plugins, m)?)?;
    m.add_function(wrap_pyfunction!(parse_key, m)?)?;
    m.add_function(wrap_pyfunction!(parse_hash, m)?)?;
    m.add_function(wrap_pyfunction!(seal, m)?)?;
    m.add_class::<Solver>()?;
    Ok(())
}
