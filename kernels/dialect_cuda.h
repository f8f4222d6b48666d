/*
 * dialect_cuda.h: CUDA C definitions for pow_common.h. Builds with NVRTC and with clang
 * (-nocudainc, no CUDA headers): qualifiers are defined here when missing and every
 * built-in is inline PTX. Keccak lanes are pairs of 32-bit words, rotated with funnel shifts
 * (shf.l.wrap.b32); three-input logic (theta's xors, chi, SHA-256's ch/maj) uses lop3.b32.
 */
#ifndef POW_DIALECT_H
#define POW_DIALECT_H

#ifndef __global__
#define __global__ __attribute__((global))
#endif
#ifndef __device__
#define __device__ __attribute__((device))
#endif
#ifndef __constant__
#define __constant__ __attribute__((constant))
#endif
#ifndef __forceinline__
#define __forceinline__ __inline__ __attribute__((always_inline))
#endif

typedef unsigned int u32;
typedef unsigned long long u64;
typedef struct {
    u32 lo, hi;
} lane_t;

#define POW_INLINE static __device__ __forceinline__
#define POW_PARAMS
#define POW_OUT
#define POW_TABLE static __constant__ const

POW_INLINE u32 pow_shf_l(u32 lo, u32 hi, u32 n) {
    u32 d;
    asm("shf.l.wrap.b32 %0, %1, %2, %3;" : "=r"(d) : "r"(lo), "r"(hi), "r"(n));
    return d;
}
POW_INLINE u32 rotr32(u32 x, u32 n) {
    u32 d;
    asm("shf.r.wrap.b32 %0, %1, %1, %2;" : "=r"(d) : "r"(x), "r"(n));
    return d;
}
POW_INLINE u32 bswap32(u32 x) {
    u32 d;
    asm("prmt.b32 %0, %1, 0, 0x0123;" : "=r"(d) : "r"(x));
    return d;
}
#define POW_LOP3(name, imm)                                                                    \
    POW_INLINE u32 name(u32 a, u32 b, u32 c) {                                              \
        u32 d;                                                                                 \
        asm("lop3.b32 %0, %1, %2, %3, " #imm ";" : "=r"(d) : "r"(a), "r"(b), "r"(c));       \
        return d;                                                                              \
    }
POW_LOP3(xor3_32, 0x96)
POW_LOP3(ch32, 0xca)
POW_LOP3(maj32, 0xe8)
POW_LOP3(chi32, 0xd2)

POW_INLINE lane_t lane_make(u32 lo, u32 hi) {
    lane_t r;
    r.lo = lo;
    r.hi = hi;
    return r;
}
POW_INLINE lane_t lane_const(u64 v) { return lane_make((u32)v, (u32)(v >> 32)); }
POW_INLINE u32 lane_lo(lane_t x) { return x.lo; }
POW_INLINE u32 lane_hi(lane_t x) { return x.hi; }
POW_INLINE lane_t lane_xor(lane_t a, lane_t b) { return lane_make(a.lo ^ b.lo, a.hi ^ b.hi); }
POW_INLINE lane_t lane_xor3(lane_t a, lane_t b, lane_t c) {
    return lane_make(xor3_32(a.lo, b.lo, c.lo), xor3_32(a.hi, b.hi, c.hi));
}
POW_INLINE lane_t lane_chi(lane_t a, lane_t b, lane_t c) {
    return lane_make(chi32(a.lo, b.lo, c.lo), chi32(a.hi, b.hi, c.hi));
}
/* Rotate left by a constant 0..63: folds to two funnel shifts after inlining. */
POW_INLINE lane_t lane_rotl(lane_t x, const u32 n) {
    if (n < 32) return lane_make(pow_shf_l(x.hi, x.lo, n), pow_shf_l(x.lo, x.hi, n));
    return lane_make(pow_shf_l(x.lo, x.hi, n - 32), pow_shf_l(x.hi, x.lo, n - 32));
}

POW_INLINE u32 atomic_inc_u32(u32 *p) {
    u32 old;
    asm volatile("atom.add.u32 %0, [%1], 1;" : "=r"(old) : "l"(p) : "memory");
    return old;
}
POW_INLINE void atomic_min_u32(u32 *p, u32 v) {
    asm volatile("red.min.u32 [%0], %1;" : : "l"(p), "r"(v) : "memory");
}
POW_INLINE u32 pow_global_id(void) {
    u32 ctaid, ntid, tid;
    asm("mov.u32 %0, %%ctaid.x;" : "=r"(ctaid));
    asm("mov.u32 %0, %%ntid.x;" : "=r"(ntid));
    asm("mov.u32 %0, %%tid.x;" : "=r"(tid));
    return ctaid * ntid + tid;
}

#endif
