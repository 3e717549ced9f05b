//! nines as an Alertmanager, driven by the real clients: Debian's `amtool`
//! (package `prometheus-alertmanager`) and a real `prometheus` whose rule
//! fires and resolves. scripts/test installs both; each test is skipped, and
//! says so, where its program is missing.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{free_port, receiver, spawn_prometheus, start_with_config, which};
use nines::clock::SystemClock;
use nines::serve::Running;
use serde_json::Value;

async fn start(dir: &Path) -> Running {
    start_with(dir, None, Arc::new(SystemClock)).await
}

async fn start_with(dir: &Path, am: Option<&Path>, clock: Arc<dyn nines::clock::Clock>) -> Running {
    start_with_config(
        dir,
        "apiVersion: nines/v1\nkind: Service\nmetadata: {name: checkout}\nspec: {owner: payments}\n---\napiVersion: nines/v1\nkind: Team\nmetadata: {name: payments}\nspec: {}\n",
        am,
        clock,
    )
    .await
}

/// Runs amtool against `url`; returns stdout, failing the test on a
/// non-zero exit.
async fn amtool(url: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("amtool");
    cmd.arg(format!("--alertmanager.url={url}")).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn alerts(url: &str, query: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{url}/api/v2/alerts{query}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array().unwrap().clone()
}

#[tokio::test]
async fn amtool_adds_queries_silences_and_expires() {
    if which("amtool").is_err() {
        eprintln!(
            "SKIPPED: amtool test: no `amtool` (scripts/test installs Debian's prometheus-alertmanager)"
        );
        return;
    }
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let url = format!("http://{}", running.addr);

    amtool(
        &url,
        &[
            "alert",
            "add",
            "alertname=Foo",
            "service=checkout",
            "--annotation=summary=amtool test",
        ],
    )
    .await;
    let table = amtool(&url, &["alert", "query"]).await;
    assert!(
        table.contains("Foo") && table.contains("amtool test") && table.contains("active"),
        "{table}"
    );

    let id = amtool(
        &url,
        &[
            "silence",
            "add",
            "alertname=Foo",
            "--duration=1h",
            "--comment=test",
        ],
    )
    .await;
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "amtool prints the new silence's UUID: {id}");
    let table = amtool(&url, &["silence", "query"]).await;
    assert!(
        table.contains(&id) && table.contains("alertname=\"Foo\"") && table.contains("test"),
        "{table}"
    );
    let json: Value =
        serde_json::from_str(&amtool(&url, &["silence", "query", "-o", "json"]).await).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"]["state"], "active");
    assert_eq!(
        json[0]["matchers"][0],
        serde_json::json!({"isEqual": true, "isRegex": false, "name": "alertname", "value": "Foo"})
    );
    assert_eq!(amtool(&url, &["silence", "query", "-q"]).await.trim(), id);

    // Silenced: hidden from a plain query, shown as suppressed on request.
    let table = amtool(&url, &["alert", "query"]).await;
    assert!(!table.contains("Foo"), "{table}");
    let table = amtool(&url, &["alert", "query", "--silenced", "alertname=Foo"]).await;
    assert!(
        table.contains("Foo") && table.contains("suppressed"),
        "{table}"
    );
    let api = alerts(&url, "?filter=alertname%3D%22Foo%22").await;
    assert_eq!(api[0]["status"]["silencedBy"][0], id.as_str());
    assert_eq!(api[0]["status"]["state"], "suppressed");
    assert_eq!(api[0]["receivers"][0]["name"], "nines");

    // The alert and the silence survive a restart.
    running.shutdown().await.unwrap();
    let running = start(dir.path()).await;
    let url = format!("http://{}", running.addr);
    let api = alerts(&url, "").await;
    assert_eq!(api.len(), 1, "{api:?}");
    assert_eq!(api[0]["status"]["silencedBy"][0], id.as_str());

    amtool(&url, &["silence", "expire", &id]).await;
    let table = amtool(&url, &["silence", "query", "--expired"]).await;
    assert!(table.contains(&id), "{table}");
    let table = amtool(&url, &["alert", "query"]).await;
    assert!(table.contains("Foo") && table.contains("active"), "{table}");
    running.shutdown().await.unwrap();
}

