//! End to end: four real `covenant node` processes on 127.0.0.1 with RocksDB data dirs, libp2p with
//! Noise, QBFT. Transactions sent to any node commit on all with identical blocks; refused
//! transactions get structured errors naming their rule; a validator killed with SIGKILL does not stop
//! the chain and catches up when restarted.

use std::time::{Duration, Instant};

use covenant_client::transfer;
use covenant_tests::Consortium;
use covenant_types::*;

const CHAIN: &str = "covenant-local";

fn operator_key(consortium: &Consortium, index: usize) -> SecretKey {
    let text = std::fs::read_to_string(consortium.key_file(&format!("bank-{index}.ops"))).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).unwrap();
    SecretKey::from_seed(&seed)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

fn demo_transfer(consortium: &Consortium, index: usize, nonce: u64, chain: &str) -> SignedTx {
    transfer(
        &ChainId::new(chain).unwrap(),
        &OperatorId::new(format!("bank-{index}.ops")).unwrap(),
        &operator_key(consortium, index),
        nonce,
        now_ms(),
        AccountId::new(format!("bank-{index}/treasury")).unwrap(),
        AccountId::new(format!("bank-{}/treasury", (index + 1) % 4)).unwrap(),
        AssetId::new("twd").unwrap(),
        7,
    )
}

