//! Bittensor keyfiles: the JSON layout of a key pair and the `$NACL` encryption of coldkeys.
//!
//! Encrypted layout (bittensor-wallet's NaCl format): `b"$NACL"`, a 24-byte nonce, then an
//! XSalsa20-Poly1305 secret box (16-byte tag first). The box key is Argon2i (version 1.3) of the
//! password with a fixed 16-byte salt, 8 passes over 512 MiB, one lane: libsodium's
//! `crypto_pwhash_argon2i` "sensitive" limits.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Nonce, XSalsa20Poly1305};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keypair::Sr25519Pair;
use crate::WalletError;

/// Marker that starts a NaCl-encrypted keyfile.
pub const NACL_MARKER: &[u8] = b"$NACL";
/// The fixed Argon2i salt of bittensor's NaCl keyfiles.
pub const NACL_SALT: [u8; 16] = [
    0x13, 0x71, 0x83, 0xdf, 0xf1, 0x5a, 0x09, 0xbc, 0x9c, 0x90, 0xb5, 0x51, 0x87, 0x39, 0xe9, 0xb1,
];
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Argon2i cost settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Passes over memory (libsodium's `opslimit`).
    pub passes: u32,
    /// Memory in KiB (libsodium's `memlimit` / 1024).
    pub memory_kib: u32,
}

impl KdfParams {
    /// The settings of every bittensor NaCl keyfile: 8 passes, 512 MiB.
    pub const BITTENSOR: KdfParams = KdfParams {
        passes: 8,
        memory_kib: 512 * 1024,
    };
}

/// How a keyfile's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Plain JSON.
    Plain,
    /// bittensor's current `$NACL` format.
    Nacl,
    /// Ansible Vault, used by old bittensor releases.
    AnsibleVault,
    /// Fernet tokens (`gAAAAA...`), bittensor's oldest "legacy" format.
    Fernet,
    /// Something else.
    Unknown,
}

/// Names the encoding of keyfile bytes.
pub fn detect(data: &[u8]) -> Encoding {
    let trimmed = trim_ascii_start(data);
    if data.starts_with(NACL_MARKER) {
        Encoding::Nacl
    } else if data.starts_with(b"$ANSIBLE_VAULT") {
        Encoding::AnsibleVault
    } else if data.starts_with(b"gAAAAA") {
        Encoding::Fernet
    } else if trimmed.starts_with(b"{") {
        Encoding::Plain
    } else {
        Encoding::Unknown
    }
}

fn trim_ascii_start(data: &[u8]) -> &[u8] {
    let n = data.iter().take_while(|b| b.is_ascii_whitespace()).count();
    &data[n..]
}

