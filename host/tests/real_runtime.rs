//! `pow-host register` and `pow-host faucet`, the real binary with the CPU plugin, against the
//! real subtensor runtimes (spec 218 and spec 293) run by chopsticks on loopback, with wallet
//! files written by bittensor-wallet 4.1.1: registrations read back from storage, refusals
//! with the node's own answer, and a node that dies, restarts, restarts lower, or never
//! comes back. Skipped (with a line saying so) where chopsticks is not installed, unless
//! POW_REQUIRE_CHOPSTICKS=1 (CI).

use pow_chopsticks::{Node, Options, Runtime, Subnet};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
/// The fixture wallet's hotkey (wallet/tests/data/README.md).
const FIXTURE_HOTKEY: &str = "625e25364c7b68e0a83065ccb40afed43f8fe933e669b24f3d69a57eddb3b715";

/// The binary, with the CPU plugin it runs on next to it (built when missing).
fn bin() -> PathBuf {
    pow_test_support::workspace_library("pow_backend_cpu");
    PathBuf::from(env!("CARGO_BIN_EXE_pow-host"))
}

fn fixture_wallets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wallet/tests/data/bittensor_wallet_4.1.1")
}

fn command(node: &Node, args: &[&str], wallet: (&Path, &str), env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["--backends", "cpu", "--threads", "2"])
        .args(args)
        .args(["--subtensor.chain_endpoint", &node.ws_url(), "--json"])
        .args(["--wallet.path", wallet.0.to_str().unwrap()])
        .args(["--wallet.name", wallet.1])
        .env_remove("POW_HOST_COLDKEY_PASSWORD")
        .env("HOME", std::env::temp_dir());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(node: &Node, args: &[&str], wallet: (&Path, &str), env: &[(&str, &str)]) -> Output {
    command(node, args, wallet, env).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "stdout must be one JSON object: {text}\nstderr: {}",
        stderr(out)
    );
    serde_json::from_str(lines[0]).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A wallet with a fresh unencrypted coldkey and hotkey; returns (folder, hotkey public key).
