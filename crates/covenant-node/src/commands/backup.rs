//! `covenant backup create | verify | restore` (covenant article 18, COV-18-BACKUP).
//!
//! * **create** asks a running node, over its operations listener (`POST /v1/admin/backup` with the
//!   node's operations token), for a consistent RocksDB checkpoint of its store plus `manifest.json`
//!   (chain, node, height and block hash, audit head, time, version, every file with size and
//!   SHA-256). Only the node can do it: RocksDB
//!   lets one process open a store. The node audits every backup it writes or refuses.
//! * **verify** checks a backup without trusting any of it: every file against the manifest (a
//!   missing, extra or altered file is named), then a copy of the checkpoint is opened and the chain
//!   replayed from genesis: parent hashes, header fields, each height's commit seals against the
//!   validator set of that height, re-execution of every block against the state root in its header,
//!   the stored receipts, the stored state against the replayed state, and the audit chain. Blocks are
//!   streamed one at a time; the replayed state lives in a temporary RocksDB, so memory stays bounded.
//! * **restore** verifies first (a damaged backup is never restored), refuses a data dir that holds a
//!   store unless `--force` (which moves the old store aside, never deletes it), copies the checked
//!   files into place, and audits the restore. The node then starts normally and catches up by block sync.
//!
//! Exit codes: 0 done; 1 the backup is damaged or the request was refused (each problem named);
//! 2 the command could not run (unreadable genesis, node unreachable, bad arguments).

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use covenant_consensus::seal_digest;
use covenant_execution::{BlockContext, StateReader, execute_block, genesis_outcome};
use covenant_rules::Genesis;
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome as AuditOutcome};
use covenant_storage::backup::{self, BackupError, BackupOrigin, DB_DIR, GENESIS_FILE, MANIFEST_FILE, Manifest};
use covenant_storage::limits::{AUDIT_DETAIL_VALUE_BYTES_MAX, SCAN_ENTRIES_MAX};
use covenant_storage::{
    AuditError, AuditLog, AuditPosition, ChainStore, CommitBatch, RocksStore, StorageError, TxLocation,
};
use covenant_types::{Block, ChainId, CommitSeal, Hash, NodeId, SignatureDomain, ValidatorSet, VerifiedTx};

use super::Outcome;
use super::query::describe_error;
use crate::config::{NodeConfig, read_config_file};
use crate::runtime::chain::{StoreState, now_ms};

/// Largest `manifest.json` read (100 000 files of about 150 bytes each, with room).
pub const MANIFEST_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// How long `backup create` waits for the node to write the backup.
pub const CREATE_TIMEOUT_SECS: u64 = 30 * 60;
/// How long `backup restore` waits for an answer when checking whether the node is still running.
const NODE_PROBE_TIMEOUT_MS: u64 = 500;

// ---------------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------------

/// `covenant backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BackupCommand,
}

/// The `covenant backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Ask a running node to write a consistent checkpoint of its store and a manifest of hashes into DIR.
    ///
    /// The node writes DIR (on its machine; new or empty). Copy the backup away from the node afterwards:
    /// a backup on the node's own disk does not survive the loss of that disk (article 18).
    Create {
        /// The backup directory (new or empty); relative paths are taken from the current directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The node's config: its operations listener (ops_addr) and token (ops_token_file) are used.
        #[arg(long, value_name = "FILE", required_unless_present = "ops")]
        config: Option<PathBuf>,
        /// The node's operations listener, host:port (instead of --config; with --token-file).
        #[arg(long, value_name = "ADDR", conflicts_with = "config", requires = "token_file")]
        ops: Option<String>,
        /// The file holding the node's operations token (with --ops).
        #[arg(long, value_name = "FILE", conflicts_with = "config", requires = "ops")]
        token_file: Option<PathBuf>,
        /// Put this genesis file into the backup (checked against the chain), so `verify` needs no --genesis.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
    /// Check a backup: file hashes, the chain replayed from genesis, the audit chain; exit code 1 names damage.
    ///
    /// Every file is re-hashed against the manifest (missing, extra and altered files are named); a copy of the
    /// checkpoint is opened and the chain replayed from genesis: parent hashes, headers, commit seals against each
    /// height's validator set, re-execution against the state roots, receipts, the state; then the audit chain.
    Verify {
        /// The backup directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The chain's genesis file (default: the genesis.toml the backup holds, if any).
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
    },
    /// Restore a verified backup into a stopped node's data dir; the node then catches up by block sync.
    ///
    /// The backup is verified first and never restored if damaged; a data dir holding a store is refused unless
    /// --force, which moves the old store aside (renamed, never deleted). The restore is audited.
    Restore {
        /// The backup directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// The node's config (its data dir and genesis are used).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Restore even though the data dir holds a store: the old store is moved aside (renamed), not deleted.
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `covenant backup` subcommand.
pub fn run(args: BackupArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    match args.command {
        BackupCommand::Create { dir, config, ops, token_file, genesis } => {
            let listener = match (config, ops, token_file) {
                (Some(config), _, _) => OpsListener::from_config(&config)?,
                (None, Some(address), Some(token_file)) => OpsListener::new(&address, &token_file)?,
                _ => bail!("give the node's --config, or --ops with --token-file"),
            };
            create(&listener, &dir, genesis.as_deref(), out, err)
        }
        BackupCommand::Verify { dir, genesis } => verify(&dir, genesis.as_deref(), out),
        BackupCommand::Restore { dir, config, force } => restore(&dir, &config, force, out, err),
    }
}

// ---------------------------------------------------------------------------------------------------
// The manifest file
// ---------------------------------------------------------------------------------------------------

/// Writes `manifest` as `DIR/manifest.json` (pretty JSON, synced, renamed into place) and returns the
/// SHA-256 of the bytes written.
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<Hash, BackupError> {
    let mut bytes = serde_json::to_vec_pretty(manifest).map_err(|error| BackupError::Io {
        operation: "encode the manifest for",
        path: dir.to_path_buf(),
        reason: error.to_string(),
    })?;
    bytes.push(b'\n');
    let temporary = dir.join(format!("{MANIFEST_FILE}.tmp"));
    let _ = std::fs::remove_file(&temporary);
    backup::write_synced(&temporary, &bytes)?;
    let target = dir.join(MANIFEST_FILE);
    std::fs::rename(&temporary, &target).map_err(|error| BackupError::Io {
        operation: "rename into place",
        path: target.clone(),
        reason: error.to_string(),
    })?;
    backup::sync_dir(dir)?;
    Ok(Hash::digest(&bytes))
}

/// Reads `DIR/manifest.json`; the error says what is wrong with it.
pub fn read_manifest(dir: &Path) -> Result<(Manifest, Hash), String> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::metadata(&path) {
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
        Ok(metadata) if metadata.len() > MANIFEST_BYTES_MAX => {
            return Err(format!("{} bytes, above the limit of {MANIFEST_BYTES_MAX}", metadata.len()));
        }
        Ok(_) => std::fs::read(&path).map_err(|error| format!("cannot read {}: {error}", path.display()))?,
    };
    Ok((parse_manifest(&bytes)?, Hash::digest(&bytes)))
}

/// Decodes the bytes of a `manifest.json`, refusing a format this node does not read.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let manifest: Manifest =
        serde_json::from_slice(bytes).map_err(|error| format!("not a backup manifest: {error}"))?;
    if manifest.format != backup::MANIFEST_FORMAT {
        return Err(format!("format {:?}, this node reads {:?}", manifest.format, backup::MANIFEST_FORMAT));
    }
    Ok(manifest)
}

