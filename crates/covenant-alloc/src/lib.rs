//! The node's memory allocator: mimalloc (ADR 0008), with freed memory kept for reuse longer than
//! mimalloc's default before it goes back to the operating system (ADR 0011).
//!
//! mimalloc returns memory that stayed free for a second (`purge_delay`, 1,000 ms) to the kernel.
//! A validator under load frees and reallocates its large buffers (a block's transactions, a
//! signature batch's points) on a cycle of about a second, so the kernel took the pages back and
//! had to zero them again on the next touch: at saturation a node took about 4,500 page faults a
//! second and 7 % of its CPU went to zeroing pages. Ten seconds outlasts that cycle, and memory
//! still goes back within ten seconds after the load stops.

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// The allocator for `#[global_allocator]`.
pub use mimalloc::MiMalloc;

/// How long freed memory stays with the process before it is returned, in milliseconds.
pub const PURGE_DELAY_MS: i64 = 10_000;

/// The environment variable mimalloc reads the purge delay from; when set, the operator's value
/// is kept.
pub const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (the bindings name no constant for it);
/// the test `purge_delay_option_is_the_one_mimalloc_reads` checks the index against the default.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Keeps freed memory for [`PURGE_DELAY_MS`] unless the environment sets the delay. Call it first
/// thing in `main`; it only changes when memory is returned, never what is allocated.
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        set_purge_delay_ms(PURGE_DELAY_MS);
    }
}

/// The purge delay in force, in milliseconds (-1: never).
pub fn purge_delay_ms() -> i64 {
    // SAFETY: `mi_option_get` reads one entry of mimalloc's option table; any index below
    // `_mi_option_last` is valid and the call has no other precondition.
    #[allow(unsafe_code)]
    let value = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
    // `c_long` is `i64` on 64-bit Linux but `i32` elsewhere.
    #[allow(clippy::useless_conversion)]
    i64::from(value)
}

fn set_purge_delay_ms(milliseconds: i64) {
    let value = std::ffi::c_long::try_from(milliseconds).unwrap_or(std::ffi::c_long::MAX);
    // SAFETY: `mi_option_set` writes one entry of mimalloc's option table (an atomic store in
    // mimalloc 3) and may be called at any time; the purge delay is read again at each purge.
    #[allow(unsafe_code)]
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, value)
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purge_delay_option_is_the_one_mimalloc_reads() {
        // mimalloc's default purge delay is 1,000 ms and no other option defaults to 1,000, so
        // reading 1,000 at this index (with the environment not overriding it) names the option.
        if std::env::var_os(PURGE_DELAY_ENV).is_none() {
            assert_eq!(purge_delay_ms(), 1_000, "index {MI_OPTION_PURGE_DELAY} is not mimalloc's purge_delay");
        }
        keep_freed_memory();
        let expected = match std::env::var(PURGE_DELAY_ENV) {
            Ok(value) => value.parse().expect("a numeric MIMALLOC_PURGE_DELAY"),
            Err(_) => PURGE_DELAY_MS,
        };
        assert_eq!(purge_delay_ms(), expected);
    }
}
