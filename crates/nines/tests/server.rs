//! The real server on port 0 with a temporary SQLite store, driven over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nines::clock::{Clock as _, ManualClock};
use nines::serve::{self, Options, Running};
use serde_json::Value;

struct App {
    running: Running,
    base: String,
    http: reqwest::Client,
    clock: Arc<ManualClock>,
    config_dir: PathBuf,
    data_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

const START: &str = "2026-11-21T08:00:00Z";

fn copy_example(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

async fn start_in(tmp: tempfile::TempDir, clock: Arc<ManualClock>) -> App {
    nines::install_crypto_provider();
    let config_dir = tmp.path().join("config");
    let data_dir = tmp.path().join("data");
    if !config_dir.exists() {
        copy_example(&config_dir);
    }
    let running = serve::start(
        Options {
            config_path: config_dir.clone(),
            data_dir: data_dir.clone(),
            store_url: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 1024,
            max_maintenance: nines::serve::DEFAULT_MAX_MAINTENANCE,
            eval_interval: None,
            alertmanager_config: None,
            smtp: None,
            delivery_timeout: nines::serve::DEFAULT_DELIVERY_TIMEOUT,
            page_limit: None,
            pace_machines: true,
        },
        clock.clone(),
    )
    .await
    .unwrap();
    App {
        base: format!("http://{}", running.addr),
        running,
        http: reqwest::Client::new(),
        clock,
        config_dir,
        data_dir,
        _tmp: tmp,
    }
}

async fn spawn_app() -> App {
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    start_in(tempfile::tempdir().unwrap(), clock).await
}

impl App {
    async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.get(path).await;
        (status, serde_json::from_str(&body).unwrap())
    }

    async fn post_body(&self, path: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn slo(&self, name: &str) -> Value {
        let (status, v) = self.get_json(&format!("/api/v1/slos/{name}")).await;
        assert_eq!(status, 200, "{v}");
        v["objectives"][0].clone()
    }

    async fn post_json(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str(&r.text().await.unwrap()).unwrap(),
        )
    }
}

#[tokio::test]
async fn health_readiness_and_status() {
    let app = spawn_app().await;
    assert_eq!(app.get("/-/healthy").await.0, 200);
    assert_eq!(app.get("/-/ready").await.0, 200);
    let (status, v) = app.get_json("/api/v1/status").await;
    assert_eq!(status, 200);
    assert_eq!(v["now"], START, "the status reads the injected clock");
    assert_eq!(v["config"]["revision"], 1);
    assert_eq!(v["config"]["objects"]["slos"], 3);
    assert_eq!(v["store"]["engine"], "sqlite");
    assert_eq!(v["store"]["schema_version"], 11);
    let (status, page) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("checkout-availability") || page.contains("Checkout availability"));
    assert!(page.contains("99.9 %"), "{page}");
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    app.get("/-/healthy").await;
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("nines_config_last_reload_successful 1"),
        "{text}"
    );
    assert!(
        text.contains("nines_config_objects{kind=\"slos\"} 3"),
        "{text}"
    );
    assert!(
        text.contains(
            "nines_http_requests_total{method=\"GET\",route=\"/-/healthy\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("nines_build_info{"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    app.running.shutdown().await.unwrap();
}

/// Every path the OpenAPI document names is served, with the methods it names.
#[tokio::test]
async fn the_openapi_document_describes_the_served_api() {
    let app = spawn_app().await;
    let (status, doc) = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 8);
    // A maintenance window for the `{id}` of its paths.
    let window = app
        .http
        .post(format!("{}/api/v1/maintenance", app.base))
        .json(&serde_json::json!({"services": ["checkout"], "description": "openapi test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(window.status(), 201);
    let window: Value = window.json().await.unwrap();
    let window_id = window["id"].as_str().unwrap();
    for (template, ops) in paths {
        let path = if template.contains("/maintenance/") {
            template.replace("{id}", window_id)
        } else if template.contains("/schedules/") {
            // The example's schedule (an override id stays `{id}`: a 400).
            template.replace("{name}", "payments-primary")
        } else if template.contains("/people/") {
            template.replace("{name}", "alice")
        } else if template.contains("/heartbeats/") {
            // The example's heartbeat.
            template
                .replace("{service}", "postgres-primary")
                .replace("{name}", "backup")
        } else {
            template
                .replace("{name}", "checkout-availability")
                .replace("{service}", "checkout")
        };
        for method in ops.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = app
                .http
                .request(m, format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert!(
                r.status() != 404 && r.status() != 405,
                "{method} {path} is documented but answers {}",
                r.status()
            );
        }
    }
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_bad_queries_get_json_errors() {
    let app = spawn_app().await;
    let (status, v) = app.get_json("/api/v1/nope").await;
    assert_eq!(status, 404);
    assert_eq!(v["code"], "not_found");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("/api/v1/openapi.json")
    );
    let (status, v) = app.post_json("/api/v1/status").await;
    assert_eq!(status, 405);
    assert_eq!(v["code"], "method_not_allowed");
    for q in ["limit=0", "limit=abc", "limit=5000", "color=blue"] {
        let (status, v) = app.get_json(&format!("/api/v1/config/revisions?{q}")).await;
        assert_eq!(status, 400, "{q}");
        assert_eq!(v["code"], "invalid_query", "{q}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_invalid_reload_is_refused_and_the_old_config_keeps_running() {
    let app = spawn_app().await;
    let slos = app.config_dir.join("slos.yaml");
    let good = std::fs::read_to_string(&slos).unwrap();
    std::fs::write(&slos, good.replace("target: 0.999", "target: 1.2")).unwrap();
    let (status, v) = app.post_json("/-/reload").await;
    assert_eq!(status, 422);
    assert_eq!(v["code"], "invalid_config");
    let d = &v["details"][0];
    assert!(d["file"].as_str().unwrap().ends_with("slos.yaml"));
    assert_eq!(d["line"], 44);
    assert!(d["message"].as_str().unwrap().contains("1.2"));
    let (_, status_v) = app.get_json("/api/v1/status").await;
    assert_eq!(status_v["config"]["revision"], 1);
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains("nines_config_last_reload_successful 0"));
    assert!(metrics.contains("nines_config_reloads_total{result=\"failure\"} 1"));

    // Fixing it applies a new revision, recorded at the injected time.
    app.clock.advance(jiff::SignedDuration::from_mins(5));
    std::fs::write(&slos, good.replace("target: 0.999", "target: 0.995")).unwrap();
    let (status, v) = app.post_json("/-/reload").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["revision"], 2);
    assert_eq!(v["loaded_at"], "2026-11-21T08:05:00Z");
    // Reloading an unchanged configuration records nothing new.
    let (_, again) = app.post_json("/-/reload").await;
    assert_eq!(again["revision"], 2);
    let (_, revs) = app.get_json("/api/v1/config/revisions").await;
    assert_eq!(revs["revisions"].as_array().unwrap().len(), 2);
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn revisions_survive_a_restart() {
    let app = spawn_app().await;
    let services = app.config_dir.join("services.yaml");
    let mut text = std::fs::read_to_string(&services).unwrap();
    text.push_str("- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: search}\n");
    std::fs::write(&services, text).unwrap();
    assert_eq!(app.post_json("/-/reload").await.0, 200);
    let data_dir = app.data_dir.clone();
    let clock = app.clock.clone();
    let App { running, _tmp, .. } = app;
    running.shutdown().await.unwrap();
    assert!(data_dir.join("nines.db").exists());

    let again = start_in(_tmp, clock).await;
    let (_, v) = again.get_json("/api/v1/config/revisions").await;
    let revs = v["revisions"].as_array().unwrap();
    assert_eq!(revs.len(), 2, "{v}");
    assert!(revs[0]["summary"].as_str().unwrap().contains("6 services"));
    again.running.shutdown().await.unwrap();
}

fn event(sli: &str, at: &str, good: f64, total: f64) -> Value {
    serde_json::json!({"sli": sli, "timestamp": at, "good": good, "total": total})
}

#[tokio::test]
async fn pushed_sli_events_move_the_budget_and_are_counted_once_per_key() {
    let app = spawn_app().await;
    let batch = serde_json::json!({"events": [
        event("checkout-requests", "2026-11-21T07:58:10Z", 990.0, 1000.0),
        {"sli": "checkout-requests", "timestamp": "2026-11-21T07:59:00Z", "bad": 5, "total": 500},
        {"sli": "checkout-requests", "success": false},
        {"sli": "checkout-latency-ms", "value": 120.0},
        {"sli": "checkout-latency-ms", "value": 450.0},
    ]});
    let (status, v) = app
        .post_body("/api/v1/sli/events", &batch, Some("deploy-42"))
        .await;
    assert_eq!(status, 200, "{v}");
    // Events without a timestamp are stamped now, in the minute that has
    // just begun: they count once the clock is inside it.
    app.clock.advance(jiff::SignedDuration::from_secs(30));
    assert_eq!(v["accepted"], 5);
    let (status, again) = app
        .post_body("/api/v1/sli/events", &batch, Some("deploy-42"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true);
    let s = app.slo("checkout-availability").await;
    assert_eq!(s["total"], 1501.0, "{s}");
    assert_eq!(s["good"], 1485.0);
    assert_eq!(
        s["policy"], "exhausted",
        "16 bad of 1501 is 10x a 0.1 % budget: {s}"
    );
    let latency = app.slo("checkout-latency").await;
    // One good slice (120 ms and 450 ms fall in the same minute: 50 % < 95 %)
    // makes a bad one: time slices, not events.
    assert_eq!(latency["budgeting_method"], "Timeslices");
    assert_eq!(latency["total"], 1.0, "{latency}");
    assert_eq!(latency["good"], 0.0);
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_batch_is_refused_whole_with_the_field_named() {
    let app = spawn_app().await;
    let cases = [
        (
            serde_json::json!({"events": [event("checkout-requests", "2026-11-21T07:59:00Z", 1.0, 1.0), event("nope", "2026-11-21T07:59:00Z", 1.0, 1.0)]}),
            "events[1]",
            "no SLO uses an SLI named `nope`",
        ),
        (
            serde_json::json!({"events": [event("checkout-requests", "2026-11-21T07:59:00Z", -1.0, 1.0)]}),
            "events[0].good",
            "zero or more",
        ),
        (
            serde_json::json!({"events": [event("checkout-requests", "2026-11-21T07:59:00Z", 5.0, 2.0)]}),
            "events[0].good",
            "more than total",
        ),
        (
            serde_json::json!({"events": [event("checkout-requests", "2026-11-21T09:00:00Z", 1.0, 1.0)]}),
            "events[0]",
            "in the future",
        ),
        (
            serde_json::json!({"events": [event("checkout-requests", "2026-09-01T00:00:00Z", 1.0, 1.0)]}),
            "events[0]",
            "older than",
        ),
        (
            serde_json::json!({"events": [event("checkout-requests", "yesterday", 1.0, 1.0)]}),
            "events[0].timestamp",
            "RFC 3339",
        ),
        (
            serde_json::json!({"events": [{"sli": "checkout-requests", "success": true, "total": 3}]}),
            "events[0]",
            "exactly one of",
        ),
        (
            serde_json::json!({"events": [{"sli": "checkout-requests", "value": 3}]}),
            "events[0]",
            "ratio SLI",
        ),
        (
            serde_json::json!({"events": [{"sli": "checkout-requests", "succes": true}]}),
            "events[0].succes",
            "unknown field",
        ),
        (
            serde_json::json!({"evnts": []}),
            "unknown field `evnts`",
            "",
        ),
    ];
    for (body, field, words) in cases {
        let (status, v) = app.post_body("/api/v1/sli/events", &body, None).await;
        assert_eq!(status, 400, "{body} -> {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(field) && msg.contains(words),
            "{body} -> {msg}"
        );
    }
    let r = app
        .http
        .post(format!("{}/api/v1/sli/events", app.base))
        .header("content-type", "application/json")
        .body("{\"events\": [NaN]}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let big = serde_json::json!({"events": vec![event("checkout-requests", "2026-11-21T07:59:00Z", 1.0, 1.0); 40]});
    let (status, v) = app.post_body("/api/v1/sli/events", &big, None).await;
    assert_eq!(status, 413, "{v}");
    let s = app.slo("checkout-availability").await;
    assert_eq!(s["total"], 0.0, "nothing of a refused batch counts: {s}");
    assert_eq!(s["policy"], "no_data");
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_burn_pages_freezes_the_gate_and_shows_in_metrics() {
    let app = spawn_app().await;
    // An hour of clean traffic, then ten minutes of 20 % errors, one
    // evaluation a minute on the injected clock.
    for minute in 0..70 {
        let bad = if minute >= 60 { 200.0 } else { 0.0 };
        let at = app.clock.now().to_string();
        let batch =
            serde_json::json!({"events": [event("checkout-requests", &at, 1000.0 - bad, 1000.0)]});
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        let (status, v) = app.post_body("/api/v1/sli/events", &batch, None).await;
        assert_eq!(status, 200, "{v}");
        app.running.state.evaluate().await;
    }
    let (_, alerts) = app.get_json("/api/v1/alerts").await;
    let fired = &alerts["alerts"][0];
    assert_eq!(fired["slo"], "checkout-availability");
    assert_eq!(fired["state"], "firing");
    assert_eq!(
        fired["rule"], "fast-burn",
        "the SLO's own OpenSLO policy decides"
    );
    let s = app.slo("checkout-availability").await;
    assert_eq!(s["firing"], serde_json::json!(["page"]));
    let (status, gate) = app.get_json("/api/v1/gate/checkout").await;
    assert_eq!(status, 200);
    assert_eq!(gate["decision"], "frozen", "{gate}");
    assert_eq!(gate["frozen_by"][0]["slo"], "checkout-availability");
    assert!(gate["frozen_by"][0]["exhausted_since"].is_string());
    let (_, other) = app.get_json("/api/v1/gate/payments-api").await;
    assert_eq!(other["decision"], "go");
    assert_eq!(app.get_json("/api/v1/gate/nope").await.0, 404);
    assert_eq!(app.get_json("/api/v1/gate/checkout?slo=nope").await.0, 404);
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains("nines_slo_budget_remaining_ratio{slo=\"checkout-availability\",objective=\"0\",service=\"checkout\"}"), "{metrics}");
    assert!(metrics.contains("nines_slo_policy_state{slo=\"checkout-availability\",objective=\"0\",service=\"checkout\",state=\"exhausted\"} 1"));
    assert!(metrics.contains(
        "nines_slo_alerts_total{slo=\"checkout-availability\",severity=\"page\",state=\"firing\"} 1"
    ));
    assert!(metrics.contains("nines_slo_burn_rate{"));
    // The burn is an alert like any other: it opens a high-urgency incident
    // on the SLO's service, and shows in the Alertmanager API. checkout has
    // dependencies, so its incident opens once its correlation window (1m)
    // has passed with none of them failing.
    app.running.state.dispatch().await.unwrap();
    let (_, incidents) = app.get_json("/api/v1/incidents").await;
    assert_eq!(
        incidents["incidents"],
        serde_json::json!([]),
        "waits for a cause"
    );
    app.clock.advance(jiff::SignedDuration::from_mins(1));
    app.running.state.dispatch().await.unwrap();
    let (_, incidents) = app.get_json("/api/v1/incidents").await;
    let opened = &incidents["incidents"][0];
    assert_eq!(opened["service"], "checkout", "{incidents}");
    assert_eq!(opened["urgency"], "high");
    assert!(
        opened["title"]
            .as_str()
            .unwrap()
            .contains("error budget burning"),
        "{opened}"
    );
    let (_, am) = app.get_json("/api/v2/alerts").await;
    let burn = &am[0];
    assert_eq!(burn["labels"]["alertname"], "ErrorBudgetBurn", "{am}");
    assert_eq!(burn["labels"]["slo"], "checkout-availability");
    assert_eq!(burn["labels"]["severity"], "critical");
    assert_eq!(burn["status"]["state"], "active");
    app.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn acknowledged_sli_data_survives_a_restart() {
    let app = spawn_app().await;
    let batch = serde_json::json!({"events": [event("payments-api-requests", "2026-11-21T07:30:00Z", 999.0, 1000.0)]});
    assert_eq!(
        app.post_body("/api/v1/sli/events", &batch, Some("k1"))
            .await
            .0,
        200
    );
    let clock = app.clock.clone();
    let App { running, _tmp, .. } = app;
    running.shutdown().await.unwrap();
    let again = start_in(_tmp, clock).await;
    let s = again.slo("payments-api-availability").await;
    assert_eq!(s["total"], 1000.0, "{s}");
    // The idempotency key is remembered too.
    let (_, v) = again
        .post_body("/api/v1/sli/events", &batch, Some("k1"))
        .await;
    assert_eq!(v["duplicate"], true);
    again.running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_frozen_gate_keeps_its_exhausted_since_across_a_restart() {
    let app = spawn_app().await;
    // Five clean minutes, then one of 20 % errors: 200 bad events against
    // a budget of 0.1 % of 6,000 spends it at that minute's evaluation.
    for minute in 0..6 {
        let bad = if minute == 5 { 200.0 } else { 0.0 };
        let at = app.clock.now().to_string();
        let batch =
            serde_json::json!({"events": [event("checkout-requests", &at, 1000.0 - bad, 1000.0)]});
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        let (status, v) = app.post_body("/api/v1/sli/events", &batch, None).await;
        assert_eq!(status, 200, "{v}");
        app.running.state.evaluate().await;
    }
    let exhausted_at = app.clock.now().to_string();
    let (_, gate) = app
        .get_json("/api/v1/gate/checkout?slo=checkout-availability")
        .await;
    assert_eq!(gate["decision"], "frozen", "{gate}");
    assert_eq!(gate["frozen_by"][0]["exhausted_since"], exhausted_at);
    // Later evaluations do not move it.
    app.clock.advance(jiff::SignedDuration::from_mins(10));
    app.running.state.evaluate().await;

    let clock = app.clock.clone();
    let App { running, _tmp, .. } = app;
    running.shutdown().await.unwrap();
    clock.advance(jiff::SignedDuration::from_mins(30));
    let again = start_in(_tmp, clock).await;
    let gate_since = |v: &Value| v["frozen_by"][0]["exhausted_since"].clone();
    let (_, gate) = again
        .get_json("/api/v1/gate/checkout?slo=checkout-availability")
        .await;
    assert_eq!(gate["decision"], "frozen", "{gate}");
    assert_eq!(
        gate_since(&gate),
        exhausted_at,
        "read back before any evaluation"
    );
    again.running.state.evaluate().await;
    let (_, gate) = again.get_json("/api/v1/gate/checkout").await;
    assert_eq!(
        gate_since(&gate),
        exhausted_at,
        "not the restart time: {gate}"
    );
    let s = again.slo("checkout-availability").await;
    assert_eq!(s["exhausted_since"], exhausted_at);

    // Enough good traffic to refill the budget: the gate opens, and the
    // stored moment goes with it, restart or not.
    let at = again.clock.now().to_string();
    let batch =
        serde_json::json!({"events": [event("checkout-requests", &at, 300_000.0, 300_000.0)]});
    again.clock.advance(jiff::SignedDuration::from_mins(1));
    assert_eq!(
        again.post_body("/api/v1/sli/events", &batch, None).await.0,
        200
    );
    again.running.state.evaluate().await;
    let (_, gate) = again
        .get_json("/api/v1/gate/checkout?slo=checkout-availability")
        .await;
    assert_eq!(gate["decision"], "go", "{gate}");
    assert_eq!(gate["checked"][0]["exhausted_since"], Value::Null);
    let clock = again.clock.clone();
    let App { running, _tmp, .. } = again;
    running.shutdown().await.unwrap();
    let third = start_in(_tmp, clock).await;
    let s = third.slo("checkout-availability").await;
    assert_eq!(s["exhausted_since"], Value::Null, "{s}");
    third.running.shutdown().await.unwrap();
}

/// An SLO whose alert policy asks for no-data alerts (`alertWhenNoData`),
/// beside the example's, which do not.
const NO_DATA_SLO: &str = r#"
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: ticket-when-silent}
spec:
  alertWhenNoData: true
  conditions:
    - kind: AlertCondition
      metadata: {name: search-burn}
      spec:
        severity: ticket
        condition: {kind: burnrate, op: gte, threshold: 2, lookbackWindow: 10m}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: search-availability}
spec:
  service: checkout
  indicator:
    metadata: {name: search-requests}
    spec:
      ratioMetric:
        counter: false
        good: {metricSource: {metricSourceRef: prometheus, spec: {query: "sum(rate(search_ok[1m]))"}}}
        total: {metricSource: {metricSourceRef: prometheus, spec: {query: "sum(rate(search_all[1m]))"}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
  alertPolicies: [{alertPolicyRef: ticket-when-silent}]
"#;

#[tokio::test]
async fn an_slo_without_data_alerts_when_its_policy_asks_and_resolves_with_data() {
    let tmp = tempfile::tempdir().unwrap();
    copy_example(&tmp.path().join("config"));
    std::fs::write(tmp.path().join("config/search.yaml"), NO_DATA_SLO).unwrap();
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let app = start_in(tmp, clock).await;
    let no_data_alerts = |am: &Value| -> Vec<Value> {
        am.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == "SLONoData")
            .cloned()
            .collect()
    };
    let batch =
        |at: &str| serde_json::json!({"events": [event("search-requests", at, 100.0, 100.0)]});
    let (status, v) = app
        .post_body("/api/v1/sli/events", &batch("2026-11-21T07:59:00Z"), None)
        .await;
    assert_eq!(status, 200, "{v}");
    app.running.state.evaluate().await;
    let (_, am) = app.get_json("/api/v2/alerts").await;
    assert!(no_data_alerts(&am).is_empty(), "data a minute ago: {am}");

    // Ten minutes (the shortest alert window) after the last data: no data.
    for _ in 0..10 {
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        app.running.state.evaluate().await;
    }
    let (_, am) = app.get_json("/api/v2/alerts").await;
    let silent = no_data_alerts(&am);
    assert_eq!(silent.len(), 1, "{am}");
    let a = &silent[0];
    assert_eq!(a["labels"]["slo"], "search-availability");
    assert_eq!(a["labels"]["service"], "checkout");
    assert_eq!(a["labels"]["objective"], "0");
    assert_eq!(a["labels"]["severity"], "warning", "a ticket: {a}");
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["annotations"]["no_data_since"], "2026-11-21T08:00:00Z");
    let description = a["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("shortest alert window (10m)")
            && description.contains("neither good nor bad"),
        "{description}"
    );
    let s = app.slo("search-availability").await;
    assert_eq!(s["no_data_alert"]["firing"], true, "{s}");
    let (_, metrics) = app.get("/metrics").await;
    assert!(
        metrics.contains("nines_slo_no_data_alert_firing{slo=\"search-availability\",objective=\"0\",service=\"checkout\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("nines_slo_no_data_alert_firing{slo=\"checkout-availability\""));
    assert_eq!(s["no_data_alert"]["since"], "2026-11-21T08:00:00Z");
    // Without alertWhenNoData, an SLO without data is only said to be so.
    let quiet = app.slo("checkout-availability").await;
    assert_eq!(quiet["no_data"], true);
    assert_eq!(quiet["policy"], "no_data");
    assert_eq!(quiet["no_data_alert"], Value::Null);
    assert!(
        no_data_alerts(&am)
            .iter()
            .all(|a| a["labels"]["slo"] == "search-availability")
    );

    // Data again: the alert resolves at the next evaluation.
    let now = app.clock.now().to_string();
    let (status, v) = app
        .post_body("/api/v1/sli/events", &batch(&now), None)
        .await;
    assert_eq!(status, 200, "{v}");
    app.clock.advance(jiff::SignedDuration::from_secs(30));
    app.running.state.evaluate().await;
    let (_, am) = app.get_json("/api/v2/alerts").await;
    assert!(no_data_alerts(&am).is_empty(), "resolved: {am}");
    let s = app.slo("search-availability").await;
    assert_eq!(s["no_data_alert"]["firing"], false, "{s}");
    app.running.shutdown().await.unwrap();
}

/// The example Grafana dashboard only charts series nines really exports.
#[tokio::test]
async fn the_example_dashboard_uses_exported_metrics() {
    let app = spawn_app().await;
    // Enough bad traffic for an alert, so that every family has a series.
    for minute in 0..70 {
        let bad = if minute >= 60 { 300.0 } else { 0.0 };
        let at = app.clock.now().to_string();
        let batch = serde_json::json!({"events": [event("payments-api-requests", &at, 1000.0 - bad, 1000.0)]});
        app.clock.advance(jiff::SignedDuration::from_mins(1));
        assert_eq!(
            app.post_body("/api/v1/sli/events", &batch, None).await.0,
            200
        );
        app.running.state.evaluate().await;
    }
    let (_, metrics) = app.get("/metrics").await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/grafana/nines-slos.json");
    let dashboard = std::fs::read_to_string(path).unwrap();
    let mut names: Vec<&str> = dashboard
        .match_indices("nines_")
        .map(|(i, _)| {
            let rest = &dashboard[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|n| n.len() > "nines_".len() && *n != "nines_slos")
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        assert!(
            metrics.contains(&format!("\n{name}{{")),
            "the dashboard uses {name}, which /metrics does not export"
        );
    }
    app.running.shutdown().await.unwrap();
}

/// A composite SLO: each objective has its own indicator and weight, and the
/// whole is their weighted mean.
#[tokio::test]
async fn a_composite_slo_weighs_its_objectives() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let ratio = |name: &str| {
        format!(
            "indicator:\n        metadata: {{name: {name}}}\n        spec:\n          ratioMetric:\n            good: {{metricSource: {{type: push, spec: {{}}}}}}\n            total: {{metricSource: {{type: push, spec: {{}}}}}}"
        )
    };
    std::fs::write(
        config.join("journey.yaml"),
        format!(
            "apiVersion: openslo/v1\nkind: SLO\nmetadata: {{name: checkout-journey}}\nspec:\n  service: shop\n  timeWindow: [{{duration: 7d, isRolling: true}}]\n  budgetingMethod: Occurrences\n  objectives:\n    - target: 0.99\n      compositeWeight: 3\n      {}\n    - target: 0.99\n      compositeWeight: 1\n      {}\n",
            ratio("cart"),
            ratio("payment")
        ),
    )
    .unwrap();
    let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
    let app = start_in(tmp, clock).await;
    let batch = serde_json::json!({"events": [
        event("cart", "2026-11-21T07:00:00Z", 980.0, 1000.0),
        event("payment", "2026-11-21T07:00:00Z", 1000.0, 1000.0),
    ]});
    assert_eq!(
        app.post_body("/api/v1/sli/events", &batch, None).await.0,
        200
    );
    let (_, v) = app.get_json("/api/v1/slos/checkout-journey").await;
    let c = &v["composite"];
    assert_eq!(c["weights"], serde_json::json!([3.0, 1.0]), "{v}");
    assert_eq!(c["budget_consumed_ratio"], 1.5, "{v}");
    assert!((c["sli"].as_f64().unwrap() - 0.985).abs() < 1e-9, "{v}");
    assert_eq!(v["objectives"].as_array().unwrap().len(), 2);
    let (_, plain) = app.get_json("/api/v1/slos").await;
    assert_eq!(plain["slos"].as_array().unwrap().len(), 2);
    app.running.shutdown().await.unwrap();
}

/// Sends `head` and then the whole of `body` before reading anything, as
/// Python's `http.client` does, and returns the raw answer (or the error a
/// reset connection gives).
fn send_all_then_read(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test]
async fn a_body_over_the_limit_gets_a_413_even_from_a_client_that_sends_it_all_first() {
    let app = spawn_app().await;
    let addr = app.running.addr;
    // Far more than the socket buffers hold (the limit here is 1 KiB): a
    // server that stopped reading would reset the connection mid-send.
    let body = vec![b' '; 8 << 20];
    let cases = [
        ("/api/v2/alerts", "\"code\":413"),
        ("/v2/enqueue", "\"errors\":["),
        ("/api/v1/sli/events", "\"code\":\"body_too_large\""),
    ];
    for (path, shape) in cases {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: nines\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let body = body.clone();
        let answer = tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, &body))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{path}: the client saw {e} instead of a 413"));
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("is 8388608 bytes, over the limit of 1024")
                && answer.contains("--max-body-bytes")
                && answer.contains(shape),
            "{path}: {answer}"
        );
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }

    // A chunked body has no length to check first: it is refused once it
    // runs past the limit, the same way.
    let mut chunked = Vec::new();
    for _ in 0..64 {
        chunked.extend_from_slice(format!("{:x}\r\n", 128 << 10).as_bytes());
        chunked.extend(std::iter::repeat_n(b' ', 128 << 10));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    // Also when it gives a small length too (the chunks are what is read),
    // and when it asked for 100-continue (reading it said go on).
    for extra in ["", "Content-Length: 10\r\n", "Expect: 100-continue\r\n"] {
        let head = format!(
            "POST /api/v2/alerts HTTP/1.1\r\nHost: nines\r\nContent-Type: application/json\r\n{extra}Transfer-Encoding: chunked\r\n\r\n"
        );
        let chunked = chunked.clone();
        let answer = tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, &chunked))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{extra:?}: the client saw {e} instead of a 413"));
        // Reading the body told a client that asked to go on.
        let answer = answer
            .strip_prefix("HTTP/1.1 100 Continue\r\n\r\n")
            .unwrap_or(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{extra:?}: {answer}");
        assert!(
            answer.contains("runs past the limit of 1024 bytes"),
            "{extra:?}: {answer}"
        );
    }

    // A small chunked body is read and handled as usual.
    let alert = br#"[{"labels":{"alertname":"Chunked","service":"checkout"}}]"#;
    let small = format!(
        "{:x}\r\n{}\r\n0\r\n\r\n",
        alert.len(),
        String::from_utf8_lossy(alert)
    );
    let head = "POST /api/v2/alerts HTTP/1.1\r\nHost: nines\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned();
    let answer =
        tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, small.as_bytes()))
            .await
            .unwrap()
            .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, listed) = app
        .get("/api/v2/alerts?filter=alertname%3D%22Chunked%22")
        .await;
    assert_eq!(status, 200);
    assert!(listed.contains("\"Chunked\""), "{listed}");

    // A client that waits for 100-continue is answered before it sends.
    let head = "POST /api/v2/alerts HTTP/1.1\r\nHost: nines\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\nExpect: 100-continue\r\n\r\n".to_owned();
    let answer = tokio::task::spawn_blocking(move || send_all_then_read(addr, &head, b""))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    app.running.shutdown().await.unwrap();
}
