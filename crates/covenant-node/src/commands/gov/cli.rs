//! The arguments of `covenant gov`, `covenant member`, `covenant operator` and `covenant node-admin`,
//! and how each runs. The helpers reuse the `gov propose` argument structs, so a flag means the same
//! everywhere and `covenant member admit ...` is exactly `covenant gov propose admit-member ...`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};

use covenant_types::NodeRole;

use super::super::Outcome;
use super::super::query::DEFAULT_API;
use super::super::tx::SignerArgs;
use super::action::{ActionSpec, EXPIRES_IN_HOURS_DEFAULT, KeySource, ProposalText};
use super::{Vote, members, operators};

/// `covenant gov`.
#[derive(Debug, Args)]
pub struct GovArgs {
    /// The node's API: host:port or http://host:port.
    #[arg(long, global = true, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// What to do.
    #[command(subcommand)]
    pub command: GovCommand,
}

/// The `covenant gov` subcommands.
#[derive(Debug, Subcommand)]
pub enum GovCommand {
    /// Propose a change; prints the proposal id (the hash of the proposing transaction).
    ///
    /// The proposer must be an admin. It executes once admins of enough members (the class threshold,
    /// the proposer's member included) and at least two persons besides the proposer approved.
    Propose {
        /// The change.
        #[command(subcommand)]
        action: ProposeCommand,
    },
    /// Approve a proposal (not your own); with --wait, prints whether it executed.
    Approve(VoteArgs),
    /// Reject a proposal (not your own); it closes once its threshold can no longer be reached.
    Reject(VoteArgs),
    /// Withdraw your own open proposal.
    Withdraw(VoteArgs),
    /// List open proposals (GET /v1/proposals).
    List {
        /// Also list closed ones: executed, failed, rejected, withdrawn and expired.
        #[arg(long)]
        all: bool,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Show one proposal: action, reason, votes and status (GET /v1/proposals/{id}).
    ///
    /// Exit code 1 if the node does not know it.
    Show {
        /// Proposal id (64 hex digits).
        id: String,
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// A vote on a proposal.
#[derive(Debug, Args)]
pub struct VoteArgs {
    /// Proposal id (64 hex digits, as `gov propose` printed it).
    pub id: String,
    /// Who signs.
    #[command(flatten)]
    pub signer: SignerArgs,
}

/// Signer, reason and lifetime of a proposal.
#[derive(Debug, Clone, Args)]
pub struct ProposalArgs {
    /// Who signs.
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Why: shown to every approver and kept on chain.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub reason: String,
    /// Hours until the proposal can no longer pass (at most the chain's proposal_lifetime_ms_max, 336 h by
    /// default).
    #[arg(long, value_name = "H", default_value_t = EXPIRES_IN_HOURS_DEFAULT)]
    pub expires_in_hours: u64,
}

impl ProposalArgs {
    fn text(&self) -> ProposalText {
        ProposalText { reason: self.reason.clone(), expires_in_hours: self.expires_in_hours }
    }
}

/// The changes `covenant gov propose` can propose.
#[derive(Debug, Subcommand)]
pub enum ProposeCommand {
    /// Admit a new member (class membership).
    AdmitMember(AdmitMemberArgs),
    /// Suspend a member: its operators and validators stop counting (class membership).
    SuspendMember(MemberIdArgs),
    /// Remove a member for good (class membership).
    RemoveMember(MemberIdArgs),
    /// Replace the sanctioned-jurisdiction list; members in a listed jurisdiction are suspended (COV-06,
    /// class membership).
    Sanction(SanctionArgs),
    /// Register an operator account (COV-10 one person one account, COV-11 key expiry, COV-12 roles; class
    /// operators).
    RegisterOperator(RegisterOperatorArgs),
    /// Revoke an operator account, from the next block (COV-17, class operators).
    RevokeOperator(OperatorIdArgs),
    /// Revoke an operator account at once on suspected compromise (COV-41, class emergency: its
    /// lower threshold, still two members and two approving persons).
    EmergencyRevokeOperator(OperatorIdArgs),
    /// Replace an operator's key (COV-41, class operators).
    RotateKey(RotateKeyArgs),
    /// Add a validator or observer node (class nodes).
    AddNode(AddNodeArgs),
    /// Remove a node (class nodes); refused if fewer validators than a quorum would remain.
    RemoveNode(NodeIdArgs),
    /// Make an observer a validator or a validator an observer, from the next height (class nodes).
    SetNodeRole(SetNodeRoleArgs),
    /// Change a chain parameter within its covenant bound (class parameters).
    SetParam(SetParamArgs),
    /// Change a class's approval threshold (needs the stricter of parameters and that class).
    SetThreshold(SetThresholdArgs),
    /// Register a data-record schema with its definition, which records are then checked against (COV-32,
    /// class parameters).
    RegisterSchema(RegisterSchemaArgs),
    /// Admit a contract: its code and manifest, checked here first; the vote pins the code's hash (COV-28,
    /// class contracts).
    AdmitContract(ContractCodeArgs),
    /// Replace a contract's code and manifest, keeping its id and storage (COV-27, class contracts).
    UpgradeContract(ContractCodeArgs),
    /// Pause a contract: calls are refused until it is resumed (COV-27, class emergency: a lower threshold).
    PauseContract(ContractIdArgs),
    /// Resume a paused contract (COV-27, class contracts).
    ResumeContract(ContractIdArgs),
    /// Retire a contract for good (COV-27, class contracts).
    RetireContract(ContractIdArgs),
}

impl ProposeCommand {
    /// The action as given, and the proposal's signer, reason and lifetime.
    pub fn spec(&self) -> (ActionSpec, &ProposalArgs) {
        use ProposeCommand::*;
        match self {
            AdmitMember(args) => (
                ActionSpec::AdmitMember {
                    member: args.member.clone(),
                    name: args.name.clone(),
                    jurisdiction: args.jurisdiction.clone(),
                },
                &args.proposal,
            ),
            SuspendMember(args) => (ActionSpec::SuspendMember(args.member.clone()), &args.proposal),
            RemoveMember(args) => (ActionSpec::RemoveMember(args.member.clone()), &args.proposal),
            Sanction(args) => {
                (ActionSpec::Sanction(if args.none { Vec::new() } else { args.codes.clone() }), &args.proposal)
            }
            RegisterOperator(args) => (
                ActionSpec::RegisterOperator {
                    id: args.id.clone(),
                    person: args.person.clone(),
                    member: args.member.clone(),
                    roles: args.roles.clone(),
                    key: args.key.source(),
                    expires_in_days: args.expires_in_days,
                },
                &args.proposal,
            ),
            RevokeOperator(args) => (ActionSpec::RevokeOperator(args.operator_id.clone()), &args.proposal),
            EmergencyRevokeOperator(args) => {
                (ActionSpec::EmergencyRevokeOperator(args.operator_id.clone()), &args.proposal)
            }
            RotateKey(args) => (
                ActionSpec::RotateKey {
                    operator: args.operator_id.clone(),
                    key: args.key.source(),
                    expires_in_days: args.expires_in_days,
                },
                &args.proposal,
            ),
            AddNode(args) => (
                ActionSpec::AddNode {
                    id: args.id.clone(),
                    member: args.member.clone(),
                    role: args.role.into(),
                    network_key: args.network_key.source(),
                    consensus_key: args.consensus_key.source(),
                },
                &args.proposal,
            ),
            RemoveNode(args) => (ActionSpec::RemoveNode(args.node.clone()), &args.proposal),
            SetNodeRole(args) => {
                (ActionSpec::SetNodeRole { node: args.node.clone(), role: args.role.into() }, &args.proposal)
            }
            SetParam(args) => (ActionSpec::SetParam { name: args.name.clone(), value: args.value }, &args.proposal),
            SetThreshold(args) => {
                (ActionSpec::SetThreshold { class: args.class.clone(), members: args.members }, &args.proposal)
            }
            RegisterSchema(args) => (
                ActionSpec::RegisterSchema { schema: args.schema.clone(), definition: args.definition.clone() },
                &args.proposal,
            ),
            AdmitContract(args) => (
                ActionSpec::AdmitContract {
                    contract: args.contract.clone(),
                    code: args.code.clone(),
                    manifest: args.manifest.clone(),
                },
                &args.proposal,
            ),
            UpgradeContract(args) => (
                ActionSpec::UpgradeContract {
                    contract: args.contract.clone(),
                    code: args.code.clone(),
                    manifest: args.manifest.clone(),
                },
                &args.proposal,
            ),
            PauseContract(args) => (ActionSpec::PauseContract(args.contract.clone()), &args.proposal),
            ResumeContract(args) => (ActionSpec::ResumeContract(args.contract.clone()), &args.proposal),
            RetireContract(args) => (ActionSpec::RetireContract(args.contract.clone()), &args.proposal),
        }
    }
}

/// `admit-member` / `member admit`.
#[derive(Debug, Args)]
pub struct AdmitMemberArgs {
    /// New member id, e.g. bank-4.
    #[arg(long, value_name = "ID")]
    pub member: String,
    /// Display name, e.g. "Test Bank 4".
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Where it operates: ISO 3166-1 alpha-2 code, upper case (e.g. TW); a sanctioned one is refused (COV-06).
    #[arg(long, value_name = "CC")]
    pub jurisdiction: String,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// A member named by id.
#[derive(Debug, Args)]
pub struct MemberIdArgs {
    /// Member id, e.g. bank-3.
    #[arg(value_name = "ID")]
    pub member: String,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `sanction`.
#[derive(Debug, Args)]
pub struct SanctionArgs {
    /// The complete new list, comma separated ISO 3166-1 alpha-2 codes (e.g. KP,IR,MM).
    #[arg(value_name = "CC[,CC...]", value_delimiter = ',', required_unless_present = "none", conflicts_with = "none")]
    pub codes: Vec<String>,
    /// Sanction no jurisdiction (an empty list).
    #[arg(long)]
    pub none: bool,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `register-operator` / `operator register`.
#[derive(Debug, Args)]
pub struct RegisterOperatorArgs {
    /// New operator id, e.g. bank-4.admin.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// The person behind it (one active account per person and member, COV-10).
    #[arg(long, value_name = "P")]
    pub person: String,
    /// The member it works for.
    #[arg(long, value_name = "M")]
    pub member: String,
    /// Roles, comma separated: admin, submitter, auditor, contract_steward (auditor goes alone, COV-12).
    #[arg(long, value_name = "ROLE[,ROLE...]", value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// Its public key.
    #[command(flatten)]
    pub key: PublicKeyArgs,
    /// Days until the key expires: 1 to 90 (COV-11).
    #[arg(long, value_name = "N")]
    pub expires_in_days: u64,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// An operator named by id.
#[derive(Debug, Args)]
pub struct OperatorIdArgs {
    /// Operator id, e.g. bank-2.ops.
    #[arg(value_name = "ID")]
    pub operator_id: String,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `rotate-key` / `operator rotate-key`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// The operator whose key is replaced.
    #[arg(long, value_name = "ID")]
    pub operator_id: String,
    /// The new public key.
    #[command(flatten)]
    pub key: PublicKeyArgs,
    /// Days until the new key expires: 1 to 90 (COV-11).
    #[arg(long, value_name = "N")]
    pub expires_in_days: u64,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// An operator's public key: exactly one source.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct PublicKeyArgs {
    /// The public key as 64 hex digits (what `covenant keygen` prints).
    #[arg(long, value_name = "HEX")]
    pub public_key: Option<String>,
    /// A key file written by `covenant keygen`; only its public key is used.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl PublicKeyArgs {
    fn source(&self) -> KeySource {
        key_source(&self.public_key, &self.key_file)
    }
}

/// `add-node` / `node-admin add`.
#[derive(Debug, Args)]
pub struct AddNodeArgs {
    /// New node id, e.g. validator-4.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Owning member.
    #[arg(long, value_name = "M")]
    pub member: String,
    /// Validator (votes from the next height) or observer (follows the chain).
    #[arg(long, value_enum)]
    pub role: NodeRoleArg,
    /// libp2p identity key, checked when the node connects (COV-20).
    #[command(flatten)]
    pub network_key: NetworkKeyArgs,
    /// Key that signs consensus messages.
    #[command(flatten)]
    pub consensus_key: ConsensusKeyArgs,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// A node's network key: exactly one source.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct NetworkKeyArgs {
    /// The network public key as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub network_key: Option<String>,
    /// The node's network key file (e.g. keys/validator-4.network.key); only its public key is used.
    #[arg(long, value_name = "FILE")]
    pub network_key_file: Option<PathBuf>,
}

impl NetworkKeyArgs {
    fn source(&self) -> KeySource {
        key_source(&self.network_key, &self.network_key_file)
    }
}

/// A node's consensus key: exactly one source.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ConsensusKeyArgs {
    /// The consensus public key as 64 hex digits.
    #[arg(long, value_name = "HEX")]
    pub consensus_key: Option<String>,
    /// The node's consensus key file (e.g. keys/validator-4.consensus.key); only its public key is used.
    #[arg(long, value_name = "FILE")]
    pub consensus_key_file: Option<PathBuf>,
}

impl ConsensusKeyArgs {
    fn source(&self) -> KeySource {
        key_source(&self.consensus_key, &self.consensus_key_file)
    }
}

fn key_source(hex: &Option<String>, file: &Option<PathBuf>) -> KeySource {
    match (hex, file) {
        (_, Some(file)) => KeySource::File(file.clone()),
        (Some(hex), None) => KeySource::Hex(hex.clone()),
        // clap's group requires exactly one; an empty hex key is refused with a clear message.
        (None, None) => KeySource::Hex(String::new()),
    }
}

/// A node named by id.
#[derive(Debug, Args)]
pub struct NodeIdArgs {
    /// Node id, e.g. validator-3.
    #[arg(value_name = "ID")]
    pub node: String,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `set-node-role` / `node-admin set-role`.
#[derive(Debug, Args)]
pub struct SetNodeRoleArgs {
    /// Node id, e.g. validator-4.
    #[arg(value_name = "ID")]
    pub node: String,
    /// The new role.
    #[arg(long, value_enum)]
    pub role: NodeRoleArg,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// A node's role on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NodeRoleArg {
    /// Takes part in consensus.
    Validator,
    /// Follows the chain without voting.
    Observer,
}

impl From<NodeRoleArg> for NodeRole {
    fn from(role: NodeRoleArg) -> NodeRole {
        match role {
            NodeRoleArg::Validator => NodeRole::Validator,
            NodeRoleArg::Observer => NodeRole::Observer,
        }
    }
}

/// `set-param`.
#[derive(Debug, Args)]
pub struct SetParamArgs {
    /// Parameter name, as `covenant query params` lists it (e.g. block_txs_max).
    pub name: String,
    /// New value, inside the parameter's covenant bound.
    pub value: u64,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `set-threshold`.
#[derive(Debug, Args)]
pub struct SetThresholdArgs {
    /// Action class: membership, operators, nodes, parameters, contracts or emergency.
    pub class: String,
    /// Members that must approve (at least 2, COV-18; at most the active members).
    pub members: u32,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `register-schema`.
#[derive(Debug, Args)]
pub struct RegisterSchemaArgs {
    /// Schema id, e.g. loan-summary.v1.
    #[arg(value_name = "ID")]
    pub schema: String,
    /// The schema definition file (JSON, at most 16 KiB; see docs/data-records.md). It goes on chain in
    /// full; its SHA-256 is shown to approvers.
    #[arg(long, visible_alias = "definition-file", value_name = "FILE")]
    pub definition: PathBuf,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `admit-contract` / `upgrade-contract` / `contract propose admit|upgrade`.
#[derive(Debug, Args)]
pub struct ContractCodeArgs {
    /// Contract id, e.g. escrow.
    #[arg(value_name = "ID")]
    pub contract: String,
    /// The module: WebAssembly binary (.wasm) or text (.wat, compiled here).
    #[arg(long, value_name = "FILE")]
    pub code: PathBuf,
    /// The manifest: TOML (or .json) with name, version, owner, steward and every function's access
    /// policy (docs/contract-abi.md).
    #[arg(long, value_name = "FILE")]
    pub manifest: PathBuf,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// A contract named by id.
#[derive(Debug, Args)]
pub struct ContractIdArgs {
    /// Contract id, e.g. escrow.
    #[arg(value_name = "ID")]
    pub contract: String,
    /// Signer, reason, expiry.
    #[command(flatten)]
    pub proposal: ProposalArgs,
}

/// `covenant member`.
#[derive(Debug, Args)]
pub struct MemberArgs {
    /// The node's API: host:port or http://host:port.
    #[arg(long, global = true, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// What to do.
    #[command(subcommand)]
    pub command: MemberCommand,
}

/// The `covenant member` subcommands.
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Propose to admit a member (same as `gov propose admit-member`).
    Admit(AdmitMemberArgs),
    /// Propose to suspend a member (same as `gov propose suspend-member`).
    Suspend(MemberIdArgs),
    /// Propose to remove a member (same as `gov propose remove-member`).
    Remove(MemberIdArgs),
    /// List members with jurisdiction and standing (GET /v1/members).
    List {
        /// Print the API's JSON answer.
        #[arg(long)]
        json: bool,
    },
}

/// `covenant operator`.
#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// The node's API: host:port or http://host:port.
    #[arg(long, global = true, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// What to do.
    #[command(subcommand)]
    pub command: OperatorCommand,
}

/// The `covenant operator` subcommands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Propose to register an operator (same as `gov propose register-operator`).
    Register(RegisterOperatorArgs),
    /// Propose to revoke an operator (same as `gov propose revoke-operator`).
    Revoke(OperatorIdArgs),
    /// Propose to replace an operator's key (same as `gov propose rotate-key`).
    RotateKey(RotateKeyArgs),
    /// List operators with roles, key expiry and standing (GET /v1/operators).
    List {
        /// Print the API's JSON answer.
        #[arg(long, conflicts_with = "expiring")]
        json: bool,
        /// Only operators not revoked whose key expires within DAYS days (or has expired), soonest
        /// first: whose keys to rotate now (docs/keys.md).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(0..=3650))]
        expiring: Option<u64>,
    },
}

/// `covenant node-admin`.
#[derive(Debug, Args)]
pub struct NodeAdminArgs {
    /// The node's API: host:port or http://host:port.
    #[arg(long, global = true, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// What to do.
    #[command(subcommand)]
    pub command: NodeAdminCommand,
}

/// The `covenant node-admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum NodeAdminCommand {
    /// Propose to add a node (same as `gov propose add-node`).
    Add(AddNodeArgs),
    /// Propose to remove a node (same as `gov propose remove-node`).
    Remove(NodeIdArgs),
    /// Propose to change a node's role (same as `gov propose set-node-role`).
    SetRole(SetNodeRoleArgs),
}

/// Runs `covenant gov ...`.
pub fn run_gov(args: GovArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let api = args.api;
    match args.command {
        GovCommand::Propose { action } => propose(api, &action, out, err),
        GovCommand::Approve(args) => super::vote(&args.signer.options(api), Vote::Approve, &args.id, out, err),
        GovCommand::Reject(args) => super::vote(&args.signer.options(api), Vote::Reject, &args.id, out, err),
        GovCommand::Withdraw(args) => super::vote(&args.signer.options(api), Vote::Withdraw, &args.id, out, err),
        GovCommand::List { all, json } => super::list(&api, all, json, out, err),
        GovCommand::Show { id, json } => super::show(&api, &id, json, out, err),
    }
}

/// Runs `covenant member ...`.
pub fn run_member(args: MemberArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let command = match args.command {
        MemberCommand::Admit(action) => ProposeCommand::AdmitMember(action),
        MemberCommand::Suspend(action) => ProposeCommand::SuspendMember(action),
        MemberCommand::Remove(action) => ProposeCommand::RemoveMember(action),
        MemberCommand::List { json } => return members(&args.api, json, out, err),
    };
    propose(args.api, &command, out, err)
}

/// Runs `covenant operator ...`.
pub fn run_operator(args: OperatorArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let command = match args.command {
        OperatorCommand::Register(action) => ProposeCommand::RegisterOperator(action),
        OperatorCommand::Revoke(action) => ProposeCommand::RevokeOperator(action),
        OperatorCommand::RotateKey(action) => ProposeCommand::RotateKey(action),
        OperatorCommand::List { json, expiring } => return operators(&args.api, json, expiring, out, err),
    };
    propose(args.api, &command, out, err)
}

/// Runs `covenant node-admin ...`.
pub fn run_node_admin(args: NodeAdminArgs, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let command = match args.command {
        NodeAdminCommand::Add(action) => ProposeCommand::AddNode(action),
        NodeAdminCommand::Remove(action) => ProposeCommand::RemoveNode(action),
        NodeAdminCommand::SetRole(action) => ProposeCommand::SetNodeRole(action),
    };
    propose(args.api, &command, out, err)
}

/// Checks, signs and submits the proposal `command` describes.
pub(crate) fn propose(
    api: String,
    command: &ProposeCommand,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let (spec, proposal) = command.spec();
    super::propose(&proposal.signer.options(api), &spec, &proposal.text(), out, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// The four commands as `main.rs` mounts them.
    #[derive(Debug, Parser)]
    struct Covenant {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Gov(GovArgs),
        Member(MemberArgs),
        Operator(OperatorArgs),
        NodeAdmin(NodeAdminArgs),
    }

    fn parse(args: &[&str]) -> Result<Top, clap::Error> {
        Covenant::try_parse_from(std::iter::once("covenant").chain(args.iter().copied())).map(|cli| cli.command)
    }

    const SIGNER: [&str; 4] = ["--key", "k.key", "--operator", "bank-0.admin"];

    #[test]
    fn argument_tree_is_consistent() {
        Covenant::command().debug_assert();
    }

    #[test]
    fn helpers_and_propose_give_the_same_action() {
        let helper = [&["operator", "register"][..], &["--id", "bank-1.audit", "--person", "carol"]].concat();
        let rest = ["--member", "bank-1", "--roles", "auditor", "--public-key", "ab", "--expires-in-days", "30"];
        let Ok(Top::Operator(OperatorArgs { command: OperatorCommand::Register(short), api })) =
            parse(&[&helper[..], &rest, &SIGNER, &["--api", "127.0.0.1:9"]].concat())
        else {
            panic!()
        };
        assert_eq!(api, "127.0.0.1:9");
        let long =
            [&["gov", "propose", "register-operator", "--id", "bank-1.audit", "--person", "carol"][..], &rest].concat();
        let Ok(Top::Gov(GovArgs { command: GovCommand::Propose { action }, api })) =
            parse(&[&long[..], &SIGNER].concat())
        else {
            panic!()
        };
        assert_eq!(api, DEFAULT_API);
        assert_eq!(ProposeCommand::RegisterOperator(short).spec().0, action.spec().0);
        let (spec, proposal) = action.spec();
        assert!(matches!(spec, ActionSpec::RegisterOperator { expires_in_days: 30, .. }));
        assert_eq!((proposal.reason.as_str(), proposal.expires_in_hours), ("", EXPIRES_IN_HOURS_DEFAULT));
    }

    #[test]
    fn sanction_needs_a_list_or_none() {
        let Ok(Top::Gov(GovArgs { command: GovCommand::Propose { action }, .. })) =
            parse(&[&["gov", "propose", "sanction", "KP,IR"][..], &SIGNER].concat())
        else {
            panic!()
        };
        assert_eq!(action.spec().0, ActionSpec::Sanction(vec!["KP".into(), "IR".into()]));
        let Ok(Top::Gov(GovArgs { command: GovCommand::Propose { action }, .. })) =
            parse(&[&["gov", "propose", "sanction", "--none"][..], &SIGNER].concat())
        else {
            panic!()
        };
        assert_eq!(action.spec().0, ActionSpec::Sanction(Vec::new()));
        assert!(parse(&[&["gov", "propose", "sanction"][..], &SIGNER].concat()).is_err());
        assert!(parse(&[&["gov", "propose", "sanction", "KP", "--none"][..], &SIGNER].concat()).is_err());
    }
}
