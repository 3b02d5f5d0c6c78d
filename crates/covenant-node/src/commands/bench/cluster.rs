//! `--spawn N`: a local consortium written with `covenant init` (plus bench senders) and run as N
//! `covenant node` child processes of the same binary. The nodes are stopped with SIGTERM, then
//! SIGKILL after a timeout, whenever the [`Cluster`] is stopped or dropped: after the report, on an
//! error, or on Ctrl-C. A temporary directory is removed afterwards; a `--data-dir` is kept.
//!
//! A SIGKILL of the bench itself cannot be caught: its nodes then keep running (stop them with
//! `kill <pid>`; their ids are in the start-up line).

use std::io::{Read, Seek, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use covenant_client::Client;

use crate::commands::init::{self, InitExtras, InitOptions, OPS_PORT_OFFSET};
use crate::runtime::chain::now_ms;

/// Longest wait for every node to reach height 1.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(90);
/// Longest wait for the nodes to stop after SIGTERM before they are killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a node's log quoted when it exits early.
const LOG_TAIL_BYTES: u64 = 4 * 1024;

/// What to spawn.
pub struct SpawnOptions {
    /// Validators.
    pub validators: usize,
    /// Node i serves its API on 127.0.0.1:(api_port_base + i).
    pub api_port_base: u16,
    /// Node i listens for peers on 127.0.0.1:(p2p_port_base + i).
    pub p2p_port_base: u16,
    /// Where to write (kept); `None`: a temporary directory (removed).
    pub data_dir: Option<PathBuf>,
    /// Bench senders to register.
    pub senders: usize,
}

/// CPU time and peak memory of one node process.
#[derive(Clone, Debug)]
pub struct ProcSample {
    /// Node id, e.g. `validator-0`.
    pub node: String,
    /// Process id.
    pub pid: u32,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size (VmHWM), KiB.
    pub peak_rss_kib: u64,
}

/// Spawned nodes and their directory.
pub struct Cluster {
    dir: PathBuf,
    temporary: bool,
    children: Vec<(String, Child)>,
    apis: Vec<SocketAddr>,
    stopped: bool,
}

impl Cluster {
    /// Writes the consortium, starts the nodes and waits until every one has a block.
    pub fn spawn(options: &SpawnOptions, stop: &AtomicBool, progress: &mut impl Write) -> Result<Cluster> {
        check_ports_free(options)?;
        let (dir, temporary) = match &options.data_dir {
            Some(dir) => (dir.clone(), false),
            None => {
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|since| since.subsec_nanos())
                    .unwrap_or(0);
                let dir = std::env::temp_dir().join(format!("covenant-bench-{}-{nanos}", std::process::id()));
                std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                (dir, true)
            }
        };
        let apis = (0..options.validators)
            .map(|index| SocketAddr::from(([127, 0, 0, 1], port(options.api_port_base, index))))
            .collect();
        // From here on, dropping the cluster stops whatever was started and removes a temporary dir.
        let mut cluster = Cluster { dir, temporary, children: Vec::new(), apis, stopped: false };
        init::run_with(
            &InitOptions {
                dir: cluster.dir.clone(),
                validators: options.validators,
                chain_id: super::CHAIN_ID.into(),
                p2p_port_base: options.p2p_port_base,
                api_port_base: options.api_port_base,
                ops_port_base: options.api_port_base.saturating_add(OPS_PORT_OFFSET),
                hosts: Vec::new(),
                genesis_time_ms: now_ms(),
            },
            &InitExtras { bench_senders: options.senders },
        )?;
        let logs = cluster.dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let exe = std::env::current_exe().context("locating the covenant binary")?;
        for index in 0..options.validators {
            let node = init::node_id(index);
            let log = std::fs::File::create(logs.join(format!("{node}.log")))?;
            let child = Command::new(&exe)
                .arg("node")
                .arg("--config")
                .arg(cluster.dir.join(format!("{node}.toml")))
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {node}"))?;
            cluster.children.push((node, child));
        }
        let pids: Vec<String> = cluster.children.iter().map(|(_, child)| child.id().to_string()).collect();
        writeln!(
            progress,
            "started {} validators (pids {}) in {}",
            options.validators,
            pids.join(" "),
            cluster.dir.display()
        )?;
        cluster.wait_for_blocks(stop)?;
        writeln!(progress, "every validator has a block")?;
        Ok(cluster)
    }

    /// The consortium directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The nodes' API addresses, node 0 first.
    pub fn apis(&self) -> &[SocketAddr] {
        &self.apis
    }

    /// An error, quoting its log, if a node has exited.
    pub fn check_running(&mut self) -> Result<()> {
        for (node, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                let log = self.dir.join("logs").join(format!("{node}.log"));
                bail!("{node} exited ({status}); the end of its log:\n{}", log_tail(&log));
            }
        }
        Ok(())
    }

    fn wait_for_blocks(&mut self, stop: &AtomicBool) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let clients: Vec<Client> =
            self.apis.iter().map(|api| Client::new(*api).with_timeout(Duration::from_secs(2))).collect();
        while Instant::now() < deadline {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            self.check_running()?;
            let ready = clients.iter().all(|client| {
                client.get("/v1/status").ok().and_then(|answer| answer.body["height"].as_u64()).unwrap_or(0) >= 1
            });
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let log = self.dir.join("logs").join(format!("{}.log", init::node_id(0)));
        bail!(
            "the validators made no block within {} s; the end of validator-0's log:\n{}",
            STARTUP_TIMEOUT.as_secs(),
            log_tail(&log)
        )
    }

    /// CPU time and peak RSS of every node still running, from `/proc`.
    pub fn samples(&self) -> Vec<ProcSample> {
        self.children.iter().filter_map(|(node, child)| proc_sample(node, child.id())).collect()
    }

    /// Stops the nodes (SIGTERM, SIGKILL after a timeout) and removes a temporary directory; says
    /// what it did. Idempotent.
    pub fn stop(&mut self) -> String {
        if self.stopped {
            return String::new();
        }
        self.stopped = true;
        let mut children = std::mem::take(&mut self.children);
        for (_, child) in &mut children {
            if let Ok(None) = child.try_wait() {
                let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).stderr(Stdio::null()).status();
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut killed = Vec::new();
        for (node, child) in &mut children {
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                killed.push(node.clone());
            }
            let _ = child.wait();
        }
        let mut message = format!("stopped {} validators", children.len());
        if !killed.is_empty() {
            message.push_str(&format!(
                " ({} killed after {} s without stopping)",
                killed.join(", "),
                STOP_TIMEOUT.as_secs()
            ));
        }
        if self.temporary {
            match std::fs::remove_dir_all(&self.dir) {
                Ok(()) => message.push_str(&format!("; removed {}", self.dir.display())),
                Err(error) => message.push_str(&format!("; could not remove {}: {error}", self.dir.display())),
            }
        } else {
            message.push_str(&format!("; consortium and data kept in {}", self.dir.display()));
        }
        message
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let message = self.stop();
        if !message.is_empty() {
            eprintln!("{message}");
        }
    }
}

