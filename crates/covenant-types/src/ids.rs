//! Identifiers: chain, member, person, operator, node, account, asset, schema, contract.
//!
//! All are short ASCII names checked when they are created or decoded, so an id that reached a
//! transaction, a config or the state is always well formed. Names are what an operator reads in a
//! log line; keys are carried separately.

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    // Every id of every transaction is checked when it is decoded, so the common case, a well-formed
    // id, is one pass over its bytes; the reasons are worked out only for a bad one.
    let allowed_byte = |b: u8| {
        b.is_ascii_lowercase()
            || b.is_ascii_digit()
            || matches!(b, b'.' | b'_' | b'-')
            || extra.contains(&char::from(b))
    };
    let bytes = value.as_bytes();
    if (1..=ID_BYTES_MAX).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|&b| allowed_byte(b))
    {
        return Ok(());
    }
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

/// `value` checked as an id of kind `kind` and stored inline (when short enough).
fn checked_id(kind: &'static str, value: &str, extra: &[char]) -> Result<CompactString, IdError> {
    check_id(kind, value, extra)?;
    Ok(CompactString::new(value))
}

/// Deserializes an id of kind `kind` from a string, borrowing the input's bytes where the format
/// allows it (BCS from a byte slice does), so that a short id is checked and stored inline without
/// a heap allocation.
struct IdVisitor {
    kind: &'static str,
    extra: &'static [char],
}

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = CompactString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} text (a-z, 0-9, '.', '_', '-'", self.kind)?;
        self.extra.iter().try_for_each(|c| write!(f, ", {c:?}"))?;
        f.write_str(")")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<CompactString, E> {
        checked_id(self.kind, value, self.extra).map_err(E::custom)
    }

    fn visit_bytes<E: serde::de::Error>(self, value: &[u8]) -> Result<CompactString, E> {
        // Formats that buffer (serde's untagged and flattened content) may hand text over as bytes.
        let text =
            std::str::from_utf8(value).map_err(|_| E::invalid_value(serde::de::Unexpected::Bytes(value), &self))?;
        self.visit_str(text)
    }
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $extra:expr) => {
        $(#[$doc])*
        ///
        /// Stored inline up to 24 bytes (most ids), so decoding, cloning and dropping one does not
        /// touch the heap; ordered and encoded exactly as its text.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(CompactString);

        impl $name {
            /// Checks and wraps `value`.
            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                checked_id($kind, value.as_ref(), $extra).map(Self)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(IdVisitor { kind: $kind, extra: $extra }).map(Self)
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
                id.0.into_string()
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule as written before the one-pass check: the fast path must agree with it exactly.
    fn well_formed(value: &str, extra: &[char]) -> bool {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) || extra.contains(&c);
        !value.is_empty()
            && value.len() <= ID_BYTES_MAX
            && value.chars().all(allowed)
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
    }

    fn text() -> impl Strategy<Value = String> {
        // Mostly id-like text, with the characters that must be refused mixed in.
        prop_oneof![
            "[a-z0-9._/-]{0,70}",
            "[a-zA-Z0-9._/ é-]{0,30}",
            proptest::collection::vec(any::<char>(), 0..8).prop_map(|chars| chars.into_iter().collect()),
        ]
    }

    proptest! {
        #[test]
        fn the_check_accepts_exactly_the_well_formed_ids(value in text()) {
            prop_assert_eq!(AccountId::new(value.clone()).is_ok(), well_formed(&value, &['/']));
            prop_assert_eq!(AssetId::new(value.clone()).is_ok(), well_formed(&value, &[]));
        }

        #[test]
        fn ids_order_as_their_text(a in "[a-z0-9._/-]{1,40}", b in "[a-z0-9._/-]{1,40}") {
            prop_assume!(well_formed(&a, &['/']) && well_formed(&b, &['/']));
            let (id_a, id_b) = (AccountId::new(a.clone()).unwrap(), AccountId::new(b.clone()).unwrap());
            prop_assert_eq!(id_a.cmp(&id_b), a.cmp(&b));
        }

        #[test]
        fn an_id_encodes_as_its_text(value in "[a-z0-9][a-z0-9._/-]{0,63}") {
            let id = AccountId::new(value.clone()).unwrap();
            prop_assert_eq!(bcs::to_bytes(&id).unwrap(), bcs::to_bytes(&value).unwrap());
            prop_assert_eq!(serde_json::to_string(&id).unwrap(), serde_json::to_string(&value).unwrap());
            let decoded: AccountId = bcs::from_bytes(&bcs::to_bytes(&value).unwrap()).unwrap();
            prop_assert_eq!(decoded.as_str(), value.as_str());
            let decoded: AccountId = serde_json::from_str(&serde_json::to_string(&value).unwrap()).unwrap();
            prop_assert_eq!(decoded, id);
        }
    }

    #[test]
    fn a_bad_id_is_refused_when_decoded_with_the_reason() {
        let bytes = bcs::to_bytes("Bank-A").unwrap();
        let error = bcs::from_bytes::<MemberId>(&bytes).unwrap_err().to_string();
        assert!(error.contains("invalid member id \"Bank-A\": character 'B' not allowed"), "{error}");
        let error = serde_json::from_str::<AccountId>("\"bank-a/x y\"").unwrap_err().to_string();
        assert!(error.contains("invalid account id") && error.contains("' '"), "{error}");
        let long = "a".repeat(ID_BYTES_MAX + 1);
        let error = serde_json::from_str::<NodeId>(&format!("\"{long}\"")).unwrap_err().to_string();
        assert!(error.contains("exceeds the limit of 64"), "{error}");
        let error = serde_json::from_str::<AccountId>("7").unwrap_err().to_string();
        assert!(error.contains("expected account id text (a-z, 0-9, '.', '_', '-', '/')"), "{error}");
    }

    #[test]
    fn ids_longer_than_the_inline_size_round_trip() {
        let long = format!("bank-a/{}", "c".repeat(ID_BYTES_MAX - 7));
        let id = AccountId::new(long.clone()).unwrap();
        assert_eq!(id.as_str(), long);
        assert_eq!(String::from(id.clone()), long);
        let decoded: AccountId = bcs::from_bytes(&bcs::to_bytes(&id).unwrap()).unwrap();
        assert_eq!(decoded, id);
    }
}
