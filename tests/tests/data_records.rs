//! Data records end to end with real processes (docs/data-records.md, ADR 0024): a schema registered by
//! vote carries its definition; every validator checks each record against it, so a record that does
//! not follow fails with a receipt naming COV-32 on every node; customer data without its customer is
//! refused at submission (COV-37); the four nodes hold the same chain.

use std::time::{Duration, Instant};

use covenant_client::operator_tx;
use covenant_tests::{Consortium, LOCAL_CHAIN, now_ms};
use covenant_types::*;

const COMMIT_TIMEOUT: Duration = Duration::from_secs(60);

fn submit(consortium: &Consortium, via: usize, operator: &str, payload: Payload) -> covenant_client::Response {
    let api = &consortium.apis[via];
    let nonce = api.get(&format!("/v1/operators/{operator}/nonce")).unwrap().body["next_nonce"].as_u64().unwrap();
    let tx = operator_tx(
        &ChainId::new(LOCAL_CHAIN).unwrap(),
        &OperatorId::new(operator).unwrap(),
        &consortium.operator_key(operator),
        nonce,
        now_ms(),
        payload,
    );
    api.submit(&tx).unwrap()
}

/// The committed receipt of `hash` on node `via`.
fn receipt(consortium: &Consortium, via: usize, hash: &Hash) -> serde_json::Value {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    loop {
        let answer = consortium.apis[via].get(&format!("/v1/txs/{hash}")).map(|r| r.body).unwrap_or_default();
        if answer["status"] == "committed" {
            return answer["receipt"].clone();
        }
        assert!(Instant::now() < deadline, "timed out waiting for {hash} on node {via}\n{}", consortium.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn loan(classification: Classification, subject: Option<&str>, content: &[u8]) -> Payload {
    Payload::DataRecord(DataRecord {
        schema: SchemaId::new("loan.v1").unwrap(),
        subject: subject.map(|account| AccountId::new(account).unwrap()),
        classification,
        content: RecordContent::Inline(content.to_vec()),
    })
}

// covers: COV-32-DATA-SCHEMA, COV-37-PII-PROTECTION
#[test]
fn every_validator_checks_records_against_the_schema_registered_with_its_definition() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let definition = br#"{"classifications":["internal","customer_data"],"fields":[
        {"name":"amount","type":"u64","required":true},{"name":"note","type":"string","max_len":32}]}"#;
    consortium.pass_proposal(GovernanceAction::RegisterSchema {
        schema: SchemaId::new("loan.v1").unwrap(),
        definition: definition.to_vec(),
    });

    let follows = consortium.send_tx(1, "bank-1.ops", loan(Classification::Internal, None, br#"{"amount":250000}"#));
    assert_eq!(receipt(&consortium, 1, &follows)["outcome"], "Success");

    let off_schema =
        consortium.send_tx(1, "bank-1.ops", loan(Classification::Internal, None, br#"{"amount":"250000"}"#));
    for node in 0..4 {
        let failed = receipt(&consortium, node, &off_schema);
        assert_eq!(failed["outcome"]["Failed"]["rule"], "COV-32-DATA-SCHEMA", "node {node}: {failed}");
        let reason = failed["outcome"]["Failed"]["reason"].as_str().unwrap();
        assert!(reason.contains("\"amount\" must be of type u64"), "node {node}: {reason}");
    }

    // Customer data names its customer: without a subject it never reaches a block.
    let mut envelope = b"CVE1".to_vec();
    envelope.push(1);
    envelope.extend([7u8; 32 + 24 + 16 + 8]);
    let refused = submit(&consortium, 2, "bank-2.ops", loan(Classification::CustomerData, None, &envelope));
    assert!(!refused.is_success(), "customer data without a subject was admitted: {:?}", refused.body);
    assert_eq!(refused.body["rule"], "COV-37-PII-PROTECTION", "{:?}", refused.body);

    let height = consortium.height(0);
    consortium.wait_for_height(&[0, 1, 2, 3], height + 1, Duration::from_secs(60));
    consortium.assert_same_chain(&[0, 1, 2, 3]);
}
