//! Hard limits compiled into the node: the largest values any chain parameter may take, and the
//! bounds applied to untrusted bytes before they are decoded. Chain parameters (on chain, changed by
//! governance) live in `covenant-rules` and must stay within these.

/// Largest encoded transaction any chain may allow. Decoding refuses longer input outright.
pub const TX_BYTES_MAX: usize = 256 * 1024;
/// Largest encoded block any chain may allow (covenant article 52: no block exceeds the agreed size).
pub const BLOCK_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Most transactions one block may carry.
pub const BLOCK_TXS_MAX: usize = 100_000;
/// Largest data-record payload stored inline.
pub const DATA_RECORD_BYTES_MAX: usize = 128 * 1024;
/// Longest free-text field (memo, reason, description).
pub const TEXT_BYTES_MAX: usize = 1024;
/// Largest contract code any chain may allow.
pub const CONTRACT_BYTES_MAX: usize = 192 * 1024;
/// Largest contract call input any chain may allow.
pub const CALL_INPUT_BYTES_MAX: usize = 64 * 1024;
/// Most validators in a set (bounds commit seals carried in a header).
pub const VALIDATORS_MAX: usize = 256;
/// Most transactions in one batch (a client's `POST /v1/txs/batch`, one gossip message).
pub const TX_BATCH_TXS_MAX: usize = 4_096;
/// Largest encoded batch of transactions.
pub const TX_BATCH_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest encoded consensus message (a pre-prepare carries a block, a round change a certificate).
pub const CONSENSUS_MESSAGE_BYTES_MAX: usize = BLOCK_BYTES_MAX + 64 * 1024;

const _: () = assert!(TX_BYTES_MAX < BLOCK_BYTES_MAX);
const _: () = assert!(DATA_RECORD_BYTES_MAX < TX_BYTES_MAX);
const _: () = assert!(CALL_INPUT_BYTES_MAX < TX_BYTES_MAX);
const _: () = assert!(CONTRACT_BYTES_MAX < TX_BYTES_MAX);
const _: () = assert!(CONSENSUS_MESSAGE_BYTES_MAX > BLOCK_BYTES_MAX);
const _: () = assert!(TX_BATCH_BYTES_MAX > TX_BYTES_MAX && TX_BATCH_BYTES_MAX < BLOCK_BYTES_MAX);
