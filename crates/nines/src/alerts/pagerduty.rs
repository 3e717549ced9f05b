//! PagerDuty Events API v2, on the wire as PagerDuty speaks it, so any
//! client library or integration that can page PagerDuty can page nines.
//!
//! A routing key names an integration of a service (`integrations:` in the
//! service's config). An event's identity is its integration and its
//! `dedup_key`. A routing key that names no integration is still accepted,
//! into the visible catch-all service `unrouted`, never dropped.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::model::{AlertInput, Severity, Source};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Held;
use super::incidents::Action;
use crate::serve::AppState;

const MAX_SUMMARY: usize = 1024;

#[derive(Deserialize)]
struct Event {
    routing_key: Option<String>,
    event_action: Option<String>,
    dedup_key: Option<String>,
    payload: Option<Payload>,
    links: Option<Vec<Value>>,
    images: Option<Vec<Value>>,
    client: Option<String>,
    client_url: Option<String>,
}

#[derive(Deserialize)]
struct Payload {
    summary: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    timestamp: Option<String>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    custom_details: Option<Value>,
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn invalid(errors: Vec<String>) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, Vec<String>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(vec![format!(
            "Content-Type must be application/json, got {:?}",
            if ct.is_empty() { "nothing" } else { ct }
        )]);
    }
    serde_json::from_slice(body).map_err(|e| vec![format!("the body is not a valid event: {e}")])
}

/// The service and integration a routing key names.
fn integration_of(state: &AppState, key: &str) -> (String, String, (String, String)) {
    let catalog = &state.current().catalog;
    for (name, svc) in &catalog.services {
        if let Some(i) = svc.integrations.iter().find(|i| i.routing_key == key) {
            return (name.clone(), i.name.clone(), svc.alert_label.clone());
        }
    }
    (
        super::UNROUTED.to_owned(),
        "unknown".to_owned(),
        ("service".to_owned(), super::UNROUTED.to_owned()),
    )
}

/// The identity of an event: its routing key and dedup key.
fn fingerprint(routing_key: &str, dedup_key: &str) -> nines_core::alerting::labels::Fingerprint {
    LabelSet::free([
        ("dedup_key".to_owned(), dedup_key.to_owned()),
        ("routing_key".to_owned(), routing_key.to_owned()),
    ])
    .fingerprint()
}

/// `POST /v2/enqueue`.
pub async fn enqueue(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ev: Event = match parse_body(&headers, &body) {
        Ok(e) => e,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let routing_key = ev.routing_key.unwrap_or_default();
    if routing_key.is_empty() {
        errors.push("'routing_key' is missing or blank".to_owned());
    }
    let action = ev.event_action.unwrap_or_default();
    if !matches!(action.as_str(), "trigger" | "acknowledge" | "resolve") {
        errors.push(format!(
            "'event_action' must be trigger, acknowledge or resolve, got {action:?}"
        ));
    }
    let dedup_key = ev.dedup_key.filter(|k| !k.is_empty());
    if let Some(k) = &dedup_key
        && k.len() > 255
    {
        errors.push("'dedup_key' is longer than 255 characters".to_owned());
    }
    if action != "trigger" {
        if dedup_key.is_none() && matches!(action.as_str(), "acknowledge" | "resolve") {
            errors.push(format!("'dedup_key' is required to {action} an event"));
        }
        if !errors.is_empty() {
            return invalid(errors);
        }
        return ack_or_resolve(&state, &routing_key, &action, dedup_key.unwrap_or_default()).await;
    }
    let Some(p) = ev.payload else {
        errors.push("'payload' is missing".to_owned());
        return invalid(errors);
    };
    let summary = p.summary.unwrap_or_default();
    if summary.trim().is_empty() {
        errors.push("'payload.summary' is missing or blank".to_owned());
    }
    let source = p.source.unwrap_or_default();
    if source.trim().is_empty() {
        errors.push("'payload.source' is missing or blank".to_owned());
    }
    let severity = p.severity.unwrap_or_default();
    if Severity::parse(&severity).is_none() {
        errors.push(format!(
            "'payload.severity' must be critical, error, warning or info, got {severity:?}"
        ));
    }
    let starts_at = match p
        .timestamp
        .as_deref()
        .map(|t| super::am::parse_time("payload.timestamp", t))
    {
        Some(Ok(t)) => Some(t),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    for (what, list) in [("links", &ev.links), ("images", &ev.images)] {
        if list
            .as_ref()
            .is_some_and(|l| l.iter().any(|v| !v.is_object()))
        {
            errors.push(format!("'{what}' must be a list of objects"));
        }
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    // PagerDuty truncates a long summary rather than refusing it.
    let summary: String = summary.chars().take(MAX_SUMMARY).collect();
    let dedup_key = dedup_key.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let (service, integration, (label, value)) = integration_of(&state, &routing_key);
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    labels.insert(
        "alertname".into(),
        p.class
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "pagerduty".into()),
    );
    labels.insert(label, value);
    labels.insert("integration".into(), integration);
    labels.insert("dedup_key".into(), dedup_key.clone());
    labels.insert("severity".into(), severity);
    labels.insert("source".into(), source);
    for (k, v) in [
        ("component", p.component),
        ("group", p.group),
        ("class", p.class),
    ] {
        if let Some(v) = v {
            labels.insert(k.into(), v);
        }
    }
    let Ok(labels) = LabelSet::new(labels) else {
        return invalid(vec!["the event's fields do not make a label set".into()]);
    };
    let mut annotations = vec![("summary".to_owned(), summary)];
    if let Some(d) = p.custom_details {
        annotations.push(("custom_details".into(), d.to_string()));
    }
    for (k, v) in [("links", ev.links), ("images", ev.images)] {
        if let Some(v) = v {
            annotations.push((k.into(), Value::Array(v).to_string()));
        }
    }
    let now = state.clock.now();
    let input = AlertInput {
        labels,
        annotations: LabelSet::free(annotations),
        starts_at: starts_at.filter(|t| *t <= now),
        // A PagerDuty alert fires until it is resolved.
        ends_at: Some(jiff::Timestamp::MAX),
        generator_url: ev
            .client_url
            .filter(|_| ev.client.is_some())
            .unwrap_or_default(),
        source: Source::PagerDuty,
    };
    let mut alert = match input.into_alert(now, state.routing().resolve_timeout) {
        Ok(a) => a,
        Err(e) => return invalid(vec![e.to_string()]),
    };
    alert.fingerprint = fingerprint(&routing_key, &dedup_key);
    if let Err(e) = state.alerts.submit(vec![Held::new(alert, service)]).await {
        tracing::error!(error = %e, "cannot store a PagerDuty event");
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "message": e.to_string()}),
        );
    }
    state.metrics.alerts_received.inc();
    accepted(&dedup_key)
}

