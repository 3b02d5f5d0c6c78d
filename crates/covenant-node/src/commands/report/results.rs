//! The record of a test run that `scripts/test.sh` keeps: libtest's JSON events, one file per test binary
//! (`<target>-<hash>.jsonl`, written by the `test-recorder` runner), and `run.json` naming the commit the run
//! was made at. The report reads it to say, for each marked test, whether it passed in that run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The file of a record that describes the run.
pub const RUN_FILE: &str = "run.json";

/// Largest event file read (a bound on memory; a run of the whole workspace writes well under 1 MiB).
const EVENT_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// What happened to one test in the recorded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum TestResult {
    /// It ran and passed.
    #[serde(rename = "passed")]
    Passed,
    /// It ran and failed (or timed out).
    #[serde(rename = "failed")]
    Failed,
    /// No run recorded it, or it was ignored.
    #[serde(rename = "not run")]
    NotRun,
}

impl TestResult {
    /// `passed`, `failed` or `not run`.
    pub fn word(self) -> &'static str {
        match self {
            TestResult::Passed => "passed",
            TestResult::Failed => "failed",
            TestResult::NotRun => "not run",
        }
    }

    /// Two outcomes of one test (in two binaries, or two runs): a failure wins, then a pass.
    fn merge(self, other: TestResult) -> TestResult {
        match (self, other) {
            (TestResult::Failed, _) | (_, TestResult::Failed) => TestResult::Failed,
            (TestResult::Passed, _) | (_, TestResult::Passed) => TestResult::Passed,
            _ => TestResult::NotRun,
        }
    }
}

/// `run.json`: written by `scripts/test.sh` before the tests run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The commit tested (`-modified` when tracked files differed from it).
    pub commit: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
}

/// A loaded record: the run and every test's outcome by (target, libtest name).
#[derive(Debug, Clone, Default)]
pub struct TestRecord {
    /// Where it was read from.
    pub path: PathBuf,
    /// `run.json`, if present.
    pub run: Option<RunInfo>,
    /// (target with `_` for `-`, libtest test name) → outcome.
    pub outcomes: BTreeMap<(String, String), TestResult>,
}

/// One line of libtest's JSON output (`-Z unstable-options --format json`).
#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    event: String,
    #[serde(default)]
    name: String,
}

impl TestRecord {
    /// Reads the record in `dir`: `run.json` and every `*.jsonl`. Lines that are not libtest test events
    /// (a test printing to standard output without capture) are skipped.
    pub fn load(dir: &Path) -> Result<TestRecord> {
        if !dir.is_dir() {
            bail!(
                "test record {}: not a directory (scripts/test.sh writes one under the target directory)",
                dir.display()
            );
        }
        let run = match std::fs::read_to_string(dir.join(RUN_FILE)) {
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("test record {}: bad {RUN_FILE}", dir.display()))?,
            ),
            Err(_) => None,
        };
        let mut record = TestRecord { path: dir.to_path_buf(), run, outcomes: BTreeMap::new() };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading test record {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| path.extension().is_some_and(|extension| extension == "jsonl"))
            .collect();
        files.sort();
        for file in files {
            record.read_events(&file)?;
        }
        Ok(record)
    }

    fn read_events(&mut self, file: &Path) -> Result<()> {
        let size = std::fs::metadata(file)?.len();
        if size > EVENT_FILE_BYTES_MAX {
            bail!("test record {}: {size} bytes, more than the {EVENT_FILE_BYTES_MAX} read", file.display());
        }
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let target = target_of_binary(file);
        for line in text.lines() {
            let Ok(event) = serde_json::from_str::<Event>(line) else { continue };
            if event.kind != "test" {
                continue;
            }
            let result = match event.event.as_str() {
                "ok" => TestResult::Passed,
                "failed" | "timeout" => TestResult::Failed,
                "ignored" => TestResult::NotRun,
                _ => continue,
            };
            self.record(&target, &event.name, result);
        }
        Ok(())
    }

    /// Notes `result` for a test; a failure anywhere stays a failure.
    fn record(&mut self, target: &str, name: &str, result: TestResult) {
        let slot = self.outcomes.entry((target.to_string(), name.to_string())).or_insert(result);
        *slot = slot.merge(result);
    }

    /// The outcome of the marked test `fn_name`, defined in a file whose module path in `target` is
    /// `module`: every recorded test of that target named `module::…::fn_name` (or `fn_name` at the root).
    /// Failed if any failed, passed if all that ran passed, not run if none ran.
    pub fn result_of(&self, target: &str, module: &str, fn_name: &str) -> TestResult {
        let mut result = TestResult::NotRun;
        let range = self.outcomes.range((target.to_string(), String::new())..);
        for ((recorded_target, name), outcome) in range {
            if recorded_target != target {
                break;
            }
            if names_test(name, module, fn_name) {
                result = result.merge(*outcome);
            }
        }
        result
    }

    /// Tests recorded, by outcome: (passed, failed, not run).
    pub fn counts(&self) -> (usize, usize, usize) {
        let count = |wanted| self.outcomes.values().filter(|outcome| **outcome == wanted).count();
        (count(TestResult::Passed), count(TestResult::Failed), count(TestResult::NotRun))
    }
}

