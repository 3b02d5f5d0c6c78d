//! How proposals, operators and members are shown: one status line per proposal, a table for a list,
//! a block of labelled lines for one proposal. Everything is read from the API's JSON, leniently
//! (missing fields take defaults), so a node a little newer or older than this command still shows.

use std::io::Write;

use anyhow::Result;
use serde::Deserialize;
use serde_json::Value;

use covenant_rules::checks::DAY_MS;
use covenant_types::GovernanceAction;

use super::super::Outcome;
use super::super::inventory::{Member, Operator, utc_text};

/// Distinct persons besides the proposer who must approve, when the node does not say (COV-16).
pub const APPROVING_PERSONS_REQUIRED_DEFAULT: u64 = covenant_execution::governance::APPROVING_PERSONS_MIN as u64;

/// A proposal as `GET /v1/proposals/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProposalView {
    /// Proposal id (the hash of the transaction that opened it).
    pub id: String,
    /// Action class.
    pub class: String,
    /// The action, as `GovernanceAction` JSON.
    pub action: Value,
    /// Why.
    pub reason: String,
    /// Block time after which it can no longer pass.
    pub expires_at_ms: u64,
    /// Block time when it was opened.
    pub opened_at_ms: u64,
    /// Who proposed it.
    pub proposer: Option<VoteView>,
    /// Approvals, in order.
    pub approvals: Vec<VoteView>,
    /// Rejections, in order.
    pub rejections: Vec<VoteView>,
    /// `open`, `executed`, `failed`, `rejected`, `withdrawn` or `expired`.
    pub status: String,
    /// Height of the block that closed it.
    pub closed_at_height: Option<u64>,
    /// Why it failed, if it did.
    pub failure: Option<FailureView>,
    /// Approving members needed (the class threshold).
    pub members_required: u64,
    /// Approving members so far, the proposer's included.
    pub approving_members: u64,
    /// Approving persons so far, the proposer not counted.
    pub approving_persons: u64,
    /// Approving persons needed besides the proposer.
    pub approving_persons_required: Option<u64>,
}

/// One vote (or the proposal itself) as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct VoteView {
    /// Operator account that signed.
    pub operator: String,
    /// The person behind it.
    pub person: String,
    /// Their member.
    pub member: String,
    /// Height of the block that recorded it.
    pub height: u64,
}

/// Why an executed-but-failed proposal failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct FailureView {
    /// Rule id.
    pub rule: String,
    /// Reason.
    pub reason: String,
}

impl ProposalView {
    /// Reads the API's JSON.
    pub fn from_json(value: &Value) -> Result<ProposalView> {
        serde_json::from_value(value.clone()).map_err(|error| anyhow::anyhow!("unexpected proposal JSON: {error}"))
    }

    fn persons_required(&self) -> u64 {
        self.approving_persons_required.unwrap_or(APPROVING_PERSONS_REQUIRED_DEFAULT)
    }

    /// `A of R members, P of Q persons`.
    pub fn tally(&self) -> String {
        format!(
            "{} of {} members, {} of {} persons",
            self.approving_members,
            self.members_required,
            self.approving_persons,
            self.persons_required()
        )
    }

    /// One line saying where the proposal stands, and whether that is a failure.
    pub fn status_line(&self) -> (String, Outcome) {
        let height = self.closed_at_height.map_or_else(|| "?".to_string(), |height| height.to_string());
        match self.status.as_str() {
            "open" => (format!("open: {}", self.tally()), Outcome::Success),
            "executed" => (format!("executed at height {height}"), Outcome::Success),
            "failed" => {
                let failure = self.failure.clone().unwrap_or_default();
                let rule = match failure.rule.parse::<covenant_rules::RuleId>() {
                    Ok(rule) => format!("{rule} (article {})", rule.article()),
                    Err(_) if failure.rule.is_empty() => "no rule given".to_string(),
                    Err(_) => failure.rule.clone(),
                };
                (format!("failed: {rule}: {}", failure.reason), Outcome::Failure)
            }
            "rejected" => (format!("rejected at height {height}"), Outcome::Success),
            "withdrawn" => (format!("withdrawn at height {height}"), Outcome::Success),
            "expired" => (
                format!("expired at {} without passing ({})", utc_text(self.expires_at_ms), self.tally()),
                Outcome::Success,
            ),
            other => (format!("unknown status {other:?}"), Outcome::Failure),
        }
    }

    /// The action in words, or its JSON if this command does not know it.
    pub fn action_text(&self) -> String {
        match serde_json::from_value::<GovernanceAction>(self.action.clone()) {
            Ok(action) => describe(&action),
            Err(_) => self.action.to_string(),
        }
    }
}

