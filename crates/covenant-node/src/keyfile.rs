//! Key files: the 32-byte ed25519 seeds of node and operator keys, encrypted at rest (article 41).
//!
//! Two formats are read (`docs/keys.md` describes both):
//!
//! - **Encrypted, `covenant-key-v1`**: a small TOML document. The seed is sealed with XChaCha20-Poly1305
//!   under a 32-byte key that Argon2id derives from a passphrase; the KDF parameters, salt and nonce are
//!   in the file, and so is the public key, in clear, so that tools can tell which key a file holds
//!   without its passphrase. After decryption the public key derived from the seed must equal the one
//!   recorded, otherwise the file is reported damaged.
//! - **Plaintext**: the seed as 64 hex digits on one line. Only for test chains: a node accepts a
//!   plaintext key only when the chain's environment is `test` *and* its config says
//!   `allow_plaintext_keys = true` ([`check_key_policy`]); `covenant init` writes such test consortia.
//!
//! Reading is bounded: a key file above [`KEY_FILE_BYTES_MAX`] is refused before it is read, and the KDF
//! parameters a file asks for are capped ([`KdfParams::MEMORY_KIB_MAX`] and friends), so a hostile file
//! cannot make the node allocate unbounded memory or spin for hours. Errors name the file and say what
//! is wrong; they never contain key or passphrase material, and seeds, derived keys and passphrases are
//! wiped from memory when dropped.
//!
//! A passphrase comes from a file (`--passphrase-file`, or `key_passphrase_file` in the node config) or,
//! failing that, from the environment variable [`PASSPHRASE_ENV`] ([`PassphraseSource`]).

use std::fmt;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::Deserialize;
use thiserror::Error;
use zeroize::Zeroizing;

use covenant_rules::Environment;
use covenant_types::crypto::SECRET_KEY_BYTES;
use covenant_types::{PublicKey, SecretKey};

use crate::config::NodeConfig;

/// Largest key file read, in bytes (an encrypted key file with its comments is about 800 bytes).
pub const KEY_FILE_BYTES_MAX: u64 = 8 * 1024;
/// The `format` of an encrypted key file written by this version.
pub const FORMAT_V1: &str = "covenant-key-v1";
/// The KDF of `covenant-key-v1`.
pub const KDF_ALGORITHM: &str = "argon2id";
/// The Argon2 version of `covenant-key-v1` (0x13, the current one).
pub const KDF_VERSION: u32 = 0x13;
/// The AEAD of `covenant-key-v1`.
pub const CIPHER_ALGORITHM: &str = "xchacha20-poly1305";
/// Salt length written, in bytes.
pub const SALT_BYTES: usize = 16;
/// Longest salt read, in bytes.
pub const SALT_BYTES_MAX: usize = 64;
/// XChaCha20-Poly1305 nonce length, in bytes.
pub const NONCE_BYTES: usize = 24;
/// Poly1305 tag length, in bytes.
pub const TAG_BYTES: usize = 16;
/// Length of the sealed seed: the seed and its tag.
pub const CIPHERTEXT_BYTES: usize = SECRET_KEY_BYTES + TAG_BYTES;
/// Environment variable holding the passphrase of key files when no passphrase file is given.
pub const PASSPHRASE_ENV: &str = "COVENANT_KEY_PASSPHRASE";
/// Environment variable holding the passphrase of key backups when no backup passphrase file is given.
pub const BACKUP_PASSPHRASE_ENV: &str = "COVENANT_BACKUP_PASSPHRASE";
/// Largest passphrase file read, in bytes.
pub const PASSPHRASE_FILE_BYTES_MAX: u64 = 4 * 1024;
/// Shortest passphrase accepted when a key is encrypted, in bytes (reading accepts any non-empty one).
pub const PASSPHRASE_BYTES_MIN: usize = 12;
/// Longest passphrase accepted, in bytes.
pub const PASSPHRASE_BYTES_MAX: usize = 1024;

/// Associated data of the AEAD: binds the sealed seed to this format.
const AEAD_ASSOCIATED_DATA: &[u8] = FORMAT_V1.as_bytes();

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

/// Why a key file could not be read, opened or written.
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
    /// The content is neither 64 hex digits nor an encrypted key file.
    #[error(
        "key file {path}: expected the 32-byte seed as 64 hex digits (a plaintext test key) or an encrypted key \
         file (format = \"{FORMAT_V1}\"): {reason}"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted key file was given no passphrase.
    #[error("key file {path} is encrypted: give its passphrase with {hint}")]
    Encrypted {
        /// The file.
        path: PathBuf,
        /// Where a passphrase can come from.
        hint: String,
    },
    /// The AEAD refused to open the sealed seed.
    #[error(
        "wrong passphrase for key file {path} (if the passphrase is right, the file's sealed seed was altered: \
         restore the key from its backup)"
    )]
    WrongPassphrase {
        /// The file.
        path: PathBuf,
    },
    /// An encrypted key file that is truncated, edited or otherwise inconsistent.
    #[error("key file {path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An encrypted key file of a format this version does not read.
    #[error("key file {path}: format {format:?} is not supported by this version (it reads \"{FORMAT_V1}\")")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The format it names.
        format: String,
    },
    /// A key backup used where a key file is expected.
    #[error(
        "key file {path} is a key backup (purpose = \"backup\"): restore it with `covenant key restore` and use \
         the restored file"
    )]
    IsBackup {
        /// The file.
        path: PathBuf,
    },
    /// A passphrase could not be read from its source.
    #[error("{source_name}: {reason}")]
    Passphrase {
        /// The passphrase file or environment variable.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// A passphrase too short to protect a key.
    #[error("{source_name}: a passphrase of {len_bytes} bytes is too short to protect a key; use at least {min_bytes}")]
    WeakPassphrase {
        /// The passphrase file or environment variable.
        source_name: String,
        /// Its length.
        len_bytes: usize,
        /// The minimum.
        min_bytes: usize,
    },
    /// Sealing failed (no randomness from the operating system, or KDF parameters refused).
    #[error("cannot seal the key: {reason}")]
    Seal {
        /// What failed.
        reason: String,
    },
    /// A key file could not be written.
    #[error("cannot write key file {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A plaintext key file where the chain or the node config does not allow one.
    #[error("{}", plaintext_refused_message(path, field, *environment))]
    PlaintextRefused {
        /// The file.
        path: PathBuf,
        /// The config field naming it, e.g. `consensus_key_file`.
        field: String,
        /// The chain's environment.
        environment: Environment,
    },
    /// `allow_plaintext_keys = true` in the config of a node of a production chain.
    #[error(
        "node config {config}: allow_plaintext_keys = true is refused on a production chain: keys must be encrypted \
         at rest (article 41, COV-41-KEY-ROTATION); remove it and encrypt the keys with `covenant key encrypt`"
    )]
    PlaintextFlagOnProduction {
        /// The node config file.
        config: PathBuf,
    },
    /// A key file sealed with test-strength KDF parameters, on a production chain.
    #[error(
        "key file {path} was encrypted with test-strength KDF parameters ({kdf}): refused on a production chain, \
         which needs at least m={} KiB t={} (article 41, COV-41-KEY-ROTATION); re-encrypt it with \
         `covenant key encrypt {path} --out NEW_FILE`",
        KdfParams::PRODUCTION_MEMORY_KIB_MIN,
        KdfParams::PRODUCTION_ITERATIONS_MIN
    )]
    WeakKdfRefused {
        /// The file.
        path: PathBuf,
        /// Its KDF parameters.
        kdf: KdfParams,
    },
}

