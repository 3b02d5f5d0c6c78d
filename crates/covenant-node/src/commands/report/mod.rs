//! `covenant report`: the conformance report. For every article of the covenant: its class, the rules
//! that implement it, whether each rule is enforced, the tests that exercise it and the live values of the
//! chain parameters that serve it.
//!
//! Nothing in it is written by hand. Articles, rules and enforcement come from the catalogue
//! ([`covenant_rules::catalogue`]); parameter values from a running node (`--api`), a genesis file
//! (`--genesis`) or the defaults; the tests from `// covers: RULE-ID, ...` comment lines that tests carry
//! directly above their `#[test]` attribute or `fn` line, collected by this crate's build script into
//! [`RULE_TESTS`], each checked against what the test's code names ([`evidence`]); their results from the
//! record of a test run (`--results DIR`, kept by `scripts/test.sh`: [`results`]). A test in
//! `tests/report.rs` checks that every marker names a real rule and that every rule the catalogue calls
//! enforced has a backed test; `docs/conformance.md` is this report with the defaults and no run, and a
//! test keeps it equal to what the current build prints. ADR 0023 explains the evidence.
//!
//! The Markdown form without a test record holds nothing that changes between runs of the same build on
//! the same inputs (no time, no paths of the machine, no commit), so it can be committed and compared.

pub mod evidence;
pub mod html;
pub mod results;
pub mod signed;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use covenant_rules::catalogue::{ARTICLES, Article, ArticleClass, CATALOGUE, Enforcement, RuleClass, RuleEntry};
use covenant_rules::params::rule_for_param;
use covenant_rules::{ChainParams, Genesis, PARAM_BOUNDS, RuleId};

use super::Outcome;
use super::query::Api;
use results::{TestRecord, TestResult};

include!(concat!(env!("OUT_DIR"), "/rule_tests.rs"));

/// What the report is generated from (the `generated_from` field).
pub const GENERATED_FROM: &str = "catalogue and test markers of this build";

/// The command that regenerates the committed report.
pub const REGENERATE_COMMAND: &str = "scripts/covenant report --out docs/conformance.md";

/// Where the live parameter values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamSource {
    /// `ChainParams::default()`: no chain consulted.
    Defaults,
    /// A genesis file.
    Genesis(PathBuf),
    /// A running node's API (`host:port` or `http://host:port`).
    Api(String),
}

/// The form the report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown (the default; `docs/conformance.md`).
    Markdown,
    /// One JSON object (an interface outside checks rely on).
    Json,
    /// One self-contained HTML page, printable to PDF.
    Html,
}

/// Options of `covenant report`.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// The output form.
    pub format: Format,
    /// Where parameter values come from.
    pub source: ParamSource,
    /// The record of a test run to take test results from.
    pub results: Option<PathBuf>,
    /// Fail (exit 1) when an enforced rule has no backed test that passed in the record.
    pub require_evidence: bool,
    /// Write the report to this file instead of standard output.
    pub out: Option<PathBuf>,
}

/// Parameter values with a description of where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveParams {
    /// `defaults`, `genesis FILE` or `api ADDR at height H`.
    pub source: String,
    /// Hash of the parameters (as carried in block headers).
    pub hash: String,
    /// Every parameter as (name, value): known names in field order, then any others by name.
    pub entries: Vec<(String, u64)>,
}

impl LiveParams {
    /// The defaults of a new chain.
    pub fn defaults() -> LiveParams {
        LiveParams::from_params("defaults".into(), &ChainParams::default())
    }

    fn from_params(source: String, params: &ChainParams) -> LiveParams {
        let entries = params.entries().into_iter().map(|(name, value)| (name.to_string(), value)).collect();
        LiveParams { source, hash: params.hash().to_string(), entries }
    }

