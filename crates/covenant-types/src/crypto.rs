//! Ed25519 keys and signatures with strict verification, and a batch verifier whose verdicts are
//! exactly those of single verification (ADR 0002).
//!
//! # What "strict" means here
//! * A [`PublicKey`] is accepted only if its encoding is canonical (the point re-encodes to the same
//!   bytes, so y < p and no "negative zero") and it is not a small-order (weak) point. Every key that
//!   enters the system is decoded through [`PublicKey::from_bytes`], which serde calls, so a weak key
//!   never reaches a verifier, whether it comes from a transaction, a config, a genesis or the network.
//! * A signature `(R, s)` is accepted only if `s < ℓ` (canonical scalar, no malleability), `R` is a
//!   canonical encoding of a point that is not of small order, and the cofactored equation
//!   `[8]([s]B − R − [k]A) = 0` holds, with `k = SHA-512(R ‖ A ‖ M)`.
//!
//! # Why the cofactored equation
//! Batch verification checks a random linear combination `Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ)`. With the
//! cofactorless equation (ed25519-dalek's `verify_strict` and `verify_batch`), a signature whose error
//! term is a small-order point passes the batch whenever its random coefficient is a multiple of the
//! point's order (probability 1/8), yet fails single verification: the two paths disagree, and two
//! validators batching differently could fork. Multiplying by the cofactor removes every small-order
//! component in both paths; what is left lies in the prime-order group, where a random 128-bit
//! coefficient cannot cancel a non-zero term. Single and batch verification therefore accept exactly
//! the same signatures (up to 2⁻¹²⁸), without the cost of a torsion check per signature. This is the
//! equation ZIP-215 chose for the same reason; unlike ZIP-215 we also require canonical encodings and
//! refuse small-order keys and `R`. `tests/speccheck.rs` runs the ed25519-speccheck cases through both
//! paths and shows the cofactorless batch disagreeing where ours does not.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha512};
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
    /// The key is a small-order point (a weak key: signatures under it can verify for many messages).
    #[error("public key {key_hex} is weak: it is a point of small order")]
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

/// An ed25519 public key that passed the strict checks above, kept with its decompressed point.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; PUBLIC_KEY_BYTES],
    point: EdwardsPoint,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PublicKey {
    /// Decodes and checks a key: canonical encoding, not of small order.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_BYTES]) -> Result<PublicKey, CryptoError> {
        if let Some(point) = key_cache::get(bytes) {
            return Ok(PublicKey { bytes: *bytes, point });
        }
        let key_hex = || hex::encode(bytes);
        let point = decompress_canonical(bytes).ok_or_else(|| CryptoError::NonCanonicalKey { key_hex: key_hex() })?;
        if point.is_small_order() {
            return Err(CryptoError::WeakKey { key_hex: key_hex() });
        }
        key_cache::insert(bytes, point);
        Ok(PublicKey { bytes: *bytes, point })
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

    fn verify_raw(&self, message: &[u8], signature: &Signature) -> Result<(), ()> {
        let parsed = ParsedSignature::parse(signature).ok_or(())?;
        let k = challenge(&parsed.r_bytes, &self.bytes, message);
        if single_equation_holds(self, &parsed, &k) { Ok(()) } else { Err(()) }
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
    /// A conformance report signed by an operator (`covenant report --sign`).
    ConformanceReport,
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
            SignatureDomain::ConformanceReport => "covenant/conformance-report",
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

/// Decompresses a point, refusing non-canonical encodings: exactly those whose decompressed point
/// would not re-encode to the same bytes, decided from the bytes instead of by re-encoding (which
/// costs a field inversion, as much again as the decompression). Decompression reduces `y` modulo
/// `p = 2²⁵⁵ − 19` and ignores the sign bit when `x = 0`, so the non-canonical encodings are `y ≥ p`
/// and a set sign bit with `x = 0`, i.e. with `y = ±1`.
fn decompress_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if !is_canonical_encoding(bytes) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// Whether `bytes` is the canonical encoding of its point, if it is one (see [`decompress_canonical`]).
fn is_canonical_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] & 0x80 != 0;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // p − 1 = 2²⁵⁵ − 20, little-endian: 0xec, thirty 0xff, 0x7f.
    let high_all_ones = y[1..31].iter().all(|&byte| byte == 0xff) && y[31] == 0x7f;
    let at_least_p = high_all_ones && y[0] >= 0xed;
    let is_minus_one = high_all_ones && y[0] == 0xec;
    let is_one = y[0] == 1 && y[1..].iter().all(|&byte| byte == 0);
    !(at_least_p || (sign && (is_one || is_minus_one)))
}

