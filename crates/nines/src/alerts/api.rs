//! nines' own incident API: list, show (with the timeline), acknowledge,
//! resolve, add a note.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::SignedDuration;
use nines_store::IncidentRow;
use serde::Deserialize;
use serde_json::{Value, json};

use super::incidents::{Action, ActionError};
use crate::http::ApiError;
use crate::serve::AppState;

fn incident_json(i: &IncidentRow) -> Value {
    let body: Value = serde_json::from_str(&i.body).unwrap_or(Value::Null);
    json!({
        "id": i.id,
        "title": body["title"],
        "service": i.service,
        "state": i.state,
        "urgency": i.urgency,
        "group_key": i.group_key,
        "receiver": body["receiver"],
        // Dependency-aware routing: the dependents this incident's alerts
        // hold back, whose owners were not paged, and why.
        "held_back": body.get("heldBack").cloned().unwrap_or_else(|| json!([])),
        // Time-based grouping (`groupWindow`): the earlier incident of the
        // group this one took new alerts over from, and the later one that
        // took them over from this one.
        "supersedes": i.supersedes,
        "superseded_by": body.get("supersededBy").cloned().unwrap_or(Value::Null),
        "opened_at": i.opened_at.to_string(),
        "updated_at": i.updated_at.to_string(),
        "resolved_at": i.resolved_at.map(|t| t.to_string()),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/incidents?state=open|all&limit=N`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let open_only = match q.state.as_deref().unwrap_or("open") {
        "open" => true,
        "all" => false,
        other => {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("state must be open or all, got {other:?}"),
            ));
        }
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be between 1 and 1000, got {limit}"),
        ));
    }
    let rows = state
        .store
        .incidents(open_only, limit)
        .await
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(
        json!({ "incidents": rows.iter().map(incident_json).collect::<Vec<_>>() }),
    ))
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no incident {id}; `nines incident list` shows them"),
    )
}

/// `GET /api/v1/incidents/{id}`: the incident, its timeline, and the
/// changes on its service in the hour before it opened.
pub async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let Some(inc) = state
        .store
        .incident(id)
        .await
        .map_err(|e| ApiError::store(&e))?
    else {
        return Err(not_found(id));
    };
    let events = state
        .store
        .incident_events(id)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let since = inc
        .opened_at
        .saturating_sub(SignedDuration::from_secs(3600))
        .unwrap_or(inc.opened_at);
    let changes = state
        .store
        .changes(&inc.service, since)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let mut v = incident_json(&inc);
    v["timeline"] = events
        .iter()
        .map(|e| {
            json!({
                "at": e.at.to_string(),
                "kind": e.kind,
                "actor": e.actor,
                "details": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
            })
        })
        .collect();
    v["changes"] = changes
        .iter()
        .filter(|c| c.at <= inc.resolved_at.unwrap_or(jiff::Timestamp::MAX))
        .map(|c| json!({"at": c.at.to_string(), "summary": c.summary, "details": serde_json::from_str::<Value>(&c.body).unwrap_or(Value::Null)}))
        .collect();
    Ok(Json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    by: Option<String>,
    text: Option<String>,
}

async fn act(
    state: &AppState,
    id: i64,
    action: Action,
    by: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let by = by.filter(|b| !b.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request("invalid_input", "say who you are: {\"by\": \"alice\"}")
    })?;
    let now = state.clock.now();
    let mut incidents = state.incidents.lock().await;
    match incidents
        .act(&state.alerts, &state.routing(), id, action, &by, now)
        .await
    {
        Ok(inc) => {
            state.outbox_wake.notify_one();
            Ok(Json(incident_json(&inc)))
        }
        Err(ActionError::NotFound(id)) => Err(not_found(id)),
        Err(e @ ActionError::Conflict { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            e.to_string(),
        )),
        Err(ActionError::Store(e)) => Err(ApiError::store(&e)),
    }
}

fn body(
    b: Result<Json<ActBody>, axum::extract::rejection::JsonRejection>,
) -> Result<ActBody, ApiError> {
    b.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request("invalid_json", e.body_text()))
}

/// `POST /api/v1/incidents/{id}/ack` with `{"by": "alice"}`.
pub async fn ack(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    b: Result<Json<ActBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&state, id, Action::Ack, b.by).await
}

/// `POST /api/v1/incidents/{id}/resolve` with `{"by": "alice"}`.
pub async fn resolve(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    b: Result<Json<ActBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    act(&state, id, Action::Resolve, b.by).await
}

/// `POST /api/v1/incidents/{id}/notes` with `{"by": "alice", "text": "..."}`.
pub async fn note(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
    b: Result<Json<ActBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = body(b)?;
    let text = b.text.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_input",
            "a note needs text: {\"by\": \"alice\", \"text\": \"...\"}",
        )
    })?;
    if text.len() > 16 * 1024 {
        return Err(ApiError::bad_request(
            "invalid_input",
            "a note is at most 16 KiB",
        ));
    }
    act(&state, id, Action::Note(text), b.by).await
}
