//! An audit log rewritten together with the node's own anchor records (COV-33, ADR 0020), end to
//! end with four real validators. The operator of validator-0 stops it, rewrites the tail of its
//! audit log with every hash recomputed and rewrites its anchor records in the chain state to match,
//! and restarts it. Then:
//! (a) `covenant audit verify --config` of the stopped node catches it, because it reads the anchors
//!     from the sealed blocks, not from the records; it cannot catch an operator who also deletes the
//!     records that point at the later anchor blocks (asserted: it then passes);
//! (b) the node itself finds the mismatch at start-up, says which entry, exports it in its metrics,
//!     and anchors nothing more, while it keeps validating and the other nodes keep anchoring;
//! (c) an auditor verifying the running node through an auditor session against blocks fetched from
//!     the other members' nodes gets exit code 1 naming the anchored entry. An untouched log verifies
//!     remotely (exit 0).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use covenant_tests::audit_edit::{anchor_records, delete_anchor_records_from, rewrite_tail_and_anchor_records};
use covenant_tests::{CommandRun, Consortium, now_ms};
use covenant_types::*;

const DAY_MS: u64 = 86_400_000;
const AUDITOR: &str = "bank-1.audit";

/// `validator-<index>`'s anchors as node `via` lists them: (sequence, height). A page larger than the
/// route allows is refused, not cut short.
fn anchors_listed(consortium: &Consortium, via: usize, index: usize) -> Vec<(u64, u64)> {
    let too_many = consortium.apis[via].get(&format!("/v1/nodes/validator-{index}/anchors?limit=1001")).unwrap();
    assert_eq!(too_many.status, 400, "{:?}", too_many.body);
    let answer = consortium.apis[via].get(&format!("/v1/nodes/validator-{index}/anchors")).expect("anchors listed");
    assert!(answer.is_success(), "{:?}", answer.body);
    answer.body["anchors"]
        .as_array()
        .expect("anchors")
        .iter()
        .map(|anchor| (anchor["sequence"].as_u64().unwrap(), anchor["height"].as_u64().unwrap()))
        .collect()
}

fn api(consortium: &Consortium, index: usize) -> String {
    consortium.apis[index].address().to_string()
}

/// `covenant audit verify` of node `index`'s running API, vouched for by nodes `peers`.
fn verify_remotely(consortium: &Consortium, key: &Path, index: usize, peers: &[usize], extra: &[&str]) -> CommandRun {
    let peers: Vec<String> = peers.iter().map(|peer| api(consortium, *peer)).collect();
    let audited = api(consortium, index);
    let key = key.display().to_string();
    let peers = peers.join(",");
    let mut args = vec![
        "audit",
        "verify",
        "--api",
        audited.as_str(),
        "--operator",
        AUDITOR,
        "--key",
        key.as_str(),
        "--peers",
        peers.as_str(),
    ];
    args.extend(extra);
    consortium.covenant(&args, Duration::from_secs(120))
}

fn verify_locally(consortium: &Consortium, config: &Path) -> CommandRun {
    consortium.covenant(&["audit", "verify", "--config", &config.display().to_string()], Duration::from_secs(120))
}

/// A copy of stopped node 0's store and a config pointing at it.
fn copy_of_node0(consortium: &Consortium, name: &str) -> (PathBuf, PathBuf) {
    let original = consortium.config(0).data_dir.join("db");
    let db = consortium.dir.path().join(name).join("db");
    std::fs::create_dir_all(&db).unwrap();
    for file in std::fs::read_dir(&original).unwrap() {
        let file = file.unwrap();
        std::fs::copy(file.path(), db.join(file.file_name())).unwrap();
    }
    let data = db.parent().unwrap().display().to_string();
    let config = std::fs::read_to_string(consortium.config_file(0))
        .unwrap()
        .replace("data_dir = \"data/validator-0\"", &format!("data_dir = {data:?}"));
    let config_file = consortium.dir.path().join(format!("{name}.toml"));
    std::fs::write(&config_file, config).unwrap();
    (db, config_file)
}

