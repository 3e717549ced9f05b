//! Linking of the on-call kinds: who the people are (declared `Person`s and
//! inline team members), and schedules whose members, team and zone resolve.
//! A child module of `link`, so it shares the linker.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use nines_core::model::{Catalog, Meta, Person, Team};
use nines_core::oncall::{Coverage, FixedShift, Layer, Override, OverrideId, Rotation, Schedule};

use super::Linker;
use crate::decode::{CoverageDraft, Loc, Ref, ScheduleDraft};
use crate::diag::Diagnostic;

impl Linker {
    /// Builds `catalog.people` from `Person` objects and team members, and
    /// fills in the members that stand for a declared person.
    pub(super) fn people(
        &mut self,
        persons: BTreeMap<String, (Person, Loc)>,
        teams: &mut BTreeMap<String, (Team, Loc)>,
        catalog: &mut Catalog,
    ) {
        let declared: BTreeSet<String> = persons.keys().cloned().collect();
        for (name, (p, _)) in &persons {
            catalog.people.insert(name.clone(), p.clone());
        }
        // Where each inline person was first described, for the warning.
        let mut first_team: BTreeMap<String, String> = BTreeMap::new();
        for (team_name, (team, loc)) in teams.iter_mut() {
            for m in &mut team.members {
                let described = !m.contacts.is_empty() || m.time_zone.is_some();
                if declared.contains(&m.name) {
                    let (_, ploc) = &persons[&m.name];
                    if described {
                        self.error(
                            loc,
                            format!(
                                "team `{team_name}` describes member `{}`, who is declared as a Person at {}:{}",
                                m.name,
                                ploc.file.display(),
                                ploc.pos.line
                            ),
                            Some("list a declared person by name only (`- name: ...`); their contacts and zone come from the Person".into()),
                        );
                        continue;
                    }
                    let p = catalog.people.get_mut(&m.name).expect("declared above");
                    m.contacts = p.contacts.clone();
                    m.time_zone = p.time_zone.clone();
                    p.teams.push(team_name.clone());
                    continue;
                }
                match catalog.people.get_mut(&m.name) {
                    Some(p) => {
                        let zone = m.time_zone.clone().or(team.time_zone.clone());
                        if described && (p.contacts != m.contacts || p.time_zone != zone) {
                            let first = first_team.get(&m.name).cloned().unwrap_or_default();
                            if p.contacts.is_empty() && p.time_zone.is_none() {
                                p.contacts = m.contacts.clone();
                                p.time_zone = zone;
                            } else {
                                self.diags.push(
                                    Diagnostic::warning(
                                        loc.pos,
                                        format!(
                                            "member `{}` of team `{team_name}` is described differently in team `{first}`; the description in `{first}` is used",
                                            m.name
                                        ),
                                    )
                                    .with_help("declare the person once with `kind: Person` and list them by name in each team")
                                    .in_file(&loc.file),
                                );
                            }
                        }
                        p.teams.push(team_name.clone());
                    }
                    None => {
                        first_team.insert(m.name.clone(), team_name.clone());
                        catalog.people.insert(
                            m.name.clone(),
                            Person {
                                meta: Meta {
                                    name: m.name.clone(),
                                    ..Meta::default()
                                },
                                time_zone: m.time_zone.clone().or(team.time_zone.clone()),
                                contacts: m.contacts.clone(),
                                teams: vec![team_name.clone()],
                                page_limit: None,
                            },
                        );
                    }
                }
            }
        }
    }

    pub(super) fn person(&mut self, r: &Ref, people: &BTreeSet<&str>) -> bool {
        if people.contains(r.name.as_str()) {
            return true;
        }
        self.unknown(
            r,
            "person",
            people,
            "declare them with `kind: Person`, or list them as a member of a team",
        );
        false
    }