fn derive_key(password: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, WalletError> {
    let p = argon2::Params::new(params.memory_kib, params.passes, 1, Some(32))
        .map_err(|e| WalletError::Crypto(format!("bad Argon2 settings: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x13, p);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, &NACL_SALT, key.as_mut())
        .map_err(|e| WalletError::Crypto(format!("Argon2 failed: {e}")))?;
    Ok(key)
}

/// Encrypts keyfile bytes in the `$NACL` format with a fresh random nonce.
pub fn encrypt_nacl(
    plain: &[u8],
    password: &str,
    params: KdfParams,
) -> Result<Vec<u8>, WalletError> {
    let key = derive_key(password.as_bytes(), params)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), plain)
        .map_err(|_| WalletError::Crypto("encryption failed".into()))?;
    let mut out = Vec::with_capacity(NACL_MARKER.len() + NONCE_LEN + sealed.len());
    out.extend_from_slice(NACL_MARKER);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `$NACL` keyfile bytes. A wrong password (or damaged file) fails the tag check.
pub fn decrypt_nacl(
    data: &[u8],
    password: &str,
    params: KdfParams,
) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let body = data
        .strip_prefix(NACL_MARKER)
        .ok_or_else(|| WalletError::Format("not a $NACL keyfile".into()))?;
    if body.len() < NONCE_LEN + TAG_LEN {
        return Err(WalletError::Format(
            "the encrypted keyfile is truncated".into(),
        ));
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let key = derive_key(password.as_bytes(), params)?;
    let cipher = XSalsa20Poly1305::new(key.as_ref().into());
    cipher
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map(Zeroizing::new)
        .map_err(|_| WalletError::WrongPassword)
}

/// The JSON fields of a keyfile. Secret fields are zeroized on drop.
#[derive(Default, Serialize, Deserialize)]
pub struct KeyfileJson {
    /// Account id, `0x` hex.
    #[serde(rename = "accountId", skip_serializing_if = "Option::is_none", default)]
    pub account_id: Option<String>,
    /// Public key, `0x` hex.
    #[serde(rename = "publicKey", skip_serializing_if = "Option::is_none", default)]
    pub public_key: Option<String>,
    /// SS58 address.
    #[serde(
        rename = "ss58Address",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub ss58_address: Option<String>,
    /// BIP-39 phrase (secret).
    #[serde(
        rename = "secretPhrase",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secret_phrase: Option<Zeroizing<String>>,
    /// Mini secret key, `0x` hex (secret).
    #[serde(
        rename = "secretSeed",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub secret_seed: Option<Zeroizing<String>>,
    /// Expanded secret key, `0x` hex (secret).
    #[serde(
        rename = "privateKey",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub private_key: Option<Zeroizing<String>>,
    /// Key type: 1 is sr25519.
    #[serde(
        rename = "cryptoType",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub crypto_type: Option<u8>,
}

fn hex_secret<const N: usize>(text: &str, what: &str) -> Result<Zeroizing<[u8; N]>, WalletError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let mut out = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(t, out.as_mut())
        .map_err(|_| WalletError::BadKey(format!("{what} is not {N} bytes of hex")))?;
    Ok(out)
}

/// Parses a 32-byte public key from `0x` hex.
pub fn parse_public_hex(text: &str) -> Result<[u8; 32], WalletError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let mut out = [0u8; 32];
    hex::decode_to_slice(t, &mut out)
        .map_err(|_| WalletError::BadKey("the public key is not 32 bytes of hex".into()))?;
    Ok(out)
}

impl KeyfileJson {
    /// Parses keyfile JSON.
    pub fn parse(data: &[u8]) -> Result<Self, WalletError> {
        serde_json::from_slice(data).map_err(|e| {
            // serde's message for a wrong type quotes the value, which may be a secret (a
            // `secretSeed` given as a number): keep only the position for those.
            let detail = match e.classify() {
                serde_json::error::Category::Data => format!(
                    "a field has the wrong type at line {}, column {}",
                    e.line(),
                    e.column()
                ),
                _ => e.to_string(),
            };
            WalletError::Format(format!("the keyfile is not valid keyfile JSON ({detail})"))
        })
    }

    /// The full JSON of a key pair (public fields, `secretSeed` if given, `privateKey`).
    pub fn from_pair(pair: &Sr25519Pair, seed: Option<&[u8; 32]>) -> Self {
        let public = format!("0x{}", hex::encode(pair.public()));
        KeyfileJson {
            account_id: Some(public.clone()),
            public_key: Some(public),
            ss58_address: Some(pair.ss58()),
            secret_phrase: None,
            secret_seed: seed.map(|s| Zeroizing::new(format!("0x{}", hex::encode(s)))),
            private_key: Some(Zeroizing::new(format!(
                "0x{}",
                hex::encode(pair.private_key_bytes().as_ref())
            ))),
            crypto_type: Some(1),
        }
    }

    /// Only the public fields (what `coldkeypub.txt` holds).
    pub fn public_only(public: &[u8; 32]) -> Self {
        let hex = format!("0x{}", hex::encode(public));
        KeyfileJson {
            account_id: Some(hex.clone()),
            public_key: Some(hex),
            ss58_address: Some(crate::ss58::encode(public, 42)),
            crypto_type: Some(1),
            ..Default::default()
        }
    }

    /// Serializes to JSON bytes (zeroized on drop, as they may hold secrets).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).expect("keyfile JSON serializes"))
    }

    /// The key pair, from the phrase, else the seed, else the private key; checked against the
    /// public key fields when they are present.
    pub fn keypair(&self) -> Result<Sr25519Pair, WalletError> {
        let pair = if let Some(phrase) = &self.secret_phrase {
            Sr25519Pair::from_phrase(phrase)?
        } else if let Some(seed) = &self.secret_seed {
            Sr25519Pair::from_seed(&*hex_secret::<32>(seed, "secretSeed")?)?
        } else if let Some(pk) = &self.private_key {
            let bytes = hex_secret::<64>(pk, "privateKey")?;
            let canonical = Sr25519Pair::from_private_key(&bytes, false);
            match (canonical, self.public()) {
                (Ok(p), Ok(Some(public))) if p.public() != public => {
                    Sr25519Pair::from_private_key(&bytes, true)?
                }
                (Ok(p), _) => p,
                (Err(_), _) => Sr25519Pair::from_private_key(&bytes, true)?,
            }
        } else {
            return Err(WalletError::BadKey(
                "the keyfile holds no secret (no secretPhrase, secretSeed or privateKey)".into(),
            ));
        };
        if let Ok(Some(public)) = self.public() {
            if public != pair.public() {
                return Err(WalletError::BadKey(
                    "the keyfile's secret does not match its public key".into(),
                ));
            }
        }
        Ok(pair)
    }

    /// The public key from `publicKey`, `accountId` or `ss58Address`, if any is present.
    pub fn public(&self) -> Result<Option<[u8; 32]>, WalletError> {
        if let Some(h) = self.public_key.as_ref().or(self.account_id.as_ref()) {
            return parse_public_hex(h).map(Some);
        }
        if let Some(a) = &self.ss58_address {
            return crate::ss58::decode(a).map(Some).map_err(WalletError::from);
        }
        Ok(None)
    }
}
