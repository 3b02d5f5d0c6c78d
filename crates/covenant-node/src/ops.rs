//! The operations listener (`ops_addr` in node.toml), apart from the client API: what a bank's
//! monitoring and its operations team reach, and clients never do (ADR 0018).
//!
//! - `GET /metrics` (Prometheus text), `GET /healthz` (the process answers), `GET /readyz`;
//! - `POST /v1/admin/backup` and every other administrative action, only with the node's operations
//!   token: `Authorization: Bearer <token>`, the token being the content of `ops_token_file`. Without
//!   a token file the node refuses every administrative action. Each refusal is audited.
//!
//! It runs behind the same edge as the client API ([`crate::http_edge`]: connection caps, timeouts,
//! the `Host` check).

use std::path::Path;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::sync::watch;

use covenant_types::Hash;

use crate::api::{ApiError, metrics, ready};
use crate::runtime::shared::Shared;

/// Fewest characters an operations token has (32 random bytes in hex are 64).
pub const OPS_TOKEN_CHARS_MIN: usize = 32;
/// Most bytes read from a token file.
const OPS_TOKEN_FILE_BYTES_MAX: u64 = 4_096;

/// The secret that authorises administrative actions, kept only as its digest.
#[derive(Clone)]
pub struct OpsToken(Hash);

impl OpsToken {
    /// Reads the token in `file`: one line of at least [`OPS_TOKEN_CHARS_MIN`] visible ASCII
    /// characters, in a file no one but its owner may read (like a key file).
    pub fn load(file: &Path) -> Result<OpsToken, String> {
        // `read` has checked the text already.
        Ok(OpsToken(Hash::digest(OpsToken::read(file)?.as_bytes())))
    }

    /// The token's text in `file`, checked as [`OpsToken::load`] checks it (what a client sends).
    pub fn read(file: &Path) -> Result<String, String> {
        let shown = file.display();
        let metadata = std::fs::metadata(file).map_err(|error| format!("{shown}: {error}"))?;
        if metadata.len() > OPS_TOKEN_FILE_BYTES_MAX {
            return Err(format!("{shown}: {} bytes; a token is one short line", metadata.len()));
        }
        if let Some(mode) = crate::keyfile::group_or_world_access(&metadata) {
            return Err(format!("{shown} is readable by others (mode {mode:o}); run: chmod 600 {shown}"));
        }
        let text = std::fs::read_to_string(file).map_err(|error| format!("{shown}: {error}"))?;
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        OpsToken::from_text(&text).map_err(|reason| format!("{shown}: {reason}"))?;
        Ok(text)
    }

    /// A token from its text.
    pub fn from_text(text: &str) -> Result<OpsToken, String> {
        if text.chars().count() < OPS_TOKEN_CHARS_MIN {
            return Err(format!("the token is shorter than {OPS_TOKEN_CHARS_MIN} characters"));
        }
        if !text.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err("the token must be one line of visible ASCII characters".into());
        }
        Ok(OpsToken(Hash::digest(text.as_bytes())))
    }

    /// A new random token's text: 32 bytes from the operating system, in hex.
    pub fn generate() -> Result<String, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| format!("no randomness for the token: {error}"))?;
        Ok(hex::encode(bytes))
    }

    /// Whether `presented` is this token. Digests are compared, so the time taken says nothing about
    /// how much of the token was right.
    fn accepts(&self, presented: &str) -> bool {
        Hash::digest(presented.as_bytes()) == self.0
    }
}

impl std::fmt::Debug for OpsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpsToken(..)")
    }
}

/// The listener's shared state.
#[derive(Clone)]
struct Ops {
    shared: Arc<Shared>,
    token: Option<Arc<OpsToken>>,
}

/// The operations routes.
fn router(shared: Arc<Shared>, token: Option<OpsToken>) -> Router {
    let ops = Ops { shared: shared.clone(), token: token.map(Arc::new) };
    let admin = Router::new().route("/v1/admin/backup", post(admin_backup)).with_state(ops);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(shared)
        .merge(admin)
}

