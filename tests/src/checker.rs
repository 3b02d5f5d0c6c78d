//! The Jepsen-style checker: reads every node's chain from its store (the nodes stopped) and checks it
//! against the clients' [`History`]:
//!
//! - no fork: every height that several nodes hold has one block hash on all of them;
//! - every transfer acknowledged as committed is in exactly one block, at the height the node named;
//! - nothing is committed that no client sent (a workload sender's transaction must be in the
//!   history, and one whose submission was refused must not be on chain); other senders' transactions
//!   must be the nodes' own audit anchors;
//! - each sender's committed nonces are 0, 1, 2, ... without a gap or a repeat;
//! - balances are conserved: every node's workload accounts hold what they held at genesis in all,
//!   and replaying the committed transfers from the genesis balances gives the final balances of
//!   every node at the tip.
//!
//! [`check`] is pure (its tests feed it histories with each violation); [`read_chain`] reads a store.

use std::collections::{BTreeMap, BTreeSet};

use covenant_execution::StateReader;
use covenant_storage::{ChainStore, RocksStore};
use covenant_types::{AccountId, AssetId, Hash, Payload, Principal, TxOutcome};

use crate::workload::{History, Outcome};

/// A committed transaction, as the checker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxView {
    /// Transaction hash.
    pub hash: Hash,
    /// Sender: an operator id, or `node:<id>` for a node.
    pub sender: String,
    /// Nonce.
    pub nonce: u64,
    /// For a transfer: (from, to, amount, memo).
    pub transfer: Option<(String, String, u64, String)>,
    /// Whether it is a node's audit anchor.
    pub anchor: bool,
    /// Whether its receipt says it was applied.
    pub applied: bool,
}

/// A block, as the checker needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockView {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: Hash,
    /// Its transactions in order.
    pub txs: Vec<TxView>,
}

/// One node's chain and its final balances of the workload's accounts.
#[derive(Clone, Debug, Default)]
pub struct ChainView {
    /// The node's index.
    pub node: usize,
    /// Blocks from height 1 up.
    pub blocks: Vec<BlockView>,
    /// Final balance of each workload account in the workload's asset.
    pub balances: BTreeMap<String, u64>,
}

/// What the checker found.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// Heights at which two nodes hold different blocks.
    pub forks: usize,
    /// Operations acknowledged as committed.
    pub acked: usize,
    /// Of those, found exactly once on chain at the acknowledged height.
    pub committed_acked: usize,
    /// Workload transfers on chain (acknowledged or not).
    pub committed: usize,
    /// Operations whose outcome the client did not learn, found on chain.
    pub unknown_committed: usize,
    /// The longest chain's height.
    pub height: u64,
    /// Every violation, described.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Reads node `node`'s chain from its store, and its balances of `accounts` in `asset`.
pub fn read_chain(node: usize, store: &RocksStore, accounts: &[String], asset: &str) -> Result<ChainView, String> {
    let fail = |what: &str, error: &dyn std::fmt::Display| format!("node {node}: {what}: {error}");
    let tip = store.latest().map_err(|error| fail("reading the tip", &error))?;
    let mut blocks = Vec::new();
    for height in 1..=tip.map_or(0, |tip| tip.height) {
        let block = store
            .block_by_height(height)
            .map_err(|error| fail("reading a block", &error))?
            .ok_or_else(|| fail("missing block", &height))?;
        let mut txs = Vec::with_capacity(block.transactions.len());
        for tx in block.transactions.iter() {
            let hash = tx.body.hash();
            let receipt = store.receipt(&hash).map_err(|error| fail("reading a receipt", &error))?;
            let sender = match &tx.body.sender {
                Principal::Operator(operator) => operator.to_string(),
                Principal::Node(id) => format!("node:{id}"),
            };
            let transfer = match &tx.body.payload {
                Payload::Transfer(t) => Some((t.from.to_string(), t.to.to_string(), t.amount, t.memo.clone())),
                _ => None,
            };
            txs.push(TxView {
                hash,
                sender,
                nonce: tx.body.nonce,
                transfer,
                anchor: matches!(tx.body.payload, Payload::AuditAnchor(_)),
                applied: receipt.is_some_and(|receipt| receipt.outcome == TxOutcome::Success),
            });
        }
        blocks.push(BlockView { height, hash: block.hash(), txs });
    }
    let state = covenant_core::StoreState(store);
    let asset = AssetId::new(asset).map_err(|error| fail("asset id", &error))?;
    let mut balances = BTreeMap::new();
    for account in accounts {
        let id = AccountId::new(account.clone()).map_err(|error| fail("account id", &error))?;
        let balance = state.balance(&id, &asset).map_err(|error| fail("reading a balance", &error))?;
        balances.insert(account.clone(), balance);
    }
    Ok(ChainView { node, blocks, balances })
}

