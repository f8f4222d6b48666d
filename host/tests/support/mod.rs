//! Helpers shared by the host's integration tests: building the out-of-tree example backend,
//! finding built fixture plugins and running the `pow-host` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The cargo target folder this test binary was built into (`target/`).
pub fn target_dir() -> PathBuf {
    build_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf()
}

/// The cargo output folder of this profile (`target/release`), where workspace libraries are.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    exe.ancestors()
        .nth(2)
        .expect("test binary is inside target/<profile>/deps")
        .to_path_buf()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `libNAME.so` on Linux.
pub fn shared_lib_name(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// A library built by the workspace (`cargo build --workspace --release`), with a clear failure
/// when it was not built first.
pub fn workspace_library(lib_name: &str) -> PathBuf {
    let p = build_dir().join(shared_lib_name(lib_name));
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace --release` before the tests",
        p.display()
    );
    p
}

/// Builds the example backend once per test binary (in a target folder of its own under the
/// workspace's, so repeated runs are incremental) and returns the library's path.
pub fn example_library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let manifest = repo_root().join("examples/example-backend/Cargo.toml");
        let target = target_dir().join("example-backend");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args(["build", "--release", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "building the example backend failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = target
            .join("release")
            .join(shared_lib_name("pow_backend_example"));
        assert!(lib.is_file(), "{} was not built", lib.display());
        lib
    })
}

/// A fresh private plugin folder holding a copy of the example library.
pub fn example_plugin_folder() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lib = example_library();
    let copy = dir.path().join(lib.file_name().unwrap());
    std::fs::copy(lib, &copy).unwrap();
    (dir, copy)
}

/// Runs the built `pow-host` with `POW_HOST_PLUGIN_PATH` set to `plugin_dir`.
pub fn pow_host(args: &[&str], plugin_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pow-host"))
        .args(args)
        .env("POW_HOST_PLUGIN_PATH", plugin_dir)
        .output()
        .expect("pow-host runs")
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
