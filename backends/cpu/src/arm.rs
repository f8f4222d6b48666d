//! The `arm-sha2` path for 64-bit Arm: SHA-256 with the Armv8 SHA-2 instructions
//! (`sha256h`, `sha256h2`, `sha256su0/1`) over the job's [`Plan`](crate::plan::Plan) (the block
//! before a split nonce is hoisted, see [`SplitCache`]), then Keccak-f[1600] from the `keccak`
//! crate, which itself runs the Armv8 SHA-3 instructions (`eor3`, `rax1`, `xar`, `bcax`) when
//! the CPU has them and its scalar code otherwise.
//!
//! One index at a time: simple, and checked against the seal library by the same tests as
//! every other path.

use crate::plan::{SplitCache, K};
use crate::prepared::{keccak_state_for_digest, PreparedJob};
use core::arch::aarch64::*;
use pow_backend_api::Hit;

/// Whether this CPU has the SHA-2 instructions.
pub fn supported() -> bool {
    std::arch::is_aarch64_feature_detected!("sha2")
}

/// One SHA-256 compression of 16 message words with the SHA-2 instructions.
#[inline]
#[target_feature(enable = "neon,sha2")]
fn compress(state: &mut [u32; 8], w: &[u32; 16]) {
    // SAFETY: every load reads four words inside a 16- or 64-word array.
    let load = |a: &[u32], i: usize| unsafe { vld1q_u32(a[4 * i..4 * i + 4].as_ptr()) };
    let (abcd0, efgh0) = (load(state, 0), load(state, 1));
    let (mut abcd, mut efgh) = (abcd0, efgh0);
    let mut m = [load(w, 0), load(w, 1), load(w, 2), load(w, 3)];
    for i in 0..16 {
        if i >= 4 {
            // W[4i..4i+4] from the groups i-4 (m[i%4]), i-3, i-2 and i-1.
            let t = vsha256su0q_u32(m[i % 4], m[(i + 1) % 4]);
            m[i % 4] = vsha256su1q_u32(t, m[(i + 2) % 4], m[(i + 3) % 4]);
        }
        let wk = vaddq_u32(m[i % 4], load(&K, i));
        let prev_abcd = abcd;
        abcd = vsha256hq_u32(abcd, efgh, wk);
        efgh = vsha256h2q_u32(efgh, prev_abcd, wk);
    }
    let (abcd, efgh) = (vaddq_u32(abcd, abcd0), vaddq_u32(efgh, efgh0));
    // SAFETY: each store writes four words inside the eight-word state.
    unsafe {
        vst1q_u32(state[..4].as_mut_ptr(), abcd);
        vst1q_u32(state[4..].as_mut_ptr(), efgh);
    }
}

/// The four Keccak output lanes of one index.
#[inline]
#[target_feature(enable = "neon,sha2")]
fn seal_lanes(job: &PreparedJob, index: u64, cache: &mut SplitCache) -> [u64; 4] {
    let plan = &job.plan;
    let nonce = job.mapping.nonce(index);
    let (mut st, first) = match plan.split_mask {
        Some(m) => (cache.state_after_block0(plan, m, nonce), 1),
        None => (plan.midstate, 0),
    };
    for b in first..plan.blocks.len() {
        compress(&mut st, &plan.block_words(b, nonce));
    }
    let mut k = keccak_state_for_digest(&st);
    keccak::f1600(&mut k);
    [k[0], k[1], k[2], k[3]]
}

#[target_feature(enable = "neon,sha2")]
fn search_tf(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
    let mut cache = SplitCache::default();
    let top = job.target[3];
    for i in 0..count {
        let index = start.wrapping_add(i);
        let lanes = seal_lanes(job, index, &mut cache);
        if job.top_word(&lanes) <= top && job.meets(&lanes) {
            return Some(job.hit(index, &lanes));
        }
    }
    None
}

/// Searches `[start, start + count)` and returns the lowest passing index; falls back to the
/// portable path on a CPU without the SHA-2 instructions.
pub fn search(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
    if supported() {
        // SAFETY: the CPU has the SHA-2 instructions (NEON is part of every aarch64 target).
        unsafe { search_tf(job, start, count) }
    } else {
        crate::portable::search(job, start, count)
    }
}

/// Top seal words of 8 consecutive indexes from `base`, for tests; `None` when this CPU lacks
/// the SHA-2 instructions.
pub fn top_words(job: &PreparedJob, base: u64) -> Option<Vec<u64>> {
    if !supported() {
        return None;
    }
    let mut cache = SplitCache::default();
    Some(
        (0..8u64)
            .map(|l| {
                // SAFETY: the CPU has the SHA-2 instructions.
                let lanes = unsafe { seal_lanes(job, base.wrapping_add(l), &mut cache) };
                job.top_word(&lanes)
            })
            .collect(),
    )
}
