//! Governance and the identity rules it enforces, executed block by block against a four-member
//! genesis: thresholds and the two-person rule, roles, proposal life cycle, member, sanction,
//! operator, node, parameter, threshold and schema actions, KYC and personal-data rules. Every
//! refusal is checked by its rule id.

use std::collections::BTreeMap;

use covenant_execution::governance::{Tally, counted_approvals, is_active_approver};
use covenant_execution::*;
use covenant_rules::{Genesis, RuleId};
use covenant_types::*;

const GENESIS_TIME_MS: u64 = 1_790_000_000_000;
const DAY_MS: u64 = 86_400_000;
const MEMBERS: [(&str, &str); 4] = [("bank-a", "TW"), ("bank-b", "TW"), ("bank-c", "JP"), ("bank-d", "SG")];

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed(&[seed; 32])
}

/// Seeds: member i has admin 10i+1, second admin 10i+2, submitter 10i+3, node keys 10i+4 and 10i+5.
fn seed(member: usize, which: u8) -> u8 {
    10 * (member as u8 + 1) + which
}

fn genesis_text() -> String {
    let mut text = format!(
        "chain_id = \"gov-test\"\nenvironment = \"test\"\ngenesis_time_ms = {GENESIS_TIME_MS}\nsanctioned_jurisdictions = []\n"
    );
    for (index, (member, jurisdiction)) in MEMBERS.iter().enumerate() {
        text += &format!("[[members]]\nid = \"{member}\"\nname = \"{member}\"\njurisdiction = \"{jurisdiction}\"\n");
        for (suffix, person, roles, which) in
            [("admin", "alice", "admin", 1), ("admin2", "bob", "admin", 2), ("ops", "carol", "submitter", 3)]
        {
            text += &format!(
                "[[operators]]\nid = \"{member}.{suffix}\"\nperson = \"{person}\"\nmember = \"{member}\"\nroles = [\"{roles}\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {}\n",
                key(seed(index, which)).public_key().to_hex(),
                GENESIS_TIME_MS + 60 * DAY_MS
            );
        }
        text += &format!(
            "[[nodes]]\nid = \"node-{index}\"\nmember = \"{member}\"\nrole = \"validator\"\nnetwork_key = \"{}\"\nconsensus_key = \"{}\"\n",
            key(seed(index, 4)).public_key().to_hex(),
            key(seed(index, 5)).public_key().to_hex()
        );
        text += &format!("[[accounts]]\nid = \"{member}/treasury\"\nbalances = {{ twd = 1000 }}\n");
    }
    text += &format!("[[schemas]]\nid = \"demo.v1\"\ndefinition = '{DEMO_DEFINITION}'\n");
    for (class, required) in
        [("membership", 3), ("operators", 2), ("nodes", 3), ("parameters", 3), ("contracts", 3), ("emergency", 2)]
    {
        text += &format!("[thresholds.{class}]\nmembers_required = {required}\n");
    }
    text
}

/// A chain in memory: committed state, root, height and the senders' next nonces.
struct Chain {
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    root: Hash,
    height: u64,
    nonces: BTreeMap<String, u64>,
}

impl Chain {
    fn new() -> Chain {
        let genesis = Genesis::from_toml_str(&genesis_text()).unwrap_or_else(|errors| panic!("{errors}"));
        let outcome = genesis_outcome(&genesis);
        let state = outcome.writes.into_iter().map(|(key, value)| (key, value.expect("genesis only writes"))).collect();
        Chain { state, root: outcome.block.header.state_root, height: 0, nonces: BTreeMap::new() }
    }

    fn now(&self) -> u64 {
        GENESIS_TIME_MS + (self.height + 1) * 1000
    }

    /// Signs a payload as `operator` (e.g. "bank-a.admin") with its genesis key, at its next nonce.
    fn tx(&mut self, operator: &str, payload: Payload) -> VerifiedTx {
        let member = MEMBERS.iter().position(|(id, _)| operator.starts_with(id)).expect("known member");
        let which = match operator.rsplit('.').next() {
            Some("admin") => 1,
            Some("admin2") => 2,
            _ => 3,
        };
        self.signed_with(operator, &key(seed(member, which)), payload)
    }

    fn signed_with(&mut self, operator: &str, key: &SecretKey, payload: Payload) -> VerifiedTx {
        let nonce = self.nonces.get(operator).copied().unwrap_or(0);
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: ChainId::new("gov-test").unwrap(),
            sender: Principal::Operator(OperatorId::new(operator).unwrap()),
            nonce,
            created_at_ms: self.now(),
            payload,
        };
        VerifiedTx::verify(SignedTx::sign(body, key), &ChainId::new("gov-test").unwrap()).unwrap()
    }

    /// Executes one block of `txs`; commits it if valid. Returns the rule that made it invalid.
    fn block(&mut self, txs: Vec<VerifiedTx>) -> Result<Vec<Receipt>, RuleId> {
        let context = BlockContext { height: self.height + 1, timestamp_ms: self.now() };
        match execute_block(&self.state, &self.root, &context, &txs) {
            Ok(outcome) => {
                for (key, value) in outcome.writes {
                    match value {
                        Some(value) => self.state.insert(key, value),
                        None => self.state.remove(&key),
                    };
                }
                self.root = outcome.state_root;
                self.height += 1;
                for tx in &txs {
                    // Node senders (audit anchors) set their nonces themselves.
                    if let Principal::Operator(operator) = &tx.tx().body.sender {
                        *self.nonces.entry(operator.to_string()).or_default() += 1;
                    }
                }
                Ok(outcome.receipts)
            }
            Err(BlockError::InvalidTx { reason, .. }) => match *reason {
                TxInvalid::Violation(violation) => Err(violation.rule()),
                other => panic!("expected a covenant violation, got {other:?}"),
            },
            Err(other) => panic!("block failed: {other}"),
        }
    }

    /// One transaction in its own block.
    fn send(&mut self, operator: &str, payload: Payload) -> Result<Receipt, RuleId> {
        let tx = self.tx(operator, payload);
        self.block(vec![tx]).map(|mut receipts| receipts.remove(0))
    }

    fn propose(&mut self, operator: &str, action: GovernanceAction) -> Result<Hash, RuleId> {
        let proposal = Proposal { action, reason: "test".into(), expires_at_ms: self.now() + DAY_MS };
        let tx = self.tx(operator, Payload::GovernancePropose(Box::new(proposal)));
        let id = tx.hash();
        self.block(vec![tx])?;
        Ok(id)
    }

    fn approve(&mut self, operator: &str, id: Hash) -> Result<Receipt, RuleId> {
        self.send(operator, Payload::GovernanceApprove(id))
    }

    fn proposal(&self, id: Hash) -> ProposalState {
        StateReader::get(&self.state, &StateKey::Proposal(id)).unwrap().expect("proposal stored")
    }

    /// Proposes and gets approvals from two admins of two other members: passes any class with a
    /// threshold up to 3.
    fn pass(&mut self, action: GovernanceAction) -> ProposalState {
        let id = self.propose("bank-a.admin", action).expect("proposal accepted");
        self.approve("bank-b.admin", id).expect("approval accepted");
        self.approve("bank-c.admin", id).expect("approval accepted");
        self.proposal(id)
    }

    fn member(&self, member: &str) -> MemberState {
        StateReader::get(&self.state, &StateKey::Member(MemberId::new(member).unwrap())).unwrap().unwrap()
    }
}