// ---------------------------------------------------------------------------------------------------
// create: the node's side
// ---------------------------------------------------------------------------------------------------

/// Body of `POST /v1/admin/backup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// Absolute path, on the node's machine, of a new or empty directory.
    pub dir: PathBuf,
    /// Absolute path of the chain's genesis file to include in the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genesis_file: Option<PathBuf>,
}

/// Why the node refused or failed a backup request.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// The request cannot be done as asked (relative path, another chain's genesis, ...).
    #[error("{0}")]
    Invalid(String),
    /// The directory exists and is not empty, or is not a directory.
    #[error("{0}")]
    Conflict(String),
    /// Writing the backup failed.
    #[error("{0}")]
    Failed(String),
}

/// A backup the node wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedBackup {
    /// Where.
    pub dir: PathBuf,
    /// What it holds.
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json` as written (recorded in the audit log).
    pub manifest_sha256: Hash,
}

impl CreatedBackup {
    /// The API's answer.
    pub fn to_json(&self) -> Value {
        let manifest = &self.manifest;
        json!({
            "dir": self.dir.display().to_string(),
            "chain_id": manifest.chain_id,
            "node_id": manifest.node_id,
            "height": manifest.height,
            "block_hash": manifest.block_hash,
            "state_root": manifest.state_root,
            "audit_head": manifest.audit_head,
            "created_at": manifest.created_at,
            "node_version": manifest.node_version,
            "files": manifest.files.len(),
            "bytes": manifest.total_bytes(),
            "genesis_included": manifest.has_genesis(),
            "manifest_sha256": self.manifest_sha256,
        })
    }
}

/// Writes a backup of the node's `store` as `request` asks and appends a `backup_created` audit record
/// (also when refused or failed) naming `requester`. Blocks while RocksDB flushes and files are hashed:
/// call it off the async runtime.
pub fn create_on_node(
    store: &RocksStore,
    node_id: &NodeId,
    request: &CreateRequest,
    requester: &str,
) -> Result<CreatedBackup, CreateError> {
    let result = create_checked(store, node_id, request);
    let outcome = match &result {
        Ok(_) => AuditOutcome::Success,
        Err(CreateError::Failed(_)) => AuditOutcome::Failure,
        Err(_) => AuditOutcome::Refused,
    };
    let actor = if !requester.is_empty() && requester.bytes().all(|byte| byte.is_ascii_graphic()) {
        Actor::Remote(detail_value(requester))
    } else {
        Actor::System
    };
    let mut record = AuditRecord::new(now_ms(), node_id.clone(), EventType::BackupCreated, actor, outcome)
        .with_detail("dir", detail_value(&request.dir.display().to_string()));
    record = match &result {
        Ok(created) => record
            .with_detail("height", created.manifest.height.to_string())
            .with_detail("block_hash", created.manifest.block_hash.to_hex())
            .with_detail("files", created.manifest.files.len().to_string())
            .with_detail("manifest_sha256", created.manifest_sha256.to_hex()),
        Err(error) => record.with_detail("error", detail_value(&error.to_string())),
    };
    match (store.append(record), result) {
        (Ok(_), result) => result,
        (Err(error), Ok(created)) => Err(CreateError::Failed(format!(
            "the backup in {} was written, but its audit record could not be appended: {error}",
            created.dir.display()
        ))),
        (Err(error), Err(refusal)) => {
            tracing::warn!(%error, "the audit record of a refused backup could not be appended");
            Err(refusal)
        }
    }
}

fn create_checked(store: &RocksStore, node_id: &NodeId, request: &CreateRequest) -> Result<CreatedBackup, CreateError> {
    let dir = &request.dir;
    if !dir.is_absolute() {
        return Err(CreateError::Invalid(format!(
            "dir must be an absolute path on the node's machine, not {}",
            dir.display()
        )));
    }
    if dir.components().any(|component| matches!(component, Component::ParentDir | Component::CurDir)) {
        return Err(CreateError::Invalid(format!("dir {} must not contain `.` or `..`", dir.display())));
    }
    if dir.starts_with(store.path()) {
        return Err(CreateError::Invalid(format!(
            "dir {} is inside the node's live store {}",
            dir.display(),
            store.path().display()
        )));
    }
    let mut extra_files = Vec::new();
    let genesis_text;
    if let Some(file) = &request.genesis_file {
        if !file.is_absolute() {
            return Err(CreateError::Invalid(format!("genesis_file must be an absolute path, not {}", file.display())));
        }
        genesis_text = read_config_file(file)
            .map_err(|reason| CreateError::Invalid(format!("genesis file {}: {reason}", file.display())))?;
        let genesis = Genesis::from_toml_str(&genesis_text)
            .map_err(|errors| CreateError::Invalid(format!("genesis file {}: {errors}", file.display())))?;
        let described = genesis_outcome(&genesis).block.hash();
        let stored = store.metadata().map_err(|error| CreateError::Failed(error.to_string()))?.genesis_hash;
        if stored != Some(described) {
            return Err(CreateError::Invalid(format!(
                "genesis file {} describes genesis block {described}, but this node's chain starts with {}",
                file.display(),
                stored.map_or("no block".to_string(), |hash| hash.to_string())
            )));
        }
        extra_files.push((GENESIS_FILE, genesis_text.as_bytes()));
    }
    let origin = BackupOrigin {
        node_id: node_id.clone(),
        node_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at_ms: now_ms(),
    };
    let manifest = backup::create(store, dir, &origin, &extra_files).map_err(|error| match error {
        BackupError::NotEmpty { .. } | BackupError::NotADirectory { .. } => CreateError::Conflict(error.to_string()),
        BackupError::BadExtraFile { .. } | BackupError::EmptyStore => CreateError::Invalid(error.to_string()),
        other => CreateError::Failed(other.to_string()),
    })?;
    let manifest_sha256 = write_manifest(dir, &manifest).map_err(|error| {
        // Without its manifest the checkpoint is no backup; take it away so the directory can be reused.
        let _ = std::fs::remove_dir_all(dir.join(DB_DIR));
        let _ = std::fs::remove_file(dir.join(GENESIS_FILE));
        CreateError::Failed(format!("writing the manifest: {error}"))
    })?;
    tracing::info!(dir = %dir.display(), height = manifest.height, files = manifest.files.len(), "backup written");
    Ok(CreatedBackup { dir: dir.clone(), manifest, manifest_sha256 })
}

/// Appends an `api_access_denied` audit record for a refused administrative request, with why.
pub fn audit_admin_denied(store: &RocksStore, node_id: &NodeId, route: &str, client: &str, reason: &str) {
    let actor = if !client.is_empty() && client.bytes().all(|byte| byte.is_ascii_graphic()) {
        Actor::Remote(detail_value(client))
    } else {
        Actor::System
    };
    let record = AuditRecord::new(now_ms(), node_id.clone(), EventType::ApiAccessDenied, actor, AuditOutcome::Refused)
        .with_detail("route", detail_value(route))
        .with_detail("reason", detail_value(reason));
    if let Err(error) = store.append(record) {
        tracing::warn!(%error, "the audit record of a refused admin request could not be appended");
    }
}

/// `text` cut to what an audit detail holds, without control characters.
fn detail_value(text: &str) -> String {
    let mut value: String = text.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if value.len() > AUDIT_DETAIL_VALUE_BYTES_MAX {
        let mut end = AUDIT_DETAIL_VALUE_BYTES_MAX;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    value
}

// ---------------------------------------------------------------------------------------------------
// create: the command
// ---------------------------------------------------------------------------------------------------

/// A node's operations listener and the token its administrative actions need.
pub struct OpsListener {
    address: std::net::SocketAddr,
    token: String,
}

impl OpsListener {
    /// The listener at `address` (host:port or http://host:port), the token read from `token_file`.
    pub fn new(address: &str, token_file: &Path) -> Result<OpsListener> {
        let address = covenant_client::parse_api_address(address).context("--ops")?;
        let token = crate::ops::OpsToken::read(token_file).map_err(|error| anyhow!("token file {error}"))?;
        Ok(OpsListener { address, token })
    }

    /// The listener and token a node config names.
    pub fn from_config(file: &Path) -> Result<OpsListener> {
        let config = crate::config::NodeConfig::load(file).map_err(|errors| anyhow!("{errors}"))?;
        let Some(address) = &config.ops_addr else {
            bail!("{} has no ops_addr: the node serves no operations listener to ask", file.display());
        };
        let Some(token_file) = &config.ops_token_file else {
            bail!("{} has no ops_token_file: the node takes no administrative actions", file.display());
        };
        OpsListener::new(&address.to_string(), token_file)
    }
}

/// `covenant backup create DIR`: asks the node's operations listener to write the backup.
pub fn create(
    listener: &OpsListener,
    dir: &Path,
    genesis: Option<&Path>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let address = listener.address;
    let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let genesis_file = match genesis {
        Some(file) => Some(std::path::absolute(file).with_context(|| format!("resolving {}", file.display()))?),
        None => None,
    };
    let request = CreateRequest { dir: dir.clone(), genesis_file };
    let client = covenant_client::Client::new(address).with_timeout(Duration::from_secs(CREATE_TIMEOUT_SECS));
    let body = serde_json::to_value(&request)?;
    let response = client.post_json_with_token("/v1/admin/backup", &body, &listener.token).map_err(|error| {
        anyhow!(
            "cannot reach the node's operations listener at http://{address} (POST /v1/admin/backup): {error}; \
             is the node running, and is this its ops_addr?"
        )
    })?;
    if !response.is_success() {
        writeln!(err, "the node refused the backup: {}", describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    let answer = &response.body;
    writeln!(
        out,
        "backup written to {}: chain {}, node {}, height {}, block {}",
        dir.display(),
        answer["chain_id"].as_str().unwrap_or("?"),
        answer["node_id"].as_str().unwrap_or("?"),
        answer["height"],
        answer["block_hash"].as_str().unwrap_or("?"),
    )?;
    writeln!(
        out,
        "  {} files, {} bytes; manifest SHA-256 {}{}",
        answer["files"],
        answer["bytes"],
        answer["manifest_sha256"].as_str().unwrap_or("?"),
        if answer["genesis_included"] == Value::Bool(true) { "; genesis included" } else { "" },
    )?;
    writeln!(
        out,
        "  check it with `covenant backup verify {}`, then keep a copy apart from the node (article 18)",
        dir.display()
    )?;
    Ok(Outcome::Success)
}

// ---------------------------------------------------------------------------------------------------
// verify
// ---------------------------------------------------------------------------------------------------

/// One thing wrong with a backup: which check failed, where, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The check: `manifest`, `file`, `store`, `genesis`, `parent hash`, `header`, `commit seals`,
    /// `transactions`, `execution`, `state root`, `tx index`, `receipts`, `state`, `audit chain`.
    pub check: &'static str,
    /// Where: a file (`db/000012.sst`), a height (`height 17`), an audit sequence, a manifest field.
    pub place: String,
    /// What is wrong.
    pub detail: String,
}

impl Problem {
    fn new(check: &'static str, place: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem { check, place: place.into(), detail: detail.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} check failed at {}: {}", self.check, self.place, self.detail)
    }
}

/// What a successful verification covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    /// The manifest, now known to describe the backup.
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json`.
    pub manifest_sha256: Hash,
    /// Where the genesis came from.
    pub genesis_source: String,
    /// Transactions re-executed.
    pub transactions: u64,
    /// State entries compared with the replayed state.
    pub state_entries: u64,
    /// Audit entries verified.
    pub audit_entries: u64,
}

