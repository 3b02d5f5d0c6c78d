//! The in-memory backend, for tests and the deterministic simulator.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch, KvOp, KvPairs};
use crate::store::Store;

type Columns = BTreeMap<Column, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Column families as ordered maps behind one lock, so a batch is applied atomically.
///
/// Clones share the same data: a clone is the "disk" that survives a simulated restart
/// (see [`MemoryStore::restart`]).
#[derive(Clone, Debug, Default)]
pub struct MemoryBackend {
    columns: Arc<Mutex<Columns>>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, Columns> {
        // A panic while holding the lock cannot leave a batch half applied (the map is only
        // mutated by `write`, which does not panic between operations), so poisoning is ignored.
        self.columns.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Backend for MemoryBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock().get(&column).and_then(|map| map.get(key)).cloned())
    }

    fn scan(&self, column: Column, start: &[u8], prefix: &[u8], limit: usize) -> Result<KvPairs, StorageError> {
        let columns = self.lock();
        let Some(map) = columns.get(&column) else { return Ok(Vec::new()) };
        Ok(map
            .range(start.to_vec()..)
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
    }

    fn write(&self, batch: KvBatch) -> Result<(), StorageError> {
        let mut columns = self.lock();
        for op in batch.into_ops() {
            match op {
                KvOp::Put { column, key, value } => {
                    columns.entry(column).or_default().insert(key, value);
                }
                KvOp::Delete { column, key } => {
                    if let Some(map) = columns.get_mut(&column) {
                        map.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }
}

/// A [`Store`] in memory: same checks, same errors, same atomicity as
/// [`RocksStore`](crate::RocksStore), no durability beyond the process.
pub type MemoryStore = Store<MemoryBackend>;

impl Store<MemoryBackend> {
    /// An empty in-memory store.
    pub fn new() -> MemoryStore {
        Store::from_backend(MemoryBackend::new()).expect("initialising an empty in-memory store cannot fail")
    }

    /// A new store over the same data, as after a process restart: everything committed is still
    /// there, nothing held only by the old handle is. Runs the same open-time checks as
    /// [`RocksStore::open`](crate::RocksStore::open).
    pub fn restart(&self) -> Result<MemoryStore, StorageError> {
        Store::from_backend(self.backend().clone())
    }

    /// Fault injection for tests and the simulator: overwrites (`Some`) or deletes (`None`) one raw
    /// value, bypassing every check, as a bad disk or a tampering operator would.
    pub fn inject_raw(&self, column: Column, key: &[u8], value: Option<Vec<u8>>) {
        let mut batch = KvBatch::new();
        match value {
            Some(value) => batch.put(column, key, value),
            None => batch.delete(column, key),
        }
        // Writing to memory cannot fail.
        let _ = self.backend().write(batch);
    }
}

impl Default for Store<MemoryBackend> {
    fn default() -> Self {
        Store::new()
    }
}
