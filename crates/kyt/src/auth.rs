//! Reviewers and their API keys. A key is `kyt_<key id>_<secret>`; the store
//! keeps only the key id, the reviewer, the scopes and the SHA-256 of the whole
//! key, which is compared in constant time.

use serde::Serialize;
use subtle::ConstantTimeEq;
use x402scope_store::{ApiKey, Store};

use crate::{KytError, sha256_hex};

/// What a key allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Scope {
    /// The queue, cases, alerts, audit export, verification.
    Read,
    /// Open cases and act on them (assign, comment, disposition, reopen).
    Review,
    /// Approve a true match disposed by another reviewer.
    Approve,
    /// Everything.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "kyt:read",
            Scope::Review => "kyt:review",
            Scope::Approve => "kyt:approve",
            Scope::Admin => "kyt:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "kyt:read" => Scope::Read,
            "kyt:review" => Scope::Review,
            "kyt:approve" => Scope::Approve,
            "kyt:admin" => Scope::Admin,
            _ => return None,
        })
    }
}

/// An authenticated reviewer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reviewer {
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Reviewer {
    /// Admin holds every scope; review and approve imply read.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| {
            *s == scope
                || *s == Scope::Admin
                || (scope == Scope::Read && matches!(s, Scope::Review | Scope::Approve))
        })
    }
}

/// Parse a scope list (comma- or space-separated).
pub fn parse_scopes(s: &str) -> Result<Vec<Scope>, KytError> {
    let mut out = Vec::new();
    for part in s.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        let scope = Scope::parse(part).ok_or_else(|| {
            KytError::Invalid(format!(
                "unknown scope {part:?}; scopes are kyt:read, kyt:review, kyt:approve, kyt:admin"
            ))
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        return Err(KytError::Invalid("a key needs at least one scope".into()));
    }
    out.sort();
    Ok(out)
}

/// Create a key for `reviewer`; returns the key, which is shown once and never stored.
pub async fn create_key(
    store: &Store,
    reviewer: &str,
    scopes: &[Scope],
    now: i64,
) -> Result<String, KytError> {
    let reviewer = reviewer.trim();
    if reviewer.is_empty() || reviewer.len() > 100 {
        return Err(KytError::Invalid(
            "a reviewer needs a name (1 to 100 characters)".into(),
        ));
    }
    if scopes.is_empty() {
        return Err(KytError::Invalid("a key needs at least one scope".into()));
    }
    let id: [u8; 8] = rand::random();
    let secret: [u8; 32] = rand::random();
    let key_id = hex::encode(id);
    let key = format!("kyt_{key_id}_{}", hex::encode(secret));
    store
        .kyt_put_key(ApiKey {
            key_id,
            reviewer: reviewer.to_owned(),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            key_hash: sha256_hex(key.as_bytes()),
            created_at: now,
        })
        .await?;
    Ok(key)
}

/// Why a presented key was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing or invalid API key")]
    Unauthenticated,
    #[error(transparent)]
    Kyt(#[from] KytError),
}

/// The reviewer a presented key belongs to.
pub async fn authenticate(store: &Store, presented: &str) -> Result<Reviewer, AuthError> {
    let presented = presented.trim();
    let key_id = presented
        .strip_prefix("kyt_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(id, _)| id)
        .filter(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(AuthError::Unauthenticated)?;
    let stored = store.kyt_key(key_id).await.map_err(KytError::from)?;
    let hash = sha256_hex(presented.as_bytes());
    // Compare even when the id is unknown, so both paths take the same time.
    let expected = stored
        .as_ref()
        .map_or_else(|| "0".repeat(64), |k| k.key_hash.clone());
    let equal: bool = hash.as_bytes().ct_eq(expected.as_bytes()).into();
    match stored {
        Some(k) if equal => Ok(Reviewer {
            name: k.reviewer,
            scopes: k.scopes.split(' ').filter_map(Scope::parse).collect(),
        }),
        _ => Err(AuthError::Unauthenticated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_imply() {
        assert!(parse_scopes("kyt:read, kyt:nope").is_err());
        assert!(parse_scopes("").is_err());
        let r = Reviewer {
            name: "a".into(),
            scopes: parse_scopes("kyt:review").unwrap_or_default(),
        };
        assert!(r.has(Scope::Read) && r.has(Scope::Review) && !r.has(Scope::Approve));
        let admin = Reviewer {
            name: "b".into(),
            scopes: vec![Scope::Admin],
        };
        assert!(admin.has(Scope::Approve));
    }
}
