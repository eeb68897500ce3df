//! Input validation for every page and endpoint. Each failure is a
//! [`WebError::BadRequest`] whose message names the parameter and says what is
//! wrong. The patterns here are also those the OpenAPI document declares.

use x402scope_core::{Amount, Network};
use x402scope_store::TxCursor;

use crate::error::WebError;

/// An EVM address (any case) or a base58 Solana address.
pub const ADDRESS_PATTERN: &str = "^(0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44})$";
/// An EVM transaction hash or a base58 Solana signature.
pub const TX_PATTERN: &str = "^(0x[0-9a-fA-F]{64}|[1-9A-HJ-NP-Za-km-z]{64,88})$";
/// A CAIP-2 network id.
pub const CAIP2_PATTERN: &str = "^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$";
/// A facilitator id.
pub const FACILITATOR_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";
/// An amount in atomic units (fits 256 bits).
pub const AMOUNT_PATTERN: &str = "^[0-9]{1,77}$";
/// An http(s) resource URL.
pub const RESOURCE_PATTERN: &str = "^https?://[^\\s]{1,2040}$";
/// A transaction list cursor (as returned in `next`).
pub const CURSOR_PATTERN: &str = "^[0-9]{1,12}\\.[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}\\.(0x[0-9a-f]{64}|[1-9A-HJ-NP-Za-km-z]{64,88})\\.[0-9]{1,9}\\.[0-9]{1,9}$";

/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 500;
/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u32 = 50;
/// Times are Unix seconds between 1970 and 2100.
pub const MAX_TIME: i64 = 4_102_444_800;

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn is_base58(s: &str) -> bool {
    s.bytes().all(|b| BASE58.contains(&b))
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Show a rejected value, shortened, in a message.
fn shown(s: &str) -> String {
    let short: String = s.chars().take(80).collect();
    if short.len() < s.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// Why `s` is neither `0x` and `hex_digits` hex digits nor `min..=max`
/// base58 characters: the first thing that is wrong, for a message.
fn why_not(s: &str, hex_digits: usize, what: &str, min: usize, max: usize) -> String {
    if let Some(hex) = s.strip_prefix("0x") {
        if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            return format!("after 0x it has {c:?}, which is not a hex digit");
        }
        return format!(
            "after 0x it has {} hex digits, expected {hex_digits}",
            hex.len()
        );
    }
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii() || !BASE58.contains(&(*c as u8)))
    {
        return format!(
            "it does not start with 0x, and {c:?} is not a base58 character (base58 has no 0, O, I or l)"
        );
    }
    format!(
        "it does not start with 0x, and as a base58 {what} it has {} characters, expected {min} to {max}",
        s.chars().count()
    )
}

/// An address: EVM addresses are lowercased (the store's form); Solana
/// addresses are kept as they are.
pub fn address(param: &str, s: &str) -> Result<String, WebError> {
    if let Some(hex) = s.strip_prefix("0x") {
        if hex.len() == 40 && is_hex(hex) {
            return Ok(s.to_ascii_lowercase());
        }
    } else if (32..=44).contains(&s.len()) && is_base58(s) {
        return Ok(s.to_owned());
    }
    Err(WebError::bad(format!(
        "`{param}`: {} is not an address (expected 0x and 40 hex digits, or a base58 Solana address of 32 to 44 characters: {})",
        shown(s),
        why_not(s, 40, "Solana address", 32, 44)
    )))
}

/// A transaction id: an EVM hash (lowercased) or a Solana signature.
pub fn tx_id(param: &str, s: &str) -> Result<String, WebError> {
    if let Some(hex) = s.strip_prefix("0x") {
        if hex.len() == 64 && is_hex(hex) {
            return Ok(s.to_ascii_lowercase());
        }
    } else if (64..=88).contains(&s.len()) && is_base58(s) {
        return Ok(s.to_owned());
    }
    Err(WebError::bad(format!(
        "`{param}`: {} is not a transaction id (expected 0x and 64 hex digits, or a base58 Solana signature of 64 to 88 characters: {})",
        shown(s),
        why_not(s, 64, "Solana signature", 64, 88)
    )))
}

/// A CAIP-2 network id.
pub fn network(param: &str, s: &str) -> Result<String, WebError> {
    Network::parse_caip2(s).map(|n| n.to_string()).map_err(|_| {
        let why = match s.split_once(':') {
            None => "there is no `:`".to_owned(),
            Some((ns, _))
                if !(3..=8).contains(&ns.len())
                    || !ns
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                format!("the namespace {ns:?} is not 3 to 8 of a-z, 0-9 and -")
            }
            Some((_, r)) => {
                format!("the reference {r:?} is not 1 to 32 of A-Z, a-z, 0-9, - and _")
            }
        };
        WebError::bad(format!(
            "`{param}`: {} is not a CAIP-2 network id (`namespace:reference`, e.g. `eip155:8453` or `solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp`: {why})",
            shown(s)
        ))
    })
}

/// A facilitator id.
pub fn facilitator(param: &str, s: &str) -> Result<String, WebError> {
    if (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    {
        Ok(s.to_owned())
    } else {
        Err(WebError::bad(format!(
            "`{param}`: {} is not a facilitator id (1 to 64 letters, digits, `_`, `.` or `-`)",
            shown(s)
        )))
    }
}

/// An amount in atomic units.
pub fn amount(param: &str, s: &str) -> Result<Amount, WebError> {
    Amount::parse_decimal(s).map_err(|e| WebError::bad(format!("`{param}`: {e}")))
}

/// Whitespace as `\s` means in the OpenAPI document's (ECMA-262) patterns, so
/// that the validator and [`RESOURCE_PATTERN`] agree (Rust's
/// `char::is_whitespace` also counts U+0085, which `\s` does not).
fn is_json_schema_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

/// A resource URL.
pub fn resource(param: &str, s: &str) -> Result<String, WebError> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r)
            if !r.is_empty()
                && s.chars().count() <= 2048
                && !r.chars().any(is_json_schema_space) =>
        {
            Ok(s.to_owned())
        }
        _ => Err(WebError::bad(format!(
            "`{param}`: {} is not a resource URL (http:// or https://, no spaces, at most 2048 characters)",
            shown(s)
        ))),
    }
}

