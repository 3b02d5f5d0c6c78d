//! The HTTP API (JSON). Errors are JSON objects `{ "error", "rule", "article" }`; `rule` and `article`
//! are present when a covenant rule refused the request.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use covenant_storage::ChainStore;
use covenant_types::Hash;
use covenant_types::limits::{TX_BATCH_BYTES_MAX, TX_BATCH_TXS_MAX, TX_BYTES_MAX};

use covenant_execution::{
    ContractState, MemberState, NodeState, OperatorState, ProposalState, ProposalStatus, StateKey, StateReader,
};

use crate::metrics::Gauges;
use crate::runtime::chain::{StoreState, scan_table};
use crate::runtime::shared::Shared;
use covenant_core::AdmissionError;

/// Largest request body accepted (a hex-encoded transaction in JSON, with room for the wrapper).
pub const REQUEST_BODY_BYTES_MAX: usize = 2 * TX_BYTES_MAX + 1024;

/// Largest batch request body (a batch of hex-encoded transactions in JSON, with room for quotes).
pub const BATCH_REQUEST_BODY_BYTES_MAX: usize = 2 * TX_BATCH_BYTES_MAX + 4 * TX_BATCH_TXS_MAX + 1024;

/// An API error as JSON.
#[derive(Debug, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    status: StatusCode,
    /// What went wrong.
    pub error: String,
    /// The covenant rule that refused the request, e.g. `COV-34-ORDERED-NONCES`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<&'static str>,
    /// The article of that rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub article: Option<u8>,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError { status, error: error.into(), rule: None, article: None }
    }

    /// An error answered with `status`.
    pub(crate) fn with_status(status: StatusCode, error: impl Into<String>) -> ApiError {
        ApiError::new(status, error)
    }

    /// A failure inside the node: logged in full, answered without details (they may name paths or
    /// internals a client has no business seeing).
    pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
        static REFERENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let reference = REFERENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::error!(reference, %error, "API request failed inside the node");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (reference {reference} in the node's log)"),
        )
    }
}

