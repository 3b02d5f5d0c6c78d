//! The API's edge: what bounds a client before its request reaches a handler. One member's clients,
//! or anyone who can reach the port, must not be able to stop the node serving others:
//!
//! - at most [`CONNECTIONS_MAX`] connections, [`CONNECTIONS_PER_IP_MAX`] from one address; a connection
//!   over either cap is closed at once;
//! - a request's headers must arrive within [`HEADER_READ_TIMEOUT`], which also closes a keep-alive
//!   connection idle for that long (slow-loris clients hold a slot for no longer);
//! - a whole request, body included, is answered within [`REQUEST_TIMEOUT`] (408 otherwise), and at
//!   most [`REQUESTS_IN_FLIGHT_MAX`] are handled at once (503 for the rest);
//! - the `Host` header must be an IP address, `localhost`, or a name in `api_hosts` (DNS rebinding).
//!
//! Body sizes are bounded per route by the router (`DefaultBodyLimit`); a request whose declared
//! `Content-Length` is over its route's bound is refused (413) before any of the body is read.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::json;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::metrics::Metrics;

/// Connections served at once.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Connections served at once from one IP address.
pub const CONNECTIONS_PER_IP_MAX: usize = 256;
/// Requests handled at once; more wait for no one: they are answered 503.
pub const REQUESTS_IN_FLIGHT_MAX: usize = 512;
/// How long a client may take to send a request's headers, or leave a keep-alive connection idle.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a whole request may take, its body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const _: () = assert!(CONNECTIONS_PER_IP_MAX <= CONNECTIONS_MAX && REQUESTS_IN_FLIGHT_MAX <= CONNECTIONS_MAX);

/// What the request middleware needs.
#[derive(Clone)]
struct Guard {
    in_flight: Arc<Semaphore>,
    hosts: Arc<Vec<String>>,
    metrics: Arc<Metrics>,
}

/// `router` with the request bounds of this module: the `Host` check, the in-flight cap and the
/// request timeout.
pub fn bounded(router: Router, api_hosts: Vec<String>, metrics: Arc<Metrics>) -> Router {
    let guard =
        Guard { in_flight: Arc::new(Semaphore::new(REQUESTS_IN_FLIGHT_MAX)), hosts: Arc::new(api_hosts), metrics };
    router.layer(axum::middleware::from_fn_with_state(guard, guard_request))
}

fn refusal(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

async fn guard_request(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    if let Some(host) = request.headers().get(header::HOST) {
        let host = host.to_str().unwrap_or_default();
        if !host_allowed(host, &guard.hosts) {
            guard.metrics.api_refused_host.fetch_add(1, Ordering::Relaxed);
            return refusal(
                StatusCode::MISDIRECTED_REQUEST,
                format!("Host {host:?} is not a name this node serves (add it to api_hosts in node.toml)"),
            );
        }
    }
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let limit = crate::api::body_bytes_max(request.uri().path());
    if declared.is_some_and(|bytes| bytes > limit as u64) {
        return refusal(StatusCode::PAYLOAD_TOO_LARGE, format!("a body of at most {limit} bytes is accepted here"));
    }
    let Ok(_permit) = guard.in_flight.clone().try_acquire_owned() else {
        guard.metrics.api_refused_busy.fetch_add(1, Ordering::Relaxed);
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{REQUESTS_IN_FLIGHT_MAX} requests are being handled; retry shortly"),
        );
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            guard.metrics.api_timed_out.fetch_add(1, Ordering::Relaxed);
            refusal(StatusCode::REQUEST_TIMEOUT, format!("the request took longer than {REQUEST_TIMEOUT:?}"))
        }
    }
}

/// Whether a `Host` header names this node: an IP address (with or without a port, IPv6 in
/// brackets), `localhost`, or one of `names` (lower case).
pub fn host_allowed(host: &str, names: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        return rest.split_once(']').is_some_and(|(address, _)| address.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.parse::<u16>().is_ok() => name,
            _ => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok() || name == "localhost" || names.contains(&name)
}

/// Connections held per IP address.
#[derive(Default)]
struct PerIp(Mutex<BTreeMap<IpAddr, usize>>);

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(ip).or_default();
        if *count >= CONNECTIONS_PER_IP_MAX {
            return None;
        }
        *count += 1;
        Some(IpSlot { per_ip: self.clone(), ip })
    }
}

/// One connection's share of its address's cap, given back when dropped.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut counts = self.per_ip.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Serves `router` on `listener` with the connection bounds of this module until `stop` flips to
/// true; open connections then finish their current request. With `tls`, every connection is HTTPS: the
/// handshake must complete within [`HEADER_READ_TIMEOUT`], and a client that does not speak TLS is
/// dropped.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let per_ip = Arc::new(PerIp::default());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::warn!(%error, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => return,
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics.api_refused_connections.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let Some(slot) = per_ip.take(peer.ip()) else {
            metrics.api_refused_connections.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let service = TowerToHyperService::new(router.clone().layer(axum::Extension(ConnectInfo::<SocketAddr>(peer))));
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _held = (permit, slot);
            match tls {
                None => serve_connection(TokioIo::new(stream), service, stop).await,
                Some(acceptor) => match tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(TokioIo::new(stream), service, stop).await,
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "API TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "API TLS handshake timed out"),
                },
            }
        });
    }
}

/// One HTTP/1.1 connection over `io`, shut down gracefully when `stop` flips.
async fn serve_connection<I, S>(io: I, service: S, mut stop: watch::Receiver<bool>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    S::Future: Send + 'static,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_address_localhost_or_configured_name_are_allowed() {
        let names = vec!["node1.bank.example".to_string()];
        for host in [
            "127.0.0.1:7200",
            "10.0.0.5",
            "[::1]:7200",
            "[fe80::1]",
            "localhost:7200",
            "LOCALHOST",
            "node1.bank.example:7200",
            "Node1.Bank.Example.",
        ] {
            assert!(host_allowed(host, &names), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:7200",
            "node1.bank.example.evil.example",
            "[not-v6]:7200",
            "",
            "localhost.evil.example",
        ] {
            assert!(!host_allowed(host, &names), "{host}");
        }
    }
}
