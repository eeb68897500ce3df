//! The dashboard's pages: one askama template per page, fed by the same data
//! function as the page's API endpoint.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::AppState;
use crate::api::query;
use crate::chart;
use crate::data::{self, ListQuery, OverviewQuery, ProbeQuery, SearchQuery, TxQuery};
use crate::error::WebError;
use crate::validate::{Format, Range};

const CSS: &str = include_str!("../../../static/app.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/transactions", get(transactions))
        .route("/tx/{tx_id}", get(transaction))
        .route("/facilitators", get(facilitators))
        .route("/facilitators/{id}", get(facilitator))
        .route("/networks", get(networks))
        .route("/sellers/{address}", get(seller))
        .route("/buyers/{address}", get(buyer))
        .route("/resources", get(resources))
        .route("/probe", get(probe))
        .route("/search", get(search))
        .route("/static/app.css", get(css))
}

async fn css() -> Response {
    let mut res = CSS.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}

/// A link in a row of links.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    pub label: String,
    pub active: bool,
}

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Base {
    pub title: String,
    pub nav: Vec<Link>,
    /// One line per failing source.
    pub banner: Vec<String>,
}

impl Base {
    fn new(state: &AppState, title: impl Into<String>, active: &str) -> Self {
        let mut nav: Vec<Link> = [
            ("/", "Overview"),
            ("/transactions", "Transactions"),
            ("/facilitators", "Facilitators"),
            ("/networks", "Networks"),
            ("/resources", "Resources"),
        ]
        .iter()
        .map(|(href, label)| Link {
            href: (*href).into(),
            label: (*label).into(),
            active: *href == active,
        })
        .collect();
        nav.extend(state.extra_nav().into_iter().map(|(href, label)| Link {
            active: href == active,
            href,
            label,
        }));
        let banner = state
            .status()
            .degraded()
            .into_iter()
            .map(|p| {
                let mut line = format!(
                    "{} is {}: {}",
                    p.name,
                    match p.state {
                        crate::PartState::Stopped => "stopped",
                        _ => "unreachable",
                    },
                    p.last_error.unwrap_or_default()
                );
                if let Some(s) = p.retry_in_secs {
                    line.push_str(&format!("; retrying in {s} s"));
                }
                line
            })
            .collect();
        Base {
            title: title.into(),
            nav,
            banner,
        }
    }
}

/// Percent-encoding for templates.
fn enc<S: AsRef<str>>(s: S) -> String {
    crate::url_encode(s.as_ref())
}

fn short<S: AsRef<str>>(s: S) -> String {
    let s = s.as_ref();
    if s.len() > 14 && s.is_ascii() {
        format!("{}…{}", &s[..8], &s[s.len() - 4..])
    } else {
        s.to_owned()
    }
}

/// A failed page: rendered as the error page with its status.
#[derive(Debug)]
struct PageError(WebError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0)
    }
}

type PageResult = Result<Response, PageError>;

fn render<T: Template>(t: &T) -> PageResult {
    match t.render() {
        Ok(html) => Ok(Html(html).into_response()),
        Err(e) => Err(PageError(WebError::from(e))),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    base: Base,
    status: u16,
    message: String,
}

/// An error as a page, with its status code.
pub fn error_page(e: &WebError) -> Response {
    let page = ErrorPage {
        base: Base {
            title: "Error".into(),
            nav: Vec::new(),
            banner: Vec::new(),
        },
        status: e.status().as_u16(),
        message: e.to_string(),
    };
    let html = page
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>Error</title><p>{}</p>", e.status()));
    (e.status(), Html(html)).into_response()
}

fn fail(e: WebError) -> PageError {
    PageError(e)
}

// ---- overview ----

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    base: Base,
    data: Arc<data::OverviewData>,
    ranges: Vec<Link>,
    networks: Vec<Link>,
    organic_href: String,
    count_bars: String,
    volume_bars: String,
    count_cumulative: String,
    volume_cumulative: String,
}

