//! The committed chain as the runtime and the API read it: the store, viewed as execution state.

use std::sync::Arc;

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
