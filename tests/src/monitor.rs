//! Watches a consortium while faults happen: every node's height, sampled a few times a second from
//! a thread of its own (inside the observer host when the nodes run on hosts of their own).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use covenant_client::Client;

use crate::now_ms;

/// Samples kept: at four a second, over an hour.
const SAMPLES_MAX: usize = 16_384;

/// Every node's height at one moment (`None`: it did not answer in time: stopped, paused or cut off).
#[derive(Clone, Debug)]
pub struct Sample {
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// Height per node.
    pub heights: Vec<Option<u64>>,
}

/// A running height sampler.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<VecDeque<Sample>>>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    /// Samples the nodes at `apis` every `every`, from network namespace `netns` if given.
    pub fn start(netns: Option<String>, apis: Vec<SocketAddr>, every: Duration) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(VecDeque::new()));
        let (stop_flag, store) = (stop.clone(), samples.clone());
        let thread = std::thread::Builder::new()
            .name("monitor".into())
            .spawn(move || {
                if let Some(netns) = netns {
                    crate::hosts::enter_netns(&netns);
                }
                // Short: a paused node must not hold up the others' samples for long.
                let clients: Vec<Client> =
                    apis.iter().map(|api| Client::new(*api).with_timeout(Duration::from_millis(400))).collect();
                while !stop_flag.load(Ordering::Relaxed) {
                    let at_ms = now_ms();
                    let heights = clients
                        .iter()
                        .map(|client| {
                            let response = client.get("/v1/status").ok().filter(|response| response.is_success())?;
                            response.body["height"].as_u64()
                        })
                        .collect();
                    let mut samples = store.lock().expect("samples lock");
                    if samples.len() == SAMPLES_MAX {
                        samples.pop_front();
                    }
                    samples.push_back(Sample { at_ms, heights });
                    drop(samples);
                    std::thread::sleep(every);
                }
            })
            .expect("monitor thread");
        Monitor { stop, samples, thread: Some(thread) }
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("samples lock").iter().cloned().collect()
    }

    /// The highest height any of `nodes` reported in `[from_ms, to_ms]`.
    pub fn max_height(&self, nodes: &[usize], from_ms: u64, to_ms: u64) -> Option<u64> {
        self.samples()
            .iter()
            .filter(|sample| sample.at_ms >= from_ms && sample.at_ms <= to_ms)
            .flat_map(|sample| nodes.iter().filter_map(|node| sample.heights[*node]))
            .max()
    }

    /// Each of `nodes`' most recent height (`None` if it has not answered since `since_ms`).
    pub fn latest(&self, nodes: &[usize], since_ms: u64) -> Vec<Option<u64>> {
        let samples = self.samples();
        nodes
            .iter()
            .map(|node| {
                samples
                    .iter()
                    .rev()
                    .take_while(|sample| sample.at_ms >= since_ms)
                    .find_map(|sample| sample.heights[*node])
            })
            .collect()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
