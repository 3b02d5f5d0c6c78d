//! Checks on a transaction's sender against the state: the same function runs at mempool admission
//! (against the latest committed state) and in block execution (against the state the block sees),
//! so a node never admits what its blocks would refuse, and vice versa.

use covenant_rules::Violation;
use covenant_rules::checks::check_nonce;
use covenant_types::{MemberStatus, Payload, Principal, VerifiedTx};

use crate::state::{MemberState, OperatorState, StateError, StateKey, StateReader};

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

/// Checks that the sender may send this transaction now: registered, active, signing with its
/// registered and unexpired key (COV-11, COV-17, COV-30), that node keys sign no operator actions
/// (COV-11), and that this node executes the payload kind. `now_ms` is the block timestamp (or, at
/// admission, the node's clock). Nonce order is checked separately ([`check_nonce_in_state`]) because
/// the mempool counts its own pending transactions too.
pub fn check_sender<S: StateReader + ?Sized>(state: &S, tx: &VerifiedTx, now_ms: u64) -> Result<(), TxInvalid> {
    let body = &tx.tx().body;
    match &body.sender {
        Principal::Operator(operator_id) => {
            let Some(operator) = state.get::<OperatorState>(&StateKey::Operator(operator_id.clone()))? else {
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
            let member = state.get::<MemberState>(&StateKey::Member(operator.record.member.clone()))?;
            match member {
                Some(member) if member.status == MemberStatus::Active => {}
                _ => {
                    return Err(Violation::MemberNotActive { member: operator.record.member.clone() }.into());
                }
            }
        }
        Principal::Node(node_id) => {
            // Node (system) keys never sign operator or governance actions (COV-11). The only
            // transaction a node will sign, audit anchoring, arrives with the audit issue.
            return Err(Violation::NodeKeyForbidden { node: node_id.clone(), kind: body.payload.kind() }.into());
        }
    }
    match body.payload {
        Payload::Transfer(_) | Payload::DataRecord(_) | Payload::KycAttestation(_) => Ok(()),
        _ => Err(TxInvalid::Unsupported { kind: body.payload.kind() }),
    }
}

/// COV-34: the transaction's nonce is the sender's next one in `state`.
pub fn check_nonce_in_state<S: StateReader + ?Sized>(state: &S, tx: &VerifiedTx) -> Result<(), TxInvalid> {
    let body = &tx.tx().body;
    check_nonce(body.nonce, state.next_nonce(&body.sender)?)?;
    Ok(())
}
