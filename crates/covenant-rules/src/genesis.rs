//! The genesis file: the chain's first members, operators, nodes, parameters and governance
//! thresholds, checked against the covenant before a chain can start from it.
//!
//! Two layers, as for every configuration in Covenant:
//! 1. [`RawGenesis`]: a plain serde mirror of the TOML with unknown fields denied. Parsing stops at
//!    the first syntax or type error, which names its field path and line.
//! 2. [`Genesis`]: the typed, validated form. [`Genesis::validate`] checks every rule and returns
//!    *all* problems at once, each naming its field path (`operators[2].public_key`, 0-based indices)
//!    and, where a covenant rule is the reason, the rule id. A `Genesis` value can only be made by
//!    validation, so holding one proves the checks passed.
//!
//! No IO: the caller reads the file and passes its text.
//!
//! ```
//! # let text = include_str!("../../../node-config/genesis.toml");
//! let genesis = covenant_rules::genesis::Genesis::from_toml_str(text).unwrap();
//! assert!(genesis.validator_set().len() >= 4);
//! println!("{} {}", genesis.chain_id(), genesis.hash());
//! ```
//!
//! # Choices recorded here
//! * **Person ids are scoped by member** (`ARTICLES.md`, article 10): one person is the pair
//!   (member, person). A person may hold one operator account per member; two accounts for the same
//!   pair are refused (COV-10).
//! * **Role separation** (COV-12): see [`crate::checks::FORBIDDEN_ROLE_PAIRS`]; the auditor role is
//!   exclusive.
//! * **Key reuse**: every key (operator key, node network key, node consensus key) has one owner and
//!   one purpose. An operator key reused as a node key breaks COV-11 (system keys must not sign
//!   operator actions); two admin accounts sharing a key break COV-18 (one key would count as two
//!   approvers); two other operator accounts sharing a key break COV-10.
//! * **No superuser** (COV-18): every threshold needs at least two members, admins must be at least
//!   two persons in at least two members, and every threshold must be reachable by the members that
//!   have an admin.
//! * **Canonical hash**: members, operators, nodes, roles and the sanctioned list are sorted before
//!   hashing, so the hash does not depend on the order of entries in the file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use covenant_types::bytes::parse_hex;
use covenant_types::crypto::PUBLIC_KEY_BYTES;
use covenant_types::{
    AccountId, AssetId, ChainId, CryptoError, ENCODING_VERSION, GovernanceAction, Hash, IdError, Jurisdiction,
    MemberId, NodeId, NodeRecord, NodeRole, OperatorId, OperatorRecord, PersonId, PublicKey, Role, SchemaId, Validator,
    ValidatorSet, ValidatorSetError, hash_of,
};

use crate::checks;
use crate::params::{ChainParams, ParamError};
use crate::violation::{RuleId, Violation};

/// Fewest validators a production chain may start with: n = 3f + 1 with f = 1, the smallest set that
/// survives one faulty validator.
pub const PRODUCTION_VALIDATORS_MIN: usize = 4;
/// Longest member display name, in bytes.
pub const MEMBER_NAME_BYTES_MAX: usize = 128;
/// Smallest plausible genesis time: 2001-09-09 in ms. Anything below is almost surely seconds.
pub const GENESIS_TIME_MS_MIN: u64 = 1_000_000_000_000;

/// Whether a chain carries production data or is a test chain (COV-19: the two share nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Real data; plaintext key files are refused, at least four validators.
    Production,
    /// Test data only.
    Test,
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Production => "production",
            Environment::Test => "test",
        })
    }
}

/// A class of governance actions; each has its own approval threshold in members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Admit, suspend or remove members; change the sanctioned-jurisdiction list.
    Membership,
    /// Register or revoke operators; rotate their keys.
    Operators,
    /// Add or remove validator and observer nodes.
    Nodes,
    /// Change chain parameters, thresholds and data schemas.
    Parameters,
    /// Admit, upgrade, resume or retire contracts.
    Contracts,
    /// Pause a contract (article 27: a lower threshold, but still at least two members).
    Emergency,
}

impl ActionClass {
    /// Every class, in declaration order.
    pub const ALL: [ActionClass; 6] = [
        ActionClass::Membership,
        ActionClass::Operators,
        ActionClass::Nodes,
        ActionClass::Parameters,
        ActionClass::Contracts,
        ActionClass::Emergency,
    ];

    /// The name used in genesis (`[thresholds.<name>]`) and in `SetThreshold` actions.
    pub fn name(self) -> &'static str {
        match self {
            ActionClass::Membership => "membership",
            ActionClass::Operators => "operators",
            ActionClass::Nodes => "nodes",
            ActionClass::Parameters => "parameters",
            ActionClass::Contracts => "contracts",
            ActionClass::Emergency => "emergency",
        }
    }

    /// The class an action belongs to.
    pub fn of(action: &GovernanceAction) -> ActionClass {
        use GovernanceAction::*;
        match action {
            AdmitMember { .. } | SuspendMember(_) | RemoveMember(_) | SetSanctionedJurisdictions(_) => {
                ActionClass::Membership
            }
            RegisterOperator(_) | RevokeOperator(_) | RotateOperatorKey { .. } => ActionClass::Operators,
            AddNode(_) | RemoveNode(_) | ChangeNodeRole { .. } => ActionClass::Nodes,
            SetParameter { .. } | SetThreshold { .. } | RegisterSchema { .. } => ActionClass::Parameters,
            AdmitContract { .. } | UpgradeContract { .. } | ResumeContract(_) | RetireContract(_) => {
                ActionClass::Contracts
            }
            PauseContract(_) | EmergencyRevokeOperator(_) => ActionClass::Emergency,
        }
    }
}

impl fmt::Display for ActionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------------------------
// Raw layer
// ---------------------------------------------------------------------------------------------------

