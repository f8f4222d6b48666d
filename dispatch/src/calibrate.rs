//! Start-up calibration: measure each device alone and candidate mixes together, then choose
//! the fastest mix and each device's batch size.
//!
//! Measurements run on the current job's message layout with an unreachable target, so no
//! batch stops early on a hit. Mixes are measured, not assumed: a CPU backend can starve the
//! host threads that feed a GPU, in which case leaving it out is faster.

use crate::cache::{cache_key, machine_fingerprint, CachedCandidate, CachedDevice, CachedPlan};
use crate::dispatcher::{DeviceSetup, Dispatcher};
use crate::error::DispatchError;
use crate::events::Measurement;
use crate::stats::rate_text;
use crate::{CalibrationCache, DeviceId};
use pow_backend_api::{DeviceKind, Job};
use std::time::{Duration, Instant};

/// How to calibrate.
#[derive(Clone, Debug)]
pub struct CalibrationSettings {
    /// Total measuring time to aim for (default 3 s).
    pub budget: Duration,
    /// Ignore a cached plan and measure again.
    pub recalibrate: bool,
    /// Where plans are cached; `None` disables the cache.
    pub cache: Option<CalibrationCache>,
    /// Shortest measuring phase.
    pub min_phase: Duration,
    /// Longest measuring phase.
    pub max_phase: Duration,
    /// Measurements taken at different times differ by noise: a mix with more devices is
    /// preferred over a faster one with fewer unless that one is faster by more than this
    /// fraction (default 0.02).
    pub mix_margin: f64,
}

impl Default for CalibrationSettings {
    fn default() -> Self {
        CalibrationSettings {
            budget: Duration::from_secs(3),
            recalibrate: false,
            cache: crate::default_cache_path().map(CalibrationCache::new),
            min_phase: Duration::from_millis(150),
            max_phase: Duration::from_secs(1),
            mix_margin: 0.02,
        }
    }
}

/// Where a plan came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanSource {
    /// Measured now.
    Measured,
    /// Read from the cache.
    Cache,
    /// Not measured: every device runs, batches adapt as they go.
    Uncalibrated,
}

impl PlanSource {
    /// Lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanSource::Measured => "measured",
            PlanSource::Cache => "cache",
            PlanSource::Uncalibrated => "uncalibrated",
        }
    }
}

/// The plan for one device.
#[derive(Clone, Debug)]
pub struct DevicePlan {
    /// Device id.
    pub id: DeviceId,
    /// Label.
    pub label: String,
    /// Attempts per second alone.
    pub solo_rate: f64,
    /// Attempts per second within the chosen mix (0 when left out).
    pub mix_rate: f64,
    /// Longest time measured from a cancel to the device's return.
    pub cancel_latency: Option<Duration>,
    /// Target batch duration.
    pub batch_time: Duration,
    /// Batch size, indexes.
    pub batch: u64,
    /// Whether it is in the chosen mix.
    pub enabled: bool,
    /// Why it failed during calibration (it is then dropped).
    pub failure: Option<String>,
    /// It was still in its first batch when its phase ended, so it was not measured; it
    /// runs anyway once that batch returns (or is abandoned at its deadline).
    pub unmeasured: bool,
}

/// A mix that was measured (or a single device alone).
#[derive(Clone, Debug)]
pub struct Candidate {
    /// The devices run together.
    pub devices: Vec<DeviceId>,
    /// Their summed rate, attempts per second.
    pub rate: f64,
    /// Each one's rate in that mix, in the order of `devices`.
    pub per_device: Vec<f64>,
}

/// The outcome of [`calibrate`]: which devices run and how big their batches are.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Per device, by id.
    pub devices: Vec<DevicePlan>,
    /// The chosen mix.
    pub mix: Vec<DeviceId>,
    /// Its measured rate.
    pub mix_rate: f64,
    /// Sum of the solo rates of the devices that work.
    pub solo_sum: f64,
    /// Every mix measured, fastest first.
    pub candidates: Vec<Candidate>,
    /// Measured, cached or uncalibrated.
    pub source: PlanSource,
    /// Time spent measuring.
    pub spent: Duration,
}

