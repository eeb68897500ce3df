//! The event bodies that webhook sources send, normalised into claims.
//!
//! - [`SourceKind::X402`]: our own `x402.settlement.succeeded` /
//!   `x402.settlement.failed` events (schema: `docs/schemas/settlement-event.schema.json`).
//! - [`SourceKind::Cdp`]: Coinbase CDP `onchain.activity.detected` deliveries of
//!   ERC-20 `Transfer` logs; one claim per (network, tx hash, log index).
//!
//! Parsing is lenient about what it does not need (unknown fields are kept in
//! the stored body, not rejected) and strict about what a claim needs.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use x402scope_core::Amount;
use x402scope_store::Claim;

/// The event types of our format.
pub const SETTLEMENT_SUCCEEDED: &str = "x402.settlement.succeeded";
pub const SETTLEMENT_FAILED: &str = "x402.settlement.failed";
/// The CDP event type.
pub const CDP_ONCHAIN_ACTIVITY: &str = "onchain.activity.detected";

/// What a source sends and how it signs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Our settlement events, signed with Standard Webhooks.
    X402,
    /// Coinbase CDP onchain-activity events, signed with `X-Hook0-Signature`
    /// (Standard Webhooks headers are accepted too).
    Cdp,
}

/// Why a body is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    Json(String),
    #[error("the body is not a JSON object")]
    NotObject,
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("missing or invalid field `{0}`")]
    Field(&'static str),
    #[error("`{field}` is not a decimal amount: {value:?}")]
    Amount { field: &'static str, value: String },
    #[error("the event type says {kind} but settleResponse.success is {success}")]
    Inconsistent { kind: String, success: bool },
    #[error("not an ERC-20 Transfer event ({0:?})")]
    NotTransfer(String),
}

/// The `data` of our settlement event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettlementData {
    resource: Value,
    facilitator: String,
    accepted: Requirements,
    settle_response: SettleResponse,
    #[serde(default)]
    payment_identifier: Option<String>,
    /// EVM: the EIP-3009 authorization the buyer signed (its nonce is the reference).
    #[serde(default)]
    authorization: Option<AuthorizationRef>,
    /// SVM: the memo the settlement transaction carried.
    #[serde(default)]
    memo: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct AuthorizationRef {
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Requirements {
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    asset: Option<String>,
    #[serde(default)]
    pay_to: Option<String>,
    #[serde(default)]
    amount: Option<Value>,
    #[serde(default)]
    max_amount_required: Option<Value>,
    #[serde(default)]
    extra: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SettleResponse {
    success: bool,
    #[serde(default)]
    transaction: Option<String>,
    #[serde(default)]
    network: Option<String>,
    #[serde(default)]
    payer: Option<String>,
    #[serde(default)]
    amount: Option<Value>,
}

/// The fields of a parsed event that the receiver needs before storing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The claims the event makes (one for our events and CDP transfers).
    pub claims: Vec<Claim>,
    /// An id derived from the body, for sources that send no id header.
    pub natural_id: String,
}

/// Parse a body of `kind` from `source` received at `received_at`; `webhook_id`
/// names a claim that has no better key.
pub fn parse(
    kind: SourceKind,
    source: &str,
    webhook_id: &str,
    received_at: i64,
    body: &[u8],
) -> Result<Parsed, EventError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| EventError::Json(e.to_string()))?;
    if !value.is_object() {
        return Err(EventError::NotObject);
    }
    match kind {
        SourceKind::X402 => parse_settlement(source, webhook_id, received_at, &value),
        SourceKind::Cdp => parse_cdp(source, received_at, &value),
    }
}

