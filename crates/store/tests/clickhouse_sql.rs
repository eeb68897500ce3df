//! Every ClickHouse SQL feature the store relies on, one test each. The test
//! command runs this file against Debian's ClickHouse 18.16 and again against
//! ClickHouse 26.x (chDB), so a feature that breaks on either fails here by
//! name. The table in docs/clickhouse-compat.md lists these tests.

#![allow(clippy::unwrap_used)]

use x402scope_testkit::clickhouse::{TestDatabase, execute, fresh_database};

fn db(name: &str) -> TestDatabase {
    fresh_database(name).unwrap()
}

fn q(db: &TestDatabase, sql: &str) -> String {
    let sql = sql.replace("$DB", &db.name);
    execute(&db.url, &sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .to_owned()
}

#[test]
fn create_database_if_not_exists_is_idempotent() {
    let d = db("create_db");
    q(&d, "CREATE DATABASE IF NOT EXISTS $DB");
    q(&d, "CREATE DATABASE IF NOT EXISTS $DB");
    assert_eq!(
        q(
            &d,
            "SELECT count() FROM system.databases WHERE name = '$DB'"
        ),
        "1"
    );
}

#[test]
fn replacing_merge_tree_with_final_keeps_the_highest_version() {
    let d = db("rmt_final");
    q(
        &d,
        "CREATE TABLE $DB.t (k String, v UInt32, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY k",
    );
    q(&d, "INSERT INTO $DB.t VALUES ('a', 1, 1)");
    q(&d, "INSERT INTO $DB.t VALUES ('a', 2, 3)");
    q(&d, "INSERT INTO $DB.t VALUES ('a', 9, 2)");
    assert_eq!(q(&d, "SELECT v FROM $DB.t FINAL"), "2");
    assert_eq!(q(&d, "SELECT count() FROM $DB.t FINAL"), "1");
}

#[test]
fn decimal_38_0_holds_and_sums_large_amounts_exactly() {
    let d = db("decimal");
    q(
        &d,
        "CREATE TABLE $DB.t (a Decimal(38, 0)) ENGINE = MergeTree ORDER BY tuple()",
    );
    q(
        &d,
        "INSERT INTO $DB.t VALUES (toDecimal128('12345678901234567890123456789012345', 0)), (toDecimal128('5', 0))",
    );
    assert_eq!(
        q(&d, "SELECT sum(a) FROM $DB.t"),
        "12345678901234567890123456789012350"
    );
    assert_eq!(
        q(&d, "SELECT toTypeName(sum(a)) FROM $DB.t"),
        "Decimal(38, 0)"
    );
}

#[test]
fn uniq_exact_counts_distinct_values_exactly() {
    let d = db("uniq_exact");
    q(
        &d,
        "CREATE TABLE $DB.t (x String, g UInt8) ENGINE = MergeTree ORDER BY tuple()",
    );
    q(
        &d,
        "INSERT INTO $DB.t SELECT toString(number % 1000), number % 3 FROM system.numbers LIMIT 100000",
    );
    assert_eq!(q(&d, "SELECT uniqExact(x) FROM $DB.t"), "1000");
    assert_eq!(
        q(
            &d,
            "SELECT g, uniqExact(x) FROM $DB.t GROUP BY g ORDER BY g"
        )
        .replace('\t', " "),
        "0 1000\n1 1000\n2 1000"
    );
}

#[test]
fn low_cardinality_string_columns_work_without_settings_in_sql() {
    let d = db("low_cardinality");
    q(
        &d,
        "CREATE TABLE $DB.t (c LowCardinality(String)) ENGINE = MergeTree ORDER BY tuple()",
    );
    q(
        &d,
        "INSERT INTO $DB.t VALUES ('eip155:8453'), ('eip155:8453'), ('solana:x')",
    );
    assert_eq!(
        q(
            &d,
            "SELECT toString(c), count() FROM $DB.t GROUP BY c ORDER BY c"
        )
        .replace('\t', " "),
        "eip155:8453 2\nsolana:x 1"
    );
}

#[test]
fn datetime_utc_round_trips_through_unix_seconds() {
    let d = db("datetime");
    q(
        &d,
        "CREATE TABLE $DB.t (t DateTime('UTC')) ENGINE = MergeTree ORDER BY t",
    );
    q(&d, "INSERT INTO $DB.t SELECT toDateTime(1760000123)");
    assert_eq!(q(&d, "SELECT toUInt32(t) FROM $DB.t"), "1760000123");
    assert_eq!(
        q(
            &d,
            "SELECT count() FROM $DB.t WHERE t >= toDateTime(1760000123) AND t < toDateTime(1760000124)"
        ),
        "1"
    );
}

#[test]
fn int_div_buckets_align_times() {
    let d = db("buckets");
    assert_eq!(
        q(
            &d,
            "SELECT toString(intDiv(toUInt32(toDateTime(1760003599)), 3600) * 3600)"
        ),
        "1760000400"
    );
}

#[test]
fn alter_delete_is_a_mutation_that_system_mutations_reports_done() {
    let d = db("alter_delete");
    q(
        &d,
        "CREATE TABLE $DB.t (k UInt64, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY k",
    );
    q(
        &d,
        "INSERT INTO $DB.t SELECT number, 1 FROM system.numbers LIMIT 100",
    );
    q(&d, "ALTER TABLE $DB.t DELETE WHERE k > 49");
    let mut done = false;
    for _ in 0..500 {
        if q(
            &d,
            "SELECT count() FROM system.mutations WHERE database = '$DB' AND table = 't' AND is_done = 0",
        ) == "0"
        {
            done = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(done, "the mutation finished");
    assert_eq!(q(&d, "SELECT count() FROM $DB.t FINAL"), "50");
    // A re-insert of deleted keys shows, with a new version.
    q(
        &d,
        "INSERT INTO $DB.t SELECT number, 2 FROM system.numbers WHERE number >= 50 LIMIT 50",
    );
    assert_eq!(q(&d, "SELECT count() FROM $DB.t FINAL"), "100");
}

#[test]
fn typed_rowbinary_inserts_and_fetches_through_the_rust_client() {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, clickhouse::Row)]
    struct R {
        k: String,
        n: u32,
        a: i128,
        f: u8,
    }
    let d = db("rowbinary");
    q(
        &d,
        "CREATE TABLE $DB.t (k String, n UInt32, a Decimal(38, 0), f UInt8) ENGINE = MergeTree ORDER BY k",
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let compression =
            if std::env::var("X402SCOPE_TEST_CLICKHOUSE_COMPRESSION").is_ok_and(|v| v == "none") {
                clickhouse::Compression::None
            } else {
                clickhouse::Compression::Lz4
            };
        let client = clickhouse::Client::default()
            .with_url(&d.url)
            .with_database(&d.name)
            .with_validation(false)
            .with_compression(compression);
        let mut insert = client.insert::<R>("t").await.unwrap();
        insert
            .write(&R {
                k: "x".into(),
                n: 7,
                a: 10i128.pow(37),
                f: 1,
            })
            .await
            .unwrap();
        insert.end().await.unwrap();
        let rows: Vec<R> = client
            .query("SELECT k, n, a, f FROM t WHERE k = ?")
            .bind("x")
            .fetch_all()
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![R {
                k: "x".into(),
                n: 7,
                a: 10i128.pow(37),
                f: 1
            }]
        );
    });
}

