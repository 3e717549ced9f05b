//! Notification channels with real peers: a real SMTP server (aiosmtpd,
//! installed into target/test-venv by scripts/test) that receives nines'
//! emails and refuses one recipient; recording HTTP receivers for the
//! Slack and generic JSON bodies; and PagerDuty forwarding checked twice,
//! on the request body and by a second nines that implements the Events
//! API v2 intake opening and resolving an incident from it. Time runs on
//! an injected clock.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{Killed, free_port, get, post_alerts, receiver};
use jiff::{SignedDuration, Timestamp};
use nines::alerts::channels::email::SmtpServer;
use nines::clock::{Clock as _, ManualClock};
use nines::serve::Running;
use serde_json::{Value, json};

async fn start(
    dir: &Path,
    services_yaml: &str,
    smtp: Option<SmtpServer>,
    clock: Arc<ManualClock>,
) -> Running {
    let cfg = dir.join("config");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::write(cfg.join("services.yaml"), services_yaml).unwrap();
    nines::serve::start(
        nines::serve::Options {
            config_path: cfg,
            data_dir: dir.join("data"),
            store_url: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 1 << 20,
            max_maintenance: nines::serve::DEFAULT_MAX_MAINTENANCE,
            eval_interval: None,
            alertmanager_config: None,
            smtp,
            delivery_timeout: nines::serve::DEFAULT_DELIVERY_TIMEOUT,
            page_limit: None,
            pace_machines: true,
        },
        clock,
    )
    .await
    .unwrap()
}

/// Waits until `check` holds of the JSON at `url`, looking again whenever
/// one of `servers` has written something (the delivery worker runs on its
/// own); the clock does not move meanwhile.
async fn until(
    servers: &[&nines::serve::AppState],
    url: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    common::until_progress(servers, what, || async {
        let v = get(url).await;
        check(&v).then_some(v)
    })
    .await
}

fn events<'a>(incident: &'a Value, kind: &str, target: &str) -> Vec<&'a Value> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind && e["details"]["target"] == target)
        .collect()
}

/// A real SMTP server on loopback: the messages it accepted, one JSON
/// object each (parsed by Python's email package).
struct Smtp {
    port: u16,
    mail: tokio::sync::mpsc::UnboundedReceiver<Value>,
    _child: Killed,
}

fn smtp_server(py: &Path) -> Smtp {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/smtp_server.py");
    let mut child = Command::new(py)
        .arg(script)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = lines.next().expect("the SMTP server stopped").unwrap();
    assert_eq!(ready, "ready");
    let (tx, mail) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str::<Value>(&line).unwrap());
        }
    });
    Smtp {
        port,
        mail,
        _child: Killed(child),
    }
}

impl Smtp {
    /// The next message accepted; on a timeout, the incidents of nines at
    /// `url` say what happened to the deliveries.
    async fn next(&mut self, url: &str) -> Value {
        match tokio::time::timeout(Duration::from_secs(20), self.mail.recv()).await {
            Ok(m) => m.expect("the SMTP server stopped"),
            Err(_) => panic!(
                "no email arrived: {}",
                get(&format!("{url}/api/v1/incidents/1")).await
            ),
        }
    }
}

