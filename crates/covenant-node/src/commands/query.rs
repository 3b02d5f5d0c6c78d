//! `covenant query`: reads a node's HTTP API and pretty-prints the answers. Also the small layer over
//! [`covenant_client::Client`] that `covenant tx` shares: address parsing, errors that name the address,
//! and the text of an API error.
//!
//! Exit codes: 0 when the node answered 2xx; 1 when it answered with an error (404 for an unknown
//! transaction, block or route, 400 for a malformed id), the error message on stderr; 2 when the node
//! could not be reached or the arguments are wrong.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::{Context, Result};
use serde_json::Value;

use covenant_client::{Client, Response};

use super::Outcome;

/// Where `covenant testnet` serves node 0's API.
pub const DEFAULT_API: &str = "http://127.0.0.1:7200";

/// One node's API as the CLI uses it.
#[derive(Debug, Clone)]
pub struct Api {
    client: Client,
}

impl Api {
    /// An API at `text` (`host:port`, `http://host:port` or `https://host:port`, the latter checked
    /// against the CA file `COVENANT_API_CA_FILE` names). Nothing is sent yet.
    pub fn new(text: &str) -> Result<Api> {
        Ok(Api { client: Client::from_url(text).context("--api")? })
    }

    /// The HTTP client (plain or TLS, as the address asked), for requests in a session.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The node address.
    pub fn address(&self) -> SocketAddr {
        self.client.address()
    }

    /// `GET path`; any answer is returned, an unreachable node is an error naming the address.
    pub fn get(&self, path: &str) -> Result<Response> {
        self.client.get(path).map_err(|error| self.unreachable("GET", path, error))
    }

    /// Submits a signed transaction; any answer is returned.
    pub fn submit(&self, tx: &covenant_types::SignedTx) -> Result<Response> {
        self.client.submit(tx).map_err(|error| self.unreachable("POST", "/v1/txs", error))
    }

    /// `GET path`, requiring a 2xx answer whose body is a JSON object.
    pub fn get_object(&self, path: &str) -> Result<Value> {
        let response = self.get(path)?;
        if !response.is_success() {
            anyhow::bail!("GET {path} on {}: {}", self.address(), describe_error(&response));
        }
        if !response.body.is_object() {
            anyhow::bail!("GET {path} on {}: expected a JSON object, got {}", self.address(), response.body);
        }
        Ok(response.body)
    }

    fn unreachable(&self, method: &str, path: &str, error: covenant_client::ClientError) -> anyhow::Error {
        anyhow::anyhow!(
            "cannot reach the node API at http://{} ({method} {path}): {error}; is a node running there? \
             (`covenant testnet` serves node 0's API at {DEFAULT_API}; choose another with --api)",
            self.address()
        )
    }
}

/// The text of an API error answer: `refused by RULE (article N): error` when a covenant rule refused the
/// request, otherwise the error message with the HTTP status.
pub fn describe_error(response: &Response) -> String {
    let message = match &response.body {
        Value::Object(object) => object.get("error").and_then(Value::as_str).map(str::to_string),
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        _ => None,
    };
    let rule = response.body.get("rule").and_then(Value::as_str);
    let article = response.body.get("article").and_then(Value::as_u64);
    match (rule, message) {
        (Some(rule), Some(message)) => match article {
            Some(article) => format!("refused by {rule} (article {article}): {message}"),
            None => format!("refused by {rule}: {message}"),
        },
        (None, Some(message)) => format!("{message} (HTTP {})", response.status),
        (_, None) if response.status == 404 => {
            "HTTP 404 with no error message: this node has no such route (is it older than this command?)".into()
        }
        (_, None) => format!("HTTP {} with no error message: {}", response.status, response.body),
    }
}

