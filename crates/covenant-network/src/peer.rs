//! Mapping between covenant network keys (registered on chain in `NodeRecord.network_key`) and
//! libp2p peer ids.
//!
//! A node's libp2p identity is the ed25519 keypair made from its 32-byte network-key seed, so its
//! [`PeerId`] is a pure function of the public key on chain, and back: an ed25519 peer id embeds
//! the key itself (identity multihash), so the author of a message can be named by its key.

use covenant_types::PublicKey;
use libp2p::{PeerId, identity};

use crate::NetworkError;

/// The libp2p peer id of the node whose network key is `key`.
///
/// Fails only for a key libp2p's ed25519 decoding refuses, which a strictly checked covenant key
/// never is; the error is there so that chain data can never crash the node.
pub fn peer_id_of(key: &PublicKey) -> Result<PeerId, NetworkError> {
    let ed25519 = identity::ed25519::PublicKey::try_from_bytes(key.as_bytes())
        .map_err(|error| NetworkError::InvalidNetworkKey { key_hex: key.to_hex(), detail: error.to_string() })?;
    Ok(identity::PublicKey::from(ed25519).to_peer_id())
}

/// The covenant network key inside an ed25519 peer id, or `None` for any other kind of peer id
/// (hashed keys, other key types) or a key that fails the strict covenant checks.
pub fn public_key_of(peer: &PeerId) -> Option<PublicKey> {
    let multihash = peer.as_ref();
    // Code 0 is the identity multihash: the digest is the protobuf-encoded public key itself.
    if multihash.code() != 0 {
        return None;
    }
    let key = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed25519 = key.try_into_ed25519().ok()?;
    PublicKey::from_bytes(&ed25519.to_bytes()).ok()
}

/// The libp2p identity keypair for a 32-byte ed25519 seed. The copy handed to libp2p is zeroized
/// by libp2p; the caller's seed is untouched (callers keep it in `Zeroizing`).
pub(crate) fn keypair_from_seed(seed: &[u8; 32]) -> Result<identity::Keypair, NetworkError> {
    let mut copy = zeroize::Zeroizing::new(*seed);
    identity::Keypair::ed25519_from_bytes(&mut copy[..])
        .map_err(|error| NetworkError::InvalidSeed { detail: error.to_string() })
}

#[cfg(test)]
mod tests {
    use covenant_types::SecretKey;

    use super::*;

    #[test]
    fn peer_id_matches_the_keypair_built_from_the_same_seed() {
        let seed = [42u8; 32];
        let secret = SecretKey::from_seed(&seed);
        let from_chain = peer_id_of(&secret.public_key()).expect("valid key");
        let from_seed = keypair_from_seed(&seed).expect("valid seed").public().to_peer_id();
        assert_eq!(from_chain, from_seed);
        assert_eq!(public_key_of(&from_chain), Some(secret.public_key()));
    }

    #[test]
    fn a_random_peer_id_has_no_covenant_key() {
        assert_eq!(public_key_of(&PeerId::random()), None);
    }
}
