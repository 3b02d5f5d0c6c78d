//! Engine tests in the style of openraft's engine tests: feed one input, assert the exact list of
//! actions. Four validators `v0..v3`; at height 1 the proposer of round `r` is `v(1 + r) mod 4`.

use covenant_rules::{ChainParams, RuleId};
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, CommitSeal, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload,
    Principal, SealedVote, SecretKey, SignatureDomain, SignedTx, Transfer, TxBody, Validator, ValidatorSet,
    merkle_root,
};

use crate::*;

const GENESIS_MS: u64 = 1_000_000;

struct Fixture {
    chain: ChainId,
    ids: Vec<NodeId>,
    validators: ValidatorSet,
    params: ChainParams,
    genesis: BlockHeader,
}

fn seed(index: usize) -> [u8; 32] {
    [index as u8 + 1; 32]
}

impl Fixture {
    fn new() -> Fixture {
        let chain = ChainId::new("test-chain").unwrap();
        let ids: Vec<NodeId> = (0..4).map(|i| NodeId::new(format!("v{i}")).unwrap()).collect();
        let validators = ValidatorSet::new(
            ids.iter()
                .enumerate()
                .map(|(i, id)| Validator { id: id.clone(), consensus_key: SecretKey::from_seed(&seed(i)).public_key() })
                .collect(),
        )
        .unwrap();
        let params = ChainParams {
            block_txs_max: 2,
            block_interval_ms_min: 100,
            block_interval_ms_max: 1_000,
            clock_drift_ms_max: 500,
            round_timeout_ms_base: 400,
            ..ChainParams::default()
        };
        let genesis = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: chain.clone(),
            height: 0,
            round: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: GENESIS_MS,
            proposer: ids[0].clone(),
            transactions_root: merkle_root(&[]),
            state_root: Hash::digest(b"genesis state"),
            validator_set_hash: validators.hash(),
            parameters_hash: params.hash(),
            parent_commit_seals: vec![],
        };
        Fixture { chain, ids, validators, params, genesis }
    }

    fn crypto(&self, index: usize) -> Ed25519Crypto {
        Ed25519Crypto::new(SecretKey::from_seed(&seed(index)))
    }

    fn engine(&self, index: usize, restored: Option<SafetyState>) -> Engine {
        Engine::new(self.chain.clone(), self.ids[index].clone(), Box::new(self.crypto(index)), restored)
    }

    fn start(&self) -> Box<HeightStart> {
        Box::new(HeightStart {
            height: 1,
            validators: self.validators.clone(),
            params: self.params.clone(),
            parent: self.genesis.clone(),
            parent_validators: self.validators.clone(),
            parent_commit_seals: vec![],
        })
    }

    /// An engine at height 1 with the start actions discarded.
    fn started(&self, index: usize, now_ms: u64) -> Engine {
        let mut engine = self.engine(index, None);
        engine.handle(Input::StartHeight { now_ms, start: self.start() });
        engine
    }

    fn tx(&self, nonce: u64) -> SignedTx {
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: self.chain.clone(),
            sender: Principal::Operator(OperatorId::new("alice").unwrap()),
            nonce,
            created_at_ms: GENESIS_MS,
            payload: Payload::Transfer(Transfer {
                from: AccountId::new("bank-a/t").unwrap(),
                to: AccountId::new("bank-b/t").unwrap(),
                asset: AssetId::new("twd").unwrap(),
                amount: 1,
                memo: String::new(),
            }),
        };
        SignedTx::sign(body, &SecretKey::from_seed(&[99; 32]))
    }

    /// A well-formed block at height 1 proposed by `proposer` in `round`.
    fn block(&self, proposer: usize, round: u32, timestamp_ms: u64, transactions: Vec<SignedTx>) -> Block {
        let hashes: Vec<Hash> = transactions.iter().map(|tx| tx.body.hash()).collect();
        Block {
            header: BlockHeader {
                version: ENCODING_VERSION,
                chain_id: self.chain.clone(),
                height: 1,
                round,
                parent_hash: self.genesis.hash(),
                timestamp_ms,
                proposer: self.ids[proposer].clone(),
                transactions_root: merkle_root(&hashes),
                state_root: Hash::digest(b"state 1"),
                validator_set_hash: self.validators.hash(),
                parameters_hash: self.params.hash(),
                parent_commit_seals: vec![],
            },
            transactions: transactions.into(),
        }
    }

    fn pre_prepare(&self, author: usize, round: u32, block: &Block) -> Signed<PrePrepare> {
        let body = PrePrepare { height: 1, round, block_hash: block.hash() };
        Signed::sign(self.ids[author].clone(), body, &self.crypto(author), &self.chain)
    }

    fn proposal(&self, author: usize, round: u32, block: &Block, justification: Option<Justification>) -> Message {
        Message::Proposal(Box::new(ProposalMessage {
            pre_prepare: self.pre_prepare(author, round, block),
            block: block.clone(),
            justification,
        }))
    }

    fn prepare(&self, author: usize, round: u32, block_hash: Hash) -> Signed<Prepare> {
        Signed::sign(
            self.ids[author].clone(),
            Prepare { height: 1, round, block_hash },
            &self.crypto(author),
            &self.chain,
        )
    }

    fn seal(&self, author: usize, block: &Block) -> CommitSeal {
        let digest = seal_digest(1, block.header.round, block.hash());
        CommitSeal {
            validator: self.ids[author].clone(),
            signature: self.crypto(author).sign(SignatureDomain::CommitSeal, &self.chain, &digest),
        }
    }

    fn commit(&self, author: usize, round: u32, block: &Block) -> Signed<Commit> {
        let body = Commit { height: 1, round, block_hash: block.hash(), seal: self.seal(author, block).signature };
        Signed::sign(self.ids[author].clone(), body, &self.crypto(author), &self.chain)
    }

    fn round_change(&self, author: usize, round: u32, prepared: Option<PreparedCertificate>) -> RoundChangeMessage {
        let body = RoundChange { height: 1, round, prepared: prepared.as_ref().map(PreparedCertificate::reference) };
        RoundChangeMessage {
            round_change: Signed::sign(self.ids[author].clone(), body, &self.crypto(author), &self.chain),
            prepared,
        }
    }

    fn certificate(&self, round: u32, block: &Block, authors: &[usize]) -> PreparedCertificate {
        PreparedCertificate {
            block: block.clone(),
            prepares: authors.iter().map(|&author| self.prepare(author, round, block.hash())).collect(),
        }
    }
}

fn message(now_ms: u64, message: Message) -> Input {
    Input::Message { now_ms, message }
}

fn round_timeout(at_ms: u64, round: u32) -> Action {
    Action::ScheduleTimeout(Timeout { height: 1, round, kind: TimeoutKind::Round, at_ms })
}

fn rejections(actions: &[Action]) -> Vec<&ConsensusError> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Rejected(rejection) => Some(&rejection.error),
            _ => None,
        })
        .collect()
}

fn safety_with(f: impl FnOnce(&mut SafetyState)) -> SafetyState {
    let mut safety = SafetyState::new(1);
    f(&mut safety);
    safety
}

// ---------------------------------------------------------------------------------------------------
// Proposer timing (COV-49 intervals).

