//! Misbehaving devices from the fixture plugins in `tests/fixtures/` (real cdylibs, loaded with
//! dlopen): the solver drops a device whose hits fail verification and a device whose calls
//! fail, while an honest CPU device still finds a verified solution.
//!
//! Needs `cargo build --workspace --release` first (the fixtures and the CPU backend are
//! workspace libraries in `target/release`).

mod support;

use pow_backend_api::{Job, NonceMapping, Options};
use pow_host::plugins::{load_file, OpenDevice, Plugin};
use pow_host::run_loop::{solve, SolveReport};
use pow_seal::{parse_bytes32, Challenge, Work};
use serde_json::Value;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use support::{repo_root, workspace_library};

fn plugin(lib_name: &str) -> Plugin {
    load_file(&workspace_library(lib_name)).unwrap_or_else(|e| panic!("{lib_name}: {e}"))
}

fn open(lib_name: &str, options: &[(&str, &str)]) -> OpenDevice {
    let mut opts = Options::default();
    for (k, v) in options {
        opts.set(k, *v);
    }
    plugin(lib_name).open_device(0, &opts).unwrap()
}

fn cpu() -> OpenDevice {
    open("pow_backend_cpu", &[("threads", "1")])
}

/// A v1 solve vector: the work, its start nonce and its first passing nonce.
fn v1_case(index: usize) -> (Work, u64, u64) {
    let path = repo_root().join("tests/data/vectors/pow_register_v1_solve_vectors.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let c = &all[index];
    let b = |k: &str| parse_bytes32(c[k].as_str().unwrap()).unwrap();
    let n = |k: &str| {
        c[k].as_u64()
            .or_else(|| c[k].as_str().and_then(|s| s.parse().ok()))
            .unwrap()
    };
    let challenge = Challenge::v1(
        n("netuid") as u16,
        b("block_hash"),
        b("hotkey_pubkey"),
        b("coldkey_pubkey"),
    )
    .unwrap();
    (
        Work::new(challenge, n("difficulty")),
        n("nonce_start"),
        n("first_nonce"),
    )
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
    for mode in ["seal", "nonce", "target"] {
        let devices = vec![open("fixture_liar_backend", &[("mode", mode)]), cpu()];
        let (report, work, start, first) = solve_v1(devices);
        assert_cpu_solved(&report, &work, start, first);
        let reason = failure_of(&report, "liar:0");
        assert!(reason.contains("fail verification"), "{mode}: {reason}");
        assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    }
}

#[test]
fn erroring_device_is_dropped_and_the_cpu_solves() {
    let devices = vec![open("fixture_error_backend", &[("fail_after", "1")]), cpu()];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    let reason = failure_of(&report, "failing:0");
    assert!(
        reason.contains("simulated device failure after 1 batches"),
        "{reason}"
    );
}

#[test]
fn device_failing_to_load_the_job_is_dropped() {
    let devices = vec![
        open("fixture_error_backend", &[("fail_in", "set_job")]),
        cpu(),
    ];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    assert!(failure_of(&report, "failing:0").contains("could not load the job"));
}

#[test]
fn liar_and_erroring_device_together() {
    let devices = vec![
        open("fixture_liar_backend", &[]),
        open("fixture_error_backend", &[("fail_after", "1")]),
        cpu(),
    ];
    let (report, work, start, first) = solve_v1(devices);
    assert_cpu_solved(&report, &work, start, first);
    failure_of(&report, "liar:0");
    failure_of(&report, "failing:0");
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
}

#[test]
fn without_an_honest_device_there_is_no_solution() {
    let devices = vec![
        open("fixture_liar_backend", &[]),
        open("fixture_error_backend", &[("fail_after", "1")]),
    ];
    let (report, ..) = solve_v1(devices);
    assert!(report.solution.is_none(), "{:?}", report.solution);
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
}

#[test]
fn honest_batches_of_the_fixtures_are_correct() {
    // With `honest=N`/`fail_after=N` the fixtures search for real first: alone, each finds the
    // vector's first nonce of v1 vector 5 (difficulty 65537, nonce 61414 from 0) in one batch.
    let (work, start, first) = v1_case(5);
    let job = Job::from_work(&work).with_mapping(NonceMapping::IDENTITY);
    for (lib, opts) in [
        ("fixture_liar_backend", ("honest", "1")),
        ("fixture_error_backend", ("fail_after", "1")),
        ("fixture_hang_backend", ("honest", "1")),
    ] {
        let mut dev = open(lib, &[opts]);
        dev.set_job(&job).unwrap();
        let out = dev.search(start, 1 << 17, &AtomicBool::new(false)).unwrap();
        assert_eq!(out.hits.len(), 1, "{lib}: {out:?}");
        assert_eq!(out.hits[0].nonce, first, "{lib}");
        assert!(job.verify_hit(&out.hits[0]), "{lib}");
        assert_eq!(out.searched, first - start + 1, "{lib}");
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
fn hang_fixture_ignores_cancel_unless_told_not_to() {
    // Cancelled before the call: an honest device returns at once. The hanging one never does
    // (its thread stays blocked until the test process exits).
    let cancel = Arc::new(AtomicBool::new(true));
    assert!(!search_returns_within(
        open("fixture_hang_backend", &[]),
        cancel.clone(),
        Duration::from_millis(500)
    ));
    assert!(search_returns_within(
        open("fixture_hang_backend", &[("honor_cancel", "true")]),
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
    // The fixtures copied into a plugin folder and picked with --backends.
    let dir = tempfile::tempdir().unwrap();
    for lib in ["fixture_liar_backend", "fixture_error_backend"] {
        let src = workspace_library(lib);
        std::fs::copy(&src, dir.path().join(src.file_name().unwrap())).unwrap();
    }
    let out = support::pow_host(
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
            "liar,failing,cpu",
            "--backend-opt",
            "failing.fail_after=1",
            "--json",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = serde_json::from_str(&support::stdout_of(&out)).unwrap();
    assert_eq!(json["device"], "cpu:0", "{json}");
    assert!(
        stderr.contains("warning: device liar:0 dropped") && stderr.contains("fail verification"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: device failing:0 dropped")
            && stderr.contains("simulated device failure"),
        "{stderr}"
    );
}
