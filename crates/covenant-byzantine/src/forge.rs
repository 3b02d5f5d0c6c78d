//! Messages a Byzantine validator sends: garbage, bulky future ROUND-CHANGEs, equivocating votes,
//! transaction batches with a bad signature. Shared by the Byzantine node process (`attacks`) and the
//! end-to-end tests' in-process attacker (`covenant_tests::attacker`).

use std::sync::Arc;

use covenant_consensus::{
    Commit, ConsensusCrypto, Ed25519Crypto, Message, Prepare, PreparedCertificate, PreparedRef, RoundChange,
    RoundChangeMessage, Signed, seal_digest,
};
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload, Principal,
    SecretKey, Signature, SignatureDomain, SignedTx, Transfer, TxBody,
};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// A small fast generator for garbage (not for anything secret).
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `len` random bytes that decode neither as a consensus message nor as a transaction batch (checked,
/// so that the test can rely on every one being undecodable garbage).
pub fn garbage(random: &mut SplitMix, len: usize) -> Vec<u8> {
    loop {
        let mut bytes: Vec<u8> = (0..len.div_ceil(8)).flat_map(|_| random.next_u64().to_le_bytes()).take(len).collect();
        // An enum tag no consensus message has.
        if let Some(first) = bytes.first_mut() {
            *first = 0xff;
        }
        let undecodable = Message::decode(&bytes).is_err()
            && covenant_types::batch::decode_tx_batch(&bytes)
                .and_then(|txs| txs.into_iter().map(SignedTx::decode).collect::<Result<Vec<_>, _>>())
                .is_err();
        if undecodable {
            return bytes;
        }
    }
}

/// What [`bulky_round_change`] builds.
pub struct BulkyRoundChange<'a> {
    /// The chain.
    pub chain: &'a ChainId,
    /// The author named in the ROUND-CHANGE.
    pub author: NodeId,
    /// Signs the outer ROUND-CHANGE with the author's real consensus key; `None`: a garbage signature.
    pub signer: Option<&'a SecretKey>,
    /// Height the ROUND-CHANGE is for.
    pub height: u64,
    /// Round it moves to (at least 1).
    pub round: u32,
    /// Validators named as authors of the certificate's PREPAREs (their signatures are garbage).
    pub prepare_authors: Vec<NodeId>,
    /// About how many bytes the encoded message has (the prepared block's transactions' memos).
    pub bytes: usize,
    /// Makes the message distinct from every other salt's.
    pub salt: u64,
}

/// Bytes of one padding transaction's memo (under the transaction size limit, in case a decoder
/// ever checks it).
const MEMO_BYTES: usize = 200 * 1024;