fn burn_alert(instance: &str, ends: Option<&str>) -> Value {
    let mut a = json!({
        "labels": {
            "alertname": "HighErrorRate", "service": "checkout", "severity": "critical",
            "environment": "prod", "region": "eu-west-1", "instance": instance,
            "slo": "checkout-availability",
        },
        "annotations": {
            "summary": "checkout availability: error budget burning 14.4x too fast (page)",
            "description": "37.5 % of the error budget of checkout-availability is spent.",
            "burn_rate": "14.4x", "budget_remaining": "62.5 %", "time_to_exhaustion": "1d 1h",
        },
        "generatorURL": "http://prometheus.example.com/graph?g0.expr=errors",
    });
    if let Some(e) = ends {
        a["endsAt"] = json!(e);
    }
    a
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_slack_and_json_tell_what_where_how_badly_and_how_to_act() {
    let Some(py) = common::python_with("aiosmtpd") else {
        eprintln!(
            "SKIPPED: channel test: no Python with the `aiosmtpd` package (scripts/test installs it in target/test-venv)"
        );
        return;
    };
    nines::install_crypto_provider();
    let mut smtp = smtp_server(&py);
    let slack = receiver(0);
    let hook = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  runbook: https://runbooks.example.com/checkout
  notify:
    - email: oncall@example.com
    - email: nobody@example.com
    - slack: http://127.0.0.1:{}/services/T000/B000/SLACKTOKEN
    - webhook: http://127.0.0.1:{}/nines
      format: json
",
        slack.port, hook.port
    );
    let server = SmtpServer {
        host: "127.0.0.1".to_owned(),
        port: smtp.port,
        from: "nines@example.com".to_owned(),
        hello: "nines.test".to_owned(),
        username: None,
        password: None,
        require_tls: false,
    };
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, Some(server), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(&url, json!([burn_alert("a", None), burn_alert("b", None)])).await;
    state.dispatch().await.unwrap();

    // The email: multipart, a subject that says what, where and how urgent.
    let mail = smtp.next(&url).await;
    assert_eq!(mail["rcpt_tos"], json!(["oncall@example.com"]), "{mail}");
    assert_eq!(mail["mail_from"], "nines@example.com");
    assert_eq!(mail["ehlo"], "nines.test");
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert_eq!(
        mail["subject"],
        "[FIRING:2] HighErrorRate checkout (high urgency)"
    );
    assert!(
        mail["message_id"].as_str().unwrap().starts_with("<nines-"),
        "{mail}"
    );
    let text = mail["text"].as_str().unwrap();
    let id = 1;
    for needle in [
        format!("Incident #{id} on checkout, high urgency, triggered"),
        "[FIRING] HighErrorRate".to_owned(),
        "error budget burning 14.4x too fast".to_owned(),
        "environment: prod".to_owned(),
        "region: eu-west-1".to_owned(),
        "SLO: checkout-availability".to_owned(),
        "burn rate: 14.4x".to_owned(),
        "budget left: 62.5 %".to_owned(),
        "time to exhaustion: 1d 1h".to_owned(),
        "runbook: https://runbooks.example.com/checkout".to_owned(),
        format!("Incident: {url}/api/v1/incidents/{id}"),
        format!("Acknowledge: POST {url}/api/v1/incidents/{id}/ack"),
        format!("Resolve: POST {url}/api/v1/incidents/{id}/resolve"),
    ] {
        assert!(text.contains(&needle), "no {needle:?} in:\n{text}");
    }
    let html = mail["html"].as_str().unwrap();
    assert!(
        html.contains(&format!("<a href=\"{url}/api/v1/incidents/{id}/ack\">")),
        "{html}"
    );
    assert!(
        html.contains(
            "<th style=\"text-align: left; padding-right: 1em\">budget left</th><td>62.5 %</td>"
        ),
        "{html}"
    );

    // Slack: a fallback text and blocks.
    let (_, s) = slack.nth(1).await;
    assert_eq!(
        s["text"],
        ":red_circle: [FIRING:2] HighErrorRate checkout (high urgency)"
    );
    let blocks = s["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let sections: Vec<&str> = blocks
        .iter()
        .filter(|b| b["type"] == "section")
        .map(|b| b["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(sections.len(), 3, "the lead and one per alert: {s}");
    assert!(sections[1].contains("*[FIRING] HighErrorRate*"), "{s}");
    assert!(sections[1].contains("*burn rate:* 14.4x"), "{s}");
    assert!(
        sections[1].contains("<https://runbooks.example.com/checkout|runbook>"),
        "{s}"
    );
    let links = blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert!(
        links.contains(&format!(
            "<{url}/api/v1/incidents/{id}/ack|Acknowledge> (POST)"
        )),
        "{links}"
    );

    // The generic JSON event.
    let (key, j) = hook.nth(1).await;
    assert!(key.starts_with("nines-"), "{key}");
    assert_eq!(j["version"], "1");
    assert_eq!(j["kind"], "incident");
    assert_eq!(j["status"], "firing");
    assert_eq!(j["incident"]["id"], id);
    assert_eq!(j["incident"]["state"], "triggered");
    assert_eq!(j["incident"]["urgency"], "high");
    assert_eq!(j["service"], "checkout");
    assert_eq!(
        j["title"],
        "checkout availability: error budget burning 14.4x too fast (page)"
    );
    assert_eq!(j["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(j["alerts"][0]["labels"]["region"], "eu-west-1");
    assert_eq!(j["alerts"][0]["annotations"]["burn_rate"], "14.4x");
    assert_eq!(j["alerts"][0]["endsAt"], Value::Null);
    assert_eq!(
        j["links"],
        json!({
            "incident": format!("{url}/api/v1/incidents/{id}"),
            "acknowledge": format!("{url}/api/v1/incidents/{id}/ack"),
            "resolve": format!("{url}/api/v1/incidents/{id}/resolve"),
        })
    );

    // The server refuses nobody@: said on the timeline with its reply,
    // once (a permanent refusal is not retried), never dropped silently.
    let shown = until(
        &[&state],
        &format!("{url}/api/v1/incidents/{id}"),
        "the refused email on the timeline",
        |v| !events(v, "notification_failed", "mailto:nobody@example.com").is_empty(),
    )
    .await;
    let failed = events(&shown, "notification_failed", "mailto:nobody@example.com");
    let error = failed[0]["details"]["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("the SMTP server 127.0.0.1:{} answered", smtp.port))
            && error.contains("550")
            && error.contains("Recipient address rejected"),
        "{error}"
    );
    assert!(
        events(&shown, "notification_retry", "mailto:nobody@example.com").is_empty(),
        "{shown}"
    );
    let shown = until(
        &[&state],
        &format!("{url}/api/v1/incidents/{id}"),
        "every other delivery on the timeline",
        |v| {
            v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "notification_delivered")
                .count()
                == 3
        },
    )
    .await;
    // The Slack URL carries a token: the timeline names it without it.
    let timeline = shown["timeline"].to_string();
    assert!(!timeline.contains("SLACKTOKEN"), "{timeline}");
    assert!(timeline.contains("slack:127.0.0.1:"), "{timeline}");

    // Resolved: every channel says so.
    let now = clock.now().to_string();
    post_alerts(
        &url,
        json!([burn_alert("a", Some(&now)), burn_alert("b", Some(&now))]),
    )
    .await;
    state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_secs(60));
    state.dispatch().await.unwrap();
    let mail = smtp.next(&url).await;
    assert_eq!(
        mail["subject"], "[RESOLVED] HighErrorRate checkout",
        "{mail}"
    );
    assert!(
        mail["text"]
            .as_str()
            .unwrap()
            .contains("[RESOLVED] HighErrorRate"),
        "{mail}"
    );
    let (_, s) = slack.nth(2).await;
    assert_eq!(
        s["text"],
        ":white_check_mark: [RESOLVED] HighErrorRate checkout"
    );
    let (_, j) = hook.nth(2).await;
    assert_eq!(j["status"], "resolved");
    assert_eq!(j["incident"]["state"], "resolved");
    assert!(j["alerts"][0]["endsAt"].is_string(), "{j}");
    assert_eq!(
        j["links"],
        json!({"incident": format!("{url}/api/v1/incidents/{id}")}),
        "a resolved incident has nothing left to act on"
    );
    running.shutdown().await.unwrap();
}

const KEY: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_forwarding_opens_acknowledges_and_resolves_an_incident_in_a_second_nines() {
    nines::install_crypto_provider();
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    // B: a nines taking PagerDuty Events API v2 events for its service.
    let dir_b = tempfile::tempdir().unwrap();
    let clock_b = Arc::new(ManualClock::new(t0));
    let b = start(
        dir_b.path(),
        &format!("apiVersion: nines/v1\nkind: Service\nmetadata: {{name: payments-upstream}}\nspec:\n  integrations: [{{name: nines-a, routingKey: {KEY}}}]\n"),
        None,
        clock_b,
    )
    .await;
    let url_b = format!("http://{}", b.addr);
    // A forwards its incidents to B, and to a recording receiver.
    let recorder = receiver(0);
    let dir_a = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir_a.path().join("config")).unwrap();
    std::fs::write(dir_a.path().join("config/pd-key"), format!("{KEY}\n")).unwrap();
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  notify:
    - pagerduty:
        routingKey: {KEY}
        url: http://127.0.0.1:{}
    - pagerduty:
        routingKey: {{fromFile: pd-key}}
        url: {url_b}
",
        recorder.port
    );
    let clock = Arc::new(ManualClock::new(t0));
    let a = start(dir_a.path(), &config, None, clock.clone()).await;
    let url_a = format!("http://{}", a.addr);

    post_alerts(&url_a, json!([burn_alert("a", None)])).await;
    a.state.dispatch().await.unwrap();
    let (_, trigger) = recorder.nth(1).await;
    assert_eq!(trigger["routing_key"], KEY);
    assert_eq!(trigger["event_action"], "trigger");
    let dedup_key = trigger["dedup_key"].as_str().unwrap().to_owned();
    assert!(
        dedup_key.starts_with("nines-") && dedup_key.ends_with("-1"),
        "{dedup_key}"
    );
    let p = &trigger["payload"];
    assert_eq!(
        p["summary"],
        "[FIRING:1] HighErrorRate checkout (high urgency)"
    );
    assert_eq!(p["source"], "checkout");
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["class"], "HighErrorRate");
    assert_eq!(p["custom_details"]["urgency"], "high");
    assert_eq!(
        p["custom_details"]["firing"][0]["facts"]["burn rate"],
        "14.4x"
    );
    assert_eq!(trigger["client_url"], format!("{url_a}/api/v1/incidents/1"));

    // B took the event: an incident of its own, keyed by A's dedup key.
    let list = until(
        &[&a.state, &b.state],
        &format!("{url_b}/api/v1/incidents?state=open"),
        "an incident in B",
        |v| v["incidents"].as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    let inc_b = &list["incidents"][0];
    assert_eq!(inc_b["service"], "payments-upstream", "{inc_b}");
    assert_eq!(inc_b["urgency"], "high", "{inc_b}");
    let alerts_b = get(&format!("{url_b}/api/v2/alerts")).await;
    assert_eq!(alerts_b[0]["labels"]["dedup_key"], dedup_key, "{alerts_b}");
    assert_eq!(
        alerts_b[0]["annotations"]["summary"],
        "[FIRING:1] HighErrorRate checkout (high urgency)"
    );

    // Acknowledged in A by a person: forwarded, with the same dedup key.
    let r = reqwest::Client::new()
        .post(format!("{url_a}/api/v1/incidents/1/ack"))
        .json(&json!({"by": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, ack) = recorder.nth(2).await;
    assert_eq!(
        ack,
        json!({"routing_key": KEY, "event_action": "acknowledge", "dedup_key": dedup_key})
    );
    let id_b = inc_b["id"].as_i64().unwrap();
    let shown_b = until(
        &[&a.state, &b.state],
        &format!("{url_b}/api/v1/incidents/{id_b}"),
        "B's incident acknowledged",
        |v| v["state"] == "acknowledged",
    )
    .await;
    assert!(
        shown_b["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "acknowledged" && e["actor"] == "pagerduty:nines-a"),
        "{shown_b}"
    );

    // Resolved in A: a resolve with the same dedup key, and B resolves.
    let now = clock.now().to_string();
    post_alerts(&url_a, json!([burn_alert("a", Some(&now))])).await;
    a.state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_secs(60));
    a.state.dispatch().await.unwrap();
    let (_, resolve) = recorder.nth(3).await;
    assert_eq!(
        resolve,
        json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": dedup_key})
    );
    until(
        &[&a.state, &b.state],
        &format!("{url_b}/api/v1/incidents/{id_b}"),
        "B's incident resolved",
        |v| v["state"] == "resolved",
    )
    .await;
    // A's timeline names both targets without their routing key.
    let shown = until(
        &[&a.state, &b.state],
        &format!("{url_a}/api/v1/incidents/1"),
        "six deliveries on A's timeline",
        |v| {
            v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["kind"] == "notification_delivered")
                .count()
                == 6
        },
    )
    .await;
    let timeline = shown["timeline"].to_string();
    assert!(!timeline.contains(KEY), "{timeline}");
    assert!(timeline.contains("pagerduty:127.0.0.1:"), "{timeline}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_email_slack_and_pagerduty_receivers_are_delivered_and_their_secrets_kept() {
    let Some(py) = common::python_with("aiosmtpd") else {
        eprintln!(
            "SKIPPED: alertmanager receivers test: no Python with the `aiosmtpd` package (scripts/test installs it in target/test-venv)"
        );
        return;
    };
    nines::install_crypto_provider();
    let mut smtp = smtp_server(&py);
    let slack = receiver(0);
    let pd = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    let am = dir.path().join("alertmanager.yml");
    std::fs::write(
        &am,
        format!(
            "global:
  smtp_smarthost: '127.0.0.1:{}'
  smtp_from: 'alertmanager@example.com'
  smtp_require_tls: false
route:
  receiver: team
  group_by: ['alertname']
  group_wait: 0s
receivers:
  - name: team
    email_configs:
      - to: 'team@example.com, lead@example.com'
        headers: {{Reply-To: 'lead@example.com'}}
    slack_configs:
      - {{api_url: 'http://127.0.0.1:{}/services/T/B/SLACKSECRET', channel: '#ops'}}
    pagerduty_configs:
      - {{routing_key: 'PDSECRETKEY', url: 'http://127.0.0.1:{}/v2/enqueue'}}
",
            smtp.port, slack.port, pd.port
        ),
    )
    .unwrap();
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = common::start_with_config(
        dir.path(),
        "apiVersion: nines/v1\nkind: Service\nmetadata: {name: checkout}\nspec: {}\n",
        Some(&am),
        clock,
    )
    .await;
    let url = format!("http://{}", running.addr);
    post_alerts(&url, json!([burn_alert("a", None)])).await;
    running.state.dispatch().await.unwrap();

    let mail = smtp.next(&url).await;
    assert_eq!(
        mail["rcpt_tos"],
        json!(["team@example.com", "lead@example.com"]),
        "{mail}"
    );
    assert_eq!(mail["mail_from"], "alertmanager@example.com");
    assert_eq!(
        mail["subject"],
        "[FIRING:1] HighErrorRate checkout (high urgency)"
    );
    let (_, s) = slack.nth(1).await;
    assert_eq!(s["channel"], "#ops", "{s}");
    assert_eq!(
        s["text"],
        ":red_circle: [FIRING:1] HighErrorRate checkout (high urgency)"
    );
    let (_, p) = pd.nth(1).await;
    assert_eq!(p["routing_key"], "PDSECRETKEY");
    assert_eq!(p["event_action"], "trigger");
    assert_eq!(
        p["payload"]["severity"], "error",
        "Alertmanager's default severity"
    );

    // The configuration nines shows (as Alertmanager does) hides them.
    let status = get(&format!("{url}/api/v2/status")).await;
    let original = status["config"]["original"].as_str().unwrap();
    for secret in ["SLACKSECRET", "PDSECRETKEY"] {
        assert!(!original.contains(secret), "{original}");
    }
    assert!(original.contains("routing_key: <secret>"), "{original}");
    let shown = get(&format!("{url}/api/v1/incidents/1")).await.to_string();
    for secret in ["SLACKSECRET", "PDSECRETKEY"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    running.shutdown().await.unwrap();
}

/// Waits until the (only) pending notification has had `n` attempts.
async fn attempts_reach(state: &nines::serve::AppState, n: i64) -> nines_store::Notification {
    common::until_progress(&[state], &format!("attempt #{n}"), || async {
        let pending = state
            .store
            .due_notifications(Timestamp::MAX, 10)
            .await
            .unwrap();
        pending.into_iter().next().filter(|p| p.attempts >= n)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_endpoint_opens_its_circuit_breaker_which_a_probe_closes() {
    nines::install_crypto_provider();
    // Answers 500 five times, then 200.
    let hook = receiver(5);
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  notify:\n    - webhook: http://127.0.0.1:{}/hook\n      format: json\n",
        hook.port
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    post_alerts(&url, json!([burn_alert("a", None)])).await;
    state.dispatch().await.unwrap();
    // Five failures, each retried after its backoff on nines' clock.
    for n in 1..=5 {
        let p = attempts_reach(&state, n).await;
        assert!(p.last_error.contains("500"), "{p:?}");
        clock.advance(p.next_attempt_at.duration_since(clock.now()));
        state.outbox_wake.notify_one();
    }
    // The breaker is open: the next retry is not attempted but held until
    // the cool-down ends, and says so.
    let p = attempts_reach(&state, 6).await;
    assert!(
        p.last_error.starts_with(&format!(
            "not attempted: the circuit breaker of http://127.0.0.1:{}/hook is open after 5 consecutive failures",
            hook.port
        )),
        "{p:?}"
    );
    assert_eq!(hook.count(), 0);
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "nines_notification_breakers_open{channel=\"json\"} 1",
        "nines_notification_attempts_total{channel=\"json\",result=\"retry\"} 5",
        "nines_notification_attempts_total{channel=\"json\",result=\"held\"} 1",
        "nines_notification_duration_seconds_count{channel=\"json\"} 5",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
    // After the cool-down one probe goes, succeeds, and closes it.
    clock.advance(p.next_attempt_at.duration_since(clock.now()));
    state.outbox_wake.notify_one();
    let (_, body) = hook.nth(1).await;
    assert_eq!(body["status"], "firing");
    let shown = until(
        &[&state],
        &format!("{url}/api/v1/incidents/1"),
        "the delivery on the timeline",
        |v| {
            v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "notification_delivered")
        },
    )
    .await;
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("notification_"))
        .collect();
    assert_eq!(
        kinds,
        [
            "notification_retry",
            "notification_retry",
            "notification_retry",
            "notification_retry",
            "notification_retry",
            "notification_retry",
            "notification_delivered"
        ]
    );
    let metrics = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "nines_notification_breakers_open{channel=\"json\"} 0",
        "nines_notification_attempts_total{channel=\"json\",result=\"delivered\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line} in:\n{metrics}");
    }
    running.shutdown().await.unwrap();
}

/// An HTTP receiver that refuses every request with `status` and `body`.
fn refusing(status: &'static str, body: &'static str) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut buf = vec![0; len];
            let _ = std::io::Read::read_exact(&mut reader, &mut buf);
            let _ = std::io::Write::write_all(
                &mut stream,
                format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_refusing_the_request_is_on_the_timeline_with_what_it_said_and_not_asked_again()
{
    nines::install_crypto_provider();
    let port = refusing(
        "400 Bad Request",
        r#"{"status":"invalid event","errors":["'routing_key' is invalid"]}"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  notify:\n    - pagerduty: {{routingKey: nope, url: 'http://127.0.0.1:{port}'}}\n"
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let running = start(dir.path(), &config, None, Arc::new(ManualClock::new(t0))).await;
    let url = format!("http://{}", running.addr);
    post_alerts(&url, json!([burn_alert("a", None)])).await;
    running.state.dispatch().await.unwrap();
    let shown = until(
        &[&running.state],
        &format!("{url}/api/v1/incidents/1"),
        "the refusal on the timeline",
        |v| {
            v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "notification_failed")
        },
    )
    .await;
    let failed: Vec<&Value> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"].as_str().unwrap().starts_with("notification_"))
        .collect();
    assert_eq!(failed.len(), 1, "refused once, not retried: {shown}");
    assert_eq!(
        failed[0]["details"]["error"],
        r#"the receiver answered 400 Bad Request: {"status":"invalid event","errors":["'routing_key' is invalid"]}"#
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_without_starttls_is_refused_when_tls_is_required() {
    let Some(py) = common::python_with("aiosmtpd") else {
        eprintln!("SKIPPED: SMTP TLS test: no Python with the `aiosmtpd` package");
        return;
    };
    nines::install_crypto_provider();
    let smtp = smtp_server(&py);
    let dir = tempfile::tempdir().unwrap();
    let server = SmtpServer {
        host: "127.0.0.1".to_owned(),
        port: smtp.port,
        from: "nines@example.com".to_owned(),
        hello: "nines.test".to_owned(),
        username: Some("nines".to_owned()),
        password: Some(nines_core::model::Secret::new("hunter2")),
        require_tls: true,
    };
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let running = start(
        dir.path(),
        "apiVersion: nines/v1\nkind: Service\nmetadata: {name: checkout}\nspec:\n  notify: [{email: oncall@example.com}]\n",
        Some(server),
        Arc::new(ManualClock::new(t0)),
    )
    .await;
    let url = format!("http://{}", running.addr);
    post_alerts(&url, json!([burn_alert("a", None)])).await;
    running.state.dispatch().await.unwrap();
    let shown = until(
        &[&running.state],
        &format!("{url}/api/v1/incidents/1"),
        "the failed attempt on the timeline",
        |v| !events(v, "notification_retry", "mailto:oncall@example.com").is_empty(),
    )
    .await;
    let e = &events(&shown, "notification_retry", "mailto:oncall@example.com")[0];
    let error = e["details"]["error"].as_str().unwrap();
    assert!(error.contains("STARTTLS"), "{error}");
    // The password was never sent in clear, nor shown.
    assert!(!shown.to_string().contains("hunter2"));
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_webhook_that_cannot_be_reached_is_on_the_timeline_without_its_url() {
    nines::install_crypto_provider();
    // Nothing listens there.
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  notify: [{{slack: 'http://127.0.0.1:{port}/services/T0/B0/SLACKTOKEN'}}]\n"
    );
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let running = start(dir.path(), &config, None, Arc::new(ManualClock::new(t0))).await;
    let url = format!("http://{}", running.addr);
    post_alerts(&url, json!([burn_alert("a", None)])).await;
    running.state.dispatch().await.unwrap();
    let shown = until(
        &[&running.state],
        &format!("{url}/api/v1/incidents/1"),
        "the failed attempt on the timeline",
        |v| {
            v["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "notification_retry")
        },
    )
    .await;
    let text = shown.to_string();
    assert!(!text.contains("SLACKTOKEN"), "{text}");
    let retry = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "notification_retry")
        .unwrap();
    let error = retry["details"]["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("connect"), "{error}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_from_the_configuration_reach_slack_and_the_smtp_server() {
    let Some(py) = common::python_with("aiosmtpd") else {
        eprintln!(
            "SKIPPED: template test: no Python with the `aiosmtpd` package (scripts/test installs it in target/test-venv)"
        );
        return;
    };
    nines::install_crypto_provider();
    let mut smtp = smtp_server(&py);
    let slack = receiver(0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    // A template read from a file next to the configuration, at load.
    std::fs::write(
        dir.path().join("config/subject.txt"),
        "[{{ status|upper }}] #{{ incident.id }} {{ incident.service }}: {{ alerts|length }} alert(s) in {{ common_labels.region }}\n",
    )
    .unwrap();
    let config = format!(
        "apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  notify:
    - email: oncall@example.com
      templateFile: {{subject: subject.txt}}
    - email: lead@example.com
      template:
        subject: '{{{{ incident.title }}}}'
        text: 'Owner: {{{{ alerts[0].labels.owner }}}}'
    - slack: http://127.0.0.1:{}/services/T000/B000/SLACKTOKEN
      template:
        text: |-
          {{{{ incident.service }}}} is {{{{ status }}}} ({{{{ incident.urgency }}}}){{% for a in alerts %}}
          - {{{{ a.labels.instance }}}}: {{{{ a.annotations.burn_rate }}}}{{% endfor %}}
          <{{{{ incident.ack_url }}}}|Acknowledge>
",
        slack.port
    );
    let server = SmtpServer {
        host: "127.0.0.1".to_owned(),
        port: smtp.port,
        from: "nines@example.com".to_owned(),
        hello: "nines.test".to_owned(),
        username: None,
        password: None,
        require_tls: false,
    };
    let t0: Timestamp = "2026-11-21T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = start(dir.path(), &config, Some(server), clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(&url, json!([burn_alert("a", None), burn_alert("b", None)])).await;
    state.dispatch().await.unwrap();

    // Slack: the templated fallback text, the default blocks.
    let (_, s) = slack.nth(1).await;
    assert_eq!(
        s["text"],
        format!(
            "checkout is firing (high)\n- a: 14.4x\n- b: 14.4x\n<{url}/api/v1/incidents/1/ack|Acknowledge>"
        )
    );
    assert_eq!(
        s["blocks"][0]["text"]["text"],
        "[FIRING:2] HighErrorRate checkout (high urgency)"
    );

    // The two emails, in whichever order they were sent.
    let mut mails = [smtp.next(&url).await, smtp.next(&url).await];
    mails.sort_by_key(|m| m["rcpt_tos"].to_string());
    let (lead, oncall) = (&mails[0], &mails[1]);
    assert_eq!(
        oncall["rcpt_tos"],
        json!(["oncall@example.com"]),
        "{oncall}"
    );
    assert_eq!(
        oncall["subject"], "[FIRING] #1 checkout: 2 alert(s) in eu-west-1",
        "{oncall}"
    );
    // The parts without a template are the default ones.
    assert!(
        oncall["text"].as_str().unwrap().starts_with(
            "[FIRING:2] HighErrorRate checkout (high urgency)\r\n\r\nIncident #1 on checkout"
        ),
        "{oncall}"
    );
    // An undefined value: that part goes out as the default, the other
    // part as templated, and the delivery's timeline entry says so.
    assert_eq!(
        lead["subject"],
        "checkout availability: error budget burning 14.4x too fast (page)"
    );
    assert!(
        lead["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:2] HighErrorRate checkout (high urgency)"),
        "{lead}"
    );
    let shown = until(
        &[&state],
        &format!("{url}/api/v1/incidents/1"),
        "the email deliveries on the timeline",
        |v| !events(v, "notification_delivered", "mailto:lead@example.com").is_empty(),
    )
    .await;
    let delivered = events(&shown, "notification_delivered", "mailto:lead@example.com");
    assert_eq!(
        delivered[0]["details"]["template_fallbacks"],
        json!(["template text: undefined value (in text:1); the default text was sent instead"]),
        "{shown}"
    );
    let other = events(
        &shown,
        "notification_delivered",
        "mailto:oncall@example.com",
    );
    assert!(
        other
            .iter()
            .all(|e| e["details"].get("template_fallbacks").is_none()),
        "{shown}"
    );
    running.shutdown().await.unwrap();
}
