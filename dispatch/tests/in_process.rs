//! Dispatcher behaviour with small in-process devices (the plugin-level tests live in
//! `host/tests/dispatch_synthetic.rs`).

use pow_backend_api::{BackendError, DeviceKind, Hit, Job, SearchOutcome};
use pow_dispatch::{Config, DeviceMeta, DispatchDevice, Dispatcher, DropReason, Event, WorkSpec};
use pow_seal::{Challenge, Work};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

fn job(block: u8, difficulty: u64) -> Job {
    let c = Challenge::v1(1, [block; 32], [3; 32], [4; 32]).unwrap();
    Job::from_work(&Work::new(c, difficulty))
}

/// How a test device behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Scans for real with the reference search (which checks the cancel flag).
    Honest,
    /// Claims a hit at the batch start with a wrong seal.
    WrongSeal,
    /// Claims to have searched more than asked.
    Overreach,
    /// Sleeps, ignoring the cancel flag, then reports the first real hit of its batch.
    SlowIgnoresCancel(Duration),
}

struct TestDevice {
    label: String,
    behaviour: Behaviour,
    job: Option<Job>,
}

fn dev(label: &str, behaviour: Behaviour) -> Box<dyn DispatchDevice> {
    Box::new(TestDevice {
        label: label.into(),
        behaviour,
        job: None,
    })
}

impl DispatchDevice for TestDevice {
    fn meta(&self) -> DeviceMeta {
        DeviceMeta {
            label: self.label.clone(),
            backend: "test".into(),
            index: 0,
            name: self.label.clone(),
            detail: String::new(),
            kind: DeviceKind::Other,
            plugin: format!("/plugins/{}.so", self.label).into(),
            fingerprint: self.label.clone(),
        }
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        self.job = Some(job.clone());
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let job = self.job.as_ref().unwrap();
        Ok(match self.behaviour {
            Behaviour::Honest => job.reference_search(start, count, cancel),
            Behaviour::WrongSeal => SearchOutcome {
                searched: 1,
                attempts: 1,
                hits: vec![Hit {
                    index: start,
                    nonce: job.mapping.nonce(start),
                    seal: [0; 32],
                }]
                .into(),
            },
            Behaviour::Overreach => SearchOutcome {
                searched: count + 1,
                attempts: count + 1,
                hits: Default::default(),
            },
            Behaviour::SlowIgnoresCancel(d) => {
                std::thread::sleep(d);
                job.reference_search(start, count, &AtomicBool::new(false))
            }
        })
    }
}

fn next_event(d: &Dispatcher, limit: Duration) -> Event {
    d.events()
        .recv_timeout(limit)
        .unwrap_or_else(|e| panic!("no event within {limit:?}: {e}"))
}

#[test]
fn liars_are_quarantined_and_never_reported() {
    let d = Dispatcher::new(
        vec![
            dev("wrong-seal", Behaviour::WrongSeal),
            dev("overreach", Behaviour::Overreach),
            dev("honest", Behaviour::Honest),
        ],
        Config {
            initial_batch: 256,
            ..Config::default()
        },
    )
    .unwrap();
    let j = job(1, 20_000);
    d.set_work(WorkSpec::new(5, j.clone()));
    let mut quarantined = Vec::new();
    let solution = loop {
        match next_event(&d, Duration::from_secs(60)) {
            Event::DeviceDropped {
                label,
                plugin,
                reason: DropReason::Quarantined(m),
                ..
            } => {
                assert!(m.contains(&plugin.display().to_string()), "{m}");
                quarantined.push(label);
            }
            Event::Solution(s) => break s,
            Event::DeviceDropped { reason, .. } => panic!("unexpected drop: {reason}"),
            _ => {}
        }
    };
    assert_eq!(solution.label, "honest");
    assert_eq!(solution.job_id, 5);
    assert!(j.verify_hit(&solution.hit));
    quarantined.sort();
    assert_eq!(quarantined, ["overreach", "wrong-seal"]);
}

#[test]
fn a_hit_for_a_replaced_job_is_never_reported() {
    // The slow device finds a hit for job 1 (difficulty 1: every index passes), but only
    // after job 2 has replaced it; the coordinator must drop that hit.
    let d = Dispatcher::new(
        vec![dev(
            "slow",
            Behaviour::SlowIgnoresCancel(Duration::from_millis(300)),
        )],
        Config::default(),
    )
    .unwrap();
    let mut impossible = job(2, 1);
    impossible.target = [0; 4];
    d.set_work(WorkSpec::new(1, job(1, 1)));
    std::thread::sleep(Duration::from_millis(50));
    d.set_work(WorkSpec::new(2, impossible));
    assert!(!d.is_current(1));
    let end = Instant::now() + Duration::from_secs(2);
    let mut switched = false;
    while Instant::now() < end {
        match d.events().recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Solution(s)) => panic!("stale or impossible solution reported: {s:?}"),
            Ok(Event::Switched(s)) => {
                assert_eq!(s.previous.job_id, 1);
                assert_eq!(s.cancelled, 1);
                // The device ignored the cancel and stopped at its hit, the first index.
                assert_eq!(s.previous.searched, 1);
                switched = true;
            }
            _ => {}
        }
    }
    assert!(switched, "switch not reported");
    d.stop();
}

#[test]
fn stop_reports_the_running_jobs_accounting() {
    let d = Dispatcher::new(
        vec![dev("a", Behaviour::Honest), dev("b", Behaviour::Honest)],
        Config {
            stop_on_solution: false,
            ..Config::default()
        },
    )
    .unwrap();
    let mut j = job(3, 1);
    j.target = [0; 4];
    // Work set from another thread through a handle.
    let handle = d.handle();
    std::thread::spawn(move || handle.set_work(WorkSpec::new(9, j).start_index(1000)))
        .join()
        .unwrap();
    assert!(d.is_current(9));
    std::thread::sleep(Duration::from_millis(300));
    let report = d.stop();
    let acc = report.account.unwrap();
    assert_eq!(acc.job_id, 9);
    assert_eq!(acc.start_index, 1000);
    assert!(acc.searched > 0);
    assert_eq!(acc.searched + acc.pending_len(), acc.issued());
    assert_eq!(acc.device_attempts.iter().sum::<u64>(), acc.attempts);
    assert_eq!(report.stats.attempts_total, acc.attempts);
}
