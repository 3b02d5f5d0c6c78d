//! A batch of encoded transactions: what a client submits in one request (`POST /v1/txs/batch`)
//! and what validators gossip to each other in one message. One request or message per
//! transaction would cost more than verifying the transaction's signature.
//!
//! The encoding is BCS's for a list of byte strings: the count as ULEB128, then per transaction its
//! length as ULEB128 and its canonical bytes. Decoding is bounded: at most [`TX_BATCH_BYTES_MAX`]
//! bytes, [`TX_BATCH_TXS_MAX`] transactions and [`TX_BYTES_MAX`] bytes each, canonical lengths, no
//! trailing bytes. The transactions themselves are not decoded here.

use crate::encoding::DecodeError;
use crate::limits::{TX_BATCH_BYTES_MAX, TX_BATCH_TXS_MAX, TX_BYTES_MAX};

const WHAT: &str = "transaction batch";

/// Encodes transactions (each already in canonical bytes) as one batch. The caller keeps within
/// the limits; [`decode_tx_batch`] refuses a batch that does not.
pub fn encode_tx_batch<'a>(txs: impl ExactSizeIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    write_uleb128(&mut out, txs.len() as u64);
    for tx in txs {
        write_uleb128(&mut out, tx.len() as u64);
        out.extend_from_slice(tx);
    }
    out
}

/// The transactions of a batch, as slices of `bytes`.
pub fn decode_tx_batch(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    if bytes.len() > TX_BATCH_BYTES_MAX {
        return Err(DecodeError::TooLarge { what: WHAT, len_bytes: bytes.len(), max_bytes: TX_BATCH_BYTES_MAX });
    }
    let mut rest = bytes;
    let count = read_uleb128(&mut rest)?;
    if count == 0 || count > TX_BATCH_TXS_MAX as u64 {
        return Err(malformed(format!("{count} transactions; a batch holds 1 to {TX_BATCH_TXS_MAX}")));
    }
    let mut txs = Vec::with_capacity(count as usize);
    for index in 0..count {
        let len = read_uleb128(&mut rest)?;
        if len > TX_BYTES_MAX as u64 {
            return Err(malformed(format!("transaction {index} is {len} bytes, more than {TX_BYTES_MAX}")));
        }
        let len = len as usize;
        if rest.len() < len {
            return Err(malformed(format!("transaction {index} is cut short")));
        }
        let (tx, tail) = rest.split_at(len);
        txs.push(tx);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(malformed(format!("{} bytes after the last transaction", rest.len())));
    }
    Ok(txs)
}

fn malformed(reason: String) -> DecodeError {
    DecodeError::Malformed { what: WHAT, reason }
}

/// Bytes [`write_uleb128`] writes for `value`: the length prefix BCS puts before a sequence of
/// `value` elements.
pub(crate) fn uleb128_len(value: u64) -> usize {
    let mut bytes = 1;
    let mut rest = value >> 7;
    while rest > 0 {
        bytes += 1;
        rest >>= 7;
    }
    bytes
}

fn write_uleb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Reads a canonical ULEB128 of at most 32 bits (BCS lengths): no redundant trailing zero groups.
fn read_uleb128(input: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut value = 0u64;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or_else(|| malformed("a length is cut short".into()))?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            if byte == 0 && shift > 0 {
                return Err(malformed("a length is not canonically encoded".into()));
            }
            if value > u64::from(u32::MAX) {
                return Err(malformed("a length exceeds 32 bits".into()));
            }
            return Ok(value);
        }
    }
    Err(malformed("a length is longer than 5 bytes".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uleb128_len_is_the_written_length() {
        for value in [0u64, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            write_uleb128(&mut out, value);
            assert_eq!(uleb128_len(value), out.len(), "{value}");
        }
    }

    #[test]
    fn round_trip_matches_bcs() {
        let txs: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![], vec![7; 300]];
        let encoded = encode_tx_batch(txs.iter().map(Vec::as_slice));
        assert_eq!(encoded, bcs::to_bytes(&txs).unwrap());
        let decoded = decode_tx_batch(&encoded).unwrap();
        assert_eq!(decoded, txs.iter().map(Vec::as_slice).collect::<Vec<_>>());
    }

    #[test]
    fn hostile_batches_are_refused_with_the_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "cut short"),
            (vec![0], "1 to"),
            (vec![2, 1, 9], "cut short"),
            (vec![1, 3, 1, 2], "cut short"),
            (vec![1, 1, 9, 0], "after the last"),
            (vec![1, 0x80, 0x00], "not canonically"),
            (vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01], "longer than 5"),
            (encode_tx_batch(std::iter::repeat_n(&[][..], TX_BATCH_TXS_MAX + 1)), "1 to"),
        ];
        for (bytes, expected) in cases {
            let error = decode_tx_batch(&bytes).unwrap_err().to_string();
            assert!(error.contains(expected), "{bytes:?}: {error}");
        }
        let mut huge = vec![1u8];
        write_uleb128(&mut huge, TX_BYTES_MAX as u64 + 1);
        assert!(decode_tx_batch(&huge).unwrap_err().to_string().contains("more than"));
        let too_big = vec![0u8; TX_BATCH_BYTES_MAX + 1];
        assert!(matches!(decode_tx_batch(&too_big), Err(DecodeError::TooLarge { .. })));
    }
}
