//! Notification channels: what each kind of receiver gets for a decision
//! kept in the outbox.
//!
//! `incidents::notifications_of` writes a small *decision* per target (its
//! kind, the fingerprints of the alerts firing and resolved, the group);
//! at delivery [`render`] turns it into the body of its channel from the
//! alerts held then and the incident as it is then. A decision has a kind:
//! `incident` (a decision without `kind` is one), `notice` (a short
//! low-urgency message that pages nobody, such as "service api is impacted
//! by db-primary, incident #7"), `action` (a person's acknowledgement or
//! resolution) or `digest` (the pages a person's page limit held, listed
//! with their incidents as they were when held: `alerts/digest.rs`).
//! Every channel meant for people renders a [`text::Message`] for an
//! incident, a notice or a digest; the Alertmanager webhook and PagerDuty
//! have no form for a notice or a digest and send nothing for one.
//!
//! One file per channel: `json.rs` (nines' incident event), `slack.rs`,
//! `email.rs` (and the SMTP client), `pagerduty.rs` (Events API v2); the
//! Alertmanager webhook body is `incidents::render_webhook`. A `notify:`
//! entry's own templates replace parts of the Slack, email and PagerDuty
//! renderings (`template.rs`); a part whose template fails goes out in its
//! default form, listed in [`Rendered::template_fallbacks`].

pub mod email;
pub mod json;
pub mod pagerduty;
pub mod slack;
pub mod template;
pub mod text;

use std::sync::Arc;

use nines_core::alerting::labels::Fingerprint;
use nines_core::model::{Channel, Notify, Secret, Templates, WebhookFormat};
use nines_store::{IncidentRow, Notification};
use serde_json::Value;

use super::routing::{Routing, Target};
use super::{Held, HubState};
use email::SmtpServer;
use nines_config::template::Part;

/// The outbox's channel names.
pub const WEBHOOK: &str = "webhook";
pub const JSON: &str = "json";
pub const SLACK: &str = "slack";
pub const EMAIL: &str = "email";
pub const PAGERDUTY: &str = "pagerduty";

impl Target {
    /// The outbox's channel name for this target.
    pub fn channel(&self) -> &'static str {
        match self {
            Target::Webhook { .. } => WEBHOOK,
            Target::Json { .. } => JSON,
            Target::Slack { .. } => SLACK,
            Target::Email { .. } => EMAIL,
            Target::PagerDuty { .. } => PAGERDUTY,
        }
    }

    /// What the outbox (and so the incident timeline) names this target
    /// by. Secrets are never part of it: a Slack URL or a routing key is
    /// named by its host and a short hash, and looked up again in the
    /// routing at delivery ([`Routing::find_target`]).
    pub fn address(&self) -> String {
        match self {
            Target::Webhook { url, .. } | Target::Json { url, .. } => url.clone(),
            Target::Slack { url, .. } => {
                format!(
                    "slack:{}#{}",
                    host_of(url.expose()),
                    short_hash(url.expose())
                )
            }
            Target::Email { to, smtp: None, .. } => format!("mailto:{to}"),
            Target::Email {
                to, smtp: Some(s), ..
            } => format!("mailto:{to}?via={}", s.describe()),
            Target::PagerDuty {
                enqueue_url,
                routing_key,
                ..
            } => format!(
                "pagerduty:{}#{}",
                host_of(enqueue_url),
                short_hash(&format!("{enqueue_url} {}", routing_key.expose()))
            ),
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            Target::Webhook { send_resolved, .. }
            | Target::Json { send_resolved, .. }
            | Target::Slack { send_resolved, .. }
            | Target::Email { send_resolved, .. }
            | Target::PagerDuty { send_resolved, .. } => *send_resolved,
        }
    }

    /// At most this many alerts in one notification (0: all).
    pub fn max_alerts(&self) -> usize {
        match self {
            Target::Webhook { max_alerts, .. }
            | Target::Json { max_alerts, .. }
            | Target::Slack { max_alerts, .. }
            | Target::Email { max_alerts, .. } => *max_alerts,
            Target::PagerDuty { .. } => 0,
        }
    }
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in a URL are not part of what is shown.
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

/// The target of one `notify:` entry of nines' own configuration.
pub fn target_of(n: &Notify) -> Target {
    let send_resolved = n.send_resolved;
    let max_alerts = n.max_alerts as usize;
    match &n.channel {
        Channel::Webhook {
            url,
            format: WebhookFormat::Alertmanager,
        } => Target::Webhook {
            url: url.clone(),
            send_resolved,
            max_alerts,
        },
        Channel::Webhook {
            url,
            format: WebhookFormat::Json,
        } => Target::Json {
            url: url.clone(),
            send_resolved,
            max_alerts,
        },
        Channel::Slack { url } => Target::Slack {
            url: url.clone(),
            channel: None,
            username: None,
            send_resolved,
            max_alerts,
            templates: n.templates.clone(),
        },
        Channel::Email { to } => Target::Email {
            to: to.clone(),
            smtp: None,
            headers: Vec::new(),
            send_resolved,
            max_alerts,
            templates: n.templates.clone(),
        },
        Channel::PagerDuty { routing_key, url } => Target::PagerDuty {
            enqueue_url: format!("{}/v2/enqueue", url.trim_end_matches('/')),
            routing_key: routing_key.clone(),
            severity: None,
            send_resolved,
            templates: n.templates.clone(),
        },
    }
}

/// A secret an alertmanager.yml gives inline or as a file to read.
fn am_secret(
    inline: &Option<String>,
    file: &Option<String>,
    what: &str,
    warnings: &mut Vec<String>,
) -> Option<Secret> {
    if let Some(v) = inline {
        return Some(Secret::new(v.clone()));
    }
    let path = file.as_ref()?;
    match std::fs::read_to_string(path) {
        Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim().to_owned())),
        Ok(_) => {
            warnings.push(format!(
                "{what}: the file {path:?} is empty; nothing is sent for it"
            ));
            None
        }
        Err(e) => {
            warnings.push(format!(
                "{what}: cannot read {path:?} ({e}); nothing is sent for it"
            ));
            None
        }
    }
}

