//! The shared store: a PostgreSQL database that several nines may use at once.
//!
//! Several nodes may start, migrate and write together, so every step that
//! reads and then writes holds a transaction-scoped advisory lock; PostgreSQL
//! releases it at commit or rollback, and if a node dies.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::config_revision::{self, RevisionRow, timestamp_micros};
use crate::gate_override::{self, GateOverride, NewGateOverride};
use crate::location::redact_password;
use crate::migrate::{self, Migration};
use crate::sli_bucket::{self, BucketColumns};
use crate::{
    BatchOutcome, BucketRow, ConfigRevision, Engine, NewConfigRevision, Store, StoreError,
};

/// How long start-up and each later connection attempt wait for the server.
/// Long enough for a server across a slow network, short enough that a wrong
/// host fails the start of nines instead of hanging it.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

const MAX_CONNECTIONS: u32 = 10;

/// Advisory lock keys: "nines" in ASCII, then what the lock guards. They only
/// need to differ from the keys of other applications sharing the database.
const MIGRATION_LOCK: i64 = 0x6e69_6e65_7300_0001;
const CONFIG_REVISION_LOCK: i64 = 0x6e69_6e65_7300_0002;

/// Idempotent batches rely on each statement seeing what committed before it
/// (see `record_sli_batch`), which holds at READ COMMITTED, PostgreSQL's
/// default; saying so keeps a server configured for stricter isolation from
/// turning a duplicate batch into a serialization error.
const BEGIN_READ_COMMITTED: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

const CREATE_SCHEMA_MIGRATIONS: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
)";

pub(crate) struct PostgresStore {
    pool: PgPool,
    target: String,
}

impl PostgresStore {
    pub(crate) async fn open(url: &str, migrations: &[Migration]) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| StoreError::InvalidUrl {
                url: redact_password(url),
                reason: error.to_string(),
            })?
            .application_name("nines");
        let target = describe(&options);

        // One connection made by hand, rather than through the pool, because
        // the pool retries a refused connection until its timeout and then
        // reports only that it timed out; an operator needs the real reason.
        let unavailable = |error: crate::Cause| StoreError::Unavailable {
            target: target.clone(),
            error,
        };
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => return Err(unavailable(Box::new(error))),
            Err(_elapsed) => {
                return Err(unavailable(
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()).into(),
                ));
            }
        };
        let migrated = run_migrations(&mut conn, migrations, &target).await;
        if let Err(error) = conn.close().await {
            tracing::debug!(%error, store = %target, "closing the migration connection failed");
        }
        migrated?;

        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PostgresStore { pool, target })
    }

    fn error(&self, operation: &'static str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
        move |error| StoreError::from_sqlx(operation, &self.target, error)
    }

    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    fn sql(sql: &str) -> sqlx::SqlStr {
        use sqlx::SqlSafeStr;
        sqlx::AssertSqlSafe(crate::alerting::numbered(sql)).into_sql_str()
    }

    /// Incident updates take the general path here (see SQLite's).
    async fn write_incident_updates(
        &self,
        _writes: &[crate::IncidentWrite],
    ) -> Result<Option<Vec<i64>>, sqlx::Error> {
        Ok(None)
    }

    /// Alerts, then the incident updates on the general path (`None`):
    /// PostgreSQL's commits do not wait on one another's sync as SQLite's
    /// single writer does.
    async fn write_alert_rows_and_updates(
        &self,
        rows: &[crate::AlertRow],
        _updates: &[crate::IncidentWrite],
    ) -> (Result<(), sqlx::Error>, Option<Result<(), sqlx::Error>>) {
        (self.write_alert_rows(rows).await, None)
    }

    /// Every alert whose end is after `after`, by fingerprint (its key).
    async fn read_alert_rows(
        &self,
        after: jiff::Timestamp,
    ) -> Result<Vec<crate::AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM alerts WHERE ends_at > $1 ORDER BY fingerprint",
            crate::alerting::ALERT_COLUMNS
        );
        let rows: Vec<crate::alerting::AlertTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(after.as_microsecond())
            .fetch_all(self.read_pool())
            .await
            .map_err(self.error("reading alerts"))?;
        rows.into_iter().map(crate::alerting::alert_from).collect()
    }

    /// Deletes the alerts that ended before `before`.
    async fn prune_alert_rows(&self, before: jiff::Timestamp) -> Result<u64, sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM alerts WHERE ends_at < $1")
            .bind(before.as_microsecond())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Writes alert rows (insert or replace by fingerprint) in one
    /// transaction and one statement, the columns bound as arrays. PostgreSQL refuses to update one row
    /// twice in a statement, so a fingerprint written twice keeps only its
    /// last row, as separate statements would leave it.
    async fn write_alert_rows(&self, rows: &[crate::AlertRow]) -> Result<(), sqlx::Error> {
        let mut tx = self.write_tx().await?;
        let mut last = std::collections::HashMap::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            last.insert(r.fingerprint, i);
        }
        let n = last.len();
        let mut fingerprint = Vec::with_capacity(n);
        let mut source = Vec::with_capacity(n);
        let mut service = Vec::with_capacity(n);
        let mut starts_at = Vec::with_capacity(n);
        let mut ends_at = Vec::with_capacity(n);
        let mut updated_at = Vec::with_capacity(n);
        let mut body = Vec::with_capacity(n);
        for (i, r) in rows.iter().enumerate() {
            if last.get(&r.fingerprint) != Some(&i) {
                continue;
            }
            fingerprint.push(r.fingerprint as i64);
            source.push(&*r.source);
            service.push(&*r.service);
            starts_at.push(r.starts_at.as_microsecond());
            ends_at.push(r.ends_at.as_microsecond());
            updated_at.push(r.updated_at.as_microsecond());
            body.push(&*r.body);
        }
        sqlx::query(
            "INSERT INTO alerts (fingerprint, source, service, starts_at, ends_at, updated_at, body)
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[],
                                  $5::bigint[], $6::bigint[], $7::text[])
             ON CONFLICT (fingerprint) DO UPDATE SET source = EXCLUDED.source,
               service = EXCLUDED.service, starts_at = EXCLUDED.starts_at,
               ends_at = EXCLUDED.ends_at, updated_at = EXCLUDED.updated_at,
               body = EXCLUDED.body",
        )
        .bind(fingerprint)
        .bind(source)
        .bind(service)
        .bind(starts_at)
        .bind(ends_at)
        .bind(updated_at)
        .bind(body)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
}

