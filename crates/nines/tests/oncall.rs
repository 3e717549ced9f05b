//! On call over HTTP, on the real server with a manual clock: who is on
//! call and why, shifts across a daylight-saving change, overrides (checked,
//! kept across a restart, removed), and calendar feeds read back by a real
//! iCalendar parser (PyPI `icalendar`, installed into `target/test-venv` by
//! scripts/test; that part is skipped, and says so, where it is missing).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use nines::clock::ManualClock;
use serde_json::{Value, json};

const CONFIG: &str = "apiVersion: nines/v1
kind: Team
metadata: {name: payments}
spec:
  timeZone: Europe/Paris
  members:
    - name: alice
      contacts: [{type: email, address: alice@example.com}]
    - {name: bob}
    - {name: carol}
---
apiVersion: nines/v1
kind: Schedule
metadata: {name: primary, displayName: Payments primary}
spec:
  team: payments
  layers:
    - {name: daily, start: 2026-03-27T09:00, turn: daily, members: [alice, bob, carol]}
";

/// Saturday 28 March 2026, 13:00 in Paris; the clocks go forward that night.
const NOW: &str = "2026-03-28T12:00:00Z";

struct App {
    running: nines::serve::Running,
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
}

async fn start(dir: &Path, clock: Arc<ManualClock>) -> App {
    nines::install_crypto_provider();
    let running = common::start_with_config(dir, CONFIG, None, clock.clone()).await;
    App {
        base: format!("http://{}", running.addr),
        running,
        http: reqwest::Client::new(),
        clock,
    }
}

impl App {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn text(&self, path: &str) -> (String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        (ct, r.text().await.unwrap())
    }
}