/// The result of checking a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Sound(Box<VerifySummary>),
    /// What is wrong: every file problem, or the first problem of the replay.
    Damaged(Vec<Problem>),
}

/// Checks the backup in `dir`. The checked checkpoint files are copied into `db_dir` and opened there
/// as a store (restore passes its staging directory, verify a temporary one); the chain is replayed
/// from genesis into a store in `replay_dir`. Neither may exist. The backup itself is only read.
///
/// `genesis` is the chain's genesis file; without it the backup's own `genesis.toml` is used.
/// `Err` means the check could not run (no genesis, unwritable work directory); damage is a
/// [`Verdict::Damaged`].
pub fn check_backup(dir: &Path, genesis: Option<&Path>, db_dir: &Path, replay_dir: &Path) -> Result<Verdict> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let (manifest, manifest_sha256) = match read_manifest(dir) {
        Ok(read) => read,
        Err(reason) => return Ok(Verdict::Damaged(vec![Problem::new("manifest", MANIFEST_FILE, reason)])),
    };
    if !manifest.files.iter().any(|file| file.path.starts_with(&format!("{DB_DIR}/"))) {
        return Ok(Verdict::Damaged(vec![Problem::new("manifest", "files", "the manifest lists no checkpoint files")]));
    }
    for path in [db_dir, replay_dir] {
        if path.exists() {
            bail!("work directory {} already exists", path.display());
        }
    }
    std::fs::create_dir_all(db_dir).with_context(|| format!("creating {}", db_dir.display()))?;
    let file_problems = backup::check_files(dir, &manifest.files, Some(db_dir))?;
    if !file_problems.is_empty() {
        let problems = file_problems
            .iter()
            .map(|problem| {
                let text = problem.to_string();
                let detail = text.strip_prefix(&format!("{}: ", problem.path())).unwrap_or(&text).to_string();
                Problem::new("file", problem.path(), detail)
            })
            .collect();
        return Ok(Verdict::Damaged(problems));
    }

    let (genesis, genesis_source) = match genesis {
        Some(file) => (load_genesis_file(file)?, file.display().to_string()),
        None if manifest.has_genesis() => {
            let file = dir.join(GENESIS_FILE);
            (load_genesis_file(&file)?, format!("{} (in the backup)", file.display()))
        }
        None => bail!(
            "the backup holds no {GENESIS_FILE}: pass the chain's genesis file with --genesis FILE to replay the chain"
        ),
    };

    let backup_store = match RocksStore::open(db_dir) {
        Ok(store) => store,
        Err(error) => {
            let detail = format!("the checked copy of the checkpoint does not open: {error}");
            return Ok(Verdict::Damaged(vec![Problem::new("store", DB_DIR, detail)]));
        }
    };
    let replay_store = RocksStore::open(replay_dir)
        .with_context(|| format!("creating the replay store in {}", replay_dir.display()))?;
    match replay(&backup_store, &replay_store, &genesis, &manifest) {
        Ok(stats) => Ok(Verdict::Sound(Box::new(VerifySummary {
            manifest,
            manifest_sha256,
            genesis_source,
            transactions: stats.transactions,
            state_entries: stats.state_entries,
            audit_entries: stats.audit_entries,
        }))),
        Err(problem) => Ok(Verdict::Damaged(vec![problem])),
    }
}

