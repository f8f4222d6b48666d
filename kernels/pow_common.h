/*
 * pow_common.h: the proof-of-work device code shared by the OpenCL and CUDA kernels.
 *
 * seal = keccak256(sha256(message)), message = prefix || nonce (8 bytes LE) || suffix.
 * The host compresses every SHA-256 block before the first nonce byte that varies within a
 * launch and passes the resulting midstate; the kernel compresses the remaining
 * POW_KERNEL_BLOCKS padded blocks (job words from `params`, nonce bytes inserted at
 * POW_NONCE_OFF, which may be negative when the nonce starts in a host-compressed block),
 * then runs Keccak-f[1600] on the 32-byte digest.
 *
 * A dialect header (dialect_opencl.h or dialect_cuda.h) must be included first. It provides:
 *   u32, u64, lane_t (a 64-bit Keccak lane), POW_INLINE, POW_PARAMS (address space of the
 *   job parameters), POW_OUT (address space of result buffers), POW_TABLE (constant tables),
 *   rotr32, bswap32, xor3_32, ch32, maj32, lane_xor, lane_xor3, lane_chi (a ^ (~b & c)),
 *   lane_rotl (rotate by a compile-time constant), lane_make (lo, hi), lane_lo, lane_hi,
 *   lane_const (from a u64), atomic_inc_u32, atomic_min_u32.
 * POW_KERNEL_BLOCKS and POW_NONCE_OFF come from the host as compile-time definitions, and with
 * them POW_MSG_END (where the message ends, relative to the kernel's first block) and
 * POW_MSG_BITS (the message length in bits), which make every word that the layout fixes
 * (padding, length, the 0x80 marker) a compile-time constant, so that the compiler folds the
 * SHA-256 message schedule around them. POW_KECCAK_LOOP keeps Keccak rounds 1..22 in a loop
 * (smaller code); without it the permutation is fully unrolled (no register moves between
 * rounds).
 */
#ifndef POW_COMMON_H
#define POW_COMMON_H

#ifndef POW_KERNEL_BLOCKS
#define POW_KERNEL_BLOCKS 1
#endif
#ifndef POW_NONCE_OFF
#define POW_NONCE_OFF 0
#endif

/* Layout of the job parameter words (u32), shared with the host (kernels/src/lib.rs). */
#define P_TAIL 0        /* 48 words: up to three padded blocks, big-endian words */
#define P_TARGET 48     /* 8 words: target limbs, least significant first, lo word first */
#define P_FLAGS 56      /* bit 0: the seal is read big-endian */
#define P_ROTATE 57     /* nonce = index rotated left by this many bits */
#define P_RUN_SHIFT 58  /* a launch's midstate table has one entry per aligned run of
                           2^P_RUN_SHIFT indexes it touches; 64: one entry for all */
#define P_WORDS 64
#define MS_MAX_RUNS 16  /* entries of a midstate table (8 words each) */

/* Layout of a result buffer: hit counter, lowest hit offset, then hit offsets. */
#define R_COUNT 0
#define R_MIN 1
#define R_HITS 2
#define R_MAX_HITS 62
#define R_WORDS 64

POW_TABLE u32 POW_SHA256_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

POW_TABLE u64 POW_KECCAK_RC[24] = {
    0x0000000000000001ull, 0x0000000000008082ull, 0x800000000000808aull, 0x8000000080008000ull,
    0x000000000000808bull, 0x0000000080000001ull, 0x8000000080008081ull, 0x8000000000008009ull,
    0x000000000000008aull, 0x0000000000000088ull, 0x0000000080008009ull, 0x000000008000000aull,
    0x000000008000808bull, 0x800000000000008bull, 0x8000000000008089ull, 0x8000000000008003ull,
    0x8000000000008002ull, 0x8000000000000080ull, 0x000000000000800aull, 0x800000008000000aull,
    0x8000000080008081ull, 0x8000000000008080ull, 0x0000000080000001ull, 0x8000000080008008ull};