// covers: COV-33-AUDIT-TRAIL
#[test]
fn a_log_rewritten_with_the_nodes_anchor_records_is_caught_by_the_node_and_by_an_auditor_against_other_members_blocks()
{
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let node0 = NodeId::new("validator-0").unwrap();

    // An auditor of bank-1, registered by vote; the key file is what the auditor holds.
    let auditor_key = SecretKey::generate();
    let key_file = consortium.dir.path().join("bank-1.audit.key");
    std::fs::write(&key_file, hex::encode(auditor_key.seed())).unwrap();
    consortium.pass_proposal(GovernanceAction::RegisterOperator(OperatorRecord {
        id: OperatorId::new(AUDITOR).unwrap(),
        person: PersonId::new("auditor-1").unwrap(),
        member: MemberId::new("bank-1").unwrap(),
        roles: vec![Role::Auditor],
        key: auditor_key.public_key(),
        key_expires_at_ms: now_ms() + 30 * DAY_MS,
    }));

    // Two anchors of validator-0 on chain.
    let deadline = Instant::now() + Duration::from_secs(180);
    while anchors_listed(&consortium, 1, 0).len() < 2 {
        assert!(Instant::now() < deadline, "validator-0 did not anchor twice\n{}", consortium.logs());
        let height = consortium.height(1);
        consortium.drive_to(1, height + 5);
    }
    assert_eq!(consortium.metric(0, "covenant_audit_log_verified"), Some(1.0), "the node verified its own log");
    let status = consortium.status(0).expect("node 0 answers /v1/status");
    assert_eq!(status["audit_log"]["status"], "verified", "{status}");

    // Untouched: verifies remotely against bank-1's, bank-2's and bank-3's blocks.
    let untouched = verify_remotely(&consortium, &key_file, 0, &[1, 2, 3], &[]);
    assert_eq!(untouched.code, 0, "{}", untouched.text());
    assert!(untouched.text().contains("anchors on chain agree"), "{}", untouched.text());
    let json = verify_remotely(&consortium, &key_file, 0, &[1, 2, 3], &["--json"]);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("one JSON object");
    assert_eq!((report["ok"].as_bool(), report["form"].as_str()), (Some(true), Some("remote")), "{report}");
    assert!(report["anchors"].as_u64() >= Some(2) && report["anchors_seals_checked"] == report["anchors"], "{report}");
    // Peers of one member only, or the audited node's own member, vouch for nothing.
    let one_member = verify_remotely(&consortium, &key_file, 0, &[1], &[]);
    assert_eq!(one_member.code, 2, "{}", one_member.text());
    assert!(one_member.text().contains("at least 2 members"), "{}", one_member.text());
    let own_member = verify_remotely(&consortium, &key_file, 1, &[1, 2, 3], &[]);
    assert_eq!(own_member.code, 2, "{}", own_member.text());
    assert!(own_member.text().contains("the audited node's own member"), "{}", own_member.text());

    // validator-0's operator rewrites the log from the newest anchored entry on, and the anchor
    // records to match.
    consortium.stop_node(0, Duration::from_secs(20));
    let db = consortium.config(0).data_dir.join("db");
    let records = {
        let backend = covenant_storage::RocksBackend::open(&db).unwrap();
        anchor_records(&backend, &node0)
    };
    let (last_anchored, last_record) = records.last().cloned().expect("anchor records");
    let rewrite = rewrite_tail_and_anchor_records(&db, &node0, last_anchored);
    assert_eq!(
        rewrite.anchors_rewritten.iter().map(|(sequence, _, _)| *sequence).collect::<Vec<_>>(),
        vec![last_anchored],
        "only the newest anchor record covers the rewritten tail"
    );

    // (a) The local form reads the anchor from the block and catches it.
    let local = verify_locally(&consortium, &consortium.config_file(0));
    assert_eq!(local.code, 1, "{}", local.text());
    let expected = format!("anchor of entry {last_anchored} in block {}", last_record.height);
    assert!(local.text().contains(&expected) && local.text().contains("rewritten"), "{}", local.text());
    // What it cannot catch: the records pointing at the later anchor blocks deleted as well. The
    // older anchors still hold, so the local form passes; only other members' copies tell.
    let (copy_db, copy_config) = copy_of_node0(&consortium, "records-deleted");
    assert_eq!(delete_anchor_records_from(&copy_db, &node0, last_anchored), 1);
    let blind = verify_locally(&consortium, &copy_config);
    assert_eq!(blind.code, 0, "{}", blind.text());

    // (b) Restarted, the node finds it at start-up and never anchors the rewritten log.
    let restarted_at = consortium.height(1);
    consortium.start_node(0);
    consortium.wait_until("validator-0 to report its log tampered", || {
        consortium.metric(0, "covenant_audit_verification_failures_total") == Some(1.0)
    });
    assert_eq!(consortium.metric(0, "covenant_audit_log_verified"), Some(0.0));
    let status = consortium.status(0).expect("node 0 answers /v1/status");
    assert_eq!(status["audit_log"]["status"], "failed", "{status}");
    assert!(status["audit_log"]["first_bad_entry"].is_u64(), "{status}");
    let log = consortium.log(0);
    assert!(log.contains("audit log failed verification") && log.contains(&expected), "{log}");
    let anchors_of_1 = anchors_listed(&consortium, 2, 1).len();
    let height = consortium.height(1);
    consortium.drive_to(1, height + 25);
    consortium.wait_for_height(&[0], height + 25, Duration::from_secs(60));
    let after_restart: Vec<(u64, u64)> =
        anchors_listed(&consortium, 2, 0).into_iter().filter(|(_, height)| *height > restarted_at).collect();
    assert_eq!(after_restart, vec![], "validator-0 anchored nothing after the rewrite");
    assert!(anchors_listed(&consortium, 2, 1).len() > anchors_of_1, "the other validators kept anchoring");
    assert!(consortium.metric(0, "covenant_audit_anchors_refused_total") >= Some(2.0));
    assert!(consortium.log(0).contains("not anchoring the audit log"), "{}", consortium.log(0));

    // (c) The auditor, against the other members' blocks: exit 1, naming the anchored entry.
    let tampered = verify_remotely(&consortium, &key_file, 0, &[1, 2, 3], &[]);
    assert_eq!(tampered.code, 1, "{}", tampered.text());
    assert!(tampered.text().contains("TAMPERED"), "{}", tampered.text());
    assert!(
        tampered.text().contains(&expected)
            && tampered.text().contains(&format!("rewritten at or before entry {last_anchored}")),
        "{}",
        tampered.text()
    );
    // An untouched node verifies remotely, vouched for by the other members.
    let other = verify_remotely(&consortium, &key_file, 2, &[1, 3], &[]);
    assert_eq!(other.code, 0, "{}", other.text());
}

