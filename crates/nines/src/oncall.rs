//! On call over HTTP: who is on call now or at any instant, each schedule's
//! final shifts and handoffs, overrides added at run time, and iCalendar
//! feeds per schedule and per person. The answers come from
//! `nines_core::oncall`; this module only reads the store and the clock and
//! speaks JSON (and RFC 5545, through `nines_config::ical`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use nines_config::ical;
use nines_core::model::{Catalog, Person};
use nines_core::oncall::{Coverage, OnCall, Override, OverrideId, Reason, Schedule, Shift};
use nines_store::{NewScheduleOverride, ScheduleOverride};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::serve::AppState;

/// The longest span one request may ask shifts for.
const MAX_SPAN: SignedDuration = SignedDuration::from_hours(366 * 24);
/// What `GET /api/v1/schedules/{name}` shows without `from`/`until`.
const DEFAULT_SPAN: SignedDuration = SignedDuration::from_hours(14 * 24);
/// How far ahead "on call until" looks for the end of the current shift.
const UNTIL_HORIZON: SignedDuration = SignedDuration::from_hours(35 * 24);
/// Calendar feeds cover two to three weeks back and thirteen weeks ahead.
const FEED_BACK: SignedDuration = SignedDuration::from_hours(14 * 24);
const FEED_AHEAD: SignedDuration = SignedDuration::from_hours(91 * 24);

fn time(t: Timestamp) -> String {
    t.to_string()
}

fn unknown_schedule(name: &str, catalog: &Catalog) -> ApiError {
    let known: Vec<&str> = catalog.schedules.keys().map(String::as_str).collect();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown_schedule",
        format!(
            "no schedule named `{name}`; schedules: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ),
    )
}

fn schedule<'c>(catalog: &'c Catalog, name: &str) -> Result<&'c Schedule, ApiError> {
    catalog
        .schedules
        .get(name)
        .ok_or_else(|| unknown_schedule(name, catalog))
}

fn parse_time(s: &str, what: &str) -> Result<Timestamp, ApiError> {
    s.trim().parse::<Timestamp>().map_err(|_| {
        ApiError::bad_request(
            "invalid_query",
            format!("{what} `{s}` is not an RFC 3339 time with an offset, such as 2026-12-25T10:00:00+01:00 or 2026-12-25T09:00:00Z"),
        )
    })
}

/// The stored overrides of `schedule` (of all when `None`) that matter from
/// `from` on, as the core sees them, and as stored (for their reasons).
async fn stored(
    state: &AppState,
    schedule: Option<&str>,
    from: Timestamp,
) -> Result<Vec<ScheduleOverride>, ApiError> {
    state
        .store
        .schedule_overrides(schedule, from)
        .await
        .map_err(|e| ApiError::store(&e))
}

fn core_overrides(rows: &[ScheduleOverride], schedule: &str) -> Vec<Override> {
    rows.iter()
        .filter(|r| r.schedule == schedule)
        .filter_map(|r| {
            Override::new(
                OverrideId::Stored(r.id),
                r.person.clone(),
                r.starts_at,
                r.ends_at,
            )
            .ok()
        })
        .collect()
}

/// Why someone is on call, for a person to read (and a page to quote).
fn reason_json(s: &Schedule, on_call: &OnCall, rows: &[ScheduleOverride]) -> Value {
    match &on_call.reason {
        Reason::Layer { index, name } => json!({"kind": "layer", "layer": name, "index": index}),
        Reason::Override(OverrideId::Config(i)) => {
            let o = &s.overrides[*i];
            json!({"kind": "override", "source": "config", "start": time(o.start), "end": time(o.end)})
        }
        Reason::Override(OverrideId::Stored(id)) => {
            let row = rows.iter().find(|r| r.id == *id);
            json!({
                "kind": "override",
                "source": "api",
                "id": id,
                "reason": row.map(|r| r.reason.as_str()),
                "by": row.map(|r| r.created_by.as_str()),
                "start": row.map(|r| time(r.starts_at)),
                "end": row.map(|r| time(r.ends_at)),
            })
        }
    }
}

fn reason_text(on_call: &OnCall, rows: &[ScheduleOverride]) -> String {
    match &on_call.reason {
        Reason::Layer { name, .. } => format!("layer {name}"),
        Reason::Override(OverrideId::Config(_)) => "override (configuration)".to_owned(),
        Reason::Override(OverrideId::Stored(id)) => match rows.iter().find(|r| r.id == *id) {
            Some(r) if !r.reason.is_empty() => format!("override #{id}: {}", r.reason),
            _ => format!("override #{id}"),
        },
    }
}