#[tokio::test]
async fn who_is_on_call_now_and_at_any_instant_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), Arc::new(ManualClock::new(NOW.parse().unwrap()))).await;

    let (status, v) = app.get("/api/v1/oncall").await;
    assert_eq!(status, 200, "{v}");
    let s = &v["schedules"][0];
    assert_eq!(s["schedule"], "primary");
    assert_eq!(s["on_call"]["name"], "bob");
    assert_eq!(
        s["on_call"]["reason"],
        json!({"kind": "layer", "layer": "daily", "index": 0})
    );
    assert_eq!(s["on_call"]["why"], "layer daily");
    // Bob's turn is 23 hours: 09:00 CET to 09:00 CEST.
    assert_eq!(s["until"], "2026-03-29T07:00:00Z");

    let (_, v) = app.get("/api/v1/oncall?at=2026-03-29T07:00:00Z").await;
    assert_eq!(v["schedules"][0]["on_call"]["name"], "carol");
    let (_, v) = app
        .get("/api/v1/oncall?at=2026-03-27T10:00:00%2B01:00")
        .await;
    assert_eq!(v["schedules"][0]["on_call"]["name"], "alice");
    assert_eq!(
        v["schedules"][0]["on_call"]["contacts"][0]["address"],
        "alice@example.com"
    );
    // Before the first turn: nobody, said plainly.
    let (_, v) = app.get("/api/v1/oncall?at=2026-01-01T00:00:00Z").await;
    assert_eq!(v["schedules"][0]["on_call"], Value::Null);

    let (status, v) = app.get("/api/v1/oncall?at=tomorrow").await;
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_query")));
    assert!(v["message"].as_str().unwrap().contains("`tomorrow`"), "{v}");
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_schedule_shows_its_shifts_and_handoffs_across_the_change() {
    let dir = tempfile::tempdir().unwrap();
    let app = start(dir.path(), Arc::new(ManualClock::new(NOW.parse().unwrap()))).await;
    let (status, v) = app
        .get("/api/v1/schedules/primary?from=2026-03-28T00:00:00Z&until=2026-03-31T00:00:00Z")
        .await;
    assert_eq!(status, 200, "{v}");
    let shifts: Vec<(String, String, String)> = v["shifts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().to_owned(),
                s["end"].as_str().unwrap().to_owned(),
                s["person"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let row = |a: &str, b: &str, p: &str| (a.to_owned(), b.to_owned(), p.to_owned());
    assert_eq!(
        shifts,
        vec![
            row("2026-03-28T00:00:00Z", "2026-03-28T08:00:00Z", "alice"),
            row("2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "bob"),
            row("2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z", "carol"),
            row("2026-03-30T07:00:00Z", "2026-03-31T00:00:00Z", "alice"),
        ]
    );
    assert_eq!(
        v["handoffs"][1],
        json!({"at": "2026-03-29T07:00:00Z", "from": "bob", "to": "carol"})
    );
    assert_eq!(v["on_call"]["name"], "bob");
    assert_eq!(v["on_call_until"], "2026-03-29T07:00:00Z");
    assert_eq!(v["time_zone"], "Europe/Paris");

    let (_, list) = app.get("/api/v1/schedules").await;
    assert_eq!(
        list["schedules"][0]["layers"][0]["members"],
        json!(["alice", "bob", "carol"])
    );

    let (status, v) = app.get("/api/v1/schedules/secondary").await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("unknown_schedule"))
    );
    let (status, v) = app
        .get("/api/v1/schedules/primary?from=2026-03-28T00:00:00Z&until=2026-03-27T00:00:00Z")
        .await;
    assert_eq!((status, v["code"].as_str()), (400, Some("invalid_query")));
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn overrides_are_checked_kept_across_a_restart_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW.parse().unwrap()));
    let app = start(dir.path(), clock.clone()).await;
    let post = |body: Value| {
        app.call(
            reqwest::Method::POST,
            "/api/v1/schedules/primary/overrides",
            Some(body),
        )
    };

    let (status, v) = post(
        json!({"person": "carol", "start": "2026-03-28T12:30:00Z", "end": "2026-03-28T12:00:00Z"}),
    )
    .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_override")),
        "{v}"
    );
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("ends (2026-03-28T12:00:00Z) before it starts"),
        "{v}"
    );
    let (status, v) = post(json!({"person": "zoe", "for": "2h"})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("unknown_person")),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("`zoe`"));
    let (status, v) = post(json!({"person": "carol", "for": "2h", "colour": "red"})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_override")),
        "{v}"
    );
    let (status, v) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/schedules/nope/overrides",
            Some(json!({"person": "carol", "for": "2h"})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("unknown_schedule")),
        "{v}"
    );

    // Carol covers Bob's afternoon, from now.
    let (status, created) =
        post(json!({"person": "carol", "for": "4h", "reason": "bob at the dentist", "by": "bob"}))
            .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["start"], NOW);
    assert_eq!(created["end"], "2026-03-28T16:00:00Z");
    let id = created["id"].as_i64().unwrap();
    let (_, v) = app.get("/api/v1/oncall").await;
    let on_call = &v["schedules"][0]["on_call"];
    assert_eq!(on_call["name"], "carol");
    assert_eq!(on_call["reason"]["kind"], "override");
    assert_eq!(on_call["reason"]["reason"], "bob at the dentist");
    assert_eq!(
        on_call["why"],
        format!("override #{id}: bob at the dentist")
    );
    assert_eq!(v["schedules"][0]["until"], "2026-03-28T16:00:00Z");

    // Kept across a restart.
    app.running.shutdown().await.unwrap();
    let app = start(dir.path(), clock.clone()).await;
    let (_, v) = app.get("/api/v1/schedules/primary/overrides").await;
    assert_eq!(v["overrides"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["overrides"][0]["by"], "bob");
    app.clock.advance(jiff::SignedDuration::from_hours(1));
    let (_, v) = app.get("/api/v1/oncall").await;
    assert_eq!(v["schedules"][0]["on_call"]["name"], "carol");

    let path = format!("/api/v1/schedules/primary/overrides/{id}");
    let (status, _) = app.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    let (status, v) = app.call(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (404, Some("unknown_override"))
    );
    let (_, v) = app.get("/api/v1/oncall").await;
    assert_eq!(v["schedules"][0]["on_call"]["name"], "bob");
    app.running.shutdown().await.unwrap();
}

