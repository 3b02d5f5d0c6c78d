//! End to end (article 18): a running validator of a 4-validator consortium is backed up through its
//! operations listener (with its token: the client API has no administrative route, and the
//! listener refuses a request without the token or with another, auditing it); `covenant backup verify` accepts the backup and names the file of a copy with one byte
//! flipped, and `covenant backup restore` refuses that copy. The validator is stopped, its data dir
//! destroyed and restored from the good backup; restarted, it catches up by block sync and agrees with
//! the others on block hashes, state roots and balances.

use std::path::Path;
use std::time::{Duration, Instant};

use covenant_client::transfer;
use covenant_storage::audit::EventType;
use covenant_storage::{AuditLog, ChainStore};
use covenant_tests::Consortium;
use covenant_types::{AccountId, AssetId, ChainId, OperatorId, SecretKey};

const CHAIN: &str = "covenant-local";
const VALIDATORS: usize = 4;
/// The validator that is backed up, destroyed and restored.
const RESTORED: usize = 2;

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

fn operator_key(consortium: &Consortium, index: usize) -> SecretKey {
    let text = std::fs::read_to_string(consortium.key_file(&format!("bank-{index}.ops"))).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut seed).unwrap();
    SecretKey::from_seed(&seed)
}

fn account(index: usize) -> AccountId {
    AccountId::new(format!("bank-{index}/treasury")).unwrap()
}

/// Submits one transfer per operator with `nonce` (to the nodes in `via`, in turn) and returns the hashes.
fn transfers(consortium: &Consortium, nonce: u64, via: &[usize]) -> Vec<String> {
    (0..VALIDATORS)
        .map(|index| {
            let tx = transfer(
                &ChainId::new(CHAIN).unwrap(),
                &OperatorId::new(format!("bank-{index}.ops")).unwrap(),
                &operator_key(consortium, index),
                nonce,
                covenant_tests::now_ms(),
                account(index),
                account((index + 1) % VALIDATORS),
                AssetId::new("twd").unwrap(),
                10 + nonce + index as u64,
            );
            let node = via[(index + nonce as usize) % via.len()];
            let response = consortium.apis[node].submit(&tx).unwrap();
            assert!(response.is_success(), "node {node} refused a transfer: {:?}", response.body);
            response.body["hash"].as_str().unwrap().to_string()
        })
        .collect()
}

