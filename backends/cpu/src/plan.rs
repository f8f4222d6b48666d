//! Word-level layout of a job for the SIMD paths: which SHA-256 message words hold nonce
//! bytes, the constant parts of every message schedule, and the block whose compression can
//! be hoisted out of the loop when the nonce straddles two blocks.

use pow_backend_api::MessageLayout;
use pow_seal::sha256::{self, IV as SHA256_IV};

pub use pow_seal::sha256::K;

/// Keccak-f\[1600\] round constants.
pub const RC: [u64; 24] = [
    0x0000000000000001,
    0x0000000000008082,
    0x800000000000808a,
    0x8000000080008000,
    0x000000000000808b,
    0x0000000080000001,
    0x8000000080008081,
    0x8000000000008009,
    0x000000000000008a,
    0x0000000000000088,
    0x0000000080008009,
    0x000000008000000a,
    0x000000008000808b,
    0x800000000000008b,
    0x8000000000008089,
    0x8000000000008003,
    0x8000000000008002,
    0x8000000000000080,
    0x000000000000800a,
    0x800000008000000a,
    0x8000000080008081,
    0x8000000000008080,
    0x0000000080000001,
    0x8000000080008008,
];

/// Message-word masks the SIMD kernels are specialised for; any other block uses
/// [`VAR_ALL`] (every word treated as variable).
pub const SPECIALISED: [u16; 4] = [0x0000, 0x0001, 0x0003, 0xC000];

/// The generic kernel's mask: every message word is loaded per lane.
pub const VAR_ALL: u16 = 0xFFFF;

/// Schedule small sigma 0.
#[inline(always)]
pub fn ssig0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}

/// Schedule small sigma 1.
#[inline(always)]
pub fn ssig1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// Which of the 64 schedule words depend on a variable message word, for a 16-bit mask of
/// variable message words.
pub const fn var64(mask: u16) -> u64 {
    let mut v = mask as u64;
    let mut t = 16;
    while t < 64 {
        let deps = (v >> (t - 2)) | (v >> (t - 7)) | (v >> (t - 15)) | (v >> (t - 16));
        v |= (deps & 1) << t;
        t += 1;
    }
    v
}

/// One SHA-256 block after the nonce's start, laid out for a SIMD kernel.
#[derive(Clone, Debug)]
pub struct BlockPlan {
    /// Message words with the nonce bytes zeroed.
    pub words: [u32; 16],
    /// Words that hold nonce bytes (bit j = word j).
    pub nonce_words: u16,
    /// The mask the kernel is dispatched on: `nonce_words` when specialised, else [`VAR_ALL`].
    pub var: u16,
    /// [`var64`] of `var`.
    pub var64: u64,
    /// `K[t] + W[t]` for every schedule word that is constant.
    pub kw: [u32; 64],
    /// For variable schedule words `t >= 16`: the sum of the terms that are constant.
    pub pre: [u32; 64],
}

impl BlockPlan {
    fn new(words: [u32; 16], nonce_words: u16) -> BlockPlan {
        let var = if SPECIALISED.contains(&nonce_words) {
            nonce_words
        } else {
            VAR_ALL
        };
        let v64 = var64(var);
        let is_var = |t: usize| (v64 >> t) & 1 == 1;
        let mut w = [0u32; 64];
        let mut pre = [0u32; 64];
        let mut kw = [0u32; 64];
        w[..16].copy_from_slice(&words);
        for t in 16..64 {
            let mut sum = 0u32;
            if !is_var(t - 2) {
                sum = sum.wrapping_add(ssig1(w[t - 2]));
            }
            if !is_var(t - 7) {
                sum = sum.wrapping_add(w[t - 7]);
            }
            if !is_var(t - 15) {
                sum = sum.wrapping_add(ssig0(w[t - 15]));
            }
            if !is_var(t - 16) {
                sum = sum.wrapping_add(w[t - 16]);
            }
            pre[t] = sum;
            w[t] = sum; // the full word when constant
        }
        for t in 0..64 {
            kw[t] = K[t].wrapping_add(w[t]);
        }
        BlockPlan {
            words,
            nonce_words,
            var,
            var64: v64,
            kw,
            pre,
        }
    }
}