/// Checks `chains` against `history`. `genesis_balances` are the workload accounts' balances at
/// genesis; `senders` the workload's sender operators (fresh: their first nonce is 0).
pub fn check(
    history: &History,
    chains: &[ChainView],
    genesis_balances: &BTreeMap<String, u64>,
    senders: &BTreeSet<String>,
) -> Verdict {
    let mut verdict = Verdict::default();
    let mut violations = Vec::new();
    check_forks(chains, &mut verdict, &mut violations);
    let Some(longest) = chains.iter().max_by_key(|chain| chain.blocks.len()) else {
        violations.push("no chain to check".into());
        verdict.violations = violations;
        return verdict;
    };
    verdict.height = longest.blocks.len() as u64;

    // Where each transaction is on the longest chain (all heights of it, to catch repeats).
    let mut found: BTreeMap<Hash, Vec<u64>> = BTreeMap::new();
    for block in &longest.blocks {
        for tx in &block.txs {
            found.entry(tx.hash).or_default().push(block.height);
        }
    }
    for (hash, heights) in &found {
        if heights.len() > 1 {
            violations.push(format!("transaction {hash} is committed {} times, at heights {heights:?}", heights.len()));
        }
    }

    let sent: BTreeMap<Hash, &crate::workload::Op> = history.ops.iter().map(|op| (op.hash, op)).collect();
    for op in &history.ops {
        let on_chain = found.get(&op.hash);
        match &op.outcome {
            Outcome::Committed { height } => {
                verdict.acked += 1;
                match on_chain.map(Vec::as_slice) {
                    Some([at]) if at == height => verdict.committed_acked += 1,
                    Some(heights) => violations.push(format!(
                        "{} ({}) was acknowledged at height {height} but is on chain at {heights:?}",
                        op.id, op.hash
                    )),
                    None => violations.push(format!(
                        "{} ({}) was acknowledged as committed at height {height} by {} but is on no chain: a lost write",
                        op.id, op.hash, op.node
                    )),
                }
            }
            Outcome::Refused { status, .. } => {
                if on_chain.is_some() {
                    violations.push(format!("{} ({}) was refused ({status}) yet is on chain", op.id, op.hash));
                }
            }
            Outcome::Unknown { .. } => verdict.unknown_committed += usize::from(on_chain.is_some()),
        }
    }

    let mut nonces: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut balances = genesis_balances.clone();
    for block in &longest.blocks {
        for tx in &block.txs {
            if senders.contains(&tx.sender) {
                nonces.entry(&tx.sender).or_default().push(tx.nonce);
                match sent.get(&tx.hash) {
                    None => violations.push(format!(
                        "transaction {} of workload sender {} at height {} was sent by no client",
                        tx.hash, tx.sender, block.height
                    )),
                    Some(op) => {
                        verdict.committed += 1;
                        let memo = tx.transfer.as_ref().map(|(_, _, _, memo)| memo.as_str());
                        if memo != Some(op.id.as_str()) {
                            violations.push(format!(
                                "transaction {} at height {} carries {memo:?}, the client sent {}",
                                tx.hash, block.height, op.id
                            ));
                        }
                    }
                }
                if tx.applied
                    && let Some((from, to, amount, _)) = &tx.transfer
                {
                    apply_transfer(&mut balances, from, to, *amount, block.height, &mut violations);
                }
            } else if !tx.anchor {
                violations.push(format!(
                    "transaction {} at height {} from {} is neither the workload's nor an audit anchor",
                    tx.hash, block.height, tx.sender
                ));
            }
        }
    }
    for (sender, committed) in &nonces {
        let expected: Vec<u64> = (0..committed.len() as u64).collect();
        if *committed != expected {
            violations.push(format!("{sender}'s committed nonces are {committed:?}, not 0..{}", committed.len()));
        }
    }

    let total = |balances: &BTreeMap<String, u64>| balances.values().map(|value| u128::from(*value)).sum::<u128>();
    for chain in chains {
        if total(&chain.balances) != total(genesis_balances) {
            violations.push(format!(
                "node {}'s workload accounts hold {} in all, {} at genesis: money was created or destroyed",
                chain.node,
                total(&chain.balances),
                total(genesis_balances)
            ));
        }
    }
    for chain in chains.iter().filter(|chain| chain.blocks.len() == longest.blocks.len()) {
        if chain.balances != balances {
            violations.push(format!(
                "node {}'s balances {:?} differ from the replay of the chain {balances:?}",
                chain.node, chain.balances
            ));
        }
    }
    verdict.violations = violations;
    verdict
}

