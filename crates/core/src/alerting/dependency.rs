//! Who to wake: when a service and something it depends on alert together,
//! the dependency is the root cause, and only its owner is paged.
//!
//! A service is *failing* when it has a high-urgency alert (severity
//! critical or error: the alerts that page) that is firing, or that
//! resolved less than a correlation window ago (a dependent often takes a
//! moment longer to recover than its cause, and paging its owner in that
//! moment would be noise). Silenced alerts and alerts held by a maintenance
//! window count too: the cause is known either way, as Alertmanager lets
//! silenced alerts inhibit.
//!
//! An alert of service A, starting at `t`, is *impacted* when some service
//! that A depends on, directly or transitively, is failing through an alert
//! that started no later than `t + window`: it started before A's alert, or
//! within the correlation window after it. A redundancy group fails only
//! when every member fails. The root causes are the deepest failing
//! services on the way: when C fails and B and A fail because of it, A and
//! B are impacted by C.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::labels::Fingerprint;
use super::model::Severity;
use crate::model::{Catalog, Dependency};

/// How deep a dependency chain is followed (configurations are checked
/// for cycles; this only bounds a mistake).
const MAX_DEPTH: usize = 64;

/// The dependency graph as routing needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DependencyGraph {
    deps: BTreeMap<String, Vec<Dependency>>,
    /// Services some other service depends on (directly or in a group).
    depended_on: BTreeSet<String>,
}

/// One alert that may be a root cause.
#[derive(Clone, Debug, PartialEq)]
pub struct CauseAlert {
    pub fingerprint: Fingerprint,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
}

/// A root cause of an impacted alert.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cause {
    /// The failing service.
    pub service: String,
    /// The services between the impacted one and the cause, nearest first
    /// (empty for a direct dependency).
    pub via: Vec<String>,
    /// Its alerts that make it failing.
    pub alerts: Vec<Fingerprint>,
}

impl Cause {
    /// "db-primary" or "db-primary (via payments-api)".
    pub fn describe(&self) -> String {
        if self.via.is_empty() {
            self.service.clone()
        } else {
            format!("{} (via {})", self.service, self.via.join(", "))
        }
    }
}

/// Whether an alert with this `severity` label value can be a root cause:
/// the alerts that page (high urgency).
pub fn can_cause(severity: Option<&str>) -> bool {
    Severity::from_label(severity.unwrap_or("warning")) <= Severity::Error
}

impl DependencyGraph {
    pub fn from_catalog(catalog: &Catalog) -> DependencyGraph {
        let mut g = DependencyGraph::default();
        for (name, svc) in &catalog.services {
            if svc.dependencies.is_empty() {
                continue;
            }
            for d in &svc.dependencies {
                g.depended_on
                    .extend(d.services().into_iter().map(str::to_owned));
            }
            g.deps.insert(name.clone(), svc.dependencies.clone());
        }
        g
    }

    pub fn is_empty(&self) -> bool {
        self.deps.is_empty()
    }

    /// Whether `service` depends on anything (its alerts may be impacted).
    pub fn has_dependencies(&self, service: &str) -> bool {
        self.deps.contains_key(service)
    }

    /// Whether some service depends on `service` (its alerts may be causes).
    pub fn is_depended_on(&self, service: &str) -> bool {
        self.depended_on.contains(service)
    }