impl KeyFileError {
    /// True for a refusal by the key policy of article 41 (plaintext key, or test-strength encryption,
    /// where the chain or the config does not allow it).
    pub fn is_policy_refusal(&self) -> bool {
        matches!(
            self,
            KeyFileError::PlaintextRefused { .. }
                | KeyFileError::PlaintextFlagOnProduction { .. }
                | KeyFileError::WeakKdfRefused { .. }
        )
    }
}

fn plaintext_refused_message(path: &Path, field: &str, environment: Environment) -> String {
    let path = path.display();
    let encrypt =
        format!("encrypt it with `covenant key encrypt {path} --out {path}.enc` and point {field} at the new file");
    match environment {
        Environment::Production => format!(
            "key file {path} is a plaintext key file, refused on a production chain: keys must be encrypted at rest \
             (article 41, COV-41-KEY-ROTATION); {encrypt}"
        ),
        Environment::Test => format!(
            "key file {path} is a plaintext key file, refused: keys must be encrypted at rest (article 41, \
             COV-41-KEY-ROTATION); {encrypt}, or, on this test chain only, set allow_plaintext_keys = true in the \
             node config"
        ),
    }
}

// ---------------------------------------------------------------------------------------------------
// KDF parameters
// ---------------------------------------------------------------------------------------------------

/// Argon2id cost parameters, as recorded in an encrypted key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory (Argon2's `t`).
    pub iterations: u32,
    /// Lanes (Argon2's `p`).
    pub parallelism: u32,
}

impl KdfParams {
    /// What `covenant keygen --encrypt`, `key encrypt`, `key backup` and `key restore` write by default:
    /// 64 MiB, three passes, four lanes (the second recommended option of RFC 9106).
    pub const PRODUCTION: KdfParams = KdfParams { memory_kib: 65_536, iterations: 3, parallelism: 4 };
    /// Written only with the hidden `--kdf-cost test` option, so that tests run fast. Refused on a
    /// production chain.
    pub const TEST: KdfParams = KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 };
    /// Least memory of a key file a production node accepts, in KiB.
    pub const PRODUCTION_MEMORY_KIB_MIN: u32 = 65_536;
    /// Fewest passes of a key file a production node accepts.
    pub const PRODUCTION_ITERATIONS_MIN: u32 = 3;
    /// Most memory a key file may ask for, in KiB (1 GiB).
    pub const MEMORY_KIB_MAX: u32 = 1024 * 1024;
    /// Most passes a key file may ask for.
    pub const ITERATIONS_MAX: u32 = 32;
    /// Most lanes a key file may ask for.
    pub const PARALLELISM_MAX: u32 = 16;

    /// True if these parameters are at least as strong as a production chain requires.
    pub fn is_production_strength(&self) -> bool {
        self.memory_kib >= Self::PRODUCTION_MEMORY_KIB_MIN && self.iterations >= Self::PRODUCTION_ITERATIONS_MIN
    }

    /// Checks the bounds every file must respect; the error names the field.
    pub fn check_bounds(&self) -> Result<(), String> {
        let within = |field: &str, value: u32, min: u32, max: u32| {
            if (min..=max).contains(&value) {
                Ok(())
            } else {
                Err(format!("kdf.{field} = {value} is outside {min}..={max}"))
            }
        };
        within("parallelism", self.parallelism, 1, Self::PARALLELISM_MAX)?;
        // Argon2 needs at least 8 KiB per lane.
        within("memory_kib", self.memory_kib, 8 * self.parallelism, Self::MEMORY_KIB_MAX)?;
        within("iterations", self.iterations, 1, Self::ITERATIONS_MAX)
    }
}

const _: () = assert!(KdfParams::PRODUCTION.memory_kib >= KdfParams::PRODUCTION_MEMORY_KIB_MIN);
const _: () = assert!(KdfParams::PRODUCTION.iterations >= KdfParams::PRODUCTION_ITERATIONS_MIN);
const _: () = assert!(KdfParams::PRODUCTION.memory_kib <= KdfParams::MEMORY_KIB_MAX);
const _: () = assert!(KdfParams::TEST.memory_kib < KdfParams::PRODUCTION_MEMORY_KIB_MIN);

impl fmt::Display for KdfParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KDF_ALGORITHM} m={} KiB t={} p={}", self.memory_kib, self.iterations, self.parallelism)
    }
}

