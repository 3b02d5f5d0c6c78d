//! `covenant keygen` and `covenant key`: key files encrypted at rest, and tested key backups stored
//! apart (article 41, `COV-41-KEY-ROTATION`). The format and the procedures are in `docs/keys.md`.
//!
//! - `keygen --out FILE [--encrypt]` writes a fresh key. Plaintext stays the default only because local
//!   test consortia use it; production keys must be encrypted, and a production node refuses anything
//!   else.
//! - `key encrypt IN --out OUT` seals a plaintext key file (or re-seals an encrypted one under a new
//!   passphrase or KDF cost).
//! - `key show FILE` prints the format and public key, without the passphrase.
//! - `key backup FILE --out BACKUP` writes a copy sealed under a separate backup passphrase.
//! - `key restore BACKUP --expect-public-key HEX (--out FILE | --check)` opens a backup, checks it holds
//!   the expected key, and writes it back sealed under the key passphrase (or only reports, with
//!   `--check`: the periodic test of a backup).
//!
//! Every file is written with mode 0600 and never over an existing file. Passphrases come from a file
//! (`--passphrase-file`, `--backup-passphrase-file`, `--new-passphrase-file`) or, failing that, from the
//! environment variables `COVENANT_KEY_PASSPHRASE` and `COVENANT_BACKUP_PASSPHRASE`; they are never
//! printed or logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use covenant_types::{PublicKey, SecretKey};

use crate::keyfile::{
    KdfCost, KeyFileInfo, KeyFormat, KeyPurpose, Passphrase, PassphraseSource, inspect_key_file, read_backup_file,
    read_key_file, write_encrypted_key, write_plaintext_key,
};

/// The KDF cost written (a hidden option: only tests ask for `test`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum KdfCostArg {
    /// Argon2id with 64 MiB and three passes: what production keys need.
    #[default]
    Production,
    /// Argon2id with 64 KiB and one pass: FOR TESTS ONLY; a production node refuses such files.
    Test,
}

impl From<KdfCostArg> for KdfCost {
    fn from(value: KdfCostArg) -> KdfCost {
        match value {
            KdfCostArg::Production => KdfCost::Production,
            KdfCostArg::Test => KdfCost::Test,
        }
    }
}

/// The key-protection flags of `covenant keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Encrypt the key file with a passphrase (Argon2id + XChaCha20-Poly1305). Production keys must be
    /// encrypted; plaintext is the default only for local test consortia.
    #[arg(long)]
    pub encrypt: bool,
    /// With --encrypt: the file holding the passphrase on its first line (default: the
    /// COVENANT_KEY_PASSPHRASE environment variable).
    #[arg(long, value_name = "FILE", requires = "encrypt")]
    pub passphrase_file: Option<PathBuf>,
    /// KDF cost (tests only: `test` writes weak parameters that production nodes refuse).
    #[arg(long, value_enum, default_value_t, hide = true)]
    pub kdf_cost: KdfCostArg,
}

/// `covenant key`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The `covenant key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Encrypt a plaintext key file into a new file (or re-encrypt an encrypted one).
    ///
    /// For a plaintext IN, the passphrase given is the new file's. For an encrypted IN, it is IN's
    /// passphrase, and the new file gets --new-passphrase-file (default: the same passphrase, with a
    /// fresh salt and nonce and the default KDF cost). IN is left as it is: delete a plaintext original
    /// securely once OUT is in use.
    Encrypt {
        /// The key file to encrypt.
        input: PathBuf,
        /// Where to write the encrypted key file (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The file holding the passphrase on its first line (default: COVENANT_KEY_PASSPHRASE).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Re-encrypting an encrypted IN: the file holding OUT's new passphrase.
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        /// KDF cost (tests only).
        #[arg(long, value_enum, default_value_t, hide = true)]
        kdf_cost: KdfCostArg,
    },
    /// Show a key file's format and public key; needs no passphrase.
    Show {
        /// The key file or key backup.
        file: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write a backup of a key, sealed under a separate backup passphrase, to store apart from the node.
    ///
    /// Prints the public key and the command that tests the backup (`key restore --check`).
    Backup {
        /// The key file to back up (encrypted, or a plaintext test key).
        file: PathBuf,
        /// Where to write the backup (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The key file's passphrase file (default: COVENANT_KEY_PASSPHRASE).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// The backup passphrase file (default: COVENANT_BACKUP_PASSPHRASE); must differ from the key's.
        #[arg(long, value_name = "FILE")]
        backup_passphrase_file: Option<PathBuf>,
        /// KDF cost (tests only).
        #[arg(long, value_enum, default_value_t, hide = true)]
        kdf_cost: KdfCostArg,
    },
    /// Restore a key from its backup, checking that it is the expected key; or only test the backup.
    ///
    /// The restored key file is sealed under the key passphrase, which must differ from the backup's.
    /// Exit code 2 if the backup does not open or holds another key.
    Restore {
        /// The backup written by `covenant key backup`.
        backup: PathBuf,
        /// The public key the backup must hold (64 hex digits), e.g. as registered on chain.
        #[arg(long, value_name = "HEX")]
        expect_public_key: String,
        /// Where to write the restored key file (must not exist).
        #[arg(long, value_name = "FILE", required_unless_present = "check", conflicts_with = "check")]
        out: Option<PathBuf>,
        /// Only check that the backup opens and holds the expected key; write nothing.
        #[arg(long)]
        check: bool,
        /// The backup passphrase file (default: COVENANT_BACKUP_PASSPHRASE).
        #[arg(long, value_name = "FILE")]
        backup_passphrase_file: Option<PathBuf>,
        /// The restored key file's passphrase file (default: COVENANT_KEY_PASSPHRASE).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// KDF cost (tests only).
        #[arg(long, value_enum, default_value_t, hide = true)]
        kdf_cost: KdfCostArg,
    },
}

