//! Linking of escalation policies: their people and schedules exist, and
//! every `escalationPolicy:` of a team or a service names one. A child
//! module of `link`, so it shares the linker.

use std::collections::{BTreeMap, BTreeSet};

use nines_core::model::Catalog;
use nines_core::oncall::{EscalationPolicy, EscalationRule, EscalationTarget};

use super::Linker;
use crate::decode::{EscalationPolicyDraft, Loc, Ref, TargetDraft};

impl Linker {
    /// Builds `catalog.escalation_policies`; `schedules` are the names of
    /// every schedule written (one that failed to link has its own error).
    pub(super) fn escalation_policies(
        &mut self,
        drafts: BTreeMap<String, (EscalationPolicyDraft, Loc)>,
        schedules: &BTreeSet<String>,
        refs: &[Ref],
        catalog: &mut Catalog,
    ) {
        let people: BTreeSet<&str> = catalog.people.keys().map(String::as_str).collect();
        let schedule_names: BTreeSet<&str> = schedules.iter().map(String::as_str).collect();
        // A policy whose targets are wrong has its own errors: references to
        // it are not reported again.
        let written: BTreeSet<String> = drafts.keys().cloned().collect();
        let mut built = Vec::new();
        for (name, (d, loc)) in drafts {
            let mut ok = true;
            let mut rules = Vec::new();
            for r in d.rules {
                let mut targets = Vec::new();
                for t in r.targets {
                    match t {
                        TargetDraft::Person(p) => {
                            ok &= self.person(&p, &people);
                            targets.push(EscalationTarget::Person(p.name));
                        }
                        TargetDraft::Schedule(s) => {
                            if !schedule_names.contains(s.name.as_str()) {
                                self.unknown(
                                    &s,
                                    "schedule",
                                    &schedule_names,
                                    "define it with `apiVersion: nines/v1` and `kind: Schedule`",
                                );
                                ok = false;
                            }
                            targets.push(EscalationTarget::Schedule(s.name));
                        }
                    }
                }
                match EscalationRule::new(r.delay, targets, r.mode) {
                    Ok(rule) => rules.push(rule),
                    Err(e) => {
                        // Decoding refuses a rule without targets.
                        self.error(&loc, format!("escalation policy `{name}`: {e}"), None);
                        ok = false;
                    }
                }
            }
            let mut fallback = Vec::new();
            for p in d.fallback {
                ok &= self.person(&p, &people);
                fallback.push(p.name);
            }
            match EscalationPolicy::new(d.meta, rules, d.loops) {
                Ok(p) if ok => built.push(p.with_fallback(fallback)),
                Ok(_) => {}
                Err(e) => self.error(&loc, format!("escalation policy `{name}`: {e}"), None),
            }
        }
        for p in built {
            catalog.escalation_policies.insert(p.name().to_owned(), p);
        }
        let known: BTreeSet<&str> = written.iter().map(String::as_str).collect();
        for r in refs {
            if !known.contains(r.name.as_str()) {
                self.unknown(
                    r,
                    "escalation policy",
                    &known,
                    "define it with `apiVersion: nines/v1` and `kind: EscalationPolicy`",
                );
            }
        }
    }
}
