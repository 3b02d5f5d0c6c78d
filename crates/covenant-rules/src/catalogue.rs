//! The rule catalogue: every covenant rule the node enforces or will enforce, the article it
//! implements, and an honest account of how far its enforcement has got.
//!
//! Two tables live here:
//! * [`CATALOGUE`]: one [`RuleEntry`] per [`RuleId`] (protocol rules, class P, and node controls,
//!   class N), each with an [`Enforcement`] status;
//! * [`ARTICLES`]: all 53 articles of the covenant with their classes (P, N, E, O) and the rules that
//!   implement each.
//!
//! Both are serializable so that `covenant rules --json` and the conformance report
//! (`covenant report`) are generated from them rather than written by hand.
//!
//! # What "enforced" means
//! A rule is [`Enforcement::Enforced`] only when every part of it is checked on every path where it
//! matters in the running system. A check function that exists and is tested but that no live code
//! path calls yet is [`Enforcement::CheckOnly`]; a rule checked on some paths (say, genesis) but not
//! others (say, governance execution) is [`Enforcement::Partial`], naming what is and what is not
//! covered.
//!
//! Where each part runs today: genesis validation, node-config validation and key decoding run in
//! `covenant config check` and wherever a genesis or key is loaded; the block checks run in the
//! consensus engine (`covenant-consensus`), which the node's event loop drives on every proposal it
//! builds or validates; the mempool (`covenant_core::mempool`) admits transactions; transaction checks
//! run again in block execution (`covenant-execution`), so a block carrying a transaction that
//! admission would refuse is itself refused.

use serde::Serialize;

use crate::violation::RuleId;

/// The class of a catalogued rule, as in `covenant/ARTICLES.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RuleClass {
    /// Protocol rule: enforced identically by every validator; a violating transaction or block is
    /// rejected by consensus.
    P,
    /// Node control: enforced by each node's own software and configuration.
    N,
}

/// The class of an article. An article may have several (article 45 is P/N/E); article 1 has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ArticleClass {
    /// Protocol rule.
    P,
    /// Node control.
    N,
    /// Evidence: the node produces what a member needs to show compliance.
    E,
    /// Organisational: outside any software.
    O,
}

impl From<RuleClass> for ArticleClass {
    fn from(class: RuleClass) -> ArticleClass {
        match class {
            RuleClass::P => ArticleClass::P,
            RuleClass::N => ArticleClass::N,
        }
    }
}

/// Where in the system a check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Loading a genesis file (`covenant_rules::genesis`); a `Genesis` value exists only if it passed.
    Genesis,
    /// Loading a node's own configuration (`covenant_node::config`).
    NodeConfig,
    /// Decoding any public key (from a genesis, a transaction, a header or the network).
    KeyDecoding,
    /// Making or verifying any signature.
    SignatureVerification,
    /// Mempool admission of a transaction received from a client or a peer.
    MempoolAdmission,
    /// A proposer building a block.
    BlockProposal,
    /// A validator checking a proposed block before voting.
    BlockValidation,
    /// Executing an approved governance proposal.
    GovernanceExecution,
    /// Executing a transaction's payload.
    TransactionExecution,
    /// Running contract code.
    ContractExecution,
    /// The peer-to-peer handshake.
    PeerHandshake,
    /// The node's HTTP API.
    Api,
    /// Storage, backups and the audit log.
    Storage,
    /// The node's metrics and logs.
    Observability,
}

/// How far a rule's enforcement has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Enforcement {
    /// Every part of the rule is checked on every path where it matters.
    Enforced {
        /// The functions that check it (`crate::module::function`).
        checked_in: &'static [&'static str],
        /// Where those checks run.
        stages: &'static [Stage],
    },
    /// Part of the rule is checked on a live path; the rest is not yet.
    Partial {
        /// The functions that check the enforced part.
        checked_in: &'static [&'static str],
        /// Where they run.
        stages: &'static [Stage],
        /// What is enforced today.
        enforced: &'static str,
        /// What is still missing, and where it will go.
        missing: &'static str,
    },
    /// A tested check function exists, but no live path calls it yet: nothing is enforced.
    CheckOnly {
        /// The check functions.
        checked_in: &'static [&'static str],
        /// Where they are to be called.
        to_be_called_at: &'static [Stage],
        /// What is still missing besides the wiring.
        missing: &'static str,
    },
    /// Nothing exists yet.
    NotYet {
        /// Where it is planned.
        planned: &'static str,
    },
}

impl Enforcement {
    /// Short status word for tables: `enforced`, `partial`, `check_only` or `not_yet` (as serialized).
    pub fn status(&self) -> &'static str {
        match self {
            Enforcement::Enforced { .. } => "enforced",
            Enforcement::Partial { .. } => "partial",
            Enforcement::CheckOnly { .. } => "check_only",
            Enforcement::NotYet { .. } => "not_yet",
        }
    }

    /// True only if the whole rule is enforced.
    pub fn is_enforced(&self) -> bool {
        matches!(self, Enforcement::Enforced { .. })
    }

    /// The check functions named, if any.
    pub fn checked_in(&self) -> &'static [&'static str] {
        match self {
            Enforcement::Enforced { checked_in, .. }
            | Enforcement::Partial { checked_in, .. }
            | Enforcement::CheckOnly { checked_in, .. } => checked_in,
            Enforcement::NotYet { .. } => &[],
        }
    }
}

/// One catalogued rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RuleEntry {
    /// Rule id, serialized as `COV-<article>-<NAME>`.
    pub id: RuleId,
    /// The article it implements (the number in its id).
    pub article: u8,
    /// Short title.
    pub title: &'static str,
    /// P or N.
    pub class: RuleClass,
    /// What the rule requires.
    pub description: &'static str,
    /// How far its enforcement has got.
    pub enforcement: Enforcement,
}

