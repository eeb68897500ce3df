//! Test support for x402scope: starts the real components that tests talk to.
//!
//! - [`x402::X402Stack`]: a fresh anvil chain with the EIP-3009 test token at the
//!   Base Sepolia USDC address, plus (optionally) the reference x402 facilitator and
//!   `@x402/express` server from `tests/env`.
//! - `clickhouse`: a real ClickHouse server and a fresh database per test.
//! - [`rpc_proxy::RpcProxy`]: a JSON-RPC proxy in front of anvil that injects
//!   provider faults (429s, timeouts, range limits, empty logs, a lagging head).
//!
//! Every child process is owned by a value whose `Drop` kills it, and is also
//! started with `PR_SET_PDEATHSIG`, so nothing outlives the test process even when
//! a test panics or is killed. The npm parts are installed by the test command
//! (`tests/run.sh`); when they are missing, the error says so.

pub mod clickhouse;
pub mod http;
pub mod process;
pub mod rpc_proxy;
pub mod settlements;
pub mod x402;

use std::path::PathBuf;

/// Errors from starting or talking to a test component.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    #[error(
        "{what} is not installed at {path}: run `tests/run.sh` once (it installs the test environment)"
    )]
    NotInstalled { what: &'static str, path: PathBuf },
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        source: std::io::Error,
    },
    #[error("{what} did not become ready within {secs} s{detail}")]
    NotReady {
        what: String,
        secs: u64,
        detail: String,
    },
    #[error("{what} exited early with {status}: {stderr}")]
    Exited {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("{what} printed something that is not the expected JSON: {source}; line: {line}")]
    BadOutput {
        what: String,
        line: String,
        source: serde_json::Error,
    },
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
}

/// The repository root (where `tests/env` lives): two levels above this
/// crate's manifest. A build cached from a checkout elsewhere (a shared
/// `CARGO_TARGET_DIR`) keeps that checkout's path, so when it is gone, the
/// root is taken from the manifest folder cargo gives the running test (every
/// crate sits at `crates/NAME`).
pub fn repo_root() -> PathBuf {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if built.join("tests").is_dir() {
        return built;
    }
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join("../.."))
        .filter(|r| r.join("tests").is_dir())
        .unwrap_or(built)
}

/// The npm test environment folder, `tests/env`.
pub fn env_dir() -> PathBuf {
    repo_root().join("tests/env")
}

/// A free TCP port on 127.0.0.1 at the time of the call.
pub fn free_port() -> Result<u16, TestkitError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
