//! `covenant gov`, `member`, `operator` and `node-admin`, run as an operator would: local checks that
//! refuse typos before any node is contacted, the signed proposal a scripted fake node receives, and
//! how votes, statuses and lists are printed.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use covenant_types::{GovernanceAction, NodeRole, Payload, Role, SecretKey, SignedTx};

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

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

const DAY_MS: u64 = 24 * 3_600_000;
/// Fake proposals expire 23 h 30 min 30 s after they are served: shown as `23h 30m` even if the command reads
/// its clock a few seconds later (or, on a coarse clock, a little earlier).
const EXPIRES_IN_MS: u64 = (23 * 60 + 30) * 60_000 + 30_000;
const TX_HASH: &str = "94ebe13b77f41bec662bc0dc86823b01474b02c35d5d5c561654c7d42538af0e";

// ---- a scripted fake node ----

/// A request the fake node received.
#[derive(Debug, Clone)]
struct FakeRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

type Answer = (u16, String);

/// A fake node API on 127.0.0.1 that answers each request with `answer(request)` and records it.
struct FakeNode {
    address: String,
    requests: Arc<Mutex<Vec<FakeRequest>>>,
}

impl FakeNode {
    fn start(answer: impl Fn(&FakeRequest) -> Answer + Send + 'static) -> FakeNode {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                    continue;
                }
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
                let (status, text) = answer(&request);
                log.lock().unwrap().push(request);
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n",
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

    fn submitted(&self) -> SignedTx {
        let requests = self.requests.lock().unwrap();
        let post = requests.iter().find(|request| request.method == "POST").expect("a transaction was submitted");
        SignedTx::decode(&post.body).unwrap()
    }
}

fn json_answer(status: u16, body: Value) -> Answer {
    (status, body.to_string())
}

/// A proposal as `GET /v1/proposals/{id}` shows it.
fn proposal_json(status: &str, members: u64, persons: u64) -> Value {
    json!({
        "id": TX_HASH, "class": "nodes", "action": {"ChangeNodeRole": {"node": "validator-4", "role": "validator"}},
        "reason": "synced, vote it in", "expires_at_ms": now_ms() + EXPIRES_IN_MS, "opened_at_ms": now_ms() - 60_000,
        "proposer": {"operator": "bank-0.admin", "person": "admin-0", "member": "bank-0", "height": 8},
        "approvals": (0..persons).map(|index| json!({"operator": format!("bank-{}.admin", index + 1),
            "person": format!("admin-{}", index + 1), "member": format!("bank-{}", index + 1), "height": 9}))
            .collect::<Vec<_>>(),
        "rejections": [], "status": status,
        "closed_at_height": if status == "open" { Value::Null } else { json!(9) },
        "failure": if status == "failed" {
            json!({"rule": "COV-15-CHANGE-BY-CONSENSUS", "reason": "the validators would lose their quorum"})
        } else { Value::Null },
        "members_required": 3, "approving_members": members, "approving_persons": persons,
        "approving_persons_required": 2,
    })
}

/// A fake node on chain covenant-local where bank-0.admin's next nonce is 3: `submit` answers the POST,
/// `tx` the transaction status and `proposal` every `GET /v1/proposals/...`.
fn fake_chain(submit: Answer, tx: Answer, proposal: Answer) -> FakeNode {
    FakeNode::start(move |request| match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/v1/status") => json_answer(200, json!({"chain_id": "covenant-local", "height": 8})),
        ("GET", "/v1/operators/bank-0.admin/nonce") => json_answer(200, json!({"next_nonce": 3})),
        ("POST", "/v1/txs") => submit.clone(),
        ("GET", path) if path.starts_with("/v1/txs/") => tx.clone(),
        ("GET", path) if path.starts_with("/v1/proposals/") => proposal.clone(),
        _ => (404, String::new()),
    })
}

fn accepted() -> Answer {
    json_answer(200, json!({"hash": TX_HASH, "status": "pending"}))
}

fn committed() -> Answer {
    json_answer(
        200,
        json!({"hash": TX_HASH, "status": "committed", "height": 9, "index": 0,
            "receipt": {"tx_hash": TX_HASH, "outcome": "Success", "fuel_used": 0}}),
    )
}

