//! Bittensor wallets on disk, in the layout the Bittensor SDK uses:
//! `PATH/NAME/coldkey`, `PATH/NAME/coldkeypub.txt` and `PATH/NAME/hotkeys/HOTKEY`.
//!
//! Hotkeys are usually plain JSON; coldkeys are usually `$NACL`-encrypted JSON (see
//! [`keyfile`]). Secrets stay in memory only, in zeroizing buffers, and are never printed.

#![warn(missing_docs)]

pub mod keyfile;
pub mod keypair;
pub mod ss58;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

pub use keyfile::{Encoding, KdfParams, KeyfileJson};
pub use keypair::Sr25519Pair;

/// Environment variable that supplies the coldkey password without a prompt.
pub const PASSWORD_ENV: &str = "POW_HOST_COLDKEY_PASSWORD";

/// Everything that can go wrong with wallet files. Messages are one line and hold no secret.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// A file that must exist does not.
    #[error("{what} not found at {}", .path.display())]
    NotFound {
        /// Which file.
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A file exists but cannot be read or written.
    #[error("cannot access {}: {message}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        message: String,
    },
    /// The file's contents are not a keyfile.
    #[error("{0}")]
    Format(String),
    /// The key material is invalid.
    #[error("{0}")]
    BadKey(String),
    /// The password does not open the keyfile.
    #[error("wrong password (the keyfile could not be decrypted)")]
    WrongPassword,
    /// An encryption format this program does not read.
    #[error("{0}")]
    Unsupported(String),
    /// No password was given and there is no terminal to ask on.
    #[error("{0}")]
    NoPassword(String),
    /// An `ss58Address` that is not a valid address.
    #[error(transparent)]
    Ss58(#[from] ss58::Ss58Error),
    /// A failure in the cryptographic primitives.
    #[error("{0}")]
    Crypto(String),
    /// Another error, with the file it concerns.
    #[error("{}: {inner}", .path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What went wrong with it.
        inner: Box<WalletError>,
    },
}

impl WalletError {
    fn in_file(self, path: &Path) -> Self {
        match self {
            e @ (WalletError::NotFound { .. }
            | WalletError::Io { .. }
            | WalletError::InFile { .. }
            | WalletError::WrongPassword
            | WalletError::NoPassword(_)) => e,
            e => WalletError::InFile {
                path: path.to_path_buf(),
                inner: Box::new(e),
            },
        }
    }
}

/// Where the password for an encrypted keyfile comes from.
pub enum PasswordSource {
    /// This password.
    Given(Zeroizing<String>),
    /// [`PASSWORD_ENV`] if set, else a prompt on the terminal (an error without one).
    EnvOrPrompt,
}

impl PasswordSource {
    fn get(&self, what: &str) -> Result<Zeroizing<String>, WalletError> {
        match self {
            PasswordSource::Given(p) => Ok(p.clone()),
            PasswordSource::EnvOrPrompt => {
                if let Ok(p) = std::env::var(PASSWORD_ENV) {
                    return Ok(Zeroizing::new(p));
                }
                if !std::io::stdin().is_terminal() {
                    return Err(WalletError::NoPassword(format!(
                        "{what} is encrypted: set {PASSWORD_ENV} or run on a terminal to be asked for the password"
                    )));
                }
                rpassword::prompt_password(format!("Password to unlock {what}: "))
                    .map(Zeroizing::new)
                    .map_err(|e| WalletError::NoPassword(format!("cannot read the password: {e}")))
            }
        }
    }
}

fn home_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Expands a leading `~/` to the home folder.
pub fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => home_dir().join(rest),
        Err(_) => path.to_path_buf(),
    }
}

