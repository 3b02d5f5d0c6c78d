//! Rule ids and the [`Violation`] error every covenant check returns.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

use covenant_types::ChainId;

/// Every protocol (P) and node (N) rule of the covenant, as in `shared/covenant/ARTICLES.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum RuleId {
    /// Art. 6: no members or validators in sanctioned jurisdictions.
    SanctionedJurisdiction,
    /// Art. 7: KYC before customer data or transactions.
    KycRequired,
    /// Art. 8: need-to-know reads of customer records.
    CustomerDataAccess,
    /// Art. 9: API sessions expire after 15 idle minutes.
    SessionIdle,
    /// Art. 10: one person, one account.
    OnePersonOneAccount,
    /// Art. 11: operator keys expire; node keys sign no operator actions.
    CredentialExpiry,
    /// Art. 12: role separation.
    RoleSeparation,
    /// Art. 15: changes only by executed governance proposals.
    ChangeByConsensus,
    /// Art. 16: two distinct persons approve every change.
    TwoPersonRule,
    /// Art. 17: revoked operators sign and read nothing.
    Revocation,
    /// Art. 18: backups verified.
    Backup,
    /// Art. 18: audit and log retention of at least 365 days.
    Retention,
    /// Art. 18: no key can act alone.
    NoSuperuser,
    /// Art. 19: signatures domain-separated by chain; environments kept apart.
    EnvironmentSeparation,
    /// Art. 20: only registered nodes connect.
    PermissionedPeers,
    /// Art. 21: encrypted transport, admin API on loopback.
    EncryptedTransport,
    /// Art. 22: metrics for consensus pace.
    Monitoring,
    /// Art. 26: contracts record owner and steward.
    ContractOwnership,
    /// Art. 27: contracts can be paused, upgraded, retired.
    ContractLifecycle,
    /// Art. 28: only contracts admitted by vote run.
    ContractAdmission,
    /// Art. 28: contract size and data transfer limits.
    ContractLimits,
    /// Art. 29: metered execution.
    Fuel,
    /// Art. 29: no re-entrant calls.
    NoReentrancy,
    /// Art. 30: every transaction strictly signed.
    Signed,
    /// Art. 31: access policy per contract function.
    FunctionAcl,
    /// Art. 32: data records follow a registered schema.
    DataSchema,
    /// Art. 33: tamper-evident audit log.
    AuditTrail,
    /// Art. 34: strictly sequential per-sender nonces.
    OrderedNonces,
    /// Art. 35: proposal timestamps within the drift bound of validators' clocks.
    ClockDrift,
    /// Art. 36: timestamps increase by at least the minimum interval and cannot be set.
    TimestampIntegrity,
    /// Art. 37: customer data encrypted; no plaintext national ids.
    PiiProtection,
    /// Art. 40: reads of customer records audited.
    CustomerDataReadAudit,
    /// Art. 41: key rotation and emergency revocation; encrypted key files.
    KeyRotation,
    /// Art. 45: bounded mempool and per-sender limits.
    LoadLimits,
    /// Art. 49 and 52: block size, count and interval limits.
    BlockLimits,
    /// Art. 50: central log management and audit export.
    LogManagement,
}

