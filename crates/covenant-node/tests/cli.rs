//! The `covenant` binary, run as an operator would: exit codes and what it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use covenant_rules::RuleId;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn covenant(args: &[&str]) -> Run {
    covenant_in(&workspace(), args)
}

fn covenant_in(dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_covenant")).args(args).current_dir(dir).output().unwrap();
    Run {
        code: output.status.code().expect("exited normally"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Runs `config check` on one fixture, expects failure, and checks that an error line names the
/// file, the field path and (if given) the rule.
fn assert_refused(fixture: &str, field: &str, rule: Option<RuleId>) -> Run {
    let path = format!("node-config/{fixture}");
    let run = covenant(&["config", "check", &path]);
    assert_eq!(run.code, 1, "{fixture} must fail:\n{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(&format!("FAILED  {path}")), "{}", run.stdout);
    let prefix = format!("error: {path}: {field}: ");
    let line = run
        .stdout
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with(&prefix) && rule.is_none_or(|rule| line.contains(rule.id())))
        .unwrap_or_else(|| panic!("no error line `{prefix}...` with {rule:?} in:\n{}", run.stdout));
    if let Some(rule) = rule {
        assert!(line.ends_with(&format!("[{rule}, article {}]", rule.article())), "{line}");
    }
    run
}

#[test]
fn version() {
    let run = covenant(&["--version"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stdout.trim(), format!("covenant {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn rules_table_lists_every_rule() {
    let run = covenant(&["rules"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for rule in RuleId::ALL {
        assert!(run.stdout.lines().any(|line| line.starts_with(rule.id())), "{rule} missing:\n{}", run.stdout);
    }
    let line = run.stdout.lines().find(|line| line.starts_with("COV-18-NO-SUPERUSER")).unwrap();
    assert!(
        line.contains(" 18 ") && line.contains(" P ") && line.contains("partial") && line.contains("genesis"),
        "{line}"
    );
    let line = run.stdout.lines().find(|line| line.starts_with("COV-34-ORDERED-NONCES")).unwrap();
    assert!(line.contains("enforced") && !line.contains("check_only"), "{line}");
    assert!(run.stdout.contains("36 rules: 2 enforced"), "{}", run.stdout);
}

#[test]
fn rules_json_has_rules_and_all_articles() {
    let run = covenant(&["rules", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rules = json["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RuleId::ALL.len());
    assert!(rules.iter().any(|rule| rule["id"] == "COV-30-SIGNED" && rule["enforcement"]["status"] == "partial"));
    let articles = json["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 53);
    assert_eq!(articles[51]["rules"], serde_json::json!(["COV-49-BLOCK-LIMITS"]));
    assert_eq!(articles[0]["classes"], serde_json::json!([]));
}

#[test]
fn rules_detail_and_unknown_rule() {
    let run = covenant(&["rules", "COV-18-NO-SUPERUSER"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("enforced: a genesis is refused"), "{}", run.stdout);
    assert!(run.stdout.contains("missing:"), "{}", run.stdout);
    let run = covenant(&["rules", "COV-99-NOTHING"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("unknown covenant rule id \"COV-99-NOTHING\""), "{}", run.stderr);
}

#[test]
fn local_set_checks_as_a_whole() {
    let run = covenant(&["config", "check", "node-config/local"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ok      node-config/local/genesis.toml (genesis)"), "{}", run.stdout);
    assert!(run.stdout.contains("chain covenant-local (test)"), "{}", run.stdout);
    assert!(run.stdout.contains("validators 4 (quorum 3, tolerates 1 faulty)"), "{}", run.stdout);
    assert!(run.stdout.contains("parameters hash "), "{}", run.stdout);
    for index in 0..4 {
        assert!(run.stdout.contains(&format!("ok      node-config/local/node-{index}.toml (node config)")));
        assert!(run.stdout.contains(&format!("node node-{index}: validator of local-")));
    }
    assert!(run.stdout.contains("checked 5 file(s): 5 ok, 0 failed, 0 skipped"), "{}", run.stdout);
}

#[test]
fn example_directory_skips_bad_fixtures() {
    let run = covenant(&["config", "check", "node-config"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("ok      node-config/genesis.toml (genesis)"), "{}", run.stdout);
    assert!(run.stdout.contains("ok      node-config/node.toml (node config)"), "{}", run.stdout);
    assert!(run.stdout.contains("skipped node-config/bad-weak-key.toml"), "{}", run.stdout);
    assert!(run.stdout.contains("checked 2 file(s): 2 ok, 0 failed"), "{}", run.stdout);
}

#[test]
fn explicit_kinds() {
    let run =
        covenant(&["config", "check", "--genesis", "node-config/genesis.toml", "--node", "node-config/node.toml"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    // A genesis given as a node config is refused for its unknown fields.
    let run = covenant(&["config", "check", "--node", "node-config/genesis.toml"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("unknown field"), "{}", run.stdout);
}

#[test]
fn nothing_to_check_is_a_usage_error() {
    let run = covenant(&["config", "check"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing to check"), "{}", run.stderr);
    let run = covenant(&["config", "check", "node-config/missing.toml"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("node-config/missing.toml: (file): cannot read"), "{}", run.stdout);
}

#[test]
fn bad_genesis_fixtures_name_field_and_rule() {
    assert_refused("bad-unknown-field.toml", "operators[1].department", None);
    assert_refused("bad-single-admin.toml", "operators", Some(RuleId::NoSuperuser));
    assert_refused("bad-threshold-one.toml", "thresholds.emergency.members_required", Some(RuleId::NoSuperuser));
    assert_refused("bad-sanctioned-member.toml", "members[3].jurisdiction", Some(RuleId::SanctionedJurisdiction));
    assert_refused("bad-retention.toml", "parameters.audit_retention_days", Some(RuleId::Retention));
    assert_refused("bad-key-expiry.toml", "operators[2].key_expires_at_ms", Some(RuleId::CredentialExpiry));
    assert_refused("bad-production-3-validators.toml", "nodes", None);
    assert_refused("bad-weak-key.toml", "operators[0].public_key", Some(RuleId::Signed));
    assert_refused("bad-role-combination.toml", "operators[0].roles", Some(RuleId::RoleSeparation));
    assert_refused("bad-duplicate-person.toml", "operators[2].person", Some(RuleId::OnePersonOneAccount));
}

#[test]
fn bad_node_config_fixtures_name_field_and_rule() {
    assert_refused("bad-node-config-public-api.toml", "api_addr", Some(RuleId::EncryptedTransport));
    assert_refused("bad-node-config-retention.toml", "audit_retention_days", Some(RuleId::Retention));
    assert_refused("bad-node-config-unknown-field.toml", "log.colour", None);
    let run = assert_refused("bad-node-config-wrong-key.toml", "consensus_key_file", None);
    assert!(run.stdout.contains("but genesis registers"), "{}", run.stdout);
    assert_refused("bad-node-config-unregistered.toml", "node_id", Some(RuleId::PermissionedPeers));
}

/// Copies the local set into a temporary directory, applying `edit` to the named files.
fn local_copy(edits: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let source = workspace().join("node-config/local");
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    for entry in std::fs::read_dir(source.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join("keys").join(entry.file_name())).unwrap();
    }
    for name in ["genesis.toml", "node-0.toml", "node-1.toml", "node-2.toml", "node-3.toml"] {
        let mut text = std::fs::read_to_string(source.join(name)).unwrap();
        for (file, from, to) in edits {
            if *file == name {
                assert!(text.contains(from), "{from} not in {name}");
                text = text.replace(from, to);
            }
        }
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

#[test]
fn set_clashes_are_refused() {
    let dir = local_copy(&[
        ("node-1.toml", "data_dir = \"data/node-1\"", "data_dir = \"data/node-0\""),
        ("node-1.toml", "api_addr = \"127.0.0.1:7201\"", "api_addr = \"127.0.0.1:7200\""),
    ]);
    let run = covenant_in(dir.path(), &["config", "check", "."]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("FAILED  ./node-1.toml (node config): 2 error(s)"), "{}", run.stdout);
    assert!(
        run.stdout.contains("./node-1.toml: api_addr: 127.0.0.1:7200 is also used by ./node-0.toml"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("./node-1.toml: data_dir: ./data/node-0 is also used by ./node-0.toml"),
        "{}",
        run.stdout
    );
}

#[test]
fn production_refuses_plaintext_keys_and_genesis_mismatch_is_caught() {
    let dir = local_copy(&[("genesis.toml", "environment = \"test\"", "environment = \"production\"")]);
    let run = covenant_in(dir.path(), &["config", "check", "node-0.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("node-0.toml: consensus_key_file: ")
            && run.stdout.contains("refused on a production chain")
            && run.stdout.contains("[COV-41-KEY-ROTATION, article 41]"),
        "{}",
        run.stdout
    );

    let dir = local_copy(&[]);
    std::fs::write(
        dir.path().join("genesis-b.toml"),
        std::fs::read_to_string(dir.path().join("genesis.toml"))
            .unwrap()
            .replace("block_interval_ms_min = 200", "block_interval_ms_min = 300"),
    )
    .unwrap();
    let node = std::fs::read_to_string(dir.path().join("node-3.toml")).unwrap();
    std::fs::write(dir.path().join("node-3.toml"), node.replace("\"genesis.toml\"", "\"genesis-b.toml\"")).unwrap();
    let run = covenant_in(dir.path(), &["config", "check", "node-0.toml", "node-3.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("node-3.toml: genesis_file: genesis hash"), "{}", run.stdout);
}

#[cfg(unix)]
#[test]
fn open_key_file_permissions_warn() {
    use std::os::unix::fs::PermissionsExt;
    let dir = local_copy(&[]);
    let key = dir.path().join("keys/node-2.network.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = covenant_in(dir.path(), &["config", "check", "node-2.toml"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("warning: network_key_file: ") && run.stdout.contains("mode 0644"), "{}", run.stdout);
}
