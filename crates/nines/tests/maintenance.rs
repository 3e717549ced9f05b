//! Maintenance windows, as a deploy script and an on-call engineer use
//! them: the real `nines` binary opens and ends windows against a running
//! server; alerts during a window are recorded as suppressed and page
//! nobody; when it ends, those still firing page as new. Time runs on an
//! injected clock.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{get, post_alerts, receiver, start_with_config};
use jiff::{SignedDuration, Timestamp};
use nines::clock::ManualClock;
use nines::serve::Running;
use serde_json::{Value, json};

fn config(hook_port: u16) -> String {
    format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: api}}
spec:
  owner: payments
  incidents: {{groupWait: 0s, groupInterval: 1m}}
  notify:
    - webhook: http://127.0.0.1:{hook_port}/api
---
apiVersion: nines/v1
kind: Service
metadata: {{name: worker}}
spec:
  owner: payments
  incidents: {{groupWait: 0s, groupInterval: 1m}}
  notify:
    - webhook: http://127.0.0.1:{hook_port}/worker
---
apiVersion: nines/v1
kind: Service
metadata: {{name: web}}
spec:
  incidents: {{groupWait: 0s, groupInterval: 1m}}
  notify:
    - webhook: http://127.0.0.1:{hook_port}/web
---
apiVersion: nines/v1
kind: Team
metadata: {{name: payments}}
spec: {{}}
---
apiVersion: openslo/v1
kind: SLO
metadata: {{name: api-availability}}
spec:
  service: api
  indicator:
    metadata: {{name: api-requests}}
    spec:
      ratioMetric:
        counter: true
        good: {{metricSource: {{type: push, spec: {{}}}}}}
        total: {{metricSource: {{type: push, spec: {{}}}}}}
  timeWindow:
    - duration: 1d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
"
    )
}

async fn start(dir: &Path, hook_port: u16, clock: Arc<ManualClock>) -> Running {
    start_with_config(dir, &config(hook_port), None, clock).await
}

