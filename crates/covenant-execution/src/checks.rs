//! Checks on a transaction's sender against the state: the same function runs at mempool admission
//! (against the latest committed state) and in block execution (against the state the block sees),
//! so a node never admits what its blocks would refuse, and vice versa.

use covenant_rules::checks::check_nonce;
use covenant_rules::{Violation, pii};
use covenant_types::{AccountId, MemberId, MemberStatus, Payload, Principal, Role, VerifiedTx};

use crate::execute::BlockContext;
use crate::governance;
use crate::state::{KycState, MemberState, NodeState, OperatorState, StateError, StateKey, StateReader, StateView};

/// Why a transaction cannot be included in a block at all (the block would be invalid).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TxInvalid {
    /// A covenant rule refuses it.
    #[error(transparent)]
    Violation(#[from] Violation),
    /// The payload kind is not executed by this version of the node.
    #[error("{kind} transactions are not executed by this node version")]
    Unsupported {
        /// Payload kind.
        kind: &'static str,
    },
    /// The state could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// The sender's record, as [`check_sender`] found it: handed on to [`check_payload`] and execution so
/// that a transaction reads and decodes its sender once per check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SenderRecord {
    /// An operator account.
    Operator(OperatorState),
    /// A node (it signs audit anchors only).
    Node(NodeState),
}

impl SenderRecord {
    /// The member the sender belongs to.
    pub fn member(&self) -> &MemberId {
        match self {
            SenderRecord::Operator(operator) => &operator.record.member,
            SenderRecord::Node(node) => &node.record.member,
        }
    }
}

/// Checks that the sender may send this transaction now: registered, active, signing with its
/// registered and unexpired key (COV-11, COV-17, COV-30), that node keys sign no operator actions
/// (COV-11), and that this node executes the payload kind. `now_ms` is the block timestamp (or, at
/// admission, the node's clock). Nonce order is checked separately ([`check_nonce_in_state`]) because
/// the mempool counts its own pending transactions too. Returns the sender's record for
/// [`check_payload`].
pub fn check_sender<S: StateReader + ?Sized>(
    state: &S,
    tx: &VerifiedTx,
    now_ms: u64,
) -> Result<SenderRecord, TxInvalid> {
    let body = &tx.tx().body;
    match &body.sender {
        Principal::Operator(operator_id) => {
            let Some(operator) = state.get_record::<OperatorState>(&StateKey::Operator(operator_id.clone()))? else {
                return Err(Violation::UnknownSender { sender: operator_id.to_string() }.into());
            };
            if operator.revoked {
                return Err(Violation::SenderRevoked { sender: operator_id.to_string() }.into());
            }
            if operator.record.key != tx.tx().signer {
                return Err(Violation::SignerNotRegisteredKey {
                    sender: operator_id.to_string(),
                    signer: tx.tx().signer.to_hex(),
                }
                .into());
            }
            if now_ms >= operator.record.key_expires_at_ms {
                return Err(Violation::KeyExpired {
                    operator: operator_id.clone(),
                    expires_at_ms: operator.record.key_expires_at_ms,
                    now_ms,
                }
                .into());
            }
            let member = state.get_record::<MemberState>(&StateKey::Member(operator.record.member.clone()))?;
            match member {
                Some(member) if member.status == MemberStatus::Active => Ok(SenderRecord::Operator(operator)),
                _ => Err(Violation::MemberNotActive { member: operator.record.member.clone() }.into()),
            }
        }
        Principal::Node(node_id) => {
            // Node (system) keys never sign operator or governance actions (COV-11): the only
            // transaction a node signs, with its consensus key, is an audit anchor.
            if !matches!(body.payload, Payload::AuditAnchor(_)) {
                return Err(Violation::NodeKeyForbidden { node: node_id.clone(), kind: body.payload.kind() }.into());
            }
            let node = match state.get_record::<NodeState>(&StateKey::Node(node_id.clone()))? {
                Some(node) if !node.removed => node,
                _ => return Err(Violation::UnknownSender { sender: node_id.to_string() }.into()),
            };
            if node.record.consensus_key != tx.tx().signer {
                return Err(Violation::SignerNotRegisteredKey {
                    sender: node_id.to_string(),
                    signer: tx.tx().signer.to_hex(),
                }
                .into());
            }
            match state.get_record::<MemberState>(&StateKey::Member(node.record.member.clone()))? {
                Some(member) if member.status == MemberStatus::Active => Ok(SenderRecord::Node(node)),
                _ => Err(Violation::MemberNotActive { member: node.record.member }.into()),
            }
        }
    }
}

/// The role a payload kind needs (COV-12), or `None` when no one role decides:
/// * a contract call is allowed to any operator the called function's access policy admits (COV-31,
///   checked by [`crate::contracts::check_call`]): the members chose who may call each function when
///   they admitted the contract, and a policy may name roles, members, operators or contracts;
/// * an audit anchor is signed by a node key, never by an operator ([`check_payload`] refuses it).
pub fn required_role(payload: &Payload) -> Option<Role> {
    match payload {
        Payload::Transfer(_) | Payload::DataRecord(_) | Payload::KycAttestation(_) => Some(Role::Submitter),
        Payload::GovernancePropose(_)
        | Payload::GovernanceApprove(_)
        | Payload::GovernanceReject(_)
        | Payload::GovernanceWithdraw(_) => Some(Role::Admin),
        Payload::ContractCall(_) | Payload::AuditAnchor(_) => None,
    }
}