impl From<AdmissionError> for ApiError {
    fn from(error: AdmissionError) -> ApiError {
        let status = match &error {
            AdmissionError::Duplicate(_) => StatusCode::CONFLICT,
            AdmissionError::State(_) | AdmissionError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AdmissionError::Violation(
                covenant_rules::Violation::MempoolFull { .. } | covenant_rules::Violation::MemberRateExceeded { .. },
            ) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        let rule = error.rule();
        ApiError {
            status,
            error: error.to_string(),
            rule: rule.map(|rule| rule.id()),
            article: rule.map(|rule| rule.article()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The largest body a request to `path` may carry (what the router's `DefaultBodyLimit`s allow), so
/// that the edge refuses a larger declared length before reading any of it.
pub fn body_bytes_max(path: &str) -> usize {
    if path == "/v1/txs/batch" { BATCH_REQUEST_BODY_BYTES_MAX } else { REQUEST_BODY_BYTES_MAX }
}

/// The API's routes over the shared node state.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/status", get(status))
        .route("/v1/txs", post(submit))
        .route("/v1/txs/batch", post(submit_batch).layer(DefaultBodyLimit::max(BATCH_REQUEST_BODY_BYTES_MAX)))
        .route("/v1/txs/{hash}", get(transaction))
        .route("/v1/blocks/latest", get(latest_block))
        .route("/v1/blocks/{id}", get(block))
        .route("/v1/operators/{id}/nonce", get(operator_nonce))
        .route("/v1/accounts/{id}", get(account))
        .route("/v1/accounts/{id}/balances/{asset}", get(balance))
        .route("/v1/members", get(members))
        .route("/v1/nodes", get(nodes))
        .route("/v1/nodes/{id}/anchors", get(node_anchors))
        .route("/v1/validators", get(validators))
        .route("/v1/params", get(params))
        .route("/v1/operators", get(operators))
        .route("/v1/proposals", get(proposals))
        .route("/v1/proposals/{id}", get(proposal))
        .route("/v1/contracts", get(contracts))
        .route("/v1/contracts/{id}", get(contract))
        .route("/v1/contracts/{id}/storage/{key}", get(contract_storage))
        .route("/v1/contract-calls/{hash}", get(contract_call))
        .route("/v1/openapi.json", get(openapi))
        .merge(crate::access::routes())
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .with_state(shared)
}

/// Serves the API until `stop` flips to true, behind the bounds of [`crate::http_edge`]; `api_hosts`
/// are the DNS names clients may use for it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    api_hosts: Vec<String>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let metrics = shared.metrics.clone();
    let router = crate::http_edge::bounded(router(shared), api_hosts, metrics.clone());
    crate::http_edge::serve(listener, router, tls, metrics, stop).await;
}

/// `GET /readyz` (operations listener).
pub(crate) async fn ready(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    if status.peers > 0 || status.height > 0 {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: no peers and no blocks yet").into_response()
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> ApiResult {
    let status = shared.status();
    let (pending, pending_bytes) = {
        let mempool = shared.mempool();
        (mempool.len(), mempool.bytes())
    };
    Ok(Json(json!({
        "chain_id": shared.chain_id,
        "node_id": shared.node_id,
        "height": status.height,
        "last_block_hash": status.last_block_hash,
        "round": status.round,
        "peers": status.peers,
        "committed_txs": status.committed_txs,
        "round_changes": status.round_changes,
        "clock_offset_ms": status.clock_offset_ms,
        "mempool_txs": pending,
        "mempool_bytes": pending_bytes,
        "version": env!("CARGO_PKG_VERSION"),
        "audit_log": audit_log_status(&shared.view.audit_check()),
    })))
}

/// What this node's own verification of its audit log found (ADR 0020): `pending`, `verified` with the
/// head and anchors checked, or `failed` with the first bad entry.
fn audit_log_status(check: &covenant_core::AuditCheck) -> Value {
    match check {
        covenant_core::AuditCheck::Pending => json!({"status": "pending"}),
        covenant_core::AuditCheck::Verified { head, anchors, anchors_sealed, last_anchor, .. } => json!({
            "status": "verified",
            "head_sequence": head.map(|head| head.sequence),
            "anchors_checked": anchors,
            "anchors_sealed": anchors_sealed,
            "last_anchor_height": last_anchor.as_ref().map(|anchor| anchor.height),
        }),
        covenant_core::AuditCheck::Failed(failure) => json!({
            "status": "failed",
            "first_bad_entry": failure.sequence,
            "reason": failure.reason,
        }),
    }
}

/// Takes a transaction as its canonical bytes (`application/octet-stream`) or as JSON
/// `{"tx": "<hex of the canonical bytes>"}`.
async fn submit(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let bytes = crate::api_bodies::submit_body(is_json(&headers), &body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error))?;
    let hash = shared.submit(bytes).await?;
    Ok(Json(json!({ "hash": hash, "status": "pending" })))
}

/// Takes many transactions at once: a transaction batch (`application/octet-stream`, the encoding
/// of `covenant_types::batch`) or JSON `{"txs": ["<hex>", ...]}`, at most 4,096 transactions. Each
/// is admitted as by `POST /v1/txs`; the answer lists one result per transaction, in order:
/// `{"hash", "status": "pending"}` or `{"hash"?, "status": "rejected", "code", "error", "rule"?,
/// "article"?}`, where `code` is the HTTP status `POST /v1/txs` would have answered (409 already
/// pending, 422 refused, 503 busy). A batch that does not parse is refused as a whole (400).
async fn submit_batch(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> ApiResult {
    let txs = crate::api_bodies::batch_body(is_json(&headers), &body)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error))?;
    let results: Vec<Value> = shared
        .submit_batch(txs)
        .await
        .into_iter()
        .map(|(hash, verdict)| match verdict {
            Ok(hash) => json!({ "hash": hash, "status": "pending" }),
            Err(error) => {
                let error = ApiError::from(error);
                json!({
                    "hash": hash,
                    "status": "rejected",
                    "code": error.status.as_u16(),
                    "error": error.error,
                    "rule": error.rule,
                    "article": error.article,
                })
            }
        })
        .collect();
    Ok(Json(json!({ "results": results })))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"))
}

async fn transaction(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> ApiResult {
    let hash = Hash::from_hex(&hash).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error))?;
    if let Some((tx, location)) = shared.store.transaction(&hash).map_err(ApiError::internal)? {
        let receipt = shared.store.receipt(&hash).map_err(ApiError::internal)?;
        return Ok(Json(json!({
            "hash": hash,
            "status": "committed",
            "height": location.height,
            "index": location.index,
            "receipt": receipt,
            "tx": redacted(tx),
        })));
    }
    if shared.mempool().contains(&hash) {
        return Ok(Json(json!({ "hash": hash, "status": "pending" })));
    }
    if let Some(error) = shared.rejection(&hash) {
        let rule = error.rule();
        return Ok(Json(json!({
            "hash": hash,
            "status": "rejected",
            "error": error.to_string(),
            "rule": rule.map(|rule| rule.id()),
            "article": rule.map(|rule| rule.article()),
        })));
    }
    Err(ApiError::new(StatusCode::NOT_FOUND, format!("transaction {hash} is unknown to this node")))
}

async fn latest_block(State(shared): State<Arc<Shared>>) -> ApiResult {
    let tip = shared
        .store
        .latest()
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no blocks"))?;
    block_json(&shared, tip.height)
}

async fn block(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let height = match id.parse::<u64>() {
        Ok(height) => height,
        Err(_) => {
            let hash = Hash::from_hex(&id)
                .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "expected a height or a block hash"))?;
            let block = shared.store.block_by_hash(&hash).map_err(ApiError::internal)?;
            block.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("block {hash} not found")))?.header.height
        }
    };
    block_json(&shared, height)
}

