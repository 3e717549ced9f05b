//! The embedded store: `nines.db` in the data directory.
//!
//! SQLite allows one writer at a time. Rather than let writers queue on the
//! database lock (and meet `SQLITE_BUSY` when the queue is long), all writes go
//! through exactly one connection, and reads use a separate pool that WAL
//! lets run alongside it. The data directory is locked for the store's
//! lifetime, so a second nines pointed at it stops at once instead of sharing
//! the single writer with a stranger.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{OwnedMappedMutexGuard, OwnedMutexGuard};

use crate::alert_segments;
use crate::config_revision::{self, RevisionRow, timestamp_micros};
use crate::gate_override::{self, GateOverride, NewGateOverride};
use crate::migrate::{self, Migration};
use crate::sli_bucket::{self, BucketColumns};
use crate::{
    BatchOutcome, BucketRow, ConfigRevision, Engine, NewConfigRevision, Store, StoreError,
};

/// The database file inside the data directory.
pub(crate) const DB_FILE: &str = "nines.db";

/// The file whose exclusive lock marks the data directory as in use.
pub(crate) const LOCK_FILE: &str = "nines.lock";

/// How long a statement waits for a lock held by another connection, such as
/// a reader's during a checkpoint, before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer's page cache, in KiB (SQLite's default is 2,000). It was 16
/// MiB while alerts were keyed by their random fingerprint (every alert
/// written touched its own page); since schema 9 writes append, so a
/// commit touches the few pages its rows fill plus the index tails, and
/// the larger cache was only held memory (16 MiB of nines' ~120 MB with
/// 100,000 alerts).
const WRITER_CACHE_KIB: u32 = 4_096;

/// WAL pages between automatic checkpoints (SQLite's default is 1,000):
/// 16 MiB of WAL, whatever the page size.
const WRITER_WAL_PAGES: u32 = 16 * 1024 * 1024 / PAGE_SIZE;

/// The page size of a database nines creates (SQLite's default is 4 KiB;
/// one made before keeps its own). SQLite writes each WAL frame, and each
/// page it checkpoints, with a system call of its own: with 4 KiB pages,
/// 100,000 alerts took about 28,000 of them. A larger page takes a fourth
/// of those for the same bytes; 64 KiB pages cost more than they saved
/// (each insert moves more of its page, and a small commit still rewrites
/// a whole last page).
const PAGE_SIZE: u32 = 16_384;

/// Readers run in parallel under WAL; a handful covers the API and the
/// evaluator without holding many file descriptors.
const READERS: u32 = 4;

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
) STRICT";

/// `BEGIN IMMEDIATE` takes the write lock at the start of the transaction, so
/// a transaction that reads and then writes cannot fail half-way on `SQLITE_BUSY`.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How many buckets one upsert statement writes. A batch is written with the
/// largest that fit, so 100 buckets take three statements (64 + 32 + 4), and
/// the writer's statement cache holds only these few distinct statements
/// rather than one per batch size.
const UPSERT_CHUNKS: [usize; 7] = [64, 32, 16, 8, 4, 2, 1];

/// The upsert for each of [`UPSERT_CHUNKS`], built once. Only placeholders
/// vary between them; the values are always bound, never spliced in.
static UPSERT_SQL: LazyLock<[String; UPSERT_CHUNKS.len()]> =
    LazyLock::new(|| UPSERT_CHUNKS.map(upsert_sql));

fn upsert_sql(buckets: usize) -> String {
    let values = vec!["(?, ?, ?, ?, ?)"; buckets].join(", ");
    format!(
        "INSERT INTO sli_buckets (series, minute, maintenance, good, total) VALUES {values}
         ON CONFLICT (series, minute, maintenance) DO UPDATE
         SET good = sli_buckets.good + excluded.good,
             total = sli_buckets.total + excluded.total"
    )
}

/// The largest upsert for at most `buckets` buckets, and how many it writes.
fn upsert_for(buckets: usize) -> (&'static str, usize) {
    // The smallest size is one bucket, which fits any batch left to write.
    let index = UPSERT_CHUNKS
        .iter()
        .position(|&size| size <= buckets)
        .unwrap_or(UPSERT_CHUNKS.len() - 1);
    (UPSERT_SQL[index].as_str(), UPSERT_CHUNKS[index])
}

/// How many segments one delete statement names: a power of two, the list
/// padded up to it by repeating the last one (a repeated delete finds
/// nothing), so that the writer's statement cache holds a handful of
/// statements rather than one per count.
const DELETE_CHUNK_MAX: usize = 256;

/// `DELETE ... x segments [; COMMIT]`: the segments a write leaves with no
/// live alert, by `seq`.
fn segment_delete_sql(segments: usize, commit: bool) -> String {
    let seqs = vec!["?"; segments].join(", ");
    format!(
        "DELETE FROM alert_segments WHERE seq IN ({seqs}){}",
        if commit { "; COMMIT" } else { "" },
    )
}

/// The statements of an alert write: the insert of its segment, by whether
/// it commits the transaction (it always begins it), and the deletes by
/// chunk size (index = log2 of it) and whether they commit. A write that
/// leaves no segment empty is one statement, one round trip (see
/// [`SqliteStore::raw_tx`]).
struct AlertSql {
    insert: [String; 2],
    delete: [Vec<String>; 2],
}

static ALERT_SQL: LazyLock<AlertSql> = LazyLock::new(|| {
    let sizes = || (0..=DELETE_CHUNK_MAX.trailing_zeros()).map(|p| 1_usize << p);
    let insert = |commit| {
        format!(
            "BEGIN IMMEDIATE; INSERT INTO alert_segments (seq, rows) VALUES (?, ?){}",
            if commit { "; COMMIT" } else { "" }
        )
    };
    let delete = |commit| sizes().map(|n| segment_delete_sql(n, commit)).collect();
    AlertSql {
        insert: [insert(false), insert(true)],
        delete: [delete(false), delete(true)],
    }
});

/// The alerts' segments as the store knows them (see
/// [`alert_segments::Index`]), and whether that may be out of date: a write
/// whose outcome is not known (it failed, or its future was dropped) may
/// have committed, so the index is read again before the next write.
struct AlertIndex {
    index: alert_segments::Index,
    stale: bool,
    /// The buffers each write encodes its segment in.
    scratch: alert_segments::Scratch,
    /// The segments as read at open, for the first read of the alerts
    /// (the hub's load, just after): each segment is then decoded (and
    /// decompressed) once at start-up, not twice. Dropped by that read or
    /// by the first write, whichever comes first.
    loaded: Option<Vec<(i64, Vec<crate::AlertRow>)>>,
}

