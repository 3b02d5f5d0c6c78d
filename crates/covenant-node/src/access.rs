//! The authenticated part of the API ([`crate::auth`]): opening a session, the audit log for
//! auditors (COV-33), and data records by need to know with every customer-data read audited
//! (COV-08, COV-40). Refusals are audited too.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use covenant_execution::{StateKey, StateReader};
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::{AuditLog, ChainStore};
use covenant_types::{Classification, DataRecord, Hash, Payload, Principal, Role};

use crate::auth::{Authenticated, Denied};
use crate::runtime::chain::{StoreState, now_ms};
use crate::runtime::shared::Shared;

/// Most audit entries one read returns.
pub const AUDIT_READ_ENTRIES_MAX: usize = 1_000;

/// The authenticated routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/auth/sessions", post(open_session))
        .route("/v1/audit", get(read_audit))
        .route("/v1/records/{hash}", get(read_record))
}

fn error(status: StatusCode, message: impl Into<String>, rule: Option<covenant_rules::RuleId>) -> Response {
    let body = json!({
        "error": message.into(),
        "rule": rule.map(|rule| rule.id()),
        "article": rule.map(|rule| rule.article()),
    });
    (status, Json(body)).into_response()
}

fn denied(denied: Denied) -> Response {
    let status = StatusCode::from_u16(denied.status).unwrap_or(StatusCode::FORBIDDEN);
    error(status, denied.reason, denied.rule)
}

/// Records a refused API access in the audit log, within the node's refusal budget (best effort: the
/// refusal stands either way).
fn audit_refusal(shared: &Shared, who: Actor, what: &str, denied: &Denied) {
    let mut record =
        AuditRecord::new(now_ms(), shared.node_id.clone(), EventType::ApiAccessDenied, who, Outcome::Refused)
            .with_detail("request", what.to_string())
            .with_detail("reason", denied.reason.chars().take(200).collect::<String>());
    if let Some(rule) = denied.rule {
        record = record.with_detail("rule", rule.id());
    }
    shared.audit_refusal(record);
}

fn authenticate(shared: &Shared, headers: &HeaderMap, what: &str) -> Result<Authenticated, Box<Response>> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    shared.sessions.check(shared, authorization, now_ms()).map_err(|refusal| {
        audit_refusal(shared, Actor::Remote("api-client".into()), what, &refusal);
        Box::new(denied(refusal))
    })
}

async fn open_session(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let request = match crate::api_bodies::session_body(&body) {
        Ok(request) => request,
        Err(error) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response(),
    };
    match shared.sessions.open(&shared, &request, now_ms()) {
        Ok(token) => Json(json!({
            "token": token,
            "operator": request.operator,
            "idle_timeout_ms": crate::auth::SESSION_IDLE_MS_MAX,
            "lifetime_ms": crate::auth::SESSION_LIFETIME_MS_MAX,
        }))
        .into_response(),
        Err(refusal) => {
            audit_refusal(&shared, Actor::Operator(request.operator.clone()), "open session", &refusal);
            denied(refusal)
        }
    }
}

/// Which audit entries to read.
#[derive(Deserialize)]
struct AuditQuery {
    /// First sequence (default 0).
    from: Option<u64>,
    /// Most entries (default and maximum [`AUDIT_READ_ENTRIES_MAX`]).
    limit: Option<usize>,
}