fn block_json(shared: &Shared, height: u64) -> ApiResult {
    let block = shared.store.block_by_height(height).map_err(ApiError::internal)?;
    let block = block.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no block at height {height}")))?;
    let seals = shared.store.commit_seals(height).map_err(ApiError::internal)?;
    Ok(Json(json!({
        "hash": block.hash(),
        "header": block.header,
        "transactions": block.transactions.iter().map(|tx| tx.body.hash()).collect::<Vec<_>>(),
        "commit_seals": seals,
    })))
}

async fn operator_nonce(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let operator = covenant_types::OperatorId::new(id)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
    let state = StoreState(&*shared.store);
    let principal = covenant_types::Principal::Operator(operator.clone());
    let committed = state.next_nonce(&principal).map_err(ApiError::internal)?;
    let pending = shared.mempool().next_nonce(&principal);
    Ok(Json(
        json!({ "operator": operator, "next_committed_nonce": committed, "next_nonce": pending.unwrap_or(committed) }),
    ))
}

async fn balance(State(shared): State<Arc<Shared>>, Path((id, asset)): Path<(String, String)>) -> ApiResult {
    let bad = |error: covenant_types::IdError| ApiError::new(StatusCode::BAD_REQUEST, error.to_string());
    let account = covenant_types::AccountId::new(id).map_err(bad)?;
    let asset = covenant_types::AssetId::new(asset).map_err(bad)?;
    let amount = StoreState(&*shared.store).balance(&account, &asset).map_err(ApiError::internal)?;
    Ok(Json(json!({ "account": account, "asset": asset, "balance": amount })))
}