/// Key files in a temporary directory: the signer bank-0.admin (seed 07) and a new operator (seed 0b).
struct Keys {
    _dir: tempfile::TempDir,
    admin: String,
    new_operator: String,
    network: String,
    consensus: String,
}

fn keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: u8| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{}\n", hex::encode([seed; 32]))).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        path.to_str().unwrap().to_string()
    };
    Keys {
        admin: write("bank-0.admin.key", 7),
        new_operator: write("bank-1.audit.key", 11),
        network: write("validator-4.network.key", 12),
        consensus: write("validator-4.consensus.key", 13),
        _dir: dir,
    }
}

fn public_hex(seed: u8) -> String {
    SecretKey::from_seed(&[seed; 32]).public_key().to_hex()
}

/// An address where nothing listens (a port just released).
fn closed_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address.to_string()
}

fn with_signer<'a>(args: &[&'a str], keys: &'a Keys, api: &'a str) -> Vec<&'a str> {
    [args, &["--key", &keys.admin, "--operator", "bank-0.admin", "--api", api]].concat()
}

/// The proposal a fake node received, checked for chain, signer and nonce.
fn proposed_action(node: &FakeNode) -> (GovernanceAction, String, u64) {
    let tx = node.submitted();
    assert_eq!(tx.body.chain_id.as_str(), "covenant-local");
    assert_eq!(tx.body.nonce, 3);
    assert_eq!(tx.signer, SecretKey::from_seed(&[7; 32]).public_key());
    let operator = covenant_types::OperatorId::new("bank-0.admin").unwrap();
    assert_eq!(tx.body.sender, covenant_types::Principal::Operator(operator));
    let Payload::GovernancePropose(proposal) = tx.body.payload else { panic!("{:?}", tx.body.payload) };
    (proposal.action, proposal.reason, proposal.expires_at_ms)
}

// ---- local checks ----

#[test]
fn gov_cli_refuses_bad_arguments_before_contacting_a_node() {
    let keys = keys();
    // Nothing listens here, so an error that is not about the arguments would say "cannot reach".
    let api = closed_address();
    let register = |roles: &'static str, days: &'static str| -> Vec<String> {
        ["operator", "register", "--id", "bank-1.audit", "--person", "carol", "--member", "bank-1", "--roles", roles]
            .into_iter()
            .chain(["--expires-in-days", days])
            .map(str::to_string)
            .collect()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            [register("admin,auditor", "30"), vec!["--public-key".into(), public_hex(11)]].concat(),
            "--roles: roles Admin and Auditor must not be held by the same operator (COV-12-ROLE-SEPARATION",
        ),
        ([register("admin", "91"), vec!["--public-key".into(), public_hex(11)]].concat(), "COV-11-CREDENTIAL-EXPIRY"),
        (
            [register("admin", "30"), vec!["--public-key".into(), "zz".into()]].concat(),
            "--public-key \"zz\": not a valid",
        ),
        ([register("root", "30"), vec!["--public-key".into(), public_hex(11)]].concat(), "unknown role \"root\""),
        (register("admin", "30"), "the following required arguments were not provided"),
        (
            [register("admin", "30"), vec!["--public-key".into(), public_hex(11), "--key-file".into(), "x".into()]]
                .concat(),
            "cannot be used with",
        ),
        (
            ["member", "admit", "--member", "bank-4", "--name", "Bank 4", "--jurisdiction", "tw"]
                .map(String::from)
                .to_vec(),
            "--jurisdiction: jurisdiction \"tw\" is not an ISO 3166-1 alpha-2 code",
        ),
        (["member", "suspend", "Bank 3"].map(String::from).to_vec(), "invalid member id \"Bank 3\""),
        (["gov", "propose", "sanction", "KP", "--none"].map(String::from).to_vec(), "cannot be used with"),
        (["gov", "propose", "sanction", "KP,Iran"].map(String::from).to_vec(), "\"Iran\" is not an ISO 3166-1"),
        (["gov", "propose", "set-param", "block_tx_max", "5"].map(String::from).to_vec(), "unknown parameter"),
        (
            ["gov", "propose", "set-param", "audit_retention_days", "30"].map(String::from).to_vec(),
            "outside its covenant bound [365, 36500]",
        ),
        (["gov", "propose", "set-threshold", "nodes", "1"].map(String::from).to_vec(), "COV-18-NO-SUPERUSER"),
        (["gov", "propose", "set-threshold", "node", "3"].map(String::from).to_vec(), "unknown action class \"node\""),
        (
            ["node-admin", "add", "--id", "validator-4", "--member", "bank-4", "--role", "leader"]
                .map(String::from)
                .to_vec(),
            "possible values: validator, observer",
        ),
        (
            ["node-admin", "add", "--id", "validator-4", "--member", "bank-4", "--role", "observer"]
                .into_iter()
                .map(String::from)
                .chain(["--network-key".into(), public_hex(12), "--consensus-key".into(), public_hex(12)])
                .collect(),
            "a node needs two distinct keys",
        ),
        (
            ["node-admin", "set-role", "validator-4", "--role", "observer", "--expires-in-hours", "0"]
                .map(String::from)
                .to_vec(),
            "--expires-in-hours 0: ",
        ),
        (
            ["gov", "propose", "register-schema", "loan.v1", "--definition", "/nonexistent/loan.json"]
                .map(String::from)
                .to_vec(),
            "--definition /nonexistent/loan.json",
        ),
        (["gov", "approve", "zz"].map(String::from).to_vec(), "proposal id \"zz\""),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = covenant(&with_signer(&args, &keys, &api));
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(expected), "{args:?}: expected {expected:?} in:\n{}", run.stderr);
        assert!(!run.stderr.contains("cannot reach"), "{args:?} contacted the node:\n{}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }

    // The signer's key file and id are checked before the node is contacted too.
    let run = covenant(&[
        "member",
        "suspend",
        "bank-3",
        "--key",
        "/nonexistent.key",
        "--operator",
        "bank-0.admin",
        "--api",
        &api,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("key file /nonexistent.key: cannot read"), "{}", run.stderr);
    let run = covenant(&["member", "suspend", "bank-3", "--key", &keys.admin, "--operator", "Bank 0", "--api", &api]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--operator: invalid operator id \"Bank 0\""), "{}", run.stderr);
    let run = covenant(&["gov", "show", "zz", "--api", &api]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("proposal id \"zz\""), "{}", run.stderr);

    // With valid arguments the only error left is the missing node, named with its address.
    let run = covenant(&with_signer(&["member", "suspend", "bank-3"], &keys, &api));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("cannot reach the node API at http://{api} (GET /v1/status)")),
        "{}",
        run.stderr
    );
}

