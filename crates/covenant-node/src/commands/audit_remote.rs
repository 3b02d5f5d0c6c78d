//! `covenant audit verify --api ADDR --operator ID --key FILE --peers A,B,...`: an auditor verifies a
//! running node's audit log from outside (COV-33, ADR 0020), trusting neither the node nor its
//! operator for the anchors:
//!
//! 1. the peers (`--peers`) must be nodes of at least two members other than the audited node's
//!    member, on the same chain;
//! 2. the anchors the audited node put on chain are listed by every peer from its own state
//!    (`GET /v1/nodes/{id}/anchors`, up to the lowest height the peers reached), and the lists must
//!    be identical;
//! 3. for each anchor, every peer returns the block at its height: the header hashes must be
//!    identical, the block's transaction hashes must make the header's `transactions_root`, the
//!    anchoring transaction must be among them, and the commit seals must be a quorum of valid seals
//!    of the validator set the peers report, when that set is the one the header names (a set changed
//!    since is said, and then only the peers' agreement stands); the anchored `(sequence, hash)` is
//!    read from the anchoring transaction itself (`GET /v1/txs/{hash}` from a peer, its body hash
//!    checked against the block);
//! 4. the audited node's entries are read through an auditor session (`GET /v1/audit`, every page)
//!    and every hash link is checked here;
//! 5. each anchored entry must be in the log with the anchored hash.
//!
//! Exit 0 when everything matches and at least one anchor covers the log (or `--accept-unanchored`),
//! 1 when something does not match or no anchor covers the log, 2 when the check could not be made
//! (unreachable node, too few independent peers).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use covenant_storage::AuditEntry;
use covenant_storage::audit::AuditPosition;
use covenant_types::{
    BlockHeader, ChainId, CommitSeal, Hash, MemberId, NodeId, OperatorId, Payload, Principal, SignedTx, Validator,
    ValidatorSet, merkle_root,
};

use crate::commands::Outcome;
use crate::commands::audit::VerifyReport;
use crate::commands::query::{Api, describe_error};

/// Entries read per page of `GET /v1/audit` (the API's maximum).
const AUDIT_PAGE_ENTRIES: usize = 1_000;
/// Pages of the audit log read at most (bounds a log that grows as fast as it is read).
const AUDIT_PAGES_MAX: usize = 1_000_000;
/// Anchors listed per page.
const ANCHOR_PAGE_ENTRIES: usize = 1_000;
/// Members other than the audited node's whose nodes must vouch for each anchor block.
pub const PEER_MEMBERS_MIN: usize = 2;

/// What the auditor gives.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// The audited node's API.
    pub api: String,
    /// The auditor's operator id (it must hold the auditor role).
    pub operator: String,
    /// The auditor's key file (32-byte seed as 64 hex digits).
    pub key: PathBuf,
    /// Other members' nodes' APIs.
    pub peers: Vec<String>,
    /// Print one JSON object.
    pub json: bool,
    /// Exit 0 when no anchor covers the log yet.
    pub accept_unanchored: bool,
}

/// A peer that vouches for blocks: another member's node.
struct Peer {
    api: Api,
    node: NodeId,
    member: MemberId,
    height: u64,
}

/// An anchor as the peers list it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Listed {
    sequence: u64,
    hash: Hash,
    height: u64,
    tx: Option<Hash>,
}

/// An anchor proven by the peers' blocks.
#[derive(Clone, Debug)]
struct Proven {
    sequence: u64,
    hash: Hash,
    height: u64,
    sealed: bool,
}

