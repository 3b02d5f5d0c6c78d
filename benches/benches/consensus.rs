//! Consensus message handling in `covenant_consensus::Engine`, at one validator of four, at height 2
//! (so proposals carry the parent's commit seals, as in steady state), with real ed25519 keys:
//!
//! * `vote/prepare`: a PREPARE from another validator, below the quorum (signature check and
//!   bookkeeping); `vote/prepare_quorum`: the PREPARE that completes the quorum, so the engine locks
//!   and signs its COMMIT and seal;
//! * `vote/commit`: a COMMIT below the quorum (message signature and commit seal checked);
//!   `vote/commit_quorum`: the COMMIT that decides the block;
//! * `proposal/N`: a PRE-PREPARE with a block of N transactions, from bytes: decoding, the proposer's
//!   signature, the header checks (the transactions root over N hashes, the parent's three seals).
//!   Throughput is per transaction;
//! * `height/follower`: a whole height as a non-proposer sees it (proposal of an empty block, its
//!   validation answer, two PREPAREs and two COMMITs) until the engine decides.
//!
//! Each iteration starts from a fresh engine (built outside the timing) and checks the actions it
//! returns: no rejection, and the vote, commit or decision expected.
//!
//! Run: `cargo bench -p covenant-benches --bench consensus`.

use std::time::Duration;

use covenant_consensus::{
    Action, BlockOutcome, Commit, ConsensusCrypto, Ed25519Crypto, Engine, HeightStart, Input, Message, PrePrepare,
    Prepare, ProposalMessage, Signed, seal_digest,
};
use covenant_rules::ChainParams;
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, CommitSeal, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload,
    Principal, SecretKey, SignatureDomain, SignedTx, Transfer, TxBody, Validator, ValidatorSet, merkle_root,
};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

const GENESIS_MS: u64 = 1_000_000;
const HEIGHT: u64 = 2;

/// Four validators `v0..v3` with keys from fixed seeds, at height 2 on top of a decided block 1.
struct Fixture {
    chain: ChainId,
    ids: Vec<NodeId>,
    validators: ValidatorSet,
    params: ChainParams,
    parent: BlockHeader,
    parent_seals: Vec<CommitSeal>,
}

fn crypto(index: usize) -> Ed25519Crypto {
    Ed25519Crypto::new(SecretKey::from_seed(&[index as u8 + 1; 32]))
}

impl Fixture {
    fn new() -> Fixture {
        let chain = ChainId::new("bench-chain").unwrap();
        let ids: Vec<NodeId> = (0..4).map(|i| NodeId::new(format!("v{i}")).unwrap()).collect();
        let validators = ValidatorSet::new(
            ids.iter()
                .enumerate()
                .map(|(i, id)| Validator { id: id.clone(), consensus_key: crypto(i).public_key() })
                .collect(),
        )
        .unwrap();
        let params = ChainParams::default();
        let header = |height: u64, parent_hash: Hash, timestamp_ms: u64| BlockHeader {
            version: ENCODING_VERSION,
            chain_id: chain.clone(),
            height,
            round: 0,
            parent_hash,
            timestamp_ms,
            proposer: validators.proposer(height, 0).id.clone(),
            transactions_root: merkle_root(&[]),
            state_root: Hash::digest(format!("state {height}").as_bytes()),
            validator_set_hash: validators.hash(),
            parameters_hash: params.hash(),
            parent_commit_seals: vec![],
        };
        let genesis = header(0, Hash::ZERO, GENESIS_MS);
        let parent = header(1, genesis.hash(), GENESIS_MS + params.block_interval_ms_min);
        let digest = seal_digest(1, 0, parent.hash());
        let parent_seals = (0..validators.quorum())
            .map(|i| CommitSeal {
                validator: ids[i].clone(),
                signature: crypto(i).sign(SignatureDomain::CommitSeal, &chain, &digest),
            })
            .collect();
        Fixture { chain, ids, validators, params, parent, parent_seals }
    }

    fn index_of(&self, id: &NodeId) -> usize {
        self.ids.iter().position(|known| known == id).expect("a validator")
    }

