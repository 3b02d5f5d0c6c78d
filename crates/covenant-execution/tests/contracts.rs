//! Contracts on chain (covenant articles 24 and 26–31), executed block by block against a four-member
//! genesis: admission only by an executed vote (COV-28), owner and steward (COV-26), pause, resume,
//! upgrade and retirement by vote (COV-27), fuel per transaction and per block (COV-29), no
//! re-entrancy (COV-29), function access policies (COV-31), and determinism. Every refusal and every
//! failed receipt is checked by its rule id.

use std::collections::BTreeMap;

use covenant_execution::contracts::forget_compiled_modules;
use covenant_execution::vm::{AccessPolicy, FunctionSpec, Grant, Manifest, code_hash};
use covenant_execution::*;
use covenant_rules::{Genesis, RuleId};
use covenant_types::*;

const GENESIS_TIME_MS: u64 = 1_790_000_000_000;
const DAY_MS: u64 = 86_400_000;
const MEMBERS: [&str; 4] = ["bank-a", "bank-b", "bank-c", "bank-d"];
/// Small fuel bounds, so that a block fills up after two calls that burn their whole limit.
const FUEL_PER_TX_MAX: u64 = 1_000_000;
const FUEL_PER_BLOCK_MAX: u64 = 2_500_000;
/// The fuel limit of ordinary calls.
const FUEL: u64 = 200_000;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// Operators of each member: admin (seed 10i+1), second admin (10i+2), submitter `ops` (10i+3),
/// steward (10i+6), auditor (10i+7); node keys 10i+4 and 10i+5.
const OPERATORS: [(&str, &str, &str, u8); 5] = [
    ("admin", "alice", "admin", 1),
    ("admin2", "bob", "admin", 2),
    ("ops", "carol", "submitter", 3),
    ("steward", "dave", "contract_steward", 6),
    ("audit", "erin", "auditor", 7),
];

fn seed(member: usize, which: u8) -> u8 {
    10 * (member as u8 + 1) + which
}

fn genesis_text() -> String {
    let mut text = format!(
        "chain_id = \"contract-test\"\nenvironment = \"test\"\ngenesis_time_ms = {GENESIS_TIME_MS}\n\
         sanctioned_jurisdictions = []\n"
    );
    for (index, member) in MEMBERS.iter().enumerate() {
        text += &format!("[[members]]\nid = \"{member}\"\nname = \"{member}\"\njurisdiction = \"TW\"\n");
        for (suffix, person, role, which) in OPERATORS {
            text += &format!(
                "[[operators]]\nid = \"{member}.{suffix}\"\nperson = \"{person}\"\nmember = \"{member}\"\n\
                 roles = [\"{role}\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {}\n",
                key(seed(index, which)).public_key().to_hex(),
                GENESIS_TIME_MS + 60 * DAY_MS
            );
        }
        text += &format!(
            "[[nodes]]\nid = \"node-{index}\"\nmember = \"{member}\"\nrole = \"validator\"\n\
             network_key = \"{}\"\nconsensus_key = \"{}\"\n",
            key(seed(index, 4)).public_key().to_hex(),
            key(seed(index, 5)).public_key().to_hex()
        );
    }
    text += &format!("[parameters]\nfuel_per_tx_max = {FUEL_PER_TX_MAX}\nfuel_per_block_max = {FUEL_PER_BLOCK_MAX}\n");
    for (class, required) in
        [("membership", 3), ("operators", 3), ("nodes", 3), ("parameters", 3), ("contracts", 3), ("emergency", 2)]
    {
        text += &format!("[thresholds.{class}]\nmembers_required = {required}\n");
    }
    text
}

/// A chain in memory: committed state, root, height and the senders' next nonces.
#[derive(Clone)]
struct Chain {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    root: Hash,
    height: u64,
    nonces: BTreeMap<String, u64>,
    /// Milliseconds between blocks.
    interval_ms: u64,
    time_ms: u64,
}

impl Chain {
    fn new() -> Chain {
        let genesis = Genesis::from_toml_str(&genesis_text()).unwrap_or_else(|errors| panic!("{errors}"));
        let outcome = genesis_outcome(&genesis);
        let state = outcome.writes.into_iter().map(|(key, value)| (key, value.expect("genesis only writes"))).collect();
        Chain {
            state,
            root: outcome.block.header.state_root,
            height: 0,
            nonces: BTreeMap::new(),
            interval_ms: 1000,
            time_ms: GENESIS_TIME_MS,
        }
    }

    fn next_context(&self) -> BlockContext {
        BlockContext { height: self.height + 1, timestamp_ms: self.time_ms + self.interval_ms }
    }

