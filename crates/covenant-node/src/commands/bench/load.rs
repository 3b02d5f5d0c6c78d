//! Open-loop load: transaction i is due at `window_start + i / rate` and is sent then, whatever the
//! nodes answer (only a submitter that falls behind delays it; the lag is reported).
//!
//! A bounded set of keep-alive HTTP/1.1 connections carries the load, one request in flight on
//! each, on a small tokio runtime (two worker threads): sender k belongs to connection
//! `k mod connections`, connection c talks to node `c mod nodes`, so each sender's nonces reach one
//! node in order. A request carries the connection's slots that are due when it leaves, up to the
//! batch size, with at least [`BATCH_TICK`] between two requests (`POST /v1/txs/batch`; with a batch
//! size of 1, one `POST /v1/txs` per slot). One request per transaction would cost the node more
//! than the transaction's signature check. The SDK's blocking client opens a connection per request;
//! that costs a handshake each and fills the port range with TIME_WAIT sockets, hence this small
//! client of its own (it speaks just enough HTTP/1.1 for the two requests).
//!
//! A refused transaction is offered again in its sender's next slot, since the sender's later nonces
//! cannot be admitted before it; a 409 (already pending) counts as accepted; a COV-34 refusal naming
//! a next nonce beyond ours means our earlier attempt got in (its answer was lost), and one naming
//! an earlier nonce means a transaction of ours was lost, so that sender stops (counted as stalled).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::net::TcpStream;

use covenant_types::batch::encode_tx_batch;

use super::workload::{Workload, connection_of_sender};

/// Longest wait for one answer (connecting included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Time between starting the submitters and the first due instant.
const LEAD: Duration = Duration::from_millis(200);
/// A slot not started within this time after the window's end is not sent.
const LATE_GRACE: Duration = Duration::from_millis(250);
/// A slot started later than this after its due instant counts as late.
const LATE_THRESHOLD: Duration = Duration::from_millis(100);
/// Longest sleep between two looks at the stop flag.
const SLEEP_SLICE: Duration = Duration::from_millis(100);
/// Largest response head read.
const RESPONSE_HEAD_BYTES_MAX: usize = 16 * 1024;
/// Largest response body read (a batch's answer: about 150 bytes per transaction).
const RESPONSE_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Least time between two batch requests of one connection: the slots due meanwhile go together.
const BATCH_TICK: Duration = Duration::from_millis(20);
/// Worker threads of the load runtime.
const LOAD_THREADS: usize = 2;
/// The rule whose refusal carries the sender's next nonce.
const ORDERED_NONCES: &str = "COV-34-ORDERED-NONCES";

/// Per-transaction instants and the live counters shown by the progress line. Instants are
/// nanoseconds since `epoch`, plus one (0: not yet).
pub struct Tracker {
    epoch: Instant,
    window_start_ns: AtomicU64,
    submitted_at: Box<[AtomicU64]>,
    accepted_flags: Box<[AtomicBool]>,
    requests: AtomicU64,
    accepted: AtomicU64,
    rejected: AtomicU64,
    errors: AtomicU64,
    committed: AtomicU64,
    height: AtomicU64,
}

impl Tracker {
    /// A tracker for `count` transactions; its epoch is now.
    pub fn new(count: usize) -> Tracker {
        Tracker {
            epoch: Instant::now(),
            window_start_ns: AtomicU64::new(0),
            submitted_at: (0..count).map(|_| AtomicU64::new(0)).collect(),
            accepted_flags: (0..count).map(|_| AtomicBool::new(false)).collect(),
            requests: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            height: AtomicU64::new(0),
        }
    }

