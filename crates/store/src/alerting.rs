//! Alerts, silences, incidents with their timelines, changes, and the
//! notification outbox: the rows behind alert intake and incidents.
//!
//! What only nines reads back (labels, annotations, matchers, payloads) is
//! kept as opaque text in `body`; the columns beside it are what SQL filters
//! and orders on.

use std::sync::Arc;

use jiff::Timestamp;

use crate::StoreError;
use crate::config_revision::timestamp_from_micros;

/// The latest state of one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// The alert's identity (a 64-bit fingerprint).
    pub fingerprint: u64,
    /// Shared, not copied, when SQLite binds them (sqlx copies a borrowed
    /// string it binds, and binds an `Arc<str>` as it is).
    pub source: Arc<str>,
    pub service: Arc<str>,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub body: Arc<str>,
}

/// A silence (Alertmanager's), by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceRow {
    pub id: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub updated_at: Timestamp,
    pub body: String,
}

/// An incident's current state. `id` is 0 for one not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    pub id: i64,
    pub group_key: String,
    pub service: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub state: String,
    /// `high` or `low`.
    pub urgency: String,
    pub opened_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub body: String,
    /// The earlier open incident of the same group that this one took new
    /// alerts over from (its group window had passed); `None` for a group's
    /// first. Written when the incident is inserted, never changed after.
    pub supersedes: Option<i64>,
}

/// One entry of an incident's timeline, to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncidentEvent {
    pub at: Timestamp,
    pub kind: String,
    pub actor: String,
    pub body: String,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEvent {
    pub id: i64,
    pub incident_id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub actor: String,
    pub body: String,
}

/// A notification decided and to be delivered, at least once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Sent with every attempt so receivers can drop duplicates; unique.
    pub idempotency_key: String,
    /// The kind of channel (`webhook`, ...).
    pub channel: String,
    /// Where it goes (a URL, an address).
    pub target: String,
    pub body: String,
    pub created_at: Timestamp,
    /// Not delivered before this (a resolution told at the group's next
    /// interval); unset, at once.
    pub not_before: Option<Timestamp>,
}

impl NewNotification {
    /// When its first attempt is due.
    pub fn first_attempt_at(&self) -> Timestamp {
        self.not_before
            .map_or(self.created_at, |t| t.max(self.created_at))
    }
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub idempotency_key: String,
    pub incident_id: Option<i64>,
    pub channel: String,
    pub target: String,
    pub body: String,
    pub created_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub attempts: i64,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    pub last_error: String,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered {
        at: Timestamp,
    },
    Retry {
        at: Timestamp,
        error: String,
        next_attempt_at: Timestamp,
    },
    GaveUp {
        at: Timestamp,
        error: String,
    },
    /// Not sent on its own: held for a digest, which tells it (`note`
    /// says which). Done, as a delivered one is.
    Held {
        at: Timestamp,
        note: String,
    },
}

/// What a delivery attempt decides, written in the transaction that
/// records it: a page to a person's fallback contacts when the primary
/// keeps failing, a digest that a held page joins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUp {
    /// The incident they belong to (none for a digest of several).
    pub incident_id: Option<i64>,
    /// Inserted unless their idempotency key is in the outbox already;
    /// with `replace`, a pending one's body is replaced instead (a digest
    /// that gained an item).
    pub notifications: Vec<NewNotification>,
    pub replace: bool,
    /// Written on `incident_id`'s timeline only when one of
    /// `notifications` was new, so a decision taken twice is told once.
    pub event_if_new: Option<NewIncidentEvent>,
}

/// An incident written together with its new timeline entries and the
/// notifications decided for it, in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentWrite {
    pub incident: IncidentRow,
    pub events: Vec<NewIncidentEvent>,
    pub notifications: Vec<NewNotification>,
}

/// A change (a deploy) on a service's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub service: String,
    pub at: Timestamp,
    pub summary: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub id: i64,
    pub service: String,
    pub at: Timestamp,
    pub summary: String,
    pub body: String,
}

pub(crate) fn time(micros: i64, what: &str) -> Result<Timestamp, StoreError> {
    timestamp_from_micros(micros).map_err(|error| StoreError::Corrupt {
        what: format!("{what}: {error}"),
    })
}

