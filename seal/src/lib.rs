//! The seal library: the single source of truth for Bittensor registration proof of work.
//!
//! Every attempt is `seal = keccak256(sha256(message))`, where `message` holds the nonce as
//! eight little-endian bytes. A seal passes when, read as a 256-bit integer in the
//! challenge's [`SealOrder`], it is at most [`Target::from_difficulty`]
//! (`floor((2^256 - 1) / max(difficulty, 1))`).
//!
//! Three challenges exist (see `tests/data/vectors/README.md`):
//! * [`Challenge::PowRegisterV1`]: `"subtensor-pow-register-v1" ‖ netuid u16 LE ‖ block_hash ‖
//!   hotkey ‖ coldkey ‖ nonce`, little-endian seal.
//! * [`Challenge::Legacy`]: `nonce ‖ keccak256(block_hash ‖ hotkey)`, big-endian seal up to
//!   runtime spec 277, little-endian from 283.
//! * [`Challenge::Faucet`]: the legacy layout with the coldkey, difficulty 1,000,000,
//!   little-endian seal.

pub mod sha256;
mod target;

pub use target::Target;

use sha2::{Digest, Sha256};
use tiny_keccak::{Hasher, Keccak};

/// The domain string that opens every v1 registration message.
pub const V1_DOMAIN: &[u8] = b"subtensor-pow-register-v1";

/// Length of a v1 message before the nonce: domain, netuid, block hash, hotkey, coldkey.
pub const V1_PREFIX_LEN: usize = V1_DOMAIN.len() + 2 + 32 + 32 + 32;

/// The fixed difficulty the runtime's `faucet` call demands.
pub const FAUCET_DIFFICULTY: u64 = 1_000_000;

/// A 32-byte value: block hash, public key or seal.
pub type Bytes32 = [u8; 32];

/// How a 32-byte seal is read as a 256-bit integer before it is compared with the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SealOrder {
    /// Byte 0 is the most significant (legacy runtimes up to spec 277, bittensor's SDK check).
    BigEndian,
    /// Byte 31 is the most significant (v1, faucet, legacy runtimes from spec 283).
    LittleEndian,
}

impl SealOrder {
    /// Short lowercase name: `be` or `le`.
    pub fn as_str(self) -> &'static str {
        match self {
            SealOrder::BigEndian => "be",
            SealOrder::LittleEndian => "le",
        }
    }

    /// Reads a seal as four 64-bit limbs, least significant limb first.
    pub fn limbs(self, seal: &Bytes32) -> [u64; 4] {
        let mut limbs = [0u64; 4];
        for (i, limb) in limbs.iter_mut().enumerate() {
            *limb = match self {
                SealOrder::LittleEndian => {
                    u64::from_le_bytes(seal[i * 8..i * 8 + 8].try_into().unwrap())
                }
                SealOrder::BigEndian => {
                    u64::from_be_bytes(seal[24 - i * 8..32 - i * 8].try_into().unwrap())
                }
            };
        }
        limbs
    }

    /// The most significant 64 bits of the seal read in this order: the cheap first test.
    pub fn top_word(self, seal: &Bytes32) -> u64 {
        match self {
            SealOrder::LittleEndian => u64::from_le_bytes(seal[24..32].try_into().unwrap()),
            SealOrder::BigEndian => u64::from_be_bytes(seal[0..8].try_into().unwrap()),
        }
    }
}

impl std::str::FromStr for SealOrder {
    type Err = SealError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "be" | "big" | "big-endian" => Ok(SealOrder::BigEndian),
            "le" | "little" | "little-endian" => Ok(SealOrder::LittleEndian),
            _ => Err(SealError::BadSealOrder(s.to_string())),
        }
    }
}

/// Errors from building a challenge out of user input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// netuid 0 is the root network; the runtime refuses PoW registration there.
    #[error("netuid 0 is the root network and cannot be registered with proof of work")]
    RootNetuid,
    /// A seal order other than `be` or `le`.
    #[error("seal order must be `be` or `le`, got `{0}`")]
    BadSealOrder(String),
}

