//! Transactions: a body, its signer and signature; and [`VerifiedTx`], which only the verifier can make.

use serde::{Deserialize, Serialize};

use crate::crypto::{
    BatchItem, CryptoError, PUBLIC_KEY_BYTES, PublicKey, SIGNATURE_BYTES, Signature, SignatureDomain, verify_batch,
};
use crate::encoding::{DecodeError, check_version, decode, encode, encode_into};
use crate::governance::{GovernanceAction, ProposalId};
use crate::hash::Hash;
use crate::ids::{AccountId, AssetId, ChainId, ContractId, NodeId, OperatorId, SchemaId};
use crate::limits::TX_BYTES_MAX;

/// Who sends a transaction. Node (system) keys are a separate principal so that the rules can refuse
/// them for operator and governance actions (COV-11).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Principal {
    /// A person's operator account.
    Operator(OperatorId),
    /// A validator or observer node.
    Node(NodeId),
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Move an amount of an asset between ledger accounts.
    Transfer(Transfer),
    /// Store a data record under a registered schema (COV-32).
    DataRecord(DataRecord),
    /// A member attests that it completed KYC for a customer account (COV-07).
    KycAttestation(KycAttestation),
    /// Open a governance proposal.
    GovernancePropose(Box<Proposal>),
    /// Approve an open proposal.
    GovernanceApprove(ProposalId),
    /// Reject an open proposal.
    GovernanceReject(ProposalId),
    /// Withdraw one's own open proposal.
    GovernanceWithdraw(ProposalId),
    /// Call a function of an admitted contract.
    ContractCall(ContractCall),
    /// A node puts the head of its local audit log on chain (the only payload a node key signs), so
    /// that a rewritten log is detectable against the chain (article 33).
    AuditAnchor(AuditAnchor),
}

/// The head of a node's audit log at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// Sequence of the head entry.
    pub sequence: u64,
    /// Hash of the head entry.
    pub hash: Hash,
}

impl Payload {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Transfer(_) => "transfer",
            Payload::DataRecord(_) => "data_record",
            Payload::KycAttestation(_) => "kyc_attestation",
            Payload::GovernancePropose(_) => "governance_propose",
            Payload::GovernanceApprove(_) => "governance_approve",
            Payload::GovernanceReject(_) => "governance_reject",
            Payload::GovernanceWithdraw(_) => "governance_withdraw",
            Payload::ContractCall(_) => "contract_call",
            Payload::AuditAnchor(_) => "audit_anchor",
        }
    }
}

/// An asset transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Debited account.
    pub from: AccountId,
    /// Credited account.
    pub to: AccountId,
    /// Asset moved.
    pub asset: AssetId,
    /// Amount in the asset's smallest unit.
    pub amount: u64,
    /// Free text for the counterparties (bounded by the transaction size).
    pub memo: String,
}

/// How sensitive a data record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Classification {
    /// May be read by any member.
    Public,
    /// Internal to the consortium.
    Internal,
    /// Customer personal data: must be an encrypted envelope (COV-37).
    CustomerData,
}

/// The body of a data record: the bytes themselves, or only their hash with the bytes kept off chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordContent {
    /// Bytes stored on chain.
    Inline(Vec<u8>),
    /// Only a digest on chain; the bytes live elsewhere.
    Digest(Hash),
}

/// A data record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataRecord {
    /// Registered schema the content follows.
    pub schema: SchemaId,
    /// The customer account the record is about, if any (then KYC is required, COV-07).
    pub subject: Option<AccountId>,
    /// Sensitivity.
    pub classification: Classification,
    /// Content.
    pub content: RecordContent,
}

/// A KYC attestation for a customer account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KycAttestation {
    /// The customer account.
    pub account: AccountId,
    /// Hash of the member's off-chain KYC evidence.
    pub evidence: Hash,
    /// When the attestation lapses (milliseconds since the Unix epoch, compared with block time).
    pub expires_at_ms: u64,
}

/// A governance proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// What should happen if the proposal passes.
    pub action: GovernanceAction,
    /// Why (shown to approvers).
    pub reason: String,
    /// Block time after which the proposal can no longer pass.
    pub expires_at_ms: u64,
}

/// A call into an admitted contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractCall {
    /// The contract.
    pub contract: ContractId,
    /// Exported function name.
    pub function: String,
    /// Input bytes passed to the function.
    pub input: Vec<u8>,
    /// Most fuel the sender allows this call to burn.
    pub fuel_limit: u64,
}

/// Everything the sender signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxBody {
    /// Encoding version ([`crate::ENCODING_VERSION`]).
    pub version: u16,
    /// Chain the transaction is meant for.
    pub chain_id: ChainId,
    /// Sender.
    pub sender: Principal,
    /// Sender's sequence number: strictly sequential per sender (COV-34).
    pub nonce: u64,
    /// When the sender created it (milliseconds since the Unix epoch, the sender's clock).
    pub created_at_ms: u64,
    /// What it does.
    pub payload: Payload,
}

impl TxBody {
    /// The transaction's hash: SHA-256 of the canonical body. Names the transaction and is what the
    /// signature covers (through the signing envelope).
    pub fn hash(&self) -> Hash {
        crate::encoding::hash_of(self)
    }
}

