//! The service dependency graph: cycles, and the theoretical availability a
//! service can reach given everything it depends on.
//!
//! A page that calls two 99.99 % APIs is at best 99.98 % available: hard
//! dependencies multiply in. Redundant replicas (a redundancy group) fail
//! together only when all of them fail. Failures are assumed independent,
//! which is optimistic for replicas that share a rack or a region; the
//! output says so.

use std::collections::{BTreeMap, BTreeSet};

use crate::availability::Availability;
use crate::model::{Catalog, Dependency, Service, SliMetric};

/// Where a service's own availability figure comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum AvailabilitySource {
    /// `spec.availability` on the service.
    Declared,
    /// The lowest objective among the service's ratio SLOs (availability,
    /// error rate), or among all its SLOs when it has no ratio SLO.
    SloTarget { slo: String },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Factor {
    pub service: String,
    pub availability: Availability,
    pub source: AvailabilitySource,
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupFactor {
    /// The service that declares the group.
    pub declared_by: String,
    pub name: String,
    /// Each member with its own theoretical availability.
    pub members: Vec<(String, Availability)>,
    pub availability: Availability,
}

/// How a service's theoretical availability is made: every service it
/// depends on without redundancy (each counted once, however many paths lead
/// to it), and every redundancy group on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Breakdown {
    pub service: String,
    pub factors: Vec<Factor>,
    pub groups: Vec<GroupFactor>,
    pub availability: Availability,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GraphError {
    #[error("no service named `{0}`")]
    UnknownService(String),
    #[error(
        "service `{0}` has no availability figure: give it `spec.availability` or an SLO, so that services depending on it can be computed"
    )]
    NoAvailability(String),
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

