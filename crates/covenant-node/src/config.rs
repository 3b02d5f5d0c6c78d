//! The node's own configuration, `node.toml`: where it keeps data, where it listens, which genesis and
//! key files it uses, how it logs. Chain-wide values are not here: they live on chain (genesis, then
//! governance).
//!
//! Two layers: [`RawNodeConfig`] mirrors the TOML with unknown fields denied; [`RawNodeConfig::validate`]
//! turns it into [`NodeConfig`], returning every problem at once, each naming the file and the field.
//! Relative paths resolve against the directory of the config file, so a config set can be moved as a
//! whole.
//!
//! ```toml
//! node_id = "bank-a-val-0"
//! data_dir = "data/bank-a-val-0"
//! listen_addr = "0.0.0.0:7100"
//! api_addr = "127.0.0.1:7200"          # loopback by default (article 21)
//! ops_addr = "127.0.0.1:9200"          # metrics, health, readiness, admin actions (loopback by default)
//! ops_token_file = "keys/bank-a-val-0.ops-token"   # the token admin actions need (mode 600)
//! genesis_file = "genesis.toml"
//! consensus_key_file = "keys/bank-a-val-0.consensus.key"
//! network_key_file = "keys/bank-a-val-0.network.key"
//! key_passphrase_file = "/run/secrets/covenant-key-passphrase"   # or COVENANT_KEY_PASSPHRASE
//! allow_plaintext_keys = false         # true only for plaintext test keys on a test chain
//! bootstrap_peers = ["bank-b-val-0@10.0.0.2:7100"]   # node id (its key is on chain) @ host:port
//! audit_retention_days = 365           # at least 365 (article 18)
//! member_txs_per_second = 100000       # each member's clients, to this node (article 45)
//! member_txs_burst = 200000
//! [log]
//! format = "json"                      # text | json
//! level = "info"                       # error | warn | info | debug | trace
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use covenant_core::rate::{
    MEMBER_TXS_BURST_DEFAULT, MEMBER_TXS_LIMIT_MAX, MEMBER_TXS_PER_SECOND_DEFAULT, MemberTxLimits,
};
use covenant_rules::checks::check_audit_retention;
use covenant_rules::{AUDIT_RETENTION_DAYS_MIN, RuleId, Violation};
use covenant_types::{IdError, NodeId};

/// Where the admin API listens when `api_addr` is not given: loopback only (article 21).
pub const DEFAULT_API_ADDR: &str = "127.0.0.1:7200";
/// Most bootstrap peers a config may list (every list is bounded).
pub const BOOTSTRAP_PEERS_MAX: usize = 256;
/// Longest host name accepted in an address (RFC 1035).
pub const HOST_NAME_BYTES_MAX: usize = 253;
/// Largest configuration file (node config or genesis) read, in bytes. A genesis with the largest
/// validator set and thousands of operators stays far below this.
pub const CONFIG_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Reads a configuration file as text, refusing files above [`CONFIG_FILE_BYTES_MAX`] before reading.
pub fn read_config_file(file: &Path) -> Result<String, String> {
    let len_bytes = std::fs::metadata(file).map_err(|error| error.to_string())?.len();
    if len_bytes > CONFIG_FILE_BYTES_MAX {
        return Err(format!("{len_bytes} bytes exceeds the limit of {CONFIG_FILE_BYTES_MAX} bytes for a config file"));
    }
    std::fs::read_to_string(file).map_err(|error| error.to_string())
}

// ---------------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------------

/// The host part of a [`HostPort`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Host {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name (checked for shape only; not resolved).
    Name(String),
}

/// A `host:port` address (`127.0.0.1:7100`, `[::1]:7100`, `node-0.bank-a.example:7100`). Kept simple
/// until the network layer settles on multiaddrs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct HostPort {
    /// Host.
    pub host: Host,
    /// Port, never 0.
    pub port: u16,
}

