//! On-call schedule overrides added at run time: someone covers a schedule
//! for a span, whoever its layers name.

use jiff::Timestamp;

use crate::StoreError;
use crate::alerting::time;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScheduleOverride {
    pub schedule: String,
    pub person: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOverride {
    pub id: i64,
    pub schedule: String,
    pub person: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

pub(crate) type ScheduleOverrideTuple = (i64, String, String, i64, i64, String, String, i64);

pub(crate) const COLUMNS: &str =
    "id, schedule, person, starts_at, ends_at, reason, created_by, created_at";

pub(crate) fn from_tuple(t: ScheduleOverrideTuple) -> Result<ScheduleOverride, StoreError> {
    Ok(ScheduleOverride {
        id: t.0,
        schedule: t.1,
        person: t.2,
        starts_at: time(t.3, "schedule_overrides.starts_at")?,
        ends_at: time(t.4, "schedule_overrides.ends_at")?,
        reason: t.5,
        created_by: t.6,
        created_at: time(t.7, "schedule_overrides.created_at")?,
    })
}

/// Refuses an override that ends before it starts, before any SQL runs.
pub(crate) fn check(o: &NewScheduleOverride) -> Result<(), StoreError> {
    if o.ends_at <= o.starts_at {
        return Err(StoreError::InvalidInput {
            what: format!(
                "a schedule override must end after it starts ({} is not after {})",
                o.ends_at, o.starts_at
            ),
        });
    }
    Ok(())
}

#[async_trait::async_trait]
pub trait ScheduleOverrideStore {
    /// Records an override; committed before returning.
    async fn add_schedule_override(
        &self,
        o: &NewScheduleOverride,
    ) -> Result<ScheduleOverride, StoreError>;

    /// The overrides of `schedule` (of every schedule when `None`) that end
    /// after `ending_after`, oldest first: the later one wins where two
    /// overlap.
    async fn schedule_overrides(
        &self,
        schedule: Option<&str>,
        ending_after: Timestamp,
    ) -> Result<Vec<ScheduleOverride>, StoreError>;

    /// Deletes override `id` of `schedule`; `false` when there is none.
    async fn delete_schedule_override(&self, schedule: &str, id: i64) -> Result<bool, StoreError>;
}

/// Implements [`ScheduleOverrideStore`] for an engine, as `alert_store_impl` does.
macro_rules! schedule_override_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::schedule_override::ScheduleOverrideStore for $store {
            async fn add_schedule_override(
                &self,
                o: &$crate::schedule_override::NewScheduleOverride,
            ) -> Result<$crate::schedule_override::ScheduleOverride, $crate::StoreError> {
                $crate::schedule_override::check(o)?;
                let error = self.error("recording a schedule override");
                let sql = Self::sql(&format!(
                    "INSERT INTO schedule_overrides
                       (schedule, person, starts_at, ends_at, reason, created_by, created_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {}",
                    $crate::schedule_override::COLUMNS
                ));
                let mut tx = self.write_tx().await.map_err(&error)?;
                let row: $crate::schedule_override::ScheduleOverrideTuple = sqlx::query_as(sql)
                    .bind(&o.schedule)
                    .bind(&o.person)
                    .bind(o.starts_at.as_microsecond())
                    .bind(o.ends_at.as_microsecond())
                    .bind(&o.reason)
                    .bind(&o.created_by)
                    .bind(o.created_at.as_microsecond())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)?;
                $crate::schedule_override::from_tuple(row)
            }

            async fn schedule_overrides(
                &self,
                schedule: Option<&str>,
                ending_after: jiff::Timestamp,
            ) -> Result<Vec<$crate::schedule_override::ScheduleOverride>, $crate::StoreError>
            {
                let error = self.error("reading schedule overrides");
                let columns = $crate::schedule_override::COLUMNS;
                let rows: Vec<$crate::schedule_override::ScheduleOverrideTuple> = match schedule {
                    Some(s) => sqlx::query_as(Self::sql(&format!(
                        "SELECT {columns} FROM schedule_overrides
                         WHERE schedule = ? AND ends_at > ? ORDER BY id"
                    )))
                    .bind(s)
                    .bind(ending_after.as_microsecond())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(&error)?,
                    None => sqlx::query_as(Self::sql(&format!(
                        "SELECT {columns} FROM schedule_overrides WHERE ends_at > ? ORDER BY id"
                    )))
                    .bind(ending_after.as_microsecond())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(&error)?,
                };
                rows.into_iter()
                    .map($crate::schedule_override::from_tuple)
                    .collect()
            }

            async fn delete_schedule_override(
                &self,
                schedule: &str,
                id: i64,
            ) -> Result<bool, $crate::StoreError> {
                let error = self.error("deleting a schedule override");
                let sql = Self::sql("DELETE FROM schedule_overrides WHERE schedule = ? AND id = ?");
                let mut tx = self.write_tx().await.map_err(&error)?;
                let done = sqlx::query(sql)
                    .bind(schedule)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use schedule_override_store_impl;