/// Runs the remote verification and prints its report.
pub fn verify_remote(options: &RemoteOptions, out: &mut dyn Write) -> Result<Outcome> {
    let audited = Api::new(&options.api)?;
    let (chain, node, _) = status(&audited)?;
    let peers = independent_peers(&options.peers, &chain, &node)?;
    let mut report = VerifyReport { node: node.to_string(), form: "remote", ..VerifyReport::default() };
    let members: BTreeSet<&MemberId> = peers.iter().map(|peer| &peer.member).collect();
    let members = members.iter().map(|member| member.to_string()).collect::<Vec<_>>().join(", ");

    let listed = match agreed_anchor_list(&peers, &node) {
        Ok(listed) => listed,
        Err(problem) => {
            report.problems.push(problem);
            return report.finish(options.json, options.accept_unanchored, out);
        }
    };
    let validators = agreed_validators(&peers)?;
    let mut proven = Vec::with_capacity(listed.len());
    for anchor in &listed {
        match prove_anchor(&peers, &chain, &node, &validators, anchor) {
            Ok(anchor) => proven.push(anchor),
            Err(problem) => {
                report.problems.push(problem);
                return report.finish(options.json, options.accept_unanchored, out);
            }
        }
    }

    let token = open_session(&audited, &chain, options)?;
    let wanted: BTreeSet<u64> = proven.iter().map(|anchor| anchor.sequence).collect();
    let log = match read_log(&audited, &token, &wanted) {
        Ok(log) => log,
        Err(problem) => {
            report.problems.push(problem);
            return report.finish(options.json, options.accept_unanchored, out);
        }
    };
    report.entries = Some(log.chain.entries);
    report.head = log.chain.last;
    if let Err(problem) = compare(&log, &proven, &members) {
        report.problems.push(problem);
        return report.finish(options.json, options.accept_unanchored, out);
    }
    let checked: Vec<&Proven> =
        proven.iter().filter(|anchor| log.first.is_none_or(|first| anchor.sequence >= first)).collect();
    report.anchors = checked.len() as u64;
    report.anchors_sealed = checked.iter().filter(|anchor| anchor.sealed).count() as u64;
    report.last_anchor = checked.last().map(|anchor| (anchor.sequence, anchor.height));
    report.sources.push(format!(
        "anchors read from the AuditAnchor transactions in blocks that the nodes {} (members {members}) returned identically; \
         each block's transactions checked against its header",
        peers.iter().map(|peer| peer.node.to_string()).collect::<Vec<_>>().join(", "),
    ));
    let unsealed = report.anchors - report.anchors_sealed;
    report.sources.push(format!(
        "commit seals checked against the peers' validator set for {} of {} anchor blocks{}",
        report.anchors_sealed,
        report.anchors,
        if unsealed == 0 {
            String::new()
        } else {
            format!(" ({unsealed} decided by a validator set changed since: those rest on the peers' agreement alone)")
        }
    ));
    report.sources.push(format!(
        "entries read from {} through an auditor session; every hash link checked here{}",
        audited.address(),
        log.first
            .filter(|first| *first > 0)
            .map_or(String::new(), |first| format!(" from entry {first} (earlier entries pruned)"))
    ));
    report.finish(options.json, options.accept_unanchored, out)
}

/// `(chain, node, height)` from `GET /v1/status`.
fn status(api: &Api) -> Result<(ChainId, NodeId, u64)> {
    let status = api.get_object("/v1/status")?;
    let text = |field: &str| {
        status
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("GET /v1/status on {} has no {field}: {status}", api.address()))
    };
    let chain = ChainId::new(text("chain_id")?).context("chain_id")?;
    let node = NodeId::new(text("node_id")?).context("node_id")?;
    let height = status.get("height").and_then(Value::as_u64).unwrap_or(0);
    Ok((chain, node, height))
}

