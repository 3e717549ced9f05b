//! The contract every engine keeps, written once and run against each.
//!
//! The suite lives inside the crate, rather than under `tests/`, so that it
//! can open a store with a chosen list of migrations and stand in for older
//! and newer releases of nines without widening the public API.
//!
//! SQLite runs in a temporary directory. PostgreSQL runs when
//! `NINES_TEST_POSTGRES_URL` names a server the tests may create databases
//! on; each test gets a fresh database and drops it afterwards, so tests can
//! run in parallel.

use std::future::Future;
use std::panic::resume_unwind;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sqlx::{AssertSqlSafe, Connection};

use crate::migrate::{self, Migration};
use crate::{
    BatchOutcome, BucketRow, BudgetExhaustion, Engine, NewConfigRevision, Store, StoreError,
    StoreLocation,
};

const POSTGRES_URL_VAR: &str = "NINES_TEST_POSTGRES_URL";

/// What a contract test gets: a place for a store, and ways to reach behind it.
struct Harness {
    location: StoreLocation,
    /// Kept so the directory outlives the test body.
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    fn engine(&self) -> Engine {
        self.location.engine()
    }

    /// The full list of migrations this binary knows for the engine.
    fn migrations(&self) -> &'static [Migration] {
        migrate::for_engine(self.engine())
    }

    async fn open(&self) -> Result<Arc<dyn Store>, StoreError> {
        crate::open(&self.location).await
    }

    async fn open_with(&self, migrations: &[Migration]) -> Result<Arc<dyn Store>, StoreError> {
        crate::open_with(&self.location, migrations).await
    }

    /// Runs `sql` on the database directly, as an operator with a SQL shell
    /// would. The store must be closed first when it holds a lock on it.
    async fn execute_directly(&self, sql: &'static str) {
        match &self.location {
            StoreLocation::Sqlite { data_dir } => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(data_dir.join(crate::sqlite::DB_FILE));
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
            StoreLocation::Postgres { url } => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

fn revision(hash: &str, loaded_at: &str) -> NewConfigRevision {
    NewConfigRevision {
        hash: hash.to_owned(),
        source: "/etc/nines/nines.yaml".to_owned(),
        loaded_at: loaded_at.parse().unwrap(),
        objects: 12,
        summary: format!("12 SLOs ({hash})"),
    }
}

fn bucket(series: &str, minute: i64, maintenance: bool, good: f64, total: f64) -> BucketRow {
    BucketRow {
        series: series.to_owned(),
        minute,
        maintenance,
        good,
        total,
    }
}

fn at(timestamp: &str) -> Timestamp {
    timestamp.parse().unwrap()
}

/// Every bucket in the store.
async fn all_buckets(store: &Arc<dyn Store>) -> Vec<BucketRow> {
    store.sli_buckets_since(i64::MIN).await.unwrap()
}

const APPLIED_0: BatchOutcome = BatchOutcome::Applied { rows: 0 };

// ---------------------------------------------------------------------------
// The contract.
// ---------------------------------------------------------------------------

async fn fresh_store_is_at_the_newest_schema_and_empty(h: Harness) {
    let store = h.open().await.unwrap();
    assert_eq!(store.engine(), h.engine());
    assert!(
        store.describe().starts_with(&format!("{} ", h.engine())),
        "{}",
        store.describe()
    );
    store.ping().await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        migrate::newest(h.migrations())
    );
    assert_eq!(store.latest_config_revision().await.unwrap(), None);
    assert_eq!(store.config_revisions(10).await.unwrap(), vec![]);
    assert_eq!(all_buckets(&store).await, vec![]);
    assert_eq!(store.prune_sli_buckets(i64::MAX).await.unwrap(), 0);
    assert_eq!(
        store.prune_idempotency_keys(Timestamp::MAX).await.unwrap(),
        0
    );
    store.close().await;
}

async fn recorded_revision_reads_back_exactly(h: Harness) {
    let store = h.open().await.unwrap();
    let new = NewConfigRevision {
        hash: "sha256:0f1e".to_owned(),
        source: "/etc/nines/ñines.yaml".to_owned(),
        loaded_at: "2026-03-29T01:30:00.123456789Z".parse().unwrap(),
        objects: u32::MAX,
        summary: "3 SLOs, 2 routes — «checkout» added\nsecond line".to_owned(),
    };
    let recorded = store.record_config_revision(&new).await.unwrap();
    assert_eq!(recorded.hash, new.hash);
    assert_eq!(recorded.source, new.source);
    assert_eq!(recorded.objects, new.objects);
    assert_eq!(recorded.summary, new.summary);
    let micros: Timestamp = "2026-03-29T01:30:00.123456Z".parse().unwrap();
    assert_eq!(recorded.loaded_at, micros, "stored to the microsecond");

    assert_eq!(
        store.latest_config_revision().await.unwrap(),
        Some(recorded.clone())
    );
    assert_eq!(store.config_revisions(10).await.unwrap(), vec![recorded]);
    store.close().await;
}

async fn recording_the_latest_hash_again_writes_nothing(h: Harness) {
    let store = h.open().await.unwrap();
    let first = store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    let mut reloaded = revision("a", "2026-01-01T00:05:00Z");
    reloaded.summary = "a different summary does not matter".to_owned();
    let again = store.record_config_revision(&reloaded).await.unwrap();
    assert_eq!(again, first, "the existing revision is returned unchanged");
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![first.clone()]
    );

    // Only the latest counts: going back to an earlier configuration is a change.
    let second = store
        .record_config_revision(&revision("b", "2026-01-01T00:10:00Z"))
        .await
        .unwrap();
    let back = store
        .record_config_revision(&revision("a", "2026-01-01T00:15:00Z"))
        .await
        .unwrap();
    assert!(first.id < second.id && second.id < back.id);
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![back, second, first]
    );
    store.close().await;
}

async fn revisions_are_listed_newest_first_up_to_the_limit(h: Harness) {
    let store = h.open().await.unwrap();
    let mut recorded = Vec::new();
    // Load times deliberately go backwards: "newest" is the order of
    // recording, not a wall clock that may have been stepped.
    for (i, loaded_at) in [
        "2026-01-05T00:00:00Z",
        "2026-01-04T00:00:00Z",
        "2026-01-03T00:00:00Z",
        "2026-01-02T00:00:00Z",
        "2026-01-01T00:00:00Z",
    ]
    .into_iter()
    .enumerate()
    {
        let rev = store
            .record_config_revision(&revision(&format!("h{i}"), loaded_at))
            .await
            .unwrap();
        recorded.push(rev);
    }
    recorded.reverse();

    assert_eq!(store.config_revisions(3).await.unwrap(), recorded[..3]);
    assert_eq!(store.config_revisions(5).await.unwrap(), recorded);
    assert_eq!(store.config_revisions(100).await.unwrap(), recorded);
    assert_eq!(store.config_revisions(0).await.unwrap(), vec![]);
    assert_eq!(
        store.latest_config_revision().await.unwrap().as_ref(),
        recorded.first()
    );
    store.close().await;
}

async fn revisions_survive_close_and_reopen(h: Harness) {
    let store = h.open().await.unwrap();
    let first = store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    store.close().await;

    let store = h.open().await.unwrap();
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![first.clone()]
    );
    let second = store
        .record_config_revision(&revision("b", "2026-01-01T00:10:00Z"))
        .await
        .unwrap();
    assert!(second.id > first.id);
    // Dropped without close, as when nines is killed: an acknowledged write
    // must already be on disk.
    drop(store);

    let store = h.open().await.unwrap();
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![second, first]
    );
    store.close().await;
}

async fn closed_store_says_so(h: Harness) {
    let store = h.open().await.unwrap();
    store.close().await;
    let error = store.ping().await.unwrap_err();
    assert!(matches!(error, StoreError::Closed), "{error:?}");
    let error = store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Closed), "{error:?}");
    let error = store
        .record_sli_batch(Some("k"), at("2026-01-01T00:00:00Z"), &[])
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::Closed), "{error:?}");
    let error = store.sli_buckets_since(0).await.unwrap_err();
    assert!(matches!(error, StoreError::Closed), "{error:?}");
}

