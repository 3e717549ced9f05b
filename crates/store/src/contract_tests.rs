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
use crate::{Engine, NewConfigRevision, Store, StoreError, StoreLocation};

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
}

async fn upgrade_from_an_older_schema_keeps_the_data(h: Harness) {
    // A release after this one: everything known now, plus one more step that
    // both dialects can run unchanged.
    let mut newer = h.migrations().to_vec();
    newer.push(Migration {
        version: migrate::newest(h.migrations()) + 1,
        name: "contract_test_upgrade",
        sql: "ALTER TABLE config_revisions ADD COLUMN note TEXT;
              CREATE TABLE upgrade_probe (id BIGINT PRIMARY KEY);",
    });
    // The oldest release with a config history, so that the upgrade applies
    // several migrations in a row, as for someone who skipped releases.
    let older = &newer[..1];

    let store = h.open_with(older).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), 1);
    let recorded = store
        .record_config_revision(&revision("a", "2026-01-01T00:00:00Z"))
        .await
        .unwrap();
    store.close().await;

    let store = h.open_with(&newer).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        migrate::newest(&newer)
    );
    assert_eq!(
        store.config_revisions(10).await.unwrap(),
        vec![recorded.clone()]
    );
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
