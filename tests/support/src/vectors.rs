//! The reference vectors of `tests/data/vectors` (produced by Bittensor's own code; the fields
//! are described in the vectors' README), read into typed cases. The one loader of the
//! workspace: the seal library's, the CPU paths', the backends' and the command line's tests
//! all read the vectors through it.
//!
//! Two levels: one record type per file, field for field ([`LegacySealVector`],
//! [`LegacySolveVector`], [`V1SealVector`], [`V1SolveVector`], [`EffectiveDifficultyCase`]),
//! and the flattened cases a backend is checked on ([`SolveCase`], [`SealCase`]), with the
//! challenge built and each legacy vector taken in both seal orders.

use pow_seal::{parse_bytes32, Challenge, SealOrder, Work};
use serde_json::Value;
use std::path::PathBuf;

/// `tests/data/vectors/seal_vectors.json`.
pub const LEGACY_SEAL_FILE: &str = "seal_vectors.json";
/// `tests/data/vectors/solve_vectors.json`.
pub const LEGACY_SOLVE_FILE: &str = "solve_vectors.json";
/// `tests/data/vectors/pow_register_v1_seal_vectors.json`.
pub const V1_SEAL_FILE: &str = "pow_register_v1_seal_vectors.json";
/// `tests/data/vectors/pow_register_v1_solve_vectors.json`.
pub const V1_SOLVE_FILE: &str = "pow_register_v1_solve_vectors.json";
/// `tests/data/vectors/pow_register_v1_meta.json`.
pub const V1_META_FILE: &str = "pow_register_v1_meta.json";

/// The folder of the vector files: the source tree's, or `tests/data/vectors` under the current
/// folder when the test binary was carried to another machine (scripts/gpu-session.sh).
pub fn vectors_dir() -> PathBuf {
    let built = crate::repo_root().join("tests/data/vectors");
    if built.is_dir() {
        built
    } else {
        PathBuf::from("tests/data/vectors")
    }
}