/// COV-33: a node's anchors move its anchored audit head strictly forward.
fn check_anchor<S: StateReader + ?Sized>(
    state: &S,
    node: &covenant_types::NodeId,
    anchor: &covenant_types::AuditAnchor,
) -> Result<(), TxInvalid> {
    if let Some(last) = state.get::<u64>(&StateKey::LastAuditAnchor(node.clone()))?
        && anchor.sequence <= last
    {
        return Err(Violation::AnchorOutOfOrder { node: node.clone(), sequence: anchor.sequence, last }.into());
    }
    Ok(())
}

/// Checks what the payload asks against the state, before anything runs: the sender's role
/// (COV-12), KYC of the customer accounts it touches (COV-07: transfer sides, a record's subject,
/// accounts named in a contract call's input), personal data in plaintext and customer data without
/// its customer (COV-37),
/// governance steps (COV-12, COV-15, COV-16), and a contract call's contract, limits and access
/// policy (COV-27, COV-28, COV-29, COV-31). Runs at admission (with the next block's height
/// and the node's clock) and in block execution, so both refuse the same transactions. `sender` is
/// what [`check_sender`] returned for `tx`.
pub fn check_payload<S: StateView + ?Sized>(
    state: &S,
    tx: &VerifiedTx,
    sender: &SenderRecord,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    let body = &tx.tx().body;
    let operator_id = match (&body.sender, &body.payload) {
        (Principal::Node(node), Payload::AuditAnchor(anchor)) => return check_anchor(state, node, anchor),
        (Principal::Node(node), _) => {
            return Err(Violation::NodeKeyForbidden { node: node.clone(), kind: body.payload.kind() }.into());
        }
        (Principal::Operator(operator), Payload::AuditAnchor(_)) => {
            return Err(
                Violation::NodeOnlyAction { operator: operator.clone(), kind: body.payload.kind().into() }.into()
            );
        }
        (Principal::Operator(operator), _) => operator,
    };
    let SenderRecord::Operator(operator) = sender else {
        return Err(Violation::UnknownSender { sender: operator_id.to_string() }.into());
    };
    if let Some(role) = required_role(&body.payload)
        && !operator.record.roles.contains(&role)
    {
        return Err(
            Violation::MissingRole { operator: operator_id.clone(), role, kind: body.payload.kind().into() }.into()
        );
    }
    let now_ms = context.timestamp_ms;
    match &body.payload {
        Payload::Transfer(transfer) => {
            for account in [&transfer.from, &transfer.to] {
                check_kyc(state, account, now_ms)?;
            }
            pii::check_plaintext("transfer memo", transfer.memo.as_bytes())?;
        }
        Payload::DataRecord(record) => {
            pii::check_record_subject(record.subject.as_ref(), record.classification)?;
            if let Some(subject) = &record.subject {
                check_kyc(state, subject, now_ms)?;
            }
            pii::check_record_content(record.classification, &record.content)?;
        }
        Payload::KycAttestation(_) | Payload::AuditAnchor(_) => {}
        Payload::ContractCall(call) => crate::contracts::check_call(state, operator, call, now_ms)?,
        Payload::GovernancePropose(proposal) => governance::check_propose(state, proposal, context)?,
        Payload::GovernanceApprove(id) | Payload::GovernanceReject(id) => {
            let vote = governance::voter(operator_id, state, context.height)?;
            governance::check_vote(state, id, &vote, now_ms)?;
        }
        Payload::GovernanceWithdraw(id) => {
            governance::check_withdraw(state, id, operator_id, now_ms)?;
        }
    }
    Ok(())
}

pub use covenant_rules::pii::{CUSTOMER_SEGMENT, is_customer_account};

/// COV-07: a customer account needs an unexpired KYC attestation by the member that owns it. Every
/// path that touches an account goes through here: transfers (both sides), data records (the
/// subject), contract calls (accounts named in the input, and in what the call writes, emits and
/// returns).
pub fn check_kyc<S: StateReader + ?Sized>(state: &S, account: &AccountId, now_ms: u64) -> Result<(), TxInvalid> {
    if !is_customer_account(account) {
        return Ok(());
    }
    match state.get::<KycState>(&StateKey::Kyc(account.clone()))? {
        Some(kyc)
            if kyc.attestation.expires_at_ms > now_ms
                && Some(&kyc.member) == crate::account_owner(account).as_ref() =>
        {
            Ok(())
        }
        _ => Err(Violation::KycMissing { account: account.clone() }.into()),
    }
}

/// COV-34: the transaction's nonce is the sender's next one in `state`.
pub fn check_nonce_in_state<S: StateReader + ?Sized>(state: &S, tx: &VerifiedTx) -> Result<(), TxInvalid> {
    let body = &tx.tx().body;
    check_nonce(body.nonce, state.next_nonce(&body.sender)?)?;
    Ok(())
}
