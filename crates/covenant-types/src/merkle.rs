//! Merkle roots over transaction hashes, with RFC 6962 domain separation (leaves prefixed `0x00`,
//! inner nodes `0x01`) so that a leaf can never be passed off as an inner node. An odd node at any
//! level is promoted unchanged, so the root of `n` leaves is unique for each `n`.

use crate::hash::Hash;

/// Root of the empty tree: the hash of nothing, tagged as a leaf.
pub fn empty_root() -> Hash {
    Hash::digest(&[0x00])
}

/// The Merkle root of `leaves` (each already a hash, e.g. a transaction hash).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return empty_root();
    }
    let mut level: Vec<Hash> = leaves.iter().map(|leaf| Hash::digest_parts(&[&[0x00], leaf.as_bytes()])).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => Hash::digest_parts(&[&[0x01], left.as_bytes(), right.as_bytes()]),
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}
