//! The one typed configuration, loaded once at start from a TOML file, then
//! `X402SCOPE_…` environment variables, then command-line flags (later layers
//! win), and validated before anything runs.
//!
//! Every error names the key and where its value came from: the file with line
//! and column, the environment variable, or the flag.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;
use x402scope_store::StoreUrl;

/// Environment variables with this prefix configure x402scope: `X402SCOPE_STORE__URL`
/// sets `store.url`; `__` separates nesting levels.
pub const ENV_PREFIX: &str = "X402SCOPE_";
/// Variables with these prefixes are not configuration keys.
const ENV_RESERVED: &[&str] = &["X402SCOPE_CONFIG", "X402SCOPE_TEST_"];
/// The file read when no `--config` is given, if it exists.
pub const DEFAULT_CONFIG_FILE: &str = "x402scope.toml";

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub store: StoreConfig,
    /// EVM chains to index, by name (`base`, `base-sepolia`, …). Empty means the
    /// default: Base mainnet through its public RPC.
    #[serde(default)]
    pub chains: BTreeMap<String, EvmChainConfig>,
    /// The 402 compliance probe (`x402scope probe`).
    #[serde(default)]
    pub probe: ProbeConfig,
    /// Signed settlement webhooks (`x402scope webhooks serve`).
    #[serde(default)]
    pub webhooks: x402scope_ingest::webhooks::WebhooksConfig,
    /// The Bazaar crawler and `/supported` refresh (`x402scope crawl`).
    #[serde(default)]
    pub crawl: x402scope_ingest::crawler::CrawlConfig,
    /// `x402scope serve`: the address, and which parts run.
    #[serde(default)]
    pub serve: ServeConfig,
    /// Correlation, attribution and the organic filter (`x402scope analyze`).
    #[serde(default)]
    pub analysis: x402scope_analysis::AnalysisConfig,
    /// The Solana indexer (`x402scope index solana`; a part of `serve` when set,
    /// and by default when no chain is configured at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solana: Option<SolanaConfig>,
}

/// `[probe]`: limits of the SSRF-safe fetcher and the scheduler's politeness.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Allow probing 127.0.0.0/8 and ::1. Off by default; for local testing only.
    #[serde(default)]
    pub allow_loopback: bool,
    #[serde(default = "default_probe_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// For one fetch, redirects and body included.
    #[serde(default = "default_probe_total_timeout")]
    pub total_timeout_secs: u64,
    /// Body cap, counted after decompression.
    #[serde(default = "default_probe_max_body")]
    pub max_body_bytes: usize,
    /// Scheduler: seconds between two probes of one resource (jittered ±20 %).
    #[serde(default = "default_probe_interval")]
    pub interval_secs: u64,
    /// Scheduler: requests per minute to one host.
    #[serde(default = "default_probe_per_host")]
    pub per_host_per_minute: u32,
    /// Scheduler: resources probed at once.
    #[serde(default = "default_probe_concurrency")]
    pub concurrency: usize,
    /// The opt-in paid probe (`x402scope probe URL --pay`). Absent: never pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<PaidProbeConfig>,
}

/// `[probe.paid]`: the key that pays and the hard caps, in atomic units of the
/// paid asset (per network and asset), enforced from the store's ledger.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PaidProbeConfig {
    /// 0x-prefixed secp256k1 private key. Printed redacted.
    pub private_key: SecretString,
    /// Cap over the last 24 hours, e.g. "10000" (0.01 USDC).
    pub max_per_day: String,
    /// Cap over all time.
    pub max_total: String,
}

/// A secret: read normally, always serialised as `<redacted>`.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct SecretString(pub String);

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            allow_loopback: false,
            connect_timeout_secs: default_probe_connect_timeout(),
            total_timeout_secs: default_probe_total_timeout(),
            max_body_bytes: default_probe_max_body(),
            interval_secs: default_probe_interval(),
            per_host_per_minute: default_probe_per_host(),
            concurrency: default_probe_concurrency(),
            paid: None,
        }
    }
}

