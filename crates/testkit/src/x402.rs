//! A fresh local chain with the x402 reference stack on it.
//!
//! [`X402Stack::start`] starts anvil (from the pinned npm package in `tests/env`)
//! on a free loopback port with chain id 84532, then `tests/env/harness.mjs`, which
//! installs the EIP-3009 test token at the Base Sepolia USDC address, a Multicall3
//! subset, funds the payer, and starts the reference facilitator and an
//! `@x402/express` server selling `GET /weather` for $0.001.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde::Deserialize;

use crate::process::OwnedChild;
use crate::{TestkitError, env_dir, free_port};

/// A development account of the test chain.
#[derive(Debug, Clone, Deserialize)]
pub struct TestAccount {
    /// Checksummed 0x address.
    pub address: String,
    /// 0x-prefixed private key.
    pub key: String,
}

/// The well-known accounts that the harness sets up.
#[derive(Debug, Clone, Deserialize)]
pub struct TestAccounts {
    pub deployer: TestAccount,
    /// Holds 1,000 test USDC (1e9 atomic units) at start.
    pub payer: TestAccount,
    /// The reference facilitator's settlement key (the tx sender).
    pub facilitator: TestAccount,
    /// The `payTo` of the paid route.
    pub payee: TestAccount,
}

/// Endpoints of a running stack, as printed by the harness.
#[derive(Debug, Clone, Deserialize)]
pub struct StackInfo {
    pub startup_ms: u64,
    /// anvil's JSON-RPC URL.
    pub rpc: String,
    pub chain_id: u64,
    /// CAIP-2, `eip155:84532`.
    pub network: String,
    /// The EIP-3009 test token address (the Base Sepolia USDC address).
    pub token: String,
    pub multicall3: String,
    /// Our `SettlementBatcher` contract (several settlements in one transaction).
    pub batcher: String,
    /// The reference facilitator's base URL (absent with `chain_only`).
    pub facilitator: Option<String>,
    /// The `@x402/express` server's base URL (absent with `chain_only`).
    pub server: Option<String>,
    /// The paid route, `GET {server}/weather`.
    pub paid_url: Option<String>,
    /// The paid route's price in atomic units.
    pub price_atomic: Option<String>,
    pub accounts: TestAccounts,
}

/// What the reference client saw when it paid for a URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaidResponse {
    pub status: u16,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub body: String,
    /// The decoded `PAYMENT-RESPONSE` header, if any.
    pub payment_response: Option<serde_json::Value>,
}

/// anvil plus (optionally) the reference x402 facilitator and server. Everything
/// stops when this value is dropped.
#[derive(Debug)]
pub struct X402Stack {
    pub info: StackInfo,
    // Field order matters: the harness stops before anvil.
    harness: OwnedChild,
    anvil: OwnedChild,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);

impl X402Stack {
    /// anvil, the token and the reference facilitator and server.
    pub fn start() -> Result<Self, TestkitError> {
        Self::start_with(false, &[])
    }

    /// Like [`X402Stack::start`], with the seller snippet
    /// (`snippets/x402scope-webhook.mjs`) posting signed settlement events to
    /// `webhook_url` with the Standard Webhooks secret `secret` (`whsec_…`).
    pub fn start_with_webhook(webhook_url: &str, secret: &str) -> Result<Self, TestkitError> {
        Self::start_with(
            false,
            &["--webhook-url", webhook_url, "--webhook-secret", secret],
        )
    }

    /// anvil and the token only (no facilitator, no server): cheaper, for chain tests.
    pub fn start_chain_only() -> Result<Self, TestkitError> {
        Self::start_with(true, &[])
    }

    fn start_with(chain_only: bool, extra: &[&str]) -> Result<Self, TestkitError> {
        let anvil_bin = anvil_path()?;
        // A free port can be taken between our probe and anvil's bind: retry.
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let mut cmd = Command::new(&anvil_bin);
            cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--chain-id", "84532", "--silent"]);
            let anvil = OwnedChild::spawn("anvil", cmd)?;
            let rpc = format!("http://127.0.0.1:{port}");
            let mut cmd = Command::new(node_bin());
            cmd.current_dir(env_dir())
                .arg("harness.mjs")
                .args(["--rpc", &rpc]);
            if chain_only {
                cmd.arg("--chain-only");
            }
            cmd.args(extra);
            let mut harness = OwnedChild::spawn("x402 harness (node tests/env/harness.mjs)", cmd)?;
            match harness.first_line(START_TIMEOUT) {
                Ok(line) => {
                    let info: StackInfo =
                        serde_json::from_str(&line).map_err(|source| TestkitError::BadOutput {
                            what: harness.name().to_owned(),
                            line,
                            source,
                        })?;
                    return Ok(X402Stack {
                        info,
                        harness,
                        anvil,
                    });
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(TestkitError::NotReady {
            what: "anvil".into(),
            secs: START_TIMEOUT.as_secs(),
            detail: String::new(),
        }))
    }

    /// The paid route URL; panics-free: errors if the stack was started chain-only.
    pub fn paid_url(&self) -> Result<&str, TestkitError> {
        self.info
            .paid_url
            .as_deref()
            .ok_or_else(|| TestkitError::NotReady {
                what: "x402 server".into(),
                secs: 0,
                detail: ": the stack was started chain-only".into(),
            })
    }

    /// Pay for `url` with the reference client (`@x402/fetch`), as the payer.
    pub fn pay(&self, url: &str) -> Result<PaidResponse, TestkitError> {
        self.pay_as(url, &self.info.accounts.payer.key)
    }

    /// Pay for `url` with the reference client, signing with `private_key`.
    pub fn pay_as(&self, url: &str, private_key: &str) -> Result<PaidResponse, TestkitError> {
        let out = Command::new(node_bin())
            .current_dir(env_dir())
            .args(["pay.mjs", url, private_key, &self.info.network])
            .output()
            .map_err(|source| TestkitError::Spawn {
                what: "node pay.mjs".into(),
                source,
            })?;
        if !out.status.success() {
            return Err(TestkitError::Exited {
                what: "reference client (node tests/env/pay.mjs)".into(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        serde_json::from_str(line.trim()).map_err(|source| TestkitError::BadOutput {
            what: "node pay.mjs".into(),
            line,
            source,
        })
    }

    /// Process ids of the children (anvil, harness), for leak checks.
    pub fn pids(&self) -> [u32; 2] {
        [self.anvil.id(), self.harness.id()]
    }
}

fn anvil_path() -> Result<PathBuf, TestkitError> {
    let path = env_dir().join("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if path.is_file() {
        Ok(path)
    } else {
        Err(TestkitError::NotInstalled {
            what: "anvil (npm @foundry-rs/anvil-linux-amd64)",
            path,
        })
    }
}

fn node_bin() -> &'static str {
    "node"
}