/// The decompressed points of keys that passed the strict checks, by encoding: a consortium signs
/// with a few hundred keys, and every transaction, state record and consensus message that carries
/// one would otherwise pay a decompression (a field exponentiation) on every decode. Only keys that
/// passed are cached, so the cache never changes a verdict; when full it is emptied (simplest
/// bound; refilling costs one decompression per key in use).
mod key_cache {
    use curve25519_dalek::edwards::EdwardsPoint;
    use std::collections::HashMap;
    use std::sync::{LazyLock, RwLock};

    /// Most keys cached (about 200 bytes each).
    pub const KEYS_CACHED_MAX: usize = 16_384;

    static CACHE: LazyLock<RwLock<HashMap<[u8; 32], EdwardsPoint>>> = LazyLock::new(RwLock::default);

    pub fn get(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
        CACHE.read().ok()?.get(bytes).copied()
    }

    pub fn insert(bytes: &[u8; 32], point: EdwardsPoint) {
        if let Ok(mut cache) = CACHE.write() {
            if cache.len() >= KEYS_CACHED_MAX {
                cache.clear();
            }
            cache.insert(*bytes, point);
        }
    }
}

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(r_bytes: &[u8; 32], key_bytes: &[u8; 32], message: &[u8]) -> Scalar {
    let digest = Sha512::new().chain_update(r_bytes).chain_update(key_bytes).chain_update(message).finalize();
    Scalar::from_bytes_mod_order_wide(&digest.into())
}

/// The cofactored equation of one signature: `[8]([s]B − [k]A − R) = 0`.
fn single_equation_holds(key: &PublicKey, signature: &ParsedSignature, k: &Scalar) -> bool {
    let error = EdwardsPoint::vartime_double_scalar_mul_basepoint(k, &(-key.point), &signature.s) - signature.r;
    error.mul_by_cofactor().is_identity()
}

/// A signature whose encodings passed the strict checks: canonical `s`, canonical `R` not of small order.
struct ParsedSignature {
    r_bytes: [u8; 32],
    r: EdwardsPoint,
    s: Scalar,
}

impl ParsedSignature {
    fn parse(signature: &Signature) -> Option<ParsedSignature> {
        let (r_bytes, s) = Self::canonical_parts(signature)?;
        Self::with_point(r_bytes, s, CompressedEdwardsY(r_bytes).decompress())
    }

    /// [`ParsedSignature::parse`] of many signatures, with the same result for each: their `R`
    /// points are decompressed together, four side by side on CPUs with AVX-512 IFMA (the square
    /// root in a decompression was a third of verification; ADR 0010).
    fn parse_batch(signatures: &[&Signature]) -> Vec<Option<ParsedSignature>> {
        let parts: Vec<Option<([u8; 32], Scalar)>> =
            signatures.iter().map(|signature| Self::canonical_parts(signature)).collect();
        let encodings: Vec<CompressedEdwardsY> =
            parts.iter().flatten().map(|(r_bytes, _)| CompressedEdwardsY(*r_bytes)).collect();
        let mut points = CompressedEdwardsY::decompress_batch(&encodings).into_iter();
        parts
            .into_iter()
            .map(|part| {
                let (r_bytes, s) = part?;
                Self::with_point(r_bytes, s, points.next().expect("one point per canonical encoding"))
            })
            .collect()
    }