/// `[serve]`: one process runs the indexers and the web server.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where the web server listens.
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// Run the web server (dashboard, API, /healthz, /metrics).
    #[serde(default = "default_true")]
    pub web: bool,
    /// Run an indexer for every configured chain.
    #[serde(default = "default_true")]
    pub indexers: bool,
    /// Parts to leave off by name, e.g. `["evm:base"]`.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Seconds page data is served from memory before it is refreshed (0: never cached).
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_secs: u64,
    /// Requests per second per client IP (0: no limit), and the burst allowed.
    #[serde(default = "default_rate")]
    pub rate_limit_per_second: u64,
    #[serde(default = "default_burst")]
    pub rate_limit_burst: u32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: default_listen(),
            web: true,
            indexers: true,
            disable: Vec::new(),
            cache_ttl_secs: default_cache_ttl(),
            rate_limit_per_second: default_rate(),
            rate_limit_burst: default_burst(),
        }
    }
}

fn default_probe_connect_timeout() -> u64 {
    5
}
fn default_probe_total_timeout() -> u64 {
    15
}
fn default_probe_max_body() -> usize {
    1024 * 1024
}
fn default_probe_interval() -> u64 {
    3600
}
fn default_probe_per_host() -> u32 {
    30
}
fn default_probe_concurrency() -> usize {
    16
}
fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8402))
}
fn default_true() -> bool {
    true
}
fn default_cache_ttl() -> u64 {
    5
}
fn default_rate() -> u64 {
    50
}
fn default_burst() -> u32 {
    200
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` (default) or `json`.
    #[serde(default)]
    pub format: LogFormat,
    /// A tracing filter directive, e.g. `info` or `x402scope=debug,warn`.
    #[serde(default = "default_log_level")]
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::default(),
            level: default_log_level(),
        }
    }
}

fn default_log_level() -> LogLevel {
    LogLevel("info".into())
}

#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

/// A validated tracing filter directive.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct LogLevel(pub String);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        tracing_subscriber::EnvFilter::try_new(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid log filter {s:?}: {e}")))?;
        Ok(LogLevel(s))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` (default `sqlite://./x402scope.db`) or
    /// `clickhouse://USER:PASSWORD@HOST:PORT/DATABASE`.
    #[serde(default = "default_store_url")]
    pub url: StoreLocation,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
        }
    }
}

fn default_store_url() -> StoreLocation {
    StoreLocation(StoreUrl::default_sqlite())
}

/// Where the store lives, parsed by the store itself. Printed with its password
/// redacted.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreLocation(pub StoreUrl);

impl<'de> Deserialize<'de> for StoreLocation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StoreUrl::parse(&s)
            .map(StoreLocation)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for StoreLocation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Redact a URL given as text; text that is not a URL is shown as it is, since
/// the user needs to see what is wrong with it.
fn redact_url_str(s: &str) -> String {
    match Url::parse(s) {
        Ok(url) => redact_url(&url),
        Err(_) => s.to_owned(),
    }
}

/// Redact what may carry a secret in an RPC or service URL: user info, the path
/// (providers put API keys there) and the query.
pub fn redact_url(url: &Url) -> String {
    let mut out = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        out.push_str("***@");
    }
    out.push_str(url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    if url.path() != "/" && !url.path().is_empty() {
        out.push_str("/***");
    }
    if url.query().is_some() {
        out.push_str("?***");
    }
    out
}

/// One EVM chain to index.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvmChainConfig {
    /// The EIP-155 chain id (required).
    pub chain_id: u64,
    /// JSON-RPC endpoints, tried in order (required, at least one; http or https).
    #[serde(
        deserialize_with = "deserialize_rpc_urls",
        serialize_with = "serialize_rpc_urls"
    )]
    pub rpc_urls: Vec<Url>,
    /// First block to index. Default: where x402 begins on chains x402scope knows
    /// (Base mainnet: [`BASE_MAINNET_X402_START_BLOCK`]), else block 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_block: Option<u64>,
    /// Blocks to stay behind the head.
    #[serde(default = "default_confirmations")]
    pub confirmations: u64,
    /// Largest `eth_getLogs` block range to ask for.
    #[serde(default = "default_max_range")]
    pub max_range: u64,
    /// Parallel range requests during backfill.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Tokens whose x402 settlements are indexed. Empty means the chain's USDC from
    /// the built-in asset registry.
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    /// RPC requests per second, across all of the chain's URLs.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: u32,
}

