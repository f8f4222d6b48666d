//! Kernel code shared by the x86 SIMD paths, written once as macros over a small set of
//! per-path vector helpers (`add`, `bcast32`, `bsig0`, `rol::<N>`, `chi`, ...), so that each
//! path module compiles it with its own `#[target_feature]` set.
//!
//! * `compress::<VAR>`: one SHA-256 compression on every lane. `VAR` marks the message words
//!   that differ between lanes; every other word, and every schedule term built only from
//!   constant words, comes precomputed from the job's [`crate::plan::BlockPlan`].
//! * `keccak_top::<LANE>`: Keccak-f[1600] of a 32-byte digest, returning only output lane
//!   `LANE` (3 for little-endian seals, 0 for big-endian). Round 0 starts from the sparse
//!   padded state; the last round computes only the one lane.

/// Repeats `$body` with `const $t: usize` bound to each listed literal.
macro_rules! unroll {
    ($t:ident, [$($n:literal)*], $body:block) => {
        $( { const $t: usize = $n; $body } )*
    };
}
pub(crate) use unroll;

/// Emits `compress`, `keccak_top`, `batch` and `search_tf` for one SIMD path. The module
/// must define `V`, `SL` (SHA-256 lanes), `KL` (Keccak lanes) and the helpers.
macro_rules! simd_kernels {
    ($feat:literal) => {
        use crate::plan::{BlockPlan, SplitCache, K, RC, VAR_ALL};
        use crate::portable::seal_lanes;
        use crate::prepared::{batched_search, PreparedJob};
        use crate::x86::kernels::unroll;
        use pow_backend_api::Hit;

        /// One SHA-256 round on eight state vectors with `kw = K[t] + W[t]`.
        #[inline]
        #[target_feature(enable = $feat)]
        fn rnd(s: &mut [V; 8], kw: V) {
            let [a, b, c, d, e, f, g, h] = *s;
            let t1 = add(add(h, bsig1(e)), add(ch(e, f, g), kw));
            let t2 = add(bsig0(a), maj(a, b, c));
            *s = [add(t1, t2), a, b, c, add(d, t1), e, f, g];
        }

        /// One SHA-256 compression on every lane; see the module docs.
        #[inline]
        #[allow(unused_assignments)]
        #[target_feature(enable = $feat)]
        fn compress<const VAR: u16>(st: &mut [V; 8], win: &[V; 16], bp: &BlockPlan) {
            let v64: u64 = const { crate::plan::var64(VAR) };
            let mut w = [bcast32(0); 64];
            let mut s = *st;
            unroll!(T, [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15], {
                let kw = if (v64 >> T) & 1 == 1 {
                    w[T] = win[T];
                    add(win[T], bcast32(K[T]))
                } else {
                    bcast32(bp.kw[T])
                };
                rnd(&mut s, kw);
            });
            unroll!(T, [16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
                        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
                        48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63], {
                let kw = if (v64 >> T) & 1 == 1 {
                    let mut x = bcast32(bp.pre[T]);
                    if (v64 >> (T - 2)) & 1 == 1 {
                        x = add(x, ssig1(w[T - 2]));
                    }
                    if (v64 >> (T - 7)) & 1 == 1 {
                        x = add(x, w[T - 7]);
                    }
                    if (v64 >> (T - 15)) & 1 == 1 {
                        x = add(x, ssig0(w[T - 15]));
                    }
                    if (v64 >> (T - 16)) & 1 == 1 {
                        x = add(x, w[T - 16]);
                    }
                    w[T] = x;
                    add(x, bcast32(K[T]))
                } else {
                    bcast32(bp.kw[T])
                };
                rnd(&mut s, kw);
            });
            for i in 0..8 {
                st[i] = add(st[i], s[i]);
            }
        }

        /// Theta step of Keccak-f.
        #[inline]
        #[target_feature(enable = $feat)]
        fn theta(a: &mut [V; 25]) {
            let mut c = [bcast64(0); 5];
            for x in 0..5 {
                c[x] = xor5(a[x], a[x + 5], a[x + 10], a[x + 15], a[x + 20]);
            }
            for x in 0..5 {
                let r = rol::<1>(c[(x + 1) % 5]);
                if TERNARY {
                    // One three-way xor per lane beats forming D first.
                    for y in 0..5 {
                        a[5 * y + x] = xor3(a[5 * y + x], c[(x + 4) % 5], r);
                    }
                } else {
                    let d = xor(c[(x + 4) % 5], r);
                    for y in 0..5 {
                        a[5 * y + x] = xor(a[5 * y + x], d);
                    }
                }
            }
        }

        /// Rho, pi, chi and iota steps of Keccak-f.
        #[inline]
        #[target_feature(enable = $feat)]
        fn rho_pi_chi_iota(a: &mut [V; 25], rc: u64) {
            let mut b = [bcast64(0); 25];
            b[0] = a[0];
            b[10] = rol::<1>(a[1]);
            b[20] = rol::<62>(a[2]);
            b[5] = rol::<28>(a[3]);
            b[15] = rol::<27>(a[4]);
            b[16] = rol::<36>(a[5]);
            b[1] = rol::<44>(a[6]);
            b[11] = rol::<6>(a[7]);
            b[21] = rol::<55>(a[8]);
            b[6] = rol::<20>(a[9]);
            b[7] = rol::<3>(a[10]);
            b[17] = rol::<10>(a[11]);
            b[2] = rol::<43>(a[12]);
            b[12] = rol::<25>(a[13]);
            b[22] = rol::<39>(a[14]);
            b[23] = rol::<41>(a[15]);
            b[8] = rol::<45>(a[16]);
            b[18] = rol::<15>(a[17]);
            b[3] = rol::<21>(a[18]);
            b[13] = rol::<8>(a[19]);
            b[14] = rol::<18>(a[20]);
            b[24] = rol::<2>(a[21]);
            b[9] = rol::<61>(a[22]);
            b[19] = rol::<56>(a[23]);
            b[4] = rol::<14>(a[24]);
            for y in 0..5 {
                for x in 0..5 {
                    a[5 * y + x] = chi(b[5 * y + x], b[5 * y + (x + 1) % 5], b[5 * y + (x + 2) % 5]);
                }
            }
            a[0] = xor(a[0], bcast64(rc));
        }

        /// Keccak-f[1600] of the padded one-block state for a 32-byte input given as four
        /// lanes; returns output lane `LANE` only (0 or 3).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn keccak_top<const LANE: usize>(d: &[V; 4]) -> V {
            let one = bcast64(1);
            let pad = bcast64(0x8000_0000_0000_0000);
            // Round 0: columns of the sparse state (lanes 0..3 data, 4 = 1, 16 = pad).
            let c1 = xor(d[1], pad);
            let dd = [
                xor(one, rol::<1>(c1)),
                xor(d[0], rol::<1>(d[2])),
                xor(c1, rol::<1>(d[3])),
                xor(d[2], bcast64(2)),
                xor(d[3], rol::<1>(d[0])),
            ];
            let mut a = [bcast64(0); 25];
            for i in 0..25 {
                a[i] = dd[i % 5];
            }
            a[0] = xor(d[0], dd[0]);
            a[1] = xor(d[1], dd[1]);
            a[2] = xor(d[2], dd[2]);
            a[3] = xor(d[3], dd[3]);
            a[4] = xor(one, dd[4]);
            a[16] = xor(pad, dd[1]);
            rho_pi_chi_iota(&mut a, RC[0]);
            for &rc in &RC[1..23] {
                theta(&mut a);
                rho_pi_chi_iota(&mut a, rc);
            }
            // Last round: only the lanes that feed output lane LANE.
            let mut c = [bcast64(0); 5];
            for x in 0..5 {
                c[x] = xor5(a[x], a[x + 5], a[x + 10], a[x + 15], a[x + 20]);
            }
            let d0 = xor(c[4], rol::<1>(c[1]));
            if LANE == 0 {
                let d1 = xor(c[0], rol::<1>(c[2]));
                let d2 = xor(c[1], rol::<1>(c[3]));
                let b0 = xor(a[0], d0);
                let b1 = rol::<44>(xor(a[6], d1));
                let b2 = rol::<43>(xor(a[12], d2));
                xor(chi(b0, b1, b2), bcast64(RC[23]))
            } else {
                let d3 = xor(c[2], rol::<1>(c[4]));
                let d4 = xor(c[3], rol::<1>(c[0]));
                let b0 = xor(a[0], d0);
                let b3 = rol::<21>(xor(a[18], d3));
                let b4 = rol::<14>(xor(a[24], d4));
                chi(b3, b4, b0)
            }
        }

        /// Raw seal lane (0 for big-endian seals, 3 for little-endian) of `SL` consecutive
        /// indexes from `base`.
        #[target_feature(enable = $feat)]
        fn batch(job: &PreparedJob, base: u64, cache: &mut SplitCache) -> [u64; SL] {
            let plan = &job.plan;
            let mut nonces = [0u64; SL];
            for (l, n) in nonces.iter_mut().enumerate() {
                *n = job.mapping.nonce(base.wrapping_add(l as u64));
            }
            let mut first = 0;
            let init = match plan.split_mask {
                Some(m) if crate::plan::uniform(&nonces, m) => {
                    first = 1;
                    cache.state_after_block0(plan, m, nonces[0])
                }
                _ => plan.midstate,
            };
            let mut st = [bcast32(0); 8];
            for i in 0..8 {
                st[i] = bcast32(init[i]);
            }
            for (b, bp) in plan.blocks.iter().enumerate().skip(first) {
                let mut win = [bcast32(0); 16];
                if bp.var == VAR_ALL {
                    for j in 0..16 {
                        win[j] = bcast32(bp.words[j]);
                    }
                }
                for p in plan.pieces.iter() {
                    if p.block != b {
                        continue;
                    }
                    let mut lanes = [0u32; SL];
                    for l in 0..SL {
                        lanes[l] = p.bits(nonces[l]) | bp.words[p.word];
                    }
                    win[p.word] = load32(&lanes);
                }
                match bp.var {
                    0x0000 => compress::<0x0000>(&mut st, &win, bp),
                    0x0001 => compress::<0x0001>(&mut st, &win, bp),
                    0x0003 => compress::<0x0003>(&mut st, &win, bp),
                    0xC000 => compress::<0xC000>(&mut st, &win, bp),
                    _ => compress::<0xFFFF>(&mut st, &win, bp),
                }
            }
            let halves = digest_to_lanes(&st);
            let mut out = [0u64; SL];
            for h in 0..SL / KL {
                let top = if job.seal_big_endian {
                    keccak_top::<0>(&halves[h])
                } else {
                    keccak_top::<3>(&halves[h])
                };
                out[h * KL..(h + 1) * KL].copy_from_slice(&store64(top));
            }
            out
        }

        /// The search loop: cheap test on the top seal word, full test for candidates.
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

        /// The top seal words (as [`PreparedJob::top_word`] reads them) of `SL` indexes from
        /// `base`, for tests; `None` when this CPU lacks the path.
        pub fn top_words(job: &PreparedJob, base: u64) -> Option<Vec<u64>> {
            if !supported() {
                return None;
            }
            let mut cache = SplitCache::default();
            // SAFETY: the CPU has every feature in this path's target_feature set.
            let raw = unsafe { batch(job, base, &mut cache) };
            Some(
                raw.iter()
                    .map(|&r| job.top_of_lane(r))
                    .collect(),
            )
        }
    };
}
pub(crate) use simd_kernels;
