//! Store factories for the shared suite: each opens a fresh store and can reopen it over the same
//! data, as a restart would.

use tempfile::TempDir;

use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch};
use crate::memory::MemoryStore;
use crate::rocks::RocksStore;
use crate::store::Store;

pub trait Harness {
    type Backend: Backend;

    /// A fresh, empty store.
    fn new() -> Self;

    /// The open store.
    fn store(&self) -> &Store<Self::Backend>;

    /// Drops the store and opens it again over the same data.
    fn reopen(&mut self) -> Result<(), StorageError>;
}

pub struct MemoryHarness {
    store: MemoryStore,
}

impl Harness for MemoryHarness {
    type Backend = crate::memory::MemoryBackend;

    fn new() -> Self {
        MemoryHarness { store: MemoryStore::new() }
    }

    fn store(&self) -> &Store<Self::Backend> {
        &self.store
    }

    fn reopen(&mut self) -> Result<(), StorageError> {
        self.store = self.store.restart()?;
        Ok(())
    }
}

pub struct RocksHarness {
    // Dropped after the store (fields drop in order): the directory outlives the database.
    store: Option<RocksStore>,
    dir: TempDir,
}

impl RocksHarness {
    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Closes the store (e.g. to edit the database with raw RocksDB access).
    pub fn close(&mut self) {
        self.store = None;
    }
}

impl Harness for RocksHarness {
    type Backend = crate::rocks::RocksBackend;

    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = RocksStore::open(dir.path()).expect("open a fresh RocksDB store");
        RocksHarness { store: Some(store), dir }
    }

    fn store(&self) -> &Store<Self::Backend> {
        self.store.as_ref().expect("the store is open")
    }

    fn reopen(&mut self) -> Result<(), StorageError> {
        self.store = None;
        self.store = Some(RocksStore::open(self.dir.path())?);
        Ok(())
    }
}

/// Writes raw bytes under `key`, bypassing every check.
pub fn raw_put<B: Backend>(store: &Store<B>, column: Column, key: &[u8], value: &[u8]) {
    let mut batch = KvBatch::new();
    batch.put(column, key, value);
    store.backend().write(batch).expect("raw write");
}

/// Deletes `key`, bypassing every check.
pub fn raw_delete<B: Backend>(store: &Store<B>, column: Column, key: &[u8]) {
    let mut batch = KvBatch::new();
    batch.delete(column, key);
    store.backend().write(batch).expect("raw delete");
}

/// Reads raw bytes.
pub fn raw_get<B: Backend>(store: &Store<B>, column: Column, key: &[u8]) -> Option<Vec<u8>> {
    store.backend().get(column, key).expect("raw read")
}
