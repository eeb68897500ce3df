//! `POST /webhooks/{source}`: signed deliveries, stored durably before the reply,
//! then normalised into claims by a background processor.
//!
//! The request path does, in order: find the source (404); refuse a declared or
//! actual body over [`MAX_BODY`] without reading past it (413); check the
//! signature against the source's secrets (401); parse the event (400); store
//! the raw envelope in the inbox and wait for the commit (503 if the store
//! fails); reply 200. A redelivery of a stored (source, webhook id) is answered
//! 200 and changes nothing. The processor ([`run_processor`]) reads pending
//! envelopes, verifies them again against the clock at receipt, writes their
//! claims and marks them `processed` (or `rejected`, with the reason). Claims
//! are keyed, so a crash between the two writes only repeats the first.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use x402scope_store::{Store, StoreError, WebhookEnvelope};

use crate::events::{self, SourceKind};
use crate::signature::{self, Secret, SecretError, SignatureError};

/// The largest body accepted, in bytes (256 KiB).
pub const MAX_BODY: usize = 256 * 1024;
/// Envelopes the processor takes per round.
const PROCESS_BATCH: usize = 512;
/// Headers never stored (credentials of the sender's own infrastructure).
const DROPPED_HEADERS: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// `[webhooks]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Address of `x402scope webhooks serve`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Sources by name: deliveries go to `POST /webhooks/{name}`.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            listen: default_listen(),
            sources: BTreeMap::new(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8402))
}

/// `[webhooks.sources.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `x402` (our settlement events) or `cdp` (Coinbase onchain activity).
    pub kind: SourceKind,
    /// Every secret that is valid now; list the new one next to the old one
    /// while rotating. `whsec_…` for Standard Webhooks; CDP secrets as given.
    #[serde(serialize_with = "redact_all")]
    pub secrets: Vec<String>,
}

fn redact_all<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|_| "***"))
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("webhooks.sources.{source_name}.secrets[{index}]: {error}")]
    Secret {
        source_name: String,
        index: usize,
        error: SecretError,
    },
    #[error("webhooks.sources.{0}: at least one secret is needed")]
    NoSecret(String),
    #[error("webhooks.sources: `{0}` is not a valid name (use letters, digits, `-` and `_`)")]
    Name(String),
}

/// A source, ready to verify.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: SourceKind,
    pub secrets: Vec<Secret>,
}

/// Sources by name.
#[derive(Debug, Clone, Default)]
pub struct Sources(pub BTreeMap<String, Source>);

impl Sources {
    pub fn from_config(config: &WebhooksConfig) -> Result<Self, WebhookConfigError> {
        let mut out = BTreeMap::new();
        for (name, sc) in &config.sources {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(WebhookConfigError::Name(name.clone()));
            }
            if sc.secrets.is_empty() {
                return Err(WebhookConfigError::NoSecret(name.clone()));
            }
            let mut secrets = Vec::new();
            for (index, text) in sc.secrets.iter().enumerate() {
                let parsed = match (sc.kind, text.starts_with("whsec_")) {
                    (_, true) => Secret::whsec(text),
                    (SourceKind::Cdp, false) => Secret::raw(text),
                    (SourceKind::X402, false) => Err(SecretError::Prefix),
                };
                secrets.push(parsed.map_err(|error| WebhookConfigError::Secret {
                    source_name: name.clone(),
                    index,
                    error,
                })?);
            }
            out.insert(
                name.clone(),
                Source {
                    kind: sc.kind,
                    secrets,
                },
            );
        }
        Ok(Sources(out))
    }
}

/// What the receiver and the processor share.
#[derive(Debug, Clone)]
pub struct WebhookState {
    store: Store,
    sources: Arc<Sources>,
    wake: Arc<Notify>,
    deliveries: Arc<std::sync::Mutex<BTreeMap<(String, Delivery), u64>>>,
}

/// How the receiver answered a delivery (counted by source for monitoring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Delivery {
    /// Stored in the inbox (200 `stored`).
    Accepted,
    /// A redelivery of a stored id (200 `duplicate`).
    Duplicate,
    /// No valid signature (401).
    RejectedSignature,
    /// Body over [`MAX_BODY`] (413).
    TooLarge,
    /// Unreadable body, bad Content-Length or an event that does not parse (400).
    BadRequest,
    /// No such source (404).
    UnknownSource,
    /// The store failed (503).
    StoreUnavailable,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Accepted => "accepted",
            Delivery::Duplicate => "duplicate",
            Delivery::RejectedSignature => "rejected_signature",
            Delivery::TooLarge => "too_large",
            Delivery::BadRequest => "bad_request",
            Delivery::UnknownSource => "unknown_source",
            Delivery::StoreUnavailable => "store_unavailable",
        }
    }
}

/// The source label of deliveries to a source that is not configured (so that
/// unknown names cannot grow the counts without bound; configured names never
/// contain parentheses).
pub const UNKNOWN_SOURCE: &str = "(unknown)";