#[test]
fn round0_proposer_waits_for_transactions_or_the_maximum_interval() {
    let f = Fixture::new();
    let mut proposer = f.engine(1, None);
    let now = GENESIS_MS + 10;
    let actions = proposer.handle(Input::StartHeight { now_ms: now, start: f.start() });
    // Round timer allows for the maximum interval plus clock drift; the proposer waits for max.
    assert_eq!(
        actions,
        vec![
            round_timeout(GENESIS_MS + 1_000 + 500 + 400, 0),
            Action::ScheduleTimeout(Timeout {
                height: 1,
                round: 0,
                kind: TimeoutKind::Propose,
                at_ms: GENESIS_MS + 1_000
            }),
        ]
    );
    // Transactions arrive: propose at the minimum interval, not before.
    let actions = proposer.handle(Input::TransactionsPending { now_ms: GENESIS_MS + 50, count: 3 });
    assert_eq!(
        actions,
        vec![Action::ScheduleTimeout(Timeout {
            height: 1,
            round: 0,
            kind: TimeoutKind::Propose,
            at_ms: GENESIS_MS + 100
        })]
    );
    let timer = Timeout { height: 1, round: 0, kind: TimeoutKind::Propose, at_ms: GENESIS_MS + 100 };
    let actions = proposer.handle(Input::Timeout { now_ms: GENESIS_MS + 100, timeout: timer });
    assert_eq!(
        actions,
        vec![Action::BuildProposal(ProposalRequest {
            height: 1,
            round: 0,
            parent_hash: f.genesis.hash(),
            parent_state_root: f.genesis.state_root,
            timestamp_ms: GENESIS_MS + 100,
            proposer: f.ids[1].clone(),
            transactions_max: 2,
            transactions_bytes_max: f.params.block_bytes_max
                - bcs::serialized_size(&f.genesis).unwrap() as u64
                - bcs::serialized_size(&Vec::<CommitSeal>::new()).unwrap() as u64,
        })]
    );
}

#[test]
fn round0_proposer_proposes_an_empty_block_after_the_maximum_interval() {
    let f = Fixture::new();
    let mut proposer = f.started(1, GENESIS_MS);
    let timer = Timeout { height: 1, round: 0, kind: TimeoutKind::Propose, at_ms: GENESIS_MS + 1_000 };
    let actions = proposer.handle(Input::Timeout { now_ms: GENESIS_MS + 999, timeout: timer });
    assert_eq!(actions, vec![Action::ScheduleTimeout(timer)], "an early wake-up re-arms the timer");
    let actions = proposer.handle(Input::Timeout { now_ms: GENESIS_MS + 1_000, timeout: timer });
    assert!(matches!(&actions[..], [Action::BuildProposal(request)] if request.timestamp_ms == GENESIS_MS + 1_000));
}

#[test]
fn built_proposal_is_persisted_before_it_is_broadcast_then_prepared() {
    let f = Fixture::new();
    let mut proposer = f.started(1, GENESIS_MS);
    proposer.handle(Input::TransactionsPending { now_ms: GENESIS_MS + 100, count: 1 });
    let txs = vec![f.tx(0)];
    let block = f.block(1, 0, GENESIS_MS + 100, txs.clone());
    let actions = proposer.handle(Input::ProposalBuilt {
        height: 1,
        round: 0,
        transactions: txs,
        state_root: block.header.state_root,
    });
    let proposed = VoteRecord { round: 0, block_hash: block.hash() };
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| s.proposed = Some(proposed))),
            Action::Broadcast(f.proposal(1, 0, &block, None)),
            Action::PersistSafety(safety_with(|s| {
                s.proposed = Some(proposed);
                s.prepare = Some(proposed);
            })),
            Action::Broadcast(Message::Prepare(f.prepare(1, 0, block.hash()))),
        ]
    );
}

// covers: COV-49-BLOCK-LIMITS
#[test]
fn a_driver_bug_never_becomes_an_oversized_proposal() {
    let f = Fixture::new();
    let mut proposer = f.started(1, GENESIS_MS);
    proposer.handle(Input::TransactionsPending { now_ms: GENESIS_MS + 100, count: 3 });
    let actions = proposer.handle(Input::ProposalBuilt {
        height: 1,
        round: 0,
        transactions: vec![f.tx(0), f.tx(1), f.tx(2)],
        state_root: Hash::ZERO,
    });
    let errors = rejections(&actions);
    assert_eq!(actions.len(), 1);
    assert_eq!(errors[0].rule(), Some(RuleId::BlockLimits));
}

// covers: COV-49-BLOCK-LIMITS
#[test]
fn a_late_round0_proposer_gives_up_its_round_rather_than_propose_a_block_peers_refuse() {
    let f = Fixture::new();
    let late = GENESIS_MS + f.params.block_interval_ms_max + f.params.clock_drift_ms_max + 1;
    // Its parent is older than the maximum interval: it asks for a block as soon as the height starts.
    let mut proposer = f.engine(1, None);
    let actions = proposer.handle(Input::StartHeight { now_ms: late, start: f.start() });
    assert!(
        actions.iter().any(|action| matches!(action, Action::BuildProposal(request) if request.timestamp_ms == late)),
        "{actions:?}"
    );
    let actions =
        proposer.handle(Input::ProposalBuilt { height: 1, round: 0, transactions: vec![], state_root: Hash::ZERO });
    let errors = rejections(&actions);
    assert_eq!(actions.len(), 1, "nothing signed or sent: {actions:?}");
    assert!(matches!(errors[0], ConsensusError::OwnProposal(_)), "{}", errors[0]);
    assert_eq!(errors[0].rule(), Some(RuleId::BlockLimits));
}

// ---------------------------------------------------------------------------------------------------
// The normal case at a validator.

#[test]
fn validator_validates_then_prepares_then_commits_then_decides() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![f.tx(0)]);
    let hash = block.hash();

    // PRE-PREPARE: header checks pass, execution is asked for.
    let actions = validator.handle(message(now, f.proposal(1, 0, &block, None)));
    assert_eq!(actions, vec![Action::ValidateBlock { height: 1, round: 0, block: block.clone() }]);

    // Execution agrees: persist the vote, then PREPARE.
    let outcome = BlockOutcome::Valid { state_root: block.header.state_root };
    let actions = validator.handle(Input::BlockValidated { height: 1, block_hash: hash, outcome });
    let prepared_vote = VoteRecord { round: 0, block_hash: hash };
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| s.prepare = Some(prepared_vote))),
            Action::Broadcast(Message::Prepare(f.prepare(0, 0, hash))),
        ]
    );

    // A quorum (3 of 4) of PREPAREs: lock on the block and COMMIT with a seal.
    assert_eq!(validator.handle(message(now, Message::Prepare(f.prepare(1, 0, hash)))), vec![]);
    let actions = validator.handle(message(now, Message::Prepare(f.prepare(2, 0, hash))));
    let certificate = PreparedCertificate {
        block: block.clone(),
        prepares: vec![f.prepare(0, 0, hash), f.prepare(1, 0, hash), f.prepare(2, 0, hash)],
    };
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| {
                s.prepare = Some(prepared_vote);
                s.commit = Some(prepared_vote);
                s.prepared = Some(certificate.clone());
            })),
            Action::Broadcast(Message::Commit(f.commit(0, 0, &block))),
        ]
    );

    // A quorum of COMMITs with valid seals: the block is final, with its seals sorted by validator.
    assert_eq!(validator.handle(message(now, Message::Commit(f.commit(2, 0, &block)))), vec![]);
    let actions = validator.handle(message(now, Message::Commit(f.commit(3, 0, &block))));
    assert_eq!(
        actions,
        vec![Action::Commit(CommitCertificate {
            block: block.clone(),
            seals: vec![f.seal(0, &block), f.seal(2, &block), f.seal(3, &block)],
        })]
    );
    assert!(validator.is_decided());

    // A validator's late vote right after the decision is normal: it is deciding from the same votes.
    assert_eq!(validator.handle(message(now, Message::Prepare(f.prepare(1, 0, hash)))), vec![]);
    // Still voting at height 1 half a round timeout later, it gets the decision, once.
    let later = now + f.params.round_timeout_ms_base / 2;
    let actions = validator.handle(message(later, Message::Prepare(f.prepare(1, 0, hash))));
    assert!(matches!(&actions[..], [Action::Send { to, message: Message::Decided(_) }] if *to == f.ids[1]));
    assert_eq!(validator.handle(message(later, Message::Prepare(f.prepare(1, 0, hash)))), vec![]);
}

