//! `pow_host::keys::parse_public_key` (SS58 addresses and hex keys) on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(key) = pow_host::keys::parse_public_key(text) {
        let address = pow_host::keys::encode_ss58(&key, 42);
        assert_eq!(pow_host::keys::parse_public_key(&address), Ok(key));
    }
});
