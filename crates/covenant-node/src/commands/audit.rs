//! `covenant audit verify | export`: the tamper-evident audit trail of a stopped node (article 33,
//! article 50). `verify` walks the local hash chain and checks every anchor this node put on chain
//! against it, naming the first bad entry; `export` writes entries as JSON lines for a SIEM.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use covenant_execution::{AnchorRecord, StateKey};
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome as AuditOutcome};
use covenant_storage::{AuditEntry, AuditLog, ChainStore, RocksStore};
use covenant_types::NodeId;

use crate::commands::Outcome;
use crate::config::NodeConfig;
use crate::runtime::chain::now_ms;

/// Entries read per page while exporting.
const EXPORT_PAGE_ENTRIES: usize = 1_000;
/// Anchors read per page.
const ANCHOR_PAGE_ENTRIES: usize = 1_000;

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

/// Every anchor `node` put on chain, in sequence order: (sequence, record).
pub fn anchors_of(store: &RocksStore, node: &NodeId) -> Result<Vec<(u64, AnchorRecord)>> {
    let mut prefix = StateKey::AuditAnchor(node.clone(), 0).encode();
    prefix.truncate(prefix.len() - 8);
    let mut anchors = Vec::new();
    let mut after: Option<Vec<u8>> = None;
    loop {
        let page = store.scan_state(&prefix, after.as_deref(), ANCHOR_PAGE_ENTRIES)?;
        for (key, value) in &page.entries {
            let sequence_bytes: [u8; 8] = key[prefix.len()..].try_into().context("anchor key of the wrong length")?;
            let record: AnchorRecord = covenant_types::decode("audit anchor", value, value.len())?;
            anchors.push((u64::from_be_bytes(sequence_bytes), record));
        }
        match page.resume_after {
            Some(next) => after = Some(next),
            None => return Ok(anchors),
        }
    }
}

/// `covenant audit verify`: exit 0 if the local chain verifies and agrees with every anchor.
pub fn verify(config_file: &Path, json_output: bool, out: &mut dyn Write) -> Result<Outcome> {
    let (config, store) = open_node_store(config_file)?;
    let anchors = anchors_of(&store, &config.node_id)?;
    let mut problems = Vec::new();
    let summary = match store.verify() {
        Ok(summary) => Some(summary),
        Err(error) => {
            problems.push(format!("local chain: {error}"));
            None
        }
    };
    for (sequence, anchor) in &anchors {
        if let Err(error) = store.verify_against_anchor(*sequence, anchor.hash) {
            problems.push(format!(
                "anchor of entry {sequence} recorded on chain at height {} (hash {}): {error}",
                anchor.height, anchor.hash
            ));
            // The first disagreeing anchor says enough; later ones follow from it.
            break;
        }
    }
    let outcome = if problems.is_empty() { AuditOutcome::Success } else { AuditOutcome::Failure };
    let record = AuditRecord::new(now_ms(), config.node_id.clone(), EventType::AuditVerified, Actor::System, outcome)
        .with_detail("anchors", anchors.len().to_string())
        .with_detail("problems", problems.len().to_string());
    // Recording the check is itself evidence; a log too damaged to append to is reported above.
    let _ = store.append(record);
    if json_output {
        let value = json!({
            "node": config.node_id,
            "ok": problems.is_empty(),
            "entries": summary.as_ref().map(|summary| summary.entries),
            "head": summary.as_ref().and_then(|summary| summary.head.map(|head| json!({"sequence": head.sequence, "hash": head.hash}))),
            "anchors": anchors.len(),
            "last_anchor_height": anchors.last().map(|(_, anchor)| anchor.height),
            "problems": problems,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else if problems.is_empty() {
        let summary = summary.expect("verified");
        let head = summary.head.map(|head| format!("entry {} ({})", head.sequence, head.hash)).unwrap_or("none".into());
        writeln!(out, "audit log of {}: {} entries verified; head {head}", config.node_id, summary.entries)?;
        match anchors.last() {
            Some((sequence, anchor)) => writeln!(
                out,
                "{} anchors on chain agree with it (last: entry {sequence} at height {})",
                anchors.len(),
                anchor.height
            )?,
            None => writeln!(out, "no anchors on chain yet: only the local hash chain protects the log")?,
        }
    } else {
        for problem in &problems {
            writeln!(out, "TAMPERED: {problem}")?;
        }
    }
    Ok(if problems.is_empty() { Outcome::Success } else { Outcome::Failure })
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
