//! `nines check` on escalation policies and support hours: what is
//! accepted, and the exact diagnostics for what is not (snapshots under
//! `snapshots/`).

use nines_config::load_str;
use nines_core::oncall::{
    EscalationTarget, IncidentView, Plan, Progress, Roster, TargetMode, Urgency,
};

fn errors(name: &str, text: &str) -> String {
    match load_str(name, text) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.render(),
    }
}

const WORLD: &str = "apiVersion: nines/v1
kind: Team
metadata: {name: payments}
spec:
  timeZone: Europe/Paris
  escalationPolicy: payments
  members:
    - name: alice
    - name: bob
---
apiVersion: nines/v1
kind: Schedule
metadata: {name: payments-primary}
spec:
  team: payments
  layers:
    - {name: weekly, start: 2026-01-05T09:00, turn: weekly, members: [alice, bob]}
---
";

#[test]
fn policies_load_and_services_find_theirs() {
    let text = format!(
        "{WORLD}apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  description: The primary on call, then both of us, twice over.
  loops: 1
  rules:
    - delay: 15m
      targets: [{{schedule: payments-primary}}]
    - delay: 1h
      roundRobin: true
      targets: [{{person: bob}}, {{person: alice}}]
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: quiet}}
spec:
  rules:
    - {{delay: 30m, targets: [{{person: alice}}]}}
