//! The coordinator's bookkeeping, free of any I/O so that it can be tested message by message:
//! the current job and its leases, the worker table, the hit verdicts (re-verification,
//! staleness, quarantine, rate limits) and the farm status.

use crate::lease::LeaseBook;
use crate::protocol::{
    decode, DeviceRate, FarmStatus, Heartbeat, HitAck, HitReport, HitVerdict, LeaseReply,
    LeaseRequest, ProtocolError, WorkerState, WorkerStatus, FORMAT_VERSION,
};
use pow_backend_api::{Hit, Job};
use pow_dispatch::{Ewma, EwmaConfig};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Tuning of a coordinator.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// How often the current job is announced again (for late joiners and reconnects).
    pub announce_every: Duration,
    /// A worker silent for this long is dropped and its leases abandoned.
    pub worker_timeout: Duration,
    /// Smallest lease granted.
    pub min_lease: u64,
    /// Largest lease granted.
    pub max_lease: u64,
    /// Hits a worker may send per second, on average.
    pub hits_per_second: f64,
    /// Hits a worker may send in a burst.
    pub hit_burst: f64,
    /// Most workers tracked (ids beyond are refused).
    pub max_workers: usize,
    /// How often a [`FarmEvent::Status`] is reported (zero: never).
    pub status_every: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            announce_every: Duration::from_secs(1),
            worker_timeout: Duration::from_secs(3),
            min_lease: 1 << 12,
            max_lease: 1 << 40,
            hits_per_second: 2.0,
            hit_burst: 10.0,
            max_workers: 100_000,
            status_every: Duration::from_secs(5),
        }
    }
}

/// Something the coordinator reports about the farm (shown in the log, `--json` lines).
#[derive(Clone, Debug, PartialEq)]
pub enum FarmEvent {
    /// A worker sent its first heartbeat.
    WorkerJoined {
        /// Worker id.
        worker: String,
        /// Its host.
        host: String,
        /// Its devices.
        devices: usize,
    },
    /// A worker stopped heart-beating: its leases are abandoned, never re-leased.
    WorkerDropped {
        /// Worker id.
        worker: String,
        /// Leases it held on the current job.
        leases: u64,
    },
    /// A dropped worker is back.
    WorkerReturned {
        /// Worker id.
        worker: String,
    },
    /// A worker sent a hit that does not verify: nothing of it is used from now on.
    Quarantined {
        /// Worker id.
        worker: String,
        /// What was wrong.
        reason: String,
    },
    /// A worker sends more hits than allowed: the excess is dropped unread.
    Flooding {
        /// Worker id.
        worker: String,
    },
    /// A verified hit for an old job, dropped.
    StaleHit {
        /// Worker id.
        worker: String,
        /// The job it was for.
        job_id: u64,
    },
    /// A remote hit verified and passed on.
    Accepted {
        /// Worker id.
        worker: String,
        /// The job.
        job_id: u64,
        /// The nonce.
        nonce: u64,
    },
    /// A message of another format version or malformed, ignored.
    Ignored {
        /// What was wrong.
        reason: String,
    },
    /// The connection to NATS is lost (local mining goes on).
    Disconnected,
    /// The connection is back; the current job was announced again.
    Reconnected,
    /// The farm now (every `status_every`).
    Status(Box<FarmStatus>),
}

impl FarmEvent {
    /// A short name of the kind of event (the `event` field of `--json` lines).
    pub fn kind(&self) -> &'static str {
        match self {
            FarmEvent::WorkerJoined { .. } => "worker_joined",
            FarmEvent::WorkerDropped { .. } => "worker_dropped",
            FarmEvent::WorkerReturned { .. } => "worker_returned",
            FarmEvent::Quarantined { .. } => "worker_quarantined",
            FarmEvent::Flooding { .. } => "worker_flooding",
            FarmEvent::StaleHit { .. } => "stale_hit",
            FarmEvent::Accepted { .. } => "hit_accepted",
            FarmEvent::Ignored { .. } => "message_ignored",
            FarmEvent::Disconnected => "disconnected",
            FarmEvent::Reconnected => "reconnected",
            FarmEvent::Status(_) => "farm",
        }
    }

    /// The worker it is about, if any.
    pub fn worker(&self) -> Option<&str> {
        match self {
            FarmEvent::WorkerJoined { worker, .. }
            | FarmEvent::WorkerDropped { worker, .. }
            | FarmEvent::WorkerReturned { worker }
            | FarmEvent::Quarantined { worker, .. }
            | FarmEvent::Flooding { worker }
            | FarmEvent::StaleHit { worker, .. }
            | FarmEvent::Accepted { worker, .. } => Some(worker),
            _ => None,
        }
    }
}

