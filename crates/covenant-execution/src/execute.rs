//! Block execution: apply verified transactions in order to a state view, producing the block's
//! writes, receipts and state root. Deterministic: reads only the state and the block context.

use std::collections::{BTreeMap, BTreeSet};

use covenant_rules::{Violation, schema};
use covenant_types::{
    AccountId, DataRecord, Hash, KycAttestation, MemberId, Payload, Principal, Receipt, Transfer, TxOutcome, VerifiedTx,
};

use crate::checks::{TxInvalid, check_nonce_in_state, check_payload, check_sender};
use crate::root::next_state_root;
use crate::state::{KycState, MemberState, OperatorState, Overlay, StateError, StateKey, StateReader, StateView};
use crate::{contracts, governance};

/// What a block execution needs from the block besides its transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// Height of the block.
    pub height: u64,
    /// Block timestamp: the only clock execution sees.
    pub timestamp_ms: u64,
}

/// The result of executing a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// State writes, sorted by key (`None` deletes).
    pub writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// One receipt per included transaction, in order.
    pub receipts: Vec<Receipt>,
    /// State root after the block.
    pub state_root: Hash,
}

/// A block that cannot be executed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// A transaction that no valid block may contain.
    #[error("transaction {index} ({tx_hash}) is invalid: {reason}")]
    InvalidTx {
        /// Position in the block.
        index: usize,
        /// Its hash.
        tx_hash: Hash,
        /// Why.
        reason: Box<TxInvalid>,
    },
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// Executes `txs` strictly: any invalid transaction makes the whole block invalid. Validators run this
/// on a proposal before voting.
pub fn execute_block<V: StateView + ?Sized>(
    base: &V,
    parent_state_root: &Hash,
    context: &BlockContext,
    txs: &[VerifiedTx],
) -> Result<BlockOutcome, BlockError> {
    let mut overlay = Overlay::new(base);
    let mut receipts = Vec::with_capacity(txs.len());
    let mut block_fuel_used = 0;
    for (index, tx) in txs.iter().enumerate() {
        match apply_tx(&mut overlay, context, tx, &mut block_fuel_used) {
            Ok(receipt) => receipts.push(receipt),
            Err(TxInvalid::State(error)) => return Err(BlockError::State(error)),
            Err(reason) => return Err(BlockError::InvalidTx { index, tx_hash: tx.hash(), reason: Box::new(reason) }),
        }
    }
    let writes = overlay.into_writes();
    let state_root = next_state_root(parent_state_root, context.height, &writes, &receipts);
    Ok(BlockOutcome { writes, receipts, state_root })
}

/// A block built from candidate transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuiltBlock {
    /// Transactions included, in order.
    pub included: Vec<VerifiedTx>,
    /// Candidates left out, with the reason each could not be in a block.
    pub dropped: Vec<(VerifiedTx, TxInvalid)>,
    /// Candidates left for a later block: contract calls whose fuel limit no longer fits in this
    /// block's `fuel_per_block_max` (COV-29), and every later transaction of their senders (whose
    /// nonces must follow). They stay valid; keep them pending.
    pub deferred: Vec<VerifiedTx>,
    /// The outcome of executing `included`.
    pub outcome: BlockOutcome,
}

/// Executes candidates for a block the proposer is building, leaving out those that would make it
/// invalid (stale nonce, expired key, ...) and deferring contract calls that would take the block over
/// its fuel bound. The outcome equals what [`execute_block`] computes for the included transactions.
pub fn build_block<V: StateView + ?Sized>(
    base: &V,
    parent_state_root: &Hash,
    context: &BlockContext,
    candidates: Vec<VerifiedTx>,
) -> Result<BuiltBlock, StateError> {
    let mut overlay = Overlay::new(base);
    let mut receipts = Vec::with_capacity(candidates.len());
    let mut included = Vec::with_capacity(candidates.len());
    let mut dropped = Vec::new();
    let mut deferred = Vec::new();
    let mut deferred_senders: BTreeSet<Principal> = BTreeSet::new();
    let mut block_fuel_used = 0;
    for tx in candidates {
        let sender = &tx.tx().body.sender;
        if deferred_senders.contains(sender) {
            deferred.push(tx);
            continue;
        }
        // A call that does not fit waits for a later block; in an empty block it can never fit, and
        // execution refuses it below (it is dropped).
        if let Some(fuel_limit) = contracts::fuel_limit(&tx.tx().body.payload)
            && block_fuel_used > 0
            && contracts::check_block_fuel(&overlay.params()?, block_fuel_used, fuel_limit).is_err()
        {
            deferred_senders.insert(sender.clone());
            deferred.push(tx);
            continue;
        }
        match apply_tx(&mut overlay, context, &tx, &mut block_fuel_used) {
            Ok(receipt) => {
                receipts.push(receipt);
                included.push(tx);
            }
            Err(TxInvalid::State(error)) => return Err(error),
            Err(reason) => dropped.push((tx, reason)),
        }
    }
    let writes = overlay.into_writes();
    let state_root = next_state_root(parent_state_root, context.height, &writes, &receipts);
    Ok(BuiltBlock { included, dropped, deferred, outcome: BlockOutcome { writes, receipts, state_root } })
}

