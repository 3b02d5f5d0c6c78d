//! # covenant-network
//!
//! The permissioned peer-to-peer layer of a Covenant node: libp2p over TCP, encrypted and
//! authenticated with Noise, multiplexed with Yamux. It carries opaque, size-bounded byte payloads;
//! the node decodes and validates them and tells the network which peers to drop.
//!
//! ## What it guarantees
//! - **Only registered nodes connect (COV-20).** A node's libp2p identity is the ed25519 keypair
//!   of its network key ([`peer_id_of`] maps the key registered on chain to its [`PeerId`]). Once
//!   the Noise handshake has proven which key the remote holds, `allow_block_list` (first in the
//!   composed behaviour) refuses any key not in the allowlist, before a single application stream
//!   is opened. `connection_limits` bounds what an outsider can make us hold before that point
//!   (pending handshakes, connections per peer), and the handshake itself has a timeout.
//!   Every refusal becomes a [`NetworkEvent::PeerRefused`] for the audit log.
//! - **The allowlist follows the chain.** [`NetworkHandle::set_allowed`] replaces it; peers that
//!   are no longer allowed are disconnected at once.
//! - **Authenticated broadcast.** Consensus messages and transactions travel on gossipsub topics
//!   with their own size limits. Gossip messages are anonymous (ADR 0006): every payload
//!   carries its author's signature at the application layer, and the peer that relays a message
//!   is authenticated by Noise and must be allowed, or the message is neither delivered nor
//!   forwarded. Messages are named by the SHA-256 of their content. An author that gossips with
//!   every admitted peer publishes on a direct topic, whose messages are not forwarded; one that
//!   lacks a link publishes on a relayed topic (ADR 0009).
//! - **Block sync.** A request-response protocol asks a peer for a range of blocks; the network
//!   does not know blocks, so requests reach the node as [`NetworkEvent::BlockRequest`] and it
//!   answers with the encoded blocks. A periodic status exchange reports every peer's height.
//! - **Everything bounded.** Message sizes, frames, requests in flight, channels, connection counts,
//!   timeouts on handshakes and requests; see [`limits`].
//!
//! ## Using it from the node
//! ```no_run
//! use covenant_network::{GetBlocks, Network, NetworkConfig, NetworkEvent, tcp_multiaddr};
//! use covenant_types::SecretKey;
//!
//! # async fn run(network_key: SecretKey, validator_keys: Vec<covenant_types::PublicKey>,
//! #              bootstrap: Vec<libp2p::Multiaddr>) -> Result<(), covenant_network::NetworkError> {
//! let mut config = NetworkConfig::new(network_key.seed(), "demo-chain", tcp_multiaddr(([0, 0, 0, 0], 7000).into()));
//! config.bootstrap = bootstrap; // "/ip4/10.0.0.2/tcp/7000/p2p/12D3Koo..." for each other validator
//! config.allowed = validator_keys; // NodeRecord.network_key of every registered node
//! let (network, mut events) = Network::spawn(config).await?;
//!
//! network.broadcast_consensus(b"an encoded PREPARE".to_vec()).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         NetworkEvent::Consensus { from, bytes, gossip } => {
//!             // decode and validate; on a relayed topic report the verdict, which decides whether
//!             // gossip forwards it: network.report_gossip(token, GossipVerdict::Accept).await?
//!             // bytes only their author could have sent that are garbage:
//!             // network.disconnect(from, "undecodable consensus message").await?
//!             # let _ = (from, bytes, gossip);
//!         }
//!         NetworkEvent::Transaction { from, bytes, gossip } => {
//!             // mempool admission, then the verdict as above
//!             # let _ = (from, bytes, gossip);
//!         }
//!         NetworkEvent::BlockRequest { request, responder, .. } => {
//!             // load blocks request.from_height.. (at most request.max_count) with their seals
//!             # let _ = request;
//!             let _ = responder.respond(Vec::new());
//!         }
//!         NetworkEvent::PeerStatus { peer, height, .. } => {
//!             // behind? let blocks = network.request_blocks(peer, GetBlocks { from_height, max_count }).await?;
//!             # let _ = (peer, height, GetBlocks { from_height: 0, max_count: 1 });
//!         }
//!         NetworkEvent::PeerRefused { peer_id, address, reason } => {
//!             // audit log: peer refused
//!             # let _ = (peer_id, address, reason);
//!         }
//!         _ => {}
//!     }
//! }
//! // When governance changes the registered nodes, at the height that executes the change:
//! // network.set_allowed(new_keys).await?;
//! # Ok(()) }
//! ```
//!
//! ## Channels and their policies
//! - node → network: a bounded command channel ([`limits::COMMAND_CHANNEL_CAPACITY`]); the handle's
//!   async methods wait while it is full (backpressure on the node).
//! - network → node: an [`EventReceiver`] with a lane per peer and per class of event (consensus,
//!   block requests, status, transactions), each bounded in count and bytes, and all of them by
//!   [`limits::EVENT_QUEUE_BYTES_MAX`]; the node takes one event of each peer in turn, so a peer
//!   that floods fills only its own lanes. The network task never waits on the queue: an event
//!   over a bound is dropped and counted, reported as one [`NetworkEvent::EventsDropped`] before
//!   the next event and in [`NetworkHandle::events_dropped_total`]. A dropped gossip message is not
//!   forwarded, a dropped block request is answered `Unavailable`. Consensus tolerates the loss
//!   (round changes, sync). Because the network never blocks on the node, the node may call the
//!   handle from its event loop freely.
//! - Refusals are reported at a bounded rate ([`limits::REFUSAL_EVENTS_PER_SECOND`], burst
//!   [`limits::REFUSAL_EVENTS_BURST_MAX`]); the excess is counted in one
//!   [`NetworkEvent::RefusalsSuppressed`], so an outsider hammering the port cannot crowd consensus
//!   messages out of the event queue.
//!
//! ## Connectivity
//! Bootstrap peers are dialled at start and redialled whenever their connection is lost, with a
//! backoff from 100 ms doubling to [`NetworkConfig::redial_backoff_max`]. Every validator lists the
//! others, so a restarted validator dials them and they redial it. Ping runs on every connection
//! and a failed ping closes it, so a peer that vanished without a TCP reset is noticed.

pub mod config;
pub mod error;
pub mod event;
pub mod handle;
pub mod limits;
pub mod peer;
pub mod protocol;
mod queue;
mod service;
pub mod traffic;

pub use config::{NetworkConfig, split_peer_id, tcp_multiaddr, with_peer_id};
pub use error::NetworkError;
pub use event::{BlockResponder, ClockSample, GossipToken, GossipVerdict, NetworkEvent, RefusalReason};
pub use handle::NetworkHandle;
pub use libp2p::{Multiaddr, PeerId};
pub use peer::{peer_id_of, public_key_of};
pub use protocol::GetBlocks;
pub use queue::EventReceiver;
pub use service::{Network, TopicNames, topic_names};
pub use traffic::{Traffic, TrafficSnapshot};
