//! `pow-host register` and `pow-host faucet` through the real binary: the embedded dev chain,
//! the CPU plugin loaded from target/release, real wallet files, and bad input.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pow-host"))
}

/// The CPU plugin next to the binary, built when missing.
fn cpu_plugin() -> PathBuf {
    pow_test_support::workspace_library("pow_backend_cpu")
}

fn fixture_wallets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wallet/tests/data/bittensor_wallet_4.1.1")
}

/// Runs pow-host with the CPU backend on one thread and a fast dev chain.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    assert_eq!(cpu_plugin().parent(), bin().parent());
    let mut cmd = Command::new(bin());
    cmd.args(["--backends", "cpu", "--threads", "1"])
        .args(args)
        .env_remove("POW_HOST_COLDKEY_PASSWORD")
        .env("HOME", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn dev(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "--subtensor.network",
        "dev",
        "--dev-block-time-ms",
        "300",
        "--dev-difficulty",
        "50000",
        "--timeout",
        "120",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_dev(cmd: &[&str], extra: &[&str], env: &[(&str, &str)]) -> Output {
    let args = dev(extra);
    let mut all: Vec<&str> = cmd.to_vec();
    all.extend(args.iter().map(|s| s.as_str()));
    run(&all, env)
}

#[test]
fn registers_on_the_dev_chain_with_each_scheme() {
    for (runtime, scheme) in [
        ("v1", "v1"),
        ("legacy-be", "legacy-be"),
        ("legacy-le", "legacy-le"),
    ] {
        let out = run_dev(
            &["register", "--netuid", "1"],
            &["--dev-runtime", runtime],
            &[],
        );
        assert!(out.status.success(), "{runtime}: {}", stderr(&out));
        let j = json_of(&out);
        assert_eq!(j["status"], "registered", "{j}");
        assert_eq!(j["uid"], 0);
        assert_eq!(j["scheme"], scheme);
        assert_eq!(j["netuid"], 1);
        let (block, work_block) = (
            j["block"].as_u64().unwrap(),
            j["work_block"].as_u64().unwrap(),
        );
        assert!(block - work_block < 3 && work_block <= block, "{j}");
        assert!(stderr(&out).contains("mining job 1 on block #0"));
    }
}

#[test]
fn default_action_is_register() {
    let out = run_dev(&["--netuid", "2"], &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_of(&out)["status"], "registered");
}

#[test]
fn faucet_on_the_dev_chain() {
    let out = run_dev(&["faucet"], &[], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["status"], "funded", "{j}");
    assert!(j["amount_rao"].as_u64().unwrap() > 0);
}

#[test]
fn burning_runtime_is_refused_without_sending() {
    let out = run_dev(
        &["register", "--netuid", "1"],
        &["--dev-runtime", "burned"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("burns TAO"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("sending register") && !stderr(&out).contains("mining job"));
    assert_eq!(json_of(&out)["status"], "error");
}

#[test]
fn real_bittensor_wallet_registers_with_the_coldkey() {
    let path = fixture_wallets();
    let path = path.to_str().unwrap();
    let wallet = [
        "--wallet.path",
        path,
        "--wallet.name",
        "fixture",
        "--wallet.hotkey",
        "default",
    ];
    // Wrong password: one clear line, exit 2.
    let out = run_dev(
        &["register", "--netuid", "1"],
        &wallet,
        &[("POW_HOST_COLDKEY_PASSWORD", "not the password")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrong password"), "{}", stderr(&out));
    // No password and no terminal.
    let out = run_dev(&["register", "--netuid", "1"], &wallet, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("POW_HOST_COLDKEY_PASSWORD"),
        "{}",
        stderr(&out)
    );
    // The right password.
    let out = run_dev(
        &["register", "--netuid", "1"],
        &wallet,
        &[("POW_HOST_COLDKEY_PASSWORD", "correct horse battery staple")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["status"], "registered");
    assert_eq!(
        j["hotkey"],
        "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"
    );
    assert_eq!(
        j["coldkey"],
        "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"
    );
    // Legacy signs with the hotkey: no coldkey password needed.
    let out = run_dev(
        &["register", "--netuid", "1"],
        &[&wallet[..], &["--dev-runtime", "legacy-le"]].concat(),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["register"], 2, "needs --netuid"),
        (
            vec!["register", "--netuid", "9"],
            2,
            "subnet 9 does not exist",
        ),
        (vec!["register", "--netuid", "0"], 2, "root subnet"),
        (
            vec!["register", "--netuid", "1", "--seal-order", "middle"],
            2,
            "seal order",
        ),
        (
            vec![
                "register",
                "--netuid",
                "1",
                "--wallet.path",
                p,
                "--wallet.name",
                "nobody",
            ],
            2,
            "hotkey file not found",
        ),
    ];
    for (args, code, text) in cases {
        let out = run_dev(&args, &[], &[]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
        assert!(line.contains(text), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        // With --json: exactly one JSON object on stdout, whatever failed.
        let j = json_of(&out);
        assert_eq!(j["status"], "error", "{args:?}: {j}");
        assert_eq!(j["exit_code"], code, "{args:?}: {j}");
        assert!(j["error"].as_str().unwrap().contains(text), "{args:?}: {j}");
    }
    // The faucet reads no hotkey file; a missing coldkey is one JSON object too.
    let out = run_dev(
        &["faucet"],
        &["--wallet.path", p, "--wallet.name", "nobody"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let j = json_of(&out);
    assert!(j["error"].as_str().unwrap().contains("coldkeypub"), "{j}");

    // A hotkey file with a bad key.
    let hot = dir.path().join("w/hotkeys/h");
    std::fs::create_dir_all(hot.parent().unwrap()).unwrap();
    std::fs::write(&hot, r#"{"secretSeed":"0xnothex"}"#).unwrap();
    let out = run_dev(
        &["register", "--netuid", "1"],
        &[
            "--wallet.path",
            p,
            "--wallet.name",
            "w",
            "--wallet.hotkey",
            "h",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("secretSeed is not 32 bytes of hex"),
        "{}",
        stderr(&out)
    );

    // Endpoints.
    let out = run(
        &[
            "register",
            "--netuid",
            "1",
            "--subtensor.chain_endpoint",
            "http://example",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(
        &["register", "--netuid", "1", "--subtensor.network", "moon"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn unreachable_endpoint_retries_then_fails() {
    let dir = tempfile::tempdir().unwrap();
    // A wallet is needed before connecting.
    pow_wallet::Wallet::create(
        dir.path(),
        "w",
        "default",
        None,
        pow_wallet::KdfParams::BITTENSOR,
    )
    .unwrap();
    let out = run(
        &[
            "register",
            "--netuid",
            "1",
            "--subtensor.chain_endpoint",
            "ws://127.0.0.1:9",
            "--reconnect-timeout",
            "2",
            "--wallet.path",
            dir.path().to_str().unwrap(),
            "--wallet.name",
            "w",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("retry 1") && err.contains("retry 2"), "{err}");
    assert!(
        err.contains("error: cannot reach ws://127.0.0.1:9") && err.contains("giving up"),
        "{err}"
    );
}