---
apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  owner: payments
---
apiVersion: nines/v1
kind: Service
metadata: {{name: reports}}
spec:
  owner: payments
  escalationPolicy: quiet
  supportHours: {{timeZone: Europe/Paris, days: mon-fri, from: \"09:00\", to: \"18:00\"}}
---
apiVersion: nines/v1
kind: Service
metadata: {{name: batch}}
spec:
  supportHours: {{timeZone: UTC, days: [fri, sun], from: \"22:00\", to: \"06:00\"}}
"
    );
    let loaded = load_str("escalation.yaml", &text).unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(loaded.warnings, vec![]);
    let c = &loaded.catalog;
    let p = &c.escalation_policies["payments"];
    assert_eq!(p.loops(), 1);
    assert_eq!(p.rules().len(), 2);
    assert_eq!(p.rules()[0].delay().get().as_mins(), 15);
    assert_eq!(
        p.rules()[0].targets(),
        &[EscalationTarget::Schedule("payments-primary".into())]
    );
    assert_eq!(p.rules()[1].mode(), TargetMode::RoundRobin);
    assert_eq!(c.escalation_policies["quiet"].loops(), 0);

    // A service takes its team's policy unless it names its own.
    assert_eq!(
        c.escalation_policy_of("checkout").map(|p| p.name()),
        Some("payments")
    );
    assert_eq!(
        c.escalation_policy_of("reports").map(|p| p.name()),
        Some("quiet")
    );
    assert_eq!(c.escalation_policy_of("batch"), None);

    let hours = c.services["reports"].support_hours.as_ref().unwrap();
    assert_eq!(hours.zone_name(), "Europe/Paris");
    assert_eq!(hours.windows().len(), 5);
    // Saturday 10 January 2026 is outside; Monday 09:00 Paris is 08:00Z.
    assert_eq!(
        hours
            .next_in_support_hours("2026-01-10T12:00:00Z".parse().unwrap())
            .to_string(),
        "2026-01-12T08:00:00Z"
    );
    // Overnight hours run into the next morning: Friday 22:00 to Saturday
    // 06:00, Sunday 22:00 to Monday 06:00.
    let nights = c.services["batch"].support_hours.as_ref().unwrap();
    let minutes: Vec<(u32, u32)> = nights
        .windows()
        .iter()
        .map(|w| (w.from_minute(), w.to_minute()))
        .collect();
    assert_eq!(
        minutes,
        vec![
            (4 * 1440 + 1320, 5 * 1440),
            (5 * 1440, 5 * 1440 + 360),
            (6 * 1440 + 1320, 7 * 1440),
            (0, 360)
        ]
    );

    // What the server will ask: on Tuesday 6 January 2026 at 10:00 Paris,
    // alice is on call; after 15 minutes the round-robin rule reaches bob.
    let roster = Roster::new(c);
    let inc = IncidentView {
        progress: Progress::Triggered {
            since: "2026-01-06T09:00:00Z".parse().unwrap(),
        },
        urgency: Urgency::High,
        support_hours: None,
        round_robin: 0,
    };
    let who = |at: &str| match p.plan(&roster, &inc, at.parse().unwrap()) {
        Plan::Notify(s) => s.recipients[0].reasons(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        who("2026-01-06T09:00:00Z"),
        "escalation step 1 of 4 of policy payments (rule 1 of 2, pass 1 of 2); on call in schedule payments-primary, layer weekly"
    );
    assert_eq!(
        who("2026-01-06T09:15:00Z"),
        "escalation step 2 of 4 of policy payments (rule 2 of 2, pass 1 of 2); round robin: target 1 of 2; named in the rule"
    );
}

#[test]
fn bad_policies_are_refused_where_they_are_written() {
    let text = "apiVersion: nines/v1
kind: EscalationPolicy
metadata: {name: broken}
spec:
  loops: -1
  rules:
    - {delay: 15m, targets: []}
    - {delay: 15m}
    - {delay: 0m, targets: [{person: alice}]}
    - {delay: -5m, targets: [{person: alice}]}
    - {delay: 1M, targets: [{person: alice}]}
    - {delay: 30s, targets: [{person: alice}]}
    - {targets: [{person: alice}]}
    - {delay: 5m, targets: [{person: alice, schedule: primary}, {}]}
    - {delay: 5m, targets: [{person: alice}, {person: alice}], roundRobin: yes}
    - {delay: 5m, target: [{person: alice}]}
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {name: empty}
spec:
  loops: 10
  rules: []
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {name: nothing}
spec: {}
---
apiVersion: nines/v1
kind: Service
metadata: {name: reports}
spec:
  supportHours: {timeZone: Mars/Olympus, from: \"09:00\", to: \"18:00\"}
---
apiVersion: nines/v1
kind: Service
metadata: {name: batch}
spec:
  supportHours: {timeZone: UTC, days: weekdays, from: \"09:00\", to: \"18:00\"}
---
apiVersion: nines/v1
kind: Service
metadata: {name: never}
spec:
  supportHours: {timeZone: UTC, from: \"09:00\", to: \"09:00\"}
---
apiVersion: nines/v1
kind: Service
metadata: {name: vague}
spec:
  supportHours: {from: \"9h\"}
";
    insta::assert_snapshot!("escalation_problems", errors("escalation.yaml", text));
}

#[test]
fn policy_references_are_checked_once_everything_is_read() {
    let text = format!(
        "{WORLD}apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  rules:
    - delay: 15m
      targets: [{{schedule: payments-primry}}, {{person: alcie}}, {{person: zoe}}]
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  rules: [{{delay: 5m, targets: [{{person: bob}}]}}]
---
apiVersion: nines/v1
kind: Team
metadata: {{name: platform}}
spec:
  escalationPolicy: platfrom
---
apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  owner: payments
  escalationPolicy: nobody
"
    );
    insta::assert_snapshot!("escalation_references", errors("escalation.yaml", &text));
}

#[test]
fn a_policy_names_the_people_it_falls_back_on() {
    let policy = |fallback: &str| {
        format!(
            "{WORLD}apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  fallback: {fallback}
  rules:
    - {{delay: 15m, targets: [{{person: alice}}]}}
"
        )
    };
    let loaded = load_str("p.yaml", &policy("[{person: bob}, {person: bob}]"))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert_eq!(
        loaded.catalog.escalation_policies["payments"].fallback(),
        ["bob".to_owned()]
    );
    let out = errors("p.yaml", &policy("[{person: zoe}]"));
    assert!(out.contains("zoe"), "{out}");
    let out = errors("p.yaml", &policy("[{schedule: payments-primary}]"));
    assert!(out.contains("unknown field `schedule`"), "{out}");
}
