//! Webhook signatures, verified in constant time.
//!
//! - **Standard Webhooks** (`webhook-id`, `webhook-timestamp`,
//!   `webhook-signature`, or the same with the `svix-` prefix): HMAC-SHA256 over
//!   `{id}.{timestamp}.{body}` with the base64 key of a `whsec_` secret; the
//!   signature header holds one or more space-separated `v1,<base64>` values.
//! - **Hook0** (Coinbase CDP, `X-Hook0-Signature: t=…,h=…,v1=<hex>`):
//!   HMAC-SHA256 over `{t}.{h}.{values of the headers named in h, joined by
//!   '.'}.{body}` with the secret's bytes.
//!
//! Several secrets may be valid at once (rotation): a delivery is accepted when
//! one of its signatures matches one of the secrets. Timestamps further than
//! [`TOLERANCE_SECS`] from the verifier's clock are refused.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a delivery's timestamp may be from the verifier's clock, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a delivery's signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} is not valid: {1}")]
    BadHeader(&'static str, String),
    #[error("timestamp {timestamp} is more than {TOLERANCE_SECS} s from now ({now})")]
    Expired { timestamp: i64, now: i64 },
    #[error("no signature matches")]
    NoMatch,
    #[error("no secret is configured for this source")]
    NoSecret,
}

/// Why a secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("a Standard Webhooks secret starts with `whsec_`")]
    Prefix,
    #[error("the secret after `whsec_` is not base64: {0}")]
    Base64(String),
    #[error("the secret is empty")]
    Empty,
}

/// An HMAC key. Its `Debug` form does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl Secret {
    /// A Standard Webhooks secret: `whsec_` then the base64 key.
    pub fn whsec(s: &str) -> Result<Self, SecretError> {
        let rest = s.trim().strip_prefix("whsec_").ok_or(SecretError::Prefix)?;
        let key = B64
            .decode(rest)
            .map_err(|e| SecretError::Base64(e.to_string()))?;
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret { key })
    }

    /// A secret used as it is (Hook0 / CDP subscription secrets).
    pub fn raw(s: &str) -> Result<Self, SecretError> {
        if s.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret {
            key: s.as_bytes().to_vec(),
        })
    }

    /// The text form `whsec_<base64>` (Standard Webhooks).
    pub fn to_whsec(&self) -> String {
        format!("whsec_{}", B64.encode(&self.key))
    }

    fn mac(&self) -> HmacSha256 {
        #[allow(clippy::expect_used)]
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length")
    }
}

fn within_tolerance(timestamp: i64, now: i64) -> Result<(), SignatureError> {
    if (now - timestamp).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Expired { timestamp, now });
    }
    Ok(())
}

/// The Standard Webhooks signature (`v1,<base64>`) of a delivery.
pub fn sign_standard(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Verify a Standard Webhooks delivery: `signatures` is the signature header's
/// value, `timestamp` the timestamp header's value, `now` the verifier's clock.
pub fn verify_standard(
    secrets: &[Secret],
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadHeader("webhook-timestamp", timestamp.to_owned()))?;
    within_tolerance(ts, now)?;
    let candidates: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    // Check every pair, so timing does not depend on which one matches.
    let mut matched = false;
    for secret in secrets {
        let mut mac = secret.mac();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.trim().as_bytes());
        mac.update(b".");
        mac.update(body);
        for candidate in &candidates {
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// The parts of an `X-Hook0-Signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook0Signature {
    pub timestamp: i64,
    /// Names of the signed headers, in order.
    pub headers: Vec<String>,
    /// Hex signatures (`v1=`).
    pub v1: Vec<String>,
}

/// Parse `t=…,h=…,v1=…` (other fields are ignored).
pub fn parse_hook0(header: &str) -> Result<Hook0Signature, SignatureError> {
    let bad = |m: &str| SignatureError::BadHeader("x-hook0-signature", m.to_owned());
    let mut timestamp = None;
    let mut headers = Vec::new();
    let mut v1 = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k {
            "t" => timestamp = Some(v.parse::<i64>().map_err(|_| bad("t is not a number"))?),
            "h" => headers = v.split_ascii_whitespace().map(str::to_owned).collect(),
            "v1" => v1.push(v.to_owned()),
            _ => {}
        }
    }
    Ok(Hook0Signature {
        timestamp: timestamp.ok_or_else(|| bad("no t"))?,
        headers,
        v1,
    })
}