// ---- the submit path ----

#[test]
fn gov_cli_propose_signs_the_action_for_the_node_chain_and_nonce() {
    let keys = keys();
    let node = fake_chain(accepted(), committed(), json_answer(404, json!({"error": "no proposal"})));
    let before = now_ms();
    let run = covenant(&with_signer(
        &[
            "operator",
            "register",
            "--id",
            "bank-1.audit",
            "--person",
            "carol",
            "--member",
            "bank-1",
            "--roles",
            "auditor",
            "--key-file",
            &keys.new_operator,
            "--expires-in-days",
            "30",
            "--reason",
            "internal audit needs read access",
            "--expires-in-hours",
            "48",
        ],
        &keys,
        &node.address,
    ));
    let after = now_ms();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{TX_HASH}\n"));
    assert_eq!(node.paths(), ["GET /v1/status", "GET /v1/operators/bank-0.admin/nonce", "POST /v1/txs"]);
    let (action, reason, expires_at_ms) = proposed_action(&node);
    assert_eq!(reason, "internal audit needs read access");
    assert!((before + 47 * 3_600_000..=after + 48 * 3_600_000).contains(&expires_at_ms), "{expires_at_ms}");
    let GovernanceAction::RegisterOperator(record) = action else { panic!("{action:?}") };
    assert_eq!(
        (record.id.as_str(), record.person.as_str(), record.member.as_str()),
        ("bank-1.audit", "carol", "bank-1")
    );
    assert_eq!(record.roles, [Role::Auditor]);
    assert_eq!(record.key.to_hex(), public_hex(11));
    assert!(
        (before + 29 * DAY_MS..=after + 30 * DAY_MS).contains(&record.key_expires_at_ms),
        "{}",
        record.key_expires_at_ms
    );

    // The same change through `gov propose`, and the other actions, each reach the node as proposed.
    let cases: Vec<(Vec<&str>, GovernanceAction)> = vec![
        (
            vec!["gov", "propose", "suspend-member", "bank-3"],
            GovernanceAction::SuspendMember(covenant_types::MemberId::new("bank-3").unwrap()),
        ),
        (
            vec!["member", "admit", "--member", "bank-4", "--name", "Test Bank 4", "--jurisdiction", "TW"],
            GovernanceAction::AdmitMember {
                member: covenant_types::MemberId::new("bank-4").unwrap(),
                name: "Test Bank 4".into(),
                jurisdiction: covenant_types::Jurisdiction::new("TW").unwrap(),
            },
        ),
        (vec!["gov", "propose", "sanction", "--none"], GovernanceAction::SetSanctionedJurisdictions(Vec::new())),
        (
            vec!["operator", "revoke", "bank-2.ops"],
            GovernanceAction::RevokeOperator(covenant_types::OperatorId::new("bank-2.ops").unwrap()),
        ),
        (
            vec!["gov", "propose", "set-param", "block_txs_max", "5000"],
            GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 5000 },
        ),
        (
            vec!["node-admin", "set-role", "validator-4", "--role", "validator"],
            GovernanceAction::ChangeNodeRole {
                node: covenant_types::NodeId::new("validator-4").unwrap(),
                role: NodeRole::Validator,
            },
        ),
        (
            vec!["gov", "propose", "set-threshold", "operators", "3"],
            GovernanceAction::SetThreshold { class: "operators".into(), members: 3 },
        ),
        (
            vec!["node-admin", "add", "--id", "validator-4", "--member", "bank-4", "--role", "observer"]
                .into_iter()
                .chain(["--network-key-file", &keys.network, "--consensus-key-file", &keys.consensus])
                .collect(),
            GovernanceAction::AddNode(covenant_types::NodeRecord {
                id: covenant_types::NodeId::new("validator-4").unwrap(),
                member: covenant_types::MemberId::new("bank-4").unwrap(),
                role: NodeRole::Observer,
                network_key: SecretKey::from_seed(&[12; 32]).public_key(),
                consensus_key: SecretKey::from_seed(&[13; 32]).public_key(),
            }),
        ),
    ];
    for (args, expected) in cases {
        let node = fake_chain(accepted(), committed(), json_answer(404, json!({"error": "no proposal"})));
        let run = covenant(&with_signer(&args, &keys, &node.address));
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        let (action, reason, _) = proposed_action(&node);
        assert_eq!(action, expected, "{args:?}");
        assert_eq!(reason, "");
    }
}

