//! Maintenance windows over HTTP: open one (now, scheduled, or recurring
//! with an RRULE in a time zone), list them, show one (the alerts it holds
//! and what it cost in error budget), extend, end early, cancel.
//!
//! A window holds the alerts of its services: they are recorded, shown in
//! Alertmanager's API as `suppressed` with the window's id in `silencedBy`,
//! and page nobody; when it ends, those still firing are notified as new
//! (the dispatcher looks at every alert again at each start and end). SLI
//! events counted while a window covers their service are stored as
//! maintenance, so budgets are reported with and without it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::maintenance::{Scope, Window, WindowState};
use nines_core::alerting::matcher::{matchers_to_string, parse_matchers};
use nines_core::recur::{Recurrence, Rule};
use nines_store::WindowRow;
use serde::Deserialize;
use serde_json::{Value, json};

use super::routing::Routing;
use super::{Held, HubState};
use crate::http::ApiError;
use crate::serve::AppState;

/// How long an immediate window lasts when no end or duration is given.
pub const DEFAULT_LENGTH: SignedDuration = SignedDuration::from_secs(3600);

/// The windows active at `now`.
pub fn active(st: &HubState, now: Timestamp) -> Vec<&Window> {
    st.windows.values().filter(|w| w.is_active(now)).collect()
}

/// The ids of the windows among `active` that hold the alert `h`.
pub fn holding<'a>(
    active: &'a [&'a Window],
    routing: &'a Routing,
    h: &'a Held,
) -> impl Iterator<Item = String> + 'a {
    let team = routing.owner(&h.service);
    active
        .iter()
        .filter(move |w| w.scope.covers(&h.service, team, &h.alert.labels))
        .map(|w| w.id.clone())
}

/// When a window next starts or ends after `now`.
pub fn next_change(st: &HubState, now: Timestamp) -> Option<Timestamp> {
    st.windows.values().filter_map(|w| w.next_change(now)).min()
}

fn time_text(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(t.to_string()))
}

pub fn encode_window(w: &Window) -> WindowRow {
    let body = json!({
        "services": w.scope.services,
        "teams": w.scope.teams,
        "selector": (!w.scope.matchers.is_empty()).then(|| matchers_to_string(&w.scope.matchers)),
        "startsAt": w.starts_at.to_string(),
        "endsAt": w.ends_at.to_string(),
        "rrule": w.recurrence.as_ref().map(|r| r.rule.text.clone()),
        "timeZone": w.recurrence.as_ref().map(|r| zone_name(&r.zone)),
        // The rule's anchor on the zone's wall clock, as written (it may be
        // a time that does not exist on its first day).
        "localStart": w.recurrence.as_ref().map(|r| r.start.to_string()),
        "stoppedAt": time_text(w.stopped_at),
        "cut": w.cut.map(|(s, e)| json!([s.to_string(), e.to_string()])),
        "description": w.description,
        "createdBy": w.created_by,
    });
    WindowRow {
        id: w.id.clone(),
        idempotency_key: w.idempotency_key.clone(),
        created_at: w.created_at,
        updated_at: w.updated_at,
        body: body.to_string(),
    }
}

fn zone_name(z: &TimeZone) -> String {
    z.iana_name().unwrap_or("UTC").to_owned()
}

