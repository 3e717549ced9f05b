//! The planner on a small catalog: steps over time, loops, round robin,
//! acknowledgements, schedules with nobody on call, support hours; and
//! properties of the chain for any policy.

use std::collections::BTreeMap;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;

use super::*;
use crate::model::{Catalog, Person};
use crate::oncall::{Coverage, Layer, Rotation, Turn, Window};

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn mins(m: i64) -> SignedDuration {
    SignedDuration::from_mins(m)
}

fn meta(name: &str) -> Meta {
    Meta {
        name: name.to_owned(),
        ..Meta::default()
    }
}

/// alice, bob, carol, dave; `payments-primary` (weekly, alice then bob,
/// handed off Mondays 09:00 Paris, from 5 January 2026) and `nights`
/// (carol, only 20:00 to 24:00 Paris).
fn catalog() -> Catalog {
    let mut c = Catalog::default();
    for p in ["alice", "bob", "carol", "dave"] {
        c.people.insert(
            p.to_owned(),
            Person {
                meta: meta(p),
                time_zone: None,
                contacts: Vec::new(),
                teams: Vec::new(),
                page_limit: None,
            },
        );
    }
    let zone = TimeZone::get("Europe/Paris").unwrap();
    let rotation = |members: &[&str]| {
        Coverage::Rotation(
            Rotation::new(
                "2026-01-05T09:00".parse().unwrap(),
                Turn::WEEKLY,
                members.iter().map(|m| (*m).to_owned()).collect(),
                None,
            )
            .unwrap(),
        )
    };
    let schedule = |name: &str, layer: Layer| Schedule {
        meta: meta(name),
        zone: zone.clone(),
        zone_name: "Europe/Paris".into(),
        team: None,
        layers: vec![layer],
        overrides: Vec::new(),
    };
    c.schedules.insert(
        "payments-primary".into(),
        schedule(
            "payments-primary",
            Layer {
                name: "weekly".into(),
                coverage: rotation(&["alice", "bob"]),
                restrictions: Vec::new(),
            },
        ),
    );
    c.schedules.insert(
        "nights".into(),
        schedule(
            "nights",
            Layer {
                name: "evenings".into(),
                coverage: rotation(&["carol"]),
                restrictions: Window::daily(20 * 60, 24 * 60).unwrap(),
            },
        ),
    );
    c
}

fn person(p: &str) -> EscalationTarget {
    EscalationTarget::Person(p.to_owned())
}

fn schedule(s: &str) -> EscalationTarget {
    EscalationTarget::Schedule(s.to_owned())
}

fn rule(delay: i64, targets: Vec<EscalationTarget>, mode: TargetMode) -> EscalationRule {
    EscalationRule::new(EscalationDelay::from_mins(delay).unwrap(), targets, mode).unwrap()
}

/// Rule 1: whoever is on call in payments-primary, for 15 min; rule 2:
/// dave and nights, for 30 min; the chain repeated once.
fn policy() -> EscalationPolicy {
    EscalationPolicy::new(
        meta("payments"),
        vec![
            rule(15, vec![schedule("payments-primary")], TargetMode::All),
            rule(
                30,
                vec![person("dave"), schedule("nights")],
                TargetMode::All,
            ),
        ],
        1,
    )
    .unwrap()
}

fn triggered(since: &str) -> IncidentView<'static> {
    IncidentView {
        progress: Progress::Triggered { since: ts(since) },
        urgency: Urgency::High,
        support_hours: None,
        round_robin: 0,
    }
}

fn step(plan: Plan) -> Step {
    match plan {
        Plan::Notify(s) => s,
        other => panic!("expected a step, found {other:?}"),
    }
}

fn people(s: &Step) -> Vec<&str> {
    s.recipients.iter().map(|r| r.person.as_str()).collect()
}

