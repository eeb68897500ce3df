//! The KYT review surface: one self-contained axum router with its own state.
//!
//! Every route needs `Authorization: Bearer <key>`: a missing or unknown key is
//! 401, a key without the route's scope is 403. KYT data is served nowhere else.
//!
//! - `GET /kyt`: the review queue (open alerts, open cases), HTML.
//! - `GET /kyt/cases/{id}`: a case with its timeline, HTML.
//! - `GET /kyt/audit.csv`, `GET /kyt/audit.json`: every case event with its hashes.
//! - `GET /api/v1/kyt/alerts[?status=open|removed]`, `GET /api/v1/kyt/cases`,
//!   `GET /api/v1/kyt/cases/{id}`, `GET /api/v1/kyt/lists`, `GET /api/v1/kyt/changes`,
//!   `GET /api/v1/kyt/addresses/{address}`, `GET /api/v1/kyt/verify` (kyt:read);
//! - `POST /api/v1/kyt/cases` `{"alert_id", "note"}` (kyt:review);
//! - `POST /api/v1/kyt/cases/{id}/actions` `{"action": "assign"|"comment"|"disposition"|"reopen"|"approve", …}`
//!   (kyt:review; approve needs kyt:approve).

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use x402scope_store::{Alert, Store};

use crate::auth::{self, AuthError, Reviewer, Scope};
use crate::case::{self, Action, CaseView};
use crate::{KytError, lists, now, screen};

/// The router's state: the store it reads and writes.
#[derive(Debug, Clone)]
pub struct KytState {
    pub store: Store,
}

impl KytState {
    pub fn new(store: Store) -> Self {
        KytState { store }
    }
}

/// The KYT router. Mount it as is (its paths are absolute).
pub fn router(state: KytState) -> Router {
    Router::new()
        .route("/kyt", get(queue_page))
        .route("/kyt/cases/{id}", get(case_page))
        .route("/kyt/audit.csv", get(audit_csv))
        .route("/kyt/audit.json", get(audit_json))
        .route("/api/v1/kyt/alerts", get(api_alerts))
        .route("/api/v1/kyt/cases", get(api_cases).post(api_open))
        .route("/api/v1/kyt/cases/{id}", get(api_case))
        .route("/api/v1/kyt/cases/{id}/actions", post(api_act))
        .route("/api/v1/kyt/lists", get(api_lists))
        .route("/api/v1/kyt/changes", get(api_changes))
        .route("/api/v1/kyt/addresses/{address}", get(api_address))
        .route("/api/v1/kyt/verify", get(api_verify))
        .with_state(state)
}

/// An error as the API answers it.
#[derive(Debug)]
pub enum ApiError {
    Unauthenticated,
    Forbidden(String),
    NotFound(String),
    Invalid(String),
    Conflict(String),
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match &self {
            ApiError::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "send Authorization: Bearer <KYT API key>",
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m.as_str()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.as_str()),
            ApiError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m.as_str()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m.as_str()),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", m.as_str()),
        };
        let mut response = (
            status,
            Json(ErrorBody {
                error: code,
                message,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"x402scope-kyt\""),
            );
        }
        response
    }
}

impl From<KytError> for ApiError {
    fn from(e: KytError) -> Self {
        match e {
            KytError::NotFound(m) => ApiError::NotFound(format!("{m} not found")),
            KytError::Invalid(m) => ApiError::Invalid(m),
            KytError::Forbidden(m) => ApiError::Forbidden(m),
            KytError::Conflict(m) => ApiError::Conflict(m),
            e @ KytError::Malformed { .. } => ApiError::Invalid(e.to_string()),
            KytError::Store(e) => {
                tracing::error!(error = %e, "KYT store error");
                ApiError::Internal("the store failed; see the server log".into())
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated => ApiError::Unauthenticated,
            AuthError::Kyt(k) => k.into(),
        }
    }
}

/// The reviewer behind the request's bearer key, if it holds `scope`.
async fn authorize(
    state: &KytState,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Reviewer, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or(ApiError::Unauthenticated)?;
    let reviewer = auth::authenticate(&state.store, key).await?;
    if !reviewer.has(scope) {
        return Err(ApiError::Forbidden(format!(
            "reviewer {} lacks the scope {}",
            reviewer.name,
            scope.as_str()
        )));
    }
    Ok(reviewer)
}

#[derive(Deserialize)]
struct AlertQuery {
    status: Option<String>,
}

async fn api_alerts(
    State(state): State<KytState>,
    headers: HeaderMap,
    Query(q): Query<AlertQuery>,
) -> Result<Json<Vec<Alert>>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let mut alerts = state.store.kyt_alerts().await.map_err(KytError::from)?;
    if let Some(s) = q.status {
        alerts.retain(|a| a.status == s);
    }
    Ok(Json(alerts))
}

