//! Governance actions built from command-line text and checked before anything is signed.
//!
//! Everything that can be known without the chain is checked here: ids with the `covenant-types`
//! constructors, jurisdiction codes, roles and their forbidden combinations (COV-12), key lifetimes
//! (COV-11), public keys (strict ed25519: canonical and not of small order), parameter names and their
//! covenant bounds, threshold classes and their minimum (COV-18). What depends on the chain's state (is
//! the member known, is the key already in use, would the validators keep a quorum) is checked by the
//! node when the proposal is submitted, and refused there before it can cost a nonce.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

use covenant_rules::checks::{DAY_MS, check_role_combination, check_threshold};
use covenant_rules::genesis::ActionClass;
use covenant_rules::params::PARAM_BOUNDS;
use covenant_types::{
    ContractId, GovernanceAction, Jurisdiction, MemberId, NodeId, NodeRecord, NodeRole, OperatorId, OperatorRecord,
    PersonId, Proposal, PublicKey, Role, SchemaId,
};

/// Longest an operator key may stay valid, in days (COV-11: credentials change within three months;
/// also the covenant bound of `operator_key_age_days_max`, which a chain may set lower).
pub const KEY_DAYS_MAX: u64 = 90;
/// How long a proposal stays open unless `--expires-in-hours` says otherwise.
pub const EXPIRES_IN_HOURS_DEFAULT: u64 = 24;
/// Longest a proposal may stay open, in hours: the covenant bound of `proposal_lifetime_ms_max`
/// (90 days). The chain's own value is usually lower (14 days by default); the node refuses more.
pub const EXPIRES_IN_HOURS_MAX: u64 = 90 * 24;
/// Subtracted from every expiry computed from this machine's clock, so that a clock running a little
/// ahead of the validators' cannot push a 90-day key or a maximal proposal past its limit.
pub const CLOCK_MARGIN_MS: u64 = 60_000;
/// Longest display name of a member, in bytes (execution refuses longer ones).
pub const MEMBER_NAME_BYTES_MAX: usize = 200;
/// Most jurisdictions a sanctioned list holds (execution refuses more).
pub const SANCTIONED_MAX: usize = 250;
/// Longest proposal reason, in bytes (shown to every approver; the transaction limit binds anyway).
pub const REASON_BYTES_MAX: usize = 4 * 1024;

const HOUR_MS: u64 = 3_600_000;

/// Where a public key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// 64 hex digits on the command line.
    Hex(String),
    /// A plaintext key file as `covenant keygen` writes it (the secret seed); its public key is used.
    File(PathBuf),
}