/// The genesis file as written: plain values, unknown fields denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGenesis {
    /// The chain's id (part of every signature, COV-19).
    pub chain_id: String,
    /// `production` or `test`.
    pub environment: Environment,
    /// Timestamp of the genesis block, ms since the Unix epoch; operator keys are issued at this time.
    pub genesis_time_ms: u64,
    /// ISO 3166-1 alpha-2 codes no member may operate from (COV-06). Required, even if empty.
    pub sanctioned_jurisdictions: Vec<String>,
    /// Member institutions.
    #[serde(default)]
    pub members: Vec<RawMember>,
    /// Operator accounts.
    #[serde(default)]
    pub operators: Vec<RawOperator>,
    /// Validator and observer nodes.
    #[serde(default)]
    pub nodes: Vec<RawNode>,
    /// Ledger accounts funded at genesis.
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    /// Data-record schemas registered at genesis (COV-32).
    #[serde(default)]
    pub schemas: Vec<RawSchema>,
    /// Chain parameters; every one left out takes its default.
    #[serde(default)]
    pub parameters: ChainParams,
    /// Approval threshold of each governance action class.
    pub thresholds: RawThresholds,
}

/// A member as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    /// Member id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 code.
    pub jurisdiction: String,
}

/// An operator as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOperator {
    /// Account id.
    pub id: String,
    /// The person (scoped by member).
    pub person: String,
    /// The member.
    pub member: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Ed25519 public key, 64 hex digits.
    pub public_key: String,
    /// When the key expires, ms since the Unix epoch.
    pub key_expires_at_ms: u64,
}

/// A node as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Node id.
    pub id: String,
    /// Owning member.
    pub member: String,
    /// `validator` or `observer`.
    pub role: NodeRole,
    /// Network (peer identity) key, 64 hex digits.
    pub network_key: String,
    /// Consensus key, 64 hex digits.
    pub consensus_key: String,
}

/// An account funded at genesis, as written: `{ id = "bank-a/treasury", balances = { twd = 1000 } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccount {
    /// Account id, `member/name`: the member before the `/` owns it.
    pub id: String,
    /// Opening balance per asset, in the asset's smallest unit.
    pub balances: BTreeMap<String, u64>,
}

/// A data-record schema registered at genesis, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchema {
    /// Schema id, e.g. `kyc-summary.v1`.
    pub id: String,
    /// The schema definition (JSON text, at most 16 KiB; `docs/data-records.md`), registered in full so
    /// that records are checked against it (COV-32).
    pub definition: String,
}

/// One class's threshold as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    /// Distinct members whose admins must approve.
    pub members_required: u32,
}

/// Every class's threshold as written; all are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    /// Membership and sanctions.
    pub membership: RawThreshold,
    /// Operators and their keys.
    pub operators: RawThreshold,
    /// Nodes.
    pub nodes: RawThreshold,
    /// Parameters, thresholds, schemas.
    pub parameters: RawThreshold,
    /// Contracts.
    pub contracts: RawThreshold,
    /// Emergency contract pause.
    pub emergency: RawThreshold,
}

impl RawThresholds {
    fn get(&self, class: ActionClass) -> u32 {
        match class {
            ActionClass::Membership => self.membership.members_required,
            ActionClass::Operators => self.operators.members_required,
            ActionClass::Nodes => self.nodes.members_required,
            ActionClass::Parameters => self.parameters.members_required,
            ActionClass::Contracts => self.contracts.members_required,
            ActionClass::Emergency => self.emergency.members_required,
        }
    }
}

impl RawGenesis {
    /// Parses TOML text. Stops at the first syntax, type or unknown-field error, naming its path.
    // The error names its path and carries what an operator needs to fix it; it is returned once per
    // genesis file read, so its size costs nothing worth boxing it for.
    #[allow(clippy::result_large_err)]
    pub fn from_toml_str(text: &str) -> Result<RawGenesis, GenesisError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|error| syntax_error(text, String::new(), &error))?;
        serde_path_to_error::deserialize(deserializer)
            .map_err(|error| syntax_error(text, error.path().to_string(), error.inner()))
    }
}

fn syntax_error(text: &str, path: String, error: &toml::de::Error) -> GenesisError {
    let (line, column) = error.span().map(|span| line_column(text, span.start)).unwrap_or((0, 0));
    let path = if path.is_empty() || path == "." { "(document)".to_string() } else { path };
    GenesisError { path, kind: GenesisErrorKind::Syntax { message: error.message().to_string(), line, column } }
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |tail| tail.chars().count()) + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

/// One problem in a genesis file, at a field path.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct GenesisError {
    /// Field path, e.g. `operators[2].public_key` (0-based indices), or `(document)`.
    pub path: String,
    /// What is wrong.
    pub kind: GenesisErrorKind,
}

impl GenesisError {
    fn new(path: impl Into<String>, kind: GenesisErrorKind) -> GenesisError {
        GenesisError { path: path.into(), kind }
    }

    /// The covenant rule that makes this an error, if any.
    pub fn rule(&self) -> Option<RuleId> {
        self.kind.rule()
    }
}

impl fmt::Display for GenesisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind)?;
        if let Some(rule) = self.rule() {
            write!(f, " [{rule}, article {}]", rule.article())?;
        }
        Ok(())
    }
}

