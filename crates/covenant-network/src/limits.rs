//! Every bound the network layer puts on what a peer (or the local node) can make it hold or do.
//!
//! Sizes are bytes, durations carry their unit last. Relations between limits are asserted at
//! compile time at the bottom of this file.

use std::time::Duration;

use covenant_types::limits::{BLOCK_BYTES_MAX, CONSENSUS_MESSAGE_BYTES_MAX, TX_BATCH_BYTES_MAX, VALIDATORS_MAX};

/// Largest consensus payload the network carries (gossip or point to point).
pub const CONSENSUS_PAYLOAD_BYTES_MAX: usize = CONSENSUS_MESSAGE_BYTES_MAX;
/// Largest transaction payload the network carries (the node gossips transactions in batches).
pub const TX_PAYLOAD_BYTES_MAX: usize = TX_BATCH_BYTES_MAX;
/// Room a gossipsub frame needs around the payload: protobuf framing and topic (generous on
/// purpose).
pub const GOSSIP_ENVELOPE_BYTES_MAX: usize = 4 * 1024;

/// Largest block-sync response body (the sum of the block encodings it carries).
pub const BLOCK_RESPONSE_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Most blocks one `GetBlocks` request may ask for (and one response may carry).
pub const BLOCKS_PER_REQUEST_MAX: u32 = 256;
/// Largest request frame on the sync protocol: a point-to-point consensus message is the largest.
pub const REQUEST_FRAME_BYTES_MAX: usize = CONSENSUS_PAYLOAD_BYTES_MAX + 64;
/// Largest response frame on the sync protocol: the body plus a tag, a count and one length per block.
pub const RESPONSE_FRAME_BYTES_MAX: usize = BLOCK_RESPONSE_BYTES_MAX + 8 + 4 * BLOCKS_PER_REQUEST_MAX as usize;

/// Capacity of the node → network command channel. Senders wait when it is full (backpressure on
/// the node); the network task never waits on the node, so this cannot deadlock.
pub const COMMAND_CHANNEL_CAPACITY: usize = 1024;
/// The network → node event queue (`crate::queue`): the network task never waits on it; an event
/// over a bound below is dropped and counted (see [`crate::NetworkEvent::EventsDropped`]).
///
/// Bytes an event counts for beyond its payload (peer id, token, enum).
pub const EVENT_OVERHEAD_BYTES: usize = 256;
/// Most bytes all peers' events may hold while they wait for the node. When full, the peer holding
/// the most loses its oldest, least urgent event.
pub const EVENT_QUEUE_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Most consensus messages (gossiped or point to point) of one peer waiting.
pub const PEER_CONSENSUS_EVENTS_MAX: usize = 1024;
/// Most bytes of one peer's waiting consensus messages: two of the largest.
pub const PEER_CONSENSUS_EVENT_BYTES_MAX: usize = 2 * (CONSENSUS_PAYLOAD_BYTES_MAX + EVENT_OVERHEAD_BYTES);
/// Most transaction batches of one peer waiting.
pub const PEER_TX_EVENTS_MAX: usize = 1024;
/// Most bytes of one peer's waiting transaction batches: four of the largest.
pub const PEER_TX_EVENT_BYTES_MAX: usize = 4 * (TX_PAYLOAD_BYTES_MAX + EVENT_OVERHEAD_BYTES);
/// Most block requests of one peer waiting (the network hands the node no more than this anyway).
pub const PEER_REQUEST_EVENTS_MAX: usize = INBOUND_BLOCK_REQUESTS_PER_PEER_MAX;
/// Most connection events (connected, disconnected, refused) waiting: a connection and a
/// disconnection of every allowed peer fit; refusals are rate limited before they get here.
pub const CONTROL_EVENTS_MAX: usize = 4096;

/// Most block requests this node may have in flight (waiting for an answer) at once.
pub const OUTBOUND_BLOCK_REQUESTS_MAX: usize = 64;
/// Most block requests from one peer handed to the node and not yet answered; more are refused
/// with `Unavailable` without bothering the node.
pub const INBOUND_BLOCK_REQUESTS_PER_PEER_MAX: usize = 4;
/// Most concurrent request-response streams on one connection (each direction).
pub const SYNC_STREAMS_PER_CONNECTION_MAX: usize = 16;