/// The KDF cost to write: production strength, or the weak test parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KdfCost {
    /// [`KdfParams::PRODUCTION`].
    #[default]
    Production,
    /// [`KdfParams::TEST`]: for tests only; a production node refuses such files.
    Test,
}

impl KdfCost {
    /// The parameters written.
    pub fn params(self) -> KdfParams {
        match self {
            KdfCost::Production => KdfParams::PRODUCTION,
            KdfCost::Test => KdfParams::TEST,
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Passphrases
// ---------------------------------------------------------------------------------------------------

/// A passphrase; wiped from memory when dropped, never printed.
pub struct Passphrase(Zeroizing<Vec<u8>>);

impl Passphrase {
    /// Takes the bytes of a passphrase.
    pub fn new(bytes: Vec<u8>) -> Passphrase {
        Passphrase(Zeroizing::new(bytes))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True if both are the same passphrase.
    pub fn same_as(&self, other: &Passphrase) -> bool {
        self.0.as_slice() == other.0.as_slice()
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// Where a passphrase comes from: a file if one is named, otherwise an environment variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseSource {
    /// The passphrase file, if one is named (it is then the only source).
    pub file: Option<PathBuf>,
    /// The environment variable read when no file is named.
    pub env_var: &'static str,
    /// How a user names the file, for error messages (`--passphrase-file FILE`).
    pub file_option: &'static str,
}

impl PassphraseSource {
    /// The passphrase of key files, for a command with a `--passphrase-file` option.
    pub fn key(file: Option<PathBuf>) -> PassphraseSource {
        PassphraseSource { file, env_var: PASSPHRASE_ENV, file_option: "--passphrase-file FILE" }
    }

    /// The passphrase of a node's key files: `key_passphrase_file` of the node config.
    pub fn node(file: Option<PathBuf>) -> PassphraseSource {
        PassphraseSource { file, env_var: PASSPHRASE_ENV, file_option: "key_passphrase_file in the node config" }
    }

    /// The passphrase of key backups (`--backup-passphrase-file`).
    pub fn backup(file: Option<PathBuf>) -> PassphraseSource {
        PassphraseSource { file, env_var: BACKUP_PASSPHRASE_ENV, file_option: "--backup-passphrase-file FILE" }
    }

    /// How to give a passphrase, for error messages.
    pub fn hint(&self) -> String {
        format!("{} or the {} environment variable", self.file_option, self.env_var)
    }

    /// The name of the source actually used, for error messages.
    pub fn source_name(&self) -> String {
        match &self.file {
            Some(file) => format!("passphrase file {}", file.display()),
            None => format!("environment variable {}", self.env_var),
        }
    }

    /// Reads the passphrase: from the file if one is named (an unreadable or empty file is an error,
    /// never a fall-back), else from the environment variable; `None` if neither gives one.
    ///
    /// A passphrase file holds the passphrase on its first line; one trailing line break is dropped.
    pub fn read(&self) -> Result<Option<Passphrase>, KeyFileError> {
        let fail = |reason: String| KeyFileError::Passphrase { source_name: self.source_name(), reason };
        let bytes = match &self.file {
            Some(file) => {
                let len_bytes = std::fs::metadata(file).map_err(|error| fail(format!("cannot read: {error}")))?.len();
                if len_bytes > PASSPHRASE_FILE_BYTES_MAX {
                    return Err(fail(format!(
                        "{len_bytes} bytes is too large for a passphrase file (at most {PASSPHRASE_FILE_BYTES_MAX})"
                    )));
                }
                let mut bytes =
                    Zeroizing::new(std::fs::read(file).map_err(|error| fail(format!("cannot read: {error}")))?);
                if bytes.ends_with(b"\n") {
                    bytes.pop();
                    if bytes.ends_with(b"\r") {
                        bytes.pop();
                    }
                }
                bytes
            }
            None => match std::env::var_os(self.env_var) {
                None => return Ok(None),
                Some(value) => Zeroizing::new(os_string_bytes(value).map_err(fail)?),
            },
        };
        if bytes.is_empty() {
            return Err(fail("the passphrase is empty".into()));
        }
        if bytes.len() > PASSPHRASE_BYTES_MAX {
            return Err(fail(format!("a passphrase of {} bytes is longer than {PASSPHRASE_BYTES_MAX}", bytes.len())));
        }
        if bytes.contains(&b'\n') {
            return Err(fail("the passphrase spans several lines; write it on one line".into()));
        }
        Ok(Some(Passphrase::new(bytes.to_vec())))
    }

    /// Reads the passphrase and fails if there is none, naming `path` (the encrypted file it is for).
    pub fn require(&self, path: &Path) -> Result<Passphrase, KeyFileError> {
        self.read()?.ok_or_else(|| KeyFileError::Encrypted { path: path.to_path_buf(), hint: self.hint() })
    }

    /// Reads a passphrase for encrypting a new file: required, and at least [`PASSPHRASE_BYTES_MIN`]
    /// bytes long. `purpose` says what it is for (`--encrypt needs a passphrase`).
    pub fn require_new(&self, purpose: &str) -> Result<Passphrase, KeyFileError> {
        let passphrase = self.read()?.ok_or_else(|| KeyFileError::Passphrase {
            source_name: purpose.to_string(),
            reason: format!("a passphrase is needed: give it with {}", self.hint()),
        })?;
        if passphrase.len() < PASSPHRASE_BYTES_MIN {
            return Err(KeyFileError::WeakPassphrase {
                source_name: self.source_name(),
                len_bytes: passphrase.len(),
                min_bytes: PASSPHRASE_BYTES_MIN,
            });
        }
        Ok(passphrase)
    }
}

#[cfg(unix)]
fn os_string_bytes(value: std::ffi::OsString) -> Result<Vec<u8>, String> {
    use std::os::unix::ffi::OsStringExt;
    Ok(value.into_vec())
}

#[cfg(not(unix))]
fn os_string_bytes(value: std::ffi::OsString) -> Result<Vec<u8>, String> {
    value.into_string().map(String::into_bytes).map_err(|_| "the passphrase is not valid Unicode".to_string())
}

// ---------------------------------------------------------------------------------------------------
// The encrypted format
// ---------------------------------------------------------------------------------------------------

/// What an encrypted key file is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPurpose {
    /// A key in use by a node or an operator.
    Key,
    /// A backup of a key, under a backup passphrase, stored apart (article 41).
    Backup,
}

impl KeyPurpose {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Key => "key",
            KeyPurpose::Backup => "backup",
        }
    }
}

impl fmt::Display for KeyPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `covenant-key-v1` as written; unknown fields are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvelope {
    // Checked before this struct is read, so that another version is named as such.
    #[serde(rename = "format")]
    _format: String,
    purpose: String,
    public_key: String,
    #[serde(default)]
    created_at_ms: Option<u64>,
    kdf: RawKdf,
    cipher: RawCipher,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKdf {
    algorithm: String,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCipher {
    algorithm: String,
    nonce: String,
    ciphertext: String,
}

/// A parsed and checked `covenant-key-v1` file. Holds no secret: the seed is sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedKeyFile {
    /// Key in use, or backup.
    pub purpose: KeyPurpose,
    /// The public key of the sealed seed, in clear.
    pub public_key: PublicKey,
    /// When the file was written, ms since the Unix epoch, if recorded.
    pub created_at_ms: Option<u64>,
    /// The KDF parameters.
    pub kdf: KdfParams,
    salt: Vec<u8>,
    nonce: [u8; NONCE_BYTES],
    ciphertext: [u8; CIPHERTEXT_BYTES],
}

impl EncryptedKeyFile {
    /// Seals `key` under `passphrase` with a fresh random salt and nonce.
    pub fn seal(
        key: &SecretKey,
        passphrase: &Passphrase,
        kdf: KdfParams,
        purpose: KeyPurpose,
        created_at_ms: u64,
    ) -> Result<EncryptedKeyFile, KeyFileError> {
        let seal_error = |reason: String| KeyFileError::Seal { reason };
        kdf.check_bounds().map_err(seal_error)?;
        let mut salt = vec![0u8; SALT_BYTES];
        let mut nonce = [0u8; NONCE_BYTES];
        getrandom::fill(&mut salt).map_err(|error| seal_error(format!("no randomness for the salt: {error}")))?;
        getrandom::fill(&mut nonce).map_err(|error| seal_error(format!("no randomness for the nonce: {error}")))?;
        let wrapping_key = derive_key(passphrase, &salt, kdf).map_err(seal_error)?;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*wrapping_key));
        let seed = key.seed();
        let sealed = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: seed.as_ref(), aad: AEAD_ASSOCIATED_DATA })
            .map_err(|_| seal_error("the AEAD refused to encrypt".into()))?;
        let ciphertext: [u8; CIPHERTEXT_BYTES] = sealed
            .as_slice()
            .try_into()
            .map_err(|_| seal_error(format!("sealed seed of {} bytes, expected {CIPHERTEXT_BYTES}", sealed.len())))?;
        Ok(EncryptedKeyFile {
            purpose,
            public_key: key.public_key(),
            created_at_ms: Some(created_at_ms),
            kdf,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Parses and checks the text of an encrypted key file read from `path` (which names errors).
    /// Checks shapes and bounds only: the passphrase is needed to know the seed is intact.
    pub fn parse(path: &Path, text: &str) -> Result<EncryptedKeyFile, KeyFileError> {
        let damaged = |reason: String| KeyFileError::Damaged { path: path.to_path_buf(), reason };
        let table: toml::Table = toml::from_str(text).map_err(|error| {
            let (line, column) =
                error.span().map(|span| covenant_rules::genesis::line_column(text, span.start)).unwrap_or((0, 0));
            damaged(format!("not valid TOML: {} (line {line}, column {column})", error.message().trim()))
        })?;
        match table.get("format") {
            None => return Err(damaged("no format field".into())),
            Some(toml::Value::String(format)) if format == FORMAT_V1 => {}
            Some(toml::Value::String(format)) => {
                return Err(KeyFileError::Unsupported { path: path.to_path_buf(), format: format.clone() });
            }
            Some(other) => return Err(damaged(format!("format is a {}, not a string", other.type_str()))),
        }
        let raw: RawEnvelope = toml::from_str(text).map_err(|error| damaged(error.message().trim().to_string()))?;
        let purpose = match raw.purpose.as_str() {
            "key" => KeyPurpose::Key,
            "backup" => KeyPurpose::Backup,
            other => return Err(damaged(format!("purpose {other:?} is neither \"key\" nor \"backup\""))),
        };
        let public_key =
            PublicKey::from_hex(&raw.public_key).map_err(|reason| damaged(format!("public_key: {reason}")))?;
        if raw.kdf.algorithm != KDF_ALGORITHM {
            return Err(damaged(format!("kdf.algorithm {:?} is not {KDF_ALGORITHM:?}", raw.kdf.algorithm)));
        }
        if raw.kdf.version != KDF_VERSION {
            return Err(damaged(format!("kdf.version {} is not {KDF_VERSION}", raw.kdf.version)));
        }
        let kdf = KdfParams {
            memory_kib: raw.kdf.memory_kib,
            iterations: raw.kdf.iterations,
            parallelism: raw.kdf.parallelism,
        };
        kdf.check_bounds().map_err(damaged)?;
        let salt = hex::decode(&raw.kdf.salt).map_err(|error| damaged(format!("kdf.salt: not hex: {error}")))?;
        if !(SALT_BYTES..=SALT_BYTES_MAX).contains(&salt.len()) {
            return Err(damaged(format!(
                "kdf.salt has {} bytes, expected {SALT_BYTES} to {SALT_BYTES_MAX}",
                salt.len()
            )));
        }
        if raw.cipher.algorithm != CIPHER_ALGORITHM {
            return Err(damaged(format!("cipher.algorithm {:?} is not {CIPHER_ALGORITHM:?}", raw.cipher.algorithm)));
        }
        let nonce = covenant_types::bytes::parse_hex::<NONCE_BYTES>(&raw.cipher.nonce)
            .map_err(|reason| damaged(format!("cipher.nonce: {reason}")))?;
        let ciphertext = covenant_types::bytes::parse_hex::<CIPHERTEXT_BYTES>(&raw.cipher.ciphertext)
            .map_err(|reason| damaged(format!("cipher.ciphertext: {reason}")))?;
        Ok(EncryptedKeyFile { purpose, public_key, created_at_ms: raw.created_at_ms, kdf, salt, nonce, ciphertext })
    }

    /// Opens the sealed seed with `passphrase` and checks it against the recorded public key.
    pub fn open(&self, path: &Path, passphrase: &Passphrase) -> Result<SecretKey, KeyFileError> {
        let damaged = |reason: String| KeyFileError::Damaged { path: path.to_path_buf(), reason };
        let wrapping_key = derive_key(passphrase, &self.salt, self.kdf).map_err(damaged)?;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*wrapping_key));
        let seed = Zeroizing::new(
            cipher
                .decrypt(&XNonce::from(self.nonce), Payload { msg: &self.ciphertext, aad: AEAD_ASSOCIATED_DATA })
                .map_err(|_| KeyFileError::WrongPassphrase { path: path.to_path_buf() })?,
        );
        let seed: Zeroizing<[u8; SECRET_KEY_BYTES]> = Zeroizing::new(
            seed.as_slice()
                .try_into()
                .map_err(|_| damaged(format!("the sealed seed has {} bytes, not {SECRET_KEY_BYTES}", seed.len())))?,
        );
        let key = SecretKey::from_seed(&seed);
        if key.public_key() != self.public_key {
            return Err(damaged(format!(
                "the sealed seed belongs to public key {}, but the file records {}",
                key.public_key(),
                self.public_key
            )));
        }
        Ok(key)
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let purpose_note = match self.purpose {
            KeyPurpose::Key => "a key in use",
            KeyPurpose::Backup => "a key BACKUP, under its own passphrase: store it apart from the node (article 41)",
        };
        let created = self.created_at_ms.map(|ms| format!("created_at_ms = {ms}\n")).unwrap_or_default();
        format!(
            "# Covenant encrypted key file ({purpose_note}); format described in docs/keys.md.\n\
             # The public key is in clear; the seed is sealed with XChaCha20-Poly1305 under a key derived from a\n\
             # passphrase with Argon2id. Never edit this file: any change makes it unusable.\n\
             format = \"{FORMAT_V1}\"\n\
             purpose = \"{}\"\n\
             public_key = \"{}\"\n\
             {created}\n\
             [kdf]\n\
             algorithm = \"{KDF_ALGORITHM}\"\n\
             version = {KDF_VERSION}\n\
             memory_kib = {}\n\
             iterations = {}\n\
             parallelism = {}\n\
             salt = \"{}\"\n\n\
             [cipher]\n\
             algorithm = \"{CIPHER_ALGORITHM}\"\n\
             nonce = \"{}\"\n\
             ciphertext = \"{}\"\n",
            self.purpose,
            self.public_key.to_hex(),
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            hex::encode(&self.salt),
            hex::encode(self.nonce),
            hex::encode(self.ciphertext),
        )
    }
}