async fn overview(
    State(s): State<AppState>,
    q: Result<Query<OverviewQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q).map_err(fail)?;
    let d = data::overview(&s, &q).await.map_err(fail)?;
    let href = |range: &str, network: Option<&str>, organic: bool| {
        let mut h = format!("/?range={range}");
        if let Some(n) = network {
            h.push_str(&format!("&network={}", enc(n)));
        }
        if organic {
            h.push_str("&organic=true");
        }
        h
    };
    let ranges = Range::ALL
        .iter()
        .map(|r| Link {
            href: href(r.as_str(), d.network.as_deref(), d.organic),
            label: r.as_str().into(),
            active: r.as_str() == d.range,
        })
        .collect();
    let mut networks = vec![Link {
        href: href(&d.range, None, d.organic),
        label: "all networks".into(),
        active: d.network.is_none(),
    }];
    let mut names = s.config().networks.clone();
    names.extend(s.status().snapshot().into_iter().filter_map(|p| p.network));
    if let Some(n) = &d.network {
        names.push(n.clone());
    }
    names.sort();
    names.dedup();
    networks.extend(names.into_iter().map(|n| Link {
        href: href(&d.range, Some(&n), d.organic),
        active: d.network.as_deref() == Some(n.as_str()),
        label: n,
    }));
    let (count, volume) = data::chart_points(&d.series);
    let page = OverviewPage {
        base: Base::new(&s, "Overview", "/"),
        organic_href: href(&d.range, d.network.as_deref(), !d.organic),
        count_bars: chart::bars("Payments per bucket", &count),
        volume_bars: chart::bars("Volume per bucket (USDC)", &volume),
        count_cumulative: chart::cumulative("Cumulative payments", &count),
        volume_cumulative: chart::cumulative("Cumulative volume (USDC)", &volume),
        ranges,
        networks,
        data: d,
    };
    render(&page)
}

// ---- transactions ----

#[derive(Template)]
#[template(path = "transactions.html")]
struct TransactionsPage {
    base: Base,
    q: TxQuery,
    data: Arc<data::TxListData>,
    next_href: Option<String>,
    csv_href: String,
}

fn v(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("")
}

impl TransactionsPage {
    fn field(&self, name: &str) -> &str {
        match name {
            "network" => v(&self.q.network),
            "facilitator" => v(&self.q.facilitator),
            "payer" => v(&self.q.payer),
            "pay_to" => v(&self.q.pay_to),
            "resource" => v(&self.q.resource),
            "min_amount" => v(&self.q.min_amount),
            "max_amount" => v(&self.q.max_amount),
            _ => "",
        }
    }
}

async fn transactions(
    State(s): State<AppState>,
    q: Result<Query<TxQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q).map_err(fail)?;
    let (d, _) = data::transactions(&s, &q).await.map_err(fail)?;
    let next_href = d
        .next
        .as_ref()
        .map(|n| format!("/transactions?{}", q.next_query(n)));
    let mut csv_q = q.clone();
    csv_q.format = Some("csv".into());
    let csv_href = {
        let mut pairs = q.next_query("");
        // `next_query` ends with `cursor=`; keep the current cursor instead.
        pairs.truncate(pairs.len().saturating_sub("cursor=".len()));
        let mut h = format!("/api/v1/transactions?{pairs}format=csv");
        if let Some(c) = q.cursor.as_deref().filter(|c| !c.is_empty()) {
            h.push_str(&format!("&cursor={}", enc(c)));
        }
        h
    };
    let page = TransactionsPage {
        base: Base::new(&s, "Transactions", "/transactions"),
        q,
        data: d,
        next_href,
        csv_href,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "tx.html")]
struct TxPage {
    base: Base,
    data: Arc<data::TxData>,
}

async fn transaction(State(s): State<AppState>, Path(tx): Path<String>) -> PageResult {
    let d = data::transaction(&s, &tx).await.map_err(fail)?;
    render(&TxPage {
        base: Base::new(&s, "Transaction", ""),
        data: d,
    })
}

// ---- facilitators ----

#[derive(Template)]
#[template(path = "facilitators.html")]
struct FacilitatorsPage {
    base: Base,
    data: Arc<data::FacilitatorsData>,
}

