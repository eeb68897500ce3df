//! What the compliance engine reads (exchanges, a listing) and writes (findings).

use serde::{Deserialize, Serialize};

use crate::fetch::{FetchedResponse, header_in};

/// Why the probe made a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// No payment header.
    Unpaid,
    /// The same unpaid request again, for the stability of `accepts`.
    UnpaidRepeat,
    /// A payment header that is not base64 JSON.
    MalformedPayment,
    /// A well-formed payment that cannot verify (bogus signature).
    InvalidPayment,
    /// A real, signed payment.
    Paid,
    /// The paid request's payment header sent again.
    Replay,
}

/// One request and its response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Exchange {
    pub purpose: Purpose,
    pub method: String,
    pub url: String,
    pub request_headers: Vec<(String, String)>,
    pub response: FetchedResponse,
}

impl Exchange {
    pub fn request_header(&self, name: &str) -> Option<&str> {
        header_in(&self.request_headers, name)
    }
    pub fn status(&self) -> u16 {
        self.response.status
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A MUST of the spec (or a changed payTo): fails `x402scope probe`.
    Must,
    /// A SHOULD or common practice.
    Should,
    /// Interoperability with the reference SDK, not spec text.
    Interop,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Must => "must",
            Severity::Should => "should",
            Severity::Interop => "interop",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// Stable: `X402-R01`…`X402-R24` for the checklist, `X402-D01`… for drift.
    pub rule: String,
    pub severity: Severity,
    pub message: String,
    /// What was seen: a field's value, a status, both versions of `accepts`, …
    pub evidence: serde_json::Value,
    /// Index into the exchanges the finding is about, when there is one.
    pub exchange: Option<usize>,
}

/// One payment option of a Bazaar listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ListedRequirement {
    pub scheme: String,
    pub network: String,
    pub amount: String,
    pub asset: String,
    pub pay_to: String,
}

/// A resource as a Bazaar discovery list describes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Listing {
    pub resource: String,
    /// HTTP methods the listing names (GET when it names none).
    pub methods: Vec<String>,
    pub accepts: Vec<ListedRequirement>,
}