    /// `R`'s bytes and `s`, if `s` is canonical and `R`'s encoding is (see [`decompress_canonical`]).
    fn canonical_parts(signature: &Signature) -> Option<([u8; 32], Scalar)> {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature.0[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature.0[32..]);
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        is_canonical_encoding(&r_bytes).then_some((r_bytes, s))
    }

    /// The parsed signature, if `R` decompressed to a point not of small order.
    fn with_point(r_bytes: [u8; 32], s: Scalar, r: Option<EdwardsPoint>) -> Option<ParsedSignature> {
        let r = r?;
        (!r.is_small_order()).then_some(ParsedSignature { r_bytes, r, s })
    }
}

/// Verifies many signatures at once, returning one result per item, in order.
///
/// Accepts exactly what [`PublicKey::verify`] accepts, item by item: items that could make the batch
/// equation disagree with strict verification are checked one by one, and if the batch fails the bad
/// items are found by bisection (see [`raw_verify_batch`]).
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

/// Most failing sets the bisection follows at one level. More failing sets mean more than this many
/// bad signatures: the batch is then mostly bad, splitting further would cost more than it saves, and
/// what is still unresolved is verified one signature at a time (see `find_bad_signatures`).
pub const BISECTION_FAILING_SETS_MAX: usize = 4;

/// Batch verification over raw bytes with the same verdicts as [`raw_verify_strict`], item by item.
/// The three slices must have the same length (a shorter one is a caller bug and panics).
///
/// When the batch equation fails, the bad signatures are found by bisection rather than by verifying
/// every signature alone: one bad signature among 1,024 costs about two batch equations instead of
/// 1,024 single verifications (and a peer can send a batch with one bad signature for free). Many bad
/// signatures make the search give up early (see `find_bad_signatures`), so no batch costs much
/// more than a batch equation plus every signature checked alone.
pub fn raw_verify_batch(keys: &[&PublicKey], messages: &[&[u8]], signatures: &[&Signature]) -> Vec<bool> {
    assert!(keys.len() == messages.len() && keys.len() == signatures.len(), "batch slices differ in length");
    let mut verdicts = vec![false; keys.len()];
    // Items whose encodings fail the strict checks are refused outright; they never join the batch.
    let parsed: Vec<(usize, ParsedSignature)> = ParsedSignature::parse_batch(signatures)
        .into_iter()
        .enumerate()
        .filter_map(|(index, parsed)| parsed.map(|parsed| (index, parsed)))
        .collect();
    if parsed.is_empty() {
        return verdicts;
    }
    let terms = BatchTerm::prepare(keys, messages, parsed);
    find_bad_signatures(&terms, &mut verdicts);
    verdicts
}

/// One signature of a batch whose encodings passed the strict checks, with its challenge `k` and its
/// random coefficient `z`: its term of the batch equation is `z([s]B − R − [k]A)`.
struct BatchTerm<'k> {
    index: usize,
    key: &'k PublicKey,
    signature: ParsedSignature,
    challenge: Scalar,
    coefficient: Scalar,
}

impl<'k> BatchTerm<'k> {
    /// The terms of `parsed` (indices into `keys` and `messages`), with fresh random coefficients.
    fn prepare(
        keys: &[&'k PublicKey],
        messages: &[&[u8]],
        parsed: Vec<(usize, ParsedSignature)>,
    ) -> Vec<BatchTerm<'k>> {
        let challenges: Vec<Scalar> = parsed
            .iter()
            .map(|(index, signature)| challenge(&signature.r_bytes, keys[*index].as_bytes(), messages[*index]))
            .collect();
        let coefficients = batch_coefficients(&parsed, &challenges);
        parsed
            .into_iter()
            .zip(challenges.into_iter().zip(coefficients))
            .map(|((index, signature), (challenge, coefficient))| BatchTerm {
                index,
                key: keys[index],
                signature,
                challenge,
                coefficient,
            })
            .collect()
    }

