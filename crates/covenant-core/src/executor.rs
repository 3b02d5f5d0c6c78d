//! Executing blocks for consensus: validating a proposal (verify the signatures not already verified
//! at admission, execute) and admitting its newly verified transactions to the mempool, building a
//! proposal from the mempool, and remembering each outcome until its block commits so that a
//! committed block is executed once.

use std::collections::BTreeMap;
use std::sync::Mutex;

use covenant_consensus::{BlockOutcome as ConsensusOutcome, ProposalRequest};
use covenant_execution::{BlockContext, BlockOutcome, Overlay, StateReader, StateView, build_block, execute_block};
use covenant_storage::ChainStore;
use covenant_types::{Block, Hash, SignedTx, VerifiedTx, merkle_root};

use crate::mempool::{AdmissionError, Mempool};
use crate::state::StoreState;
use crate::telemetry::{Counter, Telemetry};

/// Most transactions this node puts in one proposal (see [`build`]). With the chain's least block
/// interval of 200 ms, this bound caps the chain at five times it per second: 2,000 capped it at
/// 10,000 tx/s (docs/benchmarking.md, step 8), and 5,000 at 25,000 tx/s, which a 30-second bench
/// came within 5 % of (step 11). It is now the chain's default `block_txs_max`, so the CPU, not this
/// bound, is what limits the chain. A proposal of 10,000 transfers is about 2.6 MB, and is validated
/// and committed in well under a second, far inside the round timer.
pub const PROPOSAL_TXS_MAX: u64 = 10_000;

/// Most execution outcomes kept while their blocks are being decided (a few rounds' worth).
pub const OUTCOMES_CACHED_MAX: usize = 64;

/// Identifies an execution: the same transactions at the same height and time on the same parent give
/// the same outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExecutionKey {
    /// Height.
    pub height: u64,
    /// Block timestamp (the only clock execution reads).
    pub timestamp_ms: u64,
    /// Merkle root of the transaction hashes.
    pub transactions_root: Hash,
}

impl ExecutionKey {
    /// The key of a block.
    pub fn of(block: &Block) -> ExecutionKey {
        ExecutionKey {
            height: block.header.height,
            timestamp_ms: block.header.timestamp_ms,
            transactions_root: block.header.transactions_root,
        }
    }
}

/// Outcomes of executions whose blocks are not committed yet.
#[derive(Default)]
pub struct Outcomes {
    outcomes: BTreeMap<ExecutionKey, BlockOutcome>,
}

impl Outcomes {
    /// Remembers an outcome (the oldest is forgotten beyond [`OUTCOMES_CACHED_MAX`]).
    pub fn insert(&mut self, key: ExecutionKey, outcome: BlockOutcome) {
        self.outcomes.insert(key, outcome);
        while self.outcomes.len() > OUTCOMES_CACHED_MAX {
            self.outcomes.pop_first();
        }
    }

    /// Takes the outcome of `key`, if remembered.
    pub fn take(&mut self, key: &ExecutionKey) -> Option<BlockOutcome> {
        self.outcomes.remove(key)
    }

    /// Forgets everything up to `height`.
    pub fn forget_through(&mut self, height: u64) {
        self.outcomes.retain(|key, _| key.height > height);
    }
}

/// The transactions of `block` this node already verified at admission (still pending in its
/// mempool), by position. Holds the mempool lock only for the lookups.
///
/// A pending transaction is found by the sender and nonce of the block's and must equal it whole:
/// equal transactions have equal hashes, so the pending one's verification and hash hold for the
/// block's, which is never hashed here.
pub fn known_verified(block: &Block, mempool: &Mutex<Mempool>) -> Vec<Option<VerifiedTx>> {
    let mempool = mempool.lock().expect("mempool lock poisoned");
    block
        .transactions
        .iter()
        .map(|tx| mempool.pending(&tx.body.sender, tx.body.nonce).filter(|known| is_same_transaction(known, tx)))
        .collect()
}

/// Whether `known` is `tx`: the same body, signer and signature. A different signer or signature
/// must be verified again (the signature does not cover the signer, and the hash covers neither).
fn is_same_transaction(known: &VerifiedTx, tx: &SignedTx) -> bool {
    known.tx() == tx
}