/// An exporter whose `demo_up` the test flips.
fn exporter(up: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let v = u8::from(up.load(Ordering::SeqCst));
            let body = format!("# TYPE demo_up gauge\ndemo_up{{service=\"checkout\"}} {v}\n");
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Waits until `check` holds for nines' alerts, looking again each time
/// nines commits alerts (Prometheus sends them on its own schedule).
async fn until(
    state: &nines::serve::AppState,
    url: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    common::until_progress_within(Duration::from_secs(90), &[state], what, || async {
        let list = alerts(url, "").await;
        check(&list).then_some(list)
    })
    .await
}

#[tokio::test]
async fn a_prometheus_rule_fires_and_resolves_through_nines() {
    let Ok(prometheus) = which("prometheus") else {
        eprintln!(
            "SKIPPED: Prometheus alerting test: no `prometheus` (scripts/test installs Debian's)"
        );
        return;
    };
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let url = format!("http://{}", running.addr);
    let up = Arc::new(AtomicBool::new(false));
    let exporter_port = exporter(up.clone());
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: demo\n    rules:\n      - alert: CheckoutDown\n        expr: demo_up == 0\n        labels: {severity: critical}\n        annotations: {summary: checkout is down}\n",
    )
    .unwrap();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{rules}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['{nines}']}}]\nscrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n",
            rules = dir.path().join("rules.yml").display(),
            nines = running.addr,
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prometheus = spawn_prometheus(&prometheus, &prom_config, dir.path(), prom_port);
    let firing = until(&running.state, &url, "CheckoutDown firing", |l| {
        l.iter().any(|a| a["labels"]["alertname"] == "CheckoutDown")
    })
    .await;
    let a = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "CheckoutDown")
        .unwrap();
    assert_eq!(a["labels"]["service"], "checkout");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["summary"], "checkout is down");
    assert!(
        a["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{a}"
    );
    assert_eq!(a["status"]["state"], "active");

    up.store(true, Ordering::SeqCst);
    // Prometheus sends the resolution (an endsAt in the past); a resolved
    // alert leaves the active list, as in Alertmanager.
    until(&running.state, &url, "CheckoutDown resolved", |l| {
        !l.iter().any(|a| a["labels"]["alertname"] == "CheckoutDown")
    })
    .await;
    running.shutdown().await.unwrap();
}

