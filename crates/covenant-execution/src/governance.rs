//! Governance: proposals, votes and the actions they execute (COV-15, COV-16, COV-12, COV-18).
//!
//! A proposal is opened by an admin; other admins approve or reject it. It executes in the block
//! where both conditions hold:
//! * the approving members (the proposer's member included) reach the class threshold, and
//! * at least [`APPROVING_PERSONS_MIN`] distinct persons other than the proposer approved (COV-16).
//!
//! Votes are counted when the proposal is decided, not when they were cast: a proposer or approver
//! counts only while still an active approver ([`is_active_approver`]: account not revoked, admin
//! role, key unexpired at the deciding block's time, member active), so an approval by a key revoked
//! in an emergency, or by a suspended member, no longer carries a proposal (COV-16, ADR 0021).
//!
//! A change that would leave fewer persons or members able to approve than the strictest class needs
//! is refused when proposed and again when it executes ([`check_approvers_after`], COV-18, ADR 0021),
//! so governance cannot vote itself into a state where no proposal could ever pass again.
//!
//! Nobody votes on their own proposal (COV-12), nobody votes twice, and votes after the expiry are
//! refused. An action is checked against the state when proposed (so a proposal that could never
//! apply is refused before voting) and again when it executes; if the state changed in between so
//! that it no longer applies, the proposal is closed as failed with the reason. Every step is a
//! transaction on chain, and the proposal with its votes stays in the state (COV-15).
//!
//! Contract actions (admit, upgrade, pause, resume, retire; COV-26 to COV-28) are checked and applied by
//! [`crate::contracts`]. An admit- or upgrade-contract proposal pins the SHA-256 of its code when it is
//! opened, and the code is compared with the pinned hash again when the proposal executes.

use serde::{Deserialize, Serialize};

use covenant_rules::checks::{
    Approvers, ApproversAt, check_jurisdiction_allowed, check_key_lifetime, check_no_lockout, check_role_combination,
    check_threshold,
};
use covenant_rules::genesis::ActionClass;
use covenant_rules::{ChainParams, RuleId, Violation};
use covenant_types::{
    GovernanceAction, Hash, MemberId, MemberStatus, NodeId, NodeRecord, NodeRole, OperatorId, OperatorRecord, PersonId,
    Proposal, PublicKey, Role, Validator, ValidatorSet,
};

use crate::checks::TxInvalid;
use crate::contracts::{self, Change, ContractStatus};
use crate::execute::BlockContext;
use crate::state::{MemberState, NodeState, OperatorState, Overlay, StateError, StateKey, StateReader, StateView};

/// Distinct persons besides the proposer who must approve any proposal (COV-16).
pub const APPROVING_PERSONS_MIN: usize = covenant_rules::checks::APPROVING_PERSONS_MIN as usize;
/// Most operator accounts the chain registers, revoked ones included (bounds the operator index that
/// [`approvers`] reads).
pub const OPERATORS_MAX: usize = 4096;
/// Most votes one proposal records (bounded by persons; this caps the stored size).
pub const VOTES_MAX: usize = 256;
/// Most members and nodes the registries hold.
pub const REGISTRY_MAX: usize = 1024;

/// Who voted, as recorded with the proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Operator account that signed.
    pub operator: OperatorId,
    /// The person behind it.
    pub person: PersonId,
    /// Their member.
    pub member: MemberId,
    /// Height of the block that recorded the vote.
    pub height: u64,
}

/// Where a proposal stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Collecting votes.
    Open,
    /// Executed in the block at `height`.
    Executed {
        /// Height of execution.
        height: u64,
    },
    /// Reached its threshold but no longer applied to the state.
    Failed {
        /// Height at which it was closed.
        height: u64,
        /// Rule that refused it.
        rule: String,
        /// Why.
        reason: String,
    },
    /// Enough members rejected it that it can no longer pass.
    Rejected {
        /// Height at which it was closed.
        height: u64,
    },
    /// Withdrawn by its proposer.
    Withdrawn {
        /// Height at which it was closed.
        height: u64,
    },
}

impl ProposalStatus {
    fn name(&self) -> &'static str {
        match self {
            ProposalStatus::Open => "open",
            ProposalStatus::Executed { .. } => "executed",
            ProposalStatus::Failed { .. } => "failed",
            ProposalStatus::Rejected { .. } => "rejected",
            ProposalStatus::Withdrawn { .. } => "withdrawn",
        }
    }
}