fn operator_record(id: &str, member: &str, person: &str, roles: Vec<Role>, key_seed: u8, days: u64) -> OperatorRecord {
    OperatorRecord {
        id: OperatorId::new(id).unwrap(),
        person: PersonId::new(person).unwrap(),
        member: MemberId::new(member).unwrap(),
        roles,
        key: key(key_seed).public_key(),
        key_expires_at_ms: GENESIS_TIME_MS + days * DAY_MS,
    }
}

/// The genesis schema `demo.v1`: one optional text field, any classification.
const DEMO_DEFINITION: &str =
    r#"{"classifications":["public","internal","customer_data"],"fields":[{"name":"note","type":"string"}]}"#;

/// A schema definition allowing internal records with no fields.
fn empty_definition() -> Vec<u8> {
    br#"{"classifications":["internal"],"fields":[]}"#.to_vec()
}

fn transfer(from: &str, to: &str, memo: &str) -> Payload {
    Payload::Transfer(Transfer {
        from: AccountId::new(from).unwrap(),
        to: AccountId::new(to).unwrap(),
        asset: AssetId::new("twd").unwrap(),
        amount: 1,
        memo: memo.into(),
    })
}

// covers: COV-16-TWO-PERSON-RULE, COV-15-CHANGE-BY-CONSENSUS
#[test]
fn two_person_rule_needs_two_approving_persons_beyond_the_member_threshold() {
    let mut chain = Chain::new();
    let record = operator_record("bank-a.audit", "bank-a", "dave", vec![Role::Auditor], 200, 30);
    let id = chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(record)).unwrap();
    // The operators class needs 2 members: bank-a (proposer) and bank-b make 2, but only one person
    // besides the proposer approved.
    chain.approve("bank-b.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open);
    // The same person cannot approve twice, even through the block after.
    assert_eq!(chain.approve("bank-b.admin", id).unwrap_err(), RuleId::TwoPersonRule);
    // A second person of the same member is a second person: now it executes.
    chain.approve("bank-b.admin2", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Executed { height: chain.height });
    let stored: Option<OperatorState> =
        StateReader::get(&chain.state, &StateKey::Operator(OperatorId::new("bank-a.audit").unwrap())).unwrap();
    assert!(stored.is_some_and(|operator| !operator.revoked));
}

// covers: COV-12-ROLE-SEPARATION, COV-18-NO-SUPERUSER
#[test]
fn nobody_approves_their_own_proposal_so_one_person_changes_nothing_alone() {
    let mut chain = Chain::new();
    let id = chain
        .propose("bank-a.admin", GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 500 })
        .unwrap();
    assert_eq!(chain.approve("bank-a.admin", id).unwrap_err(), RuleId::RoleSeparation);
    // Another admin of the proposer's own member may approve (a second person) but one member
    // cannot meet a threshold of 3 alone.
    chain.approve("bank-a.admin2", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open);
    let params = chain.state.params().unwrap();
    assert_eq!(params.block_txs_max, 10_000, "nothing changed");
}

// covers: COV-12-ROLE-SEPARATION
#[test]
fn roles_decide_who_may_send_what() {
    let mut chain = Chain::new();
    let action = GovernanceAction::SuspendMember(MemberId::new("bank-d").unwrap());
    assert_eq!(chain.propose("bank-a.ops", action).unwrap_err(), RuleId::RoleSeparation, "a submitter cannot propose");
    assert_eq!(
        chain.send("bank-a.admin", transfer("bank-a/treasury", "bank-b/treasury", "")).unwrap_err(),
        RuleId::RoleSeparation,
        "an admin does not move funds"
    );
    let both = operator_record("bank-a.both", "bank-a", "erin", vec![Role::Admin, Role::Auditor], 201, 30);
    assert_eq!(
        chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(both)).unwrap_err(),
        RuleId::RoleSeparation,
        "admin and auditor cannot be combined"
    );
}

