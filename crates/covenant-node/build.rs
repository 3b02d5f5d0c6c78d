//! Collects the workspace's test markers for the conformance report (`covenant report`).
//!
//! A test declares the covenant rules it exercises with comment lines directly above its `#[test]`
//! (or `#[tokio::test]`) attribute, or above its `fn` line:
//!
//! ```text
//! // covers: COV-16-TWO-PERSON-RULE, COV-12-ROLE-SEPARATION
//! #[test]
//! fn two_person_rule_needs_two_approving_persons() { ... }
//! ```
//!
//! This script scans every `*.rs` file under `crates/*/src`, `crates/*/tests` and `tests/tests` line by
//! line (no parsing, no dependencies) and writes `$OUT_DIR/rule_tests.rs` with two tables in the same
//! order: `RULE_TESTS` (rule id as written, test name) and `MARKER_LOCATIONS` (file, line). A test name
//! is `<file path from the workspace root>::<fn name>`. Ids are copied as written: an unknown id is not
//! an error here but fails a test (`crates/covenant-node/tests/report.rs`) that names the file and line.
//! A marker followed by anything other than attributes, comments and a `fn` line gets an empty function
//! name, which that test reports too.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "build/evidence.rs"]
mod evidence;
#[path = "build/targets.rs"]
mod targets;

/// The comment prefix that starts a marker.
const MARKER: &str = "// covers:";

/// Deepest directory nesting followed under a scanned directory (a bound on the walk).
const DEPTH_MAX: usize = 16;

/// One `// covers:` entry: a rule id as written, where it is written, and the test it marks.
struct Marker {
    rule: String,
    file: String,
    line: usize,
    test: String,
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let root = manifest_dir.join("../..");
    println!("cargo:rerun-if-changed=build.rs");
    // A new crate is added to the workspace's member list, so its directories are picked up then.
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());

    let mut directories = Vec::new();
    for crate_dir in sorted_entries(&root.join("crates")) {
        if crate_dir.is_dir() {
            directories.push(crate_dir.join("src"));
            directories.push(crate_dir.join("tests"));
        }
    }
    directories.push(root.join("tests").join("tests"));

    let mut files = Vec::new();
    for directory in directories.iter().filter(|directory| directory.is_dir()) {
        println!("cargo:rerun-if-changed={}", directory.display());
        collect_rust_files(directory, 0, &mut files);
    }

    let mut markers = Vec::new();
    let mut marked_tests = Vec::new();
    let mut sources = Vec::new();
    for file in &files {
        let relative = relative_path(&root, file);
        match fs::read_to_string(file) {
            Ok(text) => {
                let first = markers.len();
                scan(&relative, &text, &mut markers);
                marked_tests.extend(marked_tests_of(&root, &relative, &text, &markers[first..]));
                sources.push((relative, text));
            }
            Err(error) => println!("cargo:warning=covers markers: cannot read {relative}: {error}"),
        }
    }

    let mut generated = String::new();
    generated.push_str(
        "/// Every `// covers:` marker of the workspace's tests as (rule id as written, test name), the test\n\
         /// name being `<file path from the workspace root>::<fn name>`; in file and line order.\n\
         pub const RULE_TESTS: &[(&str, &str)] = &[\n",
    );
    for marker in &markers {
        let _ = writeln!(generated, "    ({:?}, {:?}),", marker.rule, marker.test);
    }
    generated.push_str(
        "];\n\n\
         /// Where each entry of [`RULE_TESTS`] (same index) is written: (file path from the workspace root,\n\
         /// line number).\n\
         pub const MARKER_LOCATIONS: &[(&str, u32)] = &[\n",
    );
    for marker in &markers {
        let line = u32::try_from(marker.line).unwrap_or(u32::MAX);
        let _ = writeln!(generated, "    ({:?}, {line}),", marker.file);
    }
    generated.push_str("];\n");
    write_marked_tests(&mut generated, &marked_tests);
    write_refusal_rules(&mut generated, &sources);
    let _ = writeln!(
        generated,
        "\n/// The commit this build was made from (`unknown` outside a git checkout; `-modified` when tracked\n\
         /// files differed from it).\npub const BUILD_COMMIT: &str = {:?};",
        build_commit(&root)
    );

    let target = out_dir.join("rule_tests.rs");
    // Rewrite only on change, so an unchanged table does not touch the file's modification time.
    if fs::read_to_string(&target).ok().as_deref() != Some(generated.as_str()) {
        fs::write(&target, generated).expect("OUT_DIR is writable");
    }
}

/// The entries of `directory`, sorted by name so the table's order does not depend on the file system.
fn sorted_entries(directory: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = match fs::read_dir(directory) {
        Ok(entries) => entries.filter_map(Result::ok).map(|entry| entry.path()).collect(),
        Err(_) => Vec::new(),
    };
    entries.sort();
    entries
}