/// Argon2id over the passphrase; the caller has checked the parameters' bounds.
fn derive_key(passphrase: &Passphrase, salt: &[u8], kdf: KdfParams) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|error| format!("KDF parameters {kdf} refused: {error}"))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.bytes(), salt, out.as_mut())
        .map_err(|error| format!("key derivation with {kdf} failed: {error}"))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------
// Reading key files
// ---------------------------------------------------------------------------------------------------

/// How a key file stores its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFormat {
    /// 64 hex digits (test chains only).
    Plaintext,
    /// `covenant-key-v1`, with these KDF parameters.
    Encrypted(KdfParams),
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFormat::Plaintext => f.write_str("plaintext (test chains only)"),
            KeyFormat::Encrypted(kdf) => {
                write!(f, "{FORMAT_V1}, {kdf}, {CIPHER_ALGORITHM}")?;
                if !kdf.is_production_strength() {
                    f.write_str(" (TEST strength: refused on production chains)")?;
                }
                Ok(())
            }
        }
    }
}

/// What can be known of a key file without its passphrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyFileInfo {
    /// The file.
    pub path: PathBuf,
    /// Plaintext or encrypted.
    pub format: KeyFormat,
    /// Key in use or backup (a plaintext file is a key).
    pub purpose: KeyPurpose,
    /// The public key (recorded in clear, or derived from a plaintext seed).
    pub public_key: PublicKey,
    /// When an encrypted file was written, if recorded.
    pub created_at_ms: Option<u64>,
    /// Unix permission bits, if known.
    pub mode: Option<u32>,
}