#[derive(Serialize)]
struct CaseSummary {
    id: String,
    alert_id: String,
    opened_at: i64,
    opened_by: String,
    status: String,
    assignee: Option<String>,
    disposition: Option<String>,
    chain_ok: bool,
}

async fn summaries(store: &Store) -> Result<Vec<CaseSummary>, KytError> {
    let cases = store.kyt_cases().await?;
    let events = store.kyt_events(None).await?;
    let mut out = Vec::with_capacity(cases.len());
    for c in cases {
        let mine: Vec<_> = events
            .iter()
            .filter(|e| e.case_id == c.id)
            .cloned()
            .collect();
        let problems = case::verify_events(&c.id, &mine);
        let state = if problems.is_empty() {
            let mut s = None;
            for e in &mine {
                if let Ok(a) = Action::from_event(e) {
                    s = case::apply(s.as_ref(), &e.actor, &a).ok();
                }
            }
            s
        } else {
            None
        };
        out.push(CaseSummary {
            status: state
                .as_ref()
                .map_or("chain_broken", |s| s.status.as_str())
                .to_owned(),
            assignee: state.as_ref().and_then(|s| s.assignee.clone()),
            disposition: state
                .as_ref()
                .and_then(|s| s.disposition.map(|d| d.as_str().to_owned())),
            chain_ok: problems.is_empty(),
            id: c.id,
            alert_id: c.alert_id,
            opened_at: c.opened_at,
            opened_by: c.opened_by,
        });
    }
    Ok(out)
}

async fn api_cases(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Json<Vec<CaseSummary>>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    Ok(Json(summaries(&state.store).await?))
}

async fn api_case(
    State(state): State<KytState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<CaseView>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    Ok(Json(case::view(&state.store, &id).await?))
}

#[derive(Deserialize)]
struct OpenBody {
    alert_id: String,
    #[serde(default)]
    note: String,
}

