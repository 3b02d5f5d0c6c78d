//! Block sync: whom to ask for the blocks this node lacks, and what to read for a peer that asks.
//!
//! A peer's status *claims* a height; the blocks it serves that commit here *prove* it. Sources are
//! chosen by proven progress first, then by fewest failures, then least recently asked (so equals
//! take turns). A peer whose answers do not back its claim is asked again only after a growing
//! back-off, and penalised after [`UNBACKED_ANSWERS_MAX`] such answers in a row; a peer that sends a
//! certificate that does not verify is penalised at once. One request is in flight at a time.
//!
//! Serving is budgeted per peer in bytes ([`crate::peers::SERVE_BYTES_PER_SECOND_PER_PEER`]), the
//! budget decided before anything is read, and the reading happens off the core's thread.

use covenant_consensus::CommitCertificate;
use covenant_storage::{ChainStore, StorageError};

use crate::io::{GetBlocks, PeerKey, RequestId};
use crate::peers::Peers;

/// Blocks asked for in one request.
pub const SYNC_BLOCKS_PER_REQUEST: u32 = 64;
/// Most blocks served for one request.
pub const SERVE_BLOCKS_PER_REQUEST_MAX: u32 = 256;
/// Most encoded bytes served for one request (the transport's response bound).
pub const SERVE_BYTES_PER_REQUEST_MAX: u64 = 32 * 1024 * 1024;
/// First back-off after a failed request to a peer; it doubles with each failure in a row.
pub const SYNC_RETRY_MS_MIN: u64 = 250;
/// Longest back-off.
pub const SYNC_RETRY_MS_MAX: u64 = 8_000;
/// Answers in a row that serve none of the blocks a peer claimed before it is penalised.
pub const UNBACKED_ANSWERS_MAX: u32 = 3;

/// The block request in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight {
    /// The request's token.
    pub request: RequestId,
    /// Whom it went to.
    pub peer: PeerKey,
    /// The first height asked for.
    pub from_height: u64,
}

/// Sync decisions.
#[derive(Default)]
pub struct SyncPlanner {
    in_flight: Option<InFlight>,
    next_request: u64,
}

impl SyncPlanner {
    /// The request in flight, if any.
    pub fn in_flight(&self) -> Option<InFlight> {
        self.in_flight
    }

    /// Chooses a peer to ask for blocks from `from_height` on, if none is being asked and one that
    /// claims them is due; records the request.
    pub fn next_request(&mut self, peers: &mut Peers, from_height: u64, now_ms: u64) -> Option<(InFlight, GetBlocks)> {
        if self.in_flight.is_some() {
            return None;
        }
        let (peer, _) = peers
            .iter()
            .filter(|(_, peer)| peer.connected && peer.claimed_height >= from_height && peer.sync_retry_at_ms <= now_ms)
            .min_by_key(|(key, peer)| {
                let proven = peer.proven_height >= from_height.saturating_sub(1) && peer.proven_height > 0;
                (!proven, peer.sync_failures, peer.sync_requested_ms, **key)
            })?;
        let peer = *peer;
        if let Some(record) = peers.get_mut(&peer, now_ms) {
            record.sync_requested_ms = now_ms;
        }
        let request = RequestId(self.next_request);
        self.next_request += 1;
        let flight = InFlight { request, peer, from_height };
        self.in_flight = Some(flight);
        Some((flight, GetBlocks { from_height, max_count: SYNC_BLOCKS_PER_REQUEST }))
    }

    /// The earliest time a request could be due, if a peer claims blocks from `from_height` on.
    pub fn retry_at_ms(&self, peers: &Peers, from_height: u64) -> Option<u64> {
        if self.in_flight.is_some() {
            return None;
        }
        peers
            .iter()
            .filter(|(_, peer)| peer.connected && peer.claimed_height >= from_height)
            .map(|(_, peer)| peer.sync_retry_at_ms)
            .min()
    }

    /// Takes the request in flight if `request` from `peer` answers it.
    pub fn answered(&mut self, peer: &PeerKey, request: RequestId) -> Option<InFlight> {
        match self.in_flight {
            Some(flight) if flight.request == request && flight.peer == *peer => self.in_flight.take(),
            _ => None,
        }
    }

    /// The request in flight to `peer` is lost (the peer went away).
    pub fn peer_gone(&mut self, peer: &PeerKey) {
        if self.in_flight.is_some_and(|flight| flight.peer == *peer) {
            self.in_flight = None;
        }
    }
}

/// What came of one answer, for the peer's record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Blocks up to this height committed from it.
    Progress(u64),
    /// None of the blocks it claimed came (it answered with nothing usable).
    Unbacked,
    /// Busy, or lost in transport: nobody's fault, but not asked again at once.
    Failed,
}