impl std::fmt::Display for FarmEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FarmEvent::WorkerJoined { worker, host, devices } => {
                write!(f, "worker {worker} on {host} joined with {devices} device(s)")
            }
            FarmEvent::WorkerDropped { worker, leases } => write!(
                f,
                "worker {worker} stopped heart-beating: dropped, its {leases} lease(s) abandoned (never re-leased)"
            ),
            FarmEvent::WorkerReturned { worker } => write!(f, "worker {worker} is back"),
            FarmEvent::Quarantined { worker, reason } => {
                write!(f, "worker {worker} quarantined: {reason}; nothing of it is used or submitted")
            }
            FarmEvent::Flooding { worker } => write!(
                f,
                "worker {worker} sends hits faster than allowed: the excess is dropped"
            ),
            FarmEvent::StaleHit { worker, job_id } => {
                write!(f, "stale hit from worker {worker} for job {job_id} dropped")
            }
            FarmEvent::Accepted { worker, job_id, nonce } => write!(
                f,
                "hit from worker {worker} for job {job_id} (nonce {nonce}) verified"
            ),
            FarmEvent::Ignored { reason } => write!(f, "ignored a message: {reason}"),
            FarmEvent::Disconnected => {
                write!(f, "lost the NATS server; local mining goes on, reconnecting")
            }
            FarmEvent::Reconnected => {
                write!(f, "NATS server back; the current job is announced again")
            }
            FarmEvent::Status(s) => {
                let active = s
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Active)
                    .count();
                let devices: usize = s
                    .workers
                    .iter()
                    .filter(|w| w.state == WorkerState::Active)
                    .map(|w| w.devices.len())
                    .sum();
                let lost = s.workers.len() - active;
                write!(
                    f,
                    "{active} worker(s), {devices} device(s), {} farm (EWMA {}), {} lease(s)",
                    pow_dispatch::rate_text(s.farm_rate),
                    pow_dispatch::rate_text(s.farm_rate_ewma),
                    s.leases
                )?;
                if let Some(t) = s.expected_seconds {
                    write!(f, ", expected {t:.0} s to a solution")?;
                }
                if lost > 0 {
                    write!(f, ", {lost} dropped or quarantined")?;
                }
                Ok(())
            }
        }
    }
}

/// A remote hit that passed the coordinator's verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedHit {
    /// The coordinator's job id.
    pub job_id: u64,
    /// The hit.
    pub hit: Hit,
    /// `worker/device` that found it.
    pub found_by: String,
}

/// The job being mined.
struct Current {
    job_id: u64,
    job: Job,
    difficulty: Option<u64>,
    book: LeaseBook,
    announced_at: Instant,
    leased_once: HashSet<String>,
    /// Workers active when the job was announced: their first leases time the switch.
    switching: HashSet<String>,
    accepted: HashSet<u64>,
    all_switched_ms: Option<f64>,
}

/// One worker.
struct Worker {
    host: String,
    devices: Vec<DeviceRate>,
    rate: f64,
    job_attempts: u64,
    attempts_total: u64,
    uptime_seconds: f64,
    last_seen: Instant,
    state: WorkerState,
    reason: Option<String>,
    tokens: f64,
    refilled: Instant,
    flood_reported: Option<Instant>,
    heartbeats: u64,
}

/// The coordinator's state.
pub struct FarmState {
    id: String,
    farm: String,
    cfg: CoordinatorConfig,
    current: Option<Current>,
    workers: HashMap<String, Worker>,
    switch_ms: VecDeque<f64>,
    hits: [u64; 4],
    ewma: Ewma,
    local_rate: f64,
    /// Messages received and sent since the last status.
    pub messages_in: u64,
    /// See `messages_in`.
    pub messages_out: u64,
    last_rates: (Instant, f64, f64),
}