/// One of the three proof-of-work challenges, with every input that goes into its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// `SubtensorModule.pow_register` (bittensor 11): signed by the coldkey.
    PowRegisterV1 {
        /// Subnet id (never 0).
        netuid: u16,
        /// Hash of the work block.
        block_hash: Bytes32,
        /// Hotkey public key.
        hotkey: Bytes32,
        /// Coldkey public key.
        coldkey: Bytes32,
    },
    /// `SubtensorModule.register` on runtimes up to spec 394: signed by the hotkey.
    Legacy {
        /// Hash of the work block.
        block_hash: Bytes32,
        /// Hotkey public key.
        hotkey: Bytes32,
        /// Seal byte order (big-endian up to spec 277, little-endian from 283).
        seal_order: SealOrder,
    },
    /// `SubtensorModule.faucet` on test and dev runtimes: signed by the coldkey.
    Faucet {
        /// Hash of the work block.
        block_hash: Bytes32,
        /// Coldkey public key.
        coldkey: Bytes32,
    },
}

impl Challenge {
    /// Builds a v1 challenge, refusing netuid 0 as the runtime does.
    pub fn v1(
        netuid: u16,
        block_hash: Bytes32,
        hotkey: Bytes32,
        coldkey: Bytes32,
    ) -> Result<Self, SealError> {
        if netuid == 0 {
            return Err(SealError::RootNetuid);
        }
        Ok(Challenge::PowRegisterV1 {
            netuid,
            block_hash,
            hotkey,
            coldkey,
        })
    }

    /// Short name used on the command line and in JSON: `v1`, `legacy` or `faucet`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Challenge::PowRegisterV1 { .. } => "v1",
            Challenge::Legacy { .. } => "legacy",
            Challenge::Faucet { .. } => "faucet",
        }
    }

    /// The byte order in which this challenge's seal is compared with the target.
    pub fn seal_order(&self) -> SealOrder {
        match self {
            Challenge::Legacy { seal_order, .. } => *seal_order,
            _ => SealOrder::LittleEndian,
        }
    }

    /// The message bytes that come before the nonce.
    pub fn prefix(&self) -> Vec<u8> {
        match self {
            Challenge::PowRegisterV1 {
                netuid,
                block_hash,
                hotkey,
                coldkey,
            } => {
                let mut p = Vec::with_capacity(V1_PREFIX_LEN);
                p.extend_from_slice(V1_DOMAIN);
                p.extend_from_slice(&netuid.to_le_bytes());
                p.extend_from_slice(block_hash);
                p.extend_from_slice(hotkey);
                p.extend_from_slice(coldkey);
                p
            }
            Challenge::Legacy { .. } | Challenge::Faucet { .. } => Vec::new(),
        }
    }

    /// The message bytes that come after the nonce.
    pub fn suffix(&self) -> Vec<u8> {
        match self {
            Challenge::PowRegisterV1 { .. } => Vec::new(),
            Challenge::Legacy {
                block_hash, hotkey, ..
            } => block_and_key_hash(block_hash, hotkey).to_vec(),
            Challenge::Faucet {
                block_hash,
                coldkey,
            } => block_and_key_hash(block_hash, coldkey).to_vec(),
        }
    }

    /// The whole message for one nonce: prefix ‖ nonce (8 bytes LE) ‖ suffix.
    pub fn message(&self, nonce: u64) -> Vec<u8> {
        message_with_nonce(&self.prefix(), nonce, &self.suffix())
    }

    /// The seal for one nonce.
    pub fn seal(&self, nonce: u64) -> Bytes32 {
        seal_of_message(&self.message(nonce))
    }
}

/// A challenge together with the difficulty it must meet: everything needed to judge a nonce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    /// The challenge being solved.
    pub challenge: Challenge,
    /// The difficulty as the chain states it (0 is treated as 1).
    pub difficulty: u64,
}

impl Work {
    /// Pairs a challenge with a difficulty.
    pub fn new(challenge: Challenge, difficulty: u64) -> Self {
        Work {
            challenge,
            difficulty,
        }
    }

    /// The largest passing seal value.
    pub fn target(&self) -> Target {
        Target::from_difficulty(self.difficulty)
    }

    /// Recomputes the seal of `nonce` and tells whether it passes; the check the host runs on
    /// every result a backend reports.
    pub fn verify(&self, nonce: u64) -> Option<Bytes32> {
        let seal = self.challenge.seal(nonce);
        self.target()
            .is_met_by(&seal, self.challenge.seal_order())
            .then_some(seal)
    }