/// A transaction as received: its signature has not been checked yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTx {
    /// What is signed.
    pub body: TxBody,
    /// The key that signed.
    pub signer: PublicKey,
    /// Signature over the body's hash in the transaction domain of the body's chain.
    pub signature: Signature,
}

/// Why a transaction could not be accepted as signed and well formed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TxError {
    /// Bytes did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The body names another chain (COV-19).
    #[error("transaction is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// Chain named in the body.
        found: ChainId,
        /// This chain.
        expected: ChainId,
    },
    /// Strict signature verification failed (COV-30).
    #[error(transparent)]
    Signature(#[from] CryptoError),
}

impl SignedTx {
    /// The body hash and the length of the transaction's encoding, from one encoding of the body
    /// into `buffer` (cleared first, so one buffer serves a whole batch): the key and signature that
    /// follow the body have fixed sizes.
    pub(crate) fn hash_and_encoded_len(&self, buffer: &mut Vec<u8>) -> (Hash, usize) {
        buffer.clear();
        encode_into(buffer, &self.body);
        (Hash::digest(buffer), buffer.len() + SIGNER_AND_SIGNATURE_BYTES)
    }

    /// Signs `body` with `key`.
    pub fn sign(body: TxBody, key: &crate::crypto::SecretKey) -> SignedTx {
        let signature = key.sign(SignatureDomain::Transaction, &body.chain_id, &body.hash());
        SignedTx { body, signer: key.public_key(), signature }
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes untrusted bytes (at most [`TX_BYTES_MAX`]) and checks the encoding version.
    pub fn decode(bytes: &[u8]) -> Result<SignedTx, DecodeError> {
        let tx: SignedTx = decode("transaction", bytes, TX_BYTES_MAX)?;
        check_version("transaction", tx.body.version)?;
        Ok(tx)
    }
}

/// A transaction handed back by verification, with the reason it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedTx {
    /// The transaction as received.
    pub tx: Box<SignedTx>,
    /// Why it failed.
    pub error: TxError,
}

/// Bytes a signed transaction's encoding spends after its body: the signer's key and the
/// signature, both fixed-size arrays (BCS writes no length for them).
const SIGNER_AND_SIGNATURE_BYTES: usize = PUBLIC_KEY_BYTES + SIGNATURE_BYTES;

/// A transaction whose chain id and strict signature have been checked. Only this module can make one,
/// so holding a `VerifiedTx` proves the check was done (once) and need not be repeated.
///
/// The transaction is shared (`Arc`): the mempool, proposals and block validation hand the same
/// verified transaction around, and a clone is a reference count, not a copy of its strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    tx: std::sync::Arc<SignedTx>,
    hash: Hash,
    encoded_bytes: usize,
}

impl VerifiedTx {
    /// Checks chain id and signature of one transaction.
    pub fn verify(tx: SignedTx, chain: &ChainId) -> Result<VerifiedTx, RejectedTx> {
        let mut results = VerifiedTx::verify_batch(vec![tx], chain);
        results.pop().expect("one result per transaction")
    }

    /// Checks many transactions, verifying their signatures in one batch. Returns one result per
    /// transaction in order; a failed one hands its transaction back with the reason.
    pub fn verify_batch(txs: Vec<SignedTx>, chain: &ChainId) -> Vec<Result<VerifiedTx, RejectedTx>> {
        // The body is encoded once, for its hash and for the transaction's encoded length.
        let mut buffer = Vec::new();
        let measured: Vec<(Hash, usize)> = txs.iter().map(|tx| tx.hash_and_encoded_len(&mut buffer)).collect();
        let items: Vec<BatchItem<'_>> = txs
            .iter()
            .zip(measured.iter().map(|(hash, _)| hash))
            .filter(|(tx, _)| &tx.body.chain_id == chain)
            .map(|(tx, hash)| BatchItem {
                key: &tx.signer,
                domain: SignatureDomain::Transaction,
                message: hash,
                signature: &tx.signature,
            })
            .collect();
        let mut signature_results = verify_batch(chain, &items).into_iter();
        txs.into_iter()
            .zip(measured)
            .map(|(tx, (hash, encoded_bytes))| {
                if &tx.body.chain_id != chain {
                    let error = TxError::WrongChain { found: tx.body.chain_id.clone(), expected: chain.clone() };
                    return Err(RejectedTx { tx: Box::new(tx), error });
                }
                match signature_results.next().expect("one signature result per same-chain transaction") {
                    Ok(()) => Ok(VerifiedTx { tx: std::sync::Arc::new(tx), hash, encoded_bytes }),
                    Err(error) => Err(RejectedTx { tx: Box::new(tx), error: TxError::Signature(error) }),
                }
            })
            .collect()
    }

    /// The transaction.
    pub fn tx(&self) -> &SignedTx {
        &self.tx
    }

    /// Its hash.
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// Length of its canonical encoding.
    pub fn encoded_bytes(&self) -> usize {
        self.encoded_bytes
    }

    /// Gives the transaction back (a copy if it is still shared).
    pub fn into_inner(self) -> SignedTx {
        std::sync::Arc::unwrap_or_clone(self.tx)
    }
}
