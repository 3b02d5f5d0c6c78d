//! The simulated network: links that partitions, missing links, crashes, allowlists and bans take
//! down; gossip modelled as gossipsub does it (direct topics when the author reaches every admitted
//! peer, relayed topics otherwise, where a node forwards only what its core accepted, and each node
//! drops what it has seen); point-to-point messages; block sync through the real sync protocol's
//! wire format; and the periodic status exchange.

use std::collections::BTreeSet;
use std::rc::Rc;

use covenant_core::{GetBlocks, Input, PeerKey, RequestId, ServeId, SyncFailure, Topic};
use covenant_network::protocol::{Request, Response, decode_request, decode_response, encode_request, encode_response};
use covenant_types::Hash;
use covenant_types::limits::{CONSENSUS_MESSAGE_BYTES_MAX, TX_BATCH_BYTES_MAX};

use super::{Event, REQUEST_TIMEOUT_MS, Simulation};
use crate::config::{Byzantine, SimConfig};
use crate::faults;
use crate::rng::Rng;

/// Links and partitions.
pub(crate) struct Net {
    /// Group of each slot while partitioned.
    pub partition: Option<Vec<usize>>,
    /// Links missing for the whole run (unordered slot pairs).
    missing: BTreeSet<(usize, usize)>,
}

impl Net {
    pub fn new(config: &SimConfig, slots: usize, rng: &mut Rng) -> Net {
        let partition = config.fixed_partition.as_ref().map(|groups| {
            let mut group_of = vec![usize::MAX; slots];
            for (group, members) in groups.iter().enumerate() {
                for &slot in members {
                    if let Some(entry) = group_of.get_mut(slot) {
                        *entry = group;
                    }
                }
            }
            group_of
        });
        let mut missing = BTreeSet::new();
        if config.missing_links && slots > 2 {
            // An honest hub keeps every link, so the honest nodes stay connected without relying
            // on a Byzantine one; a third of the other links go.
            let honest: Vec<usize> = (0..config.validators.min(slots))
                .filter(|index| {
                    !config.byzantine.iter().any(|(byzantine, _)| byzantine == index) && !config.twins.contains(index)
                })
                .collect();
            let hub = if honest.is_empty() { rng.index(slots) } else { honest[rng.index(honest.len())] };
            for a in 0..slots {
                for b in a + 1..slots {
                    if a != hub && b != hub && rng.chance(333) {
                        missing.insert((a, b));
                    }
                }
            }
        }
        Net { partition, missing }
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        let pair = (a.min(b), a.max(b));
        if self.missing.contains(&pair) {
            return true;
        }
        match &self.partition {
            Some(groups) => groups.get(a) != groups.get(b),
            None => false,
        }
    }
}

/// What travels between two slots.
pub(crate) enum Delivery {
    Gossip { topic: Topic, relayed: bool, bytes: Rc<Vec<u8>>, id: Hash, garbage: bool },
    Direct(Rc<Vec<u8>>),
    Request { frame: Vec<u8>, request: RequestId },
    Response { frame: Vec<u8>, request: RequestId },
    Status { height: u64, time_ms: u64 },
}

/// A gossiped message a node's core is judging.
pub(crate) struct PendingGossip {
    pub topic: Topic,
    pub relayed: bool,
    pub bytes: Rc<Vec<u8>>,
    pub id: Hash,
    pub source: usize,
    pub garbage: bool,
}

fn gossip_id(topic: Topic, bytes: &[u8]) -> Hash {
    let name: &[u8] = match topic {
        Topic::Consensus => b"consensus",
        Topic::Transactions => b"transactions",
    };
    Hash::digest_parts(&[name, bytes])
}

impl Simulation {
    /// Whether `a` and `b` can exchange messages now.
    pub(crate) fn link_up(&self, a: usize, b: usize) -> bool {
        if a == b || self.net.cut(a, b) {
            return false;
        }
        let (left, right) = (&self.slots[a], &self.slots[b]);
        if left.core.is_none() || right.core.is_none() {
            return false;
        }
        let (key_a, key_b) = (self.key_of(a), self.key_of(b));
        let admits = |slot: &super::Slot, key: &PeerKey| {
            slot.allowed.contains(key) && slot.banned_until.get(key).is_none_or(|until| *until <= self.now)
        };
        admits(left, &key_b) && admits(right, &key_a)
    }

