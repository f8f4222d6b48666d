//! Misbehaving devices of the synthetic backend (`backends/synthetic`, a real cdylib loaded
//! with dlopen, with its fault options): the solver drops a device whose hits fail
//! verification and a device whose calls fail, while an honest CPU device still finds a
//! verified solution.
//!
//! The CPU backend and the synthetic plugin are built first when missing (pow-test-support).

use pow_backend_api::{Job, NonceMapping, Options};
use pow_host::plugins::{load_file, OpenDevice, Plugin};
use pow_host::run_loop::{solve, SolveReport};
use pow_seal::Work;
use pow_test_support::vectors::v1_solve_vectors;
use pow_test_support::{
    run_pow_host_with_plugins, stdout_of, synthetic_library, workspace_library,
};
use serde_json::Value;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;

fn load(path: &Path) -> Plugin {
    load_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Synthetic device `index` (of 2), unpaced (a rate no search reaches), with `options`.
fn synthetic(index: u32, options: &[(&str, &str)]) -> OpenDevice {
    let mut opts = Options::default();
    opts.set("devices", "2");
    opts.set("rate", "1e12");
    for (k, v) in options {
        opts.set(k, *v);
    }
    load(&synthetic_library())
        .open_device(index, &opts)
        .unwrap()
}

/// A device that lies (`lie=seal|nonce|target`) from its first batch on.
fn liar(index: u32, lie: &str) -> OpenDevice {
    synthetic(index, &[("bad_results", "0"), ("lie", lie)])
}

/// A device that searches one batch honestly, then fails.
fn failing(index: u32) -> OpenDevice {
    synthetic(index, &[("fail_after_batches", "1")])
}

fn cpu() -> OpenDevice {
    let mut opts = Options::default();
    opts.set("threads", "1");
    load(&workspace_library("pow_backend_cpu"))
        .open_device(0, &opts)
        .unwrap()
}

/// A v1 solve vector: the work, its start nonce and its first passing nonce.
fn v1_case(index: usize) -> (Work, u64, u64) {
    let c = &v1_solve_vectors()[index];
    (c.work(), c.nonce_start, c.first_nonce)
}
/// Solves v1 vector 9 (difficulty 1,000,000, first nonce 450,493 from 0) in sequential order.
fn solve_v1(devices: Vec<OpenDevice>) -> (SolveReport, Work, u64, u64) {
    let (work, start, first) = v1_case(9);
    let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
    let report = solve(devices, &job, start, 4096);
    (report, work, start, first)
}

/// The solution is the CPU's, passes the challenge, and is a nonce at or after the start.
fn assert_cpu_solved(report: &SolveReport, work: &Work, start: u64, first: u64) {
    let sol = report
        .solution
        .as_ref()
        .unwrap_or_else(|| panic!("no solution: {:?}", report.failures));
    assert_eq!(sol.device, "cpu:0");
    assert!(work.verify_claim(sol.hit.nonce, &sol.hit.seal));
    assert!(sol.hit.nonce >= start && sol.hit.nonce >= first, "{sol:?}");
}

fn failure_of<'a>(report: &'a SolveReport, device: &str) -> &'a str {
    &report
        .failures
        .iter()
        .find(|f| f.device == device)
        .unwrap_or_else(|| panic!("{device} was not dropped: {:?}", report.failures))
        .reason
}

#[test]
fn liar_is_dropped_in_every_mode_and_the_cpu_solves() {
    for lie in ["seal", "nonce", "target"] {
        let devices = vec![liar(0, lie), cpu()];
        let (report, work, start, first) = solve_v1(devices);
        assert_cpu_solved(&report, &work, start, first);
        let reason = failure_of(&report, "synthetic:0");
        assert!(reason.contains("fail verification"), "{lie}: {reason}");
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    }
}

#[test]
fn erroring_device_is_dropped_and_the_cpu_solves() {
    let devices = vec![failing(0), cpu()];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    let reason = failure_of(&report, "synthetic:0");
    assert!(
        reason.contains("synthetic device 0 fails on search call 1"),
        "{reason}"
    );
}

