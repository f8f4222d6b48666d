//! The farm's messages and subjects: everything that crosses the bus, written once for the
//! coordinator, the workers and `farm status`.
//!
//! Every message is one JSON object carrying [`FORMAT_VERSION`]. Only public data travels: a
//! job is the message bytes around the nonce, the seal order, the target and the nonce
//! mapping. No key, seed, password or signature is ever part of a message.
//!
//! | subject | direction | kind |
//! | --- | --- | --- |
//! | `pow-host.<farm>.job` | coordinator → all | [`Announcement`], repeated every second |
//! | `pow-host.<farm>.lease` | worker → coordinator | request [`LeaseRequest`], reply [`LeaseReply`] |
//! | `pow-host.<farm>.hit` | worker → coordinator | request [`HitReport`], reply [`HitAck`] |
//! | `pow-host.<farm>.heartbeat` | worker → coordinator | [`Heartbeat`], every half second |
//! | `pow-host.<farm>.status` | anyone → coordinator | request (empty), reply [`FarmStatus`] |

use abi_stable::std_types::RVec;
use pow_backend_api::{Job, NonceMapping};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Version of the job format and of every message. A worker and a coordinator of different
/// versions refuse each other, naming both.
pub const FORMAT_VERSION: u32 = 1;

/// The longest farm name.
pub const MAX_FARM_NAME: usize = 64;

/// A message that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// Not a message of this protocol.
    #[error("malformed farm message: {0}")]
    Malformed(String),
    /// A message of another format version.
    #[error("the farm speaks job format v{theirs}, this pow-host speaks v{FORMAT_VERSION}")]
    Version {
        /// The version in the message.
        theirs: u32,
    },
    /// A farm name NATS subjects cannot hold.
    #[error("farm name {0:?}: use 1 to 64 letters, digits, `-` or `_`")]
    FarmName(String),
}

/// A validated farm name: it namespaces the subjects, so several farms share one NATS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FarmName(String);

impl FarmName {
    /// Checks `name`: 1 to 64 ASCII letters, digits, `-` or `_` (no dots, spaces or
    /// wildcards, which NATS subjects reserve).
    pub fn new(name: &str) -> Result<FarmName, ProtocolError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_FARM_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(FarmName(name.to_string()))
        } else {
            Err(ProtocolError::FarmName(name.to_string()))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The subjects of one farm.
#[derive(Clone, Debug)]
pub struct Subjects {
    /// Job announcements.
    pub job: String,
    /// Lease requests.
    pub lease: String,
    /// Hit reports.
    pub hit: String,
    /// Worker heartbeats.
    pub heartbeat: String,
    /// Status requests.
    pub status: String,
}

impl Subjects {
    /// The subjects of farm `name`.
    pub fn new(name: &FarmName) -> Subjects {
        let at = |leaf: &str| format!("pow-host.{}.{leaf}", name.as_str());
        Subjects {
            job: at("job"),
            lease: at("lease"),
            hit: at("hit"),
            heartbeat: at("heartbeat"),
            status: at("status"),
        }
    }
}

/// A job on the wire: the public data a device needs, nothing else.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireJob {
    /// Message bytes before the nonce, hex.
    pub prefix: String,
    /// Message bytes after the nonce, hex.
    pub suffix: String,
    /// `true` when the seal is read big-endian.
    pub seal_big_endian: bool,
    /// Largest passing seal, four 64-bit limbs, least significant first.
    pub target: [u64; 4],
    /// Left rotation of the index-to-nonce mapping, in bits.
    pub nonce_rotation: u32,
}

impl WireJob {
    /// The wire form of `job`.
    pub fn of(job: &Job) -> WireJob {
        WireJob {
            prefix: hex::encode(&job.prefix[..]),
            suffix: hex::encode(&job.suffix[..]),
            seal_big_endian: job.seal_big_endian,
            target: job.target,
            nonce_rotation: job.mapping.rotate_left_bits,
        }
    }

