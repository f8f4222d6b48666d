/*
 * pow.cl: OpenCL entry points. The host prepends dialect_opencl.h and pow_common.h (the
 * #include lines below are for standalone compilation with -I kernels) and defines
 * POW_KERNEL_BLOCKS and POW_NONCE_OFF in the build options.
 */
#include "dialect_opencl.h"
#include "pow_common.h"

/* Tries indexes base + [0, count) and records every passing offset in res; `midstates` is the
 * launch's midstate table (pow_midstate). */
__kernel void pow_search(__constant const uint *params, __global uint *res, ulong base,
                         uint count, __constant const uint *midstates) {
    uint off = (uint)get_global_id(0);
    if (off >= count) return;
    pow_search_one(base, off, midstates, params, res);
}

/* Writes the seal of every index base + [0, count) to out (self-test). */
__kernel void pow_seals(__constant const uint *params, __global uint *out, ulong base,
                        uint count, __constant const uint *midstates) {
    uint off = (uint)get_global_id(0);
    if (off >= count) return;
    pow_seal_one(base, off, midstates, params, out);
}