    /// The root causes of an alert of `service` that started at
    /// `starts_at`, given the cause alerts of each failing service, at
    /// `now`, with correlation window `window`. Empty when not impacted.
    pub fn root_causes(
        &self,
        service: &str,
        starts_at: Timestamp,
        causes: &BTreeMap<String, Vec<CauseAlert>>,
        window: SignedDuration,
        now: Timestamp,
    ) -> Vec<Cause> {
        if !self.has_dependencies(service) || causes.is_empty() {
            return Vec::new();
        }
        let latest_start = starts_at.saturating_add(window).unwrap_or(starts_at);
        let alerts_of = |s: &str| -> Vec<Fingerprint> {
            causes
                .get(s)
                .map(|cs| {
                    cs.iter()
                        .filter(|c| {
                            c.starts_at <= latest_start
                                && c.ends_at.saturating_add(window).unwrap_or(c.ends_at) > now
                        })
                        .map(|c| c.fingerprint)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut memo = BTreeMap::new();
        let mut path = Vec::new();
        let found = self.roots(service, &alerts_of, &mut memo, &mut path);
        let mut out: Vec<Cause> = found.into_values().collect();
        out.sort();
        out
    }

    /// The roots below `service` (not counting `service` itself), by root
    /// service name; `path` is the chain from the impacted service.
    fn roots(
        &self,
        service: &str,
        alerts_of: &dyn Fn(&str) -> Vec<Fingerprint>,
        memo: &mut BTreeMap<String, BTreeMap<String, Cause>>,
        path: &mut Vec<String>,
    ) -> BTreeMap<String, Cause> {
        if let Some(m) = memo.get(service) {
            // Found before through another path: the same roots, with the
            // path of the first way they were reached.
            return m.clone();
        }
        let mut out = BTreeMap::new();
        if path.len() >= MAX_DEPTH || path.iter().any(|p| p == service) {
            return out;
        }
        let Some(deps) = self.deps.get(service) else {
            return out;
        };
        path.push(service.to_owned());
        for d in deps {
            match d {
                Dependency::Service(t) => {
                    out.extend(self.down_roots(t, alerts_of, memo, path));
                }
                Dependency::Group { members, .. } => {
                    let per: Vec<BTreeMap<String, Cause>> = members
                        .iter()
                        .map(|m| self.down_roots(m, alerts_of, memo, path))
                        .collect();
                    // Redundant replicas: the group is down only when all are.
                    if !per.is_empty() && per.iter().all(|r| !r.is_empty()) {
                        for r in per {
                            out.extend(r);
                        }
                    }
                }
            }
        }
        path.pop();
        memo.insert(service.to_owned(), out.clone());
        out
    }

    /// The roots that make dependency `t` down: the roots below it, or `t`
    /// itself when nothing below it fails and it does.
    fn down_roots(
        &self,
        t: &str,
        alerts_of: &dyn Fn(&str) -> Vec<Fingerprint>,
        memo: &mut BTreeMap<String, BTreeMap<String, Cause>>,
        path: &mut Vec<String>,
    ) -> BTreeMap<String, Cause> {
        let below = self.roots(t, alerts_of, memo, path);
        if !below.is_empty() {
            return below;
        }
        let alerts = alerts_of(t);
        if alerts.is_empty() {
            return BTreeMap::new();
        }
        // `path` starts with the impacted service; the rest is the way here.
        let via = path.iter().skip(1).cloned().collect();
        BTreeMap::from([(
            t.to_owned(),
            Cause {
                service: t.to_owned(),
                via,
                alerts,
            },
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Service;

    fn catalog(edges: &[(&str, Vec<Dependency>)]) -> Catalog {
        let mut c = Catalog::default();
        for (name, deps) in edges {
            let mut s = Service::named(name);
            s.dependencies = deps.clone();
            c.services.insert((*name).to_owned(), s);
        }
        c
    }

    fn svc(s: &str) -> Dependency {
        Dependency::Service(s.to_owned())
    }

    fn t(s: &str) -> Timestamp {
        format!("2026-12-01T{s}Z").parse().unwrap()
    }

    fn firing(fp: u64, at: &str) -> CauseAlert {
        CauseAlert {
            fingerprint: Fingerprint(fp),
            starts_at: t(at),
            ends_at: Timestamp::MAX,
        }
    }

    fn causes(list: &[(&str, CauseAlert)]) -> BTreeMap<String, Vec<CauseAlert>> {
        let mut m: BTreeMap<String, Vec<CauseAlert>> = BTreeMap::new();
        for (s, c) in list {
            m.entry((*s).to_owned()).or_default().push(c.clone());
        }
        m
    }

    const MIN: SignedDuration = SignedDuration::from_secs(60);

    /// The talk's picture: A depends on B, B on C.
    fn abc() -> DependencyGraph {
        DependencyGraph::from_catalog(&catalog(&[
            ("a", vec![svc("b")]),
            ("b", vec![svc("c")]),
            ("c", vec![]),
        ]))
    }

    fn roots(
        g: &DependencyGraph,
        s: &str,
        at: &str,
        cs: &BTreeMap<String, Vec<CauseAlert>>,
    ) -> Vec<String> {
        g.root_causes(s, t(at), cs, MIN, t("10:10:00"))
            .into_iter()
            .map(|c| c.describe())
            .collect()
    }

    #[test]
    fn when_c_fails_and_b_and_a_fail_because_of_it_c_is_the_root_of_both() {
        let g = abc();
        let cs = causes(&[
            ("c", firing(3, "10:00:00")),
            ("b", firing(2, "10:00:10")),
            ("a", firing(1, "10:00:20")),
        ]);
        assert_eq!(roots(&g, "a", "10:00:20", &cs), ["c (via b)"]);
        assert_eq!(roots(&g, "b", "10:00:10", &cs), ["c"]);
        assert!(roots(&g, "c", "10:00:00", &cs).is_empty());
        let a = g.root_causes("a", t("10:00:20"), &cs, MIN, t("10:10:00"));
        assert_eq!(a[0].alerts, [Fingerprint(3)]);
        assert_eq!(a[0].via, ["b"]);
    }

    #[test]
    fn a_silent_middle_service_still_links_a_to_c() {
        let cs = causes(&[("c", firing(3, "10:00:00"))]);
        assert_eq!(roots(&abc(), "a", "10:00:30", &cs), ["c (via b)"]);
    }

    #[test]
    fn the_nearest_failing_service_is_the_root_when_nothing_below_fails() {
        let cs = causes(&[("b", firing(2, "10:00:00"))]);
        assert_eq!(roots(&abc(), "a", "10:00:30", &cs), ["b"]);
    }

    #[test]
    fn a_cause_that_alerts_within_the_window_after_the_dependent_still_counts() {
        let g = abc();
        let cs = causes(&[("c", firing(3, "10:01:00"))]);
        assert_eq!(
            roots(&g, "b", "10:00:00", &cs),
            ["c"],
            "exactly one window later"
        );
        assert!(
            roots(&g, "b", "09:59:59", &cs).is_empty(),
            "a dependent alerting more than a window before its dependency has its own problem"
        );
    }

    #[test]
    fn a_cause_that_resolved_stays_a_cause_for_one_window() {
        let g = abc();
        let mut c = firing(3, "10:00:00");
        c.ends_at = t("10:05:00");
        let cs = causes(&[("c", c)]);
        let at = |now: &str| g.root_causes("b", t("10:01:00"), &cs, MIN, t(now)).len();
        assert_eq!(at("10:05:59"), 1);
        assert_eq!(
            at("10:06:00"),
            0,
            "re-evaluated a window after the cause resolved"
        );
    }

    #[test]
    fn a_redundancy_group_fails_only_when_every_member_fails() {
        let g = DependencyGraph::from_catalog(&catalog(&[(
            "web",
            vec![Dependency::Group {
                name: "dns".to_owned(),
                members: vec!["dns-a".to_owned(), "dns-b".to_owned()],
            }],
        )]));
        let one = causes(&[("dns-a", firing(1, "10:00:00"))]);
        assert!(roots(&g, "web", "10:00:00", &one).is_empty());
        let both = causes(&[
            ("dns-a", firing(1, "10:00:00")),
            ("dns-b", firing(2, "10:00:05")),
        ]);
        assert_eq!(roots(&g, "web", "10:00:10", &both), ["dns-a", "dns-b"]);
    }

    #[test]
    fn several_failing_dependencies_are_all_roots() {
        let g = DependencyGraph::from_catalog(&catalog(&[(
            "checkout",
            vec![svc("payments"), svc("db")],
        )]));
        let cs = causes(&[
            ("payments", firing(1, "10:00:00")),
            ("db", firing(2, "10:00:00")),
        ]);
        assert_eq!(roots(&g, "checkout", "10:00:00", &cs), ["db", "payments"]);
    }

    #[test]
    fn a_service_with_no_dependencies_is_never_impacted() {
        let cs = causes(&[("c", firing(3, "10:00:00"))]);
        assert!(roots(&abc(), "c", "10:00:00", &cs).is_empty());
        let g = abc();
        assert!(g.has_dependencies("a") && !g.has_dependencies("c"));
        assert!(g.is_depended_on("c") && !g.is_depended_on("a"));
    }

    #[test]
    fn a_cycle_left_in_by_mistake_ends() {
        let g = DependencyGraph::from_catalog(&catalog(&[
            ("a", vec![svc("b")]),
            ("b", vec![svc("a")]),
        ]));
        let cs = causes(&[("b", firing(2, "10:00:00"))]);
        assert_eq!(roots(&g, "a", "10:00:00", &cs), ["b"]);
    }

    #[test]
    fn only_alerts_that_page_can_be_causes() {
        assert!(can_cause(Some("critical")) && can_cause(Some("page")) && can_cause(Some("error")));
        assert!(!can_cause(Some("warning")) && !can_cause(Some("info")) && !can_cause(None));
    }
}
