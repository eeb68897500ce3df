//! SQLite's heap on the process allocator (mimalloc).
//!
//! SQLite allocates its page caches, sorters and statements through the C
//! allocator, from whichever thread runs the query. glibc keeps what one of
//! those threads freed in that thread's arena, so a serving process whose
//! blocking threads each ran a large query held the sum of their peaks
//! (measured: 189 MB with an analysis run and a dashboard refresh at once,
//! a large part of it freed SQLite pages). mimalloc, which the Rust side
//! already uses, returns freed pages to the system.
//!
//! This module is an FFI boundary: it is the only place that allows `unsafe`.
#![allow(unsafe_code)]

use std::os::raw::{c_int, c_void};

use rusqlite::ffi;

unsafe extern "C" fn sqlite_malloc(n: c_int) -> *mut c_void {
    match usize::try_from(n) {
        // SAFETY: mi_malloc takes any size and returns null on failure, which
        // SQLite handles as out of memory.
        Ok(n) if n > 0 => unsafe { libmimalloc_sys::mi_malloc(n) },
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn sqlite_free(p: *mut c_void) {
    // SAFETY: SQLite frees only what `sqlite_malloc`/`sqlite_realloc` returned
    // (or null, which mi_free accepts).
    unsafe { libmimalloc_sys::mi_free(p) }
}

unsafe extern "C" fn sqlite_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    match usize::try_from(n) {
        // SAFETY: `p` came from this allocator (SQLite's contract).
        Ok(n) if n > 0 => unsafe { libmimalloc_sys::mi_realloc(p, n) },
        _ => std::ptr::null_mut(),
    }
}

unsafe extern "C" fn sqlite_size(p: *mut c_void) -> c_int {
    // SAFETY: `p` is a live allocation of this allocator (SQLite's contract).
    let n = unsafe { libmimalloc_sys::mi_usable_size(p) };
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn sqlite_roundup(n: c_int) -> c_int {
    n.saturating_add(7) & !7
}

unsafe extern "C" fn sqlite_init(_: *mut c_void) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn sqlite_shutdown(_: *mut c_void) {}

/// Route SQLite's allocations to mimalloc. Call before any SQLite use; once
/// SQLite has started, it refuses the change (and keeps the C allocator).
pub(crate) fn install() {
    let methods = ffi::sqlite3_mem_methods {
        xMalloc: Some(sqlite_malloc),
        xFree: Some(sqlite_free),
        xRealloc: Some(sqlite_realloc),
        xSize: Some(sqlite_size),
        xRoundup: Some(sqlite_roundup),
        xInit: Some(sqlite_init),
        xShutdown: Some(sqlite_shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: SQLITE_CONFIG_MALLOC takes a pointer to an sqlite3_mem_methods,
    // which SQLite copies before returning; every function above meets
    // SQLite's allocator contract. Before SQLite is initialised nothing else
    // allocates through it; afterwards the call fails and changes nothing.
    let rc = unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods) };
    if rc != ffi::SQLITE_OK {
        tracing::debug!(
            rc,
            "SQLite was already initialised; it keeps the C allocator"
        );
    }
}
