//! End to end (issue 22, the hardened HTTP edge): slow-loris clients, a trickling body, an oversized
//! body, a flooding client and a DNS-rebinding `Host` against a real node, which keeps serving other clients and the
//! consortium keeps committing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use covenant_node::http_edge::{CONNECTIONS_PER_IP_MAX, HEADER_READ_TIMEOUT, REQUEST_TIMEOUT};
use covenant_tests::Consortium;

fn api(consortium: &Consortium) -> SocketAddr {
    consortium.apis[0].address()
}

/// A connection to `address` from source address 127.0.0.2 (another client host, for the per-address cap).
fn connect_from_other_address(address: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket.bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into()).expect("binds 127.0.0.2");
    socket.connect_timeout(&address.into(), Duration::from_secs(2)).expect("connects");
    socket.into()
}

/// Sends a raw request and returns the status code of the answer.
fn raw_status(address: SocketAddr, request: &[u8]) -> u16 {
    status_on(TcpStream::connect(address).expect("connects"), request)
}

fn status_on(mut stream: TcpStream, request: &[u8]) -> u16 {
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    // The node may answer and close before all of an oversized request is written.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(count) => answer.extend_from_slice(&buffer[..count]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let first_line =
        String::from_utf8_lossy(request.split(|byte| *byte == b'\n').next().unwrap_or_default()).into_owned();
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?} for {first_line:?} ({} bytes)", request.len()))
}

#[test]
fn slow_loris_clients_are_cut_off_and_others_are_served_meanwhile() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    let address = api(&consortium);
    // More slow connections than one address may hold: the extra ones are closed at once.
    let mut slow: Vec<TcpStream> = Vec::new();
    for _ in 0..CONNECTIONS_PER_IP_MAX + 16 {
        let mut stream = TcpStream::connect(address).expect("connects");
        stream.write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").expect("partial header");
        slow.push(stream);
    }
    let started = Instant::now();
    let height = consortium.height(1);
    // Another address (127.0.0.2) is served at once while one address holds its cap.
    let status = status_on(connect_from_other_address(address), b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "another client waited {:?}", started.elapsed());
    // The slow ones trickle a byte a second; the node closes them once the header timeout passes.
    let deadline = Instant::now() + HEADER_READ_TIMEOUT + Duration::from_secs(10);
    let mut closed = 0;
    for stream in &mut slow {
        stream.set_read_timeout(Some(Duration::from_millis(10))).expect("timeout");
    }
    while Instant::now() < deadline && closed < slow.len() {
        closed = 0;
        for stream in &mut slow {
            let _ = stream.write_all(b"a");
            let mut byte = [0u8; 1];
            match stream.read(&mut byte) {
                Ok(0) => closed += 1,
                Err(error)
                    if error.kind() != std::io::ErrorKind::WouldBlock
                        && error.kind() != std::io::ErrorKind::TimedOut =>
                {
                    closed += 1
                }
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(closed, slow.len(), "the node kept slow-loris connections open past {HEADER_READ_TIMEOUT:?}");
    assert!(
        started.elapsed() >= HEADER_READ_TIMEOUT - Duration::from_secs(1),
        "closed too early: {:?}",
        started.elapsed()
    );
    consortium.wait_for_height(&[0, 1, 2, 3], height + 2, Duration::from_secs(30));
    let refused = consortium.metric(0, "covenant_api_refused_total{reason=\"connections\"}").expect("metric");
    assert!(refused >= 16.0, "the connections over the per-address cap were not refused: {refused}");
    drop(slow);

    // A body that trickles in, a byte a second, is cut off by the request timeout with 408.
    let mut trickle = TcpStream::connect(address).expect("connects");
    trickle
        .write_all(b"POST /v1/txs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
        .expect("headers");
    trickle.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
    let started = Instant::now();
    let mut answer = Vec::new();
    while started.elapsed() < REQUEST_TIMEOUT + Duration::from_secs(15) && answer.is_empty() {
        let _ = trickle.write_all(b" ");
        let mut buffer = [0u8; 1024];
        if let Ok(count) = trickle.read(&mut buffer) {
            answer.extend_from_slice(&buffer[..count]);
            if count == 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "a trickling body got {answer:?} after {:?}", started.elapsed());
    assert!(started.elapsed() >= REQUEST_TIMEOUT - Duration::from_secs(1), "cut off early: {:?}", started.elapsed());
    let refused = consortium.metric(0, "covenant_api_refused_total{reason=\"timeout\"}").expect("metric");
    assert!(refused >= 1.0, "the timed-out request was not counted: {refused}");
}

#[test]
fn an_oversized_body_and_a_foreign_host_are_refused() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0], 1, Duration::from_secs(60));
    let address = api(&consortium);
    // Refused on its declared length, before the node reads (or buffers) any of it.
    let request = "POST /v1/txs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n\
                   Content-Length: 8388608\r\n\r\n";
    assert_eq!(raw_status(address, request.as_bytes()), 413);
    // A body of no declared length is cut at the limit too (sent just past it, so that the node has read
    // all of it when it answers).
    let mut chunked = b"POST /v1/txs HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..covenant_node::api::REQUEST_BODY_BYTES_MAX / 0x10000 + 1 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend_from_slice(&[b'x'; 0x10000]);
        chunked.extend_from_slice(b"\r\n");
    }
    assert_eq!(raw_status(address, &chunked), 413);
    assert_eq!(raw_status(address, b"GET /v1/status HTTP/1.1\r\nHost: evil.example\r\n\r\n"), 421);
    assert_eq!(raw_status(address, b"GET /v1/status HTTP/1.1\r\nHost: localhost:7200\r\n\r\n"), 200);
    assert!(consortium.metric(0, "covenant_api_refused_total{reason=\"host\"}").expect("metric") >= 1.0);
}

#[test]
fn a_flooding_client_does_not_stop_the_node_serving_others_or_committing() {
    let consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    let address = api(&consortium);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..32)
        .map(|_| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let client = covenant_client::Client::new(address).with_timeout(Duration::from_secs(5));
                while !stop.load(Ordering::Relaxed) {
                    if client.get("/v1/blocks/latest").is_ok() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let height = consortium.height(0);
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let status =
            status_on(connect_from_other_address(address), b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(status, 200, "another client was refused during the flood");
        slowest = slowest.max(started.elapsed());
        std::thread::sleep(Duration::from_millis(250));
    }
    consortium.wait_for_height(&[0, 1, 2, 3], height + 3, Duration::from_secs(60));
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        flooder.join().expect("flooder");
    }
    assert!(answered.load(Ordering::Relaxed) > 100, "the flood did not run");
    assert!(slowest < Duration::from_secs(5), "another client waited {slowest:?} during the flood");
}