impl KeyFileInfo {
    /// True if group or others may read or write the file (anything beyond 0600).
    pub fn too_open(&self) -> bool {
        self.mode.is_some_and(|mode| mode & 0o077 != 0)
    }
}

/// A key read from a key file.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key.
    pub key: SecretKey,
    /// Plaintext or encrypted.
    pub format: KeyFormat,
    /// Key in use or backup.
    pub purpose: KeyPurpose,
    /// Unix permission bits, if known.
    pub mode: Option<u32>,
}

impl LoadedKey {
    /// True if group or others may read or write the file (anything beyond 0600).
    pub fn too_open(&self) -> bool {
        self.mode.is_some_and(|mode| mode & 0o077 != 0)
    }
}

/// A key read from a key file by a command without a passphrase option ([`read_plaintext_key`]).
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

/// A key file's content, read and told apart.
enum Content {
    Plaintext(Box<SecretKey>),
    Encrypted(Box<EncryptedKeyFile>),
}

fn read_content(path: &Path) -> Result<(Content, Option<u32>), KeyFileError> {
    let read_error = |error: std::io::Error| KeyFileError::Read { path: path.to_path_buf(), reason: error.to_string() };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if metadata.len() > KEY_FILE_BYTES_MAX {
        return Err(KeyFileError::TooLarge { path: path.to_path_buf(), len_bytes: metadata.len() });
    }
    let bytes = Zeroizing::new(std::fs::read(path).map_err(read_error)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        if bytes.windows(b"covenant-key".len()).any(|window| window == b"covenant-key") {
            KeyFileError::Damaged { path: path.to_path_buf(), reason: "not valid UTF-8 text".into() }
        } else {
            KeyFileError::Format { path: path.to_path_buf(), reason: "not text".into() }
        }
    })?;
    let trimmed = text.trim();
    let digits = trimmed.strip_prefix("0x").unwrap_or(trimmed);
    let looks_encrypted = !digits.chars().all(|c| c.is_ascii_hexdigit()) && text.contains("covenant-key");
    let content = if looks_encrypted {
        Content::Encrypted(Box::new(EncryptedKeyFile::parse(path, text)?))
    } else {
        let seed = covenant_types::bytes::parse_hex::<SECRET_KEY_BYTES>(trimmed)
            .map(Zeroizing::new)
            .map_err(|reason| KeyFileError::Format { path: path.to_path_buf(), reason })?;
        Content::Plaintext(Box::new(SecretKey::from_seed(&seed)))
    };
    Ok((content, mode(&metadata)))
}