    /// Signs a payload as `operator` (e.g. "bank-a.admin") at its next nonce (counting `ahead` more).
    fn tx_ahead(&self, operator: &str, payload: Payload, ahead: u64) -> VerifiedTx {
        let member = MEMBERS.iter().position(|id| operator.starts_with(id)).expect("known member");
        let suffix = operator.rsplit('.').next().expect("operator id has a suffix");
        let (.., which) = OPERATORS.iter().find(|(name, ..)| *name == suffix).expect("known operator");
        let nonce = self.nonces.get(operator).copied().unwrap_or(0) + ahead;
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: ChainId::new("contract-test").unwrap(),
            sender: Principal::Operator(OperatorId::new(operator).unwrap()),
            nonce,
            created_at_ms: self.time_ms,
            payload,
        };
        let signed = SignedTx::sign(body, &key(seed(member, *which)));
        VerifiedTx::verify(signed, &ChainId::new("contract-test").unwrap()).unwrap()
    }

    fn tx(&self, operator: &str, payload: Payload) -> VerifiedTx {
        self.tx_ahead(operator, payload, 0)
    }

    fn commit(&mut self, txs: &[VerifiedTx], outcome: BlockOutcome) {
        for (key, value) in outcome.writes {
            match value {
                Some(value) => self.state.insert(key, value),
                None => self.state.remove(&key),
            };
        }
        self.root = outcome.state_root;
        self.height += 1;
        self.time_ms += self.interval_ms;
        for tx in txs {
            if let Principal::Operator(operator) = &tx.tx().body.sender {
                *self.nonces.entry(operator.to_string()).or_default() += 1;
            }
        }
    }

    /// Executes one block of `txs`; commits it if valid. Returns the rule that made it invalid.
    fn block(&mut self, txs: Vec<VerifiedTx>) -> Result<Vec<Receipt>, RuleId> {
        match execute_block(&self.state, &self.root, &self.next_context(), &txs) {
            Ok(outcome) => {
                let receipts = outcome.receipts.clone();
                self.commit(&txs, outcome);
                Ok(receipts)
            }
            Err(BlockError::InvalidTx { reason, .. }) => match *reason {
                TxInvalid::Violation(violation) => Err(violation.rule()),
                other => panic!("expected a covenant violation, got {other:?}"),
            },
            Err(other) => panic!("block failed: {other}"),
        }
    }

    /// Why a transaction is refused at mempool admission (the checks a node runs before a block).
    fn admission(&self, tx: &VerifiedTx) -> Result<(), RuleId> {
        let context = self.next_context();
        let result = check_sender(&self.state, tx, context.timestamp_ms).and_then(|sender| {
            check_nonce_in_state(&self.state, tx)?;
            check_payload(&self.state, tx, &sender, &context)
        });
        match result {
            Ok(()) => Ok(()),
            Err(TxInvalid::Violation(violation)) => Err(violation.rule()),
            Err(other) => panic!("expected a covenant violation, got {other:?}"),
        }
    }

    /// One transaction in its own block, which it must not make invalid; also checks that mempool
    /// admission agrees.
    fn send(&mut self, operator: &str, payload: Payload) -> Result<Receipt, RuleId> {
        let tx = self.tx(operator, payload);
        let admitted = self.admission(&tx);
        let executed = self.block(vec![tx]).map(|mut receipts| receipts.remove(0));
        assert_eq!(admitted.err(), executed.as_ref().err().copied(), "admission and execution disagree");
        executed
    }

    fn propose(&mut self, operator: &str, action: GovernanceAction) -> Result<Hash, RuleId> {
        let proposal = Proposal { action, reason: "test".into(), expires_at_ms: self.time_ms + DAY_MS };
        let tx = self.tx(operator, Payload::GovernancePropose(Box::new(proposal)));
        let id = tx.hash();
        let admitted = self.admission(&tx);
        let executed = self.block(vec![tx]).map(drop);
        assert_eq!(admitted, executed, "admission and execution disagree");
        executed.map(|()| id)
    }

    fn approve(&mut self, operator: &str, id: Hash) -> Receipt {
        self.send(operator, Payload::GovernanceApprove(id)).expect("approval accepted")
    }

    fn proposal(&self, id: Hash) -> ProposalState {
        StateReader::get(&self.state, &StateKey::Proposal(id)).unwrap().expect("proposal stored")
    }

    /// Proposed by bank-a and approved by bank-b and bank-c: passes a threshold of 3 members.
    fn pass(&mut self, action: GovernanceAction) -> ProposalState {
        let id = self.propose("bank-a.admin", action).expect("proposal accepted");
        self.approve("bank-b.admin", id);
        self.approve("bank-c.admin", id);
        self.proposal(id)
    }

    fn admit(&mut self, contract: &str, wat: &str, manifest: &Manifest) {
        let proposal = self.pass(admit_action(contract, wat, manifest));
        assert!(matches!(proposal.status, ProposalStatus::Executed { .. }), "{:?}", proposal.status);
    }

    fn call(&mut self, operator: &str, contract: &str, function: &str, input: &[u8]) -> Result<Receipt, RuleId> {
        self.send(operator, call_payload(contract, function, input, FUEL))
    }

    fn contract(&self, contract: &str) -> Option<ContractState> {
        StateReader::get(&self.state, &StateKey::Contract(ContractId::new(contract).unwrap())).unwrap()
    }

    fn stored(&self, contract: &str, key: &[u8]) -> Option<Vec<u8>> {
        let key = StateKey::ContractStorage(ContractId::new(contract).unwrap(), key.to_vec());
        StateReader::get(&self.state, &key).unwrap()
    }

    fn result(&self, receipt: &Receipt) -> ContractCallResult {
        StateReader::get(&self.state, &StateKey::ContractResult(receipt.tx_hash)).unwrap().expect("call result stored")
    }
}

fn admit_action(contract: &str, wat: &str, manifest: &Manifest) -> GovernanceAction {
    GovernanceAction::AdmitContract {
        contract: ContractId::new(contract).unwrap(),
        code: wasm(wat),
        manifest: manifest.encode(),
    }
}

fn call_payload(contract: &str, function: &str, input: &[u8], fuel_limit: u64) -> Payload {
    Payload::ContractCall(ContractCall {
        contract: ContractId::new(contract).unwrap(),
        function: function.into(),
        input: input.to_vec(),
        fuel_limit,
    })
}

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|error| panic!("test module does not compile: {error}"))
}

fn succeeded(receipt: &Receipt) -> bool {
    receipt.outcome == TxOutcome::Success
}

/// The rule a failed receipt names.
fn failed_rule(receipt: &Receipt) -> Option<String> {
    match &receipt.outcome {
        TxOutcome::Failed { rule, .. } => rule.clone(),
        TxOutcome::Success => panic!("expected a failed receipt, got success"),
    }
}

fn function(name: &str, grants: Vec<Grant>, read_only: bool) -> FunctionSpec {
    FunctionSpec { name: name.into(), access: AccessPolicy::allow(grants), read_only }
}

/// A manifest owned by bank-a and stewarded by bank-a.steward.
fn manifest(functions: Vec<FunctionSpec>) -> Manifest {
    Manifest {
        name: "test contract".into(),
        version: "1.0.0".into(),
        owner: MemberId::new("bank-a").unwrap(),
        steward: OperatorId::new("bank-a.steward").unwrap(),
        functions,
    }
}

/// Every function open to any operator.
fn open_manifest(functions: &[&str]) -> Manifest {
    manifest(functions.iter().map(|name| function(name, vec![Grant::AnyOperator], false)).collect())
}

