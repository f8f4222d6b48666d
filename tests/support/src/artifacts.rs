//! Where the built files are, and building them when they are missing.
//!
//! `cargo test` builds the test binaries, their dependencies and (for the host's tests) the
//! `pow-host` binary, but not the workspace's `cdylib` plugins. [`ensure_built`] runs
//! `cargo build --workspace` in the test's own profile and target folder, once per test
//! process, the first time a test asks for a file that is missing; concurrent test processes
//! wait for each other on cargo's own lock of the build folder. A file that exists is used as
//! it is (a stale one is not rebuilt: run `cargo build --workspace` for that).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The prefix of the workspace's backend libraries, which `pow-host` loads from its own folder:
/// `pow_host::plugins::BUILT_IN_PREFIX`, repeated here because this crate cannot depend on
/// `pow-host` (host/tests/test_support.rs checks that they agree).
pub const WORKSPACE_BACKEND_PREFIX: &str = "libpow_backend_";

/// The environment variable naming extra plugin folders: `pow_host::plugins::PLUGIN_PATH_ENV`,
/// repeated here like [`WORKSPACE_BACKEND_PREFIX`].
pub const PLUGIN_PATH_ENV: &str = "POW_HOST_PLUGIN_PATH";

/// The backend libraries the workspace builds (`libpow_backend_NAME`); a test of this crate
/// checks the list against the workspace's `cdylib` targets.
pub const WORKSPACE_BACKENDS: &[&str] =
    &["pow_backend_cpu", "pow_backend_opencl", "pow_backend_cuda"];

/// The synthetic test backend's library name (`backends/synthetic`, loaded by path only).
pub const SYNTHETIC_LIB: &str = "pow_synthetic";

/// The host binary's name (without the platform's executable suffix).
pub const POW_HOST: &str = "pow-host";

/// The repository (and workspace) root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support is two folders below the root")
        .to_path_buf()
}

/// The cargo output folder of this profile (`target/release` or `target/debug`), which holds
/// `pow-host` and the backend libraries: the folder above the running test binary's `deps`.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/[<triple>/]<profile>/deps/<test binary>
    exe.ancestors()
        .nth(2)
        .expect("test binary is inside target/<profile>/deps")
        .to_path_buf()
}

/// The cargo target folder (`target/`) the test binary was built in.
pub fn target_dir() -> PathBuf {
    let (dir, _) = target_dir_and_triple();
    dir
}

/// The target folder, and the target triple when the build folder is `target/<triple>/<profile>`
/// (cargo writes `CACHEDIR.TAG` at the top of a target folder).
fn target_dir_and_triple() -> (PathBuf, Option<String>) {
    let build = build_dir();
    let parent = build.parent().expect("target/<profile> has a parent");
    if !parent.join("CACHEDIR.TAG").is_file() {
        if let Some(grand) = parent.parent().filter(|g| g.join("CACHEDIR.TAG").is_file()) {
            let triple = parent.file_name().unwrap().to_string_lossy().into_owned();
            return (grand.to_path_buf(), Some(triple));
        }
    }
    (parent.to_path_buf(), None)
}

/// The cargo arguments that build into [`build_dir`]: `--release` for `release`, nothing for
/// `debug`, `--profile NAME` otherwise, and `--target` for a cross build.
fn profile_args() -> Vec<String> {
    let build = build_dir();
    let profile = build.file_name().unwrap().to_string_lossy().into_owned();
    let mut args = match profile.as_str() {
        "release" => vec!["--release".to_string()],
        "debug" => Vec::new(),
        other => vec!["--profile".to_string(), other.to_string()],
    };
    if let (_, Some(triple)) = target_dir_and_triple() {
        args.extend(["--target".to_string(), triple]);
    }
    args
}

/// `libNAME.so` on Linux.
pub fn shared_lib_name(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Builds the whole workspace (`cargo build --workspace`, features unified as in the README's
/// build) in this test's profile and target folder, once per test process; later calls return
/// at once. Without `CARGO` in the environment (a test binary run on its own, as
/// scripts/gpu-session.sh does) there is nothing to build with and it does nothing.
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_workspace);
}