async fn applied_sli_batch_reads_back_ordered_by_series_minute_and_maintenance(h: Harness) {
    let store = h.open().await.unwrap();
    // Series whose byte order differs from a locale's ("B" before "a",
    // "a-c" before "ab"), so both engines must sort by bytes to agree.
    let rows = vec![
        bucket("checkout-availability/0", 29_000_001, false, 980.0, 1000.0),
        bucket("ab", 5, false, 1.0, 1.0),
        bucket("a-c", 5, false, 2.0, 2.0),
        bucket(
            "checkout-availability/0",
            29_000_000,
            true,
            0.1,
            0.30000000000000004,
        ),
        bucket("B", 7, false, 3.0, 4.0),
        bucket(
            "checkout-availability/0",
            29_000_000,
            false,
            1e15 + 0.5,
            2e15,
        ),
        bucket("ñ/0", -3, false, 0.0, 5.0),
    ];
    assert_eq!(
        store
            .record_sli_batch(Some("batch-1"), at("2026-03-29T01:30:00Z"), &rows)
            .await
            .unwrap(),
        BatchOutcome::Applied { rows: 7 }
    );
    let mut expected = rows.clone();
    expected.sort_by(|a, b| {
        (&a.series, a.minute, a.maintenance).cmp(&(&b.series, b.minute, b.maintenance))
    });
    assert_eq!(
        expected
            .iter()
            .map(|r| r.series.as_str())
            .collect::<Vec<_>>(),
        [
            "B",
            "a-c",
            "ab",
            "checkout-availability/0",
            "checkout-availability/0",
            "checkout-availability/0",
            "ñ/0"
        ]
    );
    // Counts come back bit for bit, and maintenance events stay in their own
    // bucket beside the others of the same minute.
    assert_eq!(all_buckets(&store).await, expected);
    store.close().await;
}

async fn sli_buckets_since_includes_the_given_minute(h: Harness) {
    let store = h.open().await.unwrap();
    let rows: Vec<BucketRow> = (100..110)
        .flat_map(|minute| {
            [
                bucket("s/0", minute, false, 1.0, 2.0),
                bucket("s/1", minute, true, 1.0, 1.0),
            ]
        })
        .collect();
    store
        .record_sli_batch(None, at("2026-01-01T00:00:00Z"), &rows)
        .await
        .unwrap();

    let since = store.sli_buckets_since(105).await.unwrap();
    let minutes: Vec<(&str, i64)> = since
        .iter()
        .map(|r| (r.series.as_str(), r.minute))
        .collect();
    let expected: Vec<(&str, i64)> = ["s/0", "s/1"]
        .into_iter()
        .flat_map(|series| (105..110).map(move |minute| (series, minute)))
        .collect();
    assert_eq!(minutes, expected);
    assert_eq!(store.sli_buckets_since(109).await.unwrap().len(), 2);
    assert_eq!(store.sli_buckets_since(110).await.unwrap(), vec![]);
    assert_eq!(store.sli_buckets_since(i64::MIN).await.unwrap().len(), 20);
    store.close().await;
}

async fn batch_sent_again_with_its_key_is_counted_once(h: Harness) {
    let store = h.open().await.unwrap();
    let rows = [bucket("s/0", 10, false, 9.0, 10.0)];
    let first_at = at("2026-03-29T01:30:00.123456789Z");
    assert_eq!(
        store
            .record_sli_batch(Some("retry-me"), first_at, &rows)
            .await
            .unwrap(),
        BatchOutcome::Applied { rows: 1 }
    );
    // A retry, later, even if the client re-aggregated it differently.
    let retry = [
        bucket("s/0", 10, false, 9.0, 10.0),
        bucket("s/1", 10, false, 1.0, 1.0),
    ];
    assert_eq!(
        store
            .record_sli_batch(Some("retry-me"), at("2026-03-29T01:31:00Z"), &retry)
            .await
            .unwrap(),
        BatchOutcome::Duplicate {
            first_received_at: at("2026-03-29T01:30:00.123456Z")
        }
    );
    assert_eq!(all_buckets(&store).await, rows);

    // Another key is another batch.
    assert_eq!(
        store
            .record_sli_batch(Some("another"), at("2026-03-29T01:32:00Z"), &rows)
            .await
            .unwrap(),
        BatchOutcome::Applied { rows: 1 }
    );
    assert_eq!(
        all_buckets(&store).await,
        [bucket("s/0", 10, false, 18.0, 20.0)]
    );
    store.close().await;
}

async fn batches_without_a_key_are_counted_every_time(h: Harness) {
    let store = h.open().await.unwrap();
    let rows = [
        bucket("s/0", 10, false, 9.0, 10.0),
        bucket("s/0", 10, true, 1.0, 2.0),
    ];
    for _ in 0..2 {
        assert_eq!(
            store
                .record_sli_batch(None, at("2026-01-01T00:00:00Z"), &rows)
                .await
                .unwrap(),
            BatchOutcome::Applied { rows: 2 }
        );
    }
    assert_eq!(
        all_buckets(&store).await,
        [
            bucket("s/0", 10, false, 18.0, 20.0),
            bucket("s/0", 10, true, 2.0, 4.0),
        ]
    );
    store.close().await;
}

async fn rows_of_one_batch_for_the_same_bucket_add_up(h: Harness) {
    let store = h.open().await.unwrap();
    store
        .record_sli_batch(
            None,
            at("2026-01-01T00:00:00Z"),
            &[bucket("s/0", 10, false, 1.0, 1.0)],
        )
        .await
        .unwrap();
    let rows = [
        bucket("s/0", 10, false, 2.0, 3.0),
        bucket("s/0", 11, false, 1.0, 1.0),
        bucket("s/0", 10, false, 4.0, 5.0),
        bucket("s/0", 10, true, 0.5, 0.5),
        bucket("s/0", 10, false, 0.25, 0.25),
    ];
    assert_eq!(
        store
            .record_sli_batch(Some("k"), at("2026-01-01T00:00:01Z"), &rows)
            .await
            .unwrap(),
        BatchOutcome::Applied { rows: 5 }
    );
    assert_eq!(
        all_buckets(&store).await,
        [
            bucket("s/0", 10, false, 7.25, 9.25),
            bucket("s/0", 10, true, 0.5, 0.5),
            bucket("s/0", 11, false, 1.0, 1.0),
        ]
    );
    store.close().await;
}

async fn empty_batch_with_a_key_is_recorded(h: Harness) {
    let store = h.open().await.unwrap();
    let received_at = at("2026-01-01T00:00:00Z");
    assert_eq!(
        store
            .record_sli_batch(Some("empty"), received_at, &[])
            .await
            .unwrap(),
        APPLIED_0
    );
    assert_eq!(
        store
            .record_sli_batch(Some("empty"), at("2026-01-01T00:01:00Z"), &[])
            .await
            .unwrap(),
        BatchOutcome::Duplicate {
            first_received_at: received_at
        }
    );
    assert_eq!(
        store
            .record_sli_batch(None, received_at, &[])
            .await
            .unwrap(),
        APPLIED_0
    );
    assert_eq!(all_buckets(&store).await, vec![]);
    store.close().await;
}

async fn batch_with_a_count_that_cannot_be_stored_is_refused_whole(h: Harness) {
    let store = h.open().await.unwrap();
    let received_at = at("2026-01-01T00:00:00Z");
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        let rows = [
            bucket("s/0", 10, false, 1.0, 1.0),
            bucket("s/0", 11, false, 1.0, bad),
        ];
        let error = store
            .record_sli_batch(Some("k"), received_at, &rows)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::InvalidInput { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("total is"), "{error}");
    }
    assert_eq!(all_buckets(&store).await, vec![]);
    // The key was not taken by the refused batch.
    assert_eq!(
        store
            .record_sli_batch(
                Some("k"),
                received_at,
                &[bucket("s/0", 10, false, 1.0, 1.0)]
            )
            .await
            .unwrap(),
        BatchOutcome::Applied { rows: 1 }
    );
    store.close().await;
}