fn parse_settlement(
    source: &str,
    webhook_id: &str,
    received_at: i64,
    value: &Value,
) -> Result<Parsed, EventError> {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(EventError::Field("type"))?;
    let expect_success = match kind {
        SETTLEMENT_SUCCEEDED => true,
        SETTLEMENT_FAILED => false,
        other => return Err(EventError::UnknownType(other.to_owned())),
    };
    let claimed_at = match value.get("timestamp") {
        None | Some(Value::Null) => received_at,
        Some(v) => as_i64(v).ok_or(EventError::Field("timestamp"))?,
    };
    let data: SettlementData = value
        .get("data")
        .cloned()
        .ok_or(EventError::Field("data"))
        .and_then(|d| serde_json::from_value(d).map_err(|_| EventError::Field("data")))?;
    let settle = &data.settle_response;
    if settle.success != expect_success {
        return Err(EventError::Inconsistent {
            kind: kind.to_owned(),
            success: settle.success,
        });
    }
    let network = settle
        .network
        .as_deref()
        .or(data.accepted.network.as_deref())
        .filter(|n| !n.is_empty())
        .map(normalise_network)
        .ok_or(EventError::Field("data.settleResponse.network"))?;
    let tx_id = normalise_address(settle.transaction.as_deref().unwrap_or(""));
    if expect_success && tx_id.is_empty() {
        return Err(EventError::Field("data.settleResponse.transaction"));
    }
    let amount = match settle.amount.as_ref().filter(|v| !is_empty(v)) {
        Some(v) => amount(v, "data.settleResponse.amount")?,
        None => match (&data.accepted.amount, &data.accepted.max_amount_required) {
            (Some(v), _) => amount(v, "data.accepted.amount")?,
            (None, Some(v)) => amount(v, "data.accepted.maxAmountRequired")?,
            (None, None) => return Err(EventError::Field("data.accepted.amount")),
        },
    };
    let resource_url = match &data.resource {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("url")
            .and_then(Value::as_str)
            .ok_or(EventError::Field("data.resource.url"))?
            .to_owned(),
        _ => return Err(EventError::Field("data.resource")),
    };
    let payment_identifier = data
        .payment_identifier
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(str::to_owned);
    let claim_id = match (&payment_identifier, tx_id.is_empty()) {
        (Some(pid), _) => format!("pid:{pid}"),
        (None, false) => format!("tx:{network}:{tx_id}"),
        (None, true) => format!("wh:{webhook_id}"),
    };
    let reference = reference(&data)?;
    let claim = Claim {
        source: source.to_owned(),
        claim_id: claim_id.clone(),
        network,
        tx_id,
        payer: normalise_address(settle.payer.as_deref().unwrap_or("")),
        pay_to: normalise_address(data.accepted.pay_to.as_deref().unwrap_or("")),
        asset: normalise_address(data.accepted.asset.as_deref().unwrap_or("")),
        amount,
        resource_url,
        facilitator: data.facilitator,
        success: settle.success,
        claimed_at,
        reference,
    };
    Ok(Parsed {
        claims: vec![claim],
        natural_id: claim_id,
    })
}

fn parse_cdp(source: &str, received_at: i64, value: &Value) -> Result<Parsed, EventError> {
    // The event may come bare or wrapped as {eventType|type, data}.
    let kind = value
        .get("eventType")
        .or_else(|| value.get("type"))
        .and_then(Value::as_str);
    if let Some(kind) = kind
        && kind != CDP_ONCHAIN_ACTIVITY
    {
        return Err(EventError::UnknownType(kind.to_owned()));
    }
    let event = match value.get("data") {
        Some(d) if d.is_object() => d,
        _ => value,
    };
    let get = |snake: &'static str, camel: &'static str| event.get(snake).or(event.get(camel));
    let event_name = get("event_name", "eventName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if event_name != "Transfer" {
        return Err(EventError::NotTransfer(event_name.to_owned()));
    }
    let network = get("network", "network")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(normalise_network)
        .ok_or(EventError::Field("network"))?;
    let tx = get("transaction_hash", "transactionHash")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(normalise_address)
        .ok_or(EventError::Field("transaction_hash"))?;
    let log_index = get("log_index", "logIndex")
        .and_then(as_i64)
        .filter(|i| *i >= 0)
        .ok_or(EventError::Field("log_index"))?;
    let params = get("parameters", "parameters").ok_or(EventError::Field("parameters"))?;
    let param = |name: &'static str| {
        params
            .get(name)
            .and_then(Value::as_str)
            .map(normalise_address)
            .ok_or(EventError::Field(name))
    };
    let from = param("from")?;
    let to = param("to")?;
    let value_field = params
        .get("value")
        .ok_or(EventError::Field("parameters.value"))?;
    let amount = amount(value_field, "parameters.value")?;
    let asset = get("contract_address", "contractAddress")
        .and_then(Value::as_str)
        .map(normalise_address)
        .ok_or(EventError::Field("contract_address"))?;
    let claimed_at = get("timestamp", "blockTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
        .unwrap_or(received_at);
    let tx_from = get("transaction_from", "transactionFrom")
        .and_then(Value::as_str)
        .map(normalise_address)
        .unwrap_or_default();
    let claim_id = format!("log:{network}:{tx}:{log_index}");
    let claim = Claim {
        source: source.to_owned(),
        claim_id: claim_id.clone(),
        network,
        tx_id: tx,
        payer: from,
        pay_to: to,
        asset,
        amount,
        resource_url: String::new(),
        // CDP does not know the facilitator; the sender is its signer.
        facilitator: tx_from,
        success: true,
        claimed_at,
        reference: String::new(),
    };
    Ok(Parsed {
        claims: vec![claim],
        natural_id: claim_id,
    })
}

