//! End to end (issue 21, findings 1 to 3): a real hostile libp2p peer holding validator 3's registered
//! keys attacks three honest `covenant node` processes (validators 0, 1 and 2 of four; quorum 3, so
//! they commit without validator 3, whose rounds time out).
//!
//! 1. Garbage gossiped to one honest node gets its author banned, never the honest node that would
//!    have relayed it, and the chain commits at no less than 80 % of its rate without the attacker.
//! 2. A peer claiming a height it does not have (2^63, then `u64::MAX`) and serving no blocks draws a
//!    trickle of block requests bounded by the sync back-off and the misbehaviour ban, and a node far
//!    behind catches up from the honest peers.
//! 3. A flood of distinct 8 MiB future-height ROUND-CHANGEs (bogus prepared certificates; a garbage
//!    outer signature, then a valid one made with validator 3's consensus key) leaves every honest
//!    node under 1 GiB of resident memory and committing.
//!
//! The attacker is `covenant_tests::attacker`: the node's own network layer with validator 3's keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use covenant_core::sync::UNBACKED_ANSWERS_MAX;
use covenant_network::PeerId;
use covenant_network::limits::MISBEHAVIOUR_BAN_DEFAULT;
use covenant_tests::Consortium;
use covenant_tests::attacker::{Attacker, AttackerSpec, BulkyRoundChange, bulky_round_change};
use covenant_types::NodeId;

/// The honest validators (processes); validator 3 is the attacker's identity.
const HONEST: [usize; 3] = [0, 1, 2];
const ATTACKER: usize = 3;

/// Chain parameters for tests that measure commit rates: an empty block at least every second, round
/// 0 of an absent proposer over within 2.5 s (interval + drift allowance + timeout), so that a window
/// of a few tens of seconds holds a few tens of blocks.
const FAST_CHAIN: &[(&str, u64)] =
    &[("block_interval_ms_max", 1_000), ("round_timeout_ms_base", 500), ("clock_drift_ms_max", 1_000)];

fn consortium(parameters: &[(&str, u64)]) -> Consortium {
    let consortium = Consortium::init(4);
    consortium.set_genesis_parameters(parameters);
    consortium
}

/// A consortium with the honest validators running (validator 3 left to the attacker).
fn honest_running(parameters: &[(&str, u64)]) -> Consortium {
    let mut consortium = consortium(parameters);
    for index in HONEST {
        consortium.start_node(index);
    }
    consortium
}

/// The lowest committed height among `nodes` (0 for one that does not answer).
fn min_height(consortium: &Consortium, nodes: &[usize]) -> u64 {
    nodes.iter().map(|index| consortium.height(*index)).min().unwrap_or(0)
}

fn heights(consortium: &Consortium) -> Vec<u64> {
    HONEST.iter().map(|index| consortium.height(*index)).collect()
}

/// A metric of every honest node; `None` for a node without it (a binary from before it existed:
/// the tests check their main claim first, so that they fail on old code for the right reason).
fn metrics(consortium: &Consortium, sample: &str) -> Vec<Option<f64>> {
    HONEST.iter().map(|index| consortium.metric(*index, sample)).collect()
}

fn known(value: Option<f64>, what: &str) -> f64 {
    value.unwrap_or_else(|| panic!("no metric {what}"))
}

/// One measurement of the honest validators' commit rate.
#[derive(Clone, Copy, Debug)]
struct Window {
    from_height: u64,
    blocks: u64,
    elapsed: Duration,
}

impl Window {
    fn rate(&self) -> f64 {
        self.blocks as f64 / self.elapsed.as_secs_f64()
    }
}

/// Blocks in a rate window: a multiple of the 4 proposers (one of which, validator 3, is absent
/// and costs a timed-out round) and of the 10-block audit-anchor interval (whose anchor
/// transactions make the next blocks come sooner), so that where the window starts does not bias
/// the rate.
const WINDOW_BLOCKS: u64 = 20;

