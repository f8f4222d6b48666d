// Host harness for the CUDA dialect: runs the entry points of kernels/pow.cu on the CPU with
// the PTX instructions modelled in C++ (POW_HOST_EMULATION). Input on stdin (decimal
// words): mode (0 = seals, 1 = search), 64 parameter words, base, count, the launch's
// midstate table (MS_MAX_RUNS x 8 words). Output: the seal words (mode 0) or the 64 result words (mode 1), one per line.
#include "pow.cu"

#include <cstdio>
#include <vector>

int main() {
    unsigned long long mode, base, count, v;
    u32 params[64], ms[MS_MAX_RUNS * 8];
    if (scanf("%llu", &mode) != 1) return 2;
    for (int i = 0; i < 64; i++) {
        if (scanf("%llu", &v) != 1) return 2;
        params[i] = (u32)v;
    }
    if (scanf("%llu %llu", &base, &count) != 2) return 2;
    for (int i = 0; i < MS_MAX_RUNS * 8; i++) {
        if (scanf("%llu", &v) != 1) return 2;
        ms[i] = (u32)v;
    }
    std::vector<u32> out(mode == 0 ? count * 8 : 64, 0);
    if (mode == 1) out[1] = 0xffffffffu;
    for (u32 gid = 0; gid < count + 5; gid++) {  // a few surplus threads, as on a device
        pow_emu_gid = gid;
        if (mode == 0)
            pow_seals(params, out.data(), base, (u32)count, ms);
        else
            pow_search(params, out.data(), base, (u32)count, ms);
    }
    for (u32 w : out) printf("%u\n", w);
    return 0;
}
