//! The `covenant` command: argument parsing only; the logic lives in `covenant_node::commands`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use covenant_node::commands::{bench, config_check, init, inventory, query, report, rules, testnet, tx};
use covenant_rules::RuleId;

/// mimalloc instead of the system allocator: a validator allocates and frees many small buffers per
/// transaction (decoding, gossip, batches), and glibc's malloc and free took 14 % of its CPU at
/// saturation (ADR 0008). Freed memory is kept ten seconds before it goes back to the kernel (ADR 0011).
#[global_allocator]
static ALLOCATOR: covenant_alloc::MiMalloc = covenant_alloc::MiMalloc;

/// Covenant: a permissioned blockchain node whose security covenant is enforced as protocol rules.
#[derive(Parser)]
#[command(name = "covenant", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one node with its config file until SIGINT or SIGTERM.
    Node {
        /// The node config (node.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The passphrase file of encrypted key files (overrides key_passphrase_file of the config;
        /// default: that, else the COVENANT_KEY_PASSPHRASE environment variable).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
    /// Write a local test consortium: genesis, node configs and keys for N validators on 127.0.0.1.
    Init {
        /// Validators (one member each).
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Directory to write.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Chain id.
        #[arg(long, default_value = "covenant-local")]
        chain_id: String,
        /// Node i listens for peers on 127.0.0.1:(BASE+i), or HOST_i:BASE with --hosts.
        #[arg(long, default_value_t = 7100)]
        p2p_port_base: u16,
        /// Node i serves its API on 127.0.0.1:(BASE+i), or HOST_i:BASE with --hosts.
        #[arg(long, default_value_t = 7200)]
        api_port_base: u16,
        /// Node i serves metrics, health and admin actions on 127.0.0.1:(BASE+i), or HOST_i:BASE with --hosts.
        #[arg(long, default_value_t = 9200)]
        ops_port_base: u16,
        /// Also register K sender operators (one person each) with funded accounts, for `covenant bench --target`.
        #[arg(long, value_name = "K", default_value_t = 0)]
        bench_senders: usize,
        /// One IP address per validator, comma-separated, when each runs on its own host: node i listens
        /// on HOST_i at the base ports (its API too, marked `api_public`).
        #[arg(long, value_name = "HOST,...", value_delimiter = ',')]
        hosts: Vec<std::net::IpAddr>,
    },
    /// Start a whole consortium on this machine, submit demo transfers and show live status.
    Testnet {
        /// Validators to run.
        #[arg(long, default_value_t = 4)]
        validators: usize,
        /// Where configs, keys, data and logs live (reused by the next run).
        #[arg(long, value_name = "DIR", default_value = ".testnet")]
        data_dir: PathBuf,
        /// Node i serves its API on 127.0.0.1:(PORT+i).
        #[arg(long, value_name = "PORT", default_value_t = 7200)]
        api_port_base: u16,
        /// Node i listens for peers on 127.0.0.1:(PORT+i).
        #[arg(long, value_name = "PORT", default_value_t = 7100)]
        p2p_port_base: u16,
        /// Delete the existing consortium in the data dir first.
        #[arg(long)]
        reset: bool,
        /// Demo transfers per second (0 for none).
        #[arg(long, default_value_t = 50)]
        demo_rate: u32,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long, value_name = "SECS")]
        duration: Option<u64>,
    },
    /// Drive signed transfer load at a consortium; report committed tx/s, latency, refusals and node CPU/RSS.
    ///
    /// Spawns a local consortium (--spawn N, the default) or loads running nodes (--target with --keys).
    /// The workload is signed before the timed window, then offered open-loop at --rate for --duration.
    Bench {
        /// Spawn a local consortium of N validators (real RocksDB and networking) [default: 4].
        #[arg(long, value_name = "N", conflicts_with = "target")]
        spawn: Option<usize>,
        /// Load running nodes instead: their APIs, comma separated (host:port or http://host:port).
        #[arg(long, value_name = "URL[,URL...]", value_delimiter = ',', requires = "keys")]
        target: Vec<String>,
        /// With --target: the consortium directory written by `covenant init --bench-senders K` (genesis.toml
        /// and keys/ of the bench senders).
        #[arg(long, value_name = "DIR", requires = "target")]
        keys: Option<PathBuf>,
        /// Offered transactions per second (the start rate with --saturate).
        #[arg(long, value_name = "TX_PER_S", default_value_t = bench::RATE_DEFAULT)]
        rate: u64,
        /// Length of the timed window (of each step with --saturate).
        #[arg(long, value_name = "SECS", default_value_t = bench::DURATION_SECS_DEFAULT)]
        duration: u64,
        /// Sender operators the load is spread over.
        #[arg(long, value_name = "K", default_value_t = bench::SENDERS_DEFAULT)]
        senders: usize,
        /// Keep-alive connections, one request in flight on each (at most one per sender is used).
        #[arg(long, value_name = "C", default_value_t = bench::CONNECTIONS_DEFAULT)]
        connections: usize,
        /// Most transactions per request: the slots due when a request leaves go together
        /// (POST /v1/txs/batch); 1 sends each transaction alone (POST /v1/txs).
        #[arg(long, value_name = "B", default_value_t = bench::BATCH_DEFAULT)]
        batch: usize,
        /// Workload seed (recipients and amounts).
        #[arg(long, value_name = "S", default_value_t = bench::SEED_DEFAULT)]
        seed: u64,
        /// Longest wait after the window for accepted transactions to be committed.
        #[arg(long, value_name = "SECS", default_value_t = bench::DRAIN_SECS_DEFAULT)]
        drain: u64,
        /// With --spawn: write the consortium here and keep it (default: a temporary directory, removed).
        #[arg(long, value_name = "DIR", conflicts_with = "target")]
        data_dir: Option<PathBuf>,
        /// With --spawn: node i serves its API on 127.0.0.1:(PORT+i).
        #[arg(long, value_name = "PORT", default_value_t = bench::API_PORT_BASE_DEFAULT)]
        api_port_base: u16,
        /// With --spawn: node i listens for peers on 127.0.0.1:(PORT+i).
        #[arg(long, value_name = "PORT", default_value_t = bench::P2P_PORT_BASE_DEFAULT)]
        p2p_port_base: u16,
        /// Print one JSON object on stdout instead of text (progress still goes to stderr).
        #[arg(long)]
        json: bool,
        /// Step the rate up by half each step until the committed rate stops following it; report the best step.
        #[arg(long)]
        saturate: bool,
    },
    /// Generate an ed25519 key file (mode 0600, never over an existing file) and print its public key.
    ///
    /// Plaintext is the default only for local test consortia; production keys must be encrypted
    /// (--encrypt), and a production node refuses plaintext keys (article 41, docs/keys.md).
    Keygen {
        /// Where to write the key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        #[command(flatten)]
        protection: covenant_node::commands::keys::KeygenArgs,
    },
    /// Key files (article 41): encrypt, show, back up and restore with a check of the public key.
    Key(covenant_node::commands::keys::KeyArgs),
    /// Work with genesis and node configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the covenant rule catalogue and how far each rule is enforced.
    Rules {
        /// Show one rule in detail, e.g. COV-18-NO-SUPERUSER.
        rule: Option<String>,
        /// Print the catalogue and the article table as JSON.
        #[arg(long, conflicts_with = "rule")]
        json: bool,
    },
    /// The conformance report: for every covenant article its class, rules, enforcement, tests and live parameters.
    ///
    /// Generated from the rule catalogue and the `// covers:` test markers of this build; Markdown by default.
    Report {
        /// Print one JSON object instead of Markdown.
        #[arg(long, conflicts_with = "html")]
        json: bool,
        /// Print one self-contained HTML page (print it to PDF from a browser).
        #[arg(long)]
        html: bool,
        /// Take live parameter values from a running node's API (host:port or http://host:port); with
        /// --verify, check the signer against that node's operator registry.
        #[arg(long, value_name = "ADDR", conflicts_with = "genesis")]
        api: Option<String>,
        /// Take parameter values from a genesis file.
        #[arg(long, value_name = "FILE")]
        genesis: Option<PathBuf>,
        /// Show each test's result from this record of a test run (scripts/test.sh writes one to
        /// $CARGO_TARGET_DIR/test-record).
        #[arg(long, value_name = "DIR")]
        results: Option<PathBuf>,
        /// Exit 1 when an enforced rule has no test that exercises it and passed in the --results run.
        #[arg(long, requires = "results")]
        require_evidence: bool,
        /// Sign the report (JSON, with the node's chain, parameters and audit-log status) with this operator
        /// key file; needs --api.
        #[arg(long, value_name = "KEYFILE", requires = "api", conflicts_with_all = ["html", "genesis", "verify"])]
        sign: Option<PathBuf>,
        /// With --sign: the operator id the key belongs to (checked by --verify --api).
        #[arg(long, value_name = "ID", requires = "sign")]
        operator: Option<String>,
        /// With --sign: the key file's passphrase file.
        #[arg(long, value_name = "FILE", requires = "sign")]
        passphrase_file: Option<PathBuf>,
        /// Check a signed report's signature (and with --api its signer); exit 1 if it does not hold.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "html", "genesis", "results", "out"])]
        verify: Option<PathBuf>,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Asset inventory from a running node (article 14): members, nodes and versions, validators, operators,
    /// contracts, parameters.
    Inventory {
        /// The node's API: host:port or http://host:port.
        #[arg(long, value_name = "ADDR", default_value = query::DEFAULT_API)]
        api: String,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Governance: propose changes, approve, reject or withdraw proposals, list and show them.
    ///
    /// A proposal executes once admins of enough members (the class threshold, the proposer's member
    /// included) and at least two persons besides the proposer approved. See docs/governance.md.
    Gov(covenant_node::commands::gov::cli::GovArgs),
    /// Members: list them, or propose to admit, suspend or remove one (short for `gov propose`).
    Member(covenant_node::commands::gov::cli::MemberArgs),
    /// Operator accounts: list them, or propose to register, revoke or re-key one (short for `gov propose`).
    Operator(covenant_node::commands::gov::cli::OperatorArgs),
    /// Nodes: propose to add or remove a validator or observer, or change its role (short for `gov propose`).
    NodeAdmin(covenant_node::commands::gov::cli::NodeAdminArgs),
    /// Contracts admitted by vote: propose to admit, upgrade, pause, resume or retire one; list, show, call,
    /// read storage. See docs/contracts.md.
    Contract(covenant_node::commands::contract::ContractArgs),
    /// The audit trail: verify it against its anchors on chain (a stopped node's store, or a running node
    /// remotely against other members' blocks), or export it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Backups (article 18): create one from a running node, verify one, or restore one into a stopped node.
    Backup(covenant_node::commands::backup::BackupArgs),
    /// Build, sign and submit transactions with an operator key file; look up their status.
    Tx {
        /// The node's API: host:port or http://host:port.
        #[arg(long, global = true, value_name = "ADDR", default_value = query::DEFAULT_API)]
        api: String,
        #[command(subcommand)]
        command: TxCommand,
    },
    /// Read a node's HTTP API and pretty-print the answer; exit code 1 if the node answers with an error.
    Query {
        /// The node's API: host:port or http://host:port.
        #[arg(long, global = true, value_name = "ADDR", default_value = query::DEFAULT_API)]
        api: String,
        #[command(subcommand)]
        command: QueryCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify a node's audit log against the anchors it put on chain: a stopped node's store
    /// (--config), or a running node through an auditor session against blocks fetched from other
    /// members' nodes (--api, --operator, --key, --peers). Exit code 1 names the first bad entry or the
    /// disagreeing anchor, and is also given when no anchor covers the log yet (UNVERIFIED) unless
    /// --accept-unanchored; 2 when the check could not be made.
    Verify {
        /// The node's config (the node must be stopped): verify its local store.
        #[arg(long, value_name = "FILE", required_unless_present = "api", conflicts_with_all = ["api", "peers", "operator", "key"])]
        config: Option<PathBuf>,
        /// The audited node's API (host:port or http://host:port): verify it remotely.
        #[arg(long, value_name = "ADDR", requires_all = ["peers", "operator", "key"])]
        api: Option<String>,
        /// The auditor's operator id (an operator holding the auditor role).
        #[arg(long, value_name = "ID")]
        operator: Option<String>,
        /// The auditor's key file (32-byte seed as 64 hex digits).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// APIs of other members' nodes (at least two members other than the audited node's) that
        /// vouch for the blocks carrying the anchors, comma-separated.
        #[arg(long, value_name = "ADDR,...", value_delimiter = ',')]
        peers: Vec<String>,
        /// Exit 0 when no anchor covers the log yet (a young chain); it is still reported UNVERIFIED.
        #[arg(long)]
        accept_unanchored: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write audit entries as JSON lines (for a SIEM).
    Export {
        /// The node's config (the node must be stopped).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Entries at or after this time: ms since the epoch, a UTC time (2026-11-28T03:00:00Z) or an
        /// age (24h, 7d).
        #[arg(long, value_name = "TIME", default_value = "0")]
        since: String,
        /// Write to this new file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TxCommand {
    /// Transfer an amount of an asset between accounts; prints the transaction hash.
    ///
    /// Exit code 1 if the node refuses it (the rule and article are printed) or, with --wait, if it is
    /// rejected or fails.
    Transfer {
        #[command(flatten)]
        signer: tx::SignerArgs,
        /// Debited account, e.g. bank-0/treasury (must belong to the operator's member).
        #[arg(long, value_name = "ACCOUNT")]
        from: String,
        /// Credited account, e.g. bank-1/treasury.
        #[arg(long, value_name = "ACCOUNT")]
        to: String,
        /// Asset id, e.g. twd.
        #[arg(long)]
        asset: String,
        /// Amount in the asset's smallest unit (a positive integer).
        #[arg(long, value_name = "N")]
        amount: u64,
        /// Free text for the counterparties.
        #[arg(long, value_name = "TEXT", default_value = "")]
        memo: String,
    },
    /// Store a data record under a registered schema; prints the transaction hash.
    Data {
        #[command(flatten)]
        signer: tx::SignerArgs,
        /// Registered schema id, e.g. demo.v1.
        #[arg(long, value_name = "ID")]
        schema: String,
        /// The customer account the record is about (KYC is then required, article 7).
        #[arg(long, value_name = "ACCOUNT")]
        subject: Option<String>,
        /// How sensitive the record is (customer-data must be an encrypted envelope, article 37).
        #[arg(long, value_enum, default_value_t = ClassificationArg::Internal)]
        classification: ClassificationArg,
        #[command(flatten)]
        content: ContentArgs,
    },
    /// Show a transaction's status on the node: pending, committed (height) or rejected (rule).
    ///
    /// Exit code 1 if the transaction is rejected, failed or unknown to the node.
    Status {
        /// Transaction hash (64 hex digits).
        hash: String,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// A data record's content: exactly one source.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct ContentArgs {
    /// Content bytes as hex.
    #[arg(long, value_name = "HEX")]
    content_hex: Option<String>,
    /// Content bytes read from a file.
    #[arg(long, value_name = "FILE")]
    content_file: Option<PathBuf>,
    /// Content as UTF-8 text.
    #[arg(long, value_name = "TEXT")]
    text: Option<String>,
    /// Only the SHA-256 digest of content kept off chain (64 hex digits).
    #[arg(long, value_name = "HEX")]
    digest: Option<String>,
}

impl ContentArgs {
    fn content(self) -> tx::Content {
        match (self.content_hex, self.content_file, self.text, self.digest) {
            (Some(hex), ..) => tx::Content::Hex(hex),
            (_, Some(file), ..) => tx::Content::File(file),
            (_, _, Some(text), _) => tx::Content::Text(text),
            (_, _, _, Some(digest)) => tx::Content::Digest(digest),
            // clap's group requires exactly one; an empty text is the closest reading of none.
            (None, None, None, None) => tx::Content::Text(String::new()),
        }
    }
}

/// A data record's classification.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ClassificationArg {
    /// May be read by any member.
    Public,
    /// Internal to the consortium.
    Internal,
    /// Customer personal data.
    CustomerData,
}

impl From<ClassificationArg> for covenant_types::Classification {
    fn from(value: ClassificationArg) -> covenant_types::Classification {
        match value {
            ClassificationArg::Public => covenant_types::Classification::Public,
            ClassificationArg::Internal => covenant_types::Classification::Internal,
            ClassificationArg::CustomerData => covenant_types::Classification::CustomerData,
        }
    }
}

#[derive(Subcommand)]
enum QueryCommand {
    /// Chain id, height, round, peers, mempool and version (GET /v1/status).
    Status,
    /// A block by height or hash, or the latest (GET /v1/blocks/{id}).
    Block {
        /// A height, a block hash or `latest`.
        #[arg(default_value = "latest")]
        id: String,
    },
    /// A transaction with its status and receipt (GET /v1/txs/{hash}).
    Tx {
        /// Transaction hash (64 hex digits).
        hash: String,
    },
    /// One balance of an account (GET /v1/accounts/{id}/balances/{asset}).
    Balance {
        /// Account id, e.g. bank-1/treasury.
        account: String,
        /// Asset id, e.g. twd.
        asset: String,
    },
    /// Every balance of an account (GET /v1/accounts/{id}).
    Account {
        /// Account id, e.g. bank-1/treasury.
        account: String,
    },
    /// An operator's next nonce (GET /v1/operators/{id}/nonce).
    Nonce {
        /// Operator id, e.g. bank-0.ops.
        operator: String,
    },
    /// Consortium members (GET /v1/members).
    Members,
    /// Registered nodes, validators and observers (GET /v1/nodes).
    Nodes,
    /// The validator set and quorum (GET /v1/validators).
    Validators,
    /// Chain parameters in force and their hash (GET /v1/params).
    Params,
    /// Prometheus metrics, as text (GET /metrics on the operations listener: give its address as --api,
    /// e.g. --api 127.0.0.1:9200).
    Metrics,
    /// The API's OpenAPI document (GET /v1/openapi.json).
    Openapi,
}

impl From<QueryCommand> for query::Query {
    fn from(command: QueryCommand) -> query::Query {
        match command {
            QueryCommand::Status => query::Query::Status,
            QueryCommand::Block { id } => query::Query::Block(Some(id)),
            QueryCommand::Tx { hash } => query::Query::Tx(hash),
            QueryCommand::Balance { account, asset } => query::Query::Balance { account, asset },
            QueryCommand::Account { account } => query::Query::Account(account),
            QueryCommand::Nonce { operator } => query::Query::Nonce(operator),
            QueryCommand::Members => query::Query::Members,
            QueryCommand::Nodes => query::Query::Nodes,
            QueryCommand::Validators => query::Query::Validators,
            QueryCommand::Params => query::Query::Params,
            QueryCommand::Metrics => query::Query::Metrics,
            QueryCommand::Openapi => query::Query::OpenApi,
        }
    }
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate genesis and node config files; exit code 1 if any has an error.
    ///
    /// Each PATH is a file (genesis or node config, told apart by its content) or a directory, whose
    /// *.toml files are checked as one set (bad-*.toml fixtures skipped). Node configs are checked
    /// against their genesis and key files.
    Check {
        /// Files or directories to check.
        paths: Vec<PathBuf>,
        /// A genesis file (repeatable).
        #[arg(long = "genesis", value_name = "FILE")]
        genesis: Vec<PathBuf>,
        /// A node config file (repeatable).
        #[arg(long = "node", value_name = "FILE")]
        node: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    covenant_alloc::keep_freed_memory();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Node { config, passphrase_file } => {
            let mut config =
                covenant_node::config::NodeConfig::load(&config).map_err(|errors| anyhow::anyhow!("{errors}"))?;
            if passphrase_file.is_some() {
                config.key_passphrase_file = passphrase_file;
            }
            covenant_node::logging::init(&config.log);
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(covenant_node::node::run_node(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            validators,
            dir,
            chain_id,
            p2p_port_base,
            api_port_base,
            ops_port_base,
            bench_senders,
            hosts,
        } => {
            let configs = init::run_with(
                &init::InitOptions {
                    dir,
                    validators,
                    chain_id,
                    p2p_port_base,
                    api_port_base,
                    ops_port_base,
                    hosts,
                    genesis_time_ms: covenant_node::runtime::chain::now_ms(),
                },
                &init::InitExtras { bench_senders },
            )?;
            for config in configs {
                writeln!(out, "{}", config.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Testnet { validators, data_dir, api_port_base, p2p_port_base, reset, demo_rate, duration } => {
            let options = testnet::TestnetOptions {
                validators,
                data_dir,
                api_port_base,
                p2p_port_base,
                reset,
                demo_rate,
                duration: duration.map(std::time::Duration::from_secs),
            };
            testnet::run(&options, &mut out)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            spawn,
            target,
            keys,
            rate,
            duration,
            senders,
            connections,
            batch,
            seed,
            drain,
            data_dir,
            api_port_base,
            p2p_port_base,
            json,
            saturate,
        } => {
            let target = match keys {
                Some(keys) if !target.is_empty() => bench::Target::Remote { apis: target, keys },
                _ => bench::Target::Spawn { validators: spawn.unwrap_or(4), api_port_base, p2p_port_base, data_dir },
            };
            let options = bench::BenchOptions {
                target,
                rate,
                duration: std::time::Duration::from_secs(duration),
                senders,
                connections,
                batch,
                seed,
                drain: std::time::Duration::from_secs(drain),
                json,
                saturate,
            };
            bench::run(&options, &mut out, &mut std::io::stderr())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keygen { out: path, protection } => {
            covenant_node::commands::keys::keygen(&path, &protection, &mut out, &mut std::io::stderr())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(args) => {
            covenant_node::commands::keys::run_key(args, &mut out)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check { paths, genesis, node } } => {
            let inputs: Vec<config_check::Input> = paths
                .into_iter()
                .map(|path| config_check::Input { path, kind: None })
                .chain(
                    genesis
                        .into_iter()
                        .map(|path| config_check::Input { path, kind: Some(config_check::FileKind::Genesis) }),
                )
                .chain(
                    node.into_iter().map(|path| config_check::Input { path, kind: Some(config_check::FileKind::Node) }),
                )
                .collect();
            anyhow::ensure!(
                !inputs.is_empty(),
                "nothing to check: name files or directories, or use --genesis / --node"
            );
            let report = config_check::run(&inputs);
            report.render(&mut out).context("writing the report")?;
            out.flush()?;
            Ok(if report.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Command::Rules { rule: Some(rule), .. } => {
            let rule: RuleId = rule.parse().with_context(|| "run `covenant rules` for the list of rule ids")?;
            rules::write_rule(&mut out, rule)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { rule: None, json } => {
            if json {
                rules::write_json(&mut out)?;
            } else {
                rules::write_table(&mut out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report {
            json,
            html,
            api,
            genesis,
            results,
            require_evidence,
            sign,
            operator,
            passphrase_file,
            verify,
            out: file,
        } => {
            if let Some(signed) = verify {
                let outcome = report::signed::verify(&signed, api.as_deref(), &mut out)?;
                out.flush()?;
                return Ok(outcome.into());
            }
            if let (Some(key), Some(api)) = (sign, api.clone()) {
                let options = report::signed::SignOptions { api, key, passphrase_file, operator, results, out: file };
                report::signed::sign(&options, covenant_node::runtime::chain::now_ms(), &mut out)?;
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            let source = match (api, genesis) {
                (Some(api), _) => report::ParamSource::Api(api),
                (None, Some(genesis)) => report::ParamSource::Genesis(genesis),
                (None, None) => report::ParamSource::Defaults,
            };
            let format = match (json, html) {
                (true, _) => report::Format::Json,
                (_, true) => report::Format::Html,
                _ => report::Format::Markdown,
            };
            let options = report::ReportOptions { format, source, results, require_evidence, out: file };
            let outcome = report::run(&options, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Inventory { api, json } => {
            inventory::run(&inventory::InventoryOptions { api, json }, &mut out)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gov(args) => {
            let outcome = covenant_node::commands::gov::cli::run_gov(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Member(args) => {
            let outcome = covenant_node::commands::gov::cli::run_member(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Operator(args) => {
            let outcome = covenant_node::commands::gov::cli::run_operator(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Audit {
            command: AuditCommand::Verify { config, api, operator, key, peers, accept_unanchored, json },
        } => {
            let outcome = match (config, api, operator, key) {
                (Some(config), _, _, _) => {
                    covenant_node::commands::audit::verify(&config, json, accept_unanchored, &mut out)?
                }
                (None, Some(api), Some(operator), Some(key)) => {
                    let options = covenant_node::commands::audit_remote::RemoteOptions {
                        api,
                        operator,
                        key,
                        peers,
                        json,
                        accept_unanchored,
                    };
                    covenant_node::commands::audit_remote::verify_remote(&options, &mut out)?
                }
                _ => anyhow::bail!("give --config FILE, or --api ADDR with --operator, --key and --peers"),
            };
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Audit { command: AuditCommand::Export { config, since, out: file } } => {
            let since = covenant_node::commands::audit::parse_since(&since, covenant_node::runtime::chain::now_ms())?;
            let outcome = covenant_node::commands::audit::export(&config, since, file.as_ref(), &mut out)?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::NodeAdmin(args) => {
            let outcome = covenant_node::commands::gov::cli::run_node_admin(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Contract(args) => {
            let outcome = covenant_node::commands::contract::run(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Backup(args) => {
            let outcome = covenant_node::commands::backup::run(args, &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Tx { api, command } => {
            let mut err = std::io::stderr();
            let outcome = match command {
                TxCommand::Transfer { signer, from, to, asset, amount, memo } => {
                    let action = tx::Action::Transfer { from, to, asset, amount, memo };
                    tx::submit(&signer.options(api), &action, &mut out, &mut err)?
                }
                TxCommand::Data { signer, schema, subject, classification, content } => {
                    let action = tx::Action::Data {
                        schema,
                        subject,
                        classification: classification.into(),
                        content: content.content(),
                    };
                    tx::submit(&signer.options(api), &action, &mut out, &mut err)?
                }
                TxCommand::Status { hash, json } => tx::status(&api, &hash, json, &mut out, &mut err)?,
            };
            out.flush()?;
            Ok(outcome.into())
        }
        Command::Query { api, command } => {
            let outcome = query::run(&api, &command.into(), &mut out, &mut std::io::stderr())?;
            out.flush()?;
            Ok(outcome.into())
        }
    }
}
