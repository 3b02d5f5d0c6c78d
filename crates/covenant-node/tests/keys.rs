//! Key protection (article 41, `COV-41-KEY-ROTATION`), run as an operator would: `covenant keygen
//! --encrypt`, `covenant key encrypt|show|backup|restore`, `covenant config check` and `covenant node`
//! with encrypted and plaintext key files.
//!
//! Every file here is sealed with the hidden `--kdf-cost test` option (Argon2id with 64 KiB and one pass),
//! so that a debug build runs the tests in seconds; production files use 64 MiB and three passes, and a
//! production node refuses test-strength files (checked below).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "correct horse battery staple";
const BACKUP_PASSPHRASE: &str = "a different backup passphrase";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `covenant` in `dir` with `env` set and both passphrase variables otherwise removed.
fn covenant_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_covenant"));
    command.args(args).current_dir(dir).env_remove("COVENANT_KEY_PASSPHRASE").env_remove("COVENANT_BACKUP_PASSPHRASE");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    Run {
        code: output.status.code().expect("exited normally"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

fn covenant(dir: &Path, args: &[&str]) -> Run {
    covenant_env(dir, args, &[])
}

/// Writes a passphrase file (mode 0600) named `name` in `dir`.
fn passphrase_file(dir: &Path, name: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{passphrase}\n")).unwrap();
    set_mode(&path, 0o600);
    path
}

fn set_mode(path: &Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `covenant keygen --encrypt` with the test KDF cost; returns the public key it printed.
fn keygen_encrypted(dir: &Path, out: &str, pass: &Path) -> String {
    let run = covenant(
        dir,
        &["keygen", "--out", out, "--encrypt", "--passphrase-file", pass.to_str().unwrap(), "--kdf-cost", "test"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let public_key = run.stdout.trim().to_string();
    assert_eq!(public_key.len(), 64, "{}", run.stdout);
    public_key
}

// covers: COV-41-KEY-ROTATION
#[test]
fn keys_encrypted_at_rest_round_trip_and_show_without_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", PASSPHRASE);
    let public_key = keygen_encrypted(dir.path(), "node.key", &pass);
    let key_file = dir.path().join("node.key");
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.contains("format = \"covenant-key-v1\"") && text.contains(&public_key), "{text}");
    assert!(text.contains("algorithm = \"argon2id\"") && text.contains("algorithm = \"xchacha20-poly1305\""));

    // `key show` needs no passphrase.
    let run = covenant(dir.path(), &["key", "show", "node.key"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("public key   {public_key}")), "{}", run.stdout);
    assert!(run.stdout.contains("covenant-key-v1, argon2id m=64 KiB t=1 p=1"), "{}", run.stdout);
    assert!(run.stdout.contains("TEST strength"), "{}", run.stdout);
    let run = covenant(dir.path(), &["key", "show", "node.key", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["public_key"], public_key.as_str());
    assert_eq!(json["format"], "covenant-key-v1");
    assert_eq!(json["kdf"]["production_strength"], false);

    // Decrypt and re-encrypt under a new passphrase: the same key comes out.
    let new_pass = passphrase_file(dir.path(), "new-pass", "another long passphrase");
    let run = covenant(
        dir.path(),
        &[
            "key",
            "encrypt",
            "node.key",
            "--out",
            "node-2.key",
            "--passphrase-file",
            "pass",
            "--new-passphrase-file",
            new_pass.to_str().unwrap(),
            "--kdf-cost",
            "test",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("public key {public_key}")), "{}", run.stdout);
    let run = covenant_env(
        dir.path(),
        &["key", "restore", "node-2.key", "--check", "--expect-public-key", &public_key],
        &[("COVENANT_BACKUP_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(run.code, 2, "the old passphrase must not open the new file");
    assert!(run.stderr.contains("wrong passphrase for key file node-2.key"), "{}", run.stderr);
    let run = covenant_env(
        dir.path(),
        &["key", "restore", "node-2.key", "--check", "--expect-public-key", &public_key],
        &[("COVENANT_BACKUP_PASSPHRASE", "another long passphrase")],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // A plaintext test key encrypted with `key encrypt`, passphrase from the environment.
    let run = covenant(dir.path(), &["keygen", "--out", "plain.key"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("PLAINTEXT key file, for local test chains only"), "{}", run.stderr);
    let plain_public_key = run.stdout.trim().to_string();
    let run = covenant_env(
        dir.path(),
        &["key", "encrypt", "plain.key", "--out", "plain.enc", "--kdf-cost", "test"],
        &[("COVENANT_KEY_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("still holds the key in plaintext"), "{}", run.stdout);
    let run = covenant(dir.path(), &["key", "show", "plain.enc"]);
    assert!(run.stdout.contains(&plain_public_key), "{}", run.stdout);
    let run = covenant(dir.path(), &["key", "show", "plain.key"]);
    assert!(run.stdout.contains("plaintext (test chains only)"), "{}", run.stdout);

    // Never over an existing file; short passphrases are refused for new files.
    let run = covenant(
        dir.path(),
        &["keygen", "--out", "node.key", "--encrypt", "--passphrase-file", "pass", "--kdf-cost", "test"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("already exists (key files are never overwritten)"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), text);
    let short = passphrase_file(dir.path(), "short", "hunter2");
    let run =
        covenant(dir.path(), &["keygen", "--out", "x.key", "--encrypt", "--passphrase-file", short.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is too short to protect a key"), "{}", run.stderr);
    assert!(!dir.path().join("x.key").exists());
    let run = covenant(dir.path(), &["keygen", "--out", "y.key", "--encrypt"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("a passphrase is needed: give it with --passphrase-file FILE"), "{}", run.stderr);
}

// covers: COV-41-KEY-ROTATION
#[test]
fn key_file_without_its_passphrase_or_with_a_wrong_one_cannot_be_used() {
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", PASSPHRASE);
    let public_key = keygen_encrypted(dir.path(), "op.key", &pass);
    let key = dir.path().join("op.key");
    let backup = ["key", "backup", "op.key", "--out", "op.backup", "--kdf-cost", "test"];
    let backup_env = [("COVENANT_BACKUP_PASSPHRASE", BACKUP_PASSPHRASE)];

    let run = covenant_env(dir.path(), &backup, &backup_env);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.trim(),
        "error: key file op.key is encrypted: give its passphrase with --passphrase-file FILE or the \
         COVENANT_KEY_PASSPHRASE environment variable"
    );
    let wrong = passphrase_file(dir.path(), "wrong", "not the passphrase at all");
    let run =
        covenant_env(dir.path(), &[&backup[..], &["--passphrase-file", wrong.to_str().unwrap()]].concat(), &backup_env);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("wrong passphrase for key file op.key"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(!dir.path().join("op.backup").exists());

    // An operator command (no passphrase option) names the environment variable.
    let run = covenant(
        dir.path(),
        &[
            "tx",
            "transfer",
            "--key",
            "op.key",
            "--operator",
            "bank-0.ops",
            "--from",
            "bank-0/treasury",
            "--to",
            "bank-1/treasury",
            "--asset",
            "twd",
            "--amount",
            "5",
            "--api",
            "127.0.0.1:9",
        ],
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "key file {} is encrypted: give its passphrase with the COVENANT_KEY_PASSPHRASE environment variable",
            key.file_name().unwrap().to_str().unwrap()
        )),
        "{}",
        run.stderr
    );

    // A damaged file: truncated, or an edited public key. Never a panic, always the file and the reason.
    let text = std::fs::read_to_string(&key).unwrap();
    std::fs::write(dir.path().join("cut.key"), &text[..text.len() - 40]).unwrap();
    let run = covenant_env(
        dir.path(),
        &["key", "backup", "cut.key", "--out", "cut.backup", "--passphrase-file", "pass", "--kdf-cost", "test"],
        &backup_env,
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("key file cut.key is damaged: "), "{}", run.stderr);
    let other = covenant(dir.path(), &["keygen", "--out", "other.key"]).stdout.trim().to_string();
    std::fs::write(dir.path().join("edited.key"), text.replace(&public_key, &other)).unwrap();
    let run = covenant(dir.path(), &["key", "show", "edited.key"]);
    assert_eq!(run.code, 0, "show trusts the clear public key: {}", run.stderr);
    let run = covenant_env(
        dir.path(),
        &["key", "backup", "edited.key", "--out", "e.backup", "--passphrase-file", "pass", "--kdf-cost", "test"],
        &backup_env,
    );
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("key file edited.key is damaged: the sealed seed belongs to public key"),
        "{}",
        run.stderr
    );
    std::fs::write(dir.path().join("garbage.key"), "format = \"covenant-key-v1\"\nnonsense").unwrap();
    let run = covenant(dir.path(), &["key", "show", "garbage.key"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("key file garbage.key is damaged: not valid TOML"), "{}", run.stderr);
}

// covers: COV-41-KEY-ROTATION
#[test]
fn key_backup_is_stored_apart_and_restore_checks_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", PASSPHRASE);
    let backup_pass = passphrase_file(dir.path(), "backup-pass", BACKUP_PASSPHRASE);
    let public_key = keygen_encrypted(dir.path(), "node.key", &pass);
    let pass = pass.to_str().unwrap();
    let backup_pass = backup_pass.to_str().unwrap();

    // The backup passphrase must differ from the key's.
    let run = covenant(
        dir.path(),
        &[
            "key",
            "backup",
            "node.key",
            "--out",
            "same.backup",
            "--passphrase-file",
            pass,
            "--backup-passphrase-file",
            pass,
        ],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the backup passphrase is the key file's passphrase"), "{}", run.stderr);

    let run = covenant(
        dir.path(),
        &[
            "key",
            "backup",
            "node.key",
            "--out",
            "node.backup",
            "--passphrase-file",
            pass,
            "--backup-passphrase-file",
            backup_pass,
            "--kdf-cost",
            "test",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("backed up key {public_key} to node.backup")), "{}", run.stdout);
    assert!(run.stdout.contains("covenant key restore node.backup --check --expect-public-key"), "{}", run.stdout);
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("node.backup")), 0o600);
    let run = covenant(dir.path(), &["key", "show", "node.backup"]);
    assert!(run.stdout.contains("purpose      backup") && run.stdout.contains(&public_key), "{}", run.stdout);
    // A backup is not a key: a node or a command refuses it until restored.
    let run = covenant(
        dir.path(),
        &["key", "encrypt", "node.backup", "--out", "x.key", "--passphrase-file", backup_pass, "--kdf-cost", "test"],
    );
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is a key backup"), "{}", run.stderr);

    // The periodic test of the backup: it opens and holds the expected key.
    let check = ["key", "restore", "node.backup", "--check", "--backup-passphrase-file", backup_pass];
    let run = covenant(dir.path(), &[&check[..], &["--expect-public-key", &public_key]].concat());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("ok: backup node.backup opens and holds the expected key {public_key}")));
    // Another expected key: a clear error, before any passphrase is used.
    let other = covenant(dir.path(), &["keygen", "--out", "other.key"]).stdout.trim().to_string();
    let run = covenant(dir.path(), &["key", "restore", "node.backup", "--check", "--expect-public-key", &other]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!(
            "backup node.backup holds public key {public_key}, not the expected {other}: it is not a backup of this key"
        )),
        "{}",
        run.stderr
    );
    let run = covenant(dir.path(), &[&check[..], &["--expect-public-key", "zz"]].concat());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--expect-public-key \"zz\""), "{}", run.stderr);
    let run = covenant(
        dir.path(),
        &[&check[..3], &["--expect-public-key", &public_key, "--backup-passphrase-file", pass]].concat(),
    );
    assert_eq!(run.code, 2, "restore with neither --out nor --check is a usage error: {}", run.stderr);

    // Restore after losing the key file: a new file, sealed under the key passphrase, same key.
    std::fs::remove_file(dir.path().join("node.key")).unwrap();
    let restore = [
        "key",
        "restore",
        "node.backup",
        "--out",
        "restored.key",
        "--expect-public-key",
        &public_key,
        "--backup-passphrase-file",
        backup_pass,
        "--passphrase-file",
        pass,
        "--kdf-cost",
        "test",
    ];
    let run = covenant(dir.path(), &restore);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(&format!("restored key {public_key} from node.backup to restored.key")));
    #[cfg(unix)]
    assert_eq!(mode(&dir.path().join("restored.key")), 0o600);
    let run = covenant(dir.path(), &["key", "show", "restored.key", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!((json["public_key"].as_str(), json["purpose"].as_str()), (Some(public_key.as_str()), Some("key")));
    let run = covenant(dir.path(), &restore);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    // The restored key opens with the key passphrase (a backup of it works), not with the backup's.
    let run = covenant_env(
        dir.path(),
        &["key", "backup", "restored.key", "--out", "again.backup", "--passphrase-file", backup_pass],
        &[("COVENANT_BACKUP_PASSPHRASE", "yet another passphrase")],
    );
    assert!(run.stderr.contains("wrong passphrase for key file restored.key"), "{}", run.stderr);
}

// ---- `covenant config check` and `covenant node` ----

/// Two free TCP ports on 127.0.0.1 (released just before use).
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

/// A local consortium written by `covenant init` (plaintext test keys, `allow_plaintext_keys = true`).
fn consortium() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (p2p, api) = free_ports();
    let run = covenant(
        dir.path(),
        &[
            "init",
            "--validators",
            "4",
            "--dir",
            "net",
            "--p2p-port-base",
            &p2p.to_string(),
            "--api-port-base",
            &api.to_string(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let net = dir.path().join("net");
    let config = std::fs::read_to_string(net.join("validator-0.toml")).unwrap();
    assert!(config.contains("\nallow_plaintext_keys = true\n"), "{config}");
    (dir, net)
}

/// Encrypts validator-0's two keys (test KDF cost) and points a copy of its config at them, without
/// `allow_plaintext_keys`. Returns the new config's file name.
fn encrypt_validator_0(net: &Path) -> &'static str {
    let pass = passphrase_file(net, "pass", PASSPHRASE);
    for kind in ["consensus", "network"] {
        let run = covenant(
            net,
            &[
                "key",
                "encrypt",
                &format!("keys/validator-0.{kind}.key"),
                "--out",
                &format!("keys/validator-0.{kind}.enc"),
                "--passphrase-file",
                pass.to_str().unwrap(),
                "--kdf-cost",
                "test",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let config = std::fs::read_to_string(net.join("validator-0.toml"))
        .unwrap()
        .replace(".consensus.key\"", ".consensus.enc\"")
        .replace(".network.key\"", ".network.enc\"")
        .replace("\nallow_plaintext_keys = true\n", "\n");
    std::fs::write(net.join("encrypted-0.toml"), config).unwrap();
    "encrypted-0.toml"
}

/// Starts `covenant node --config CONFIG` in `dir` and waits until its log shows `needle` (then kills
/// it and returns the log) or it exits (returns its exit code and log).
fn run_node_until(dir: &Path, config: &str, env: &[(&str, &str)], needle: &str) -> (Option<i32>, String) {
    run_node_with(dir, &["--config", config], env, needle)
}

/// [`run_node_until`] with the arguments of `covenant node` given.
fn run_node_with(dir: &Path, args: &[&str], env: &[(&str, &str)], needle: &str) -> (Option<i32>, String) {
    let config = args.iter().skip_while(|arg| **arg != "--config").nth(1).expect("a --config argument");
    let log_path = dir.join(format!("{config}.log"));
    let log = std::fs::File::create(&log_path).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_covenant"));
    command
        .arg("node")
        .args(args)
        .current_dir(dir)
        .env_remove("COVENANT_KEY_PASSPHRASE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let read_log = || {
        let mut text = String::new();
        std::fs::File::open(&log_path).unwrap().read_to_string(&mut text).unwrap();
        text
    };
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code(), read_log());
        }
        let text = read_log();
        if text.contains(needle) {
            child.kill().unwrap();
            child.wait().unwrap();
            return (None, text);
        }
        assert!(Instant::now() < deadline, "node did not log {needle:?} within 120 s:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// covers: COV-41-KEY-ROTATION
#[test]
fn node_starts_with_encrypted_keys_and_refuses_plaintext_without_the_flag() {
    let (_dir, net) = consortium();
    let config = encrypt_validator_0(&net);

    // config check: plaintext without the flag is refused; encrypted keys pass, the passphrase checked.
    let plaintext =
        std::fs::read_to_string(net.join("validator-0.toml")).unwrap().replace("\nallow_plaintext_keys = true\n", "\n");
    std::fs::write(net.join("plaintext-0.toml"), plaintext).unwrap();
    let run = covenant(&net, &["config", "check", "plaintext-0.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("plaintext-0.toml: consensus_key_file: key file ")
            && run.stdout.contains("is a plaintext key file, refused")
            && run.stdout.contains("covenant key encrypt")
            && run.stdout.contains("[COV-41-KEY-ROTATION, article 41]"),
        "{}",
        run.stdout
    );
    let run = covenant_env(&net, &["config", "check", config], &[("COVENANT_KEY_PASSPHRASE", PASSPHRASE)]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("key files: consensus encrypted (argon2id m=64 KiB t=1 p=1)"), "{}", run.stdout);
    let run = covenant_env(&net, &["config", "check", config], &[("COVENANT_KEY_PASSPHRASE", "wrong passphrase!!")]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("wrong passphrase for key file"), "{}", run.stdout);
    let run = covenant(&net, &["config", "check", config]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.contains("its passphrase was not checked"), "{}", run.stdout);

    // The node refuses plaintext keys without allow_plaintext_keys, and encrypted keys without a passphrase.
    let (code, log) = run_node_until(&net, "plaintext-0.toml", &[], "node started");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("is a plaintext key file, refused") && log.contains("article 41"), "{log}");
    let (code, log) = run_node_until(&net, config, &[], "node started");
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains(
            "is encrypted: give its passphrase with key_passphrase_file in the node config or the \
                      COVENANT_KEY_PASSPHRASE environment variable"
        ),
        "{log}"
    );
    let (code, log) =
        run_node_until(&net, config, &[("COVENANT_KEY_PASSPHRASE", "wrong passphrase!!")], "node started");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("wrong passphrase for key file"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // With the passphrase from the environment, the node gets past key loading and starts.
    let (code, log) = run_node_until(&net, config, &[("COVENANT_KEY_PASSPHRASE", PASSPHRASE)], "node started");
    assert_eq!(code, None, "{log}");
    assert!(log.contains("encrypted key file opened"), "{log}");
    assert!(!log.contains(PASSPHRASE), "the passphrase must never be logged:\n{log}");

    // And with key_passphrase_file in the config instead.
    let with_file = std::fs::read_to_string(net.join(config))
        .unwrap()
        .replace("\nbootstrap_peers", "\nkey_passphrase_file = \"pass\"\nbootstrap_peers");
    std::fs::write(net.join("with-file-0.toml"), with_file).unwrap();
    let (code, log) = run_node_until(&net, "with-file-0.toml", &[], "node started");
    assert_eq!(code, None, "{log}");
    // And with `covenant node --passphrase-file`, which overrides the config.
    let wrong = passphrase_file(&net, "wrong-pass", "wrong passphrase!!");
    let (code, log) = run_node_with(
        &net,
        &["--config", "with-file-0.toml", "--passphrase-file", wrong.to_str().unwrap()],
        &[],
        "node started",
    );
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("wrong passphrase for key file"), "{log}");
}

// covers: COV-41-KEY-ROTATION
#[test]
fn default_key_encryption_is_of_production_strength() {
    // One real Argon2id derivation with 64 MiB and three passes (a few seconds in a debug build).
    let dir = tempfile::tempdir().unwrap();
    let pass = passphrase_file(dir.path(), "pass", PASSPHRASE);
    let run = covenant(
        dir.path(),
        &["keygen", "--out", "prod.key", "--encrypt", "--passphrase-file", pass.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = covenant(dir.path(), &["key", "show", "prod.key", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["kdf"]["memory_kib"], 65_536);
    assert_eq!(json["kdf"]["iterations"], 3);
    assert_eq!(json["kdf"]["production_strength"], true);
    let run = covenant(dir.path(), &["key", "show", "prod.key"]);
    assert!(!run.stdout.contains("TEST strength"), "{}", run.stdout);
}

// covers: COV-41-KEY-ROTATION
#[test]
fn production_chain_refuses_plaintext_keys_the_flag_and_test_strength_encryption() {
    let (_dir, net) = consortium();
    let config = encrypt_validator_0(&net);
    let genesis = std::fs::read_to_string(net.join("genesis.toml")).unwrap();
    std::fs::write(net.join("genesis.toml"), genesis.replace("environment = \"test\"", "environment = \"production\""))
        .unwrap();

    let run = covenant_env(&net, &["config", "check", config], &[("COVENANT_KEY_PASSPHRASE", PASSPHRASE)]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stdout.contains("was encrypted with test-strength KDF parameters"), "{}", run.stdout);
    let run = covenant(&net, &["config", "check", "validator-0.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("validator-0.toml: allow_plaintext_keys: node config")
            && run.stdout.contains("refused on a production chain"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("is a plaintext key file, refused on a production chain"), "{}", run.stdout);

    let (code, log) = run_node_until(&net, config, &[("COVENANT_KEY_PASSPHRASE", PASSPHRASE)], "node started");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("test-strength KDF parameters") && log.contains("article 41"), "{log}");
    let (code, log) = run_node_until(&net, "validator-0.toml", &[], "node started");
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("allow_plaintext_keys = true is refused on a production chain"), "{log}");
}

// covers: COV-41-KEY-ROTATION
#[test]
fn plaintext_key_fixture_is_refused_by_config_check() {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let run = covenant(&workspace, &["config", "check", "node-config/bad-node-config-plaintext-keys.toml"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    for field in ["consensus_key_file", "network_key_file"] {
        let prefix = format!("error: node-config/bad-node-config-plaintext-keys.toml: {field}: key file ");
        let line = run.stdout.lines().map(str::trim).find(|line| line.starts_with(&prefix));
        let line = line.unwrap_or_else(|| panic!("no {prefix}... in\n{}", run.stdout));
        assert!(line.ends_with("[COV-41-KEY-ROTATION, article 41]"), "{line}");
        assert!(line.contains("allow_plaintext_keys = true"), "{line}");
    }
}
