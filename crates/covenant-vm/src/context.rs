//! Who calls, in which block, and the contract call stack.

use serde::{Deserialize, Serialize};
use std::fmt;

use covenant_types::{ContractId, MemberId, OperatorId, PersonId, Role};

use crate::error::VmError;
use crate::limits::CALL_DEPTH_MAX;
use crate::manifest::{AccessPolicy, Grant};

/// The operator who signed a contract-call transaction, as the executor found them in the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorIdentity {
    /// The operator account.
    pub operator: OperatorId,
    /// The person behind it.
    pub person: PersonId,
    /// Their member.
    pub member: MemberId,
    /// Their roles.
    pub roles: Vec<Role>,
}

/// The immediate caller of a contract function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Caller {
    /// An operator's transaction called the function.
    Operator(OperatorIdentity),
    /// Another contract called it from its code.
    Contract(ContractId),
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::Operator(identity) => write!(f, "operator {} of member {}", identity.operator, identity.member),
            Caller::Contract(contract) => write!(f, "contract {contract}"),
        }
    }
}

impl Grant {
    /// Whether this grant admits `caller`.
    pub fn admits(&self, caller: &Caller) -> bool {
        match (self, caller) {
            (Grant::AnyOperator, Caller::Operator(_)) => true,
            (Grant::Role(role), Caller::Operator(identity)) => identity.roles.contains(role),
            (Grant::Member(member), Caller::Operator(identity)) => identity.member == *member,
            (Grant::MemberRole { member, role }, Caller::Operator(identity)) => {
                identity.member == *member && identity.roles.contains(role)
            }
            (Grant::Operator(operator), Caller::Operator(identity)) => identity.operator == *operator,
            (Grant::Contract(contract), Caller::Contract(calling)) => contract == calling,
            _ => false,
        }
    }
}

impl AccessPolicy {
    /// Whether any grant admits `caller` (COV-31).
    pub fn allows(&self, caller: &Caller) -> bool {
        self.allow.iter().any(|grant| grant.admits(caller))
    }
}

/// The block a call executes in: the only notion of time a contract has (from the header, never a clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// Height of the block being executed.
    pub height: u64,
    /// Its header timestamp, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Everything a top-level call needs to know besides the function and its input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallContext {
    /// The contract called.
    pub contract: ContractId,
    /// The operator whose transaction calls it.
    pub caller: Caller,
    /// The block.
    pub block: BlockInfo,
}

/// The contracts whose frames are running, outermost first. The one place where the call-depth limit and
/// the re-entrancy rule (COV-29-NO-REENTRANCY) are checked: the runtime checks it before entering every
/// frame, the top-level one included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallStack {
    frames: Vec<ContractId>,
}

impl CallStack {
    /// An empty stack.
    pub fn new() -> CallStack {
        CallStack::default()
    }

    /// Frames on the stack.
    pub fn depth(&self) -> usize {
        self.frames.len()
    }

    /// The contracts on the stack, outermost first.
    pub fn frames(&self) -> &[ContractId] {
        &self.frames
    }

    /// Whether `contract` is on the stack.
    pub fn contains(&self, contract: &ContractId) -> bool {
        self.frames.contains(contract)
    }

    /// Checks that `contract` may be entered: it is not on the stack already (no re-entrancy, a contract
    /// calling itself included) and one more frame stays within [`CALL_DEPTH_MAX`].
    pub fn check_enter(&self, contract: &ContractId) -> Result<(), VmError> {
        if self.contains(contract) {
            return Err(VmError::Reentrancy {
                contract: contract.clone(),
                stack: self.frames.iter().map(ToString::to_string).collect(),
            });
        }
        let depth = self.frames.len().saturating_add(1);
        if depth > CALL_DEPTH_MAX {
            return Err(VmError::CallDepthExceeded {
                contract: contract.clone(),
                depth: depth as u64,
                max: CALL_DEPTH_MAX as u64,
            });
        }
        Ok(())
    }

    /// Checks ([`CallStack::check_enter`]) and pushes `contract`.
    pub fn enter(&mut self, contract: &ContractId) -> Result<(), VmError> {
        self.check_enter(contract)?;
        self.frames.push(contract.clone());
        Ok(())
    }

    /// Pops the innermost frame (when it returns or fails).
    pub fn leave(&mut self) {
        self.frames.pop();
    }
}
