//! Blocks, headers, commit seals, receipts and validator sets.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::batch::uleb128_len;
use crate::crypto::{CryptoError, PublicKey, SecretKey, Signature, SignatureDomain};
use crate::encoding::{DecodeError, check_version, decode, encode, hash_of};
use crate::hash::Hash;
use crate::ids::{ChainId, NodeId};
use crate::limits::{BLOCK_BYTES_MAX, VALIDATORS_MAX};
use crate::merkle::merkle_root;
use crate::tx::SignedTx;

/// Everything that identifies a block. The block hash is the hash of the canonical header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Encoding version.
    pub version: u16,
    /// Chain.
    pub chain_id: ChainId,
    /// Height; genesis is 0.
    pub height: u64,
    /// Consensus round in which the block was proposed.
    pub round: u32,
    /// Hash of the parent block's header.
    pub parent_hash: Hash,
    /// Proposer's clock when proposing, milliseconds since the Unix epoch (COV-35, COV-36).
    pub timestamp_ms: u64,
    /// The proposing validator.
    pub proposer: NodeId,
    /// Merkle root of the transaction hashes.
    pub transactions_root: Hash,
    /// State root after executing this block.
    pub state_root: Hash,
    /// Hash of the validator set that decides this height.
    pub validator_set_hash: Hash,
    /// Hash of the chain parameters in force at this height.
    pub parameters_hash: Hash,
    /// The commit seals that finalised the parent block, so finality of every block but the newest is
    /// provable from the chain alone.
    pub parent_commit_seals: Vec<CommitSeal>,
}

impl BlockHeader {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        hash_of(self)
    }
}

/// A header with its transactions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Header.
    pub header: BlockHeader,
    /// Transactions, in execution order. Shared, not copied, between the consensus engine's states
    /// and the node's stages: a block holds thousands of transactions, and it is encoded exactly as
    /// a plain list.
    pub transactions: Arc<Vec<SignedTx>>,
}

/// What one pass over a block's transactions finds ([`Block::scan`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockScan {
    /// Merkle root of the transaction hashes.
    pub transactions_root: Hash,
    /// Length of the block's canonical encoding.
    pub encoded_len: usize,
    /// Position and encoded length of the largest transaction (the first of equals); `None` for an
    /// empty block.
    pub largest_transaction: Option<(usize, usize)>,
}

impl Block {
    /// The block hash (the header's).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Merkle root of this block's transaction hashes, to compare with the header.
    pub fn compute_transactions_root(&self) -> Hash {
        self.transactions_root_and_encoded_len().0
    }

    /// The Merkle root of the transaction hashes and the length of [`Block::encode`] (see
    /// [`Block::scan`]).
    pub fn transactions_root_and_encoded_len(&self) -> (Hash, usize) {
        let scan = self.scan();
        (scan.transactions_root, scan.encoded_len)
    }

    /// What checking a proposal needs from its transactions, from one encoding of each transaction
    /// body (encoding the bodies is most of the cost): the Merkle root of their hashes, the length of
    /// [`Block::encode`], and the largest transaction.
    pub fn scan(&self) -> BlockScan {
        let mut buffer = Vec::new();
        let mut transactions_len = uleb128_len(self.transactions.len() as u64);
        let mut largest_transaction: Option<(usize, usize)> = None;
        let hashes: Vec<Hash> = self
            .transactions
            .iter()
            .enumerate()
            .map(|(position, tx)| {
                let (hash, encoded_len) = tx.hash_and_encoded_len(&mut buffer);
                transactions_len += encoded_len;
                if largest_transaction.is_none_or(|(_, largest)| encoded_len > largest) {
                    largest_transaction = Some((position, encoded_len));
                }
                hash
            })
            .collect();
        let header_len = bcs::serialized_size(&self.header).expect("covenant types always have a canonical encoding");
        BlockScan {
            transactions_root: merkle_root(&hashes),
            encoded_len: header_len + transactions_len,
            largest_transaction,
        }
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes untrusted bytes (at most [`BLOCK_BYTES_MAX`]) and checks the encoding versions.
    pub fn decode(bytes: &[u8]) -> Result<Block, DecodeError> {
        let block: Block = decode("block", bytes, BLOCK_BYTES_MAX)?;
        check_version("block header", block.header.version)?;
        for tx in block.transactions.iter() {
            check_version("transaction", tx.body.version)?;
        }
        Ok(block)
    }
}

/// What a commit seal signs: the block at a height and round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedVote {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Block hash.
    pub block_hash: Hash,
}