/// The OpenAPI document of this API (`docs/api/openapi.json`; a test keeps its paths and the
/// router's routes equal).
pub const OPENAPI_JSON: &str = include_str!("../../../docs/api/openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

/// Most entries a registry listing (members, nodes) returns.
pub const REGISTRY_ENTRIES_MAX: usize = 4_096;
/// Most assets one account's listing returns.
pub const ACCOUNT_ASSETS_MAX: usize = 1_024;

/// `GET /metrics` (operations listener).
pub(crate) async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status();
    let (mempool_txs, mempool_bytes) = {
        let mempool = shared.mempool();
        (mempool.len(), mempool.bytes())
    };
    let state = StoreState(&*shared.store);
    let mempool_txs_max = state.params().map(|params| params.mempool_txs_max).unwrap_or(0);
    let (validators, quorum) = state.validators().map(|set| (set.len(), set.quorum())).unwrap_or((0, 0));
    let governance = tip_time_ms(&shared).and_then(|tip_ms| crate::metrics::governance_gauges(&state, tip_ms).ok());
    let gauges = Gauges {
        height: status.height,
        round: status.round,
        peers: status.peers,
        mempool_txs,
        mempool_bytes,
        verification_queue: shared.verification_queue(),
        mempool_txs_max,
        validators,
        quorum,
        state_cache: shared.store.state_cache_stats(),
        rocks_memory: shared.store.rocks_memory().ok(),
        network_events_dropped: shared.network.events_dropped_total(),
        governance,
        peer_traffic: crate::metrics::traffic_by_node(shared.network.traffic(), &registered_peers(&shared)),
    };
    let text = shared.metrics.render(&gauges, shared.chain_id.as_str(), shared.node_id.as_str());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

/// The block time of the last committed block: the clock key expiry is judged by.
fn tip_time_ms(shared: &Shared) -> Option<u64> {
    let tip = shared.store.latest().ok()??;
    Some(shared.store.block_by_height(tip.height).ok()??.header.timestamp_ms)
}

/// Every node registered on chain with the peer id of its network key (for labelling traffic; an
/// unreadable registry labels every peer unregistered rather than failing the scrape).
fn registered_peers(shared: &Shared) -> Vec<(covenant_types::NodeId, covenant_network::PeerId)> {
    let any = covenant_types::NodeId::new("x").expect("valid id");
    let nodes: Vec<(covenant_types::NodeId, NodeState)> =
        scan_table(&shared.store, &table(StateKey::Node(any)), REGISTRY_ENTRIES_MAX).unwrap_or_default();
    nodes
        .into_iter()
        .filter_map(|(id, node)| covenant_network::peer_id_of(&node.record.network_key).ok().map(|peer| (id, peer)))
        .collect()
}

/// The JSON of a stored record with its id in front.
fn with_id(id: impl Serialize, record: impl Serialize) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(record).map_err(ApiError::internal)?;
    if let Value::Object(fields) = &mut value {
        fields.insert("id".into(), serde_json::to_value(id).map_err(ApiError::internal)?);
    }
    Ok(value)
}

fn table(key: StateKey) -> [u8; 1] {
    [key.table()]
}

async fn members(State(shared): State<Arc<Shared>>) -> ApiResult {
    let any = covenant_types::MemberId::new("x").expect("valid id");
    let members: Vec<(covenant_types::MemberId, MemberState)> =
        scan_table(&shared.store, &table(StateKey::Member(any)), REGISTRY_ENTRIES_MAX).map_err(ApiError::internal)?;
    let members = members.into_iter().map(|(id, member)| with_id(id, member)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "members": members })))
}

