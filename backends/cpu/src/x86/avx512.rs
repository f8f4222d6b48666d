//! AVX-512 path: 16-lane SHA-256 (32-bit lanes, `vprold` rotates, `vpternlogd` for Ch, Maj
//! and the three-way xors of the sigmas) followed by two 8-lane Keccak-f\[1600\] runs
//! (`vprolq` rotates, `vpternlogq` for theta's five-way xors and for chi).

use core::arch::x86_64::*;

/// Vector of 16 x u32 (SHA-256) or 8 x u64 (Keccak).
pub(crate) type V = __m512i;
/// SHA-256 lanes per batch.
const SL: usize = 16;
/// Keccak rounds compute column parities afterwards with `vpternlogq` (two three-way xors
/// per column instead of four xors collected row by row).
const CARRY_PARITY: bool = false;
/// Keccak lanes per run.
const KL: usize = 8;

/// Whether this CPU can run the path.
pub fn supported() -> bool {
    is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn add(a: V, b: V) -> V {
    _mm512_add_epi32(a, b)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn bcast32(x: u32) -> V {
    _mm512_set1_epi32(x as i32)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn xor3_32(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi32::<0x96>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn bsig0(x: V) -> V {
    xor3_32(
        _mm512_ror_epi32::<2>(x),
        _mm512_ror_epi32::<13>(x),
        _mm512_ror_epi32::<22>(x),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn bsig1(x: V) -> V {
    xor3_32(
        _mm512_ror_epi32::<6>(x),
        _mm512_ror_epi32::<11>(x),
        _mm512_ror_epi32::<25>(x),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn ssig0(x: V) -> V {
    xor3_32(
        _mm512_ror_epi32::<7>(x),
        _mm512_ror_epi32::<18>(x),
        _mm512_srli_epi32::<3>(x),
    )
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn ssig1(x: V) -> V {
    xor3_32(
        _mm512_ror_epi32::<17>(x),
        _mm512_ror_epi32::<19>(x),
        _mm512_srli_epi32::<10>(x),
    )
}

/// `e ? f : g`
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn ch(e: V, f: V, g: V) -> V {
    _mm512_ternarylogic_epi32::<0xCA>(e, f, g)
}

/// Majority of three.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn maj(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi32::<0xE8>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn load32(x: &[u32; SL]) -> V {
    // SAFETY: reads 64 bytes from a 64-byte array.
    unsafe { _mm512_loadu_si512(x.as_ptr().cast()) }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn bcast64(x: u64) -> V {
    _mm512_set1_epi64(x as i64)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn xor(a: V, b: V) -> V {
    _mm512_xor_si512(a, b)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn xor5(a: V, b: V, c: V, d: V, e: V) -> V {
    let t = _mm512_ternarylogic_epi64::<0x96>(a, b, c);
    _mm512_ternarylogic_epi64::<0x96>(t, d, e)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn rol<const N: i32>(x: V) -> V {
    if N == 0 {
        x
    } else {
        _mm512_rol_epi64::<N>(x)
    }
}

/// `a ^ (!b & c)`
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn chi(a: V, b: V, c: V) -> V {
    _mm512_ternarylogic_epi64::<0xD2>(a, b, c)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn store64(x: V) -> [u64; KL] {
    let mut out = [0u64; KL];
    // SAFETY: writes 64 bytes into a 64-byte array.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), x) };
    out
}

/// Keccak input lanes 0..3 of eight digests, each given as two 128-bit halves holding its
/// lanes (0, 1) and (2, 3), without a trip through memory.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) fn lanes_from_pairs(p: &[(__m128i, __m128i); KL]) -> [V; 4] {
    let (lo, hi) = p.split_at(4);
    let lo = crate::x86::avx2::lanes_from_pairs(lo.try_into().expect("four digests"));
    let hi = crate::x86::avx2::lanes_from_pairs(hi.try_into().expect("four digests"));
    core::array::from_fn(|i| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo[i]), hi[i]))
}

/// The 16 digests as Keccak input lanes 0..3, in two runs of 8 (lanes 0..7, 8..15). Keccak
/// lane i is `bswap(word 2i) | bswap(word 2i+1) << 32`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
fn digest_to_lanes(st: &[V; 8]) -> [[V; 4]; 2] {
    let swap = _mm512_broadcast_i32x4(_mm_set_epi8(
        12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3,
    ));
    const LO: [u32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
    const HI: [u32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];
    let lo_idx = load32(&LO);
    let hi_idx = load32(&HI);
    let mut out = [[bcast64(0); 4]; 2];
    for i in 0..4 {
        let lo = _mm512_shuffle_epi8(st[2 * i], swap);
        let hi = _mm512_shuffle_epi8(st[2 * i + 1], swap);
        out[0][i] = _mm512_permutex2var_epi32(lo, lo_idx, hi);
        out[1][i] = _mm512_permutex2var_epi32(lo, hi_idx, hi);
    }
    out
}

crate::x86::kernels::simd_kernels!("avx512f,avx512bw");
