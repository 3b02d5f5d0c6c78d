//! Joining a consortium, end to end with real processes (docs/joining.md): a new member generates
//! its keys; existing members vote it in, register its admin, and add its node as an observer; the
//! node starts from the genesis file, is admitted by its peers only once registered (COV-20), and
//! catches up; a vote makes it a validator, and with one original validator stopped the chain can
//! only go on with the new validator's commit seals.

use std::process::Command;
use std::time::Duration;

use covenant_tests::{Consortium, OPS_PORT_OFFSET, covenant_binary, now_ms};
use covenant_types::*;

const DAY_MS: u64 = 86_400_000;

/// `covenant keygen`, as the new member runs it; returns the public key.
fn keygen(consortium: &Consortium, name: &str) -> PublicKey {
    let output = Command::new(covenant_binary())
        .args(["keygen", "--out"])
        .arg(consortium.key_file(name))
        .output()
        .expect("covenant keygen runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    PublicKey::from_hex(String::from_utf8_lossy(&output.stdout).trim()).expect("keygen prints the public key")
}

fn validator_count(consortium: &Consortium, index: usize) -> usize {
    let response = consortium.apis[index].get("/v1/validators").unwrap();
    response.body["validators"].as_array().map(Vec::len).unwrap_or(0)
}

fn sealed_by(consortium: &Consortium, index: usize, height: u64, node: &str) -> bool {
    consortium.block(index, height).is_some_and(|block| {
        block["commit_seals"].as_array().is_some_and(|seals| seals.iter().any(|seal| seal["validator"] == node))
    })
}

#[test]
fn a_new_member_joins_as_observer_syncs_and_is_voted_in_as_validator() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));

    // The new member's keys, generated on its own machine.
    let admin_key = keygen(&consortium, "bank-4.admin");
    let network_key = keygen(&consortium, "validator-4.network");
    let consensus_key = keygen(&consortium, "validator-4.consensus");

    consortium.pass_proposal(GovernanceAction::AdmitMember {
        member: MemberId::new("bank-4").unwrap(),
        name: "Bank 4".into(),
        jurisdiction: Jurisdiction::new("TW").unwrap(),
    });
    consortium.pass_proposal(GovernanceAction::RegisterOperator(OperatorRecord {
        id: OperatorId::new("bank-4.admin").unwrap(),
        person: PersonId::new("admin-4").unwrap(),
        member: MemberId::new("bank-4").unwrap(),
        roles: vec![Role::Admin],
        key: admin_key,
        key_expires_at_ms: now_ms() + 30 * DAY_MS,
    }));
    consortium.pass_proposal(GovernanceAction::AddNode(NodeRecord {
        id: NodeId::new("validator-4").unwrap(),
        member: MemberId::new("bank-4").unwrap(),
        role: NodeRole::Observer,
        network_key,
        consensus_key,
    }));
    assert_eq!(validator_count(&consortium, 0), 4, "an observer does not vote");

    // Its node: the same genesis, its own keys, the existing validators as bootstrap peers.
    let index = consortium.add_node_slot();
    let (p2p, api) = consortium.ports;
    let config = std::fs::read_to_string(consortium.config_file(0))
        .unwrap()
        .replace("validator-0", "validator-4")
        .replace(&format!("127.0.0.1:{p2p}\""), &format!("127.0.0.1:{}\"", p2p + 4))
        .replace(&format!("127.0.0.1:{api}\""), &format!("127.0.0.1:{}\"", api + 4))
        .replace(
            &format!("127.0.0.1:{}\"", api + OPS_PORT_OFFSET),
            &format!("127.0.0.1:{}\"", api + OPS_PORT_OFFSET + 4),
        )
        .replace("bootstrap_peers = [", &format!("bootstrap_peers = [\"validator-0@127.0.0.1:{p2p}\", "));
    // Its own operations token, as `covenant init` writes one for every node.
    let token = consortium.dir.path().join("keys").join("validator-4.ops-token");
    covenant_node::keyfile::write_new_private_file(&token, format!("{}\n", "4".repeat(64)).as_bytes()).unwrap();
    std::fs::write(consortium.config_file(index), config).unwrap();
    consortium.start_node(index);
    let target = consortium.height(0);
    consortium.wait_for_height(&[index], target, Duration::from_secs(90));

    // Voted in as a validator: the set grows from the next height on every node.
    consortium.pass_proposal(GovernanceAction::ChangeNodeRole {
        node: NodeId::new("validator-4").unwrap(),
        role: NodeRole::Validator,
    });
    consortium.wait_until("five validators everywhere", || (0..5).all(|node| validator_count(&consortium, node) == 5));

    // Five validators have a quorum of four: with validator-3 stopped, every new block needs
    // validator-4's seal.
    consortium.kill_node(3);
    let from = consortium.height(0) + 1;
    consortium.wait_for_height(&[0, 1, 2, 4], from + 2, Duration::from_secs(90));
    for height in from + 1..=from + 2 {
        assert!(sealed_by(&consortium, 0, height, "validator-4"), "block {height} lacks validator-4's seal");
    }
    consortium.assert_same_chain(&[0, 1, 2, 4]);

    // The four executed proposals, listed a page of one at a time, are the whole list.
    let api = &consortium.apis[0];
    let whole = api.get("/v1/proposals?status=all").unwrap().body;
    assert!(whole["next"].is_null(), "{whole}");
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["proposals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|proposal| proposal["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (mut paged, mut after) = (Vec::new(), String::new());
    loop {
        let path = format!("/v1/proposals?status=all&limit=1{after}");
        let page = api.get(&path).unwrap().body;
        paged.extend(ids(&page));
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
        assert!(paged.len() <= 4, "paging does not end: {paged:?}");
    }
    assert_eq!((paged.len(), &paged), (4, &ids(&whole)));
    assert!(ids(&api.get("/v1/proposals").unwrap().body).is_empty(), "no proposal is still open");
    assert_eq!(api.get("/v1/proposals?limit=0").unwrap().status, 400);
}
