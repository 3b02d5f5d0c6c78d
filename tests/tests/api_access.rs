//! Authenticated API access with real node processes: operators open sessions with signed requests;
//! only auditors read the audit log (COV-33); customer data is read by need to know (COV-08) and
//! every read is audited (COV-40); a revoked operator's session reads nothing once the revocation
//! executed (COV-17); the public transaction view leaves record content out.

use std::time::Duration;

use covenant_tests::{Consortium, LOCAL_CHAIN, now_ms};
use covenant_types::*;

const DAY_MS: u64 = 86_400_000;

fn session(consortium: &Consortium, operator: &str, key: &SecretKey) -> String {
    let request = covenant_node::auth::sign_session(
        &ChainId::new(LOCAL_CHAIN).unwrap(),
        &OperatorId::new(operator).unwrap(),
        key,
        now_ms(),
    );
    let response = consortium.apis[0].post_json("/v1/auth/sessions", &request).unwrap();
    assert!(response.is_success(), "{operator}: {:?}", response.body);
    response.body["token"].as_str().unwrap().to_string()
}

// covers: COV-08-CUSTOMER-DATA-ACCESS, COV-40-CUSTOMER-DATA-READ-AUDIT, COV-33-AUDIT-TRAIL, COV-17-REVOCATION
#[test]
fn sessions_give_auditors_the_audit_log_and_customer_data_only_to_those_who_need_it() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));

    // An auditor for bank-0, registered by vote.
    let auditor_key = SecretKey::generate();
    consortium.pass_proposal(GovernanceAction::RegisterOperator(OperatorRecord {
        id: OperatorId::new("bank-0.audit").unwrap(),
        person: PersonId::new("auditor-0").unwrap(),
        member: MemberId::new("bank-0").unwrap(),
        roles: vec![Role::Auditor],
        key: auditor_key.public_key(),
        key_expires_at_ms: now_ms() + 30 * DAY_MS,
    }));

    // bank-1 attests KYC for its customer and records encrypted customer data about them.
    let customer = AccountId::new("bank-1/customers/c-001").unwrap();
    let kyc = consortium.send_tx(
        1,
        "bank-1.ops",
        Payload::KycAttestation(KycAttestation {
            account: customer.clone(),
            evidence: Hash::digest(b"kyc file 001"),
            expires_at_ms: now_ms() + DAY_MS,
        }),
    );
    consortium.wait_committed(&kyc);
    let mut envelope = b"CVE1".to_vec();
    envelope.push(1);
    envelope.extend([7u8; 32 + 24 + 16 + 12]);
    let record = consortium.send_tx(
        1,
        "bank-1.ops",
        Payload::DataRecord(DataRecord {
            schema: SchemaId::new("demo.v1").unwrap(),
            subject: Some(customer),
            classification: Classification::CustomerData,
            content: RecordContent::Inline(envelope),
        }),
    );
    consortium.wait_committed(&record);
    let path = format!("/v1/records/{record}");
    let api = &consortium.apis[0];

    // No session: no access. The public transaction view leaves the content out.
    assert_eq!(api.get(&path).unwrap().status, 401);
    assert_eq!(api.get("/v1/audit").unwrap().status, 401);
    let public = api.get(&format!("/v1/txs/{record}")).unwrap().body;
    assert!(public.to_string().contains("redacted"), "{public}");

    // Another member's submitter: not its customer (COV-08).
    let outsider = session(&consortium, "bank-2.ops", &consortium.operator_key("bank-2.ops"));
    let refused = api.get_in_session(&path, &outsider).unwrap();
    assert_eq!(refused.status, 403, "{:?}", refused.body);
    assert_eq!(refused.body["rule"], "COV-08-CUSTOMER-DATA-ACCESS");
    // Nor may it read the audit log (COV-33).
    let refused = api.get_in_session("/v1/audit", &outsider).unwrap();
    assert_eq!((refused.status, refused.body["rule"].as_str()), (403, Some("COV-33-AUDIT-TRAIL")));

    // The customer's own member reads it.
    let owner = session(&consortium, "bank-1.ops", &consortium.operator_key("bank-1.ops"));
    let read = api.get_in_session(&path, &owner).unwrap();
    assert!(read.is_success(), "{:?}", read.body);
    assert_eq!(read.body["record"]["classification"], "CustomerData");

    // A refused transaction is audited by the node it was sent to, with its rule.
    let gap = covenant_client::transfer(
        &ChainId::new(LOCAL_CHAIN).unwrap(),
        &OperatorId::new("bank-0.ops").unwrap(),
        &consortium.operator_key("bank-0.ops"),
        1_000,
        now_ms(),
        AccountId::new("bank-0/treasury").unwrap(),
        AccountId::new("bank-1/treasury").unwrap(),
        AssetId::new("twd").unwrap(),
        1,
    );
    assert_eq!(api.submit(&gap).unwrap().status, 422);

    // The auditor reads the audit log: the customer-data read is there with who read what (COV-40),
    // and so is the refused one.
    let auditor = session(&consortium, "bank-0.audit", &auditor_key);
    // One page holds the whole log of this short run (each read adds an `audit_read` entry, so a
    // reader following `next` would never run out).
    let page = api.get_in_session("/v1/audit?from=0", &auditor).unwrap();
    assert!(page.is_success(), "{:?}", page.body);
    let entries = page.body["entries"].as_array().unwrap().clone();
    assert!(entries.len() < 1000, "the log outgrew one page: {}", entries.len());
    let read_entry = entries
        .iter()
        .find(|entry| entry["event_type"] == "CustomerDataRead")
        .unwrap_or_else(|| panic!("no customer-data read audited: {entries:#?}"));
    assert_eq!(read_entry["actor"]["Operator"], "bank-1.ops");
    assert_eq!(read_entry["details"]["record"], record.to_hex());
    assert_eq!(read_entry["details"]["subject"], "bank-1/customers/c-001");
    assert!(
        entries.iter().any(|entry| entry["event_type"] == "TxRejected"
            && entry["details"]["rule"] == "COV-34-ORDERED-NONCES"
            && entry["actor"]["Operator"] == "bank-0.ops"),
        "the refused transaction is not in the audit log"
    );
    assert!(
        entries.iter().any(|entry| entry["event_type"] == "ApiAccessDenied"
            && entry["details"]["rule"] == "COV-08-CUSTOMER-DATA-ACCESS")
    );

    // Revoked by vote: the open session reads nothing any more (COV-17).
    consortium.pass_proposal(GovernanceAction::RevokeOperator(OperatorId::new("bank-1.ops").unwrap()));
    let refused = api.get_in_session(&path, &owner).unwrap();
    assert_eq!((refused.status, refused.body["rule"].as_str()), (403, Some("COV-17-REVOCATION")));
    let reopen = consortium.apis[0]
        .post_json(
            "/v1/auth/sessions",
            &covenant_node::auth::sign_session(
                &ChainId::new(LOCAL_CHAIN).unwrap(),
                &OperatorId::new("bank-1.ops").unwrap(),
                &consortium.operator_key("bank-1.ops"),
                now_ms(),
            ),
        )
        .unwrap();
    assert_eq!(reopen.status, 403, "{:?}", reopen.body);
}
