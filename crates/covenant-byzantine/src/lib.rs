//! TEST ONLY. A Covenant validator that attacks the other validators while it runs the real node
//! (consensus, sync, API) with its registered keys: the malicious member of the fault suite
//! (`scripts/fault-suite.sh`, scenario `byzantine-member`). Its attacks are those of the node-level
//! simulator, sent through the node's own network layer: garbage to one honest node at a time,
//! false heights, floods of future-height ROUND-CHANGEs, maximal sync requests, transaction batches
//! with a bad signature, and equivocating votes. With `--crash-at POINT:N` it kills itself at a
//! crash point of the node's write path instead ([`crash`]), for the crash-point tests.
//!
//! It is a package and a binary of its own (`covenant-byzantine`), not a feature of the production
//! node, so that no build of `covenant` can contain it (ADR 0015).

pub mod attacks;
pub mod crash;
pub mod forge;

/// Logged when the Byzantine build starts; a test checks that no `covenant` binary contains it.
pub const MARKER: &str = "BYZANTINE TEST BUILD: this node attacks its peers";
