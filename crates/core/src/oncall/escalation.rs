//! Escalation policies: whom to notify about an unacknowledged incident,
//! step after step, until someone acknowledges (PagerDuty's escalation
//! policies).
//!
//! A policy is an ordered list of rules. Each rule names targets (people,
//! or schedules resolved to whoever is on call) and a delay: how long the
//! rule's targets have to acknowledge before the next rule is notified. The
//! whole chain repeats `loops` more times, then escalation is over. A rule
//! notifies all its targets, or, round robin, one of them in turn.
//!
//! [`EscalationPolicy::plan`] answers, for one incident at one instant,
//! which step is current, who it reaches and why, and when to look again.
//! It keeps no state: the caller passes where the incident stands.

use std::collections::BTreeMap;
use std::fmt;

use jiff::{SignedDuration, Timestamp};

use super::{OnCall, Override, OverrideId, Reason, Schedule, SupportHours};
use crate::model::{Catalog, Meta};

/// Why an escalation value could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    #[error(
        "an escalation delay lasts from 1 minute to 7 days; {seconds} second(s) is out of range"
    )]
    Delay { seconds: i64 },
    #[error("an escalation rule needs at least one target")]
    NoTargets,
    #[error("an escalation policy needs at least one rule")]
    NoRules,
    #[error("an escalation policy repeats at most {max} times; {loops} is too many", max = EscalationPolicy::MAX_LOOPS)]
    Loops { loops: u32 },
    #[error("support hours need at least one window of the week")]
    NoSupportHours,
}

/// How long a rule's targets have to acknowledge before the next rule is
/// notified: from one minute (PagerDuty's least) to a week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EscalationDelay(SignedDuration);

impl EscalationDelay {
    pub const MIN: SignedDuration = SignedDuration::from_secs(60);
    pub const MAX: SignedDuration = SignedDuration::from_secs(7 * 86_400);

    pub fn new(d: SignedDuration) -> Result<EscalationDelay, EscalationError> {
        if d < Self::MIN || d > Self::MAX {
            return Err(EscalationError::Delay {
                seconds: d.as_secs(),
            });
        }
        Ok(EscalationDelay(d))
    }

    pub fn from_mins(minutes: i64) -> Result<EscalationDelay, EscalationError> {
        match minutes.checked_mul(60) {
            Some(s) => EscalationDelay::new(SignedDuration::from_secs(s)),
            None => Err(EscalationError::Delay { seconds: i64::MAX }),
        }
    }

    pub fn get(self) -> SignedDuration {
        self.0
    }
}

/// Whom a rule names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EscalationTarget {
    /// A person, by name.
    Person(String),
    /// Whoever is on call in this schedule when the rule is reached.
    Schedule(String),
}

impl fmt::Display for EscalationTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EscalationTarget::Person(p) => write!(f, "person {p}"),
            EscalationTarget::Schedule(s) => write!(f, "schedule {s}"),
        }
    }
}

/// How a rule's targets are notified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum TargetMode {
    /// Every target at once.
    #[default]
    All,
    /// One target each time the rule is reached, in order.
    RoundRobin,
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscalationRule {
    delay: EscalationDelay,
    targets: Vec<EscalationTarget>,
    mode: TargetMode,
}

impl EscalationRule {
    pub fn new(
        delay: EscalationDelay,
        targets: Vec<EscalationTarget>,
        mode: TargetMode,
    ) -> Result<EscalationRule, EscalationError> {
        if targets.is_empty() {
            return Err(EscalationError::NoTargets);
        }
        Ok(EscalationRule {
            delay,
            targets,
            mode,
        })
    }

    /// How long after this rule is reached the next one is.
    pub fn delay(&self) -> EscalationDelay {
        self.delay
    }

    /// Never empty.
    pub fn targets(&self) -> &[EscalationTarget] {
        &self.targets
    }

    pub fn mode(&self) -> TargetMode {
        self.mode
    }
}

/// An escalation policy: rules in order, the whole chain run `loops + 1`
/// times.
#[derive(Clone, Debug, PartialEq)]
pub struct EscalationPolicy {
    pub meta: Meta,
    rules: Vec<EscalationRule>,
    loops: u32,
    /// People paged when a page to someone this policy reaches keeps
    /// failing and that person has no fallback contact of their own.
    fallback: Vec<String>,
}

impl EscalationPolicy {
    /// PagerDuty's `num_loops` goes up to 9.
    pub const MAX_LOOPS: u32 = 9;

