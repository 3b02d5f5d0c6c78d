//! The ed25519-speccheck edge cases (Chalkias, Garillot, Nikolaenko: "Taming the many EdDSAs", 2020)
//! through both verification paths: single strict verification and batch verification must give the
//! same verdict for every case, alone and mixed into batches of valid signatures.
//!
//! The cases sign raw messages, not our domain-separated envelopes, so they are checked with the raw
//! primitives exposed for this purpose: `PublicKey::from_bytes` (where weak keys are refused) and the
//! raw strict and batch checks.

use covenant_types::crypto::{raw_verify_batch, raw_verify_strict};
use covenant_types::{PublicKey, SecretKey, Signature};

struct Case {
    message: &'static str,
    key: &'static str,
    signature: &'static str,
    /// What the case exercises.
    what: &'static str,
}

const CASES: &[Case] = &[
    Case {
        message: "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
        what: "0: small-order A and R, s = 0",
    },
    Case {
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        what: "1: small-order A, mixed-order R",
    },
    Case {
        message: "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        what: "2: mixed-order A, small-order R",
    },
    Case {
        message: "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        what: "3: mixed-order A and R, both equations hold",
    },
    Case {
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        what: "4: mixed-order A and R, only the cofactored equation holds",
    },
    Case {
        message: "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
        key: "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
        signature: "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        what: "5: mixed-order A, torsion-free R, only the cofactored equation holds",
    },
    Case {
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        what: "6: honest A, s >= l (non-canonical scalar)",
    },
    Case {
        message: "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
        key: "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
        signature: "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        what: "7: honest A, s >> l",
    },
    Case {
        message: "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa182ef1a5b928da07fec769cc8a12db6bcf70dab3f3227fa315e9d5e3e01a3405",
        what: "8: mixed-order A, small-order R",
    },
    Case {
        message: "fdaebc429f4a735932a160da1301080c13280eea8bc280d1b392c6b9e6ba3a5a",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f454d370c8d9fc323a41450f8d513eafeb5b0697390c1e505a0d4ddc71f566607",
        what: "9: mixed-order A, non-canonical small-order R",
    },
    Case {
        message: "84b698d39be126ff55fe45079e6c8bf64a0d7db6994560b4e96b7021eb39c1a1",
        key: "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
        signature: "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f084d5b99c2a9463d9c8bd5026916996984eeec87ddf1d3be329006ace1b37b09",
        what: "10: mixed-order A, non-canonical small-order R (second)",
    },
    Case {
        message: "2a66241a42a9ee12994d8068dcf1bb7dfc6637b45450acd43711f637fa5080fc",
        key: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        signature: "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000",
        what: "11: small-order A and R (second message)",
    },
];

fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).expect("test vector hex");
    out
}

/// Verdict of the strict single path: the key must pass `PublicKey::from_bytes`, then the signature
/// must pass strict verification.
fn single_verdict(case: &Case) -> bool {
    let Ok(key) = PublicKey::from_bytes(&bytes::<32>(case.key)) else { return false };
    let message = hex::decode(case.message).unwrap();
    raw_verify_strict(&key, &message, &Signature(bytes::<64>(case.signature)))
}

fn valid_filler(count: usize) -> Vec<(PublicKey, Vec<u8>, Signature)> {
    (0..count)
        .map(|i| {
            let seed = [i as u8 + 1; 32];
            let message = format!("filler message {i}").into_bytes();
            let signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let signature = Signature(ed25519_dalek::Signer::sign(&signing_key, &message).to_bytes());
            (SecretKey::from_seed(&seed).public_key(), message, signature)
        })
        .collect()
}

#[test]
fn weak_and_non_canonical_keys_are_refused_at_entry() {
    for key in [
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
        "0100000000000000000000000000000000000000000000000000000000000000", // identity
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
        "0000000000000000000000000000000000000000000000000000000000000080", // order 4
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p: non-canonical
        "0100000000000000000000000000000000000000000000000000000000000080", // identity, x sign set
    ] {
        assert!(PublicKey::from_bytes(&bytes::<32>(key)).is_err(), "key {key} must be refused");
    }
    // A mixed-order key is not weak: the cofactored equation makes its torsion component irrelevant.
    assert!(
        PublicKey::from_bytes(&bytes::<32>("f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43")).is_ok()
    );
}

#[test]
fn speccheck_verdicts_are_the_expected_strict_ones() {
    // Accepted: exactly the cases whose key is not weak, whose encodings are canonical, whose R is not
    // of small order and whose cofactored equation holds (3, 4, 5). Refused: small-order keys (0, 1,
    // 11), small-order R (2, 8), non-canonical s (6, 7), non-canonical R (9, 10).
    let accepted: Vec<usize> = CASES.iter().enumerate().filter(|(_, c)| single_verdict(c)).map(|(i, _)| i).collect();
    assert_eq!(accepted, vec![3, 4, 5], "{:?}", CASES.iter().map(|c| c.what).collect::<Vec<_>>());
}