/// A proposal as stored, with its votes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalState {
    /// The proposal as submitted.
    pub proposal: Proposal,
    /// Its action class.
    pub class: ActionClass,
    /// Who proposed it.
    pub proposer: Vote,
    /// Block time when it was opened.
    pub opened_at_ms: u64,
    /// Approvals, in order.
    pub approvals: Vec<Vote>,
    /// Rejections, in order.
    pub rejections: Vec<Vote>,
    /// Where it stands.
    pub status: ProposalStatus,
    /// For an admit- or upgrade-contract proposal: the SHA-256 of its code, pinned when it was opened
    /// and checked again when it executes (COV-28).
    pub pinned_code_hash: Option<Hash>,
}

/// The members that must approve an action: its class's threshold, and for a threshold change the
/// stricter of the parameters class and the class being changed.
pub fn members_required<S: StateReader + ?Sized>(state: &S, action: &GovernanceAction) -> Result<u32, TxInvalid> {
    let thresholds = state.thresholds()?;
    let class = ActionClass::of(action);
    let mut required = thresholds.members_required(class);
    if let GovernanceAction::SetThreshold { class: target, .. } = action {
        required = required.max(thresholds.members_required(parse_class(target)?));
    }
    Ok(required)
}

fn parse_class(name: &str) -> Result<ActionClass, TxInvalid> {
    ActionClass::ALL.into_iter().find(|class| class.name() == name).ok_or_else(|| {
        invalid(format!(
            "unknown action class {name:?}; classes are {}",
            ActionClass::ALL.map(ActionClass::name).join(", ")
        ))
    })
}

fn invalid(reason: impl Into<String>) -> TxInvalid {
    TxInvalid::Violation(Violation::InvalidAction { reason: reason.into() })
}

/// The voter of a governance transaction: its operator record.
pub(crate) fn voter<S: StateReader + ?Sized>(operator: &OperatorId, state: &S, height: u64) -> Result<Vote, TxInvalid> {
    let record = state
        .get::<OperatorState>(&StateKey::Operator(operator.clone()))?
        .ok_or_else(|| Violation::UnknownSender { sender: operator.to_string() })?
        .record;
    Ok(Vote { operator: operator.clone(), person: record.person, member: record.member, height })
}

/// Checks a new proposal: its lifetime and that its action applies to the current state.
pub fn check_propose<S: StateView + ?Sized>(
    state: &S,
    proposal: &Proposal,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    let params = state.params()?;
    let latest = context.timestamp_ms.saturating_add(params.proposal_lifetime_ms_max);
    if proposal.expires_at_ms <= context.timestamp_ms || proposal.expires_at_ms > latest {
        return Err(Violation::ProposalLifetime {
            expires_at_ms: proposal.expires_at_ms,
            now_ms: context.timestamp_ms,
            max_ms: params.proposal_lifetime_ms_max,
        }
        .into());
    }
    check_action(state, &proposal.action, context)
}

/// Opens a proposal (already checked with [`check_propose`]).
pub fn propose<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    id: Hash,
    proposal: &Proposal,
    proposer: Vote,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    let state = ProposalState {
        class: ActionClass::of(&proposal.action),
        proposal: proposal.clone(),
        proposer,
        opened_at_ms: context.timestamp_ms,
        approvals: Vec::new(),
        rejections: Vec::new(),
        status: ProposalStatus::Open,
        pinned_code_hash: contract_code(&proposal.action).map(covenant_vm::code_hash),
    };
    overlay.put(&StateKey::Proposal(id), &state);
    Ok(())
}

/// The open proposal `id` on which `vote` may vote now.
pub fn check_vote<S: StateReader + ?Sized>(
    state: &S,
    id: &Hash,
    vote: &Vote,
    now_ms: u64,
) -> Result<ProposalState, TxInvalid> {
    let proposal = open_proposal(state, id, now_ms)?;
    if vote.person == proposal.proposer.person && vote.member == proposal.proposer.member {
        return Err(Violation::OwnProposal { operator: vote.operator.clone(), proposal: *id }.into());
    }
    let voted = proposal.approvals.iter().chain(&proposal.rejections);
    if voted.clone().any(|earlier| earlier.person == vote.person && earlier.member == vote.member) {
        return Err(Violation::DuplicateVote {
            person: vote.person.clone(),
            member: vote.member.clone(),
            proposal: *id,
        }
        .into());
    }
    if proposal.approvals.len() + proposal.rejections.len() >= VOTES_MAX {
        return Err(invalid(format!("proposal {id} already holds the most votes a proposal can ({VOTES_MAX})")));
    }
    Ok(proposal)
}