impl HostPort {
    /// True for 127.0.0.0/8, `::1` and `localhost`.
    pub fn is_loopback(&self) -> bool {
        match &self.host {
            Host::Ip(ip) => ip.is_loopback(),
            Host::Name(name) => name == "localhost",
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(text: &str) -> Result<HostPort, String> {
        if let Ok(socket) = SocketAddr::from_str(text) {
            if socket.port() == 0 {
                return Err("port 0 is not allowed".into());
            }
            return Ok(HostPort { host: Host::Ip(socket.ip()), port: socket.port() });
        }
        let (host, port) = text.rsplit_once(':').ok_or("expected host:port, e.g. 127.0.0.1:7100")?;
        let port: u16 = port.parse().map_err(|_| format!("port {port:?} is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err("port 0 is not allowed".into());
        }
        if host.contains(':') || host.starts_with('[') {
            return Err("an IPv6 address must be written in brackets, e.g. [::1]:7100".into());
        }
        if host.parse::<IpAddr>().is_ok() {
            return Err(format!("{host:?} is not a valid address"));
        }
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if host.is_empty() || host.len() > HOST_NAME_BYTES_MAX || !host.split('.').all(label_ok) {
            return Err(format!("{host:?} is neither an IP address nor a valid host name"));
        }
        if host.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(format!("{host:?} is not a valid IPv4 address"));
        }
        Ok(HostPort { host: Host::Name(host.to_ascii_lowercase()), port })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

/// A peer to dial at start: its node id (whose network key, registered on chain, it must present in
/// the Noise handshake) and its address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct BootstrapPeer {
    /// The peer's node id.
    pub node: NodeId,
    /// Where it listens.
    pub address: HostPort,
}

impl fmt::Display for BootstrapPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node, self.address)
    }
}

// ---------------------------------------------------------------------------------------------------
// Raw layer
// ---------------------------------------------------------------------------------------------------

/// Log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for central log management (article 50).
    Json,
}

/// Least severe level logged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Verbose.
    Debug,
    /// Very verbose.
    Trace,
}

/// The `[log]` section.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub level: LogLevel,
}

/// `node.toml` as written: plain values, unknown fields denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNodeConfig {
    /// This node's id, as registered in genesis.
    pub node_id: String,
    /// Where the node keeps its database and audit log.
    pub data_dir: PathBuf,
    /// Peer-to-peer listen address, `host:port`.
    pub listen_addr: String,
    /// Admin/client API address, `host:port`; loopback by default.
    #[serde(default)]
    pub api_addr: Option<String>,
    /// Allow a non-loopback `api_addr` (article 21: only behind TLS or an encrypted tunnel).
    #[serde(default)]
    pub api_public: bool,
    /// DNS names clients may reach the API by (the `Host` header); IP addresses and `localhost` are
    /// always accepted. Any other name is refused, so that a web page cannot reach the API through a
    /// name of its own that resolves here (DNS rebinding).
    #[serde(default)]
    pub api_hosts: Vec<String>,
    /// The API's TLS certificate chain (PEM); with `api_tls_key_file`, the API serves HTTPS only.
    #[serde(default)]
    pub api_tls_cert_file: Option<PathBuf>,
    /// The private key of `api_tls_cert_file` (PEM).
    #[serde(default)]
    pub api_tls_key_file: Option<PathBuf>,
    /// Operations listener address, `host:port` (`/metrics`, `/healthz`, `/readyz`, admin actions);
    /// none without it.
    #[serde(default)]
    pub ops_addr: Option<String>,
    /// Allow a non-loopback `ops_addr` (a Prometheus on another host; admin actions still need the
    /// token).
    #[serde(default)]
    pub ops_public: bool,
    /// The file holding the operations token administrative actions need; without it they are off.
    #[serde(default)]
    pub ops_token_file: Option<PathBuf>,
    /// The genesis file.
    pub genesis_file: PathBuf,
    /// The key signing consensus messages and commit seals.
    pub consensus_key_file: PathBuf,
    /// The peer identity key.
    pub network_key_file: PathBuf,
    /// The file holding the passphrase of encrypted key files (otherwise the `COVENANT_KEY_PASSPHRASE`
    /// environment variable is read).
    #[serde(default)]
    pub key_passphrase_file: Option<PathBuf>,
    /// Accept plaintext key files; honoured only on a test chain (article 41). Defaults to false.
    #[serde(default)]
    pub allow_plaintext_keys: bool,
    /// Peers to dial at start, `host:port`.
    #[serde(default)]
    pub bootstrap_peers: Vec<String>,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Days the local audit log is kept; at least 365 (article 18). Defaults to 365.
    #[serde(default)]
    pub audit_retention_days: Option<u64>,
    /// Transactions per second each member's clients may send this node (article 45); 1 to
    /// 1,000,000,000, default 100,000.
    #[serde(default)]
    pub member_txs_per_second: Option<u64>,
    /// Transactions each member's clients may send this node at once; 1 to 1,000,000,000, default
    /// 200,000.
    #[serde(default)]
    pub member_txs_burst: Option<u64>,
}

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

