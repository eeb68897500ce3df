//! `x402scope webhooks serve`: the webhook receiver and its processor on the
//! configured store.

use std::net::SocketAddr;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use x402scope_ingest::webhooks::{self, Sources, WebhookState};

use crate::config::Config;

/// Arguments of `webhooks serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (default: webhooks.listen). Port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub async fn serve(
    config: &Config,
    args: ServeArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sources = Sources::from_config(&config.webhooks).context("invalid [webhooks]")?;
    if sources.0.is_empty() {
        tracing::warn!("no [webhooks.sources.*] configured: every delivery will get 404");
    }
    let url = &config.store.url.0;
    let store = x402scope_store::open(url)
        .await
        .with_context(|| format!("cannot open the store at {url}"))?;
    let addr = args.listen.unwrap_or(config.webhooks.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let names: Vec<&str> = sources.0.keys().map(String::as_str).collect();
    tracing::info!(%local, sources = ?names, "receiving webhooks");
    // One line on stdout, for scripts that started us on port 0.
    println!("listening on http://{local}");
    webhooks::serve(listener, WebhookState::new(store, sources), shutdown)
        .await
        .context("the webhook receiver failed")?;
    Ok(())
}

/// The receiver's delivery counts as a `/metrics` family of `serve`.
pub fn delivery_metrics(state: WebhookState) -> x402scope_web::metrics::ExternalFamily {
    x402scope_web::metrics::ExternalFamily {
        name: "x402scope_webhook_deliveries_total".into(),
        kind: "counter",
        help: "Webhook deliveries answered since start, by source and outcome (accepted, duplicate, rejected_signature, too_large, bad_request, unknown_source, store_unavailable).".into(),
        labels: vec!["source".into(), "outcome".into()],
        read: std::sync::Arc::new(move || {
            state
                .delivery_counts()
                .into_iter()
                .map(|(source, outcome, n)| (vec![source, outcome.as_str().to_owned()], n))
                .collect()
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{FlagOverrides, load_from_text};

    const TEXT: &str = r#"
[webhooks]
listen = "0.0.0.0:9000"

[webhooks.sources.shop]
kind = "x402"
secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_b2xkIHNlY3JldA=="]

[webhooks.sources.coinbase]
kind = "cdp"
secrets = ["plain-cdp-secret"]
"#;

    #[test]
    fn webhooks_section_loads_validates_and_prints_redacted() {
        let config = load_from_text(
            Some(Path::new("x.toml")),
            TEXT,
            &[],
            &FlagOverrides::default(),
        )
        .expect("valid");
        assert_eq!(config.webhooks.listen.port(), 9000);
        let sources = super::Sources::from_config(&config.webhooks).expect("usable");
        assert_eq!(sources.0["shop"].secrets.len(), 2);
        let printed = config.to_redacted_toml().expect("prints");
        assert!(!printed.contains("whsec_"), "{printed}");
        assert!(!printed.contains("plain-cdp-secret"), "{printed}");

        let bad = TEXT.replace("whsec_b2xkIHNlY3JldA==", "not-a-whsec");
        let config = load_from_text(None, &bad, &[], &FlagOverrides::default()).expect("parses");
        let err = super::Sources::from_config(&config.webhooks).expect_err("x402 needs whsec_");
        assert!(
            err.to_string().contains("webhooks.sources.shop.secrets[1]"),
            "{err}"
        );

        let unknown = TEXT.replace("kind = \"cdp\"", "kind = \"stripe\"");
        assert!(load_from_text(None, &unknown, &[], &FlagOverrides::default()).is_err());
    }
}
