//! The multi-host fault scenarios (`scripts/fault-suite.sh`): four validators, each on a host of its
//! own, and four clients, each on a host beside its validator; a fault in the middle of a workload;
//! then the Jepsen-style [`crate::checker`] over every node's chain and the clients' history, plus
//! what each fault promises about liveness (who commits during it, how soon commits resume after).
//!
//! Every scenario has the same shape: start, settle, run the workload, [`Run::fault_window`] (the fault
//! held for a while, with progress or a halt expected of named nodes), heal, wait until every node
//! commits above the highest height seen at the heal ([`RESUME_BOUND`]), a little more workload, stop,
//! check.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::checker::{self, ChainView, Verdict};
use crate::delay_proxy::DelayProxy;
use crate::monitor::Monitor;
use crate::workload::{ClientPlan, History, Sender, Workload, WorkloadOptions};
use crate::{Consortium, LOCAL_CHAIN, Launch, now_ms};

/// Validators (one host each) and clients (one host each).
pub const VALIDATORS: usize = 4;
/// Sender operators per client.
const SENDERS_PER_CLIENT: usize = 2;
/// How long a fault is held.
pub const FAULT_HOLD: Duration = Duration::from_secs(12);
/// How long a validator is frozen or dead. When its turn to propose comes, the others wait out round
/// 0 first: `block_interval_ms_max` (5 s in these chains) + `clock_drift_ms_max` (2 s) + the base
/// round timeout (2 s) after the parent, 9 s, so a hold of 8 s that began at its turn saw no block.
const ABSENT_VALIDATOR_HOLD: Duration = Duration::from_secs(14);
/// How soon after a fault heals every node must commit above the highest height seen at the heal.
/// Round timeouts double while a quorum is missing (2 s base, see `round_timeout_ms`), so a node that
/// has been cut off for [`FAULT_HOLD`] may wait out one long timer before the rounds line up again.
pub const RESUME_BOUND: Duration = Duration::from_secs(60);
/// Workload before the fault and after the recovery.
const STEADY: Duration = Duration::from_secs(4);
/// How long the nodes get to reach the same height once the workload stopped.
const CONVERGE_BOUND: Duration = Duration::from_secs(45);

/// The result of one scenario, as `scripts/fault-suite.sh` reports it.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// Scenario name, e.g. `partition-2-2`.
    pub name: String,
    /// Whether every check held.
    pub passed: bool,
    /// What the checker found over the chains and the history (`None` if the run broke off first).
    pub verdict: Option<Verdict>,
    /// Seconds from the heal until every node committed above the height seen at the heal.
    pub resumed_s: Option<f64>,
    /// Wall time of the whole scenario.
    pub duration_s: f64,
    /// Violations of the scenario's own expectations and of the checker.
    pub violations: Vec<String>,
    /// What happened, for the record.
    pub notes: Vec<String>,
}

impl ScenarioResult {
    /// The JSON object of `scripts/fault-suite.sh --out`.
    pub fn to_json(&self) -> Value {
        let verdict = self.verdict.clone().unwrap_or_default();
        json!({
            "name": self.name,
            "passed": self.passed,
            "acked": verdict.acked,
            "committed_acked": verdict.committed_acked,
            "committed": verdict.committed,
            "unknown_committed": verdict.unknown_committed,
            "forks": verdict.forks,
            "height": verdict.height,
            "resumed_s": self.resumed_s,
            "resume_bound_s": RESUME_BOUND.as_secs(),
            "duration_s": self.duration_s,
            "violations": self.violations,
            "notes": self.notes,
        })
    }
}

/// A scenario: its name and what it does between the workload's start and the heal.
pub struct Scenario {
    /// Name.
    pub name: &'static str,
    /// What it tests, one line.
    pub about: &'static str,
    run: fn(&mut Run),
    /// Prepares the consortium before the nodes start; returns each node's launch.
    setup: fn(&mut Run) -> Vec<Launch>,
    /// The validators held to the promises (all but a malicious one): they must resume, converge, and
    /// their chains are the ones checked.
    honest: &'static [usize],
}

/// Every validator.
const ALL: &[usize] = &[0, 1, 2, 3];

