//! The configured world: services, SLOs, SLIs, alert policies, teams.
//!
//! These are the parsed, cross-checked objects every part of nines reads.
//! They are built by the `nines-config` crate from OpenSLO v1 and nines/v1
//! documents; nothing here knows YAML. References between objects are
//! resolved by name and guaranteed to exist once a [`Catalog`] is built.

use std::collections::BTreeMap;

use crate::availability::Target;
use crate::duration::DurationShorthand;
use crate::oncall::{EscalationPolicy, SupportHours};

/// A free-form value from an opaque part of a document (a data source's
/// connection details, a metric source's query spec): kept as data, with no
/// tie to the format it was written in.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m.get(key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Fields shared by every object: its name and how to show it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub labels: BTreeMap<String, Vec<String>>,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub services: BTreeMap<String, Service>,
    pub slos: BTreeMap<String, Slo>,
    pub slis: BTreeMap<String, Sli>,
    pub data_sources: BTreeMap<String, DataSource>,
    pub alert_policies: BTreeMap<String, AlertPolicy>,
    pub alert_conditions: BTreeMap<String, AlertCondition>,
    pub notification_targets: BTreeMap<String, NotificationTarget>,
    pub teams: BTreeMap<String, Team>,
    /// Everyone who can be on call: `Person` objects and the people written
    /// inline as team members.
    pub people: BTreeMap<String, Person>,
    pub schedules: BTreeMap<String, crate::oncall::Schedule>,
    pub escalation_policies: BTreeMap<String, EscalationPolicy>,
}

impl Catalog {
    /// How many objects of each kind, for logs and status pages.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("services", self.services.len()),
            ("slos", self.slos.len()),
            ("slis", self.slis.len()),
            ("data_sources", self.data_sources.len()),
            ("alert_policies", self.alert_policies.len()),
            ("alert_conditions", self.alert_conditions.len()),
            ("notification_targets", self.notification_targets.len()),
            ("teams", self.teams.len()),
            ("people", self.people.len()),
            ("schedules", self.schedules.len()),
            ("escalation_policies", self.escalation_policies.len()),
        ]
    }

    pub fn object_count(&self) -> usize {
        self.counts().iter().map(|(_, n)| n).sum()
    }

    /// The escalation policy of a service: its own, or else its owner's.
    pub fn escalation_policy_of(&self, service: &str) -> Option<&EscalationPolicy> {
        let s = self.services.get(service)?;
        let name = s.escalation_policy.as_ref().or_else(|| {
            s.owner
                .as_ref()
                .and_then(|t| self.teams.get(t))
                .and_then(|t| t.escalation_policy.as_ref())
        })?;
        self.escalation_policies.get(name)
    }

    /// The SLOs of one service, in name order.
    pub fn slos_of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Slo> + 'a {
        self.slos.values().filter(move |s| s.service == service)
    }
}

/// Tiers rank services by how much their failure hurts; 1 is the most critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tier(pub u8);

#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    pub meta: Meta,
    /// The team that is paged when this service is the root cause.
    pub owner: Option<String>,
    pub tier: Option<Tier>,
    pub runbook: Option<String>,
    /// Alerts whose label `alert_label.0` equals `alert_label.1` belong here.
    pub alert_label: (String, String),
    /// PagerDuty-style integrations: events sent with one of these routing
    /// keys belong to this service.
    pub integrations: Vec<Integration>,
    /// How this service's alerts become incidents, and when they notify.
    pub incidents: IncidentPolicy,
    /// Where this service's incidents are sent (besides its owner's).
    pub notify: Vec<Notify>,
    /// Checks that expect a ping every so often; a missed one is an alert.
    pub heartbeats: Vec<Heartbeat>,
    pub dependencies: Vec<Dependency>,
    /// The availability this service would reach on its own, with perfect
    /// dependencies; when absent, its SLO targets stand in for it.
    pub availability: Option<Target>,
    /// Whom its incidents escalate to; when absent, its owner's policy.
    pub escalation_policy: Option<String>,
    /// When its low-urgency incidents may notify anyone; when absent, at
    /// any time.
    pub support_hours: Option<SupportHours>,
}