    /// Reads the parameters as `source` says: the defaults, a genesis file (validated) or a node's
    /// `GET /v1/params` and `GET /v1/status`.
    pub fn load(source: &ParamSource) -> Result<LiveParams> {
        match source {
            ParamSource::Defaults => Ok(LiveParams::defaults()),
            ParamSource::Genesis(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading genesis {}", path.display()))?;
                let genesis = Genesis::from_toml_str(&text)
                    .map_err(|errors| anyhow::anyhow!("genesis {}: {errors}", path.display()))?;
                Ok(LiveParams::from_params(format!("genesis {}", path.display()), genesis.parameters()))
            }
            ParamSource::Api(text) => {
                let api = Api::new(text)?;
                let status = api.get_object("/v1/status")?;
                let height = status
                    .get("height")
                    .and_then(Value::as_u64)
                    .with_context(|| format!("GET /v1/status on {}: no numeric `height` in {status}", api.address()))?;
                let answer = api.get_object("/v1/params")?;
                LiveParams::from_api_answer(&format!("api http://{} at height {height}", api.address()), &answer)
                    .with_context(|| format!("GET /v1/params on {}", api.address()))
            }
        }
    }

    /// Parameters from a `GET /v1/params` answer `{"hash": ..., "params": {name: value}}`.
    pub fn from_api_answer(source: &str, answer: &Value) -> Result<LiveParams> {
        let hash = answer.get("hash").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let params = answer.get("params").and_then(Value::as_object).context("no `params` object in the answer")?;
        let mut entries = Vec::with_capacity(params.len());
        for (name, value) in params {
            let value = value.as_u64().with_context(|| format!("parameter {name} = {value} is not a whole number"))?;
            entries.push((name.clone(), value));
        }
        let known = ChainParams::default().entries().map(|(name, _)| name);
        entries.sort_by_key(|(name, _)| {
            (known.iter().position(|known| known == name).unwrap_or(known.len()), name.clone())
        });
        Ok(LiveParams { source: source.to_string(), hash, entries })
    }
}

/// The JSON document `covenant report --json` prints (an interface outside checks rely on).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of the node that produced it.
    pub node_version: &'static str,
    /// The commit the reporting binary was built from ([`BUILD_COMMIT`]).
    pub commit: &'static str,
    /// Always [`GENERATED_FROM`].
    pub generated_from: &'static str,
    /// The test run whose results the report shows, if one was given.
    pub test_run: Option<TestRunReport>,
    /// `defaults`, `genesis FILE` or `api ADDR at height H`.
    pub parameters_source: String,
    /// Hash of the parameters reported.
    pub parameters_hash: String,
    /// Counts.
    pub summary: Summary,
    /// Articles 1 to 53, in order.
    pub articles: Vec<ArticleReport>,
    /// Every parameter with its value and the rule it serves.
    pub parameters: Vec<ParamReport>,
}

/// The recorded test run a report was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRunReport {
    /// The commit tested, from the record (`unknown` if the record does not say).
    pub commit: String,
    /// When the run started, from the record.
    pub started_at: Option<String>,
    /// Whether the run tested the commit this binary was built from.
    pub same_commit: bool,
    /// Tests recorded that passed.
    pub passed: usize,
    /// Tests recorded that failed.
    pub failed: usize,
    /// Tests recorded as ignored.
    pub ignored: usize,
}

/// Counts of rules by enforcement status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Rules counted.
    pub total: usize,
    /// Fully enforced.
    pub enforced: usize,
    /// Partly enforced.
    pub partial: usize,
    /// A check exists that no live path calls.
    pub check_only: usize,
    /// Nothing exists yet.
    pub not_yet: usize,
}

impl StatusCounts {
    fn of<'a>(entries: impl Iterator<Item = &'a RuleEntry>) -> StatusCounts {
        let mut counts = StatusCounts::default();
        for entry in entries {
            counts.total += 1;
            match entry.enforcement {
                Enforcement::Enforced { .. } => counts.enforced += 1,
                Enforcement::Partial { .. } => counts.partial += 1,
                Enforcement::CheckOnly { .. } => counts.check_only += 1,
                Enforcement::NotYet { .. } => counts.not_yet += 1,
            }
        }
        counts
    }
}