    /// Time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// `instant` in nanoseconds since the epoch.
    pub fn nanos(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// When the window starts, in nanoseconds since the epoch (0 before the load starts).
    pub fn window_start_ns(&self) -> u64 {
        self.window_start_ns.load(Ordering::SeqCst)
    }

    /// When transaction `index` was first submitted, in nanoseconds since the epoch.
    pub fn submitted_ns(&self, index: usize) -> Option<u64> {
        let value = self.submitted_at.get(index)?.load(Ordering::Acquire);
        value.checked_sub(1)
    }

    fn mark_submitted(&self, index: usize, at_ns: u64) {
        // The first submission counts: a retried transaction's latency includes the wait for its retry.
        let _ = self.submitted_at[index].compare_exchange(0, at_ns + 1, Ordering::AcqRel, Ordering::Acquire);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn mark_accepted(&self, index: usize) {
        if !self.accepted_flags[index].swap(true, Ordering::AcqRel) {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that the follower saw one of ours committed.
    pub fn add_committed(&self) {
        self.committed.fetch_add(1, Ordering::Relaxed);
    }

    /// Records the latest height the follower saw.
    pub fn set_height(&self, height: u64) {
        self.height.store(height, Ordering::Relaxed);
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Distinct transactions accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Refusals so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// Transport errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Our transactions seen committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Latest height seen.
    pub fn height(&self) -> u64 {
        self.height.load(Ordering::Relaxed)
    }
}

/// What the submitters counted.
#[derive(Clone, Debug, Default)]
pub struct LoadStats {
    /// Transactions sent (a retried transaction counts once per attempt).
    pub requests: u64,
    /// Answers saying the transaction is already pending (counted as accepted).
    pub duplicates: u64,
    /// Refusals by rule id (or `HTTP <status>` when no rule refused).
    pub rejected: BTreeMap<String, u64>,
    /// Transport failures by kind (connect, timeout, io, closed, bad-response).
    pub errors: BTreeMap<String, u64>,
    /// Slots not sent because the submitter was more than the grace behind at the window's end, or
    /// the run was interrupted.
    pub unsent: u64,
    /// Slots skipped because their sender had lost a transaction (nonce gap).
    pub stalled: u64,
    /// Slots started more than 100 ms after their due instant.
    pub late: u64,
    /// Largest delay of a slot after its due instant.
    pub lag_max: Duration,
}

impl LoadStats {
    fn merge(&mut self, other: LoadStats) {
        self.requests += other.requests;
        self.duplicates += other.duplicates;
        for (key, count) in other.rejected {
            *self.rejected.entry(key).or_default() += count;
        }
        for (key, count) in other.errors {
            *self.errors.entry(key).or_default() += count;
        }
        self.unsent += other.unsent;
        self.stalled += other.stalled;
        self.late += other.late;
        self.lag_max = self.lag_max.max(other.lag_max);
    }
}

/// What to offer.
pub struct LoadPlan {
    /// The signed transactions, in due order.
    pub workload: Arc<Workload>,
    /// The nodes' APIs.
    pub apis: Vec<SocketAddr>,
    /// Senders (transaction i is sent by sender `i mod senders`).
    pub senders: usize,
    /// Connections (at most `senders`).
    pub connections: usize,
    /// Most transactions per request (1: `POST /v1/txs`, more: `POST /v1/txs/batch`).
    pub batch: usize,
    /// Offered transactions per second.
    pub rate: u64,
    /// Length of the window.
    pub duration: Duration,
    /// Where instants and counters go.
    pub tracker: Arc<Tracker>,
    /// Set on Ctrl-C.
    pub stop: Arc<AtomicBool>,
}

/// Running submitters.
pub struct Load {
    runtime: tokio::runtime::Runtime,
    handles: Vec<tokio::task::JoinHandle<LoadStats>>,
    done: Arc<AtomicUsize>,
}

impl Load {
    /// Starts one task per connection; the window starts shortly after.
    pub fn start(plan: LoadPlan) -> Result<Load> {
        if plan.senders == 0 || plan.connections == 0 || plan.apis.is_empty() || plan.rate == 0 {
            bail!("nothing to send: no senders, connections, nodes or rate");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(LOAD_THREADS)
            .thread_name("bench-load")
            .enable_all()
            .build()
            .context("starting the load runtime")?;
        let window_start = Instant::now() + LEAD;
        plan.tracker.window_start_ns.store(plan.tracker.nanos(window_start), Ordering::SeqCst);
        let done = Arc::new(AtomicUsize::new(0));
        let plan = Arc::new(plan);
        let handles = (0..plan.connections)
            .map(|connection| {
                let plan = plan.clone();
                let done = done.clone();
                runtime.spawn(async move {
                    let stats = submitter(&plan, connection, window_start).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    stats
                })
            })
            .collect();
        Ok(Load { runtime, handles, done })
    }

    /// True once every submitter has finished.
    pub fn finished(&self) -> bool {
        self.done.load(Ordering::SeqCst) >= self.handles.len()
    }

    /// Waits for the submitters and adds up their counts.
    pub fn join(self) -> Result<LoadStats> {
        let Load { runtime, handles, .. } = self;
        let mut total = LoadStats::default();
        for handle in handles {
            let stats = runtime.block_on(handle).map_err(|error| anyhow::anyhow!("a submitter failed: {error}"))?;
            total.merge(stats);
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        Ok(total)
    }
}

/// One sender's place in its own transactions.
struct Queue {
    sender: usize,
    /// How many of the sender's transactions are done (accepted, or known to be in).
    next: u64,
    stalled: bool,
}

/// A connection's slots in due order: round r holds slot `r × senders + k` of each of its senders k
/// (in increasing order, so slots increase).
struct Slots {
    round: u64,
    position: usize,
}

impl Slots {
    /// The next slot and the position of its sender's queue, if any is left.
    fn peek(&self, queues: &[Queue], senders: u64, count: u64) -> Option<(u64, usize)> {
        let slot = self.round * senders + queues[self.position].sender as u64;
        (slot < count).then_some((slot, self.position))
    }

    fn advance(&mut self, queues: &[Queue]) {
        self.position += 1;
        if self.position == queues.len() {
            self.position = 0;
            self.round += 1;
        }
    }
}

/// One connection's submitter: its senders' slots, in due order, in batches of the slots that are
/// due when a request can leave.
async fn submitter(plan: &LoadPlan, connection: usize, window_start: Instant) -> LoadStats {
    let mut stats = LoadStats::default();
    let api = plan.apis[connection % plan.apis.len()];
    let count = plan.workload.len() as u64;
    let senders = plan.senders as u64;
    // Sender k belongs to connection k mod connections (see `connection_of_sender`).
    let mut queues: Vec<Queue> = (connection..plan.senders)
        .step_by(plan.connections.max(1))
        .map(|sender| Queue { sender, next: 0, stalled: false })
        .collect();
    debug_assert!(queues.iter().all(|queue| connection_of_sender(queue.sender, plan.connections) == connection));
    if queues.is_empty() {
        return stats;
    }
    let deadline = window_start + plan.duration + LATE_GRACE;
    let mut http: Option<HttpConnection> = None;
    let mut slots = Slots { round: 0, position: 0 };
    let mut last_request: Option<Instant> = None;
    // Per queue: transactions of its sender already in the batch being built.
    let mut planned = vec![0u64; queues.len()];
    while let Some((first, _)) = slots.peek(&queues, senders, count) {
        let due = window_start + Duration::from_nanos(due_ns(first, plan.rate));
        // Batching waits at least a tick between requests so that a batch gathers the slots due meanwhile.
        let wake = match last_request {
            Some(last) if plan.batch > 1 => due.max(last + BATCH_TICK),
            _ => due,
        };
        let running = sleep_until(wake, &plan.stop).await;
        let now = Instant::now();
        if !running || now > deadline {
            while slots.peek(&queues, senders, count).is_some() {
                stats.unsent += 1;
                slots.advance(&queues);
            }
            break;
        }
        planned.fill(0);
        let mut batch: Vec<(usize, usize)> = Vec::new();
        while let Some((slot, position)) = slots.peek(&queues, senders, count) {
            let due = window_start + Duration::from_nanos(due_ns(slot, plan.rate));
            if due > now || batch.len() >= plan.batch {
                break;
            }
            slots.advance(&queues);
            let lag = now.saturating_duration_since(due);
            stats.lag_max = stats.lag_max.max(lag);
            if lag > LATE_THRESHOLD {
                stats.late += 1;
            }
            let queue = &queues[position];
            if queue.stalled {
                stats.stalled += 1;
                continue;
            }
            let index = (queue.next + planned[position]) * senders + queue.sender as u64;
            if index >= count {
                // Everything of this sender is in already (a COV-34 answer moved it forward).
                continue;
            }
            planned[position] += 1;
            batch.push((position, index as usize));
        }
        if batch.is_empty() {
            continue;
        }
        last_request = Some(now);
        for &(_, index) in &batch {
            plan.tracker.mark_submitted(index, plan.tracker.nanos(now));
        }
        stats.requests += batch.len() as u64;
        let indexes: Vec<usize> = batch.iter().map(|&(_, index)| index).collect();
        match tokio::time::timeout(REQUEST_TIMEOUT, submit(&mut http, api, &plan.workload, &indexes)).await {
            Ok(Ok(answers)) => {
                // After a sender's first refusal its later nonces in the batch are refused for the gap:
                // counted, but they say nothing new about the sender's place.
                let mut refused = vec![false; queues.len()];
                for (&(position, index), answer) in batch.iter().zip(answers) {
                    if refused[position] {
                        count_refusal(plan, &answer, &mut stats);
                    } else if !handle_answer(plan, &mut queues[position], index, &answer, &mut stats) {
                        refused[position] = true;
                    }
                }
            }
            Ok(Err(kind)) => {
                http = None;
                *stats.errors.entry(kind.to_string()).or_default() += batch.len() as u64;
                plan.tracker.errors.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                http = None;
                *stats.errors.entry("timeout".to_string()).or_default() += batch.len() as u64;
                plan.tracker.errors.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
        }
    }
    stats
}

/// Nanoseconds after the window start at which slot `slot` is due.
fn due_ns(slot: u64, rate: u64) -> u64 {
    u64::try_from(u128::from(slot) * 1_000_000_000 / u128::from(rate.max(1))).unwrap_or(u64::MAX)
}

/// Sleeps until `due`, looking at `stop` now and then; false if stopped.
async fn sleep_until(due: Instant, stop: &AtomicBool) -> bool {
    loop {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        let wake = due.min(now + SLEEP_SLICE);
        tokio::time::sleep_until(tokio::time::Instant::from_std(wake)).await;
    }
}

/// Handles the answer for transaction `index` of `queue`'s sender; true if it was accepted.
fn handle_answer(plan: &LoadPlan, queue: &mut Queue, index: usize, answer: &Answer, stats: &mut LoadStats) -> bool {
    let senders = plan.senders as u64;
    if (200..300).contains(&answer.status) || answer.status == 409 {
        if answer.status == 409 {
            stats.duplicates += 1;
        }
        plan.tracker.mark_accepted(index);
        queue.next += 1;
        return true;
    }
    let rule = count_refusal(plan, answer, stats);
    if rule.as_deref() != Some(ORDERED_NONCES) {
        // Offered again in the sender's next slot.
        return false;
    }
    let Some(expected) = answer.body["error"].as_str().and_then(next_nonce_in) else { return false };
    let Some(base) = plan.workload.first_nonce(queue.sender) else { return false };
    let ours = base + queue.next;
    if expected > ours {
        // Our earlier attempts got in though their answers were lost.
        let known_in = (expected - base).min(plan.workload.sender_txs(queue.sender));
        while queue.next < known_in {
            let done = queue.next * senders + queue.sender as u64;
            if done < plan.workload.len() as u64 {
                plan.tracker.mark_accepted(done as usize);
            }
            queue.next += 1;
        }
    } else if expected < ours {
        queue.stalled = true;
    }
    false
}

/// Counts a refusal by its rule (or HTTP status); returns the rule.
fn count_refusal(plan: &LoadPlan, answer: &Answer, stats: &mut LoadStats) -> Option<String> {
    let rule = answer.body["rule"].as_str().map(str::to_string);
    let key = rule.clone().unwrap_or_else(|| format!("HTTP {}", answer.status));
    *stats.rejected.entry(key).or_default() += 1;
    plan.tracker.rejected.fetch_add(1, Ordering::Relaxed);
    rule
}

/// The next nonce named by a COV-34 refusal ("... the sender's next nonce is N").
fn next_nonce_in(error: &str) -> Option<u64> {
    let (_, rest) = error.rsplit_once("next nonce is ")?;
    rest.trim().trim_end_matches('.').parse().ok()
}

/// The answer for one transaction: the HTTP status `POST /v1/txs` answers (or answered) and the JSON
/// body (`Null` if there was none).
struct Answer {
    status: u16,
    body: serde_json::Value,
}

/// One keep-alive connection.
struct HttpConnection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

/// Submits the workload's transactions `indexes`: one alone with `POST /v1/txs`, more with
/// `POST /v1/txs/batch`. One answer per transaction, in order.
async fn submit(
    http: &mut Option<HttpConnection>,
    api: SocketAddr,
    workload: &Workload,
    indexes: &[usize],
) -> Result<Vec<Answer>, &'static str> {
    if let [index] = indexes {
        let (status, body) = post(http, api, "/v1/txs", workload.bytes(*index)).await?;
        let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        return Ok(vec![Answer { status, body }]);
    }
    let batch = encode_tx_batch(indexes.iter().map(|&index| workload.bytes(index)));
    let (status, body) = post(http, api, "/v1/txs/batch", &batch).await?;
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    if status != 200 {
        // The batch as a whole was refused: every transaction in it was.
        return Ok(indexes.iter().map(|_| Answer { status, body: body.clone() }).collect());
    }
    let results = body.get("results").and_then(serde_json::Value::as_array).ok_or("bad-response")?;
    if results.len() != indexes.len() {
        return Err("bad-response");
    }
    Ok(results
        .iter()
        .map(|result| {
            let status = result["code"].as_u64().and_then(|code| u16::try_from(code).ok()).unwrap_or(200);
            Answer { status, body: result.clone() }
        })
        .collect())
}

/// `POST path` with `body`, on the kept connection or a new one: the status and body of the answer.
/// A kept connection that turns out closed before any answer byte is replaced once (the node may have
/// closed it while idle; a duplicate submission is answered 409 and counts as accepted).
async fn post(
    http: &mut Option<HttpConnection>,
    api: SocketAddr,
    path: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>), &'static str> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    for attempt in 0..2 {
        let reused = http.is_some();
        if http.is_none() {
            let stream = TcpStream::connect(api).await.map_err(|_| "connect")?;
            let _ = stream.set_nodelay(true);
            *http = Some(HttpConnection { stream, buffer: Vec::with_capacity(1024) });
        }
        let Some(connection) = http.as_mut() else { return Err("connect") };
        match exchange(connection, &request).await {
            Ok((answer, keep)) => {
                if !keep {
                    *http = None;
                }
                return Ok(answer);
            }
            Err(Failure::ClosedBeforeAnswer) if reused && attempt == 0 => {
                *http = None;
            }
            Err(failure) => {
                *http = None;
                return Err(failure.kind());
            }
        }
    }
    Err("closed")
}

enum Failure {
    ClosedBeforeAnswer,
    Io,
    Closed,
    BadResponse,
}

impl Failure {
    fn kind(&self) -> &'static str {
        match self {
            Failure::ClosedBeforeAnswer | Failure::Closed => "closed",
            Failure::Io => "io",
            Failure::BadResponse => "bad-response",
        }
    }
}

/// Writes the request and reads one answer; the flag says whether the connection can be kept.
async fn exchange(connection: &mut HttpConnection, request: &[u8]) -> Result<((u16, Vec<u8>), bool), Failure> {
    write_all(&connection.stream, request).await.map_err(|error| match error.kind() {
        std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset => Failure::ClosedBeforeAnswer,
        _ => Failure::Io,
    })?;
    let buffer = &mut connection.buffer;
    buffer.clear();
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break position;
        }
        if buffer.len() > RESPONSE_HEAD_BYTES_MAX {
            return Err(Failure::BadResponse);
        }
        let read = read_some(&connection.stream, buffer).await.map_err(|_| Failure::Io)?;
        if read == 0 {
            return Err(if buffer.is_empty() { Failure::ClosedBeforeAnswer } else { Failure::Closed });
        }
    };
    let head = std::str::from_utf8(&buffer[..head_end]).map_err(|_| Failure::BadResponse)?;
    let status: u16 = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).ok_or(Failure::BadResponse)?;
    let mut length = None;
    let mut keep = true;
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else { continue };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_ascii_lowercase());
        match name.as_str() {
            "content-length" => length = Some(value.parse::<usize>().map_err(|_| Failure::BadResponse)?),
            "connection" if value == "close" => keep = false,
            // The node answers JSON with a length; anything else is not worth parsing here.
            "transfer-encoding" => return Err(Failure::BadResponse),
            _ => {}
        }
    }
    let length = length.ok_or(Failure::BadResponse)?;
    if length > RESPONSE_BODY_BYTES_MAX {
        return Err(Failure::BadResponse);
    }
    let body_start = head_end + 4;
    while buffer.len() < body_start + length {
        let read = read_some(&connection.stream, buffer).await.map_err(|_| Failure::Io)?;
        if read == 0 {
            return Err(Failure::Closed);
        }
    }
    let body = buffer[body_start..body_start + length].to_vec();
    // No pipelining: anything after the body would be a protocol error; do not reuse then.
    let keep = keep && buffer.len() == body_start + length;
    Ok(((status, body), keep))
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(written) => data = &data[written..],
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

async fn read_some(stream: &TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    loop {
        stream.readable().await?;
        match stream.try_read(&mut chunk) {
            Ok(read) => {
                buffer.extend_from_slice(&chunk[..read]);
                return Ok(read);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_due_evenly() {
        assert_eq!(due_ns(0, 500), 0);
        assert_eq!(due_ns(1, 500), 2_000_000);
        assert_eq!(due_ns(500, 500), 1_000_000_000);
        assert_eq!(due_ns(3, 0), 3_000_000_000);
    }

    #[test]
    fn next_nonce_is_read_from_a_cov34_refusal() {
        assert_eq!(next_nonce_in("nonce 7 is out of order: the sender's next nonce is 5"), Some(5));
        assert_eq!(next_nonce_in("something else"), None);
    }
}