pub(crate) struct SqliteStore {
    /// The one connection that writes, for the store's lifetime (`None`
    /// once closed). Not in a pool: sqlx's pool pings a connection each
    /// time it is given back (a round trip to the connection's worker
    /// thread, two thread wake-ups, per write).
    writer: Arc<tokio::sync::Mutex<Option<SqliteConnection>>>,
    reader: SqlitePool,
    target: String,
    /// Set while a transaction may be open on the writer (every write's is
    /// begun in SQL text, see [`WriteTx`]): a write whose future was
    /// dropped half-way leaves it set, and the next write rolls back what
    /// it left before beginning its own.
    raw_tx_open: Arc<std::sync::atomic::AtomicBool>,
    /// Held, not read: the lock lasts as long as this file stays open.
    lock: Mutex<Option<File>>,
    /// The alerts' segments (see [`AlertIndex`]). Held for the whole of an
    /// alert write or prune, which serialises them.
    alert_index: tokio::sync::Mutex<AlertIndex>,
}

impl SqliteStore {
    pub(crate) async fn open(
        data_dir: &Path,
        migrations: &[Migration],
    ) -> Result<Self, StoreError> {
        let data_dir_error = |error| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            error,
        };
        let data_dir = std::path::absolute(data_dir).map_err(data_dir_error)?;
        std::fs::create_dir_all(&data_dir).map_err(data_dir_error)?;
        let lock = lock_data_dir(&data_dir)?;

        let db_path = data_dir.join(DB_FILE);
        let target = format!("{} {}", Engine::Sqlite, db_path.display());
        let unavailable = |error: sqlx::Error| StoreError::Unavailable {
            target: target.clone(),
            error: Box::new(error),
        };