fn load_genesis_file(file: &Path) -> Result<Genesis> {
    let text = read_config_file(file).map_err(|reason| anyhow!("genesis file {}: {reason}", file.display()))?;
    Genesis::from_toml_str(&text).map_err(|errors| anyhow!("genesis file {}: {errors}", file.display()))
}

struct ReplayStats {
    transactions: u64,
    state_entries: u64,
    audit_entries: u64,
}

fn stored(place: impl Into<String>) -> impl FnOnce(StorageError) -> Problem {
    let place = place.into();
    move |error| Problem::new("store", place, error.to_string())
}

/// Replays the chain of `backup` from `genesis` into the empty `replay` store, checking every block;
/// then compares the states and verifies the audit chain. The first problem ends the replay.
fn replay(
    backup: &RocksStore,
    replay: &RocksStore,
    genesis: &Genesis,
    manifest: &Manifest,
) -> Result<ReplayStats, Problem> {
    let metadata = backup.metadata().map_err(stored("metadata"))?;
    if metadata.chain_id.as_ref() != Some(&manifest.chain_id) {
        return Err(Problem::new(
            "manifest",
            "chain_id",
            format!("the manifest says {}, the store holds {:?}", manifest.chain_id, metadata.chain_id),
        ));
    }
    if metadata.genesis_hash != Some(manifest.genesis_hash) {
        return Err(Problem::new(
            "manifest",
            "genesis_hash",
            format!("the manifest says {}, the store holds {:?}", manifest.genesis_hash, metadata.genesis_hash),
        ));
    }
    let tip = backup
        .latest()
        .map_err(stored("chain tip"))?
        .ok_or_else(|| Problem::new("store", "chain tip", "the store holds no blocks"))?;
    if (tip.height, tip.hash) != (manifest.height, manifest.block_hash) {
        return Err(Problem::new(
            "manifest",
            "height",
            format!(
                "the manifest says height {} block {}, the store ends at height {} block {}",
                manifest.height, manifest.block_hash, tip.height, tip.hash
            ),
        ));
    }

    // Height 0: the genesis file's block and state.
    let genesis = genesis_outcome(genesis);
    let stored_genesis = backup
        .block_by_height(0)
        .map_err(stored("height 0"))?
        .ok_or_else(|| Problem::new("store", "height 0", "no genesis block"))?;
    if stored_genesis.hash() != genesis.block.hash() {
        return Err(Problem::new(
            "genesis",
            "height 0",
            format!(
                "the backup's genesis block is {}, the genesis file describes {}: another chain or another genesis",
                stored_genesis.hash(),
                genesis.block.hash()
            ),
        ));
    }
    let mut batch = CommitBatch::new(genesis.block, Vec::new());
    batch.state_writes = genesis.writes;
    replay.commit_block(batch).map_err(|error| Problem::new("replay", "height 0", error.to_string()))?;
    let mut parent = stored_genesis;

    let chain = manifest.chain_id.clone();
    let mut transactions = 0u64;
    for height in 1..=tip.height {
        let place = format!("height {height}");
        let block = backup
            .block_by_height(height)
            .map_err(stored(place.clone()))?
            .ok_or_else(|| Problem::new("store", place.clone(), "no block stored below the chain tip"))?;
        let seals = backup
            .commit_seals(height)
            .map_err(stored(place.clone()))?
            .ok_or_else(|| Problem::new("store", place.clone(), "no commit seals stored below the chain tip"))?;
        let outcome = replay_block(backup, replay, &chain, &parent, &block, &seals)
            .map_err(|(check, detail)| Problem::new(check, place.clone(), detail))?;
        transactions += block.transactions.len() as u64;
        let mut batch = CommitBatch::new(block.clone(), seals);
        batch.receipts = outcome.receipts;
        batch.state_writes = outcome.writes;
        replay.commit_block(batch).map_err(|error| Problem::new("replay", place.clone(), error.to_string()))?;
        parent = block;
    }

    let state_entries = compare_state(backup, replay)?;
    // Read once so that every column has been read back through RocksDB's checksums.
    backup.load_safety_state().map_err(stored("consensus safety state"))?;

    let audit = backup.verify().map_err(|error| match &error {
        AuditError::Tampered { sequence, .. } => {
            Problem::new("audit chain", format!("sequence {sequence}"), error.to_string())
        }
        _ => Problem::new("audit chain", "audit log", error.to_string()),
    })?;
    if audit.head != manifest.audit_head {
        return Err(Problem::new(
            "manifest",
            "audit_head",
            format!(
                "the manifest says {}, the store's audit log ends at {}",
                show_head(manifest.audit_head),
                show_head(audit.head)
            ),
        ));
    }
    Ok(ReplayStats { transactions, state_entries, audit_entries: audit.entries })
}

