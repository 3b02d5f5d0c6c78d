//! Signature checks remembered across the simulated nodes of one run.
//!
//! In a consortium every validator checks each signature it receives on its own machine; in the
//! simulator all of them share one CPU, and checking the same signature once per node (and again
//! for every relayed copy and duplicate) made ed25519 most of what a seed cost. A check is a pure
//! function of its inputs, so a remembered answer is exactly what the check would say again: each
//! distinct (key, domain, digest, signature) is still checked by the real strict ed25519 code, bad
//! signatures included, once per run rather than once per node.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use covenant_consensus::{ConsensusCrypto, Ed25519Crypto};
use covenant_types::crypto::{PUBLIC_KEY_BYTES, SIGNATURE_BYTES};
use covenant_types::{
    ChainId, CryptoError, Hash, PublicKey, RejectedTx, SecretKey, Signature, SignatureDomain, SignedTx, VerifiedTx,
};

/// Consensus signature checks remembered per run (each entry about 200 bytes).
const SIGNATURE_CHECKS_MAX: usize = 65_536;
/// Transaction checks remembered per run.
const TX_CHECKS_MAX: usize = 16_384;

/// A map that forgets its oldest entry once it holds `capacity`.
struct Bounded<K, V> {
    map: BTreeMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Ord + Clone, V: Clone> Bounded<K, V> {
    fn new(capacity: usize) -> Bounded<K, V> {
        Bounded { map: BTreeMap::new(), order: VecDeque::new(), capacity }
    }

    fn get(&self, key: &K) -> Option<V> {
        self.map.get(key).cloned()
    }

    fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_some() {
            return;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.map.remove(&oldest);
        }
    }
}

type SignatureCheck = ([u8; PUBLIC_KEY_BYTES], SignatureDomain, Hash, [u8; SIGNATURE_BYTES]);
/// A transaction as its check sees it: body hash, signer, signature.
type TxCheck = (Hash, [u8; PUBLIC_KEY_BYTES], [u8; SIGNATURE_BYTES]);

/// Consensus signature checks of one run, on one chain, shared by all its nodes' engines.
pub(crate) struct SignatureMemo {
    chain: ChainId,
    checks: Mutex<Bounded<SignatureCheck, Result<(), CryptoError>>>,
}

impl SignatureMemo {
    pub fn new(chain: ChainId) -> Arc<SignatureMemo> {
        Arc::new(SignatureMemo { chain, checks: Mutex::new(Bounded::new(SIGNATURE_CHECKS_MAX)) })
    }
}

/// A node's consensus crypto: its own key signs; checks go through the run's memo.
pub(crate) struct MemoCrypto {
    own: Ed25519Crypto,
    memo: Arc<SignatureMemo>,
}

impl MemoCrypto {
    pub fn new(key: SecretKey, memo: Arc<SignatureMemo>) -> MemoCrypto {
        MemoCrypto { own: Ed25519Crypto::new(key), memo }
    }
}

impl ConsensusCrypto for MemoCrypto {
    fn public_key(&self) -> PublicKey {
        self.own.public_key()
    }

    fn sign(&self, domain: SignatureDomain, chain: &ChainId, digest: &Hash) -> Signature {
        self.own.sign(domain, chain, digest)
    }

    fn verify(
        &self,
        key: &PublicKey,
        domain: SignatureDomain,
        chain: &ChainId,
        digest: &Hash,
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        if *chain != self.memo.chain {
            return self.own.verify(key, domain, chain, digest, signature);
        }
        let check = (*key.as_bytes(), domain, *digest, signature.0);
        let mut checks = self.memo.checks.lock().expect("the memo lock is never poisoned");
        if let Some(result) = checks.get(&check) {
            return result;
        }
        let result = self.own.verify(key, domain, chain, digest, signature);
        checks.insert(check, result.clone());
        result
    }
}

/// Transaction checks (chain id and signature) of one run.
pub(crate) struct TxMemo {
    checks: Bounded<TxCheck, Result<VerifiedTx, RejectedTx>>,
}

impl TxMemo {
    pub fn new() -> TxMemo {
        TxMemo { checks: Bounded::new(TX_CHECKS_MAX) }
    }

