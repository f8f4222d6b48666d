//! Wallet files: the real bittensor-wallet format, round trips, and bad input.

use pow_wallet::keyfile::{self, KdfParams, KeyfileJson};
use pow_wallet::{PasswordSource, Sr25519Pair, Wallet, WalletError};
use std::path::PathBuf;
use zeroize::Zeroizing;

const COLD_PUB: &str = "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a";
const HOT_PUB: &str = "625e25364c7b68e0a83065ccb40afed43f8fe933e669b24f3d69a57eddb3b715";
const HOT_SS58: &str = "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe";
const PASSWORD: &str = "correct horse battery staple";
const CHEAP: KdfParams = KdfParams {
    passes: 1,
    memory_kib: 64,
};

fn fixture() -> Wallet {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bittensor_wallet_4.1.1");
    Wallet::new(path, "fixture", "default")
}

fn given(p: &str) -> PasswordSource {
    PasswordSource::Given(Zeroizing::new(p.to_string()))
}

#[test]
fn reads_bittensor_hotkey_and_coldkeypub() {
    let w = fixture();
    let hot = w.hotkey_pair(&PasswordSource::EnvOrPrompt).unwrap();
    assert_eq!(hex::encode(hot.public()), HOT_PUB);
    assert_eq!(hot.ss58(), HOT_SS58);
    assert_eq!(hex::encode(w.coldkey_public().unwrap()), COLD_PUB);

    // The same key comes out of each secret field on its own.
    let json = KeyfileJson::parse(&std::fs::read(w.hotkey_path()).unwrap()).unwrap();
    let only = |phrase: bool, seed: bool, private: bool| KeyfileJson {
        secret_phrase: json.secret_phrase.clone().filter(|_| phrase),
        secret_seed: json.secret_seed.clone().filter(|_| seed),
        private_key: json.private_key.clone().filter(|_| private),
        ..KeyfileJson::public_only(&hot.public())
    };
    for (p, s, k) in [
        (true, false, false),
        (false, true, false),
        (false, false, true),
    ] {
        assert_eq!(
            hex::encode(only(p, s, k).keypair().unwrap().public()),
            HOT_PUB
        );
    }
    // Our serialization of the pair carries the same private key bytes as bittensor's.
    let ours = KeyfileJson::from_pair(&hot, None);
    assert_eq!(ours.private_key.as_deref(), json.private_key.as_deref());
}

#[test]
fn mnemonic_matches_bittensor() {
    let pair = Sr25519Pair::from_phrase(
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk",
    )
    .unwrap();
    assert_eq!(hex::encode(pair.public()), COLD_PUB);
    let sig = pair.sign(b"pow-host");
    assert!(pow_wallet::keypair::verify(
        &pair.public(),
        b"pow-host",
        &sig
    ));
    assert!(!pow_wallet::keypair::verify(
        &pair.public(),
        b"pow-hosT",
        &sig
    ));
}

/// Two full-cost Argon2i runs (512 MiB each): wrong password, then the right one.
#[test]
fn decrypts_bittensor_coldkey() {
    let w = fixture();
    let before = std::fs::read(w.coldkey_path()).unwrap();
    let err = w.coldkey_pair(&given("wrong password")).unwrap_err();
    assert!(matches!(err, WalletError::WrongPassword), "{err}");
    assert_eq!(
        std::fs::read(w.coldkey_path()).unwrap(),
        before,
        "nothing written"
    );
    let cold = w.coldkey_pair(&given(PASSWORD)).unwrap();
    assert_eq!(hex::encode(cold.public()), COLD_PUB);
}

