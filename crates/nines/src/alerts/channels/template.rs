//! A `notify:` entry's own templates (`template:` / `templateFile:`),
//! rendered at delivery from the same [`Page`] the default rendering uses.
//!
//! The sources were parsed and checked when the configuration was loaded
//! (`nines_config::template::check`); what can still fail is rendering
//! with this incident: an undefined value printed, a filter given the wrong
//! kind of value. Then that part falls back to the default rendering and
//! the failure is returned, for the delivery's timeline entry: a template
//! never drops a notification, and never fails one silently.

use std::sync::LazyLock;

use minijinja::{Environment, Value};
use nines_config::template::{self, Part};
use nines_core::alerting::labels::LabelSet;
use nines_core::model::Templates;

use super::Page;
use super::text;

/// The engine with nines' settings (the same `nines check` uses).
static ENGINE: LazyLock<Environment<'static>> = LazyLock::new(template::environment);

/// The parts a target's templates gave for one notification, and the
/// parts that fell back to the default rendering, with why.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub summary: Option<String>,
    pub fallbacks: Vec<String>,
}

/// Renders the parts `templates` gives for `page`, of those `parts` the
/// channel has.
pub fn apply(templates: &Templates, parts: &[Part], page: &Page<'_>) -> Applied {
    let mut out = Applied::default();
    if templates.is_empty() {
        return out;
    }
    let ctx = context(page);
    let given = [
        (Part::Subject, &templates.subject),
        (Part::Text, &templates.text),
        (Part::Html, &templates.html),
        (Part::Summary, &templates.summary),
    ];
    for (part, source) in given {
        let Some(source) = source.as_ref().filter(|_| parts.contains(&part)) else {
            continue;
        };
        let rendered = template::render(&ENGINE, part, source, ctx.clone()).and_then(|s| {
            if s.trim().is_empty() {
                Err("the template rendered nothing".to_owned())
            } else {
                Ok(s)
            }
        });
        match rendered {
            Ok(s) => {
                let slot = match part {
                    Part::Subject => &mut out.subject,
                    Part::Text => &mut out.text,
                    Part::Html => &mut out.html,
                    Part::Summary => &mut out.summary,
                };
                *slot = Some(s);
            }
            Err(e) => out.fallbacks.push(format!(
                "template {}: {e}; the default {} was sent instead",
                part.name(),
                part.name()
            )),
        }
    }
    out
}

fn labels(l: &LabelSet) -> Value {
    Value::from_pairs(
        l.iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect::<Vec<_>>(),
    )
}

/// A JSON value (the decision's group labels) as a template value.
fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => a.iter().map(from_json).collect(),
        serde_json::Value::Object(o) => Value::from_pairs(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// What a template sees (documented in the README, "Templates"). Absent
/// text is an empty string rather than undefined, so that it prints as
/// nothing and tests false.
pub fn context(page: &Page<'_>) -> Value {
    let incident = match page.incident {
        Some(inc) => {
            let url = text::incident_url(&page.external_url, inc.id);
            let ack = if inc.state == "triggered" {
                format!("{url}/ack")
            } else {
                String::new()
            };
            let resolve = if inc.state != "resolved" {
                format!("{url}/resolve")
            } else {
                String::new()
            };
            Value::from_pairs(vec![
                ("id", Value::from(inc.id)),
                ("state", Value::from(inc.state.as_str())),
                ("urgency", Value::from(inc.urgency.as_str())),
                ("title", Value::from(page.title.as_str())),
                ("service", Value::from(inc.service.as_str())),
                ("url", Value::from(url.clone())),
                ("ack_url", Value::from(ack)),
                ("resolve_url", Value::from(resolve)),
            ])
        }
        None => Value::from(()),
    };
    let shown = if page.max_alerts > 0 {
        page.max_alerts
    } else {
        usize::MAX
    };
    let all: Vec<(&crate::alerts::Held, bool)> = page
        .firing
        .iter()
        .map(|h| (*h, true))
        .chain(page.resolved.iter().map(|h| (*h, false)))
        .collect();
    let alerts: Value = all
        .iter()
        .take(shown)
        .map(|(h, firing)| {
            let a = &h.alert;
            Value::from_pairs(vec![
                ("labels", labels(&a.labels)),
                ("annotations", labels(&a.annotations)),
                (
                    "status",
                    Value::from(if *firing { "firing" } else { "resolved" }),
                ),
                ("starts_at", Value::from(a.starts_at.to_string())),
                (
                    "ends_at",
                    Value::from(if *firing {
                        String::new()
                    } else {
                        a.ends_at.to_string()
                    }),
                ),
                ("fingerprint", Value::from(a.fingerprint.to_string())),
                (
                    "runbook",
                    Value::from(text::runbook_of(h, page.runbook).unwrap_or_default()),
                ),
            ])
        })
        .collect();
    let every = || all.iter().map(|(h, _)| &h.alert);
    Value::from_pairs(vec![
        ("incident", incident),
        (
            "status",
            Value::from(if page.firing.is_empty() {
                "resolved"
            } else {
                "firing"
            }),
        ),
        ("alerts", alerts),
        // Alerts left out of `alerts` by the entry's `maxAlerts`.
        ("more", Value::from(all.len().saturating_sub(shown))),
        (
            "common_labels",
            labels(&LabelSet::common(every().map(|a| &a.labels))),
        ),
        (
            "common_annotations",
            labels(&LabelSet::common(every().map(|a| &a.annotations))),
        ),
        (
            "group_labels",
            match page.group_labels {
                serde_json::Value::Object(_) => from_json(page.group_labels),
                _ => Value::from_pairs(Vec::<(String, Value)>::new()),
            },
        ),
        ("external_url", Value::from(page.external_url.as_str())),
        ("why", Value::from(page.why.clone().unwrap_or_default())),
        (
            "impacted",
            page.impacted
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect(),
        ),
    ])
}
