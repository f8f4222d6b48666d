//! Plugin files and folders that other users could write are refused (unless
//! `--allow-insecure-plugins`), with a message that names the path and the fix.
#![cfg(unix)]

use pow_host::plugins::{check_trust, load_all_with, LoadPolicy, PluginDir};
use pow_test_support::{
    example_library, example_plugin_folder, run_pow_host_with_plugins as pow_host, stdout_of,
};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn backends_json(dir: &Path, extra: &[&str]) -> (Value, String) {
    let mut args = vec!["backends", "--json"];
    args.extend_from_slice(extra);
    let out = pow_host(&args, dir);
    let json = serde_json::from_str(&stdout_of(&out)).unwrap();
    (json, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn has_example(json: &Value) -> bool {
    json["backends"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["name"] == "example")
}

/// The `skipped` entry for `file`, if any.
fn skip_reason(json: &Value, file: &Path) -> Option<String> {
    json["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"] == file.display().to_string())
        .map(|s| s["reason"].as_str().unwrap().to_string())
}

/// Refused without the flag (naming `culprit` and `chmod go-w culprit`), loaded with it.
fn refused_then_allowed(dir: &Path, file: &Path, culprit: &Path) {
    let fix = format!("chmod go-w {}", culprit.display());

    let (json, stderr) = backends_json(dir, &[]);
    assert!(!has_example(&json), "insecure plugin was loaded: {json}");
    let reason = skip_reason(&json, file).unwrap_or_else(|| panic!("not reported: {json}"));
    assert!(reason.contains(&fix), "{reason}");
    assert!(reason.contains("--allow-insecure-plugins"), "{reason}");
    assert!(!reason.contains("  ") && !reason.contains('\n'), "{reason}");
    assert!(
        stderr.contains(&format!("warning: skipped plugin {}", file.display()))
            && stderr.contains(&fix),
        "{stderr}"
    );

    let (json, stderr) = backends_json(dir, &["--allow-insecure-plugins"]);
    assert!(has_example(&json), "not loaded with the flag: {json}");
    assert!(skip_reason(&json, file).is_none(), "{json}");
    let insecure = json["insecure"].as_array().unwrap();
    assert_eq!(insecure.len(), 1, "{json}");
    assert!(
        insecure[0]["reason"].as_str().unwrap().contains(&fix),
        "{json}"
    );
    assert!(
        stderr.contains(&format!("warning: insecure plugin {}", file.display())),
        "{stderr}"
    );
}

#[test]
fn private_plugin_is_loaded_without_warnings() {
    let (dir, file) = example_plugin_folder();
    let (json, stderr) = backends_json(dir.path(), &[]);
    assert!(has_example(&json), "{json}");
    assert!(skip_reason(&json, &file).is_none(), "{json}");
    assert!(!stderr.contains("insecure"), "{stderr}");
    check_trust(&file).unwrap();
}

#[test]
fn world_writable_plugin_file_is_refused() {
    let (dir, file) = example_plugin_folder();
    chmod(&file, 0o666);
    refused_then_allowed(dir.path(), &file, &file);
}

#[test]
fn group_writable_plugin_file_is_refused() {
    let (dir, file) = example_plugin_folder();
    chmod(&file, 0o664);
    let err = check_trust(&file).unwrap_err().to_string();
    assert!(err.contains("its group"), "{err}");
    refused_then_allowed(dir.path(), &file, &file);
}

#[test]
fn world_writable_plugin_folder_is_refused() {
    let (dir, file) = example_plugin_folder();
    chmod(dir.path(), 0o777);
    refused_then_allowed(dir.path(), &file, dir.path());
}

#[test]
fn world_writable_folder_above_is_refused_unless_sticky() {
    let outer = tempfile::tempdir().unwrap();
    let inner = outer.path().join("plugins");
    std::fs::create_dir(&inner).unwrap();
    chmod(&inner, 0o755);
    let file = inner.join("libpow_backend_example.so");
    std::fs::copy(example_library(), &file).unwrap();

    chmod(outer.path(), 0o777);
    refused_then_allowed(&inner, &file, outer.path());

    // With the sticky bit (like /tmp) others cannot rename or replace what is not theirs.
    chmod(outer.path(), 0o1777);
    check_trust(&file).unwrap();
    let (json, _) = backends_json(&inner, &[]);
    assert!(has_example(&json), "{json}");
}

#[test]
fn link_into_a_writable_folder_is_refused() {
    let (target_dir, real) = example_plugin_folder();
    chmod(target_dir.path(), 0o777);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("libpow_backend_example.so");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let err = check_trust(&link).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "chmod go-w {}",
            target_dir.path().canonicalize().unwrap().display()
        )),
        "{err}"
    );
}

#[test]
fn file_owned_by_another_user_is_refused() {
    let (dir, file) = example_plugin_folder();
    // Only root can give a file away; as another user this case cannot be set up.
    if std::os::unix::fs::chown(&file, Some(54321), None).is_err() {
        eprintln!("skipped: cannot chown (not root)");
        return;
    }
    let err = check_trust(&file).unwrap_err().to_string();
    assert!(err.contains("uid 54321"), "{err}");
    let report = load_all_with(
        &[PluginDir {
            path: dir.path().to_path_buf(),
            all_files: true,
        }],
        LoadPolicy::default(),
    );
    assert!(report.plugins.is_empty());
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].reason.contains("chown"));
    let report = load_all_with(
        &[PluginDir {
            path: dir.path().to_path_buf(),
            all_files: true,
        }],
        LoadPolicy {
            allow_insecure: true,
        },
    );
    assert_eq!(report.plugins.len(), 1);
    assert_eq!(report.plugins[0].name, "example");
    assert_eq!(report.insecure.len(), 1);
}

#[test]
fn verbose_run_logs_each_loaded_file_with_its_version() {
    let (dir, file) = example_plugin_folder();
    let out = pow_host(&["-v", "backends"], dir.path());
    stdout_of(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "loaded backend `example` from {} (pow-backend-api {}, interface {})",
        file.display(),
        pow_backend_api::ffi::api_package_version(),
        pow_backend_api::INTERFACE_VERSION
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(
        stderr.contains(&format!("plugin folder: {}", dir.path().display())),
        "{stderr}"
    );
    // Without -v, a clean load says nothing about the file.
    let quiet = pow_host(&["backends"], dir.path());
    let quiet = String::from_utf8_lossy(&quiet.stderr);
    assert!(!quiet.contains(&file.display().to_string()), "{quiet}");
}
