//! Cross-checks every object read from every file and builds the
//! [`Catalog`]: unique names, references that resolve, owners that exist,
//! and a dependency graph without cycles.

use std::collections::{BTreeMap, BTreeSet};

use nines_core::graph;
use nines_core::model::{AlertCondition, AlertPolicy, Catalog, NotificationTarget, Service, Sli};

use crate::decode::{Drafts, Inline, Loc, PolicyDraft, Ref, SliDraft};
use crate::diag::{Diagnostic, closest};

#[path = "link_oncall.rs"]
mod oncall;

#[path = "link_escalation.rs"]
mod escalation;

struct Linker {
    diags: Vec<Diagnostic>,
}

impl Linker {
    fn error(&mut self, loc: &Loc, message: impl Into<String>, help: Option<String>) {
        let mut d = Diagnostic::error(loc.pos, message).in_file(&loc.file);
        d.help = help;
        self.diags.push(d);
    }

    /// Keeps the first object of each name and reports the others.
    fn unique<T>(
        &mut self,
        kind: &str,
        items: Vec<(T, Loc)>,
        name: impl Fn(&T) -> &str,
    ) -> BTreeMap<String, (T, Loc)> {
        let mut out: BTreeMap<String, (T, Loc)> = BTreeMap::new();
        for (item, loc) in items {
            let n = name(&item).to_owned();
            if let Some((_, first)) = out.get(&n) {
                let msg = format!(
                    "duplicate {kind} name `{n}` (first defined at {}:{})",
                    first.file.display(),
                    first.pos.line
                );
                self.error(
                    &loc,
                    msg,
                    Some(format!("names are unique per kind: rename one {kind}")),
                );
                continue;
            }
            out.insert(n, (item, loc));
        }
        out
    }

    fn unknown(&mut self, r: &Ref, kind: &str, known: &BTreeSet<&str>, how: &str) {
        let help = match closest(&r.name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None if known.is_empty() => format!("no {kind} is defined; {how}"),
            None => how.to_owned(),
        };
        self.error(&r.loc, format!("unknown {kind} `{}`", r.name), Some(help));
    }

    fn sli(&mut self, d: &SliDraft, sources: &BTreeSet<&str>) -> Sli {
        for r in &d.source_refs {
            if !sources.contains(r.name.as_str()) {
                self.unknown(
                    r,
                    "DataSource",
                    sources,
                    "define it with `kind: DataSource`",
                );
            }
        }
        d.sli.clone()
    }

    fn indicator(
        &mut self,
        i: &Inline<SliDraft>,
        slis: &BTreeMap<String, (SliDraft, Loc)>,
        sources: &BTreeSet<&str>,
    ) -> Option<Sli> {
        match i {
            Inline::Inline(d) => Some(self.sli(d, sources)),
            Inline::Ref(r) => match slis.get(&r.name) {
                Some((d, _)) => Some(d.sli.clone()),
                None => {
                    let known = slis.keys().map(String::as_str).collect();
                    self.unknown(
                        r,
                        "SLI",
                        &known,
                        "define it with `kind: SLI`, or write the indicator inline",
                    );
                    None
                }
            },
        }
    }

    fn policy(
        &mut self,
        d: &PolicyDraft,
        conditions: &BTreeMap<String, (AlertCondition, Loc)>,
        targets: &BTreeMap<String, (NotificationTarget, Loc)>,
    ) -> AlertPolicy {
        let mut p = d.policy.clone();
        for c in &d.conditions {
            match c {
                Inline::Inline(c) => p.conditions.push(c.clone()),
                Inline::Ref(r) => match conditions.get(&r.name) {
                    Some((c, _)) => p.conditions.push(c.clone()),
                    None => {
                        let known = conditions.keys().map(String::as_str).collect();
                        self.unknown(
                            r,
                            "AlertCondition",
                            &known,
                            "define it with `kind: AlertCondition`",
                        );
                    }
                },
            }
        }
        for t in &d.targets {
            match t {
                Inline::Inline(t) => p.notification_targets.push(t.clone()),
                Inline::Ref(r) => match targets.get(&r.name) {
                    Some((t, _)) => p.notification_targets.push(t.clone()),
                    None => {
                        let known = targets.keys().map(String::as_str).collect();
                        self.unknown(
                            r,
                            "AlertNotificationTarget",
                            &known,
                            "define it with `kind: AlertNotificationTarget`",
                        );
                    }
                },
            }
        }
        p
    }
}

