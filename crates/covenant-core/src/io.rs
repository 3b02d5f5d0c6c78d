//! What goes into the node core ([`Input`]) and what comes out ([`Action`]).
//!
//! Peers are named by their network public key ([`PeerKey`]), the identity the chain registers and
//! the allowlist admits; the shell maps it to its transport's peer ids. Everything the shell must
//! hand back later (a gossiped message awaiting its verdict, a client waiting for an answer, a peer
//! waiting for blocks) travels as an opaque token the shell chose.

use covenant_types::{Hash, PublicKey, RejectedTx, SignedTx, VerifiedTx};

use crate::mempool::AdmissionError;

/// A peer: its network public key (registered on chain, checked by the transport's handshake).
pub type PeerKey = PublicKey;

/// What a gossip message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Topic {
    /// One encoded consensus message.
    Consensus,
    /// A batch of encoded transactions.
    Transactions,
}

/// The shell's name for one gossiped message awaiting its [`Action::Validated`] verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GossipId(pub u64);

/// The shell's name for one client transaction awaiting its [`Action::Answer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(pub u64);

/// The shell's name for one peer's block request awaiting [`Action::ServeBlocks`] or
/// [`Action::RefuseBlocks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServeId(pub u64);

/// The core's name for one block request it sent ([`Action::RequestBlocks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The core's name for one batch of signatures to verify ([`Action::Verify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchId(pub u64);

/// A request for `max_count` committed blocks from `from_height` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GetBlocks {
    /// First height wanted.
    pub from_height: u64,
    /// Most blocks wanted.
    pub max_count: u32,
}

/// The fate of a gossiped message, for the gossip layer: whether to forward it, and whether the
/// peer that delivered it misbehaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Valid for this node's current height: forward it.
    Accept,
    /// Provably bad whoever relayed it (undecodable, or badly signed at the height both are at):
    /// do not forward. The core penalises the delivering peer itself ([`Action::Penalise`]).
    Reject,
    /// Not forwarded and nobody blamed: a duplicate, another height, a message this node cannot
    /// judge, or one delivered on a topic that is not relayed.
    Ignore,
}

/// Why a block request this node sent got no blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncFailure {
    /// The peer answered that it is busy (or did not answer in time on its side).
    Unavailable,
    /// The request failed in transport (timeout, connection closed).
    Failed(String),
}

/// A client's transaction, decoded by the shell (which answers undecodable bytes itself).
#[derive(Clone, Debug)]
pub struct ClientTx {
    /// Where the verdict goes.
    pub ticket: Ticket,
    /// The transaction.
    pub tx: SignedTx,
    /// Its body hash.
    pub hash: Hash,
    /// Its encoding as the client sent it (gossiped once admitted).
    pub bytes: Vec<u8>,
}

/// Something that happened, for the core to react to.
#[derive(Debug)]
pub enum Input {
    /// Boot: start deciding the height after the store's tip.
    Start,
    /// Time passed: timers, batching deadlines and sync retries that are due fire.
    Tick,
    /// A gossiped message. `from` delivered it: its author, or a relay.
    Gossip {
        /// The delivering peer.
        from: PeerKey,
        /// The shell's token for the verdict.
        id: GossipId,
        /// What it carries.
        topic: Topic,
        /// Whether the topic is one whose messages are forwarded (a verdict matters to others).
        relayed: bool,
        /// The payload, size-checked by the shell against the topic's limit.
        bytes: Vec<u8>,
    },
    /// A consensus message sent point to point by `from` (its author, or the sender of a decision).
    Direct {
        /// The sending peer.
        from: PeerKey,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// A peer's first connection was established.
    PeerConnected {
        /// The peer.
        peer: PeerKey,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerKey,
    },
    /// A peer's status: its claimed committed height and, when this node asked, its clock offset.
    PeerStatus {
        /// The peer.
        peer: PeerKey,
        /// The height it claims to have committed.
        height: u64,
        /// The peer's clock minus this node's, in ms, when measured.
        clock_offset_ms: Option<i64>,
    },
    /// A peer asks for committed blocks.
    BlockRequest {
        /// The peer.
        peer: PeerKey,
        /// The shell's token for the answer.
        serve: ServeId,
        /// What it asks for.
        request: GetBlocks,
    },
    /// The answer to a [`Action::RequestBlocks`]: encoded commit certificates, or why none came.
    BlocksReceived {
        /// The peer that answered.
        peer: PeerKey,
        /// The request.
        request: RequestId,
        /// Encoded [`covenant_consensus::CommitCertificate`]s, from the requested height on.
        answer: Result<Vec<Vec<u8>>, SyncFailure>,
    },
    /// Transactions from this node's clients.
    Submit(Vec<ClientTx>),
    /// The result of an [`Action::Verify`], one per transaction in order.
    Verified {
        /// The batch.
        batch: BatchId,
        /// Verdicts, in the batch's order.
        results: Vec<Result<VerifiedTx, RejectedTx>>,
    },
}

/// What the core asks the shell to do, in order.
#[derive(Debug)]
pub enum Action {
    /// Publish to every peer.
    Broadcast {
        /// The topic.
        topic: Topic,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// Send a consensus message to one peer, point to point.
    Send {
        /// The recipient.
        to: PeerKey,
        /// The payload.
        bytes: Vec<u8>,
    },
    /// The verdict on a gossiped message.
    Validated {
        /// The shell's token.
        id: GossipId,
        /// The verdict.
        verdict: GossipVerdict,
    },
    /// Disconnect `peer` and refuse it for a while: it provably sent something bad itself.
    Penalise {
        /// The peer.
        peer: PeerKey,
        /// What it did, for the log and the audit trail.
        reason: String,
    },
    /// Admit exactly these peers (the registered nodes of active members, COV-20).
    SetAllowed {
        /// Their network keys.
        keys: Vec<PeerKey>,
    },
    /// Ask `peer` for blocks; answer with [`Input::BlocksReceived`].
    RequestBlocks {
        /// The peer.
        peer: PeerKey,
        /// The core's token.
        request: RequestId,
        /// What to ask for.
        blocks: GetBlocks,
    },
    /// Answer a peer's block request with [`crate::sync::read_certificates`] under this budget,
    /// off the core's thread.
    ServeBlocks {
        /// The shell's token.
        serve: ServeId,
        /// First height to send.
        from_height: u64,
        /// Most blocks to send.
        max_count: u32,
        /// Most encoded bytes to send, decided before anything is read.
        bytes_max: usize,
    },
    /// Answer a peer's block request with "unavailable": its budget is spent, or nothing is due.
    RefuseBlocks {
        /// The shell's token.
        serve: ServeId,
    },
    /// Verify these transactions' signatures (batched, off the core's thread) and answer with
    /// [`Input::Verified`].
    Verify {
        /// The core's token.
        batch: BatchId,
        /// The transactions.
        txs: Vec<SignedTx>,
    },
    /// A client's verdict.
    Answer {
        /// The shell's token.
        ticket: Ticket,
        /// The transaction's hash if admitted.
        result: Result<Hash, AdmissionError>,
    },
}
