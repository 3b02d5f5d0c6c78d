//! `covenant testnet` as a user runs it: it writes a consortium, starts the nodes, reports blocks,
//! stops everything cleanly on Ctrl-C (SIGINT), and a second run reuses the data and goes on from
//! the height the first one reached.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use covenant_client::Client;
use covenant_tests::{covenant_binary, port_bases};

const STARTUP: Duration = Duration::from_secs(90);
const STOP: Duration = Duration::from_secs(30);

/// Starts `covenant testnet` and returns the child with a channel of its output lines.
fn start_testnet(
    dir: &std::path::Path,
    (p2p, api): (u16, u16),
    extra: &[&str],
) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = Command::new(covenant_binary())
        .args(["testnet", "--validators", "4", "--data-dir"])
        .arg(dir)
        .args(["--api-port-base", &api.to_string(), "--p2p-port-base", &p2p.to_string(), "--demo-rate", "20"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("covenant testnet starts");
    let (sender, lines) = mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            // The status line is redrawn with '\r' and no newline: split on both, as they arrive.
            let mut stream = stream;
            let mut pending = String::new();
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = stream.read(&mut chunk) {
                pending.push_str(&String::from_utf8_lossy(&chunk[..read]));
                while let Some(end) = pending.find(['\r', '\n']) {
                    let line: String = pending.drain(..=end).collect();
                    let _ = sender.send(line.trim_end().to_string());
                }
                if pending.contains("height") {
                    let _ = sender.send(std::mem::take(&mut pending));
                }
            }
        });
    }
    (child, lines)
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, timeout: Duration, seen: &mut Vec<String>) {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no line containing {needle:?} within {timeout:?}; output:\n{}", seen.join("\n"));
}

/// Stops a testnet left running by a failed assertion, so that no nodes outlive the test.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").arg("-INT").arg(self.0.id().to_string()).status();
            let deadline = Instant::now() + STOP;
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
        }
    }
}

fn height_of(api: &Client) -> Option<u64> {
    api.get("/v1/status").ok().and_then(|response| response.body["height"].as_u64())
}

fn interrupt_and_wait(child: &mut std::process::Child, seen: &[String]) {
    let status = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + STOP;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "testnet exited with {status} after Ctrl-C; output:\n{}", seen.join("\n"));
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("testnet did not stop within {STOP:?} of Ctrl-C; output:\n{}", seen.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn testnet_starts_stops_on_ctrl_c_and_reuses_its_data() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("net");
    let ports = port_bases();
    let (_, api_base) = ports;
    let api = Client::new(SocketAddr::from(([127, 0, 0, 1], api_base)));

    let (child, lines) = start_testnet(&data, ports, &[]);
    let mut child = Running(child);
    let mut seen = Vec::new();
    wait_for_line(&lines, "wrote a 4-validator consortium", STARTUP, &mut seen);
    wait_for_line(&lines, "consortium is producing blocks", STARTUP, &mut seen);
    wait_for_line(&lines, "height", STARTUP, &mut seen);
    let reached = height_of(&api).expect("node 0 answers while the testnet runs");
    interrupt_and_wait(&mut child.0, &seen);
    while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
        seen.push(line);
    }
    assert!(seen.iter().any(|line| line.contains("stopped; data kept")), "output:\n{}", seen.join("\n"));
    for index in 0..4u16 {
        let api = Client::new(SocketAddr::from(([127, 0, 0, 1], api_base + index)));
        assert!(height_of(&api).is_none(), "node {index} still answers after the testnet stopped");
    }

    // The second run reuses the consortium and its chain.
    let (child, lines) = start_testnet(&data, ports, &[]);
    let mut child = Running(child);
    let mut seen = Vec::new();
    wait_for_line(&lines, "reusing the consortium", STARTUP, &mut seen);
    wait_for_line(&lines, "consortium is producing blocks", STARTUP, &mut seen);
    let deadline = Instant::now() + STARTUP;
    while height_of(&api).unwrap_or(0) <= reached {
        assert!(Instant::now() < deadline, "the reused chain did not grow past height {reached}");
        std::thread::sleep(Duration::from_millis(200));
    }
    interrupt_and_wait(&mut child.0, &seen);

    // A different size against the same data is refused with advice.
    let output = Command::new(covenant_binary())
        .args(["testnet", "--validators", "5", "--data-dir"])
        .arg(&data)
        .output()
        .expect("covenant testnet runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--reset"), "{stderr}");
}
