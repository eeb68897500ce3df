//! Bazaar discovery: the `GET /discovery/resources` list, the v2 `bazaar`
//! extension (`info` / `schema`) and the v1 `outputSchema.input` form.
//!
//! Discovery data comes from third parties and varies, so these types are
//! lenient: `lastUpdated` is a number or an ISO-8601 string, items mix v1
//! fields (`maxAmountRequired`, `outputSchema`) with CAIP-2 networks, and
//! every field a reader could do without is optional.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};
use x402scope_core::{Amount, AmountError, Network, NetworkError};

use crate::nullable::Nullable;

/// The reply to `GET /discovery/resources`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x402_version: Option<u64>,
    pub items: Vec<DiscoveryItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// One catalogued resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryItem {
    /// The resource URL.
    pub resource: String,
    /// `http` or `mcp`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x402_version: Option<u64>,
    #[serde(default)]
    pub accepts: Vec<DiscoveryAccept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<LastUpdated>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub metadata: Nullable<Value>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extensions: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// A requirement as discovery lists show it: v2 fields, v1 fields, or both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryAccept {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// CAIP-2 or a v1 name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// v2 amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<String>,
    /// v1 amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_amount_required: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_seconds: Option<Number>,
    /// v1: the resource URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub output_schema: Nullable<Value>,
    #[serde(default, skip_serializing_if = "Nullable::is_absent")]
    pub extra: Nullable<Map<String, Value>>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl DiscoveryAccept {
    /// `amount`, or the v1 `maxAmountRequired`.
    pub fn amount(&self) -> Option<Result<Amount, AmountError>> {
        self.amount
            .as_deref()
            .or(self.max_amount_required.as_deref())
            .map(Amount::parse_decimal)
    }

    /// The network, CAIP-2 or v1 name.
    pub fn network(&self) -> Option<Result<Network, NetworkError>> {
        self.network.as_deref().map(Network::parse_lenient)
    }
}

/// `lastUpdated`: unix seconds (the spec) or an ISO-8601 string (the TS type
/// and CDP). Kept as it came.
#[derive(Debug, Clone, PartialEq)]
pub enum LastUpdated {
    Unix(Number),
    Iso(String),
}

impl LastUpdated {
    /// Unix seconds, if the value can be read as a time.
    pub fn unix_seconds(&self) -> Option<i64> {
        match self {
            LastUpdated::Unix(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 1e15)
                    .map(|f| f.floor() as i64)
            }),
            LastUpdated::Iso(s) => parse_iso8601(s),
        }
    }
}

impl Serialize for LastUpdated {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            LastUpdated::Unix(n) => n.serialize(s),
            LastUpdated::Iso(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for LastUpdated {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => Ok(LastUpdated::Unix(n)),
            Value::String(s) => Ok(LastUpdated::Iso(s)),
            other => Err(serde::de::Error::custom(format!(
                "lastUpdated must be a number or a string, found {other}"
            ))),
        }
    }
}

/// `YYYY-MM-DD[Thh:mm[:ss[.fff]]][Z|±hh:mm]` → unix seconds (no zone means UTC).
pub fn parse_iso8601(s: &str) -> Option<i64> {
    fn num(s: &str) -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    }
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, t),
        None => (s, ""),
    };
    let mut dp = date.splitn(3, '-');
    let (y, m, d) = (num(dp.next()?)?, num(dp.next()?)?, num(dp.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || date.len() != 10 {
        return None;
    }
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let (c, z) = time.split_at(i);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (oh, om) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
        if oh.len() > 2 || om.len() > 2 {
            return None;
        }
        (c, sign * (num(oh)? * 3600 + num(om)? * 60))
    } else {
        (time, 0)
    };
    let clock = clock.split_once('.').map_or(clock, |(c, _frac)| c);
    let mut tp = clock.split(':');
    let h = tp.next().filter(|t| !t.is_empty()).map_or(Some(0), num)?;
    let mi = tp.next().map_or(Some(0), num)?;
    let sec = tp.next().map_or(Some(0), num)?;
    if tp.next().is_some() || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    // Days from civil (proleptic Gregorian), after H. Hinnant.
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// The v2 `extensions.bazaar` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BazaarExtension {
    pub info: BazaarInfo,
    /// A JSON Schema (Draft 2020-12) that `info` must validate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// `:param` template of the route, e.g. `/weather/:city`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_template: Option<String>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BazaarInfo {
    pub input: BazaarInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<BazaarOutput>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// `input`: `type:"http"` with a method and its parameters, or `type:"mcp"`
/// with a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BazaarInput {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_params: Option<Value>,
    /// `json`, `form-data` or `text` (POST/PUT/PATCH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// MCP tool name (renamed `toolName` in the 2026-06 spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `streamable-http` or `sse`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl BazaarInput {
    /// The MCP tool, under either spelling.
    pub fn mcp_tool(&self) -> Option<&str> {
        self.tool_name.as_deref().or(self.tool.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BazaarOutput {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// v1 `outputSchema`: `{input, output}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputSchemaV1 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputV1>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

/// v1 `outputSchema.input`. Both camelCase and snake_case spellings occur.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputV1 {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discoverable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_type: Option<String>,
    #[serde(rename = "body_type", default, skip_serializing_if = "Option::is_none")]
    pub body_type_snake: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_fields: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_fields: Option<Value>,
    #[serde(
        rename = "header_fields",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub header_fields_snake: Option<Value>,
    #[serde(flatten)]
    pub unknown: Map<String, Value>,
}

impl InputV1 {
    pub fn body_type(&self) -> Option<&str> {
        self.body_type
            .as_deref()
            .or(self.body_type_snake.as_deref())
    }

    pub fn header_fields(&self) -> Option<&Value> {
        self.header_fields
            .as_ref()
            .or(self.header_fields_snake.as_ref())
    }
}

/// The `bazaar` entry of an extensions map, typed.
pub fn bazaar_of(
    extensions: &Nullable<Map<String, Value>>,
) -> Option<Result<BazaarExtension, serde_json::Error>> {
    extensions
        .as_ref()?
        .get("bazaar")
        .map(|v| serde_json::from_value(v.clone()))
}

crate::codec::decode_via_serde!(DiscoveryResponse, DiscoveryItem, BazaarExtension);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_forms() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2025-08-09T01:07:04.005Z", Some(1_754_701_624)),
            ("2025-08-09T03:07:04+02:00", Some(1_754_701_624)),
            ("2025-08-09", Some(1_754_697_600)),
            ("2000-02-29T12:00:00", Some(951_825_600)),
            ("2025-13-01", None),
            ("yesterday", None),
            ("2025-08-09T25:00:00Z", None),
            ("", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_iso8601(s), *want, "{s}");
        }
    }
}
