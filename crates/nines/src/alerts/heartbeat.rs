//! Heartbeats: a check that expects a ping every `every` (a cron job's
//! `curl`). One not pinged for `every + grace` raises the alert
//! `HeartbeatMissed{service, heartbeat, severity}` for its service; the next
//! ping resolves it. Pings are committed before their 200.
//!
//! A missed heartbeat's alert is sent with an end an hour ahead and sent
//! again before that end while it stays missed (as Prometheus re-sends), so
//! a heartbeat removed from the configuration stops alerting by itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::model::{AlertInput, Source};
use nines_core::model::{Catalog, Heartbeat};
use nines_store::{HeartbeatRow, StoreError};
use serde_json::{Value, json};

use super::Held;
use crate::http::ApiError;
use crate::serve::AppState;

/// The `alertname` of a missed heartbeat.
pub const ALERTNAME: &str = "HeartbeatMissed";

/// How far ahead a missed heartbeat's alert ends unless sent again.
const ALERT_TTL: SignedDuration = SignedDuration::from_secs(3600);
/// It is sent again when less than this is left.
const REFRESH_BEFORE: SignedDuration = SignedDuration::from_secs(600);

/// What nines knows of each heartbeat: since when, and its last ping.
#[derive(Debug, Default)]
pub struct Heartbeats {
    rows: std::sync::Mutex<BTreeMap<(String, String), HeartbeatRow>>,
    /// Wakes the checker (a ping, a reload).
    pub wake: tokio::sync::Notify,
}

fn configured(catalog: &Catalog) -> Vec<(&str, &Heartbeat)> {
    catalog
        .services
        .iter()
        .flat_map(|(s, svc)| svc.heartbeats.iter().map(move |h| (s.as_str(), h)))
        .collect()
}

fn labels(service: &str, h: &Heartbeat) -> LabelSet {
    LabelSet::free([
        ("alertname".to_owned(), ALERTNAME.to_owned()),
        ("service".to_owned(), service.to_owned()),
        ("heartbeat".to_owned(), h.name.clone()),
        ("severity".to_owned(), h.severity.clone()),
    ])
}

/// When a heartbeat is late: its last ping (or when nines first knew it)
/// plus its period and grace.
fn deadline(row: &HeartbeatRow, h: &Heartbeat) -> Timestamp {
    let last = row.last_ping_at.unwrap_or(row.since);
    last.saturating_add(h.every)
        .and_then(|t| t.saturating_add(h.grace))
        .unwrap_or(Timestamp::MAX)
}

impl Heartbeats {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), HeartbeatRow>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads what the store knows, recording the heartbeats of `catalog`
    /// seen for the first time at `now`.
    pub async fn load(
        &self,
        store: &dyn nines_store::Store,
        catalog: &Catalog,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let known: Vec<(String, String)> = configured(catalog)
            .into_iter()
            .map(|(s, h)| (s.to_owned(), h.name.clone()))
            .collect();
        let rows = store.heartbeats(&known, now).await?;
        *self.lock() = rows
            .into_iter()
            .map(|r| ((r.service.clone(), r.name.clone()), r))
            .collect();
        self.wake.notify_one();
        Ok(())
    }
}

impl AppState {
    /// Raises the alerts of heartbeats that are late, resolves those of
    /// heartbeats pinged since; returns when to look again.
    pub async fn check_heartbeats(&self) -> Result<Option<Timestamp>, StoreError> {
        let now = self.clock.now();
        let config = self.current();
        let mut send = Vec::new();
        let mut next: Option<Timestamp> = None;
        let mut soonest = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
        let rows = self.heartbeats.lock().clone();
        for (service, h) in configured(&config.catalog) {
            let Some(row) = rows.get(&(service.to_owned(), h.name.clone())) else {
                continue;
            };
            let labels = labels(service, h);
            let fp = labels.fingerprint().0;
            let held = self.alerts.read(|st| {
                st.alerts
                    .get(&fp)
                    .filter(|x| !x.alert.resolved_at(now))
                    .map(|x| x.alert.ends_at)
            });
            let due = deadline(row, h);
            if now < due {
                soonest(due);
                if held.is_some() {
                    send.extend(input(service, h, labels, None, (now, now), now));
                }
                continue;
            }
            match held {
                Some(end) if end.duration_since(now) > REFRESH_BEFORE => {
                    soonest(end.saturating_sub(REFRESH_BEFORE).unwrap_or(now));
                }
                _ => {
                    let until = now.saturating_add(ALERT_TTL).unwrap_or(now);
                    let summary = match row.last_ping_at {
                        Some(t) => format!(
                            "no ping from heartbeat {} of {service} since {t} (expected every {:#}, grace {:#})",
                            h.name, h.every, h.grace
                        ),
                        None => format!(
                            "heartbeat {} of {service} has never pinged since nines began to watch it at {} (expected every {:#}, grace {:#})",
                            h.name, row.since, h.every, h.grace
                        ),
                    };
                    send.extend(input(service, h, labels, Some(summary), (due, until), now));
                    soonest(until.saturating_sub(REFRESH_BEFORE).unwrap_or(now));
                }
            }
        }
        self.alerts.submit(send).await?;
        Ok(next)
    }
}

