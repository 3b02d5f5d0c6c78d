//! Prometheus metrics, rendered in the text exposition format at `/metrics`. Hand-written rather
//! than a registry crate: a dozen series with fixed names, atomics on the hot paths, and one small
//! map (bounded by the number of rules) for refusals by rule.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use covenant_core::{Counter, Telemetry, Timing};
use covenant_execution::governance;
use covenant_execution::{MemberState, OperatorState, StateError, StateKey, StateReader, StateView};
use covenant_network::{PeerId, Traffic, TrafficSnapshot};
use covenant_rules::RuleId;
use covenant_rules::checks::Approvers;
use covenant_types::NodeId;
use covenant_types::{MemberStatus, OperatorId};

/// Where a covenant rule refused something.
pub use covenant_core::Stage as RejectionStage;

fn stage_label(stage: RejectionStage) -> &'static str {
    match stage {
        RejectionStage::Admission => "admission",
        RejectionStage::Consensus => "consensus",
    }
}

/// Upper bounds (seconds) of the latency histograms' buckets.
const SECONDS_BUCKETS: [f64; 12] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A histogram of durations with fixed buckets, recorded in milliseconds.
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; SECONDS_BUCKETS.len()],
    count: AtomicU64,
    sum_ms: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe_ms(&self, ms: u64) {
        for (bucket, bound) in self.buckets.iter().zip(SECONDS_BUCKETS) {
            // Bounds are whole milliseconds, so comparing in integer milliseconds is exact.
            if ms <= (bound * 1000.0) as u64 {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(SECONDS_BUCKETS) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", bucket.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let sum_ms = self.sum_ms.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_sum {}.{:03}", sum_ms / 1000, sum_ms % 1000);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// The node's metrics. Gauges that the API can read from elsewhere (mempool, peers) are passed in
/// at render time instead of being duplicated here.
#[derive(Default)]
pub struct Metrics {
    /// Round changes (a height that needed more than round 0, counted per extra round).
    pub round_changes: AtomicU64,
    /// Transactions committed since start.
    pub committed_txs: AtomicU64,
    /// Blocks committed since start (by consensus or block sync).
    pub committed_blocks: AtomicU64,
    /// Transactions from peers dropped because the verification queue was full.
    pub gossip_dropped: AtomicU64,
    /// Decided blocks sent to validators still voting at a decided height.
    pub decisions_sent: AtomicU64,
    /// Transaction signatures verified at admission (clients' and peers' transactions).
    pub verified_at_admission: AtomicU64,
    /// Transaction signatures verified in proposals (those not verified at admission).
    pub verified_in_blocks: AtomicU64,
    /// Transactions of valid proposals admitted to the mempool when the proposal was validated (their
    /// signatures verified for the proposal, their gossiped copies still queued).
    pub adopted_from_proposals: AtomicU64,
    /// Verification batches at admission (signatures per batch = verified / batches).
    pub admission_batches: AtomicU64,
    /// Verification batches in proposals (blocks with transactions not admitted before).
    pub block_batches: AtomicU64,
    /// Median clock offset against peers in ms, `i64::MIN` while unknown.
    pub clock_offset_ms: AtomicI64,
    /// 1 while this node's clock is out of the drift bound against its peers (it does not propose).
    pub clock_out_of_range: AtomicU64,
    /// Proposals this node withheld because its clock was out of range.
    pub proposals_withheld: AtomicU64,
    /// Committed blocks further than `block_interval_ms_max` from their parent.
    pub late_blocks: AtomicU64,
    /// 1 once this node's audit log verified against its blocks' anchors (and at each check since);
    /// 0 before the start-up verification finished and after a failure (ADR 0020).
    pub audit_log_verified: AtomicU64,
    /// Verifications of this node's audit log that found it tampered with.
    pub audit_verification_failures: AtomicU64,
    /// Anchoring heights at which the node refused to anchor an unverified log.
    pub audit_anchors_refused: AtomicU64,
    /// Gossiped messages accepted for forwarding.
    pub gossip_accepted: AtomicU64,
    /// API connections closed at once: over the connection cap or the per-address cap.
    pub api_refused_connections: AtomicU64,
    /// API requests answered 503 because too many were in flight.
    pub api_refused_busy: AtomicU64,
    /// API requests refused for a `Host` the node does not serve.
    pub api_refused_host: AtomicU64,
    /// API requests answered 408 for taking too long.
    pub api_timed_out: AtomicU64,
    /// Gossiped messages rejected as provably bad (their deliverer penalised).
    pub gossip_rejected: AtomicU64,
    /// Gossiped messages neither forwarded nor blamed.
    pub gossip_ignored: AtomicU64,
    /// Gossip dropped because its delivering peer exceeded its budget.
    pub gossip_over_budget: AtomicU64,
    /// Peers penalised (disconnected and refused for a while).
    pub peers_penalised: AtomicU64,
    /// Block requests sent.
    pub sync_requests: AtomicU64,
    /// Block requests answered with none of the blocks the peer claimed.
    pub sync_unbacked: AtomicU64,
    /// Blocks received by sync and committed.
    pub synced_blocks: AtomicU64,
    /// Peers' block requests served.
    pub sync_served: AtomicU64,
    /// Peers' block requests refused because their budget was spent.
    pub sync_serve_refused: AtomicU64,
    /// Consensus messages the engine refused (benign ones included).
    pub consensus_refusals: AtomicU64,
    /// Time between consecutive committed blocks' header timestamps.
    pub block_interval: Histogram,
    /// From the start of a height to its block committed on this node.
    pub commit_latency: Histogram,
    /// The synced store write of one block.
    pub store_commit: Histogram,
    rejections: Mutex<BTreeMap<(RejectionStage, RuleId), u64>>,
}

/// Values owned elsewhere, read at render time.
pub struct Gauges {
    /// Last committed height.
    pub height: u64,
    /// Current consensus round.
    pub round: u32,
    /// Connected peers.
    pub peers: usize,
    /// Pending transactions.
    pub mempool_txs: usize,
    /// Bytes of pending transactions.
    pub mempool_bytes: usize,
    /// Transactions waiting for signature verification.
    pub verification_queue: usize,
    /// The mempool's bound in transactions (`mempool_txs_max`).
    pub mempool_txs_max: u64,
    /// Validators deciding the next height.
    pub validators: usize,
    /// Their quorum.
    pub quorum: usize,
    /// The store's committed-state cache.
    pub state_cache: covenant_storage::state_cache::StateCacheStats,
    /// RocksDB's memory, when it could be read.
    pub rocks_memory: Option<covenant_storage::RocksMemory>,
    /// Network events dropped before the node read them, since start (the network counts them).
    pub network_events_dropped: u64,
    /// Operator key expiries and governance approvers at the tip, when the state could be read.
    pub governance: Option<GovernanceGauges>,
    /// Traffic with each peer, by the node id registered on chain ([`traffic_by_node`]).
    pub peer_traffic: BTreeMap<String, Traffic>,
}

/// Most operators the key-expiry series names: the soonest to expire first (a bounded label count
/// however many operators the chain registers).
pub const OPERATOR_EXPIRY_SERIES_MAX: usize = 256;

/// One operator's key expiry, as the metric names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorExpiry {
    /// Its member.
    pub member: String,
    /// The operator account.
    pub operator: String,
    /// Seconds from the tip's block time to the key's expiry (negative once expired).
    pub seconds: i64,
}

/// Governance liveness at the tip (ADR 0021): key expiries, and who can approve against what the
/// strictest class needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GovernanceGauges {
    /// Operators not revoked, of active members, soonest expiry first, at most
    /// [`OPERATOR_EXPIRY_SERIES_MAX`].
    pub keys: Vec<OperatorExpiry>,
    /// Persons and members able to approve at the tip's block time.
    pub approvers: Approvers,
    /// What passing the strictest class needs.
    pub required: Approvers,
}