    /// The proposer of height 2, round 0.
    fn proposer(&self) -> usize {
        self.index_of(&self.validators.proposer(HEIGHT, 0).id)
    }

    /// The validator under test (not the proposer) and the two others whose votes it receives.
    fn roles(&self) -> (usize, usize, usize) {
        let proposer = self.proposer();
        let me = (proposer + 1) % 4;
        let other = (proposer + 2) % 4;
        (me, proposer, other)
    }

    fn started(&self, index: usize, now_ms: u64) -> Engine {
        let mut engine = Engine::new(self.chain.clone(), self.ids[index].clone(), Box::new(crypto(index)), None);
        let start = HeightStart {
            height: HEIGHT,
            validators: self.validators.clone(),
            params: self.params.clone(),
            parent: self.parent.clone(),
            parent_validators: self.validators.clone(),
            parent_commit_seals: self.parent_seals.clone(),
        };
        engine.handle(Input::StartHeight { now_ms, start: Box::new(start) });
        engine
    }

    fn tx(&self, nonce: u64) -> SignedTx {
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: self.chain.clone(),
            sender: Principal::Operator(OperatorId::new("bank-a.ops").unwrap()),
            nonce,
            created_at_ms: GENESIS_MS,
            payload: Payload::Transfer(Transfer {
                from: AccountId::new("bank-a/treasury").unwrap(),
                to: AccountId::new("bank-b/treasury").unwrap(),
                asset: AssetId::new("twd").unwrap(),
                amount: 1,
                memo: String::new(),
            }),
        };
        SignedTx::sign(body, &SecretKey::from_seed(&[99; 32]))
    }

    /// The round-0 block at height 2 with `txs` transactions.
    fn block(&self, txs: usize) -> Block {
        let transactions: Vec<SignedTx> = (0..txs as u64).map(|nonce| self.tx(nonce)).collect();
        let hashes: Vec<Hash> = transactions.iter().map(|tx| tx.body.hash()).collect();
        let header = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: self.chain.clone(),
            height: HEIGHT,
            round: 0,
            parent_hash: self.parent.hash(),
            timestamp_ms: self.timestamp_ms(),
            proposer: self.ids[self.proposer()].clone(),
            transactions_root: merkle_root(&hashes),
            state_root: Hash::digest(b"state 2"),
            validator_set_hash: self.validators.hash(),
            parameters_hash: self.params.hash(),
            parent_commit_seals: self.parent_seals.clone(),
        };
        Block { header, transactions: transactions.into() }
    }

    fn timestamp_ms(&self) -> u64 {
        self.parent.timestamp_ms + self.params.block_interval_ms_min
    }

    /// The local clock when messages arrive: just after the block's timestamp.
    fn now_ms(&self) -> u64 {
        self.timestamp_ms() + 50
    }

    fn proposal(&self, block: &Block) -> Message {
        let author = self.proposer();
        let body = PrePrepare { height: HEIGHT, round: 0, block_hash: block.hash() };
        let pre_prepare = Signed::sign(self.ids[author].clone(), body, &crypto(author), &self.chain);
        Message::Proposal(Box::new(ProposalMessage { pre_prepare, block: block.clone(), justification: None }))
    }

    fn prepare(&self, author: usize, block: &Block) -> Message {
        let body = Prepare { height: HEIGHT, round: 0, block_hash: block.hash() };
        Message::Prepare(Signed::sign(self.ids[author].clone(), body, &crypto(author), &self.chain))
    }

    fn commit(&self, author: usize, block: &Block) -> Message {
        let digest = seal_digest(HEIGHT, 0, block.hash());
        let seal = crypto(author).sign(SignatureDomain::CommitSeal, &self.chain, &digest);
        let body = Commit { height: HEIGHT, round: 0, block_hash: block.hash(), seal };
        Message::Commit(Signed::sign(self.ids[author].clone(), body, &crypto(author), &self.chain))
    }

    fn validated(&self, block: &Block) -> Input {
        let outcome = BlockOutcome::Valid { state_root: block.header.state_root };
        Input::BlockValidated { height: HEIGHT, block_hash: block.hash(), outcome }
    }
}