/// One problem in a node config file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct NodeConfigError {
    /// The config file.
    pub file: PathBuf,
    /// The field, e.g. `api_addr` or `log.level`, or `(file)` / `(document)`.
    pub field: String,
    /// What is wrong.
    pub kind: NodeConfigErrorKind,
}

impl NodeConfigError {
    /// The covenant rule that makes this an error, if any.
    pub fn rule(&self) -> Option<RuleId> {
        match &self.kind {
            NodeConfigErrorKind::Covenant(violation) => Some(violation.rule()),
            _ => None,
        }
    }
}

impl fmt::Display for NodeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.file.display(), self.field, self.kind)?;
        if let Some(rule) = self.rule() {
            write!(f, " [{rule}, article {}]", rule.article())?;
        }
        Ok(())
    }
}

/// What is wrong with a node config field.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NodeConfigErrorKind {
    /// The file could not be read.
    #[error("cannot read: {reason}")]
    Read {
        /// The operating system's message.
        reason: String,
    },
    /// Not valid TOML, a wrong type, a missing or an unknown field.
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        /// The parser's message.
        message: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
    },
    /// A malformed id.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A malformed address.
    #[error("address {value:?}: {reason}")]
    Address {
        /// As written.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// An empty path.
    #[error("path must not be empty")]
    EmptyPath,
    /// Two fields that must differ are equal.
    #[error("{value} is also used by {other_field}")]
    Clash {
        /// The shared value.
        value: String,
        /// The other field.
        other_field: String,
    },
    /// A field that goes with another is missing.
    #[error("missing: it must be given together with {with}")]
    Missing {
        /// The field given without it.
        with: String,
    },
    /// Too many entries.
    #[error("{count} entries exceed the limit of {max}")]
    TooMany {
        /// Entries given.
        count: usize,
        /// Limit.
        max: usize,
    },
    /// A number outside its range.
    #[error("{value} is outside {min} to {max}")]
    OutOfRange {
        /// Value given.
        value: u64,
        /// Least allowed.
        min: u64,
        /// Most allowed.
        max: u64,
    },
    /// A covenant rule broken.
    #[error(transparent)]
    Covenant(Violation),
}

/// Every problem found in a node config file (never empty).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct NodeConfigErrors(pub Vec<NodeConfigError>);

impl NodeConfigErrors {
    /// The errors, in the order found.
    pub fn errors(&self) -> &[NodeConfigError] {
        &self.0
    }
}

impl fmt::Display for NodeConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in node config:", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------
// Typed layer
// ---------------------------------------------------------------------------------------------------

