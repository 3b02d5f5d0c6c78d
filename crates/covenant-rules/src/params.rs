//! Chain parameters: chain-wide limits that live on chain, start in genesis and change only by a
//! governance vote (article 15), each inside a covenant bound no vote can leave.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use covenant_types::limits;

use crate::violation::RuleId;

/// The chain-wide parameters. Field names put units last (`block_bytes_max`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainParams {
    /// Largest encoded block (COV-49, article 52).
    pub block_bytes_max: u64,
    /// Most transactions per block (COV-49).
    pub block_txs_max: u64,
    /// Least time between a block and its parent (COV-36, COV-49).
    pub block_interval_ms_min: u64,
    /// Most time without a block: a proposer proposes an empty block after this (COV-49).
    pub block_interval_ms_max: u64,
    /// Largest distance between a proposal's timestamp and a validator's clock (COV-35).
    pub clock_drift_ms_max: u64,
    /// First round's timeout; later rounds grow from it.
    pub round_timeout_ms_base: u64,
    /// Largest encoded transaction.
    pub tx_bytes_max: u64,
    /// Longest an operator key may stay valid after issue (COV-11: at most 90 days).
    pub operator_key_age_days_max: u64,
    /// How long audit records are kept (article 18: at least 365 days).
    pub audit_retention_days: u64,
    /// Most transactions a node's mempool holds (COV-45).
    pub mempool_txs_max: u64,
    /// Most bytes a node's mempool holds (COV-45).
    pub mempool_bytes_max: u64,
    /// Most pending transactions per sender (COV-45, per-sender load limit).
    pub mempool_sender_txs_max: u64,
    /// Longest a governance proposal may stay open.
    pub proposal_lifetime_ms_max: u64,
    /// Largest contract module (COV-28).
    pub contract_bytes_max: u64,
    /// Largest contract call input (COV-28).
    pub call_input_bytes_max: u64,
    /// Largest contract call output (COV-28).
    pub call_output_bytes_max: u64,
    /// Most storage writes one call may make (COV-28).
    pub call_storage_writes_max: u64,
    /// Most fuel one transaction may burn (COV-29).
    pub fuel_per_tx_max: u64,
    /// Most fuel one block may burn (COV-29).
    pub fuel_per_block_max: u64,
}

impl Default for ChainParams {
    fn default() -> Self {
        ChainParams {
            block_bytes_max: 4 * 1024 * 1024,
            block_txs_max: 10_000,
            block_interval_ms_min: 200,
            block_interval_ms_max: 10_000,
            clock_drift_ms_max: 2_000,
            round_timeout_ms_base: 2_000,
            tx_bytes_max: 256 * 1024,
            operator_key_age_days_max: 90,
            audit_retention_days: 365,
            mempool_txs_max: 200_000,
            mempool_bytes_max: 256 * 1024 * 1024,
            mempool_sender_txs_max: 10_000,
            proposal_lifetime_ms_max: 14 * 24 * 3_600_000,
            contract_bytes_max: 128 * 1024,
            call_input_bytes_max: 16 * 1024,
            call_output_bytes_max: 16 * 1024,
            call_storage_writes_max: 256,
            fuel_per_tx_max: 10_000_000,
            fuel_per_block_max: 200_000_000,
        }
    }
}

/// The covenant bound of one parameter: the closed range no value may leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ParamBound {
    /// Parameter name.
    pub name: &'static str,
    /// Smallest allowed value.
    pub min: u64,
    /// Largest allowed value.
    pub max: u64,
    /// Unit, for messages and the report.
    pub unit: &'static str,
    /// Where the bound comes from.
    pub why: &'static str,
}

const DAY_MS: u64 = 24 * 3_600_000;

/// Covenant minimum for keeping audit records, in days (article 18: records kept at least one year).
/// Binds both the chain parameter `audit_retention_days` and each node's own configuration.
pub const AUDIT_RETENTION_DAYS_MIN: u64 = 365;