/// Times the honest validators committing [`WINDOW_BLOCKS`] blocks (the lowest height of the three),
/// from the moment a new height appears (so the window starts on a block boundary). If `limit`
/// passes first, the window ends there with the blocks committed so far (none if the chain stalled).
fn commit_window(consortium: &Consortium, limit: Duration) -> Window {
    let poll = Duration::from_millis(50);
    let waiting = Instant::now();
    let before = min_height(consortium, &HONEST);
    let mut from_height = before;
    while from_height == before {
        if waiting.elapsed() >= limit {
            return Window { from_height: before, blocks: 0, elapsed: limit };
        }
        std::thread::sleep(poll);
        from_height = min_height(consortium, &HONEST);
    }
    let start = Instant::now();
    let mut height = from_height;
    while height < from_height + WINDOW_BLOCKS && start.elapsed() < limit {
        std::thread::sleep(poll);
        height = height.max(min_height(consortium, &HONEST));
    }
    let blocks = height.min(from_height + WINDOW_BLOCKS) - from_height;
    Window { from_height, blocks, elapsed: start.elapsed().min(limit) }
}

/// Lines of `log` that name `who` (any of its names) and report a disconnection or a penalty.
fn penalties_naming<'a>(log: &'a str, who: &[String]) -> Vec<&'a str> {
    log.lines()
        .filter(|line| who.iter().any(|name| line.contains(name.as_str())))
        .filter(|line| ["penalis", "disconnect", "misbehaviour", "banned"].iter().any(|word| line.contains(word)))
        .collect()
}

// ---- finding 1 -------------------------------------------------------------------------------------

/// The least share of its undisturbed commit rate the chain keeps under the attack (issue 21).
const RATE_SHARE_MIN: f64 = 0.8;
/// Garbage payload size and period (issue 21, finding 1: 64 bytes three times a second).
const GARBAGE_BYTES: usize = 64;
const GARBAGE_PERIOD: Duration = Duration::from_millis(333);
/// A height past the first audit anchors (every 10 blocks): both windows are measured on a chain
/// whose nodes have started anchoring.
const STEADY_FROM: u64 = 12;

