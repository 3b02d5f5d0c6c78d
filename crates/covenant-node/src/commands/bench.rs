//! `covenant bench`: drives signed transfer load at a consortium and reports what was committed.
//!
//! The load goes either to a local consortium the command spawns itself (`--spawn N`: real RocksDB data
//! dirs, real networking, one `covenant node` child process per validator) or to running nodes
//! (`--target URL,...` with `--keys DIR`, a consortium directory written by `covenant init
//! --bench-senders K`, for the operator keys).
//!
//! One measurement goes like this:
//! 1. **Pre-generate.** `rate × duration` transfers are built and signed before the clock starts
//!    ([`workload`]), deterministically from `--seed`, spread over K sender operators: one sender's
//!    nonces serialize and its pending transactions are bounded (`mempool_sender_txs_max`), so the
//!    load needs many senders.
//! 2. **Offer open-loop.** Transaction i is due at `i / rate` seconds. A bounded set of keep-alive
//!    connections ([`load`]) sends them at their due instants, whatever the node answers; each sender
//!    belongs to one connection, and each connection to one node (round-robin), so a sender's nonces
//!    arrive in order. Refusals are counted by rule id, transport errors separately.
//! 3. **Follow the chain.** One thread reads each new block from one node ([`follow`]) and matches its
//!    transaction hashes to the submit instants: latency is the instant the bench saw the block minus
//!    the transaction's first submission.
//! 4. **Drain** for at most `--drain` seconds, until every accepted transaction is committed, then
//!    report ([`report`]) and stop the spawned nodes (SIGTERM, then SIGKILL after a timeout), also on
//!    an error or Ctrl-C.
//!
//! `--saturate` repeats the measurement with the rate stepped up by half each time until the committed
//! rate stops following the offered one, and reports the best step.

mod cluster;
mod follow;
mod load;
mod report;
mod workload;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use covenant_client::{Client, parse_api_address};

use covenant_types::limits::TX_BATCH_TXS_MAX;

use crate::commands::init::BENCH_SENDERS_MAX;
use cluster::{Cluster, ProcSample};
use report::{Report, StepSummary};
use workload::Senders;

/// Default offered load, transactions per second.
pub const RATE_DEFAULT: u64 = 1_000;
/// Default length of the timed window, seconds.
pub const DURATION_SECS_DEFAULT: u64 = 10;
/// Longest timed window, seconds.
pub const DURATION_SECS_MAX: u64 = 3_600;
/// Default number of sender operators.
pub const SENDERS_DEFAULT: usize = 128;
/// Default number of keep-alive connections (one request in flight on each).
pub const CONNECTIONS_DEFAULT: usize = 16;
/// Default most transactions per request.
pub const BATCH_DEFAULT: usize = 1_024;
/// Most connections.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Default workload seed.
pub const SEED_DEFAULT: u64 = 1;
/// Default longest wait after the window for accepted transactions to be committed, seconds.
pub const DRAIN_SECS_DEFAULT: u64 = 10;
/// Longest drain, seconds.
pub const DRAIN_SECS_MAX: u64 = 600;
/// Most transactions pre-signed for one measurement (about 250 bytes each in memory, so 2.4 GiB at
/// the limit): five minutes at 33,000 tx/s, above saturation on the 2-core reference machine.
pub const WORKLOAD_TXS_MAX: u64 = 10_000_000;
/// Default port bases of spawned nodes (apart from `covenant testnet`'s 7100 / 7200).
pub const API_PORT_BASE_DEFAULT: u16 = 7_400;
/// Default p2p port base of spawned nodes.
pub const P2P_PORT_BASE_DEFAULT: u16 = 7_500;
/// Chain id of a spawned consortium.
pub const CHAIN_ID: &str = "covenant-bench";