/// Waits until every transaction is committed on every node in `which`.
fn wait_committed(consortium: &Consortium, hashes: &[String], which: &[usize], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for hash in hashes {
        for index in which {
            loop {
                let answer = consortium.apis[*index].get(&format!("/v1/txs/{hash}")).ok().map(|r| r.body);
                if answer.as_ref().and_then(|body| body["status"].as_str()) == Some("committed") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "transaction {hash} not committed on node {index}: {answer:?}\n{}",
                    consortium.logs()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Copies a directory tree file by file, so the copy has inodes of its own (a checkpoint's SST files
/// are hard links into the live store: flipping a byte in one of those would damage the node).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn balances(consortium: &Consortium, node: usize) -> Vec<serde_json::Value> {
    (0..VALIDATORS)
        .map(|index| {
            let response =
                consortium.apis[node].get(&format!("/v1/accounts/bank-{index}%2Ftreasury/balances/twd")).unwrap();
            assert!(response.is_success(), "balance on node {node}: {:?}", response.body);
            response.body["balance"].clone()
        })
        .collect()
}

// covers: COV-18-BACKUP
#[test]
fn a_validator_restored_from_a_verified_backup_rejoins_and_agrees() {
    let started = Instant::now();
    let mut consortium = Consortium::start(VALIDATORS);
    let all: Vec<usize> = (0..VALIDATORS).collect();
    let others: Vec<usize> = all.iter().copied().filter(|index| *index != RESTORED).collect();
    consortium.wait_for_height(&all, 1, Duration::from_secs(60));
    let mut hashes = transfers(&consortium, 0, &all);
    hashes.extend(transfers(&consortium, 1, &all));
    wait_committed(&consortium, &hashes, &all, Duration::from_secs(30));
    // A few more blocks for the replay to check.
    let height = consortium.height(RESTORED);
    consortium.wait_for_height(&all, height + 3, Duration::from_secs(30));

    // Administrative actions and metrics are not on the client API; on the operations listener,
    // administrative actions need the node's token.
    let work = tempfile::tempdir().unwrap();
    let refused = work.path().join("refused");
    let body = serde_json::json!({ "dir": path(&refused) });
    let api = &consortium.apis[RESTORED];
    assert_eq!(api.post_json("/v1/admin/backup", &body).unwrap().status, 404);
    assert_eq!(api.get("/metrics").unwrap().status, 404);
    let ops = consortium.ops(RESTORED).expect("an operations listener");
    let no_token = ops.post_json("/v1/admin/backup", &body).unwrap();
    assert_eq!(no_token.status, 401, "{no_token:?}");
    let wrong = ops.post_json_with_token("/v1/admin/backup", &body, &"f".repeat(64)).unwrap();
    assert_eq!(wrong.status, 401, "{wrong:?}");
    assert!(!refused.exists(), "a refused backup wrote {}", refused.display());
    let metrics = ops.get("/metrics").unwrap();
    assert!(metrics.body.as_str().is_some_and(|text| text.contains("covenant_height")), "{metrics:?}");

    // Back up the running validator through its operations listener, the genesis included.
    let good = work.path().join("backup");
    let config = consortium.config(RESTORED);
    let config_file = consortium.config_file(RESTORED);
    let run = consortium.covenant(
        &["backup", "create", path(&good), "--config", path(&config_file), "--genesis", path(&config.genesis_file)],
        Duration::from_secs(30),
    );
    assert_eq!(run.code, 0, "backup create failed\n{}\n{}", run.text(), consortium.logs());
    assert!(run.stdout.contains("backup written to"), "{}", run.text());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(good.join("manifest.json")).unwrap()).expect("manifest is JSON");
    let backup_height = manifest["height"].as_u64().expect("manifest height");
    assert!(backup_height >= 1, "{manifest}");
    assert_eq!(manifest["node_id"], format!("validator-{RESTORED}"), "{manifest}");
    // The same directory again is refused: a backup never overwrites anything.
    let again = consortium
        .covenant(&["backup", "create", path(&good), "--config", path(&config_file)], Duration::from_secs(30));
    assert_eq!(again.code, 1, "{}", again.text());
    assert!(again.stderr.contains("not empty"), "{}", again.text());
    eprintln!("backup at height {backup_height} after {:?}", started.elapsed());

    // The backup verifies: files, chain replayed from genesis, audit chain.
    let run = consortium.covenant(&["backup", "verify", path(&good)], Duration::from_secs(60));
    assert_eq!(run.code, 0, "verify failed on a good backup\n{}", run.text());
    assert!(run.stdout.contains("verified"), "{}", run.text());
    eprint!("{}", run.stdout);
    assert!(run.stdout.contains(&format!("height {backup_height}")), "{}", run.text());

    // One byte flipped in a copy: verify names the file; restore will refuse it (below).
    let damaged = work.path().join("damaged");
    copy_tree(&good, &damaged);
    let files = manifest["files"].as_array().expect("manifest lists files");
    let victim = files
        .iter()
        .filter(|file| file["path"].as_str().is_some_and(|path| path.ends_with(".sst")))
        .max_by_key(|file| file["bytes"].as_u64())
        .and_then(|file| file["path"].as_str())
        .expect("the checkpoint has an SST file")
        .to_string();
    let mut bytes = std::fs::read(damaged.join(&victim)).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(damaged.join(&victim), &bytes).unwrap();
    let run = consortium.covenant(&["backup", "verify", path(&damaged)], Duration::from_secs(60));
    assert_eq!(run.code, 1, "verify accepted a damaged backup\n{}", run.text());
    eprint!("{}", run.stdout);
    assert!(
        run.stdout.contains(&victim) && run.stdout.contains("altered"),
        "the damaged file is not named\n{}",
        run.text()
    );

    // The same damage with the manifest forged to match: the replay still finds it (RocksDB's block
    // checksums and the chain checks read every entry back).
    let forged = work.path().join("forged");
    copy_tree(&damaged, &forged);
    let mut forged_manifest = manifest.clone();
    for file in forged_manifest["files"].as_array_mut().unwrap() {
        if file["path"] == victim.as_str() {
            file["sha256"] = serde_json::json!(covenant_types::Hash::digest(&bytes).to_hex());
        }
    }
    std::fs::write(forged.join("manifest.json"), serde_json::to_vec_pretty(&forged_manifest).unwrap()).unwrap();
    let run = consortium.covenant(&["backup", "verify", path(&forged)], Duration::from_secs(60));
    assert_eq!(run.code, 1, "verify accepted a damaged backup with a forged manifest\n{}", run.text());
    assert!(run.stdout.contains("check failed at") && !run.stdout.contains("file check failed"), "{}", run.text());
    eprint!("{}", run.stdout);

    // The chain moves on without the backup.
    let later = transfers(&consortium, 2, &others);
    wait_committed(&consortium, &later, &others, Duration::from_secs(30));

    // Stop the validator. Its data dir still holds a store: restore refuses without --force.
    consortium.stop_node(RESTORED, Duration::from_secs(30));
    let run = consortium
        .covenant(&["backup", "restore", path(&good), "--config", path(&config_file)], Duration::from_secs(60));
    assert_eq!(run.code, 1, "restore over a store without --force\n{}", run.text());
    assert!(run.stderr.contains("holds a store"), "{}", run.text());

    // Destroy the data dir. A damaged backup is not restored; nothing is written.
    std::fs::remove_dir_all(&config.data_dir).unwrap();
    let run = consortium
        .covenant(&["backup", "restore", path(&damaged), "--config", path(&config_file)], Duration::from_secs(60));
    assert_eq!(run.code, 1, "a damaged backup was restored\n{}", run.text());
    assert!(run.stdout.contains(&victim), "restore does not name the damaged file\n{}", run.text());
    assert!(!config.data_dir.join("db").exists(), "a refused restore left a store behind");

    // The good backup restores, and the restore is audited.
    let run = consortium
        .covenant(&["backup", "restore", path(&good), "--config", path(&config_file)], Duration::from_secs(60));
    assert_eq!(run.code, 0, "restore failed\n{}", run.text());
    eprint!("{}", run.stdout);
    {
        let store = consortium.open_store(RESTORED);
        let tip = store.latest().unwrap().expect("the restored store has blocks");
        assert_eq!(tip.height, backup_height);
        let head = store.head().unwrap().expect("the restored store has an audit log");
        let last = store.range(head.sequence, 1).unwrap();
        assert_eq!(last[0].event_type, EventType::BackupRestored, "{last:?}");
        let mut denied = 0;
        for from in (0..=head.sequence).step_by(1_000) {
            let page = store.range(from, 1_000).unwrap();
            denied += page.iter().filter(|entry| entry.event_type == EventType::ApiAccessDenied).count();
        }
        assert_eq!(denied, 2, "both refused backup requests are in the audit log the backup kept");
        store.verify().expect("the restored audit chain verifies");
    }
    eprintln!("restored to height {backup_height} after {:?}", started.elapsed());

    // Restarted, it catches up by block sync and agrees with everybody.
    consortium.start_node(RESTORED);
    let target = consortium.height(0).max(backup_height + 1);
    consortium.wait_for_height(&[RESTORED], target, Duration::from_secs(45));
    let block =
        |node: usize| consortium.block(node, target).unwrap_or_else(|| panic!("node {node} has no block {target}"));
    let reference = block(0);
    for node in 1..VALIDATORS {
        let theirs = block(node);
        assert_eq!(theirs["hash"], reference["hash"], "node {node} disagrees on the block at height {target}");
        assert_eq!(
            theirs["header"]["state_root"], reference["header"]["state_root"],
            "node {node} disagrees on the state root at height {target}"
        );
    }
    let agreed = consortium.assert_same_chain(&all);
    assert!(agreed >= target, "all four share only {agreed} heights, wanted {target}");
    wait_committed(&consortium, &later, &[RESTORED], Duration::from_secs(10));
    let expected = balances(&consortium, 0);
    assert_eq!(balances(&consortium, RESTORED), expected, "the restored node's balances differ");
    eprintln!("node {RESTORED} agrees up to height {agreed}; total {:?}", started.elapsed());
}
