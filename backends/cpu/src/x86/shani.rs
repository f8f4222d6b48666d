//! SHA-NI paths: SHA-256 with the SHA extensions (`sha256rnds2`, `sha256msg1/2`) on four
//! interleaved streams, the digests then gathered into a SIMD Keccak run (8 lanes with
//! AVX-512, 4 with AVX2).
//!
//! One compression is a chain of 32 dependent `sha256rnds2`; alone it waits on that
//! instruction's latency (about 4 cycles on Zen, so ~130 cycles per compression). The paths
//! therefore run four streams side by side, and software-pipeline the batches: the SHA-256
//! rounds of the next batch run between the Keccak rounds of the current one, a quarter of a
//! compression (16 rounds of four streams) after each two-round Keccak pass, so that the
//! chains' latency hides behind Keccak work. (On Zen the SHA instructions occupy the same
//! vector pipes as the Keccak, so this hides stalls, it does not add units:
//! docs/performance.md has the model and the measurements.)
//!
//! SHA-NI has only legacy-SSE encodings. On AMD cores mixing them with 256/512-bit code costs
//! nothing; Intel cores add a merge on each SSE instruction while the upper register halves
//! are dirty, which is one reason the CPU backend picks its path by measurement.

use crate::plan::{Plan, SplitCache};
use crate::portable::seal_lanes;
use crate::prepared::{batched_search, PreparedJob};
use crate::x86::kernels::PassWork;
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
    /// A state from its eight words.
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
    /// functions, which check them).
    #[inline(always)]
    unsafe fn from_words(s: &[u32; 8]) -> ShaState {
        // SAFETY: see the function's safety section.
        unsafe {
            let s = s.map(|x| x as i32);
            ShaState {
                abef: _mm_set_epi32(s[0], s[1], s[4], s[5]),
                cdgh: _mm_set_epi32(s[2], s[3], s[6], s[7]),
            }
        }
    }

    /// Keccak input lanes (0, 1) and (2, 3) of this digest: the digest's bytes in order,
    /// 16 at a time. `CDGH:ABEF` high halves hold D C B A (low lane first), so a full byte
    /// reversal gives A B C D, each word byte-swapped into the big-endian byte string.
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
    /// functions, which check them).
    #[inline(always)]
    unsafe fn keccak_lanes(&self) -> (__m128i, __m128i) {
        // SAFETY: see the function's safety section.
        unsafe {
            let reverse = _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            (
                _mm_shuffle_epi8(_mm_unpackhi_epi64(self.cdgh, self.abef), reverse),
                _mm_shuffle_epi8(_mm_unpacklo_epi64(self.cdgh, self.abef), reverse),
            )
        }
    }
}

/// `N` SHA-256 compressions in flight, advanced a quarter (16 rounds of every stream, the
/// streams interleaved) at a time so that a caller can spread them through other work.
#[derive(Clone, Copy)]
struct Streams<const N: usize> {
    /// States before the block, for the feed-forward.
    init: [ShaState; N],
    /// Working states.
    state: [ShaState; N],
    /// Each stream's last four message-schedule groups of four words.
    m: [[__m128i; 4]; N],
}

impl<const N: usize> Streams<N> {
    /// Compressions of one block (`msg`, four words per vector) into `init`.
    fn new(init: [ShaState; N], msg: [[__m128i; 4]; N]) -> Self {
        Streams {
            init,
            state: init,
            m: msg,
        }
    }

    /// Rounds `16 * quarter .. 16 * quarter + 16` of every stream (`quarter` < 4).
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
    /// functions, which check them).
    #[inline(always)]
    unsafe fn quarter(&mut self, quarter: usize) {
        // SAFETY: see the function's safety section.
        unsafe {
            let k = &K4[16 * quarter..16 * quarter + 16];
            // Unrolled so that every `m[i % 4]` is a register, not an indexed stack slot.
            crate::x86::kernels::unroll!(Q, [0 1 2 3], {
                // SAFETY: reads 16 bytes inside the 64-byte slice.
                let k = _mm_loadu_si128(k[4 * Q..].as_ptr().cast());
                for s in 0..N {
                    let m = &mut self.m[s];
                    if quarter > 0 {
                        // W[4i..4i+4] from the groups i-4 (m[i%4]), i-3, i-2 and i-1.
                        let t = _mm_sha256msg1_epu32(m[Q], m[(Q + 1) % 4]);
                        let t = _mm_add_epi32(t, _mm_alignr_epi8::<4>(m[(Q + 3) % 4], m[(Q + 2) % 4]));
                        m[Q] = _mm_sha256msg2_epu32(t, m[(Q + 3) % 4]);
                    }
                    let wk = _mm_add_epi32(m[Q], k);
                    // Two rounds turn (CDGH, ABEF) into (old ABEF, new ABEF): `cdgh` briefly
                    // holds the new ABEF, then the next two rounds restore the names.
                    let x = &mut self.state[s];
                    x.cdgh = _mm_sha256rnds2_epu32(x.cdgh, x.abef, wk);
                    x.abef = _mm_sha256rnds2_epu32(x.abef, x.cdgh, _mm_shuffle_epi32::<0x0E>(wk));
                }
            });
        }
    }