/* One SHA-256 compression of the 16 words w (clobbered: used as the schedule window). */
POW_INLINE void pow_sha256_block(u32 st[8], u32 w[16]) {
    u32 a = st[0], b = st[1], c = st[2], d = st[3];
    u32 e = st[4], f = st[5], g = st[6], h = st[7];
#pragma unroll
    for (int i = 0; i < 64; i++) {
        if (i >= 16) {
            u32 w2 = w[(i - 2) & 15], w15 = w[(i - 15) & 15];
            u32 s1 = xor3_32(rotr32(w2, 17), rotr32(w2, 19), w2 >> 10);
            u32 s0 = xor3_32(rotr32(w15, 7), rotr32(w15, 18), w15 >> 3);
            w[i & 15] += s1 + w[(i - 7) & 15] + s0;
        }
        u32 t1 = h + xor3_32(rotr32(e, 6), rotr32(e, 11), rotr32(e, 25)) + ch32(e, f, g) +
                 POW_SHA256_K[i] + w[i & 15];
        u32 t2 = xor3_32(rotr32(a, 2), rotr32(a, 13), rotr32(a, 22)) + maj32(a, b, c);
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    st[0] += a;
    st[1] += b;
    st[2] += c;
    st[3] += d;
    st[4] += e;
    st[5] += f;
    st[6] += g;
    st[7] += h;
}

/* Theta, rho, pi, chi and iota of one Keccak-f[1600] round on s[25]. */
POW_INLINE void pow_keccak_round(lane_t s[25], const int round) {
    lane_t c0 = lane_xor3(lane_xor3(s[0], s[5], s[10]), s[15], s[20]);
    lane_t c1 = lane_xor3(lane_xor3(s[1], s[6], s[11]), s[16], s[21]);
    lane_t c2 = lane_xor3(lane_xor3(s[2], s[7], s[12]), s[17], s[22]);
    lane_t c3 = lane_xor3(lane_xor3(s[3], s[8], s[13]), s[18], s[23]);
    lane_t c4 = lane_xor3(lane_xor3(s[4], s[9], s[14]), s[19], s[24]);
    lane_t r0 = lane_rotl(c0, 1), r1 = lane_rotl(c1, 1), r2 = lane_rotl(c2, 1);
    lane_t r3 = lane_rotl(c3, 1), r4 = lane_rotl(c4, 1);
#pragma unroll
    for (int y = 0; y < 25; y += 5) {
        s[y + 0] = lane_xor3(s[y + 0], c4, r1);
        s[y + 1] = lane_xor3(s[y + 1], c0, r2);
        s[y + 2] = lane_xor3(s[y + 2], c1, r3);
        s[y + 3] = lane_xor3(s[y + 3], c2, r4);
        s[y + 4] = lane_xor3(s[y + 4], c3, r0);
    }
    /* rho and pi along the single 24-step cycle of pi starting at lane 1 */
    lane_t t = s[1], u;
#define POW_RHO_PI(j, r) u = s[j]; s[j] = lane_rotl(t, r); t = u;
    POW_RHO_PI(10, 1) POW_RHO_PI(7, 3) POW_RHO_PI(11, 6) POW_RHO_PI(17, 10)
    POW_RHO_PI(18, 15) POW_RHO_PI(3, 21) POW_RHO_PI(5, 28) POW_RHO_PI(16, 36)
    POW_RHO_PI(8, 45) POW_RHO_PI(21, 55) POW_RHO_PI(24, 2) POW_RHO_PI(4, 14)
    POW_RHO_PI(15, 27) POW_RHO_PI(23, 41) POW_RHO_PI(19, 56) POW_RHO_PI(13, 8)
    POW_RHO_PI(12, 25) POW_RHO_PI(2, 43) POW_RHO_PI(20, 62) POW_RHO_PI(14, 18)
    POW_RHO_PI(22, 39) POW_RHO_PI(9, 61) POW_RHO_PI(6, 20) POW_RHO_PI(1, 44)
#undef POW_RHO_PI
#pragma unroll
    for (int y = 0; y < 25; y += 5) {
        lane_t b0 = s[y], b1 = s[y + 1], b2 = s[y + 2], b3 = s[y + 3], b4 = s[y + 4];
        s[y + 0] = lane_chi(b0, b1, b2);
        s[y + 1] = lane_chi(b1, b2, b3);
        s[y + 2] = lane_chi(b2, b3, b4);
        s[y + 3] = lane_chi(b3, b4, b0);
        s[y + 4] = lane_chi(b4, b0, b1);
    }
    s[0] = lane_xor(s[0], lane_const(POW_KECCAK_RC[round]));
}

/* keccak256 of the 32-byte SHA-256 digest; writes the four seal lanes (little-endian bytes). */
POW_INLINE void pow_keccak_digest(const u32 d[8], u64 out[4]) {
    lane_t s[25];
#pragma unroll
    for (int i = 0; i < 25; i++) s[i] = lane_const(0);
#pragma unroll
    for (int i = 0; i < 4; i++) s[i] = lane_make(bswap32(d[2 * i]), bswap32(d[2 * i + 1]));
    s[4] = lane_const(0x01ull);
    s[16] = lane_const(0x8000000000000000ull);
    /* Round 0 on the sparse initial state folds. */
    pow_keccak_round(s, 0);
#ifdef POW_KECCAK_LOOP
#pragma unroll 1
    for (int r = 1; r < 23; r++) pow_keccak_round(s, r);
#else
    /* Written out: NVRTC keeps a loop this large even under `#pragma unroll 22`. */
    pow_keccak_round(s, 1);
    pow_keccak_round(s, 2);
    pow_keccak_round(s, 3);
    pow_keccak_round(s, 4);
    pow_keccak_round(s, 5);
    pow_keccak_round(s, 6);
    pow_keccak_round(s, 7);
    pow_keccak_round(s, 8);
    pow_keccak_round(s, 9);
    pow_keccak_round(s, 10);
    pow_keccak_round(s, 11);
    pow_keccak_round(s, 12);
    pow_keccak_round(s, 13);
    pow_keccak_round(s, 14);
    pow_keccak_round(s, 15);
    pow_keccak_round(s, 16);
    pow_keccak_round(s, 17);
    pow_keccak_round(s, 18);
    pow_keccak_round(s, 19);
    pow_keccak_round(s, 20);
    pow_keccak_round(s, 21);
    pow_keccak_round(s, 22);
#endif
    /* Last round: only the output lanes 0..3, which come from lanes 0, 6, 12, 18, 24. */
    lane_t c0 = lane_xor3(lane_xor3(s[0], s[5], s[10]), s[15], s[20]);
    lane_t c1 = lane_xor3(lane_xor3(s[1], s[6], s[11]), s[16], s[21]);
    lane_t c2 = lane_xor3(lane_xor3(s[2], s[7], s[12]), s[17], s[22]);
    lane_t c3 = lane_xor3(lane_xor3(s[3], s[8], s[13]), s[18], s[23]);
    lane_t c4 = lane_xor3(lane_xor3(s[4], s[9], s[14]), s[19], s[24]);
    lane_t b0 = lane_xor3(s[0], c4, lane_rotl(c1, 1));
    lane_t b1 = lane_rotl(lane_xor3(s[6], c0, lane_rotl(c2, 1)), 44);
    lane_t b2 = lane_rotl(lane_xor3(s[12], c1, lane_rotl(c3, 1)), 43);
    lane_t b3 = lane_rotl(lane_xor3(s[18], c2, lane_rotl(c4, 1)), 21);
    lane_t b4 = lane_rotl(lane_xor3(s[24], c3, lane_rotl(c0, 1)), 14);
    lane_t o0 = lane_xor(lane_chi(b0, b1, b2), lane_const(POW_KECCAK_RC[23]));
    lane_t o1 = lane_chi(b1, b2, b3);
    lane_t o2 = lane_chi(b2, b3, b4);
    lane_t o3 = lane_chi(b3, b4, b0);
    out[0] = ((u64)lane_hi(o0) << 32) | lane_lo(o0);
    out[1] = ((u64)lane_hi(o1) << 32) | lane_lo(o1);
    out[2] = ((u64)lane_hi(o2) << 32) | lane_lo(o2);
    out[3] = ((u64)lane_hi(o3) << 32) | lane_lo(o3);
}

POW_INLINE u64 pow_bswap64(u64 x) {
    return ((u64)bswap32((u32)x) << 32) | bswap32((u32)(x >> 32));
}

/* Word i of kernel block blk before the nonce bytes are OR'ed in: a compile-time constant
 * where the layout fixes it (the length, zero padding, and words holding only nonce bytes and
 * perhaps the 0x80 marker), else job data from the parameters. */
POW_INLINE u32 pow_tail_word(POW_PARAMS const u32 *p, const int blk, const int i) {
#ifdef POW_MSG_END
    const int pos = blk * 64 + 4 * i; /* first byte of the word */
    const int end = pos + 4;          /* one past its last byte */
    if (blk == POW_KERNEL_BLOCKS - 1 && i >= 14) /* the length in bits, big-endian */
        return i == 15 ? (u32)(POW_MSG_BITS) : (u32)((u64)(POW_MSG_BITS) >> 32);
    if (pos > POW_MSG_END) return 0u; /* zero padding */
    const int msg_end = end < POW_MSG_END ? end : POW_MSG_END;
    const int only_nonce =
        msg_end <= pos || (pos >= POW_NONCE_OFF && msg_end <= POW_NONCE_OFF + 8);
    if (only_nonce) return POW_MSG_END < end ? 0x80u << (24 - 8 * (POW_MSG_END - pos)) : 0u;
#endif
    return p[P_TAIL + blk * 16 + i];
}

/* The seal lanes of nonce index `index` of the job. */
POW_INLINE void pow_seal_lanes(u64 index, const u32 ms[8], POW_PARAMS const u32 *p, u64 out[4]) {
    u32 rot = p[P_ROTATE] & 63u;
    u64 nonce = (index << rot) | (index >> ((64u - rot) & 63u));
    u32 st[8];
#pragma unroll
    for (int i = 0; i < 8; i++) st[i] = ms[i];
#pragma unroll
    for (int blk = 0; blk < POW_KERNEL_BLOCKS; blk++) {
        u32 w[16];
#pragma unroll
        for (int i = 0; i < 16; i++) w[i] = pow_tail_word(p, blk, i);
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int pos = POW_NONCE_OFF + i - blk * 64;
            if (pos >= 0 && pos < 64) {
                w[pos >> 2] |= ((u32)(nonce >> (8 * i)) & 0xffu) << (24 - 8 * (pos & 3));
            }
        }
        pow_sha256_block(st, w);
    }
    pow_keccak_digest(st, out);
}

