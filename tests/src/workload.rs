//! A Jepsen-style workload: clients, each on a host of its own, submit transfers with unique ids (the
//! transfer's memo) to the nodes they can reach, and record every answer in a [`History`] that the
//! [`crate::checker`] reads against the nodes' chains afterwards.
//!
//! Each sender runs closed-loop in its own thread: sign the next transfer, submit it to the node it
//! last reached, poll that node until the transfer is committed, refused or the wait runs out. Only
//! what a client saw is recorded: "committed at height h" is an acknowledgement, a refused submission
//! is a definite failure, and everything else (no answer, still pending, rejected after admission) is
//! indeterminate: it may or may not commit later, and the checker allows both.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use covenant_client::Client;
use covenant_types::{AccountId, AssetId, ChainId, Hash, OperatorId, Payload, SecretKey, Transfer};

use crate::now_ms;

/// One sender operator of the workload and the account it pays from.
#[derive(Clone)]
pub struct Sender {
    /// Operator id.
    pub operator: String,
    /// Its signing key.
    pub key: Arc<SecretKey>,
    /// The account its transfers debit.
    pub account: String,
}

/// One client: the host it runs on, the nodes it tries (its own first), and its senders.
#[derive(Clone)]
pub struct ClientPlan {
    /// The network namespace the client's threads enter (`None`: the caller's).
    pub netns: Option<String>,
    /// Node API addresses in the order the client tries them.
    pub nodes: Vec<SocketAddr>,
    /// Senders, one thread each.
    pub senders: Vec<Sender>,
}

/// Pace and patience of the clients.
#[derive(Clone, Debug)]
pub struct WorkloadOptions {
    /// Chain id to sign for.
    pub chain_id: String,
    /// The asset transferred.
    pub asset: String,
    /// Accounts the transfers pay into (a sender never pays itself).
    pub recipients: Vec<String>,
    /// How long a client waits for its transfer to commit before it calls the outcome unknown.
    pub commit_wait: Duration,
    /// Pause between one sender's operations.
    pub pause: Duration,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
}

/// What the client learned about one transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The node said it is committed at this height: an acknowledgement.
    Committed {
        /// Block height the node named.
        height: u64,
    },
    /// The node refused the submission (an HTTP error status): it never entered a mempool.
    Refused {
        /// HTTP status.
        status: u16,
        /// The node's answer.
        error: String,
    },
    /// Anything else: no answer, still pending when the wait ran out, or rejected after admission
    /// (another node may still hold and commit it).
    Unknown {
        /// The last thing the client heard.
        last: String,
    },
}

/// One operation of the history.
#[derive(Clone, Debug)]
pub struct Op {
    /// Unique id, carried in the transfer's memo: `c<client>-s<sender>-<sequence>`.
    pub id: String,
    /// The sending operator.
    pub operator: String,
    /// The nonce it signed.
    pub nonce: u64,
    /// Transaction hash.
    pub hash: Hash,
    /// The node it was submitted to.
    pub node: SocketAddr,
    /// Debited account.
    pub from: String,
    /// Credited account.
    pub to: String,
    /// Amount.
    pub amount: u64,
    /// When it was submitted and when the client stopped waiting (ms since the Unix epoch).
    pub submitted_ms: u64,
    /// See `submitted_ms`.
    pub completed_ms: u64,
    /// What the client learned.
    pub outcome: Outcome,
}

/// Every operation of a run.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Operations, grouped by sender in the order each sender made them.
    pub ops: Vec<Op>,
}

impl History {
    /// Operations acknowledged as committed.
    pub fn acked(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|op| matches!(op.outcome, Outcome::Committed { .. }))
    }

    /// Acknowledgements completed within `[from_ms, to_ms)`.
    pub fn acked_between(&self, from_ms: u64, to_ms: u64) -> usize {
        self.acked().filter(|op| op.completed_ms >= from_ms && op.completed_ms < to_ms).count()
    }
}

/// Running client threads.
pub struct Workload {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Op>>>,
}

impl Workload {
    /// Starts one thread per sender of every client.
    pub fn start(clients: Vec<ClientPlan>, options: WorkloadOptions) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);
        let mut threads = Vec::new();
        for (client, plan) in clients.into_iter().enumerate() {
            for (slot, sender) in plan.senders.iter().enumerate() {
                let runner = SenderRun {
                    client,
                    slot,
                    sender: sender.clone(),
                    netns: plan.netns.clone(),
                    nodes: plan.nodes.clone(),
                    options: options.clone(),
                    stop: stop.clone(),
                };
                let name = format!("client-{client}-{slot}");
                threads
                    .push(std::thread::Builder::new().name(name).spawn(move || runner.run()).expect("client thread"));
            }
        }
        Workload { stop, threads }
    }

    /// Stops the clients (each finishes the operation it is waiting on) and returns the history.
    pub fn stop(self) -> History {
        self.stop.store(true, Ordering::Relaxed);
        let mut ops = Vec::new();
        for thread in self.threads {
            ops.extend(thread.join().expect("a client thread panicked"));
        }
        History { ops }
    }
}

