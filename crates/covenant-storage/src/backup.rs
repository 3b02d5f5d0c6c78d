//! Backups (covenant article 18, COV-18-BACKUP): a consistent RocksDB checkpoint of a running store
//! and a manifest naming every file with its size and SHA-256, so that a backup can be checked byte
//! for byte before anybody trusts it.
//!
//! ## What a backup directory holds
//! ```text
//! DIR/manifest.json   the [`Manifest`]: chain, node, height and block hash at the checkpoint, audit
//!                     head, creation time, node version, and every other file with size and SHA-256
//! DIR/db/             the RocksDB checkpoint: SST files hard-linked from the live store where the
//!                     filesystem allows (copied otherwise), a fresh MANIFEST, CURRENT and OPTIONS
//! DIR/genesis.toml    the chain's genesis, if the node was given it, so the chain can be replayed
//! ```
//!
//! ## Why a checkpoint is consistent
//! [`RocksStore::create_checkpoint`] holds the store's writer lock while RocksDB flushes and links the
//! files: no block commit and no audit append can run in between, so the chain tip and audit head it
//! reports are exactly those of the files. Every block in the checkpoint is whole (one write batch per
//! block), exactly as after a crash.
//!
//! ## What this module checks, and what it leaves to the node
//! [`check_files`] compares a directory with a manifest's file list and names every file that is
//! missing, not listed, or altered (size or hash). Replaying the chain (parent hashes, commit seals,
//! re-execution and state roots) needs the execution and consensus crates, which sit above this one:
//! `covenant backup verify` in `covenant-node` does it on a copy made by [`check_files`].
//!
//! Files are hashed whole, one at a time: memory is bounded by the largest file
//! ([`BACKUP_FILE_BYTES_MAX`]; RocksDB's SST files are tens of MiB).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use covenant_types::{ChainId, Hash, NodeId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::audit::AuditPosition;
use crate::error::StorageError;
use crate::rocks::RocksStore;
use crate::store::{ChainTip, StoreMetadata};

/// Name of the manifest in a backup directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Directory of the RocksDB checkpoint in a backup directory.
pub const DB_DIR: &str = "db";
/// Name of the genesis copy in a backup directory (optional).
pub const GENESIS_FILE: &str = "genesis.toml";
/// The manifest format this node writes and reads.
pub const MANIFEST_FORMAT: &str = "covenant-backup/1";
/// Most files a backup may hold (64 MiB SST files: several TiB).
pub const BACKUP_FILES_MAX: usize = 100_000;
/// Largest single file a backup may hold; files are hashed whole, so this bounds memory.
pub const BACKUP_FILE_BYTES_MAX: u64 = 1024 * 1024 * 1024;
/// Deepest directory nesting a backup may hold (RocksDB writes a flat directory).
pub const BACKUP_DIR_DEPTH_MAX: usize = 4;
/// Largest extra file (a genesis) written next to the checkpoint.
pub const EXTRA_FILE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// One file of a backup, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// Path relative to the backup directory, `/`-separated, e.g. `db/000012.sst`.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the content.
    pub sha256: Hash,
}

/// What a backup holds: written as `manifest.json` next to the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// Chain of the store.
    pub chain_id: ChainId,
    /// Node whose store was backed up.
    pub node_id: NodeId,
    /// Hash of the genesis block.
    pub genesis_hash: Hash,
    /// Height of the last block in the checkpoint.
    pub height: u64,
    /// Hash of that block.
    pub block_hash: Hash,
    /// State root in that block's header.
    pub state_root: Hash,
    /// Last audit entry in the checkpoint, if any.
    pub audit_head: Option<AuditPosition>,
    /// When the checkpoint was taken, in milliseconds since the Unix epoch (the node's clock).
    pub created_at_ms: u64,
    /// The same instant as UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`, for people.
    pub created_at: String,
    /// Version of the node software that wrote the backup.
    pub node_version: String,
    /// Every file of the backup except the manifest, sorted by path.
    pub files: Vec<BackupFile>,
}

