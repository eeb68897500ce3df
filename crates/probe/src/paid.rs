//! The paid probe (opt-in): pay for a resource once with a configured key, check
//! the settlement header (rule 20), replay the same payment (rule 21), and keep
//! the spending under hard caps, per day and in total, recorded in the store
//! before any payment is sent.
//!
//! EVM `exact` with EIP-3009 only (the reference default), for v2
//! (`PAYMENT-SIGNATURE`) and v1 (`X-PAYMENT`).

pub use alloy::primitives::U256;
use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
pub use alloy::signers::local::PrivateKeySigner;
use alloy::sol;
use alloy::sol_types::{SolStruct, eip712_domain};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;
use x402scope_core::Amount;
use x402scope_store::{ProbeSpend, Store, StoreError};

use crate::codec::{Decoded, decode_header, encode_header};
use crate::fetch::{FetchError, FetchRequest, Fetcher};
use crate::model::{Exchange, Finding, Purpose};
use crate::probe::{payment_header, payment_required};
use crate::rules::{V1_EVM_NETWORKS, check};

sol! {
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

/// Hard caps in atomic units of the paid asset, per (network, asset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpendCaps {
    /// Over the last 24 hours.
    pub per_day: U256,
    pub total: U256,
}

#[derive(Debug, thiserror::Error)]
pub enum PaidError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the resource did not answer with a usable 402: {0}")]
    NotPayable(String),
    #[error("{0}")]
    CapExceeded(Box<CapExceeded>),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// A payment the caps refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "paying {amount} would exceed the {which} cap of {cap} (already spent {spent} of {asset} on {network})"
)]
pub struct CapExceeded {
    /// `daily` or `total`.
    pub which: &'static str,
    pub amount: U256,
    pub cap: U256,
    pub spent: U256,
    pub network: String,
    pub asset: String,
}

/// What the paid probe saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PaidReport {
    pub url: String,
    pub x402_version: u8,
    /// The unpaid 402, the paid request and the replay.
    pub exchanges: Vec<Exchange>,
    pub findings: Vec<Finding>,
    /// The settlement transaction from the payment response, when it has one.
    pub transaction: Option<String>,
    pub spend_id: String,
}

/// The paid probe.
#[derive(Debug, Clone)]
pub struct PaidProbe {
    signer: PrivateKeySigner,
    caps: SpendCaps,
    store: Store,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn chain_id(version: u8, network: &str) -> Option<u64> {
    if version == 1 {
        V1_EVM_NETWORKS
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, id)| *id)
    } else {
        network.strip_prefix("eip155:")?.parse().ok()
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Result<&'a str, PaidError> {
    v.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| PaidError::NotPayable(format!("the requirement has no {k}")))
}

impl PaidProbe {
    pub fn new(signer: PrivateKeySigner, caps: SpendCaps, store: Store) -> Self {
        PaidProbe {
            signer,
            caps,
            store,
        }
    }

    pub fn payer(&self) -> Address {
        self.signer.address()
    }

    async fn check_caps(&self, network: &str, asset: &str, amount: U256) -> Result<(), PaidError> {
        let day_ago = i64::try_from(now().saturating_sub(86_400)).unwrap_or(0);
        let all = self.store.probe_spend_since(0).await?;
        let mine = |s: &&ProbeSpend| s.network == network && s.asset.eq_ignore_ascii_case(asset);
        let sum = |it: &mut dyn Iterator<Item = &ProbeSpend>| {
            it.fold(U256::ZERO, |acc, s| acc.saturating_add(s.amount.0))
        };
        let total = sum(&mut all.iter().filter(mine));
        let day = sum(&mut all.iter().filter(mine).filter(|s| s.spent_at >= day_ago));
        for (which, spent, cap) in [
            ("daily", day, self.caps.per_day),
            ("total", total, self.caps.total),
        ] {
            if spent.saturating_add(amount) > cap {
                return Err(PaidError::CapExceeded(Box::new(CapExceeded {
                    which,
                    amount,
                    cap,
                    spent,
                    network: network.to_owned(),
                    asset: asset.to_owned(),
                })));
            }
        }
        Ok(())
    }

    /// The signed payment payload for `accepted`.
    pub fn sign(
        &self,
        version: u8,
        accepted: &Value,
        resource: Option<&Value>,
    ) -> Result<Value, PaidError> {
        let network = field(accepted, "network")?;
        let chain = chain_id(version, network)
            .ok_or_else(|| PaidError::NotPayable(format!("{network} is not an EVM network")))?;
        let amount_key = if version == 1 {
            "maxAmountRequired"
        } else {
            "amount"
        };
        let value: U256 = field(accepted, amount_key)?
            .parse()
            .map_err(|_| PaidError::NotPayable("the amount is not an integer".into()))?;
        let to: Address = field(accepted, "payTo")?
            .parse()
            .map_err(|_| PaidError::NotPayable("payTo is not an address".into()))?;
        let asset: Address = field(accepted, "asset")?
            .parse()
            .map_err(|_| PaidError::NotPayable("asset is not an address".into()))?;
        let extra = accepted.get("extra").cloned().unwrap_or(Value::Null);
        let name = field(&extra, "name")?.to_owned();
        let token_version = field(&extra, "version")?.to_owned();
        let timeout = accepted
            .get("maxTimeoutSeconds")
            .and_then(Value::as_u64)
            .unwrap_or(60);
        let t = now();
        let nonce = B256::from(rand::random::<[u8; 32]>());
        let auth = TransferWithAuthorization {
            from: self.signer.address(),
            to,
            value,
            validAfter: U256::from(t.saturating_sub(600)),
            validBefore: U256::from(t + timeout),
            nonce,
        };
        let domain = eip712_domain! {
            name: name,
            version: token_version,
            chain_id: chain,
            verifying_contract: asset,
        };
        let signature = self
            .signer
            .sign_hash_sync(&auth.eip712_signing_hash(&domain))
            .map_err(|e| PaidError::Sign(e.to_string()))?;
        let payload = json!({
            "signature": format!("0x{}", alloy::hex::encode(signature.as_bytes())),
            "authorization": {
                "from": auth.from.to_checksum(None),
                "to": auth.to.to_checksum(None),
                "value": auth.value.to_string(),
                "validAfter": auth.validAfter.to_string(),
                "validBefore": auth.validBefore.to_string(),
                "nonce": auth.nonce.to_string(),
            }
        });
        Ok(if version == 1 {
            json!({"x402Version": 1, "scheme": accepted.get("scheme"), "network": network, "payload": payload})
        } else {
            let mut p = json!({"x402Version": 2, "accepted": accepted, "payload": payload});
            if let Some(r) = resource {
                p["resource"] = r.clone();
            }
            p
        })
    }