struct SenderRun {
    client: usize,
    slot: usize,
    sender: Sender,
    netns: Option<String>,
    nodes: Vec<SocketAddr>,
    options: Arc<WorkloadOptions>,
    stop: Arc<AtomicBool>,
}

impl SenderRun {
    fn run(self) -> Vec<Op> {
        if let Some(netns) = &self.netns {
            crate::hosts::enter_netns(netns);
        }
        let apis: Vec<Client> =
            self.nodes.iter().map(|node| Client::new(*node).with_timeout(self.options.request_timeout)).collect();
        let chain = ChainId::new(self.options.chain_id.clone()).expect("chain id");
        let operator = OperatorId::new(self.sender.operator.clone()).expect("operator id");
        let asset = AssetId::new(self.options.asset.clone()).expect("asset id");
        let recipients: Vec<&String> =
            self.options.recipients.iter().filter(|account| **account != self.sender.account).collect();
        assert!(!recipients.is_empty(), "the workload needs a recipient besides {}", self.sender.account);
        let mut ops = Vec::new();
        let mut node = 0;
        let mut next_nonce: Option<u64> = None;
        let mut sequence: u64 = 0;
        while !self.stop.load(Ordering::Relaxed) {
            let nonce = match next_nonce {
                Some(nonce) => nonce,
                None => match self.next_nonce(&apis, &mut node) {
                    Some(nonce) => nonce,
                    None => {
                        std::thread::sleep(self.options.pause.max(Duration::from_millis(200)));
                        continue;
                    }
                },
            };
            let id = format!("c{}-s{}-{sequence}", self.client, self.slot);
            let to = recipients[(sequence as usize).wrapping_mul(7).wrapping_add(self.client) % recipients.len()];
            let amount = 1 + sequence % 5;
            let transfer = Transfer {
                from: AccountId::new(self.sender.account.clone()).expect("account id"),
                to: AccountId::new(to.clone()).expect("account id"),
                asset: asset.clone(),
                amount,
                memo: id.clone(),
            };
            let tx = covenant_client::operator_tx(
                &chain,
                &operator,
                &self.sender.key,
                nonce,
                now_ms(),
                Payload::Transfer(transfer),
            );
            let submitted_ms = now_ms();
            let submitted_to = self.nodes[node];
            let outcome = self.submit_and_wait(&apis[node], &tx);
            next_nonce = match outcome {
                Outcome::Committed { .. } => Some(nonce + 1),
                Outcome::Unknown { .. } => {
                    // Perhaps the node is gone: the next nonce comes from whichever answers next.
                    node = (node + 1) % apis.len();
                    None
                }
                Outcome::Refused { .. } => None,
            };
            ops.push(Op {
                id,
                operator: self.sender.operator.clone(),
                nonce,
                hash: tx.body.hash(),
                node: submitted_to,
                from: self.sender.account.clone(),
                to: to.clone(),
                amount,
                submitted_ms,
                completed_ms: now_ms(),
                outcome,
            });
            sequence += 1;
            std::thread::sleep(self.options.pause);
        }
        ops
    }

    /// The sender's next nonce (pending transactions included) from the first node that answers,
    /// starting at `node`, which becomes the node that answered.
    fn next_nonce(&self, apis: &[Client], node: &mut usize) -> Option<u64> {
        for _ in 0..apis.len() {
            let path = format!("/v1/operators/{}/nonce", self.sender.operator);
            if let Ok(response) = apis[*node].get(&path)
                && response.is_success()
                && let Some(nonce) = response.body["next_nonce"].as_u64()
            {
                return Some(nonce);
            }
            *node = (*node + 1) % apis.len();
        }
        None
    }

    fn submit_and_wait(&self, api: &Client, tx: &covenant_types::SignedTx) -> Outcome {
        let response = match api.submit(tx) {
            Ok(response) => response,
            Err(error) => return Outcome::Unknown { last: format!("submission: {error}") },
        };
        if !response.is_success() {
            return Outcome::Refused { status: response.status, error: response.body.to_string() };
        }
        let hash = tx.body.hash();
        let deadline = Instant::now() + self.options.commit_wait;
        let mut last = "pending".to_string();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(150));
            match api.get(&format!("/v1/txs/{hash}")) {
                Ok(answer) if answer.body["status"] == "committed" => {
                    let height = answer.body["height"].as_u64().expect("a committed transaction names its height");
                    return Outcome::Committed { height };
                }
                Ok(answer) => last = answer.body.to_string(),
                Err(error) => last = error.to_string(),
            }
        }
        Outcome::Unknown { last }
    }
}