/// One article of the covenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Article {
    /// Article number, 1 to 53.
    pub number: u8,
    /// Its classes, in the order `ARTICLES.md` gives them; empty for article 1.
    pub classes: &'static [ArticleClass],
    /// Short English title.
    pub title: &'static str,
    /// The rules that implement it: its own rules (whose id names this article) first, then rules of
    /// other articles that also serve it (article 52 is served by `COV-49-BLOCK-LIMITS`).
    pub rules: &'static [RuleId],
}

impl Article {
    /// The classes as written in `ARTICLES.md`: `P`, `P/N`, `N/P`, `P/N/E`, or `—` for none.
    pub fn class_label(&self) -> String {
        if self.classes.is_empty() {
            return "—".to_string();
        }
        self.classes
            .iter()
            .map(|class| match class {
                ArticleClass::P => "P",
                ArticleClass::N => "N",
                ArticleClass::E => "E",
                ArticleClass::O => "O",
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// The catalogue entry of `rule`.
pub fn entry(rule: RuleId) -> &'static RuleEntry {
    CATALOGUE.iter().find(|entry| entry.id == rule).expect("every rule has a catalogue entry (tested)")
}

/// The article numbered `number`, if it exists (1 to 53).
pub fn article(number: u8) -> Option<&'static Article> {
    ARTICLES.get(usize::from(number).checked_sub(1)?)
}

use ArticleClass as A;
use Stage as S;

const GENESIS_VALIDATE: &str = "covenant_rules::genesis::Genesis::validate";
const CONSENSUS_CHECK_BLOCK: &str = "covenant_consensus::height::HeightState::check_block";
const MEMPOOL_ADMIT: &str = "covenant_core::mempool::Mempool::admit";
const CHECK_SENDER: &str = "covenant_execution::checks::check_sender";

/// Every rule, in article order.
pub const CATALOGUE: &[RuleEntry] = &[
    RuleEntry {
        id: RuleId::SanctionedJurisdiction,
        article: 6,
        title: "No members or validators in sanctioned jurisdictions",
        class: RuleClass::P,
        description: "Every member carries an ISO 3166 jurisdiction; the chain holds a sanctioned list changed by vote; members and validators there cannot be admitted, existing ones are suspended and their nodes disconnected; a node refuses to start for such a member.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_jurisdiction_allowed",
                GENESIS_VALIDATE,
                "covenant_execution::governance::check_action",
                "covenant_execution::governance::apply_action",
                "covenant_node::node::check_may_run",
                "covenant_core::core::NodeCore::refresh_allowlist",
            ],
            stages: &[S::Genesis, S::GovernanceExecution, S::PeerHandshake],
        },
    },
    RuleEntry {
        id: RuleId::KycRequired,
        article: 7,
        title: "KYC before customer data or transactions",
        class: RuleClass::P,
        description: "A customer account is one named `<member>/customers/<name>` (ADR 0024); it needs an unexpired KYC attestation by the member that owns it before a transfer from or to it, a data record about it (its subject), or a contract call that names it in its input or in a storage key or value, event or output it writes is accepted; attestations are refused for accounts that are not customer accounts.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::checks::check_kyc",
                "covenant_execution::checks::check_payload",
                "covenant_execution::contracts::check_call_data",
                "covenant_execution::contracts::run_call",
                "covenant_execution::execute::run_kyc",
                MEMPOOL_ADMIT,
            ],
            stages: &[
                S::MempoolAdmission,
                S::BlockProposal,
                S::BlockValidation,
                S::TransactionExecution,
                S::ContractExecution,
            ],
        },
    },
    RuleEntry {
        id: RuleId::CustomerDataAccess,
        article: 8,
        title: "Need-to-know access to customer data",
        class: RuleClass::N,
        description: "Reads of customer records through the API are allowed by role only; every read is audited (see COV-40).",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_node::access::read_record", "covenant_node::api::redacted"],
            stages: &[S::Api],
        },
    },
    RuleEntry {
        id: RuleId::SessionIdle,
        article: 9,
        title: "API sessions expire after 15 idle minutes",
        class: RuleClass::N,
        description: "Admin and auditor API credentials expire after at most 15 minutes without use.",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_node::auth::Sessions::check", "covenant_node::auth::alive"],
            stages: &[S::Api],
        },
    },
    RuleEntry {
        id: RuleId::OnePersonOneAccount,
        article: 10,
        title: "One person, one account",
        class: RuleClass::P,
        description: "Each operator is a registered person (person id scoped by member); a person has at most one active operator account; every signed action names the person.",
        enforcement: Enforcement::Enforced {
            checked_in: &[GENESIS_VALIDATE, "covenant_execution::governance::check_register_operator"],
            stages: &[S::Genesis, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::CredentialExpiry,
        article: 11,
        title: "Operator keys expire; node keys sign no operator actions",
        class: RuleClass::P,
        description: "Operator keys expire at most operator_key_age_days_max (at most 90) days after issue (registration or rotation); an expired key signs nothing, judged by the block time, and its earlier governance approvals stop counting when a proposal is decided; node (system) keys cannot sign operator or governance actions. Expiry approaching is measured (covenant_operator_key_expiry_seconds) and alerted 14 and 3 days ahead, not refused (ADR 0021).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_key_lifetime",
                GENESIS_VALIDATE,
                "covenant_rules::params::ChainParams::validate",
                CHECK_SENDER,
                "covenant_execution::governance::check_register_operator",
                "covenant_execution::governance::check_action",
                "covenant_execution::governance::is_active_approver",
            ],
            stages: &[S::Genesis, S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::RoleSeparation,
        article: 12,
        title: "Role separation",
        class: RuleClass::P,
        description: "Operator roles are admin, submitter, auditor, contract steward; forbidden combinations (the auditor role is exclusive) are refused; nobody approves their own proposal.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_role_combination",
                GENESIS_VALIDATE,
                "covenant_execution::checks::required_role",
                "covenant_execution::checks::check_payload",
                "covenant_execution::governance::check_vote",
                "covenant_execution::governance::check_register_operator",
            ],
            stages: &[S::Genesis, S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::ChangeByConsensus,
        article: 15,
        title: "Changes only by executed governance proposals",
        class: RuleClass::P,
        description: "Validator set, parameters, members, operators and contracts change only by an executed governance proposal, recorded on chain.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::governance::check_propose",
                "covenant_execution::governance::check_action",
                "covenant_execution::governance::approve",
            ],
            stages: &[S::MempoolAdmission, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::TwoPersonRule,
        article: 16,
        title: "Two distinct persons approve every change",
        class: RuleClass::P,
        description: "Every proposal needs approvals of at least two distinct persons besides the proposer, besides meeting its member threshold; approvals are counted when the proposal is decided, and only those of approvers still active then (account not revoked, admin role, key unexpired at the block time, member active) count (ADR 0021).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::governance::check_vote",
                "covenant_execution::governance::passes",
                "covenant_execution::governance::counted_approvals",
                "covenant_execution::governance::is_active_approver",
            ],
            stages: &[S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::Revocation,
        article: 17,
        title: "Revoked operators sign and read nothing",
        class: RuleClass::P,
        description: "A revoked operator or member signs nothing and reads nothing from the next block on; membership only by vote.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                CHECK_SENDER,
                "covenant_execution::governance::apply_action",
                "covenant_node::auth::Sessions::check",
            ],
            stages: &[S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::GovernanceExecution, S::Api],
        },
    },
    RuleEntry {
        id: RuleId::Backup,
        article: 18,
        title: "Backups verified",
        class: RuleClass::N,
        description: "Backup create, verify and restore, with an inventory; backup integrity verified.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_node::commands::backup::create",
                "covenant_node::commands::backup::verify",
                "covenant_node::commands::backup::restore",
            ],
            stages: &[S::Storage],
        },
    },
    RuleEntry {
        id: RuleId::Retention,
        article: 18,
        title: "Audit and log retention of at least 365 days",
        class: RuleClass::N,
        description: "Audit records and logs are kept at least 365 days; a chain parameter or node configuration below that is refused. The node prunes its audit log at start-up and daily, keeping the longer of the node's and the chain's audit_retention_days and the entry it last anchored on chain, and records each pruning in the log (ADR 0022).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::params::ChainParams::validate",
                "covenant_rules::params::ChainParams::with",
                "covenant_rules::checks::check_audit_retention",
                "covenant_node::config::RawNodeConfig::validate",
                "covenant_core::retention::prune_cutoff",
                "covenant_core::retention::prune_audit",
                "covenant_storage::audit::AuditLog::prune_before",
            ],
            stages: &[S::Genesis, S::NodeConfig, S::GovernanceExecution, S::Storage],
        },
    },
    RuleEntry {
        id: RuleId::NoSuperuser,
        article: 18,
        title: "No key can act alone",
        class: RuleClass::P,
        description: "No single key can change the chain alone, genesis included: every governance class needs at least two members; a genesis needs admins of at least two persons in two members; and no governance change (revocation, emergency revocation, key rotation to an earlier expiry, member suspension or removal, sanctions, threshold change) may leave fewer persons or members able to approve than the strictest class needs to pass (a proposer and two approvers, in its threshold of members), counted at the change's block time and one proposal lifetime later. Keys lapsing with time are warned about, not refused (ADR 0021).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_threshold",
                "covenant_rules::checks::check_admin_spread",
                "covenant_rules::checks::check_no_lockout",
                GENESIS_VALIDATE,
                "covenant_execution::governance::check_action",
                "covenant_execution::governance::check_approvers_after",
                "covenant_execution::governance::check_vote",
            ],
            stages: &[S::Genesis, S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::EnvironmentSeparation,
        article: 19,
        title: "Environments separated; signatures bound to one chain",
        class: RuleClass::P,
        description: "Every signature is domain-separated by chain id; each chain declares its environment (production / test); production nodes refuse test peers and keys: gossip topics and the sync protocol carry the chain id and the environment, and a peer that does not speak them is refused and audited right after the handshake even if its key is registered (ADR 0022); plaintext key files are refused for a production genesis.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_types::crypto::signing_bytes",
                "covenant_rules::checks::check_chain_id",
                "covenant_types::tx::VerifiedTx::verify_batch",
                CONSENSUS_CHECK_BLOCK,
                GENESIS_VALIDATE,
                "covenant_node::node::network_id",
                "covenant_network::service::Service::refuse_other_network",
            ],
            stages: &[S::SignatureVerification, S::MempoolAdmission, S::BlockValidation, S::Genesis, S::PeerHandshake],
        },
    },
    RuleEntry {
        id: RuleId::PermissionedPeers,
        article: 20,
        title: "Only registered nodes connect",
        class: RuleClass::N,
        description: "Only nodes whose network key is registered on chain may connect; others are refused at the handshake and the refusal is audited.",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_network::service::admitted", "covenant_core::core::NodeCore::refresh_allowlist"],
            stages: &[S::PeerHandshake],
        },
    },
    RuleEntry {
        id: RuleId::EncryptedTransport,
        article: 21,
        title: "Encrypted transport; admin API on loopback",
        class: RuleClass::N,
        description: "Peer traffic encrypted and authenticated (libp2p Noise); the client API and the operations listener serve TLS when given a certificate (api_tls_cert_file, api_tls_key_file), and a production chain refuses to serve either to other hosts without it; both listen on loopback unless explicitly made public.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_node::config::RawNodeConfig::validate",
                "covenant_node::tls::api_acceptor",
                "covenant_node::http_edge::serve",
            ],
            stages: &[S::NodeConfig],
        },
    },
    RuleEntry {
        id: RuleId::Monitoring,
        article: 22,
        title: "Metrics for consensus pace",
        class: RuleClass::N,
        description: "Metrics for consensus latency, block interval, peer traffic and mempool: /metrics exports height, round and round changes, committed blocks and transactions, commit latency, store commit time, block interval, peers, messages and bytes in and out per peer (by registered node id, the rest as (unregistered)), mempool size and bytes, verification queue, clock offset, and refusals by rule.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_node::metrics::Metrics::render",
                "covenant_node::metrics::traffic_by_node",
                "covenant_network::service::Service::count",
            ],
            stages: &[S::Observability],
        },
    },
    RuleEntry {
        id: RuleId::ContractOwnership,
        article: 26,
        title: "Contracts record owner and steward",
        class: RuleClass::P,
        description: "Each admitted contract records its owning member and steward operator.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::contracts::check_ownership",
                "covenant_execution::governance::check_action",
                "covenant_execution::contracts::apply_admit",
            ],
            stages: &[S::MempoolAdmission, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::ContractLifecycle,
        article: 27,
        title: "Contracts can be paused, upgraded, retired",
        class: RuleClass::P,
        description: "Contracts can be paused, upgraded or retired by vote; an emergency pause has a lower threshold (still at least two members).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::contracts::check_status_change",
                "covenant_execution::contracts::check_upgrade",
                "covenant_execution::governance::check_action",
                "covenant_execution::contracts::check_call",
                "covenant_vm::runtime::Vm::call",
            ],
            stages: &[
                S::MempoolAdmission,
                S::BlockProposal,
                S::BlockValidation,
                S::GovernanceExecution,
                S::ContractExecution,
            ],
        },
    },
    RuleEntry {
        id: RuleId::ContractAdmission,
        article: 28,
        title: "Only contracts admitted by vote run",
        class: RuleClass::P,
        description: "Only code whose hash an executed vote admitted can run.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_vm::validate::validate_module",
                "covenant_vm::validate::load_admitted",
                "covenant_execution::contracts::check_admission",
                "covenant_execution::governance::check_pinned_code",
                "covenant_execution::contracts::check_call",
                "covenant_execution::contracts::module_of",
            ],
            stages: &[
                S::MempoolAdmission,
                S::BlockProposal,
                S::BlockValidation,
                S::GovernanceExecution,
                S::ContractExecution,
            ],
        },
    },
    RuleEntry {
        id: RuleId::ContractLimits,
        article: 28,
        title: "Contract size and data transfer limits",
        class: RuleClass::P,
        description: "contract_bytes_max, call_input_bytes_max, call_output_bytes_max and call_storage_writes_max bound contracts and calls.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::params::ChainParams::validate",
                "covenant_vm::validate::validate_module",
                "covenant_execution::contracts::check_admission",
                "covenant_execution::contracts::check_call",
                "covenant_vm::runtime::Vm::call",
            ],
            stages: &[
                S::Genesis,
                S::MempoolAdmission,
                S::BlockProposal,
                S::BlockValidation,
                S::GovernanceExecution,
                S::ContractExecution,
            ],
        },
    },
    RuleEntry {
        id: RuleId::Fuel,
        article: 29,
        title: "Metered execution",
        class: RuleClass::P,
        description: "Contract execution is metered with fuel_per_tx_max and fuel_per_block_max.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::contracts::check_call",
                "covenant_execution::contracts::check_block_fuel",
                "covenant_execution::execute::build_block",
                "covenant_vm::runtime::Vm::call",
            ],
            stages: &[S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::ContractExecution],
        },
    },
    RuleEntry {
        id: RuleId::NoReentrancy,
        article: 29,
        title: "No re-entrant calls",
        class: RuleClass::P,
        description: "A contract cannot be re-entered while one of its calls is running.",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_vm::context::CallStack::check_enter", "covenant_vm::runtime::Vm::call"],
            stages: &[S::ContractExecution],
        },
    },
    RuleEntry {
        id: RuleId::Signed,
        article: 30,
        title: "Every transaction strictly signed",
        class: RuleClass::P,
        description: "Every transaction is signed with strict ed25519 (canonical, torsion-free keys and signatures); receipts, Merkle roots and commit seals give integrity and non-repudiation.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_types::crypto::PublicKey::from_bytes",
                "covenant_types::tx::VerifiedTx::verify_batch",
                "covenant_consensus::height::check_seals",
                CHECK_SENDER,
            ],
            stages: &[S::KeyDecoding, S::Genesis, S::MempoolAdmission, S::BlockValidation],
        },
    },
    RuleEntry {
        id: RuleId::FunctionAcl,
        article: 31,
        title: "Access policy per contract function",
        class: RuleClass::P,
        description: "Each exported contract function carries an access policy fixed at admission.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_vm::manifest::Manifest::validate",
                "covenant_execution::contracts::check_call",
                "covenant_vm::runtime::Vm::call",
            ],
            stages: &[
                S::MempoolAdmission,
                S::BlockProposal,
                S::BlockValidation,
                S::GovernanceExecution,
                S::ContractExecution,
            ],
        },
    },
    RuleEntry {
        id: RuleId::DataSchema,
        article: 32,
        title: "Data records follow a registered schema",
        class: RuleClass::P,
        description: "A schema is registered (by vote or in genesis) with its whole definition, at most 16 KiB, checked when proposed and when executed: classifications it allows and typed fields (string, u64, i64, bool, hex, account; required or optional; max_len). Every data record names a registered schema and its classification is one the schema allows; readable content (inline, not customer data) is a canonical JSON object (integers only) whose fields, types, lengths and required fields match. Encrypted customer data and off-chain digests cannot be read on chain: only their classification is checked (ADR 0024).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_execution::execute::run_data_record",
                "covenant_rules::schema::check_record",
                "covenant_rules::schema::SchemaDefinition::parse",
                "covenant_execution::governance::check_action",
                "covenant_rules::genesis::Checker::schemas",
            ],
            stages: &[S::Genesis, S::TransactionExecution, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::AuditTrail,
        article: 33,
        title: "Tamper-evident audit log",
        class: RuleClass::N,
        description: "Hash-chained audit log with event type, time, place and user identity; only auditors read it. \
                      Every 10 blocks the node anchors on chain a head it verified; a node's anchors only move forward \
                      (admission and block execution). The node verifies its log against the AuditAnchor transactions in \
                      its sealed blocks fully at start-up and incrementally before anchoring, refuses to anchor a log that \
                      fails (error log, metric, alert) and keeps validating. `covenant audit verify` checks a stopped node's \
                      log against its own blocks, or a running node's log through an auditor session against blocks fetched \
                      from nodes of two or more other members (identical hashes, transactions against the header, commit \
                      seals when the validator set is unchanged); no anchor means UNVERIFIED and exit 1 unless accepted.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_storage::audit::AuditEntry::seal",
                "covenant_storage::audit::AuditLog::verify_after",
                "covenant_core::audit_check::AuditVerifier::run",
                "covenant_core::audit_check::check_anchor",
                "covenant_core::anchor::anchorable_head",
                "covenant_core::core::NodeCore::anchor_audit_head",
                "covenant_execution::checks::check_payload",
                "covenant_node::commands::audit::verify",
                "covenant_node::commands::audit_remote::verify_remote",
                "covenant_node::access::read_audit",
            ],
            stages: &[S::Storage, S::MempoolAdmission, S::BlockValidation, S::Api, S::Observability],
        },
    },
    RuleEntry {
        id: RuleId::OrderedNonces,
        article: 34,
        title: "Strictly sequential per-sender nonces",
        class: RuleClass::P,
        description: "Per-sender nonces are strictly sequential; mempool and blocks keep that order.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_nonce",
                MEMPOOL_ADMIT,
                "covenant_execution::checks::check_nonce_in_state",
            ],
            stages: &[S::MempoolAdmission, S::BlockProposal, S::BlockValidation],
        },
    },
    RuleEntry {
        id: RuleId::ClockDrift,
        article: 35,
        title: "Proposal timestamps within the agreed drift",
        class: RuleClass::P,
        description: "A proposal whose timestamp is more than clock_drift_ms_max from the validator's clock is rejected; a node measures its offset against its peers and stops proposing, and alerts, when out of range.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_clock_drift",
                CONSENSUS_CHECK_BLOCK,
                "covenant_core::core::NodeCore::update_clock_offset",
            ],
            stages: &[S::BlockValidation, S::BlockProposal, S::Observability],
        },
    },
    RuleEntry {
        id: RuleId::TimestampIntegrity,
        article: 36,
        title: "Timestamps cannot be changed",
        class: RuleClass::P,
        description: "Block timestamps strictly increase by at least block_interval_ms_min, are covered by the commit seals, and no interface sets them.",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_rules::checks::check_timestamp_interval", CONSENSUS_CHECK_BLOCK],
            stages: &[S::BlockProposal, S::BlockValidation],
        },
    },
    RuleEntry {
        id: RuleId::PiiProtection,
        article: 37,
        title: "Customer data encrypted",
        class: RuleClass::P,
        description: "Records classified as customer data must be encrypted envelopes and name a customer account as subject; a record about a customer account must be classified customer data; readable record content naming a customer account is refused; plaintext that looks like a national id is refused in record content, transfer memos, contract-call input and everything a contract call writes, emits or returns (envelopes excepted).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::pii::check_record_content",
                "covenant_rules::pii::check_record_subject",
                "covenant_rules::pii::check_plaintext",
                "covenant_execution::checks::check_payload",
                "covenant_execution::contracts::check_call_data",
                "covenant_execution::contracts::run_call",
            ],
            stages: &[S::MempoolAdmission, S::BlockProposal, S::BlockValidation, S::ContractExecution],
        },
    },
    RuleEntry {
        id: RuleId::CustomerDataReadAudit,
        article: 40,
        title: "Reads of customer records audited",
        class: RuleClass::N,
        description: "Every read of customer records through the API is audited with who, what and when.",
        enforcement: Enforcement::Enforced {
            checked_in: &["covenant_node::access::read_record"],
            stages: &[S::Api, S::Storage],
        },
    },
    RuleEntry {
        id: RuleId::KeyRotation,
        article: 41,
        title: "Key rotation and emergency revocation",
        class: RuleClass::P,
        description: "Rotation and emergency revocation transactions; key files encrypted at rest; key backup and restore check.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_node::commands::config_check::cross_check",
                "covenant_execution::governance::check_action",
                "covenant_execution::governance::check_key_unused",
                "covenant_node::keyfile::check_key_policy",
            ],
            stages: &[S::NodeConfig, S::GovernanceExecution],
        },
    },
    RuleEntry {
        id: RuleId::LoadLimits,
        article: 45,
        title: "Bounded mempool and per-sender limits",
        class: RuleClass::P,
        description: "Transactions within tx_bytes_max (at admission and in every proposed block); bounded mempool (mempool_txs_max, mempool_bytes_max), per-sender limits (mempool_sender_txs_max), per-member admission rates for clients' transactions (node.toml member_txs_per_second, member_txs_burst; ADR 0022), clear \"overloaded\" errors naming COV-45.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_tx_size",
                MEMPOOL_ADMIT,
                "covenant_core::mempool::Mempool::admit_from_client",
                "covenant_core::rate::MemberBuckets::take",
                CONSENSUS_CHECK_BLOCK,
            ],
            stages: &[S::MempoolAdmission, S::BlockValidation],
        },
    },
    RuleEntry {
        id: RuleId::BlockLimits,
        article: 49,
        title: "Block size, count and interval limits",
        class: RuleClass::P,
        description: "Blocks stay within block_bytes_max and block_txs_max and come at least block_interval_ms_min apart; a round-0 block comes at most block_interval_ms_max + clock_drift_ms_max after its parent, and every block later than block_interval_ms_max is counted (covenant_late_blocks_total), since after an outage the next block is necessarily late (articles 49 and 52, ADR 0019).",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_rules::checks::check_block_limits",
                "covenant_rules::checks::check_round0_interval",
                CONSENSUS_CHECK_BLOCK,
                "covenant_rules::params::ChainParams::validate",
            ],
            stages: &[S::Genesis, S::BlockProposal, S::BlockValidation],
        },
    },
    RuleEntry {
        id: RuleId::LogManagement,
        article: 50,
        title: "Central log management and audit export",
        class: RuleClass::N,
        description: "Structured logs (text or JSON), audit export as JSON lines, alert rules.",
        enforcement: Enforcement::Enforced {
            checked_in: &[
                "covenant_node::logging::init",
                "covenant_node::commands::audit::export",
                "covenant_node::metrics::Metrics::render",
            ],
            stages: &[S::Observability],
        },
    },
];