pub(crate) type AlertTuple = (i64, String, String, i64, i64, i64, String);

pub(crate) fn alert_from(t: AlertTuple) -> Result<AlertRow, StoreError> {
    let (fp, source, service, s, e, u, body) = t;
    Ok(AlertRow {
        fingerprint: fp as u64,
        source: source.into(),
        service: service.into(),
        starts_at: time(s, "alerts.starts_at")?,
        ends_at: time(e, "alerts.ends_at")?,
        updated_at: time(u, "alerts.updated_at")?,
        body: body.into(),
    })
}

pub(crate) type SilenceTuple = (String, i64, i64, i64, String);

pub(crate) fn silence_from(t: SilenceTuple) -> Result<SilenceRow, StoreError> {
    let (id, s, e, u, body) = t;
    Ok(SilenceRow {
        id,
        starts_at: time(s, "silences.starts_at")?,
        ends_at: time(e, "silences.ends_at")?,
        updated_at: time(u, "silences.updated_at")?,
        body,
    })
}

pub(crate) type IncidentTuple = (
    i64,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    String,
    Option<i64>,
);

pub(crate) fn incident_from(t: IncidentTuple) -> Result<IncidentRow, StoreError> {
    let (id, group_key, service, state, urgency, o, u, r, body, supersedes) = t;
    Ok(IncidentRow {
        id,
        group_key,
        service,
        state,
        urgency,
        opened_at: time(o, "incidents.opened_at")?,
        updated_at: time(u, "incidents.updated_at")?,
        resolved_at: r.map(|r| time(r, "incidents.resolved_at")).transpose()?,
        body,
        supersedes,
    })
}

pub(crate) type EventTuple = (i64, i64, i64, String, String, String);

pub(crate) fn event_from(t: EventTuple) -> Result<IncidentEvent, StoreError> {
    let (id, incident_id, at, kind, actor, body) = t;
    Ok(IncidentEvent {
        id,
        incident_id,
        at: time(at, "incident_events.at")?,
        kind,
        actor,
        body,
    })
}

pub(crate) type ChangeTuple = (i64, String, i64, String, String);

pub(crate) fn change_from(t: ChangeTuple) -> Result<Change, StoreError> {
    let (id, service, at, summary, body) = t;
    Ok(Change {
        id,
        service,
        at: time(at, "changes.at")?,
        summary,
        body,
    })
}

pub(crate) type NotificationTuple = (
    i64,
    String,
    Option<i64>,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
);

pub(crate) fn notification_from(t: NotificationTuple) -> Result<Notification, StoreError> {
    let (id, key, incident_id, channel, target, body, c, n, attempts, state, last_error) = t;
    Ok(Notification {
        id,
        idempotency_key: key,
        incident_id,
        channel,
        target,
        body,
        created_at: time(c, "outbox.created_at")?,
        next_attempt_at: time(n, "outbox.next_attempt_at")?,
        attempts,
        state,
        last_error,
    })
}

/// Refuses incident rows that the schema would refuse, with a message.
pub(crate) fn check_incident(row: &IncidentRow) -> Result<(), StoreError> {
    if !matches!(
        row.state.as_str(),
        "triggered" | "acknowledged" | "resolved"
    ) {
        return Err(StoreError::InvalidInput {
            what: format!("incident state {:?}", row.state),
        });
    }
    if !matches!(row.urgency.as_str(), "high" | "low") {
        return Err(StoreError::InvalidInput {
            what: format!("incident urgency {:?}", row.urgency),
        });
    }
    Ok(())
}

pub(crate) const ALERT_COLUMNS: &str =
    "fingerprint, source, service, starts_at, ends_at, updated_at, body";
pub(crate) const INCIDENT_COLUMNS: &str =
    "id, group_key, service, state, urgency, opened_at, updated_at, resolved_at, body, supersedes";
pub(crate) const NOTIFICATION_COLUMNS: &str = "id, idempotency_key, incident_id, channel, target, body, created_at, next_attempt_at, attempts, state, last_error";

