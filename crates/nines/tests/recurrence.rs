//! nines' recurrence rules (RFC 5545 RRULE, `nines_core::recur`) checked
//! against a reference implementation: python-dateutil's `rrule`, with
//! Python's zoneinfo for the zones (installed by scripts/test into
//! target/test-venv). Several hundred generated rules, in zones with and
//! without daylight saving, starting on both sides of DST transitions; the
//! first occurrences of each must be the same instants.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use nines_core::recur::{Recurrence, Rule};

/// A small deterministic generator (no dependency needed for this).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

fn rule(g: &mut Lcg) -> String {
    let freq = *g.pick(&["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
    let mut parts = vec![format!("FREQ={freq}")];
    if g.chance(40) {
        parts.push(format!("INTERVAL={}", 1 + g.next() % 3));
    }
    let positional = matches!(freq, "MONTHLY" | "YEARLY");
    if freq == "YEARLY" && g.chance(50) {
        parts.push(format!(
            "BYMONTH={},{}",
            1 + g.next() % 12,
            1 + g.next() % 12
        ));
    }
    if g.chance(50) {
        let mut days = Vec::new();
        // All days with a position or none: dateutil keeps only the days
        // that satisfy both kinds when a rule mixes them (RFC 5545 means
        // either), so mixed rules are checked by nines' own unit tests.
        let with_position = positional && g.chance(50);
        for _ in 0..(1 + g.next() % 2) {
            let d = g.pick(&DAYS);
            if with_position {
                let n = *g.pick(&[1, 2, -1, -2]);
                days.push(format!("{n}{d}"));
            } else {
                days.push((*d).to_owned());
            }
        }
        days.dedup();
        parts.push(format!("BYDAY={}", days.join(",")));
    } else if freq != "WEEKLY" && g.chance(40) {
        let d = *g.pick(&[1, 15, 28, 30, 31, -1, -7]);
        parts.push(format!("BYMONTHDAY={d}"));
    }
    if g.chance(30) {
        parts.push(format!("BYHOUR={},{}", g.next() % 24, g.next() % 24));
    }
    if g.chance(20) {
        parts.push(format!("BYMINUTE={}", g.next() % 60));
    }
    if g.chance(15) {
        parts.push(format!("WKST={}", g.pick(&DAYS)));
    }
    parts.join(";")
}

#[test]
fn rules_give_the_same_instants_as_python_dateutil() {
    let Some(python) = common::python_with("dateutil.rrule, zoneinfo") else {
        eprintln!(
            "SKIPPED: RRULE reference test: no Python with python-dateutil (scripts/test installs it in target/test-venv)"
        );
        return;
    };
    let zones = [
        "Europe/Paris",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Kolkata",
        "UTC",
    ];
    // Local start times around the 2026 transitions and a year boundary.
    let starts = [
        "2026-03-28T02:30:00",
        "2026-03-29T02:30:00",
        "2026-10-24T02:30:00",
        "2026-10-25T02:30:00",
        "2026-11-01T01:30:00",
        "2026-12-31T23:45:00",
        "2026-01-31T09:00:00",
        "2026-04-05T02:30:00",
    ];
    let mut g = Lcg(0x6e69_6e65_7321);
    let mut cases = Vec::new();
    for _ in 0..400 {
        let zone = *g.pick(&zones);
        let start = *g.pick(&starts);
        let text = rule(&mut g);
        let parsed = Rule::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let tz = TimeZone::get(zone).unwrap();
        let local: DateTime = start.parse().unwrap();
        let ours: Vec<String> = match Recurrence::from_local(parsed, tz, local) {
            Ok(r) => r.iter().take(12).map(|t| t.to_string()).collect(),
            // "Never occurs" must mean the reference finds none either.
            Err(_) => Vec::new(),
        };
        cases.push((zone, start, text, ours));
    }
    let script = r#"
import json, sys, itertools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from dateutil.rrule import rrulestr
for line in sys.stdin:
    zone, start, rule = json.loads(line)
    dt = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(zone))
    out = []
    for t in itertools.islice(rrulestr(rule, dtstart=dt), 12):
        # Python's zoneinfo reads a time in a gap with the offset before it,
        # as RFC 5545 says; normalise to UTC.
        out.append(t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    print(json.dumps(out))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for (zone, start, text, _) in &cases {
            writeln!(stdin, "{}", serde_json::json!([zone, start, text])).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<Vec<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), cases.len());
    let mut compared = 0;
    for ((zone, start, text, ours), theirs) in cases.iter().zip(&lines) {
        // dateutil stops a never-occurring rule only at its own year limit;
        // nines refuses it up front. Both then have nothing to show.
        let theirs: Vec<Timestamp> = theirs.iter().map(|t| t.parse().unwrap()).collect();
        let ours: Vec<Timestamp> = ours.iter().map(|t| t.parse().unwrap()).collect();
        assert_eq!(
            ours, theirs,
            "{text} from {start} in {zone}: nines {ours:?}, dateutil {theirs:?}"
        );
        compared += ours.len();
    }
    assert!(compared > 2000, "only {compared} occurrences compared");
}
