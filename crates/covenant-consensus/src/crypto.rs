//! How the engine signs and checks signatures.
//!
//! The engine signs every message it sends and verifies every message it receives, always through a
//! [`ConsensusCrypto`]. A node uses [`Ed25519Crypto`]: the validator's consensus key and strict ed25519
//! verification from `covenant-types`. The trait exists for two other drivers:
//! * a node whose consensus key lives in an HSM signs through the HSM instead of holding the seed;
//! * the simulator, whose nodes all share one CPU: it keeps real ed25519 but remembers each check's
//!   answer for the run, so a signature that every node receives is checked once, not once per node.
//!
//! # To ensure correctness
//! An implementation must be deterministic and must accept a signature only if the holder of the
//! secret matching `key` produced it for exactly this `(domain, chain, digest)`. The engine's safety
//! argument (at most f Byzantine validators) rests on forgery being impossible.

use covenant_types::{ChainId, CryptoError, Hash, PublicKey, SecretKey, Signature, SignatureDomain};

/// Signs with this validator's consensus key and verifies other validators' signatures.
pub trait ConsensusCrypto: Send {
    /// The public half of this validator's consensus key.
    fn public_key(&self) -> PublicKey;

    /// Signs `digest` in `domain` on `chain`.
    fn sign(&self, domain: SignatureDomain, chain: &ChainId, digest: &Hash) -> Signature;

    /// Checks that `signature` over `digest` in `domain` on `chain` was made with the secret of `key`.
    fn verify(
        &self,
        key: &PublicKey,
        domain: SignatureDomain,
        chain: &ChainId,
        digest: &Hash,
        signature: &Signature,
    ) -> Result<(), CryptoError>;
}

/// The production scheme: the validator's ed25519 consensus key, strict verification (ADR 0002).
pub struct Ed25519Crypto {
    key: SecretKey,
}

impl Ed25519Crypto {
    /// Signs with `key`.
    pub fn new(key: SecretKey) -> Ed25519Crypto {
        Ed25519Crypto { key }
    }
}

impl std::fmt::Debug for Ed25519Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519Crypto({:?})", self.key.public_key())
    }
}

impl ConsensusCrypto for Ed25519Crypto {
    fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    fn sign(&self, domain: SignatureDomain, chain: &ChainId, digest: &Hash) -> Signature {
        self.key.sign(domain, chain, digest)
    }

    fn verify(
        &self,
        key: &PublicKey,
        domain: SignatureDomain,
        chain: &ChainId,
        digest: &Hash,
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        key.verify(domain, chain, digest, signature)
    }
}
