//! What the core knows about each peer: what it claims (height, clock), what it proved (blocks it
//! served that committed), and the budgets that bound the work it can cause: gossip bytes and
//! messages it delivers, and blocks it may ask this node to read.

use std::collections::BTreeMap;

use crate::io::PeerKey;

/// A token bucket: `capacity` units, refilled at `per_second`, measured in the core's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    capacity: u64,
    per_second: u64,
    tokens: u64,
    refilled_ms: u64,
}

impl Budget {
    /// A full budget at `now_ms`.
    pub fn new(capacity: u64, per_second: u64, now_ms: u64) -> Budget {
        Budget { capacity, per_second, tokens: capacity, refilled_ms: now_ms }
    }

    fn refill(&mut self, now_ms: u64) {
        let elapsed_ms = now_ms.saturating_sub(self.refilled_ms);
        if elapsed_ms == 0 {
            return;
        }
        let earned = u128::from(elapsed_ms) * u128::from(self.per_second) / 1000;
        self.tokens = u64::try_from(u128::from(self.tokens) + earned).unwrap_or(u64::MAX).min(self.capacity);
        self.refilled_ms = now_ms;
    }

    /// Takes `amount` if that much is left at `now_ms`.
    pub fn take(&mut self, amount: u64, now_ms: u64) -> bool {
        self.refill(now_ms);
        if self.tokens < amount {
            return false;
        }
        self.tokens -= amount;
        true
    }

    /// Takes whatever is left, up to `amount`, at `now_ms`.
    pub fn take_up_to(&mut self, amount: u64, now_ms: u64) -> u64 {
        self.refill(now_ms);
        let taken = self.tokens.min(amount);
        self.tokens -= taken;
        taken
    }
}

/// Gossip bytes one peer may deliver, per second and in a burst. Honest peers at saturation deliver
/// a few MB/s of transaction batches and proposals (a 10,000-transaction proposal is about 2.6 MB,
/// five a second); relaying for others multiplies that by the peers it relays for.
pub const GOSSIP_BYTES_PER_SECOND_PER_PEER: u64 = 64 * 1024 * 1024;
/// Gossip messages one peer may deliver, per second and in a burst: each can cost a signature check.
pub const GOSSIP_MESSAGES_PER_SECOND_PER_PEER: u64 = 5_000;
/// Bytes of blocks this node reads for one peer's sync requests, per second and in a burst: a
/// syncing honest peer gets about eight full blocks a second.
pub const SERVE_BYTES_PER_SECOND_PER_PEER: u64 = 32 * 1024 * 1024;

/// One peer.
#[derive(Clone, Debug)]
pub struct Peer {
    /// Connected now.
    pub connected: bool,
    /// The committed height it last claimed.
    pub claimed_height: u64,
    /// The highest height of a block it served that this node committed: progress it proved.
    pub proven_height: u64,
    /// Its clock minus this node's, in ms, as last measured.
    pub clock_offset_ms: Option<i64>,
    /// Consecutive block requests it answered without a usable block although it claimed them.
    pub unbacked: u32,
    /// Consecutive block requests that failed (unbacked, busy, or lost).
    pub sync_failures: u32,
    /// No block request to it before this time.
    pub sync_retry_at_ms: u64,
    /// When it was last asked for blocks.
    pub sync_requested_ms: u64,
    gossip_bytes: Budget,
    gossip_messages: Budget,
    serve_bytes: Budget,
}

impl Peer {
    fn new(now_ms: u64) -> Peer {
        Peer {
            connected: false,
            claimed_height: 0,
            proven_height: 0,
            clock_offset_ms: None,
            unbacked: 0,
            sync_failures: 0,
            sync_retry_at_ms: 0,
            sync_requested_ms: 0,
            gossip_bytes: Budget::new(GOSSIP_BYTES_PER_SECOND_PER_PEER, GOSSIP_BYTES_PER_SECOND_PER_PEER, now_ms),
            gossip_messages: Budget::new(
                GOSSIP_MESSAGES_PER_SECOND_PER_PEER,
                GOSSIP_MESSAGES_PER_SECOND_PER_PEER,
                now_ms,
            ),
            serve_bytes: Budget::new(SERVE_BYTES_PER_SECOND_PER_PEER, SERVE_BYTES_PER_SECOND_PER_PEER, now_ms),
        }
    }
}

/// Most peers remembered (connected or not): the allowlist's bound.
pub const PEERS_MAX: usize = 4 * covenant_types::limits::VALIDATORS_MAX;

/// Every peer the core has heard of.
#[derive(Default)]
pub struct Peers {
    peers: BTreeMap<PeerKey, Peer>,
}

impl Peers {
    /// The peer's record, created if new (beyond [`PEERS_MAX`], `None`: a peer the shell let in
    /// although the allowlist is full, which the core does not track).
    pub fn get_mut(&mut self, peer: &PeerKey, now_ms: u64) -> Option<&mut Peer> {
        if !self.peers.contains_key(peer) && self.peers.len() >= PEERS_MAX {
            return None;
        }
        Some(self.peers.entry(*peer).or_insert_with(|| Peer::new(now_ms)))
    }

