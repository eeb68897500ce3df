//! The compliance engine: a pure function from exchanges (and an optional listing)
//! to findings. Rule numbers follow the checklist of `docs/x402-protocol.md` §7.
//!
//! Not checked here, because they need the chain or a facilitator: the on-chain
//! `name()`/`version()` of rule 9, "permit2 ⇒ not EIP-3009" of rule 10, the
//! `/supported` signers and ATA test of rule 11, and validation of `bazaar.info`
//! against its JSON Schema (rule 16 checks the shape, enums and `routeTemplate`).

use serde_json::{Value, json};

use crate::codec::{Decoded, decode_header};
use crate::model::{Exchange, Finding, Listing, Purpose, Severity};

/// Facts from outside the exchanges that some rules use.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `(x402Version, scheme, network)` kinds of known facilitators' `/supported`
    /// (rule 13). Not checked when `None`.
    pub supported_kinds: Option<Vec<(u8, String, String)>>,
}

/// Titles of every rule the engine can report.
pub const RULES: &[(&str, &str)] = &[
    ("X402-R01", "an unpaid request returns 402"),
    (
        "X402-R02",
        "v2: PAYMENT-REQUIRED header, standard base64 of JSON",
    ),
    (
        "X402-R03",
        "v1: JSON body {x402Version:1,error,accepts} as application/json",
    ),
    ("X402-R04", "x402Version is 1 or 2; the header means 2"),
    ("X402-R05", "resource.url non-empty (v2); accepts non-empty"),
    (
        "X402-R06",
        "every requirement has its required fields; maxTimeoutSeconds > 0",
    ),
    (
        "X402-R07",
        "v2 network is CAIP-2; v1 network is a known name",
    ),
    (
        "X402-R08",
        "amount is a decimal integer string, > 0 for exact",
    ),
    (
        "X402-R09",
        "exact EVM (EIP-3009): extra.name and extra.version",
    ),
    (
        "X402-R10",
        "extra.assetTransferMethod is eip3009, permit2 or erc7710",
    ),
    (
        "X402-R11",
        "exact SVM: feePayer, mint and payTo keys, memo ≤ 256 bytes",
    ),
    (
        "X402-R12",
        "upto: extra.facilitatorAddress, name and version",
    ),
    (
        "X402-R13",
        "(scheme, network) supported by a known facilitator",
    ),
    ("X402-R14", "maxTimeoutSeconds long enough (≥ 30 s)"),
    ("X402-R15", "accepts stable across two unpaid calls"),
    (
        "X402-R16",
        "extensions have info and schema; bazaar input is legal",
    ),
    ("X402-R17", "resource serviceName, tags and iconUrl rules"),
    (
        "X402-R18",
        "a malformed payment gives 400 or 402, never 200 or 5xx",
    ),
    (
        "X402-R19",
        "a failed payment gives 402 and a failure PAYMENT-RESPONSE",
    ),
    (
        "X402-R20",
        "a paid request gives 200 and a success PAYMENT-RESPONSE",
    ),
    ("X402-R21", "a replayed payment is refused"),
    (
        "X402-R22",
        "v1: X-PAYMENT is answered with X-PAYMENT-RESPONSE",
    ),
    ("X402-R23", "412 only with permit2_allowance_required"),
    (
        "X402-R24",
        "CORS exposes PAYMENT-REQUIRED and PAYMENT-RESPONSE",
    ),
    (
        "X402-D01",
        "drift: payTo differs from the listing (high severity)",
    ),
    ("X402-D02", "drift: amount differs from the listing"),
    ("X402-D03", "drift: asset differs from the listing"),
    ("X402-D04", "drift: network differs from the listing"),
    ("X402-D05", "drift: scheme differs from the listing"),
];