#[test]
fn state_root_mismatch_is_refused_and_never_prepared() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    validator.handle(message(now, f.proposal(1, 0, &block, None)));
    let computed = Hash::digest(b"something else");
    let actions = validator.handle(Input::BlockValidated {
        height: 1,
        block_hash: block.hash(),
        outcome: BlockOutcome::Valid { state_root: computed },
    });
    assert_eq!(
        actions,
        vec![Action::Rejected(Rejection {
            from: Some(f.ids[1].clone()),
            height: 1,
            round: 0,
            error: ConsensusError::StateRootMismatch {
                block_hash: block.hash(),
                claimed: block.header.state_root,
                computed
            },
        })]
    );
    // Even with a quorum of PREPAREs from others, no COMMIT from a validator whose execution differs.
    validator.handle(message(now, Message::Prepare(f.prepare(1, 0, block.hash()))));
    validator.handle(message(now, Message::Prepare(f.prepare(2, 0, block.hash()))));
    let actions = validator.handle(message(now, Message::Prepare(f.prepare(3, 0, block.hash()))));
    assert!(matches!(&actions[..], [Action::PersistSafety(s)] if s.commit.is_none() && s.prepared.is_some()));
}

// ---------------------------------------------------------------------------------------------------
// Covenant header rules and structural checks at proposal validation.

// covers: COV-49-BLOCK-LIMITS, COV-36-TIMESTAMP-INTEGRITY, COV-35-CLOCK-DRIFT, COV-19-ENVIRONMENT-SEPARATION
#[test]
fn header_rules_refuse_proposals_with_the_rule_id() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let good = || f.block(1, 0, GENESIS_MS + 100, vec![]);
    let resealed = |mut block: Block| {
        let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.body.hash()).collect();
        block.header.transactions_root = merkle_root(&hashes);
        block
    };
    type Case = (&'static str, Block, fn(&ConsensusError) -> bool);
    let cases: Vec<Case> = vec![
        ("too many transactions (COV-49)", f.block(1, 0, GENESIS_MS + 100, vec![f.tx(0), f.tx(1), f.tx(2)]), |e| {
            e.rule() == Some(RuleId::BlockLimits)
        }),
        ("before parent + interval min (COV-36)", f.block(1, 0, GENESIS_MS + 99, vec![]), |e| {
            e.rule() == Some(RuleId::TimestampIntegrity)
        }),
        ("far from this validator's clock (COV-35)", f.block(1, 0, now + 501, vec![]), |e| {
            e.rule() == Some(RuleId::ClockDrift)
        }),
        (
            "another chain (COV-19)",
            {
                let mut block = good();
                block.header.chain_id = ChainId::new("other-chain").unwrap();
                block
            },
            |e| e.rule() == Some(RuleId::EnvironmentSeparation),
        ),
        (
            "wrong parent",
            {
                let mut block = good();
                block.header.parent_hash = Hash::digest(b"fork");
                block
            },
            |e| matches!(e, ConsensusError::WrongParent { .. }),
        ),
        (
            "wrong height",
            {
                let mut block = good();
                block.header.height = 2;
                block
            },
            |e| matches!(e, ConsensusError::WrongHeight { found: 2, expected: 1 }),
        ),
        (
            "header names another proposer",
            {
                let mut block = good();
                block.header.proposer = f.ids[2].clone();
                block
            },
            |e| matches!(e, ConsensusError::WrongProposer { .. }),
        ),
        (
            "transactions root does not match",
            {
                let mut block = good();
                std::sync::Arc::make_mut(&mut block.transactions).push(f.tx(5));
                block
            },
            |e| matches!(e, ConsensusError::WrongHeaderField { field: "transactions_root", .. }),
        ),
        (
            "seals for the genesis parent",
            resealed({
                let mut block = good();
                block.header.parent_commit_seals = vec![f.seal(0, &good())];
                block
            }),
            |e| matches!(e, ConsensusError::BadParentSeals { .. }),
        ),
    ];
    for (name, block, expected) in cases {
        let mut validator = f.started(0, now);
        let actions = validator.handle(message(now, f.proposal(1, 0, &block, None)));
        let errors = rejections(&actions);
        assert_eq!(actions.len(), 1, "{name}: {actions:?}");
        assert!(expected(errors[0]), "{name}: got {}", errors[0]);
        // A duplicate of a refused proposal is dropped without another report.
        assert_eq!(validator.handle(message(now, f.proposal(1, 0, &block, None))), vec![], "{name}");
    }
}

/// `f.tx(nonce)` with a memo of `memo_bytes`, signed again.
fn padded_tx(f: &Fixture, nonce: u64, memo_bytes: usize) -> SignedTx {
    let mut body = f.tx(nonce).body;
    if let Payload::Transfer(transfer) = &mut body.payload {
        transfer.memo = "m".repeat(memo_bytes);
    }
    SignedTx::sign(body, &SecretKey::from_seed(&[99; 32]))
}

// covers: COV-45-LOAD-LIMITS, COV-49-BLOCK-LIMITS
#[test]
fn the_block_path_refuses_an_oversized_transaction_an_oversized_block_and_a_late_round0_block() {
    let mut f = Fixture::new();
    f.params.tx_bytes_max = 1_024;
    f.params.block_bytes_max = 2_048;
    let now = GENESIS_MS + 150;
    let fits = padded_tx(&f, 0, 600);
    assert!(fits.encode().len() <= 1_024 && fits.encode().len() > 700, "{}", fits.encode().len());
    let latest = GENESIS_MS + f.params.block_interval_ms_max + f.params.clock_drift_ms_max;
    type Case = (&'static str, Block, u64, fn(&ConsensusError) -> bool);
    let cases: Vec<Case> = vec![
        // A proposer's transactions need not have passed anybody's mempool.
        (
            "a transaction over tx_bytes_max (COV-45)",
            f.block(1, 0, GENESIS_MS + 100, vec![padded_tx(&f, 0, 1_100)]),
            now,
            |e| e.rule() == Some(RuleId::LoadLimits) && e.to_string().contains("tx_bytes_max"),
        ),
        (
            "a block over block_bytes_max, each transaction within its limit (COV-49)",
            f.block(1, 0, GENESIS_MS + 100, vec![padded_tx(&f, 0, 900), padded_tx(&f, 1, 900)]),
            now,
            |e| e.rule() == Some(RuleId::BlockLimits) && e.to_string().contains("block_bytes_max"),
        ),
        (
            "a round-0 block later than the maximum interval and the drift after its parent (COV-49)",
            f.block(1, 0, latest + 1, vec![]),
            latest + 1,
            |e| e.rule() == Some(RuleId::BlockLimits) && e.to_string().contains("block_interval_ms_max"),
        ),
    ];
    for (name, block, received, expected) in cases {
        let mut validator = f.started(0, received);
        let actions = validator.handle(message(received, f.proposal(1, 0, &block, None)));
        let errors = rejections(&actions);
        assert_eq!(errors.len(), 1, "{name}: {actions:?}");
        assert!(expected(errors[0]), "{name}: got {}", errors[0]);
    }
    // Within every limit, the same shapes are taken for validation.
    let fine = [(f.block(1, 0, GENESIS_MS + 100, vec![fits.clone()]), now), (f.block(1, 0, latest, vec![]), latest)];
    for (block, received) in fine {
        let mut validator = f.started(0, received);
        let actions = validator.handle(message(received, f.proposal(1, 0, &block, None)));
        assert!(rejections(&actions).is_empty(), "{actions:?}");
        assert!(actions.iter().any(|action| matches!(action, Action::ValidateBlock { .. })), "{actions:?}");
    }
}

// covers: COV-35-CLOCK-DRIFT
#[test]
fn a_timestamp_behind_this_validators_clock_by_more_than_the_drift_is_refused() {
    let f = Fixture::new();
    let block = f.block(1, 0, GENESIS_MS + 150, vec![]);
    let drift = f.params.clock_drift_ms_max;
    // At the bound: taken for validation.
    let mut validator = f.started(0, GENESIS_MS + 150 + drift);
    let actions = validator.handle(message(GENESIS_MS + 150 + drift, f.proposal(1, 0, &block, None)));
    assert!(matches!(&actions[..], [Action::ValidateBlock { .. }]), "{actions:?}");
    // One millisecond further behind: refused by COV-35, not by any other rule.
    let mut validator = f.started(0, GENESIS_MS + 151 + drift);
    let actions = validator.handle(message(GENESIS_MS + 151 + drift, f.proposal(1, 0, &block, None)));
    let errors = rejections(&actions);
    assert_eq!(errors.len(), 1, "{actions:?}");
    assert_eq!(errors[0].rule(), Some(RuleId::ClockDrift), "{}", errors[0]);
}

#[test]
fn clock_drift_is_judged_at_first_receipt_only() {
    let f = Fixture::new();
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let mut validator = f.started(0, GENESIS_MS);
    // Received in time, validated later: the later clock does not matter.
    let actions = validator.handle(message(GENESIS_MS + 120, f.proposal(1, 0, &block, None)));
    assert!(matches!(&actions[..], [Action::ValidateBlock { .. }]));
    let late = GENESIS_MS + 100 + 10_000;
    let actions = validator.handle(message(late, f.proposal(1, 0, &block, None)));
    assert_eq!(actions, vec![], "duplicate");
}

#[test]
fn hostile_messages_are_dropped_with_a_reason() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);

    // Not the proposer of round 0.
    let actions = validator.handle(message(now, f.proposal(2, 0, &block, None)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::WrongProposer { .. }]));

    // A PREPARE signed by someone outside the validator set.
    let outsider = NodeId::new("mallory").unwrap();
    let forged =
        Signed::sign(outsider, Prepare { height: 1, round: 0, block_hash: block.hash() }, &f.crypto(0), &f.chain);
    let actions = validator.handle(message(now, Message::Prepare(forged)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::NotValidator { .. }]));

    // A PREPARE claiming v2 but signed with v3's key.
    let mut forged = f.prepare(3, 0, block.hash());
    forged.author = f.ids[2].clone();
    let actions = validator.handle(message(now, Message::Prepare(forged)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::BadSignature { kind: MessageKind::Prepare, .. }]));

    // A PRE-PREPARE whose block is not the signed one.
    let other = f.block(1, 0, GENESIS_MS + 101, vec![]);
    let mut mismatched = f.proposal(1, 0, &block, None);
    if let Message::Proposal(proposal) = &mut mismatched {
        proposal.block = other;
    }
    let actions = validator.handle(message(now, mismatched));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::BlockHashMismatch { .. }]));

    // A message for a height long gone, and a commit with a seal over another block.
    let mut stale = f.prepare(1, 0, block.hash());
    stale.body.height = 0;
    let stale = Signed::sign(f.ids[1].clone(), stale.body, &f.crypto(1), &f.chain);
    let actions = validator.handle(message(now, Message::Prepare(stale)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::StaleHeight { found: 0, current: 1 }]));

    // Garbage bytes never reach the engine.
    assert!(Message::decode(&[0xff; 64]).is_err());
    assert!(Message::decode(&[]).is_err());
    let bytes = Message::Prepare(f.prepare(1, 0, block.hash())).encode();
    assert!(Message::decode(&bytes[..bytes.len() - 1]).is_err());
    assert_eq!(Message::decode(&bytes).unwrap(), Message::Prepare(f.prepare(1, 0, block.hash())));
}