impl Service {
    /// A service known only by name (for instance from an SLO's `service:`),
    /// with the defaults every service has.
    pub fn named(name: &str) -> Service {
        Service {
            meta: Meta {
                name: name.to_owned(),
                ..Meta::default()
            },
            owner: None,
            tier: None,
            runbook: None,
            alert_label: ("service".to_owned(), name.to_owned()),
            integrations: Vec::new(),
            incidents: IncidentPolicy::default(),
            notify: Vec::new(),
            heartbeats: Vec::new(),
            dependencies: Vec::new(),
            availability: None,
            escalation_policy: None,
            support_hours: None,
        }
    }
}

/// How a service's alerts group into incidents and when those notify. The
/// timings are Alertmanager's; unset ones take nines' defaults (or, with an
/// alertmanager.yml in force, its route's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentPolicy {
    /// Labels that split the service's alerts into separate incidents (the
    /// service itself always does).
    pub group_by: Vec<String>,
    /// How long a new incident gathers alerts before its first notification.
    pub group_wait: Option<jiff::SignedDuration>,
    /// How long after a notification a changed incident notifies again.
    pub group_interval: Option<jiff::SignedDuration>,
    /// How often an unchanged, unresolved incident reminds.
    pub repeat_interval: Option<jiff::SignedDuration>,
    /// An acknowledged incident still open this long after its
    /// acknowledgement is triggered again, and notifies again.
    pub ack_timeout: Option<jiff::SignedDuration>,
    /// Whether an incident resolves by itself once none of its alerts fires.
    pub auto_resolve: bool,
    /// How long an alert of this service waits for one of its dependencies
    /// to alert too (then the dependency's owner is paged instead), and how
    /// long a dependency that recovered still counts as the cause. Only
    /// services with dependencies wait; unset, one minute.
    pub correlation_window: Option<jiff::SignedDuration>,
    /// How long an open incident takes new alerts of its group (time-based
    /// grouping, as PagerDuty's): an alert that starts later than this after
    /// the incident opened opens a new incident instead, and the old one
    /// keeps its own alerts. Unset, an open incident takes every new alert
    /// of its group.
    pub group_window: Option<jiff::SignedDuration>,
}

impl Default for IncidentPolicy {
    fn default() -> Self {
        IncidentPolicy {
            group_by: Vec::new(),
            group_wait: None,
            group_interval: None,
            repeat_interval: None,
            ack_timeout: None,
            auto_resolve: true,
            correlation_window: None,
            group_window: None,
        }
    }
}

/// A check that expects a ping at least every `every`: one not pinged for
/// `every + grace` raises an alert for its service, and a ping resolves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    pub name: String,
    pub every: jiff::SignedDuration,
    pub grace: jiff::SignedDuration,
    /// The alert's `severity` label (`critical` unless set).
    pub severity: String,
}

/// Where a service's (or a team's) incidents are sent: one entry of a
/// `notify:` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify {
    pub channel: Channel,
    /// Whether alerts that resolved are sent too.
    pub send_resolved: bool,
    /// At most this many alerts in one message (0: all).
    pub max_alerts: u32,
    /// The parts of the channel's message given as templates (Jinja2
    /// syntax, checked when the configuration is loaded); a part not given
    /// keeps the default rendering.
    pub templates: Templates,
}

/// Template sources for the parts of a message, each optional. Which parts
/// a channel has: email `subject`, `text`, `html`; Slack `text`; PagerDuty
/// `summary`. The sources are kept as written: the `nines` crate renders
/// them, the core only carries them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Templates {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub summary: Option<String>,
}

impl Templates {
    pub fn is_empty(&self) -> bool {
        self.subject.is_none()
            && self.text.is_none()
            && self.html.is_none()
            && self.summary.is_none()
    }
}

