//! RPC failures as data, and the range planner for `eth_getLogs`.
//!
//! Providers refuse large `eth_getLogs` ranges with free-text messages, some of
//! which suggest a range that would work. [`classify`] turns such a message into
//! an [`RpcFailure`], and [`shrink`] turns a failed range into the next range to
//! try. Both are pure and table-tested.

/// What an RPC failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcFailure {
    /// The range (or its result) was too large. `suggested` is a range the
    /// provider says would work; `max_blocks` is a limit it stated.
    RangeTooLarge {
        suggested: Option<(u64, u64)>,
        max_blocks: Option<u64>,
    },
    /// 429 or an equivalent: wait, then retry the same request.
    RateLimited,
    /// The request or the provider timed out: retry, with a smaller range for logs.
    Timeout,
    /// Anything else that may pass (5xx, connection reset): retry with backoff.
    Transient,
}

/// Classify a JSON-RPC error (code and message) or an HTTP failure.
pub fn classify(http_status: Option<u16>, code: Option<i64>, message: &str) -> RpcFailure {
    let m = message.to_ascii_lowercase();
    if let Some(range) = range_too_large(&m) {
        return range;
    }
    if http_status == Some(429)
        || code == Some(429)
        || m.contains("rate limit")
        || m.contains("too many requests")
        || m.contains("exceeded its compute units")
        || m.contains("capacity exceeded")
    {
        return RpcFailure::RateLimited;
    }
    if http_status == Some(408)
        || http_status == Some(504)
        || m.contains("timeout")
        || m.contains("timed out")
    {
        return RpcFailure::Timeout;
    }
    RpcFailure::Transient
}

/// Phrases by which providers say a log query is too large.
const TOO_LARGE_PHRASES: &[&str] = &[
    "query returned more than",
    "log response size exceeded",
    "block range is too wide",
    "block range too large",
    "block range is too large",
    "range too large",
    "exceed maximum block range",
    "exceeds the range",
    "ranges over",
    "block range greater than",
    "response size should not greater than",
    "response size exceeded",
    "query exceeds max results",
    "limited to a",
    "logs matched by query exceeds limit",
    "max block range",
    "maximum block range",
    "is greater than the limit",
    "too many logs",
];

fn range_too_large(m: &str) -> Option<RpcFailure> {
    if !TOO_LARGE_PHRASES.iter().any(|p| m.contains(p)) {
        return None;
    }
    Some(RpcFailure::RangeTooLarge {
        suggested: suggested_range(m),
        max_blocks: stated_limit(m),
    })
}

/// `[0x1a, 0x2b]` (hex or decimal, comma-separated, in brackets) as a range.
fn suggested_range(m: &str) -> Option<(u64, u64)> {
    let open = m.rfind('[')?;
    let close = open + m[open..].find(']')?;
    let (a, b) = m[open + 1..close].split_once(',')?;
    let (a, b) = (parse_number(a.trim())?, parse_number(b.trim())?);
    (a <= b).then_some((a, b))
}

fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.replace(['_', ','], "").parse().ok(),
    }
}

/// A block limit stated in the message: `max: 3000`, `up to a 2k block range`,
/// `ranges over 10000 blocks`, `limited to a 10,000 range`, `maximum block range: 5000`.
fn stated_limit(m: &str) -> Option<u64> {
    const AFTER: &[&str] = &[
        "max: ",
        "max block range: ",
        "maximum block range: ",
        "exceed maximum block range: ",
        "up to a ",
        "ranges over ",
        "limited to a ",
        "block range greater than ",
        "max block range of ",
    ];
    for key in AFTER {
        if let Some(pos) = m.find(key) {
            let rest = &m[pos + key.len()..];
            let token: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ',' || *c == '_')
                .collect();
            let token = token.trim_end_matches(',');
            let (digits, multiplier) = match token.strip_suffix('k') {
                Some(d) => (d, 1_000),
                None => (token, 1),
            };
            if let Some(n) = parse_number(digits) {
                return n.checked_mul(multiplier).filter(|n| *n > 0);
            }
        }
    }
    None
}

/// A wait named in a rate-limit message: `try again in 250ms`, `try again in 2s`,
/// `retry after 3 seconds`. `None` when the message names none.
pub fn retry_after_in_message(message: &str) -> Option<std::time::Duration> {
    let m = message.to_ascii_lowercase();
    let rest = ["try again in ", "retry after ", "retry in "]
        .iter()
        .find_map(|key| m.find(key).map(|pos| &m[pos + key.len()..]))?
        .trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = rest[digits.len()..].trim_start();
    if unit.starts_with("ms") || unit.starts_with("millisecond") {
        Some(std::time::Duration::from_millis(n))
    } else if unit.starts_with('s') || unit.is_empty() || unit.starts_with(['.', ',', ')']) {
        Some(std::time::Duration::from_secs(n))
    } else {
        None
    }
}