fn person_json(p: Option<&Person>, name: &str) -> Value {
    json!({
        "name": name,
        "display_name": p.and_then(|p| p.meta.display_name.as_deref()),
        "time_zone": p.and_then(|p| p.time_zone.as_deref()),
        "contacts": p.map(|p| p.contacts.iter().map(|c| json!({
            "type": format!("{:?}", c.kind).to_lowercase(),
            "address": c.address,
            "fallback": c.fallback,
        })).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

fn shift_json(s: &Schedule, sh: &Shift, rows: &[ScheduleOverride]) -> Value {
    json!({
        "start": time(sh.start),
        "end": time(sh.end),
        "person": sh.person(),
        "reason": sh.on_call.as_ref().map(|o| reason_json(s, o, rows)),
    })
}

/// Who is on call in `s` at `at`, why, and until when.
fn on_call_json(
    catalog: &Catalog,
    s: &Schedule,
    at: Timestamp,
    rows: &[ScheduleOverride],
) -> Value {
    let extra = core_overrides(rows, &s.meta.name);
    let now = s.on_call_at(at, &extra);
    let until = s
        .shifts(
            at,
            at.saturating_add(UNTIL_HORIZON).unwrap_or(Timestamp::MAX),
            &extra,
        )
        .first()
        .map(|sh| sh.end)
        .filter(|end| *end < at.saturating_add(UNTIL_HORIZON).unwrap_or(Timestamp::MAX));
    json!({
        "schedule": s.meta.name,
        "display_name": s.meta.display_name,
        "team": s.team,
        "time_zone": s.zone_name,
        "on_call": now.as_ref().map(|o| {
            let mut p = person_json(catalog.people.get(&o.person), &o.person);
            p["reason"] = reason_json(s, o, rows);
            p["why"] = json!(reason_text(o, rows));
            p
        }),
        "until": until.map(time),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtQuery {
    at: Option<String>,
}

/// `GET /api/v1/oncall?at=`: every schedule's person on call.
pub async fn now(
    State(state): State<Arc<AppState>>,
    query: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let at = match &q.at {
        Some(s) => parse_time(s, "at")?,
        None => state.clock.now(),
    };
    let config = state.current();
    let rows = stored(&state, None, at).await?;
    let list: Vec<Value> = config
        .catalog
        .schedules
        .values()
        .map(|s| on_call_json(&config.catalog, s, at, &rows))
        .collect();
    Ok(Json(json!({"at": time(at), "schedules": list})))
}

fn layer_json(l: &nines_core::oncall::Layer) -> Value {
    let restrictions: Vec<Value> = l
        .restrictions
        .iter()
        .map(|w| {
            let show = |m: u32| {
                const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                let day = (m / 1440) as usize;
                let m = m % 1440;
                if day == 7 {
                    "sun 24:00".to_owned()
                } else if m == 0 && day > 0 {
                    format!("{} 24:00", DAYS[day - 1])
                } else {
                    format!("{} {:02}:{:02}", DAYS[day], m / 60, m % 60)
                }
            };
            json!({"from": show(w.from_minute()), "to": show(w.to_minute())})
        })
        .collect();
    match &l.coverage {
        Coverage::Rotation(r) => json!({
            "name": l.name,
            "kind": "rotation",
            "start": r.start().to_string(),
            "end": r.end().map(|e| e.to_string()),
            "turn_minutes": r.turn().minutes(),
            "members": r.members(),
            "restrictions": restrictions,
        }),
        Coverage::Shifts(shifts) => json!({
            "name": l.name,
            "kind": "calendar",
            "events": shifts.len(),
            "restrictions": restrictions,
        }),
    }
}

/// `GET /api/v1/schedules`.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let at = state.clock.now();
    let config = state.current();
    let rows = stored(&state, None, at).await?;
    let list: Vec<Value> = config
        .catalog
        .schedules
        .values()
        .map(|s| {
            let mut v = on_call_json(&config.catalog, s, at, &rows);
            v["layers"] = s.layers.iter().map(layer_json).collect();
            v
        })
        .collect();
    Ok(Json(json!({"now": time(at), "schedules": list})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanQuery {
    from: Option<String>,
    until: Option<String>,
}

/// `GET /api/v1/schedules/{name}?from=&until=`: the final shifts and the
/// handoffs over a span (two weeks from now by default).
pub async fn one(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    query: Result<Query<SpanQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let config = state.current();
    let s = schedule(&config.catalog, &name)?;
    let now = state.clock.now();
    let from = match &q.from {
        Some(f) => parse_time(f, "from")?,
        None => now,
    };
    let until = match &q.until {
        Some(u) => parse_time(u, "until")?,
        None => from.saturating_add(DEFAULT_SPAN).unwrap_or(Timestamp::MAX),
    };
    if until <= from {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("until ({until}) must be after from ({from})"),
        ));
    }
    if until.duration_since(from) > MAX_SPAN {
        return Err(ApiError::bad_request(
            "invalid_query",
            "a span may be at most 366 days; ask for several",
        ));
    }
    let rows = stored(&state, Some(&name), from).await?;
    let extra = core_overrides(&rows, &name);
    let shifts = s.shifts(from, until, &extra);
    let handoffs: Vec<Value> = s
        .handoffs(from, until, &extra)
        .iter()
        .map(|h| json!({"at": time(h.at), "from": h.from, "to": h.to}))
        .collect();
    let mut v = on_call_json(&config.catalog, s, now, &rows);
    v["description"] = json!(s.meta.description);
    v["layers"] = s.layers.iter().map(layer_json).collect();
    // `until` is the span's end here; when the current shift ends is
    // `on_call_until`.
    v["on_call_until"] = v["until"].take();
    v["from"] = json!(time(from));
    v["until"] = json!(time(until));
    v["shifts"] = shifts.iter().map(|sh| shift_json(s, sh, &rows)).collect();
    v["handoffs"] = json!(handoffs);
    v["overrides"] = overrides_json(s, &rows);
    Ok(Json(v))
}

fn overrides_json(s: &Schedule, rows: &[ScheduleOverride]) -> Value {
    let configured = s.overrides.iter().map(|o| {
        json!({"source": "config", "person": o.person, "start": time(o.start), "end": time(o.end)})
    });
    let stored = rows
        .iter()
        .filter(|r| r.schedule == s.meta.name)
        .map(stored_json);
    Value::Array(configured.chain(stored).collect())
}

fn stored_json(r: &ScheduleOverride) -> Value {
    json!({
        "source": "api",
        "id": r.id,
        "schedule": r.schedule,
        "person": r.person,
        "start": time(r.starts_at),
        "end": time(r.ends_at),
        "reason": r.reason,
        "by": r.created_by,
        "created_at": time(r.created_at),
    })
}

/// `GET /api/v1/schedules/{name}/overrides`: those not over yet.
pub async fn list_overrides(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let config = state.current();
    let s = schedule(&config.catalog, &name)?;
    let now = state.clock.now();
    let rows = stored(&state, Some(&name), now).await?;
    let mut list = overrides_json(s, &rows);
    if let Value::Array(items) = &mut list {
        items.retain(|o| {
            o["end"]
                .as_str()
                .and_then(|e| e.parse::<Timestamp>().ok())
                .is_some_and(|e| e > now)
        });
    }
    Ok(Json(json!({"schedule": name, "overrides": list})))
}

/// `POST /api/v1/schedules/{name}/overrides`: someone covers a span.
pub async fn add_override(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let config = state.current();
    schedule(&config.catalog, &name)?;
    let bad = |m: String| ApiError::bad_request("invalid_override", m);
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(bad(
            "the body must be an object with `person`, `start` and `end` (or `for`)".into(),
        ));
    };
    const FIELDS: [&str; 6] = ["person", "start", "end", "for", "reason", "by"];
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field `{k}`; an override has {}",
            FIELDS.join(", ")
        )));
    }
    let text = |key: &str| -> Result<Option<String>, ApiError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= 500 => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(bad(format!(
                "`{key}` must be a string of at most 500 characters"
            ))),
        }
    };
    let person = text("person")?
        .filter(|p| !p.is_empty())
        .ok_or_else(|| bad("`person` is required: who covers the schedule".into()))?;
    if !config.catalog.people.contains_key(&person) {
        let known: Vec<&str> = config.catalog.people.keys().map(String::as_str).collect();
        return Err(ApiError::bad_request(
            "unknown_person",
            format!("no person named `{person}`; people: {}", known.join(", ")),
        ));
    }
    let now = state.clock.now();
    let when = |key: &str| -> Result<Option<Timestamp>, ApiError> {
        text(key)?
            .map(|s| {
                s.parse::<Timestamp>().map_err(|_| {
                    bad(format!("`{key}` `{s}` is not an RFC 3339 time with an offset, such as 2026-12-24T18:00:00+01:00"))
                })
            })
            .transpose()
    };
    let start = when("start")?.unwrap_or(now);
    let end = match (when("end")?, text("for")?) {
        (Some(_), Some(_)) => return Err(bad("give `end` or `for`, not both".into())),
        (Some(e), None) => e,
        (None, Some(f)) => {
            let secs = nines_core::duration::DurationShorthand::parse(&f)
                .map_err(|e| bad(format!("for: {e}")))?
                .seconds()
                .ok_or_else(|| bad(format!("for: `{f}` must have a fixed length (m, h, d, w)")))?;
            start
                .checked_add(SignedDuration::from_secs(secs as i64))
                .map_err(|_| bad(format!("for: `{f}` is too long")))?
        }
        (None, None) => {
            return Err(bad(
                "`end` (or `for`) is required: when the override ends".into()
            ));
        }
    };
    if end <= start {
        return Err(bad(format!(
            "the override ends ({end}) before it starts ({start}); `end` must be after `start`"
        )));
    }
    let created = state
        .store
        .add_schedule_override(&NewScheduleOverride {
            schedule: name.clone(),
            person,
            starts_at: start,
            ends_at: end,
            reason: text("reason")?.unwrap_or_default(),
            created_by: text("by")?
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| "unknown".to_owned()),
            created_at: now,
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    tracing::info!(schedule = %name, id = created.id, person = %created.person, start = %created.starts_at, end = %created.ends_at, "schedule override added");
    Ok((StatusCode::CREATED, Json(stored_json(&created))))
}

/// `DELETE /api/v1/schedules/{name}/overrides/{id}`.
pub async fn delete_override(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let config = state.current();
    schedule(&config.catalog, &name)?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_id",
            format!("`{id}` is not an override id (a number)"),
        )
    })?;
    let deleted = state
        .store
        .delete_schedule_override(&name, id)
        .await
        .map_err(|e| ApiError::store(&e))?;
    if !deleted {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_override",
            format!(
                "schedule `{name}` has no override #{id} (overrides written in the configuration are removed there)"
            ),
        ));
    }
    tracing::info!(schedule = %name, id, "schedule override removed");
    Ok(Json(json!({"deleted": id, "schedule": name})))
}

