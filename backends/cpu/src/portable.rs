//! The portable scalar path: runs on every CPU and is the baseline the SIMD paths are checked
//! against.

use crate::prepared::{keccak_state_for_digest, PreparedJob};
use pow_backend_api::Hit;
use sha2::digest::generic_array::GenericArray;

/// Hashes one nonce index and returns the four seal lanes.
#[inline(always)]
pub fn seal_lanes(job: &PreparedJob, index: u64) -> [u64; 4] {
    let nonce = job.mapping.nonce(index).to_le_bytes();
    let mut tail = [[0u8; 64]; 3];
    let n = job.tail.len();
    tail[..n].copy_from_slice(&job.tail);
    for (i, b) in nonce.iter().enumerate() {
        let pos = job.nonce_offset + i;
        tail[pos / 64][pos % 64] = *b;
    }
    let mut state = job.midstate;
    for block in &tail[..n] {
        sha2::compress256(&mut state, &[*GenericArray::from_slice(block)]);
    }
    let mut st = keccak_state_for_digest(&state);
    keccak::f1600(&mut st);
    [st[0], st[1], st[2], st[3]]
}

/// Searches `[start, start + count)` and returns the lowest passing index, if any.
pub fn search(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
    let top = job.target[3];
    for i in 0..count {
        let index = start.wrapping_add(i);
        let lanes = seal_lanes(job, index);
        if job.top_word(&lanes) <= top && job.meets(&lanes) {
            return Some(job.hit(index, &lanes));
        }
    }
    None
}
