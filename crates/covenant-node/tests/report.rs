//! `covenant report` and `covenant inventory`, run as an auditor would, and the test markers the report is
//! built from: every marker names a real rule, every rule the catalogue calls enforced has a test, and the
//! committed `docs/conformance.md` is what this build generates.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr;

use serde_json::{Value, json};

use covenant_node::commands::report::{
    MARKED_TESTS, MARKER_LOCATIONS, REGENERATE_COMMAND, RULE_TESTS, results::RUN_FILE, test_reports,
};
use covenant_rules::{CATALOGUE, ChainParams, RuleId};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn covenant(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_covenant")).args(args).current_dir(workspace()).output().unwrap();
    Run {
        code: output.status.code().expect("exited normally"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn report_json(args: &[&str]) -> Value {
    let mut all = vec!["report", "--json"];
    all.extend_from_slice(args);
    let run = covenant(&all);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap_or_else(|error| panic!("not JSON ({error}):\n{}", run.stdout))
}

fn rule_in<'a>(report: &'a Value, article: usize, id: &str) -> &'a Value {
    report["articles"][article - 1]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == id)
        .unwrap_or_else(|| panic!("{id} not under article {article}"))
}

fn param<'a>(rule: &'a Value, name: &str) -> &'a Value {
    &rule["parameters"].as_array().unwrap().iter().find(|value| value["name"] == name).unwrap()["value"]
}

/// A stand-in for a node's API on 127.0.0.1: answers each path in `routes` with 200 and its JSON body,
/// anything else with an empty 404 (as the node does for an unknown route). Returns `127.0.0.1:PORT`.
fn fake_node(routes: Vec<(&'static str, Value)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => request.extend_from_slice(&buffer[..read]),
                }
            }
            let text = String::from_utf8_lossy(&request);
            let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
            let (status, body) = match routes.iter().find(|(route, _)| *route == path) {
                Some((_, body)) => ("200 OK", body.to_string()),
                None => ("404 Not Found", String::new()),
            };
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n");
            let response = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("127.0.0.1:{port}")
}

fn params_answer(block_txs_max: u64) -> Value {
    let mut params = serde_json::Map::new();
    for (name, value) in ChainParams::default().entries() {
        params.insert(name.into(), json!(if name == "block_txs_max" { block_txs_max } else { value }));
    }
    json!({ "hash": "ab".repeat(32), "params": params })
}

/// The routes of a three-node chain seen from validator-0; with `operators`, it also serves them.
fn chain_routes(operators: bool) -> Vec<(&'static str, Value)> {
    let mut routes = vec![
        (
            "/v1/status",
            json!({"chain_id": "covenant-local", "node_id": "validator-0", "height": 42, "version": "9.8.7"}),
        ),
        (
            "/v1/members",
            json!({"members": [
                {"id": "bank-0", "name": "Bank Zero", "jurisdiction": "TW", "status": "active"},
                {"id": "bank-1", "name": "Bank One", "jurisdiction": "JP", "status": "suspended"},
            ]}),
        ),
        (
            "/v1/nodes",
            json!({"nodes": [
                {"id": "validator-0", "member": "bank-0", "role": "validator", "network_key": "01",
                 "consensus_key": "02", "removed": false},
                {"id": "validator-1", "member": "bank-1", "role": "validator", "network_key": "03",
                 "consensus_key": "04", "removed": false},
                {"id": "observer-0", "member": "bank-0", "role": "observer", "network_key": "05",
                 "consensus_key": "06", "removed": true},
            ]}),
        ),
        (
            "/v1/validators",
            json!({"height": 43, "quorum": 2, "validators": [
                {"node": "validator-0", "consensus_key": "02"},
                {"node": "validator-1", "consensus_key": "04"},
            ]}),
        ),
        ("/v1/params", params_answer(77)),
    ];
    if operators {
        routes.push((
            "/v1/operators",
            json!({"operators": [
                {"id": "bank-0.ops", "person": "bank-0/alice", "member": "bank-0", "roles": ["admin", "submitter"],
                 "key": "07", "key_expires_at_ms": 1_740_787_200_000u64, "revoked": false},
                {"id": "bank-1.audit", "person": "bank-1/bob", "member": "bank-1", "roles": ["auditor"],
                 "key": "08", "key_expires_at_ms": 0, "revoked": true},
            ]}),
        ));
        routes.push((
            "/v1/contracts",
            json!({"contracts": [
                {"id": "escrow", "status": "paused", "name": "settlement escrow", "version": "1.0.0",
                 "owner": "bank-0", "steward": "bank-0.steward", "code_hash": "ab12"},
            ]}),
        ));
    }
    routes
}