/// Reads [`GovernanceGauges`] from the committed state, counting at the tip's block time `tip_ms`
/// (the clock key expiry is judged by).
pub fn governance_gauges<S: StateView + ?Sized>(state: &S, tip_ms: u64) -> Result<GovernanceGauges, StateError> {
    let mut keys = Vec::new();
    for id in state.index::<OperatorId>(&StateKey::OperatorIndex)? {
        let Some(operator) = state.get::<OperatorState>(&StateKey::Operator(id.clone()))? else { continue };
        let member = state.get::<MemberState>(&StateKey::Member(operator.record.member.clone()))?;
        if operator.revoked || member.is_none_or(|member| member.status != MemberStatus::Active) {
            continue;
        }
        let millis = i128::from(operator.record.key_expires_at_ms) - i128::from(tip_ms);
        let seconds = i64::try_from(millis.div_euclid(1000)).unwrap_or(i64::MAX);
        keys.push(OperatorExpiry { member: operator.record.member.to_string(), operator: id.to_string(), seconds });
    }
    keys.sort_by(|a, b| (a.seconds, &a.operator).cmp(&(b.seconds, &b.operator)));
    keys.truncate(OPERATOR_EXPIRY_SERIES_MAX);
    Ok(GovernanceGauges {
        keys,
        approvers: governance::approvers(state, tip_ms)?,
        required: governance::approvers_required(state)?,
    })
}