/// Runs the real `nines` binary; returns (exit code, stdout, stderr).
async fn nines(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
            .args(&args)
            .env_remove("NINES_SERVER")
            .env_remove("NINES_MAINTENANCE_KEY")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn args(url: &str, a: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().map(|s| (*s).to_owned()).collect();
    v.push("--server".to_owned());
    v.push(url.to_owned());
    v
}

async fn send(method: reqwest::Method, url: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn open_incidents(url: &str) -> Vec<Value> {
    let v = get(&format!("{url}/api/v1/incidents?state=open")).await;
    v["incidents"].as_array().cloned().unwrap_or_default()
}

/// Alertmanager's view of one alert by alertname.
async fn am_alert(url: &str, name: &str) -> Value {
    let all = get(&format!("{url}/api/v2/alerts")).await;
    all.as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no alert {name} in {all}"))
}

/// No notification is waiting for `service`'s incidents (one delivered
/// just now may still be marked pending for a moment: other services'
/// are not looked at).
async fn no_pending_page(running: &Running, service: &str) {
    let pending: Vec<_> = running
        .state
        .store
        .due_notifications(Timestamp::MAX, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.body.contains(&format!("service=\\\"{service}\\\"")))
        .collect();
    assert!(
        pending.is_empty(),
        "a page was decided for {service}: {pending:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_script_opens_and_ends_a_window_and_nobody_is_paged_meanwhile() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), hook.port, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    // The deploy script opens a window for two services; retried with the
    // same key, it finds the same window.
    let start_args = args(
        &url,
        &[
            "maintenance",
            "start",
            "--service",
            "api,worker",
            "--for",
            "5m",
            "--reason",
            "deploy v1.4",
            "--by",
            "ci",
            "--key",
            "deploy-1",
        ],
    );
    let (code, out, err) = nines(start_args.clone()).await;
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_owned();
    assert_eq!(id.len(), 36, "the id alone on stdout: {out:?}");
    assert!(err.contains("deploy v1.4"), "{err}");
    let (code, again, _) = nines(start_args).await;
    assert_eq!(code, 0);
    assert_eq!(
        again.trim(),
        id,
        "a retry with the same key opens no second window"
    );
    let list = get(&format!("{url}/api/v1/maintenance")).await;
    assert_eq!(list["windows"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["windows"][0]["state"], "active");

    // During the window: the api's alert is recorded, suppressed by the
    // window, pages nobody and opens no incident; web's alert pages.
    post_alerts(
        &url,
        json!([
            {"labels": {"alertname": "HighErrorRate", "service": "api", "severity": "critical"}},
            {"labels": {"alertname": "Down", "service": "web", "severity": "critical"}},
        ]),
    )
    .await;
    state.dispatch().await.unwrap();
    let (_, web_page) = hook.nth(1).await;
    assert_eq!(web_page["alerts"][0]["labels"]["service"], "web");
    let held = am_alert(&url, "HighErrorRate").await;
    assert_eq!(held["status"]["state"], "suppressed", "{held}");
    assert_eq!(held["status"]["silencedBy"], json!([id]));
    let active_only = get(&format!("{url}/api/v2/alerts?silenced=false")).await;
    assert!(
        active_only
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["labels"]["alertname"] != "HighErrorRate"),
        "{active_only}"
    );
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "only web's incident: {open:?}");
    assert_eq!(open[0]["service"], "web");
    no_pending_page(&running, "api").await;

    let (code, shown, _) = nines(args(&url, &["maintenance", "show", &id])).await;
    assert_eq!(code, 0);
    assert!(shown.contains("holding  1 alert(s)"), "{shown}");
    assert!(shown.contains("alertname=HighErrorRate"), "{shown}");
    let (code, listed, _) = nines(args(&url, &["maintenance", "list"])).await;
    assert_eq!(code, 0);
    assert!(
        listed.contains(&id) && listed.contains("api,worker"),
        "{listed}"
    );

    // The deploy is done: the script ends the window. The alert still
    // firing now pages, as new.
    clock.advance(SignedDuration::from_secs(120));
    let (code, ended, err) = nines(args(&url, &["maintenance", "end", &id])).await;
    assert_eq!(code, 0, "{err}");
    assert!(ended.contains("expired"), "{ended}");
    state.dispatch().await.unwrap();
    let (_, page) = hook.nth(2).await;
    assert_eq!(page["alerts"][0]["labels"]["alertname"], "HighErrorRate");
    assert_eq!(page["status"], "firing");
    assert_eq!(hook.count(), 2);
    let held = am_alert(&url, "HighErrorRate").await;
    assert_eq!(held["status"]["state"], "active");

    // Refusals, each with its exit code and a message that names it.
    let (code, _, err) = nines(args(&url, &["maintenance", "end", &id])).await;
    assert_eq!(code, 1, "ending an expired window: {err}");
    assert!(err.contains("expired"), "{err}");
    let (code, _, err) = nines(args(&url, &["maintenance", "end", "nope"])).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("no maintenance window nope"), "{err}");
    for (bad, words) in [
        (
            vec!["--service", "billing", "--for", "5m"],
            "unknown service `billing`",
        ),
        (
            vec!["--service", "api", "--for", "30d"],
            "longer than the maximum of 168h",
        ),
        (
            vec![
                "--service",
                "api",
                "--at",
                "2026-11-21T12:00:00Z",
                "--until",
                "2026-11-21T11:00:00Z",
            ],
            "must end after it starts",
        ),
        (
            vec![
                "--service",
                "api",
                "--every",
                "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            ],
            "never occurs",
        ),
        (
            vec![
                "--service",
                "api",
                "--every",
                "FREQ=WEEKLY",
                "--tz",
                "Mars/Olympus",
            ],
            "not a known time zone",
        ),
        (vec!["--team", "nobody"], "unknown team `nobody`"),
        (vec!["--match", "cluster=~\"(\""], "selector"),
    ] {
        let mut a = vec!["maintenance", "start", "--reason", "x"];
        a.extend(bad.iter().copied());
        let (code, _, err) = nines(args(&url, &a)).await;
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(err.contains(words), "{bad:?}: {err}");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_over_an_open_incident_keeps_it_open_and_one_ending_while_down_pages_at_start() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), hook.port, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(
        &url,
        json!([{"labels": {"alertname": "QueueBacklog", "service": "worker", "severity": "critical"}}]),
    )
    .await;
    state.dispatch().await.unwrap();
    hook.nth(1).await;
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1);
    let incident = open[0]["id"].as_i64().unwrap();

    // The on-call engineer opens a window over the team while fixing: the
    // incident stays open (its alert is held, not resolved), and the
    // timeline says which window holds it.
    let (status, w) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance"),
        json!({"teams": ["payments"], "duration": "30m", "description": "draining the queue", "createdBy": "alice"}),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    let id = w["id"].as_str().unwrap().to_owned();
    clock.advance(SignedDuration::from_secs(60));
    state.dispatch().await.unwrap();
    let inc = get(&format!("{url}/api/v1/incidents/{incident}")).await;
    assert_ne!(inc["state"], "resolved", "{inc}");
    let left = inc["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "alerts_left")
        .unwrap_or_else(|| panic!("{inc}"));
    assert_eq!(
        left["details"]["alerts"][0]["heldBy"],
        json!([id]),
        "{left}"
    );
    no_pending_page(&running, "worker").await;

    // A new alert of the team during the window is held too.
    post_alerts(
        &url,
        json!([
            {"labels": {"alertname": "QueueBacklog", "service": "worker", "severity": "critical"}},
            {"labels": {"alertname": "Latency", "service": "api", "severity": "critical"}},
        ]),
    )
    .await;
    state.dispatch().await.unwrap();
    assert_eq!(
        am_alert(&url, "Latency").await["status"]["silencedBy"],
        json!([id])
    );
    assert_eq!(hook.count(), 1, "nothing paged during the window");

    // nines stops; the window ends while it is down; at start-up the alerts
    // still firing page.
    running.shutdown().await.unwrap();
    clock.advance(SignedDuration::from_secs(45 * 60));
    let running = start(dir.path(), hook.port, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    // The alerts are still firing (Prometheus re-sends them).
    post_alerts(
        &url,
        json!([
            {"labels": {"alertname": "QueueBacklog", "service": "worker", "severity": "critical"}},
            {"labels": {"alertname": "Latency", "service": "api", "severity": "critical"}},
        ]),
    )
    .await;
    running.state.dispatch().await.unwrap();
    let w = get(&format!("{url}/api/v1/maintenance/{id}")).await;
    assert_eq!(w["state"], "expired", "{w}");
    let (_, first) = hook.nth(2).await;
    let (_, second) = hook.nth(3).await;
    let mut paged: Vec<&str> = [&first, &second]
        .iter()
        .map(|p| p["alerts"][0]["labels"]["alertname"].as_str().unwrap())
        .collect();
    paged.sort_unstable();
    assert_eq!(paged, ["Latency", "QueueBacklog"]);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_window_holds_pages_every_sunday_at_two_in_paris_across_dst() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let clock = Arc::new(ManualClock::new("2026-10-10T12:00:00Z".parse().unwrap()));
    let running = start(dir.path(), hook.port, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let (status, w) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance"),
        json!({
            "services": ["api"],
            "startsAt": "2026-10-11T02:00:00",
            "duration": "1h",
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
            "timeZone": "Europe/Paris",
            "description": "weekly vacuum",
        }),
    )
    .await;
    assert_eq!(status, 201, "{w}");
    assert_eq!(w["state"], "pending");
    assert_eq!(w["next"]["startsAt"], "2026-10-11T00:00:00Z");
    let id = w["id"].as_str().unwrap().to_owned();

    // At each instant, is a fresh alert held? (02:00-03:00 Paris time.)
    let cases = [
        // Sunday 25 October, the day clocks go back: 02:30 CEST.
        ("2026-10-25T00:30:00Z", true),
        // 03:00 CEST has passed (and 02:xx CET, the second time, is not
        // another occurrence).
        ("2026-10-25T01:30:00Z", false),
        // Sunday 1 November, winter time: 02:30 CET.
        ("2026-11-01T01:30:00Z", true),
        ("2026-11-01T00:30:00Z", false),
        // A Monday at 02:30.
        ("2026-11-02T01:30:00Z", false),
        // Sunday 28 March 2027, clocks go forward: 02:00 does not exist,
        // the occurrence runs 03:00-04:00 CEST (01:00-02:00Z).
        ("2027-03-28T01:30:00Z", true),
        ("2027-03-28T00:30:00Z", false),
        // Summer time: 02:30 CEST.
        ("2027-04-04T00:30:00Z", true),
    ];
    for (i, (at, held)) in cases.iter().enumerate() {
        clock.set(at.parse().unwrap());
        let name = format!("Check{i}");
        post_alerts(
            &url,
            json!([{"labels": {"alertname": name, "service": "api", "severity": "critical"}, "endsAt": "2028-01-01T00:00:00Z"}]),
        )
        .await;
        state.dispatch().await.unwrap();
        let a = am_alert(&url, &name).await;
        let expected = if *held { json!([id]) } else { json!([]) };
        assert_eq!(a["status"]["silencedBy"], expected, "at {at}: {a}");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_shows_what_it_cost_in_error_budget_and_can_be_extended_or_cancelled() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let hook = receiver(0);
    let clock = Arc::new(ManualClock::new("2026-11-21T10:00:00Z".parse().unwrap()));
    let running = start(dir.path(), hook.port, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let post_events = |events: Value| {
        let url = url.clone();
        async move {
            let (status, v) = send(
                reqwest::Method::POST,
                &format!("{url}/api/v1/sli/events"),
                json!({ "events": events }),
            )
            .await;
            assert_eq!(status, 200, "{v}");
        }
    };
    // Before the window: 1000 good of 1000.
    post_events(json!([{"sli": "api-requests", "timestamp": "2026-11-21T09:30:00Z", "good": 1000, "total": 1000}])).await;
    let (_, w) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance"),
        json!({"services": ["api"], "startsAt": "2026-11-21T09:59:00Z", "duration": "10m", "description": "migration"}),
    )
    .await;
    let id = w["id"].as_str().unwrap().to_owned();
    // During it: 20 bad of 1000.
    post_events(json!([{"sli": "api-requests", "timestamp": "2026-11-21T10:00:00Z", "good": 980, "total": 1000}])).await;
    clock.advance(SignedDuration::from_secs(120));
    let shown = get(&format!("{url}/api/v1/maintenance/{id}")).await;
    let cost = &shown["budget"][0];
    assert_eq!(cost["slo"], "api-availability", "{shown}");
    assert_eq!(cost["bad"], 20.0);
    assert_eq!(cost["total"], 1000.0);
    // The day's budget is 1 % of 2000 events = 20: the window spent all of it.
    assert!(
        (cost["budgetShare"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{cost}"
    );
    // The SLO reports both figures: with the window's events and without.
    let slo = get(&format!("{url}/api/v1/slos/api-availability")).await;
    let o = &slo["objectives"][0];
    assert!((o["sli"].as_f64().unwrap() - 0.99).abs() < 1e-9, "{slo}");
    assert_eq!(o["sli_without_maintenance"], 1.0, "{slo}");

    // Extend by 15 minutes; a recurring window cannot be; an expired one
    // cannot be cancelled.
    let (status, ext) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance/{id}/extend"),
        json!({"by": "15m"}),
    )
    .await;
    assert_eq!(status, 200, "{ext}");
    assert_eq!(ext["endsAt"], "2026-11-21T10:24:00Z");
    let (status, e) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance/{id}/extend"),
        json!({"by": "8d"}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    let (status, pending) = send(
        reqwest::Method::POST,
        &format!("{url}/api/v1/maintenance"),
        json!({"services": ["web"], "startsAt": "2026-11-22T10:00:00Z", "duration": "1h", "description": "later"}),
    )
    .await;
    assert_eq!(status, 201);
    let later = pending["id"].as_str().unwrap();
    let (status, c) = send(
        reqwest::Method::DELETE,
        &format!("{url}/api/v1/maintenance/{later}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["state"], "cancelled");
    let (status, c) = send(
        reqwest::Method::DELETE,
        &format!("{url}/api/v1/maintenance/{later}"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "{c}");
    let all = get(&format!("{url}/api/v1/maintenance?state=all")).await;
    assert_eq!(all["windows"].as_array().unwrap().len(), 2);
    let current = get(&format!("{url}/api/v1/maintenance")).await;
    assert_eq!(current["windows"].as_array().unwrap().len(), 1);

    // Malformed requests name the problem.
    for (body, words) in [
        (json!({"services": ["api"]}), "say why"),
        (
            json!({"services": ["api"], "description": "x", "duration": "5m", "endsAt": "2026-11-21T11:00:00Z"}),
            "not both",
        ),
        (
            json!({"services": ["api"], "description": "x", "color": "red"}),
            "unknown field `color`",
        ),
        (
            json!({"services": ["api"], "description": "x", "startsAt": "tomorrow"}),
            "not a time",
        ),
        (
            json!({"services": ["api"], "description": "x", "timeZone": "Europe/Paris"}),
            "give rrule too",
        ),
        (json!({"description": "x"}), "must cover something"),
    ] {
        let (status, v) = send(
            reqwest::Method::POST,
            &format!("{url}/api/v1/maintenance"),
            body.clone(),
        )
        .await;
        assert_eq!(status, 400, "{body}: {v}");
        let m = v["message"].as_str().unwrap();
        assert!(m.contains(words), "{body}: {m}");
    }
    running.shutdown().await.unwrap();
}
