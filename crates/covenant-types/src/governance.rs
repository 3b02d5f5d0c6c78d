//! Governance actions and the identities they manage. Execution rules (thresholds, the two-person
//! rule, expiry) live in `covenant-execution` and `covenant-rules`; this module only names the data.

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::hash::Hash;
use crate::ids::{ContractId, MemberId, NodeId, OperatorId, PersonId, SchemaId};

/// A proposal is named by the hash of the transaction that opened it.
pub type ProposalId = Hash;

/// An operator's role (COV-12). Some combinations are forbidden (see `covenant-rules`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Proposes and approves governance actions for their member.
    Admin,
    /// Submits transfers, data records and KYC attestations.
    Submitter,
    /// Reads the audit trail.
    Auditor,
    /// Responsible for a contract (COV-26).
    ContractSteward,
}

/// What a node does in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// Takes part in consensus.
    Validator,
    /// Follows the chain without voting.
    Observer,
}

/// A member's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// May act.
    Active,
    /// Temporarily barred (by vote, or because its jurisdiction became sanctioned, COV-06).
    Suspended,
    /// Gone for good.
    Removed,
}

/// An ISO 3166-1 alpha-2 country code, upper case (e.g. `TW`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Jurisdiction(String);

impl Jurisdiction {
    /// Checks the shape of an ISO 3166-1 alpha-2 code.
    pub fn new(code: impl Into<String>) -> Result<Jurisdiction, String> {
        let code = code.into();
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Jurisdiction(code))
        } else {
            Err(format!(
                "jurisdiction {code:?} is not an ISO 3166-1 alpha-2 code (two upper-case letters, e.g. \"TW\")"
            ))
        }
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Jurisdiction {
    type Error = String;
    fn try_from(code: String) -> Result<Self, String> {
        Jurisdiction::new(code)
    }
}

impl From<Jurisdiction> for String {
    fn from(code: Jurisdiction) -> String {
        code.0
    }
}

impl std::fmt::Display for Jurisdiction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered operator as carried in a governance action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRecord {
    /// Account id.
    pub id: OperatorId,
    /// The person behind it (COV-10).
    pub person: PersonId,
    /// The member it works for.
    pub member: MemberId,
    /// Roles granted.
    pub roles: Vec<Role>,
    /// Signing key.
    pub key: PublicKey,
    /// Block time after which the key is no longer accepted (COV-11).
    pub key_expires_at_ms: u64,
}

/// A node as carried in a governance action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Node id.
    pub id: NodeId,
    /// Owning member.
    pub member: MemberId,
    /// Validator or observer.
    pub role: NodeRole,
    /// libp2p identity key (ed25519), checked at connection (COV-20).
    pub network_key: PublicKey,
    /// Key that signs consensus messages and commit seals.
    pub consensus_key: PublicKey,
}

/// Everything governance can change (COV-15: nothing else changes these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GovernanceAction {
    /// Admit a new member.
    AdmitMember {
        /// Member id.
        member: MemberId,
        /// Display name.
        name: String,
        /// Where it operates (COV-06).
        jurisdiction: Jurisdiction,
    },
    /// Suspend a member.
    SuspendMember(MemberId),
    /// Remove a member.
    RemoveMember(MemberId),
    /// Replace the sanctioned-jurisdiction list (COV-06).
    SetSanctionedJurisdictions(Vec<Jurisdiction>),
    /// Register an operator account.
    RegisterOperator(OperatorRecord),
    /// Revoke an operator account (COV-17), effective from the next block.
    RevokeOperator(OperatorId),
    /// Replace an operator's key (COV-41).
    RotateOperatorKey {
        /// The operator.
        operator: OperatorId,
        /// New key.
        key: PublicKey,
        /// New expiry.
        key_expires_at_ms: u64,
    },
    /// Add a validator or observer node.
    AddNode(NodeRecord),
    /// Remove a node.
    RemoveNode(NodeId),
    /// Change a chain parameter by name, within its covenant bounds.
    SetParameter {
        /// Parameter name as in `ChainParams`.
        name: String,
        /// New value.
        value: u64,
    },
    /// Change the approval threshold of a class of actions.
    SetThreshold {
        /// Action class name.
        class: String,
        /// Members required.
        members: u32,
    },
    /// Register a data-record schema (COV-32). The definition is carried in full (at most 16 KiB,
    /// checked by `covenant_rules::schema`), so every validator checks records against it; its SHA-256
    /// is what members compare off chain.
    RegisterSchema {
        /// Schema id.
        schema: SchemaId,
        /// The schema definition (JSON, `docs/data-records.md`).
        definition: Vec<u8>,
    },
    /// Admit a contract (COV-28); code and manifest are carried in full.
    AdmitContract {
        /// Contract id.
        contract: ContractId,
        /// WASM module.
        code: Vec<u8>,
        /// Encoded manifest (functions, access policies, owner, steward).
        manifest: Vec<u8>,
    },
    /// Pause a contract (COV-27).
    PauseContract(ContractId),
    /// Resume a paused contract.
    ResumeContract(ContractId),
    /// Retire a contract for good.
    RetireContract(ContractId),
    /// Make an observer a validator or a validator an observer (the set changes from the next height).
    ChangeNodeRole {
        /// The node.
        node: NodeId,
        /// Its new role.
        role: NodeRole,
    },
    /// Replace an admitted (or paused) contract's code and manifest (COV-27); its id, storage and
    /// status stay, and the vote pins the new code's hash (COV-28). Added last: BCS numbers variants.
    UpgradeContract {
        /// Contract id.
        contract: ContractId,
        /// The new WASM module.
        code: Vec<u8>,
        /// The new encoded manifest.
        manifest: Vec<u8>,
    },
    /// Revoke an operator at once on suspected compromise (COV-41): the emergency class, whose lower
    /// threshold still needs two members and the two-person rule. Added last: BCS numbers variants.
    EmergencyRevokeOperator(OperatorId),
}