const IMPORTS: &str = r#"
  (import "covenant" "output_write" (func $output_write (param i32 i32)))
  (import "covenant" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "covenant" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "covenant" "call_contract"
    (func $call_contract (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
"#;

fn module(body: &str) -> String {
    format!("(module {IMPORTS} (memory (export \"memory\") 1) {body})")
}

/// `increment` adds `step` to the u64 under "count" and outputs it; `get` outputs it.
fn counter_wat(step: u64) -> String {
    module(&format!(
        r#"
  (data (i32.const 0) "count")
  (func $load (result i64)
    (if (i32.eq (call $storage_get (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8)) (i32.const -1))
      (then (return (i64.const 0))))
    (i64.load (i32.const 16)))
  (func (export "increment")
    (i64.store (i32.const 16) (i64.add (call $load) (i64.const {step})))
    (call $storage_set (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8))
    (call $output_write (i32.const 16) (i32.const 8)))
  (func (export "get")
    (i64.store (i32.const 16) (call $load))
    (call $output_write (i32.const 16) (i32.const 8)))
"#
    ))
}

/// `run` writes "touched", then loops forever.
fn spinner_wat() -> String {
    module(
        r#"
  (data (i32.const 0) "touched")
  (func (export "run")
    (call $storage_set (i32.const 0) (i32.const 7) (i32.const 0) (i32.const 7))
    (loop $forever (br $forever)))
"#,
    )
}

/// `run` writes "touched", calls `target_fn` of `target` and outputs what it returned.
fn relay_wat(target: &str, target_fn: &str) -> String {
    module(&format!(
        r#"
  (data (i32.const 0) "{target}")
  (data (i32.const 64) "{target_fn}")
  (data (i32.const 128) "touched")
  (func (export "run")
    (local $n i32)
    (call $storage_set (i32.const 128) (i32.const 7) (i32.const 128) (i32.const 7))
    (local.set $n (call $call_contract
      (i32.const 0) (i32.const {id_len}) (i32.const 64) (i32.const {fn_len})
      (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 1024)))
    (call $output_write (i32.const 256) (local.get $n)))
"#,
        id_len = target.len(),
        fn_len = target_fn.len(),
    ))
}

fn count(receipt_output: &[u8]) -> u64 {
    u64::from_le_bytes(receipt_output.try_into().expect("8 bytes"))
}

// covers: COV-28-CONTRACT-ADMISSION, COV-26-CONTRACT-OWNERSHIP
#[test]
fn a_contract_runs_only_once_the_vote_admitting_it_executed() {
    let mut chain = Chain::new();
    let manifest = open_manifest(&["increment", "get"]);
    // Never proposed: refused at admission and in blocks, and the nonce is not used.
    assert_eq!(chain.call("bank-b.ops", "counter", "increment", &[]).unwrap_err(), RuleId::ContractAdmission);

    let id = chain.propose("bank-a.admin", admit_action("counter", &counter_wat(1), &manifest)).unwrap();
    assert_eq!(chain.proposal(id).pinned_code_hash, Some(code_hash(&wasm(&counter_wat(1)))), "hash pinned");
    assert_eq!(chain.call("bank-b.ops", "counter", "increment", &[]).unwrap_err(), RuleId::ContractAdmission);
    chain.approve("bank-b.admin", id);
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open);
    assert_eq!(chain.call("bank-b.ops", "counter", "increment", &[]).unwrap_err(), RuleId::ContractAdmission);
    chain.approve("bank-c.admin", id);
    assert_eq!(chain.proposal(id).status, ProposalStatus::Executed { height: chain.height });

    // Admitted: the record names owner and steward (COV-26) and the pinned hash.
    let record = chain.contract("counter").expect("admitted");
    assert_eq!(record.status, ContractStatus::Active);
    assert_eq!(record.code_hash, code_hash(&wasm(&counter_wat(1))));
    assert_eq!(record.manifest.owner.as_str(), "bank-a");
    assert_eq!(record.manifest.steward.as_str(), "bank-a.steward");
    assert_eq!((record.admitted_by, record.admitted_at_height), (id, chain.height));

    for expected in 1..=2 {
        let receipt = chain.call("bank-b.ops", "counter", "increment", &[]).unwrap();
        assert!(succeeded(&receipt), "{receipt:?}");
        assert!(receipt.fuel_used > 10_000 && receipt.fuel_used < FUEL, "fuel used is {}", receipt.fuel_used);
        assert_eq!(count(&chain.result(&receipt).output), expected);
    }
    assert_eq!(chain.stored("counter", b"count"), Some(2u64.to_le_bytes().to_vec()));
    // Its id is taken for good.
    let again = admit_action("counter", &counter_wat(5), &manifest);
    assert_eq!(chain.propose("bank-a.admin", again).unwrap_err(), RuleId::ContractAdmission);
}

// covers: COV-28-CONTRACT-LIMITS, COV-28-CONTRACT-ADMISSION, COV-29-FUEL
#[test]
fn contract_modules_over_the_size_limit_with_floats_or_foreign_imports_are_refused_when_proposed() {
    let mut chain = Chain::new();
    let manifest = open_manifest(&["run"]);
    let propose = |chain: &mut Chain, wat: &str| chain.propose("bank-a.admin", admit_action("bad", wat, &manifest));

    // Over contract_bytes_max (128 KiB by default): a data segment makes it 130 KiB.
    let big = format!(
        "(module (memory (export \"memory\") 3) (data (i32.const 0) \"{}\") (func (export \"run\")))",
        "a".repeat(130 * 1024)
    );
    assert!(wasm(&big).len() > 128 * 1024);
    assert_eq!(propose(&mut chain, &big).unwrap_err(), RuleId::ContractLimits);
    // Floating point: results could differ between machines (article 29; refused as inadmissible code).
    let float = "(module (func (export \"run\") (drop (f64.add (f64.const 1.5) (f64.const 2.25)))))";
    assert_eq!(propose(&mut chain, float).unwrap_err(), RuleId::ContractAdmission);
    // An import from outside the host module: a clock, say.
    let clock = "(module (import \"env\" \"now\" (func $now (result i64))) (func (export \"run\") (drop (call $now))))";
    assert_eq!(propose(&mut chain, clock).unwrap_err(), RuleId::ContractAdmission);
    // Exports that differ from the manifest.
    let mismatch = "(module (func (export \"other\")))";
    assert_eq!(propose(&mut chain, mismatch).unwrap_err(), RuleId::ContractAdmission);
    // A manifest that does not decode.
    let garbage = GovernanceAction::AdmitContract {
        contract: ContractId::new("bad").unwrap(),
        code: wasm("(module (func (export \"run\")))"),
        manifest: vec![0xff; 8],
    };
    assert_eq!(chain.propose("bank-a.admin", garbage).unwrap_err(), RuleId::ContractAdmission);
    // None of these used the proposer's nonce.
    assert_eq!(chain.nonces.get("bank-a.admin"), None);

    // A call asking for more fuel than fuel_per_tx_max is refused before it runs.
    chain.admit("counter", &counter_wat(1), &open_manifest(&["increment", "get"]));
    let greedy = call_payload("counter", "increment", &[], FUEL_PER_TX_MAX + 1);
    assert_eq!(chain.send("bank-b.ops", greedy).unwrap_err(), RuleId::Fuel);
    // And an input above call_input_bytes_max (16 KiB by default).
    let long = call_payload("counter", "increment", &vec![0; 16 * 1024 + 1], FUEL);
    assert_eq!(chain.send("bank-b.ops", long).unwrap_err(), RuleId::ContractLimits);
}

// covers: COV-28-CONTRACT-LIMITS, COV-28-CONTRACT-ADMISSION
#[test]
fn contract_admission_is_checked_again_when_the_vote_executes() {
    let mut chain = Chain::new();
    // A 3 KiB module is fine when proposed...
    let padded = format!(
        "(module (memory (export \"memory\") 1) (data (i32.const 0) \"{}\") (func (export \"run\")))",
        "p".repeat(3 * 1024)
    );
    let id = chain.propose("bank-a.admin", admit_action("padded", &padded, &open_manifest(&["run"]))).unwrap();
    // ...but the members lower contract_bytes_max to 2 KiB before it passes.
    let lower = chain.pass(GovernanceAction::SetParameter { name: "contract_bytes_max".into(), value: 2048 });
    assert!(matches!(lower.status, ProposalStatus::Executed { .. }));
    chain.approve("bank-b.admin", id);
    chain.approve("bank-c.admin", id);
    match chain.proposal(id).status {
        ProposalStatus::Failed { rule, reason, .. } => {
            assert_eq!(rule, "COV-28-CONTRACT-LIMITS");
            assert!(reason.contains("contract_bytes_max = 2048"), "{reason}");
        }
        other => panic!("expected a failed proposal, got {other:?}"),
    }
    assert!(chain.contract("padded").is_none());
}

// covers: COV-26-CONTRACT-OWNERSHIP
#[test]
fn every_contract_names_an_active_owner_and_a_steward_of_it() {
    let mut chain = Chain::new();
    let wat = counter_wat(1);
    let mut propose = |owner: &str, steward: &str| {
        let mut manifest = open_manifest(&["increment", "get"]);
        manifest.owner = MemberId::new(owner).unwrap();
        manifest.steward = OperatorId::new(steward).unwrap();
        chain.propose("bank-a.admin", admit_action("counter", &wat, &manifest))
    };
    // Not a steward: the submitter lacks the contract_steward role.
    assert_eq!(propose("bank-a", "bank-a.ops").unwrap_err(), RuleId::ContractOwnership);
    // A steward of another member.
    assert_eq!(propose("bank-a", "bank-b.steward").unwrap_err(), RuleId::ContractOwnership);
    // No such owner, or no such operator.
    assert_eq!(propose("bank-z", "bank-a.steward").unwrap_err(), RuleId::ContractOwnership);
    assert_eq!(propose("bank-a", "nobody").unwrap_err(), RuleId::ContractOwnership);
    // Any member may own one, with its own steward.
    assert!(propose("bank-d", "bank-d.steward").is_ok());
}

// covers: COV-31-FUNCTION-ACL
#[test]
fn contract_callers_outside_a_functions_access_policy_are_refused() {
    let mut chain = Chain::new();
    let manifest = manifest(vec![
        function(
            "increment",
            vec![Grant::MemberRole { member: MemberId::new("bank-b").unwrap(), role: Role::Submitter }],
            false,
        ),
        function(
            "get",
            vec![Grant::Role(Role::Auditor), Grant::Operator(OperatorId::new("bank-a.ops").unwrap())],
            true,
        ),
    ]);
    chain.admit("counter", &counter_wat(1), &manifest);

    assert_eq!(chain.call("bank-a.ops", "counter", "increment", &[]).unwrap_err(), RuleId::FunctionAcl);
    assert_eq!(chain.call("bank-b.audit", "counter", "increment", &[]).unwrap_err(), RuleId::FunctionAcl);
    assert_eq!(chain.call("bank-b.admin", "counter", "increment", &[]).unwrap_err(), RuleId::FunctionAcl);
    assert!(succeeded(&chain.call("bank-b.ops", "counter", "increment", &[]).unwrap()));
    // A function the manifest does not list, even one the module might have.
    assert_eq!(chain.call("bank-b.ops", "counter", "reset", &[]).unwrap_err(), RuleId::FunctionAcl);
    assert_eq!(chain.call("bank-b.ops", "counter", "get", &[]).unwrap_err(), RuleId::FunctionAcl);
    let read = chain.call("bank-c.audit", "counter", "get", &[]).unwrap();
    assert_eq!(count(&chain.result(&read).output), 1);
    assert!(succeeded(&chain.call("bank-a.ops", "counter", "get", &[]).unwrap()));
    // None of the refused calls used a nonce.
    assert_eq!(chain.nonces.get("bank-a.ops"), Some(&1));
}

// covers: COV-29-FUEL
#[test]
fn a_contract_in_an_infinite_loop_is_stopped_by_fuel_and_its_writes_are_rolled_back() {
    let mut chain = Chain::new();
    chain.admit("spinner", &spinner_wat(), &open_manifest(&["run"]));
    let receipt = chain.call("bank-b.ops", "spinner", "run", &[]).unwrap();
    assert_eq!(failed_rule(&receipt).as_deref(), Some("COV-29-FUEL"));
    assert_eq!(receipt.fuel_used, FUEL, "running out of fuel burns the whole limit");
    assert_eq!(chain.stored("spinner", b"touched"), None, "the write before the loop was rolled back");
    assert!(
        StateReader::get::<ContractCallResult>(&chain.state, &StateKey::ContractResult(receipt.tx_hash))
            .unwrap()
            .is_none()
    );
    // The nonce was consumed: the sender's next transaction takes the next one.
    assert_eq!(chain.nonces.get("bank-b.ops"), Some(&1));
    assert_eq!(
        StateReader::next_nonce(&chain.state, &Principal::Operator(OperatorId::new("bank-b.ops").unwrap())).unwrap(),
        1
    );
}

// covers: COV-29-NO-REENTRANCY
#[test]
fn a_re_entrant_contract_call_is_refused_and_the_whole_call_rolled_back() {
    let mut chain = Chain::new();
    // ping.run calls pong.run, which calls ping.run again.
    let ping = manifest(vec![function(
        "run",
        vec![Grant::AnyOperator, Grant::Contract(ContractId::new("pong").unwrap())],
        false,
    )]);
    let pong = manifest(vec![function("run", vec![Grant::Contract(ContractId::new("ping").unwrap())], false)]);
    chain.admit("ping", &relay_wat("pong", "run"), &ping);
    chain.admit("pong", &relay_wat("ping", "run"), &pong);
    let receipt = chain.call("bank-b.ops", "ping", "run", &[]).unwrap();
    assert_eq!(failed_rule(&receipt).as_deref(), Some("COV-29-NO-REENTRANCY"));
    assert!(receipt.fuel_used > 0);
    assert_eq!(chain.stored("ping", b"touched"), None);
    assert_eq!(chain.stored("pong", b"touched"), None);
    // A contract calling itself is re-entrant too.
    let selfish = manifest(vec![function(
        "run",
        vec![Grant::AnyOperator, Grant::Contract(ContractId::new("selfish").unwrap())],
        false,
    )]);
    chain.admit("selfish", &relay_wat("selfish", "run"), &selfish);
    let receipt = chain.call("bank-b.ops", "selfish", "run", &[]).unwrap();
    assert_eq!(failed_rule(&receipt).as_deref(), Some("COV-29-NO-REENTRANCY"));

    // A nested call that does not come back is allowed, and writes both namespaces.
    let leaf = manifest(vec![
        function("increment", vec![Grant::Contract(ContractId::new("relay").unwrap())], false),
        function("get", vec![Grant::AnyOperator], true),
    ]);
    chain.admit("leaf", &counter_wat(1), &leaf);
    chain.admit("relay", &relay_wat("leaf", "increment"), &open_manifest(&["run"]));
    let receipt = chain.call("bank-b.ops", "relay", "run", &[]).unwrap();
    assert!(succeeded(&receipt), "{receipt:?}");
    assert_eq!(count(&chain.result(&receipt).output), 1);
    assert_eq!(chain.stored("relay", b"touched"), Some(b"touched".to_vec()));
    assert_eq!(chain.stored("leaf", b"count"), Some(1u64.to_le_bytes().to_vec()));
    // The callee's policy is checked for the calling contract: an operator cannot call leaf directly.
    assert_eq!(chain.call("bank-b.ops", "leaf", "increment", &[]).unwrap_err(), RuleId::FunctionAcl);
}

// covers: COV-27-CONTRACT-LIFECYCLE
#[test]
fn a_paused_contract_is_refused_until_a_vote_resumes_it_and_a_retired_one_for_good() {
    let mut chain = Chain::new();
    chain.admit("counter", &counter_wat(1), &open_manifest(&["increment", "get"]));
    chain.admit("relay", &relay_wat("counter", "increment"), &open_manifest(&["run"]));
    let counter = || ContractId::new("counter").unwrap();

    // An emergency pause needs only two members (the emergency threshold), still two persons.
    let id = chain.propose("bank-a.admin", GovernanceAction::PauseContract(counter())).unwrap();
    chain.approve("bank-b.admin", id);
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "one person besides the proposer is not enough");
    chain.approve("bank-b.admin2", id);
    assert_eq!(chain.proposal(id).status, ProposalStatus::Executed { height: chain.height }, "two members suffice");
    assert_eq!(chain.contract("counter").unwrap().status, ContractStatus::Paused);

    assert_eq!(chain.call("bank-b.ops", "counter", "increment", &[]).unwrap_err(), RuleId::ContractLifecycle);
    // Reached through another contract, the paused callee fails the whole call.
    let receipt = chain.call("bank-b.ops", "relay", "run", &[]).unwrap();
    assert_eq!(failed_rule(&receipt).as_deref(), Some("COV-27-CONTRACT-LIFECYCLE"));
    assert_eq!(chain.stored("relay", b"touched"), None);
    // Pausing twice is refused when proposed.
    let twice = GovernanceAction::PauseContract(counter());
    assert_eq!(chain.propose("bank-a.admin", twice).unwrap_err(), RuleId::ContractLifecycle);

    // Resuming is a contracts-class vote (three members).
    let resumed = chain.pass(GovernanceAction::ResumeContract(counter()));
    assert!(matches!(resumed.status, ProposalStatus::Executed { .. }));
    assert!(succeeded(&chain.call("bank-b.ops", "counter", "increment", &[]).unwrap()));

    // Retired for good: no call, no resume, no upgrade.
    let retired = chain.pass(GovernanceAction::RetireContract(counter()));
    assert!(matches!(retired.status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.call("bank-b.ops", "counter", "get", &[]).unwrap_err(), RuleId::ContractLifecycle);
    let resume = GovernanceAction::ResumeContract(counter());
    assert_eq!(chain.propose("bank-a.admin", resume).unwrap_err(), RuleId::ContractLifecycle);
    let upgrade = GovernanceAction::UpgradeContract {
        contract: counter(),
        code: wasm(&counter_wat(2)),
        manifest: open_manifest(&["increment", "get"]).encode(),
    };
    assert_eq!(chain.propose("bank-a.admin", upgrade).unwrap_err(), RuleId::ContractLifecycle);
    // Unknown contracts cannot be paused.
    let unknown = GovernanceAction::PauseContract(ContractId::new("nothing").unwrap());
    assert_eq!(chain.propose("bank-a.admin", unknown).unwrap_err(), RuleId::ContractAdmission);
}

// covers: COV-27-CONTRACT-LIFECYCLE, COV-28-CONTRACT-ADMISSION
#[test]
fn a_contract_upgrade_keeps_id_and_storage_and_pins_the_new_code() {
    let mut chain = Chain::new();
    let manifest = open_manifest(&["increment", "get"]);
    chain.admit("counter", &counter_wat(1), &manifest);
    chain.call("bank-b.ops", "counter", "increment", &[]).unwrap();

    let same = GovernanceAction::UpgradeContract {
        contract: ContractId::new("counter").unwrap(),
        code: wasm(&counter_wat(1)),
        manifest: manifest.encode(),
    };
    assert_eq!(chain.propose("bank-a.admin", same).unwrap_err(), RuleId::ContractLifecycle, "nothing changes");
    // The new code is validated like an admission.
    let floats = GovernanceAction::UpgradeContract {
        contract: ContractId::new("counter").unwrap(),
        code: wasm("(module (func (export \"increment\") (drop (f32.const 1))) (func (export \"get\")))"),
        manifest: manifest.encode(),
    };
    assert_eq!(chain.propose("bank-a.admin", floats).unwrap_err(), RuleId::ContractAdmission);

    let upgrade = GovernanceAction::UpgradeContract {
        contract: ContractId::new("counter").unwrap(),
        code: wasm(&counter_wat(10)),
        manifest: manifest.encode(),
    };
    let proposal = chain.pass(upgrade);
    assert_eq!(proposal.pinned_code_hash, Some(code_hash(&wasm(&counter_wat(10)))));
    assert!(matches!(proposal.status, ProposalStatus::Executed { .. }), "{:?}", proposal.status);
    let record = chain.contract("counter").unwrap();
    assert_eq!(record.code_hash, code_hash(&wasm(&counter_wat(10))));
    assert_eq!(record.changed_at_height, chain.height);
    assert!(record.admitted_at_height < record.changed_at_height);
    let receipt = chain.call("bank-b.ops", "counter", "increment", &[]).unwrap();
    assert_eq!(count(&chain.result(&receipt).output), 11, "the new code counts on from the stored value");
}

// covers: COV-29-FUEL
#[test]
fn blocks_of_contract_calls_respect_the_fuel_bound() {
    let mut chain = Chain::new();
    chain.admit("spinner", &spinner_wat(), &open_manifest(&["run"]));
    chain.admit("counter", &counter_wat(1), &open_manifest(&["increment", "get"]));
    // Three calls that may each burn FUEL_PER_TX_MAX: the third would take the block past
    // fuel_per_block_max once the first two burnt theirs.
    let spin = |chain: &Chain, operator: &str| chain.tx(operator, call_payload("spinner", "run", &[], FUEL_PER_TX_MAX));
    let candidates = vec![
        spin(&chain, "bank-a.ops"),
        spin(&chain, "bank-b.ops"),
        spin(&chain, "bank-c.ops"),
        // Later transactions of a deferred sender wait with it, to keep its nonces in order.
        chain.tx_ahead("bank-c.ops", call_payload("counter", "increment", &[], FUEL), 1),
        // Another sender's small call still fits after the big ones: 2,000,000 + 200,000 <= 2,500,000.
        chain.tx("bank-d.ops", call_payload("counter", "increment", &[], FUEL)),
    ];
    let context = chain.next_context();
    let built = build_block(&chain.state, &chain.root, &context, candidates.clone()).unwrap();
    let nonce_senders = |txs: &[VerifiedTx]| -> Vec<String> {
        txs.iter().map(|tx| format!("{:?}#{}", tx.tx().body.sender, tx.tx().body.nonce)).collect()
    };
    assert_eq!(built.included.len(), 3, "{:?}", nonce_senders(&built.included));
    assert_eq!(built.deferred.len(), 2, "{:?}", nonce_senders(&built.deferred));
    assert!(built.dropped.is_empty(), "deferred calls stay pending: {:?}", built.dropped);
    let burnt: u64 = built.outcome.receipts.iter().map(|receipt| receipt.fuel_used).sum();
    assert!(burnt <= FUEL_PER_BLOCK_MAX, "{burnt}");
    // A validator refuses a block that carries the third big call anyway.
    let over = vec![candidates[0].clone(), candidates[1].clone(), candidates[2].clone()];
    match execute_block(&chain.state, &chain.root, &context, &over) {
        Err(BlockError::InvalidTx { index: 2, reason, .. }) => {
            assert!(
                matches!(*reason, TxInvalid::Violation(ref violation) if violation.rule() == RuleId::Fuel),
                "{reason}"
            );
        }
        other => panic!("expected the block to be refused, got {other:?}"),
    }
    // The built block is what validators compute, and the deferred calls fit the next block.
    let validated = execute_block(&chain.state, &chain.root, &context, &built.included).unwrap();
    assert_eq!(validated, built.outcome);
    chain.commit(&built.included, validated);
    let next = build_block(&chain.state, &chain.root, &chain.next_context(), built.deferred.clone()).unwrap();
    assert_eq!(next.included.len(), 2);
    assert_eq!(failed_rule(&next.outcome.receipts[0]).as_deref(), Some("COV-29-FUEL"));
    assert!(succeeded(&next.outcome.receipts[1]));
}

/// Runs a scenario of admissions and calls, successes and failures.
fn scenario(chain: &mut Chain) {
    let relay = Grant::Contract(ContractId::new("relay").unwrap());
    let counter = manifest(vec![
        function("increment", vec![Grant::AnyOperator, relay], false),
        function("get", vec![Grant::AnyOperator], true),
    ]);
    chain.admit("counter", &counter_wat(3), &counter);
    chain.admit("spinner", &spinner_wat(), &open_manifest(&["run"]));
    chain.admit("relay", &relay_wat("counter", "increment"), &open_manifest(&["run"]));
    let txs = vec![
        chain.tx("bank-a.ops", call_payload("counter", "increment", &[], FUEL)),
        chain.tx("bank-b.ops", call_payload("spinner", "run", &[], 50_000)),
        chain.tx("bank-c.ops", call_payload("relay", "run", &[], FUEL)),
        chain.tx_ahead("bank-a.ops", call_payload("counter", "get", &[], FUEL), 1),
    ];
    chain.block(txs).unwrap();
}

#[test]
fn the_same_blocks_of_contract_calls_give_the_same_state_roots_with_or_without_modules_cached() {
    let mut first = Chain::new();
    scenario(&mut first);
    forget_compiled_modules();
    let mut second = Chain::new();
    scenario(&mut second);
    assert_eq!(first.height, second.height);
    assert_eq!(first.root, second.root);
    assert_eq!(first.state, second.state);

    // And one block executed twice on the same state, the second time with a fresh compile.
    let txs = vec![first.tx("bank-d.ops", call_payload("relay", "run", &[], FUEL))];
    let context = first.next_context();
    let once = execute_block(&first.state, &first.root, &context, &txs).unwrap();
    forget_compiled_modules();
    let twice = execute_block(&first.state, &first.root, &context, &txs).unwrap();
    assert_eq!(once, twice);
    assert!(succeeded(&once.receipts[0]));
}

/// An example contract of `examples/contracts`, its manifest moved to this test chain's members
/// (the files are written for the local consortium: bank-0, bank-1, ...).
fn example(name: &str) -> (String, Manifest) {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/contracts");
    let wat = std::fs::read_to_string(format!("{dir}/{name}.wat")).expect("example contract");
    let text = std::fs::read_to_string(format!("{dir}/{name}.toml")).expect("example manifest");
    let manifest: Manifest = toml::from_str(&text.replace("bank-0", "bank-a")).expect("example manifest parses");
    (wat, manifest)
}

/// Input of the escrow's `deposit`.
fn deposit_input(id: u64, amount: u64, deadline_ms: u64, counterparty: &str) -> Vec<u8> {
    [&id.to_le_bytes()[..], &amount.to_le_bytes(), &deadline_ms.to_le_bytes(), counterparty.as_bytes()].concat()
}

/// The reason of a failed receipt.
fn failure_reason(receipt: &Receipt) -> String {
    match &receipt.outcome {
        TxOutcome::Failed { reason, .. } => reason.clone(),
        TxOutcome::Success => panic!("expected a failed receipt, got success"),
    }
}

// covers: COV-31-FUNCTION-ACL, COV-26-CONTRACT-OWNERSHIP
#[test]
fn the_example_escrow_contract_deposits_releases_and_refunds_after_its_deadline() {
    let mut chain = Chain::new();
    let (wat, manifest) = example("escrow");
    chain.admit("escrow", &wat, &manifest);
    let deadline = chain.time_ms + 10_000;
    let first = chain.call("bank-a.ops", "escrow", "deposit", &deposit_input(1, 500, deadline, "bank-b")).unwrap();
    assert!(succeeded(&first), "{first:?}");
    let events = chain.result(&first).events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, [&b"deposited"[..], &1u64.to_le_bytes()].concat());
    // The same id twice, an empty counterparty, a zero amount: the contract aborts (no covenant rule).
    let twice = chain.call("bank-a.ops", "escrow", "deposit", &deposit_input(1, 5, deadline, "bank-b")).unwrap();
    assert_eq!((failed_rule(&twice), failure_reason(&twice).ends_with("escrow exists")), (None, true));
    let empty = chain.call("bank-a.ops", "escrow", "deposit", &deposit_input(2, 5, deadline, "")).unwrap();
    assert!(failure_reason(&empty).ends_with("bad input"));

    // Only the counterparty (or a steward) releases; the depositor cannot, nor can a third member.
    for operator in ["bank-a.ops", "bank-c.ops"] {
        let refused = chain.call(operator, "escrow", "release", &1u64.to_le_bytes()).unwrap();
        assert!(failure_reason(&refused).ends_with("not the counterparty or a steward"), "{refused:?}");
    }
    // An admin is outside the function's policy altogether (COV-31).
    assert_eq!(chain.call("bank-b.admin", "escrow", "release", &1u64.to_le_bytes()).unwrap_err(), RuleId::FunctionAcl);
    let released = chain.call("bank-b.ops", "escrow", "release", &1u64.to_le_bytes()).unwrap();
    assert!(succeeded(&released), "{released:?}");
    let read = chain.call("bank-d.audit", "escrow", "get", &1u64.to_le_bytes()).unwrap();
    let record = chain.result(&read).output;
    assert_eq!(record.len(), 147);
    assert_eq!((record[0], &record[1..9]), (1, &500u64.to_le_bytes()[..]), "released, amount 500");
    assert_eq!(&record[17..24], b"\x06bank-a", "the depositor's member");
    assert_eq!(&record[82..89], b"\x06bank-b", "the counterparty");
    let closed = chain.call("bank-a.ops", "escrow", "refund", &1u64.to_le_bytes()).unwrap();
    assert!(failure_reason(&closed).ends_with("escrow is closed"));

    // A second escrow: refund only by the depositor's member and only from the deadline on (block time).
    let deadline = chain.time_ms + 5_000;
    chain.call("bank-c.ops", "escrow", "deposit", &deposit_input(7, 90, deadline, "bank-d")).unwrap();
    let early = chain.call("bank-c.ops", "escrow", "refund", &7u64.to_le_bytes()).unwrap();
    assert!(failure_reason(&early).ends_with("deadline not reached"), "{early:?}");
    let stranger = chain.call("bank-d.ops", "escrow", "refund", &7u64.to_le_bytes()).unwrap();
    assert!(failure_reason(&stranger).ends_with("not the depositor"));
    chain.interval_ms = 5_000;
    let refunded = chain.call("bank-c.ops", "escrow", "refund", &7u64.to_le_bytes()).unwrap();
    assert!(succeeded(&refunded), "{refunded:?}");
    assert_eq!(chain.result(&refunded).events[0].data, [&b"refunded"[..], &7u64.to_le_bytes()].concat());

    // A steward releases on behalf of the consortium.
    chain.call("bank-c.ops", "escrow", "deposit", &deposit_input(8, 1, deadline + 60_000, "bank-d")).unwrap();
    assert!(succeeded(&chain.call("bank-a.steward", "escrow", "release", &8u64.to_le_bytes()).unwrap()));
}

// covers: COV-31-FUNCTION-ACL
#[test]
fn the_example_registry_contract_lets_submitters_write_their_own_entries_and_policy_decide_reads() {
    let mut chain = Chain::new();
    let (wat, manifest) = example("registry");
    chain.admit("kyc-registry", &wat, &manifest);
    let put = |key: &str, value: &[u8]| [&[key.len() as u8][..], key.as_bytes(), value].concat();

    let receipt = chain.call("bank-a.ops", "kyc-registry", "put", &put("cust-7781", b"kyc:ok;grade=A")).unwrap();
    assert!(succeeded(&receipt), "{receipt:?}");
    assert_eq!(chain.result(&receipt).events[0].data, b"put cust-7781");
    // Writes are for submitters only (the gate); an auditor reads but does not write.
    let entry = put("cust-7781", b"kyc:failed");
    assert_eq!(chain.call("bank-b.audit", "kyc-registry", "put", &entry).unwrap_err(), RuleId::FunctionAcl);
    assert_eq!(chain.call("bank-b.admin", "kyc-registry", "get", b"cust-7781").unwrap_err(), RuleId::FunctionAcl);
    // Another member's submitter cannot overwrite or remove the entry.
    let overwrite = chain.call("bank-b.ops", "kyc-registry", "put", &entry).unwrap();
    assert!(failure_reason(&overwrite).ends_with("entry belongs to another member"));
    let remove = chain.call("bank-b.ops", "kyc-registry", "remove", b"cust-7781").unwrap();
    assert!(failure_reason(&remove).ends_with("entry belongs to another member"));
    for reader in ["bank-b.ops", "bank-d.audit"] {
        let read = chain.call(reader, "kyc-registry", "get", b"cust-7781").unwrap();
        assert_eq!(chain.result(&read).output, b"\x06bank-akyc:ok;grade=A");
    }
    // The owner updates and removes its entry.
    assert!(succeeded(&chain.call("bank-a.ops", "kyc-registry", "put", &put("cust-7781", b"kyc:ok;grade=B")).unwrap()));
    assert!(succeeded(&chain.call("bank-a.ops", "kyc-registry", "remove", b"cust-7781").unwrap()));
    let gone = chain.call("bank-b.ops", "kyc-registry", "get", b"cust-7781").unwrap();
    assert!(failure_reason(&gone).ends_with("no entry"));
    assert_eq!(chain.stored("kyc-registry", b"rcust-7781"), None);
}

/// A store whose contract-storage reads fail, as a broken disk would.
struct FailingStorage<'a>(&'a BTreeMap<Vec<u8>, Vec<u8>>);