/// The longest memo the SVM exact scheme allows, in bytes.
const MAX_MEMO_BYTES: usize = 256;

/// The claim's strong reference: the EVM authorization nonce (32 bytes of 0x
/// hex, lowercased), else the SVM memo (`data.memo`, else the requirements'
/// `extra.memo`). Empty when the event carries neither.
fn reference(data: &SettlementData) -> Result<String, EventError> {
    if let Some(nonce) = data
        .authorization
        .as_ref()
        .and_then(|a| a.nonce.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        let hex = nonce
            .strip_prefix("0x")
            .or_else(|| nonce.strip_prefix("0X"))
            .ok_or(EventError::Field("data.authorization.nonce"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EventError::Field("data.authorization.nonce"));
        }
        return Ok(nonce.to_ascii_lowercase());
    }
    let extra_memo = data
        .accepted
        .extra
        .as_ref()
        .and_then(|e| e.get("memo"))
        .and_then(Value::as_str);
    let (memo, field) = match data.memo.as_deref() {
        Some(m) => (m, "data.memo"),
        None => (extra_memo.unwrap_or(""), "data.accepted.extra.memo"),
    };
    if memo.len() > MAX_MEMO_BYTES {
        return Err(EventError::Field(field));
    }
    Ok(memo.to_owned())
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Null) || v.as_str() == Some("")
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn amount(v: &Value, field: &'static str) -> Result<Amount, EventError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    Amount::parse_decimal(text.trim()).map_err(|_| EventError::Amount { field, value: text })
}

/// EVM hex (addresses, hashes) lowercased; anything else (Solana base58) kept.
pub fn normalise_address(s: &str) -> String {
    let s = s.trim();
    if s.starts_with("0x") || s.starts_with("0X") {
        s.to_ascii_lowercase()
    } else {
        s.to_owned()
    }
}

