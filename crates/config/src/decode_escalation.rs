//! Decoding of escalation: the `EscalationPolicy` kind (nines/v1), and a
//! Service's `supportHours`. A child module of `decode`, so it shares the
//! decoder's helpers.

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use nines_core::model::Meta;
use nines_core::oncall::{
    EscalationDelay, EscalationPolicy, SupportHours, TargetMode, WEEK_MINUTES, Window,
};

use super::{Decoder, Ref};
use crate::yaml::Node;

/// A policy as written, before its people and schedules are resolved.
#[derive(Clone, Debug)]
pub struct EscalationPolicyDraft {
    pub meta: Meta,
    pub rules: Vec<RuleDraft>,
    pub loops: u32,
    /// `fallback: [{person: dave}]`.
    pub fallback: Vec<Ref>,
}

#[derive(Clone, Debug)]
pub struct RuleDraft {
    pub delay: EscalationDelay,
    pub targets: Vec<TargetDraft>,
    pub mode: TargetMode,
}

#[derive(Clone, Debug)]
pub enum TargetDraft {
    Person(Ref),
    Schedule(Ref),
}

impl Decoder<'_> {
    pub(super) fn escalation_policy(
        &mut self,
        spec: &Node,
        mut meta: Meta,
    ) -> Option<EscalationPolicyDraft> {
        let what = "EscalationPolicy spec";
        let f = self.fields(spec, what, &["description", "rules", "loops", "fallback"])?;
        meta.description = self.description(&f, what);
        let loops = match f.get("loops") {
            None => Some(0),
            Some(n) => self.loops(n),
        };
        let mut rules = Vec::new();
        let mut ok = true;
        let no_rules = |name: &str| {
            format!("escalation policy `{name}` has no rules, so it would notify nobody")
        };
        match f.get("rules") {
            None => {
                self.error_help(
                    spec.pos,
                    no_rules(&meta.name),
                    "add `rules:`, the first notified at once: [{delay: 15m, targets: [{schedule: payments-primary}]}]",
                );
                ok = false;
            }
            Some(list) => {
                let items = self.list(list, "EscalationPolicy spec.rules");
                if items.is_empty() {
                    self.error_help(
                        list.pos,
                        no_rules(&meta.name),
                        "add at least one rule with targets: {delay: 15m, targets: [{person: alice}]}",
                    );
                    ok = false;
                }
                for (i, item) in items.iter().enumerate() {
                    match self.escalation_rule(item, i + 1) {
                        Some(r) => rules.push(r),
                        None => ok = false,
                    }
                }
            }
        }
        let mut fallback = Vec::new();
        if let Some(list) = f.get("fallback") {
            for t in self.list(list, "EscalationPolicy spec.fallback") {
                let tw = "a fallback target";
                if let Some(tf) = self.fields(t, tw, &["person"]) {
                    match self.reference(&tf, "person", tw) {
                        Some(r) if !fallback.iter().any(|o: &Ref| o.name == r.name) => {
                            fallback.push(r)
                        }
                        Some(_) => {}
                        None => ok = false,
                    }
                } else {
                    ok = false;
                }
            }
        }
        let loops = loops?;
        ok.then_some(EscalationPolicyDraft {
            meta,
            rules,
            loops,
            fallback,
        })
    }

    fn loops(&mut self, n: &Node) -> Option<u32> {
        let x = self.number(n, "EscalationPolicy spec.loops")?;
        let max = EscalationPolicy::MAX_LOOPS;
        if x.fract() != 0.0 || x < 0.0 || x > f64::from(max) {
            self.error_help(
                n.pos,
                format!("EscalationPolicy spec.loops must be a whole number from 0 to {max}, found {x}"),
                "loops is how many times the whole chain repeats after the first pass (PagerDuty's num_loops); 0 runs it once",
            );
            return None;
        }
        Some(x as u32)
    }

    /// Rule `number` (from 1) of a policy.
    fn escalation_rule(&mut self, item: &Node, number: usize) -> Option<RuleDraft> {
        let w = "an escalation rule";
        let f = self.fields(item, w, &["delay", "targets", "roundRobin"])?;
        let delay = match f.get("delay") {
            None => {
                self.error_help(
                    item.pos,
                    format!("escalation rule {number} needs `delay`: how long its targets have to acknowledge before the next rule is notified"),
                    "write a length such as 15m or 1h (PagerDuty's escalation_delay_in_minutes)",
                );
                None
            }
            Some(n) => self.escalation_delay(n, number),
        };
        let round_robin = f
            .get("roundRobin")
            .and_then(|n| self.bool(n, &format!("escalation rule {number}'s roundRobin")));
        let mode = match round_robin {
            Some(true) => TargetMode::RoundRobin,
            _ => TargetMode::All,
        };
        let mut targets = Vec::new();
        let mut ok = true;
        let list = f.get("targets");
        let items = list.map_or(&[][..], |l| self.list(l, "an escalation rule's targets"));
        for t in items {
            let tw = "an escalation target";
            let Some(tf) = self.fields(t, tw, &["person", "schedule"]) else {
                ok = false;
                continue;
            };
            let target = match (tf.has("person"), tf.has("schedule")) {
                (true, false) => self.reference(&tf, "person", tw).map(TargetDraft::Person),
                (false, true) => self
                    .reference(&tf, "schedule", tw)
                    .map(TargetDraft::Schedule),
                (both, _) => {
                    self.error_help(
                        t.pos,
                        if both {
                            "an escalation target is a person or a schedule, not both"
                        } else {
                            "an escalation target needs `person` or `schedule`"
                        },
                        "write {person: alice} or {schedule: payments-primary}, one per target",
                    );
                    None
                }
            };
            let Some(target) = target else {
                ok = false;
                continue;
            };
            let (kind, name) = match &target {
                TargetDraft::Person(r) => ("person", &r.name),
                TargetDraft::Schedule(r) => ("schedule", &r.name),
            };
            let twice = targets.iter().any(|o: &TargetDraft| match (o, &target) {
                (TargetDraft::Person(a), TargetDraft::Person(b))
                | (TargetDraft::Schedule(a), TargetDraft::Schedule(b)) => a.name == b.name,
                _ => false,
            });
            if twice {
                self.error(
                    t.pos,
                    format!("{kind} `{name}` is listed twice in escalation rule {number}"),
                );
                ok = false;
                continue;
            }
            targets.push(target);
        }
        if items.is_empty() && ok {
            self.error_help(
                list.map_or(item.pos, |n| n.pos),
                format!("escalation rule {number} has no targets, so it would notify nobody"),
                "name people or schedules: targets: [{person: alice}, {schedule: payments-primary}]",
            );
            return None;
        }
        if !ok {
            return None;
        }
        Some(RuleDraft {
            delay: delay?,
            targets,
            mode,
        })
    }

    fn escalation_delay(&mut self, n: &Node, number: usize) -> Option<EscalationDelay> {
        let what = format!("escalation rule {number}'s delay");
        let text = self.string(n, &what)?;
        if text.trim().starts_with('-') {
            self.error_help(
                n.pos,
                format!("{what} must be positive, found `{text}`"),
                "it is how long the rule's targets have to acknowledge before the next rule: write 15m or 1h",
            );
            return None;
        }
        let d = self.fixed_duration(n, &what)?;
        let secs = d.seconds().map_or(i64::MAX, |s| s as i64);
        match EscalationDelay::new(SignedDuration::from_secs(secs)) {
            Ok(delay) => Some(delay),
            Err(e) => {
                self.error_help(
                    n.pos,
                    format!("{what} `{text}`: {e}"),
                    "PagerDuty's delays start at 1 minute; a longer wait is a schedule's job",
                );
                None
            }
        }
    }

    /// A Service's `supportHours`: `{timeZone, days, from, to}`, the same
    /// hours on each of `days` (every day when absent); hours that end
    /// before they start run overnight into the next day.
    pub(super) fn support_hours(&mut self, n: &Node) -> Option<SupportHours> {
        let what = "Service spec.supportHours";
        let f = self.fields(n, what, &["timeZone", "days", "from", "to"])?;
        let zone_node = self.required(&f, "timeZone", what);
        let zone_name = zone_node.and_then(|z| self.time_zone(z, what));
        let days = match f.get("days") {
            Some(d) => Some(self.days(d)?),
            None => None,
        };
        let (from_n, to_n) = (
            self.required(&f, "from", what),
            self.required(&f, "to", what),
        );
        let from = from_n.and_then(|x| self.minute_of_day(x, "supportHours.from", false));
        let to = to_n.and_then(|x| self.minute_of_day(x, "supportHours.to", true));
        let (zone_name, from, to, to_n) = (zone_name?, from?, to?, to_n?);
        let zone = TimeZone::get(&zone_name).ok()?;
        if from == to {
            let text = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
            self.error_help(
                to_n.pos,
                format!(
                    "support hours from {} to {} are empty",
                    text(from),
                    text(to)
                ),
                "for the whole day write from: \"00:00\", to: \"24:00\"; for business hours, from: \"09:00\", to: \"18:00\"",
            );
            return None;
        }
        let days = days.unwrap_or_else(|| (0..7).collect());
        let mut windows = Vec::new();
        for d in days {
            let day = d as u32 * 1440;
            if from < to {
                windows.extend(Window::new(day + from, day + to).ok());
            } else {
                // Overnight: to midnight, then from midnight on the next
                // day (Sunday's night ends on Monday morning).
                windows.extend(Window::new(day + from, day + 1440).ok());
                let next = (day + 1440) % WEEK_MINUTES;
                if to > 0 {
                    windows.extend(Window::new(next, next + to).ok());
                }
            }
        }
        match SupportHours::new(zone, zone_name, windows) {
            Ok(h) => Some(h),
            Err(e) => {
                self.error(n.pos, e.to_string());
                None
            }
        }
    }
}