fn collect_rust_files(directory: &Path, depth: usize, files: &mut Vec<PathBuf>) {
    if depth > DEPTH_MAX {
        return;
    }
    for path in sorted_entries(directory) {
        if path.is_dir() {
            collect_rust_files(&path, depth + 1, files);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
}

/// `file` relative to `root`, with `/` separators.
fn relative_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative.components().map(|component| component.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Finds the markers in one file. Marker lines stack; attributes and other comments may sit between
/// them and the `fn` line; anything else ends the group without a function.
fn scan(file: &str, text: &str, markers: &mut Vec<Marker>) {
    let mut pending: Vec<(String, usize)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(rest) = line.strip_prefix(MARKER) {
            let ids: Vec<&str> = rest.split(',').map(str::trim).filter(|id| !id.is_empty()).collect();
            if ids.is_empty() {
                // A marker naming nothing is kept with an empty id, so the test reports it.
                pending.push((String::new(), index + 1));
            }
            pending.extend(ids.into_iter().map(|id| (id.to_string(), index + 1)));
            continue;
        }
        if pending.is_empty() {
            continue;
        }
        if line.starts_with("//") || line.starts_with("#[") {
            continue;
        }
        let test = match function_name(line) {
            Some(name) => format!("{file}::{name}"),
            None => format!("{file}::"),
        };
        for (rule, line) in pending.drain(..) {
            markers.push(Marker { rule, file: file.to_string(), line, test: test.clone() });
        }
    }
    for (rule, line) in pending.drain(..) {
        markers.push(Marker { rule, file: file.to_string(), line, test: format!("{file}::") });
    }
}

/// The name after a `fn` keyword on `line` (`pub async fn name(` gives `name`).
fn function_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace();
    words.by_ref().find(|word| *word == "fn")?;
    let name: String =
        words.next()?.chars().take_while(|character| character.is_alphanumeric() || *character == '_').collect();
    if name.is_empty() { None } else { Some(name) }
}

/// A marked test: its name as in [`Marker::test`], the libtest target that runs it, the module path of
/// its file inside that target, and what its code names.
struct MarkedTest {
    test: String,
    target: String,
    module: String,
    tokens: BTreeSet<String>,
}

/// The distinct tests among `markers` (all from `file`), with what their code names.
fn marked_tests_of(root: &Path, file: &str, text: &str, markers: &[Marker]) -> Vec<MarkedTest> {
    if markers.is_empty() {
        return Vec::new();
    }
    let functions = evidence::function_tokens(text);
    let (target, module) = targets::target_of(root, file);
    let mut seen = BTreeSet::new();
    markers
        .iter()
        .filter(|marker| seen.insert(marker.test.clone()))
        .map(|marker| {
            let name = marker.test.rsplit("::").next().unwrap_or_default();
            MarkedTest {
                test: marker.test.clone(),
                target: target.clone(),
                module: module.clone(),
                tokens: evidence::test_tokens(&functions, name),
            }
        })
        .collect()
}

fn write_marked_tests(generated: &mut String, tests: &[MarkedTest]) {
    generated.push_str(
        "\n/// Every marked test once: (test name as in [`RULE_TESTS`], libtest target name with `_` for `-`,\n\
         /// module path of its file in that target, the identifiers and rule ids its code and the same\n\
         /// file's functions it calls name).\n\
         pub const MARKED_TESTS: &[(&str, &str, &str, &[&str])] = &[\n",
    );
    for test in tests {
        let tokens: Vec<String> = test.tokens.iter().map(|token| format!("{token:?}")).collect();
        let _ = writeln!(
            generated,
            "    ({:?}, {:?}, {:?}, &[{}]),",
            test.test,
            test.target,
            test.module,
            tokens.join(", ")
        );
    }
    generated.push_str("];\n");
}

/// `(error variant, RuleId variant)` pairs read from every `fn rule(&self)` of the scanned files (the
/// `Violation`s of covenant-rules, the VM's, consensus's and storage's errors): the refusals by which a
/// test shows that it met a rule's check.
fn write_refusal_rules(generated: &mut String, files: &[(String, String)]) {
    let mut pairs: Vec<(String, String)> = files.iter().flat_map(|(_, text)| targets::refusal_rules(text)).collect();
    pairs.sort();
    pairs.dedup();
    if !pairs.iter().any(|(variant, _)| variant == "TxTooLarge") {
        println!("cargo:warning=covers markers: no `Violation::rule` mapping found");
    }
    generated.push_str(
        "\n/// `(error variant, RuleId variant)`: which rule each refusal names (from the `fn rule` of each error).\n\
         pub const REFUSAL_RULES: &[(&str, &str)] = &[\n",
    );
    for (variant, rule) in pairs {
        let _ = writeln!(generated, "    ({variant:?}, {rule:?}),");
    }
    generated.push_str("];\n");
}

/// `git rev-parse HEAD`, with `-modified` when tracked files differ from it; `unknown` without git.
fn build_commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    // A new commit moves HEAD or the branch it points to.
    for path in ["HEAD", "packed-refs"] {
        if let Some(file) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={}", root.join(file).display());
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(file) = git(&["rev-parse", "--git-path", &reference])
    {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let Some(commit) = git(&["rev-parse", "HEAD"]) else { return "unknown".into() };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(changes) if !changes.is_empty() => format!("{commit}-modified"),
        _ => commit,
    }
}