/// What is wrong with a genesis field.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GenesisErrorKind {
    /// Not valid TOML, a wrong type, a missing or an unknown field.
    #[error("{message} (line {line}, column {column})")]
    Syntax {
        /// The parser's message.
        message: String,
        /// 1-based line (0 if unknown).
        line: usize,
        /// 1-based column (0 if unknown).
        column: usize,
    },
    /// A malformed id.
    #[error(transparent)]
    Id(#[from] IdError),
    /// A malformed value (jurisdiction code, hex, name, time).
    #[error("{reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// A key that is not a strict ed25519 key (non-canonical or weak, COV-30).
    #[error(transparent)]
    Key(#[from] CryptoError),
    /// The same id or code twice.
    #[error("{what} {value:?} appears twice (first at {first_path})")]
    Duplicate {
        /// What kind of entry.
        what: &'static str,
        /// The repeated value.
        value: String,
        /// Where it first appeared.
        first_path: String,
    },
    /// A reference to a member that is not declared.
    #[error("member {member} is not declared in [[members]]")]
    UnknownMember {
        /// The missing member.
        member: MemberId,
    },
    /// A key already used elsewhere.
    #[error("key {key_hex} is already used at {first_path}; every key has one owner and one purpose")]
    KeyReused {
        /// The key.
        key_hex: String,
        /// Where it was first used.
        first_path: String,
        /// The rule the reuse breaks, if any.
        rule: Option<RuleId>,
    },
    /// An operator without roles.
    #[error("an operator needs at least one role")]
    NoRoles,
    /// A role listed twice.
    #[error("role {role:?} is listed twice")]
    DuplicateRole {
        /// The role.
        role: Role,
    },
    /// A parameter outside its covenant bound or inconsistent with another.
    #[error(transparent)]
    Parameter(ParamError),
    /// A covenant rule broken.
    #[error(transparent)]
    Covenant(Violation),
    /// A threshold more members than could ever approve.
    #[error(
        "class {class} requires {members_required} members but only {admin_members} of the {members} members have an admin operator to approve"
    )]
    ThresholdUnreachable {
        /// Action class.
        class: ActionClass,
        /// Threshold given.
        members_required: u32,
        /// Members declared.
        members: usize,
        /// Members with at least one admin operator.
        admin_members: usize,
    },
    /// Too few validators for the environment.
    #[error("a {environment} chain needs at least {min} validators, found {found}")]
    TooFewValidators {
        /// Environment.
        environment: Environment,
        /// Validators declared.
        found: usize,
        /// Smallest allowed.
        min: usize,
    },
    /// The validators do not form a usable set.
    #[error(transparent)]
    ValidatorSet(ValidatorSetError),
}

impl GenesisErrorKind {
    /// The covenant rule that makes this an error, if any.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            GenesisErrorKind::Covenant(violation) => Some(violation.rule()),
            GenesisErrorKind::Parameter(error) => error.rule(),
            GenesisErrorKind::Key(_) => Some(RuleId::Signed),
            GenesisErrorKind::KeyReused { rule, .. } => *rule,
            _ => None,
        }
    }
}

/// Every problem found in a genesis file (never empty).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub struct GenesisErrors(pub Vec<GenesisError>);

impl GenesisErrors {
    /// The errors, in the order found.
    pub fn errors(&self) -> &[GenesisError] {
        &self.0
    }

    /// The errors at exactly `path`.
    pub fn at<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a GenesisError> + 'a {
        self.0.iter().filter(move |error| error.path == path)
    }
}

impl fmt::Display for GenesisErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error(s) in genesis:", self.0.len())?;
        for error in &self.0 {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl From<GenesisError> for GenesisErrors {
    fn from(error: GenesisError) -> GenesisErrors {
        GenesisErrors(vec![error])
    }
}

// ---------------------------------------------------------------------------------------------------
// Typed layer
// ---------------------------------------------------------------------------------------------------

/// A member institution at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Member id.
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// Where it operates (COV-06).
    pub jurisdiction: Jurisdiction,
}

/// An account funded at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account id.
    pub id: AccountId,
    /// Opening balances per asset.
    pub balances: BTreeMap<AssetId, u64>,
}

/// A data-record schema registered at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema id.
    pub id: SchemaId,
    /// Its definition as written (checked by [`crate::schema::SchemaDefinition::parse`]).
    pub definition: Vec<u8>,
}

/// Members required to approve each class of governance action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Membership and sanctions.
    pub membership: u32,
    /// Operators and their keys.
    pub operators: u32,
    /// Nodes.
    pub nodes: u32,
    /// Parameters, thresholds, schemas.
    pub parameters: u32,
    /// Contracts.
    pub contracts: u32,
    /// Emergency contract pause.
    pub emergency: u32,
}

impl Thresholds {
    /// Sets the members required for `class`.
    pub fn set(&mut self, class: ActionClass, members_required: u32) {
        let slot = match class {
            ActionClass::Membership => &mut self.membership,
            ActionClass::Operators => &mut self.operators,
            ActionClass::Nodes => &mut self.nodes,
            ActionClass::Parameters => &mut self.parameters,
            ActionClass::Contracts => &mut self.contracts,
            ActionClass::Emergency => &mut self.emergency,
        };
        *slot = members_required;
    }

    /// Members required for `class`.
    pub fn members_required(&self, class: ActionClass) -> u32 {
        match class {
            ActionClass::Membership => self.membership,
            ActionClass::Operators => self.operators,
            ActionClass::Nodes => self.nodes,
            ActionClass::Parameters => self.parameters,
            ActionClass::Contracts => self.contracts,
            ActionClass::Emergency => self.emergency,
        }
    }
}

/// A validated genesis. Only [`Genesis::validate`] makes one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Genesis {
    format_version: u16,
    chain_id: ChainId,
    environment: Environment,
    genesis_time_ms: u64,
    sanctioned_jurisdictions: Vec<Jurisdiction>,
    members: Vec<Member>,
    operators: Vec<OperatorRecord>,
    nodes: Vec<NodeRecord>,
    accounts: Vec<Account>,
    schemas: Vec<Schema>,
    parameters: ChainParams,
    thresholds: Thresholds,
    /// Derived from `nodes`; not part of the hash.
    #[serde(skip)]
    validator_set: ValidatorSet,
}

impl Genesis {
    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str) -> Result<Genesis, GenesisErrors> {
        Genesis::validate(RawGenesis::from_toml_str(text)?)
    }

    /// Checks every rule, returning all problems found.
    pub fn validate(raw: RawGenesis) -> Result<Genesis, GenesisErrors> {
        Checker::default().run(raw)
    }

    /// The chain id.
    pub fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }

    /// Production or test.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Genesis block time, ms.
    pub fn genesis_time_ms(&self) -> u64 {
        self.genesis_time_ms
    }

    /// Sanctioned jurisdictions, sorted.
    pub fn sanctioned_jurisdictions(&self) -> &[Jurisdiction] {
        &self.sanctioned_jurisdictions
    }

    /// Members, sorted by id.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Operators, sorted by id.
    pub fn operators(&self) -> &[OperatorRecord] {
        &self.operators
    }

    /// Nodes (validators and observers), sorted by id.
    pub fn nodes(&self) -> &[NodeRecord] {
        &self.nodes
    }

    /// The node with this id.
    pub fn node(&self, id: &NodeId) -> Option<&NodeRecord> {
        self.nodes.iter().find(|node| &node.id == id)
    }

    /// Accounts funded at genesis, sorted by id.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Schemas registered at genesis, sorted by id.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// Chain parameters.
    pub fn parameters(&self) -> &ChainParams {
        &self.parameters
    }

    /// Governance thresholds.
    pub fn thresholds(&self) -> &Thresholds {
        &self.thresholds
    }

    /// The validator set of height 1.
    pub fn validator_set(&self) -> &ValidatorSet {
        &self.validator_set
    }

    /// Canonical hash of the validated genesis (BCS of the typed form, entries sorted).
    pub fn hash(&self) -> Hash {
        hash_of(self)
    }
}

