//! Whether a marked test's code exercises the rule its `// covers:` marker names.
//!
//! A marker is a claim; the report checks it against the test's code. The build script records the
//! identifiers and rule ids that a marked test's body, and the bodies of the same file's functions it calls,
//! name ([`MARKED_TESTS`](super::MARKED_TESTS)). The marker is backed when the code names at least one of the
//! rule's *terms*: its id (`COV-45-LOAD-LIMITS`, as an expected error or rule name), its `RuleId` variant, a
//! function the catalogue says checks it, a chain parameter that serves it, or a `Violation` that names it.
//! A test that names none of them cannot observe the rule's check failing, so its marker is reported as
//! not backed and it does not count as evidence (ADR 0023).

use covenant_rules::catalogue::RuleEntry;
use covenant_rules::params::rule_for_param;
use covenant_rules::{PARAM_BOUNDS, RuleId};

use super::{MARKED_TESTS, REFUSAL_RULES};

/// A name by which code shows it meets a rule: one identifier, or a type and its method together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// An identifier or rule id that must appear.
    One(String),
    /// `Type::method` with a short method name: both must appear.
    Both(String, String),
}

impl Term {
    fn found_in(&self, tokens: &[&str]) -> bool {
        match self {
            Term::One(name) => tokens.contains(&name.as_str()),
            Term::Both(first, second) => tokens.contains(&first.as_str()) && tokens.contains(&second.as_str()),
        }
    }
}

/// Names by which a test observes a rule that carry no `RuleId`: the governance actions that carry the rule
/// out, the audit events that record it, the commands, types and outputs of the node-side controls (key
/// files, backups, sessions, audit verification). Each is specific to its rule.
const OBSERVED_AS: &[(RuleId, &[&str])] = &[
    (RuleId::Revocation, &["RevokeOperator", "EmergencyRevokeOperator", "SuspendMember", "RemoveMember", "KeyRevoked"]),
    (
        RuleId::KeyRotation,
        &["RotateOperatorKey", "EmergencyRevokeOperator", "KeyRotated", "EncryptedKeyFile", "KeyFileError", "encrypt"],
    ),
    (RuleId::PermissionedPeers, &["PeerRefused", "peer_refused"]),
    (RuleId::SanctionedJurisdiction, &["SetSanctionedJurisdictions"]),
    (RuleId::SessionIdle, &["SESSION_IDLE_MS_MAX", "SESSION_LIFETIME_MS_MAX"]),
    (RuleId::Backup, &["BackupVerified", "backup_verified", "BackupRestored", "backup_restored"]),
    (RuleId::CustomerDataReadAudit, &["CustomerDataRead", "customer_data_read"]),
    (RuleId::AuditTrail, &["TAMPERED", "AuditError", "verify_against_anchor", "anchor"]),
    (RuleId::LogManagement, &["AuditExported", "audit_exported"]),
    (RuleId::Fuel, &["fuel_used", "fuel_limit"]),
    (RuleId::ContractOwnership, &["steward", "owner"]),
    (RuleId::ContractAdmission, &["AdmitContract"]),
    (RuleId::EncryptedTransport, &["with_tls", "TlsAcceptor"]),
    (RuleId::Monitoring, &["Traffic", "TrafficSnapshot", "traffic_by_node"]),
    (RuleId::Retention, &["PruneSchedule", "prune_audit", "prune_before", "AuditPruned"]),
    (RuleId::LoadLimits, &["MemberTxLimits", "MemberBuckets"]),
];

/// The `RuleId` variant name of `rule` (`BlockLimits`).
fn variant_name(rule: RuleId) -> String {
    format!("{rule:?}")
}

/// Every term of `entry`'s rule: its id, its `RuleId` variant, its checks, its parameters and its refusals.
pub fn rule_terms(entry: &RuleEntry) -> Vec<Term> {
    let variant = variant_name(entry.id);
    let mut terms = vec![Term::One(entry.id.id().to_string()), Term::One(variant.clone())];
    for function in entry.enforcement.checked_in() {
        let segments: Vec<&str> = function.split("::").collect();
        match segments.as_slice() {
            [.., last] if last.contains('_') => terms.push(Term::One(last.to_string())),
            [.., owner, last] if owner.starts_with(|first: char| first.is_ascii_uppercase()) => {
                terms.push(Term::Both(owner.to_string(), last.to_string()))
            }
            _ => {}
        }
    }
    terms.extend(
        PARAM_BOUNDS
            .iter()
            .filter(|bound| rule_for_param(bound.name) == Some(entry.id))
            .map(|bound| Term::One(bound.name.into())),
    );
    terms.extend(
        OBSERVED_AS
            .iter()
            .filter(|(rule, _)| *rule == entry.id)
            .flat_map(|(_, names)| names.iter().map(|name| Term::One((*name).to_string()))),
    );
    terms.extend(
        REFUSAL_RULES
            .iter()
            .filter(|(_, rule)| *rule == variant)
            .map(|(violation, _)| Term::One((*violation).to_string())),
    );
    terms
}

