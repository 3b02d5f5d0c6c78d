//! The committed chain as the runtime and the API read it: the store, viewed as execution state.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use covenant_storage::RocksStore;

pub use covenant_core::StoreState;

/// The node's store.
pub type NodeStore = Arc<RocksStore>;

/// The local wall clock in milliseconds since the Unix epoch. The node reads time here and only
/// here; the core, consensus and execution receive it as an input (under libfaketime a skewed
/// clock shows up exactly where the covenant's drift rule must catch it).
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
}

/// Every entry of one state table whose key starts with `prefix` (the table tag first), decoded
/// (see [`covenant_core::scan_table`]).
pub fn scan_table<K: DeserializeOwned, V: DeserializeOwned>(
    store: &RocksStore,
    prefix: &[u8],
    limit: usize,
) -> anyhow::Result<Vec<(K, V)>> {
    Ok(covenant_core::scan_table(store, prefix, limit)?)
}