fn hook0_mac(
    secret: &Secret,
    sig: &Hook0Signature,
    header_value: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<HmacSha256, SignatureError> {
    let mut values = Vec::with_capacity(sig.headers.len());
    for name in &sig.headers {
        values.push(header_value(name).ok_or_else(|| {
            SignatureError::BadHeader("x-hook0-signature", format!("signed header {name} absent"))
        })?);
    }
    let mut mac = secret.mac();
    mac.update(sig.timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(sig.headers.join(" ").as_bytes());
    mac.update(b".");
    mac.update(values.join(".").as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `X-Hook0-Signature` value for a delivery signed over `headers`.
pub fn sign_hook0(
    secret: &Secret,
    timestamp: i64,
    headers: &[(&str, &str)],
    body: &[u8],
) -> String {
    let sig = Hook0Signature {
        timestamp,
        headers: headers.iter().map(|(k, _)| (*k).to_owned()).collect(),
        v1: Vec::new(),
    };
    let lookup = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| (*v).to_owned())
    };
    let mac = match hook0_mac(secret, &sig, &lookup, body) {
        Ok(m) => m,
        Err(_) => secret.mac(),
    };
    format!(
        "t={timestamp},h={},v1={}",
        sig.headers.join(" "),
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Verify a Hook0 (CDP) delivery; `header_value` looks request headers up by name.
pub fn verify_hook0(
    secrets: &[Secret],
    signature_header: &str,
    header_value: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let sig = parse_hook0(signature_header)?;
    within_tolerance(sig.timestamp, now)?;
    let candidates: Vec<Vec<u8>> = sig.v1.iter().filter_map(|h| hex::decode(h).ok()).collect();
    if candidates.is_empty() {
        return Err(SignatureError::NoMatch);
    }
    let mut matched = false;
    for secret in secrets {
        let mac = hook0_mac(secret, &sig, header_value, body)?;
        for candidate in &candidates {
            matched |= mac.clone().verify_slice(candidate).is_ok();
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn secret() -> Secret {
        Secret::whsec(SECRET).expect("valid secret")
    }

    #[test]
    fn secret_parsing() {
        assert_eq!(Secret::whsec("MfKQ9r8G"), Err(SecretError::Prefix));
        assert!(matches!(
            Secret::whsec("whsec_not base64!"),
            Err(SecretError::Base64(_))
        ));
        assert_eq!(Secret::whsec("whsec_"), Err(SecretError::Empty));
        assert_eq!(secret().to_whsec(), SECRET);
        assert_eq!(format!("{:?}", secret()), "Secret(***)");
        assert_eq!(Secret::raw(""), Err(SecretError::Empty));
    }

    #[test]
    fn standard_table() {
        let s = secret();
        let other = Secret::whsec("whsec_b3RoZXIgc2VjcmV0IGtleQ==").expect("valid");
        let body = br#"{"a":1}"#;
        let good = sign_standard(&s, "msg_1", 1000, body);
        let by_other = sign_standard(&other, "msg_1", 1000, body);
        type Case<'a> = (
            &'a str,
            Vec<Secret>,
            &'a str,
            &'a str,
            String,
            &'a [u8],
            i64,
            bool,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "valid",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1000,
                true,
            ),
            (
                "rotation: second secret signs",
                vec![other.clone(), s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1000,
                true,
            ),
            (
                "rotation: old secret removed",
                vec![other.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1000,
                false,
            ),
            (
                "two values, second right",
                vec![s.clone()],
                "msg_1",
                "1000",
                format!("{by_other} {good}"),
                body,
                1000,
                true,
            ),
            (
                "v2 prefix ignored",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.replace("v1,", "v2,"),
                body,
                1000,
                false,
            ),
            (
                "other id",
                vec![s.clone()],
                "msg_2",
                "1000",
                good.clone(),
                body,
                1000,
                false,
            ),
            (
                "other body",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                br#"{"a":2}"#,
                1000,
                false,
            ),
            (
                "other timestamp",
                vec![s.clone()],
                "msg_1",
                "1001",
                good.clone(),
                body,
                1000,
                false,
            ),
            (
                "300 s late is fine",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1300,
                true,
            ),
            (
                "300 s early is fine",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                700,
                true,
            ),
            (
                "301 s late",
                vec![s.clone()],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1301,
                false,
            ),
            (
                "not base64",
                vec![s.clone()],
                "msg_1",
                "1000",
                "v1,@@@".into(),
                body,
                1000,
                false,
            ),
            (
                "empty header",
                vec![s.clone()],
                "msg_1",
                "1000",
                String::new(),
                body,
                1000,
                false,
            ),
            (
                "no secrets",
                vec![],
                "msg_1",
                "1000",
                good.clone(),
                body,
                1000,
                false,
            ),
            (
                "timestamp not a number",
                vec![s.clone()],
                "msg_1",
                "10a0",
                good.clone(),
                body,
                1000,
                false,
            ),
        ];
        for (name, secrets, id, ts, sig, body, now, valid) in cases {
            let got = verify_standard(&secrets, id, ts, &sig, body, now);
            assert_eq!(got.is_ok(), valid, "{name}: {got:?}");
        }
    }

    #[test]
    fn standard_errors_say_why() {
        let s = secret();
        let sig = sign_standard(&s, "m", 1000, b"x");
        assert_eq!(
            verify_standard(std::slice::from_ref(&s), "m", "1000", &sig, b"x", 2000),
            Err(SignatureError::Expired {
                timestamp: 1000,
                now: 2000
            })
        );
        assert_eq!(
            verify_standard(std::slice::from_ref(&s), "m", "1000", &sig, b"y", 1000),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify_standard(&[], "m", "1000", &sig, b"x", 1000),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn hook0_table() {
        let s = Secret::raw("cdp-subscription-secret").expect("non-empty");
        let old = Secret::raw("previous-secret").expect("non-empty");
        let headers = [("content-type", "application/json"), ("x-hook0-id", "abc")];
        let body = br#"{"log_index":3}"#;
        let header = sign_hook0(&s, 5000, &headers, body);
        let lookup = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| (*v).to_owned())
        };
        let none = |_: &str| None;
        assert!(verify_hook0(std::slice::from_ref(&s), &header, &lookup, body, 5000).is_ok());
        assert!(verify_hook0(&[old.clone(), s.clone()], &header, &lookup, body, 5100).is_ok());
        assert_eq!(
            verify_hook0(std::slice::from_ref(&old), &header, &lookup, body, 5000),
            Err(SignatureError::NoMatch)
        );
        assert!(verify_hook0(std::slice::from_ref(&s), &header, &lookup, b"{}", 5000).is_err());
        assert!(verify_hook0(std::slice::from_ref(&s), &header, &none, body, 5000).is_err());
        assert!(matches!(
            verify_hook0(std::slice::from_ref(&s), &header, &lookup, body, 5301),
            Err(SignatureError::Expired { .. })
        ));
        assert!(verify_hook0(std::slice::from_ref(&s), "v1=00", &lookup, body, 5000).is_err());
        let parsed = parse_hook0(&header).expect("parses");
        assert_eq!(parsed.timestamp, 5000);
        assert_eq!(parsed.headers, vec!["content-type", "x-hook0-id"]);
    }
}
