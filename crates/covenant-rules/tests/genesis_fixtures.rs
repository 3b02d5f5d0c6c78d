//! The genesis files in `node-config/`: the examples validate, and each `bad-*.toml` fixture is refused
//! for its one stated reason, naming the field path and, where a covenant rule is the reason, the rule.

use std::path::PathBuf;

use covenant_rules::genesis::{ActionClass, Environment, Genesis, GenesisErrorKind, GenesisErrors};
use covenant_rules::{RuleId, Violation};
use covenant_types::CryptoError;

fn node_config(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node-config").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn refused(name: &str) -> GenesisErrors {
    Genesis::from_toml_str(&node_config(name)).expect_err("fixture must be refused")
}

/// Asserts an error at `path` exists with `rule`, and returns it.
fn error_at(errors: &GenesisErrors, path: &str, rule: Option<RuleId>) -> GenesisErrorKind {
    let found: Vec<_> = errors.at(path).collect();
    assert!(!found.is_empty(), "no error at {path}; got:\n{errors}");
    let error = found
        .iter()
        .find(|error| error.rule() == rule)
        .unwrap_or_else(|| panic!("error at {path} has rule {:?}, expected {rule:?}:\n{errors}", found[0].rule()));
    if let Some(rule) = rule {
        assert!(error.to_string().contains(rule.id()), "message must name the rule: {error}");
    }
    error.kind.clone()
}

#[test]
fn example_genesis_is_valid() {
    let genesis = Genesis::from_toml_str(&node_config("genesis.toml")).unwrap();
    assert_eq!(genesis.chain_id().as_str(), "covenant-example-test");
    assert_eq!(genesis.environment(), Environment::Test);
    assert_eq!(genesis.members().len(), 4);
    assert_eq!(genesis.nodes().len(), 5);
    assert_eq!(genesis.validator_set().len(), 4);
    assert_eq!(genesis.validator_set().quorum(), 3);
    assert_eq!(genesis.thresholds().members_required(ActionClass::Emergency), 2);
    assert_eq!(genesis.parameters().block_interval_ms_min, 500);
}

#[test]
fn local_genesis_is_valid() {
    let genesis = Genesis::from_toml_str(&node_config("local/genesis.toml")).unwrap();
    assert_eq!(genesis.chain_id().as_str(), "covenant-local");
    assert_eq!(genesis.validator_set().len(), 4);
    assert_ne!(genesis.hash(), Genesis::from_toml_str(&node_config("genesis.toml")).unwrap().hash());
}

#[test]
fn bad_unknown_field() {
    let errors = refused("bad-unknown-field.toml");
    assert_eq!(errors.errors().len(), 1);
    let kind = error_at(&errors, "operators[1].department", None);
    assert!(
        matches!(kind, GenesisErrorKind::Syntax { ref message, .. } if message.contains("unknown field `department`"))
    );
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn bad_single_admin() {
    let errors = refused("bad-single-admin.toml");
    let kind = error_at(&errors, "operators", Some(RuleId::NoSuperuser));
    assert_eq!(
        kind,
        GenesisErrorKind::Covenant(Violation::AdminsTooConcentrated { admin_persons: 1, admin_members: 1 })
    );
    // With admins in one member, no threshold of two or more members can ever be met.
    error_at(&errors, "thresholds.emergency.members_required", None);
}

// covers: COV-06-SANCTIONED-JURISDICTION
#[test]
fn bad_sanctioned_member() {
    let errors = refused("bad-sanctioned-member.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    error_at(&errors, "members[3].jurisdiction", Some(RuleId::SanctionedJurisdiction));
}

// covers: COV-18-RETENTION
#[test]
fn bad_retention() {
    let errors = refused("bad-retention.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    error_at(&errors, "parameters.audit_retention_days", Some(RuleId::Retention));
}

// covers: COV-11-CREDENTIAL-EXPIRY
#[test]
fn bad_key_expiry() {
    let errors = refused("bad-key-expiry.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let kind = error_at(&errors, "operators[2].key_expires_at_ms", Some(RuleId::CredentialExpiry));
    assert!(matches!(kind, GenesisErrorKind::Covenant(Violation::KeyLifetimeTooLong { age_days_max: 90, .. })));
}

#[test]
fn bad_production_3_validators() {
    let errors = refused("bad-production-3-validators.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let kind = error_at(&errors, "nodes", None);
    assert_eq!(kind, GenesisErrorKind::TooFewValidators { environment: Environment::Production, found: 3, min: 4 });
}

// covers: COV-30-SIGNED
#[test]
fn bad_weak_key() {
    let errors = refused("bad-weak-key.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    let kind = error_at(&errors, "operators[0].public_key", Some(RuleId::Signed));
    assert!(matches!(kind, GenesisErrorKind::Key(CryptoError::WeakKey { .. })));
}

// covers: COV-12-ROLE-SEPARATION
#[test]
fn bad_role_combination() {
    let errors = refused("bad-role-combination.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    error_at(&errors, "operators[0].roles", Some(RuleId::RoleSeparation));
}

// covers: COV-18-NO-SUPERUSER
#[test]
fn bad_threshold_one() {
    let errors = refused("bad-threshold-one.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    error_at(&errors, "thresholds.emergency.members_required", Some(RuleId::NoSuperuser));
}

// covers: COV-10-ONE-PERSON-ONE-ACCOUNT
#[test]
fn bad_duplicate_person() {
    let errors = refused("bad-duplicate-person.toml");
    assert_eq!(errors.errors().len(), 1, "{errors}");
    error_at(&errors, "operators[2].person", Some(RuleId::OnePersonOneAccount));
}
