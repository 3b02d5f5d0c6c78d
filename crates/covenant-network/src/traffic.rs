//! Traffic counters per peer (article 22, COV-22-MONITORING): messages and bytes each peer sent
//! this node and this node sent it, on gossip and on the sync protocol.
//!
//! What is counted is what the application exchanges: a gossip message's payload once per peer it
//! was published to or delivered by (this node publishes to every subscribed peer, ADR 0009), and a
//! sync request's or response's whole frame. Gossip forwarded by gossipsub itself on a relayed
//! topic, gossip control messages, and the Noise and Yamux framing are not counted.
//!
//! Labels stay bounded: a peer whose key is in the allowlist (registered on chain) gets its own
//! counters, up to [`TRAFFIC_PEERS_MAX`] peers; any other peer, and any beyond that bound, is added
//! to one `unknown` total, so an outsider cycling keys cannot grow the table.

use std::collections::BTreeMap;

use libp2p::PeerId;

use crate::limits::ALLOWED_PEERS_MAX;

/// Peers counted one by one, at most (the allowlist's bound, twice over for peers that left it).
pub const TRAFFIC_PEERS_MAX: usize = 2 * ALLOWED_PEERS_MAX;

/// Messages and bytes in each direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages received from the peer.
    pub messages_in: u64,
    /// Bytes received from the peer.
    pub bytes_in: u64,
    /// Messages sent to the peer.
    pub messages_out: u64,
    /// Bytes sent to the peer.
    pub bytes_out: u64,
}

impl Traffic {
    fn add(&mut self, direction: Direction, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let (messages, total) = match direction {
            Direction::In => (&mut self.messages_in, &mut self.bytes_in),
            Direction::Out => (&mut self.messages_out, &mut self.bytes_out),
        };
        *messages = messages.saturating_add(1);
        *total = total.saturating_add(bytes);
    }
}

/// The counters at one moment: the peers counted one by one (sorted by peer id), and the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficSnapshot {
    /// Peers that were in the allowlist when they exchanged something with this node.
    pub peers: Vec<(PeerId, Traffic)>,
    /// Every other peer, added up.
    pub unknown: Traffic,
}

/// Which way a message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the peer to this node.
    In,
    /// From this node to the peer.
    Out,
}

/// The counters the network task keeps.
#[derive(Debug, Default)]
pub(crate) struct TrafficCounters {
    per_peer: BTreeMap<PeerId, Traffic>,
    unknown: Traffic,
}

impl TrafficCounters {
    /// Counts one message of `bytes` exchanged with `peer`; `allowed` says whether its key is in the
    /// allowlist now.
    pub(crate) fn record(&mut self, peer: &PeerId, allowed: bool, direction: Direction, bytes: usize) {
        let counted = if let Some(traffic) = self.per_peer.get_mut(peer) {
            traffic
        } else if allowed && self.per_peer.len() < TRAFFIC_PEERS_MAX {
            self.per_peer.entry(*peer).or_default()
        } else {
            &mut self.unknown
        };
        counted.add(direction, bytes);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> TrafficSnapshot {
        TrafficSnapshot {
            peers: self.per_peer.iter().map(|(peer, traffic)| (*peer, *traffic)).collect(),
            unknown: self.unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(index: u32) -> PeerId {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&index.to_be_bytes());
        crate::peer_id_of(&covenant_types::SecretKey::from_seed(&seed).public_key()).expect("an ed25519 key")
    }

    // covers: COV-22-MONITORING
    #[test]
    fn allowed_peers_are_counted_one_by_one_and_everyone_else_together() {
        let mut counters = TrafficCounters::default();
        let (registered, stranger, other_stranger) = (peer(0), peer(1), peer(2));
        counters.record(&registered, true, Direction::In, 100);
        counters.record(&registered, true, Direction::In, 50);
        counters.record(&registered, true, Direction::Out, 7);
        counters.record(&stranger, false, Direction::In, 10);
        counters.record(&other_stranger, false, Direction::Out, 20);
        // Once counted on its own, a peer stays so (counters never go back), even if it left the
        // allowlist.
        counters.record(&registered, false, Direction::Out, 3);
        let snapshot = counters.snapshot();
        assert_eq!(
            snapshot.peers,
            vec![(registered, Traffic { messages_in: 2, bytes_in: 150, messages_out: 2, bytes_out: 10 })]
        );
        assert_eq!(snapshot.unknown, Traffic { messages_in: 1, bytes_in: 10, messages_out: 1, bytes_out: 20 });
    }

    // covers: COV-22-MONITORING
    #[test]
    fn the_table_of_peers_is_bounded() {
        let mut counters = TrafficCounters::default();
        for index in 0..TRAFFIC_PEERS_MAX + 5 {
            counters.record(&peer(index as u32), true, Direction::In, 1);
        }
        let snapshot = counters.snapshot();
        assert_eq!(snapshot.peers.len(), TRAFFIC_PEERS_MAX);
        assert_eq!(snapshot.unknown.messages_in, 5);
    }
}
