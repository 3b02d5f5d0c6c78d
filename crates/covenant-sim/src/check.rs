//! Invariant checkers, independent of the code under test: they keep their own replica of the chain,
//! executed block by block with `covenant-execution` on their own state, and check every commit of
//! every node that is not Byzantine with their own code (header rules, seal quorums, proposer, state
//! roots), not with the engine's or the node core's helpers.
//!
//! * **Agreement**: one block per height, across all nodes.
//! * **Validity**: every committed block follows its parent by the header rules, carries a quorum of
//!   valid seals for its parent and has one itself, and its state root is the replica's after
//!   executing it; its transactions follow each sender's nonces without a gap.
//! * **Monotonic**: each node commits heights 1, 2, 3, ... with strictly increasing timestamps.
//! * **No double votes**: no honest validator signs two different PREPAREs or COMMITs for one
//!   height and round.
//! * **Clients**: every transaction a client saw committed is in exactly one block; nothing is
//!   committed that no client sent; balances are conserved.
//! * **Blame**: no honest node penalises an honest peer.
//! * **Liveness** (checked by the simulation): once faults heal, every honest validator commits more
//!   heights within a bounded virtual time.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use covenant_consensus::CommitCertificate;
use covenant_execution::{BlockContext, StateReader, execute_block};
use covenant_rules::ChainParams;
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, CommitSeal, Hash, NodeId, Principal, SealedVote, SignatureDomain,
    ValidatorSet, VerifiedTx, hash_of,
};

/// A broken invariant.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum InvariantViolation {
    /// Two different blocks committed at one height.
    #[error("agreement: height {height} committed as {first} and as {second} (second by node slot {slot})")]
    Agreement {
        /// Height.
        height: u64,
        /// Block committed first.
        first: Hash,
        /// The conflicting block.
        second: Hash,
        /// Node slot that committed the second.
        slot: usize,
    },
    /// A committed block breaks a rule, lacks a quorum of valid seals, or executes differently.
    #[error("validity: block {block_hash} at height {height} (node slot {slot}): {reason}")]
    Validity {
        /// Height.
        height: u64,
        /// The block.
        block_hash: Hash,
        /// Node slot that committed it.
        slot: usize,
        /// What is wrong.
        reason: String,
    },
    /// A node committed out of order or with a non-increasing timestamp.
    #[error("monotonic: node slot {slot} committed height {height} after {previous_height} ({detail})")]
    Monotonic {
        /// Node slot.
        slot: usize,
        /// Height committed.
        height: u64,
        /// Previous height committed by the node.
        previous_height: u64,
        /// What is wrong.
        detail: String,
    },
    /// An honest validator signed two different votes of one kind for one height and round.
    #[error(
        "double vote: honest {validator} signed two {kind}s at height {height} round {round}: {first} and {second}"
    )]
    DoubleVote {
        /// The validator.
        validator: NodeId,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
        /// PREPARE or COMMIT.
        kind: &'static str,
        /// The first block voted for.
        first: Hash,
        /// The second.
        second: Hash,
    },
    /// A client transaction committed twice, committed though no client sent it, or missing after
    /// a client saw it committed; or balances not conserved.
    #[error("clients: {detail}")]
    Clients {
        /// What is wrong.
        detail: String,
    },
    /// An honest node penalised an honest peer (it blamed a relay, or misjudged).
    #[error("blame: honest {by} penalised honest {peer}: {reason}")]
    HonestPeerPenalised {
        /// The node that penalised.
        by: NodeId,
        /// The honest peer.
        peer: NodeId,
        /// The reason it gave.
        reason: String,
    },
    /// An honest node's core stopped with a fatal error.
    #[error("halted: node slot {slot} stopped: {reason}")]
    Halted {
        /// Node slot.
        slot: usize,
        /// The error.
        reason: String,
    },
    /// A Byzantine peer made honest nodes work beyond a stated bound.
    #[error("exhaustion: {detail}")]
    Exhaustion {
        /// What was exceeded.
        detail: String,
    },
    /// Progress stopped although faults healed.
    #[error("liveness: {detail}")]
    Liveness {
        /// What did not happen.
        detail: String,
    },
}

