//! Consensus messages: what validators sign and what travels between them.
//!
//! Each vote is a small body ([`PrePrepare`], [`Prepare`], [`Commit`], [`RoundChange`]) wrapped in
//! [`Signed`]: the author's node id, the body and a signature in the
//! [`SignatureDomain::ConsensusMessage`] domain of the chain. The signed digest covers the message kind,
//! so the bytes of a PREPARE can never be replayed as a COMMIT. Blocks and certificates travel beside
//! the signed body ([`ProposalMessage`], [`RoundChangeMessage`]) and are bound to it by hash.
//!
//! Every message is encoded with BCS (ADR 0001) and decoded from untrusted bytes by
//! [`Message::decode`], which refuses anything longer than
//! [`CONSENSUS_MESSAGE_BYTES_MAX`] before looking at it.

use serde::{Deserialize, Serialize};

use covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX;
use covenant_types::{
    Block, ChainId, CommitSeal, CryptoError, DecodeError, ENCODING_VERSION, Hash, NodeId, PublicKey, SealedVote,
    Signature, SignatureDomain, decode, encode, hash_of,
};

use crate::crypto::ConsensusCrypto;

/// The four kinds of signed consensus votes. Part of every signed digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// The proposer's PRE-PREPARE.
    PrePrepare,
    /// A validator's PREPARE.
    Prepare,
    /// A validator's COMMIT with its commit seal.
    Commit,
    /// A validator's ROUND-CHANGE.
    RoundChange,
}

impl MessageKind {
    /// Lower-case name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::PrePrepare => "pre-prepare",
            MessageKind::Prepare => "prepare",
            MessageKind::Commit => "commit",
            MessageKind::RoundChange => "round-change",
        }
    }
}

/// A body that can be signed: it knows its kind, height and round.
pub trait MessageBody: Serialize + Clone + PartialEq {
    /// Which kind of vote this is (bound into the signature).
    const KIND: MessageKind;
    /// Height the vote is for.
    fn height(&self) -> u64;
    /// Round the vote is for.
    fn round(&self) -> u32;
}

/// PRE-PREPARE(h, r, digest): the proposer of round `r` proposes the block with this hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrePrepare {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Hash of the proposed block.
    pub block_hash: Hash,
}

/// PREPARE(h, r, digest): the author validated the proposal of round `r` and accepts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepare {
    /// Height.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Hash of the block.
    pub block_hash: Hash,
}

/// COMMIT(h, r, digest, seal): the author saw a quorum of PREPAREs for the block in round `r`.
///
/// The seal is the author's signature over [`SealedVote`] `{height, round: block.header.round,
/// block_hash}` in the [`SignatureDomain::CommitSeal`] domain: it names the round the block was first
/// proposed in (which is inside the block's header), not the round of this COMMIT, so anyone holding
/// the block can check a seal without knowing in which round it was decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// Height.
    pub height: u64,
    /// Round of this COMMIT.
    pub round: u32,
    /// Hash of the block.
    pub block_hash: Hash,
    /// The commit seal.
    pub seal: Signature,
}

/// Which block a validator prepared, and in which round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedRef {
    /// Round in which a quorum of PREPAREs was seen.
    pub round: u32,
    /// The block.
    pub block_hash: Hash,
}

/// ROUND-CHANGE(h, r, prepared): the author gives up on the rounds before `r` and reports the highest
/// round in which it saw a quorum of PREPAREs (its prepared certificate travels with the message).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundChange {
    /// Height.
    pub height: u64,
    /// The round the author moves to (at least 1).
    pub round: u32,
    /// The author's prepared round and block, if any.
    pub prepared: Option<PreparedRef>,
}

impl MessageBody for PrePrepare {
    const KIND: MessageKind = MessageKind::PrePrepare;
    fn height(&self) -> u64 {
        self.height
    }
    fn round(&self) -> u32 {
        self.round
    }
}

impl MessageBody for Prepare {
    const KIND: MessageKind = MessageKind::Prepare;
    fn height(&self) -> u64 {
        self.height
    }
    fn round(&self) -> u32 {
        self.round
    }
}

