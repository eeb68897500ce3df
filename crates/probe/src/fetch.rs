//! The SSRF-safe HTTP fetcher.
//!
//! - Every host name is resolved by a pluggable [`HostResolver`] inside reqwest's
//!   DNS hook, and *every* returned address is checked before any is handed to the
//!   connector, which connects only to those checked addresses: there is no second
//!   lookup that a rebinding DNS server could answer differently. IP-literal hosts
//!   (which reqwest never resolves) are checked before the request is sent, and the
//!   peer address of every response is checked again.
//! - Redirects are followed by hand, at most [`FetchPolicy::max_redirects`], each
//!   hop checked the same way.
//! - Connect and total timeouts; a cap on header bytes and on body bytes, counted
//!   after decompression (gzip bombs stop at the cap), streamed, never buffered
//!   beyond the cap.
//! - No proxy from the environment, no cookies, `User-Agent: x402scope-probe/<v>`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::ip::{BlockReason, blocked};

/// The User-Agent the probe sends.
pub const USER_AGENT: &str = concat!("x402scope-probe/", env!("CARGO_PKG_VERSION"));

/// Limits and switches of the fetcher.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Allow 127.0.0.0/8 and ::1 (tests, local benchmarks). Off by default.
    pub allow_loopback: bool,
    /// Exact addresses exempted from the checks (an intranet host one means to
    /// probe; tests stand them in for public hosts). Empty by default.
    pub allow_addresses: Vec<IpAddr>,
    pub connect_timeout: Duration,
    /// For the whole fetch: every redirect hop and the body.
    pub total_timeout: Duration,
    pub max_redirects: u8,
    /// Sum of header name and value bytes.
    pub max_header_bytes: usize,
    /// Body bytes after decompression.
    pub max_body_bytes: usize,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_loopback: false,
            allow_addresses: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(15),
            max_redirects: 3,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// Resolves host names to addresses. The system resolver in production; tests
