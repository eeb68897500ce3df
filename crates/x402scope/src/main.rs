//! `x402scope`: the explorer and indexer for x402 payments.
//!
//! This binary is thin: it parses the command line, loads the one typed
//! configuration, sets up logging and the shutdown token, and hands off to the
//! library crates. It is the only place that reads the process environment.

mod analyze;
mod bench;
mod cli;
mod config;
mod crawl;
mod index;
mod index_solana;
mod probe;
mod screen;
mod serve;
mod shutdown;
mod sqlite_heap;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: list pages allocate a few short strings per row, and glibc's
/// allocator was a fifth of the CPU of an uncached `/api/v1/transactions`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hand the C heap's free pages back to the system. SQLite allocates its
/// caches through the C allocator, from whichever thread runs a query, and
/// glibc keeps what a large job freed in per-thread arenas: after an analysis
/// run over a large store that is a hundred MiB or more of resident memory
/// nothing uses. Called after such jobs; a no-op elsewhere than glibc.
pub(crate) fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    trim_c_heap();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim_c_heap() {
    // SAFETY: malloc_trim takes no pointers and only returns free memory of the
    // allocator's own arenas to the system; any thread may call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> ExitCode {
    // The dependency tree enables more than one rustls crypto provider, so a TLS
    // client that relies on the process default would find none: choose one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    sqlite_heap::install();
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the whole anyhow chain on one line.
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
