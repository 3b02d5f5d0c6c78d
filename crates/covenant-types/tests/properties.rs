//! Property tests: canonical round trips, hostile bytes, and domain separation of signatures.

mod common;

use common::*;
use covenant_types::*;
use proptest::prelude::*;

fn id_text() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,20}"
}

fn account() -> impl Strategy<Value = AccountId> {
    ("[a-z0-9][a-z0-9-]{0,10}", "[a-z0-9]{1,10}").prop_map(|(m, a)| AccountId::new(format!("{m}/{a}")).unwrap())
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (account(), account(), id_text(), any::<u64>(), ".{0,40}").prop_map(|(from, to, asset, amount, memo)| {
            Payload::Transfer(Transfer { from, to, asset: AssetId::new(asset).unwrap(), amount, memo })
        }),
        (id_text(), proptest::option::of(account()), prop::collection::vec(any::<u8>(), 0..200), 0u8..3).prop_map(
            |(schema, subject, bytes, class)| {
                Payload::DataRecord(DataRecord {
                    schema: SchemaId::new(schema).unwrap(),
                    subject,
                    classification: [Classification::Public, Classification::Internal, Classification::CustomerData]
                        [class as usize],
                    content: RecordContent::Inline(bytes),
                })
            }
        ),
        (account(), any::<[u8; 32]>(), any::<u64>()).prop_map(|(account, evidence, expires_at_ms)| {
            Payload::KycAttestation(KycAttestation { account, evidence: Hash(evidence), expires_at_ms })
        }),
        any::<[u8; 32]>().prop_map(|id| Payload::GovernanceApprove(Hash(id))),
        (id_text(), id_text(), prop::collection::vec(any::<u8>(), 0..64), any::<u64>()).prop_map(
            |(contract, function, input, fuel_limit)| {
                Payload::ContractCall(ContractCall {
                    contract: ContractId::new(contract).unwrap(),
                    function,
                    input,
                    fuel_limit,
                })
            }
        ),
    ]
}

