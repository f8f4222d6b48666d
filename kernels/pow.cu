/*
 * pow.cu: CUDA entry points on the shared device code. Compiled to PTX at build time by
 * clang (-x cuda --cuda-device-only -nocudainc -nocudalib) or at run time by NVRTC, with
 * POW_KERNEL_BLOCKS and POW_NONCE_OFF defined per job layout. For NVRTC the host prepends
 * the two headers and drops the #include lines.
 */
#include "dialect_cuda.h"
#include "pow_common.h"

/* Tries indexes base + [0, count) and records every passing offset in res. */
extern "C" __global__ void pow_search(const u32 *__restrict__ params, u32 *res, u64 base,
                                      u32 count, u32 m0, u32 m1, u32 m2, u32 m3, u32 m4,
                                      u32 m5, u32 m6, u32 m7) {
    u32 off = pow_global_id();
    if (off >= count) return;
    const u32 ms[8] = {m0, m1, m2, m3, m4, m5, m6, m7};
    pow_search_one(base, off, ms, params, res);
}

/* Writes the seal of every index base + [0, count) to out (self-test). */
extern "C" __global__ void pow_seals(const u32 *__restrict__ params, u32 *out, u64 base,
                                     u32 count, u32 m0, u32 m1, u32 m2, u32 m3, u32 m4,
                                     u32 m5, u32 m6, u32 m7) {
    u32 off = pow_global_id();
    if (off >= count) return;
    const u32 ms[8] = {m0, m1, m2, m3, m4, m5, m6, m7};
    pow_seal_one(base, off, ms, params, out);
}