fn port(base: u16, index: usize) -> u16 {
    base.saturating_add(u16::try_from(index).unwrap_or(u16::MAX))
}

/// Refuses to start when a port the nodes need is taken (another bench or testnet, say).
fn check_ports_free(options: &SpawnOptions) -> Result<()> {
    for index in 0..options.validators {
        for (base, flag) in [(options.api_port_base, "--api-port-base"), (options.p2p_port_base, "--p2p-port-base")] {
            let port = port(base, index);
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                bail!("port {port} on 127.0.0.1 is in use (another bench or testnet?); choose another {flag}");
            }
        }
    }
    Ok(())
}

/// The last few KiB of a log file, without the colour escapes of the text log format.
fn log_tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(std::io::SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
        let mut bytes = Vec::new();
        file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => strip_escapes(&text),
        Err(error) => format!("({} unreadable: {error})", path.display()),
    }
}

fn strip_escapes(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
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

/// Reads `/proc/<pid>/stat` (utime, stime) and `/proc/<pid>/status` (VmHWM).
fn proc_sample(node: &str, pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    let peak_rss_kib = parse_vm_hwm_kib(&status).unwrap_or(0);
    let cpu = Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second() as f64);
    Some(ProcSample { node: node.to_string(), pid, cpu, peak_rss_kib })
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parse_vm_hwm_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel's USER_HZ, in which `/proc` counts CPU time (`getconf CLK_TCK`; 100 on Linux if
/// `getconf` is missing).
fn clock_ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .stderr(Stdio::null())
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|ticks| *ticks > 0)
            .unwrap_or(100)
    })
}

/// Sets `stop` on SIGINT or SIGTERM. In a terminal, Ctrl-C reaches the spawned nodes too (same
/// process group); [`Cluster::stop`] then finds them stopping or stopped.
pub fn install_stop_flag(stop: Arc<AtomicBool>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name("bench-signals".into()).spawn(move || {
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
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_and_peak_rss_are_read_from_proc_text() {
        let stat = "1234 (covenant (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_vm_hwm_kib("Name:\tcovenant\nVmHWM:\t  81234 kB\nVmRSS:\t 1 kB\n"), Some(81_234));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn own_process_can_be_sampled() {
        let sample = proc_sample("self", std::process::id()).expect("own /proc entry");
        assert!(sample.peak_rss_kib > 0);
    }
}
