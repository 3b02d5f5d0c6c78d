//! `covenant bench` as a user runs it: it spawns a consortium, offers signed transfers (batched, or
//! one per request with `--batch 1`), prints one JSON report with the fields outside checks read, and
//! leaves no node running. Bad arguments are refused before anything starts.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use covenant_client::Client;
use covenant_tests::{covenant_binary, port_bases};

/// Start-up (debug build), a 5 s window, the drain and the shutdown fit well inside this.
const DEADLINE: Duration = Duration::from_secs(180);

/// Kills the bench if an assertion fails while it runs (its own Drop then cannot stop its nodes, but
/// a SIGTERM lets it).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
        }
    }
}

/// Runs `covenant bench ARGS --json` to the end and returns its report and its stderr.
fn run_bench(args: &[&str]) -> (serde_json::Value, String) {
    let child = Command::new(covenant_binary())
        .arg("bench")
        .args(args)
        .arg("--json")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("covenant bench starts");
    let mut child = Running(child);
    let mut stdout = child.0.stdout.take().expect("stdout");
    let mut stderr = child.0.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "covenant bench did not finish within {DEADLINE:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    assert!(status.success(), "covenant bench exited with {status}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    let report = serde_json::from_str(&stdout)
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}):\n{stdout}\nstderr:\n{stderr}"));
    (report, stderr)
}

/// The interface fields are there and consistent; returns (submitted, committed).
fn check_report(report: &serde_json::Value, stderr: &str) -> (u64, u64) {
    let number = |field: &str| {
        report[field].as_u64().unwrap_or_else(|| panic!("{field} is not a count in {report:#}\nstderr:\n{stderr}"))
    };
    let (submitted, committed) = (number("submitted"), number("committed"));
    number("rejected");
    assert!(submitted > 0, "nothing submitted: {report:#}");
    assert!(committed > 0, "nothing committed: {report:#}\nstderr:\n{stderr}");
    assert!(committed <= submitted, "{committed} committed of {submitted} submitted");
    assert!(report["committed_tps"].as_f64().is_some_and(|tps| tps > 0.0), "committed_tps: {report:#}");
    let latency = |field: &str| {
        report["latency_ms"][field].as_f64().unwrap_or_else(|| panic!("latency_ms.{field} missing: {report:#}"))
    };
    let (p50, p95, p99) = (latency("p50"), latency("p95"), latency("p99"));
    assert!(0.0 <= p50 && p50 <= p95 && p95 <= p99, "latency not ordered: p50 {p50} p95 {p95} p99 {p99}");
    (submitted, committed)
}

#[test]
fn bench_spawns_loads_reports_json_and_stops_its_nodes() {
    let (p2p, api) = port_bases();
    let (report, stderr) = run_bench(&[
        "--spawn",
        "4",
        "--rate",
        "50",
        "--duration",
        "5",
        "--senders",
        "16",
        "--api-port-base",
        &api.to_string(),
        "--p2p-port-base",
        &p2p.to_string(),
    ]);
    check_report(&report, &stderr);
    assert_eq!(report["batch"], 1024, "batched submission by default: {report:#}");
    let nodes = report["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 4, "one usage entry per spawned node: {report:#}");
    assert!(nodes.iter().all(|node| node["peak_rss_mib"].as_f64().is_some_and(|mib| mib > 0.0)));

    // Every spawned node is gone: their APIs no longer answer.
    for index in 0..4u16 {
        let address = SocketAddr::from(([127, 0, 0, 1], api + index));
        let client = Client::new(address).with_timeout(Duration::from_secs(1));
        assert!(client.get("/v1/status").is_err(), "node {index} still answers on {address} after the bench");
    }
}

#[test]
fn bench_with_batch_one_submits_each_transaction_alone() {
    // Its own ports: both tests may run at once in this process.
    let (p2p, api) = port_bases();
    let (report, stderr) = run_bench(&[
        "--spawn",
        "2",
        "--rate",
        "20",
        "--duration",
        "3",
        "--senders",
        "4",
        "--connections",
        "4",
        "--batch",
        "1",
        "--api-port-base",
        &(api + 10).to_string(),
        "--p2p-port-base",
        &(p2p + 10).to_string(),
    ]);
    let (_, committed) = check_report(&report, &stderr);
    assert_eq!(report["batch"], 1, "{report:#}");
    assert_eq!(committed, 60, "every transaction of the window committed: {report:#}\nstderr:\n{stderr}");
}

#[test]
fn bench_refuses_bad_arguments_before_starting_anything() {
    for (args, needle) in [
        (&["--rate", "0"][..], "--rate must be at least 1"),
        (&["--duration", "0"][..], "--duration must be at least 1 second"),
        (&["--rate", "1000000", "--duration", "60"][..], "transactions to pre-sign"),
        (&["--spawn", "1"][..], "--spawn must be from 2 to 64"),
        (&["--batch", "0"][..], "--batch must be from 1 to 4096"),
        (&["--batch", "5000"][..], "--batch must be from 1 to 4096"),
    ] {
        let output = Command::new(covenant_binary()).arg("bench").args(args).output().expect("covenant bench runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: expected {needle:?} in:\n{stderr}");
        assert!(output.stdout.is_empty(), "{args:?} printed to stdout");
    }
}