/// The label of peers no registered node's network key names (unregistered peers, keys rotated
/// away); node ids cannot contain parentheses.
pub const UNREGISTERED_PEER_LABEL: &str = "(unregistered)";

/// The network's per-peer traffic labelled with the node ids registered on chain (`nodes`: each
/// registered node and the peer id of its network key). A peer no registered key names is added to
/// [`UNREGISTERED_PEER_LABEL`], so the labels are bounded by the registered nodes (COV-22).
pub fn traffic_by_node(snapshot: TrafficSnapshot, nodes: &[(NodeId, PeerId)]) -> BTreeMap<String, Traffic> {
    let names: BTreeMap<PeerId, &NodeId> = nodes.iter().map(|(node, peer)| (*peer, node)).collect();
    let mut by_node: BTreeMap<String, Traffic> = BTreeMap::new();
    let unregistered = std::iter::once((UNREGISTERED_PEER_LABEL.to_string(), snapshot.unknown));
    let peers = snapshot.peers.into_iter().map(|(peer, traffic)| {
        let label = names.get(&peer).map_or_else(|| UNREGISTERED_PEER_LABEL.to_string(), |node| node.to_string());
        (label, traffic)
    });
    for (label, traffic) in unregistered.chain(peers) {
        let total = by_node.entry(label).or_default();
        total.messages_in = total.messages_in.saturating_add(traffic.messages_in);
        total.bytes_in = total.bytes_in.saturating_add(traffic.bytes_in);
        total.messages_out = total.messages_out.saturating_add(traffic.messages_out);
        total.bytes_out = total.bytes_out.saturating_add(traffic.bytes_out);
    }
    by_node
}

impl Metrics {
    /// Metrics with nothing recorded.
    pub fn new() -> Metrics {
        let metrics = Metrics::default();
        metrics.clock_offset_ms.store(i64::MIN, Ordering::Relaxed);
        metrics
    }

    /// Counts one refusal by `rule`.
    pub fn rejected(&self, stage: RejectionStage, rule: RuleId) {
        *self.rejections.lock().expect("metrics lock poisoned").entry((stage, rule)).or_default() += 1;
    }

    /// The refusal count for one rule and stage.
    pub fn rejections(&self, stage: RejectionStage, rule: RuleId) -> u64 {
        self.rejections.lock().expect("metrics lock poisoned").get(&(stage, rule)).copied().unwrap_or(0)
    }

