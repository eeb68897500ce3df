//! x402scope's web server: the dashboard (askama templates from `templates/`,
//! inline SVG charts, CSS from `static/` embedded in the binary) and the
//! versioned JSON API under `/api/v1`, with `/healthz` and `/metrics`.
//!
//! Every page has one data function in [`data`]; the page and its API endpoint
//! both call it, so they cannot disagree. Lists also export CSV.
//!
//! ```text
//! let app = x402scope_web::app(state, extra_router);
//! x402scope_web::serve(listener, app, cancel).await?;
//! ```

mod api;
pub mod cache;
pub mod chart;
mod csv;
pub mod data;
pub mod error;
mod json;
pub mod metrics;
mod pages;
pub mod status;
pub mod validate;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use x402scope_store::Store;

pub use api::ApiDoc;
pub use error::WebError;
pub use status::{PartState, PartStatus, StatusBoard};

/// A per-client request limit (by peer IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests replenished per second.
    pub per_second: u64,
    /// Requests allowed at once.
    pub burst: u32,
}

/// What the web server is configured with.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Networks (CAIP-2) listed on the networks page even before they have data.
    pub networks: Vec<String>,
    /// How long page data is served from memory; zero caches nothing.
    pub cache_ttl: Duration,
    /// None: no rate limit.
    pub rate_limit: Option<RateLimit>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            networks: Vec::new(),
            cache_ttl: Duration::from_secs(5),
            rate_limit: Some(RateLimit {
                per_second: 50,
                burst: 100,
            }),
        }
    }
}

struct Inner {
    store: Store,
    status: StatusBoard,
    config: WebConfig,
    cache: Arc<cache::Cache>,
    http: metrics::HttpCounters,
    /// Links added to the navigation for routes merged from other crates.
    nav: std::sync::RwLock<Vec<(String, String)>>,
}

/// What every handler gets; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.0.store.backend())
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(store: Store, status: StatusBoard, config: WebConfig) -> Self {
        let cache = Arc::new(cache::Cache::new(config.cache_ttl, 4096));
        AppState(Arc::new(Inner {
            store,
            status,
            config,
            cache,
            http: metrics::HttpCounters::default(),
            nav: std::sync::RwLock::default(),
        }))
    }

    /// Add a link to every page's navigation, after the built-in ones (for a
    /// page that another crate's router serves, e.g. the KYT review queue).
    pub fn add_nav(&self, href: &str, label: &str) {
        if let Ok(mut nav) = self.0.nav.write() {
            nav.push((href.to_owned(), label.to_owned()));
        }
    }

    pub(crate) fn extra_nav(&self) -> Vec<(String, String)> {
        self.0.nav.read().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    pub fn status(&self) -> &StatusBoard {
        &self.0.status
    }

    pub fn config(&self) -> &WebConfig {
        &self.0.config
    }

    pub(crate) fn cache(&self) -> &Arc<cache::Cache> {
        &self.0.cache
    }

    pub(crate) fn http(&self) -> &metrics::HttpCounters {
        &self.0.http
    }
}

/// Percent-encode a query value.
pub fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The pages, the API, /healthz, /metrics and /static, without middleware.
pub fn router(state: AppState) -> Router {
    pages::routes().merge(api::routes()).with_state(state)
}

/// The content security policy: everything from this server, nothing inline
/// but the SVG charts' presentation attributes; no framing.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// [`router`] merged with `extra` (e.g. another crate's routes), under the
/// shared middleware: response counting, security headers, open CORS for
/// GET, and the rate limit.
pub fn app(state: AppState, extra: Router) -> Router {
    let limit = state.config().rate_limit;
    let mut app = router(state.clone()).merge(extra);
    if let Some(l) = limit
        && let Some(conf) = tower_governor::governor::GovernorConfigBuilder::default()
            .per_nanosecond((1_000_000_000 / l.per_second.max(1)).max(1))
            .burst_size(l.burst.max(1))
            .finish()
    {
        app = app.layer(tower_governor::GovernorLayer::new(conf));
    }
    app.layer(
        CorsLayer::new()
            .allow_origin(Any)
            .allow_methods([Method::GET, Method::HEAD]),
    )
    .layer(SetResponseHeaderLayer::if_not_present(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ))
    .layer(SetResponseHeaderLayer::overriding(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ))
    .layer(middleware::from_fn_with_state(state, count_responses))
}

async fn count_responses(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    state.http().record(res.status().as_u16());
    res
}

/// Serve `app` on `listener` until `cancel` fires, then finish in-flight
/// requests and return.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    cancel: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(cancel.cancelled_owned())
    .await
}
