//! The JSON API under `/api/v1` (one endpoint per page, sharing its data
//! function), its OpenAPI document, `/healthz` and `/metrics`.

use axum::Json;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::AppState;
use crate::data::{self, ListQuery, OverviewQuery, ProbeQuery, SearchQuery, TxQuery};
use crate::error::{ErrorBody, WebError};
use crate::status::PartStatus;
use crate::validate::Format;

/// An API error: JSON `{error, status}` with the status code.
#[derive(Debug)]
pub struct ApiError(pub WebError);

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0.status(), Json(ErrorBody::of(&self.0))).into_response()
    }
}

/// A query string that did not parse is a 400 saying why.
pub fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, WebError> {
    q.map(|Query(v)| v)
        .map_err(|e| WebError::bad(format!("bad query string: {}", e.body_text())))
}

type ApiResult = Result<Response, ApiError>;

fn json<T: Serialize>(v: &T) -> Response {
    json_sized(v, 4096)
}

fn json_bytes(body: axum::body::Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// JSON written into a buffer of `capacity` bytes up front (a list of many
/// rows would otherwise grow it a dozen times).
fn json_sized<T: Serialize>(v: &T, capacity: usize) -> Response {
    let mut buf = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut buf, v) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            buf,
        )
            .into_response(),
        Err(e) => ApiError(WebError::Render(e.to_string())).into_response(),
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/overview", get(overview))
        .route("/api/v1/transactions", get(transactions))
        .route("/api/v1/tx/{tx_id}", get(transaction))
        .route("/api/v1/facilitators", get(facilitators))
        .route("/api/v1/facilitators/{id}", get(facilitator))
        .route("/api/v1/networks", get(networks))
        .route("/api/v1/sellers/{address}", get(seller))
        .route("/api/v1/buyers/{address}", get(buyer))
        .route("/api/v1/resources", get(resources))
        .route("/api/v1/probe", get(probe))
        .route("/api/v1/search", get(search))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn(reject_empty_values))
        .fallback(not_found)
}

/// The API refuses `name=` (an empty value): leave the parameter out instead.
/// (Pages accept blank form fields as absent.)
async fn reject_empty_values(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(q) = req.uri().query() {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if v.is_empty() {
                let k = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
                return ApiError(WebError::bad(format!(
                    "`{k}`: empty value (leave the parameter out instead)"
                )))
                .into_response();
            }
        }
    }
    next.run(req).await
}

async fn not_found(uri: axum::http::Uri) -> Response {
    let e = WebError::NotFound(format!("no page or endpoint at {}", uri.path()));
    if uri.path().starts_with("/api/") {
        ApiError(e).into_response()
    } else {
        crate::pages::error_page(&e)
    }
}

