//! The API over TLS (COV-21): the node's HTTP edge serves HTTPS with a certificate from the operator's CA,
//! the SDK (and so the CLI) speaks it when given that CA, and neither side falls back to plain HTTP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use serde_json::json;

use covenant_client::Client;
use covenant_node::metrics::Metrics;

/// A CA and a certificate for `localhost` and 127.0.0.1 it signs, written as PEM files in `dir`:
/// (CA file, certificate file, key file).
fn certificates(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let certificate = params.signed_by(&key, &ca, &ca_key).unwrap();
    let files =
        (dir.join(format!("{name}-ca.pem")), dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&files.0, ca.pem()).unwrap();
    std::fs::write(&files.1, certificate.pem()).unwrap();
    std::fs::write(&files.2, key.serialize_pem()).unwrap();
    files
}

/// Serves a one-route API with TLS from `cert` and `key` on a loopback port, in the background.
fn serve_tls(cert: &Path, key: &Path) -> SocketAddr {
    let acceptor = covenant_node::tls::acceptor(cert, key).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new().route("/v1/status", get(|| async { axum::Json(json!({"height": 7})) }));
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    std::thread::spawn(move || {
        let _stop = _stop;
        runtime.block_on(covenant_node::http_edge::serve(
            listener,
            router,
            Some(acceptor),
            Arc::new(Metrics::new()),
            stopped,
        ));
    });
    address
}

// covers: COV-21-ENCRYPTED-TRANSPORT
#[test]
fn api_tls_serves_https_to_a_client_that_trusts_its_ca_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), "node");
    let address = serve_tls(&cert, &key);

    let client = Client::new(address).with_tls("localhost", &ca).unwrap();
    let answer = client.get("/v1/status").unwrap();
    assert_eq!((answer.status, answer.body["height"].as_u64()), (200, Some(7)), "{:?}", answer.body);
    let by_address = Client::new(address).with_tls("127.0.0.1", &ca).unwrap();
    assert_eq!(by_address.get("/v1/status").unwrap().status, 200);

    // Plain HTTP to the TLS port gets no answer: the edge never falls back.
    let plain = Client::new(address).get("/v1/status");
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A client trusting another CA refuses the node's certificate, and so does one asking for another name.
    let (other_ca, _, _) = certificates(dir.path(), "other");
    let error = Client::new(address).with_tls("localhost", &other_ca).unwrap().get("/v1/status").unwrap_err();
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
    let error = Client::new(address).with_tls("node.bank.example", &ca).unwrap().get("/v1/status").unwrap_err();
    assert!(error.to_string().to_lowercase().contains("certificate"), "{error}");
}

#[test]
fn api_tls_files_that_are_not_a_certificate_and_its_key_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = certificates(dir.path(), "node");
    let (_, _, other_key) = certificates(dir.path(), "other");
    let error = covenant_node::tls::acceptor(&cert, &other_key).map(|_| ()).unwrap_err();
    assert!(error.contains("do not make a usable certificate"), "{error}");
    let error = covenant_node::tls::acceptor(&key, &key).map(|_| ()).unwrap_err();
    assert!(error.contains("no PEM certificate") && error.contains("node-key.pem"), "{error}");
    let error = Client::new("127.0.0.1:1".parse().unwrap()).with_tls("localhost", &key).unwrap_err();
    assert!(error.contains("no PEM certificate"), "{error}");
}
