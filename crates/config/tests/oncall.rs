//! `nines check` on people and schedules: what is accepted, and the exact
//! diagnostics for what is not (snapshots under `snapshots/`).

use std::fs;

use nines_config::{load, load_str};
use nines_core::model::ContactKind;
use nines_core::oncall::{Coverage, OverrideId, Reason};

fn errors(name: &str, text: &str) -> String {
    match load_str(name, text) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.render(),
    }
}

const PEOPLE: &str = "apiVersion: nines/v1
kind: Team
metadata: {name: payments}
spec:
  timeZone: Europe/Paris
  members:
    - name: alice
      contacts: [{type: email, address: alice@example.com}]
    - name: dave
---
apiVersion: nines/v1
kind: Person
metadata: {name: dave}
spec:
  timeZone: America/New_York
  contacts: [{type: email, address: dave@example.com}]
---
";

#[test]
fn people_come_from_persons_and_team_members() {
    let text = format!(
        "{PEOPLE}apiVersion: nines/v1
kind: Schedule
metadata: {{name: primary}}
spec:
  team: payments
  layers:
    - {{name: weekly, start: 2026-01-05T09:00, turn: weekly, members: [alice, dave]}}
    - name: days
      start: 2026-01-05
      handoff: \"09:00\"
      turn: 12h
      members: [dave]
      restrictions:
        - {{days: mon-fri, from: \"09:00\", to: \"18:00\"}}
        - {{from: sat 10:00, to: sun 24:00}}
  overrides:
    - {{person: alice, start: 2026-12-24T18:00, end: \"2026-12-26T08:00:00Z\"}}
"
    );
    let loaded = load_str("oncall.yaml", &text).unwrap_or_else(|e| panic!("{}", e.render()));
    let c = &loaded.catalog;
    assert_eq!(c.people.len(), 2);
    // Inline alice takes the team's zone; dave keeps his own.
    assert_eq!(c.people["alice"].time_zone.as_deref(), Some("Europe/Paris"));
    assert_eq!(c.people["dave"].teams, vec!["payments"]);
    // The member that names a Person gets that person's contacts.
    let dave = &c.teams["payments"].members[1];
    assert_eq!(dave.contacts[0].kind, ContactKind::Email);
    assert_eq!(dave.time_zone.as_deref(), Some("America/New_York"));

    let s = &c.schedules["primary"];
    assert_eq!(s.zone_name, "Europe/Paris");
    assert_eq!(s.layers.len(), 2);
    assert_eq!(s.layers[1].restrictions.len(), 6);
    assert!(matches!(&s.layers[1].coverage, Coverage::Rotation(r) if r.turn().minutes() == 720));
    // The override's start is on the schedule's wall clock (+01:00).
    assert_eq!(s.overrides[0].start.to_string(), "2026-12-24T17:00:00Z");
    let at = |t: &str| s.on_call_at(t.parse().unwrap(), &[]).unwrap();
    assert_eq!(
        at("2026-12-25T12:00:00Z").reason,
        Reason::Override(OverrideId::Config(0))
    );
    assert_eq!(at("2026-01-06T12:00:00Z").person, "dave"); // Tuesday, business hours
    assert_eq!(at("2026-01-06T20:00:00Z").person, "alice"); // Tuesday evening: weekly layer
    // The weekly handoff is at 09:00 Paris time (08:00Z) on Mondays.
    assert_eq!(at("2026-01-12T07:59:00Z").person, "alice");
    assert_eq!(at("2026-01-12T08:00:00Z").person, "dave");
    assert_eq!(loaded.warnings, vec![]);
}

#[test]
fn bad_schedules_are_refused_where_they_are_written() {
    let text = "apiVersion: nines/v1
kind: Schedule
metadata: {name: empty}
spec:
  timeZone: Mars/Olympus
  layers:
    - {name: nobody, start: 2026-01-05T09:00, turn: weekly, members: []}
    - {name: quick, start: 2026-01-05T09:00, turn: 30m, members: [alice]}
    - name: nights
      start: 2026-01-05T09:00
      turn: daily
      members: [alice]
      restrictions:
        - {from: \"18:00\", to: \"08:00\"}
        - {from: fri 18:00, to: mon 09:00}
        - {days: weekdays, from: \"09:00\", to: \"17:00\"}
        - {from: \"9h\", to: \"17:00\"}
    - {name: both, calendar: x.ics, members: [alice]}
    - {name: unclear, start: 2026-01-05T09:00, handoff: \"10:00\", turn: daily, members: [alice]}
---
apiVersion: nines/v1
kind: Schedule
metadata: {name: nothing}
spec:
  timeZone: UTC
";
    insta::assert_snapshot!("schedule_problems", errors("schedules.yaml", text));
}

#[test]
fn schedule_references_are_checked_once_everything_is_read() {
    let text = format!(
        "{PEOPLE}apiVersion: nines/v1
kind: Schedule
metadata: {{name: primary}}
spec:
  team: paymnets
  timeZone: Europe/Paris
  layers:
    - {{name: weekly, start: 2026-01-05T09:00, turn: weekly, members: [alice, davd]}}
  overrides:
    - {{person: alice, start: 2026-12-26T09:00, end: 2026-12-24T18:00}}
    - {{person: zoe, start: 2026-12-24T09:00, end: 2026-12-24T18:00}}
---
apiVersion: nines/v1
kind: Schedule
metadata: {{name: zoneless}}
spec:
  layers:
    - {{start: 2026-01-05T09:00, turn: weekly, members: [alice]}}
---
apiVersion: nines/v1
kind: Team
metadata: {{name: platform}}
spec:
  members:
    - name: dave
      contacts: [{{type: email, address: other@example.com}}]
"
    );
    insta::assert_snapshot!("schedule_references", errors("oncall.yaml", &text));
}

#[test]
fn a_calendar_imports_as_a_layer() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("vendor.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:alice\r\nDTSTART;TZID=Europe/Paris:20260328T090000\r\nDTEND;TZID=Europe/Paris:20260330T090000\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:2\r\nSUMMARY:Cover\r\nX-NINES-PERSON:dave\r\nDTSTART:20260330T070000Z\r\nDURATION:P1D\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("oncall.yaml"),
        format!(
            "{PEOPLE}apiVersion: nines/v1\nkind: Schedule\nmetadata: {{name: vendor}}\nspec:\n  timeZone: Europe/Paris\n  layers:\n    - {{name: imported, calendar: vendor.ics}}\n"
        ),
    )
    .unwrap();
    let loaded = load(dir.path()).unwrap_or_else(|e| panic!("{}", e.render()));
    let s = &loaded.catalog.schedules["vendor"];
    let shifts = s.shifts(
        "2026-03-28T00:00:00Z".parse().unwrap(),
        "2026-04-01T00:00:00Z".parse().unwrap(),
        &[],
    );
    let plain: Vec<(String, Option<&str>)> = shifts
        .iter()
        .map(|s| (s.start.to_string(), s.person()))
        .collect();
    assert_eq!(
        plain,
        vec![
            ("2026-03-28T00:00:00Z".into(), None),
            ("2026-03-28T08:00:00Z".into(), Some("alice")),
            ("2026-03-30T07:00:00Z".into(), Some("dave")),
            ("2026-03-31T07:00:00Z".into(), None),
        ]
    );
}

#[test]
fn a_calendar_with_recurring_or_unknown_people_is_refused_at_its_lines() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("vendor.ics"),
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:alice\nDTSTART:20260101T090000Z\nDTEND:20260102T090000Z\nRRULE:FREQ=WEEKLY;COUNT=10\nEND:VEVENT\nEND:VCALENDAR\n",
    )
    .unwrap();
    fs::write(
        dir.path().join("other.ics"),
        "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:Mallory\nDTSTART:20260101T090000Z\nDTEND:20260102T090000Z\nEND:VEVENT\nEND:VCALENDAR\n",
    )
    .unwrap();
    let schedule = |name: &str, file: &str| {
        format!(
            "apiVersion: nines/v1\nkind: Schedule\nmetadata: {{name: {name}}}\nspec:\n  timeZone: UTC\n  layers:\n    - {{name: imported, calendar: {file}}}\n---\n"
        )
    };
    fs::write(
        dir.path().join("a.yaml"),
        format!("{PEOPLE}{}", schedule("a", "vendor.ics")),
    )
    .unwrap();
    let err = load(dir.path()).unwrap_err().render();
    let err = err.replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!("calendar_recurring", err);

    fs::write(
        dir.path().join("a.yaml"),
        format!(
            "{PEOPLE}{}{}",
            schedule("a", "other.ics"),
            schedule("b", "missing.ics")
        ),
    )
    .unwrap();
    let err = load(dir.path()).unwrap_err().render();
    let err = err.replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!("calendar_unknown_person", err);
}

#[test]
fn contacts_may_be_fallbacks_and_a_person_may_limit_their_pages() {
    let text = "apiVersion: nines/v1
kind: Person
metadata: {name: alice}
spec:
  contacts:
    - {type: slack, address: 'https://hooks.slack.com/services/T0/B0/X'}
    - {type: email, address: alice@example.com, fallback: true}
  pageLimit: {pages: 3, window: 5m}
";
    let loaded = load_str("people.yaml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let alice = &loaded.catalog.people["alice"];
    let fallbacks: Vec<bool> = alice.contacts.iter().map(|c| c.fallback).collect();
    assert_eq!(fallbacks, [false, true]);
    let limit = alice.page_limit.unwrap();
    assert_eq!(
        (limit.pages, limit.window),
        (3, jiff::SignedDuration::from_mins(5))
    );
}

#[test]
fn only_fallback_contacts_or_a_bad_page_limit_are_refused() {
    let text = "apiVersion: nines/v1
kind: Person
metadata: {name: alice}
spec:
  contacts:
    - {type: email, address: alice@example.com, fallback: true}
  pageLimit: {pages: 0, window: 5m}
---
apiVersion: nines/v1
kind: Person
metadata: {name: bob}
spec:
  contacts: [{type: email, address: bob@example.com, fallback: yes}]
  pageLimit: {pages: 2}
";
    let out = errors("people.yaml", text);
    for expected in [
        "every contact method is marked `fallback: true`, so none is paged first",
        "Person spec.pageLimit.pages must be a whole number of at least 1, found 0",
        "a contact method.fallback must be true or false",
        "Person spec.pageLimit is missing required field `window`",
    ] {
        assert!(out.contains(expected), "{expected}\n{out}");
    }
}