impl Plan {
    /// A plan that runs every device with adaptive batches (no measurement).
    pub fn uncalibrated(d: &Dispatcher) -> Plan {
        Plan {
            devices: d
                .devices()
                .iter()
                .enumerate()
                .map(|(id, m)| DevicePlan {
                    id,
                    label: m.label.clone(),
                    solo_rate: 0.0,
                    mix_rate: 0.0,
                    cancel_latency: None,
                    batch_time: d.config().batch_time,
                    batch: d.config().initial_batch,
                    enabled: true,
                    failure: None,
                    unmeasured: true,
                })
                .collect(),
            mix: (0..d.devices().len()).collect(),
            mix_rate: 0.0,
            solo_sum: 0.0,
            candidates: Vec::new(),
            source: PlanSource::Uncalibrated,
            spent: Duration::ZERO,
        }
    }

    /// Gives the plan to the dispatcher: devices outside the mix are left idle, the others
    /// get their batch sizes.
    pub fn apply(&self, d: &Dispatcher) {
        d.configure(
            self.devices
                .iter()
                .filter(|p| p.failure.is_none())
                .map(|p| {
                    let rate = if p.mix_rate > 0.0 {
                        p.mix_rate
                    } else {
                        p.solo_rate
                    };
                    (
                        p.id,
                        DeviceSetup {
                            enabled: p.enabled,
                            rate: (rate > 0.0).then_some(rate),
                            batch_time: p.batch_time,
                        },
                    )
                })
                .collect(),
        );
    }

    /// Human-readable lines: each device's measurements, the mixes tried and the choice.
    pub fn describe(&self) -> Vec<String> {
        if self.source == PlanSource::Uncalibrated {
            let names: Vec<&str> = self.devices.iter().map(|p| p.label.as_str()).collect();
            return vec![format!(
                "calibration skipped: every device runs ({}), batch sizes adapt as they go",
                names.join(", ")
            )];
        }
        let mut out = vec![format!(
            "calibration ({}, {:.2} s):",
            self.source.as_str(),
            self.spent.as_secs_f64()
        )];
        for p in &self.devices {
            let latency = p.cancel_latency.map_or("-".to_string(), |l| {
                format!("{:.1} ms", l.as_secs_f64() * 1e3)
            });
            match &p.failure {
                Some(f) => out.push(format!("  {:<14} failed: {f}", p.label)),
                None if p.unmeasured && self.source != PlanSource::Uncalibrated => out.push(
                    format!(
                        "  {:<14} not measured: still in its first batch; runs when it returns",
                        p.label
                    ),
                ),
                None => out.push(format!(
                    "  {:<14} alone {:>12}  in mix {:>12}  cancel {latency:>9}  batch {} ({:.0} ms){}",
                    p.label,
                    rate_text(p.solo_rate),
                    rate_text(p.mix_rate),
                    p.batch,
                    p.batch_time.as_secs_f64() * 1e3,
                    if p.enabled { "" } else { "  [left out]" }
                )),
            }
        }
        for c in &self.candidates {
            let names: Vec<&str> = c
                .devices
                .iter()
                .map(|id| self.devices[*id].label.as_str())
                .collect();
            out.push(format!(
                "  mix {{{}}}: {}",
                names.join(", "),
                rate_text(c.rate)
            ));
        }
        let names: Vec<&str> = self
            .mix
            .iter()
            .map(|id| self.devices[*id].label.as_str())
            .collect();
        out.push(format!(
            "  chosen {{{}}}: {} (sum of solo rates {})",
            names.join(", "),
            rate_text(self.mix_rate),
            rate_text(self.solo_sum)
        ));
        out
    }
}

/// The message layout of a job (what speed depends on), for the cache key.
pub fn job_shape(job: &Job) -> String {
    format!(
        "prefix {} suffix {} rotate {}",
        job.prefix.len(),
        job.suffix.len(),
        job.mapping.rotate_left_bits
    )
}

