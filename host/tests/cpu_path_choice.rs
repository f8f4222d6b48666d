//! The CPU backend's hashing path is chosen by measurement, cached in the host's cache folder
//! and shown: `pow-host backends -v` first reports rates measured now, the next run reads them
//! from `cpu-paths.json` (and chooses by what it reads), `--recalibrate` measures again, and
//! `--backend-opt cpu.path=NAME` forces a path without measuring. Runs the built `pow-host`
//! with the real cpu plugin and `XDG_CACHE_HOME` in a temporary folder.

use pow_test_support::{run_pow_host, stdout_of};
use serde_json::Value;
use std::path::Path;

/// Runs `pow-host --backends cpu ARGS` with the cache in `cache_home`.
fn pow_host(args: &[&str], cache_home: &Path) -> String {
    let mut all = vec!["--backends", "cpu"];
    all.extend_from_slice(args);
    let home = cache_home.to_str().unwrap();
    stdout_of(&run_pow_host(&all, &[("XDG_CACHE_HOME", home)]))
}

/// The cpu device's line of `backends` text output.
fn cpu_line(text: &str) -> String {
    text.lines()
        .find(|l| l.contains("CPU ("))
        .unwrap_or_else(|| panic!("no CPU device line in:\n{text}"))
        .to_string()
}

/// The cache file's entry and the rate it holds for `path`.
fn cached_rate(file: &Path, path: &str) -> f64 {
    let json: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{json}");
    entries[0]["rates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == path)
        .unwrap_or_else(|| panic!("no rate for {path}: {json}"))["attempts_per_second"]
        .as_f64()
        .unwrap()
}

#[test]
fn backends_v_reports_measured_rates_then_cached_ones() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("pow-host").join("cpu-paths.json");

    let first = cpu_line(&pow_host(&["-v", "backends"], home.path()));
    assert!(
        first.contains("rates on 1 thread, measured now: "),
        "{first}"
    );
    assert!(first.contains("portable"), "{first}");
    assert!(file.is_file(), "no cache file after the first run");

    let second = cpu_line(&pow_host(&["-v", "backends"], home.path()));
    assert!(
        second.contains("rates on 1 thread, from the cache: "),
        "{second}"
    );
    // The same path and the same rates, read back.
    let rates = |line: &str| line.split_once(": ").unwrap().1.to_string();
    assert_eq!(rates(&first), rates(&second));
    let path = |line: &str| {
        let at = line.find("path ").unwrap();
        line[at..].split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(path(&first), path(&second));

    // Without -v only the path; JSON carries both parts.
    let quiet = cpu_line(&pow_host(&["backends"], home.path()));
    assert!(
        quiet.ends_with(&format!("path {}", path(&first))),
        "{quiet}"
    );
    let json: Value =
        serde_json::from_str(&pow_host(&["backends", "--json"], home.path())).unwrap();
    let device = &json["backends"][0]["devices"][0];
    assert_eq!(device["detail"], format!("path {}", path(&first)));
    assert!(
        device["more_detail"]
            .as_str()
            .unwrap()
            .starts_with("rates on 1 thread, from the cache: "),
        "{device}"
    );
}

#[test]
fn the_cached_rates_choose_the_path_until_recalibrate_measures_again() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("pow-host").join("cpu-paths.json");
    pow_host(&["backends"], home.path());

    // Make `portable` the fastest in the cache: the next listing chooses it, from the cache.
    let mut json: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for r in json["entries"][0]["rates"].as_array_mut().unwrap() {
        let rate = if r["path"] == "portable" { 2.0 } else { 1.0 };
        r["attempts_per_second"] = rate.into();
    }
    std::fs::write(&file, serde_json::to_vec(&json).unwrap()).unwrap();
    let line = cpu_line(&pow_host(&["-v", "backends"], home.path()));
    assert!(
        line.contains("path portable (rates on 1 thread, from the cache"),
        "{line}"
    );

    // `solve --recalibrate` passes `recalibrate=1`: the cpu backend measures again.
    pow_host(
        &[
            "solve",
            "--sample",
            "--difficulty",
            "1000",
            "--calibrate-seconds",
            "0",
            "--recalibrate",
        ],
        home.path(),
    );
    assert!(cached_rate(&file, "portable") > 1000.0);
    let line = cpu_line(&pow_host(&["-v", "backends"], home.path()));
    assert!(line.contains("from the cache"), "{line}");
}

#[test]
fn a_forced_path_is_shown_without_measuring() {
    let home = tempfile::tempdir().unwrap();
    let line = cpu_line(&pow_host(
        &["-v", "backends", "--backend-opt", "cpu.path=portable"],
        home.path(),
    ));
    assert!(
        line.ends_with("path portable (forced with path=portable, not measured)"),
        "{line}"
    );
    assert!(!home.path().join("pow-host").join("cpu-paths.json").exists());
}