// covers: COV-15-CHANGE-BY-CONSENSUS
#[test]
fn proposals_expire_and_their_lifetime_is_bounded() {
    let mut chain = Chain::new();
    let action =
        GovernanceAction::RegisterSchema { schema: SchemaId::new("kyc.v1").unwrap(), definition: empty_definition() };
    let too_long = Proposal { action: action.clone(), reason: String::new(), expires_at_ms: chain.now() + 60 * DAY_MS };
    let tx = chain.tx("bank-a.admin", Payload::GovernancePropose(Box::new(too_long)));
    assert_eq!(chain.block(vec![tx]).unwrap_err(), RuleId::ChangeByConsensus);
    let short = Proposal { action, reason: String::new(), expires_at_ms: chain.now() + 1500 };
    let tx = chain.tx("bank-a.admin", Payload::GovernancePropose(Box::new(short)));
    let id = tx.hash();
    chain.block(vec![tx]).unwrap();
    chain.block(Vec::new()).unwrap();
    assert_eq!(chain.approve("bank-b.admin", id).unwrap_err(), RuleId::ChangeByConsensus, "expired");
    assert_eq!(chain.approve("bank-b.admin", Hash::digest(b"nothing")).unwrap_err(), RuleId::ChangeByConsensus);
}

// covers: COV-15-CHANGE-BY-CONSENSUS
#[test]
fn rejections_close_a_proposal_that_can_no_longer_pass_and_only_the_proposer_withdraws() {
    let mut chain = Chain::new();
    let action = GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 500 };
    let id = chain.propose("bank-a.admin", action.clone()).unwrap();
    chain.send("bank-b.admin", Payload::GovernanceReject(id)).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "3 of 4 can still approve");
    chain.send("bank-c.admin", Payload::GovernanceReject(id)).unwrap();
    assert!(matches!(chain.proposal(id).status, ProposalStatus::Rejected { .. }), "only 2 members left");
    assert_eq!(chain.approve("bank-d.admin", id).unwrap_err(), RuleId::ChangeByConsensus, "closed");

    let id = chain.propose("bank-a.admin", action).unwrap();
    assert_eq!(chain.send("bank-b.admin", Payload::GovernanceWithdraw(id)).unwrap_err(), RuleId::ChangeByConsensus);
    chain.send("bank-a.admin", Payload::GovernanceWithdraw(id)).unwrap();
    assert!(matches!(chain.proposal(id).status, ProposalStatus::Withdrawn { .. }));
}

// covers: COV-10-ONE-PERSON-ONE-ACCOUNT, COV-11-CREDENTIAL-EXPIRY, COV-41-KEY-ROTATION
#[test]
fn operator_registration_keeps_one_account_per_person_bounded_keys_and_unique_keys() {
    let mut chain = Chain::new();
    let second = operator_record("bank-a.alice2", "bank-a", "alice", vec![Role::Submitter], 202, 30);
    assert_eq!(
        chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(second)).unwrap_err(),
        RuleId::OnePersonOneAccount
    );
    let long_key = operator_record("bank-a.frank", "bank-a", "frank", vec![Role::Submitter], 203, 120);
    assert_eq!(
        chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(long_key)).unwrap_err(),
        RuleId::CredentialExpiry
    );
    let reused = operator_record("bank-a.grace", "bank-a", "grace", vec![Role::Submitter], seed(1, 3), 30);
    assert_eq!(
        chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(reused)).unwrap_err(),
        RuleId::KeyRotation,
        "a key registered to bank-b.ops cannot be registered again"
    );
}

// covers: COV-41-KEY-ROTATION, COV-17-REVOCATION, COV-30-SIGNED
#[test]
fn key_rotation_and_revocation_take_effect_from_the_next_block() {
    let mut chain = Chain::new();
    let operator = OperatorId::new("bank-a.ops").unwrap();
    let new_key = key(210);
    let rotated = chain.pass(GovernanceAction::RotateOperatorKey {
        operator: operator.clone(),
        key: new_key.public_key(),
        key_expires_at_ms: chain.now() + 30 * DAY_MS,
    });
    assert!(matches!(rotated.status, ProposalStatus::Executed { .. }), "{rotated:?}");
    assert_eq!(
        chain.send("bank-a.ops", transfer("bank-a/treasury", "bank-b/treasury", "")).unwrap_err(),
        RuleId::Signed,
        "the old key no longer signs"
    );
    let tx = chain.signed_with("bank-a.ops", &new_key, transfer("bank-a/treasury", "bank-b/treasury", ""));
    assert_eq!(chain.block(vec![tx]).unwrap()[0].outcome, TxOutcome::Success);

    let revoked = chain.pass(GovernanceAction::RevokeOperator(operator));
    assert!(matches!(revoked.status, ProposalStatus::Executed { .. }));
    let tx = chain.signed_with("bank-a.ops", &new_key, transfer("bank-a/treasury", "bank-b/treasury", ""));
    assert_eq!(chain.block(vec![tx]).unwrap_err(), RuleId::Revocation);
    // The person may be given a new account after the revocation.
    let again = operator_record("bank-a.ops2", "bank-a", "carol", vec![Role::Submitter], 211, 30);
    assert!(matches!(chain.pass(GovernanceAction::RegisterOperator(again)).status, ProposalStatus::Executed { .. }));
}

// covers: COV-06-SANCTIONED-JURISDICTION, COV-17-REVOCATION
#[test]
fn sanctioning_a_jurisdiction_suspends_its_members_and_their_validators() {
    let mut chain = Chain::new();
    let singapore = Jurisdiction::new("SG").unwrap();
    let admit = GovernanceAction::AdmitMember {
        member: MemberId::new("bank-e").unwrap(),
        name: "Bank E".into(),
        jurisdiction: singapore.clone(),
    };
    let passed = chain.pass(GovernanceAction::SetSanctionedJurisdictions(vec![singapore]));
    assert!(matches!(passed.status, ProposalStatus::Executed { .. }), "{passed:?}");
    assert_eq!(chain.member("bank-d").status, MemberStatus::Suspended);
    let validators = chain.state.validators().unwrap();
    assert_eq!(validators.len(), 3);
    assert!(validators.validators().iter().all(|validator| validator.id.as_str() != "node-3"));
    assert_eq!(
        chain.send("bank-d.ops", transfer("bank-d/treasury", "bank-a/treasury", "")).unwrap_err(),
        RuleId::Revocation,
        "a suspended member's operators sign nothing"
    );
    assert_eq!(chain.propose("bank-a.admin", admit).unwrap_err(), RuleId::SanctionedJurisdiction);
}

