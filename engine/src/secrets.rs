//! Credential secrets at rest: XChaCha20-Poly1305 with a 256-bit key from
//! the operator (`credential_key_file`) or generated once into the data
//! directory (mode 0600). The credential's id is the associated data, so a
//! sealed secret copied onto another credential does not open.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The generated key's file inside the data directory.
pub const CREDENTIAL_KEY_FILE: &str = "credential.key";
/// The longest secret accepted, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;
/// The first byte of every sealed secret: the format (cipher and layout).
const FORMAT_V1: u8 = 1;
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

/// The key that seals and opens credential secrets.
#[derive(Clone)]
pub struct CredentialKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(..)")
    }
}

impl CredentialKey {
    /// The key of these 32 bytes (256 bits).
    pub fn from_bytes(key: [u8; KEY_BYTES]) -> CredentialKey {
        CredentialKey {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Reads `configured` (which must exist), else `<data>/credential.key`,
    /// else generates that file. The file holds the key as 64 hex digits.
    pub fn load_or_create(configured: Option<&Path>, data: &Path) -> anyhow::Result<CredentialKey> {
        let path: PathBuf = match configured {
            Some(path) => path.to_path_buf(),
            None => data.join(CREDENTIAL_KEY_FILE),
        };
        if configured.is_none() && !path.exists() {
            let mut key = [0u8; KEY_BYTES];
            getrandom::fill(&mut key)
                .map_err(|e| anyhow::anyhow!("no randomness for the credential key: {e}"))?;
            write_private(&path, &hex::encode(key))
                .with_context(|| format!("cannot write {}", path.display()))?;
            return Ok(CredentialKey::from_bytes(key));
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read credential key {}", path.display()))?;
        let key: [u8; KEY_BYTES] = hex::decode(text.trim())
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .with_context(|| format!("{} must hold {KEY_BYTES} bytes as hex", path.display()))?;
        Ok(CredentialKey::from_bytes(key))
    }

    /// Encrypts `secret` for credential `id`: format byte, nonce, ciphertext.
    pub fn seal(&self, id: Uuid, secret: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut nonce).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: id.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| Error::Internal("credential encryption failed".into()))?;
        Ok([&[FORMAT_V1][..], &nonce, &ciphertext].concat())
    }

    /// Decrypts what [`seal`](Self::seal) made for credential `id`.
    pub fn open(&self, id: Uuid, sealed: &[u8]) -> Result<String> {
        let unreadable = || {
            Error::Storage(format!(
                "the secret of credential {id} does not open with this credential key"
            ))
        };
        let [FORMAT_V1, rest @ ..] = sealed else {
            return Err(unreadable());
        };
        if rest.len() < NONCE_BYTES {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: id.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

/// Creates `path` (mode 0600) holding `text`, all or nothing: the text is
/// written and synced to a temporary file first, which is then linked to
/// `path`, so a crash leaves either no file or the whole one, and an
/// existing file is never replaced.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", hex::encode(nonce)));
    let temporary = std::path::PathBuf::from(temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&temporary).and_then(|mut file| {
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    linked?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_credential_and_key() {
        let key = CredentialKey::from_bytes([7; KEY_BYTES]);
        let (id, other) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = key.seal(id, "sk-live-123").unwrap();
        assert!(!sealed.windows(11).any(|w| w == b"sk-live-123"));
        assert_eq!(key.open(id, &sealed).unwrap(), "sk-live-123");
        assert!(key.open(other, &sealed).is_err(), "opened under another id");
        let wrong = CredentialKey::from_bytes([8; KEY_BYTES]);
        assert!(wrong.open(id, &sealed).is_err(), "opened with another key");
        assert_ne!(
            sealed,
            key.seal(id, "sk-live-123").unwrap(),
            "nonces repeat"
        );
    }

    #[test]
    fn the_generated_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = CredentialKey::load_or_create(None, dir.path()).unwrap();
        let path = dir.path().join(CREDENTIAL_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let id = Uuid::now_v7();
        let sealed = first.seal(id, "s").unwrap();
        let again = CredentialKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(again.open(id, &sealed).unwrap(), "s");
        let missing = dir.path().join("nope.key");
        assert!(CredentialKey::load_or_create(Some(&missing), dir.path()).is_err());
    }
}