/// A governance action as given on the command line, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    /// Admit a new member.
    AdmitMember {
        /// Member id.
        member: String,
        /// Display name.
        name: String,
        /// ISO 3166-1 alpha-2 code.
        jurisdiction: String,
    },
    /// Suspend a member.
    SuspendMember(String),
    /// Remove a member for good.
    RemoveMember(String),
    /// Replace the sanctioned-jurisdiction list (empty: nothing sanctioned).
    Sanction(Vec<String>),
    /// Register an operator account.
    RegisterOperator {
        /// Operator id.
        id: String,
        /// The person behind it.
        person: String,
        /// The member it works for.
        member: String,
        /// Role names.
        roles: Vec<String>,
        /// Its public key.
        key: KeySource,
        /// Days until the key expires (1 to 90).
        expires_in_days: u64,
    },
    /// Revoke an operator account.
    RevokeOperator(String),
    /// Revoke an operator account at once (emergency class).
    EmergencyRevokeOperator(String),
    /// Replace an operator's key.
    RotateKey {
        /// The operator.
        operator: String,
        /// The new public key.
        key: KeySource,
        /// Days until the new key expires (1 to 90).
        expires_in_days: u64,
    },
    /// Add a validator or observer node.
    AddNode {
        /// Node id.
        id: String,
        /// Owning member.
        member: String,
        /// Validator or observer.
        role: NodeRole,
        /// libp2p identity key.
        network_key: KeySource,
        /// Consensus signing key.
        consensus_key: KeySource,
    },
    /// Remove a node.
    RemoveNode(String),
    /// Make an observer a validator or a validator an observer.
    SetNodeRole {
        /// The node.
        node: String,
        /// Its new role.
        role: NodeRole,
    },
    /// Change a chain parameter.
    SetParam {
        /// Parameter name.
        name: String,
        /// New value.
        value: u64,
    },
    /// Change a class's approval threshold.
    SetThreshold {
        /// Class name.
        class: String,
        /// Members required.
        members: u32,
    },
    /// Register a data-record schema.
    RegisterSchema {
        /// Schema id.
        schema: String,
        /// The definition file (JSON, at most 16 KiB; carried in full, checked here first).
        definition: PathBuf,
    },
    /// Admit a contract.
    AdmitContract {
        /// Contract id.
        contract: String,
        /// Module file: WebAssembly binary, or text compiled here.
        code: PathBuf,
        /// Manifest file (TOML or JSON).
        manifest: PathBuf,
    },
    /// Replace a contract's code and manifest.
    UpgradeContract {
        /// Contract id.
        contract: String,
        /// Module file: WebAssembly binary, or text compiled here.
        code: PathBuf,
        /// Manifest file (TOML or JSON).
        manifest: PathBuf,
    },
    /// Pause a contract (emergency class).
    PauseContract(String),
    /// Resume a paused contract.
    ResumeContract(String),
    /// Retire a contract for good.
    RetireContract(String),
}