fn plain_launches(_: &mut Run) -> Vec<Launch> {
    vec![Launch::default(); VALIDATORS]
}

/// Every scenario, in the order the suite runs them.
pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "partition-2-2",
            about: "validators split 2|2 with their clients: no side has a quorum, so both halt; after the heal commits resume without a fork",
            run: partition_2_2,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "partition-3-1",
            about: "one validator and its client cut off: the three commit on, the one commits nothing; after the heal it catches up",
            run: partition_3_1,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "partition-bridge",
            about: "validator 1 cut off from 2 and 3 while validator 0 reaches both sides: 0, 2, 3 are a quorum and commit on",
            run: partition_bridge,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "partition-one-way",
            about: "nothing validator 3 sends arrives (it still hears the others): the three commit on, and 3 catches up after the heal",
            run: partition_one_way,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "link-flap",
            about: "validator 0's link goes down and up every 2 s: the chain goes on and 0 catches up",
            run: link_flap,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "bandwidth",
            about: "validator 2 may send only 256 kbit/s: the chain goes on",
            run: bandwidth,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "pause",
            about: "validator 2 frozen (SIGSTOP) for 14 s, longer than its turn as proposer keeps the others waiting: the three commit on; once it goes on (SIGCONT) it catches up",
            run: pause,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "kill-restart",
            about: "validator 1 killed (SIGKILL) mid-workload: the three commit on; restarted, it catches up from its store",
            run: kill_restart,
            setup: plain_launches,
            honest: ALL,
        },
        Scenario {
            name: "clock-step",
            about: "validator 2's wall clock steps 30 s ahead, then back: the chain goes on throughout and 2 takes part again",
            run: clock_step,
            setup: |run| {
                let mut launches = plain_launches(run);
                launches[2] = run.consortium.steppable_clock(2);
                launches
            },
            honest: ALL,
        },
        Scenario {
            name: "disk-full",
            about: "validator 3's data disk fills up: the three commit on, 3 loses nothing it stored; with room again and restarted, it catches up",
            run: disk_full,
            setup: |run| {
                run.consortium.small_data_disk(3, DISK_BYTES);
                plain_launches(run)
            },
            honest: ALL,
        },
        Scenario {
            name: "latency",
            about: "every link between validators through a delaying proxy; 150 ms each way for a while: the chain goes on, slower",
            run: latency,
            setup: through_proxies,
            honest: ALL,
        },
        Scenario {
            name: "byzantine-member",
            about: "validator 3 is the Byzantine test build (covenant-byzantine, every attack): the three honest validators keep committing and agree",
            run: byzantine_member,
            setup: |run| {
                let mut launches = plain_launches(run);
                launches[3] = Launch::byzantine("all");
                launches
            },
            honest: &[0, 1, 2],
        },
    ]
}

/// One scenario's consortium, workload, monitor and findings.
pub struct Run {
    /// The consortium, nodes on hosts of their own.
    pub consortium: Consortium,
    monitor: Monitor,
    workload: Option<Workload>,
    violations: Vec<String>,
    notes: Vec<String>,
    heal: Option<(Instant, u64)>,
    /// See [`Scenario::honest`].
    honest: &'static [usize],
    /// Delaying proxies the validators reach each other through (scenario `latency`).
    proxies: Vec<DelayProxy>,
}

/// Host indices of nodes `nodes` and their clients.
fn with_clients(nodes: &[usize]) -> Vec<usize> {
    nodes.iter().copied().chain(nodes.iter().map(|node| VALIDATORS + node)).collect()
}

impl Run {
    fn violation(&mut self, text: String) {
        eprintln!("  violation: {text}");
        self.violations.push(text);
    }

    fn note(&mut self, text: String) {
        eprintln!("  {text}");
        self.notes.push(text);
    }

    fn hosts(&self) -> &crate::hosts::Hosts {
        self.consortium.hosts.as_ref().expect("the fault scenarios run on hosts")
    }

    /// Heights of every node now (as last sampled).
    fn heights(&self) -> Vec<Option<u64>> {
        self.monitor.latest(&(0..VALIDATORS).collect::<Vec<_>>(), now_ms().saturating_sub(2_000))
    }