fn show_head(head: Option<AuditPosition>) -> String {
    head.map_or("no entry".to_string(), |head| format!("sequence {} ({})", head.sequence, head.hash))
}

/// Checks one block against its parent and the replayed state before it, and re-executes it.
/// The error is the check that failed and what is wrong.
fn replay_block(
    backup: &RocksStore,
    replay: &RocksStore,
    chain: &ChainId,
    parent: &Block,
    block: &Block,
    seals: &[CommitSeal],
) -> Result<covenant_execution::BlockOutcome, (&'static str, String)> {
    let header = &block.header;
    if header.chain_id != *chain {
        return Err(("header", format!("chain id {}, the backup's chain is {chain}", header.chain_id)));
    }
    if header.parent_hash != parent.hash() {
        return Err((
            "parent hash",
            format!(
                "the block names parent {}, the block at height {} is {}",
                header.parent_hash,
                parent.header.height,
                parent.hash()
            ),
        ));
    }
    let state = StoreState(replay);
    let replay_error = |error: covenant_execution::StateError| ("replay", error.to_string());
    let validators = state.validators().map_err(replay_error)?;
    let params = state.params().map_err(replay_error)?;
    let expected_proposer = &validators.proposer(header.height, header.round).id;
    if header.proposer != *expected_proposer {
        return Err((
            "header",
            format!("proposer {}, but round {} is {expected_proposer}'s turn", header.proposer, header.round),
        ));
    }
    let fields = [
        ("validator_set_hash", header.validator_set_hash, validators.hash()),
        ("parameters_hash", header.parameters_hash, params.hash()),
        ("transactions_root", header.transactions_root, block.compute_transactions_root()),
    ];
    for (field, found, expected) in fields {
        if found != expected {
            return Err(("header", format!("{field} is {found}, the replayed chain gives {expected}")));
        }
    }
    check_seals(chain, &validators, block, seals).map_err(|detail| ("commit seals", detail))?;

    let mut verified = Vec::with_capacity(block.transactions.len());
    for (index, result) in VerifiedTx::verify_batch(block.transactions.to_vec(), chain).into_iter().enumerate() {
        match result {
            Ok(tx) => verified.push(tx),
            Err(rejected) => return Err(("transactions", format!("transaction {index}: {}", rejected.error))),
        }
    }
    let context = BlockContext { height: header.height, timestamp_ms: header.timestamp_ms };
    let outcome = execute_block(&state, &parent.header.state_root, &context, &verified)
        .map_err(|error| ("execution", error.to_string()))?;
    if outcome.state_root != header.state_root {
        return Err((
            "state root",
            format!(
                "re-executing the block gives state root {}, its header says {}",
                outcome.state_root, header.state_root
            ),
        ));
    }
    for (index, tx) in block.transactions.iter().enumerate() {
        let hash = tx.body.hash();
        let location = backup.tx_location(&hash).map_err(|error| ("store", error.to_string()))?;
        let expected = TxLocation { height: header.height, index: u32::try_from(index).unwrap_or(u32::MAX) };
        if location != Some(expected) {
            return Err((
                "tx index",
                format!("tx {hash} is transaction {index} of the block, the index says {location:?}"),
            ));
        }
    }
    for receipt in &outcome.receipts {
        let stored = backup.receipt(&receipt.tx_hash).map_err(|error| ("store", error.to_string()))?;
        match stored {
            Some(stored) if stored == *receipt => {}
            Some(_) => {
                return Err((
                    "receipts",
                    format!("the stored receipt of tx {} differs from re-execution", receipt.tx_hash),
                ));
            }
            None => return Err(("receipts", format!("no receipt stored for tx {}", receipt.tx_hash))),
        }
    }
    Ok(outcome)
}

