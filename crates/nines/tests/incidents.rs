//! Incidents as nines' own configuration shapes them, without an
//! alertmanager.yml: a service's `incidents:` (grouping by labels, timings,
//! acknowledgement timeout, auto-resolve) and the webhooks of the service's
//! and its owner team's `notify:`. Time runs on an injected clock.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{get, post_alerts, receiver, start_with_config};
use jiff::{SignedDuration, Timestamp};
use nines::clock::{Clock as _, ManualClock};
use nines::serve::Running;
use serde_json::{Value, json};

async fn start(dir: &Path, config: &str, clock: Arc<ManualClock>) -> Running {
    start_with_config(dir, config, None, clock).await
}

async fn act(url: &str, id: i64, what: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/incidents/{id}/{what}"))
        .json(&json!({"by": "alice"}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The open incidents, by their group labels' `alertname`.
async fn open_incidents(url: &str) -> Vec<Value> {
    let v = get(&format!("{url}/api/v1/incidents?state=open")).await;
    v["incidents"].as_array().cloned().unwrap_or_default()
}

fn timeline_kinds(v: &Value) -> Vec<String> {
    v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_services_own_incident_settings_group_time_notify_and_time_out_acks() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let service_hook = receiver(0);
    let team_hook = receiver(0);
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  owner: payments
  incidents:
    groupBy: [alertname]
    groupWait: 30s
    groupInterval: 5m
    ackTimeout: 30m
    autoResolve: false
  notify:
    - webhook: http://127.0.0.1:{}/service
---
apiVersion: nines/v1
kind: Team
metadata: {{name: payments}}
spec:
  notify:
    - webhook: http://127.0.0.1:{}/team
      sendResolved: false
",
        service_hook.port, team_hook.port
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(&url, json!([{"labels": {"alertname": "DiskFull", "service": "checkout", "severity": "critical"}}])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    // groupWait 30s: the incident is open at once, nobody is told yet.
    let pending = state
        .store
        .due_notifications(Timestamp::MAX, 10)
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");

    clock.advance(SignedDuration::from_secs(30));
    state.dispatch().await.unwrap();
    // The service's webhook and its owner team's.
    let (_, first) = service_hook.nth(1).await;
    let (_, team_first) = team_hook.nth(1).await;
    assert_eq!(first["version"], "4");
    assert_eq!(first["receiver"], "nines");
    assert_eq!(
        first["groupLabels"],
        json!({"alertname": "DiskFull", "service": "checkout"})
    );
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "DiskFull");
    assert_eq!(team_first["groupKey"], first["groupKey"]);

    // groupBy alertname: another alert name is another incident.
    post_alerts(&url, json!([{"labels": {"alertname": "SlowCheckout", "service": "checkout", "severity": "warning"}}])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let id_of = |name: &str| {
        open.iter()
            .find(|i| i["title"].as_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("no incident for {name}: {open:?}"))["id"]
            .as_i64()
            .unwrap()
    };
    let disk = id_of("DiskFull");
    let slow = id_of("SlowCheckout");

    // An acknowledgement runs out after ackTimeout: the incident is
    // triggered again and notifies again.
    let (status, acked) = act(&url, disk, "ack").await;
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    let before = service_hook.count();
    clock.advance(SignedDuration::from_mins(29));
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{disk}")).await;
    assert_eq!(shown["state"], "acknowledged", "{shown}");
    clock.advance(SignedDuration::from_mins(2));
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{disk}")).await;
    assert_eq!(shown["state"], "triggered", "{shown}");
    let kinds = timeline_kinds(&shown);
    let at = |k: &str| kinds.iter().position(|x| x == k);
    assert!(
        at("acknowledged") < at("unacknowledged") && at("unacknowledged").is_some(),
        "{kinds:?}"
    );
    let unack = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unacknowledged")
        .unwrap();
    assert_eq!(unack["actor"], "nines");
    assert!(
        unack["details"]["reason"].as_str().unwrap().contains("30m"),
        "{unack}"
    );
    let (_, again) = service_hook.nth(before + 1).await;
    assert_eq!(
        again["groupLabels"]["alertname"], "DiskFull",
        "the re-triggered incident pages again: {again}"
    );

    // autoResolve false: the incident stays open when its alert resolves.
    let now = clock.now().to_string();
    post_alerts(&url, json!([{"labels": {"alertname": "DiskFull", "service": "checkout", "severity": "critical"}, "endsAt": now}])).await;
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{disk}")).await;
    assert_eq!(shown["state"], "triggered", "{shown}");
    assert!(timeline_kinds(&shown).contains(&"alerts_left".to_owned()));
    let (status, resolved) = act(&url, disk, "resolve").await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["state"], "resolved");

    // An acknowledgement deadline survives a restart.
    let (status, _) = act(&url, slow, "ack").await;
    assert_eq!(status, 200);
    running.shutdown().await.unwrap();
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    running.state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_mins(31));
    running.state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{slow}")).await;
    assert_eq!(shown["state"], "triggered", "{shown}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_settings_incidents_group_by_service_and_auto_resolve() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = "apiVersion: nines/v1
kind: Service
metadata: {name: checkout}
spec:
  alertLabel: {name: app, value: shop-checkout}
";
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    // Two alert names of one service share an incident; alerts of two
    // unknown services do not share one.
    post_alerts(
        &url,
        json!([
            {"labels": {"alertname": "A", "app": "shop-checkout"}},
            {"labels": {"alertname": "B", "app": "shop-checkout"}},
            {"labels": {"alertname": "C", "service": "stray-1"}},
            {"labels": {"alertname": "D", "service": "stray-2"}},
        ]),
    )
    .await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 3, "{open:?}");
    let checkout: Vec<&Value> = open.iter().filter(|i| i["service"] == "checkout").collect();
    assert_eq!(checkout.len(), 1, "{open:?}");
    let strays = open.iter().filter(|i| i["service"] == "unrouted").count();
    assert_eq!(strays, 2, "{open:?}");
    let id = checkout[0]["id"].as_i64().unwrap();
    let now = clock.now().to_string();
    post_alerts(
        &url,
        json!([
            {"labels": {"alertname": "A", "app": "shop-checkout"}, "endsAt": now},
            {"labels": {"alertname": "B", "app": "shop-checkout"}, "endsAt": now},
        ]),
    )
    .await;
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    assert_eq!(shown["state"], "resolved", "{shown}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_that_resolved_by_itself_still_sends_its_resolution_then_a_new_one_opens() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    // Its incidents also reach people (Slack), so changes wait for
    // group_interval (see `changes_reach_machines_at_once_and_people_after_group_interval`).
    let chat = receiver(0);
    let config = format!(
        "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  notify:\n    - webhook: http://127.0.0.1:{}/hook\n    - slack: http://127.0.0.1:{}/slack\n",
        hook.port, chat.port
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let alert = json!({"alertname": "DiskFull", "service": "checkout", "severity": "critical"});
    post_alerts(&url, json!([{"labels": alert}])).await;
    state.dispatch().await.unwrap();
    let (_, first) = hook.nth(1).await;
    assert_eq!(first["status"], "firing");

    // Resolved: the incident resolves at once; the webhook hears of it
    // after group_interval (1m), though no incident is open any more.
    let now = clock.now().to_string();
    post_alerts(&url, json!([{"labels": alert, "endsAt": now}])).await;
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    assert_eq!(shown["state"], "resolved", "{shown}");
    assert_eq!(hook.count(), 1);
    // The resolution is decided with it, so a restart meanwhile loses
    // nothing.
    running.shutdown().await.unwrap();
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    clock.advance(SignedDuration::from_secs(60));
    state.dispatch().await.unwrap();
    let (_, second) = hook.nth(2).await;
    assert_eq!(second["status"], "resolved", "{second}");
    assert_eq!(second["alerts"][0]["status"], "resolved");

    // Firing again is a new incident.
    clock.advance(SignedDuration::from_secs(60));
    post_alerts(&url, json!([{"labels": alert}])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["id"], 2, "{open:?}");
    running.shutdown().await.unwrap();
}

/// The timeline entry of `kind` (the first).
fn entry<'a>(v: &'a Value, kind: &str) -> Option<&'a Value> {
    v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == kind)
}

/// Every alert an incident's timeline says joined it, by fingerprint.
fn joined(v: &Value) -> Vec<String> {
    v["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alerts_joined")
        .flat_map(|e| {
            e["details"]["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|a| a["fingerprint"].as_str().unwrap().to_owned())
        .collect()
}

/// The fingerprint of the held alert named `name`.
async fn fingerprint(url: &str, name: &str) -> String {
    let alerts = get(&format!("{url}/api/v2/alerts")).await;
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .unwrap_or_else(|| panic!("no alert {name}: {alerts}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ids(open: &[Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = open.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_window_opens_a_new_incident_for_alerts_that_start_after_it() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  incidents:
    groupWait: 30s
    groupWindow: 30m
  notify:
    - webhook: http://127.0.0.1:{}/hook
",
        hook.port
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let labels =
        |name: &str| json!({"alertname": name, "service": "checkout", "severity": "critical"});
    // Firing from now until resolved, as Prometheus sends them (with an
    // explicit end, so that no re-send is needed while the clock runs).
    let until = "2026-11-22T10:00:00Z";
    let firing = |name: &str| json!({"labels": labels(name), "startsAt": clock.now().to_string(), "endsAt": until});

    post_alerts(&url, json!([firing("DiskFull")])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let first = open[0]["id"].as_i64().unwrap();
    clock.advance(SignedDuration::from_secs(30));
    state.dispatch().await.unwrap();
    let (_, page) = hook.nth(1).await;
    let first_key = page["groupKey"].as_str().unwrap().to_owned();

    // Within the window: an alert of the group joins the open incident.
    clock.advance(SignedDuration::from_mins(10));
    post_alerts(&url, json!([firing("HighLatency")])).await;
    state.dispatch().await.unwrap();
    assert_eq!(ids(&open_incidents(&url).await), vec![first]);
    let disk = fingerprint(&url, "DiskFull").await;
    let latency = fingerprint(&url, "HighLatency").await;
    let shown = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert_eq!(
        joined(&shown),
        vec![disk.clone(), latency.clone()],
        "{shown}"
    );

    // 40 minutes after it opened: an alert starting now opens a second
    // incident of the group; the first stays open with its own alerts.
    clock.advance(SignedDuration::from_mins(30));
    post_alerts(&url, json!([firing("Errors")])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let second = *ids(&open).last().unwrap();
    assert!(second > first);
    let errors = fingerprint(&url, "Errors").await;
    let shown = get(&format!("{url}/api/v1/incidents/{second}")).await;
    assert_eq!(shown["state"], "triggered");
    assert_eq!(shown["supersedes"], first, "{shown}");
    assert_eq!(shown["group_key"], json!(first_key));
    assert_eq!(joined(&shown), vec![errors.clone()], "{shown}");
    let why = entry(&shown, "supersedes").unwrap_or_else(|| panic!("{shown}"));
    assert_eq!(why["details"]["incident"], first);
    let text = why["details"]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("not part of incident #{first}")) && text.contains("30m"),
        "{text}"
    );
    let old = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert_eq!(old["state"], "triggered");
    assert_eq!(old["superseded_by"], second, "{old}");
    let told = entry(&old, "superseded").unwrap_or_else(|| panic!("{old}"));
    assert_eq!(told["details"]["incident"], second);
    assert!(
        told["details"]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("opened incident #{second}")),
        "{told}"
    );
    assert_eq!(joined(&old), vec![disk.clone(), latency.clone()], "{old}");

    // A new notification group: its first notification after groupWait,
    // under a group key of its own, with its own alerts only.
    clock.advance(SignedDuration::from_secs(30));
    state.dispatch().await.unwrap();
    let mut n = 1;
    let new_page = loop {
        let (_, page) = hook.nth(n).await;
        if page["groupKey"] != json!(first_key) {
            break page;
        }
        n += 1;
    };
    assert_eq!(
        new_page["groupKey"],
        json!(format!("{first_key}#after-{first}"))
    );
    let names: Vec<&str> = new_page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Errors"], "{new_page}");
    // The first incident's pages never carry the second's alerts.
    for m in 1..n {
        let (_, page) = hook.nth(m).await;
        assert!(!page.to_string().contains("\"Errors\""), "{page}");
    }

    // The same alert sent again after the window is the same alert: it
    // stays in the first incident. So does one sent again with its start,
    // as a retry would.
    clock.advance(SignedDuration::from_mins(1));
    post_alerts(&url, json!([firing("DiskFull")])).await;
    let started = (t0 + SignedDuration::from_secs(630)).to_string();
    post_alerts(
        &url,
        json!([{"labels": labels("HighLatency"), "startsAt": started, "endsAt": until}]),
    )
    .await;
    state.dispatch().await.unwrap();
    assert_eq!(ids(&open_incidents(&url).await), vec![first, second]);
    let shown = get(&format!("{url}/api/v1/incidents/{second}")).await;
    assert_eq!(joined(&shown), vec![errors.clone()], "{shown}");

    // A restart keeps every alert where it was.
    running.shutdown().await.unwrap();
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_mins(1));
    post_alerts(&url, json!([firing("DiskFull")])).await;
    post_alerts(&url, json!([firing("Errors")])).await;
    state.dispatch().await.unwrap();
    assert_eq!(ids(&open_incidents(&url).await), vec![first, second]);
    let old = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert_eq!(joined(&old), vec![disk.clone(), latency.clone()], "{old}");
    assert!(entry(&old, "alerts_left").is_none(), "{old}");
    let shown = get(&format!("{url}/api/v1/incidents/{second}")).await;
    assert_eq!(joined(&shown), vec![errors.clone()], "{shown}");

    // The first incident resolves by itself on its own alerts, while the
    // second is still open.
    let now = clock.now().to_string();
    post_alerts(
        &url,
        json!([{"labels": labels("HighLatency"), "endsAt": now}]),
    )
    .await;
    state.dispatch().await.unwrap();
    let old = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert_eq!(old["state"], "triggered", "DiskFull still fires: {old}");
    post_alerts(&url, json!([{"labels": labels("DiskFull"), "endsAt": now}])).await;
    state.dispatch().await.unwrap();
    let old = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert_eq!(old["state"], "resolved", "{old}");
    assert_eq!(ids(&open_incidents(&url).await), vec![second]);
    let shown = get(&format!("{url}/api/v1/incidents/{second}")).await;
    assert_eq!(shown["state"], "triggered", "{shown}");

    // The CLI shows why each opened apart.
    let show = |id: i64| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
                .args(["incident", "show", &id.to_string(), "--server", &url])
                .output()
                .unwrap()
        })
    };
    let out = show(first).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("superseded") && text.contains(&format!("opened incident #{second}")),
        "{text}"
    );
    let out = show(second).await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("supersedes") && text.contains(&format!("not part of incident #{first}")),
        "{text}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_group_window_an_open_incident_takes_every_alert_of_its_group() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = "apiVersion: nines/v1\nkind: Service\nmetadata: {name: checkout}\n";
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "A", "service": "checkout"}}]),
    )
    .await;
    state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_hours(5));
    post_alerts(&url, json!([{"labels": {"alertname": "A", "service": "checkout"}}, {"labels": {"alertname": "B", "service": "checkout"}}])).await;
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["supersedes"], Value::Null);
    let shown = get(&format!("{url}/api/v1/incidents/{}", open[0]["id"])).await;
    assert_eq!(joined(&shown).len(), 2, "{shown}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_held_by_maintenance_after_the_window_opens_the_new_incident_when_it_fires() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let config = "apiVersion: nines/v1
kind: Service
metadata: {name: checkout}
spec:
  incidents: {groupWindow: 30m}
";
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let until = "2026-11-22T10:00:00Z";
    let firing = |name: &str| {
        json!({"labels": {"alertname": name, "service": "checkout", "severity": "critical"},
               "startsAt": clock.now().to_string(), "endsAt": until})
    };
    post_alerts(&url, json!([firing("DiskFull")])).await;
    state.dispatch().await.unwrap();
    let first = open_incidents(&url).await[0]["id"].as_i64().unwrap();

    // A maintenance window over the service, then an alert starting after
    // the group window: held, it pages nobody and opens nothing yet.
    clock.advance(SignedDuration::from_mins(35));
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/maintenance"))
        .json(&json!({"services": ["checkout"], "duration": "20m", "description": "failover", "createdBy": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_mins(5));
    post_alerts(&url, json!([firing("Errors")])).await;
    state.dispatch().await.unwrap();
    assert_eq!(ids(&open_incidents(&url).await), vec![first]);

    // The window ends: the held alert fires, and opens the new incident
    // (it started after the group window); the old alert is back in the
    // old incident.
    clock.advance(SignedDuration::from_mins(16));
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let second = *ids(&open).last().unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{second}")).await;
    assert_eq!(shown["supersedes"], first, "{shown}");
    assert_eq!(
        joined(&shown),
        vec![fingerprint(&url, "Errors").await],
        "{shown}"
    );
    let disk = fingerprint(&url, "DiskFull").await;
    let old = get(&format!("{url}/api/v1/incidents/{first}")).await;
    assert!(joined(&old).iter().all(|fp| *fp == disk), "{old}");
    assert_eq!(old["state"], "triggered", "{old}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_machines_at_once_and_people_after_group_interval() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let machine = receiver(0);
    let hook = receiver(0);
    let chat = receiver(0);
    // api's incidents go to a webhook only; web's to a webhook and Slack.
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: api}}
spec:
  incidents: {{groupInterval: 1m}}
  notify: [{{webhook: http://127.0.0.1:{}/hook}}]
---
apiVersion: nines/v1
kind: Service
metadata: {{name: web}}
spec:
  incidents: {{groupInterval: 1m}}
  notify:
    - webhook: http://127.0.0.1:{}/hook
    - slack: http://127.0.0.1:{}/slack
",
        machine.port, hook.port, chat.port
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let alert =
        |name: &str, service: &str| json!({"labels": {"alertname": name, "service": service}});
    post_alerts(&url, json!([alert("A", "api"), alert("A", "web")])).await;
    state.dispatch().await.unwrap();
    assert_eq!(
        machine.nth(1).await.1["alerts"].as_array().unwrap().len(),
        1
    );
    hook.nth(1).await;
    chat.nth(1).await;

    // B joins both incidents a second later.
    clock.advance(SignedDuration::from_secs(1));
    post_alerts(&url, json!([alert("B", "api"), alert("B", "web")])).await;
    state.dispatch().await.unwrap();
    // A webhook-only incident of two alerts may be sent again 1 ms
    // after its last notification: long past, so B goes out now.
    let (_, update) = machine.nth(2).await;
    let names: Vec<&str> = update["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["labels"]["alertname"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["A", "B"], "{update}");
    // The incident people read waits for its group_interval, as in
    // Alertmanager: nothing is due before t0 + 1m.
    assert_eq!(
        state.incidents.lock().await.next_due(),
        Some(t0 + SignedDuration::from_secs(60))
    );
    clock.advance(SignedDuration::from_secs(59));
    state.dispatch().await.unwrap();
    let (_, later) = hook.nth(2).await;
    assert_eq!(later["alerts"].as_array().unwrap().len(), 2, "{later}");
    chat.nth(2).await;
    assert_eq!(machine.count(), 2);

    // api's incident resolving by itself tells the webhook at once too,
    // though its group_interval has not passed since the update.
    let now = clock.now().to_string();
    let ended =
        |name: &str| json!({"labels": {"alertname": name, "service": "api"}, "endsAt": now});
    post_alerts(&url, json!([ended("A"), ended("B")])).await;
    state.dispatch().await.unwrap();
    let (_, resolved) = machine.nth(3).await;
    assert_eq!(resolved["status"], "resolved", "{resolved}");
    assert_eq!(
        resolved["alerts"].as_array().unwrap().len(),
        2,
        "{resolved}"
    );
    running.shutdown().await.unwrap();
}

/// SQL run on nines' SQLite database from another connection (Python's
/// standard library), as another process touching the file would.
/// Makes the disk refuse every write of alerts that holds one with the
/// text `refused-by-test`. A write of alerts is one segment; compressed,
/// the first copy of a text none of whose 4-byte runs came before in the
/// segment stays as it is (LZ4 literals), but for its last bytes, which may
/// start a match with what follows: the trigger looks for the rest.
fn refuse_writes_of_refused_by_test(db: &Path) {
    sqlite(
        db,
        "CREATE TRIGGER refuse BEFORE INSERT ON alert_segments
         WHEN instr(NEW.rows, CAST('refused-by-te' AS BLOB)) > 0
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    );
}

fn sqlite(db: &Path, sql: &str) {
    let py = common::python_with("sqlite3").unwrap_or_else(|| "python3".into());
    let out = std::process::Command::new(py)
        .args([
            "-c",
            "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.executescript(sys.argv[2])",
        ])
        .arg(db)
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Another connection holding the database's write lock until dropped: a
/// commit of nines waits for it (SQLite's busy timeout).
/// Makes the store refuse every new incident (until the trigger `refuse`
/// is dropped).
fn refuse_incidents(db: &Path) {
    sqlite(
        db,
        "CREATE TRIGGER refuse BEFORE INSERT ON incidents
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    );
}

struct WriteLock(std::process::Child);

impl WriteLock {
    fn take(db: &Path) -> WriteLock {
        use std::io::BufRead as _;
        let py = common::python_with("sqlite3").unwrap_or_else(|| "python3".into());
        let mut child = std::process::Command::new(py)
            .args([
                "-c",
                "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\nprint('locked', flush=True)\nsys.stdin.readline()\nc.execute('ROLLBACK')",
            ])
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        WriteLock(child)
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

fn webhook_service(port: u16) -> String {
    webhook_services(&["checkout"], port)
}

/// Services named `names`, each notifying one Alertmanager webhook at once.
fn webhook_services(names: &[&str], port: u16) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  incidents: {{groupWait: 0s}}\n  notify:\n    - webhook: http://127.0.0.1:{port}/hook\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A server on a data dir of its own, its clock at t0, its configuration
/// made from the port of its webhook receiver.
async fn on_disk(
    config: impl FnOnce(u16) -> String,
) -> (
    tempfile::TempDir,
    common::Receiver,
    Arc<ManualClock>,
    Running,
    String,
) {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config(hook.port), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    (dir, hook, clock, running, url)
}

async fn post_status(url: &str, body: Value) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/api/v2/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// `post_status` on a task of its own (the request waits for a commit that
/// the test holds back).
fn post_later(url: &str, body: Value) -> tokio::task::JoinHandle<u16> {
    let url = url.to_owned();
    tokio::spawn(async move { post_status(&url, body).await })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_webhook_leaves_while_its_alert_commits_and_is_recorded_once() {
    let (dir, hook, _clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();

    // The disk is slow: nothing nines writes can commit for now.
    let lock = WriteLock::take(&dir.path().join("data/nines.db"));
    let posting = post_later(
        &url,
        json!([{"labels": {"alertname": "DiskFull", "service": "checkout"}}]),
    );
    // The new group's webhook goes out while the alert's commit waits...
    let (_, first) = hook.nth(1).await;
    assert_eq!(first["status"], "firing");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "DiskFull");
    // ...and the client hears nothing until the alert is durable.
    assert!(
        !posting.is_finished(),
        "the POST was answered before its commit"
    );
    drop(lock);
    assert_eq!(posting.await.unwrap(), 200);

    // The attempt is recorded on the incident once its decision is
    // committed, and the notification is not sent a second time.
    let id = common::until_progress(&[&state], "the delivery recorded", || async {
        let open = open_incidents(&url).await;
        let id = open.first()?["id"].as_i64()?;
        let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
        timeline_kinds(&shown)
            .contains(&"notification_delivered".to_owned())
            .then_some(id)
    })
    .await;
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    let kinds = timeline_kinds(&shown);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "notification_delivered")
            .count(),
        1,
        "{kinds:?}"
    );
    let pending = state
        .store
        .due_notifications(Timestamp::MAX, 10)
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    state.dispatch().await.unwrap();
    assert_eq!(hook.count(), 1, "{:?}", hook.got.lock().unwrap());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_groups_webhooks_leave_one_after_another_while_the_disk_holds_every_write() {
    let services = |port| webhook_services(&["checkout", "payments", "search"], port);
    let (dir, hook, _clock, running, url) = on_disk(services).await;
    let state = running.state.clone();

    // Nothing nines writes can commit: not the alerts, not the incidents.
    // Each alert's pass still goes on while the writes before it wait, so
    // each new group's webhook leaves (not only the first two). Each wait
    // is shorter than SQLite's busy timeout (5 s), after which the held
    // writes would fail instead.
    let lock = WriteLock::take(&dir.path().join("data/nines.db"));
    let mut posting = Vec::new();
    for (i, service) in ["checkout", "payments", "search"].iter().enumerate() {
        let body = json!([{"labels": {"alertname": "DiskFull", "service": service}}]);
        posting.push(post_later(&url, body));
        let (_, told) = hook
            .nth_within(i + 1, std::time::Duration::from_secs(4))
            .await
            .unwrap_or_else(|| panic!("the webhook for {service} waited for the disk"));
        assert_eq!(told["commonLabels"]["service"], *service, "{told}");
    }
    assert!(
        posting.iter().all(|p| !p.is_finished()),
        "a POST was answered before its commit"
    );
    drop(lock);
    for p in posting {
        assert_eq!(p.await.unwrap(), 200);
    }
    // Each decision is committed and applied in turn; none is sent again.
    common::until_progress(&[&state], "three incidents", || async {
        (open_incidents(&url).await.len() == 3).then_some(())
    })
    .await;
    state.dispatch().await.unwrap();
    assert_eq!(hook.count(), 3, "{:?}", hook.got.lock().unwrap());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_a_group_whose_write_waits_does_not_hold_back_another_group() {
    let services = |port| webhook_services(&["checkout", "payments"], port);
    let (dir, hook, _clock, running, url) = on_disk(services).await;
    let state = running.state.clone();

    // checkout's incident is being written (the disk holds every write)
    // when a second alert joins it: that change waits for the write, and
    // the dispatcher goes on to payments' new group meanwhile.
    let lock = WriteLock::take(&dir.path().join("data/nines.db"));
    let post = |body: Value| post_later(&url, body);
    let mut posting = vec![post(
        json!([{"labels": {"alertname": "DiskFull", "service": "checkout"}}]),
    )];
    hook.nth(1).await;
    posting.push(post(
        json!([{"labels": {"alertname": "CpuHot", "service": "checkout"}}]),
    ));
    // In memory (its commit waits too) before payments' alert comes.
    common::until_progress(&[&state], "CpuHot in memory", || async {
        let listed = get(&format!(
            "{url}/api/v2/alerts?filter=alertname%3D%22CpuHot%22"
        ))
        .await;
        (listed.as_array().is_some_and(|a| a.len() == 1)).then_some(())
    })
    .await;
    posting.push(post(
        json!([{"labels": {"alertname": "DiskFull", "service": "payments"}}]),
    ));
    let mut n = 2;
    loop {
        let (_, told) = hook
            .nth_within(n, std::time::Duration::from_secs(4))
            .await
            .expect("payments' webhook waited for checkout's write");
        if told["commonLabels"]["service"] == "payments" {
            break;
        }
        n += 1;
    }
    drop(lock);
    for p in posting {
        assert_eq!(p.await.unwrap(), 200);
    }
    // Once checkout's write is applied, the alert that joined is told.
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let checkout = open
        .iter()
        .find(|i| i["service"] == "checkout")
        .unwrap_or_else(|| panic!("{open:?}"));
    let shown = get(&format!("{url}/api/v1/incidents/{}", checkout["id"])).await;
    let joined: Vec<&Value> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alerts_joined")
        .collect();
    assert!(
        joined.iter().any(|e| e.to_string().contains("CpuHot")),
        "{shown}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_whose_commit_fails_are_taken_back_and_open_no_incident() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    let db = dir.path().join("data/nines.db");

    // The disk refuses this alert's write.
    refuse_writes_of_refused_by_test(&db);
    let alert = json!([{"labels": {"alertname": "DiskFull", "service": "checkout", "case": "refused-by-test"}}]);
    // It is held back a moment, so that the dispatcher sees it (and sends
    // its webhook) before the write fails.
    let lock = WriteLock::take(&db);
    let posting = post_later(&url, alert.clone());
    let (_, early) = hook.nth(1).await;
    assert_eq!(early["alerts"][0]["labels"]["case"], "refused-by-test");
    drop(lock);
    assert_eq!(posting.await.unwrap(), 503);
    // Not acknowledged, so not kept: no alert, no incident, nothing owed.
    let listed = get(&format!("{url}/api/v2/alerts")).await;
    assert_eq!(listed, json!([]));
    state.dispatch().await.unwrap();
    assert!(open_incidents(&url).await.is_empty());
    let all = get(&format!("{url}/api/v1/incidents?state=all")).await;
    assert_eq!(all["incidents"], json!([]), "{all}");
    let pending = state
        .store
        .due_notifications(Timestamp::MAX, 10)
        .await
        .unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    // Its webhook left all the same: told at least once, never lost.
    assert_eq!(hook.count(), 1, "{:?}", hook.got.lock().unwrap());

    // The client retries once the disk takes it: one incident, told.
    sqlite(&db, "DROP TRIGGER refuse;");
    clock.advance(SignedDuration::from_secs(1));
    assert_eq!(post_status(&url, alert).await, 200);
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let (_, told) = hook.nth(2).await;
    assert_eq!(told["alerts"][0]["labels"]["case"], "refused-by-test");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_write_that_fails_is_decided_again_and_told_from_the_outbox() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    let db = dir.path().join("data/nines.db");

    // The alert is stored; the incident it opens is refused.
    refuse_incidents(&db);
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "DiskFull", "service": "checkout"}}]),
    )
    .await;
    state.dispatch().await.unwrap();
    // Its webhook left while the write was under way (at least once).
    let (_, first) = hook.nth(1).await;
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "DiskFull");
    assert!(open_incidents(&url).await.is_empty());
    // Decided again while the store refuses: nothing more is sent ahead.
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    assert!(open_incidents(&url).await.is_empty());
    assert_eq!(hook.count(), 1, "{:?}", hook.got.lock().unwrap());

    // Once the store takes it: one incident, told again from the outbox,
    // and recorded.
    sqlite(&db, "DROP TRIGGER refuse;");
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    let (_, again) = hook.nth(2).await;
    assert_eq!(again["groupKey"], first["groupKey"]);
    let id = open[0]["id"].as_i64().unwrap();
    common::until_progress(&[&state], "the delivery recorded", || async {
        let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
        timeline_kinds(&shown)
            .contains(&"notification_delivered".to_owned())
            .then_some(())
    })
    .await;
    assert_eq!(hook.count(), 2, "{:?}", hook.got.lock().unwrap());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_decided_before_a_failure_was_known_does_not_end_its_back_off() {
    let services = |port| webhook_services(&["checkout", "payments"], port);
    let (dir, hook, clock, running, url) = on_disk(services).await;
    let state = running.state.clone();
    let db = dir.path().join("data/nines.db");
    // checkout's incident is refused; payments' is not.
    sqlite(
        &db,
        "CREATE TRIGGER refuse BEFORE INSERT ON incidents WHEN NEW.service = 'checkout'
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    );
    // Both passes decide while the disk holds every write: checkout's
    // write, then payments' queued behind it.
    let lock = WriteLock::take(&db);
    let mut posting = Vec::new();
    for (i, service) in ["checkout", "payments"].iter().enumerate() {
        let body = json!([{"labels": {"alertname": "DiskFull", "service": service}}]);
        posting.push(post_later(&url, body));
        hook.nth(i + 1).await;
    }
    drop(lock);
    for p in posting {
        assert_eq!(p.await.unwrap(), 200);
    }
    // checkout's write fails, payments' (decided before that was known)
    // succeeds: the store still refuses checkout, so nothing is sent ahead.
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 1);
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 1);
    assert_eq!(hook.count(), 2, "{:?}", hook.got.lock().unwrap());

    // Once the store takes it, checkout is told again, from the outbox.
    sqlite(&db, "DROP TRIGGER refuse;");
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 2);
    let (_, again) = hook.nth(3).await;
    assert_eq!(again["commonLabels"]["service"], "checkout", "{again}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_takes_back_the_batches_after_it_too() {
    // One incident per alert name, so the two alert names below are two
    // new groups.
    let (dir, hook, clock, running, url) = on_disk(|port| {
        webhook_service(port).replace(
            "incidents: {groupWait: 0s}",
            "incidents: {groupWait: 0s, groupBy: [alertname]}",
        )
    })
    .await;
    let state = running.state.clone();
    let db = dir.path().join("data/nines.db");
    refuse_writes_of_refused_by_test(&db);
    let post = |alert: Value| post_later(&url, json!([alert]));
    let listed = |url: String| async move { get(&format!("{url}/api/v2/alerts")).await };
    // While the disk is held: an alert whose write will be refused, the
    // same alert again (merged over it in memory), and another alert. All
    // are in memory before the first commit fails.
    let lock = WriteLock::take(&db);
    let disk = json!({"alertname": "DiskFull", "service": "checkout"});
    let refused = post(json!({"labels": disk, "annotations": {"note": "refused-by-test"}}));
    hook.nth(1).await;
    let again = post(json!({"labels": disk, "annotations": {"note": "second"}}));
    let other = post(json!({"labels": {"alertname": "SlowCheckout", "service": "checkout"}}));
    common::until_progress(&[&state], "both in memory", || async {
        let l = listed(url.clone()).await;
        let l = l.as_array()?;
        (l.len() == 2 && l.iter().any(|a| a["annotations"]["note"] == "second")).then_some(())
    })
    .await;
    drop(lock);
    assert_eq!(refused.await.unwrap(), 503);
    // Those put in memory after it, over what it left, are refused too
    // (their clients send them again): nothing kept rests on a write that
    // failed, and taking them back newest first leaves what was before.
    assert_eq!(again.await.unwrap(), 503);
    assert_eq!(other.await.unwrap(), 503);
    assert_eq!(listed(url.clone()).await, json!([]));
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    let all = get(&format!("{url}/api/v1/incidents?state=all")).await;
    assert_eq!(all["incidents"], json!([]), "{all}");

    // Sent again, the second report is kept as it is, with nothing of the
    // refused one.
    assert_eq!(
        post_status(
            &url,
            json!([{"labels": disk, "annotations": {"note": "second"}}])
        )
        .await,
        200
    );
    let l = listed(url.clone()).await;
    assert_eq!(l.as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l[0]["annotations"], json!({"note": "second"}));
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_fails_late_backs_off_from_when_it_failed() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    let db = dir.path().join("data/nines.db");
    refuse_incidents(&db);
    // The incident's write waits for the disk, while 5 s pass.
    let lock = WriteLock::take(&db);
    let posting = post_later(
        &url,
        json!([{"labels": {"alertname": "DiskFull", "service": "checkout"}}]),
    );
    hook.nth(1).await;
    // The dispatcher does not pass meanwhile.
    let mut incidents = state.incidents.lock().await;
    clock.advance(SignedDuration::from_secs(5));
    drop(lock);
    assert_eq!(posting.await.unwrap(), 200);
    // The write fails now: the store is asked again a second from now,
    // not from when the write was decided (which is past).
    let failed_at = clock.now();
    incidents
        .finish(&state.alerts, &state.routing(), failed_at)
        .await;
    assert_eq!(
        incidents.next_due(),
        Some(failed_at + SignedDuration::from_secs(1))
    );
    drop(incidents);
    sqlite(&db, "DROP TRIGGER refuse;");
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 0, "asked again at once");
    clock.advance(SignedDuration::from_secs(1));
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 1);
    running.shutdown().await.unwrap();
}

/// The `details.count` of each `alerts_joined` entry of an incident's
/// timeline, oldest first; none while there is no incident (a 404 has no
/// timeline: the first poll may come before the dispatcher opened it).
fn joined_counts(v: &Value) -> Vec<u64> {
    v["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "alerts_joined")
        .map(|e| e["details"]["count"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_joining_in_a_burst_are_told_once_a_second_and_none_is_left_untold_at_shutdown() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    let alert = |n: u32| json!([{"labels": {"alertname": "DiskFull", "service": "checkout", "disk": format!("d{n}")}}]);
    let incident = |url: String| async move { get(&format!("{url}/api/v1/incidents/1")).await };
    // The server's own dispatcher (not a test's `dispatch`) opens the
    // incident, with the first alert.
    post_status(&url, alert(0)).await;
    common::until_progress(&[&state], "the incident opened", || async {
        (joined_counts(&incident(url.clone()).await) == [1]).then_some(())
    })
    .await;
    // Four alerts join within the second: one entry for the four, once
    // the second is over (the dispatcher looks again then).
    for n in 1..=4 {
        assert_eq!(post_status(&url, alert(n)).await, 200);
    }
    clock.advance(SignedDuration::from_secs(1));
    let shown = common::until_progress(&[&state], "the four told", || async {
        let shown = incident(url.clone()).await;
        (joined(&shown).len() == 5).then_some(shown)
    })
    .await;
    assert_eq!(joined_counts(&shown), [1, 4], "{shown}");

    // One joins and resolves within the second: told as joined and as
    // left, not as neither.
    assert_eq!(post_status(&url, alert(5)).await, 200);
    let mut resolved = alert(5);
    resolved[0]["endsAt"] = json!(clock.now().to_string());
    assert_eq!(post_status(&url, resolved).await, 200);
    let shown = common::until_progress(&[&state], "5 told", || async {
        let shown = incident(url.clone()).await;
        (joined(&shown).len() == 6).then_some(shown)
    })
    .await;
    let left: Vec<&Value> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "alerts_left")
        .collect();
    assert_eq!(left.len(), 1, "{shown}");
    assert_eq!(
        left[0]["details"]["alerts"][0]["fingerprint"],
        *joined(&shown).last().unwrap()
    );

    // One more within the next second, then nines stops: it is told
    // before it does, not lost.
    assert_eq!(post_status(&url, alert(6)).await, 200);
    running.shutdown().await.unwrap();
    let running = start(dir.path(), &webhook_service(hook.port), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let shown = incident(url.clone()).await;
    assert_eq!(joined_counts(&shown), [1, 4, 1, 1], "{shown}");
    running.shutdown().await.unwrap();
}

/// Waits until incident 1's timeline has an entry of `kind`, and returns it.
async fn incident_with(state: &Arc<nines::serve::AppState>, url: &str, kind: &str) -> Value {
    common::until_progress(&[state], kind, || async {
        let shown = get(&format!("{url}/api/v1/incidents/1")).await;
        entry(&shown, kind).is_some().then_some(shown)
    })
    .await
}

/// A notification's alerts, as (alertname, status), by name.
fn names(notification: &Value) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = notification["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_committed_but_not_yet_told_when_nines_is_killed_is_told_after_the_restart() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    let alert = |name: &str| json!([{"labels": {"alertname": name, "service": "checkout"}}]);
    assert_eq!(post_status(&url, alert("A")).await, 200);
    assert_eq!(names(&hook.nth(1).await.1), [("A".into(), "firing".into())]);
    incident_with(&state, &url, "notification_delivered").await;
    // B is committed (its 2xx), but the dispatcher is held off: nines is
    // killed before any pass tells it.
    let held = state.incidents.lock().await;
    assert_eq!(post_status(&url, alert("B")).await, 200);
    running.abort().await;
    drop(held);
    // Back a second later.
    clock.advance(SignedDuration::from_secs(1));

    let running = start(dir.path(), &webhook_service(hook.port), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let (_, told) = hook.nth(2).await;
    assert_eq!(
        names(&told),
        [("A".into(), "firing".into()), ("B".into(), "firing".into())],
        "{told}"
    );
    let shown = common::until_progress(&[&running.state], "B joined", || async {
        let again = get(&format!("{url}/api/v1/incidents/1")).await;
        (joined_counts(&again).len() == 2).then_some(again)
    })
    .await;
    // B joined once, after A; nothing told twice, one incident.
    assert_eq!(joined_counts(&shown), [1, 1], "{shown}");
    assert_eq!(joined(&shown)[1], fingerprint(&url, "B").await);
    assert_eq!(open_incidents(&url).await.len(), 1);
    assert_eq!(
        timeline_kinds(&shown)
            .iter()
            .filter(|k| *k == "opened")
            .count(),
        1
    );
    assert_eq!(hook.count(), 2);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_ends_while_nines_is_down_is_told_resolved_after_the_restart() {
    let (dir, hook, clock, running, url) = on_disk(webhook_service).await;
    let state = running.state.clone();
    // Without an end: it ends at the resolve timeout unless sent again.
    let alert = json!([{"labels": {"alertname": "A", "service": "checkout"}}]);
    assert_eq!(post_status(&url, alert).await, 200);
    assert_eq!(names(&hook.nth(1).await.1), [("A".into(), "firing".into())]);
    incident_with(&state, &url, "notification_delivered").await;
    running.abort().await;

    // Down for an hour: its end passed meanwhile.
    clock.advance(SignedDuration::from_secs(3600));
    let running = start(dir.path(), &webhook_service(hook.port), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let (_, told) = hook.nth(2).await;
    assert_eq!(told["status"], "resolved", "{told}");
    assert_eq!(names(&told), [("A".into(), "resolved".into())]);
    let shown = incident_with(&running.state, &url, "resolved").await;
    assert_eq!(shown["state"], "resolved", "{shown}");
    assert!(entry(&shown, "alerts_left").is_some(), "{shown}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_opened_but_not_yet_notified_when_nines_is_killed_notifies_after_the_restart() {
    let waiting = |port: u16| {
        format!(
            "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  incidents: {{groupWait: 30s}}\n  notify:\n    - webhook: http://127.0.0.1:{port}/hook\n"
        )
    };
    let (dir, hook, clock, running, url) = on_disk(waiting).await;
    let state = running.state.clone();
    let alert = json!([{"labels": {"alertname": "A", "service": "checkout"}}]);
    assert_eq!(post_status(&url, alert).await, 200);
    // The incident opens at once; its notification waits for group_wait.
    incident_with(&state, &url, "alerts_joined").await;
    running.abort().await;
    assert_eq!(hook.count(), 0);

    let running = start(dir.path(), &waiting(hook.port), clock.clone()).await;
    clock.advance(SignedDuration::from_secs(30));
    running.state.dispatch().await.unwrap();
    let (_, told) = hook.nth(1).await;
    assert_eq!(names(&told), [("A".into(), "firing".into())], "{told}");
    let url = format!("http://{}", running.addr);
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    assert_eq!(joined_counts(&shown), [1], "told once: {shown}");
    running.shutdown().await.unwrap();
}
