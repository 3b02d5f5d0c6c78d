//! `covenant-byzantine node --config FILE --attacks LIST`: TEST ONLY. Runs a validator that attacks
//! its peers (see the crate documentation). Never deploy it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use covenant_byzantine::attacks::{self, AttackPlan, parse_attacks};
use covenant_byzantine::crash::{CrashAt, Crasher, parse_crash_at};

/// TEST ONLY: a Covenant validator that attacks its peers.
#[derive(Parser)]
#[command(name = "covenant-byzantine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a validator from its node config, attacking its peers while it runs.
    Node {
        /// Node config file, as for `covenant node`.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Attacks, comma-separated (garbage, false-height, future-flood, sync-flood, bad-signatures,
        /// equivocation), all, or none.
        #[arg(long, value_name = "LIST", default_value = "all", value_parser = parse_attacks)]
        attacks: std::vec::Vec<attacks::Attack>,
        /// One round of every attack per this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 200)]
        period_ms: u64,
        /// Bytes of each flooded future-height ROUND-CHANGE.
        #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
        flood_message_bytes: usize,
        /// Propose even while this node's clock is out of the drift bound against its peers (the node
        /// withholds such proposals), so that the other validators' clock check has to refuse them.
        #[arg(long)]
        propose_out_of_drift: bool,
        /// Kill this process with SIGKILL the N-th time the node reaches POINT (safety-persisted,
        /// proposal-sent, vote-sent, block-committed, sync-block-committed, backup-checkpoint-written);
        /// N defaults to 1.
        #[arg(long, value_name = "POINT[:N]", value_parser = parse_crash_at)]
        crash_at: Option<CrashAt>,
    },
}

fn main() -> ExitCode {
    covenant_alloc::keep_freed_memory();
    let Cli {
        command: Command::Node { config, attacks, period_ms, flood_message_bytes, propose_out_of_drift, crash_at },
    } = Cli::parse();
    if let Some(at) = crash_at
        && let Err(error) = covenant_storage::crash_points::install(Box::new(Crasher::new(at)))
    {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let config = match covenant_node::config::NodeConfig::load(&config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("error: {errors}");
            return ExitCode::from(2);
        }
    };
    covenant_node::logging::init(&config.log);
    let plan = AttackPlan { attacks, period: Duration::from_millis(period_ms.max(10)), flood_message_bytes };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let beside: Option<covenant_node::node::BesideTask> =
        if plan.attacks.is_empty() { None } else { Some(Box::new(move |beside| attacks::start(beside, plan))) };
    let test_build = covenant_node::node::TestBuild { beside, withhold_proposals_out_of_drift: !propose_out_of_drift };
    match runtime.block_on(covenant_node::node::run_test_build(config, test_build)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