/// Describes a key file without its passphrase: format, purpose, public key, mode.
pub fn inspect_key_file(path: &Path) -> Result<KeyFileInfo, KeyFileError> {
    let (content, mode) = read_content(path)?;
    Ok(match content {
        Content::Plaintext(key) => KeyFileInfo {
            path: path.to_path_buf(),
            format: KeyFormat::Plaintext,
            purpose: KeyPurpose::Key,
            public_key: key.public_key(),
            created_at_ms: None,
            mode,
        },
        Content::Encrypted(file) => KeyFileInfo {
            path: path.to_path_buf(),
            format: KeyFormat::Encrypted(file.kdf),
            purpose: file.purpose,
            public_key: file.public_key,
            created_at_ms: file.created_at_ms,
            mode,
        },
    })
}

fn open_content(path: &Path, source: &PassphraseSource, accept_backup: bool) -> Result<LoadedKey, KeyFileError> {
    let (content, mode) = read_content(path)?;
    match content {
        Content::Plaintext(key) => {
            Ok(LoadedKey { key: *key, format: KeyFormat::Plaintext, purpose: KeyPurpose::Key, mode })
        }
        Content::Encrypted(file) => {
            if file.purpose == KeyPurpose::Backup && !accept_backup {
                return Err(KeyFileError::IsBackup { path: path.to_path_buf() });
            }
            let passphrase = source.require(path)?;
            let key = file.open(path, &passphrase)?;
            Ok(LoadedKey { key, format: KeyFormat::Encrypted(file.kdf), purpose: file.purpose, mode })
        }
    }
}

/// Reads a key file, plaintext or encrypted; an encrypted one is opened with the passphrase from
/// `source`. Key backups are refused here ([`KeyFileError::IsBackup`]): restore them first. Whether a
/// plaintext key is acceptable is the caller's decision ([`check_key_policy`]).
pub fn read_key_file(path: &Path, source: &PassphraseSource) -> Result<LoadedKey, KeyFileError> {
    open_content(path, source, false)
}

/// Reads a key backup (or a key file), opened with the passphrase from `source`.
pub fn read_backup_file(path: &Path, source: &PassphraseSource) -> Result<LoadedKey, KeyFileError> {
    open_content(path, source, true)
}

/// Reads a key file for a command that has no passphrase option (`covenant tx`, `covenant gov`): a
/// plaintext key file, or an encrypted one whose passphrase is in [`PASSPHRASE_ENV`].
pub fn read_plaintext_key(path: &Path) -> Result<PlaintextKey, KeyFileError> {
    let loaded = read_key_file(path, &PassphraseSource::key(None)).map_err(|error| match error {
        // This command has no --passphrase-file: name the one source it reads.
        KeyFileError::Encrypted { path, .. } => {
            KeyFileError::Encrypted { path, hint: format!("the {PASSPHRASE_ENV} environment variable") }
        }
        other => other,
    })?;
    Ok(PlaintextKey { key: loaded.key, mode: loaded.mode })
}

/// Checks a key file's format against the key policy of article 41: plaintext only on a test chain
/// whose node config says `allow_plaintext_keys = true`; on a production chain, encryption of
/// production strength only. `field` names the config field of the file.
pub fn check_key_policy(
    path: &Path,
    field: &str,
    format: KeyFormat,
    environment: Environment,
    allow_plaintext_keys: bool,
) -> Result<(), KeyFileError> {
    match (format, environment) {
        (KeyFormat::Plaintext, Environment::Test) if allow_plaintext_keys => Ok(()),
        (KeyFormat::Plaintext, _) => {
            Err(KeyFileError::PlaintextRefused { path: path.to_path_buf(), field: field.to_string(), environment })
        }
        (KeyFormat::Encrypted(kdf), Environment::Production) if !kdf.is_production_strength() => {
            Err(KeyFileError::WeakKdfRefused { path: path.to_path_buf(), kdf })
        }
        (KeyFormat::Encrypted(_), _) => Ok(()),
    }
}

/// Checks the node config's `allow_plaintext_keys` against the chain's environment.
pub fn check_plaintext_flag(config: &NodeConfig, environment: Environment) -> Result<(), KeyFileError> {
    if config.allow_plaintext_keys && environment == Environment::Production {
        return Err(KeyFileError::PlaintextFlagOnProduction { config: config.file.clone() });
    }
    Ok(())
}

/// A node's two keys.
#[derive(Debug)]
pub struct NodeKeys {
    /// Signs consensus messages and commit seals.
    pub consensus: LoadedKey,
    /// The peer identity.
    pub network: LoadedKey,
}