/// The targets of one alertmanager.yml receiver: its webhook, email, Slack
/// and PagerDuty (Events API v2) integrations.
pub fn from_alertmanager(
    r: &nines_config::alertmanager::Receiver,
    warnings: &mut Vec<String>,
) -> Vec<Target> {
    let mut out: Vec<Target> = r
        .webhook_configs
        .iter()
        .map(|w| Target::Webhook {
            url: w.url.clone(),
            send_resolved: w.send_resolved,
            max_alerts: w.max_alerts as usize,
        })
        .collect();
    for e in &r.email_configs {
        let what = format!("receiver {:?} email config", r.name);
        let (host, port) = match SmtpServer::parse_smarthost(&e.smarthost) {
            Ok(hp) => hp,
            Err(problem) => {
                warnings.push(format!(
                    "{what}: smarthost {problem}; nothing is sent for it"
                ));
                continue;
            }
        };
        let password = am_secret(&e.auth_password, &e.auth_password_file, &what, warnings);
        if e.auth_password_file.is_some() && password.is_none() {
            continue;
        }
        out.push(Target::Email {
            to: e.to.clone(),
            smtp: Some(Arc::new(SmtpServer {
                host,
                port,
                from: e.from.clone(),
                hello: e.hello.clone(),
                username: e.auth_username.clone(),
                password,
                require_tls: e.require_tls,
            })),
            headers: e.headers.clone(),
            send_resolved: e.send_resolved,
            max_alerts: 0,
            templates: Templates::default(),
        });
    }
    for s in &r.slack_configs {
        let what = format!("receiver {:?} slack config", r.name);
        if let Some(url) = am_secret(&s.api_url, &s.api_url_file, &what, warnings) {
            out.push(Target::Slack {
                url,
                channel: s.channel.clone(),
                username: s.username.clone(),
                send_resolved: s.send_resolved,
                max_alerts: 0,
                templates: Templates::default(),
            });
        }
    }
    for p in &r.pagerduty_configs {
        let what = format!("receiver {:?} pagerduty config", r.name);
        if p.routing_key.is_none() && p.routing_key_file.is_none() {
            warnings.push(format!(
                "{what}: `service_key` is for PagerDuty's Events API v1, which nines does not send; it is not carried over (give the integration's Events API v2 `routing_key` instead)"
            ));
            continue;
        }
        if p.service_key.is_some() || p.service_key_file.is_some() {
            warnings.push(format!(
                "{what}: `service_key` (Events API v1) is not carried over; nines sends Events API v2 events with `routing_key`"
            ));
        }
        if let Some(routing_key) = am_secret(&p.routing_key, &p.routing_key_file, &what, warnings) {
            out.push(Target::PagerDuty {
                enqueue_url: p.url.clone(),
                routing_key,
                severity: Some(p.severity.clone().unwrap_or_else(|| "error".to_owned())),
                send_resolved: p.send_resolved,
                templates: Templates::default(),
            });
        }
    }
    out
}

impl Routing {
    /// Whether some `email:` entry of nines' own configuration needs the
    /// SMTP server `nines serve --smtp-*` gives.
    pub fn needs_smtp(&self) -> bool {
        self.receivers
            .iter()
            .flat_map(|r| r.targets.iter())
            .chain(self.services.values().flat_map(|s| s.targets.iter()))
            .chain(self.people.values().flatten())
            .chain(self.fallbacks.values().flatten())
            .any(|t| matches!(t, Target::Email { smtp: None, .. }))
    }

    /// The target a notification was decided for, by its channel and
    /// address: for the channels whose address is not all that is needed
    /// to send (secrets, SMTP settings), from the routing in force.
    pub fn find_target(&self, channel: &str, address: &str) -> Option<Target> {
        self.receivers
            .iter()
            .flat_map(|r| r.targets.iter())
            .chain(self.services.values().flat_map(|s| s.targets.iter()))
            .chain(self.people.values().flatten())
            .chain(self.fallbacks.values().flatten())
            .find(|t| t.channel() == channel && t.address() == address)
            .cloned()
    }
}

/// The notifications of a person's acknowledgement or resolution of an
/// incident (`incidents::act`), for the targets that keep an incident's
/// state: PagerDuty (an `acknowledge` or `resolve` event with the
/// incident's dedup key) and the JSON event. The other channels are told
/// by the alerts themselves, as Alertmanager tells them.
pub fn action_notifications(
    routing: &Routing,
    group: &super::routing::GroupRef,
    inc: &IncidentRow,
    by: &str,
    external_url: &str,
    now: jiff::Timestamp,
) -> Vec<nines_store::NewNotification> {
    let action = match inc.state.as_str() {
        "acknowledged" => "acknowledge",
        "resolved" => "resolve",
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for (i, target) in routing.targets(group).iter().enumerate() {
        let wanted = match target {
            Target::PagerDuty { send_resolved, .. } => action != "resolve" || *send_resolved,
            Target::Json { send_resolved, .. } => action != "resolve" || *send_resolved,
            _ => false,
        };
        if !wanted {
            continue;
        }
        let decision = serde_json::json!({
            "kind": "action",
            "action": action,
            "by": by,
            "receiver": group.receiver,
            "groupKey": group.key,
            "externalURL": external_url,
        });
        out.push(nines_store::NewNotification {
            idempotency_key: format!(
                "nines-{}-{}-{action}-{i}",
                short_hash(&group.key),
                now.as_microsecond()
            ),
            channel: target.channel().to_owned(),
            target: target.address(),
            body: decision.to_string(),
            created_at: now,
            not_before: None,
        });
    }
    out
}

/// The notifications of a notice, one per target that has a form for it
/// (every channel for people: the JSON event, Slack, email; not
/// Alertmanager webhooks, not PagerDuty, since a notice pages nobody), to
/// be written with the change that caused it. `key` tells the notice apart
/// from others decided at the same instant (its idempotency keys derive
/// from it).
pub fn notice_notifications(
    targets: &[Target],
    notice: &Notice,
    key: &str,
    now: jiff::Timestamp,
) -> Vec<nines_store::NewNotification> {
    let decision = serde_json::json!({
        "kind": "notice",
        "text": notice.text,
        "service": notice.service,
        "incident": notice.incident,
        "externalURL": notice.external_url,
    })
    .to_string();
    targets
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Target::Webhook { .. } | Target::PagerDuty { .. }))
        .map(|(i, t)| nines_store::NewNotification {
            idempotency_key: format!(
                "nines-{}-{}-notice-{i}",
                short_hash(key),
                now.as_microsecond()
            ),
            channel: t.channel().to_owned(),
            target: t.address(),
            body: decision.clone(),
            created_at: now,
            not_before: None,
        })
        .collect()
}