impl Manifest {
    /// Total size of the listed files in bytes.
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|file| file.bytes).fold(0, u64::saturating_add)
    }

    /// Whether the backup lists a genesis copy.
    pub fn has_genesis(&self) -> bool {
        self.files.iter().any(|file| file.path == GENESIS_FILE)
    }
}

/// Who takes a backup and when: the parts of the manifest the store does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupOrigin {
    /// The node whose store it is.
    pub node_id: NodeId,
    /// Its software version.
    pub node_version: String,
    /// Now, in milliseconds since the Unix epoch.
    pub created_at_ms: u64,
}

/// What the store held at the instant of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointInfo {
    /// Schema version, chain id and genesis hash.
    pub metadata: StoreMetadata,
    /// The last committed block, `None` for a store without genesis.
    pub tip: Option<ChainTip>,
    /// State root in the tip block's header.
    pub state_root: Option<Hash>,
    /// The last audit entry.
    pub audit_head: Option<AuditPosition>,
}

/// Why a backup could not be written or read.
#[derive(Debug, Error)]
pub enum BackupError {
    /// A filesystem operation failed.
    #[error("cannot {operation} {}: {reason}", path.display())]
    Io {
        /// What was being done, e.g. `read`.
        operation: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's message.
        reason: String,
    },
    /// The backup directory already holds something: a backup never overwrites or mixes with files.
    #[error("backup directory {} exists and is not empty: choose a new or empty directory", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The backup path exists and is not a directory.
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The store holds no block: there is nothing to back up.
    #[error("the store holds no blocks yet (not even genesis): nothing to back up")]
    EmptyStore,
    /// More files than [`BACKUP_FILES_MAX`].
    #[error("{} holds more than {max} files", path.display())]
    TooManyFiles {
        /// The directory.
        path: PathBuf,
        /// [`BACKUP_FILES_MAX`].
        max: usize,
    },
    /// A file larger than [`BACKUP_FILE_BYTES_MAX`].
    #[error("{} is {bytes} bytes, above the limit of {max_bytes} bytes per backup file", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// [`BACKUP_FILE_BYTES_MAX`].
        max_bytes: u64,
    },
    /// Something that is not a regular file or directory (a symlink, a socket, ...) in a backup.
    #[error("{} is a {kind}; a backup holds regular files and directories only", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// An extra file with a name that is not a plain file name or clashes with the backup layout.
    #[error("extra backup file {name:?}: {reason}")]
    BadExtraFile {
        /// The name given.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How a backup file differs from the manifest, naming the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileProblem {
    /// Listed in the manifest, not in the directory.
    Missing {
        /// Path relative to the backup directory.
        path: String,
    },
    /// In the directory, not listed in the manifest.
    Extra {
        /// Path relative to the backup directory.
        path: String,
    },
    /// Another size than listed.
    SizeChanged {
        /// Path relative to the backup directory.
        path: String,
        /// Size in the manifest.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// The listed size, another hash: the content was altered.
    Altered {
        /// Path relative to the backup directory.
        path: String,
        /// Hash in the manifest.
        expected: Hash,
        /// Hash of the content on disk.
        found: Hash,
    },
    /// Not a regular file (a directory where a file is listed, a symlink, ...).
    NotAFile {
        /// Path relative to the backup directory.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A manifest entry whose path could leave the backup directory or is malformed.
    BadPath {
        /// The path as listed.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path listed twice in the manifest.
    Duplicate {
        /// The path.
        path: String,
    },
}

impl FileProblem {
    /// The file concerned, relative to the backup directory.
    pub fn path(&self) -> &str {
        match self {
            FileProblem::Missing { path }
            | FileProblem::Extra { path }
            | FileProblem::SizeChanged { path, .. }
            | FileProblem::Altered { path, .. }
            | FileProblem::NotAFile { path, .. }
            | FileProblem::BadPath { path, .. }
            | FileProblem::Duplicate { path } => path,
        }
    }
}

impl fmt::Display for FileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileProblem::Missing { path } => write!(f, "{path}: missing (the manifest lists it)"),
            FileProblem::Extra { path } => write!(f, "{path}: not listed in the manifest"),
            FileProblem::SizeChanged { path, expected, found } => {
                write!(f, "{path}: altered: {found} bytes, the manifest says {expected} bytes")
            }
            FileProblem::Altered { path, expected, found } => {
                write!(f, "{path}: altered: its SHA-256 is {found}, the manifest says {expected}")
            }
            FileProblem::NotAFile { path, kind } => write!(f, "{path}: is a {kind}, not a regular file"),
            FileProblem::BadPath { path, reason } => write!(f, "manifest entry {path:?}: {reason}"),
            FileProblem::Duplicate { path } => write!(f, "{path}: listed twice in the manifest"),
        }
    }
}