/// `bank-1.admin (admin-1 of bank-1) at height 6`.
fn vote_text(vote: &VoteView) -> String {
    format!("{} ({} of {}) at height {}", vote.operator, vote.person, vote.member, vote.height)
}

/// A short key for tables and summaries: its first 16 hex digits.
fn short_key(key: &covenant_types::PublicKey) -> String {
    let hex = key.to_hex();
    format!("{}…", &hex[..16])
}

/// An action in words.
pub fn describe(action: &GovernanceAction) -> String {
    use GovernanceAction::*;
    match action {
        AdmitMember { member, name, jurisdiction } => format!("admit member {member} ({name:?}, {jurisdiction})"),
        SuspendMember(member) => format!("suspend member {member}"),
        RemoveMember(member) => format!("remove member {member}"),
        SetSanctionedJurisdictions(list) if list.is_empty() => "sanction no jurisdiction".to_string(),
        SetSanctionedJurisdictions(list) => format!(
            "sanction exactly {}",
            list.iter().map(covenant_types::Jurisdiction::as_str).collect::<Vec<_>>().join(", ")
        ),
        RegisterOperator(record) => format!(
            "register operator {} ({} of {}, roles {}, key {}, expires {})",
            record.id,
            record.person,
            record.member,
            roles_text(&record.roles),
            short_key(&record.key),
            utc_text(record.key_expires_at_ms)
        ),
        RevokeOperator(operator) => format!("revoke operator {operator}"),
        EmergencyRevokeOperator(operator) => format!("revoke operator {operator} at once (emergency)"),
        RotateOperatorKey { operator, key, key_expires_at_ms } => format!(
            "rotate the key of operator {operator} to {} (expires {})",
            short_key(key),
            utc_text(*key_expires_at_ms)
        ),
        AddNode(record) => format!(
            "add node {} of {} as {} (network key {}, consensus key {})",
            record.id,
            record.member,
            node_role(record.role),
            short_key(&record.network_key),
            short_key(&record.consensus_key)
        ),
        RemoveNode(node) => format!("remove node {node}"),
        ChangeNodeRole { node, role } => format!("make node {node} {}", node_role(*role)),
        SetParameter { name, value } => format!("set parameter {name} to {value}"),
        SetThreshold { class, members } => format!("set the {class} threshold to {members} members"),
        RegisterSchema { schema, definition } => format!(
            "register schema {schema} (definition of {} bytes, sha256 {})",
            definition.len(),
            covenant_rules::schema::definition_hash(definition)
        ),
        AdmitContract { contract, code, manifest } => {
            format!("admit contract {contract}: {}", contract_text(code, manifest))
        }
        UpgradeContract { contract, code, manifest } => {
            format!("upgrade contract {contract} to {}", contract_text(code, manifest))
        }
        PauseContract(contract) => format!("pause contract {contract}"),
        ResumeContract(contract) => format!("resume contract {contract}"),
        RetireContract(contract) => format!("retire contract {contract}"),
    }
}

/// Code and manifest of a contract proposal in words: name, version, owner, steward, code hash and size.
fn contract_text(code: &[u8], manifest: &[u8]) -> String {
    let hash = covenant_execution::vm::code_hash(code).to_hex();
    let code = format!("code {}… ({} bytes)", &hash[..16], code.len());
    match covenant_execution::vm::Manifest::decode(manifest) {
        Ok(manifest) => format!(
            "{:?} {}, owner {}, steward {}, {} function(s), {code}",
            manifest.name,
            manifest.version,
            manifest.owner,
            manifest.steward,
            manifest.functions.len()
        ),
        Err(error) => format!("{code}, manifest refused: {error}"),
    }
}

fn node_role(role: covenant_types::NodeRole) -> &'static str {
    match role {
        covenant_types::NodeRole::Validator => "a validator",
        covenant_types::NodeRole::Observer => "an observer",
    }
}

fn roles_text(roles: &[covenant_types::Role]) -> String {
    roles
        .iter()
        .map(|role| serde_json::to_value(role).ok().and_then(|value| value.as_str().map(str::to_string)))
        .map(|name| name.unwrap_or_else(|| "?".into()))
        .collect::<Vec<_>>()
        .join(",")
}

