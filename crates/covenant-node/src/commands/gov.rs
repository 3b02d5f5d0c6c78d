//! `covenant gov`: governance from the command line. Propose a change, approve, reject or withdraw a
//! proposal, list and show proposals; and the helpers `covenant member`, `covenant operator` and
//! `covenant node-admin`, which are `gov propose` with shorter names plus `member list` and
//! `operator list`.
//!
//! The model (COV-15, COV-16, COV-12): an admin proposes; admins of other persons approve or reject;
//! the proposal executes in the block where the approving members (the proposer's included) reach its
//! class's threshold and at least two persons besides the proposer approved. Nobody votes on their own
//! proposal, and a proposal that expires unapproved never executes. `docs/governance.md` tells the whole
//! story with a worked example.
//!
//! Signing works like `covenant tx`: the key file and every argument are checked first ([`action`]),
//! so a typo never costs a nonce; the chain id comes from `GET /v1/status`, the nonce from
//! `GET /v1/operators/{id}/nonce`. The proposal id is the hash of the transaction that opened it.
//!
//! Output: the transaction hash (for `propose`, the proposal id) on stdout; with `--wait`, then the
//! commit line of `covenant tx` and the proposal's status, e.g. `open: 2 of 3 members, 1 of 2 persons`,
//! `executed at height 42` or `failed: RULE (article N): reason`. A refusal at submission goes to stderr
//! as `refused by RULE (article N): ...`. Exit codes as for `covenant tx`: 0 done, 1 refused, rejected or
//! failed, 2 bad arguments or unreachable node.

pub mod action;
pub mod cli;
pub mod view;

use std::io::Write;

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use covenant_types::{Hash, Payload, ProposalId};

use super::Outcome;
use super::inventory::{Member, Operator};
use super::query::{Api, describe_error, path_segment};
use super::tx::{SubmitOptions, summarize};
use action::{ActionSpec, ProposalText};
use view::ProposalView;

/// A vote, or the proposer taking a proposal back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// `covenant gov approve`.
    Approve,
    /// `covenant gov reject`.
    Reject,
    /// `covenant gov withdraw` (the proposer only).
    Withdraw,
}

/// `covenant gov propose ...`: checks the action, signs and submits the proposal; prints its id.
pub fn propose(
    options: &SubmitOptions,
    spec: &ActionSpec,
    text: &ProposalText,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let proposal = action::proposal(spec, text, crate::runtime::chain::now_ms())?;
    send(options, Payload::GovernancePropose(Box::new(proposal)), None, out, err)
}

/// `covenant gov approve|reject|withdraw ID`: signs and submits the vote.
pub fn vote(
    options: &SubmitOptions,
    vote: Vote,
    id: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let id = proposal_id(id)?;
    let payload = match vote {
        Vote::Approve => Payload::GovernanceApprove(id),
        Vote::Reject => Payload::GovernanceReject(id),
        Vote::Withdraw => Payload::GovernanceWithdraw(id),
    };
    send(options, payload, Some(id), out, err)
}

/// A proposal id as given on the command line.
pub fn proposal_id(text: &str) -> Result<ProposalId> {
    Hash::from_hex(text.trim()).map_err(|error| {
        anyhow!("proposal id {text:?}: {error} (the id is the 64-hex-digit hash `gov propose` printed)")
    })
}

