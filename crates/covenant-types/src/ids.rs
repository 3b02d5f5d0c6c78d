//! Identifiers: chain, member, person, operator, node, account, asset, schema, contract.
//!
//! All are short ASCII names checked when they are created or decoded, so an id that reached a
//! transaction, a config or the state is always well formed. Names are what an operator reads in a
//! log line; keys are carried separately.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Longest identifier accepted, in bytes.
pub const ID_BYTES_MAX: usize = 64;

/// An identifier that is empty, too long or uses a character outside `[a-z0-9._-]` (plus `/` in
/// account ids).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct IdError {
    /// Which kind of id.
    pub kind: &'static str,
    /// The offending text (cut to a readable length).
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

fn check_id(kind: &'static str, value: &str, extra: &[char]) -> Result<(), IdError> {
    let fail = |reason: String| Err(IdError { kind, value: value.chars().take(ID_BYTES_MAX + 8).collect(), reason });
    if value.is_empty() {
        return fail("must not be empty".into());
    }
    if value.len() > ID_BYTES_MAX {
        return fail(format!("{} bytes exceeds the limit of {ID_BYTES_MAX}", value.len()));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) || extra.contains(&c);
    if let Some(bad) = value.chars().find(|c| !allowed(*c)) {
        return fail(format!(
            "character {bad:?} not allowed (use a-z, 0-9, '.', '_', '-'{})",
            extra.iter().map(|c| format!(", {c:?}")).collect::<String>()
        ));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return fail("must start with a letter or digit".into());
    }
    Ok(())
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $extra:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                check_id($kind, &value, $extra)?;
                Ok(Self(value))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }
    };
}

define_id!(
    /// The chain's name. Part of every signature's domain (COV-19), so a signature made for one
    /// chain (say `consortium-test`) can never be valid on another (`consortium-prod`).
    ChainId, "chain id", &[]
);
define_id!(
    /// A member institution (a bank).
    MemberId, "member id", &[]
);
define_id!(
    /// A natural person at a member (COV-10: one person, one active operator account).
    PersonId, "person id", &[]
);
define_id!(
    /// An operator account: one person's signing identity.
    OperatorId, "operator id", &[]
);
define_id!(
    /// A validator or observer node.
    NodeId, "node id", &[]
);
define_id!(
    /// A ledger account (a member's own or a customer's); `/` allowed to scope it, e.g. `bank-a/cust-7`.
    AccountId, "account id", &['/']
);
define_id!(
    /// An asset code such as `twd` or `usd`.
    AssetId, "asset id", &[]
);
define_id!(
    /// A registered data-record schema (COV-32), e.g. `kyc-summary.v1`.
    SchemaId, "schema id", &[]
);
define_id!(
    /// A contract admitted by governance.
    ContractId, "contract id", &[]
);
