//! The workload: sender operators read from a consortium directory, and the transfers they send, built
//! and signed before the timed window.
//!
//! Transaction i (in due order) is sent by sender `i mod K` with that sender's next nonce; its
//! recipient (another member's treasury) and amount come from `splitmix64(seed, i)`, so the same seed
//! gives the same workload shape. Signatures depend on the senders' keys, which `covenant init`
//! draws at random.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use covenant_client::{Client, transfer};
use covenant_rules::RawGenesis;
use covenant_types::{AccountId, AssetId, ChainId, OperatorId, SecretKey};

use crate::commands::init;
use crate::keyfile::read_plaintext_key;
use crate::runtime::chain::now_ms;

/// Largest genesis file read (4,096 bench senders take about 1.5 MiB).
const GENESIS_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// Transactions signed between two looks at the stop flag.
const SIGN_CHUNK_TXS: usize = 4_096;
/// Largest transfer amount, in the asset's smallest unit (amounts are 1 to this).
const AMOUNT_MAX: u64 = 100;

/// One sender operator and the account it debits.
pub struct Sender {
    /// Operator id, e.g. `bank-1.bench-5`.
    pub operator: OperatorId,
    /// Its key.
    pub key: SecretKey,
    /// The account it debits, e.g. `bank-1/bench-5`.
    pub account: AccountId,
}

/// The bench senders of a consortium.
pub struct Senders {
    chain: ChainId,
    senders: Vec<Sender>,
    recipients: Vec<AccountId>,
}

impl Senders {
    /// Reads the first `count` bench senders (`<member>.bench-<n>`, n < count) of the consortium in
    /// `dir` (its `genesis.toml` and `keys/`), and the members' treasuries as recipients.
    pub fn load(dir: &Path, count: usize) -> Result<Senders> {
        let path = dir.join("genesis.toml");
        let size = std::fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?.len();
        ensure!(size <= GENESIS_BYTES_MAX, "{} is {size} bytes, more than any genesis file", path.display());
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let raw = RawGenesis::from_toml_str(&text).map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?;
        let chain = ChainId::new(raw.chain_id.as_str())?;
        let mut found: Vec<Option<(String, String)>> = vec![None; count];
        for operator in &raw.operators {
            let Some((member, suffix)) = operator.id.split_once('.') else { continue };
            let Some(number) = suffix.strip_prefix("bench-").and_then(|number| number.parse::<usize>().ok()) else {
                continue;
            };
            if member == operator.member
                && let Some(slot) = found.get_mut(number)
            {
                *slot = Some((operator.id.clone(), format!("{member}/{suffix}")));
            }
        }
        let available = found.iter().filter(|slot| slot.is_some()).count();
        if available < count {
            bail!(
                "{} has {available} of the {count} bench senders asked for (operators named <member>.bench-<n>, \
                 n below {count}); write the consortium with `covenant init --bench-senders {count}`, or lower \
                 --senders",
                dir.display()
            );
        }
        let mut senders = Vec::with_capacity(count);
        for (operator, account) in found.into_iter().flatten() {
            ensure!(
                raw.accounts.iter().any(|raw_account| raw_account.id == account),
                "{}: bench sender {operator} has no account {account} in genesis",
                path.display()
            );
            let key = read_plaintext_key(&init::key_path(dir, &operator))?.key;
            senders.push(Sender { operator: OperatorId::new(operator)?, key, account: AccountId::new(account)? });
        }
        let recipients = raw
            .members
            .iter()
            .map(|member| AccountId::new(format!("{}/treasury", member.id)))
            .collect::<Result<Vec<_>, _>>()?;
        ensure!(!recipients.is_empty(), "{} names no members", path.display());
        Ok(Senders { chain, senders, recipients })
    }

    /// Number of senders.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// The chain the senders belong to.
    pub fn chain(&self) -> &ChainId {
        &self.chain
    }

    /// Each sender's next nonce, asked of the node its connection is bound to (sender k uses
    /// connection `k mod connections`, connection c talks to node `c mod nodes`).
    pub fn next_nonces(&self, apis: &[SocketAddr], connections: usize) -> Result<Vec<u64>> {
        let mut nonces = Vec::with_capacity(self.senders.len());
        for (index, sender) in self.senders.iter().enumerate() {
            let api = apis[node_of_sender(index, connections, apis.len())];
            let client = Client::new(api).with_timeout(Duration::from_secs(10));
            let answer = client
                .get(&format!("/v1/operators/{}/nonce", sender.operator))
                .with_context(|| format!("reading the nonce of {} from {api}", sender.operator))?;
            let Some(nonce) = answer.body["next_nonce"].as_u64() else {
                bail!("{api} answered {} for the nonce of {}: {}", answer.status, sender.operator, answer.body);
            };
            nonces.push(nonce);
        }
        Ok(nonces)
    }
}

/// The connection sender `index` uses.
pub fn connection_of_sender(index: usize, connections: usize) -> usize {
    index % connections.max(1)
}

/// The node sender `index` sends to.
pub fn node_of_sender(index: usize, connections: usize, nodes: usize) -> usize {
    connection_of_sender(index, connections) % nodes.max(1)
}