impl StateView for FailingStorage<'_> {
    fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let storage_table = StateKey::ContractStorage(ContractId::new("x").unwrap(), Vec::new()).table();
        if key.first() == Some(&storage_table) {
            return Err(StateError::Store("read failed: disk on fire".into()));
        }
        self.0.get_raw(key)
    }
}

// covers: COV-30-SIGNED
#[test]
fn a_node_fault_during_a_contract_call_is_never_written_into_a_receipt() {
    let mut chain = Chain::new();
    chain.admit("counter", &counter_wat(1), &open_manifest(&["increment", "get"]));
    let txs = vec![chain.tx("bank-b.ops", call_payload("counter", "increment", &[], FUEL))];
    let broken = FailingStorage(&chain.state);
    let context = chain.next_context();
    match execute_block(&broken, &chain.root, &context, &txs) {
        Err(BlockError::State(StateError::Store(reason))) => assert!(reason.contains("disk on fire"), "{reason}"),
        other => panic!("expected a store failure, got {other:?}"),
    }
    assert!(build_block(&broken, &chain.root, &context, txs.clone()).is_err(), "no block is built on a fault");
    // The same block on a healthy store runs the call.
    assert!(succeeded(&chain.block(txs).unwrap()[0]));
}

/// A ledger contract: `credit` writes "1" under `bal:bank-a/customers/c-5` (a customer account it
/// names itself, not in its input), `leak` writes a plaintext national id, `seal` writes an encrypted
/// envelope, `note` stores its input under "1", `forget` removes the `credit` key, `announce` emits the
/// national id as an event, `tell` outputs the customer key.
/// A chain with the ledger contract admitted, every function open.
fn chain_with_ledger() -> Chain {
    let mut chain = Chain::new();
    chain.admit(
        "ledger",
        &ledger_wat(),
        &open_manifest(&["credit", "leak", "seal", "note", "forget", "announce", "tell"]),
    );
    chain
}