async fn api_open(
    State(state): State<KytState>,
    headers: HeaderMap,
    body: Result<Json<OpenBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CaseView>), ApiError> {
    let reviewer = authorize(&state, &headers, Scope::Review).await?;
    let Json(body) = body.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let view = case::open(&state.store, &reviewer, &body.alert_id, &body.note, now()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn api_act(
    State(state): State<KytState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<Action>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CaseView>, ApiError> {
    // Authenticate before reading the body, so a stranger learns nothing from it.
    authorize(&state, &headers, Scope::Read).await?;
    let Json(action) = body.map_err(|e| ApiError::Invalid(e.body_text()))?;
    let reviewer = authorize(&state, &headers, action.scope()).await?;
    Ok(Json(
        case::act(&state.store, &reviewer, &id, &action, now()).await?,
    ))
}

async fn api_lists(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let all = state
        .store
        .kyt_list_versions()
        .await
        .map_err(KytError::from)?;
    let active = lists::active_versions(&state.store).await?;
    Ok(Json(
        serde_json::json!({ "versions": all, "active": active }),
    ))
}

async fn api_changes(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Json<Vec<x402scope_store::ListChange>>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    Ok(Json(
        state
            .store
            .kyt_list_changes()
            .await
            .map_err(KytError::from)?,
    ))
}

async fn api_address(
    State(state): State<KytState>,
    headers: HeaderMap,
    Path(address): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let (status, screening) = screen::status_of(&state.store, &address).await?;
    let alerts: Vec<Alert> = state
        .store
        .kyt_alerts()
        .await
        .map_err(KytError::from)?
        .into_iter()
        .filter(|a| a.address == address)
        .collect();
    Ok(Json(serde_json::json!({
        "address": address,
        "status": status,
        "screening": screening,
        "alerts": alerts,
    })))
}

async fn api_verify(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let report = case::verify(&state.store).await?;
    let status = if report.ok() {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    Ok((
        status,
        Json(serde_json::json!({ "ok": report.ok(), "report": report })),
    )
        .into_response())
}

async fn audit_json(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let events = state.store.kyt_events(None).await.map_err(KytError::from)?;
    let report = case::verify(&state.store).await?;
    Ok(Json(serde_json::json!({ "chain_ok": report.ok(), "problems": report.problems, "events": events })).into_response())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

async fn audit_csv(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let events = state.store.kyt_events(None).await.map_err(KytError::from)?;
    let mut out = String::from("case_id,seq,at,actor,action,payload,prev_hash,hash\n");
    for e in &events {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            csv_field(&e.case_id),
            e.seq,
            e.at,
            csv_field(&e.actor),
            csv_field(&e.action),
            csv_field(&e.payload),
            e.prev_hash,
            e.hash
        );
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"kyt-audit.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// Escape text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\"><title>{} · x402scope KYT</title>\
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:80rem}}table{{border-collapse:collapse;width:100%}}td,th{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;font-size:.9rem}}code{{font-size:.85rem}}.bad{{color:#b00;font-weight:bold}}.ok{{color:#070}}</style>\
</head><body><p><a href=\"/kyt\">Review queue</a> · <a href=\"/kyt/audit.csv\">Audit CSV</a> · <a href=\"/kyt/audit.json\">Audit JSON</a></p>{}</body></html>\n",
        esc(title),
        body
    ))
}

async fn queue_page(
    State(state): State<KytState>,
    headers: HeaderMap,
) -> Result<Html<String>, ApiError> {
    let reviewer = authorize(&state, &headers, Scope::Read).await?;
    let alerts = state.store.kyt_alerts().await.map_err(KytError::from)?;
    let cases = summaries(&state.store).await?;
    let active = lists::active_versions(&state.store).await?;
    let mut body = format!(
        "<h1>KYT review queue</h1><p>Signed in as <b>{}</b>.</p>",
        esc(&reviewer.name)
    );
    body.push_str("<h2>Active lists</h2>");
    if active.is_empty() {
        body.push_str(
            "<p class=\"bad\">No list is loaded: every address is <b>not screened</b>.</p>",
        );
    } else {
        body.push_str("<table><tr><th>version</th><th>format</th><th>published</th><th>entries</th><th>sha256</th></tr>");
        for v in &active {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                esc(&v.id),
                esc(&v.format),
                v.published_at,
                v.entry_count,
                esc(&v.sha256)
            );
        }
        body.push_str("</table>");
    }
    body.push_str("<h2>Open alerts</h2><table><tr><th>alert</th><th>address</th><th>kind</th><th>role</th><th>listed address</th><th>list</th><th>label</th><th>case</th></tr>");
    for a in alerts.iter().filter(|a| a.status == "open") {
        let case_id = case::case_id_for(&a.id);
        let case = cases.iter().find(|c| c.id == case_id).map_or_else(
            || "none".to_owned(),
            |c| {
                format!(
                    "<a href=\"/kyt/cases/{}\">{}</a>",
                    esc(&c.id),
                    esc(&c.status)
                )
            },
        );
        let _ = write!(
            body,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{case}</td></tr>",
            esc(&a.id),
            esc(&a.address),
            esc(&a.kind),
            esc(&a.role),
            esc(&a.listed_address),
            esc(&a.list_version),
            esc(&a.label)
        );
    }
    body.push_str("</table><h2>Cases</h2><table><tr><th>case</th><th>alert</th><th>status</th><th>assignee</th><th>disposition</th><th>chain</th></tr>");
    for c in &cases {
        let _ = write!(
            body,
            "<tr><td><a href=\"/kyt/cases/{id}\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
            esc(&c.alert_id),
            esc(&c.status),
            esc(c.assignee.as_deref().unwrap_or("")),
            esc(c.disposition.as_deref().unwrap_or("")),
            if c.chain_ok { "ok" } else { "bad" },
            if c.chain_ok { "ok" } else { "BROKEN" },
            id = esc(&c.id),
        );
    }
    body.push_str("</table>");
    Ok(page("Review queue", &body))
}

async fn case_page(
    State(state): State<KytState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Html<String>, ApiError> {
    authorize(&state, &headers, Scope::Read).await?;
    let v = case::view(&state.store, &id).await?;
    let mut body = format!("<h1>Case {}</h1>", esc(&v.case.id));
    if let Some(a) = &v.alert {
        let _ = write!(
            body,
            "<p>Alert {}: <b>{}</b> of <code>{}</code> (as {}) to listed <code>{}</code> on {} ({}), alert {}.</p>",
            esc(&a.id),
            esc(&a.kind),
            esc(&a.address),
            esc(&a.role),
            esc(&a.listed_address),
            esc(&a.list_version),
            esc(&a.label),
            esc(&a.status)
        );
    }
    match &v.state {
        Some(s) => {
            let _ = write!(
                body,
                "<p>Status: <b>{}</b>; assignee: {}; disposition: {} by {}; approved by {}.</p><p class=\"ok\">Hash chain verified ({} events).</p>",
                s.status.as_str(),
                esc(s.assignee.as_deref().unwrap_or("none")),
                s.disposition.map_or("none", |d| d.as_str()),
                esc(s.disposed_by.as_deref().unwrap_or("-")),
                esc(s.approved_by.as_deref().unwrap_or("-")),
                s.events
            );
        }
        None => {
            body.push_str("<p class=\"bad\">The hash chain of this case is BROKEN:</p><ul>");
            for p in &v.problems {
                let _ = write!(body, "<li>event {}: {}</li>", p.seq, esc(&p.detail));
            }
            body.push_str("</ul>");
        }
    }
    body.push_str("<h2>Timeline</h2><table><tr><th>#</th><th>at</th><th>reviewer</th><th>action</th><th>details</th><th>hash</th></tr>");
    for e in &v.events {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            e.seq,
            e.at,
            esc(&e.actor),
            esc(&e.action),
            esc(&e.payload),
            esc(&e.hash)
        );
    }
    body.push_str("</table>");
    Ok(page(&format!("Case {}", v.case.id), &body))
}
