//! The node checks its own audit log against the anchors in its sealed blocks (COV-33, ADR 0020).
//!
//! An anchor is trusted where it is hardest to forge: the `AuditAnchor` transaction inside the block
//! that carried it. The node's state records (`StateKey::AuditAnchor`) only say at which height to
//! look; the anchored `(sequence, hash)` is read from the transaction in that block, the block's
//! transactions are checked against its header's `transactions_root`, and the block's commit seals
//! are checked to be a quorum of the validator set the node knows, when that is the set the header
//! names. An operator who rewrites the log's tail and the node's anchor records together is caught;
//! one who also rewrites the blocks has to forge a quorum of other validators' seals.
//!
//! [`AuditVerifier`] verifies the whole log once (at start-up), then only what was appended and
//! anchored since, from the last verified head it keeps in memory; a failure is kept until restart.
//! It reads the store and nothing else, and is run off the event loop (by the shell's audit watch):
//! the core only reads its latest verdict ([`AuditCheck`]) and anchors only a head it verified.

use covenant_execution::{AnchorRecord, StateKey, StateReader};
use covenant_storage::audit::{AuditError, AuditPosition, AuditSummary};
use covenant_storage::{AuditLog, ChainStore};
use covenant_types::{Hash, NodeId, Payload, Principal};

use crate::error::CoreError;
use crate::state::StoreState;

/// Anchor records read from the state per page.
pub const ANCHOR_PAGE_ENTRIES: usize = 256;

/// An anchor as the sealed block that carried it says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAnchor {
    /// The anchored entry's sequence.
    pub sequence: u64,
    /// The anchored entry's hash, from the transaction in the block.
    pub hash: Hash,
    /// The hash the node's own state record gives (should be `hash`).
    pub recorded_hash: Hash,
    /// The block's height.
    pub height: u64,
    /// The anchoring transaction.
    pub tx: Hash,
    /// Whether the block's commit seals were checked (only when the validator set this node knows
    /// now is the one the block's header names).
    pub seals_checked: bool,
}

/// The latest verdict on this node's audit log, read by the core before it anchors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum AuditCheck {
    /// Not verified yet (the start-up verification is running).
    #[default]
    Pending,
    /// The log verified up to `head` and agrees with every anchor in this node's blocks.
    Verified {
        /// The verified head (`None`: an empty log).
        head: Option<AuditPosition>,
        /// Entries verified so far (the whole log at first, then each one appended since).
        entries: u64,
        /// Anchors checked so far.
        anchors: u64,
        /// Of which the block's seals were checked.
        anchors_sealed: u64,
        /// The newest anchor checked.
        last_anchor: Option<BlockAnchor>,
    },
    /// The log does not verify: do not anchor it.
    Failed(AuditFailure),
}

/// Why the log failed verification: the first bad entry, if one is known, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AuditFailure {
    /// The first bad entry.
    pub sequence: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl AuditFailure {
    fn at(sequence: u64, reason: impl Into<String>) -> AuditFailure {
        AuditFailure { sequence: Some(sequence), reason: reason.into() }
    }

    fn general(reason: impl Into<String>) -> AuditFailure {
        AuditFailure { sequence: None, reason: reason.into() }
    }
}

impl From<AuditError> for AuditFailure {
    fn from(error: AuditError) -> AuditFailure {
        match error {
            AuditError::Tampered { sequence, .. } => AuditFailure::at(sequence, error.to_string()),
            other => AuditFailure::general(other.to_string()),
        }
    }
}

impl From<CoreError> for AuditFailure {
    fn from(error: CoreError) -> AuditFailure {
        AuditFailure::general(error.to_string())
    }
}

impl From<covenant_storage::StorageError> for AuditFailure {
    fn from(error: covenant_storage::StorageError) -> AuditFailure {
        AuditFailure::general(error.to_string())
    }
}

