//! The RocksDB store: committing a decided block, and reading state.
//!
//! * `commit_block/synced/N`: one `ChainStore::commit_block` of the next block with N signed transfers
//!   (from 128 bench senders), its quorum of commit seals, its receipts and its write set: one atomic
//!   write batch with fsync, as a node commits. Only the commit is timed; each block is signed and
//!   executed against the store beforehand, so its write set and receipts are the real ones. The store
//!   is on disk in a temporary directory (under `$TMPDIR`: on a tmpfs, fsync costs nothing), and the
//!   returned tip is checked to be the block.
//! * `state_read/*`: one state read of a sender's balance: the raw `get_state` while the state is in
//!   the memtable, the same after a flush (reads come from SST files through the block cache), and
//!   the typed read execution does (key encoding, read, decoding) through the node's `StoreState`.
//!
//! Run: `cargo bench -p covenant-benches --bench storage`. Throughput is per transaction (commit) or
//! per read.

use std::time::{Duration, Instant};

use covenant_benches::{ASSET, Consortium, MEMBERS, SENDERS, Workload, all_succeeded, context, verify_all};
use covenant_execution::{StateKey, StateReader, execute_block};
use covenant_node::runtime::chain::StoreState;
use covenant_storage::{ChainStore, CommitBatch, RocksStore};
use covenant_types::{AssetId, BlockHeader, CommitSeal};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// A chain being extended block by block on a store.
struct Chain<'a> {
    consortium: &'a Consortium,
    store: RocksStore,
    workload: Workload<'a>,
    tip: BlockHeader,
    tip_seals: Vec<CommitSeal>,
}

impl<'a> Chain<'a> {
    fn new(consortium: &'a Consortium, dir: &std::path::Path) -> Chain<'a> {
        let store = consortium.genesis_store(dir);
        let tip = consortium.genesis_outcome().block.header;
        Chain { consortium, store, workload: consortium.workload(), tip, tip_seals: Vec::new() }
    }

    /// The next block with `size` transfers, executed on the store, ready to commit.
    fn next_batch(&mut self, size: usize) -> CommitBatch {
        let height = self.tip.height + 1;
        let txs = self.workload.next(size);
        let verified = verify_all(txs.clone(), self.consortium.chain());
        let outcome = execute_block(&StoreState(&self.store), &self.tip.state_root, &context(height), &verified)
            .expect("the block executes");
        assert!(all_succeeded(&outcome.receipts));
        let block = self.consortium.block(&self.tip, txs, outcome.state_root, self.tip_seals.clone());
        let seals = self.consortium.seals(&block);
        CommitBatch { block, seals, receipts: outcome.receipts, state_writes: outcome.writes, audit: Vec::new() }
    }

    /// Commits `batch` (timed) and makes it the tip.
    fn commit(&mut self, batch: CommitBatch) -> Duration {
        let (header, seals) = (batch.block.header.clone(), batch.seals.clone());
        let started = Instant::now();
        let tip = self.store.commit_block(batch).expect("the block commits");
        let elapsed = started.elapsed();
        assert_eq!((tip.height, tip.hash), (header.height, header.hash()));
        self.tip = header;
        self.tip_seals = seals;
        elapsed
    }
}

fn commit(c: &mut Criterion) {
    let consortium = Consortium::new(MEMBERS, SENDERS);
    let mut group = c.benchmark_group("commit_block");
    // An iteration is milliseconds (an fsync) plus untimed signing and execution of the next block.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for size in [1usize, 1_000] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut chain = Chain::new(&consortium, dir.path());
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::new("synced", size), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let batch = chain.next_batch(size);
                        chain.commit(batch)
                    })
                    .sum()
            })
        });
    }
    group.finish();
}

fn reads(c: &mut Criterion) {
    let consortium = Consortium::new(MEMBERS, SENDERS);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut chain = Chain::new(&consortium, dir.path());
    for _ in 0..4 {
        let batch = chain.next_batch(SENDERS);
        chain.commit(batch);
    }
    let store = &chain.store;
    let asset = AssetId::new(ASSET).unwrap();
    let keys: Vec<Vec<u8>> = consortium
        .senders
        .iter()
        .map(|sender| StateKey::Balance(sender.account.clone(), asset.clone()).encode())
        .collect();
    let read_all = |keys: &[Vec<u8>]| {
        for key in keys {
            assert!(store.get_state(black_box(key)).expect("the store reads").is_some());
        }
    };

    let mut group = c.benchmark_group("state_read");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function("get_state_memtable", |b| b.iter(|| read_all(&keys)));
    // A checkpoint flushes the memtables: from here on reads come from SST files.
    let checkpoint = tempfile::tempdir().expect("a temporary directory");
    store.create_checkpoint(checkpoint.path().join("flush")).expect("a checkpoint");
    group.bench_function("get_state_flushed", |b| b.iter(|| read_all(&keys)));
    let state = StoreState(store);
    group.bench_function("balance_typed_flushed", |b| {
        b.iter(|| {
            for sender in &consortium.senders {
                assert!(state.balance(black_box(&sender.account), &asset).expect("the store reads") > 0);
            }
        })
    });
    group.finish();
}

criterion_group!(benches, commit, reads);
criterion_main!(benches);