/// `covenant keygen --out FILE`: writes a fresh key, prints its public key on `out` (and nothing else,
/// so scripts can read it), and a reminder about plaintext keys on `err`.
pub fn keygen(path: &Path, args: &KeygenArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<PublicKey> {
    let key = SecretKey::generate();
    if args.encrypt {
        let passphrase = PassphraseSource::key(args.passphrase_file.clone()).require_new("keygen --encrypt")?;
        let file =
            write_encrypted_key(path, &key, &passphrase, KdfCost::from(args.kdf_cost).params(), KeyPurpose::Key)?;
        writeln!(out, "{}", key.public_key().to_hex())?;
        writeln!(err, "wrote encrypted key file {} ({})", path.display(), KeyFormat::Encrypted(file.kdf))?;
    } else {
        write_plaintext_key(path, &key)?;
        writeln!(out, "{}", key.public_key().to_hex())?;
        writeln!(
            err,
            "note: {} is a PLAINTEXT key file, for local test chains only (allow_plaintext_keys = true); production \
             keys must be encrypted: `covenant keygen --encrypt` or `covenant key encrypt` (docs/keys.md)",
            path.display()
        )?;
    }
    Ok(key.public_key())
}

/// Runs a `covenant key` subcommand, writing its report to `out`.
pub fn run_key(args: KeyArgs, out: &mut dyn Write) -> Result<()> {
    match args.command {
        KeyCommand::Encrypt { input, out: path, passphrase_file, new_passphrase_file, kdf_cost } => {
            encrypt(&input, &path, passphrase_file, new_passphrase_file, kdf_cost.into(), out)
        }
        KeyCommand::Show { file, json } => show(&file, json, out),
        KeyCommand::Backup { file, out: path, passphrase_file, backup_passphrase_file, kdf_cost } => {
            backup(&file, &path, passphrase_file, backup_passphrase_file, kdf_cost.into(), out)
        }
        KeyCommand::Restore {
            backup,
            expect_public_key,
            out: path,
            check,
            backup_passphrase_file,
            passphrase_file,
            kdf_cost,
        } => {
            let expected = PublicKey::from_hex(expect_public_key.trim())
                .map_err(|reason| anyhow::anyhow!("--expect-public-key {expect_public_key:?}: {reason}"))?;
            let target = if check { None } else { path };
            restore(&backup, expected, target.as_deref(), backup_passphrase_file, passphrase_file, kdf_cost.into(), out)
        }
    }
}

/// `covenant key encrypt`.
pub fn encrypt(
    input: &Path,
    path: &Path,
    passphrase_file: Option<PathBuf>,
    new_passphrase_file: Option<PathBuf>,
    cost: KdfCost,
    out: &mut dyn Write,
) -> Result<()> {
    let info = inspect_key_file(input)?;
    let source = PassphraseSource::key(passphrase_file);
    let (key, passphrase) = match info.format {
        KeyFormat::Plaintext => {
            if new_passphrase_file.is_some() {
                bail!(
                    "{} is a plaintext key file: give the new file's passphrase with --passphrase-file \
                     (--new-passphrase-file is for re-encrypting an encrypted key file)",
                    input.display()
                );
            }
            (read_key_file(input, &source)?.key, source.require_new("key encrypt")?)
        }
        KeyFormat::Encrypted(_) => {
            let key = read_key_file(input, &source)?.key;
            let passphrase = match new_passphrase_file {
                Some(file) => PassphraseSource::key(Some(file)).require_new("key encrypt --new-passphrase-file")?,
                None => source.require_new("key encrypt")?,
            };
            (key, passphrase)
        }
    };
    let file = write_encrypted_key(path, &key, &passphrase, cost.params(), KeyPurpose::Key)?;
    writeln!(out, "wrote encrypted key file {} ({})", path.display(), KeyFormat::Encrypted(file.kdf))?;
    writeln!(out, "public key {}", key.public_key())?;
    if info.format == KeyFormat::Plaintext {
        writeln!(
            out,
            "{} still holds the key in plaintext: once {} is in use, delete it securely (e.g. shred -u)",
            input.display(),
            path.display()
        )?;
    }
    Ok(())
}

/// `covenant key show`.
pub fn show(file: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let info = inspect_key_file(file)?;
    if json {
        writeln!(out, "{}", show_json(&info))?;
        return Ok(());
    }
    writeln!(out, "file         {}", file.display())?;
    writeln!(out, "format       {}", info.format)?;
    writeln!(out, "purpose      {}", info.purpose)?;
    writeln!(out, "public key   {}", info.public_key)?;
    if let Some(created) = info.created_at_ms {
        writeln!(out, "created      {created} ms since the Unix epoch")?;
    }
    if let Some(mode) = info.mode {
        let note = if info.too_open() { " (too open: chmod 600)" } else { "" };
        writeln!(out, "mode         {mode:04o}{note}")?;
    }
    Ok(())
}

fn show_json(info: &KeyFileInfo) -> serde_json::Value {
    let (format, kdf) = match info.format {
        KeyFormat::Plaintext => ("plaintext", serde_json::Value::Null),
        KeyFormat::Encrypted(kdf) => (
            crate::keyfile::FORMAT_V1,
            serde_json::json!({
                "algorithm": crate::keyfile::KDF_ALGORITHM,
                "memory_kib": kdf.memory_kib,
                "iterations": kdf.iterations,
                "parallelism": kdf.parallelism,
                "production_strength": kdf.is_production_strength(),
            }),
        ),
    };
    serde_json::json!({
        "file": info.path.display().to_string(),
        "format": format,
        "purpose": info.purpose.as_str(),
        "public_key": info.public_key.to_hex(),
        "kdf": kdf,
        "created_at_ms": info.created_at_ms,
        "mode": info.mode.map(|mode| format!("{mode:04o}")),
    })
}

/// `covenant key backup`.
pub fn backup(
    file: &Path,
    path: &Path,
    passphrase_file: Option<PathBuf>,
    backup_passphrase_file: Option<PathBuf>,
    cost: KdfCost,
    out: &mut dyn Write,
) -> Result<()> {
    let key_source = PassphraseSource::key(passphrase_file);
    let loaded = read_key_file(file, &key_source)?;
    let backup_passphrase = PassphraseSource::backup(backup_passphrase_file).require_new("key backup")?;
    if let KeyFormat::Encrypted(_) = loaded.format {
        let key_passphrase = key_source.require(file)?;
        refuse_same(&key_passphrase, &backup_passphrase)?;
    }
    let public_key = loaded.key.public_key();
    write_encrypted_key(path, &loaded.key, &backup_passphrase, cost.params(), KeyPurpose::Backup)?;
    writeln!(out, "backed up key {public_key} to {}", path.display())?;
    writeln!(
        out,
        "store {} apart from the node, and its passphrase apart from it (article 41); test it now and then with:",
        path.display()
    )?;
    writeln!(out, "  covenant key restore {} --check --expect-public-key {public_key}", path.display())?;
    Ok(())
}

/// `covenant key restore`: with `path` `None`, only checks the backup.
pub fn restore(
    backup: &Path,
    expected: PublicKey,
    path: Option<&Path>,
    backup_passphrase_file: Option<PathBuf>,
    passphrase_file: Option<PathBuf>,
    cost: KdfCost,
    out: &mut dyn Write,
) -> Result<()> {
    let info = inspect_key_file(backup)?;
    if info.public_key != expected {
        bail!(
            "backup {} holds public key {}, not the expected {expected}: it is not a backup of this key",
            backup.display(),
            info.public_key
        );
    }
    let backup_source = PassphraseSource::backup(backup_passphrase_file);
    let loaded = read_backup_file(backup, &backup_source)?;
    // The seed opened and matches the recorded public key (checked by `open`); check it once more
    // against the expectation, which is what the restore promises.
    let actual = loaded.key.public_key();
    if actual != expected {
        bail!("backup {} holds public key {actual}, not the expected {expected}", backup.display());
    }
    let Some(path) = path else {
        writeln!(out, "ok: backup {} opens and holds the expected key {expected}", backup.display())?;
        return Ok(());
    };
    let passphrase = PassphraseSource::key(passphrase_file).require_new("key restore")?;
    if let KeyFormat::Encrypted(_) = loaded.format {
        let backup_passphrase = backup_source.require(backup)?;
        refuse_same(&passphrase, &backup_passphrase)?;
    }
    write_encrypted_key(path, &loaded.key, &passphrase, cost.params(), KeyPurpose::Key)
        .with_context(|| format!("restoring {}", backup.display()))?;
    writeln!(out, "restored key {expected} from {} to {}", backup.display(), path.display())?;
    Ok(())
}

/// A backup under the key's own passphrase would fall with it: refuse.
fn refuse_same(key_passphrase: &Passphrase, backup_passphrase: &Passphrase) -> Result<()> {
    if key_passphrase.same_as(backup_passphrase) {
        bail!(
            "the backup passphrase is the key file's passphrase: use a different one, kept apart, so that one leaked \
             passphrase does not open both (article 41)"
        );
    }
    Ok(())
}