/* Whether the seal lanes meet the job's target (top word first, then the full comparison). */
POW_INLINE int pow_meets(const u64 o[4], POW_PARAMS const u32 *p) {
    int be = (p[P_FLAGS] & 1u) != 0;
    u64 t3 = ((u64)p[P_TARGET + 7] << 32) | p[P_TARGET + 6];
    u64 top = be ? pow_bswap64(o[0]) : o[3];
    if (top > t3) return 0;
    if (top < t3) return 1;
    u64 l2 = be ? pow_bswap64(o[1]) : o[2];
    u64 t2 = ((u64)p[P_TARGET + 5] << 32) | p[P_TARGET + 4];
    if (l2 != t2) return l2 < t2;
    u64 l1 = be ? pow_bswap64(o[2]) : o[1];
    u64 t1 = ((u64)p[P_TARGET + 3] << 32) | p[P_TARGET + 2];
    if (l1 != t1) return l1 < t1;
    u64 l0 = be ? pow_bswap64(o[3]) : o[0];
    u64 t0 = ((u64)p[P_TARGET + 1] << 32) | p[P_TARGET + 0];
    return l0 <= t0;
}

/* The midstate of index base + off: entry k of the launch's table, where k is the number of
 * run boundaries between base and the index. */
POW_INLINE void pow_midstate(u64 base, u32 off, POW_PARAMS const u32 *table,
                             POW_PARAMS const u32 *p, u32 ms[8]) {
    u32 shift = p[P_RUN_SHIFT];
    u32 k = shift >= 64u ? 0u : (u32)(((base + off) >> shift) - (base >> shift));
#pragma unroll
    for (int i = 0; i < 8; i++) ms[i] = table[8 * k + i];
}

