//! The pure crates (types, rules, consensus, execution, vm) must never depend on tokio, libp2p or
//! RocksDB: that is what keeps consensus and execution deterministic and simulable (DESIGN.md,
//! "Dependency direction"). This asks cargo for each crate's normal dependency tree.

use covenant_tests::dependency_names;

const PURE_CRATES: &[&str] =
    &["covenant-types", "covenant-rules", "covenant-consensus", "covenant-execution", "covenant-vm"];
const FORBIDDEN: &[&str] = &["tokio", "libp2p", "rocksdb", "librocksdb-sys", "mio"];

#[test]
fn pure_crates_do_not_depend_on_io_runtimes_or_storage() {
    for package in PURE_CRATES {
        let names = dependency_names(package);
        assert!(names.iter().any(|name| name == package), "cargo tree for {package} printed no tree");
        let bad: Vec<&String> = names.iter().filter(|name| FORBIDDEN.contains(&name.as_str())).collect();
        assert!(bad.is_empty(), "{package} depends on {bad:?}; pure crates must stay free of IO runtimes and storage");
    }
}

#[test]
fn the_check_detects_a_forbidden_dependency() {
    // Negative control: the storage crate does depend on RocksDB, and the check sees it.
    let names = dependency_names("covenant-storage");
    assert!(names.iter().any(|name| name == "rocksdb"), "expected rocksdb in covenant-storage's tree: {names:?}");
}

#[test]
fn the_node_core_has_no_network_or_async_runtime() {
    // The core reaches the store through `ChainStore` (so RocksDB is in its tree through
    // covenant-storage), but sockets, gossip and the event loop belong to the shell (ADR 0014).
    let names = dependency_names("covenant-core");
    assert!(names.iter().any(|name| name == "covenant-core"), "cargo tree for covenant-core printed no tree");
    let bad: Vec<&String> =
        names.iter().filter(|name| ["tokio", "libp2p", "mio", "axum"].contains(&name.as_str())).collect();
    assert!(bad.is_empty(), "covenant-core depends on {bad:?}; the node core must stay free of IO runtimes");
}
