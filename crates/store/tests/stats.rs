//! The monitoring counts (`/metrics` reads them at scrape time): probe runs by
//! outcome, findings by severity and the webhook inbox by source and status,
//! on SQLite and on a real ClickHouse server.

#![allow(clippy::unwrap_used)]

use x402scope_store::*;

struct Fixture {
    store: Store,
    _keep: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = StoreUrl::Sqlite(dir.path().join("x402scope.db"));
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(dir),
    }
}

async fn clickhouse(test: &str) -> Fixture {
    let db = x402scope_testkit::clickhouse::fresh_database(test).unwrap();
    let url = StoreUrl::parse(&db.store_url()).unwrap();
    migrate(&url).await.unwrap();
    Fixture {
        store: open(&url).await.unwrap(),
        _keep: Box::new(db),
    }
}

fn run(id: &str, status_code: u16) -> ProbeRun {
    ProbeRun {
        id: id.into(),
        url: format!("https://a.example/{id}"),
        started_at: 1_700_000_000,
        status_code,
        latency_ms: 5,
        error: String::new(),
    }
}

fn finding(run: &str, rule: &str, severity: &str) -> ProbeFinding {
    ProbeFinding {
        run_id: run.into(),
        rule_id: rule.into(),
        severity: severity.into(),
        message: rule.into(),
        evidence: String::new(),
    }
}

fn count(labels: &[&str], count: u64) -> LabelCount {
    LabelCount {
        labels: labels.iter().map(|s| (*s).to_owned()).collect(),
        count,
    }
}

fn envelope(source: &str, id: &str) -> WebhookEnvelope {
    WebhookEnvelope {
        source: source.into(),
        webhook_id: id.into(),
        received_at: 1_700_000_000,
        headers: "{}".into(),
        body: b"{}".to_vec(),
        status: "received".into(),
        error: String::new(),
    }
}

async fn counts(store: &Store) {
    assert_eq!(store.probe_stats().await.unwrap(), ProbeStats::default());
    assert!(store.inbox_counts().await.unwrap().is_empty());

    for (r, f) in [
        (run("a", 402), vec![finding("a", "R1", "should")]),
        (
            run("b", 402),
            vec![finding("b", "R2", "must"), finding("b", "R3", "must")],
        ),
        (run("c", 0), vec![]),
        (run("d", 200), vec![finding("d", "R4", "interop")]),
    ] {
        store.insert_probe_run(r, f).await.unwrap();
    }
    // A replayed run and finding count once.
    store
        .insert_probe_run(run("a", 402), vec![finding("a", "R1", "should")])
        .await
        .unwrap();
    let stats = store.probe_stats().await.unwrap();
    assert_eq!(
        stats.runs,
        vec![
            count(&["compliant"], 2),
            count(&["noncompliant"], 1),
            count(&["unreachable"], 1)
        ]
    );
    assert_eq!(
        stats.findings,
        vec![
            count(&["interop"], 1),
            count(&["must"], 2),
            count(&["should"], 1)
        ]
    );

    for (s, id) in [("shop", "1"), ("shop", "2"), ("shop", "3"), ("cdp", "1")] {
        assert!(store.inbox_put(envelope(s, id)).await.unwrap());
    }
    store
        .inbox_set_status("shop", "1", "processed", "")
        .await
        .unwrap();
    store
        .inbox_set_status("shop", "2", "rejected", "bad")
        .await
        .unwrap();
    assert_eq!(
        store.inbox_counts().await.unwrap(),
        vec![
            count(&["cdp", "received"], 1),
            count(&["shop", "processed"], 1),
            count(&["shop", "received"], 1),
            count(&["shop", "rejected"], 1),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_counts_on_sqlite() {
    counts(&sqlite().await.store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_counts_on_clickhouse() {
    counts(&clickhouse("monitoring_counts").await.store).await;
}
