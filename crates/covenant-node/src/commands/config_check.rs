//! `covenant config check`: validates genesis and node config files, alone and as a set.
//!
//! For a node config it goes further than parsing: it loads the genesis the config names, checks that
//! the node is registered there, that its key files hold the keys registered for it, that they follow
//! the key policy of article 41 (plaintext only on a test chain with `allow_plaintext_keys = true`;
//! encrypted key files open with their passphrase when it is at hand), and that the node keeps audit
//! records at least as long as the chain requires. Across several node configs it checks that they
//! share one genesis and do not clash (ids, addresses, data directories, key files).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use covenant_rules::genesis::ActionClass;
use covenant_rules::{Genesis, RuleId};
use covenant_types::NodeRole;

use crate::config::{NodeConfig, read_config_file};
use crate::keyfile::{
    KeyFileError, KeyFormat, KeyPurpose, PassphraseSource, check_key_policy, check_plaintext_flag, inspect_key_file,
    read_key_file,
};

/// What kind of file an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A genesis file.
    Genesis,
    /// A node config file.
    Node,
}

/// One thing to check: a file (of a known kind, or detected from its content) or a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The path.
    pub path: PathBuf,
    /// Forced kind (`--genesis` / `--node`); `None` detects it, and expands directories.
    pub kind: Option<FileKind>,
}

/// The verdict on one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Valid (possibly with warnings).
    Ok,
    /// At least one error.
    Failed,
    /// Not checked: a `bad-*.toml` fixture found while expanding a directory.
    Skipped,
}

/// The result for one file.
#[derive(Clone, Debug)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its kind, once known.
    pub kind: Option<FileKind>,
    /// Summary lines of a valid file.
    pub summary: Vec<String>,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Errors, each naming file and field.
    pub errors: Vec<String>,
    skipped: bool,
}

impl FileReport {
    fn new(path: &Path, kind: Option<FileKind>) -> FileReport {
        FileReport {
            path: path.to_path_buf(),
            kind,
            summary: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
            skipped: false,
        }
    }

    /// Ok, failed or skipped.
    pub fn status(&self) -> Status {
        if self.skipped {
            Status::Skipped
        } else if self.errors.is_empty() {
            Status::Ok
        } else {
            Status::Failed
        }
    }

    fn error(&mut self, field: &str, message: impl std::fmt::Display, rule: Option<RuleId>) {
        self.errors.push(format!("{}: {field}: {message}{}", self.path.display(), rule_suffix(rule)));
    }
}

/// The results for every file, in the order checked.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One entry per file.
    pub files: Vec<FileReport>,
}

impl Report {
    /// True if any file failed.
    pub fn has_errors(&self) -> bool {
        self.files.iter().any(|file| file.status() == Status::Failed)
    }

    /// Writes the report for a human.
    pub fn render(&self, out: &mut dyn Write) -> io::Result<()> {
        for file in &self.files {
            let kind = match file.kind {
                Some(FileKind::Genesis) => " (genesis)",
                Some(FileKind::Node) => " (node config)",
                None => "",
            };
            match file.status() {
                Status::Ok => writeln!(out, "ok      {}{kind}", file.path.display())?,
                Status::Failed => {
                    writeln!(out, "FAILED  {}{kind}: {} error(s)", file.path.display(), file.errors.len())?
                }
                Status::Skipped => {
                    writeln!(out, "skipped {} (bad-* fixture; name the file to check it)", file.path.display())?
                }
            }
            for line in &file.summary {
                writeln!(out, "        {line}")?;
            }
            for warning in &file.warnings {
                writeln!(out, "        warning: {warning}")?;
            }
            for error in &file.errors {
                writeln!(out, "        error: {error}")?;
            }
        }
        let count = |status| self.files.iter().filter(|file| file.status() == status).count();
        writeln!(
            out,
            "checked {} file(s): {} ok, {} failed, {} skipped",
            count(Status::Ok) + count(Status::Failed),
            count(Status::Ok),
            count(Status::Failed),
            count(Status::Skipped)
        )
    }
}

fn rule_suffix(rule: Option<RuleId>) -> String {
    rule.map(|rule| format!(" [{rule}, article {}]", rule.article())).unwrap_or_default()
}

/// Checks every input: files by kind, directories by expanding to their `*.toml` files (not
/// recursively, `bad-*.toml` skipped), then the node configs as a set.
pub fn run(inputs: &[Input]) -> Report {
    let mut checker = Checker::default();
    let explicit: Vec<PathBuf> = inputs.iter().map(|input| canonical(&input.path)).collect();
    checker.explicit = explicit;
    for input in inputs {
        if input.kind.is_none() && input.path.is_dir() {
            checker.directory(&input.path);
        } else {
            checker.file(&input.path, input.kind);
        }
    }
    checker.set_checks();
    checker.report
}