impl GovernanceAction {
    /// The action's variant name, e.g. `SetParameter`: a short subject for the audit log that does
    /// not format the action's contents (a contract's code can be a megabyte).
    pub fn name(&self) -> &'static str {
        match self {
            GovernanceAction::AdmitMember { .. } => "AdmitMember",
            GovernanceAction::SuspendMember { .. } => "SuspendMember",
            GovernanceAction::RemoveMember { .. } => "RemoveMember",
            GovernanceAction::SetSanctionedJurisdictions { .. } => "SetSanctionedJurisdictions",
            GovernanceAction::RegisterOperator { .. } => "RegisterOperator",
            GovernanceAction::RevokeOperator { .. } => "RevokeOperator",
            GovernanceAction::RotateOperatorKey { .. } => "RotateOperatorKey",
            GovernanceAction::AddNode { .. } => "AddNode",
            GovernanceAction::RemoveNode { .. } => "RemoveNode",
            GovernanceAction::SetParameter { .. } => "SetParameter",
            GovernanceAction::SetThreshold { .. } => "SetThreshold",
            GovernanceAction::RegisterSchema { .. } => "RegisterSchema",
            GovernanceAction::AdmitContract { .. } => "AdmitContract",
            GovernanceAction::PauseContract { .. } => "PauseContract",
            GovernanceAction::ResumeContract { .. } => "ResumeContract",
            GovernanceAction::RetireContract { .. } => "RetireContract",
            GovernanceAction::ChangeNodeRole { .. } => "ChangeNodeRole",
            GovernanceAction::UpgradeContract { .. } => "UpgradeContract",
            GovernanceAction::EmergencyRevokeOperator { .. } => "EmergencyRevokeOperator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant's name is the name its `Debug` form starts with, and no two are the same.
    #[test]
    fn action_names_are_the_variant_names() {
        let member = MemberId::new("bank-a").unwrap();
        let operator = OperatorId::new("bank-a.ops").unwrap();
        let node = NodeId::new("node-a").unwrap();
        let contract = ContractId::new("escrow").unwrap();
        let key = crate::SecretKey::from_seed(&[1; 32]).public_key();
        let jurisdiction = Jurisdiction::new("TW").unwrap();
        let actions = [
            GovernanceAction::AdmitMember {
                member: member.clone(),
                name: "Bank A".into(),
                jurisdiction: jurisdiction.clone(),
            },
            GovernanceAction::SuspendMember(member.clone()),
            GovernanceAction::RemoveMember(member.clone()),
            GovernanceAction::SetSanctionedJurisdictions(vec![jurisdiction]),
            GovernanceAction::RegisterOperator(OperatorRecord {
                id: operator.clone(),
                person: PersonId::new("alice").unwrap(),
                member: member.clone(),
                roles: vec![Role::Submitter],
                key,
                key_expires_at_ms: 1,
            }),
            GovernanceAction::RevokeOperator(operator.clone()),
            GovernanceAction::RotateOperatorKey { operator: operator.clone(), key, key_expires_at_ms: 1 },
            GovernanceAction::AddNode(NodeRecord {
                id: node.clone(),
                member,
                role: NodeRole::Validator,
                network_key: key,
                consensus_key: key,
            }),
            GovernanceAction::RemoveNode(node.clone()),
            GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 5 },
            GovernanceAction::SetThreshold { class: "membership".into(), members: 2 },
            GovernanceAction::RegisterSchema { schema: SchemaId::new("demo.v1").unwrap(), definition: b"{}".to_vec() },
            GovernanceAction::AdmitContract { contract: contract.clone(), code: vec![0], manifest: vec![1] },
            GovernanceAction::PauseContract(contract.clone()),
            GovernanceAction::ResumeContract(contract.clone()),
            GovernanceAction::RetireContract(contract.clone()),
            GovernanceAction::ChangeNodeRole { node, role: NodeRole::Observer },
            GovernanceAction::UpgradeContract { contract, code: vec![0], manifest: vec![1] },
            GovernanceAction::EmergencyRevokeOperator(operator),
        ];
        let mut names = std::collections::BTreeSet::new();
        for action in &actions {
            let debug = format!("{action:?}");
            let variant = debug.split(['(', ' ', '{']).next().unwrap_or_default();
            assert_eq!(action.name(), variant);
            assert!(names.insert(action.name()), "{} named twice", action.name());
        }
        assert_eq!(names.len(), 19, "every variant is listed here");
    }
}