/// A validated node configuration, paths resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// This node's id.
    pub node_id: NodeId,
    /// Data directory (resolved).
    pub data_dir: PathBuf,
    /// Peer-to-peer listen address.
    pub listen_addr: HostPort,
    /// API address.
    pub api_addr: HostPort,
    /// Whether a non-loopback API address was explicitly allowed.
    pub api_public: bool,
    /// DNS names accepted in the API's `Host` header, lower case (see [`RawNodeConfig::api_hosts`]).
    pub api_hosts: Vec<String>,
    /// The API's TLS certificate chain (resolved), if it serves HTTPS.
    pub api_tls_cert_file: Option<PathBuf>,
    /// Its private key (resolved).
    pub api_tls_key_file: Option<PathBuf>,
    /// Operations listener address, if any.
    pub ops_addr: Option<HostPort>,
    /// Operations token file (resolved), if any.
    pub ops_token_file: Option<PathBuf>,
    /// Genesis file (resolved).
    pub genesis_file: PathBuf,
    /// Consensus key file (resolved).
    pub consensus_key_file: PathBuf,
    /// Network key file (resolved).
    pub network_key_file: PathBuf,
    /// Passphrase file of encrypted key files (resolved), if any.
    pub key_passphrase_file: Option<PathBuf>,
    /// Whether plaintext key files are accepted (only ever on a test chain).
    pub allow_plaintext_keys: bool,
    /// Peers to dial at start.
    pub bootstrap_peers: Vec<BootstrapPeer>,
    /// Logging.
    pub log: LogConfig,
    /// Days the local audit log is kept.
    pub audit_retention_days: u64,
    /// Clients' transactions each member may send this node (COV-45).
    pub member_tx_limits: MemberTxLimits,
    /// Things allowed but worth an operator's attention.
    pub warnings: Vec<String>,
}

impl NodeConfig {
    /// Reads, parses and validates the file at `file`.
    pub fn load(file: &Path) -> Result<NodeConfig, NodeConfigErrors> {
        let text = read_config_file(file).map_err(|reason| {
            NodeConfigErrors(vec![NodeConfigError {
                file: file.to_path_buf(),
                field: "(file)".into(),
                kind: NodeConfigErrorKind::Read { reason },
            }])
        })?;
        NodeConfig::from_toml_str(&text, file)
    }

    /// Parses and validates `text`, read from `file` (which names errors and anchors relative paths).
    pub fn from_toml_str(text: &str, file: &Path) -> Result<NodeConfig, NodeConfigErrors> {
        RawNodeConfig::from_toml_str(text, file)?.validate(file)
    }
}

impl RawNodeConfig {
    /// Parses TOML text read from `file`. Stops at the first syntax, type or unknown-field error.
    pub fn from_toml_str(text: &str, file: &Path) -> Result<RawNodeConfig, NodeConfigErrors> {
        let fail = |field: String, error: &toml::de::Error| {
            let (line, column) =
                error.span().map(|span| covenant_rules::genesis::line_column(text, span.start)).unwrap_or((0, 0));
            let field = if field.is_empty() || field == "." { "(document)".to_string() } else { field };
            NodeConfigErrors(vec![NodeConfigError {
                file: file.to_path_buf(),
                field,
                kind: NodeConfigErrorKind::Syntax { message: error.message().to_string(), line, column },
            }])
        };
        let deserializer = toml::Deserializer::parse(text).map_err(|error| fail(String::new(), &error))?;
        serde_path_to_error::deserialize(deserializer).map_err(|error| fail(error.path().to_string(), error.inner()))
    }

