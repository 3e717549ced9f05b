//! nines' own incident event: one JSON object per notification, for
//! receivers written against nines rather than Alertmanager (documented in
//! the README, "The generic JSON webhook").

use serde_json::{Value, json};

use super::{Decision, Page};
use crate::alerts::am::format_time;
use crate::alerts::{Held, LabelMap};

/// The event's version: a receiver can tell what it is reading.
pub const VERSION: &str = "1";

pub fn render(decision: &Decision<'_>) -> Value {
    match decision {
        Decision::Incident(page) => incident(page),
        Decision::Action(a) => action(a, None),
        Decision::Digest(d) => json!({
            "version": VERSION,
            "kind": "digest",
            "person": d.person,
            "until": d.until,
            "incidents": d.items.iter().map(|i| json!({
                "id": i.incident,
                "title": i.title,
                "service": i.service,
                "urgency": i.urgency,
                "heldAt": i.held_at,
                "links": {"incident": i.url},
            })).collect::<Vec<_>>(),
        }),
        Decision::Notice(n) => {
            let mut links = serde_json::Map::new();
            if let (Some(id), false) = (n.incident, n.external_url.is_empty()) {
                links.insert(
                    "incident".to_owned(),
                    json!(super::text::incident_url(&n.external_url, id)),
                );
            }
            json!({
                "version": VERSION,
                "kind": "notice",
                "text": n.text,
                "service": n.service,
                "incident": n.incident,
                "links": links,
            })
        }
    }
}

/// A person's acknowledgement or resolution of an incident.
pub fn action(a: &super::ActionNote, incident: Option<&nines_store::IncidentRow>) -> Value {
    let inc = incident.map(|i| {
        json!({
            "id": i.id,
            "state": i.state,
            "urgency": i.urgency,
            "service": i.service,
            "openedAt": format_time(i.opened_at),
            "resolvedAt": i.resolved_at.map(format_time),
        })
    });
    let mut links = serde_json::Map::new();
    if let (Some(i), false) = (incident, a.external_url.is_empty()) {
        links.insert(
            "incident".to_owned(),
            json!(super::text::incident_url(&a.external_url, i.id)),
        );
    }
    json!({
        "version": VERSION,
        "kind": "action",
        "action": a.action,
        "by": a.by,
        "incident": inc,
        "groupKey": a.group_key,
        "links": links,
    })
}

fn alert(h: &Held, firing: bool) -> Value {
    let a = &h.alert;
    json!({
        "status": if firing { "firing" } else { "resolved" },
        "fingerprint": a.fingerprint.to_string(),
        "labels": LabelMap(&a.labels),
        "annotations": LabelMap(&a.annotations),
        "startsAt": format_time(a.starts_at),
        "endsAt": if firing { Value::Null } else { json!(format_time(a.ends_at)) },
        "generatorURL": a.generator_url,
    })
}

fn incident(page: &Page<'_>) -> Value {
    let all: Vec<Value> = page
        .firing
        .iter()
        .map(|h| alert(h, true))
        .chain(page.resolved.iter().map(|h| alert(h, false)))
        .collect();
    let total = all.len();
    let shown = if page.max_alerts > 0 {
        page.max_alerts.min(total)
    } else {
        total
    };
    let alerts: Vec<Value> = all.into_iter().take(shown).collect();
    let mut links = serde_json::Map::new();
    for l in page.links() {
        let key = match l.label {
            "Incident" => "incident",
            "Acknowledge" => "acknowledge",
            "Resolve" => "resolve",
            _ => continue,
        };
        links.insert(key.to_owned(), json!(l.url));
    }
    let inc = page.incident.map(|i| {
        json!({
            "id": i.id,
            "state": i.state,
            "urgency": i.urgency,
            "title": page.title,
            "service": i.service,
            "openedAt": format_time(i.opened_at),
            "resolvedAt": i.resolved_at.map(format_time),
        })
    });
    let mut out = json!({
        "version": VERSION,
        "kind": "incident",
        "status": if page.firing.is_empty() { "resolved" } else { "firing" },
        "incident": inc,
        "title": page.title,
        "service": page.service,
        "urgency": page.urgency(),
        "receiver": page.receiver,
        "groupKey": page.group_key,
        "groupLabels": page.group_labels,
        "alerts": alerts,
        "truncatedAlerts": total - shown,
        "links": links,
        "externalURL": page.external_url,
    });
    // A page to a person says why them; any incident says what else is
    // impacted (held back by dependency-aware routing).
    if let Some(why) = &page.why {
        out["why"] = json!(why);
    }
    if !page.impacted.is_empty() {
        out["impacted"] = json!(page.impacted);
    }
    out
}
