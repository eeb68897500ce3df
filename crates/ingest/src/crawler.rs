//! The Bazaar crawler and the facilitator `/supported` refresh.
//!
//! - [`Crawler::crawl`]: `GET {facilitator}/discovery/resources?limit=100&offset=…`
//!   page by page. Items are parsed leniently (x402 v1 and v2 shapes); an item
//!   that cannot be used is skipped with its reason in the report, and the rest
//!   are kept. Each `accepts` entry becomes a [`ListingSnapshot`] keyed by a hash
//!   of its content, so an unchanged entry is stored once and a change (price,
//!   payTo, …) adds a version: the store keeps the history.
//! - [`Crawler::refresh_supported`]: `GET {facilitator}/supported`; its kinds are
//!   kinds and signers are recorded with first/last seen dates (the signers in
//!   the registry that the indexers read).
//!
//! Requests to one host are spaced by a per-host rate limit, and a 429 is
//! honoured: the crawler waits for `Retry-After` (seconds or an HTTP date) and
//! asks again.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use x402scope_core::Amount;
use x402scope_store::{FacilitatorKind, ListingSnapshot, Signer, Store, StoreError};

use crate::events::{normalise_address, normalise_network};

/// A facilitator to crawl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub id: String,
    pub url: String,
}

/// `[crawl]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrawlConfig {
    /// Facilitators to crawl; empty means the built-in list.
    #[serde(default)]
    pub facilitators: Vec<Target>,
    /// Requests per second to one host.
    #[serde(default = "default_rps")]
    pub per_host_rps: NonZeroU32,
    /// Items per page (`limit`).
    #[serde(default = "default_page")]
    pub page_size: u32,
    /// Stop after this many pages per facilitator.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Seconds between crawls when not `--once`.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Longest Retry-After honoured, in seconds; longer ones end the crawl of that facilitator.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
}

fn default_rps() -> NonZeroU32 {
    NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN)
}
fn default_page() -> u32 {
    100
}
fn default_max_pages() -> u32 {
    1000
}
fn default_interval() -> u64 {
    3600
}
fn default_max_retry_after() -> u64 {
    300
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            facilitators: Vec::new(),
            per_host_rps: default_rps(),
            page_size: default_page(),
            max_pages: default_max_pages(),
            interval_secs: default_interval(),
            max_retry_after_secs: default_max_retry_after(),
        }
    }
}

/// The built-in facilitator list (`facilitators.json`, compiled in). URLs that
/// need a key (`${…}`) are left out.
pub fn builtin_targets() -> Vec<Target> {
    #[derive(Deserialize)]
    struct File {
        facilitators: Vec<Target0>,
    }
    #[derive(Deserialize)]
    struct Target0 {
        id: String,
        #[serde(default)]
        url: Option<String>,
    }
    let file: Result<File, _> = serde_json::from_str(include_str!("../data/facilitators.json"));
    file.map(|f| {
        f.facilitators
            .into_iter()
            .filter_map(|t| {
                Some(Target {
                    id: t.id,
                    url: t.url?,
                })
            })
            .filter(|t| !t.url.contains("${"))
            .collect()
    })
    .unwrap_or_default()
}

/// Why a crawl or refresh failed.
#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{url}: status {status}")]
    Status { url: String, status: u16 },
    #[error("{url}: the response is not JSON: {detail}")]
    Json { url: String, detail: String },
    #[error("{url}: the response is over {limit} bytes")]
    TooLarge { url: String, limit: usize },
    #[error("{url}: asked to wait {secs} s (Retry-After), more than the {max} s allowed")]
    RetryTooLong { url: String, secs: u64, max: u64 },
    #[error("cancelled")]
    Cancelled,
    #[error("bad URL {0:?}")]
    Url(String),
}

/// An item left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The item's position in the whole list.
    pub position: u64,
    pub resource: Option<String>,
    pub reason: String,
}