    /// The job it describes.
    pub fn to_job(&self) -> Result<Job, ProtocolError> {
        let bytes = |field: &str, text: &str| {
            hex::decode(text)
                .map(RVec::from)
                .map_err(|e| ProtocolError::Malformed(format!("job {field}: {e}")))
        };
        if self.nonce_rotation >= 64 {
            return Err(ProtocolError::Malformed(format!(
                "job nonce rotation {} is not below 64",
                self.nonce_rotation
            )));
        }
        Ok(Job {
            prefix: bytes("prefix", &self.prefix)?,
            suffix: bytes("suffix", &self.suffix)?,
            seal_big_endian: self.seal_big_endian,
            target: self.target,
            mapping: NonceMapping {
                rotate_left_bits: self.nonce_rotation,
            },
        })
    }
}

/// What the coordinator wants mined now; repeated every second so late joiners and
/// reconnected workers catch up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    /// [`FORMAT_VERSION`] of the sender.
    pub version: u32,
    /// The coordinator's instance id (a new one after every restart).
    pub coordinator: String,
    /// The current job, or `None` when there is nothing to mine (workers idle).
    pub job: Option<AnnouncedJob>,
}

/// A job as announced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnnouncedJob {
    /// The coordinator's job id (with the coordinator id it names the job).
    pub job_id: u64,
    /// The work.
    pub job: WireJob,
    /// Difficulty, for display.
    pub difficulty: Option<u64>,
    /// Work block number, for display.
    pub block_number: Option<u64>,
}

/// A worker asks for more of the index space of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRequest {
    /// [`FORMAT_VERSION`] of the worker.
    pub version: u32,
    /// The worker's id.
    pub worker: String,
    /// Coordinator instance of the job.
    pub coordinator: String,
    /// The job.
    pub job_id: u64,
    /// Indexes wanted (about a few seconds of the worker's rate).
    pub want: u64,
}

/// The coordinator's answer to a [`LeaseRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "lease", rename_all = "snake_case")]
pub enum LeaseReply {
    /// Index range `[start, start + len)` of the job is this worker's alone.
    Granted {
        /// The job.
        job_id: u64,
        /// First index.
        start: u64,
        /// Number of indexes.
        len: u64,
    },
    /// The job asked about is not the current one.
    Stale {
        /// The current job, if any.
        current: Option<u64>,
    },
    /// No lease for this worker (another format version, or quarantined).
    Refused {
        /// Why.
        reason: String,
    },
}

/// A passing nonce a worker found (the worker verified it; the coordinator verifies again).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitReport {
    /// [`FORMAT_VERSION`] of the worker.
    pub version: u32,
    /// The worker's id.
    pub worker: String,
    /// Coordinator instance of the job.
    pub coordinator: String,
    /// The job.
    pub job_id: u64,
    /// The nonce index.
    pub index: u64,
    /// The nonce.
    pub nonce: u64,
    /// The seal, hex.
    pub seal: String,
    /// The worker's device that found it.
    pub device: String,
}

/// The coordinator's answer to a [`HitReport`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitAck {
    /// What became of the hit.
    pub verdict: HitVerdict,
}

/// What the coordinator did with a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HitVerdict {
    /// Verified and handed to the chain flow.
    Accepted,
    /// For a job that is no longer current: dropped.
    Stale,
    /// Did not verify: the worker is quarantined.
    Rejected,
    /// The worker is quarantined or sent too many hits: dropped unread.
    Dropped,
}

/// A worker's periodic report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// [`FORMAT_VERSION`] of the worker.
    pub version: u32,
    /// The worker's id.
    pub worker: String,
    /// Its host name.
    pub host: String,
    /// The job it mines (coordinator instance and job id), if any.
    pub coordinator: Option<String>,
    /// The job id, if any.
    pub job_id: Option<u64>,
    /// Its devices and their rates.
    pub devices: Vec<DeviceRate>,
    /// Its total rate, attempts per second (averaged).
    pub rate: f64,
    /// Attempts on the current job so far.
    pub job_attempts: u64,
    /// Attempts since it started.
    pub attempts_total: u64,
    /// Seconds since it started, when this heartbeat was made (so that rates can be taken
    /// between two heartbeats of one worker).
    #[serde(default)]
    pub uptime_seconds: f64,
}

/// One device of a worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRate {
    /// `backend:index`.
    pub label: String,
    /// Device name.
    pub name: String,
    /// Attempts per second (averaged).
    pub rate: f64,
}