/// The peers, each a node of a member other than the audited node's, on the same chain; at least
/// [`PEER_MEMBERS_MIN`] members among them.
fn independent_peers(addresses: &[String], chain: &ChainId, audited: &NodeId) -> Result<Vec<Peer>> {
    let mut peers = Vec::new();
    for address in addresses {
        let api = Api::new(address).with_context(|| format!("--peers {address}"))?;
        let (peer_chain, node, height) = status(&api)?;
        if &peer_chain != chain {
            bail!("peer {address} is on chain {peer_chain}, the audited node on {chain}");
        }
        let registry = api.get_object("/v1/nodes")?;
        let members = node_members(&registry).with_context(|| format!("GET /v1/nodes on {address}"))?;
        let member =
            members.get(&node).cloned().ok_or_else(|| anyhow!("peer {address} ({node}) is not a registered node"))?;
        let audited_member = members
            .get(audited)
            .ok_or_else(|| anyhow!("{audited} is not a node registered on chain (as {address} sees it)"))?;
        if &node == audited || &member == audited_member {
            bail!(
                "peer {address} is {node} of member {member}, the audited node's own member: its copy of the chain proves nothing \
                 about that member's log; give nodes of other members"
            );
        }
        peers.push(Peer { api, node, member, height });
    }
    let members: BTreeSet<&MemberId> = peers.iter().map(|peer| &peer.member).collect();
    if members.len() < PEER_MEMBERS_MIN {
        bail!(
            "--peers must name nodes of at least {PEER_MEMBERS_MIN} members other than the audited node's (given: {})",
            if members.is_empty() {
                "none".to_string()
            } else {
                members.iter().map(|member| member.to_string()).collect::<Vec<_>>().join(", ")
            }
        );
    }
    Ok(peers)
}

/// Node → member, from a `GET /v1/nodes` answer.
fn node_members(registry: &Value) -> Result<BTreeMap<NodeId, MemberId>> {
    let nodes = registry.get("nodes").and_then(Value::as_array).ok_or_else(|| anyhow!("no nodes list"))?;
    nodes
        .iter()
        .map(|node| {
            let id = node.get("id").and_then(Value::as_str).ok_or_else(|| anyhow!("a node without id"))?;
            let member =
                node.get("member").and_then(Value::as_str).ok_or_else(|| anyhow!("node {id} without member"))?;
            Ok((NodeId::new(id)?, MemberId::new(member)?))
        })
        .collect()
}

/// The anchors of `node` up to the lowest peer height, identical in every peer's list.
fn agreed_anchor_list(peers: &[Peer], node: &NodeId) -> Result<Vec<Listed>, String> {
    let height_max = peers.iter().map(|peer| peer.height).min().unwrap_or(0);
    let mut lists = Vec::with_capacity(peers.len());
    for peer in peers {
        let listed: Vec<Listed> = list_anchors(&peer.api, node)
            .map_err(|error| format!("listing the anchors of {node} on {}: {error:#}", peer.node))?
            .into_iter()
            .filter(|anchor| anchor.height <= height_max)
            .collect();
        lists.push((peer.node.clone(), listed));
    }
    agreed(lists).map_err(|(first, first_list, other, other_list)| {
        format!(
            "the peers disagree on the anchors of {node} up to height {height_max}: {first} lists {}, {other} lists {}",
            describe(&first_list),
            describe(&other_list)
        )
    })
}

/// The one value every peer answered, or the first peer that answered otherwise than the first:
/// (first peer, its value, that peer, its value).
fn agreed<T: PartialEq>(answers: Vec<(NodeId, T)>) -> Result<T, (NodeId, T, NodeId, T)> {
    let mut answers = answers.into_iter();
    let (first, value) = answers.next().expect("at least one peer answers (two members are required)");
    for (other, answer) in answers {
        if answer != value {
            return Err((first, value, other, answer));
        }
    }
    Ok(value)
}

fn describe(anchors: &[Listed]) -> String {
    let shown: Vec<String> =
        anchors.iter().map(|anchor| format!("entry {} at height {}", anchor.sequence, anchor.height)).collect();
    if shown.is_empty() { "none".into() } else { shown.join(", ") }
}