fn open_proposal<S: StateReader + ?Sized>(state: &S, id: &Hash, now_ms: u64) -> Result<ProposalState, TxInvalid> {
    let proposal: ProposalState =
        state.get(&StateKey::Proposal(*id))?.ok_or(Violation::UnknownProposal { proposal: *id })?;
    if proposal.status != ProposalStatus::Open {
        return Err(Violation::ProposalClosed { proposal: *id, status: proposal.status.name().into() }.into());
    }
    if now_ms >= proposal.proposal.expires_at_ms {
        return Err(Violation::ProposalExpired {
            proposal: *id,
            expires_at_ms: proposal.proposal.expires_at_ms,
            now_ms,
        }
        .into());
    }
    Ok(proposal)
}

/// Checks that `operator` may withdraw proposal `id`.
pub fn check_withdraw<S: StateReader + ?Sized>(
    state: &S,
    id: &Hash,
    operator: &OperatorId,
    now_ms: u64,
) -> Result<ProposalState, TxInvalid> {
    let proposal = open_proposal(state, id, now_ms)?;
    if &proposal.proposer.operator != operator {
        return Err(Violation::NotProposer { operator: operator.clone(), proposal: *id }.into());
    }
    Ok(proposal)
}

/// Records an approval and executes the proposal if it now passes.
pub fn approve<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    id: Hash,
    mut proposal: ProposalState,
    vote: Vote,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    proposal.approvals.push(vote);
    if passes(&*overlay, &proposal, context.timestamp_ms)? {
        let checked =
            check_pinned_code(&proposal).and_then(|()| check_action(&*overlay, &proposal.proposal.action, context));
        proposal.status = match checked {
            Ok(()) => {
                apply_action(overlay, &proposal.proposal.action, Change { proposal: id, height: context.height })?;
                ProposalStatus::Executed { height: context.height }
            }
            Err(TxInvalid::Violation(violation)) => ProposalStatus::Failed {
                height: context.height,
                rule: violation.rule().id().to_string(),
                reason: violation.to_string(),
            },
            Err(other) => return Err(other),
        };
    }
    overlay.put(&StateKey::Proposal(id), &proposal);
    Ok(())
}

/// The code an admit- or upgrade-contract action carries.
fn contract_code(action: &GovernanceAction) -> Option<&[u8]> {
    match action {
        GovernanceAction::AdmitContract { code, .. } | GovernanceAction::UpgradeContract { code, .. } => Some(code),
        _ => None,
    }
}

/// COV-28: the code about to be admitted is the code whose hash the proposal pinned when it opened.
fn check_pinned_code(proposal: &ProposalState) -> Result<(), TxInvalid> {
    let found = contract_code(&proposal.proposal.action).map(covenant_vm::code_hash);
    if found != proposal.pinned_code_hash {
        let text = |hash: Option<Hash>| hash.map_or_else(|| "none".to_string(), |hash| hash.to_hex());
        return Err(contracts::refused_by(
            RuleId::ContractAdmission,
            format!(
                "contract code hash is {}, but the proposal pinned {}",
                text(found),
                text(proposal.pinned_code_hash)
            ),
        ));
    }
    Ok(())
}

/// Records a rejection and closes the proposal if its threshold can no longer be reached.
pub fn reject<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    id: Hash,
    mut proposal: ProposalState,
    vote: Vote,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    proposal.rejections.push(vote);
    let rejecting = distinct_members(&proposal.rejections);
    let active = active_members(&*overlay)?;
    let required = members_required(&*overlay, &proposal.proposal.action)? as usize;
    if active.saturating_sub(rejecting) < required {
        proposal.status = ProposalStatus::Rejected { height: context.height };
    }
    overlay.put(&StateKey::Proposal(id), &proposal);
    Ok(())
}

/// Closes a proposal at its proposer's request.
pub fn withdraw<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    id: Hash,
    mut proposal: ProposalState,
    context: &BlockContext,
) {
    proposal.status = ProposalStatus::Withdrawn { height: context.height };
    overlay.put(&StateKey::Proposal(id), &proposal);
}

fn distinct_members(votes: &[Vote]) -> usize {
    let mut members: Vec<&MemberId> = votes.iter().map(|vote| &vote.member).collect();
    members.sort();
    members.dedup();
    members.len()
}

fn active_members<S: StateReader + ?Sized>(state: &S) -> Result<usize, StateError> {
    let mut count = 0;
    for member in state.index::<MemberId>(&StateKey::MemberIndex)? {
        if member_status(state, &member)? == Some(MemberStatus::Active) {
            count += 1;
        }
    }
    Ok(count)
}