fn ledger_wat() -> String {
    let inputs = r#"
  (import "covenant" "input_len" (func $input_len (result i32)))
  (import "covenant" "input_read" (func $input_read (param i32)))
  (import "covenant" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "covenant" "emit_event" (func $emit_event (param i32 i32)))"#;
    format!(
        r#"(module {IMPORTS} {inputs} (memory (export "memory") 1)
  (data (i32.const 0) "bal:bank-a/customers/c-5")
  (data (i32.const 64) "A123456789")
  (data (i32.const 96) "1")
  (data (i32.const 128) "CVE1\01")
  (func (export "credit") (call $storage_set (i32.const 0) (i32.const 24) (i32.const 96) (i32.const 1)))
  (func (export "forget") (call $storage_remove (i32.const 0) (i32.const 24)))
  (func (export "announce") (call $emit_event (i32.const 64) (i32.const 10)))
  (func (export "tell") (call $output_write (i32.const 0) (i32.const 24)))
  (func (export "leak") (call $storage_set (i32.const 96) (i32.const 1) (i32.const 64) (i32.const 10)))
  (func (export "seal") (call $storage_set (i32.const 96) (i32.const 1) (i32.const 128) (i32.const 90)))
  (func (export "note")
    (call $input_read (i32.const 1024))
    (call $storage_set (i32.const 96) (i32.const 1) (i32.const 1024) (call $input_len))))
"#
    )
}