#[test]
fn report_json_lists_every_article_with_class_rules_and_tests() {
    let report = report_json(&[]);
    assert_eq!(report["node_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["generated_from"], "catalogue and test markers of this build");
    assert_eq!(report["parameters_source"], "defaults");
    let articles = report["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 53);
    for (index, article) in articles.iter().enumerate() {
        assert_eq!(article["article"], index + 1, "articles are numbered 1..53 in order");
        let class = article["class"].as_str().unwrap();
        assert!(["P", "N", "E", "O", "-"].contains(&class), "article {}: class {class}", index + 1);
        let classes = article["classes"].as_array().unwrap();
        assert_eq!(classes.first().and_then(Value::as_str).unwrap_or("-"), class, "article {}", index + 1);
        for rule in article["rules"].as_array().unwrap() {
            let id = rule["id"].as_str().unwrap();
            let entry = CATALOGUE.iter().find(|entry| entry.id.id() == id).expect("a catalogued rule");
            assert_eq!(rule["enforced"], entry.enforcement.is_enforced(), "{id}");
            assert_eq!(rule["status"], entry.enforcement.status(), "{id}");
            for test in rule["tests"].as_array().unwrap() {
                assert!(test["name"].as_str().is_some_and(|name| name.contains("::")), "{id}: {test}");
                assert_eq!(test["result"], "not run", "{id}: no run was given: {test}");
                assert!(test["exercises_rule"].is_boolean(), "{id}: {test}");
            }
        }
    }
    let commit = report["commit"].as_str().unwrap();
    assert!(commit == "unknown" || commit.len() >= 40, "the build's commit: {commit}");
    assert_eq!(report["test_run"], Value::Null);
    assert_eq!(articles[0]["class"], "-");
    assert_eq!(articles[44]["classes"], json!(["P", "N", "E"]));
    let limits = rule_in(&report, 49, "COV-49-BLOCK-LIMITS");
    assert_eq!(limits["enforced"], true);
    assert!(!limits["tests"].as_array().unwrap().is_empty(), "COV-49 needs a test: {limits}");
    assert_eq!(param(limits, "block_txs_max"), ChainParams::default().block_txs_max);
    assert_eq!(rule_in(&report, 52, "COV-49-BLOCK-LIMITS")["enforced"], true);
    let summary = &report["summary"];
    assert_eq!(summary["articles"], 53);
    let protocol = &summary["protocol_rules"];
    let total: u64 =
        ["enforced", "partial", "check_only", "not_yet"].iter().map(|status| protocol[status].as_u64().unwrap()).sum();
    assert_eq!(protocol["total"], total);
    assert!(summary["tests"].as_u64().unwrap() >= 1);
}

#[test]
fn report_markers_name_real_rules_above_test_functions() {
    assert_eq!(RULE_TESTS.len(), MARKER_LOCATIONS.len());
    let mut problems = Vec::new();
    for ((id, test), (file, line)) in RULE_TESTS.iter().zip(MARKER_LOCATIONS) {
        if let Err(error) = RuleId::from_str(id) {
            problems.push(format!("{file}:{line}: `// covers:` marker names {error} (see `covenant rules`)"));
        }
        if test.ends_with("::") {
            problems.push(format!(
                "{file}:{line}: `// covers:` marker is not directly above a test (only attributes and comments may \
                 come between it and the `fn` line)"
            ));
        }
    }
    assert!(problems.is_empty(), "bad test markers:\n{}", problems.join("\n"));
    assert!(
        RULE_TESTS.iter().any(|(_, test)| test.starts_with("crates/covenant-consensus/src/tests.rs::")),
        "unit-test modules under crates/*/src are scanned too"
    );
}

#[test]
fn report_every_enforced_rule_has_a_test_that_exercises_it() {
    let untested: Vec<String> = CATALOGUE
        .iter()
        .filter(|entry| entry.enforcement.is_enforced())
        .filter(|entry| !test_reports(entry, None).iter().any(|test| test.exercises_rule))
        .map(|entry| entry.id.to_string())
        .collect();
    assert!(
        untested.is_empty(),
        "the catalogue calls these rules enforced, but no test whose code names the rule's id, checks, refusals or \
         parameters carries a `// covers: RULE-ID` marker for them: {}",
        untested.join(", ")
    );
}

/// A record of a run in which every marked test ran, with `failed` for the tests named in `failing`.
fn record_of_every_marked_test(failing: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(RUN_FILE), r#"{"commit": "0123abc", "started_at": "2026-12-08T03:00:00Z"}"#)
        .unwrap();
    for (test, target, module, _) in MARKED_TESTS {
        let function = test.rsplit("::").next().unwrap();
        let name = if module.is_empty() { function.to_string() } else { format!("{module}::tests::{function}") };
        let event = if failing.contains(test) { "failed" } else { "ok" };
        let line = json!({"type": "test", "name": name, "event": event}).to_string();
        let file = dir.path().join(format!("{target}-00ff.jsonl"));
        let mut text = std::fs::read_to_string(&file).unwrap_or_default();
        text.push_str(&line);
        text.push('\n');
        std::fs::write(file, text).unwrap();
    }
    dir
}

#[test]
fn report_with_a_recorded_run_shows_results_and_requires_evidence() {
    let all_pass = record_of_every_marked_test(&[]);
    let report = report_json(&["--results", all_pass.path().to_str().unwrap()]);
    assert_eq!(report["test_run"]["commit"], "0123abc");
    assert_eq!(report["test_run"]["same_commit"], false);
    let limits = rule_in(&report, 49, "COV-49-BLOCK-LIMITS");
    let tests = limits["tests"].as_array().unwrap();
    assert!(tests.iter().any(|test| test["result"] == "passed" && test["exercises_rule"] == true), "{limits}");
    let run = covenant(&["report", "--results", all_pass.path().to_str().unwrap(), "--require-evidence"]);
    assert_eq!(run.code, 0, "every enforced rule has a passed test that exercises it: {}", run.stderr);
    assert!(run.stdout.contains("Every enforced rule has a test that exercises it and passed in this run."));

    // The same run with every test of COV-49 failed: the rule has no evidence left.
    let limit_tests: Vec<&str> =
        test_reports(CATALOGUE.iter().find(|entry| entry.id == RuleId::BlockLimits).unwrap(), None)
            .iter()
            .map(|test| test.name)
            .collect();
    let failed = record_of_every_marked_test(&limit_tests);
    let report = report_json(&["--results", failed.path().to_str().unwrap()]);
    let limits = rule_in(&report, 49, "COV-49-BLOCK-LIMITS");
    assert!(limits["tests"].as_array().unwrap().iter().all(|test| test["result"] == "failed"), "{limits}");
    let run = covenant(&["report", "--results", failed.path().to_str().unwrap(), "--require-evidence"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("COV-49-BLOCK-LIMITS"), "{}", run.stderr);
    assert!(run.stdout.contains("**Enforced rules without a test that exercises them and passed in this run:**"));

    let run = covenant(&["report", "--results", "/nonexistent/record"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("/nonexistent/record"), "{}", run.stderr);
}

#[test]
fn report_html_is_one_page_with_the_rule_tables() {
    let run = covenant(&["report", "--html"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("<!DOCTYPE html>") && run.stdout.contains("<h3>COV-49-BLOCK-LIMITS</h3>"));
}

/// The chain routes of [`chain_routes`] with an operator holding `key`, revoked or not.
fn chain_with_operator(key: &str, revoked: bool) -> String {
    let mut routes = chain_routes(false);
    routes.push((
        "/v1/operators",
        json!({"operators": [
            {"id": "bank-0.ops", "person": "bank-0/alice", "member": "bank-0", "roles": ["admin"],
             "key": key, "key_expires_at_ms": u64::MAX / 2, "revoked": revoked},
        ]}),
    ));
    fake_node(routes)
}

#[test]
fn report_signed_by_an_operator_verifies_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("ops.key");
    let keygen = covenant(&["keygen", "--out", key_file.to_str().unwrap()]);
    assert_eq!(keygen.code, 0, "{}", keygen.stderr);
    let public_key = keygen.stdout.trim().to_string();
    let node = chain_with_operator(&public_key, false);
    let signed = dir.path().join("signed.json");
    let signed_path = signed.to_str().unwrap();
    let args = ["report", "--api", &node, "--sign", key_file.to_str().unwrap(), "--operator", "bank-0.ops"];
    let run = covenant(&[&args[..], &["--out", signed_path]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let document: Value = serde_json::from_str(&std::fs::read_to_string(&signed).unwrap()).unwrap();
    assert_eq!(document["chain_id"], "covenant-local");
    assert_eq!(document["report"]["parameters_source"], format!("api http://{node} at height 42"));
    assert_eq!(document["signer"]["public_key"], public_key.as_str());

    let run = covenant(&["report", "--verify", signed_path]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("signature valid"), "{}", run.stdout);
    let run = covenant(&["report", "--verify", signed_path, "--api", &node]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("signer is operator bank-0.ops"), "{}", run.stdout);

    let revoked = chain_with_operator(&public_key, true);
    let run = covenant(&["report", "--verify", signed_path, "--api", &revoked]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("revoked"), "{}", run.stdout);

    let mut tampered = document.clone();
    tampered["report"]["articles"][48]["rules"][0]["status"] = json!("enforced, honestly");
    std::fs::write(&signed, serde_json::to_string_pretty(&tampered).unwrap()).unwrap();
    let run = covenant(&["report", "--verify", signed_path]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("INVALID"), "{}", run.stdout);
}

#[test]
fn report_committed_conformance_md_is_current() {
    let path = workspace().join("docs/conformance.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let run = covenant(&["report"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        committed == run.stdout,
        "docs/conformance.md is not what this build generates (the catalogue, the test markers or the version \
         changed); regenerate it with `{REGENERATE_COMMAND}` and commit it"
    );
    assert!(!run.stdout.contains("/home/") && !run.stdout.contains("/tmp/"), "no machine paths in the report");
}

#[test]
fn report_from_a_genesis_uses_its_parameters_and_out_writes_a_file() {
    let report = report_json(&["--genesis", "node-config/genesis.toml"]);
    assert_eq!(report["parameters_source"], "genesis node-config/genesis.toml");
    assert_eq!(param(rule_in(&report, 49, "COV-49-BLOCK-LIMITS"), "block_interval_ms_min"), 500);

    let run = covenant(&["report", "--genesis", "node-config/bad-retention.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("COV-18-RETENTION"), "{}", run.stderr);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("conformance.md");
    let run = covenant(&["report", "--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), covenant(&["report"]).stdout);
}

#[test]
fn report_from_a_node_uses_its_live_parameters() {
    let api = fake_node(chain_routes(false));
    let report = report_json(&["--api", &api]);
    assert_eq!(report["parameters_source"], format!("api http://{api} at height 42"));
    assert_eq!(report["parameters_hash"], "ab".repeat(32));
    assert_eq!(param(rule_in(&report, 49, "COV-49-BLOCK-LIMITS"), "block_txs_max"), 77);
    let markdown = covenant(&["report", "--api", &api]);
    assert_eq!(markdown.code, 0, "{}", markdown.stderr);
    assert!(markdown.stdout.contains("`block_txs_max` = 77"), "{}", markdown.stdout);
}

#[test]
fn inventory_reports_an_unreachable_node_by_address() {
    let run = covenant(&["inventory", "--api", "127.0.0.1:1"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot reach the node API at http://127.0.0.1:1"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn inventory_report_of_a_node_without_operators_endpoint() {
    let api = fake_node(chain_routes(false));
    let run = covenant(&["inventory", "--api", &api]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = &run.stdout;
    assert!(text.contains("inventory of chain covenant-local read from node validator-0"), "{text}");
    let line = |start: &str| {
        text.lines().find(|line| line.trim_start().starts_with(start)).unwrap_or_else(|| panic!("{start}:\n{text}"))
    };
    assert!(line("bank-1 ").contains("suspended"), "{text}");
    assert!(line("validator-0 ").trim_end().ends_with("9.8.7"), "{text}");
    assert!(line("validator-1 ").contains("unknown (not reachable from here)"), "{text}");
    assert!(line("observer-0 ").contains("removed"), "{text}");
    assert!(text.contains("operators: endpoint not available on this node"), "{text}");
    assert!(text.contains("contracts: endpoint not available on this node"), "{text}");
    assert!(line("block_txs_max ").contains("77") && line("block_txs_max ").contains("COV-49-BLOCK-LIMITS"));

    let run = covenant(&["inventory", "--api", &api, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let inventory: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(inventory["source"]["height"], 42);
    assert_eq!(inventory["nodes"][0]["software_version"], "9.8.7");
    assert_eq!(inventory["nodes"][0]["in_validator_set"], true);
    assert_eq!(inventory["nodes"][2]["in_validator_set"], false);
    assert_eq!(inventory["operators"]["available"], false);
    assert_eq!(inventory["validators"]["quorum"], 2);
    assert_eq!(inventory["contracts"]["contracts"], json!([]));
}

#[test]
fn inventory_report_lists_operators_with_roles_and_key_expiry() {
    let api = fake_node(chain_routes(true));
    let run = covenant(&["inventory", "--api", &api]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let line = run.stdout.lines().find(|line| line.trim_start().starts_with("bank-0.ops")).unwrap();
    assert!(line.contains("admin,submitter") && line.contains("2025-03-01 00:00:00Z") && line.contains("active"));
    let line = run.stdout.lines().find(|line| line.trim_start().starts_with("bank-1.audit")).unwrap();
    assert!(line.contains("auditor") && line.contains("revoked"), "{line}");
    let line = run.stdout.lines().find(|line| line.trim_start().starts_with("escrow")).unwrap();
    assert!(line.contains("paused") && line.contains("bank-0.steward"), "{line}");
    let run = covenant(&["inventory", "--api", &api, "--json"]);
    let inventory: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(inventory["operators"]["available"], true);
    assert_eq!(inventory["operators"]["operators"][0]["person"], "bank-0/alice");
    assert_eq!(inventory["contracts"]["contracts"][0]["id"], "escrow");
}