/// Takes a checkpoint of `store` into `dir/db`, writes `extra_files` (name, content) next to it,
/// and returns the manifest listing every file with its size and SHA-256. The caller writes the
/// manifest as [`MANIFEST_FILE`] (JSON, in `covenant-node`).
///
/// `dir` must not exist or be an empty directory. On error whatever this call created is removed
/// again, so the same directory can be used for a retry.
pub fn create(
    store: &RocksStore,
    dir: &Path,
    origin: &BackupOrigin,
    extra_files: &[(&str, &[u8])],
) -> Result<Manifest, BackupError> {
    for (name, content) in extra_files {
        check_extra_name(name)?;
        if content.len() > EXTRA_FILE_BYTES_MAX {
            return Err(BackupError::BadExtraFile {
                name: (*name).to_string(),
                reason: format!("{} bytes, above the limit of {EXTRA_FILE_BYTES_MAX}", content.len()),
            });
        }
    }
    let created_dir = prepare_dir(dir)?;
    let result = fill(store, dir, origin, extra_files);
    if result.is_err() {
        // Best effort: leave the directory as it was found; the original error is what matters.
        let _ = std::fs::remove_dir_all(dir.join(DB_DIR));
        for (name, _) in extra_files {
            let _ = std::fs::remove_file(dir.join(name));
        }
        if created_dir {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

fn fill(
    store: &RocksStore,
    dir: &Path,
    origin: &BackupOrigin,
    extra_files: &[(&str, &[u8])],
) -> Result<Manifest, BackupError> {
    let info = store.create_checkpoint(dir.join(DB_DIR))?;
    let (Some(tip), Some(state_root), Some(chain_id), Some(genesis_hash)) =
        (info.tip, info.state_root, info.metadata.chain_id, info.metadata.genesis_hash)
    else {
        return Err(BackupError::EmptyStore);
    };
    crate::crash_points::reached(crate::crash_points::CrashPoint::BackupCheckpointWritten, tip.height);
    for (name, content) in extra_files {
        write_synced(&dir.join(name), content)?;
    }
    sync_dir(dir)?;
    let files = list_files(dir)?;
    Ok(Manifest {
        format: MANIFEST_FORMAT.to_string(),
        chain_id,
        node_id: origin.node_id.clone(),
        genesis_hash,
        height: tip.height,
        block_hash: tip.hash,
        state_root,
        audit_head: info.audit_head,
        created_at_ms: origin.created_at_ms,
        created_at: format_utc_ms(origin.created_at_ms),
        node_version: origin.node_version.clone(),
        files,
    })
}

fn check_extra_name(name: &str) -> Result<(), BackupError> {
    let bad = |reason: &str| Err(BackupError::BadExtraFile { name: name.to_string(), reason: reason.to_string() });
    if name.is_empty() || name.len() > 255 {
        return bad("a file name is 1 to 255 bytes");
    }
    if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"._-".contains(&byte)) || name.starts_with('.') {
        return bad("use a plain file name of letters, digits, '.', '_' and '-'");
    }
    if name == MANIFEST_FILE || name == DB_DIR {
        return bad("the name is part of the backup layout");
    }
    Ok(())
}

/// Creates `dir` if missing; refuses a path that is not a directory or a directory that is not
/// empty. Returns whether it created the directory.
pub fn prepare_dir(dir: &Path) -> Result<bool, BackupError> {
    match std::fs::symlink_metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|error| io("create directory", dir, &error))?;
            Ok(true)
        }
        Err(error) => Err(io("inspect", dir, &error)),
        Ok(metadata) if !metadata.is_dir() => Err(BackupError::NotADirectory { path: dir.to_path_buf() }),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|error| io("list", dir, &error))?;
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty { path: dir.to_path_buf() });
            }
            Ok(false)
        }
    }
}

