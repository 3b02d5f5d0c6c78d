//! Shared fixtures for the criterion benchmarks in `benches/`: a consortium genesis shaped like the one
//! `covenant init --bench-senders K` writes (members, one validator each, and K funded submitter
//! operators spread over the members), a deterministic workload of signed transfers from those
//! senders, and the blocks and commit seals that carry them.
//!
//! Keys are derived from names, so every run signs the same bytes.

use std::collections::BTreeMap;

use covenant_execution::{BlockContext, GenesisOutcome, genesis_outcome};
use covenant_rules::Genesis;
use covenant_storage::{ChainStore, CommitBatch, RocksStore};
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, CommitSeal, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload,
    Principal, Receipt, SealedVote, SecretKey, SignatureDomain, SignedTx, Transfer, TxBody, TxOutcome, VerifiedTx,
    hash_of, merkle_root,
};

/// Genesis time of the bench chain.
pub const GENESIS_TIME_MS: u64 = 1_790_000_000_000;
/// Time between two bench blocks.
pub const BLOCK_INTERVAL_MS: u64 = 1_000;
/// The asset every account holds.
pub const ASSET: &str = "twd";
/// Balance of every account in genesis (as `covenant init` funds them).
pub const BALANCE: u64 = 1_000_000_000_000;
/// Bench senders of `covenant bench` by default.
pub const SENDERS: usize = 128;
/// Members (and validators) of the bench consortium.
pub const MEMBERS: usize = 4;

const DAY_MS: u64 = 86_400_000;

/// A key derived from a name (deterministic, distinct per name).
pub fn key(name: &str) -> SecretKey {
    SecretKey::from_seed(Hash::digest(name.as_bytes()).as_bytes())
}

/// A submitter operator and the account it debits.
pub struct Sender {
    /// Operator id, `bank-<m>.bench-<k>`.
    pub operator: OperatorId,
    /// Its key.
    pub key: SecretKey,
    /// Account it debits, `bank-<m>/bench-<k>`.
    pub account: AccountId,
    /// Account it credits: the treasury of the next member.
    pub recipient: AccountId,
}

/// A validated genesis with its senders and validator keys.
pub struct Consortium {
    /// The genesis.
    pub genesis: Genesis,
    /// Bench senders, in order.
    pub senders: Vec<Sender>,
    /// Validator ids and consensus keys, in genesis order.
    pub validators: Vec<(NodeId, SecretKey)>,
}

impl Consortium {
    /// `members` members (each with an admin, a validator and a funded treasury) and `senders` funded
    /// submitter operators spread over the members in turn.
    pub fn new(members: usize, senders: usize) -> Consortium {
        let expiry = GENESIS_TIME_MS + 90 * DAY_MS;
        let mut text = format!(
            "chain_id = \"bench\"\nenvironment = \"test\"\ngenesis_time_ms = {GENESIS_TIME_MS}\nsanctioned_jurisdictions = []\n"
        );
        let mut validators = Vec::new();
        for m in 0..members {
            let member = format!("bank-{m}");
            let admin = format!("{member}.admin");
            let node = format!("validator-{m}");
            let consensus = key(&format!("{node}.consensus"));
            text += &format!("[[members]]\nid = \"{member}\"\nname = \"Bank {m}\"\njurisdiction = \"TW\"\n");
            text += &format!(
                "[[operators]]\nid = \"{admin}\"\nperson = \"admin-{m}\"\nmember = \"{member}\"\nroles = [\"admin\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {expiry}\n",
                key(&admin).public_key().to_hex()
            );
            text += &format!(
                "[[nodes]]\nid = \"{node}\"\nmember = \"{member}\"\nrole = \"validator\"\nnetwork_key = \"{}\"\nconsensus_key = \"{}\"\n",
                key(&format!("{node}.network")).public_key().to_hex(),
                consensus.public_key().to_hex()
            );
            text += &format!("[[accounts]]\nid = \"{member}/treasury\"\nbalances = {{ {ASSET} = {BALANCE} }}\n");
            validators.push((NodeId::new(node).unwrap(), consensus));
        }
        let mut bench_senders = Vec::new();
        for k in 0..senders {
            let m = k % members;
            let operator = format!("bank-{m}.bench-{k}");
            let account = format!("bank-{m}/bench-{k}");
            let sender_key = key(&operator);
            text += &format!(
                "[[operators]]\nid = \"{operator}\"\nperson = \"bench-{k}\"\nmember = \"bank-{m}\"\nroles = [\"submitter\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {expiry}\n",
                sender_key.public_key().to_hex()
            );
            text += &format!("[[accounts]]\nid = \"{account}\"\nbalances = {{ {ASSET} = {BALANCE} }}\n");
            bench_senders.push(Sender {
                operator: OperatorId::new(operator).unwrap(),
                key: sender_key,
                account: AccountId::new(account).unwrap(),
                recipient: AccountId::new(format!("bank-{}/treasury", (m + 1) % members)).unwrap(),
            });
        }
        for class in ["membership", "operators", "nodes", "parameters", "contracts", "emergency"] {
            text += &format!("[thresholds.{class}]\nmembers_required = 2\n");
        }
        let genesis = Genesis::from_toml_str(&text).unwrap_or_else(|errors| panic!("bench genesis: {errors}"));
        Consortium { genesis, senders: bench_senders, validators }
    }