#[test]
fn each_rule_in_turn_then_the_chain_again_then_exhausted() {
    let c = catalog();
    let roster = Roster::new(&c);
    let p = policy();
    // Tuesday 6 January 2026, 10:00 Paris: alice's week.
    let inc = triggered("2026-01-06T09:00:00Z");

    let first = step(p.plan(&roster, &inc, ts("2026-01-06T09:00:00Z")));
    assert_eq!((first.index, first.rule, first.pass), (0, 0, 0));
    assert_eq!(people(&first), vec!["alice"]);
    assert_eq!(
        first.recipients[0].reasons(),
        "escalation step 1 of 4 of policy payments (rule 1 of 2, pass 1 of 2); on call in schedule payments-primary, layer weekly"
    );
    assert_eq!(first.next_at, ts("2026-01-06T09:15:00Z"));
    assert!(first.gaps.is_empty());

    // 10:15: rule 2. The nights schedule has nobody at 10:15: said so.
    let second = step(p.plan(&roster, &inc, ts("2026-01-06T09:15:00Z")));
    assert_eq!((second.index, second.rule), (1, 1));
    assert_eq!(people(&second), vec!["dave"]);
    assert_eq!(
        second.recipients[0].reasons(),
        "escalation step 2 of 4 of policy payments (rule 2 of 2, pass 1 of 2); named in the rule"
    );
    assert_eq!(
        second.gaps,
        vec![Gap::NobodyOnCall {
            schedule: "nights".into()
        }]
    );
    assert_eq!(
        second.gaps[0].to_string(),
        "nobody on call in schedule nights"
    );
    assert_eq!(second.next_at, ts("2026-01-06T09:45:00Z"));

    // The second pass starts over with rule 1.
    let third = step(p.plan(&roster, &inc, ts("2026-01-06T09:45:00Z")));
    assert_eq!((third.index, third.rule, third.pass), (2, 0, 1));
    assert_eq!(people(&third), vec!["alice"]);
    let fourth = step(p.plan(&roster, &inc, ts("2026-01-06T10:29:59Z")));
    assert_eq!((fourth.index, fourth.rule, fourth.pass), (3, 1, 1));
    assert!(fourth.last);
    assert_eq!(fourth.next_at, ts("2026-01-06T10:30:00Z"));

    let done = p.plan(&roster, &inc, ts("2026-01-06T10:30:00Z"));
    assert_eq!(
        done,
        Plan::Exhausted {
            since: ts("2026-01-06T10:30:00Z"),
            steps: 4
        }
    );
    assert_eq!(done.wake_at(), None);
}

#[test]
fn a_person_reached_twice_is_notified_once_with_both_reasons() {
    let c = catalog();
    let roster = Roster::new(&c);
    let p = EscalationPolicy::new(
        meta("p"),
        vec![rule(
            5,
            vec![person("alice"), schedule("payments-primary")],
            TargetMode::All,
        )],
        0,
    )
    .unwrap();
    let s = step(p.plan(
        &roster,
        &triggered("2026-01-06T09:00:00Z"),
        ts("2026-01-06T09:01:00Z"),
    ));
    assert_eq!(people(&s), vec!["alice"]);
    assert_eq!(
        s.recipients[0].reasons(),
        "escalation step 1 of 1 of policy p (rule 1 of 1, pass 1 of 1); named in the rule; on call in schedule payments-primary, layer weekly"
    );
}

#[test]
fn schedules_are_resolved_when_the_step_starts_with_stored_overrides() {
    let c = catalog();
    // Rule 2 starts at 19:55 + 15 min = 20:10 Paris: carol is on call then.
    let s = step(policy().plan(
        &Roster::new(&c),
        &triggered("2026-01-06T18:55:00Z"),
        ts("2026-01-06T19:20:00Z"),
    ));
    assert_eq!(s.starts_at, ts("2026-01-06T19:10:00Z"));
    assert_eq!(people(&s), vec!["dave", "carol"]);
    assert_eq!(
        s.recipients[1].why[1].to_string(),
        "on call in schedule nights, layer evenings"
    );

    // An override recorded at run time wins over the layers.
    let extra = BTreeMap::from([(
        "payments-primary".to_owned(),
        vec![
            Override::new(
                OverrideId::Stored(7),
                "bob".into(),
                ts("2026-01-06T00:00:00Z"),
                ts("2026-01-07T00:00:00Z"),
            )
            .unwrap(),
        ],
    )]);
    let roster = Roster::new(&c).with_overrides(&extra);
    let s = step(policy().plan(
        &roster,
        &triggered("2026-01-06T09:00:00Z"),
        ts("2026-01-06T09:00:00Z"),
    ));
    assert_eq!(people(&s), vec!["bob"]);
    assert_eq!(
        s.recipients[0].why[1].to_string(),
        "on call in schedule payments-primary, by override 7"
    );
}