impl MessageBody for Commit {
    const KIND: MessageKind = MessageKind::Commit;
    fn height(&self) -> u64 {
        self.height
    }
    fn round(&self) -> u32 {
        self.round
    }
}

impl MessageBody for RoundChange {
    const KIND: MessageKind = MessageKind::RoundChange;
    fn height(&self) -> u64 {
        self.height
    }
    fn round(&self) -> u32 {
        self.round
    }
}

/// What is hashed and signed for a vote: version, kind, author and body.
#[derive(Serialize)]
struct SigningPayload<'a, T> {
    version: u16,
    kind: MessageKind,
    author: &'a NodeId,
    body: &'a T,
}

/// A vote body signed by its author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// The validator that signed.
    pub author: NodeId,
    /// What it signed.
    pub body: T,
    /// Signature over [`Signed::digest`] in the consensus-message domain.
    pub signature: Signature,
}

impl<T: MessageBody> Signed<T> {
    /// The digest that is signed: covers encoding version, kind, author and body.
    pub fn digest(&self) -> Hash {
        signing_digest(&self.author, &self.body)
    }

    /// Signs `body` as `author`.
    pub fn sign(author: NodeId, body: T, crypto: &dyn ConsensusCrypto, chain: &ChainId) -> Signed<T> {
        let digest = signing_digest(&author, &body);
        let signature = crypto.sign(SignatureDomain::ConsensusMessage, chain, &digest);
        Signed { author, body, signature }
    }

    /// Checks the signature against the author's consensus key.
    pub fn verify(&self, key: &PublicKey, crypto: &dyn ConsensusCrypto, chain: &ChainId) -> Result<(), CryptoError> {
        crypto.verify(key, SignatureDomain::ConsensusMessage, chain, &self.digest(), &self.signature)
    }
}

fn signing_digest<T: MessageBody>(author: &NodeId, body: &T) -> Hash {
    hash_of(&SigningPayload { version: ENCODING_VERSION, kind: T::KIND, author, body })
}

/// The digest a commit seal signs for `block_hash` proposed at `height` in `block_round`.
pub fn seal_digest(height: u64, block_round: u32, block_hash: Hash) -> Hash {
    hash_of(&SealedVote { height, round: block_round, block_hash })
}

/// Why a proposal for a round above 0 is allowed: a quorum of ROUND-CHANGEs for that round, and if any
/// of them reports a prepared block, a quorum of PREPAREs for the highest one (whose block must then be
/// the proposed block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Justification {
    /// Signed ROUND-CHANGE bodies for the proposal's round, from distinct validators (at least a quorum).
    pub round_changes: Vec<Signed<RoundChange>>,
    /// PREPAREs for the highest prepared round among `round_changes`; empty if none reports one.
    pub prepares: Vec<Signed<Prepare>>,
}

/// A PRE-PREPARE with its block and, for rounds above 0, its justification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalMessage {
    /// The signed PRE-PREPARE; its `block_hash` must be `block.hash()`.
    pub pre_prepare: Signed<PrePrepare>,
    /// The proposed block.
    pub block: Block,
    /// Required for rounds above 0, absent in round 0.
    pub justification: Option<Justification>,
}

/// A block and a quorum of PREPAREs for it in one round.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedCertificate {
    /// The prepared block.
    pub block: Block,
    /// PREPAREs from a quorum of distinct validators, all for the same height, round and block.
    pub prepares: Vec<Signed<Prepare>>,
}

impl PreparedCertificate {
    /// The round the PREPAREs are for (0 if there are none, which a valid certificate never has).
    pub fn round(&self) -> u32 {
        self.prepares.first().map(|prepare| prepare.body.round).unwrap_or(0)
    }

    /// The reference carried in a ROUND-CHANGE body.
    pub fn reference(&self) -> PreparedRef {
        PreparedRef { round: self.round(), block_hash: self.block.hash() }
    }
}

