//! The audit trail is tamper-evident beyond the node (article 33): a validator anchors its audit
//! head on chain; after it stops, `covenant audit verify` accepts the untouched log, names an edited
//! entry, catches a log rewritten with every hash recomputed (the anchor on chain disagrees), and a
//! deleted tail; `covenant audit export` writes JSON lines.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use covenant_storage::{AuditEntry, Backend, Column, KvBatch, RocksBackend};
use covenant_tests::{Consortium, covenant_binary};
use covenant_types::*;

struct Run {
    code: i32,
    stdout: String,
}

fn audit(args: &[&str], config: &Path) -> Run {
    let output = Command::new(covenant_binary()).arg("audit").args(args).arg("--config").arg(config).output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr),
    }
}

/// A copy of node 0's store and a config pointing at it.
fn copy_of(consortium: &Consortium, name: &str) -> (PathBuf, PathBuf) {
    let original = consortium.config(0).data_dir;
    let data = consortium.dir.path().join(name);
    std::fs::create_dir_all(data.join("db")).unwrap();
    for file in std::fs::read_dir(original.join("db")).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), data.join("db").join(file.file_name())).unwrap();
    }
    let config = std::fs::read_to_string(consortium.config_file(0))
        .unwrap()
        .replace("data_dir = \"data/validator-0\"", &format!("data_dir = {:?}", data.display().to_string()));
    let config_file = consortium.dir.path().join(format!("{name}.toml"));
    std::fs::write(&config_file, config).unwrap();
    (data.join("db"), config_file)
}

fn entries(backend: &RocksBackend) -> Vec<AuditEntry> {
    backend
        .scan(Column::Audit, &[], &[], 100_000)
        .unwrap()
        .into_iter()
        .map(|(_, value)| covenant_types::decode("audit entry", &value, value.len()).unwrap())
        .collect()
}

fn put(backend: &RocksBackend, entries: &[AuditEntry], head: Option<&AuditEntry>) {
    let mut batch = KvBatch::new();
    for entry in entries {
        batch.put(Column::Audit, entry.sequence.to_be_bytes().to_vec(), encode(entry));
    }
    if let Some(head) = head {
        batch.put(Column::Meta, b"audit_head".to_vec(), encode(&head.position()));
    }
    backend.write(batch).unwrap();
}

// covers: COV-33-AUDIT-TRAIL
#[test]
fn audit_verify_names_edits_and_catches_rewrites_and_deleted_tails_against_the_chain() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    // Anchors every 10 blocks: drive past two anchoring heights so one is surely committed.
    consortium.drive_to(0, 23);
    consortium.stop_node(0, Duration::from_secs(20));

    let untouched = audit(&["verify"], &consortium.config_file(0));
    assert_eq!(untouched.code, 0, "{}", untouched.stdout);
    assert!(untouched.stdout.contains("anchors on chain agree"), "{}", untouched.stdout);

    // Edited in place: the entry is named.
    let (db, config) = copy_of(&consortium, "edited");
    {
        let backend = RocksBackend::open(&db).unwrap();
        let mut all = entries(&backend);
        all[1].details.insert("forged".into(), "yes".into());
        put(&backend, &all[1..2], None);
    }
    let edited = audit(&["verify"], &config);
    assert_eq!(edited.code, 1, "{}", edited.stdout);
    assert!(edited.stdout.contains("sequence 1") && edited.stdout.contains("edited"), "{}", edited.stdout);

    // Rewritten with every hash recomputed and the head moved along: only the chain can tell.
    let (db, config) = copy_of(&consortium, "rewritten");
    {
        let backend = RocksBackend::open(&db).unwrap();
        let mut all = entries(&backend);
        all[1].details.insert("forged".into(), "yes".into());
        for index in 1..all.len() {
            all[index].prev_hash = all[index - 1].hash;
            all[index].hash = all[index].compute_hash();
        }
        let head = all.last().cloned();
        put(&backend, &all[1..], head.as_ref());
    }
    let rewritten = audit(&["verify"], &config);
    assert_eq!(rewritten.code, 1, "{}", rewritten.stdout);
    assert!(rewritten.stdout.contains("anchor of entry"), "{}", rewritten.stdout);

    // The tail deleted and the head set back: the anchored entry is gone.
    let (db, config) = copy_of(&consortium, "truncated");
    {
        let backend = RocksBackend::open(&db).unwrap();
        let all = entries(&backend);
        let keep = 2;
        let mut batch = KvBatch::new();
        for entry in &all[keep..] {
            batch.delete(Column::Audit, entry.sequence.to_be_bytes().to_vec());
        }
        batch.put(Column::Meta, b"audit_head".to_vec(), encode(&all[keep - 1].position()));
        backend.write(batch).unwrap();
    }
    let truncated = audit(&["verify"], &config);
    assert_eq!(truncated.code, 1, "{}", truncated.stdout);
    assert!(truncated.stdout.contains("anchor of entry"), "{}", truncated.stdout);

    // Export: JSON lines with the article 33 fields.
    let export = audit(&["export", "--since", "0"], &consortium.config_file(0));
    assert_eq!(export.code, 0, "{}", export.stdout);
    let lines: Vec<serde_json::Value> =
        export.stdout.lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect();
    assert!(lines.iter().any(|line| line["event"] == "node_started"));
    assert!(lines.iter().any(|line| line["event"] == "audit_verified"), "verify runs are audited");
    for line in &lines {
        for field in ["time_ms", "node", "event", "actor", "outcome", "hash"] {
            assert!(!line[field].is_null(), "{field} missing in {line}");
        }
    }
}