/// The commit seals of `block` must be a quorum of valid seals from distinct validators of the set
/// that decided its height (as the consensus checks them).
fn check_seals(chain: &ChainId, validators: &ValidatorSet, block: &Block, seals: &[CommitSeal]) -> Result<(), String> {
    if seals.len() > validators.len() {
        return Err(format!("{} seals for {} validators", seals.len(), validators.len()));
    }
    let digest = seal_digest(block.header.height, block.header.round, block.hash());
    let mut signers = BTreeSet::new();
    for seal in seals {
        let Some(validator) = validators.get(&seal.validator) else {
            return Err(format!("a seal from {}, which is not a validator at this height", seal.validator));
        };
        if !signers.insert(&seal.validator) {
            return Err(format!("two seals from {}", seal.validator));
        }
        validator
            .consensus_key
            .verify(SignatureDomain::CommitSeal, chain, &digest, &seal.signature)
            .map_err(|error| format!("the seal from {} does not verify: {error}", seal.validator))?;
    }
    if signers.len() < validators.quorum() {
        return Err(format!(
            "{} valid seals, the quorum of the {} validators is {}",
            signers.len(),
            validators.len(),
            validators.quorum()
        ));
    }
    Ok(())
}

/// The backup's state must equal the state replayed from genesis, entry for entry: a restored node
/// serves and executes on the backup's state, not on the replay. Pages through both; returns the count.
fn compare_state(backup: &RocksStore, replay: &RocksStore) -> Result<u64, Problem> {
    let mut after: Option<Vec<u8>> = None;
    let mut entries = 0u64;
    loop {
        let ours = backup.scan_state(b"", after.as_deref(), SCAN_ENTRIES_MAX).map_err(stored("state"))?;
        let replayed = replay
            .scan_state(b"", after.as_deref(), SCAN_ENTRIES_MAX)
            .map_err(|error| Problem::new("replay", "state", error.to_string()))?;
        for index in 0..ours.entries.len().max(replayed.entries.len()) {
            match (ours.entries.get(index), replayed.entries.get(index)) {
                (Some((key, value)), Some((replayed_key, replayed_value))) if key == replayed_key => {
                    if value != replayed_value {
                        return Err(Problem::new(
                            "state",
                            format!("key {}", show_key(key)),
                            "the stored value differs from the state replayed from genesis",
                        ));
                    }
                }
                (Some((key, _)), Some((replayed_key, _))) if key < replayed_key => {
                    return Err(extra_key(key));
                }
                (_, Some((replayed_key, _))) => return Err(missing_key(replayed_key)),
                (Some((key, _)), None) => return Err(extra_key(key)),
                (None, None) => {}
            }
        }
        entries += ours.entries.len() as u64;
        if ours.resume_after.is_none() && replayed.resume_after.is_none() {
            return Ok(entries);
        }
        match ours.entries.last() {
            Some((key, _)) => after = Some(key.clone()),
            None => return Ok(entries),
        }
    }
}

