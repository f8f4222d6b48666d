//! Per-job precomputation shared by every CPU path: the SHA-256 midstate of the constant
//! blocks before the nonce and the padded tail blocks with the nonce bytes left blank.

use crate::plan::Plan;
use pow_backend_api::{Hit, Job, MessageLayout, NonceMapping};
use pow_seal::{SealOrder, Target};

/// A job laid out for hashing.
#[derive(Clone, Debug)]
pub struct PreparedJob {
    /// The message in SHA-256 blocks: midstate, padded tail blocks, nonce offset.
    pub layout: MessageLayout,
    /// Seal order: `true` = big-endian.
    pub seal_big_endian: bool,
    /// Target limbs, least significant first.
    pub target: [u64; 4],
    /// Index-to-nonce mapping.
    pub mapping: NonceMapping,
    /// Word-level layout for the SIMD paths.
    pub plan: Plan,
}

impl PreparedJob {
    /// Lays out a job.
    pub fn new(job: &Job) -> PreparedJob {
        let layout = MessageLayout::of(job);
        let plan = Plan::new(&layout);
        PreparedJob {
            plan,
            layout,
            seal_big_endian: job.seal_big_endian,
            target: job.target,
            mapping: job.mapping,
        }
    }

    /// The top 64 bits of the seal integer from the four Keccak output lanes.
    #[inline(always)]
    pub fn top_word(&self, lanes: &[u64; 4]) -> u64 {
        self.top_of_lane(lanes[if self.seal_big_endian { 0 } else { 3 }])
    }

    /// The top 64 bits of the seal integer from the one output lane that holds them (lane 0
    /// for big-endian seals, lane 3 for little-endian), as the SIMD paths compute it.
    #[inline(always)]
    pub fn top_of_lane(&self, lane: u64) -> u64 {
        if self.seal_big_endian {
            lane.swap_bytes()
        } else {
            lane
        }
    }

    /// The hit of `index`, whose seal has the output lanes `lanes`.
    pub fn hit(&self, index: u64, lanes: &[u64; 4]) -> Hit {
        Hit {
            index,
            nonce: self.mapping.nonce(index),
            seal: seal_bytes(lanes),
        }
    }

    /// The full 256-bit comparison (the seal library's), run only for candidates whose top
    /// word is not above the target's.
    pub fn meets(&self, lanes: &[u64; 4]) -> bool {
        let order = if self.seal_big_endian {
            SealOrder::BigEndian
        } else {
            SealOrder::LittleEndian
        };
        Target(self.target).is_met_by(&seal_bytes(lanes), order)
    }
}

/// The search loop of a path that computes the raw top seal lane of `N` consecutive indexes
/// at a time (`batch`, from a base index): the cheap test on the top word for each index, then
/// the full test on `seal_lanes` for the few candidates. Inlined into each path's
/// `target_feature` function, so `batch` is compiled with that path's features.
#[inline(always)]
pub fn batched_search<const N: usize>(
    job: &PreparedJob,
    start: u64,
    count: u64,
    mut batch: impl FnMut(u64) -> [u64; N],
    seal_lanes: impl Fn(u64) -> [u64; 4],
) -> Option<Hit> {
    let top_limit = job.target[3];
    let mut done = 0u64;
    while done < count {
        let base = start.wrapping_add(done);
        let n = (count - done).min(N as u64) as usize;
        let raw = batch(base);
        for (l, &r) in raw.iter().enumerate().take(n) {
            if job.top_of_lane(r) <= top_limit {
                let index = base.wrapping_add(l as u64);
                let lanes = seal_lanes(index);
                if job.meets(&lanes) {
                    return Some(job.hit(index, &lanes));
                }
            }
        }
        done += n as u64;
    }
    None
}

/// Seal bytes from the four Keccak output lanes.
pub fn seal_bytes(lanes: &[u64; 4]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, lane) in lanes.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// Keccak-256 state for a 32-byte input: the digest in lanes 0..4, padding 0x01 after it and
/// 0x80 at the end of the 136-byte rate.
#[inline(always)]
pub fn keccak_state_for_digest(digest: &[u32; 8]) -> [u64; 25] {
    let mut st = [0u64; 25];
    for i in 0..4 {
        // SHA-256 words are big-endian byte strings; Keccak lanes read bytes little-endian.
        let hi = digest[2 * i + 1].swap_bytes() as u64;
        let lo = digest[2 * i].swap_bytes() as u64;
        st[i] = (hi << 32) | lo;
    }
    st[4] = 0x01;
    st[16] = 0x8000_0000_0000_0000;
    st
}