pub fn decode_window(row: &WindowRow) -> Result<Window, String> {
    let b: Value = serde_json::from_str(&row.body).map_err(|e| e.to_string())?;
    let strings = |k: &str| -> Vec<String> {
        b[k].as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let time = |v: &Value| -> Result<Option<Timestamp>, String> {
        v.as_str()
            .map(|s| s.parse::<Timestamp>().map_err(|e| e.to_string()))
            .transpose()
    };
    let starts_at = time(&b["startsAt"])?.ok_or("no startsAt")?;
    let ends_at = time(&b["endsAt"])?.ok_or("no endsAt")?;
    let matchers = match b["selector"].as_str() {
        Some(s) => parse_matchers(s).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let recurrence = match b["rrule"].as_str() {
        Some(r) => {
            let zone = TimeZone::get(b["timeZone"].as_str().unwrap_or("UTC"))
                .map_err(|e| e.to_string())?;
            let rule = Rule::parse(r).map_err(|e| e.to_string())?;
            let r = match b["localStart"].as_str() {
                Some(l) => {
                    let local = l.parse().map_err(|e: jiff::Error| e.to_string())?;
                    Recurrence::from_local(rule, zone, local)
                }
                None => Recurrence::new(rule, zone, starts_at),
            };
            Some(r.map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let cut = match b["cut"].as_array().map(Vec::as_slice) {
        Some([s, e]) => Some((time(s)?.ok_or("bad cut")?, time(e)?.ok_or("bad cut")?)),
        _ => None,
    };
    Ok(Window {
        id: row.id.clone(),
        scope: Scope {
            services: strings("services"),
            teams: strings("teams"),
            matchers,
        },
        starts_at,
        ends_at,
        recurrence,
        stopped_at: time(&b["stoppedAt"])?,
        cut,
        description: b["description"].as_str().unwrap_or_default().to_owned(),
        created_by: b["createdBy"].as_str().unwrap_or_default().to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        idempotency_key: row.idempotency_key.clone(),
    })
}

fn span_json(s: Option<(Timestamp, Timestamp)>) -> Value {
    s.map_or(
        Value::Null,
        |(s, e)| json!({"startsAt": s.to_string(), "endsAt": e.to_string()}),
    )
}

/// A window as the API shows it.
pub fn window_json(w: &Window, now: Timestamp) -> Value {
    json!({
        "id": w.id,
        "state": w.state(now).as_str(),
        "services": w.scope.services,
        "teams": w.scope.teams,
        "selector": (!w.scope.matchers.is_empty()).then(|| matchers_to_string(&w.scope.matchers)),
        "startsAt": w.starts_at.to_string(),
        "endsAt": w.ends_at.to_string(),
        "duration": format!("{:#}", w.duration()),
        "rrule": w.recurrence.as_ref().map(|r| r.rule.text.clone()),
        "timeZone": w.recurrence.as_ref().map(|r| zone_name(&r.zone)),
        "current": span_json(w.active_span(now)),
        "next": span_json(w.next_span(now)),
        "stoppedAt": time_text(w.stopped_at),
        "description": w.description,
        "createdBy": w.created_by,
        "createdAt": w.created_at.to_string(),
        "updatedAt": w.updated_at.to_string(),
        "idempotencyKey": w.idempotency_key,
    })
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_window", message)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no maintenance window {id}; `nines maintenance list` shows them"),
    )
}

fn conflict(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "window_state", message)
}

fn parse_time(field: &str, s: &str) -> Result<Timestamp, ApiError> {
    s.parse::<Timestamp>().map_err(|_| {
        bad(format!(
            "{field}: `{s}` is not a time: write RFC 3339, such as 2026-11-21T22:00:00Z or 2026-11-21T23:00:00+01:00"
        ))
    })
}

fn parse_length(field: &str, s: &str) -> Result<SignedDuration, ApiError> {
    let d = nines_core::duration::DurationShorthand::parse(s)
        .map_err(|e| bad(format!("{field}: {e}")))?;
    d.seconds()
        .filter(|s| *s > 0)
        .map(|s| SignedDuration::from_secs(s as i64))
        .ok_or_else(|| {
            bad(format!(
                "{field}: `{s}` must be a length such as 5m, 1h or 2d"
            ))
        })
}

fn read_json<T: serde::de::DeserializeOwned>(body: &Bytes, shape: &str) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "invalid_json",
            format!("the body is empty: send a JSON object with {shape}"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not a valid window request: {e}"),
        )
    })
}

/// `POST /api/v1/maintenance`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct OpenRequest {
    #[serde(default)]
    services: Vec<String>,
    #[serde(default)]
    teams: Vec<String>,
    selector: Option<String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    duration: Option<String>,
    rrule: Option<String>,
    time_zone: Option<String>,
    description: Option<String>,
    created_by: Option<String>,
    idempotency_key: Option<String>,
}