    /// Checks every field of a config read from `file`, returning all problems found.
    pub fn validate(self, file: &Path) -> Result<NodeConfig, NodeConfigErrors> {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut push = |field: &str, kind: NodeConfigErrorKind| {
            errors.push(NodeConfigError { file: file.to_path_buf(), field: field.to_string(), kind });
        };

        let node_id = NodeId::new(self.node_id.as_str()).map_err(|error| push("node_id", error.into())).ok();
        let mut path = |field: &str, value: &Path| {
            if value.as_os_str().is_empty() {
                push(field, NodeConfigErrorKind::EmptyPath);
            }
            base.join(value)
        };
        let data_dir = path("data_dir", &self.data_dir);
        let genesis_file = path("genesis_file", &self.genesis_file);
        let consensus_key_file = path("consensus_key_file", &self.consensus_key_file);
        let network_key_file = path("network_key_file", &self.network_key_file);
        let key_passphrase_file = self.key_passphrase_file.as_deref().map(|file| path("key_passphrase_file", file));
        let ops_token_file = self.ops_token_file.as_deref().map(|file| path("ops_token_file", file));
        let api_tls_cert_file = self.api_tls_cert_file.as_deref().map(|file| path("api_tls_cert_file", file));
        let api_tls_key_file = self.api_tls_key_file.as_deref().map(|file| path("api_tls_key_file", file));
        if !self.consensus_key_file.as_os_str().is_empty() && consensus_key_file == network_key_file {
            push(
                "network_key_file",
                NodeConfigErrorKind::Clash {
                    value: network_key_file.display().to_string(),
                    other_field: "consensus_key_file".into(),
                },
            );
        }
        if let Some(passphrase_file) = &key_passphrase_file {
            for (other_field, key_file) in
                [("consensus_key_file", &consensus_key_file), ("network_key_file", &network_key_file)]
            {
                if passphrase_file == key_file {
                    let value = passphrase_file.display().to_string();
                    push("key_passphrase_file", NodeConfigErrorKind::Clash { value, other_field: other_field.into() });
                }
            }
        }

        let mut address = |field: &str, value: &str| {
            value
                .parse::<HostPort>()
                .map_err(|reason| push(field, NodeConfigErrorKind::Address { value: value.to_string(), reason }))
                .ok()
        };
        let listen_addr = address("listen_addr", &self.listen_addr);
        let api_text = self.api_addr.as_deref().unwrap_or(DEFAULT_API_ADDR);
        let api_addr = address("api_addr", api_text);
        let ops_addr = self.ops_addr.as_deref().and_then(|text| address("ops_addr", text));
        let mut bootstrap_peers = Vec::new();
        let mut bootstrap_errors = Vec::new();
        for (index, peer) in self.bootstrap_peers.iter().enumerate() {
            let field = format!("bootstrap_peers[{index}]");
            let Some((node, host_port)) = peer.split_once('@') else {
                let reason = "expected node-id@host:port, e.g. bank-b-val-0@10.0.0.2:7100 (the node id names the registered network key the peer must present)".to_string();
                bootstrap_errors.push((field, NodeConfigErrorKind::Address { value: peer.to_string(), reason }));
                continue;
            };
            let node = match NodeId::new(node) {
                Ok(node) => node,
                Err(error) => {
                    let kind = NodeConfigErrorKind::Address { value: peer.to_string(), reason: error.to_string() };
                    bootstrap_errors.push((field, kind));
                    continue;
                }
            };
            if let Some(address) = address(&field, host_port) {
                bootstrap_peers.push((field, BootstrapPeer { node, address }));
            }
        }
        for (field, kind) in bootstrap_errors {
            push(&field, kind);
        }
        if self.bootstrap_peers.len() > BOOTSTRAP_PEERS_MAX {
            push(
                "bootstrap_peers",
                NodeConfigErrorKind::TooMany { count: self.bootstrap_peers.len(), max: BOOTSTRAP_PEERS_MAX },
            );
        }
        for (index, (field, peer)) in bootstrap_peers.iter().enumerate() {
            if let Some((other, _)) = bootstrap_peers[..index].iter().find(|(_, other)| other == peer) {
                push(field, NodeConfigErrorKind::Clash { value: peer.to_string(), other_field: other.clone() });
            }
            if listen_addr.as_ref() == Some(&peer.address) {
                push(field, NodeConfigErrorKind::Clash { value: peer.to_string(), other_field: "listen_addr".into() });
            }
        }
        if let (Some(listen), Some(api)) = (&listen_addr, &api_addr)
            && listen.port == api.port
            && (listen.host == api.host || is_unspecified(listen) || is_unspecified(api))
        {
            push("api_addr", NodeConfigErrorKind::Clash { value: api.to_string(), other_field: "listen_addr".into() });
        }
        if let Some(ops) = &ops_addr {
            for (other, taken) in [("listen_addr", &listen_addr), ("api_addr", &api_addr)] {
                if let Some(taken) = taken
                    && taken.port == ops.port
                    && (taken.host == ops.host || is_unspecified(taken) || is_unspecified(ops))
                {
                    push("ops_addr", NodeConfigErrorKind::Clash { value: ops.to_string(), other_field: other.into() });
                }
            }
            match (ops.is_loopback(), self.ops_public) {
                (false, false) => push(
                    "ops_addr",
                    NodeConfigErrorKind::Address {
                        value: ops.to_string(),
                        reason: "not a loopback address: set ops_public = true to serve metrics and health to other hosts (admin actions still need the token)".into(),
                    },
                ),
                (true, true) => {
                    warnings.push(format!("ops_public = true has no effect: ops_addr {ops} is a loopback address"))
                }
                _ => {}
            }
        } else {
            if self.ops_public {
                warnings.push("ops_public = true has no effect without ops_addr".to_string());
            }
            if ops_token_file.is_some() {
                warnings
                    .push("ops_token_file has no effect without ops_addr: there is no operations listener".to_string());
            }
        }
        if let Some(api) = &api_addr {
            match (api.is_loopback(), self.api_public) {
                (false, false) => {
                    push("api_addr", NodeConfigErrorKind::Covenant(Violation::AdminApiExposed { api_addr: api.to_string() }))
                }
                (false, true) if api_tls_cert_file.is_none() => warnings.push(format!(
                    "api_addr {api} is reachable from other hosts (api_public = true) without TLS: set api_tls_cert_file and api_tls_key_file, or serve it only behind an encrypted tunnel and a firewall (article 21; a production chain refuses to start so)"
                )),
                (false, true) => {}
                (true, true) => {
                    warnings.push(format!("api_public = true has no effect: api_addr {api} is a loopback address"))
                }
                (true, false) => {}
            }
        }

        match (&api_tls_cert_file, &api_tls_key_file) {
            (Some(_), None) => {
                push("api_tls_key_file", NodeConfigErrorKind::Missing { with: "api_tls_cert_file".into() })
            }
            (None, Some(_)) => {
                push("api_tls_cert_file", NodeConfigErrorKind::Missing { with: "api_tls_key_file".into() })
            }
            _ => {}
        }

        let audit_retention_days = self.audit_retention_days.unwrap_or(AUDIT_RETENTION_DAYS_MIN);
        if let Err(violation) = check_audit_retention(audit_retention_days) {
            push("audit_retention_days", NodeConfigErrorKind::Covenant(violation));
        }

        let mut member_limit = |field: &str, value: Option<u64>, default: u64| {
            let value = value.unwrap_or(default);
            if !(1..=MEMBER_TXS_LIMIT_MAX).contains(&value) {
                push(field, NodeConfigErrorKind::OutOfRange { value, min: 1, max: MEMBER_TXS_LIMIT_MAX });
            }
            value
        };
        let member_tx_limits = MemberTxLimits {
            txs_per_second: member_limit(
                "member_txs_per_second",
                self.member_txs_per_second,
                MEMBER_TXS_PER_SECOND_DEFAULT,
            ),
            burst: member_limit("member_txs_burst", self.member_txs_burst, MEMBER_TXS_BURST_DEFAULT),
        };

        match (node_id, listen_addr, api_addr) {
            (Some(node_id), Some(listen_addr), Some(api_addr)) if errors.is_empty() => Ok(NodeConfig {
                file: file.to_path_buf(),
                node_id,
                data_dir,
                listen_addr,
                api_addr,
                api_public: self.api_public,
                api_hosts: self.api_hosts.iter().map(|host| host.trim().to_ascii_lowercase()).collect(),
                api_tls_cert_file,
                api_tls_key_file,
                ops_addr,
                ops_token_file,
                genesis_file,
                consensus_key_file,
                network_key_file,
                key_passphrase_file,
                allow_plaintext_keys: self.allow_plaintext_keys,
                bootstrap_peers: bootstrap_peers.into_iter().map(|(_, peer)| peer).collect(),
                log: self.log,
                audit_retention_days,
                member_tx_limits,
                warnings,
            }),
            _ => Err(NodeConfigErrors(errors)),
        }
    }
}

