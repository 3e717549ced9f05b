//! The durable state of nines behind one [`Store`] trait.
//!
//! Two engines implement it: SQLite, embedded in the data directory and the
//! default, and PostgreSQL, for several nines sharing one state. Only this
//! crate knows SQL; the rest of nines sees domain values and [`StoreError`].
//!
//! Both engines keep the same shape: timestamps are integer microseconds since
//! the Unix epoch (UTC), ids only grow, and every write is committed before
//! the method returns. One contract-test suite (`src/contract_tests.rs`) runs
//! against both, so they cannot drift apart.
//!
//! # Tables
//!
//! - `config_revisions`: the history of loaded configurations ([`ConfigRevision`]).
//! - `sli_buckets`: SLI events per objective series, minute and maintenance
//!   ([`BucketRow`]), added to by the ingest and pruned by age.
//! - `ingest_keys`: the idempotency keys of the ingest batches already in
//!   `sli_buckets`, written in the same transaction as their buckets.
//! - `alerts`, `silences`, `incidents`, `incident_events`, `changes`, `outbox`:
//!   alert intake, incidents and their timelines, notifications to deliver
//!   ([`AlertStore`], `alerting.rs`); heartbeats ([`HeartbeatStore`],
//!   `heartbeat.rs`); maintenance windows ([`MaintenanceStore`],
//!   `maintenance.rs`). An incident that took over its group's new alerts
//!   from an earlier one still open (`groupWindow`) names it in
//!   `incidents.supersedes`.
//! - `schedule_overrides`: on-call overrides added at run time
//!   ([`ScheduleOverrideStore`], `schedule_override.rs`).
//! - `budget_exhaustions`: since when each objective's error budget has been
//!   exhausted ([`BudgetStore`], `budget_exhaustion.rs`).
//! - `schema_migrations`: which migrations have been applied (`migrate.rs`).
//!
//! # Adding a table and a method
//!
//! 1. Write `migrations/sqlite/NNNN_name.sql` and `migrations/postgres/NNNN_name.sql`
//!    and append both to the lists in `migrate.rs`.
//! 2. Put the domain types, and the mapping from a selected row, in a module
//!    named after the domain (as `config_revision.rs` does).
//! 3. Add the method to [`Store`] and implement it in `sqlite.rs` (writes go
//!    through the single writer) and `postgres.rs`.
//! 4. Add a contract test to the list at the bottom of `contract_tests.rs`.

use std::fmt;
use std::sync::Arc;

mod alert_segments;
mod alerting;
mod budget_exhaustion;
mod config_revision;
#[cfg(test)]
mod contract_tests;
mod error;
mod gate_override;
mod heartbeat;
mod location;
mod maintenance;
mod migrate;
mod postgres;
mod schedule_override;
mod sli_bucket;
mod sqlite;

pub use alerting::{
    AlertRow, AlertStore, Attempt, Change, FollowUp, IncidentEvent, IncidentRow, IncidentWrite,
    NewChange, NewIncidentEvent, NewNotification, Notification, SilenceRow,
};
pub use budget_exhaustion::{BudgetExhaustion, BudgetStore};
pub use config_revision::{ConfigRevision, NewConfigRevision};
pub use error::{Cause, StoreError};
pub use gate_override::{GateOverride, NewGateOverride};
pub use heartbeat::{HeartbeatRow, HeartbeatStore};
pub use location::StoreLocation;
pub use maintenance::{MaintenanceStore, WindowRow};
pub use schedule_override::{NewScheduleOverride, ScheduleOverride, ScheduleOverrideStore};
pub use sli_bucket::{BatchOutcome, BucketRow};

/// The database engine behind a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

