//! `covenant init`: writes a complete local consortium: genesis, one node config and key pair per
//! validator, and one admin and one submitter operator key per member. Keys are random and stored in
//! plaintext files (mode 0600): a local test chain only (`environment = "test"`), and each node config
//! says so explicitly with `allow_plaintext_keys = true` (article 41 refuses plaintext keys otherwise;
//! see `docs/keys.md` for encrypted key files).
//!
//! [`run_with`] can add extra submitter operators for `covenant bench` ([`InitExtras::bench_senders`]):
//! a single sender's pending transactions are bounded (`mempool_sender_txs_max`) and its nonces
//! serialize, so load is spread over many senders. Each is a distinct person (COV-10), belongs to a
//! member in turn, and debits its own funded account.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};

use covenant_types::SecretKey;

/// Local consortium layout parameters.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Directory to write into (created; must not already hold a genesis).
    pub dir: PathBuf,
    /// Number of validators, one member each (at least 2: COV-18 forbids a single member acting alone).
    pub validators: usize,
    /// Chain id.
    pub chain_id: String,
    /// Node i listens for peers on 127.0.0.1:(p2p_port_base + i), or on `hosts[i]:p2p_port_base`.
    pub p2p_port_base: u16,
    /// Node i serves its API on 127.0.0.1:(api_port_base + i), or on `hosts[i]:api_port_base`.
    pub api_port_base: u16,
    /// Node i serves its operations listener (metrics, health, admin) on 127.0.0.1:(ops_port_base +
    /// i), or on `hosts[i]:ops_port_base`.
    pub ops_port_base: u16,
    /// One IP address per validator when each runs on its own host (empty: all on 127.0.0.1, one port
    /// each). A node on a non-loopback address serves its API there too, with `api_public = true`.
    pub hosts: Vec<std::net::IpAddr>,
    /// Genesis time, ms since the Unix epoch (operator keys expire 90 days later).
    pub genesis_time_ms: u64,
}

/// What [`run_with`] adds to the consortium [`run`] writes. The default adds nothing.
#[derive(Clone, Debug, Default)]
pub struct InitExtras {
    /// Extra submitter operators for `covenant bench`, spread over the members (at most
    /// [`BENCH_SENDERS_MAX`]); each gets a key in `keys/` and an account funded with [`DEMO_BALANCE`].
    pub bench_senders: usize,
}

/// How far above a node's API port its operations listener is, where one command picks both
/// (`covenant testnet`: API 7200 + i, operations 9200 + i).
pub const OPS_PORT_OFFSET: u16 = 2_000;

/// Most bench senders one consortium gets.
pub const BENCH_SENDERS_MAX: usize = 4_096;

/// Names used in a generated consortium.
pub fn member_id(index: usize) -> String {
    format!("bank-{index}")
}

/// Node id of validator `index`.
pub fn node_id(index: usize) -> String {
    format!("validator-{index}")
}

/// Submitter operator of member `index` (sends the demo transfers).
pub fn submitter_id(index: usize) -> String {
    format!("bank-{index}.ops")
}

/// Treasury account of member `index`, funded in genesis.
pub fn treasury_account(index: usize) -> String {
    format!("bank-{index}/treasury")
}

/// Member index of bench sender `index` in a consortium of `validators` members.
pub fn bench_sender_member(index: usize, validators: usize) -> usize {
    index % validators.max(1)
}

/// Operator id of bench sender `index` in a consortium of `validators` members, e.g. `bank-1.bench-5`.
pub fn bench_sender_id(index: usize, validators: usize) -> String {
    format!("{}.bench-{index}", member_id(bench_sender_member(index, validators)))
}

/// The account bench sender `index` debits, e.g. `bank-1/bench-5`, funded in genesis.
pub fn bench_account(index: usize, validators: usize) -> String {
    format!("{}/bench-{index}", member_id(bench_sender_member(index, validators)))
}

/// Asset every treasury holds in genesis.
pub const DEMO_ASSET: &str = "twd";
/// Treasury balance in genesis.
pub const DEMO_BALANCE: u64 = 1_000_000_000_000;
/// Schema registered in genesis for demo data records.
pub const DEMO_SCHEMA: &str = "demo.v1";
/// Its definition (COV-32): one optional text field `note`, any classification, so a demo record is
/// `{"note":"..."}` or an encrypted customer-data envelope.
pub const DEMO_SCHEMA_DEFINITION: &str = r#"{"classifications":["public","internal","customer_data"],"fields":[{"name":"note","type":"string","max_len":4096}]}"#;
const DAY_MS: u64 = 24 * 3_600_000;

