//! The process's memory: how the two allocators in it are set up, handing freed memory back to
//! the operating system, and the peak the kernel counted.
//!
//! Two allocators share the process. Rust's own allocations go to mimalloc (the binary's global
//! allocator, `src/main.rs`); SQLite, a C library, allocates with glibc's `malloc` — its page
//! caches above all, a few thousand pages of 4 KiB per connection (`[database] page_cache_mb`).
//! Each keeps memory it was given back for later, and how much it keeps decides how far the
//! resident size rises above what is in use:
//! - glibc gives every thread that meets a locked arena an arena of its own, up to eight per
//!   core, and memory freed in one arena serves only that arena's later requests. sqlx runs each
//!   SQLite connection on a thread of its own, so each connection's cache pages, freed when
//!   another connection's writes make them stale, stayed resident in that connection's arena.
//!   [`configure`] keeps glibc to one arena: 300,000 grants' bench peaked at 149 MB with an
//!   arena per thread and 114 MB with one (measured 2026-12-07, the same binary).
//! - mimalloc, where the operating system overcommits (Linux), commits its arenas eagerly and
//!   then hands freed pages back with `MADV_FREE`, which the kernel takes only under memory
//!   pressure: they stay resident and counted. It is built with its arenas committed on demand
//!   instead (`MI_DEFAULT_ARENA_EAGER_COMMIT=0` in `.cargo/config.toml`), so freed pages go back
//!   with `MADV_DONTNEED` and leave the resident size: a 1,000-grant bench ran at 56 MB
//!   resident before, 28 MB after.

/// Sets glibc's allocator up for this process; call first in `main`, before any thread starts.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; called before other threads
    // exist, nothing allocates with glibc concurrently.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Hands memory both allocators hold free back to the operating system now (mimalloc's freed
/// pages, glibc's free chunks), so the resident size is what is in use. The bench calls it
/// before each stage, so that a stage's peak is its own and not what the simulator freed.
pub fn release() {
    // SAFETY: both calls take no pointers; they only return free memory to the OS.
    unsafe {
        libmimalloc_sys::mi_collect(true);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        libc::malloc_trim(0);
    }
}

/// The process's peak resident size in MB since it started or since [`reset_peak`] (Linux's
/// `VmHWM`), 0 where unknown.
pub fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Counts the peak afresh from the present resident size (Linux resets `VmHWM` on `5` into
/// `/proc/self/clear_refs`); elsewhere nothing happens.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