    pub fn new(
        meta: Meta,
        rules: Vec<EscalationRule>,
        loops: u32,
    ) -> Result<EscalationPolicy, EscalationError> {
        if rules.is_empty() {
            return Err(EscalationError::NoRules);
        }
        if loops > Self::MAX_LOOPS {
            return Err(EscalationError::Loops { loops });
        }
        Ok(EscalationPolicy {
            meta,
            rules,
            loops,
            fallback: Vec::new(),
        })
    }

    /// This policy with `people` as its fallback (`fallback:`).
    pub fn with_fallback(mut self, people: Vec<String>) -> EscalationPolicy {
        self.fallback = people;
        self
    }

    /// Who is paged when a page keeps failing and its person has no
    /// fallback contact (the delivery worker decides when).
    pub fn fallback(&self) -> &[String] {
        &self.fallback
    }

    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// Never empty.
    pub fn rules(&self) -> &[EscalationRule] {
        &self.rules
    }

    /// How many times the chain repeats after the first pass.
    pub fn loops(&self) -> u32 {
        self.loops
    }

    /// Steps in the whole chain: every rule, once per pass.
    pub fn step_count(&self) -> usize {
        self.rules.len() * (self.loops as usize + 1)
    }

    /// When each step of the chain starts and ends for an incident
    /// triggered at `since`. With `hours`, a step that would start outside
    /// them starts at the next instant inside them instead (a low-urgency
    /// incident never notifies anyone outside support hours), and the
    /// steps after it move with it.
    pub fn timeline(&self, since: Timestamp, hours: Option<&SupportHours>) -> Vec<StepSpan> {
        let mut out = Vec::with_capacity(self.step_count());
        let mut at = since;
        for index in 0..self.step_count() {
            let rule = index % self.rules.len();
            let starts_at = hours.map_or(at, |h| h.next_in_support_hours(at));
            let ends_at = starts_at
                .checked_add(self.rules[rule].delay.get())
                .unwrap_or(Timestamp::MAX);
            out.push(StepSpan {
                index,
                rule,
                pass: (index / self.rules.len()) as u32,
                ready_at: at,
                starts_at,
                ends_at,
            });
            at = ends_at;
        }
        out
    }

    /// Where escalation stands for `incident` at `now`, and whom the
    /// current step reaches.
    ///
    /// The planner keeps no state. A dispatcher calls it when an incident
    /// is triggered and again at [`Plan::wake_at`], notifies the
    /// recipients of a [`Plan::Notify`] whose `index` it has not notified
    /// yet for this trigger, and stops at [`Plan::Exhausted`] or
    /// [`Plan::Stopped`] without a resume time.
    pub fn plan(&self, roster: &Roster<'_>, incident: &IncidentView<'_>, now: Timestamp) -> Plan {
        let since = match incident.progress {
            Progress::Resolved => return Plan::Stopped { resumes_at: None },
            Progress::Acknowledged { at, timeout } => {
                let resumes_at = timeout.and_then(|d| at.checked_add(d).ok());
                match resumes_at {
                    // An acknowledgement that timed out triggers the incident
                    // again: escalation starts over from the first rule.
                    Some(r) if r <= now => r,
                    _ => return Plan::Stopped { resumes_at },
                }
            }
            Progress::Triggered { since } => since,
        };
        let hours = match incident.urgency {
            Urgency::High => None,
            Urgency::Low => incident.support_hours,
        };
        let timeline = self.timeline(since, hours);
        let Some(span) = timeline.iter().rev().find(|s| s.ready_at <= now) else {
            // `now` is before the trigger: nothing is due before it.
            return Plan::Deferred {
                until: since,
                step: 0,
            };
        };
        if now < span.starts_at {
            return Plan::Deferred {
                until: span.starts_at,
                step: span.index,
            };
        }
        if now >= span.ends_at && span.index + 1 == timeline.len() {
            return Plan::Exhausted {
                since: span.ends_at,
                steps: timeline.len(),
            };
        }
        Plan::Notify(self.step(span, roster, incident.round_robin))
    }