    /// Heights of the honest nodes now.
    fn honest_heights(&self) -> Vec<Option<u64>> {
        let heights = self.heights();
        self.honest.iter().map(|node| heights[*node]).collect()
    }

    /// Holds a fault for `hold`, then checks that each of `progressing` committed at least two blocks
    /// meanwhile and that none of `halted` committed more than one (a block in flight at the cut).
    fn fault_window(&mut self, hold: Duration, progressing: &[usize], halted: &[usize]) {
        let start_ms = now_ms();
        let before = self.heights();
        std::thread::sleep(hold);
        let after = self.heights();
        let top_before = before.iter().flatten().max().copied().unwrap_or(0);
        for node in progressing {
            match (before[*node], after[*node]) {
                (Some(from), Some(to)) if to >= from + 2 => {
                    self.note(format!("node {node} committed {} blocks during the fault", to - from))
                }
                (from, to) => self.violation(format!(
                    "node {node} should have kept committing during the fault: height {from:?} -> {to:?}"
                )),
            }
        }
        for node in halted {
            let reached = self.monitor.max_height(&[*node], start_ms, now_ms());
            match reached {
                Some(height) if height > top_before + 1 => self.violation(format!(
                    "node {node} should not have committed during the fault, yet reached height {height} (highest before: {top_before})"
                )),
                _ => self.note(format!("node {node} stayed at or below height {} during the fault", top_before + 1)),
            }
        }
    }

    /// Marks the fault healed now.
    fn healed(&mut self) {
        let top = self.honest_heights().iter().flatten().max().copied().unwrap_or(0);
        self.heal = Some((Instant::now(), top));
    }
}

/// Lines of each node's log printed when a scenario fails.
const LOG_LINES_ON_FAILURE: usize = 80;

/// Runs `scenario` and returns its result; a panic inside it is a failed result, not the suite's end.
pub fn run(scenario: &Scenario) -> ScenarioResult {
    let started = Instant::now();
    eprintln!("scenario {}: {}", scenario.name, scenario.about);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_inner(scenario)));
    let mut result = match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| text.to_string()))
                .unwrap_or_else(|| "a panic without a message".into());
            ScenarioResult {
                name: scenario.name.into(),
                passed: false,
                verdict: None,
                resumed_s: None,
                duration_s: 0.0,
                violations: vec![format!("the scenario broke off: {message}")],
                notes: Vec::new(),
            }
        }
    };
    result.duration_s = started.elapsed().as_secs_f64();
    eprintln!(
        "scenario {}: {} in {:.0} s",
        scenario.name,
        if result.passed { "passed" } else { "FAILED" },
        result.duration_s
    );
    result
}

fn run_inner(scenario: &Scenario) -> ScenarioResult {
    let consortium = Consortium::init_on_hosts(VALIDATORS, VALIDATORS, VALIDATORS * SENDERS_PER_CLIENT);
    let apis: Vec<_> = consortium.apis.iter().map(|api| api.address()).collect();
    let observer = consortium.hosts.as_ref().map(|hosts| hosts.observer().netns.clone());
    let monitor = Monitor::start(observer, apis, Duration::from_millis(250));
    let mut run = Run {
        consortium,
        monitor,
        workload: None,
        violations: Vec::new(),
        notes: Vec::new(),
        heal: None,
        honest: scenario.honest,
        proxies: Vec::new(),
    };
    let launches = (scenario.setup)(&mut run);
    for (index, launch) in launches.iter().enumerate() {
        run.consortium.start_node_with(index, launch);
    }
    run.consortium.wait_for_height(scenario.honest, 2, Duration::from_secs(90));
    run.workload = Some(Workload::start(client_plans(&run.consortium), workload_options()));
    std::thread::sleep(STEADY);

    (scenario.run)(&mut run);

    let resumed_s = wait_resumed(&mut run);
    std::thread::sleep(STEADY);
    let history = run.workload.take().map(Workload::stop).unwrap_or_default();
    converge(&mut run);
    let verdict = check_chains(&mut run, &history);
    for violation in &verdict.violations {
        run.violation(format!("checker: {violation}"));
    }
    run.note(format!(
        "{} operations, {} acknowledged, {} acknowledged found on chain, {} workload transfers committed, height {}",
        history.ops.len(),
        verdict.acked,
        verdict.committed_acked,
        verdict.committed,
        verdict.height
    ));
    if verdict.acked == 0 {
        run.violation("no operation was acknowledged: the workload did not run".into());
    }
    if !run.violations.is_empty() {
        // The nodes' own account of what happened, before their directory goes.
        for index in 0..run.consortium.nodes.len() {
            eprintln!(
                "--- validator-{index}, last lines ---\n{}",
                run.consortium.log_tail(index, LOG_LINES_ON_FAILURE)
            );
        }
    }
    ScenarioResult {
        name: scenario.name.into(),
        passed: run.violations.is_empty(),
        verdict: Some(verdict),
        resumed_s,
        duration_s: 0.0,
        violations: run.violations.clone(),
        notes: run.notes.clone(),
    }
}

