//! SLIs pulled from a real Prometheus (Debian's `prometheus`, installed by
//! scripts/test) that scrapes a small exporter run by the test. Skipped, and
//! said so, where no `prometheus` binary exists.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod common;

use common::{free_port, spawn_prometheus, which};
use jiff::Timestamp;
use nines::clock::ManualClock;
use nines::serve::{self, Options};
use serde_json::Value;

/// The exporter's numbers: good requests, failed requests, p99 latency.
type Figures = Arc<Mutex<(f64, f64, f64)>>;

/// Serves `figures` to Prometheus; the returned counter moves on each
/// scrape answered.
fn exporter(figures: Figures) -> (u16, tokio::sync::watch::Receiver<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (scraped, scrapes) = tokio::sync::watch::channel(0u64);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let (good, bad, p99) = *figures.lock().unwrap();
            let body = format!(
                "# TYPE demo_requests_total counter\ndemo_requests_total{{code=\"200\"}} {good}\ndemo_requests_total{{code=\"500\"}} {bad}\n# TYPE demo_latency_p99_ms gauge\ndemo_latency_p99_ms {p99}\n"
            );
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            drop(stream);
            scraped.send_modify(|n| *n += 1);
        }
    });
    (port, scrapes)
}

async fn query(client: &reqwest::Client, prom: &str, q: &str) -> Option<f64> {
    let v: Value = client
        .get(format!(
            "{prom}/api/v1/query?query={}",
            nines::client::urlencode(q)
        ))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Waits until Prometheus has scraped `value` for `q`: it runs on its own
/// schedule, so the test asks again after each scrape it answers, not
/// after a timer.
async fn until(
    client: &reqwest::Client,
    prom: &str,
    scrapes: &mut tokio::sync::watch::Receiver<u64>,
    q: &str,
    value: f64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        scrapes.borrow_and_update();
        if query(client, prom, q).await == Some(value) {
            return;
        }
        let next = tokio::time::timeout_at(deadline, scrapes.changed()).await;
        assert!(
            next.is_ok_and(|r| r.is_ok()),
            "Prometheus never saw {q} = {value}"
        );
    }
}

const CONFIG: &str = r#"
apiVersion: openslo/v1
kind: DataSource
metadata: {name: prom}
spec:
  type: Prometheus
  connectionDetails: {url: "PROM"}
---
apiVersion: openslo/v1
kind: DataSource
metadata: {name: down}
spec:
  type: Prometheus
  connectionDetails: {url: "http://127.0.0.1:1"}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: pulled-availability}
