//! The `covenant` command: argument parsing only; the logic lives in `covenant_node::commands`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use covenant_node::commands::{config_check, init, rules, testnet};
use covenant_rules::RuleId;

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
        /// Node i listens for peers on 127.0.0.1:(BASE+i).
        #[arg(long, default_value_t = 7100)]
        p2p_port_base: u16,
        /// Node i serves its API on 127.0.0.1:(BASE+i).
        #[arg(long, default_value_t = 7200)]
        api_port_base: u16,
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
    /// Generate an ed25519 key file (32-byte seed as hex, mode 0600) and print its public key.
    Keygen {
        /// Where to write the key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
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
        Command::Node { config } => {
            let config =
                covenant_node::config::NodeConfig::load(&config).map_err(|errors| anyhow::anyhow!("{errors}"))?;
            covenant_node::logging::init(&config.log);
            for warning in &config.warnings {
                tracing::warn!("{warning}");
            }
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(covenant_node::node::run_node(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init { validators, dir, chain_id, p2p_port_base, api_port_base } => {
            let configs = init::run(&init::InitOptions {
                dir,
                validators,
                chain_id,
                p2p_port_base,
                api_port_base,
                genesis_time_ms: covenant_node::runtime::chain::now_ms(),
            })?;
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
        Command::Keygen { out: path } => {
            let key = init::write_key_file(&path)?;
            writeln!(out, "{}", key.public_key().to_hex())?;
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
    }
}
