//! Shared inputs for the criterion benchmarks: the sample challenges every benchmark hashes.

use pow_backend_api::Job;
use pow_seal::{Challenge, SealOrder, Work};

/// Block hash of the sample challenges (the one bittensor's hash-rate script uses).
pub const BLOCK: [u8; 32] =
    hex32("5b4bb52cc2b35b226782dd0490e94d35ab06e888732ba9db72faef6ff89f1782");
/// Hotkey of the sample challenges.
pub const HOTKEY: [u8; 32] =
    hex32("8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48");
/// Coldkey of the sample challenges.
pub const COLDKEY: [u8; 32] =
    hex32("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d");

const fn hex32(s: &str) -> [u8; 32] {
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        _ => c - b'a' + 10,
    }
}

/// The sample challenge of a kind: `v1`, `legacy` (little-endian seal) or `faucet`.
pub fn sample_challenge(kind: &str) -> Challenge {
    match kind {
        "v1" => Challenge::v1(1, BLOCK, HOTKEY, COLDKEY).expect("netuid 1"),
        "legacy" => Challenge::Legacy {
            block_hash: BLOCK,
            hotkey: HOTKEY,
            seal_order: SealOrder::LittleEndian,
        },
        "faucet" => Challenge::Faucet {
            block_hash: BLOCK,
            coldkey: COLDKEY,
        },
        other => panic!("unknown challenge kind {other}"),
    }
}

/// A job for the sample challenge that no seal can pass (difficulty 2^64 - 1 leaves the
/// cheap top-word test failing on almost every attempt), with the canonical nonce mapping.
pub fn sample_job(kind: &str) -> Job {
    Job::from_work(&Work::new(sample_challenge(kind), u64::MAX))
}
