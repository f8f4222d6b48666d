/*
 * dialect_cuda.h: CUDA C definitions for pow_common.h. Builds with NVRTC and with clang
 * (-nocudainc, no CUDA headers): qualifiers are defined here when missing and every
 * built-in is inline PTX. Keccak lanes are pairs of 32-bit words, rotated with funnel shifts
 * (shf.l.wrap.b32); three-input logic (theta's xors, chi, SHA-256's ch/maj) uses lop3.b32.
 */
#ifndef POW_DIALECT_H
#define POW_DIALECT_H

#ifdef POW_HOST_EMULATION
#define __global__
#define __device__
#define __constant__
#define __forceinline__ inline
#endif
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

#ifdef POW_HOST_EMULATION
/*
 * Host C++ models of the PTX instructions below, written from their definitions in the PTX
 * ISA, so that this dialect (lane pairs, funnel-shift rotations, lop3 truth tables, prmt
 * byte swaps) can be checked against the seal library on a machine without a GPU
 * (backends/cuda/tests/host_emulation.rs). Not used for device builds.
 */
static u32 pow_emu_gid;
/* shf.l.wrap.b32 d, a, b, c: bits 63..32 of ({b, a} << (c & 31)). */
POW_INLINE u32 pow_shf_l(u32 lo, u32 hi, u32 n) {
    return (u32)(((((u64)hi << 32) | lo) << (n & 31)) >> 32);
}
/* shf.r.wrap.b32 d, a, b, c: bits 31..0 of ({b, a} >> (c & 31)); with a = b a rotation. */
POW_INLINE u32 rotr32(u32 x, u32 n) { return (u32)(((((u64)x << 32) | x) >> (n & 31))); }
/* prmt.b32 d, a, b, c (default mode): byte i of d is byte (c >> 4i) & 7 of {b, a}. */
POW_INLINE u32 bswap32(u32 x) {
    u64 bytes = (u64)x; /* b = 0 */
    u32 sel = 0x0123, d = 0;
    for (int i = 0; i < 4; i++) d |= (u32)((bytes >> (8 * ((sel >> (4 * i)) & 7))) & 0xff) << (8 * i);
    return d;
}
/* lop3.b32 d, a, b, c, imm: bit k of imm is the result for (a, b, c) = (k>>2&1, k>>1&1, k&1). */
POW_INLINE u32 pow_emu_lop3(u32 a, u32 b, u32 c, u32 imm) {
    u32 d = 0;
    for (u32 k = 0; k < 8; k++)
        if (imm >> k & 1) d |= ((k & 4) ? a : ~a) & ((k & 2) ? b : ~b) & ((k & 1) ? c : ~c);
    return d;
}
#define POW_LOP3(name, imm) \
    POW_INLINE u32 name(u32 a, u32 b, u32 c) { return pow_emu_lop3(a, b, c, imm); }
#else
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
    asm("prmt.b32 %0, %1, %2, 0x0123;" : "=r"(d) : "r"(x), "r"(0u));
    return d;
}
#define POW_LOP3(name, imm)                                                                    \
    POW_INLINE u32 name(u32 a, u32 b, u32 c) {                                              \
        u32 d;                                                                                 \
        asm("lop3.b32 %0, %1, %2, %3, " #imm ";" : "=r"(d) : "r"(a), "r"(b), "r"(c));       \
        return d;                                                                              \
    }
#endif
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

#ifdef POW_HOST_EMULATION
POW_INLINE u32 atomic_inc_u32(u32 *p) { return (*p)++; }
POW_INLINE void atomic_min_u32(u32 *p, u32 v) {
    if (v < *p) *p = v;
}
POW_INLINE u32 pow_global_id(void) { return pow_emu_gid; }
#else
POW_INLINE u32 atomic_inc_u32(u32 *p) {
    u32 old;
    asm volatile("atom.add.u32 %0, [%1], %2;" : "=r"(old) : "l"(p), "r"(1u) : "memory");
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

#endif
