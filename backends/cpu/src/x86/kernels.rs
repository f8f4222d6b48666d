//! Kernel code shared by the x86 SIMD paths, written once as macros over a small set of
//! per-path vector helpers (`add`, `bcast32`, `bsig0`, `rol::<N>`, `chi`, ...), so that each
//! path module compiles it with its own `#[target_feature]` set.
//!
//! * `compress::<VAR>`: one SHA-256 compression on every lane. `VAR` marks the message words
//!   that differ between lanes; every other word, and every schedule term built only from
//!   constant words, comes precomputed from the job's [`crate::plan::BlockPlan`].
//! * `keccak_top::<LANE>`: Keccak-f[1600] of a 32-byte digest, returning only output lane
//!   `LANE` (3 for little-endian seals, 0 for big-endian). Round 0 starts from the sparse
//!   padded state; the last round computes only the one lane. The rounds go one output row
//!   at a time ([`keccak_rows`]) between two state arrays, two rounds per pass;
//!   `keccak_top_with` runs a [`PassWork`] (the SHA-NI paths' next batch) after each pass.

/// Repeats `$body` with `const $t: usize` bound to each listed literal.
macro_rules! unroll {
    ($t:ident, [$($n:literal)*], $body:block) => {
        $( { const $t: usize = $n; $body } )*
    };
}
pub(crate) use unroll;

/// Work interleaved with the Keccak rounds of [`simd_kernels`]' `keccak_top_with`.
pub(crate) trait PassWork {
    /// Runs after two-round pass `pass` (0..=10); inlined into the Keccak loop, so an
    /// implementation must be `#[inline(always)]` and free of closures for its intrinsics to
    /// inline with the path's target features.
    fn after_pass(&mut self, pass: usize);
}

/// No interleaved work.
impl PassWork for () {
    #[inline(always)]
    fn after_pass(&mut self, _pass: usize) {}
}

/// Makes the calling function realign its stack frame to 64 bytes. The Keccak state does
/// not fit in 16 vector registers, so the compiler spills lanes to the frame; in a frame
/// only 16-byte aligned, half of those 32-byte slots can straddle two cache lines depending
/// on the caller's stack depth, which cost up to a third of the Keccak rate on Zen 4. A
/// 64-byte-aligned local that must live in memory makes the frame (and so every spill slot)
/// aligned.
#[inline(always)]
pub(crate) fn align_frame() {
    #[repr(align(64))]
    struct Line([u8; 64]);
    let mut line = Line([0; 64]);
    core::hint::black_box(&mut line.0);
}