/// The farm as the coordinator sees it (the reply to a status request, the live status and
/// the `--json` farm lines).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FarmStatus {
    /// [`FORMAT_VERSION`] of the coordinator.
    pub version: u32,
    /// Farm name.
    pub farm: String,
    /// Coordinator instance id.
    pub coordinator: String,
    /// Current job id, if any.
    pub job_id: Option<u64>,
    /// Current difficulty, if known.
    pub difficulty: Option<u64>,
    /// Sum of the live workers' rates plus the coordinator's own devices, attempts per second.
    pub farm_rate: f64,
    /// Farm rate averaged (EWMA).
    pub farm_rate_ewma: f64,
    /// Expected seconds to a solution at the current difficulty and the averaged rate.
    pub expected_seconds: Option<f64>,
    /// The coordinator's own devices' rate.
    pub local_rate: f64,
    /// Leases granted for the current job.
    pub leases: u64,
    /// Indexes leased for the current job.
    pub leased_indexes: u64,
    /// Every worker seen.
    pub workers: Vec<WorkerStatus>,
    /// Hits verified and passed on, since start.
    pub hits_accepted: u64,
    /// Hits for old jobs, dropped.
    pub hits_stale: u64,
    /// Hits that did not verify.
    pub hits_rejected: u64,
    /// Hits dropped unread (flooding or quarantined workers).
    pub hits_dropped: u64,
    /// Time from a job's announcement to each worker's first lease of it, milliseconds,
    /// over recent jobs: median.
    pub switch_ms_p50: Option<f64>,
    /// The same, 99th percentile.
    pub switch_ms_p99: Option<f64>,
    /// For the current job: milliseconds from its announcement until the last active worker
    /// took its first lease of it (`None` until all have).
    pub all_switched_ms: Option<f64>,
    /// Messages received per second, over the last interval.
    pub messages_in_per_second: f64,
    /// Messages sent per second, over the last interval.
    pub messages_out_per_second: f64,
}

/// One worker in [`FarmStatus`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Worker id.
    pub worker: String,
    /// Host name.
    pub host: String,
    /// `active`, `dropped` (stopped heart-beating) or `quarantined`.
    pub state: WorkerState,
    /// Why it is quarantined.
    pub reason: Option<String>,
    /// Its devices.
    pub devices: Vec<DeviceRate>,
    /// Its rate, attempts per second.
    pub rate: f64,
    /// Leases it holds for the current job.
    pub leases: u64,
    /// Attempts on the current job it reported.
    pub job_attempts: u64,
    /// Attempts since it started, as it reported.
    pub attempts_total: u64,
    /// Its uptime when it reported `attempts_total`, seconds.
    pub uptime_seconds: f64,
    /// Seconds since its last heartbeat.
    pub last_seen_seconds: f64,
}

/// A worker's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Heart-beating.
    Active,
    /// Silent for longer than the timeout: its leases are abandoned.
    Dropped,
    /// Sent a hit that did not verify: nothing of it is used.
    Quarantined,
}

/// Serializes a message.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("farm messages serialize")
}