#[test]
fn round_robin_takes_the_next_target_each_pass_and_each_incident() {
    let c = catalog();
    let roster = Roster::new(&c);
    let p = EscalationPolicy::new(
        meta("rr"),
        vec![rule(
            10,
            vec![person("alice"), person("bob"), person("carol")],
            TargetMode::RoundRobin,
        )],
        3,
    )
    .unwrap();
    let at = |offset: u64, minute: i64| {
        let inc = IncidentView {
            round_robin: offset,
            ..triggered("2026-01-06T09:00:00Z")
        };
        let s = step(p.plan(&roster, &inc, ts("2026-01-06T09:00:00Z") + mins(minute)));
        s.recipients[0].person.clone()
    };
    assert_eq!(
        (0..4).map(|pass| at(0, pass * 10)).collect::<Vec<_>>(),
        vec!["alice", "bob", "carol", "alice"]
    );
    // The next incident (the caller's counter moved on) starts with bob.
    assert_eq!(at(1, 0), "bob");
    let s = step(p.plan(
        &roster,
        &triggered("2026-01-06T09:00:00Z"),
        ts("2026-01-06T09:10:00Z"),
    ));
    assert_eq!(
        s.recipients[0].reasons(),
        "escalation step 2 of 4 of policy rr (rule 1 of 1, pass 2 of 4); round robin: target 2 of 3; named in the rule"
    );
}

#[test]
fn an_acknowledgement_stops_escalation_until_it_times_out() {
    let c = catalog();
    let roster = Roster::new(&c);
    let p = policy();
    let acked = |timeout| IncidentView {
        progress: Progress::Acknowledged {
            at: ts("2026-01-06T09:05:00Z"),
            timeout,
        },
        ..triggered("2026-01-06T09:00:00Z")
    };
    assert_eq!(
        p.plan(&roster, &acked(None), ts("2026-01-06T12:00:00Z")),
        Plan::Stopped { resumes_at: None }
    );
    let plan = p.plan(&roster, &acked(Some(mins(30))), ts("2026-01-06T09:10:00Z"));
    assert_eq!(
        plan,
        Plan::Stopped {
            resumes_at: Some(ts("2026-01-06T09:35:00Z"))
        }
    );
    assert_eq!(plan.wake_at(), Some(ts("2026-01-06T09:35:00Z")));
    // Still open when the acknowledgement runs out: from rule 1 again.
    let s = step(p.plan(&roster, &acked(Some(mins(30))), ts("2026-01-06T09:40:00Z")));
    assert_eq!((s.index, s.starts_at), (0, ts("2026-01-06T09:35:00Z")));
    let resolved = IncidentView {
        progress: Progress::Resolved,
        ..triggered("2026-01-06T09:00:00Z")
    };
    assert_eq!(
        p.plan(&roster, &resolved, ts("2026-01-06T09:40:00Z")),
        Plan::Stopped { resumes_at: None }
    );
}

#[test]
fn low_urgency_waits_for_support_hours_and_high_urgency_never_does() {
    let c = catalog();
    let roster = Roster::new(&c);
    let p = policy();
    let weekdays = Window::daily(9 * 60, 18 * 60).unwrap()[..5].to_vec();
    let hours = SupportHours::new(
        TimeZone::get("Europe/Paris").unwrap(),
        "Europe/Paris",
        weekdays,
    )
    .unwrap();
    // Saturday 10 January 2026, 03:00 Paris.
    let night = IncidentView {
        urgency: Urgency::Low,
        support_hours: Some(&hours),
        ..triggered("2026-01-10T02:00:00Z")
    };
    let plan = p.plan(&roster, &night, ts("2026-01-10T02:00:00Z"));
    assert_eq!(
        plan,
        Plan::Deferred {
            until: ts("2026-01-12T08:00:00Z"),
            step: 0
        }
    );
    // Monday 09:00 Paris: bob's week has begun.
    let s = step(p.plan(&roster, &night, ts("2026-01-12T08:00:00Z")));
    assert_eq!(people(&s), vec!["bob"]);

    let high = IncidentView {
        urgency: Urgency::High,
        ..night
    };
    let s = step(p.plan(&roster, &high, ts("2026-01-10T02:00:00Z")));
    assert_eq!(s.starts_at, ts("2026-01-10T02:00:00Z"));

    // A step that falls due after hours waits for the next morning:
    // triggered Friday 17:50 Paris, rule 2 is due at 18:05.
    let late = IncidentView {
        urgency: Urgency::Low,
        support_hours: Some(&hours),
        ..triggered("2026-01-09T16:50:00Z")
    };
    assert_eq!(
        people(&step(p.plan(&roster, &late, ts("2026-01-09T16:50:00Z")))),
        vec!["alice"]
    );
    assert_eq!(
        p.plan(&roster, &late, ts("2026-01-09T17:05:00Z")),
        Plan::Deferred {
            until: ts("2026-01-12T08:00:00Z"),
            step: 1
        }
    );
}