/// One wallet: a coldkey and one chosen hotkey.
#[derive(Debug, Clone)]
pub struct Wallet {
    /// The folder that holds wallets (`--wallet.path`).
    pub path: PathBuf,
    /// The wallet's name (`--wallet.name`).
    pub name: String,
    /// The hotkey's name (`--wallet.hotkey`).
    pub hotkey: String,
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, WalletError> {
    match std::fs::read(path) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(WalletError::NotFound {
            what,
            path: path.to_path_buf(),
        }),
        Err(e) => Err(WalletError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), WalletError> {
    use std::io::Write;
    let io = |e: std::io::Error| WalletError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(data).map_err(io)?;
    f.sync_all().map_err(io)
}

/// Decodes keyfile bytes (plain or `$NACL`) into JSON, asking for a password when encrypted.
fn open_keyfile(
    data: &[u8],
    what: &str,
    password: &PasswordSource,
) -> Result<KeyfileJson, WalletError> {
    match keyfile::detect(data) {
        Encoding::Plain => KeyfileJson::parse(data),
        Encoding::Nacl => {
            let pw = password.get(what)?;
            let plain = keyfile::decrypt_nacl(data, &pw, KdfParams::BITTENSOR)?;
            KeyfileJson::parse(&plain)
        }
        Encoding::AnsibleVault => Err(WalletError::Unsupported(format!(
            "{what} uses the old Ansible Vault encryption; re-encrypt it with a current Bittensor SDK (`btcli wallet update`)"
        ))),
        Encoding::Fernet => Err(WalletError::Unsupported(format!(
            "{what} uses bittensor's oldest (Fernet) encryption; re-encrypt it with a current Bittensor SDK (`btcli wallet update`)"
        ))),
        Encoding::Unknown => Err(WalletError::Format(format!(
            "{what} is neither keyfile JSON nor a $NACL-encrypted keyfile"
        ))),
    }
}

impl Wallet {
    /// A wallet at `path/name` with hotkey `hotkey` (`~` is expanded).
    pub fn new(path: impl AsRef<Path>, name: &str, hotkey: &str) -> Self {
        Wallet {
            path: expand_home(path.as_ref()),
            name: name.to_string(),
            hotkey: hotkey.to_string(),
        }
    }

    /// The wallet's own folder.
    pub fn dir(&self) -> PathBuf {
        self.path.join(&self.name)
    }

    /// `NAME/coldkey`.
    pub fn coldkey_path(&self) -> PathBuf {
        self.dir().join("coldkey")
    }

    /// `NAME/coldkeypub.txt`.
    pub fn coldkeypub_path(&self) -> PathBuf {
        self.dir().join("coldkeypub.txt")
    }

    /// `NAME/hotkeys/HOTKEY`.
    pub fn hotkey_path(&self) -> PathBuf {
        self.dir().join("hotkeys").join(&self.hotkey)
    }

    /// Loads the hotkey pair (asking for a password only if the hotkey is encrypted).
    pub fn hotkey_pair(&self, password: &PasswordSource) -> Result<Sr25519Pair, WalletError> {
        let path = self.hotkey_path();
        let data = Zeroizing::new(read_file(&path, "hotkey file")?);
        let what = format!("hotkey `{}`", self.hotkey);
        open_keyfile(&data, &what, password)
            .and_then(|j| j.keypair())
            .map_err(|e| e.in_file(&path))
    }

    /// The coldkey's public key from `coldkeypub.txt`.
    pub fn coldkey_public(&self) -> Result<[u8; 32], WalletError> {
        let path = self.coldkeypub_path();
        let data = read_file(&path, "coldkeypub.txt")?;
        let parsed = match keyfile::detect(&data) {
            Encoding::Plain => KeyfileJson::parse(&data),
            _ => Err(WalletError::Format(
                "coldkeypub.txt is not plain keyfile JSON".into(),
            )),
        };
        parsed
            .and_then(|j| {
                j.public()?
                    .ok_or_else(|| WalletError::BadKey("coldkeypub.txt names no public key".into()))
            })
            .map_err(|e| e.in_file(&path))
    }

    /// Loads and decrypts the coldkey pair; checks it against `coldkeypub.txt` when present.
    pub fn coldkey_pair(&self, password: &PasswordSource) -> Result<Sr25519Pair, WalletError> {
        let path = self.coldkey_path();
        let data = Zeroizing::new(read_file(&path, "coldkey file")?);
        let what = format!("coldkey of wallet `{}`", self.name);
        let pair = open_keyfile(&data, &what, password)
            .and_then(|j| j.keypair())
            .map_err(|e| e.in_file(&path))?;
        if self.coldkeypub_path().exists() {
            let public = self.coldkey_public()?;
            if public != pair.public() {
                return Err(WalletError::BadKey(format!(
                    "{} does not match the coldkey",
                    self.coldkeypub_path().display()
                )));
            }
        }
        Ok(pair)
    }

    /// Creates a new wallet with random keys: an unencrypted hotkey, `coldkeypub.txt`, and a
    /// coldkey encrypted with `coldkey_password` (plain JSON when `None`). Refuses to overwrite.
    pub fn create(
        path: impl AsRef<Path>,
        name: &str,
        hotkey: &str,
        coldkey_password: Option<&str>,
        params: KdfParams,
    ) -> Result<Wallet, WalletError> {
        let w = Wallet::new(path, name, hotkey);
        let (cold, cold_seed) = Sr25519Pair::generate();
        let (hot, hot_seed) = Sr25519Pair::generate();
        let cold_json = KeyfileJson::from_pair(&cold, Some(&cold_seed)).to_bytes();
        let cold_bytes = match coldkey_password {
            Some(pw) => Zeroizing::new(keyfile::encrypt_nacl(&cold_json, pw, params)?),
            None => cold_json,
        };
        for p in [w.coldkey_path(), w.coldkeypub_path(), w.hotkey_path()] {
            if p.exists() {
                return Err(WalletError::Io {
                    path: p,
                    message: "already exists; not overwriting".into(),
                });
            }
        }
        write_private(
            &w.hotkey_path(),
            &KeyfileJson::from_pair(&hot, Some(&hot_seed)).to_bytes(),
        )?;
        write_private(
            &w.coldkeypub_path(),
            &KeyfileJson::public_only(&cold.public()).to_bytes(),
        )?;
        write_private(&w.coldkey_path(), &cold_bytes)?;
        Ok(w)
    }
}
