/* dialect_opencl.h: OpenCL C definitions for pow_common.h (64-bit Keccak lanes). */
#ifndef POW_DIALECT_H
#define POW_DIALECT_H

typedef uint u32;
typedef ulong u64;
typedef ulong lane_t;

#define POW_INLINE static inline
#define POW_PARAMS __constant
#define POW_OUT __global
#define POW_TABLE __constant

#define rotr32(x, n) rotate((u32)(x), (u32)(32 - (n)))
#define bswap32(x) as_uint(as_uchar4((u32)(x)).s3210)
#define xor3_32(a, b, c) ((a) ^ (b) ^ (c))
#define ch32(e, f, g) bitselect((u32)(g), (u32)(f), (u32)(e))
#define maj32(a, b, c) bitselect((u32)(b), (u32)(c), (u32)((a) ^ (b)))

#define lane_xor(a, b) ((a) ^ (b))
#define lane_xor3(a, b, c) ((a) ^ (b) ^ (c))
#define lane_chi(a, b, c) ((a) ^ (~(b) & (c)))
#define lane_rotl(x, n) rotate((u64)(x), (u64)(n))
#define lane_make(lo, hi) (((u64)(hi) << 32) | (u64)(lo))
#define lane_lo(x) ((u32)(x))
#define lane_hi(x) ((u32)((x) >> 32))
#define lane_const(v) ((u64)(v))

#define atomic_inc_u32(p) atomic_inc(p)
#define atomic_min_u32(p, v) atomic_min(p, v)

#endif