/// A duration in words: `3d 4h`, `5h 12m`, `7m`.
pub fn duration_text(ms: u64) -> String {
    let minutes = ms / 60_000;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// The full keys and expiry of an action that carries them, as labelled lines.
fn action_details(action: &Value) -> Vec<(&'static str, String)> {
    use GovernanceAction::*;
    let Ok(action) = serde_json::from_value::<GovernanceAction>(action.clone()) else { return Vec::new() };
    match action {
        RegisterOperator(record) => {
            vec![("key", record.key.to_hex()), ("key expires", utc_text(record.key_expires_at_ms))]
        }
        RotateOperatorKey { key, key_expires_at_ms, .. } => {
            vec![("new key", key.to_hex()), ("key expires", utc_text(key_expires_at_ms))]
        }
        AddNode(record) => {
            vec![("network key", record.network_key.to_hex()), ("consensus key", record.consensus_key.to_hex())]
        }
        _ => Vec::new(),
    }
}

/// Writes one proposal as labelled lines (`covenant gov show`).
pub fn write_proposal(proposal: &ProposalView, now_ms: u64, out: &mut dyn Write) -> Result<()> {
    let mut lines: Vec<(&str, String)> = vec![
        ("proposal", proposal.id.clone()),
        ("action", proposal.action_text()),
        ("class", format!("{} ({} members must approve)", proposal.class, proposal.members_required)),
    ];
    lines.extend(action_details(&proposal.action));
    let reason = if proposal.reason.is_empty() { "(none given)".to_string() } else { proposal.reason.clone() };
    lines.push(("reason", reason));
    if let Some(proposer) = &proposal.proposer {
        lines.push(("proposer", vote_text(proposer)));
    }
    lines.push(("opened", utc_text(proposal.opened_at_ms)));
    let expires = if proposal.status == "open" && proposal.expires_at_ms > now_ms {
        format!("{} (in {})", utc_text(proposal.expires_at_ms), duration_text(proposal.expires_at_ms - now_ms))
    } else {
        utc_text(proposal.expires_at_ms)
    };
    lines.push(("expires", expires));
    let votes = |votes: &[VoteView]| match votes {
        [] => vec!["none".to_string()],
        votes => votes.iter().map(vote_text).collect(),
    };
    for (label, texts) in [("approvals", votes(&proposal.approvals)), ("rejections", votes(&proposal.rejections))] {
        for (index, text) in texts.into_iter().enumerate() {
            lines.push((if index == 0 { label } else { "" }, text));
        }
    }
    lines.push(("tally", format!("{} (the proposer's member counts; the proposer does not)", proposal.tally())));
    lines.push(("status", proposal.status_line().0));
    let width = lines.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, text) in lines {
        writeln!(out, "{label:<width$}  {text}")?;
    }
    Ok(())
}

/// Writes proposals as a table (`covenant gov list`).
pub fn write_proposals(proposals: &[ProposalView], now_ms: u64, out: &mut dyn Write) -> Result<()> {
    let rows: Vec<Vec<String>> = proposals
        .iter()
        .map(|proposal| {
            let state = match proposal.status.as_str() {
                "open" if proposal.expires_at_ms > now_ms => {
                    format!("open, expires in {}", duration_text(proposal.expires_at_ms - now_ms))
                }
                "open" => "open".to_string(),
                _ => proposal.status_line().0,
            };
            vec![
                proposal.id.clone(),
                proposal.class.clone(),
                format!("{}/{}", proposal.approving_members, proposal.members_required),
                format!("{}/{}", proposal.approving_persons, proposal.persons_required()),
                state,
                proposal.action_text(),
            ]
        })
        .collect();
    table(out, &["ID", "CLASS", "MEMBERS", "PERSONS", "STATUS", "ACTION"], &rows)
}

/// Writes operators as a table (`covenant operator list`).
pub fn write_operators(operators: &[Operator], now_ms: u64, out: &mut dyn Write) -> Result<()> {
    let rows: Vec<Vec<String>> = operators
        .iter()
        .map(|operator| {
            let status = if operator.revoked {
                "revoked"
            } else if operator.key_expires_at_ms <= now_ms {
                "key expired"
            } else {
                "active"
            };
            vec![
                operator.id.clone(),
                operator.person.clone(),
                operator.member.clone(),
                operator.roles.join(","),
                utc_text(operator.key_expires_at_ms),
                status.to_string(),
                operator.key.clone(),
            ]
        })
        .collect();
    table(out, &["ID", "PERSON", "MEMBER", "ROLES", "KEY EXPIRES (UTC)", "STATUS", "KEY"], &rows)
}

/// Operators not revoked whose key expires within `days` days of `now_ms` (expired ones included),
/// soonest expiry first (`covenant operator list --expiring DAYS`).
pub fn expiring_within(operators: Vec<Operator>, now_ms: u64, days: u64) -> Vec<Operator> {
    let until_ms = now_ms.saturating_add(days.saturating_mul(DAY_MS));
    let mut expiring: Vec<Operator> =
        operators.into_iter().filter(|operator| !operator.revoked && operator.key_expires_at_ms <= until_ms).collect();
    expiring.sort_by(|a, b| (a.key_expires_at_ms, &a.id).cmp(&(b.key_expires_at_ms, &b.id)));
    expiring
}

