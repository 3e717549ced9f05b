//! nines as a PagerDuty Events API v2 endpoint, driven by the real client
//! library (PyPI `pagerduty`, installed into `target/test-venv` by
//! scripts/test). Skipped, and said so, where it is missing.

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use nines::clock::SystemClock;
use nines::serve::{self, Options, Running};
use serde_json::Value;

const KEY: &str = "0123456789abcdef0123456789abcdef";

async fn start(dir: &Path) -> Running {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("services.yaml"),
        format!("apiVersion: nines/v1\nkind: Service\nmetadata: {{name: checkout}}\nspec:\n  owner: payments\n  integrations: [{{name: prometheus, routingKey: {KEY}}}]\n---\napiVersion: nines/v1\nkind: Team\nmetadata: {{name: payments}}\nspec: {{}}\n"),
    )
    .unwrap();
    serve::start(
        Options {
            config_path: config,
            data_dir: dir.join("data"),
            store_url: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 1 << 20,
            max_maintenance: nines::serve::DEFAULT_MAX_MAINTENANCE,
            eval_interval: None,
            alertmanager_config: None,
            smtp: None,
            delivery_timeout: nines::serve::DEFAULT_DELIVERY_TIMEOUT,
            page_limit: None,
            pace_machines: true,
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Runs one incident dispatcher pass (everything the client sent is
/// committed by now), then reads `url`: no waiting on background tasks.
async fn after_dispatch(
    state: &nines::serve::AppState,
    url: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    state.dispatch().await.unwrap();
    let v = get(url).await;
    assert!(check(&v), "expected {what}: {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pagerduty_client_library_triggers_acknowledges_and_resolves() {
    let Some(py) = common::python_with("pagerduty") else {
        eprintln!(
            "SKIPPED: PagerDuty client test: no Python with the `pagerduty` package (scripts/test installs it in target/test-venv)"
        );
        return;
    };
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let base = format!("http://{}", running.addr);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/pagerduty_client.py");
    let mut child = Command::new(py)
        .arg(script)
        .args([&base, KEY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = move || -> Value {
        let line = lines.next().expect("the client stopped early").unwrap();
        serde_json::from_str(&line).unwrap()
    };
    let step = tokio::task::spawn_blocking(move || (next(), next))
        .await
        .unwrap();
    let (first, mut next) = step;
    assert_eq!(first["dedup_key"], "checkout-errors");
    assert_eq!(
        first["generated_key"].as_str().unwrap().len(),
        32,
        "{first}"
    );

    let alerts = get(&format!(
        "{base}/api/v2/alerts?filter=dedup_key%3D%22checkout-errors%22"
    ))
    .await;
    let a = &alerts[0];
    assert_eq!(a["labels"]["service"], "checkout", "{a}");
    assert_eq!(a["labels"]["integration"], "prometheus");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["source"], "prometheus-eu-1");
    assert_eq!(a["annotations"]["summary"], "Checkout error rate above 5%");
    assert!(
        a["annotations"]["custom_details"]
            .as_str()
            .unwrap()
            .contains("0.07")
    );

    let list = after_dispatch(
        &running.state,
        &format!("{base}/api/v1/incidents"),
        "an incident",
        |v| v["incidents"].as_array().is_some_and(|l| !l.is_empty()),
    )
    .await;
    let inc = &list["incidents"][0];
    assert_eq!(
        (
            inc["service"].as_str(),
            inc["state"].as_str(),
            inc["urgency"].as_str()
        ),
        (Some("checkout"), Some("triggered"), Some("high")),
        "{inc}"
    );
    let id = inc["id"].as_i64().unwrap();

    writeln!(stdin).unwrap();
    let second = tokio::task::spawn_blocking(move || (next(), next))
        .await
        .unwrap();
    let (acked, mut next) = second;
    assert_eq!(acked["ack"], "checkout-errors");
    assert_eq!(
        acked["unknown_resolve"], "never-sent",
        "an unknown key is accepted and dropped"
    );
    let shown = get(&format!("{base}/api/v1/incidents/{id}")).await;
    assert_eq!(shown["state"], "acknowledged", "{shown}");
    let timeline = shown["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e["kind"] == "acknowledged" && e["actor"] == "pagerduty:prometheus"),
        "{shown}"
    );
    assert_eq!(
        shown["changes"][0]["summary"], "deploy checkout v1.4",
        "{shown}"
    );

    writeln!(stdin).unwrap();
    let (last, _) = tokio::task::spawn_blocking(move || (next(), next))
        .await
        .unwrap();
    assert_eq!(last["resolve"], "checkout-errors");
    assert!(last["invalid"].as_str().unwrap().contains("400"), "{last}");
    let shown = after_dispatch(
        &running.state,
        &format!("{base}/api/v1/incidents/{id}"),
        "the incident resolved",
        |v| v["state"] == "resolved",
    )
    .await;
    assert!(
        shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "alerts_left"),
        "{shown}"
    );
    let active = get(&format!("{base}/api/v2/alerts")).await;
    assert_eq!(
        active,
        serde_json::json!([]),
        "resolved alerts leave the active list"
    );
    assert!(child.wait().unwrap().success());

    // The same incident through the CLI.
    let nines = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_nines"))
                .args(args)
                .output()
                .unwrap()
        })
    };
    let arg = |s: &[&str]| -> Vec<String> {
        s.iter()
            .map(|a| a.to_string())
            .chain(["--server".to_owned(), base.clone()])
            .collect()
    };
    let note = nines(arg(&[
        "incident",
        "note",
        &id.to_string(),
        "rolled back v1.4",
        "--by",
        "alice",
    ]))
    .await
    .unwrap();
    assert!(note.status.success(), "{note:?}");
    let show = nines(arg(&["incident", "show", &id.to_string()]))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{show:?}");
    for expected in [
        "resolved",
        "Checkout error rate above 5%",
        "deploy checkout v1.4",
        "acknowledged",
        "pagerduty:prometheus",
        "rolled back v1.4",
        "alice",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let again = nines(arg(&["incident", "resolve", &id.to_string()]))
        .await
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(1),
        "resolving a resolved incident is refused: {again:?}"
    );
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already resolved"),
        "{again:?}"
    );
    let missing = nines(arg(&["incident", "ack", "999"])).await.unwrap();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_invalid_event_gets_a_400_that_names_each_problem() {
    nines::install_crypto_provider();
    let tmp = tempfile::tempdir().unwrap();
    let running = start(tmp.path()).await;
    let url = format!("http://{}/v2/enqueue", running.addr);
    let http = reqwest::Client::new();
    let cases: [(&str, &[&str]); 5] = [
        (
            "{}",
            &[
                "'routing_key' is missing or blank",
                "'event_action' must be trigger, acknowledge or resolve, got \"\"",
            ],
        ),
        (
            // An unknown action is that one problem, not also a missing key.
            r#"{"routing_key":"k","event_action":"explode"}"#,
            &["'event_action' must be trigger, acknowledge or resolve, got \"explode\""],
        ),
        (
            r#"{"routing_key":"k","event_action":"resolve"}"#,
            &["'dedup_key' is required to resolve an event"],
        ),
        (
            r#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"fatal"}}"#,
            &["'payload.severity' must be critical, error, warning or info, got \"fatal\""],
        ),
        (
            "[]",
            &[
                "the body is not a valid event: invalid length 0, expected struct Event with 8 elements at line 1 column 2",
            ],
        ),
    ];
    for (body, want) in cases {
        let r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["status"], "invalid event", "{v}");
        let errors: Vec<&str> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(errors, want, "{body}");
    }
    running.shutdown().await.unwrap();
}