/// Rho, pi and chi of Keccak-f one output row at a time: `e[5y + i]` is chi of the row's
/// `b[i] = rol(a[src] ^ d[src % 5], rot)`, with `(src, rot)` listed per output lane; with
/// the path's `CARRY_PARITY`, `c` collects the column parities of `e` as the rows are made.
/// Expands to code over the calling path's `xor`, `rol::<N>` and `chi`.
macro_rules! keccak_rows {
    ($a:ident, $d:ident, $e:ident, $c:ident) => {
        crate::x86::kernels::keccak_rows!(@row $a, $d, $e, $c, 0, (0, 0) (6, 44) (12, 43) (18, 21) (24, 14));
        crate::x86::kernels::keccak_rows!(@row $a, $d, $e, $c, 5, (3, 28) (9, 20) (10, 3) (16, 45) (22, 61));
        crate::x86::kernels::keccak_rows!(@row $a, $d, $e, $c, 10, (1, 1) (7, 6) (13, 25) (19, 8) (20, 18));
        crate::x86::kernels::keccak_rows!(@row $a, $d, $e, $c, 15, (4, 27) (5, 36) (11, 10) (17, 15) (23, 56));
        crate::x86::kernels::keccak_rows!(@row $a, $d, $e, $c, 20, (2, 62) (8, 55) (14, 39) (15, 41) (21, 2));
    };
    (@row $a:ident, $d:ident, $e:ident, $c:ident, $out:literal,
     ($s0:literal, $r0:literal) ($s1:literal, $r1:literal) ($s2:literal, $r2:literal)
     ($s3:literal, $r3:literal) ($s4:literal, $r4:literal)) => {{
        let b0 = rol::<$r0>(xor($a[$s0], $d[$s0 % 5]));
        let b1 = rol::<$r1>(xor($a[$s1], $d[$s1 % 5]));
        let b2 = rol::<$r2>(xor($a[$s2], $d[$s2 % 5]));
        let b3 = rol::<$r3>(xor($a[$s3], $d[$s3 % 5]));
        let b4 = rol::<$r4>(xor($a[$s4], $d[$s4 % 5]));
        let row = [
            chi(b0, b1, b2),
            chi(b1, b2, b3),
            chi(b2, b3, b4),
            chi(b3, b4, b0),
            chi(b4, b0, b1),
        ];
        $e[$out..$out + 5].copy_from_slice(&row);
        if CARRY_PARITY {
            for x in 0..5 {
                $c[x] = if $out == 0 { row[x] } else { xor($c[x], row[x]) };
            }
        }
    }};
}
pub(crate) use keccak_rows;

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

        /// The column parities `C[x]` of a state.
        #[inline]
        #[target_feature(enable = $feat)]
        fn parity(a: &[V; 25]) -> [V; 5] {
            let mut c = [bcast64(0); 5];
            for x in 0..5 {
                c[x] = xor5(a[x], a[x + 5], a[x + 10], a[x + 15], a[x + 20]);
            }
            c
        }

        /// Theta's per-column term `D[x] = C[x-1] ^ rol(C[x+1], 1)` from the parities.
        #[inline]
        #[target_feature(enable = $feat)]
        fn theta_d(c: &[V; 5]) -> [V; 5] {
            let mut d = [bcast64(0); 5];
            for x in 0..5 {
                d[x] = xor(c[(x + 4) % 5], rol::<1>(c[(x + 1) % 5]));
            }
            d
        }

        /// Theta (given its `d`), rho, pi, chi and iota from `a` into `e`, one output row
        /// at a time (each row reads its five source lanes, so only a row's lanes are live);
        /// returns the column parities of `e`, collected row by row with `CARRY_PARITY`
        /// (the next round's theta then starts as the last row ends, instead of re-reading
        /// the 25 lanes), else computed after.
        #[inline]
        #[target_feature(enable = $feat)]
        fn chi_rows(a: &[V; 25], d: &[V; 5], e: &mut [V; 25], rc: u64) -> [V; 5] {
            let mut c = [bcast64(0); 5];
            crate::x86::kernels::keccak_rows!(a, d, e, c);
            let rc = bcast64(rc);
            e[0] = xor(e[0], rc);
            if CARRY_PARITY {
                c[0] = xor(c[0], rc);
                c
            } else {
                parity(e)
            }
        }

        /// Keccak-f[1600] of the padded one-block state for a 32-byte input given as four
        /// lanes; returns output lane `LANE` only (0 or 3).
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn keccak_top<const LANE: usize>(digest: &[V; 4]) -> V {
            keccak_top_with::<LANE>(digest, &mut ())
        }

        /// [`keccak_top`] that runs `work.after_pass(pass)` after each of its 11 two-round
        /// passes (`pass` = 0..=10), so that independent work (the next batch's SHA-NI
        /// rounds) sits between the rounds and fills the vector units while they wait.
        #[inline]
        #[target_feature(enable = $feat)]
        pub(crate) fn keccak_top_with<const LANE: usize>(
            digest: &[V; 4],
            work: &mut impl crate::x86::kernels::PassWork,
        ) -> V {
            let zero = bcast64(0);
            let one = bcast64(1);
            let pad = bcast64(0x8000_0000_0000_0000);
            // Round 0 on the sparse state: lanes 0..3 data, 4 = 1, 16 = pad.
            let mut s = [zero; 25];
            s[..4].copy_from_slice(digest);
            s[4] = one;
            s[16] = pad;
            let c1 = xor(digest[1], pad);
            let d = [
                xor(one, rol::<1>(c1)),
                xor(digest[0], rol::<1>(digest[2])),
                xor(c1, rol::<1>(digest[3])),
                xor(digest[2], bcast64(2)),
                xor(digest[3], rol::<1>(digest[0])),
            ];
            crate::x86::kernels::align_frame();
            let mut a = [zero; 25];
            let mut c = chi_rows(&s, &d, &mut a, RC[0]);
            // Rounds 1..=22, two per pass (a -> e -> a).
            let mut e = [zero; 25];
            for pass in 0..11 {
                c = chi_rows(&a, &theta_d(&c), &mut e, RC[2 * pass + 1]);
                c = chi_rows(&e, &theta_d(&c), &mut a, RC[2 * pass + 2]);
                work.after_pass(pass);
            }
            // Last round: only the lanes that feed output lane LANE.
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