/// Rewrites `?` placeholders as PostgreSQL's `$1, $2, ...`.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes incident updates, if any (see [`AlertStore::write_alerts_and_updates`]).
pub(crate) async fn write_updates<S: AlertStore + ?Sized>(
    store: &S,
    updates: &[IncidentWrite],
) -> Result<(), StoreError> {
    if updates.is_empty() {
        return Ok(());
    }
    store.write_incidents(updates).await.map(|_| ())
}

/// The alert, silence, incident, change and outbox part of the store.
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync + 'static {
    /// Writes the latest state of each alert (insert or replace by
    /// fingerprint), all in one transaction.
    async fn write_alerts(&self, rows: &[AlertRow]) -> Result<(), StoreError>;

    /// Writes alert rows (as [`AlertStore::write_alerts`]) and updates of
    /// incidents already stored (as [`AlertStore::write_incidents`]) in one
    /// transaction where the engine can (SQLite: one commit where two
    /// writers would each wait for one), else one after the other. Returns
    /// the outcome of each part; in one transaction they share it.
    async fn write_alerts_and_updates(
        &self,
        rows: &[AlertRow],
        updates: &[IncidentWrite],
    ) -> (Result<(), StoreError>, Result<(), StoreError>);

    /// Every alert whose end is after `after`, by fingerprint.
    async fn alerts_ending_after(&self, after: Timestamp) -> Result<Vec<AlertRow>, StoreError>;

    /// Deletes alerts that ended before `before`, returning how many.
    async fn prune_alerts(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Writes a silence (insert or replace by id).
    async fn put_silence(&self, row: &SilenceRow) -> Result<(), StoreError>;

    /// Every stored silence, by id.
    async fn silences(&self) -> Result<Vec<SilenceRow>, StoreError>;

    /// Deletes silences that ended before `before`, returning how many.
    async fn prune_silences(&self, before: Timestamp) -> Result<u64, StoreError>;

    /// Writes incidents (an `id` of 0 inserts a new one), their timeline
    /// entries and their notifications in one transaction; returns the ids
    /// in order. Opening a second unresolved incident for a group key with
    /// the same predecessor (`supersedes`) fails with
    /// [`StoreError::Conflict`] and writes nothing. An update leaves
    /// `supersedes` as it was inserted.
    async fn write_incidents(&self, writes: &[IncidentWrite]) -> Result<Vec<i64>, StoreError>;

    /// Incidents, newest first, at most `limit`; only unresolved ones when
    /// `open_only`.
    async fn incidents(&self, open_only: bool, limit: u32) -> Result<Vec<IncidentRow>, StoreError>;

    async fn incident(&self, id: i64) -> Result<Option<IncidentRow>, StoreError>;

    /// An incident's timeline, oldest first.
    async fn incident_events(&self, incident_id: i64) -> Result<Vec<IncidentEvent>, StoreError>;

    /// The timeline entries of the given kinds of every unresolved
    /// incident, oldest first (read once at start-up).
    async fn open_incident_events(&self, kinds: &[&str]) -> Result<Vec<IncidentEvent>, StoreError>;

    async fn record_change(&self, change: &NewChange) -> Result<Change, StoreError>;

    /// Changes of `service` at or after `since`, oldest first.
    async fn changes(&self, service: &str, since: Timestamp) -> Result<Vec<Change>, StoreError>;

    /// Pending notifications due at `now`, oldest first, at most `limit`.
    async fn due_notifications(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Records one delivery attempt, and `event` on the notification's
    /// incident timeline if it has one, in one transaction.
    async fn record_attempt(
        &self,
        id: i64,
        attempt: &Attempt,
        event: Option<&NewIncidentEvent>,
    ) -> Result<(), StoreError>;

    /// [`AlertStore::record_attempt`], and what it decides (`follow`) in
    /// the same transaction; returns whether a notification of `follow`
    /// was new (inserted, or replaced with `replace`).
    async fn record_attempt_with(
        &self,
        id: i64,
        attempt: &Attempt,
        event: Option<&NewIncidentEvent>,
        follow: &FollowUp,
    ) -> Result<bool, StoreError>;
}

/// Implements [`AlertStore`] for an engine that provides `write_tx()`,
/// `read_pool()`, `error(op)`, `sql(&str) -> Cow<str>`,
/// `write_alert_rows(rows)`, `write_alert_rows_and_updates(rows, updates)`,
/// `prune_alert_rows(before)`, `read_alert_rows(after)` and
/// `write_incident_updates(writes)`; only
/// the placeholder style, the alerts' layout and the write of incident
/// updates (each one transaction) differ between the engines.
macro_rules! alert_store_impl {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::alerting::AlertStore for $store {
            async fn write_alerts(
                &self,
                rows: &[$crate::alerting::AlertRow],
            ) -> Result<(), $crate::StoreError> {
                if rows.is_empty() {
                    return Ok(());
                }
                // Many rows per statement, and each engine's way of making
                // the transaction cheap (see its `write_alert_rows`).
                self.write_alert_rows(rows)
                    .await
                    .map_err(self.error("writing alerts"))
            }

            async fn write_alerts_and_updates(
                &self,
                rows: &[$crate::alerting::AlertRow],
                updates: &[$crate::alerting::IncidentWrite],
            ) -> (Result<(), $crate::StoreError>, Result<(), $crate::StoreError>) {
                if rows.is_empty() {
                    return (Ok(()), $crate::alerting::write_updates(self, updates).await);
                }
                if updates.is_empty()
                    || updates
                        .iter()
                        .any(|w| $crate::alerting::check_incident(&w.incident).is_err())
                {
                    let alerts = self.write_alerts(rows).await;
                    return (alerts, $crate::alerting::write_updates(self, updates).await);
                }
                let (alerts, together) = self.write_alert_rows_and_updates(rows, updates).await;
                let alerts = alerts.map_err(self.error("writing alerts"));
                let updates = match together {
                    Some(outcome) => outcome.map_err(self.error("writing incidents")),
                    None => $crate::alerting::write_updates(self, updates).await,
                };
                (alerts, updates)
            }

            async fn alerts_ending_after(
                &self,
                after: jiff::Timestamp,
            ) -> Result<Vec<$crate::alerting::AlertRow>, $crate::StoreError> {
                self.read_alert_rows(after).await
            }

            async fn prune_alerts(&self, before: jiff::Timestamp) -> Result<u64, $crate::StoreError> {
                self.prune_alert_rows(before)
                    .await
                    .map_err(self.error("pruning alerts"))
            }

            async fn put_silence(
                &self,
                r: &$crate::alerting::SilenceRow,
            ) -> Result<(), $crate::StoreError> {
                let error = self.error("writing a silence");
                let sql = Self::sql(
                    "INSERT INTO silences (id, starts_at, ends_at, updated_at, body) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (id) DO UPDATE SET starts_at = excluded.starts_at,
                       ends_at = excluded.ends_at, updated_at = excluded.updated_at, body = excluded.body",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                sqlx::query(sql.clone())
                    .bind(&r.id)
                    .bind(r.starts_at.as_microsecond())
                    .bind(r.ends_at.as_microsecond())
                    .bind(r.updated_at.as_microsecond())
                    .bind(&r.body)
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)
            }

            async fn silences(&self) -> Result<Vec<$crate::alerting::SilenceRow>, $crate::StoreError> {
                let rows: Vec<$crate::alerting::SilenceTuple> = sqlx::query_as(
                    "SELECT id, starts_at, ends_at, updated_at, body FROM silences ORDER BY id",
                )
                .fetch_all(self.read_pool())
                .await
                .map_err(self.error("reading silences"))?;
                rows.into_iter().map($crate::alerting::silence_from).collect()
            }

            async fn prune_silences(&self, before: jiff::Timestamp) -> Result<u64, $crate::StoreError> {
                let error = self.error("pruning silences");
                let sql = Self::sql("DELETE FROM silences WHERE ends_at < ?");
                let mut tx = self.write_tx().await.map_err(&error)?;
                let n = sqlx::query(sql.clone())
                    .bind(before.as_microsecond())
                    .execute(&mut *tx)
                    .await
                    .map_err(&error)?
                    .rows_affected();
                tx.commit().await.map_err(&error)?;
                Ok(n)
            }

            async fn write_incidents(
                &self,
                writes: &[$crate::alerting::IncidentWrite],
            ) -> Result<Vec<i64>, $crate::StoreError> {
                for w in writes {
                    $crate::alerting::check_incident(&w.incident)?;
                }
                let error = self.error("writing incidents");
                // The common case (incidents updated, their timeline and
                // notifications) may have a cheaper way in this engine.
                if let Some(ids) = self.write_incident_updates(writes).await.map_err(&error)? {
                    return Ok(ids);
                }
                let insert = Self::sql(
                    "INSERT INTO incidents (group_key, service, state, urgency, opened_at, updated_at, resolved_at, body, supersedes)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                );
                let update = Self::sql(
                    "UPDATE incidents SET group_key = ?, service = ?, state = ?, urgency = ?, opened_at = ?,
                       updated_at = ?, resolved_at = ?, body = ? WHERE id = ?",
                );
                let event = Self::sql(
                    "INSERT INTO incident_events (incident_id, at, kind, actor, body) VALUES (?, ?, ?, ?, ?)",
                );
                let outbox = Self::sql(
                    "INSERT INTO outbox (idempotency_key, incident_id, channel, target, body, created_at, next_attempt_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                let mut ids = Vec::with_capacity(writes.len());
                for w in writes {
                    let i = &w.incident;
                    let id = if i.id == 0 {
                        let inserted: Result<i64, sqlx::Error> = sqlx::query_scalar(insert.clone())
                            .bind(&i.group_key)
                            .bind(&i.service)
                            .bind(&i.state)
                            .bind(&i.urgency)
                            .bind(i.opened_at.as_microsecond())
                            .bind(i.updated_at.as_microsecond())
                            .bind(i.resolved_at.map(|t| t.as_microsecond()))
                            .bind(&i.body)
                            .bind(i.supersedes)
                            .fetch_one(&mut *tx)
                            .await;
                        match inserted {
                            Ok(id) => id,
                            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                                return Err($crate::StoreError::Conflict {
                                    what: format!(
                                        "an unresolved incident for group {} already exists",
                                        i.group_key
                                    ),
                                });
                            }
                            Err(e) => return Err(error(e)),
                        }
                    } else {
                        sqlx::query(update.clone())
                            .bind(&i.group_key)
                            .bind(&i.service)
                            .bind(&i.state)
                            .bind(&i.urgency)
                            .bind(i.opened_at.as_microsecond())
                            .bind(i.updated_at.as_microsecond())
                            .bind(i.resolved_at.map(|t| t.as_microsecond()))
                            .bind(&i.body)
                            .bind(i.id)
                            .execute(&mut *tx)
                            .await
                            .map_err(&error)?;
                        i.id
                    };
                    for e in &w.events {
                        sqlx::query(event.clone())
                            .bind(id)
                            .bind(e.at.as_microsecond())
                            .bind(&e.kind)
                            .bind(&e.actor)
                            .bind(&e.body)
                            .execute(&mut *tx)
                            .await
                            .map_err(&error)?;
                    }
                    for n in &w.notifications {
                        sqlx::query(outbox.clone())
                            .bind(&n.idempotency_key)
                            .bind(id)
                            .bind(&n.channel)
                            .bind(&n.target)
                            .bind(&n.body)
                            .bind(n.created_at.as_microsecond())
                            .bind(n.first_attempt_at().as_microsecond())
                            .execute(&mut *tx)
                            .await
                            .map_err(&error)?;
                    }
                    ids.push(id);
                }
                tx.commit().await.map_err(&error)?;
                Ok(ids)
            }

            async fn incidents(
                &self,
                open_only: bool,
                limit: u32,
            ) -> Result<Vec<$crate::alerting::IncidentRow>, $crate::StoreError> {
                let filter = if open_only { "WHERE state <> 'resolved'" } else { "" };
                let sql = Self::sql(&format!(
                    "SELECT {} FROM incidents {filter} ORDER BY id DESC LIMIT ?",
                    $crate::alerting::INCIDENT_COLUMNS
                ));
                let rows: Vec<$crate::alerting::IncidentTuple> = sqlx::query_as(sql.clone())
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(self.error("reading incidents"))?;
                rows.into_iter().map($crate::alerting::incident_from).collect()
            }

            async fn incident(
                &self,
                id: i64,
            ) -> Result<Option<$crate::alerting::IncidentRow>, $crate::StoreError> {
                let sql = Self::sql(&format!(
                    "SELECT {} FROM incidents WHERE id = ?",
                    $crate::alerting::INCIDENT_COLUMNS
                ));
                let row: Option<$crate::alerting::IncidentTuple> = sqlx::query_as(sql.clone())
                    .bind(id)
                    .fetch_optional(self.read_pool())
                    .await
                    .map_err(self.error("reading an incident"))?;
                row.map($crate::alerting::incident_from).transpose()
            }

            async fn incident_events(
                &self,
                incident_id: i64,
            ) -> Result<Vec<$crate::alerting::IncidentEvent>, $crate::StoreError> {
                let sql = Self::sql(
                    "SELECT id, incident_id, at, kind, actor, body FROM incident_events
                     WHERE incident_id = ? ORDER BY id",
                );
                let rows: Vec<$crate::alerting::EventTuple> = sqlx::query_as(sql.clone())
                    .bind(incident_id)
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(self.error("reading an incident timeline"))?;
                rows.into_iter().map($crate::alerting::event_from).collect()
            }

            async fn open_incident_events(
                &self,
                kinds: &[&str],
            ) -> Result<Vec<$crate::alerting::IncidentEvent>, $crate::StoreError> {
                if kinds.is_empty() {
                    return Ok(Vec::new());
                }
                let marks = vec!["?"; kinds.len()].join(", ");
                let sql = Self::sql(&format!(
                    "SELECT e.id, e.incident_id, e.at, e.kind, e.actor, e.body
                     FROM incident_events e JOIN incidents i ON i.id = e.incident_id
                     WHERE i.state <> 'resolved' AND e.kind IN ({marks}) ORDER BY e.id"
                ));
                let mut query = sqlx::query_as(sql.clone());
                for kind in kinds {
                    query = query.bind(*kind);
                }
                let rows: Vec<$crate::alerting::EventTuple> = query
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(self.error("reading the open incidents' timelines"))?;
                rows.into_iter().map($crate::alerting::event_from).collect()
            }

            async fn record_change(
                &self,
                c: &$crate::alerting::NewChange,
            ) -> Result<$crate::alerting::Change, $crate::StoreError> {
                let error = self.error("recording a change");
                let sql = Self::sql(
                    "INSERT INTO changes (service, at, summary, body) VALUES (?, ?, ?, ?)
                     RETURNING id, service, at, summary, body",
                );
                let mut tx = self.write_tx().await.map_err(&error)?;
                let row: $crate::alerting::ChangeTuple = sqlx::query_as(sql.clone())
                    .bind(&c.service)
                    .bind(c.at.as_microsecond())
                    .bind(&c.summary)
                    .bind(&c.body)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(&error)?;
                tx.commit().await.map_err(&error)?;
                $crate::alerting::change_from(row)
            }

            async fn changes(
                &self,
                service: &str,
                since: jiff::Timestamp,
            ) -> Result<Vec<$crate::alerting::Change>, $crate::StoreError> {
                let sql = Self::sql(
                    "SELECT id, service, at, summary, body FROM changes
                     WHERE service = ? AND at >= ? ORDER BY at, id",
                );
                let rows: Vec<$crate::alerting::ChangeTuple> = sqlx::query_as(sql.clone())
                    .bind(service)
                    .bind(since.as_microsecond())
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(self.error("reading changes"))?;
                rows.into_iter().map($crate::alerting::change_from).collect()
            }

            async fn due_notifications(
                &self,
                now: jiff::Timestamp,
                limit: u32,
            ) -> Result<Vec<$crate::alerting::Notification>, $crate::StoreError> {
                let sql = Self::sql(&format!(
                    "SELECT {} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?
                     ORDER BY next_attempt_at, id LIMIT ?",
                    $crate::alerting::NOTIFICATION_COLUMNS
                ));
                let rows: Vec<$crate::alerting::NotificationTuple> = sqlx::query_as(sql.clone())
                    .bind(now.as_microsecond())
                    .bind(i64::from(limit))
                    .fetch_all(self.read_pool())
                    .await
                    .map_err(self.error("reading the outbox"))?;
                rows.into_iter().map($crate::alerting::notification_from).collect()
            }

            async fn record_attempt(
                &self,
                id: i64,
                attempt: &$crate::alerting::Attempt,
                event: Option<&$crate::alerting::NewIncidentEvent>,
            ) -> Result<(), $crate::StoreError> {
                let none = $crate::alerting::FollowUp::default();
                $crate::alerting::AlertStore::record_attempt_with(self, id, attempt, event, &none)
                    .await
                    .map(|_| ())
            }

            async fn record_attempt_with(
                &self,
                id: i64,
                attempt: &$crate::alerting::Attempt,
                event: Option<&$crate::alerting::NewIncidentEvent>,
                follow: &$crate::alerting::FollowUp,
            ) -> Result<bool, $crate::StoreError> {
                use $crate::alerting::Attempt;
                let error = self.error("recording a delivery attempt");
                let (state, at, last_error, next) = match attempt {
                    Attempt::Delivered { at } => ("delivered", *at, "", None),
                    Attempt::Retry { at, error, next_attempt_at } => {
                        ("pending", *at, error.as_str(), Some(*next_attempt_at))
                    }
                    Attempt::GaveUp { at, error } => ("failed", *at, error.as_str(), None),
                    Attempt::Held { at, note } => ("delivered", *at, note.as_str(), None),
                };
                let sql = Self::sql(
                    "UPDATE outbox SET attempts = attempts + 1, state = ?, last_error = ?,
                       next_attempt_at = COALESCE(?, next_attempt_at),
                       done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END
                     WHERE id = ? RETURNING incident_id",
                );
                let event_sql = Self::sql(
                    "INSERT INTO incident_events (incident_id, at, kind, actor, body) VALUES (?, ?, ?, ?, ?)",
                );
                let outbox = Self::sql(if follow.replace {
                    "INSERT INTO outbox (idempotency_key, incident_id, channel, target, body, created_at, next_attempt_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key)
                     DO UPDATE SET body = excluded.body WHERE outbox.state = 'pending'"
                } else {
                    "INSERT INTO outbox (idempotency_key, incident_id, channel, target, body, created_at, next_attempt_at)
                     VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING"
                });
                let mut tx = self.write_tx().await.map_err(&error)?;
                let incident: Option<Option<i64>> = sqlx::query_scalar(sql.clone())
                    .bind(state)
                    .bind(last_error)
                    .bind(next.map(|t: jiff::Timestamp| t.as_microsecond()))
                    .bind(state)
                    .bind(at.as_microsecond())
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(&error)?;
                let Some(incident) = incident else {
                    return Err($crate::StoreError::InvalidInput {
                        what: format!("a delivery attempt for notification {id}, which does not exist"),
                    });
                };
                let mut events = Vec::new();
                if let (Some(incident_id), Some(e)) = (incident, event) {
                    events.push((incident_id, e));
                }
                let mut new = false;
                for n in &follow.notifications {
                    let written = sqlx::query(outbox.clone())
                        .bind(&n.idempotency_key)
                        .bind(follow.incident_id)
                        .bind(&n.channel)
                        .bind(&n.target)
                        .bind(&n.body)
                        .bind(n.created_at.as_microsecond())
                        .bind(n.first_attempt_at().as_microsecond())
                        .execute(&mut *tx)
                        .await
                        .map_err(&error)?
                        .rows_affected();
                    new |= written > 0;
                }
                if let (true, Some(incident_id), Some(e)) =
                    (new, follow.incident_id, follow.event_if_new.as_ref())
                {
                    events.push((incident_id, e));
                }
                for (incident_id, e) in events {
                    sqlx::query(event_sql.clone())
                        .bind(incident_id)
                        .bind(e.at.as_microsecond())
                        .bind(&e.kind)
                        .bind(&e.actor)
                        .bind(&e.body)
                        .execute(&mut *tx)
                        .await
                        .map_err(&error)?;
                }
                tx.commit().await.map_err(&error)?;
                Ok(new)
            }
        }
    };
}

pub(crate) use alert_store_impl;
