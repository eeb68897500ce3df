//! `x402scope index evm` end to end: the binary indexes generated settlements from
//! a real anvil chain into the embedded store, once over a range, and in follow
//! mode until SIGINT, which stops it gracefully with everything committed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use x402scope_store::{Filter, StoreUrl};
use x402scope_testkit::settlements::{Plan, generate};
use x402scope_testkit::x402::X402Stack;

fn config(dir: &Path, stack: &X402Stack) -> std::path::PathBuf {
    let path = dir.join("x402scope.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[chains.dev]\nchain_id = 84532\nrpc_urls = [\"{}\"]\nconfirmations = 0\nmax_range = 5\nrate_limit = 1000\n",
            dir.join("x.db").display(),
            stack.info.rpc
        ),
    )
    .unwrap();
    path
}

async fn count(dir: &Path) -> u64 {
    let store = x402scope_store::open(&StoreUrl::Sqlite(dir.join("x.db")))
        .await
        .unwrap();
    store.overview(&Filter::default()).await.unwrap().count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_evm_backfills_a_range_into_the_store() {
    let stack = X402Stack::start_chain_only().unwrap();
    let generated = generate(&stack.info, &Plan::new(50)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &stack);
    let out = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "index",
            "evm",
            "--from",
            "0",
            "--to",
        ])
        .arg(generated.last_block.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("50 settlements"), "{stdout}");
    assert_eq!(count(dir.path()).await, 50);

    // A chain that is not configured is a clear error.
    let out = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "index",
            "evm",
            "--chain",
            "nope",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no chain named \"nope\" in the config (configured: dev)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_evm_follows_the_head_and_stops_gracefully_on_sigint() {
    let stack = X402Stack::start_chain_only().unwrap();
    generate(&stack.info, &Plan::new(40)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), &stack);
    let mut child = Command::new(env!("CARGO_BIN_EXE_x402scope"))
        .args(["--config", cfg.to_str().unwrap(), "index", "evm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it has caught up with the chain.
    let started = Instant::now();
    loop {
        if dir.path().join("x.db").exists() && count(dir.path()).await == 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped; everything committed is kept"));
    assert_eq!(count(dir.path()).await, 40, "nothing lost, nothing doubled");
}