// covers: COV-07-KYC-REQUIRED
#[test]
fn a_contract_that_writes_for_a_customer_account_needs_its_kyc_like_a_transfer() {
    let mut chain = chain_with_ledger();
    let key = b"bal:bank-a/customers/c-5";
    let refused = chain.call("bank-b.ops", "ledger", "credit", &[]).unwrap();
    assert_eq!(failed_rule(&refused).as_deref(), Some("COV-07-KYC-REQUIRED"));
    let TxOutcome::Failed { reason, .. } = &refused.outcome else { unreachable!() };
    assert!(reason.contains("storage key written by contract ledger") && reason.contains("bank-a/customers/c-5"));
    assert_eq!(chain.stored("ledger", key), None, "a refused write leaves nothing");
    let kyc = Payload::KycAttestation(KycAttestation {
        account: AccountId::new("bank-a/customers/c-5").unwrap(),
        evidence: Hash::digest(b"kyc file 5"),
        expires_at_ms: GENESIS_TIME_MS + 30 * DAY_MS,
    });
    assert!(succeeded(&chain.send("bank-a.ops", kyc).unwrap()));
    assert!(succeeded(&chain.call("bank-b.ops", "ledger", "credit", &[]).unwrap()));
    assert_eq!(chain.stored("ledger", key), Some(b"1".to_vec()));
}