    /// Who the step of `span` reaches, resolving schedules at its start.
    fn step(&self, span: &StepSpan, roster: &Roster<'_>, round_robin: u64) -> Step {
        let rule = &self.rules[span.rule];
        let chain = Why::Step {
            policy: self.meta.name.clone(),
            step: span.index + 1,
            steps: self.step_count(),
            rule: span.rule + 1,
            rules: self.rules.len(),
            pass: span.pass + 1,
            passes: self.loops + 1,
        };
        let mut head = vec![chain];
        let chosen: Vec<&EscalationTarget> = match rule.mode {
            TargetMode::All => rule.targets.iter().collect(),
            TargetMode::RoundRobin => {
                let k = rule.targets.len() as u64;
                let i = (round_robin.wrapping_add(u64::from(span.pass)) % k) as usize;
                head.push(Why::RoundRobin {
                    target: i + 1,
                    targets: rule.targets.len(),
                });
                vec![&rule.targets[i]]
            }
        };
        let mut recipients: Vec<Recipient> = Vec::new();
        let mut gaps = Vec::new();
        let mut reach =
            |person: &str, why: Why| match recipients.iter_mut().find(|r| r.person == person) {
                Some(r) => r.why.push(why),
                None => {
                    let mut chain = head.clone();
                    chain.push(why);
                    recipients.push(Recipient {
                        person: person.to_owned(),
                        why: chain,
                    });
                }
            };
        for target in chosen {
            match target {
                EscalationTarget::Person(p) if roster.knows(p) => reach(p, Why::Named),
                EscalationTarget::Person(p) => gaps.push(Gap::UnknownPerson(p.clone())),
                EscalationTarget::Schedule(s) => match roster.on_call(s, span.starts_at) {
                    Err(()) => gaps.push(Gap::UnknownSchedule(s.clone())),
                    Ok(None) => gaps.push(Gap::NobodyOnCall {
                        schedule: s.clone(),
                    }),
                    Ok(Some(OnCall { person, reason })) => reach(
                        &person,
                        Why::OnCall {
                            schedule: s.clone(),
                            reason,
                        },
                    ),
                },
            }
        }
        Step {
            policy: self.meta.name.clone(),
            index: span.index,
            count: self.step_count(),
            rule: span.rule,
            pass: span.pass,
            starts_at: span.starts_at,
            next_at: span.ends_at,
            last: span.index + 1 == self.step_count(),
            recipients,
            gaps,
        }
    }
}

/// When one step of the chain runs for one incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepSpan {
    /// From 0, over the whole chain (passes included).
    pub index: usize,
    /// The rule, from 0.
    pub rule: usize,
    /// The pass through the chain, from 0 (the first time).
    pub pass: u32,
    /// When the previous step ended (the trigger, for the first step).
    pub ready_at: Timestamp,
    /// When it notifies: `ready_at`, or the next instant inside support
    /// hours for a low-urgency incident.
    pub starts_at: Timestamp,
    /// When the next step is due (the end of escalation, for the last).
    pub ends_at: Timestamp,
}

/// The people and schedules escalation resolves its targets against.
#[derive(Clone, Copy, Debug)]
pub struct Roster<'a> {
    catalog: &'a Catalog,
    extra: Option<&'a BTreeMap<String, Vec<Override>>>,
}

impl<'a> Roster<'a> {
    pub fn new(catalog: &'a Catalog) -> Roster<'a> {
        Roster {
            catalog,
            extra: None,
        }
    }

    /// Overrides beyond the configured ones (recorded at run time), by
    /// schedule name, oldest first (as [`Schedule::on_call_at`] takes them).
    pub fn with_overrides(self, extra: &'a BTreeMap<String, Vec<Override>>) -> Roster<'a> {
        Roster {
            extra: Some(extra),
            ..self
        }
    }

    fn knows(&self, person: &str) -> bool {
        self.catalog.people.contains_key(person)
    }

    fn on_call(&self, schedule: &str, t: Timestamp) -> Result<Option<OnCall>, ()> {
        let s: &Schedule = self.catalog.schedules.get(schedule).ok_or(())?;
        let extra = self
            .extra
            .and_then(|m| m.get(schedule))
            .map_or(&[][..], Vec::as_slice);
        Ok(s.on_call_at(t, extra))
    }
}

/// How urgent an incident is: a high-urgency one notifies at once, day or
/// night; a low-urgency one waits for its service's support hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Urgency::High => "high",
            Urgency::Low => "low",
        }
    }

    /// The words incidents use: `high` and `low`.
    pub fn parse(s: &str) -> Option<Urgency> {
        match s {
            "high" => Some(Urgency::High),
            "low" => Some(Urgency::Low),
            _ => None,
        }
    }
}

/// Where an incident stands, as its owner knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Triggered (or triggered again) at `since`, not acknowledged since.
    Triggered {
        since: Timestamp,
    },
    /// Acknowledged at `at`; with a timeout, an incident still open at
    /// `at + timeout` is triggered again then, and escalates from the first
    /// rule.
    Acknowledged {
        at: Timestamp,
        timeout: Option<SignedDuration>,
    },
    Resolved,
}