/// The inputs a non-proposer receives for one height, in order, and the validator receiving them.
struct Height {
    me: usize,
    inputs: Vec<Input>,
}

impl Height {
    fn new(f: &Fixture, block: &Block) -> Height {
        let (me, proposer, other) = f.roles();
        let now_ms = f.now_ms();
        let message = |message| Input::Message { now_ms, message };
        let inputs = vec![
            message(f.proposal(block)),
            f.validated(block),
            message(f.prepare(proposer, block)),
            message(f.prepare(other, block)),
            message(f.commit(proposer, block)),
            message(f.commit(other, block)),
        ];
        Height { me, inputs }
    }

    /// A fresh engine that has handled the first `count` inputs.
    fn engine_after(&self, f: &Fixture, count: usize) -> Engine {
        let mut engine = f.started(self.me, f.now_ms());
        for input in &self.inputs[..count] {
            let actions = engine.handle(input.clone());
            assert!(!actions.iter().any(|action| matches!(action, Action::Rejected(_))), "{actions:?}");
        }
        engine
    }
}

fn is_broadcast(actions: &[Action], kind: &str) -> bool {
    actions.iter().any(|action| matches!(action, Action::Broadcast(message) if message.kind_name() == kind))
}

/// A vote case: name, inputs handled before the timed one, and the check of the timed one's actions.
type VoteCase = (&'static str, usize, fn(&[Action]) -> bool);

fn is_decision(actions: &[Action]) -> bool {
    actions.iter().any(|action| matches!(action, Action::Commit(_)))
}

fn votes(c: &mut Criterion) {
    let f = Fixture::new();
    let block = f.block(0);
    let height = Height::new(&f, &block);
    let mut group = c.benchmark_group("vote");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    let cases: [VoteCase; 4] = [
        ("prepare", 2, |actions| actions.is_empty()),
        ("prepare_quorum", 3, |actions| is_broadcast(actions, "commit")),
        ("commit", 4, |actions| actions.is_empty()),
        ("commit_quorum", 5, is_decision),
    ];
    for (name, before, expected) in cases {
        group.bench_function(name, |b| {
            b.iter_batched(
                || (height.engine_after(&f, before), height.inputs[before].clone()),
                |(mut engine, input)| {
                    let actions = engine.handle(input);
                    assert!(expected(&actions), "{name}: {actions:?}");
                    (engine, actions)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn proposals(c: &mut Criterion) {
    let f = Fixture::new();
    let mut group = c.benchmark_group("proposal");
    group.sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for txs in [1usize, 1_000] {
        let block = f.block(txs);
        let bytes = f.proposal(&block).encode();
        let (me, _, _) = f.roles();
        group.throughput(Throughput::Elements(txs as u64));
        group.bench_with_input(BenchmarkId::from_parameter(txs), &bytes, |b, bytes| {
            b.iter_batched(
                || f.started(me, f.now_ms()),
                |mut engine| {
                    let message = Message::decode(bytes).expect("the proposal decodes");
                    let actions = engine.handle(Input::Message { now_ms: f.now_ms(), message });
                    assert!(
                        matches!(&actions[..], [Action::ValidateBlock { block: asked, .. }] if asked.transactions.len() == txs),
                        "{actions:?}"
                    );
                    (engine, actions)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn follower_height(c: &mut Criterion) {
    let f = Fixture::new();
    let block = f.block(0);
    let height = Height::new(&f, &block);
    let mut group = c.benchmark_group("height");
    group.sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(1));
    group.bench_function("follower", |b| {
        b.iter_batched(
            || (height.engine_after(&f, 0), height.inputs.clone()),
            |(mut engine, inputs)| {
                let mut last = Vec::new();
                for input in inputs {
                    last = engine.handle(input);
                    assert!(!last.iter().any(|action| matches!(action, Action::Rejected(_))), "{last:?}");
                }
                assert!(is_decision(&last) && engine.is_decided());
                engine
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, votes, proposals, follower_height);
criterion_main!(benches);
