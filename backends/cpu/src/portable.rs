//! The portable scalar path: runs on every CPU and is the baseline the SIMD paths are checked
//! against.

use crate::prepared::{keccak_state_for_digest, PreparedJob};
use pow_backend_api::Hit;

/// Hashes one nonce index and returns the four seal lanes.
#[inline(always)]
pub fn seal_lanes(job: &PreparedJob, index: u64) -> [u64; 4] {
    let layout = &job.layout;
    let n = layout.tail.len();
    let mut tail = [[0u8; 64]; 3];
    tail[..n].copy_from_slice(&layout.tail);
    layout.place_nonce(&mut tail[..n], job.mapping.nonce(index));
    let mut state = layout.midstate;
    for block in &tail[..n] {
        pow_seal::sha256::compress(&mut state, block);
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
