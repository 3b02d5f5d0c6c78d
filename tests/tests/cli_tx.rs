//! End to end: `covenant tx` and `covenant query` as an operator runs them against a real 4-validator
//! consortium. A transfer submitted with `--wait` commits and moves the balance `covenant query` shows; a
//! data record commits through another node; a transfer with a wrong nonce is refused with exit code 1 and
//! the rule that refused it.

use std::path::Path;
use std::time::Duration;

use covenant_tests::Consortium;

fn balance(consortium: &Consortium, api: &str, account: &str) -> u64 {
    let run = consortium.covenant(&["query", "balance", account, "twd", "--api", api], Duration::from_secs(30));
    assert_eq!(run.code, 0, "query balance failed: {}{}", run.stdout, run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).expect("query prints JSON");
    answer["balance"].as_u64().unwrap_or_else(|| panic!("no balance in {answer}"))
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

#[test]
fn cli_transfer_waits_for_commit_and_wrong_nonce_is_refused() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(90));
    let api_base = consortium.ports.1;
    let node0 = format!("http://127.0.0.1:{api_base}");
    let node1 = format!("127.0.0.1:{}", api_base + 1);
    let key0 = consortium.key_file("bank-0.ops");
    let key1 = consortium.key_file("bank-1.ops");
    let transfer = |key: &str, extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "tx",
            "transfer",
            "--key",
            key,
            "--operator",
            "bank-0.ops",
            "--from",
            "bank-0/treasury",
            "--to",
            "bank-1/treasury",
            "--asset",
            "twd",
            "--amount",
            "25",
            "--memo",
            "cli e2e",
            "--api",
            &node0,
        ]
        .iter()
        .map(|arg| arg.to_string())
        .collect();
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    };

    // A transfer with --wait commits; the balance moves by its amount.
    let before = balance(&consortium, &node0, "bank-1/treasury");
    let args = transfer(path(&key0), &["--wait", "--wait-timeout", "60"]);
    let run = consortium.covenant(&as_strs(&args), Duration::from_secs(90));
    assert_eq!(run.code, 0, "transfer failed:\n{}{}\n{}", run.stdout, run.stderr, consortium.logs());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", run.stdout);
    let hash = lines[0];
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{}", run.stdout);
    assert!(lines[1].starts_with("committed at height "), "{}", run.stdout);
    assert_eq!(balance(&consortium, &node0, "bank-1/treasury"), before + 25);

    let run = consortium.covenant(&["query", "tx", hash, "--api", &node0], Duration::from_secs(30));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["status"], "committed", "{answer}");
    assert_eq!(answer["tx"]["body"]["payload"]["Transfer"]["memo"], "cli e2e", "{answer}");

    // A data record through another node, from another operator.
    let run = consortium.covenant(
        &[
            "tx",
            "data",
            "--key",
            path(&key1),
            "--operator",
            "bank-1.ops",
            "--schema",
            "demo.v1",
            "--text",
            r#"{"note":"hello from the CLI"}"#,
            "--api",
            &node1,
            "--wait",
            "--wait-timeout",
            "60",
        ],
        Duration::from_secs(90),
    );
    assert_eq!(run.code, 0, "data record failed:\n{}{}\n{}", run.stdout, run.stderr, consortium.logs());
    assert!(run.stdout.contains("committed at height "), "{}", run.stdout);

    // A wrong nonce is refused at submission, naming the rule; nothing changes.
    let args = transfer(path(&key0), &["--nonce", "1000"]);
    let run = consortium.covenant(&as_strs(&args), Duration::from_secs(30));
    assert_eq!(run.code, 1, "wrong nonce must be refused:\n{}{}", run.stdout, run.stderr);
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(output.contains("refused by COV-34-ORDERED-NONCES (article 34)"), "{output}");
    assert_eq!(balance(&consortium, &node0, "bank-1/treasury"), before + 25);
}
