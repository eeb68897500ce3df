//! The binary, driven as a user would: `--help`, and `config check` on good and
//! bad files.

#![allow(clippy::unwrap_used)] // helpers outside #[test] functions unwrap too

use std::path::Path;
use std::process::{Command, Output};

fn x402scope(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
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

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_commands_and_the_config_sources() {
    let dir = tempfile::tempdir().unwrap();
    let out = x402scope(dir.path(), &["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(help.contains("config"), "{help}");
    assert!(help.contains("X402SCOPE_"), "{help}");
    assert!(help.contains("--store"), "{help}");
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x402scope.toml"),
        "[store]\nurl = \"clickhouse://scope:hunter2@127.0.0.1:8123/x402\"\n\n[chains.base]\nchain_id = 8453\nrpc_urls = [\"https://rpc.example/v2/SECRETKEY\"]\n",
    )
    .unwrap();
    // The default file in the working directory is read; the env overrides it.
    let out = x402scope(
        dir.path(),
        &["config", "check"],
        &[("X402SCOPE_LOG__FORMAT", "json")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    assert!(printed.contains("format = \"json\""), "{printed}");
    assert!(
        printed.contains("clickhouse://scope:***@127.0.0.1:8123/x402"),
        "{printed}"
    );
    assert!(printed.contains("https://rpc.example/***"), "{printed}");
    assert!(
        !printed.contains("hunter2") && !printed.contains("SECRETKEY"),
        "{printed}"
    );
}

#[test]
fn config_check_names_the_key_and_position_of_each_error_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "unknown.toml",
            "[store]\nurl = \"sqlite://x.db\"\nflavour = \"x\"\n",
            "store.flavour",
            "unknown.toml:3:1",
        ),
        (
            "url.toml",
            "[chains.base]\nchain_id = 8453\nrpc_urls = [\"::nope\"]\n",
            "chains.base.rpc_urls",
            "url.toml:3:12",
        ),
        (
            "address.toml",
            "[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://a\"]\n[[chains.base.assets]]\nsymbol = \"USDC\"\naddress = \"0xnothex\"\ndecimals = 6\n",
            "chains.base.assets[0].address",
            "address.toml:6:11",
        ),
        (
            "missing.toml",
            "\n[chains.base]\nrpc_urls = [\"http://a\"]\n",
            "chains.base.chain_id",
            "missing.toml:2:9",
        ),
    ];
    for (name, body, key, position) in cases {
        std::fs::write(dir.path().join(name), body).unwrap();
        let out = x402scope(dir.path(), &["config", "check", name], &[]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("`{key}`")), "{name}: {err}");
        assert!(err.contains(position), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn a_bad_flag_or_env_value_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = x402scope(
        dir.path(),
        &["--store", "mysql://x", "config", "check"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("flag --store"),
        "{}",
        text(&out.stderr)
    );
    let out = x402scope(
        dir.path(),
        &["config", "check"],
        &[("X402SCOPE_STORE__URLL", "x")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("X402SCOPE_STORE__URLL"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = x402scope(dir.path(), &["config", "check", "nope.toml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read config file nope.toml"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_example_config_shipped_with_the_project_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = x402scope(&root, &["config", "check", "x402scope.example.toml"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("chain_id = 8453"));
}

#[test]
fn migrate_creates_the_embedded_store_and_is_safe_to_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = x402scope(dir.path(), &["migrate"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("applied          0001_initial"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        dir.path().join("x402scope.db").is_file(),
        "the default store is ./x402scope.db"
    );
    let again = x402scope(dir.path(), &["migrate"], &[]);
    assert!(again.status.success());
    assert!(text(&again.stdout).contains("already applied  0001_initial"));
    assert!(text(&again.stdout).contains("0 applied now"));
    // An unreachable ClickHouse is a clear error, not a panic.
    let out = x402scope(
        dir.path(),
        &["--store", "clickhouse://127.0.0.1:1/x", "migrate"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot migrate the store at clickhouse://default@127.0.0.1:1/x"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