impl WebhookState {
    pub fn new(store: Store, sources: Sources) -> Self {
        WebhookState {
            store,
            sources: Arc::new(sources),
            wake: Arc::new(Notify::new()),
            deliveries: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn count(&self, source: &str, outcome: Delivery) {
        if let Ok(mut m) = self.deliveries.lock() {
            *m.entry((source.to_owned(), outcome)).or_insert(0) += 1;
        }
    }

    /// Deliveries answered since start, by (source, outcome), sorted; sources
    /// not configured count under [`UNKNOWN_SOURCE`].
    pub fn delivery_counts(&self) -> Vec<(String, Delivery, u64)> {
        self.deliveries
            .lock()
            .map(|m| m.iter().map(|((s, o), n)| (s.clone(), *o, *n)).collect())
            .unwrap_or_default()
    }
}

/// Errors of the ingest pipeline.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The router serving `POST /webhooks/{source}`.
pub fn router(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/{source}", post(receive))
        .with_state(state)
}

/// Serve the router on `listener` and run the processor until `cancel`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebhookState,
    cancel: CancellationToken,
) -> Result<(), IngestError> {
    let processor = tokio::spawn(run_processor(state.clone(), cancel.clone()));
    let shutdown = cancel.clone();
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
    cancel.cancel();
    let processed = processor
        .await
        .map_err(|e| std::io::Error::other(format!("processor task failed: {e}")))?;
    served?;
    processed
}

/// The reply body.
#[derive(Debug, Serialize)]
struct Reply {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn reply(
    code: StatusCode,
    status: &'static str,
    id: Option<String>,
    error: Option<String>,
) -> Response {
    (
        code,
        axum::Json(Reply {
            status,
            webhook_id: id,
            error,
        }),
    )
        .into_response()
}

fn refuse(code: StatusCode, error: impl std::fmt::Display) -> Response {
    reply(code, "refused", None, Some(error.to_string()))
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

async fn receive(
    State(state): State<WebhookState>,
    Path(source_name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (outcome, res) = handle(&state, &source_name, headers, body).await;
    let label = if state.sources.0.contains_key(&source_name) {
        source_name.as_str()
    } else {
        UNKNOWN_SOURCE
    };
    state.count(label, outcome);
    res
}

async fn handle(
    state: &WebhookState,
    source_name: &str,
    headers: HeaderMap,
    body: Body,
) -> (Delivery, Response) {
    let source_name = source_name.to_owned();
    let Some(source) = state.sources.0.get(&source_name) else {
        return (
            Delivery::UnknownSource,
            refuse(
                StatusCode::NOT_FOUND,
                format!("unknown source {source_name:?}"),
            ),
        );
    };
    // A declared length over the cap is refused before reading anything.
    if let Some(len) = headers.get(header::CONTENT_LENGTH) {
        match len.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
            Some(n) if n > MAX_BODY as u64 => {
                return (
                    Delivery::TooLarge,
                    refuse(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("body over {MAX_BODY} bytes"),
                    ),
                );
            }
            Some(_) => {}
            None => {
                return (
                    Delivery::BadRequest,
                    refuse(StatusCode::BAD_REQUEST, "invalid Content-Length"),
                );
            }
        }
    }
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return (
                Delivery::TooLarge,
                refuse(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("body over {MAX_BODY} bytes"),
                ),
            );
        }
        Err(e) => {
            return (
                Delivery::BadRequest,
                refuse(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                ),
            );
        }
    };
    let stored_headers = headers_json(&headers);
    let received_at = unix_now();
    let lookup = |name: &str| header_str(&headers, name);
    if let Err(e) = verify(source, &lookup, &body, received_at) {
        tracing::debug!(source = %source_name, error = %e, "webhook signature refused");
        return (
            Delivery::RejectedSignature,
            refuse(StatusCode::UNAUTHORIZED, e),
        );
    }
    let header_id = id_header(&lookup);
    let parsed = match events::parse(
        source.kind,
        &source_name,
        header_id.as_deref().unwrap_or(""),
        received_at,
        &body,
    ) {
        Ok(p) => p,
        Err(e) => return (Delivery::BadRequest, refuse(StatusCode::BAD_REQUEST, e)),
    };
    let webhook_id = header_id.unwrap_or(parsed.natural_id);
    let envelope = WebhookEnvelope {
        source: source_name.clone(),
        webhook_id: webhook_id.clone(),
        received_at,
        headers: stored_headers,
        body: body.to_vec(),
        status: "received".into(),
        error: String::new(),
    };
    match state.store.inbox_put(envelope).await {
        Ok(true) => {
            state.wake.notify_one();
            (
                Delivery::Accepted,
                reply(StatusCode::OK, "stored", Some(webhook_id), None),
            )
        }
        Ok(false) => (
            Delivery::Duplicate,
            reply(StatusCode::OK, "duplicate", Some(webhook_id), None),
        ),
        Err(e) => {
            tracing::error!(source = %source_name, error = %e, "cannot store a webhook");
            (
                Delivery::StoreUnavailable,
                refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; retry later",
                ),
            )
        }
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut values = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    let first = values.next()?.to_owned();
    // Several signature headers count as one space-separated list.
    Some(values.fold(first, |acc, v| format!("{acc} {v}")))
}

fn headers_json(headers: &HeaderMap) -> String {
    let mut map = serde_json::Map::new();
    for name in headers.keys() {
        let n = name.as_str();
        if DROPPED_HEADERS.contains(&n) {
            continue;
        }
        if let Some(v) = header_str(headers, n) {
            map.insert(n.to_owned(), serde_json::Value::String(v));
        }
    }
    serde_json::Value::Object(map).to_string()
}

/// The delivery id from `webhook-id` or `svix-id`.
fn id_header(lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    lookup("webhook-id")
        .or_else(|| lookup("svix-id"))
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Verify a delivery against a source's secrets; `lookup` finds headers by
/// (lowercase) name.
pub fn verify(
    source: &Source,
    lookup: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let standard = |prefix: &'static str| -> Option<Result<(), SignatureError>> {
        let id = lookup(&format!("{prefix}-id"))?;
        let ts = lookup(&format!("{prefix}-timestamp"));
        let sig = lookup(&format!("{prefix}-signature"));
        Some(match (ts, sig) {
            (None, _) => Err(SignatureError::MissingHeader("webhook-timestamp")),
            (_, None) => Err(SignatureError::MissingHeader("webhook-signature")),
            (Some(ts), Some(sig)) => {
                signature::verify_standard(&source.secrets, &id, &ts, &sig, body, now)
            }
        })
    };
    if let Some(result) = standard("webhook").or_else(|| standard("svix")) {
        return result;
    }
    if source.kind == SourceKind::Cdp
        && let Some(sig) = lookup("x-hook0-signature")
    {
        return signature::verify_hook0(&source.secrets, &sig, lookup, body, now);
    }
    Err(SignatureError::MissingHeader("webhook-id"))
}

/// Process pending envelopes until `cancel`; wakes on new deliveries and every second.
pub async fn run_processor(
    state: WebhookState,
    cancel: CancellationToken,
) -> Result<(), IngestError> {
    let mut failures = 0u32;
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        let outcome = process_pending(&state).await;
        let pause = match outcome {
            Ok(n) if n > 0 => {
                failures = 0;
                continue;
            }
            Ok(_) => {
                failures = 0;
                Duration::from_secs(1)
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, "webhook processor: the store failed; retrying");
                Duration::from_millis(200u64.saturating_mul(1 << failures.min(5)))
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            () = state.wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// What happened to one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Processed,
    Rejected(String),
}

/// Process one batch of pending envelopes; returns how many were handled.
pub async fn process_pending(state: &WebhookState) -> Result<usize, IngestError> {
    let pending = state.store.inbox_pending(PROCESS_BATCH).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut claims = Vec::new();
    let mut outcomes = Vec::with_capacity(pending.len());
    for env in &pending {
        let outcome = match normalise(&state.sources, env) {
            Ok(mut c) => {
                claims.append(&mut c);
                Outcome::Processed
            }
            Err(reason) => Outcome::Rejected(reason),
        };
        outcomes.push(outcome);
    }
    if !claims.is_empty() {
        state.store.insert_claims(claims).await?;
    }
    let updates = pending.iter().zip(&outcomes).map(|(env, outcome)| {
        let (status, error) = match outcome {
            Outcome::Processed => ("processed", ""),
            Outcome::Rejected(e) => ("rejected", e.as_str()),
        };
        let store = &state.store;
        async move {
            store
                .inbox_set_status(&env.source, &env.webhook_id, status, error)
                .await
        }
    });
    for result in futures::future::join_all(updates).await {
        result?;
    }
    for (env, outcome) in pending.iter().zip(&outcomes) {
        if let Outcome::Rejected(e) = outcome {
            tracing::warn!(source = %env.source, webhook_id = %env.webhook_id, reason = %e, "webhook rejected");
        }
    }
    Ok(pending.len())
}

/// Verify a stored envelope (against the clock at receipt) and parse its claims.
fn normalise(
    sources: &Sources,
    env: &WebhookEnvelope,
) -> Result<Vec<x402scope_store::Claim>, String> {
    let source = sources
        .0
        .get(&env.source)
        .ok_or_else(|| format!("source {:?} is no longer configured", env.source))?;
    let headers: BTreeMap<String, String> = serde_json::from_str(&env.headers)
        .map_err(|e| format!("stored headers are not a JSON object of strings: {e}"))?;
    let lookup = |name: &str| headers.get(&name.to_ascii_lowercase()).cloned();
    verify(source, &lookup, &env.body, env.received_at).map_err(|e| format!("signature: {e}"))?;
    let parsed = events::parse(
        source.kind,
        &env.source,
        &env.webhook_id,
        env.received_at,
        &env.body,
    )
    .map_err(|e| format!("event: {e}"))?;
    Ok(parsed.claims)
}