async fn nodes(State(shared): State<Arc<Shared>>) -> ApiResult {
    let any = covenant_types::NodeId::new("x").expect("valid id");
    let nodes: Vec<(covenant_types::NodeId, NodeState)> =
        scan_table(&shared.store, &table(StateKey::Node(any)), REGISTRY_ENTRIES_MAX).map_err(ApiError::internal)?;
    let nodes = nodes
        .into_iter()
        .map(|(id, node)| {
            let mut value = with_id(id, &node.record)?;
            value["removed"] = json!(node.removed);
            Ok(value)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Json(json!({ "nodes": nodes })))
}

/// Most anchors one read of `GET /v1/nodes/{id}/anchors` returns.
pub const ANCHORS_READ_MAX: usize = 1_000;

/// Which anchors to list.
#[derive(serde::Deserialize)]
struct AnchorsQuery {
    /// List anchors of entries after this sequence (default: from the first).
    after: Option<u64>,
    /// Most anchors (default and maximum [`ANCHORS_READ_MAX`]).
    limit: Option<usize>,
}

/// The audit anchors a node put on chain, from this node's copy of the chain state: for each, the
/// anchored entry, the height of the block that carried it and the anchoring transaction's hash (so
/// that an auditor can fetch that block and transaction from other members' nodes and check the
/// anchor there, ADR 0020). Public: anchors are chain data.
async fn node_anchors(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    query: Result<Query<AnchorsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(query) = query.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let node =
        covenant_types::NodeId::new(id).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
    let limit = query.limit.unwrap_or(ANCHORS_READ_MAX);
    if !(1..=ANCHORS_READ_MAX).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("limit must be from 1 to {ANCHORS_READ_MAX}, not {limit}"),
        ));
    }
    let mut prefix = StateKey::AuditAnchor(node.clone(), 0).encode();
    prefix.truncate(prefix.len() - 8);
    let start_after = query.after.map(|sequence| StateKey::AuditAnchor(node.clone(), sequence).encode());
    let page = shared.store.scan_state(&prefix, start_after.as_deref(), limit).map_err(ApiError::internal)?;
    let mut anchors = Vec::with_capacity(page.entries.len());
    for (key, value) in &page.entries {
        let sequence_bytes: [u8; 8] = key[prefix.len()..].try_into().map_err(ApiError::internal)?;
        let sequence = u64::from_be_bytes(sequence_bytes);
        let record: covenant_execution::AnchorRecord =
            covenant_types::decode("audit anchor", value, value.len()).map_err(ApiError::internal)?;
        let block = shared.store.block_by_height(record.height).map_err(ApiError::internal)?;
        let tx = block.and_then(|block| {
            block.transactions.iter().find_map(|tx| match (&tx.body.sender, &tx.body.payload) {
                (covenant_types::Principal::Node(sender), covenant_types::Payload::AuditAnchor(anchor))
                    if *sender == node && anchor.sequence == sequence =>
                {
                    Some(tx.body.hash())
                }
                _ => None,
            })
        });
        anchors.push(json!({
            "sequence": sequence,
            "hash": record.hash,
            "height": record.height,
            "time_ms": record.time_ms,
            "tx": tx,
        }));
    }
    let next_after =
        page.resume_after.is_some().then(|| anchors.last().and_then(|anchor| anchor["sequence"].as_u64())).flatten();
    Ok(Json(json!({ "node": node, "anchors": anchors, "next_after": next_after })))
}

async fn validators(State(shared): State<Arc<Shared>>) -> ApiResult {
    let state = StoreState(&*shared.store);
    let set = state.validators().map_err(ApiError::internal)?;
    let height = shared.status().height + 1;
    let validators: Vec<Value> = set
        .validators()
        .iter()
        .map(|validator| json!({ "node": validator.id, "consensus_key": validator.consensus_key }))
        .collect();
    Ok(Json(json!({ "height": height, "quorum": set.quorum(), "validators": validators })))
}

async fn params(State(shared): State<Arc<Shared>>) -> ApiResult {
    let params = StoreState(&*shared.store).params().map_err(ApiError::internal)?;
    let entries: serde_json::Map<String, Value> =
        params.entries().into_iter().map(|(name, value)| (name.to_string(), json!(value))).collect();
    Ok(Json(json!({ "hash": params.hash(), "params": entries })))
}

async fn account(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let account = covenant_types::AccountId::new(id)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))?;
    let mut prefix =
        vec![table(StateKey::Balance(account.clone(), covenant_types::AssetId::new("x").expect("valid")))[0]];
    prefix.extend(covenant_types::encode(&account));
    let balances: Vec<((covenant_types::AccountId, covenant_types::AssetId), u64)> =
        scan_table(&shared.store, &prefix, ACCOUNT_ASSETS_MAX).map_err(ApiError::internal)?;
    let balances: serde_json::Map<String, Value> =
        balances.into_iter().map(|((_, asset), amount)| (asset.to_string(), json!(amount))).collect();
    Ok(Json(json!({
        "account": account,
        "owner": covenant_execution::account_owner(&account),
        "balances": balances,
    })))
}

