//! The real server on port 0 with a temporary SQLite store, driven over HTTP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nines::clock::ManualClock;
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
    assert_eq!(v["store"]["schema_version"], 1);
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
    for (path, ops) in paths {
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