/// `--saturate`: each step offers this many times the previous step's rate.
const SATURATE_FACTOR: f64 = 1.5;
/// `--saturate`: most steps.
const SATURATE_STEPS_MAX: usize = 12;
/// `--saturate`: no new step starts after this long.
const SATURATE_TOTAL_MAX: Duration = Duration::from_secs(20 * 60);
/// A step "follows" the offered rate if its committed rate (the steady one when known) is at least this
/// share of it...
const FOLLOW_COMMITTED_SHARE_MIN: f64 = 0.8;
/// ...at most this share of the offered transactions was refused,
/// failed, not sent or left uncommitted...
const FOLLOW_LOST_SHARE_MAX: f64 = 0.05;
/// ...and the drain (the backlog left at the window's end, plus one latency) took at most this share
/// of the window, or [`FOLLOW_DRAIN_MIN`] if that is longer: a node that cannot keep up builds a backlog.
const FOLLOW_DRAIN_SHARE_MAX: f64 = 0.25;
/// See [`FOLLOW_DRAIN_SHARE_MAX`].
const FOLLOW_DRAIN_MIN: Duration = Duration::from_secs(2);

/// Where the load goes.
#[derive(Clone, Debug)]
pub enum Target {
    /// A local consortium written and started by the command.
    Spawn {
        /// Validators (one member each).
        validators: usize,
        /// Node i serves its API on 127.0.0.1:(api_port_base + i).
        api_port_base: u16,
        /// Node i listens for peers on 127.0.0.1:(p2p_port_base + i).
        p2p_port_base: u16,
        /// Where to write the consortium (kept afterwards); `None`: a temporary directory, removed.
        data_dir: Option<PathBuf>,
    },
    /// Nodes already running.
    Remote {
        /// Their API addresses (`host:port` or `http://host:port`).
        apis: Vec<String>,
        /// A consortium directory written by `covenant init --bench-senders K` for the same chain:
        /// `genesis.toml` names the bench senders, `keys/` holds their keys.
        keys: PathBuf,
    },
}

/// Options of `covenant bench`.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Where the load goes.
    pub target: Target,
    /// Offered transactions per second (the start rate with `saturate`).
    pub rate: u64,
    /// Length of the timed window (of each step with `saturate`).
    pub duration: Duration,
    /// Sender operators the load is spread over.
    pub senders: usize,
    /// Keep-alive connections (at most one per sender is used).
    pub connections: usize,
    /// Most transactions per request (1: each alone with `POST /v1/txs`).
    pub batch: usize,
    /// Seed of the workload (recipients and amounts).
    pub seed: u64,
    /// Longest wait after the window for accepted transactions to be committed.
    pub drain: Duration,
    /// Print one JSON object instead of text.
    pub json: bool,
    /// Step the rate up until the committed rate stops following it.
    pub saturate: bool,
}

impl BenchOptions {
    /// Checks the options, naming the flag and the limit that a value breaks.
    pub fn validate(&self) -> Result<()> {
        ensure!(self.rate >= 1, "--rate must be at least 1 transaction per second");
        let seconds = self.duration.as_secs();
        ensure!(seconds >= 1, "--duration must be at least 1 second");
        ensure!(seconds <= DURATION_SECS_MAX, "--duration {seconds} s is longer than the {DURATION_SECS_MAX} s limit");
        let txs = self.rate.saturating_mul(seconds);
        ensure!(
            txs <= WORKLOAD_TXS_MAX,
            "--rate {} × --duration {seconds} s = {txs} transactions to pre-sign; at most {WORKLOAD_TXS_MAX} \
             (about 250 bytes each in memory): lower the rate or the duration",
            self.rate
        );
        ensure!(
            (1..=BENCH_SENDERS_MAX).contains(&self.senders),
            "--senders must be from 1 to {BENCH_SENDERS_MAX}, not {}",
            self.senders
        );
        ensure!(
            (1..=CONNECTIONS_MAX).contains(&self.connections),
            "--connections must be from 1 to {CONNECTIONS_MAX}, not {}",
            self.connections
        );
        ensure!(
            (1..=TX_BATCH_TXS_MAX).contains(&self.batch),
            "--batch must be from 1 to {TX_BATCH_TXS_MAX} transactions per request, not {}",
            self.batch
        );
        ensure!(
            self.drain.as_secs() <= DRAIN_SECS_MAX,
            "--drain {} s is longer than the {DRAIN_SECS_MAX} s limit",
            self.drain.as_secs()
        );
        match &self.target {
            Target::Spawn { validators, .. } => {
                ensure!(
                    (2..=64).contains(validators),
                    "--spawn must be from 2 to 64 validators, not {validators} (a consortium needs at least 2 \
                     members, COV-18-NO-SUPERUSER)"
                );
            }
            Target::Remote { apis, .. } => {
                ensure!(!apis.is_empty(), "--target needs at least one API address");
                for api in apis {
                    parse_api_address(api)?;
                }
            }
        }
        Ok(())
    }
}

