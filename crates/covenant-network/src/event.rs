//! What the network tells the node.

use std::fmt;

use libp2p::{Multiaddr, PeerId};
use tokio::sync::oneshot;

use crate::NetworkError;
use crate::limits::BLOCK_RESPONSE_BYTES_MAX;
use crate::protocol::GetBlocks;

/// Something the node must hear about. Payloads are opaque, size-checked bytes: the node decodes
/// and validates them, and calls [`crate::NetworkHandle::disconnect`] for a peer that sent garbage.
#[derive(Debug)]
pub enum NetworkEvent {
    /// A peer's first connection was established (it passed the allowlist).
    PeerConnected {
        /// The peer.
        peer_id: PeerId,
        /// Its address as seen from here.
        address: Multiaddr,
    },
    /// A peer's last connection closed.
    PeerDisconnected {
        /// The peer.
        peer_id: PeerId,
    },
    /// A connection was refused (COV-20). Write it to the audit log.
    PeerRefused {
        /// The peer, once Noise has named it (`None` when the refusal came before, e.g. the
        /// pending-connection limit or a failed handshake).
        peer_id: Option<PeerId>,
        /// The remote address, when known.
        address: Option<Multiaddr>,
        /// Why.
        reason: RefusalReason,
    },
    /// More refusals happened than the event rate allows; this many were not reported one by one.
    RefusalsSuppressed {
        /// Refusals since the last one reported.
        count: u64,
    },
    /// Events were dropped: a peer's lane or the whole event queue was over its bound (a peer
    /// flooding, or the node not keeping up).
    /// Consensus recovers through round changes and sync; the count belongs in logs and metrics.
    EventsDropped {
        /// Events dropped since the last report.
        count: u64,
    },
    /// A consensus message, gossiped or sent point to point.
    Consensus {
        /// The peer that delivered it (allowed, authenticated by Noise): for gossip the author or
        /// a relay (the payload carries its author's signature), for a point-to-point message
        /// the sender.
        from: PeerId,
        /// The payload, at most [`crate::limits::CONSENSUS_PAYLOAD_BYTES_MAX`] bytes.
        bytes: Vec<u8>,
        /// For a message on a relayed topic: the token with which the node reports whether to
        /// forward it ([`crate::NetworkHandle::report_gossip`]). Nothing is forwarded before.
        gossip: Option<GossipToken>,
    },
    /// Transactions gossiped by a peer (the node defines the payload: a batch of transactions).
    Transaction {
        /// The peer that delivered it (allowed, authenticated by Noise; author or relay).
        from: PeerId,
        /// The payload, at most [`crate::limits::TX_PAYLOAD_BYTES_MAX`] bytes.
        bytes: Vec<u8>,
        /// As for [`NetworkEvent::Consensus`].
        gossip: Option<GossipToken>,
    },
    /// A peer asks for blocks; answer with [`BlockResponder::respond`] (or
    /// [`crate::NetworkHandle::respond_blocks`]) within the request timeout. Dropping the responder
    /// answers `Unavailable`.
    BlockRequest {
        /// The peer asking.
        peer: PeerId,
        /// What it asks for.
        request: GetBlocks,
        /// Where the answer goes.
        responder: BlockResponder,
    },
    /// A peer's height, from the periodic status exchange: whom to sync from.
    PeerStatus {
        /// The peer.
        peer: PeerId,
        /// Its last committed height.
        height: u64,
        /// The clock comparison, when this node asked (the status answer carries the peer's clock).
        clock: Option<ClockSample>,
    },
}

/// A gossiped message on a relayed topic awaiting the node's verdict: gossip forwards it only once
/// the node has validated it ([`crate::NetworkHandle::report_gossip`] with [`GossipVerdict::Accept`]),
/// so that an honest node never relays what it has not checked. Unreported messages are dropped
/// after a few gossip heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipToken {
    pub(crate) message_id: libp2p::gossipsub::MessageId,
    pub(crate) source: PeerId,
}

/// The node's verdict on a gossiped message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipVerdict {
    /// Valid: forward it.
    Accept,
    /// Invalid: do not forward it.
    Reject,
    /// Neither forward it nor count it against anyone.
    Ignore,
}

/// One comparison of this node's wall clock with a peer's, NTP style: the peer's time is compared
/// with the midpoint of the request's round trip, so the error is at most half the round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSample {
    /// The peer's clock minus this node's, in ms (positive: the peer is ahead).
    pub offset_ms: i64,
    /// The round trip of the status request, in ms.
    pub round_trip_ms: u64,
}