// covers: COV-15-CHANGE-BY-CONSENSUS
#[test]
fn validator_changes_apply_from_the_next_height_and_never_break_the_quorum() {
    let mut chain = Chain::new();
    let node = NodeRecord {
        id: NodeId::new("node-4").unwrap(),
        member: MemberId::new("bank-a").unwrap(),
        role: NodeRole::Validator,
        network_key: key(220).public_key(),
        consensus_key: key(221).public_key(),
    };
    let observer = NodeRecord { role: NodeRole::Observer, ..node };
    assert!(matches!(chain.pass(GovernanceAction::AddNode(observer)).status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.state.validators().unwrap().len(), 4, "an observer does not vote");
    let promote = GovernanceAction::ChangeNodeRole { node: NodeId::new("node-4").unwrap(), role: NodeRole::Validator };
    assert!(matches!(chain.pass(promote).status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.state.validators().unwrap().len(), 5, "the set for the next height includes node-4");
    for node in ["node-4", "node-3", "node-2"] {
        let removed = chain.pass(GovernanceAction::RemoveNode(NodeId::new(node).unwrap()));
        assert!(matches!(removed.status, ProposalStatus::Executed { .. }), "{removed:?}");
    }
    let validators = chain.state.validators().unwrap();
    assert_eq!((validators.len(), validators.quorum()), (2, 2));
    // Two validators have a quorum of 2: removing one more would leave 1.
    let remove = GovernanceAction::RemoveNode(NodeId::new("node-1").unwrap());
    assert_eq!(chain.propose("bank-a.admin", remove).unwrap_err(), RuleId::ChangeByConsensus);
}

// covers: COV-11-CREDENTIAL-EXPIRY, COV-18-NO-SUPERUSER, COV-15-CHANGE-BY-CONSENSUS
#[test]
fn parameters_and_thresholds_change_only_within_covenant_bounds() {
    let mut chain = Chain::new();
    let too_long = GovernanceAction::SetParameter { name: "operator_key_age_days_max".into(), value: 120 };
    assert_eq!(chain.propose("bank-a.admin", too_long).unwrap_err(), RuleId::CredentialExpiry);
    let one = GovernanceAction::SetThreshold { class: "operators".into(), members: 1 };
    assert_eq!(chain.propose("bank-a.admin", one).unwrap_err(), RuleId::NoSuperuser);
    let unreachable = GovernanceAction::SetThreshold { class: "operators".into(), members: 5 };
    assert_eq!(chain.propose("bank-a.admin", unreachable).unwrap_err(), RuleId::ChangeByConsensus);

    let passed = chain.pass(GovernanceAction::SetParameter { name: "block_txs_max".into(), value: 500 });
    assert!(matches!(passed.status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.state.params().unwrap().block_txs_max, 500);
    // Raising the operators threshold needs the stricter of parameters (3) and operators (2).
    let raise = GovernanceAction::SetThreshold { class: "operators".into(), members: 3 };
    let id = chain.propose("bank-a.admin", raise).unwrap();
    chain.approve("bank-b.admin", id).unwrap();
    chain.approve("bank-b.admin2", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "two members are not enough for this change");
    chain.approve("bank-c.admin", id).unwrap();
    assert!(matches!(chain.proposal(id).status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.state.thresholds().unwrap().operators, 3);
}

// covers: COV-15-CHANGE-BY-CONSENSUS
#[test]
fn a_proposal_that_no_longer_applies_when_it_passes_fails_with_its_reason() {
    let mut chain = Chain::new();
    let admit = GovernanceAction::AdmitMember {
        member: MemberId::new("bank-e").unwrap(),
        name: "Bank E".into(),
        jurisdiction: Jurisdiction::new("TW").unwrap(),
    };
    let first = chain.propose("bank-b.admin", admit.clone()).unwrap();
    assert!(matches!(chain.pass(admit).status, ProposalStatus::Executed { .. }));
    chain.approve("bank-a.admin", first).unwrap();
    chain.approve("bank-c.admin", first).unwrap();
    match chain.proposal(first).status {
        ProposalStatus::Failed { rule, reason, .. } => {
            assert_eq!(rule, "COV-15-CHANGE-BY-CONSENSUS");
            assert!(reason.contains("already exists"), "{reason}");
        }
        other => panic!("expected a failed proposal, got {other:?}"),
    }
}

// covers: COV-32-DATA-SCHEMA
#[test]
fn schemas_registered_by_vote_can_be_used_by_data_records() {
    let mut chain = Chain::new();
    let record_as = |classification, schema: &str, content: &str| {
        Payload::DataRecord(DataRecord {
            schema: SchemaId::new(schema).unwrap(),
            subject: None,
            classification,
            content: RecordContent::Inline(content.as_bytes().to_vec()),
        })
    };
    let record = |schema: &str, content: &str| record_as(Classification::Internal, schema, content);
    let window = r#"{"closes_at":"16:00","currency":"twd"}"#;
    let before = chain.send("bank-a.ops", record("fx.v1", window)).unwrap();
    assert!(matches!(before.outcome, TxOutcome::Failed { rule: Some(ref rule), .. } if rule == "COV-32-DATA-SCHEMA"));
    let definition = br#"{"classifications":["internal"],"fields":[
        {"name":"currency","type":"string","required":true,"max_len":3},
        {"name":"closes_at","type":"string"}]}"#;
    let passed = chain.pass(GovernanceAction::RegisterSchema {
        schema: SchemaId::new("fx.v1").unwrap(),
        definition: definition.to_vec(),
    });
    assert!(matches!(passed.status, ProposalStatus::Executed { .. }));
    assert_eq!(chain.send("bank-a.ops", record("fx.v1", window)).unwrap().outcome, TxOutcome::Success);
    // The schema allows internal records only.
    let public = chain.send("bank-a.ops", record_as(Classification::Public, "fx.v1", window)).unwrap();
    assert!(matches!(public.outcome, TxOutcome::Failed { rule: Some(ref rule), ref reason }
        if rule == "COV-32-DATA-SCHEMA" && reason.contains("classification Public")));
}

// covers: COV-32-DATA-SCHEMA
#[test]
fn records_that_do_not_follow_their_schema_fail_with_a_receipt_naming_the_rule() {
    let mut chain = Chain::new();
    let record = |classification, content: &str| {
        Payload::DataRecord(DataRecord {
            schema: SchemaId::new("demo.v1").unwrap(),
            subject: None,
            classification,
            content: RecordContent::Inline(content.as_bytes().to_vec()),
        })
    };
    let failed_by_schema = |receipt: Receipt, expected: &str| match receipt.outcome {
        TxOutcome::Failed { rule: Some(rule), reason } => {
            assert_eq!(rule, "COV-32-DATA-SCHEMA", "{reason}");
            assert!(reason.contains(expected), "expected {expected:?} in {reason:?}");
        }
        other => panic!("expected a failed receipt, got {other:?}"),
    };
    let ok = chain.send("bank-a.ops", record(Classification::Internal, r#"{"note":"rates up"}"#)).unwrap();
    assert_eq!(ok.outcome, TxOutcome::Success);
    let unknown = chain.send("bank-a.ops", record(Classification::Internal, r#"{"colour":"red"}"#)).unwrap();
    failed_by_schema(unknown, "\"colour\" is not in the schema");
    let wrong_type = chain.send("bank-a.ops", record(Classification::Public, r#"{"note":7}"#)).unwrap();
    failed_by_schema(wrong_type, "must be of type string");
    let not_json = chain.send("bank-a.ops", record(Classification::Internal, "settlement window 16:00")).unwrap();
    failed_by_schema(not_json, "not JSON");
    // Nothing of a failed record is stored; the nonce moved on.
    assert_eq!(chain.send("bank-a.ops", record(Classification::Internal, "{}")).unwrap().outcome, TxOutcome::Success);
}

// covers: COV-32-DATA-SCHEMA
#[test]
fn a_schema_is_registered_only_with_a_valid_definition() {
    let mut chain = Chain::new();
    let register = |definition: &[u8]| GovernanceAction::RegisterSchema {
        schema: SchemaId::new("loan.v1").unwrap(),
        definition: definition.to_vec(),
    };
    let not_json = chain.propose("bank-a.admin", register(b"not json")).unwrap_err();
    assert_eq!(not_json, RuleId::DataSchema);
    let too_large = vec![b' '; covenant_rules::schema::SCHEMA_DEFINITION_BYTES_MAX + 1];
    assert_eq!(chain.propose("bank-a.admin", register(&too_large)).unwrap_err(), RuleId::DataSchema);
    let no_class = br#"{"classifications":[],"fields":[]}"#;
    assert_eq!(chain.propose("bank-a.admin", register(no_class)).unwrap_err(), RuleId::DataSchema);
    assert!(matches!(chain.pass(register(&empty_definition())).status, ProposalStatus::Executed { .. }));
}

// covers: COV-07-KYC-REQUIRED
#[test]
fn customer_accounts_need_an_unexpired_kyc_attestation_by_their_member() {
    let mut chain = Chain::new();
    let customer = "bank-b/customers/c-001";
    assert_eq!(chain.send("bank-a.ops", transfer("bank-a/treasury", customer, "")).unwrap_err(), RuleId::KycRequired);
    let attest = |expires| {
        Payload::KycAttestation(KycAttestation {
            account: AccountId::new(customer).unwrap(),
            evidence: Hash::digest(b"file 42"),
            expires_at_ms: expires,
        })
    };
    // Another member cannot attest for bank-b's customer.
    let foreign = chain.send("bank-a.ops", attest(GENESIS_TIME_MS + 10 * DAY_MS)).unwrap();
    assert!(matches!(foreign.outcome, TxOutcome::Failed { .. }));
    assert_eq!(chain.send("bank-a.ops", transfer("bank-a/treasury", customer, "")).unwrap_err(), RuleId::KycRequired);
    let expiry = chain.now() + 3000;
    assert_eq!(chain.send("bank-b.ops", attest(expiry)).unwrap().outcome, TxOutcome::Success);
    assert_eq!(
        chain.send("bank-a.ops", transfer("bank-a/treasury", customer, "")).unwrap().outcome,
        TxOutcome::Success
    );
    while chain.now() < expiry {
        chain.block(Vec::new()).unwrap();
    }
    assert_eq!(
        chain.send("bank-a.ops", transfer("bank-a/treasury", customer, "")).unwrap_err(),
        RuleId::KycRequired,
        "the attestation expired"
    );
}

// covers: COV-37-PII-PROTECTION
#[test]
fn customer_data_must_be_encrypted_and_national_ids_never_appear_in_plaintext() {
    let mut chain = Chain::new();
    let customer = AccountId::new("bank-a/customers/c-9").unwrap();
    let kyc = Payload::KycAttestation(KycAttestation {
        account: customer.clone(),
        evidence: Hash::digest(b"file 9"),
        expires_at_ms: chain.now() + DAY_MS,
    });
    assert_eq!(chain.send("bank-a.ops", kyc).unwrap().outcome, TxOutcome::Success);
    let record = |classification, subject: Option<&AccountId>, content: Vec<u8>| {
        Payload::DataRecord(DataRecord {
            schema: SchemaId::new("demo.v1").unwrap(),
            subject: subject.cloned(),
            classification,
            content: RecordContent::Inline(content),
        })
    };
    assert_eq!(
        chain
            .send("bank-a.ops", record(Classification::CustomerData, Some(&customer), b"name=Lin".to_vec()))
            .unwrap_err(),
        RuleId::PiiProtection
    );
    assert_eq!(
        chain.send("bank-a.ops", record(Classification::Internal, None, b"id A123456789".to_vec())).unwrap_err(),
        RuleId::PiiProtection
    );
    assert_eq!(
        chain.send("bank-a.ops", transfer("bank-a/treasury", "bank-b/treasury", "for A123456789")).unwrap_err(),
        RuleId::PiiProtection
    );
    let mut envelope = b"CVE1".to_vec();
    envelope.push(1);
    envelope.extend([9u8; 32 + 24 + 16 + 10]);
    // Customer data names its customer: without a subject, or under a non-customer account, it is refused.
    assert_eq!(
        chain.send("bank-a.ops", record(Classification::CustomerData, None, envelope.clone())).unwrap_err(),
        RuleId::PiiProtection
    );
    let treasury = AccountId::new("bank-a/treasury").unwrap();
    assert_eq!(
        chain.send("bank-a.ops", record(Classification::CustomerData, Some(&treasury), envelope.clone())).unwrap_err(),
        RuleId::PiiProtection
    );
    // A record about a customer is customer data, whatever it claims; so is readable content naming one.
    let note = br#"{"note":"called back"}"#.to_vec();
    assert_eq!(
        chain.send("bank-a.ops", record(Classification::Internal, Some(&customer), note)).unwrap_err(),
        RuleId::PiiProtection
    );
    let naming = br#"{"note":"bank-a/customers/c-9 called"}"#.to_vec();
    assert_eq!(
        chain.send("bank-a.ops", record(Classification::Internal, None, naming)).unwrap_err(),
        RuleId::PiiProtection
    );
    let sealed = chain.send("bank-a.ops", record(Classification::CustomerData, Some(&customer), envelope)).unwrap();
    assert_eq!(sealed.outcome, TxOutcome::Success);
}

// covers: COV-07-KYC-REQUIRED
#[test]
fn kyc_is_attested_only_for_customer_accounts() {
    let mut chain = Chain::new();
    let attest = |account: &str| {
        Payload::KycAttestation(KycAttestation {
            account: AccountId::new(account).unwrap(),
            evidence: Hash::digest(b"file"),
            expires_at_ms: GENESIS_TIME_MS + 10 * DAY_MS,
        })
    };
    let receipt = chain.send("bank-a.ops", attest("bank-a/treasury")).unwrap();
    match receipt.outcome {
        TxOutcome::Failed { rule: Some(rule), reason } => {
            assert_eq!(rule, "COV-07-KYC-REQUIRED");
            assert!(reason.contains("not a customer account"), "{reason}");
        }
        other => panic!("a treasury account cannot be made a customer by attestation: {other:?}"),
    }
    assert_eq!(chain.send("bank-a.ops", attest("bank-a/customers/c-1")).unwrap().outcome, TxOutcome::Success);
}

// covers: COV-11-CREDENTIAL-EXPIRY
#[test]
fn node_keys_sign_no_governance_or_operator_actions() {
    let mut chain = Chain::new();
    let proposal = Proposal {
        action: GovernanceAction::SuspendMember(MemberId::new("bank-b").unwrap()),
        reason: String::new(),
        expires_at_ms: chain.now() + DAY_MS,
    };
    for payload in [Payload::GovernancePropose(Box::new(proposal)), transfer("bank-a/treasury", "bank-b/treasury", "")]
    {
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: ChainId::new("gov-test").unwrap(),
            sender: Principal::Node(NodeId::new("node-0").unwrap()),
            nonce: 0,
            created_at_ms: chain.now(),
            payload,
        };
        let tx =
            VerifiedTx::verify(SignedTx::sign(body, &key(seed(0, 5))), &ChainId::new("gov-test").unwrap()).unwrap();
        assert_eq!(chain.block(vec![tx]).unwrap_err(), RuleId::CredentialExpiry);
    }
}

// covers: COV-33-AUDIT-TRAIL, COV-30-SIGNED
#[test]
fn nodes_anchor_their_audit_heads_in_order_with_their_consensus_keys() {
    let mut chain = Chain::new();
    let anchor = |sequence: u64, signer: u8, node: &str| {
        let body = TxBody {
            version: ENCODING_VERSION,
            chain_id: ChainId::new("gov-test").unwrap(),
            sender: Principal::Node(NodeId::new(node).unwrap()),
            nonce: sequence / 10,
            created_at_ms: GENESIS_TIME_MS,
            payload: Payload::AuditAnchor(AuditAnchor { sequence, hash: Hash::digest(&sequence.to_be_bytes()) }),
        };
        VerifiedTx::verify(SignedTx::sign(body, &key(signer)), &ChainId::new("gov-test").unwrap()).unwrap()
    };
    assert_eq!(chain.block(vec![anchor(0, seed(0, 5), "node-0")]).unwrap()[0].outcome, TxOutcome::Success);
    let stored: Option<AnchorRecord> =
        StateReader::get(&chain.state, &StateKey::AuditAnchor(NodeId::new("node-0").unwrap(), 0)).unwrap();
    assert_eq!(stored.map(|record| record.height), Some(chain.height));
    assert_eq!(chain.block(vec![anchor(10, seed(0, 5), "node-0")]).unwrap()[0].outcome, TxOutcome::Success);
    // Going back, signing with the network key, or anchoring as an operator is refused.
    assert_eq!(chain.block(vec![anchor(20, seed(0, 4), "node-0")]).unwrap_err(), RuleId::Signed);
    let stale = VerifiedTx::verify(
        SignedTx::sign(TxBody { nonce: 2, ..anchor(5, seed(0, 5), "node-0").tx().body.clone() }, &key(seed(0, 5))),
        &ChainId::new("gov-test").unwrap(),
    )
    .unwrap();
    assert_eq!(chain.block(vec![stale]).unwrap_err(), RuleId::AuditTrail);
    let by_operator = chain.tx("bank-a.ops", Payload::AuditAnchor(AuditAnchor { sequence: 99, hash: Hash::ZERO }));
    assert_eq!(chain.block(vec![by_operator]).unwrap_err(), RuleId::AuditTrail);
}

// covers: COV-41-KEY-ROTATION, COV-17-REVOCATION
#[test]
fn emergency_revocation_needs_only_the_emergency_threshold() {
    let mut chain = Chain::new();
    let raised = chain.pass(GovernanceAction::SetThreshold { class: "operators".into(), members: 3 });
    assert!(matches!(raised.status, ProposalStatus::Executed { .. }));
    // Two members and two approving persons: short of the operators class's three members...
    let operator = OperatorId::new("bank-a.ops").unwrap();
    let normal = chain.propose("bank-a.admin", GovernanceAction::RevokeOperator(operator.clone())).unwrap();
    chain.approve("bank-b.admin", normal).unwrap();
    chain.approve("bank-b.admin2", normal).unwrap();
    assert_eq!(chain.proposal(normal).status, ProposalStatus::Open);
    // ...but enough for the emergency class, which revokes from the next block.
    let emergency = chain.propose("bank-a.admin", GovernanceAction::EmergencyRevokeOperator(operator)).unwrap();
    chain.approve("bank-b.admin", emergency).unwrap();
    chain.approve("bank-b.admin2", emergency).unwrap();
    assert!(matches!(chain.proposal(emergency).status, ProposalStatus::Executed { .. }));
    assert_eq!(
        chain.send("bank-a.ops", transfer("bank-a/treasury", "bank-b/treasury", "")).unwrap_err(),
        RuleId::Revocation
    );
}

/// Opens a proposal of the operators class (2 members) by bank-a's admin, approved by bank-b's admin:
/// two members, but one person besides the proposer, so it stays open.
fn operators_proposal_approved_by_bank_b(chain: &mut Chain) -> Hash {
    let record = operator_record("bank-a.audit", "bank-a", "dave", vec![Role::Auditor], 200, 30);
    let id = chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(record)).unwrap();
    chain.approve("bank-b.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open);
    id
}

// covers: COV-16-TWO-PERSON-RULE
#[test]
fn an_approval_by_a_key_revoked_in_an_emergency_no_longer_counts() {
    let mut chain = Chain::new();
    let id = operators_proposal_approved_by_bank_b(&mut chain);
    // bank-b's admin is revoked in an emergency (bank-c and bank-d, two persons of two members).
    let revoke = chain
        .propose("bank-c.admin", GovernanceAction::EmergencyRevokeOperator(OperatorId::new("bank-b.admin").unwrap()))
        .unwrap();
    chain.approve("bank-d.admin", revoke).unwrap();
    chain.approve("bank-d.admin2", revoke).unwrap();
    assert!(matches!(chain.proposal(revoke).status, ProposalStatus::Executed { .. }));
    // Counted as cast, bank-b's approval and bank-c's would make two persons: re-counted, one.
    chain.approve("bank-c.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "the revoked approver still counted");
    let counted = counted_approvals(&chain.state, &chain.proposal(id), chain.now()).unwrap();
    assert_eq!(counted, Tally { members: 2, persons: 1 }, "bank-a and bank-c; bank-c's admin");
    chain.approve("bank-d.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Executed { height: chain.height });
}

// covers: COV-16-TWO-PERSON-RULE
#[test]
fn an_approval_by_a_member_suspended_before_the_decision_no_longer_counts() {
    let mut chain = Chain::new();
    let id = operators_proposal_approved_by_bank_b(&mut chain);
    let suspend =
        chain.propose("bank-c.admin", GovernanceAction::SuspendMember(MemberId::new("bank-b").unwrap())).unwrap();
    chain.approve("bank-d.admin", suspend).unwrap();
    chain.approve("bank-a.admin2", suspend).unwrap();
    assert!(matches!(chain.proposal(suspend).status, ProposalStatus::Executed { .. }));
    // bank-a and bank-c are the two members the class needs; the persons besides the proposer are
    // bank-b's admin (suspended) and bank-c's: re-counted, one.
    chain.approve("bank-c.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "the suspended member's approver still counted");
    let counted = counted_approvals(&chain.state, &chain.proposal(id), chain.now()).unwrap();
    assert_eq!(counted, Tally { members: 2, persons: 1 }, "bank-a and bank-c; bank-c's admin");
    chain.approve("bank-d.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Executed { height: chain.height });
}

// covers: COV-16-TWO-PERSON-RULE, COV-11-CREDENTIAL-EXPIRY
#[test]
fn an_approval_by_a_key_that_expired_before_the_decision_no_longer_counts() {
    let mut chain = Chain::new();
    // An extra admin of bank-b whose key expires 20 blocks from now.
    let mut short = operator_record("bank-b.admin3", "bank-b", "erin", vec![Role::Admin], 220, 0);
    let expires_at_ms = chain.now() + 20_000;
    short.key_expires_at_ms = expires_at_ms;
    assert!(matches!(chain.pass(GovernanceAction::RegisterOperator(short)).status, ProposalStatus::Executed { .. }));
    let record = operator_record("bank-a.audit", "bank-a", "dave", vec![Role::Auditor], 200, 30);
    let id = chain.propose("bank-a.admin", GovernanceAction::RegisterOperator(record)).unwrap();
    let tx = chain.signed_with("bank-b.admin3", &key(220), Payload::GovernanceApprove(id));
    chain.block(vec![tx]).unwrap();
    while chain.now() < expires_at_ms {
        chain.block(Vec::new()).unwrap();
    }
    let erin: OperatorState =
        StateReader::get(&chain.state, &StateKey::Operator(OperatorId::new("bank-b.admin3").unwrap()))
            .unwrap()
            .unwrap();
    assert!(!is_active_approver(&erin, Some(MemberStatus::Active), chain.now()), "her key expired");
    chain.approve("bank-c.admin", id).unwrap();
    assert_eq!(chain.proposal(id).status, ProposalStatus::Open, "the expired approver still counted");
    chain.approve("bank-d.admin", id).unwrap();
    assert!(matches!(chain.proposal(id).status, ProposalStatus::Executed { .. }));
}

/// A chain whose strictest class (membership) needs all four members: raised by a vote.
fn chain_needing_four_members() -> Chain {
    let mut chain = Chain::new();
    let raise = chain.pass(GovernanceAction::SetThreshold { class: "membership".into(), members: 4 });
    assert!(matches!(raise.status, ProposalStatus::Executed { .. }), "{raise:?}");
    chain
}

fn revoke(operator: &str) -> GovernanceAction {
    GovernanceAction::RevokeOperator(OperatorId::new(operator).unwrap())
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn revoking_a_members_last_approver_is_refused_when_governance_would_lock_itself_out() {
    let mut chain = chain_needing_four_members();
    assert!(matches!(chain.pass(revoke("bank-d.admin2")).status, ProposalStatus::Executed { .. }));
    // bank-d.admin is bank-d's last admin: without it three members could approve, and the
    // membership class needs four. Refused when proposed, in an emergency too.
    assert_eq!(chain.propose("bank-a.admin", revoke("bank-d.admin")).unwrap_err(), RuleId::NoSuperuser);
    let emergency = GovernanceAction::EmergencyRevokeOperator(OperatorId::new("bank-d.admin").unwrap());
    assert_eq!(chain.propose("bank-a.admin", emergency).unwrap_err(), RuleId::NoSuperuser);
    // Suspending the member is the same loss.
    let suspend = GovernanceAction::SuspendMember(MemberId::new("bank-d").unwrap());
    assert_eq!(chain.propose("bank-a.admin", suspend).unwrap_err(), RuleId::NoSuperuser);
    // Another member's second admin may go: every member still has an approver.
    assert!(matches!(chain.pass(revoke("bank-c.admin2")).status, ProposalStatus::Executed { .. }));
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn a_revocation_that_became_a_lock_out_after_it_was_proposed_fails_when_it_executes() {
    let mut chain = chain_needing_four_members();
    // Both of bank-d's admins are proposed for revocation while each leaves the other.
    let first = chain.propose("bank-a.admin", revoke("bank-d.admin")).unwrap();
    let second = chain.propose("bank-b.admin", revoke("bank-d.admin2")).unwrap();
    chain.approve("bank-b.admin", first).unwrap();
    chain.approve("bank-c.admin", first).unwrap();
    assert!(matches!(chain.proposal(first).status, ProposalStatus::Executed { .. }));
    chain.approve("bank-a.admin", second).unwrap();
    chain.approve("bank-c.admin", second).unwrap();
    match chain.proposal(second).status {
        ProposalStatus::Failed { rule, reason, .. } => {
            assert_eq!(rule, "COV-18-NO-SUPERUSER");
            assert!(reason.contains("RevokeOperator bank-d.admin2"), "{reason}");
            assert!(reason.contains("in 3 member(s)") && reason.contains("in 4 members"), "{reason}");
        }
        other => panic!("expected the second revocation to fail, got {other:?}"),
    }
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn a_threshold_above_the_members_that_can_approve_is_refused() {
    let mut chain = Chain::new();
    assert!(matches!(chain.pass(revoke("bank-d.admin")).status, ProposalStatus::Executed { .. }));
    assert!(matches!(chain.pass(revoke("bank-d.admin2")).status, ProposalStatus::Executed { .. }));
    // Four members are active, but only three have an admin.
    let raise = GovernanceAction::SetThreshold { class: "membership".into(), members: 4 };
    assert_eq!(chain.propose("bank-a.admin", raise).unwrap_err(), RuleId::NoSuperuser);
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn a_rotation_to_an_earlier_expiry_is_refused_when_approvers_would_lapse_within_a_proposal_lifetime() {
    let mut chain = chain_needing_four_members();
    assert!(matches!(chain.pass(revoke("bank-d.admin2")).status, ProposalStatus::Executed { .. }));
    let lifetime_ms = chain.state.params().unwrap().proposal_lifetime_ms_max;
    let rotate = |seed: u8, expires_at_ms: u64| GovernanceAction::RotateOperatorKey {
        operator: OperatorId::new("bank-d.admin").unwrap(),
        key: key(seed).public_key(),
        key_expires_at_ms: expires_at_ms,
    };
    // Valid now, but lapsed before a proposal opened now could be decided: bank-d would have no
    // approver then.
    let early = rotate(230, chain.now() + lifetime_ms / 2);
    assert_eq!(chain.propose("bank-a.admin", early).unwrap_err(), RuleId::NoSuperuser);
    let later = rotate(231, chain.now() + lifetime_ms + DAY_MS);
    assert!(matches!(chain.pass(later).status, ProposalStatus::Executed { .. }));
}

/// `SetParameter` goes through `ChainParams::with`, so the retention bound of article 18 holds for
/// governance as for genesis: a change below 365 days is refused, a longer one executes.
// covers: COV-18-RETENTION
#[test]
fn audit_retention_changes_by_governance_only_to_365_days_or_more() {
    let mut chain = Chain::new();
    let short = GovernanceAction::SetParameter { name: "audit_retention_days".into(), value: 364 };
    assert_eq!(chain.propose("bank-a.admin", short).unwrap_err(), RuleId::Retention);
    let passed = chain.pass(GovernanceAction::SetParameter { name: "audit_retention_days".into(), value: 400 });
    assert!(matches!(passed.status, ProposalStatus::Executed { .. }), "{:?}", passed.status);
    assert_eq!(chain.state.params().unwrap().audit_retention_days, 400);
}