fn wait_committed(consortium: &Consortium, hashes: &[String], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for hash in hashes {
        for api in &consortium.apis {
            loop {
                let status = api.get(&format!("/v1/txs/{hash}")).ok().map(|r| r.body["status"].clone());
                if status.as_ref().and_then(|s| s.as_str()) == Some("committed") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "transaction {hash} not committed everywhere: {status:?}\n{}",
                    consortium.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn block_hash(consortium: &Consortium, index: usize, height: u64) -> String {
    let response = consortium.apis[index].get(&format!("/v1/blocks/{height}")).unwrap();
    assert!(response.is_success(), "block {height} on node {index}: {:?}", response.body);
    response.body["hash"].as_str().unwrap().to_string()
}

// covers: COV-34-ORDERED-NONCES, COV-19-ENVIRONMENT-SEPARATION, COV-30-SIGNED, COV-45-LOAD-LIMITS
#[test]
fn four_validators_agree_refuse_with_rules_and_survive_a_killed_validator() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));

    // Transactions sent to different nodes commit on all of them. A node admits a sender's nonce only
    // after the previous one (COV-34), so each goes to its node once that node has heard of the last.
    let mut hashes = Vec::new();
    for round in 0..5u64 {
        for index in 0..4 {
            let tx = demo_transfer(&consortium, index, round, CHAIN);
            let via = (index + round as usize) % 4;
            consortium.wait_until(&format!("node {via} to hear of bank-{index}.ops's nonce {round}"), || {
                consortium.apis[via]
                    .get(&format!("/v1/operators/bank-{index}.ops/nonce"))
                    .is_ok_and(|response| response.body["next_nonce"].as_u64() == Some(round))
            });
            let response = consortium.apis[via].submit(&tx).unwrap();
            assert!(response.is_success(), "submit refused: {:?}", response.body);
            hashes.push(response.body["hash"].as_str().unwrap().to_string());
        }
    }
    wait_committed(&consortium, &hashes, Duration::from_secs(60));
    let height = (0..4).map(|i| consortium.height(i)).min().unwrap();
    let reference = block_hash(&consortium, 0, height);
    for index in 1..4 {
        assert_eq!(block_hash(&consortium, index, height), reference, "node {index} disagrees at height {height}");
    }

    // Refusals are structured and name their rule; nothing is stored.
    let refusals = [
        (demo_transfer(&consortium, 0, 99, CHAIN), "COV-34-ORDERED-NONCES"),
        (demo_transfer(&consortium, 0, 5, "another-chain"), "COV-19-ENVIRONMENT-SEPARATION"),
        (
            {
                let mut tx = demo_transfer(&consortium, 0, 5, CHAIN);
                tx.signature.0[10] ^= 1;
                tx
            },
            "COV-30-SIGNED",
        ),
    ];
    for (tx, rule) in refusals {
        let response = consortium.apis[1].submit(&tx).unwrap();
        assert_eq!(response.status, 422, "{:?}", response.body);
        assert_eq!(response.body["rule"], rule, "{:?}", response.body);
        assert!(response.body["article"].is_u64());
    }
    let oversized = vec![0u8; covenant_types::limits::TX_BYTES_MAX + 1];
    let response =
        consortium.apis[1].post_json("/v1/txs", &serde_json::json!({ "tx": hex::encode(&oversized) })).unwrap();
    assert_eq!(response.body["rule"], "COV-45-LOAD-LIMITS", "{:?}", response.body);

    // A batch: each transaction gets its own verdict, in order; a sender's consecutive nonces may
    // share it. Bank 0's next nonce is 5 (the refusals above stored nothing).
    let first = demo_transfer(&consortium, 0, 5, CHAIN);
    let second = demo_transfer(&consortium, 0, 6, CHAIN);
    let mut forged = demo_transfer(&consortium, 1, 5, CHAIN);
    forged.signature.0[3] ^= 1;
    let response = consortium.apis[2]
        .post_json(
            "/v1/txs/batch",
            &serde_json::json!({ "txs": [
                hex::encode(first.encode()),
                hex::encode(second.encode()),
                hex::encode(first.encode()),
                hex::encode(forged.encode()),
                "00ff",
            ] }),
        )
        .unwrap();
    assert_eq!(response.status, 200, "{:?}", response.body);
    let results = response.body["results"].as_array().unwrap();
    assert_eq!(results.len(), 5, "{results:?}");
    assert_eq!(results[0]["status"], "pending", "{results:?}");
    assert_eq!(results[0]["hash"], first.body.hash().to_hex());
    assert_eq!(results[1]["status"], "pending", "{results:?}");
    assert_eq!((results[2]["status"].as_str(), results[2]["code"].as_u64()), (Some("rejected"), Some(409)));
    assert_eq!((results[3]["code"].as_u64(), results[3]["rule"].as_str()), (Some(422), Some("COV-30-SIGNED")));
    assert_eq!(results[3]["hash"], forged.body.hash().to_hex());
    assert_eq!((results[4]["code"].as_u64(), results[4]["hash"].is_null()), (Some(422), true), "{results:?}");
    // The same node: another may not have heard of nonces 5 and 6 yet.
    let third = demo_transfer(&consortium, 0, 7, CHAIN);
    let binary = consortium.apis[2].submit_batch(std::slice::from_ref(&third)).unwrap();
    assert_eq!(binary.body["results"][0]["status"], "pending", "{:?}", binary.body);
    wait_committed(
        &consortium,
        &[first.body.hash().to_hex(), second.body.hash().to_hex(), third.body.hash().to_hex()],
        Duration::from_secs(60),
    );
    // A batch that does not parse is refused whole.
    for (response, expected) in [
        (consortium.apis[2].post_json("/v1/txs/batch", &serde_json::json!({ "txs": [] })).unwrap(), "1 to 4096"),
        (consortium.apis[2].post_bytes("/v1/txs/batch", vec![2, 1, 9]).unwrap(), "cut short"),
    ] {
        assert_eq!(response.status, 400, "{:?}", response.body);
        assert!(response.body["error"].as_str().unwrap().contains(expected), "{:?}", response.body);
    }
    let oversized = vec![0u8; covenant_node::api::BATCH_REQUEST_BODY_BYTES_MAX + 1];
    assert_eq!(consortium.apis[2].post_bytes("/v1/txs/batch", oversized).unwrap().status, 413);

    // One validator killed: the chain goes on; restarted, it catches up.
    consortium.kill_node(3);
    let before = consortium.height(0);
    consortium.wait_for_height(&[0, 1, 2], before + 3, Duration::from_secs(60));
    consortium.start_node(3);
    let target = consortium.height(0);
    consortium.wait_for_height(&[3], target, Duration::from_secs(60));
    assert_eq!(block_hash(&consortium, 3, target), block_hash(&consortium, 0, target));
}