fn member_status<S: StateReader + ?Sized>(state: &S, member: &MemberId) -> Result<Option<MemberStatus>, StateError> {
    Ok(state.get::<MemberState>(&StateKey::Member(member.clone()))?.map(|member| member.status))
}

/// Whether `operator` can approve governance at block time `at_ms`: its account is not revoked,
/// holds the admin role (every governance vote needs it, COV-12), its key has not expired (COV-11)
/// and its member is active. Only such operators are counted, both when a proposal is decided and
/// when a change is checked against governance lock-out.
pub fn is_active_approver(operator: &OperatorState, member: Option<MemberStatus>, at_ms: u64) -> bool {
    !operator.revoked
        && operator.record.roles.contains(&Role::Admin)
        && at_ms < operator.record.key_expires_at_ms
        && member == Some(MemberStatus::Active)
}

/// Whether the vote's operator, still the same person of the same member, is an active approver at
/// `at_ms` in `state`.
fn vote_counts<S: StateReader + ?Sized>(state: &S, vote: &Vote, at_ms: u64) -> Result<bool, StateError> {
    let Some(operator) = state.get_record::<OperatorState>(&StateKey::Operator(vote.operator.clone()))? else {
        return Ok(false);
    };
    let same_person = operator.record.person == vote.person && operator.record.member == vote.member;
    Ok(same_person && is_active_approver(&operator, member_status(state, &vote.member)?, at_ms))
}

/// The approvals that count for a proposal at one instant (COV-16).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Distinct members of the proposer and the approvers.
    pub members: usize,
    /// Distinct persons besides the proposer who approved.
    pub persons: usize,
}

/// The approvals of `proposal` that count at block time `now_ms`: the proposer's and approvers'
/// members and the approving persons, each only while an active approver ([`is_active_approver`]).
/// An approval cast before its key was revoked or expired, or its member suspended, no longer
/// counts (COV-16, ADR 0021).
pub fn counted_approvals<S: StateReader + ?Sized>(
    state: &S,
    proposal: &ProposalState,
    now_ms: u64,
) -> Result<Tally, StateError> {
    let mut members: Vec<&MemberId> = Vec::new();
    let mut persons: Vec<(&MemberId, &PersonId)> = Vec::new();
    if vote_counts(state, &proposal.proposer, now_ms)? {
        members.push(&proposal.proposer.member);
    }
    for vote in &proposal.approvals {
        if !vote_counts(state, vote, now_ms)? {
            continue;
        }
        if !members.contains(&&vote.member) {
            members.push(&vote.member);
        }
        if !persons.contains(&(&vote.member, &vote.person)) {
            persons.push((&vote.member, &vote.person));
        }
    }
    Ok(Tally { members: members.len(), persons: persons.len() })
}

/// Whether a proposal passes at block time `now_ms`: counted by [`counted_approvals`], its members reach the
/// class threshold and at least [`APPROVING_PERSONS_MIN`] persons besides the proposer approved.
fn passes<S: StateReader + ?Sized>(state: &S, proposal: &ProposalState, now_ms: u64) -> Result<bool, TxInvalid> {
    let counted = counted_approvals(state, proposal, now_ms)?;
    let required = members_required(state, &proposal.proposal.action)? as usize;
    Ok(counted.members >= required && counted.persons >= APPROVING_PERSONS_MIN)
}

/// The distinct persons and members able to approve governance at block time `at_ms`
/// ([`is_active_approver`]), read from every registered operator.
pub fn approvers<S: StateReader + ?Sized>(state: &S, at_ms: u64) -> Result<Approvers, StateError> {
    let mut persons: Vec<(MemberId, PersonId)> = Vec::new();
    let mut members: Vec<MemberId> = Vec::new();
    for id in state.index::<OperatorId>(&StateKey::OperatorIndex)? {
        let Some(operator) = state.get_record::<OperatorState>(&StateKey::Operator(id))? else { continue };
        if !is_active_approver(&operator, member_status(state, &operator.record.member)?, at_ms) {
            continue;
        }
        let record = operator.record;
        if !members.contains(&record.member) {
            members.push(record.member.clone());
        }
        let person = (record.member, record.person);
        if !persons.contains(&person) {
            persons.push(person);
        }
    }
    Ok(Approvers { persons: persons.len() as u64, members: members.len() as u64 })
}

/// What passing the strictest class needs: a proposer and [`APPROVING_PERSONS_MIN`] other persons, in
/// as many members as the highest class threshold.
pub fn approvers_required<S: StateReader + ?Sized>(state: &S) -> Result<Approvers, StateError> {
    let thresholds = state.thresholds()?;
    let strictest = ActionClass::ALL.into_iter().map(|class| thresholds.members_required(class)).max().unwrap_or(0);
    Ok(Approvers::required(strictest))
}

