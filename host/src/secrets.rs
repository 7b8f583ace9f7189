//! Secrets for custom code actions, encrypted at rest: XChaCha20-Poly1305 under a key kept
//! in the data dir (mode 0600), each secret's name bound in as associated data so a
//! ciphertext cannot be moved to another name. Values are never logged or returned.

use std::io::Write;
use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::store::{Store, StoreError};

/// The key file under the data dir.
pub const KEY_FILE: &str = "secrets.key";

/// Why a secret could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or created.
    #[error("secret key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file does not hold a 32-byte key.
    #[error("secret key file {0} is not a 32-byte key")]
    BadKey(String),
    /// A stored secret does not decrypt under this key (another data dir's key, or tampering).
    #[error("secret `{0}` cannot be decrypted with this data dir's key")]
    Undecryptable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Encrypts and decrypts secrets with the data dir's key.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl Vault {
    /// Read `<data_dir>/secrets.key`, creating it (32 random bytes, mode 0600) on first use.
    pub fn open(data_dir: &Path) -> Result<Vault, SecretError> {
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        let io = |source| SecretError::KeyFile { path: shown.clone(), source };
        let key = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = vec![0u8; 32];
                rand::rng().fill_bytes(&mut key);
                let mut file =
                    crate::store::files::private_file_options().write(true).create_new(true).open(&path).map_err(io)?;
                file.write_all(&key).map_err(io)?;
                file.sync_all().map_err(io)?;
                key
            }
            Err(e) => return Err(io(e)),
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SecretError::BadKey(shown.clone()))?;
        Ok(Vault { cipher })
    }

    /// Encrypt and store `value` under `name`, replacing any earlier value.
    pub fn put(&self, store: &Store, name: &str, value: &str, now_ms: i64) -> Result<(), SecretError> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: value.as_bytes(), aad: name.as_bytes() })
            .map_err(|_| SecretError::Undecryptable(name.to_string()))?;
        store.put_secret(name, &nonce, &sealed, now_ms)?;
        Ok(())
    }

    /// The values of the named secrets that are set, decrypted.
    pub fn get(&self, store: &Store, names: &[String]) -> Result<Vec<(String, String)>, SecretError> {
        let mut out = Vec::with_capacity(names.len());
        for (name, nonce, sealed) in store.sealed_secrets(names)? {
            let plain = (nonce.len() == 24)
                .then(|| {
                    self.cipher.decrypt(XNonce::from_slice(&nonce), Payload { msg: &sealed, aad: name.as_bytes() }).ok()
                })
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| SecretError::Undecryptable(name.clone()))?;
            out.push((name, plain));
        }
        Ok(out)
    }
}

/// A secret's name: 1 to 64 letters, digits, `_` or `-`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
