//! Rule ids and the [`Violation`] error every covenant check returns.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

use covenant_types::{ChainId, Hash, Jurisdiction, MemberId, OperatorId, PersonId, Role};

/// Every protocol (P) and node (N) rule of the covenant, as in `shared/covenant/ARTICLES.md`.
///
/// In JSON and TOML a rule is written as its id string (`"COV-49-BLOCK-LIMITS"`), the form operators
/// read in errors and docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "&'static str", try_from = "String")]
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

/// A string that is not the id of any rule in [`RuleId::ALL`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown covenant rule id {0:?}")]
pub struct UnknownRuleId(pub String);

impl std::str::FromStr for RuleId {
    type Err = UnknownRuleId;
    fn from_str(text: &str) -> Result<RuleId, UnknownRuleId> {
        RuleId::ALL.into_iter().find(|rule| rule.id() == text).ok_or_else(|| UnknownRuleId(text.to_string()))
    }
}

impl TryFrom<String> for RuleId {
    type Error = UnknownRuleId;
    fn try_from(text: String) -> Result<RuleId, UnknownRuleId> {
        text.parse()
    }
}

impl From<RuleId> for &'static str {
    fn from(rule: RuleId) -> &'static str {
        rule.id()
    }
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
    /// A round-0 block's timestamp is later than its parent's + `block_interval_ms_max` +
    /// `clock_drift_ms_max` (ADR 0019).
    #[error(
        "round-0 block timestamp {timestamp_ms} is later than parent timestamp {parent_timestamp_ms} + block_interval_ms_max + clock_drift_ms_max = {latest_ms}"
    )]
    BlockTooLate {
        /// Block timestamp.
        timestamp_ms: u64,
        /// Parent's timestamp.
        parent_timestamp_ms: u64,
        /// The latest timestamp allowed.
        latest_ms: u64,
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
    /// A member operates from a jurisdiction on the chain's sanctioned list.
    #[error("member {member} is in jurisdiction {jurisdiction}, which is on the sanctioned list")]
    SanctionedJurisdiction {
        /// The member.
        member: MemberId,
        /// Its jurisdiction.
        jurisdiction: Jurisdiction,
    },
    /// A second active operator account for a person who already has one.
    #[error(
        "person {person} of member {member} already has active operator account {existing}; {second} would be a second one"
    )]
    SecondAccountForPerson {
        /// The person.
        person: PersonId,
        /// The member that scopes the person id.
        member: MemberId,
        /// The account the person already has.
        existing: OperatorId,
        /// The refused second account.
        second: OperatorId,
    },
    /// An operator key that is already expired when issued.
    #[error("operator key expires at {expires_at_ms}, not after its issue time {issued_at_ms}")]
    KeyExpiredAtIssue {
        /// When the key was issued (genesis time or the block that registers it).
        issued_at_ms: u64,
        /// When it expires.
        expires_at_ms: u64,
    },
    /// An operator key valid for longer than `operator_key_age_days_max`.
    #[error(
        "operator key is valid for {lifetime_ms} ms after issue (expires at {expires_at_ms}, issued at {issued_at_ms}), above operator_key_age_days_max = {age_days_max} days ({age_ms_max} ms)"
    )]
    KeyLifetimeTooLong {
        /// When the key was issued.
        issued_at_ms: u64,
        /// When it expires.
        expires_at_ms: u64,
        /// Its lifetime.
        lifetime_ms: u64,
        /// The parameter, in days.
        age_days_max: u64,
        /// The parameter, in ms.
        age_ms_max: u64,
    },
    /// One operator holds two roles that must be separated.
    #[error("roles {first:?} and {second:?} must not be held by the same operator")]
    ForbiddenRoleCombination {
        /// One role.
        first: Role,
        /// The role it conflicts with.
        second: Role,
    },
    /// A governance threshold that a single member could meet alone.
    #[error(
        "governance class {class} requires {members_required} member(s); at least {min} are required so that no single key can act alone"
    )]
    ThresholdTooLow {
        /// Action class.
        class: String,
        /// Threshold given.
        members_required: u32,
        /// Smallest allowed.
        min: u32,
    },
    /// Governance could be carried by admins of fewer than two members or fewer than two persons.
    #[error(
        "admin role held by {admin_persons} person(s) in {admin_members} member(s); at least 2 persons in at least 2 members are required so that no single key can act alone"
    )]
    AdminsTooConcentrated {
        /// Distinct persons holding the admin role.
        admin_persons: u64,
        /// Distinct members those persons belong to.
        admin_members: u64,
    },
    /// A governance change would leave fewer persons or members able to approve than the strictest
    /// class needs to pass a proposal (or deepen a shortfall the chain already has): governance
    /// would lock itself out (ADR 0021).
    #[error(
        "{change} would leave {persons} person(s) in {members} member(s) able to approve governance at {at_ms} ms, \
         but passing the strictest class needs {persons_required} persons (a proposer and the approvers of the \
         two-person rule) in {members_required} members; no proposal could pass to undo it"
    )]
    GovernanceLockout {
        /// The change refused, e.g. `RevokeOperator bank-a.admin`.
        change: String,
        /// Block time at which the approvers were counted (the change's block, or one proposal
        /// lifetime later).
        at_ms: u64,
        /// Distinct persons able to approve after the change.
        persons: u64,
        /// Distinct members with such a person after the change.
        members: u64,
        /// Persons the strictest class needs.
        persons_required: u64,
        /// Members the strictest class needs after the change.
        members_required: u64,
    },
    /// Audit records would be kept for less than the covenant minimum.
    #[error("audit retention of {days} days is below the covenant minimum of {min} days")]
    RetentionTooShort {
        /// Retention configured.
        days: u64,
        /// Covenant minimum.
        min: u64,
    },
    /// The admin API would listen on a non-loopback address without an explicit opt-in.
    #[error(
        "admin API address {api_addr} is not a loopback address; remote administration needs an encrypted channel (set api_public = true only behind TLS or a tunnel)"
    )]
    AdminApiExposed {
        /// The address configured.
        api_addr: String,
    },
    /// A transaction from a sender that is not a registered operator.
    #[error("sender {sender} is not a registered operator of this chain")]
    UnknownSender {
        /// The sender named in the transaction.
        sender: String,
    },
    /// A transaction from a revoked operator (effective from the block after the revocation).
    #[error("operator {sender} is revoked and can sign nothing")]
    SenderRevoked {
        /// The sender.
        sender: String,
    },
    /// Signed with a key other than the sender's registered one.
    #[error("transaction of {sender} is signed with key {signer}, not the sender's registered key")]
    SignerNotRegisteredKey {
        /// The sender.
        sender: String,
        /// The key that signed.
        signer: String,
    },
    /// The operator's key has expired.
    #[error("the key of operator {operator} expired at {expires_at_ms} ms; time is now {now_ms} ms")]
    KeyExpired {
        /// The operator.
        operator: OperatorId,
        /// Expiry.
        expires_at_ms: u64,
        /// Block time (or the node's clock at admission).
        now_ms: u64,
    },
    /// The sender's member is suspended or removed.
    #[error("member {member} is not active: its operators can sign nothing")]
    MemberNotActive {
        /// The member.
        member: MemberId,
    },
    /// A node (system) key signed something other than what node keys may sign.
    #[error("node key of {node} cannot sign a {kind} transaction: node keys sign no operator actions")]
    NodeKeyForbidden {
        /// The node.
        node: covenant_types::NodeId,
        /// The payload kind.
        kind: &'static str,
    },
    /// A data record names a schema that is not registered.
    #[error("data record schema {schema} is not registered")]
    UnknownSchema {
        /// The schema named.
        schema: covenant_types::SchemaId,
    },
    /// A data record that does not follow its registered schema (classification, fields, types).
    #[error("data record does not follow schema {schema}: {reason}")]
    RecordOffSchema {
        /// The schema named.
        schema: covenant_types::SchemaId,
        /// What does not match.
        reason: String,
    },
    /// A schema definition proposed for registration that is not a valid definition.
    #[error("schema {schema} cannot be registered: {reason}")]
    SchemaDefinitionInvalid {
        /// The schema id proposed.
        schema: covenant_types::SchemaId,
        /// What is wrong with the definition.
        reason: String,
    },
    /// The sender already has the most pending transactions allowed.
    #[error("sender has {pending} pending transactions, the limit mempool_sender_txs_max is {max}")]
    SenderQueueFull {
        /// Pending now.
        pending: u64,
        /// Limit.
        max: u64,
    },
    /// The mempool is full: the node is overloaded.
    #[error("node overloaded: mempool holds {txs} of {txs_max} transactions and {bytes} of {bytes_max} bytes")]
    MempoolFull {
        /// Pending transactions.
        txs: u64,
        /// Limit.
        txs_max: u64,
        /// Pending bytes.
        bytes: u64,
        /// Limit.
        bytes_max: u64,
    },
    /// A member's operators sent this node more transactions than its per-member admission rate
    /// allows (node configuration `member_txs_per_second`, `member_txs_burst`): the node is
    /// overloaded by that member.
    #[error(
        "node overloaded by member {member}: it sent more than {txs_per_second} transactions per second (burst {burst}) to this node; retry later"
    )]
    MemberRateExceeded {
        /// The member.
        member: MemberId,
        /// Its sustained rate.
        txs_per_second: u64,
        /// Its burst.
        burst: u64,
    },
    /// The sender lacks the role this kind of transaction needs.
    #[error("operator {operator} lacks the {role:?} role that a {kind} transaction needs")]
    MissingRole {
        /// The sender.
        operator: OperatorId,
        /// The role needed.
        role: Role,
        /// The payload kind.
        kind: String,
    },
    /// An operator approved (or rejected) a proposal they made themselves.
    #[error("{operator} proposed {proposal} and cannot vote on it: nobody approves their own proposal")]
    OwnProposal {
        /// The voter.
        operator: OperatorId,
        /// The proposal.
        proposal: Hash,
    },
    /// A person voted twice on one proposal.
    #[error("person {person} of member {member} already voted on proposal {proposal}")]
    DuplicateVote {
        /// The person.
        person: PersonId,
        /// Their member.
        member: MemberId,
        /// The proposal.
        proposal: Hash,
    },
    /// A governance step names a proposal that does not exist.
    #[error("there is no proposal {proposal}")]
    UnknownProposal {
        /// The id given.
        proposal: Hash,
    },
    /// A governance step on a proposal that is no longer open.
    #[error("proposal {proposal} is {status}, not open")]
    ProposalClosed {
        /// The proposal.
        proposal: Hash,
        /// Its status.
        status: String,
    },
    /// A vote after the proposal's expiry.
    #[error("proposal {proposal} expired at {expires_at_ms} ms; block time is {now_ms} ms")]
    ProposalExpired {
        /// The proposal.
        proposal: Hash,
        /// Its expiry.
        expires_at_ms: u64,
        /// Block time (or the node's clock at admission).
        now_ms: u64,
    },
    /// A proposal whose expiry is in the past or beyond `proposal_lifetime_ms_max`.
    #[error(
        "proposal expiry {expires_at_ms} ms must be after the block time {now_ms} ms and at most proposal_lifetime_ms_max = {max_ms} ms later"
    )]
    ProposalLifetime {
        /// Expiry asked for.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
        /// Longest lifetime.
        max_ms: u64,
    },
    /// Only the proposer may withdraw a proposal.
    #[error("{operator} did not make proposal {proposal} and cannot withdraw it")]
    NotProposer {
        /// The sender.
        operator: OperatorId,
        /// The proposal.
        proposal: Hash,
    },
    /// A governance action that cannot apply to the current state (unknown or duplicate ids and the like).
    #[error("governance action refused: {reason}")]
    InvalidAction {
        /// What is wrong.
        reason: String,
    },
    /// A change would leave fewer validators than the quorum of the current set.
    #[error(
        "the change would leave {remaining} validator(s) able to vote; at least {needed} (the current quorum) must remain"
    )]
    ValidatorQuorumAtRisk {
        /// Validators left after the change.
        remaining: u64,
        /// The current set's quorum.
        needed: u64,
    },
    /// A key already registered to another operator or node.
    #[error("key {key_hex} is already registered to {owner}; every operator and node key is used once")]
    KeyInUse {
        /// The key.
        key_hex: String,
        /// Who holds it.
        owner: String,
    },
    /// A parameter change outside the parameter's covenant bounds.
    #[error("parameter {name} = {value} refused: {reason}")]
    ParameterOutOfBounds {
        /// Parameter name.
        name: String,
        /// Value asked for.
        value: u64,
        /// Why.
        reason: String,
    },
    /// An audit anchor that does not move the node's anchored audit head forward.
    #[error("audit anchor of {node} names entry {sequence}, not after its last anchored entry {last}")]
    AnchorOutOfOrder {
        /// The node.
        node: covenant_types::NodeId,
        /// Sequence anchored now.
        sequence: u64,
        /// Sequence anchored last.
        last: u64,
    },
    /// An operator sent what only a node signs (an audit anchor).
    #[error("{operator} cannot send a {kind} transaction: only nodes anchor their audit logs")]
    NodeOnlyAction {
        /// The sender.
        operator: OperatorId,
        /// The payload kind.
        kind: String,
    },
    /// A transaction about a customer account without an unexpired KYC attestation.
    #[error("customer account {account} has no unexpired KYC attestation by a member")]
    KycMissing {
        /// The customer account.
        account: covenant_types::AccountId,
    },
    /// A KYC attestation for an account that is not a customer account: an attestation does not make an
    /// account a customer's (the name does, ADR 0024).
    #[error("account {account} is not a customer account (member/customers/name): KYC attestations are for customers")]
    KycNotCustomer {
        /// The account named.
        account: covenant_types::AccountId,
    },
    /// A customer-data record that is not an encrypted envelope, or plaintext that looks like a
    /// national id number.
    #[error("customer data refused: {reason}")]
    PiiExposed {
        /// What was found.
        reason: String,
    },
    /// A contract action or call refused by one of the contract rules (COV-26 to COV-31). The contract
    /// runtime (`covenant-vm`) names the rule with the reason, so one variant carries both.
    #[error("{reason}")]
    ContractRefused {
        /// The rule that refused it (a contract rule of articles 26 to 31).
        rule: RuleId,
        /// What was wrong, with the values that broke the rule.
        reason: String,
    },
}

