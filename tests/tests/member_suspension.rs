//! A member suspended by vote (the same path a newly sanctioned jurisdiction takes, COV-06) loses its
//! validator from the next height, its node is disconnected by every peer (the allowlist follows the
//! chain), the chain goes on with the others, and the suspended member's node refuses to start again.

use std::time::{Duration, Instant};

use covenant_tests::Consortium;
use covenant_types::*;

fn status_u64(consortium: &Consortium, index: usize, field: &str) -> Option<u64> {
    consortium.status(index).and_then(|status| status[field].as_u64())
}

fn validator_count(consortium: &Consortium, index: usize) -> usize {
    let response = consortium.apis[index].get("/v1/validators").unwrap();
    response.body["validators"].as_array().map(Vec::len).unwrap_or(0)
}

// covers: COV-17-REVOCATION
#[test]
fn a_suspended_members_node_is_dropped_disconnected_and_refuses_to_start() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    // Governance liveness (ADR 0021): four admins of four members can approve; the strictest class
    // needs three persons in three members; every admin's key counts down to its expiry.
    let metrics = consortium.metrics(0).expect("metrics on the operations listener");
    for line in [
        "covenant_governance_approvers{kind=\"persons\"} 4",
        "covenant_governance_approvers{kind=\"members\"} 4",
        "covenant_governance_approvers_required{kind=\"persons\"} 3",
        "covenant_governance_approvers_required{kind=\"members\"} 3",
        "covenant_operator_key_expiry_seconds{member=\"bank-3\",operator=\"bank-3.admin\"} ",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }

    consortium.pass_proposal(GovernanceAction::SuspendMember(MemberId::new("bank-3").unwrap()));
    let members = consortium.apis[0].get("/v1/members").unwrap().body;
    assert!(members.to_string().contains("\"suspended\""), "{members}");

    // Its validator leaves the set, its node is disconnected, and the chain goes on without it.
    consortium.wait_until("three validators", || validator_count(&consortium, 0) == 3);
    consortium.wait_until("validator-3 disconnected", || {
        (0..3).all(|index| status_u64(&consortium, index, "peers") == Some(2))
    });
    let height = consortium.height(0);
    consortium.wait_for_height(&[0, 1, 2], height + 3, Duration::from_secs(60));
    consortium.assert_same_chain(&[0, 1, 2]);
    // The suspended member's admin no longer approves: governance is now at its minimum.
    let metrics = consortium.metrics(0).expect("metrics on the operations listener");
    assert!(metrics.contains("covenant_governance_approvers{kind=\"members\"} 3"), "{metrics}");
    assert!(!metrics.contains("operator=\"bank-3.admin\""), "{metrics}");

    // Its own node committed the suspension with everyone else; restarted, it refuses to run.
    let proposals = consortium.apis[0].get("/v1/proposals?status=all").unwrap().body;
    let suspended_at = proposals["proposals"][0]["closed_at_height"].as_u64().expect("the executed suspension");
    consortium.wait_for_height(&[3], suspended_at, Duration::from_secs(30));
    consortium.stop_node(3, Duration::from_secs(20));
    consortium.start_node(3);
    let deadline = Instant::now() + Duration::from_secs(30);
    while consortium.is_running(3) {
        assert!(Instant::now() < deadline, "the suspended member's node kept running\n{}", consortium.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = consortium.log(3);
    assert!(log.contains("may not run (COV-06, COV-17)"), "{log}");
}
