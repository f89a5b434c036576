//! Cryptographic helpers: the master key that seals secrets at rest, hashing of high-entropy
//! secrets, constant-time comparison, password hashing (`password`) and the hash schemes an
//! import brings (`schemes`).

mod hash_memory;
mod hash_workers;
pub mod password;

/// The argon2 workers' memory, for the benchmark's yardstick to hash exactly as they do.
pub use hash_memory::HashMemory;
pub use hash_workers::CoreSharing;
pub mod schemes;
pub mod sigv4;
pub mod srp;

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clock::Random;

/// Errors about the master key and sealed data.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key file {path}: {msg}")]
    MasterKey { path: PathBuf, msg: String },
    #[error(
        "cannot decrypt {0}: the master key does not match the one it was sealed with, or the data is corrupt"
    )]
    Unseal(String),
    #[error("cannot encrypt {0}")]
    Seal(String),
}

/// The 256-bit key that seals private keys and other secrets at rest (XChaCha20-Poly1305),
/// and keys the MACs of values that must not be computable from the database or a cookie alone
/// (form tokens, recovery code hashes).
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    /// A separate key for MACs, derived from the master key (never the sealing key itself).
    mac_key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

const SEAL_PREFIX: &str = "v1.";

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(bytes.into()),
            mac_key: hmac_sha256(bytes, b"tessera mac key v1"),
        }
    }

    /// HMAC-SHA256 of `data` under the derived MAC key, bound to `context`, as hex.
    pub fn mac(&self, context: &str, data: &[u8]) -> String {
        let mut msg = Vec::with_capacity(context.len() + 1 + data.len());
        msg.extend_from_slice(context.as_bytes());
        msg.push(0);
        msg.extend_from_slice(data);
        hmac_sha256(&self.mac_key, &msg)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Reads the key file (one line of base64, 32 bytes).
    pub fn load(path: &Path) -> Result<Self, CryptoError> {
        let err = |msg: String| CryptoError::MasterKey {
            path: path.to_path_buf(),
            msg,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| err("is corrupt: expected one line of base64".into()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|v: Vec<u8>| {
            err(format!("is corrupt: expected 32 bytes, found {}", v.len()))
        })?;
        Ok(Self::from_bytes(&key))
    }

    /// Creates a new key file with mode 0600; fails if the file exists.
    pub fn create(path: &Path, random: &dyn Random) -> Result<Self, CryptoError> {
        let err = |msg: String| CryptoError::MasterKey {
            path: path.to_path_buf(),
            msg,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| err(format!("cannot create its directory: {e}")))?;
        }
        let mut key = [0u8; 32];
        random.fill(&mut key);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(path)
            .map_err(|e| err(format!("cannot create: {e}")))?;
        writeln!(f, "{}", STANDARD.encode(key)).map_err(|e| err(format!("cannot write: {e}")))?;
        f.sync_all()
            .map_err(|e| err(format!("cannot write: {e}")))?;
        Ok(Self::from_bytes(&key))
    }

    /// Encrypts `plain`, binding it to `context` (e.g. `pool/kid`) so sealed values cannot be swapped.
    pub fn seal(
        &self,
        plain: &[u8],
        context: &str,
        random: &dyn Random,
    ) -> Result<String, CryptoError> {
        let mut nonce = [0u8; 24];
        random.fill(&mut nonce);
        let ct = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Seal(context.to_string()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(format!("{SEAL_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    pub fn unseal(&self, sealed: &str, context: &str) -> Result<Vec<u8>, CryptoError> {
        let fail = || CryptoError::Unseal(context.to_string());
        let blob = sealed.strip_prefix(SEAL_PREFIX).ok_or_else(fail)?;
        let blob = URL_SAFE_NO_PAD.decode(blob).map_err(|_| fail())?;
        if blob.len() < 24 + 16 {
            return Err(fail());
        }
        let (nonce, ct) = blob.split_at(24);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| fail())
    }
}

/// Creates `dir` (and parents) if missing; a directory we create is private to us (0700).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// SHA-256 as lowercase hex; for high-entropy secrets (client secrets, tokens) only.
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    // HMAC takes keys of any length, so this cannot fail.
    let Ok(mut mac) = <hmac::Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return [0; 32];
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two byte strings.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    #[test]
    fn seal_is_bound_to_context_and_key() {
        let r = SeededRandom::new(b"t");
        let k = MasterKey::from_bytes(&[7; 32]);
        let s = k.seal(b"private", "p/k1", &r).unwrap();
        assert_eq!(k.unseal(&s, "p/k1").unwrap(), b"private");
        assert!(k.unseal(&s, "p/k2").is_err());
        assert!(MasterKey::from_bytes(&[8; 32]).unseal(&s, "p/k1").is_err());
        assert!(k.unseal("v1.garbage", "p/k1").is_err());
    }

    #[test]
    fn key_file_roundtrip_mode_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let r = SeededRandom::new(b"t");
        let k = MasterKey::create(&path, &r).unwrap();
        let sealed = k.seal(b"x", "c", &r).unwrap();
        assert_eq!(
            MasterKey::load(&path)
                .unwrap()
                .unseal(&sealed, "c")
                .unwrap(),
            b"x"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(MasterKey::create(&path, &r).is_err(), "never overwrites");
        std::fs::write(&path, "not base64!").unwrap();
        assert!(
            MasterKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );
        std::fs::write(&path, STANDARD.encode([1u8; 16])).unwrap();
        assert!(
            MasterKey::load(&path)
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
    }
}