/// Most peers the allowlist may hold (validators plus approved observers).
pub const ALLOWED_PEERS_MAX: usize = 4 * VALIDATORS_MAX;
/// Most bootstrap addresses in a configuration.
pub const BOOTSTRAP_PEERS_MAX: usize = ALLOWED_PEERS_MAX;
/// Most incoming connections still in their TCP/Noise/Yamux handshake at once: what an outsider can
/// make us hold before the allowlist sees its key.
pub const PENDING_INCOMING_CONNECTIONS_MAX: u32 = 32;
/// Most outgoing connections being dialled at once.
pub const PENDING_OUTGOING_CONNECTIONS_MAX: u32 = 64;
/// Most established connections to one peer: two, so that two nodes dialling each other at the
/// same moment both succeed instead of each refusing the other's connection.
pub const CONNECTIONS_PER_PEER_MAX: u32 = 2;
/// Most established connections in total.
pub const ESTABLISHED_CONNECTIONS_MAX: u32 = CONNECTIONS_PER_PEER_MAX * ALLOWED_PEERS_MAX as u32;

/// Default time allowed for TCP connect plus the Noise and Yamux upgrades.
pub const HANDSHAKE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Default time allowed for a sync request to be answered (both directions).
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
/// Default time a peer disconnected for misbehaviour stays refused.
pub const MISBEHAVIOUR_BAN_DEFAULT: Duration = Duration::from_secs(10);
/// Default interval of the status exchange with every connected peer.
pub const STATUS_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);
/// First redial delay after a bootstrap peer is lost; doubled after every failed attempt.
pub const REDIAL_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Default longest redial delay.
pub const REDIAL_BACKOFF_MAX_DEFAULT: Duration = Duration::from_secs(5);
/// How often the network task runs its housekeeping (redials, ban expiry, status, refill).
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_millis(100);
/// Connections to admitted peers are never closed for idleness: validators keep a full mesh
/// (gossipsub alone keeps only its mesh peers alive), ping notices dead peers, and outsiders never
/// get an established connection to idle on.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(u64::MAX);
/// Interval of libp2p ping on every connection; a failed ping closes the connection, so a peer
/// that vanished without a TCP reset is noticed and redialled.
pub const PING_INTERVAL: Duration = Duration::from_secs(5);
/// Time a ping may take before it counts as failed.
pub const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Gossipsub heartbeat: mesh maintenance only. Publishing floods directly to every subscribed
/// peer, so delivery latency does not wait for it; a short heartbeat rebuilds the mesh quickly
/// after a reconnect.
pub const GOSSIP_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(200);

/// Refusal events that may be reported in a burst; refusals beyond the rate are counted and
/// reported as one [`crate::NetworkEvent::RefusalsSuppressed`], so that an outsider hammering the
/// port cannot crowd consensus traffic out of the event queue.
pub const REFUSAL_EVENTS_BURST_MAX: u32 = 64;
/// Refusal events reported per second once the burst is spent.
pub const REFUSAL_EVENTS_PER_SECOND: u32 = 20;

const _: () = assert!(TX_PAYLOAD_BYTES_MAX < CONSENSUS_PAYLOAD_BYTES_MAX);
const _: () = assert!(BLOCK_BYTES_MAX < BLOCK_RESPONSE_BYTES_MAX);
const _: () = assert!(REQUEST_FRAME_BYTES_MAX > CONSENSUS_PAYLOAD_BYTES_MAX);
const _: () = assert!(RESPONSE_FRAME_BYTES_MAX > BLOCK_RESPONSE_BYTES_MAX);
const _: () = assert!(PENDING_INCOMING_CONNECTIONS_MAX > 0 && CONNECTIONS_PER_PEER_MAX >= 2);
const _: () = assert!(CONTROL_EVENTS_MAX > REFUSAL_EVENTS_BURST_MAX as usize);
const _: () = assert!(CONTROL_EVENTS_MAX >= 2 * ALLOWED_PEERS_MAX);
const _: () = assert!(EVENT_QUEUE_BYTES_MAX > PEER_CONSENSUS_EVENT_BYTES_MAX + PEER_TX_EVENT_BYTES_MAX);