        // FULL makes every commit reach the disk before it returns, so that an
        // acknowledged write survives a power loss and not only a crash of nines.
        let options = SqliteConnectOptions::new()
            .filename(&db_path)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Full);

        // The writer keeps its one connection for the store's lifetime so a
        // write never pays for opening the file, and is not pinged before or
        // after each use (a round trip to its worker thread each).
        //
        // Its settings trade memory for the cost of writes, not durability
        // (synchronous stays FULL): statement journals (needed by multi-row
        // statements) stay in memory instead of a temporary file; a page cache
        // twice the default keeps a large group commit from spilling
        // mid-transaction (see WRITER_CACHE_KIB); and the WAL is
        // checkpointed every WRITER_WAL_PAGES pages instead of 1,000, so a
        // page written by many commits is copied back to the database once.
        let mut writer = options
            .clone()
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("temp_store", "MEMORY")
            .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
            .pragma("wal_autocheckpoint", WRITER_WAL_PAGES.to_string())
            .connect()
            .await
            .map_err(unavailable)?;
        run_migrations(&mut writer, migrations, &target).await?;

        // query_only turns a write sent to the wrong pool into an error instead
        // of a second writer.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options.pragma("query_only", "ON"))
            .await
            .map_err(unavailable)?;

        // Schema 11 keeps alerts in segments (an older schema is opened
        // only by the upgrade tests, which write no alerts).
        let (index, loaded) = if migrate::newest(migrations) >= 11 {
            move_alert_rows_to_a_segment(&mut writer)
                .await
                .map_err(unavailable)?;
            let segments = read_segments(&mut writer).await.map_err(unavailable)?;
            (
                alert_segments::Index::from_segments(&segments),
                Some(segments),
            )
        } else {
            (alert_segments::Index::default(), None)
        };

        Ok(SqliteStore {
            writer: Arc::new(tokio::sync::Mutex::new(Some(writer))),
            reader,
            target,
            raw_tx_open: Arc::default(),
            lock: Mutex::new(Some(lock)),
            alert_index: tokio::sync::Mutex::new(AlertIndex {
                index,
                stale: false,
                scratch: alert_segments::Scratch::default(),
                loaded,
            }),
        })
    }

    fn error(&self, operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |error| StoreError::from_sqlx(operation, &self.target, error)
    }

    /// The writer, once what a write before left open is rolled back.
    async fn writer(&self) -> Result<Writer, sqlx::Error> {
        use std::sync::atomic::Ordering;
        let mut conn =
            OwnedMutexGuard::try_map(self.writer.clone().lock_owned().await, Option::as_mut)
                .map_err(|_| sqlx::Error::PoolClosed)?;
        if self.raw_tx_open.swap(false, Ordering::AcqRel) {
            // It failed, or its future was dropped half-way (if it
            // committed after all, there is nothing to undo).
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        }
        Ok(conn)
    }

    /// A write transaction on the writer (`BEGIN IMMEDIATE`: it holds the
    /// write lock from the start, so it never meets `SQLITE_BUSY` half-way).
    async fn write_tx(&self) -> Result<WriteTx, sqlx::Error> {
        // Held before BEGIN is sent, so that a future dropped while BEGIN
        // waits for the lock is rolled back too (a ROLLBACK with nothing
        // begun does no harm).
        let mut tx = self.writing().await?;
        sqlx::query(BEGIN_WRITE).execute(&mut *tx).await?;
        Ok(tx)
    }

    /// The writer, held for a transaction that may be open from now on
    /// until the returned `WriteTx` ends.
    async fn writing(&self) -> Result<WriteTx, sqlx::Error> {
        let conn = self.writer().await?;
        self.raw_tx_open
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(WriteTx {
            conn: Some(conn),
            open: self.raw_tx_open.clone(),
        })
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.reader
    }

    fn sql(sql: &str) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr;
        sqlx::AssertSqlSafe(sql).into_sql_str()
    }

    /// Runs `queries` on the writer, in order, as one transaction that the
    /// first of them begins and the last commits in its SQL text; a failure
    /// rolls back before this returns.
    ///
    /// sqlx's own `BEGIN` and `COMMIT` are each a round trip to the
    /// connection's worker thread that waits for an acknowledgement, and
    /// thread wake-ups were most of the cost of a small write: this way a
    /// small write is one round trip.
    async fn raw_tx(
        &self,
        queries: Vec<sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>>,
    ) -> Result<(), sqlx::Error> {
        // Its transaction is begun and committed in the queries' text; a
        // future dropped half-way is rolled back as any `WriteTx` is.
        let mut tx = self.writing().await?;
        for query in queries {
            if let Err(e) = query.execute(&mut *tx).await {
                // Whatever step failed, nothing of this write stays (an
                // error of the ROLLBACK itself leaves the flag set, for
                // the next write to roll back).
                let _ = tx.rollback().await;
                return Err(e);
            }
        }
        tx.ended();
        Ok(())
    }

    /// Every alert whose end is after `after`, by fingerprint: the
    /// segments read in order, a later one's state of an alert winning.
    async fn read_alert_rows(
        &self,
        after: jiff::Timestamp,
    ) -> Result<Vec<crate::AlertRow>, StoreError> {
        let opened = self.alert_index.lock().await.loaded.take();
        let segments = match opened {
            Some(segments) => segments,
            None => {
                let mut conn = self
                    .reader
                    .acquire()
                    .await
                    .map_err(self.error("reading alerts"))?;
                read_segments(&mut conn)
                    .await
                    .map_err(self.error("reading alerts"))?
            }
        };
        let mut latest: std::collections::BTreeMap<u64, crate::AlertRow> =
            std::collections::BTreeMap::new();
        for (_, rows) in segments {
            for row in rows {
                latest.insert(row.fingerprint, row);
            }
        }
        Ok(latest.into_values().filter(|r| r.ends_at > after).collect())
    }

    /// The index of segments, read again first if a write before may
    /// have committed without its knowing (see [`AlertIndex`]).
    async fn alert_index(&self) -> Result<tokio::sync::MutexGuard<'_, AlertIndex>, sqlx::Error> {
        let mut ix = self.alert_index.lock().await;
        // About to write: what was read at open is not what is stored.
        ix.loaded = None;
        if ix.stale {
            let segments = read_segments(&mut *self.writer().await?).await?;
            ix.index = alert_segments::Index::from_segments(&segments);
            ix.stale = false;
        }
        Ok(ix)
    }

    /// Writes alert rows (insert or replace by fingerprint) in one
    /// transaction, committed before it returns: the rows are one new
    /// segment, and the segments it leaves with no live alert are deleted
    /// (see [`alert_segments`]). A write that empties no segment is one
    /// statement, one round trip (see [`Self::raw_tx`]).
    async fn write_alert_rows(&self, rows: &[crate::AlertRow]) -> Result<(), sqlx::Error> {
        self.write_alert_rows_then(rows, None).await
    }

    /// Writes `rows`, then `last` (a statement that commits), in one
    /// transaction; the index counts the segment once it committed.
    async fn write_alert_rows_then(
        &self,
        rows: &[crate::AlertRow],
        last: Option<WriteQuery<'_>>,
    ) -> Result<(), sqlx::Error> {
        let mut ix = self.alert_index().await?;
        // A fingerprint written twice keeps its last row.
        let mut last_of = std::collections::HashMap::with_capacity_and_hasher(
            rows.len(),
            foldhash::fast::RandomState::default(),
        );
        for (i, r) in rows.iter().enumerate() {
            last_of.insert(r.fingerprint, i);
        }
        // Looked up once: the plan and the encoding each walk them.
        let kept: Vec<&crate::AlertRow> = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| last_of.get(&r.fingerprint) == Some(i))
            .map(|(_, r)| r)
            .collect();
        let plan = ix.index.plan(kept.iter().copied());
        let segment = alert_segments::encode_with(kept.iter().copied(), &mut ix.scratch);
        let commit = last.is_none();
        let sql = &*ALERT_SQL;
        let chunks = plan.delete.chunks(DELETE_CHUNK_MAX);
        let n_deletes = chunks.len();
        let mut queries = Vec::with_capacity(2 + n_deletes);
        queries.push(
            sqlx::query(sql.insert[usize::from(commit && n_deletes == 0)].as_str())
                .bind(plan.seq)
                .bind(segment),
        );
        for (i, chunk) in chunks.enumerate() {
            let n = chunk.len();
            let size = n.next_power_of_two();
            let commit = usize::from(commit && i + 1 == n_deletes);
            let mut query =
                sqlx::query(sql.delete[commit][size.trailing_zeros() as usize].as_str());
            for seq in chunk
                .iter()
                .chain(std::iter::repeat_n(&chunk[n - 1], size - n))
            {
                query = query.bind(*seq);
            }
            queries.push(query);
        }
        queries.extend(last);
        // Until it is known to have committed, or not.
        ix.stale = true;
        self.raw_tx(queries).await?;
        ix.index.apply(&plan);
        ix.stale = false;
        // The write is committed whatever comes of this (a compaction that
        // fails leaves the index to be read again, and the next write
        // tries again).
        if ix.index.needs_compaction()
            && let Err(error) = self.rewrite_segments(&mut ix, i64::MIN).await
        {
            tracing::warn!(%error, store = %self.target, "compacting alert segments failed");
        }
        Ok(())
    }

    /// Writes alert rows and incident updates in one transaction (one
    /// commit, one sync to disk, where two writers would each pay one);
    /// the incident updates separately when they are not such a batch.
    async fn write_alert_rows_and_updates(
        &self,
        rows: &[crate::AlertRow],
        updates: &[crate::IncidentWrite],
    ) -> (Result<(), sqlx::Error>, Option<Result<(), sqlx::Error>>) {
        let Some(update) = incident_update_query(updates, false) else {
            return (self.write_alert_rows(rows).await, None);
        };
        let outcome = self.write_alert_rows_then(rows, Some(update)).await;
        let shared = outcome.as_ref().map(|_| ()).map_err(|e| {
            sqlx::Error::Protocol(format!("writing alerts with incident updates: {e}"))
        });
        (outcome, Some(shared))
    }

    /// Forgets the alerts that ended before `before`: deletes the segments
    /// it leaves with no live alert, and rewrites the live alerts of those
    /// it leaves mostly dead into one new segment, in one transaction.
    /// Returns how many alerts it forgot.
    async fn prune_alert_rows(&self, before: jiff::Timestamp) -> Result<u64, sqlx::Error> {
        let mut ix = self.alert_index().await?;
        self.rewrite_segments(&mut ix, before.as_microsecond())
            .await
    }

    /// The prune of [`Self::prune_alert_rows`], of the alerts that ended
    /// before `before` (microseconds); with `i64::MIN`, a compaction that
    /// forgets nothing.
    async fn rewrite_segments(&self, ix: &mut AlertIndex, before: i64) -> Result<u64, sqlx::Error> {
        let prune = ix.index.plan_prune(before);
        if prune.gone.is_empty() && prune.delete.is_empty() && prune.rewrite.is_empty() {
            return Ok(0);
        }
        ix.stale = true;
        let mut tx = self.write_tx().await?;
        let mut moved: Vec<crate::AlertRow> = Vec::new();
        for &seq in &prune.rewrite {
            let (blob,): (Vec<u8>,) =
                sqlx::query_as("SELECT rows FROM alert_segments WHERE seq = ?")
                    .bind(seq)
                    .fetch_one(&mut *tx)
                    .await?;
            let rows = alert_segments::decode(&blob).map_err(|e| segment_error(seq, &e))?;
            moved.extend(
                rows.into_iter()
                    .filter(|r| ix.index.is_live_in(r.fingerprint, seq, &prune)),
            );
        }
        if !moved.is_empty() {
            sqlx::query("INSERT INTO alert_segments (seq, rows) VALUES (?, ?)")
                .bind(prune.seq)
                .bind(alert_segments::encode(moved.iter()))
                .execute(&mut *tx)
                .await?;
        }
        for seq in prune.delete.iter().chain(&prune.rewrite) {
            sqlx::query("DELETE FROM alert_segments WHERE seq = ?")
                .bind(*seq)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let moved: Vec<(u64, i64)> = moved
            .iter()
            .map(|r| (r.fingerprint, r.ends_at.as_microsecond()))
            .collect();
        ix.index.apply_prune(&prune, &moved);
        ix.stale = false;
        Ok(prune.gone.len() as u64)
    }

    /// Writes incident updates in one transaction in one round trip (see
    /// [`Self::raw_tx`] and [`incident_update_query`]); `None` when
    /// `writes` is not such a batch, for the general path to write.
    async fn write_incident_updates(
        &self,
        writes: &[crate::IncidentWrite],
    ) -> Result<Option<Vec<i64>>, sqlx::Error> {
        let Some(query) = incident_update_query(writes, true) else {
            return Ok(None);
        };
        self.raw_tx(vec![query]).await?;
        Ok(Some(writes.iter().map(|w| w.incident.id).collect()))
    }
}

