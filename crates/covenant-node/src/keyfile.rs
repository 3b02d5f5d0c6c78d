//! Plaintext key files: the 32-byte ed25519 seed as 64 hex digits on one line.
//!
//! Plaintext keys are acceptable **only for test chains** (`environment = "test"`): article 41 asks
//! for keys encrypted at rest, and `covenant config check` refuses plaintext key files for a
//! production genesis. Encrypted key files are planned in `covenant-client`, which will then own
//! this format too.

use std::path::{Path, PathBuf};

use thiserror::Error;
use zeroize::Zeroizing;

use covenant_types::SecretKey;
use covenant_types::crypto::SECRET_KEY_BYTES;

/// Largest key file read, in bytes (a seed, a newline, a little whitespace).
pub const KEY_FILE_BYTES_MAX: u64 = 1024;

/// Why a key file could not be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("key file {path}: cannot read: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's message.
        reason: String,
    },
    /// The file is larger than any key file.
    #[error("key file {path}: {len_bytes} bytes is too large for a key file (at most {KEY_FILE_BYTES_MAX})")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        len_bytes: u64,
    },
    /// The content is not 64 hex digits.
    #[error("key file {path}: expected the 32-byte seed as 64 hex digits: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// A key read from a plaintext key file.
#[derive(Debug)]
pub struct PlaintextKey {
    /// The key.
    pub key: SecretKey,
    /// Unix permission bits, if known.
    pub mode: Option<u32>,
}

impl PlaintextKey {
    /// True if group or others may read or write the file (anything beyond 0600).
    pub fn too_open(&self) -> bool {
        self.mode.is_some_and(|mode| mode & 0o077 != 0)
    }
}

/// Reads a plaintext key file.
pub fn read_plaintext_key(path: &Path) -> Result<PlaintextKey, KeyFileError> {
    let read_error = |error: std::io::Error| KeyFileError::Read { path: path.to_path_buf(), reason: error.to_string() };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if metadata.len() > KEY_FILE_BYTES_MAX {
        return Err(KeyFileError::TooLarge { path: path.to_path_buf(), len_bytes: metadata.len() });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read_error)?);
    let seed = covenant_types::bytes::parse_hex::<SECRET_KEY_BYTES>(text.trim())
        .map(Zeroizing::new)
        .map_err(|reason| KeyFileError::Format { path: path.to_path_buf(), reason })?;
    Ok(PlaintextKey { key: SecretKey::from_seed(&seed), mode: mode(&metadata) })
}

#[cfg(unix)]
fn mode(metadata: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(metadata.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode(_metadata: &std::fs::Metadata) -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_seed_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.key");
        std::fs::write(&good, format!("{}\n", "07".repeat(32))).unwrap();
        let key = read_plaintext_key(&good).unwrap();
        assert_eq!(key.key.public_key(), SecretKey::from_seed(&[7; 32]).public_key());

        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "not a key").unwrap();
        assert!(matches!(read_plaintext_key(&bad), Err(KeyFileError::Format { .. })));
        let big = dir.path().join("big.key");
        std::fs::write(&big, "0".repeat(4096)).unwrap();
        assert!(matches!(read_plaintext_key(&big), Err(KeyFileError::TooLarge { .. })));
        assert!(matches!(read_plaintext_key(&dir.path().join("missing")), Err(KeyFileError::Read { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn reports_open_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        std::fs::write(&path, "01".repeat(32)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_plaintext_key(&path).unwrap().too_open());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(!read_plaintext_key(&path).unwrap().too_open());
    }
}
