//! Serde support for fixed-size byte strings (hashes, keys, signatures).
//!
//! In human-readable formats (TOML, JSON) they are lower-case hex strings; in the canonical binary
//! encoding (BCS) they are the raw bytes with no length prefix, so no length can ever disagree with
//! the type.
//!
//! The raw bytes are written as a tuple of `u128`s rather than of `u8`s: BCS writes a `u128` as its
//! 16 little-endian bytes, so the bytes are the same, and a key and signature take 6 serializer calls
//! instead of 96 (they were over half the time of encoding or decoding a transfer).

use serde::de::{Error as _, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserializer, Serializer};
use std::fmt;

/// Bytes per element of the binary tuple (one `u128`).
const CHUNK_BYTES: usize = 16;

/// Serializes `bytes` as hex (human-readable) or as a fixed-length tuple (binary).
pub fn serialize<S: Serializer, const N: usize>(bytes: &[u8; N], serializer: S) -> Result<S::Ok, S::Error> {
    if serializer.is_human_readable() {
        serializer.serialize_str(&hex::encode(bytes))
    } else {
        const { assert!(N.is_multiple_of(CHUNK_BYTES), "fixed byte strings are whole chunks") };
        let mut tuple = serializer.serialize_tuple(N / CHUNK_BYTES)?;
        for chunk in bytes.as_chunks::<CHUNK_BYTES>().0 {
            tuple.serialize_element(&u128::from_le_bytes(*chunk))?;
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
        const { assert!(N.is_multiple_of(CHUNK_BYTES), "fixed byte strings are whole chunks") };
        deserializer.deserialize_tuple(N / CHUNK_BYTES, FixedBytesVisitor::<N>)
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
        for (index, chunk) in out.as_chunks_mut::<CHUNK_BYTES>().0.iter_mut().enumerate() {
            let value: u128 =
                seq.next_element()?.ok_or_else(|| A::Error::invalid_length(index * CHUNK_BYTES, &self))?;
            *chunk = value.to_le_bytes();
        }
        Ok(out)
    }
}