/// Every anchor a peer lists for `node`, page by page.
fn list_anchors(api: &Api, node: &NodeId) -> Result<Vec<Listed>> {
    let mut anchors = Vec::new();
    let mut after: Option<u64> = None;
    loop {
        let mut path = format!("/v1/nodes/{node}/anchors?limit={ANCHOR_PAGE_ENTRIES}");
        if let Some(after) = after {
            path += &format!("&after={after}");
        }
        let page = api.get_object(&path)?;
        let listed = page.get("anchors").cloned().ok_or_else(|| anyhow!("GET {path}: no anchors"))?;
        let listed: Vec<Value> = serde_json::from_value(listed)?;
        for anchor in listed {
            let number = |field: &str| {
                anchor.get(field).and_then(Value::as_u64).ok_or_else(|| anyhow!("anchor without {field}: {anchor}"))
            };
            let hash = |field: &str| -> Result<Option<Hash>> {
                match anchor.get(field).and_then(Value::as_str) {
                    Some(text) => Ok(Some(Hash::from_hex(text).map_err(|error| anyhow!("{field}: {error}"))?)),
                    None => Ok(None),
                }
            };
            anchors.push(Listed {
                sequence: number("sequence")?,
                hash: hash("hash")?.ok_or_else(|| anyhow!("anchor without hash: {anchor}"))?,
                height: number("height")?,
                tx: hash("tx")?,
            });
        }
        match page.get("next_after").and_then(Value::as_u64) {
            Some(next) => after = Some(next),
            None => return Ok(anchors),
        }
    }
}

/// The validator set, identical on every peer.
fn agreed_validators(peers: &[Peer]) -> Result<ValidatorSet> {
    let mut sets = Vec::with_capacity(peers.len());
    for peer in peers {
        let answer = peer.api.get_object("/v1/validators")?;
        let listed = answer.get("validators").and_then(Value::as_array).ok_or_else(|| anyhow!("no validators"))?;
        let validators = listed
            .iter()
            .map(|validator| {
                Ok(Validator {
                    id: serde_json::from_value(validator.get("node").cloned().unwrap_or(Value::Null))?,
                    consensus_key: serde_json::from_value(
                        validator.get("consensus_key").cloned().unwrap_or(Value::Null),
                    )?,
                })
            })
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("GET /v1/validators on {}", peer.node))?;
        sets.push((peer.node.clone(), ValidatorSet::new(validators)?));
    }
    agreed(sets)
        .map_err(|(first, _, other, _)| anyhow!("the peers report different validator sets: {first} and {other}"))
}

/// The anchor as the peers' blocks prove it, or what does not hold.
fn prove_anchor(
    peers: &[Peer],
    chain: &ChainId,
    node: &NodeId,
    validators: &ValidatorSet,
    anchor: &Listed,
) -> Result<Proven, String> {
    let what = format!("anchor of entry {} at height {}", anchor.sequence, anchor.height);
    let tx_hash = anchor.tx.ok_or_else(|| format!("{what}: the peers find no anchoring transaction in that block"))?;
    let mut hashes = Vec::with_capacity(peers.len());
    let mut sealed = true;
    for peer in peers {
        let block = peer
            .api
            .get_object(&format!("/v1/blocks/{}", anchor.height))
            .map_err(|error| format!("{what}: block from {}: {error:#}", peer.node))?;
        let (header, tx_hashes, seals) =
            parse_block(&block).map_err(|error| format!("{what}: block from {}: {error:#}", peer.node))?;
        hashes.push((peer.node.clone(), header.hash()));
        check_block(chain, validators, &header, &tx_hashes, &seals, tx_hash)
            .map_err(|reason| format!("{what}: the block from {}: {reason}", peer.node))?;
        sealed &= validators.hash() == header.validator_set_hash;
    }
    agreed(hashes).map_err(|(first, first_hash, other, other_hash)| {
        format!("{what}: {first} returns block {first_hash}, {other} returns block {other_hash}: the peers disagree")
    })?;
    let peer = &peers[0];
    let answer = peer
        .api
        .get_object(&format!("/v1/txs/{tx_hash}"))
        .map_err(|error| format!("{what}: anchoring transaction from {}: {error:#}", peer.node))?;
    let tx: SignedTx = serde_json::from_value(answer.get("tx").cloned().unwrap_or(Value::Null))
        .map_err(|error| format!("{what}: the anchoring transaction from {} does not parse: {error}", peer.node))?;
    let hash = anchored_by(&tx, tx_hash, node, anchor.sequence).map_err(|reason| format!("{what}: {reason}"))?;
    if hash != anchor.hash {
        return Err(format!(
            "{what}: {} lists hash {}, the transaction in the block says {hash}",
            peer.node, anchor.hash
        ));
    }
    Ok(Proven { sequence: anchor.sequence, hash, height: anchor.height, sealed })
}

