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