/// Actions that can take approvers away or raise what a class needs.
fn changes_approvers(action: &GovernanceAction) -> bool {
    use GovernanceAction::*;
    matches!(
        action,
        SuspendMember(_)
            | RemoveMember(_)
            | SetSanctionedJurisdictions(_)
            | RevokeOperator(_)
            | EmergencyRevokeOperator(_)
            | RotateOperatorKey { .. }
            | SetThreshold { .. }
    )
}

/// The action and what it names, for a refusal: `RevokeOperator bank-a.admin`.
fn describe(action: &GovernanceAction) -> String {
    use GovernanceAction::*;
    let subject = match action {
        SuspendMember(member) | RemoveMember(member) => member.to_string(),
        RevokeOperator(operator) | EmergencyRevokeOperator(operator) => operator.to_string(),
        RotateOperatorKey { operator, key_expires_at_ms, .. } => format!("{operator} (expiry {key_expires_at_ms} ms)"),
        SetThreshold { class, members } => format!("{class} to {members} members"),
        SetSanctionedJurisdictions(list) => list.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        _ => String::new(),
    };
    format!("{} {subject}", action.name()).trim_end().to_string()
}

/// COV-18-NO-SUPERUSER, liveness (ADR 0021): applied to a scratch copy of the state, the action must
/// not leave fewer persons or members able to approve than the strictest class needs, or deepen a
/// shortfall the chain already has. Counted twice: at this block's time (revocation, suspension,
/// threshold), and one proposal lifetime later (`proposal_lifetime_ms_max`, the time the members
/// need to open and decide a repair), which is where a rotation to an earlier expiry shows.
pub fn check_approvers_after<S: StateView + ?Sized>(
    state: &S,
    action: &GovernanceAction,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    if !changes_approvers(action) {
        return Ok(());
    }
    let mut scratch = Overlay::new(state);
    apply_action(&mut scratch, action, Change { proposal: Hash::ZERO, height: 0 })?;
    let horizon_ms = context.timestamp_ms.saturating_add(state.params()?.proposal_lifetime_ms_max);
    let (required_before, required_after) = (approvers_required(state)?, approvers_required(&scratch)?);
    for at_ms in [context.timestamp_ms, horizon_ms] {
        let counted = ApproversAt {
            at_ms,
            before: approvers(state, at_ms)?,
            after: approvers(&scratch, at_ms)?,
            required_before,
            required_after,
        };
        check_no_lockout(&describe(action), &counted)?;
    }
    Ok(())
}

// ---- actions ---------------------------------------------------------------------------------------