/// Where one message word gets nonce bytes from: `word = template | piece(nonce)` with
/// `piece = shift(nonce.swap_bytes(), shift) as u32` (right shift when positive).
#[derive(Clone, Copy, Debug)]
pub struct NoncePiece {
    /// Tail block index.
    pub block: usize,
    /// Word index inside the block.
    pub word: usize,
    /// Right shift of the byte-swapped nonce (negative: left shift).
    pub shift: i32,
}

impl NoncePiece {
    /// This word's nonce bits for one nonce.
    #[inline(always)]
    pub fn bits(&self, nonce: u64) -> u32 {
        let be = nonce.swap_bytes();
        if self.shift >= 0 {
            (be >> self.shift) as u32
        } else {
            (be << -self.shift) as u32
        }
    }
}

/// A job laid out for the SIMD kernels.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Midstate of the constant whole blocks.
    pub midstate: [u32; 8],
    /// The tail blocks (those from the one holding the nonce's first byte).
    pub blocks: Vec<BlockPlan>,
    /// Every message word that holds nonce bytes.
    pub pieces: Vec<NoncePiece>,
    /// When the nonce straddles blocks 0 and 1: the mask of nonce bits that lie in block 0.
    /// Lanes that agree on these bits share the state after block 0.
    pub split_mask: Option<u64>,
}

impl Plan {
    /// Lays out a message's padded tail blocks word by word.
    pub fn new(layout: &MessageLayout) -> Plan {
        let (midstate, tail, nonce_offset) = (layout.midstate, &layout.tail, layout.nonce_offset);
        let mut pieces = Vec::new();
        let mut nonce_words = vec![0u16; tail.len()];
        for (b, mask) in nonce_words.iter_mut().enumerate() {
            for j in 0..16 {
                let word_start = (b * 64 + j * 4) as i64;
                let d = nonce_offset as i64 - word_start;
                // The word overlaps the nonce when the 4 bytes meet the 8 nonce bytes.
                if d < 4 && d > -8 {
                    *mask |= 1 << j;
                    pieces.push(NoncePiece {
                        block: b,
                        word: j,
                        shift: (32 + 8 * d) as i32,
                    });
                }
            }
        }
        let blocks = tail
            .iter()
            .zip(&nonce_words)
            .map(|(block, &mask)| {
                let mut words = [0u32; 16];
                for (j, w) in words.iter_mut().enumerate() {
                    *w = u32::from_be_bytes(block[j * 4..j * 4 + 4].try_into().unwrap());
                }
                BlockPlan::new(words, mask)
            })
            .collect();
        let split_mask = layout
            .straddle_low_bytes()
            .map(|low_bytes| (1u64 << (8 * low_bytes)) - 1);
        Plan {
            midstate,
            blocks,
            pieces,
            split_mask,
        }
    }

    /// Block 0's message words for one nonce (used to compute the hoisted state).
    pub fn block_words(&self, block: usize, nonce: u64) -> [u32; 16] {
        let mut w = self.blocks[block].words;
        for p in self.pieces.iter().filter(|p| p.block == block) {
            w[p.word] |= p.bits(nonce);
        }
        w
    }
}

/// The hoisted state after block 0 for the nonce bits under a plan's `split_mask`.
#[derive(Clone, Debug)]
pub struct SplitCache {
    key: Option<u64>,
    state: [u32; 8],
}

impl Default for SplitCache {
    fn default() -> Self {
        SplitCache {
            key: None,
            state: SHA256_IV,
        }
    }
}

impl SplitCache {
    /// The state after block 0 for `nonce` (only the bits under `mask` matter).
    pub fn state_after_block0(&mut self, plan: &Plan, mask: u64, nonce: u64) -> [u32; 8] {
        let key = nonce & mask;
        if self.key != Some(key) {
            let mut st = plan.midstate;
            compress_words(&mut st, &plan.block_words(0, key));
            self.state = st;
            self.key = Some(key);
        }
        self.state
    }
}

/// One SHA-256 compression of 16 message words (scalar).
pub use sha256::compress_words;

/// Whether every nonce agrees with the first under `mask`.
#[inline(always)]
pub fn uniform(nonces: &[u64], mask: u64) -> bool {
    let first = nonces[0] & mask;
    nonces.iter().all(|n| n & mask == first)
}