fn fresh_wallet() -> (tempfile::TempDir, [u8; 32]) {
    let dir = tempfile::tempdir().unwrap();
    let w = pow_wallet::Wallet::create(
        dir.path(),
        "w",
        "default",
        None,
        pow_wallet::KdfParams::BITTENSOR,
    )
    .unwrap();
    let hot = w
        .hotkey_pair(&pow_wallet::PasswordSource::EnvOrPrompt)
        .unwrap()
        .public();
    (dir, hot)
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// A running pow-host whose stderr is collected as it comes.
struct Running {
    child: Child,
    err: Arc<Mutex<String>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Arc::new(Mutex::new(String::new()));
        let (pipe, sink) = (child.stderr.take().unwrap(), err.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("  pow-host: {line}");
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        Running { child, err }
    }

    fn wait_for(&self, text: &str, limit: Duration) {
        let start = Instant::now();
        while !self.err.lock().unwrap().contains(text) {
            assert!(
                start.elapsed() < limit,
                "no `{text}` within {limit:?}: {}",
                self.err.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn finish(self, limit: Duration) -> (Option<i32>, Value, String) {
        let mut child = self.child;
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                panic!(
                    "pow-host still running after {limit:?}: {}",
                    self.err.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut out = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let err = self.err.lock().unwrap().clone();
        let json = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {out}\n{err}"));
        (status.code(), json, err)
    }
}

fn node(runtime: Runtime, raw_chainhead: bool) -> Option<Node> {
    pow_chopsticks::start_or_skip(
        runtime,
        Options {
            raw_chainhead,
            block_interval: Some(Duration::from_secs(2)),
            ..Options::default()
        },
    )
}

fn open_subnet(node: &Node, difficulty: u64) {
    node.setup_subnet(&Subnet {
        registration_allowed: Some(true),
        pow_registration_allowed: Some(true),
        difficulty: Some(difficulty),
        registrations_this_interval: Some(0),
        ..Subnet::new(1)
    })
    .unwrap();
}

/// The fixture wallet registers (legacy `register`, signed by the hotkey: no password),
/// the UID is read back from `Uids` and `Keys`; then: already registered, and the interval
/// limit with the reset time.
fn registers_then_refuses(runtime: Runtime, raw_chainhead: bool) {
    let Some(node) = node(runtime, raw_chainhead) else {
        return;
    };
    open_subnet(&node, 20_000);
    let fixture = fixture_wallets();
    let wallet = (fixture.as_path(), "fixture");
    let out = run(&node, &["register", "--netuid", "1"], wallet, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["status"], "registered", "{j}");
    let scheme = if runtime == Runtime::Spec218 {
        "legacy-be"
    } else {
        "legacy-le"
    };
    assert_eq!(j["scheme"], scheme);
    assert!(j["attempts"].as_u64().unwrap() > 0, "{j}");
    let uid = j["uid"].as_u64().unwrap() as u16;
    let hot = hex32(FIXTURE_HOTKEY);
    assert_eq!(node.uid_of(1, &hot).unwrap(), Some(uid));
    assert_eq!(node.hotkey_of(1, uid).unwrap(), Some(hot));

    let out = run(&node, &["register", "--netuid", "1"], wallet, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(json_of(&out)["status"], "already_registered");
    assert_eq!(json_of(&out)["uid"], uid);

    // The interval limit: refused before mining, with the block it resets at.
    node.setup_subnet(&Subnet {
        target_registrations_per_interval: Some(2),
        registrations_this_interval: Some(6),
        ..Subnet::new(1)
    })
    .unwrap();
    let (dir, _) = fresh_wallet();
    let out = run(
        &node,
        &["register", "--netuid", "1"],
        (dir.path(), "w"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["status"], "error");
    let msg = j["error"].as_str().unwrap();
    assert!(
        msg.contains("registration limit for this interval") && msg.contains("resets at block #"),
        "{msg}"
    );
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );

    // A missing subnet and PoW disabled: one line each, exit 2 and 1.
    let out = run(
        &node,
        &["register", "--netuid", "77"],
        (dir.path(), "w"),
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(json_of(&out)["error"]
        .as_str()
        .unwrap()
        .contains("subnet 77 does not exist"));
    node.setup_subnet(&Subnet {
        pow_registration_allowed: Some(false),
        registrations_this_interval: Some(0),
        ..Subnet::new(1)
    })
    .unwrap();
    let out = run(
        &node,
        &["register", "--netuid", "1"],
        (dir.path(), "w"),
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(json_of(&out)["error"]
        .as_str()
        .unwrap()
        .contains("NetworkPowRegistrationAllowed"));
}

#[test]
fn spec_218_registers_through_the_legacy_rpc_family() {
    // chopsticks' original chainHead events: subxt cannot follow them, so heads come from
    // chain_subscribeNewHeads and submissions go through author_submitAndWatchExtrinsic.
    registers_then_refuses(Runtime::Spec218, true);
}

#[test]
fn spec_293_registers_through_chainhead() {
    registers_then_refuses(Runtime::Spec293, false);
}

/// The faucet: only the coldkey signs (no hotkey file needed), a wrong password is a usage
/// error, and these runtimes (built without `pow-faucet`) answer `FaucetDisabled`, which is
/// reported as the chain's answer.
#[test]
fn faucet_on_a_runtime_without_pow_faucet() {
    let Some(node) = node(Runtime::Spec293, false) else {
        return;
    };
    // Coldkey files only.
    let dir = tempfile::tempdir().unwrap();
    let src = fixture_wallets().join("fixture");
    std::fs::create_dir_all(dir.path().join("fixture")).unwrap();
    for f in ["coldkey", "coldkeypub.txt"] {
        std::fs::copy(src.join(f), dir.path().join("fixture").join(f)).unwrap();
    }
    let wallet = (dir.path(), "fixture");
    let out = run(
        &node,
        &["faucet"],
        wallet,
        &[("POW_HOST_COLDKEY_PASSWORD", "not the password")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let j = json_of(&out);
    assert_eq!(j["status"], "error");
    assert!(
        j["error"].as_str().unwrap().contains("wrong password"),
        "{j}"
    );

    let out = run(
        &node,
        &["faucet"],
        wallet,
        &[("POW_HOST_COLDKEY_PASSWORD", PASSWORD)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let j = json_of(&out);
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("SubtensorModule.FaucetDisabled"),
        "{j}"
    );
}

/// Starts `register` with a fresh wallet on a subnet whose difficulty is out of reach (so
/// that whatever the test does to the node lands mid-mine) and waits for its first job.
fn mine_out_of_reach(node: &Node, extra: &[&str]) -> (Running, tempfile::TempDir, [u8; 32]) {
    open_subnet(node, 1 << 50);
    let (dir, hot) = fresh_wallet();
    let mut args = vec!["register", "--netuid", "1", "--max-expected-seconds", "0"];
    args.extend_from_slice(extra);
    let run = Running::start(command(node, &args, (dir.path(), "w"), &[]));
    run.wait_for("mining job", Duration::from_secs(60));
    (run, dir, hot)
}

/// The node is killed mid-mine and comes back on the same port with its chain (resume):
/// mining goes on meanwhile, pow-host reconnects and registers.
#[test]
fn node_killed_and_restarted_mid_mine() {
    let Some(mut node) = node(Runtime::Spec293, false) else {
        return;
    };
    let (run, _dir, hot) =
        mine_out_of_reach(&node, &["--reconnect-timeout", "60", "--timeout", "150"]);
    let before = node.best_number().unwrap();
    node.kill();
    run.wait_for("retry", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    node.restart().unwrap();
    assert!(node.best_number().unwrap() >= before);
    open_subnet(&node, 20_000);
    let (code, j, _) = run.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["status"], "registered", "{j}");
    assert_eq!(
        node.uid_of(1, &hot).unwrap(),
        Some(j["uid"].as_u64().unwrap() as u16)
    );
}

/// The node comes back from genesis (a lower best block, other hashes): pow-host follows the
/// lower head instead of mining a block that no longer exists, and registers there.
#[test]
fn node_restarts_from_an_earlier_block() {
    let Some(mut node) = node(Runtime::Spec218, true) else {
        return;
    };
    node.new_blocks(6).unwrap();
    let (run, _dir, hot) = mine_out_of_reach(&node, &["--timeout", "150"]);
    let high = node.best_number().unwrap();
    node.restart_fresh().unwrap();
    let low = node.best_number().unwrap();
    assert!(low < high, "{low} < {high}");
    open_subnet(&node, 20_000);
    let (code, j, err) = run.finish(Duration::from_secs(120));
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["status"], "registered", "{j}");
    assert!(j["work_block"].as_u64().unwrap() < high, "{j}");
    assert!(
        err.contains(&format!("on block #{low}")) || j["work_block"].as_u64().unwrap() <= low + 5,
        "{err}"
    );
    assert_eq!(
        node.uid_of(1, &hot).unwrap(),
        Some(j["uid"].as_u64().unwrap() as u16)
    );
}

/// The node dies and never comes back: pow-host gives up after --reconnect-timeout with one
/// line (and one JSON object), exit 1.
#[test]
fn node_that_never_comes_back() {
    let Some(mut node) = node(Runtime::Spec293, false) else {
        return;
    };
    let (run, _dir, _) = mine_out_of_reach(&node, &["--reconnect-timeout", "6"]);
    node.kill();
    let gone = Instant::now();
    let (code, j, err) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(1), "{j}");
    assert!(
        gone.elapsed() < Duration::from_secs(30),
        "{:?}",
        gone.elapsed()
    );
    assert_eq!(j["status"], "error");
    assert!(j["error"].as_str().unwrap().contains("giving up"), "{j}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}
