//! A job's message in SHA-256 blocks, written once for every backend: the padding, the
//! midstate of the blocks wholly before the nonce, where the eight nonce bytes land, and which
//! blocks stay constant while consecutive indexes are searched.
//!
//! ```text
//! prefix ............................ | nonce (8, LE) | suffix | 0x80 0.. | bit length (8, BE)
//! [ constant blocks -> midstate ][ tail block 0 ][ tail block 1 ] ...
//!                                  ^ nonce_offset (counted from the first tail block)
//! ```

use crate::{Job, NonceMapping};
use pow_seal::sha256::{self, BLOCK_BYTES};

/// Bytes of the nonce in the message.
pub const NONCE_BYTES: usize = 8;

/// When a nonce starting at `prefix_len` straddles two SHA-256 blocks: how many of its (low)
/// bytes lie in the first of them.
pub fn straddle_low_bytes(prefix_len: usize) -> Option<usize> {
    let offset = prefix_len % BLOCK_BYTES;
    (offset + NONCE_BYTES > BLOCK_BYTES).then_some(BLOCK_BYTES - offset)
}

/// A message laid out for hashing one nonce after another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageLayout {
    /// SHA-256 state after every block that lies wholly before the nonce.
    pub midstate: [u32; 8],
    /// The remaining padded blocks, from the one holding the nonce's first byte (one to three
    /// for the Bittensor challenges), with the nonce bytes zeroed.
    pub tail: Vec<[u8; BLOCK_BYTES]>,
    /// Offset of the nonce's first byte, counted from the start of `tail`.
    pub nonce_offset: usize,
    /// Bytes of the whole message.
    pub message_len: usize,
}

impl MessageLayout {
    /// Lays out `prefix ‖ nonce ‖ suffix` with SHA-256 padding.
    pub fn new(prefix: &[u8], suffix: &[u8]) -> MessageLayout {
        let message_len = prefix.len() + NONCE_BYTES + suffix.len();
        let constant_blocks = prefix.len() / BLOCK_BYTES;
        let mut midstate = sha256::IV;
        for block in prefix.chunks_exact(BLOCK_BYTES).take(constant_blocks) {
            sha256::compress(&mut midstate, block.try_into().unwrap());
        }
        let mut rest = Vec::with_capacity(3 * BLOCK_BYTES);
        rest.extend_from_slice(&prefix[constant_blocks * BLOCK_BYTES..]);
        let nonce_offset = rest.len();
        rest.extend_from_slice(&[0u8; NONCE_BYTES]);
        rest.extend_from_slice(suffix);
        rest.push(0x80);
        while rest.len() % BLOCK_BYTES != BLOCK_BYTES - 8 {
            rest.push(0);
        }
        rest.extend_from_slice(&((message_len as u64) * 8).to_be_bytes());
        let tail = rest
            .chunks_exact(BLOCK_BYTES)
            .map(|c| c.try_into().unwrap())
            .collect();
        MessageLayout {
            midstate,
            tail,
            nonce_offset,
            message_len,
        }
    }

    /// The layout of a job's message.
    pub fn of(job: &Job) -> MessageLayout {
        MessageLayout::new(&job.prefix, &job.suffix)
    }

    /// Writes `nonce` (little-endian) into `blocks`, a copy of the first `blocks.len()` tail
    /// blocks; bytes that fall beyond them are skipped.
    #[inline(always)]
    pub fn place_nonce(&self, blocks: &mut [[u8; BLOCK_BYTES]], nonce: u64) {
        for (i, b) in nonce.to_le_bytes().iter().enumerate() {
            let pos = self.nonce_offset + i;
            if let Some(block) = blocks.get_mut(pos / BLOCK_BYTES) {
                block[pos % BLOCK_BYTES] = *b;
            }
        }
    }

    /// How many of the nonce's (low) bytes lie in tail block 0 when it straddles blocks 0
    /// and 1.
    pub fn straddle_low_bytes(&self) -> Option<usize> {
        straddle_low_bytes(self.nonce_offset)
    }