/// A page size: default [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`].
pub fn limit(v: Option<u32>) -> Result<usize, WebError> {
    match v {
        None => Ok(DEFAULT_LIMIT as usize),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n as usize),
        Some(n) => Err(WebError::bad(format!(
            "`limit`: {n} is out of range (1 to {MAX_LIMIT})"
        ))),
    }
}

/// A time bound in Unix seconds.
pub fn time(param: &str, v: Option<i64>) -> Result<Option<i64>, WebError> {
    match v {
        None => Ok(None),
        Some(t) if (0..=MAX_TIME).contains(&t) => Ok(Some(t)),
        Some(t) => Err(WebError::bad(format!(
            "`{param}`: {t} is out of range (Unix seconds from 0 to {MAX_TIME})"
        ))),
    }
}

/// Both bounds of a time range (`from` at or after `to` selects nothing).
pub fn time_range(
    from: Option<i64>,
    to: Option<i64>,
) -> Result<(Option<i64>, Option<i64>), WebError> {
    Ok((time("from", from)?, time("to", to)?))
}

/// A cursor from a previous page's `next`.
pub fn cursor(s: &str) -> Result<TxCursor, WebError> {
    let bad = || {
        WebError::bad(format!(
            "`cursor`: {} is not a cursor from a previous page's `next`",
            shown(s)
        ))
    };
    let c = TxCursor::decode(s).ok_or_else(bad)?;
    if c.block_time < 0 {
        return Err(bad());
    }
    network("cursor", &c.chain).map_err(|_| bad())?;
    tx_id("cursor", &c.tx_id).map_err(|_| bad())?;
    Ok(c)
}

/// The time range of the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
    Month,
    All,
}

impl Range {
    pub const ALL: [Range; 4] = [Range::Day, Range::Week, Range::Month, Range::All];

    pub fn parse(s: Option<&str>) -> Result<Self, WebError> {
        match s {
            None | Some("30d") => Ok(Range::Month),
            Some("24h") => Ok(Range::Day),
            Some("7d") => Ok(Range::Week),
            Some("all") => Ok(Range::All),
            Some(other) => Err(WebError::bad(format!(
                "`range`: {} is not a range (24h, 7d, 30d or all)",
                shown(other)
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
            Range::All => "all",
        }
    }

    /// Its span in seconds (None: all time).
    pub fn span(self) -> Option<i64> {
        match self {
            Range::Day => Some(86_400),
            Range::Week => Some(7 * 86_400),
            Range::Month => Some(30 * 86_400),
            Range::All => None,
        }
    }

    /// The chart's bucket size.
    pub fn bucket(self) -> u32 {
        match self {
            Range::Day => 3_600,
            Range::Week => 6 * 3_600,
            Range::Month | Range::All => 86_400,
        }
    }
}

/// A list's output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub fn parse(s: Option<&str>) -> Result<Self, WebError> {
        match s {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(other) => Err(WebError::bad(format!(
                "`format`: {} is not a format (json or csv)",
                shown(other)
            ))),
        }
    }
}

/// A search query.
pub fn query(s: Option<&str>) -> Result<String, WebError> {
    let q = s.unwrap_or("").trim();
    if q.is_empty() {
        return Err(WebError::bad(
            "`q`: the search text is empty (an address, a tx hash or signature, a resource URL or a facilitator)",
        ));
    }
    if q.chars().count() > 256 {
        return Err(WebError::bad(
            "`q`: the search text is longer than 256 characters",
        ));
    }
    Ok(q.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let evm = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913";
        assert_eq!(
            address("a", evm).ok().as_deref(),
            Some(evm.to_ascii_lowercase().as_str())
        );
        let sol = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM";
        assert_eq!(address("a", sol).ok().as_deref(), Some(sol));
        for bad in [
            "",
            "0x1234",
            "0xZZ3589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "O0O0",
            "not an address",
        ] {
            let e = address("payer", bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.starts_with("`payer`: "), "{e}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = TxCursor {
            block_time: 1_700_000_000,
            chain: "eip155:8453".into(),
            tx_id: format!("0x{}", "ab".repeat(32)),
            idx_outer: 3,
            idx_inner: 0,
        };
        assert_eq!(cursor(&c.encode()).ok(), Some(c));
        for bad in [
            "",
            "x",
            "1.eip155:8453.0x12.0.0",
            "1.nocolon.0x12.0.0",
            "-5.eip155:1.0xab.0.0",
        ] {
            assert!(cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(limit(None).ok(), Some(50));
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(501)).is_err());
        assert!(time_range(Some(10), Some(10)).is_ok());
        assert!(time_range(Some(-1), None).is_err());
        assert!(time_range(Some(1), Some(2)).is_ok());
        assert!(amount("min_amount", &"9".repeat(78)).is_err());
        assert!(resource("resource", "ftp://x").is_err());
        assert!(resource("resource", "https://a.example/x").is_ok());
        // U+0085 is no `\s` in the documented pattern, so it is accepted;
        // U+00A0 and U+3000 are.
        assert!(resource("resource", "http://a\u{85}b").is_ok());
        assert!(resource("resource", "http://a\u{a0}b").is_err());
        assert!(resource("resource", "http://a\u{3000}b").is_err());
    }
}
