//! The manifest file format of `docs/contract-abi.md`: TOML with the field names of `Manifest`.

use covenant_rules::RuleId;
use covenant_types::Role;
use covenant_vm::{Grant, Manifest};

const ESCROW: &str = r#"
name = "interbank settlement escrow"
version = "1.0.0"
owner = "bank-a"
steward = "alice"

[[functions]]
name = "deposit"
access = { allow = [{ role = "submitter" }] }

[[functions]]
name = "release"
access = { allow = [{ member_role = { member = "bank-a", role = "admin" } }, { operator = "carol" }] }

[[functions]]
name = "balance"
read_only = true
access = { allow = ["any_operator", { contract = "registry" }, { member = "bank-b" }] }
"#;

// covers: COV-26-CONTRACT-OWNERSHIP, COV-31-FUNCTION-ACL
#[test]
fn the_documented_manifest_file_parses_validates_and_encodes() {
    let manifest: Manifest = toml::from_str(ESCROW).expect("the documented example parses");
    manifest.validate().expect("and is valid");
    assert_eq!(manifest.owner.as_str(), "bank-a");
    assert_eq!(manifest.steward.as_str(), "alice");
    assert_eq!(manifest.functions.len(), 3);
    assert_eq!(manifest.functions[0].access.allow, vec![Grant::Role(Role::Submitter)]);
    assert!(!manifest.functions[0].read_only, "read_only defaults to false");
    assert!(manifest.functions[2].read_only);
    assert_eq!(Manifest::decode(&manifest.encode()).unwrap(), manifest);
}

// covers: COV-31-FUNCTION-ACL
#[test]
fn unknown_fields_and_empty_policies_are_refused() {
    let typo = ESCROW.replace("read_only = true", "readonly = true");
    assert!(toml::from_str::<Manifest>(&typo).is_err(), "a misspelt field is an error, not a default");
    let open = ESCROW.replace(r#"access = { allow = [{ role = "submitter" }] }"#, "access = { allow = [] }");
    let manifest: Manifest = toml::from_str(&open).unwrap();
    let error = manifest.validate().unwrap_err();
    assert_eq!(error.rule(), RuleId::FunctionAcl);
}