/// Signs `payload` as `options.operator`, submits it and, with `--wait`, reports the commit and then the
/// proposal `id` (or, for a proposal, the transaction's own hash).
fn send(
    options: &SubmitOptions,
    payload: Payload,
    id: Option<ProposalId>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let Some((api, hash)) = sign_and_submit(options, payload, out, err)? else { return Ok(Outcome::Failure) };
    let Some(timeout) = options.wait else { return Ok(Outcome::Success) };

    let answer = super::tx::wait(&api, &hash, timeout)?;
    let (line, outcome) = summarize(&answer);
    if options.json {
        writeln!(out, "{answer}")?;
    } else {
        writeln!(out, "{line}")?;
    }
    if outcome == Outcome::Failure {
        return Ok(outcome);
    }
    let id = id.map_or(hash, |id| id.to_hex());
    let path = format!("/v1/proposals/{}", path_segment(&id));
    let response = api.get(&path)?;
    if !response.is_success() {
        writeln!(err, "error: GET {path} on {}: {}", api.address(), describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    if options.json {
        writeln!(out, "{}", response.body)?;
        return Ok(ProposalView::from_json(&response.body).map_or(Outcome::Success, |view| view.status_line().1));
    }
    let (line, outcome) = ProposalView::from_json(&response.body)?.status_line();
    writeln!(out, "{line}")?;
    Ok(outcome)
}

/// Signs `payload` as `options.operator` (chain id from `GET /v1/status`, nonce from the node unless
/// given) and submits it. Prints the transaction hash (or, with `--json`, the API's answer) on `out`;
/// a refusal goes to `err` and gives `None`. Returns the API and the transaction hash otherwise.
pub(crate) fn sign_and_submit(
    options: &SubmitOptions,
    payload: Payload,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Option<(Api, String)>> {
    let (api, tx) = crate::commands::tx::sign(options, payload, err)?;
    let local_hash = tx.body.hash();
    let response = api.submit(&tx)?;
    if options.json {
        writeln!(out, "{}", response.body)?;
    }
    if !response.is_success() {
        writeln!(err, "{}", describe_error(&response))?;
        return Ok(None);
    }
    let hash = response.body.get("hash").and_then(Value::as_str).map_or_else(|| local_hash.to_hex(), str::to_string);
    if !options.json {
        writeln!(out, "{hash}")?;
    }
    out.flush()?;
    Ok(Some((api, hash)))
}

/// Most pages `covenant gov list` follows (of up to 1,024 proposals each).
const LIST_PAGES_MAX: usize = 256;

/// `covenant gov list [--all]`: open proposals (or all) as a table, or as JSON `{"proposals": [...]}`,
/// following the API's pages.
pub fn list(api: &str, all: bool, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let status = if all { "all" } else { "open" };
    let mut proposals: Vec<Value> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..LIST_PAGES_MAX {
        let path = match &after {
            Some(id) => format!("/v1/proposals?status={status}&limit=1024&after={id}"),
            None => format!("/v1/proposals?status={status}&limit=1024"),
        };
        let body = match read(api, &path, false, out, err)? {
            Answer::Body(body) => body,
            Answer::Done(outcome) => return Ok(outcome),
        };
        let page = body
            .get("proposals")
            .and_then(Value::as_array)
            .with_context(|| format!("GET {path}: expected {{\"proposals\": [...]}}, got {body}"))?;
        proposals.extend(page.iter().cloned());
        match body.get("next").and_then(Value::as_str) {
            Some(next) => after = Some(next.to_string()),
            None => {
                after = None;
                break;
            }
        }
    }
    if let Some(next) = after {
        writeln!(err, "warning: more than {LIST_PAGES_MAX} pages of proposals; listed up to {next}")?;
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&serde_json::json!({ "proposals": proposals }))?)?;
        return Ok(Outcome::Success);
    }
    let proposals: Vec<ProposalView> = serde_json::from_value(Value::Array(proposals))
        .context("GET /v1/proposals: a proposal is not in the expected shape")?;
    if proposals.is_empty() {
        writeln!(out, "no {}proposals", if all { "" } else { "open " })?;
    } else {
        view::write_proposals(&proposals, crate::runtime::chain::now_ms(), out)?;
    }
    Ok(Outcome::Success)
}

/// `covenant gov show ID`: one proposal with its votes and status.
pub fn show(api: &str, id: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let path = format!("/v1/proposals/{}", proposal_id(id)?.to_hex());
    let body = match read(api, &path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    view::write_proposal(&ProposalView::from_json(&body)?, crate::runtime::chain::now_ms(), out)?;
    Ok(Outcome::Success)
}

/// `covenant operator list`: every operator account with roles, key expiry and standing; with
/// `expiring_days`, only those not revoked whose key expires within that many days of now (or has
/// expired), soonest first.
pub fn operators(
    api: &str,
    json: bool,
    expiring_days: Option<u64>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Outcome> {
    let path = "/v1/operators";
    let body = match read(api, path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    let operators: Vec<Operator> = serde_json::from_value(body.get("operators").cloned().unwrap_or(Value::Null))
        .with_context(|| format!("GET {path}: expected {{\"operators\": [...]}}, got {body}"))?;
    let now_ms = crate::runtime::chain::now_ms();
    let operators = match expiring_days {
        Some(days) => view::expiring_within(operators, now_ms, days),
        None => operators,
    };
    view::write_operators(&operators, now_ms, out)?;
    Ok(Outcome::Success)
}

/// `covenant member list`: every member with its jurisdiction and standing.
pub fn members(api: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let path = "/v1/members";
    let body = match read(api, path, json, out, err)? {
        Answer::Body(body) => body,
        Answer::Done(outcome) => return Ok(outcome),
    };
    let members: Vec<Member> = serde_json::from_value(body.get("members").cloned().unwrap_or(Value::Null))
        .with_context(|| format!("GET {path}: expected {{\"members\": [...]}}, got {body}"))?;
    view::write_members(&members, out)?;
    Ok(Outcome::Success)
}

/// What a read-only command got from the node.
pub(crate) enum Answer {
    /// A 2xx answer to render.
    Body(Value),
    /// Already handled: printed as JSON (`Success`) or an error answer reported on stderr (`Failure`).
    Done(Outcome),
}

/// `GET path`: an error answer is reported on `err`; with `json` the answer is printed as is.
pub(crate) fn read(api: &str, path: &str, json: bool, out: &mut dyn Write, err: &mut dyn Write) -> Result<Answer> {
    let api = Api::new(api)?;
    let response = api.get(path)?;
    if !response.is_success() {
        if json {
            writeln!(out, "{}", response.body)?;
        }
        writeln!(err, "error: GET {path} on {}: {}", api.address(), describe_error(&response))?;
        return Ok(Answer::Done(Outcome::Failure));
    }
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&response.body)?)?;
        return Ok(Answer::Done(Outcome::Success));
    }
    Ok(Answer::Body(response.body))
}
