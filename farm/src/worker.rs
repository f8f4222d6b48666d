//! The worker: a keyless mining machine. It follows the coordinator's announcements, mines
//! each job with its own dispatcher on leased index ranges only, asks for the next lease before
//! the current one runs out, sends back hits (until acknowledged) and a heartbeat with its
//! devices' rates. It holds no key, wallet or password: a job is public data.

#[cfg(doc)]
use crate::connect::FarmConnect;
use crate::connect::FarmLink;
use crate::error::FarmError;
use crate::metrics::Metrics;
use crate::protocol::{
    decode, encode, Announcement, DeviceRate, Heartbeat, HitAck, HitReport, HitVerdict, LeaseReply,
    LeaseRequest, ProtocolError, FORMAT_VERSION,
};
use futures::StreamExt;
use pow_dispatch::{DeviceState, Event, WorkHandle, WorkSpec};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Tuning of a worker.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The worker's id on the farm (unique per process).
    pub id: String,
    /// Host name shown in the farm status.
    pub host: String,
    /// Seconds of work asked for per lease.
    pub lease_seconds: f64,
    /// Rate assumed until the dispatcher has measured one (from calibration).
    pub initial_rate: f64,
    /// How often a heartbeat goes out.
    pub heartbeat: Duration,
    /// With no announcement for this long, the coordinator is taken as gone: idle.
    pub coordinator_timeout: Duration,
    /// Smallest lease asked for.
    pub min_lease: u64,
}

impl WorkerConfig {
    /// Defaults for worker `id` on `host`.
    pub fn new(id: &str, host: &str, initial_rate: f64) -> WorkerConfig {
        WorkerConfig {
            id: id.to_string(),
            host: host.to_string(),
            lease_seconds: 3.0,
            initial_rate,
            heartbeat: Duration::from_millis(500),
            coordinator_timeout: Duration::from_millis(3500),
            min_lease: 1 << 12,
        }
    }
}

/// What a worker reports about itself (the log, `--json` lines).
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerEvent {
    /// Mining a new job.
    Job {
        /// Coordinator instance.
        coordinator: String,
        /// Its job id.
        job_id: u64,
        /// Difficulty, if announced.
        difficulty: Option<u64>,
    },
    /// A lease arrived.
    Lease {
        /// The job.
        job_id: u64,
        /// First index.
        start: u64,
        /// Indexes.
        len: u64,
    },
    /// Nothing to mine.
    Idle {
        /// Why.
        reason: String,
    },
    /// A hit was sent and answered.
    Hit {
        /// The job.
        job_id: u64,
        /// The nonce.
        nonce: u64,
        /// The coordinator's verdict (`None`: no answer after every retry).
        verdict: Option<HitVerdict>,
    },
    /// A device was dropped by the local dispatcher.
    DeviceDropped {
        /// Its label.
        label: String,
        /// Why.
        reason: String,
    },
    /// Something odd on the bus, ignored.
    Ignored {
        /// What.
        reason: String,
    },
}

impl WorkerEvent {
    /// A short name of the kind of event (the `event` field of `--json` lines).
    pub fn kind(&self) -> &'static str {
        match self {
            WorkerEvent::Job { .. } => "job",
            WorkerEvent::Lease { .. } => "lease",
            WorkerEvent::Idle { .. } => "idle",
            WorkerEvent::Hit { .. } => "hit",
            WorkerEvent::DeviceDropped { .. } => "device_dropped",
            WorkerEvent::Ignored { .. } => "message_ignored",
        }
    }
}

impl std::fmt::Display for WorkerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerEvent::Job {
                coordinator,
                job_id,
                difficulty,
            } => {
                write!(f, "mining job {job_id} of coordinator {coordinator}")?;
                if let Some(d) = difficulty {
                    write!(f, " at difficulty {d}")?;
                }
                Ok(())
            }
            WorkerEvent::Lease { job_id, start, len } => {
                write!(f, "lease of {len} indexes from {start} for job {job_id}")
            }
            WorkerEvent::Idle { reason } => write!(f, "idle: {reason}"),
            WorkerEvent::Hit {
                job_id,
                nonce,
                verdict,
            } => match verdict {
                Some(v) => write!(f, "hit for job {job_id} (nonce {nonce}): {v:?}"),
                None => write!(f, "hit for job {job_id} (nonce {nonce}): no answer"),
            },
            WorkerEvent::DeviceDropped { label, reason } => {
                write!(f, "device {label} dropped: {reason}")
            }
            WorkerEvent::Ignored { reason } => write!(f, "ignored a message: {reason}"),
        }
    }
}