fn accepted(dedup_key: &str) -> Response {
    reply(
        StatusCode::ACCEPTED,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key}),
    )
}

async fn ack_or_resolve(
    state: &Arc<AppState>,
    routing_key: &str,
    action: &str,
    dedup_key: String,
) -> Response {
    let fp = fingerprint(routing_key, &dedup_key);
    let now = state.clock.now();
    // An unknown key is accepted and dropped, as PagerDuty does.
    let Some(held) = state.alerts.read(|st| st.alerts.get(&fp.0).cloned()) else {
        return accepted(&dedup_key);
    };
    if held.alert.resolved_at(now) {
        return accepted(&dedup_key);
    }
    if action == "resolve" {
        let mut held = held;
        held.alert.ends_at = now;
        held.alert.timeout = false;
        held.alert.updated_at = now;
        if let Err(e) = state.alerts.submit(vec![held]).await {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"status": "unavailable", "message": e.to_string()}),
            );
        }
        return accepted(&dedup_key);
    }
    // Acknowledge: the incident the alert is in, once it has one.
    let mut incidents = state.incidents.lock().await;
    // An incident whose opening is being written has its id once applied.
    incidents.finish(&state.alerts, &state.routing(), now).await;
    if let Some(id) = incidents.incident_of(fp.0) {
        let by = format!("pagerduty:{}", held.alert.labels.value("integration"));
        match incidents
            .act(&state.alerts, &state.routing(), id, Action::Ack, &by, now)
            .await
        {
            Ok(_) => state.outbox_wake.notify_one(),
            Err(super::incidents::ActionError::Conflict { .. }) => {}
            Err(e) => {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"status": "unavailable", "message": e.to_string()}),
                );
            }
        }
    }
    accepted(&dedup_key)
}

#[derive(Deserialize)]
struct ChangeEvent {
    routing_key: Option<String>,
    payload: Option<ChangePayload>,
    links: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ChangePayload {
    summary: Option<String>,
    timestamp: Option<String>,
    source: Option<String>,
    custom_details: Option<Value>,
}

/// `POST /v2/change/enqueue`: a change (a deploy) on the service's timeline.
pub async fn change(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ev: ChangeEvent = match parse_body(&headers, &body) {
        Ok(e) => e,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let routing_key = ev.routing_key.unwrap_or_default();
    if routing_key.is_empty() {
        errors.push("'routing_key' is missing or blank".to_owned());
    }
    let Some(p) = ev.payload else {
        errors.push("'payload' is missing".to_owned());
        return invalid(errors);
    };
    let summary = p.summary.unwrap_or_default();
    if summary.trim().is_empty() {
        errors.push("'payload.summary' is missing or blank".to_owned());
    }
    let now = state.clock.now();
    let at = match p
        .timestamp
        .as_deref()
        .map(|t| super::am::parse_time("payload.timestamp", t))
    {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            errors.push(e);
            now
        }
        None => now,
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let (service, integration, _) = integration_of(&state, &routing_key);
    let change = nines_store::NewChange {
        service,
        at,
        summary: summary.chars().take(MAX_SUMMARY).collect(),
        body: json!({
            "integration": integration, "source": p.source, "custom_details": p.custom_details, "links": ev.links,
        })
        .to_string(),
    };
    match state.store.record_change(&change).await {
        Ok(_) => reply(
            StatusCode::ACCEPTED,
            json!({"status": "success", "message": "Change event processed"}),
        ),
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unavailable", "message": e.to_string()}),
        ),
    }
}