/// The report's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Articles (53).
    pub articles: usize,
    /// Articles with at least one rule (classes P or N).
    pub articles_with_rules: usize,
    /// Protocol rules (class P) by status.
    pub protocol_rules: StatusCounts,
    /// Node controls (class N) by status.
    pub node_rules: StatusCounts,
    /// Rules at least one test exercises.
    pub rules_with_tests: usize,
    /// Rules no test exercises yet.
    pub rules_without_tests: usize,
    /// Distinct tests carrying a marker for a catalogued rule.
    pub tests: usize,
    /// Markers naming a catalogued rule (one test may carry several).
    pub markers: usize,
    /// Markers on tests whose code names nothing of the rule (not counted as evidence).
    pub markers_not_backed: usize,
    /// Enforced rules without a backed test that passed in the recorded run (all of them without a run).
    pub enforced_without_evidence: Vec<&'static str>,
}

/// One article.
#[derive(Debug, Clone, Serialize)]
pub struct ArticleReport {
    /// Number, 1 to 53.
    pub article: u8,
    /// Primary class: `P`, `N`, `E`, `O`, or `-` for none (article 1).
    pub class: &'static str,
    /// Every class, in the order of `ARTICLES.md`.
    pub classes: Vec<&'static str>,
    /// Short title.
    pub title: &'static str,
    /// The rules that implement it.
    pub rules: Vec<RuleReport>,
}

/// One rule under an article.
#[derive(Debug, Clone, Serialize)]
pub struct RuleReport {
    /// Rule id, e.g. `COV-49-BLOCK-LIMITS`.
    pub id: &'static str,
    /// Short title.
    pub title: &'static str,
    /// `P` or `N`.
    pub class: &'static str,
    /// The article whose number the id carries.
    pub rule_article: u8,
    /// True only if the whole rule is enforced.
    pub enforced: bool,
    /// `enforced`, `partial`, `check_only` or `not_yet`.
    pub status: &'static str,
    /// What the rule requires.
    pub requires: &'static str,
    /// The functions that check it.
    pub checked_in: &'static [&'static str],
    /// For a partial rule: what is enforced today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enforced_part: Option<&'static str>,
    /// For a partial or check-only rule: what is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<&'static str>,
    /// For a rule not started: where it is planned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<&'static str>,
    /// The tests whose markers name it, with their result in the recorded run.
    pub tests: Vec<TestReport>,
    /// The live values of the parameters that serve it.
    pub parameters: Vec<ParamValue>,
}

/// A test under a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestReport {
    /// `<file path from the workspace root>::<fn name>`.
    pub name: &'static str,
    /// `passed`, `failed` or `not run` (no run given, or the run did not run it).
    pub result: TestResult,
    /// Whether the test's code names the rule's id, checks, errors or parameters ([`evidence`]).
    pub exercises_rule: bool,
    /// The name that backs the marker, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named: Option<String>,
    /// `file:line` of the marker.
    pub marker: String,
}

impl TestReport {
    /// A backed test that passed: evidence that the rule holds.
    pub fn is_evidence(&self) -> bool {
        self.exercises_rule && self.result == TestResult::Passed
    }
}

/// A parameter value under a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamValue {
    /// Parameter name.
    pub name: String,
    /// Its value.
    pub value: u64,
    /// Unit, if the parameter is known to this build.
    pub unit: Option<&'static str>,
    /// Covenant lower bound.
    pub min: Option<u64>,
    /// Covenant upper bound.
    pub max: Option<u64>,
}

/// A parameter in the report's parameter list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamReport {
    /// Name, value, unit and bounds.
    #[serde(flatten)]
    pub value: ParamValue,
    /// The rule its bound serves, if any.
    pub rule: Option<&'static str>,
}

