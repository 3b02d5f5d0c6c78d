//! Load shedding, end to end: a node whose backlog (pending plus queued transactions) reaches its
//! bound answers clients "busy" (503) instead of admitting more. With two of four validators stopped
//! nothing commits, so the backlog only grows, and the node stops admitting near the bound.

use std::time::Duration;

use covenant_client::transfer;
use covenant_node::runtime::shared::CLIENT_BACKLOG_TXS_MAX;
use covenant_tests::{Consortium, now_ms};
use covenant_types::limits::TX_BATCH_TXS_MAX;
use covenant_types::{AccountId, AssetId, ChainId, OperatorId, SignedTx};

const CHAIN: &str = "covenant-local";

#[test]
fn a_node_answers_busy_once_its_backlog_reaches_the_bound() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    consortium.kill_node(2);
    consortium.kill_node(3);

    // Three senders, each with more than a third of the bound of transfers in nonce order (and fewer
    // than a sender may have pending, mempool_sender_txs_max = 10,000).
    let per_sender = CLIENT_BACKLOG_TXS_MAX / 3 + TX_BATCH_TXS_MAX / 2;
    let chain = ChainId::new(CHAIN).unwrap();
    let senders: Vec<Vec<SignedTx>> = (0..3)
        .map(|index: usize| {
            let operator = OperatorId::new(format!("bank-{index}.ops")).unwrap();
            let key = consortium.operator_key(operator.as_str());
            let nonce = consortium.apis[0].get(&format!("/v1/operators/{operator}/nonce")).unwrap().body["next_nonce"]
                .as_u64()
                .unwrap();
            (nonce..nonce + per_sender as u64)
                .map(|nonce| {
                    transfer(
                        &chain,
                        &operator,
                        &key,
                        nonce,
                        now_ms(),
                        AccountId::new(format!("bank-{index}/treasury")).unwrap(),
                        AccountId::new(format!("bank-{}/treasury", index + 1)).unwrap(),
                        AssetId::new("twd").unwrap(),
                        1,
                    )
                })
                .collect()
        })
        .collect();

    let (mut pending, mut busy) = (0usize, 0usize);
    for txs in &senders {
        for chunk in txs.chunks(TX_BATCH_TXS_MAX) {
            let response = consortium.apis[0].submit_batch(chunk).unwrap();
            assert_eq!(response.status, 200, "{:?}", response.body);
            for result in response.body["results"].as_array().unwrap() {
                match (result["status"].as_str(), result["code"].as_u64()) {
                    (Some("pending"), _) => pending += 1,
                    (Some("rejected"), Some(503)) => {
                        assert!(result["error"].as_str().unwrap().contains("busy"), "{result}");
                        busy += 1;
                    }
                    // A sender's later nonces after its first "busy" are out of order on this node.
                    (Some("rejected"), Some(422)) if result["rule"] == "COV-34-ORDERED-NONCES" => {}
                    _ => panic!("unexpected verdict {result}"),
                }
            }
        }
    }
    // The check counts what is pending and queued before each request's verdicts, so the node may
    // take in up to one request's worth beyond the bound, never unboundedly more.
    assert!(busy > 0, "nothing was refused: {pending} pending");
    assert!(
        (CLIENT_BACKLOG_TXS_MAX - TX_BATCH_TXS_MAX..=CLIENT_BACKLOG_TXS_MAX + TX_BATCH_TXS_MAX).contains(&pending),
        "{pending} admitted against a bound of {CLIENT_BACKLOG_TXS_MAX}"
    );
    // What was admitted is pending (besides, perhaps, an audit anchor of the node's own).
    let status = consortium.apis[0].get("/v1/status").unwrap().body;
    let in_mempool = status["mempool_txs"].as_u64().unwrap() as usize;
    assert!((pending..=pending + 4).contains(&in_mempool), "{in_mempool} pending on the node, {pending} admitted");
}
