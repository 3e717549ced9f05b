//! Heartbeats: when each was first known and when it last pinged.

use jiff::Timestamp;

use crate::StoreError;
use crate::alerting::time;

/// One heartbeat's durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRow {
    pub service: String,
    pub name: String,
    /// When nines first knew this heartbeat: one never pinged is late from
    /// then.
    pub since: Timestamp,
    pub last_ping_at: Option<Timestamp>,
}

pub(crate) type HeartbeatTuple = (String, String, i64, Option<i64>);

pub(crate) fn heartbeat_from(t: HeartbeatTuple) -> Result<HeartbeatRow, StoreError> {
    Ok(HeartbeatRow {
        service: t.0,
        name: t.1,
        since: time(t.2, "heartbeats.since")?,
        last_ping_at: t
            .3
            .map(|m| time(m, "heartbeats.last_ping_at"))
            .transpose()?,
    })
}

#[async_trait::async_trait]
pub trait HeartbeatStore {
    /// Records that these heartbeats (service, name) exist from `now` unless
    /// already known, then returns every known heartbeat.
    async fn heartbeats(
        &self,
        known: &[(String, String)],
        now: Timestamp,
    ) -> Result<Vec<HeartbeatRow>, StoreError>;

    /// Records a ping; a ping older than the latest one changes nothing.
    async fn record_ping(&self, service: &str, name: &str, at: Timestamp)
    -> Result<(), StoreError>;
}

/// Implements [`HeartbeatStore`] for an engine, as `alert_store_impl` does.
macro_rules! heartbeat_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::heartbeat::HeartbeatStore for $store {
            async fn heartbeats(
                &self,
                known: &[(String, String)],
                now: jiff::Timestamp,
            ) -> Result<Vec<$crate::heartbeat::HeartbeatRow>, $crate::StoreError> {
                let error = self.error("reading heartbeats");
                if !known.is_empty() {
                    let sql = Self::sql(
                        "INSERT INTO heartbeats (service, name, since) VALUES (?, ?, ?)
                         ON CONFLICT (service, name) DO NOTHING",
                    );
                    let mut tx = self.write_tx().await.map_err(&error)?;
                    for (service, name) in known {
                        sqlx::query(sql.clone())
                            .bind(service)
                            .bind(name)
                            .bind(now.as_microsecond())
                            .execute(&mut *tx)
                            .await
                            .map_err(&error)?;
                    }
                    tx.commit().await.map_err(&error)?;
                }
                let rows: Vec<$crate::heartbeat::HeartbeatTuple> = sqlx::query_as(
                    "SELECT service, name, since, last_ping_at FROM heartbeats ORDER BY service, name",
                )
                .fetch_all(self.read_pool())
                .await
                .map_err(&error)?;
                rows.into_iter().map($crate::heartbeat::heartbeat_from).collect()
            }

            async fn record_ping(
                &self,
                service: &str,
                name: &str,
                at: jiff::Timestamp,
            ) -> Result<(), $crate::StoreError> {
                let error = self.error("recording a heartbeat ping");
                let sql = Self::sql(
                    "INSERT INTO heartbeats (service, name, since, last_ping_at) VALUES (?, ?, ?, ?)
                     ON CONFLICT (service, name) DO UPDATE SET last_ping_at = CASE
                       WHEN heartbeats.last_ping_at IS NULL OR heartbeats.last_ping_at < excluded.last_ping_at
                       THEN excluded.last_ping_at ELSE heartbeats.last_ping_at END",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                sqlx::query(sql.clone())
                    .bind(service)
                    .bind(name)
                    .bind(at.as_microsecond())
                    .bind(at.as_microsecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)
            }
        }
    };
}

pub(crate) use heartbeat_store_impl;