/// The writer, held (see [`SqliteStore::writer`]).
type Writer = OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>;

/// A write transaction on the writer, begun in SQL text; used as sqlx's
/// `Transaction` is (`&mut *tx` is the connection). One dropped before it
/// ends (an error half-way, a future dropped) is rolled back at once, on a
/// task that holds the writer until it is done, as sqlx's would be: it
/// holds SQLite's write lock meanwhile. Should that fail, the next write
/// rolls it back (see [`SqliteStore::writer`]).
pub(crate) struct WriteTx {
    /// The writer, until the transaction ends.
    conn: Option<Writer>,
    open: Arc<std::sync::atomic::AtomicBool>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.end(true).await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.end(false).await
    }

    async fn end(mut self, commit: bool) -> Result<(), sqlx::Error> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        let sql = if commit { "COMMIT" } else { "ROLLBACK" };
        let outcome = sqlx::query(sql).execute(&mut *conn).await.map(|_| ());
        // A COMMIT that failed may leave the transaction open (SQLite
        // keeps it after a busy COMMIT): rolled back now, not by the next
        // write. Should the ROLLBACK fail too, the flag stays set and the
        // next write rolls back.
        let ended = match &outcome {
            Ok(()) => true,
            Err(_) if commit => sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok(),
            Err(_) => false,
        };
        if ended {
            self.open.store(false, std::sync::atomic::Ordering::Release);
        }
        outcome
    }

    /// The transaction was ended in the text of its last statement.
    fn ended(mut self) {
        if self.conn.take().is_some() {
            self.open.store(false, std::sync::atomic::Ordering::Release);
        }
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let open = self.open.clone();
        runtime.spawn(async move {
            if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok() {
                open.store(false, std::sync::atomic::Ordering::Release);
            }
        });
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        // Taken only by `end` and `drop`, which consume the transaction.
        self.conn
            .as_deref()
            .expect("a transaction has its connection until it ends")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_deref_mut()
            .expect("a transaction has its connection until it ends")
    }
}

/// One statement of a write, its values bound.
type WriteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// A segment that does not decode, as the error it is.
fn segment_error(seq: i64, why: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("alert segment {seq}: {why}").into())
}

/// Every segment, oldest first, decoded.
async fn read_segments(
    conn: &mut SqliteConnection,
) -> Result<Vec<(i64, Vec<crate::AlertRow>)>, sqlx::Error> {
    let rows: Vec<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, rows FROM alert_segments ORDER BY seq")
            .fetch_all(&mut *conn)
            .await?;
    rows.into_iter()
        .map(|(seq, blob)| {
            alert_segments::decode(&blob)
                .map(|rows| (seq, rows))
                .map_err(|e| segment_error(seq, &e))
        })
        .collect()
}

/// Moves the alerts of schema 9's `alerts` table (the latest row of each
/// fingerprint) into a first segment and drops the table, in one
/// transaction; nothing to do once it is gone.
async fn move_alert_rows_to_a_segment(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alerts'")
            .fetch_optional(&mut *conn)
            .await?;
    if exists.is_none() {
        return Ok(());
    }
    let mut tx = conn.begin().await?;
    let tuples: Vec<crate::alerting::AlertTuple> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM alerts ORDER BY fingerprint, seq",
        crate::alerting::ALERT_COLUMNS
    )))
    .fetch_all(&mut *tx)
    .await?;
    let mut rows: Vec<crate::AlertRow> = Vec::with_capacity(tuples.len());
    for t in tuples {
        let row = crate::alerting::alert_from(t)
            .map_err(|e| sqlx::Error::Decode(e.to_string().into()))?;
        match rows.last_mut() {
            Some(prev) if prev.fingerprint == row.fingerprint => *prev = row,
            _ => rows.push(row),
        }
    }
    if !rows.is_empty() {
        sqlx::query("INSERT INTO alert_segments (seq, rows) VALUES (1, ?)")
            .bind(alert_segments::encode(rows.iter()))
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql("DROP TABLE alerts").execute(&mut *tx).await?;
    tx.commit().await
}

/// Incident updates (no new incident: those need their ids back one by
/// one), their timeline entries and notifications as one statement that
/// commits the transaction, and begins it when `begin`; `None` when
/// `writes` is not such a batch, for the general path to write.
fn incident_update_query(writes: &[crate::IncidentWrite], begin: bool) -> Option<WriteQuery<'_>> {
    use sqlx::SqlSafeStr;
    let events: usize = writes.iter().map(|w| w.events.len()).sum();
    let notes: usize = writes.iter().map(|w| w.notifications.len()).sum();
    // Far below SQLite's limit of 32,766 bound parameters.
    let params = writes.len() * 9 + events * 5 + notes * 7;
    if writes.is_empty() || writes.iter().any(|w| w.incident.id == 0) || params > 16_000 {
        return None;
    }
    let mut sql = String::from(if begin { "BEGIN IMMEDIATE; " } else { "" });
    for (i, _) in writes.iter().enumerate() {
        if i > 0 {
            sql.push_str("; ");
        }
        sql.push_str(
            "UPDATE incidents SET group_key = ?, service = ?, state = ?, urgency = ?,
               opened_at = ?, updated_at = ?, resolved_at = ?, body = ? WHERE id = ?",
        );
    }
    if events > 0 {
        sql.push_str("; INSERT INTO incident_events (incident_id, at, kind, actor, body) VALUES ");
        sql.push_str(&vec!["(?, ?, ?, ?, ?)"; events].join(", "));
    }
    if notes > 0 {
        sql.push_str(
            "; INSERT INTO outbox (idempotency_key, incident_id, channel, target, body,
               created_at, next_attempt_at) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, ?)"; notes].join(", "));
        sql.push_str(" ON CONFLICT (idempotency_key) DO NOTHING");
    }
    sql.push_str("; COMMIT");
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql).into_sql_str());
    for w in writes {
        let i = &w.incident;
        query = query
            .bind(i.group_key.as_str())
            .bind(i.service.as_str())
            .bind(i.state.as_str())
            .bind(i.urgency.as_str())
            .bind(i.opened_at.as_microsecond())
            .bind(i.updated_at.as_microsecond())
            .bind(i.resolved_at.map(|t| t.as_microsecond()))
            .bind(i.body.as_str())
            .bind(i.id);
    }
    for w in writes {
        for e in &w.events {
            query = query
                .bind(w.incident.id)
                .bind(e.at.as_microsecond())
                .bind(e.kind.as_str())
                .bind(e.actor.as_str())
                .bind(e.body.as_str());
        }
    }
    for w in writes {
        for n in &w.notifications {
            query = query
                .bind(n.idempotency_key.as_str())
                .bind(w.incident.id)
                .bind(n.channel.as_str())
                .bind(n.target.as_str())
                .bind(n.body.as_str())
                .bind(n.created_at.as_microsecond())
                .bind(n.first_attempt_at().as_microsecond());
        }
    }
    Some(query)
}

