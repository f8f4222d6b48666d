//! Synthetic backend for testing the pow-host dispatcher.
//!
//! Every device computes real seals by scanning its range in order with the reference search
//! ([`Job::reference_search`], one call per chunk), so the hits it reports are real and the
//! host's verification is real. Its speed is simulated: after each chunk the device sleeps
//! until `chunk_end / rate` seconds after the call began, so a device that is not starved of
//! CPU searches at `rate` indexes per second. Faults are switched on by options (all counts are
//! of `search` calls on that device, starting at 0); the misbehaving test plugins (a liar, a
//! failing device, a hanging one) are this backend with these options:
//!
//! | option | meaning |
//! | --- | --- |
//! | `devices=N` | devices listed (default 1) |
//! | `rate=R` | indexes per second of every device (default 20000) |
//! | `rates=R0,R1,..` | one rate per device (overrides `rate`; sets `devices`) |
//! | `chunk_ms=M` | simulated milliseconds between cancel checks (default 2) |
//! | `ignore_cancel=true` | never look at the cancel flag (a backend that cannot stop) |
//! | `fail_after_batches=K` | search call K and later return an error |
//! | `fail_in=open` / `fail_in=set_job` | `open_device` / every `set_job` returns an error |
//! | `panic_after=K` | search call K panics |
//! | `hang_after_batches=K` | search call K never returns |
//! | `hang_until_cancel=true` | that hang ends (nothing searched) once the cancel flag is set |
//! | `bad_results=K` | search call K and later report a fabricated hit at the batch start |
//! | `lie=seal` / `nonce` / `target` | the fabricated hit: another index's seal (default), another nonce with the true seal, or the true nonce and seal that do not pass |
//! | `record=DIR` | append one line per search to `DIR/device-<index>.log` |
//!
//! `KEY@N=VALUE` sets KEY for device N only (over `KEY=VALUE`), so that one plugin can offer,
//! say, a lying device and a failing one: `--backend-opt synthetic.devices=2 --backend-opt
//! synthetic.bad_results@0=0 --backend-opt synthetic.fail_after_batches@1=1`.
//!
//! A record line is `<job tag> <start> <searched> <count> <attempts> <cancelled 0|1>`, where the
//! tag is [`job_tag`] of the job searched.

use pow_backend_api::{
    Backend, BackendError, Device, DeviceInfo, DeviceKind, Hit, Job, Options, SearchOutcome,
};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Default simulated speed, indexes per second.
pub const DEFAULT_RATE: f64 = 20_000.0;

/// A short tag naming a job (prefix, suffix, order, target and mapping), used in record files.
pub fn job_tag(job: &Job) -> String {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&job.prefix);
    bytes.push(0xff);
    bytes.extend_from_slice(&job.suffix);
    bytes.push(job.seal_big_endian as u8);
    for limb in job.target {
        bytes.extend_from_slice(&limb.to_le_bytes());
    }
    bytes.extend_from_slice(&job.mapping.rotate_left_bits.to_le_bytes());
    pow_seal::to_hex(&pow_seal::sha256(&bytes)[..8])
        .trim_start_matches("0x")
        .to_string()
}

/// Where a device fails outside `search`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FailIn {
    Nowhere,
    Open,
    SetJob,
}

/// What a fabricated hit gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lie {
    /// The seal of another index.
    Seal,
    /// Another nonce, with the index's true seal.
    Nonce,
    /// The true nonce and seal, which do not pass (unless the target is trivial).
    Target,
}

/// Per-device settings parsed from the options.
#[derive(Clone, Debug)]
struct Settings {
    rates: Vec<f64>,
    chunk: Duration,
    ignore_cancel: bool,
    fail_after: Option<u64>,
    fail_in: FailIn,
    panic_after: Option<u64>,
    hang_after: Option<u64>,
    hang_until_cancel: bool,
    bad_after: Option<u64>,
    lie: Lie,
    record: Option<PathBuf>,
}