/// All 53 articles, in order.
pub const ARTICLES: [Article; 53] = {
    use RuleId::*;
    const fn art(
        number: u8,
        classes: &'static [ArticleClass],
        title: &'static str,
        rules: &'static [RuleId],
    ) -> Article {
        Article { number, classes, title, rules }
    }
    [
        art(1, &[], "Common security baseline for members exchanging data on the chain", &[]),
        art(
            2,
            &[A::P, A::N],
            "Definitions: audit trail, data-exchange controls, malicious attacks",
            &[PermissionedPeers, Fuel, NoReentrancy, AuditTrail, EncryptedTransport],
        ),
        art(3, &[A::O], "Operate only where law allows; yearly legal review", &[]),
        art(4, &[A::E], "Periodic legal-compliance self-assessment", &[]),
        art(5, &[A::E], "Yearly information-security assessment report", &[]),
        art(6, &[A::P], "No operation from high-risk or sanctioned jurisdictions", &[SanctionedJurisdiction]),
        art(7, &[A::P], "KYC / AML review of customers whose data goes on chain", &[KycRequired]),
        art(8, &[A::N], "Need-to-know access to customer data; confidentiality", &[CustomerDataAccess]),
        art(9, &[A::N], "Idle workstations lock after 15 minutes", &[SessionIdle]),
        art(10, &[A::P], "One person, one account", &[OnePersonOneAccount]),
        art(11, &[A::P], "Credential strength and expiry; restricted system accounts", &[CredentialExpiry]),
        art(12, &[A::P], "Node roles, security duties and separation of conflicting roles", &[RoleSeparation]),
        art(13, &[A::O], "Suitable, trained people in node roles", &[]),
        art(14, &[A::E], "Asset inventory kept current", &[]),
        art(15, &[A::P], "Formal change management by consensus with an audit trail", &[ChangeByConsensus]),
        art(16, &[A::P, A::E], "System life cycle; production changes by two or more people", &[TwoPersonRule]),
        art(17, &[A::P, A::N], "User registration, review and removal; removed users access nothing", &[Revocation]),
        art(
            18,
            &[A::N, A::P],
            "Production hardening, backups, record retention, no unapproved superuser",
            &[Backup, Retention, NoSuperuser],
        ),
        art(19, &[A::P], "Test and production environments share nothing", &[EnvironmentSeparation]),
        art(20, &[A::P, A::N], "Data-exchange policy; keep unauthorised nodes off the chain", &[PermissionedPeers]),
        art(21, &[A::N], "Network zones and encrypted remote administration", &[EncryptedTransport]),
        art(22, &[A::N, A::E], "Monitor traffic so consensus keeps pace", &[Monitoring]),
        art(23, &[A::E], "Risk assessment of network transmission threats", &[]),
        art(
            24,
            &[A::P],
            "Governance objectives and controls for smart contracts",
            &[ContractAdmission, ContractLifecycle],
        ),
        art(25, &[A::O], "Smart contracts comply with applicable law", &[]),
        art(26, &[A::P], "Responsible unit and persons for each contract", &[ContractOwnership]),
        art(27, &[A::P], "Contract vulnerabilities fixed or mitigated", &[ContractLifecycle]),
        art(
            28,
            &[A::P],
            "Every contract approved by consensus; data-transfer size limits",
            &[ContractAdmission, ContractLimits],
        ),
        art(29, &[A::P], "Contract security and attack mitigation", &[Fuel, NoReentrancy]),
        art(30, &[A::P], "Data integrity and non-repudiation", &[Signed]),
        art(31, &[A::P], "Cryptographically protected access to contract functions", &[FunctionAcl]),
        art(32, &[A::P], "Agreed data formats for interoperability", &[DataSchema]),
        art(33, &[A::N], "Audit records retained with access control", &[AuditTrail]),
        art(34, &[A::P], "Time order of transmitted data kept", &[OrderedNonces]),
        art(35, &[A::P, A::N], "Clocks synchronised within the agreed error", &[ClockDrift]),
        art(36, &[A::P], "Operators cannot change block timestamps", &[TimestampIntegrity]),
        art(37, &[A::P], "Customer personal data handled per privacy law", &[PiiProtection]),
        art(38, &[A::N], "Media disposal, data encryption and protected backups", &[Backup, KeyRotation]),
        art(39, &[A::O], "Risk assessment of critical systems and customer data", &[]),
        art(40, &[A::N], "Audit trail of customer-data use", &[CustomerDataReadAudit]),
        art(41, &[A::P, A::N], "Key management, rotation and compromise response", &[KeyRotation]),
        art(42, &[A::O], "Sensitive data in the cloud per the bankers' association rules", &[]),
        art(43, &[A::O], "Physical security of data centres", &[]),
        art(44, &[A::O], "Remote work through VPN or VDI", &[]),
        art(45, &[A::P, A::N, A::E], "Capacity planning, load limits and monitoring", &[LoadLimits]),
        art(46, &[A::O], "Incident response procedures", &[]),
        art(47, &[A::E], "Yearly continuity drills", &[]),
        art(48, &[A::N, A::E], "Peak-load monitoring", &[Monitoring]),
        art(49, &[A::P], "Block size, height and interval meet needs", &[BlockLimits]),
        art(50, &[A::N], "Central log management, anomaly analysis and alerts", &[LogManagement]),
        art(
            51,
            &[A::P, A::N],
            "Protect transmitted data from disclosure or change",
            &[EncryptedTransport, PermissionedPeers],
        ),
        art(52, &[A::P], "No block exceeds the agreed block size", &[BlockLimits]),
        art(53, &[A::O], "Supervision of third parties and vendors", &[]),
    ]
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_has_exactly_one_entry_in_its_own_article() {
        for rule in RuleId::ALL {
            let entries: Vec<_> = CATALOGUE.iter().filter(|entry| entry.id == rule).collect();
            assert_eq!(entries.len(), 1, "{rule} must have exactly one catalogue entry");
            let entry = entries[0];
            assert_eq!(entry.article, rule.article(), "{rule}: entry article differs from the id");
            let article = article(entry.article).expect("article exists");
            assert!(article.rules.contains(&rule), "{rule}: article {} does not list it", article.number);
            assert!(
                article.classes.contains(&entry.class.into()),
                "{rule}: class {:?} is not among article {}'s classes {}",
                entry.class,
                article.number,
                article.class_label()
            );
        }
        assert_eq!(CATALOGUE.len(), RuleId::ALL.len());
    }

    #[test]
    fn articles_are_numbered_in_order_and_rules_only_on_enforceable_articles() {
        for (index, article) in ARTICLES.iter().enumerate() {
            assert_eq!(usize::from(article.number), index + 1);
            let enforceable = article.classes.iter().any(|class| matches!(class, ArticleClass::P | ArticleClass::N));
            assert_eq!(
                enforceable,
                !article.rules.is_empty(),
                "article {}: P/N articles need rules, E/O articles have none",
                article.number
            );
        }
        assert_eq!(ARTICLES[0].class_label(), "—");
        assert_eq!(ARTICLES[44].class_label(), "P/N/E");
        assert_eq!(ARTICLES[17].class_label(), "N/P");
    }

    #[test]
    fn catalogue_is_in_article_order() {
        for pair in CATALOGUE.windows(2) {
            assert!(pair[0].article <= pair[1].article, "{} before {}", pair[0].id, pair[1].id);
        }
    }

    /// Every named check function exists in the source of the crate the path names, so the catalogue
    /// cannot silently point at a renamed or deleted function.
    #[test]
    fn checked_in_paths_name_existing_functions() {
        let sources: &[(&str, &str)] = &[
            ("covenant_rules::checks::", include_str!("checks.rs")),
            ("covenant_rules::params::", include_str!("params.rs")),
            ("covenant_rules::genesis::", include_str!("genesis.rs")),
            ("covenant_types::crypto::", include_str!("../../covenant-types/src/crypto.rs")),
            ("covenant_types::tx::", include_str!("../../covenant-types/src/tx.rs")),
            ("covenant_node::config::", include_str!("../../covenant-node/src/config.rs")),
            ("covenant_consensus::height::", include_str!("../../covenant-consensus/src/height.rs")),
            ("covenant_core::mempool::", include_str!("../../covenant-core/src/mempool.rs")),
            ("covenant_core::core::", include_str!("../../covenant-core/src/core.rs")),
            ("covenant_execution::checks::", include_str!("../../covenant-execution/src/checks.rs")),
            ("covenant_execution::execute::", include_str!("../../covenant-execution/src/execute.rs")),
            ("covenant_execution::governance::", include_str!("../../covenant-execution/src/governance.rs")),
            ("covenant_execution::contracts::", include_str!("../../covenant-execution/src/contracts.rs")),
            ("covenant_vm::validate::", include_str!("../../covenant-vm/src/validate.rs")),
            ("covenant_vm::runtime::", include_str!("../../covenant-vm/src/runtime.rs")),
            ("covenant_vm::context::", include_str!("../../covenant-vm/src/context.rs")),
            ("covenant_vm::manifest::", include_str!("../../covenant-vm/src/manifest.rs")),
            ("covenant_rules::pii::", include_str!("pii.rs")),
            ("covenant_rules::schema::", include_str!("schema.rs")),
            ("covenant_node::node::", include_str!("../../covenant-node/src/node.rs")),
            ("covenant_node::metrics::", include_str!("../../covenant-node/src/metrics.rs")),
            ("covenant_node::access::", include_str!("../../covenant-node/src/access.rs")),
            ("covenant_node::auth::", include_str!("../../covenant-node/src/auth.rs")),
            ("covenant_node::api::", include_str!("../../covenant-node/src/api.rs")),
            ("covenant_node::keyfile::", include_str!("../../covenant-node/src/keyfile.rs")),
            ("covenant_node::commands::backup::", include_str!("../../covenant-node/src/commands/backup.rs")),
            ("covenant_node::logging::", include_str!("../../covenant-node/src/logging.rs")),
            ("covenant_node::commands::audit::", include_str!("../../covenant-node/src/commands/audit.rs")),
            (
                "covenant_node::commands::audit_remote::",
                include_str!("../../covenant-node/src/commands/audit_remote.rs"),
            ),
            ("covenant_core::audit_check::", include_str!("../../covenant-core/src/audit_check.rs")),
            ("covenant_core::anchor::", include_str!("../../covenant-core/src/anchor.rs")),
            ("covenant_storage::audit::", include_str!("../../covenant-storage/src/audit.rs")),
            ("covenant_network::service::", include_str!("../../covenant-network/src/service.rs")),
            ("covenant_core::retention::", include_str!("../../covenant-core/src/retention.rs")),
            ("covenant_core::rate::", include_str!("../../covenant-core/src/rate.rs")),
            ("covenant_node::tls::", include_str!("../../covenant-node/src/tls.rs")),
            ("covenant_node::http_edge::", include_str!("../../covenant-node/src/http_edge.rs")),
            (
                "covenant_node::commands::config_check::",
                include_str!("../../covenant-node/src/commands/config_check.rs"),
            ),
        ];
        for entry in CATALOGUE {
            for path in entry.enforcement.checked_in() {
                let (prefix, source) = sources
                    .iter()
                    .find(|(prefix, _)| path.starts_with(prefix))
                    .unwrap_or_else(|| panic!("{}: no source known for {path}", entry.id));
                let rest = &path[prefix.len()..];
                let function = rest.rsplit("::").next().expect("path has a function");
                assert!(source.contains(&format!("fn {function}")), "{}: {path} not found", entry.id);
                if let Some((owner, _)) = rest.rsplit_once("::") {
                    // `impl Owner` or, for a generic type, `impl<...> Owner<...>`.
                    let has_impl = source.lines().any(|line| {
                        let line = line.trim_start();
                        line.starts_with("impl")
                            && [" ", "<"].iter().any(|after| line.contains(&format!(" {owner}{after}")))
                    });
                    assert!(has_impl, "{}: {path}: no impl block for {owner}", entry.id);
                }
            }
        }
    }

    #[test]
    fn only_rules_covered_on_every_path_claim_full_enforcement() {
        // When a rule becomes Enforced, this list is the place to say why.
        // - COV-18-RETENTION: genesis, node.toml and governance (ChainParams::with) refuse less than
        //   365 days; the node prunes at start-up and daily, keeping the retention and its newest
        //   anchored entry (ADR 0022), and storage refuses any cutoff inside the retention.
        // - COV-19: chain id in every signature, header and transaction; the network id carries chain id
        //   and environment, and a peer not speaking it is refused after the handshake (ADR 0022).
        // - COV-22: per-peer message and byte counters in the network, exported by node id.
        // - COV-45: sizes at admission and block validation, bounded mempool, per-member token buckets
        //   on clients' transactions (a rate is a node's own load, not a validity rule: ADR 0022).
        // - COV-34: nonces are checked at mempool admission (counting pending transactions) and again
        //   in block execution, which every proposer and validator runs (node event loop).
        // - COV-49: the consensus engine, driven by the node, checks size and count of every block it
        //   builds or validates and proposes at least every block_interval_ms_max; genesis keeps
        //   the parameters inside their covenant bounds (ChainParams::with validates any change).
        // - COV-26 to COV-31 (contracts): admission, owner and steward are checked when a contract
        //   proposal is submitted and again when its vote executes; every contract call is checked by
        //   check_payload at mempool admission and in every block a proposer builds or a validator
        //   executes (status, fuel, input, access policy), then by the VM for the call and every nested
        //   call (fuel, limits, re-entrancy, callee status and policy); block fuel in build_block and
        //   apply_tx.
        // - COV-18-NO-SUPERUSER: thresholds and admin spread are checked in genesis and on threshold
        //   changes; check_approvers_after refuses, in check_action, every change that would leave too
        //   few approvers, when proposed (admission) and when executed (block path); time-based expiry
        //   is measured and alerted (ADR 0021).
        // - COV-21: peer traffic is Noise-encrypted; the client API and the operations listener serve TLS
        //   with the node's certificate, and a production chain refuses either on a non-loopback address
        //   without it (node start and config check).
        // - COV-07, COV-32, COV-37 (ADR 0024): check_payload (admission and every block) checks KYC of
        //   transfer sides, record subjects and accounts named in a contract call's input, and the
        //   customer-data format of records and call input; run_call checks what a call writes, emits
        //   and returns before applying it; run_data_record checks each record against the stored
        //   schema definition in every block.
        let enforced: Vec<RuleId> =
            CATALOGUE.iter().filter(|entry| entry.enforcement.is_enforced()).map(|entry| entry.id).collect();
        assert_eq!(
            enforced,
            vec![
                RuleId::SanctionedJurisdiction,
                RuleId::KycRequired,
                RuleId::CustomerDataAccess,
                RuleId::SessionIdle,
                RuleId::OnePersonOneAccount,
                RuleId::CredentialExpiry,
                RuleId::RoleSeparation,
                RuleId::ChangeByConsensus,
                RuleId::TwoPersonRule,
                RuleId::Revocation,
                RuleId::Backup,
                RuleId::Retention,
                RuleId::NoSuperuser,
                RuleId::EnvironmentSeparation,
                RuleId::PermissionedPeers,
                RuleId::EncryptedTransport,
                RuleId::Monitoring,
                RuleId::ContractOwnership,
                RuleId::ContractLifecycle,
                RuleId::ContractAdmission,
                RuleId::ContractLimits,
                RuleId::Fuel,
                RuleId::NoReentrancy,
                RuleId::Signed,
                RuleId::FunctionAcl,
                RuleId::DataSchema,
                RuleId::AuditTrail,
                RuleId::OrderedNonces,
                RuleId::ClockDrift,
                RuleId::TimestampIntegrity,
                RuleId::PiiProtection,
                RuleId::CustomerDataReadAudit,
                RuleId::KeyRotation,
                RuleId::LoadLimits,
                RuleId::BlockLimits,
                RuleId::LogManagement,
            ]
        );
    }

    #[test]
    fn serializes_ids_as_strings() {
        let entry = entry(RuleId::BlockLimits);
        let json = serde_json::to_value(entry).unwrap();
        assert_eq!(json["id"], "COV-49-BLOCK-LIMITS");
        assert_eq!(json["class"], "P");
        assert_eq!(json["enforcement"]["status"], "enforced");
        assert_eq!(json["enforcement"]["stages"], serde_json::json!(["genesis", "block_proposal", "block_validation"]));
        let article = serde_json::to_value(article(18).unwrap()).unwrap();
        assert_eq!(article["classes"], serde_json::json!(["N", "P"]));
        assert_eq!(article["rules"][2], "COV-18-NO-SUPERUSER");
    }
}