crate::alerting::alert_store_impl!(SqliteStore);
crate::heartbeat::heartbeat_store_impl!(SqliteStore);
crate::maintenance::maintenance_store_impl!(SqliteStore);
crate::schedule_override::schedule_override_store_impl!(SqliteStore);
crate::budget_exhaustion::budget_store_impl!(SqliteStore);

/// Takes the data directory's lock file, or reports who holds it.
///
/// The lock is `flock`-style: the operating system drops it when the process
/// dies, so a crash never leaves a stale lock behind.
fn lock_data_dir(data_dir: &Path) -> Result<File, StoreError> {
    let lock_file = data_dir.join(LOCK_FILE);
    let data_dir_error = |error| StoreError::DataDir {
        path: data_dir.to_path_buf(),
        error,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_file)
        .map_err(data_dir_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(StoreError::Locked {
                data_dir: data_dir.to_path_buf(),
                lock_file,
            });
        }
        Err(TryLockError::Error(error)) => return Err(data_dir_error(error)),
    }
    // The pid is only a hint for a person wondering which process holds the
    // directory; the lock itself is what keeps others out.
    let hint = file
        .set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    if let Err(error) = hint {
        tracing::debug!(%error, path = %lock_file.display(), "could not write the pid into the lock file");
    }
    Ok(file)
}

