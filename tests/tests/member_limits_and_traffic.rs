//! End to end, four real nodes: a member flooding one node is refused as overloading it while
//! another member's transactions are still admitted there (COV-45, per-member rate limit set low in
//! node 0's `node.toml`), and the per-peer traffic counters move as the nodes exchange blocks
//! (COV-22), labelled with the node ids registered on chain.

use std::time::Duration;

use covenant_client::transfer;
use covenant_tests::{Consortium, now_ms};
use covenant_types::{AccountId, AssetId, ChainId, OperatorId, SignedTx};

const CHAIN: &str = "covenant-local";
/// Node 0 lets each member's clients send it this many transactions per second...
const RATE_PER_SECOND: u64 = 1;
/// ... and this many at once.
const BURST: u64 = 5;
/// Transactions bank-0 sends node 0 in one batch: far over its burst.
const FLOOD: u64 = 20;

fn transfers(consortium: &Consortium, member: usize, count: u64) -> Vec<SignedTx> {
    let chain = ChainId::new(CHAIN).unwrap();
    let operator = OperatorId::new(format!("bank-{member}.ops")).unwrap();
    let key = consortium.operator_key(operator.as_str());
    let nonce = consortium.apis[0].get(&format!("/v1/operators/{operator}/nonce")).unwrap().body["next_nonce"]
        .as_u64()
        .unwrap();
    (nonce..nonce + count)
        .map(|nonce| {
            transfer(
                &chain,
                &operator,
                &key,
                nonce,
                now_ms(),
                AccountId::new(format!("bank-{member}/treasury")).unwrap(),
                AccountId::new(format!("bank-{}/treasury", (member + 1) % 4)).unwrap(),
                AssetId::new("twd").unwrap(),
                1,
            )
        })
        .collect()
}

/// Node 0's limits go before the first table of its config file (top-level keys).
fn limit_members(consortium: &Consortium, index: usize) {
    let path = consortium.config_file(index);
    let text = std::fs::read_to_string(&path).unwrap();
    let limits = format!("member_txs_per_second = {RATE_PER_SECOND}\nmember_txs_burst = {BURST}\n");
    std::fs::write(&path, limits + &text).unwrap();
}

// covers: COV-45-LOAD-LIMITS, COV-22-MONITORING
#[test]
fn a_members_flood_is_refused_while_others_are_admitted_and_peer_traffic_is_counted() {
    let mut consortium = Consortium::init(4);
    limit_members(&consortium, 0);
    assert_eq!(consortium.config(0).member_tx_limits.burst, BURST);
    for index in 0..4 {
        consortium.start_node(index);
    }
    consortium.wait_for_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));

    // bank-0 floods node 0: its burst is admitted, the rest refused as overloading the node.
    let flood = transfers(&consortium, 0, FLOOD);
    let response = consortium.apis[0].submit_batch(&flood).unwrap();
    assert_eq!(response.status, 200, "{:?}", response.body);
    let results = response.body["results"].as_array().unwrap().clone();
    let admitted = results.iter().filter(|result| result["status"] == "pending").count() as u64;
    let limited: Vec<_> = results
        .iter()
        .filter(|result| result["status"] == "rejected" && result["rule"] == "COV-45-LOAD-LIMITS")
        .collect();
    assert!((BURST..=BURST + 2).contains(&admitted), "{admitted} admitted of a burst of {BURST}: {results:?}");
    assert_eq!(admitted + limited.len() as u64, FLOOD, "every other one refused by COV-45: {results:?}");
    for refusal in &limited {
        assert_eq!(refusal["code"], 503, "{refusal}");
        let error = refusal["error"].as_str().unwrap();
        assert!(error.contains("overloaded") && error.contains("bank-0"), "{error}");
    }

    // bank-1 is not held back by bank-0's flood.
    let other = transfers(&consortium, 1, 1);
    let response = consortium.apis[0].submit_batch(&other).unwrap();
    assert_eq!(response.body["results"][0]["status"], "pending", "{:?}", response.body);
    let hash = covenant_types::Hash::from_hex(response.body["results"][0]["hash"].as_str().unwrap()).unwrap();
    consortium.wait_committed(&hash);
    assert!(
        consortium
            .metric(0, "covenant_rejections_total{rule=\"COV-45-LOAD-LIMITS\",article=\"45\",stage=\"admission\"}")
            .is_some_and(|count| count >= limited.len() as f64)
    );

    // The nodes exchanged blocks and votes: every pair counted both ways, by registered node id.
    for (from, to) in [(0usize, 1usize), (1, 0), (2, 3)] {
        for series in ["covenant_peer_messages_total", "covenant_peer_bytes_total"] {
            for direction in ["in", "out"] {
                let sample = format!("{series}{{peer=\"validator-{to}\",direction=\"{direction}\"}}");
                let value = consortium.metric(from, &sample).unwrap_or(0.0);
                assert!(
                    value > 0.0,
                    "node {from}: {sample} = {value}\n{}",
                    consortium.metrics(from).unwrap_or_default()
                );
            }
        }
    }
    let before = consortium.metric(0, "covenant_peer_bytes_total{peer=\"validator-1\",direction=\"in\"}").unwrap();
    let height = consortium.height(0);
    consortium.wait_for_height(&[0, 1], height + 2, Duration::from_secs(60));
    let after = consortium.metric(0, "covenant_peer_bytes_total{peer=\"validator-1\",direction=\"in\"}").unwrap();
    assert!(after > before, "more blocks, more bytes from validator-1: {before} then {after}");
    let unregistered = consortium.metric(0, "covenant_peer_messages_total{peer=\"(unregistered)\",direction=\"in\"}");
    assert_eq!(unregistered, Some(0.0), "only registered nodes talked to node 0");
}
