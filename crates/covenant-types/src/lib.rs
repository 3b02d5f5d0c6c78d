//! # covenant-types
//!
//! The vocabulary every other Covenant crate speaks: ids, SHA-256 hashes, strict ed25519 keys and
//! signatures, the one canonical encoding (BCS, ADR 0001), transactions, blocks, commit seals,
//! receipts and validator sets, and the hard limits compiled into the node. No IO.
//!
//! ```
//! use covenant_types::*;
//!
//! let chain = ChainId::new("demo").unwrap();
//! let key = SecretKey::from_seed(&[7; 32]);
//! let body = TxBody {
//!     version: ENCODING_VERSION,
//!     chain_id: chain.clone(),
//!     sender: Principal::Operator(OperatorId::new("alice").unwrap()),
//!     nonce: 0,
//!     created_at_ms: 1_700_000_000_000,
//!     payload: Payload::Transfer(Transfer {
//!         from: AccountId::new("bank-a/treasury").unwrap(),
//!         to: AccountId::new("bank-b/treasury").unwrap(),
//!         asset: AssetId::new("twd").unwrap(),
//!         amount: 100,
//!         memo: String::new(),
//!     }),
//! };
//! let tx = SignedTx::sign(body, &key);
//! let bytes = tx.encode();
//! let decoded = SignedTx::decode(&bytes).unwrap();
//! let verified = VerifiedTx::verify(decoded, &chain).unwrap();
//! assert_eq!(verified.hash(), tx.body.hash());
//! // The same signature is worthless on another chain (COV-19).
//! assert!(VerifiedTx::verify(tx.clone(), &ChainId::new("other").unwrap()).is_err());
//! ```

pub mod batch;
pub mod block;
pub mod bytes;
pub mod crypto;
pub mod encoding;
pub mod governance;
pub mod hash;
pub mod ids;
pub mod limits;
pub mod merkle;
pub mod tx;

pub use block::{
    Block, BlockHeader, BlockScan, CommitSeal, Receipt, SealedVote, TxOutcome, Validator, ValidatorSet,
    ValidatorSetError,
};
pub use crypto::{BatchItem, CryptoError, PublicKey, SecretKey, Signature, SignatureDomain, verify_batch};
pub use encoding::{DecodeError, ENCODING_VERSION, decode, encode, encode_into, hash_of};
pub use governance::{
    GovernanceAction, Jurisdiction, MemberStatus, NodeRecord, NodeRole, OperatorRecord, ProposalId, Role,
};
pub use hash::Hash;
pub use ids::{AccountId, AssetId, ChainId, ContractId, IdError, MemberId, NodeId, OperatorId, PersonId, SchemaId};
pub use merkle::merkle_root;
pub use tx::{
    AuditAnchor, Classification, ContractCall, DataRecord, KycAttestation, Payload, Principal, Proposal, RecordContent,
    RejectedTx, SignedTx, Transfer, TxBody, TxError, VerifiedTx,
};