/// Writes members as a table (`covenant member list`).
pub fn write_members(members: &[Member], out: &mut dyn Write) -> Result<()> {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|member| vec![member.id.clone(), member.name.clone(), member.jurisdiction.clone(), member.status.clone()])
        .collect();
    table(out, &["ID", "NAME", "JURISDICTION", "STATUS"], &rows)
}

/// Writes rows under a header, columns padded to their widest cell, line ends trimmed.
pub(crate) fn table(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|title| title.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            line.push_str(cell);
            line.push_str(&" ".repeat(width - cell.chars().count() + 2));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proposal(status: &str) -> ProposalView {
        ProposalView::from_json(&json!({
            "id": "ab".repeat(32), "class": "nodes", "action": {"RemoveNode": "validator-3"},
            "reason": "retired", "expires_at_ms": 2_000_000_000_000u64, "opened_at_ms": 1_999_990_000_000u64,
            "proposer": {"operator": "bank-0.admin", "person": "admin-0", "member": "bank-0", "height": 5},
            "approvals": [{"operator": "bank-1.admin", "person": "admin-1", "member": "bank-1", "height": 6}],
            "rejections": [], "status": status,
            "closed_at_height": if status == "open" { Value::Null } else { json!(9) },
            "failure": if status == "failed" {
                json!({"rule": "COV-15-CHANGE-BY-CONSENSUS", "reason": "fewer validators than a quorum"})
            } else { Value::Null },
            "members_required": 3, "approving_members": 2, "approving_persons": 1, "approving_persons_required": 2,
        }))
        .unwrap()
    }

    #[test]
    fn status_lines() {
        assert_eq!(proposal("open").status_line(), ("open: 2 of 3 members, 1 of 2 persons".into(), Outcome::Success));
        assert_eq!(proposal("executed").status_line(), ("executed at height 9".into(), Outcome::Success));
        assert_eq!(proposal("withdrawn").status_line().0, "withdrawn at height 9");
        let (line, outcome) = proposal("failed").status_line();
        assert_eq!(outcome, Outcome::Failure);
        assert!(line.starts_with("failed: COV-15-CHANGE-BY-CONSENSUS (article 15): fewer validators"), "{line}");
        assert!(proposal("expired").status_line().0.starts_with("expired at 2033-05-18 03:33:20Z without passing"));
        // A node that leaves out the persons requirement gets the covenant's two.
        let mut older = proposal("open");
        older.approving_persons_required = None;
        assert_eq!(older.tally(), "2 of 3 members, 1 of 2 persons");
    }

    #[test]
    fn actions_in_words() {
        assert_eq!(proposal("open").action_text(), "remove node validator-3");
        let unknown = ProposalView { action: json!({"Launch": 1}), ..ProposalView::default() };
        assert_eq!(unknown.action_text(), r#"{"Launch":1}"#);
        let key = covenant_types::SecretKey::from_seed(&[3; 32]).public_key();
        let action = GovernanceAction::RotateOperatorKey {
            operator: covenant_types::OperatorId::new("bank-1.ops").unwrap(),
            key,
            key_expires_at_ms: 0,
        };
        let text = describe(&action);
        assert!(text.starts_with(&format!("rotate the key of operator bank-1.ops to {}…", &key.to_hex()[..16])));
        assert_eq!(duration_text(90_000), "1m");
        assert_eq!(duration_text(3 * 3_600_000 + 120_000), "3h 2m");
        assert_eq!(duration_text(50 * 3_600_000), "2d 2h");
    }

    #[test]
    fn show_and_list_render() {
        let mut text = Vec::new();
        write_proposal(&proposal("open"), 1_999_990_000_000, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("action      remove node validator-3\n"), "{text}");
        assert!(text.contains("approvals   bank-1.admin (admin-1 of bank-1) at height 6\n"), "{text}");
        assert!(text.contains("rejections  none\n"), "{text}");
        assert!(text.contains("expires     2033-05-18 03:33:20Z (in 2h 46m)\n"), "{text}");
        assert!(text.ends_with("status      open: 2 of 3 members, 1 of 2 persons\n"), "{text}");

        let mut text = Vec::new();
        write_proposals(&[proposal("open"), proposal("executed")], 1_999_990_000_000, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID  ") && lines[0].ends_with("STATUS                   ACTION"), "{text}");
        assert!(
            lines[1].contains("  nodes  2/3      1/2      open, expires in 2h 46m  remove node validator-3"),
            "{text}"
        );
        assert!(lines[2].contains("executed at height 9"), "{text}");
    }
}
