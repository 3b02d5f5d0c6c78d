//! Errors of the network layer.

use libp2p::{Multiaddr, PeerId};

/// What went wrong in a network operation. Variants carry the values that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The 32-byte seed did not make an ed25519 identity keypair.
    #[error("network key seed rejected: {detail}")]
    InvalidSeed {
        /// Why libp2p refused it.
        detail: String,
    },
    /// A covenant public key that libp2p does not accept as an ed25519 key.
    #[error("network key {key_hex} is not a usable ed25519 key: {detail}")]
    InvalidNetworkKey {
        /// The key, hex.
        key_hex: String,
        /// Why libp2p refused it.
        detail: String,
    },
    /// A bootstrap address without a trailing `/p2p/<peer id>`.
    #[error("bootstrap address {address} does not end in /p2p/<peer id>")]
    BootstrapWithoutPeerId {
        /// The address as configured.
        address: Multiaddr,
    },
    /// The network id is empty, too long or not made of `[a-z0-9-_.]`.
    #[error("network id {network_id:?} must be 1 to {max} characters of [a-z0-9-_.]")]
    InvalidNetworkId {
        /// The id as configured.
        network_id: String,
        /// Longest id allowed.
        max: usize,
    },
    /// More entries than a list may hold.
    #[error("{what}: {count} entries, at most {max}")]
    TooMany {
        /// Which list.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// The transport or a behaviour could not be built.
    #[error("network setup failed: {detail}")]
    Setup {
        /// What failed.
        detail: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {detail}")]
    Listen {
        /// The address.
        address: Multiaddr,
        /// The transport's error.
        detail: String,
    },
    /// A payload over its kind's limit; nothing was sent.
    #[error("{kind} payload of {bytes} bytes exceeds the limit of {max} bytes")]
    PayloadTooLarge {
        /// Which kind of payload.
        kind: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A block request asked for no blocks or more than one request may carry.
    #[error("block request for {max_count} blocks: must be 1 to {limit}")]
    InvalidBlockCount {
        /// Blocks asked for.
        max_count: u32,
        /// The bound.
        limit: u32,
    },
    /// Too many block requests in flight; try again when some have been answered.
    #[error("{in_flight} block requests already in flight (at most {max})")]
    TooManyRequests {
        /// Requests in flight.
        in_flight: usize,
        /// The bound.
        max: usize,
    },
    /// The peer is not connected, so no request was sent.
    #[error("peer {peer} is not connected")]
    NotConnected {
        /// The peer.
        peer: PeerId,
    },
    /// The request failed: timeout, connection closed, dial failure or stream error.
    #[error("request to {peer} failed: {detail}")]
    RequestFailed {
        /// The peer asked.
        peer: PeerId,
        /// libp2p's description.
        detail: String,
    },
    /// The peer answered that it cannot serve the request now (busy or not answering).
    #[error("peer {peer} cannot serve the request now")]
    PeerUnavailable {
        /// The peer asked.
        peer: PeerId,
    },
    /// The peer answered outside the protocol (wrong kind of answer, more blocks than asked for);
    /// the network disconnected it.
    #[error("peer {peer} violated the sync protocol: {detail}")]
    ProtocolViolation {
        /// The peer.
        peer: PeerId,
        /// What it did.
        detail: String,
    },
    /// The block request this responder belongs to is gone (timed out or the peer left).
    #[error("block request from {peer} is no longer waiting for an answer")]
    RequestGone {
        /// The peer that asked.
        peer: PeerId,
    },
    /// The network task has stopped.
    #[error("the network task has stopped")]
    Stopped,
}