#[derive(Default)]
struct Checker {
    report: Report,
    /// Genesis files already loaded, by canonical path.
    geneses: BTreeMap<PathBuf, Result<Genesis, Vec<String>>>,
    /// Paths given or found, canonical, to avoid repeating a genesis's errors under each node.
    explicit: Vec<PathBuf>,
    /// Valid node configs with their report index.
    nodes: Vec<(usize, NodeConfig)>,
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl Checker {
    fn directory(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) => {
                let mut report = FileReport::new(dir, None);
                report.error("(directory)", format!("cannot read: {error}"), None);
                self.report.files.push(report);
                return;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            let mut report = FileReport::new(dir, None);
            report.error("(directory)", "contains no .toml files", None);
            self.report.files.push(report);
        }
        for path in &files {
            self.explicit.push(canonical(path));
        }
        for path in files {
            let fixture = path.file_name().and_then(|name| name.to_str()).is_some_and(|name| name.starts_with("bad-"));
            if fixture {
                let mut report = FileReport::new(&path, None);
                report.skipped = true;
                self.report.files.push(report);
            } else {
                self.file(&path, None);
            }
        }
    }

    fn file(&mut self, path: &Path, kind: Option<FileKind>) {
        let mut report = FileReport::new(path, kind);
        let text = match read_config_file(path) {
            Ok(text) => text,
            Err(error) => {
                report.error("(file)", format!("cannot read: {error}"), None);
                self.report.files.push(report);
                return;
            }
        };
        let kind = match kind.map(Ok).unwrap_or_else(|| detect(&text)) {
            Ok(kind) => kind,
            Err(message) => {
                report.error("(document)", message, None);
                self.report.files.push(report);
                return;
            }
        };
        report.kind = Some(kind);
        match kind {
            FileKind::Genesis => {
                match self.genesis(path, Some(&text)) {
                    Ok(genesis) => report.summary = genesis_summary(&genesis),
                    Err(errors) => report.errors = errors,
                }
                self.report.files.push(report);
            }
            FileKind::Node => self.node(report, &text),
        }
    }

    /// Loads (once) and validates the genesis at `path`; errors are full lines naming the file.
    fn genesis(&mut self, path: &Path, text: Option<&str>) -> Result<Genesis, Vec<String>> {
        let key = canonical(path);
        if let Some(result) = self.geneses.get(&key) {
            return result.clone();
        }
        let loaded = match text.map(|text| Ok(text.to_string())).unwrap_or_else(|| read_config_file(path)) {
            Err(error) => Err(vec![format!("{}: (file): cannot read: {error}", path.display())]),
            Ok(text) => Genesis::from_toml_str(&text)
                .map_err(|errors| errors.0.iter().map(|error| format!("{}: {error}", path.display())).collect()),
        };
        self.geneses.insert(key, loaded.clone());
        loaded
    }

    fn node(&mut self, mut report: FileReport, text: &str) {
        let path = report.path.clone();
        let config = match NodeConfig::from_toml_str(text, &path) {
            Ok(config) => config,
            Err(errors) => {
                report.errors = errors.0.iter().map(ToString::to_string).collect();
                self.report.files.push(report);
                return;
            }
        };
        report.warnings.extend(config.warnings.iter().cloned());
        let genesis = match self.genesis(&config.genesis_file, None) {
            Ok(genesis) => genesis,
            Err(errors) => {
                let shown_elsewhere = self.explicit.contains(&canonical(&config.genesis_file));
                report.error(
                    "genesis_file",
                    format!("{} is not a valid genesis ({} error(s))", config.genesis_file.display(), errors.len()),
                    None,
                );
                if !shown_elsewhere {
                    report.errors.extend(errors);
                }
                self.report.files.push(report);
                return;
            }
        };
        cross_check(&mut report, &config, &genesis);
        if report.errors.is_empty() {
            report.summary = node_summary(&config, &genesis);
            self.nodes.push((self.report.files.len(), config));
        }
        self.report.files.push(report);
    }

