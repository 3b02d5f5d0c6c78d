//! # covenant-sim
//!
//! A deterministic simulator that tries to break a consortium of Covenant nodes. One `u64` seed
//! decides everything: how many validators (4 or 7), which of them are Byzantine and how, which are
//! twins, each node's clock skew, every message's delay, loss, duplication and order, partitions,
//! missing links, crashes and restarts, the clients' transactions, and a change of the validator set
//! by governance.
//!
//! What runs is what a validator runs: each node is a real [`covenant_core::NodeCore`] (consensus
//! engine, mempool and admission, execution, commit, sync decisions, peer accounting and budgets)
//! over a real store from `covenant-storage` (in memory, or RocksDB), signing and verifying with real
//! ed25519 keys. Messages travel as encoded bytes through a model of gossipsub relaying (a node
//! forwards only what its core accepted) and block sync through the real sync protocol's wire format.
//! Only the network, the clocks and the disks' timing are simulated.
//!
//! After every commit the [checkers](check) assert agreement, validity (recomputed by the checker's
//! own replica), monotonic heights, no double votes by honest validators, exactly-once client
//! transactions, conserved balances, and that no honest node blames an honest peer; after the fault
//! phase ends, liveness. Each run counts what its faults actually did ([`faults`]).
//!
//! ```
//! use covenant_sim::{SimConfig, Simulation};
//!
//! let report = Simulation::new(SimConfig::calm(42, 4)).run().expect("no invariant breaks");
//! assert!(report.heights_min >= 3);
//! ```
//!
//! A failure prints `seed=N`; `cargo run --release -p covenant-sim -- --seed N` replays it with a
//! live trace.

pub mod chain;
pub mod check;
pub mod config;
pub mod faults;
pub mod report;
pub mod rng;
pub mod sim;

pub use check::{Checker, InvariantViolation};
pub use config::{Byzantine, Mutation, SimConfig, StoreKind, Trap};
pub use report::{SimFailure, SimReport};
pub use sim::Simulation;

/// Runs the configuration [`SimConfig::from_seed`] draws for `seed`.
pub fn run_seed(seed: u64) -> Result<SimReport, Box<SimFailure>> {
    Simulation::new(SimConfig::from_seed(seed)).run()
}

#[cfg(test)]
mod tests;
