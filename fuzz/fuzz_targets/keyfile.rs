//! Wallet keyfiles on any bytes: encoding detection, keyfile JSON, its public and secret
//! fields, and the `$NACL` envelope (with cheap Argon2 settings; the parsing is the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pow_wallet::keyfile::{self, KdfParams, KeyfileJson};

const CHEAP: KdfParams = KdfParams {
    passes: 1,
    memory_kib: 8,
};

fuzz_target!(|data: &[u8]| {
    let _ = keyfile::detect(data);
    if let Ok(k) = KeyfileJson::parse(data) {
        let _ = k.public();
        let _ = k.keypair();
    }
    if data.starts_with(keyfile::NACL_MARKER) {
        assert!(keyfile::decrypt_nacl(data, "password", CHEAP).is_err());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = pow_wallet::ss58::decode(text);
        let _ = keyfile::parse_public_hex(text);
    }
});