impl InvariantViolation {
    /// True for everything but liveness: the properties that must hold whatever happens.
    pub fn is_safety(&self) -> bool {
        !matches!(self, InvariantViolation::Liveness { .. })
    }
}

/// ⌈2n/3⌉, the checker's own.
pub fn quorum_of(validators: usize) -> usize {
    (2 * validators).div_ceil(3)
}

/// The proposer of `height` and `round`: the validator at `(height + round) mod n` in id order.
fn proposer_of(validators: &ValidatorSet, height: u64, round: u32) -> NodeId {
    let mut ids: Vec<&NodeId> = validators.validators().iter().map(|validator| &validator.id).collect();
    ids.sort();
    let index = (height.wrapping_add(u64::from(round))) % ids.len() as u64;
    ids[index as usize].clone()
}

/// Checks that `seals` hold at least `quorum` valid seals from distinct members of `validators`
/// over the vote `(height, round, block_hash)`.
pub fn check_seals(
    chain: &ChainId,
    validators: &ValidatorSet,
    quorum: usize,
    vote: SealedVote,
    seals: &[CommitSeal],
) -> Result<(), String> {
    let digest = hash_of(&vote);
    let mut signers = BTreeSet::new();
    for seal in seals {
        let validator =
            validators.get(&seal.validator).ok_or_else(|| format!("{} is not a validator", seal.validator))?;
        if !signers.insert(&seal.validator) {
            return Err(format!("two seals from {}", seal.validator));
        }
        validator
            .consensus_key
            .verify(SignatureDomain::CommitSeal, chain, &digest, &seal.signature)
            .map_err(|error| format!("seal from {}: {error}", seal.validator))?;
    }
    if signers.len() < quorum {
        return Err(format!("{} valid seals, quorum is {quorum}", signers.len()));
    }
    Ok(())
}

/// The checker's replica: the committed state after each decided block, executed here.
struct Replica {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    header: BlockHeader,
    /// The validators that decided `header` (for its seals, carried by the next block).
    header_validators: ValidatorSet,
    /// The validators its state names now (those deciding the next height).
    validators: ValidatorSet,
    nonces: BTreeMap<Principal, u64>,
}

/// Runs agreement, validity, monotonicity and the client checks on every commit.
pub struct Checker {
    chain: ChainId,
    quorum_override: Option<usize>,
    replica: Replica,
    decided: BTreeMap<u64, Hash>,
    tips: BTreeMap<usize, BlockHeader>,
    /// Client transactions sent, and how often each was committed.
    sent: BTreeSet<Hash>,
    committed: BTreeMap<Hash, u64>,
    /// Accounts whose balances must sum to `total`.
    accounts: Vec<AccountId>,
    asset: AssetId,
    total: u64,
}

impl Checker {
    /// A checker for a chain whose genesis block and state are given; `accounts` hold all of
    /// `asset` and must keep the sum of their balances.
    pub fn new(
        chain: ChainId,
        genesis: &Block,
        genesis_state: BTreeMap<Vec<u8>, Vec<u8>>,
        accounts: Vec<AccountId>,
        asset: AssetId,
        quorum_override: Option<usize>,
    ) -> Checker {
        let header_validators = genesis_state.validators().expect("genesis has validators");
        let replica = Replica {
            state: genesis_state,
            header: genesis.header.clone(),
            validators: header_validators.clone(),
            header_validators,
            nonces: BTreeMap::new(),
        };
        let mut checker = Checker {
            chain,
            quorum_override,
            replica,
            decided: BTreeMap::new(),
            tips: BTreeMap::new(),
            sent: BTreeSet::new(),
            committed: BTreeMap::new(),
            accounts,
            asset,
            total: 0,
        };
        checker.total = checker.balances().expect("genesis balances");
        checker
    }

    fn balances(&self) -> Result<u64, String> {
        let mut total = 0u64;
        for account in &self.accounts {
            let balance = self.replica.state.balance(account, &self.asset).map_err(|error| error.to_string())?;
            total = total.checked_add(balance).ok_or("balances overflow")?;
        }
        Ok(total)
    }

    /// The validators deciding the height after the replica's tip.
    pub fn current_validators(&self) -> &ValidatorSet {
        &self.replica.validators
    }

    /// The block decided at each height so far.
    pub fn decided(&self) -> &BTreeMap<u64, Hash> {
        &self.decided
    }