#[test]
fn gov_cli_refusals_and_wait_report_the_proposal() {
    let keys = keys();
    // A refusal at submission names the rule and article, exit code 1.
    let refusal = json_answer(
        422,
        json!({"error": "operator bank-0.ops lacks the admin role", "rule": "COV-12-ROLE-SEPARATION", "article": 12}),
    );
    let node = fake_chain(refusal, committed(), json_answer(404, json!({"error": "no proposal"})));
    let run = covenant(&with_signer(&["member", "remove", "bank-3", "--wait"], &keys, &node.address));
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.stderr.trim(),
        "refused by COV-12-ROLE-SEPARATION (article 12): operator bank-0.ops lacks the admin role"
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // Proposed and waited for: the commit, then where the proposal stands.
    let node = fake_chain(accepted(), committed(), json_answer(200, proposal_json("open", 1, 0)));
    let run = covenant(&with_signer(
        &["node-admin", "set-role", "validator-4", "--role", "validator", "--wait"],
        &keys,
        &node.address,
    ));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!("{TX_HASH}\ncommitted at height 9 (index 0)\nopen: 1 of 3 members, 0 of 2 persons\n")
    );
    assert_eq!(node.paths().last().unwrap(), &format!("GET /v1/proposals/{TX_HASH}"));

    // An approval that executes it; the vote names the proposal, not the vote's own hash.
    let proposal_id = "ab".repeat(32);
    let node = fake_chain(accepted(), committed(), json_answer(200, proposal_json("executed", 3, 2)));
    let run = covenant(&with_signer(&["gov", "approve", &proposal_id, "--wait"], &keys, &node.address));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, format!("{TX_HASH}\ncommitted at height 9 (index 0)\nexecuted at height 9\n"));
    assert_eq!(node.paths().last().unwrap(), &format!("GET /v1/proposals/{proposal_id}"));
    let Payload::GovernanceApprove(id) = node.submitted().body.payload else { panic!() };
    assert_eq!(id.to_hex(), proposal_id);

    // One that passes but no longer applies: failed, with the rule, exit code 1.
    let node = fake_chain(accepted(), committed(), json_answer(200, proposal_json("failed", 3, 2)));
    let run = covenant(&with_signer(&["gov", "approve", &proposal_id, "--wait"], &keys, &node.address));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .ends_with("failed: COV-15-CHANGE-BY-CONSENSUS (article 15): the validators would lose their quorum\n"),
        "{}",
        run.stdout
    );

    // A vote refused when its block executes it (e.g. the proposal expired meanwhile).
    let rejected = json_answer(
        200,
        json!({"hash": TX_HASH, "status": "committed", "height": 9, "index": 1,
            "receipt": {"tx_hash": TX_HASH, "fuel_used": 0,
                "outcome": {"Failed": {"rule": "COV-15-CHANGE-BY-CONSENSUS", "reason": "proposal expired"}}}}),
    );
    let node = fake_chain(accepted(), rejected, json_answer(200, proposal_json("expired", 1, 0)));
    let run = covenant(&with_signer(&["gov", "reject", &proposal_id, "--wait"], &keys, &node.address));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("committed at height 9 (index 1) but failed by COV-15"), "{}", run.stdout);
    assert!(!node.paths().iter().any(|path| path.starts_with("GET /v1/proposals/")), "{:?}", node.paths());

    // Withdraw, with --json: one API answer per line.
    let node = fake_chain(accepted(), committed(), json_answer(200, proposal_json("withdrawn", 1, 0)));
    let run = covenant(&with_signer(&["gov", "withdraw", &proposal_id, "--wait", "--json"], &keys, &node.address));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<Value> = run.stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!((lines[1]["status"].as_str(), lines[2]["status"].as_str()), (Some("committed"), Some("withdrawn")));
    let Payload::GovernanceWithdraw(_) = node.submitted().body.payload else { panic!() };
}