/// Loads a node's consensus and network keys as its config names them, enforcing the key policy of
/// article 41 for the chain's `environment` before any passphrase is used.
pub fn load_node_keys(config: &NodeConfig, environment: Environment) -> Result<NodeKeys, KeyFileError> {
    check_plaintext_flag(config, environment)?;
    let source = PassphraseSource::node(config.key_passphrase_file.clone());
    let load = |field: &str, path: &Path| -> Result<LoadedKey, KeyFileError> {
        let info = inspect_key_file(path)?;
        check_key_policy(path, field, info.format, environment, config.allow_plaintext_keys)?;
        let key = read_key_file(path, &source)?;
        match key.format {
            KeyFormat::Plaintext => tracing::warn!(
                file = %path.display(),
                public_key = %key.key.public_key(),
                "{field}: plaintext key file accepted on a test chain (allow_plaintext_keys = true); never on a \
                 production chain"
            ),
            KeyFormat::Encrypted(kdf) => tracing::info!(
                file = %path.display(),
                public_key = %key.key.public_key(),
                %kdf,
                "{field}: encrypted key file opened"
            ),
        }
        Ok(key)
    };
    Ok(NodeKeys {
        consensus: load("consensus_key_file", &config.consensus_key_file)?,
        network: load("network_key_file", &config.network_key_file)?,
    })
}

// ---------------------------------------------------------------------------------------------------
// Writing key files
// ---------------------------------------------------------------------------------------------------

/// Writes `bytes` to a new file at `path`, mode 0600, synced; never overwrites an existing file.
pub fn write_new_private_file(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    use std::io::Write;
    let write_error = |reason: String| KeyFileError::Write { path: path.to_path_buf(), reason };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            write_error("it already exists (key files are never overwritten)".into())
        } else {
            write_error(error.to_string())
        }
    })?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(error) = written {
        drop(file);
        // A half-written key file is worse than none; the file is ours, created just above.
        let _ = std::fs::remove_file(path);
        return Err(write_error(error.to_string()));
    }
    Ok(())
}

/// Seals `key` under `passphrase` and writes it to a new file at `path` (mode 0600, never overwriting).
pub fn write_encrypted_key(
    path: &Path,
    key: &SecretKey,
    passphrase: &Passphrase,
    kdf: KdfParams,
    purpose: KeyPurpose,
) -> Result<EncryptedKeyFile, KeyFileError> {
    let file = EncryptedKeyFile::seal(key, passphrase, kdf, purpose, now_ms())?;
    write_new_private_file(path, file.to_text().as_bytes())?;
    Ok(file)
}

