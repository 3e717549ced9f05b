//! Which receivers an alert goes to and which group (incident) it joins.
//!
//! Without an Alertmanager configuration every alert goes to the built-in
//! receiver `nines`, alerts group by their service (and the labels of its
//! `incidents.groupBy`), with the service's timings, and incidents go to the
//! targets of the service's and its owner team's `notify:`; with one
//! (`serve --alertmanager-config`), its route tree and receivers decide.
//! A service's acknowledgement timeout and auto-resolve apply either way,
//! and so does dependency-aware routing: a service with dependencies
//! waits at least its correlation window before its first notification,
//! so that a dependency alerting a little later still takes the page.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::dependency::DependencyGraph;
use nines_core::alerting::inhibit::InhibitRule;
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::route::{GroupBy, ResolvedRoute, RouteTree};
use nines_core::alerting::timeinterval::TimeInterval;
use nines_core::model::{Catalog, IncidentPolicy, Secret, Templates};

use super::channels::email::SmtpServer;

/// A service's correlation window when its configuration sets none.
pub const DEFAULT_CORRELATION_WINDOW: SignedDuration = SignedDuration::from_secs(60);

/// The receiver every alert reaches when no route tree is configured.
pub const DEFAULT_RECEIVER: &str = "nines";

/// Where a group's notifications go. How each is rendered and sent is in
/// `super::channels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Alertmanager webhook format, version 4.
    Webhook {
        url: String,
        send_resolved: bool,
        max_alerts: usize,
    },
    /// nines' own incident event as JSON.
    Json {
        url: String,
        send_resolved: bool,
        max_alerts: usize,
    },
    /// A Slack-compatible incoming webhook.
    Slack {
        url: Secret,
        /// Alertmanager's `channel` and `username`, which an incoming
        /// webhook may honour; unset posts as the webhook was set up.
        channel: Option<String>,
        username: Option<String>,
        send_resolved: bool,
        max_alerts: usize,
        /// The entry's own templates (its `text`); empty: the default.
        templates: Templates,
    },
    /// An email (plain text and HTML); `smtp` unset means the server
    /// `nines serve` was given.
    Email {
        to: String,
        smtp: Option<Arc<SmtpServer>>,
        headers: Vec<(String, String)>,
        send_resolved: bool,
        max_alerts: usize,
        /// The entry's own templates (`subject`, `text`, `html`).
        templates: Templates,
    },
    /// PagerDuty Events API v2: events are posted to `enqueue_url`.
    PagerDuty {
        enqueue_url: String,
        routing_key: Secret,
        /// The event's severity; unset follows the incident's urgency.
        severity: Option<String>,
        send_resolved: bool,
        /// The entry's own templates (its `summary`).
        templates: Templates,
    },
}

