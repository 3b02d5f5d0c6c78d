//! Which libtest binary runs a test file, and under which module path; and which rule each refusal names.
//! Both are read from text (Cargo manifests, `Violation::rule`) so the build script needs no dependencies.

use std::fs;
use std::path::Path;

/// For a test file (path from the workspace root): the name of the target whose test binary runs it, with
/// `_` for `-` as in the binary's file name, and the file's module path inside that target (`""` for the
/// crate root or an integration-test file).
pub fn target_of(root: &Path, file: &str) -> (String, String) {
    let parts: Vec<&str> = file.split('/').collect();
    let target = match parts.as_slice() {
        ["tests", "tests", name] | ["crates", _, "tests", name] => name.trim_end_matches(".rs").to_string(),
        ["crates", krate, "src", "main.rs"] => bin_name(root, krate).unwrap_or_else(|| krate.to_string()),
        ["crates", krate, "src", ..] => krate.to_string(),
        _ => String::new(),
    };
    let module = match parts.as_slice() {
        ["crates", _, "src", rest @ ..] => module_path(rest),
        _ => String::new(),
    };
    (target.replace('-', "_"), module)
}

/// `a/b.rs` → `a::b`, `a/mod.rs` → `a`, `lib.rs` and `main.rs` → `` (paths under `src/`).
fn module_path(parts: &[&str]) -> String {
    let mut modules: Vec<&str> = parts.iter().map(|part| part.trim_end_matches(".rs")).collect();
    if matches!(modules.last(), Some(&"mod") | Some(&"lib") | Some(&"main")) {
        modules.pop();
    }
    modules.join("::")
}

/// The `[[bin]]` of `crates/<krate>/Cargo.toml` whose path is `src/main.rs`.
fn bin_name(root: &Path, krate: &str) -> Option<String> {
    let manifest = fs::read_to_string(root.join("crates").join(krate).join("Cargo.toml")).ok()?;
    let mut name = None;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            name = None;
        } else if let Some(value) = toml_string(line, "name") {
            name = Some(value);
        } else if toml_string(line, "path").as_deref() == Some("src/main.rs") && name.is_some() {
            return name;
        }
    }
    None
}

fn toml_string(line: &str, key: &str) -> Option<String> {
    let (left, right) = line.split_once('=')?;
    (left.trim() == key).then(|| right.trim().trim_matches('"').to_string())
}

/// `(error variant, RuleId variant)` from the arms of every `fn rule(&self) -> RuleId` (or
/// `-> Option<RuleId>`) in `text`: each `Type::Variant` pattern before a `=> RuleId::Y` (or
/// `=> Some(RuleId::Y)`) names Y. An arm that computes its rule names none.
pub fn refusal_rules(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (start, _) in text.match_indices("fn rule(&self) -> ") {
        let body = super::evidence::body_from(&text[start..]);
        // Splitting at `=>` leaves each arm's patterns at the end of one piece and its result at the start
        // of the next (a result block's braces included).
        let pieces: Vec<&str> = body.split("=>").collect();
        for arm in pieces.windows(2) {
            let result = arm[1].trim_start().trim_start_matches('{').trim_start();
            let result = result.strip_prefix("Some(").unwrap_or(result);
            let Some(rule) =
                result.strip_prefix("RuleId::").and_then(|rest| identifiers_after(rest, "").into_iter().next())
            else {
                continue;
            };
            for variant in enum_variants(arm[0]) {
                pairs.push((variant, rule.clone()));
            }
        }
    }
    pairs.sort();
    pairs.dedup();
    pairs
}

/// The `Variant` of every `Type::Variant` in `text` whose type and variant start upper-case (not `RuleId`).
fn enum_variants(text: &str) -> Vec<String> {
    text.match_indices("::")
        .filter_map(|(index, _)| {
            let owner: String = text[..index]
                .chars()
                .rev()
                .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
                .collect();
            let owner: String = owner.chars().rev().collect();
            let variant = identifiers_after(&text[index..], "::").into_iter().next()?;
            let upper = |name: &str| name.starts_with(|first: char| first.is_ascii_uppercase());
            (upper(&owner) && upper(&variant) && owner != "RuleId").then_some(variant)
        })
        .collect()
}

/// The identifier after each `prefix` in `text` (after the start of `text` for an empty prefix).
fn identifiers_after(text: &str, prefix: &str) -> Vec<String> {
    if prefix.is_empty() {
        let name: String =
            text.chars().take_while(|character| character.is_ascii_alphanumeric() || *character == '_').collect();
        return if name.is_empty() { Vec::new() } else { vec![name] };
    }
    text.match_indices(prefix)
        .map(|(index, _)| {
            text[index + prefix.len()..]
                .chars()
                .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
                .collect::<String>()
        })
        .filter(|name| !name.is_empty())
        .collect()
}