/// Header, transaction hashes and commit seals of a `GET /v1/blocks/{id}` answer; the header's hash
/// is recomputed here (the answer's `hash` field is not trusted).
fn parse_block(block: &Value) -> Result<(BlockHeader, Vec<Hash>, Vec<CommitSeal>)> {
    let field = |name: &str| block.get(name).cloned().ok_or_else(|| anyhow!("no {name}"));
    let header: BlockHeader = serde_json::from_value(field("header")?).context("header")?;
    let tx_hashes: Vec<Hash> = serde_json::from_value(field("transactions")?).context("transactions")?;
    let seals: Option<Vec<CommitSeal>> = serde_json::from_value(field("commit_seals")?).context("commit_seals")?;
    Ok((header, tx_hashes, seals.unwrap_or_default()))
}

/// A block as a peer returned it proves `tx` final: its transactions make its header's root, `tx`
/// is one of them, and (when `validators` is the set the header names) its seals are a quorum.
pub fn check_block(
    chain: &ChainId,
    validators: &ValidatorSet,
    header: &BlockHeader,
    tx_hashes: &[Hash],
    seals: &[CommitSeal],
    tx: Hash,
) -> Result<(), String> {
    let root = merkle_root(tx_hashes);
    if root != header.transactions_root {
        return Err(format!("its transactions hash to {root}, its header says {}", header.transactions_root));
    }
    if !tx_hashes.contains(&tx) {
        return Err(format!("it does not hold transaction {tx}"));
    }
    if validators.hash() == header.validator_set_hash {
        covenant_consensus::verify_commit_seals(chain, validators, header, seals)
            .map_err(|reason| format!("its commit seals do not prove it final: {reason}"))?;
    }
    Ok(())
}

/// The hash `tx` anchors for entry `sequence` of `node`'s log, checking it is that transaction.
pub fn anchored_by(tx: &SignedTx, tx_hash: Hash, node: &NodeId, sequence: u64) -> Result<Hash, String> {
    if tx.body.hash() != tx_hash {
        return Err(format!("the transaction served hashes to {}, the block holds {tx_hash}", tx.body.hash()));
    }
    match (&tx.body.sender, &tx.body.payload) {
        (Principal::Node(sender), Payload::AuditAnchor(anchor)) if sender == node && anchor.sequence == sequence => {
            Ok(anchor.hash)
        }
        _ => Err(format!("transaction {tx_hash} is not {node}'s anchor of entry {sequence}")),
    }
}

/// A hash chain checked link by link as its entries arrive (the client side of `GET /v1/audit`).
#[derive(Debug, Default)]
pub struct ClientChain {
    /// The last entry accepted.
    pub last: Option<AuditPosition>,
    /// Entries accepted.
    pub entries: u64,
}

impl ClientChain {
    /// Accepts `entry` if it hashes to its hash and links to the entry before (the first entry
    /// served must be entry 0 linking to zero, or the first after a pruning checkpoint).
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), String> {
        let sequence = entry.sequence;
        let computed = entry.compute_hash();
        if computed != entry.hash {
            return Err(format!(
                "entry {sequence} edited: its fields hash to {computed}, the served hash is {}",
                entry.hash
            ));
        }
        match self.last {
            None if sequence == 0 && entry.prev_hash != Hash::ZERO => {
                return Err(format!("entry 0 links to {}, not to zero", entry.prev_hash));
            }
            None => {}
            Some(last) if sequence != last.sequence + 1 => {
                return Err(format!(
                    "entry {} is followed by entry {sequence}: entries are missing or out of order",
                    last.sequence
                ));
            }
            Some(last) if entry.prev_hash != last.hash => {
                return Err(format!(
                    "entry {sequence} links to {}, but entry {} hashes to {}: the chain is broken",
                    entry.prev_hash, last.sequence, last.hash
                ));
            }
            Some(_) => {}
        }
        self.last = Some(entry.position());
        self.entries += 1;
        Ok(())
    }
}

