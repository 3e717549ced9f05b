//! Heartbeats as a cron job uses them: the real `curl` pings the URL; a
//! missed ping pages (an alert, an incident), a ping resolves it. Time runs
//! on an injected clock; the checker is run directly.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::{start_with_config, which};
use jiff::{SignedDuration, Timestamp};
use nines::clock::ManualClock;
use nines::serve::Running;
use serde_json::Value;

const CONFIG: &str = "apiVersion: nines/v1
kind: Service
metadata: {name: backups}
spec:
  heartbeats:
    - name: nightly
      every: 1d
      grace: 1h
";

async fn start(dir: &Path, clock: Arc<ManualClock>) -> Running {
    start_with_config(dir, CONFIG, None, clock).await
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// What a cron job runs: `curl -fsS URL`; returns (exit code, stdout+stderr).
async fn curl(url: String) -> (i32, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new("curl").args(["-fsS", &url]).output().unwrap()
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn missed(alerts: &Value) -> Vec<&Value> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "HeartbeatMissed")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_heartbeat_pages_and_a_curl_ping_resolves_it() {
    if which("curl").is_err() {
        eprintln!("skipped: curl is not installed (scripts/test installs it)");
        return;
    }
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let t0: Timestamp = "2026-11-21T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    let list = get(&format!("{url}/api/v1/heartbeats")).await;
    let hb = &list["heartbeats"][0];
    assert_eq!(hb["state"], "waiting", "{list}");
    assert_eq!(hb["ping_url"], "/api/v1/heartbeats/backups/nightly/ping");
    assert_eq!(hb["late_at"], "2026-11-22T03:00:00Z");

    // Not late until every + grace has passed.
    clock.advance(SignedDuration::from_hours(25) - SignedDuration::from_secs(1));
    state.check_heartbeats().await.unwrap();
    assert!(missed(&get(&format!("{url}/api/v2/alerts")).await).is_empty());

    clock.advance(SignedDuration::from_secs(2));
    state.check_heartbeats().await.unwrap();
    let alerts = get(&format!("{url}/api/v2/alerts")).await;
    let m = missed(&alerts);
    assert_eq!(m.len(), 1, "{alerts}");
    assert_eq!(m[0]["labels"]["service"], "backups");
    assert_eq!(m[0]["labels"]["heartbeat"], "nightly");
    assert_eq!(m[0]["labels"]["severity"], "critical");
    assert_eq!(m[0]["startsAt"], "2026-11-22T03:00:00.000Z");
    assert!(
        m[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("never pinged"),
        "{}",
        m[0]
    );
    state.dispatch().await.unwrap();
    let incidents = get(&format!("{url}/api/v1/incidents")).await;
    let inc = &incidents["incidents"][0];
    assert_eq!(inc["service"], "backups", "{incidents}");
    assert_eq!(inc["urgency"], "high");
    assert_eq!(inc["state"], "triggered");
    let id = inc["id"].as_i64().unwrap();

    // The job runs late and pings: the alert resolves, and the incident.
    let (code, out) = curl(format!("{url}/api/v1/heartbeats/backups/nightly/ping")).await;
    assert_eq!(code, 0, "{out}");
    let pinged: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pinged["state"], "up", "{pinged}");
    assert!(missed(&get(&format!("{url}/api/v2/alerts")).await).is_empty());
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    assert_eq!(shown["state"], "resolved", "{shown}");

    // An unknown heartbeat: curl -f fails, and the message names what exists.
    let (code, out) = curl(format!("{url}/api/v1/heartbeats/backups/weekly/ping")).await;
    assert_eq!(code, 22, "curl -f exits 22 on an HTTP error: {out}");
    let r = reqwest::get(format!("{url}/api/v1/heartbeats/backups/weekly/ping"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("known: backups/nightly"),
        "{body}"
    );

    // The ping survives a restart: the next deadline counts from it.
    running.shutdown().await.unwrap();
    clock.advance(SignedDuration::from_hours(24));
    let running = start(dir.path(), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    running.state.check_heartbeats().await.unwrap();
    assert!(missed(&get(&format!("{url}/api/v2/alerts")).await).is_empty());
    clock.advance(SignedDuration::from_hours(1) + SignedDuration::from_secs(1));
    running.state.check_heartbeats().await.unwrap();
    let alerts = get(&format!("{url}/api/v2/alerts")).await;
    let m = missed(&alerts);
    assert_eq!(m.len(), 1, "{alerts}");
    assert!(
        m[0]["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("no ping from heartbeat nightly of backups since"),
        "{}",
        m[0]
    );
    running.shutdown().await.unwrap();
}
