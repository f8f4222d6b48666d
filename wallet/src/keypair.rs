//! sr25519 key pairs as Substrate and Bittensor derive them (mini secret seeds, BIP-39 phrases).

use schnorrkel::{ExpansionMode, MiniSecretKey, SecretKey};
use zeroize::Zeroizing;

use crate::WalletError;

/// Signing context that Substrate uses for sr25519 signatures.
const SIGNING_CONTEXT: &[u8] = b"substrate";

/// An sr25519 key pair. The secret half is zeroized when the pair is dropped and never printed.
pub struct Sr25519Pair {
    pair: schnorrkel::Keypair,
}

impl std::fmt::Debug for Sr25519Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sr25519Pair({})",
            crate::ss58::encode(&self.public(), 42)
        )
    }
}

impl Clone for Sr25519Pair {
    fn clone(&self) -> Self {
        Sr25519Pair {
            pair: self.pair.clone(),
        }
    }
}

impl Sr25519Pair {
    /// Builds the pair from a 32-byte mini secret key (a keyfile's `secretSeed`).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, WalletError> {
        let mini = MiniSecretKey::from_bytes(seed).map_err(|_| {
            WalletError::BadKey("the secret seed is not a valid sr25519 seed".into())
        })?;
        Ok(Sr25519Pair {
            pair: mini.expand_to_keypair(ExpansionMode::Ed25519),
        })
    }

    /// Builds the pair from a BIP-39 English phrase the way Substrate does: the phrase's entropy,
    /// not its BIP-39 seed, goes through PBKDF2-HMAC-SHA512 (2048 rounds, salt `"mnemonic"`), and
    /// the first 32 bytes are the mini secret key.
    pub fn from_phrase(phrase: &str) -> Result<Self, WalletError> {
        let mnemonic =
            bip39::Mnemonic::parse_in(bip39::Language::English, phrase).map_err(|e| {
                WalletError::BadKey(format!("the secret phrase is not valid BIP-39: {e}"))
            })?;
        let entropy = Zeroizing::new(mnemonic.to_entropy());
        let mut seed = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(&entropy, b"mnemonic", 2048, seed.as_mut());
        let mut mini = Zeroizing::new([0u8; 32]);
        mini.copy_from_slice(&seed[..32]);
        Self::from_seed(&mini)
    }

    /// Builds the pair from a 64-byte expanded secret key (`privateKey` in keyfiles). bittensor-wallet
    /// 4 stores schnorrkel's canonical layout (scalar ‖ nonce); `ed25519_layout` reads the
    /// ed25519-style layout some older tools wrote instead.
    pub fn from_private_key(bytes: &[u8; 64], ed25519_layout: bool) -> Result<Self, WalletError> {
        let secret = if ed25519_layout {
            SecretKey::from_ed25519_bytes(bytes)
        } else {
            SecretKey::from_bytes(bytes)
        }
        .map_err(|_| WalletError::BadKey("the private key is not a valid sr25519 key".into()))?;
        Ok(Sr25519Pair {
            pair: secret.to_keypair(),
        })
    }

    /// A new random pair (from the operating system's random source) and its mini secret seed.
    pub fn generate() -> (Self, Zeroizing<[u8; 32]>) {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut());
        let pair = Self::from_seed(&seed).expect("any 32 bytes are a mini secret key");
        (pair, seed)
    }

    /// The 32-byte public key (also the account id).
    pub fn public(&self) -> [u8; 32] {
        self.pair.public.to_bytes()
    }

    /// The public key as an SS58 address with Bittensor's prefix 42.
    pub fn ss58(&self) -> String {
        crate::ss58::encode(&self.public(), 42)
    }

    /// Signs `message` with Substrate's sr25519 signing context; returns the 64-byte signature.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        let ctx = schnorrkel::signing_context(SIGNING_CONTEXT);
        self.pair.sign(ctx.bytes(message)).to_bytes()
    }

    /// The expanded secret key in schnorrkel's canonical layout, as bittensor-wallet writes
    /// `privateKey`.
    pub fn private_key_bytes(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.pair.secret.to_bytes())
    }
}

/// Checks an sr25519 signature made with Substrate's signing context.
pub fn verify(public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(pk) = schnorrkel::PublicKey::from_bytes(public) else {
        return false;
    };
    let Ok(sig) = schnorrkel::Signature::from_bytes(signature) else {
        return false;
    };
    pk.verify_simple(SIGNING_CONTEXT, message, &sig).is_ok()
}
