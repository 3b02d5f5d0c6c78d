//! `covenant testnet`: a whole consortium on one machine. Writes it with `covenant init` on first use
//! (reused afterwards; `--reset` starts over), starts one `covenant node` child process per validator
//! on 127.0.0.1, waits for blocks, submits demo transfers, and shows a live status line. Ctrl-C (or
//! `--duration`) stops every node cleanly.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use covenant_client::{Client, transfer};
use covenant_types::{AccountId, AssetId, ChainId, OperatorId, SecretKey};

use crate::commands::init::{self, InitOptions, OPS_PORT_OFFSET};
use crate::keyfile::read_plaintext_key;
use crate::runtime::chain::now_ms;

/// Options of `covenant testnet`.
#[derive(Clone, Debug)]
pub struct TestnetOptions {
    /// Validators to run.
    pub validators: usize,
    /// Where the consortium lives (configs, keys, data, logs).
    pub data_dir: PathBuf,
    /// Node i serves its API on 127.0.0.1:(api_port_base + i).
    pub api_port_base: u16,
    /// Node i listens for peers on 127.0.0.1:(p2p_port_base + i).
    pub p2p_port_base: u16,
    /// Delete any existing consortium in `data_dir` first.
    pub reset: bool,
    /// Demo transfers per second (0: none).
    pub demo_rate: u32,
    /// Stop after this long (None: until Ctrl-C).
    pub duration: Option<Duration>,
}

const CHAIN_ID: &str = "covenant-testnet";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a node's exit waits for a Ctrl-C that may have caused it to be noticed.
const SIGNAL_GRACE: Duration = Duration::from_millis(300);

struct Nodes {
    children: Vec<Child>,
}

impl Nodes {
    /// The first node that has exited, with its status.
    fn exited(&mut self) -> Result<Option<(usize, std::process::ExitStatus)>> {
        for (index, child) in self.children.iter_mut().enumerate() {
            if let Some(status) = child.try_wait()? {
                return Ok(Some((index, status)));
            }
        }
        Ok(None)
    }

    fn stop(&mut self) {
        let mut children = std::mem::take(&mut self.children);
        for child in &mut children {
            // SIGTERM lets the node shut down cleanly.
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).stderr(Stdio::null()).status();
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        for child in &mut children {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the testnet until Ctrl-C or the duration ends.
pub fn run(options: &TestnetOptions, out: &mut impl Write) -> Result<()> {
    let dir = &options.data_dir;
    if options.reset && dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let existing = count_validators(dir);
    match existing {
        Some(count) if count != options.validators => bail!(
            "{} holds a consortium of {count} validators; run with --validators {count}, or add --reset to start over",
            dir.display()
        ),
        Some(_) => writeln!(out, "reusing the consortium in {} (add --reset to start over)", dir.display())?,
        None => {
            init::run(&InitOptions {
                dir: dir.clone(),
                validators: options.validators,
                chain_id: CHAIN_ID.into(),
                p2p_port_base: options.p2p_port_base,
                api_port_base: options.api_port_base,
                ops_port_base: options.api_port_base.saturating_add(OPS_PORT_OFFSET),
                hosts: Vec::new(),
                genesis_time_ms: now_ms(),
            })?;
            writeln!(out, "wrote a {}-validator consortium to {}", options.validators, dir.display())?;
        }
    }
    std::fs::create_dir_all(dir.join("logs"))?;
    let exe = std::env::current_exe().context("locating the covenant binary")?;
    let mut nodes = Nodes { children: Vec::new() };
    for index in 0..options.validators {
        let log_path = dir.join("logs").join(format!("{}.log", init::node_id(index)));
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path)?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(dir.join(format!("{}.toml", init::node_id(index))))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {index}"))?;
        nodes.children.push(child);
    }
    writeln!(out, "started {} nodes; logs in {}", options.validators, dir.join("logs").display())?;
    let last = options.validators.saturating_sub(1) as u16;
    let ops_base = options.api_port_base.saturating_add(OPS_PORT_OFFSET);
    writeln!(
        out,
        "client APIs on 127.0.0.1:{}-{}; metrics, readiness and backups on 127.0.0.1:{}-{}",
        options.api_port_base,
        options.api_port_base.saturating_add(last),
        ops_base,
        ops_base.saturating_add(last)
    )?;

    let stop = Arc::new(AtomicBool::new(false));
    install_stop_flag(stop.clone())?;

    let apis: Vec<Client> = (0..options.validators)
        .map(|index| Client::new(SocketAddr::from(([127, 0, 0, 1], options.api_port_base + index as u16))))
        .collect();
    wait_for_first_block(&apis, &mut nodes, &stop)?;
    if !stop.load(Ordering::SeqCst) {
        writeln!(out, "consortium is producing blocks")?;
    }

    let mut demo = Demo::new(dir, options.validators)?;
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_committed = 0u64;
    let mut sent_this_second = 0u32;
    let mut second_started = Instant::now();
    while !stop.load(Ordering::SeqCst) && options.duration.is_none_or(|duration| started.elapsed() < duration) {
        if let Some((index, status)) = nodes.exited()? {
            // A Ctrl-C in the terminal reaches the nodes too; they may exit before the flag is seen.
            std::thread::sleep(SIGNAL_GRACE);
            if stop.load(Ordering::SeqCst) {
                break;
            }
            bail!("node {index} exited ({status}); see {}", dir.join("logs").display());
        }
        if second_started.elapsed() >= Duration::from_secs(1) {
            second_started = Instant::now();
            sent_this_second = 0;
        }
        if sent_this_second < options.demo_rate {
            demo.send_one(&apis)?;
            sent_this_second += 1;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            let status = apis[0].get("/v1/status").ok().map(|response| response.body);
            if let Some(status) = status {
                let committed = status["committed_txs"].as_u64().unwrap_or(0);
                let rate = (committed.saturating_sub(last_committed)) as f64 / last_report.elapsed().as_secs_f64();
                last_committed = committed;
                write!(
                    out,
                    "\rheight {:>6}  tx/s {:>7.0}  peers {}/{}  sent {:>7}  rejected {:>4}   ",
                    status["height"],
                    rate,
                    status["peers"],
                    options.validators - 1,
                    demo.sent,
                    demo.rejected
                )?;
                out.flush()?;
            }
            last_report = Instant::now();
        }
    }
    writeln!(out, "\nstopping the nodes")?;
    nodes.stop();
    writeln!(out, "stopped; data kept in {}", dir.display())?;
    Ok(())
}

/// Sets `stop` on SIGINT or SIGTERM (the nodes, in the same process group, get Ctrl-C too and stop
/// by themselves; `Nodes::stop` sends SIGTERM to any still running).
fn install_stop_flag(stop: Arc<AtomicBool>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            stop.store(true, Ordering::SeqCst);
        });
    });
    Ok(())
}

