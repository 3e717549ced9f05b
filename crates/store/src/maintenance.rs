//! Maintenance windows, by id, with an optional idempotency key.

use jiff::Timestamp;

use crate::StoreError;
use crate::alerting::time;

/// One maintenance window as stored: what SQL needs beside an opaque body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    pub id: String,
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub body: String,
}

pub(crate) type WindowTuple = (String, Option<String>, i64, i64, String);

pub(crate) fn window_from(t: WindowTuple) -> Result<WindowRow, StoreError> {
    Ok(WindowRow {
        id: t.0,
        idempotency_key: t.1,
        created_at: time(t.2, "maintenance_windows.created_at")?,
        updated_at: time(t.3, "maintenance_windows.updated_at")?,
        body: t.4,
    })
}

#[async_trait::async_trait]
pub trait MaintenanceStore {
    /// Stores a new window, unless its idempotency key is already taken:
    /// then nothing is written and the window stored under that key is
    /// returned instead (a retried request finds what it opened).
    async fn create_window(&self, row: &WindowRow) -> Result<WindowRow, StoreError>;

    /// Replaces a stored window's body (extended, ended, cancelled).
    /// Returns false if there is no window with that id.
    async fn update_window(&self, row: &WindowRow) -> Result<bool, StoreError>;

    /// Every stored window, oldest first.
    async fn windows(&self) -> Result<Vec<WindowRow>, StoreError>;
}

/// Implements [`MaintenanceStore`] for an engine, as `alert_store_impl` does.
macro_rules! maintenance_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::maintenance::MaintenanceStore for $store {
            async fn create_window(
                &self,
                r: &$crate::maintenance::WindowRow,
            ) -> Result<$crate::maintenance::WindowRow, $crate::StoreError> {
                let error = self.error("opening a maintenance window");
                let insert = Self::sql(
                    "INSERT INTO maintenance_windows (id, idempotency_key, created_at, updated_at, body)
                     VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                );
                let select = Self::sql(
                    "SELECT id, idempotency_key, created_at, updated_at, body
                     FROM maintenance_windows WHERE idempotency_key = ?",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                let n = sqlx::query(insert.clone())
                    .bind(&r.id)
                    .bind(&r.idempotency_key)
                    .bind(r.created_at.as_microsecond())
                    .bind(r.updated_at.as_microsecond())
                    .bind(&r.body)
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?
                    .rows_affected();
                let found = if n == 0 {
                    let t: $crate::maintenance::WindowTuple = sqlx::query_as(select.clone())
                        .bind(&r.idempotency_key)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(&error)?;
                    Some($crate::maintenance::window_from(t)?)
                } else {
                    None
                };
                tx.commit().await.map_err(&error)?;
                Ok(found.unwrap_or_else(|| r.clone()))
            }

            async fn update_window(
                &self,
                r: &$crate::maintenance::WindowRow,
            ) -> Result<bool, $crate::StoreError> {
                let error = self.error("changing a maintenance window");
                let sql = Self::sql(
                    "UPDATE maintenance_windows SET updated_at = ?, body = ? WHERE id = ?",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                let n = sqlx::query(sql.clone())
                    .bind(r.updated_at.as_microsecond())
                    .bind(&r.body)
                    .bind(&r.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?
                    .rows_affected();
                tx.commit().await.map_err(&error)?;
                Ok(n == 1)
            }

            async fn windows(
                &self,
            ) -> Result<Vec<$crate::maintenance::WindowRow>, $crate::StoreError> {
                let rows: Vec<$crate::maintenance::WindowTuple> = sqlx::query_as(
                    "SELECT id, idempotency_key, created_at, updated_at, body
                     FROM maintenance_windows ORDER BY created_at, id",
                )
                .fetch_all(self.read_pool())
                .await
                .map_err(self.error("reading maintenance windows"))?;
                rows.into_iter().map($crate::maintenance::window_from).collect()
            }
        }
    };
}

pub(crate) use maintenance_store_impl;
