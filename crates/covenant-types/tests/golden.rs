//! Golden vectors: the canonical encoding and hashes of fixed values, pinned in hex. A failure here means
//! the byte layout of something hashed or signed changed: a consensus change that needs a new
//! `ENCODING_VERSION` and an ADR, never a silent update of these strings.

mod common;

use common::*;
use covenant_types::crypto::signing_bytes;
use covenant_types::*;

fn golden(name: &str, actual: &[u8], expected_hex: &str) {
    assert_eq!(hex::encode(actual), expected_hex, "golden vector {name} changed");
}

#[test]
fn golden_transfer_body() {
    golden("transfer body", &encode(&transfer_body(3)), GOLDEN_TRANSFER_BODY);
}

#[test]
fn golden_signed_transfer() {
    golden("signed transfer", &signed_transfer(3).encode(), GOLDEN_SIGNED_TRANSFER);
    assert_eq!(signed_transfer(3).body.hash().to_hex(), GOLDEN_TRANSFER_HASH);
}

#[test]
fn golden_signing_envelope() {
    let bytes = signing_bytes(SignatureDomain::Transaction, &chain(), &Hash::digest(b"payload"));
    golden("signing envelope", &bytes, GOLDEN_SIGNING_ENVELOPE);
}

#[test]
fn golden_block_header() {
    golden("block header", &encode(&header()), GOLDEN_HEADER);
    assert_eq!(header().hash().to_hex(), GOLDEN_HEADER_HASH);
}

#[test]
fn golden_merkle_roots() {
    let leaves: Vec<Hash> = (0u8..5).map(|i| Hash::digest(&[i])).collect();
    assert_eq!(merkle_root(&[]).to_hex(), GOLDEN_MERKLE_EMPTY);
    assert_eq!(merkle_root(&leaves[..1]).to_hex(), GOLDEN_MERKLE_1);
    assert_eq!(merkle_root(&leaves).to_hex(), GOLDEN_MERKLE_5);
}

#[test]
fn golden_public_key() {
    assert_eq!(key(1).public_key().to_hex(), GOLDEN_PUBLIC_KEY_SEED_1);
}

const GOLDEN_TRANSFER_BODY: &str = "01000d636f76656e616e742d746573740005616c69636503000000000000000070c2c79a010000000f62616e6b2d612f74726561737572790f62616e6b2d622f74726561737572790374776440420f00000000000a696e766f696365203432";
const GOLDEN_SIGNED_TRANSFER: &str = "01000d636f76656e616e742d746573740005616c69636503000000000000000070c2c79a010000000f62616e6b2d612f74726561737572790f62616e6b2d622f74726561737572790374776440420f00000000000a696e766f6963652034328a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c47e723354126f4a5f0d9ce942d2308703ea9298985ffcdece1417d7a23126b08b8251827cc1c364459a30c40ebf98aac26ec740043825492030423b7f3bc140e";
const GOLDEN_TRANSFER_HASH: &str = "05d50ddad7c97d26dcaec007bd4fc48820cf98caeb27970518363c5a8abdeb82";
const GOLDEN_SIGNING_ENVELOPE: &str = "08434f56454e414e54010014636f76656e616e742f7472616e73616374696f6e0d636f76656e616e742d74657374239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5";
const GOLDEN_HEADER: &str = "01000d636f76656e616e742d74657374070000000000000001000000e47125968b3b71049fbc4802d1e40a71ea1359decfabacf70b34588037d4ff0cf471c2c79a0100000b76616c696461746f722d313d4775134d950aa449e131ae574bf47e90f25a9cc8aaf1ecb8ff5fd4035a1afb4ba69735ca53765ed6a709edb56c6ea236b7193a3b29a6b390c346f0f4340e4e66d18af4cf3d736390761abbea054bcedb18191b65128c2b057cdef5071a1698f528212a496dc7a0e9a57c129b561aa4609364d70f886c09d668e00797521eb5010b76616c696461746f722d306b3c20ef79a2e5e0da08c8d066e30f39c40ea2b20164fde39e00b6ce458163d96fa0c9c0f49345147426922f507e40f29df00d3c9f0828c9ed22a09a7d53eb00";
const GOLDEN_HEADER_HASH: &str = "9f2b4f6dc26684e401ac195f6dcc43a60ace7eb9d5d121f57dbdf858c2db73f8";
const GOLDEN_MERKLE_EMPTY: &str = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d";
const GOLDEN_MERKLE_1: &str = "d9de27625445003d8a9739a851e3ff8d41c0683630b4d63a88327a6aaa37c409";
const GOLDEN_MERKLE_5: &str = "6b313b611b40676b9e1dfd70c4503f2379f88f0f1c2740fb7e1cacc32c113465";
const GOLDEN_PUBLIC_KEY_SEED_1: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
