//! The network → node event queue: one lane per peer and per class of event, bounded in count and
//! in bytes, read round robin across peers.
//!
//! A single shared channel lets one peer fill it for everyone: an attacker that floods large
//! consensus messages would crowd out every honest peer's votes, and a channel bounded by count
//! holds count × largest message. Here each peer's consensus messages, transaction batches, block
//! requests and status reports wait in their own lane with their own budget, so a flood costs the
//! flooder its own messages; the node takes one event per peer in turn, so an honest peer's vote
//! waits behind at most one event of every other peer; and all lanes together stay under
//! [`EVENT_QUEUE_BYTES_MAX`]: when that is reached, the peer holding the most bytes loses its oldest
//! least urgent event (longest-queue drop), never a peer holding less.
//!
//! The network task never waits: [`EventSender::push`] queues or drops at once. Drops are counted
//! and reported to the node as one [`NetworkEvent::EventsDropped`] before the next event.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use libp2p::PeerId;
use tokio::sync::Notify;

use crate::NetworkEvent;
use crate::limits::{
    CONTROL_EVENTS_MAX, EVENT_OVERHEAD_BYTES, EVENT_QUEUE_BYTES_MAX, PEER_CONSENSUS_EVENT_BYTES_MAX,
    PEER_CONSENSUS_EVENTS_MAX, PEER_REQUEST_EVENTS_MAX, PEER_TX_EVENT_BYTES_MAX, PEER_TX_EVENTS_MAX,
};

/// The classes of a peer's events, each with its own budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Consensus,
    Requests,
    Status,
    Transactions,
}

impl Class {
    /// Most events and bytes one peer may have waiting in this class.
    fn budget(self) -> (usize, usize) {
        match self {
            Class::Consensus => (PEER_CONSENSUS_EVENTS_MAX, PEER_CONSENSUS_EVENT_BYTES_MAX),
            Class::Requests => (PEER_REQUEST_EVENTS_MAX, PEER_REQUEST_EVENTS_MAX * EVENT_OVERHEAD_BYTES),
            // A newer status replaces the waiting one (see `PeerLanes::push`).
            Class::Status => (1, EVENT_OVERHEAD_BYTES),
            Class::Transactions => (PEER_TX_EVENTS_MAX, PEER_TX_EVENT_BYTES_MAX),
        }
    }

    /// Eviction order within a peer when the whole queue is over its byte bound.
    const EVICTION: [Class; 4] = [Class::Transactions, Class::Status, Class::Consensus, Class::Requests];

    fn index(self) -> usize {
        self as usize
    }
}

/// Which lane an event waits in.
fn lane_of(event: &NetworkEvent) -> Option<(PeerId, Class)> {
    match event {
        NetworkEvent::Consensus { from, .. } => Some((*from, Class::Consensus)),
        NetworkEvent::Transaction { from, .. } => Some((*from, Class::Transactions)),
        NetworkEvent::BlockRequest { peer, .. } => Some((*peer, Class::Requests)),
        NetworkEvent::PeerStatus { peer, .. } => Some((*peer, Class::Status)),
        NetworkEvent::PeerConnected { .. }
        | NetworkEvent::PeerDisconnected { .. }
        | NetworkEvent::PeerRefused { .. }
        | NetworkEvent::RefusalsSuppressed { .. }
        | NetworkEvent::EventsDropped { .. } => None,
    }
}

/// The bytes an event holds, as the queue counts them.
fn size_of(event: &NetworkEvent) -> usize {
    let payload = match event {
        NetworkEvent::Consensus { bytes, .. } | NetworkEvent::Transaction { bytes, .. } => bytes.len(),
        _ => 0,
    };
    payload + EVENT_OVERHEAD_BYTES
}

/// An event waiting, with its size and its place in the peer's arrival order.
struct Waiting {
    event: NetworkEvent,
    size: usize,
    arrival: u64,
}

/// One peer's lanes. The node gets a peer's events in the order they arrived, whatever their class;
/// the classes only have separate budgets.
#[derive(Default)]
struct PeerLanes {
    lanes: [VecDeque<Waiting>; 4],
    lane_bytes: [usize; 4],
    bytes: usize,
}

