//! Fixed sample values shared by the encoding tests.
#![allow(dead_code)]

use covenant_types::*;

pub fn chain() -> ChainId {
    ChainId::new("covenant-test").unwrap()
}

pub fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

pub fn transfer_body(nonce: u64) -> TxBody {
    TxBody {
        version: ENCODING_VERSION,
        chain_id: chain(),
        sender: Principal::Operator(OperatorId::new("alice").unwrap()),
        nonce,
        created_at_ms: 1_764_288_000_000,
        payload: Payload::Transfer(Transfer {
            from: AccountId::new("bank-a/treasury").unwrap(),
            to: AccountId::new("bank-b/treasury").unwrap(),
            asset: AssetId::new("twd").unwrap(),
            amount: 1_000_000,
            memo: "invoice 42".into(),
        }),
    }
}

pub fn signed_transfer(nonce: u64) -> SignedTx {
    SignedTx::sign(transfer_body(nonce), &key(1))
}

pub fn header() -> BlockHeader {
    let seal_vote = SealedVote { height: 6, round: 0, block_hash: Hash::digest(b"parent") };
    BlockHeader {
        version: ENCODING_VERSION,
        chain_id: chain(),
        height: 7,
        round: 1,
        parent_hash: Hash::digest(b"parent"),
        timestamp_ms: 1_764_288_000_500,
        proposer: NodeId::new("validator-1").unwrap(),
        transactions_root: merkle_root(&[signed_transfer(0).body.hash()]),
        state_root: Hash::digest(b"state"),
        validator_set_hash: Hash::digest(b"validators"),
        parameters_hash: Hash::digest(b"parameters"),
        parent_commit_seals: vec![CommitSeal::sign(NodeId::new("validator-0").unwrap(), &key(9), &chain(), &seal_vote)],
    }
}