fn class_letter(class: ArticleClass) -> &'static str {
    match class {
        ArticleClass::P => "P",
        ArticleClass::N => "N",
        ArticleClass::E => "E",
        ArticleClass::O => "O",
    }
}

fn rule_class_letter(class: RuleClass) -> &'static str {
    match class {
        RuleClass::P => "P",
        RuleClass::N => "N",
    }
}

/// The tests whose markers name `entry`'s rule, each once: whether its code backs the marker and its
/// result in `record`.
pub fn test_reports(entry: &RuleEntry, record: Option<&TestRecord>) -> Vec<TestReport> {
    let mut seen = BTreeSet::new();
    RULE_TESTS
        .iter()
        .zip(MARKER_LOCATIONS)
        .filter(|((id, test), _)| *id == entry.id.id() && seen.insert(*test))
        .map(|((_, test), (file, line))| {
            let named = evidence::backing_term(entry, test).map(|term| match term {
                evidence::Term::One(name) => name,
                evidence::Term::Both(owner, method) => format!("{owner}::{method}"),
            });
            TestReport {
                name: test,
                result: record.map_or(TestResult::NotRun, |record| result_of(record, test)),
                exercises_rule: named.is_some(),
                named,
                marker: format!("{file}:{line}"),
            }
        })
        .collect()
}

/// `test`'s result in `record`, found through the target and module the build script recorded for it.
fn result_of(record: &TestRecord, test: &str) -> TestResult {
    let fn_name = test.rsplit("::").next().unwrap_or_default();
    match MARKED_TESTS.iter().find(|(name, ..)| *name == test) {
        Some((_, target, module, _)) => record.result_of(target, module, fn_name),
        None => TestResult::NotRun,
    }
}

fn param_value(name: &str, value: u64) -> ParamValue {
    let bound = PARAM_BOUNDS.iter().find(|bound| bound.name == name);
    ParamValue {
        name: name.to_string(),
        value,
        unit: bound.map(|bound| bound.unit),
        min: bound.map(|bound| bound.min),
        max: bound.map(|bound| bound.max),
    }
}

fn rule_report(entry: &RuleEntry, params: &LiveParams, record: Option<&TestRecord>) -> RuleReport {
    let (enforced_part, missing, planned) = match entry.enforcement {
        Enforcement::Enforced { .. } => (None, None, None),
        Enforcement::Partial { enforced, missing, .. } => (Some(enforced), Some(missing), None),
        Enforcement::CheckOnly { missing, .. } => (None, Some(missing), None),
        Enforcement::NotYet { planned } => (None, None, Some(planned)),
    };
    RuleReport {
        id: entry.id.id(),
        title: entry.title,
        class: rule_class_letter(entry.class),
        rule_article: entry.article,
        enforced: entry.enforcement.is_enforced(),
        status: entry.enforcement.status(),
        requires: entry.description,
        checked_in: entry.enforcement.checked_in(),
        enforced_part,
        missing,
        planned,
        tests: test_reports(entry, record),
        parameters: params
            .entries
            .iter()
            .filter(|(name, _)| rule_for_param(name) == Some(entry.id))
            .map(|(name, value)| param_value(name, *value))
            .collect(),
    }
}

fn article_report(article: &Article, params: &LiveParams, record: Option<&TestRecord>) -> ArticleReport {
    ArticleReport {
        article: article.number,
        class: article.classes.first().map_or("-", |class| class_letter(*class)),
        classes: article.classes.iter().map(|class| class_letter(*class)).collect(),
        title: article.title,
        rules: article
            .rules
            .iter()
            .filter_map(|rule| CATALOGUE.iter().find(|entry| entry.id == *rule))
            .map(|entry| rule_report(entry, params, record))
            .collect(),
    }
}

