//! Contracts end to end with real processes (docs/contracts.md): on a four-validator consortium, the
//! example settlement escrow and KYC registry of `examples/contracts` are proposed (one with the
//! `covenant contract` command, one through the API), voted in, and used by the members' operators; a
//! call before the vote executed is refused (COV-28), a caller outside a function's policy is refused
//! (COV-31), a contract paused by an emergency vote is refused (COV-27), and the four node processes,
//! which executed every call themselves, hold the same chain (block hashes commit to the state roots)
//! and the same contract state.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use covenant_client::operator_tx;
use covenant_tests::{Consortium, covenant_binary, now_ms};
use covenant_types::*;

const CHAIN: &str = "covenant-local";
const DAY_MS: u64 = 86_400_000;
const VOTE_TIMEOUT: Duration = Duration::from_secs(60);
const FUEL: u64 = 1_000_000;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/contracts")
}

fn read_key(consortium: &Consortium, name: &str) -> SecretKey {
    let text = std::fs::read_to_string(consortium.key_file(name)).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).unwrap();
    SecretKey::from_seed(&seed)
}

/// Signs and submits `payload` as `operator` through node `via`; the node's answer (2xx or a refusal).
fn submit(consortium: &Consortium, via: usize, operator: &str, payload: Payload) -> covenant_client::Response {
    let api = &consortium.apis[via];
    let nonce = api.get(&format!("/v1/operators/{operator}/nonce")).unwrap().body["next_nonce"].as_u64().unwrap();
    let tx = operator_tx(
        &ChainId::new(CHAIN).unwrap(),
        &OperatorId::new(operator).unwrap(),
        &read_key(consortium, operator),
        nonce,
        now_ms(),
        payload,
    );
    api.submit(&tx).unwrap()
}

/// Submits `payload`, which must be admitted; returns its hash.
fn send(consortium: &Consortium, via: usize, operator: &str, payload: Payload) -> Hash {
    let response = submit(consortium, via, operator, payload);
    assert!(response.is_success(), "{operator} refused: {:?}", response.body);
    Hash::from_hex(response.body["hash"].as_str().unwrap()).unwrap()
}

/// The rule a node names when it refuses `payload` from `operator` at submission.
fn refusal(consortium: &Consortium, via: usize, operator: &str, payload: Payload) -> String {
    let response = submit(consortium, via, operator, payload);
    assert!(!response.is_success(), "expected a refusal, got {:?}", response.body);
    response.body["rule"].as_str().unwrap_or("no rule").to_string()
}

