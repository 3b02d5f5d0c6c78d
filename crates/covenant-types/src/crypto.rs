//! Ed25519 keys and signatures with strict verification, and a batch verifier that never accepts what
//! strict verification rejects.
//!
//! # What "strict" means here
//! * A [`PublicKey`] is accepted only if its encoding is canonical (y < p, and the point re-encodes to
//!   the same bytes) and the point lies in the prime-order subgroup (no torsion component, hence not
//!   weak / small order). Every key that enters the system is decoded through [`PublicKey::from_bytes`]
//!   or serde, which calls it, so a weak key never reaches a verifier.
//! * A signature is accepted only if `s < ℓ` (canonical scalar), `R` is canonically encoded and
//!   `[s]B = R + [k]A` holds exactly (cofactorless), as `ed25519_dalek::VerifyingKey::verify_strict`
//!   checks.
//!
//! # Why batch verification needs extra checks
//! `ed25519_dalek::verify_batch` checks the cofactorless equation for a random linear combination of
//! the signatures. If a point carries a torsion component, the error term of one bad signature can be
//! a small-order point that the random 128-bit coefficient annihilates (probability 1/8 for order 8),
//! so the batch would accept a signature that strict verification rejects. It also skips the
//! small-order and canonical-encoding checks on `R` and `A`. We therefore check, before batching, that
//! every `R` is canonical and torsion-free (keys already are): then every error term lies in the
//! prime-order group and cannot vanish. A strictly valid signature under a torsion-free key always has
//! a torsion-free `R`, so these checks reject nothing strict verification accepts.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::encoding::{ENCODING_VERSION, encode};
use crate::hash::Hash;
use crate::ids::ChainId;

/// Length of a public key in bytes.
pub const PUBLIC_KEY_BYTES: usize = 32;
/// Length of a signature in bytes.
pub const SIGNATURE_BYTES: usize = 64;
/// Length of a secret key seed in bytes.
pub const SECRET_KEY_BYTES: usize = 32;

/// Why a key or signature was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The key's bytes are not a canonical encoding of a curve point.
    #[error("public key {key_hex} is not a canonically encoded curve point")]
    NonCanonicalKey {
        /// The key as given.
        key_hex: String,
    },
    /// The key is a small-order or mixed-order point (a weak key that can make forged signatures verify).
    #[error("public key {key_hex} is weak: it has a small-order (torsion) component")]
    WeakKey {
        /// The key as given.
        key_hex: String,
    },
    /// The signature failed strict verification.
    #[error("signature does not verify under key {key_hex} for domain {domain}")]
    BadSignature {
        /// The key.
        key_hex: String,
        /// The signing domain it was checked in.
        domain: &'static str,
    },
}

/// An ed25519 public key that passed the strict checks above.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey {
    bytes: [u8; PUBLIC_KEY_BYTES],
    key: VerifyingKey,
}