/// Brings the schema up to `migrations`, one transaction per migration.
async fn run_migrations(
    writer: &mut SqliteConnection,
    migrations: &[Migration],
    target: &str,
) -> Result<(), StoreError> {
    let error = |error| StoreError::from_sqlx("migrating the schema", target, error);
    loop {
        let mut tx = writer.begin_with(BEGIN_WRITE).await.map_err(error)?;
        sqlx::raw_sql(CREATE_SCHEMA_MIGRATIONS)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await
            .map_err(error)?;
        let Some(next) = migrate::next_pending(&applied, migrations)? else {
            tx.commit().await.map_err(error)?;
            return Ok(());
        };
        let failed = |error| StoreError::Migration {
            version: next.version,
            name: next.name,
            target: target.to_owned(),
            error: Box::new(error),
        };
        sqlx::raw_sql(next.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(next.version)
            .bind(next.name)
            .bind(timestamp_micros(jiff::Timestamp::now()))
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(
            version = next.version,
            name = next.name,
            store = target,
            "applied store migration"
        );
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    fn describe(&self) -> String {
        self.target.clone()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(self.error("ping"))?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.reader)
            .await
            .map_err(self.error("reading the schema version"))
    }

    async fn record_config_revision(
        &self,
        rev: &NewConfigRevision,
    ) -> Result<ConfigRevision, StoreError> {
        let error = self.error("recording a config revision");
        let mut tx = self.write_tx().await.map_err(&error)?;
        let latest: Option<RevisionRow> = sqlx::query_as(
            "SELECT id, hash, source, loaded_at, objects, summary
             FROM config_revisions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(&error)?;
        let row = match latest {
            Some(row) if row.1 == rev.hash => row,
            _ => sqlx::query_as(
                "INSERT INTO config_revisions (hash, source, loaded_at, objects, summary)
                     VALUES (?, ?, ?, ?, ?)
                     RETURNING id, hash, source, loaded_at, objects, summary",
            )
            .bind(&rev.hash)
            .bind(&rev.source)
            .bind(timestamp_micros(rev.loaded_at))
            .bind(i64::from(rev.objects))
            .bind(&rev.summary)
            .fetch_one(&mut *tx)
            .await
            .map_err(&error)?,
        };
        tx.commit().await.map_err(&error)?;
        config_revision::from_row(row)
    }

    async fn latest_config_revision(&self) -> Result<Option<ConfigRevision>, StoreError> {
        let row: Option<RevisionRow> = sqlx::query_as(
            "SELECT id, hash, source, loaded_at, objects, summary
             FROM config_revisions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.reader)
        .await
        .map_err(self.error("reading the latest config revision"))?;
        row.map(config_revision::from_row).transpose()
    }

    async fn config_revisions(&self, limit: u32) -> Result<Vec<ConfigRevision>, StoreError> {
        let rows: Vec<RevisionRow> = sqlx::query_as(
            "SELECT id, hash, source, loaded_at, objects, summary
             FROM config_revisions ORDER BY id DESC LIMIT ?",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(self.error("listing config revisions"))?;
        rows.into_iter().map(config_revision::from_row).collect()
    }

    async fn record_gate_override(&self, o: &NewGateOverride) -> Result<GateOverride, StoreError> {
        gate_override::check(o)?;
        let error = self.error("recording a gate override");
        let mut tx = self.write_tx().await.map_err(&error)?;
        let row: gate_override::OverrideRow = sqlx::query_as(
            "INSERT INTO gate_overrides (service, reason, created_by, created_at, expires_at)
                 VALUES (?, ?, ?, ?, ?)
                 RETURNING id, service, reason, created_by, created_at, expires_at",
        )
        .bind(&o.service)
        .bind(&o.reason)
        .bind(&o.created_by)
        .bind(timestamp_micros(o.created_at))
        .bind(timestamp_micros(o.expires_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(&error)?;
        tx.commit().await.map_err(&error)?;
        gate_override::from_row(row)
    }

    async fn gate_overrides_in_force(
        &self,
        service: &str,
        at: jiff::Timestamp,
    ) -> Result<Vec<GateOverride>, StoreError> {
        let micros = timestamp_micros(at);
        let rows: Vec<gate_override::OverrideRow> = sqlx::query_as(
            "SELECT id, service, reason, created_by, created_at, expires_at
             FROM gate_overrides
             WHERE service = ? AND created_at <= ? AND expires_at > ?
             ORDER BY id DESC",
        )
        .bind(service)
        .bind(micros)
        .bind(micros)
        .fetch_all(&self.reader)
        .await
        .map_err(self.error("reading gate overrides"))?;
        rows.into_iter().map(gate_override::from_row).collect()
    }

    async fn record_sli_batch(
        &self,
        idempotency_key: Option<&str>,
        received_at: jiff::Timestamp,
        rows: &[BucketRow],
    ) -> Result<BatchOutcome, StoreError> {
        let increments = sli_bucket::increments(rows)?;
        let error = self.error("recording an SLI batch");
        let mut tx = self.write_tx().await.map_err(&error)?;
        if let Some(key) = idempotency_key {
            let recorded = sqlx::query(
                "INSERT INTO ingest_keys (key, received_at) VALUES (?, ?)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(timestamp_micros(received_at))
            .execute(&mut *tx)
            .await
            .map_err(&error)?;
            if recorded.rows_affected() == 0 {
                // The write lock has been held since BEGIN IMMEDIATE, so the
                // key that was just in the way is still there.
                let first: i64 =
                    sqlx::query_scalar("SELECT received_at FROM ingest_keys WHERE key = ?")
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(&error)?;
                tx.rollback().await.map_err(&error)?;
                return sli_bucket::duplicate(key, first);
            }
        }
        // Every statement is a round trip to the connection's worker thread,
        // which costs far more than SQLite's work for a row, so the buckets go
        // in a few multi-row statements (see `UPSERT_CHUNKS`).
        let mut rest = &increments[..];
        while !rest.is_empty() {
            let (sql, size) = upsert_for(rest.len());
            let (chunk, tail) = rest.split_at(size);
            let mut upsert = sqlx::query(sql);
            for &((series, minute, maintenance), (good, total)) in chunk {
                upsert = upsert
                    .bind(series)
                    .bind(minute)
                    .bind(maintenance)
                    .bind(good)
                    .bind(total);
            }
            upsert.execute(&mut *tx).await.map_err(&error)?;
            rest = tail;
        }
        tx.commit().await.map_err(&error)?;
        Ok(BatchOutcome::Applied { rows: rows.len() })
    }

    async fn sli_buckets_since(&self, since_minute: i64) -> Result<Vec<BucketRow>, StoreError> {
        // Sorted here rather than by the database: see `sli_bucket::in_series_order`.
        let rows: Vec<BucketColumns> = sqlx::query_as(
            "SELECT series, minute, maintenance, good, total FROM sli_buckets
             WHERE minute >= ?",
        )
        .bind(since_minute)
        .fetch_all(&self.reader)
        .await
        .map_err(self.error("reading SLI buckets"))?;
        Ok(sli_bucket::in_series_order(rows))
    }

    async fn prune_sli_buckets(&self, before_minute: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM sli_buckets WHERE minute < ?")
            .bind(before_minute)
            .execute(
                &mut *self
                    .writer()
                    .await
                    .map_err(self.error("pruning SLI buckets"))?,
            )
            .await
            .map_err(self.error("pruning SLI buckets"))?;
        Ok(deleted.rows_affected())
    }

    async fn prune_idempotency_keys(&self, before: jiff::Timestamp) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM ingest_keys WHERE received_at < ?")
            .bind(timestamp_micros(before))
            .execute(
                &mut *self
                    .writer()
                    .await
                    .map_err(self.error("pruning idempotency keys"))?,
            )
            .await
            .map_err(self.error("pruning idempotency keys"))?;
        Ok(deleted.rows_affected())
    }

    async fn close(&self) {
        self.reader.close().await;
        if let Some(writer) = self.writer.lock().await.take() {
            let _ = writer.close().await;
        }
        // Released only once no connection is left, so the next nines to take
        // the directory never overlaps with this one's writer.
        let lock = self
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(lock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a pragma as text, whether SQLite reports it as a word or a number.
    async fn pragma<'e>(
        on: impl sqlx::Executor<'e, Database = sqlx::Sqlite>,
        name: &'static str,
    ) -> String {
        use sqlx::Row;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_one(on)
            .await
            .unwrap();
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|n| n.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn a_database_made_with_another_page_size_keeps_it_and_works() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        // A data dir made by a release with SQLite's default page size.
        let mut old = SqliteConnectOptions::new()
            .filename(dir.path().join(DB_FILE))
            .create_if_missing(true)
            .page_size(4096)
            .journal_mode(SqliteJournalMode::Wal)
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("CREATE TABLE made_before (x INTEGER)")
            .execute(&mut old)
            .await
            .unwrap();
        old.close().await.unwrap();
        let store = open_store(dir.path()).await;
        assert_eq!(
            pragma(&mut *store.writer().await.unwrap(), "page_size").await,
            "4096"
        );
        store.write_alerts(&[alert_row(1, "{}")]).await.unwrap();
        let read = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(read.len(), 1);
        store.close().await;
    }

    #[tokio::test]
    async fn connections_are_set_up_for_durability_and_a_single_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;

        {
            let mut w = store.writer().await.unwrap();
            for (name, value) in [
                ("journal_mode", "wal"),
                ("synchronous", "2"), // FULL
                ("foreign_keys", "1"),
                ("busy_timeout", "5000"),
            ] {
                assert_eq!(pragma(&mut *w, name).await, value, "writer's {name}");
                assert_eq!(pragma(&store.reader, name).await, value, "readers' {name}");
            }
            assert_eq!(pragma(&mut *w, "query_only").await, "0");
            assert_eq!(pragma(&mut *w, "page_size").await, PAGE_SIZE.to_string());
            assert_eq!(pragma(&mut *w, "temp_store").await, "2", "MEMORY");
            assert_eq!(
                pragma(&mut *w, "cache_size").await,
                format!("-{WRITER_CACHE_KIB}")
            );
            assert_eq!(
                pragma(&mut *w, "wal_autocheckpoint").await,
                WRITER_WAL_PAGES.to_string()
            );
        }
        assert_eq!(pragma(&store.reader, "query_only").await, "1");

        let write_on_reader = sqlx::query("DELETE FROM config_revisions")
            .execute(&store.reader)
            .await;
        assert!(write_on_reader.is_err(), "the read pool must refuse writes");
        store.close().await;
    }

    #[test]
    fn buckets_are_upserted_in_few_statements_of_known_sizes() {
        let sizes = |mut buckets: usize| {
            let mut sizes = Vec::new();
            while buckets > 0 {
                let (sql, size) = upsert_for(buckets);
                assert_eq!(sql.matches('?').count(), 5 * size);
                sizes.push(size);
                buckets -= size;
            }
            sizes
        };
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(7), [4, 2, 1]);
        assert_eq!(sizes(64), [64]);
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(200), [64, 64, 64, 8]);
    }

    #[tokio::test]
    async fn a_write_dropped_half_way_is_rolled_back_before_the_next() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        let row = |fp: u64| crate::AlertRow {
            fingerprint: fp,
            source: "alertmanager".into(),
            service: "api".into(),
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: "2030-01-01T00:00:00Z".parse().unwrap(),
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            body: "{}".into(),
        };
        // What a write dropped after its first statement leaves: a
        // transaction begun in SQL text, still open on the writer.
        let leave_open = || async {
            sqlx::query(
                // Not a segment: were it kept, reading alerts would fail.
                "BEGIN IMMEDIATE; INSERT INTO alert_segments (seq, rows) VALUES (666, x'ff')",
            )
            .execute(&mut *store.writer().await.unwrap())
            .await
            .unwrap();
            store
                .raw_tx_open
                .store(true, std::sync::atomic::Ordering::Release);
        };
        leave_open().await;
        store.write_alerts(&[row(1)]).await.unwrap();
        // Before a write in a transaction of its own (`write_tx`) too.
        leave_open().await;
        store
            .put_silence(&crate::SilenceRow {
                id: "s".to_owned(),
                starts_at: jiff::Timestamp::UNIX_EPOCH,
                ends_at: "2030-01-01T00:00:00Z".parse().unwrap(),
                updated_at: jiff::Timestamp::UNIX_EPOCH,
                body: "{}".into(),
            })
            .await
            .unwrap();
        store.write_alerts(&[row(2), row(3)]).await.unwrap();
        // A transaction dropped before it ends (an error half-way through).
        {
            let mut tx = store.write_tx().await.unwrap();
            sqlx::query("INSERT INTO alert_segments (seq, rows) VALUES (777, x'ff')")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        // It does not hold SQLite's write lock until the next write: another
        // process may write meanwhile (it would wait out its busy timeout).
        let mut other = SqliteConnectOptions::new()
            .filename(dir.path().join(DB_FILE))
            .busy_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK")
            .execute(&mut other)
            .await
            .expect("the dropped transaction was rolled back");
        other.close().await.unwrap();
        store.write_alerts(&[row(4)]).await.unwrap();
        let fps: Vec<u64> = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap()
            .iter()
            .map(|a| a.fingerprint)
            .collect();
        assert_eq!(fps, vec![1, 2, 3, 4]);
        assert_eq!(store.silences().await.unwrap().len(), 1);
        store.close().await;
    }

    /// A store in `dir` with every migration.
    async fn open_store(dir: &Path) -> SqliteStore {
        SqliteStore::open(dir, migrate::SQLITE).await.unwrap()
    }

    /// The segments as stored: each one's seq and its alerts'
    /// fingerprints and bodies, oldest first.
    async fn stored_segments(store: &SqliteStore) -> Vec<(i64, Vec<(u64, String)>)> {
        let rows: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, rows FROM alert_segments ORDER BY seq")
                .fetch_all(&store.reader)
                .await
                .unwrap();
        rows.into_iter()
            .map(|(seq, blob)| {
                let alerts = alert_segments::decode(&blob).unwrap();
                let alerts = alerts
                    .into_iter()
                    .map(|a| (a.fingerprint, a.body.to_string()))
                    .collect();
                (seq, alerts)
            })
            .collect()
    }

    fn alert_row(fp: u64, body: &str) -> crate::AlertRow {
        crate::AlertRow {
            fingerprint: fp,
            source: "alertmanager".into(),
            service: "api".into(),
            starts_at: jiff::Timestamp::UNIX_EPOCH,
            ends_at: "2030-01-01T00:00:00Z".parse().unwrap(),
            updated_at: jiff::Timestamp::UNIX_EPOCH,
            body: body.into(),
        }
    }

    #[tokio::test]
    async fn a_write_is_one_segment_and_deletes_those_it_leaves_without_live_alerts() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        // A fingerprint written twice in one write keeps its last row.
        let mut first: Vec<_> = (0..300_u64)
            .map(|fp| alert_row(fp * 7919, "first"))
            .collect();
        first.push(alert_row(0, "first, again"));
        store.write_alerts(&first).await.unwrap();
        store.write_alerts(&[alert_row(1, "one")]).await.unwrap();
        let stored = stored_segments(&store).await;
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].1.len(), 300);
        // ... where it was last written.
        assert_eq!(stored[0].1[0].0, 7919);
        assert_eq!(stored[0].1[299], (0, "first, again".to_owned()));
        store.close().await;
        // After a reopen, the index is read back: a write that replaces
        // every alert of the first segment deletes it, in its transaction.
        let store = open_store(dir.path()).await;
        let second: Vec<_> = (0..300_u64)
            .map(|fp| alert_row(fp * 7919, "second"))
            .collect();
        store.write_alerts(&second).await.unwrap();
        let stored = stored_segments(&store).await;
        let seqs: Vec<i64> = stored.iter().map(|s| s.0).collect();
        assert_eq!(seqs, vec![2, 3], "segment 1 is gone, 2 still has alert 1");
        let read = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(read.len(), 301);
        assert!(read.windows(2).all(|w| w[0].fingerprint < w[1].fingerprint));
        assert!(
            read.iter()
                .all(|a| &*a.body == "second" || a.fingerprint == 1)
        );
        // The last alert of segment 2 written again: it goes too.
        store
            .write_alerts(&[alert_row(1, "one again")])
            .await
            .unwrap();
        let seqs: Vec<i64> = stored_segments(&store).await.iter().map(|s| s.0).collect();
        assert_eq!(seqs, vec![3, 4]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_prune_forgets_ended_alerts_and_rewrites_segments_left_mostly_dead() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        let ended = |fp, body: &str| crate::AlertRow {
            ends_at: "2020-01-01T00:00:00Z".parse().unwrap(),
            ..alert_row(fp, body)
        };
        // Segment 1: three ended, one live. Segment 2: all ended.
        // Segment 3: two live.
        store
            .write_alerts(&[
                ended(1, "e"),
                ended(2, "e"),
                ended(3, "e"),
                alert_row(4, "live"),
            ])
            .await
            .unwrap();
        store.write_alerts(&[ended(5, "e")]).await.unwrap();
        store
            .write_alerts(&[alert_row(6, "live"), alert_row(7, "live")])
            .await
            .unwrap();
        let pruned = store
            .prune_alerts("2021-01-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(pruned, 4);
        let stored = stored_segments(&store).await;
        assert_eq!(
            stored,
            vec![
                (3, vec![(6, "live".to_owned()), (7, "live".to_owned())]),
                (4, vec![(4, "live".to_owned())]),
            ],
            "segment 2 deleted, the live alert of segment 1 rewritten"
        );
        // Nothing more to do: a second prune changes nothing.
        let again = store
            .prune_alerts("2021-01-01T00:00:00Z".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(again, 0);
        assert_eq!(stored_segments(&store).await, stored);
        // A pruned alert written again is one alert.
        store.write_alerts(&[alert_row(1, "back")]).await.unwrap();
        let fps: Vec<u64> = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap()
            .iter()
            .map(|a| a.fingerprint)
            .collect();
        assert_eq!(fps, vec![1, 4, 6, 7]);
        store.close().await;
    }

    #[tokio::test]
    async fn segments_kept_alive_by_one_alert_each_are_compacted_by_the_writes() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        // Each write: 4,000 alerts written again and again, and one that
        // stays (a new one each time).
        for k in 0..8_u64 {
            let mut rows: Vec<_> = (0..4_000_u64).map(|fp| alert_row(fp, "crowd")).collect();
            rows.push(alert_row(1_000_000 + k, "stays"));
            store.write_alerts(&rows).await.unwrap();
        }
        let stored = stored_segments(&store).await;
        let kept: usize = stored.iter().map(|s| s.1.len()).sum();
        // Without compaction: 8 segments, 32,008 alerts stored. With it,
        // never more than about twice the 4,008 live (and 10,000 dead).
        assert!(kept <= 2 * 4_008 + 10_000, "{kept} alerts stored");
        assert!(stored.len() < 8, "{} segments", stored.len());
        let read = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(read.len(), 4_008);
        assert_eq!(read.iter().filter(|a| &*a.body == "stays").count(), 8);
        store.close().await;
        // And it reads back the same after a restart.
        let store = open_store(dir.path()).await;
        let again = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(again, read);
        store.close().await;
    }

    #[tokio::test]
    async fn alerts_stored_one_row_each_move_into_a_segment() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        // A data dir of schema 8 (alerts keyed by fingerprint), then of
        // schema 10 (appended by seq, a fingerprint's latest last).
        let schema_8 = &migrate::SQLITE[..8];
        assert_eq!(schema_8[7].name, "budget_exhaustions");
        let old = SqliteStore::open(dir.path(), schema_8).await.unwrap();
        sqlx::query(
            "INSERT INTO alerts (fingerprint, source, service, starts_at, ends_at, updated_at,
             body) VALUES (-5, 'alertmanager', 'api', 0, 4102444800000000, 2, 'second'),
             (7, 'alertmanager', 'db', 0, 4102444800000000, 1, 'first')",
        )
        .execute(&mut *old.writer().await.unwrap())
        .await
        .unwrap();
        old.close().await;
        let schema_10 = &migrate::SQLITE[..10];
        let old = SqliteStore::open(dir.path(), schema_10).await.unwrap();
        sqlx::query(
            "INSERT INTO alerts (seq, fingerprint, source, service, starts_at, ends_at,
             updated_at, body) VALUES (9, 7, 'alertmanager', 'db', 0, 4102444800000000, 3,
             'latest')",
        )
        .execute(&mut *old.writer().await.unwrap())
        .await
        .unwrap();
        old.close().await;
        let store = open_store(dir.path()).await;
        let read = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        let got: Vec<(u64, &str)> = read.iter().map(|a| (a.fingerprint, &*a.body)).collect();
        assert_eq!(got, vec![(7, "latest"), ((-5_i64) as u64, "second")]);
        assert_eq!(stored_segments(&store).await.len(), 1);
        let tables: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM sqlite_master WHERE name = 'alerts'")
                .fetch_all(&store.reader)
                .await
                .unwrap();
        assert!(tables.is_empty(), "the old table is dropped");
        // Written again, each is one alert, in a segment after the first.
        store
            .write_alerts(&[crate::AlertRow {
                body: "again".into(),
                ..read[0].clone()
            }])
            .await
            .unwrap();
        let stored = stored_segments(&store).await;
        assert_eq!(stored[1], (2, vec![(7, "again".to_owned())]));
        store.close().await;
        // Opened again, nothing moves twice.
        let store = open_store(dir.path()).await;
        assert_eq!(stored_segments(&store).await, stored);
        store.close().await;
    }

    #[tokio::test]
    async fn a_later_segment_wins_and_an_index_in_doubt_is_read_again() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        store
            .write_alerts(&[alert_row(9, "old"), alert_row(3, "other")])
            .await
            .unwrap();
        // What a write whose commit nines never learned of leaves: a
        // segment the index does not know.
        sqlx::query("INSERT INTO alert_segments (seq, rows) VALUES (50, ?)")
            .bind(alert_segments::encode([alert_row(9, "new")].iter()))
            .execute(&mut *store.writer().await.unwrap())
            .await
            .unwrap();
        let read = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        let bodies: Vec<(u64, &str)> = read.iter().map(|a| (a.fingerprint, &*a.body)).collect();
        assert_eq!(bodies, vec![(3, "other"), (9, "new")]);
        // Once in doubt, the index is read again before the next write,
        // which then takes a seq after the unknown segment's and deletes
        // it with the first.
        store.alert_index.lock().await.stale = true;
        store
            .write_alerts(&[alert_row(9, "newest"), alert_row(3, "other, again")])
            .await
            .unwrap();
        let seqs: Vec<i64> = stored_segments(&store).await.iter().map(|s| s.0).collect();
        assert_eq!(seqs, vec![51]);
        store.close().await;
    }

    #[tokio::test]
    async fn the_first_read_after_open_is_what_is_stored_before_or_after_a_write() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        store
            .write_alerts(&[alert_row(1, "one"), alert_row(2, "two")])
            .await
            .unwrap();
        store.close().await;
        let bodies = |rows: Vec<crate::AlertRow>| -> Vec<String> {
            rows.iter().map(|r| r.body.to_string()).collect()
        };
        // Read first: what open read, then what the database holds.
        let store = open_store(dir.path()).await;
        let first = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(bodies(first), ["one", "two"]);
        let again = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(bodies(again), ["one", "two"]);
        store.close().await;
        // Written first: the read sees the write, not what open read.
        let store = open_store(dir.path()).await;
        store
            .write_alerts(&[alert_row(2, "two, again"), alert_row(3, "three")])
            .await
            .unwrap();
        let after = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap();
        assert_eq!(bodies(after), ["one", "two, again", "three"]);
        store.close().await;
    }

    #[tokio::test]
    async fn a_segment_that_does_not_decode_is_an_error_that_names_it() {
        use crate::alerting::AlertStore;
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        // The first read uses the segments read at open (nothing else
        // writes to a store nines holds); the test writes behind its back.
        assert!(
            store
                .alerts_ending_after(jiff::Timestamp::MIN)
                .await
                .unwrap()
                .is_empty()
        );
        sqlx::query("INSERT INTO alert_segments (seq, rows) VALUES (4, x'0102')")
            .execute(&mut *store.writer().await.unwrap())
            .await
            .unwrap();
        let err = store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("alert segment 4"), "{err}");
        store.close().await;
        let Err(err) = SqliteStore::open(dir.path(), migrate::SQLITE).await else {
            panic!("opened a store with a damaged segment");
        };
        assert!(err.to_string().contains("alert segment 4"), "{err}");
    }

    #[tokio::test]
    async fn lock_file_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_store(dir.path()).await;
        let content = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(content.trim(), std::process::id().to_string());
        store.close().await;
    }
}