const SWITCH_SAMPLES: usize = 8192;

impl FarmState {
    /// A coordinator `id` of farm `farm`.
    pub fn new(id: &str, farm: &str, cfg: CoordinatorConfig, now: Instant) -> FarmState {
        FarmState {
            id: id.to_string(),
            farm: farm.to_string(),
            cfg,
            current: None,
            workers: HashMap::new(),
            switch_ms: VecDeque::new(),
            hits: [0; 4],
            ewma: Ewma::new(EwmaConfig::default()),
            local_rate: 0.0,
            messages_in: 0,
            messages_out: 0,
            last_rates: (now, 0.0, 0.0),
        }
    }

    /// The coordinator's instance id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tuning.
    pub fn config(&self) -> &CoordinatorConfig {
        &self.cfg
    }

    /// Starts job `job_id`, its index space split at `base`.
    pub fn set_job(
        &mut self,
        job_id: u64,
        job: Job,
        difficulty: Option<u64>,
        base: u64,
        now: Instant,
    ) {
        let switching = self
            .workers
            .iter()
            .filter(|(_, w)| w.state == WorkerState::Active && w.heartbeats > 0)
            .map(|(id, _)| id.clone())
            .collect();
        self.current = Some(Current {
            job_id,
            job,
            difficulty,
            book: LeaseBook::new(job_id, base),
            announced_at: now,
            leased_once: HashSet::new(),
            switching,
            accepted: HashSet::new(),
            all_switched_ms: None,
        });
    }

    /// Ends the current job.
    pub fn clear_job(&mut self) {
        self.current = None;
    }

    /// The current job id and its job, if any.
    pub fn current(&self) -> Option<(u64, &Job, Option<u64>)> {
        self.current
            .as_ref()
            .map(|c| (c.job_id, &c.job, c.difficulty))
    }

    /// The coordinator's own devices' rate.
    pub fn set_local_rate(&mut self, rate: f64) {
        self.local_rate = rate;
    }

    fn worker_seen(&mut self, id: &str, now: Instant) -> Option<&mut Worker> {
        if !self.workers.contains_key(id) && self.workers.len() >= self.cfg.max_workers {
            return None;
        }
        let burst = self.cfg.hit_burst;
        let w = self
            .workers
            .entry(id.to_string())
            .or_insert_with(|| Worker {
                host: String::new(),
                devices: Vec::new(),
                rate: 0.0,
                job_attempts: 0,
                attempts_total: 0,
                uptime_seconds: 0.0,
                last_seen: now,
                state: WorkerState::Active,
                reason: None,
                tokens: burst,
                refilled: now,
                flood_reported: None,
                heartbeats: 0,
            });
        w.last_seen = now;
        Some(w)
    }

    /// Answers a lease request.
    pub fn on_lease(&mut self, payload: &[u8], now: Instant) -> LeaseReply {
        let req: LeaseRequest = match decode(payload) {
            Ok(r) => r,
            Err(ProtocolError::Version { theirs }) => {
                return LeaseReply::Refused {
                    reason: version_mismatch(theirs),
                }
            }
            Err(e) => {
                return LeaseReply::Refused {
                    reason: e.to_string(),
                }
            }
        };
        let current_id = self.current.as_ref().map(|c| c.job_id);
        let (min, max) = (self.cfg.min_lease, self.cfg.max_lease);
        let my_id = self.id.clone();
        let Some(w) = self.worker_seen(&req.worker, now) else {
            return LeaseReply::Refused {
                reason: "too many workers".into(),
            };
        };
        if w.state == WorkerState::Quarantined {
            return LeaseReply::Refused {
                reason: format!("quarantined: {}", w.reason.clone().unwrap_or_default()),
            };
        }
        if w.state == WorkerState::Dropped {
            w.state = WorkerState::Active;
        }
        let Some(cur) = self.current.as_mut() else {
            return LeaseReply::Stale { current: None };
        };
        if req.coordinator != my_id || req.job_id != cur.job_id {
            return LeaseReply::Stale {
                current: current_id,
            };
        }
        let Some(lease) = cur.book.lease(&req.worker, req.want.clamp(min, max)) else {
            return LeaseReply::Refused {
                reason: "the job's index space is used up".into(),
            };
        };
        if cur.leased_once.insert(req.worker.clone()) && cur.switching.contains(&req.worker) {
            let ms = now.duration_since(cur.announced_at).as_secs_f64() * 1e3;
            if self.switch_ms.len() == SWITCH_SAMPLES {
                self.switch_ms.pop_front();
            }
            self.switch_ms.push_back(ms);
            let everyone = cur.switching.iter().all(|id| cur.leased_once.contains(id));
            if everyone && cur.all_switched_ms.is_none() {
                cur.all_switched_ms = Some(ms);
            }
        }
        LeaseReply::Granted {
            job_id: lease.job_id,
            start: lease.start,
            len: lease.len,
        }
    }

