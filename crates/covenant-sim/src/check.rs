//! Invariant checkers, one per property, run on every commit of every non-Byzantine node (and, for
//! liveness, by the event loop after healing).
//!
//! * **Agreement**: no two blocks are committed at one height, by any two nodes.
//! * **Validity**: every committed block passes the header rules against its parent (COV-49 limits,
//!   COV-36 interval, chain id, height, parent, proposer, roots, parameter and validator-set hashes),
//!   carries a quorum of valid seals for its parent, its state root is the toy execution's, and its own
//!   certificate is a quorum of valid seals from distinct validators.
//! * **Monotonic**: each node commits heights 1, 2, 3, ... in order, with strictly increasing timestamps.
//! * **Liveness** (checked by the simulation): once faults heal, with at most f faulty validators,
//!   every honest validator commits more heights within a bounded virtual time.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use covenant_consensus::{CommitCertificate, seal_digest};
use covenant_rules::ChainParams;
use covenant_rules::checks::{check_block_limits, check_chain_id, check_timestamp_interval};
use covenant_types::{Block, BlockHeader, ChainId, CommitSeal, Hash, SignatureDomain, ValidatorSet};

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
    /// A committed block breaks a rule or lacks a quorum of valid seals.
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
    /// Progress stopped although faults healed.
    #[error("liveness: {detail}")]
    Liveness {
        /// What did not happen.
        detail: String,
    },
}

impl InvariantViolation {
    /// True for agreement, validity and monotonicity: the properties that must hold whatever happens.
    pub fn is_safety(&self) -> bool {
        !matches!(self, InvariantViolation::Liveness { .. })
    }
}

/// The toy deterministic execution: the state root after `block` is the hash of the parent's state root
/// and the block's transaction hashes, in order.
pub fn toy_state_root(parent_state_root: &Hash, block: &Block) -> Hash {
    let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.body.hash()).collect();
    let mut parts: Vec<&[u8]> = vec![b"covenant-sim toy execution", parent_state_root.as_bytes()];
    parts.extend(hashes.iter().map(|hash| hash.as_bytes().as_slice()));
    Hash::digest_parts(&parts)
}

/// Checks that `seals` are a quorum of valid seals from distinct members of `validators` over `digest`.
pub fn check_seals(
    chain: &ChainId,
    validators: &ValidatorSet,
    quorum: usize,
    digest: &Hash,
    seals: &[CommitSeal],
) -> Result<(), String> {
    let mut signers = BTreeSet::new();
    for seal in seals {
        let validator =
            validators.get(&seal.validator).ok_or_else(|| format!("{} is not a validator", seal.validator))?;
        if !signers.insert(&seal.validator) {
            return Err(format!("two seals from {}", seal.validator));
        }
        validator
            .consensus_key
            .verify(SignatureDomain::CommitSeal, chain, digest, &seal.signature)
            .map_err(|error| format!("seal from {}: {error}", seal.validator))?;
    }
    if signers.len() < quorum {
        return Err(format!("{} valid seals, quorum is {quorum}", signers.len()));
    }
    Ok(())
}

/// Where one node's chain stands.
#[derive(Clone, Debug)]
struct NodeTip {
    header: BlockHeader,
    state_root: Hash,
}

/// Runs agreement, validity and monotonicity on every commit.
#[derive(Debug)]
pub struct Checker {
    chain: ChainId,
    validators: ValidatorSet,
    params: ChainParams,
    quorum: usize,
    genesis: BlockHeader,
    decided: BTreeMap<u64, Hash>,
    valid: BTreeSet<Hash>,
    tips: BTreeMap<usize, NodeTip>,
}

impl Checker {
    /// A checker for a chain starting at `genesis`, decided by `validators` with `quorum`.
    pub fn new(
        chain: ChainId,
        validators: ValidatorSet,
        params: ChainParams,
        quorum: usize,
        genesis: BlockHeader,
    ) -> Checker {
        Checker {
            chain,
            validators,
            params,
            quorum,
            genesis,
            decided: BTreeMap::new(),
            valid: BTreeSet::new(),
            tips: BTreeMap::new(),
        }
    }