impl ActionSpec {
    /// The checked action; `now_ms` (this machine's clock) dates key expiries.
    pub fn build(&self, now_ms: u64) -> Result<GovernanceAction> {
        Ok(match self {
            ActionSpec::AdmitMember { member, name, jurisdiction } => {
                let name = name.trim();
                if name.is_empty() || name.len() > MEMBER_NAME_BYTES_MAX {
                    bail!("--name: a member's name must be 1 to {MEMBER_NAME_BYTES_MAX} bytes, got {}", name.len());
                }
                GovernanceAction::AdmitMember {
                    member: MemberId::new(member.as_str()).context("--member")?,
                    name: name.to_string(),
                    jurisdiction: Jurisdiction::new(jurisdiction.trim())
                        .map_err(|error| anyhow!("--jurisdiction: {error}"))?,
                }
            }
            ActionSpec::SuspendMember(member) => GovernanceAction::SuspendMember(MemberId::new(member.as_str())?),
            ActionSpec::RemoveMember(member) => GovernanceAction::RemoveMember(MemberId::new(member.as_str())?),
            ActionSpec::Sanction(codes) => GovernanceAction::SetSanctionedJurisdictions(sanctioned(codes)?),
            ActionSpec::RegisterOperator { id, person, member, roles, key, expires_in_days } => {
                GovernanceAction::RegisterOperator(OperatorRecord {
                    id: OperatorId::new(id.as_str()).context("--id")?,
                    person: PersonId::new(person.as_str()).context("--person")?,
                    member: MemberId::new(member.as_str()).context("--member")?,
                    roles: parse_roles(roles)?,
                    key: public_key(key, "--public-key", "--key-file")?,
                    key_expires_at_ms: key_expiry(now_ms, *expires_in_days)?,
                })
            }
            ActionSpec::RevokeOperator(operator) => {
                GovernanceAction::RevokeOperator(OperatorId::new(operator.as_str())?)
            }
            ActionSpec::EmergencyRevokeOperator(operator) => {
                GovernanceAction::EmergencyRevokeOperator(OperatorId::new(operator.as_str())?)
            }
            ActionSpec::RotateKey { operator, key, expires_in_days } => GovernanceAction::RotateOperatorKey {
                operator: OperatorId::new(operator.as_str()).context("--operator-id")?,
                key: public_key(key, "--public-key", "--key-file")?,
                key_expires_at_ms: key_expiry(now_ms, *expires_in_days)?,
            },
            ActionSpec::AddNode { id, member, role, network_key, consensus_key } => {
                let network_key = public_key(network_key, "--network-key", "--network-key-file")?;
                let consensus_key = public_key(consensus_key, "--consensus-key", "--consensus-key-file")?;
                if network_key == consensus_key {
                    bail!(
                        "--network-key and --consensus-key are the same key {}; a node needs two distinct keys",
                        network_key.to_hex()
                    );
                }
                GovernanceAction::AddNode(NodeRecord {
                    id: NodeId::new(id.as_str()).context("--id")?,
                    member: MemberId::new(member.as_str()).context("--member")?,
                    role: *role,
                    network_key,
                    consensus_key,
                })
            }
            ActionSpec::RemoveNode(node) => GovernanceAction::RemoveNode(NodeId::new(node.as_str())?),
            ActionSpec::SetNodeRole { node, role } => {
                GovernanceAction::ChangeNodeRole { node: NodeId::new(node.as_str())?, role: *role }
            }
            ActionSpec::SetParam { name, value } => {
                check_param(name, *value)?;
                GovernanceAction::SetParameter { name: name.clone(), value: *value }
            }
            ActionSpec::SetThreshold { class, members } => {
                let class = parse_class(class)?;
                check_threshold(class.name(), *members).map_err(|violation| {
                    anyhow!("{violation} ({}, article {})", violation.rule().id(), violation.article())
                })?;
                GovernanceAction::SetThreshold { class: class.name().to_string(), members: *members }
            }
            ActionSpec::RegisterSchema { schema, definition } => GovernanceAction::RegisterSchema {
                schema: SchemaId::new(schema.as_str())?,
                definition: read_definition(definition)?,
            },
            ActionSpec::AdmitContract { contract, code, manifest } => {
                let (code, manifest) = crate::commands::contract::checked_code(code, manifest)?;
                GovernanceAction::AdmitContract { contract: ContractId::new(contract.as_str())?, code, manifest }
            }
            ActionSpec::UpgradeContract { contract, code, manifest } => {
                let (code, manifest) = crate::commands::contract::checked_code(code, manifest)?;
                GovernanceAction::UpgradeContract { contract: ContractId::new(contract.as_str())?, code, manifest }
            }
            ActionSpec::PauseContract(contract) => GovernanceAction::PauseContract(ContractId::new(contract.as_str())?),
            ActionSpec::ResumeContract(contract) => {
                GovernanceAction::ResumeContract(ContractId::new(contract.as_str())?)
            }
            ActionSpec::RetireContract(contract) => {
                GovernanceAction::RetireContract(ContractId::new(contract.as_str())?)
            }
        })
    }
}

/// Reason and lifetime of a proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposalText {
    /// Why (shown to approvers).
    pub reason: String,
    /// Hours until the proposal can no longer pass.
    pub expires_in_hours: u64,
}

/// The checked proposal for `spec`.
pub fn proposal(spec: &ActionSpec, text: &ProposalText, now_ms: u64) -> Result<Proposal> {
    let action = spec.build(now_ms)?;
    if text.reason.len() > REASON_BYTES_MAX {
        bail!("--reason: {} bytes is longer than a reason may be ({REASON_BYTES_MAX} bytes)", text.reason.len());
    }
    let hours = text.expires_in_hours;
    if hours == 0 || hours > EXPIRES_IN_HOURS_MAX {
        bail!(
            "--expires-in-hours {hours}: a proposal stays open 1 to {EXPIRES_IN_HOURS_MAX} hours (the covenant \
             bound of proposal_lifetime_ms_max; the chain's own limit, 336 hours by default, may be lower)"
        );
    }
    let expires_at_ms = now_ms.saturating_add(hours * HOUR_MS).saturating_sub(CLOCK_MARGIN_MS);
    Ok(Proposal { action, reason: text.reason.trim().to_string(), expires_at_ms })
}