fn check_forks(chains: &[ChainView], verdict: &mut Verdict, violations: &mut Vec<String>) {
    let longest = chains.iter().map(|chain| chain.blocks.len()).max().unwrap_or(0);
    for index in 0..longest {
        let hashes: BTreeSet<(Hash, u64)> =
            chains.iter().filter_map(|chain| chain.blocks.get(index)).map(|block| (block.hash, block.height)).collect();
        if hashes.len() > 1 {
            verdict.forks += 1;
            if verdict.forks == 1 {
                let holders: Vec<String> = chains
                    .iter()
                    .filter_map(|chain| {
                        chain.blocks.get(index).map(|block| format!("node {}: {}", chain.node, block.hash))
                    })
                    .collect();
                violations.push(format!("fork at height {}: {}", index + 1, holders.join(", ")));
            }
        }
    }
    if verdict.forks > 1 {
        violations.push(format!("{} heights in all hold more than one block", verdict.forks));
    }
}

fn apply_transfer(
    balances: &mut BTreeMap<String, u64>,
    from: &str,
    to: &str,
    amount: u64,
    height: u64,
    violations: &mut Vec<String>,
) {
    let Some(debited) = balances.get(from).and_then(|balance| balance.checked_sub(amount)) else {
        violations.push(format!(
            "a transfer of {amount} from {from} at height {height} overdraws it or names no workload account"
        ));
        return;
    };
    balances.insert(from.to_string(), debited);
    *balances.entry(to.to_string()).or_default() += amount;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Op;

    const SENDER: &str = "bank-0.bench-0";

    fn op(sequence: u64, outcome: Outcome) -> Op {
        Op {
            id: format!("c0-s0-{sequence}"),
            operator: SENDER.into(),
            nonce: sequence,
            hash: Hash::digest(format!("tx-{sequence}").as_bytes()),
            node: "10.77.0.10:7200".parse().expect("address"),
            from: "a".into(),
            to: "b".into(),
            amount: 10,
            submitted_ms: 0,
            completed_ms: 0,
            outcome,
        }
    }

    fn tx(op: &Op) -> TxView {
        TxView {
            hash: op.hash,
            sender: op.operator.clone(),
            nonce: op.nonce,
            transfer: Some((op.from.clone(), op.to.clone(), op.amount, op.id.clone())),
            anchor: false,
            applied: true,
        }
    }

    fn block(height: u64, txs: Vec<TxView>) -> BlockView {
        BlockView { height, hash: Hash::digest(format!("block-{height}-{txs:?}").as_bytes()), txs }
    }

    fn genesis() -> BTreeMap<String, u64> {
        BTreeMap::from([("a".to_string(), 100), ("b".to_string(), 100)])
    }

    fn senders() -> BTreeSet<String> {
        BTreeSet::from([SENDER.to_string()])
    }

    /// Three ops: 0 acked at height 1, 1 unknown but committed at height 2, 2 refused.
    fn good_run() -> (History, Vec<ChainView>) {
        let ops = vec![
            op(0, Outcome::Committed { height: 1 }),
            op(1, Outcome::Unknown { last: "pending".into() }),
            op(2, Outcome::Refused { status: 400, error: "bad".into() }),
        ];
        let blocks = vec![block(1, vec![tx(&ops[0])]), block(2, vec![tx(&ops[1])])];
        let balances = BTreeMap::from([("a".to_string(), 80), ("b".to_string(), 120)]);
        let chains =
            (0..3).map(|node| ChainView { node, blocks: blocks.clone(), balances: balances.clone() }).collect();
        (History { ops }, chains)
    }

    fn verdict(history: &History, chains: &[ChainView]) -> Verdict {
        check(history, chains, &genesis(), &senders())
    }

    fn assert_violation(verdict: &Verdict, fragment: &str) {
        assert!(
            verdict.violations.iter().any(|violation| violation.contains(fragment)),
            "no violation mentions {fragment:?}: {:?}",
            verdict.violations
        );
    }

    #[test]
    fn a_correct_run_passes_and_is_counted() {
        let (history, chains) = good_run();
        let verdict = verdict(&history, &chains);
        assert!(verdict.passed(), "{:?}", verdict.violations);
        assert_eq!(
            (verdict.acked, verdict.committed_acked, verdict.committed, verdict.unknown_committed),
            (1, 1, 2, 1)
        );
        assert_eq!((verdict.forks, verdict.height), (0, 2));
    }

    #[test]
    fn a_node_behind_the_others_is_no_fork() {
        let (history, mut chains) = good_run();
        chains[2].blocks.pop();
        chains[2].balances = BTreeMap::from([("a".to_string(), 90), ("b".to_string(), 110)]);
        assert!(verdict(&history, &chains).passed());
    }

    #[test]
    fn a_fork_is_found() {
        let (history, mut chains) = good_run();
        chains[1].blocks[1].hash = Hash::digest(b"another block");
        let verdict = verdict(&history, &chains);
        assert_eq!(verdict.forks, 1);
        assert_violation(&verdict, "fork at height 2");
    }

    #[test]
    fn a_lost_acknowledged_write_is_found() {
        let (history, mut chains) = good_run();
        for chain in &mut chains {
            chain.blocks[0].txs.clear();
            chain.balances = BTreeMap::from([("a".to_string(), 90), ("b".to_string(), 110)]);
        }
        let verdict = verdict(&history, &chains);
        assert_eq!(verdict.committed_acked, 0);
        assert_violation(&verdict, "a lost write");
    }

    #[test]
    fn an_acknowledgement_at_the_wrong_height_is_found() {
        let (mut history, chains) = good_run();
        history.ops[0].outcome = Outcome::Committed { height: 2 };
        assert_violation(&verdict(&history, &chains), "acknowledged at height 2 but is on chain at [1]");
    }

    #[test]
    fn a_transaction_committed_twice_is_found() {
        let (history, mut chains) = good_run();
        for chain in &mut chains {
            let repeat = chain.blocks[0].txs[0].clone();
            chain.blocks[1].txs.push(repeat);
        }
        assert_violation(&verdict(&history, &chains), "committed 2 times");
    }

    #[test]
    fn a_transaction_no_client_sent_is_found() {
        let (mut history, chains) = good_run();
        history.ops.remove(1);
        assert_violation(&verdict(&history, &chains), "was sent by no client");
    }

    #[test]
    fn a_refused_transaction_on_chain_is_found() {
        let (mut history, chains) = good_run();
        history.ops[1].outcome = Outcome::Refused { status: 429, error: "busy".into() };
        assert_violation(&verdict(&history, &chains), "was refused (429) yet is on chain");
    }

    #[test]
    fn a_foreign_transaction_is_found_and_an_anchor_is_not() {
        let (history, mut chains) = good_run();
        let mut anchor = tx(&history.ops[0]);
        anchor.hash = Hash::digest(b"anchor");
        anchor.sender = "node:validator-0".into();
        anchor.transfer = None;
        anchor.anchor = true;
        let mut foreign = anchor.clone();
        foreign.hash = Hash::digest(b"foreign");
        foreign.anchor = false;
        for chain in &mut chains {
            chain.blocks[1].txs.push(anchor.clone());
        }
        assert!(verdict(&history, &chains).passed());
        for chain in &mut chains {
            chain.blocks[1].txs.push(foreign.clone());
        }
        assert_violation(&verdict(&history, &chains), "neither the workload's nor an audit anchor");
    }

    #[test]
    fn a_nonce_gap_is_found() {
        let (mut history, mut chains) = good_run();
        history.ops[1].nonce = 2;
        for chain in &mut chains {
            chain.blocks[1].txs[0].nonce = 2;
        }
        assert_violation(&verdict(&history, &chains), "committed nonces are [0, 2]");
    }

    #[test]
    fn a_memo_that_is_not_the_clients_is_found() {
        let (history, mut chains) = good_run();
        for chain in &mut chains {
            chain.blocks[0].txs[0].transfer.as_mut().expect("a transfer").3 = "c9-s9-9".into();
        }
        assert_violation(&verdict(&history, &chains), "the client sent c0-s0-0");
    }

    #[test]
    fn balances_that_do_not_follow_the_chain_are_found() {
        let (history, mut chains) = good_run();
        chains[0].balances = BTreeMap::from([("a".to_string(), 79), ("b".to_string(), 121)]);
        let verdict = verdict(&history, &chains);
        assert_violation(&verdict, "node 0's balances");
        assert_eq!(verdict.violations.len(), 1, "{:?}", verdict.violations);
    }

    #[test]
    fn money_created_is_found_on_a_node_behind() {
        let (history, mut chains) = good_run();
        chains[2].blocks.pop();
        chains[2].balances = BTreeMap::from([("a".to_string(), 90), ("b".to_string(), 111)]);
        assert_violation(&verdict(&history, &chains), "node 2's workload accounts hold 201 in all, 200 at genesis");
    }

    #[test]
    fn an_overdraft_is_found() {
        let (mut history, mut chains) = good_run();
        history.ops[1].amount = 1_000;
        for chain in &mut chains {
            chain.blocks[1].txs[0].transfer.as_mut().expect("a transfer").2 = 1_000;
        }
        assert_violation(&verdict(&history, &chains), "overdraws it");
    }

    #[test]
    fn a_failed_transfer_moves_nothing() {
        let (history, mut chains) = good_run();
        for chain in &mut chains {
            chain.blocks[1].txs[0].applied = false;
            chain.balances = BTreeMap::from([("a".to_string(), 90), ("b".to_string(), 110)]);
        }
        assert!(verdict(&history, &chains).passed());
    }
}