/// Verifies the transactions of a block that were not verified at admission (`known` holds those
/// that were, by position), in batches spread over the cores. Fails with the first bad transaction.
/// Returns every transaction verified, and the positions of those verified here (not at admission).
pub fn verify_transactions(
    transactions: &[SignedTx],
    known: Vec<Option<VerifiedTx>>,
    chain: &covenant_types::ChainId,
    telemetry: &mut dyn Telemetry,
) -> Result<(Vec<VerifiedTx>, Vec<usize>), String> {
    let (positions, unverified): (Vec<usize>, Vec<SignedTx>) = known
        .iter()
        .zip(transactions)
        .enumerate()
        .filter(|(_, (known, _))| known.is_none())
        .map(|(position, (_, tx))| (position, tx.clone()))
        .unzip();
    telemetry.count(Counter::VerifiedInBlocks, positions.len() as u64);
    if !positions.is_empty() {
        telemetry.count(Counter::BlockBatches, 1);
    }
    let mut verified = known;
    for (&position, result) in positions.iter().zip(verify_in_parallel(unverified, chain)) {
        match result {
            Ok(tx) => verified[position] = Some(tx),
            Err(rejected) => return Err(format!("transaction {position} is invalid: {}", rejected.error)),
        }
    }
    let verified = verified.into_iter().map(|tx| tx.expect("every position verified")).collect();
    Ok((verified, positions))
}

/// Smallest share of a batch worth its own thread. Splitting a batch trades throughput for latency:
/// per signature, a batch of 512 costs about 10 % more than one of 1,024, and one of 256 about 65 %
/// more (step 5 in docs/benchmarking.md). Under load every core is busy with some node's work anyway,
/// so only batches that stay efficient in halves are split.
const VERIFY_CHUNK_MIN: usize = 512;

/// Batch-verifies transactions on up to as many threads as there are cores; one result per
/// transaction, in order. Used by admission and by block validation alike.
pub fn verify_in_parallel(
    txs: Vec<SignedTx>,
    chain: &covenant_types::ChainId,
) -> Vec<Result<VerifiedTx, covenant_types::RejectedTx>> {
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
    let chunks = threads.min(txs.len().div_ceil(VERIFY_CHUNK_MIN)).max(1);
    let chunk_len = txs.len().div_ceil(chunks).max(1);
    let mut chunked: Vec<Vec<SignedTx>> = Vec::with_capacity(chunks);
    let mut remaining = txs;
    while remaining.len() > chunk_len {
        let rest = remaining.split_off(chunk_len);
        chunked.push(std::mem::replace(&mut remaining, rest));
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> =
            chunked.into_iter().map(|chunk| scope.spawn(move || VerifiedTx::verify_batch(chunk, chain))).collect();
        let last = VerifiedTx::verify_batch(remaining, chain);
        let mut results = Vec::new();
        for handle in handles {
            // Verification does not panic on any input; if it ever did, the panic is the bug to see.
            results.extend(handle.join().expect("a signature verification thread panicked"));
        }
        results.extend(last);
        results
    })
}

/// What validating a block found.
pub struct Validation {
    /// The verdict for consensus.
    pub verdict: ConsensusOutcome,
    /// The execution, if the block is valid.
    pub execution: Option<BlockOutcome>,
    /// The transactions verified for this block because admission had not verified them, if the
    /// block is valid (for [`adopt`]).
    pub newly_verified: Vec<VerifiedTx>,
}

impl Validation {
    fn invalid(reason: String) -> Validation {
        Validation { verdict: ConsensusOutcome::Invalid { reason }, execution: None, newly_verified: Vec::new() }
    }
}

/// Validates a block: verify, execute on the committed parent state, report the root.
pub fn validate<S: ChainStore + ?Sized>(
    store: &S,
    mempool: &Mutex<Mempool>,
    telemetry: &mut dyn Telemetry,
    parent_state_root: &Hash,
    block: &Block,
) -> Validation {
    let known = known_verified(block, mempool);
    let (verified, newly_verified) =
        match verify_transactions(&block.transactions, known, &block.header.chain_id, telemetry) {
            Ok(verified) => verified,
            Err(reason) => return Validation::invalid(reason),
        };
    let context = BlockContext { height: block.header.height, timestamp_ms: block.header.timestamp_ms };
    match execute_block(&StoreState(store), parent_state_root, &context, &verified) {
        Ok(outcome) => Validation {
            verdict: ConsensusOutcome::Valid { state_root: outcome.state_root },
            execution: Some(outcome),
            newly_verified: newly_verified.into_iter().map(|position| verified[position].clone()).collect(),
        },
        Err(error) => Validation::invalid(error.to_string()),
    }
}

