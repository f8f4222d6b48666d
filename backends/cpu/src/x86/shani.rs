//! SHA-NI paths: one SHA-256 compression per attempt with the SHA extensions
//! (`sha256rnds2`, `sha256msg1/2`), the digests then gathered into a SIMD Keccak run
//! (8 lanes with AVX-512, 4 with AVX2).
//!
//! SHA-NI has only legacy-SSE encodings; running it while the upper halves of the vector
//! registers are dirty from 256/512-bit Keccak work costs hundreds of cycles, so every batch
//! clears them with `vzeroupper` first.

use crate::plan::SplitCache;
use crate::portable::seal_lanes;
use crate::prepared::{batched_search, PreparedJob};
use core::arch::x86_64::*;
use pow_backend_api::Hit;

/// SHA-256 round constants, four per 128-bit load.
static K4: [u32; 64] = crate::plan::K;

/// One SHA-256 compression with the SHA extensions.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) fn compress_shani(state: &mut [u32; 8], w: &[u32; 16]) {
    let s = state.map(|x| x as i32);
    // State as the instructions want it: ABEF and CDGH, A/C in the top lane.
    let mut abef = _mm_set_epi32(s[0], s[1], s[4], s[5]);
    let mut cdgh = _mm_set_epi32(s[2], s[3], s[6], s[7]);
    let (abef0, cdgh0) = (abef, cdgh);
    // SAFETY: each load reads 16 bytes inside a 64-byte array.
    let load = |a: &[u32], i: usize| unsafe { _mm_loadu_si128(a[4 * i..].as_ptr().cast()) };
    let mut m = [load(w, 0), load(w, 1), load(w, 2), load(w, 3)];
    for i in 0..16 {
        if i >= 4 {
            // W[4i..4i+4] from the groups i-4 (m[i%4]), i-3, i-2 and i-1.
            let t = _mm_sha256msg1_epu32(m[i % 4], m[(i + 1) % 4]);
            let t = _mm_add_epi32(t, _mm_alignr_epi8::<4>(m[(i + 3) % 4], m[(i + 2) % 4]));
            m[i % 4] = _mm_sha256msg2_epu32(t, m[(i + 3) % 4]);
        }
        let wk = _mm_add_epi32(m[i % 4], load(&K4, i));
        // Two rounds turn (CDGH, ABEF) into (old ABEF, new ABEF): `cdgh` briefly holds the
        // new ABEF, then the next two rounds restore the names.
        cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
        abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32::<0x0E>(wk));
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
    *state = [
        _mm_extract_epi32::<3>(abef) as u32,
        _mm_extract_epi32::<2>(abef) as u32,
        _mm_extract_epi32::<3>(cdgh) as u32,
        _mm_extract_epi32::<2>(cdgh) as u32,
        _mm_extract_epi32::<1>(abef) as u32,
        _mm_extract_epi32::<0>(abef) as u32,
        _mm_extract_epi32::<1>(cdgh) as u32,
        _mm_extract_epi32::<0>(cdgh) as u32,
    ];
}

/// The SHA-256 state after the last block for one nonce, with SHA-NI.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
fn digest_shani(job: &PreparedJob, nonce: u64, cache: &mut SplitCache) -> [u32; 8] {
    let plan = &job.plan;
    let (mut st, first) = match plan.split_mask {
        Some(m) => (cache.state_after_block0(plan, m, nonce), 1),
        None => (plan.midstate, 0),
    };
    for b in first..plan.blocks.len() {
        compress_shani(&mut st, &plan.block_words(b, nonce));
    }
    st
}

/// Keccak input lane `i` of a digest.
#[inline(always)]
fn lane(d: &[u32; 8], i: usize) -> u64 {
    ((d[2 * i + 1].swap_bytes() as u64) << 32) | d[2 * i].swap_bytes() as u64
}

/// Emits a SHA-NI + SIMD-Keccak path over the Keccak kernel of module `$k`.
macro_rules! shani_path {
    ($name:ident, $feat:literal, $k:path, $kl:literal, $supported:expr) => {
        /// SHA-NI SHA-256 with this module's SIMD Keccak.
        pub mod $name {
            use super::*;
            use $k as k;

            /// Keccak lanes per batch.
            const KL: usize = $kl;

            /// Whether this CPU can run the path.
            pub fn supported() -> bool {
                $supported
            }

            #[target_feature(enable = $feat)]
            fn batch(job: &PreparedJob, base: u64, cache: &mut SplitCache) -> [u64; KL] {
                let mut lanes = [[0u64; KL]; 4];
                // Clean upper register halves before the SSE-encoded SHA instructions.
                _mm256_zeroupper();
                for l in 0..KL {
                    let nonce = job.mapping.nonce(base.wrapping_add(l as u64));
                    let d = digest_shani(job, nonce, cache);
                    for (i, row) in lanes.iter_mut().enumerate() {
                        row[l] = lane(&d, i);
                    }
                }
                let d = [
                    k::load64(&lanes[0]),
                    k::load64(&lanes[1]),
                    k::load64(&lanes[2]),
                    k::load64(&lanes[3]),
                ];
                let top = if job.seal_big_endian {
                    k::keccak_top::<0>(&d)
                } else {
                    k::keccak_top::<3>(&d)
                };
                k::store64(top)
            }

            #[target_feature(enable = $feat)]
            fn search_tf(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
                let mut cache = SplitCache::default();
                batched_search(
                    job,
                    start,
                    count,
                    |base| batch(job, base, &mut cache),
                    |index| seal_lanes(job, index),
                )
            }

            /// Searches `[start, start + count)` and returns the lowest passing index; falls
            /// back to the portable path on a CPU without this path's features.
            pub fn search(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
                if supported() {
                    // SAFETY: the CPU has every feature in this path's target_feature set.
                    unsafe { search_tf(job, start, count) }
                } else {
                    crate::portable::search(job, start, count)
                }
            }

            /// Top seal words of `KL` indexes from `base`, for tests; `None` when this CPU
            /// lacks the path.
            pub fn top_words(job: &PreparedJob, base: u64) -> Option<Vec<u64>> {
                if !supported() {
                    return None;
                }
                let mut cache = SplitCache::default();
                // SAFETY: the CPU has every feature in this path's target_feature set.
                let raw = unsafe { batch(job, base, &mut cache) };
                Some(raw.iter().map(|&r| job.top_of_lane(r)).collect())
            }
        }
    };
}

fn has_shani() -> bool {
    is_x86_feature_detected!("sha")
        && is_x86_feature_detected!("sse4.1")
        && is_x86_feature_detected!("ssse3")
}

shani_path!(
    avx512,
    "sha,sse2,ssse3,sse4.1,avx,avx2,avx512f,avx512bw",
    crate::x86::avx512,
    8,
    has_shani() && crate::x86::avx512::supported()
);

shani_path!(
    avx2,
    "sha,sse2,ssse3,sse4.1,avx,avx2",
    crate::x86::avx2,
    4,
    has_shani() && crate::x86::avx2::supported()
);