#[test]
fn nacl_round_trip_and_tamper() {
    let plain = br#"{"secretSeed":"0x00"}"#;
    let sealed = keyfile::encrypt_nacl(plain, "pw", CHEAP).unwrap();
    assert!(sealed.starts_with(b"$NACL"));
    assert_eq!(sealed.len(), 5 + 24 + 16 + plain.len());
    assert_eq!(keyfile::detect(&sealed), keyfile::Encoding::Nacl);
    assert_eq!(
        &keyfile::decrypt_nacl(&sealed, "pw", CHEAP).unwrap()[..],
        plain
    );
    assert!(matches!(
        keyfile::decrypt_nacl(&sealed, "pW", CHEAP),
        Err(WalletError::WrongPassword)
    ));
    let mut bad = sealed.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(keyfile::decrypt_nacl(&bad, "pw", CHEAP).is_err());
    assert!(keyfile::decrypt_nacl(&sealed[..20], "pw", CHEAP).is_err());
}

/// Two full-cost Argon2i runs: our encryption in the real format, read back by the loader.
#[test]
fn created_wallet_loads() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::create(
        dir.path(),
        "w",
        "h",
        Some("secret pw"),
        KdfParams::BITTENSOR,
    )
    .unwrap();
    let cold = w.coldkey_pair(&given("secret pw")).unwrap();
    assert_eq!(cold.public(), w.coldkey_public().unwrap());
    let hot = w.hotkey_pair(&PasswordSource::EnvOrPrompt).unwrap();
    assert_ne!(hot.public(), cold.public());
    // No overwriting.
    assert!(Wallet::create(dir.path(), "w", "h", None, CHEAP).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(w.coldkey_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn plain_coldkey_wallet_loads() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::create(dir.path(), "w", "h", None, CHEAP).unwrap();
    let cold = w.coldkey_pair(&PasswordSource::EnvOrPrompt).unwrap();
    assert_eq!(cold.public(), w.coldkey_public().unwrap());
}

#[test]
fn bad_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let w = Wallet::new(dir.path(), "none", "default");
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("hotkey file not found"), "{e}");
    let e = w.coldkey_public().unwrap_err().to_string();
    assert!(e.contains("coldkeypub.txt not found"), "{e}");

    let w = Wallet::create(dir.path(), "w", "h", None, CHEAP).unwrap();
    let write = |p: PathBuf, d: &[u8]| std::fs::write(p, d).unwrap();

    write(w.hotkey_path(), br#"{"secretSeed":"0x1234"}"#);
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("secretSeed is not 32 bytes of hex"), "{e}");
    assert!(e.contains("hotkeys/h"), "{e}");

    write(w.hotkey_path(), b"not json at all");
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("neither keyfile JSON"), "{e}");

    write(w.hotkey_path(), b"{\"publicKey\":\"0x00\"");
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not valid keyfile JSON"), "{e}");

    let other = Sr25519Pair::generate().0;
    let mut j = KeyfileJson::from_pair(&Sr25519Pair::generate().0, None);
    j.public_key = Some(format!("0x{}", hex::encode(other.public())));
    write(w.hotkey_path(), &j.to_bytes());
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match its public key"), "{e}");

    write(w.coldkey_path(), b"$ANSIBLE_VAULT;1.1;AES256\n6162");
    let e = w
        .coldkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Ansible Vault"), "{e}");
    write(w.coldkey_path(), b"gAAAAABfake");
    let e = w
        .coldkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Fernet"), "{e}");

    write(w.coldkeypub_path(), b"{}");
    let e = w.coldkey_public().unwrap_err().to_string();
    assert!(e.contains("names no public key"), "{e}");

    let secret_dir = dir.path().join("w/hotkeys/h");
    std::fs::remove_file(&secret_dir).unwrap();
    std::fs::create_dir(&secret_dir).unwrap();
    let e = w
        .hotkey_pair(&PasswordSource::EnvOrPrompt)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot access"), "{e}");
}

#[test]
fn debug_output_holds_no_secret() {
    let (pair, seed) = Sr25519Pair::generate();
    let shown = format!("{pair:?}");
    assert!(!shown.contains(&hex::encode(seed.as_ref())));
    assert!(shown.contains(&pair.ss58()));
}