    /// Checks a claimed (nonce, seal) pair: the seal must be the nonce's and must pass.
    pub fn verify_claim(&self, nonce: u64, claimed_seal: &Bytes32) -> bool {
        self.verify(nonce).is_some_and(|seal| &seal == claimed_seal)
    }
}

/// `prefix ‖ nonce as 8 little-endian bytes ‖ suffix`.
pub fn message_with_nonce(prefix: &[u8], nonce: u64, suffix: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(prefix.len() + 8 + suffix.len());
    m.extend_from_slice(prefix);
    m.extend_from_slice(&nonce.to_le_bytes());
    m.extend_from_slice(suffix);
    m
}

/// Original Keccak-256 (padding 0x01, not NIST SHA3-256).
pub fn keccak256(data: &[u8]) -> Bytes32 {
    let mut k = Keccak::v256();
    k.update(data);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> Bytes32 {
    Sha256::digest(data).into()
}

/// `keccak256(sha256(message))`: the seal of one attempt.
pub fn seal_of_message(message: &[u8]) -> Bytes32 {
    keccak256(&sha256(message))
}

/// `keccak256(block_hash ‖ key)`: the 32 bytes that follow the nonce in legacy and faucet
/// messages.
pub fn block_and_key_hash(block_hash: &Bytes32, key: &Bytes32) -> Bytes32 {
    let mut k = Keccak::v256();
    k.update(block_hash);
    k.update(key);
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

/// The SDK's difficulty clamp: `min(max(lo, value or 1), hi)` with
/// `lo = max(1, min or 1)` and `hi = max(lo, max or 2^64-1)`. Kept to match the SDK's vectors;
/// the runtime checks only `Difficulty.max(1)` (`pow_chain::rules::mining_difficulty`), and this
/// clamp differs from it wherever `Difficulty` lies outside `MinDifficulty..MaxDifficulty`.
pub fn effective_difficulty(value: Option<u64>, min: Option<u64>, max: Option<u64>) -> u64 {
    let lo = min.unwrap_or(1).max(1);
    let hi = max.unwrap_or(u64::MAX).max(lo);
    value.unwrap_or(1).max(lo).min(hi)
}

/// Why a text is not 32 bytes of hex.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Not 64 digits (after an optional `0x`).
    #[error("expected 32 bytes as 64 hex digits, got {0} digits")]
    WrongLength(usize),
    /// 64 characters, not all of them hex digits.
    #[error("malformed hex: {0}")]
    Malformed(String),
}

/// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
pub fn parse_bytes32(text: &str) -> Result<Bytes32, HexError> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    if digits.len() != 64 {
        return Err(HexError::WrongLength(digits.len()));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|e| HexError::Malformed(e.to_string()))?;
    Ok(out)
}

/// Formats bytes as `0x`-prefixed lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_prefix_is_123_bytes_and_refuses_root() {
        let c = Challenge::v1(1, [0; 32], [1; 32], [2; 32]).unwrap();
        assert_eq!(c.prefix().len(), 123);
        assert_eq!(V1_PREFIX_LEN, 123);
        assert_eq!(
            Challenge::v1(0, [0; 32], [0; 32], [0; 32]),
            Err(SealError::RootNetuid)
        );
    }

    #[test]
    fn legacy_message_is_40_bytes() {
        let c = Challenge::Legacy {
            block_hash: [3; 32],
            hotkey: [4; 32],
            seal_order: SealOrder::BigEndian,
        };
        let m = c.message(0x0102030405060708);
        assert_eq!(m.len(), 40);
        assert_eq!(&m[..8], &[8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn limbs_and_top_word_agree() {
        let mut seal = [0u8; 32];
        for (i, b) in seal.iter_mut().enumerate() {
            *b = i as u8;
        }
        for order in [SealOrder::BigEndian, SealOrder::LittleEndian] {
            assert_eq!(order.limbs(&seal)[3], order.top_word(&seal));
        }
        assert_eq!(SealOrder::BigEndian.top_word(&seal), 0x0001020304050607u64);
    }

    #[test]
    fn parse_bytes32_rejects_bad_input() {
        assert!(parse_bytes32("0x00").is_err());
        assert!(parse_bytes32(&format!("0x{}", "g".repeat(64))).is_err());
        assert_eq!(parse_bytes32(&"ab".repeat(32)).unwrap(), [0xab; 32]);
    }
}