/// Serves the operations listener until `stop` flips to true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    token: Option<OpsToken>,
    hosts: Vec<String>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
) {
    let metrics = shared.metrics.clone();
    let router = crate::http_edge::bounded(router(shared, token), hosts, metrics.clone());
    crate::http_edge::serve(listener, router, tls, metrics, stop).await;
}

/// The caller's token checked; the refusal is audited and answered 401 or 403.
fn authorise(ops: &Ops, headers: &HeaderMap, route: &str, client: &str) -> Result<(), ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let refusal = match (&ops.token, presented) {
        (None, _) => Some((
            StatusCode::FORBIDDEN,
            "administrative actions are off on this node: set ops_token_file in its node.toml".to_string(),
        )),
        (Some(_), None) => Some((
            StatusCode::UNAUTHORIZED,
            "administrative actions need the node's operations token: Authorization: Bearer <token>".to_string(),
        )),
        (Some(token), Some(presented)) if !token.accepts(presented) => {
            Some((StatusCode::UNAUTHORIZED, "the operations token is not this node's".to_string()))
        }
        (Some(_), Some(_)) => None,
    };
    match refusal {
        None => Ok(()),
        Some((status, reason)) => {
            crate::commands::backup::audit_admin_denied(&ops.shared.store, &ops.shared.node_id, route, client, &reason);
            Err(ApiError::with_status(status, reason))
        }
    }
}

/// `POST /v1/admin/backup` with `{"dir": "/absolute/dir", "genesis_file": "/absolute/genesis.toml"}`
/// (`genesis_file` optional): writes a consistent checkpoint of the store and its manifest into `dir`,
/// a new or empty directory on the node's machine. Every backup, refusal and failure is audited.
async fn admin_backup(
    State(ops): State<Ops>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use crate::commands::backup::{CreateError, create_on_node};
    let client = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or_else(|| "an unknown client".to_string(), |info| info.0.to_string());
    if let Err(refusal) = authorise(&ops, &headers, "/v1/admin/backup", &client) {
        return refusal.into_response();
    }
    let request = match crate::api_bodies::backup_body(&body) {
        Ok(request) => request,
        Err(error) => return ApiError::with_status(StatusCode::BAD_REQUEST, error).into_response(),
    };
    let shared = ops.shared.clone();
    let created =
        tokio::task::spawn_blocking(move || create_on_node(&shared.store, &shared.node_id, &request, &client)).await;
    match created {
        Ok(Ok(created)) => Json(created.to_json()).into_response(),
        Ok(Err(error @ CreateError::Invalid(_))) => {
            ApiError::with_status(StatusCode::BAD_REQUEST, error.to_string()).into_response()
        }
        Ok(Err(error @ CreateError::Conflict(_))) => {
            ApiError::with_status(StatusCode::CONFLICT, error.to_string()).into_response()
        }
        Ok(Err(error @ CreateError::Failed(_))) => ApiError::internal(error).into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_visible_and_compared_whole() {
        assert!(OpsToken::from_text("short").unwrap_err().contains("shorter"));
        assert!(OpsToken::from_text(&format!("{} x", "a".repeat(40))).unwrap_err().contains("visible"));
        let text = OpsToken::generate().expect("random token");
        assert_eq!(text.len(), 64);
        let token = OpsToken::from_text(&text).expect("a generated token is valid");
        assert!(token.accepts(&text));
        assert!(!token.accepts(&text[..63]));
        assert!(!token.accepts(&format!("{text}0")));
    }

    #[test]
    fn a_token_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("ops.token");
        std::fs::write(&file, format!("{}\n", "b".repeat(64))).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(OpsToken::load(&file).expect_err("refused").contains("chmod 600"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(OpsToken::load(&file).expect("accepted").accepts(&"b".repeat(64)));
    }
}