/// What one crawl of one facilitator did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CrawlReport {
    pub facilitator: String,
    pub pages: u32,
    pub items: u64,
    /// Accepts entries written (new versions; unchanged ones are not counted).
    pub new_versions: u64,
    pub skipped: Vec<Skipped>,
    /// 429 replies waited out.
    pub rate_limited: u32,
    /// Set when the facilitator has no discovery list (404).
    pub no_list: bool,
}

/// One payment kind a facilitator supports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kind {
    pub x402_version: u64,
    pub scheme: String,
    pub network: String,
}

/// What a `/supported` refresh found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SupportedReport {
    pub facilitator: String,
    pub kinds: Vec<Kind>,
    /// (network, address) pairs recorded.
    pub signers: Vec<(String, String)>,
}

/// The largest response body read, in bytes.
const MAX_RESPONSE: usize = 16 * 1024 * 1024;
/// 429 replies waited out per page before giving up.
const MAX_429: u32 = 5;

/// Crawls facilitators into a store.
#[derive(Debug, Clone)]
pub struct Crawler {
    http: reqwest::Client,
    limiter: Arc<DefaultKeyedRateLimiter<String>>,
    store: Store,
    config: CrawlConfig,
}

impl Crawler {
    pub fn new(store: Store, config: CrawlConfig) -> Result<Self, CrawlError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("x402scope/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()?;
        let limiter = Arc::new(RateLimiter::keyed(Quota::per_second(config.per_host_rps)));
        Ok(Crawler {
            http,
            limiter,
            store,
            config,
        })
    }

