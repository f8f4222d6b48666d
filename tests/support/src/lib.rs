//! Test support for the whole workspace, one home for what the tests share:
//!
//! * [`artifacts`]: the cargo build folder and the workspace's built files (`pow-host`, the
//!   backend plugins, the fixture plugins), built on demand by [`ensure_built`] so that
//!   `cargo test --workspace` passes without a `cargo build` first; the out-of-tree example
//!   backend ([`example_library`]);
//! * [`vectors`]: the reference vectors of `tests/data/vectors` as typed cases (one loader);
//! * [`run`]: running the built `pow-host`;
//! * [`nats`]: a real `nats-server` on a free loopback port;
//! * [`scratch_dir`]: named scratch folders under the build folder.
//!
//! Use it as a dev-dependency (`pow-test-support = { path = "../tests/support" }`). It does not
//! depend on `pow-host`, so the host's own tests can use it too.

pub mod artifacts;
pub mod nats;
pub mod run;
pub mod vectors;

pub use artifacts::{
    artifact, build_dir, ensure_built, example_library, example_plugin_folder, repo_root,
    shared_lib_name, synthetic_library, target_dir, workspace_backend_files, workspace_library,
    PLUGIN_PATH_ENV, POW_HOST, SYNTHETIC_LIB, WORKSPACE_BACKEND_PREFIX,
};
pub use nats::NatsServer;
pub use run::{pow_host_bin, run_pow_host, run_pow_host_with_plugins, stdout_of};
pub use vectors::{seal_cases, solve_cases, SealCase, SolveCase};

use std::path::PathBuf;

/// A fresh empty folder `test-scratch/NAME` under the build folder, removed first if it exists
/// (kept after the test for a look at what it left).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = build_dir().join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
