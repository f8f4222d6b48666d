//! `pow_seal::parse_bytes32` (block hashes, hex keys) on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(bytes) = pow_seal::parse_bytes32(text) {
        // Whatever is accepted round-trips.
        assert_eq!(
            pow_seal::parse_bytes32(&pow_seal::to_hex(&bytes)),
            Ok(bytes)
        );
    }
});