    /// How many leading tail blocks hold no nonce byte that changes within one aligned run of
    /// [`NonceMapping::run_length`] indexes capped at `2^max_run_log2`: a searcher may compress
    /// them once per run. The run is `2^run_log2(mapping, max_run_log2)` indexes.
    pub fn blocks_constant_within_run(&self, mapping: NonceMapping, max_run_log2: u32) -> usize {
        let rot = mapping.rotate_left_bits & 63;
        let run_log2 = run_log2(mapping, max_run_log2);
        // Index bit k lands in nonce bit (rot + k) mod 64, that is nonce byte ((rot + k) mod 64) / 8.
        let first_varying_byte = (0..run_log2)
            .map(|k| ((rot + k) % 64) / 8)
            .min()
            .unwrap_or(0) as usize;
        (self.nonce_offset + first_varying_byte) / BLOCK_BYTES
    }

    /// The SHA-256 state after the first `blocks` tail blocks with `nonce` in place.
    pub fn state_after(&self, blocks: usize, nonce: u64) -> [u32; 8] {
        let mut state = self.midstate;
        if blocks == 0 {
            return state;
        }
        let mut copy = self.tail[..blocks].to_vec();
        self.place_nonce(&mut copy, nonce);
        for block in &copy {
            sha256::compress(&mut state, block);
        }
        state
    }
}

/// Log2 of the aligned runs of indexes that share their high nonce bytes under `mapping`,
/// capped at `max_run_log2`.
pub fn run_log2(mapping: NonceMapping, max_run_log2: u32) -> u32 {
    mapping.run_length().trailing_zeros().min(max_run_log2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job_with(prefix_len: usize, suffix_len: usize) -> Job {
        Job {
            prefix: (0..prefix_len).map(|i| i as u8).collect::<Vec<_>>().into(),
            suffix: (0..suffix_len)
                .map(|i| 200 - i as u8)
                .collect::<Vec<_>>()
                .into(),
            seal_big_endian: false,
            target: [u64::MAX; 4],
            mapping: NonceMapping::for_prefix_len(prefix_len),
        }
    }

    #[test]
    fn finishing_the_layout_gives_the_message_digest() {
        for (p, s) in [
            (0, 32),
            (123, 0),
            (59, 0),
            (56, 0),
            (57, 5),
            (64, 0),
            (130, 70),
        ] {
            let job = job_with(p, s);
            let layout = MessageLayout::of(&job);
            let nonce = 0x0123_4567_89ab_cdefu64;
            let state = layout.state_after(layout.tail.len(), nonce);
            assert_eq!(
                pow_seal::sha256::digest_of_state(&state),
                pow_seal::sha256(&job.message(nonce)),
                "prefix {p}, suffix {s}"
            );
            assert_eq!(layout.message_len, p + 8 + s);
        }
    }

    #[test]
    fn straddle_and_constant_blocks_follow_the_mapping() {
        let v1 = MessageLayout::new(&[0u8; pow_seal::V1_PREFIX_LEN], &[]);
        assert_eq!(v1.nonce_offset, 59);
        assert_eq!(v1.straddle_low_bytes(), Some(5));
        let rotated = NonceMapping::for_prefix_len(pow_seal::V1_PREFIX_LEN);
        // Runs of 2^24 indexes only change the three high nonce bytes, in tail block 1.
        assert_eq!(v1.blocks_constant_within_run(rotated, 32), 1);
        assert_eq!(v1.blocks_constant_within_run(NonceMapping::IDENTITY, 32), 0);
        let legacy = MessageLayout::new(&[], &[0u8; 32]);
        assert_eq!(legacy.straddle_low_bytes(), None);
        assert_eq!(legacy.tail.len(), 1);
        assert_eq!(straddle_low_bytes(56), None);
        assert_eq!(straddle_low_bytes(57), Some(7));
    }
}