/// The next range to ask for after `[from, to]` failed with `failure`.
///
/// Always a non-empty sub-range starting at `from`, strictly smaller than the
/// failed one unless that was a single block (a single block is retried as it is:
/// it cannot be split). Returns `None` when the failure is not about size.
pub fn shrink(from: u64, to: u64, failure: RpcFailure) -> Option<(u64, u64)> {
    debug_assert!(from <= to);
    let len = to.saturating_sub(from) + 1;
    let halve = || (from, from + (len / 2).max(1) - 1);
    match failure {
        RpcFailure::RangeTooLarge {
            suggested,
            max_blocks,
        } => {
            if let Some((a, b)) = suggested
                && a == from
                && b >= a
                && b < to
            {
                return Some((a, b));
            }
            if let Some(max) = max_blocks
                && max < len
            {
                return Some((from, from + max - 1));
            }
            Some(halve())
        }
        RpcFailure::Timeout => Some(halve()),
        RpcFailure::RateLimited | RpcFailure::Transient => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_named_in_messages() {
        use std::time::Duration;
        let cases: &[(&str, Option<Duration>)] = &[
            (
                "rate limited, try again in 250ms",
                Some(Duration::from_millis(250)),
            ),
            (
                "Too many requests, try again in 2s",
                Some(Duration::from_secs(2)),
            ),
            ("Retry after 3 seconds", Some(Duration::from_secs(3))),
            ("retry after 7", Some(Duration::from_secs(7))),
            ("retry in 5 minutes", None),
            ("rate limit exceeded", None),
            ("try again in a while", None),
        ];
        for (message, expected) in cases {
            assert_eq!(retry_after_in_message(message), *expected, "{message}");
        }
    }

    /// Real provider messages (paraphrase-free), and what they must mean.
    #[test]
    fn provider_messages_are_classified() {
        use RpcFailure::*;
        let cases: &[(Option<u16>, Option<i64>, &str, RpcFailure)] = &[
            (
                None,
                Some(-32602),
                "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range and no limit on the response size, or you can request any block range with a cap of 10K logs in the response. Based on your parameters, this block range should work: [0x1b4, 0x2a0]",
                RangeTooLarge {
                    suggested: Some((0x1b4, 0x2a0)),
                    max_blocks: Some(2000),
                },
            ),
            (
                None,
                Some(-32005),
                "query returned more than 10000 results. Try with this block range [0x10, 0x20].",
                RangeTooLarge {
                    suggested: Some((0x10, 0x20)),
                    max_blocks: None,
                },
            ),
            (
                None,
                Some(-32000),
                "eth_getLogs block range too large, range: 3001, max: 3000",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: Some(3000),
                },
            ),
            (
                None,
                Some(-32000),
                "exceed maximum block range: 5000",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: Some(5000),
                },
            ),
            (
                None,
                Some(-32600),
                "ranges over 10000 blocks are not supported on freetier",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: Some(10000),
                },
            ),
            (
                None,
                Some(-32000),
                "block range is too wide",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: None,
                },
            ),
            (
                None,
                Some(-32602),
                "eth_getLogs is limited to a 10,000 range",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: Some(10000),
                },
            ),
            (
                None,
                Some(-32000),
                "Query exceeds max results 20000, retry with the range 100-200",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: None,
                },
            ),
            (
                None,
                Some(-32000),
                "response size should not greater than 10000000 bytes",
                RangeTooLarge {
                    suggested: None,
                    max_blocks: None,
                },
            ),
            (Some(429), None, "Too Many Requests", RateLimited),
            (None, Some(-32005), "rate limit exceeded", RateLimited),
            (
                None,
                Some(429),
                "Your app has exceeded its compute units per second capacity",
                RateLimited,
            ),
            (Some(504), None, "Gateway Timeout", Timeout),
            (None, Some(-32000), "request timed out", Timeout),
            (Some(502), None, "Bad Gateway", Transient),
            (None, None, "connection reset by peer", Transient),
        ];
        for (status, code, message, expected) in cases {
            assert_eq!(classify(*status, *code, message), *expected, "{message}");
        }
    }

    #[test]
    fn ranges_shrink_as_the_provider_says_or_by_half() {
        use RpcFailure::*;
        let too_large = |suggested, max_blocks| RangeTooLarge {
            suggested,
            max_blocks,
        };
        type Case = ((u64, u64), RpcFailure, Option<(u64, u64)>);
        let cases: &[Case] = &[
            // the provider's suggestion, when it starts where we start
            (
                (100, 999),
                too_large(Some((100, 300)), None),
                Some((100, 300)),
            ),
            // a suggestion elsewhere is ignored: halve
            ((100, 999), too_large(Some((0, 50)), None), Some((100, 549))),
            // a stated limit
            (
                (100, 10_099),
                too_large(None, Some(2000)),
                Some((100, 2099)),
            ),
            // a stated limit larger than our range: halve
            ((100, 199), too_large(None, Some(5000)), Some((100, 149))),
            // nothing stated: halve
            ((0, 9), too_large(None, None), Some((0, 4))),
            ((0, 1), too_large(None, None), Some((0, 0))),
            // one block cannot shrink
            ((7, 7), too_large(None, None), Some((7, 7))),
            ((0, 9), Timeout, Some((0, 4))),
            ((0, 9), RateLimited, None),
            ((0, 9), Transient, None),
        ];
        for ((from, to), failure, expected) in cases {
            assert_eq!(
                shrink(*from, *to, *failure),
                *expected,
                "[{from}, {to}] {failure:?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn shrink_always_yields_a_nonempty_prefix(from in 0u64..1_000_000, len in 1u64..1_000_000,
            a in proptest::option::of(0u64..2_000_000), b in 0u64..2_000_000, max in proptest::option::of(1u64..100_000)) {
            let to = from + len - 1;
            let failure = RpcFailure::RangeTooLarge { suggested: a.map(|a| (a, b)), max_blocks: max };
            let (x, y) = shrink(from, to, failure).unwrap();
            proptest::prop_assert_eq!(x, from);
            proptest::prop_assert!(y >= x && y <= to);
            proptest::prop_assert!(len == 1 || y < to);
        }
    }
}
