//! The `pow-host` command line: solving each challenge, JSON output, and bad input.

use pow_seal::{to_hex, Challenge, SealOrder, Work};
use pow_test_support::{run_pow_host, solve_cases};
use serde_json::Value;

/// A public key as the SS58 address (prefix 42) the command line accepts.
fn to_cli_key(key: &[u8; 32]) -> String {
    pow_host::keys::encode_ss58(key, 42)
}

fn solve_json(args: &[&str]) -> Value {
    let mut all = vec!["--backends", "cpu", "solve", "--json"];
    all.extend_from_slice(args);
    let out = run_pow_host(&all, &[]);
    assert!(
        out.status.success(),
        "pow-host {all:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each challenge kind, started at a vector's `nonce_start` in sequential order, finds the
/// vector's first nonce, and the JSON carries the promised fields.
#[test]
fn solve_finds_vector_nonces_for_every_challenge() {
    let cases = solve_cases();
    let pick = |prefix: &str, d: u64| {
        cases
            .iter()
            .find(|c| c.label.starts_with(prefix) && c.work.difficulty == d)
            .unwrap()
            .clone()
    };
    for case in [
        pick("v1", 100_000),
        pick("legacy #9 (be)", 100_000),
        pick("legacy #9 (le)", 100_000),
    ] {
        let start = case.nonce_start.to_string();
        let d = case.work.difficulty.to_string();
        let mut args: Vec<String> = vec![
            "--nonce-order".into(),
            "sequential".into(),
            "--nonce-start".into(),
            start,
            "--difficulty".into(),
            d,
        ];
        match &case.work.challenge {
            Challenge::PowRegisterV1 {
                netuid,
                block_hash,
                hotkey,
                coldkey,
            } => args.extend([
                "--challenge".into(),
                "v1".into(),
                "--netuid".into(),
                netuid.to_string(),
                "--block-hash".into(),
                to_hex(block_hash),
                "--hotkey".into(),
                to_cli_key(hotkey),
                "--coldkey".into(),
                to_hex(coldkey),
            ]),
            Challenge::Legacy {
                block_hash,
                hotkey,
                seal_order,
            } => args.extend([
                "--challenge".into(),
                "legacy".into(),
                "--block-hash".into(),
                to_hex(block_hash),
                "--hotkey".into(),
                to_cli_key(hotkey),
                "--seal-order".into(),
                seal_order.as_str().into(),
            ]),
            Challenge::Faucet { .. } => unreachable!(),
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let json = solve_json(&refs);
        assert_eq!(
            json["nonce"].as_u64().unwrap(),
            case.first_nonce,
            "{}",
            case.label
        );
        assert_eq!(json["seal"].as_str().unwrap(), to_hex(&case.seal));
        assert_eq!(json["challenge"], case.work.challenge.kind_name());
        assert_eq!(json["difficulty"].as_u64().unwrap(), case.work.difficulty);
        assert!(json["attempts"].as_u64().unwrap() > 0);
        assert!(json["seconds"].as_f64().unwrap() > 0.0);
        assert!(json["hashes_per_second"].as_f64().unwrap() > 0.0);
    }
}

/// The faucet uses the coldkey and difficulty 1,000,000 by default; the default nonce order
/// and a random start still give a solution the seal library accepts.
#[test]
fn faucet_default_difficulty_and_random_start() {
    let block = [7u8; 32];
    let coldkey = [9u8; 32];
    let json = solve_json(&[
        "--challenge",
        "faucet",
        "--block-hash",
        &to_hex(&block),
        "--coldkey",
        &to_hex(&coldkey),
    ]);
    assert_eq!(json["difficulty"].as_u64().unwrap(), 1_000_000);
    let work = Work::new(
        Challenge::Faucet {
            block_hash: block,
            coldkey,
        },
        1_000_000,
    );
    let nonce = json["nonce"].as_u64().unwrap();
    let seal = pow_seal::parse_bytes32(json["seal"].as_str().unwrap()).unwrap();
    assert!(work.verify_claim(nonce, &seal));
    assert_eq!(work.challenge.seal_order(), SealOrder::LittleEndian);
}

/// Bad input: one line on stderr, exit code 2, no panic.
#[test]
fn bad_input_is_a_one_line_usage_error() {
    let good_hash = to_hex(&[0u8; 32]);
    let alice = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    let bad_checksum = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ";
    let v1 = |hash: &str, hot: &str, netuid: &str, d: &str| -> Vec<String> {
        [
            "solve",
            "--challenge",
            "v1",
            "--netuid",
            netuid,
            "--block-hash",
            hash,
            "--hotkey",
            hot,
            "--coldkey",
            alice,
            "--difficulty",
            d,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (v1("0xzz", alice, "1", "10"), "--block-hash"),
        (v1("0x1234", alice, "1", "10"), "64 hex digits"),
        (v1(&good_hash, bad_checksum, "1", "10"), "checksum"),
        (v1(&good_hash, "0x12", "1", "10"), "--hotkey"),
        (v1(&good_hash, alice, "0", "10"), "root"),
        (v1(&good_hash, alice, "1", "ten"), "--difficulty"),
        (v1(&good_hash, alice, "70000", "10"), "--netuid"),
        (
            ["--backends", "nosuch", "solve", "--sample"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            "unknown backend `nosuch`; available: cpu",
        ),
        (
            vec![
                "solve".into(),
                "--challenge".into(),
                "legacy".into(),
                "--block-hash".into(),
                good_hash.clone(),
                "--hotkey".into(),
                alice.into(),
                "--difficulty".into(),
                "5".into(),
                "--seal-order".into(),
                "middle".into(),
            ],
            "seal order",
        ),
    ];
    for (args, expected) in cases {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_pow_host(&refs, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
        assert!(
            lines <= 3,
            "{args:?}: expected a short error, got {lines} lines: {stderr}"
        );
    }
}

/// Difficulty 0 is treated as 1: the first nonce tried passes.
#[test]
fn difficulty_zero_counts_as_one() {
    let json = solve_json(&["--sample", "--difficulty", "0", "--nonce-start", "5"]);
    assert_eq!(json["nonce"].as_u64().unwrap(), 5);
}