    /// GET `url` as JSON: rate-limited per host, waiting out 429s.
    async fn get_json(
        &self,
        url: &str,
        cancel: &CancellationToken,
        rate_limited: &mut u32,
    ) -> Result<Option<Value>, CrawlError> {
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| format!("{h}:{}", u.port_or_known_default().unwrap_or(0)))
            })
            .ok_or_else(|| CrawlError::Url(url.to_owned()))?;
        let mut waits = 0;
        loop {
            tokio::select! {
                () = cancel.cancelled() => return Err(CrawlError::Cancelled),
                () = self.limiter.until_key_ready(&host) => {}
            }
            let mut resp = self.http.get(url).send().await?;
            let status = resp.status().as_u16();
            if status == 429 && waits < MAX_429 {
                let secs =
                    retry_after(resp.headers().get(reqwest::header::RETRY_AFTER)).unwrap_or(1);
                if secs > self.config.max_retry_after_secs {
                    return Err(CrawlError::RetryTooLong {
                        url: url.to_owned(),
                        secs,
                        max: self.config.max_retry_after_secs,
                    });
                }
                waits += 1;
                *rate_limited += 1;
                tracing::info!(%url, secs, "429: waiting as asked (Retry-After)");
                tokio::select! {
                    () = cancel.cancelled() => return Err(CrawlError::Cancelled),
                    () = tokio::time::sleep(Duration::from_secs(secs)) => {}
                }
                continue;
            }
            if status == 404 {
                return Ok(None);
            }
            if !(200..300).contains(&status) {
                return Err(CrawlError::Status {
                    url: url.to_owned(),
                    status,
                });
            }
            let mut body = Vec::new();
            while let Some(chunk) = resp.chunk().await? {
                if body.len() + chunk.len() > MAX_RESPONSE {
                    return Err(CrawlError::TooLarge {
                        url: url.to_owned(),
                        limit: MAX_RESPONSE,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            return serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| CrawlError::Json {
                    url: url.to_owned(),
                    detail: e.to_string(),
                });
        }
    }

    /// Crawl one facilitator's discovery list into the store.
    pub async fn crawl(
        &self,
        target: &Target,
        now: i64,
        cancel: &CancellationToken,
    ) -> Result<CrawlReport, CrawlError> {
        let base = target.url.trim_end_matches('/');
        let limit = self.config.page_size.max(1);
        let mut report = CrawlReport {
            facilitator: target.id.clone(),
            ..CrawlReport::default()
        };
        let mut offset: u64 = 0;
        while report.pages < self.config.max_pages {
            let url = format!("{base}/discovery/resources?limit={limit}&offset={offset}");
            let Some(page) = self
                .get_json(&url, cancel, &mut report.rate_limited)
                .await?
            else {
                report.no_list = true;
                break;
            };
            report.pages += 1;
            let items = page
                .get("items")
                .or_else(|| page.get("resources"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let count = items.len() as u64;
            let mut snapshots = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let position = offset + i as u64;
                report.items += 1;
                match listing_snapshots(&target.id, item, now) {
                    Ok(mut s) => snapshots.append(&mut s),
                    Err(reason) => {
                        tracing::debug!(facilitator = %target.id, position, %reason, "discovery item skipped");
                        report.skipped.push(Skipped {
                            position,
                            resource: item
                                .get("resource")
                                .and_then(resource_url)
                                .map(str::to_owned),
                            reason,
                        });
                    }
                }
            }
            report.new_versions += self.store_new(snapshots).await?;
            let total = page
                .get("pagination")
                .and_then(|p| p.get("total"))
                .and_then(Value::as_u64);
            offset += count;
            let done = count == 0
                || total.is_some_and(|t| offset >= t)
                || (total.is_none() && count < u64::from(limit));
            if done {
                break;
            }
        }
        Ok(report)
    }

    /// Write the snapshots whose version is not stored yet; returns how many.
    async fn store_new(&self, snapshots: Vec<ListingSnapshot>) -> Result<u64, CrawlError> {
        let mut by_resource: BTreeMap<String, Vec<ListingSnapshot>> = BTreeMap::new();
        for s in snapshots {
            by_resource.entry(s.resource.clone()).or_default().push(s);
        }
        let mut fresh = Vec::new();
        for (resource, items) in by_resource {
            let known = self.store.listing_history(&resource).await?;
            for s in items {
                let seen = known.iter().any(|k| {
                    k.source == s.source
                        && k.accept_index == s.accept_index
                        && k.snapshot_hash == s.snapshot_hash
                });
                if !seen
                    && !fresh.iter().any(|f: &ListingSnapshot| {
                        f.resource == s.resource
                            && f.source == s.source
                            && f.accept_index == s.accept_index
                            && f.snapshot_hash == s.snapshot_hash
                    })
                {
                    fresh.push(s);
                }
            }
        }
        let n = fresh.len() as u64;
        if !fresh.is_empty() {
            self.store.insert_listings(fresh).await?;
        }
        Ok(n)
    }

    /// Refresh one facilitator's `/supported`: record its signers (first/last
    /// seen) and report its kinds.
    pub async fn refresh_supported(
        &self,
        target: &Target,
        now: i64,
        cancel: &CancellationToken,
    ) -> Result<SupportedReport, CrawlError> {
        let url = format!("{}/supported", target.url.trim_end_matches('/'));
        let mut waits = 0;
        let Some(body) = self.get_json(&url, cancel, &mut waits).await? else {
            return Err(CrawlError::Status { url, status: 404 });
        };
        let report = parse_supported(&target.id, &body);
        let signers: Vec<Signer> = report
            .signers
            .iter()
            .map(|(network, address)| Signer {
                facilitator_id: target.id.clone(),
                network: network.clone(),
                address: address.clone(),
                first_seen: now,
                last_seen: now,
                source: "supported".into(),
            })
            .collect();
        if !signers.is_empty() {
            self.store.record_signers(signers).await?;
        }
        let kinds: Vec<FacilitatorKind> = report
            .kinds
            .iter()
            .map(|k| FacilitatorKind {
                facilitator_id: target.id.clone(),
                x402_version: u16::try_from(k.x402_version).unwrap_or(0),
                scheme: k.scheme.clone(),
                network: k.network.clone(),
                first_seen: now,
                last_seen: now,
            })
            .collect();
        if !kinds.is_empty() {
            self.store.record_kinds(kinds).await?;
        }
        Ok(report)
    }
}

/// Parse a `/supported` body: `kinds` (v1 and v2) and `signers` (a map of
/// network or family pattern to addresses; older bodies may put them per kind
/// under `extra.feePayer` or `signers`).
pub fn parse_supported(facilitator: &str, body: &Value) -> SupportedReport {
    let mut report = SupportedReport {
        facilitator: facilitator.to_owned(),
        ..SupportedReport::default()
    };
    let add = |network: &str, address: &str, out: &mut Vec<(String, String)>| {
        let pair = (normalise_network(network), normalise_address(address));
        if !pair.0.is_empty() && !pair.1.is_empty() && !out.contains(&pair) {
            out.push(pair);
        }
    };
    let mut signers = Vec::new();
    for kind in body
        .get("kinds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let network = kind.get("network").and_then(Value::as_str).unwrap_or("");
        let scheme = kind.get("scheme").and_then(Value::as_str).unwrap_or("");
        if network.is_empty() || scheme.is_empty() {
            continue;
        }
        report.kinds.push(Kind {
            x402_version: kind.get("x402Version").and_then(Value::as_u64).unwrap_or(0),
            scheme: scheme.to_owned(),
            network: normalise_network(network),
        });
        if let Some(fee_payer) = kind
            .get("extra")
            .and_then(|e| e.get("feePayer"))
            .and_then(Value::as_str)
        {
            add(network, fee_payer, &mut signers);
        }
    }
    if let Some(map) = body.get("signers").and_then(Value::as_object) {
        for (network, addresses) in map {
            for a in addresses
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                add(network, a, &mut signers);
            }
        }
    }
    report.signers = signers;
    report
}

/// Seconds to wait from a `Retry-After` value (delta seconds or an HTTP date).
fn retry_after(v: Option<&reqwest::header::HeaderValue>) -> Option<u64> {
    let s = v?.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(secs);
    }
    let when = httpdate(s)?;
    let now = crate::webhooks::unix_now();
    Some(u64::try_from(when - now).unwrap_or(0))
}