/// Proposals one page of `GET /v1/proposals` returns by default, and at most.
pub const PROPOSALS_PAGE_DEFAULT: usize = 256;
/// See [`PROPOSALS_PAGE_DEFAULT`].
pub const PROPOSALS_PAGE_MAX: usize = 1_024;
/// Proposals one request reads at most while looking for open ones (they are kept by id, not by
/// status): a page may come back short, with `next` to go on from.
pub const PROPOSALS_SCANNED_MAX: usize = 4_096;

async fn operators(State(shared): State<Arc<Shared>>) -> ApiResult {
    let any = covenant_types::OperatorId::new("x").expect("valid id");
    let operators: Vec<(covenant_types::OperatorId, OperatorState)> =
        scan_table(&shared.store, &table(StateKey::Operator(any)), REGISTRY_ENTRIES_MAX).map_err(ApiError::internal)?;
    let operators: Vec<Value> = operators
        .into_iter()
        .map(|(id, operator)| {
            let record = operator.record;
            json!({
                "id": id,
                "person": record.person,
                "member": record.member,
                "roles": record.roles,
                "key": record.key,
                "key_expires_at_ms": record.key_expires_at_ms,
                "revoked": operator.revoked,
            })
        })
        .collect();
    Ok(Json(json!({ "operators": operators })))
}

/// Which proposals a listing shows.
#[derive(serde::Deserialize)]
struct ProposalFilter {
    /// `open` (default) or `all`.
    status: Option<String>,
    /// Continue after this proposal id (the previous page's `next`).
    after: Option<String>,
    /// Proposals per page (default [`PROPOSALS_PAGE_DEFAULT`], at most [`PROPOSALS_PAGE_MAX`]).
    limit: Option<usize>,
}

/// Proposals in id order, a page at a time: `{"proposals": [...], "next": id or null}`. A `next`
/// means more may follow: ask again with `after=<next>`.
async fn proposals(
    State(shared): State<Arc<Shared>>,
    filter: Result<Query<ProposalFilter>, axum::extract::rejection::QueryRejection>,
) -> ApiResult {
    let Query(filter) = filter.map_err(|rejection| ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text()))?;
    let bad_request = |detail: String| ApiError::new(StatusCode::BAD_REQUEST, detail);
    let all = match filter.status.as_deref() {
        None | Some("open") => false,
        Some("all") => true,
        Some(other) => return Err(bad_request(format!("status must be open or all, not {other:?}"))),
    };
    let limit = filter.limit.unwrap_or(PROPOSALS_PAGE_DEFAULT);
    if !(1..=PROPOSALS_PAGE_MAX).contains(&limit) {
        return Err(bad_request(format!("limit must be from 1 to {PROPOSALS_PAGE_MAX}, not {limit}")));
    }
    let mut start_after = match &filter.after {
        Some(after) => Some(StateKey::Proposal(Hash::from_hex(after).map_err(bad_request)?).encode()),
        None => None,
    };
    let prefix = table(StateKey::Proposal(Hash::ZERO));
    let now = crate::runtime::chain::now_ms();
    let (mut views, mut scanned, mut next) = (Vec::new(), 0, None);
    'pages: loop {
        let page = shared.store.scan_state(&prefix, start_after.as_deref(), limit).map_err(ApiError::internal)?;
        for (key, value) in &page.entries {
            let corrupt = |error: covenant_types::DecodeError| ApiError::internal(format!("proposal entry: {error}"));
            let id: Hash = covenant_types::decode("state key", &key[1..], key.len()).map_err(corrupt)?;
            let proposal: ProposalState = covenant_types::decode("state value", value, value.len()).map_err(corrupt)?;
            scanned += 1;
            let view = proposal_view(&shared, id, &proposal, now)?;
            if all || view["status"] == "open" {
                views.push(view);
            }
            if views.len() >= limit || scanned >= PROPOSALS_SCANNED_MAX {
                next = Some(id);
                break 'pages;
            }
        }
        match page.resume_after {
            Some(resume) => start_after = Some(resume),
            None => break,
        }
    }
    // A page that ended exactly at the last proposal says so.
    if let Some(id) = next {
        let after = StateKey::Proposal(id).encode();
        if shared.store.scan_state(&prefix, Some(&after), 1).map_err(ApiError::internal)?.entries.is_empty() {
            next = None;
        }
    }
    Ok(Json(json!({ "proposals": views, "next": next })))
}