/// Builds the report for the given parameter values and, if given, the results of a recorded test run.
pub fn build(params: &LiveParams, record: Option<&TestRecord>) -> Report {
    let catalogued: Vec<&'static str> = CATALOGUE.iter().map(|entry| entry.id.id()).collect();
    let known_markers: Vec<&(&str, &str)> = RULE_TESTS.iter().filter(|(id, _)| catalogued.contains(id)).collect();
    let tests: BTreeSet<&str> = known_markers.iter().map(|(_, test)| *test).collect();
    let by_rule: Vec<(&RuleEntry, Vec<TestReport>)> =
        CATALOGUE.iter().map(|entry| (entry, test_reports(entry, record))).collect();
    let rules_with_tests = by_rule.iter().filter(|(_, tests)| tests.iter().any(|test| test.exercises_rule)).count();
    let summary = Summary {
        articles: ARTICLES.len(),
        articles_with_rules: ARTICLES.iter().filter(|article| !article.rules.is_empty()).count(),
        protocol_rules: StatusCounts::of(CATALOGUE.iter().filter(|entry| entry.class == RuleClass::P)),
        node_rules: StatusCounts::of(CATALOGUE.iter().filter(|entry| entry.class == RuleClass::N)),
        rules_with_tests,
        rules_without_tests: CATALOGUE.len() - rules_with_tests,
        tests: tests.len(),
        markers: known_markers.len(),
        markers_not_backed: by_rule.iter().flat_map(|(_, tests)| tests).filter(|test| !test.exercises_rule).count(),
        enforced_without_evidence: by_rule
            .iter()
            .filter(|(entry, tests)| entry.enforcement.is_enforced() && !tests.iter().any(TestReport::is_evidence))
            .map(|(entry, _)| entry.id.id())
            .collect(),
    };
    Report {
        node_version: env!("CARGO_PKG_VERSION"),
        commit: BUILD_COMMIT,
        generated_from: GENERATED_FROM,
        test_run: record.map(test_run_report),
        parameters_source: params.source.clone(),
        parameters_hash: params.hash.clone(),
        summary,
        articles: ARTICLES.iter().map(|article| article_report(article, params, record)).collect(),
        parameters: params
            .entries
            .iter()
            .map(|(name, value)| ParamReport {
                value: param_value(name, *value),
                rule: rule_for_param(name).map(RuleId::id),
            })
            .collect(),
    }
}

fn test_run_report(record: &TestRecord) -> TestRunReport {
    let (passed, failed, ignored) = record.counts();
    let commit = record.run.as_ref().map_or_else(|| "unknown".to_string(), |run| run.commit.clone());
    TestRunReport {
        same_commit: commit == BUILD_COMMIT && !commit.ends_with("-modified"),
        commit,
        started_at: record.run.as_ref().map(|run| run.started_at.clone()),
        passed,
        failed,
        ignored,
    }
}

/// Prints the report as one JSON object.
pub fn write_json(report: &Report, out: &mut dyn Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}

/// A Markdown table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn status_words(status: &str) -> &'static str {
    match status {
        "enforced" => "**enforced**",
        "partial" => "partial",
        "check_only" => "check only",
        _ => "not yet",
    }
}

fn bound_text(value: &ParamValue) -> String {
    match (value.min, value.max) {
        (Some(min), Some(max)) => format!("{min} to {max}"),
        _ => "unknown to this build".into(),
    }
}

fn params_inline(values: &[ParamValue]) -> String {
    if values.is_empty() {
        return String::new();
    }
    values.iter().map(|value| format!("`{}` = {}", value.name, value.value)).collect::<Vec<_>>().join(", ")
}

fn counts_row(out: &mut dyn Write, label: &str, counts: &StatusCounts) -> Result<()> {
    writeln!(
        out,
        "| {label} | {} | {} | {} | {} | {} |",
        counts.total, counts.enforced, counts.partial, counts.check_only, counts.not_yet
    )?;
    Ok(())
}