#[test]
fn before_the_trigger_nothing_is_due() {
    let c = catalog();
    let plan = policy().plan(
        &Roster::new(&c),
        &triggered("2026-01-06T09:00:00Z"),
        ts("2026-01-06T08:00:00Z"),
    );
    assert_eq!(
        plan,
        Plan::Deferred {
            until: ts("2026-01-06T09:00:00Z"),
            step: 0
        }
    );
}

#[test]
fn targets_missing_from_the_catalog_are_gaps() {
    let c = catalog();
    let p = EscalationPolicy::new(
        meta("p"),
        vec![rule(
            5,
            vec![person("zoe"), schedule("gone")],
            TargetMode::All,
        )],
        0,
    )
    .unwrap();
    let s = step(p.plan(
        &Roster::new(&c),
        &triggered("2026-01-06T09:00:00Z"),
        ts("2026-01-06T09:00:00Z"),
    ));
    assert!(s.recipients.is_empty());
    assert_eq!(
        s.gaps,
        vec![
            Gap::UnknownPerson("zoe".into()),
            Gap::UnknownSchedule("gone".into())
        ]
    );
}

#[test]
fn invalid_values_cannot_be_built() {
    assert_eq!(
        EscalationDelay::new(SignedDuration::ZERO),
        Err(EscalationError::Delay { seconds: 0 })
    );
    assert!(EscalationDelay::new(SignedDuration::from_secs(-60)).is_err());
    assert!(EscalationDelay::new(SignedDuration::from_secs(59)).is_err());
    assert!(EscalationDelay::from_mins(7 * 1440 + 1).is_err());
    assert!(EscalationDelay::from_mins(7 * 1440).is_ok());
    let d = EscalationDelay::from_mins(5).unwrap();
    assert_eq!(
        EscalationRule::new(d, Vec::new(), TargetMode::All),
        Err(EscalationError::NoTargets)
    );
    assert_eq!(
        EscalationPolicy::new(meta("p"), Vec::new(), 0),
        Err(EscalationError::NoRules)
    );
    let r = rule(5, vec![person("alice")], TargetMode::All);
    assert_eq!(
        EscalationPolicy::new(meta("p"), vec![r], 10),
        Err(EscalationError::Loops { loops: 10 })
    );
}

fn arb_policy() -> impl Strategy<Value = EscalationPolicy> {
    let rule = (
        1i64..=240,
        proptest::collection::vec(0usize..4, 1..4),
        any::<bool>(),
    )
        .prop_map(|(delay, who, rr)| {
            let names = ["alice", "bob", "carol", "dave"];
            let targets = who
                .into_iter()
                .map(|i| person(names[i]))
                .collect::<Vec<_>>();
            let mode = if rr {
                TargetMode::RoundRobin
            } else {
                TargetMode::All
            };
            rule(delay, targets, mode)
        });
    (proptest::collection::vec(rule, 1..5), 0u32..=9)
        .prop_map(|(rules, loops)| EscalationPolicy::new(meta("p"), rules, loops).unwrap())
}

fn arb_hours() -> impl Strategy<Value = Option<SupportHours>> {
    proptest::option::of(
        proptest::collection::vec((0u32..WEEK_MINUTES / 15, 1u32..100), 1..4).prop_map(|ws| {
            let windows = ws
                .into_iter()
                .filter_map(|(from, len)| {
                    let from = from * 15;
                    Window::new(from, (from + len * 15).min(WEEK_MINUTES)).ok()
                })
                .collect();
            SupportHours::new(
                TimeZone::get("Europe/Paris").unwrap(),
                "Europe/Paris",
                windows,
            )
            .unwrap()
        }),
    )
}