/// Collects errors while validating.
#[derive(Default)]
struct Checker {
    errors: Vec<GenesisError>,
}

/// What a key is used for, to name the rule a reuse breaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyUse {
    Operator { admin: bool },
    Node,
}

impl Checker {
    fn push(&mut self, path: impl Into<String>, kind: GenesisErrorKind) {
        self.errors.push(GenesisError::new(path, kind));
    }

    fn id<T>(&mut self, path: String, parsed: Result<T, IdError>) -> Option<T> {
        parsed.map_err(|error| self.push(path, error.into())).ok()
    }

    fn key(&mut self, path: String, text: &str) -> Option<PublicKey> {
        match parse_hex::<PUBLIC_KEY_BYTES>(text) {
            Err(reason) => {
                self.push(path, GenesisErrorKind::Invalid { reason: format!("public key: {reason}") });
                None
            }
            Ok(bytes) => PublicKey::from_bytes(&bytes).map_err(|error| self.push(path, error.into())).ok(),
        }
    }

    fn run(mut self, raw: RawGenesis) -> Result<Genesis, GenesisErrors> {
        let chain_id = self.id("chain_id".into(), ChainId::new(raw.chain_id));
        if raw.genesis_time_ms < GENESIS_TIME_MS_MIN {
            self.push(
                "genesis_time_ms",
                GenesisErrorKind::Invalid {
                    reason: format!(
                        "{} is before {GENESIS_TIME_MS_MIN} (2001-09-09): genesis_time_ms is in milliseconds, not seconds",
                        raw.genesis_time_ms
                    ),
                },
            );
        }

        let sanctioned = self.sanctioned(&raw.sanctioned_jurisdictions);
        let members = self.members(&raw.members, &sanctioned);
        let operators = self.operators(&raw.operators, &members, &raw.parameters, raw.genesis_time_ms);
        let nodes = self.nodes(&raw.nodes, &members);
        self.key_reuse(&operators, &nodes);
        if let Err(errors) = raw.parameters.validate() {
            for error in errors {
                self.push(format!("parameters.{}", error.param_name()), GenesisErrorKind::Parameter(error));
            }
        }
        let accounts = self.accounts(&raw.accounts, &members);
        let schemas = self.schemas(&raw.schemas);
        let thresholds = self.thresholds(&raw.thresholds, members.len(), &operators);
        let validator_set = self.validators(raw.environment, &nodes);

        match (chain_id, validator_set) {
            (Some(chain_id), Some(validator_set)) if self.errors.is_empty() => {
                let mut members: Vec<Member> = members.into_values().collect();
                members.sort_by(|a, b| a.id.cmp(&b.id));
                let mut operators: Vec<OperatorRecord> = operators.into_iter().map(|(_, record)| record).collect();
                operators.sort_by(|a, b| a.id.cmp(&b.id));
                let mut nodes: Vec<NodeRecord> = nodes.into_iter().map(|(_, record)| record).collect();
                nodes.sort_by(|a, b| a.id.cmp(&b.id));
                Ok(Genesis {
                    format_version: ENCODING_VERSION,
                    chain_id,
                    environment: raw.environment,
                    genesis_time_ms: raw.genesis_time_ms,
                    sanctioned_jurisdictions: sanctioned.into_iter().collect(),
                    members,
                    operators,
                    nodes,
                    accounts,
                    schemas,
                    parameters: raw.parameters,
                    thresholds,
                    validator_set,
                })
            }
            _ => Err(GenesisErrors(self.errors)),
        }
    }

    fn accounts(&mut self, raw: &[RawAccount], members: &BTreeMap<MemberId, Member>) -> Vec<Account> {
        let mut accounts: BTreeMap<AccountId, Account> = BTreeMap::new();
        for (index, account) in raw.iter().enumerate() {
            let at = |field: &str| format!("accounts[{index}].{field}");
            let Some(id) = self.id(at("id"), AccountId::new(account.id.as_str())) else { continue };
            let owner = account.id.split_once('/').map(|(owner, _)| owner).unwrap_or("");
            match MemberId::new(owner) {
                Ok(owner) if members.contains_key(&owner) => {}
                Ok(owner) => {
                    self.push(at("id"), GenesisErrorKind::UnknownMember { member: owner });
                    continue;
                }
                Err(_) => {
                    let reason = format!("account id {:?} must be member/name, naming its owning member", account.id);
                    self.push(at("id"), GenesisErrorKind::Invalid { reason });
                    continue;
                }
            }
            let mut balances = BTreeMap::new();
            for (asset, amount) in &account.balances {
                if let Some(asset) = self.id(format!("{}[{asset}]", at("balances")), AssetId::new(asset.as_str())) {
                    balances.insert(asset, *amount);
                }
            }
            if accounts.contains_key(&id) {
                let kind = GenesisErrorKind::Duplicate {
                    what: "account id",
                    value: id.to_string(),
                    first_path: "accounts".into(),
                };
                self.push(at("id"), kind);
                continue;
            }
            accounts.insert(id.clone(), Account { id, balances });
        }
        accounts.into_values().collect()
    }