fn calendar(body: String) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/calendar; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

fn event(
    s: &Schedule,
    sh: &Shift,
    person: &str,
    rows: &[ScheduleOverride],
    per_person: bool,
) -> ical::Event {
    let label = s
        .meta
        .display_name
        .clone()
        .unwrap_or_else(|| s.meta.name.clone());
    let why = sh
        .on_call
        .as_ref()
        .map(|o| reason_text(o, rows))
        .unwrap_or_default();
    ical::Event {
        uid: format!("{}-{}-{}@nines", s.meta.name, sh.start.as_second(), person),
        start: sh.start,
        end: sh.end,
        summary: if per_person {
            format!("On call: {label}")
        } else {
            format!("{person} on call ({label})")
        },
        description: Some(format!("Schedule {}: {why}", s.meta.name)),
        person: Some(person.to_owned()),
    }
}

/// What a feed covers, and how far before it to look so that its first
/// shift keeps its real start (and so its UID) from one request to the
/// next: the start is aligned to a week.
fn feed_span(now: Timestamp) -> (Timestamp, Timestamp, Timestamp) {
    const WEEK: i64 = 7 * 86_400;
    let back = now.as_second() - FEED_BACK.as_secs();
    let from = Timestamp::from_second(back - back.rem_euclid(WEEK)).unwrap_or(Timestamp::MIN);
    (
        from.saturating_sub(UNTIL_HORIZON).unwrap_or(Timestamp::MIN),
        from,
        now.saturating_add(FEED_AHEAD).unwrap_or(Timestamp::MAX),
    )
}

