//! `fuzz-seeds DIR`: writes a seed corpus of valid inputs for every fuzz target (`fuzz/`), one
//! directory per target (`DIR/<target>/`), from the real encoders and the shipped example files.
//! `scripts/fuzz.sh` runs it before fuzzing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use covenant_byzantine::forge::{self, BulkyRoundChange};
use covenant_consensus::SafetyState;
use covenant_network::GetBlocks;
use covenant_network::protocol::{Request, Response, encode_request, encode_response};
use covenant_storage::audit::{Actor, AuditEntry, EventType, Outcome};
use covenant_storage::backup::{BackupFile, MANIFEST_FORMAT, Manifest};
use covenant_types::{
    AccountId, AssetId, ChainId, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload, Principal, SecretKey, SignedTx,
    Transfer, TxBody,
};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
    std::fs::write(dir.join(name), bytes).unwrap_or_else(|error| panic!("writing a seed of {target}: {error}"));
}

fn transfers(chain: &ChainId) -> Vec<SignedTx> {
    let key = SecretKey::from_seed(&[3; 32]);
    (0..3u64)
        .map(|nonce| {
            let body = TxBody {
                version: ENCODING_VERSION,
                chain_id: chain.clone(),
                sender: Principal::Operator(OperatorId::new("bank-0.ops").expect("operator id")),
                nonce,
                created_at_ms: 1_765_000_000_000 + nonce,
                payload: Payload::Transfer(Transfer {
                    from: AccountId::new("bank-0/treasury").expect("account id"),
                    to: AccountId::new("bank-1/treasury").expect("account id"),
                    asset: AssetId::new("twd").expect("asset id"),
                    amount: 25 + nonce,
                    memo: "invoice 7".repeat(nonce as usize),
                }),
            };
            SignedTx::sign(body, &key)
        })
        .collect()
}

fn repository_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative)
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds DIR");
        return ExitCode::from(2);
    };
    let chain = ChainId::new("covenant-local").expect("chain id");
    let node = NodeId::new("validator-0").expect("node id");
    let key = SecretKey::from_seed(&[9; 32]);

    let txs = transfers(&chain);
    for (index, tx) in txs.iter().enumerate() {
        write(&dir, "tx", &format!("transfer-{index}"), &tx.encode());
    }
    let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
    let batch = covenant_types::batch::encode_tx_batch(encoded.iter().map(Vec::as_slice));
    write(&dir, "tx_batch", "three-transfers", &batch);

    for (index, side) in forge::equivocating_votes(&chain, &node, &key, 5, 1, 7).iter().enumerate() {
        for (kind, bytes) in ["prepare", "commit"].iter().zip(side) {
            write(&dir, "consensus_message", &format!("{kind}-{index}"), bytes);
        }
    }
    let round_change = forge::bulky_round_change(&BulkyRoundChange {
        chain: &chain,
        author: node.clone(),
        signer: Some(&key),
        height: 9,
        round: 2,
        prepare_authors: vec![NodeId::new("validator-1").expect("node id")],
        bytes: 1,
        salt: 1,
    });
    write(&dir, "consensus_message", "round-change", &round_change);

    let genesis_text = std::fs::read_to_string(repository_file("node-config/genesis.toml")).expect("example genesis");
    let genesis = covenant_rules::Genesis::from_toml_str(&genesis_text).expect("the example genesis is valid");
    let block = covenant_execution::genesis_outcome(&genesis).block;
    write(&dir, "block", "genesis", &block.encode());

    for (name, request) in [
        ("status", Request::Status { height: 7 }),
        ("get-blocks", Request::GetBlocks(GetBlocks { from_height: 1, max_count: 64 })),
    ] {
        write(&dir, "sync_request", name, &encode_request(&request));
    }
    for (name, response) in [
        ("status", Response::Status { height: 7, time_ms: 1_765_000_000_000 }),
        ("blocks", Response::Blocks(vec![block.encode()])),
    ] {
        write(&dir, "sync_response", name, &encode_response(&response));
    }

    write(&dir, "safety_state", "fresh", &SafetyState::new(12).encode());

    let entry = AuditEntry {
        version: ENCODING_VERSION,
        sequence: 3,
        time_ms: 1_765_000_000_000,
        node: node.clone(),
        event_type: EventType::NodeStarted,
        actor: Actor::System,
        outcome: Outcome::Success,
        details: [("config".to_string(), "/etc/covenant/node.toml".to_string())].into(),
        prev_hash: Hash::digest(b"previous"),
        hash: Hash::digest(b"this"),
    };
    write(&dir, "audit_entry", "node-started", &covenant_types::encode(&entry));

    let manifest = Manifest {
        format: MANIFEST_FORMAT.into(),
        chain_id: chain.clone(),
        node_id: node,
        genesis_hash: block.hash(),
        height: 40,
        block_hash: Hash::digest(b"block 40"),
        state_root: Hash::digest(b"state 40"),
        audit_head: None,
        created_at_ms: 1_765_000_000_000,
        created_at: "2025-12-06T05:46:40Z".into(),
        node_version: "0.1.0".into(),
        files: vec![BackupFile { path: "db/000012.sst".into(), bytes: 1_024, sha256: Hash::digest(b"sst") }],
    };
    write(&dir, "backup_manifest", "one-file", serde_json::to_string_pretty(&manifest).expect("JSON").as_bytes());

    let examples = std::fs::read_dir(repository_file("node-config")).expect("node-config/");
    for entry in examples.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(text) = std::fs::read(entry.path()) else { continue };
        let target = if name.contains("node") { "node_toml" } else { "genesis_toml" };
        if name.ends_with(".toml") {
            write(&dir, target, &name, &text);
        }
    }

    let hex_txs: Vec<String> = encoded.iter().map(hex::encode).collect();
    let bodies: [(&str, u8, String); 6] = [
        ("submit-raw", 0, String::from_utf8_lossy(&encoded[0]).into_owned()),
        ("submit-json", 1, serde_json::json!({ "tx": hex_txs[0] }).to_string()),
        ("batch-json", 3, serde_json::json!({ "txs": hex_txs }).to_string()),
        ("session", 4, r#"{"operator": "bank-0.admin", "time_ms": 1765000000000, "signature": "00"}"#.into()),
        ("backup", 5, r#"{"dir": "/var/backups/covenant/2025-12-06"}"#.into()),
        ("backup-genesis", 5, r#"{"dir": "/b", "genesis_file": "/etc/covenant/genesis.toml"}"#.into()),
    ];
    for (name, selector, body) in bodies {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(body.as_bytes());
        write(&dir, "api_body", name, &bytes);
    }
    let mut batch_raw = vec![2u8];
    batch_raw.extend_from_slice(&batch);
    write(&dir, "api_body", "batch-raw", &batch_raw);

    let passphrase = covenant_node::keyfile::Passphrase::new(b"correct horse battery staple".to_vec());
    let sealed = covenant_node::keyfile::EncryptedKeyFile::seal(
        &key,
        &passphrase,
        covenant_node::keyfile::KdfParams::TEST,
        covenant_node::keyfile::KeyPurpose::Key,
        1_765_000_000_000,
    )
    .expect("sealing a test key");
    write(&dir, "key_file", "consensus", sealed.to_text().as_bytes());
    ExitCode::SUCCESS
}