/// Checks that `action` applies to `state` now: ids known or new as needed, covenant limits kept.
/// Changes that touch the validator set are applied to a scratch overlay and the resulting set
/// checked, so one rule covers every way the set can shrink.
pub fn check_action<S: StateView + ?Sized>(
    state: &S,
    action: &GovernanceAction,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    use GovernanceAction::*;
    let params = state.params()?;
    match action {
        AdmitMember { member, name, jurisdiction } => {
            if state.get::<MemberState>(&StateKey::Member(member.clone()))?.is_some() {
                return Err(invalid(format!("member {member} already exists")));
            }
            if name.trim().is_empty() || name.len() > 200 {
                return Err(invalid("a member's name must be 1 to 200 characters"));
            }
            let sanctioned: Vec<covenant_types::Jurisdiction> = state.index(&StateKey::Sanctioned)?;
            check_jurisdiction_allowed(member, jurisdiction, &sanctioned)?;
            if state.index::<MemberId>(&StateKey::MemberIndex)?.len() >= REGISTRY_MAX {
                return Err(invalid(format!("the chain already has {REGISTRY_MAX} members")));
            }
        }
        SuspendMember(member) | RemoveMember(member) => {
            let status = member_status(state, member)?.ok_or_else(|| invalid(format!("no member {member}")))?;
            let allowed = match action {
                SuspendMember(_) => status == MemberStatus::Active,
                _ => status != MemberStatus::Removed,
            };
            if !allowed {
                return Err(invalid(format!("member {member} is {status:?}")));
            }
        }
        SetSanctionedJurisdictions(list) => {
            if list.len() > 250 {
                return Err(invalid("the sanctioned list holds at most 250 jurisdictions"));
            }
        }
        RegisterOperator(record) => check_register_operator(state, record, &params, context)?,
        RevokeOperator(operator) | EmergencyRevokeOperator(operator) => {
            active_operator(state, operator)?;
        }
        RotateOperatorKey { operator, key, key_expires_at_ms } => {
            active_operator(state, operator)?;
            check_key_lifetime(context.timestamp_ms, *key_expires_at_ms, &params)?;
            check_key_unused(state, key)?;
        }
        AddNode(record) => check_add_node(state, record)?,
        RemoveNode(node) => match state.get::<NodeState>(&StateKey::Node(node.clone()))? {
            Some(existing) if !existing.removed => {}
            Some(_) => return Err(invalid(format!("node {node} is already removed"))),
            None => return Err(invalid(format!("no node {node}"))),
        },
        ChangeNodeRole { node, role } => match state.get::<NodeState>(&StateKey::Node(node.clone()))? {
            Some(existing) if existing.removed => return Err(invalid(format!("node {node} is removed"))),
            Some(existing) if existing.record.role == *role => {
                return Err(invalid(format!("node {node} already is a {role:?}")));
            }
            Some(existing) => check_active_member(state, &existing.record.member)?,
            None => return Err(invalid(format!("no node {node}"))),
        },
        SetParameter { name, value } => {
            if let Err(errors) = params.with(name, *value) {
                let reason = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                return Err(Violation::ParameterOutOfBounds { name: name.clone(), value: *value, reason }.into());
            }
        }
        SetThreshold { class, members } => {
            parse_class(class)?;
            check_threshold(class, *members)?;
            let active = active_members(state)?;
            if *members as usize > active {
                return Err(invalid(format!(
                    "a threshold of {members} members could never be met by the {active} active members"
                )));
            }
        }
        RegisterSchema { schema, definition } => {
            if state.get::<Vec<u8>>(&StateKey::Schema(schema.clone()))?.is_some() {
                return Err(invalid(format!("schema {schema} is already registered")));
            }
            // COV-32: the chain stores the definition it will check records against, so it must be one.
            covenant_rules::schema::SchemaDefinition::parse(definition).map_err(|reason| {
                TxInvalid::Violation(Violation::SchemaDefinitionInvalid { schema: schema.clone(), reason })
            })?;
        }
        AdmitContract { contract, code, manifest } => contracts::check_admit(state, contract, code, manifest, &params)?,
        UpgradeContract { contract, code, manifest } => {
            contracts::check_upgrade(state, contract, code, manifest, &params)?;
        }
        PauseContract(contract) => contracts::check_status_change(state, contract, ContractStatus::Paused)?,
        ResumeContract(contract) => contracts::check_status_change(state, contract, ContractStatus::Active)?,
        RetireContract(contract) => contracts::check_status_change(state, contract, ContractStatus::Retired)?,
    }
    if changes_validators(action) {
        check_validators_after(state, action)?;
    }
    check_approvers_after(state, action, context)?;
    Ok(())
}

fn changes_validators(action: &GovernanceAction) -> bool {
    use GovernanceAction::*;
    matches!(
        action,
        SuspendMember(_)
            | RemoveMember(_)
            | SetSanctionedJurisdictions(_)
            | AddNode(_)
            | RemoveNode(_)
            | ChangeNodeRole { .. }
    )
}

/// After the change, at least the current quorum of validators must remain, so that the
/// validators that could decide before still can (and the set is never empty).
fn check_validators_after<S: StateView + ?Sized>(state: &S, action: &GovernanceAction) -> Result<(), TxInvalid> {
    let current = state.validators()?;
    let mut scratch = Overlay::new(state);
    let remaining = match apply_action(&mut scratch, action, Change { proposal: Hash::ZERO, height: 0 }) {
        Ok(()) => scratch.validators()?.len(),
        Err(TxInvalid::Violation(Violation::ValidatorQuorumAtRisk { remaining, .. })) => remaining as usize,
        Err(other) => return Err(other),
    };
    if remaining < current.quorum() {
        return Err(
            Violation::ValidatorQuorumAtRisk { remaining: remaining as u64, needed: current.quorum() as u64 }.into()
        );
    }
    Ok(())
}

fn active_operator<S: StateReader + ?Sized>(state: &S, operator: &OperatorId) -> Result<OperatorState, TxInvalid> {
    match state.get::<OperatorState>(&StateKey::Operator(operator.clone()))? {
        Some(existing) if !existing.revoked => Ok(existing),
        Some(_) => Err(invalid(format!("operator {operator} is already revoked"))),
        None => Err(invalid(format!("no operator {operator}"))),
    }
}

fn check_key_unused<S: StateReader + ?Sized>(state: &S, key: &PublicKey) -> Result<(), TxInvalid> {
    if let Some(owner) = state.get::<String>(&StateKey::KeyOwner(*key))? {
        return Err(Violation::KeyInUse { key_hex: key.to_hex(), owner }.into());
    }
    Ok(())
}

