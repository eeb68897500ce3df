//! `x402scope crawl --once` against the reference facilitator: its /supported
//! signer joins the registry that `index evm` reads; it has no discovery list,
//! which is reported, not an error.

use std::process::Command;

use x402scope_store::StoreUrl;
use x402scope_testkit::x402::X402Stack;

#[test]
fn crawl_once_records_the_reference_facilitators_signer() {
    let stack = X402Stack::start().expect("reference stack");
    let facilitator = stack.info.facilitator.clone().expect("facilitator url");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("x.db");
    let config = dir.path().join("x402scope.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n[crawl]\nper_host_rps = 10\nfacilitators = [{{ id = \"reference\", url = \"{facilitator}\" }}]\n",
            db.display()
        ),
    )
    .expect("config");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_x402scope"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("runs")
    };
    assert!(run(&["migrate"]).status.success());
    let out = run(&["crawl", "--once"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("reference: /supported:"), "{stdout}");
    assert!(stdout.contains("reference: no discovery list"), "{stdout}");

    let url = StoreUrl::parse(&format!("sqlite://{}", db.display())).expect("url");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (signers, facilitators) = runtime.block_on(async {
        let store = x402scope_store::open(&url).await.expect("open");
        (
            store.signers().await.expect("signers"),
            store.facilitators().await.expect("facilitators"),
        )
    });
    let address = stack.info.accounts.facilitator.address.to_ascii_lowercase();
    assert!(
        signers.iter().any(|s| s.address == address
            && s.facilitator_id == "reference"
            && s.source == "supported"),
        "{signers:?}"
    );
    assert!(
        facilitators
            .iter()
            .any(|f| f.id == "reference" && f.url == facilitator)
    );
}