#[test]
fn batch_agrees_with_single_on_every_speccheck_case() {
    for (index, case) in CASES.iter().enumerate() {
        let Ok(key) = PublicKey::from_bytes(&bytes::<32>(case.key)) else { continue };
        let message = hex::decode(case.message).unwrap();
        let signature = Signature(bytes::<64>(case.signature));
        let expected = single_verdict(case);
        for filler_count in [0usize, 1, 7, 63] {
            let filler = valid_filler(filler_count);
            let mut keys: Vec<&PublicKey> = filler.iter().map(|(k, _, _)| k).collect();
            let mut messages: Vec<&[u8]> = filler.iter().map(|(_, m, _)| m.as_slice()).collect();
            let mut signatures: Vec<&Signature> = filler.iter().map(|(_, _, s)| s).collect();
            let position = filler_count / 2;
            keys.insert(position, &key);
            messages.insert(position, &message);
            signatures.insert(position, &signature);
            let verdicts = raw_verify_batch(&keys, &messages, &signatures);
            assert_eq!(verdicts[position], expected, "case {index} ({}) in a batch of {}", case.what, filler_count + 1);
            for (i, verdict) in verdicts.iter().enumerate() {
                if i != position {
                    assert!(verdict, "valid filler {i} rejected next to case {index}");
                }
            }
        }
    }
}

/// Signatures by an honest key whose `R` carries an order-8 torsion component: valid under the
/// cofactored equation only. Strict verification rejects them. ed25519-dalek's plain batch equation,
/// with its random 128-bit coefficient, accepts such a signature whenever the coefficient is a multiple
/// of 8: our batch path must never do so.
fn torsioned_signatures(count: usize) -> (PublicKey, Vec<Vec<u8>>, Vec<Signature>) {
    use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};

    let seed = [42u8; 32];
    let expanded = Sha512::digest(seed);
    let mut scalar_bytes = [0u8; 32];
    scalar_bytes.copy_from_slice(&expanded[..32]);
    scalar_bytes[0] &= 248;
    scalar_bytes[31] &= 127;
    scalar_bytes[31] |= 64;
    let a = Scalar::from_bytes_mod_order(scalar_bytes);
    let public = SecretKey::from_seed(&seed).public_key();
    assert_eq!((a * ED25519_BASEPOINT_POINT).compress().to_bytes(), *public.as_bytes());
    let torsion = CompressedEdwardsY(bytes::<32>("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
        .decompress()
        .unwrap();
    let mut messages = Vec::new();
    let mut signatures = Vec::new();
    for i in 0..count {
        let message = format!("torsioned {i}").into_bytes();
        let r = Scalar::from_bytes_mod_order_wide(&Sha512::digest(&message).into());
        let big_r = (r * ED25519_BASEPOINT_POINT + torsion).compress();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(big_r.as_bytes())
                .chain_update(public.as_bytes())
                .chain_update(&message)
                .finalize()
                .into(),
        );
        let s = r + k * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        messages.push(message);
        signatures.push(Signature(signature));
    }
    (public, messages, signatures)
}

#[test]
fn cofactored_only_signatures_get_one_verdict_on_both_paths() {
    let (public, messages, signatures) = torsioned_signatures(64);
    let filler = valid_filler(15);
    let dalek_key = ed25519_dalek::VerifyingKey::from_bytes(public.as_bytes()).unwrap();
    let mut dalek_batch_accepted = 0;
    for (message, signature) in messages.iter().zip(&signatures) {
        // Negative control: ed25519-dalek's own two paths disagree on these signatures. Its strict
        // single check always refuses them; its batch accepts about one in eight.
        let dalek_signature = ed25519_dalek::Signature::from_bytes(&signature.0);
        assert!(dalek_key.verify_strict(message, &dalek_signature).is_err());
        if ed25519_dalek::verify_batch(&[message.as_slice()], &[dalek_signature], &[dalek_key]).is_ok() {
            dalek_batch_accepted += 1;
        }
        // Ours agree: both accept (the cofactored equation holds), alone and inside a batch.
        assert!(raw_verify_strict(&public, message, signature));
        let mut keys: Vec<&PublicKey> = filler.iter().map(|(k, _, _)| k).collect();
        let mut batch_messages: Vec<&[u8]> = filler.iter().map(|(_, m, _)| m.as_slice()).collect();
        let mut batch_signatures: Vec<&Signature> = filler.iter().map(|(_, _, s)| s).collect();
        keys.push(&public);
        batch_messages.push(message);
        batch_signatures.push(signature);
        let verdicts = raw_verify_batch(&keys, &batch_messages, &batch_signatures);
        assert!(verdicts.iter().all(|v| *v), "batch and single verification disagree");
    }
    assert!(dalek_batch_accepted > 0 && dalek_batch_accepted < 64, "negative control: {dalek_batch_accepted}/64");
}

#[test]
fn a_bad_signature_in_a_batch_is_named_and_the_rest_accepted() {
    let filler = valid_filler(31);
    let mut signatures: Vec<Signature> = filler.iter().map(|(_, _, s)| *s).collect();
    signatures[17].0[40] ^= 1;
    let keys: Vec<&PublicKey> = filler.iter().map(|(k, _, _)| k).collect();
    let messages: Vec<&[u8]> = filler.iter().map(|(_, m, _)| m.as_slice()).collect();
    let refs: Vec<&Signature> = signatures.iter().collect();
    let verdicts = raw_verify_batch(&keys, &messages, &refs);
    let refused: Vec<usize> = verdicts.iter().enumerate().filter(|(_, v)| !**v).map(|(i, _)| i).collect();
    assert_eq!(refused, vec![17]);
}