    fn schemas(&mut self, raw: &[RawSchema]) -> Vec<Schema> {
        let mut schemas: BTreeMap<SchemaId, Schema> = BTreeMap::new();
        for (index, schema) in raw.iter().enumerate() {
            let at = |field: &str| format!("schemas[{index}].{field}");
            let Some(id) = self.id(at("id"), SchemaId::new(schema.id.as_str())) else { continue };
            let definition = schema.definition.as_bytes().to_vec();
            if let Err(reason) = crate::schema::SchemaDefinition::parse(&definition) {
                self.push(
                    at("definition"),
                    GenesisErrorKind::Invalid { reason: format!("schema definition: {reason}") },
                );
                continue;
            }
            if schemas.contains_key(&id) {
                let kind = GenesisErrorKind::Duplicate {
                    what: "schema id",
                    value: id.to_string(),
                    first_path: "schemas".into(),
                };
                self.push(at("id"), kind);
                continue;
            }
            schemas.insert(id.clone(), Schema { id, definition });
        }
        schemas.into_values().collect()
    }

    fn sanctioned(&mut self, codes: &[String]) -> BTreeSet<Jurisdiction> {
        let mut seen: BTreeMap<Jurisdiction, String> = BTreeMap::new();
        for (index, code) in codes.iter().enumerate() {
            let path = format!("sanctioned_jurisdictions[{index}]");
            match Jurisdiction::new(code.as_str()) {
                Err(reason) => self.push(path, GenesisErrorKind::Invalid { reason }),
                Ok(code) => {
                    if let Some(first_path) = seen.get(&code) {
                        let kind = GenesisErrorKind::Duplicate {
                            what: "jurisdiction",
                            value: code.to_string(),
                            first_path: first_path.clone(),
                        };
                        self.push(path, kind);
                    } else {
                        seen.insert(code, path);
                    }
                }
            }
        }
        seen.into_keys().collect()
    }

    fn members(&mut self, raw: &[RawMember], sanctioned: &BTreeSet<Jurisdiction>) -> BTreeMap<MemberId, Member> {
        let sanctioned: Vec<Jurisdiction> = sanctioned.iter().cloned().collect();
        let mut members = BTreeMap::new();
        let mut first_paths: BTreeMap<MemberId, String> = BTreeMap::new();
        for (index, member) in raw.iter().enumerate() {
            let at = |field: &str| format!("members[{index}].{field}");
            let id = self.id(at("id"), MemberId::new(member.id.as_str()));
            let name = member.name.trim();
            if name.is_empty() || name.len() > MEMBER_NAME_BYTES_MAX || name.chars().any(char::is_control) {
                let reason = format!(
                    "member name {:?} must be 1 to {MEMBER_NAME_BYTES_MAX} bytes without control characters",
                    member.name
                );
                self.push(at("name"), GenesisErrorKind::Invalid { reason });
            }
            let jurisdiction = match Jurisdiction::new(member.jurisdiction.as_str()) {
                Ok(code) => Some(code),
                Err(reason) => {
                    self.push(at("jurisdiction"), GenesisErrorKind::Invalid { reason });
                    None
                }
            };
            let (Some(id), Some(jurisdiction)) = (id, jurisdiction) else { continue };
            if let Err(violation) = checks::check_jurisdiction_allowed(&id, &jurisdiction, &sanctioned) {
                self.push(at("jurisdiction"), GenesisErrorKind::Covenant(violation));
            }
            if let Some(first_path) = first_paths.get(&id) {
                let kind = GenesisErrorKind::Duplicate {
                    what: "member id",
                    value: id.to_string(),
                    first_path: first_path.clone(),
                };
                self.push(at("id"), kind);
                continue;
            }
            first_paths.insert(id.clone(), at("id"));
            members.insert(id.clone(), Member { id, name: name.to_string(), jurisdiction });
        }
        members
    }

    fn member_ref(&mut self, path: String, text: &str, members: &BTreeMap<MemberId, Member>) -> Option<MemberId> {
        let member = self.id(path.clone(), MemberId::new(text))?;
        if !members.contains_key(&member) {
            self.push(path, GenesisErrorKind::UnknownMember { member });
            return None;
        }
        Some(member)
    }

    /// Returns (index in the file, record) for every operator that passed its own checks.
    fn operators(
        &mut self,
        raw: &[RawOperator],
        members: &BTreeMap<MemberId, Member>,
        params: &ChainParams,
        genesis_time_ms: u64,
    ) -> Vec<(usize, OperatorRecord)> {
        let mut records = Vec::new();
        let mut ids: BTreeMap<OperatorId, String> = BTreeMap::new();
        let mut persons: BTreeMap<(MemberId, PersonId), OperatorId> = BTreeMap::new();
        for (index, operator) in raw.iter().enumerate() {
            let at = |field: &str| format!("operators[{index}].{field}");
            let id = self.id(at("id"), OperatorId::new(operator.id.as_str()));
            if let Some(id) = &id {
                if let Some(first_path) = ids.get(id) {
                    let kind = GenesisErrorKind::Duplicate {
                        what: "operator id",
                        value: id.to_string(),
                        first_path: first_path.clone(),
                    };
                    self.push(at("id"), kind);
                } else {
                    ids.insert(id.clone(), at("id"));
                }
            }
            let person = self.id(at("person"), PersonId::new(operator.person.as_str()));
            let member = self.member_ref(at("member"), &operator.member, members);
            let mut roles = operator.roles.clone();
            roles.sort();
            if roles.is_empty() {
                self.push(at("roles"), GenesisErrorKind::NoRoles);
            }
            if let Some(pair) = roles.windows(2).find(|pair| pair[0] == pair[1]) {
                self.push(at("roles"), GenesisErrorKind::DuplicateRole { role: pair[0] });
            }
            if let Err(violation) = checks::check_role_combination(&roles) {
                self.push(at("roles"), GenesisErrorKind::Covenant(violation));
            }
            let key = self.key(at("public_key"), &operator.public_key);
            if let Err(violation) = checks::check_key_lifetime(genesis_time_ms, operator.key_expires_at_ms, params) {
                self.push(at("key_expires_at_ms"), GenesisErrorKind::Covenant(violation));
            }
            let (Some(id), Some(person), Some(member), Some(key)) = (id, person, member, key) else { continue };
            match persons.get(&(member.clone(), person.clone())) {
                Some(existing) if existing != &id => {
                    let violation = Violation::SecondAccountForPerson {
                        person: person.clone(),
                        member: member.clone(),
                        existing: existing.clone(),
                        second: id.clone(),
                    };
                    self.push(at("person"), GenesisErrorKind::Covenant(violation));
                }
                _ => {
                    persons.insert((member.clone(), person.clone()), id.clone());
                }
            }
            let record =
                OperatorRecord { id, person, member, roles, key, key_expires_at_ms: operator.key_expires_at_ms };
            records.push((index, record));
        }
        records
    }