pub fn link(drafts: Drafts) -> (Catalog, Vec<Diagnostic>) {
    let mut l = Linker { diags: Vec::new() };
    let sources = l.unique("DataSource", drafts.data_sources, |d| &d.meta.name);
    let slis = l.unique("SLI", drafts.slis, |d| &d.sli.meta.name);
    let conditions = l.unique("AlertCondition", drafts.conditions, |d| &d.meta.name);
    let targets = l.unique("AlertNotificationTarget", drafts.targets, |d| &d.meta.name);
    let policies = l.unique("AlertPolicy", drafts.policies, |d| &d.policy.meta.name);
    let slos = l.unique("SLO", drafts.slos, |d| &d.slo.meta.name);
    let mut teams = l.unique("Team", drafts.teams, |d| &d.meta.name);
    let people = l.unique("Person", drafts.people, |p| &p.meta.name);
    let schedules = l.unique("Schedule", drafts.schedules, |s| &s.meta.name);
    let escalation_policies = l.unique("EscalationPolicy", drafts.escalation_policies, |p| {
        &p.meta.name
    });
    let openslo_services = l.unique("Service", drafts.openslo_services, |m| &m.name);
    let nines_services = l.unique("nines Service", drafts.nines_services, |d| {
        &d.service.meta.name
    });

    let source_names: BTreeSet<&str> = sources.keys().map(String::as_str).collect();
    let mut catalog = Catalog::default();

    for (name, (d, _)) in &slis {
        let sli = l.sli(d, &source_names);
        catalog.slis.insert(name.clone(), sli);
    }
    for (name, (p, _)) in &policies {
        let policy = l.policy(p, &conditions, &targets);
        catalog.alert_policies.insert(name.clone(), policy);
    }
    for (name, (d, _)) in &slos {
        let mut slo = d.slo.clone();
        slo.indicator = d
            .indicator
            .as_ref()
            .and_then(|i| l.indicator(i, &slis, &source_names));
        for (o, ind) in slo.objectives.iter_mut().zip(&d.objective_indicators) {
            o.indicator = ind
                .as_ref()
                .and_then(|i| l.indicator(i, &slis, &source_names));
        }
        for p in &d.policies {
            match p {
                Inline::Inline(p) => {
                    let policy = l.policy(p, &conditions, &targets);
                    slo.alert_policies.push(policy);
                }
                Inline::Ref(r) => match catalog.alert_policies.get(&r.name) {
                    Some(p) => slo.alert_policies.push(p.clone()),
                    None => {
                        let known = policies.keys().map(String::as_str).collect();
                        l.unknown(
                            r,
                            "AlertPolicy",
                            &known,
                            "define it with `kind: AlertPolicy`, or write it inline",
                        );
                    }
                },
            }
        }
        catalog.slos.insert(name.clone(), slo);
    }

    // A service exists when any of these names it: an OpenSLO Service, a
    // nines Service, or an SLO's `service:` (OpenSLO lets SLOs name
    // services that are not declared).
    for (name, (meta, _)) in &openslo_services {
        let mut s = Service::named(name);
        s.meta = meta.clone();
        catalog.services.insert(name.clone(), s);
    }
    for slo in catalog.slos.values() {
        catalog
            .services
            .entry(slo.service.clone())
            .or_insert_with(|| Service::named(&slo.service));
    }
    for (name, (d, _)) in &nines_services {
        let mut s = d.service.clone();
        if let Some(existing) = catalog.services.get(name) {
            // The OpenSLO Service holds the description people wrote; keep it
            // unless the nines side says more.
            s.meta.display_name = s.meta.display_name.or(existing.meta.display_name.clone());
            s.meta.description = s.meta.description.or(existing.meta.description.clone());
            for (k, v) in &existing.meta.labels {
                s.meta.labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        catalog.services.insert(name.clone(), s);
    }

    let team_names: BTreeSet<&str> = teams.keys().map(String::as_str).collect();
    let service_names: BTreeSet<String> = catalog.services.keys().cloned().collect();
    let service_refs: BTreeSet<&str> = service_names.iter().map(String::as_str).collect();
    // A routing key names exactly one integration, of one service.
    let mut keys: std::collections::BTreeMap<&str, (&str, &str)> = Default::default();
    for (name, (d, loc)) in &nines_services {
        for i in &d.service.integrations {
            match keys.get(i.routing_key.as_str()) {
                Some((other, other_integration)) => l.error(
                    loc,
                    format!(
                        "integration `{}` of service `{name}` uses the routing key of integration `{other_integration}` of service `{other}`",
                        i.name
                    ),
                    Some("a routing key names one integration: give each its own key".into()),
                ),
                None => {
                    keys.insert(&i.routing_key, (name, &i.name));
                }
            }
        }
    }
    for (name, (d, _)) in &nines_services {
        if let Some(owner) = &d.owner
            && !team_names.contains(owner.name.as_str())
        {
            l.unknown(
                owner,
                "team",
                &team_names,
                "define it with `apiVersion: nines/v1` and `kind: Team`",
            );
        }
        for r in &d.dependencies {
            if r.name == *name {
                l.error(&r.loc, format!("service `{name}` depends on itself"), None);
            } else if !service_refs.contains(r.name.as_str()) {
                l.unknown(
                    r,
                    "service",
                    &service_refs,
                    "declare it with `kind: Service`",
                );
            }
        }
    }
    l.people(people, &mut teams, &mut catalog);
    for (name, (t, _)) in teams {
        catalog.teams.insert(name, t);
    }
    let schedule_names: BTreeSet<String> = schedules.keys().cloned().collect();
    l.schedules(schedules, &mut catalog);
    l.escalation_policies(
        escalation_policies,
        &schedule_names,
        &drafts.escalation_refs,
        &mut catalog,
    );
    for (name, (d, _)) in sources {
        catalog.data_sources.insert(name, d);
    }
    for (name, (c, _)) in conditions {
        catalog.alert_conditions.insert(name, c);
    }
    for (name, (t, _)) in targets {
        catalog.notification_targets.insert(name, t);
    }

    if l.diags.is_empty()
        && let Some(cycle) = graph::find_cycle(&catalog)
    {
        let start = &cycle[0];
        let loc = nines_services
            .get(start)
            .map(|(_, loc)| loc.clone())
            .or_else(|| nines_services.values().next().map(|(_, loc)| loc.clone()));
        if let Some(loc) = loc {
            l.error(
                &loc,
                format!("dependency cycle: {}", cycle.join(" -> ")),
                Some("a service cannot depend on itself, even through others; remove one of these dependencies".into()),
            );
        }
    }
    (catalog, l.diags)
}