async fn old_buckets_and_keys_are_pruned(h: Harness) {
    let store = h.open().await.unwrap();
    let rows: Vec<BucketRow> = (0..5)
        .flat_map(|minute| {
            [
                bucket("a/0", minute, false, 1.0, 1.0),
                bucket("a/0", minute, true, 1.0, 1.0),
                bucket("b/0", minute, false, 1.0, 1.0),
            ]
        })
        .collect();
    for (key, received_at) in [
        ("k1", "2026-01-01T00:00:00Z"),
        ("k2", "2026-01-01T01:00:00Z"),
        ("k3", "2026-01-01T02:00:00Z"),
    ] {
        let batch = if key == "k1" { &rows[..] } else { &[] };
        store
            .record_sli_batch(Some(key), at(received_at), batch)
            .await
            .unwrap();
    }

    assert_eq!(store.prune_sli_buckets(0).await.unwrap(), 0);
    assert_eq!(store.prune_sli_buckets(2).await.unwrap(), 6);
    assert_eq!(store.prune_sli_buckets(2).await.unwrap(), 0);
    let left = all_buckets(&store).await;
    assert_eq!(left.len(), 9);
    assert!(left.iter().all(|r| r.minute >= 2), "{left:?}");

    // Keys are pruned by when they were received; "before" is exclusive.
    assert_eq!(
        store
            .prune_idempotency_keys(at("2026-01-01T01:00:00Z"))
            .await
            .unwrap(),
        1
    );
    // A forgotten key counts again; a kept one is still a duplicate.
    assert_eq!(
        store
            .record_sli_batch(Some("k1"), at("2026-01-02T00:00:00Z"), &[])
            .await
            .unwrap(),
        APPLIED_0
    );
    assert_eq!(
        store
            .record_sli_batch(Some("k2"), at("2026-01-02T00:00:00Z"), &[])
            .await
            .unwrap(),
        BatchOutcome::Duplicate {
            first_received_at: at("2026-01-01T01:00:00Z")
        }
    );
    assert_eq!(
        store.prune_idempotency_keys(Timestamp::MAX).await.unwrap(),
        3
    );
    assert_eq!(store.prune_sli_buckets(i64::MAX).await.unwrap(), 9);
    assert_eq!(all_buckets(&store).await, vec![]);
    store.close().await;
}

async fn sli_data_survives_close_and_reopen(h: Harness) {
    let store = h.open().await.unwrap();
    let rows = [
        bucket("s/0", 10, false, 9.0, 10.0),
        bucket("s/0", 10, true, 1.0, 1.0),
    ];
    let received_at = at("2026-01-01T00:00:00Z");
    store
        .record_sli_batch(Some("k1"), received_at, &rows)
        .await
        .unwrap();
    store.close().await;

    let store = h.open().await.unwrap();
    assert_eq!(all_buckets(&store).await, rows);
    store
        .record_sli_batch(Some("k2"), received_at, &rows)
        .await
        .unwrap();
    // Dropped without close, as when nines is killed: an acknowledged batch
    // and its key must already be on disk.
    drop(store);

    let store = h.open().await.unwrap();
    assert_eq!(
        all_buckets(&store).await,
        [
            bucket("s/0", 10, false, 18.0, 20.0),
            bucket("s/0", 10, true, 2.0, 2.0),
        ]
    );
    for key in ["k1", "k2"] {
        assert_eq!(
            store
                .record_sli_batch(Some(key), at("2026-01-02T00:00:00Z"), &rows)
                .await
                .unwrap(),
            BatchOutcome::Duplicate {
                first_received_at: received_at
            }
        );
    }
    store.close().await;
}

/// A client that times out and retries while its first attempt is still in
/// flight sends the same key twice at once; only one may count.
async fn concurrent_batches_with_one_key_apply_once(h: Harness) {
    let store = h.open().await.unwrap();
    let rows = [
        bucket("s/0", 10, false, 9.0, 10.0),
        bucket("s/1", 10, false, 1.0, 1.0),
    ];
    let mut sending = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let rows = rows.clone();
        // Each attempt says when it arrived, so a duplicate shows which won.
        let received_at = at("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_secs(i);
        sending.spawn(async move {
            let outcome = store
                .record_sli_batch(Some("same"), received_at, &rows)
                .await
                .unwrap();
            (received_at, outcome)
        });
    }
    let mut applied = Vec::new();
    let mut duplicates = Vec::new();
    while let Some(sent) = sending.join_next().await {
        match sent.unwrap() {
            (received_at, BatchOutcome::Applied { rows: 2 }) => applied.push(received_at),
            (_, BatchOutcome::Duplicate { first_received_at }) => {
                duplicates.push(first_received_at);
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(duplicates, vec![applied[0]; 7]);
    assert_eq!(all_buckets(&store).await, rows);
    store.close().await;
}

/// Concurrent batches touching the same buckets, listed in different orders,
/// must neither lose an increment nor deadlock.
async fn concurrent_batches_without_keys_all_count(h: Harness) {
    let store = h.open().await.unwrap();
    let rows: Vec<BucketRow> = (0..6)
        .map(|i| bucket(&format!("s/{}", i % 3), 10 + i / 3, false, 1.0, 2.0))
        .collect();
    let mut sending = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let mut rows = rows.clone();
        rows.rotate_left(i % 6);
        if i % 2 == 1 {
            rows.reverse();
        }
        sending.spawn(async move {
            store
                .record_sli_batch(None, at("2026-01-01T00:00:00Z"), &rows)
                .await
                .unwrap()
        });
    }
    while let Some(sent) = sending.join_next().await {
        assert_eq!(sent.unwrap(), BatchOutcome::Applied { rows: 6 });
    }
    let buckets = all_buckets(&store).await;
    assert_eq!(buckets.len(), 6);
    for b in buckets {
        assert_eq!((b.good, b.total), (8.0, 16.0), "{b:?}");
    }
    store.close().await;
}

async fn upgrade_from_an_older_schema_keeps_the_data(h: Harness) {
    // A release after this one: everything known now, plus two more steps
    // that both dialects can run unchanged.
    let mut newer = h.migrations().to_vec();
    let known = migrate::newest(h.migrations());
    newer.push(Migration {
        version: known + 1,
        name: "contract_test_upgrade",
        sql: "ALTER TABLE config_revisions ADD COLUMN note TEXT;
              CREATE TABLE upgrade_probe (id BIGINT PRIMARY KEY);",
    });
    newer.push(Migration {
        version: known + 2,
        name: "contract_test_upgrade_again",
        sql: "ALTER TABLE upgrade_probe ADD COLUMN note TEXT;",
    });
    // The oldest release with a config history, and the one that added SLI
    // buckets.
    let (schema_1, schema_2) = (&newer[..1], &newer[..2]);
    assert_eq!(schema_2[1].name, "sli_buckets");

    let store = h.open_with(schema_1).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    let recorded = store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    store.close().await;

    // Schema 1 to 2 adds the SLI tables and keeps the config history.
    let store = h.open_with(schema_2).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 2);
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![recorded.clone()]
    );
    assert_eq!(all_buckets(&store).await, vec![]);
    let rows = [bucket("s/0", 10, false, 9.0, 10.0)];
    store
        .record_sli_batch(Some("k"), at("2026-01-01T00:00:00Z"), &rows)
        .await
        .unwrap();
    store.close().await;

    // Skipping releases applies several migrations in a row.
    let store = h.open_with(&newer).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        migrate::newest(&newer)
    );
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![recorded.clone()]
    );
    assert_eq!(all_buckets(&store).await, rows);
    let later = store
        .record_config_revision(&revision("b", "2026-01-02T00:00:00Z"))
        .await
        .unwrap();
    assert!(later.id > recorded.id);
    store.close().await;

    // Opening again applies nothing twice, and the data is still there.
    let store = h.open_with(&newer).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        migrate::newest(&newer)
    );
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![later, recorded]
    );
    assert_eq!(
        store
            .record_sli_batch(Some("k"), at("2026-01-03T00:00:00Z"), &rows)
            .await
            .unwrap(),
        BatchOutcome::Duplicate {
            first_received_at: at("2026-01-01T00:00:00Z")
        }
    );
    store.close().await;
}

