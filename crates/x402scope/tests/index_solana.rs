//! `x402scope index solana` driven as a user would: its config is checked and
//! printed redacted, and an unreachable node is a clear error, not a hang or a
//! panic. (Indexing itself is tested against a real validator in
//! crates/solana-validator-tests.)

#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn x402scope(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_x402scope"));
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_solana_section_is_typed_and_its_rpc_url_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x402scope.toml"),
        "[solana]\nrpc_url = \"https://rpc.example/SECRETKEY?api-key=SECRET2\"\npay_to = [\"CKPKJWNdJEqa81x7CkZ14BVPiY6y16Sxs7owznqtWYp5\"]\n",
    )
    .unwrap();
    let out = x402scope(dir.path(), &["config", "check"], &[]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("[solana]") && printed.contains("page_size = 1000"),
        "{printed}"
    );
    assert!(!printed.contains("SECRET"), "{printed}");

    std::fs::write(
        dir.path().join("x402scope.toml"),
        "[solana]\nrate_limit = \"fast\"\n",
    )
    .unwrap();
    let out = x402scope(dir.path(), &["config", "check"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("solana.rate_limit"));
}

#[test]
fn an_unreachable_node_is_a_clear_error() {
    unreachable_node_is_a_clear_error("http");
}

/// An https endpoint takes the TLS path, which fails as cleanly.
#[test]
fn an_unreachable_https_node_is_a_clear_error_not_a_panic() {
    unreachable_node_is_a_clear_error("https");
}

fn unreachable_node_is_a_clear_error(scheme: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store = format!("sqlite://{}", dir.path().join("x.db").display());
    let rpc = format!("{scheme}://127.0.0.1:{port}");
    let out = x402scope(
        dir.path(),
        &["--store", &store, "index", "solana", "--once"],
        &[("X402SCOPE_SOLANA__RPC_URL", &rpc)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("unreachable") && err.contains(&rpc), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
