//! nines as an Alertmanager, driven by the real clients: Debian's `amtool`
//! (package `prometheus-alertmanager`) and a real `prometheus` whose rule
//! fires and resolves. scripts/test installs both; each test is skipped, and
//! says so, where its program is missing.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Killed, free_port, which};
use nines::clock::SystemClock;
use nines::serve::{self, Options, Running};
use serde_json::Value;

async fn start(dir: &Path) -> Running {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("services.yaml"),
        "apiVersion: nines/v1\nkind: Service\nmetadata: {name: checkout}\nspec: {owner: payments}\n---\napiVersion: nines/v1\nkind: Team\nmetadata: {name: payments}\nspec: {}\n",
    )
    .unwrap();
    serve::start(
        Options {
            config_path: config,
            data_dir: dir.join("data"),
            store_url: None,
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body_bytes: 1 << 20,
            eval_interval: None,
        },
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
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

/// Waits (on Prometheus' own schedule) until `check` holds for nines' alerts.
async fn until(url: &str, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let list = alerts(url, "").await;
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {list:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let firing = until(&url, "CheckoutDown firing", |l| {
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
    until(&url, "CheckoutDown resolved", |l| {
        !l.iter().any(|a| a["labels"]["alertname"] == "CheckoutDown")
    })
    .await;
    running.shutdown().await.unwrap();
}
