//! A TCP proxy that adds latency, for networks whose kernel has no `netem`: every chunk read from one
//! side is written to the other side no sooner than a delay after it arrived, in order. The delay can
//! change while connections are open ([`DelayProxy::set_delay`]); memory is bounded by a queue of
//! [`CHUNKS_QUEUED_MAX`] chunks of at most [`CHUNK_BYTES`] per direction of a connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest chunk read at once.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks waiting out their delay per direction of a connection; a full queue stops reading, which
/// pushes back on the sender through TCP as a slow link would.
const CHUNKS_QUEUED_MAX: usize = 256;

/// A listening proxy to one target address.
pub struct DelayProxy {
    address: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on `listen` (port 0: any free port) and forwards every connection to `target`, each way
    /// delayed by the current delay (initially none). Call from the thread (and so the network
    /// namespace) the proxy should live in; its threads stay there.
    pub fn start(listen: SocketAddr, target: SocketAddr, netns: Option<String>) -> std::io::Result<DelayProxy> {
        let (bound, listener) = {
            let (sender, receiver) = sync_channel(1);
            let netns_for_bind = netns.clone();
            std::thread::spawn(move || {
                if let Some(netns) = netns_for_bind {
                    crate::hosts::enter_netns(&netns);
                }
                let _ = sender.send(TcpListener::bind(listen).map(|listener| (listener.local_addr(), listener)));
            })
            .join()
            .expect("bind thread");
            let (address, listener) = receiver.recv().expect("bind result")?;
            (address?, listener)
        };
        listener.set_nonblocking(true)?;
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (delay, stopping) = (delay_ms.clone(), stop.clone());
        let acceptor = std::thread::Builder::new().name(format!("proxy-{bound}")).spawn(move || {
            if let Some(netns) = netns {
                crate::hosts::enter_netns(&netns);
            }
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inbound, _)) => {
                        let _ = inbound.set_nonblocking(false);
                        if let Ok(outbound) = TcpStream::connect_timeout(&target, Duration::from_secs(2)) {
                            relay(inbound, outbound, delay.clone(), stopping.clone());
                        }
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })?;
        Ok(DelayProxy { address: bound, delay_ms, stop, acceptor: Some(acceptor) })
    }

    /// Where the proxy listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Sets the one-way delay of every connection, open ones included.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::Relaxed);
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Relays both ways between two connected streams, each direction by a reader and a writer thread.
fn relay(a: TcpStream, b: TcpStream, delay_ms: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    for (from, to) in [(a.try_clone(), b.try_clone()), (b.try_clone(), a.try_clone())] {
        let (Ok(from), Ok(to)) = (from, to) else { return };
        let (sender, receiver) = sync_channel::<(Instant, Vec<u8>)>(CHUNKS_QUEUED_MAX);
        let reader_delay = delay_ms.clone();
        let reader_stop = stop.clone();
        std::thread::spawn(move || read_side(from, sender, reader_delay, reader_stop));
        std::thread::spawn(move || write_side(to, receiver));
    }
}

fn read_side(
    mut from: TcpStream,
    queue: SyncSender<(Instant, Vec<u8>)>,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buffer = vec![0u8; CHUNK_BYTES];
    while !stop.load(Ordering::Relaxed) {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => {
                let due = Instant::now() + Duration::from_millis(delay_ms.load(Ordering::Relaxed));
                if queue.send((due, buffer[..count].to_vec())).is_err() {
                    break;
                }
            }
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Read);
}

fn write_side(mut to: TcpStream, queue: Receiver<(Instant, Vec<u8>)>) {
    while let Ok((due, chunk)) = queue.recv() {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
