//! The words of a notification, shared by the channels meant for people
//! (email, Slack, PagerDuty's summary): what is wrong and how badly, where,
//! how urgent, the runbook, and the links to act on the incident.

use super::{Digest, Notice, Page};
use crate::alerts::Held;

/// Labels that say where something is wrong, in the order shown.
const WHERE: [&str; 7] = [
    "service",
    "environment",
    "env",
    "cluster",
    "region",
    "namespace",
    "instance",
];

/// Annotations (or labels) that say how badly, as SLO burn-rate alerts
/// carry them, with the name shown for each.
const HOW_BADLY: [(&str, &str); 6] = [
    ("slo", "SLO"),
    ("objective", "objective"),
    ("burn_rate", "burn rate"),
    ("budget_remaining", "budget left"),
    ("time_to_exhaustion", "time to exhaustion"),
    ("severity", "severity"),
];

/// A link to act on or read about the incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub label: &'static str,
    pub url: String,
    /// An API endpoint that takes a POST (acknowledge, resolve), not a page.
    pub post: bool,
}

/// One alert, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertText {
    /// `firing` or `resolved`.
    pub status: &'static str,
    pub name: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// Where, then how badly, then since when.
    pub facts: Vec<(String, String)>,
    /// The runbook, then the alert's source.
    pub links: Vec<(String, String)>,
}

/// A notification as people read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `[FIRING:2] HighErrorRate checkout (high urgency)`.
    pub subject: String,
    /// The incident, its state and urgency in one sentence; for a notice,
    /// its text.
    pub lead: Option<String>,
    pub alerts: Vec<AlertText>,
    /// Alerts left out (`maxAlerts`).
    pub more: usize,
    pub links: Vec<Link>,
    /// `high` or `low`.
    pub urgency: String,
    pub firing: bool,
}

impl Message {
    /// The message of an incident notification.
    pub fn of_page(page: &Page<'_>) -> Message {
        let urgency = page.urgency().to_owned();
        let firing = !page.firing.is_empty();
        let status = if firing {
            format!("FIRING:{}", page.firing.len())
        } else {
            "RESOLVED".to_owned()
        };
        let mut names: Vec<&str> = Vec::new();
        for h in page.firing.iter().chain(&page.resolved) {
            let n = h.alert.labels.value("alertname");
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        let mut what = match names.len() {
            0 => page.title.clone(),
            1..=3 => names.join(", "),
            n => format!("{} and {} more", names[..2].join(", "), n - 2),
        };
        if !page.service.is_empty() && !what.split([' ', ',']).any(|w| w == page.service) {
            what.push(' ');
            what.push_str(&page.service);
        }
        let subject = if firing {
            format!("[{status}] {what} ({urgency} urgency)")
        } else {
            format!("[{status}] {what}")
        };
        let lead = page.incident.map(|inc| {
            let state = match inc.state.as_str() {
                "triggered" => "triggered: nobody has acknowledged it yet",
                "acknowledged" => "acknowledged: someone is on it",
                "resolved" => "resolved",
                other => other,
            };
            let mut lead = format!(
                "Incident #{} on {}, {} urgency, {}. {}",
                inc.id, inc.service, inc.urgency, state, page.title
            );
            if !page.impacted.is_empty() {
                lead.push_str(&format!(" Also impacted: {}.", page.impacted.join(", ")));
            }
            if let Some(why) = &page.why {
                lead.push_str(&format!(" You are paged: {why}."));
            }
            lead
        });
        let shown = if page.max_alerts > 0 {
            page.max_alerts
        } else {
            usize::MAX
        };
        let all: Vec<(&Held, bool)> = page
            .firing
            .iter()
            .map(|h| (*h, true))
            .chain(page.resolved.iter().map(|h| (*h, false)))
            .collect();
        let more = all.len().saturating_sub(shown);
        let alerts = all
            .iter()
            .take(shown)
            .map(|(h, f)| alert_text(h, *f, page.runbook))
            .collect();
        Message {
            subject,
            lead,
            alerts,
            more,
            links: page.links(),
            urgency,
            firing,
        }
    }

    /// The message of a notice: low urgency, nobody is paged.
    pub fn of_notice(n: &Notice) -> Message {
        let mut links = Vec::new();
        if let (Some(id), false) = (n.incident, n.external_url.is_empty()) {
            links.push(Link {
                label: "Incident",
                url: incident_url(&n.external_url, id),
                post: false,
            });
        }
        Message {
            subject: format!("[NOTICE] {}", n.text),
            lead: Some(n.text.clone()),
            alerts: Vec::new(),
            more: 0,
            links,
            urgency: "low".to_owned(),
            firing: false,
        }
    }

    /// The message of a digest: each held page as an entry with its
    /// incident's title, service, urgency, when it was held and its link.
    pub fn of_digest(d: &Digest) -> Message {
        let n = d.items.len();
        let high = d.items.iter().any(|i| i.urgency == "high");
        let alerts = d
            .items
            .iter()
            .map(|i| AlertText {
                status: "held",
                name: format!("Incident #{} on {}", i.incident, i.service),
                summary: (!i.title.is_empty()).then(|| i.title.clone()),
                description: None,
                facts: vec![
                    ("urgency".to_owned(), i.urgency.clone()),
                    ("held at".to_owned(), i.held_at.clone()),
                ],
                links: vec![("Incident".to_owned(), i.url.clone())],
            })
            .collect();
        Message {
            subject: format!(
                "[DIGEST] {n} page(s) for {} held by the page limit",
                d.person
            ),
            lead: Some(format!(
                "{} was paged more often than their page limit allows, so these {n} page(s) were held and are told together at the end of the window ({}). Each incident is linked below.",
                d.person, d.until
            )),
            alerts,
            more: 0,
            links: Vec::new(),
            urgency: if high { "high" } else { "low" }.to_owned(),
            firing: true,
        }
    }

    /// The message as plain text (an email's text part, a fallback).
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.subject);
        out.push_str("\n\n");
        if let Some(lead) = &self.lead {
            out.push_str(lead);
            out.push_str("\n\n");
        }
        for a in &self.alerts {
            out.push_str(&format!("[{}] {}\n", a.status.to_uppercase(), a.name));
            for p in a.summary.iter().chain(&a.description) {
                out.push_str(&format!("  {p}\n"));
            }
            for (k, v) in &a.facts {
                out.push_str(&format!("  {k}: {v}\n"));
            }
            for (k, v) in &a.links {
                out.push_str(&format!("  {k}: {v}\n"));
            }
            out.push('\n');
        }
        if self.more > 0 {
            out.push_str(&format!(
                "... and {} more alert(s), not shown.\n\n",
                self.more
            ));
        }
        for l in &self.links {
            if l.post {
                out.push_str(&format!("{}: POST {}\n", l.label, l.url));
            } else {
                out.push_str(&format!("{}: {}\n", l.label, l.url));
            }
        }
        out
    }
}

