//! A bounded cache of committed state values in front of the backend.
//!
//! Every transaction is checked against the committed state at admission and again when a block
//! is built or validated, and a chain's transactions keep reading the same few records: their
//! senders, members, nonces and balances. Each of those reads used to be a RocksDB lookup.
//!
//! The cache holds raw values (and absences) by key, least recently used first out, within
//! [`STATE_CACHE_ENTRIES_MAX`] entries and [`STATE_CACHE_BYTES_MAX`] bytes; values above
//! [`STATE_CACHE_VALUE_BYTES_MAX`] are not cached. It is only ever a copy of what the backend holds:
//!
//! * a commit updates the cache with the block's writes after the backend has them, and moves the
//!   cache to a new generation;
//! * a read that missed fills the cache only if no commit happened while it read the backend, so a
//!   value read just before a commit can never be cached after it.

use std::sync::{Mutex, PoisonError};

use hashlink::LruCache;

/// Most entries kept.
pub const STATE_CACHE_ENTRIES_MAX: usize = 65_536;
/// Most bytes of keys and values kept.
pub const STATE_CACHE_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest value kept; larger ones (validator sets, contract code) are read from the backend.
pub const STATE_CACHE_VALUE_BYTES_MAX: usize = 4 * 1024;

/// Bookkeeping per entry besides key and value bytes (hash table slot, list links, allocations).
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// What a reader remembers between a miss and filling the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(u64);

/// The cache. See the module documentation.
pub struct StateCache {
    inner: Mutex<Inner>,
}

struct Inner {
    entries: LruCache<Vec<u8>, Option<Vec<u8>>>,
    bytes: usize,
    generation: u64,
    hits: u64,
    misses: u64,
}

/// What the cache holds and how it has served, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateCacheStats {
    /// Entries held.
    pub entries: usize,
    /// Bytes held (keys, values and per-entry bookkeeping).
    pub bytes: usize,
    /// Reads answered from the cache since the store opened.
    pub hits: u64,
    /// Reads that went to the backend since the store opened.
    pub misses: u64,
}

/// A lookup's answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The committed value (`None`: the key is absent).
    Hit(Option<Vec<u8>>),
    /// Not cached: read the backend, then [`StateCache::fill`] with this generation.
    Miss(Generation),
}

impl Default for StateCache {
    fn default() -> StateCache {
        let inner = Inner { entries: LruCache::new_unbounded(), bytes: 0, generation: 0, hits: 0, misses: 0 };
        StateCache { inner: Mutex::new(inner) }
    }
}

impl StateCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache is consistent after every statement that can panic (none can, short of
        // allocation failure), so a poisoned lock still guards a usable cache.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached value of `key`, or the generation to fill it under.
    pub fn get(&self, key: &[u8]) -> Lookup {
        let mut inner = self.lock();
        let lookup = match inner.entries.get(key) {
            Some(value) => Lookup::Hit(value.clone()),
            None => Lookup::Miss(Generation(inner.generation)),
        };
        match lookup {
            Lookup::Hit(_) => inner.hits += 1,
            Lookup::Miss(_) => inner.misses += 1,
        }
        lookup
    }

    /// Caches what the backend answered for `key`, unless a commit has happened since the miss.
    pub fn fill(&self, generation: Generation, key: &[u8], value: &Option<Vec<u8>>) {
        let mut inner = self.lock();
        if inner.generation == generation.0 {
            inner.put(key.to_vec(), value.clone());
        }
    }

    /// Applies a committed block's state writes (`None` deletes), once the backend holds them.
    pub fn apply<'a>(&self, writes: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>) {
        let mut inner = self.lock();
        inner.generation += 1;
        for (key, value) in writes {
            // Only keys already cached are updated: a block's writes are not a sign of future reads
            // (receipts, records), and the next read fills the rest.
            if inner.entries.contains_key(key) {
                inner.put(key.to_vec(), value.map(<[u8]>::to_vec));
            }
        }
    }

    /// Entries and bytes held.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    /// Usage and hit counts.
    pub fn stats(&self) -> StateCacheStats {
        let inner = self.lock();
        StateCacheStats { entries: inner.entries.len(), bytes: inner.bytes, hits: inner.hits, misses: inner.misses }
    }
}

