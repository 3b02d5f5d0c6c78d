//! # covenant-client
//!
//! A small Rust SDK for a Covenant node's HTTP API: a blocking HTTP/1.1 client (plain TCP, meant for
//! loopback and trusted networks; put TLS in front for anything else, article 21) and transaction
//! builders that sign with an operator key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

use covenant_types::{
    AccountId, AssetId, ChainId, ENCODING_VERSION, OperatorId, Payload, Principal, SecretKey, SignedTx, Transfer,
    TxBody,
};

/// Largest response read from a node.
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A request that failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The node could not be reached or the connection broke.
    #[error("request to {address} failed: {reason}")]
    Io {
        /// Node address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The answer was not HTTP with a JSON body.
    #[error("bad answer from {address}: {reason}")]
    BadResponse {
        /// Node address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
}

/// An HTTP answer: status code and JSON body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body.
    pub body: Value,
}

impl Response {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A client for one node's API.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    address: SocketAddr,
    timeout: Duration,
}

impl Client {
    /// A client for the API at `address`, with a 10 s timeout per request.
    pub fn new(address: SocketAddr) -> Client {
        Client { address, timeout: Duration::from_secs(10) }
    }

    /// Sets the per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Response, ClientError> {
        self.request("POST", path, Some(("application/json", body.to_string().into_bytes())))
    }

    /// Submits a signed transaction; the answer holds its `hash`, or an `error` with `rule`/`article`.
    pub fn submit(&self, tx: &SignedTx) -> Result<Response, ClientError> {
        self.request("POST", "/v1/txs", Some(("application/octet-stream", tx.encode())))
    }

    fn request(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<Response, ClientError> {
        let io = |error: std::io::Error| ClientError::Io { address: self.address, reason: error.to_string() };
        let mut stream = TcpStream::connect_timeout(&self.address, self.timeout).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.address);
        let payload = match body {
            Some((content_type, bytes)) => {
                request.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", bytes.len()));
                bytes
            }
            None => Vec::new(),
        };
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).map_err(io)?;
        stream.write_all(&payload).map_err(io)?;
        let mut raw = Vec::new();
        stream.take(RESPONSE_BYTES_MAX as u64 + 1).read_to_end(&mut raw).map_err(io)?;
        self.parse(&raw)
    }

    fn parse(&self, raw: &[u8]) -> Result<Response, ClientError> {
        let bad = |reason: String| ClientError::BadResponse { address: self.address, reason };
        if raw.len() > RESPONSE_BYTES_MAX {
            return Err(bad(format!("response exceeds {RESPONSE_BYTES_MAX} bytes")));
        }
        let split =
            raw.windows(4).position(|window| window == b"\r\n\r\n").ok_or_else(|| bad("no header end".into()))?;
        let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("header is not UTF-8".into()))?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| bad(format!("no status code in {:?}", head.lines().next().unwrap_or(""))))?;
        let chunked = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("transfer-encoding:") && line.contains("chunked")
        });
        let body = &raw[split + 4..];
        let body =
            if chunked { dechunk(body).ok_or_else(|| bad("malformed chunked body".into()))? } else { body.to_vec() };
        let body = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        };
        Ok(Response { status, body })
    }
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|window| window == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

/// A signed transfer from an operator.
#[allow(clippy::too_many_arguments)]
pub fn transfer(
    chain: &ChainId,
    operator: &OperatorId,
    key: &SecretKey,
    nonce: u64,
    created_at_ms: u64,
    from: AccountId,
    to: AccountId,
    asset: AssetId,
    amount: u64,
) -> SignedTx {
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain.clone(),
        sender: Principal::Operator(operator.clone()),
        nonce,
        created_at_ms,
        payload: Payload::Transfer(Transfer { from, to, asset, amount, memo: String::new() }),
    };
    SignedTx::sign(body, key)
}