use crate::oncall::WEEK_MINUTES;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Steps follow each other in time without overlap, every rule is
    /// visited once per pass (loops + 1 times), each step starts inside
    /// support hours when there are some, and after the last the chain is
    /// exhausted.
    #[test]
    fn the_chain_visits_each_rule_once_per_pass_in_time_order(
        p in arb_policy(),
        hours in arb_hours(),
        start_min in 0i64..366 * 1440,
    ) {
        let since = ts("2026-01-01T00:00:00Z") + mins(start_min);
        let timeline = p.timeline(since, hours.as_ref());
        prop_assert_eq!(timeline.len(), p.rules().len() * (p.loops() as usize + 1));
        let mut visits = vec![0u32; p.rules().len()];
        let mut prev_end = since;
        for (i, s) in timeline.iter().enumerate() {
            prop_assert_eq!(s.index, i);
            prop_assert_eq!(s.rule, i % p.rules().len());
            prop_assert_eq!(s.ready_at, prev_end);
            prop_assert!(s.ready_at <= s.starts_at);
            prop_assert_eq!(s.ends_at, s.starts_at + p.rules()[s.rule].delay().get());
            if let Some(h) = &hours {
                prop_assert!(h.contains(s.starts_at), "{} is outside support hours", s.starts_at);
            }
            visits[s.rule] += 1;
            prev_end = s.ends_at;
        }
        prop_assert!(visits.iter().all(|v| *v == p.loops() + 1));

        let c = catalog();
        let roster = Roster::new(&c);
        let inc = IncidentView {
            progress: Progress::Triggered { since },
            urgency: Urgency::Low,
            support_hours: hours.as_ref(),
            round_robin: 0,
        };
        // Asked at each step's start, the planner names that step; asked
        // at the end of the last, it is exhausted.
        for s in &timeline {
            let got = step(p.plan(&roster, &inc, s.starts_at));
            prop_assert_eq!(got.index, s.index);
            prop_assert_eq!(got.next_at, s.ends_at);
            prop_assert!(!got.recipients.is_empty());
        }
        let last = timeline[timeline.len() - 1];
        let exhausted = p.plan(&roster, &inc, last.ends_at);
        prop_assert_eq!(exhausted, Plan::Exhausted { since: last.ends_at, steps: timeline.len() });

        // High urgency ignores support hours: the first step is at the
        // trigger, and the steps follow back to back.
        let high = IncidentView { urgency: Urgency::High, ..inc };
        let first = step(p.plan(&roster, &high, since));
        prop_assert_eq!((first.index, first.starts_at), (0, since));
        for s in p.timeline(since, None) {
            prop_assert_eq!(s.starts_at, s.ready_at);
        }
    }

    /// Between two instants, the step (or exhaustion) never goes back, and
    /// what the planner says stays the same until its `wake_at`.
    #[test]
    fn steps_are_monotonic_in_time(
        p in arb_policy(),
        hours in arb_hours(),
        offsets in proptest::collection::vec(0i64..30 * 1440, 2..12),
    ) {
        let since = ts("2026-03-20T00:00:00Z");
        let c = catalog();
        let roster = Roster::new(&c);
        let inc = IncidentView {
            progress: Progress::Triggered { since },
            urgency: Urgency::Low,
            support_hours: hours.as_ref(),
            round_robin: 0,
        };
        let mut offsets = offsets;
        offsets.sort_unstable();
        let rank = |plan: &Plan| match plan {
            Plan::Deferred { step, .. } => 2 * *step,
            Plan::Notify(s) => 2 * s.index + 1,
            Plan::Exhausted { steps, .. } => 2 * *steps,
            Plan::Stopped { .. } => unreachable!(),
        };
        let mut prev = 0;
        for o in offsets {
            let now = since + mins(o);
            let plan = p.plan(&roster, &inc, now);
            let r = rank(&plan);
            prop_assert!(r >= prev);
            prev = r;
            if let Some(w) = plan.wake_at() {
                prop_assert!(w > now);
                let before = p.plan(&roster, &inc, w - SignedDuration::from_secs(1));
                prop_assert_eq!(rank(&before), r);
            }
        }
    }

    /// Round robin over k targets reaches each once in any k successive
    /// passes.
    #[test]
    fn round_robin_visits_each_target_once_per_k_turns(
        k in 1usize..=4,
        offset in any::<u64>(),
    ) {
        let names = ["alice", "bob", "carol", "dave"];
        let p = EscalationPolicy::new(
            meta("rr"),
            vec![rule(5, names[..k].iter().map(|n| person(n)).collect(), TargetMode::RoundRobin)],
            EscalationPolicy::MAX_LOOPS,
        )
        .unwrap();
        let c = catalog();
        let roster = Roster::new(&c);
        let since = ts("2026-01-06T09:00:00Z");
        let inc = IncidentView { round_robin: offset, ..triggered("2026-01-06T09:00:00Z") };
        let seen: Vec<String> = p
            .timeline(since, None)
            .iter()
            .map(|s| step(p.plan(&roster, &inc, s.starts_at)).recipients[0].person.clone())
            .collect();
        for window in seen.windows(k) {
            let mut w = window.to_vec();
            w.sort();
            w.dedup();
            prop_assert_eq!(w.len(), k);
        }
    }
}