async fn store_from_a_newer_nines_is_refused(h: Harness) {
    let store = h.open().await.unwrap();
    store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    store.close().await;
    h.execute_directly(
        "INSERT INTO schema_migrations (version, name, applied_at)
         VALUES (9999, 'from_the_future', 0)",
    )
    .await;

    let known = migrate::newest(h.migrations());
    let error = match h.open().await {
        Err(error) => error,
        Ok(store) => panic!("opened a store from the future: {}", store.describe()),
    };
    assert!(
        matches!(error, StoreError::SchemaTooNew { found: 9999, known: k } if k == known),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade nines"), "{error}");
}

// ---------------------------------------------------------------------------
// Running the contract against each engine.
// ---------------------------------------------------------------------------

/// Declares one `#[tokio::test]` per contract test and engine, so a failure
/// names both, and a new contract test needs one line here.
async fn gate_overrides_are_in_force_until_they_expire(h: Harness) {
    let store = h.open().await.unwrap();
    let new = |service: &str, from: &str, until: &str| crate::NewGateOverride {
        service: service.to_owned(),
        reason: "hotfix for INC-7".to_owned(),
        created_by: "alice".to_owned(),
        created_at: at(from),
        expires_at: at(until),
    };
    let first = store
        .record_gate_override(&new("api", "2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z"))
        .await
        .unwrap();
    assert_eq!(first.reason, "hotfix for INC-7");
    let second = store
        .record_gate_override(&new("api", "2026-01-01T11:00:00Z", "2026-01-01T11:30:00Z"))
        .await
        .unwrap();
    store
        .record_gate_override(&new("web", "2026-01-01T10:00:00Z", "2026-01-01T12:00:00Z"))
        .await
        .unwrap();
    let in_force = |t: &'static str| {
        let store = store.clone();
        async move { store.gate_overrides_in_force("api", at(t)).await.unwrap() }
    };
    assert_eq!(in_force("2026-01-01T09:59:59Z").await, vec![]);
    assert_eq!(
        in_force("2026-01-01T11:15:00Z").await,
        vec![second, first.clone()]
    );
    assert_eq!(in_force("2026-01-01T11:45:00Z").await, vec![first]);
    assert_eq!(in_force("2026-01-01T12:00:00Z").await, vec![]);
    let backwards = store
        .record_gate_override(&new("api", "2026-01-01T12:00:00Z", "2026-01-01T11:00:00Z"))
        .await;
    assert!(
        matches!(backwards, Err(StoreError::InvalidInput { .. })),
        "{backwards:?}"
    );
    store.close().await;
}

fn alert_row(fp: u64, service: &str, ends: &str, body: &str) -> crate::AlertRow {
    crate::AlertRow {
        fingerprint: fp,
        source: "alertmanager".into(),
        service: service.into(),
        starts_at: at("2026-01-01T10:00:00Z"),
        ends_at: at(ends),
        updated_at: at("2026-01-01T10:00:00Z"),
        body: body.into(),
    }
}

async fn alerts_are_replaced_by_fingerprint_and_pruned_when_long_ended(h: Harness) {
    let store = h.open().await.unwrap();
    // The high bit set: fingerprints are u64 and must come back unchanged.
    let big = 0xfedc_ba98_7654_3210_u64;
    store
        .write_alerts(&[
            alert_row(big, "api", "2026-01-01T11:00:00Z", "first"),
            alert_row(7, "db", "2026-01-01T10:30:00Z", "{}"),
        ])
        .await
        .unwrap();
    store
        .write_alerts(&[alert_row(big, "api", "2026-01-01T12:00:00Z", "second")])
        .await
        .unwrap();
    let all = store.alerts_ending_after(Timestamp::MIN).await.unwrap();
    assert_eq!(all.len(), 2);
    let replaced = all.iter().find(|a| a.fingerprint == big).unwrap();
    assert_eq!(
        replaced,
        &alert_row(big, "api", "2026-01-01T12:00:00Z", "second")
    );
    let firing = store
        .alerts_ending_after(at("2026-01-01T10:45:00Z"))
        .await
        .unwrap();
    assert_eq!(
        firing.iter().map(|a| a.fingerprint).collect::<Vec<_>>(),
        vec![big]
    );
    assert_eq!(
        store
            .prune_alerts(at("2026-01-01T11:00:00Z"))
            .await
            .unwrap(),
        1
    );
    store.close().await;
    let store = h.open().await.unwrap();
    assert_eq!(
        store
            .alerts_ending_after(Timestamp::MIN)
            .await
            .unwrap()
            .len(),
        1
    );
    store.close().await;
}

async fn a_large_alert_batch_is_written_whole_and_a_repeated_fingerprint_keeps_its_last_row(
    h: Harness,
) {
    let store = h.open().await.unwrap();
    // More rows than one statement takes, an odd count, and a fingerprint
    // written twice in the batch: the last row of it counts.
    let mut rows: Vec<crate::AlertRow> = (1..=301_u64)
        .map(|fp| alert_row(fp, "api", "2026-01-01T11:00:00Z", &format!("row {fp}")))
        .collect();
    rows.push(alert_row(5, "db", "2026-01-01T12:00:00Z", "again"));
    rows.push(alert_row(u64::MAX, "db", "2026-01-01T12:00:00Z", "max"));
    store.write_alerts(&rows).await.unwrap();
    store.write_alerts(&[]).await.unwrap();
    let all = store.alerts_ending_after(Timestamp::MIN).await.unwrap();
    assert_eq!(all.len(), 302);
    let five = all.iter().find(|a| a.fingerprint == 5).unwrap();
    assert_eq!(five, &alert_row(5, "db", "2026-01-01T12:00:00Z", "again"));
    let max = all.iter().find(|a| a.fingerprint == u64::MAX).unwrap();
    assert_eq!(&*max.body, "max");
    assert_eq!(
        all.iter()
            .find(|a| a.fingerprint == 301)
            .unwrap()
            .body
            .as_ref(),
        "row 301"
    );
    store.close().await;
}

