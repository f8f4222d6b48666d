//! Property tests at high case counts for everything a wallet file feeds the program: keyfile
//! bytes (encoding detection, JSON, secret fields), `$NACL` envelopes, SS58 addresses, and
//! whole wallet folders with random file contents. No input may panic, and no error message
//! may carry a secret field's value.
//!
//! Encrypted cases use cheap Argon2 settings (the real ones take 512 MiB and seconds per
//! try); the envelope parsing is the same. `PROPTEST_CASES` overrides the case counts.

use pow_wallet::keyfile::{self, Encoding, KdfParams, KeyfileJson, NACL_MARKER};
use pow_wallet::{ss58, PasswordSource, Wallet, WalletError};
use proptest::prelude::*;
use zeroize::Zeroizing;

const CHEAP: KdfParams = KdfParams {
    passes: 1,
    memory_kib: 8,
};

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A JSON value for a keyfile field: usually a string (hex-like, phrase-like or anything),
/// sometimes another JSON type.
fn field_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        4 => "(0x)?[0-9a-fA-F]{0,130}".prop_map(Value::from),
        2 => "([a-z]{3,8} ){0,24}[a-z]{0,8}".prop_map(Value::from),
        2 => ".{0,40}".prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::from),
        1 => Just(Value::Null),
        1 => proptest::collection::vec(".{0,8}", 0..3).prop_map(Value::from),
    ]
}

const FIELDS: &[&str] = &[
    "accountId",
    "publicKey",
    "ss58Address",
    "secretPhrase",
    "secretSeed",
    "privateKey",
    "cryptoType",
    "somethingElse",
];

const SECRET_FIELDS: &[&str] = &["secretPhrase", "secretSeed", "privateKey"];

/// A keyfile-like JSON object with some of the known fields (and unknown ones).
fn keyfile_json() -> impl Strategy<Value = serde_json::Map<String, serde_json::Value>> {
    proptest::collection::vec((proptest::sample::select(FIELDS), field_value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// The strings that must never appear in a message: secret fields' values of 8 or more
/// characters (shorter ones can occur by chance in any sentence).
fn secrets_of(map: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    SECRET_FIELDS
        .iter()
        .filter_map(|f| map.get(*f))
        .map(|v| match v {
            serde_json::Value::String(s) => s.trim().to_string(),
            other => other.to_string(),
        })
        .filter(|s| s.len() >= 8)
        .collect()
}

fn assert_no_secret(message: &str, secrets: &[String]) -> Result<(), TestCaseError> {
    prop_assert!(!message.contains('\n'), "{message}");
    for s in secrets {
        prop_assert!(
            !message.contains(s.as_str()),
            "secret in message: {message}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn encoding_detection_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let e = keyfile::detect(&bytes);
        prop_assert_eq!(e == Encoding::Nacl, bytes.starts_with(NACL_MARKER));
    }

    #[test]
    fn keyfile_json_of_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(k) = KeyfileJson::parse(&bytes) {
            let _ = k.public();
            let _ = k.keypair();
        }
    }

    #[test]
    fn keyfile_json_with_random_fields(map in keyfile_json()) {
        let bytes = serde_json::to_vec(&map).unwrap();
        let secrets = secrets_of(&map);
        match KeyfileJson::parse(&bytes) {
            Ok(k) => {
                if let Err(e) = k.public() {
                    assert_no_secret(&e.to_string(), &secrets)?;
                }
                match k.keypair() {
                    Ok(pair) => {
                        // A secret that parsed must agree with any public field given.
                        if let Ok(Some(public)) = k.public() {
                            prop_assert_eq!(public, pair.public());
                        }
                    }
                    Err(e) => assert_no_secret(&e.to_string(), &secrets)?,
                }
            }
            Err(e) => assert_no_secret(&e.to_string(), &secrets)?,
        }
    }

    #[test]
    fn public_hex_parser(s in "(0x)?[0-9a-fA-F]{0,70}|.{0,70}") {
        if let Ok(key) = keyfile::parse_public_hex(&s) {
            let t = s.trim();
            let digits = t.strip_prefix("0x").unwrap_or(t);
            prop_assert_eq!(hex::encode(key), digits.to_ascii_lowercase());
        }
    }

    #[test]
    fn ss58_decoder(s in "[1-9A-HJ-NP-Za-km-z]{0,60}|.{0,60}") {
        if let Ok(key) = ss58::decode(&s) {
            prop_assert!(ss58::decode(&ss58::encode(&key, 42)) == Ok(key));
        }
    }

    #[test]
    fn nacl_envelope_of_any_bytes(body in proptest::collection::vec(any::<u8>(), 0..160), marker in any::<bool>()) {
        let mut data = Vec::new();
        if marker {
            data.extend_from_slice(NACL_MARKER);
        }
        data.extend_from_slice(&body);
        match keyfile::decrypt_nacl(&data, "password", CHEAP) {
            // A forged box passes the 16-byte tag with probability 2^-128.
            Ok(_) => prop_assert!(false, "random bytes decrypted"),
            Err(WalletError::WrongPassword) => prop_assert!(marker && body.len() >= 40),
            Err(WalletError::Format(m)) => prop_assert!(!m.is_empty()),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn nacl_round_trip_and_tampering(
        plain in proptest::collection::vec(any::<u8>(), 0..200),
        password in ".{0,20}",
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sealed = keyfile::encrypt_nacl(&plain, &password, CHEAP).unwrap();
        prop_assert!(sealed.starts_with(NACL_MARKER));
        let opened = keyfile::decrypt_nacl(&sealed, &password, CHEAP).unwrap();
        prop_assert_eq!(&opened[..], &plain[..]);
        // Any changed bit after the marker is refused (nonce, tag or ciphertext).
        let mut bad = sealed.clone();
        let i = NACL_MARKER.len() + flip.index(bad.len() - NACL_MARKER.len());
        bad[i] ^= 1 << bit;
        prop_assert!(keyfile::decrypt_nacl(&bad, &password, CHEAP).is_err());
        let wrong = format!("{password}x");
        prop_assert!(matches!(
            keyfile::decrypt_nacl(&sealed, &wrong, CHEAP),
            Err(WalletError::WrongPassword)
        ));
    }

    #[test]
    fn wallet_folder_with_random_files(
        hotkey in proptest::collection::vec(any::<u8>(), 0..200),
        coldkeypub in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..120),
            keyfile_json().prop_map(|m| serde_json::to_vec(&m).unwrap()),
        ],
        coldkey in keyfile_json().prop_map(|m| serde_json::to_vec(&m).unwrap()),
    ) {
        // Encrypted files would cost 512 MiB of Argon2 each; the envelope is covered above.
        prop_assume!(!hotkey.starts_with(NACL_MARKER));
        let dir = tempfile::tempdir().unwrap();
        let w = Wallet::new(dir.path(), "w", "h");
        std::fs::create_dir_all(w.hotkey_path().parent().unwrap()).unwrap();
        std::fs::write(w.hotkey_path(), &hotkey).unwrap();
        std::fs::write(w.coldkeypub_path(), &coldkeypub).unwrap();
        std::fs::write(w.coldkey_path(), &coldkey).unwrap();
        let password = PasswordSource::Given(Zeroizing::new("pw".into()));
        for r in [
            w.hotkey_pair(&password).map(|p| p.public()),
            w.coldkey_public(),
            w.coldkey_pair(&password).map(|p| p.public()),
        ] {
            if let Err(e) = r {
                prop_assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}