/// Every file under `dir` except a top-level [`MANIFEST_FILE`], hashed, sorted by path.
pub fn list_files(dir: &Path) -> Result<Vec<BackupFile>, BackupError> {
    let mut files = Vec::new();
    for (path, absolute) in walk(dir)? {
        let (bytes, sha256) = hash_file(&absolute)?;
        files.push(BackupFile { path, bytes, sha256 });
    }
    Ok(files)
}

/// Compares the files under `dir` with `expected` (a manifest's list) and returns every problem, each
/// naming its file; an empty list means every file is present, listed and unaltered.
///
/// With `copy_db_to`, every listed file under `db/` is also copied there (same relative path under
/// `db/`) from the very bytes that were hashed, so the copy is exactly what was checked. The
/// directory is created; it must not hold files of the same names.
pub fn check_files(
    dir: &Path,
    expected: &[BackupFile],
    copy_db_to: Option<&Path>,
) -> Result<Vec<FileProblem>, BackupError> {
    let mut problems = Vec::new();
    let mut listed: BTreeMap<&str, &BackupFile> = BTreeMap::new();
    for file in expected {
        if let Some(reason) = unsafe_path(&file.path) {
            problems.push(FileProblem::BadPath { path: file.path.clone(), reason });
        } else if listed.insert(file.path.as_str(), file).is_some() {
            problems.push(FileProblem::Duplicate { path: file.path.clone() });
        }
    }
    let present: BTreeMap<String, PathBuf> = walk_lenient(dir, &mut problems)?.into_iter().collect();
    for (path, file) in &listed {
        let Some(absolute) = present.get(*path) else {
            // A listed path may exist as a directory or symlink: walk_lenient named it already.
            if !problems.iter().any(|problem| problem.path() == *path) {
                problems.push(FileProblem::Missing { path: (*path).to_string() });
            }
            continue;
        };
        let found_bytes = std::fs::metadata(absolute).map_err(|error| io("inspect", absolute, &error))?.len();
        if found_bytes != file.bytes {
            problems.push(FileProblem::SizeChanged {
                path: (*path).to_string(),
                expected: file.bytes,
                found: found_bytes,
            });
            continue;
        }
        let content = read_bounded(absolute)?;
        let found = Hash::digest(&content);
        if found != file.sha256 {
            problems.push(FileProblem::Altered { path: (*path).to_string(), expected: file.sha256, found });
            continue;
        }
        if let (Some(target), Some(rest)) = (copy_db_to, path.strip_prefix(&format!("{DB_DIR}/"))) {
            let destination = target.join(rest);
            if let Some(parent) = destination.parent() {
                std::fs::create_dir_all(parent).map_err(|error| io("create directory", parent, &error))?;
            }
            write_synced(&destination, &content)?;
        }
    }
    for path in present.keys() {
        if !listed.contains_key(path.as_str()) {
            problems.push(FileProblem::Extra { path: path.clone() });
        }
    }
    if let Some(target) = copy_db_to
        && target.exists()
    {
        sync_dir(target)?;
    }
    problems.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(problems)
}

/// Why a manifest path must not be used, if it must not.
fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("empty path");
    }
    if path.contains('\\') || path.contains('\0') {
        return Some("backslash or NUL in path");
    }
    let components: Vec<Component<'_>> = Path::new(path).components().collect();
    if !components.iter().all(|component| matches!(component, Component::Normal(_))) {
        return Some("not a plain relative path (absolute, `.` or `..`)");
    }
    if components.len() > BACKUP_DIR_DEPTH_MAX + 1 {
        return Some("nested deeper than a backup is");
    }
    if path == MANIFEST_FILE {
        return Some("the manifest does not list itself");
    }
    None
}