/// Records an answer's outcome in `peer`'s record: progress clears its failures; anything else
/// backs off; returns true when the peer has now failed to back its claim too often.
pub fn record_answer(peers: &mut Peers, peer: &PeerKey, outcome: AnswerOutcome, now_ms: u64) -> bool {
    let Some(record) = peers.get_mut(peer, now_ms) else { return false };
    match outcome {
        AnswerOutcome::Progress(height) => {
            record.proven_height = record.proven_height.max(height);
            record.unbacked = 0;
            record.sync_failures = 0;
            record.sync_retry_at_ms = now_ms;
            false
        }
        AnswerOutcome::Unbacked | AnswerOutcome::Failed => {
            record.sync_failures = record.sync_failures.saturating_add(1);
            let doublings = record.sync_failures.saturating_sub(1).min(16);
            let backoff = SYNC_RETRY_MS_MIN.saturating_mul(1 << doublings).min(SYNC_RETRY_MS_MAX);
            record.sync_retry_at_ms = now_ms.saturating_add(backoff);
            if outcome == AnswerOutcome::Unbacked {
                record.unbacked = record.unbacked.saturating_add(1);
            }
            record.unbacked >= UNBACKED_ANSWERS_MAX
        }
    }
}

/// Committed blocks with their seals from `from_height`, encoded for a syncing peer: at most
/// `max_count` of them and, except that the first one is always sent (so a peer can always make
/// progress), at most `bytes_max` encoded bytes in all. The shell runs this off the core's thread.
pub fn read_certificates<S: ChainStore + ?Sized>(
    store: &S,
    from_height: u64,
    max_count: u32,
    bytes_max: u64,
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut blocks = Vec::new();
    let mut bytes = 0u64;
    for height in from_height..from_height.saturating_add(u64::from(max_count.min(SERVE_BLOCKS_PER_REQUEST_MAX))) {
        let (Some(block), Some(seals)) = (store.block_by_height(height)?, store.commit_seals(height)?) else {
            break;
        };
        let encoded = covenant_types::encode(&CommitCertificate { block, seals });
        bytes = bytes.saturating_add(encoded.len() as u64);
        if bytes > bytes_max && !blocks.is_empty() {
            break;
        }
        blocks.push(encoded);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> PeerKey {
        covenant_types::SecretKey::from_seed(&[seed; 32]).public_key()
    }

    fn claim(peers: &mut Peers, peer: &PeerKey, height: u64) {
        peers.connect(peer, 0);
        peers.get_mut(peer, 0).expect("room").claimed_height = height;
    }

    #[test]
    fn a_peer_that_proved_progress_is_asked_before_one_that_only_claims_more() {
        let (liar, honest) = (key(1), key(2));
        let mut peers = Peers::default();
        claim(&mut peers, &liar, u64::MAX);
        claim(&mut peers, &honest, 50);
        record_answer(&mut peers, &honest, AnswerOutcome::Progress(10), 0);
        let mut planner = SyncPlanner::default();
        let (flight, request) = planner.next_request(&mut peers, 11, 0).expect("a source");
        assert_eq!(flight.peer, honest);
        assert_eq!(request.from_height, 11);
        assert!(planner.next_request(&mut peers, 11, 0).is_none(), "one request in flight at a time");
    }

    #[test]
    fn a_peer_whose_answers_do_not_back_its_claim_backs_off_then_is_penalised() {
        let liar = key(1);
        let mut peers = Peers::default();
        claim(&mut peers, &liar, u64::MAX);
        let mut planner = SyncPlanner::default();
        let mut now = 0;
        let mut asked_at = Vec::new();
        for answer in 1..=UNBACKED_ANSWERS_MAX {
            let (flight, _) = loop {
                if let Some(found) = planner.next_request(&mut peers, 1, now) {
                    break found;
                }
                now += 1;
            };
            asked_at.push(now);
            planner.answered(&liar, flight.request).expect("the request in flight");
            let penalise = record_answer(&mut peers, &liar, AnswerOutcome::Unbacked, now);
            assert_eq!(penalise, answer == UNBACKED_ANSWERS_MAX, "answer {answer}");
        }
        let gaps: Vec<u64> = asked_at.windows(2).map(|pair| pair[1] - pair[0]).collect();
        assert_eq!(gaps, vec![SYNC_RETRY_MS_MIN, 2 * SYNC_RETRY_MS_MIN]);
    }

    #[test]
    fn equal_peers_take_turns() {
        let (first, second) = (key(1), key(2));
        let mut peers = Peers::default();
        claim(&mut peers, &first, 20);
        claim(&mut peers, &second, 20);
        let mut planner = SyncPlanner::default();
        let mut chosen = Vec::new();
        for now in 1..=4 {
            let (flight, _) = planner.next_request(&mut peers, 1, now).expect("a source");
            planner.answered(&flight.peer, flight.request);
            chosen.push(flight.peer);
        }
        assert_eq!(chosen[0], chosen[2]);
        assert_eq!(chosen[1], chosen[3]);
        assert_ne!(chosen[0], chosen[1]);
    }
}