async fn facilitators(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult {
    if query(q).and_then(|q| q.format()).map_err(fail)? == Format::Csv {
        return Ok(Redirect::to("/api/v1/facilitators?format=csv").into_response());
    }
    let d = data::facilitators(&s).await.map_err(fail)?;
    render(&FacilitatorsPage {
        base: Base::new(&s, "Facilitators", "/facilitators"),
        data: d,
    })
}

#[derive(Template)]
#[template(path = "facilitator.html")]
struct FacilitatorPage {
    base: Base,
    data: Arc<data::FacilitatorData>,
    count_bars: String,
    volume_cumulative: String,
}

async fn facilitator(State(s): State<AppState>, Path(id): Path<String>) -> PageResult {
    let d = data::facilitator(&s, &id).await.map_err(fail)?;
    let (count, volume) = data::chart_points(&d.series);
    render(&FacilitatorPage {
        base: Base::new(&s, format!("Facilitator {}", d.name), "/facilitators"),
        count_bars: chart::bars("Payments per day", &count),
        volume_cumulative: chart::cumulative("Cumulative volume (USDC)", &volume),
        data: d,
    })
}

// ---- networks ----

#[derive(Template)]
#[template(path = "networks.html")]
struct NetworksPage {
    base: Base,
    data: Arc<data::NetworksData>,
}

impl NetworksPage {
    fn state(&self, row: &data::NetworkRow) -> String {
        match &row.source {
            Some(p) => format!("{:?}", p.state).to_lowercase(),
            None => "not indexed here".into(),
        }
    }
}

async fn networks(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult {
    if query(q).and_then(|q| q.format()).map_err(fail)? == Format::Csv {
        return Ok(Redirect::to("/api/v1/networks?format=csv").into_response());
    }
    let d = data::networks(&s).await.map_err(fail)?;
    render(&NetworksPage {
        base: Base::new(&s, "Networks", "/networks"),
        data: d,
    })
}

// ---- addresses ----

#[derive(Template)]
#[template(path = "seller.html")]
struct SellerPage {
    base: Base,
    data: Arc<data::SellerData>,
    revenue_bars: String,
    revenue_cumulative: String,
}

async fn seller(State(s): State<AppState>, Path(a): Path<String>) -> PageResult {
    let d = data::seller(&s, &a).await.map_err(fail)?;
    let (_, volume) = data::chart_points(&d.series);
    render(&SellerPage {
        base: Base::new(&s, format!("Seller {}", short(&d.address)), ""),
        revenue_bars: chart::bars("Revenue per day (USDC)", &volume),
        revenue_cumulative: chart::cumulative("Cumulative revenue (USDC)", &volume),
        data: d,
    })
}

#[derive(Template)]
#[template(path = "buyer.html")]
struct BuyerPage {
    base: Base,
    data: Arc<data::BuyerData>,
}

async fn buyer(State(s): State<AppState>, Path(a): Path<String>) -> PageResult {
    let d = data::buyer(&s, &a).await.map_err(fail)?;
    render(&BuyerPage {
        base: Base::new(&s, format!("Buyer {}", short(&d.address)), ""),
        data: d,
    })
}

// ---- resources and probes ----

#[derive(Template)]
#[template(path = "resources.html")]
struct ResourcesPage {
    base: Base,
    data: Arc<data::ResourcesData>,
}

impl ResourcesPage {
    fn probe_href<S: AsRef<str>>(&self, url: S) -> String {
        format!("/probe?url={}", enc(url))
    }

    fn uptime(&self, r: &data::ResourceRow) -> String {
        r.uptime_percent
            .map_or_else(|| "—".into(), |u| format!("{u:.1} %"))
    }

    fn price(&self, r: &data::ResourceRow) -> String {
        r.price_history.last().map_or_else(
            || "—".into(),
            |p| format!("{} ({})", p.amount_units, p.network),
        )
    }
}

async fn resources(
    State(s): State<AppState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> PageResult {
    if query(q).and_then(|q| q.format()).map_err(fail)? == Format::Csv {
        return Ok(Redirect::to("/api/v1/resources?format=csv").into_response());
    }
    let d = data::resources(&s).await.map_err(fail)?;
    render(&ResourcesPage {
        base: Base::new(&s, "Resources", "/resources"),
        data: d,
    })
}

#[derive(Template)]
#[template(path = "probe.html")]
struct ProbePage {
    base: Base,
    data: Arc<data::ProbeReportData>,
}

impl ProbePage {
    fn csv_href(&self) -> String {
        format!("/api/v1/probe?url={}&format=csv", enc(&self.data.url))
    }
}

async fn probe(
    State(s): State<AppState>,
    q: Result<Query<ProbeQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q).map_err(fail)?;
    if q.format().map_err(fail)? == Format::Csv {
        let url = q.url.as_deref().unwrap_or_default();
        return Ok(
            Redirect::to(&format!("/api/v1/probe?url={}&format=csv", enc(url))).into_response(),
        );
    }
    let d = data::probe_report(&s, &q).await.map_err(fail)?;
    render(&ProbePage {
        base: Base::new(&s, "Probe report", "/resources"),
        data: d,
    })
}

// ---- search ----

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    base: Base,
    data: data::SearchData,
}

async fn search(
    State(s): State<AppState>,
    q: Result<Query<SearchQuery>, QueryRejection>,
) -> PageResult {
    let q = query(q).map_err(fail)?;
    let d = data::search(&s, &q).await.map_err(fail)?;
    if let [only] = d.hits.as_slice() {
        return Ok(Redirect::to(&only.href).into_response());
    }
    let status = if d.hits.is_empty() {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let page = SearchPage {
        base: Base::new(&s, "Search", ""),
        data: d,
    };
    render(&page).map(|mut r| {
        *r.status_mut() = status;
        r
    })
}
