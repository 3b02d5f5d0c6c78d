//! The committed chain as the runtime and the API read it: the store, viewed as execution state.

use std::sync::Arc;

use anyhow::Context;
use serde::de::DeserializeOwned;

use covenant_execution::{StateError, StateView};
use covenant_storage::{ChainStore, RocksStore};

/// The node's store.
pub type NodeStore = Arc<RocksStore>;

/// Committed state, read through the store.
pub struct StoreState<'a>(pub &'a RocksStore);

impl StateView for StoreState<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.0.get_state(key).map_err(|error| StateError::Store(error.to_string()))
    }
}

/// The local wall clock in milliseconds since the Unix epoch. The node reads time here and only
/// here; consensus and execution receive it as an input (under libfaketime a skewed clock shows up
/// exactly where the covenant's drift rule must catch it).
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// Every entry of one state table whose key starts with `prefix` (the table tag first), decoded:
/// the key after its tag as `K`, the value as `V`. More than `limit` entries is an error, so that
/// no caller shows a silently truncated list.
pub fn scan_table<K: DeserializeOwned, V: DeserializeOwned>(
    store: &RocksStore,
    prefix: &[u8],
    limit: usize,
) -> anyhow::Result<Vec<(K, V)>> {
    let page = store.scan_state(prefix, None, limit)?;
    if page.resume_after.is_some() {
        anyhow::bail!("more than {limit} state entries under prefix {}", hex::encode(prefix));
    }
    page.entries
        .iter()
        .map(|(key, value)| {
            let corrupt = || format!("state entry {} is corrupt", hex::encode(key));
            let id = covenant_types::decode("state key", &key[1..], key.len()).with_context(corrupt)?;
            let value = covenant_types::decode("state value", value, value.len()).with_context(corrupt)?;
            Ok((id, value))
        })
        .collect()
}