/// CAIP-2 for the v1 and CDP network names we know; CAIP-2 ids pass through.
pub fn normalise_network(name: &str) -> String {
    let n = name.trim();
    let caip = match n {
        "ethereum" | "ethereum-mainnet" => "eip155:1",
        "sepolia" | "ethereum-sepolia" => "eip155:11155111",
        "base" | "base-mainnet" => "eip155:8453",
        "base-sepolia" => "eip155:84532",
        "avalanche" => "eip155:43114",
        "avalanche-fuji" => "eip155:43113",
        "polygon" | "polygon-mainnet" => "eip155:137",
        "polygon-amoy" => "eip155:80002",
        "arbitrum" | "arbitrum-mainnet" => "eip155:42161",
        "arbitrum-sepolia" => "eip155:421614",
        "sei" => "eip155:1329",
        "sei-testnet" => "eip155:1328",
        "iotex" => "eip155:4689",
        "peaq" => "eip155:3338",
        "solana" | "solana-mainnet" => "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
        "solana-devnet" => "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1",
        "solana-testnet" => "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z",
        other => return other.to_owned(),
    };
    caip.to_owned()
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            let v = h * 3600 + m * 60;
            if rest.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + min * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settlement(kind: &str, success: bool, pid: Option<&str>) -> Vec<u8> {
        let mut data = json!({
            "resource": "http://seller.example/weather",
            "facilitator": "http://facilitator.example",
            "accepted": {
                "scheme": "exact", "network": "eip155:84532",
                "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                "amount": "1000", "payTo": "0xAbC0000000000000000000000000000000000001",
                "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"}
            },
            "settleResponse": {
                "success": success,
                "transaction": if success { "0xDEADbeef00000000000000000000000000000000000000000000000000000001" } else { "" },
                "network": "eip155:84532",
                "payer": "0x1111111111111111111111111111111111111111"
            }
        });
        if let Some(p) = pid {
            data["paymentIdentifier"] = json!(p);
        }
        serde_json::to_vec(&json!({"type": kind, "timestamp": 1_700_000_000, "data": data}))
            .expect("serialises")
    }

    #[test]
    fn settlement_succeeded() {
        let p = parse(
            SourceKind::X402,
            "shop",
            "msg_1",
            5,
            &settlement(SETTLEMENT_SUCCEEDED, true, None),
        )
        .expect("valid");
        let c = &p.claims[0];
        assert_eq!(
            c.claim_id,
            "tx:eip155:84532:0xdeadbeef00000000000000000000000000000000000000000000000000000001"
        );
        assert_eq!(c.pay_to, "0xabc0000000000000000000000000000000000001");
        assert_eq!(c.asset, "0x036cbd53842c5426634e7929541ec2318f3dcf7e");
        assert_eq!(c.amount, Amount::from_u64(1000));
        assert_eq!(c.resource_url, "http://seller.example/weather");
        assert_eq!(c.claimed_at, 1_700_000_000);
        assert!(c.success);
    }

    #[test]
    fn settlement_cases() {
        let ok = |b: &[u8]| parse(SourceKind::X402, "s", "m", 0, b);
        let failed = ok(&settlement(SETTLEMENT_FAILED, false, None)).expect("failed is valid");
        assert_eq!(failed.claims[0].claim_id, "wh:m");
        assert!(!failed.claims[0].success);
        let pid = ok(&settlement(
            SETTLEMENT_SUCCEEDED,
            true,
            Some("pay_0123456789abcdef"),
        ))
        .expect("valid");
        assert_eq!(pid.claims[0].claim_id, "pid:pay_0123456789abcdef");
        assert!(matches!(
            ok(&settlement(SETTLEMENT_SUCCEEDED, false, None)),
            Err(EventError::Inconsistent { .. })
        ));
        assert!(matches!(
            ok(&settlement("x402.other", true, None)),
            Err(EventError::UnknownType(_))
        ));
        assert!(matches!(ok(b"not json"), Err(EventError::Json(_))));
        assert_eq!(ok(b"[1]"), Err(EventError::NotObject));
        assert_eq!(
            ok(br#"{"type":"x402.settlement.succeeded"}"#),
            Err(EventError::Field("data"))
        );
        let mut v: Value =
            serde_json::from_slice(&settlement(SETTLEMENT_SUCCEEDED, true, None)).expect("json");
        v["data"]["accepted"]["amount"] = json!("-5");
        assert!(matches!(
            ok(&serde_json::to_vec(&v).expect("json")),
            Err(EventError::Amount { .. })
        ));
        // v1 requirements: maxAmountRequired and a v1 network name.
        let mut v: Value =
            serde_json::from_slice(&settlement(SETTLEMENT_SUCCEEDED, true, None)).expect("json");
        v["data"]["accepted"] = json!({"scheme": "exact", "network": "base-sepolia", "maxAmountRequired": "7", "payTo": "0x2", "asset": "0x3"});
        v["data"]["settleResponse"]["network"] = json!("base-sepolia");
        let c = ok(&serde_json::to_vec(&v).expect("json")).expect("v1 valid");
        assert_eq!(c.claims[0].network, "eip155:84532");
        assert_eq!(c.claims[0].amount, Amount::from_u64(7));
        // upto: the settled amount wins.
        v["data"]["settleResponse"]["amount"] = json!("3");
        let c = ok(&serde_json::to_vec(&v).expect("json")).expect("valid");
        assert_eq!(c.claims[0].amount, Amount::from_u64(3));
    }

    #[test]
    fn cdp_transfer() {
        let body = json!({
            "block_number": 46218191,
            "contract_address": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "event_name": "Transfer",
            "log_index": 29,
            "network": "base-mainnet",
            "parameters": {"from": "0xF33a96b5932D9E9B9A0eDA447AbD8C9d48d2e0c8", "to": "0x61040E143A77F165Ba44543AF4A079F2C809D14b", "value": "474891"},
            "timestamp": "2026-05-19T21:22:10Z",
            "transaction_from": "0x3E16D476D8Df15e3E776EAa5A46f37EC44C830cD",
            "transaction_hash": "0xA58e4471bcce875b1ea49cc0864a620d3a484b9b7c1b0b4fd18ce83f5b30e5e0"
        });
        let p = parse(
            SourceKind::Cdp,
            "cdp",
            "x",
            0,
            &serde_json::to_vec(&body).expect("json"),
        )
        .expect("valid");
        let c = &p.claims[0];
        assert_eq!(
            c.claim_id,
            "log:eip155:8453:0xa58e4471bcce875b1ea49cc0864a620d3a484b9b7c1b0b4fd18ce83f5b30e5e0:29"
        );
        assert_eq!(c.amount, Amount::from_u64(474_891));
        assert_eq!(c.claimed_at, 1_779_225_730);
        assert_eq!(c.facilitator, "0x3e16d476d8df15e3e776eaa5a46f37ec44c830cd");
        let wrapped = json!({"eventType": "onchain.activity.detected", "data": body});
        let w = parse(
            SourceKind::Cdp,
            "cdp",
            "x",
            0,
            &serde_json::to_vec(&wrapped).expect("json"),
        )
        .expect("valid");
        assert_eq!(w.claims, p.claims);
        let mut swap = body.clone();
        swap["event_name"] = json!("Swap");
        assert!(matches!(
            parse(
                SourceKind::Cdp,
                "cdp",
                "x",
                0,
                &serde_json::to_vec(&swap).expect("json")
            ),
            Err(EventError::NotTransfer(_))
        ));
        let other = json!({"eventType": "wallet.activity.detected", "data": body});
        assert!(matches!(
            parse(
                SourceKind::Cdp,
                "cdp",
                "x",
                0,
                &serde_json::to_vec(&other).expect("json")
            ),
            Err(EventError::UnknownType(_))
        ));
    }

    /// The claim's reference, from each place an event may carry it.
    #[test]
    fn settlement_reference() {
        let nonce = format!("0x{}", "Ab".repeat(32));
        let long = "m".repeat(MAX_MEMO_BYTES + 1);
        let edge = "m".repeat(MAX_MEMO_BYTES);
        let cases: Vec<(&str, Value, Result<String, EventError>)> = vec![
            ("none", json!({}), Ok(String::new())),
            (
                "evm nonce, lowercased",
                json!({"authorization": {"nonce": nonce, "validAfter": "0"}}),
                Ok(nonce.to_ascii_lowercase()),
            ),
            (
                "svm memo",
                json!({"memo": "order-17"}),
                Ok("order-17".to_owned()),
            ),
            (
                "memo from the requirements' extra",
                json!({"accepted": {"extra": {"memo": "from-extra"}}}),
                Ok("from-extra".to_owned()),
            ),
            (
                "data.memo wins over extra",
                json!({"memo": "a", "accepted": {"extra": {"memo": "b"}}}),
                Ok("a".to_owned()),
            ),
            (
                "a memo of exactly 256 bytes",
                json!({"memo": edge}),
                Ok(edge.clone()),
            ),
            (
                "a memo over 256 bytes",
                json!({"memo": long}),
                Err(EventError::Field("data.memo")),
            ),
            (
                "extra memo over 256 bytes",
                json!({"accepted": {"extra": {"memo": long}}}),
                Err(EventError::Field("data.accepted.extra.memo")),
            ),
            (
                "a non-string extra memo is ignored",
                json!({"accepted": {"extra": {"memo": 7}}}),
                Ok(String::new()),
            ),
            (
                "nonce without 0x",
                json!({"authorization": {"nonce": "ab".repeat(32)}}),
                Err(EventError::Field("data.authorization.nonce")),
            ),
            (
                "short nonce",
                json!({"authorization": {"nonce": "0xabcd"}}),
                Err(EventError::Field("data.authorization.nonce")),
            ),
            (
                "non-hex nonce",
                json!({"authorization": {"nonce": format!("0x{}", "zz".repeat(32))}}),
                Err(EventError::Field("data.authorization.nonce")),
            ),
            (
                "memo not a string",
                json!({"memo": 5}),
                Err(EventError::Field("data")),
            ),
        ];
        for (name, patch, want) in cases {
            let mut body: Value =
                serde_json::from_slice(&settlement(SETTLEMENT_SUCCEEDED, true, None))
                    .expect("json");
            let data = body["data"].as_object_mut().expect("object");
            for (k, v) in patch.as_object().expect("object") {
                if k == "accepted" {
                    for (ak, av) in v.as_object().expect("object") {
                        data["accepted"][ak] = av.clone();
                    }
                } else {
                    data.insert(k.clone(), v.clone());
                }
            }
            let got = parse(
                SourceKind::X402,
                "s",
                "m",
                0,
                &serde_json::to_vec(&body).expect("json"),
            )
            .map(|p| p.claims[0].reference.clone());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2026-05-19T21:22:10Z"), Some(1_779_225_730));
        assert_eq!(
            parse_rfc3339("2026-05-19T23:22:10.123+02:00"),
            Some(1_779_225_730)
        );
        assert_eq!(parse_rfc3339("2026-13-19T21:22:10Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