    /// Height of the last block node `slot` committed (0 if none).
    pub fn height_of(&self, slot: usize) -> u64 {
        self.tips.get(&slot).map_or(0, |tip| tip.height)
    }

    /// A client sent the transaction `hash`.
    pub fn sent(&mut self, hash: Hash) {
        self.sent.insert(hash);
    }

    /// How many client transactions committed.
    pub fn committed_count(&self) -> u64 {
        self.committed.len() as u64
    }

    /// A client saw `hash` committed: it must be in the decided chain exactly once.
    pub fn acknowledged(&self, hash: &Hash) -> Result<(), InvariantViolation> {
        match self.committed.get(hash) {
            Some(1) => Ok(()),
            count => Err(InvariantViolation::Clients {
                detail: format!(
                    "transaction {hash} seen committed by a client is in {} decided blocks",
                    count.unwrap_or(&0)
                ),
            }),
        }
    }

    fn quorum(&self, validators: &ValidatorSet) -> usize {
        self.quorum_override.unwrap_or_else(|| quorum_of(validators.len()))
    }

    /// Checks a commit by node `slot` and records it.
    pub fn on_commit(&mut self, slot: usize, certificate: &CommitCertificate) -> Result<(), InvariantViolation> {
        let block = &certificate.block;
        let header = &block.header;
        let height = header.height;
        let block_hash = block.hash();
        let previous = self.tips.get(&slot).map_or(0, |tip| tip.height);
        if height != previous + 1 {
            return Err(InvariantViolation::Monotonic {
                slot,
                height,
                previous_height: previous,
                detail: "heights must follow each other".into(),
            });
        }
        if let Some(tip) = self.tips.get(&slot)
            && header.timestamp_ms <= tip.timestamp_ms
        {
            return Err(InvariantViolation::Monotonic {
                slot,
                height,
                previous_height: previous,
                detail: format!("timestamp {} not after {}", header.timestamp_ms, tip.timestamp_ms),
            });
        }
        if let Some(first) = self.decided.get(&height) {
            if *first != block_hash {
                return Err(InvariantViolation::Agreement { height, first: *first, second: block_hash, slot });
            }
        } else {
            // The first commit of a height: the replica is at the height before (that commit was
            // checked first, since every node commits in order).
            self.extend(certificate).map_err(|reason| InvariantViolation::Validity {
                height,
                block_hash,
                slot,
                reason,
            })?;
            self.decided.insert(height, block_hash);
        }
        self.tips.insert(slot, header.clone());
        Ok(())
    }