#[test]
fn garbage_gossip_to_one_node_does_not_get_honest_relays_banned() {
    let started = Instant::now();
    let consortium = honest_running(FAST_CHAIN);
    // Both windows are measured past the first audit anchors, whatever pace the chain keeps then.
    consortium.wait_for_height(&HONEST, STEADY_FROM, Duration::from_secs(60));

    // The attacker absent: the undisturbed rate.
    let baseline = commit_window(&consortium, Duration::from_secs(60));
    assert_eq!(
        baseline.blocks,
        WINDOW_BLOCKS,
        "without the attacker the chain committed only {baseline:?}\n{}",
        consortium.logs()
    );
    eprintln!(
        "baseline: {} blocks from height {} in {:?} = {:.3} blocks/s",
        baseline.blocks,
        baseline.from_height,
        baseline.elapsed,
        baseline.rate()
    );

    // What the honest nodes have logged and counted so far.
    let log_marks: Vec<usize> = HONEST.iter().map(|index| consortium.log(*index).len()).collect();
    const PENALISED: &str = "covenant_peers_penalised_total";
    const REJECTED: &str = "covenant_gossip_messages_total{verdict=\"rejected\"}";
    let penalised_before = metrics(&consortium, PENALISED);
    let rejected_before = consortium.metric(0, REJECTED);
    let node0 = [consortium.peer_id(0).to_string(), consortium.network_key(0).public_key().to_hex()];

    // The attacker, connected to node 0 only (it listens where nobody looks for validator 3).
    let attacker = Attacker::start(
        &consortium,
        &AttackerSpec { validator: ATTACKER, bootstrap: vec![0], listen_on_own_address: false, claimed_height: 0 },
    );
    let attacker_names = [attacker.peer_id.to_string(), attacker.network_public_key.to_hex()];
    assert!(
        attacker.wait_connected(&[consortium.peer_id(0)], Duration::from_secs(20)),
        "the attacker did not connect to node 0: {:?}\n{}",
        attacker.log(),
        consortium.logs()
    );
    // At the threshold rate the window's blocks take baseline / share: the attacked window ends
    // there, so a slower chain shows as fewer blocks.
    let limit = baseline.elapsed.div_f64(RATE_SHARE_MIN);
    attacker.spawn_garbage_gossip(GARBAGE_BYTES, GARBAGE_PERIOD, limit + Duration::from_secs(35));
    let attacked = commit_window(&consortium, limit);
    let attacker_log = attacker.log();
    eprintln!(
        "under attack: {} blocks from height {} in {:?} = {:.3} blocks/s ({:.0} % of the baseline); {} garbage messages \
         handed to gossip, {} disconnections by node 0",
        attacked.blocks,
        attacked.from_height,
        attacked.elapsed,
        attacked.rate(),
        100.0 * attacked.rate() / baseline.rate(),
        attacker_log.garbage_sent,
        attacker_log.disconnections_by(&consortium.peer_id(0)),
    );
    drop(attacker);

    let suffix = |position: usize| consortium.log(HONEST[position])[log_marks[position]..].to_string();
    let penalised_after = metrics(&consortium, PENALISED);
    let penalised: Vec<Option<f64>> =
        penalised_after.iter().zip(&penalised_before).map(|(after, before)| Some((*after)? - (*before)?)).collect();
    let rejected = consortium.metric(0, REJECTED).zip(rejected_before).map(|(after, before)| after - before);
    eprintln!(
        "peers penalised during the attack by nodes 0, 1, 2: {penalised:?}; garbage rejected by node 0: {rejected:?}"
    );

    let relay_penalties: Vec<String> = [1, 2]
        .iter()
        .flat_map(|position| {
            let log = suffix(*position);
            penalties_naming(&log, &node0)
                .iter()
                .map(|line| format!("node {}: {line}", HONEST[*position]))
                .collect::<Vec<_>>()
        })
        .collect();
    // The chain kept its pace.
    assert!(
        attacked.rate() >= RATE_SHARE_MIN * baseline.rate(),
        "under attack the chain committed {attacked:?} ({:.3} blocks/s), below {:.0} % of the baseline {baseline:?} \
         ({:.3} blocks/s); heights now {:?}; nodes 1 and 2 penalised or dropped node 0 {} times, first ones:\n{}\n{}",
        attacked.rate(),
        100.0 * RATE_SHARE_MIN,
        baseline.rate(),
        heights(&consortium),
        relay_penalties.len(),
        relay_penalties.iter().take(6).cloned().collect::<Vec<_>>().join("\n"),
        consortium.logs()
    );
    // Validators 1 and 2 never penalised or disconnected node 0, which was the only way the garbage
    // could have reached them.
    for position in [1, 2] {
        let index = HONEST[position];
        let log = suffix(position);
        let against_node0 = penalties_naming(&log, &node0);
        assert!(
            against_node0.is_empty(),
            "node {index} penalised or dropped node 0 for the attacker's bytes:\n{}",
            against_node0.join("\n")
        );
        assert_eq!(
            known(penalised[position], PENALISED),
            0.0,
            "node {index} penalised a peer during the attack (only node 0 could have relayed the garbage to it)\n{}",
            consortium.log_tail(index, 40)
        );
    }
    // The attack happened: node 0 got the garbage and refused it.
    assert!(attacker_log.garbage_sent > 0, "the attacker gossiped nothing: {attacker_log:?}");
    assert!(
        known(rejected, REJECTED) >= 1.0,
        "node 0 rejected no gossiped message during the attack\n{}",
        consortium.log_tail(0, 40)
    );
    // Its author was proven and penalised: node 0 counted a penalty, logged it against the
    // attacker's key, and the attacker saw node 0 cut it off.
    assert!(
        known(penalised[0], PENALISED) >= 1.0,
        "node 0 penalised nobody for the garbage\n{}",
        consortium.log_tail(0, 40)
    );
    let node0_log = suffix(0);
    let against_attacker = penalties_naming(&node0_log, &attacker_names);
    assert!(
        against_attacker.iter().any(|line| line.contains("penalis") || line.contains("misbehaviour")),
        "node 0's log does not penalise the attacker {attacker_names:?}\n{}",
        consortium.log_tail(0, 40)
    );
    assert!(
        attacker_log.disconnections_by(&consortium.peer_id(0)) >= 1,
        "node 0 never disconnected the attacker: {attacker_log:?}"
    );
    eprintln!("finding 1 passed in {:?}", started.elapsed());
}

// ---- finding 2 -------------------------------------------------------------------------------------

