//! AVX2 path: 8-lane SHA-256 (32-bit lanes, rotates from shift pairs) followed by two 4-lane
//! Keccak-f\[1600\] runs (64-bit lanes).

use core::arch::x86_64::*;

/// Vector of 8 x u32 (SHA-256) or 4 x u64 (Keccak).
pub(crate) type V = __m256i;
/// SHA-256 lanes per batch.
const SL: usize = 8;
/// Keccak rounds collect the next round's column parities as they write their rows: with
/// two-input xors that costs nothing extra and shortens the chain between rounds.
const CARRY_PARITY: bool = true;
/// Keccak lanes per run.
const KL: usize = 4;

/// Whether this CPU can run the path.
pub fn supported() -> bool {
    is_x86_feature_detected!("avx2")
}

/// Rotate right of 32-bit lanes by a literal amount.
macro_rules! ror32 {
    ($x:expr, $n:literal) => {
        _mm256_or_si256(
            _mm256_srli_epi32::<$n>($x),
            _mm256_slli_epi32::<{ 32 - $n }>($x),
        )
    };
}

#[inline]
#[target_feature(enable = "avx2")]
fn add(a: V, b: V) -> V {
    _mm256_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn bcast32(x: u32) -> V {
    _mm256_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor3(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(_mm256_xor_si256(a, b), c)
}

#[inline]
#[target_feature(enable = "avx2")]
fn bsig0(x: V) -> V {
    xor3(ror32!(x, 2), ror32!(x, 13), ror32!(x, 22))
}

#[inline]
#[target_feature(enable = "avx2")]
fn bsig1(x: V) -> V {
    xor3(ror32!(x, 6), ror32!(x, 11), ror32!(x, 25))
}

#[inline]
#[target_feature(enable = "avx2")]
fn ssig0(x: V) -> V {
    xor3(ror32!(x, 7), ror32!(x, 18), _mm256_srli_epi32::<3>(x))
}

#[inline]
#[target_feature(enable = "avx2")]
fn ssig1(x: V) -> V {
    xor3(ror32!(x, 17), ror32!(x, 19), _mm256_srli_epi32::<10>(x))
}

/// `e ? f : g` as `g ^ (e & (f ^ g))`.
#[inline]
#[target_feature(enable = "avx2")]
fn ch(e: V, f: V, g: V) -> V {
    _mm256_xor_si256(g, _mm256_and_si256(e, _mm256_xor_si256(f, g)))
}

/// Majority as `b ^ ((a ^ b) & (b ^ c))`.
#[inline]
#[target_feature(enable = "avx2")]
fn maj(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(
        b,
        _mm256_and_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(b, c)),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
fn load32(x: &[u32; SL]) -> V {
    // SAFETY: reads 32 bytes from a 32-byte array.
    unsafe { _mm256_loadu_si256(x.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn bcast64(x: u64) -> V {
    _mm256_set1_epi64x(x as i64)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor(a: V, b: V) -> V {
    _mm256_xor_si256(a, b)
}

#[inline]
#[target_feature(enable = "avx2")]
fn xor5(a: V, b: V, c: V, d: V, e: V) -> V {
    xor(xor(xor(a, b), xor(c, d)), e)
}

/// Rotate left of 64-bit lanes: a byte shuffle for 8 and 56, `x + x` for the left shift
/// by 1 (an adder instead of a second shifter), else two immediate shifts.
#[inline]
#[target_feature(enable = "avx2")]
fn rol<const N: i32>(x: V) -> V {
    match N {
        0 => x,
        8 => _mm256_shuffle_epi8(
            x,
            _mm256_set_epi8(
                14, 13, 12, 11, 10, 9, 8, 15, 6, 5, 4, 3, 2, 1, 0, 7, 14, 13, 12, 11, 10, 9, 8, 15,
                6, 5, 4, 3, 2, 1, 0, 7,
            ),
        ),
        56 => _mm256_shuffle_epi8(
            x,
            _mm256_set_epi8(
                8, 15, 14, 13, 12, 11, 10, 9, 0, 7, 6, 5, 4, 3, 2, 1, 8, 15, 14, 13, 12, 11, 10, 9,
                0, 7, 6, 5, 4, 3, 2, 1,
            ),
        ),
        1 => _mm256_or_si256(_mm256_add_epi64(x, x), _mm256_srli_epi64::<63>(x)),
        _ => _mm256_or_si256(
            _mm256_sllv_epi64(x, _mm256_set1_epi64x(N as i64)),
            _mm256_srlv_epi64(x, _mm256_set1_epi64x(64 - N as i64)),
        ),
    }
}

/// `a ^ (!b & c)`
#[inline]
#[target_feature(enable = "avx2")]
fn chi(a: V, b: V, c: V) -> V {
    _mm256_xor_si256(a, _mm256_andnot_si256(b, c))
}

#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn store64(x: V) -> [u64; KL] {
    let mut out = [0u64; KL];
    // SAFETY: writes 32 bytes into a 32-byte array.
    unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), x) };
    out
}

/// Keccak input lanes 0..3 of four digests, each given as two 128-bit halves holding its
/// lanes (0, 1) and (2, 3), without a trip through memory.
#[inline]
#[target_feature(enable = "avx2")]
pub(crate) fn lanes_from_pairs(p: &[(__m128i, __m128i); KL]) -> [V; 4] {
    let mut out = [bcast64(0); 4];
    for (h, half) in [p.map(|d| d.0), p.map(|d| d.1)].iter().enumerate() {
        // Lane 2h of the four digests, then lane 2h + 1.
        let lo = [
            _mm_unpacklo_epi64(half[0], half[1]),
            _mm_unpacklo_epi64(half[2], half[3]),
        ];
        let hi = [
            _mm_unpackhi_epi64(half[0], half[1]),
            _mm_unpackhi_epi64(half[2], half[3]),
        ];
        for (k, pair) in [lo, hi].iter().enumerate() {
            out[2 * h + k] = _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(pair[0]), pair[1]);
        }
    }
    out
}

/// The 8 digests as Keccak input lanes 0..3, in two runs of 4 (lanes 0..3, 4..7).
#[inline]
#[target_feature(enable = "avx2")]
fn digest_to_lanes(st: &[V; 8]) -> [[V; 4]; 2] {
    let swap = _mm256_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11, 4, 5,
        6, 7, 0, 1, 2, 3,
    );
    let mut out = [[bcast64(0); 4]; 2];
    for i in 0..4 {
        let lo = _mm256_shuffle_epi8(st[2 * i], swap);
        let hi = _mm256_shuffle_epi8(st[2 * i + 1], swap);
        // unpacklo: digests 0, 1, 4, 5; unpackhi: 2, 3, 6, 7.
        let ul = _mm256_unpacklo_epi32(lo, hi);
        let uh = _mm256_unpackhi_epi32(lo, hi);
        out[0][i] = _mm256_permute2x128_si256::<0x20>(ul, uh);
        out[1][i] = _mm256_permute2x128_si256::<0x31>(ul, uh);
    }
    out
}

crate::x86::kernels::simd_kernels!("avx2");