/* Search body for one work item: offset `off` of the launch starting at index `base`. */
POW_INLINE void pow_search_one(u64 base, u32 off, POW_PARAMS const u32 *table,
                               POW_PARAMS const u32 *p, POW_OUT u32 *res) {
    u64 o[4];
    u32 ms[8];
    pow_midstate(base, off, table, p, ms);
    pow_seal_lanes(base + off, ms, p, o);
    if (pow_meets(o, p)) {
        u32 slot = atomic_inc_u32(&res[R_COUNT]);
        if (slot < R_MAX_HITS) res[R_HITS + slot] = off;
        atomic_min_u32(&res[R_MIN], off);
    }
}

/* Seal body for one work item (self-test): writes the 32 seal bytes as 8 little-endian words. */
POW_INLINE void pow_seal_one(u64 base, u32 off, POW_PARAMS const u32 *table,
                             POW_PARAMS const u32 *p, POW_OUT u32 *out) {
    u64 o[4];
    u32 ms[8];
    pow_midstate(base, off, table, p, ms);
    pow_seal_lanes(base + off, ms, p, o);
#pragma unroll
    for (int i = 0; i < 4; i++) {
        out[8 * off + 2 * i] = (u32)o[i];
        out[8 * off + 2 * i + 1] = (u32)(o[i] >> 32);
    }
}

#endif /* POW_COMMON_H */