    /// Judges a hit report: the acknowledgement, the verified hit to pass on, and what to
    /// report.
    pub fn on_hit(
        &mut self,
        payload: &[u8],
        now: Instant,
    ) -> (HitAck, Option<VerifiedHit>, Option<FarmEvent>) {
        let ack = |verdict| HitAck { verdict };
        let report: HitReport = match decode(payload) {
            Ok(r) => r,
            Err(e) => {
                self.hits[3] += 1;
                return (
                    ack(HitVerdict::Dropped),
                    None,
                    Some(FarmEvent::Ignored {
                        reason: format!("hit: {e}"),
                    }),
                );
            }
        };
        let (rate, burst) = (self.cfg.hits_per_second, self.cfg.hit_burst);
        let Some(w) = self.worker_seen(&report.worker, now) else {
            self.hits[3] += 1;
            return (ack(HitVerdict::Dropped), None, None);
        };
        if w.state == WorkerState::Quarantined {
            self.hits[3] += 1;
            return (ack(HitVerdict::Dropped), None, None);
        }
        w.tokens = (w.tokens + now.duration_since(w.refilled).as_secs_f64() * rate).min(burst);
        w.refilled = now;
        if w.tokens < 1.0 {
            let report_now = w
                .flood_reported
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(5));
            let event = report_now.then(|| {
                w.flood_reported = Some(now);
                FarmEvent::Flooding {
                    worker: report.worker.clone(),
                }
            });
            self.hits[3] += 1;
            return (ack(HitVerdict::Dropped), None, event);
        }
        w.tokens -= 1.0;
        let current = self
            .current
            .as_mut()
            .filter(|c| report.coordinator == self.id && report.job_id == c.job_id);
        let Some(cur) = current else {
            self.hits[1] += 1;
            return (
                ack(HitVerdict::Stale),
                None,
                Some(FarmEvent::StaleHit {
                    worker: report.worker,
                    job_id: report.job_id,
                }),
            );
        };
        let seal = pow_seal::parse_bytes32(&report.seal).ok();
        let verified = seal.map(|seal| Hit {
            index: report.index,
            nonce: report.nonce,
            seal,
        });
        match verified.filter(|hit| cur.job.verify_hit(hit)) {
            Some(hit) => {
                if !cur.accepted.insert(hit.nonce) {
                    // A retry of a hit already passed on.
                    return (ack(HitVerdict::Accepted), None, None);
                }
                self.hits[0] += 1;
                let found_by = format!("{}/{}", report.worker, report.device);
                (
                    ack(HitVerdict::Accepted),
                    Some(VerifiedHit {
                        job_id: cur.job_id,
                        hit,
                        found_by,
                    }),
                    Some(FarmEvent::Accepted {
                        worker: report.worker,
                        job_id: cur.job_id,
                        nonce: report.nonce,
                    }),
                )
            }
            None => {
                self.hits[2] += 1;
                let reason = format!(
                    "sent a hit that does not verify (job {}, nonce {})",
                    report.job_id, report.nonce
                );
                if let Some(w) = self.workers.get_mut(&report.worker) {
                    w.state = WorkerState::Quarantined;
                    w.reason = Some(reason.clone());
                }
                (
                    ack(HitVerdict::Rejected),
                    None,
                    Some(FarmEvent::Quarantined {
                        worker: report.worker,
                        reason,
                    }),
                )
            }
        }
    }

    /// Takes in a heartbeat.
    pub fn on_heartbeat(&mut self, payload: &[u8], now: Instant) -> Option<FarmEvent> {
        let hb: Heartbeat = match decode(payload) {
            Ok(h) => h,
            Err(e) => {
                return Some(FarmEvent::Ignored {
                    reason: format!("heartbeat: {e}"),
                })
            }
        };
        let current = self.current.as_ref().map(|c| c.job_id);
        let my_id = self.id.clone();
        let w = self.worker_seen(&hb.worker, now)?;
        w.heartbeats += 1;
        w.host = hb.host;
        w.devices = hb.devices;
        w.rate = hb.rate;
        w.attempts_total = hb.attempts_total;
        w.uptime_seconds = hb.uptime_seconds;
        w.job_attempts =
            if hb.coordinator.as_deref() == Some(my_id.as_str()) && hb.job_id == current {
                hb.job_attempts
            } else {
                0
            };
        match w.state {
            WorkerState::Dropped => {
                w.state = WorkerState::Active;
                Some(FarmEvent::WorkerReturned { worker: hb.worker })
            }
            WorkerState::Active if w.heartbeats == 1 => Some(FarmEvent::WorkerJoined {
                worker: hb.worker,
                host: w.host.clone(),
                devices: w.devices.len(),
            }),
            _ => None,
        }
    }

    /// Drops workers silent for longer than the timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<FarmEvent> {
        let timeout = self.cfg.worker_timeout;
        let mut events = Vec::new();
        for (id, w) in &mut self.workers {
            if w.state == WorkerState::Active && now.duration_since(w.last_seen) > timeout {
                w.state = WorkerState::Dropped;
                let leases = self
                    .current
                    .as_ref()
                    .map_or(0, |c| c.book.held_by(id).len() as u64);
                events.push(FarmEvent::WorkerDropped {
                    worker: id.clone(),
                    leases,
                });
            }
        }
        events.sort_by_key(|e| format!("{e:?}"));
        events
    }

    /// The farm now; also advances the averaged rate and the message rates.
    pub fn status(&mut self, now: Instant) -> FarmStatus {
        let remote: f64 = self
            .workers
            .values()
            .filter(|w| w.state == WorkerState::Active)
            .map(|w| w.rate)
            .sum();
        let farm_rate = remote + self.local_rate;
        self.ewma.push(farm_rate);
        let (since, _, _) = self.last_rates;
        let secs = now.duration_since(since).as_secs_f64();
        let (rin, rout) = if secs > 0.0 {
            (
                self.messages_in as f64 / secs,
                self.messages_out as f64 / secs,
            )
        } else {
            (self.last_rates.1, self.last_rates.2)
        };
        if secs >= 1.0 {
            self.last_rates = (now, rin, rout);
            self.messages_in = 0;
            self.messages_out = 0;
        }
        let ewma = self.ewma.value();
        let difficulty = self.current.as_ref().and_then(|c| c.difficulty);
        let mut workers: Vec<WorkerStatus> = self
            .workers
            .iter()
            .map(|(id, w)| WorkerStatus {
                worker: id.clone(),
                host: w.host.clone(),
                state: w.state,
                reason: w.reason.clone(),
                devices: w.devices.clone(),
                rate: w.rate,
                leases: self
                    .current
                    .as_ref()
                    .map_or(0, |c| c.book.held_by(id).len() as u64),
                job_attempts: w.job_attempts,
                attempts_total: w.attempts_total,
                uptime_seconds: w.uptime_seconds,
                last_seen_seconds: now.duration_since(w.last_seen).as_secs_f64(),
            })
            .collect();
        workers.sort_by(|a, b| a.worker.cmp(&b.worker));
        let (p50, p99) = percentiles(&self.switch_ms);
        FarmStatus {
            version: FORMAT_VERSION,
            farm: self.farm.clone(),
            coordinator: self.id.clone(),
            job_id: self.current.as_ref().map(|c| c.job_id),
            difficulty,
            farm_rate,
            farm_rate_ewma: ewma,
            expected_seconds: difficulty
                .filter(|_| ewma > 0.0)
                .map(|d| d.max(1) as f64 / ewma),
            local_rate: self.local_rate,
            leases: self.current.as_ref().map_or(0, |c| c.book.count()),
            leased_indexes: self.current.as_ref().map_or(0, |c| c.book.leased_indexes()),
            workers,
            hits_accepted: self.hits[0],
            hits_stale: self.hits[1],
            hits_rejected: self.hits[2],
            hits_dropped: self.hits[3],
            switch_ms_p50: p50,
            switch_ms_p99: p99,
            all_switched_ms: self.current.as_ref().and_then(|c| c.all_switched_ms),
            messages_in_per_second: rin,
            messages_out_per_second: rout,
        }
    }
}