    /// The chain id.
    pub fn chain(&self) -> &ChainId {
        self.genesis.chain_id()
    }

    /// The genesis block and its state writes.
    pub fn genesis_outcome(&self) -> GenesisOutcome {
        genesis_outcome(&self.genesis)
    }

    /// The committed state after genesis, as an in-memory state view, and its root.
    pub fn genesis_state(&self) -> (BTreeMap<Vec<u8>, Vec<u8>>, Hash) {
        let outcome = self.genesis_outcome();
        let state = outcome.writes.into_iter().map(|(key, value)| (key, value.expect("genesis only writes"))).collect();
        (state, outcome.block.header.state_root)
    }

    /// A RocksDB store in `dir` (fsync on, as a node opens it) with the genesis block committed, as
    /// `covenant node` initialises its store.
    pub fn genesis_store(&self, dir: &std::path::Path) -> RocksStore {
        let store = RocksStore::open(dir).expect("open the bench store");
        let outcome = self.genesis_outcome();
        let mut batch = CommitBatch::new(outcome.block, Vec::new());
        batch.state_writes = outcome.writes;
        store.commit_block(batch).expect("commit the bench genesis");
        store
    }

    /// A fresh workload: every sender's first nonce is 0.
    pub fn workload(&self) -> Workload<'_> {
        Workload { consortium: self, nonces: vec![0; self.senders.len()], next_sender: 0 }
    }

    /// The block at `parent.height + 1`, round 0, carrying `transactions` and `parent_seals`.
    pub fn block(
        &self,
        parent: &BlockHeader,
        transactions: Vec<SignedTx>,
        state_root: Hash,
        parent_seals: Vec<CommitSeal>,
    ) -> Block {
        let height = parent.height + 1;
        let hashes: Vec<Hash> = transactions.iter().map(|tx| tx.body.hash()).collect();
        let validators = self.genesis.validator_set();
        let header = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: self.chain().clone(),
            height,
            round: 0,
            parent_hash: parent.hash(),
            timestamp_ms: context(height).timestamp_ms,
            proposer: validators.proposer(height, 0).id.clone(),
            transactions_root: merkle_root(&hashes),
            state_root,
            validator_set_hash: validators.hash(),
            parameters_hash: self.genesis.parameters().hash(),
            parent_commit_seals: parent_seals,
        };
        Block { header, transactions: transactions.into() }
    }

    /// Commit seals of a quorum of the validators for `block` (sorted by validator id).
    pub fn seals(&self, block: &Block) -> Vec<CommitSeal> {
        let vote = SealedVote { height: block.header.height, round: block.header.round, block_hash: block.hash() };
        let digest = hash_of(&vote);
        let quorum = self.genesis.validator_set().quorum();
        let mut seals: Vec<CommitSeal> = self.validators[..quorum]
            .iter()
            .map(|(id, key)| CommitSeal {
                validator: id.clone(),
                signature: key.sign(SignatureDomain::CommitSeal, self.chain(), &digest),
            })
            .collect();
        seals.sort_by(|a, b| a.validator.cmp(&b.validator));
        seals
    }
}

/// Signed transfers from the consortium's senders, round-robin, each with its sender's next nonce.
pub struct Workload<'a> {
    consortium: &'a Consortium,
    nonces: Vec<u64>,
    next_sender: usize,
}

impl Workload<'_> {
    /// The next `count` transfers, each of 1 unit to the treasury of the next member.
    pub fn next(&mut self, count: usize) -> Vec<SignedTx> {
        (0..count)
            .map(|_| {
                let index = self.next_sender;
                self.next_sender = (index + 1) % self.nonces.len();
                let sender = &self.consortium.senders[index];
                let nonce = self.nonces[index];
                self.nonces[index] += 1;
                let body = TxBody {
                    version: ENCODING_VERSION,
                    chain_id: self.consortium.chain().clone(),
                    sender: Principal::Operator(sender.operator.clone()),
                    nonce,
                    created_at_ms: GENESIS_TIME_MS,
                    payload: Payload::Transfer(Transfer {
                        from: sender.account.clone(),
                        to: sender.recipient.clone(),
                        asset: AssetId::new(ASSET).unwrap(),
                        amount: 1,
                        memo: String::new(),
                    }),
                };
                SignedTx::sign(body, &sender.key)
            })
            .collect()
    }
}

/// The execution context of the bench block at `height`.
pub fn context(height: u64) -> BlockContext {
    BlockContext { height, timestamp_ms: GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS }
}

/// Verifies every transaction; panics if one fails (a bench must not measure a failure path).
pub fn verify_all(txs: Vec<SignedTx>, chain: &ChainId) -> Vec<VerifiedTx> {
    VerifiedTx::verify_batch(txs, chain)
        .into_iter()
        .map(|result| result.unwrap_or_else(|rejected| panic!("bench transaction refused: {}", rejected.error)))
        .collect()
}

/// Whether every receipt is a success.
pub fn all_succeeded(receipts: &[Receipt]) -> bool {
    receipts.iter().all(|receipt| receipt.outcome == TxOutcome::Success)
}