impl Inner {
    fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= entry_bytes(&key, &old);
        }
        if value.as_ref().is_some_and(|value| value.len() > STATE_CACHE_VALUE_BYTES_MAX) {
            return;
        }
        self.bytes += entry_bytes(&key, &value);
        self.entries.insert(key, value);
        while self.entries.len() > STATE_CACHE_ENTRIES_MAX || self.bytes > STATE_CACHE_BYTES_MAX {
            match self.entries.remove_lru() {
                Some((key, value)) => self.bytes -= entry_bytes(&key, &value),
                None => break,
            }
        }
    }
}

fn entry_bytes(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(cache: &StateCache, key: &[u8], value: Option<&[u8]>) {
        let Lookup::Miss(generation) = cache.get(key) else { panic!("expected a miss") };
        cache.fill(generation, key, &value.map(<[u8]>::to_vec));
    }

    #[test]
    fn a_filled_value_is_served_until_a_commit_changes_it() {
        let cache = StateCache::default();
        fill(&cache, b"a", Some(b"1"));
        fill(&cache, b"gone", None);
        assert_eq!(cache.get(b"a"), Lookup::Hit(Some(b"1".to_vec())));
        assert_eq!(cache.get(b"gone"), Lookup::Hit(None));
        cache.apply([(&b"a"[..], Some(&b"2"[..])), (&b"gone"[..], Some(&b"3"[..])), (&b"new"[..], Some(&b"4"[..]))]);
        assert_eq!(cache.get(b"a"), Lookup::Hit(Some(b"2".to_vec())));
        assert_eq!(cache.get(b"gone"), Lookup::Hit(Some(b"3".to_vec())));
        assert!(matches!(cache.get(b"new"), Lookup::Miss(_)), "writes to uncached keys are not cached");
        cache.apply([(&b"a"[..], None)]);
        assert_eq!(cache.get(b"a"), Lookup::Hit(None));
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.hits, stats.misses), (2, 5, 3));
    }

    #[test]
    fn a_read_that_raced_a_commit_is_not_cached() {
        let cache = StateCache::default();
        let Lookup::Miss(before) = cache.get(b"k") else { panic!("expected a miss") };
        // The reader read the old value from the backend; meanwhile a block committed a new one.
        cache.apply([(&b"k"[..], Some(&b"new"[..]))]);
        cache.fill(before, b"k", &Some(b"old".to_vec()));
        assert!(matches!(cache.get(b"k"), Lookup::Miss(_)), "the stale value must not be cached");
    }

    #[test]
    fn entries_and_bytes_stay_bounded_and_large_values_are_not_kept() {
        let cache = StateCache::default();
        for i in 0..(STATE_CACHE_ENTRIES_MAX as u32 + 100) {
            fill(&cache, &i.to_be_bytes(), Some(b"v"));
        }
        let (entries, _) = cache.usage();
        assert_eq!(entries, STATE_CACHE_ENTRIES_MAX);
        assert!(matches!(cache.get(&0u32.to_be_bytes()), Lookup::Miss(_)), "the least recently used left first");
        assert!(matches!(cache.get(&(STATE_CACHE_ENTRIES_MAX as u32 + 99).to_be_bytes()), Lookup::Hit(_)));

        let cache = StateCache::default();
        fill(&cache, b"big", Some(&vec![0; STATE_CACHE_VALUE_BYTES_MAX + 1]));
        assert!(matches!(cache.get(b"big"), Lookup::Miss(_)));
        let value = vec![0; STATE_CACHE_VALUE_BYTES_MAX];
        for i in 0..(STATE_CACHE_BYTES_MAX / STATE_CACHE_VALUE_BYTES_MAX + 10) as u32 {
            fill(&cache, &i.to_be_bytes(), Some(&value));
        }
        let (_, bytes) = cache.usage();
        assert!(bytes <= STATE_CACHE_BYTES_MAX, "{bytes} bytes cached");
    }
}