    /// Tells each core about links that came up or went down.
    pub(crate) fn refresh_links(&mut self) {
        for _ in 0..4 {
            let mut changed = false;
            for a in 0..self.slots.len() {
                for b in 0..self.slots.len() {
                    if a == b {
                        continue;
                    }
                    let up = self.link_up(a, b);
                    if up == self.slots[a].connected.contains(&b) {
                        continue;
                    }
                    changed = true;
                    let key = self.key_of(b);
                    let others_with_key =
                        self.slots[a].connected.iter().any(|&other| other != b && self.key_of(other) == key);
                    if up {
                        self.slots[a].connected.insert(b);
                        if !others_with_key {
                            self.feed(a, Input::PeerConnected { peer: key });
                        }
                    } else {
                        self.slots[a].connected.remove(&b);
                        if !others_with_key {
                            self.feed(a, Input::PeerDisconnected { peer: key });
                        }
                    }
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// Whether `slot` reaches every peer it admits itself (then it publishes on a direct topic).
    fn reaches_every_peer(&self, slot: usize) -> bool {
        let own = self.key_of(slot);
        self.slots[slot].allowed.iter().filter(|key| **key != own).all(|key| {
            let banned = self.slots[slot].banned_until.get(key).is_some_and(|until| *until > self.now);
            banned || self.slots_of(key).into_iter().any(|other| self.slots[slot].connected.contains(&other))
        })
    }

    /// Publishes `bytes` from `slot` to every peer it is connected to.
    pub(crate) fn publish(&mut self, slot: usize, topic: Topic, bytes: Rc<Vec<u8>>) {
        let extra_loss = if topic == Topic::Consensus { self.commit_loss(&bytes) } else { 0 };
        self.publish_as(slot, topic, bytes, false, None, extra_loss);
    }

    /// Publishes, optionally marked as garbage (for the count of garbage forwarded), optionally
    /// to one peer only (a Byzantine node's choice), with `extra_loss` per mille on top of the
    /// network's (see [`SimConfig::commit_loss_per_mille`]).
    pub(crate) fn publish_as(
        &mut self,
        slot: usize,
        topic: Topic,
        bytes: Rc<Vec<u8>>,
        garbage: bool,
        only: Option<usize>,
        extra_loss: u32,
    ) {
        let relayed = only.is_some() || !self.reaches_every_peer(slot);
        let id = gossip_id(topic, &bytes);
        self.slots[slot].see(id);
        let peers: Vec<usize> =
            self.slots[slot].connected.iter().copied().filter(|peer| only.is_none_or(|only| only == *peer)).collect();
        for peer in peers {
            let delivery = Delivery::Gossip { topic, relayed, bytes: bytes.clone(), id, garbage };
            self.transmit(slot, peer, delivery, extra_loss);
        }
    }

    /// Forwards an accepted relayed message to `slot`'s other peers.
    pub(crate) fn forward(&mut self, slot: usize, pending: PendingGossip) {
        let peers: Vec<usize> =
            self.slots[slot].connected.iter().copied().filter(|peer| *peer != pending.source).collect();
        for peer in peers {
            let delivery = Delivery::Gossip {
                topic: pending.topic,
                relayed: true,
                bytes: pending.bytes.clone(),
                id: pending.id,
                garbage: pending.garbage,
            };
            self.transmit(slot, peer, delivery, 0);
        }
    }

    /// Sends one delivery over the link, with the network's delay, loss and duplication during the
    /// fault phase (`extra_loss_per_mille` on top for commits).
    pub(crate) fn transmit(&mut self, from: usize, to: usize, delivery: Delivery, extra_loss_per_mille: u32) {
        if let Delivery::Gossip { topic: Topic::Consensus, bytes, .. } | Delivery::Direct(bytes) = &delivery
            && self.trap_drops(from, to, bytes)
        {
            self.count(faults::TRAP_DROPS, 1);
            return;
        }
        let lossy = matches!(delivery, Delivery::Gossip { .. } | Delivery::Direct(_));
        if lossy
            && !self.healed()
            && (self.rng.chance(self.config.loss_per_mille) || self.rng.chance(extra_loss_per_mille))
        {
            self.count(faults::MESSAGES_DROPPED, 1);
            return;
        }
        let duplicate = lossy && !self.healed() && self.rng.chance(self.config.duplicate_per_mille);
        if duplicate {
            self.count(faults::MESSAGES_DUPLICATED, 1);
            let copy = match &delivery {
                Delivery::Gossip { topic, relayed, bytes, id, garbage } => Delivery::Gossip {
                    topic: *topic,
                    relayed: *relayed,
                    bytes: bytes.clone(),
                    id: *id,
                    garbage: *garbage,
                },
                Delivery::Direct(bytes) => Delivery::Direct(bytes.clone()),
                _ => unreachable!("only lossy deliveries are duplicated"),
            };
            let delay = self.delay();
            self.schedule(self.now + delay, Event::Deliver { from, to, delivery: copy });
        }
        let delay = self.delay();
        self.schedule(self.now + delay, Event::Deliver { from, to, delivery });
    }

    fn delay(&mut self) -> u64 {
        if !self.healed() && self.rng.chance(self.config.long_delay_per_mille) {
            self.count(faults::MESSAGES_DELAYED, 1);
            self.rng.range(self.config.delay_ms_max, self.config.long_delay_ms_max.max(self.config.delay_ms_max))
        } else {
            self.rng.range(self.config.delay_ms_min, self.config.delay_ms_max)
        }
    }

    /// A delivery arrives at `to`, if the link still holds.
    pub(crate) fn deliver(&mut self, from: usize, to: usize, delivery: Delivery) {
        if !self.link_up(from, to) {
            if let Delivery::Response { request, .. } = delivery {
                // The connection went down with the answer on it: the request fails.
                if self.slots[to].outstanding.remove(&request).is_some() {
                    let peer = self.key_of(from);
                    let answer = Err(SyncFailure::Failed("connection closed".into()));
                    self.feed(to, Input::BlocksReceived { peer, request, answer });
                }
            }
            return;
        }
        let peer = self.key_of(from);
        match delivery {
            Delivery::Gossip { topic, relayed, bytes, id, garbage } => {
                if !self.slots[to].see(id) {
                    return;
                }
                let limit = match topic {
                    Topic::Consensus => CONSENSUS_MESSAGE_BYTES_MAX,
                    Topic::Transactions => TX_BATCH_BYTES_MAX,
                };
                if bytes.len() > limit {
                    self.count(faults::OVERSIZED_DROPPED, 1);
                    return;
                }
                self.report.messages += 1;
                if topic == Topic::Consensus && self.slots[to].does(Byzantine::DoubleVoter) {
                    self.double_vote(to, &bytes);
                }
                let gossip = covenant_core::GossipId(self.slots[to].token());
                let pending = PendingGossip { topic, relayed, bytes: bytes.clone(), id, source: from, garbage };
                self.slots[to].pending_gossip.insert(gossip, pending);
                self.feed(to, Input::Gossip { from: peer, id: gossip, topic, relayed, bytes: bytes.to_vec() });
            }
            Delivery::Direct(bytes) => {
                self.report.messages += 1;
                self.feed(to, Input::Direct { from: peer, bytes: bytes.to_vec() });
            }
            Delivery::Request { frame, request } => {
                // The network layer disconnects a peer that sends malformed frames; the sim's
                // Byzantine nodes send well-formed ones.
                if let Ok(Request::GetBlocks(blocks)) = decode_request(&frame) {
                    let serve = ServeId(self.slots[to].token());
                    self.slots[to].pending_serve.insert(serve, (from, request));
                    let request = GetBlocks { from_height: blocks.from_height, max_count: blocks.max_count };
                    self.feed(to, Input::BlockRequest { peer, serve, request });
                }
            }
            Delivery::Response { frame, request } => {
                if self.slots[to].outstanding.get(&request) != Some(&from) {
                    return;
                }
                self.slots[to].outstanding.remove(&request);
                let answer = match decode_response(&frame) {
                    Ok(Response::Blocks(blocks)) => Ok(blocks),
                    Ok(Response::Unavailable) => Err(SyncFailure::Unavailable),
                    Ok(_) | Err(_) => Err(SyncFailure::Failed("not an answer to a block request".into())),
                };
                self.feed(to, Input::BlocksReceived { peer, request, answer });
            }
            Delivery::Status { height, time_ms } => {
                let offset = i64::try_from(i128::from(time_ms) - i128::from(self.local_ms(to))).unwrap_or(0);
                self.feed(to, Input::PeerStatus { peer, height, clock_offset_ms: Some(offset) });
            }
        }
    }

    /// A slot's core asks a peer for blocks.
    pub(crate) fn request_blocks(&mut self, slot: usize, peer: PeerKey, request: RequestId, blocks: GetBlocks) {
        let target = self.slots_of(&peer).into_iter().find(|&other| self.slots[slot].connected.contains(&other));
        let Some(target) = target else {
            self.feed(
                slot,
                Input::BlocksReceived { peer, request, answer: Err(SyncFailure::Failed("not connected".into())) },
            );
            return;
        };
        let frame = encode_request(&Request::GetBlocks(covenant_network::GetBlocks {
            from_height: blocks.from_height,
            max_count: blocks.max_count,
        }));
        self.slots[slot].outstanding.insert(request, target);
        let epoch = self.slots[slot].epoch;
        self.schedule(self.now + REQUEST_TIMEOUT_MS, Event::RequestTimeout { slot, epoch, request });
        self.transmit(slot, target, Delivery::Request { frame, request }, 0);
    }

    /// A slot's core serves a peer's block request within the budget it fixed.
    pub(crate) fn serve_blocks(
        &mut self,
        slot: usize,
        serve: ServeId,
        from_height: u64,
        max_count: u32,
        bytes_max: usize,
    ) {
        let Some((requester, request)) = self.slots[slot].pending_serve.remove(&serve) else { return };
        let bytes_max = u64::try_from(bytes_max).unwrap_or(u64::MAX);
        let blocks =
            covenant_core::sync::read_certificates(self.slots[slot].store.as_ref(), from_height, max_count, bytes_max)
                .unwrap_or_default();
        let frame = encode_response(&Response::Blocks(blocks));
        self.transmit(slot, requester, Delivery::Response { frame, request }, 0);
    }

    /// Sends "unavailable" for a block request.
    pub(crate) fn refuse_blocks(&mut self, slot: usize, serve: ServeId) {
        let Some((requester, request)) = self.slots[slot].pending_serve.remove(&serve) else { return };
        let frame = encode_response(&Response::Unavailable);
        self.transmit(slot, requester, Delivery::Response { frame, request }, 0);
    }

    /// The height a slot tells its peers.
    fn claimed_height(&mut self, slot: usize) -> u64 {
        if self.slots[slot].does(Byzantine::FalseHeight) {
            self.count(faults::byzantine(Byzantine::FalseHeight), 1);
            return if self.rng.chance(500) { u64::MAX } else { 1 << 40 };
        }
        self.slots[slot].store.latest().ok().flatten().map_or(0, |tip| tip.height)
    }

    /// Every connected pair exchanges statuses: height and clock.
    pub(crate) fn exchange_status(&mut self) {
        for slot in 0..self.slots.len() {
            if self.slots[slot].core.is_none() {
                continue;
            }
            let peers: Vec<usize> = self.slots[slot].connected.iter().copied().collect();
            for peer in peers {
                let height = self.claimed_height(slot);
                let time_ms = self.local_ms(slot);
                self.transmit(slot, peer, Delivery::Status { height, time_ms }, 0);
            }
        }
    }
}