/// One vector file, parsed as JSON.
pub fn vector_file(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn array(name: &str) -> Vec<Value> {
    match vector_file(name) {
        Value::Array(cases) => cases,
        other => panic!("{name}: expected an array, not {other}"),
    }
}

/// A JSON number or decimal string as u64.
fn u64_of(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a u64: {v}"))
}

/// A JSON 0x-hex string as 32 bytes.
fn b32(v: &Value) -> [u8; 32] {
    parse_bytes32(v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .unwrap_or_else(|e| panic!("not 32 hex bytes: {v}: {e}"))
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// A `meets` object: (difficulty, passes) pairs, in the file's key order as serde_json reads it.
fn meets(v: &Value) -> Vec<(u64, bool)> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .iter()
        .map(|(d, m)| (d.parse().unwrap(), m.as_bool().unwrap()))
        .collect()
}

/// A case of `seal_vectors.json`: one legacy seal.
#[derive(Clone, Debug)]
pub struct LegacySealVector {
    /// Block hash.
    pub block_hash: [u8; 32],
    /// Hotkey public key.
    pub hotkey: [u8; 32],
    /// `keccak256(block_hash ‖ hotkey)`.
    pub block_and_hotkey_hash: [u8; 32],
    /// The nonce.
    pub nonce: u64,
    /// The nonce's 8 little-endian bytes as 0x-hex.
    pub nonce_le_bytes: String,
    /// Its seal.
    pub seal: [u8; 32],
    /// (difficulty, passes) under bittensor's big-endian rule.
    pub meets: Vec<(u64, bool)>,
    /// (difficulty, passes) under the runtime's little-endian rule.
    pub meets_runtime_le: Vec<(u64, bool)>,
}

impl LegacySealVector {
    /// The legacy challenge in `order`.
    pub fn challenge(&self, order: SealOrder) -> Challenge {
        legacy(self.block_hash, self.hotkey, order)
    }

    /// The (difficulty, passes) pairs under `order`.
    pub fn meets_in(&self, order: SealOrder) -> &[(u64, bool)] {
        match order {
            SealOrder::BigEndian => &self.meets,
            SealOrder::LittleEndian => &self.meets_runtime_le,
        }
    }
}

/// A case of `solve_vectors.json`: one legacy nonce search.
#[derive(Clone, Debug)]
pub struct LegacySolveVector {
    /// Block hash.
    pub block_hash: [u8; 32],
    /// Hotkey public key.
    pub hotkey: [u8; 32],
    /// Difficulty.
    pub difficulty: u64,
    /// First nonce tried.
    pub nonce_start: u64,
    /// Smallest passing nonce at or above `nonce_start` under the big-endian rule.
    pub first_nonce: u64,
    /// Its seal.
    pub seal: [u8; 32],
    /// The same under the runtime's little-endian rule.
    pub first_nonce_runtime_le: u64,
    /// Its seal.
    pub seal_runtime_le: [u8; 32],
}

impl LegacySolveVector {
    /// The legacy challenge in `order`.
    pub fn challenge(&self, order: SealOrder) -> Challenge {
        legacy(self.block_hash, self.hotkey, order)
    }

    /// The first passing nonce and its seal under `order`.
    pub fn first_in(&self, order: SealOrder) -> (u64, [u8; 32]) {
        match order {
            SealOrder::BigEndian => (self.first_nonce, self.seal),
            SealOrder::LittleEndian => (self.first_nonce_runtime_le, self.seal_runtime_le),
        }
    }
}

/// A case of `pow_register_v1_seal_vectors.json`: one v1 seal.
#[derive(Clone, Debug)]
pub struct V1SealVector {
    /// Subnet id.
    pub netuid: u16,
    /// Block hash.
    pub block_hash: [u8; 32],
    /// Hotkey public key.
    pub hotkey: [u8; 32],
    /// Coldkey public key.
    pub coldkey: [u8; 32],
    /// The message prefix as 0x-hex.
    pub prefix: String,
    /// The nonce.
    pub nonce: u64,
    /// Its seal.
    pub seal: [u8; 32],
    /// (difficulty, passes).
    pub meets: Vec<(u64, bool)>,
}

impl V1SealVector {
    /// The v1 challenge.
    pub fn challenge(&self) -> Challenge {
        v1(self.netuid, self.block_hash, self.hotkey, self.coldkey)
    }
}

/// A case of `pow_register_v1_solve_vectors.json`: one v1 nonce search.
#[derive(Clone, Debug)]
pub struct V1SolveVector {
    /// Subnet id.
    pub netuid: u16,
    /// Block hash.
    pub block_hash: [u8; 32],
    /// Hotkey public key.
    pub hotkey: [u8; 32],
    /// Coldkey public key.
    pub coldkey: [u8; 32],
    /// Difficulty.
    pub difficulty: u64,
    /// First nonce tried.
    pub nonce_start: u64,
    /// Smallest passing nonce at or above `nonce_start`.
    pub first_nonce: u64,
    /// Its seal.
    pub seal: [u8; 32],
}

impl V1SolveVector {
    /// The v1 challenge.
    pub fn challenge(&self) -> Challenge {
        v1(self.netuid, self.block_hash, self.hotkey, self.coldkey)
    }

    /// The challenge at the vector's difficulty.
    pub fn work(&self) -> Work {
        Work::new(self.challenge(), self.difficulty)
    }
}

/// A case of `effective_difficulty` in `pow_register_v1_meta.json`: the difficulty the chain
/// uses for a stored difficulty and optional bounds.
#[derive(Clone, Debug)]
pub struct EffectiveDifficultyCase {
    /// Stored difficulty, if any.
    pub difficulty: Option<u64>,
    /// Lower bound, if any.
    pub min_difficulty: Option<u64>,
    /// Upper bound, if any.
    pub max_difficulty: Option<u64>,
    /// The effective difficulty.
    pub effective: u64,
}

fn legacy(block_hash: [u8; 32], hotkey: [u8; 32], seal_order: SealOrder) -> Challenge {
    Challenge::Legacy {
        block_hash,
        hotkey,
        seal_order,
    }
}

fn v1(netuid: u16, block_hash: [u8; 32], hotkey: [u8; 32], coldkey: [u8; 32]) -> Challenge {
    Challenge::v1(netuid, block_hash, hotkey, coldkey)
        .unwrap_or_else(|e| panic!("vector with netuid {netuid}: {e}"))
}

fn netuid(v: &Value) -> u16 {
    u16::try_from(u64_of(v)).unwrap_or_else(|_| panic!("netuid out of range: {v}"))
}

/// Every case of `seal_vectors.json`.
pub fn legacy_seal_vectors() -> Vec<LegacySealVector> {
    array(LEGACY_SEAL_FILE)
        .iter()
        .map(|c| LegacySealVector {
            block_hash: b32(&c["block_hash"]),
            hotkey: b32(&c["hotkey_pubkey"]),
            block_and_hotkey_hash: b32(&c["block_and_hotkey_hash"]),
            nonce: u64_of(&c["nonce"]),
            nonce_le_bytes: text(&c["nonce_le_bytes"]),
            seal: b32(&c["seal"]),
            meets: meets(&c["meets"]),
            meets_runtime_le: meets(&c["meets_runtime_le"]),
        })
        .collect()
}

/// Every case of `solve_vectors.json`.
pub fn legacy_solve_vectors() -> Vec<LegacySolveVector> {
    array(LEGACY_SOLVE_FILE)
        .iter()
        .map(|c| LegacySolveVector {
            block_hash: b32(&c["block_hash"]),
            hotkey: b32(&c["hotkey_pubkey"]),
            difficulty: u64_of(&c["difficulty"]),
            nonce_start: u64_of(&c["nonce_start"]),
            first_nonce: u64_of(&c["first_nonce"]),
            seal: b32(&c["seal"]),
            first_nonce_runtime_le: u64_of(&c["first_nonce_runtime_le"]),
            seal_runtime_le: b32(&c["seal_runtime_le"]),
        })
        .collect()
}

/// Every case of `pow_register_v1_seal_vectors.json`.
pub fn v1_seal_vectors() -> Vec<V1SealVector> {
    array(V1_SEAL_FILE)
        .iter()
        .map(|c| V1SealVector {
            netuid: netuid(&c["netuid"]),
            block_hash: b32(&c["block_hash"]),
            hotkey: b32(&c["hotkey_pubkey"]),
            coldkey: b32(&c["coldkey_pubkey"]),
            prefix: text(&c["prefix"]),
            nonce: u64_of(&c["nonce"]),
            seal: b32(&c["seal"]),
            meets: meets(&c["meets"]),
        })
        .collect()
}

/// Every case of `pow_register_v1_solve_vectors.json`.
pub fn v1_solve_vectors() -> Vec<V1SolveVector> {
    array(V1_SOLVE_FILE)
        .iter()
        .map(|c| V1SolveVector {
            netuid: netuid(&c["netuid"]),
            block_hash: b32(&c["block_hash"]),
            hotkey: b32(&c["hotkey_pubkey"]),
            coldkey: b32(&c["coldkey_pubkey"]),
            difficulty: u64_of(&c["difficulty"]),
            nonce_start: u64_of(&c["nonce_start"]),
            first_nonce: u64_of(&c["first_nonce"]),
            seal: b32(&c["seal"]),
        })
        .collect()
}

/// Every `effective_difficulty` case of `pow_register_v1_meta.json`.
pub fn effective_difficulty_cases() -> Vec<EffectiveDifficultyCase> {
    let meta = vector_file(V1_META_FILE);
    meta["effective_difficulty"]
        .as_array()
        .expect("effective_difficulty is an array")
        .iter()
        .map(|c| EffectiveDifficultyCase {
            difficulty: c["difficulty"].as_u64(),
            min_difficulty: c["min_difficulty"].as_u64(),
            max_difficulty: c["max_difficulty"].as_u64(),
            effective: u64_of(&c["effective"]),
        })
        .collect()
}

/// One nonce search from a solve vector file.
#[derive(Clone, Debug)]
pub struct SolveCase {
    /// Where it comes from, for messages: `legacy #I (be|le)` or `v1 #I`.
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
    for (i, c) in legacy_solve_vectors().iter().enumerate() {
        for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
            let (first_nonce, seal) = c.first_in(order);
            out.push(SolveCase {
                label: format!("legacy #{i} ({})", order.as_str()),
                work: Work::new(c.challenge(order), c.difficulty),
                nonce_start: c.nonce_start,
                first_nonce,
                seal,
            });
        }
    }
    for (i, c) in v1_solve_vectors().iter().enumerate() {
        out.push(SolveCase {
            label: format!("v1 #{i}"),
            work: c.work(),
            nonce_start: c.nonce_start,
            first_nonce: c.first_nonce,
            seal: c.seal,
        });
    }
    out
}

/// One (challenge, nonce) pair with its seal and pass/fail per difficulty.
#[derive(Clone, Debug)]
pub struct SealCase {
    /// Where it comes from: `legacy seal #I (be|le)` or `v1 seal #I`.
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
    for (i, c) in legacy_seal_vectors().iter().enumerate() {
        for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
            out.push(SealCase {
                label: format!("legacy seal #{i} ({})", order.as_str()),
                challenge: c.challenge(order),
                nonce: c.nonce,
                seal: c.seal,
                meets: c.meets_in(order).to_vec(),
            });
        }
    }
    for (i, c) in v1_seal_vectors().iter().enumerate() {
        out.push(SealCase {
            label: format!("v1 seal #{i}"),
            challenge: c.challenge(),
            nonce: c.nonce,
            seal: c.seal,
            meets: c.meets.clone(),
        });
    }
    out
}