fn count_validators(dir: &Path) -> Option<usize> {
    if !dir.join("genesis.toml").exists() {
        return None;
    }
    Some((0..).take_while(|index| dir.join(format!("{}.toml", init::node_id(*index))).exists()).count())
}

fn wait_for_first_block(apis: &[Client], nodes: &mut Nodes, stop: &AtomicBool) -> Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        if let Some((index, status)) = nodes.exited()? {
            std::thread::sleep(SIGNAL_GRACE);
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            bail!("node {index} exited during start-up ({status}); see its log");
        }
        let heights: Vec<u64> = apis
            .iter()
            .map(|api| api.get("/v1/status").ok().and_then(|response| response.body["height"].as_u64()).unwrap_or(0))
            .collect();
        if heights.iter().all(|height| *height >= 1) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("no block within {} s; see the node logs", STARTUP_TIMEOUT.as_secs())
}

/// Demo load: each member's submitter moves small amounts from its treasury to the next member's.
struct Demo {
    chain: ChainId,
    senders: Vec<(OperatorId, SecretKey, AccountId, AccountId, Option<u64>)>,
    next: usize,
    sent: u64,
    rejected: u64,
}

impl Demo {
    fn new(dir: &Path, validators: usize) -> Result<Demo> {
        let mut senders = Vec::new();
        for index in 0..validators {
            let operator = OperatorId::new(init::submitter_id(index))?;
            let key = read_plaintext_key(&init::key_path(dir, operator.as_str()))?.key;
            let from = AccountId::new(init::treasury_account(index))?;
            let to = AccountId::new(init::treasury_account((index + 1) % validators))?;
            senders.push((operator, key, from, to, None));
        }
        Ok(Demo { chain: ChainId::new(CHAIN_ID)?, senders, next: 0, sent: 0, rejected: 0 })
    }

    fn send_one(&mut self, apis: &[Client]) -> Result<()> {
        let index = self.next % self.senders.len();
        self.next += 1;
        let api = &apis[index % apis.len()];
        let (operator, key, from, to, nonce) = &mut self.senders[index];
        let current = match nonce {
            Some(nonce) => *nonce,
            None => {
                let next = api.get(&format!("/v1/operators/{operator}/nonce")).ok();
                match next.and_then(|response| response.body["next_nonce"].as_u64()) {
                    Some(next) => next,
                    None => {
                        self.rejected += 1;
                        return Ok(());
                    }
                }
            }
        };
        let tx = transfer(
            &self.chain,
            operator,
            key,
            current,
            now_ms(),
            from.clone(),
            to.clone(),
            AssetId::new(init::DEMO_ASSET)?,
            1,
        );
        // A node that does not answer (restarting, overloaded) costs one demo transfer, not the testnet.
        let accepted = api.submit(&tx).is_ok_and(|response| response.is_success());
        if accepted {
            *nonce = Some(current + 1);
            self.sent += 1;
        } else {
            // Re-read the nonce next time (a restart or a refused transaction).
            *nonce = None;
            self.rejected += 1;
        }
        Ok(())
    }
}