// covers: COV-07-KYC-REQUIRED
#[test]
fn a_contract_may_always_delete_what_it_holds_about_a_customer() {
    let mut chain = chain_with_ledger();
    // No attestation for bank-a/customers/c-5: writing about it is refused, removing it is not.
    assert_eq!(
        failed_rule(&chain.call("bank-b.ops", "ledger", "credit", &[]).unwrap()).as_deref(),
        Some("COV-07-KYC-REQUIRED")
    );
    assert!(succeeded(&chain.call("bank-b.ops", "ledger", "forget", &[]).unwrap()));
}

// covers: COV-07-KYC-REQUIRED, COV-37-PII-PROTECTION
#[test]
fn a_contract_calls_input_naming_an_unattested_customer_or_a_national_id_is_refused_before_it_runs() {
    let mut chain = chain_with_ledger();
    assert_eq!(
        chain.call("bank-b.ops", "ledger", "note", b"pay bank-c/customers/lin").unwrap_err(),
        RuleId::KycRequired
    );
    assert_eq!(chain.call("bank-b.ops", "ledger", "note", b"id A123456789").unwrap_err(), RuleId::PiiProtection);
    assert_eq!(chain.stored("ledger", b"1"), None);
    assert!(succeeded(&chain.call("bank-b.ops", "ledger", "note", b"pay bank-c/treasury").unwrap()));
    assert_eq!(chain.stored("ledger", b"1"), Some(b"pay bank-c/treasury".to_vec()));
}