impl PeerLanes {
    fn is_empty(&self) -> bool {
        self.lanes.iter().all(VecDeque::is_empty)
    }

    /// Queues `event` in `class` if the class budget allows, returning the bytes added net of a
    /// status it replaced; `None` if the event was dropped.
    fn push(&mut self, class: Class, event: NetworkEvent, size: usize, arrival: u64) -> Option<isize> {
        let index = class.index();
        let mut replaced = 0;
        if class == Class::Status
            && let Some(old) = self.lanes[index].pop_front()
        {
            replaced = old.size;
            self.lane_bytes[index] -= old.size;
            self.bytes -= old.size;
        }
        let (count_max, bytes_max) = class.budget();
        if self.lanes[index].len() >= count_max || self.lane_bytes[index] + size > bytes_max {
            return None;
        }
        self.lanes[index].push_back(Waiting { event, size, arrival });
        self.lane_bytes[index] += size;
        self.bytes += size;
        Some(size as isize - replaced as isize)
    }

    /// The event that arrived first.
    fn take_oldest(&mut self) -> Option<Waiting> {
        let index = (0..self.lanes.len())
            .filter_map(|index| self.lanes[index].front().map(|waiting| (waiting.arrival, index)))
            .min()?
            .1;
        self.take_from(index)
    }

    /// The oldest event of the least urgent class that has one.
    fn take_least_urgent(&mut self) -> Option<Waiting> {
        let index = Class::EVICTION.into_iter().map(Class::index).find(|&index| !self.lanes[index].is_empty())?;
        self.take_from(index)
    }

    fn take_from(&mut self, index: usize) -> Option<Waiting> {
        let waiting = self.lanes[index].pop_front()?;
        self.lane_bytes[index] -= waiting.size;
        self.bytes -= waiting.size;
        Some(waiting)
    }
}

#[derive(Default)]
struct Lanes {
    control: VecDeque<NetworkEvent>,
    peers: BTreeMap<PeerId, PeerLanes>,
    /// Peers with waiting events, in the order they are served; each at most once.
    ready: VecDeque<PeerId>,
    /// Bytes waiting in all peers' lanes.
    bytes: usize,
    /// Events pushed so far: the arrival order.
    arrivals: u64,
    /// Drops not yet reported to the node.
    unreported_drops: u64,
    /// Drops since the queue was made.
    drops_total: u64,
    sender_gone: bool,
    receiver_gone: bool,
}

impl Lanes {
    fn dropped(&mut self, count: u64) {
        self.unreported_drops = self.unreported_drops.saturating_add(count);
        self.drops_total = self.drops_total.saturating_add(count);
    }

    fn push(&mut self, event: NetworkEvent) -> bool {
        let Some((peer, class)) = lane_of(&event) else {
            if self.control.len() >= CONTROL_EVENTS_MAX {
                self.dropped(1);
                return false;
            }
            self.control.push_back(event);
            return true;
        };
        let size = size_of(&event);
        if !self.make_room(&peer, size) {
            self.dropped(1);
            return false;
        }
        self.arrivals += 1;
        let lanes = self.peers.entry(peer).or_default();
        let was_empty = lanes.is_empty();
        match lanes.push(class, event, size, self.arrivals) {
            Some(added) => {
                self.bytes = self.bytes.saturating_add_signed(added);
                if was_empty {
                    self.ready.push_back(peer);
                }
                true
            }
            None => {
                if was_empty {
                    self.peers.remove(&peer);
                }
                self.dropped(1);
                false
            }
        }
    }

    /// Evicts the least urgent, oldest events of the peers holding the most bytes until `size` more
    /// fit under the bound. False if `peer` itself would then hold the most: its event is the one
    /// to drop.
    fn make_room(&mut self, peer: &PeerId, size: usize) -> bool {
        while self.bytes + size > EVENT_QUEUE_BYTES_MAX {
            let own = self.peers.get(peer).map_or(0, |lanes| lanes.bytes) + size;
            let Some((largest, held)) = self
                .peers
                .iter()
                .filter(|(other, _)| *other != peer)
                .map(|(other, lanes)| (*other, lanes.bytes))
                .max_by_key(|(_, bytes)| *bytes)
            else {
                return false;
            };
            if held <= own {
                return false;
            }
            let lanes = self.peers.get_mut(&largest).expect("the largest holder has lanes");
            let Some(evicted) = lanes.take_least_urgent() else { return false };
            self.bytes -= evicted.size;
            if lanes.is_empty() {
                self.peers.remove(&largest);
                self.ready.retain(|ready| *ready != largest);
            }
            self.dropped(1);
        }
        true
    }