async fn silences_are_kept_by_id(h: Harness) {
    let store = h.open().await.unwrap();
    let mut s = crate::SilenceRow {
        id: "b1ac257e-778f-4baa-a516-1801fe3cab03".to_owned(),
        starts_at: at("2026-01-01T10:00:00Z"),
        ends_at: at("2026-01-01T11:00:00Z"),
        updated_at: at("2026-01-01T10:00:00Z"),
        body: "{\"matchers\":[]}".to_owned(),
    };
    store.put_silence(&s).await.unwrap();
    s.ends_at = at("2026-01-01T10:30:00Z");
    store.put_silence(&s).await.unwrap();
    assert_eq!(store.silences().await.unwrap(), vec![s.clone()]);
    assert_eq!(
        store
            .prune_silences(at("2026-01-01T10:30:00Z"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .prune_silences(at("2026-01-01T10:30:01Z"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.silences().await.unwrap(), vec![]);
    store.close().await;
}

fn incident(id: i64, key: &str, state: &str) -> crate::IncidentRow {
    crate::IncidentRow {
        id,
        group_key: key.to_owned(),
        service: "api".to_owned(),
        state: state.to_owned(),
        urgency: "high".to_owned(),
        opened_at: at("2026-01-01T10:00:00Z"),
        updated_at: at("2026-01-01T10:00:00Z"),
        resolved_at: None,
        body: "{}".to_owned(),
        supersedes: None,
    }
}

fn event(kind: &str) -> crate::NewIncidentEvent {
    crate::NewIncidentEvent {
        at: at("2026-01-01T10:00:00Z"),
        kind: kind.to_owned(),
        actor: "nines".to_owned(),
        body: "{}".to_owned(),
    }
}

async fn incident_updates_of_one_pass_are_written_together_or_not_at_all(h: Harness) {
    let store = h.open().await.unwrap();
    let opened = |g: &str| crate::IncidentWrite {
        incident: incident(0, g, "triggered"),
        events: vec![event("opened")],
        notifications: vec![],
    };
    let ids = store
        .write_incidents(&[opened("g1"), opened("g2")])
        .await
        .unwrap();
    let note = |key: &str| crate::NewNotification {
        idempotency_key: key.to_owned(),
        channel: "webhook".to_owned(),
        target: "http://127.0.0.1:1/hook".to_owned(),
        body: format!("{{\"key\":\"{key}\"}}"),
        created_at: at("2026-01-01T10:00:00Z"),
        not_before: None,
    };
    // One pass updates both: timeline entries and notifications of each.
    let mut acked = incident(ids[1], "g2", "acknowledged");
    acked.urgency = "low".to_owned();
    let back = store
        .write_incidents(&[
            crate::IncidentWrite {
                incident: incident(ids[0], "g1", "triggered"),
                events: vec![event("alerts_joined"), event("alerts_left")],
                notifications: vec![note("a"), note("b")],
            },
            crate::IncidentWrite {
                incident: acked.clone(),
                events: vec![event("acknowledged")],
                notifications: vec![note("c")],
            },
        ])
        .await
        .unwrap();
    assert_eq!(back, ids);
    assert_eq!(store.incident(ids[1]).await.unwrap(), Some(acked));
    let kinds = |id| {
        let store = store.clone();
        async move {
            store
                .incident_events(id)
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        kinds(ids[0]).await,
        vec!["opened", "alerts_joined", "alerts_left"]
    );
    assert_eq!(kinds(ids[1]).await, vec!["opened", "acknowledged"]);
    let due = store
        .due_notifications(at("2026-01-01T10:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter()
            .map(|n| (n.idempotency_key.as_str(), n.incident_id))
            .collect::<Vec<_>>(),
        vec![
            ("a", Some(ids[0])),
            ("b", Some(ids[0])),
            ("c", Some(ids[1]))
        ]
    );
    // A pass that fails half-way (g2's incident cannot become g1's while
    // g1 has one open) writes nothing, not even its first update.
    let failed = store
        .write_incidents(&[
            crate::IncidentWrite {
                incident: incident(ids[0], "g1", "acknowledged"),
                events: vec![event("acknowledged")],
                notifications: vec![note("d")],
            },
            crate::IncidentWrite {
                incident: incident(ids[1], "g1", "triggered"),
                events: vec![],
                notifications: vec![],
            },
        ])
        .await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(
        store.incident(ids[0]).await.unwrap().unwrap().state,
        "triggered"
    );
    assert_eq!(kinds(ids[0]).await.len(), 3);
    assert_eq!(
        store
            .due_notifications(at("2026-01-01T10:00:00Z"), 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // The store still writes after the failure.
    store
        .write_incidents(&[crate::IncidentWrite {
            incident: incident(ids[0], "g1", "resolved"),
            events: vec![event("resolved")],
            notifications: vec![],
        }])
        .await
        .unwrap();
    assert_eq!(kinds(ids[0]).await.len(), 4);
    store.close().await;
}

async fn alerts_and_incident_updates_are_written_together(h: Harness) {
    let store = h.open().await.unwrap();
    let ids = store
        .write_incidents(&[crate::IncidentWrite {
            incident: incident(0, "g1", "triggered"),
            events: vec![event("opened")],
            notifications: vec![],
        }])
        .await
        .unwrap();
    let note = crate::NewNotification {
        idempotency_key: "k".to_owned(),
        channel: "webhook".to_owned(),
        target: "http://127.0.0.1:1/hook".to_owned(),
        body: "{}".to_owned(),
        created_at: at("2026-01-01T10:00:00Z"),
        not_before: None,
    };
    let update = |state: &str| crate::IncidentWrite {
        incident: incident(ids[0], "g1", state),
        events: vec![event("alerts_joined")],
        notifications: vec![note.clone()],
    };
    let (alerts, updates) = store
        .write_alerts_and_updates(
            &[alert_row(1, "api", "2026-01-01T11:00:00Z", "one")],
            &[update("acknowledged")],
        )
        .await;
    alerts.unwrap();
    updates.unwrap();
    assert_eq!(
        store
            .alerts_ending_after(Timestamp::MIN)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.incident(ids[0]).await.unwrap().unwrap().state,
        "acknowledged"
    );
    assert_eq!(store.incident_events(ids[0]).await.unwrap().len(), 2);
    let due = store
        .due_notifications(at("2026-01-01T10:00:00Z"), 10)
        .await;
    assert_eq!(due.unwrap().len(), 1);
    // Either part alone, and an update that opens an incident (the general
    // path), are written too.
    let (alerts, updates) = store
        .write_alerts_and_updates(&[alert_row(2, "api", "2026-01-01T11:00:00Z", "two")], &[])
        .await;
    alerts.unwrap();
    updates.unwrap();
    let (alerts, updates) = store
        .write_alerts_and_updates(&[], &[update("triggered")])
        .await;
    alerts.unwrap();
    updates.unwrap();
    let (alerts, updates) = store
        .write_alerts_and_updates(
            &[alert_row(3, "api", "2026-01-01T11:00:00Z", "three")],
            &[crate::IncidentWrite {
                incident: incident(0, "g2", "triggered"),
                events: vec![event("opened")],
                notifications: vec![],
            }],
        )
        .await;
    alerts.unwrap();
    updates.unwrap();
    assert_eq!(
        store
            .alerts_ending_after(Timestamp::MIN)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(store.incidents(true, 10).await.unwrap().len(), 2);
    // An update that fails (g2's incident cannot become g1's while g1 has
    // one open) fails where it is written with alerts.
    let open = store.incidents(true, 10).await.unwrap();
    let g2 = open.iter().find(|i| i.group_key == "g2").unwrap().id;
    let (_, updates) = store
        .write_alerts_and_updates(
            &[alert_row(4, "api", "2026-01-01T11:00:00Z", "four")],
            &[crate::IncidentWrite {
                incident: incident(g2, "g1", "triggered"),
                events: vec![],
                notifications: vec![],
            }],
        )
        .await;
    assert!(updates.is_err(), "{updates:?}");
    store.close().await;
}

async fn one_open_incident_per_group_with_its_timeline_and_outbox(h: Harness) {
    let store = h.open().await.unwrap();
    let note = crate::NewNotification {
        idempotency_key: "inc-1-v1".to_owned(),
        channel: "webhook".to_owned(),
        target: "http://127.0.0.1:1/hook".to_owned(),
        body: "{}".to_owned(),
        created_at: at("2026-01-01T10:00:00Z"),
        not_before: None,
    };
    let ids = store
        .write_incidents(&[crate::IncidentWrite {
            incident: incident(0, "g1", "triggered"),
            events: vec![event("opened"), event("alert_joined")],
            notifications: vec![note.clone()],
        }])
        .await
        .unwrap();
    let id = ids[0];
    assert!(id > 0);
    // A second open incident for the same group is refused, and nothing of
    // that write is kept.
    let again = store
        .write_incidents(&[
            crate::IncidentWrite {
                incident: incident(0, "g2", "triggered"),
                events: vec![],
                notifications: vec![],
            },
            crate::IncidentWrite {
                incident: incident(0, "g1", "triggered"),
                events: vec![],
                notifications: vec![],
            },
        ])
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(store.incidents(false, 10).await.unwrap().len(), 1);
    // Resolving it frees the group for a new incident.
    let mut resolved = incident(id, "g1", "resolved");
    resolved.resolved_at = Some(at("2026-01-01T10:05:00Z"));
    store
        .write_incidents(&[crate::IncidentWrite {
            incident: resolved.clone(),
            events: vec![event("resolved")],
            notifications: vec![note.clone()],
        }])
        .await
        .unwrap();
    let second = store
        .write_incidents(&[crate::IncidentWrite {
            incident: incident(0, "g1", "triggered"),
            events: vec![],
            notifications: vec![],
        }])
        .await
        .unwrap()[0];
    assert!(second > id);
    assert_eq!(store.incident(id).await.unwrap(), Some(resolved));
    assert_eq!(store.incident(id + 1000).await.unwrap(), None);
    let open = store.incidents(true, 10).await.unwrap();
    assert_eq!(open.iter().map(|i| i.id).collect::<Vec<_>>(), vec![second]);
    let kinds: Vec<String> = store
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec!["opened", "alert_joined", "resolved"]);
    // The entries of some kinds of the open incidents only, oldest first.
    store
        .write_incidents(&[crate::IncidentWrite {
            incident: incident(second, "g1", "triggered"),
            events: vec![event("alert_joined"), event("note"), event("alert_left")],
            notifications: vec![],
        }])
        .await
        .unwrap();
    let told = store
        .open_incident_events(&["alert_joined", "alert_left"])
        .await
        .unwrap();
    let told: Vec<(i64, String)> = told.into_iter().map(|e| (e.incident_id, e.kind)).collect();
    assert_eq!(
        told,
        [
            (second, "alert_joined".to_owned()),
            (second, "alert_left".to_owned())
        ]
    );
    assert!(store.open_incident_events(&[]).await.unwrap().is_empty());

    // The notification was queued once (same idempotency key twice).
    let due = store
        .due_notifications(at("2026-01-01T10:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!((due[0].incident_id, due[0].attempts), (Some(id), 0));
    let retry_at = at("2026-01-01T10:01:00Z");
    store
        .record_attempt(
            due[0].id,
            &crate::Attempt::Retry {
                at: at("2026-01-01T10:00:01Z"),
                error: "connection refused".to_owned(),
                next_attempt_at: retry_at,
            },
            Some(&event("notification_failed")),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .due_notifications(at("2026-01-01T10:00:30Z"), 10)
            .await
            .unwrap(),
        vec![]
    );
    let due = store.due_notifications(retry_at, 10).await.unwrap();
    assert_eq!(
        (due[0].attempts, due[0].last_error.as_str()),
        (1, "connection refused")
    );
    store
        .record_attempt(due[0].id, &crate::Attempt::Delivered { at: retry_at }, None)
        .await
        .unwrap();
    assert_eq!(
        store.due_notifications(Timestamp::MAX, 10).await.unwrap(),
        vec![]
    );
    assert_eq!(store.incident_events(id).await.unwrap().len(), 4);
    let missing = store
        .record_attempt(999_999, &crate::Attempt::Delivered { at: retry_at }, None)
        .await;
    assert!(
        matches!(missing, Err(StoreError::InvalidInput { .. })),
        "{missing:?}"
    );

    // What an attempt decides is written with it: a follow-up is inserted
    // once and its timeline entry written once; a replacing one (a digest
    // that gained an item) replaces the body while it is pending.
    let follow = |key: &str, body: &str, replace: bool| crate::FollowUp {
        incident_id: Some(id),
        notifications: vec![crate::NewNotification {
            idempotency_key: key.to_owned(),
            channel: "json".to_owned(),
            target: "http://fallback".to_owned(),
            body: body.to_owned(),
            created_at: retry_at,
            not_before: None,
        }],
        replace,
        event_if_new: Some(event("fallback_used")),
    };
    let fresh = crate::NewNotification {
        idempotency_key: "contract-primary".to_owned(),
        channel: "json".to_owned(),
        target: "http://primary".to_owned(),
        body: "{}".to_owned(),
        created_at: retry_at,
        not_before: None,
    };
    let mut inc = store.incident(id).await.unwrap().unwrap();
    inc.updated_at = retry_at;
    store
        .write_incidents(&[crate::IncidentWrite {
            incident: inc,
            events: vec![],
            notifications: vec![fresh],
        }])
        .await
        .unwrap();
    let primary = store.due_notifications(retry_at, 10).await.unwrap();
    assert_eq!(primary.len(), 1);
    let failed = crate::Attempt::GaveUp {
        at: retry_at,
        error: "refused".to_owned(),
    };
    let first = store
        .record_attempt_with(
            primary[0].id,
            &failed,
            None,
            &follow("contract-fb", "{}", false),
        )
        .await
        .unwrap();
    let again = store
        .record_attempt_with(
            primary[0].id,
            &failed,
            None,
            &follow("contract-fb", "{\"x\":1}", false),
        )
        .await
        .unwrap();
    assert!(first && !again);
    let due = store.due_notifications(retry_at, 10).await.unwrap();
    assert_eq!((due.len(), due[0].body.as_str()), (1, "{}"));
    assert_eq!(due[0].incident_id, Some(id));
    store
        .record_attempt_with(
            primary[0].id,
            &failed,
            None,
            &follow("contract-fb", "{\"x\":2}", true),
        )
        .await
        .unwrap();
    let fallbacks = store
        .incident_events(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "fallback_used")
        .count();
    assert_eq!(
        fallbacks, 2,
        "once for the first insert, once for the replacement"
    );
    let digest = follow("contract-digest", "{\"items\":1}", true);
    let held = crate::Attempt::Held {
        at: retry_at,
        note: "held for a digest".to_owned(),
    };
    let pending = crate::NewNotification {
        idempotency_key: "contract-held".to_owned(),
        ..digest.notifications[0].clone()
    };
    let mut inc = store.incident(id).await.unwrap().unwrap();
    inc.updated_at = retry_at;
    store
        .write_incidents(&[crate::IncidentWrite {
            incident: inc,
            events: vec![],
            notifications: vec![pending],
        }])
        .await
        .unwrap();
    let due = store.due_notifications(retry_at, 10).await.unwrap();
    let held_id = due
        .iter()
        .find(|n| n.idempotency_key == "contract-held")
        .unwrap()
        .id;
    store
        .record_attempt_with(held_id, &held, None, &digest)
        .await
        .unwrap();
    let mut grown = follow("contract-digest", "{\"items\":2}", true);
    grown.event_if_new = None;
    let again_id = store
        .due_notifications(retry_at, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.idempotency_key == "contract-digest")
        .unwrap()
        .id;
    // The digest itself: its body replaced while pending.
    store
        .record_attempt_with(
            again_id,
            &crate::Attempt::Retry {
                at: retry_at,
                error: "e".to_owned(),
                next_attempt_at: retry_at,
            },
            None,
            &grown,
        )
        .await
        .unwrap();
    let due = store.due_notifications(retry_at, 10).await.unwrap();
    let digest_row = due
        .iter()
        .find(|n| n.idempotency_key == "contract-digest")
        .unwrap();
    assert_eq!(digest_row.body, "{\"items\":2}");
    assert!(
        due.iter().all(|n| n.idempotency_key != "contract-held"),
        "a held page is done"
    );
    store.close().await;
}

async fn an_open_incident_may_have_one_open_successor_in_its_group(h: Harness) {
    let store = h.open().await.unwrap();
    let write = |i: crate::IncidentRow| crate::IncidentWrite {
        incident: i,
        events: vec![event("opened")],
        notifications: vec![],
    };
    let first = store
        .write_incidents(&[write(incident(0, "g1", "triggered"))])
        .await
        .unwrap()[0];
    // A group whose window passed opens the next incident as the successor
    // of the one still open; both are open, and the successor says whose.
    let mut next = incident(0, "g1", "triggered");
    next.supersedes = Some(first);
    let second = store.write_incidents(&[write(next.clone())]).await.unwrap()[0];
    assert!(second > first);
    let open = store.incidents(true, 10).await.unwrap();
    assert_eq!(
        open.iter()
            .map(|i| (i.id, i.supersedes))
            .collect::<Vec<_>>(),
        vec![(second, Some(first)), (first, None)]
    );
    // A second successor of the same incident, or a second first one, is
    // refused: a retried pass cannot open the same incident twice.
    for again in [next.clone(), incident(0, "g1", "triggered")] {
        let refused = store.write_incidents(&[write(again)]).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{refused:?}"
        );
    }
    assert_eq!(store.incidents(false, 10).await.unwrap().len(), 2);
    // An update keeps the predecessor as inserted, in the engine's batch of
    // updates as in its general path.
    let mut updated = store.incident(second).await.unwrap().unwrap();
    updated.body = "{\"title\":\"later\"}".to_owned();
    let mut without = updated.clone();
    without.supersedes = None;
    store.write_incidents(&[write(without)]).await.unwrap();
    assert_eq!(store.incident(second).await.unwrap(), Some(updated.clone()));
    // Once the first resolves, its successor chain goes on: the next one
    // may succeed the second.
    let mut resolved = store.incident(first).await.unwrap().unwrap();
    resolved.state = "resolved".to_owned();
    resolved.resolved_at = Some(at("2026-01-01T11:00:00Z"));
    store.write_incidents(&[write(resolved)]).await.unwrap();
    let mut third = incident(0, "g1", "triggered");
    third.supersedes = Some(second);
    let third = store.write_incidents(&[write(third)]).await.unwrap()[0];
    let open = store.incidents(true, 10).await.unwrap();
    assert_eq!(
        open.iter()
            .map(|i| (i.id, i.supersedes))
            .collect::<Vec<_>>(),
        vec![(third, Some(second)), (second, Some(first))]
    );
    store.close().await;
}

async fn changes_are_listed_per_service_since_a_time(h: Harness) {
    let store = h.open().await.unwrap();
    let change = |service: &str, t: &str| crate::NewChange {
        service: service.to_owned(),
        at: at(t),
        summary: "deploy v1.4".to_owned(),
        body: "{}".to_owned(),
    };
    store
        .record_change(&change("api", "2026-01-01T09:00:00Z"))
        .await
        .unwrap();
    let c = store
        .record_change(&change("api", "2026-01-01T10:00:00Z"))
        .await
        .unwrap();
    store
        .record_change(&change("db", "2026-01-01T10:00:00Z"))
        .await
        .unwrap();
    assert_eq!(
        store
            .changes("api", at("2026-01-01T09:30:00Z"))
            .await
            .unwrap(),
        vec![c]
    );
    store.close().await;
}

async fn heartbeats_are_known_from_first_sight_and_keep_their_latest_ping(h: Harness) {
    let store = h.open().await.unwrap();
    let t = |s: i64| Timestamp::from_second(1_790_000_000 + s).unwrap();
    let known = vec![
        ("api".to_owned(), "backup".to_owned()),
        ("api".to_owned(), "cron".to_owned()),
    ];
    let rows = store.heartbeats(&known, t(0)).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.since == t(0) && r.last_ping_at.is_none())
    );
    // Seen again later: still known from the first time.
    store.record_ping("api", "backup", t(60)).await.unwrap();
    store.record_ping("api", "backup", t(30)).await.unwrap();
    let rows = store.heartbeats(&known, t(120)).await.unwrap();
    assert_eq!(rows[0].name, "backup");
    assert_eq!(rows[0].since, t(0));
    assert_eq!(
        rows[0].last_ping_at,
        Some(t(60)),
        "an older ping changes nothing"
    );
    assert_eq!(rows[1].last_ping_at, None);
    // A ping for a heartbeat not seen yet is known from that ping.
    store.record_ping("web", "probe", t(200)).await.unwrap();
    store.close().await;
    let store = h.open().await.unwrap();
    let rows = store.heartbeats(&[], t(300)).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[2].since, t(200));
    assert_eq!(rows[2].last_ping_at, Some(t(200)));
}

async fn maintenance_windows_are_kept_and_an_idempotency_key_opens_one(h: Harness) {
    let store = h.open().await.unwrap();
    let t = |s: i64| Timestamp::from_second(1_790_000_000 + s).unwrap();
    let row = |id: &str, key: Option<&str>, body: &str| crate::WindowRow {
        id: id.to_owned(),
        idempotency_key: key.map(str::to_owned),
        created_at: t(0),
        updated_at: t(0),
        body: body.to_owned(),
    };
    let first = row("w1", Some("deploy-42"), r#"{"description":"deploy"}"#);
    assert_eq!(store.create_window(&first).await.unwrap(), first);
    // The same key again (a retried script): the first window comes back
    // and nothing new is stored.
    let retry = row("w2", Some("deploy-42"), r#"{"description":"again"}"#);
    assert_eq!(store.create_window(&retry).await.unwrap(), first);
    // Windows without a key never collide.
    let a = row("w3", None, "{}");
    let b = row("w4", None, "{}");
    store.create_window(&a).await.unwrap();
    store.create_window(&b).await.unwrap();
    let mut ended = first.clone();
    ended.updated_at = t(60);
    ended.body = r#"{"description":"deploy","stoppedAt":"x"}"#.to_owned();
    assert!(store.update_window(&ended).await.unwrap());
    assert!(!store.update_window(&row("nope", None, "{}")).await.unwrap());
    store.close().await;
    let store = h.open().await.unwrap();
    let ids: Vec<String> = store
        .windows()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(ids, ["w1", "w3", "w4"]);
    assert_eq!(store.windows().await.unwrap()[0], ended);
}

async fn schedule_overrides_are_kept_listed_in_order_and_deleted(h: Harness) {
    use crate::NewScheduleOverride;
    let store = h.open().await.unwrap();
    let t = |s: i64| Timestamp::from_second(1_790_000_000 + s).unwrap();
    let new = |schedule: &str, person: &str, from: i64, to: i64| NewScheduleOverride {
        schedule: schedule.to_owned(),
        person: person.to_owned(),
        starts_at: t(from),
        ends_at: t(to),
        reason: format!("{person} covers"),
        created_by: "alice".to_owned(),
        created_at: t(0),
    };
    let a = store
        .add_schedule_override(&new("primary", "bob", 100, 200))
        .await
        .unwrap();
    assert_eq!(a.person, "bob");
    assert_eq!(
        (a.starts_at, a.ends_at, a.created_at),
        (t(100), t(200), t(0))
    );
    let b = store
        .add_schedule_override(&new("primary", "carol", 150, 400))
        .await
        .unwrap();
    store
        .add_schedule_override(&new("secondary", "dave", 0, 50))
        .await
        .unwrap();
    assert!(b.id > a.id);
    // An override that ends before it starts is refused before any SQL.
    let err = store
        .add_schedule_override(&new("primary", "bob", 300, 300))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidInput { .. }), "{err:?}");

    let listed = store
        .schedule_overrides(Some("primary"), t(0))
        .await
        .unwrap();
    assert_eq!(listed, vec![a.clone(), b.clone()], "oldest first");
    // Those that ended by then are left out.
    let listed = store
        .schedule_overrides(Some("primary"), t(200))
        .await
        .unwrap();
    assert_eq!(listed, vec![b.clone()]);
    assert_eq!(store.schedule_overrides(None, t(0)).await.unwrap().len(), 3);

    // Kept across a restart; deleted once, by its schedule and id.
    store.close().await;
    let store = h.open().await.unwrap();
    assert!(
        !store
            .delete_schedule_override("secondary", a.id)
            .await
            .unwrap()
    );
    assert!(
        store
            .delete_schedule_override("primary", a.id)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_schedule_override("primary", a.id)
            .await
            .unwrap()
    );
    let listed = store
        .schedule_overrides(Some("primary"), t(0))
        .await
        .unwrap();
    assert_eq!(listed, vec![b]);
    store.close().await;
}

async fn exhausted_budgets_are_kept_replaced_and_cleared(h: Harness) {
    let store = h.open().await.unwrap();
    assert!(store.budget_exhaustions().await.unwrap().is_empty());
    let first = at("2026-01-01T10:00:00Z");
    store
        .set_budget_exhausted("checkout/0", Some(first))
        .await
        .unwrap();
    store
        .set_budget_exhausted("api/1", Some(at("2026-01-01T11:30:00.000001Z")))
        .await
        .unwrap();
    // Clearing a series that is not exhausted is not an error.
    store.set_budget_exhausted("web/0", None).await.unwrap();
    let listed = store.budget_exhaustions().await.unwrap();
    let expected = vec![
        BudgetExhaustion {
            series: "api/1".to_owned(),
            since: at("2026-01-01T11:30:00.000001Z"),
        },
        BudgetExhaustion {
            series: "checkout/0".to_owned(),
            since: first,
        },
    ];
    assert_eq!(listed, expected, "ordered by series, to the microsecond");
    // Entering again replaces the moment; leaving removes the row.
    let again = at("2026-01-02T08:00:00Z");
    store
        .set_budget_exhausted("checkout/0", Some(again))
        .await
        .unwrap();
    store.set_budget_exhausted("api/1", None).await.unwrap();
    store.close().await;
    let store = h.open().await.unwrap();
    assert_eq!(
        store.budget_exhaustions().await.unwrap(),
        vec![BudgetExhaustion {
            series: "checkout/0".to_owned(),
            since: again,
        }],
        "survives close and reopen"
    );
    store.close().await;
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod sqlite_contract {
            $(
                #[tokio::test]
                async fn $test() {
                    super::run_on_sqlite(super::$test).await;
                }
            )*
        }
        mod postgres_contract {
            $(
                #[tokio::test]
                async fn $test() {
                    super::run_on_postgres(super::$test).await;
                }
            )*
        }
    };
}

contract!(
    fresh_store_is_at_the_newest_schema_and_empty,
    recorded_revision_reads_back_exactly,
    recording_the_latest_hash_again_writes_nothing,
    revisions_are_listed_newest_first_up_to_the_limit,
    revisions_survive_close_and_reopen,
    closed_store_says_so,
    upgrade_from_an_older_schema_keeps_the_data,
    store_from_a_newer_nines_is_refused,
    applied_sli_batch_reads_back_ordered_by_series_minute_and_maintenance,
    sli_buckets_since_includes_the_given_minute,
    batch_sent_again_with_its_key_is_counted_once,
    batches_without_a_key_are_counted_every_time,
    rows_of_one_batch_for_the_same_bucket_add_up,
    empty_batch_with_a_key_is_recorded,
    batch_with_a_count_that_cannot_be_stored_is_refused_whole,
    old_buckets_and_keys_are_pruned,
    sli_data_survives_close_and_reopen,
    concurrent_batches_with_one_key_apply_once,
    concurrent_batches_without_keys_all_count,
    gate_overrides_are_in_force_until_they_expire,
    alerts_are_replaced_by_fingerprint_and_pruned_when_long_ended,
    a_large_alert_batch_is_written_whole_and_a_repeated_fingerprint_keeps_its_last_row,
    silences_are_kept_by_id,
    one_open_incident_per_group_with_its_timeline_and_outbox,
    alerts_and_incident_updates_are_written_together,
    incident_updates_of_one_pass_are_written_together_or_not_at_all,
    an_open_incident_may_have_one_open_successor_in_its_group,
    changes_are_listed_per_service_since_a_time,
    heartbeats_are_known_from_first_sight_and_keep_their_latest_ping,
    maintenance_windows_are_kept_and_an_idempotency_key_opens_one,
    schedule_overrides_are_kept_listed_in_order_and_deleted,
    exhausted_budgets_are_kept_replaced_and_cleared,
);

fn sqlite_harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    Harness {
        // A directory that does not exist yet, to show that it is created.
        location: StoreLocation::Sqlite {
            data_dir: dir.path().join("state"),
        },
        _dir: Some(dir),
    }
}

async fn run_on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()>,
{
    test(sqlite_harness()).await;
}

/// Runs `test` against a new PostgreSQL database, dropping it afterwards even
/// when the test fails.
async fn run_on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Harness) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let database = TestDatabase::create(&admin_url).await;
    let harness = Harness {
        location: StoreLocation::Postgres {
            url: database.url.clone(),
        },
        _dir: None,
    };
    // Spawned so that a failing assertion comes back as a value and the
    // database is still dropped before the panic goes on.
    let outcome = tokio::spawn(test(harness)).await;
    database.drop().await;
    if let Err(error) = outcome {
        resume_unwind(error.into_panic());
    }
}

fn postgres_admin_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("SKIPPED: postgres contract tests: set {POSTGRES_URL_VAR}");
            None
        }
    }
}

struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    async fn create(admin_url: &str) -> Self {
        let name = unique_database_name();
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|error| panic!("{POSTGRES_URL_VAR}: cannot connect: {error}"));
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        admin.close().await.unwrap();
        TestDatabase {
            admin_url: admin_url.to_owned(),
            url: with_database(admin_url, &name),
            name,
        }
    }

    async fn drop(self) {
        let mut admin = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        // FORCE ends connections that a dropped-but-not-closed pool left open.
        sqlx::raw_sql(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
    }
}

/// A name no other test, in this process or another, is using.
fn unique_database_name() -> String {
    use std::hash::{BuildHasher, RandomState};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let random = RandomState::new().hash_one(Timestamp::now());
    format!(
        "nines_test_{}_{}_{random:016x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// `url` with its database replaced by `database`, keeping any parameters.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{database}?{query}"),
        None => format!("{scheme}://{authority}/{database}"),
    }
}

// ---------------------------------------------------------------------------
// What only one engine has.
// ---------------------------------------------------------------------------

mod sqlite_only {
    use super::*;

    #[tokio::test]
    async fn second_open_of_a_data_dir_is_refused_until_the_first_closes() {
        let h = sqlite_harness();
        let StoreLocation::Sqlite { data_dir } = &h.location else {
            unreachable!()
        };
        let first = h.open().await.unwrap();

        let error = match h.open().await {
            Err(error) => error,
            Ok(_) => panic!("two stores opened the same data dir"),
        };
        let absolute = std::path::absolute(data_dir).unwrap();
        assert!(
            matches!(&error, StoreError::Locked { data_dir: d, lock_file }
                if *d == absolute && *lock_file == absolute.join("nines.lock")),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "data dir {} is in use by another nines process (lock file {}/nines.lock)",
                absolute.display(),
                absolute.display()
            )),
            "{message}"
        );

        first.close().await;
        let second = h.open().await.unwrap();
        second.ping().await.unwrap();
        drop(second);
        let third = h.open().await.unwrap();
        third.ping().await.unwrap();
        third.close().await;
    }

    #[tokio::test]
    async fn data_dir_that_cannot_be_created_is_a_data_dir_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "not a directory").unwrap();
        let data_dir = file.join("state");

        let error = match crate::open(&StoreLocation::Sqlite {
            data_dir: data_dir.clone(),
        })
        .await
        {
            Err(error) => error,
            Ok(_) => panic!("opened a store under a regular file"),
        };
        assert!(
            matches!(&error, StoreError::DataDir { path, .. } if *path == data_dir),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains(&*data_dir.to_string_lossy()), "{message}");
        assert!(message.contains("os error"), "{message}");
    }

    #[tokio::test]
    async fn description_names_the_database_file() {
        let h = sqlite_harness();
        let StoreLocation::Sqlite { data_dir } = &h.location else {
            unreachable!()
        };
        let store = h.open().await.unwrap();
        let expected: PathBuf = data_dir.join("nines.db");
        assert_eq!(store.describe(), format!("sqlite {}", expected.display()));
        store.close().await;
    }
}