    fn nodes(&mut self, raw: &[RawNode], members: &BTreeMap<MemberId, Member>) -> Vec<(usize, NodeRecord)> {
        let mut records = Vec::new();
        let mut ids: BTreeMap<NodeId, String> = BTreeMap::new();
        for (index, node) in raw.iter().enumerate() {
            let at = |field: &str| format!("nodes[{index}].{field}");
            let id = self.id(at("id"), NodeId::new(node.id.as_str()));
            if let Some(id) = &id {
                if let Some(first_path) = ids.get(id) {
                    let kind = GenesisErrorKind::Duplicate {
                        what: "node id",
                        value: id.to_string(),
                        first_path: first_path.clone(),
                    };
                    self.push(at("id"), kind);
                } else {
                    ids.insert(id.clone(), at("id"));
                }
            }
            let member = self.member_ref(at("member"), &node.member, members);
            let network_key = self.key(at("network_key"), &node.network_key);
            let consensus_key = self.key(at("consensus_key"), &node.consensus_key);
            let (Some(id), Some(member), Some(network_key), Some(consensus_key)) =
                (id, member, network_key, consensus_key)
            else {
                continue;
            };
            records.push((index, NodeRecord { id, member, role: node.role, network_key, consensus_key }));
        }
        records
    }

    fn key_reuse(&mut self, operators: &[(usize, OperatorRecord)], nodes: &[(usize, NodeRecord)]) {
        let mut uses: Vec<(PublicKey, String, KeyUse)> = Vec::new();
        for (index, operator) in operators {
            let admin = operator.roles.contains(&Role::Admin);
            uses.push((operator.key, format!("operators[{index}].public_key"), KeyUse::Operator { admin }));
        }
        for (index, node) in nodes {
            uses.push((node.network_key, format!("nodes[{index}].network_key"), KeyUse::Node));
            uses.push((node.consensus_key, format!("nodes[{index}].consensus_key"), KeyUse::Node));
        }
        let mut first: BTreeMap<PublicKey, (String, KeyUse)> = BTreeMap::new();
        for (key, path, key_use) in uses {
            match first.get(&key) {
                None => {
                    first.insert(key, (path, key_use));
                }
                Some((first_path, first_use)) => {
                    let rule = match (first_use, key_use) {
                        (KeyUse::Operator { admin: true }, KeyUse::Operator { admin: true }) => {
                            Some(RuleId::NoSuperuser)
                        }
                        (KeyUse::Operator { .. }, KeyUse::Operator { .. }) => Some(RuleId::OnePersonOneAccount),
                        (KeyUse::Operator { .. }, KeyUse::Node) | (KeyUse::Node, KeyUse::Operator { .. }) => {
                            Some(RuleId::CredentialExpiry)
                        }
                        (KeyUse::Node, KeyUse::Node) => None,
                    };
                    let kind =
                        GenesisErrorKind::KeyReused { key_hex: key.to_hex(), first_path: first_path.clone(), rule };
                    self.push(path, kind);
                }
            }
        }
    }

    fn thresholds(&mut self, raw: &RawThresholds, members: usize, operators: &[(usize, OperatorRecord)]) -> Thresholds {
        let admins: Vec<&OperatorRecord> = operators
            .iter()
            .map(|(_, operator)| operator)
            .filter(|operator| operator.roles.contains(&Role::Admin))
            .collect();
        let admin_persons: BTreeSet<(&MemberId, &PersonId)> =
            admins.iter().map(|operator| (&operator.member, &operator.person)).collect();
        let admin_members: BTreeSet<&MemberId> = admins.iter().map(|operator| &operator.member).collect();
        if let Err(violation) = checks::check_admin_spread(admin_persons.len() as u64, admin_members.len() as u64) {
            self.push("operators", GenesisErrorKind::Covenant(violation));
        }
        for class in ActionClass::ALL {
            let path = format!("thresholds.{class}.members_required");
            let members_required = raw.get(class);
            if let Err(violation) = checks::check_threshold(class.name(), members_required) {
                self.push(path, GenesisErrorKind::Covenant(violation));
            } else if members_required as usize > admin_members.len() {
                let kind = GenesisErrorKind::ThresholdUnreachable {
                    class,
                    members_required,
                    members,
                    admin_members: admin_members.len(),
                };
                self.push(path, kind);
            }
        }
        Thresholds {
            membership: raw.membership.members_required,
            operators: raw.operators.members_required,
            nodes: raw.nodes.members_required,
            parameters: raw.parameters.members_required,
            contracts: raw.contracts.members_required,
            emergency: raw.emergency.members_required,
        }
    }