/// Up to `limit` of `node`'s anchors after the one of entry `after` (from the first if `None`), each
/// read from the sealed block that carried it. Fails on a block that does not hold the anchor its
/// record points to, whose transactions do not match its header, or whose seals do not prove it.
pub fn anchors_in_blocks<S: ChainStore + ?Sized>(
    store: &S,
    node: &NodeId,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<BlockAnchor>, AuditFailure> {
    let mut prefix = StateKey::AuditAnchor(node.clone(), 0).encode();
    prefix.truncate(prefix.len() - 8);
    let start_after = after.map(|sequence| StateKey::AuditAnchor(node.clone(), sequence).encode());
    let page = store.scan_state(&prefix, start_after.as_deref(), limit)?;
    let validators = StoreState(store).validators().map_err(CoreError::from)?;
    let mut anchors = Vec::with_capacity(page.entries.len());
    for (key, value) in &page.entries {
        let sequence_bytes: [u8; 8] = key[prefix.len()..].try_into().map_err(|_| {
            AuditFailure::general(format!("anchor record key {} has the wrong length", hex::encode(key)))
        })?;
        let sequence = u64::from_be_bytes(sequence_bytes);
        let record: AnchorRecord = covenant_types::decode("audit anchor", value, value.len())
            .map_err(|error| AuditFailure::at(sequence, format!("the anchor record does not decode: {error}")))?;
        anchors.push(anchor_in_block(store, node, &validators, sequence, &record)?);
    }
    Ok(anchors)
}

/// The anchor of entry `sequence` as block `record.height` carries it.
fn anchor_in_block<S: ChainStore + ?Sized>(
    store: &S,
    node: &NodeId,
    validators: &covenant_types::ValidatorSet,
    sequence: u64,
    record: &AnchorRecord,
) -> Result<BlockAnchor, AuditFailure> {
    let height = record.height;
    let block = store.block_by_height(height)?.ok_or_else(|| {
        AuditFailure::at(
            sequence,
            format!("anchor of entry {sequence}: the chain records it at height {height}, a block this node lacks"),
        )
    })?;
    let computed = block.compute_transactions_root();
    if computed != block.header.transactions_root {
        return Err(AuditFailure::at(
            sequence,
            format!(
                "anchor of entry {sequence} in block {height}: the block was altered: its transactions hash to {computed}, its header says {}",
                block.header.transactions_root
            ),
        ));
    }
    let seals_checked = validators.hash() == block.header.validator_set_hash;
    if seals_checked {
        let seals = store.commit_seals(height)?.unwrap_or_default();
        covenant_consensus::verify_commit_seals(&block.header.chain_id, validators, &block.header, &seals).map_err(
            |reason| {
                AuditFailure::at(
                    sequence,
                    format!("anchor of entry {sequence} in block {height}: the block is not proven final: {reason}"),
                )
            },
        )?;
    }
    let carried = block.transactions.iter().find_map(|tx| match (&tx.body.sender, &tx.body.payload) {
        (Principal::Node(sender), Payload::AuditAnchor(anchor)) if sender == node && anchor.sequence == sequence => {
            Some((anchor.hash, tx.body.hash()))
        }
        _ => None,
    });
    let (hash, tx) = carried.ok_or_else(|| {
        AuditFailure::at(
            sequence,
            format!("anchor of entry {sequence}: the chain records it at height {height}, but that block holds no anchor of {node} for it"),
        )
    })?;
    Ok(BlockAnchor { sequence, hash, recorded_hash: record.hash, height, tx, seals_checked })
}

/// Checks the verified log (`summary`) holds entry `anchor.sequence` with the anchored hash, and that
/// the node's record of the anchor agrees with its block. `previous` is the last anchor that held.
pub fn check_anchor<S: AuditLog + ?Sized>(
    store: &S,
    summary: &AuditSummary,
    anchor: &BlockAnchor,
    previous: Option<&BlockAnchor>,
) -> Result<(), AuditFailure> {
    let sequence = anchor.sequence;
    let since = match previous {
        Some(previous) => {
            format!(", after entry {}, which still matches its anchor in block {}", previous.sequence, previous.height)
        }
        None => String::new(),
    };
    let found = match summary.checkpoint {
        Some(checkpoint) if sequence < checkpoint.sequence => return Ok(()),
        Some(checkpoint) if sequence == checkpoint.sequence => Some(checkpoint.hash),
        _ => store.range(sequence, 1)?.into_iter().find(|entry| entry.sequence == sequence).map(|entry| entry.hash),
    };
    let anchor_in = format!("anchor of entry {sequence} in block {}", anchor.height);
    match found {
        None => {
            return Err(AuditFailure::at(
                sequence,
                format!("{anchor_in}: the log lacks that entry: its tail was deleted{since}"),
            ));
        }
        Some(found) if found != anchor.hash => {
            return Err(AuditFailure::at(
                sequence,
                format!(
                    "{anchor_in}: anchored hash {}, stored hash {found}: the log was rewritten at or before entry {sequence}{since}",
                    anchor.hash
                ),
            ));
        }
        Some(_) => {}
    }
    if anchor.recorded_hash != anchor.hash {
        return Err(AuditFailure::at(
            sequence,
            format!(
                "{anchor_in}: this node's record of it says hash {}, the transaction in the block says {}: its anchor records were altered",
                anchor.recorded_hash, anchor.hash
            ),
        ));
    }
    Ok(())
}

/// Verifies this node's log against its blocks' anchors: fully at first, then incrementally.
#[derive(Debug)]
pub struct AuditVerifier {
    node: NodeId,
    /// The head the last successful run verified.
    verified: Option<AuditPosition>,
    entries: u64,
    anchors: u64,
    anchors_sealed: u64,
    last_anchor: Option<BlockAnchor>,
    failed: Option<AuditFailure>,
}

impl AuditVerifier {
    /// A verifier for `node`'s log that has verified nothing yet.
    pub fn new(node: NodeId) -> AuditVerifier {
        AuditVerifier {
            node,
            verified: None,
            entries: 0,
            anchors: 0,
            anchors_sealed: 0,
            last_anchor: None,
            failed: None,
        }
    }

    /// Runs one verification: the whole log the first time, what was appended and anchored since
    /// afterwards. A failure stays (the log is evidence; a later run does not clear it).
    pub fn run<S: ChainStore + ?Sized>(&mut self, store: &S) -> AuditCheck {
        if let Some(failure) = &self.failed {
            return AuditCheck::Failed(failure.clone());
        }
        match self.step(store) {
            Ok(()) => AuditCheck::Verified {
                head: self.verified,
                entries: self.entries,
                anchors: self.anchors,
                anchors_sealed: self.anchors_sealed,
                last_anchor: self.last_anchor.clone(),
            },
            Err(failure) => {
                self.failed = Some(failure.clone());
                AuditCheck::Failed(failure)
            }
        }
    }

    fn step<S: ChainStore + ?Sized>(&mut self, store: &S) -> Result<(), AuditFailure> {
        let summary = match self.verified {
            None => store.verify()?,
            Some(verified) => store.verify_after(verified)?,
        };
        let head = summary.head.map(|head| head.sequence);
        'pages: loop {
            let after = self.last_anchor.as_ref().map(|anchor| anchor.sequence);
            let page = anchors_in_blocks(store, &self.node, after, ANCHOR_PAGE_ENTRIES)?;
            for anchor in &page {
                if head.is_none_or(|head| anchor.sequence > head) {
                    // Anchored past the head this run verified: appended since (checked next run),
                    // unless the log now ends before it.
                    let now = AuditLog::head(store)?.map(|head| head.sequence);
                    if now.is_none_or(|now| now < anchor.sequence) {
                        return Err(AuditFailure::at(
                            anchor.sequence,
                            format!(
                                "anchor of entry {} in block {}: the log ends at {}: its tail was deleted",
                                anchor.sequence,
                                anchor.height,
                                now.map_or("nothing".into(), |now| now.to_string()),
                            ),
                        ));
                    }
                    break 'pages;
                }
                check_anchor(store, &summary, anchor, self.last_anchor.as_ref())?;
                self.anchors += 1;
                self.anchors_sealed += u64::from(anchor.seals_checked);
                self.last_anchor = Some(anchor.clone());
            }
            if page.len() < ANCHOR_PAGE_ENTRIES {
                break;
            }
        }
        self.verified = summary.head.or(self.verified);
        self.entries += summary.entries;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
    use covenant_storage::{CommitBatch, MemoryStore};
    use covenant_types::{
        AuditAnchor, Block, BlockHeader, ChainId, CommitSeal, ENCODING_VERSION, Receipt, SealedVote, SecretKey,
        SignedTx, TxBody, TxOutcome, Validator, ValidatorSet, encode, merkle_root,
    };

    /// A chain of four validators whose node `validator-0` anchors its log; blocks carry real seals.
    struct Chain {
        store: MemoryStore,
        keys: Vec<SecretKey>,
        validators: ValidatorSet,
        chain: ChainId,
        node: NodeId,
        tip: BlockHeader,
        nonce: u64,
    }

    impl Chain {
        fn new() -> Chain {
            let keys: Vec<SecretKey> = (0..4u8).map(|index| SecretKey::from_seed(&[index + 1; 32])).collect();
            let validators = ValidatorSet::new(
                keys.iter()
                    .enumerate()
                    .map(|(index, key)| Validator {
                        id: NodeId::new(format!("validator-{index}")).unwrap(),
                        consensus_key: key.public_key(),
                    })
                    .collect(),
            )
            .unwrap();
            let chain = ChainId::new("test-chain").unwrap();
            let genesis = header(&chain, &validators, 0, Hash::ZERO, merkle_root(&[]));
            let mut batch =
                CommitBatch::new(Block { header: genesis.clone(), transactions: Vec::new().into() }, vec![]);
            batch.state_writes.insert(StateKey::Validators.encode(), Some(encode(&validators)));
            let store = MemoryStore::new();
            store.commit_block(batch).unwrap();
            Chain { store, keys, validators, chain, node: NodeId::new("validator-0").unwrap(), tip: genesis, nonce: 0 }
        }

        fn append(&self, count: u64) {
            for time_ms in 0..count {
                let record = AuditRecord::new(
                    time_ms,
                    self.node.clone(),
                    EventType::NodeStarted,
                    Actor::System,
                    Outcome::Success,
                );
                self.store.append(record).unwrap();
            }
        }

        /// Commits a block whose anchor transaction says `(sequence, in_block)` while the node's state
        /// record says `recorded`, sealed by the first `seals` validators; returns its height.
        fn anchor(&mut self, sequence: u64, in_block: Hash, recorded: Hash, seals: usize) -> u64 {
            let tx = SignedTx::sign(
                TxBody {
                    version: ENCODING_VERSION,
                    chain_id: self.chain.clone(),
                    sender: Principal::Node(self.node.clone()),
                    nonce: self.nonce,
                    created_at_ms: 1,
                    payload: Payload::AuditAnchor(AuditAnchor { sequence, hash: in_block }),
                },
                &self.keys[0],
            );
            self.nonce += 1;
            let height = self.tip.height + 1;
            let header = header(&self.chain, &self.validators, height, self.tip.hash(), merkle_root(&[tx.body.hash()]));
            let vote = SealedVote { height, round: 0, block_hash: header.hash() };
            let seals = (0..seals)
                .map(|index| {
                    CommitSeal::sign(
                        NodeId::new(format!("validator-{index}")).unwrap(),
                        &self.keys[index],
                        &self.chain,
                        &vote,
                    )
                })
                .collect();
            let receipt = Receipt { tx_hash: tx.body.hash(), outcome: TxOutcome::Success, fuel_used: 0 };
            let mut batch = CommitBatch::new(Block { header: header.clone(), transactions: vec![tx].into() }, seals);
            batch.receipts.push(receipt);
            let record = AnchorRecord { hash: recorded, height, time_ms: 1 };
            batch
                .state_writes
                .insert(StateKey::AuditAnchor(self.node.clone(), sequence).encode(), Some(encode(&record)));
            self.store.commit_block(batch).unwrap();
            self.tip = header;
            height
        }

        fn head(&self) -> AuditPosition {
            AuditLog::head(&self.store).unwrap().unwrap()
        }
    }

    fn header(chain: &ChainId, validators: &ValidatorSet, height: u64, parent_hash: Hash, root: Hash) -> BlockHeader {
        BlockHeader {
            version: ENCODING_VERSION,
            chain_id: chain.clone(),
            height,
            round: 0,
            parent_hash,
            timestamp_ms: 1_000 + height,
            proposer: NodeId::new("validator-0").unwrap(),
            transactions_root: root,
            state_root: Hash::digest(&height.to_be_bytes()),
            validator_set_hash: validators.hash(),
            parameters_hash: Hash::digest(b"params"),
            parent_commit_seals: vec![],
        }
    }

    fn failure(check: AuditCheck) -> AuditFailure {
        match check {
            AuditCheck::Failed(failure) => failure,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    // covers: COV-33-AUDIT-TRAIL
    #[test]
    fn a_log_its_blocks_anchor_verifies_fully_then_incrementally() {
        let mut chain = Chain::new();
        chain.append(3);
        let head = chain.head();
        chain.anchor(head.sequence, head.hash, head.hash, 3);
        let mut verifier = AuditVerifier::new(chain.node.clone());
        match verifier.run(&chain.store) {
            AuditCheck::Verified { head: Some(verified), entries: 3, anchors: 1, anchors_sealed: 1, .. } => {
                assert_eq!(verified, head);
            }
            other => panic!("expected the log verified, got {other:?}"),
        }
        chain.append(2);
        let head = chain.head();
        let height = chain.anchor(head.sequence, head.hash, head.hash, 4);
        match verifier.run(&chain.store) {
            AuditCheck::Verified { entries: 5, anchors: 2, last_anchor: Some(last), .. } => {
                assert_eq!((last.sequence, last.height, last.seals_checked), (head.sequence, height, true));
            }
            other => panic!("expected two anchors checked, 5 entries, got {other:?}"),
        }
    }

    // covers: COV-33-AUDIT-TRAIL
    #[test]
    fn a_log_that_differs_from_the_anchor_in_its_block_fails_though_the_record_agrees_with_it() {
        let mut chain = Chain::new();
        chain.append(3);
        let head = chain.head();
        // The operator rewrote entry 2 and the record; the block still holds the original anchor.
        let height = chain.anchor(head.sequence, Hash::digest(b"the original entry 2"), head.hash, 3);
        let mut verifier = AuditVerifier::new(chain.node.clone());
        let failed = failure(verifier.run(&chain.store));
        assert_eq!(failed.sequence, Some(2));
        assert!(failed.reason.contains(&format!("anchor of entry 2 in block {height}")), "{failed}");
        assert!(failed.reason.contains("rewritten at or before entry 2"), "{failed}");
        // The verdict stays: a later run does not clear it.
        chain.append(1);
        assert_eq!(failure(verifier.run(&chain.store)), failed);
        assert!(crate::anchor::anchorable_head(&AuditCheck::Failed(failed)).is_err());
    }

    // covers: COV-33-AUDIT-TRAIL
    #[test]
    fn altered_anchor_records_a_deleted_tail_and_unsealed_blocks_fail() {
        let mut chain = Chain::new();
        chain.append(3);
        let head = chain.head();
        chain.anchor(head.sequence, head.hash, Hash::digest(b"edited record"), 3);
        let failed = failure(AuditVerifier::new(chain.node.clone()).run(&chain.store));
        assert!(failed.reason.contains("anchor records were altered"), "{failed}");

        let mut chain = Chain::new();
        chain.append(3);
        chain.anchor(7, Hash::digest(b"entry 7"), Hash::digest(b"entry 7"), 3);
        let failed = failure(AuditVerifier::new(chain.node.clone()).run(&chain.store));
        assert_eq!(failed.sequence, Some(7));
        assert!(failed.reason.contains("tail was deleted"), "{failed}");

        let mut chain = Chain::new();
        chain.append(3);
        let head = chain.head();
        chain.anchor(head.sequence, head.hash, head.hash, 2);
        let failed = failure(AuditVerifier::new(chain.node.clone()).run(&chain.store));
        assert!(failed.reason.contains("not proven final") && failed.reason.contains("quorum is 3"), "{failed}");
    }

    #[test]
    fn only_a_verified_head_may_be_anchored() {
        let head = AuditPosition { sequence: 4, hash: Hash::digest(b"head") };
        let verified =
            AuditCheck::Verified { head: Some(head), entries: 5, anchors: 0, anchors_sealed: 0, last_anchor: None };
        assert_eq!(crate::anchor::anchorable_head(&verified), Ok(Some(head)));
        assert!(crate::anchor::anchorable_head(&AuditCheck::Pending).unwrap_err().contains("not verified yet"));
        let failed = AuditCheck::Failed(AuditFailure::at(3, "entry 3 rewritten"));
        assert!(crate::anchor::anchorable_head(&failed).unwrap_err().contains("entry 3 rewritten"));
    }
}