fn check_active_member<S: StateReader + ?Sized>(state: &S, member: &MemberId) -> Result<(), TxInvalid> {
    match member_status(state, member)? {
        Some(MemberStatus::Active) => Ok(()),
        Some(status) => Err(invalid(format!("member {member} is {status:?}"))),
        None => Err(invalid(format!("no member {member}"))),
    }
}

fn check_register_operator<S: StateView + ?Sized>(
    state: &S,
    record: &OperatorRecord,
    params: &ChainParams,
    context: &BlockContext,
) -> Result<(), TxInvalid> {
    if state.get::<OperatorState>(&StateKey::Operator(record.id.clone()))?.is_some() {
        return Err(invalid(format!("operator {} already exists", record.id)));
    }
    if state.index::<OperatorId>(&StateKey::OperatorIndex)?.len() >= OPERATORS_MAX {
        return Err(invalid(format!("the chain already has {OPERATORS_MAX} operator accounts")));
    }
    check_active_member(state, &record.member)?;
    if let Some(existing) = state.get::<OperatorId>(&StateKey::Person(record.member.clone(), record.person.clone()))? {
        return Err(Violation::SecondAccountForPerson {
            person: record.person.clone(),
            member: record.member.clone(),
            existing,
            second: record.id.clone(),
        }
        .into());
    }
    if record.roles.is_empty() {
        return Err(invalid(format!("operator {} has no roles", record.id)));
    }
    check_role_combination(&record.roles)?;
    check_key_lifetime(context.timestamp_ms, record.key_expires_at_ms, params)?;
    check_key_unused(state, &record.key)?;
    Ok(())
}

fn check_add_node<S: StateView + ?Sized>(state: &S, record: &NodeRecord) -> Result<(), TxInvalid> {
    if state.get::<NodeState>(&StateKey::Node(record.id.clone()))?.is_some() {
        return Err(invalid(format!("node {} already exists", record.id)));
    }
    check_active_member(state, &record.member)?;
    if record.network_key == record.consensus_key {
        return Err(invalid("a node's network and consensus keys must differ"));
    }
    check_key_unused(state, &record.network_key)?;
    check_key_unused(state, &record.consensus_key)?;
    if state.index::<NodeId>(&StateKey::NodeIndex)?.len() >= REGISTRY_MAX {
        return Err(invalid(format!("the chain already has {REGISTRY_MAX} nodes")));
    }
    Ok(())
}

