//! The state root: a hash chain over each block's canonical write set and receipts (ADR 0004).
//!
//! `root(h) = SHA-256("covenant/state-root/v1" || root(h-1) || height || H(writes(h)) || H(receipts(h)))`
//!
//! Two validators that executed the same block differently (a non-deterministic bug, a corrupt
//! store) get different roots and the block is refused rather than silently forking. The cost is
//! proportional to what a block changes, not to the size of the state.

use std::collections::BTreeMap;

use covenant_types::{Hash, Receipt, encode};

/// Tag that opens every state-root preimage.
const STATE_ROOT_TAG: &[u8] = b"covenant/state-root/v1";

/// The state root after a block at `height` with these writes and receipts, given the parent's root.
pub fn next_state_root(
    parent_root: &Hash,
    height: u64,
    writes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    receipts: &[Receipt],
) -> Hash {
    let writes_hash = Hash::digest(&encode(writes));
    let receipts_hash = Hash::digest(&encode(receipts));
    Hash::digest_parts(&[
        STATE_ROOT_TAG,
        parent_root.as_bytes(),
        &height.to_be_bytes(),
        writes_hash.as_bytes(),
        receipts_hash.as_bytes(),
    ])
}
