//! Which receivers an alert goes to and which group (incident) it joins.
//!
//! Without an Alertmanager configuration every alert goes to the built-in
//! receiver `nines` and alerts group by their `service` label; with one
//! (`serve --alertmanager-config`), its route tree decides.

use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::inhibit::InhibitRule;
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::route::RouteTree;
use nines_core::alerting::timeinterval::TimeInterval;

/// The receiver every alert reaches when no route tree is configured.
pub const DEFAULT_RECEIVER: &str = "nines";

/// Where a group's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Alertmanager webhook format, version 4.
    Webhook {
        url: String,
        send_resolved: bool,
        max_alerts: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub targets: Vec<Target>,
}

/// One group an alert belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub receiver: String,
    /// Alertmanager's group key: `{route matchers}:{group labels}`.
    pub key: String,
    pub labels: LabelSet,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    /// Time intervals (by name) during which the route does not notify.
    pub mute_time_intervals: Vec<String>,
    /// When set, the route notifies only during one of these.
    pub active_time_intervals: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Routing {
    /// Alertmanager's route tree, when an alertmanager.yml is in force.
    pub tree: Option<RouteTree>,
    pub inhibit_rules: Vec<InhibitRule>,
    pub time_intervals: Vec<TimeInterval>,
    pub resolve_timeout: SignedDuration,
    pub receivers: Vec<Receiver>,
    pub group_by: Vec<String>,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    pub original: String,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            tree: None,
            inhibit_rules: Vec::new(),
            time_intervals: Vec::new(),
            resolve_timeout: super::DEFAULT_RESOLVE_TIMEOUT,
            receivers: vec![Receiver {
                name: DEFAULT_RECEIVER.to_owned(),
                targets: Vec::new(),
            }],
            group_by: vec!["service".to_owned()],
            group_wait: SignedDuration::from_secs(0),
            group_interval: SignedDuration::from_secs(60),
            repeat_interval: SignedDuration::from_secs(4 * 3600),
            original: "# no alertmanager.yml: every alert goes to the receiver \"nines\", grouped by service\n".to_owned(),
        }
    }
}

impl Routing {
    /// The routing an alertmanager.yml describes, with its text (shown by
    /// `GET /api/v2/status`). Receivers keep their webhooks; the other
    /// integrations are named in the returned warnings until nines delivers
    /// them.
    pub fn from_alertmanager(
        am: &nines_config::alertmanager::AlertmanagerConfig,
        original: String,
    ) -> (Routing, Vec<String>) {
        let mut warnings = Vec::new();
        let receivers = am
            .receivers
            .iter()
            .map(|r| {
                for (kind, n) in [
                    ("email_configs", r.email_configs.len()),
                    ("slack_configs", r.slack_configs.len()),
                    ("pagerduty_configs", r.pagerduty_configs.len()),
                ] {
                    if n > 0 {
                        warnings.push(format!(
                            "receiver {:?}: {kind} are read and checked but not delivered yet; incidents and their timelines still record every alert",
                            r.name
                        ));
                    }
                }
                Receiver {
                    name: r.name.clone(),
                    targets: r
                        .webhook_configs
                        .iter()
                        .map(|w| Target::Webhook {
                            url: w.url.clone(),
                            send_resolved: w.send_resolved,
                            max_alerts: w.max_alerts as usize,
                        })
                        .collect(),
                }
            })
            .collect();
        let routing = Routing {
            tree: Some(am.route_tree.clone()),
            inhibit_rules: am.inhibit_rules.clone(),
            time_intervals: am.time_intervals.clone(),
            resolve_timeout: am.global.resolve_timeout,
            receivers,
            group_by: Vec::new(),
            group_wait: SignedDuration::ZERO,
            group_interval: SignedDuration::ZERO,
            repeat_interval: SignedDuration::ZERO,
            original,
        };
        (routing, warnings)
    }

    /// Whether a group's notifications are held at `now` by its route's
    /// mute or active time intervals.
    pub fn muted(&self, g: &GroupRef, now: Timestamp) -> bool {
        let during = |name: &String| {
            self.time_intervals
                .iter()
                .any(|t| &t.name == name && t.contains(now))
        };
        g.mute_time_intervals.iter().any(during)
            || (!g.active_time_intervals.is_empty() && !g.active_time_intervals.iter().any(during))
    }

    pub fn groups(&self, labels: &LabelSet) -> Vec<GroupRef> {
        if let Some(tree) = &self.tree {
            return tree
                .route(labels)
                .into_iter()
                .map(|r| {
                    let group_labels = r.group_labels(labels);
                    GroupRef {
                        receiver: r.options.receiver.clone(),
                        key: r.group_key(&group_labels),
                        labels: group_labels,
                        group_wait: r.options.group_wait,
                        group_interval: r.options.group_interval,
                        repeat_interval: r.options.repeat_interval,
                        mute_time_intervals: r.options.mute_time_intervals.clone(),
                        active_time_intervals: r.options.active_time_intervals.clone(),
                    }
                })
                .collect();
        }
        let group_labels = labels.subset(&self.group_by);
        vec![GroupRef {
            receiver: self.receivers[0].name.clone(),
            key: format!("{{}}:{}", group_labels.to_am_string()),
            labels: group_labels,
            group_wait: self.group_wait,
            group_interval: self.group_interval,
            repeat_interval: self.repeat_interval,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        }]
    }

    pub fn receivers(&self, labels: &LabelSet) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups(labels)
            .into_iter()
            .map(|g| g.receiver)
            .collect();
        names.dedup();
        names
    }

    pub fn receiver_names(&self) -> Vec<String> {
        self.receivers.iter().map(|r| r.name.clone()).collect()
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    pub fn original(&self) -> &str {
        &self.original
    }
}
