//! # covenant-sim
//!
//! A deterministic simulator that tries to break `covenant-consensus`. One `u64` seed decides
//! everything: how many validators (4 or 7), which of them are Byzantine and how, which are twins,
//! each validator's clock skew, every message's delay, loss, duplication and order, partitions and
//! their healing, crashes and restarts. The engines are the real ones, signing and verifying with real
//! ed25519 keys; only the network, clocks, disks and execution are simulated (execution is a toy:
//! the state root is the hash of the parent's state root and the transaction hashes).
//!
//! After every commit the [checkers](check) assert agreement, validity and monotonic heights and
//! timestamps; after the fault phase ends, liveness: every honest validator must commit more heights
//! within a bounded virtual time.
//!
//! ```
//! use covenant_sim::{SimConfig, Simulation};
//!
//! let report = Simulation::new(SimConfig::calm(42, 4)).run().expect("no invariant breaks");
//! assert!(report.heights_min >= 3);
//! ```
//!
//! A failure prints `seed=N`; the suites print the one command that replays it with a live trace:
//! `COVENANT_SIM_SEED=N cargo test -p covenant-sim --lib replay -- --nocapture`.
//!
//! The twin and Byzantine faults stay within f = ⌊(n-1)/3⌋ validators in the suites that must pass.
//! The negative controls go beyond (f+1 twins, or the quorum lowered to 2f with the test-only engine
//! knob) and assert that the checkers report the fork.

pub mod check;
pub mod config;
pub mod rng;
pub mod sim;

pub use check::{Checker, InvariantViolation};
pub use config::{Byzantine, SimConfig};
pub use sim::{SimFailure, SimReport, Simulation};

/// Runs the configuration [`SimConfig::from_seed`] draws for `seed`.
pub fn run_seed(seed: u64) -> Result<SimReport, SimFailure> {
    Simulation::new(SimConfig::from_seed(seed)).run()
}

#[cfg(test)]
mod tests;
