//! Transaction admission, the per-transaction work a node does before a transaction is pending:
//!
//! * `admission/decode_verify_batch`: decoding 1,024 encoded transfers and verifying them with
//!   `VerifiedTx::verify_batch` (one batch, one thread; the node spreads a batch over its cores);
//! * `admission/mempool_admit/{memory,rocksdb}`: `Mempool::admit` of 1,024 verified transfers from 128
//!   senders into an empty mempool against the state after genesis (sender, payload and nonce checks),
//!   the state in memory or, as on a node, in RocksDB through `StoreState`;
//! * `admission/full_rocksdb`: both, as the node's admission stage runs them (without the network,
//!   the queue and the threads);
//! * `mempool_select`: choosing a proposal of 2,000 transactions from 4,096 pending.
//!
//! Every iteration checks that every transaction was verified and admitted (or selected).
//!
//! Run: `cargo bench -p covenant-benches --bench admission`. Throughput is per transaction.

use std::time::Duration;

use covenant_benches::{Consortium, GENESIS_TIME_MS, MEMBERS, SENDERS, verify_all};
use covenant_core::Mempool;
use covenant_core::StoreState;
use covenant_execution::{StateReader, StateView};
use covenant_rules::ChainParams;
use covenant_types::{ChainId, SignedTx, VerifiedTx};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

const BATCH: usize = 1_024;
/// The node's clock at admission: a second after genesis.
const NOW_MS: u64 = GENESIS_TIME_MS + 1_000;

fn decode_and_verify(encoded: &[Vec<u8>], chain: &ChainId) -> Vec<VerifiedTx> {
    let decoded: Vec<SignedTx> = encoded.iter().map(|bytes| SignedTx::decode(bytes).expect("decodes")).collect();
    VerifiedTx::verify_batch(decoded, chain)
        .into_iter()
        .map(|result| result.unwrap_or_else(|rejected| panic!("refused: {}", rejected.error)))
        .collect()
}

fn admit_all<S: StateView + ?Sized>(txs: Vec<VerifiedTx>, state: &S, params: &ChainParams) -> Mempool {
    let count = txs.len();
    let mut mempool = Mempool::new();
    for tx in txs {
        mempool.admit(tx, state, params, NOW_MS).unwrap_or_else(|error| panic!("not admitted: {error}"));
    }
    assert_eq!(mempool.len(), count);
    mempool
}

fn admission(c: &mut Criterion) {
    let consortium = Consortium::new(MEMBERS, SENDERS);
    let chain = consortium.chain();
    let txs = consortium.workload().next(BATCH);
    let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
    let verified = verify_all(txs, chain);
    let (memory, _) = consortium.genesis_state();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = consortium.genesis_store(dir.path());
    let rocksdb = StoreState(&store);
    let params = rocksdb.params().expect("parameters in the state");

    let mut group = c.benchmark_group("admission");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("decode_verify_batch", |b| b.iter(|| decode_and_verify(black_box(&encoded), chain)));
    group.bench_function("mempool_admit/memory", |b| {
        b.iter_batched(|| verified.clone(), |txs| admit_all(txs, &memory, &params), BatchSize::LargeInput)
    });
    group.bench_function("mempool_admit/rocksdb", |b| {
        b.iter_batched(|| verified.clone(), |txs| admit_all(txs, &rocksdb, &params), BatchSize::LargeInput)
    });
    group.bench_function("full_rocksdb", |b| {
        b.iter(|| admit_all(decode_and_verify(black_box(&encoded), chain), &rocksdb, &params))
    });
    group.finish();

    let pending = verify_all(consortium.workload().next(4 * BATCH), chain);
    let mempool = admit_all(pending, &memory, &params);
    let mut group = c.benchmark_group("mempool_select");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(2_000));
    group.bench_function("2000_of_4096", |b| {
        b.iter(|| {
            let selected = mempool.select(2_000, params.block_bytes_max as usize);
            assert_eq!(selected.len(), 2_000);
            selected
        })
    });
    group.finish();
}

criterion_group!(benches, admission);
criterion_main!(benches);
