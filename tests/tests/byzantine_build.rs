//! The malicious member of the fault suite (`covenant-byzantine`, ADR 0015) can never be part of a
//! production `covenant` binary: the node does not depend on it, the binaries carry none of its code,
//! and `covenant node` offers no attack option.

use std::path::Path;
use std::process::Command;

use covenant_tests::{covenant_binary, dependency_names};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

fn carries_marker(binary: &Path) -> bool {
    let bytes = std::fs::read(binary).unwrap_or_else(|error| panic!("reading {}: {error}", binary.display()));
    contains(&bytes, covenant_byzantine::MARKER.as_bytes())
}

#[test]
fn the_node_does_not_depend_on_the_byzantine_build() {
    let names = dependency_names("covenant-node");
    assert!(names.iter().any(|name| name == "covenant-node"), "cargo tree for covenant-node printed no tree");
    assert!(!names.iter().any(|name| name == "covenant-byzantine"), "covenant-node depends on covenant-byzantine");
    // Negative control: the Byzantine build's own tree has it.
    assert!(dependency_names("covenant-byzantine").iter().any(|name| name == "covenant-byzantine"));
}

#[test]
fn no_covenant_binary_carries_the_byzantine_code() {
    let debug = covenant_binary();
    // Negative control: the scan finds the marker where it is.
    let byzantine = debug.with_file_name("covenant-byzantine");
    assert!(carries_marker(&byzantine), "{} lacks its own marker: the scan is broken", byzantine.display());
    assert!(!carries_marker(&debug), "{} carries the Byzantine build's code", debug.display());
    // The release binary, where one was built in the same target directory.
    let release = debug.parent().and_then(Path::parent).map(|target| target.join("release/covenant"));
    if let Some(release) = release.filter(|path| path.exists()) {
        assert!(!carries_marker(&release), "{} carries the Byzantine build's code", release.display());
    }
}

#[test]
fn covenant_node_offers_no_attack_option() {
    let output = Command::new(covenant_binary()).args(["node", "--help"]).output().expect("covenant runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && help.contains("--config"), "{help}");
    assert!(!help.contains("--attacks"), "covenant node --help offers --attacks:\n{help}");
    let refused = Command::new(covenant_binary())
        .args(["node", "--config", "/nonexistent.toml", "--attacks", "all"])
        .output()
        .expect("covenant runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("unexpected argument '--attacks'"));
}
