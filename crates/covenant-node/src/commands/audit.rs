//! `covenant audit verify | export`: the tamper-evident audit trail (article 33, article 50).
//! `verify --config` walks a stopped node's local hash chain and checks every anchor this node put
//! on chain, as its own sealed blocks carry them, naming the first bad entry; `verify --api` does
//! the same for a running node from outside, against blocks fetched from other members' nodes
//! ([`crate::commands::audit_remote`]). Without an anchor the log is reported UNVERIFIED and the
//! exit code is 1 unless `--accept-unanchored` (ADR 0020). `export` writes entries as JSON lines
//! for a SIEM.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use covenant_core::{AuditCheck, AuditVerifier};
use covenant_storage::audit::{Actor, AuditPosition, AuditRecord, EventType, Outcome as AuditOutcome};
use covenant_storage::{AuditEntry, AuditLog, RocksStore};

use crate::commands::Outcome;
use crate::config::NodeConfig;
use crate::runtime::chain::now_ms;

/// Entries read per page while exporting.
const EXPORT_PAGE_ENTRIES: usize = 1_000;

/// Opens the store of the node `config_file` describes; the node must be stopped.
pub fn open_node_store(config_file: &Path) -> Result<(NodeConfig, RocksStore)> {
    let config = NodeConfig::load(config_file).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let db = config.data_dir.join("db");
    if !db.join("CURRENT").exists() {
        bail!("{} holds no node store (the node has never run, or data_dir is wrong)", db.display());
    }
    let store = RocksStore::open(&db).with_context(|| {
        format!(
            "opening the store in {} (is the node still running? stop it first: RocksDB admits one process)",
            db.display()
        )
    })?;
    Ok((config, store))
}