/// When a key issued now for `days` days expires (COV-11: at most [`KEY_DAYS_MAX`] days).
pub fn key_expiry(now_ms: u64, days: u64) -> Result<u64> {
    if days == 0 || days > KEY_DAYS_MAX {
        bail!(
            "--expires-in-days {days}: an operator key stays valid 1 to {KEY_DAYS_MAX} days \
             (COV-11-CREDENTIAL-EXPIRY, article 11)"
        );
    }
    Ok(now_ms.saturating_add(days * DAY_MS).saturating_sub(CLOCK_MARGIN_MS))
}

/// Role names (`admin`, `submitter`, `auditor`, `contract_steward`), each once, in an allowed
/// combination (COV-12).
pub fn parse_roles(names: &[String]) -> Result<Vec<Role>> {
    let mut roles = Vec::new();
    for name in names.iter().map(|name| name.trim()).filter(|name| !name.is_empty()) {
        let role = match name.replace('-', "_").as_str() {
            "admin" => Role::Admin,
            "submitter" => Role::Submitter,
            "auditor" => Role::Auditor,
            "contract_steward" => Role::ContractSteward,
            _ => bail!("--roles: unknown role {name:?}; roles are admin, submitter, auditor, contract_steward"),
        };
        if roles.contains(&role) {
            bail!("--roles: role {name} is given twice");
        }
        roles.push(role);
    }
    if roles.is_empty() {
        bail!("--roles: an operator needs at least one role (admin, submitter, auditor, contract_steward)");
    }
    check_role_combination(&roles).map_err(|violation| {
        anyhow!("--roles: {violation} ({}, article {})", violation.rule().id(), violation.article())
    })?;
    Ok(roles)
}

/// A strict ed25519 public key from hex or from a key file.
pub fn public_key(source: &KeySource, hex_flag: &str, file_flag: &str) -> Result<PublicKey> {
    match source {
        KeySource::Hex(text) => PublicKey::from_hex(text.trim())
            .map_err(|error| anyhow!("{hex_flag} {text:?}: not a valid public key: {error}")),
        KeySource::File(path) => {
            let key = crate::keyfile::read_plaintext_key(path).context(file_flag.to_string())?;
            Ok(key.key.public_key())
        }
    }
}

fn sanctioned(codes: &[String]) -> Result<Vec<Jurisdiction>> {
    let mut list = Vec::new();
    for code in codes.iter().map(|code| code.trim()).filter(|code| !code.is_empty()) {
        let code = Jurisdiction::new(code).map_err(|error| anyhow!("sanctioned list: {error}"))?;
        if !list.contains(&code) {
            list.push(code);
        }
    }
    if list.is_empty() && !codes.is_empty() {
        bail!("sanctioned list: no jurisdiction given; use --none to sanction none");
    }
    if list.len() > SANCTIONED_MAX {
        bail!("sanctioned list: {} jurisdictions, at most {SANCTIONED_MAX}", list.len());
    }
    Ok(list)
}

/// An action class by its name.
pub fn parse_class(name: &str) -> Result<ActionClass> {
    ActionClass::ALL.into_iter().find(|class| class.name() == name.trim()).ok_or_else(|| {
        anyhow!("unknown action class {name:?}; classes are {}", ActionClass::ALL.map(ActionClass::name).join(", "))
    })
}

fn check_param(name: &str, value: u64) -> Result<()> {
    let Some(bound) = PARAM_BOUNDS.iter().find(|bound| bound.name == name) else {
        bail!(
            "unknown parameter {name:?}; parameters are {}",
            PARAM_BOUNDS.iter().map(|bound| bound.name).collect::<Vec<_>>().join(", ")
        );
    };
    if value < bound.min || value > bound.max {
        let rule = covenant_rules::params::rule_for_param(name)
            .map(|rule| format!("; {}, article {}", rule.id(), rule.article()));
        bail!(
            "parameter {name} = {value} {} is outside its covenant bound [{}, {}] ({}{})",
            bound.unit,
            bound.min,
            bound.max,
            bound.why,
            rule.unwrap_or_default()
        );
    }
    Ok(())
}