/// The dedup key of an incident (PagerDuty's `dedup_key`): the same for
/// its trigger, acknowledgement and resolve, another for the group's next
/// incident.
fn dedup_key(group_key: &str, incident: Option<i64>) -> String {
    match incident {
        Some(id) => format!("nines-{}-{id}", short_hash(group_key)),
        None => format!("nines-{}", short_hash(group_key)),
    }
}

/// What a person did to an incident, to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionNote {
    /// `acknowledge` or `resolve`.
    pub action: String,
    pub by: String,
    pub group_key: String,
    pub external_url: String,
}

/// A notice: a short message that pages nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub service: String,
    pub incident: Option<i64>,
    pub external_url: String,
}

/// An incident notification, from its decision, the alerts held now and
/// the incident as it is now.
pub struct Page<'a> {
    pub incident: Option<&'a IncidentRow>,
    pub title: String,
    pub service: String,
    pub receiver: &'a Value,
    pub group_key: &'a Value,
    pub group_labels: &'a Value,
    pub external_url: String,
    pub firing: Vec<&'a Held>,
    pub resolved: Vec<&'a Held>,
    pub max_alerts: usize,
    /// The service's runbook, when its alerts name none.
    pub runbook: Option<&'a str>,
    /// Why this person is paged (escalation step, schedule), for a page
    /// decided by an escalation policy.
    pub why: Option<String>,
    /// The services held back by this incident (dependency-aware routing):
    /// what else is impacted, whose owners were not paged.
    pub impacted: Vec<String>,
}

impl Page<'_> {
    /// The incident's urgency, or the alerts' when it is unknown.
    pub fn urgency(&self) -> &str {
        if let Some(i) = self.incident {
            return &i.urgency;
        }
        let high = self.firing.iter().any(|h| {
            nines_core::alerting::model::Severity::from_label(
                h.alert.labels.get("severity").unwrap_or("warning"),
            ) <= nines_core::alerting::model::Severity::Error
        });
        if high { "high" } else { "low" }
    }

    /// The incident, and the API endpoints that acknowledge and resolve it.
    pub fn links(&self) -> Vec<text::Link> {
        let Some(inc) = self.incident else {
            return Vec::new();
        };
        let url = text::incident_url(&self.external_url, inc.id);
        let mut out = vec![text::Link {
            label: "Incident",
            url: url.clone(),
            post: false,
        }];
        if inc.state == "triggered" {
            out.push(text::Link {
                label: "Acknowledge",
                url: format!("{url}/ack"),
                post: true,
            });
        }
        if inc.state != "resolved" {
            out.push(text::Link {
                label: "Resolve",
                url: format!("{url}/resolve"),
                post: true,
            });
        }
        out
    }

    /// The incident's PagerDuty `dedup_key`.
    pub fn dedup_key(&self) -> String {
        dedup_key(
            self.group_key.as_str().unwrap_or_default(),
            self.incident.map(|i| i.id),
        )
    }
}

/// Pages held by a person's page limit, told together at the end of the
/// window (`alerts/digest.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub person: String,
    /// When the window ends (RFC 3339).
    pub until: String,
    pub items: Vec<DigestItem>,
}

/// One held page of a digest: its incident as it was when held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestItem {
    pub incident: i64,
    pub title: String,
    pub service: String,
    pub urgency: String,
    /// When it was held (RFC 3339).
    pub held_at: String,
    /// The incident's URL in nines' API.
    pub url: String,
}

impl Digest {
    fn of(stored: &Value) -> Digest {
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Digest {
            person: s(stored, "person"),
            until: s(stored, "until"),
            items: stored
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|i| DigestItem {
                    incident: i
                        .get("incident")
                        .and_then(Value::as_i64)
                        .unwrap_or_default(),
                    title: s(i, "title"),
                    service: s(i, "service"),
                    urgency: s(i, "urgency"),
                    held_at: s(i, "heldAt"),
                    url: s(i, "url"),
                })
                .collect(),
        }
    }
}

/// What a decision in the outbox stands for.
pub enum Decision<'a> {
    Incident(Page<'a>),
    Notice(Notice),
    /// A person acknowledged or resolved the incident.
    Action(ActionNote),
    /// Pages held by a person's page limit, told in one message.
    Digest(Digest),
}