/// A kind of channel and its address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// An HTTP endpoint receiving JSON.
    Webhook { url: String, format: WebhookFormat },
    /// A Slack-compatible incoming webhook (its URL carries a token).
    Slack { url: Secret },
    /// An email address, sent through the SMTP server `nines serve` is
    /// given.
    Email { to: String },
    /// A PagerDuty Events API v2 integration: events are posted to
    /// `{url}/v2/enqueue` with `routing_key`.
    PagerDuty { routing_key: Secret, url: String },
}

/// The body a webhook receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WebhookFormat {
    /// Alertmanager's webhook format (version 4), so that existing
    /// receivers work unchanged.
    #[default]
    Alertmanager,
    /// nines' own incident event (incident, state, urgency, links).
    Json,
}

/// A value that must not be shown: a routing key, a password, a URL that
/// carries a token. Its `Debug` and `Display` print `<secret>`; only
/// [`Secret::expose`] gives the value, to the code that sends it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// An integration: a routing key that names a service (PagerDuty Events API v2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Integration {
    pub name: String,
    pub routing_key: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dependency {
    /// This service fails when the dependency fails.
    Service(String),
    /// Redundant replicas: this service fails only when every member fails.
    Group { name: String, members: Vec<String> },
}

impl Dependency {
    pub fn services(&self) -> Vec<&str> {
        match self {
            Dependency::Service(s) => vec![s.as_str()],
            Dependency::Group { members, .. } => members.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetingMethod {
    Occurrences,
    Timeslices,
    RatioTimeslices,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => value < threshold,
            Op::Lte => value <= threshold,
            Op::Gt => value > threshold,
            Op::Gte => value >= threshold,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TimeWindow {
    Rolling(DurationShorthand),
    /// Aligned to a calendar: starts at `start` in `time_zone` and repeats
    /// every `length`.
    Calendar {
        length: DurationShorthand,
        start: jiff::civil::DateTime,
        time_zone: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    pub meta: Meta,
    pub service: String,
    /// The SLO's indicator; absent only for composite SLOs, whose objectives
    /// each carry one.
    pub indicator: Option<Sli>,
    pub time_window: TimeWindow,
    pub budgeting_method: BudgetingMethod,
    pub objectives: Vec<Objective>,
    /// Resolved copies: inline policies and referenced ones alike.
    pub alert_policies: Vec<AlertPolicy>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub display_name: Option<String>,
    pub op: Option<Op>,
    pub value: Option<f64>,
    pub target: Target,
    pub time_slice_target: Option<f64>,
    pub time_slice_window: Option<DurationShorthand>,
    pub indicator: Option<Sli>,
    pub composite_weight: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sli {
    pub meta: Meta,
    pub metric: SliMetric,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SliMetric {
    Ratio {
        counter: bool,
        numerator: Numerator,
        total: MetricSource,
    },
    RawRatio {
        raw_type: RawType,
        raw: MetricSource,
    },
    Threshold(MetricSource),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Numerator {
    Good(MetricSource),
    Bad(MetricSource),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawType {
    Success,
    Failure,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MetricSource {
    /// Name of a [`DataSource`] in the catalog.
    pub source_ref: Option<String>,
    pub kind: Option<String>,
    pub spec: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DataSource {
    pub meta: Meta,
    pub kind: String,
    pub connection_details: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertPolicy {
    pub meta: Meta,
    pub alert_when_no_data: bool,
    pub alert_when_resolved: bool,
    pub alert_when_breaching: bool,
    /// Resolved copies: inline conditions and referenced ones alike.
    pub conditions: Vec<AlertCondition>,
    pub notification_targets: Vec<NotificationTarget>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AlertCondition {
    pub meta: Meta,
    pub severity: String,
    pub burn_rate: BurnRateCondition,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BurnRateCondition {
    pub op: Op,
    pub threshold: f64,
    pub lookback_window: DurationShorthand,
    /// How long the condition must hold before it alerts; `None` is OpenSLO's
    /// default of `0m`, alert at once.
    pub alert_after: Option<DurationShorthand>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NotificationTarget {
    pub meta: Meta,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Team {
    pub meta: Meta,
    /// IANA zone name, checked against the time zone database.
    pub time_zone: Option<String>,
    pub members: Vec<Member>,
    /// Where the incidents of every service this team owns are sent.
    pub notify: Vec<Notify>,
    /// The escalation policy of the services it owns, unless a service
    /// names its own.
    pub escalation_policy: Option<String>,
}

/// A team member. One written with only a name may stand for a [`Person`]
/// declared on its own; linking fills in that person's zone and contacts.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub name: String,
    pub time_zone: Option<String>,
    pub contacts: Vec<ContactMethod>,
}

/// Someone who can be paged: how to reach them, and their own time zone
/// (for showing them their shifts; schedules follow their own zone).
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    pub meta: Meta,
    /// IANA zone name, checked against the time zone database.
    pub time_zone: Option<String>,
    pub contacts: Vec<ContactMethod>,
    /// The teams that list this person, in name order.
    pub teams: Vec<String>,
    /// At most this many pages in a window; the further ones wait for one
    /// digest at the end of the window (unset: `serve --page-limit`).
    pub page_limit: Option<PageLimit>,
}

/// A per-person rate limit on pages: more than `pages` within `window`
/// and the rest are held for one digest (see `nines/src/alerts/digest.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit {
    /// At least 1.
    pub pages: u32,
    /// Positive.
    pub window: jiff::SignedDuration,
}

impl PageLimit {
    /// `None` unless `pages` is at least 1 and `window` positive.
    pub fn new(pages: u32, window: jiff::SignedDuration) -> Option<PageLimit> {
        (pages >= 1 && window.is_positive()).then_some(PageLimit { pages, window })
    }

    /// `3/5m`: pages, a slash, a window (`s`, `m` or `h`).
    pub fn parse(s: &str) -> Result<PageLimit, String> {
        let (n, w) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a page limit such as 3/5m"))?;
        let pages: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{n}` is not a number of pages"))?;
        let w = w.trim();
        let (num, unit) = w.split_at(w.len().saturating_sub(1));
        let secs: i64 = num
            .parse()
            .map_err(|_| format!("`{w}` is not a window such as 5m"))?;
        let secs = match unit {
            "s" => secs,
            "m" => secs * 60,
            "h" => secs * 3600,
            _ => return Err(format!("`{w}` is not a window such as 5m (s, m or h)")),
        };
        PageLimit::new(pages, jiff::SignedDuration::from_secs(secs))
            .ok_or_else(|| format!("`{s}`: at least one page in a positive window"))
    }
}

impl Person {
    /// The address of their first contact method of `kind`, if any.
    pub fn contact(&self, kind: ContactKind) -> Option<&str> {
        self.contacts
            .iter()
            .find(|c| c.kind == kind)
            .map(|c| c.address.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContactMethod {
    pub kind: ContactKind,
    pub address: String,
    /// Used only when a page to one of the person's primary contacts
    /// (those without `fallback: true`) keeps failing.
    pub fallback: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactKind {
    Email,
    Webhook,
    Slack,
    Phone,
}

impl ContactKind {
    pub const NAMES: [&'static str; 4] = ["email", "webhook", "slack", "phone"];

    pub fn parse(s: &str) -> Option<ContactKind> {
        Some(match s {
            "email" => ContactKind::Email,
            "webhook" => ContactKind::Webhook,
            "slack" => ContactKind::Slack,
            "phone" => ContactKind::Phone,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PageLimit;
    use jiff::SignedDuration;

    #[test]
    fn a_page_limit_is_pages_over_a_positive_window() {
        assert_eq!(
            PageLimit::parse("3/5m"),
            Ok(PageLimit {
                pages: 3,
                window: SignedDuration::from_mins(5)
            })
        );
        assert_eq!(
            PageLimit::parse("10/1h").unwrap().window,
            SignedDuration::from_hours(1)
        );
        assert_eq!(
            PageLimit::parse("1/90s").unwrap().window,
            SignedDuration::from_secs(90)
        );
        for bad in ["3", "0/5m", "3/0m", "3/5", "3/5d", "x/5m", "3/-5m"] {
            assert!(PageLimit::parse(bad).is_err(), "{bad}");
        }
    }
}