/// The refusal naming both versions.
pub fn version_mismatch(worker: u32) -> String {
    format!("the worker speaks job format v{worker}, the coordinator speaks v{FORMAT_VERSION}")
}

/// Median and 99th percentile (nearest rank) of `samples`.
fn percentiles(samples: &VecDeque<f64>) -> (Option<f64>, Option<f64>) {
    if samples.is_empty() {
        return (None, None);
    }
    let mut v: Vec<f64> = samples.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    (Some(at(0.5)), Some(at(0.99)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode;
    use pow_seal::{Challenge, Work};

    fn job(difficulty: u64) -> Job {
        Job::from_work(&Work::new(
            Challenge::v1(1, [1; 32], [2; 32], [3; 32]).unwrap(),
            difficulty,
        ))
    }

    fn lease_req(worker: &str, coordinator: &str, job_id: u64) -> Vec<u8> {
        encode(&LeaseRequest {
            version: FORMAT_VERSION,
            worker: worker.into(),
            coordinator: coordinator.into(),
            job_id,
            want: 1000,
        })
    }

    fn hit_req(worker: &str, job_id: u64, hit: &Hit) -> Vec<u8> {
        encode(&HitReport {
            version: FORMAT_VERSION,
            worker: worker.into(),
            coordinator: "c".into(),
            job_id,
            index: hit.index,
            nonce: hit.nonce,
            seal: pow_seal::to_hex(&hit.seal),
            device: "cpu:0".into(),
        })
    }

    fn state() -> (FarmState, Instant) {
        let now = Instant::now();
        (
            FarmState::new("c", "f", CoordinatorConfig::default(), now),
            now,
        )
    }

    #[test]
    fn leases_are_disjoint_and_only_for_the_current_job() {
        let (mut s, now) = state();
        assert_eq!(
            s.on_lease(&lease_req("w", "c", 1), now),
            LeaseReply::Stale { current: None }
        );
        for w in ["w1", "w2"] {
            s.on_heartbeat(&heartbeat(w), now);
        }
        s.set_job(1, job(10), Some(10), 500, now);
        let a = s.on_lease(&lease_req("w1", "c", 1), now);
        let b = s.on_lease(&lease_req("w2", "c", 1), now);
        let (
            LeaseReply::Granted {
                start: sa, len: la, ..
            },
            LeaseReply::Granted { start: sb, .. },
        ) = (a, b)
        else {
            panic!("not granted");
        };
        assert_eq!((sa, la), (500, 4096), "clamped to the smallest lease");
        assert_eq!(sb, 500 + 4096);
        assert_eq!(
            s.on_lease(&lease_req("w1", "c", 0), now),
            LeaseReply::Stale { current: Some(1) }
        );
        assert_eq!(
            s.on_lease(&lease_req("w1", "other", 1), now),
            LeaseReply::Stale { current: Some(1) }
        );
        let st = s.status(now);
        assert_eq!((st.leases, st.leased_indexes), (2, 8192));
        assert!(st.switch_ms_p99.is_some());
        // Both workers that were active at the announcement have switched.
        assert!(st.all_switched_ms.is_some());
    }

    fn heartbeat(worker: &str) -> Vec<u8> {
        encode(&Heartbeat {
            version: FORMAT_VERSION,
            worker: worker.into(),
            host: "h".into(),
            coordinator: None,
            job_id: None,
            devices: vec![],
            rate: 5.0,
            job_attempts: 0,
            attempts_total: 0,
            uptime_seconds: 1.0,
        })
    }

    #[test]
    fn another_version_is_refused_naming_both() {
        let (mut s, now) = state();
        let text = br#"{"version":9,"worker":"w","coordinator":"c","job_id":1,"want":5}"#;
        let LeaseReply::Refused { reason } = s.on_lease(text, now) else {
            panic!()
        };
        assert!(reason.contains("v9") && reason.contains("v1"), "{reason}");
    }

    #[test]
    fn a_good_hit_passes_once_a_bad_one_quarantines() {
        let (mut s, now) = state();
        let j = job(2);
        s.set_job(3, j.clone(), Some(2), 0, now);
        let never = std::sync::atomic::AtomicBool::new(false);
        let hit = j.reference_search(0, 1 << 20, &never).hits[0];
        let (ack, v, _) = s.on_hit(&hit_req("w1", 3, &hit), now);
        assert_eq!(ack.verdict, HitVerdict::Accepted);
        assert_eq!(v.unwrap().hit, hit);
        // A retry is acknowledged but not passed on twice.
        let (ack, v, _) = s.on_hit(&hit_req("w1", 3, &hit), now);
        assert_eq!((ack.verdict, v), (HitVerdict::Accepted, None));
        // A hit for another job is stale.
        let (ack, v, _) = s.on_hit(&hit_req("w1", 2, &hit), now);
        assert_eq!((ack.verdict, v), (HitVerdict::Stale, None));
        // A forged seal quarantines the sender; then nothing of it is used.
        let mut forged = hit;
        forged.seal[0] ^= 1;
        let (ack, v, e) = s.on_hit(&hit_req("liar", 3, &forged), now);
        assert_eq!((ack.verdict, v), (HitVerdict::Rejected, None));
        assert!(matches!(e, Some(FarmEvent::Quarantined { .. })));
        let (ack, _, _) = s.on_hit(&hit_req("liar", 3, &hit), now);
        assert_eq!(ack.verdict, HitVerdict::Dropped);
        assert!(matches!(
            s.on_lease(&lease_req("liar", "c", 3), now),
            LeaseReply::Refused { .. }
        ));
        let st = s.status(now);
        assert_eq!(
            (st.hits_accepted, st.hits_stale, st.hits_rejected),
            (1, 1, 1)
        );
    }

    #[test]
    fn a_flood_of_hits_is_cut_to_the_rate_limit() {
        let (mut s, now) = state();
        s.set_job(1, job(1_000_000_000), None, 0, now);
        let junk = Hit {
            index: 0,
            nonce: 0,
            seal: [0xff; 32],
        };
        let mut dropped = 0;
        let mut flood_events = 0;
        for _ in 0..100 {
            // Stale hits (job 0), so that none quarantines the sender.
            let (ack, _, e) = s.on_hit(&hit_req("noisy", 0, &junk), now);
            dropped += (ack.verdict == HitVerdict::Dropped) as u32;
            flood_events += matches!(e, Some(FarmEvent::Flooding { .. })) as u32;
        }
        assert_eq!(dropped, 90, "the burst of 10 is read, the rest dropped");
        assert_eq!(flood_events, 1, "reported once, not per hit");
        // Tokens come back with time.
        let later = now + Duration::from_secs(1);
        let (ack, _, _) = s.on_hit(&hit_req("noisy", 0, &junk), later);
        assert_eq!(ack.verdict, HitVerdict::Stale);
    }

    #[test]
    fn silent_workers_are_dropped_and_come_back() {
        let (mut s, now) = state();
        let hb = heartbeat("w");
        assert!(matches!(
            s.on_heartbeat(&hb, now),
            Some(FarmEvent::WorkerJoined { .. })
        ));
        assert_eq!(s.status(now).farm_rate, 5.0);
        let later = now + Duration::from_secs(4);
        assert_eq!(s.expire(later).len(), 1);
        assert_eq!(s.status(later).farm_rate, 0.0);
        assert!(matches!(
            s.on_heartbeat(&hb, later),
            Some(FarmEvent::WorkerReturned { .. })
        ));
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: VecDeque<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentiles(&v), (Some(50.0), Some(99.0)));
        assert_eq!(percentiles(&VecDeque::new()), (None, None));
    }
}
