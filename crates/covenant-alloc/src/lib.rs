//! The node's memory allocator: mimalloc (ADR 0008), with freed memory kept for reuse longer than
//! mimalloc's default before it goes back to the operating system (ADR 0011); and glibc's malloc,
//! which RocksDB's C++ allocates with, told to keep its large blocks for reuse too (ADR 0013).
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

/// Keeps freed memory for [`PURGE_DELAY_MS`] unless the environment sets the delay, and keeps
/// glibc's large blocks for reuse ([`glibc::keep_large_blocks`]) unless the environment tunes
/// glibc's malloc. Call it first thing in `main`; it only changes where memory comes from and when
/// it is returned, never what is allocated.
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        set_purge_delay_ms(PURGE_DELAY_MS);
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if !glibc::tuned_by_environment() {
        glibc::keep_large_blocks();
    }
}

/// glibc's malloc, which serves RocksDB: its memtables' arena blocks (8 MiB each, a quarter of a
/// memtable being filled every second or so under load) and each block's write batch (megabytes).
///
/// By default glibc maps any block above a threshold that starts at 128 KiB straight from the kernel
/// and unmaps it when freed, so every new arena block and batch was faulted in and zeroed by the
/// kernel again: 4.5 % of a saturated validator's samples in one profile, about 2 % in another
/// (docs/benchmarking.md, step 12). Serving
/// blocks up to [`glibc::MMAP_THRESHOLD_BYTES`] from the heap, and not trimming its top below
/// [`glibc::TRIM_THRESHOLD_BYTES`], reuses the same memory block after block. RocksDB's own budget
/// (320 MiB) bounds what it holds; this only changes where that memory comes from.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub mod glibc {
    /// Blocks up to this size come from the heap: the most glibc's own moving threshold reaches on
    /// 64-bit, above RocksDB's arena blocks and a block's write batch.
    pub const MMAP_THRESHOLD_BYTES: i32 = 32 * 1024 * 1024;
    /// Free memory at the top of the heap is returned to the kernel only beyond this.
    pub const TRIM_THRESHOLD_BYTES: i32 = 1024 * 1024 * 1024;
    /// The environment variable through which an operator tunes glibc's malloc (a value naming
    /// `glibc.malloc` keeps the operator's settings).
    pub const TUNABLES_ENV: &str = "GLIBC_TUNABLES";

    /// Whether the operator tunes glibc's malloc through [`TUNABLES_ENV`].
    pub fn tuned_by_environment() -> bool {
        std::env::var(TUNABLES_ENV).is_ok_and(|value| value.contains("glibc.malloc"))
    }

    /// Sets the two thresholds. Returns whether glibc took both.
    pub fn keep_large_blocks() -> bool {
        // SAFETY: `mallopt` changes malloc's parameters under malloc's own lock and may be called
        // at any time; it has no memory-safety precondition.
        #[allow(unsafe_code)]
        let (mmap, trim) = unsafe {
            (
                libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
            )
        };
        // `mallopt` answers 1 on success and 0 on error (a threshold out of range, say).
        mmap == 1 && trim == 1
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

    /// Once tuned, glibc serves a block the size of a RocksDB arena block from its heap instead of
    /// mapping it from the kernel (by default it maps anything above 128 KiB).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    #[allow(unsafe_code)]
    fn glibc_serves_large_blocks_from_its_heap() {
        assert!(glibc::keep_large_blocks());
        // SAFETY: `mallinfo2` only reads malloc's statistics; the block is freed once, unused.
        unsafe {
            let mapped_before = libc::mallinfo2().hblks;
            let block = libc::malloc(8 * 1024 * 1024);
            assert!(!block.is_null());
            let mapped_with_block = libc::mallinfo2().hblks;
            libc::free(block);
            assert_eq!(mapped_with_block, mapped_before, "an 8 MiB block was mapped from the kernel");
        }
    }

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
