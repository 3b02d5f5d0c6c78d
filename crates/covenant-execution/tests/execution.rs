//! Block execution against a genesis state: transfers, data records, KYC, and the checks that make a
//! block invalid versus those that only fail a transaction.

use std::collections::BTreeMap;

use covenant_execution::*;
use covenant_rules::{Genesis, RuleId};
use covenant_types::*;

const GENESIS_TIME_MS: u64 = 1_790_000_000_000;
const DAY_MS: u64 = 86_400_000;

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

fn genesis() -> Genesis {
    let mut text = format!(
        "chain_id = \"exec-test\"\nenvironment = \"test\"\ngenesis_time_ms = {GENESIS_TIME_MS}\nsanctioned_jurisdictions = []\n"
    );
    for (index, member) in ["bank-a", "bank-b"].iter().enumerate() {
        let seed = 10 * (index as u8 + 1);
        text += &format!("[[members]]\nid = \"{member}\"\nname = \"{member}\"\njurisdiction = \"TW\"\n");
        text += &format!(
            "[[operators]]\nid = \"{member}.admin\"\nperson = \"admin\"\nmember = \"{member}\"\nroles = [\"admin\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {}\n",
            key(seed).public_key().to_hex(),
            GENESIS_TIME_MS + 90 * DAY_MS
        );
        text += &format!(
            "[[operators]]\nid = \"{member}.ops\"\nperson = \"ops\"\nmember = \"{member}\"\nroles = [\"submitter\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {}\n",
            key(seed + 1).public_key().to_hex(),
            GENESIS_TIME_MS + 30 * DAY_MS
        );
        text += &format!(
            "[[nodes]]\nid = \"node-{index}\"\nmember = \"{member}\"\nrole = \"validator\"\nnetwork_key = \"{}\"\nconsensus_key = \"{}\"\n",
            key(seed + 2).public_key().to_hex(),
            key(seed + 3).public_key().to_hex()
        );
        text += &format!("[[accounts]]\nid = \"{member}/treasury\"\nbalances = {{ twd = 1000 }}\n");
    }
    text += "[[schemas]]\nid = \"demo.v1\"\ndefinition = '{\"classifications\":[\"internal\"],\"fields\":[{\"name\":\"note\",\"type\":\"string\"}]}'\n";
    text += "[thresholds.membership]\nmembers_required = 2\n[thresholds.operators]\nmembers_required = 2\n";
    text += "[thresholds.nodes]\nmembers_required = 2\n[thresholds.parameters]\nmembers_required = 2\n";
    text += "[thresholds.contracts]\nmembers_required = 2\n[thresholds.emergency]\nmembers_required = 2\n";
    Genesis::from_toml_str(&text).unwrap_or_else(|errors| panic!("{errors}"))
}

/// The committed state after genesis, as a plain map.
fn genesis_state() -> (BTreeMap<Vec<u8>, Vec<u8>>, Hash) {
    let outcome = genesis_outcome(&genesis());
    let state = outcome.writes.into_iter().map(|(key, value)| (key, value.expect("genesis only writes"))).collect();
    (state, outcome.block.header.state_root)
}

fn chain() -> ChainId {
    ChainId::new("exec-test").unwrap()
}

fn signed(operator: &str, seed: u8, nonce: u64, payload: Payload) -> VerifiedTx {
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain(),
        sender: Principal::Operator(OperatorId::new(operator).unwrap()),
        nonce,
        created_at_ms: GENESIS_TIME_MS,
        payload,
    };
    VerifiedTx::verify(SignedTx::sign(body, &key(seed)), &chain()).unwrap()
}

fn transfer(nonce: u64, amount: u64) -> VerifiedTx {
    signed(
        "bank-a.ops",
        11,
        nonce,
        Payload::Transfer(Transfer {
            from: AccountId::new("bank-a/treasury").unwrap(),
            to: AccountId::new("bank-b/treasury").unwrap(),
            asset: AssetId::new("twd").unwrap(),
            amount,
            memo: String::new(),
        }),
    )
}

fn context(height: u64) -> BlockContext {
    BlockContext { height, timestamp_ms: GENESIS_TIME_MS + height * 1000 }
}

fn apply(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, outcome: &BlockOutcome) {
    for (key, value) in &outcome.writes {
        match value {
            Some(value) => state.insert(key.clone(), value.clone()),
            None => state.remove(key),
        };
    }
}

fn balance(state: &BTreeMap<Vec<u8>, Vec<u8>>, account: &str) -> u64 {
    state.balance(&AccountId::new(account).unwrap(), &AssetId::new("twd").unwrap()).unwrap()
}

fn invalid_rule(result: Result<BlockOutcome, BlockError>) -> RuleId {
    match result {
        Err(BlockError::InvalidTx { reason, .. }) => match *reason {
            TxInvalid::Violation(violation) => violation.rule(),
            other => panic!("expected a covenant violation, got {other:?}"),
        },
        other => panic!("expected an invalid transaction, got {other:?}"),
    }
}

#[test]
fn genesis_is_deterministic_and_holds_the_chain() {
    let first = genesis_outcome(&genesis());
    let second = genesis_outcome(&genesis());
    assert_eq!(first, second);
    let (state, _) = genesis_state();
    assert_eq!(state.chain_info().unwrap().chain_id, chain());
    assert_eq!(state.validators().unwrap().len(), 2);
    assert_eq!(balance(&state, "bank-a/treasury"), 1000);
}

