//! `covenant rules`: the rule catalogue as a table, one rule in detail, or JSON.

use std::io::{self, Write};

use serde::Serialize;

use covenant_rules::RuleId;
use covenant_rules::catalogue::{self, ARTICLES, Article, CATALOGUE, Enforcement, RuleEntry, Stage};

/// The JSON document `covenant rules --json` prints.
#[derive(Serialize)]
pub struct RulesDocument {
    /// Version of the node that produced it.
    pub node_version: &'static str,
    /// Every rule.
    pub rules: &'static [RuleEntry],
    /// Every article.
    pub articles: &'static [Article],
}

/// The JSON document.
pub fn document() -> RulesDocument {
    RulesDocument { node_version: env!("CARGO_PKG_VERSION"), rules: CATALOGUE, articles: &ARTICLES }
}

/// Prints the JSON document.
pub fn write_json(out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &document())?;
    writeln!(out)
}

fn stages(enforcement: &Enforcement) -> String {
    let stages: &[Stage] = match enforcement {
        Enforcement::Enforced { stages, .. } | Enforcement::Partial { stages, .. } => stages,
        Enforcement::CheckOnly { .. } | Enforcement::NotYet { .. } => &[],
    };
    let names: Vec<String> = stages
        .iter()
        .map(|stage| serde_json::to_value(stage).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
        .collect();
    if names.is_empty() { "-".into() } else { names.join(",") }
}

/// Prints the catalogue as a table.
pub fn write_table(out: &mut dyn Write) -> io::Result<()> {
    let id_width = CATALOGUE.iter().map(|entry| entry.id.id().len()).max().unwrap_or(0);
    let title_width = CATALOGUE.iter().map(|entry| entry.title.len()).max().unwrap_or(0);
    writeln!(out, "{:id_width$}  ART  CLASS  ENFORCEMENT  {:title_width$}  WHERE", "RULE", "TITLE")?;
    for entry in CATALOGUE {
        writeln!(
            out,
            "{:id_width$}  {:>3}  {:5}  {:11}  {:title_width$}  {}",
            entry.id.id(),
            entry.article,
            format!("{:?}", entry.class),
            entry.enforcement.status(),
            entry.title,
            stages(&entry.enforcement)
        )?;
    }
    let count = |status: &str| CATALOGUE.iter().filter(|entry| entry.enforcement.status() == status).count();
    writeln!(
        out,
        "{} rules: {} enforced, {} partial, {} check_only (check exists, not yet called by the node), {} not_yet",
        CATALOGUE.len(),
        count("enforced"),
        count("partial"),
        count("check_only"),
        count("not_yet")
    )?;
    writeln!(out, "details: covenant rules <RULE-ID>; machine-readable: covenant rules --json")
}

/// Prints one rule in detail.
pub fn write_rule(out: &mut dyn Write, rule: RuleId) -> io::Result<()> {
    write_entry(out, catalogue::entry(rule))
}

/// Prints one catalogue entry in detail: what is enforced where, and for a partial rule what is missing.
fn write_entry(out: &mut dyn Write, entry: &RuleEntry) -> io::Result<()> {
    let article = catalogue::article(entry.article);
    writeln!(out, "{}  {}", entry.id, entry.title)?;
    writeln!(
        out,
        "article {} ({}), class {:?}",
        entry.article,
        article.map_or(String::new(), |article| format!("{}; article class {}", article.title, article.class_label())),
        entry.class
    )?;
    writeln!(out, "requires: {}", entry.description)?;
    writeln!(out, "status:   {}", entry.enforcement.status())?;
    match entry.enforcement {
        Enforcement::Enforced { checked_in, .. } => {
            writeln!(out, "where:    {}", stages(&entry.enforcement))?;
            writeln!(out, "checked in: {}", checked_in.join(", "))?;
        }
        Enforcement::Partial { checked_in, enforced, missing, .. } => {
            writeln!(out, "where:    {}", stages(&entry.enforcement))?;
            writeln!(out, "checked in: {}", checked_in.join(", "))?;
            writeln!(out, "enforced: {enforced}")?;
            writeln!(out, "missing:  {missing}")?;
        }
        Enforcement::CheckOnly { checked_in, to_be_called_at, missing } => {
            writeln!(out, "check exists: {}", checked_in.join(", "))?;
            let at: Vec<String> = to_be_called_at.iter().map(|stage| format!("{stage:?}")).collect();
            writeln!(out, "to be called at: {}", at.join(", "))?;
            writeln!(out, "missing:  {missing}")?;
        }
        Enforcement::NotYet { planned } => writeln!(out, "planned:  {planned}")?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use covenant_rules::catalogue::RuleClass;

    use super::*;

    #[test]
    fn a_partial_rule_shows_what_is_enforced_and_what_is_missing() {
        let entry = RuleEntry {
            id: RuleId::Monitoring,
            article: 22,
            title: "Monitoring",
            class: RuleClass::N,
            description: "what it requires",
            enforcement: Enforcement::Partial {
                checked_in: &["covenant_node::metrics::Metrics::render"],
                stages: &[Stage::Observability],
                enforced: "the part checked today",
                missing: "the part still to build",
            },
        };
        let mut text = Vec::new();
        write_entry(&mut text, &entry).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("status:   partial"), "{text}");
        assert!(
            text.contains("enforced: the part checked today") && text.contains("missing:  the part still to build")
        );
        assert!(text.contains("checked in: covenant_node::metrics::Metrics::render"), "{text}");
    }
}