/// How far the chain gets while validator 2 is stopped (phase A).
const LAG_BLOCKS: u64 = 24;
/// How long the lagging validator may take to reach the others once started (it needs one or two
/// sync answers of up to 64 blocks from an honest peer).
const CATCH_UP_MAX: Duration = Duration::from_secs(30);
/// The attack window: the first half claims 2^63, the second `u64::MAX`.
const CLAIM_WINDOW: Duration = Duration::from_secs(40);

#[test]
fn false_height_claims_draw_a_trickle_and_a_lagging_node_catches_up() {
    let started = Instant::now();
    let mut consortium = consortium(FAST_CHAIN);
    // Phase A: validators 0, 1 and 3 commit while validator 2 is stopped.
    for index in [0, 1, ATTACKER] {
        consortium.start_node(index);
    }
    consortium.wait_for_height(&[0, 1, ATTACKER], LAG_BLOCKS, Duration::from_secs(100));
    eprintln!(
        "phase A: heights {:?} after {:?}",
        [0, 1, ATTACKER].map(|index| consortium.height(index)),
        started.elapsed()
    );

    // Phase B: validator 3's process gone, the attacker in its place (its address, its keys),
    // claiming a height it does not have and serving no blocks; then validator 2 starts far behind.
    consortium.kill_node(ATTACKER);
    let names: Vec<PeerId> = HONEST.iter().map(|index| consortium.peer_id(*index)).collect();
    let attacker = Attacker::start(
        &consortium,
        &AttackerSpec {
            validator: ATTACKER,
            bootstrap: HONEST.to_vec(),
            listen_on_own_address: true,
            claimed_height: 1 << 63,
        },
    );
    let attack_start = Instant::now();
    assert!(
        attacker.wait_connected(&names[..2], Duration::from_secs(20)),
        "the attacker did not connect to nodes 0 and 1: {:?}\n{}",
        attacker.log(),
        consortium.logs()
    );
    consortium.start_node(2);
    let node2_started = Instant::now();
    // Without validator 3's votes nodes 0 and 1 have no quorum: they wait at their height.
    let target = consortium.height(0).max(consortium.height(1));
    assert!(target >= LAG_BLOCKS, "nodes 0 and 1 are at {:?}", heights(&consortium));
    while consortium.height(2) < target {
        assert!(
            node2_started.elapsed() < CATCH_UP_MAX,
            "validator 2 did not catch up to height {target} within {CATCH_UP_MAX:?} (heights {:?}); the liar got {} \
             block requests in {:?}\n{}",
            heights(&consortium),
            attacker.log().block_requests.len(),
            attack_start.elapsed(),
            consortium.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let caught_up = node2_started.elapsed();
    eprintln!("validator 2 caught up to height {target} in {caught_up:?}");
    // The three honest validators commit together again.
    consortium.wait_for_height(&HONEST, target + 3, Duration::from_secs(60));
    let agreed = consortium.assert_same_chain(&HONEST);
    eprintln!("nodes 0, 1, 2 agree up to height {agreed} {:?} after validator 2 started", node2_started.elapsed());

    // The second half of the window claims u64::MAX.
    let half = attack_start + CLAIM_WINDOW / 2;
    std::thread::sleep(half.saturating_duration_since(Instant::now()));
    attacker.set_claimed_height(u64::MAX);
    let end = attack_start + CLAIM_WINDOW;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let window = attack_start.elapsed();
    let log = attacker.log();
    let after_window = consortium.height(0);
    consortium.wait_for_height(&HONEST, after_window + 2, Duration::from_secs(30));
    consortium.assert_same_chain(&HONEST);
    drop(attacker);

    let requests = log.block_requests_between(attack_start, attack_start + window);
    let first_half = log.block_requests_between(attack_start, half);
    let per_node: Vec<usize> =
        names.iter().map(|peer| log.block_requests.iter().filter(|(_, from, _)| from == peer).count()).collect();
    let disconnections: Vec<usize> = names.iter().map(|peer| log.disconnections_by(peer)).collect();
    let penalties = metrics(&consortium, "covenant_peers_penalised_total");
    let unbacked = metrics(&consortium, "covenant_sync_unbacked_answers_total");
    let synced = consortium.metric(2, "covenant_synced_blocks_total");
    // Per honest node: UNBACKED_ANSWERS_MAX requests answered with nothing (the back-off growing
    // from 250 ms) before the liar is penalised; from then on every answer it fails to back is a
    // new penalty, and each penalty bans it for the network's misbehaviour ban, so at most one
    // request per ban (plus one for a request in flight at either end of the window).
    let bans = (window.as_secs_f64() / MISBEHAVIOUR_BAN_DEFAULT.as_secs_f64()).ceil() as usize;
    let bound = HONEST.len() * (UNBACKED_ANSWERS_MAX as usize + bans + 1);
    eprintln!(
        "block requests drawn by the liar in {window:?}: {requests} ({:.2}/s; {first_half} while claiming 2^63, {} while \
         claiming u64::MAX), per honest node {per_node:?}; bound {bound}; peers penalised by nodes 0, 1, 2: \
         {penalties:?}; unbacked answers they counted: {unbacked:?}; connections the liar saw cut (redialling every \
         500 ms while banned): {disconnections:?}",
        requests as f64 / window.as_secs_f64(),
        requests - first_half,
    );
    assert!(
        requests <= bound,
        "the liar drew {requests} block requests in {window:?} ({:.1}/s), more than the back-off and ban allow \
         ({bound}); per node {per_node:?}",
        requests as f64 / window.as_secs_f64()
    );
    assert!(requests as f64 / window.as_secs_f64() <= 2.0, "more than a trickle: {requests} requests in {window:?}");
    assert!(requests > 0, "nobody asked the liar for blocks: the attack did not happen ({log:?})");
    // The liar was penalised for claims its answers did not back (nodes 0 and 1 saw its claim from
    // the start of the window).
    for position in [0, 1] {
        assert!(
            known(unbacked[position], "unbacked answers") >= 1.0
                && known(penalties[position], "peers penalised") >= 1.0
                && disconnections[position] >= 1,
            "node {} did not penalise the liar (unbacked answers {:?}, penalties {:?}, disconnections {})\n{}",
            HONEST[position],
            unbacked[position],
            penalties[position],
            disconnections[position],
            consortium.log_tail(HONEST[position], 40)
        );
    }
    assert!(known(synced, "synced blocks") >= 1.0, "validator 2 synced no block");
    eprintln!("finding 2 passed in {:?}", started.elapsed());
}

// ---- finding 3 -------------------------------------------------------------------------------------

/// Chain parameters for the flood: empty blocks every 10 s (until the first audit anchors at height
/// 10; the flood is normally over by then), so that the height the flood targets stays in the future
/// for much of a phase and the messages for it would pile up on a node without budgets.
const SLOW_CHAIN: &[(&str, u64)] = &[("block_interval_ms_max", 10_000)];
/// Messages per phase (two phases: 300 distinct messages in all, each sent to all three nodes).
const FLOOD_MESSAGES: u64 = 150;
/// Their size.
const FLOOD_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Messages sent to a node and not yet seen refused by it, at most (the link carries a few a second
/// on a shared debug machine; without flow control they would wait in gossip's queues and be
/// dropped there).
const FLOOD_WINDOW: u64 = 3;
/// A message not seen within this long is counted lost and the flood goes on.
const FLOOD_STALL: Duration = Duration::from_secs(3);
/// Longest a phase sends for; whatever was sent by then is the phase's flood.
const FLOOD_PHASE_MAX: Duration = Duration::from_secs(75);
/// Fewest messages a phase must get out for the test to mean anything: 100 × 8 MiB held at once is
/// well over the budget (a node without budgets reached about 1.5 GiB with 150).
const FLOOD_MESSAGES_MIN: u64 = 100;
/// Longest the chain may go without a block when healthy: one round 0 whose proposer (validator 3)
/// is absent waits block_interval_ms_max + clock_drift_ms_max + round_timeout_ms_base (10 + 2 + 2 s).
const SLOW_CHAIN_STALL_MAX: Duration = Duration::from_secs(20);
/// The memory every honest node must stay under (issue 21, acceptance).
const RSS_MAX: u64 = 1024 * 1024 * 1024;
const REFUSALS: &str = "covenant_consensus_refusals_total";

/// Samples the honest nodes' resident memory every 100 ms until stopped; returns the peaks.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(consortium: &Consortium) -> RssSampler {
        let pids: Vec<u32> = HONEST.iter().map(|index| consortium.pid(*index).expect("running")).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peaks = vec![0u64; pids.len()];
            while !flag.load(Ordering::Relaxed) {
                for (peak, pid) in peaks.iter_mut().zip(&pids) {
                    *peak = (*peak).max(rss_of(*pid));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peaks
        });
        RssSampler { stop, thread }
    }

    fn peaks(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("sampler")
    }
}

fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn mib(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

/// What one phase of the flood did.
struct Flood {
    sent: u64,
    /// Messages each honest node refused during the phase (`None`: the node has no refusal metric).
    seen: Option<Vec<u64>>,
    peaks: Vec<u64>,
    heights_before: Vec<u64>,
    heights_after: Vec<u64>,
}

/// Send rate when the nodes do not count refusals (a binary from before the metric existed).
const FLOOD_RATE_FALLBACK: f64 = 4.0;

/// One phase of the flood: [`FLOOD_MESSAGES`] distinct ROUND-CHANGEs for the height four above the
/// one the honest nodes are deciding, each to every honest node, at most [`FLOOD_WINDOW`] ahead of
/// what each node has refused, while the nodes' resident memory is sampled.
fn flood(consortium: &Consortium, attacker: &Attacker, valid_signature: bool) -> Flood {
    let chain = consortium.genesis().chain_id().clone();
    let key = consortium.consensus_key(ATTACKER);
    let author = NodeId::new(format!("validator-{ATTACKER}")).expect("node id");
    let prepare_authors: Vec<NodeId> =
        HONEST.iter().map(|index| NodeId::new(format!("validator-{index}")).expect("node id")).collect();
    let refusals = || -> Option<Vec<u64>> {
        HONEST.iter().map(|index| consortium.metric(*index, REFUSALS).map(|value| value as u64)).collect()
    };
    let base = refusals();
    let seen_now = || -> Option<Vec<u64>> {
        let base = base.as_ref()?;
        Some(refusals()?.iter().zip(base).map(|(now, base)| now.saturating_sub(*base)).collect())
    };
    let heights_before = heights(consortium);
    let sampler = RssSampler::start(consortium);
    let started = Instant::now();
    // The honest nodes decide height committed + 1; the buffer takes messages up to 4 above it.
    let mut target = heights_before.iter().max().copied().unwrap_or(0) + 5;
    let mut sent = 0u64;
    let mut progress = Instant::now();
    while sent < FLOOD_MESSAGES && started.elapsed() < FLOOD_PHASE_MAX {
        match seen_now() {
            Some(seen) => {
                let behind = seen.iter().min().copied().unwrap_or(0);
                if sent >= behind + FLOOD_WINDOW && progress.elapsed() < FLOOD_STALL {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
            None => {
                let due = started + Duration::from_secs_f64(sent as f64 / FLOOD_RATE_FALLBACK);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        }
        progress = Instant::now();
        // Keep the target ahead of every node: a message for the height a node is deciding is
        // checked in full, and a bad one rightly gets its author penalised (and the flood cut off).
        let highest = heights(consortium).into_iter().max().unwrap_or(0);
        if target <= highest + 2 {
            target = highest + 5;
        }
        let bytes = bulky_round_change(&BulkyRoundChange {
            chain: &chain,
            author: author.clone(),
            signer: valid_signature.then_some(&key),
            height: target,
            round: 1,
            prepare_authors: prepare_authors.clone(),
            bytes: FLOOD_MESSAGE_BYTES,
            salt: sent + if valid_signature { 1 << 32 } else { 0 },
        });
        // The attacker reaches every admitted peer, so its gossip goes out on the direct topic,
        // which the nodes take like a point-to-point message.
        attacker.broadcast_consensus(bytes);
        sent += 1;
    }
    // Let the last ones arrive.
    let drain = Instant::now() + Duration::from_secs(10);
    let mut seen = seen_now();
    while Instant::now() < drain && seen.as_ref().is_none_or(|seen| seen.iter().any(|count| count + 1 < sent)) {
        std::thread::sleep(Duration::from_millis(200));
        seen = seen_now();
    }
    let peaks = sampler.peaks();
    let heights_after = heights(consortium);
    eprintln!(
        "{} outer signatures: {sent} messages of {} MiB to each node in {:?}, refused by nodes 0, 1, 2: {seen:?}; peak \
         RSS (MiB) {:?}; heights {heights_before:?} -> {heights_after:?}",
        if valid_signature { "valid" } else { "garbage" },
        mib(FLOOD_MESSAGE_BYTES as u64),
        started.elapsed(),
        peaks.iter().map(|peak| mib(*peak)).collect::<Vec<_>>(),
    );
    Flood { sent, seen, peaks, heights_before, heights_after }
}

#[test]
fn a_flood_of_large_future_round_changes_stays_within_the_memory_budget() {
    let started = Instant::now();
    let consortium = honest_running(SLOW_CHAIN);
    consortium.wait_for_height(&HONEST, 1, Duration::from_secs(60));
    let idle: Vec<u64> = HONEST.iter().map(|index| mib(consortium.rss_bytes(*index).unwrap_or(0))).collect();
    let attacker = Attacker::start(
        &consortium,
        &AttackerSpec {
            validator: ATTACKER,
            bootstrap: HONEST.to_vec(),
            listen_on_own_address: false,
            claimed_height: 0,
        },
    );
    let peers: Vec<PeerId> = HONEST.iter().map(|index| consortium.peer_id(*index)).collect();
    assert!(
        attacker.wait_connected(&peers, Duration::from_secs(20)),
        "the attacker did not connect to every honest node: {:?}\n{}",
        attacker.log(),
        consortium.logs()
    );
    eprintln!("idle RSS (MiB) {idle:?}, heights {:?}", heights(&consortium));

    let whole = RssSampler::start(&consortium);
    for valid_signature in [false, true] {
        let phase = flood(&consortium, &attacker, valid_signature);
        for (position, index) in HONEST.iter().enumerate() {
            assert!(
                phase.peaks[position] < RSS_MAX,
                "node {index} reached {} MiB of resident memory (budget {} MiB) in the flood with {} outer signatures; \
                 heights {:?}",
                mib(phase.peaks[position]),
                mib(RSS_MAX),
                if valid_signature { "valid" } else { "garbage" },
                heights(&consortium)
            );
            assert!(
                consortium.rss_bytes(*index).is_some(),
                "node {index} is gone after the flood\n{}",
                consortium.log_tail(*index, 40)
            );
        }
        // The chain kept committing: a block during the phase, or (a phase shorter than the slowest
        // healthy block) soon after it.
        let lowest_before = phase.heights_before.iter().min().copied().unwrap_or(0);
        let deadline = Instant::now() + SLOW_CHAIN_STALL_MAX;
        while min_height(&consortium, &HONEST) <= lowest_before {
            assert!(
                Instant::now() < deadline,
                "the chain stalled in the flood: heights {:?} before it, {:?} after it, {:?} now\n{}",
                phase.heights_before,
                phase.heights_after,
                heights(&consortium),
                consortium.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            phase.sent >= FLOOD_MESSAGES_MIN,
            "only {} messages went out in {FLOOD_PHASE_MAX:?}: this machine cannot carry the flood",
            phase.sent
        );
        // Most of the flood reached every node (else the test proves nothing): each message but the
        // first of a phase's height is refused (bad signature, or the same author and round again).
        let seen = phase.seen.expect("the nodes count consensus refusals");
        for (position, index) in HONEST.iter().enumerate() {
            assert!(
                seen[position] * 4 >= phase.sent * 3,
                "node {index} refused only {} of {} messages: the flood did not get through",
                seen[position],
                phase.sent
            );
        }
    }
    drop(attacker);
    // And after it.
    let after = min_height(&consortium, &HONEST);
    consortium.wait_for_height(&HONEST, after + 1, SLOW_CHAIN_STALL_MAX);
    let peaks = whole.peaks();
    for (position, index) in HONEST.iter().enumerate() {
        assert!(peaks[position] < RSS_MAX, "node {index} reached {} MiB of resident memory", mib(peaks[position]));
    }
    consortium.assert_same_chain(&HONEST);
    eprintln!(
        "peak RSS (MiB) of nodes 0, 1, 2 from the first message to the end: {:?} (budget {}); heights {:?}; finding 3 passed in {:?}",
        peaks.iter().map(|peak| mib(*peak)).collect::<Vec<_>>(),
        mib(RSS_MAX),
        heights(&consortium),
        started.elapsed()
    );
}
