//! Running the built `pow-host`.

use crate::artifacts::{artifact, PLUGIN_PATH_ENV, POW_HOST};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The built `pow-host` binary of this profile, built first when missing.
pub fn pow_host_bin() -> PathBuf {
    artifact(&format!("{POW_HOST}{}", std::env::consts::EXE_SUFFIX))
}

/// Runs the built `pow-host` with arguments and extra environment variables; the caller's
/// `POW_HOST_PLUGIN_PATH` is not passed on (set it in `env` to use one).
pub fn run_pow_host(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(pow_host_bin());
    cmd.args(args);
    cmd.env_remove(PLUGIN_PATH_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("pow-host runs")
}

/// Runs the built `pow-host` with `POW_HOST_PLUGIN_PATH` set to `plugin_dir`.
pub fn run_pow_host_with_plugins(args: &[&str], plugin_dir: &Path) -> Output {
    let dir = plugin_dir.to_str().expect("plugin folder path is UTF-8");
    run_pow_host(args, &[(PLUGIN_PATH_ENV, dir)])
}

/// The standard output of a run that must have succeeded.
pub fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "pow-host failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}