crate::alerting::alert_store_impl!(PostgresStore);
crate::heartbeat::heartbeat_store_impl!(PostgresStore);
crate::maintenance::maintenance_store_impl!(PostgresStore);
crate::schedule_override::schedule_override_store_impl!(PostgresStore);
crate::budget_exhaustion::budget_store_impl!(PostgresStore);

/// Names the server and database without the user or password.
fn describe(options: &PgConnectOptions) -> String {
    // As in libpq, the database defaults to the user's name.
    let database = options
        .get_database()
        .unwrap_or_else(|| options.get_username());
    let port = options.get_port();
    match options.get_socket() {
        Some(socket_dir) => format!(
            "{} {}:{port}/{database}",
            Engine::Postgres,
            socket_dir.display()
        ),
        None => format!(
            "{} {}:{port}/{database}",
            Engine::Postgres,
            options.get_host()
        ),
    }
}

/// Brings the schema up to `migrations`, one transaction per migration.
///
/// Each transaction first takes the migration lock and only then looks at
/// what is applied, so two nodes starting together apply each migration once:
/// the second waits, then finds nothing left to do.
async fn run_migrations(
    conn: &mut PgConnection,
    migrations: &[Migration],
    target: &str,
) -> Result<(), StoreError> {
    let error = |error| StoreError::from_sqlx("migrating the schema", target, error);
    loop {
        let mut tx = conn.begin().await.map_err(error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(error)?;
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
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
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
impl Store for PostgresStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    fn describe(&self) -> String {
        self.target.clone()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(self.error("ping"))?;
        Ok(())
    }

    async fn schema_version(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await
            .map_err(self.error("reading the schema version"))
    }

    async fn record_config_revision(
        &self,
        rev: &NewConfigRevision,
    ) -> Result<ConfigRevision, StoreError> {
        let error = self.error("recording a config revision");
        let mut tx = self.pool.begin().await.map_err(&error)?;
        // Without the lock, two nodes loading the same file at once would both
        // see an older latest revision and both insert.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CONFIG_REVISION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(&error)?;
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
                     VALUES ($1, $2, $3, $4, $5)
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
        .fetch_optional(&self.pool)
        .await
        .map_err(self.error("reading the latest config revision"))?;
        row.map(config_revision::from_row).transpose()
    }

    async fn config_revisions(&self, limit: u32) -> Result<Vec<ConfigRevision>, StoreError> {
        let rows: Vec<RevisionRow> = sqlx::query_as(
            "SELECT id, hash, source, loaded_at, objects, summary
             FROM config_revisions ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("listing config revisions"))?;
        rows.into_iter().map(config_revision::from_row).collect()
    }

    async fn record_gate_override(&self, o: &NewGateOverride) -> Result<GateOverride, StoreError> {
        gate_override::check(o)?;
        let error = self.error("recording a gate override");
        let mut tx = self.pool.begin().await.map_err(&error)?;
        let row: gate_override::OverrideRow = sqlx::query_as(
            "INSERT INTO gate_overrides (service, reason, created_by, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)
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
             WHERE service = $1 AND created_at <= $2 AND expires_at > $3
             ORDER BY id DESC",
        )
        .bind(service)
        .bind(micros)
        .bind(micros)
        .fetch_all(&self.pool)
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
        let mut tx = self
            .pool
            .begin_with(BEGIN_READ_COMMITTED)
            .await
            .map_err(&error)?;
        if let Some(key) = idempotency_key {
            // ON CONFLICT waits for a concurrent batch that inserted the same
            // key: if that one commits, this insert does nothing, and the next
            // statement's snapshot sees the committed key; if it rolls back,
            // this one inserts. Either way exactly one batch applies, without
            // a unique violation aborting the transaction.
            loop {
                let recorded = sqlx::query(
                    "INSERT INTO ingest_keys (key, received_at) VALUES ($1, $2)
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(timestamp_micros(received_at))
                .execute(&mut *tx)
                .await
                .map_err(&error)?;
                if recorded.rows_affected() == 1 {
                    break;
                }
                let first: Option<i64> =
                    sqlx::query_scalar("SELECT received_at FROM ingest_keys WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(&error)?;
                if let Some(first) = first {
                    tx.rollback().await.map_err(&error)?;
                    return sli_bucket::duplicate(key, first);
                }
                // The key was pruned between the two statements, so this
                // batch is the first one with it now: record it again.
            }
        }
        if !increments.is_empty() {
            // One statement for the whole batch, as parallel arrays, so a
            // batch costs one round trip whatever its size. The buckets are
            // distinct and in a fixed order (see `sli_bucket::increments`),
            // and UNNEST yields them in that order.
            let mut series = Vec::with_capacity(increments.len());
            let mut minutes = Vec::with_capacity(increments.len());
            let mut maintenance = Vec::with_capacity(increments.len());
            let mut good = Vec::with_capacity(increments.len());
            let mut total = Vec::with_capacity(increments.len());
            for ((s, m, w), (g, t)) in increments {
                series.push(s);
                minutes.push(m);
                maintenance.push(w);
                good.push(g);
                total.push(t);
            }
            sqlx::query(
                "INSERT INTO sli_buckets (series, minute, maintenance, good, total)
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::boolean[],
                                      $4::double precision[], $5::double precision[])
                 ON CONFLICT (series, minute, maintenance) DO UPDATE
                 SET good = sli_buckets.good + EXCLUDED.good,
                     total = sli_buckets.total + EXCLUDED.total",
            )
            .bind(series)
            .bind(minutes)
            .bind(maintenance)
            .bind(good)
            .bind(total)
            .execute(&mut *tx)
            .await
            .map_err(&error)?;
        }
        tx.commit().await.map_err(&error)?;
        Ok(BatchOutcome::Applied { rows: rows.len() })
    }

    async fn sli_buckets_since(&self, since_minute: i64) -> Result<Vec<BucketRow>, StoreError> {
        // Sorted here rather than by the database: see `sli_bucket::in_series_order`.
        let rows: Vec<BucketColumns> = sqlx::query_as(
            "SELECT series, minute, maintenance, good, total FROM sli_buckets
             WHERE minute >= $1",
        )
        .bind(since_minute)
        .fetch_all(&self.pool)
        .await
        .map_err(self.error("reading SLI buckets"))?;
        Ok(sli_bucket::in_series_order(rows))
    }

    async fn prune_sli_buckets(&self, before_minute: i64) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM sli_buckets WHERE minute < $1")
            .bind(before_minute)
            .execute(&self.pool)
            .await
            .map_err(self.error("pruning SLI buckets"))?;
        Ok(deleted.rows_affected())
    }

    async fn prune_idempotency_keys(&self, before: jiff::Timestamp) -> Result<u64, StoreError> {
        let deleted = sqlx::query("DELETE FROM ingest_keys WHERE received_at < $1")
            .bind(timestamp_micros(before))
            .execute(&self.pool)
            .await
            .map_err(self.error("pruning idempotency keys"))?;
        Ok(deleted.rows_affected())
    }

    async fn close(&self) {
        self.pool.close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn described(url: &str) -> String {
        describe(&PgConnectOptions::from_str(url).unwrap())
    }

    #[test]
    fn description_names_host_port_and_database_but_no_credentials() {
        assert_eq!(
            described("postgres://nines:hunter2@db.internal:6543/slo"),
            "postgres db.internal:6543/slo"
        );
        assert_eq!(
            described("postgres://nines@127.0.0.1/nines"),
            "postgres 127.0.0.1:5432/nines"
        );
        assert_eq!(
            described("postgres://nines@db.internal"),
            "postgres db.internal:5432/nines"
        );
        assert_eq!(
            described("postgres:///slo?host=/run/postgresql"),
            "postgres /run/postgresql:5432/slo"
        );
    }
}
