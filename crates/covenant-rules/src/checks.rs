//! Rule checks that need only a transaction, a header and the parameters. Each is the one place its
//! rule is checked; callers (mempool admission, proposal validation) pass the numbers in.

use covenant_types::ChainId;

use crate::params::ChainParams;
use crate::violation::Violation;

/// COV-49-BLOCK-LIMITS: encoded size and transaction count within the parameters.
pub fn check_block_limits(block_bytes: u64, tx_count: u64, params: &ChainParams) -> Result<(), Violation> {
    if block_bytes > params.block_bytes_max {
        return Err(Violation::BlockTooLarge { bytes: block_bytes, max: params.block_bytes_max });
    }
    if tx_count > params.block_txs_max {
        return Err(Violation::TooManyTransactions { count: tx_count, max: params.block_txs_max });
    }
    Ok(())
}

/// COV-36-TIMESTAMP-INTEGRITY: the timestamp is at least the parent's plus `block_interval_ms_min`
/// (so timestamps strictly increase).
pub fn check_timestamp_interval(
    timestamp_ms: u64,
    parent_timestamp_ms: u64,
    params: &ChainParams,
) -> Result<(), Violation> {
    let earliest = parent_timestamp_ms.saturating_add(params.block_interval_ms_min);
    if timestamp_ms < earliest {
        return Err(Violation::TimestampTooEarly {
            timestamp_ms,
            parent_timestamp_ms,
            interval_ms_min: params.block_interval_ms_min,
        });
    }
    Ok(())
}

/// COV-35-CLOCK-DRIFT: the timestamp is within `clock_drift_ms_max` of this validator's clock `now_ms`
/// (read by the caller when the proposal was first received; the check itself reads no clock).
pub fn check_clock_drift(timestamp_ms: u64, now_ms: u64, params: &ChainParams) -> Result<(), Violation> {
    let drift_ms = timestamp_ms.abs_diff(now_ms);
    if drift_ms > params.clock_drift_ms_max {
        return Err(Violation::ClockDrift { timestamp_ms, now_ms, drift_ms, max: params.clock_drift_ms_max });
    }
    Ok(())
}

/// COV-19-ENVIRONMENT-SEPARATION: the object names this chain.
pub fn check_chain_id(found: &ChainId, expected: &ChainId) -> Result<(), Violation> {
    if found != expected {
        return Err(Violation::WrongChain { found: found.clone(), expected: expected.clone() });
    }
    Ok(())
}

/// COV-45-LOAD-LIMITS: the encoded transaction is within `tx_bytes_max`.
pub fn check_tx_size(tx_bytes: u64, params: &ChainParams) -> Result<(), Violation> {
    if tx_bytes > params.tx_bytes_max {
        return Err(Violation::TxTooLarge { bytes: tx_bytes, max: params.tx_bytes_max });
    }
    Ok(())
}

/// COV-34-ORDERED-NONCES: the nonce is exactly the sender's next one.
pub fn check_nonce(found: u64, expected: u64) -> Result<(), Violation> {
    if found != expected {
        return Err(Violation::NonceOutOfOrder { found, expected });
    }
    Ok(())
}