fn workload_options() -> WorkloadOptions {
    WorkloadOptions {
        chain_id: LOCAL_CHAIN.into(),
        asset: covenant_node::commands::init::DEMO_ASSET.into(),
        recipients: workload_accounts(),
        commit_wait: Duration::from_secs(6),
        pause: Duration::from_millis(100),
        request_timeout: Duration::from_secs(2),
    }
}

fn sender_count() -> usize {
    VALIDATORS * SENDERS_PER_CLIENT
}

fn workload_accounts() -> Vec<String> {
    (0..sender_count()).map(|i| covenant_node::commands::init::bench_account(i, VALIDATORS)).collect()
}

fn workload_senders() -> BTreeSet<String> {
    (0..sender_count()).map(|i| covenant_node::commands::init::bench_sender_id(i, VALIDATORS)).collect()
}

/// Client `c` runs on host `VALIDATORS + c`, tries its own validator first, and sends as two of the
/// bench senders.
fn client_plans(consortium: &Consortium) -> Vec<ClientPlan> {
    let hosts = consortium.hosts.as_ref().expect("hosts");
    (0..VALIDATORS)
        .map(|client| ClientPlan {
            netns: Some(hosts.host(VALIDATORS + client).netns.clone()),
            nodes: (0..VALIDATORS).map(|k| consortium.apis[(client + k) % VALIDATORS].address()).collect(),
            senders: (0..SENDERS_PER_CLIENT)
                .map(|slot| {
                    let index = client * SENDERS_PER_CLIENT + slot;
                    let operator = covenant_node::commands::init::bench_sender_id(index, VALIDATORS);
                    Sender {
                        key: std::sync::Arc::new(consortium.operator_key(&operator)),
                        operator,
                        account: covenant_node::commands::init::bench_account(index, VALIDATORS),
                    }
                })
                .collect(),
        })
        .collect()
}