#[test]
fn device_failing_to_load_the_job_is_dropped() {
    let devices = vec![synthetic(0, &[("fail_in", "set_job")]), cpu()];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    assert!(failure_of(&report, "synthetic:0").contains("could not load the job"));
}

#[test]
fn liar_and_erroring_device_together() {
    let devices = vec![liar(0, "seal"), failing(1), cpu()];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    failure_of(&report, "synthetic:0");
    failure_of(&report, "synthetic:1");
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
}

#[test]
fn without_an_honest_device_there_is_no_solution() {
    let devices = vec![liar(0, "seal"), failing(1)];
    let (report, ..) = solve_v1(devices);
    assert!(report.solution.is_none(), "{:?}", report.solution);
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
}

#[test]
fn honest_batches_of_the_misbehaving_devices_are_correct() {
    // Each misbehaving device searches its first batch for real: alone, each finds the first
    // nonce of v1 vector 5 (difficulty 65537, nonce 61414 from 0) in one batch.
    let (work, start, first) = v1_case(5);
    let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
    for opts in [
        ("bad_results", "1"),
        ("fail_after_batches", "1"),
        ("hang_after_batches", "1"),
    ] {
        let mut dev = synthetic(0, &[opts]);
        dev.set_job(&job).unwrap();
        let out = dev.search(start, 1 << 17, &AtomicBool::new(false)).unwrap();
        assert_eq!(out.hits.len(), 1, "{opts:?}: {out:?}");
        assert_eq!(out.hits[0].nonce, first, "{opts:?}");
        assert!(job.verify_hit(&out.hits[0]), "{opts:?}");
        assert_eq!(out.searched, first - start + 1, "{opts:?}");
    }
}

/// Runs `search` on another thread; returns whether it came back within `wait`.
fn search_returns_within(mut dev: OpenDevice, cancel: Arc<AtomicBool>, wait: Duration) -> bool {
    let (work, start, _) = v1_case(5);
    let job = Job::from_work(&work);
    dev.set_job(&job).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = dev.search(start, 1 << 20, &cancel);
        let _ = tx.send(r.is_ok());
    });
    rx.recv_timeout(wait).is_ok()
}

#[test]
fn a_hanging_device_ignores_cancel_unless_told_not_to() {
    // Cancelled before the call: an honest device returns at once. The hanging one never does
    // (its thread stays blocked until the test process exits).
    let cancel = Arc::new(AtomicBool::new(true));
    assert!(!search_returns_within(
        synthetic(0, &[("hang_after_batches", "0")]),
        cancel.clone(),
        Duration::from_millis(500)
    ));
    assert!(search_returns_within(
        synthetic(
            0,
            &[("hang_after_batches", "0"), ("hang_until_cancel", "true")]
        ),
        cancel.clone(),
        Duration::from_secs(10)
    ));
    assert!(search_returns_within(
        cpu(),
        cancel,
        Duration::from_secs(10)
    ));
}

#[test]
fn cli_reports_dropped_devices_and_still_solves() {
    // The synthetic plugin copied into a plugin folder and picked with --backends: device 0
    // lies, device 1 fails after one batch.
    let dir = tempfile::tempdir().unwrap();
    let lib = synthetic_library();
    std::fs::copy(&lib, dir.path().join(lib.file_name().unwrap())).unwrap();
    let out = run_pow_host_with_plugins(
        &[
            "solve",
            "--sample",
            "--difficulty",
            "1000000",
            "--nonce-start",
            "0",
            "--batch",
            "4096",
            "--threads",
            "1",
            "--backends",
            "synthetic,cpu",
            "--backend-opt",
            "synthetic.devices=2",
            "--backend-opt",
            "synthetic.rate=1e12",
            "--backend-opt",
            "synthetic.bad_results@0=0",
            "--backend-opt",
            "synthetic.fail_after_batches@1=1",
            "--json",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(json["device"], "cpu:0", "{json}");
    assert!(
        stderr.contains("warning: device synthetic:0 dropped")
            && stderr.contains("fail verification"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: device synthetic:1 dropped")
            && stderr.contains("synthetic device 1 fails on search call"),
        "{stderr}"
    );
}