/// Base mainnet block 29,000,000 (2025-04-16 07:42:27 UTC; Base has 2 s blocks
/// from genesis at 1686789347): three weeks before x402's public launch on
/// 2025-05-06, so no x402 settlement is before it and the default run does not
/// scan the two years of Base history that precede x402.
pub const BASE_MAINNET_X402_START_BLOCK: u64 = 29_000_000;

impl EvmChainConfig {
    /// The first block to index: the configured one, or the built-in x402 start
    /// of the chain (block 0 for chains without one).
    pub fn effective_start_block(&self) -> u64 {
        self.start_block.unwrap_or(match self.chain_id {
            8453 => BASE_MAINNET_X402_START_BLOCK,
            _ => 0,
        })
    }
}

impl EvmChainConfig {
    /// Base mainnet through its public RPC: the default when no chain is configured.
    pub fn base_mainnet_public() -> Self {
        EvmChainConfig {
            chain_id: 8453,
            rpc_urls: vec![Url::parse("https://mainnet.base.org").expect("static URL is valid")],
            start_block: None,
            confirmations: default_confirmations(),
            max_range: default_max_range(),
            concurrency: default_concurrency(),
            assets: Vec::new(),
            rate_limit: default_rate_limit(),
        }
    }
}

fn default_confirmations() -> u64 {
    12
}
fn default_max_range() -> u64 {
    2_000
}
fn default_concurrency() -> usize {
    4
}
fn default_rate_limit() -> u32 {
    10
}

fn deserialize_rpc_urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Url>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    if raw.is_empty() {
        return Err(serde::de::Error::custom("needs at least one RPC URL"));
    }
    raw.iter()
        .map(|s| {
            let url = Url::parse(s).map_err(|e| {
                serde::de::Error::custom(format!("malformed URL {:?}: {e}", redact_url_str(s)))
            })?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(serde::de::Error::custom(format!(
                    "malformed URL {:?}: an RPC URL must be http:// or https:// with a host",
                    redact_url(&url)
                )));
            }
            Ok(url)
        })
        .collect()
}

fn serialize_rpc_urls<S: Serializer>(urls: &[Url], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(urls.iter().map(redact_url))
}

/// A token to watch on an EVM chain.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub symbol: String,
    pub address: EvmAddress,
    pub decimals: u8,
}

/// A 0x-prefixed 20-byte address; mixed case must be a valid EIP-55 checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvmAddress(pub alloy_primitives::Address);

impl EvmAddress {
    pub fn parse(s: &str) -> Result<Self, String> {
        let hex = s.strip_prefix("0x").ok_or_else(|| {
            format!("invalid address {s:?}: expected 0x followed by 40 hex digits")
        })?;
        if hex.len() != 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "invalid address {s:?}: expected 0x followed by 40 hex digits"
            ));
        }
        let mixed = hex.bytes().any(|b| b.is_ascii_lowercase())
            && hex.bytes().any(|b| b.is_ascii_uppercase());
        if mixed {
            alloy_primitives::Address::parse_checksummed(s, None)
                .map(EvmAddress)
                .map_err(|_| format!("invalid address {s:?}: EIP-55 checksum mismatch"))
        } else {
            s.parse()
                .map(EvmAddress)
                .map_err(|e| format!("invalid address {s:?}: {e}"))
        }
    }
}

impl<'de> Deserialize<'de> for EvmAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EvmAddress::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for EvmAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.to_checksum(None))
    }
}