async fn proposal(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = Hash::from_hex(&id).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error))?;
    let proposal: ProposalState = StoreState(&*shared.store)
        .get(&StateKey::Proposal(id))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no proposal {id}")))?;
    Ok(Json(proposal_view(&shared, id, &proposal, crate::runtime::chain::now_ms())?))
}

/// A proposal as the API shows it: its status flattened, an open proposal past its expiry shown
/// as `expired`, and the counts that decide whether it passes.
fn proposal_view(shared: &Shared, id: Hash, proposal: &ProposalState, now_ms: u64) -> Result<Value, ApiError> {
    let state = StoreState(&*shared.store);
    let required = covenant_execution::governance::members_required(&state, &proposal.proposal.action)
        .map_err(ApiError::internal)?;
    let (status, closed_at_height, failure) = match &proposal.status {
        ProposalStatus::Open if now_ms >= proposal.proposal.expires_at_ms => ("expired", None, None),
        ProposalStatus::Open => ("open", None, None),
        ProposalStatus::Executed { height } => ("executed", Some(*height), None),
        ProposalStatus::Failed { height, rule, reason } => {
            ("failed", Some(*height), Some(json!({ "rule": rule, "reason": reason })))
        }
        ProposalStatus::Rejected { height } => ("rejected", Some(*height), None),
        ProposalStatus::Withdrawn { height } => ("withdrawn", Some(*height), None),
    };
    // As execution counts them: only proposer and approvers still able to approve now (COV-16).
    let counted =
        covenant_execution::governance::counted_approvals(&state, proposal, now_ms).map_err(ApiError::internal)?;
    Ok(json!({
        "id": id,
        "class": proposal.class,
        "action": proposal.proposal.action,
        "reason": proposal.proposal.reason,
        "expires_at_ms": proposal.proposal.expires_at_ms,
        "opened_at_ms": proposal.opened_at_ms,
        "proposer": proposal.proposer,
        "approvals": proposal.approvals,
        "rejections": proposal.rejections,
        "status": status,
        "closed_at_height": closed_at_height,
        "failure": failure,
        "members_required": required,
        "approving_members": counted.members,
        "approving_persons": counted.persons,
        "approving_persons_required": covenant_execution::governance::APPROVING_PERSONS_MIN,
    }))
}

/// A committed transaction as the unauthenticated API shows it: a data record's content is left out
/// (it is read through `GET /v1/records/{hash}` with a session, by need to know: COV-08).
fn redacted(tx: covenant_types::SignedTx) -> Value {
    let is_record = matches!(tx.body.payload, covenant_types::Payload::DataRecord(_));
    let mut value = serde_json::to_value(&tx).unwrap_or(Value::Null);
    if is_record && let Some(record) = value.pointer_mut("/body/payload/DataRecord") {
        record["content"] = json!("redacted: read it with GET /v1/records/{hash} and a session (COV-08)");
    }
    value
}

// ---------------------------------------------------------------------------------------------------
// Contracts (articles 24, 26-31; docs/contracts.md)
// ---------------------------------------------------------------------------------------------------