/// Percent-encodes one path segment (account ids contain `/`, e.g. `bank-1/treasury`).
pub fn path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `GET /v1/status`.
    Status,
    /// A block by height or hash; `None` for the latest.
    Block(Option<String>),
    /// `GET /v1/txs/{hash}`.
    Tx(String),
    /// One balance.
    Balance {
        /// Account id.
        account: String,
        /// Asset id.
        asset: String,
    },
    /// Every balance of an account.
    Account(String),
    /// An operator's next nonce.
    Nonce(String),
    /// `GET /v1/members`.
    Members,
    /// `GET /v1/nodes`.
    Nodes,
    /// `GET /v1/validators`.
    Validators,
    /// `GET /v1/params`.
    Params,
    /// `GET /metrics` (Prometheus text, printed as is), served by the operations listener.
    Metrics,
    /// `GET /v1/openapi.json`.
    OpenApi,
}

impl Query {
    /// The API path this query reads.
    pub fn path(&self) -> String {
        match self {
            Query::Status => "/v1/status".into(),
            Query::Block(None) => "/v1/blocks/latest".into(),
            Query::Block(Some(id)) if id == "latest" => "/v1/blocks/latest".into(),
            Query::Block(Some(id)) => format!("/v1/blocks/{}", path_segment(id)),
            Query::Tx(hash) => format!("/v1/txs/{}", path_segment(hash)),
            Query::Balance { account, asset } => {
                format!("/v1/accounts/{}/balances/{}", path_segment(account), path_segment(asset))
            }
            Query::Account(account) => format!("/v1/accounts/{}", path_segment(account)),
            Query::Nonce(operator) => format!("/v1/operators/{}/nonce", path_segment(operator)),
            Query::Members => "/v1/members".into(),
            Query::Nodes => "/v1/nodes".into(),
            Query::Validators => "/v1/validators".into(),
            Query::Params => "/v1/params".into(),
            Query::Metrics => "/metrics".into(),
            Query::OpenApi => "/v1/openapi.json".into(),
        }
    }
}

/// Runs one query against the API at `api`: the answer goes to `out`, an error answer's message to `err`.
pub fn run(api: &str, query: &Query, out: &mut dyn Write, err: &mut dyn Write) -> Result<Outcome> {
    let api = Api::new(api)?;
    let path = query.path();
    let response = api.get(&path)?;
    if !response.is_success() {
        writeln!(err, "error: GET {path} on {}: {}", api.address(), describe_error(&response))?;
        return Ok(Outcome::Failure);
    }
    match &response.body {
        Value::String(text) if *query == Query::Metrics => {
            write!(out, "{text}")?;
            if !text.ends_with('\n') {
                writeln!(out)?;
            }
        }
        body => writeln!(out, "{}", serde_json::to_string_pretty(body)?)?,
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: Value) -> Response {
        Response { status, body }
    }

    #[test]
    fn errors_name_rule_and_article() {
        let refused = response(
            422,
            serde_json::json!({"error": "nonce 9, expected 0", "rule": "COV-34-ORDERED-NONCES", "article": 34}),
        );
        assert_eq!(describe_error(&refused), "refused by COV-34-ORDERED-NONCES (article 34): nonce 9, expected 0");
        let unknown = response(404, serde_json::json!({"error": "transaction 00 is unknown to this node"}));
        assert_eq!(describe_error(&unknown), "transaction 00 is unknown to this node (HTTP 404)");
        assert!(describe_error(&response(404, Value::Null)).contains("no such route"));
        assert!(describe_error(&response(413, Value::String("length limit exceeded".into()))).contains("limit"));
    }

    #[test]
    fn paths_encode_account_slashes() {
        let query = Query::Balance { account: "bank-1/treasury".into(), asset: "twd".into() };
        assert_eq!(query.path(), "/v1/accounts/bank-1%2Ftreasury/balances/twd");
        assert_eq!(Query::Block(Some("latest".into())).path(), "/v1/blocks/latest");
        assert_eq!(Query::Block(Some("12".into())).path(), "/v1/blocks/12");
        assert_eq!(Query::Nonce("bank-0.ops".into()).path(), "/v1/operators/bank-0.ops/nonce");
        assert_eq!(path_segment("a b?#"), "a%20b%3F%23");
    }
}