/// Overrides from command-line flags, applied last.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    /// (`--flag-name`, dotted key, value)
    pub values: Vec<(&'static str, &'static str, toml::Value)>,
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File {
        path: PathBuf,
        line: usize,
        column: usize,
    },
    Env(String),
    Flag(&'static str),
    /// The key was not set anywhere (a required value).
    Unset,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{}:{line}:{column}", path.display()),
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Unset => f.write_str("not set in the file, the environment or a flag"),
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("config key `{key}` ({origin}): {message}")]
    Invalid {
        key: String,
        origin: Origin,
        message: String,
    },
}

/// Inputs to [`load`], gathered by the binary (the only place that reads the
/// process environment).
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// An explicit config file; `None` reads [`DEFAULT_CONFIG_FILE`] if present.
    pub file: Option<PathBuf>,
    /// Environment variables (name, value); only `X402SCOPE_…` ones are used.
    pub env: Vec<(String, String)>,
    pub flags: FlagOverrides,
}

/// The loaded configuration and the file it came from, if any.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
}

/// Load and validate the configuration from all sources.
pub fn load(sources: &Sources) -> Result<Loaded, ConfigError> {
    let (file, text) = match &sources.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            (Some(path.clone()), text)
        }
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG_FILE);
            match std::fs::read_to_string(&default) {
                Ok(text) => (Some(default), text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, String::new()),
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: default,
                        source,
                    });
                }
            }
        }
    };
    let config = load_from_text(file.as_deref(), &text, &sources.env, &sources.flags)?;
    Ok(Loaded { config, file })
}

/// Load from file text (pure; used by [`load`] and by tests).
pub fn load_from_text(
    file: Option<&Path>,
    text: &str,
    env: &[(String, String)],
    flags: &FlagOverrides,
) -> Result<Config, ConfigError> {
    let path = file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("<none>"));
    let doc = toml_edit::Document::parse(text.to_owned()).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.clone(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;
    let mut merged: toml::Table = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
        ConfigError::Syntax {
            path: path.clone(),
            line,
            column,
            message: e.message().to_owned(),
        }
    })?;

    // Remember which keys the environment and flags set, to name them in errors.
    let mut overrides: Vec<(Vec<String>, Origin)> = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_RESERVED.iter().any(|r| var.starts_with(r)) || rest.is_empty() {
            continue;
        }
        let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::Env {
                var: var.clone(),
                message: "empty key segment; use `__` between keys, e.g. X402SCOPE_STORE__URL"
                    .into(),
            });
        }
        set_path(&mut merged, &keys, env_value(value)).map_err(|message| ConfigError::Env {
            var: var.clone(),
            message,
        })?;
        overrides.push((keys, Origin::Env(var.clone())));
    }
    for (flag, key, value) in &flags.values {
        let keys: Vec<String> = key.split('.').map(str::to_owned).collect();
        set_path(&mut merged, &keys, value.clone()).map_err(|message| ConfigError::Invalid {
            key: (*key).to_owned(),
            origin: Origin::Flag(flag),
            message,
        })?;
        overrides.push((keys, Origin::Flag(flag)));
    }

    let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(merged))
        .map_err(|e| locate_error(&e, &doc, &path, text, &overrides))?;
    // A configuration that names no chain at all gets the public defaults:
    // Base mainnet and Solana mainnet.
    if config.chains.is_empty() {
        config
            .chains
            .insert("base".into(), EvmChainConfig::base_mainnet_public());
        if config.solana.is_none() {
            config.solana = Some(SolanaConfig::mainnet_public());
        }
    }
    Ok(config)
}

/// Values from the environment are TOML when they parse as a TOML value
/// (numbers, booleans, arrays), and plain strings otherwise.
fn env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_owned())),
        Err(_) => toml::Value::String(raw.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let Some((last, parents)) = keys.split_last() else {
        return Err("empty key".into());
    };
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a table, so it cannot have sub-keys"))?;
    }
    cur.insert(last.clone(), value);
    Ok(())
}