/// Unix seconds of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == parts[2])? + 1;
    let text = format!("{}-{month:02}-{:0>2}T{}Z", parts[3], parts[1], parts[4]);
    crate::events::parse_rfc3339(&text)
}

fn resource_url(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o
            .get("url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

/// JSON with object keys sorted, so equal content hashes equally.
fn canonical(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&o[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(v).to_string()
}

/// The snapshots of one discovery item (v1 or v2), or why it is unusable.
pub fn listing_snapshots(
    source: &str,
    item: &Value,
    now: i64,
) -> Result<Vec<ListingSnapshot>, String> {
    let obj = item.as_object().ok_or("the item is not an object")?;
    let resource = obj
        .get("resource")
        .and_then(resource_url)
        .ok_or("no resource URL")?;
    let accepts = obj
        .get("accepts")
        .and_then(Value::as_array)
        .ok_or("no accepts list")?;
    if accepts.is_empty() {
        return Err("empty accepts list".into());
    }
    let raw = canonical(item);
    let mut out = Vec::with_capacity(accepts.len());
    for (i, a) in accepts.iter().enumerate() {
        let field = |name: &str| {
            a.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let scheme = field("scheme").ok_or(format!("accepts[{i}]: no scheme"))?;
        let network = field("network").ok_or(format!("accepts[{i}]: no network"))?;
        let pay_to = field("payTo").ok_or(format!("accepts[{i}]: no payTo"))?;
        let asset = field("asset").ok_or(format!("accepts[{i}]: no asset"))?;
        let amount_text = match (a.get("amount"), a.get("maxAmountRequired")) {
            (Some(v), _) | (None, Some(v)) => match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(format!("accepts[{i}]: amount is not a number")),
            },
            (None, None) => return Err(format!("accepts[{i}]: no amount")),
        };
        let amount = Amount::parse_decimal(amount_text.trim()).map_err(|_| {
            format!("accepts[{i}]: amount {amount_text:?} is not a whole number of atomic units")
        })?;
        let content = canonical(a);
        let hash = hex::encode(Sha256::digest(content.as_bytes()));
        out.push(ListingSnapshot {
            source: source.to_owned(),
            resource: resource.to_owned(),
            accept_index: i as u32,
            snapshot_hash: hash,
            observed_at: now,
            scheme: scheme.to_owned(),
            network: normalise_network(network),
            asset: normalise_address(asset),
            pay_to: normalise_address(pay_to),
            amount,
            raw: raw.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_v1_v2_and_malformed() {
        let v2 = json!({"resource": "https://a.test/x", "type": "http", "x402Version": 2,
            "accepts": [{"scheme": "exact", "network": "eip155:8453", "amount": "10", "payTo": "0xAA", "asset": "0xBB", "maxTimeoutSeconds": 60}]});
        let v1 = json!({"resource": "https://a.test/y", "type": "http", "x402Version": 1,
            "accepts": [{"scheme": "exact", "network": "base", "maxAmountRequired": "20", "payTo": "0xaa", "asset": "0xbb", "resource": "https://a.test/y"}]});
        let s = listing_snapshots("f", &v2, 1).expect("v2");
        assert_eq!(
            (
                s[0].network.as_str(),
                s[0].amount.to_string(),
                s[0].pay_to.as_str()
            ),
            ("eip155:8453", "10".into(), "0xaa")
        );
        let s1 = listing_snapshots("f", &v1, 1).expect("v1");
        assert_eq!(
            (s1[0].network.as_str(), s1[0].amount.to_string()),
            ("eip155:8453", "20".into())
        );
        // Key order does not change the version.
        let reordered = json!({"accepts": [{"asset": "0xBB", "payTo": "0xAA", "maxTimeoutSeconds": 60, "amount": "10", "network": "eip155:8453", "scheme": "exact"}],
            "x402Version": 2, "type": "http", "resource": "https://a.test/x"});
        assert_eq!(
            listing_snapshots("f", &reordered, 2).expect("same")[0].snapshot_hash,
            s[0].snapshot_hash
        );
        for (bad, why) in [
            (json!(7), "not an object"),
            (json!({"accepts": []}), "no resource"),
            (json!({"resource": "https://a.test/z"}), "no accepts"),
            (
                json!({"resource": "https://a.test/z", "accepts": []}),
                "empty accepts",
            ),
            (
                json!({"resource": "https://a.test/z", "accepts": [{"scheme": "exact", "network": "base", "payTo": "0x1", "asset": "0x2", "amount": "1.5"}]}),
                "whole number",
            ),
            (
                json!({"resource": "https://a.test/z", "accepts": [{"scheme": "exact", "network": "base", "asset": "0x2", "amount": "1"}]}),
                "no payTo",
            ),
        ] {
            let err = listing_snapshots("f", &bad, 0).expect_err("malformed");
            assert!(err.contains(why), "{err} should say {why}");
        }
    }

    #[test]
    fn supported_bodies() {
        let body = json!({
            "kinds": [
                {"x402Version": 2, "scheme": "exact", "network": "eip155:84532"},
                {"x402Version": 1, "scheme": "exact", "network": "solana-devnet", "extra": {"feePayer": "FeePayer1111"}},
                {"x402Version": 2}
            ],
            "extensions": [],
            "signers": {"eip155:*": ["0xABCDEF0000000000000000000000000000000001"], "solana:*": ["FeePayer1111"]}
        });
        let r = parse_supported("fac", &body);
        assert_eq!(r.kinds.len(), 2);
        assert_eq!(
            r.kinds[1].network,
            "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"
        );
        assert_eq!(
            r.signers,
            vec![
                (
                    "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1".to_owned(),
                    "FeePayer1111".to_owned()
                ),
                (
                    "eip155:*".to_owned(),
                    "0xabcdef0000000000000000000000000000000001".to_owned()
                ),
                ("solana:*".to_owned(), "FeePayer1111".to_owned()),
            ]
        );
    }

    #[test]
    fn retry_after_forms() {
        let v = reqwest::header::HeaderValue::from_static("3");
        assert_eq!(retry_after(Some(&v)), Some(3));
        assert_eq!(httpdate("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        let past = reqwest::header::HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(retry_after(Some(&past)), Some(0));
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn builtin_list_loads() {
        let list = builtin_targets();
        assert!(list.len() > 10);
        assert!(
            list.iter()
                .all(|t| t.url.starts_with("http") && !t.url.contains("${"))
        );
    }
}
