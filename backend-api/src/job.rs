//! Jobs, the nonce mapping and search results.

use abi_stable::std_types::RVec;
use abi_stable::StableAbi;
use pow_seal::{Bytes32, SealOrder, Target, Work};
use std::sync::atomic::{AtomicBool, Ordering};

/// How a nonce index (what devices count through) maps to the nonce in the message.
///
/// `nonce = index.rotate_left(rotate_left_bits)`. With rotation 0 indexes are nonces. For a
/// message whose nonce straddles a SHA-256 block boundary, [`NonceMapping::for_prefix_len`]
/// rotates so that consecutive indexes change only the nonce bytes in the last block; the
/// block before stays constant for 2^(64 - rotation) consecutive indexes and its compression
/// can be hoisted out of the loop. (v1: 123-byte prefix, 5 nonce bytes in block 2, rotation 40.)
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NonceMapping {
    /// Left rotation in bits, 0..64.
    pub rotate_left_bits: u32,
}

impl NonceMapping {
    /// Indexes are nonces.
    pub const IDENTITY: NonceMapping = NonceMapping {
        rotate_left_bits: 0,
    };

    /// The canonical mapping for a message whose nonce starts at byte `prefix_len`.
    pub fn for_prefix_len(prefix_len: usize) -> NonceMapping {
        match crate::layout::straddle_low_bytes(prefix_len) {
            // Nonce bytes 0..low_bytes sit in one block, the rest in the next.
            Some(low_bytes) => NonceMapping {
                rotate_left_bits: low_bytes as u32 * 8,
            },
            None => NonceMapping::IDENTITY,
        }
    }

    /// The nonce for an index.
    #[inline(always)]
    pub fn nonce(self, index: u64) -> u64 {
        index.rotate_left(self.rotate_left_bits & 63)
    }

    /// The index of a nonce (inverse of [`NonceMapping::nonce`]).
    #[inline(always)]
    pub fn index(self, nonce: u64) -> u64 {
        nonce.rotate_right(self.rotate_left_bits & 63)
    }

    /// How many consecutive indexes, aligned to a multiple of this number, share their
    /// high-order nonce bytes: 2^(64 - rotation), saturating at 2^63 for the identity.
    pub fn run_length(self) -> u64 {
        match self.rotate_left_bits & 63 {
            0 => 1 << 63,
            r => 1u64 << (64 - r),
        }
    }
}

/// A search job: everything a device needs, independent of which challenge produced it.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// Message bytes before the nonce.
    pub prefix: RVec<u8>,
    /// Message bytes after the nonce.
    pub suffix: RVec<u8>,
    /// `true` when the seal is read big-endian, `false` for little-endian.
    pub seal_big_endian: bool,
    /// Largest passing seal value, four 64-bit limbs, least significant first.
    pub target: [u64; 4],
    /// Index-to-nonce mapping.
    pub mapping: NonceMapping,
}

impl Job {
    /// The job for a piece of work, with the canonical nonce mapping for its layout.
    pub fn from_work(work: &Work) -> Job {
        let prefix = work.challenge.prefix();
        let mapping = NonceMapping::for_prefix_len(prefix.len());
        Job {
            prefix: prefix.into(),
            suffix: work.challenge.suffix().into(),
            seal_big_endian: work.challenge.seal_order() == SealOrder::BigEndian,
            target: work.target().0,
            mapping,
        }
    }

    /// The same job with another nonce mapping.
    pub fn with_mapping(mut self, mapping: NonceMapping) -> Job {
        self.mapping = mapping;
        self
    }

    /// Seal byte order.
    pub fn seal_order(&self) -> SealOrder {
        if self.seal_big_endian {
            SealOrder::BigEndian
        } else {
            SealOrder::LittleEndian
        }
    }

    /// The target as a [`Target`].
    pub fn target(&self) -> Target {
        Target(self.target)
    }

    /// The full message for a nonce.
    pub fn message(&self, nonce: u64) -> Vec<u8> {
        pow_seal::message_with_nonce(&self.prefix, nonce, &self.suffix)
    }

    /// The seal for the nonce at `index`, computed with the reference library.
    pub fn reference_seal_at(&self, index: u64) -> Bytes32 {
        pow_seal::seal_of_message(&self.message(self.mapping.nonce(index)))
    }

    /// Whether a seal passes this job's target.
    pub fn is_met_by(&self, seal: &Bytes32) -> bool {
        self.target().is_met_by(seal, self.seal_order())
    }

    /// Searches `[start, start + count)` one index at a time with the reference library, by
    /// the [`SearchOutcome`] rules: it stops after the first hit and looks at `cancel` every
    /// 1,024 indexes. Far too slow to mine with; a correct yardstick for tests and fixtures.
    pub fn reference_search(&self, start: u64, count: u64, cancel: &AtomicBool) -> SearchOutcome {
        let mut out = SearchOutcome::default();
        for offset in 0..count {
            if offset % 1024 == 0 && cancel.load(Ordering::Relaxed) {
                break;
            }
            let index = start.wrapping_add(offset);
            let seal = self.reference_seal_at(index);
            out.searched = offset + 1;
            out.attempts = offset + 1;
            if self.is_met_by(&seal) {
                let nonce = self.mapping.nonce(index);
                out.hits.push(Hit { index, nonce, seal });
                break;
            }
        }
        out
    }

    /// Re-verifies a hit with the reference library: the index maps to the nonce, the seal is
    /// that nonce's, and it passes.
    pub fn verify_hit(&self, hit: &Hit) -> bool {
        hit.nonce == self.mapping.nonce(hit.index)
            && self.reference_seal_at(hit.index) == hit.seal
            && self.is_met_by(&hit.seal)
    }
}

/// A passing attempt.
#[repr(C)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    /// The nonce index.
    pub index: u64,
    /// The nonce (`mapping.nonce(index)`).
    pub nonce: u64,
    /// The seal of that nonce.
    pub seal: [u8; 32],
}

/// What one `search` call did.
///
/// * `searched`: every index in `[start, start + searched)` was tried. When a hit is reported,
///   the lowest hit index lies inside that range; when the call was cancelled, the rest of the
///   range may or may not have been tried and is the caller's to hand out again.
/// * `attempts`: seals computed in total (at least `searched`; more when work beyond the
///   searched prefix was done and thrown away), for rate statistics.
/// * `hits`: passing indexes found, in ascending order. It always contains the lowest passing
///   index of `[start, start + searched)` if there is one.
#[repr(C)]
#[derive(StableAbi, Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchOutcome {
    /// Length of the fully searched prefix of the range.
    pub searched: u64,
    /// Seals computed.
    pub attempts: u64,
    /// Passing attempts, ascending by index.
    pub hits: RVec<Hit>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_mapping_rotates_40_and_inverts() {
        let m = NonceMapping::for_prefix_len(pow_seal::V1_PREFIX_LEN);
        assert_eq!(m.rotate_left_bits, 40);
        assert_eq!(m.run_length(), 1 << 24);
        for idx in [0u64, 1, 0xffffff, 0x1000000, u64::MAX, 0x0123456789abcdef] {
            assert_eq!(m.index(m.nonce(idx)), idx);
        }
        // Consecutive indexes below 2^24 change only the nonce's top three bytes.
        assert_eq!(m.nonce(1), 1u64 << 40);
        assert_eq!(m.nonce(1 << 24), 1);
        assert_eq!(NonceMapping::for_prefix_len(0), NonceMapping::IDENTITY);
    }
}
