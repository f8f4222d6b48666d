//! The out-of-tree example backend (`examples/example-backend`) builds on its own against
//! `pow-backend-api`, is found through `POW_HOST_PLUGIN_PATH`, is listed by `pow-host backends`
//! and solves reference vectors through `pow-host solve --backends example`.

mod support;

use serde_json::Value;
use support::{example_plugin_folder as plugin_folder, pow_host, repo_root, stdout_of};

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

fn vector(file: &str, index: usize) -> Value {
    let path = repo_root().join("tests/data/vectors").join(file);
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all[index].clone()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Runs `pow-host solve --backends example` from the vector's start nonce in sequential order
/// and checks that the first passing nonce and its seal come back.
fn solve_with_example(mut args: Vec<String>, case: &Value, nonce_field: &str, seal_field: &str) {
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
    args.push(text(&case["difficulty"]));
    args.push("--nonce-start".into());
    args.push(text(&case["nonce_start"]));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out: Value = serde_json::from_str(&stdout_of(&pow_host(&refs, dir.path()))).unwrap();
    assert_eq!(out["device"], "example:0", "{out}");
    assert_eq!(text(&out["nonce"]), text(&case[nonce_field]), "{out}");
    assert_eq!(out["seal"], case[seal_field], "{out}");
}

#[test]
fn example_backend_solves_a_v1_vector() {
    // difficulty 65537 from nonce 0: first nonce 61414.
    let c = vector("pow_register_v1_solve_vectors.json", 5);
    let args = vec![
        "solve".into(),
        "--challenge".into(),
        "v1".into(),
        "--netuid".into(),
        text(&c["netuid"]),
        "--block-hash".into(),
        text(&c["block_hash"]),
        "--hotkey".into(),
        text(&c["hotkey_pubkey"]),
        "--coldkey".into(),
        text(&c["coldkey_pubkey"]),
    ];
    solve_with_example(args, &c, "first_nonce", "seal");
}

#[test]
fn example_backend_solves_legacy_vectors_in_both_seal_orders() {
    // difficulty 65537 from nonce 0: 32539 (big-endian rule), 16043 (runtime's little-endian).
    let c = vector("solve_vectors.json", 8);
    for (order, nonce_field, seal_field) in [
        ("be", "first_nonce", "seal"),
        ("le", "first_nonce_runtime_le", "seal_runtime_le"),
    ] {
        let args = vec![
            "solve".into(),
            "--challenge".into(),
            "legacy".into(),
            "--seal-order".into(),
            order.into(),
            "--block-hash".into(),
            text(&c["block_hash"]),
            "--hotkey".into(),
            text(&c["hotkey_pubkey"]),
        ];
        solve_with_example(args, &c, nonce_field, seal_field);
    }
}