/// What `covenant audit verify` found, local or remote, ready to print.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// The audited node.
    pub node: String,
    /// `local` (the node's own store) or `remote` (its API, against other members' blocks).
    pub form: &'static str,
    /// Entries whose hash links were checked.
    pub entries: Option<u64>,
    /// The last entry checked.
    pub head: Option<AuditPosition>,
    /// Anchors checked against the log.
    pub anchors: u64,
    /// Of which the carrying block's commit seals were checked against the validator set.
    pub anchors_sealed: u64,
    /// The newest anchor checked: (entry, height).
    pub last_anchor: Option<(u64, u64)>,
    /// Where the anchors came from and what was checked about them, one sentence each.
    pub sources: Vec<String>,
    /// What does not match, the first bad entry first.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Prints the report (text or JSON) and decides the exit code: 1 when something does not match,
    /// and when no anchor covers the log unless `accept_unanchored` (ADR 0020).
    pub fn finish(&self, json_output: bool, accept_unanchored: bool, out: &mut dyn Write) -> Result<Outcome> {
        let unanchored = self.problems.is_empty() && self.anchors == 0;
        let ok = self.problems.is_empty() && (!unanchored || accept_unanchored);
        if json_output {
            let value = json!({
                "node": self.node,
                "form": self.form,
                "ok": ok,
                "verified": self.problems.is_empty() && !unanchored,
                "unanchored": unanchored,
                "entries": self.entries,
                "head": self.head.map(|head| json!({"sequence": head.sequence, "hash": head.hash})),
                "anchors": self.anchors,
                "anchors_seals_checked": self.anchors_sealed,
                "last_anchor_height": self.last_anchor.map(|(_, height)| height),
                "sources": self.sources,
                "problems": self.problems,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        } else if self.problems.is_empty() {
            let head =
                self.head.map(|head| format!("entry {} ({})", head.sequence, head.hash)).unwrap_or("none".into());
            let entries = self.entries.unwrap_or(0);
            writeln!(out, "audit log of {} ({}): {entries} entries verified; head {head}", self.node, self.form)?;
            match self.last_anchor {
                Some((sequence, height)) => writeln!(
                    out,
                    "{} anchors on chain agree with it (last: entry {sequence} at height {height}; seals checked for {})",
                    self.anchors, self.anchors_sealed
                )?,
                None => writeln!(
                    out,
                    "UNVERIFIED: no anchor of {} on chain yet: only the log's own hash chain protects it{}",
                    self.node,
                    if accept_unanchored {
                        " (accepted: --accept-unanchored)"
                    } else {
                        " (exit 1; --accept-unanchored accepts this)"
                    }
                )?,
            }
            for source in &self.sources {
                writeln!(out, "  {source}")?;
            }
        } else {
            for problem in &self.problems {
                writeln!(out, "TAMPERED: {problem}")?;
            }
        }
        Ok(if ok { Outcome::Success } else { Outcome::Failure })
    }
}

/// `covenant audit verify --config`: the local hash chain of a stopped node, checked against every
/// anchor this node put on chain as the sealed blocks in its store carry them. Exit 0 if it verifies
/// and at least one anchor covers it (or `accept_unanchored`).
pub fn verify(config_file: &Path, json_output: bool, accept_unanchored: bool, out: &mut dyn Write) -> Result<Outcome> {
    let (config, store) = open_node_store(config_file)?;
    let mut report = VerifyReport { node: config.node_id.to_string(), form: "local", ..VerifyReport::default() };
    match AuditVerifier::new(config.node_id.clone()).run(&store) {
        AuditCheck::Verified { head, entries, anchors, anchors_sealed, last_anchor } => {
            report.head = head;
            report.entries = Some(entries);
            report.anchors = anchors;
            report.anchors_sealed = anchors_sealed;
            report.last_anchor = last_anchor.map(|anchor| (anchor.sequence, anchor.height));
        }
        AuditCheck::Failed(failure) => report.problems.push(failure.to_string()),
        AuditCheck::Pending => unreachable!("a run always gives a verdict"),
    }
    report.sources.push(
        "anchors read from the AuditAnchor transactions in this node's sealed blocks (transactions checked against \
         each header; commit seals checked when the validator set in this store is the one the header names)"
            .into(),
    );
    report.sources.push(
        "not proven here: that this store's blocks and its index of anchor heights are the chain's; \
         run the remote form against other members' nodes for that"
            .into(),
    );
    let outcome = if report.problems.is_empty() { AuditOutcome::Success } else { AuditOutcome::Failure };
    let record = AuditRecord::new(now_ms(), config.node_id.clone(), EventType::AuditVerified, Actor::System, outcome)
        .with_detail("anchors", report.anchors.to_string())
        .with_detail("problems", report.problems.len().to_string());
    // Recording the check is itself evidence; a log too damaged to append to is reported above.
    let _ = store.append(record);
    report.finish(json_output, accept_unanchored, out)
}

/// Parses `--since`: milliseconds since the Unix epoch, an RFC 3339 UTC time
/// (`2026-11-28T03:00:00Z`), or an age such as `90m`, `24h`, `7d` before now.
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    if let Some((number, unit_ms)) = [("m", 60_000u64), ("h", 3_600_000), ("d", 86_400_000)]
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|number| (number, *unit)))
        && let Ok(count) = number.parse::<u64>()
    {
        return Ok(now_ms.saturating_sub(count.saturating_mul(unit_ms)));
    }
    parse_rfc3339_utc(text).with_context(|| {
        format!("--since {text:?}: expected milliseconds since the epoch, a UTC time like 2026-11-28T03:00:00Z, or an age like 24h or 7d")
    })
}

fn parse_rfc3339_utc(text: &str) -> Option<u64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let mut time = time.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (time.next()??, time.next()??, time.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian calendar.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second;
    u64::try_from(seconds).ok().map(|seconds| seconds * 1000)
}

/// `covenant audit export`: entries at or after `since_ms` as JSON lines, to `to` or `out`.
pub fn export(config_file: &Path, since_ms: u64, to: Option<&PathBuf>, out: &mut dyn Write) -> Result<Outcome> {
    let (config, store) = open_node_store(config_file)?;
    let mut file;
    let sink: &mut dyn Write = match to {
        Some(path) => {
            file = std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .with_context(|| format!("creating {} (it must not exist)", path.display()))?,
            );
            &mut file
        }
        None => out,
    };
    let first = store.checkpoint()?.map_or(0, |checkpoint| checkpoint.sequence + 1);
    let mut next = first;
    let mut written = 0u64;
    loop {
        let page = store.range(next, EXPORT_PAGE_ENTRIES)?;
        let Some(last) = page.last().map(|entry| entry.sequence) else { break };
        for entry in page.iter().filter(|entry| entry.time_ms >= since_ms) {
            writeln!(sink, "{}", export_line(entry))?;
            written += 1;
        }
        next = last + 1;
    }
    sink.flush()?;
    let record = AuditRecord::new(
        now_ms(),
        config.node_id.clone(),
        EventType::AuditExported,
        Actor::System,
        AuditOutcome::Success,
    )
    .with_detail("since_ms", since_ms.to_string())
    .with_detail("entries", written.to_string());
    let _ = store.append(record);
    if to.is_some() {
        writeln!(out, "exported {written} audit entries")?;
    }
    Ok(Outcome::Success)
}

