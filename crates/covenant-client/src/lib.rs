//! # covenant-client
//!
//! A small Rust SDK for a Covenant node's HTTP API: a blocking HTTP/1.1 client (plain HTTP, or HTTPS with
//! rustls against a CA certificate the caller names, article 21) and transaction builders that sign with an
//! operator key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use serde_json::Value;
use thiserror::Error;

use covenant_types::{
    AccountId, AssetId, ChainId, DataRecord, ENCODING_VERSION, OperatorId, Payload, Principal, SecretKey, SignedTx,
    Transfer, TxBody,
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

/// An API address that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("API address {text:?}: {reason}")]
pub struct AddressError {
    /// The address as given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The environment variable naming the PEM file of the CA certificate(s) an `https://` API address is
/// checked against.
pub const CA_FILE_ENV: &str = "COVENANT_API_CA_FILE";

/// Parses an API address written `host:port` or `http://host:port` (a trailing `/` is allowed), resolving a
/// host name to its first address. `https://` is refused here: [`Client::from_url`] takes it.
pub fn parse_api_address(text: &str) -> Result<SocketAddr, AddressError> {
    if text.trim().starts_with("https://") {
        return Err(AddressError {
            text: text.to_string(),
            reason: "https:// needs a TLS client: use Client::from_url".into(),
        });
    }
    parse_host_port(text, text.trim().strip_prefix("http://").unwrap_or(text.trim()))
}

/// `host:port` (`rest`, from `text`) resolved to its first address.
fn parse_host_port(text: &str, rest: &str) -> Result<SocketAddr, AddressError> {
    let fail = |reason: &str| AddressError { text: text.to_string(), reason: reason.to_string() };
    if rest.contains("://") {
        return Err(fail("only http:// and https:// addresses are supported"));
    }
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    if host_port.is_empty() {
        return Err(fail("expected host:port, e.g. 127.0.0.1:7200"));
    }
    if host_port.contains('/') {
        return Err(fail("expected host:port without a path, e.g. http://127.0.0.1:7200"));
    }
    if let Ok(address) = host_port.parse::<SocketAddr>() {
        return Ok(address);
    }
    let Some((host, port)) = host_port.rsplit_once(':') else {
        return Err(fail("no port: expected host:port, e.g. 127.0.0.1:7200"));
    };
    if host.is_empty() {
        return Err(fail("no host: expected host:port, e.g. 127.0.0.1:7200"));
    }
    if port.parse::<u16>().is_err() {
        return Err(fail(&format!("port {port:?} is not a number from 0 to 65535")));
    }
    let mut addresses =
        host_port.to_socket_addrs().map_err(|error| fail(&format!("cannot resolve host {host:?}: {error}")))?;
    addresses.next().ok_or_else(|| fail(&format!("host {host:?} resolves to no address")))
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

/// HTTPS to one server: the name its certificate must carry and the roots it must chain to.
#[derive(Debug, Clone)]
struct Tls {
    config: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
}

/// Anything a request can be written to and its answer read from: a TCP stream, or TLS over one.
trait Transport: Read + Write {}
impl<T: Read + Write> Transport for T {}

/// A client for one node's API.
#[derive(Debug, Clone)]
pub struct Client {
    address: SocketAddr,
    timeout: Duration,
    tls: Option<Tls>,
}

impl Client {
    /// A client for the plain-HTTP API at `address`, with a 10 s timeout per request.
    pub fn new(address: SocketAddr) -> Client {
        Client { address, timeout: Duration::from_secs(10), tls: None }
    }

    /// A client for `http://host:port`, `host:port` or `https://host:port`; an `https://` server's
    /// certificate must name `host` and chain to a CA certificate in the PEM file that the
    /// `COVENANT_API_CA_FILE` environment variable names.
    pub fn from_url(text: &str) -> Result<Client, AddressError> {
        let Some(rest) = text.trim().strip_prefix("https://") else { return parse_api_address(text).map(Client::new) };
        let fail = |reason: String| AddressError { text: text.to_string(), reason };
        let address = parse_host_port(text, rest)?;
        let host = rest.trim_end_matches('/').rsplit_once(':').map_or(rest, |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ca_file = std::env::var_os(CA_FILE_ENV).ok_or_else(|| {
            fail(format!(
                "https:// needs the CA certificate the API's certificate chains to: set {CA_FILE_ENV}=FILE.pem"
            ))
        })?;
        Client::new(address).with_tls(host, Path::new(&ca_file)).map_err(fail)
    }

    /// Speaks HTTPS: the server's certificate must name `server_name` and chain to a certificate in
    /// `ca_file` (PEM).
    pub fn with_tls(mut self, server_name: &str, ca_file: &Path) -> Result<Client, String> {
        let mut roots = rustls::RootCertStore::empty();
        let certificates = CertificateDer::pem_file_iter(ca_file)
            .map_err(|error| format!("CA file {}: {error}", ca_file.display()))?;
        for certificate in certificates {
            let certificate = certificate.map_err(|error| format!("CA file {}: {error}", ca_file.display()))?;
            roots.add(certificate).map_err(|error| format!("CA file {}: {error}", ca_file.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("CA file {}: no PEM certificate in it", ca_file.display()));
        }
        let server_name = ServerName::try_from(server_name.to_string())
            .map_err(|error| format!("server name {server_name:?}: {error}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS protocol versions: {error}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.tls = Some(Tls { config: Arc::new(config), server_name });
        Ok(self)
    }

    /// Whether requests go over HTTPS.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// The node address this client talks to.
    pub fn address(&self) -> SocketAddr {
        self.address
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

    /// `GET path` in an operator session (`Authorization: Bearer <token>`, see `POST /v1/auth/sessions`).
    pub fn get_in_session(&self, path: &str, token: &str) -> Result<Response, ClientError> {
        self.request_with("GET", path, None, Some(token))
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Response, ClientError> {
        self.request("POST", path, Some(("application/json", body.to_string().into_bytes())))
    }

    /// `POST path` with a JSON body and `Authorization: Bearer <token>` (a session's, or a node's
    /// operations token on its operations listener).
    pub fn post_json_with_token(&self, path: &str, body: &Value, token: &str) -> Result<Response, ClientError> {
        self.request_with("POST", path, Some(("application/json", body.to_string().into_bytes())), Some(token))
    }

    /// Submits a signed transaction; the answer holds its `hash`, or an `error` with `rule`/`article`.
    pub fn submit(&self, tx: &SignedTx) -> Result<Response, ClientError> {
        self.request("POST", "/v1/txs", Some(("application/octet-stream", tx.encode())))
    }

    /// Submits many signed transactions in one request (`POST /v1/txs/batch`); the answer's
    /// `results` hold one verdict per transaction, in order.
    pub fn submit_batch(&self, txs: &[SignedTx]) -> Result<Response, ClientError> {
        let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
        let batch = covenant_types::batch::encode_tx_batch(encoded.iter().map(Vec::as_slice));
        self.post_bytes("/v1/txs/batch", batch)
    }

    /// POSTs raw bytes (`application/octet-stream`).
    pub fn post_bytes(&self, path: &str, body: Vec<u8>) -> Result<Response, ClientError> {
        self.request("POST", path, Some(("application/octet-stream", body)))
    }

    fn request(&self, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Result<Response, ClientError> {
        self.request_with(method, path, body, None)
    }

    fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        token: Option<&str>,
    ) -> Result<Response, ClientError> {
        let io = |error: std::io::Error| ClientError::Io { address: self.address, reason: error.to_string() };
        let tcp = TcpStream::connect_timeout(&self.address, self.timeout).map_err(io)?;
        tcp.set_read_timeout(Some(self.timeout)).map_err(io)?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut stream: Box<dyn Transport> = match &self.tls {
            None => Box::new(tcp),
            Some(tls) => {
                let connection = rustls::ClientConnection::new(tls.config.clone(), tls.server_name.clone())
                    .map_err(|error| io(std::io::Error::other(error)))?;
                Box::new(rustls::StreamOwned::new(connection, tcp))
            }
        };
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", self.address);
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                request.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", bytes.len()));
                bytes
            }
            None => Vec::new(),
        };
        request.push_str("\r\n");
        let written = stream.write_all(request.as_bytes()).and_then(|()| stream.write_all(&payload));
        let mut raw = Vec::new();
        let read = (&mut stream).take(RESPONSE_BYTES_MAX as u64 + 1).read_to_end(&mut raw);
        match (written, read) {
            (Ok(()), Ok(_)) => self.parse(&raw),
            // The node may answer before it has read the whole request (413 on a declared length) and
            // close: its answer, if it arrived, is the answer.
            (Err(error), _) => self.parse(&raw).map_err(|_| io(error)),
            (Ok(()), Err(error)) => Err(io(error)),
        }
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
    let payload = Payload::Transfer(Transfer { from, to, asset, amount, memo: String::new() });
    operator_tx(chain, operator, key, nonce, created_at_ms, payload)
}

/// A signed data record from an operator.
pub fn data_record(
    chain: &ChainId,
    operator: &OperatorId,
    key: &SecretKey,
    nonce: u64,
    created_at_ms: u64,
    record: DataRecord,
) -> SignedTx {
    operator_tx(chain, operator, key, nonce, created_at_ms, Payload::DataRecord(record))
}

/// Any payload, sent and signed by an operator.
pub fn operator_tx(
    chain: &ChainId,
    operator: &OperatorId,
    key: &SecretKey,
    nonce: u64,
    created_at_ms: u64,
    payload: Payload,
) -> SignedTx {
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain.clone(),
        sender: Principal::Operator(operator.clone()),
        nonce,
        created_at_ms,
        payload,
    };
    SignedTx::sign(body, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_addresses_with_and_without_scheme() {
        let expected = SocketAddr::from(([127, 0, 0, 1], 7200));
        for text in ["127.0.0.1:7200", "http://127.0.0.1:7200", "http://127.0.0.1:7200/", " 127.0.0.1:7200 "] {
            assert_eq!(parse_api_address(text), Ok(expected), "{text}");
        }
        assert_eq!(parse_api_address("[::1]:7200"), Ok(SocketAddr::from(([0, 0, 0, 0, 0, 0, 0, 1], 7200))));
        assert_eq!(parse_api_address("localhost:7200").map(|address| address.port()), Ok(7200));
    }

    #[test]
    fn bad_api_addresses_say_why() {
        let reason = |text: &str| parse_api_address(text).unwrap_err().reason;
        assert!(reason("https://127.0.0.1:7200").contains("use Client::from_url"));
        assert!(reason("ftp://127.0.0.1:7200").contains("only http://"));
        assert!(reason("127.0.0.1").contains("no port"));
        assert!(reason("127.0.0.1:port").contains("\"port\" is not a number"));
        assert!(reason("http://127.0.0.1:7200/v1").contains("without a path"));
        assert!(reason("").contains("expected host:port"));
        assert!(reason(":7200").contains("no host"));
        let error = parse_api_address("127.0.0.1").unwrap_err();
        assert!(error.to_string().starts_with("API address \"127.0.0.1\": "), "{error}");
    }
}
