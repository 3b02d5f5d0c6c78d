//! What the node hands the network when it starts it.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use covenant_types::PublicKey;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use zeroize::Zeroizing;

use crate::NetworkError;
use crate::limits::{
    ALLOWED_PEERS_MAX, BOOTSTRAP_PEERS_MAX, HANDSHAKE_TIMEOUT_DEFAULT, MISBEHAVIOUR_BAN_DEFAULT,
    REDIAL_BACKOFF_MAX_DEFAULT, REQUEST_TIMEOUT_DEFAULT, STATUS_INTERVAL_DEFAULT,
};

/// Longest network id (it becomes part of topic and protocol names): a chain id of up to 64
/// characters with its environment after it (`<chain id>.production`).
pub const NETWORK_ID_CHARS_MAX: usize = 96;

/// Configuration of one node's network.
pub struct NetworkConfig {
    /// The node's 32-byte ed25519 network-key seed. It is wiped when the config is dropped, and the
    /// copy handed to libp2p is wiped by libp2p.
    pub seed: Zeroizing<[u8; 32]>,
    /// Names this network (use the chain id): gossip topics and protocol names carry it, so nodes
    /// of two chains never exchange messages even if they were allowed to connect.
    pub network_id: String,
    /// Address to listen on, e.g. `/ip4/0.0.0.0/tcp/7000` (see [`tcp_multiaddr`]).
    pub listen: Multiaddr,
    /// Peers to keep connected to, each address ending in `/p2p/<peer id>`. They are dialled at
    /// start and redialled with backoff whenever the connection is lost, as long as they are allowed.
    pub bootstrap: Vec<Multiaddr>,
    /// Network keys of the nodes allowed to connect (validators and approved observers).
    pub allowed: Vec<PublicKey>,
    /// Time allowed for TCP connect plus the Noise and Yamux upgrades.
    pub handshake_timeout: Duration,
    /// Time allowed for a sync request to be answered, in both directions.
    pub request_timeout: Duration,
    /// How long a peer disconnected by [`crate::NetworkHandle::disconnect`] stays refused.
    pub misbehaviour_ban: Duration,
    /// Interval of the status (height) exchange with every connected peer.
    pub status_interval: Duration,
    /// Longest delay between two redials of a lost bootstrap peer.
    pub redial_backoff_max: Duration,
}

impl NetworkConfig {
    /// A configuration with the default timeouts, no bootstrap peers and an empty allowlist.
    pub fn new(seed: Zeroizing<[u8; 32]>, network_id: impl Into<String>, listen: Multiaddr) -> NetworkConfig {
        NetworkConfig {
            seed,
            network_id: network_id.into(),
            listen,
            bootstrap: Vec::new(),
            allowed: Vec::new(),
            handshake_timeout: HANDSHAKE_TIMEOUT_DEFAULT,
            request_timeout: REQUEST_TIMEOUT_DEFAULT,
            misbehaviour_ban: MISBEHAVIOUR_BAN_DEFAULT,
            status_interval: STATUS_INTERVAL_DEFAULT,
            redial_backoff_max: REDIAL_BACKOFF_MAX_DEFAULT,
        }
    }

    /// Checks everything that can be checked before touching a socket.
    pub(crate) fn validate(&self) -> Result<ValidatedParts, NetworkError> {
        let id_ok = !self.network_id.is_empty()
            && self.network_id.len() <= NETWORK_ID_CHARS_MAX
            && self.network_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !id_ok {
            return Err(NetworkError::InvalidNetworkId {
                network_id: self.network_id.clone(),
                max: NETWORK_ID_CHARS_MAX,
            });
        }
        if self.allowed.len() > ALLOWED_PEERS_MAX {
            return Err(NetworkError::TooMany {
                what: "allowed peers",
                count: self.allowed.len(),
                max: ALLOWED_PEERS_MAX,
            });
        }
        if self.bootstrap.len() > BOOTSTRAP_PEERS_MAX {
            return Err(NetworkError::TooMany {
                what: "bootstrap peers",
                count: self.bootstrap.len(),
                max: BOOTSTRAP_PEERS_MAX,
            });
        }
        let bootstrap = self
            .bootstrap
            .iter()
            .map(|address| split_peer_id(address).map(|peer| (peer, address.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let allowed = self.allowed.iter().map(crate::peer_id_of).collect::<Result<Vec<_>, _>>()?;
        Ok(ValidatedParts { bootstrap, allowed })
    }
}

impl fmt::Debug for NetworkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetworkConfig")
            .field("seed", &"<redacted>")
            .field("network_id", &self.network_id)
            .field("listen", &self.listen)
            .field("bootstrap", &self.bootstrap)
            .field("allowed", &self.allowed.len())
            .field("handshake_timeout", &self.handshake_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("misbehaviour_ban", &self.misbehaviour_ban)
            .field("status_interval", &self.status_interval)
            .field("redial_backoff_max", &self.redial_backoff_max)
            .finish()
    }
}

/// The parts of a config that validation turned into libp2p values.
pub(crate) struct ValidatedParts {
    pub(crate) bootstrap: Vec<(PeerId, Multiaddr)>,
    pub(crate) allowed: Vec<PeerId>,
}

/// The peer id at the end of `address` (`.../p2p/<peer id>`).
pub fn split_peer_id(address: &Multiaddr) -> Result<PeerId, NetworkError> {
    match address.iter().last() {
        Some(Protocol::P2p(peer)) => Ok(peer),
        _ => Err(NetworkError::BootstrapWithoutPeerId { address: address.clone() }),
    }
}

/// `/ip4/A/tcp/P` or `/ip6/A/tcp/P` for a socket address.
pub fn tcp_multiaddr(address: SocketAddr) -> Multiaddr {
    let ip = match address.ip() {
        std::net::IpAddr::V4(ip) => Protocol::Ip4(ip),
        std::net::IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(address.port()))
}

/// `address` with `/p2p/<peer>` appended: what other nodes put in their bootstrap list.
pub fn with_peer_id(address: &Multiaddr, peer: PeerId) -> Multiaddr {
    address.clone().with(Protocol::P2p(peer))
}