    /// Node configs checked together must share one genesis and not clash.
    fn set_checks(&mut self) {
        for later in 1..self.nodes.len() {
            let (index, config) = &self.nodes[later];
            let mut errors = Vec::new();
            for (earlier_index, earlier) in &self.nodes[..later] {
                let other = self.report.files[*earlier_index].path.display().to_string();
                let mut clash = |field: &str, same: bool, value: String| {
                    if same {
                        errors.push((field.to_string(), format!("{value} is also used by {other}")));
                    }
                };
                clash("node_id", config.node_id == earlier.node_id, config.node_id.to_string());
                clash("listen_addr", config.listen_addr == earlier.listen_addr, config.listen_addr.to_string());
                clash("api_addr", config.api_addr == earlier.api_addr, config.api_addr.to_string());
                if let Some(ops) = &config.ops_addr {
                    clash("ops_addr", earlier.ops_addr.as_ref() == Some(ops), ops.to_string());
                }
                clash("data_dir", config.data_dir == earlier.data_dir, config.data_dir.display().to_string());
                clash(
                    "consensus_key_file",
                    canonical(&config.consensus_key_file) == canonical(&earlier.consensus_key_file),
                    config.consensus_key_file.display().to_string(),
                );
                clash(
                    "network_key_file",
                    canonical(&config.network_key_file) == canonical(&earlier.network_key_file),
                    config.network_key_file.display().to_string(),
                );
                let this_hash = self.geneses.get(&canonical(&config.genesis_file)).and_then(|g| g.as_ref().ok());
                let that_hash = self.geneses.get(&canonical(&earlier.genesis_file)).and_then(|g| g.as_ref().ok());
                if let (Some(this), Some(that)) = (this_hash, that_hash)
                    && this.hash() != that.hash()
                {
                    errors.push((
                        "genesis_file".to_string(),
                        format!("genesis hash {} differs from {} used by {other}", this.hash(), that.hash()),
                    ));
                }
            }
            let report = &mut self.report.files[*index];
            for (field, message) in errors {
                report.error(&field, message, None);
            }
            if !report.errors.is_empty() {
                report.summary.clear();
            }
        }
    }
}

/// Tells a genesis from a node config by its top-level keys.
fn detect(text: &str) -> Result<FileKind, String> {
    let table: toml::Table = toml::from_str(text).map_err(|error| {
        let (line, column) =
            error.span().map(|span| covenant_rules::genesis::line_column(text, span.start)).unwrap_or((0, 0));
        format!("{} (line {line}, column {column})", error.message())
    })?;
    if table.contains_key("node_id") {
        Ok(FileKind::Node)
    } else if ["chain_id", "members", "thresholds", "operators"].iter().any(|key| table.contains_key(*key)) {
        Ok(FileKind::Genesis)
    } else {
        Err("cannot tell a genesis (chain_id, members, ...) from a node config (node_id, ...); use --genesis or --node"
            .into())
    }
}

/// Checks a valid node config against its valid genesis and its key files.
fn cross_check(report: &mut FileReport, config: &NodeConfig, genesis: &Genesis) {
    let registered = genesis.node(&config.node_id);
    if registered.is_none() {
        report.error(
            "node_id",
            format!(
                "node {} is not registered in genesis {}; peers will refuse it",
                config.node_id,
                config.genesis_file.display()
            ),
            Some(RuleId::PermissionedPeers),
        );
    }
    check_key_files(report, config, genesis, registered);
    if let Some(file) = &config.ops_token_file
        && let Err(error) = crate::ops::OpsToken::load(file)
    {
        report.error("ops_token_file", error, None);
    }
    if let Err(error) = crate::tls::api_acceptor(config, genesis.environment()) {
        report.error("api_tls_cert_file", error, Some(RuleId::EncryptedTransport));
    }
    let chain_retention_days = genesis.parameters().audit_retention_days;
    if config.audit_retention_days < chain_retention_days {
        report.error(
            "audit_retention_days",
            format!(
                "{} days is below the chain's audit_retention_days parameter of {chain_retention_days} days",
                config.audit_retention_days
            ),
            Some(RuleId::Retention),
        );
    }
}