/// v1 network names (EVM), with their chain ids.
pub const V1_EVM_NETWORKS: &[(&str, u64)] = &[
    ("ethereum", 1),
    ("sepolia", 11155111),
    ("base", 8453),
    ("base-sepolia", 84532),
    ("avalanche", 43114),
    ("avalanche-fuji", 43113),
    ("polygon", 137),
    ("polygon-amoy", 80002),
    ("sei", 1329),
    ("sei-testnet", 1328),
    ("iotex", 4689),
    ("peaq", 3338),
    ("story", 1514),
    ("educhain", 41923),
    ("abstract", 2741),
    ("abstract-testnet", 11124),
    ("skale-base-sepolia", 324705682),
    ("megaeth", 4326),
    ("monad", 143),
    ("stable", 988),
    ("stable-testnet", 2201),
    ("xdc", 50),
    ("xrpl-evm", 1440000),
    ("celo", 42220),
    ("celo-sepolia", 11142220),
    ("radius", 723487),
    ("radius-testnet", 72344),
];

/// v1 Solana names and their CAIP-2 ids.
pub const V1_SVM_NETWORKS: &[(&str, &str)] = &[
    ("solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"),
    ("solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
    ("solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
];

/// A network id in CAIP-2 form (v1 names mapped; CAIP-2 kept).
pub fn normalise_network(n: &str) -> String {
    if let Some((_, id)) = V1_EVM_NETWORKS.iter().find(|(name, _)| *name == n) {
        return format!("eip155:{id}");
    }
    if let Some((_, caip)) = V1_SVM_NETWORKS.iter().find(|(name, _)| *name == n) {
        return (*caip).to_owned();
    }
    n.to_owned()
}

/// CAIP-2: `[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}`.
pub fn is_caip2(n: &str) -> bool {
    let Some((ns, reference)) = n.split_once(':') else {
        return false;
    };
    (3..=8).contains(&ns.len())
        && ns
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && (1..=32).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_evm(version: u8, network: &str) -> bool {
    if version == 1 {
        V1_EVM_NETWORKS.iter().any(|(n, _)| *n == network)
    } else {
        network.starts_with("eip155:")
    }
}

fn is_svm(version: u8, network: &str) -> bool {
    if version == 1 {
        V1_SVM_NETWORKS.iter().any(|(n, _)| *n == network)
    } else {
        network.starts_with("solana:")
    }
}

fn is_base58_key(s: &str) -> bool {
    bs58::decode(s).into_vec().is_ok_and(|b| b.len() == 32)
}

fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// The findings for a sequence of exchanges with one resource.
pub fn check(exchanges: &[Exchange], listing: Option<&Listing>) -> Vec<Finding> {
    check_with(exchanges, listing, &Context::default())
}

/// [`check`] with outside facts.
pub fn check_with(
    exchanges: &[Exchange],
    listing: Option<&Listing>,
    ctx: &Context,
) -> Vec<Finding> {
    let mut out = Findings::default();
    let mut first_doc: Option<(u8, Value)> = None;
    let mut accepts_seen: Vec<(String, String, usize)> = Vec::new();
    for (i, ex) in exchanges.iter().enumerate() {
        out.current = Some(i);
        if ex.status() == 412 {
            check_412(ex, &mut out);
        }
        match ex.purpose {
            Purpose::Unpaid | Purpose::UnpaidRepeat => {
                if let Some((version, doc)) = unpaid(ex, &mut out) {
                    let accepts = doc.get("accepts").map(Value::to_string).unwrap_or_default();
                    if let Some((_, prev, j)) =
                        accepts_seen.iter().find(|(m, _, _)| *m == ex.method)
                    {
                        if *prev != accepts {
                            out.push(
                                "X402-R15",
                                Severity::Interop,
                                format!("accepts changed between two unpaid {} calls", ex.method),
                                json!({"first": parse_or_raw(prev), "second": parse_or_raw(&accepts), "first_exchange": j}),
                            );
                        }
                    } else {
                        accepts_seen.push((ex.method.clone(), accepts, i));
                        document(version, &doc, ctx, &mut out);
                    }
                    if first_doc.is_none() {
                        first_doc = Some((version, doc));
                    }
                }
            }
            Purpose::MalformedPayment => {
                let s = ex.status();
                if s != 400 && s != 402 {
                    out.push(
                        "X402-R18",
                        Severity::Must,
                        format!("a malformed payment header got HTTP {s}, not 400 or 402"),
                        json!({"status": s, "body": snippet(&ex.response.body)}),
                    );
                }
            }
            Purpose::InvalidPayment => failed_payment(ex, &mut out),
            Purpose::Paid => paid(ex, &mut out),
            Purpose::Replay => {
                let s = ex.status();
                if (200..300).contains(&s) {
                    out.push(
                        "X402-R21",
                        Severity::Must,
                        format!("a replayed payment header was accepted with HTTP {s}"),
                        json!({"status": s}),
                    );
                }
            }
        }
    }
    out.current = None;
    if let (Some(listing), Some((version, doc))) = (listing, &first_doc) {
        drift(*version, doc, listing, &mut out);
    }
    out.items
}

#[derive(Default)]
struct Findings {
    items: Vec<Finding>,
    current: Option<usize>,
}

impl Findings {
    fn push(&mut self, rule: &str, severity: Severity, message: String, evidence: Value) {
        let dup = self
            .items
            .iter()
            .any(|f| f.rule == rule && f.message == message);
        if !dup {
            self.items.push(Finding {
                rule: rule.to_owned(),
                severity,
                message,
                evidence,
                exchange: self.current,
            });
        }
    }
}

fn parse_or_raw(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()))
}

fn snippet(body: &str) -> String {
    body.chars().take(300).collect()
}

/// Rules 1–4 for one unpaid exchange; the document and its version when there is one.
fn unpaid(ex: &Exchange, out: &mut Findings) -> Option<(u8, Value)> {
    let status = ex.status();
    if status != 402 {
        out.push(
            "X402-R01",
            Severity::Must,
            format!("an unpaid {} returned HTTP {status}, not 402", ex.method),
            json!({"status": status, "body": snippet(&ex.response.body)}),
        );
        return None;
    }
    if let Some(header) = ex.response.header("payment-required") {
        cors(ex, "payment-required", out);
        let doc = match decode_header(header) {
            Decoded::Standard(v) => v,
            Decoded::UrlSafe(v) => {
                out.push(
                    "X402-R02",
                    Severity::Interop,
                    "PAYMENT-REQUIRED is base64url (or unpadded); the reference SDK accepts only standard base64".into(),
                    json!({"header": snippet(header)}),
                );
                v
            }
            Decoded::Invalid(why) => {
                out.push(
                    "X402-R02",
                    Severity::Must,
                    format!("PAYMENT-REQUIRED does not decode: {why}"),
                    json!({"header": snippet(header)}),
                );
                return None;
            }
        };
        match doc.get("x402Version").and_then(Value::as_u64) {
            Some(2) => Some((2, doc)),
            other => {
                out.push(
                    "X402-R04",
                    Severity::Must,
                    "the PAYMENT-REQUIRED header must carry x402Version 2".into(),
                    json!({"x402Version": other}),
                );
                None
            }
        }
    } else {
        let body: Option<Value> = serde_json::from_str(&ex.response.body).ok();
        let version = body
            .as_ref()
            .and_then(|b| b.get("x402Version"))
            .and_then(Value::as_u64);
        match (body, version) {
            (Some(doc), Some(1)) => {
                let ct = ex.response.header("content-type").unwrap_or_default();
                if !ct.to_ascii_lowercase().starts_with("application/json") {
                    out.push(
                        "X402-R03",
                        Severity::Must,
                        format!("a v1 402 body is served as {ct:?}, not application/json"),
                        json!({"content-type": ct}),
                    );
                }
                if !doc.get("error").is_some_and(Value::is_string) {
                    out.push(
                        "X402-R03",
                        Severity::Must,
                        "a v1 402 body lacks the error string".into(),
                        json!({"error": doc.get("error")}),
                    );
                }
                if !doc.get("accepts").is_some_and(Value::is_array) {
                    out.push(
                        "X402-R03",
                        Severity::Must,
                        "a v1 402 body lacks the accepts array".into(),
                        json!({"accepts": doc.get("accepts")}),
                    );
                }
                Some((1, doc))
            }
            (Some(_), Some(v)) if v != 2 => {
                out.push(
                    "X402-R04",
                    Severity::Must,
                    format!("x402Version {v} is neither 1 nor 2"),
                    json!({"x402Version": v}),
                );
                None
            }
            _ => {
                out.push(
                    "X402-R02",
                    Severity::Must,
                    "a 402 without a PAYMENT-REQUIRED header (and no v1 body)".into(),
                    json!({"headers": ex.response.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                           "body": snippet(&ex.response.body)}),
                );
                None
            }
        }
    }
}

fn cors(ex: &Exchange, header: &str, out: &mut Findings) {
    let exposed = ex
        .response
        .header("access-control-expose-headers")
        .unwrap_or_default();
    let ok = exposed
        .split(',')
        .map(str::trim)
        .any(|h| h == "*" || h.eq_ignore_ascii_case(header));
    if !ok {
        out.push(
            "X402-R24",
            Severity::Should,
            format!("Access-Control-Expose-Headers does not expose {header}"),
            json!({"access-control-expose-headers": exposed}),
        );
    }
}

/// Rules 4–17 on a PaymentRequired (v2) or PaymentRequirementsResponse (v1).
fn document(version: u8, doc: &Value, ctx: &Context, out: &mut Findings) {
    if version == 2 {
        let url = doc.pointer("/resource/url").and_then(Value::as_str);
        if url.is_none_or(str::is_empty) {
            out.push(
                "X402-R05",
                Severity::Must,
                "resource.url is missing or empty".into(),
                json!({"resource": doc.get("resource")}),
            );
        }
        resource_meta(doc.get("resource"), out);
        extensions(doc.get("extensions"), out);
    }
    let Some(accepts) = doc.get("accepts").and_then(Value::as_array) else {
        if version == 2 {
            out.push(
                "X402-R05",
                Severity::Must,
                "accepts is missing".into(),
                json!({"accepts": doc.get("accepts")}),
            );
        }
        return;
    };
    if accepts.is_empty() {
        out.push(
            "X402-R05",
            Severity::Must,
            "accepts is empty".into(),
            json!({"accepts": []}),
        );
    }
    for (i, req) in accepts.iter().enumerate() {
        requirement(version, i, req, ctx, out);
    }
}

fn requirement(version: u8, i: usize, req: &Value, ctx: &Context, out: &mut Findings) {
    let Some(obj) = req.as_object() else {
        out.push(
            "X402-R06",
            Severity::Must,
            format!("accepts[{i}] is not an object"),
            req.clone(),
        );
        return;
    };
    let amount_key = if version == 1 {
        "maxAmountRequired"
    } else {
        "amount"
    };
    let mut required = vec!["scheme", "network", "asset", "payTo"];
    if version == 1 {
        required.extend(["resource", "description"]);
    }
    for key in &required {
        let ok = match obj.get(*key) {
            Some(Value::String(s)) => !s.is_empty() || *key == "description",
            _ => false,
        };
        if !ok {
            out.push(
                "X402-R06",
                Severity::Must,
                format!("accepts[{i}].{key} is missing or not a non-empty string"),
                json!({ *key: obj.get(*key) }),
            );
        }
    }
    if !obj.contains_key(amount_key) {
        out.push(
            "X402-R06",
            Severity::Must,
            format!("accepts[{i}].{amount_key} is missing"),
            json!({}),
        );
    }
    match obj.get("maxTimeoutSeconds").and_then(Value::as_u64) {
        Some(t) if t > 0 => {
            if t < 30 {
                out.push(
                    "X402-R14",
                    Severity::Interop,
                    format!("accepts[{i}].maxTimeoutSeconds is {t} s (< 30 s)"),
                    json!({"maxTimeoutSeconds": t}),
                );
            }
        }
        _ => out.push(
            "X402-R06",
            Severity::Must,
            format!("accepts[{i}].maxTimeoutSeconds is not a positive integer"),
            json!({"maxTimeoutSeconds": obj.get("maxTimeoutSeconds")}),
        ),
    }
    let scheme = obj
        .get("scheme")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let network = obj
        .get("network")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if obj.get("network").is_some_and(Value::is_string) {
        let ok = if version == 1 {
            V1_EVM_NETWORKS.iter().any(|(n, _)| *n == network)
                || V1_SVM_NETWORKS.iter().any(|(n, _)| *n == network)
        } else {
            is_caip2(network)
        };
        if !ok {
            let want = if version == 1 {
                "a known v1 network name"
            } else {
                "CAIP-2 (namespace:reference)"
            };
            out.push(
                "X402-R07",
                Severity::Must,
                format!("accepts[{i}].network {network:?} is not {want}"),
                json!({"network": network}),
            );
        }
    }
    if let Some(amount) = obj.get(amount_key) {
        match amount.as_str() {
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                if scheme == "exact" && s.bytes().all(|b| b == b'0') {
                    out.push(
                        "X402-R08",
                        Severity::Must,
                        format!("accepts[{i}].{amount_key} is 0 for the exact scheme"),
                        json!({ amount_key: s }),
                    );
                }
            }
            _ => out.push(
                "X402-R08",
                Severity::Must,
                format!("accepts[{i}].{amount_key} is not a decimal integer string"),
                json!({ amount_key: amount }),
            ),
        }
    }
    let extra = obj.get("extra").filter(|e| !e.is_null());
    let extra_str = |k: &str| {
        extra
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let method = extra.and_then(|e| e.get("assetTransferMethod"));
    if let Some(m) = method
        && !matches!(m.as_str(), Some("eip3009" | "permit2" | "erc7710"))
    {
        out.push(
            "X402-R10",
            Severity::Must,
            format!(
                "accepts[{i}].extra.assetTransferMethod {m} is not eip3009, permit2 or erc7710"
            ),
            json!({"assetTransferMethod": m}),
        );
    }
    let eip3009 = method.is_none_or(|m| m.as_str() == Some("eip3009"));
    if scheme == "exact" && is_evm(version, network) && eip3009 {
        for k in ["name", "version"] {
            if extra_str(k).is_none() {
                out.push(
                    "X402-R09",
                    Severity::Must,
                    format!("accepts[{i}].extra.{k} is missing (needed for the EIP-712 domain)"),
                    json!({"extra": extra}),
                );
            }
        }
    }
    if scheme == "exact" && is_svm(version, network) {
        if !extra_str("feePayer").is_some_and(is_base58_key) {
            out.push(
                "X402-R11",
                Severity::Must,
                format!("accepts[{i}].extra.feePayer is missing or not a base58 public key"),
                json!({"extra": extra}),
            );
        }
        for k in ["asset", "payTo"] {
            let v = obj.get(k).and_then(Value::as_str).unwrap_or_default();
            if !is_base58_key(v) {
                out.push(
                    "X402-R11",
                    Severity::Must,
                    format!("accepts[{i}].{k} is not a base58 Solana key"),
                    json!({ k: v }),
                );
            }
        }
        if let Some(memo) = extra.and_then(|e| e.get("memo")).and_then(Value::as_str)
            && memo.len() > 256
        {
            out.push(
                "X402-R11",
                Severity::Must,
                format!("accepts[{i}].extra.memo is {} bytes (> 256)", memo.len()),
                json!({"memo_bytes": memo.len()}),
            );
        }
    }
    if scheme == "upto" {
        for k in ["facilitatorAddress", "name", "version"] {
            if extra_str(k).is_none() {
                out.push(
                    "X402-R12",
                    Severity::Must,
                    format!("accepts[{i}].extra.{k} is missing (upto)"),
                    json!({"extra": extra}),
                );
            }
        }
    }
    if let Some(kinds) = &ctx.supported_kinds {
        let known = kinds
            .iter()
            .any(|(v, s, n)| *v == version && s == scheme && (n == network || n == "*"));
        if !known {
            out.push(
                "X402-R13",
                Severity::Interop,
                format!("no known facilitator supports ({scheme}, {network}) for v{version}"),
                json!({"scheme": scheme, "network": network}),
            );
        }
    }
}

fn resource_meta(resource: Option<&Value>, out: &mut Findings) {
    let Some(r) = resource else { return };
    if let Some(name) = r.get("serviceName") {
        let ok = name
            .as_str()
            .is_some_and(|s| s.len() <= 32 && is_printable_ascii(s));
        if !ok {
            out.push(
                "X402-R17",
                Severity::Must,
                "resource.serviceName must be printable ASCII, at most 32 characters".into(),
                json!({"serviceName": name}),
            );
        }
    }
    if let Some(tags) = r.get("tags") {
        let ok = tags.as_array().is_some_and(|a| {
            a.len() <= 5
                && a.iter().all(|t| {
                    t.as_str()
                        .is_some_and(|s| s.len() <= 32 && is_printable_ascii(s))
                })
        });
        if !ok {
            out.push(
                "X402-R17",
                Severity::Must,
                "resource.tags must be at most 5 printable ASCII strings of at most 32 characters"
                    .into(),
                json!({"tags": tags}),
            );
        }
    }
    if let Some(icon) = r.get("iconUrl") {
        let ok = icon.as_str().is_some_and(|s| {
            s.len() <= 2048
                && url::Url::parse(s).is_ok_and(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && matches!(u.host(), Some(url::Host::Domain(d)) if !d.eq_ignore_ascii_case("localhost") && !d.to_ascii_lowercase().ends_with(".localhost"))
                })
        });
        if !ok {
            out.push(
                "X402-R17",
                Severity::Must,
                "resource.iconUrl must be an absolute http(s) URL of at most 2048 characters, not an IP or localhost".into(),
                json!({"iconUrl": icon}),
            );
        }
    }
}