fn text_field(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(|s| s.trim().to_owned()) {
        Some(s) if s.len() > max => Err(bad(format!(
            "{field} is {} bytes long; at most {max}",
            s.len()
        ))),
        Some(s) if s.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// Opens a window: 201 with the window, or 200 with the window already
/// opened under the same idempotency key.
pub async fn open(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: OpenRequest = read_json(
        &body,
        "services (or teams, or selector), description, and duration or endsAt",
    )?;
    let now = state.clock.now();
    let config = state.current();
    let catalog = &config.catalog;
    for s in &req.services {
        if !catalog.services.contains_key(s) {
            let known: Vec<&str> = catalog.services.keys().map(String::as_str).collect();
            return Err(bad(format!(
                "unknown service `{s}`; known services: {}",
                known.join(", ")
            )));
        }
    }
    for t in &req.teams {
        if !catalog.teams.contains_key(t) {
            let known: Vec<&str> = catalog.teams.keys().map(String::as_str).collect();
            return Err(bad(format!(
                "unknown team `{t}`; known teams: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let matchers = match req.selector.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(s) => parse_matchers(s).map_err(|e| bad(format!("selector: {e}")))?,
    };
    // A recurring window may start at a local time of its zone (no
    // offset): that wall-clock time is the rule's anchor.
    let local_start = match (&req.starts_at, &req.rrule) {
        (Some(s), Some(_)) if s.parse::<Timestamp>().is_err() => {
            Some(s.parse::<jiff::civil::DateTime>().map_err(|_| {
                bad(format!(
                    "startsAt: `{s}` is not a time: write RFC 3339 (2026-11-22T02:00:00+01:00), or a local time of timeZone (2026-11-22T02:00:00)"
                ))
            })?)
        }
        _ => None,
    };
    let zone = match (&req.rrule, &req.time_zone) {
        (Some(_), z) => {
            let zone_name = z.as_deref().unwrap_or("UTC");
            Some(TimeZone::get(zone_name).map_err(|_| {
                bad(format!(
                    "timeZone: `{zone_name}` is not a known time zone: write an IANA name such as Europe/Paris"
                ))
            })?)
        }
        (None, Some(_)) => {
            return Err(bad(
                "timeZone applies to recurring windows: give rrule too, or leave timeZone out",
            ));
        }
        (None, None) => None,
    };
    let starts_at = match (&req.starts_at, local_start, &zone) {
        (_, Some(local), Some(z)) => z
            .to_ambiguous_zoned(local)
            .compatible()
            .map_err(|e| bad(format!("startsAt: {e}")))?
            .timestamp(),
        (Some(s), _, _) => parse_time("startsAt", s)?,
        (None, _, _) => now,
    };
    let ends_at = match (&req.ends_at, &req.duration) {
        (Some(_), Some(_)) => {
            return Err(bad("give endsAt or duration, not both"));
        }
        (Some(e), None) => parse_time("endsAt", e)?,
        (None, d) => {
            let len = match d {
                Some(d) => parse_length("duration", d)?,
                None => DEFAULT_LENGTH,
            };
            starts_at
                .checked_add(len)
                .map_err(|_| bad("duration: the window would end after the year 9999"))?
        }
    };
    let recurrence = match (&req.rrule, zone) {
        (Some(r), Some(zone)) => {
            let rule = Rule::parse(r).map_err(|e| bad(format!("rrule: {e}")))?;
            let r = match local_start {
                Some(local) => Recurrence::from_local(rule, zone, local),
                None => Recurrence::new(rule, zone, starts_at),
            };
            Some(r.map_err(|e| bad(format!("rrule: {e}")))?)
        }
        _ => None,
    };
    let header_key = headers
        .get("idempotency-key")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| bad("the Idempotency-Key header must be text"))
        })
        .transpose()?;
    let key = text_field("idempotencyKey", req.idempotency_key.or(header_key), 200)?;
    let w = Window {
        id: uuid::Uuid::new_v4().to_string(),
        scope: Scope {
            services: req.services,
            teams: req.teams,
            matchers,
        },
        starts_at,
        ends_at,
        recurrence,
        stopped_at: None,
        cut: None,
        description: text_field("description", req.description, 1000)?.unwrap_or_default(),
        created_by: text_field("createdBy", req.created_by, 200)?
            .unwrap_or_else(|| "unknown".to_owned()),
        created_at: now,
        updated_at: now,
        idempotency_key: key,
    };
    w.validate(state.max_maintenance, now)
        .map_err(|e| bad(e.to_string()))?;
    let (w, created) = state
        .alerts
        .put_window(&w, true)
        .await
        .map_err(|e| ApiError::store(&e))?;
    if created {
        tracing::info!(id = %w.id, by = %w.created_by, description = %w.description, "maintenance window opened");
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(window_json(&w, now))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
}

/// `GET /api/v1/maintenance?state=current|all|active|pending|expired|cancelled`:
/// by default the windows active or still to come.
pub async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let want = q.state.unwrap_or_else(|| "current".to_owned());
    let keep = |s: WindowState| -> Result<bool, ApiError> {
        Ok(match want.as_str() {
            "current" => matches!(s, WindowState::Active | WindowState::Pending),
            "all" => true,
            "active" => s == WindowState::Active,
            "pending" => s == WindowState::Pending,
            "expired" => s == WindowState::Expired,
            "cancelled" => s == WindowState::Cancelled,
            other => {
                return Err(ApiError::bad_request(
                    "invalid_query",
                    format!(
                        "state must be current, all, active, pending, expired or cancelled, got {other:?}"
                    ),
                ));
            }
        })
    };
    let now = state.clock.now();
    let windows: Vec<Window> = state
        .alerts
        .read(|st| st.windows.values().cloned().collect());
    let mut out = Vec::new();
    for w in &windows {
        if keep(w.state(now))? {
            out.push(window_json(w, now));
        }
    }
    Ok(Json(json!({ "windows": out })))
}

/// `GET /api/v1/maintenance/{id}`: the window, the alerts it holds now,
/// and what its occurrences so far cost each SLO of its services.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let routing = state.routing();
    let (w, held) = state
        .alerts
        .read(|st| {
            let w = st.windows.get(&id)?.clone();
            let active: Vec<&Window> = st
                .windows
                .get(&id)
                .filter(|w| w.is_active(now))
                .into_iter()
                .collect();
            let mut held: Vec<Value> = st
                .alerts
                .values()
                .filter(|h| !h.alert.resolved_at(now))
                .filter(|h| holding(&active, &routing, h).next().is_some())
                .map(|h| {
                    json!({
                        "fingerprint": h.alert.fingerprint.to_string(),
                        "service": h.service,
                        "labels": super::map(&h.alert.labels),
                        "startsAt": h.alert.starts_at.to_string(),
                    })
                })
                .collect();
            held.sort_by(|a, b| a["fingerprint"].as_str().cmp(&b["fingerprint"].as_str()));
            Some((w, held))
        })
        .ok_or_else(|| not_found(&id))?;
    let mut v = window_json(&w, now);
    v["held"] = json!({"count": held.len(), "alerts": held.iter().take(100).collect::<Vec<_>>()});
    v["budget"] = budget_cost(&state, &w, now);
    Ok(Json(v))
}

/// What a window's occurrences up to `now` cost the SLOs of the services it
/// names (directly or through their team).
fn budget_cost(state: &AppState, w: &Window, now: Timestamp) -> Value {
    let config = state.current();
    let services: Vec<&String> = config
        .catalog
        .services
        .iter()
        .filter(|(name, svc)| {
            w.scope.services.contains(name)
                || svc
                    .owner
                    .as_ref()
                    .is_some_and(|t| w.scope.teams.contains(t))
        })
        .map(|(name, _)| name)
        .collect();
    let spans = w.spans(w.starts_at, now);
    let slo = state.slo();
    let mut out = Vec::new();
    for s in services {
        for c in slo.cost(s, &spans, now) {
            out.push(json!({
                "service": s,
                "slo": c.slo,
                "objective": c.objective,
                "displayName": c.display_name,
                "good": c.counts.good,
                "total": c.counts.total,
                "bad": c.counts.bad(),
                "budgetShare": c.budget_share,
            }));
        }
    }
    json!(out)
}

async fn change(
    state: &AppState,
    id: &str,
    f: impl FnOnce(&mut Window, Timestamp) -> Result<(), ApiError>,
) -> Result<Json<Value>, ApiError> {
    // One change at a time, so that two changes never overwrite each other.
    let _guard = state.alerts.window_lock.lock().await;
    let now = state.clock.now();
    let mut w = state
        .alerts
        .read(|st| st.windows.get(id).cloned())
        .ok_or_else(|| not_found(id))?;
    f(&mut w, now)?;
    w.updated_at = now;
    let (w, _) = state
        .alerts
        .put_window(&w, false)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(window_json(&w, now)))
}

/// `POST /api/v1/maintenance/{id}/end`: ends the occurrence in progress
/// now (a recurring window's next occurrences still happen).
pub async fn end(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    change(&state, &id, |w, now| {
        let Some((s, _)) = w.active_span(now) else {
            return Err(conflict(format!(
                "maintenance window {} is {}, not active: nothing to end{}",
                w.id,
                w.state(now).as_str(),
                if w.state(now) == WindowState::Pending {
                    " (cancel it instead)"
                } else {
                    ""
                }
            )));
        };
        if w.recurrence.is_some() {
            w.cut = Some((s, now));
        } else {
            w.stopped_at = Some(now);
        }
        tracing::info!(id = %w.id, "maintenance window ended early");
        Ok(())
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ExtendRequest {
    by: Option<String>,
    ends_at: Option<String>,
}

/// `POST /api/v1/maintenance/{id}/extend` with `{"by": "30m"}` or
/// `{"endsAt": ...}`: moves a one-off window's end.
pub async fn extend(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let req: ExtendRequest = read_json(&body, "by (such as 30m) or endsAt")?;
    let max = state.max_maintenance;
    change(&state, &id, |w, now| {
        let st = w.state(now);
        if !matches!(st, WindowState::Active | WindowState::Pending) {
            return Err(conflict(format!(
                "maintenance window {} is {}: open a new one",
                w.id,
                st.as_str()
            )));
        }
        if w.recurrence.is_some() {
            return Err(conflict(format!(
                "maintenance window {} is recurring, and all its occurrences last {:#}: open a one-off window for the extra time",
                w.id,
                w.duration()
            )));
        }
        let new_end = match (&req.by, &req.ends_at) {
            (Some(b), None) => w
                .ends_at
                .checked_add(parse_length("by", b)?)
                .map_err(|_| bad("by: too far"))?,
            (None, Some(e)) => parse_time("endsAt", e)?,
            _ => return Err(bad("give either by (such as 30m) or endsAt")),
        };
        let mut changed = w.clone();
        changed.ends_at = new_end;
        changed
            .validate(max, now)
            .map_err(|e| bad(e.to_string()))?;
        w.ends_at = new_end;
        Ok(())
    })
    .await
}

/// `DELETE /api/v1/maintenance/{id}`: cancels a window not yet started, or
/// stops one from now on (a recurring window has no further occurrences).
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    change(&state, &id, |w, now| {
        let st = w.state(now);
        if !matches!(st, WindowState::Active | WindowState::Pending) {
            return Err(conflict(format!(
                "maintenance window {} is already {}",
                w.id,
                st.as_str()
            )));
        }
        w.stopped_at = Some(now);
        Ok(())
    })
    .await
}

/// Decides, for SLI buckets, whether their minute was under maintenance
/// for their SLO's service: a snapshot of the windows and the catalog,
/// with answers remembered per (series, minute).
pub struct MaintenanceOf {
    windows: Vec<Window>,
    /// SLO name -> (service, owner team).
    slos: HashMap<String, (String, Option<String>)>,
    seen: HashMap<(String, i64), bool>,
}

impl MaintenanceOf {
    pub fn new(state: &AppState) -> MaintenanceOf {
        let windows: Vec<Window> = state
            .alerts
            .read(|st| st.windows.values().cloned().collect());
        if windows.is_empty() {
            // The usual case: nothing to look up per bucket.
            return MaintenanceOf {
                windows,
                slos: HashMap::new(),
                seen: HashMap::new(),
            };
        }
        let config = state.current();
        let catalog = &config.catalog;
        let slos = catalog
            .slos
            .iter()
            .map(|(name, slo)| {
                let owner = catalog
                    .services
                    .get(&slo.service)
                    .and_then(|s| s.owner.clone());
                (name.clone(), (slo.service.clone(), owner))
            })
            .collect();
        MaintenanceOf {
            windows,
            slos,
            seen: HashMap::new(),
        }
    }

    /// Whether minute `minute` of series `slo/objective` was under a window.
    pub fn at(&mut self, series: &str, minute: i64) -> bool {
        if self.windows.is_empty() {
            return false;
        }
        let slo = series.rsplit_once('/').map_or(series, |(s, _)| s);
        if let Some(v) = self.seen.get(&(slo.to_owned(), minute)) {
            return *v;
        }
        let Some((service, owner)) = self.slos.get(slo) else {
            return false;
        };
        let t = Timestamp::from_second(minute * 60).unwrap_or(Timestamp::UNIX_EPOCH);
        let labels =
            nines_core::alerting::labels::LabelSet::free([("service".to_owned(), service.clone())]);
        let v = self
            .windows
            .iter()
            .any(|w| w.holds(service, owner.as_deref(), &labels, t));
        self.seen.insert((slo.to_owned(), minute), v);
        v
    }
}