fn test_run_line(report: &Report) -> String {
    match &report.test_run {
        None => "none given, so every test shows `not run`. `scripts/test.sh` records a run and writes this \
                 report with its results (`covenant report --results DIR`)."
            .to_string(),
        Some(run) => {
            let commit = if run.same_commit {
                format!("commit `{}`, the commit this report was built from", run.commit)
            } else {
                format!("commit `{}`, **not** the commit this report was built from (`{}`)", run.commit, report.commit)
            };
            format!(
                "the run started {} at {commit}: {} tests passed, {} failed, {} ignored.",
                run.started_at.as_deref().unwrap_or("at an unrecorded time"),
                run.passed,
                run.failed,
                run.ignored
            )
        }
    }
}

/// The article table's test cell: tests that exercise the rule, and with a run how many of them passed.
fn tests_cell(tests: &[TestReport], with_run: bool) -> String {
    let exercising = tests.iter().filter(|test| test.exercises_rule).count();
    if with_run {
        format!("{} of {exercising} passed", tests.iter().filter(|test| test.is_evidence()).count())
    } else {
        exercising.to_string()
    }
}

fn test_line(test: &TestReport, with_run: bool) -> String {
    let mut line = format!("`{}`", test.name);
    if with_run {
        line.push_str(&format!(": {}", test.result.word()));
    }
    if !test.exercises_rule {
        line.push_str(&format!(
            " (marker at {} not backed: the test's code names none of the rule's id, checks, refusals or parameters)",
            test.marker
        ));
    }
    line
}

fn parameters_line(report: &Report) -> String {
    if report.parameters_source == "defaults" {
        "the defaults of a new chain (`ChainParams::default()`); no chain was consulted. \
         `covenant report --api ADDR` reports a running chain's values, `--genesis FILE` a genesis file's."
            .to_string()
    } else {
        format!("{} (parameter hash `{}`).", report.parameters_source, report.parameters_hash)
    }
}