/// Everything one measurement needs, prepared once.
struct Bench<'a> {
    options: &'a BenchOptions,
    apis: Vec<SocketAddr>,
    senders: Senders,
    stop: Arc<AtomicBool>,
    mode: &'static str,
}

/// Runs the benchmark and writes the report to `out` (text, or one JSON object with `json`); progress
/// goes to `progress` (meant for stderr).
pub fn run(options: &BenchOptions, out: &mut impl Write, progress: &mut impl Write) -> Result<()> {
    options.validate()?;
    let stop = Arc::new(AtomicBool::new(false));
    cluster::install_stop_flag(stop.clone())?;
    match &options.target {
        Target::Spawn { validators, api_port_base, p2p_port_base, data_dir } => {
            let mut cluster = Cluster::spawn(
                &cluster::SpawnOptions {
                    validators: *validators,
                    api_port_base: *api_port_base,
                    p2p_port_base: *p2p_port_base,
                    data_dir: data_dir.clone(),
                    senders: options.senders,
                },
                &stop,
                progress,
            )?;
            let result = (|| {
                let senders = Senders::load(cluster.dir(), options.senders)?;
                let bench =
                    Bench { options, apis: cluster.apis().to_vec(), senders, stop: stop.clone(), mode: "spawn" };
                run_measurements(&bench, Some(&mut cluster), progress)
            })();
            let stopped = cluster.stop();
            writeln!(progress, "{stopped}")?;
            let report = result?;
            write_report(&report, options.json, out)
        }
        Target::Remote { apis, keys } => {
            let apis = apis.iter().map(|api| parse_api_address(api)).collect::<Result<Vec<_>, _>>()?;
            let senders = Senders::load(keys, options.senders)?;
            check_targets(&apis, &senders)?;
            let bench = Bench { options, apis, senders, stop, mode: "target" };
            let report = run_measurements(&bench, None, progress)?;
            write_report(&report, options.json, out)
        }
    }
}

fn write_report(report: &Report, json: bool, out: &mut impl Write) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
    } else {
        report.render(out)?;
    }
    out.flush()?;
    Ok(())
}

/// Every target answers and serves the chain the key directory was written for.
fn check_targets(apis: &[SocketAddr], senders: &Senders) -> Result<()> {
    for api in apis {
        let status = Client::new(*api)
            .with_timeout(Duration::from_secs(5))
            .get("/v1/status")
            .with_context(|| format!("reading the status of {api}"))?;
        let chain = status.body["chain_id"].as_str().unwrap_or("");
        ensure!(
            chain == senders.chain().as_str(),
            "{api} serves chain {chain:?}, but the key directory was written for {:?}",
            senders.chain().as_str()
        );
    }
    Ok(())
}

/// One measurement, or the saturation search.
fn run_measurements(bench: &Bench<'_>, mut cluster: Option<&mut Cluster>, progress: &mut impl Write) -> Result<Report> {
    let options = bench.options;
    if !options.saturate {
        let step = measure(bench, options.rate, cluster, progress)?;
        return Ok(Report::single(bench_header(bench), step));
    }
    let started = Instant::now();
    let mut steps: Vec<StepSummary> = Vec::new();
    let mut rate = options.rate;
    for index in 0..SATURATE_STEPS_MAX {
        writeln!(progress, "saturate: step {} offers {rate} tx/s for {} s", index + 1, options.duration.as_secs())?;
        let step = measure(bench, rate, cluster.as_deref_mut(), progress)?;
        let drain_max = options.duration.mul_f64(FOLLOW_DRAIN_SHARE_MAX).max(FOLLOW_DRAIN_MIN);
        let follows = step.follows(FOLLOW_COMMITTED_SHARE_MIN, FOLLOW_LOST_SHARE_MAX, drain_max);
        writeln!(
            progress,
            "saturate: {rate} tx/s offered, {:.0} tx/s committed: {}",
            step.committed_tps,
            if follows { "follows" } else { "does not follow; stopping" }
        )?;
        steps.push(step);
        let next = (rate as f64 * SATURATE_FACTOR).ceil() as u64;
        if !follows
            || started.elapsed() >= SATURATE_TOTAL_MAX
            || next.saturating_mul(options.duration.as_secs()) > WORKLOAD_TXS_MAX
            || bench.stop.load(Ordering::SeqCst)
        {
            break;
        }
        rate = next;
    }
    Ok(Report::saturation(bench_header(bench), steps))
}