    /// The block decided at each height so far.
    pub fn decided(&self) -> &BTreeMap<u64, Hash> {
        &self.decided
    }

    /// Height of the last block node `slot` committed (0 if none).
    pub fn height_of(&self, slot: usize) -> u64 {
        self.tips.get(&slot).map_or(0, |tip| tip.header.height)
    }

    /// Checks a commit by node `slot` and records it.
    pub fn on_commit(&mut self, slot: usize, certificate: &CommitCertificate) -> Result<(), InvariantViolation> {
        let block = &certificate.block;
        let header = &block.header;
        let height = header.height;
        let block_hash = block.hash();
        let tip = self
            .tips
            .get(&slot)
            .cloned()
            .unwrap_or_else(|| NodeTip { header: self.genesis.clone(), state_root: self.genesis.state_root });

        // Monotonic heights and timestamps, per node.
        if height != tip.header.height + 1 {
            return Err(InvariantViolation::Monotonic {
                slot,
                height,
                previous_height: tip.header.height,
                detail: "heights must follow each other".into(),
            });
        }
        if header.timestamp_ms <= tip.header.timestamp_ms {
            return Err(InvariantViolation::Monotonic {
                slot,
                height,
                previous_height: tip.header.height,
                detail: format!("timestamp {} not after {}", header.timestamp_ms, tip.header.timestamp_ms),
            });
        }

        // Agreement across nodes.
        if let Some(first) = self.decided.get(&height)
            && *first != block_hash
        {
            return Err(InvariantViolation::Agreement { height, first: *first, second: block_hash, slot });
        }

        // Validity, once per block (every node that commits it has the same parent by agreement).
        if !self.valid.contains(&block_hash) {
            self.check_validity(&tip, certificate).map_err(|reason| InvariantViolation::Validity {
                height,
                block_hash,
                slot,
                reason,
            })?;
            self.valid.insert(block_hash);
        }
        self.decided.entry(height).or_insert(block_hash);
        let state_root = header.state_root;
        self.tips.insert(slot, NodeTip { header: header.clone(), state_root });
        Ok(())
    }

    fn check_validity(&self, parent: &NodeTip, certificate: &CommitCertificate) -> Result<(), String> {
        let block = &certificate.block;
        let header = &block.header;
        check_chain_id(&header.chain_id, &self.chain).map_err(|v| format!("{}: {v}", v.rule()))?;
        if header.parent_hash != parent.header.hash() {
            return Err(format!("parent {} is not the previous block {}", header.parent_hash, parent.header.hash()));
        }
        let expected = &self.validators.proposer(header.height, header.round).id;
        if &header.proposer != expected {
            return Err(format!("proposer {} is not {expected}", header.proposer));
        }
        if header.transactions_root != block.compute_transactions_root() {
            return Err("transactions root does not match".into());
        }
        if header.validator_set_hash != self.validators.hash() || header.parameters_hash != self.params.hash() {
            return Err("validator set or parameters hash does not match".into());
        }
        let bytes = bcs::serialized_size(block).map_err(|error| error.to_string())? as u64;
        check_block_limits(bytes, block.transactions.len() as u64, &self.params)
            .map_err(|v| format!("{}: {v}", v.rule()))?;
        check_timestamp_interval(header.timestamp_ms, parent.header.timestamp_ms, &self.params)
            .map_err(|v| format!("{}: {v}", v.rule()))?;
        let executed = toy_state_root(&parent.state_root, block);
        if header.state_root != executed {
            return Err(format!("state root {} but execution gives {executed}", header.state_root));
        }
        if parent.header.height == 0 {
            if !header.parent_commit_seals.is_empty() {
                return Err("seals for the genesis block".into());
            }
        } else {
            let digest = seal_digest(parent.header.height, parent.header.round, parent.header.hash());
            check_seals(&self.chain, &self.validators, self.quorum, &digest, &header.parent_commit_seals)
                .map_err(|reason| format!("parent commit seals: {reason}"))?;
        }
        let digest = seal_digest(header.height, header.round, block.hash());
        check_seals(&self.chain, &self.validators, self.quorum, &digest, &certificate.seals)
            .map_err(|reason| format!("commit seals: {reason}"))
    }
}