/// The alert of heartbeat `h`: firing from `starts_at` until `ends_at`
/// with `summary`, or resolved at `ends_at` without one.
fn input(
    service: &str,
    h: &Heartbeat,
    labels: LabelSet,
    summary: Option<String>,
    (starts_at, ends_at): (Timestamp, Timestamp),
    now: Timestamp,
) -> Option<Held> {
    let firing = summary.is_some();
    let summary =
        summary.unwrap_or_else(|| format!("heartbeat {} of {service} pinged again", h.name));
    let alert = AlertInput {
        labels,
        annotations: LabelSet::free([("summary".to_owned(), summary)]),
        starts_at: firing.then_some(starts_at),
        ends_at: Some(ends_at),
        generator_url: String::new(),
        source: Source::Heartbeat,
    }
    .into_alert(now, SignedDuration::ZERO)
    .ok()?;
    Some(Held::new(alert, service.to_owned()))
}

fn row_json(service: &str, h: &Heartbeat, row: Option<&HeartbeatRow>, now: Timestamp) -> Value {
    let due = row.map(|r| deadline(r, h));
    json!({
        "service": service,
        "name": h.name,
        "every": format!("{:#}", h.every),
        "grace": format!("{:#}", h.grace),
        "severity": h.severity,
        "last_ping_at": row.and_then(|r| r.last_ping_at).map(|t| t.to_string()),
        "late_at": due.map(|t| t.to_string()),
        "state": match (row, due) {
            (Some(_), Some(d)) if now >= d => "late",
            (Some(r), _) if r.last_ping_at.is_none() => "waiting",
            _ => "up",
        },
        "ping_url": format!("/api/v1/heartbeats/{service}/{}/ping", h.name),
    })
}

/// `GET /api/v1/heartbeats`: every heartbeat and whether it is late.
pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let config = state.current();
    let now = state.clock.now();
    let rows = state.heartbeats.lock().clone();
    let out: Vec<Value> = configured(&config.catalog)
        .into_iter()
        .map(|(s, h)| row_json(s, h, rows.get(&(s.to_owned(), h.name.clone())), now))
        .collect();
    Json(json!({ "heartbeats": out }))
}

/// `GET` or `POST /api/v1/heartbeats/{service}/{name}/ping`: records a
/// ping (committed before the 200) and resolves the heartbeat's alert.
pub async fn ping(
    State(state): State<Arc<AppState>>,
    Path((service, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let config = state.current();
    let Some(h) = config
        .catalog
        .services
        .get(&service)
        .and_then(|s| s.heartbeats.iter().find(|h| h.name == name))
    else {
        let known: Vec<String> = configured(&config.catalog)
            .into_iter()
            .map(|(s, h)| format!("{s}/{}", h.name))
            .collect();
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            if known.is_empty() {
                format!("no heartbeat {service}/{name}: no service declares `heartbeats:`")
            } else {
                format!("no heartbeat {service}/{name}; known: {}", known.join(", "))
            },
        ));
    };
    let now = state.clock.now();
    state
        .store
        .record_ping(&service, &name, now)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let row = {
        let mut rows = state.heartbeats.lock();
        let row = rows
            .entry((service.clone(), name.clone()))
            .or_insert_with(|| HeartbeatRow {
                service: service.clone(),
                name: name.clone(),
                since: now,
                last_ping_at: None,
            });
        row.last_ping_at = Some(row.last_ping_at.map_or(now, |t| t.max(now)));
        row.clone()
    };
    // The resolution is committed before the answer too.
    state
        .check_heartbeats()
        .await
        .map_err(|e| ApiError::store(&e))?;
    state.heartbeats.wake.notify_one();
    Ok(Json(row_json(&service, h, Some(&row), now)))
}