fn signed_tx() -> impl Strategy<Value = SignedTx> {
    (id_text(), id_text(), any::<u64>(), any::<u64>(), payload(), 1u8..=255).prop_map(
        |(chain, sender, nonce, created_at_ms, payload, seed)| {
            let body = TxBody {
                version: ENCODING_VERSION,
                chain_id: ChainId::new(chain).unwrap(),
                sender: Principal::Operator(OperatorId::new(sender).unwrap()),
                nonce,
                created_at_ms,
                payload,
            };
            SignedTx::sign(body, &key(seed))
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn transaction_round_trip_is_exact(tx in signed_tx()) {
        let bytes = tx.encode();
        let decoded = SignedTx::decode(&bytes).unwrap();
        prop_assert_eq!(&decoded, &tx);
        prop_assert_eq!(decoded.encode(), bytes, "re-encoding gives the same bytes");
    }

    #[test]
    fn block_round_trip_is_exact(txs in prop::collection::vec(signed_tx(), 0..6)) {
        let block = Block { header: header(), transactions: txs.into() };
        let bytes = block.encode();
        prop_assert_eq!(Block::decode(&bytes).unwrap(), block);
    }

    #[test]
    fn one_pass_gives_the_transactions_root_and_encoded_length(txs in prop::collection::vec(signed_tx(), 0..6)) {
        let block = Block { header: header(), transactions: txs.into() };
        let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.body.hash()).collect();
        prop_assert_eq!(block.transactions_root_and_encoded_len(), (merkle_root(&hashes), block.encode().len()));
        let lengths: Vec<usize> = block.transactions.iter().map(|tx| tx.encode().len()).collect();
        let largest = lengths.iter().copied().max();
        let position = largest.and_then(|max| lengths.iter().position(|len| *len == max));
        prop_assert_eq!(block.scan().largest_transaction, position.zip(largest));
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = SignedTx::decode(&bytes);
        let _ = Block::decode(&bytes);
        let _ = decode::<BlockHeader>("header", &bytes, 4096);
        let _ = decode::<GovernanceAction>("governance action", &bytes, 4096);
    }

    #[test]
    fn mutated_transactions_never_panic_and_never_verify_wrongly(
        tx in signed_tx(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let mut bytes = tx.encode();
        for (index, mask) in flips {
            let i = index.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Ok(mutated) = SignedTx::decode(&bytes) {
            let chain = mutated.body.chain_id.clone();
            let verdict = VerifiedTx::verify(mutated.clone(), &chain);
            // A mutated transaction verifies only if the mutation left body, key and signature intact
            // (it cannot: every byte belongs to one of them), so any success must be the original.
            if verdict.is_ok() {
                prop_assert_eq!(mutated, tx);
            }
        }
    }

    #[test]
    fn trailing_bytes_are_refused(tx in signed_tx(), extra in prop::collection::vec(any::<u8>(), 1..8)) {
        let mut bytes = tx.encode();
        bytes.extend(extra);
        prop_assert!(SignedTx::decode(&bytes).is_err());
    }

    #[test]
    fn verified_transaction_knows_its_hash_and_encoded_length(tx in signed_tx()) {
        let chain = tx.body.chain_id.clone();
        let verified = VerifiedTx::verify(tx.clone(), &chain).unwrap();
        prop_assert_eq!(verified.hash(), tx.body.hash());
        prop_assert_eq!(verified.encoded_bytes(), tx.encode().len());
        prop_assert_eq!(verified.into_inner(), tx);
    }

    #[test]
    fn hash_of_is_the_digest_of_the_canonical_bytes(tx in signed_tx()) {
        prop_assert_eq!(covenant_types::hash_of(&tx), Hash::digest(&covenant_types::encode(&tx)));
        prop_assert_eq!(tx.body.hash(), Hash::digest(&covenant_types::encode(&tx.body)));
    }

    #[test]
    fn signature_never_verifies_on_another_chain(tx in signed_tx(), other in id_text()) {
        let other = ChainId::new(other).unwrap();
        prop_assume!(other != tx.body.chain_id);
        let hash = tx.body.hash();
        prop_assert!(tx.signer.verify(SignatureDomain::Transaction, &tx.body.chain_id, &hash, &tx.signature).is_ok());
        prop_assert!(tx.signer.verify(SignatureDomain::Transaction, &other, &hash, &tx.signature).is_err());
        // Re-labelling the body with the other chain does not help either.
        let mut moved = tx.clone();
        moved.body.chain_id = other.clone();
        prop_assert!(VerifiedTx::verify(moved, &other).is_err());
    }

    #[test]
    fn signature_never_verifies_as_another_kind(tx in signed_tx()) {
        let hash = tx.body.hash();
        for domain in [SignatureDomain::ConsensusMessage, SignatureDomain::CommitSeal, SignatureDomain::ApiRequest, SignatureDomain::AuditAnchor] {
            prop_assert!(tx.signer.verify(domain, &tx.body.chain_id, &hash, &tx.signature).is_err());
        }
    }

    #[test]
    fn batch_and_single_agree_on_mutated_signatures(
        count in 1usize..12,
        signers in 1usize..12,
        corrupt in prop::collection::vec((any::<prop::sample::Index>(), 0usize..64, 1u8..=255), 0..4),
        swap in prop::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())),
    ) {
        let chain = chain();
        // Fewer signers than items: the batch holds keys several times (their terms are merged).
        let keys: Vec<SecretKey> = (0..count).map(|i| key((i % signers) as u8 + 1)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let messages: Vec<Hash> = (0..count).map(|i| Hash::digest(&i.to_le_bytes())).collect();
        let mut signatures: Vec<Signature> =
            keys.iter().zip(&messages).map(|(k, m)| k.sign(SignatureDomain::Transaction, &chain, m)).collect();
        for (index, byte, mask) in corrupt {
            signatures[index.index(count)].0[byte] ^= mask;
        }
        if let Some((a, b)) = swap {
            signatures.swap(a.index(count), b.index(count));
        }
        let items: Vec<BatchItem<'_>> = (0..count)
            .map(|i| BatchItem { key: &publics[i], domain: SignatureDomain::Transaction, message: &messages[i], signature: &signatures[i] })
            .collect();
        let batch = verify_batch(&chain, &items);
        for i in 0..count {
            let single = publics[i].verify(SignatureDomain::Transaction, &chain, &messages[i], &signatures[i]);
            prop_assert_eq!(batch[i].is_ok(), single.is_ok(), "item {} disagrees", i);
        }
    }
}

/// How many signatures of a batch to spoil: none, one, several, or all of them.
fn bad_count() -> impl Strategy<Value = BadCount> {
    prop_oneof![
        Just(BadCount::Some(0)),
        Just(BadCount::Some(1)),
        (2usize..9).prop_map(BadCount::Some),
        Just(BadCount::All)
    ]
}

#[derive(Clone, Copy, Debug)]
enum BadCount {
    Some(usize),
    All,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Batches large enough to be bisected, with bad signatures at random positions, of three kinds:
    /// a signature over another message and one by another key (both pass the encoding checks and
    /// fail only the equation, so the bisection must find them) and a flipped bit (often refused
    /// before the batch). Every verdict is the single verification's.
    #[test]
    fn batch_and_single_agree_with_bad_signatures_at_random_positions(
        count in 1usize..160,
        bad in bad_count(),
        positions in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 8),
    ) {
        let chain = chain();
        let keys: Vec<SecretKey> = (0..count).map(|i| key((i % 13) as u8 + 1)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(SecretKey::public_key).collect();
        let messages: Vec<Hash> = (0..count).map(|i| Hash::digest(&i.to_le_bytes())).collect();
        let mut signatures: Vec<Signature> =
            keys.iter().zip(&messages).map(|(k, m)| k.sign(SignatureDomain::Transaction, &chain, m)).collect();
        let spoiled: Vec<(usize, u8)> = match bad {
            BadCount::Some(n) => positions.iter().take(n).map(|(index, kind)| (index.index(count), *kind)).collect(),
            BadCount::All => (0..count).map(|index| (index, (index % 3) as u8)).collect(),
        };
        for (index, kind) in spoiled {
            signatures[index] = match kind {
                0 => keys[index].sign(SignatureDomain::Transaction, &chain, &Hash::digest(b"another message")),
                1 => key(200).sign(SignatureDomain::Transaction, &chain, &messages[index]),
                _ => {
                    let mut flipped = signatures[index];
                    flipped.0[index % 64] ^= 1 << (index % 8);
                    flipped
                }
            };
        }
        let items: Vec<BatchItem<'_>> = (0..count)
            .map(|i| BatchItem { key: &publics[i], domain: SignatureDomain::Transaction, message: &messages[i], signature: &signatures[i] })
            .collect();
        let batch = verify_batch(&chain, &items);
        let mut refused = 0;
        for i in 0..count {
            let single = publics[i].verify(SignatureDomain::Transaction, &chain, &messages[i], &signatures[i]);
            prop_assert_eq!(batch[i].is_ok(), single.is_ok(), "item {} of {} disagrees", i, count);
            refused += usize::from(single.is_err());
        }
        if let BadCount::All = bad {
            prop_assert_eq!(refused, count);
        }
    }
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    let bytes = vec![0u8; limits::TX_BYTES_MAX + 1];
    match SignedTx::decode(&bytes) {
        Err(DecodeError::TooLarge { len_bytes, max_bytes, .. }) => {
            assert_eq!(len_bytes, limits::TX_BYTES_MAX + 1);
            assert_eq!(max_bytes, limits::TX_BYTES_MAX);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // A vector claiming 2^31 - 1 elements in a few bytes: refused as malformed, cheaply.
    let mut bytes = encode(&transfer_body(0));
    bytes.truncate(20);
    bytes.extend([0xff, 0xff, 0xff, 0xff, 0x07]);
    assert!(decode::<Vec<SignedTx>>("txs", &[0xff, 0xff, 0xff, 0xff, 0x07], 64).is_err());
    assert!(SignedTx::decode(&bytes).is_err());
}

#[test]
fn non_minimal_length_prefix_is_refused() {
    let tx = signed_transfer(0);
    let bytes = tx.encode();
    // The chain id length (13) sits after the 2-byte version; re-encode it as a two-byte ULEB128.
    assert_eq!(bytes[2], 13);
    let mut padded = bytes[..2].to_vec();
    padded.extend([0x8d, 0x00]);
    padded.extend(&bytes[3..]);
    assert!(SignedTx::decode(&padded).is_err());
}

#[test]
fn unknown_version_is_refused() {
    let mut body = transfer_body(0);
    body.version = ENCODING_VERSION + 1;
    let tx = SignedTx::sign(body, &key(1));
    assert!(matches!(SignedTx::decode(&tx.encode()), Err(DecodeError::UnsupportedVersion { found: 2, .. })));
}

#[test]
fn weak_key_in_a_transaction_is_refused_at_decode() {
    let mut bytes = signed_transfer(0).encode();
    let signer_offset = bytes.len() - 64 - 32;
    let weak = hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap();
    bytes[signer_offset..signer_offset + 32].copy_from_slice(&weak);
    let error = SignedTx::decode(&bytes).unwrap_err();
    assert!(error.to_string().contains("weak"), "{error}");
}

#[test]
fn wrong_chain_is_named() {
    let tx = signed_transfer(0);
    let other = ChainId::new("covenant-prod").unwrap();
    let error = VerifiedTx::verify(tx, &other).unwrap_err().error;
    assert!(matches!(error, TxError::WrongChain { .. }), "{error}");
}

#[test]
fn ids_are_validated_on_decode() {
    let json = r#""Bank A""#;
    assert!(serde_json::from_str::<MemberId>(json).is_err());
    assert!(MemberId::new("").is_err());
    assert!(MemberId::new("x".repeat(65)).is_err());
    assert!(AccountId::new("bank-a/cust-1").is_ok());
    assert!(MemberId::new("bank-a/cust-1").is_err());
}

#[test]
fn validator_set_quorum_and_proposer_rotation() {
    let validators: Vec<Validator> = (0..4u8)
        .map(|i| Validator { id: NodeId::new(format!("v{i}")).unwrap(), consensus_key: key(i + 1).public_key() })
        .collect();
    let set = ValidatorSet::new(validators.clone()).unwrap();
    assert_eq!((set.len(), set.quorum(), set.max_faulty()), (4, 3, 1));
    assert_eq!(set.proposer(0, 0).id.as_str(), "v0");
    assert_eq!(set.proposer(1, 0).id.as_str(), "v1");
    assert_eq!(set.proposer(1, 3).id.as_str(), "v0");
    for n in 1..=10usize {
        let set = ValidatorSet::new(
            (0..n)
                .map(|i| Validator {
                    id: NodeId::new(format!("v{i:02}")).unwrap(),
                    consensus_key: key(i as u8 + 1).public_key(),
                })
                .collect(),
        )
        .unwrap();
        // Two quorums always intersect in at least f + 1 validators, so in at least one honest one.
        assert!(2 * set.quorum() > n + set.max_faulty(), "n = {n}");
    }
    let mut duplicate = validators.clone();
    duplicate[1].consensus_key = duplicate[0].consensus_key;
    assert!(matches!(ValidatorSet::new(duplicate), Err(ValidatorSetError::Duplicate(_))));
    assert!(matches!(ValidatorSet::new(vec![]), Err(ValidatorSetError::Empty)));
}

/// The length prefix of the transaction list takes two bytes from 128 transactions and three from
/// 16,384: the one-pass length must count them as the encoding does.
#[test]
fn encoded_length_counts_long_transaction_lists() {
    let tx = signed_transfer(0);
    for count in [127, 128, 16_383, 16_384] {
        let block = Block { header: header(), transactions: vec![tx.clone(); count].into() };
        assert_eq!(block.transactions_root_and_encoded_len().1, block.encode().len(), "{count} transactions");
    }
}