    /// The median clock offset against peers, if any peer has been measured.
    pub fn clock_offset(&self) -> Option<i64> {
        Some(self.clock_offset_ms.load(Ordering::Relaxed)).filter(|offset| *offset != i64::MIN)
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self, gauges: &Gauges, chain_id: &str, node_id: &str) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        };
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
        };
        let _ = writeln!(
            out,
            "# HELP covenant_info The node's identity and version.\n# TYPE covenant_info gauge\ncovenant_info{{chain_id=\"{}\",node_id=\"{}\",version=\"{}\"}} 1",
            escape(chain_id),
            escape(node_id),
            env!("CARGO_PKG_VERSION")
        );
        gauge(&mut out, "covenant_height", "Last committed block height.", gauges.height.to_string());
        gauge(&mut out, "covenant_round", "Consensus round at the height being decided.", gauges.round.to_string());
        counter(
            &mut out,
            "covenant_round_changes_total",
            "Rounds started beyond round 0 (a proposer failed or was refused).",
            self.round_changes.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_committed_blocks_total",
            "Blocks committed since start.",
            self.committed_blocks.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_committed_txs_total",
            "Transactions committed since start.",
            self.committed_txs.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_decisions_sent_total",
            "Decided blocks (with their seals) sent to validators still voting at a height this node decided.",
            self.decisions_sent.load(Ordering::Relaxed),
        );
        gauge(&mut out, "covenant_peers", "Connected, admitted peers.", gauges.peers.to_string());
        gauge(&mut out, "covenant_mempool_txs", "Pending transactions.", gauges.mempool_txs.to_string());
        gauge(&mut out, "covenant_mempool_bytes", "Bytes of pending transactions.", gauges.mempool_bytes.to_string());
        gauge(
            &mut out,
            "covenant_mempool_txs_max",
            "The mempool's bound (chain parameter mempool_txs_max).",
            gauges.mempool_txs_max.to_string(),
        );
        gauge(&mut out, "covenant_validators", "Validators deciding the next height.", gauges.validators.to_string());
        gauge(&mut out, "covenant_quorum", "Votes a decision needs at the next height.", gauges.quorum.to_string());
        gauge(
            &mut out,
            "covenant_verification_queue_txs",
            "Transactions waiting for signature verification.",
            gauges.verification_queue.to_string(),
        );
        counter(
            &mut out,
            "covenant_gossip_dropped_txs_total",
            "Transactions from peers dropped because the verification queue was full.",
            self.gossip_dropped.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_mempool_adopted_txs_total",
            "Transactions admitted to the mempool from valid proposals, their signatures verified for the proposal.",
            self.adopted_from_proposals.load(Ordering::Relaxed),
        );
        let cache = &gauges.state_cache;
        gauge(&mut out, "covenant_state_cache_entries", "Committed state values cached.", cache.entries.to_string());
        gauge(&mut out, "covenant_state_cache_bytes", "Bytes the state cache holds.", cache.bytes.to_string());
        counter(&mut out, "covenant_state_cache_hits_total", "State reads answered from the cache.", cache.hits);
        counter(&mut out, "covenant_state_cache_misses_total", "State reads that went to RocksDB.", cache.misses);
        if let Some(rocks) = &gauges.rocks_memory {
            for (name, help, value) in [
                (
                    "covenant_rocksdb_cache_capacity_bytes",
                    "RocksDB's one memory budget, shared by memtables, index and filter blocks and data blocks.",
                    rocks.cache_capacity_bytes,
                ),
                ("covenant_rocksdb_cache_used_bytes", "What RocksDB's budget holds now.", rocks.cache_used_bytes),
                ("covenant_rocksdb_cache_pinned_bytes", "The part of it pinned in use.", rocks.cache_pinned_bytes),
                (
                    "covenant_rocksdb_memtable_bytes",
                    "RocksDB's memtables, those being flushed included (charged to the budget).",
                    rocks.memtable_bytes,
                ),
                (
                    "covenant_rocksdb_table_readers_bytes",
                    "RocksDB's table readers' memory outside the budget.",
                    rocks.table_reader_bytes,
                ),
            ] {
                gauge(&mut out, name, help, value.to_string());
            }
        }
        let _ = writeln!(
            out,
            "# HELP covenant_signatures_verified_total Transaction signatures verified, by where: at admission, \
             or in a proposal for transactions not admitted before.\n# TYPE covenant_signatures_verified_total counter"
        );
        for (stage, count) in [("admission", &self.verified_at_admission), ("block", &self.verified_in_blocks)] {
            let _ = writeln!(
                out,
                "covenant_signatures_verified_total{{stage=\"{stage}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP covenant_signature_batches_total Batches in which those signatures were verified (their mean size \
             is the ratio of the two counters: larger batches cost less per signature).\n# TYPE covenant_signature_batches_total counter"
        );
        for (stage, count) in [("admission", &self.admission_batches), ("block", &self.block_batches)] {
            let _ = writeln!(
                out,
                "covenant_signature_batches_total{{stage=\"{stage}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        if let Some(offset) = self.clock_offset() {
            gauge(
                &mut out,
                "covenant_clock_offset_seconds",
                "Median offset of the peers' clocks against this node's (positive: peers ahead).",
                format!("{}", offset as f64 / 1000.0),
            );
        }
        gauge(
            &mut out,
            "covenant_clock_out_of_range",
            "1 while this node's clock is further than clock_drift_ms_max from its peers' (it does not propose).",
            self.clock_out_of_range.load(Ordering::Relaxed).to_string(),
        );
        counter(
            &mut out,
            "covenant_proposals_withheld_total",
            "Proposals withheld because this node's clock was out of range (COV-35).",
            self.proposals_withheld.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "covenant_audit_log_verified",
            "1 while this node's audit log verifies against the anchors in its sealed blocks; 0 while unverified or tampered (COV-33).",
            self.audit_log_verified.load(Ordering::Relaxed).to_string(),
        );
        counter(
            &mut out,
            "covenant_audit_verification_failures_total",
            "Verifications that found this node's audit log tampered with (COV-33): the node no longer anchors it.",
            self.audit_verification_failures.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_audit_anchors_refused_total",
            "Anchoring heights at which this node did not anchor its audit log because the log had not verified (ADR 0020).",
            self.audit_anchors_refused.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_late_blocks_total",
            "Committed blocks further than block_interval_ms_max from their parent (COV-49: counted, refused only in round 0; ADR 0019).",
            self.late_blocks.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP covenant_gossip_messages_total Gossiped messages by verdict: accepted (forwarded), rejected (provably \
             bad, the delivering peer penalised), ignored (neither), over_budget (the delivering peer sent more than its \
             share).\n# TYPE covenant_gossip_messages_total counter"
        );
        for (verdict, count) in [
            ("accepted", &self.gossip_accepted),
            ("rejected", &self.gossip_rejected),
            ("ignored", &self.gossip_ignored),
            ("over_budget", &self.gossip_over_budget),
        ] {
            let _ = writeln!(
                out,
                "covenant_gossip_messages_total{{verdict=\"{verdict}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP covenant_api_refused_total API connections and requests refused at the edge, by reason: connections \
             (over the connection caps), busy (too many requests in flight), host (a Host the node does not serve), \
             timeout (the request took too long).\n# TYPE covenant_api_refused_total counter"
        );
        for (reason, count) in [
            ("connections", &self.api_refused_connections),
            ("busy", &self.api_refused_busy),
            ("host", &self.api_refused_host),
            ("timeout", &self.api_timed_out),
        ] {
            let _ =
                writeln!(out, "covenant_api_refused_total{{reason=\"{reason}\"}} {}", count.load(Ordering::Relaxed));
        }
        counter(
            &mut out,
            "covenant_peers_penalised_total",
            "Peers disconnected and refused for a while for what they provably sent themselves.",
            self.peers_penalised.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_network_events_dropped_total",
            "Network events (messages, requests) dropped before the node read them: a peer over its queue budget, or the node not keeping up.",
            gauges.network_events_dropped,
        );
        let _ = writeln!(
            out,
            "# HELP covenant_peer_messages_total Messages exchanged with each peer (gossip payloads and sync frames), by \
             the node id registered on chain, (unregistered) for any other peer, and direction.\n# TYPE covenant_peer_messages_total counter"
        );
        for (peer, traffic) in &gauges.peer_traffic {
            for (direction, count) in [("in", traffic.messages_in), ("out", traffic.messages_out)] {
                let _ = writeln!(
                    out,
                    "covenant_peer_messages_total{{peer=\"{}\",direction=\"{direction}\"}} {count}",
                    escape(peer)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP covenant_peer_bytes_total Bytes of those messages, by peer and direction.\n# TYPE covenant_peer_bytes_total counter"
        );
        for (peer, traffic) in &gauges.peer_traffic {
            for (direction, bytes) in [("in", traffic.bytes_in), ("out", traffic.bytes_out)] {
                let _ = writeln!(
                    out,
                    "covenant_peer_bytes_total{{peer=\"{}\",direction=\"{direction}\"}} {bytes}",
                    escape(peer)
                );
            }
        }
        counter(
            &mut out,
            "covenant_sync_requests_total",
            "Block requests sent.",
            self.sync_requests.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_sync_unbacked_answers_total",
            "Block requests answered with none of the blocks the peer's status claimed.",
            self.sync_unbacked.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "covenant_synced_blocks_total",
            "Blocks received by block sync and committed.",
            self.synced_blocks.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP covenant_sync_serve_total Peers' block requests, served or refused (their budget spent).\n# TYPE covenant_sync_serve_total counter"
        );
        for (outcome, count) in [("served", &self.sync_served), ("refused", &self.sync_serve_refused)] {
            let _ =
                writeln!(out, "covenant_sync_serve_total{{outcome=\"{outcome}\"}} {}", count.load(Ordering::Relaxed));
        }
        counter(
            &mut out,
            "covenant_consensus_refusals_total",
            "Consensus messages the engine refused, routine ones (late votes, duplicates) included.",
            self.consensus_refusals.load(Ordering::Relaxed),
        );
        self.block_interval.render(
            &mut out,
            "covenant_block_interval_seconds",
            "Time between consecutive committed blocks' header timestamps.",
        );
        self.commit_latency.render(
            &mut out,
            "covenant_commit_latency_seconds",
            "From the start of a height to its block committed on this node.",
        );
        self.store_commit.render(&mut out, "covenant_store_commit_seconds", "Synced store write of one block.");
        if let Some(governance) = &gauges.governance {
            render_governance(&mut out, governance);
        }
        let _ = writeln!(
            out,
            "# HELP covenant_rejections_total Refusals by covenant rule.\n# TYPE covenant_rejections_total counter"
        );
        for ((stage, rule), count) in self.rejections.lock().expect("metrics lock poisoned").iter() {
            let _ = writeln!(
                out,
                "covenant_rejections_total{{rule=\"{}\",article=\"{}\",stage=\"{}\"}} {count}",
                rule.id(),
                rule.article(),
                stage_label(*stage)
            );
        }
        out
    }
}

/// The governance liveness series (ADR 0021).
fn render_governance(out: &mut String, governance: &GovernanceGauges) {
    let _ = writeln!(
        out,
        "# HELP covenant_operator_key_expiry_seconds Seconds from the tip's block time until the operator's key \
         expires (negative once expired; operators not revoked, of active members; the soonest {OPERATOR_EXPIRY_SERIES_MAX}).\n\
         # TYPE covenant_operator_key_expiry_seconds gauge"
    );
    for key in &governance.keys {
        let _ = writeln!(
            out,
            "covenant_operator_key_expiry_seconds{{member=\"{}\",operator=\"{}\"}} {}",
            escape(&key.member),
            escape(&key.operator),
            key.seconds
        );
    }
    for (name, help, counts) in [
        (
            "covenant_governance_approvers",
            "Distinct persons and members able to approve governance at the tip: admin, key unexpired, account not revoked, member active.",
            governance.approvers,
        ),
        (
            "covenant_governance_approvers_required",
            "Persons (a proposer and two approvers) and members the strictest governance class needs to pass a proposal.",
            governance.required,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        let _ = writeln!(out, "{name}{{kind=\"persons\"}} {}", counts.persons);
        let _ = writeln!(out, "{name}{{kind=\"members\"}} {}", counts.members);
    }
}

/// Escapes a label value (ids are validated, so this is defence in depth).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The core's telemetry, kept as these metrics.
pub struct NodeTelemetry {
    metrics: Arc<Metrics>,
    commit_started: Option<Instant>,
}

impl NodeTelemetry {
    /// Telemetry that records into `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> NodeTelemetry {
        NodeTelemetry { metrics, commit_started: None }
    }
}

impl Metrics {
    fn counter(&self, counter: Counter) -> &AtomicU64 {
        match counter {
            Counter::RoundChanges => &self.round_changes,
            Counter::CommittedBlocks => &self.committed_blocks,
            Counter::CommittedTxs => &self.committed_txs,
            Counter::GossipTxsDropped => &self.gossip_dropped,
            Counter::DecisionsSent => &self.decisions_sent,
            Counter::VerifiedAtAdmission => &self.verified_at_admission,
            Counter::VerifiedInBlocks => &self.verified_in_blocks,
            Counter::AdoptedFromProposals => &self.adopted_from_proposals,
            Counter::AdmissionBatches => &self.admission_batches,
            Counter::BlockBatches => &self.block_batches,
            Counter::ProposalsWithheld => &self.proposals_withheld,
            Counter::LateBlocks => &self.late_blocks,
            Counter::GossipAccepted => &self.gossip_accepted,
            Counter::GossipRejected => &self.gossip_rejected,
            Counter::GossipIgnored => &self.gossip_ignored,
            Counter::GossipOverBudget => &self.gossip_over_budget,
            Counter::PeersPenalised => &self.peers_penalised,
            Counter::SyncRequests => &self.sync_requests,
            Counter::SyncUnbacked => &self.sync_unbacked,
            Counter::SyncedBlocks => &self.synced_blocks,
            Counter::SyncServed => &self.sync_served,
            Counter::SyncServeRefused => &self.sync_serve_refused,
            Counter::ConsensusRefusals => &self.consensus_refusals,
            Counter::AnchorsRefused => &self.audit_anchors_refused,
        }
    }
}

impl Telemetry for NodeTelemetry {
    fn count(&mut self, counter: Counter, amount: u64) {
        self.metrics.counter(counter).fetch_add(amount, Ordering::Relaxed);
    }

    fn rejected(&mut self, stage: RejectionStage, rule: RuleId) {
        self.metrics.rejected(stage, rule);
    }

    fn observe_ms(&mut self, timing: Timing, ms: u64) {
        match timing {
            Timing::BlockInterval => self.metrics.block_interval.observe_ms(ms),
            Timing::CommitLatency => self.metrics.commit_latency.observe_ms(ms),
        }
    }

    fn clock_offset(&mut self, median_ms: Option<i64>, in_range: bool) {
        self.metrics.clock_offset_ms.store(median_ms.unwrap_or(i64::MIN), Ordering::Relaxed);
        self.metrics.clock_out_of_range.store(u64::from(!in_range), Ordering::Relaxed);
    }

    fn store_commit_started(&mut self) {
        self.commit_started = Some(Instant::now());
    }

    fn store_commit_finished(&mut self) {
        if let Some(started) = self.commit_started.take() {
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            self.metrics.store_commit.observe_ms(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauges() -> Gauges {
        Gauges {
            height: 7,
            round: 1,
            peers: 3,
            mempool_txs: 2,
            mempool_bytes: 300,
            verification_queue: 0,
            mempool_txs_max: 200_000,
            validators: 4,
            quorum: 3,
            state_cache: Default::default(),
            rocks_memory: Some(covenant_storage::RocksMemory {
                cache_capacity_bytes: 320,
                cache_used_bytes: 200,
                cache_pinned_bytes: 10,
                memtable_bytes: 150,
                table_reader_bytes: 5,
            }),
            network_events_dropped: 0,
            governance: None,
            peer_traffic: BTreeMap::new(),
        }
    }

    fn peer(seed: u8) -> PeerId {
        covenant_network::peer_id_of(&covenant_types::SecretKey::from_seed(&[seed; 32]).public_key()).expect("ed25519")
    }

    // covers: COV-22-MONITORING
    #[test]
    fn peer_traffic_is_labelled_by_registered_node_and_the_rest_added_up() {
        let traffic = |messages: u64, bytes: u64| Traffic {
            messages_in: messages,
            bytes_in: bytes,
            messages_out: messages * 2,
            bytes_out: bytes * 2,
        };
        let snapshot = TrafficSnapshot {
            peers: vec![(peer(1), traffic(3, 300)), (peer(2), traffic(1, 10))],
            unknown: traffic(5, 50),
        };
        // Peer 2 is allowed but no registered node names it any more (its key was rotated).
        let nodes =
            [(NodeId::new("validator-1").expect("id"), peer(1)), (NodeId::new("validator-3").expect("id"), peer(3))];
        let by_node = traffic_by_node(snapshot, &nodes);
        assert_eq!(by_node.len(), 2, "{by_node:?}");
        assert_eq!(by_node["validator-1"], traffic(3, 300));
        assert_eq!(by_node[UNREGISTERED_PEER_LABEL], traffic(6, 60));

        let metrics = Metrics::new();
        let text = metrics.render(&Gauges { peer_traffic: by_node, ..gauges() }, "covenant-local", "validator-0");
        for line in [
            "covenant_peer_messages_total{peer=\"validator-1\",direction=\"in\"} 3",
            "covenant_peer_messages_total{peer=\"validator-1\",direction=\"out\"} 6",
            "covenant_peer_bytes_total{peer=\"validator-1\",direction=\"in\"} 300",
            "covenant_peer_bytes_total{peer=\"validator-1\",direction=\"out\"} 600",
            "covenant_peer_messages_total{peer=\"(unregistered)\",direction=\"in\"} 6",
            "covenant_peer_bytes_total{peer=\"(unregistered)\",direction=\"out\"} 120",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }

    /// A state with members a to e (e suspended) and one operator each: a's and b's admins, c's
    /// admin revoked, d's submitter, e's admin; thresholds of 2 members, membership 3.
    fn governance_state(tip_ms: u64) -> BTreeMap<Vec<u8>, Vec<u8>> {
        use covenant_execution::Overlay;
        use covenant_types::{Jurisdiction, MemberId, OperatorRecord, PersonId, Role, SecretKey};
        let empty = BTreeMap::<Vec<u8>, Vec<u8>>::new();
        let mut overlay = Overlay::new(&empty);
        let day_ms = 86_400_000;
        let operators = [
            ("a", Role::Admin, tip_ms + 14 * day_ms + 5_000, false),
            ("b", Role::Admin, tip_ms + 3 * day_ms, false),
            ("c", Role::Admin, tip_ms + 30 * day_ms, true),
            ("d", Role::Submitter, tip_ms - 10_000, false),
            ("e", Role::Admin, tip_ms + 30 * day_ms, false),
        ];
        let mut ids = Vec::new();
        for (index, (member, role, expires_at_ms, revoked)) in operators.into_iter().enumerate() {
            let member_id = MemberId::new(format!("bank-{member}")).unwrap();
            let status = if member == "e" { MemberStatus::Suspended } else { MemberStatus::Active };
            let state = MemberState { name: member.into(), jurisdiction: Jurisdiction::new("TW").unwrap(), status };
            overlay.put(&StateKey::Member(member_id.clone()), &state);
            let id = OperatorId::new(format!("bank-{member}.op")).unwrap();
            let record = OperatorRecord {
                id: id.clone(),
                person: PersonId::new(format!("person-{member}")).unwrap(),
                member: member_id,
                roles: vec![role],
                key: SecretKey::from_seed(&[index as u8 + 1; 32]).public_key(),
                key_expires_at_ms: expires_at_ms,
            };
            overlay.put(&StateKey::Operator(id.clone()), &OperatorState { record, revoked });
            ids.push(id);
        }
        overlay.put(&StateKey::OperatorIndex, &ids);
        let thresholds = covenant_rules::genesis::Thresholds {
            membership: 3,
            operators: 2,
            nodes: 2,
            parameters: 2,
            contracts: 2,
            emergency: 2,
        };
        overlay.put(&StateKey::Thresholds, &thresholds);
        overlay.commit_tx();
        overlay.into_writes().into_iter().map(|(key, value)| (key, value.expect("only puts"))).collect()
    }

    #[test]
    fn governance_series_count_down_to_each_key_expiry_and_set_approvers_against_the_need() {
        let tip_ms = 1_800_000_000_000;
        let governance = governance_gauges(&governance_state(tip_ms), tip_ms).unwrap();
        let keys: Vec<(&str, i64)> = governance.keys.iter().map(|key| (key.operator.as_str(), key.seconds)).collect();
        // Soonest first; the revoked operator and the suspended member's are left out.
        assert_eq!(keys, [("bank-d.op", -10), ("bank-b.op", 3 * 86_400), ("bank-a.op", 14 * 86_400 + 5)]);
        // Only a's and b's admins can approve; the strictest class needs three persons in three members.
        assert_eq!(governance.approvers, Approvers { persons: 2, members: 2 });
        assert_eq!(governance.required, Approvers { persons: 3, members: 3 });
        let text = Metrics::new().render(&Gauges { governance: Some(governance), ..gauges() }, "c", "n");
        for line in [
            "covenant_operator_key_expiry_seconds{member=\"bank-b\",operator=\"bank-b.op\"} 259200",
            "covenant_operator_key_expiry_seconds{member=\"bank-d\",operator=\"bank-d.op\"} -10",
            "covenant_governance_approvers{kind=\"persons\"} 2",
            "covenant_governance_approvers{kind=\"members\"} 2",
            "covenant_governance_approvers_required{kind=\"persons\"} 3",
            "covenant_governance_approvers_required{kind=\"members\"} 3",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("bank-c.op") && !text.contains("bank-e.op"), "{text}");
    }

    #[test]
    fn renders_every_series_in_the_text_format() {
        let metrics = Metrics::new();
        metrics.committed_txs.fetch_add(5, Ordering::Relaxed);
        metrics.rejected(RejectionStage::Admission, RuleId::OrderedNonces);
        metrics.rejected(RejectionStage::Admission, RuleId::OrderedNonces);
        metrics.block_interval.observe_ms(1_200);
        metrics.verified_at_admission.fetch_add(300, Ordering::Relaxed);
        metrics.admission_batches.fetch_add(2, Ordering::Relaxed);
        let text = metrics.render(&gauges(), "covenant-local", "validator-0");
        for line in [
            "covenant_height 7",
            "covenant_committed_txs_total 5",
            "covenant_peers 3",
            "covenant_mempool_bytes 300",
            "covenant_rejections_total{rule=\"COV-34-ORDERED-NONCES\",article=\"34\",stage=\"admission\"} 2",
            "covenant_block_interval_seconds_bucket{le=\"1\"} 0",
            "covenant_block_interval_seconds_bucket{le=\"2.5\"} 1",
            "covenant_block_interval_seconds_sum 1.200",
            "covenant_signatures_verified_total{stage=\"admission\"} 300",
            "covenant_signature_batches_total{stage=\"admission\"} 2",
            "covenant_signature_batches_total{stage=\"block\"} 0",
            "covenant_rocksdb_cache_capacity_bytes 320",
            "covenant_rocksdb_memtable_bytes 150",
            "covenant_rocksdb_table_readers_bytes 5",
            "covenant_info{chain_id=\"covenant-local\",node_id=\"validator-0\",version=\"",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("covenant_clock_offset_seconds"), "no offset before any peer was measured");
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let value = line.rsplit(' ').next().expect("a value");
            assert!(value.parse::<f64>().is_ok(), "not a sample line: {line}");
        }
    }
}