    fn pop(&mut self) -> Option<NetworkEvent> {
        if self.unreported_drops > 0 {
            let count = std::mem::take(&mut self.unreported_drops);
            return Some(NetworkEvent::EventsDropped { count });
        }
        if let Some(event) = self.control.pop_front() {
            return Some(event);
        }
        while let Some(peer) = self.ready.pop_front() {
            let Some(lanes) = self.peers.get_mut(&peer) else { continue };
            let Some(Waiting { event, size, .. }) = lanes.take_oldest() else {
                self.peers.remove(&peer);
                continue;
            };
            self.bytes -= size;
            if lanes.is_empty() {
                self.peers.remove(&peer);
            } else {
                self.ready.push_back(peer);
            }
            return Some(event);
        }
        None
    }
}

struct Queue {
    lanes: Mutex<Lanes>,
    /// Wakes the receiver; a notification sent while it is not waiting is kept for its next wait.
    ready: Notify,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Lanes> {
        // A panic while holding the lock leaves the lanes consistent (every change is completed
        // before the next can panic), so a poisoned lock is still usable.
        self.lanes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A new queue: the network task's end and the node's end.
pub(crate) fn event_queue() -> (EventSender, EventReceiver) {
    let queue = Arc::new(Queue { lanes: Mutex::new(Lanes::default()), ready: Notify::new() });
    (EventSender { queue: Arc::clone(&queue) }, EventReceiver { queue })
}

/// The network task's end of the event queue.
pub(crate) struct EventSender {
    queue: Arc<Queue>,
}

/// What became of a pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// The event is waiting for the node.
    pub queued: bool,
    /// Events dropped by this push (the event itself, or older ones evicted for it).
    pub dropped: u64,
}

impl EventSender {
    /// Queues `event` for the node without waiting, or drops it (see the module documentation).
    pub(crate) fn push(&self, event: NetworkEvent) -> Pushed {
        let mut lanes = self.queue.lock();
        if lanes.receiver_gone {
            return Pushed { queued: false, dropped: 0 };
        }
        let before = lanes.drops_total;
        let queued = lanes.push(event);
        let dropped = lanes.drops_total - before;
        drop(lanes);
        if queued || dropped > 0 {
            self.queue.ready.notify_one();
        }
        Pushed { queued, dropped }
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        self.queue.lock().sender_gone = true;
        self.queue.ready.notify_one();
    }
}

/// The node's end of the network's event queue.
pub struct EventReceiver {
    queue: Arc<Queue>,
}

impl EventReceiver {
    /// The next event: control events (connections, refusals, a report of dropped events) first,
    /// then one event of each peer with events waiting in turn. `None` once the network has stopped
    /// and every event was taken. Cancel safe: an event is taken only when it is returned.
    pub async fn recv(&mut self) -> Option<NetworkEvent> {
        loop {
            {
                let mut lanes = self.queue.lock();
                if let Some(event) = lanes.pop() {
                    return Some(event);
                }
                if lanes.sender_gone {
                    return None;
                }
            }
            self.queue.ready.notified().await;
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<NetworkEvent> {
        self.queue.lock().pop()
    }

    /// Bytes of peers' events waiting (payloads plus a fixed overhead per event).
    #[cfg(test)]
    fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut lanes = self.queue.lock();
        lanes.receiver_gone = true;
        lanes.control.clear();
        lanes.peers.clear();
        lanes.ready.clear();
        lanes.bytes = 0;
    }
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventReceiver").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::CONSENSUS_PAYLOAD_BYTES_MAX;

    fn peer(seed: u8) -> PeerId {
        crate::peer::keypair_from_seed(&[seed; 32]).expect("keypair").public().to_peer_id()
    }

    fn consensus(from: PeerId, tag: u8, len: usize) -> NetworkEvent {
        let mut bytes = vec![0u8; len.max(1)];
        bytes[0] = tag;
        NetworkEvent::Consensus { from, bytes, gossip: None }
    }

    fn tag(event: &NetworkEvent) -> (PeerId, u8) {
        match event {
            NetworkEvent::Consensus { from, bytes, .. } | NetworkEvent::Transaction { from, bytes, .. } => {
                (*from, bytes[0])
            }
            other => panic!("not a payload event: {other:?}"),
        }
    }

    fn drain(receiver: &mut EventReceiver) -> Vec<NetworkEvent> {
        std::iter::from_fn(|| receiver.try_recv()).collect()
    }

    #[test]
    fn peers_are_served_in_turn_whatever_one_of_them_queued() {
        let (sender, mut receiver) = event_queue();
        let (flooder, honest) = (peer(1), peer(2));
        for index in 0..100 {
            assert!(sender.push(consensus(flooder, index, 10)).queued);
        }
        assert!(sender.push(consensus(honest, 7, 10)).queued);
        let first: Vec<(PeerId, u8)> = (0..2).map(|_| tag(&receiver.try_recv().expect("an event"))).collect();
        assert_eq!(first, [(flooder, 0), (honest, 7)], "the honest vote waits behind one flooder event only");
        let rest = drain(&mut receiver);
        assert_eq!(rest.len(), 99);
        assert!(rest.iter().map(tag).enumerate().all(|(index, (from, tag))| from == flooder && tag == index as u8 + 1));
    }

    #[test]
    fn a_peer_over_its_consensus_budget_loses_its_own_events_only() {
        let (sender, mut receiver) = event_queue();
        let (flooder, honest) = (peer(1), peer(2));
        let big = CONSENSUS_PAYLOAD_BYTES_MAX;
        let fitting = PEER_CONSENSUS_EVENT_BYTES_MAX / (big + EVENT_OVERHEAD_BYTES);
        let mut dropped = 0;
        for index in 0..fitting + 5 {
            let pushed = sender.push(consensus(flooder, index as u8, big));
            assert_eq!(pushed.queued, index < fitting, "event {index} of the flooder");
            dropped += pushed.dropped;
        }
        assert_eq!(dropped, 5);
        assert!(sender.push(consensus(honest, 9, 100)).queued, "the honest peer's budget is its own");
        assert!(receiver.queued_bytes() <= PEER_CONSENSUS_EVENT_BYTES_MAX + 100 + EVENT_OVERHEAD_BYTES);
        let events = drain(&mut receiver);
        assert!(matches!(events[0], NetworkEvent::EventsDropped { count: 5 }), "drops are reported first");
        assert_eq!(tag(&events[2]), (honest, 9), "served in turn after one flooder event");
        assert_eq!(events.len(), 1 + fitting + 1);
    }

    #[test]
    fn counted_budgets_bound_small_events_too() {
        let (sender, mut receiver) = event_queue();
        let flooder = peer(1);
        let queued = (0..PEER_CONSENSUS_EVENTS_MAX + 10)
            .filter(|index| sender.push(consensus(flooder, *index as u8, 1)).queued)
            .count();
        assert_eq!(queued, PEER_CONSENSUS_EVENTS_MAX);
        let transaction = NetworkEvent::Transaction { from: flooder, bytes: vec![3], gossip: None };
        assert!(sender.push(transaction).queued, "another class has its own budget");
        assert_eq!(drain(&mut receiver).len(), 1 + PEER_CONSENSUS_EVENTS_MAX + 1);
    }

    #[test]
    fn the_whole_queue_stays_under_its_byte_bound_and_the_largest_holder_pays() {
        let (sender, mut receiver) = event_queue();
        let big = CONSENSUS_PAYLOAD_BYTES_MAX;
        let peers: Vec<PeerId> = (1..=60).map(peer).collect();
        // Every peer fills its consensus budget: far more than the queue holds in all.
        for &from in &peers {
            for index in 0..PEER_CONSENSUS_EVENT_BYTES_MAX / (big + EVENT_OVERHEAD_BYTES) {
                sender.push(consensus(from, index as u8, big));
                assert!(receiver.queued_bytes() <= EVENT_QUEUE_BYTES_MAX);
            }
        }
        assert!(receiver.queued_bytes() > EVENT_QUEUE_BYTES_MAX - 2 * (big + EVENT_OVERHEAD_BYTES));
        // A peer with nothing queued still gets its message in: a larger holder pays for it. One
        // that would then hold more than the largest does not: its own message is the one dropped.
        let quiet = peer(99);
        let room = EVENT_QUEUE_BYTES_MAX - receiver.queued_bytes();
        let payload = (room + 1).saturating_sub(EVENT_OVERHEAD_BYTES).max(1);
        assert!(payload < big, "the queue has room for a whole large message: {room}");
        let pushed = sender.push(consensus(quiet, 42, payload));
        assert!(pushed.queued && pushed.dropped == 1, "{pushed:?}");
        assert!(receiver.queued_bytes() <= EVENT_QUEUE_BYTES_MAX);
        assert_eq!(sender.push(consensus(quiet, 43, big)), Pushed { queued: false, dropped: 1 });
        assert!(
            drain(&mut receiver)
                .iter()
                .any(|event| matches!(event, NetworkEvent::Consensus { from, .. } if *from == quiet))
        );
    }

    #[test]
    fn a_peer_s_events_come_in_arrival_order_whatever_their_class() {
        let (sender, mut receiver) = event_queue();
        let from = peer(1);
        sender.push(NetworkEvent::Transaction { from, bytes: vec![1], gossip: None });
        sender.push(consensus(from, 2, 10));
        sender.push(NetworkEvent::Transaction { from, bytes: vec![3], gossip: None });
        sender.push(NetworkEvent::PeerStatus { peer: from, height: 4, clock: None });
        sender.push(consensus(from, 5, 10));
        let order: Vec<u8> = drain(&mut receiver)
            .iter()
            .map(|event| match event {
                NetworkEvent::PeerStatus { height, .. } => *height as u8,
                other => tag(other).1,
            })
            .collect();
        assert_eq!(order, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_newer_status_replaces_the_waiting_one() {
        let (sender, mut receiver) = event_queue();
        let from = peer(1);
        for height in 1..=50 {
            assert!(sender.push(NetworkEvent::PeerStatus { peer: from, height, clock: None }).queued);
        }
        let events = drain(&mut receiver);
        assert!(matches!(events.as_slice(), [NetworkEvent::PeerStatus { height: 50, .. }]), "{events:?}");
        assert_eq!(receiver.queued_bytes(), 0);
    }

    #[test]
    fn control_events_come_first_and_are_bounded() {
        let (sender, mut receiver) = event_queue();
        let from = peer(1);
        sender.push(consensus(from, 1, 10));
        for _ in 0..CONTROL_EVENTS_MAX + 3 {
            sender.push(NetworkEvent::PeerDisconnected { peer_id: from });
        }
        let events = drain(&mut receiver);
        assert!(matches!(events[0], NetworkEvent::EventsDropped { count: 3 }));
        assert!(
            events[1..=CONTROL_EVENTS_MAX].iter().all(|event| matches!(event, NetworkEvent::PeerDisconnected { .. }))
        );
        assert_eq!(tag(&events[CONTROL_EVENTS_MAX + 1]), (from, 1));
    }

    #[tokio::test]
    async fn the_receiver_wakes_for_an_event_and_ends_when_the_network_stops() {
        let (sender, mut receiver) = event_queue();
        let from = peer(1);
        let waiter = tokio::spawn(async move {
            let first = receiver.recv().await;
            let second = receiver.recv().await;
            (first.map(|event| tag(&event)), second.is_none())
        });
        tokio::task::yield_now().await;
        sender.push(consensus(from, 5, 10));
        drop(sender);
        let (first, ended) = waiter.await.expect("receiver task");
        assert_eq!(first, Some((from, 5)));
        assert!(ended);
    }

    #[test]
    fn nothing_is_queued_once_the_node_stopped_reading() {
        let (sender, receiver) = event_queue();
        drop(receiver);
        assert_eq!(sender.push(consensus(peer(1), 1, 10)), Pushed { queued: false, dropped: 0 });
    }
}