fn bench_header(bench: &Bench<'_>) -> report::Header {
    let options = bench.options;
    report::Header {
        mode: bench.mode,
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
        validators: (bench.mode == "spawn").then_some(bench.apis.len()),
        targets: bench.apis.iter().map(ToString::to_string).collect(),
        duration_s: options.duration.as_secs(),
        senders: bench.senders.len(),
        connections: options.connections.min(bench.senders.len()),
        batch: options.batch,
        seed: options.seed,
    }
}

/// Pre-generates, offers, follows and drains one step at `rate`.
fn measure(
    bench: &Bench<'_>,
    rate: u64,
    mut cluster: Option<&mut Cluster>,
    progress: &mut impl Write,
) -> Result<StepSummary> {
    let options = bench.options;
    let connections = options.connections.min(bench.senders.len());
    let count = rate.saturating_mul(options.duration.as_secs());
    let prepare_started = Instant::now();
    let nonces = bench.senders.next_nonces(&bench.apis, connections)?;
    let workload = workload::generate(&workload::Plan {
        senders: &bench.senders,
        nonces: &nonces,
        count,
        seed: options.seed,
        stop: &bench.stop,
    })?;
    writeln!(
        progress,
        "signed {count} transfers from {} senders in {:.1} s",
        bench.senders.len(),
        prepare_started.elapsed().as_secs_f64()
    )?;
    check_stop(&bench.stop)?;

    let follow_api = bench.apis[0];
    let before = follow::progress(follow_api)?;
    let start_height = before.height;
    let tracker = Arc::new(load::Tracker::new(workload.len()));
    let follower = follow::Follower::start(follow_api, start_height, workload.index(), tracker.clone())?;
    let cpu_before: Vec<ProcSample> = cluster.as_deref().map(Cluster::samples).unwrap_or_default();

    let load = load::Load::start(load::LoadPlan {
        workload: Arc::new(workload),
        apis: bench.apis.clone(),
        senders: bench.senders.len(),
        connections,
        batch: options.batch,
        rate,
        duration: options.duration,
        tracker: tracker.clone(),
        stop: bench.stop.clone(),
    })?;
    let mut line = report::ProgressLine::new(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    while !load.finished() {
        if let Some(cluster) = cluster.as_deref_mut() {
            cluster.check_running()?;
        }
        line.update(progress, &tracker, options.duration, "load")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let load_stats = load.join()?;

    // Drain: until every accepted transaction is committed, or the drain time is up.
    let drain_started = Instant::now();
    while drain_started.elapsed() < options.drain
        && tracker.committed() < tracker.accepted()
        && !bench.stop.load(Ordering::SeqCst)
    {
        if let Some(cluster) = cluster.as_deref_mut() {
            cluster.check_running()?;
        }
        line.update(progress, &tracker, options.duration, "drain")?;
        std::thread::sleep(Duration::from_millis(100));
    }
    let drain = drain_started.elapsed();
    line.finish(progress, &tracker, options.duration)?;
    let followed = follower.stop();
    let round_changes =
        follow::progress(follow_api).ok().map(|after| after.round_changes.saturating_sub(before.round_changes));
    let cpu_after: Vec<ProcSample> = cluster.as_deref().map(Cluster::samples).unwrap_or_default();
    check_stop(&bench.stop)?;

    let nodes = report::node_usage(&cpu_before, &cpu_after, tracker.elapsed());
    Ok(StepSummary::new(report::StepInput {
        rate,
        count,
        duration: options.duration,
        drain,
        load: load_stats,
        followed,
        nodes,
        window_start_ns: tracker.window_start_ns(),
        accepted: tracker.accepted(),
        round_changes,
    }))
}

fn check_stop(stop: &AtomicBool) -> Result<()> {
    if stop.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}