    /// Every quarter at once.
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
    /// functions, which check them).
    #[inline(always)]
    unsafe fn run(&mut self) {
        // SAFETY: see the function's safety section.
        unsafe {
            for quarter in 0..4 {
                self.quarter(quarter);
            }
        }
    }

    /// The states after the block (once every quarter ran).
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
    /// functions, which check them).
    #[inline(always)]
    unsafe fn finish(&self) -> [ShaState; N] {
        // SAFETY: see the function's safety section.
        unsafe {
            let mut out = self.state;
            for (out, init) in out.iter_mut().zip(&self.init) {
                out.abef = _mm_add_epi32(init.abef, out.abef);
                out.cdgh = _mm_add_epi32(init.cdgh, out.cdgh);
            }
            out
        }
    }
}

/// Block `b`'s message words for one nonce, four per vector, built in registers: the
/// constant words come from the plan, and the few words holding nonce bytes are inserted
/// (a scalar build stored and reloaded as vectors would stall on store forwarding).
/// # Safety
/// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
/// functions, which check them).
#[inline(always)]
unsafe fn message(plan: &Plan, b: usize, nonce: u64) -> [__m128i; 4] {
    // SAFETY: see the function's safety section.
    unsafe {
        let words = &plan.blocks[b].words;
        // Each load reads 16 bytes inside a 64-byte array. (No closures here or below: a
        // closure would not inherit the caller's target features, and its intrinsics would
        // become calls.)
        let mut m = [_mm_setzero_si128(); 4];
        for (g, m) in m.iter_mut().enumerate() {
            *m = _mm_loadu_si128(words[4 * g..].as_ptr().cast());
        }
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
}

/// The SHA-256 work of `STREAMS` nonces up to their last block, which is returned in
/// flight: earlier blocks (the block before a straddled nonce, when the cached state does not
/// apply) are compressed at once.
/// # Safety
/// The CPU must have SHA, SSE4.1 and AVX (inlined into the paths' `target_feature`
/// functions, which check them).
#[inline(always)]
unsafe fn start_streams(
    plan: &Plan,
    nonces: &[u64; STREAMS],
    cache: &mut SplitCache,
) -> Streams<STREAMS> {
    // SAFETY: see the function's safety section.
    unsafe {
        let (mut state, first) = match plan.split_mask {
            Some(mask) => {
                let shared = ShaState::from_words(&cache.state_after_block0(plan, mask, nonces[0]));
                let mut state = [shared; STREAMS];
                for (s, &nonce) in nonces.iter().enumerate().skip(1) {
                    if nonce & mask != nonces[0] & mask {
                        state[s] =
                            ShaState::from_words(&cache.state_after_block0(plan, mask, nonce));
                    }
                }
                (state, 1)
            }
            None => ([ShaState::from_words(&plan.midstate); STREAMS], 0),
        };
        let last = plan.blocks.len() - 1;
        for b in first..last {
            let mut streams = Streams::new(state, messages(plan, b, nonces));
            streams.run();
            state = streams.finish();
        }
        Streams::new(state, messages(plan, last, nonces))
    }
}

/// [`message`] of every stream.
/// # Safety
/// As for [`message`].
#[inline(always)]
unsafe fn messages(plan: &Plan, b: usize, nonces: &[u64; STREAMS]) -> [[__m128i; 4]; STREAMS] {
    // SAFETY: see the function's safety section.
    unsafe {
        let mut msg = [[_mm_setzero_si128(); 4]; STREAMS];
        for (msg, &nonce) in msg.iter_mut().zip(nonces) {
            *msg = message(plan, b, nonce);
        }
        msg
    }
}

/// The next batch's SHA-256 in flight, `G` groups of streams, run a quarter after each of
/// the first `4 * G` Keccak passes.
struct Pipelined<const G: usize>([Streams<STREAMS>; G]);

impl<const G: usize> Pipelined<G> {
    /// Starts the groups of the batch at `base`.
    /// # Safety
    /// The CPU must have SHA, SSE4.1 and AVX: holding a `Pipelined` is what lets
    /// [`PassWork::after_pass`] run SHA instructions.
    #[inline(always)]
    unsafe fn start(job: &PreparedJob, base: u64, cache: &mut SplitCache) -> Self {
        // SAFETY: see the function's safety section.
        unsafe {
            let mut groups = [start_streams(&job.plan, &group_nonces(job, base, 0), cache); G];
            for (g, streams) in groups.iter_mut().enumerate().skip(1) {
                *streams = start_streams(&job.plan, &group_nonces(job, base, g), cache);
            }
            Pipelined(groups)
        }
    }
}

impl<const G: usize> Pipelined<G> {
    /// Runs every quarter at once (a batch with no Keccak run to hide behind).
    #[inline(always)]
    fn run(&mut self) {
        for pass in 0..11 {
            self.after_pass(pass);
        }
    }

    /// The finished digests as Keccak input lane pairs, stream by stream (once every
    /// quarter ran); `pairs` holds `G * STREAMS`.
    #[inline(always)]
    fn lane_pairs(&self, pairs: &mut [(__m128i, __m128i)]) {
        for (g, streams) in self.0.iter().enumerate() {
            // SAFETY: a `Pipelined` exists only on a CPU with SHA, SSE4.1 and AVX.
            for (s, state) in unsafe { streams.finish() }.iter().enumerate() {
                pairs[g * STREAMS + s] = unsafe { state.keccak_lanes() };
            }
        }
    }
}

impl<const G: usize> PassWork for Pipelined<G> {
    #[inline(always)]
    fn after_pass(&mut self, pass: usize) {
        if pass < 4 * G {
            // SAFETY: a `Pipelined` exists only on a CPU with SHA, SSE4.1 and AVX.
            unsafe { quarter_apart(&mut self.0[pass / 4], pass % 4) }
        }
    }
}

/// [`Streams::quarter`] as a call of its own. Inlined into the Keccak loop, the streams'
/// 24 live vectors crowd out the Keccak lanes and the spills cost more than the overlap
/// gains (measured on Zen 4: 6.4 against 7.6 to 8.2 M/s); called, the out-of-order core
/// still runs its latency-bound rounds next to the Keccak rounds on either side.
#[inline(never)]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1,avx")]
fn quarter_apart(streams: &mut Streams<STREAMS>, quarter: usize) {
    // SAFETY: this function's features are the ones `quarter` needs.
    unsafe { streams.quarter(quarter) }
}

/// The `STREAMS` indexes of group `g` of the batch at `base`, as nonces.
fn group_nonces(job: &PreparedJob, base: u64, g: usize) -> [u64; STREAMS] {
    core::array::from_fn(|s| {
        job.mapping
            .nonce(base.wrapping_add((g * STREAMS + s) as u64))
    })
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

            /// Stream groups per batch.
            const GROUPS: usize = KL / STREAMS;

            /// The Keccak input lanes of a batch, once its SHA-256 is done.
            type Digests = [k::V; 4];

            /// The Keccak input lanes of the `KL` indexes from `base`, the SHA-256 run
            /// straight through.
            #[target_feature(enable = $feat)]
            fn digests(job: &PreparedJob, base: u64, cache: &mut SplitCache) -> Digests {
                // SAFETY: this path's features include SHA, SSE4.1 and AVX.
                let mut sha = unsafe { Pipelined::<GROUPS>::start(job, base, cache) };
                sha.run();
                let mut pairs = [(_mm_setzero_si128(), _mm_setzero_si128()); KL];
                sha.lane_pairs(&mut pairs);
                k::lanes_from_pairs(&pairs)
            }

            /// Raw seal lane (0 for big-endian seals, 3 for little-endian) of the `KL`
            /// indexes from `base`. `next` carries the digests of the batch that follows,
            /// whose SHA-256 runs between this batch's Keccak rounds; they are used when the
            /// next call asks for that batch.
            #[target_feature(enable = $feat)]
            fn batch(
                job: &PreparedJob,
                base: u64,
                cache: &mut SplitCache,
                next: &mut Option<(u64, Digests)>,
            ) -> [u64; KL] {
                let d = match next.take() {
                    Some((b, d)) if b == base => d,
                    _ => digests(job, base, cache),
                };
                let following = base.wrapping_add(KL as u64);
                // SAFETY (every block below): this path's features include SHA, SSE4.1 and
                // AVX.
                let mut sha = unsafe { Pipelined::<GROUPS>::start(job, following, cache) };
                let top = if job.seal_big_endian {
                    k::keccak_top_with::<0>(&d, &mut sha)
                } else {
                    k::keccak_top_with::<3>(&d, &mut sha)
                };
                let mut pairs = [(_mm_setzero_si128(), _mm_setzero_si128()); KL];
                sha.lane_pairs(&mut pairs);
                *next = Some((following, k::lanes_from_pairs(&pairs)));
                k::store64(top)
            }

            #[target_feature(enable = $feat)]
            fn search_tf(job: &PreparedJob, start: u64, count: u64) -> Option<Hit> {
                let mut cache = SplitCache::default();
                let mut next = None;
                batched_search(
                    job,
                    start,
                    count,
                    |base| batch(job, base, &mut cache, &mut next),
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

            /// Top seal words of `KL` indexes from `base` as the pipeline computes them, for
            /// tests; `None` when this CPU lacks the path.
            pub fn top_words(job: &PreparedJob, base: u64) -> Option<Vec<u64>> {
                if !supported() {
                    return None;
                }
                let mut cache = SplitCache::default();
                let mut next = None;
                let before = base.wrapping_sub(KL as u64);
                // SAFETY: the CPU has every feature in this path's target_feature set.
                let raw = unsafe {
                    // The batch before computes this one's SHA-256 between its Keccak
                    // rounds, so the words checked are the pipelined ones.
                    batch(job, before, &mut cache, &mut next);
                    batch(job, base, &mut cache, &mut next)
                };
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