async fn read_audit(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let query = match query {
        Ok(Query(query)) => query,
        Err(rejection) => {
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": rejection.body_text() }))).into_response();
        }
    };
    let who = match authenticate(&shared, &headers, "read audit log") {
        Ok(who) => who,
        Err(response) => return *response,
    };
    let operator = Actor::Operator(who.record.id.clone());
    if !who.has(Role::Auditor) {
        let refusal = Denied {
            status: 403,
            reason: format!("{} does not hold the auditor role: only auditors read the audit log", who.record.id),
            rule: Some(covenant_rules::RuleId::AuditTrail),
        };
        audit_refusal(&shared, operator, "read audit log", &refusal);
        return denied(refusal);
    }
    let from = query.from.unwrap_or(0);
    let limit = query.limit.unwrap_or(AUDIT_READ_ENTRIES_MAX).clamp(1, AUDIT_READ_ENTRIES_MAX);
    let entries = match shared.store.range(from, limit) {
        Ok(entries) => entries,
        Err(failure) => return error(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string(), None),
    };
    let record = AuditRecord::new(
        now_ms(),
        shared.node_id.clone(),
        EventType::Custom("audit_read".into()),
        operator,
        Outcome::Success,
    )
    .with_detail("from", from.to_string())
    .with_detail("entries", entries.len().to_string());
    let _ = shared.store.append(record);
    Json(json!({ "entries": entries, "next": entries.last().map(|entry| entry.sequence + 1) })).into_response()
}

async fn read_record(State(shared): State<Arc<Shared>>, headers: HeaderMap, Path(hash): Path<String>) -> Response {
    let Ok(hash) = Hash::from_hex(&hash) else {
        return error(StatusCode::BAD_REQUEST, "expected a transaction hash", None);
    };
    let what = format!("read record {hash}");
    let who = match authenticate(&shared, &headers, &what) {
        Ok(who) => who,
        Err(response) => return *response,
    };
    let record: Option<DataRecord> = match StoreState(&*shared.store).get(&StateKey::Record(hash)) {
        Ok(record) => record,
        Err(failure) => return error(StatusCode::INTERNAL_SERVER_ERROR, failure.to_string(), None),
    };
    let Some(record) = record else {
        return error(StatusCode::NOT_FOUND, format!("no data record written by transaction {hash}"), None);
    };
    let writer_member = match shared.store.transaction(&hash) {
        Ok(Some((tx, _))) => match (&tx.body.sender, &tx.body.payload) {
            (Principal::Operator(operator), Payload::DataRecord(_)) => StoreState(&*shared.store)
                .get::<covenant_execution::OperatorState>(&StateKey::Operator(operator.clone()))
                .ok()
                .flatten()
                .map(|operator| operator.record.member),
            _ => None,
        },
        _ => None,
    };
    let subject_owner = record.subject.as_ref().and_then(covenant_execution::account_owner);
    let member = &who.record.member;
    let allowed = match record.classification {
        // Public and internal records are for every member of the consortium.
        Classification::Public | Classification::Internal => true,
        // Customer data: the member that wrote it, the member whose customer it is, and auditors.
        Classification::CustomerData => {
            who.has(Role::Auditor) || writer_member.as_ref() == Some(member) || subject_owner.as_ref() == Some(member)
        }
    };
    let operator = Actor::Operator(who.record.id.clone());
    if !allowed {
        let refusal = Denied {
            status: 403,
            reason: format!(
                "customer data of {} is readable by its writing member, the customer's member and auditors; {} is neither",
                record.subject.as_ref().map(ToString::to_string).unwrap_or_else(|| "this record".into()),
                who.record.id
            ),
            rule: Some(covenant_rules::RuleId::CustomerDataAccess),
        };
        audit_refusal(&shared, operator, &what, &refusal);
        return denied(refusal);
    }
    if record.classification == Classification::CustomerData {
        // COV-40: who read which customer's record, and when.
        let mut audit =
            AuditRecord::new(now_ms(), shared.node_id.clone(), EventType::CustomerDataRead, operator, Outcome::Success)
                .with_detail("record", hash.to_hex())
                .with_detail("schema", record.schema.to_string());
        if let Some(subject) = &record.subject {
            audit = audit.with_detail("subject", subject.to_string());
        }
        if let Err(failure) = shared.store.append(audit) {
            // No read without its audit record.
            return error(StatusCode::SERVICE_UNAVAILABLE, format!("the read could not be audited: {failure}"), None);
        }
    }
    let value: Value = json!({ "hash": hash, "record": record, "writer_member": writer_member });
    Json(value).into_response()
}