/// Where worker events go.
pub type WorkerLog = Arc<dyn Fn(WorkerEvent) + Send + Sync>;

/// The job being mined.
struct Following {
    coordinator: String,
    job_id: u64,
    local_id: u64,
    last_heard: Instant,
    lease_asked: bool,
}

/// Runs a worker over `link` (see [`FarmConnect::link`]) on `work` (a dispatcher's handle
/// whose events arrive on `events`) until `shutdown` completes, the dispatcher has no device
/// left, or the farm refuses it.
pub async fn run_worker(
    link: FarmLink,
    cfg: WorkerConfig,
    work: WorkHandle,
    mut events: mpsc::UnboundedReceiver<Event>,
    log: WorkerLog,
    metrics: Option<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), FarmError> {
    let FarmLink { client, subjects } = link;
    let mut jobs = client
        .subscribe(subjects.job.clone())
        .await
        .map_err(|e| FarmError::Nats(e.to_string()))?;
    let (lease_tx, mut lease_rx) = mpsc::unbounded_channel::<(u64, Result<LeaseReply, String>)>();
    let (hit_tx, mut hit_rx) = mpsc::unbounded_channel::<WorkerEvent>();
    let mut following: Option<Following> = None;
    let mut next_local_id = 0u64;
    let mut rate = cfg.initial_rate;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut last_beat = started - cfg.heartbeat;
    tokio::pin!(shutdown);

    // Asks for a lease in the background; the reply comes back on `lease_tx`.
    let ask_lease = |f: &Following, rate: f64| {
        let request = LeaseRequest {
            version: FORMAT_VERSION,
            worker: cfg.id.clone(),
            coordinator: f.coordinator.clone(),
            job_id: f.job_id,
            want: ((rate * cfg.lease_seconds) as u64).max(cfg.min_lease),
        };
        let client = client.clone();
        let subject = subjects.lease.clone();
        let tx = lease_tx.clone();
        let local_id = f.local_id;
        tokio::spawn(async move {
            let answer = match client.request(subject, encode(&request).into()).await {
                Ok(m) => decode::<LeaseReply>(&m.payload).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let _ = tx.send((local_id, answer));
        });
    };

    loop {
        tokio::select! {
            _ = &mut shutdown => {
                work.clear_work();
                return Ok(());
            }
            Some(m) = jobs.next() => {
                let a: Announcement = match decode(&m.payload) {
                    Ok(a) => a,
                    Err(e @ ProtocolError::Version { .. }) => {
                        work.clear_work();
                        return Err(FarmError::Version(e));
                    }
                    Err(e) => {
                        log(WorkerEvent::Ignored { reason: format!("announcement: {e}") });
                        continue;
                    }
                };
                let Some(announced) = a.job else {
                    if following.take().is_some() {
                        work.clear_work();
                        log(WorkerEvent::Idle { reason: "the coordinator has no job".into() });
                    }
                    continue;
                };
                if let Some(f) = following.as_mut() {
                    if f.coordinator == a.coordinator && f.job_id == announced.job_id {
                        f.last_heard = Instant::now();
                        continue;
                    }
                }
                let job = match announced.job.to_job() {
                    Ok(j) => j,
                    Err(e) => {
                        log(WorkerEvent::Ignored { reason: format!("announcement: {e}") });
                        continue;
                    }
                };
                next_local_id += 1;
                let mut spec = WorkSpec::new(next_local_id, job).leased(Vec::new());
                spec.difficulty = announced.difficulty;
                spec.block_number = announced.block_number;
                work.set_work(spec);
                let f = Following {
                    coordinator: a.coordinator.clone(),
                    job_id: announced.job_id,
                    local_id: next_local_id,
                    last_heard: Instant::now(),
                    lease_asked: true,
                };
                ask_lease(&f, rate);
                following = Some(f);
                log(WorkerEvent::Job {
                    coordinator: a.coordinator,
                    job_id: announced.job_id,
                    difficulty: announced.difficulty,
                });
            }
            Some((local_id, answer)) = lease_rx.recv() => {
                let Some(f) = following.as_mut().filter(|f| f.local_id == local_id) else {
                    continue;
                };
                f.lease_asked = false;
                match answer {
                    Ok(LeaseReply::Granted { job_id, start, len }) if job_id == f.job_id => {
                        work.grant(local_id, start, len);
                        log(WorkerEvent::Lease { job_id, start, len });
                    }
                    Ok(LeaseReply::Refused { reason }) => {
                        work.clear_work();
                        return Err(FarmError::Refused(reason));
                    }
                    // Stale (a new announcement is on its way) or no answer: asked again on
                    // a later tick.
                    Ok(_) | Err(_) => {}
                }
            }
            Some(e) = hit_rx.recv() => log(e),
            Some(event) = events.recv() => match event {
                Event::Solution(s) => {
                    let Some(f) = following.as_ref().filter(|f| f.local_id == s.job_id) else {
                        continue;
                    };
                    let report = HitReport {
                        version: FORMAT_VERSION,
                        worker: cfg.id.clone(),
                        coordinator: f.coordinator.clone(),
                        job_id: f.job_id,
                        index: s.hit.index,
                        nonce: s.hit.nonce,
                        seal: pow_seal::to_hex(&s.hit.seal),
                        device: s.label,
                    };
                    let client = client.clone();
                    let subject = subjects.hit.clone();
                    let tx = hit_tx.clone();
                    tokio::spawn(async move {
                        let mut verdict = None;
                        for attempt in 0..10u64 {
                            if let Ok(m) = client.request(subject.clone(), encode(&report).into()).await {
                                if let Ok(ack) = decode::<HitAck>(&m.payload) {
                                    verdict = Some(ack.verdict);
                                    break;
                                }
                            }
                            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                        }
                        let _ = tx.send(WorkerEvent::Hit {
                            job_id: report.job_id,
                            nonce: report.nonce,
                            verdict,
                        });
                    });
                }
                Event::DeviceDropped { label, reason, .. } => {
                    log(WorkerEvent::DeviceDropped { label, reason: reason.to_string() });
                }
                Event::NoDevices => {
                    return Err(FarmError::Nats("no usable device is left on this worker".into()));
                }
                Event::Stats(_) | Event::Switched(_) => {}
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if let Some(f) = following.as_ref() {
                    if now.duration_since(f.last_heard) > cfg.coordinator_timeout {
                        following = None;
                        work.clear_work();
                        log(WorkerEvent::Idle {
                            reason: format!(
                                "no word from the coordinator for {:.1} s",
                                cfg.coordinator_timeout.as_secs_f64()
                            ),
                        });
                    }
                }
                if let Some(f) = following.as_mut() {
                    let left = work.unissued().filter(|(id, _)| *id == f.local_id).map(|x| x.1);
                    let low = (rate * cfg.lease_seconds / 2.0) as u64;
                    if !f.lease_asked && left.is_some_and(|left| left <= low.max(cfg.min_lease)) {
                        f.lease_asked = true;
                        ask_lease(f, rate);
                    }
                }
                if now.duration_since(last_beat) >= cfg.heartbeat {
                    last_beat = now;
                    let Some(stats) = work.stats() else {
                        return Err(FarmError::Nats("the dispatcher stopped".into()));
                    };
                    if stats.hash_rate > 0.0 {
                        rate = stats.hash_rate;
                    }
                    let beat = Heartbeat {
                        version: FORMAT_VERSION,
                        worker: cfg.id.clone(),
                        host: cfg.host.clone(),
                        coordinator: following.as_ref().map(|f| f.coordinator.clone()),
                        job_id: following.as_ref().map(|f| f.job_id),
                        devices: stats
                            .devices
                            .iter()
                            .filter(|d| matches!(d.state, DeviceState::Idle | DeviceState::Working))
                            .map(|d| DeviceRate {
                                label: d.label.clone(),
                                name: d.label.clone(),
                                rate: d.hash_rate,
                            })
                            .collect(),
                        rate: if following.is_some() { stats.hash_rate } else { 0.0 },
                        job_attempts: stats.attempts,
                        attempts_total: stats.attempts_total,
                        uptime_seconds: started.elapsed().as_secs_f64(),
                    };
                    if let Some(m) = &metrics {
                        m.observe_worker(&beat);
                    }
                    let _ = client
                        .publish(subjects.heartbeat.clone(), encode(&beat).into())
                        .await;
                }
            }
        }
    }
}
