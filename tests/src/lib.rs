//! Shared helpers for end-to-end tests: a local consortium of real `covenant node` processes on
//! 127.0.0.1, started from the `covenant` binary built by the workspace.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use covenant_client::Client;

/// The `covenant` binary next to the running test's own build output.
pub fn covenant_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target profile directory");
    let binary = dir.join("covenant");
    assert!(
        binary.exists(),
        "{} is missing: run the tests with `cargo test --workspace --all-targets`",
        binary.display()
    );
    binary
}

/// Port bases unlikely to collide between concurrent test runs.
pub fn port_bases() -> (u16, u16) {
    let offset = (std::process::id() % 500) as u16 * 20;
    (21_000 + offset, 31_000 + offset)
}

/// A local consortium of node processes.
pub struct Consortium {
    /// Where configs, keys, data and logs live.
    pub dir: tempfile::TempDir,
    /// Node processes, `None` while stopped.
    pub nodes: Vec<Option<Child>>,
    /// API clients, one per node.
    pub apis: Vec<Client>,
}

impl Consortium {
    /// Writes a consortium of `validators` with `covenant init` and starts every node.
    pub fn start(validators: usize) -> Consortium {
        let dir = tempfile::tempdir().expect("temp dir");
        let (p2p, api) = port_bases();
        let status = Command::new(covenant_binary())
            .args(["init", "--validators", &validators.to_string(), "--dir"])
            .arg(dir.path())
            .args(["--p2p-port-base", &p2p.to_string(), "--api-port-base", &api.to_string()])
            .status()
            .expect("covenant init runs");
        assert!(status.success(), "covenant init failed");
        let apis = (0..validators).map(|i| Client::new(SocketAddr::from(([127, 0, 0, 1], api + i as u16)))).collect();
        let mut consortium = Consortium { dir, nodes: (0..validators).map(|_| None).collect(), apis };
        for index in 0..validators {
            consortium.start_node(index);
        }
        consortium
    }

    /// Starts (or restarts) node `index`.
    pub fn start_node(&mut self, index: usize) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("validator-{index}.log")))
            .expect("log file");
        let child = Command::new(covenant_binary())
            .arg("node")
            .arg("--config")
            .arg(self.dir.path().join(format!("validator-{index}.toml")))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("node starts");
        self.nodes[index] = Some(child);
    }

    /// Kills node `index` with SIGKILL.
    pub fn kill_node(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Last committed height of node `index` (0 if it does not answer).
    pub fn height(&self, index: usize) -> u64 {
        self.apis[index].get("/v1/status").ok().and_then(|r| r.body["height"].as_u64()).unwrap_or(0)
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

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for index in 0..self.nodes.len() {
            let log =
                std::fs::read_to_string(self.dir.path().join(format!("validator-{index}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            text += &format!("--- validator-{index} ---\n{}\n", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        text
    }

    /// Path of a key file written by `covenant init`.
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.dir.path().join("keys").join(format!("{name}.key"))
    }
}

impl Drop for Consortium {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill_node(index);
        }
    }
}