/// Every parameter's bound, in field order.
pub const PARAM_BOUNDS: &[ParamBound] = &[
    ParamBound {
        name: "block_bytes_max",
        min: 64 * 1024,
        max: limits::BLOCK_BYTES_MAX as u64,
        unit: "bytes",
        why: "article 49/52: bounded block size",
    },
    ParamBound {
        name: "block_txs_max",
        min: 1,
        max: limits::BLOCK_TXS_MAX as u64,
        unit: "transactions",
        why: "article 49: bounded block size",
    },
    ParamBound {
        name: "block_interval_ms_min",
        min: 50,
        max: 60_000,
        unit: "ms",
        why: "article 36/49: timestamps strictly increase",
    },
    ParamBound {
        name: "block_interval_ms_max",
        min: 1_000,
        max: 3_600_000,
        unit: "ms",
        why: "article 49: blocks keep coming",
    },
    ParamBound {
        name: "clock_drift_ms_max",
        min: 100,
        max: 60_000,
        unit: "ms",
        why: "article 35: agreed timestamp error",
    },
    ParamBound { name: "round_timeout_ms_base", min: 100, max: 120_000, unit: "ms", why: "liveness" },
    ParamBound {
        name: "tx_bytes_max",
        min: 1024,
        max: limits::TX_BYTES_MAX as u64,
        unit: "bytes",
        why: "article 28: bounded data transfer",
    },
    ParamBound {
        name: "operator_key_age_days_max",
        min: 1,
        max: 90,
        unit: "days",
        why: "article 11: credentials change within 3 months",
    },
    ParamBound {
        name: "audit_retention_days",
        min: AUDIT_RETENTION_DAYS_MIN,
        max: 36_500,
        unit: "days",
        why: "article 18: records kept at least one year",
    },
    ParamBound {
        name: "mempool_txs_max",
        min: 1_000,
        max: 10_000_000,
        unit: "transactions",
        why: "article 45: load limits",
    },
    ParamBound {
        name: "mempool_bytes_max",
        min: 1024 * 1024,
        max: 8 * 1024 * 1024 * 1024,
        unit: "bytes",
        why: "article 45: load limits",
    },
    ParamBound {
        name: "mempool_sender_txs_max",
        min: 1,
        max: 1_000_000,
        unit: "transactions",
        why: "article 45: per-sender load limits",
    },
    ParamBound {
        name: "proposal_lifetime_ms_max",
        min: 3_600_000,
        max: 90 * DAY_MS,
        unit: "ms",
        why: "article 15: proposals expire",
    },
    ParamBound {
        name: "contract_bytes_max",
        min: 1024,
        max: limits::CONTRACT_BYTES_MAX as u64,
        unit: "bytes",
        why: "article 28: contract size limits",
    },
    ParamBound {
        name: "call_input_bytes_max",
        min: 64,
        max: limits::CALL_INPUT_BYTES_MAX as u64,
        unit: "bytes",
        why: "article 28: data transfer limits",
    },
    ParamBound {
        name: "call_output_bytes_max",
        min: 64,
        max: limits::CALL_INPUT_BYTES_MAX as u64,
        unit: "bytes",
        why: "article 28: data transfer limits",
    },
    ParamBound {
        name: "call_storage_writes_max",
        min: 1,
        max: 65_536,
        unit: "writes",
        why: "article 28: storage writes per call",
    },
    ParamBound {
        name: "fuel_per_tx_max",
        min: 10_000,
        max: 10_000_000_000,
        unit: "fuel",
        why: "article 29: metered execution",
    },
    ParamBound {
        name: "fuel_per_block_max",
        min: 10_000,
        max: 1_000_000_000_000,
        unit: "fuel",
        why: "article 29: metered execution",
    },
];