#[test]
fn bad_commit_seal_does_not_count() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let other = f.block(1, 0, GENESIS_MS + 101, vec![]);
    validator.handle(message(now, f.proposal(1, 0, &block, None)));
    validator.handle(message(now, Message::Commit(f.commit(1, 0, &block))));
    validator.handle(message(now, Message::Commit(f.commit(2, 0, &block))));
    // v3 signs a COMMIT for `block` but seals `other`.
    let body = Commit { height: 1, round: 0, block_hash: block.hash(), seal: f.seal(3, &other).signature };
    let bad = Signed::sign(f.ids[3].clone(), body, &f.crypto(3), &f.chain);
    let actions = validator.handle(message(now, Message::Commit(bad)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::BadSeal { .. }]), "{actions:?}");
    assert!(!validator.is_decided());
}

#[test]
fn equivocation_is_reported_and_the_first_vote_kept() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let a = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let b = f.block(1, 0, GENESIS_MS + 101, vec![]);
    validator.handle(message(now, Message::Prepare(f.prepare(2, 0, a.hash()))));
    let actions = validator.handle(message(now, Message::Prepare(f.prepare(2, 0, b.hash()))));
    assert!(matches!(
        rejections(&actions)[..],
        [ConsensusError::Equivocation { kind: MessageKind::Prepare, round: 0, .. }]
    ));
    // An equivocating proposer: the second block of the round is refused.
    validator.handle(message(now, f.proposal(1, 0, &a, None)));
    let actions = validator.handle(message(now, f.proposal(1, 0, &b, None)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::Equivocation { kind: MessageKind::PrePrepare, .. }]));
}

// ---------------------------------------------------------------------------------------------------
// Round changes.

#[test]
fn round_timeout_persists_then_broadcasts_round_change_with_a_longer_timer() {
    let f = Fixture::new();
    let mut validator = f.started(0, GENESIS_MS);
    let deadline = GENESIS_MS + 1_000 + 500 + 400;
    let timer = Timeout { height: 1, round: 0, kind: TimeoutKind::Round, at_ms: deadline };
    // Early wake-up: re-arm, nothing else.
    assert_eq!(
        validator.handle(Input::Timeout { now_ms: deadline - 1, timeout: timer }),
        vec![round_timeout(deadline, 0)]
    );
    let actions = validator.handle(Input::Timeout { now_ms: deadline, timeout: timer });
    let round_change = f.round_change(0, 1, None);
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| s.round = 1)),
            Action::Broadcast(Message::RoundChange(Box::new(round_change))),
            round_timeout(deadline + 800, 1),
        ]
    );
    assert_eq!(validator.round(), 1);
    // Stale timers are ignored.
    assert_eq!(validator.handle(Input::Timeout { now_ms: deadline + 5_000, timeout: timer }), vec![]);
}

#[test]
fn round_timeouts_grow_and_are_capped() {
    let params = ChainParams { round_timeout_ms_base: 400, ..ChainParams::default() };
    let timeouts: Vec<u64> = (0..9).map(|round| round_timeout_ms(&params, round)).collect();
    assert_eq!(timeouts, vec![400, 800, 1_600, 3_200, 6_400, 12_800, 25_600, 25_600, 25_600]);
    assert_eq!(round_timeout_ms(&params, u32::MAX), 25_600);
}

#[test]
fn f_plus_one_round_changes_pull_a_laggard_forward() {
    let f = Fixture::new();
    let now = GENESIS_MS + 10;
    let mut validator = f.started(0, now);
    assert_eq!(validator.handle(message(now, Message::RoundChange(Box::new(f.round_change(2, 3, None))))), vec![]);
    let actions = validator.handle(message(now, Message::RoundChange(Box::new(f.round_change(3, 2, None)))));
    // f + 1 = 2 validators are at round 2 or later: move to 2 (not 3: only one is there).
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| s.round = 2)),
            Action::Broadcast(Message::RoundChange(Box::new(f.round_change(0, 2, None)))),
            round_timeout(now + 1_600, 2),
        ]
    );
}

#[test]
fn new_proposer_reproposes_the_highest_prepared_block_with_its_justification() {
    let f = Fixture::new();
    let now = GENESIS_MS + 3_000;
    // v2 proposes round 1. v1's round-0 block was prepared by v0, v1, v3.
    let mut proposer = f.started(2, GENESIS_MS);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let certificate = f.certificate(0, &block, &[0, 1, 3]);
    let timer = Timeout { height: 1, round: 0, kind: TimeoutKind::Round, at_ms: GENESIS_MS + 1_900 };
    proposer.handle(Input::Timeout { now_ms: now, timeout: timer });
    proposer.handle(message(now, Message::RoundChange(Box::new(f.round_change(0, 1, Some(certificate.clone()))))));
    let actions = proposer.handle(message(now, Message::RoundChange(Box::new(f.round_change(3, 1, None)))));
    let justification = Justification {
        round_changes: vec![
            f.round_change(0, 1, Some(certificate.clone())).round_change,
            f.round_change(2, 1, None).round_change,
            f.round_change(3, 1, None).round_change,
        ],
        prepares: certificate.prepares.clone(),
    };
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(safety_with(|s| {
                s.round = 1;
                s.proposed = Some(VoteRecord { round: 1, block_hash: block.hash() });
            })),
            Action::Broadcast(f.proposal(2, 1, &block, Some(justification.clone()))),
            Action::ValidateBlock { height: 1, round: 1, block: block.clone() },
        ]
    );

    // Another validator accepts the re-proposal although its timestamp is now far from its clock:
    // COV-35 was judged when the block was new.
    let mut validator = f.started(3, GENESIS_MS);
    let actions = validator.handle(message(now, f.proposal(2, 1, &block, Some(justification.clone()))));
    assert_eq!(
        actions,
        vec![round_timeout(now + 800, 1), Action::ValidateBlock { height: 1, round: 1, block: block.clone() }]
    );

    // A different block with the same justification is refused: the prepared block must be re-proposed.
    let mut validator = f.started(3, GENESIS_MS);
    let other = f.block(2, 1, now, vec![]);
    let actions = validator.handle(message(now, f.proposal(2, 1, &other, Some(justification))));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::InvalidJustification { .. }]), "{actions:?}");
}