fn route_template_ok(t: &str) -> bool {
    let shape = t.starts_with('/')
        && t.len() > 1
        && t.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b':' | b'.' | b'-' | b'~' | b'%')
        });
    let decoded = percent_encoding::percent_decode_str(t).decode_utf8_lossy();
    shape && !decoded.contains("..") && !decoded.contains("://")
}

fn extensions(ext: Option<&Value>, out: &mut Findings) {
    let Some(ext) = ext.filter(|e| !e.is_null()) else {
        return;
    };
    let Some(map) = ext.as_object() else {
        out.push(
            "X402-R16",
            Severity::Must,
            "extensions is not an object".into(),
            ext.clone(),
        );
        return;
    };
    for (key, entry) in map {
        if entry.get("info").is_none() || entry.get("schema").is_none() {
            out.push(
                "X402-R16",
                Severity::Must,
                format!("extensions.{key} lacks info or schema"),
                json!({"keys": entry.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>())}),
            );
        }
    }
    let Some(bazaar) = map.get("bazaar") else {
        return;
    };
    if let Some(input) = bazaar.pointer("/info/input") {
        let kind = input.get("type").and_then(Value::as_str);
        let method = input.get("method").and_then(Value::as_str);
        let bad = match kind {
            Some("http") => match method {
                Some("GET" | "HEAD" | "DELETE") => None,
                Some("POST" | "PUT" | "PATCH") => {
                    match input.get("bodyType").and_then(Value::as_str) {
                        Some("json" | "form-data" | "text") => None,
                        other => Some(format!("bodyType {other:?} is not json, form-data or text")),
                    }
                }
                other => Some(format!("method {other:?} is not a legal HTTP input method")),
            },
            Some("mcp") => {
                if input
                    .get("tool")
                    .or_else(|| input.get("toolName"))
                    .is_some_and(Value::is_string)
                {
                    None
                } else {
                    Some("an mcp input without tool/toolName".into())
                }
            }
            other => Some(format!("input.type {other:?} is not http or mcp")),
        };
        if let Some(why) = bad {
            out.push(
                "X402-R16",
                Severity::Must,
                format!("extensions.bazaar.info.input: {why}"),
                input.clone(),
            );
        }
    }
    if let Some(t) = bazaar.get("routeTemplate")
        && !t.as_str().is_some_and(route_template_ok)
    {
        out.push(
            "X402-R16",
            Severity::Must,
            "extensions.bazaar.routeTemplate breaks the routeTemplate rules".into(),
            json!({"routeTemplate": t}),
        );
    }
}