/// The first dependency cycle found, as a path that starts and ends on the
/// same service, or `None` when the graph is acyclic.
pub fn find_cycle(catalog: &Catalog) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit(
        catalog: &Catalog,
        name: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = path.iter().position(|p| p == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(name.to_owned(), Mark::Visiting);
        path.push(name.to_owned());
        if let Some(service) = catalog.services.get(name) {
            for dep in &service.dependencies {
                for next in dep.services() {
                    if let Some(c) = visit(catalog, next, marks, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        marks.insert(name.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for name in catalog.services.keys() {
        let mut path = Vec::new();
        if let Some(c) = visit(catalog, name, &mut marks, &mut path) {
            return Some(c);
        }
    }
    None
}

/// A service's own availability, assuming perfect dependencies.
pub fn own_availability(
    catalog: &Catalog,
    service: &Service,
) -> Result<(Availability, AvailabilitySource), GraphError> {
    if let Some(t) = service.availability {
        return Ok((t.into(), AvailabilitySource::Declared));
    }
    // A latency objective says little about whether the service is up, so
    // ratio objectives speak first.
    let objectives = || {
        catalog.slos_of(&service.meta.name).flat_map(|slo| {
            slo.objectives.iter().map(move |o| {
                let sli = o.indicator.as_ref().or(slo.indicator.as_ref());
                let ratio = sli.is_some_and(|s| !matches!(s.metric, SliMetric::Threshold(_)));
                (slo, o.target, ratio)
            })
        })
    };
    let has_ratio = objectives().any(|(_, _, ratio)| ratio);
    objectives()
        .filter(|(_, _, ratio)| *ratio || !has_ratio)
        .map(|(slo, t, _)| (slo, t))
        .min_by(|a, b| a.1.ratio().total_cmp(&b.1.ratio()))
        .map(|(slo, t)| {
            (
                t.into(),
                AvailabilitySource::SloTarget {
                    slo: slo.meta.name.clone(),
                },
            )
        })
        .ok_or_else(|| GraphError::NoAvailability(service.meta.name.clone()))
}

/// The availability `name` can reach at best given its dependency graph.
pub fn theoretical_availability(catalog: &Catalog, name: &str) -> Result<Breakdown, GraphError> {
    if let Some(cycle) = find_cycle(catalog) {
        return Err(GraphError::Cycle(cycle));
    }
    breakdown(catalog, name)
}

fn breakdown(catalog: &Catalog, name: &str) -> Result<Breakdown, GraphError> {
    let service = |n: &str| {
        catalog
            .services
            .get(n)
            .ok_or_else(|| GraphError::UnknownService(n.to_owned()))
    };
    // Everything reachable through hard dependencies, in discovery order and
    // each once: a shared database under two services fails once, not twice.
    let mut reach: Vec<&Service> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut stack = vec![name.to_owned()];
    while let Some(n) = stack.pop() {
        if !seen.insert(n.clone()) {
            continue;
        }
        let s = service(&n)?;
        reach.push(s);
        for dep in s.dependencies.iter().rev() {
            if let Dependency::Service(d) = dep {
                stack.push(d.clone());
            }
        }
    }

    let mut factors = Vec::new();
    let mut groups = Vec::new();
    for s in &reach {
        let (availability, source) = own_availability(catalog, s)?;
        factors.push(Factor {
            service: s.meta.name.clone(),
            availability,
            source,
        });
        for dep in &s.dependencies {
            if let Dependency::Group { name, members } = dep {
                let members = members
                    .iter()
                    .map(|m| Ok((m.clone(), breakdown(catalog, m)?.availability)))
                    .collect::<Result<Vec<_>, GraphError>>()?;
                let availability = Availability::parallel(members.iter().map(|(_, a)| *a));
                groups.push(GroupFactor {
                    declared_by: s.meta.name.clone(),
                    name: name.clone(),
                    members,
                    availability,
                });
            }
        }
    }
    let availability = Availability::serial(
        factors
            .iter()
            .map(|f| f.availability)
            .chain(groups.iter().map(|g| g.availability)),
    );
    Ok(Breakdown {
        service: name.to_owned(),
        factors,
        groups,
        availability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::availability::Target;

    fn svc(name: &str, availability: Option<&str>, deps: Vec<Dependency>) -> Service {
        Service {
            availability: availability.map(|a| Target::parse(a).unwrap()),
            dependencies: deps,
            ..Service::named(name)
        }
    }

    fn catalog(services: Vec<Service>) -> Catalog {
        let mut c = Catalog::default();
        for s in services {
            c.services.insert(s.meta.name.clone(), s);
        }
        c
    }

    #[test]
    fn hard_dependencies_multiply_and_shared_ones_count_once() {
        let dep = |n: &str| Dependency::Service(n.to_owned());
        let c = catalog(vec![
            svc("web", Some("99.99"), vec![dep("api"), dep("auth")]),
            svc("api", Some("99.99"), vec![dep("db")]),
            svc("auth", Some("99.99"), vec![dep("db")]),
            svc("db", Some("99.99"), vec![]),
        ]);
        let b = theoretical_availability(&c, "web").unwrap();
        let names: Vec<_> = b.factors.iter().map(|f| f.service.as_str()).collect();
        assert_eq!(names, ["web", "api", "db", "auth"]);
        assert!((b.availability.ratio() - 0.9999f64.powi(4)).abs() < 1e-12);
    }

    #[test]
    fn redundancy_groups_combine_in_parallel() {
        let c = catalog(vec![
            svc(
                "api",
                Some("99.99"),
                vec![Dependency::Group {
                    name: "dns".into(),
                    members: vec!["dns-a".into(), "dns-b".into()],
                }],
            ),
            svc("dns-a", Some("99.9"), vec![]),
            svc("dns-b", Some("99.9"), vec![]),
        ]);
        let b = theoretical_availability(&c, "api").unwrap();
        assert_eq!(b.groups.len(), 1);
        assert!((b.groups[0].availability.ratio() - 0.999999).abs() < 1e-12);
        assert!((b.availability.ratio() - 0.9999 * 0.999999).abs() < 1e-12);
    }

    #[test]
    fn cycles_are_found_and_named() {
        let dep = |n: &str| Dependency::Service(n.to_owned());
        let c = catalog(vec![
            svc("a", Some("99"), vec![dep("b")]),
            svc("b", Some("99"), vec![dep("c")]),
            svc("c", Some("99"), vec![dep("a")]),
        ]);
        assert_eq!(
            find_cycle(&c),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert!(matches!(
            theoretical_availability(&c, "a"),
            Err(GraphError::Cycle(_))
        ));
    }

    #[test]
    fn a_service_without_a_figure_is_reported() {
        let c = catalog(vec![
            svc("a", Some("99"), vec![Dependency::Service("b".into())]),
            svc("b", None, vec![]),
        ]);
        assert_eq!(
            theoretical_availability(&c, "a"),
            Err(GraphError::NoAvailability("b".into()))
        );
        assert_eq!(
            theoretical_availability(&c, "zzz"),
            Err(GraphError::UnknownService("zzz".into()))
        );
    }
}