#[test]
fn transfer_moves_funds_and_consumes_the_nonce() {
    let (mut state, root) = genesis_state();
    let outcome = execute_block(&state, &root, &context(1), &[transfer(0, 300), transfer(1, 200)]).unwrap();
    assert!(outcome.receipts.iter().all(|receipt| receipt.outcome == TxOutcome::Success));
    apply(&mut state, &outcome);
    assert_eq!((balance(&state, "bank-a/treasury"), balance(&state, "bank-b/treasury")), (500, 1500));
    let sender = Principal::Operator(OperatorId::new("bank-a.ops").unwrap());
    assert_eq!(state.next_nonce(&sender).unwrap(), 2);
    assert_ne!(outcome.state_root, root);
}

#[test]
fn insufficient_funds_fails_the_transaction_but_keeps_the_block_and_the_nonce() {
    let (mut state, root) = genesis_state();
    let outcome = execute_block(&state, &root, &context(1), &[transfer(0, 5000), transfer(1, 10)]).unwrap();
    assert!(
        matches!(&outcome.receipts[0].outcome, TxOutcome::Failed { rule: None, reason } if reason.contains("insufficient"))
    );
    assert_eq!(outcome.receipts[1].outcome, TxOutcome::Success);
    apply(&mut state, &outcome);
    assert_eq!(balance(&state, "bank-a/treasury"), 990, "only the second transfer moved funds");
}

// covers: COV-34-ORDERED-NONCES
#[test]
fn nonce_gap_makes_the_block_invalid() {
    let (state, root) = genesis_state();
    assert_eq!(invalid_rule(execute_block(&state, &root, &context(1), &[transfer(1, 10)])), RuleId::OrderedNonces);
    assert_eq!(
        invalid_rule(execute_block(&state, &root, &context(1), &[transfer(0, 10), transfer(0, 10)])),
        RuleId::OrderedNonces
    );
}

// covers: COV-17-REVOCATION, COV-30-SIGNED
#[test]
fn unknown_sender_and_wrong_key_make_the_block_invalid() {
    let (state, root) = genesis_state();
    let stranger = signed("bank-z.ops", 99, 0, transfer(0, 1).tx().body.payload.clone());
    assert_eq!(invalid_rule(execute_block(&state, &root, &context(1), &[stranger])), RuleId::Revocation);
    let wrong_key = signed("bank-a.ops", 12, 0, transfer(0, 1).tx().body.payload.clone());
    assert_eq!(invalid_rule(execute_block(&state, &root, &context(1), &[wrong_key])), RuleId::Signed);
}

// covers: COV-11-CREDENTIAL-EXPIRY
#[test]
fn expired_operator_key_makes_the_block_invalid() {
    let (state, root) = genesis_state();
    let late = BlockContext { height: 1, timestamp_ms: GENESIS_TIME_MS + 31 * DAY_MS };
    assert_eq!(invalid_rule(execute_block(&state, &root, &late, &[transfer(0, 1)])), RuleId::CredentialExpiry);
}

#[test]
fn data_records_need_a_registered_schema() {
    let (state, root) = genesis_state();
    let record = |schema: &str, nonce| {
        signed(
            "bank-a.ops",
            11,
            nonce,
            Payload::DataRecord(DataRecord {
                schema: SchemaId::new(schema).unwrap(),
                subject: None,
                classification: Classification::Internal,
                content: RecordContent::Inline(br#"{"note":"hello"}"#.to_vec()),
            }),
        )
    };
    let outcome = execute_block(&state, &root, &context(1), &[record("demo.v1", 0), record("unknown.v1", 1)]).unwrap();
    assert_eq!(outcome.receipts[0].outcome, TxOutcome::Success);
    assert!(
        matches!(&outcome.receipts[1].outcome, TxOutcome::Failed { rule: Some(rule), .. } if rule == "COV-32-DATA-SCHEMA")
    );
}

#[test]
fn building_drops_what_validation_would_refuse_and_agrees_with_it() {
    let (state, root) = genesis_state();
    let candidates = vec![transfer(0, 10), transfer(5, 10), transfer(1, 10)];
    let BuiltBlock { included, dropped, deferred, outcome: built } =
        build_block(&state, &root, &context(1), candidates).unwrap();
    assert_eq!(included.iter().map(|tx| tx.tx().body.nonce).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(dropped.len(), 1);
    assert!(deferred.is_empty(), "only contract calls over the block's fuel bound wait");
    let validated = execute_block(&state, &root, &context(1), &included).unwrap();
    assert_eq!(built, validated);
}

#[test]
fn the_same_block_always_gives_the_same_root() {
    let (state, root) = genesis_state();
    let block = [transfer(0, 1), transfer(1, 2), transfer(2, 3)];
    let first = execute_block(&state, &root, &context(1), &block).unwrap();
    let second = execute_block(&state, &root, &context(1), &block).unwrap();
    assert_eq!(first.state_root, second.state_root);
    let other_time = execute_block(&state, &root, &context(2), &block).unwrap();
    assert_ne!(first.state_root, other_time.state_root, "the root commits to the height");
}