/// What the code of `test` names (empty for a test the build script did not record).
pub fn test_tokens(test: &str) -> &'static [&'static str] {
    MARKED_TESTS.iter().find(|(name, ..)| *name == test).map_or(&[], |(_, _, _, tokens)| tokens)
}

/// The first of `entry`'s terms that `test`'s code names, if any.
pub fn backing_term(entry: &RuleEntry, test: &str) -> Option<Term> {
    first_term_in(entry, test_tokens(test))
}

/// The first of `entry`'s terms among `tokens`.
fn first_term_in(entry: &RuleEntry, tokens: &[&str]) -> Option<Term> {
    rule_terms(entry).into_iter().find(|term| term.found_in(tokens))
}

#[cfg(test)]
mod tests {
    use covenant_rules::CATALOGUE;

    use super::*;

    fn entry(rule: RuleId) -> &'static RuleEntry {
        CATALOGUE.iter().find(|entry| entry.id == rule).unwrap()
    }

    #[test]
    fn rule_terms_name_the_id_checks_parameters_and_violations() {
        let terms = rule_terms(entry(RuleId::BlockLimits));
        for expected in ["COV-49-BLOCK-LIMITS", "BlockLimits", "block_bytes_max", "BlockTooLarge", "BlockTooLate"] {
            assert!(terms.contains(&Term::One(expected.into())), "{expected} missing from {terms:?}");
        }
        assert!(terms.contains(&Term::One("check_block_limits".into())), "{terms:?}");
    }

    #[test]
    fn refusal_rules_come_from_the_rule_methods_of_the_errors() {
        assert!(REFUSAL_RULES.contains(&("TxTooLarge", "LoadLimits")), "{REFUSAL_RULES:?}");
        assert!(REFUSAL_RULES.contains(&("OutOfFuel", "Fuel")), "the VM's errors: {REFUSAL_RULES:?}");
        assert!(REFUSAL_RULES.contains(&("SenderRevoked", "Revocation")), "a block-bodied arm: {REFUSAL_RULES:?}");
        assert!(!REFUSAL_RULES.iter().any(|(violation, _)| *violation == "ContractRefused"), "its rule is a field");
    }

    #[test]
    fn a_marker_is_backed_only_by_a_name_of_its_rule() {
        let limits = entry(RuleId::BlockLimits);
        let unrelated = ["assert_eq", "Consortium", "submit", "height", "COV-45-LOAD-LIMITS", "tx_bytes_max"];
        assert_eq!(first_term_in(limits, &unrelated), None, "names of another rule do not back it");
        assert_eq!(
            first_term_in(limits, &["assert_eq", "BlockTooLarge"]),
            Some(Term::One("BlockTooLarge".into())),
            "a refusal that names the rule backs it"
        );
        assert!(first_term_in(limits, &["COV-49-BLOCK-LIMITS"]).is_some(), "the rule id backs it");
    }

    #[test]
    fn the_build_script_records_what_a_marked_test_names() {
        let unmarked =
            "crates/covenant-node/src/commands/report/evidence.rs::a_marker_is_backed_only_by_a_name_of_its_rule";
        assert!(test_tokens(unmarked).is_empty(), "an unmarked test is not recorded");
        let name = "crates/covenant-consensus/src/tests.rs::\
                    the_block_path_refuses_an_oversized_transaction_an_oversized_block_and_a_late_round0_block";
        let (_, target, module, tokens) = MARKED_TESTS.iter().find(|(test, ..)| *test == name).expect("recorded");
        assert_eq!((*target, *module), ("covenant_consensus", "tests"));
        for expected in ["LoadLimits", "tx_bytes_max", "block_bytes_max", "padded_tx"] {
            assert!(tokens.contains(&expected), "{expected} not in {tokens:?}");
        }
        assert!(!tokens.contains(&"fn"), "too short to name anything: {tokens:?}");
        let limits = entry(RuleId::BlockLimits);
        assert_eq!(backing_term(limits, name), Some(Term::One("BlockLimits".into())));
    }

    #[test]
    fn both_term_needs_the_type_and_the_method() {
        let term = Term::Both("ChainParams".into(), "validate".into());
        assert!(term.found_in(&["ChainParams", "validate", "x"]));
        assert!(!term.found_in(&["validate"]));
    }
}