/// Waits until every node committed above the highest height seen at the heal; returns how long it took.
fn wait_resumed(run: &mut Run) -> Option<f64> {
    let Some((healed_at, top)) = run.heal else {
        run.violation("the scenario never healed its fault".into());
        return None;
    };
    while healed_at.elapsed() < RESUME_BOUND {
        let heights = run.honest_heights();
        if heights.iter().all(|height| height.is_some_and(|height| height > top)) {
            let seconds = healed_at.elapsed().as_secs_f64();
            run.note(format!("every honest node committed above height {top} {seconds:.1} s after the heal"));
            return Some(seconds);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let heights = run.honest_heights();
    run.violation(format!(
        "commits did not resume on every honest node within {RESUME_BOUND:?} of the heal: heights {heights:?}, needed above {top}"
    ));
    None
}

/// Waits until every node reports the same height twice in a row, then stops them all.
fn converge(run: &mut Run) {
    let deadline = Instant::now() + CONVERGE_BOUND;
    let mut last = None;
    while Instant::now() < deadline {
        let heights: Vec<u64> = run.honest.iter().map(|node| run.consortium.height(*node)).collect();
        if heights.iter().all(|height| *height == heights[0]) {
            if last == Some(heights[0]) {
                break;
            }
            last = Some(heights[0]);
        } else {
            last = None;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let heights: Vec<u64> = run.honest.iter().map(|node| run.consortium.height(*node)).collect();
    if heights.iter().any(|height| *height + 1 < *heights.iter().max().unwrap_or(&0)) {
        run.violation(format!("the honest nodes did not converge within {CONVERGE_BOUND:?}: heights {heights:?}"));
    }
    for node in 0..VALIDATORS {
        if run.honest.contains(&node) {
            run.consortium.stop_node(node, Duration::from_secs(30));
        } else {
            run.consortium.kill_node(node);
        }
    }
}

fn check_chains(run: &mut Run, history: &History) -> Verdict {
    let accounts = workload_accounts();
    let asset = covenant_node::commands::init::DEMO_ASSET;
    let mut chains: Vec<ChainView> = Vec::new();
    let honest = run.honest;
    for node in honest.iter().copied() {
        let store = run.consortium.open_store(node);
        match checker::read_chain(node, &store, &accounts, asset) {
            Ok(chain) => chains.push(chain),
            Err(error) => run.violation(format!("reading node {node}'s chain: {error}")),
        }
    }
    let genesis: BTreeMap<String, u64> =
        accounts.iter().map(|account| (account.clone(), covenant_node::commands::init::DEMO_BALANCE)).collect();
    checker::check(history, &chains, &genesis, &workload_senders())
}

// ---------------------------------------------------------------------------------------------------
// The faults
// ---------------------------------------------------------------------------------------------------

fn partition_2_2(run: &mut Run) {
    run.hosts().partition(&[&with_clients(&[0, 1]), &with_clients(&[2, 3])]);
    run.fault_window(FAULT_HOLD, &[], &[0, 1, 2, 3]);
    run.hosts().heal();
    run.healed();
}

fn partition_3_1(run: &mut Run) {
    run.hosts().partition(&[&with_clients(&[0, 1, 2]), &with_clients(&[3])]);
    run.fault_window(FAULT_HOLD, &[0, 1, 2], &[3]);
    run.hosts().heal();
    run.healed();
}

fn partition_bridge(run: &mut Run) {
    run.hosts().partition(&[&with_clients(&[1]), &with_clients(&[2, 3])]);
    run.fault_window(FAULT_HOLD, &[0, 2, 3], &[]);
    run.hosts().heal();
    run.healed();
}

fn partition_one_way(run: &mut Run) {
    for other in with_clients(&[0, 1, 2]) {
        run.hosts().cut_one_way(3, other);
    }
    run.fault_window(FAULT_HOLD, &[0, 1, 2], &[]);
    run.hosts().heal();
    run.healed();
}

fn link_flap(run: &mut Run) {
    let start = Instant::now();
    let before = run.heights();
    while start.elapsed() < FAULT_HOLD {
        run.hosts().set_link(0, false);
        std::thread::sleep(Duration::from_secs(2));
        run.hosts().set_link(0, true);
        std::thread::sleep(Duration::from_secs(2));
    }
    let after = run.heights();
    for node in [1, 2, 3] {
        if after[node].unwrap_or(0) < before[node].unwrap_or(0) + 2 {
            run.violation(format!(
                "node {node} stalled while 0's link flapped: {:?} -> {:?}",
                before[node], after[node]
            ));
        }
    }
    run.healed();
}

fn bandwidth(run: &mut Run) {
    run.hosts().limit_bandwidth(2, 256, 400);
    run.fault_window(FAULT_HOLD, &[0, 1, 3], &[]);
    run.hosts().unlimit_bandwidth(2);
    run.healed();
}

fn pause(run: &mut Run) {
    run.consortium.pause_node(2);
    run.fault_window(ABSENT_VALIDATOR_HOLD, &[0, 1, 3], &[]);
    run.consortium.resume_node(2);
    run.healed();
}

fn kill_restart(run: &mut Run) {
    run.consortium.kill_node(1);
    run.fault_window(ABSENT_VALIDATOR_HOLD, &[0, 2, 3], &[]);
    run.consortium.start_node(1);
    run.healed();
}

fn clock_step(run: &mut Run) {
    run.consortium.step_clock(2, 30);
    run.fault_window(FAULT_HOLD, &[0, 1, 3], &[]);
    run.consortium.step_clock(2, 0);
    run.healed();
}

/// The tmpfs validator 3 keeps its data on in `disk-full`: room for its store at the start.
const DISK_BYTES: u64 = 256 * 1024 * 1024;

fn disk_full(run: &mut Run) {
    let filler = run.consortium.config(3).data_dir.join("filler");
    let free = run.consortium.data_disk_free(3);
    fill(&filler, free);
    run.note(format!(
        "filled validator 3's data disk: {} bytes free of {DISK_BYTES}",
        run.consortium.data_disk_free(3)
    ));
    // A running store writes into log space it reserved earlier; a restart has to find new space.
    run.consortium.kill_node(3);
    run.consortium.start_node(3);
    run.fault_window(FAULT_HOLD, &[0, 1, 2], &[]);
    let log = run.consortium.log_tail(3, 3);
    if log.contains("panicked") {
        run.violation(format!("validator 3 panicked on the full disk:\n{log}"));
    }
    if run.consortium.is_running(3) {
        run.note(format!("validator 3 kept running on the full disk; its last lines:\n{log}"));
    } else {
        run.note(format!("validator 3 stopped on the full disk; its last lines:\n{log}"));
    }
    let _ = std::fs::remove_file(&filler);
    run.consortium.kill_node(3);
    run.consortium.start_node(3);
    run.healed();
}

/// Writes `bytes` of zeros to `path` (or until the disk refuses more).
fn fill(path: &std::path::Path, bytes: u64) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path).expect("filler file");
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0;
    while written < bytes {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(count) => written += count as u64,
        }
    }
    let _ = file.sync_all();
}

/// First port of the delaying proxies on the observer host: validator `j` is reached at this + `j`.
const PROXY_PORT_BASE: u16 = 8000;

/// Starts one delaying proxy per validator on the observer host and points every validator's
/// bootstrap peers at the proxies instead of at each other.
fn through_proxies(run: &mut Run) -> Vec<Launch> {
    let hosts = run.consortium.hosts.as_ref().expect("hosts");
    let observer = hosts.observer().clone();
    let (p2p_port, _) = run.consortium.ports;
    for node in 0..VALIDATORS {
        let target = std::net::SocketAddr::new(hosts.host(node).address.into(), p2p_port);
        let listen = std::net::SocketAddr::new(observer.address.into(), PROXY_PORT_BASE + node as u16);
        let proxy = DelayProxy::start(listen, target, Some(observer.netns.clone()))
            .unwrap_or_else(|error| panic!("proxy for validator {node}: {error}"));
        run.proxies.push(proxy);
    }
    for node in 0..VALIDATORS {
        let path = run.consortium.config_file(node);
        let mut text = std::fs::read_to_string(&path).expect("node config");
        for other in 0..VALIDATORS {
            let direct = format!("@{}:{p2p_port}\"", hosts.host(other).address);
            let proxied = format!("@{}:{}\"", observer.address, PROXY_PORT_BASE + other as u16);
            text = text.replace(&direct, &proxied);
        }
        std::fs::write(&path, text).expect("node config written");
    }
    plain_launches(run)
}

/// The one-way delay the `latency` scenario adds.
const ADDED_LATENCY: Duration = Duration::from_millis(150);

fn latency(run: &mut Run) {
    for proxy in &run.proxies {
        proxy.set_delay(ADDED_LATENCY);
    }
    run.fault_window(FAULT_HOLD, &[0, 1, 2, 3], &[]);
    for proxy in &run.proxies {
        proxy.set_delay(Duration::ZERO);
    }
    run.healed();
}

fn byzantine_member(run: &mut Run) {
    run.fault_window(FAULT_HOLD * 2, &[0, 1, 2], &[]);
    let log = run.consortium.log(3);
    let reports = log.lines().filter(|line| line.contains("byzantine: attacks sent so far")).count();
    if reports == 0 {
        run.violation("the Byzantine validator never reported attacking: is it the covenant-byzantine build?".into());
    } else if let Some(last) = log.lines().rev().find(|line| line.contains("byzantine: attacks sent so far")) {
        run.note(format!("the Byzantine validator's last report: {}", last.trim()));
    }
    run.healed();
}