fn settlement_header(ex: &Exchange) -> Option<(&'static str, &str)> {
    if let Some(v) = ex.response.header("payment-response") {
        return Some(("PAYMENT-RESPONSE", v));
    }
    ex.response
        .header("x-payment-response")
        .map(|v| ("X-PAYMENT-RESPONSE", v))
}

fn failed_payment(ex: &Exchange, out: &mut Findings) {
    let s = ex.status();
    if s != 402 {
        let sev = Severity::Must;
        out.push(
            "X402-R19",
            sev,
            format!("a payment that cannot verify got HTTP {s}, not 402"),
            json!({"status": s, "body": snippet(&ex.response.body)}),
        );
        return;
    }
    if let Some((name, value)) = settlement_header(ex) {
        match decode_header(value) {
            Decoded::Standard(v) | Decoded::UrlSafe(v) => {
                let ok = v.get("success") == Some(&Value::Bool(false))
                    && v.get("errorReason").is_some_and(Value::is_string)
                    && v.get("transaction") == Some(&Value::String(String::new()));
                if !ok {
                    out.push(
                        "X402-R19",
                        Severity::Must,
                        format!("the failure {name} must have success:false, an errorReason and transaction \"\""),
                        v,
                    );
                }
            }
            Decoded::Invalid(why) => out.push(
                "X402-R19",
                Severity::Must,
                format!("{name} does not decode: {why}"),
                json!({"header": snippet(value)}),
            ),
        }
    }
}