/// A parameter value outside its covenant bound, or an inconsistent pair.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// Outside the bound.
    #[error("parameter {name} = {value} {unit} is outside its covenant bound [{min}, {max}] ({why})")]
    OutOfBounds {
        /// Parameter.
        name: &'static str,
        /// Value given.
        value: u64,
        /// Lower bound.
        min: u64,
        /// Upper bound.
        max: u64,
        /// Unit.
        unit: &'static str,
        /// Reason for the bound.
        why: &'static str,
    },
    /// Two parameters contradict each other.
    #[error("parameters {first} = {first_value} and {second} = {second_value} are inconsistent: {reason}")]
    Inconsistent {
        /// First parameter.
        first: &'static str,
        /// Its value.
        first_value: u64,
        /// Second parameter.
        second: &'static str,
        /// Its value.
        second_value: u64,
        /// Why.
        reason: &'static str,
    },
    /// No parameter of that name.
    #[error("unknown parameter {0:?}")]
    Unknown(String),
}

/// The covenant rule a parameter's bound serves, if any (`round_timeout_ms_base` only tunes liveness).
pub fn rule_for_param(name: &str) -> Option<RuleId> {
    Some(match name {
        "block_bytes_max" | "block_txs_max" | "block_interval_ms_min" | "block_interval_ms_max" => RuleId::BlockLimits,
        "clock_drift_ms_max" => RuleId::ClockDrift,
        "tx_bytes_max" | "mempool_txs_max" | "mempool_bytes_max" | "mempool_sender_txs_max" => RuleId::LoadLimits,
        "operator_key_age_days_max" => RuleId::CredentialExpiry,
        "audit_retention_days" => RuleId::Retention,
        "proposal_lifetime_ms_max" => RuleId::ChangeByConsensus,
        "contract_bytes_max" | "call_input_bytes_max" | "call_output_bytes_max" | "call_storage_writes_max" => {
            RuleId::ContractLimits
        }
        "fuel_per_tx_max" | "fuel_per_block_max" => RuleId::Fuel,
        _ => return None,
    })
}

impl ParamError {
    /// The parameter the error is about (the first one, for an inconsistent pair).
    pub fn param_name(&self) -> &str {
        match self {
            ParamError::OutOfBounds { name, .. } => name,
            ParamError::Inconsistent { first, .. } => first,
            ParamError::Unknown(name) => name,
        }
    }

    /// The covenant rule whose bound was left, if the error is about a covenant bound. An inconsistent
    /// pair is a plain configuration error, not a covenant violation.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            ParamError::OutOfBounds { name, .. } => rule_for_param(name),
            ParamError::Inconsistent { .. } | ParamError::Unknown(_) => None,
        }
    }
}