/// plug in a stub.
pub trait HostResolver: Send + Sync + std::fmt::Debug {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo` through tokio).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Errors of one fetch.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("refused URL {url}: {why}")]
    BadUrl { url: String, why: String },
    #[error("refused to connect to {host} ({ip}): {reason} address")]
    Blocked {
        host: String,
        ip: IpAddr,
        reason: BlockReason,
    },
    #[error("could not resolve {host}: {detail}")]
    Resolve { host: String, detail: String },
    #[error("more than {max} redirects")]
    TooManyRedirects { max: u8 },
    #[error("response headers exceed {max} bytes")]
    HeadersTooLarge { max: usize },
    #[error("response body exceeds {max} bytes (after decompression)")]
    BodyTooLarge { max: usize },
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("http error: {0}")]
    Http(String),
}

impl FetchError {
    /// A stable short code, for storage.
    pub fn code(&self) -> &'static str {
        match self {
            FetchError::BadUrl { .. } => "bad_url",
            FetchError::Blocked { .. } => "blocked",
            FetchError::Resolve { .. } => "resolve",
            FetchError::TooManyRedirects { .. } => "too_many_redirects",
            FetchError::HeadersTooLarge { .. } => "headers_too_large",
            FetchError::BodyTooLarge { .. } => "body_too_large",
            FetchError::Timeout(_) => "timeout",
            FetchError::Http(_) => "http",
        }
    }
}

/// Raised inside the DNS hook; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {ip}, a {reason} address")]
struct BlockedLookup {
    host: String,
    ip: IpAddr,
    reason: BlockReason,
}

#[derive(Debug, thiserror::Error)]
#[error("{host}: {detail}")]
struct FailedLookup {
    host: String,
    detail: String,
}

#[derive(Debug)]
struct CheckingResolver {
    inner: Arc<dyn HostResolver>,
    policy: AddressPolicy,
}

/// The address half of [`FetchPolicy`].
#[derive(Debug, Clone)]
struct AddressPolicy {
    allow_loopback: bool,
    allow_addresses: Vec<IpAddr>,
}

impl AddressPolicy {
    fn refuse(&self, ip: IpAddr) -> Option<BlockReason> {
        if self.allow_addresses.contains(&ip) {
            return None;
        }
        blocked(ip, self.allow_loopback)
    }
}

impl Resolve for CheckingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_owned();
        let lookup = self.inner.lookup(&host);
        let policy = self.policy.clone();
        Box::pin(async move {
            let ips = lookup.await.map_err(|e| FailedLookup {
                host: host.clone(),
                detail: e.to_string(),
            })?;
            if ips.is_empty() {
                return Err(Box::new(FailedLookup {
                    host,
                    detail: "no addresses".into(),
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            // One bad address refuses the name: the connector could pick any of them.
            for ip in &ips {
                if let Some(reason) = policy.refuse(*ip) {
                    return Err(Box::new(BlockedLookup {
                        host,
                        ip: *ip,
                        reason,
                    })
                        as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}

/// One request the probe makes.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub method: String,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// The final response of a fetch (after redirects).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FetchedResponse {
    /// The URL that answered (the last hop).
    pub url: String,
    /// Every URL redirected through, in order (empty without redirects).
    pub redirects: Vec<String>,
    pub status: u16,
    /// Names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The decompressed body, lossily decoded as UTF-8.
    pub body: String,
    pub remote_addr: Option<String>,
    pub latency_ms: u64,
}

impl FetchedResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

pub(crate) fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The fetcher. Cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    policy: FetchPolicy,
    addresses: AddressPolicy,
    limiter: Option<Arc<HostLimiter>>,
}

/// Requests per host (governor, keyed by host name), with jitter.
#[derive(Debug)]
pub struct HostLimiter {
    limiter: governor::DefaultKeyedRateLimiter<String>,
    jitter: Duration,
}

impl HostLimiter {
    /// At most `per_minute` requests to one host, one at a time (no burst),
    /// each delayed by up to `jitter` more.
    pub fn per_minute(per_minute: std::num::NonZeroU32, jitter: Duration) -> Self {
        let quota = governor::Quota::per_minute(per_minute).allow_burst(std::num::NonZeroU32::MIN);
        HostLimiter {
            limiter: governor::RateLimiter::keyed(quota),
            jitter,
        }
    }

    pub async fn wait(&self, host: &str) {
        self.limiter
            .until_key_ready_with_jitter(&host.to_owned(), governor::Jitter::up_to(self.jitter))
            .await;
    }
}

impl Fetcher {
    /// With the system resolver.
    pub fn new(policy: FetchPolicy) -> Result<Self, FetchError> {
        Self::with_resolver(policy, Arc::new(SystemResolver))
    }

    pub fn with_resolver(
        policy: FetchPolicy,
        resolver: Arc<dyn HostResolver>,
    ) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .user_agent(USER_AGENT)
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.total_timeout)
            .read_timeout(policy.total_timeout)
            .http1_max_headers(100)
            .gzip(true)
            .referer(false)
            .dns_resolver(Arc::new(CheckingResolver {
                inner: resolver,
                policy: AddressPolicy {
                    allow_loopback: policy.allow_loopback,
                    allow_addresses: policy.allow_addresses.clone(),
                },
            }))
            .build()
            .map_err(|e| FetchError::Http(format!("building the HTTP client: {e}")))?;
        let addresses = AddressPolicy {
            allow_loopback: policy.allow_loopback,
            allow_addresses: policy.allow_addresses.clone(),
        };
        Ok(Fetcher {
            client,
            policy,
            addresses,
            limiter: None,
        })
    }

    /// Wait on `limiter` before every request (each redirect hop too).
    pub fn with_limiter(mut self, limiter: Arc<HostLimiter>) -> Self {
        self.limiter = Some(limiter);
        self
    }

    pub fn policy(&self) -> &FetchPolicy {
        &self.policy
    }

    /// Check a URL's scheme and, for IP literals, its address. Host names are
    /// checked when they are resolved.
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::BadUrl {
                url: url.to_string(),
                why: format!("scheme {} is not http or https", url.scheme()),
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::BadUrl {
                url: url.to_string(),
                why: "credentials in the URL".into(),
            });
        }
        let ip = match url.host() {
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            Some(Host::Domain(d)) => {
                // The url crate normalises 0x7f000001, 2130706433, 0177.0.0.1 for
                // http(s); anything still numeric-looking is refused outright.
                if d.parse::<IpAddr>().is_ok() {
                    return Err(FetchError::BadUrl {
                        url: url.to_string(),
                        why: "unparsed IP literal".into(),
                    });
                }
                return Ok(());
            }
            None => {
                return Err(FetchError::BadUrl {
                    url: url.to_string(),
                    why: "no host".into(),
                });
            }
        };
        if let Some(reason) = self.addresses.refuse(ip) {
            return Err(FetchError::Blocked {
                host: url.host_str().unwrap_or_default().to_owned(),
                ip,
                reason,
            });
        }
        Ok(())
    }

    /// Fetch, following redirects by hand, within the total timeout.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchedResponse, FetchError> {
        let total = self.policy.total_timeout;
        // Waiting for our own rate limit is not the server's time.
        if let Some(limiter) = &self.limiter {
            limiter
                .wait(request.url.host_str().unwrap_or_default())
                .await;
        }
        match tokio::time::timeout(total, self.fetch_inner(request)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(total)),
        }
    }

    async fn fetch_inner(&self, request: FetchRequest) -> Result<FetchedResponse, FetchError> {
        let started = Instant::now();
        let mut url = request.url.clone();
        let mut method = request.method.clone();
        let mut body = request.body.clone();
        let mut redirects = Vec::new();
        loop {
            self.check_url(&url)?;
            if !redirects.is_empty()
                && let Some(limiter) = &self.limiter
            {
                limiter.wait(url.host_str().unwrap_or_default()).await;
            }
            let m =
                reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| FetchError::BadUrl {
                    url: url.to_string(),
                    why: format!("bad method {method}"),
                })?;
            let mut builder = self.client.request(m, url.clone());
            for (k, v) in &request.headers {
                builder = builder.header(k.as_str(), v.as_str());
            }
            if let Some(b) = &body {
                builder = builder.body(b.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| classify(&e, &url, self.policy.total_timeout))?;
            let remote = response.remote_addr();
            if let Some(addr) = remote
                && let Some(reason) = self.addresses.refuse(addr.ip())
            {
                return Err(FetchError::Blocked {
                    host: url.host_str().unwrap_or_default().to_owned(),
                    ip: addr.ip(),
                    reason,
                });
            }
            let mut header_bytes = 0usize;
            let mut headers = Vec::with_capacity(response.headers().len());
            for (k, v) in response.headers() {
                header_bytes += k.as_str().len() + v.len() + 4;
                if header_bytes > self.policy.max_header_bytes {
                    return Err(FetchError::HeadersTooLarge {
                        max: self.policy.max_header_bytes,
                    });
                }
                headers.push((
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                ));
            }
            let status = response.status().as_u16();
            if (300..400).contains(&status)
                && let Some(location) = header_in(&headers, "location")
            {
                if redirects.len() >= usize::from(self.policy.max_redirects) {
                    return Err(FetchError::TooManyRedirects {
                        max: self.policy.max_redirects,
                    });
                }
                let next = url.join(location).map_err(|e| FetchError::BadUrl {
                    url: location.to_owned(),
                    why: format!("bad redirect Location: {e}"),
                })?;
                redirects.push(url.to_string());
                if status == 303 || ((status == 301 || status == 302) && method == "POST") {
                    method = "GET".into();
                    body = None;
                }
                url = next;
                continue;
            }
            let body = self.read_body(response).await?;
            return Ok(FetchedResponse {
                url: url.to_string(),
                redirects,
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                remote_addr: remote.map(|a| a.to_string()),
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            });
        }
    }

    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
        let max = self.policy.max_body_bytes;
        // Content-Length is of the encoded body; only an identity body can be refused early.
        if response.headers().get("content-encoding").is_none()
            && response.content_length().is_some_and(|n| n > max as u64)
        {
            return Err(FetchError::BodyTooLarge { max });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| classify_body(&e, self.policy.total_timeout))?
        {
            if body.len() + chunk.len() > max {
                return Err(FetchError::BodyTooLarge { max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn classify_body(e: &reqwest::Error, total: Duration) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout(total)
    } else {
        FetchError::Http(chain(e))
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn classify(e: &reqwest::Error, url: &Url, total: Duration) -> FetchError {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(inner) = src {
        if let Some(b) = inner.downcast_ref::<BlockedLookup>() {
            return FetchError::Blocked {
                host: b.host.clone(),
                ip: b.ip,
                reason: b.reason,
            };
        }
        if let Some(f) = inner.downcast_ref::<FailedLookup>() {
            return FetchError::Resolve {
                host: f.host.clone(),
                detail: f.detail.clone(),
            };
        }
        src = inner.source();
    }
    if e.is_timeout() {
        return FetchError::Timeout(total);
    }
    FetchError::Http(format!("{url}: {}", chain(e)))
}
