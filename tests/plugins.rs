//! Plugin loading: several plugins at once, an incompatible one refused with a clear message,
//! files that are not plugins skipped, a panicking plugin contained.

use pow_backend_api::{ErrorKind, Job, Options};
use pow_host::plugins::{load_all, PluginDir};
use pow_seal::{Challenge, Work};
use pow_test_support::{artifact, run_pow_host, scratch_dir, shared_lib_name};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

fn copy_into(dir: &Path, lib: &str) -> PathBuf {
    let name = shared_lib_name(lib);
    let dest = dir.join(&name);
    std::fs::copy(artifact(&name), &dest).unwrap();
    dest
}

/// A folder with the CPU backend, the panicking and incompatible fixtures, a file of garbage
/// and (when the system has one) an ordinary shared library that is not a plugin.
fn mixed_folder(name: &str) -> PathBuf {
    let dir = scratch_dir(name);
    copy_into(&dir, "pow_backend_cpu");
    copy_into(&dir, "fixture_panicking_backend");
    copy_into(&dir, "fixture_incompatible_backend");
    std::fs::write(
        dir.join(shared_lib_name("garbage")),
        b"this is not an ELF file",
    )
    .unwrap();
    if let Some(libm) = system_library() {
        std::fs::copy(libm, dir.join(shared_lib_name("notaplugin"))).unwrap();
    }
    dir
}

/// Some ordinary shared library of the system, if one is found.
fn system_library() -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/usr/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

#[test]
fn loads_several_plugins_and_skips_the_rest() {
    let dir = mixed_folder("mixed");
    let report = load_all(&[PluginDir {
        path: dir.clone(),
        all_files: true,
    }]);
    let mut names: Vec<_> = report.plugins.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["cpu", "panicker"]);

    let reason_for = |file: &str| {
        report
            .skipped
            .iter()
            .find(|s| s.path.file_name().unwrap() == shared_lib_name(file).as_str())
            .map(|s| s.reason.clone())
            .unwrap_or_else(|| panic!("{file} should have been skipped"))
    };
    let incompatible = reason_for("fixture_incompatible_backend");
    let plugin_version = pow_backend_api::INTERFACE_VERSION + 1000;
    assert!(
        incompatible.contains(&format!("interface version {plugin_version}"))
            && incompatible.contains(&format!(
                "interface version {}",
                pow_backend_api::INTERFACE_VERSION
            )),
        "message must name both versions: {incompatible}"
    );
    assert!(reason_for("garbage").contains("cannot be opened"));
    if system_library().is_some() {
        assert!(reason_for("notaplugin").contains("not a pow-host backend"));
    }
}

#[test]
fn incompatible_plugin_refusal_names_file_and_versions_on_the_command_line() {
    let dir = mixed_folder("cli-mixed");
    let out = run_pow_host(
        &["--plugin-dir", dir.to_str().unwrap(), "backends", "--json"],
        &[],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("fixture_incompatible_backend"))
        .unwrap_or_else(|| panic!("no warning about the incompatible plugin: {stderr}"));
    assert!(line.contains(dir.to_str().unwrap()), "{line}");
    assert!(line.contains("interface version 1001"), "{line}");
    assert!(
        line.contains("this host speaks interface version 1"),
        "{line}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<_> = json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"cpu".to_string()) && names.contains(&"panicker".to_string()));
    assert!(json["skipped"].as_array().unwrap().len() >= 2);
}

#[test]
fn a_panic_inside_a_plugin_is_an_error_not_an_abort() {
    let dir = scratch_dir("panicker-only");
    copy_into(&dir, "fixture_panicking_backend");
    let report = load_all(&[PluginDir {
        path: dir,
        all_files: true,
    }]);
    let plugin = &report.plugins[0];

    let mut opts = Options::default();
    opts.set("panic_in", "list");
    let err = plugin.list_devices(&opts).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Panicked);
    assert!(err.message.contains("fixture panic in list_devices"));

    opts.set("panic_in", "open");
    let err = plugin.open_device(0, &opts).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Panicked);

    let mut dev = plugin.open_device(0, &Options::default()).unwrap();
    let work = Work::new(
        Challenge::Faucet {
            block_hash: [1; 32],
            coldkey: [2; 32],
        },
        1,
    );
    dev.set_job(&Job::from_work(&work)).unwrap();
    let err = dev.search(7, 10, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Panicked);
    assert!(err.message.contains("index 7"), "{}", err.message);
    // The device refuses further work after a panic instead of running on broken state.
    let err = dev.search(7, 10, &AtomicBool::new(false)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
}

#[test]
fn solve_carries_on_when_one_plugin_panics() {
    let dir = mixed_folder("solve-with-panicker");
    let out = run_pow_host(
        &[
            "--plugin-dir",
            dir.to_str().unwrap(),
            "--backends",
            "panicker,cpu",
            "solve",
            "--sample",
            "--difficulty",
            // Hard enough (about 0.1 to 1 s) that the panicking device is asked for work.
            "2000000",
            "--json",
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("panicker:0 dropped") && stderr.contains("backend panicked"),
        "{stderr}"
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["device"], "cpu:0");
}

#[test]
fn plugin_path_environment_variable_is_searched() {
    let dir = scratch_dir("env-path");
    copy_into(&dir, "fixture_panicking_backend");
    let out = run_pow_host(
        &["backends", "--json"],
        &[(pow_host::plugins::PLUGIN_PATH_ENV, dir.to_str().unwrap())],
    );
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<_> = json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["file"].as_str().unwrap().to_string())
        .collect();
    assert!(
        files.iter().any(|f| f.starts_with(dir.to_str().unwrap())),
        "{files:?}"
    );
}