/// Applies one transaction: checks that it may be in a block at all (else `Err`, nothing written), then
/// consumes its nonce and runs the payload, whose failure only rolls back the payload's own writes and
/// yields a failed receipt. `block_fuel_used` counts the fuel the block's contract calls burnt so far
/// (COV-29: a call is taken only if its fuel limit fits in what is left of `fuel_per_block_max`).
fn apply_tx<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    context: &BlockContext,
    tx: &VerifiedTx,
    block_fuel_used: &mut u64,
) -> Result<Receipt, TxInvalid> {
    let sender = check_sender(&*overlay, tx, context.timestamp_ms)?;
    check_nonce_in_state(&*overlay, tx)?;
    check_payload(&*overlay, tx, &sender, context)?;
    let body = &tx.tx().body;
    if let Some(fuel_limit) = contracts::fuel_limit(&body.payload) {
        contracts::check_block_fuel(&overlay.params()?, *block_fuel_used, fuel_limit)?;
    }
    let sender_member = sender.member().clone();
    let mut fuel_used = 0;
    let outcome = match run_payload(overlay, context, tx, &sender_member, &mut fuel_used)? {
        Ok(()) => TxOutcome::Success,
        Err(failure) => {
            overlay.rollback_tx();
            failure.into_outcome()
        }
    };
    // The nonce is consumed whatever the payload did (COV-34: the sender's order is kept).
    let next_nonce = body
        .nonce
        .checked_add(1)
        .ok_or(TxInvalid::Violation(Violation::NonceOutOfOrder { found: body.nonce, expected: body.nonce }))?;
    overlay.put(&StateKey::Nonce(body.sender.clone()), &next_nonce);
    overlay.commit_tx();
    // Within fuel_per_block_max: the call's fuel limit fitted, and it burnt at most that.
    *block_fuel_used = block_fuel_used.saturating_add(fuel_used);
    Ok(Receipt { tx_hash: tx.hash(), outcome, fuel_used })
}

/// Why a valid transaction had no effect.
enum Failure {
    Rule(Violation),
    Plain(String),
}

impl Failure {
    fn into_outcome(self) -> TxOutcome {
        match self {
            Failure::Rule(violation) => {
                TxOutcome::Failed { rule: Some(violation.rule().id().to_string()), reason: violation.to_string() }
            }
            Failure::Plain(reason) => TxOutcome::Failed { rule: None, reason },
        }
    }
}

type PayloadResult = Result<Result<(), Failure>, TxInvalid>;

fn run_payload<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    context: &BlockContext,
    tx: &VerifiedTx,
    sender_member: &MemberId,
    fuel_used: &mut u64,
) -> PayloadResult {
    match &tx.tx().body.payload {
        Payload::ContractCall(call) => {
            let operator = operator_of(tx)?;
            let state = overlay
                .get::<OperatorState>(&StateKey::Operator(operator.clone()))?
                .ok_or_else(|| Violation::UnknownSender { sender: operator.to_string() })?;
            let end = contracts::run_call(overlay, context, tx.hash(), &state, call)?;
            *fuel_used = end.fuel_used;
            Ok(match end.failure {
                None => Ok(()),
                Some((Some(rule), reason)) => Err(Failure::Rule(Violation::ContractRefused { rule, reason })),
                Some((None, reason)) => Err(Failure::Plain(reason)),
            })
        }
        Payload::Transfer(transfer) => run_transfer(overlay, transfer, sender_member),
        Payload::DataRecord(record) => run_data_record(overlay, tx.hash(), record),
        Payload::KycAttestation(attestation) => run_kyc(overlay, context, attestation, sender_member),
        Payload::GovernancePropose(proposal) => {
            let proposer = governance::voter(operator_of(tx)?, &*overlay, context.height)?;
            governance::propose(overlay, tx.hash(), proposal, proposer, context)?;
            Ok(Ok(()))
        }
        Payload::GovernanceApprove(id) | Payload::GovernanceReject(id) => {
            let vote = governance::voter(operator_of(tx)?, &*overlay, context.height)?;
            let proposal = governance::check_vote(&*overlay, id, &vote, context.timestamp_ms)?;
            if matches!(tx.tx().body.payload, Payload::GovernanceApprove(_)) {
                governance::approve(overlay, *id, proposal, vote, context)?;
            } else {
                governance::reject(overlay, *id, proposal, vote, context)?;
            }
            Ok(Ok(()))
        }
        Payload::AuditAnchor(anchor) => {
            let covenant_types::Principal::Node(node) = &tx.tx().body.sender else {
                return Err(TxInvalid::Unsupported { kind: "audit anchor from an operator" });
            };
            let record =
                crate::state::AnchorRecord { hash: anchor.hash, height: context.height, time_ms: context.timestamp_ms };
            overlay.put(&StateKey::AuditAnchor(node.clone(), anchor.sequence), &record);
            overlay.put(&StateKey::LastAuditAnchor(node.clone()), &anchor.sequence);
            Ok(Ok(()))
        }
        Payload::GovernanceWithdraw(id) => {
            let proposal = governance::check_withdraw(&*overlay, id, operator_of(tx)?, context.timestamp_ms)?;
            governance::withdraw(overlay, *id, proposal, context);
            Ok(Ok(()))
        }
    }
}