pub fn incident_url(external_url: &str, id: i64) -> String {
    format!(
        "{}/api/v1/incidents/{id}",
        external_url.trim_end_matches('/')
    )
}

/// An alert's runbook: its `runbook_url` or `runbook` annotation, else
/// its service's.
pub fn runbook_of<'a>(h: &'a Held, service_runbook: Option<&'a str>) -> Option<&'a str> {
    let ann = |k: &str| h.alert.annotations.get(k).filter(|v| !v.is_empty());
    ann("runbook_url")
        .or_else(|| ann("runbook"))
        .or(service_runbook)
}

fn alert_text(h: &Held, firing: bool, service_runbook: Option<&str>) -> AlertText {
    let a = &h.alert;
    let ann = |k: &str| a.annotations.get(k).filter(|v| !v.is_empty());
    let mut facts: Vec<(String, String)> = Vec::new();
    for k in WHERE {
        if let Some(v) = a.labels.get(k).filter(|v| !v.is_empty()) {
            facts.push((k.to_owned(), v.to_owned()));
        }
    }
    for (k, shown) in HOW_BADLY {
        if let Some(v) = ann(k).or_else(|| a.labels.get(k).filter(|v| !v.is_empty())) {
            facts.push((shown.to_owned(), v.to_owned()));
        }
    }
    facts.push(("since".to_owned(), a.starts_at.to_string()));
    if !firing {
        facts.push(("ended".to_owned(), a.ends_at.to_string()));
    }
    let mut links = Vec::new();
    if let Some(r) = runbook_of(h, service_runbook) {
        links.push(("runbook".to_owned(), r.to_owned()));
    }
    if let Some(d) = ann("dashboard").or_else(|| ann("dashboard_url")) {
        links.push(("dashboard".to_owned(), d.to_owned()));
    }
    if !a.generator_url.is_empty() {
        links.push(("source".to_owned(), a.generator_url.clone()));
    }
    AlertText {
        status: if firing { "firing" } else { "resolved" },
        name: a.labels.value("alertname").to_owned(),
        summary: ann("summary").map(str::to_owned),
        description: ann("description").map(str::to_owned),
        facts,
        links,
    }
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