/// Whether libtest's `name` is the function `fn_name` of the file whose module path is `module`.
fn names_test(name: &str, module: &str, fn_name: &str) -> bool {
    let Some(path) = name.strip_suffix(fn_name) else { return false };
    if path.is_empty() {
        return module.is_empty();
    }
    let Some(path) = path.strip_suffix("::") else { return false };
    // Tests sit in the file's own module or in modules declared inside it (`mod tests`).
    module.is_empty() || path == module || path.starts_with(&format!("{module}::"))
}

/// `crash_points` from `.../crash_points-0f3a9c.jsonl`: the binary's target name.
fn target_of_binary(file: &Path) -> String {
    let stem = file.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((target, hash)) if !hash.is_empty() && hash.chars().all(|character| character.is_ascii_hexdigit()) => {
            target.replace('-', "_")
        }
        _ => stem.replace('-', "_"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_is_found_in_its_file_module_or_a_module_inside_it() {
        assert!(names_test("commands::report::tests::builds", "commands::report", "builds"));
        assert!(names_test("commands::report::builds", "commands::report", "builds"));
        assert!(names_test("builds", "", "builds"));
        assert!(names_test("tests::builds", "", "builds"));
        assert!(!names_test("commands::reports::tests::builds", "commands::report", "builds"));
        assert!(!names_test("commands::report::tests::rebuilds", "commands::report", "builds"));
        assert!(!names_test("builds", "commands::report", "builds"));
    }

    #[test]
    fn record_reads_libtest_events_and_a_failure_wins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RUN_FILE), r#"{"commit": "abc", "started_at": "2026-12-08T03:00:00Z"}"#)
            .unwrap();
        let events = [
            r#"{ "type": "suite", "event": "started", "test_count": 3 }"#,
            r#"{ "type": "test", "event": "started", "name": "tests::a" }"#,
            r#"{ "type": "test", "name": "tests::a", "event": "ok", "exec_time": 0.01 }"#,
            r#"{ "type": "test", "name": "tests::b", "event": "failed", "stdout": "boom" }"#,
            r#"{ "type": "test", "name": "tests::c", "event": "ignored" }"#,
            "some uncaptured output",
        ];
        std::fs::write(dir.path().join("covenant_node-0123abcd.jsonl"), events.join("\n")).unwrap();
        std::fs::write(
            dir.path().join("covenant_node-4567ef.jsonl"),
            r#"{"type":"test","name":"tests::a","event":"failed"}"#,
        )
        .unwrap();
        let record = TestRecord::load(dir.path()).unwrap();
        assert_eq!(record.run.as_ref().unwrap().commit, "abc");
        assert_eq!(record.result_of("covenant_node", "", "b"), TestResult::Failed);
        assert_eq!(record.result_of("covenant_node", "", "c"), TestResult::NotRun);
        assert_eq!(record.result_of("covenant_node", "", "a"), TestResult::Failed, "failed in one of two binaries");
        assert_eq!(record.result_of("covenant_node", "", "zz"), TestResult::NotRun);
        assert_eq!(record.result_of("other", "", "b"), TestResult::NotRun);
        assert!(TestRecord::load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn binary_file_names_give_their_target() {
        assert_eq!(target_of_binary(Path::new("x/crash_points-0f3a9c.jsonl")), "crash_points");
        assert_eq!(target_of_binary(Path::new("x/covenant-sim-0f3a9c.jsonl")), "covenant_sim");
    }
}
