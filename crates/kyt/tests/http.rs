//! The review router through `tower::ServiceExt::oneshot` on a real SQLite
//! store: 401 without or with a bad key, 403 with the wrong scope, notes
//! required, four-eyes on true matches, the pages and the audit export, and a
//! case event edited directly in SQLite detected by the verify API.

#![allow(clippy::unwrap_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{addr, payment, sqlite};
use http_body_util::BodyExt;
use tower::ServiceExt;
use x402scope_kyt::auth::{Scope, create_key};
use x402scope_kyt::http::{KytState, router};
use x402scope_kyt::lists::{self, Format};
use x402scope_kyt::screen;

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<serde_json::Value>,
) -> (StatusCode, String) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_scopes_four_eyes_pages_and_tamper_detection() {
    let b = sqlite().await;
    let s = &b.store;
    s.commit_payments(vec![payment(1, &addr(1), &addr(2), &addr(9))], vec![], None)
        .await
        .unwrap();
    lists::load(
        s,
        "custom",
        Format::Csv,
        format!("{},Bad <b>Payee</b>\n", addr(2)).as_bytes(),
        1,
    )
    .await
    .unwrap();
    screen::run(s, 2).await.unwrap();
    let reader = create_key(s, "rita", &[Scope::Read], 3).await.unwrap();
    let ann = create_key(s, "ann", &[Scope::Review, Scope::Approve], 3)
        .await
        .unwrap();
    let bob = create_key(s, "bob", &[Scope::Approve], 3).await.unwrap();
    let app = router(KytState::new(s.clone()));

    // 401: no key, a malformed key, an unknown key of the right shape.
    for key in [None, Some("nope"), Some("kyt_0123456789abcdef_00")] {
        for path in [
            "/kyt",
            "/api/v1/kyt/alerts",
            "/kyt/audit.csv",
            "/api/v1/kyt/verify",
        ] {
            let (status, _) = call(&app, "GET", path, key, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {key:?}");
        }
    }
    let (status, _) = call(
        &app,
        "POST",
        "/api/v1/kyt/cases",
        None,
        Some(serde_json::json!({"alert_id": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, body) = call(
        &app,
        "GET",
        "/api/v1/kyt/alerts?status=open",
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let alerts: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(alerts.len(), 2);
    let alert_id = alerts.iter().find(|a| a["kind"] == "ownership").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // 403: a reader cannot open a case; a review-only key cannot approve.
    let open = serde_json::json!({"alert_id": alert_id, "note": "looking into it"});
    let (status, body) = call(
        &app,
        "POST",
        "/api/v1/kyt/cases",
        Some(&reader),
        Some(open.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(&app, "POST", "/api/v1/kyt/cases", Some(&ann), Some(open)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let case_id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["case"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let actions = format!("/api/v1/kyt/cases/{case_id}/actions");

    // A disposition needs a note.
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&ann),
        Some(serde_json::json!({"action": "disposition", "disposition": "true_match", "note": ""})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("needs a note"));
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&ann),
        Some(serde_json::json!({"action": "assign", "assignee": "ann"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(&app, "POST", &actions, Some(&ann), Some(serde_json::json!({"action": "disposition", "disposition": "true_match", "note": "same entity"}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("pending_approval"));
    // bob has no review scope: 403 for a comment.
    let (status, _) = call(
        &app,
        "POST",
        &actions,
        Some(&bob),
        Some(serde_json::json!({"action": "comment", "note": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Four-eyes: ann holds kyt:approve but disposed it herself.
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&ann),
        Some(serde_json::json!({"action": "approve", "note": "me too"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("four-eyes"), "{body}");
    let (status, _) = call(
        &app,
        "POST",
        &actions,
        Some(&reader),
        Some(serde_json::json!({"action": "approve"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&bob),
        Some(serde_json::json!({"action": "approve", "note": "agreed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"status\":\"closed\""), "{body}");
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&ann),
        Some(serde_json::json!({"action": "reopen", "note": "new facts"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Pages and the audit export.
    let (status, page) = call(&app, "GET", "/kyt", Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&alert_id) && page.contains("Bad &lt;b&gt;Payee&lt;/b&gt;"),
        "escaped"
    );
    let (status, page) = call(
        &app,
        "GET",
        &format!("/kyt/cases/{case_id}"),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for action in ["open", "assign", "disposition", "approve", "reopen"] {
        assert!(page.contains(&format!("<td>{action}</td>")), "{action}");
    }
    assert!(page.contains("Hash chain verified"));
    let (status, csv) = call(&app, "GET", "/kyt/audit.csv", Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(csv.lines().count(), 1 + 5);
    assert!(csv.lines().nth(4).unwrap().contains(",bob,approve,"));
    let (status, body) = call(&app, "GET", "/api/v1/kyt/verify", Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = call(
        &app,
        "GET",
        &format!("/api/v1/kyt/addresses/{}", addr(1)),
        Some(&reader),
        None,
    )
    .await;
    assert!(body.contains("\"status\":\"exposed\""), "{body}");
    let (_, body) = call(
        &app,
        "GET",
        &format!("/api/v1/kyt/addresses/{}", addr(55)),
        Some(&reader),
        None,
    )
    .await;
    assert!(body.contains("\"status\":\"not_screened\""), "{body}");

    // Tamper: rewrite the true-match disposition's note behind x402scope's back.
    let conn = rusqlite::Connection::open(b.sqlite_path.as_ref().unwrap()).unwrap();
    let n = conn
        .execute("UPDATE kyt_case_events SET payload = '{\"disposition\":\"false_positive\",\"note\":\"nothing\"}' WHERE case_id = ?1 AND seq = 2", [&case_id])
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    let (status, body) = call(&app, "GET", "/api/v1/kyt/verify", Some(&reader), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["report"]["problems"][0]["seq"], 2);
    let (_, page) = call(
        &app,
        "GET",
        &format!("/kyt/cases/{case_id}"),
        Some(&reader),
        None,
    )
    .await;
    assert!(page.contains("BROKEN"));
    let (status, body) = call(
        &app,
        "POST",
        &actions,
        Some(&ann),
        Some(serde_json::json!({"action": "comment", "note": "more"})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "nothing is appended to a broken chain: {body}"
    );
    let (_, json) = call(&app, "GET", "/kyt/audit.json", Some(&reader), None).await;
    assert!(json.contains("\"chain_ok\":false"));
}