/// Parses a message, checking its `version` field first so that another version is named as
/// such rather than as malformed.
pub fn decode<T: for<'de> Deserialize<'de>>(payload: &[u8]) -> Result<T, ProtocolError> {
    #[derive(Deserialize)]
    struct Versioned {
        version: Option<u32>,
    }
    if let Ok(Versioned {
        version: Some(theirs),
    }) = serde_json::from_slice::<Versioned>(payload)
    {
        if theirs != FORMAT_VERSION {
            return Err(ProtocolError::Version { theirs });
        }
    }
    serde_json::from_slice(payload).map_err(|e| ProtocolError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_seal::{Challenge, Work};

    #[test]
    fn a_job_crosses_the_wire_unchanged() {
        let c = Challenge::v1(3, [1; 32], [2; 32], [3; 32]).unwrap();
        let job = Job::from_work(&Work::new(c, 1000));
        let wire = WireJob::of(&job);
        let back: WireJob = serde_json::from_slice(&encode(&wire)).unwrap();
        assert_eq!(back.to_job().unwrap(), job);
    }

    #[test]
    fn messages_stay_small() {
        // The sizes docs/farm.md quotes (v1 job; `cargo test -p pow-farm messages -- --nocapture`).
        let c = Challenge::v1(3, [1; 32], [2; 32], [3; 32]).unwrap();
        let job = Job::from_work(&Work::new(c, u64::MAX));
        let announcement = encode(&Announcement {
            version: FORMAT_VERSION,
            coordinator: "c-0123456789abcdef".into(),
            job: Some(AnnouncedJob {
                job_id: u64::MAX,
                job: WireJob::of(&job),
                difficulty: Some(u64::MAX),
                block_number: Some(u64::MAX),
            }),
        });
        let lease = encode(&LeaseRequest {
            version: FORMAT_VERSION,
            worker: "gpu-box-17-123456".into(),
            coordinator: "c-0123456789abcdef".into(),
            job_id: u64::MAX,
            want: u64::MAX,
        });
        let granted = encode(&LeaseReply::Granted {
            job_id: u64::MAX,
            start: u64::MAX,
            len: u64::MAX,
        });
        let hit = encode(&HitReport {
            version: FORMAT_VERSION,
            worker: "gpu-box-17-123456".into(),
            coordinator: "c-0123456789abcdef".into(),
            job_id: u64::MAX,
            index: u64::MAX,
            nonce: u64::MAX,
            seal: pow_seal::to_hex(&[0xab; 32]),
            device: "cuda:7".into(),
        });
        let device = DeviceRate {
            label: "cuda:0".into(),
            name: "cuda:0".into(),
            rate: 3.123456789e9,
        };
        let heartbeat = |devices: usize| {
            encode(&Heartbeat {
                version: FORMAT_VERSION,
                worker: "gpu-box-17-123456".into(),
                host: "gpu-box-17".into(),
                coordinator: Some("c-0123456789abcdef".into()),
                job_id: Some(u64::MAX),
                devices: vec![device.clone(); devices],
                rate: 2.5e10,
                job_attempts: u64::MAX,
                attempts_total: u64::MAX,
                uptime_seconds: 123456.789,
            })
            .len()
        };
        println!(
            "announcement {} B, lease request {} B, lease reply {} B, hit {} B, heartbeat {} B + {} B per device",
            announcement.len(),
            lease.len(),
            granted.len(),
            hit.len(),
            heartbeat(0),
            heartbeat(1) - heartbeat(0)
        );
        assert!(announcement.len() < 1024);
        assert!(heartbeat(8) < 1024);
    }

    #[test]
    fn another_version_is_named_not_malformed() {
        let text = br#"{"version": 7, "coordinator": "c", "job": null}"#;
        assert_eq!(
            decode::<Announcement>(text).unwrap_err(),
            ProtocolError::Version { theirs: 7 }
        );
        let msg = ProtocolError::Version { theirs: 7 }.to_string();
        assert!(msg.contains("v7") && msg.contains(&format!("v{FORMAT_VERSION}")));
        assert!(matches!(
            decode::<Announcement>(b"{not json"),
            Err(ProtocolError::Malformed(_))
        ));
    }

    #[test]
    fn farm_names_fit_in_one_subject_token() {
        assert!(FarmName::new("gpu-farm_2").is_ok());
        for bad in ["", "a.b", "a b", "*", ">", "x".repeat(65).as_str(), "ü"] {
            assert!(FarmName::new(bad).is_err(), "{bad:?} accepted");
        }
        let s = Subjects::new(&FarmName::new("f1").unwrap());
        assert_eq!(s.lease, "pow-host.f1.lease");
    }

    #[test]
    fn a_bad_wire_job_is_refused() {
        let mut wire = WireJob::of(&Job::from_work(&Work::new(
            Challenge::v1(3, [1; 32], [2; 32], [3; 32]).unwrap(),
            1,
        )));
        wire.prefix = "zz".into();
        assert!(wire.to_job().is_err());
        let mut wire2 = WireJob::of(&wire.clone().to_job().unwrap_or_else(|_| {
            Job::from_work(&Work::new(
                Challenge::v1(3, [1; 32], [2; 32], [3; 32]).unwrap(),
                1,
            ))
        }));
        wire2.nonce_rotation = 64;
        assert!(wire2.to_job().is_err());
    }
}
