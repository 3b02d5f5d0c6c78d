//! The committed chain as the core reads it: any [`ChainStore`], viewed as execution state.

use serde::de::DeserializeOwned;

use covenant_execution::{StateError, StateView};
use covenant_storage::ChainStore;

use crate::error::CoreError;

/// Committed state, read through a store.
pub struct StoreState<'a, S: ?Sized>(pub &'a S);

impl<S: ChainStore + ?Sized> StateView for StoreState<'_, S> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.0.get_state(key).map_err(|error| StateError::Store(error.to_string()))
    }
}

/// Every entry of one state table whose key starts with `prefix` (the table tag first), decoded:
/// the key after its tag as `K`, the value as `V`. More than `limit` entries is an error, so that
/// no caller works on a silently truncated list.
pub fn scan_table<S: ChainStore + ?Sized, K: DeserializeOwned, V: DeserializeOwned>(
    store: &S,
    prefix: &[u8],
    limit: usize,
) -> Result<Vec<(K, V)>, CoreError> {
    let page = store.scan_state(prefix, None, limit)?;
    if page.resume_after.is_some() {
        return Err(CoreError::TooManyEntries { prefix: hex::encode(prefix), limit });
    }
    page.entries
        .iter()
        .map(|(key, value)| {
            let corrupt = |error: covenant_types::DecodeError| CoreError::Corrupt {
                key: hex::encode(key),
                reason: error.to_string(),
            };
            let id = covenant_types::decode("state key", &key[1..], key.len()).map_err(corrupt)?;
            let value = covenant_types::decode("state value", value, value.len()).map_err(corrupt)?;
            Ok((id, value))
        })
        .collect()
}