/// One step of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn locate_error(
    err: &serde_path_to_error::Error<toml::de::Error>,
    doc: &toml_edit::Document<String>,
    path: &Path,
    text: &str,
    overrides: &[(Vec<String>, Origin)],
) -> ConfigError {
    let mut steps: Vec<Step> = Vec::new();
    for seg in err.path().iter() {
        match seg {
            serde_path_to_error::Segment::Map { key } => steps.push(Step::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => steps.push(Step::Index(*index)),
            serde_path_to_error::Segment::Enum { .. } | serde_path_to_error::Segment::Unknown => {}
        }
    }
    let message = err.inner().message().to_owned();
    // An unknown key is reported at its parent; name the key itself.
    // (serde_path_to_error already puts it on the path; add it only if not.)
    let unknown_key = message.starts_with("unknown field `");
    if let Some(unknown) = backticked_after(&message, "unknown field `")
        && steps.last() != Some(&Step::Key(unknown.clone()))
    {
        steps.push(Step::Key(unknown));
    }
    let missing = backticked_after(&message, "missing field `");
    let key = dotted(&steps, missing.as_deref());

    let key_names: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Key(k) => Some(k.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    // An override that set this key (or a table above it) is where the value came
    // from; flags were pushed last, so search from the end.
    let set_by = overrides
        .iter()
        .rev()
        .find(|(keys, _)| key_names.starts_with(&names(keys)));
    // An override below this key created the table the error is about.
    let created_by = overrides
        .iter()
        .rev()
        .find(|(keys, _)| names(keys).starts_with(&key_names));
    let origin = if let Some((_, origin)) = set_by {
        origin.clone()
    } else if let Some(span) = span_of(doc, &steps, unknown_key) {
        let (line, column) = line_col(text, span.start);
        Origin::File {
            path: path.to_path_buf(),
            line,
            column,
        }
    } else if let Some((_, origin)) = created_by {
        origin.clone()
    } else {
        Origin::Unset
    };
    let message = match missing {
        Some(field) => format!("required value `{field}` is missing"),
        None => message,
    };
    ConfigError::Invalid {
        key,
        origin,
        message,
    }
}

fn backticked_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next().map(str::to_owned)
}

fn dotted(steps: &[Step], leaf: Option<&str>) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if let Some(leaf) = leaf {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(leaf);
    }
    if out.is_empty() { "<root>".into() } else { out }
}