/// The served log, checked.
struct ServedLog {
    chain: ClientChain,
    /// The first entry served.
    first: Option<u64>,
    /// Hashes of the anchored entries, as served.
    found: BTreeMap<u64, Hash>,
}

/// Opens an auditor session on the audited node.
fn open_session(api: &Api, chain: &ChainId, options: &RemoteOptions) -> Result<String> {
    let operator = OperatorId::new(options.operator.as_str()).context("--operator")?;
    let key = crate::keyfile::read_plaintext_key(&options.key)?;
    let request = crate::auth::sign_session(chain, &operator, &key.key, crate::runtime::chain::now_ms());
    let client = api.client();
    let response = client
        .post_json("/v1/auth/sessions", &request)
        .map_err(|error| anyhow!("opening a session on {}: {error}", api.address()))?;
    if !response.is_success() {
        bail!("opening a session on {} as {operator}: {}", api.address(), describe_error(&response));
    }
    response.body.get("token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| anyhow!("no session token"))
}

/// Reads every entry through the session, checking the chain; remembers the hashes of `wanted`.
fn read_log(api: &Api, token: &str, wanted: &BTreeSet<u64>) -> Result<ServedLog, String> {
    let client = api.client();
    let mut log = ServedLog { chain: ClientChain::default(), first: None, found: BTreeMap::new() };
    let mut from = 0u64;
    for _ in 0..AUDIT_PAGES_MAX {
        let path = format!("/v1/audit?from={from}&limit={AUDIT_PAGE_ENTRIES}");
        let response = client.get_in_session(&path, token).map_err(|error| format!("GET {path}: {error}"))?;
        if !response.is_success() {
            return Err(format!("GET {path} on {}: {}", api.address(), describe_error(&response)));
        }
        let entries: Vec<AuditEntry> =
            serde_json::from_value(response.body.get("entries").cloned().unwrap_or(Value::Null))
                .map_err(|error| format!("GET {path}: the entries do not parse: {error}"))?;
        for entry in &entries {
            log.chain.push(entry)?;
            log.first.get_or_insert(entry.sequence);
            if wanted.contains(&entry.sequence) {
                log.found.insert(entry.sequence, entry.hash);
            }
        }
        // Each read appends an `audit_read` entry: stop at a short page, not at an empty one.
        match entries.last() {
            Some(last) if entries.len() == AUDIT_PAGE_ENTRIES => from = last.sequence + 1,
            _ => return Ok(log),
        }
    }
    Err(format!("the log grew faster than it was read ({AUDIT_PAGES_MAX} pages)"))
}

/// Each proven anchor against the served log; the first that does not hold.
fn compare(log: &ServedLog, proven: &[Proven], members: &str) -> Result<(), String> {
    let mut previous: Option<&Proven> = None;
    for anchor in proven {
        let since = previous.map_or(String::new(), |previous| {
            format!(", after entry {}, which still matches its anchor at height {}", previous.sequence, previous.height)
        });
        let anchor_in = format!(
            "anchor of entry {} in block {} (returned identically by nodes of members {members})",
            anchor.sequence, anchor.height
        );
        if log.first.is_some_and(|first| anchor.sequence < first) {
            continue;
        }
        match log.found.get(&anchor.sequence) {
            None => {
                let end = log.chain.last.map_or("nothing".to_string(), |last| format!("entry {}", last.sequence));
                return Err(format!(
                    "{anchor_in}: the node serves a log that ends at {end}: its tail was deleted{since}"
                ));
            }
            Some(found) if *found != anchor.hash => {
                return Err(format!(
                    "{anchor_in}: anchored hash {}, the node serves entry {} with hash {found}: the log was rewritten at or before entry {}{since}",
                    anchor.hash, anchor.sequence, anchor.sequence
                ));
            }
            Some(_) => previous = Some(anchor),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome as AuditOutcome};
    use covenant_types::{AuditAnchor, ENCODING_VERSION, SecretKey, TxBody};

    fn entries(count: u64) -> Vec<AuditEntry> {
        let node = NodeId::new("validator-0").unwrap();
        let mut previous = Hash::ZERO;
        (0..count)
            .map(|sequence| {
                let record = AuditRecord::new(
                    sequence,
                    node.clone(),
                    EventType::NodeStarted,
                    Actor::System,
                    AuditOutcome::Success,
                );
                let entry = AuditEntry::seal(sequence, previous, record);
                previous = entry.hash;
                entry
            })
            .collect()
    }

    #[test]
    fn the_client_checks_every_hash_link_of_the_served_log() {
        let log = entries(4);
        let mut chain = ClientChain::default();
        for entry in &log {
            chain.push(entry).unwrap();
        }
        assert_eq!((chain.entries, chain.last), (4, Some(log[3].position())));

        let mut edited = log[2].clone();
        edited.outcome = AuditOutcome::Failure;
        let mut chain = ClientChain::default();
        chain.push(&log[0]).unwrap();
        chain.push(&log[1]).unwrap();
        assert!(chain.push(&edited).unwrap_err().contains("entry 2 edited"));

        // Rewritten and re-hashed: the next entry's link breaks.
        let relinked = AuditEntry::seal(
            2,
            log[1].hash,
            AuditRecord::new(9, log[2].node.clone(), EventType::NodeStopped, Actor::System, AuditOutcome::Success),
        );
        let mut chain = ClientChain::default();
        for entry in [&log[0], &log[1], &relinked] {
            chain.push(entry).unwrap();
        }
        assert!(chain.push(&log[3]).unwrap_err().contains("the chain is broken"));

        let mut chain = ClientChain::default();
        chain.push(&log[0]).unwrap();
        assert!(chain.push(&log[2]).unwrap_err().contains("missing or out of order"));

        let mut forged_start = log[0].clone();
        forged_start.prev_hash = log[3].hash;
        forged_start.hash = forged_start.compute_hash();
        assert!(ClientChain::default().push(&forged_start).unwrap_err().contains("not to zero"));
    }

    #[test]
    fn peers_must_answer_identically() {
        let peer = |name: &str| NodeId::new(name).unwrap();
        let listed = |height: u64| Listed { sequence: 7, hash: Hash::digest(b"entry 7"), height, tx: None };
        let same = vec![(peer("validator-1"), vec![listed(20)]), (peer("validator-2"), vec![listed(20)])];
        assert_eq!(agreed(same), Ok(vec![listed(20)]));
        let differ = vec![
            (peer("validator-1"), vec![listed(20)]),
            (peer("validator-2"), vec![listed(20)]),
            (peer("validator-3"), vec![listed(30)]),
        ];
        let (first, _, other, answer) = agreed(differ).unwrap_err();
        assert_eq!((first, other, answer), (peer("validator-1"), peer("validator-3"), vec![listed(30)]));
    }

    #[test]
    fn an_anchor_is_read_from_the_transaction_the_block_holds() {
        let chain = ChainId::new("covenant-local").unwrap();
        let node = NodeId::new("validator-0").unwrap();
        let key = SecretKey::from_seed(&[3; 32]);
        let anchored = Hash::digest(b"entry 7");
        let tx = SignedTx::sign(
            TxBody {
                version: ENCODING_VERSION,
                chain_id: chain.clone(),
                sender: Principal::Node(node.clone()),
                nonce: 0,
                created_at_ms: 1,
                payload: Payload::AuditAnchor(AuditAnchor { sequence: 7, hash: anchored }),
            },
            &key,
        );
        let hash = tx.body.hash();
        assert_eq!(anchored_by(&tx, hash, &node, 7), Ok(anchored));
        assert!(anchored_by(&tx, Hash::digest(b"other"), &node, 7).unwrap_err().contains("hashes to"));
        assert!(anchored_by(&tx, hash, &NodeId::new("validator-1").unwrap(), 7).is_err());
        assert!(anchored_by(&tx, hash, &node, 8).is_err());
    }

    #[test]
    fn a_rewritten_or_truncated_log_fails_against_the_proven_anchors() {
        let log_entries = entries(10);
        let mut chain = ClientChain::default();
        let mut found = BTreeMap::new();
        for entry in &log_entries {
            chain.push(entry).unwrap();
            found.insert(entry.sequence, entry.hash);
        }
        let log = ServedLog { chain, first: Some(0), found };
        let anchor = |sequence: usize, hash: Hash| Proven {
            sequence: sequence as u64,
            hash,
            height: 10 * sequence as u64,
            sealed: true,
        };
        compare(&log, &[anchor(3, log_entries[3].hash), anchor(8, log_entries[8].hash)], "bank-1, bank-2").unwrap();

        let rewritten =
            compare(&log, &[anchor(3, log_entries[3].hash), anchor(8, Hash::digest(b"original"))], "bank-1, bank-2")
                .unwrap_err();
        assert!(
            rewritten.contains("anchor of entry 8") && rewritten.contains("rewritten at or before entry 8"),
            "{rewritten}"
        );
        assert!(rewritten.contains("after entry 3"), "{rewritten}");

        let beyond = compare(&log, &[anchor(12, Hash::digest(b"later"))], "bank-1, bank-2").unwrap_err();
        assert!(beyond.contains("tail was deleted"), "{beyond}");
    }

    #[test]
    fn a_block_proves_its_anchor_only_with_matching_transactions_and_a_quorum_of_seals() {
        let chain = ChainId::new("covenant-local").unwrap();
        let keys: Vec<SecretKey> = (0..4u8).map(|index| SecretKey::from_seed(&[index + 1; 32])).collect();
        let validators = ValidatorSet::new(
            keys.iter()
                .enumerate()
                .map(|(index, key)| Validator {
                    id: NodeId::new(format!("validator-{index}")).unwrap(),
                    consensus_key: key.public_key(),
                })
                .collect(),
        )
        .unwrap();
        let txs = vec![Hash::digest(b"anchor"), Hash::digest(b"transfer")];
        let header = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: chain.clone(),
            height: 20,
            round: 0,
            parent_hash: Hash::digest(b"parent"),
            timestamp_ms: 5,
            proposer: NodeId::new("validator-0").unwrap(),
            transactions_root: merkle_root(&txs),
            state_root: Hash::digest(b"state"),
            validator_set_hash: validators.hash(),
            parameters_hash: Hash::digest(b"params"),
            parent_commit_seals: vec![],
        };
        let vote = covenant_types::SealedVote { height: 20, round: 0, block_hash: header.hash() };
        let seals: Vec<CommitSeal> = (0..3)
            .map(|index| {
                CommitSeal::sign(NodeId::new(format!("validator-{index}")).unwrap(), &keys[index], &chain, &vote)
            })
            .collect();
        check_block(&chain, &validators, &header, &txs, &seals, txs[0]).unwrap();
        assert!(
            check_block(&chain, &validators, &header, &txs[..1], &seals, txs[0])
                .unwrap_err()
                .contains("its header says")
        );
        assert!(
            check_block(&chain, &validators, &header, &txs, &seals, Hash::digest(b"x"))
                .unwrap_err()
                .contains("does not hold")
        );
        assert!(check_block(&chain, &validators, &header, &txs, &seals[..2], txs[0]).unwrap_err().contains("quorum"));
    }
}
