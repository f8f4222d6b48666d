/*
 * pow.cl: OpenCL entry points. The host prepends dialect_opencl.h and pow_common.h (the
 * #include lines below are for standalone compilation with -I kernels) and defines
 * POW_KERNEL_BLOCKS and POW_NONCE_OFF in the build options.
 */
#include "dialect_opencl.h"
#include "pow_common.h"

/* Tries indexes base + [0, count) and records every passing offset in res. */
__kernel void pow_search(__constant const uint *params, __global uint *res, ulong base,
                         uint count, uint m0, uint m1, uint m2, uint m3, uint m4, uint m5,
                         uint m6, uint m7) {
    uint off = (uint)get_global_id(0);
    if (off >= count) return;
    const uint ms[8] = {m0, m1, m2, m3, m4, m5, m6, m7};
    pow_search_one(base, off, ms, params, res);
}

/* Writes the seal of every index base + [0, count) to out (self-test). */
__kernel void pow_seals(__constant const uint *params, __global uint *out, ulong base,
                        uint count, uint m0, uint m1, uint m2, uint m3, uint m4, uint m5,
                        uint m6, uint m7) {
    uint off = (uint)get_global_id(0);
    if (off >= count) return;
    const uint ms[8] = {m0, m1, m2, m3, m4, m5, m6, m7};
    pow_seal_one(base, off, ms, params, out);
}