/// Totals, series and rankings for a range.
#[utoipa::path(get, path = "/api/v1/overview", params(OverviewQuery),
    responses((status = 200, body = data::OverviewData), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn overview(
    State(s): State<AppState>,
    q: Result<Query<OverviewQuery>, QueryRejection>,
) -> ApiResult {
    Ok(json(&*data::overview(&s, &query(q)?).await?))
}

/// Payments, newest first, filtered, with keyset pagination; `format=csv` exports the page.
#[utoipa::path(get, path = "/api/v1/transactions", params(TxQuery),
    responses((status = 200, content((data::TxListData = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn transactions(
    State(s): State<AppState>,
    q: Result<Query<TxQuery>, QueryRejection>,
) -> ApiResult {
    let (d, format) = data::transactions(&s, &query(q)?).await?;
    Ok(match format {
        // Serialized once per cached page (about 560 bytes a row).
        Format::Json => match d.json.get() {
            Some(bytes) => json_bytes(bytes.clone()),
            None => {
                let buf = crate::json::tx_list(&d).map_err(|e| WebError::Render(e.to_string()))?;
                json_bytes(d.json.get_or_init(|| buf.into()).clone())
            }
        },
        Format::Csv => crate::csv::response("transactions", crate::csv::transactions(&d)),
    })
}

/// The indexed payments of one transaction.
#[utoipa::path(get, path = "/api/v1/tx/{tx_id}",
    params(("tx_id" = String, Path, description = "EVM tx hash or Solana signature",
        pattern = "^(0x[0-9a-fA-F]{64}|[1-9A-HJ-NP-Za-km-z]{64,88})$")),
    responses((status = 200, body = data::TxData), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn transaction(State(s): State<AppState>, Path(tx): Path<String>) -> ApiResult {
    Ok(json(&*data::transaction(&s, &tx).await?))
}

/// Facilitators with their totals; `format=csv` exports them.
#[utoipa::path(get, path = "/api/v1/facilitators", params(ListQuery),
    responses((status = 200, content((data::FacilitatorsData = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn facilitators(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let format = query(q)?.format()?;
    let d = data::facilitators(&s).await?;
    Ok(match format {
        Format::Json => json(&*d),
        Format::Csv => crate::csv::response("facilitators", crate::csv::facilitators(&d)),
    })
}

/// One facilitator.
#[utoipa::path(get, path = "/api/v1/facilitators/{id}",
    params(("id" = String, Path, description = "facilitator id", pattern = "^[A-Za-z0-9_.-]{1,64}$")),
    responses((status = 200, body = data::FacilitatorData), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn facilitator(State(s): State<AppState>, Path(id): Path<String>) -> ApiResult {
    Ok(json(&*data::facilitator(&s, &id).await?))
}

/// Networks with their totals and indexer state; `format=csv` exports them.
#[utoipa::path(get, path = "/api/v1/networks", params(ListQuery),
    responses((status = 200, content((data::NetworksData = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn networks(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let format = query(q)?.format()?;
    let d = data::networks(&s).await?;
    Ok(match format {
        Format::Json => json(&*d),
        Format::Csv => crate::csv::response("networks", crate::csv::networks(&d)),
    })
}

/// A seller: revenue, reconciliation with claims, resources.
#[utoipa::path(get, path = "/api/v1/sellers/{address}",
    params(("address" = String, Path, description = "seller address",
        pattern = "^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")),
    responses((status = 200, body = data::SellerData), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn seller(State(s): State<AppState>, Path(a): Path<String>) -> ApiResult {
    Ok(json(&*data::seller(&s, &a).await?))
}

/// A buyer: spending and the sellers paid.
#[utoipa::path(get, path = "/api/v1/buyers/{address}",
    params(("address" = String, Path, description = "buyer address",
        pattern = "^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$")),
    responses((status = 200, body = data::BuyerData), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn buyer(State(s): State<AppState>, Path(a): Path<String>) -> ApiResult {
    Ok(json(&*data::buyer(&s, &a).await?))
}

/// Resources: volume, compliance, last probe, uptime, price history; `format=csv` exports them.
#[utoipa::path(get, path = "/api/v1/resources", params(ListQuery),
    responses((status = 200, content((data::ResourcesData = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn resources(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let format = query(q)?.format()?;
    let d = data::resources(&s).await?;
    Ok(match format {
        Format::Json => json(&*d),
        Format::Csv => crate::csv::response("resources", crate::csv::resources(&d)),
    })
}

/// A probe report for one endpoint; `format=csv` exports it.
#[utoipa::path(get, path = "/api/v1/probe", params(ProbeQuery),
    responses((status = 200, content((data::ProbeReportData = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn probe(
    State(s): State<AppState>,
    q: Result<Query<ProbeQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let format = q.format()?;
    let d = data::probe_report(&s, &q).await?;
    Ok(match format {
        Format::Json => json(&*d),
        Format::Csv => crate::csv::response("probe-report", crate::csv::probe_report(&d)),
    })
}

/// Search by address, tx hash or signature, resource URL, or facilitator.
#[utoipa::path(get, path = "/api/v1/search", params(SearchQuery),
    responses((status = 200, body = data::SearchData), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(s): State<AppState>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult {
    Ok(json(&data::search(&s, &query(q)?).await?))
}

/// Health of every part.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthData {
    /// `ok` when every enabled part runs, else `degraded`.
    pub status: String,
    /// `sqlite` or `clickhouse`.
    pub store: String,
    pub parts: Vec<PartStatus>,
}

pub fn health(s: &AppState) -> HealthData {
    let parts = s.status().snapshot();
    let degraded = parts.iter().any(PartStatus::is_degraded);
    HealthData {
        status: if degraded { "degraded" } else { "ok" }.into(),
        store: s.store().backend().into(),
        parts,
    }
}

/// Per part: state, last block, head, lag, last error. Always 200 while serving.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = HealthData)))]
pub async fn healthz(State(s): State<AppState>) -> Response {
    json(&health(&s))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(s): State<AppState>) -> Response {
    let (probe, inbox) = tokio::join!(s.store().probe_stats(), s.store().inbox_counts());
    let counts = crate::metrics::StoreCounts {
        probe: probe
            .map_err(|e| tracing::warn!(error = %e, "metrics: probe counts"))
            .ok(),
        inbox: inbox
            .map_err(|e| tracing::warn!(error = %e, "metrics: inbox counts"))
            .ok(),
    };
    let mut body = crate::metrics::render(&s.status().snapshot(), s.http());
    body.push_str(&crate::metrics::render_more(
        &counts,
        &s.status().external_metrics(),
    ));
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

async fn openapi() -> Response {
    (StatusCode::OK, Json(ApiDoc::openapi())).into_response()
}

/// The OpenAPI document of the API.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "x402scope API",
        version = "1",
        description = "x402 payments indexed from the chains: overview, transactions, facilitators, networks, sellers, buyers, resources, probes, search."
    ),
    paths(
        overview,
        transactions,
        transaction,
        facilitators,
        facilitator,
        networks,
        seller,
        buyer,
        resources,
        probe,
        search,
        healthz,
        metrics
    ),
    components(schemas(ErrorBody))
)]
pub struct ApiDoc;
