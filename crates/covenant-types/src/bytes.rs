//! Serde support for fixed-size byte strings (hashes, keys, signatures).
//!
//! In human-readable formats (TOML, JSON) they are lower-case hex strings; in the canonical binary
//! encoding they are a fixed-length tuple of bytes, so no length prefix can ever disagree with the type.

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};
use std::fmt;

/// Serializes `bytes` as hex (human-readable) or as a fixed-length tuple (binary).
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        let mut tuple = serializer.serialize_tuple(N)?;
        for byte in bytes {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }
}

/// Inverse of [`serialize`]; a hex string of the wrong length or with bad digits is an error.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(deserializer: D) -> Result<[u8; N], D::Error> {
    if deserializer.is_human_readable() {
        let text: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(deserializer)?;
        parse_hex::<N>(&text).map_err(D::Error::custom)
    } else {
        deserializer.deserialize_tuple(N, FixedBytesVisitor::<N>)
    }
}

/// Parses exactly `N` bytes of hex, naming what was wrong.
pub fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() != N * 2 {
        return Err(format!("expected {} hex digits ({N} bytes), found {}", N * 2, text.len()));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|error| format!("invalid hex: {error}"))?;
    Ok(out)
}

struct FixedBytesVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for FixedBytesVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        write!(formatter, "{N} bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (index, slot) in out.iter_mut().enumerate() {
            *slot = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(index, &self))?;
        }
        Ok(out)
    }
}