impl RuleId {
    /// The rule id as written in errors and docs, e.g. `COV-49-BLOCK-LIMITS`.
    pub fn id(self) -> &'static str {
        use RuleId::*;
        match self {
            SanctionedJurisdiction => "COV-06-SANCTIONED-JURISDICTION",
            KycRequired => "COV-07-KYC-REQUIRED",
            CustomerDataAccess => "COV-08-CUSTOMER-DATA-ACCESS",
            SessionIdle => "COV-09-SESSION-IDLE",
            OnePersonOneAccount => "COV-10-ONE-PERSON-ONE-ACCOUNT",
            CredentialExpiry => "COV-11-CREDENTIAL-EXPIRY",
            RoleSeparation => "COV-12-ROLE-SEPARATION",
            ChangeByConsensus => "COV-15-CHANGE-BY-CONSENSUS",
            TwoPersonRule => "COV-16-TWO-PERSON-RULE",
            Revocation => "COV-17-REVOCATION",
            Backup => "COV-18-BACKUP",
            Retention => "COV-18-RETENTION",
            NoSuperuser => "COV-18-NO-SUPERUSER",
            EnvironmentSeparation => "COV-19-ENVIRONMENT-SEPARATION",
            PermissionedPeers => "COV-20-PERMISSIONED-PEERS",
            EncryptedTransport => "COV-21-ENCRYPTED-TRANSPORT",
            Monitoring => "COV-22-MONITORING",
            ContractOwnership => "COV-26-CONTRACT-OWNERSHIP",
            ContractLifecycle => "COV-27-CONTRACT-LIFECYCLE",
            ContractAdmission => "COV-28-CONTRACT-ADMISSION",
            ContractLimits => "COV-28-CONTRACT-LIMITS",
            Fuel => "COV-29-FUEL",
            NoReentrancy => "COV-29-NO-REENTRANCY",
            Signed => "COV-30-SIGNED",
            FunctionAcl => "COV-31-FUNCTION-ACL",
            DataSchema => "COV-32-DATA-SCHEMA",
            AuditTrail => "COV-33-AUDIT-TRAIL",
            OrderedNonces => "COV-34-ORDERED-NONCES",
            ClockDrift => "COV-35-CLOCK-DRIFT",
            TimestampIntegrity => "COV-36-TIMESTAMP-INTEGRITY",
            PiiProtection => "COV-37-PII-PROTECTION",
            CustomerDataReadAudit => "COV-40-CUSTOMER-DATA-READ-AUDIT",
            KeyRotation => "COV-41-KEY-ROTATION",
            LoadLimits => "COV-45-LOAD-LIMITS",
            BlockLimits => "COV-49-BLOCK-LIMITS",
            LogManagement => "COV-50-LOG-MANAGEMENT",
        }
    }

    /// The covenant article the rule implements.
    pub fn article(self) -> u8 {
        self.id()[4..6].parse().expect("rule ids are COV-<two-digit article>-<NAME>")
    }

    /// Every rule, in article order.
    pub const ALL: [RuleId; 36] = {
        use RuleId::*;
        [
            SanctionedJurisdiction,
            KycRequired,
            CustomerDataAccess,
            SessionIdle,
            OnePersonOneAccount,
            CredentialExpiry,
            RoleSeparation,
            ChangeByConsensus,
            TwoPersonRule,
            Revocation,
            Backup,
            Retention,
            NoSuperuser,
            EnvironmentSeparation,
            PermissionedPeers,
            EncryptedTransport,
            Monitoring,
            ContractOwnership,
            ContractLifecycle,
            ContractAdmission,
            ContractLimits,
            Fuel,
            NoReentrancy,
            Signed,
            FunctionAcl,
            DataSchema,
            AuditTrail,
            OrderedNonces,
            ClockDrift,
            TimestampIntegrity,
            PiiProtection,
            CustomerDataReadAudit,
            KeyRotation,
            LoadLimits,
            BlockLimits,
            LogManagement,
        ]
    };
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A broken covenant rule, carrying the values that broke it. [`Violation::rule`] names the rule.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "violation", rename_all = "snake_case")]
pub enum Violation {
    /// A block's encoding is larger than `block_bytes_max`.
    #[error("block is {bytes} bytes, above block_bytes_max = {max}")]
    BlockTooLarge {
        /// Encoded size.
        bytes: u64,
        /// Limit.
        max: u64,
    },
    /// A block carries more than `block_txs_max` transactions.
    #[error("block carries {count} transactions, above block_txs_max = {max}")]
    TooManyTransactions {
        /// Transactions in the block.
        count: u64,
        /// Limit.
        max: u64,
    },
    /// A block's timestamp is earlier than parent timestamp + `block_interval_ms_min`.
    #[error(
        "block timestamp {timestamp_ms} is earlier than parent timestamp {parent_timestamp_ms} + block_interval_ms_min {interval_ms_min}"
    )]
    TimestampTooEarly {
        /// Block timestamp.
        timestamp_ms: u64,
        /// Parent's timestamp.
        parent_timestamp_ms: u64,
        /// Minimum interval.
        interval_ms_min: u64,
    },
    /// A proposal's timestamp is further than `clock_drift_ms_max` from the validator's clock.
    #[error(
        "proposal timestamp {timestamp_ms} is {drift_ms} ms from this validator's clock {now_ms}, above clock_drift_ms_max = {max}"
    )]
    ClockDrift {
        /// Proposal timestamp.
        timestamp_ms: u64,
        /// Validator's clock.
        now_ms: u64,
        /// Distance.
        drift_ms: u64,
        /// Limit.
        max: u64,
    },
    /// An object names another chain.
    #[error("object is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// Chain named.
        found: ChainId,
        /// This chain.
        expected: ChainId,
    },
    /// A transaction's encoding is larger than `tx_bytes_max`.
    #[error("transaction is {bytes} bytes, above tx_bytes_max = {max}")]
    TxTooLarge {
        /// Encoded size.
        bytes: u64,
        /// Limit.
        max: u64,
    },
    /// A transaction's nonce is not the sender's next one.
    #[error("nonce {found} is out of order: the sender's next nonce is {expected}")]
    NonceOutOfOrder {
        /// Nonce given.
        found: u64,
        /// Nonce expected.
        expected: u64,
    },
    /// A signature failed strict verification.
    #[error("signature check failed: {reason}")]
    BadSignature {
        /// What failed.
        reason: String,
    },
}

impl Violation {
    /// The rule this violation breaks.
    pub fn rule(&self) -> RuleId {
        match self {
            Violation::BlockTooLarge { .. } | Violation::TooManyTransactions { .. } => RuleId::BlockLimits,
            Violation::TimestampTooEarly { .. } => RuleId::TimestampIntegrity,
            Violation::ClockDrift { .. } => RuleId::ClockDrift,
            Violation::WrongChain { .. } => RuleId::EnvironmentSeparation,
            Violation::TxTooLarge { .. } => RuleId::LoadLimits,
            Violation::NonceOutOfOrder { .. } => RuleId::OrderedNonces,
            Violation::BadSignature { .. } => RuleId::Signed,
        }
    }

    /// The article of the rule.
    pub fn article(&self) -> u8 {
        self.rule().article()
    }
}
