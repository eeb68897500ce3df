//! The KYT store contract on both real backends: list versions with their
//! changes, screening of the payment graph (ownership, exposure, removals,
//! not_screened), cases with chained events and seq conflicts, and API keys.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Backend, addr, clickhouse, payment, sqlite};
use x402scope_kyt::auth::{self, Scope};
use x402scope_kyt::case::{self, Action, CaseStatus, Disposition};
use x402scope_kyt::lists::{self, Format};
use x402scope_kyt::screen::{self, Status};
use x402scope_store::CaseEvent;

async fn kyt_contract(b: Backend) {
    let s = &b.store;
    // payer 1 -> payee 2 through 9; payer 3 -> payee 4 through 9; payer 5 -> payee 2.
    s.commit_payments(
        vec![
            payment(1, &addr(1), &addr(2), &addr(9)),
            payment(2, &addr(3), &addr(4), &addr(9)),
            payment(3, &addr(5), &addr(2), &addr(9)),
        ],
        vec![],
        None,
    )
    .await
    .unwrap();

    // Nothing loaded: nothing screened, never "clear".
    let report = screen::run(s, 100).await.unwrap();
    assert!(report.list_versions.is_empty());
    assert_eq!(
        screen::status_of(s, &addr(1)).await.unwrap().0,
        Status::NotScreened
    );

    // Version 1 lists payee 2 (mixed case in the file).
    let csv1 = format!(
        "address,label\n{},Bad Payee\n",
        addr(2).replace("0x0", "0X0")
    );
    let v1 = lists::load(s, "custom", Format::Csv, csv1.as_bytes(), 200)
        .await
        .unwrap();
    assert!(!v1.unchanged);
    assert_eq!(v1.version.entry_count, 1);
    assert_eq!(
        v1.version.sha256,
        x402scope_kyt::sha256_hex(csv1.as_bytes())
    );
    assert_eq!(v1.added.len(), 1);
    let again = lists::load(s, "custom", Format::Csv, csv1.as_bytes(), 201)
        .await
        .unwrap();
    assert!(again.unchanged, "the same file twice is one version");
    let report = screen::run(s, 300).await.unwrap();
    let mut got: Vec<(String, String, String)> = report
        .new_alerts
        .iter()
        .map(|a| (a.address.clone(), a.kind.clone(), a.listed_address.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (addr(1), "exposure".into(), addr(2)),
            (addr(2), "ownership".into(), addr(2)),
            (addr(5), "exposure".into(), addr(2)),
        ]
    );
    assert_eq!(
        screen::status_of(s, &addr(2)).await.unwrap().0,
        Status::Listed
    );
    assert_eq!(
        screen::status_of(s, &addr(1)).await.unwrap().0,
        Status::Exposed
    );
    assert_eq!(
        screen::status_of(s, &addr(3)).await.unwrap().0,
        Status::Clear
    );
    assert_eq!(
        screen::status_of(s, &addr(9)).await.unwrap().0,
        Status::Clear
    );
    assert_eq!(
        screen::status_of(s, &addr(77)).await.unwrap().0,
        Status::NotScreened
    );
    // A second run changes nothing.
    let report = screen::run(s, 301).await.unwrap();
    assert!(report.new_alerts.is_empty() && report.removed_alerts.is_empty());
    assert_eq!(report.open_alerts, 3);

    // Version 2 lists payee 4 instead: its alerts are new, payee 2's are removed.
    let csv2 = format!("{},Other\n", addr(4));
    let v2 = lists::load(s, "custom", Format::Csv, csv2.as_bytes(), 400)
        .await
        .unwrap();
    assert_eq!(
        v2.added
            .iter()
            .map(|c| c.address.clone())
            .collect::<Vec<_>>(),
        vec![addr(4)]
    );
    assert_eq!(
        v2.removed
            .iter()
            .map(|c| c.address.clone())
            .collect::<Vec<_>>(),
        vec![addr(2)]
    );
    let report = screen::run(s, 500).await.unwrap();
    assert_eq!(report.new_alerts.len(), 2, "{:?}", report.new_alerts);
    assert_eq!(report.removed_alerts.len(), 3);
    assert!(
        report
            .removed_alerts
            .iter()
            .all(|a| a.removed_by == v2.version.id)
    );
    let changes = s.kyt_list_changes().await.unwrap();
    assert!(
        changes.iter().any(|c| c.version_id == v2.version.id
            && c.change == "removed"
            && c.address == addr(2))
    );
    assert_eq!(
        screen::status_of(s, &addr(1)).await.unwrap().0,
        Status::Clear
    );
    assert_eq!(
        screen::status_of(s, &addr(3)).await.unwrap().0,
        Status::Exposed
    );
    let versions = s.kyt_list_versions().await.unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        lists::active_versions(s).await.unwrap(),
        vec![v2.version.clone()]
    );

    // Keys: stored hashed, authenticated, scopes kept.
    let key = auth::create_key(s, "ann", &[Scope::Review], 600)
        .await
        .unwrap();
    let r = auth::authenticate(s, &key).await.unwrap();
    assert_eq!(r.name, "ann");
    assert!(r.has(Scope::Review) && !r.has(Scope::Approve));
    let mut wrong = key.clone();
    wrong.pop();
    wrong.push('x');
    assert!(auth::authenticate(s, &wrong).await.is_err());
    let key_id = key.split('_').nth(1).unwrap();
    let stored = s.kyt_key(key_id).await.unwrap().unwrap();
    assert!(!stored.key_hash.contains(key.split('_').nth(2).unwrap()));
    assert_eq!(stored.key_hash, x402scope_kyt::sha256_hex(key.as_bytes()));
    let bob = auth::authenticate(
        s,
        &auth::create_key(s, "bob", &[Scope::Approve], 600)
            .await
            .unwrap(),
    )
    .await
    .unwrap();

    // A case: open, dispose as true match, four-eyes approval.
    let alert = s
        .kyt_alerts()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.status == "open")
        .unwrap();
    let c = case::open(s, &r, &alert.id, "looking", 700).await.unwrap();
    assert!(matches!(
        case::open(s, &r, &alert.id, "again", 701).await,
        Err(x402scope_kyt::KytError::Conflict(_))
    ));
    let id = c.case.id.clone();
    let tm = Action::Disposition {
        disposition: Disposition::TrueMatch,
        note: "confirmed".into(),
    };
    let v = case::act(s, &r, &id, &tm, 702).await.unwrap();
    assert_eq!(v.state.unwrap().status, CaseStatus::PendingApproval);
    let v = case::act(
        s,
        &bob,
        &id,
        &Action::Approve {
            note: "agreed".into(),
        },
        703,
    )
    .await
    .unwrap();
    assert_eq!(v.state.unwrap().status, CaseStatus::Closed);
    assert_eq!(v.events.len(), 3);
    assert_eq!(v.events[1].prev_hash, v.events[0].hash);
    assert!(case::verify(s).await.unwrap().ok());

    // The store refuses a second event with a taken seq.
    let mut dup: CaseEvent = v.events[2].clone();
    dup.actor = "mallory".into();
    assert!(matches!(
        s.kyt_append_event(dup).await,
        Err(x402scope_store::StoreError::Conflict(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyt_contract_on_sqlite() {
    kyt_contract(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kyt_contract_on_clickhouse() {
    kyt_contract(clickhouse("kyt_contract").await).await;
}
