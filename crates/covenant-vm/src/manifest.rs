//! The contract manifest: what an admit-contract proposal says about the code it carries.
//!
//! A manifest names the contract and its version, the member that owns it and the operator who stewards
//! it (COV-26), and every function the module exports with the access policy that decides who may call
//! it (COV-31). The members vote on code and manifest together; both are fixed at admission, so nobody
//! can widen a function's access afterwards without another vote.
//!
//! The manifest travels inside `GovernanceAction::AdmitContract` as canonical BCS bytes
//! ([`Manifest::encode`], [`Manifest::decode`]); in files (the CLI's `contract propose`) it is TOML or
//! JSON with the same field names.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use thiserror::Error;

use covenant_rules::RuleId;
use covenant_types::{ContractId, DecodeError, MemberId, OperatorId, Role};

use crate::limits::{
    CONTRACT_NAME_BYTES_MAX, CONTRACT_VERSION_BYTES_MAX, FUNCTION_NAME_BYTES_MAX, FUNCTIONS_MAX,
    GRANTS_PER_FUNCTION_MAX, MANIFEST_BYTES_MAX,
};

/// Export name reserved for the contract's linear memory; no function may take it.
pub const MEMORY_EXPORT: &str = "memory";

/// What an admit-contract proposal says about its code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Human-readable name, e.g. `interbank settlement escrow` (printable ASCII, at most 64 bytes).
    pub name: String,
    /// Version, e.g. `1.2.0` (`[A-Za-z0-9.+-]`, at most 32 bytes).
    pub version: String,
    /// The member responsible for the contract (COV-26).
    pub owner: MemberId,
    /// The operator who stewards it (COV-26); the executor checks that they belong to `owner` and hold
    /// the contract-steward role.
    pub steward: OperatorId,
    /// Every exported function, each with its access policy (COV-31). The module must export exactly
    /// these functions.
    pub functions: Vec<FunctionSpec>,
}

/// One exported function and who may call it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Export name (`[A-Za-z_][A-Za-z0-9_]*`, at most 64 bytes, not `memory`).
    pub name: String,
    /// Who may call it (COV-31).
    pub access: AccessPolicy,
    /// A read-only function may not write storage, emit events or call a function that is not itself
    /// read-only; such functions can also serve queries outside transactions.
    #[serde(default)]
    pub read_only: bool,
}

/// Who may call a function: a caller is allowed when any one grant matches (COV-31). An empty policy is
/// refused at admission: every function must say who may call it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessPolicy {
    /// The grants, any of which admits a caller.
    pub allow: Vec<Grant>,
}

/// One way to be allowed to call a function.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Grant {
    /// Any registered, active operator (the executor admits only those as senders).
    AnyOperator,
    /// An operator holding this role, at any member.
    Role(Role),
    /// Any operator of this member.
    Member(MemberId),
    /// An operator of this member holding this role.
    MemberRole {
        /// The member.
        member: MemberId,
        /// The role.
        role: Role,
    },
    /// This one operator.
    Operator(OperatorId),
    /// This contract, calling from its own code (a contract-to-contract call).
    Contract(ContractId),
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::AnyOperator => f.write_str("any operator"),
            Grant::Role(role) => write!(f, "role {role:?}"),
            Grant::Member(member) => write!(f, "member {member}"),
            Grant::MemberRole { member, role } => write!(f, "role {role:?} at member {member}"),
            Grant::Operator(operator) => write!(f, "operator {operator}"),
            Grant::Contract(contract) => write!(f, "contract {contract}"),
        }
    }
}

