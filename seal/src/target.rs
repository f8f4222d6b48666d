//! The 256-bit difficulty target and the pass test.

use crate::{Bytes32, SealOrder};

/// The largest passing seal value, `floor((2^256 - 1) / max(difficulty, 1))`, as four 64-bit
/// limbs, least significant first.
///
/// `seal <= target` is exactly the runtime's `!overflow(seal * difficulty)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target(pub [u64; 4]);

impl Target {
    /// The target for a difficulty; difficulty 0 is treated as 1, as the chain does.
    pub fn from_difficulty(difficulty: u64) -> Self {
        let d = difficulty.max(1) as u128;
        let mut limbs = [0u64; 4];
        let mut rem: u128 = 0;
        for i in (0..4).rev() {
            let cur = (rem << 64) | u64::MAX as u128;
            limbs[i] = (cur / d) as u64;
            rem = cur % d;
        }
        Target(limbs)
    }

    /// The most significant 64 bits: a seal whose top word is below this passes, above fails.
    pub fn top_word(&self) -> u64 {
        self.0[3]
    }

    /// Whether a seal, read in `order`, is at most this target.
    pub fn is_met_by(&self, seal: &Bytes32, order: SealOrder) -> bool {
        let s = order.limbs(seal);
        for i in (0..4).rev() {
            if s[i] != self.0[i] {
                return s[i] < self.0[i];
            }
        }
        true
    }

    /// The target as 32 big-endian bytes.
    pub fn to_be_bytes(&self) -> Bytes32 {
        let mut out = [0u8; 32];
        for i in 0..4 {
            out[(3 - i) * 8..(4 - i) * 8].copy_from_slice(&self.0[i].to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_one_and_zero_accept_everything() {
        assert_eq!(Target::from_difficulty(1).0, [u64::MAX; 4]);
        assert_eq!(Target::from_difficulty(0), Target::from_difficulty(1));
    }

    #[test]
    fn division_matches_u128_reference_on_top_limbs() {
        // floor((2^128 - 1) / d) computed directly equals the two top limbs of
        // floor((2^256-1)/d) shifted down when d divides evenly into powers of two.
        let t = Target::from_difficulty(2);
        assert_eq!(t.0, [u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1]);
        let t = Target::from_difficulty(u64::MAX);
        // (2^256-1)/(2^64-1) = 2^192 + 2^128 + 2^64 + 1
        assert_eq!(t.0, [1, 1, 1, 1]);
    }

    #[test]
    fn boundary_is_inclusive() {
        let t = Target::from_difficulty(3);
        let be = t.to_be_bytes();
        assert!(t.is_met_by(&be, SealOrder::BigEndian));
        let mut above = be;
        // add one to the big-endian value
        for b in above.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        assert!(!t.is_met_by(&above, SealOrder::BigEndian));
        let mut le = be;
        le.reverse();
        assert!(t.is_met_by(&le, SealOrder::LittleEndian));
    }
}
