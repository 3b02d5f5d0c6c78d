//! Backups at the storage level: a checkpoint of a store with a few blocks written through the
//! `ChainStore` API, its manifest, and the re-hash that names a missing, extra or altered file.

use std::path::Path;

use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::backup::{
    self, BackupError, BackupFile, BackupOrigin, DB_DIR, FileProblem, GENESIS_FILE, MANIFEST_FORMAT, Manifest,
};
use covenant_storage::{AuditLog, ChainStore, CommitBatch, RocksStore};
use covenant_types::{Block, BlockHeader, ChainId, ENCODING_VERSION, Hash, NodeId, merkle_root};

const GENESIS_TEXT: &[u8] = b"# stand-in genesis for the storage test\n";

fn node() -> NodeId {
    NodeId::new("validator-a").unwrap()
}

fn block(height: u64, parent_hash: Hash) -> Block {
    let header = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: ChainId::new("backup-test").unwrap(),
        height,
        round: 0,
        parent_hash,
        timestamp_ms: 1_700_000_000_000 + height * 1000,
        proposer: node(),
        transactions_root: merkle_root(&[]),
        state_root: Hash::digest(&height.to_be_bytes()),
        validator_set_hash: Hash::ZERO,
        parameters_hash: Hash::ZERO,
        parent_commit_seals: Vec::new(),
    };
    Block { header, transactions: Vec::new().into() }
}

/// Commits blocks `from..=to` on top of the store's tip, each with a state write and an audit record.
fn commit_blocks(store: &RocksStore, from: u64, to: u64) {
    for height in from..=to {
        let parent = store.latest().unwrap().map_or(Hash::ZERO, |tip| tip.hash);
        let mut batch = CommitBatch::new(block(height, parent), Vec::new());
        batch.state_writes.insert(format!("balance/{height}").into_bytes(), Some(height.to_string().into_bytes()));
        batch.audit.push(
            AuditRecord::new(
                1_700_000_000_000 + height,
                node(),
                EventType::BlockCommitted,
                Actor::System,
                Outcome::Success,
            )
            .with_detail("height", height.to_string()),
        );
        store.commit_block(batch).unwrap();
    }
}

fn origin() -> BackupOrigin {
    BackupOrigin { node_id: node(), node_version: "test".into(), created_at_ms: 1_700_000_123_456 }
}

/// Copies a backup file by file (new inodes: the checkpoint's SST files are hard links into the live
/// store, and damaging those would damage the store too).
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

fn largest_db_file(manifest: &Manifest) -> &BackupFile {
    manifest.files.iter().filter(|file| file.path.starts_with("db/")).max_by_key(|file| file.bytes).unwrap()
}