/// Applies a checked action, executed by `change`'s proposal in `change`'s block.
fn apply_action<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    action: &GovernanceAction,
    change: Change,
) -> Result<(), TxInvalid> {
    use GovernanceAction::*;
    match action {
        AdmitMember { member, name, jurisdiction } => {
            let state =
                MemberState { name: name.clone(), jurisdiction: jurisdiction.clone(), status: MemberStatus::Active };
            overlay.put(&StateKey::Member(member.clone()), &state);
            let mut index: Vec<MemberId> = overlay.index(&StateKey::MemberIndex)?;
            index.push(member.clone());
            overlay.put(&StateKey::MemberIndex, &index);
        }
        SuspendMember(member) => set_member_status(overlay, member, MemberStatus::Suspended)?,
        RemoveMember(member) => set_member_status(overlay, member, MemberStatus::Removed)?,
        SetSanctionedJurisdictions(list) => {
            let mut list = list.clone();
            list.sort();
            list.dedup();
            for member in overlay.index::<MemberId>(&StateKey::MemberIndex)? {
                let Some(state) = overlay.get::<MemberState>(&StateKey::Member(member.clone()))? else { continue };
                if state.status == MemberStatus::Active && list.contains(&state.jurisdiction) {
                    set_member_status(overlay, &member, MemberStatus::Suspended)?;
                }
            }
            overlay.put(&StateKey::Sanctioned, &list);
        }
        RegisterOperator(record) => {
            overlay
                .put(&StateKey::Operator(record.id.clone()), &OperatorState { record: record.clone(), revoked: false });
            overlay.put(&StateKey::Person(record.member.clone(), record.person.clone()), &record.id);
            overlay.put(&StateKey::KeyOwner(record.key), &format!("operator {}", record.id));
            let mut index: Vec<OperatorId> = overlay.index(&StateKey::OperatorIndex)?;
            index.push(record.id.clone());
            overlay.put(&StateKey::OperatorIndex, &index);
        }
        RevokeOperator(operator) | EmergencyRevokeOperator(operator) => {
            let mut state = active_operator(&*overlay, operator)?;
            state.revoked = true;
            overlay.delete(&StateKey::Person(state.record.member.clone(), state.record.person.clone()));
            overlay.put(&StateKey::Operator(operator.clone()), &state);
        }
        RotateOperatorKey { operator, key, key_expires_at_ms } => {
            let mut state = active_operator(&*overlay, operator)?;
            state.record.key = *key;
            state.record.key_expires_at_ms = *key_expires_at_ms;
            overlay.put(&StateKey::Operator(operator.clone()), &state);
            overlay.put(&StateKey::KeyOwner(*key), &format!("operator {operator}"));
        }
        AddNode(record) => {
            overlay.put(&StateKey::Node(record.id.clone()), &NodeState { record: record.clone(), removed: false });
            overlay.put(&StateKey::KeyOwner(record.network_key), &format!("node {} (network)", record.id));
            overlay.put(&StateKey::KeyOwner(record.consensus_key), &format!("node {} (consensus)", record.id));
            let mut index: Vec<NodeId> = overlay.index(&StateKey::NodeIndex)?;
            index.push(record.id.clone());
            overlay.put(&StateKey::NodeIndex, &index);
            recompute_validators(overlay)?;
        }
        RemoveNode(node) => {
            if let Some(mut state) = overlay.get::<NodeState>(&StateKey::Node(node.clone()))? {
                state.removed = true;
                overlay.put(&StateKey::Node(node.clone()), &state);
            }
            recompute_validators(overlay)?;
        }
        ChangeNodeRole { node, role } => {
            if let Some(mut state) = overlay.get::<NodeState>(&StateKey::Node(node.clone()))? {
                state.record.role = *role;
                overlay.put(&StateKey::Node(node.clone()), &state);
            }
            recompute_validators(overlay)?;
        }
        SetParameter { name, value } => {
            let params = overlay.params()?;
            let updated = params.with(name, *value).map_err(|errors| Violation::ParameterOutOfBounds {
                name: name.clone(),
                value: *value,
                reason: errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            })?;
            overlay.put(&StateKey::Params, &updated);
        }
        SetThreshold { class, members } => {
            let mut thresholds = overlay.thresholds()?;
            thresholds.set(parse_class(class)?, *members);
            overlay.put(&StateKey::Thresholds, &thresholds);
        }
        RegisterSchema { schema, definition } => overlay.put(&StateKey::Schema(schema.clone()), definition),
        AdmitContract { contract, code, manifest } => {
            contracts::apply_admit(overlay, contract, code, manifest, change)?
        }
        UpgradeContract { contract, code, manifest } => {
            contracts::apply_upgrade(overlay, contract, code, manifest, change)?;
        }
        PauseContract(contract) => contracts::apply_status(overlay, contract, ContractStatus::Paused, change)?,
        ResumeContract(contract) => contracts::apply_status(overlay, contract, ContractStatus::Active, change)?,
        RetireContract(contract) => contracts::apply_status(overlay, contract, ContractStatus::Retired, change)?,
    }
    Ok(())
}

fn set_member_status<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    member: &MemberId,
    status: MemberStatus,
) -> Result<(), TxInvalid> {
    let mut state: MemberState =
        overlay.get(&StateKey::Member(member.clone()))?.ok_or_else(|| invalid(format!("no member {member}")))?;
    state.status = status;
    overlay.put(&StateKey::Member(member.clone()), &state);
    recompute_validators(overlay)
}

/// The validator set for the next height: validator nodes not removed whose member is active.
fn recompute_validators<V: StateView + ?Sized>(overlay: &mut Overlay<'_, V>) -> Result<(), TxInvalid> {
    let mut validators = Vec::new();
    for node in overlay.index::<NodeId>(&StateKey::NodeIndex)? {
        let Some(state) = overlay.get::<NodeState>(&StateKey::Node(node))? else { continue };
        if state.removed || state.record.role != NodeRole::Validator {
            continue;
        }
        if member_status(&*overlay, &state.record.member)? == Some(MemberStatus::Active) {
            validators.push(Validator { id: state.record.id, consensus_key: state.record.consensus_key });
        }
    }
    let remaining = validators.len() as u64;
    let set = ValidatorSet::new(validators).map_err(|error| match error {
        covenant_types::ValidatorSetError::Empty => {
            TxInvalid::Violation(Violation::ValidatorQuorumAtRisk { remaining, needed: 1 })
        }
        other => invalid(other.to_string()),
    })?;
    overlay.put(&StateKey::Validators, &set);
    Ok(())
}