/// A contract record as the API shows it; the manifest's functions and access policies only with
/// `full`.
fn contract_view(id: &covenant_types::ContractId, record: &ContractState, full: bool) -> Value {
    let manifest = &record.manifest;
    let mut view = json!({
        "id": id,
        "status": record.status.name(),
        "name": manifest.name,
        "version": manifest.version,
        "owner": manifest.owner,
        "steward": manifest.steward,
        "code_hash": record.code_hash,
        "code_bytes": record.code_bytes,
        "admitted_by": record.admitted_by,
        "admitted_at_height": record.admitted_at_height,
        "changed_by": record.changed_by,
        "changed_at_height": record.changed_at_height,
    });
    if full {
        view["functions"] = serde_json::to_value(&manifest.functions).unwrap_or(Value::Null);
    }
    view
}

fn contract_id(text: String) -> Result<covenant_types::ContractId, ApiError> {
    covenant_types::ContractId::new(text).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error.to_string()))
}

/// `GET /v1/contracts`: every contract ever admitted, with status, owner and steward (COV-26, COV-27).
async fn contracts(State(shared): State<Arc<Shared>>) -> ApiResult {
    let state = StoreState(&*shared.store);
    let ids: Vec<covenant_types::ContractId> = state.index(&StateKey::ContractIndex).map_err(ApiError::internal)?;
    let mut views = Vec::with_capacity(ids.len());
    for id in ids.iter().take(covenant_execution::CONTRACTS_MAX) {
        let record: Option<ContractState> = state.get(&StateKey::Contract(id.clone())).map_err(ApiError::internal)?;
        if let Some(record) = record {
            views.push(contract_view(id, &record, false));
        }
    }
    Ok(Json(json!({ "contracts": views })))
}

/// `GET /v1/contracts/{id}`: one contract with its functions and their access policies (COV-31).
async fn contract(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> ApiResult {
    let id = contract_id(id)?;
    let record: ContractState = StoreState(&*shared.store)
        .get(&StateKey::Contract(id.clone()))
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no contract {id} was ever admitted")))?;
    Ok(Json(contract_view(&id, &record, true)))
}

/// `GET /v1/contracts/{id}/storage/{key}`: one value of a contract's storage, the key in hex; `value`
/// is `null` for an absent key.
async fn contract_storage(State(shared): State<Arc<Shared>>, Path((id, key)): Path<(String, String)>) -> ApiResult {
    let id = contract_id(id)?;
    let key = hex::decode(&key)
        .map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, format!("storage key is not hex: {error}")))?;
    if key.len() > covenant_execution::vm::limits::STORAGE_KEY_BYTES_MAX as usize {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "storage keys are at most 256 bytes"));
    }
    let state = StoreState(&*shared.store);
    let known: Option<ContractState> = state.get(&StateKey::Contract(id.clone())).map_err(ApiError::internal)?;
    if known.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no contract {id} was ever admitted")));
    }
    let value: Option<Vec<u8>> =
        state.get(&StateKey::ContractStorage(id.clone(), key.clone())).map_err(ApiError::internal)?;
    Ok(Json(json!({ "contract": id, "key": hex::encode(key), "value": value.map(hex::encode) })))
}

/// `GET /v1/contract-calls/{hash}`: output and events of a successful contract call (its receipt, with
/// the fuel used, is at `GET /v1/txs/{hash}`).
async fn contract_call(State(shared): State<Arc<Shared>>, Path(hash): Path<String>) -> ApiResult {
    let hash = Hash::from_hex(&hash).map_err(|error| ApiError::new(StatusCode::BAD_REQUEST, error))?;
    let missing = || ApiError::new(StatusCode::NOT_FOUND, format!("no successful contract call {hash} is committed"));
    let result: covenant_execution::ContractCallResult = StoreState(&*shared.store)
        .get(&StateKey::ContractResult(hash))
        .map_err(ApiError::internal)?
        .ok_or_else(missing)?;
    let events: Vec<Value> = result
        .events
        .iter()
        .map(|event| json!({ "contract": event.contract, "data": hex::encode(&event.data) }))
        .collect();
    Ok(Json(json!({
        "tx_hash": hash,
        "contract": result.contract,
        "function": result.function,
        "output": hex::encode(&result.output),
        "events": events,
    })))
}
