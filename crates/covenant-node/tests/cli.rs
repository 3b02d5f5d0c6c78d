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
        line.contains(" 18 ") && line.contains(" P ") && line.contains("enforced") && line.contains("genesis"),
        "{line}"
    );
    let line = run.stdout.lines().find(|line| line.starts_with("COV-34-ORDERED-NONCES")).unwrap();
    assert!(line.contains("enforced") && !line.contains("check_only"), "{line}");
    let enforced = covenant_rules::catalogue::CATALOGUE.iter().filter(|entry| entry.enforcement.is_enforced()).count();
    assert!(enforced >= 2);
    assert!(run.stdout.contains(&format!("36 rules: {enforced} enforced")), "{}", run.stdout);
}

#[test]
fn rules_json_has_rules_and_all_articles() {
    let run = covenant(&["rules", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let rules = json["rules"].as_array().unwrap();
    assert_eq!(rules.len(), RuleId::ALL.len());
    assert!(rules.iter().any(|rule| rule["id"] == "COV-30-SIGNED" && rule["enforcement"]["status"] == "enforced"));
    for rule in rules {
        let status = rule["enforcement"]["status"].as_str().unwrap();
        let entry = covenant_rules::catalogue::CATALOGUE.iter().find(|entry| entry.id.id() == rule["id"]).unwrap();
        assert_eq!(status, entry.enforcement.status(), "{}", rule["id"]);
    }
    let articles = json["articles"].as_array().unwrap();
    assert_eq!(articles.len(), 53);
    assert_eq!(articles[51]["rules"], serde_json::json!(["COV-49-BLOCK-LIMITS"]));
    assert_eq!(articles[0]["classes"], serde_json::json!([]));
}

#[test]
fn rules_detail_and_unknown_rule() {
    let run = covenant(&["rules", "COV-18-NO-SUPERUSER"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("covenant_execution::governance::check_approvers_after"), "{}", run.stdout);
    // (A partial rule's detail is shown by a unit test of commands::rules: the catalogue may have none.)
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

// ---- `covenant tx` and `covenant query`, against no node or a scripted fake node ----

/// A request the fake node received.
#[derive(Debug, Clone)]
struct FakeRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

type Answer = (u16, &'static str, String);

/// A fake node API on 127.0.0.1: answers each request with `answer(request)` and records it. The thread
/// serves until the test process ends.
struct FakeNode {
    address: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<FakeRequest>>>,
}

impl FakeNode {
    fn start(answer: impl Fn(&FakeRequest) -> Answer + Send + 'static) -> FakeNode {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut parts = line.split_whitespace();
                let (method, path) = (parts.next().unwrap().to_string(), parts.next().unwrap().to_string());
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(value) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request = FakeRequest { method, path, body };
                let (status, content_type, text) = answer(&request);
                log.lock().unwrap().push(request);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    text.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(text.as_bytes());
            }
        });
        FakeNode { address, requests }
    }

    fn paths(&self) -> Vec<String> {
        self.requests.lock().unwrap().iter().map(|request| format!("{} {}", request.method, request.path)).collect()
    }

    fn submitted(&self) -> covenant_types::SignedTx {
        let requests = self.requests.lock().unwrap();
        let post = requests.iter().find(|request| request.method == "POST").expect("a transaction was submitted");
        covenant_types::SignedTx::decode(&post.body).unwrap()
    }
}

const TX_HASH: &str = "94ebe13b77f41bec662bc0dc86823b01474b02c35d5d5c561654c7d42538af0e";

fn json_answer(status: u16, body: serde_json::Value) -> Answer {
    (status, "application/json", body.to_string())
}

/// A fake node on chain covenant-local where bank-0.ops's next nonce is 3; `submit` answers the POST and
/// `status` the `GET /v1/txs/{hash}`.
fn fake_chain(submit: Answer, status: Answer) -> FakeNode {
    FakeNode::start(move |request| match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/v1/status") => json_answer(200, serde_json::json!({"chain_id": "covenant-local", "height": 4})),
        ("GET", "/v1/operators/bank-0.ops/nonce") => json_answer(200, serde_json::json!({"next_nonce": 3})),
        ("POST", "/v1/txs") => submit.clone(),
        ("GET", path) if path.starts_with("/v1/txs/") => status.clone(),
        _ => (404, "text/plain", String::new()),
    })
}

/// A key file for `bank-0.ops` (any seed will do for a fake node) in a temporary directory.
fn key_dir() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank-0.ops.key");
    std::fs::write(&path, format!("{}\n", "07".repeat(32))).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// An address where nothing listens (a port just released).
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address.to_string()
}

fn transfer_args<'a>(key: &'a str, api: &'a str, amount: &'a str) -> Vec<&'a str> {
    vec![
        "tx",
        "transfer",
        "--key",
        key,
        "--operator",
        "bank-0.ops",
        "--from",
        "bank-0/treasury",
        "--to",
        "bank-1/treasury",
        "--asset",
        "twd",
        "--amount",
        amount,
        "--api",
        api,
    ]
}