/// Admits to the mempool the transactions of a valid proposal that this node verified for it (their
/// gossiped copies were still queued for admission), as admission would have: their copies are then
/// duplicates that need no verification, and the sender's later transactions, queued behind them,
/// find the nonces they follow pending.
///
/// Remembering them only as seen in a block (as this once did) dropped their copies, so until the
/// block committed each sender's next transaction was refused for a nonce gap after its signature
/// was verified, then verified again in the next proposal: at 27,000 tx/s offered, nodes verified
/// 1 % to 43 % more signatures than they committed transactions (docs/benchmarking.md, step 12).
///
/// A transaction that admission refuses (the mempool is full, say) is remembered as seen in a block,
/// so that its copy is not verified again either. Only proposals' transactions are worth adopting: a
/// decided block's are dropped from the mempool by its commit right after.
///
/// Returns how many transactions are pending afterwards.
pub fn adopt<S: StateView>(
    committed: &S,
    mempool: &Mutex<Mempool>,
    telemetry: &mut dyn Telemetry,
    txs: Vec<VerifiedTx>,
    now: u64,
) -> usize {
    // One overlay for them all, as at admission: they read the same senders and members again.
    let state = Overlay::new(committed);
    let params = state.params();
    let mut mempool = mempool.lock().expect("mempool lock poisoned");
    let mut refused = Vec::new();
    for tx in txs {
        let hash = tx.hash();
        let admitted = match &params {
            Ok(params) => mempool.admit(tx, &state, params, now),
            Err(error) => Err(AdmissionError::State(error.clone())),
        };
        match admitted {
            Ok(_) => telemetry.count(Counter::AdoptedFromProposals, 1),
            Err(AdmissionError::Duplicate(_)) => {}
            Err(_) => refused.push(hash),
        }
    }
    mempool.note_in_block(refused);
    mempool.len()
}

/// A proposal built from the mempool: the transactions, the outcome, and the transactions that can no
/// longer be included (to evict from the mempool).
pub struct BuiltProposal {
    /// Included transactions, in order.
    pub transactions: Vec<SignedTx>,
    /// Execution outcome.
    pub outcome: BlockOutcome,
    /// Key under which to remember the outcome.
    pub key: ExecutionKey,
    /// Hashes of transactions dropped because they can no longer be in a block.
    pub dropped: Vec<Hash>,
}