/// Every VEVENT of `ics` as the `icalendar` library reads it.
fn parse_with_icalendar(py: &Path, ics: &str, dir: &Path) -> Vec<Value> {
    let file = dir.join("feed.ics");
    std::fs::write(&file, ics).unwrap();
    let script = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(open(sys.argv[1], 'rb').read())
assert cal.get('VERSION') == '2.0', cal.get('VERSION')
for e in cal.walk('VEVENT'):
    print(json.dumps({
        'uid': str(e['UID']),
        'summary': str(e['SUMMARY']),
        'start': e.decoded('DTSTART').isoformat(),
        'end': e.decoded('DTEND').isoformat(),
        'stamp': e.decoded('DTSTAMP').isoformat(),
        'person': str(e.get('X-NINES-PERSON')),
    }))
"#;
    let out = Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn calendar_feeds_are_read_by_a_real_icalendar_parser() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(NOW.parse().unwrap()));
    let app = start(dir.path(), clock.clone()).await;
    let (ct, ics) = app.text("/api/v1/schedules/primary/calendar.ics").await;
    assert_eq!(ct, "text/calendar; charset=utf-8");
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n"), "{ics}");
    for line in ics.split_terminator("\r\n") {
        assert!(line.len() <= 75 && !line.contains('\n'), "{line:?}");
    }
    let (_, alice_ics) = app.text("/api/v1/people/alice/calendar.ics").await;
    let (status, v) = app.get("/api/v1/people/zoe/calendar.ics").await;
    assert_eq!((status, v["code"].as_str()), (404, Some("unknown_person")));

    let Some(py) = common::python_with("icalendar") else {
        eprintln!(
            "SKIPPED: iCalendar parser check: no Python with the `icalendar` package (scripts/test installs it in target/test-venv)"
        );
        app.running.shutdown().await.unwrap();
        return;
    };
    let events = parse_with_icalendar(&py, &ics, dir.path());
    // Bob's 23-hour turn across the change, in UTC, named in the feed.
    let bob = events
        .iter()
        .find(|e| e["start"] == "2026-03-28T08:00:00+00:00")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(bob["end"], "2026-03-29T07:00:00+00:00");
    assert_eq!(bob["person"], "bob");
    assert_eq!(bob["summary"], "bob on call (Payments primary)");
    assert_eq!(bob["stamp"], "2026-03-28T12:00:00+00:00");
    // One event per shift, back to back, and about three months of them.
    for w in events.windows(2) {
        assert_eq!(w[0]["end"], w[1]["start"]);
    }
    assert!(events.len() > 90, "{}", events.len());

    let alice = parse_with_icalendar(&py, &alice_ics, dir.path());
    assert!(
        alice
            .iter()
            .all(|e| e["person"] == "alice" && e["summary"] == "On call: Payments primary")
    );
    let alice_in_schedule: Vec<&Value> = events.iter().filter(|e| e["person"] == "alice").collect();
    assert_eq!(alice.len(), alice_in_schedule.len());
    for (a, b) in alice.iter().zip(alice_in_schedule) {
        assert_eq!(
            (&a["uid"], &a["start"], &a["end"]),
            (&b["uid"], &b["start"], &b["end"])
        );
    }

    // An hour later the same shifts keep their UIDs, so calendar apps
    // update events rather than duplicate them.
    clock.advance(jiff::SignedDuration::from_hours(1));
    let (_, later) = app.text("/api/v1/schedules/primary/calendar.ics").await;
    let later = parse_with_icalendar(&py, &later, dir.path());
    assert_eq!(later[0]["uid"], events[0]["uid"]);
    assert_eq!(later[0]["start"], events[0]["start"]);
    app.running.shutdown().await.unwrap();
}