// covers: COV-37-PII-PROTECTION
#[test]
fn a_contract_that_writes_a_plaintext_national_id_fails_and_an_envelope_passes() {
    let mut chain = chain_with_ledger();
    let leaked = chain.call("bank-b.ops", "ledger", "leak", &[]).unwrap();
    assert_eq!(failed_rule(&leaked).as_deref(), Some("COV-37-PII-PROTECTION"));
    assert_eq!(chain.stored("ledger", b"1"), None, "the plaintext id never reached the state");
    assert!(succeeded(&chain.call("bank-b.ops", "ledger", "seal", &[]).unwrap()));
    assert_eq!(chain.stored("ledger", b"1").map(|value| value[..4].to_vec()), Some(b"CVE1".to_vec()));
}

// covers: COV-07-KYC-REQUIRED, COV-37-PII-PROTECTION
#[test]
fn events_and_output_of_a_call_are_held_to_the_same_rules_as_its_writes() {
    let mut chain = chain_with_ledger();
    let announced = chain.call("bank-b.ops", "ledger", "announce", &[]).unwrap();
    assert_eq!(failed_rule(&announced).as_deref(), Some("COV-37-PII-PROTECTION"));
    let told = chain.call("bank-b.ops", "ledger", "tell", &[]).unwrap();
    assert_eq!(failed_rule(&told).as_deref(), Some("COV-07-KYC-REQUIRED"));
    for receipt in [&announced, &told] {
        let result = StateReader::get::<ContractCallResult>(&chain.state, &StateKey::ContractResult(receipt.tx_hash));
        assert!(result.unwrap().is_none(), "a refused call leaves no events or output on chain");
    }
}
