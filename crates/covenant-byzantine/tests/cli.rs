//! The Byzantine build's command line: it names its attacks and refuses unknown ones. (Also makes
//! cargo build the binary with the tests, where the fault suite finds it.)

use std::process::Command;

fn byzantine() -> Command {
    Command::new(env!("CARGO_BIN_EXE_covenant-byzantine"))
}

#[test]
fn help_lists_every_attack() {
    let output = byzantine().args(["node", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for attack in covenant_byzantine::attacks::Attack::ALL {
        assert!(help.contains(attack.name()), "--help does not name {attack}: {help}");
    }
}

#[test]
fn an_unknown_attack_is_refused_by_name() {
    let output = byzantine()
        .args(["node", "--config", "/nonexistent.toml", "--attacks", "garbage,teleport"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown attack \"teleport\""), "{stderr}");
}

#[test]
fn attack_lists_parse() {
    use covenant_byzantine::attacks::{Attack, parse_attacks};
    assert_eq!(parse_attacks("all"), Ok(Attack::ALL.to_vec()));
    assert_eq!(parse_attacks("equivocation, garbage,garbage"), Ok(vec![Attack::Garbage, Attack::Equivocation]));
    assert!(parse_attacks("").is_err());
}