/// The options as device `index` sees them: `KEY@INDEX=VALUE` replaces `KEY`.
fn for_device(options: &Options, index: u32) -> Options {
    let mut out = options.clone();
    let suffix = format!("@{index}");
    for pair in options.pairs.iter() {
        if let Some(key) = pair.key.as_str().strip_suffix(suffix.as_str()) {
            out.set(key, pair.value.as_str());
        }
    }
    out
}

fn parse_settings(options: &Options) -> Result<Settings, BackendError> {
    let rate = options.get_parsed::<f64>("rate")?.unwrap_or(DEFAULT_RATE);
    let rates = match options.get("rates") {
        Some(list) => list
            .split(',')
            .map(|r| {
                r.trim().parse::<f64>().map_err(|_| {
                    BackendError::invalid(format!("option `rates`: cannot parse `{r}`"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => {
            let n = options.get_parsed::<u32>("devices")?.unwrap_or(1);
            vec![rate; n as usize]
        }
    };
    if rates.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(BackendError::invalid("synthetic rates must be positive"));
    }
    let chunk_ms = options.get_parsed::<f64>("chunk_ms")?.unwrap_or(2.0);
    if !(chunk_ms.is_finite() && chunk_ms > 0.0) {
        return Err(BackendError::invalid("option `chunk_ms` must be positive"));
    }
    let flag = |key: &str| -> Result<bool, BackendError> {
        match options.get(key) {
            None => Ok(false),
            Some("1" | "true" | "yes") => Ok(true),
            Some("0" | "false" | "no") => Ok(false),
            Some(v) => Err(BackendError::invalid(format!(
                "option `{key}`: expected true or false, not `{v}`"
            ))),
        }
    };
    let fail_in = match options.get("fail_in") {
        None => FailIn::Nowhere,
        Some("open") => FailIn::Open,
        Some("set_job") => FailIn::SetJob,
        Some(v) => {
            return Err(BackendError::invalid(format!(
                "option `fail_in`: expected open or set_job, not `{v}`"
            )))
        }
    };
    let lie = match options.get("lie") {
        None | Some("seal") => Lie::Seal,
        Some("nonce") => Lie::Nonce,
        Some("target") => Lie::Target,
        Some(v) => {
            return Err(BackendError::invalid(format!(
                "option `lie`: expected seal, nonce or target, not `{v}`"
            )))
        }
    };
    Ok(Settings {
        rates,
        chunk: Duration::from_secs_f64(chunk_ms / 1000.0),
        ignore_cancel: flag("ignore_cancel")?,
        fail_after: options.get_parsed("fail_after_batches")?,
        fail_in,
        panic_after: options.get_parsed("panic_after")?,
        hang_after: options.get_parsed("hang_after_batches")?,
        hang_until_cancel: flag("hang_until_cancel")?,
        bad_after: options.get_parsed("bad_results")?,
        lie,
        record: options.get("record").map(PathBuf::from),
    })
}

/// The synthetic backend.
#[derive(Default)]
pub struct SyntheticBackend;

fn info(index: u32, rate: f64) -> DeviceInfo {
    DeviceInfo {
        index,
        name: format!("synthetic device {index} ({rate:.0} H/s)").into(),
        kind: DeviceKind::Other,
        compute_units: 1,
        detail: "test fixture: real seals, simulated speed".into(),
    }
}

impl Backend for SyntheticBackend {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn description(&self) -> String {
        "synthetic test devices (real seals, simulated speed and faults)".into()
    }

    fn list_devices(&self, options: &Options) -> Result<Vec<DeviceInfo>, BackendError> {
        let s = parse_settings(options)?;
        Ok(s.rates
            .iter()
            .enumerate()
            .map(|(i, r)| info(i as u32, *r))
            .collect())
    }

    fn open_device(&self, index: u32, options: &Options) -> Result<Box<dyn Device>, BackendError> {
        let s = parse_settings(&for_device(options, index))?;
        let rate = *s.rates.get(index as usize).ok_or_else(|| {
            BackendError::invalid(format!(
                "the synthetic backend has {} device(s), not {index}",
                s.rates.len()
            ))
        })?;
        if s.fail_in == FailIn::Open {
            return Err(BackendError::failed(format!(
                "synthetic device {index}: simulated open failure"
            )));
        }
        Ok(Box::new(SyntheticDevice {
            index,
            rate,
            settings: s,
            job: None,
            calls: 0,
        }))
    }
}

/// One synthetic device.
pub struct SyntheticDevice {
    index: u32,
    rate: f64,
    settings: Settings,
    job: Option<(Job, String)>,
    calls: u64,
}

fn reached(limit: Option<u64>, call: u64) -> bool {
    limit.is_some_and(|k| call >= k)
}

impl SyntheticDevice {
    fn record(&self, line: &str) {
        let Some(dir) = &self.settings.record else {
            return;
        };
        let path = dir.join(format!("device-{}.log", self.index));
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("{line}\n").as_bytes());
        }
    }
}

impl Device for SyntheticDevice {
    fn info(&self) -> DeviceInfo {
        info(self.index, self.rate)
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        if self.settings.fail_in == FailIn::SetJob {
            return Err(BackendError::failed(format!(
                "synthetic device {}: simulated set_job failure",
                self.index
            )));
        }
        self.job = Some((job.clone(), job_tag(job)));
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let call = self.calls;
        self.calls += 1;
        let s = &self.settings;
        if s.panic_after == Some(call) {
            panic!(
                "synthetic device {} panics on search call {call}",
                self.index
            );
        }
        if reached(s.fail_after, call) {
            return Err(BackendError::failed(format!(
                "synthetic device {} fails on search call {call}",
                self.index
            )));
        }
        if s.hang_after == Some(call) {
            if !s.hang_until_cancel {
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            }
            while !cancel.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(SearchOutcome::default());
        }
        let (job, tag) = self
            .job
            .as_ref()
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        if reached(s.bad_after, call) {
            // A fabricated hit at the batch start, which verification refutes.
            let nonce = job.mapping.nonce(start);
            let hit = match s.lie {
                Lie::Seal => Hit {
                    index: start,
                    nonce,
                    seal: job.reference_seal_at(start.wrapping_add(1)),
                },
                Lie::Nonce => Hit {
                    index: start,
                    nonce: nonce.wrapping_add(1),
                    seal: job.reference_seal_at(start),
                },
                Lie::Target => Hit {
                    index: start,
                    nonce,
                    seal: job.reference_seal_at(start),
                },
            };
            return Ok(SearchOutcome {
                searched: 1,
                attempts: 1,
                hits: vec![hit].into(),
            });
        }

        let began = Instant::now();
        let chunk = ((self.rate * s.chunk.as_secs_f64()).ceil() as u64).max(1);
        let mut done = 0u64;
        let mut hits = Vec::new();
        let mut cancelled = false;
        // The cancel flag is checked here, between chunks, not inside the reference search.
        let never = AtomicBool::new(false);
        while done < count {
            if !s.ignore_cancel && cancel.load(Ordering::Relaxed) {
                cancelled = true;
                break;
            }
            let n = chunk.min(count - done);
            let part = job.reference_search(start.wrapping_add(done), n, &never);
            done += part.searched;
            hits.extend(part.hits.iter().copied());
            // Pace to the simulated rate, measured from the start of the call.
            let due = began + Duration::from_secs_f64(done as f64 / self.rate);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if !hits.is_empty() {
                break;
            }
        }
        self.record(&format!(
            "{tag} {start} {done} {count} {done} {}",
            cancelled as u8
        ));
        Ok(SearchOutcome {
            searched: done,
            attempts: done,
            hits: hits.into(),
        })
    }
}

pow_backend_api::export_backend!(SyntheticBackend);

#[cfg(test)]
mod tests {
    use super::*;
    use pow_seal::{Challenge, Work};

    fn job(difficulty: u64) -> Job {
        let c = Challenge::v1(1, [7; 32], [1; 32], [2; 32]).unwrap();
        Job::from_work(&Work::new(c, difficulty))
    }

    fn device(opts: &[(&str, &str)]) -> Box<dyn Device> {
        let mut o = Options::default();
        for (k, v) in opts {
            o.set(k, *v);
        }
        SyntheticBackend.open_device(0, &o).unwrap()
    }

    #[test]
    fn finds_the_first_real_hit() {
        let j = job(50);
        let mut d = device(&[("rate", "1000000")]);
        d.set_job(&j).unwrap();
        let out = d.search(1000, 100_000, &AtomicBool::new(false)).unwrap();
        let hit = out.hits[0];
        assert!(j.verify_hit(&hit));
        assert_eq!(out.searched, hit.index - 1000 + 1);
        for i in 1000..hit.index {
            assert!(!j.is_met_by(&j.reference_seal_at(i)), "missed hit at {i}");
        }
    }

    #[test]
    fn bad_results_fail_verification() {
        let j = job(1);
        let mut d = device(&[("bad_results", "0")]);
        d.set_job(&j).unwrap();
        let out = d.search(5, 10, &AtomicBool::new(false)).unwrap();
        assert!(!j.verify_hit(&out.hits[0]));
    }

    #[test]
    fn fails_after_the_given_call() {
        let j = job(u64::MAX);
        let mut d = device(&[("fail_after_batches", "1"), ("rate", "1000000")]);
        d.set_job(&j).unwrap();
        assert!(d.search(0, 10, &AtomicBool::new(false)).is_ok());
        assert!(d.search(10, 10, &AtomicBool::new(false)).is_err());
    }

    #[test]
    fn every_lie_fails_verification() {
        let j = job(2);
        for lie in ["seal", "nonce", "target"] {
            let mut d = device(&[("bad_results", "0"), ("lie", lie)]);
            d.set_job(&j).unwrap();
            // A start index whose true seal does not pass, so that `target` lies too.
            let start = (0..)
                .find(|&i| !j.is_met_by(&j.reference_seal_at(i)))
                .unwrap();
            let out = d.search(start, 10, &AtomicBool::new(false)).unwrap();
            assert!(!j.verify_hit(&out.hits[0]), "{lie}");
        }
    }

    #[test]
    fn per_device_options_override_the_common_ones() {
        let mut o = Options::default();
        o.set("devices", "2");
        o.set("fail_in", "set_job");
        o.set("fail_in@1", "open");
        o.set("bad_results@0", "0");
        let b = SyntheticBackend;
        let mut d0 = b.open_device(0, &o).unwrap();
        assert!(d0.set_job(&job(1)).is_err());
        assert!(b.open_device(1, &o).is_err());
        o.set("fail_in@0", "nowhere");
        assert!(b.open_device(0, &o).is_err(), "bad values are refused");
    }

    #[test]
    fn a_hang_until_cancel_ends_when_cancelled() {
        let j = job(u64::MAX);
        let mut d = device(&[("hang_after_batches", "0"), ("hang_until_cancel", "true")]);
        d.set_job(&j).unwrap();
        let out = d.search(0, 10, &AtomicBool::new(true)).unwrap();
        assert_eq!(out.searched, 0);
    }

    #[test]
    fn honours_cancel_between_chunks() {
        let j = job(u64::MAX);
        let mut d = device(&[("rate", "1000")]);
        d.set_job(&j).unwrap();
        let out = d.search(0, 1_000_000, &AtomicBool::new(true)).unwrap();
        assert_eq!(out.searched, 0);
    }
}