    /// Resolves each schedule's zone, team, members and overrides.
    pub(super) fn schedules(
        &mut self,
        drafts: BTreeMap<String, (ScheduleDraft, Loc)>,
        catalog: &mut Catalog,
    ) {
        let people: BTreeSet<&str> = catalog.people.keys().map(String::as_str).collect();
        let teams: BTreeSet<&str> = catalog.teams.keys().map(String::as_str).collect();
        let mut built = Vec::new();
        for (name, (d, loc)) in drafts {
            if let Some(t) = &d.team
                && !teams.contains(t.name.as_str())
            {
                self.unknown(
                    t,
                    "team",
                    &teams,
                    "define it with `apiVersion: nines/v1` and `kind: Team`",
                );
            }
            let team_zone = d
                .team
                .as_ref()
                .and_then(|t| catalog.teams.get(&t.name))
                .and_then(|t| t.time_zone.clone());
            let Some(zone_name) = d.zone.clone().or(team_zone) else {
                self.error(
                    &loc,
                    format!("schedule `{name}` has no time zone"),
                    Some("add `timeZone: Europe/Paris` (any IANA zone) to its spec, or give its team one: turns and restrictions follow that zone's wall clock".into()),
                );
                continue;
            };
            let Ok(zone) = TimeZone::get(&zone_name) else {
                // Checked when decoded; a team's zone is checked too.
                continue;
            };
            let mut ok = true;
            let mut layers = Vec::new();
            for l in &d.layers {
                let coverage = match &l.coverage {
                    CoverageDraft::Rotation {
                        start,
                        end,
                        turn,
                        members,
                    } => {
                        for m in members {
                            ok &= self.person(m, &people);
                        }
                        let names = members.iter().map(|m| m.name.clone()).collect();
                        match Rotation::new(*start, *turn, names, *end) {
                            Ok(r) => Coverage::Rotation(r),
                            Err(e) => {
                                self.error(&loc, format!("layer `{}`: {e}", l.name), None);
                                ok = false;
                                continue;
                            }
                        }
                    }
                    CoverageDraft::Calendar(events) => {
                        let mut shifts = Vec::new();
                        for (who, start, end) in events {
                            ok &= self.person(who, &people);
                            let (Some(s), Some(e)) = (start.resolve(&zone), end.resolve(&zone))
                            else {
                                self.error(&who.loc, "this event's times are out of range", None);
                                ok = false;
                                continue;
                            };
                            match FixedShift::new(who.name.clone(), s, e) {
                                Ok(f) => shifts.push(f),
                                Err(e) => {
                                    self.error(&who.loc, format!("this event: {e}"), None);
                                    ok = false;
                                }
                            }
                        }
                        shifts.sort_by_key(|s| s.start);
                        Coverage::Shifts(shifts)
                    }
                };
                layers.push(Layer {
                    name: l.name.clone(),
                    coverage,
                    restrictions: l.restrictions.clone(),
                });
            }
            let mut overrides = Vec::new();
            for (i, o) in d.overrides.iter().enumerate() {
                ok &= self.person(&o.person, &people);
                let (Some(s), Some(e)) = (o.start.resolve(&zone), o.end.resolve(&zone)) else {
                    self.error(&o.loc, "this override's times are out of range", None);
                    ok = false;
                    continue;
                };
                match Override::new(OverrideId::Config(i), o.person.name.clone(), s, e) {
                    Ok(o) => overrides.push(o),
                    Err(e) => {
                        self.error(
                            &o.loc,
                            format!("this override of `{}`: {e}", o.person.name),
                            Some("an override covers the span from `start` to `end`; swap them or fix the dates".into()),
                        );
                        ok = false;
                    }
                }
            }
            if ok {
                built.push(Schedule {
                    meta: d.meta,
                    zone,
                    zone_name,
                    team: d.team.map(|t| t.name),
                    layers,
                    overrides,
                });
            }
        }
        for s in built {
            catalog.schedules.insert(s.meta.name.clone(), s);
        }
    }
}