#[test]
fn proposal_above_round_zero_needs_a_quorum_of_round_changes() {
    let f = Fixture::new();
    let now = GENESIS_MS + 3_000;
    let mut validator = f.started(3, GENESIS_MS);
    let block = f.block(2, 1, now, vec![]);
    let thin = Justification {
        round_changes: vec![f.round_change(0, 1, None).round_change, f.round_change(2, 1, None).round_change],
        prepares: vec![],
    };
    let actions = validator.handle(message(now, f.proposal(2, 1, &block, Some(thin))));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::InvalidJustification { .. }]));
    let actions = validator.handle(message(now, f.proposal(2, 1, &block, None)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::InvalidJustification { .. }]));
    assert_eq!(validator.round(), 0, "an unjustified proposal moves nobody");
}

#[test]
fn round_change_with_a_fake_certificate_is_refused() {
    let f = Fixture::new();
    let mut validator = f.started(0, GENESIS_MS);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    // Only two PREPAREs: not a quorum.
    let thin = f.certificate(0, &block, &[1, 3]);
    let actions =
        validator.handle(message(GENESIS_MS, Message::RoundChange(Box::new(f.round_change(3, 1, Some(thin))))));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::InvalidJustification { .. }]));
}

// ---------------------------------------------------------------------------------------------------
// Safety across restarts.

#[test]
fn a_restarted_validator_never_signs_a_conflicting_prepare() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let a = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let b = f.block(1, 0, GENESIS_MS + 101, vec![]);
    let mut validator = f.started(0, now);
    validator.handle(message(now, f.proposal(1, 0, &a, None)));
    let actions = validator.handle(Input::BlockValidated {
        height: 1,
        block_hash: a.hash(),
        outcome: BlockOutcome::Valid { state_root: a.header.state_root },
    });
    let Action::PersistSafety(persisted) = actions[0].clone() else { panic!("persist first: {actions:?}") };

    // Crash; restart from the persisted state. The equivocating proposer now sends `b`.
    let mut restarted = f.engine(0, Some(persisted.clone()));
    restarted.handle(Input::StartHeight { now_ms: now, start: f.start() });
    restarted.handle(message(now, f.proposal(1, 0, &b, None)));
    let actions = restarted.handle(Input::BlockValidated {
        height: 1,
        block_hash: b.hash(),
        outcome: BlockOutcome::Valid { state_root: b.header.state_root },
    });
    assert_eq!(actions, vec![], "no PREPARE for b after a PREPARE for a in the same round");

    // Re-sending the same vote is fine.
    let mut restarted = f.engine(0, Some(persisted.clone()));
    restarted.handle(Input::StartHeight { now_ms: now, start: f.start() });
    restarted.handle(message(now, f.proposal(1, 0, &a, None)));
    let actions = restarted.handle(Input::BlockValidated {
        height: 1,
        block_hash: a.hash(),
        outcome: BlockOutcome::Valid { state_root: a.header.state_root },
    });
    assert_eq!(
        actions,
        vec![Action::PersistSafety(persisted), Action::Broadcast(Message::Prepare(f.prepare(0, 0, a.hash())))]
    );
}

#[test]
fn a_restarted_validator_resumes_its_round_and_keeps_its_lock() {
    let f = Fixture::new();
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let certificate = f.certificate(0, &block, &[0, 1, 2]);
    let persisted = safety_with(|s| {
        s.round = 2;
        s.prepared = Some(certificate.clone());
    });
    let now = GENESIS_MS + 5_000;
    let mut restarted = f.engine(0, Some(persisted.clone()));
    let actions = restarted.handle(Input::StartHeight { now_ms: now, start: f.start() });
    assert_eq!(
        actions,
        vec![
            Action::PersistSafety(persisted),
            Action::Broadcast(Message::RoundChange(Box::new(f.round_change(0, 2, Some(certificate))))),
            round_timeout(now + 1_600, 2),
        ]
    );
    let encoded = restarted.safety().encode();
    assert_eq!(&SafetyState::decode(&encoded).unwrap(), restarted.safety());
}

// ---------------------------------------------------------------------------------------------------
// Heights: future buffer, sync, certificates.

#[test]
fn future_height_messages_are_buffered_and_replayed() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.engine(0, None);
    // Before any height: refused.
    let actions = validator.handle(message(now, f.proposal(1, 0, &f.block(1, 0, GENESIS_MS + 100, vec![]), None)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::NotStarted]));

    // Start at height 1 with a parent header of height 0, feed height-2 messages: buffered silently.
    validator.handle(Input::StartHeight { now_ms: now, start: f.start() });
    let mut prepare = f.prepare(1, 0, Hash::digest(b"h2")).body;
    prepare.height = 2;
    let h2 = Signed::sign(f.ids[1].clone(), prepare.clone(), &f.crypto(1), &f.chain);
    assert_eq!(validator.handle(message(now, Message::Prepare(h2.clone()))), vec![]);
    // Too far ahead: refused.
    prepare.height = 1 + engine::FUTURE_HEIGHTS_MAX + 1;
    let far = Signed::sign(f.ids[1].clone(), prepare, &f.crypto(1), &f.chain);
    let actions = validator.handle(message(now, Message::Prepare(far)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::HeightTooFarAhead { .. }]));
}

#[test]
fn a_validator_ahead_triggers_rate_limited_sync_and_a_certificate_commits() {
    let f = Fixture::new();
    let start_ms = GENESIS_MS;
    let mut validator = f.started(0, start_ms);
    let later = start_ms + f.params.round_timeout_ms_base;
    for author in [1, 2] {
        let body = Prepare { height: 2, round: 0, block_hash: Hash::digest(b"h2") };
        let ahead = Signed::sign(f.ids[author].clone(), body, &f.crypto(author), &f.chain);
        let actions = validator.handle(message(later, Message::Prepare(ahead)));
        if author == 1 {
            assert_eq!(actions, vec![Action::RequestSync { from_height: 1 }]);
        } else {
            assert_eq!(actions, vec![], "at most one request per base round timeout");
        }
    }
    // Sync delivers block 1 with a quorum of seals.
    let block = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let thin = CommitCertificate { block: block.clone(), seals: vec![f.seal(1, &block), f.seal(2, &block)] };
    let actions = validator.handle(Input::SyncedBlock(thin));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::InvalidJustification { .. }]), "{actions:?}");
    let certificate = CommitCertificate {
        block: block.clone(),
        seals: vec![f.seal(1, &block), f.seal(2, &block), f.seal(3, &block)],
    };
    let actions = validator.handle(Input::SyncedBlock(certificate.clone()));
    assert_eq!(actions, vec![Action::Commit(certificate)]);
}

