//! x402scope's verifying client.
//!
//! - [`fetch`]: an SSRF-safe HTTP fetcher (checked and pinned addresses, manual
//!   redirects, timeouts, header and decompressed-body caps).
//! - [`rules`]: the pure compliance engine, exchanges → findings with stable rule
//!   ids (`X402-R01`… from the checklist, `X402-D01`… for listing drift).
//! - [`probe`]: the active requests (unpaid per method, repeat, malformed and
//!   unverifiable payments).

pub mod codec;
pub mod fetch;
pub mod ip;
pub mod listing;
pub mod model;
pub mod paid;
pub mod probe;
pub mod rules;
pub mod scheduler;

pub use fetch::{FetchError, FetchPolicy, FetchRequest, FetchedResponse, Fetcher, HostResolver};
pub use model::{Exchange, Finding, ListedRequirement, Listing, Purpose, Severity};
pub use probe::{ProbeReport, probe};
pub use rules::{Context, check, check_with};
