//! Where the store lives: `sqlite://PATH` or `clickhouse://USER:PASSWORD@HOST:PORT/DB`.

use std::fmt;
use std::path::PathBuf;

/// A parsed store location.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(PathBuf),
    ClickHouse {
        /// `http://HOST:PORT` (or https when asked for with `?secure=true`).
        endpoint: String,
        database: String,
        user: String,
        password: Option<String>,
        /// LZ4 on the wire (default); `?compression=none` turns it off.
        compress: bool,
    },
}

/// Why a text is not a store URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error(
        "unsupported store URL {0:?}: use sqlite://PATH or clickhouse://USER:PASSWORD@HOST:PORT/DATABASE"
    )]
    Scheme(String),
    #[error("malformed store URL {url:?}: {reason}")]
    Malformed { url: String, reason: String },
}

impl StoreUrl {
    /// The default: `sqlite://./x402scope.db`.
    pub fn default_sqlite() -> Self {
        StoreUrl::Sqlite(PathBuf::from("./x402scope.db"))
    }

    pub fn parse(s: &str) -> Result<Self, StoreUrlError> {
        if let Some(path) = s.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(StoreUrlError::Malformed {
                    url: s.into(),
                    reason: "no file path (e.g. sqlite://./x402scope.db)".into(),
                });
            }
            return Ok(StoreUrl::Sqlite(PathBuf::from(path)));
        }
        if !s.starts_with("clickhouse://") {
            return Err(StoreUrlError::Scheme(redact(s)));
        }
        let url = url::Url::parse(s).map_err(|e| StoreUrlError::Malformed {
            url: redact(s),
            reason: e.to_string(),
        })?;
        let host =
            url.host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| StoreUrlError::Malformed {
                    url: redact(s),
                    reason: "no host".into(),
                })?;
        let secure = url.query_pairs().any(|(k, v)| k == "secure" && v == "true");
        let compress = !url
            .query_pairs()
            .any(|(k, v)| k == "compression" && v == "none");
        let port = url.port().unwrap_or(if secure { 8443 } else { 8123 });
        let database = url.path().trim_start_matches('/').to_owned();
        let database = if database.is_empty() {
            "default".to_owned()
        } else {
            database
        };
        if !database
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreUrlError::Malformed {
                url: redact(s),
                reason: format!("database name {database:?} must be letters, digits and _"),
            });
        }
        let user = if url.username().is_empty() {
            "default".into()
        } else {
            decode(url.username())
        };
        Ok(StoreUrl::ClickHouse {
            endpoint: format!("{}://{host}:{port}", if secure { "https" } else { "http" }),
            database,
            user,
            password: url.password().map(decode),
            compress,
        })
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn redact(s: &str) -> String {
    match url::Url::parse(s) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => s.to_owned(),
    }
}

impl fmt::Display for StoreUrl {
    /// The URL with its password redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StoreUrl::ClickHouse {
                endpoint,
                database,
                user,
                password,
                ..
            } => {
                let host = endpoint.split("://").nth(1).unwrap_or(endpoint);
                let secret = if password.is_some() { ":***" } else { "" };
                write!(f, "clickhouse://{user}{secret}@{host}/{database}")
            }
        }
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_redact() {
        assert_eq!(
            StoreUrl::parse("sqlite://./x.db").unwrap(),
            StoreUrl::Sqlite("./x.db".into())
        );
        let ch = StoreUrl::parse("clickhouse://scope:p%40ss@db.local:9123/x402").unwrap();
        assert_eq!(
            ch,
            StoreUrl::ClickHouse {
                endpoint: "http://db.local:9123".into(),
                database: "x402".into(),
                user: "scope".into(),
                password: Some("p@ss".into()),
                compress: true,
            }
        );
        assert_eq!(ch.to_string(), "clickhouse://scope:***@db.local:9123/x402");
        assert_eq!(
            format!("{ch:?}"),
            "clickhouse://scope:***@db.local:9123/x402"
        );
        let plain = StoreUrl::parse("clickhouse://localhost").unwrap();
        assert_eq!(
            plain.to_string(),
            "clickhouse://default@localhost:8123/default"
        );
        for bad in [
            "postgres://x",
            "sqlite://",
            "clickhouse://",
            "clickhouse://h/bad-name",
            "",
        ] {
            assert!(StoreUrl::parse(bad).is_err(), "{bad}");
        }
        let err = StoreUrl::parse("mysql://u:secret@h")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