fn wait_for(what: &str, consortium: &Consortium, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + VOTE_TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", consortium.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The committed receipt of transaction `hash` on node `via`, once it is committed.
fn receipt(consortium: &Consortium, via: usize, hash: &Hash) -> serde_json::Value {
    let mut answer = serde_json::Value::Null;
    wait_for(&format!("transaction {hash} to commit"), consortium, || {
        answer = consortium.apis[via].get(&format!("/v1/txs/{hash}")).map(|r| r.body).unwrap_or_default();
        answer["status"] == "committed"
    });
    answer["receipt"].clone()
}

fn proposal_status(consortium: &Consortium, id: &Hash) -> Option<String> {
    let response = consortium.apis[0].get(&format!("/v1/proposals/{id}")).ok()?;
    response.body["status"].as_str().map(str::to_string)
}

fn approvals(consortium: &Consortium, id: &Hash) -> usize {
    consortium.apis[0]
        .get(&format!("/v1/proposals/{id}"))
        .ok()
        .and_then(|r| r.body["approvals"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// bank-1's and bank-2's admins approve proposal `id` (with bank-0's, three members and two persons
/// besides the proposer), each vote committed before the next; waits until it executed.
fn approve_twice(consortium: &Consortium, id: Hash) {
    send(consortium, 1, "bank-1.admin", Payload::GovernanceApprove(id));
    wait_for("the first approval", consortium, || approvals(consortium, &id) == 1);
    send(consortium, 2, "bank-2.admin", Payload::GovernanceApprove(id));
    wait_for("the proposal to execute", consortium, || proposal_status(consortium, &id).as_deref() == Some("executed"));
}

/// bank-0's admin proposes `action` through the API; bank-1 and bank-2 approve.
fn pass(consortium: &Consortium, action: GovernanceAction) {
    let proposal = Proposal { action, reason: "contracts test".into(), expires_at_ms: now_ms() + DAY_MS };
    let id = send(consortium, 0, "bank-0.admin", Payload::GovernancePropose(Box::new(proposal)));
    wait_for("the proposal to be on chain", consortium, || proposal_status(consortium, &id).is_some());
    approve_twice(consortium, id);
}

/// Runs `covenant ARGS --api <node via>`: exit code, stdout, stderr.
fn cli(consortium: &Consortium, via: usize, args: &[&str]) -> (i32, String, String) {
    let api = consortium.apis[via].address().to_string();
    let output = Command::new(covenant_binary()).args(args).args(["--api", &api]).output().expect("covenant runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

fn key_arg(consortium: &Consortium, name: &str) -> String {
    consortium.key_file(name).display().to_string()
}

/// `covenant contract call` as `operator`, waiting for the outcome.
fn call(
    consortium: &Consortium,
    via: usize,
    operator: &str,
    contract: &str,
    function: &str,
    input: &[u8],
) -> (i32, String, String) {
    let key = key_arg(consortium, operator);
    let input = hex::encode(input);
    let fuel = FUEL.to_string();
    let args = [
        "contract",
        "call",
        contract,
        function,
        "--input-hex",
        &input,
        "--fuel",
        &fuel,
        "--key",
        &key,
        "--operator",
        operator,
        "--wait",
        "--wait-timeout",
        "60",
    ];
    cli(consortium, via, &args)
}

fn call_payload(contract: &str, function: &str, input: &[u8]) -> Payload {
    Payload::ContractCall(ContractCall {
        contract: ContractId::new(contract).unwrap(),
        function: function.into(),
        input: input.to_vec(),
        fuel_limit: FUEL,
    })
}

fn deposit_input(id: u64, amount: u64, deadline_ms: u64, counterparty: &str) -> Vec<u8> {
    [&id.to_le_bytes()[..], &amount.to_le_bytes(), &deadline_ms.to_le_bytes(), counterparty.as_bytes()].concat()
}

/// The escrow record `id` as node `via` stores it (hex), read with `covenant contract storage`.
fn escrow_record(consortium: &Consortium, via: usize, id: u64) -> String {
    let key = hex::encode([&b"e"[..], &id.to_le_bytes()].concat());
    let (code, out, err) = cli(consortium, via, &["contract", "storage", "escrow", "--key-hex", &key]);
    assert_eq!(code, 0, "{out}{err}");
    out.trim().to_string()
}

// covers: COV-28-CONTRACT-ADMISSION, COV-27-CONTRACT-LIFECYCLE, COV-31-FUNCTION-ACL, COV-29-FUEL
#[test]
fn contracts_are_voted_in_called_paused_and_executed_alike_by_four_nodes() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));

    // The contracts' steward (COV-26): an operator of bank-0 with the contract_steward role, voted in.
    let steward_file = consortium.key_file("bank-0.steward");
    let output = Command::new(covenant_binary()).args(["keygen", "--out"]).arg(&steward_file).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    pass(
        &consortium,
        GovernanceAction::RegisterOperator(OperatorRecord {
            id: OperatorId::new("bank-0.steward").unwrap(),
            person: PersonId::new("steward-0").unwrap(),
            member: MemberId::new("bank-0").unwrap(),
            roles: vec![Role::ContractSteward],
            key: read_key(&consortium, "bank-0.steward").public_key(),
            key_expires_at_ms: now_ms() + 30 * DAY_MS,
        }),
    );

    // The escrow, proposed with the command (the WebAssembly text is compiled and checked locally).
    let code = examples().join("escrow.wat").display().to_string();
    let manifest = examples().join("escrow.toml").display().to_string();
    let admin = key_arg(&consortium, "bank-0.admin");
    let (status, out, err) = cli(
        &consortium,
        0,
        &[
            "contract",
            "propose",
            "admit",
            "escrow",
            "--code",
            &code,
            "--manifest",
            &manifest,
            "--reason",
            "settlement escrow",
            "--key",
            &admin,
            "--operator",
            "bank-0.admin",
            "--wait",
        ],
    );
    assert_eq!(status, 0, "{out}{err}");
    let proposal = Hash::from_hex(out.lines().next().unwrap().trim()).unwrap();
    assert!(out.contains("open: 1 of 3 members"), "{out}");

    // COV-28: until the vote executes, nobody can call it.
    let deposit = deposit_input(1, 25_000, now_ms() + DAY_MS, "bank-1");
    assert_eq!(
        refusal(&consortium, 0, "bank-0.ops", call_payload("escrow", "deposit", &deposit)),
        "COV-28-CONTRACT-ADMISSION"
    );
    send(&consortium, 1, "bank-1.admin", Payload::GovernanceApprove(proposal));
    wait_for("the first approval", &consortium, || approvals(&consortium, &proposal) == 1);
    let (status, _, err) = call(&consortium, 0, "bank-0.ops", "escrow", "deposit", &deposit);
    assert_eq!(status, 1);
    assert!(err.contains("refused by COV-28-CONTRACT-ADMISSION (article 28)"), "{err}");
    send(&consortium, 2, "bank-2.admin", Payload::GovernanceApprove(proposal));
    wait_for("the escrow's admission", &consortium, || {
        proposal_status(&consortium, &proposal).as_deref() == Some("executed")
    });

    // The registry, proposed through the API with the command's own file readers.
    let registry_code = covenant_node::commands::contract::read_code(&examples().join("registry.wat")).unwrap();
    let registry_manifest =
        covenant_node::commands::contract::read_manifest(&examples().join("registry.toml")).unwrap();
    pass(
        &consortium,
        GovernanceAction::AdmitContract {
            contract: ContractId::new("kyc-registry").unwrap(),
            code: registry_code,
            manifest: registry_manifest.encode(),
        },
    );
    let (status, out, err) = cli(&consortium, 3, &["contract", "list"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("escrow") && out.contains("kyc-registry") && out.contains("bank-0.steward"), "{out}");
    let (status, out, _) = cli(&consortium, 3, &["contract", "show", "escrow"]);
    assert_eq!(status, 0);
    assert!(
        out.contains("status     active") && out.contains("release: role submitter, role contract_steward"),
        "{out}"
    );

    // The escrow: bank-0 deposits for bank-1; only bank-1 (or a steward) releases.
    let (status, out, err) = call(&consortium, 0, "bank-0.ops", "escrow", "deposit", &deposit);
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("fuel used: ") && out.contains("event from escrow:"), "{out}");
    let (status, out, _) = call(&consortium, 2, "bank-2.ops", "escrow", "release", &1u64.to_le_bytes());
    assert_eq!(status, 1);
    assert!(out.contains("but failed: escrow aborted: not the counterparty or a steward"), "{out}");
    // An admin is outside the function's policy (COV-31): refused before it costs a nonce.
    let release = call_payload("escrow", "release", &1u64.to_le_bytes());
    assert_eq!(refusal(&consortium, 1, "bank-1.admin", release), "COV-31-FUNCTION-ACL");
    let (status, out, err) = call(&consortium, 1, "bank-1.ops", "escrow", "release", &1u64.to_le_bytes());
    assert_eq!(status, 0, "{out}{err}");
    assert!(escrow_record(&consortium, 3, 1).starts_with("01"), "released");

    // A refund waits for the deadline, in block time.
    let deadline = now_ms() + 6_000;
    let (status, out, err) =
        call(&consortium, 0, "bank-0.ops", "escrow", "deposit", &deposit_input(2, 700, deadline, "bank-3"));
    assert_eq!(status, 0, "{out}{err}");
    let early = send(&consortium, 0, "bank-0.ops", call_payload("escrow", "refund", &2u64.to_le_bytes()));
    let early = receipt(&consortium, 0, &early);
    assert!(early["outcome"]["Failed"]["reason"].as_str().unwrap().ends_with("deadline not reached"), "{early}");
    while now_ms() < deadline + 500 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, out, err) = call(&consortium, 0, "bank-0.ops", "escrow", "refund", &2u64.to_le_bytes());
    assert_eq!(status, 0, "{out}{err}");
    assert!(escrow_record(&consortium, 2, 2).starts_with("02"), "refunded");

    // A call that runs out of fuel fails with COV-29-FUEL and burns its whole limit.
    let starved = Payload::ContractCall(ContractCall {
        contract: ContractId::new("escrow").unwrap(),
        function: "get".into(),
        input: 1u64.to_le_bytes().to_vec(),
        fuel_limit: 11_500,
    });
    let starved = receipt(&consortium, 0, &send(&consortium, 0, "bank-3.ops", starved));
    assert_eq!(starved["outcome"]["Failed"]["rule"], "COV-29-FUEL", "{starved}");
    assert_eq!(starved["fuel_used"], 11_500);

    // The registry: bank-0's submitter shares an entry, bank-1's reads it.
    let entry = [&[9u8][..], b"cust-7781", b"kyc:ok;grade=A"].concat();
    let (status, out, err) = call(&consortium, 0, "bank-0.ops", "kyc-registry", "put", &entry);
    assert_eq!(status, 0, "{out}{err}");
    let (status, out, err) = call(&consortium, 1, "bank-1.ops", "kyc-registry", "get", b"cust-7781");
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains(&hex::encode(b"\x06bank-0kyc:ok;grade=A")), "{out}");
    let written_by_admin = call_payload("kyc-registry", "put", &entry);
    assert_eq!(refusal(&consortium, 1, "bank-1.admin", written_by_admin), "COV-31-FUNCTION-ACL");

    // COV-27: an emergency vote pauses the registry; calls are refused until it is resumed.
    let (status, out, err) = cli(
        &consortium,
        0,
        &[
            "contract",
            "pause",
            "kyc-registry",
            "--reason",
            "suspected leak",
            "--key",
            &admin,
            "--operator",
            "bank-0.admin",
            "--wait",
        ],
    );
    assert_eq!(status, 0, "{out}{err}");
    assert!(out.contains("of 2 members"), "the emergency class's threshold: {out}");
    let pause = Hash::from_hex(out.lines().next().unwrap().trim()).unwrap();
    approve_twice(&consortium, pause);
    let read = call_payload("kyc-registry", "get", b"cust-7781");
    assert_eq!(refusal(&consortium, 1, "bank-1.ops", read), "COV-27-CONTRACT-LIFECYCLE");
    let (_, out, _) = cli(&consortium, 2, &["contract", "show", "kyc-registry"]);
    assert!(out.contains("status     paused"), "{out}");

    // Determinism: every node executed every call itself; they agree on every block (whose header
    // commits to the state root) and on the contracts' state.
    let height = consortium.height(0);
    consortium.wait_for_height(&[0, 1, 2, 3], height, Duration::from_secs(60));
    assert!(consortium.assert_same_chain(&[0, 1, 2, 3]) >= height);
    let records: Vec<String> = (0..4).map(|node| escrow_record(&consortium, node, 1)).collect();
    assert!(records.iter().all(|record| *record == records[0]), "{records:?}");
    let roots: Vec<serde_json::Value> =
        (0..4).map(|node| consortium.block(node, height).unwrap()["header"]["state_root"].clone()).collect();
    assert!(roots.iter().all(|root| *root == roots[0]), "{roots:?}");
}