fn extra_key(key: &[u8]) -> Problem {
    Problem::new("state", format!("key {}", show_key(key)), "stored, but absent from the state replayed from genesis")
}

fn missing_key(key: &[u8]) -> Problem {
    Problem::new("state", format!("key {}", show_key(key)), "missing, but present in the state replayed from genesis")
}

fn show_key(key: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 48;
    let shown = hex::encode(&key[..key.len().min(SHOWN_BYTES_MAX)]);
    if key.len() > SHOWN_BYTES_MAX { format!("0x{shown}... ({} bytes)", key.len()) } else { format!("0x{shown}") }
}

/// A directory of our own for the duration of a command, removed on drop.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new(parent: &Path, name: &str) -> Result<WorkDir> {
        let path = parent.join(format!("{name}-{}-{}", std::process::id(), now_ms()));
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        std::fs::create_dir(&path).with_context(|| format!("creating work directory {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `covenant backup verify DIR`.
pub fn verify(dir: &Path, genesis: Option<&Path>, out: &mut dyn Write) -> Result<Outcome> {
    let work = WorkDir::new(&std::env::temp_dir(), "covenant-backup-verify")?;
    let verdict = check_backup(dir, genesis, &work.path().join(DB_DIR), &work.path().join("replay"))?;
    write_verdict(dir, &verdict, out)?;
    Ok(match verdict {
        Verdict::Sound(_) => Outcome::Success,
        Verdict::Damaged(_) => Outcome::Failure,
    })
}

fn write_verdict(dir: &Path, verdict: &Verdict, out: &mut dyn Write) -> Result<()> {
    match verdict {
        Verdict::Sound(summary) => {
            let manifest = &summary.manifest;
            writeln!(
                out,
                "backup {} verified: chain {}, node {}, height {}, block {}",
                dir.display(),
                manifest.chain_id,
                manifest.node_id,
                manifest.height,
                manifest.block_hash
            )?;
            writeln!(out, "  taken       {} by covenant {}", manifest.created_at, manifest.node_version)?;
            writeln!(
                out,
                "  files       {} files, {} bytes: each matches its size and SHA-256 in the manifest (SHA-256 {})",
                manifest.files.len(),
                manifest.total_bytes(),
                summary.manifest_sha256
            )?;
            writeln!(
                out,
                "  blocks      {} (heights 0 to {}), {} transactions replayed from genesis {}: parent hashes, \
                 headers, commit seals, state roots and receipts check out",
                manifest.height + 1,
                manifest.height,
                summary.transactions,
                summary.genesis_source
            )?;
            writeln!(out, "  state       {} entries, equal to the replayed state", summary.state_entries)?;
            writeln!(
                out,
                "  audit log   {} entries, hash chain intact, head {}",
                summary.audit_entries,
                show_head(manifest.audit_head)
            )?;
        }
        Verdict::Damaged(problems) => {
            writeln!(out, "backup {} is damaged: {} problem(s)", dir.display(), problems.len())?;
            for problem in problems {
                writeln!(out, "  {problem}")?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------
// restore
// ---------------------------------------------------------------------------------------------------

/// `covenant backup restore DIR --config NODE.toml [--force]`.
pub fn restore(
    dir: &Path,
    config_file: &Path,
    force: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let config = NodeConfig::load(config_file).map_err(|errors| anyhow!("{errors}"))?;
    let live = config.data_dir.join(DB_DIR);
    let holds_store = directory_has_entries(&live)?;
    if holds_store && !force {
        writeln!(
            err,
            "refusing to restore: the data dir of {} holds a store ({}); stop the node and pass --force to move \
             that store aside (it is renamed, not deleted)",
            config.node_id,
            live.display()
        )?;
        return Ok(Outcome::Failure);
    }
    if let Some(address) = node_answers(&config) {
        writeln!(
            err,
            "refusing to restore: something answers on the API address {address} of {}; stop the node first",
            config.node_id
        )?;
        return Ok(Outcome::Failure);
    }
    if holds_store && let Err(error) = RocksStore::open(&live) {
        // A store the node holds open is locked; any other error is what a restore is for.
        if error.to_string().contains("LOCK") {
            writeln!(
                err,
                "refusing to restore: the store {} is in use ({error}); stop the node first",
                live.display()
            )?;
            return Ok(Outcome::Failure);
        }
    }
    match read_manifest(dir) {
        Ok((manifest, _)) if manifest.node_id != config.node_id => {
            writeln!(
                err,
                "refusing to restore: the backup is of node {}, the config is for node {}; a node restores only its \
                 own backups (its audit log and consensus safety state are its own)",
                manifest.node_id, config.node_id
            )?;
            return Ok(Outcome::Failure);
        }
        // A missing or unreadable manifest is reported by the verification below, like any damage.
        _ => {}
    }

    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let stamp = now_ms();
    let staging = config.data_dir.join(format!("{DB_DIR}.restoring-{stamp}"));
    let replay_work = WorkDir::new(&config.data_dir, "backup-replay")?;
    let checked = check_backup(dir, Some(&config.genesis_file), &staging, &replay_work.path().join("replay"));
    drop(replay_work);
    let summary = match checked {
        Ok(Verdict::Sound(summary)) => summary,
        Ok(damaged @ Verdict::Damaged(_)) => {
            let _ = std::fs::remove_dir_all(&staging);
            writeln!(err, "refusing to restore a damaged backup; nothing was changed")?;
            write_verdict(dir, &damaged, out)?;
            return Ok(Outcome::Failure);
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error);
        }
    };

    // The checked copy replaces the live store; an old store is kept under another name.
    let moved_aside = if live.exists() {
        if holds_store {
            let aside = config.data_dir.join(format!("{DB_DIR}.before-restore-{stamp}"));
            std::fs::rename(&live, &aside)
                .with_context(|| format!("moving the old store {} aside to {}", live.display(), aside.display()))?;
            Some(aside)
        } else {
            std::fs::remove_dir(&live).with_context(|| format!("removing the empty directory {}", live.display()))?;
            None
        }
    } else {
        None
    };
    std::fs::rename(&staging, &live)
        .with_context(|| format!("moving the restored store {} into place at {}", staging.display(), live.display()))?;
    backup::sync_dir(&config.data_dir)?;

    let manifest = &summary.manifest;
    let store = RocksStore::open(&live).with_context(|| format!("opening the restored store {}", live.display()))?;
    let tip = store.latest()?.context("the restored store holds no blocks")?;
    if (tip.height, tip.hash) != (manifest.height, manifest.block_hash) {
        bail!("the restored store ends at height {} block {}, not where the verified backup did", tip.height, tip.hash);
    }
    let mut record = AuditRecord::new(
        now_ms(),
        config.node_id.clone(),
        EventType::BackupRestored,
        Actor::System,
        AuditOutcome::Success,
    )
    .with_detail(
        "backup",
        detail_value(&std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()).display().to_string()),
    )
    .with_detail("height", manifest.height.to_string())
    .with_detail("block_hash", manifest.block_hash.to_hex())
    .with_detail("created_at", detail_value(&manifest.created_at))
    .with_detail("manifest_sha256", summary.manifest_sha256.to_hex());
    if let Some(aside) = &moved_aside {
        record = record.with_detail("moved_aside", detail_value(&aside.display().to_string()));
    }
    store.append(record).context("appending the restore's audit record")?;
    drop(store);

    writeln!(
        out,
        "restored backup {} (height {}, block {}, taken {}) into {}",
        dir.display(),
        manifest.height,
        manifest.block_hash,
        manifest.created_at,
        live.display()
    )?;
    if let Some(aside) = moved_aside {
        writeln!(out, "  the previous store was moved to {} (delete it once no longer needed)", aside.display())?;
    }
    writeln!(
        out,
        "  verified first: {} files, {} blocks, {} state entries, {} audit entries",
        manifest.files.len(),
        manifest.height + 1,
        summary.state_entries,
        summary.audit_entries
    )?;
    writeln!(out, "  start the node: it catches up with the consortium by block sync")?;
    Ok(Outcome::Success)
}

fn directory_has_entries(path: &Path) -> Result<bool> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// The node's API address if something accepts connections there (the node is probably running).
fn node_answers(config: &NodeConfig) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let addresses = config.api_addr.to_string().to_socket_addrs().ok()?;
    addresses.into_iter().find(|address| {
        std::net::TcpStream::connect_timeout(address, Duration::from_millis(NODE_PROBE_TIMEOUT_MS)).is_ok()
    })
}
