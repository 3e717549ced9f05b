//! Forwarding to PagerDuty's Events API v2 (`POST /v2/enqueue`): a trigger
//! while alerts fire, a resolve once none does, both with the incident's
//! dedup key so that PagerDuty keeps them one incident.

use nines_core::model::Secret;
use serde_json::{Value, json};

use super::Page;
use super::text::Message;

/// PagerDuty's limit on `payload.summary`.
const SUMMARY_MAX: usize = 1024;

/// The event's severity: the target's own, else from the incident's
/// urgency (high pages as `critical`, low as `warning`).
fn severity<'a>(page: &Page<'_>, fixed: Option<&'a str>) -> &'a str {
    match fixed {
        Some(s @ ("critical" | "error" | "warning" | "info")) => s,
        _ if page.urgency() == "high" => "critical",
        _ => "warning",
    }
}

/// A templated `payload.summary`: one line, within PagerDuty's limit.
pub fn summary(s: &str) -> String {
    let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(SUMMARY_MAX).collect()
}

pub fn render(page: &Page<'_>, msg: &Message, routing_key: &Secret, fixed: Option<&str>) -> Value {
    let dedup_key = page.dedup_key();
    // Rendered at delivery: a trigger retried after its incident resolved
    // (its resolve may have gone first) must not open PagerDuty's again.
    let resolved = page.incident.is_some_and(|i| i.state == "resolved");
    if page.firing.is_empty() || resolved {
        return json!({
            "routing_key": routing_key.expose(),
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let summary: String = msg.subject.chars().take(SUMMARY_MAX).collect();
    let firing: Vec<Value> = msg
        .alerts
        .iter()
        .filter(|a| a.status == "firing")
        .map(|a| {
            let facts: serde_json::Map<String, Value> =
                a.facts.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            json!({"alertname": a.name, "summary": a.summary, "description": a.description, "facts": facts})
        })
        .collect();
    let mut links: Vec<Value> = Vec::new();
    let mut incident_url = None;
    for l in &msg.links {
        if l.label == "Incident" {
            incident_url = Some(l.url.clone());
            links.push(json!({"href": l.url, "text": format!("nines incident #{}", page.incident.map_or(0, |i| i.id))}));
        }
    }
    if let Some(rb) = msg
        .alerts
        .iter()
        .flat_map(|a| a.links.iter())
        .find(|(k, _)| k == "runbook")
    {
        links.push(json!({"href": rb.1, "text": "runbook"}));
    }
    let source = if page.service.is_empty() {
        "nines".to_owned()
    } else {
        page.service.clone()
    };
    let class = page
        .firing
        .first()
        .map(|h| h.alert.labels.value("alertname").to_owned())
        .unwrap_or_default();
    let mut event = json!({
        "routing_key": routing_key.expose(),
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": summary,
            "source": source,
            "severity": severity(page, fixed),
            "component": page.service,
            "group": page.receiver,
            "class": class,
            "custom_details": {
                "urgency": page.urgency(),
                "incident": incident_url,
                "firing": firing,
                "num_firing": page.firing.len(),
                "num_resolved": page.resolved.len(),
                "group_labels": page.group_labels,
            },
        },
        "client": "nines",
        "links": links,
    });
    if let Some(u) = incident_url {
        event["client_url"] = json!(u);
    }
    event
}
