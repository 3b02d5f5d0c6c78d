//! The bench's results: the progress line while it runs, then one report as text or JSON.
//!
//! Field names of the JSON object are an interface (outside checks read `committed_tps`,
//! `latency_ms.{p50,p95,p99}`, `submitted`, `committed`, `rejected`); add fields, do not rename them.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cluster::ProcSample;
use super::follow::{BlockSeen, Followed};
use super::load::{LoadStats, Tracker};

/// How `committed_tps` is computed, as the report says it.
const COMMITTED_TPS_BASIS: &str =
    "transactions of this run in blocks the bench saw during the window, divided by the window";

/// What the run was.
#[derive(Clone, Debug, Serialize)]
pub struct Header {
    /// `spawn` or `target`.
    pub mode: &'static str,
    /// How the bench (and spawned nodes, the same binary) was built: `debug` or `release`.
    pub build: &'static str,
    /// Validators spawned (null with `--target`).
    pub validators: Option<usize>,
    /// The API addresses loaded.
    pub targets: Vec<String>,
    /// Window length (of each step with `--saturate`), seconds.
    pub duration_s: u64,
    /// Sender operators.
    pub senders: usize,
    /// Keep-alive connections.
    pub connections: usize,
    /// Most transactions per request.
    pub batch: usize,
    /// Workload seed.
    pub seed: u64,
}

/// Submit-to-commit latency in milliseconds; `None` (JSON null) when nothing was committed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
    /// Mean.
    pub mean: Option<f64>,
}

impl Latency {
    fn of(mut nanos: Vec<u64>) -> Latency {
        if nanos.is_empty() {
            return Latency::default();
        }
        nanos.sort_unstable();
        // Nearest rank: the smallest value with at least p % of the values at or below it.
        let rank = |percent: f64| {
            let position = ((percent / 100.0) * nanos.len() as f64).ceil() as usize;
            ms(nanos[position.clamp(1, nanos.len()) - 1])
        };
        let mean = nanos.iter().map(|value| *value as f64).sum::<f64>() / nanos.len() as f64;
        Latency {
            p50: Some(rank(50.0)),
            p95: Some(rank(95.0)),
            p99: Some(rank(99.0)),
            max: nanos.last().map(|value| ms(*value)),
            mean: Some(round1(mean / 1e6)),
        }
    }
}

