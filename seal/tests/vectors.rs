//! Every case of the reference vectors (tests/data/vectors, produced by Bittensor's own code)
//! through the seal library.

use pow_seal::{
    block_and_key_hash, effective_difficulty, parse_bytes32, Challenge, SealOrder, Target, Work,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../tests/data/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn b32(v: &Value) -> [u8; 32] {
    parse_bytes32(v.as_str().unwrap()).unwrap()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap()
}

fn legacy(case: &Value, order: SealOrder) -> Challenge {
    Challenge::Legacy {
        block_hash: b32(&case["block_hash"]),
        hotkey: b32(&case["hotkey_pubkey"]),
        seal_order: order,
    }
}

fn v1(case: &Value) -> Challenge {
    Challenge::v1(
        case["netuid"].as_u64().unwrap() as u16,
        b32(&case["block_hash"]),
        b32(&case["hotkey_pubkey"]),
        b32(&case["coldkey_pubkey"]),
    )
    .unwrap()
}

#[test]
fn legacy_seal_vectors() {
    let cases = load("seal_vectors.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 101);
    for case in cases {
        let bh = b32(&case["block_hash"]);
        let hk = b32(&case["hotkey_pubkey"]);
        assert_eq!(
            block_and_key_hash(&bh, &hk),
            b32(&case["block_and_hotkey_hash"])
        );
        let nonce = u64_of(&case["nonce"]);
        let c = legacy(case, SealOrder::BigEndian);
        assert_eq!(
            pow_seal::to_hex(&nonce.to_le_bytes()),
            case["nonce_le_bytes"].as_str().unwrap()
        );
        let seal = c.seal(nonce);
        assert_eq!(seal, b32(&case["seal"]), "seal of nonce {nonce}");
        for (field, order) in [
            ("meets", SealOrder::BigEndian),
            ("meets_runtime_le", SealOrder::LittleEndian),
        ] {
            for (d, expected) in case[field].as_object().unwrap() {
                let d: u64 = d.parse().unwrap();
                let got = Target::from_difficulty(d).is_met_by(&seal, order);
                assert_eq!(got, expected.as_bool().unwrap(), "{field} d={d} n={nonce}");
            }
        }
    }
}

/// Smallest passing nonce at or above `start`, by plain scanning with the library.
fn scan(work: &Work, start: u64) -> (u64, [u8; 32]) {
    let mut n = start;
    loop {
        if let Some(seal) = work.verify(n) {
            return (n, seal);
        }
        n = n.wrapping_add(1);
    }
}

#[test]
fn legacy_solve_vectors_both_orders() {
    let cases = load("solve_vectors.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for case in cases {
        let d = u64_of(&case["difficulty"]);
        let start = u64_of(&case["nonce_start"]);
        for (order, nf, sf) in [
            (SealOrder::BigEndian, "first_nonce", "seal"),
            (
                SealOrder::LittleEndian,
                "first_nonce_runtime_le",
                "seal_runtime_le",
            ),
        ] {
            let work = Work::new(legacy(case, order), d);
            let (n, seal) = scan(&work, start);
            assert_eq!(n, u64_of(&case[nf]), "{nf} d={d}");
            assert_eq!(seal, b32(&case[sf]));
        }
    }
}

#[test]
fn v1_seal_vectors() {
    let cases = load("pow_register_v1_seal_vectors.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 48);
    for case in cases {
        let c = v1(case);
        assert_eq!(
            pow_seal::to_hex(&c.prefix()),
            case["prefix"].as_str().unwrap()
        );
        let nonce = u64_of(&case["nonce"]);
        let seal = c.seal(nonce);
        assert_eq!(seal, b32(&case["seal"]));
        for (d, expected) in case["meets"].as_object().unwrap() {
            let d: u64 = d.parse().unwrap();
            let got = Work::new(c.clone(), d).verify(nonce).is_some();
            assert_eq!(got, expected.as_bool().unwrap(), "d={d} n={nonce}");
        }
    }
}

#[test]
fn v1_solve_vectors() {
    let cases = load("pow_register_v1_solve_vectors.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for case in cases {
        let work = Work::new(v1(case), u64_of(&case["difficulty"]));
        let (n, seal) = scan(&work, u64_of(&case["nonce_start"]));
        assert_eq!(n, u64_of(&case["first_nonce"]));
        assert_eq!(seal, b32(&case["seal"]));
    }
}

#[test]
fn effective_difficulty_cases() {
    let meta = load("pow_register_v1_meta.json");
    for case in meta["effective_difficulty"].as_array().unwrap() {
        let opt = |k: &str| case[k].as_u64();
        assert_eq!(
            effective_difficulty(
                opt("difficulty"),
                opt("min_difficulty"),
                opt("max_difficulty")
            ),
            case["effective"].as_u64().unwrap(),
            "{case}"
        );
    }
}