    /// Validates a newly decided block against the replica's tip and executes it there.
    fn extend(&mut self, certificate: &CommitCertificate) -> Result<(), String> {
        let block = &certificate.block;
        let header = &block.header;
        let parent = &self.replica.header;
        if header.height != parent.height + 1 {
            return Err(format!("the replica is at height {}", parent.height));
        }
        if header.chain_id != self.chain {
            return Err(format!("chain id {} is not {}", header.chain_id, self.chain));
        }
        if header.parent_hash != parent.hash() {
            return Err(format!("parent {} is not the previous block {}", header.parent_hash, parent.hash()));
        }
        let validators = self.replica.state.validators().map_err(|error| error.to_string())?;
        let params: ChainParams = self.replica.state.params().map_err(|error| error.to_string())?;
        let expected = proposer_of(&validators, header.height, header.round);
        if header.proposer != expected {
            return Err(format!("proposer {} is not {expected}", header.proposer));
        }
        if header.validator_set_hash != validators.hash() || header.parameters_hash != params.hash() {
            return Err("validator set or parameters hash does not match".into());
        }
        if header.transactions_root != block.compute_transactions_root() {
            return Err("transactions root does not match".into());
        }
        let bytes = bcs::serialized_size(block).map_err(|error| error.to_string())? as u64;
        if bytes > params.block_bytes_max || block.transactions.len() as u64 > params.block_txs_max {
            return Err(format!("{bytes} bytes and {} transactions exceed the limits", block.transactions.len()));
        }
        if header.timestamp_ms < parent.timestamp_ms.saturating_add(params.block_interval_ms_min) {
            return Err(format!("timestamp {} too soon after {}", header.timestamp_ms, parent.timestamp_ms));
        }
        let round0_latest =
            parent.timestamp_ms.saturating_add(params.block_interval_ms_max).saturating_add(params.clock_drift_ms_max);
        if header.round == 0 && header.timestamp_ms > round0_latest {
            return Err(format!("round-0 timestamp {} later than {round0_latest}", header.timestamp_ms));
        }
        if parent.height == 0 {
            if !header.parent_commit_seals.is_empty() {
                return Err("seals for the genesis block".into());
            }
        } else {
            let vote = SealedVote { height: parent.height, round: parent.round, block_hash: parent.hash() };
            let quorum = self.quorum(&self.replica.header_validators);
            check_seals(&self.chain, &self.replica.header_validators, quorum, vote, &header.parent_commit_seals)
                .map_err(|reason| format!("parent commit seals: {reason}"))?;
        }
        let vote = SealedVote { height: header.height, round: header.round, block_hash: block.hash() };
        check_seals(&self.chain, &validators, self.quorum(&validators), vote, &certificate.seals)
            .map_err(|reason| format!("commit seals: {reason}"))?;

        let mut verified = Vec::with_capacity(block.transactions.len());
        for (position, tx) in block.transactions.iter().enumerate() {
            if covenant_types::encode(tx).len() as u64 > params.tx_bytes_max {
                return Err(format!("transaction {position} is over tx_bytes_max"));
            }
            let tx = VerifiedTx::verify(tx.clone(), &self.chain)
                .map_err(|rejected| format!("transaction {position}: {}", rejected.error))?;
            let sender = tx.tx().body.sender.clone();
            let expected = self.replica.nonces.get(&sender).copied().unwrap_or(0);
            if tx.tx().body.nonce != expected {
                return Err(format!(
                    "transaction {position} of {sender:?} has nonce {}, expected {expected}",
                    tx.tx().body.nonce
                ));
            }
            self.replica.nonces.insert(sender, expected + 1);
            verified.push(tx);
        }
        let context = BlockContext { height: header.height, timestamp_ms: header.timestamp_ms };
        let outcome = execute_block(&self.replica.state, &parent.state_root, &context, &verified)
            .map_err(|error| format!("the replica cannot execute it: {error}"))?;
        if outcome.state_root != header.state_root {
            return Err(format!("state root {} but the replica computes {}", header.state_root, outcome.state_root));
        }
        for (key, value) in outcome.writes {
            match value {
                Some(value) => self.replica.state.insert(key, value),
                None => self.replica.state.remove(&key),
            };
        }
        for tx in &verified {
            let hash = tx.hash();
            if !self.sent.contains(&hash) {
                return Err(format!("transaction {hash} was committed but no client sent it"));
            }
            let count = self.committed.entry(hash).or_default();
            *count += 1;
            if *count > 1 {
                return Err(format!("transaction {hash} committed a second time"));
            }
        }
        let total = self.balances()?;
        if total != self.total {
            return Err(format!("balances sum to {total}, {} at genesis", self.total));
        }
        self.replica.header = header.clone();
        self.replica.header_validators = validators;
        self.replica.validators = self.replica.state.validators().map_err(|error| error.to_string())?;
        Ok(())
    }
}

/// Records what honest validators voted and catches a second, different vote.
#[derive(Default)]
pub struct VoteChecker {
    votes: BTreeMap<(NodeId, u64, u32, &'static str), Hash>,
}

impl VoteChecker {
    /// Records an honest validator's vote.
    pub fn on_vote(
        &mut self,
        validator: &NodeId,
        height: u64,
        round: u32,
        kind: &'static str,
        block_hash: Hash,
    ) -> Result<(), InvariantViolation> {
        let first = *self.votes.entry((validator.clone(), height, round, kind)).or_insert(block_hash);
        if first != block_hash {
            return Err(InvariantViolation::DoubleVote {
                validator: validator.clone(),
                height,
                round,
                kind,
                first,
                second: block_hash,
            });
        }
        Ok(())
    }

    /// Forgets votes below `height` (they can no longer conflict with anything that matters).
    pub fn forget_below(&mut self, height: u64) {
        self.votes.retain(|(_, vote_height, _, _), _| *vote_height >= height);
    }
}