#[test]
fn next_height_checks_the_parent_seals() {
    let f = Fixture::new();
    let parent = f.block(1, 0, GENESIS_MS + 100, vec![]);
    let seals = vec![f.seal(1, &parent), f.seal(2, &parent), f.seal(3, &parent)];
    let start = |parent_commit_seals: Vec<CommitSeal>| {
        Box::new(HeightStart {
            height: 2,
            validators: f.validators.clone(),
            params: f.params.clone(),
            parent: parent.header.clone(),
            parent_validators: f.validators.clone(),
            parent_commit_seals,
        })
    };
    let now = GENESIS_MS + 300;
    // The proposer of height 2 round 0 is v2; its block carries the seals it was started with.
    let mut proposer = f.engine(2, None);
    proposer.handle(Input::StartHeight { now_ms: now, start: start(seals.clone()) });
    proposer.handle(Input::TransactionsPending { now_ms: now, count: 1 });
    let actions =
        proposer.handle(Input::ProposalBuilt { height: 2, round: 0, transactions: vec![], state_root: Hash::ZERO });
    let Some(Action::Broadcast(proposal)) = actions.get(1) else { panic!("{actions:?}") };

    let mut validator = f.engine(0, None);
    validator.handle(Input::StartHeight { now_ms: now, start: start(vec![]) });
    let actions = validator.handle(message(now, proposal.clone()));
    assert!(matches!(&actions[..], [Action::ValidateBlock { height: 2, .. }]), "{actions:?}");

    // The same block with only two parent seals is refused.
    let Message::Proposal(mut thin) = proposal.clone() else { panic!() };
    thin.block.header.parent_commit_seals.pop();
    thin.pre_prepare = Signed::sign(
        f.ids[2].clone(),
        PrePrepare { height: 2, round: 0, block_hash: thin.block.hash() },
        &f.crypto(2),
        &f.chain,
    );
    let mut validator = f.engine(0, None);
    validator.handle(Input::StartHeight { now_ms: now, start: start(vec![]) });
    let actions = validator.handle(message(now, Message::Proposal(thin)));
    assert!(matches!(rejections(&actions)[..], [ConsensusError::BadParentSeals { .. }]), "{actions:?}");
}

#[test]
fn messages_round_trip_through_bytes() {
    let f = Fixture::new();
    let block = f.block(1, 0, GENESIS_MS + 100, vec![f.tx(0)]);
    let messages = vec![
        f.proposal(1, 0, &block, None),
        Message::Prepare(f.prepare(0, 0, block.hash())),
        Message::Commit(f.commit(0, 0, &block)),
        Message::RoundChange(Box::new(f.round_change(0, 1, Some(f.certificate(0, &block, &[0, 1, 2]))))),
        Message::Decided(Box::new(CommitCertificate { block: block.clone(), seals: vec![f.seal(0, &block)] })),
    ];
    for message in messages {
        assert_eq!(Message::decode(&message.encode()).unwrap(), message);
    }
    // A PREPARE's signature is not valid as a COMMIT's: the kind is inside the signed digest.
    let prepare = f.prepare(0, 0, block.hash());
    let as_commit = Signed {
        author: prepare.author.clone(),
        body: Commit { height: 1, round: 0, block_hash: block.hash(), seal: prepare.signature },
        signature: prepare.signature,
    };
    let key = f.validators.get(&f.ids[0]).unwrap().consensus_key;
    assert!(as_commit.verify(&key, &f.crypto(0), &f.chain).is_err());
}

#[test]
fn an_observer_follows_and_decides_on_validators_seals_but_never_votes() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let observer_key = SecretKey::from_seed(&[77; 32]);
    let mut observer = Engine::new(
        f.chain.clone(),
        NodeId::new("observer").unwrap(),
        Box::new(Ed25519Crypto::new(observer_key)),
        None,
    );
    let start_actions = observer.handle(Input::StartHeight { now_ms: now, start: f.start() });
    assert!(
        !start_actions.iter().any(|action| matches!(action, Action::Broadcast(_) | Action::BuildProposal(_))),
        "{start_actions:?}"
    );
    let block = f.block(1, 0, GENESIS_MS + 100, vec![f.tx(0)]);
    let hash = block.hash();
    observer.handle(message(now, f.proposal(1, 0, &block, None)));
    let outcome = BlockOutcome::Valid { state_root: block.header.state_root };
    let actions = observer.handle(Input::BlockValidated { height: 1, block_hash: hash, outcome });
    assert!(!actions.iter().any(|action| matches!(action, Action::Broadcast(_))), "no PREPARE: {actions:?}");
    for author in [1, 2, 3] {
        let actions = observer.handle(message(now, Message::Prepare(f.prepare(author, 0, hash))));
        assert!(!actions.iter().any(|action| matches!(action, Action::Broadcast(_))), "no COMMIT: {actions:?}");
    }
    // Two validators' seals are not a quorum of 3, whatever the observer thinks of the block.
    observer.handle(message(now, Message::Commit(f.commit(1, 0, &block))));
    assert!(!observer.handle(message(now, Message::Commit(f.commit(2, 0, &block)))).iter().any(is_commit));
    let actions = observer.handle(message(now, Message::Commit(f.commit(3, 0, &block))));
    assert!(actions.iter().any(is_commit), "decides on three validators' seals: {actions:?}");
    // A round timeout does not make it announce a round change either.
    let actions = observer.handle(Input::Timeout {
        now_ms: now + 10_000,
        timeout: Timeout { height: 1, round: 0, kind: TimeoutKind::Round, at_ms: now + 10_000 },
    });
    assert!(!actions.iter().any(|action| matches!(action, Action::Broadcast(_))), "{actions:?}");
}

fn is_commit(action: &Action) -> bool {
    matches!(action, Action::Commit(_))
}

// ---------------------------------------------------------------------------------------------------
// Future heights: authentication and byte budgets.

/// How a flooding message is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flooder {
    /// By a validator of the current set with its real key: authenticated, only budgets stop it.
    Validator,
    /// In a validator's name with a garbage signature.
    GarbageSignature,
    /// By a node outside the validator set, with its own key.
    NotValidator,
}

const FLOODER: usize = 3;

impl Fixture {
    /// A header at `height` standing for a block that block sync delivered, and a quorum of seals on it.
    fn synced_parent(&self, height: u64) -> (BlockHeader, Vec<CommitSeal>) {
        let parent = BlockHeader { height, timestamp_ms: GENESIS_MS + height, ..self.genesis.clone() };
        let digest = seal_digest(height, parent.round, parent.hash());
        let seals = (0..3)
            .map(|author| CommitSeal {
                validator: self.ids[author].clone(),
                signature: self.crypto(author).sign(SignatureDomain::CommitSeal, &self.chain, &digest),
            })
            .collect();
        (parent, seals)
    }

    /// The start of the height after `parent`, as the driver gives it after a sync.
    fn start_after(&self, parent: &BlockHeader, parent_commit_seals: Vec<CommitSeal>) -> Box<HeightStart> {
        Box::new(HeightStart {
            height: parent.height + 1,
            validators: self.validators.clone(),
            params: self.params.clone(),
            parent: parent.clone(),
            parent_validators: self.validators.clone(),
            parent_commit_seals,
        })
    }

    /// A valid round-0 block on `parent` by the proposer of its height.
    fn block_after(&self, parent: &BlockHeader, parent_commit_seals: Vec<CommitSeal>, timestamp_ms: u64) -> Block {
        let height = parent.height + 1;
        let proposer = self.validators.proposer(height, 0).id.clone();
        Block {
            header: BlockHeader {
                height,
                parent_hash: parent.hash(),
                timestamp_ms,
                proposer,
                parent_commit_seals,
                ..self.block(1, 0, timestamp_ms, vec![]).header
            },
            transactions: Default::default(),
        }
    }

    fn sign_as<T: MessageBody>(&self, author: usize, body: T) -> Signed<T> {
        Signed::sign(self.ids[author].clone(), body, &self.crypto(author), &self.chain)
    }

    /// What an honest validator sends for `block`'s height while this one is still below it: the
    /// proposal, and PREPAREs and COMMITs of the proposer and one other validator.
    fn honest_traffic(&self, block: &Block) -> Vec<Message> {
        let (height, hash) = (block.header.height, block.hash());
        let proposer = self.ids.iter().position(|id| *id == block.header.proposer).unwrap();
        let other = (1..4).find(|index| *index != proposer && *index != FLOODER).unwrap();
        let pre_prepare = self.sign_as(proposer, PrePrepare { height, round: 0, block_hash: hash });
        let mut messages = vec![Message::Proposal(Box::new(ProposalMessage {
            pre_prepare,
            block: block.clone(),
            justification: None,
        }))];
        for author in [proposer, other] {
            let digest = seal_digest(height, 0, hash);
            let seal = self.crypto(author).sign(SignatureDomain::CommitSeal, &self.chain, &digest);
            messages.push(Message::Prepare(self.sign_as(author, Prepare { height, round: 0, block_hash: hash })));
            messages.push(Message::Commit(self.sign_as(author, Commit { height, round: 0, block_hash: hash, seal })));
        }
        messages
    }