    /// The peer's record, if known.
    pub fn get(&self, peer: &PeerKey) -> Option<&Peer> {
        self.peers.get(peer)
    }

    /// Every known peer.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerKey, &Peer)> {
        self.peers.iter()
    }

    /// Connected peers.
    pub fn connected(&self) -> usize {
        self.peers.values().filter(|peer| peer.connected).count()
    }

    /// The peer connected.
    pub fn connect(&mut self, peer: &PeerKey, now_ms: u64) {
        if let Some(record) = self.get_mut(peer, now_ms) {
            record.connected = true;
        }
    }

    /// The peer disconnected: its claims and clock reading lapse; what it proved and its failures
    /// are kept, so that reconnecting does not reset them.
    pub fn disconnect(&mut self, peer: &PeerKey) {
        if let Some(record) = self.peers.get_mut(peer) {
            record.connected = false;
            record.claimed_height = 0;
            record.clock_offset_ms = None;
        }
    }

    /// Forgets peers no longer allowed.
    pub fn retain_allowed(&mut self, allowed: &[PeerKey]) {
        self.peers.retain(|peer, _| allowed.contains(peer));
    }

    /// Charges one gossip message of `bytes` delivered by `peer`; false when over its budget.
    pub fn charge_gossip(&mut self, peer: &PeerKey, bytes: usize, now_ms: u64) -> bool {
        let Some(record) = self.get_mut(peer, now_ms) else { return false };
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        // Both budgets are checked before either is charged, so a refused message costs nothing.
        let mut messages = record.gossip_messages.clone();
        let mut volume = record.gossip_bytes.clone();
        if !messages.take(1, now_ms) || !volume.take(bytes, now_ms) {
            return false;
        }
        record.gossip_messages = messages;
        record.gossip_bytes = volume;
        true
    }

    /// Grants up to `wanted` bytes of block reads for `peer`'s request; 0 when its budget is spent.
    pub fn grant_serve(&mut self, peer: &PeerKey, wanted: u64, least: u64, now_ms: u64) -> u64 {
        let Some(record) = self.get_mut(peer, now_ms) else { return 0 };
        let mut budget = record.serve_bytes.clone();
        if !budget.take(least, now_ms) {
            return 0;
        }
        let extra = budget.take_up_to(wanted.saturating_sub(least), now_ms);
        record.serve_bytes = budget;
        least + extra
    }

    /// The median of the connected peers' clock offsets (the lower middle one of an even count).
    pub fn median_clock_offset(&self) -> Option<i64> {
        let mut offsets: Vec<i64> = self.peers.values().filter_map(|peer| peer.clock_offset_ms).collect();
        offsets.sort_unstable();
        offsets.get(offsets.len().checked_sub(1)? / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refills_at_its_rate_up_to_its_capacity() {
        let mut budget = Budget::new(1_000, 100, 0);
        assert!(budget.take(1_000, 0));
        assert!(!budget.take(1, 0));
        assert!(!budget.take(11, 100), "100 ms earn 10");
        assert!(budget.take(10, 100));
        assert!(budget.take(1_000, 1_000_000), "refilled to capacity, not beyond");
        assert!(!budget.take(1, 1_000_000));
    }

    #[test]
    fn a_refused_gossip_message_charges_neither_budget() {
        let key = covenant_types::SecretKey::from_seed(&[1; 32]).public_key();
        let mut peers = Peers::default();
        let too_big = GOSSIP_BYTES_PER_SECOND_PER_PEER as usize + 1;
        assert!(!peers.charge_gossip(&key, too_big, 0));
        for _ in 0..GOSSIP_MESSAGES_PER_SECOND_PER_PEER {
            assert!(peers.charge_gossip(&key, 1, 0));
        }
        assert!(!peers.charge_gossip(&key, 1, 0), "the message budget is spent");
        assert!(peers.charge_gossip(&key, 1, 1), "a millisecond later, five messages more");
    }

    #[test]
    fn serving_grants_at_least_the_least_or_nothing() {
        let key = covenant_types::SecretKey::from_seed(&[1; 32]).public_key();
        let mut peers = Peers::default();
        let full = SERVE_BYTES_PER_SECOND_PER_PEER;
        assert_eq!(peers.grant_serve(&key, full, 1_000, 0), full);
        assert_eq!(peers.grant_serve(&key, full, 1_000, 0), 0);
        assert_eq!(peers.grant_serve(&key, full, 1_000, 500), full / 2);
    }

    #[test]
    fn the_median_clock_offset_is_the_middle_reading() {
        let mut peers = Peers::default();
        assert_eq!(peers.median_clock_offset(), None);
        for (seed, offset) in [(1u8, 30i64), (2, -10), (3, 500)] {
            let key = covenant_types::SecretKey::from_seed(&[seed; 32]).public_key();
            peers.get_mut(&key, 0).expect("room").clock_offset_ms = Some(offset);
        }
        assert_eq!(peers.median_clock_offset(), Some(30), "one wild clock does not move it");
        let fourth = covenant_types::SecretKey::from_seed(&[4; 32]).public_key();
        peers.get_mut(&fourth, 0).expect("room").clock_offset_ms = Some(20);
        assert_eq!(peers.median_clock_offset(), Some(20), "the lower middle of an even count");
    }
}