    /// Pay for `url` once (GET), then replay the same payment.
    pub async fn pay(&self, fetcher: &Fetcher, url: &Url) -> Result<PaidReport, PaidError> {
        let request = |purpose: Purpose, headers: Vec<(String, String)>| {
            let mut h = vec![("accept".to_owned(), "application/json".to_owned())];
            h.extend(headers);
            (purpose, h)
        };
        let mut exchanges = Vec::new();
        let (purpose, headers) = request(Purpose::Unpaid, vec![]);
        let unpaid = self.send(fetcher, url, purpose, headers).await?;
        let (version, doc) = payment_required(&unpaid)
            .ok_or_else(|| PaidError::NotPayable(format!("HTTP {}", unpaid.status())))?;
        exchanges.push(unpaid);
        let accepted = doc
            .get("accepts")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter().find(|r| {
                    r.get("scheme").and_then(Value::as_str) == Some("exact")
                        && r.get("network")
                            .and_then(Value::as_str)
                            .is_some_and(|n| chain_id(version, n).is_some())
                        && r.pointer("/extra/assetTransferMethod")
                            .and_then(Value::as_str)
                            .is_none_or(|m| m == "eip3009")
                })
            })
            .cloned()
            .ok_or_else(|| PaidError::NotPayable("no exact EIP-3009 EVM option".into()))?;
        let network = field(&accepted, "network")?.to_owned();
        let asset = field(&accepted, "asset")?.to_owned();
        let amount_key = if version == 1 {
            "maxAmountRequired"
        } else {
            "amount"
        };
        let amount: U256 = field(&accepted, amount_key)?
            .parse()
            .map_err(|_| PaidError::NotPayable("the amount is not an integer".into()))?;
        self.check_caps(&network, &asset, amount).await?;
        let payment = self.sign(version, &accepted, doc.get("resource"))?;
        let header = encode_header(&payment);
        let spend_id = payment
            .pointer("/payload/authorization/nonce")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        // Recorded before sending: a payment counts against the caps even when
        // we never learn its fate.
        let mut spend = ProbeSpend {
            id: spend_id.clone(),
            url: url.to_string(),
            network,
            asset,
            amount: Amount(amount),
            spent_at: i64::try_from(now()).unwrap_or(i64::MAX),
            tx: String::new(),
        };
        self.store.record_probe_spend(spend.clone()).await?;
        let name = payment_header(version).to_owned();
        let (purpose, headers) = request(Purpose::Paid, vec![(name.clone(), header.clone())]);
        let paid = self.send(fetcher, url, purpose, headers).await?;
        let response_header = if version == 1 {
            "x-payment-response"
        } else {
            "payment-response"
        };
        let transaction =
            paid.response
                .header(response_header)
                .and_then(|h| match decode_header(h) {
                    Decoded::Standard(v) | Decoded::UrlSafe(v) => v
                        .get("transaction")
                        .and_then(Value::as_str)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned),
                    Decoded::Invalid(_) => None,
                });
        exchanges.push(paid);
        if let Some(tx) = &transaction {
            spend.tx = tx.clone();
            self.store.record_probe_spend(spend).await?;
        }
        let (purpose, headers) = request(Purpose::Replay, vec![(name, header)]);
        exchanges.push(self.send(fetcher, url, purpose, headers).await?);
        let findings = check(&exchanges, None);
        Ok(PaidReport {
            url: url.to_string(),
            x402_version: version,
            exchanges,
            findings,
            transaction,
            spend_id,
        })
    }

    async fn send(
        &self,
        fetcher: &Fetcher,
        url: &Url,
        purpose: Purpose,
        headers: Vec<(String, String)>,
    ) -> Result<Exchange, PaidError> {
        let response = fetcher
            .fetch(FetchRequest {
                method: "GET".into(),
                url: url.clone(),
                headers: headers.clone(),
                body: None,
            })
            .await?;
        Ok(Exchange {
            purpose,
            method: "GET".into(),
            url: url.to_string(),
            request_headers: headers,
            response,
        })
    }
}

/// Wait until the EVM indexer has stored the settlement `tx` (0x hash).
pub async fn wait_for_settlement(
    store: &Store,
    tx: &str,
    timeout: std::time::Duration,
) -> Result<Option<x402scope_store::Payment>, StoreError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let tx = tx.to_ascii_lowercase();
    loop {
        let filter = x402scope_store::Filter::default();
        let page = store.transactions(&filter, None, 1000).await?;
        if let Some(p) = page.items.into_iter().find(|p| p.tx_id == tx) {
            return Ok(Some(p));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