// covers: COV-33-AUDIT-TRAIL
#[test]
fn a_log_no_anchor_covers_yet_is_unverified_and_fails_unless_accepted() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    // An idle chain commits a block every 5 s: validator-3 stops long before the first anchor (10).
    consortium.stop_node(3, Duration::from_secs(20));
    let config = consortium.config_file(3).display().to_string();
    let height = covenant_storage::ChainStore::latest(&consortium.open_store(3)).unwrap().map_or(0, |tip| tip.height);
    assert!(height < 10, "validator-3 reached height {height}: an anchor may exist");

    let strict = consortium.covenant(&["audit", "verify", "--config", &config], Duration::from_secs(60));
    assert_eq!(strict.code, 1, "{}", strict.text());
    assert!(strict.text().contains("UNVERIFIED: no anchor of validator-3"), "{}", strict.text());
    let accepted = consortium
        .covenant(&["audit", "verify", "--config", &config, "--accept-unanchored", "--json"], Duration::from_secs(60));
    assert_eq!(accepted.code, 0, "{}", accepted.text());
    let report: serde_json::Value = serde_json::from_str(&accepted.stdout).expect("one JSON object");
    assert_eq!(
        (report["ok"].as_bool(), report["verified"].as_bool(), report["unanchored"].as_bool()),
        (Some(true), Some(false), Some(true)),
        "{report}"
    );
}
