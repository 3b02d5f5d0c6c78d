//! Block execution: `execute_block` (what every validator runs on a proposal before it votes) and
//! `build_block` (what the proposer runs on its mempool candidates), for blocks of 1, 100 and 1,000
//! signed transfers from 128 bench senders on the state right after genesis (4 members).
//!
//! The state is read either from memory (a `BTreeMap`) or, as a node reads it, from a RocksDB store
//! through the node's `StoreState`. Signatures are verified before the timed part: a block executes
//! `VerifiedTx`s. Every iteration checks that every transfer succeeded.
//!
//! Run: `cargo bench -p covenant-benches --bench execution`. Throughput is per transaction.

use std::time::Duration;

use covenant_benches::{Consortium, MEMBERS, SENDERS, all_succeeded, context, verify_all};
use covenant_execution::{StateView, build_block, execute_block};
use covenant_node::runtime::chain::StoreState;
use covenant_types::{Hash, VerifiedTx};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const BLOCK_SIZES: [usize; 3] = [1, 100, 1_000];

fn execute_on(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    state: &dyn StateView,
    root: &Hash,
    txs: &[VerifiedTx],
) {
    group.bench_with_input(BenchmarkId::new(name, txs.len()), txs, |b, txs| {
        b.iter(|| {
            let outcome = execute_block(state, root, &context(1), black_box(txs)).expect("the block executes");
            assert!(outcome.receipts.len() == txs.len() && all_succeeded(&outcome.receipts));
            outcome
        })
    });
}

fn build_on(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    state: &dyn StateView,
    root: &Hash,
    txs: &[VerifiedTx],
) {
    group.bench_with_input(BenchmarkId::new(name, txs.len()), txs, |b, txs| {
        b.iter_batched(
            || txs.to_vec(),
            |candidates| {
                let built = build_block(state, root, &context(1), candidates).expect("the state reads");
                assert!(built.included.len() == txs.len() && built.dropped.is_empty() && built.deferred.is_empty());
                assert!(all_succeeded(&built.outcome.receipts));
                built
            },
            BatchSize::LargeInput,
        )
    });
}

fn execution(c: &mut Criterion) {
    let consortium = Consortium::new(MEMBERS, SENDERS);
    let (memory, root) = consortium.genesis_state();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = consortium.genesis_store(dir.path());
    let rocksdb = StoreState(&store);
    let blocks: Vec<Vec<VerifiedTx>> =
        BLOCK_SIZES.iter().map(|&size| verify_all(consortium.workload().next(size), consortium.chain())).collect();

    let mut group = c.benchmark_group("execute_block");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    for txs in &blocks {
        group.throughput(Throughput::Elements(txs.len() as u64));
        execute_on(&mut group, "memory", &memory, &root, txs);
        execute_on(&mut group, "rocksdb", &rocksdb, &root, txs);
    }
    group.finish();

    let mut group = c.benchmark_group("build_block");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let txs = blocks.last().expect("a block size");
    group.throughput(Throughput::Elements(txs.len() as u64));
    build_on(&mut group, "memory", &memory, &root, txs);
    build_on(&mut group, "rocksdb", &rocksdb, &root, txs);
    group.finish();
}

criterion_group!(benches, execution);
criterion_main!(benches);