/// Writes `key` as a plaintext key file (test chains only) to a new file at `path`, mode 0600.
pub fn write_plaintext_key(path: &Path, key: &SecretKey) -> Result<(), KeyFileError> {
    let text = Zeroizing::new(format!("{}\n", hex::encode(key.seed().as_ref())));
    write_new_private_file(path, text.as_bytes())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The permission bits of a secret's file when its group or others may access it.
pub fn group_or_world_access(metadata: &std::fs::Metadata) -> Option<u32> {
    mode(metadata).filter(|mode| mode & 0o077 != 0)
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

    fn passphrase(text: &str) -> Passphrase {
        Passphrase::new(text.as_bytes().to_vec())
    }

    fn source_file(dir: &Path, text: &str) -> PassphraseSource {
        let file = dir.join(format!("pass-{}", text.len()));
        std::fs::write(&file, format!("{text}\n")).unwrap();
        PassphraseSource::key(Some(file))
    }

    fn sealed(dir: &Path, name: &str, seed: u8) -> PathBuf {
        let path = dir.join(name);
        let key = SecretKey::from_seed(&[seed; 32]);
        write_encrypted_key(&path, &key, &passphrase("correct horse battery"), KdfParams::TEST, KeyPurpose::Key)
            .unwrap();
        path
    }

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
        std::fs::write(&big, "0".repeat(KEY_FILE_BYTES_MAX as usize + 1)).unwrap();
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

    // covers: COV-41-KEY-ROTATION
    #[test]
    fn encrypted_round_trip_and_clear_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealed(dir.path(), "k.key", 9);
        let expected = SecretKey::from_seed(&[9; 32]).public_key();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("format = \"covenant-key-v1\"") && text.contains(&expected.to_hex()), "{text}");
        assert!(!text.contains(&"09".repeat(32)), "the seed must not be in clear");
        #[cfg(unix)]
        assert_eq!(inspect_key_file(&path).unwrap().mode, Some(0o600));

        let info = inspect_key_file(&path).unwrap();
        assert_eq!(
            (info.public_key, info.format, info.purpose),
            (expected, KeyFormat::Encrypted(KdfParams::TEST), KeyPurpose::Key)
        );
        let loaded = read_key_file(&path, &source_file(dir.path(), "correct horse battery")).unwrap();
        assert_eq!(loaded.key.public_key(), expected);
        assert_eq!(loaded.key.seed().as_ref(), &[9; 32]);
        // Two seals of one key differ (fresh salt and nonce).
        let again = sealed(dir.path(), "k2.key", 9);
        assert_ne!(std::fs::read_to_string(&again).unwrap(), text);
    }

    // covers: COV-41-KEY-ROTATION
    #[test]
    fn missing_and_wrong_passphrases_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealed(dir.path(), "k.key", 3);
        let none = PassphraseSource {
            file: None,
            env_var: "COVENANT_TEST_UNSET_VARIABLE",
            file_option: "--passphrase-file FILE",
        };
        let error = read_key_file(&path, &none).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "key file {} is encrypted: give its passphrase with --passphrase-file FILE or the \
                 COVENANT_TEST_UNSET_VARIABLE environment variable",
                path.display()
            )
        );
        let error = read_key_file(&path, &source_file(dir.path(), "wrong horse battery")).unwrap_err();
        assert_eq!(error, KeyFileError::WrongPassphrase { path: path.clone() });
        assert!(error.to_string().starts_with(&format!("wrong passphrase for key file {}", path.display())));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let error = read_key_file(&path, &PassphraseSource::key(Some(empty.clone()))).unwrap_err();
        assert_eq!(error.to_string(), format!("passphrase file {}: the passphrase is empty", empty.display()));
        let error = read_key_file(&path, &PassphraseSource::key(Some(dir.path().join("nope")))).unwrap_err();
        assert!(error.to_string().contains("nope: cannot read"), "{error}");
        let short = source_file(dir.path(), "short");
        assert!(matches!(short.require_new("test"), Err(KeyFileError::WeakPassphrase { len_bytes: 5, .. })));
    }

    // covers: COV-41-KEY-ROTATION
    #[test]
    fn damaged_files_are_named_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = sealed(dir.path(), "k.key", 5);
        let text = std::fs::read_to_string(&path).unwrap();
        let source = source_file(dir.path(), "correct horse battery");
        let write = |name: &str, content: &str| {
            let file = dir.path().join(name);
            std::fs::write(&file, content).unwrap();
            file
        };
        let damaged = |file: &Path| match read_key_file(file, &source) {
            Err(KeyFileError::Damaged { reason, .. }) => reason,
            other => panic!("{}: expected damaged, got {other:?}", file.display()),
        };

        // Truncated mid-way, and truncated at a line boundary.
        assert!(damaged(&write("cut.key", &text[..text.len() / 2])).len() > 3);
        let lines: Vec<&str> = text.lines().collect();
        let reason = damaged(&write("lines.key", &lines[..lines.len() - 1].join("\n")));
        assert!(reason.contains("ciphertext"), "{reason}");
        // Another public key recorded: the seed does not match it.
        let other = SecretKey::from_seed(&[6; 32]).public_key().to_hex();
        let mine = SecretKey::from_seed(&[5; 32]).public_key().to_hex();
        let reason = damaged(&write("pk.key", &text.replace(&mine, &other)));
        assert!(reason.contains("the sealed seed belongs to public key"), "{reason}");
        // Out-of-bounds KDF parameters are refused before any memory is allocated.
        let reason = damaged(&write("mem.key", &text.replace("memory_kib = 64", "memory_kib = 4000000000")));
        assert!(reason.contains("kdf.memory_kib = 4000000000 is outside"), "{reason}");
        let reason = damaged(&write("iter.key", &text.replace("iterations = 1", "iterations = 100000")));
        assert!(reason.contains("kdf.iterations"), "{reason}");
        let reason = damaged(&write("field.key", &text.replace("[cipher]", "extra = 1\n[cipher]")));
        assert!(reason.contains("unknown field"), "{reason}");
        // A flipped ciphertext digit: the AEAD refuses, as for a wrong passphrase.
        let start = text.find("ciphertext = \"").unwrap() + "ciphertext = \"".len();
        let mut flipped = text.clone();
        let digit = if &text[start..=start] == "0" { "1" } else { "0" };
        flipped.replace_range(start..=start, digit);
        assert!(matches!(
            read_key_file(&write("flip.key", &flipped), &source),
            Err(KeyFileError::WrongPassphrase { .. })
        ));
        // Another format version.
        let error = read_key_file(&write("v9.key", &text.replace("covenant-key-v1", "covenant-key-v9")), &source);
        assert!(matches!(error, Err(KeyFileError::Unsupported { .. })), "{error:?}");
        // Not UTF-8.
        let mut bytes = text.clone().into_bytes();
        bytes[text.len() - 5] = 0xff;
        let binary = dir.path().join("binary.key");
        std::fs::write(&binary, bytes).unwrap();
        assert!(matches!(read_key_file(&binary, &source), Err(KeyFileError::Damaged { .. })));
    }

    // covers: COV-41-KEY-ROTATION
    #[test]
    fn key_policy_of_article_41() {
        let path = Path::new("k.key");
        let weak = KeyFormat::Encrypted(KdfParams::TEST);
        let strong = KeyFormat::Encrypted(KdfParams::PRODUCTION);
        assert!(check_key_policy(path, "f", KeyFormat::Plaintext, Environment::Test, true).is_ok());
        let refused = check_key_policy(path, "consensus_key_file", KeyFormat::Plaintext, Environment::Test, false);
        let message = refused.unwrap_err().to_string();
        assert!(message.contains("article 41") && message.contains("covenant key encrypt k.key"), "{message}");
        assert!(message.contains("allow_plaintext_keys = true"), "{message}");
        let refused = check_key_policy(path, "f", KeyFormat::Plaintext, Environment::Production, true).unwrap_err();
        assert!(refused.to_string().contains("refused on a production chain"), "{refused}");
        assert!(refused.is_policy_refusal());
        assert!(check_key_policy(path, "f", weak, Environment::Test, false).is_ok());
        assert!(matches!(
            check_key_policy(path, "f", weak, Environment::Production, false),
            Err(KeyFileError::WeakKdfRefused { .. })
        ));
        assert!(check_key_policy(path, "f", strong, Environment::Production, false).is_ok());
        assert!(KdfParams::PRODUCTION.is_production_strength() && !KdfParams::TEST.is_production_strength());
        assert!(KdfParams::PRODUCTION.check_bounds().is_ok() && KdfParams::TEST.check_bounds().is_ok());
    }

    #[test]
    fn backups_are_not_used_as_keys_and_files_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.key");
        let key = SecretKey::from_seed(&[4; 32]);
        let pass = passphrase("backup passphrase 1");
        write_encrypted_key(&path, &key, &pass, KdfParams::TEST, KeyPurpose::Backup).unwrap();
        let source = source_file(dir.path(), "backup passphrase 1");
        assert!(matches!(read_key_file(&path, &source), Err(KeyFileError::IsBackup { .. })));
        assert_eq!(read_backup_file(&path, &source).unwrap().purpose, KeyPurpose::Backup);
        let again = write_encrypted_key(&path, &key, &pass, KdfParams::TEST, KeyPurpose::Key).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
        assert!(write_plaintext_key(&path, &key).is_err());
        assert_eq!(format!("{pass:?}"), "Passphrase(<redacted>)");
    }
}