/// One entry as a JSON line: the SIEM-friendly names (article 33: event type, time, place,
/// identity, outcome) plus the chain fields that let a reader re-check the hashes.
fn export_line(entry: &AuditEntry) -> String {
    let actor = match &entry.actor {
        Actor::Operator(operator) => json!({"kind": "operator", "id": operator}),
        Actor::Person(person) => json!({"kind": "person", "id": person}),
        Actor::Node(node) => json!({"kind": "node", "id": node}),
        Actor::System => json!({"kind": "system"}),
        Actor::Remote(address) => json!({"kind": "remote", "id": address}),
    };
    json!({
        "sequence": entry.sequence,
        "time_ms": entry.time_ms,
        "node": entry.node,
        "event": entry.event_type.name(),
        "actor": actor,
        "outcome": format!("{:?}", entry.outcome).to_lowercase(),
        "details": entry.details,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(report: &VerifyReport, accept_unanchored: bool) -> (Outcome, String) {
        let mut out = Vec::new();
        let outcome = report.finish(false, accept_unanchored, &mut out).unwrap();
        (outcome, String::from_utf8(out).unwrap())
    }

    // covers: COV-33-AUDIT-TRAIL
    #[test]
    fn a_log_no_anchor_covers_is_unverified_and_fails_unless_accepted() {
        let unanchored =
            VerifyReport { node: "validator-0".into(), form: "local", entries: Some(3), ..VerifyReport::default() };
        let (outcome, text) = finished(&unanchored, false);
        assert_eq!(outcome, Outcome::Failure, "{text}");
        assert!(text.contains("UNVERIFIED: no anchor of validator-0"), "{text}");
        let (outcome, text) = finished(&unanchored, true);
        assert_eq!(outcome, Outcome::Success, "{text}");
        assert!(text.contains("UNVERIFIED") && text.contains("accepted"), "{text}");

        let anchored = VerifyReport { anchors: 2, anchors_sealed: 2, last_anchor: Some((7, 20)), ..unanchored };
        let (outcome, text) = finished(&anchored, false);
        assert_eq!(outcome, Outcome::Success, "{text}");
        assert!(text.contains("2 anchors on chain agree"), "{text}");

        // A mismatch fails whatever the flag says.
        let tampered = VerifyReport { problems: vec!["anchor of entry 7 in block 20: rewritten".into()], ..anchored };
        for accept in [false, true] {
            let (outcome, text) = finished(&tampered, accept);
            assert_eq!(outcome, Outcome::Failure, "{text}");
            assert!(text.contains("TAMPERED: anchor of entry 7"), "{text}");
        }
        let mut json = Vec::new();
        tampered.finish(true, true, &mut json).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!((value["ok"].as_bool(), value["verified"].as_bool()), (Some(false), Some(false)));
    }

    #[test]
    fn since_accepts_epoch_ms_utc_times_and_ages() {
        assert_eq!(parse_since("1700000000000", 0).unwrap(), 1_700_000_000_000);
        assert_eq!(parse_since("1970-01-02T00:00:00Z", 0).unwrap(), 86_400_000);
        assert_eq!(parse_since("2026-11-28T03:00:00Z", 0).unwrap(), 1_795_834_800_000);
        assert_eq!(parse_since("24h", 100_000_000).unwrap(), 100_000_000 - 86_400_000);
        assert_eq!(parse_since("7d", 1_000).unwrap(), 0);
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-11-28 03:00:00", "-5h"] {
            assert!(parse_since(bad, 0).is_err(), "{bad}");
        }
    }
}