/// Checks a node's key files against the key policy of article 41 and the keys genesis registers:
/// plaintext only on a test chain with `allow_plaintext_keys = true`, production-strength encryption on a
/// production chain, the public key (in clear in an encrypted file) equal to the registered one, and,
/// when the passphrase is at hand (`key_passphrase_file` or `COVENANT_KEY_PASSPHRASE`), that it opens
/// each encrypted file.
fn check_key_files(
    report: &mut FileReport,
    config: &NodeConfig,
    genesis: &Genesis,
    registered: Option<&covenant_types::NodeRecord>,
) {
    let environment = genesis.environment();
    if let Err(error) = check_plaintext_flag(config, environment) {
        report.error("allow_plaintext_keys", error, Some(RuleId::KeyRotation));
    }
    let source = PassphraseSource::node(config.key_passphrase_file.clone());
    if let Some(file) = &config.key_passphrase_file
        && let Some(mode) = file_mode(file)
        && mode & 0o077 != 0
    {
        report.warnings.push(format!(
            "key_passphrase_file: {} has mode {mode:04o}; restrict it to 0600 (chmod 600)",
            file.display()
        ));
    }
    let mut passphrase_error = false;
    let key_files = [
        ("consensus_key_file", &config.consensus_key_file, registered.map(|node| node.consensus_key)),
        ("network_key_file", &config.network_key_file, registered.map(|node| node.network_key)),
    ];
    for (field, file, expected) in key_files {
        let info = match inspect_key_file(file) {
            Ok(info) => info,
            Err(error) => {
                report.error(field, error, None);
                continue;
            }
        };
        if info.too_open() {
            report.warnings.push(format!(
                "{field}: {} has mode {:04o}; restrict it to 0600 (chmod 600)",
                file.display(),
                info.mode.unwrap_or_default()
            ));
        }
        if let Err(error) = check_key_policy(file, field, info.format, environment, config.allow_plaintext_keys) {
            report.error(field, error, Some(RuleId::KeyRotation));
        }
        if let Some(expected) = expected
            && info.public_key != expected
        {
            report.error(
                field,
                format!(
                    "{} holds key {}, but genesis registers {expected} for node {}",
                    file.display(),
                    info.public_key,
                    config.node_id
                ),
                None,
            );
        }
        if info.purpose == KeyPurpose::Backup {
            report.error(field, KeyFileError::IsBackup { path: file.clone() }, None);
            continue;
        }
        if let KeyFormat::Encrypted(_) = info.format {
            match source.read() {
                Ok(Some(_)) => {
                    if let Err(error) = read_key_file(file, &source) {
                        report.error(field, error, Some(RuleId::KeyRotation));
                    }
                }
                Ok(None) => report.warnings.push(format!(
                    "{field}: {} is encrypted; its passphrase was not checked (none given: set {})",
                    file.display(),
                    source.hint()
                )),
                Err(error) => {
                    if !passphrase_error {
                        report.error("key_passphrase_file", error, Some(RuleId::KeyRotation));
                        passphrase_error = true;
                    }
                }
            }
        }
    }
}

fn key_format(file: &Path) -> String {
    match inspect_key_file(file).map(|info| info.format) {
        Ok(KeyFormat::Plaintext) => "plaintext".into(),
        Ok(KeyFormat::Encrypted(kdf)) => format!("encrypted ({kdf})"),
        Err(_) => "unreadable".into(),
    }
}

#[cfg(unix)]
fn file_mode(file: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).ok().map(|metadata| metadata.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_file: &Path) -> Option<u32> {
    None
}

fn short(hash: &covenant_types::Hash) -> String {
    hash.to_hex()[..16].to_string()
}

fn genesis_summary(genesis: &Genesis) -> Vec<String> {
    let set = genesis.validator_set();
    let observers = genesis.nodes().iter().filter(|node| node.role == NodeRole::Observer).count();
    let members: Vec<String> =
        genesis.members().iter().map(|member| format!("{} ({})", member.id, member.jurisdiction)).collect();
    let mut thresholds = String::new();
    for class in ActionClass::ALL {
        let _ = write!(
            thresholds,
            "{}{class} {}",
            if thresholds.is_empty() { "" } else { ", " },
            genesis.thresholds().members_required(class)
        );
    }
    vec![
        format!(
            "chain {} ({}), genesis time {} ms",
            genesis.chain_id(),
            genesis.environment(),
            genesis.genesis_time_ms()
        ),
        format!("members {}: {}", genesis.members().len(), members.join(", ")),
        format!("operators {}", genesis.operators().len()),
        format!(
            "validators {} (quorum {}, tolerates {} faulty), observers {observers}",
            set.len(),
            set.quorum(),
            set.max_faulty()
        ),
        format!("thresholds (members): {thresholds}"),
        format!(
            "parameters hash {}, validator set hash {}, genesis hash {}",
            short(&genesis.parameters().hash()),
            short(&set.hash()),
            genesis.hash()
        ),
    ]
}

fn node_summary(config: &NodeConfig, genesis: &Genesis) -> Vec<String> {
    let record = genesis.node(&config.node_id);
    let role = record.map_or("unregistered".to_string(), |node| {
        let role = match node.role {
            NodeRole::Validator => "validator",
            NodeRole::Observer => "observer",
        };
        format!("{role} of {}", node.member)
    });
    vec![
        format!("node {}: {role} on chain {} ({})", config.node_id, genesis.chain_id(), genesis.environment()),
        format!(
            "listen {}, api {}{}, {} bootstrap peer(s)",
            config.listen_addr,
            config.api_addr,
            if config.api_addr.is_loopback() { " (loopback)" } else { " (public)" },
            config.bootstrap_peers.len()
        ),
        format!("data {}, audit retention {} days", config.data_dir.display(), config.audit_retention_days),
        format!("keys match genesis {}, genesis hash {}", config.genesis_file.display(), short(&genesis.hash())),
        format!(
            "key files: consensus {}, network {}",
            key_format(&config.consensus_key_file),
            key_format(&config.network_key_file)
        ),
    ]
}
