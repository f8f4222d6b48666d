/*
 * pow.cu: CUDA entry points on the shared device code. Compiled to PTX at build time by
 * clang (-x cuda --cuda-device-only -nocudainc -nocudalib) or at run time by NVRTC, with
 * POW_KERNEL_BLOCKS and POW_NONCE_OFF defined per job layout. For NVRTC the host prepends
 * the two headers and drops the #include lines.
 */
#include "dialect_cuda.h"
#include "pow_common.h"

/* Tries indexes base + [0, count) and records every passing offset in res; `midstates` is the
 * launch's midstate table (pow_midstate). */
extern "C" __global__ void pow_search(const u32 *__restrict__ params, u32 *res, u64 base,
                                      u32 count, const u32 *__restrict__ midstates) {
    u32 off = pow_global_id();
    if (off >= count) return;
    pow_search_one(base, off, midstates, params, res);
}

/* Writes the seal of every index base + [0, count) to out (self-test). */
extern "C" __global__ void pow_seals(const u32 *__restrict__ params, u32 *out, u64 base,
                                     u32 count, const u32 *__restrict__ midstates) {
    u32 off = pow_global_id();
    if (off >= count) return;
    pow_seal_one(base, off, midstates, params, out);
}