/// What to generate.
pub struct Plan<'a> {
    /// Who sends.
    pub senders: &'a Senders,
    /// Each sender's next nonce.
    pub nonces: &'a [u64],
    /// Transactions in all.
    pub count: u64,
    /// Workload seed.
    pub seed: u64,
    /// Set on Ctrl-C: generation stops with an error.
    pub stop: &'a AtomicBool,
}

/// The signed transactions of one measurement, in due order, and an index from hash to position.
pub struct Workload {
    txs: Vec<Box<[u8]>>,
    index: Arc<[(u64, u32)]>,
    first_nonces: Vec<u64>,
}

impl Workload {
    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// The nonce of sender `sender`'s first transaction here.
    pub fn first_nonce(&self, sender: usize) -> Option<u64> {
        self.first_nonces.get(sender).copied()
    }

    /// How many transactions sender `sender` sends here (positions `sender + j × senders`).
    pub fn sender_txs(&self, sender: usize) -> u64 {
        let (count, senders) = (self.txs.len() as u64, self.first_nonces.len().max(1) as u64);
        count.saturating_sub(sender as u64).div_ceil(senders)
    }

    /// The canonical bytes of transaction `index`.
    pub fn bytes(&self, index: usize) -> &[u8] {
        &self.txs[index]
    }

    /// (first 8 bytes of the hash, position) sorted by hash: the follower finds a committed
    /// transaction here by binary search. Two of a workload's hashes sharing 64 bits is a chance of
    /// about n² / 2⁶⁵, negligible at the workload limit.
    pub fn index(&self) -> Arc<[(u64, u32)]> {
        self.index.clone()
    }
}

/// The first 8 bytes of a hash as a number: the key of [`Workload::index`].
pub fn hash_key(hash: &covenant_types::Hash) -> u64 {
    let bytes = hash.as_bytes();
    u64::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]])
}

/// A signed transaction's canonical bytes and its [`hash_key`].
type SignedEntry = (Box<[u8]>, u64);

/// Builds and signs the workload, spreading the signing over the cores.
pub fn generate(plan: &Plan<'_>) -> Result<Workload> {
    let count = usize::try_from(plan.count).context("workload too large for this machine")?;
    ensure!(count <= u32::MAX as usize, "workload of {count} transactions is too large");
    ensure!(plan.nonces.len() == plan.senders.len(), "one nonce per sender expected");
    let asset = AssetId::new(init::DEMO_ASSET)?;
    let created_at_ms = now_ms();
    let threads = std::thread::available_parallelism().map(usize::from).unwrap_or(1).clamp(1, 16);
    let share = count.div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<SignedEntry>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let start = (thread * share).min(count);
                let end = ((thread + 1) * share).min(count);
                let asset = asset.clone();
                scope.spawn(move || sign_range(plan, start..end, &asset, created_at_ms))
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap_or_else(|_| bail!("a signing thread panicked"))).collect()
    });
    let mut txs = Vec::with_capacity(count);
    let mut index = Vec::with_capacity(count);
    for part in parts {
        for (bytes, key) in part? {
            index.push((key, txs.len() as u32));
            txs.push(bytes);
        }
    }
    index.sort_unstable();
    Ok(Workload { txs, index: index.into(), first_nonces: plan.nonces.to_vec() })
}

fn sign_range(
    plan: &Plan<'_>,
    range: std::ops::Range<usize>,
    asset: &AssetId,
    created_at_ms: u64,
) -> Result<Vec<SignedEntry>> {
    let senders = plan.senders.senders.len();
    let recipients = &plan.senders.recipients;
    let mut signed = Vec::with_capacity(range.len());
    for position in range {
        if position % SIGN_CHUNK_TXS == 0 && plan.stop.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        let sender_index = position % senders;
        let sender = &plan.senders.senders[sender_index];
        let nonce = plan.nonces[sender_index] + (position / senders) as u64;
        let random = splitmix64(plan.seed ^ (position as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let to = recipients[(random % recipients.len() as u64) as usize].clone();
        let amount = 1 + (random >> 32) % AMOUNT_MAX;
        let tx = transfer(
            &plan.senders.chain,
            &sender.operator,
            &sender.key,
            nonce,
            created_at_ms,
            sender.account.clone(),
            to,
            asset.clone(),
            amount,
        );
        signed.push((tx.encode().into_boxed_slice(), hash_key(&tx.body.hash())));
    }
    Ok(signed)
}

/// SplitMix64: a small, good 64-bit mixer (Steele, Lea and Flood 2014).
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_spread_over_connections_and_nodes() {
        assert_eq!(connection_of_sender(130, 128), 2);
        assert_eq!(node_of_sender(130, 128, 4), 2);
        assert_eq!(node_of_sender(5, 3, 4), 2);
        assert_eq!(node_of_sender(5, 0, 0), 0);
    }

    #[test]
    fn splitmix_is_deterministic_and_mixes() {
        assert_eq!(splitmix64(1), splitmix64(1));
        assert_ne!(splitmix64(1), splitmix64(2));
    }
}
