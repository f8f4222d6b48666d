//! SHA-256 as the miners see it: the initial state, the round constants and one compression,
//! for code that lays a message out in blocks and hashes only what changes per nonce (the CPU
//! paths, the GPU host side). Whole-message hashing stays [`crate::sha256`].

use sha2::digest::generic_array::GenericArray;

/// Bytes in one SHA-256 block.
pub const BLOCK_BYTES: usize = 64;

/// The initial state (FIPS 180-4, 5.3.3).
pub const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The 64 round constants (FIPS 180-4, 4.2.2).
pub const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Compresses one 64-byte block into `state`.
#[inline]
pub fn compress(state: &mut [u32; 8], block: &[u8; BLOCK_BYTES]) {
    sha2::compress256(state, &[*GenericArray::from_slice(block)]);
}

/// Compresses one block given as 16 big-endian message words.
#[inline]
pub fn compress_words(state: &mut [u32; 8], words: &[u32; 16]) {
    let mut block = [0u8; BLOCK_BYTES];
    for (j, w) in words.iter().enumerate() {
        block[j * 4..j * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    compress(state, &block);
}

/// The 32-byte digest of a final state.
pub fn digest_of_state(state: &[u32; 8]) -> crate::Bytes32 {
    let mut out = [0u8; 32];
    for (i, w) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain FIPS 180-4 compression written from the constants above, so that a wrong
    /// constant cannot pass unnoticed.
    fn compress_by_the_book(state: &mut [u32; 8], block: &[u8; 64]) {
        let mut w = [0u32; 64];
        for t in 0..16 {
            w[t] = u32::from_be_bytes(block[4 * t..4 * t + 4].try_into().unwrap());
        }
        for t in 16..64 {
            let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
            let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16]
                .wrapping_add(s0)
                .wrapping_add(w[t - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
        for t in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(K[t])
                .wrapping_add(w[t]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (h, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *s = s.wrapping_add(v);
        }
    }

    #[test]
    fn constants_give_the_standard_digest() {
        // "abc", padded to one block.
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(b"abc");
        block[3] = 0x80;
        block[63] = 24;
        let mut ours = IV;
        compress_by_the_book(&mut ours, &block);
        assert_eq!(digest_of_state(&ours), crate::sha256(b"abc"));
        let mut library = IV;
        compress(&mut library, &block);
        assert_eq!(library, ours);
        let mut words = [0u32; 16];
        for (j, w) in words.iter_mut().enumerate() {
            *w = u32::from_be_bytes(block[4 * j..4 * j + 4].try_into().unwrap());
        }
        let mut by_words = IV;
        compress_words(&mut by_words, &words);
        assert_eq!(by_words, ours);
    }
}