fn batch_time_for(d: &Dispatcher, latency: Option<Duration>) -> Duration {
    let cfg = d.config();
    match latency {
        // A device that does not stop within the cancel budget gets batches short enough
        // that finishing one is itself fast enough.
        Some(l) if l > cfg.cancel_budget => cfg.batch_time.min(cfg.cancel_budget.mul_f64(0.8)),
        _ => cfg.batch_time,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Measures the dispatcher's devices on `job`'s layout (unless a cached plan fits), chooses
/// the mix and applies it. The dispatcher must be idle. Devices that fail while being
/// measured are dropped; none left is an error.
pub fn calibrate(
    d: &Dispatcher,
    job: &Job,
    settings: &CalibrationSettings,
) -> Result<Plan, DispatchError> {
    let metas = d.devices();
    let fingerprints: Vec<String> = metas.iter().map(|m| m.fingerprint.clone()).collect();
    let key = cache_key(&machine_fingerprint(), &job_shape(job), &fingerprints);
    if !settings.recalibrate {
        if let Some(plan) = settings
            .cache
            .as_ref()
            .and_then(|c| c.load(&key))
            .and_then(|cached| from_cache(d, &cached))
        {
            plan.apply(d);
            return Ok(plan);
        }
    }
    let plan = measure_plan(d, job, settings)?;
    plan.apply(d);
    if let Some(cache) = &settings.cache {
        if plan
            .devices
            .iter()
            .all(|p| p.failure.is_none() && !p.unmeasured)
        {
            // A cache that cannot be written only costs a calibration next time.
            let _ = cache.store(&key, to_cache(d, &plan));
        }
    }
    Ok(plan)
}

/// Cancel latencies and failures seen over the phases.
struct Tracker {
    latency: Vec<Option<Duration>>,
    failure: Vec<Option<String>>,
}

impl Tracker {
    fn note(&mut self, m: &Measurement) {
        for dm in &m.devices {
            if let Some(l) = dm.cancel_latency {
                self.latency[dm.id] = Some(self.latency[dm.id].map_or(l, |x| x.max(l)));
            }
            if let Some(f) = &dm.failure {
                self.failure[dm.id] = Some(f.clone());
            }
        }
    }
}

fn measure_plan(
    d: &Dispatcher,
    job: &Job,
    settings: &CalibrationSettings,
) -> Result<Plan, DispatchError> {
    let began = Instant::now();
    let metas = d.devices();
    let n = metas.len();
    let mut probe = job.clone();
    probe.target = [0; 4];
    let mix_phases = if n >= 3 { 2 } else { usize::from(n == 2) };
    // Each phase also spends a little on warm-up and on the closing cancel.
    let phase = (settings.budget.mul_f64(0.9) / (n + mix_phases).max(1) as u32)
        .clamp(settings.min_phase, settings.max_phase);

    let mut t = Tracker {
        latency: vec![None; n],
        failure: vec![None; n],
    };
    let mut solo = vec![0.0; n];
    let mut unmeasured = vec![false; n];
    for id in 0..n {
        let m = d.measure(&probe, &[id], phase)?;
        t.note(&m);
        if let Some(x) = m.devices.first() {
            unmeasured[id] = x.unfinished && x.busy.is_zero();
            if x.failure.is_none() && !unmeasured[id] {
                solo[id] = x.rate;
            }
        }
    }
    let alive: Vec<DeviceId> = (0..n)
        .filter(|id| t.failure[*id].is_none() && solo[*id] > 0.0)
        .collect();
    if alive.is_empty() && !unmeasured.iter().any(|u| *u) {
        return Err(DispatchError::NoDevices);
    }
    let mut candidates: Vec<Candidate> = alive
        .iter()
        .map(|id| Candidate {
            devices: vec![*id],
            rate: solo[*id],
            per_device: vec![solo[*id]],
        })
        .collect();
    let mut sets = Vec::new();
    if alive.len() >= 2 {
        sets.push(alive.clone());
    }
    if alive.len() >= 3 {
        // Leave one device out, CPUs first (they compete with GPU feeder threads), then the
        // slowest, as long as the budget allows.
        let mut order = alive.clone();
        order.sort_by(|a, b| {
            let not_cpu = |id: &DeviceId| metas[*id].kind != DeviceKind::Cpu;
            not_cpu(a)
                .cmp(&not_cpu(b))
                .then(solo[*a].total_cmp(&solo[*b]))
        });
        for out in order {
            sets.push(alive.iter().copied().filter(|id| *id != out).collect());
        }
    }
    for (k, set) in sets.into_iter().enumerate() {
        if k > 0 && began.elapsed() + phase > settings.budget {
            break;
        }
        let m = d.measure(&probe, &set, phase)?;
        t.note(&m);
        if m.devices.iter().all(|x| x.failure.is_none()) {
            candidates.push(Candidate {
                devices: set,
                rate: m.total_rate(),
                per_device: m.devices.iter().map(|x| x.rate).collect(),
            });
        }
    }
    let Tracker { latency, failure } = t;
    // A device may have failed during a mix phase.
    candidates.retain(|c| c.devices.iter().all(|id| failure[*id].is_none()));
    candidates.sort_by(|a, b| b.rate.total_cmp(&a.rate));
    let best = candidates.first().cloned().unwrap_or(Candidate {
        devices: Vec::new(),
        rate: 0.0,
        per_device: Vec::new(),
    });

    let devices = metas
        .iter()
        .enumerate()
        .map(|(id, m)| {
            let mix_rate = best
                .devices
                .iter()
                .position(|x| *x == id)
                .map_or(0.0, |p| best.per_device[p]);
            let batch_time = batch_time_for(d, latency[id]);
            let rate = if mix_rate > 0.0 { mix_rate } else { solo[id] };
            DevicePlan {
                id,
                label: m.label.clone(),
                solo_rate: solo[id],
                mix_rate,
                cancel_latency: latency[id],
                batch_time,
                batch: if rate > 0.0 {
                    ((rate * batch_time.as_secs_f64()) as u64).max(1)
                } else {
                    d.config().initial_batch
                },
                enabled: best.devices.contains(&id) || (unmeasured[id] && failure[id].is_none()),
                failure: failure[id].clone(),
                unmeasured: unmeasured[id],
            }
        })
        .collect();
    let mut mix = best.devices.clone();
    mix.extend((0..n).filter(|id| unmeasured[*id] && t_failure_free(&failure, *id)));
    Ok(Plan {
        devices,
        mix,
        mix_rate: best.rate,
        solo_sum: alive.iter().map(|id| solo[*id]).sum(),
        candidates,
        source: PlanSource::Measured,
        spent: began.elapsed(),
    })
}

fn t_failure_free(failure: &[Option<String>], id: DeviceId) -> bool {
    failure[id].is_none()
}

fn to_cache(d: &Dispatcher, plan: &Plan) -> CachedPlan {
    let fp = |id: &DeviceId| d.devices()[*id].fingerprint.clone();
    CachedPlan {
        created_unix: unix_now(),
        devices: plan
            .devices
            .iter()
            .map(|p| CachedDevice {
                fingerprint: fp(&p.id),
                label: p.label.clone(),
                solo_rate: p.solo_rate,
                mix_rate: p.mix_rate,
                cancel_latency_ms: p.cancel_latency.map(|l| l.as_secs_f64() * 1e3),
                enabled: p.enabled,
            })
            .collect(),
        candidates: plan
            .candidates
            .iter()
            .map(|c| CachedCandidate {
                devices: c.devices.iter().map(fp).collect(),
                rate: c.rate,
                per_device: c.per_device.clone(),
            })
            .collect(),
        mix_rate: plan.mix_rate,
        solo_sum: plan.solo_sum,
    }
}

fn from_cache(d: &Dispatcher, cached: &CachedPlan) -> Option<Plan> {
    let metas = d.devices();
    let id_of = |f: &str| metas.iter().position(|m| m.fingerprint == f);
    if cached.devices.len() != metas.len() {
        return None;
    }
    let mut devices = Vec::new();
    for (id, m) in metas.iter().enumerate() {
        let c = cached
            .devices
            .iter()
            .find(|c| c.fingerprint == m.fingerprint)?;
        let latency = c
            .cancel_latency_ms
            .map(|ms| Duration::from_secs_f64(ms / 1e3));
        let batch_time = batch_time_for(d, latency);
        let rate = if c.mix_rate > 0.0 {
            c.mix_rate
        } else {
            c.solo_rate
        };
        devices.push(DevicePlan {
            id,
            label: m.label.clone(),
            solo_rate: c.solo_rate,
            mix_rate: c.mix_rate,
            cancel_latency: latency,
            batch_time,
            batch: ((rate * batch_time.as_secs_f64()) as u64).max(1),
            enabled: c.enabled,
            failure: None,
            unmeasured: false,
        });
    }
    let mut candidates = Vec::new();
    for c in &cached.candidates {
        candidates.push(Candidate {
            devices: c
                .devices
                .iter()
                .map(|f| id_of(f))
                .collect::<Option<Vec<_>>>()?,
            rate: c.rate,
            per_device: c.per_device.clone(),
        });
    }
    Some(Plan {
        mix: devices.iter().filter(|p| p.enabled).map(|p| p.id).collect(),
        devices,
        mix_rate: cached.mix_rate,
        solo_sum: cached.solo_sum,
        candidates,
        source: PlanSource::Cache,
        spent: Duration::ZERO,
    })
}