// ---- read-only commands ----

#[test]
fn gov_cli_show_and_list_render_proposals() {
    let known = format!("/v1/proposals/{TX_HASH}");
    let node = FakeNode::start(move |request| match request.path.as_str() {
        "/v1/proposals?status=open&limit=1024" => {
            json_answer(200, json!({"proposals": [proposal_json("open", 2, 1)], "next": null}))
        }
        // Two pages: the CLI follows `next`.
        "/v1/proposals?status=all&limit=1024" => {
            json_answer(200, json!({"proposals": [proposal_json("open", 2, 1)], "next": TX_HASH}))
        }
        path if path == format!("/v1/proposals?status=all&limit=1024&after={TX_HASH}") => {
            json_answer(200, json!({"proposals": [proposal_json("executed", 3, 2)], "next": null}))
        }
        path if path == known => json_answer(200, proposal_json("open", 2, 1)),
        path if path.starts_with("/v1/proposals/") => json_answer(404, json!({"error": "no proposal 00"})),
        "/v1/operators" => json_answer(
            200,
            json!({"operators": [{"id": "bank-0.admin", "person": "admin-0", "member": "bank-0", "roles": ["admin"],
                "key": public_hex(7), "key_expires_at_ms": now_ms() + 30 * DAY_MS, "revoked": false},
                {"id": "bank-1.ops", "person": "ops-1", "member": "bank-1", "roles": ["submitter"],
                "key": public_hex(8), "key_expires_at_ms": now_ms() + DAY_MS, "revoked": true}]}),
        ),
        "/v1/members" => json_answer(
            200,
            json!({"members": [{"id": "bank-0", "name": "Test Bank 0", "jurisdiction": "TW", "status": "active"}]}),
        ),
        _ => (404, String::new()),
    });

    let run = covenant(&["gov", "show", TX_HASH, "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        format!("proposal    {TX_HASH}"),
        "action      make node validator-4 a validator".to_string(),
        "class       nodes (3 members must approve)".to_string(),
        "reason      synced, vote it in".to_string(),
        "proposer    bank-0.admin (admin-0 of bank-0) at height 8".to_string(),
        "approvals   bank-1.admin (admin-1 of bank-1) at height 9".to_string(),
        "rejections  none".to_string(),
        "status      open: 2 of 3 members, 1 of 2 persons".to_string(),
    ] {
        assert!(run.stdout.lines().any(|text| text == line), "no line {line:?} in:\n{}", run.stdout);
    }
    assert!(run.stdout.contains(" (in 23h 30m)\n"), "{}", run.stdout);

    let run = covenant(&["gov", "show", &"00".repeat(32), "--api", &node.address]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("no proposal 00 (HTTP 404)"), "{}", run.stderr);
    let run = covenant(&["gov", "show", TX_HASH, "--json", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap()["status"], "open");

    let run = covenant(&["gov", "list", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    assert!(lines[0].starts_with("ID ") && lines[0].contains("MEMBERS  PERSONS  STATUS"), "{}", run.stdout);
    assert!(lines[1].starts_with(TX_HASH) && lines[1].contains("nodes  2/3      1/2      open, expires in 23h 30m"));
    assert!(lines[1].ends_with("make node validator-4 a validator"), "{}", run.stdout);
    let run = covenant(&["gov", "list", "--all", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.lines().nth(2).unwrap().contains("3/3      2/2      executed at height 9"), "{}", run.stdout);

    let run = covenant(&["operator", "list", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("ID            PERSON   MEMBER  ROLES      KEY EXPIRES (UTC)"), "{}", run.stdout);
    assert!(lines[1].starts_with("bank-0.admin  admin-0  bank-0  admin") && lines[1].contains("  active  "));
    assert!(lines[2].contains("  revoked  "), "{}", run.stdout);
    let run = covenant(&["member", "list", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "ID      NAME         JURISDICTION  STATUS\nbank-0  Test Bank 0  TW            active\n");
    assert_eq!(
        node.paths()[..3],
        [
            format!("GET /v1/proposals/{TX_HASH}"),
            format!("GET /v1/proposals/{}", "00".repeat(32)),
            format!("GET /v1/proposals/{TX_HASH}")
        ]
    );
}

#[test]
fn operator_list_expiring_shows_the_keys_to_rotate_soonest_first() {
    let node = FakeNode::start(move |request| match request.path.as_str() {
        "/v1/operators" => json_answer(
            200,
            json!({"operators": [
                {"id": "bank-0.admin", "person": "admin-0", "member": "bank-0", "roles": ["admin"],
                 "key": public_hex(7), "key_expires_at_ms": now_ms() + 30 * DAY_MS, "revoked": false},
                {"id": "bank-1.admin", "person": "admin-1", "member": "bank-1", "roles": ["admin"],
                 "key": public_hex(8), "key_expires_at_ms": now_ms() + 3 * DAY_MS, "revoked": false},
                {"id": "bank-1.ops", "person": "ops-1", "member": "bank-1", "roles": ["submitter"],
                 "key": public_hex(9), "key_expires_at_ms": now_ms() + DAY_MS, "revoked": true},
                {"id": "bank-2.ops", "person": "ops-2", "member": "bank-2", "roles": ["submitter"],
                 "key": public_hex(10), "key_expires_at_ms": now_ms() - DAY_MS, "revoked": false}]}),
        ),
        _ => (404, String::new()),
    });
    let run = covenant(&["operator", "list", "--expiring", "14", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "the header, the expired key and the one within 14 days:\n{}", run.stdout);
    assert!(lines[0].starts_with("ID ") && lines[0].contains("KEY EXPIRES (UTC)"), "{}", run.stdout);
    assert!(lines[1].starts_with("bank-2.ops    ops-2    bank-2  submitter") && lines[1].contains("  key expired  "));
    assert!(lines[2].starts_with("bank-1.admin  admin-1  bank-1  admin") && lines[2].contains("  active  "));
    let run = covenant(&["operator", "list", "--expiring", "0", "--api", &node.address]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 2, "only the expired key:\n{}", run.stdout);
    let run = covenant(&["operator", "list", "--expiring", "31", "--api", &node.address]);
    assert_eq!(run.stdout.lines().count(), 4, "every key not revoked:\n{}", run.stdout);
    let run = covenant(&["operator", "list", "--expiring", "soon", "--api", &node.address]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}