impl PublicKey {
    /// Decodes and checks a key: canonical encoding, prime-order subgroup.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_BYTES]) -> Result<PublicKey, CryptoError> {
        let key_hex = || hex::encode(bytes);
        let point = CompressedEdwardsY(*bytes)
            .decompress()
            .ok_or_else(|| CryptoError::NonCanonicalKey { key_hex: key_hex() })?;
        if point.compress().to_bytes() != *bytes {
            return Err(CryptoError::NonCanonicalKey { key_hex: key_hex() });
        }
        if point.is_small_order() || !point.is_torsion_free() {
            return Err(CryptoError::WeakKey { key_hex: key_hex() });
        }
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::NonCanonicalKey { key_hex: key_hex() })?;
        Ok(PublicKey { bytes: *bytes, key })
    }

    /// Parses 64 hex digits and checks the key.
    pub fn from_hex(text: &str) -> Result<PublicKey, String> {
        let bytes = crate::bytes::parse_hex::<PUBLIC_KEY_BYTES>(text)?;
        PublicKey::from_bytes(&bytes).map_err(|error| error.to_string())
    }

    /// The encoded key.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_BYTES] {
        &self.bytes
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }

    /// Strictly verifies `signature` over `message` in `domain` on `chain`.
    pub fn verify(
        &self,
        domain: SignatureDomain,
        chain: &ChainId,
        message: &Hash,
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        let envelope = signing_bytes(domain, chain, message);
        self.verify_raw(&envelope, signature).map_err(|_| self.bad_signature(domain))
    }

    fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), ed25519_dalek::SignatureError> {
        self.key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
    }

    fn bad_signature(&self, domain: SignatureDomain) -> CryptoError {
        CryptoError::BadSignature { key_hex: self.to_hex(), domain: domain.tag() }
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(&self.bytes, serializer)
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = crate::bytes::deserialize::<D, PUBLIC_KEY_BYTES>(deserializer)?;
        PublicKey::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

/// An ed25519 signature (`R || s`). Its validity is only known once verified against a key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; SIGNATURE_BYTES]);

impl Signature {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", &self.to_hex()[..16])
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::bytes::deserialize(deserializer).map(Signature)
    }
}

/// What a signature is for. Each kind has its own tag in the signed bytes, so a signature made for one
/// kind (a consensus vote, say) can never be replayed as another (a transaction) (COV-19, COV-30).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SignatureDomain {
    /// A transaction body, signed by its sender.
    Transaction,
    /// A consensus message (pre-prepare, prepare, commit, round change), signed by a validator.
    ConsensusMessage,
    /// A commit seal over a block hash, signed by a validator.
    CommitSeal,
    /// A request to a node's authenticated API (auditor access).
    ApiRequest,
    /// A node's anchoring of its audit-log head.
    AuditAnchor,
}

impl SignatureDomain {
    /// The tag written into the signed bytes.
    pub fn tag(self) -> &'static str {
        match self {
            SignatureDomain::Transaction => "covenant/transaction",
            SignatureDomain::ConsensusMessage => "covenant/consensus-message",
            SignatureDomain::CommitSeal => "covenant/commit-seal",
            SignatureDomain::ApiRequest => "covenant/api-request",
            SignatureDomain::AuditAnchor => "covenant/audit-anchor",
        }
    }
}

/// The bytes actually signed: a versioned envelope naming the domain and the chain, around the digest
/// of the canonical payload.
#[derive(Serialize)]
struct SigningEnvelope<'a> {
    magic: &'static str,
    version: u16,
    domain: &'static str,
    chain_id: &'a ChainId,
    digest: &'a Hash,
}

/// Canonical bytes signed for `message` in `domain` on `chain`.
pub fn signing_bytes(domain: SignatureDomain, chain: &ChainId, message: &Hash) -> Vec<u8> {
    encode(&SigningEnvelope {
        magic: "COVENANT",
        version: ENCODING_VERSION,
        domain: domain.tag(),
        chain_id: chain,
        digest: message,
    })
}

/// A secret signing key. Its bytes are wiped from memory when dropped.
pub struct SecretKey {
    key: SigningKey,
    public: PublicKey,
}

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> SecretKey {
        let mut seed = Zeroizing::new([0u8; SECRET_KEY_BYTES]);
        getrandom::fill(seed.as_mut()).expect("the operating system random source is available");
        SecretKey::from_seed(&seed)
    }

    /// The key with this 32-byte seed.
    pub fn from_seed(seed: &[u8; SECRET_KEY_BYTES]) -> SecretKey {
        let key = SigningKey::from_bytes(seed);
        let public = PublicKey::from_bytes(key.verifying_key().as_bytes())
            .expect("a key derived from a seed is a multiple of the base point, hence strict");
        SecretKey { key, public }
    }

    /// The seed, for writing to a key file.
    pub fn seed(&self) -> Zeroizing<[u8; SECRET_KEY_BYTES]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// Signs `message` in `domain` on `chain`.
    pub fn sign(&self, domain: SignatureDomain, chain: &ChainId, message: &Hash) -> Signature {
        Signature(self.key.sign(&signing_bytes(domain, chain, message)).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public: {})", self.public.to_hex())
    }
}