impl Target {
    /// Read by a program (Alertmanager webhooks, nines' JSON events), not
    /// by a person. PagerDuty is paced as people are: its Events API limits
    /// the events a routing key may send a minute.
    pub fn for_machines(&self) -> bool {
        matches!(self, Target::Webhook { .. } | Target::Json { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Receiver {
    pub name: String,
    pub targets: Vec<Target>,
}

/// One group an alert belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    /// Shared, not copied: every alert placed in a group names its group
    /// by these two (see `incidents::GroupId`).
    pub receiver: Arc<str>,
    /// Alertmanager's group key: `{route matchers}:{group labels}`.
    pub key: Arc<str>,
    pub labels: LabelSet,
    pub group_wait: SignedDuration,
    pub group_interval: SignedDuration,
    pub repeat_interval: SignedDuration,
    /// Time intervals (by name) during which the route does not notify.
    pub mute_time_intervals: Vec<String>,
    /// When set, the route notifies only during one of these.
    pub active_time_intervals: Vec<String>,
    /// The service of the alert that formed the group.
    pub service: String,
    /// An acknowledgement older than this is dropped (back to triggered).
    pub ack_timeout: Option<SignedDuration>,
    /// The incident resolves by itself once nothing fires.
    pub auto_resolve: bool,
    /// Every target of its receiver is read by machines (Alertmanager
    /// webhooks, nines' JSON events): a change goes out as soon
    /// as the group's size allows, not a whole `group_interval` later (see
    /// [`GroupRef::update_interval`]).
    pub machines_only: bool,
    /// An alert starting later than this after the group's incident opened
    /// opens a new incident (the service's `groupWindow`); `None`, never.
    pub group_window: Option<SignedDuration>,
}

/// Groups made by [`Routing::groups_memo`], by route, service and group
/// labels; for one routing only. Looked up by a hash of the three, taken
/// from the alert's labels as they are: an alert of a group already made
/// costs no allocation.
#[derive(Debug, Default)]
pub struct GroupMemo {
    by_hash: std::collections::HashMap<u64, Vec<MemoEntry>, foldhash::fast::RandomState>,
    size: usize,
}

#[derive(Debug)]
struct MemoEntry {
    /// The route's place in the routing's tree (0 without a tree).
    at: usize,
    service: Box<str>,
    /// The group's key pairs, in the order [`Routing::key_pairs`] gives.
    pairs: Box<[(Box<str>, Box<str>)]>,
    group: GroupRef,
}

impl GroupMemo {
    /// How many groups it holds.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// How often a group read by machines only may be sent again, per alert in
/// it: a group of 20 alerts at most every 10 ms, of 2,000 every second. A
/// body carries the whole group, so this caps what a storm costs at about
/// 2,000 alerts re-sent a second per group (no more than `group_interval`
/// costs a group of that size), while an alert joining a small
/// incident reaches its receiver at once.
pub const UPDATE_PACE_PER_ALERT: SignedDuration = SignedDuration::from_micros(500);

impl GroupRef {
    /// How long after a notification a group that changed notifies again.
    /// People's channels (Slack, email) wait the route's `group_interval`,
    /// as Alertmanager does, so that a storm is one message an interval.
    /// Machines get the change as soon as re-sending the group's `alerts`
    /// allows ([`UPDATE_PACE_PER_ALERT`] each), and never later than
    /// `group_interval`.
    pub fn update_interval(&self, alerts: usize) -> SignedDuration {
        if !self.machines_only {
            return self.group_interval;
        }
        let pace = UPDATE_PACE_PER_ALERT
            .checked_mul(i32::try_from(alerts).unwrap_or(i32::MAX))
            .unwrap_or(self.group_interval);
        pace.min(self.group_interval)
    }
}

/// Where a person is paged: each contact method that nines can deliver to
/// (a phone number has no channel here, and is left out), the primary ones
/// (`fallback` false) or the fallbacks.
pub fn contact_targets(p: &nines_core::model::Person, fallback: bool) -> Vec<Target> {
    use nines_core::model::ContactKind;
    p.contacts
        .iter()
        .filter(|c| c.fallback == fallback)
        .filter_map(|c| match c.kind {
            ContactKind::Email => Some(Target::Email {
                to: c.address.clone(),
                smtp: None,
                headers: Vec::new(),
                send_resolved: true,
                max_alerts: 0,
                templates: Templates::default(),
            }),
            ContactKind::Webhook => Some(Target::Json {
                url: c.address.clone(),
                send_resolved: true,
                max_alerts: 0,
            }),
            ContactKind::Slack => Some(Target::Slack {
                url: nines_core::model::Secret::new(c.address.clone()),
                channel: None,
                username: None,
                send_resolved: true,
                max_alerts: 0,
                templates: Templates::default(),
            }),
            ContactKind::Phone => None,
        })
        .collect()
}

/// What nines' own configuration says of one service's incidents.
#[derive(Debug, Clone, Default)]
pub struct ServiceRouting {
    pub policy: IncidentPolicy,
    /// The service's webhooks, then its owner team's.
    pub targets: Vec<Target>,
    /// The team that owns the service (maintenance windows over a team).
    pub owner: Option<String>,
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
    /// Per service, from nines' own configuration (see [`Routing::with_catalog`]).
    pub services: BTreeMap<String, ServiceRouting>,
    /// Who depends on whom, for dependency-aware routing.
    pub graph: DependencyGraph,
    /// The configuration's people, schedules, escalation policies and
    /// services' support hours, for paging people (`alerts/escalate.rs`).
    pub catalog: Arc<Catalog>,
    /// Each person's primary contact methods as targets: every page goes
    /// to all of them.
    pub people: BTreeMap<String, Vec<Target>>,
    /// The distinct correlation windows of services with dependencies,
    /// shortest first (worked out once, read on every dispatcher pass).
    windows: Vec<SignedDuration>,
    /// Each person's fallback contact methods (`fallback: true`), paged
    /// when a page to a primary one keeps failing (`alerts/fallback.rs`).
    pub fallbacks: BTreeMap<String, Vec<Target>>,
    /// Each person's own page limit (`pageLimit`), over `serve --page-limit`.
    pub page_limits: BTreeMap<String, nines_core::model::PageLimit>,
    /// Whether receivers read only by machines get changes as soon as the
    /// group's size allows (`serve --webhook-updates at-once`, the
    /// default) or after `group_interval`, as people do.
    pub pace_machines: bool,
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
            services: BTreeMap::new(),
            graph: DependencyGraph::default(),
            catalog: Arc::default(),
            people: BTreeMap::new(),
            windows: Vec::new(),
            fallbacks: BTreeMap::new(),
            page_limits: BTreeMap::new(),
            pace_machines: true,
        }
    }
}

impl Routing {
    /// The routing an alertmanager.yml describes, with its text (shown by
    /// `GET /api/v2/status`). Receivers keep their webhook, email, Slack
    /// and PagerDuty (Events API v2) integrations; what cannot be carried
    /// over is named in the returned warnings.
    pub fn from_alertmanager(
        am: &nines_config::alertmanager::AlertmanagerConfig,
        original: String,
    ) -> (Routing, Vec<String>) {
        let mut warnings = Vec::new();
        let receivers = am
            .receivers
            .iter()
            .map(|r| Receiver {
                name: r.name.clone(),
                targets: super::channels::from_alertmanager(r, &mut warnings),
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
            services: BTreeMap::new(),
            graph: DependencyGraph::default(),
            catalog: Arc::default(),
            people: BTreeMap::new(),
            windows: Vec::new(),
            fallbacks: BTreeMap::new(),
            page_limits: BTreeMap::new(),
            pace_machines: true,
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

    /// This routing with each service's incident policy and webhooks from
    /// nines' own configuration.
    /// The routing with `serve --webhook-updates` applied (see
    /// [`Routing::pace_machines`]).
    pub fn with_pacing(mut self, pace_machines: bool) -> Routing {
        self.pace_machines = pace_machines;
        self
    }

    pub fn with_catalog(mut self, catalog: &Catalog) -> Routing {
        let webhooks = |hooks: &[nines_core::model::Notify]| -> Vec<Target> {
            hooks.iter().map(super::channels::target_of).collect()
        };
        self.services = catalog
            .services
            .iter()
            .map(|(name, svc)| {
                let mut targets = webhooks(&svc.notify);
                if let Some(team) = svc.owner.as_ref().and_then(|t| catalog.teams.get(t)) {
                    for t in webhooks(&team.notify) {
                        if !targets.contains(&t) {
                            targets.push(t);
                        }
                    }
                }
                let routing = ServiceRouting {
                    policy: svc.incidents.clone(),
                    targets,
                    owner: svc.owner.clone(),
                };
                (name.clone(), routing)
            })
            .collect();
        self.graph = DependencyGraph::from_catalog(catalog);
        self.people = catalog
            .people
            .iter()
            .map(|(name, p)| (name.clone(), contact_targets(p, false)))
            .collect();
        self.fallbacks = BTreeMap::new();
        for (name, p) in &catalog.people {
            let fallbacks = contact_targets(p, true);
            if fallbacks.is_empty() {
                continue;
            }
            match self.people.get_mut(name) {
                // No primary contact nines can deliver to (a phone number
                // only): the fallbacks are where the person is paged.
                Some(primary) if primary.is_empty() => *primary = fallbacks,
                _ => {
                    self.fallbacks.insert(name.clone(), fallbacks);
                }
            }
        }
        self.page_limits = catalog
            .people
            .iter()
            .filter_map(|(name, p)| Some((name.clone(), p.page_limit?)))
            .collect();
        self.catalog = Arc::new(catalog.clone());
        let mut windows: Vec<SignedDuration> = self
            .services
            .keys()
            .filter(|s| self.graph.has_dependencies(s))
            .map(|s| self.correlation_window(s))
            .collect();
        windows.sort();
        windows.dedup();
        self.windows = windows;
        self
    }

    /// How long an alert of `service` may wait for a dependency to alert,
    /// and how long a recovered dependency still counts as its cause.
    pub fn correlation_window(&self, service: &str) -> SignedDuration {
        self.services
            .get(service)
            .and_then(|s| s.policy.correlation_window)
            .unwrap_or(DEFAULT_CORRELATION_WINDOW)
    }

    /// The distinct correlation windows of services with dependencies.
    pub fn correlation_windows(&self) -> &[SignedDuration] {
        &self.windows
    }

    /// A group's `group_wait`, lengthened to the correlation window for a
    /// service with dependencies.
    fn wait(&self, service: &str, group_wait: SignedDuration) -> SignedDuration {
        if self.graph.has_dependencies(service) {
            group_wait.max(self.correlation_window(service))
        } else {
            group_wait
        }
    }

    /// The team owning `service`, if any.
    pub fn owner(&self, service: &str) -> Option<&str> {
        self.services.get(service).and_then(|s| s.owner.as_deref())
    }

    /// The groups (incidents) an alert of `service` joins: one per route it
    /// matches in an alertmanager.yml, else one for its service.
    pub fn groups(&self, labels: &LabelSet, service: &str) -> Vec<GroupRef> {
        self.routes(labels)
            .into_iter()
            .map(|route| self.group_ref(route, self.group_labels(route, labels, service), service))
            .collect()
    }

    /// [`Routing::groups`], made once for the alerts of a service with the
    /// same group labels on the same routes (`memo`, for one pass over many
    /// alerts of the same few groups: most of the work is the group key
    /// and the copies a `GroupRef` holds).
    pub fn groups_memo<'m>(
        &self,
        labels: &LabelSet,
        service: &str,
        memo: &'m mut GroupMemo,
    ) -> Vec<&'m GroupRef> {
        use std::hash::{BuildHasher, Hash, Hasher};
        let routes = self.routes(labels);
        let mut found = Vec::with_capacity(routes.len());
        for route in routes {
            // A route is its place in this routing's tree, which the memo
            // does not outlive.
            let at = route.map_or(0, |r| std::ptr::from_ref(r).addr());
            let mut hasher = memo.by_hash.hasher().build_hasher();
            at.hash(&mut hasher);
            service.hash(&mut hasher);
            for pair in self.key_pairs(route, labels, service) {
                pair.hash(&mut hasher);
            }
            let hash = hasher.finish();
            let same = |e: &MemoEntry| {
                e.at == at
                    && *e.service == *service
                    && e.pairs
                        .iter()
                        .map(|(n, v)| (&**n, &**v))
                        .eq(self.key_pairs(route, labels, service))
            };
            let entries = memo.by_hash.entry(hash).or_default();
            let i = match entries.iter().position(same) {
                Some(i) => i,
                None => {
                    let pairs = self
                        .key_pairs(route, labels, service)
                        .map(|(n, v)| (n.into(), v.into()))
                        .collect();
                    let group_labels = self.group_labels(route, labels, service);
                    entries.push(MemoEntry {
                        at,
                        service: service.into(),
                        pairs,
                        group: self.group_ref(route, group_labels, service),
                    });
                    memo.size += 1;
                    entries.len() - 1
                }
            };
            found.push((hash, i));
        }
        found
            .into_iter()
            .filter_map(|(hash, i)| memo.by_hash.get(&hash).and_then(|e| e.get(i)))
            .map(|e| &e.group)
            .collect()
    }

    /// The pairs that tell an alert's group apart on `route` (a route of
    /// the tree, or none for nines' own services): its group labels, in a
    /// fixed order, borrowed from the alert's labels.
    fn key_pairs<'a>(
        &'a self,
        route: Option<&'a ResolvedRoute>,
        labels: &'a LabelSet,
        service: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (head, names, skip_service) = match route {
            Some(r) => match &r.options.group_by {
                GroupBy::All => (None, None, false),
                GroupBy::Labels(names) => (None, Some(names.as_slice()), false),
            },
            None => (
                Some(("service", self.shown_service(labels, service))),
                Some(self.policy_of(service).group_by.as_slice()),
                true,
            ),
        };
        head.into_iter().chain(labels.iter().filter(move |(n, _)| {
            names.is_none_or(|names| names.iter().any(|m| m == n))
                && !(skip_service && *n == "service")
        }))
    }

    /// The service an alert's group is named after: alerts of no
    /// configured service keep their own `service` label apart, so
    /// unrelated strays do not share one incident.
    fn shown_service<'a>(&self, labels: &'a LabelSet, service: &'a str) -> &'a str {
        match labels.get("service") {
            Some(own) if service == super::UNROUTED => own,
            _ => service,
        }
    }

    /// The group labels of an alert's group on `route` (see
    /// [`Routing::key_pairs`]).
    fn group_labels(
        &self,
        route: Option<&ResolvedRoute>,
        labels: &LabelSet,
        service: &str,
    ) -> LabelSet {
        match route {
            Some(r) => r.group_labels(labels),
            None => {
                LabelSet::free_pairs(&mut self.key_pairs(None, labels, service).collect::<Vec<_>>())
            }
        }
    }

    /// The routes (in an alertmanager.yml) an alert goes down, or one
    /// `None` for nines' own services.
    fn routes(&self, labels: &LabelSet) -> Vec<Option<&ResolvedRoute>> {
        match &self.tree {
            Some(tree) => tree.route(labels).into_iter().map(Some).collect(),
            None => vec![None],
        }
    }

    fn policy_of(&self, service: &str) -> &IncidentPolicy {
        static DEFAULT: std::sync::LazyLock<IncidentPolicy> =
            std::sync::LazyLock::new(IncidentPolicy::default);
        self.services.get(service).map_or(&DEFAULT, |s| &s.policy)
    }

    /// The group of an alert of `service` with these group labels, on
    /// `route` (`None`: its service's group, without an alertmanager.yml).
    fn group_ref(
        &self,
        route: Option<&ResolvedRoute>,
        group_labels: LabelSet,
        service: &str,
    ) -> GroupRef {
        let policy = self.policy_of(service);
        match route {
            Some(r) => GroupRef {
                receiver: r.options.receiver.as_str().into(),
                key: r.group_key(&group_labels).into(),
                labels: group_labels,
                group_wait: self.wait(service, r.options.group_wait),
                group_interval: r.options.group_interval,
                repeat_interval: r.options.repeat_interval,
                mute_time_intervals: r.options.mute_time_intervals.clone(),
                active_time_intervals: r.options.active_time_intervals.clone(),
                service: service.to_owned(),
                ack_timeout: policy.ack_timeout,
                auto_resolve: policy.auto_resolve,
                machines_only: self.machines_only(&r.options.receiver, None),
                group_window: policy.group_window,
            },
            None => GroupRef {
                receiver: self.receivers[0].name.as_str().into(),
                key: format!("{{}}:{}", group_labels.to_am_string()).into(),
                labels: group_labels,
                group_wait: self.wait(service, policy.group_wait.unwrap_or(self.group_wait)),
                group_interval: policy.group_interval.unwrap_or(self.group_interval),
                repeat_interval: policy.repeat_interval.unwrap_or(self.repeat_interval),
                mute_time_intervals: Vec::new(),
                active_time_intervals: Vec::new(),
                service: service.to_owned(),
                ack_timeout: policy.ack_timeout,
                auto_resolve: policy.auto_resolve,
                group_window: policy.group_window,
                machines_only: self.machines_only(&self.receivers[0].name, Some(service)),
            },
        }
    }

    /// Where a group's notifications go: its receiver's targets, and
    /// without an alertmanager.yml its service's (and owner team's) webhooks.
    pub fn targets(&self, g: &GroupRef) -> Vec<Target> {
        let mut out = self
            .receiver(&g.receiver)
            .map(|r| r.targets.clone())
            .unwrap_or_default();
        if self.tree.is_none()
            && let Some(s) = self.services.get(&g.service)
        {
            out.extend(s.targets.iter().cloned());
        }
        out
    }

    pub fn receivers(&self, labels: &LabelSet, service: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups(labels, service)
            .into_iter()
            .map(|g| g.receiver.to_string())
            .collect();
        names.dedup();
        names
    }

    pub fn receiver_names(&self) -> Vec<String> {
        self.receivers.iter().map(|r| r.name.clone()).collect()
    }

    /// Whether every target a group of `receiver` (and, without an
    /// alertmanager.yml, of `service`) reaches is read by machines; a
    /// receiver with no target at all counts as one.
    fn machines_only(&self, receiver: &str, service: Option<&str>) -> bool {
        if !self.pace_machines {
            return false;
        }
        let own = self.receiver(receiver).into_iter().flat_map(|r| &r.targets);
        let service = service
            .filter(|_| self.tree.is_none())
            .and_then(|s| self.services.get(s))
            .into_iter()
            .flat_map(|s| &s.targets);
        own.chain(service).all(Target::for_machines)
    }

    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    pub fn original(&self) -> &str {
        &self.original
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(machines_only: bool) -> GroupRef {
        GroupRef {
            receiver: "r".into(),
            key: "{}:{}".into(),
            labels: LabelSet::default(),
            group_wait: SignedDuration::ZERO,
            group_interval: SignedDuration::from_secs(1),
            repeat_interval: SignedDuration::from_secs(3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
            service: "s".to_owned(),
            ack_timeout: None,
            auto_resolve: true,
            group_window: None,
            machines_only,
        }
    }

    #[test]
    fn machines_get_changes_as_the_group_size_allows_people_after_group_interval() {
        let ms = SignedDuration::from_millis;
        let machines = group(true);
        assert_eq!(machines.update_interval(0), SignedDuration::ZERO);
        assert_eq!(machines.update_interval(20), ms(10));
        assert_eq!(machines.update_interval(1_000), ms(500));
        // Never later than group_interval, however large the group.
        assert_eq!(machines.update_interval(2_000), ms(1_000));
        assert_eq!(machines.update_interval(100_000), ms(1_000));
        assert_eq!(machines.update_interval(usize::MAX), ms(1_000));
        let people = group(false);
        assert_eq!(people.update_interval(1), ms(1_000));
    }

    #[test]
    fn serve_webhook_updates_interval_paces_machines_as_people() {
        let labels = LabelSet::free([("alertname".to_owned(), "A".to_owned())]);
        let paced = Routing::default().groups(&labels, "api");
        assert!(paced.iter().all(|g| g.machines_only), "{paced:?}");
        let waiting = Routing::default().with_pacing(false).groups(&labels, "api");
        assert!(waiting.iter().all(|g| !g.machines_only), "{waiting:?}");
    }

    #[test]
    fn the_memo_finds_the_groups_routing_makes() {
        let am = nines_config::alertmanager::load_alertmanager_str(
            "route:
  receiver: all
  group_by: [alertname, service]
  routes:
    - matchers: ['team=\"db\"']
      receiver: db
      group_by: ['...']
      continue: true
    - matchers: ['team=~\"db|web\"']
      receiver: teams
      group_by: [team]
receivers: [{name: all}, {name: db}, {name: teams}]
",
            "am.yml",
        )
        .unwrap();
        let tree = Routing::from_alertmanager(&am, String::new()).0;
        let own = Routing::default();
        let sets: Vec<LabelSet> = [
            vec![("alertname", "A"), ("service", "api")],
            vec![("alertname", "A"), ("service", "api"), ("team", "db")],
            vec![
                ("alertname", "A"),
                ("service", "web"),
                ("team", "db"),
                ("x", "1"),
            ],
            vec![("alertname", "B"), ("team", "web")],
            vec![
                ("alertname", "A"),
                ("service", "api"),
                ("team", "db"),
                ("x", "2"),
            ],
            vec![],
        ]
        .into_iter()
        .map(|pairs| LabelSet::free(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned()))))
        .collect();
        for routing in [&tree, &own] {
            let mut memo = GroupMemo::default();
            // Twice over: made the first time, found the second.
            for _ in 0..2 {
                for labels in &sets {
                    for service in ["api", super::super::UNROUTED] {
                        let memoed: Vec<GroupRef> = routing
                            .groups_memo(labels, service, &mut memo)
                            .into_iter()
                            .cloned()
                            .collect();
                        assert_eq!(memoed, routing.groups(labels, service), "{labels:?}");
                    }
                }
            }
            let distinct: std::collections::BTreeSet<(String, String)> = sets
                .iter()
                .flat_map(|l| ["api", super::super::UNROUTED].map(|s| (l, s)))
                .flat_map(|(l, s)| routing.groups(l, s))
                .map(|g| (g.key.to_string(), g.service))
                .collect();
            assert_eq!(memo.size(), distinct.len());
        }
    }
}