/// Why a manifest was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ManifestError {
    /// The bytes are not a canonical manifest.
    #[error("contract manifest does not decode: {0}")]
    Decode(#[from] DecodeError),
    /// The encoded manifest is longer than allowed.
    #[error("contract manifest is {len_bytes} bytes encoded, above the limit of {max_bytes}")]
    TooLarge {
        /// Encoded length.
        len_bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// The contract name is empty, too long or not printable ASCII.
    #[error("contract name {name:?} is invalid: {reason}")]
    Name {
        /// The name (cut to a readable length).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The version is empty, too long or uses other characters than `[A-Za-z0-9.+-]`.
    #[error("contract version {version:?} is invalid: {reason}")]
    Version {
        /// The version (cut to a readable length).
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// No function, or more than allowed.
    #[error("a manifest lists between 1 and {max} functions; this one lists {count}")]
    FunctionCount {
        /// Functions listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A function name that cannot be an export name of a contract.
    #[error("function name {name:?} is invalid: {reason}")]
    FunctionName {
        /// The name (cut to a readable length).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two functions with one name.
    #[error("function {name:?} is listed twice")]
    DuplicateFunction {
        /// The name.
        name: String,
    },
    /// A function whose policy allows nobody (COV-31: every function defines its access).
    #[error("function {function:?} has an empty access policy: every function must say who may call it")]
    EmptyPolicy {
        /// The function.
        function: String,
    },
    /// More grants than allowed on one function.
    #[error("function {function:?} lists {count} grants, above the limit of {max}")]
    TooManyGrants {
        /// The function.
        function: String,
        /// Grants listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The same grant twice on one function.
    #[error("function {function:?} lists the grant {grant} twice")]
    DuplicateGrant {
        /// The function.
        function: String,
        /// The grant.
        grant: String,
    },
}

impl ManifestError {
    /// The covenant rule the refusal enforces.
    pub fn rule(&self) -> RuleId {
        match self {
            ManifestError::EmptyPolicy { .. }
            | ManifestError::TooManyGrants { .. }
            | ManifestError::DuplicateGrant { .. } => RuleId::FunctionAcl,
            ManifestError::TooLarge { .. } => RuleId::ContractLimits,
            ManifestError::Decode(_)
            | ManifestError::Name { .. }
            | ManifestError::Version { .. }
            | ManifestError::FunctionCount { .. }
            | ManifestError::FunctionName { .. }
            | ManifestError::DuplicateFunction { .. } => RuleId::ContractAdmission,
        }
    }
}

/// Text of at most `max` characters for an error message.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Checks a function name: the rule both the manifest and `call_contract` apply.
pub(crate) fn check_function_name(name: &str) -> Result<(), ManifestError> {
    let fail = |reason: &str| Err(ManifestError::FunctionName { name: cut(name, 80), reason: reason.to_string() });
    if name.is_empty() {
        return fail("must not be empty");
    }
    if name.len() > FUNCTION_NAME_BYTES_MAX {
        return fail(&format!("{} bytes exceeds the limit of {FUNCTION_NAME_BYTES_MAX}", name.len()));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        return fail("must start with a letter or '_'");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return fail("use only A-Z, a-z, 0-9 and '_'");
    }
    if name == MEMORY_EXPORT {
        return fail("\"memory\" is the export name of the contract's linear memory");
    }
    Ok(())
}

impl Manifest {
    /// Canonical bytes (BCS), as carried in an admit-contract proposal.
    pub fn encode(&self) -> Vec<u8> {
        covenant_types::encode(self)
    }

    /// Decodes and validates untrusted manifest bytes.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = covenant_types::decode("contract manifest", bytes, MANIFEST_BYTES_MAX)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The function named `name`, if the manifest lists it.
    pub fn function(&self, name: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|function| function.name == name)
    }

    /// Checks every rule a manifest must meet, returning the first broken one.
    pub fn validate(&self) -> Result<(), ManifestError> {
        self.check_name()?;
        self.check_version()?;
        if self.functions.is_empty() || self.functions.len() > FUNCTIONS_MAX {
            return Err(ManifestError::FunctionCount { count: self.functions.len(), max: FUNCTIONS_MAX });
        }
        let mut names = BTreeSet::new();
        for function in &self.functions {
            check_function_name(&function.name)?;
            if !names.insert(function.name.as_str()) {
                return Err(ManifestError::DuplicateFunction { name: function.name.clone() });
            }
            function.access.check(&function.name)?;
        }
        let len_bytes = self.encode().len();
        if len_bytes > MANIFEST_BYTES_MAX {
            return Err(ManifestError::TooLarge { len_bytes, max_bytes: MANIFEST_BYTES_MAX });
        }
        Ok(())
    }

    fn check_name(&self) -> Result<(), ManifestError> {
        let fail = |reason: String| Err(ManifestError::Name { name: cut(&self.name, 80), reason });
        if self.name.trim().is_empty() {
            return fail("must not be empty".into());
        }
        if self.name.len() > CONTRACT_NAME_BYTES_MAX {
            return fail(format!("{} bytes exceeds the limit of {CONTRACT_NAME_BYTES_MAX}", self.name.len()));
        }
        if !self.name.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return fail("use printable ASCII only".into());
        }
        if self.name.trim() != self.name {
            return fail("must not start or end with a space".into());
        }
        Ok(())
    }

    fn check_version(&self) -> Result<(), ManifestError> {
        let fail = |reason: String| Err(ManifestError::Version { version: cut(&self.version, 80), reason });
        if self.version.is_empty() {
            return fail("must not be empty".into());
        }
        if self.version.len() > CONTRACT_VERSION_BYTES_MAX {
            return fail(format!("{} bytes exceeds the limit of {CONTRACT_VERSION_BYTES_MAX}", self.version.len()));
        }
        if !self.version.chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c)) {
            return fail("use only A-Z, a-z, 0-9, '.', '+' and '-'".into());
        }
        Ok(())
    }
}

impl AccessPolicy {
    /// A policy allowing exactly these grants.
    pub fn allow(grants: impl IntoIterator<Item = Grant>) -> AccessPolicy {
        AccessPolicy { allow: grants.into_iter().collect() }
    }

    fn check(&self, function: &str) -> Result<(), ManifestError> {
        if self.allow.is_empty() {
            return Err(ManifestError::EmptyPolicy { function: function.to_string() });
        }
        if self.allow.len() > GRANTS_PER_FUNCTION_MAX {
            return Err(ManifestError::TooManyGrants {
                function: function.to_string(),
                count: self.allow.len(),
                max: GRANTS_PER_FUNCTION_MAX,
            });
        }
        let mut seen = BTreeSet::new();
        for grant in &self.allow {
            if !seen.insert(grant) {
                return Err(ManifestError::DuplicateGrant { function: function.to_string(), grant: grant.to_string() });
            }
        }
        Ok(())
    }
}
