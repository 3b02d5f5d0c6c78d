//! Micro-benchmarks of the hot paths in covenant-types: strict single and batch signature
//! verification, transaction encoding and decoding, hashing, Merkle roots, and the one pass over a
//! 1,000-transaction block that gives its transactions root and encoded length.
//!
//! Run: `cargo bench -p covenant-benches --bench types`. Figures are machine-dependent; compare ratios
//! (for example batch vs single verification per signature) rather than absolute times.

use covenant_types::*;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn chain() -> ChainId {
    ChainId::new("bench").unwrap()
}

fn transfer(seed: u8, nonce: u64) -> SignedTx {
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain(),
        sender: Principal::Operator(OperatorId::new(format!("op-{seed}")).unwrap()),
        nonce,
        created_at_ms: 1_764_288_000_000,
        payload: Payload::Transfer(Transfer {
            from: AccountId::new("bank-a/treasury").unwrap(),
            to: AccountId::new("bank-b/treasury").unwrap(),
            asset: AssetId::new("twd").unwrap(),
            amount: 100,
            memo: String::new(),
        }),
    };
    SignedTx::sign(body, &SecretKey::from_seed(&[seed; 32]))
}

fn signatures(c: &mut Criterion) {
    let txs: Vec<SignedTx> = (0..1024u32).map(|i| transfer((i % 251) as u8 + 1, u64::from(i))).collect();
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("verify_strict_single", |b| {
        let tx = &txs[0];
        let hash = tx.body.hash();
        b.iter(|| tx.signer.verify(SignatureDomain::Transaction, &chain(), black_box(&hash), &tx.signature).unwrap())
    });
    for size in [64usize, 128, 256, 512, 1024] {
        let hashes: Vec<Hash> = txs[..size].iter().map(|tx| tx.body.hash()).collect();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("verify_batch", size), &size, |b, &size| {
            let items: Vec<BatchItem<'_>> = txs[..size]
                .iter()
                .zip(&hashes)
                .map(|(tx, hash)| BatchItem {
                    key: &tx.signer,
                    domain: SignatureDomain::Transaction,
                    message: hash,
                    signature: &tx.signature,
                })
                .collect();
            b.iter(|| {
                let results = verify_batch(&chain(), black_box(&items));
                assert!(results.iter().all(Result::is_ok));
            })
        });
    }
    // One bad signature in a batch of 1,024: its signer's valid signature over another message, so it
    // passes the encoding checks and fails only the equation. Bisection finds it with about one more
    // batch equation's worth of halves instead of 1,024 single verifications (what a peer can make any
    // batch cost by spoiling one signature).
    let size = 1024;
    let bad = 517;
    let hashes: Vec<Hash> = txs[..size].iter().map(|tx| tx.body.hash()).collect();
    let bad_signature =
        SecretKey::from_seed(&[(bad % 251) as u8 + 1; 32]).sign(SignatureDomain::Transaction, &chain(), &hashes[0]);
    group.throughput(Throughput::Elements(size as u64));
    group.bench_with_input(BenchmarkId::new("verify_batch_one_bad", size), &size, |b, &size| {
        let items: Vec<BatchItem<'_>> = txs[..size]
            .iter()
            .zip(&hashes)
            .enumerate()
            .map(|(index, (tx, hash))| BatchItem {
                key: &tx.signer,
                domain: SignatureDomain::Transaction,
                message: hash,
                signature: if index == bad { &bad_signature } else { &tx.signature },
            })
            .collect();
        b.iter(|| {
            let results = verify_batch(&chain(), black_box(&items));
            assert_eq!(results.iter().filter(|result| result.is_err()).count(), 1);
        })
    });
    group.finish();
}

fn encoding(c: &mut Criterion) {
    let tx = transfer(1, 0);
    let bytes = tx.encode();
    let mut group = c.benchmark_group("encoding");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode_transfer", |b| b.iter(|| black_box(&tx).encode()));
    group.bench_function("decode_transfer", |b| b.iter(|| SignedTx::decode(black_box(&bytes)).unwrap()));
    group.bench_function("hash_transfer_body", |b| b.iter(|| black_box(&tx.body).hash()));
    group.finish();
}

fn merkle(c: &mut Criterion) {
    let leaves: Vec<Hash> = (0u32..10_000).map(|i| Hash::digest(&i.to_le_bytes())).collect();
    let mut group = c.benchmark_group("merkle");
    group.throughput(Throughput::Elements(leaves.len() as u64));
    group.bench_function("root_10000", |b| b.iter(|| merkle_root(black_box(&leaves))));
    group.finish();
}

/// What checking a proposal's header costs per transaction: the transactions root and the block's
/// encoded length.
fn block_digest(c: &mut Criterion) {
    let txs: Vec<SignedTx> = (0..1_000u64).map(|nonce| transfer((nonce % 200) as u8 + 1, nonce)).collect();
    let header = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: chain(),
        height: 2,
        round: 0,
        parent_hash: Hash::digest(b"parent"),
        timestamp_ms: 1_700_000_000_000,
        proposer: NodeId::new("bank-1.validator").expect("id"),
        transactions_root: Hash::ZERO,
        state_root: Hash::ZERO,
        validator_set_hash: Hash::ZERO,
        parameters_hash: Hash::ZERO,
        parent_commit_seals: Vec::new(),
    };
    let block = Block { header, transactions: txs.into() };
    assert_eq!(block.transactions_root_and_encoded_len().1, block.encode().len());
    let mut group = c.benchmark_group("block");
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("root_and_len_1000", |b| b.iter(|| black_box(&block).transactions_root_and_encoded_len()));
    group.finish();
}

criterion_group!(benches, signatures, encoding, merkle, block_digest);
criterion_main!(benches);
