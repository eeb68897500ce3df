//! The seller report over HTTP: one self-contained axum router, the API twin of
//! `x402scope report seller`.
//!
//! - `GET /api/v1/sellers/{pay_to}/report[?from=&to=]`: the [`SellerReport`] as
//!   JSON; with `format=csv`, or `Accept: text/csv`, the CSV of its rows.
//!
//! `from` is inclusive and `to` exclusive, Unix seconds. The rows are those of
//! the latest analysis run.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use x402scope_store::Store;

use crate::reconcile::{SellerReport, to_csv};

/// The router's state: the store it reads.
#[derive(Debug, Clone)]
pub struct ReportState {
    pub store: Store,
}

/// The report router. Mount it as is (its paths are absolute).
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/api/v1/sellers/{pay_to}/report", get(report))
        .with_state(ReportState { store })
}

#[derive(Debug, Deserialize)]
struct ReportQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    format: Option<String>,
}

#[derive(Debug, Serialize)]
struct ErrorBody {
    error: String,
}

fn error(status: StatusCode, msg: String) -> Response {
    (status, Json(ErrorBody { error: msg })).into_response()
}

fn time(name: &str, v: Option<&str>) -> Result<Option<i64>, String> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("`{name}` must be Unix seconds, got {s:?}")),
    }
}

async fn report(
    State(state): State<ReportState>,
    Path(pay_to): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Response {
    let (from, to) = match (time("from", q.from.as_deref()), time("to", q.to.as_deref())) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`from` {f} is after `to` {t}"),
        );
    }
    if pay_to.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "the payTo is empty".into());
    }
    let csv = match q.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`format` must be json or csv, got {other:?}"),
            );
        }
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
    };
    let report: SellerReport = match crate::seller_report(&state.store, &pay_to, from, to).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "seller report failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    };
    if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&report),
        )
            .into_response()
    } else {
        Json(report).into_response()
    }
}