    /// A ROUND-CHANGE for `height` and `round` carrying a bogus prepared certificate: a block of
    /// `transactions` (shared, so the test stays small in memory, while the engine counts every
    /// message's bytes in full) and PREPAREs with garbage signatures, signed as `flooder` says.
    fn flood_round_change(
        &self,
        flooder: Flooder,
        height: u64,
        round: u32,
        transactions: &std::sync::Arc<Vec<SignedTx>>,
    ) -> Message {
        let mut block = self.block(FLOODER, round, GENESIS_MS + u64::from(round), vec![]);
        block.header.height = height;
        block.transactions = transactions.clone();
        let block_hash = block.hash();
        let garbage = covenant_types::Signature([0x5a; 64]);
        let prepares = (0..3)
            .map(|author| Signed {
                author: self.ids[author].clone(),
                body: Prepare { height, round: round - 1, block_hash },
                signature: garbage,
            })
            .collect();
        let body = RoundChange { height, round, prepared: Some(PreparedRef { round: round - 1, block_hash }) };
        let round_change = match flooder {
            Flooder::Validator => self.sign_as(FLOODER, body),
            Flooder::GarbageSignature => Signed { author: self.ids[FLOODER].clone(), body, signature: garbage },
            Flooder::NotValidator => Signed::sign(
                NodeId::new("mallory").unwrap(),
                body,
                &Ed25519Crypto::new(SecretKey::from_seed(&[66; 32])),
                &self.chain,
            ),
        };
        Message::RoundChange(Box::new(RoundChangeMessage {
            round_change,
            prepared: Some(PreparedCertificate { block, prepares }),
        }))
    }
}

/// About `bytes` of bogus transactions (128 KiB memos: nothing in a future message's block is checked
/// before its height starts, and a string is measured in one step, which keeps an unoptimised test
/// quick; byte vectors are measured byte by byte).
fn bulk_transactions(f: &Fixture, bytes: usize) -> std::sync::Arc<Vec<SignedTx>> {
    let memo_bytes = 128 * 1024;
    let transactions = (0..bytes / memo_bytes)
        .map(|index| {
            let mut tx = f.tx(index as u64);
            if let Payload::Transfer(transfer) = &mut tx.body.payload {
                transfer.memo = "m".repeat(memo_bytes);
            }
            tx
        })
        .collect();
    std::sync::Arc::new(transactions)
}

/// The finding: a Byzantine validator of four sent 300 distinct ROUND-CHANGEs of 8 MiB (bogus
/// certificates) for height current + 4, and every honest node buffered all of them (3.6–4.2 GiB)
/// until the chain passed that height. Now its messages take at most its own budget, the honest
/// validators' messages for that height are still buffered next to them, and the height is decided
/// with them once it starts. With a garbage signature or an author outside the validator set,
/// nothing of the flood is buffered at all.
#[test]
fn a_flood_of_large_round_changes_for_a_future_height_stays_within_the_budgets() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let target = 1 + engine::FUTURE_HEIGHTS_MAX;
    let transactions = bulk_transactions(&f, 8 * 1024 * 1024);
    let (parent, parent_seals) = f.synced_parent(target - 1);
    let block = f.block_after(&parent, parent_seals.clone(), now);
    let honest = f.honest_traffic(&block);
    let honest_bytes: usize = honest.iter().map(Message::encoded_len).sum();
    for flooder in [Flooder::Validator, Flooder::GarbageSignature, Flooder::NotValidator] {
        let mut validator = f.started(0, now);
        // Half the honest messages before the flood, half after: neither order lets it push them out.
        for message in &honest[..2] {
            assert_eq!(validator.handle(message_input(now, message)), vec![], "{flooder:?}");
        }
        let mut flood_bytes = 0;
        let mut refused = Vec::new();
        for index in 0..300u32 {
            // Rounds in a scrambled order: later rounds replace the flooder's round change, earlier
            // ones are stale.
            let round = 1 + (index * 7) % 300;
            let message = f.flood_round_change(flooder, target, round, &transactions);
            flood_bytes += message.encoded_len();
            refused.extend(rejections(&validator.handle(message_input(now, &message))).into_iter().cloned());
            let buffered = validator.buffered_bytes();
            assert!(buffered.future_author_bytes_max <= engine::FUTURE_AUTHOR_BYTES_MAX, "{flooder:?}: {buffered:?}");
            assert!(
                buffered.future_bytes <= honest_bytes + engine::FUTURE_AUTHOR_BYTES_MAX,
                "{flooder:?}: {buffered:?}"
            );
        }
        assert!(flood_bytes > 2_000 * 1024 * 1024, "the flood is 300 messages of 8 MiB: {flood_bytes}");
        for message in &honest[2..] {
            assert_eq!(validator.handle(message_input(now, message)), vec![], "{flooder:?}");
        }
        let buffered = validator.buffered_bytes();
        match flooder {
            Flooder::Validator => {
                assert!(buffered.future_bytes > honest_bytes, "the flooder's latest round change is kept");
                assert!(refused.iter().all(|error| matches!(error, ConsensusError::StaleRound { .. })), "{refused:?}");
            }
            Flooder::GarbageSignature | Flooder::NotValidator => {
                assert_eq!(buffered.future_bytes, honest_bytes, "{flooder:?}");
                assert_eq!(refused.len(), 300);
                let benign = flooder == Flooder::NotValidator;
                for error in &refused {
                    assert!(
                        matches!(error, ConsensusError::Unauthenticated { height, current: 1, .. } if *height == target)
                    );
                    assert_eq!(error.is_benign(), benign, "{error}");
                }
            }
        }
        assert_eq!(buffered.future_messages, honest.len() + usize::from(flooder == Flooder::Validator));

        // The engine still decides: height 1 as usual...
        let height1 = f.block(1, 0, GENESIS_MS + 100, vec![]);
        validator.handle(message(now, f.proposal(1, 0, &height1, None)));
        let valid = BlockOutcome::Valid { state_root: height1.header.state_root };
        validator.handle(Input::BlockValidated { height: 1, block_hash: height1.hash(), outcome: valid });
        for author in [1, 2] {
            validator.handle(message(now, Message::Prepare(f.prepare(author, 0, height1.hash()))));
        }
        let actions = validator.handle(message(now, Message::Commit(f.commit(1, 0, &height1))));
        assert!(actions.is_empty(), "{actions:?}");
        let actions = validator.handle(message(now, Message::Commit(f.commit(2, 0, &height1))));
        assert!(actions.iter().any(is_commit), "{flooder:?}: {actions:?}");
        // ...and the flooded height once block sync brings it there, from the buffered honest messages.
        let actions =
            validator.handle(Input::StartHeight { now_ms: now, start: f.start_after(&parent, parent_seals.clone()) });
        assert!(
            actions.contains(&Action::ValidateBlock { height: target, round: 0, block: block.clone() }),
            "{actions:?}"
        );
        assert_eq!(validator.buffered_bytes().future_bytes, 0, "released when the height starts");
        let valid = BlockOutcome::Valid { state_root: block.header.state_root };
        let actions =
            validator.handle(Input::BlockValidated { height: target, block_hash: block.hash(), outcome: valid });
        assert!(
            actions.iter().any(|action| matches!(action, Action::Commit(certificate) if certificate.block == block)),
            "{flooder:?}: {actions:?}"
        );
    }
}

fn message_input(now_ms: u64, message: &Message) -> Input {
    Input::Message { now_ms, message: message.clone() }
}