fn is_unspecified(address: &HostPort) -> bool {
    matches!(address.host, Host::Ip(ip) if ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
node_id = "bank-a-val-0"
data_dir = "data/a"
listen_addr = "0.0.0.0:7100"
genesis_file = "genesis.toml"
consensus_key_file = "keys/a.consensus.key"
network_key_file = "/etc/covenant/a.network.key"
bootstrap_peers = ["b-0@10.0.0.2:7100", "c-0@[fd00::3]:7100", "c-3@node-3.bank-c.example:7100"]
[log]
format = "json"
"#;

    fn file() -> PathBuf {
        PathBuf::from("/srv/covenant/node.toml")
    }

    fn errors(text: &str) -> NodeConfigErrors {
        NodeConfig::from_toml_str(text, &file()).expect_err("config must be refused")
    }

    #[test]
    fn good_config_resolves_paths_and_defaults() {
        let config = NodeConfig::from_toml_str(GOOD, &file()).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/srv/covenant/data/a"));
        assert_eq!(config.consensus_key_file, PathBuf::from("/srv/covenant/keys/a.consensus.key"));
        assert_eq!(config.network_key_file, PathBuf::from("/etc/covenant/a.network.key"));
        assert_eq!(config.api_addr.to_string(), DEFAULT_API_ADDR);
        assert_eq!(config.audit_retention_days, 365);
        assert_eq!(config.log, LogConfig { format: LogFormat::Json, level: LogLevel::Info });
        assert_eq!(config.bootstrap_peers[1].to_string(), "c-0@[fd00::3]:7100");
        assert!(config.warnings.is_empty());
    }

    #[test]
    fn public_api_needs_opt_in_and_then_warns() {
        let errors = errors(&format!("{GOOD}\n").replace("[log]", "api_addr = \"0.0.0.0:7200\"\n[log]"));
        let error = &errors.errors()[0];
        assert_eq!(error.field, "api_addr");
        assert_eq!(error.rule(), Some(RuleId::EncryptedTransport));
        assert!(error.to_string().starts_with("/srv/covenant/node.toml: api_addr: admin API address 0.0.0.0:7200"));
        let opted = GOOD.replace("[log]", "api_addr = \"0.0.0.0:7200\"\napi_public = true\n[log]");
        let config = NodeConfig::from_toml_str(&opted, &file()).unwrap();
        assert_eq!(config.warnings.len(), 1);
    }

    #[test]
    fn retention_below_a_year_is_refused() {
        let errors = errors(&GOOD.replace("[log]", "audit_retention_days = 90\n[log]"));
        assert_eq!(errors.errors()[0].field, "audit_retention_days");
        assert_eq!(errors.errors()[0].rule(), Some(RuleId::Retention));
    }

    // covers: COV-45-LOAD-LIMITS
    #[test]
    fn member_rate_limits_default_generously_and_refuse_zero() {
        let config = NodeConfig::from_toml_str(GOOD, &file()).unwrap();
        assert_eq!(
            config.member_tx_limits,
            MemberTxLimits { txs_per_second: MEMBER_TXS_PER_SECOND_DEFAULT, burst: MEMBER_TXS_BURST_DEFAULT }
        );
        let set = GOOD.replace("[log]", "member_txs_per_second = 20\nmember_txs_burst = 50\n[log]");
        let config = NodeConfig::from_toml_str(&set, &file()).unwrap();
        assert_eq!(config.member_tx_limits, MemberTxLimits { txs_per_second: 20, burst: 50 });
        let errors = errors(&GOOD.replace("[log]", "member_txs_per_second = 0\nmember_txs_burst = 0\n[log]"));
        let fields: Vec<&str> = errors.errors().iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["member_txs_per_second", "member_txs_burst"]);
        assert!(errors.to_string().contains("0 is outside 1 to 1000000000"), "{errors}");
    }

    #[test]
    fn collects_every_error() {
        let text = GOOD
            .replace("\"bank-a-val-0\"", "\"Bank A\"")
            .replace("0.0.0.0:7100", "0.0.0.0:0")
            .replace("\"b-0@10.0.0.2:7100\"", "\"b-0@10.0.0.2\"")
            .replace("data/a", "");
        let errors = errors(&text);
        let fields: Vec<&str> = errors.errors().iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["node_id", "data_dir", "listen_addr", "bootstrap_peers[0]"]);
    }

    #[test]
    fn unknown_fields_and_bad_enums_name_their_path() {
        let error = &errors(&GOOD.replace("[log]", "[log]\ncolour = true"));
        assert_eq!(error.errors()[0].field, "log.colour");
        assert!(matches!(error.errors()[0].kind, NodeConfigErrorKind::Syntax { line: 10, .. }), "{error}");
        let error = &errors(&GOOD.replace("format = \"json\"", "format = \"xml\""));
        assert_eq!(error.errors()[0].field, "log.format");
    }

    #[test]
    fn clashes_are_refused() {
        let text = GOOD.replace("[log]", "api_addr = \"127.0.0.1:7100\"\n[log]").replace(
            "network_key_file = \"/etc/covenant/a.network.key\"",
            "network_key_file = \"keys/a.consensus.key\"",
        );
        let errors = errors(&text);
        let fields: Vec<&str> = errors.errors().iter().map(|error| error.field.as_str()).collect();
        assert_eq!(fields, ["network_key_file", "api_addr"]);
    }

    #[test]
    fn key_protection_fields() {
        let config = NodeConfig::from_toml_str(GOOD, &file()).unwrap();
        assert_eq!((config.key_passphrase_file, config.allow_plaintext_keys), (None, false));
        let text = GOOD.replace("[log]", "key_passphrase_file = \"secrets/pass\"\nallow_plaintext_keys = true\n[log]");
        let config = NodeConfig::from_toml_str(&text, &file()).unwrap();
        assert_eq!(config.key_passphrase_file, Some(PathBuf::from("/srv/covenant/secrets/pass")));
        assert!(config.allow_plaintext_keys);
        let errors = errors(&GOOD.replace("[log]", "key_passphrase_file = \"keys/a.consensus.key\"\n[log]"));
        assert_eq!(errors.errors()[0].field, "key_passphrase_file");
    }

    #[test]
    fn host_port_parsing() {
        for good in ["127.0.0.1:1", "[::1]:8080", "localhost:7100", "a-b.example.com:65535"] {
            assert!(good.parse::<HostPort>().is_ok(), "{good}");
        }
        for bad in ["127.0.0.1", "127.0.0.1:0", "::1:8080", "-a:1", "a..b:1", "host:99999", ":80", "300.1.1.1:80"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
        assert!("[::1]:1".parse::<HostPort>().unwrap().is_loopback());
        assert!("127.8.0.1:1".parse::<HostPort>().unwrap().is_loopback());
        assert!(!"10.0.0.1:1".parse::<HostPort>().unwrap().is_loopback());
    }
}