/// Reads a stored decision, with the alerts it names as held now.
/// `None` when the body is not a decision (sent as it is, as before).
pub fn decision<'a>(
    st: &'a HubState,
    stored: &'a Value,
    incident: Option<&'a IncidentRow>,
    runbook: Option<&'a str>,
) -> Option<Decision<'a>> {
    let s = |k: &str| stored.get(k).and_then(Value::as_str).unwrap_or_default();
    match stored.get("kind").and_then(Value::as_str) {
        Some("notice") => {
            return Some(Decision::Notice(Notice {
                text: s("text").to_owned(),
                service: s("service").to_owned(),
                incident: stored
                    .get("incident")
                    .and_then(Value::as_i64)
                    .or(incident.map(|i| i.id)),
                external_url: s("externalURL").to_owned(),
            }));
        }
        Some("action") => {
            return Some(Decision::Action(ActionNote {
                action: s("action").to_owned(),
                by: s("by").to_owned(),
                group_key: s("groupKey").to_owned(),
                external_url: s("externalURL").to_owned(),
            }));
        }
        Some("digest") => return Some(Decision::Digest(Digest::of(stored))),
        Some("incident") | None => {}
        Some(_) => return None,
    }
    let firing = stored.get("firing")?.as_array()?;
    let held = |list: Option<&'a Vec<Value>>| -> Vec<&'a Held> {
        list.into_iter()
            .flatten()
            .filter_map(|v| v.as_str()?.parse::<Fingerprint>().ok())
            .filter_map(|fp| st.alerts.get(&fp.0))
            .collect()
    };
    let firing = held(Some(firing));
    let resolved = held(stored.get("resolved").and_then(Value::as_array));
    let title = incident
        .and_then(|i| serde_json::from_str::<Value>(&i.body).ok())
        .and_then(|b| b.get("title").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| {
            firing
                .iter()
                .chain(&resolved)
                .find_map(|h| h.alert.annotations.get("summary").map(str::to_owned))
        })
        .unwrap_or_default();
    let service = incident.map_or_else(
        || {
            stored["groupLabels"]["service"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        },
        |i| i.service.clone(),
    );
    Some(Decision::Incident(Page {
        incident,
        title,
        service,
        receiver: &stored["receiver"],
        group_key: &stored["groupKey"],
        group_labels: &stored["groupLabels"],
        external_url: s("externalURL").to_owned(),
        firing,
        resolved,
        max_alerts: stored["maxAlerts"].as_u64().unwrap_or(0) as usize,
        runbook,
        why: stored.get("why").and_then(Value::as_str).map(str::to_owned),
        impacted: incident
            .and_then(|i| serde_json::from_str::<Value>(&i.body).ok())
            .and_then(|b| b.get("heldBack").and_then(Value::as_array).cloned())
            .into_iter()
            .flatten()
            .map(|h| {
                let service = h["service"].as_str().unwrap_or("?");
                match h["owner"].as_str() {
                    Some(o) => format!("{service} (team {o}, not paged)"),
                    None => format!("{service} (not paged)"),
                }
            })
            .collect(),
    }))
}