/// An encoded ROUND-CHANGE whose prepared certificate is bogus (a made-up block padded with
/// transactions with large memos and garbage signatures, PREPAREs with garbage signatures), with a
/// valid or a garbage outer signature. Decodes as a consensus message.
pub fn bulky_round_change(spec: &BulkyRoundChange<'_>) -> Vec<u8> {
    let salt_bytes = spec.salt.to_be_bytes();
    let operator = OperatorId::new("bank-3.ops").expect("operator id");
    let from = AccountId::new("bank-3/padding").expect("account id");
    let to = AccountId::new("bank-0/padding").expect("account id");
    let asset = AssetId::new("usd").expect("asset id");
    let count = spec.bytes.div_ceil(MEMO_BYTES).max(1);
    let signer = SecretKey::from_seed(&[7; 32]).public_key();
    let transactions: Vec<SignedTx> = (0..count)
        .map(|index| {
            let mut memo = vec![b'm'; MEMO_BYTES];
            let tag = format!("{:016x}-{index:08x}-", spec.salt);
            memo[..tag.len()].copy_from_slice(tag.as_bytes());
            let memo = String::from_utf8(memo).expect("ASCII");
            SignedTx {
                body: TxBody {
                    version: ENCODING_VERSION,
                    chain_id: spec.chain.clone(),
                    sender: Principal::Operator(operator.clone()),
                    nonce: spec.salt.wrapping_mul(1_000_000).wrapping_add(index as u64),
                    created_at_ms: now_ms(),
                    payload: Payload::Transfer(Transfer {
                        from: from.clone(),
                        to: to.clone(),
                        asset: asset.clone(),
                        amount: 1,
                        memo,
                    }),
                },
                signer,
                signature: Signature([0x5a; 64]),
            }
        })
        .collect();
    let header = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: spec.chain.clone(),
        height: spec.height,
        round: 0,
        parent_hash: Hash::digest_parts(&[b"bogus parent", &salt_bytes]),
        timestamp_ms: now_ms(),
        proposer: spec.author.clone(),
        transactions_root: Hash::digest_parts(&[b"bogus transactions", &salt_bytes]),
        state_root: Hash::digest_parts(&[b"bogus state", &salt_bytes]),
        validator_set_hash: Hash::ZERO,
        parameters_hash: Hash::ZERO,
        parent_commit_seals: Vec::new(),
    };
    let block = Block { header, transactions: Arc::new(transactions) };
    let block_hash = block.hash();
    let prepares = spec
        .prepare_authors
        .iter()
        .enumerate()
        .map(|(index, author)| Signed {
            author: author.clone(),
            body: Prepare { height: spec.height, round: 0, block_hash },
            signature: Signature([index as u8 + 1; 64]),
        })
        .collect();
    let body = RoundChange {
        height: spec.height,
        round: spec.round.max(1),
        prepared: Some(PreparedRef { round: 0, block_hash }),
    };
    let round_change = match spec.signer {
        Some(key) => {
            let crypto = Ed25519Crypto::new(SecretKey::from_seed(&key.seed()));
            Signed::sign(spec.author.clone(), body, &crypto, spec.chain)
        }
        None => Signed { author: spec.author.clone(), body, signature: Signature([0xab; 64]) },
    };
    Message::RoundChange(Box::new(RoundChangeMessage {
        round_change,
        prepared: Some(PreparedCertificate { block, prepares }),
    }))
    .encode()
}

/// Two conflicting votes (a PREPARE and a COMMIT with a valid seal each) for made-up blocks at the same
/// height and round, both signed with `key`: what an equivocating validator sends, one pair to some
/// peers and the other pair to the rest.
pub fn equivocating_votes(
    chain: &ChainId,
    author: &NodeId,
    key: &SecretKey,
    height: u64,
    round: u32,
    salt: u64,
) -> [Vec<Vec<u8>>; 2] {
    let crypto = Ed25519Crypto::new(SecretKey::from_seed(&key.seed()));
    let votes = |side: u8| {
        let block_hash = Hash::digest_parts(&[b"equivocation", &salt.to_be_bytes(), &[side]]);
        let prepare = Signed::sign(author.clone(), Prepare { height, round, block_hash }, &crypto, chain);
        let seal = crypto.sign(SignatureDomain::CommitSeal, chain, &seal_digest(height, round, block_hash));
        let commit = Signed::sign(author.clone(), Commit { height, round, block_hash, seal }, &crypto, chain);
        vec![Message::Prepare(prepare).encode(), Message::Commit(commit).encode()]
    };
    [votes(0), votes(1)]
}

/// A gossip payload of `count` transfers (as the nodes batch them) signed by a key of no one, one of
/// them with a corrupted signature: a node that checks the batch must blame whoever sent it.
pub fn bad_signature_batch(chain: &ChainId, sender: &OperatorId, count: usize, salt: u64) -> Vec<u8> {
    let key = SecretKey::from_seed(&Hash::digest_parts(&[b"bad batch key", &salt.to_be_bytes()]).0);
    let txs: Vec<Vec<u8>> = (0..count.max(1))
        .map(|index| {
            let body = TxBody {
                version: ENCODING_VERSION,
                chain_id: chain.clone(),
                sender: Principal::Operator(sender.clone()),
                nonce: salt.wrapping_mul(1_000).wrapping_add(index as u64),
                created_at_ms: now_ms(),
                payload: Payload::Transfer(Transfer {
                    from: AccountId::new("bank-0/treasury").expect("account id"),
                    to: AccountId::new("bank-1/treasury").expect("account id"),
                    asset: AssetId::new("twd").expect("asset id"),
                    amount: 1,
                    memo: String::new(),
                }),
            };
            let mut tx = SignedTx::sign(body, &key);
            if index == count / 2 {
                tx.signature.0[0] ^= 0x01;
            }
            tx.encode()
        })
        .collect();
    covenant_types::batch::encode_tx_batch(txs.iter().map(Vec::as_slice))
}