fn build_workspace() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--workspace")
        .args(profile_args())
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    eprintln!("pow-test-support: building the workspace for the tests: {cmd:?}");
    let out = cmd.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building the workspace for the tests failed ({cmd:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A built file of the build folder (`pow-host`, `libpow_backend_cpu.so`, ...), built with
/// [`ensure_built`] first when it is missing.
pub fn artifact(file_name: &str) -> PathBuf {
    let p = build_dir().join(file_name);
    if !p.exists() {
        ensure_built();
    }
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace` in the same profile before the tests",
        p.display()
    );
    p
}

/// A shared library of the workspace by library name (`pow_backend_cpu`,
/// `fixture_panicking_backend`), built when missing.
pub fn workspace_library(lib_name: &str) -> PathBuf {
    artifact(&shared_lib_name(lib_name))
}

/// Every workspace backend library in the build folder (`libpow_backend_*`), sorted; those of
/// [`WORKSPACE_BACKENDS`] are built first when missing.
pub fn workspace_backend_files() -> Vec<PathBuf> {
    for lib in WORKSPACE_BACKENDS {
        workspace_library(lib);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(build_dir())
        .expect("build folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(WORKSPACE_BACKEND_PREFIX) && n.ends_with(std::env::consts::DLL_SUFFIX)
            })
        })
        .collect();
    files.sort();
    files
}

/// The synthetic backend's library: the build folder's, else the copy in `deps/` that a
/// dev-dependency on `pow-backend-synthetic` builds, else the workspace is built.
pub fn synthetic_library() -> PathBuf {
    let file = shared_lib_name(SYNTHETIC_LIB);
    let deps = build_dir().join("deps").join(&file);
    if !build_dir().join(&file).is_file() && deps.is_file() {
        return deps;
    }
    artifact(&file)
}

/// Builds the out-of-tree example backend (`examples/example-backend`) once per test process,
/// in a target folder of its own under the workspace's (so repeated runs are incremental), and
/// returns the library's path.
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The `cdylib` library names of the workspace's members, from `cargo metadata`.
    fn workspace_cdylibs() -> Vec<String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "metadata",
                "--no-deps",
                "--offline",
                "--format-version",
                "1",
            ])
            .arg("--manifest-path")
            .arg(repo_root().join("Cargo.toml"))
            .output()
            .expect("cargo runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut names = Vec::new();
        for package in meta["packages"].as_array().unwrap() {
            for target in package["targets"].as_array().unwrap() {
                if target["crate_types"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|t| t == "cdylib")
                {
                    names.push(target["name"].as_str().unwrap().replace('-', "_"));
                }
            }
        }
        names.sort();
        names
    }

    #[test]
    fn workspace_backends_are_the_workspace_backend_libraries() {
        let prefix = WORKSPACE_BACKEND_PREFIX
            .strip_prefix(std::env::consts::DLL_PREFIX)
            .unwrap();
        let mut built: Vec<String> = workspace_cdylibs()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .collect();
        let mut listed: Vec<String> = WORKSPACE_BACKENDS.iter().map(|s| s.to_string()).collect();
        built.sort();
        listed.sort();
        assert_eq!(built, listed);
        assert!(workspace_cdylibs().contains(&SYNTHETIC_LIB.to_string()));
    }

    #[test]
    fn build_folder_and_profile_arguments_agree() {
        let build = build_dir();
        assert!(build.starts_with(target_dir()));
        let args = profile_args();
        match build.file_name().unwrap().to_str().unwrap() {
            "release" => assert_eq!(args.first().map(String::as_str), Some("--release")),
            "debug" => assert!(args.first().is_none_or(|a| a == "--target")),
            other => assert_eq!(args[..2], ["--profile".to_string(), other.to_string()]),
        }
    }
}