/// What a delivery sends.
pub enum Outgoing {
    /// A JSON body POSTed to `url`.
    Http { url: String, body: Vec<u8> },
    Email {
        server: Arc<SmtpServer>,
        email: email::Email,
    },
    /// This channel has no form for this decision (a notice to PagerDuty):
    /// nothing is sent, and the notification counts as delivered.
    Nothing(&'static str),
}

/// The body (and where it goes) of `note` for `target`, from the alerts
/// held now and the incident as it is now. `smtp` is the server for the
/// `email:` entries of nines' own configuration.
pub fn render(
    st: &HubState,
    note: &Notification,
    target: &Target,
    incident: Option<&IncidentRow>,
    runbook: Option<&str>,
    smtp: Option<&Arc<SmtpServer>>,
) -> Result<Rendered, String> {
    let mut fallbacks = Vec::new();
    let outgoing = render_one(st, note, target, incident, runbook, smtp, &mut fallbacks)?;
    Ok(Rendered {
        outgoing,
        template_fallbacks: fallbacks,
    })
}

/// A delivery's body, and the parts of it whose template could not be
/// rendered (each sent in its default form instead), for its timeline
/// entry.
pub struct Rendered {
    pub outgoing: Outgoing,
    pub template_fallbacks: Vec<String>,
}

/// The Alertmanager webhook body of a decision: Alertmanager's format,
/// exactly as before this module existed (a body that is no decision is
/// sent as it is); `None` for the kinds that have no webhook form (a
/// notice, a person's action, a digest: none lists `firing` alerts, so
/// the kind is read only when the body is not an alerts decision).
pub fn webhook_body(st: &HubState, decision: &str) -> Option<Vec<u8>> {
    if let Some(body) = super::incidents::render_webhook(st, decision) {
        return Some(body);
    }
    #[derive(serde::Deserialize)]
    struct Kind<'a> {
        #[serde(borrow, default)]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let kind = serde_json::from_str::<Kind<'_>>(decision)
        .ok()
        .and_then(|k| k.kind);
    (!matches!(kind.as_deref(), Some("notice" | "action" | "digest")))
        .then(|| decision.as_bytes().to_vec())
}

fn render_one(
    st: &HubState,
    note: &Notification,
    target: &Target,
    incident: Option<&IncidentRow>,
    runbook: Option<&str>,
    smtp: Option<&Arc<SmtpServer>>,
    fallbacks: &mut Vec<String>,
) -> Result<Outgoing, String> {
    if let Target::Webhook { url, .. } = target {
        return Ok(match webhook_body(st, &note.body) {
            Some(body) => Outgoing::Http {
                url: url.clone(),
                body,
            },
            None => Outgoing::Nothing("only alerts have an Alertmanager webhook form"),
        });
    }
    let stored: Value = serde_json::from_str(&note.body).unwrap_or(Value::Null);
    let Some(decision) = decision(st, &stored, incident, runbook) else {
        return Err("the outbox entry is not a decision this nines can render".to_owned());
    };
    let message = match &decision {
        Decision::Incident(page) => text::Message::of_page(page),
        Decision::Notice(n) => text::Message::of_notice(n),
        Decision::Digest(d) => text::Message::of_digest(d),
        Decision::Action(a) => {
            // Forwarded to the channels that keep an incident's state only.
            return Ok(match target {
                Target::PagerDuty { enqueue_url, routing_key, .. } => Outgoing::Http {
                    url: enqueue_url.clone(),
                    body: serde_json::to_vec(&serde_json::json!({
                        "routing_key": routing_key.expose(),
                        "event_action": a.action,
                        "dedup_key": dedup_key(&a.group_key, incident.map(|i| i.id).or(note.incident_id)),
                    }))
                    .unwrap_or_default(),
                },
                Target::Json { url, .. } => Outgoing::Http {
                    url: url.clone(),
                    body: serde_json::to_vec(&json::action(a, incident)).unwrap_or_default(),
                },
                _ => Outgoing::Nothing("a person's action is told by the alerts on this channel"),
            });
        }
    };
    let to_vec = |v: &Value| serde_json::to_vec(v).unwrap_or_default();
    // A target's own templates apply to incident notifications; a notice
    // keeps its short default form.
    let mut custom = |templates: &Templates, parts: &[Part]| match &decision {
        Decision::Incident(page) => {
            let applied = template::apply(templates, parts, page);
            fallbacks.extend(applied.fallbacks.iter().cloned());
            applied
        }
        _ => template::Applied::default(),
    };
    Ok(match target {
        Target::Webhook { .. } => unreachable!("rendered above"),
        Target::Json { url, .. } => Outgoing::Http {
            url: url.clone(),
            body: to_vec(&json::render(&decision)),
        },
        Target::Slack {
            url,
            channel,
            username,
            templates,
            ..
        } => {
            let mut body = slack::render(&message);
            if let Some(text) = custom(templates, &[Part::Text]).text {
                body["text"] = Value::from(text);
            }
            if let Some(c) = channel {
                body["channel"] = Value::from(c.as_str());
            }
            if let Some(u) = username {
                body["username"] = Value::from(u.as_str());
            }
            Outgoing::Http {
                url: url.expose().to_owned(),
                body: to_vec(&body),
            }
        }
        Target::Email {
            to,
            smtp: own,
            headers,
            templates,
            ..
        } => {
            let Some(server) = own.as_ref().or(smtp) else {
                return Err(
                    "no SMTP server is configured: start nines with --smtp-smarthost and --smtp-from (or NINES_SMTP_SMARTHOST, NINES_SMTP_FROM)"
                        .to_owned(),
                );
            };
            let mut email = email::render(&message, to, headers, &note.idempotency_key);
            let own = custom(templates, &[Part::Subject, Part::Text, Part::Html]);
            if let Some(subject) = own.subject {
                // A header is one line.
                email.subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
            }
            if let Some(text) = own.text {
                email.text = text;
            }
            if let Some(html) = own.html {
                email.html = html;
            }
            Outgoing::Email {
                server: server.clone(),
                email,
            }
        }
        Target::PagerDuty {
            enqueue_url,
            routing_key,
            severity,
            templates,
            ..
        } => match &decision {
            Decision::Incident(page) => {
                let mut event = pagerduty::render(page, &message, routing_key, severity.as_deref());
                // Only a trigger has a summary to give.
                if event.get("payload").is_some()
                    && let Some(summary) = custom(templates, &[Part::Summary]).summary
                {
                    event["payload"]["summary"] = Value::from(pagerduty::summary(&summary));
                }
                Outgoing::Http {
                    url: enqueue_url.clone(),
                    body: to_vec(&event),
                }
            }
            Decision::Notice(_) | Decision::Action(_) => {
                Outgoing::Nothing("a notice pages nobody: nothing goes to PagerDuty")
            }
            Decision::Digest(_) => {
                Outgoing::Nothing("a digest is for a person's own contact methods")
            }
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_core::alerting::labels::LabelSet;
    use nines_core::alerting::model::{AlertInput, Source};
    use serde_json::json;

    fn held(instance: &str, ends: Option<&str>) -> Held {
        let labels = LabelSet::new([
            ("alertname".to_owned(), "HighErrorRate".to_owned()),
            ("service".to_owned(), "checkout".to_owned()),
            ("severity".to_owned(), "critical".to_owned()),
            ("environment".to_owned(), "prod".to_owned()),
            ("cluster".to_owned(), "eu-1".to_owned()),
            ("instance".to_owned(), instance.to_owned()),
            ("slo".to_owned(), "checkout-availability".to_owned()),
        ])
        .unwrap();
        let a = AlertInput {
            labels,
            annotations: LabelSet::free([
                (
                    "summary".to_owned(),
                    "checkout: error budget burning 14.4x too fast <b>&</b>".to_owned(),
                ),
                ("burn_rate".to_owned(), "14.4x".to_owned()),
                ("budget_remaining".to_owned(), "62.5 %".to_owned()),
                ("time_to_exhaustion".to_owned(), "25h".to_owned()),
            ]),
            starts_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            ends_at: ends.map(|e| e.parse().unwrap()),
            generator_url: "http://prometheus/graph?g0.expr=errors".to_owned(),
            source: Source::Alertmanager,
        }
        .into_alert(
            "2026-11-21T10:00:01Z".parse().unwrap(),
            jiff::SignedDuration::from_secs(300),
        )
        .unwrap();
        Held::new(a, "checkout".to_owned())
    }

    fn state() -> (HubState, Vec<String>) {
        let mut st = HubState::default();
        let mut fps = Vec::new();
        for (i, ends) in [
            ("a", None),
            ("b", None),
            ("c", Some("2026-11-21T10:02:00Z")),
        ] {
            let h = held(i, ends);
            fps.push(h.alert.fingerprint.to_string());
            st.alerts.insert(h.alert.fingerprint.0, h);
        }
        (st, fps)
    }

    fn incident(state: &str) -> IncidentRow {
        IncidentRow {
            id: 7,
            group_key: "{}:{service=\"checkout\"}".to_owned(),
            service: "checkout".to_owned(),
            state: state.to_owned(),
            urgency: "high".to_owned(),
            opened_at: "2026-11-21T10:00:01Z".parse().unwrap(),
            updated_at: "2026-11-21T10:00:01Z".parse().unwrap(),
            resolved_at: None,
            body: json!({"title": "checkout: error budget burning"}).to_string(),
            supersedes: None,
        }
    }

    fn note(body: Value) -> Notification {
        Notification {
            id: 1,
            idempotency_key: "nines-0123-1-0".to_owned(),
            incident_id: Some(7),
            channel: String::new(),
            target: String::new(),
            body: body.to_string(),
            created_at: "2026-11-21T10:00:01Z".parse().unwrap(),
            next_attempt_at: "2026-11-21T10:00:01Z".parse().unwrap(),
            attempts: 0,
            state: "pending".to_owned(),
            last_error: String::new(),
        }
    }

    fn decision(firing: &[String], resolved: &[String], max: usize) -> Value {
        json!({
            "receiver": "nines", "groupKey": "{}:{service=\"checkout\"}",
            "groupLabels": {"service": "checkout"}, "externalURL": "http://nines.example.com",
            "firing": firing, "resolved": resolved, "maxAlerts": max, "kind": "incident",
        })
    }

    fn targets() -> Vec<Target> {
        let smtp = Arc::new(SmtpServer {
            host: "smtp.example.com".to_owned(),
            port: 587,
            from: "nines@example.com".to_owned(),
            hello: "localhost".to_owned(),
            username: Some("nines".to_owned()),
            password: Some(Secret::new("hunter2")),
            require_tls: true,
        });
        vec![
            Target::Json {
                url: "http://hooks.example.com/j".to_owned(),
                send_resolved: true,
                max_alerts: 0,
            },
            Target::Slack {
                url: Secret::new("https://hooks.slack.com/services/T0/B0/TOKEN"),
                channel: None,
                username: None,
                send_resolved: true,
                max_alerts: 0,
                templates: Templates::default(),
            },
            Target::Email {
                to: "oncall@example.com".to_owned(),
                smtp: Some(smtp),
                headers: vec![("Reply-To".to_owned(), "lead@example.com".to_owned())],
                send_resolved: true,
                max_alerts: 0,
                templates: Templates::default(),
            },
            Target::PagerDuty {
                enqueue_url: "https://events.pagerduty.com/v2/enqueue".to_owned(),
                routing_key: Secret::new("R0UT1NGKEY"),
                severity: None,
                send_resolved: true,
                templates: Templates::default(),
            },
        ]
    }

    /// Each channel's rendering, as text for a snapshot.
    fn rendered(st: &HubState, body: Value, inc: Option<&IncidentRow>) -> String {
        rendered_for(st, body, inc, targets())
    }

    fn rendered_for(
        st: &HubState,
        body: Value,
        inc: Option<&IncidentRow>,
        targets: Vec<Target>,
    ) -> String {
        let n = note(body);
        let mut out = String::new();
        for t in targets {
            out.push_str(&format!("=== {} {}\n", t.channel(), t.address()));
            let r = render(
                st,
                &n,
                &t,
                inc,
                Some("https://runbooks.example.com/checkout"),
                None,
            );
            for f in r
                .as_ref()
                .map(|r| r.template_fallbacks.clone())
                .unwrap_or_default()
            {
                out.push_str(&format!("fallback: {f}\n"));
            }
            match r.map(|r| r.outgoing) {
                Ok(Outgoing::Http { url, body }) => {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    out.push_str(&format!(
                        "POST {url}\n{}\n",
                        serde_json::to_string_pretty(&v).unwrap()
                    ));
                }
                Ok(Outgoing::Email { server, email }) => out.push_str(&format!(
                    "via {:?}\nTo: {}\nSubject: {}\nMessage-ID: {}\nHeaders: {:?}\n--- text\n{}--- html\n{}",
                    server, email.to, email.subject, email.message_id, email.headers, email.text, email.html
                )),
                Ok(Outgoing::Nothing(why)) => out.push_str(&format!("nothing: {why}\n")),
                Err(e) => out.push_str(&format!("error: {e}\n")),
            }
        }
        out
    }

    /// The channels for people of [`targets`], each with `templates`.
    fn templated(templates: &Templates) -> Vec<Target> {
        let mut out = targets();
        out.remove(0);
        for t in &mut out {
            match t {
                Target::Slack { templates: own, .. }
                | Target::Email { templates: own, .. }
                | Target::PagerDuty { templates: own, .. } => *own = templates.clone(),
                _ => {}
            }
        }
        out
    }

    #[test]
    fn templates_replace_their_parts_and_the_rest_stays_default() {
        let (st, fps) = state();
        let inc = incident("triggered");
        let templates = Templates {
            subject: Some("{{ incident.service }}: {{ alerts|length }} alert(s) {{ status }}, #{{ incident.id }}".to_owned()),
            text: Some(
                "{{ incident.title }} ({{ incident.urgency }}, {{ incident.state }})
{% for a in alerts %}- [{{ a.status|upper }}] {{ a.labels.alertname }} on {{ a.labels.instance }} since {{ a.starts_at }}{% if a.ends_at %}, ended {{ a.ends_at }}{% endif %}: {{ a.annotations.summary }}
{% endfor %}common: {{ common_labels.cluster }}/{{ common_labels.environment }}; group: {{ group_labels.service }}
{% if why %}why: {{ why }}{% endif %}{% if incident.ack_url %}ack: {{ incident.ack_url }}{% endif %}
"
                .to_owned(),
            ),
            html: Some("<p>{{ alerts[0].annotations.summary }}</p><a href=\"{{ incident.url }}\">#{{ incident.id }}</a> runbook {{ alerts[0].runbook }}".to_owned()),
            summary: Some("{{ incident.service }} {{ status }}:\n {{ common_annotations.burn_rate }} burn".to_owned()),
        };
        let mut d = decision(&fps[..2], &fps[2..], 0);
        d["why"] = json!("on call for checkout-primary (step 1)");
        insta::assert_snapshot!(rendered_for(&st, d, Some(&inc), templated(&templates)));
    }

    #[test]
    fn the_template_context_holds_what_the_readme_says() {
        let (st, fps) = state();
        let mut inc = incident("acknowledged");
        inc.body = json!({
            "title": "checkout: error budget burning",
            "heldBack": [{"service": "api", "owner": "web"}],
        })
        .to_string();
        let mut stored = decision(&fps[..2], &fps[2..], 2);
        stored["why"] = json!("on call for checkout-primary (step 1)");
        let Some(Decision::Incident(page)) = super::decision(
            &st,
            &stored,
            Some(&inc),
            Some("https://runbooks.example.com/checkout"),
        ) else {
            panic!("not an incident decision");
        };
        let ctx = template::context(&page);
        // What `nines check` accepts is what a template is given.
        let keys = |v: &minijinja::Value| -> Vec<String> {
            let mut k: Vec<String> = v
                .try_iter()
                .unwrap()
                .map(|k| k.as_str().unwrap().to_owned())
                .collect();
            k.sort();
            k
        };
        let sorted = |l: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = l.iter().map(|s| (*s).to_owned()).collect();
            v.sort();
            v
        };
        let ours = &nines_config::template::CONTEXT[..nines_config::template::CONTEXT.len() - 1];
        assert_eq!(keys(&ctx), sorted(ours));
        assert_eq!(
            keys(&ctx.get_attr("incident").unwrap()),
            sorted(&nines_config::template::INCIDENT)
        );
        let mut out = String::new();
        for key in ctx.try_iter().unwrap() {
            let k = key.as_str().unwrap().to_owned();
            out.push_str(&format!("{k} = {}\n", ctx.get_attr(&k).unwrap()));
        }
        insta::assert_snapshot!(out);
    }

    #[test]
    fn an_undefined_value_falls_back_to_the_default_part_and_says_so() {
        let (st, fps) = state();
        let inc = incident("triggered");
        let templates = Templates {
            subject: Some("{{ incident.nope }}".to_owned()),
            text: Some(
                "{{ alerts[0].labels.alertname }} and {{ alerts[7].labels.alertname }}".to_owned(),
            ),
            html: Some("{% if incident.nope %}x{% endif %}".to_owned()),
            summary: Some("{{ incident.title|round }}".to_owned()),
        };
        let out = rendered_for(
            &st,
            decision(&fps[..2], &fps[2..], 0),
            Some(&inc),
            templated(&templates),
        );
        insta::assert_snapshot!(out);
        // Every part that failed went out as the default does.
        let default = rendered(&st, decision(&fps[..2], &fps[2..], 0), Some(&inc));
        let body = |s: &str| -> String {
            s.lines()
                .filter(|l| !l.starts_with("fallback:") && !l.starts_with("=== json"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(body(&default).contains(&body(&out)), "{out}");
    }

    #[test]
    fn a_notice_keeps_its_default_form_on_a_templated_target() {
        let (st, _) = state();
        let notice = json!({
            "kind": "notice", "text": "service api is impacted by db-primary, incident #7; you are not paged",
            "service": "api", "incident": 7, "externalURL": "http://nines.example.com",
        });
        let templates = Templates {
            subject: Some("{{ incident.title }}".to_owned()),
            text: Some("{{ incident.title }}".to_owned()),
            ..Templates::default()
        };
        let plain = rendered_for(&st, notice.clone(), None, templated(&Templates::default()));
        assert_eq!(
            rendered_for(&st, notice, None, templated(&templates)),
            plain
        );
    }

    #[test]
    fn a_firing_incident_on_every_channel() {
        let (st, fps) = state();
        let inc = incident("triggered");
        insta::assert_snapshot!(rendered(&st, decision(&fps[..2], &fps[2..], 0), Some(&inc)));
    }

    #[test]
    fn a_resolved_incident_on_every_channel() {
        let (st, fps) = state();
        let mut inc = incident("resolved");
        inc.resolved_at = Some("2026-11-21T10:05:00Z".parse().unwrap());
        insta::assert_snapshot!(rendered(&st, decision(&[], &fps[2..], 0), Some(&inc)));
    }

    #[test]
    fn a_notice_is_a_short_message_that_pages_nobody() {
        let (st, _) = state();
        let notice = json!({
            "kind": "notice", "text": "service api is impacted by db-primary, incident #7; you are not paged",
            "service": "api", "incident": 7, "externalURL": "http://nines.example.com",
        });
        let out = rendered(&st, notice.clone(), None);
        insta::assert_snapshot!(out);
        let webhook = Target::Webhook {
            url: "http://am.example.com".to_owned(),
            send_resolved: true,
            max_alerts: 0,
        };
        assert!(matches!(
            render(&st, &note(notice), &webhook, None, None, None).map(|r| r.outgoing),
            Ok(Outgoing::Nothing(_))
        ));
    }

    #[test]
    fn a_digest_lists_the_held_incidents_on_every_channel_for_people() {
        let (st, _) = state();
        let item = |id: i64, title: &str, urgency: &str| {
            json!({
                "incident": id, "title": title, "service": "batch", "urgency": urgency,
                "heldAt": "2026-11-21T10:02:00Z",
                "url": format!("http://nines.example.com/api/v1/incidents/{id}"),
                "page": format!("{id}-1-0-alice"),
            })
        };
        let digest = json!({
            "kind": "digest", "person": "alice", "until": "2026-11-21T10:05:00Z",
            "items": [item(3, "job 3 is failing", "low"), item(4, "job <4> & co", "low")],
        });
        insta::assert_snapshot!(rendered(&st, digest.clone(), None));
        let webhook = Target::Webhook {
            url: "http://am.example.com".to_owned(),
            send_resolved: true,
            max_alerts: 0,
        };
        assert!(matches!(
            render(&st, &note(digest), &webhook, None, None, None),
            Ok(Rendered {
                outgoing: Outgoing::Nothing(_),
                ..
            })
        ));
    }

    #[test]
    fn a_persons_resolution_goes_to_pagerduty_and_the_json_event_only() {
        let (st, _) = state();
        let mut inc = incident("resolved");
        inc.resolved_at = Some("2026-11-21T10:05:00Z".parse().unwrap());
        let action = json!({
            "kind": "action", "action": "resolve", "by": "alice", "receiver": "nines",
            "groupKey": "{}:{service=\"checkout\"}", "externalURL": "http://nines.example.com",
        });
        insta::assert_snapshot!(rendered(&st, action, Some(&inc)));
    }

    #[test]
    fn a_trigger_delivered_after_its_incident_resolved_resolves_in_pagerduty() {
        let (st, fps) = state();
        let inc = incident("resolved");
        let n = note(decision(&fps[..2], &[], 0));
        let pd = targets().pop().unwrap();
        let Ok(Outgoing::Http { body, .. }) =
            render(&st, &n, &pd, Some(&inc), None, None).map(|r| r.outgoing)
        else {
            panic!("no HTTP request");
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["event_action"], "resolve", "{v}");
        assert_eq!(v["dedup_key"], "nines-3f6a0dbf-7", "{v}");
    }

    #[test]
    fn a_notice_is_decided_for_the_channels_for_people_only() {
        let notice = Notice {
            text: "service api is impacted by db-primary, incident #7; you are not paged"
                .to_owned(),
            service: "api".to_owned(),
            incident: Some(7),
            external_url: "http://nines.example.com".to_owned(),
        };
        let mut all = targets();
        all.push(Target::Webhook {
            url: "http://am.example.com/".to_owned(),
            send_resolved: true,
            max_alerts: 0,
        });
        let now: jiff::Timestamp = "2026-11-21T10:00:01Z".parse().unwrap();
        let out = notice_notifications(&all, &notice, "api/db-primary", now);
        let channels: Vec<&str> = out.iter().map(|n| n.channel.as_str()).collect();
        assert_eq!(channels, ["json", "slack", "email"]);
        // What it decides is what `render` reads back.
        let (st, _) = state();
        let stored: Value = serde_json::from_str(&out[0].body).unwrap();
        assert!(matches!(
            super::decision(&st, &stored, None, None),
            Some(Decision::Notice(n)) if n == notice
        ));
    }

    #[test]
    fn max_alerts_cuts_every_channel_and_says_how_many_are_left_out() {
        let (st, fps) = state();
        let inc = incident("acknowledged");
        let out = rendered(&st, decision(&fps[..2], &fps[2..], 1), Some(&inc));
        assert!(out.contains("\"truncatedAlerts\": 2"), "{out}");
        assert!(out.contains("… and 2 more alert(s), not shown"), "{out}");
        assert!(out.contains("... and 2 more alert(s), not shown."), "{out}");
        // Acknowledged: no acknowledge link, still a resolve link.
        assert!(!out.contains("/ack"), "{out}");
        assert!(out.contains("/api/v1/incidents/7/resolve"), "{out}");
    }

    #[test]
    fn secrets_stay_out_of_addresses_and_debug_output() {
        for t in targets() {
            let shown = format!("{} {t:?}", t.address());
            for secret in ["TOKEN", "R0UT1NGKEY", "hunter2"] {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
        assert_eq!(Secret::new("x").to_string(), "<secret>");
    }

    #[test]
    fn alertmanager_receivers_become_targets() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("pd-key");
        std::fs::write(&key, "FILEKEY\n").unwrap();
        let yml = format!(
            "route: {{receiver: all}}
receivers:
  - name: all
    webhook_configs: [{{url: 'http://hook.example.com/'}}]
    email_configs:
      - {{to: 'dba@example.com', from: 'am@example.com', smarthost: 'smtp.example.com:25', require_tls: false}}
    slack_configs:
      - {{api_url: 'https://hooks.slack.com/services/X', channel: '#ops', send_resolved: true}}
    pagerduty_configs:
      - {{routing_key_file: '{}'}}
      - {{service_key: 'v1key'}}
",
            key.display()
        );
        let am =
            nines_config::alertmanager::load_alertmanager_str(&yml, "alertmanager.yml").unwrap();
        let mut warnings = Vec::new();
        let targets = from_alertmanager(&am.receivers[0], &mut warnings);
        let kinds: Vec<String> = targets.iter().map(Target::address).collect();
        assert_eq!(kinds.len(), 4, "{kinds:?}");
        assert_eq!(kinds[0], "http://hook.example.com/");
        assert_eq!(kinds[1], "mailto:dba@example.com?via=smtp.example.com:25");
        assert!(kinds[2].starts_with("slack:hooks.slack.com#"), "{kinds:?}");
        assert!(
            kinds[3].starts_with("pagerduty:events.pagerduty.com#"),
            "{kinds:?}"
        );
        let Target::PagerDuty {
            routing_key,
            enqueue_url,
            severity,
            ..
        } = &targets[3]
        else {
            panic!()
        };
        assert_eq!(routing_key.expose(), "FILEKEY");
        assert_eq!(enqueue_url, "https://events.pagerduty.com/v2/enqueue");
        assert_eq!(severity.as_deref(), Some("error"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("Events API v1"), "{warnings:?}");
    }
}