/// The shifts of `s` in a feed: those that end after `from`, whole.
fn feed_shifts(
    s: &Schedule,
    (look, from, until): (Timestamp, Timestamp, Timestamp),
    extra: &[Override],
) -> Vec<Shift> {
    let mut shifts = s.shifts(look, until, extra);
    shifts.retain(|sh| sh.end > from);
    shifts
}

/// `GET /api/v1/schedules/{name}/calendar.ics`.
pub async fn schedule_calendar(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let config = state.current();
    let s = schedule(&config.catalog, &name)?;
    let now = state.clock.now();
    let span = feed_span(now);
    let rows = stored(&state, Some(&name), span.0).await?;
    let events: Vec<ical::Event> = feed_shifts(s, span, &core_overrides(&rows, &name))
        .iter()
        .filter_map(|sh| Some(event(s, sh, sh.person()?, &rows, false)))
        .collect();
    let title = format!(
        "On call: {}",
        s.meta.display_name.as_deref().unwrap_or(&s.meta.name)
    );
    Ok(calendar(ical::write(&title, now, &events)))
}

/// `GET /api/v1/people/{name}/calendar.ics`: one person's shifts in every schedule.
pub async fn person_calendar(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let config = state.current();
    if !config.catalog.people.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_person",
            format!("no person named `{name}`"),
        ));
    }
    let now = state.clock.now();
    let span = feed_span(now);
    let rows = stored(&state, None, span.0).await?;
    let mut events = Vec::new();
    for s in config.catalog.schedules.values() {
        let extra = core_overrides(&rows, &s.meta.name);
        for sh in feed_shifts(s, span, &extra) {
            if sh.person() == Some(name.as_str()) {
                events.push(event(s, &sh, &name, &rows, true));
            }
        }
    }
    events.sort_by_key(|e| e.start);
    Ok(calendar(ical::write(
        &format!("On call: {name}"),
        now,
        &events,
    )))
}