/// A validator's large messages spread over every future height (a proposal and a round change of
/// 8 MiB at each) stop at its own byte budget; the other validators' messages still fit, and when a
/// height starts its messages' bytes go back to the budgets of their authors.
#[test]
fn an_authors_large_messages_across_future_heights_stop_at_its_byte_budget() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let transactions = bulk_transactions(&f, 8 * 1024 * 1024);
    let mut validator = f.started(0, now);
    let mut kept_bytes = 0;
    let mut refusals = Vec::new();
    for height in 2..=1 + engine::FUTURE_HEIGHTS_MAX {
        let round_change = f.flood_round_change(Flooder::Validator, height, 1, &transactions);
        let Message::RoundChange(carrier) = &round_change else { unreachable!() };
        let block = carrier.prepared.as_ref().unwrap().block.clone();
        let pre_prepare = f.sign_as(FLOODER, PrePrepare { height, round: 0, block_hash: block.hash() });
        let proposal = Message::Proposal(Box::new(ProposalMessage { pre_prepare, block, justification: None }));
        for message in [proposal, round_change] {
            let bytes = message.encoded_len();
            let errors: Vec<ConsensusError> =
                rejections(&validator.handle(message_input(now, &message))).into_iter().cloned().collect();
            match &errors[..] {
                [] => kept_bytes += bytes,
                [error @ ConsensusError::BudgetFull { budget, author, needed, used, capacity, unit, .. }] => {
                    assert_eq!((*budget, author, *unit), ("future bytes per author", &f.ids[FLOODER], "bytes"));
                    assert_eq!((*needed, *used, *capacity), (bytes, kept_bytes, engine::FUTURE_AUTHOR_BYTES_MAX));
                    assert!(used + needed > *capacity && !error.is_benign());
                    refusals.push(height);
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(refusals.len(), 4, "four of the eight 8 MiB messages fit 32 MiB: {refusals:?}");
    assert_eq!(validator.buffered_bytes().future_author_bytes_max, kept_bytes);

    // The other validators' traffic for the next height is still buffered.
    let (parent, parent_seals) = f.synced_parent(1);
    let block = f.block_after(&parent, parent_seals.clone(), now);
    let honest = f.honest_traffic(&block);
    for message in &honest {
        assert_eq!(validator.handle(message_input(now, message)), vec![]);
    }
    let honest_bytes: usize = honest.iter().map(Message::encoded_len).sum();
    assert_eq!(validator.buffered_bytes().future_bytes, kept_bytes + honest_bytes);

    // Height 2 starts: its messages are released (the flooder's fail their checks now) and their
    // bytes return to the budgets, so the flooder has room for one more message.
    validator.handle(Input::StartHeight { now_ms: now, start: f.start_after(&parent, parent_seals) });
    let after = validator.buffered_bytes();
    assert!(after.future_bytes < kept_bytes && after.future_author_bytes_max == after.future_bytes, "{after:?}");
    let late = f.flood_round_change(Flooder::Validator, 1 + engine::FUTURE_HEIGHTS_MAX + 1, 1, &transactions);
    assert_eq!(rejections(&validator.handle(message_input(now, &late))), Vec::<&ConsensusError>::new());
    // A sync past every buffered height returns everything.
    let (far, far_seals) = f.synced_parent(10);
    validator.handle(Input::StartHeight { now_ms: now, start: f.start_after(&far, far_seals) });
    assert_eq!(validator.buffered_bytes().future_bytes, 0);
    assert_eq!(validator.buffered_bytes().future_messages, 0);
}

/// Round changes at the current height are kept only with a verified certificate, and however many
/// carry the same prepared block (each decoded from the wire with a copy of its own), the engine
/// keeps one copy of its transactions.
#[test]
fn round_changes_carrying_the_same_prepared_block_share_one_copy() {
    let f = Fixture::new();
    let now = GENESIS_MS + 150;
    let mut validator = f.started(0, now);
    let block = f.block(1, 0, GENESIS_MS + 100, vec![f.tx(0), f.tx(1)]);
    let certificate = f.certificate(0, &block, &[0, 1, 2]);
    let mut copies = Vec::new();
    for author in [1, 2] {
        let wire = Message::RoundChange(Box::new(f.round_change(author, 1, Some(certificate.clone())))).encode();
        let decoded = Message::decode(&wire).unwrap();
        let Message::RoundChange(carrier) = &decoded else { unreachable!() };
        copies.push(std::sync::Arc::clone(&carrier.prepared.as_ref().unwrap().block.transactions));
        assert_eq!(
            rejections(&validator.handle(Input::Message { now_ms: now, message: decoded })),
            Vec::<&ConsensusError>::new()
        );
    }
    let buffered = validator.buffered_bytes();
    assert_eq!((buffered.known_blocks, buffered.known_blocks_bytes), (1, bcs::serialized_size(&block).unwrap()));
    // The first copy is the known block's; the second was dropped once its round change was checked.
    assert!(std::sync::Arc::strong_count(&copies[0]) > 1);
    assert_eq!(std::sync::Arc::strong_count(&copies[1]), 1);
}

/// The vote allowance in the per-author budget: the largest messages that carry no block (an author
/// id of the longest length) encode within `VOTE_BYTES_MAX`.
#[test]
fn votes_without_a_block_fit_the_vote_size_bound() {
    let f = Fixture::new();
    let longest = NodeId::new("v".repeat(covenant_types::ids::ID_BYTES_MAX)).unwrap();
    let crypto = f.crypto(0);
    let hash = Hash::digest(b"block");
    let seal = crypto.sign(SignatureDomain::CommitSeal, &f.chain, &hash);
    let (height, round) = (u64::MAX, u32::MAX);
    let votes = [
        Message::Prepare(Signed::sign(longest.clone(), Prepare { height, round, block_hash: hash }, &crypto, &f.chain)),
        Message::Commit(Signed::sign(
            longest.clone(),
            Commit { height, round, block_hash: hash, seal },
            &crypto,
            &f.chain,
        )),
        Message::RoundChange(Box::new(RoundChangeMessage {
            round_change: Signed::sign(
                longest.clone(),
                RoundChange { height, round, prepared: Some(PreparedRef { round, block_hash: hash }) },
                &crypto,
                &f.chain,
            ),
            prepared: None,
        })),
    ];
    for vote in votes {
        assert!(vote.encoded_len() <= engine::VOTE_BYTES_MAX, "{}: {} bytes", vote.kind_name(), vote.encoded_len());
        assert_eq!(vote.encoded_len(), vote.encode().len());
    }
}

/// The finality proof an outside auditor checks: a quorum of valid seals from the set the header
/// names, over that block's height, round and hash.
#[test]
fn commit_seals_prove_finality_only_as_a_quorum_of_the_named_set_over_that_block() {
    let f = Fixture::new();
    let block = f.block(1, 2, GENESIS_MS + 500, vec![]);
    let vote = SealedVote { height: 1, round: 2, block_hash: block.hash() };
    let seal = |index: usize, vote: &SealedVote| {
        CommitSeal::sign(f.ids[index].clone(), &SecretKey::from_seed(&seed(index)), &f.chain, vote)
    };
    let quorum: Vec<CommitSeal> = (0..3).map(|index| seal(index, &vote)).collect();
    verify_commit_seals(&f.chain, &f.validators, &block.header, &quorum).expect("a quorum of seals");

    let short = verify_commit_seals(&f.chain, &f.validators, &block.header, &quorum[..2]).unwrap_err();
    assert!(short.contains("2 seals, quorum is 3"), "{short}");

    let other_block = SealedVote { block_hash: Hash::digest(b"another block"), ..vote.clone() };
    let mut forged = quorum.clone();
    forged[2] = seal(2, &other_block);
    let forged = verify_commit_seals(&f.chain, &f.validators, &block.header, &forged).unwrap_err();
    assert!(forged.contains("seal from v2"), "{forged}");

    let other_round = SealedVote { round: 0, ..vote.clone() };
    let stale: Vec<CommitSeal> = (0..3).map(|index| seal(index, &other_round)).collect();
    assert!(verify_commit_seals(&f.chain, &f.validators, &block.header, &stale).is_err());

    let smaller = ValidatorSet::new(f.validators.validators()[..3].to_vec()).unwrap();
    let wrong_set = verify_commit_seals(&f.chain, &smaller, &block.header, &quorum).unwrap_err();
    assert!(wrong_set.contains("names the set"), "{wrong_set}");
}