/// One item of a batch: the key, the domain-separated message digest, and the signature.
#[derive(Clone, Copy, Debug)]
pub struct BatchItem<'a> {
    /// Who claims to have signed.
    pub key: &'a PublicKey,
    /// The domain.
    pub domain: SignatureDomain,
    /// The digest of the canonical payload.
    pub message: &'a Hash,
    /// The signature.
    pub signature: &'a Signature,
}

/// Checks that `R` is canonical and torsion-free and `s` is canonical: the conditions under which the
/// cofactorless batch equation implies each individual strict equation (see the module docs).
fn batchable(signature: &Signature) -> bool {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&signature.0[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&signature.0[32..]);
    let s_canonical: bool = curve25519_dalek::Scalar::from_canonical_bytes(s_bytes).is_some().into();
    match CompressedEdwardsY(r_bytes).decompress() {
        Some(r) => s_canonical && r.compress().to_bytes() == r_bytes && r.is_torsion_free() && !r.is_small_order(),
        None => false,
    }
}

/// Verifies many signatures at once, returning one result per item, in order.
///
/// Accepts exactly what [`PublicKey::verify`] accepts, item by item: items that could make the batch
/// equation disagree with strict verification are checked one by one, and if the batch fails every
/// item is re-checked strictly to name the bad ones.
pub fn verify_batch(chain: &ChainId, items: &[BatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
    let envelopes: Vec<Vec<u8>> = items.iter().map(|item| signing_bytes(item.domain, chain, item.message)).collect();
    let keys: Vec<&PublicKey> = items.iter().map(|item| item.key).collect();
    let messages: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
    let signatures: Vec<&Signature> = items.iter().map(|item| item.signature).collect();
    raw_verify_batch(&keys, &messages, &signatures)
        .into_iter()
        .zip(items)
        .map(|(ok, item)| if ok { Ok(()) } else { Err(item.key.bad_signature(item.domain)) })
        .collect()
}

/// Strict verification of a signature over raw bytes (no domain envelope). For test vectors and
/// benchmarks; the node verifies only through [`PublicKey::verify`] and [`verify_batch`].
pub fn raw_verify_strict(key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
    key.verify_raw(message, signature).is_ok()
}

/// Batch verification over raw bytes with the same verdicts as [`raw_verify_strict`], item by item.
/// The three slices must have the same length (a shorter one is a caller bug and panics).
pub fn raw_verify_batch(keys: &[&PublicKey], messages: &[&[u8]], signatures: &[&Signature]) -> Vec<bool> {
    assert!(keys.len() == messages.len() && keys.len() == signatures.len(), "batch slices differ in length");
    let mut verdicts = vec![false; keys.len()];
    let mut batch = Vec::with_capacity(keys.len());
    for index in 0..keys.len() {
        if batchable(signatures[index]) {
            batch.push(index);
        } else {
            verdicts[index] = raw_verify_strict(keys[index], messages[index], signatures[index]);
        }
    }
    if batch.is_empty() {
        return verdicts;
    }
    let batch_messages: Vec<&[u8]> = batch.iter().map(|&i| messages[i]).collect();
    let batch_signatures: Vec<ed25519_dalek::Signature> =
        batch.iter().map(|&i| ed25519_dalek::Signature::from_bytes(&signatures[i].0)).collect();
    let batch_keys: Vec<VerifyingKey> = batch.iter().map(|&i| keys[i].key).collect();
    let all_valid = ed25519_dalek::verify_batch(&batch_messages, &batch_signatures, &batch_keys).is_ok();
    for &index in &batch {
        verdicts[index] = all_valid || raw_verify_strict(keys[index], messages[index], signatures[index]);
    }
    verdicts
}