/// A validator's signature that it committed a block. A quorum of them makes the block final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitSeal {
    /// The validator.
    pub validator: NodeId,
    /// Signature over [`SealedVote`] in the commit-seal domain.
    pub signature: Signature,
}

impl CommitSeal {
    /// Seals `vote` with `key`.
    pub fn sign(validator: NodeId, key: &SecretKey, chain: &ChainId, vote: &SealedVote) -> CommitSeal {
        CommitSeal { validator, signature: key.sign(SignatureDomain::CommitSeal, chain, &hash_of(vote)) }
    }

    /// Checks the seal against the validator's consensus key.
    pub fn verify(&self, key: &PublicKey, chain: &ChainId, vote: &SealedVote) -> Result<(), CryptoError> {
        key.verify(SignatureDomain::CommitSeal, chain, &hash_of(vote), &self.signature)
    }
}

/// How a transaction ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxOutcome {
    /// Applied.
    Success,
    /// Included but had no effect beyond consuming the nonce; names the rule that refused it, if any.
    Failed {
        /// Covenant rule id, e.g. `COV-07-KYC-REQUIRED`.
        rule: Option<String>,
        /// Explanation.
        reason: String,
    },
}

/// The result of executing one transaction, committed with the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Hash,
    /// Outcome.
    pub outcome: TxOutcome,
    /// Fuel burned by contract calls (0 otherwise).
    pub fuel_used: u64,
}

/// A validator as the consensus sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    /// Node id.
    pub id: NodeId,
    /// Key that signs consensus messages and seals.
    pub consensus_key: PublicKey,
}

/// The validators deciding one height, sorted by node id (so proposer order is the same everywhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

/// A validator set that cannot be used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ValidatorSetError {
    /// No validators.
    #[error("validator set is empty")]
    Empty,
    /// More than [`VALIDATORS_MAX`].
    #[error("{count} validators exceeds the limit of {VALIDATORS_MAX}")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// The same node or key twice.
    #[error("validator {0} appears twice (by id or consensus key)")]
    Duplicate(NodeId),
}

impl ValidatorSet {
    /// Builds a set, sorting by id and refusing duplicates.
    pub fn new(mut validators: Vec<Validator>) -> Result<ValidatorSet, ValidatorSetError> {
        if validators.is_empty() {
            return Err(ValidatorSetError::Empty);
        }
        if validators.len() > VALIDATORS_MAX {
            return Err(ValidatorSetError::TooMany { count: validators.len() });
        }
        validators.sort_by(|a, b| a.id.cmp(&b.id));
        for pair in validators.windows(2) {
            if pair[0].id == pair[1].id {
                return Err(ValidatorSetError::Duplicate(pair[1].id.clone()));
            }
        }
        let mut keys: Vec<&PublicKey> = validators.iter().map(|v| &v.consensus_key).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            let id = validators.iter().find(|v| &v.consensus_key == pair[1]).map(|v| v.id.clone());
            return Err(ValidatorSetError::Duplicate(id.expect("key came from the set")));
        }
        Ok(ValidatorSet { validators })
    }

    /// Validators in canonical order.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// Number of validators `n`.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Always false: a set has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Votes needed to decide: ⌈2n/3⌉ (2f+1 when n = 3f+1).
    pub fn quorum(&self) -> usize {
        (2 * self.len()).div_ceil(3)
    }

    /// Most faulty validators tolerated: f = ⌊(n-1)/3⌋.
    pub fn max_faulty(&self) -> usize {
        (self.len() - 1) / 3
    }

    /// The validator with this id.
    pub fn get(&self, id: &NodeId) -> Option<&Validator> {
        self.validators.binary_search_by(|v| v.id.cmp(id)).ok().map(|index| &self.validators[index])
    }

    /// Proposer for `height` and `round`: validator `(height + round) mod n`.
    pub fn proposer(&self, height: u64, round: u32) -> &Validator {
        let n = self.len() as u64;
        let index = (height % n + u64::from(round) % n) % n;
        &self.validators[index as usize]
    }

    /// Hash carried in headers.
    pub fn hash(&self) -> Hash {
        hash_of(self)
    }
}