#[test]
fn keyset_comparison_spelled_out_pages_correctly() {
    let d = db("keyset");
    q(
        &d,
        "CREATE TABLE $DB.t (t UInt32, s String, i UInt32) ENGINE = MergeTree ORDER BY (t, s, i)",
    );
    q(
        &d,
        "INSERT INTO $DB.t VALUES (1, 'a', 0), (1, 'a', 1), (1, 'b', 0), (2, 'a', 0)",
    );
    let after = "(t < 1 OR (t = 1 AND (s < 'b' OR (s = 'b' AND i < 0))))";
    assert_eq!(
        q(
            &d,
            &format!(
                "SELECT t, s, i FROM $DB.t WHERE {after} ORDER BY t DESC, s DESC, i DESC LIMIT 10"
            )
        )
        .replace('\t', " "),
        "1 a 1\n1 a 0"
    );
}

#[test]
fn order_by_several_keys_with_limit_and_distinct() {
    let d = db("order_limit");
    q(
        &d,
        "CREATE TABLE $DB.t (k String, v UInt64) ENGINE = MergeTree ORDER BY k",
    );
    q(
        &d,
        "INSERT INTO $DB.t VALUES ('b', 2), ('a', 2), ('c', 1), ('a', 2)",
    );
    assert_eq!(
        q(&d, "SELECT k AS key, sum(v) AS total FROM $DB.t GROUP BY key ORDER BY total DESC, key ASC LIMIT 2").replace('\t', " "),
        "a 4\nb 2"
    );
    assert_eq!(
        q(&d, "SELECT DISTINCT k FROM $DB.t ORDER BY k").replace('\n', ","),
        "a,b,c"
    );
}

#[test]
fn system_tables_list_the_migration_table() {
    let d = db("system_tables");
    q(
        &d,
        "CREATE TABLE $DB.schema_migrations (version UInt32, name String, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY version",
    );
    assert_eq!(
        q(
            &d,
            "SELECT count() FROM system.tables WHERE database = '$DB' AND name = 'schema_migrations'"
        ),
        "1"
    );
}

#[test]
fn alter_add_column_with_default_fills_old_rows_and_collapses_with_new_ones() {
    let d = db("add_column");
    q(
        &d,
        "CREATE TABLE $DB.t (k String, version UInt64) ENGINE = ReplacingMergeTree(version) ORDER BY k",
    );
    q(&d, "INSERT INTO $DB.t VALUES ('a', 1)");
    q(
        &d,
        "ALTER TABLE $DB.t ADD COLUMN reference String DEFAULT ''",
    );
    assert_eq!(
        q(&d, "SELECT concat(k, '=', reference) FROM $DB.t FINAL"),
        "a="
    );
    q(
        &d,
        "INSERT INTO $DB.t (k, version, reference) VALUES ('a', 2, 'memo')",
    );
    assert_eq!(
        q(&d, "SELECT concat(k, '=', reference) FROM $DB.t FINAL"),
        "a=memo"
    );
}
