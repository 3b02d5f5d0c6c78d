//! Commit detection without asking about each transaction: one thread reads every new block from one
//! node (`GET /v1/blocks/{height}` lists the transaction hashes) and matches the hashes to the
//! workload. A transaction's latency is the instant the bench saw its block minus its first
//! submission, so it includes up to one poll interval and the block's fetch time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use covenant_client::Client;
use covenant_types::Hash;

use super::load::Tracker;
use super::workload::hash_key;

/// Wait between two looks for a block that is not there yet.
const POLL: Duration = Duration::from_millis(20);
/// Wait after a failed request.
const RETRY: Duration = Duration::from_millis(100);
/// After being told to stop, the follower keeps catching up for at most this long.
const CATCH_UP_MAX: Duration = Duration::from_secs(2);
/// Longest wait for one block.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One block as the bench saw it.
#[derive(Clone, Copy, Debug)]
pub struct BlockSeen {
    /// Height.
    pub height: u64,
    /// When the bench saw it, nanoseconds since the tracker's epoch.
    pub seen_ns: u64,
    /// Transactions in it.
    pub txs: u64,
    /// Of which from this workload (first time seen).
    pub ours: u64,
}

/// What the follower saw.
#[derive(Debug, Default)]
pub struct Followed {
    /// Blocks after the start height, in order.
    pub blocks: Vec<BlockSeen>,
    /// Submit-to-seen latency of each of our committed transactions, nanoseconds.
    pub latencies_ns: Vec<u64>,
    /// Failed block reads (retried).
    pub errors: u64,
}

/// The running follower.
pub struct Follower {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Followed>,
}

/// What a node's status says about its progress.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Height reached.
    pub height: u64,
    /// Consensus rounds that timed out and moved on since the node started.
    pub round_changes: u64,
}

/// The height and round changes of the node at `api`.
pub fn progress(api: SocketAddr) -> Result<Progress> {
    let answer = Client::new(api)
        .with_timeout(REQUEST_TIMEOUT)
        .get("/v1/status")
        .with_context(|| format!("reading the status of {api}"))?;
    match answer.body["height"].as_u64() {
        Some(height) => Ok(Progress { height, round_changes: answer.body["round_changes"].as_u64().unwrap_or(0) }),
        None => bail!("{api} answered {} without a height: {}", answer.status, answer.body),
    }
}

impl Follower {
    /// Starts following `api` from the block after `start_height`.
    pub fn start(
        api: SocketAddr,
        start_height: u64,
        index: Arc<[(u64, u32)]>,
        tracker: Arc<Tracker>,
    ) -> Result<Follower> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        tracker.set_height(start_height);
        let handle = std::thread::Builder::new()
            .name("bench-follow".into())
            .spawn(move || {
                follow(Client::new(api).with_timeout(REQUEST_TIMEOUT), start_height, &index, &tracker, &flag)
            })
            .context("starting the block follower")?;
        Ok(Follower { stop, handle })
    }

    /// Catches up with the chain (briefly), stops and returns what it saw.
    pub fn stop(self) -> Followed {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().unwrap_or_default()
    }
}

fn follow(client: Client, start_height: u64, index: &[(u64, u32)], tracker: &Tracker, stop: &AtomicBool) -> Followed {
    let mut followed = Followed::default();
    let mut committed = vec![false; index.len()];
    let mut next = start_height + 1;
    let mut stop_seen: Option<Instant> = None;
    loop {
        if stop_seen.is_none() && stop.load(Ordering::SeqCst) {
            stop_seen = Some(Instant::now());
        }
        if stop_seen.is_some_and(|since| since.elapsed() > CATCH_UP_MAX) {
            break;
        }
        let answer = client.get(&format!("/v1/blocks/{next}"));
        let seen_ns = tracker.nanos(Instant::now());
        match answer {
            Ok(answer) if answer.is_success() => {
                let hashes = answer.body["transactions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let mut ours = 0;
                for hash in hashes.iter().filter_map(|hash| hash.as_str()).filter_map(|hash| Hash::from_hex(hash).ok())
                {
                    let Some(position) = find(index, hash_key(&hash)) else { continue };
                    if std::mem::replace(&mut committed[position], true) {
                        continue;
                    }
                    ours += 1;
                    tracker.add_committed();
                    if let Some(submitted_ns) = tracker.submitted_ns(position) {
                        followed.latencies_ns.push(seen_ns.saturating_sub(submitted_ns));
                    }
                }
                followed.blocks.push(BlockSeen { height: next, seen_ns, txs: hashes.len() as u64, ours });
                tracker.set_height(next);
                next += 1;
            }
            Ok(answer) if answer.status == 404 => {
                if stop_seen.is_some() {
                    break;
                }
                std::thread::sleep(POLL);
            }
            Ok(_) | Err(_) => {
                followed.errors += 1;
                std::thread::sleep(RETRY);
            }
        }
    }
    followed
}

/// The workload position of the transaction whose hash starts with `key`.
fn find(index: &[(u64, u32)], key: u64) -> Option<usize> {
    let found = index.binary_search_by_key(&key, |(key, _)| *key).ok()?;
    Some(index[found].1 as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_hash_key() {
        let index = [(3u64, 7u32), (9, 1), (12, 0)];
        assert_eq!(find(&index, 9), Some(1));
        assert_eq!(find(&index, 4), None);
    }
}