impl Violation {
    /// The rule this violation breaks.
    pub fn rule(&self) -> RuleId {
        match self {
            Violation::BlockTooLarge { .. }
            | Violation::TooManyTransactions { .. }
            | Violation::BlockTooLate { .. } => RuleId::BlockLimits,
            Violation::TimestampTooEarly { .. } => RuleId::TimestampIntegrity,
            Violation::ClockDrift { .. } => RuleId::ClockDrift,
            Violation::WrongChain { .. } => RuleId::EnvironmentSeparation,
            Violation::TxTooLarge { .. } => RuleId::LoadLimits,
            Violation::NonceOutOfOrder { .. } => RuleId::OrderedNonces,
            Violation::BadSignature { .. } => RuleId::Signed,
            Violation::SanctionedJurisdiction { .. } => RuleId::SanctionedJurisdiction,
            Violation::SecondAccountForPerson { .. } => RuleId::OnePersonOneAccount,
            Violation::KeyExpiredAtIssue { .. } | Violation::KeyLifetimeTooLong { .. } => RuleId::CredentialExpiry,
            Violation::ForbiddenRoleCombination { .. } => RuleId::RoleSeparation,
            Violation::ThresholdTooLow { .. }
            | Violation::AdminsTooConcentrated { .. }
            | Violation::GovernanceLockout { .. } => RuleId::NoSuperuser,
            Violation::RetentionTooShort { .. } => RuleId::Retention,
            Violation::AdminApiExposed { .. } => RuleId::EncryptedTransport,
            Violation::UnknownSender { .. } | Violation::SenderRevoked { .. } | Violation::MemberNotActive { .. } => {
                RuleId::Revocation
            }
            Violation::SignerNotRegisteredKey { .. } => RuleId::Signed,
            Violation::KeyExpired { .. } | Violation::NodeKeyForbidden { .. } => RuleId::CredentialExpiry,
            Violation::UnknownSchema { .. }
            | Violation::RecordOffSchema { .. }
            | Violation::SchemaDefinitionInvalid { .. } => RuleId::DataSchema,
            Violation::SenderQueueFull { .. }
            | Violation::MempoolFull { .. }
            | Violation::MemberRateExceeded { .. } => RuleId::LoadLimits,
            Violation::MissingRole { .. } | Violation::OwnProposal { .. } => RuleId::RoleSeparation,
            Violation::DuplicateVote { .. } => RuleId::TwoPersonRule,
            Violation::UnknownProposal { .. }
            | Violation::ProposalClosed { .. }
            | Violation::ProposalExpired { .. }
            | Violation::ProposalLifetime { .. }
            | Violation::NotProposer { .. }
            | Violation::InvalidAction { .. }
            | Violation::ValidatorQuorumAtRisk { .. } => RuleId::ChangeByConsensus,
            // A parameter's bound serves its own rule (operator_key_age_days_max: COV-11, ...).
            Violation::ParameterOutOfBounds { name, .. } => {
                crate::params::rule_for_param(name).unwrap_or(RuleId::ChangeByConsensus)
            }
            Violation::KeyInUse { .. } => RuleId::KeyRotation,
            Violation::KycMissing { .. } | Violation::KycNotCustomer { .. } => RuleId::KycRequired,
            Violation::AnchorOutOfOrder { .. } | Violation::NodeOnlyAction { .. } => RuleId::AuditTrail,
            Violation::PiiExposed { .. } => RuleId::PiiProtection,
            Violation::ContractRefused { rule, .. } => *rule,
        }
    }

    /// The article of the rule.
    pub fn article(&self) -> u8 {
        self.rule().article()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_ids_parse_and_serialize_as_their_text() {
        for rule in RuleId::ALL {
            assert_eq!(rule.id().parse::<RuleId>(), Ok(rule));
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.id()));
            assert_eq!(serde_json::from_str::<RuleId>(&json).unwrap(), rule);
            assert!((1..=53).contains(&rule.article()));
        }
        assert_eq!("COV-99-NONE".parse::<RuleId>(), Err(UnknownRuleId("COV-99-NONE".into())));
    }

    #[test]
    fn new_violations_name_their_rules() {
        let violation = Violation::AdminApiExposed { api_addr: "0.0.0.0:7200".into() };
        assert_eq!(violation.rule(), RuleId::EncryptedTransport);
        assert_eq!(violation.article(), 21);
        let violation = Violation::RetentionTooShort { days: 30, min: 365 };
        assert_eq!(violation.to_string(), "audit retention of 30 days is below the covenant minimum of 365 days");
    }
}