    /// Strict single verification, from the parts already computed for the batch.
    fn verify_alone(&self) -> bool {
        single_equation_holds(self.key, &self.signature, &self.challenge)
    }
}

/// What [`find_bad_signatures`] spent, for tests of its cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct SearchCost {
    /// Batch equations computed (the first one included).
    equations: usize,
    /// Signatures in those equations.
    equation_signatures: usize,
    /// Signatures verified alone.
    singles: usize,
}

/// Sets each term's verdict: true when the batch equation of a set containing it holds (it holds for
/// a set exactly when all its signatures are valid, except with probability 2⁻¹²⁸ over the
/// coefficients), or when its own single verification does.
///
/// The search is breadth-first over the sets whose equation failed, halving them at each level, so it
/// ends after at most ⌈log₂ n⌉ levels. The equation is linear in its terms: the sum `P(S)` of a set
/// and the sum `P(F)` of its first half give the second half's, `P(S) − P(F)`, so a split costs one
/// multiscalar multiplication over half the set, and a failing set of one signature is its bad term
/// (`zP` with `z ≠ 0` vanishes exactly when `P` does once the cofactor is cleared). Splitting thus
/// beats single verification down to the smallest sets: measured in a release build, the equation
/// over one signature costs 32 µs and a single verification 25 µs (its basepoint multiplication uses
/// a precomputed table), but halving a failing pair costs one such equation against two single
/// verifications, a failing set of four 71–103 µs against 100 µs, and one bad signature among 1,024
/// about 4.6 ms of halves against 27 ms of single verifications.
///
/// When more than [`BISECTION_FAILING_SETS_MAX`] sets fail at one level, the batch holds more bad
/// signatures than that; each further level would cost up to n/2 signatures in equations while
/// resolving little, so the failing sets are verified one signature at a time instead. A mostly bad
/// batch of n thus costs its first equation, three levels of halves (1 + 2 + 4 splits, at most n/2
/// signatures per level) and at most n single verifications: measured, 5 % more than verifying every
/// signature alone after the first equation, which is what any failed batch used to cost.
fn find_bad_signatures(terms: &[BatchTerm<'_>], verdicts: &mut [bool]) -> SearchCost {
    let mut cost = SearchCost { equations: 1, equation_signatures: terms.len(), singles: 0 };
    let whole = combination(terms);
    if holds(&whole) {
        accept(terms, verdicts);
        return cost;
    }
    let mut failing: Vec<(std::ops::Range<usize>, EdwardsPoint)> = vec![(0..terms.len(), whole)];
    while !failing.is_empty() {
        if failing.len() > BISECTION_FAILING_SETS_MAX {
            for term in failing.into_iter().flat_map(|(range, _)| &terms[range]) {
                cost.singles += 1;
                verdicts[term.index] = term.verify_alone();
            }
            break;
        }
        let mut next = Vec::with_capacity(failing.len() * 2);
        for (range, sum) in failing {
            let half = range.len() / 2;
            if half == 0 {
                // A single signature whose own term failed: it is bad, and its verdict stays false.
                continue;
            }
            let first = range.start..range.start + half;
            let second = range.start + half..range.end;
            let first_sum = combination(&terms[first.clone()]);
            cost.equations += 1;
            cost.equation_signatures += half;
            let second_sum = sum - first_sum;
            for (set, set_sum) in [(first, first_sum), (second, second_sum)] {
                if holds(&set_sum) {
                    accept(&terms[set], verdicts);
                } else {
                    next.push((set, set_sum));
                }
            }
        }
        failing = next;
    }
    cost
}

fn accept(terms: &[BatchTerm<'_>], verdicts: &mut [bool]) {
    for term in terms {
        verdicts[term.index] = true;
    }
}

/// Whether a sum of batch terms is zero once the cofactor is cleared (every signature in it valid).
fn holds(sum: &EdwardsPoint) -> bool {
    sum.mul_by_cofactor().is_identity()
}

/// `Σ zᵢ([sᵢ]B − Rᵢ − [kᵢ]Aᵢ) = [Σ zᵢsᵢ]B + Σ (−zᵢ)Rᵢ + Σ (−zᵢkᵢ)Aᵢ` over `terms`, the cofactor not yet
/// cleared.
fn combination(terms: &[BatchTerm<'_>]) -> EdwardsPoint {
    let basepoint_coefficient: Scalar = terms.iter().map(|term| term.coefficient * term.signature.s).sum();
    let key_terms = key_terms(terms);
    let scalars = std::iter::once(basepoint_coefficient)
        .chain(terms.iter().map(|term| -term.coefficient))
        .chain(key_terms.iter().map(|(_, scalar)| *scalar));
    let points = std::iter::once(curve25519_dalek::constants::ED25519_BASEPOINT_POINT)
        .chain(terms.iter().map(|term| term.signature.r))
        .chain(key_terms.iter().map(|(key, _)| key.point));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points)
}

/// The key terms `Σ (−zᵢkᵢ)Aᵢ` of the batch equation with one term per distinct key: a consortium
/// signs with a few hundred operator keys, so a batch holds the same key many times, and
/// `(−zᵢkᵢ)A + (−zⱼkⱼ)A = (−zᵢkᵢ − zⱼkⱼ)A` saves a point in the multiscalar multiplication (its cost
/// grows with the number of points) without changing the equation.
fn key_terms<'k>(terms: &[BatchTerm<'k>]) -> Vec<(&'k PublicKey, Scalar)> {
    let mut key_terms: Vec<(&'k PublicKey, Scalar)> =
        terms.iter().map(|term| (term.key, -(term.coefficient * term.challenge))).collect();
    key_terms.sort_unstable_by_key(|(key, _)| key.bytes);
    key_terms.dedup_by(|(key, scalar), (kept_key, kept_scalar)| {
        let same = key.bytes == kept_key.bytes;
        if same {
            *kept_scalar += *scalar;
        }
        same
    });
    key_terms
}

/// Random 128-bit coefficients, one per signature: SHA-512 over fresh operating-system randomness and
/// every challenge and `s` of the batch, so neither a signer nor an observer can predict them. The
/// bisection reuses them for every subset: each subset's equation still fails for a bad signature
/// except with probability 2⁻¹²⁸, since the coefficients are fixed before any equation is computed.
fn batch_coefficients(parsed: &[(usize, ParsedSignature)], challenges: &[Scalar]) -> Vec<Scalar> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("the operating system random source is available");
    let mut transcript = Sha512::new().chain_update(b"covenant/batch-verify/v1").chain_update(seed);
    for ((_, signature), k) in parsed.iter().zip(challenges) {
        transcript.update(k.as_bytes());
        transcript.update(signature.s.as_bytes());
    }
    let transcript = transcript.finalize();
    (0..parsed.len() as u64)
        .map(|index| {
            let digest = Sha512::new().chain_update(transcript).chain_update(index.to_le_bytes()).finalize();
            let mut low = [0u8; 16];
            low.copy_from_slice(&digest[..16]);
            Scalar::from(u128::from_le_bytes(low))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition the byte test replaces: decompress, re-encode, compare.
    fn canonical_by_roundtrip(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
        let point = CompressedEdwardsY(*bytes).decompress()?;
        (point.compress().to_bytes() == *bytes).then_some(point)
    }

    /// The batch equation itself (not only the verdicts, which fall back to one-by-one checks when
    /// it fails): it holds for valid signatures whose keys repeat, and fails when two signatures by
    /// the same key or by different keys trade places.
    #[test]
    fn batch_equation_holds_exactly_for_valid_batches_with_repeated_keys() {
        let chain = ChainId::new("batch-test").expect("valid chain id");
        let secrets: Vec<SecretKey> = (1..=3u8).map(|seed| SecretKey::from_seed(&[seed; 32])).collect();
        let publics: Vec<PublicKey> = secrets.iter().map(SecretKey::public_key).collect();
        let signers: Vec<usize> = vec![0, 1, 0, 2, 0, 1, 0, 0];
        let digests: Vec<Hash> = (0..signers.len()).map(|i| Hash::digest(&[i as u8])).collect();
        let envelopes: Vec<Vec<u8>> =
            digests.iter().map(|digest| signing_bytes(SignatureDomain::Transaction, &chain, digest)).collect();
        let signatures: Vec<Signature> = signers
            .iter()
            .zip(&digests)
            .map(|(signer, digest)| secrets[*signer].sign(SignatureDomain::Transaction, &chain, digest))
            .collect();
        let keys: Vec<&PublicKey> = signers.iter().map(|signer| &publics[*signer]).collect();
        let messages: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
        let equation_holds = |signatures: &[Signature]| {
            let parsed: Vec<(usize, ParsedSignature)> = signatures
                .iter()
                .enumerate()
                .map(|(index, signature)| (index, ParsedSignature::parse(signature).expect("canonical")))
                .collect();
            holds(&combination(&BatchTerm::prepare(&keys, &messages, parsed)))
        };
        assert!(equation_holds(&signatures));
        for (a, b) in [(0, 2), (0, 1), (3, 5)] {
            let mut swapped = signatures.clone();
            swapped.swap(a, b);
            assert!(!equation_holds(&swapped), "signatures {a} and {b} swapped");
        }
    }

    /// `count` signatures by 7 keys over distinct messages, those at `bad` replaced by the same
    /// signer's valid signature over another message: canonical encodings that fail only the equation.
    fn batch_with_bad(count: usize, bad: &[usize]) -> (Vec<PublicKey>, Vec<Vec<u8>>, Vec<Signature>) {
        let chain = ChainId::new("bisection-test").expect("valid chain id");
        let secrets: Vec<SecretKey> = (1..=7u8).map(|seed| SecretKey::from_seed(&[seed; 32])).collect();
        let mut keys = Vec::new();
        let mut envelopes = Vec::new();
        let mut signatures = Vec::new();
        for index in 0..count {
            let secret = &secrets[index % secrets.len()];
            let digest = Hash::digest(&(index as u64).to_le_bytes());
            let signed = if bad.contains(&index) { Hash::digest(b"another message") } else { digest };
            keys.push(secret.public_key());
            envelopes.push(signing_bytes(SignatureDomain::Transaction, &chain, &digest));
            signatures.push(secret.sign(SignatureDomain::Transaction, &chain, &signed));
        }
        (keys, envelopes, signatures)
    }

    /// Runs the search on a batch and checks every verdict against single verification.
    fn search(keys: &[PublicKey], envelopes: &[Vec<u8>], signatures: &[Signature]) -> (Vec<bool>, SearchCost) {
        let key_refs: Vec<&PublicKey> = keys.iter().collect();
        let messages: Vec<&[u8]> = envelopes.iter().map(Vec::as_slice).collect();
        let parsed: Vec<(usize, ParsedSignature)> = signatures
            .iter()
            .enumerate()
            .map(|(index, signature)| (index, ParsedSignature::parse(signature).expect("canonical")))
            .collect();
        let terms = BatchTerm::prepare(&key_refs, &messages, parsed);
        let mut verdicts = vec![false; keys.len()];
        let cost = find_bad_signatures(&terms, &mut verdicts);
        for (index, verdict) in verdicts.iter().enumerate() {
            let single = raw_verify_strict(&keys[index], &envelopes[index], &signatures[index]);
            assert_eq!(*verdict, single, "signature {index} of {}", keys.len());
        }
        (verdicts, cost)
    }

    /// One bad signature among 1,024 costs one split per level (halves adding up to fewer than 1,024
    /// signatures) and no single verification, wherever it sits.
    #[test]
    fn one_bad_signature_is_found_by_bisection_without_single_checks() {
        for bad in [0, 511, 512, 700, 1023] {
            let (keys, envelopes, signatures) = batch_with_bad(1024, &[bad]);
            let (verdicts, cost) = search(&keys, &envelopes, &signatures);
            assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), 1);
            assert_eq!(cost.singles, 0, "bad at {bad}: {cost:?}");
            assert_eq!(cost.equations, 1 + 10, "bad at {bad}: one split per level: {cost:?}");
            assert!(cost.equation_signatures < 2 * 1024, "bad at {bad}: {cost:?}");
        }
    }

    /// Up to [`BISECTION_FAILING_SETS_MAX`] bad signatures are isolated by splitting alone; a batch with
    /// more stops splitting at the first level where more sets fail, and verifies those sets one
    /// signature at a time: at most 1 + 2 + 4 splits before the single checks.
    #[test]
    fn many_bad_signatures_stop_the_search_early() {
        let count = 256;
        let spread = |bad: usize| (0..bad).map(|i| i * count / bad + count / bad / 2).collect::<Vec<usize>>();
        let (keys, envelopes, signatures) = batch_with_bad(count, &spread(BISECTION_FAILING_SETS_MAX));
        let (verdicts, cost) = search(&keys, &envelopes, &signatures);
        assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), BISECTION_FAILING_SETS_MAX);
        assert_eq!(cost.singles, 0, "{cost:?}");
        for bad in [spread(BISECTION_FAILING_SETS_MAX + 1), spread(count / 3), (0..count).collect()] {
            let (keys, envelopes, signatures) = batch_with_bad(count, &bad);
            let (verdicts, cost) = search(&keys, &envelopes, &signatures);
            assert_eq!(verdicts.iter().filter(|ok| !**ok).count(), bad.len());
            assert!(cost.equations <= 1 + 1 + 2 + 4, "{} bad: {cost:?}", bad.len());
            assert!(cost.equation_signatures <= count + 3 * count / 2, "{} bad: {cost:?}", bad.len());
            assert!(cost.singles > 0 && cost.singles <= count, "{} bad: {cost:?}", bad.len());
        }
    }

    /// Every position of small and odd-sized batches: a bad signature in a first or second half, alone
    /// in a set of one, or in the longer half of an odd split.
    #[test]
    fn a_bad_signature_anywhere_in_small_batches_gets_the_single_verdict() {
        for count in [1, 2, 3, 4, 5, 11, 17] {
            for bad in 0..count {
                let (keys, envelopes, signatures) = batch_with_bad(count, &[bad]);
                let (verdicts, _) = search(&keys, &envelopes, &signatures);
                assert!(!verdicts[bad], "{bad} of {count}");
                assert_eq!(verdicts.iter().filter(|ok| **ok).count(), count - 1, "{bad} of {count}");
            }
        }
    }

    /// Encodings near the edges (`y` around 0, 1, p − 1 and p..2²⁵⁵) and a few thousand
    /// pseudo-random ones, each with both sign bits.
    fn edge_and_random_encodings() -> Vec<[u8; 32]> {
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for low in 0u8..=255 {
            let mut near_p = [0xff; 32];
            near_p[0] = low;
            near_p[31] = 0x7f;
            let mut small = [0u8; 32];
            small[0] = low;
            cases.push(near_p);
            cases.push(small);
        }
        let mut state = [7u8; 32];
        for _ in 0..4096 {
            state = sha2::Sha256::digest(state).into();
            cases.push(state);
        }
        cases
            .into_iter()
            .flat_map(|case| {
                [0u8, 0x80].map(|sign| {
                    let mut bytes = case;
                    bytes[31] = (bytes[31] & 0x7f) | sign;
                    bytes
                })
            })
            .collect()
    }

    /// Every edge and random encoding gets the same verdict and point from both definitions.
    #[test]
    fn byte_canonicality_check_agrees_with_the_roundtrip() {
        for bytes in edge_and_random_encodings() {
            assert_eq!(decompress_canonical(&bytes), canonical_by_roundtrip(&bytes), "{}", hex::encode(bytes));
        }
    }

    /// The patched dalek's `decompress_batch` (four square roots side by side on AVX-512 IFMA, ADR
    /// 0010) gives the same point, or the same refusal, as `decompress` one at a time: for the edge
    /// and random encodings with both signs (about half of them are not on the curve), the eight
    /// small-order points, and multiples of the base point, at every position in a chunk of four.
    #[test]
    fn batch_decompression_agrees_with_one_at_a_time() {
        let mut encodings: Vec<CompressedEdwardsY> =
            edge_and_random_encodings().into_iter().map(CompressedEdwardsY).collect();
        let mut point = curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
        for _ in 0..512 {
            point += curve25519_dalek::constants::ED25519_BASEPOINT_POINT * Scalar::from(7u8);
            encodings.push(point.compress());
        }
        encodings.extend(curve25519_dalek::constants::EIGHT_TORSION.iter().map(EdwardsPoint::compress));
        let valid = encodings.iter().filter(|encoding| encoding.decompress().is_some()).count();
        assert!(valid > encodings.len() / 3 && valid < encodings.len(), "both kinds are covered: {valid}");
        // Every offset, so that each encoding is decompressed in every lane of a chunk and in the remainder.
        for offset in 0..5 {
            let slice = &encodings[offset..];
            let batch = CompressedEdwardsY::decompress_batch(slice);
            assert_eq!(batch.len(), slice.len());
            for (encoding, point) in slice.iter().zip(batch) {
                let single = encoding.decompress();
                assert_eq!(point, single, "{}", hex::encode(encoding.as_bytes()));
                assert_eq!(point.map(|p| p.compress()), single.map(|p| p.compress()));
            }
        }
    }

    /// Parsing a batch gives each signature the same result as parsing it alone, including
    /// non-canonical `s` and `R`, `R` off the curve and `R` of small order.
    #[test]
    fn batch_parsing_agrees_with_one_at_a_time() {
        let chain = ChainId::new("parse-test").expect("valid chain id");
        let secret = SecretKey::from_seed(&[9; 32]);
        let mut signatures: Vec<Signature> =
            (0..40u8).map(|i| secret.sign(SignatureDomain::Transaction, &chain, &Hash::digest(&[i]))).collect();
        signatures[1].0[63] = 0xff; // s not canonical
        signatures[5].0[..32].copy_from_slice(&[0xff; 32]); // R's y ≥ p
        signatures[9].0[..32].copy_from_slice(&curve25519_dalek::constants::EIGHT_TORSION[3].compress().to_bytes());
        signatures[13].0[0] ^= 1; // R most likely off the curve
        signatures[14].0[0] ^= 2;
        signatures[15].0[0] ^= 4;
        let references: Vec<&Signature> = signatures.iter().collect();
        let batch = ParsedSignature::parse_batch(&references);
        assert_eq!(batch.len(), signatures.len());
        let mut refused = 0;
        for (signature, parsed) in signatures.iter().zip(batch) {
            let single = ParsedSignature::parse(signature);
            assert_eq!(parsed.is_some(), single.is_some());
            refused += usize::from(single.is_none());
            if let (Some(parsed), Some(single)) = (parsed, single) {
                assert_eq!((parsed.r_bytes, parsed.r, parsed.s), (single.r_bytes, single.r, single.s));
            }
        }
        assert!(refused >= 3, "the broken encodings are refused: {refused}");
    }
}