/// SHA-256 and size of one file (read whole; at most [`BACKUP_FILE_BYTES_MAX`] bytes).
pub fn hash_file(path: &Path) -> Result<(u64, Hash), BackupError> {
    let content = read_bounded(path)?;
    Ok((content.len() as u64, Hash::digest(&content)))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, BackupError> {
    let bytes = std::fs::metadata(path).map_err(|error| io("inspect", path, &error))?.len();
    if bytes > BACKUP_FILE_BYTES_MAX {
        return Err(BackupError::FileTooLarge { path: path.to_path_buf(), bytes, max_bytes: BACKUP_FILE_BYTES_MAX });
    }
    std::fs::read(path).map_err(|error| io("read", path, &error))
}

/// Every regular file under `dir` (relative `/`-separated path, absolute path), sorted, except a
/// top-level manifest; anything else than files and directories is an error.
fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut problems = Vec::new();
    let files = walk_lenient(dir, &mut problems)?;
    if let Some(FileProblem::NotAFile { path, kind }) = problems.into_iter().next() {
        return Err(BackupError::NotAFile { path: dir.join(path), kind });
    }
    Ok(files)
}

/// Like [`walk`], but special files become problems instead of errors.
fn walk_lenient(dir: &Path, problems: &mut Vec<FileProblem>) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let mut files = Vec::new();
    let mut pending = vec![(String::new(), dir.to_path_buf(), 0usize)];
    while let Some((prefix, current, depth)) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|error| io("list", &current, &error))?;
        for entry in entries {
            let entry = entry.map_err(|error| io("list", &current, &error))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(BackupError::Io {
                    operation: "read the name of",
                    path: entry.path(),
                    reason: "the file name is not UTF-8".into(),
                });
            };
            let relative = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            if prefix.is_empty() && name == MANIFEST_FILE {
                continue;
            }
            let file_type = entry.file_type().map_err(|error| io("inspect", &entry.path(), &error))?;
            if file_type.is_dir() {
                if depth >= BACKUP_DIR_DEPTH_MAX {
                    problems.push(FileProblem::NotAFile { path: relative, kind: "directory nested too deep" });
                } else {
                    pending.push((relative, entry.path(), depth + 1));
                }
            } else if file_type.is_file() {
                files.push((relative, entry.path()));
                if files.len() > BACKUP_FILES_MAX {
                    return Err(BackupError::TooManyFiles { path: dir.to_path_buf(), max: BACKUP_FILES_MAX });
                }
            } else {
                let kind = if file_type.is_symlink() { "symbolic link" } else { "special file" };
                problems.push(FileProblem::NotAFile { path: relative, kind });
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Writes `content` to a new file at `path` and syncs it to disk.
pub fn write_synced(path: &Path, content: &[u8]) -> Result<(), BackupError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|error| io("create", path, &error))?;
    file.write_all(content).map_err(|error| io("write", path, &error))?;
    file.sync_all().map_err(|error| io("sync", path, &error))
}

/// Syncs a directory, so the names of files created in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir).and_then(|handle| handle.sync_all()).map_err(|error| io("sync", dir, &error))
}

fn io(operation: &'static str, path: &Path, error: &std::io::Error) -> BackupError {
    BackupError::Io { operation, path: path.to_path_buf(), reason: error.to_string() }
}

/// `ms` since the Unix epoch as UTC, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_utc_ms(ms: u64) -> String {
    let (days, ms_of_day) = (ms / 86_400_000, ms % 86_400_000);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let (hours, minutes, seconds, millis) =
        (ms_of_day / 3_600_000, ms_of_day / 60_000 % 60, ms_of_day / 1000 % 60, ms_of_day % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{millis:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_utc_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn manifest_paths_that_leave_the_directory_are_refused() {
        for path in ["", "/etc/passwd", "../x", "db/../../x", "./db", "a\\b", MANIFEST_FILE] {
            assert!(unsafe_path(path).is_some(), "{path:?} accepted");
        }
        for path in ["db/000012.sst", "genesis.toml", "db/CURRENT"] {
            assert_eq!(unsafe_path(path), None, "{path:?} refused");
        }
    }
}
