//! The out-of-tree example backend (`examples/example-backend`) builds on its own against
//! `pow-backend-api`, is found through `POW_HOST_PLUGIN_PATH`, is listed by `pow-host backends`
//! and solves reference vectors through `pow-host solve --backends example`.

use pow_seal::{to_hex, SealOrder};
use pow_test_support::vectors::{legacy_solve_vectors, v1_solve_vectors};
use pow_test_support::{
    example_plugin_folder as plugin_folder, run_pow_host_with_plugins as pow_host, stdout_of,
};
use serde_json::Value;

#[test]
fn example_backend_is_listed() {
    let (dir, copy) = plugin_folder();
    let text = stdout_of(&pow_host(&["backends"], dir.path()));
    let line = text
        .lines()
        .find(|l| l.starts_with("example "))
        .unwrap_or_else(|| panic!("no `example` line in:\n{text}"));
    assert!(line.contains(&copy.display().to_string()), "{line}");
    assert!(text.contains("example scalar search"), "{text}");

    let json: Value =
        serde_json::from_str(&stdout_of(&pow_host(&["backends", "--json"], dir.path()))).unwrap();
    let backends = json["backends"].as_array().unwrap();
    let example = backends
        .iter()
        .find(|b| b["name"] == "example")
        .unwrap_or_else(|| panic!("example backend not listed: {json}"));
    assert_eq!(example["file"], copy.display().to_string());
    assert_eq!(
        example["interface_version"],
        pow_backend_api::INTERFACE_VERSION
    );
    let devices = example["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{example}");
    assert_eq!(devices[0]["kind"], "cpu");
}

/// Runs `pow-host solve --backends example` at `difficulty` from `start` in sequential order
/// and checks that the first passing nonce `first` and its seal come back.
fn solve_with_example(
    mut args: Vec<String>,
    difficulty: u64,
    start: u64,
    (first, seal): (u64, [u8; 32]),
) {
    let (dir, _copy) = plugin_folder();
    args.extend(
        [
            "--backends",
            "example",
            "--nonce-order",
            "sequential",
            "--batch",
            "65536",
            "--json",
            "--difficulty",
        ]
        .map(String::from),
    );
    args.push(difficulty.to_string());
    args.push("--nonce-start".into());
    args.push(start.to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out: Value = serde_json::from_str(&stdout_of(&pow_host(&refs, dir.path()))).unwrap();
    assert_eq!(out["device"], "example:0", "{out}");
    let nonce = match &out["nonce"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    assert_eq!(nonce, first.to_string(), "{out}");
    assert_eq!(out["seal"], to_hex(&seal), "{out}");
}

#[test]
fn example_backend_solves_a_v1_vector() {
    // difficulty 65537 from nonce 0: first nonce 61414.
    let c = &v1_solve_vectors()[5];
    let args = vec![
        "solve".into(),
        "--challenge".into(),
        "v1".into(),
        "--netuid".into(),
        c.netuid.to_string(),
        "--block-hash".into(),
        to_hex(&c.block_hash),
        "--hotkey".into(),
        to_hex(&c.hotkey),
        "--coldkey".into(),
        to_hex(&c.coldkey),
    ];
    solve_with_example(args, c.difficulty, c.nonce_start, (c.first_nonce, c.seal));
}

#[test]
fn example_backend_solves_legacy_vectors_in_both_seal_orders() {
    // difficulty 65537 from nonce 0: 32539 (big-endian rule), 16043 (runtime's little-endian).
    let c = &legacy_solve_vectors()[8];
    for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
        let args = vec![
            "solve".into(),
            "--challenge".into(),
            "legacy".into(),
            "--seal-order".into(),
            order.as_str().into(),
            "--block-hash".into(),
            to_hex(&c.block_hash),
            "--hotkey".into(),
            to_hex(&c.hotkey),
        ];
        solve_with_example(args, c.difficulty, c.nonce_start, c.first_in(order));
    }
}