/// A ROUND-CHANGE with the prepared certificate its body refers to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundChangeMessage {
    /// The signed ROUND-CHANGE.
    pub round_change: Signed<RoundChange>,
    /// Present exactly when `round_change.body.prepared` is.
    pub prepared: Option<PreparedCertificate>,
}

/// A committed block with a quorum of commit seals: proof of finality that anyone can check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitCertificate {
    /// The block.
    pub block: Block,
    /// Seals over `SealedVote { height, round: block.header.round, block_hash }`, from distinct
    /// validators of the block's validator set, sorted by validator id.
    pub seals: Vec<CommitSeal>,
}

/// Everything validators send each other about consensus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// PRE-PREPARE with the block.
    Proposal(Box<ProposalMessage>),
    /// PREPARE.
    Prepare(Signed<Prepare>),
    /// COMMIT.
    Commit(Signed<Commit>),
    /// ROUND-CHANGE with its prepared certificate.
    RoundChange(Box<RoundChangeMessage>),
    /// A decided block sent to a validator that is still voting at its height, so it can catch up
    /// without a full block sync. Needs no signature of its own: the seals are the proof.
    Decided(Box<CommitCertificate>),
}

impl Message {
    /// Height the message is about.
    pub fn height(&self) -> u64 {
        match self {
            Message::Proposal(proposal) => proposal.pre_prepare.body.height,
            Message::Prepare(prepare) => prepare.body.height,
            Message::Commit(commit) => commit.body.height,
            Message::RoundChange(round_change) => round_change.round_change.body.height,
            Message::Decided(certificate) => certificate.block.header.height,
        }
    }

    /// Round the message is about (the block's proposal round for [`Message::Decided`]).
    pub fn round(&self) -> u32 {
        match self {
            Message::Proposal(proposal) => proposal.pre_prepare.body.round,
            Message::Prepare(prepare) => prepare.body.round,
            Message::Commit(commit) => commit.body.round,
            Message::RoundChange(round_change) => round_change.round_change.body.round,
            Message::Decided(certificate) => certificate.block.header.round,
        }
    }

    /// Who claims to have signed it (`None` for [`Message::Decided`], which is proven by its seals).
    pub fn author(&self) -> Option<&NodeId> {
        match self {
            Message::Proposal(proposal) => Some(&proposal.pre_prepare.author),
            Message::Prepare(prepare) => Some(&prepare.author),
            Message::Commit(commit) => Some(&commit.author),
            Message::RoundChange(round_change) => Some(&round_change.round_change.author),
            Message::Decided(_) => None,
        }
    }

    /// Short name for logs and metrics.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Message::Proposal(_) => MessageKind::PrePrepare.name(),
            Message::Prepare(_) => MessageKind::Prepare.name(),
            Message::Commit(_) => MessageKind::Commit.name(),
            Message::RoundChange(_) => MessageKind::RoundChange.name(),
            Message::Decided(_) => "decided",
        }
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Length of [`Message::encode`], counted without encoding (what buffer budgets count). A message
    /// that cannot be encoded (never one that was decoded) counts as `usize::MAX`, more than any budget.
    pub fn encoded_len(&self) -> usize {
        bcs::serialized_size(self).unwrap_or(usize::MAX)
    }

    /// Decodes untrusted bytes (at most `CONSENSUS_MESSAGE_BYTES_MAX`) and checks the encoding
    /// version of every block inside.
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let message: Message = decode("consensus message", bytes, CONSENSUS_MESSAGE_BYTES_MAX)?;
        let block = match &message {
            Message::Proposal(proposal) => Some(&proposal.block),
            Message::RoundChange(round_change) => round_change.prepared.as_ref().map(|certificate| &certificate.block),
            Message::Decided(certificate) => Some(&certificate.block),
            Message::Prepare(_) | Message::Commit(_) => None,
        };
        if let Some(block) = block {
            covenant_types::encoding::check_version("block header", block.header.version)?;
            for tx in block.transactions.iter() {
                covenant_types::encoding::check_version("transaction", tx.body.version)?;
            }
        }
        Ok(message)
    }
}
