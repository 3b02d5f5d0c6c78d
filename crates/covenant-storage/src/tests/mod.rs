//! Tests: one shared suite run against every store (as openraft's `Suite` and Sui's store tests
//! do), audit tampering, backend-specific tests, and the SIGKILL crash test.

mod audit_suite;
mod backends;
mod crash;
mod fixtures;
mod harness;
mod suite;

/// Instantiates every shared test for one harness.
macro_rules! shared_suite {
    ($harness:ty) => {
        shared_suite!(@tests $harness;
            suite::commit_and_read_back,
            suite::heights_must_be_sequential,
            suite::parent_mismatch_refused,
            suite::state_writes_and_deletes,
            suite::tx_index_and_receipts,
            suite::safety_state_round_trip,
            suite::reopen_restores_everything,
            suite::corrupt_values_detected,
            suite::unknown_schema_refused,
            suite::version_1_store_upgraded,
            suite::oversized_writes_refused,
            suite::concurrent_writers_keep_order,
            audit_suite::audit_append_and_range,
            audit_suite::audit_edited_field_detected,
            audit_suite::audit_edited_hash_detected,
            audit_suite::audit_rewritten_and_rehashed_detected,
            audit_suite::audit_deleted_middle_detected,
            audit_suite::audit_deleted_first_detected,
            audit_suite::audit_inserted_detected,
            audit_suite::audit_inserted_past_head_detected,
            audit_suite::audit_swapped_detected,
            audit_suite::audit_undecodable_detected,
            audit_suite::audit_truncated_tail_detected,
            audit_suite::audit_rewritten_tail_caught_by_anchor,
            audit_suite::audit_incremental_verification_from_a_verified_head,
            audit_suite::audit_pruning_respects_retention,
            audit_suite::audit_pruning_refuses_tampered_log,
        );
    };
    (@tests $harness:ty; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                crate::tests::$module::$name::<$harness>();
            }
        )*
    };
}

mod memory {
    shared_suite!(crate::tests::harness::MemoryHarness);
}

mod rocks {
    shared_suite!(crate::tests::harness::RocksHarness);
}

#[test]
fn retention_minimum_is_the_covenant_bound() {
    let bound = covenant_rules::PARAM_BOUNDS
        .iter()
        .find(|bound| bound.name == "audit_retention_days")
        .expect("covenant-rules bounds audit_retention_days");
    assert_eq!(bound.min, crate::limits::AUDIT_RETENTION_DAYS_MIN);
}