/// What the planner needs to know about one incident.
#[derive(Clone, Copy, Debug)]
pub struct IncidentView<'a> {
    pub progress: Progress,
    pub urgency: Urgency,
    /// The service's support hours, if it has any: without them a
    /// low-urgency incident notifies as a high-urgency one does.
    pub support_hours: Option<&'a SupportHours>,
    /// Where round-robin rules start: the caller's counter (for instance
    /// how many incidents the policy has escalated before this one, so
    /// that successive incidents go to successive targets). Each further
    /// pass through the chain moves to the next target.
    pub round_robin: u64,
}

/// Where escalation stands for an incident at one instant.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// Resolved or acknowledged: nobody is to be notified. `resumes_at` is
    /// when an acknowledgement times out, if it does.
    Stopped { resumes_at: Option<Timestamp> },
    /// Nothing to notify before `until`: a low-urgency incident waiting
    /// for support hours (or an instant before the trigger). `step` is the
    /// step that will then start.
    Deferred { until: Timestamp, step: usize },
    /// The current step.
    Notify(Step),
    /// Every step ran, `loops` included, and nobody acknowledged: no
    /// further notification (the incident stays open).
    Exhausted { since: Timestamp, steps: usize },
}

impl Plan {
    /// When the answer changes next, if it ever does: when to call
    /// [`EscalationPolicy::plan`] again.
    pub fn wake_at(&self) -> Option<Timestamp> {
        match self {
            Plan::Stopped { resumes_at } => *resumes_at,
            Plan::Deferred { until, .. } => Some(*until),
            Plan::Notify(step) => Some(step.next_at),
            Plan::Exhausted { .. } => None,
        }
    }
}

/// One step of the chain: one rule, on one pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub policy: String,
    /// From 0 over the whole chain; a dispatcher notifies each index once.
    pub index: usize,
    /// How many steps the chain has.
    pub count: usize,
    /// The rule, from 0.
    pub rule: usize,
    /// The pass through the chain, from 0.
    pub pass: u32,
    pub starts_at: Timestamp,
    /// When the next step is due, or (for the last step) when escalation
    /// is exhausted.
    pub next_at: Timestamp,
    pub last: bool,
    /// Each person once, with every reason they are reached.
    pub recipients: Vec<Recipient>,
    /// Targets that reach nobody at this instant.
    pub gaps: Vec<Gap>,
}

/// Someone a step notifies, and the chain of reasons: the step, the
/// round-robin turn if any, then each target that names them.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipient {
    pub person: String,
    pub why: Vec<Why>,
}

impl Recipient {
    /// The reasons as one line: "escalation step 2 of 6 of policy
    /// payments (rule 2 of 3, pass 1 of 2); on call in schedule
    /// payments-primary, layer weekly".
    pub fn reasons(&self) -> String {
        self.why
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// One link in the chain of reasons a person is notified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// The step (all counts from 1).
    Step {
        policy: String,
        step: usize,
        steps: usize,
        rule: usize,
        rules: usize,
        pass: u32,
        passes: u32,
    },
    /// A round-robin rule's turn fell on this target (from 1).
    RoundRobin { target: usize, targets: usize },
    /// The rule names the person.
    Named,
    /// On call in this schedule, and why.
    OnCall { schedule: String, reason: Reason },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Step {
                policy,
                step,
                steps,
                rule,
                rules,
                pass,
                passes,
            } => write!(
                f,
                "escalation step {step} of {steps} of policy {policy} (rule {rule} of {rules}, pass {pass} of {passes})"
            ),
            Why::RoundRobin { target, targets } => {
                write!(f, "round robin: target {target} of {targets}")
            }
            Why::Named => f.write_str("named in the rule"),
            Why::OnCall { schedule, reason } => match reason {
                Reason::Layer { name, .. } => {
                    write!(f, "on call in schedule {schedule}, layer {name}")
                }
                Reason::Override(OverrideId::Config(_)) => write!(
                    f,
                    "on call in schedule {schedule}, by an override in the configuration"
                ),
                Reason::Override(OverrideId::Stored(id)) => {
                    write!(f, "on call in schedule {schedule}, by override {id}")
                }
            },
        }
    }
}

/// A target that reaches nobody: never a silent empty list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gap {
    /// Nobody is on call in this schedule at the step's start.
    NobodyOnCall {
        schedule: String,
    },
    /// Not in the catalog (a policy checked against another configuration).
    UnknownSchedule(String),
    UnknownPerson(String),
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Gap::NobodyOnCall { schedule } => write!(f, "nobody on call in schedule {schedule}"),
            Gap::UnknownSchedule(s) => write!(f, "no schedule named {s}"),
            Gap::UnknownPerson(p) => write!(f, "no person named {p}"),
        }
    }
}

#[cfg(test)]
#[path = "escalation_tests.rs"]
mod tests;
