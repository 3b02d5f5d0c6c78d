//! The Prometheus alert rules shipped in `deploy/prometheus/covenant-alerts.yml` have the structure
//! Prometheus loads (groups of rules with alert, expr, for, labels, annotations), cover the
//! covenant's monitoring concerns, and name only metrics the node exports.

use std::collections::BTreeSet;

use covenant_node::metrics::{Gauges, Metrics};
use yaml_rust2::{Yaml, YamlLoader};

const RULES: &str = include_str!("../../../deploy/prometheus/covenant-alerts.yml");

/// Every metric name the node exports, with the series a histogram adds.
fn exported_metrics() -> BTreeSet<String> {
    let metrics = Metrics::new();
    metrics.clock_offset_ms.store(0, std::sync::atomic::Ordering::Relaxed);
    metrics.rejected(covenant_node::metrics::RejectionStage::Admission, covenant_rules::RuleId::OrderedNonces);
    let gauges = Gauges {
        height: 1,
        round: 0,
        peers: 3,
        mempool_txs: 0,
        mempool_bytes: 0,
        verification_queue: 0,
        mempool_txs_max: 1,
        validators: 4,
        quorum: 3,
        state_cache: Default::default(),
        rocks_memory: Some(Default::default()),
        network_events_dropped: 0,
        governance: Some(covenant_node::metrics::GovernanceGauges {
            keys: vec![covenant_node::metrics::OperatorExpiry {
                member: "bank-a".into(),
                operator: "bank-a.admin".into(),
                seconds: 86_400,
            }],
            approvers: covenant_rules::checks::Approvers { persons: 4, members: 4 },
            required: covenant_rules::checks::Approvers { persons: 3, members: 3 },
        }),
        peer_traffic: [("validator-1".to_string(), Default::default())].into(),
    };
    metrics
        .render(&gauges, "chain", "node")
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Identifiers in a PromQL expression that look like Covenant metrics.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("covenant_"))
        .map(str::to_string)
        .collect()
}

// covers: COV-50-LOG-MANAGEMENT
#[test]
fn alert_rules_load_and_name_only_exported_metrics() {
    let documents = YamlLoader::load_from_str(RULES).expect("the rules file is YAML");
    let groups = documents[0]["groups"].as_vec().expect("a groups list");
    let exported = exported_metrics();
    let mut alerts = BTreeSet::new();
    for group in groups {
        assert!(group["name"].as_str().is_some_and(|name| !name.is_empty()), "a group without a name");
        for rule in group["rules"].as_vec().expect("rules list") {
            let alert = rule["alert"].as_str().expect("every rule is an alert").to_string();
            let expr = rule["expr"].as_str().unwrap_or_else(|| panic!("{alert}: no expr"));
            let duration = rule["for"].as_str().unwrap_or_else(|| panic!("{alert}: no for"));
            assert!(duration.ends_with(['s', 'm', 'h']), "{alert}: for {duration:?}");
            assert!(
                matches!(rule["labels"]["severity"].as_str(), Some("warning" | "critical")),
                "{alert}: severity label"
            );
            assert!(rule["labels"]["article"].as_str().is_some(), "{alert}: article label");
            assert!(!matches!(rule["annotations"]["summary"], Yaml::BadValue), "{alert}: summary");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{alert}: expr names no covenant metric");
            for name in names {
                assert!(exported.contains(&name), "{alert}: {name} is not exported; exported: {exported:?}");
            }
            assert!(alerts.insert(alert.clone()), "{alert} defined twice");
        }
    }
    for needed in [
        "CovenantHeightStalled",
        "CovenantRoundChangesRising",
        "CovenantClockOutOfRange",
        "CovenantMempoolNearFull",
        "CovenantPeersBelowQuorum",
        "CovenantRejectionsRising",
        "CovenantOperatorKeyExpiringSoon",
        "CovenantOperatorKeyExpiryImminent",
        "CovenantGovernanceApproversNearMinimum",
        "CovenantGovernanceLockedOut",
        "CovenantAuditLogTampered",
        "CovenantAuditLogUnverified",
    ] {
        assert!(alerts.contains(needed), "{needed} missing");
    }
}