fn ms(nanos: u64) -> f64 {
    round1(nanos as f64 / 1e6)
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// One node's resource use.
#[derive(Clone, Debug, Serialize)]
pub struct NodeUsage {
    /// Node id.
    pub node: String,
    /// Process id.
    pub pid: u32,
    /// CPU seconds (user + system) from the window's start to the end of the drain.
    pub cpu_s: f64,
    /// The same as cores busy on average (1.0 = one core all the time).
    pub cpu_cores: f64,
    /// Peak resident set size since the node started (VmHWM), MiB.
    pub peak_rss_mib: f64,
}

/// Resource use between two samples taken `elapsed` apart.
pub fn node_usage(before: &[ProcSample], after: &[ProcSample], elapsed: Duration) -> Vec<NodeUsage> {
    after
        .iter()
        .map(|end| {
            let start = before.iter().find(|sample| sample.pid == end.pid).map(|sample| sample.cpu).unwrap_or_default();
            let cpu = end.cpu.saturating_sub(start).as_secs_f64();
            NodeUsage {
                node: end.node.clone(),
                pid: end.pid,
                cpu_s: (cpu * 100.0).round() / 100.0,
                cpu_cores: (cpu / elapsed.as_secs_f64().max(1e-9) * 100.0).round() / 100.0,
                peak_rss_mib: round1(end.peak_rss_kib as f64 / 1024.0),
            }
        })
        .collect()
}

/// Blocks the follower saw.
#[derive(Clone, Debug, Serialize)]
pub struct Blocks {
    /// Blocks after the start height.
    pub count: u64,
    /// First and last height seen (null if none).
    pub first_height: Option<u64>,
    /// Last height seen.
    pub last_height: Option<u64>,
    /// Mean transactions per block (all transactions, not only the bench's).
    pub txs_mean: f64,
    /// Most transactions in one block.
    pub txs_max: u64,
}

/// What one measurement (one step of `--saturate`) found.
#[derive(Clone, Debug, Serialize)]
pub struct StepSummary {
    /// Offered transactions per second.
    pub offered_rate: u64,
    /// Transactions scheduled in the window (rate × duration).
    pub offered: u64,
    /// Requests sent (a refused transaction offered again counts again).
    pub submitted: u64,
    /// Requests per second of the window.
    pub submitted_tps: f64,
    /// Distinct transactions the nodes accepted (an answer "already pending" included).
    pub accepted: u64,
    /// Distinct transactions of this run seen in blocks, window and drain together.
    pub committed: u64,
    /// Of which in blocks seen during the window.
    pub committed_in_window: u64,
    /// Committed transactions per second: see `committed_tps_basis`.
    pub committed_tps: f64,
    /// How `committed_tps` is computed.
    pub committed_tps_basis: &'static str,
    /// Committed transactions per second once commits flow: those in blocks seen after the first block
    /// holding one of ours and before the window's end, over that time (null if under 2 blocks or
    /// 0.5 s). Unlike `committed_tps` it does not count the first latency as idle time.
    pub committed_tps_steady: Option<f64>,
    /// Submit-to-commit latency, ms, from a transaction's first submission to the instant the bench
    /// saw its block.
    pub latency_ms: Latency,
    /// Refusals in all.
    pub rejected: u64,
    /// Refusals by rule id, or `HTTP <status>` when no rule refused (503: the node's verification
    /// queue was full).
    pub rejected_by_rule: BTreeMap<String, u64>,
    /// Transport failures in all (connect, timeout, io, closed, bad-response).
    pub errors: u64,
    /// Transport failures by kind.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Answers "already pending" (counted as accepted).
    pub duplicates: u64,
    /// Slots not sent: the submitters fell too far behind, or the run was interrupted.
    pub unsent: u64,
    /// Slots skipped because their sender had lost a transaction (a nonce gap).
    pub stalled: u64,
    /// Slots sent more than 100 ms after their due instant.
    pub late: u64,
    /// Largest delay of a slot after its due instant, ms.
    pub submit_lag_ms_max: f64,
    /// Accepted but not seen committed by the end of the drain.
    pub uncommitted: u64,
    /// Time waited after the window for accepted transactions to be committed, s.
    pub drain_s: f64,
    /// Blocks seen.
    pub blocks: Blocks,
    /// Failed block reads of the follower (retried).
    pub follower_errors: u64,
    /// Consensus rounds that timed out on the followed node during the step (null if unknown): each
    /// one stalls commits for a round timeout.
    pub round_changes: Option<u64>,
    /// Resource use of each spawned node (empty with `--target`).
    pub nodes: Vec<NodeUsage>,
}

/// Everything a measurement produced.
pub struct StepInput {
    /// Offered rate.
    pub rate: u64,
    /// Transactions scheduled.
    pub count: u64,
    /// Window length.
    pub duration: Duration,
    /// How long the drain took.
    pub drain: Duration,
    /// The submitters' counts.
    pub load: LoadStats,
    /// The follower's findings.
    pub followed: Followed,
    /// Node resource use.
    pub nodes: Vec<NodeUsage>,
    /// When the window started, nanoseconds since the tracker's epoch.
    pub window_start_ns: u64,
    /// Distinct transactions accepted.
    pub accepted: u64,
    /// Round changes on the followed node during the step.
    pub round_changes: Option<u64>,
}

impl StepSummary {
    /// Sums up a measurement.
    pub fn new(input: StepInput) -> StepSummary {
        let StepInput { rate, count, duration, drain, load, followed, .. } = input;
        let (window_start_ns, accepted) = (input.window_start_ns, input.accepted);
        let window_end_ns = window_start_ns.saturating_add(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
        let committed: u64 = followed.blocks.iter().map(|block| block.ours).sum();
        let committed_in_window: u64 = followed
            .blocks
            .iter()
            .filter(|block| block.seen_ns >= window_start_ns && block.seen_ns <= window_end_ns)
            .map(|block| block.ours)
            .sum();
        let seconds = duration.as_secs_f64().max(1e-9);
        let committed_tps_steady = steady_rate(&followed.blocks, window_start_ns, window_end_ns);
        let block_count = followed.blocks.len() as u64;
        let block_txs: u64 = followed.blocks.iter().map(|block| block.txs).sum();
        let rejected = load.rejected.values().sum();
        let errors = load.errors.values().sum();
        StepSummary {
            offered_rate: rate,
            offered: count,
            submitted: load.requests,
            submitted_tps: round1(load.requests as f64 / seconds),
            accepted,
            committed,
            committed_in_window,
            committed_tps: round1(committed_in_window as f64 / seconds),
            committed_tps_basis: COMMITTED_TPS_BASIS,
            committed_tps_steady,
            latency_ms: Latency::of(followed.latencies_ns),
            rejected,
            rejected_by_rule: load.rejected,
            errors,
            errors_by_kind: load.errors,
            duplicates: load.duplicates,
            unsent: load.unsent,
            stalled: load.stalled,
            late: load.late,
            submit_lag_ms_max: round1(load.lag_max.as_secs_f64() * 1e3),
            uncommitted: accepted.saturating_sub(committed),
            drain_s: round1(drain.as_secs_f64()),
            blocks: Blocks {
                count: block_count,
                first_height: followed.blocks.first().map(|block| block.height),
                last_height: followed.blocks.last().map(|block| block.height),
                txs_mean: if block_count == 0 { 0.0 } else { round1(block_txs as f64 / block_count as f64) },
                txs_max: followed.blocks.iter().map(|block| block.txs).max().unwrap_or(0),
            },
            follower_errors: followed.errors,
            round_changes: input.round_changes,
            nodes: input.nodes,
        }
    }

    /// True if the committed rate kept up with the offered one: committed per second (steady, when
    /// known) at least `committed_share_min` of the offered rate, at most `lost_share_max` of the
    /// offered transactions refused, failed, not sent, stalled or left uncommitted, and the drain no
    /// longer than `drain_max` (a node that cannot keep up leaves a backlog to drain).
    pub fn follows(&self, committed_share_min: f64, lost_share_max: f64, drain_max: Duration) -> bool {
        let offered = self.offered.max(1) as f64;
        let lost = self.rejected + self.errors + self.unsent + self.stalled + self.uncommitted;
        let committed_tps = self.committed_tps_steady.unwrap_or(self.committed_tps).max(self.committed_tps);
        committed_tps >= committed_share_min * self.offered_rate as f64
            && lost as f64 <= lost_share_max * offered
            && self.drain_s <= drain_max.as_secs_f64()
    }
}

/// Commits per second between the first block holding one of ours and the window's end.
fn steady_rate(blocks: &[BlockSeen], window_start_ns: u64, window_end_ns: u64) -> Option<f64> {
    let in_window: Vec<&BlockSeen> = blocks
        .iter()
        .filter(|block| block.seen_ns >= window_start_ns && block.seen_ns <= window_end_ns)
        .skip_while(|block| block.ours == 0)
        .collect();
    let (first, rest) = in_window.split_first()?;
    let last = rest.last()?;
    let seconds = (last.seen_ns.saturating_sub(first.seen_ns)) as f64 / 1e9;
    if seconds < 0.5 {
        return None;
    }
    // The first block's transactions accumulated before it: only the later ones count.
    let ours: u64 = rest.iter().map(|block| block.ours).sum();
    Some(round1(ours as f64 / seconds))
}

/// The `--saturate` search.
#[derive(Clone, Debug, Serialize)]
pub struct Saturation {
    /// Each step, in order.
    pub steps: Vec<StepSummary>,
    /// The step with the highest committed rate (1-based); the report's top-level figures are its.
    pub best_step: usize,
}

/// The whole report: what the run was, and the (best) measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    #[serde(flatten)]
    header: Header,
    #[serde(flatten)]
    result: StepSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    saturation: Option<Saturation>,
}

impl Report {
    /// A report of one measurement.
    pub fn single(header: Header, result: StepSummary) -> Report {
        Report { header, result, saturation: None }
    }

    /// A report of a saturation search: the best step's figures, and every step.
    pub fn saturation(header: Header, steps: Vec<StepSummary>) -> Report {
        let best = steps
            .iter()
            .enumerate()
            .max_by(|(_, left), (_, right)| left.committed_tps.total_cmp(&right.committed_tps))
            .map(|(index, _)| index)
            .unwrap_or(0);
        let result = steps.get(best).cloned().unwrap_or_else(|| StepSummary::new(StepInput::empty()));
        Report { header, result, saturation: Some(Saturation { steps, best_step: best + 1 }) }
    }

    /// The report as text.
    pub fn render(&self, out: &mut impl Write) -> std::io::Result<()> {
        let header = &self.header;
        let result = &self.result;
        let where_ = match header.validators {
            Some(validators) => format!("{validators} spawned validators"),
            None => format!("{} target nodes", header.targets.len()),
        };
        writeln!(out, "covenant bench: {where_}, {} build, seed {}", header.build, header.seed)?;
        if let Some(saturation) = &self.saturation {
            writeln!(out, "saturation search ({} s per step):", header.duration_s)?;
            writeln!(out, "  step  offered/s  committed/s  steady/s  p50 ms  p99 ms  refused  errors  drain s")?;
            for (index, step) in saturation.steps.iter().enumerate() {
                writeln!(
                    out,
                    "  {:>4}  {:>9}  {:>11.1}  {:>8}  {:>6}  {:>6}  {:>7}  {:>6}  {:>7}{}",
                    index + 1,
                    step.offered_rate,
                    step.committed_tps,
                    optional(step.committed_tps_steady),
                    optional(step.latency_ms.p50),
                    optional(step.latency_ms.p99),
                    step.rejected,
                    step.errors,
                    step.drain_s,
                    if index + 1 == saturation.best_step { "  <- best" } else { "" }
                )?;
            }
            writeln!(out, "best step in detail:")?;
        }
        writeln!(
            out,
            "offered    {} tx/s for {} s: {} transfers from {} senders over {} connections (up to {} per request)",
            result.offered_rate, header.duration_s, result.offered, header.senders, header.connections, header.batch
        )?;
        writeln!(
            out,
            "submitted  {} transactions ({} /s); {} accepted, {} refused, {} errors, {} not sent, {} stalled",
            result.submitted,
            result.submitted_tps,
            result.accepted,
            result.rejected,
            result.errors,
            result.unsent,
            result.stalled
        )?;
        writeln!(
            out,
            "committed  {} ({} in blocks seen during the window): {:.1} tx/s committed (those / {} s); \
             {} tx/s once commits flowed",
            result.committed,
            result.committed_in_window,
            result.committed_tps,
            header.duration_s,
            optional(result.committed_tps_steady)
        )?;
        let latency = &result.latency_ms;
        writeln!(
            out,
            "latency    p50 {} ms, p95 {} ms, p99 {} ms, max {} ms (first submission to the block seen by the bench)",
            optional(latency.p50),
            optional(latency.p95),
            optional(latency.p99),
            optional(latency.max)
        )?;
        let blocks = &result.blocks;
        let heights = match (blocks.first_height, blocks.last_height) {
            (Some(first), Some(last)) => format!("heights {first} to {last}, "),
            _ => String::new(),
        };
        writeln!(
            out,
            "blocks     {} ({heights}{} transactions per block on average, at most {})",
            blocks.count, blocks.txs_mean, blocks.txs_max
        )?;
        writeln!(
            out,
            "drain      {} s after the window; {} accepted transactions not seen committed",
            result.drain_s, result.uncommitted
        )?;
        if let Some(changes @ 1..) = result.round_changes {
            writeln!(out, "rounds     {changes} round changes (timed-out rounds) on the followed node during the run")?;
        }
        if result.late > 0 {
            writeln!(
                out,
                "lag        {} slots sent over 100 ms late (at most {} ms): the submitters did not keep the rate",
                result.late, result.submit_lag_ms_max
            )?;
        }
        if !result.rejected_by_rule.is_empty() {
            writeln!(out, "refused    {}", counts(&result.rejected_by_rule))?;
        }
        if !result.errors_by_kind.is_empty() {
            writeln!(out, "errors     {}", counts(&result.errors_by_kind))?;
        }
        if header.validators.is_none() {
            writeln!(out, "node       CPU and memory are measured only for spawned nodes (--spawn)")?;
        }
        for node in &result.nodes {
            writeln!(
                out,
                "node       {}: {} CPU s ({} cores), peak RSS {} MiB",
                node.node, node.cpu_s, node.cpu_cores, node.peak_rss_mib
            )?;
        }
        Ok(())
    }
}

impl StepInput {
    fn empty() -> StepInput {
        StepInput {
            rate: 0,
            count: 0,
            duration: Duration::from_secs(1),
            drain: Duration::ZERO,
            load: LoadStats::default(),
            followed: Followed::default(),
            nodes: Vec::new(),
            window_start_ns: 0,
            accepted: 0,
            round_changes: None,
        }
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| value.to_string())
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    map.iter().map(|(key, count)| format!("{key} {count}")).collect::<Vec<_>>().join(", ")
}

/// The live line on stderr: redrawn in place on a terminal, one line every few seconds otherwise.
pub struct ProgressLine {
    terminal: bool,
    last: Option<Instant>,
}

impl ProgressLine {
    /// A progress line; `terminal` says whether stderr is one.
    pub fn new(terminal: bool) -> ProgressLine {
        ProgressLine { terminal, last: None }
    }

    /// Redraws if it is time.
    pub fn update(
        &mut self,
        out: &mut impl Write,
        tracker: &Tracker,
        window: Duration,
        phase: &str,
    ) -> std::io::Result<()> {
        let every = if self.terminal { Duration::from_millis(250) } else { Duration::from_secs(2) };
        if self.last.is_some_and(|last| last.elapsed() < every) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        self.draw(out, tracker, window, phase)
    }

    /// Draws the final state and ends the line.
    pub fn finish(&mut self, out: &mut impl Write, tracker: &Tracker, window: Duration) -> std::io::Result<()> {
        self.draw(out, tracker, window, "done")?;
        if self.terminal {
            writeln!(out)?;
        }
        out.flush()
    }

    fn draw(&self, out: &mut impl Write, tracker: &Tracker, window: Duration, phase: &str) -> std::io::Result<()> {
        let start = Duration::from_nanos(tracker.window_start_ns());
        let into = tracker.elapsed().saturating_sub(start).min(window);
        let width = 20usize;
        let filled = ((into.as_secs_f64() / window.as_secs_f64().max(1e-9)) * width as f64).round() as usize;
        let bar: String = "#".repeat(filled.min(width)) + &"-".repeat(width - filled.min(width));
        let text = format!(
            "[{bar}] {:>5.1}/{} s {phase:<5} submitted {} accepted {} committed {} refused {} errors {} height {}",
            into.as_secs_f64(),
            window.as_secs(),
            tracker.requests(),
            tracker.accepted(),
            tracker.committed(),
            tracker.rejected(),
            tracker.errors(),
            tracker.height()
        );
        if self.terminal {
            write!(out, "\r{text}   ")?;
        } else {
            writeln!(out, "{text}")?;
        }
        out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let latency = Latency::of((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!(latency.p50, Some(50.0));
        assert_eq!(latency.p95, Some(95.0));
        assert_eq!(latency.p99, Some(99.0));
        assert_eq!(latency.max, Some(100.0));
        assert_eq!(Latency::of(vec![]).p50, None);
        assert_eq!(Latency::of(vec![7_000_000]).p99, Some(7.0));
    }

    #[test]
    fn steady_rate_starts_at_the_first_block_with_ours() {
        let block = |seen_ms: u64, ours: u64| BlockSeen { height: 0, seen_ns: seen_ms * 1_000_000, txs: ours, ours };
        let blocks = [block(100, 0), block(600, 50), block(1_100, 100), block(1_600, 100), block(2_500, 100)];
        // From 600 ms to 1,600 ms: 200 of ours in one second; the block after the window is not counted.
        assert_eq!(steady_rate(&blocks, 0, 2_000_000_000), Some(200.0));
        assert_eq!(steady_rate(&blocks[..2], 0, 2_000_000_000), None);
    }

    #[test]
    fn json_has_the_interface_fields() {
        let header = Header {
            mode: "spawn",
            build: "debug",
            validators: Some(4),
            targets: vec![],
            duration_s: 1,
            senders: 1,
            connections: 1,
            batch: 1,
            seed: 1,
        };
        let value = serde_json::to_value(Report::single(header, StepSummary::new(StepInput::empty()))).unwrap();
        for field in ["committed_tps", "latency_ms", "submitted", "committed", "rejected", "nodes", "validators"] {
            assert!(value.get(field).is_some(), "{field} missing from {value}");
        }
        assert!(value["latency_ms"].get("p99").is_some());
        assert!(value.get("saturation").is_none());
    }
}