/// The schema definition in `path`, checked as execution will check it (COV-32), so a definition the
/// chain would refuse is refused here with the reason.
fn read_definition(path: &Path) -> Result<Vec<u8>> {
    let limit = covenant_rules::schema::SCHEMA_DEFINITION_BYTES_MAX;
    let file = std::fs::File::open(path).with_context(|| format!("--definition {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut bytes).with_context(|| format!("--definition {}", path.display()))?;
    covenant_rules::schema::SchemaDefinition::parse(&bytes)
        .map_err(|reason| anyhow!("--definition {}: {reason} (COV-32-DATA-SCHEMA)", path.display()))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_750_000_000_000;

    fn key_hex(seed: u8) -> String {
        covenant_types::SecretKey::from_seed(&[seed; 32]).public_key().to_hex()
    }

    fn error(spec: ActionSpec) -> String {
        format!("{:#}", spec.build(NOW).unwrap_err())
    }

    fn register(roles: &[&str], key: KeySource, days: u64) -> ActionSpec {
        ActionSpec::RegisterOperator {
            id: "bank-1.audit".into(),
            person: "carol".into(),
            member: "bank-1".into(),
            roles: roles.iter().map(|role| role.to_string()).collect(),
            key,
            expires_in_days: days,
        }
    }

    #[test]
    fn operators_are_checked_before_signing() {
        let GovernanceAction::RegisterOperator(record) =
            register(&["admin", "submitter"], KeySource::Hex(key_hex(3)), 90).build(NOW).unwrap()
        else {
            panic!()
        };
        assert_eq!(record.roles, [Role::Admin, Role::Submitter]);
        assert_eq!(record.key_expires_at_ms, NOW + 90 * DAY_MS - CLOCK_MARGIN_MS);
        assert_eq!(record.key.to_hex(), key_hex(3));

        let text = error(register(&["admin", "auditor"], KeySource::Hex(key_hex(3)), 30));
        assert!(text.contains("COV-12-ROLE-SEPARATION, article 12"), "{text}");
        let text = error(register(&["admin", "root"], KeySource::Hex(key_hex(3)), 30));
        assert!(text.contains("unknown role \"root\""), "{text}");
        let text = error(register(&["admin", "admin"], KeySource::Hex(key_hex(3)), 30));
        assert!(text.contains("given twice"), "{text}");
        let text = error(register(&[], KeySource::Hex(key_hex(3)), 30));
        assert!(text.contains("at least one role"), "{text}");
        let text = error(register(&["contract-steward"], KeySource::Hex(key_hex(3)), 91));
        assert!(text.contains("COV-11-CREDENTIAL-EXPIRY"), "{text}");
        let text = error(register(&["admin"], KeySource::Hex("zz".into()), 30));
        assert!(text.starts_with("--public-key \"zz\": not a valid public key"), "{text}");
        // The identity point is of small order: refused by the strict key check.
        let weak = format!("01{}", "00".repeat(31));
        let text = error(register(&["admin"], KeySource::Hex(weak), 30));
        assert!(text.contains("not a valid public key"), "{text}");
        let text = error(register(&["admin"], KeySource::File("/nonexistent/x.key".into()), 30));
        assert!(text.starts_with("--key-file: key file /nonexistent/x.key: cannot read"), "{text}");
    }

    #[test]
    fn members_nodes_and_lists() {
        let admit = |jurisdiction: &str, name: &str| ActionSpec::AdmitMember {
            member: "bank-9".into(),
            name: name.into(),
            jurisdiction: jurisdiction.into(),
        };
        assert!(matches!(admit("TW", "Bank Nine").build(NOW), Ok(GovernanceAction::AdmitMember { .. })));
        assert!(error(admit("tw", "Bank Nine")).starts_with("--jurisdiction: jurisdiction \"tw\" is not"));
        assert!(error(admit("TW", "  ")).starts_with("--name: "));
        assert!(error(ActionSpec::SuspendMember("Bank 9".into())).starts_with("invalid member id \"Bank 9\""));

        let sanction = |codes: &[&str]| ActionSpec::Sanction(codes.iter().map(|code| code.to_string()).collect());
        let Ok(GovernanceAction::SetSanctionedJurisdictions(list)) = sanction(&["KP", "IR", "KP"]).build(NOW) else {
            panic!()
        };
        assert_eq!(list.iter().map(Jurisdiction::as_str).collect::<Vec<_>>(), ["KP", "IR"]);
        assert_eq!(sanction(&[]).build(NOW).unwrap(), GovernanceAction::SetSanctionedJurisdictions(Vec::new()));
        assert!(error(sanction(&["KP", "Iran"])).contains("\"Iran\" is not an ISO 3166-1"));

        let node = |network: String, consensus: String| ActionSpec::AddNode {
            id: "validator-4".into(),
            member: "bank-4".into(),
            role: NodeRole::Observer,
            network_key: KeySource::Hex(network),
            consensus_key: KeySource::Hex(consensus),
        };
        assert!(matches!(node(key_hex(1), key_hex(2)).build(NOW), Ok(GovernanceAction::AddNode(_))));
        assert!(error(node(key_hex(1), key_hex(1))).contains("two distinct keys"));
        assert!(error(node(key_hex(1), "00".into())).starts_with("--consensus-key \"00\""));
    }

    #[test]
    fn parameters_thresholds_and_schemas() {
        let param = |name: &str, value: u64| ActionSpec::SetParam { name: name.into(), value };
        assert!(param("block_txs_max", 5_000).build(NOW).is_ok());
        assert!(error(param("block_tx_max", 5)).starts_with("unknown parameter \"block_tx_max\"; parameters are"));
        let text = error(param("operator_key_age_days_max", 120));
        assert!(text.contains("outside its covenant bound [1, 90]") && text.contains("COV-11"), "{text}");

        let threshold = |class: &str, members: u32| ActionSpec::SetThreshold { class: class.into(), members };
        assert!(threshold("nodes", 3).build(NOW).is_ok());
        assert!(error(threshold("node", 3)).starts_with("unknown action class \"node\"; classes are membership"));
        assert!(error(threshold("nodes", 1)).contains("COV-18-NO-SUPERUSER, article 18"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("schema.json");
        let text = br#"{"classifications": ["internal"], "fields": [{"name": "amount", "type": "u64"}]}"#;
        std::fs::write(&file, text).unwrap();
        let schema = |definition| ActionSpec::RegisterSchema { schema: "loan.v1".into(), definition };
        let Ok(GovernanceAction::RegisterSchema { definition, .. }) = schema(file.clone()).build(NOW) else { panic!() };
        assert_eq!(definition, text.to_vec(), "the definition goes on chain as written");
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, br#"{"classifications": [], "fields": []}"#).unwrap();
        let text = error(schema(bad));
        assert!(text.contains("allows no classification") && text.contains("COV-32-DATA-SCHEMA"), "{text}");
        assert!(error(schema(dir.path().join("none"))).starts_with("--definition "));
    }

    #[test]
    fn proposals_carry_reason_and_expiry() {
        let spec = ActionSpec::RemoveNode("validator-3".into());
        let text = ProposalText { reason: " retired hardware ".into(), expires_in_hours: 24 };
        let built = proposal(&spec, &text, NOW).unwrap();
        assert_eq!(built.reason, "retired hardware");
        assert_eq!(built.expires_at_ms, NOW + 24 * HOUR_MS - CLOCK_MARGIN_MS);
        let zero = ProposalText { reason: String::new(), expires_in_hours: 0 };
        assert!(format!("{:#}", proposal(&spec, &zero, NOW).unwrap_err()).starts_with("--expires-in-hours 0: "));
        let long = ProposalText { reason: "x".repeat(REASON_BYTES_MAX + 1), expires_in_hours: 1 };
        assert!(format!("{:#}", proposal(&spec, &long, NOW).unwrap_err()).starts_with("--reason: "));
    }
}