    /// What [`VerifiedTx::verify_batch`] says of `txs`, checking in one batch only those not seen.
    pub fn verify_batch(&mut self, txs: Vec<SignedTx>, chain: &ChainId) -> Vec<Result<VerifiedTx, RejectedTx>> {
        let keys: Vec<_> = txs.iter().map(|tx| (tx.body.hash(), *tx.signer.as_bytes(), tx.signature.0)).collect();
        let mut results: Vec<Option<Result<VerifiedTx, RejectedTx>>> =
            keys.iter().map(|key| self.checks.get(key)).collect();
        let unseen: Vec<usize> = (0..txs.len()).filter(|&index| results[index].is_none()).collect();
        let mut txs: Vec<Option<SignedTx>> = txs.into_iter().map(Some).collect();
        let batch: Vec<SignedTx> = unseen.iter().filter_map(|&index| txs[index].take()).collect();
        for (&index, result) in unseen.iter().zip(VerifiedTx::verify_batch(batch, chain)) {
            self.checks.insert(keys[index], result.clone());
            results[index] = Some(result);
        }
        results.into_iter().map(|result| result.expect("every transaction checked")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> ChainId {
        ChainId::new("memo-test").expect("valid chain id")
    }

    #[test]
    fn a_remembered_check_answers_as_the_check_does() {
        let key = SecretKey::from_seed(&[7; 32]);
        let memo = SignatureMemo::new(chain());
        let crypto = MemoCrypto::new(SecretKey::from_seed(&[8; 32]), memo);
        let digest = Hash::digest(b"message");
        let good = key.sign(SignatureDomain::ConsensusMessage, &chain(), &digest);
        let mut bad = good;
        bad.0[3] ^= 1;
        for _ in 0..2 {
            assert!(
                crypto.verify(&key.public_key(), SignatureDomain::ConsensusMessage, &chain(), &digest, &good).is_ok()
            );
            assert!(
                crypto.verify(&key.public_key(), SignatureDomain::ConsensusMessage, &chain(), &digest, &bad).is_err()
            );
            assert!(crypto.verify(&key.public_key(), SignatureDomain::CommitSeal, &chain(), &digest, &good).is_err());
        }
    }

    #[test]
    fn remembered_transaction_checks_answer_as_a_fresh_batch_does() {
        let key = SecretKey::from_seed(&[9; 32]);
        let transfer = |nonce: u64| {
            let body = covenant_types::TxBody {
                version: covenant_types::ENCODING_VERSION,
                chain_id: chain(),
                sender: covenant_types::Principal::Operator(covenant_types::OperatorId::new("m0.a").expect("id")),
                nonce,
                created_at_ms: 1,
                payload: covenant_types::Payload::Transfer(covenant_types::Transfer {
                    from: covenant_types::AccountId::new("m0/a").expect("id"),
                    to: covenant_types::AccountId::new("m1/b").expect("id"),
                    asset: covenant_types::AssetId::new("twd").expect("id"),
                    amount: 1,
                    memo: String::new(),
                }),
            };
            SignedTx::sign(body, &key)
        };
        let mut forged = transfer(2);
        forged.signature.0[5] ^= 1;
        let first = vec![transfer(1), forged.clone()];
        // The second batch mixes remembered checks (one good, one bad) with a new one.
        let second = vec![forged, transfer(3), transfer(1)];
        let mut memo = TxMemo::new();
        for batch in [first, second] {
            let remembered = memo.verify_batch(batch.clone(), &chain());
            assert_eq!(remembered, VerifiedTx::verify_batch(batch, &chain()));
        }
        assert_eq!(memo.checks.map.len(), 3);
    }

    #[test]
    fn the_memo_forgets_its_oldest_entries() {
        let mut bounded = Bounded::new(2);
        bounded.insert(1, "a");
        bounded.insert(2, "b");
        bounded.insert(3, "c");
        assert_eq!((bounded.get(&1), bounded.get(&2), bounded.get(&3)), (None, Some("b"), Some("c")));
        assert_eq!(bounded.map.len(), 2);
    }
}