/// Prints the report as Markdown: title, summary, a table of every article with its rules, each rule in
/// detail with its tests, and the parameters.
pub fn write_markdown(report: &Report, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "# Covenant conformance report")?;
    writeln!(out)?;
    writeln!(
        out,
        "Generated by `covenant report` (covenant {}) from the {}; not written by hand. \
         Regenerate with `{REGENERATE_COMMAND}`.",
        report.node_version, report.generated_from
    )?;
    writeln!(out)?;
    writeln!(out, "Parameter values: {}", parameters_line(report))?;
    writeln!(out)?;
    writeln!(out, "Test results: {}", test_run_line(report))?;
    writeln!(out)?;
    writeln!(out, "## Summary")?;
    writeln!(out)?;
    writeln!(out, "| rules | total | enforced | partial | check only | not yet |")?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    let summary = &report.summary;
    counts_row(out, "protocol rules (P)", &summary.protocol_rules)?;
    counts_row(out, "node controls (N)", &summary.node_rules)?;
    writeln!(out)?;
    writeln!(
        out,
        "{} articles, {} of them implemented by rules; the others are evidence (E) or organisational (O). \
         {} tests carry {} markers; tests whose code exercises the rule cover {} of the {} rules; {} rules have \
         none; {} markers sit on tests whose code names nothing of their rule.",
        summary.articles,
        summary.articles_with_rules,
        summary.tests,
        summary.markers,
        summary.rules_with_tests,
        summary.rules_with_tests + summary.rules_without_tests,
        summary.rules_without_tests,
        summary.markers_not_backed,
    )?;
    if report.test_run.is_some() {
        writeln!(out)?;
        if summary.enforced_without_evidence.is_empty() {
            writeln!(out, "Every enforced rule has a test that exercises it and passed in this run.")?;
        } else {
            writeln!(
                out,
                "**Enforced rules without a test that exercises them and passed in this run:** {}.",
                summary.enforced_without_evidence.join(", ")
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "A rule is **enforced** only when every part of it is checked on every path where it matters; \
         *partial* says what is checked today and what is missing; *check only* means a tested check exists \
         that no live path calls yet; *not yet* means nothing exists yet. A test is listed under a rule when \
         it carries a `// covers: RULE-ID` comment naming the rule; it *exercises* the rule when its code (or \
         a function of its file that it calls) names the rule's id, a function that checks it, a refusal that \
         names it or a parameter that serves it, and only then counts as evidence."
    )?;
    writeln!(out)?;
    writeln!(out, "## Articles")?;
    writeln!(out)?;
    writeln!(out, "| art. | class | article | rule | status | tests | parameters |")?;
    writeln!(out, "|---:|---|---|---|---|---:|---|")?;
    for article in &report.articles {
        let class = if article.classes.is_empty() { "—".to_string() } else { article.classes.join("/") };
        if article.rules.is_empty() {
            let reason = match article.class {
                "E" => "none: evidence (E)",
                "O" => "none: organisational (O)",
                _ => "none: applies to the whole catalogue",
            };
            writeln!(out, "| {} | {class} | {} | {reason} | | | |", article.article, cell(article.title))?;
            continue;
        }
        for (index, rule) in article.rules.iter().enumerate() {
            let (number, class, title) = if index == 0 {
                (article.article.to_string(), class.clone(), cell(article.title))
            } else {
                (String::new(), String::new(), String::new())
            };
            writeln!(
                out,
                "| {number} | {class} | {title} | [{id}](#{anchor}) | {} | {} | {} |",
                status_words(rule.status),
                tests_cell(&rule.tests, report.test_run.is_some()),
                params_inline(&rule.parameters),
                id = rule.id,
                anchor = rule.id.to_ascii_lowercase(),
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "## Rules")?;
    let mut seen = BTreeSet::new();
    for rule in report.articles.iter().flat_map(|article| &article.rules) {
        if !seen.insert(rule.id) {
            continue;
        }
        let articles: Vec<String> = report
            .articles
            .iter()
            .filter(|article| article.rules.iter().any(|other| other.id == rule.id))
            .map(|article| article.article.to_string())
            .collect();
        writeln!(out)?;
        writeln!(out, "### {}", rule.id)?;
        writeln!(out)?;
        writeln!(
            out,
            "{}. Class {}, article {} (serves {} {}). Status: {}.",
            rule.title,
            rule.class,
            rule.rule_article,
            if articles.len() == 1 { "article" } else { "articles" },
            articles.join(", "),
            status_words(rule.status)
        )?;
        writeln!(out)?;
        writeln!(out, "- Requires: {}", rule.requires)?;
        if !rule.checked_in.is_empty() {
            let functions: Vec<String> = rule.checked_in.iter().map(|function| format!("`{function}`")).collect();
            writeln!(out, "- Checked in: {}", functions.join(", "))?;
        }
        if let Some(enforced) = rule.enforced_part {
            writeln!(out, "- Enforced today: {enforced}")?;
        }
        if let Some(missing) = rule.missing {
            writeln!(out, "- Missing: {missing}")?;
        }
        if let Some(planned) = rule.planned {
            writeln!(out, "- Planned: {planned}")?;
        }
        if !rule.parameters.is_empty() {
            let values: Vec<String> = rule
                .parameters
                .iter()
                .map(|value| {
                    format!(
                        "`{}` = {} {} (bound {})",
                        value.name,
                        value.value,
                        value.unit.unwrap_or(""),
                        bound_text(value)
                    )
                })
                .collect();
            writeln!(out, "- Parameters: {}", values.join("; "))?;
        }
        if rule.tests.is_empty() {
            writeln!(out, "- Tests: none yet")?;
        } else {
            writeln!(out, "- Tests:")?;
            for test in &rule.tests {
                writeln!(out, "  - {}", test_line(test, report.test_run.is_some()))?;
            }
        }
    }
    writeln!(out)?;
    writeln!(out, "## Parameters")?;
    writeln!(out)?;
    writeln!(out, "| parameter | value | unit | covenant bound | rule |")?;
    writeln!(out, "|---|---:|---|---|---|")?;
    for parameter in &report.parameters {
        writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            parameter.value.name,
            parameter.value.value,
            parameter.value.unit.unwrap_or(""),
            bound_text(&parameter.value),
            parameter.rule.unwrap_or("none (liveness only)")
        )?;
    }
    Ok(())
}

/// Runs `covenant report`: loads the parameters and the test record, builds the report and writes it to
/// `options.out` (then prints one line naming the file) or to `out`. With `require_evidence`, fails when an
/// enforced rule has no test that exercises it and passed in the record.
pub fn run(options: &ReportOptions, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let params = LiveParams::load(&options.source)?;
    let record = options.results.as_deref().map(TestRecord::load).transpose()?;
    let report = build(&params, record.as_ref());
    let mut text = Vec::new();
    match options.format {
        Format::Json => write_json(&report, &mut text)?,
        Format::Markdown => write_markdown(&report, &mut text)?,
        Format::Html => html::write_html(&report, &mut text)?,
    }
    match &options.out {
        Some(path) => {
            write_file(path, &text)?;
            writeln!(out, "wrote {}", path.display())?;
        }
        None => out.write_all(&text)?,
    }
    let missing = &report.summary.enforced_without_evidence;
    if options.require_evidence && !missing.is_empty() {
        writeln!(
            err,
            "covenant report: {} enforced rules have no test that exercises them and passed in the recorded run: {}",
            missing.len(),
            missing.join(", ")
        )?;
        return Ok(Outcome::Failure);
    }
    Ok(Outcome::Success)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing the report to {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_every_article_with_its_primary_class() {
        let report = build(&LiveParams::defaults(), None);
        assert_eq!(report.articles.len(), 53);
        assert_eq!(report.articles[0].class, "-");
        assert_eq!(report.articles[17].class, "N", "article 18 is N/P: the first class is the primary one");
        assert_eq!(report.articles[17].classes, vec!["N", "P"]);
        let article_49 = &report.articles[48];
        let rule = &article_49.rules[0];
        assert_eq!(rule.id, "COV-49-BLOCK-LIMITS");
        let names: Vec<&str> = rule.parameters.iter().map(|value| value.name.as_str()).collect();
        assert_eq!(names, ["block_bytes_max", "block_txs_max", "block_interval_ms_min", "block_interval_ms_max"]);
        assert_eq!(report.summary.protocol_rules.total + report.summary.node_rules.total, CATALOGUE.len());
    }

    #[test]
    fn report_orders_api_parameters_like_the_chain_params() {
        let answer = serde_json::json!({
            "hash": "ab",
            "params": {"zz_new": 1, "block_txs_max": 7, "block_bytes_max": 70000},
        });
        let params = LiveParams::from_api_answer("api x at height 3", &answer).unwrap();
        let names: Vec<&str> = params.entries.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["block_bytes_max", "block_txs_max", "zz_new"]);
        let report = build(&params, None);
        let unknown = report.parameters.iter().find(|parameter| parameter.value.name == "zz_new").unwrap();
        assert_eq!((unknown.rule, unknown.value.unit), (None, None));
        let bad = serde_json::json!({"hash": "ab", "params": {"block_txs_max": "many"}});
        assert!(LiveParams::from_api_answer("x", &bad).unwrap_err().to_string().contains("block_txs_max"));
    }

    #[test]
    fn report_markdown_is_deterministic_and_escapes_cells() {
        let render = || {
            let mut text = Vec::new();
            write_markdown(&build(&LiveParams::defaults(), None), &mut text).unwrap();
            String::from_utf8(text).unwrap()
        };
        let text = render();
        assert_eq!(text, render());
        assert!(text.starts_with("# Covenant conformance report\n"));
        assert!(text.contains("### COV-49-BLOCK-LIMITS"));
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