/// Rule 20 (shape; the chain is checked by the paid probe) and rule 22.
fn paid(ex: &Exchange, out: &mut Findings) {
    let s = ex.status();
    let v1 = ex.request_header("x-payment").is_some();
    let (want, other) = if v1 {
        ("x-payment-response", "X402-R22")
    } else {
        ("payment-response", "X402-R20")
    };
    if s != 200 {
        out.push(
            "X402-R20",
            Severity::Must,
            format!("a paid request got HTTP {s}, not 200"),
            json!({"status": s, "body": snippet(&ex.response.body)}),
        );
        return;
    }
    cors(ex, want, out);
    let Some(value) = ex.response.header(want) else {
        out.push(
            other,
            Severity::Must,
            format!("a paid 200 lacks the {} header", want.to_ascii_uppercase()),
            json!({}),
        );
        return;
    };
    let accepted_network = ex
        .request_header(if v1 { "x-payment" } else { "payment-signature" })
        .and_then(|h| match decode_header(h) {
            Decoded::Standard(v) => Some(v),
            _ => None,
        })
        .and_then(|p| {
            p.pointer("/accepted/network")
                .or_else(|| p.get("network"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    match decode_header(value) {
        Decoded::Standard(v) => {
            let ok = v.get("success") == Some(&Value::Bool(true))
                && v.get("transaction")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty())
                && v.get("network").is_some_and(Value::is_string)
                && v.get("payer").is_some_and(Value::is_string);
            if !ok {
                out.push(
                    "X402-R20",
                    Severity::Must,
                    format!(
                        "{} must be {{success:true, transaction, network, payer}}",
                        want.to_ascii_uppercase()
                    ),
                    v.clone(),
                );
            }
            if let (Some(n), Some(a)) =
                (v.get("network").and_then(Value::as_str), &accepted_network)
                && n != a
            {
                out.push(
                    "X402-R20",
                    Severity::Must,
                    format!("the settlement network {n} is not the accepted network {a}"),
                    json!({"network": n, "accepted": a}),
                );
            }
        }
        _ => out.push(
            "X402-R20",
            Severity::Must,
            format!("{} is not standard base64 JSON", want.to_ascii_uppercase()),
            json!({"header": snippet(value)}),
        ),
    }
}

fn check_412(ex: &Exchange, out: &mut Findings) {
    let from_body = serde_json::from_str::<Value>(&ex.response.body)
        .ok()
        .and_then(|b| b.get("error").and_then(Value::as_str).map(str::to_owned));
    let from_header = ex
        .response
        .header("payment-required")
        .and_then(|h| match decode_header(h) {
            Decoded::Standard(v) | Decoded::UrlSafe(v) => {
                v.get("error").and_then(Value::as_str).map(str::to_owned)
            }
            Decoded::Invalid(_) => None,
        });
    let ok = [from_body, from_header]
        .iter()
        .flatten()
        .any(|e| e == "permit2_allowance_required");
    if !ok {
        out.push(
            "X402-R23",
            Severity::Interop,
            "HTTP 412 without error \"permit2_allowance_required\"".into(),
            json!({"body": snippet(&ex.response.body)}),
        );
    }
}

fn same(field: &str, a: &str, b: &str) -> bool {
    match field {
        "payTo" | "asset" if a.starts_with("0x") && b.starts_with("0x") => {
            a.eq_ignore_ascii_case(b)
        }
        "network" => normalise_network(a) == normalise_network(b),
        _ => a == b,
    }
}

fn drift(version: u8, doc: &Value, listing: &Listing, out: &mut Findings) {
    let amount_key = if version == 1 {
        "maxAmountRequired"
    } else {
        "amount"
    };
    let live: Vec<[String; 5]> = doc
        .get("accepts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|r| {
                    let g = |k: &str| {
                        r.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    [
                        g("payTo"),
                        g(amount_key),
                        g("asset"),
                        g("network"),
                        g("scheme"),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    const FIELDS: [(&str, &str, Severity); 5] = [
        ("payTo", "X402-D01", Severity::Must),
        ("amount", "X402-D02", Severity::Should),
        ("asset", "X402-D03", Severity::Should),
        ("network", "X402-D04", Severity::Should),
        ("scheme", "X402-D05", Severity::Should),
    ];
    for listed in &listing.accepts {
        let want = [
            listed.pay_to.as_str(),
            listed.amount.as_str(),
            listed.asset.as_str(),
            listed.network.as_str(),
            listed.scheme.as_str(),
        ];
        // The live requirement that agrees with the listed one on most fields.
        let best = live.iter().max_by_key(|l| {
            FIELDS
                .iter()
                .enumerate()
                .filter(|(k, (f, _, _))| same(f, &l[*k], want[*k]))
                .count()
        });
        let Some(best) = best else { return };
        for (k, (field, rule, sev)) in FIELDS.iter().enumerate() {
            if !same(field, &best[k], want[k]) {
                let high = if *rule == "X402-D01" {
                    " (high severity: payments would go elsewhere)"
                } else {
                    ""
                };
                out.push(
                    rule,
                    *sev,
                    format!(
                        "{field} is {:?} live but {:?} in the listing{high}",
                        best[k], want[k]
                    ),
                    json!({"field": field, "live": best[k], "listed": want[k]}),
                );
            }
        }
    }
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