/// Path of the key file of `name` under `dir`.
pub fn key_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("keys").join(format!("{name}.key"))
}

fn write_key(dir: &Path, name: &str) -> Result<SecretKey> {
    write_key_file(&key_path(dir, name))
}

/// Writes a fresh random key to `path` (which must not exist) as a plaintext test key file, mode 0600.
pub fn write_key_file(path: &Path) -> Result<SecretKey> {
    let key = SecretKey::generate();
    crate::keyfile::write_plaintext_key(path, &key)?;
    Ok(key)
}

/// Writes the consortium; returns the node config paths, node 0 first.
pub fn run(options: &InitOptions) -> Result<Vec<PathBuf>> {
    run_with(options, &InitExtras::default())
}

/// Writes the consortium with `extras`; returns the node config paths, node 0 first.
pub fn run_with(options: &InitOptions, extras: &InitExtras) -> Result<Vec<PathBuf>> {
    ensure!(
        extras.bench_senders <= BENCH_SENDERS_MAX,
        "{} bench senders asked; at most {BENCH_SENDERS_MAX}",
        extras.bench_senders
    );
    ensure!(
        options.validators >= 2,
        "a consortium needs at least 2 members so that no single key can act alone (COV-18-NO-SUPERUSER, article 18)"
    );
    ensure!(options.validators <= 64, "at most 64 local validators");
    ensure!(
        options.hosts.is_empty() || options.hosts.len() == options.validators,
        "{} host addresses for {} validators: give one per validator",
        options.hosts.len(),
        options.validators
    );
    let dir = &options.dir;
    ensure!(!dir.join("genesis.toml").exists(), "{} already holds a consortium (genesis.toml exists)", dir.display());
    std::fs::create_dir_all(dir.join("keys")).with_context(|| format!("creating {}", dir.join("keys").display()))?;

    let key_expiry_ms = options.genesis_time_ms + 90 * DAY_MS;
    let mut genesis = String::new();
    writeln!(genesis, "# Local test consortium written by `covenant init`. TEST ONLY: plaintext keys.")?;
    writeln!(genesis, "chain_id = {:?}", options.chain_id)?;
    writeln!(genesis, "environment = \"test\"")?;
    writeln!(genesis, "genesis_time_ms = {}", options.genesis_time_ms)?;
    writeln!(genesis, "sanctioned_jurisdictions = [\"KP\", \"IR\", \"MM\"]\n")?;
    let mut nodes = String::new();
    for index in 0..options.validators {
        let member = member_id(index);
        writeln!(genesis, "[[members]]\nid = {member:?}\nname = \"Test Bank {index}\"\njurisdiction = \"TW\"\n")?;
        for (suffix, roles) in [("admin", "[\"admin\"]"), ("ops", "[\"submitter\"]")] {
            let operator = format!("{member}.{suffix}");
            let key = write_key(dir, &operator)?;
            writeln!(
                genesis,
                "[[operators]]\nid = {operator:?}\nperson = \"{suffix}-{index}\"\nmember = {member:?}\nroles = {roles}\npublic_key = \"{}\"\nkey_expires_at_ms = {key_expiry_ms}\n",
                key.public_key().to_hex()
            )?;
        }
        let node = node_id(index);
        let consensus = write_key(dir, &format!("{node}.consensus"))?;
        let network = write_key(dir, &format!("{node}.network"))?;
        writeln!(
            nodes,
            "[[nodes]]\nid = {node:?}\nmember = {member:?}\nrole = \"validator\"\nnetwork_key = \"{}\"\nconsensus_key = \"{}\"\n",
            network.public_key().to_hex(),
            consensus.public_key().to_hex()
        )?;
        writeln!(
            genesis,
            "[[accounts]]\nid = {:?}\nbalances = {{ {DEMO_ASSET} = {DEMO_BALANCE} }}\n",
            treasury_account(index)
        )?;
    }
    for index in 0..extras.bench_senders {
        let member = member_id(bench_sender_member(index, options.validators));
        let operator = bench_sender_id(index, options.validators);
        let key = write_key(dir, &operator)?;
        // A distinct person per sender: one person holds one account per member (COV-10).
        writeln!(
            genesis,
            "[[operators]]\nid = {operator:?}\nperson = \"bench-{index}\"\nmember = {member:?}\n\
             roles = [\"submitter\"]\npublic_key = \"{}\"\nkey_expires_at_ms = {key_expiry_ms}\n",
            key.public_key().to_hex()
        )?;
        writeln!(
            genesis,
            "[[accounts]]\nid = {:?}\nbalances = {{ {DEMO_ASSET} = {DEMO_BALANCE} }}\n",
            bench_account(index, options.validators)
        )?;
    }
    genesis.push_str(&nodes);
    writeln!(genesis, "[[schemas]]\nid = {DEMO_SCHEMA:?}\ndefinition = '{DEMO_SCHEMA_DEFINITION}'\n")?;
    writeln!(genesis, "[parameters]\nblock_interval_ms_min = 200\nblock_interval_ms_max = 5000\n")?;
    let members = options.validators.clamp(2, 3);
    writeln!(
        genesis,
        "[thresholds.membership]\nmembers_required = {members}\n[thresholds.operators]\nmembers_required = {members}\n\
         [thresholds.nodes]\nmembers_required = {members}\n[thresholds.parameters]\nmembers_required = {members}\n\
         [thresholds.contracts]\nmembers_required = {members}\n[thresholds.emergency]\nmembers_required = 2"
    )?;
    std::fs::write(dir.join("genesis.toml"), genesis).context("writing genesis.toml")?;

    let mut configs = Vec::new();
    for index in 0..options.validators {
        let node = node_id(index);
        let bootstrap: Vec<String> = (0..options.validators)
            .filter(|other| *other != index)
            .map(|other| format!("\"{}@{}\"", node_id(other), p2p_address(options, other)))
            .collect();
        let api = api_address(options, index);
        let api_public = if api.ip().is_loopback() { "" } else { "api_public = true\n" };
        let ops = address(options, index, options.ops_port_base);
        let ops_public = if ops.ip().is_loopback() { "" } else { "ops_public = true\n" };
        let token = crate::ops::OpsToken::generate().map_err(|error| anyhow::anyhow!(error))?;
        let token_file = dir.join("keys").join(format!("{node}.ops-token"));
        crate::keyfile::write_new_private_file(&token_file, format!("{token}\n").as_bytes())
            .with_context(|| format!("writing {}", token_file.display()))?;
        let config = format!(
            "# Node {index} of the local consortium (see genesis.toml). TEST ONLY.\n\
             node_id = {node:?}\n\
             data_dir = \"data/{node}\"\n\
             listen_addr = \"{}\"\n\
             api_addr = \"{api}\"\n\
             {api_public}\
             ops_addr = \"{ops}\"\n\
             {ops_public}\
             ops_token_file = \"keys/{node}.ops-token\"\n\
             genesis_file = \"genesis.toml\"\n\
             consensus_key_file = \"keys/{node}.consensus.key\"\n\
             network_key_file = \"keys/{node}.network.key\"\n\
             # Plaintext test keys: accepted only because this is a test chain (article 41).\n\
             allow_plaintext_keys = true\n\
             bootstrap_peers = [{}]\n\
             audit_retention_days = 365\n\n\
             [log]\nformat = \"text\"\nlevel = \"info\"\n",
            p2p_address(options, index),
            bootstrap.join(", ")
        );
        let path = dir.join(format!("{node}.toml"));
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        configs.push(path);
    }
    Ok(configs)
}

/// Where node `index` listens for peers: its own host at the base port, or loopback at base + index.
fn p2p_address(options: &InitOptions, index: usize) -> std::net::SocketAddr {
    address(options, index, options.p2p_port_base)
}

/// Where node `index` serves its API.
fn api_address(options: &InitOptions, index: usize) -> std::net::SocketAddr {
    address(options, index, options.api_port_base)
}

fn address(options: &InitOptions, index: usize, base: u16) -> std::net::SocketAddr {
    match options.hosts.get(index) {
        Some(host) => std::net::SocketAddr::new(*host, base),
        None => {
            std::net::SocketAddr::from(([127, 0, 0, 1], base.saturating_add(u16::try_from(index).unwrap_or(u16::MAX))))
        }
    }
}