impl ClockSample {
    /// The sample from a request sent at `sent_ms`, answered with the peer's time `peer_ms`, and
    /// received at `received_ms` (this node's clock). `None` if this node's clock went backwards.
    pub fn estimate(sent_ms: u64, peer_ms: u64, received_ms: u64) -> Option<ClockSample> {
        let round_trip_ms = received_ms.checked_sub(sent_ms)?;
        let midpoint = i128::from(sent_ms) + i128::from(round_trip_ms / 2);
        let offset = i128::from(peer_ms) - midpoint;
        let offset_ms = i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX });
        Some(ClockSample { offset_ms, round_trip_ms })
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The peer's key is not in the allowlist.
    NotAllowed,
    /// The peer was disconnected for misbehaviour and is refused until its ban ends.
    Banned,
    /// A connection limit was reached (pending handshakes, connections per peer, total).
    ConnectionLimit {
        /// The limit that was reached.
        limit: u32,
    },
    /// The TCP, Noise or Yamux handshake failed or timed out.
    HandshakeFailed {
        /// The transport's error.
        detail: String,
    },
    /// A dialled bootstrap address answered with another key than the one configured.
    WrongPeerId {
        /// The peer id in the bootstrap address.
        expected: Option<PeerId>,
    },
    /// The peer does not speak this network's protocols (their names carry the chain id and its
    /// environment): it belongs to another chain or environment, e.g. a test node dialling a
    /// production node with a key registered on both (COV-19).
    WrongNetwork {
        /// This node's network id (`<chain id>.<environment>`).
        network_id: String,
    },
    /// Any other denial.
    Other {
        /// Description.
        detail: String,
    },
}

impl fmt::Display for RefusalReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefusalReason::NotAllowed => write!(f, "network key not in the allowlist"),
            RefusalReason::Banned => write!(f, "peer banned for misbehaviour"),
            RefusalReason::ConnectionLimit { limit } => write!(f, "connection limit of {limit} reached"),
            RefusalReason::HandshakeFailed { detail } => write!(f, "handshake failed: {detail}"),
            RefusalReason::WrongPeerId { expected: Some(peer) } => write!(f, "expected peer {peer}, got another"),
            RefusalReason::WrongPeerId { expected: None } => write!(f, "unexpected peer id"),
            RefusalReason::WrongNetwork { network_id } => {
                write!(f, "peer does not speak the protocols of network {network_id} (another chain or environment)")
            }
            RefusalReason::Other { detail } => write!(f, "{detail}"),
        }
    }
}

/// The answer slot of one inbound block request. Single use.
pub struct BlockResponder {
    pub(crate) peer: PeerId,
    pub(crate) max_count: u32,
    pub(crate) sender: oneshot::Sender<Vec<Vec<u8>>>,
}

impl BlockResponder {
    /// The peer that asked.
    pub fn peer(&self) -> PeerId {
        self.peer
    }

    /// Answers with encoded blocks (each with its seals), in height order from the requested
    /// height. Blocks past the requested count, and the tail that would take the response over
    /// [`BLOCK_RESPONSE_BYTES_MAX`], are cut off (the requester asks again from where it got to);
    /// the returned count says how many blocks are sent. An empty answer means "none available".
    pub fn respond(self, mut blocks: Vec<Vec<u8>>) -> Result<usize, NetworkError> {
        blocks.truncate(self.max_count as usize);
        let mut total = 0usize;
        let fitting = blocks
            .iter()
            .take_while(|block| {
                total = total.saturating_add(block.len());
                total <= BLOCK_RESPONSE_BYTES_MAX
            })
            .count();
        blocks.truncate(fitting);
        let sent = blocks.len();
        self.sender.send(blocks).map_err(|_| NetworkError::RequestGone { peer: self.peer })?;
        Ok(sent)
    }
}

impl fmt::Debug for BlockResponder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockResponder").field("peer", &self.peer).field("max_count", &self.max_count).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::ClockSample;

    #[test]
    fn clock_sample_compares_with_the_round_trip_midpoint() {
        let ahead = ClockSample::estimate(1_000, 61_050, 1_100).expect("forward clock");
        assert_eq!(ahead, ClockSample { offset_ms: 60_000, round_trip_ms: 100 });
        let behind = ClockSample::estimate(1_000, 0, 1_000).expect("forward clock");
        assert_eq!(behind.offset_ms, -1_000);
        assert_eq!(ClockSample::estimate(1_000, 5, 999), None, "a clock that went backwards gives no sample");
    }
}