/// Builds a proposal for `request` from the mempool.
pub fn build<S: ChainStore + ?Sized>(
    store: &S,
    mempool: &Mutex<Mempool>,
    request: &ProposalRequest,
) -> Result<BuiltProposal, covenant_execution::StateError> {
    // A node-local bound below the chain's `block_txs_max`: a proposal every validator can validate,
    // execute and commit well within the round timer, so that a backlog is worked off in many
    // moderate blocks instead of one that times the round out and makes the next one bigger still.
    let transactions_max = request.transactions_max.min(PROPOSAL_TXS_MAX);
    let candidates = mempool.lock().expect("mempool lock poisoned").select(
        usize::try_from(transactions_max).unwrap_or(usize::MAX),
        usize::try_from(request.transactions_bytes_max).unwrap_or(usize::MAX),
    );
    let context = BlockContext { height: request.height, timestamp_ms: request.timestamp_ms };
    let built = build_block(&StoreState(store), &request.parent_state_root, &context, candidates)?;
    let (included, dropped, outcome) = (built.included, built.dropped, built.outcome);
    let hashes: Vec<Hash> = included.iter().map(VerifiedTx::hash).collect();
    let key = ExecutionKey {
        height: request.height,
        timestamp_ms: request.timestamp_ms,
        transactions_root: merkle_root(&hashes),
    };
    Ok(BuiltProposal {
        transactions: included.into_iter().map(VerifiedTx::into_inner).collect(),
        outcome,
        key,
        dropped: dropped.iter().map(|(tx, _)| tx.hash()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::Counts;
    use covenant_types::{AccountId, AssetId, ChainId, OperatorId, Payload, Principal, SecretKey, Transfer, TxBody};

    fn transfer(chain: &ChainId) -> TxBody {
        TxBody {
            version: covenant_types::ENCODING_VERSION,
            chain_id: chain.clone(),
            sender: Principal::Operator(OperatorId::new("bank-1.ops").expect("id")),
            nonce: 7,
            created_at_ms: 1,
            payload: Payload::Transfer(Transfer {
                from: AccountId::new("bank-1/ops").expect("id"),
                to: AccountId::new("bank-2/treasury").expect("id"),
                asset: AssetId::new("usd").expect("id"),
                amount: 5,
                memo: String::new(),
            }),
        }
    }

    const GENESIS_TIME_MS: u64 = 1_790_000_000_000;

    fn key(seed: u8) -> SecretKey {
        SecretKey::from_seed(&[seed; 32])
    }

    /// The committed state after the genesis of a chain of two members, each with an admin (seed 10,
    /// 20), a submitter `bank-N.ops` (seed 11, 21) and a treasury account.
    fn genesis_state() -> std::collections::BTreeMap<Vec<u8>, Vec<u8>> {
        let expires = GENESIS_TIME_MS + 86_400_000;
        let mut text = format!(
            "chain_id = \"test-chain\"\nenvironment = \"test\"\ngenesis_time_ms = {GENESIS_TIME_MS}\nsanctioned_jurisdictions = []\n"
        );
        for (index, member) in ["bank-1", "bank-2"].iter().enumerate() {
            let seed = 10 * (index as u8 + 1);
            text += &format!("[[members]]\nid = \"{member}\"\nname = \"{member}\"\njurisdiction = \"TW\"\n");
            for (offset, (name, role)) in [("admin", "admin"), ("ops", "submitter")].into_iter().enumerate() {
                text += &format!(
                    "[[operators]]\nid = \"{member}.{name}\"\nperson = \"{name}\"\nmember = \"{member}\"\nroles = [\"{role}\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {expires}\n",
                    key(seed + offset as u8).public_key().to_hex(),
                );
            }
            text += &format!(
                "[[nodes]]\nid = \"node-{index}\"\nmember = \"{member}\"\nrole = \"validator\"\nnetwork_key = \"{}\"\nconsensus_key = \"{}\"\n",
                key(seed + 2).public_key().to_hex(),
                key(seed + 3).public_key().to_hex()
            );
            text += &format!("[[accounts]]\nid = \"{member}/treasury\"\nbalances = {{ usd = 1000 }}\n");
        }
        for group in ["membership", "operators", "nodes", "parameters", "contracts", "emergency"] {
            text += &format!("[thresholds.{group}]\nmembers_required = 2\n");
        }
        let genesis = covenant_rules::Genesis::from_toml_str(&text).unwrap_or_else(|errors| panic!("{errors}"));
        let writes = covenant_execution::genesis_outcome(&genesis).writes;
        writes.into_iter().map(|(key, value)| (key, value.expect("genesis only writes"))).collect()
    }

    /// `bank-1.ops`'s transfer with this nonce, verified.
    fn pending_transfer(nonce: u64) -> VerifiedTx {
        let chain = ChainId::new("test-chain").expect("id");
        let mut body = transfer(&chain);
        body.nonce = nonce;
        body.created_at_ms = GENESIS_TIME_MS;
        if let Payload::Transfer(transfer) = &mut body.payload {
            transfer.from = AccountId::new("bank-1/treasury").expect("id");
        }
        VerifiedTx::verify(SignedTx::sign(body, &key(11)), &chain).expect("valid")
    }

    /// A proposal's transactions verified for it become pending: their gossiped copies are then
    /// duplicates, and the sender's next transaction finds the nonce it follows. (When they were only
    /// remembered as seen in a block, the next one was refused for a nonce gap.)
    #[test]
    fn a_proposals_verified_transactions_are_adopted_and_their_successors_admitted() {
        let state = genesis_state();
        let mempool = Mutex::new(Mempool::new());
        let mut counts = Counts::default();
        let txs: Vec<VerifiedTx> = (0..3).map(pending_transfer).collect();
        let now = GENESIS_TIME_MS + 1_000;
        adopt(&state, &mempool, &mut counts, txs[..2].to_vec(), now);
        assert_eq!(counts.get(Counter::AdoptedFromProposals), 2);

        let mut mempool = mempool.lock().expect("not poisoned");
        assert!(txs[..2].iter().all(|tx| mempool.contains(&tx.hash())));
        let params = state.params().expect("genesis parameters");
        let copy = mempool.admit(txs[0].clone(), &state, &params, now);
        assert!(matches!(copy, Err(AdmissionError::Duplicate(_))), "{copy:?}");
        let next = mempool.admit(txs[2].clone(), &state, &params, now);
        assert!(matches!(next, Ok(hash) if hash == txs[2].hash()), "{next:?}");
    }

    /// A transaction admission refuses (here, for the nonce gap before it) is not pending, but its
    /// copies are still known, so that they are not verified again.
    #[test]
    fn a_transaction_admission_refuses_is_remembered_as_seen() {
        let state = genesis_state();
        let mempool = Mutex::new(Mempool::new());
        let mut counts = Counts::default();
        let gapped = pending_transfer(1);
        adopt(&state, &mempool, &mut counts, vec![gapped.clone()], GENESIS_TIME_MS + 1_000);
        let mempool = mempool.lock().expect("not poisoned");
        assert!(!mempool.contains(&gapped.hash()));
        assert!(mempool.knows(&gapped.hash()));
        assert_eq!(counts.get(Counter::AdoptedFromProposals), 0);
    }

    /// Clients' transactions are limited per member (COV-45): once bank-1's bucket is empty its
    /// operators are refused as overloading the node, while bank-2's are still admitted, and a
    /// peer's gossiped copy (admitted under the limit of the node its client sent it to) is not
    /// limited again.
    // covers: COV-45-LOAD-LIMITS
    #[test]
    fn a_members_client_flood_is_refused_while_another_members_transactions_are_admitted() {
        use crate::rate::{MemberBuckets, MemberTxLimits};
        use covenant_rules::{RuleId, Violation};

        let state = genesis_state();
        let params = state.params().expect("genesis parameters");
        let mut mempool = Mempool::new();
        let mut buckets = MemberBuckets::new(MemberTxLimits { txs_per_second: 1, burst: 3 });
        let now = GENESIS_TIME_MS + 1_000;
        let verdicts: Vec<_> = (0..5)
            .map(|nonce| mempool.admit_from_client(pending_transfer(nonce), &state, &params, now, &mut buckets))
            .collect();
        assert!(verdicts[..3].iter().all(Result::is_ok), "{verdicts:?}");
        for verdict in &verdicts[3..] {
            let Err(AdmissionError::Violation(violation)) = verdict else { panic!("not refused: {verdict:?}") };
            assert!(
                matches!(violation, Violation::MemberRateExceeded { member, txs_per_second: 1, burst: 3 } if member.as_str() == "bank-1"),
                "{violation:?}"
            );
            assert_eq!(violation.rule(), RuleId::LoadLimits);
        }

        let chain = ChainId::new("test-chain").expect("id");
        let mut body = transfer(&chain);
        body.sender = Principal::Operator(OperatorId::new("bank-2.ops").expect("id"));
        body.nonce = 0;
        body.created_at_ms = GENESIS_TIME_MS;
        if let Payload::Transfer(transfer) = &mut body.payload {
            transfer.from = AccountId::new("bank-2/treasury").expect("id");
            transfer.to = AccountId::new("bank-1/treasury").expect("id");
        }
        let other_member = VerifiedTx::verify(SignedTx::sign(body, &key(21)), &chain).expect("valid");
        let admitted = mempool.admit_from_client(other_member, &state, &params, now, &mut buckets);
        assert!(admitted.is_ok(), "bank-2 is not limited by bank-1's flood: {admitted:?}");

        let gossiped = mempool.admit(pending_transfer(3), &state, &params, now);
        assert!(gossiped.is_ok(), "a peer's copy is not limited again: {gossiped:?}");
        // A second later bank-1 has earned one token.
        assert!(mempool.admit_from_client(pending_transfer(4), &state, &params, now + 1_000, &mut buckets).is_ok());
    }

    #[test]
    fn a_block_transaction_is_known_only_if_equal_in_body_signer_and_signature() {
        let chain = ChainId::new("test-chain").expect("id");
        let key = SecretKey::from_seed(&[1; 32]);
        let tx = SignedTx::sign(transfer(&chain), &key);
        let known = VerifiedTx::verify(tx.clone(), &chain).expect("valid");
        assert!(is_same_transaction(&known, &tx));

        let mut other_signature = tx.clone();
        other_signature.signature.0[63] ^= 1;
        assert!(!is_same_transaction(&known, &other_signature), "a different signature must be verified again");

        // The same signature bytes under another key: the block would name a signer the pending
        // transaction does not have, and executing the pending one would not be executing the block.
        let mut other_signer = tx.clone();
        other_signer.signer = SecretKey::from_seed(&[2; 32]).public_key();
        assert!(!is_same_transaction(&known, &other_signer), "a different signer must be verified again");

        // Same sender and nonce (how the pending copy is found), another body.
        let mut other_body = tx.clone();
        other_body.body.created_at_ms += 1;
        assert!(!is_same_transaction(&known, &other_body), "a different body must be verified again");
    }
}