/// The byte span in the file of the deepest item on `steps` that exists: for a
/// key, the key itself; for an array element, the element.
fn span_of(
    doc: &toml_edit::Document<String>,
    steps: &[Step],
    prefer_key: bool,
) -> Option<Range<usize>> {
    enum Node<'a> {
        Item(&'a toml_edit::Item),
        Value(&'a toml_edit::Value),
        Table(&'a toml_edit::Table),
    }
    let mut node = Node::Table(doc.as_table());
    let mut best: Option<Range<usize>> = None;
    for step in steps {
        let next = match (&node, step) {
            (Node::Table(t), Step::Key(k)) => t.get_key_value(k).map(|(key, item)| {
                best = key.span().or(best.clone());
                Node::Item(item)
            }),
            (Node::Item(toml_edit::Item::Table(t)), Step::Key(k)) => {
                t.get_key_value(k).map(|(key, item)| {
                    best = key.span().or(best.clone());
                    Node::Item(item)
                })
            }
            (
                Node::Item(toml_edit::Item::Value(toml_edit::Value::InlineTable(t))),
                Step::Key(k),
            )
            | (Node::Value(toml_edit::Value::InlineTable(t)), Step::Key(k)) => {
                t.get_key_value(k).map(|(key, item)| {
                    best = key.span().or(best.clone());
                    Node::Item(item)
                })
            }
            (Node::Item(toml_edit::Item::ArrayOfTables(a)), Step::Index(i)) => a.get(*i).map(|t| {
                best = t.span().or(best.clone());
                Node::Table(t)
            }),
            (Node::Item(toml_edit::Item::Value(toml_edit::Value::Array(a))), Step::Index(i))
            | (Node::Value(toml_edit::Value::Array(a)), Step::Index(i)) => a.get(*i).map(|v| {
                best = v.span().or(best.clone());
                Node::Value(v)
            }),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    // For a value error, point at the value rather than its key.
    if let (false, Node::Item(toml_edit::Item::Value(v))) = (prefer_key, node)
        && let Some(span) = v.span()
    {
        return Some(span);
    }
    best
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Config {
    /// The effective configuration as TOML, with secrets redacted.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

fn names(keys: &[String]) -> Vec<&str> {
    keys.iter().map(String::as_str).collect()
}

/// `[solana]`: the Solana indexer. It watches every Solana fee payer the
/// facilitator registry (and the store's signers) lists, plus `pay_to`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SolanaConfig {
    /// The JSON-RPC endpoint (http or https); printed redacted.
    #[serde(default = "default_solana_rpc", serialize_with = "serialize_rpc_url")]
    pub rpc_url: Url,
    /// The CAIP-2 network rows are written under. Default: from the node's genesis hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// More addresses to watch (base58): payTo wallets or their token accounts.
    /// A wallet is listed only by transactions that name it; to see payments
    /// to it, list its token account (ATA) as well.
    #[serde(default)]
    pub pay_to: Vec<String>,
    /// Watch only `pay_to`, not the registry's fee payers.
    #[serde(default)]
    pub only_pay_to: bool,
    /// RPC requests per second.
    #[serde(default = "default_solana_rate_limit")]
    pub rate_limit: u32,
    /// Signatures per `getSignaturesForAddress` page (1..=1000).
    #[serde(default = "default_solana_page_size")]
    pub page_size: usize,
    /// `getTransaction` calls in flight.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Pause between rounds when following, in seconds.
    #[serde(default = "default_solana_poll")]
    pub poll_interval_secs: u64,
}

/// The public Solana mainnet RPC (rate limited; use your own for real work).
pub const SOLANA_MAINNET_RPC: &str = "https://api.mainnet-beta.solana.com";

fn default_solana_rpc() -> Url {
    Url::parse(SOLANA_MAINNET_RPC).expect("static URL is valid")
}
fn serialize_rpc_url<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&redact_url(url))
}
fn default_solana_rate_limit() -> u32 {
    4
}
fn default_solana_page_size() -> usize {
    1000
}
fn default_solana_poll() -> u64 {
    10
}

/// The CAIP-2 id of Solana mainnet.
pub const SOLANA_MAINNET: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";

impl SolanaConfig {
    /// Solana mainnet through its public RPC, the default when no chain is configured.
    pub fn mainnet_public() -> Self {
        SolanaConfig {
            network: Some(SOLANA_MAINNET.to_owned()),
            ..SolanaConfig::default()
        }
    }
}

impl Default for SolanaConfig {
    fn default() -> Self {
        SolanaConfig {
            rpc_url: default_solana_rpc(),
            network: None,
            pay_to: Vec::new(),
            only_pay_to: false,
            rate_limit: default_solana_rate_limit(),
            page_size: default_solana_page_size(),
            concurrency: default_concurrency(),
            poll_interval_secs: default_solana_poll(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        load_from_text(
            Some(Path::new("x402scope.toml")),
            text,
            &env,
            &FlagOverrides::default(),
        )
    }

    fn invalid(text: &str, env: &[(&str, &str)]) -> (String, Origin, String) {
        match load(text, env) {
            Err(ConfigError::Invalid {
                key,
                origin,
                message,
            }) => (key, origin, message),
            other => panic!("expected an invalid-key error, got {other:?}"),
        }
    }

    fn at(line: usize, column: usize) -> Origin {
        Origin::File {
            path: PathBuf::from("x402scope.toml"),
            line,
            column,
        }
    }

    const GOOD: &str = r#"
[log]
format = "json"

[store]
url = "clickhouse://scope:s3cret@127.0.0.1:8123/x402"

[chains.base]
chain_id = 8453
rpc_urls = ["https://base.example/v2/API_KEY"]

[[chains.base.assets]]
symbol = "USDC"
address = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
decimals = 6
"#;

    #[test]
    fn empty_config_gets_defaults() {
        let c = load("", &[]).unwrap();
        assert_eq!(c.log.format, LogFormat::Pretty);
        assert_eq!(
            c.store.url.0,
            StoreUrl::Sqlite(PathBuf::from("./x402scope.db"))
        );
        assert_eq!(c.chains["base"].chain_id, 8453);
    }

    #[test]
    fn a_full_config_loads_and_redacts_secrets() {
        let c = load(GOOD, &[]).unwrap();
        assert_eq!(c.log.format, LogFormat::Json);
        let base = &c.chains["base"];
        assert_eq!(base.assets[0].decimals, 6);
        assert_eq!(base.confirmations, 12);
        let printed = c.to_redacted_toml().unwrap();
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(!printed.contains("API_KEY"), "{printed}");
        assert!(
            printed.contains("clickhouse://scope:***@127.0.0.1:8123/x402"),
            "{printed}"
        );
        assert!(printed.contains("https://base.example/***"), "{printed}");
    }

    #[test]
    fn env_and_flags_override_the_file_in_order() {
        let env = vec![("X402SCOPE_LOG__FORMAT".to_owned(), "pretty".to_owned())];
        let flags = FlagOverrides {
            values: vec![(
                "--store",
                "store.url",
                toml::Value::String("sqlite:///tmp/x.db".into()),
            )],
        };
        let c = load_from_text(None, GOOD, &env, &flags).unwrap();
        assert_eq!(c.log.format, LogFormat::Pretty);
        assert_eq!(c.store.url.0, StoreUrl::Sqlite(PathBuf::from("/tmp/x.db")));
        let c = load(
            "",
            &[
                ("X402SCOPE_CHAINS__DEV__CHAIN_ID", "31337"),
                (
                    "X402SCOPE_CHAINS__DEV__RPC_URLS",
                    "[\"http://127.0.0.1:8545\"]",
                ),
            ],
        )
        .unwrap();
        assert_eq!(c.chains["dev"].chain_id, 31337);
    }

    /// The four error kinds the config must name precisely: each row is the file,
    /// the key the error must name, where it must point, and a phrase of the message.
    #[test]
    fn bad_configs_name_the_key_and_the_file_position() {
        let cases: &[(&str, &str, Origin, &str)] = &[
            // unknown key, top level
            (
                "[store]\nurl = \"sqlite://a.db\"\nurll = 1\n",
                "store.urll",
                at(3, 1),
                "unknown field",
            ),
            // unknown key, nested in an array of tables
            (
                "[chains.base]\nchain_id = 1\nrpc_urls = [\"http://a\"]\n[[chains.base.assets]]\nsymbol = \"U\"\naddress = \"0x833589fcd6edb6e08f4c7c32d4f71b54bda02913\"\ndecimals = 6\ncolour = \"red\"\n",
                "chains.base.assets[0].colour",
                at(8, 1),
                "unknown field",
            ),
            // malformed URL in an array
            (
                "[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://ok\", \"not a url\"]\n",
                "chains.base.rpc_urls",
                at(3, 12),
                "malformed URL",
            ),
            // malformed store URL
            (
                "[store]\nurl = \"clickhouse://\"\n",
                "store.url",
                at(2, 7),
                "malformed store URL",
            ),
            // unsupported scheme
            (
                "[store]\nurl = \"postgres://x\"\n",
                "store.url",
                at(2, 7),
                "unsupported store URL",
            ),
            // invalid address: too short
            (
                "[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://a\"]\n[[chains.base.assets]]\nsymbol = \"U\"\naddress = \"0x1234\"\ndecimals = 6\n",
                "chains.base.assets[0].address",
                at(6, 11),
                "invalid address",
            ),
            // invalid address: bad checksum
            (
                "[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://a\"]\n[[chains.base.assets]]\nsymbol = \"U\"\naddress = \"0x833589FCD6eDb6E08f4c7C32D4f71b54bdA02913\"\ndecimals = 6\n",
                "chains.base.assets[0].address",
                at(6, 11),
                "checksum",
            ),
            // missing required value: points at the table that lacks it
            (
                "[log]\nlevel = \"info\"\n\n[chains.base]\nchain_id = 8453\n",
                "chains.base.rpc_urls",
                at(4, 9),
                "required value `rpc_urls` is missing",
            ),
            // wrong type
            (
                "[chains.base]\nchain_id = \"eight\"\nrpc_urls = [\"http://a\"]\n",
                "chains.base.chain_id",
                at(2, 12),
                "invalid type",
            ),
            // bad enum value
            (
                "[log]\nformat = \"xml\"\n",
                "log.format",
                at(2, 10),
                "unknown variant",
            ),
            // bad log filter
            (
                "[log]\nlevel = \"info,,=[\"\n",
                "log.level",
                at(2, 9),
                "invalid log filter",
            ),
        ];
        for (text, key, origin, phrase) in cases {
            let (k, o, m) = invalid(text, &[]);
            assert_eq!(&k, key, "key for {text:?}");
            assert_eq!(&o, origin, "origin for {text:?}");
            assert!(
                m.contains(phrase),
                "message {m:?} for {text:?} lacks {phrase:?}"
            );
        }
    }

    #[test]
    fn errors_from_env_name_the_variable() {
        let (key, origin, message) = invalid("", &[("X402SCOPE_STORE__URL", "ftp://x")]);
        assert_eq!(key, "store.url");
        assert_eq!(origin, Origin::Env("X402SCOPE_STORE__URL".into()));
        assert!(message.contains("unsupported store URL"));
        let (key, origin, _) = invalid("", &[("X402SCOPE_STORE__PATH", "x")]);
        assert_eq!(key, "store.path");
        assert_eq!(origin, Origin::Env("X402SCOPE_STORE__PATH".into()));
        // A chain set only from the environment, missing its RPC URLs.
        let (key, origin, _) = invalid("", &[("X402SCOPE_CHAINS__DEV__CHAIN_ID", "1")]);
        assert_eq!(key, "chains.dev.rpc_urls");
        assert_eq!(
            origin,
            Origin::Env("X402SCOPE_CHAINS__DEV__CHAIN_ID".into())
        );
        // Reserved variables are not keys.
        load(
            "",
            &[
                ("X402SCOPE_CONFIG", "/x"),
                ("X402SCOPE_TEST_CLICKHOUSE_URL", "http://x"),
            ],
        )
        .unwrap();
    }

    #[test]
    fn a_syntax_error_gives_its_line_and_column() {
        match load("[store]\nurl = \"unterminated\n", &[]) {
            Err(ConfigError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 20)),
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn error_messages_read_well() {
        let err = load("[store]\nurll = 1\n", &[]).unwrap_err().to_string();
        assert!(
            err.starts_with("config key `store.urll` (x402scope.toml:2:1): unknown field `urll`"),
            "{err}"
        );
    }

    #[test]
    fn base_starts_in_the_x402_era_unless_configured_and_the_rate_limit_is_read() {
        let c = load(GOOD, &[]).unwrap();
        assert_eq!(
            c.chains["base"].effective_start_block(),
            BASE_MAINNET_X402_START_BLOCK
        );
        assert_eq!(c.chains["base"].rate_limit, 10);
        let c = load("", &[]).unwrap();
        assert_eq!(
            c.chains["base"].effective_start_block(),
            BASE_MAINNET_X402_START_BLOCK
        );
        let c = load(
            "[chains.base]\nchain_id = 8453\nrpc_urls = [\"http://a\"]\nstart_block = 5\nrate_limit = 250\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.chains["base"].effective_start_block(), 5);
        assert_eq!(c.chains["base"].rate_limit, 250);
        let c = load(
            "[chains.dev]\nchain_id = 31337\nrpc_urls = [\"http://a\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.chains["dev"].effective_start_block(), 0);
    }
}
