//! The attack task that runs beside the node ([`covenant_node::node::run_test_build`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use covenant_network::GetBlocks;
use covenant_network::limits::BLOCKS_PER_REQUEST_MAX;
use covenant_node::node::Beside;
use covenant_storage::ChainStore;
use covenant_types::OperatorId;
use tracing::{info, warn};

use crate::forge::{self, BulkyRoundChange, SplitMix};

/// One kind of attack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Attack {
    /// Undecodable bytes sent point to point to one honest node at a time.
    Garbage,
    /// Claims heights it does not have (2^63, then `u64::MAX`) in the status exchange.
    FalseHeight,
    /// Distinct, validly signed ROUND-CHANGEs for far future heights, each with a bulky certificate.
    FutureFlood,
    /// Asks every peer for the most blocks a request may ask, from height 1, again and again.
    SyncFlood,
    /// Gossips transaction batches in which one signature is bad.
    BadSignatures,
    /// Sends two conflicting PREPARE and COMMIT pairs for the next height, one to each half of its peers.
    Equivocation,
}

impl Attack {
    /// Every attack, in the order of [`Attack::name`]s in `--attacks all`.
    pub const ALL: [Attack; 6] = [
        Attack::Garbage,
        Attack::FalseHeight,
        Attack::FutureFlood,
        Attack::SyncFlood,
        Attack::BadSignatures,
        Attack::Equivocation,
    ];

    /// The name `--attacks` takes.
    pub fn name(self) -> &'static str {
        match self {
            Attack::Garbage => "garbage",
            Attack::FalseHeight => "false-height",
            Attack::FutureFlood => "future-flood",
            Attack::SyncFlood => "sync-flood",
            Attack::BadSignatures => "bad-signatures",
            Attack::Equivocation => "equivocation",
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Attack {
    type Err = String;

    fn from_str(text: &str) -> Result<Attack, String> {
        Attack::ALL.into_iter().find(|attack| attack.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Attack::ALL.iter().map(|attack| attack.name()).collect();
            format!("unknown attack {text:?}; known: {}, or all", names.join(", "))
        })
    }
}

/// Parses `--attacks`: a comma-separated list of names, or `all`.
pub fn parse_attacks(text: &str) -> Result<Vec<Attack>, String> {
    match text.trim() {
        "all" => return Ok(Attack::ALL.to_vec()),
        "none" => return Ok(Vec::new()),
        _ => {}
    }
    let mut attacks = text.split(',').map(|name| name.trim().parse()).collect::<Result<Vec<Attack>, String>>()?;
    attacks.sort();
    attacks.dedup();
    Ok(attacks)
}

/// How hard to attack.
#[derive(Clone, Debug)]
pub struct AttackPlan {
    /// Which attacks.
    pub attacks: Vec<Attack>,
    /// One round of every attack each period.
    pub period: Duration,
    /// Bytes of each future-height ROUND-CHANGE.
    pub flood_message_bytes: usize,
}

/// Sync requests in flight at most (each may bring back a full answer).
const SYNC_REQUESTS_IN_FLIGHT_MAX: usize = 8;
/// How far above its tip the flooded ROUND-CHANGEs are.
const FUTURE_HEIGHT_OFFSET: u64 = 1_000;
/// Transactions in each bad batch.
const BAD_BATCH_TXS: usize = 16;

/// What was sent, for the log.
#[derive(Default, Debug)]
struct Sent {
    garbage: u64,
    future: u64,
    sync_requests: u64,
    bad_batches: u64,
    equivocations: u64,
}

/// Starts the attacks of `plan` beside the node.
pub fn start(beside: Beside, plan: AttackPlan) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(beside, plan))
}

async fn run(beside: Beside, plan: AttackPlan) {
    let names: Vec<&str> = plan.attacks.iter().map(|attack| attack.name()).collect();
    warn!(attacks = %names.join(","), period_ms = plan.period.as_millis() as u64, "{}", crate::MARKER);
    let mut random = SplitMix(forge::now_ms() ^ 0x5eed);
    let sync_in_flight = Arc::new(AtomicUsize::new(0));
    let bad_sender = OperatorId::new(format!("{}.ops", beside.node_id.as_str().replace("validator-", "bank-")))
        .unwrap_or_else(|_| OperatorId::new("bank-0.ops").expect("operator id"));
    let mut sent = Sent::default();
    let mut ticker = tokio::time::interval(plan.period);
    let mut tick: u64 = 0;
    loop {
        ticker.tick().await;
        tick += 1;
        let peers = beside.network.connected_peers();
        let tip = beside.store.latest().ok().flatten().map_or(0, |tip| tip.height);
        for attack in &plan.attacks {
            match attack {
                Attack::Garbage => {
                    if let Some(peer) = peers.get(tick as usize % peers.len().max(1)) {
                        let len = 64 + (random.next_u64() % 4_096) as usize;
                        if beside.network.send_consensus(*peer, forge::garbage(&mut random, len)).await.is_ok() {
                            sent.garbage += 1;
                        }
                    }
                }
                Attack::FalseHeight => {
                    beside.network.set_height(if tick.is_multiple_of(2) { 1 << 63 } else { u64::MAX });
                }
                Attack::FutureFlood => {
                    let bytes = forge::bulky_round_change(&BulkyRoundChange {
                        chain: &beside.chain_id,
                        author: beside.node_id.clone(),
                        signer: Some(&beside.consensus_key),
                        height: tip + FUTURE_HEIGHT_OFFSET + tick % 64,
                        round: 1 + (tick % 60) as u32,
                        prepare_authors: Vec::new(),
                        bytes: plan.flood_message_bytes,
                        salt: random.next_u64(),
                    });
                    if beside.network.broadcast_consensus(bytes).await.is_ok() {
                        sent.future += 1;
                    }
                }
                Attack::SyncFlood => {
                    for peer in &peers {
                        if sync_in_flight.load(Ordering::Relaxed) >= SYNC_REQUESTS_IN_FLIGHT_MAX {
                            break;
                        }
                        sync_in_flight.fetch_add(1, Ordering::Relaxed);
                        sent.sync_requests += 1;
                        let (network, peer, in_flight) = (beside.network.clone(), *peer, sync_in_flight.clone());
                        tokio::spawn(async move {
                            let request = GetBlocks { from_height: 1, max_count: BLOCKS_PER_REQUEST_MAX };
                            let _ = network.request_blocks(peer, request).await;
                            in_flight.fetch_sub(1, Ordering::Relaxed);
                        });
                    }
                }
                Attack::BadSignatures => {
                    let batch =
                        forge::bad_signature_batch(&beside.chain_id, &bad_sender, BAD_BATCH_TXS, random.next_u64());
                    if beside.network.broadcast_tx(batch).await.is_ok() {
                        sent.bad_batches += 1;
                    }
                }
                Attack::Equivocation => {
                    let round = (tick % 3) as u32;
                    let sides = forge::equivocating_votes(
                        &beside.chain_id,
                        &beside.node_id,
                        &beside.consensus_key,
                        tip + 1,
                        round,
                        random.next_u64(),
                    );
                    for (index, peer) in peers.iter().enumerate() {
                        for bytes in &sides[index % 2] {
                            let _ = beside.network.send_consensus(*peer, bytes.clone()).await;
                        }
                    }
                    sent.equivocations += 1;
                }
            }
        }
        if tick.is_multiple_of((10_000 / plan.period.as_millis().max(1) as u64).max(1)) {
            info!(peers = peers.len(), ?sent, "byzantine: attacks sent so far");
        }
    }
}