    fn validators(&mut self, environment: Environment, nodes: &[(usize, NodeRecord)]) -> Option<ValidatorSet> {
        let validators: Vec<Validator> = nodes
            .iter()
            .filter(|(_, node)| node.role == NodeRole::Validator)
            .map(|(_, node)| Validator { id: node.id.clone(), consensus_key: node.consensus_key })
            .collect();
        if environment == Environment::Production && validators.len() < PRODUCTION_VALIDATORS_MIN {
            let kind = GenesisErrorKind::TooFewValidators {
                environment,
                found: validators.len(),
                min: PRODUCTION_VALIDATORS_MIN,
            };
            self.push("nodes", kind);
        }
        ValidatorSet::new(validators).map_err(|error| self.push("nodes", GenesisErrorKind::ValidatorSet(error))).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_types::SecretKey;

    const DAY_MS: u64 = checks::DAY_MS;
    const T0: u64 = 1_767_225_600_000;

    fn key(seed: u8) -> String {
        SecretKey::from_seed(&[seed; 32]).public_key().to_hex()
    }

    /// A valid 4-member test genesis built in code, so each test changes one thing.
    fn raw() -> RawGenesis {
        let members = ["bank-a", "bank-b", "bank-c", "bank-d"];
        RawGenesis {
            chain_id: "covenant-unit".into(),
            environment: Environment::Test,
            genesis_time_ms: T0,
            sanctioned_jurisdictions: vec!["KP".into(), "IR".into()],
            accounts: vec![RawAccount { id: "bank-a/treasury".into(), balances: [("twd".to_string(), 100)].into() }],
            schemas: vec![RawSchema {
                id: "demo.v1".into(),
                definition: r#"{"classifications":["internal"],"fields":[]}"#.into(),
            }],
            members: members
                .iter()
                .map(|id| RawMember { id: id.to_string(), name: format!("Bank {id}"), jurisdiction: "TW".into() })
                .collect(),
            operators: members
                .iter()
                .enumerate()
                .map(|(index, member)| RawOperator {
                    id: format!("{member}-admin"),
                    person: format!("person-{index}"),
                    member: member.to_string(),
                    roles: vec![Role::Admin],
                    public_key: key(10 + index as u8),
                    key_expires_at_ms: T0 + 90 * DAY_MS,
                })
                .collect(),
            nodes: members
                .iter()
                .enumerate()
                .map(|(index, member)| RawNode {
                    id: format!("{member}-val"),
                    member: member.to_string(),
                    role: NodeRole::Validator,
                    network_key: key(20 + index as u8),
                    consensus_key: key(30 + index as u8),
                })
                .collect(),
            parameters: ChainParams::default(),
            thresholds: RawThresholds {
                membership: RawThreshold { members_required: 3 },
                operators: RawThreshold { members_required: 3 },
                nodes: RawThreshold { members_required: 3 },
                parameters: RawThreshold { members_required: 3 },
                contracts: RawThreshold { members_required: 3 },
                emergency: RawThreshold { members_required: 2 },
            },
        }
    }

    fn errors(raw: RawGenesis) -> GenesisErrors {
        Genesis::validate(raw).expect_err("genesis must be refused")
    }

    fn only(errors: &GenesisErrors, path: &str) -> GenesisError {
        let found: Vec<_> = errors.at(path).cloned().collect();
        assert_eq!(found.len(), 1, "expected one error at {path}, got: {errors}");
        found[0].clone()
    }

    #[test]
    fn valid_genesis_builds_a_validator_set() {
        let genesis = Genesis::validate(raw()).unwrap();
        assert_eq!(genesis.validator_set().len(), 4);
        assert_eq!(genesis.validator_set().quorum(), 3);
        assert_eq!(genesis.members().len(), 4);
        assert_eq!(genesis.thresholds().members_required(ActionClass::Emergency), 2);
        assert_eq!(genesis.sanctioned_jurisdictions()[0].as_str(), "IR");
    }

    #[test]
    fn hash_ignores_entry_order_but_not_content() {
        let genesis = Genesis::validate(raw()).unwrap();
        let mut reordered = raw();
        reordered.members.reverse();
        reordered.operators.reverse();
        reordered.nodes.reverse();
        reordered.sanctioned_jurisdictions.reverse();
        assert_eq!(Genesis::validate(reordered).unwrap().hash(), genesis.hash());
        let mut changed = raw();
        changed.parameters.block_txs_max = 5_000;
        assert_ne!(Genesis::validate(changed).unwrap().hash(), genesis.hash());
    }

    #[test]
    fn collects_every_error_with_its_path() {
        let mut raw = raw();
        raw.chain_id = "Bad Chain".into();
        raw.operators[2].public_key = "zz".into();
        raw.parameters.audit_retention_days = 30;
        raw.nodes[1].member = "bank-z".into();
        let errors = errors(raw);
        assert_eq!(errors.errors().len(), 4, "{errors}");
        only(&errors, "chain_id");
        only(&errors, "operators[2].public_key");
        assert_eq!(only(&errors, "parameters.audit_retention_days").rule(), Some(RuleId::Retention));
        assert!(matches!(only(&errors, "nodes[1].member").kind, GenesisErrorKind::UnknownMember { .. }));
        let text = errors.to_string();
        assert!(text.contains("parameters.audit_retention_days: parameter audit_retention_days = 30"), "{text}");
        assert!(text.contains("[COV-18-RETENTION, article 18]"), "{text}");
    }

    #[test]
    fn single_admin_member_is_refused() {
        let mut genesis = raw();
        for operator in &mut genesis.operators[1..] {
            operator.roles = vec![Role::Submitter];
        }
        let found = errors(genesis);
        assert_eq!(only(&found, "operators").rule(), Some(RuleId::NoSuperuser));
        // Thresholds of 3 (and 2) are now unreachable with one admin member.
        assert!(matches!(
            only(&found, "thresholds.membership.members_required").kind,
            GenesisErrorKind::ThresholdUnreachable { admin_members: 1, .. }
        ));
    }

    #[test]
    fn single_member_threshold_is_refused() {
        let mut genesis = raw();
        genesis.thresholds.emergency.members_required = 1;
        let found = errors(genesis);
        assert_eq!(found.errors().len(), 1, "{found}");
        assert_eq!(only(&found, "thresholds.emergency.members_required").rule(), Some(RuleId::NoSuperuser));
    }

    #[test]
    fn two_admins_of_one_member_are_not_enough() {
        let mut raw = raw();
        raw.operators[1].member = "bank-a".into();
        raw.operators[2].roles = vec![Role::Submitter];
        raw.operators[3].roles = vec![Role::Submitter];
        let errors = errors(raw);
        let error = only(&errors, "operators");
        assert_eq!(
            error.kind,
            GenesisErrorKind::Covenant(Violation::AdminsTooConcentrated { admin_persons: 2, admin_members: 1 })
        );
    }

    #[test]
    fn covenant_rules_name_their_ids() {
        let mut raw = raw();
        raw.members[3].jurisdiction = "KP".into();
        raw.operators[0].roles = vec![Role::Admin, Role::Auditor];
        raw.operators[1].key_expires_at_ms = T0 + 91 * DAY_MS;
        raw.operators.push(RawOperator {
            id: "bank-c-second".into(),
            person: "person-2".into(),
            member: "bank-c".into(),
            roles: vec![Role::Submitter],
            public_key: key(99),
            key_expires_at_ms: T0 + DAY_MS,
        });
        let errors = errors(raw);
        assert_eq!(only(&errors, "members[3].jurisdiction").rule(), Some(RuleId::SanctionedJurisdiction));
        assert_eq!(only(&errors, "operators[0].roles").rule(), Some(RuleId::RoleSeparation));
        assert_eq!(only(&errors, "operators[1].key_expires_at_ms").rule(), Some(RuleId::CredentialExpiry));
        assert_eq!(only(&errors, "operators[4].person").rule(), Some(RuleId::OnePersonOneAccount));
        assert_eq!(errors.errors().len(), 4, "{errors}");
    }

    #[test]
    fn key_reuse_names_the_rule_it_breaks() {
        let mut raw = raw();
        raw.nodes[0].consensus_key = raw.operators[0].public_key.clone();
        raw.operators[2].public_key = raw.operators[1].public_key.clone();
        raw.nodes[3].network_key = raw.nodes[2].network_key.clone();
        let errors = errors(raw);
        assert_eq!(only(&errors, "nodes[0].consensus_key").rule(), Some(RuleId::CredentialExpiry));
        assert_eq!(only(&errors, "operators[2].public_key").rule(), Some(RuleId::NoSuperuser));
        let node_reuse = only(&errors, "nodes[3].network_key");
        assert!(
            matches!(&node_reuse.kind, GenesisErrorKind::KeyReused { first_path, rule: None, .. } if first_path == "nodes[2].network_key")
        );
    }

    #[test]
    fn weak_and_malformed_keys_are_refused() {
        let mut raw = raw();
        raw.operators[0].public_key = "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a".into();
        raw.nodes[0].network_key = "00".into();
        let errors = errors(raw);
        let weak = only(&errors, "operators[0].public_key");
        assert!(matches!(weak.kind, GenesisErrorKind::Key(CryptoError::WeakKey { .. })));
        assert_eq!(weak.rule(), Some(RuleId::Signed));
        assert_eq!(only(&errors, "nodes[0].network_key").rule(), None);
    }

    #[test]
    fn production_needs_four_validators() {
        let mut production = raw();
        production.environment = Environment::Production;
        production.nodes[3].role = NodeRole::Observer;
        let found = errors(production);
        assert_eq!(
            only(&found, "nodes").kind,
            GenesisErrorKind::TooFewValidators { environment: Environment::Production, found: 3, min: 4 }
        );
        let mut test = raw();
        test.nodes[3].role = NodeRole::Observer;
        assert_eq!(Genesis::validate(test).unwrap().validator_set().len(), 3);
    }

    #[test]
    fn duplicates_name_the_first_occurrence() {
        let mut raw = raw();
        raw.members[1].id = "bank-a".into();
        raw.sanctioned_jurisdictions.push("KP".into());
        let errors = errors(raw);
        assert!(matches!(
            &only(&errors, "members[1].id").kind,
            GenesisErrorKind::Duplicate { first_path, .. } if first_path == "members[0].id"
        ));
        only(&errors, "sanctioned_jurisdictions[2]");
    }

    #[test]
    fn seconds_instead_of_milliseconds_is_caught() {
        let mut raw = raw();
        raw.genesis_time_ms = T0 / 1000;
        for operator in &mut raw.operators {
            operator.key_expires_at_ms = raw.genesis_time_ms + DAY_MS;
        }
        let errors = errors(raw);
        assert!(only(&errors, "genesis_time_ms").to_string().contains("not seconds"));
    }

    #[test]
    fn toml_errors_name_path_and_line() {
        let text = "chain_id = \"x\"\nenvironment = \"test\"\ngenesis_time_ms = 1\nsanctioned_jurisdictions = []\n[[members]]\nid = \"a\"\nname = \"A\"\njurisdiction = \"TW\"\nowner = \"me\"\n";
        let error = RawGenesis::from_toml_str(text).unwrap_err();
        assert_eq!(error.path, "members[0].owner");
        assert!(matches!(error.kind, GenesisErrorKind::Syntax { line: 9, column: 1, .. }), "{error}");
        let error = RawGenesis::from_toml_str("environment = \"prod\"").unwrap_err();
        assert_eq!(error.path, "environment");
        let error = RawGenesis::from_toml_str("a = = 1").unwrap_err();
        assert_eq!(error.path, "(document)");
    }

    #[test]
    fn raw_genesis_round_trips_through_toml() {
        let text = toml::to_string(&raw()).unwrap();
        assert_eq!(RawGenesis::from_toml_str(&text).unwrap(), raw());
    }

    #[test]
    fn action_classes_cover_governance_actions() {
        let action = GovernanceAction::PauseContract(covenant_types::ContractId::new("c").unwrap());
        assert_eq!(ActionClass::of(&action), ActionClass::Emergency);
        let action = GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 1 };
        assert_eq!(ActionClass::of(&action), ActionClass::Parameters);
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    #[test]
    fn accounts_must_belong_to_declared_members_and_schemas_need_a_valid_definition() {
        let mut genesis = raw();
        genesis.accounts.push(RawAccount { id: "bank-z/treasury".into(), balances: BTreeMap::new() });
        genesis.accounts.push(RawAccount { id: "no-owner".into(), balances: BTreeMap::new() });
        genesis
            .schemas
            .push(RawSchema { id: "bad.v1".into(), definition: Hash::digest(b"a hash is not enough").to_hex() });
        let errors = Genesis::validate(genesis).unwrap_err();
        assert!(
            errors.at("accounts[1].id").any(|e| matches!(e.kind, GenesisErrorKind::UnknownMember { .. })),
            "{errors}"
        );
        assert!(errors.at("accounts[2].id").next().is_some(), "{errors}");
        assert!(errors.at("schemas[1].definition").next().is_some(), "{errors}");
        let genesis = Genesis::validate(raw()).unwrap();
        assert_eq!(genesis.accounts()[0].balances.values().sum::<u64>(), 100);
        assert_eq!(genesis.schemas()[0].id.as_str(), "demo.v1");
    }
}
