//! What a run measured, and why a run failed.

use std::collections::BTreeMap;

use crate::check::InvariantViolation;

/// What a finished run measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Validators at genesis.
    pub validators: usize,
    /// Lowest height committed by any honest validator at the end.
    pub heights_min: u64,
    /// Highest height committed by any validator at the end.
    pub heights_max: u64,
    /// Events processed.
    pub events: u64,
    /// Messages delivered to a node core.
    pub messages: u64,
    /// Virtual time simulated, in milliseconds.
    pub virtual_ms: u64,
    /// The engines' refusals, by rule id or error kind.
    pub rejections: BTreeMap<String, u64>,
    /// What the faults of the run actually did, by kind (see [`crate::faults`]).
    pub faults: BTreeMap<&'static str, u64>,
    /// Client transactions committed.
    pub txs_committed: u64,
}

impl SimReport {
    /// Adds `amount` to fault `kind`.
    pub fn count(&mut self, kind: &'static str, amount: u64) {
        if amount > 0 {
            *self.faults.entry(kind).or_default() += amount;
        }
    }

    /// How often fault `kind` happened.
    pub fn fault(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }

    /// How often the engines refused something with `label` (a rule id or an error kind).
    pub fn rejected(&self, label: &str) -> u64 {
        self.rejections.get(label).copied().unwrap_or(0)
    }
}

/// A failed run: the broken invariant and the last lines of the trace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("seed={seed}: {violation}\n--- last trace lines ---\n{trace}")]
pub struct SimFailure {
    /// The seed that reproduces the failure.
    pub seed: u64,
    /// What broke.
    pub violation: InvariantViolation,
    /// The end of the trace.
    pub trace: String,
}
