//! Shared helpers for end-to-end tests: a local consortium of real `covenant node` processes, on
//! 127.0.0.1 or each on a host of its own ([`hosts`]), started from the `covenant` binary built by the
//! workspace; and, for the fault suite, a Jepsen-style [`workload`] and [`checker`].

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use covenant_client::Client;
use covenant_node::config::NodeConfig;
use covenant_storage::RocksStore;

pub mod attacker;
pub mod audit_edit;
pub mod checker;
pub mod delay_proxy;
pub mod hosts;
pub mod monitor;
pub mod scenarios;
pub mod workload;

/// Environment variable naming another `covenant` binary to run instead of the workspace's own
/// (e.g. one built from an older commit, to show that a test fails on it).
pub const BINARY_ENV: &str = "COVENANT_E2E_BINARY";

/// The `covenant` binary next to the running test's own build output, or the one named by
/// [`BINARY_ENV`].
pub fn covenant_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let binary = PathBuf::from(path);
        assert!(binary.exists(), "{BINARY_ENV}={} does not exist", binary.display());
        return binary;
    }
    // A test binary runs from the profile's `deps/`, a binary target (the fault suite) from the profile.
    let exe = std::env::current_exe().expect("test binary path");
    let beside = exe.parent().expect("the binary's directory");
    let dir = if beside.ends_with("deps") { beside.parent().expect("target profile directory") } else { beside };
    let binary = dir.join("covenant");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace --all-targets`",
        binary.display()
    );
    binary
}

/// Ports each consortium may use above its bases (validators, joiners, spares).
const PORT_BLOCK: u16 = 20;
/// Blocks in each range: peer-to-peer ports from 10,000, API ports from 17,500, operations ports
/// [`OPS_PORT_OFFSET`] above the API's, all below Linux's ephemeral ports (32,768 and up) so that no
/// outgoing connection holds a port a node will bind.
const PORT_BLOCKS: u32 = 360;
/// How far above its API port a node's operations listener is, on 127.0.0.1.
pub const OPS_PORT_OFFSET: u16 = 7_500;

/// Fresh (peer-to-peer, API) port bases for one consortium: a different block on every call in this
/// process (tests of one file run in parallel in one process) and, by the process id, unlikely to
/// collide with another test process.
pub fn port_bases() -> (u16, u16) {
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let block = (std::process::id().wrapping_mul(16).wrapping_add(call) % PORT_BLOCKS) as u16;
    (10_000 + block * PORT_BLOCK, 17_500 + block * PORT_BLOCK)
}

/// Milliseconds since the Unix epoch on this (the test's) clock.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as u64
}

/// `text` without ANSI escape sequences (`ESC [ ... letter`), which colour the node's text logs.
pub fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for end in chars.by_ref() {
                if end.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// What a `covenant` command printed and how it ended.
#[derive(Debug)]
pub struct CommandRun {
    /// Exit code (-1 when a signal ended it).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandRun {
    /// Both streams with the exit code, for failure messages.
    pub fn text(&self) -> String {
        format!("exit code {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs the `covenant` binary with `args`; kills it and returns `Err` with what it printed so far
/// after `timeout`.
pub fn run_covenant(args: &[&str], timeout: Duration) -> Result<CommandRun, String> {
    let mut child = Command::new(covenant_binary())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("covenant {args:?} does not start: {error}"))?;
    // Read both pipes while it runs: a command that prints more than a pipe holds would block.
    let drain = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|error| error.to_string())? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = CommandRun {
        code: status.and_then(|status| status.code()).unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    match status {
        Some(_) => Ok(run),
        None => Err(format!("covenant {args:?} did not finish within {timeout:?}\n{}", run.text())),
    }
}

/// How a node process is started: extra environment variables (e.g. `LD_PRELOAD` of libfaketime), or
/// another program in place of `covenant node` (the Byzantine test build).
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Environment variables set for the process.
    pub env: Vec<(OsString, OsString)>,
    /// Program and arguments before `--config FILE`; `None`: `covenant node`.
    pub program: Option<(PathBuf, Vec<String>)>,
}

impl Launch {
    /// The Byzantine validator (`covenant-byzantine node --attacks ATTACKS`, ADR 0015) instead of
    /// `covenant node`.
    pub fn byzantine(attacks: &str) -> Launch {
        let binary = covenant_binary().with_file_name("covenant-byzantine");
        assert!(binary.exists(), "{} is missing: build the workspace with --all-targets", binary.display());
        Launch { program: Some((binary, vec!["node".into(), "--attacks".into(), attacks.into()])), ..Launch::default() }
    }

    /// The test build that kills itself with SIGKILL at a crash point of the node's write path
    /// (`covenant-byzantine node --attacks none --crash-at POINT:N`), attacking nobody.
    pub fn crash_at(point: &str, hit: u64) -> Launch {
        let mut launch = Launch::byzantine("none");
        if let Some((_, args)) = &mut launch.program {
            args.extend(["--crash-at".to_string(), format!("{point}:{hit}")]);
        }
        launch
    }

    /// Adds an argument of the test build's program (after those of [`Launch::byzantine`]).
    pub fn arg(mut self, arg: impl Into<String>) -> Launch {
        let (_, args) = self.program.as_mut().expect("arguments are for the test build's program");
        args.push(arg.into());
        self
    }

    /// Adds an environment variable.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Launch {
        self.env.push((name.into(), value.into()));
        self
    }
}

/// A local consortium of node processes.
pub struct Consortium {
    /// Where configs, keys, data and logs live.
    pub dir: tempfile::TempDir,
    /// Node processes, `None` while stopped.
    pub nodes: Vec<Option<Child>>,
    /// API clients, one per node.
    pub apis: Vec<Client>,
    /// The (peer-to-peer, API) port bases: node `i` listens on base + `i` (on 127.0.0.1), or at the
    /// bases on its own host.
    pub ports: (u16, u16),
    /// The hosts when each node runs on its own ([`Consortium::init_on_hosts`]): node `i` on host `i`.
    /// Dropped after the nodes are killed.
    pub hosts: Option<hosts::Hosts>,
}

impl Consortium {
    /// Writes a consortium of `validators` with `covenant init` and starts every node.
    pub fn start(validators: usize) -> Consortium {
        let mut consortium = Consortium::init(validators);
        for index in 0..validators {
            consortium.start_node(index);
        }
        consortium
    }

    /// Writes a consortium of `validators` with `covenant init` without starting any node.
    pub fn init(validators: usize) -> Consortium {
        Consortium::init_with(validators, &[], 0)
    }

    /// Writes a consortium of `validators`, each on a host of its own (a network namespace, see
    /// [`hosts::Hosts`]: node `i` on host `i`, labelled `n<i>`), plus `clients` client hosts (`c<i>`,
    /// hosts `validators + i`), and `bench_senders` funded sender operators for a workload. The calling
    /// thread moves into the observer host, from where it reaches every node's API.
    pub fn init_on_hosts(validators: usize, clients: usize, bench_senders: usize) -> Consortium {
        let labels: Vec<String> =
            (0..validators).map(|i| format!("n{i}")).chain((0..clients).map(|i| format!("c{i}"))).collect();
        let hosts = hosts::Hosts::create(&labels.iter().map(String::as_str).collect::<Vec<_>>());
        hosts.enter_observer();
        let addresses: Vec<std::net::Ipv4Addr> = (0..validators).map(|i| hosts.host(i).address).collect();
        let mut consortium = Consortium::init_with(validators, &addresses, bench_senders);
        consortium.hosts = Some(hosts);
        consortium
    }

    fn init_with(validators: usize, hosts: &[std::net::Ipv4Addr], bench_senders: usize) -> Consortium {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = if hosts.is_empty() { port_bases() } else { (7100, 7200) };
        let (p2p, api) = ports;
        let mut init = Command::new(covenant_binary());
        init.args(["init", "--validators", &validators.to_string(), "--dir"])
            .arg(dir.path())
            .args(["--p2p-port-base", &p2p.to_string(), "--api-port-base", &api.to_string()])
            .args(["--bench-senders", &bench_senders.to_string()]);
        let ops = if hosts.is_empty() { api + OPS_PORT_OFFSET } else { 9200 };
        init.args(["--ops-port-base", &ops.to_string()]);
        if !hosts.is_empty() {
            let list: Vec<String> = hosts.iter().map(ToString::to_string).collect();
            init.args(["--hosts", &list.join(",")]);
        }
        // The list of files it wrote would only clutter the test output; errors go to stderr.
        let status = init.stdout(Stdio::null()).status().expect("covenant init runs");
        assert!(status.success(), "covenant init failed");
        let apis = (0..validators)
            .map(|i| {
                let address = match hosts.get(i) {
                    Some(host) => SocketAddr::new((*host).into(), api),
                    None => SocketAddr::from(([127, 0, 0, 1], api + i as u16)),
                };
                Client::new(address).with_timeout(Duration::from_secs(5))
            })
            .collect();
        Consortium { dir, nodes: (0..validators).map(|_| None).collect(), apis, ports, hosts: None }
    }

    /// Makes room for one more node (index = the current count), whose config the caller writes to
    /// [`Consortium::config_file`]; its API is on the next port of the consortium's API range.
    pub fn add_node_slot(&mut self) -> usize {
        assert!(self.hosts.is_none(), "extra node slots are on 127.0.0.1 only");
        let index = self.nodes.len();
        let (_, api) = self.ports;
        self.apis.push(
            Client::new(SocketAddr::from(([127, 0, 0, 1], api + index as u16))).with_timeout(Duration::from_secs(5)),
        );
        self.nodes.push(None);
        index
    }

    /// Starts (or restarts) node `index`.
    pub fn start_node(&mut self, index: usize) {
        self.start_node_with(index, &Launch::default());
    }

    /// Starts (or restarts) node `index` with `launch`'s extra environment.
    pub fn start_node_with(&mut self, index: usize, launch: &Launch) {
        assert!(self.nodes[index].is_none(), "node {index} is already running");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_file(index)).expect("log file");
        // `ip netns exec` executes the node in place: the child's pid is the node's.
        let (program, args) = launch.program.clone().unwrap_or_else(|| (covenant_binary(), vec!["node".into()]));
        let mut command = match &self.hosts {
            Some(hosts) => hosts.command(index, program),
            None => Command::new(program),
        };
        let child = command
            .args(args)
            .arg("--config")
            .arg(self.config_file(index))
            .envs(launch.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("node {index} does not start: {error}"));
        self.nodes[index] = Some(child);
    }

    /// Kills node `index` with SIGKILL and waits until it is gone.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops node `index` with SIGTERM (a clean shutdown) and waits for it to exit; panics with the
    /// logs if it does not exit within `timeout` (it is then killed) or exits with a failure.
    pub fn stop_node(&mut self, index: usize, timeout: Duration) {
        let Some(mut child) = self.nodes[index].take() else { return };
        // `kill` fails harmlessly when the process is already gone.
        let _ = Command::new("kill").args(["-TERM", "--", &child.id().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + timeout;
        let mut status = None;
        while status.is_none() && Instant::now() < deadline {
            status = child.try_wait().ok().flatten();
            std::thread::sleep(Duration::from_millis(50));
        }
        if status.is_none() {
            self.nodes[index] = Some(child);
            self.kill_node(index);
            panic!("node {index} did not stop within {timeout:?} of SIGTERM\n{}", self.logs());
        }
        if let Some(status) = status
            && !status.success()
        {
            panic!("node {index} stopped with {status} after SIGTERM\n{}", self.logs());
        }
    }

    /// Runs the `covenant` binary with `args`; panics with the nodes' logs after `timeout`.
    pub fn covenant(&self, args: &[&str], timeout: Duration) -> CommandRun {
        run_covenant(args, timeout).unwrap_or_else(|error| panic!("{error}\n{}", self.logs()))
    }

    /// Waits up to `timeout` for node `index`'s process to exit on its own and returns how it
    /// exited; `None` if it still runs (it is left running) or was not started.
    pub fn wait_exit(&mut self, index: usize, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.nodes[index].as_mut()?;
            if let Ok(Some(status)) = child.try_wait() {
                self.nodes[index] = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether node `index` has a process that has not exited.
    pub fn is_running(&mut self, index: usize) -> bool {
        match &mut self.nodes[index] {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// `GET /v1/status` of node `index`, `None` if it does not answer.
    pub fn status(&self, index: usize) -> Option<serde_json::Value> {
        self.apis[index].get("/v1/status").ok().filter(|r| r.is_success()).map(|r| r.body)
    }

    /// Last committed height of node `index` (0 if it does not answer).
    pub fn height(&self, index: usize) -> u64 {
        self.status(index).and_then(|status| status["height"].as_u64()).unwrap_or(0)
    }

    /// `GET /v1/blocks/{height}` of node `index`: `None` if the node does not have that block or
    /// does not answer.
    pub fn block(&self, index: usize, height: u64) -> Option<serde_json::Value> {
        self.apis[index].get(&format!("/v1/blocks/{height}")).ok().filter(|r| r.is_success()).map(|r| r.body)
    }

    /// The hash of node `index`'s block at `height`, if it has one.
    pub fn block_hash(&self, index: usize, height: u64) -> Option<String> {
        self.block(index, height).and_then(|block| block["hash"].as_str().map(str::to_string))
    }

    /// Waits until every running node in `which` reached `height`; panics with the logs after `timeout`.
    pub fn wait_for_height(&self, which: &[usize], height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if which.iter().all(|index| self.height(*index) >= height) {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let heights: Vec<u64> = which.iter().map(|index| self.height(*index)).collect();
        panic!(
            "nodes {which:?} did not reach height {height} within {timeout:?} (heights {heights:?})\n{}",
            self.logs()
        );
    }

    /// Checks that the nodes in `which` hold the same block hash at every height from 1 up to the
    /// lowest of their heights; returns that height. Panics naming the first disagreement.
    pub fn assert_same_chain(&self, which: &[usize]) -> u64 {
        let common = which.iter().map(|index| self.height(*index)).min().unwrap_or(0);
        for height in 1..=common {
            let hashes: Vec<Option<String>> = which.iter().map(|index| self.block_hash(*index, height)).collect();
            assert!(
                hashes[0].is_some() && hashes.iter().all(|hash| *hash == hashes[0]),
                "nodes {which:?} disagree at height {height}: {hashes:?}\n{}",
                self.logs()
            );
        }
        common
    }

    /// The path of node `index`'s log file (stdout and stderr of every run, appended).
    pub fn log_file(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{index}.log"))
    }

    /// Node `index`'s whole log, without terminal colour codes.
    pub fn log(&self, index: usize) -> String {
        strip_ansi(&std::fs::read_to_string(self.log_file(index)).unwrap_or_default())
    }

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for index in 0..self.nodes.len() {
            let log = self.log(index);
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text += &format!("--- validator-{index} ---\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        text
    }

    /// Path of a key file written by `covenant init`.
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.dir.path().join("keys").join(format!("{name}.key"))
    }

    /// Path of node `index`'s config file.
    pub fn config_file(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{index}.toml"))
    }

    /// Node `index`'s validated config (paths resolved).
    pub fn config(&self, index: usize) -> NodeConfig {
        NodeConfig::load(&self.config_file(index)).unwrap_or_else(|errors| panic!("config of node {index}: {errors}"))
    }

    /// The genesis of the consortium.
    pub fn genesis(&self) -> covenant_rules::Genesis {
        covenant_node::node::load_genesis(&self.config(0)).expect("genesis loads")
    }

    /// Opens node `index`'s store (as the node does), which RocksDB allows only while the node is
    /// stopped: panics if it is running.
    pub fn open_store(&mut self, index: usize) -> RocksStore {
        assert!(!self.is_running(index), "node {index} must be stopped before its store is opened");
        let data_dir = self.config(index).data_dir;
        RocksStore::open(data_dir.join("db"))
            .unwrap_or_else(|error| panic!("opening the store of node {index} in {}: {error}", data_dir.display()))
    }
}

/// Process, keys and metrics of the nodes, for tests that watch or impersonate them.
impl Consortium {
    /// Sets chain parameters (`name = value` in genesis.toml's `[parameters]`), replacing the values
    /// `covenant init` wrote. Only before the first node starts: the genesis hash covers them.
    pub fn set_genesis_parameters(&self, values: &[(&str, u64)]) {
        assert!(self.nodes.iter().all(Option::is_none), "genesis parameters change only before any node started");
        let path = self.dir.path().join("genesis.toml");
        let text = std::fs::read_to_string(&path).expect("genesis.toml");
        let mut lines: Vec<String> = Vec::new();
        let mut in_parameters = false;
        for line in text.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('[') {
                in_parameters = trimmed == "[parameters]";
                lines.push(line.to_string());
                if in_parameters {
                    lines.extend(values.iter().map(|(name, value)| format!("{name} = {value}")));
                }
                continue;
            }
            let key = trimmed.split('=').next().unwrap_or_default().trim();
            if in_parameters && values.iter().any(|(name, _)| *name == key) {
                continue;
            }
            lines.push(line.to_string());
        }
        assert!(text.lines().any(|line| line.trim() == "[parameters]"), "genesis.toml has no [parameters] table");
        std::fs::write(&path, lines.join("\n") + "\n").expect("genesis.toml written");
    }

    /// The process id of node `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].as_ref().map(Child::id)
    }

    /// Resident memory of node `index`'s process in bytes (`VmRSS` of `/proc/<pid>/status`), if it runs.
    pub fn rss_bytes(&self, index: usize) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(index)?)).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// A client of node `index`'s operations listener (`ops_addr` in its config), if it has one.
    pub fn ops(&self, index: usize) -> Option<Client> {
        let address: SocketAddr = self.config(index).ops_addr?.to_string().parse().ok()?;
        Some(Client::new(address).with_timeout(Duration::from_secs(5)))
    }

    /// Node `index`'s Prometheus metrics (`GET /metrics` on its operations listener), if it answers.
    pub fn metrics(&self, index: usize) -> Option<String> {
        let response = self.ops(index)?.get("/metrics").ok().filter(|response| response.is_success())?;
        response.body.as_str().map(str::to_string)
    }

    /// The value of one sample of node `index`'s metrics, named with its labels as rendered
    /// (`covenant_gossip_messages_total{verdict="rejected"}`); `None` if the node does not answer or
    /// has no such sample.
    pub fn metric(&self, index: usize, sample: &str) -> Option<f64> {
        let text = self.metrics(index)?;
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(sample)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Node `index`'s network key (test consortia keep plaintext keys).
    pub fn network_key(&self, index: usize) -> covenant_types::SecretKey {
        let path = self.config(index).network_key_file;
        covenant_node::keyfile::read_plaintext_key(&path)
            .unwrap_or_else(|error| panic!("network key of node {index}: {error}"))
            .key
    }

    /// Node `index`'s consensus key.
    pub fn consensus_key(&self, index: usize) -> covenant_types::SecretKey {
        let path = self.config(index).consensus_key_file;
        covenant_node::keyfile::read_plaintext_key(&path)
            .unwrap_or_else(|error| panic!("consensus key of node {index}: {error}"))
            .key
    }

    /// Node `index`'s libp2p peer id (from its network key).
    pub fn peer_id(&self, index: usize) -> covenant_network::PeerId {
        covenant_network::peer_id_of(&self.network_key(index).public_key()).expect("a valid network key")
    }

    /// Node `index`'s p2p listen address as a socket address.
    pub fn p2p_socket(&self, index: usize) -> SocketAddr {
        let config = self.config(index);
        let covenant_node::config::Host::Ip(ip) = config.listen_addr.host else {
            panic!("node {index} listens on a name: {}", config.listen_addr)
        };
        SocketAddr::new(ip, config.listen_addr.port)
    }

    /// Node `index`'s p2p address with its peer id, as a bootstrap list names it.
    pub fn p2p_address(&self, index: usize) -> covenant_network::Multiaddr {
        covenant_network::with_peer_id(&covenant_network::tcp_multiaddr(self.p2p_socket(index)), self.peer_id(index))
    }

    /// The last `lines` lines of node `index`'s log.
    pub fn log_tail(&self, index: usize, lines: usize) -> String {
        let log = self.log(index);
        let tail: Vec<&str> = log.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

/// The chain id `covenant init` writes.
pub const LOCAL_CHAIN: &str = "covenant-local";
/// How long a governance step may take to show on chain.
pub const GOVERNANCE_TIMEOUT: Duration = Duration::from_secs(60);

/// Signing and governance through the API, as the members' operators do it.
impl Consortium {
    /// The secret key of operator `name` written by `covenant init` (or a test) into keys/.
    pub fn operator_key(&self, name: &str) -> covenant_types::SecretKey {
        let text = std::fs::read_to_string(self.key_file(name)).unwrap_or_else(|error| panic!("key {name}: {error}"));
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).unwrap_or_else(|error| panic!("key {name}: {error}"));
        covenant_types::SecretKey::from_seed(&seed)
    }

    /// Signs `payload` as `operator` (at its next nonce) and submits it through node `via`; returns the
    /// transaction hash. Panics with the node's answer if it is refused.
    pub fn send_tx(&self, via: usize, operator: &str, payload: covenant_types::Payload) -> covenant_types::Hash {
        self.send_tx_with(via, operator, &self.operator_key(operator), payload)
    }

    /// [`Consortium::send_tx`] with an explicit key.
    pub fn send_tx_with(
        &self,
        via: usize,
        operator: &str,
        key: &covenant_types::SecretKey,
        payload: covenant_types::Payload,
    ) -> covenant_types::Hash {
        let api = &self.apis[via];
        let nonce = api.get(&format!("/v1/operators/{operator}/nonce")).expect("nonce query").body["next_nonce"]
            .as_u64()
            .expect("next_nonce");
        let tx = covenant_client::operator_tx(
            &covenant_types::ChainId::new(LOCAL_CHAIN).expect("chain id"),
            &covenant_types::OperatorId::new(operator).expect("operator id"),
            key,
            nonce,
            now_ms(),
            payload,
        );
        let response = api.submit(&tx).expect("submit");
        assert!(response.is_success(), "{operator} refused: {:?}", response.body);
        covenant_types::Hash::from_hex(response.body["hash"].as_str().expect("hash")).expect("hash")
    }

    /// Commits bank-0.ops's transfers (one every 250 ms, at the nonce node `via` reports) through node
    /// `via` until it passed `height`; panics with the logs after 120 s.
    pub fn drive_to(&self, via: usize, height: u64) {
        let key = self.operator_key("bank-0.ops");
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.height(via) < height {
            assert!(Instant::now() < deadline, "chain did not reach {height}\n{}", self.logs());
            let nonce = self.apis[via]
                .get("/v1/operators/bank-0.ops/nonce")
                .ok()
                .and_then(|answer| answer.body["next_nonce"].as_u64());
            if let Some(nonce) = nonce {
                let tx = covenant_client::transfer(
                    &covenant_types::ChainId::new(LOCAL_CHAIN).expect("chain id"),
                    &covenant_types::OperatorId::new("bank-0.ops").expect("operator id"),
                    &key,
                    nonce,
                    now_ms(),
                    covenant_types::AccountId::new("bank-0/treasury").expect("account"),
                    covenant_types::AccountId::new("bank-1/treasury").expect("account"),
                    covenant_types::AssetId::new("twd").expect("asset"),
                    1,
                );
                let _ = self.apis[via].submit(&tx);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until `done` holds, panicking with the logs after [`GOVERNANCE_TIMEOUT`].
    pub fn wait_until(&self, what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + GOVERNANCE_TIMEOUT;
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until transaction `hash` is committed on node 0.
    pub fn wait_committed(&self, hash: &covenant_types::Hash) {
        self.wait_until(&format!("transaction {hash} to commit"), || {
            self.apis[0].get(&format!("/v1/txs/{hash}")).is_ok_and(|response| response.body["status"] == "committed")
        });
    }

    /// A proposal's status on node 0 (`open`, `executed`, ...), if it is on chain.
    pub fn proposal_status(&self, id: &covenant_types::Hash) -> Option<String> {
        let response = self.apis[0].get(&format!("/v1/proposals/{id}")).ok()?;
        response.body["status"].as_str().map(str::to_string)
    }

    /// Passes a governance action the way the local consortium's thresholds allow: bank-0's admin
    /// proposes, bank-1's and bank-2's admins approve (three members, two persons besides the
    /// proposer). Waits until it executed.
    pub fn pass_proposal(&self, action: covenant_types::GovernanceAction) {
        let described = format!("{action:?}");
        let proposal =
            covenant_types::Proposal { action, reason: "test".into(), expires_at_ms: now_ms() + 24 * 3_600_000 };
        let id = self.send_tx(0, "bank-0.admin", covenant_types::Payload::GovernancePropose(Box::new(proposal)));
        self.wait_until("the proposal to be on chain", || self.proposal_status(&id).is_some());
        self.send_tx(1, "bank-1.admin", covenant_types::Payload::GovernanceApprove(id));
        self.wait_until("the first approval", || {
            self.apis[0]
                .get(&format!("/v1/proposals/{id}"))
                .ok()
                .and_then(|response| response.body["approvals"].as_array().map(Vec::len))
                == Some(1)
        });
        self.send_tx(2, "bank-2.admin", covenant_types::Payload::GovernanceApprove(id));
        self.wait_until(&format!("{described} to execute"), || {
            self.proposal_status(&id).as_deref() == Some("executed")
        });
    }
}

/// The names of the packages in `package`'s normal dependency tree (`cargo tree -e normal`), itself
/// included.
pub fn dependency_names(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = Command::new(cargo)
        .args(["tree", "--offline", "--manifest-path", workspace, "-p", package, "-e", "normal", "--prefix", "none"])
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

/// Where Debian's `faketime` package puts the preload library (`/usr/lib/<multiarch>/faketime/`).
pub fn find_libfaketime() -> Option<PathBuf> {
    let lib = Path::new("/usr/lib");
    let mut candidates = vec![lib.join("faketime/libfaketime.so.1")];
    if let Ok(entries) = std::fs::read_dir(lib) {
        candidates.extend(entries.flatten().map(|entry| entry.path().join("faketime/libfaketime.so.1")));
    }
    candidates.into_iter().find(|candidate| candidate.is_file())
}

/// Faults of a node's host: a frozen process, a clock that jumps, a disk that fills.
impl Consortium {
    /// Freezes node `index` (SIGSTOP), as a long GC pause or a VM migration does.
    pub fn pause_node(&self, index: usize) {
        self.signal(index, nix::sys::signal::Signal::SIGSTOP);
    }

    /// Lets a paused node `index` go on (SIGCONT).
    pub fn resume_node(&self, index: usize) {
        self.signal(index, nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, index: usize, signal: nix::sys::signal::Signal) {
        let pid = self.pid(index).unwrap_or_else(|| panic!("node {index} is not running"));
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid fits i32"));
        nix::sys::signal::kill(pid, signal).unwrap_or_else(|error| panic!("{signal} to node {index}: {error}"));
    }

    /// A launch whose wall clock is offset by what [`Consortium::step_clock`] last wrote for node
    /// `index` (libfaketime, re-reading its offset file every second; the monotonic clock, which timers
    /// run on, is left alone). Starts at no offset.
    pub fn steppable_clock(&self, index: usize) -> Launch {
        let library = find_libfaketime().unwrap_or_else(|| {
            panic!("libfaketime is not installed: run scripts/prereqs.sh (Debian package faketime)")
        });
        self.step_clock(index, 0);
        Launch::default()
            .env("LD_PRELOAD", library)
            .env("FAKETIME_TIMESTAMP_FILE", self.clock_file(index))
            .env("FAKETIME_CACHE_DURATION", "1")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    }

    /// Sets node `index`'s wall clock `offset_s` seconds from the real one (a node started with
    /// [`Consortium::steppable_clock`] follows within about a second).
    pub fn step_clock(&self, index: usize, offset_s: i64) {
        std::fs::write(self.clock_file(index), format!("{offset_s:+}s\n")).expect("clock offset file");
    }

    fn clock_file(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{index}.clock"))
    }

    /// Puts node `index`'s data directory on a tmpfs of `bytes` (before the node first starts), so
    /// that its disk can fill.
    pub fn small_data_disk(&self, index: usize, bytes: u64) {
        let data_dir = self.config(index).data_dir;
        std::fs::create_dir_all(&data_dir).expect("data dir");
        hosts::run("mount", &["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs", &data_dir.to_string_lossy()])
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Grows (or shrinks) the tmpfs of [`Consortium::small_data_disk`] to `bytes`, keeping its files.
    pub fn resize_data_disk(&self, index: usize, bytes: u64) {
        let data_dir = self.config(index).data_dir;
        hosts::run("mount", &["-o", &format!("remount,size={bytes}"), &data_dir.to_string_lossy()])
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// Puts node `index`'s data dir on an ext4 file system of its own (a loop device over a sparse
    /// image of `bytes` in the consortium's directory), so that [`Consortium::cut_power`] can lose
    /// what the node wrote but did not sync. Only while the node is stopped.
    pub fn power_cuttable_data_disk(&self, index: usize, bytes: u64) {
        let data_dir = self.config(index).data_dir;
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let image = self.data_disk_image(index);
        std::fs::File::create(&image).and_then(|file| file.set_len(bytes)).expect("disk image");
        let image = image.to_string_lossy();
        hosts::run("mkfs.ext4", &["-q", "-F", &image]).unwrap_or_else(|error| panic!("{error}"));
        hosts::run("mount", &["-o", "loop", &image, &data_dir.to_string_lossy()])
            .unwrap_or_else(|error| panic!("{error}"));
    }

    /// A power cut under node `index` (its data dir on [`Consortium::power_cuttable_data_disk`]): the
    /// node is killed with SIGKILL, its file system shut down without flushing anything
    /// (`FS_IOC_SHUTDOWN` with `NOLOGFLUSH`, as fstests simulate a crash), so every write the node did
    /// not sync is lost, and mounted again (the journal replays what was synced).
    pub fn cut_power(&mut self, index: usize) {
        self.kill_node(index);
        let data_dir = self.config(index).data_dir;
        let data_dir = data_dir.to_string_lossy();
        hosts::run("xfs_io", &["-x", "-c", "shutdown", &data_dir]).unwrap_or_else(|error| panic!("{error}"));
        hosts::run("umount", &[&data_dir]).unwrap_or_else(|error| panic!("{error}"));
        let image = self.data_disk_image(index);
        hosts::run("mount", &["-o", "loop", &image.to_string_lossy(), &data_dir])
            .unwrap_or_else(|error| panic!("{error}"));
    }

    fn data_disk_image(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("validator-{index}.ext4"))
    }

    /// Bytes free on node `index`'s data disk.
    pub fn data_disk_free(&self, index: usize) -> u64 {
        let stat = nix::sys::statvfs::statvfs(&self.config(index).data_dir).expect("statvfs of the data dir");
        stat.blocks_available() as u64 * stat.fragment_size() as u64
    }
}

impl Drop for Consortium {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill_node(index);
            // A data dir on a disk of its own (small_data_disk, power_cuttable_data_disk) is unmounted
            // (a loop device is released with it); elsewhere this fails harmlessly.
            let data_dir = self.dir.path().join("data").join(format!("validator-{index}"));
            let _ = hosts::run("umount", &[&data_dir.to_string_lossy()]);
        }
    }
}