spec:
  service: demo
  indicator:
    metadata: {name: demo-requests}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {metricSourceRef: prom, spec: {query: 'sum(demo_requests_total{code="200"})'}}}
        total: {metricSource: {metricSourceRef: prom, spec: {query: 'sum(demo_requests_total)'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: pulled-latency}
spec:
  service: demo
  indicator:
    metadata: {name: demo-latency}
    spec:
      thresholdMetric: {metricSource: {metricSourceRef: prom, spec: {query: 'max(demo_latency_p99_ms)'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lt, value: 300, target: 0.9}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: pulled-nothing}
spec:
  service: demo
  indicator:
    metadata: {name: demo-absent}
    spec:
      thresholdMetric: {metricSource: {metricSourceRef: prom, spec: {query: 'max(no_such_metric)'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lt, value: 1, target: 0.9}]
  alertPolicies: [{alertPolicyRef: ticket-when-silent}]
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata: {name: ticket-when-silent}
spec:
  alertWhenNoData: true
  conditions:
    - kind: AlertCondition
      metadata: {name: absent-burn}
      spec:
        severity: ticket
        condition: {kind: burnrate, op: gte, threshold: 2, lookbackWindow: 1h}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: pulled-from-nowhere}
spec:
  service: demo
  indicator:
    metadata: {name: demo-unreachable}
    spec:
      thresholdMetric: {metricSource: {metricSourceRef: down, spec: {query: 'up'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{op: lt, value: 1, target: 0.9}]
"#;

#[tokio::test]
async fn slis_are_pulled_from_a_real_prometheus() {
    let Ok(path) = which("prometheus") else {
        eprintln!(
            "SKIPPED: prometheus pull test: no `prometheus` binary (scripts/test installs Debian's)"
        );
        return;
    };
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let figures: Figures = Arc::new(Mutex::new((1000.0, 0.0, 100.0)));
    let (exporter_port, mut scrapes) = exporter(figures.clone());
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: ['127.0.0.1:{exporter_port}']}}]\n"),
    )
    .unwrap();
    let _prometheus = spawn_prometheus(&path, &prom_config, dir.path(), prom_port);
    let prom = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::Client::new();
    until(
        &client,
        &prom,
        &mut scrapes,
        "sum(demo_requests_total)",
        1000.0,
    )
    .await;

    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("slo.yaml"), CONFIG.replace("PROM", &prom)).unwrap();
    // Minutes just ahead of the wall clock: Prometheus answers a query at a
    // time shortly after its last sample with that sample.
    let m0 = nines_core::series::minute_of(Timestamp::now()) + 1;
    let clock = Arc::new(ManualClock::new(
        Timestamp::from_second((m0 + 3) * 60).unwrap(),
    ));
    let running = serve::start(
        Options {
            config_path: config,
            data_dir: dir.path().join("data"),
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
        clock,
    )
    .await
    .unwrap();
    let state = running.state.clone();
    state.puller.pull_minute(&state, m0).await;
    *figures.lock().unwrap() = (1900.0, 100.0, 400.0);
    until(
        &client,
        &prom,
        &mut scrapes,
        "sum(demo_requests_total)",
        2000.0,
    )
    .await;
    until(
        &client,
        &prom,
        &mut scrapes,
        "max(demo_latency_p99_ms)",
        400.0,
    )
    .await;
    state.puller.pull_minute(&state, m0 + 1).await;
    // The same minute pulled again (a restart, a second node) counts once.
    state.puller.pull_minute(&state, m0 + 1).await;

    let base = format!("http://{}", running.addr);
    let slo = |name: &'static str| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let v: Value = client
                .get(format!("{base}/api/v1/slos/{name}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["objectives"][0].clone()
        }
    };
    let ratio = slo("pulled-availability").await;
    assert_eq!(
        (ratio["good"].as_f64(), ratio["total"].as_f64()),
        (Some(900.0), Some(1000.0)),
        "{ratio}"
    );
    let latency = slo("pulled-latency").await;
    assert_eq!(
        (latency["good"].as_f64(), latency["total"].as_f64()),
        (Some(1.0), Some(2.0)),
        "{latency}"
    );
    let sources: Value = client
        .get(format!("{base}/api/v1/sli/sources"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state_of = |sli: &str| {
        sources["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sli"] == sli)
            .unwrap()
            .clone()
    };
    assert_eq!(state_of("demo-requests")["state"], "ok", "{sources}");
    assert_eq!(state_of("demo-absent")["state"], "no_data", "{sources}");
    let first_empty = Timestamp::from_second(m0 * 60).unwrap().to_string();
    assert_eq!(
        state_of("demo-absent")["no_data_since"],
        first_empty.as_str(),
        "{sources}"
    );
    // Its SLO asks for no-data alerts: an empty pull alerts at once, since
    // the first empty minute, and says why.
    state.evaluate().await;
    let am: Value = client
        .get(format!("{base}/api/v2/alerts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let silent: Vec<&Value> = am
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == "SLONoData")
        .collect();
    assert_eq!(silent.len(), 1, "{am}");
    assert_eq!(silent[0]["labels"]["slo"], "pulled-nothing");
    assert_eq!(
        silent[0]["annotations"]["no_data_since"],
        first_empty.as_str()
    );
    assert!(
        silent[0]["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("Prometheus query returns no series"),
        "{}",
        silent[0]
    );
    let unreachable = state_of("demo-unreachable");
    assert_eq!(unreachable["state"], "error", "{sources}");
    assert!(
        unreachable["detail"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1"),
        "{unreachable}"
    );
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("nines_sli_pull_up{sli=\"demo-absent\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("nines_sli_pull_up{sli=\"demo-requests\"} 1"),
        "{metrics}"
    );
    running.shutdown().await.unwrap();
}