async fn post(url: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v2/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_follow_an_alertmanager_config_with_grouping_inhibition_and_retries() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // The first delivery fails: it is retried with the same idempotency key.
    let hook = receiver(1);
    let am = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am,
        format!(
            "route:\n  receiver: hook\n  group_by: [alertname, service]\n  group_wait: 0s\n  group_interval: 1m\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs: [{{url: 'http://127.0.0.1:{}/hook'}}]\ninhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [alertname, service]\n",
            hook.port
        ),
    )
    .unwrap();
    let t0: jiff::Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(nines::clock::ManualClock::new(t0));
    let running = start_with(dir.path(), Some(&am), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    let receivers: Value = reqwest::get(format!("{url}/api/v2/receivers"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(receivers, serde_json::json!([{"name": "hook"}]));

    post(&url, serde_json::json!([{"labels": {"alertname": "HighErrors", "service": "checkout", "severity": "critical", "pod": "a"}}])).await;
    // group_wait 0s: decided at once; the first attempt fails (500), and the
    // retry comes after the backoff, on nines' clock.
    common::until_progress(&[&state], "a failed first attempt", || async {
        let pending = state
            .store
            .due_notifications(jiff::Timestamp::MAX, 10)
            .await
            .unwrap();
        pending
            .first()
            .is_some_and(|n| n.attempts == 1)
            .then_some(())
    })
    .await;
    assert_eq!(hook.count(), 0);
    clock.advance(jiff::SignedDuration::from_secs(2));
    state.outbox_wake.notify_one();
    let (key, first) = hook.nth(1).await;
    assert!(
        key.starts_with("nines-"),
        "every request carries an idempotency key: {key:?}"
    );
    assert_eq!(first["version"], "4");
    assert_eq!(first["receiver"], "hook");
    assert_eq!(first["status"], "firing");
    assert_eq!(
        first["groupKey"],
        "{}:{alertname=\"HighErrors\", service=\"checkout\"}"
    );
    assert_eq!(
        first["groupLabels"],
        serde_json::json!({"alertname": "HighErrors", "service": "checkout"})
    );
    assert_eq!(first["truncatedAlerts"], 0);
    assert_eq!(first["externalURL"], url.as_str());
    let alert = &first["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alert["startsAt"], "2026-11-21T10:00:00.000Z");
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    for k in ["labels", "annotations", "generatorURL"] {
        assert!(alert.get(k).is_some(), "{k} missing: {alert}");
    }

    // A warning with the same alertname and service is inhibited by the
    // critical one, and shows it.
    post(&url, serde_json::json!([{"labels": {"alertname": "HighErrors", "service": "checkout", "severity": "warning", "pod": "b"}}])).await;
    let list = alerts(&url, "?filter=severity%3D%22warning%22").await;
    assert_eq!(list[0]["status"]["state"], "suppressed", "{list:?}");
    assert_eq!(list[0]["status"]["inhibitedBy"][0], alert["fingerprint"]);
    let shown = alerts(&url, "?inhibited=false").await;
    assert_eq!(shown.len(), 1, "{shown:?}");

    // Resolving the critical alert: the incident updates at once, and so
    // does the webhook, a receiver read by programs (it hears of a change
    // as soon as the group's pace allows; `tests/incidents.rs` has people
    // waiting for group_interval). It carries the resolution and the
    // warning, no longer inhibited.
    post(&url, serde_json::json!([{"labels": {"alertname": "HighErrors", "service": "checkout", "severity": "critical", "pod": "a"}, "endsAt": "2026-11-21T10:00:00Z"}])).await;
    state.dispatch().await.unwrap();
    let (key2, second) = hook.nth(2).await;
    assert_ne!(key2, key);
    assert_eq!(second["status"], "firing");
    let statuses: Vec<(String, String)> = second["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["labels"]["severity"].as_str().unwrap().to_owned(),
                a["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("warning".to_owned(), "firing".to_owned()),
            ("critical".to_owned(), "resolved".to_owned())
        ]
    );
    let incidents: Value = reqwest::get(format!("{url}/api/v1/incidents"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        incidents["incidents"].as_array().unwrap().len(),
        1,
        "one group, one incident: {incidents}"
    );
    let id = incidents["incidents"][0]["id"].as_i64().unwrap();
    let shown: Value = reqwest::get(format!("{url}/api/v1/incidents/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "opened",
        "alerts_joined",
        "notification_retry",
        "notification_delivered",
        "alerts_left",
    ] {
        assert!(
            kinds.contains(&k),
            "{k} missing from the timeline: {kinds:?}"
        );
    }
    // Two hours on, both alerts have long ended: pruning forgets them in
    // memory and in the store.
    assert_eq!(
        state
            .store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap()
            .len(),
        2
    );
    clock.advance(jiff::SignedDuration::from_secs(2 * 3600));
    state.alerts.prune(state.clock.now()).await.unwrap();
    assert_eq!(
        state
            .store
            .alerts_ending_after(jiff::Timestamp::MIN)
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(state.alerts.read(|st| st.alerts.len()), 0);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_whose_alerts_ended_while_nines_was_down_resolves_at_start_up() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let t0: jiff::Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(nines::clock::ManualClock::new(t0));
    let running = start_with(dir.path(), None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    post(
        &url,
        serde_json::json!([{"labels": {"alertname": "Down", "service": "checkout"}}]),
    )
    .await;
    running.state.dispatch().await.unwrap();
    let list: Value = reqwest::get(format!("{url}/api/v1/incidents"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["incidents"][0]["state"], "triggered", "{list}");
    running.shutdown().await.unwrap();

    // Down for two hours: the alert (endsAt defaulted to +5m) ended long ago.
    clock.advance(jiff::SignedDuration::from_secs(2 * 3600));
    let running = start_with(dir.path(), None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    running.state.dispatch().await.unwrap();
    let shown: Value = reqwest::get(format!("{url}/api/v1/incidents/1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["state"], "resolved", "{shown}");
    running.shutdown().await.unwrap();
}