#[test]
fn backup_checkpoint_and_manifest_describe_the_store_and_later_commits_do_not_leak_in() {
    let temp = tempfile::tempdir().unwrap();
    let store = RocksStore::open(temp.path().join("live")).unwrap();
    commit_blocks(&store, 0, 3);
    let tip = store.latest().unwrap().unwrap();
    let head = store.head().unwrap();

    let dir = temp.path().join("backup");
    let manifest = backup::create(&store, &dir, &origin(), &[(GENESIS_FILE, GENESIS_TEXT)]).unwrap();
    assert_eq!(manifest.format, MANIFEST_FORMAT);
    assert_eq!(manifest.chain_id.as_str(), "backup-test");
    assert_eq!(manifest.node_id, node());
    assert_eq!((manifest.height, manifest.block_hash), (3, tip.hash));
    assert_eq!(manifest.state_root, Hash::digest(&3u64.to_be_bytes()));
    assert_eq!(manifest.genesis_hash, store.block_by_height(0).unwrap().unwrap().hash());
    assert_eq!(manifest.audit_head, head);
    assert_eq!(manifest.created_at, "2023-11-14T22:15:23.456Z");
    assert!(manifest.has_genesis());

    // Every file is listed once, sorted, with its real size and hash; the checkpoint has RocksDB's files.
    let paths: Vec<&str> = manifest.files.iter().map(|file| file.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(paths, sorted);
    assert!(paths.contains(&"db/CURRENT"), "{paths:?}");
    assert!(paths.iter().any(|path| path.starts_with("db/MANIFEST-")), "{paths:?}");
    assert!(paths.iter().any(|path| path.ends_with(".sst")), "{paths:?}");
    for file in &manifest.files {
        let (bytes, sha256) = backup::hash_file(&dir.join(&file.path)).unwrap();
        assert_eq!((bytes, sha256), (file.bytes, file.sha256), "{}", file.path);
    }
    assert_eq!(std::fs::read(dir.join(GENESIS_FILE)).unwrap(), GENESIS_TEXT);
    assert_eq!(backup::check_files(&dir, &manifest.files, None).unwrap(), Vec::new());

    // The live store goes on; the backup does not change with it.
    commit_blocks(&store, 4, 6);
    store.append(AuditRecord::new(1, node(), EventType::BackupCreated, Actor::System, Outcome::Success)).unwrap();
    assert_eq!(backup::check_files(&dir, &manifest.files, None).unwrap(), Vec::new());

    // The checked copy opens as a store holding exactly the chain at the checkpoint.
    let copy = temp.path().join("copy");
    assert_eq!(backup::check_files(&dir, &manifest.files, Some(&copy)).unwrap(), Vec::new());
    assert!(!copy.join(GENESIS_FILE).exists(), "only the checkpoint is copied");
    let restored = RocksStore::open(&copy).unwrap();
    assert_eq!(restored.latest().unwrap(), Some(tip));
    assert_eq!(restored.metadata().unwrap(), store.metadata().unwrap());
    for height in 0..=3 {
        assert_eq!(restored.block_by_height(height).unwrap(), store.block_by_height(height).unwrap());
    }
    assert_eq!(restored.block_by_height(4).unwrap(), None);
    assert_eq!(restored.get_state(b"balance/3").unwrap(), Some(b"3".to_vec()));
    assert_eq!(restored.get_state(b"balance/4").unwrap(), None);
    let audit = restored.verify().unwrap();
    assert_eq!(audit.head, head);
    assert_eq!(audit.entries, 4);
}

#[test]
fn a_backup_never_goes_into_a_directory_that_holds_something() {
    let temp = tempfile::tempdir().unwrap();
    let store = RocksStore::open(temp.path().join("live")).unwrap();
    commit_blocks(&store, 0, 1);

    let occupied = temp.path().join("occupied");
    std::fs::create_dir_all(&occupied).unwrap();
    std::fs::write(occupied.join("notes.txt"), b"keep me").unwrap();
    let error = backup::create(&store, &occupied, &origin(), &[]).unwrap_err();
    assert!(matches!(error, BackupError::NotEmpty { .. }), "{error}");
    assert!(error.to_string().contains("not empty"), "{error}");
    assert_eq!(std::fs::read(occupied.join("notes.txt")).unwrap(), b"keep me");

    let file = temp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    assert!(matches!(backup::create(&store, &file, &origin(), &[]), Err(BackupError::NotADirectory { .. })));

    // An existing empty directory is fine; so is a retry after a refused extra file.
    let empty = temp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let refused = backup::create(&store, &empty, &origin(), &[("../escape", b"x")]).unwrap_err();
    assert!(matches!(refused, BackupError::BadExtraFile { .. }), "{refused}");
    let manifest = backup::create(&store, &empty, &origin(), &[]).unwrap();
    assert_eq!(manifest.height, 1);
    assert!(!manifest.has_genesis());

    // A store without genesis has nothing to back up, and leaves nothing behind.
    let blank = RocksStore::open(temp.path().join("blank")).unwrap();
    let nothing = temp.path().join("nothing");
    assert!(matches!(backup::create(&blank, &nothing, &origin(), &[]), Err(BackupError::EmptyStore)));
    assert!(!nothing.exists());
}

#[test]
fn backup_files_altered_missing_or_extra_are_named() {
    let temp = tempfile::tempdir().unwrap();
    let store = RocksStore::open(temp.path().join("live")).unwrap();
    commit_blocks(&store, 0, 3);
    let dir = temp.path().join("backup");
    let manifest = backup::create(&store, &dir, &origin(), &[(GENESIS_FILE, GENESIS_TEXT)]).unwrap();
    let victim = largest_db_file(&manifest).path.clone();

    // One byte flipped in a copy: that file, and only that file, is named as altered.
    let flipped = temp.path().join("flipped");
    copy_tree(&dir, &flipped);
    let path = flipped.join(&victim);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let problems = backup::check_files(&flipped, &manifest.files, None).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(matches!(&problems[0], FileProblem::Altered { path, .. } if *path == victim), "{problems:?}");
    assert!(problems[0].to_string().starts_with(&format!("{victim}: altered")), "{}", problems[0]);
    // The original is untouched (the copy has its own inodes).
    assert_eq!(backup::check_files(&dir, &manifest.files, None).unwrap(), Vec::new());

    // A damaged copy is never copied on: nothing for the altered file lands in the target.
    let target = temp.path().join("target");
    let problems = backup::check_files(&flipped, &manifest.files, Some(&target)).unwrap();
    assert_eq!(problems.len(), 1);
    assert!(!target.join(victim.strip_prefix("db/").unwrap()).exists());

    // Truncated, removed, added: each named.
    let damaged = temp.path().join("damaged");
    copy_tree(&dir, &damaged);
    std::fs::write(damaged.join(&victim), b"short").unwrap();
    std::fs::remove_file(damaged.join(DB_DIR).join("CURRENT")).unwrap();
    std::fs::remove_file(damaged.join(GENESIS_FILE)).unwrap();
    std::fs::write(damaged.join(DB_DIR).join("000999.sst"), b"planted").unwrap();
    let problems = backup::check_files(&damaged, &manifest.files, None).unwrap();
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 4, "{shown:#?}");
    assert!(problems.contains(&FileProblem::Missing { path: "db/CURRENT".into() }), "{shown:#?}");
    assert!(problems.contains(&FileProblem::Missing { path: GENESIS_FILE.into() }), "{shown:#?}");
    assert!(problems.contains(&FileProblem::Extra { path: "db/000999.sst".into() }), "{shown:#?}");
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, FileProblem::SizeChanged { path, found: 5, .. } if *path == victim)),
        "{shown:#?}"
    );

    // A manifest may not point outside the backup, nor list a file twice.
    let mut hostile = manifest.files.clone();
    hostile.push(BackupFile { path: "../live/CURRENT".into(), bytes: 16, sha256: Hash::ZERO });
    hostile.push(manifest.files[0].clone());
    let problems = backup::check_files(&dir, &hostile, None).unwrap();
    assert!(
        problems
            .iter()
            .any(|problem| matches!(problem, FileProblem::BadPath { path, .. } if path == "../live/CURRENT")),
        "{problems:?}"
    );
    assert!(problems.contains(&FileProblem::Duplicate { path: manifest.files[0].path.clone() }), "{problems:?}");
}
