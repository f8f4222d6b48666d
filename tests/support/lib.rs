//! Shared helpers for the integration tests: where the built artifacts are, the reference
//! vectors as typed cases, and running the `pow-host` binary.

use pow_seal::{parse_bytes32, Challenge, SealOrder, Work};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cargo output folder of this profile (`target/release` or `target/debug`), which holds
/// `pow-host` and the backend libraries.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary is inside target/<profile>/deps")
        .to_path_buf()
}

/// Path of a built artifact, with a clear failure when the workspace was not built first.
pub fn artifact(file_name: &str) -> PathBuf {
    let p = build_dir().join(file_name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --release` before the tests",
        p.display()
    );
    p
}

/// File name of a shared library on this platform (`libNAME.so` on Linux).
pub fn shared_lib_name(name: &str) -> String {
    format!(
        "{}{name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// Every workspace backend library in the build folder (`libpow_backend_*`).
pub fn workspace_backend_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(build_dir())
        .expect("build folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.starts_with(pow_host::plugins::BUILT_IN_PREFIX)
                    && n.ends_with(std::env::consts::DLL_SUFFIX)
            })
        })
        .collect();
    files.sort();
    files
}

/// Runs the built `pow-host` with arguments and extra environment variables.
pub fn run_pow_host(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(artifact(&format!(
        "pow-host{}",
        std::env::consts::EXE_SUFFIX
    )));
    cmd.args(args);
    cmd.env_remove(pow_host::plugins::PLUGIN_PATH_ENV);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("pow-host runs")
}

/// A fresh empty folder under the build folder, removed first if it exists.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = build_dir().join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Loads one vector file from `tests/data/vectors`: the source tree the test was built in, or
/// `tests/data/vectors` under the current folder when the test binary was carried to another
/// machine (scripts/gpu-session.sh).
pub fn vectors(name: &str) -> Value {
    let built = PathBuf::from(format!(
        "{}/data/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ));
    let path = if built.is_file() {
        built
    } else {
        PathBuf::from("tests/data/vectors").join(name)
    };
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A JSON number or decimal string as u64.
pub fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a u64: {v}"))
}

/// A JSON 0x-hex string as 32 bytes.
pub fn b32(v: &Value) -> [u8; 32] {
    parse_bytes32(v.as_str().unwrap()).unwrap()
}

/// One nonce search from a solve vector file.
#[derive(Clone, Debug)]
pub struct SolveCase {
    /// Where it comes from, for messages.
    pub label: String,
    /// Challenge and difficulty.
    pub work: Work,
    /// First nonce to try.
    pub nonce_start: u64,
    /// Smallest passing nonce at or above `nonce_start`.
    pub first_nonce: u64,
    /// Its seal.
    pub seal: [u8; 32],
}

/// Every solve case: legacy in both seal orders, then v1.
pub fn solve_cases() -> Vec<SolveCase> {
    let mut out = Vec::new();
    for (i, c) in vectors("solve_vectors.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (order, nf, sf) in [
            (SealOrder::BigEndian, "first_nonce", "seal"),
            (
                SealOrder::LittleEndian,
                "first_nonce_runtime_le",
                "seal_runtime_le",
            ),
        ] {
            let challenge = Challenge::Legacy {
                block_hash: b32(&c["block_hash"]),
                hotkey: b32(&c["hotkey_pubkey"]),
                seal_order: order,
            };
            out.push(SolveCase {
                label: format!("legacy #{i} ({})", order.as_str()),
                work: Work::new(challenge, u64_of(&c["difficulty"])),
                nonce_start: u64_of(&c["nonce_start"]),
                first_nonce: u64_of(&c[nf]),
                seal: b32(&c[sf]),
            });
        }
    }
    for (i, c) in vectors("pow_register_v1_solve_vectors.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        out.push(SolveCase {
            label: format!("v1 #{i}"),
            work: Work::new(v1_challenge(c), u64_of(&c["difficulty"])),
            nonce_start: u64_of(&c["nonce_start"]),
            first_nonce: u64_of(&c["first_nonce"]),
            seal: b32(&c["seal"]),
        });
    }
    out
}

/// The v1 challenge of a vector case.
pub fn v1_challenge(c: &Value) -> Challenge {
    Challenge::v1(
        c["netuid"].as_u64().unwrap() as u16,
        b32(&c["block_hash"]),
        b32(&c["hotkey_pubkey"]),
        b32(&c["coldkey_pubkey"]),
    )
    .unwrap()
}

/// One (challenge, nonce) pair with its seal and pass/fail per difficulty.
#[derive(Clone, Debug)]
pub struct SealCase {
    /// Where it comes from.
    pub label: String,
    /// The challenge.
    pub challenge: Challenge,
    /// The nonce.
    pub nonce: u64,
    /// Its seal.
    pub seal: [u8; 32],
    /// (difficulty, passes) pairs under this challenge's seal order.
    pub meets: Vec<(u64, bool)>,
}

/// Every seal case: legacy under both orders, then v1.
pub fn seal_cases() -> Vec<SealCase> {
    let mut out = Vec::new();
    let meets = |v: &Value| -> Vec<(u64, bool)> {
        v.as_object()
            .unwrap()
            .iter()
            .map(|(d, m)| (d.parse().unwrap(), m.as_bool().unwrap()))
            .collect()
    };
    for (i, c) in vectors("seal_vectors.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for (order, field) in [
            (SealOrder::BigEndian, "meets"),
            (SealOrder::LittleEndian, "meets_runtime_le"),
        ] {
            out.push(SealCase {
                label: format!("legacy seal #{i} ({})", order.as_str()),
                challenge: Challenge::Legacy {
                    block_hash: b32(&c["block_hash"]),
                    hotkey: b32(&c["hotkey_pubkey"]),
                    seal_order: order,
                },
                nonce: u64_of(&c["nonce"]),
                seal: b32(&c["seal"]),
                meets: meets(&c[field]),
            });
        }
    }
    for (i, c) in vectors("pow_register_v1_seal_vectors.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        out.push(SealCase {
            label: format!("v1 seal #{i}"),
            challenge: v1_challenge(c),
            nonce: u64_of(&c["nonce"]),
            seal: b32(&c["seal"]),
            meets: meets(&c["meets"]),
        });
    }
    out
}

/// A public key as the SS58 address (prefix 42) the command line accepts.
pub fn to_cli_key(key: &[u8; 32]) -> String {
    pow_host::keys::encode_ss58(key, 42)
}