/// The durable state of nines.
///
/// Every method that writes has committed its write when it returns `Ok`, so
/// an acknowledged change survives a crash of nines or of the machine.
#[async_trait::async_trait]
pub trait Store:
    AlertStore
    + BudgetStore
    + HeartbeatStore
    + MaintenanceStore
    + ScheduleOverrideStore
    + Send
    + Sync
    + 'static
{
    /// Which engine this store runs on.
    fn engine(&self) -> Engine;

    /// Where the store is, for logs and the status page; never includes a password.
    fn describe(&self) -> String;

    /// Makes one cheap round trip to the database, so that readiness reflects
    /// whether the store can be used now.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The newest schema migration applied to this store.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// Records a loaded configuration, unless it is the one already in force.
    ///
    /// If the latest revision has the same `hash`, that revision is returned
    /// and nothing is written, so reloading an unchanged file leaves no trace.
    /// Going back to an older configuration does record a new revision,
    /// because the history is of what was in force, not of distinct contents.
    async fn record_config_revision(
        &self,
        rev: &NewConfigRevision,
    ) -> Result<ConfigRevision, StoreError>;

    /// The most recently recorded revision, if any.
    async fn latest_config_revision(&self) -> Result<Option<ConfigRevision>, StoreError>;

    /// Up to `limit` revisions, newest first.
    async fn config_revisions(&self, limit: u32) -> Result<Vec<ConfigRevision>, StoreError>;

    /// Records a deploy gate override; committed before returning.
    async fn record_gate_override(&self, o: &NewGateOverride) -> Result<GateOverride, StoreError>;

    /// The overrides of `service` in force at `at` (created at or before it,
    /// expiring after it), newest first.
    async fn gate_overrides_in_force(
        &self,
        service: &str,
        at: jiff::Timestamp,
    ) -> Result<Vec<GateOverride>, StoreError>;

    /// Adds a batch of SLI increments to their buckets, at most once per
    /// `idempotency_key`, in one transaction.
    ///
    /// If a batch with the same key was recorded before (and its key not yet
    /// pruned), nothing changes and the first batch's `received_at` comes
    /// back as [`BatchOutcome::Duplicate`]; of several batches sending the
    /// same key at once, exactly one is applied. Otherwise the key, if any, is
    /// recorded with `received_at`, and each row's `good` and `total` are
    /// added to its bucket, creating it if need be; rows of the batch that
    /// name the same bucket add up. A batch without rows still records its key.
    ///
    /// Counts must be finite and not negative; a batch with any other count
    /// is refused whole with [`StoreError::InvalidInput`].
    async fn record_sli_batch(
        &self,
        idempotency_key: Option<&str>,
        received_at: jiff::Timestamp,
        rows: &[BucketRow],
    ) -> Result<BatchOutcome, StoreError>;

    /// Every bucket with `minute >= since_minute`, ordered by series (by
    /// bytes, not by locale), minute and maintenance (`false` first), which is
    /// what the SLO engine reads to rebuild its windows at start-up.
    async fn sli_buckets_since(&self, since_minute: i64) -> Result<Vec<BucketRow>, StoreError>;

    /// Deletes the buckets with `minute < before_minute`, returning how many.
    async fn prune_sli_buckets(&self, before_minute: i64) -> Result<u64, StoreError>;

    /// Forgets the idempotency keys of batches received before `before`,
    /// returning how many. A client retrying such a batch later would have it
    /// counted again, so keys must be kept longer than any client retries.
    async fn prune_idempotency_keys(&self, before: jiff::Timestamp) -> Result<u64, StoreError>;

    /// Closes every connection and releases the data directory, waiting for
    /// work in flight to finish. Later calls fail with [`StoreError::Closed`].
    async fn close(&self);
}

/// Opens the store at `location`, bringing its schema up to date first.
pub async fn open(location: &StoreLocation) -> Result<Arc<dyn Store>, StoreError> {
    open_with(location, migrate::for_engine(location.engine())).await
}

/// Opens the store as a binary that knows only `migrations` would, which lets
/// tests stand in for older and newer releases of nines.
pub(crate) async fn open_with(
    location: &StoreLocation,
    migrations: &[migrate::Migration],
) -> Result<Arc<dyn Store>, StoreError> {
    let store: Arc<dyn Store> = match location {
        StoreLocation::Sqlite { data_dir } => {
            Arc::new(sqlite::SqliteStore::open(data_dir, migrations).await?)
        }
        StoreLocation::Postgres { url } => {
            Arc::new(postgres::PostgresStore::open(url, migrations).await?)
        }
    };
    tracing::info!(store = %store.describe(), "store opened");
    Ok(store)
}
