//! SHA-NI paths: SHA-256 with the SHA extensions (`sha256rnds2`, `sha256msg1/2`) on four
//! interleaved streams, the digests then gathered into a SIMD Keccak run (8 lanes with
//! AVX-512, 4 with AVX2).
//!
//! One compression is a chain of 32 dependent `sha256rnds2`; alone it waits on that
//! instruction's latency (about 4 cycles on Zen, so ~130 cycles), while four independent
//! streams keep the SHA unit issuing every cycle and cost about as much as their
//! throughput allows (docs/performance.md has the measurements).
//!
//! SHA-NI has only legacy-SSE encodings; running it while the upper halves of the vector
//! registers are dirty from 256/512-bit Keccak work costs hundreds of cycles on Intel cores, so
//! every batch clears them with `vzeroupper` first.

use crate::plan::{Plan, SplitCache};
use crate::portable::seal_lanes;
use crate::prepared::{batched_search, PreparedJob};
use core::arch::x86_64::*;
use pow_backend_api::Hit;

/// SHA-256 round constants, four per 128-bit load.
static K4: [u32; 64] = crate::plan::K;

/// SHA-256 streams compressed side by side.
const STREAMS: usize = 4;

/// A SHA-256 state as the SHA instructions hold it: `ABEF` and `CDGH`, A and C in the top
/// 32-bit lane.
#[derive(Clone, Copy)]
struct ShaState {
    abef: __m128i,
    cdgh: __m128i,
}

impl ShaState {
    #[inline]
    #[target_feature(enable = "sse2,avx")]
    fn from_words(s: &[u32; 8]) -> ShaState {
        let s = s.map(|x| x as i32);
        ShaState {
            abef: _mm_set_epi32(s[0], s[1], s[4], s[5]),
            cdgh: _mm_set_epi32(s[2], s[3], s[6], s[7]),
        }
    }

    /// Keccak input lanes (0, 1) and (2, 3) of this digest: the digest's bytes in order,
    /// 16 at a time. `CDGH:ABEF` high halves hold D C B A (low lane first), so a full byte
    /// reversal gives A B C D, each word byte-swapped into the big-endian byte string.
    #[inline]
    #[target_feature(enable = "sse2,ssse3,avx")]
    fn keccak_lanes(&self) -> (__m128i, __m128i) {
        let reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        (
            _mm_shuffle_epi8(_mm_unpackhi_epi64(self.cdgh, self.abef), reverse),
            _mm_shuffle_epi8(_mm_unpacklo_epi64(self.cdgh, self.abef), reverse),
        )
    }
}

/// One SHA-256 compression of each of `N` states with the SHA extensions, the streams'
/// rounds interleaved; `msg` holds each stream's 16 message words, four per vector.
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
fn compress_streams<const N: usize>(state: &mut [ShaState; N], msg: &[[__m128i; 4]; N]) {
    let mut m = *msg;
    let mut st = *state;
    // Unrolled so that every `m[i % 4]` is a register, not an indexed stack slot.
    crate::x86::kernels::unroll!(I, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15], {
        // SAFETY: reads 16 bytes inside the 256-byte table.
        let k = unsafe { _mm_loadu_si128(K4[4 * I..].as_ptr().cast()) };
        for s in 0..N {
            let m = &mut m[s];
            if I >= 4 {
                // W[4i..4i+4] from the groups i-4 (m[i%4]), i-3, i-2 and i-1.
                let t = _mm_sha256msg1_epu32(m[I % 4], m[(I + 1) % 4]);
                let t = _mm_add_epi32(t, _mm_alignr_epi8::<4>(m[(I + 3) % 4], m[(I + 2) % 4]));
                m[I % 4] = _mm_sha256msg2_epu32(t, m[(I + 3) % 4]);
            }
            let wk = _mm_add_epi32(m[I % 4], k);
            // Two rounds turn (CDGH, ABEF) into (old ABEF, new ABEF): `cdgh` briefly holds
            // the new ABEF, then the next two rounds restore the names.
            let x = &mut st[s];
            x.cdgh = _mm_sha256rnds2_epu32(x.cdgh, x.abef, wk);
            x.abef = _mm_sha256rnds2_epu32(x.abef, x.cdgh, _mm_shuffle_epi32::<0x0E>(wk));
        }
    });
    for s in 0..N {
        state[s].abef = _mm_add_epi32(state[s].abef, st[s].abef);
        state[s].cdgh = _mm_add_epi32(state[s].cdgh, st[s].cdgh);
    }
}

/// Block `b`'s message words for one nonce, four per vector, built in registers: the
/// constant words come from the plan, and the few words holding nonce bytes are inserted
/// (a scalar build stored and reloaded as vectors would stall on store forwarding).
#[inline]
#[target_feature(enable = "sse2,sse4.1,avx")]
fn message(plan: &Plan, b: usize, nonce: u64) -> [__m128i; 4] {
    let words = &plan.blocks[b].words;
    // SAFETY: each load reads 16 bytes inside a 64-byte array.
    let mut m: [__m128i; 4] =
        core::array::from_fn(|g| unsafe { _mm_loadu_si128(words[4 * g..].as_ptr().cast()) });
    for p in plan.pieces.iter().filter(|p| p.block == b) {
        let w = (words[p.word] | p.bits(nonce)) as i32;
        let v = &mut m[p.word / 4];
        *v = match p.word % 4 {
            0 => _mm_insert_epi32::<0>(*v, w),
            1 => _mm_insert_epi32::<1>(*v, w),
            2 => _mm_insert_epi32::<2>(*v, w),
            _ => _mm_insert_epi32::<3>(*v, w),
        };
    }
    m
}

/// The final SHA-256 states of `STREAMS` nonces, as Keccak input lane pairs (see
/// [`ShaState::keccak_lanes`]).
#[inline]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
fn digest_streams(
    plan: &Plan,
    nonces: &[u64; STREAMS],
    cache: &mut SplitCache,
) -> [(__m128i, __m128i); STREAMS] {
    let (mut state, first) = match plan.split_mask {
        Some(mask) => {
            let shared = ShaState::from_words(&cache.state_after_block0(plan, mask, nonces[0]));
            let mut state = [shared; STREAMS];
            for (s, &nonce) in nonces.iter().enumerate().skip(1) {
                if nonce & mask != nonces[0] & mask {
                    state[s] = ShaState::from_words(&cache.state_after_block0(plan, mask, nonce));
                }
            }
            (state, 1)
        }
        None => ([ShaState::from_words(&plan.midstate); STREAMS], 0),
    };
    for b in first..plan.blocks.len() {
        let msg = nonces.map(|n| message(plan, b, n));
        compress_streams(&mut state, &msg);
    }
    state.map(|s| s.keccak_lanes())
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
                let mut pairs = [(_mm_setzero_si128(), _mm_setzero_si128()); KL];
                // Clean upper register halves before the SSE-encoded SHA instructions.
                _mm256_zeroupper();
                for g in 0..KL / STREAMS {
                    let nonces: [u64; STREAMS] = core::array::from_fn(|s| {
                        job.mapping.nonce(base.wrapping_add((g * STREAMS + s) as u64))
                    });
                    let digests = digest_streams(&job.plan, &nonces, cache);
                    pairs[g * STREAMS..(g + 1) * STREAMS].copy_from_slice(&digests);
                }
                let d = k::lanes_from_pairs(&pairs);
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
