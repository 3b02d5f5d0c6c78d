//! Upgrades, at open, a store written by an earlier schema version.

use covenant_types::encode;

use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch, decode_stored, show_key, successor};
use crate::limits::{MIGRATION_PAGE_ENTRIES, SCHEMA_VERSION, TX_LOCATION_BYTES_MAX};
use crate::store::{RECEIPT_KEY_BYTES, TxLocation, meta_key};

/// The schema version that keyed receipts by transaction hash.
pub(crate) const RECEIPTS_BY_HASH_VERSION: u32 = 1;
/// Length of a receipt's key in that version: the transaction's hash.
const V1_RECEIPT_KEY_BYTES: usize = 32;

/// Version 1 to 2: receipts keyed by transaction hash move under their block position, which the
/// transaction index gives. Each page moves in one atomic batch, and keys already moved (12 bytes,
/// where hashes are 32) are passed over, so a crash part-way leaves a store that the next open
/// finishes upgrading. The version is written last.
pub(crate) fn receipts_by_position<B: Backend>(backend: &B) -> Result<(), StorageError> {
    let mut start = Vec::new();
    loop {
        let page = backend.scan(Column::Receipts, &start, b"", MIGRATION_PAGE_ENTRIES)?;
        let mut batch = KvBatch::new();
        for (key, value) in &page {
            match key.len() {
                RECEIPT_KEY_BYTES => continue,
                V1_RECEIPT_KEY_BYTES => {}
                _ => {
                    return Err(StorageError::corrupt(
                        "receipt",
                        show_key(key),
                        "the key is neither a transaction hash nor a block position",
                    ));
                }
            }
            let Some(location) = backend.get(Column::TxIndex, key)? else {
                return Err(StorageError::corrupt(
                    "receipt",
                    show_key(key),
                    "no transaction index entry gives its position, so it cannot be upgraded",
                ));
            };
            let location: TxLocation = decode_stored("tx index", || show_key(key), &location, TX_LOCATION_BYTES_MAX)?;
            batch.put(Column::Receipts, location.receipt_key().to_vec(), value.clone());
            batch.delete(Column::Receipts, key.clone());
        }
        if !batch.is_empty() {
            backend.write(batch)?;
        }
        match page.last() {
            Some((key, _)) if page.len() == MIGRATION_PAGE_ENTRIES => start = successor(key),
            _ => break,
        }
    }
    let mut batch = KvBatch::new();
    batch.put(Column::Meta, meta_key::SCHEMA_VERSION, encode(&SCHEMA_VERSION));
    backend.write(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest location fits the bound its reads check, and position keys sort by height, then
    /// index, which is what makes a block's receipts an append.
    #[test]
    fn locations_fit_their_bound_and_receipt_keys_sort_by_position() {
        let largest = TxLocation { height: u64::MAX, index: u32::MAX };
        assert!(encode(&largest).len() <= TX_LOCATION_BYTES_MAX);
        let positions = [(0, 0), (0, 1), (0, 256), (1, 0), (255, u32::MAX), (256, 0), (u64::MAX, u32::MAX)];
        let keys: Vec<_> =
            positions.iter().map(|&(height, index)| TxLocation { height, index }.receipt_key()).collect();
        assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "{keys:?}");
    }
}