#[test]
fn cli_tx_refuses_bad_arguments_before_contacting_a_node() {
    let (dir, key) = key_dir();
    // Nothing listens here, so an error that is not about the arguments would say "cannot reach".
    let api = closed_address();

    let run = covenant(&transfer_args(&key, &api, "abc"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid value 'abc' for '--amount <N>'"), "{}", run.stderr);
    let run = covenant(&transfer_args(&key, &api, "0"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--amount must be a positive"), "{}", run.stderr);
    let run = covenant(&transfer_args(&key, &api, "-5"));
    assert_eq!(run.code, 2, "{}", run.stderr);

    let mut args = transfer_args(&key, &api, "5");
    args[7] = "Bank 0/treasury";
    let run = covenant(&args);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("error: --from: invalid account id \"Bank 0/treasury\""), "{}", run.stderr);

    let missing = dir.path().join("missing.key");
    let run = covenant(&transfer_args(missing.to_str().unwrap(), &api, "5"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(&format!("key file {}: cannot read", missing.display())), "{}", run.stderr);
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key").unwrap();
    let run = covenant(&transfer_args(garbage.to_str().unwrap(), &api, "5"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("expected the 32-byte seed as 64 hex digits"), "{}", run.stderr);

    let run = covenant(&transfer_args(&key, "https://127.0.0.1:7200", "5"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("COVENANT_API_CA_FILE"), "https:// without a CA file: {}", run.stderr);
    let run = covenant(&transfer_args(&key, "127.0.0.1", "5"));
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--api: API address \"127.0.0.1\": no port"), "{}", run.stderr);

    let data = ["tx", "data", "--key", &key, "--operator", "bank-0.ops", "--schema", "demo.v1", "--api", &api];
    let run = covenant(&data);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("required"), "{}", run.stderr);
    let run = covenant(&[&data[..], &["--text", "a", "--content-hex", "00"]].concat());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot be used with"), "{}", run.stderr);
    let run = covenant(&[&data[..], &["--content-hex", "0g"]].concat());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--content-hex: not hex"), "{}", run.stderr);
    let run = covenant(&[&data[..], &["--text", "a", "--classification", "secret"]].concat());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("possible values: public, internal, customer-data"), "{}", run.stderr);

    let run = covenant(&["tx", "status", "zz", "--api", &api]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("transaction hash \"zz\""), "{}", run.stderr);
    let run = covenant(&["query", "block", "--api", "ftp://x:1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("only http:// and https:// addresses"), "{}", run.stderr);
}

#[test]
fn cli_unreachable_api_is_named() {
    let (_dir, key) = key_dir();
    let api = closed_address();
    let run = covenant(&transfer_args(&key, &api, "5"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("cannot reach the node API at http://{api} (GET /v1/status)")),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let run = covenant(&["query", "status", "--api", &format!("http://{api}/")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains(&format!("cannot reach the node API at http://{api}")), "{}", run.stderr);
    let run = covenant(&["tx", "status", TX_HASH, "--api", &api]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("cannot reach the node API"), "{}", run.stderr);
}

#[test]
fn cli_tx_signs_for_the_node_chain_and_nonce_and_reports_refusals() {
    let (_dir, key) = key_dir();
    let refusal = json_answer(
        422,
        serde_json::json!({"error": "nonce 3 is out of order: the sender's next nonce is 2",
            "rule": "COV-34-ORDERED-NONCES", "article": 34}),
    );
    let node = fake_chain(refusal, json_answer(404, serde_json::json!({"error": "unknown"})));
    let mut args = transfer_args(&key, &node.address, "5");
    args.extend(["--memo", "invoice 7", "--wait"]);
    let run = covenant(&args);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "refused by COV-34-ORDERED-NONCES (article 34): nonce 3 is out of order: the sender's next nonce is 2"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    let tx = node.submitted();
    assert_eq!(tx.body.chain_id.as_str(), "covenant-local");
    assert_eq!(tx.body.nonce, 3);
    assert_eq!(tx.signer, covenant_types::SecretKey::from_seed(&[7; 32]).public_key());
    let covenant_types::Payload::Transfer(transfer) = &tx.body.payload else { panic!("{:?}", tx.body.payload) };
    assert_eq!((transfer.amount, transfer.memo.as_str(), transfer.to.as_str()), (5, "invoice 7", "bank-1/treasury"));
    assert_eq!(node.paths(), ["GET /v1/status", "GET /v1/operators/bank-0.ops/nonce", "POST /v1/txs"]);

    // --json prints the API's answer; an explicit --nonce skips the nonce lookup.
    let node = fake_chain(
        json_answer(409, serde_json::json!({"error": "transaction is already known"})),
        json_answer(404, serde_json::json!({"error": "unknown"})),
    );
    let mut args = transfer_args(&key, &node.address, "5");
    args.extend(["--nonce", "11", "--json"]);
    let run = covenant(&args);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout.trim(), r#"{"error":"transaction is already known"}"#);
    assert!(run.stderr.contains("transaction is already known (HTTP 409)"), "{}", run.stderr);
    assert_eq!(node.submitted().body.nonce, 11);
    assert_eq!(node.paths(), ["GET /v1/status", "POST /v1/txs"]);
}

#[test]
fn cli_tx_wait_reports_commit_rejection_and_failure() {
    let (_dir, key) = key_dir();
    let accepted = json_answer(200, serde_json::json!({"hash": TX_HASH, "status": "pending"}));

    let committed = json_answer(
        200,
        serde_json::json!({"hash": TX_HASH, "status": "committed", "height": 9, "index": 2,
            "receipt": {"tx_hash": TX_HASH, "outcome": "Success", "fuel_used": 0}}),
    );
    let node = fake_chain(accepted.clone(), committed);
    let mut args = transfer_args(&key, &node.address, "5");
    args.push("--wait");
    let run = covenant(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{TX_HASH}\ncommitted at height 9 (index 2)\n"));
    assert!(node.paths().contains(&format!("GET /v1/txs/{TX_HASH}")), "{:?}", node.paths());

    let rejected = json_answer(
        200,
        serde_json::json!({"hash": TX_HASH, "status": "rejected", "error": "nonce 3 is out of order",
            "rule": "COV-34-ORDERED-NONCES", "article": 34}),
    );
    let node = fake_chain(accepted.clone(), rejected);
    let mut args = transfer_args(&key, &node.address, "5");
    args.push("--wait");
    let run = covenant(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.ends_with("rejected by COV-34-ORDERED-NONCES (article 34): nonce 3 is out of order\n"),
        "{}",
        run.stdout
    );

    let failed = json_answer(
        200,
        serde_json::json!({"hash": TX_HASH, "status": "committed", "height": 9, "index": 0,
            "receipt": {"tx_hash": TX_HASH, "fuel_used": 0,
                "outcome": {"Failed": {"rule": null, "reason": "insufficient funds"}}}}),
    );
    let node = fake_chain(accepted.clone(), failed);
    let run = covenant(&[
        "tx",
        "data",
        "--key",
        &key,
        "--operator",
        "bank-0.ops",
        "--schema",
        "demo.v1",
        "--text",
        "hello",
        "--api",
        &node.address,
        "--wait",
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.ends_with("committed at height 9 (index 0) but failed: insufficient funds\n"), "{}", run.stdout);
    let covenant_types::Payload::DataRecord(record) = &node.submitted().body.payload else { panic!() };
    assert_eq!(record.content, covenant_types::RecordContent::Inline(b"hello".to_vec()));
    assert_eq!(record.classification, covenant_types::Classification::Internal);

    // A transaction that stays pending ends --wait with a clear error after the timeout.
    let node = fake_chain(accepted, json_answer(200, serde_json::json!({"hash": TX_HASH, "status": "pending"})));
    let mut args = transfer_args(&key, &node.address, "5");
    args.extend(["--wait", "--wait-timeout", "1"]);
    let run = covenant(&args);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("transaction {TX_HASH} was not committed within 1 s (last status")),
        "{}",
        run.stderr
    );
}

#[test]
fn cli_query_prints_answers_and_fails_on_errors() {
    let node = FakeNode::start(|request| match request.path.as_str() {
        "/v1/status" => json_answer(200, serde_json::json!({"chain_id": "covenant-local", "height": 4})),
        "/v1/accounts/bank-1%2Ftreasury/balances/twd" => {
            json_answer(200, serde_json::json!({"account": "bank-1/treasury", "asset": "twd", "balance": 12}))
        }
        "/metrics" => (200, "text/plain; version=0.0.4", "# TYPE covenant_height gauge\ncovenant_height 4\n".into()),
        path if path.starts_with("/v1/txs/") => {
            json_answer(404, serde_json::json!({"error": format!("transaction {TX_HASH} is unknown to this node")}))
        }
        _ => (404, "text/plain", String::new()),
    });
    let run = covenant(&["query", "status", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "{\n  \"chain_id\": \"covenant-local\",\n  \"height\": 4\n}\n");
    let run = covenant(&["query", "--api", &node.address, "balance", "bank-1/treasury", "twd"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["balance"], 12);
    let run = covenant(&["query", "metrics", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "# TYPE covenant_height gauge\ncovenant_height 4\n");

    let run = covenant(&["query", "tx", TX_HASH, "--api", &node.address]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!("transaction {TX_HASH} is unknown to this node (HTTP 404)")),
        "{}",
        run.stderr
    );
    let run = covenant(&["tx", "status", TX_HASH, "--api", &node.address]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("is unknown to this node"), "{}", run.stderr);
    let run = covenant(&["query", "params", "--api", &node.address]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("GET /v1/params"), "{}", run.stderr);
    assert!(run.stderr.contains("no such route"), "{}", run.stderr);
    assert!(node.paths().contains(&"GET /v1/accounts/bank-1%2Ftreasury/balances/twd".to_string()));
}