fn operator_of(tx: &VerifiedTx) -> Result<&covenant_types::OperatorId, TxInvalid> {
    match &tx.tx().body.sender {
        covenant_types::Principal::Operator(operator) => Ok(operator),
        covenant_types::Principal::Node(node) => {
            Err(Violation::NodeKeyForbidden { node: node.clone(), kind: tx.tx().body.payload.kind() }.into())
        }
    }
}

/// The member that owns an account: the part of its id before the first `/`.
pub fn account_owner(account: &AccountId) -> Option<MemberId> {
    let (owner, _) = account.as_str().split_once('/')?;
    MemberId::new(owner).ok()
}

fn run_transfer<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    transfer: &Transfer,
    sender_member: &MemberId,
) -> PayloadResult {
    if transfer.amount == 0 {
        return Ok(Err(Failure::Plain("transfer amount must be positive".into())));
    }
    if account_owner(&transfer.from).as_ref() != Some(sender_member) {
        return Ok(Err(Failure::Plain(format!(
            "account {} does not belong to the sender's member {sender_member}",
            transfer.from
        ))));
    }
    let Some(receiver) = account_owner(&transfer.to) else {
        return Ok(Err(Failure::Plain(format!("account {} names no member (expected member/name)", transfer.to))));
    };
    match overlay.get::<MemberState>(&StateKey::Member(receiver.clone()))? {
        Some(member) if member.status == covenant_types::MemberStatus::Active => {}
        _ => return Ok(Err(Failure::Plain(format!("receiving member {receiver} is not an active member")))),
    }
    let from_balance = overlay.balance(&transfer.from, &transfer.asset)?;
    let Some(new_from) = from_balance.checked_sub(transfer.amount) else {
        return Ok(Err(Failure::Plain(format!(
            "insufficient funds: {} holds {from_balance} {}, transfer needs {}",
            transfer.from, transfer.asset, transfer.amount
        ))));
    };
    overlay.put(&StateKey::Balance(transfer.from.clone(), transfer.asset.clone()), &new_from);
    let to_balance = overlay.balance(&transfer.to, &transfer.asset)?;
    let Some(new_to) = to_balance.checked_add(transfer.amount) else {
        return Ok(Err(Failure::Plain(format!("balance of {} would overflow", transfer.to))));
    };
    overlay.put(&StateKey::Balance(transfer.to.clone(), transfer.asset.clone()), &new_to);
    Ok(Ok(()))
}

/// COV-32: the record names a registered schema and follows it ([`schema::check_record`]).
fn run_data_record<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    tx_hash: Hash,
    record: &DataRecord,
) -> PayloadResult {
    let key = StateKey::Schema(record.schema.clone());
    let Some(definition) = overlay.get::<Vec<u8>>(&key)? else {
        return Ok(Err(Failure::Rule(Violation::UnknownSchema { schema: record.schema.clone() })));
    };
    // Registration checked the definition; one that no longer parses means a corrupt store.
    let definition = schema::SchemaDefinition::parse(&definition).map_err(|reason| StateError::Corrupt {
        key_hex: hex_of(&key.encode()),
        reason: format!("schema {}: {reason}", record.schema),
    })?;
    if let Err(violation) = schema::check_record(&record.schema, &definition, record.classification, &record.content) {
        return Ok(Err(Failure::Rule(violation)));
    }
    overlay.put(&StateKey::Record(tx_hash), record);
    Ok(Ok(()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn run_kyc<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    context: &BlockContext,
    attestation: &KycAttestation,
    sender_member: &MemberId,
) -> PayloadResult {
    if crate::account_owner(&attestation.account).as_ref() != Some(sender_member) {
        return Ok(Err(Failure::Plain(format!(
            "account {} does not belong to {sender_member}: a member attests KYC for its own customers only",
            attestation.account
        ))));
    }
    if !crate::checks::is_customer_account(&attestation.account) {
        return Ok(Err(Failure::Rule(Violation::KycNotCustomer { account: attestation.account.clone() })));
    }
    if attestation.expires_at_ms <= context.timestamp_ms {
        return Ok(Err(Failure::Plain(format!(
            "attestation expires at {} ms, not after the block time {} ms",
            attestation.expires_at_ms, context.timestamp_ms
        ))));
    }
    let state = KycState { attestation: attestation.clone(), member: sender_member.clone() };
    overlay.put(&StateKey::Kyc(attestation.account.clone()), &state);
    Ok(Ok(()))
}