impl ChainParams {
    /// Every parameter as (name, value), in field order.
    pub fn entries(&self) -> [(&'static str, u64); 19] {
        [
            ("block_bytes_max", self.block_bytes_max),
            ("block_txs_max", self.block_txs_max),
            ("block_interval_ms_min", self.block_interval_ms_min),
            ("block_interval_ms_max", self.block_interval_ms_max),
            ("clock_drift_ms_max", self.clock_drift_ms_max),
            ("round_timeout_ms_base", self.round_timeout_ms_base),
            ("tx_bytes_max", self.tx_bytes_max),
            ("operator_key_age_days_max", self.operator_key_age_days_max),
            ("audit_retention_days", self.audit_retention_days),
            ("mempool_txs_max", self.mempool_txs_max),
            ("mempool_bytes_max", self.mempool_bytes_max),
            ("mempool_sender_txs_max", self.mempool_sender_txs_max),
            ("proposal_lifetime_ms_max", self.proposal_lifetime_ms_max),
            ("contract_bytes_max", self.contract_bytes_max),
            ("call_input_bytes_max", self.call_input_bytes_max),
            ("call_output_bytes_max", self.call_output_bytes_max),
            ("call_storage_writes_max", self.call_storage_writes_max),
            ("fuel_per_tx_max", self.fuel_per_tx_max),
            ("fuel_per_block_max", self.fuel_per_block_max),
        ]
    }

    fn slot(&mut self, name: &str) -> Option<&mut u64> {
        Some(match name {
            "block_bytes_max" => &mut self.block_bytes_max,
            "block_txs_max" => &mut self.block_txs_max,
            "block_interval_ms_min" => &mut self.block_interval_ms_min,
            "block_interval_ms_max" => &mut self.block_interval_ms_max,
            "clock_drift_ms_max" => &mut self.clock_drift_ms_max,
            "round_timeout_ms_base" => &mut self.round_timeout_ms_base,
            "tx_bytes_max" => &mut self.tx_bytes_max,
            "operator_key_age_days_max" => &mut self.operator_key_age_days_max,
            "audit_retention_days" => &mut self.audit_retention_days,
            "mempool_txs_max" => &mut self.mempool_txs_max,
            "mempool_bytes_max" => &mut self.mempool_bytes_max,
            "mempool_sender_txs_max" => &mut self.mempool_sender_txs_max,
            "proposal_lifetime_ms_max" => &mut self.proposal_lifetime_ms_max,
            "contract_bytes_max" => &mut self.contract_bytes_max,
            "call_input_bytes_max" => &mut self.call_input_bytes_max,
            "call_output_bytes_max" => &mut self.call_output_bytes_max,
            "call_storage_writes_max" => &mut self.call_storage_writes_max,
            "fuel_per_tx_max" => &mut self.fuel_per_tx_max,
            "fuel_per_block_max" => &mut self.fuel_per_block_max,
            _ => return None,
        })
    }

    /// A copy with one parameter changed (as a governance `SetParameter` does), validated.
    pub fn with(&self, name: &str, value: u64) -> Result<ChainParams, Vec<ParamError>> {
        let mut changed = self.clone();
        *changed.slot(name).ok_or_else(|| vec![ParamError::Unknown(name.to_string())])? = value;
        changed.validate()?;
        Ok(changed)
    }

    /// Checks every bound and relation, returning every problem found (not just the first).
    pub fn validate(&self) -> Result<(), Vec<ParamError>> {
        let mut errors = Vec::new();
        for ((name, value), bound) in self.entries().into_iter().zip(PARAM_BOUNDS) {
            debug_assert_eq!(name, bound.name, "PARAM_BOUNDS is in field order");
            if value < bound.min || value > bound.max {
                errors.push(ParamError::OutOfBounds {
                    name,
                    value,
                    min: bound.min,
                    max: bound.max,
                    unit: bound.unit,
                    why: bound.why,
                });
            }
        }
        let mut relation = |first: &'static str,
                            first_value: u64,
                            second: &'static str,
                            second_value: u64,
                            holds: bool,
                            reason: &'static str| {
            if !holds {
                errors.push(ParamError::Inconsistent { first, first_value, second, second_value, reason });
            }
        };
        relation(
            "block_interval_ms_min",
            self.block_interval_ms_min,
            "block_interval_ms_max",
            self.block_interval_ms_max,
            self.block_interval_ms_min < self.block_interval_ms_max,
            "the minimum interval must be below the maximum",
        );
        relation(
            "tx_bytes_max",
            self.tx_bytes_max,
            "block_bytes_max",
            self.block_bytes_max,
            self.tx_bytes_max < self.block_bytes_max,
            "a transaction must fit in a block",
        );
        relation(
            "fuel_per_tx_max",
            self.fuel_per_tx_max,
            "fuel_per_block_max",
            self.fuel_per_block_max,
            self.fuel_per_tx_max <= self.fuel_per_block_max,
            "one transaction's fuel must fit in a block",
        );
        relation(
            "call_input_bytes_max",
            self.call_input_bytes_max,
            "tx_bytes_max",
            self.tx_bytes_max,
            self.call_input_bytes_max < self.tx_bytes_max,
            "a call input must fit in a transaction",
        );
        relation(
            "contract_bytes_max",
            self.contract_bytes_max,
            "tx_bytes_max",
            self.tx_bytes_max,
            self.contract_bytes_max < self.tx_bytes_max,
            "contract code is carried by a governance transaction",
        );
        relation(
            "tx_bytes_max",
            self.tx_bytes_max,
            "mempool_bytes_max",
            self.mempool_bytes_max,
            self.tx_bytes_max < self.mempool_bytes_max,
            "a transaction must fit in the mempool",
        );
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }

    /// Hash carried in block headers.
    pub fn hash(&self) -> covenant_types::Hash {
        covenant_types::hash_of(self)
    }
}