mod postgres_only {
    use super::*;

    #[tokio::test]
    async fn unreachable_server_fails_fast_naming_the_server_but_not_the_password() {
        let started = Instant::now();
        let location = StoreLocation::parse(
            Some("postgres://postgres:hunter2@127.0.0.1:1/x"),
            std::path::Path::new("/unused"),
        )
        .unwrap();
        let error = match crate::open(&location).await {
            Err(error) => error,
            Ok(_) => panic!("connected to port 1"),
        };
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{:?}",
            started.elapsed()
        );
        assert!(
            matches!(&error, StoreError::Unavailable { target, .. } if target == "postgres 127.0.0.1:1/x"),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("127.0.0.1:1"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
        assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
    }

    /// Nodes of a cluster start together; the migration lock must make them
    /// take turns instead of both creating the same tables, and the revision
    /// lock must leave one revision when they all record the same file.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn nodes_starting_together_migrate_once_and_record_once() {
        run_on_postgres(|h: Harness| async move {
            let mut opening = tokio::task::JoinSet::new();
            for _ in 0..4 {
                let location = h.location.clone();
                opening.spawn(async move { crate::open(&location).await });
            }
            let mut stores = Vec::new();
            while let Some(opened) = opening.join_next().await {
                stores.push(opened.unwrap().unwrap());
            }
            for store in &stores {
                assert_eq!(
                    store.schema_version().await.unwrap(),
                    migrate::newest(h.migrations())
                );
            }

            let mut recording = tokio::task::JoinSet::new();
            for store in &stores {
                let store = Arc::clone(store);
                recording.spawn(async move {
                    store
                        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
                        .await
                });
            }
            let mut recorded = Vec::new();
            while let Some(result) = recording.join_next().await {
                recorded.push(result.unwrap().unwrap());
            }
            assert!(recorded.windows(2).all(|w| w[0] == w[1]), "{recorded:?}");
            assert_eq!(
                stores[0].config_revisions(10).await.unwrap(),
                vec![recorded[0].clone()]
            );
            for store in stores {
                store.close().await;
            }
        })
        .await;
    }

    #[test]
    fn database_is_swapped_and_parameters_are_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
    }
}
