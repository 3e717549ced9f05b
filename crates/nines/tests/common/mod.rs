//! What the tests that run real outside programs share.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Starts the real `prometheus` at `binary` with `config`, its data under
/// `dir`, listening on `port`; killed when the returned guard drops.
pub fn spawn_prometheus(binary: &Path, config: &Path, dir: &Path, port: u16) -> Killed {
    Killed(
        Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A webhook receiver on loopback that records every request (headers and
/// body) and answers 500 to the first `fail_first` of them.
pub struct Receiver {
    pub port: u16,
    pub got: Arc<std::sync::Mutex<Vec<(String, Value)>>>,
    /// Signalled by the receiver thread after each delivery it records.
    arrived: Arc<tokio::sync::Notify>,
}

pub fn receiver(fail_first: usize) -> Receiver {
    receiver_answering(fail_first, "500 Internal Server Error", false)
}

/// A receiver that is down for good, as a broken integration is: it
/// answers `status` (such as `400 Bad Request`) to every request, and
/// records each.
pub fn refusing(status: &'static str) -> Receiver {
    receiver_answering(usize::MAX, status, true)
}

fn receiver_answering(fail_first: usize, failure: &'static str, record_failures: bool) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<std::sync::Mutex<Vec<(String, Value)>>> = Arc::default();
    let log = got.clone();
    let arrived = Arc::new(tokio::sync::Notify::new());
    let signal = arrived.clone();
    std::thread::spawn(move || {
        let mut seen = 0;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            let mut key = String::new();
            loop {
                let mut line = String::new();
                if std::io::BufRead::read_line(&mut reader, &mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("idempotency-key:") {
                    key = line["idempotency-key:".len()..].trim().to_owned();
                }
                head.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            seen += 1;
            let status = if seen <= fail_first {
                failure
            } else {
                "200 OK"
            };
            if seen > fail_first || record_failures {
                log.lock()
                    .unwrap()
                    .push((key, serde_json::from_slice(&body).unwrap()));
                signal.notify_waiters();
            }
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    Receiver { port, got, arrived }
}

impl Receiver {
    /// Waits for the `n`th delivery (nines' delivery worker runs on its
    /// own): woken by each delivery the receiver records, not by polling.
    pub async fn nth(&self, n: usize) -> (String, Value) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            // Registered before looking, so a delivery in between still wakes it.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(x) = self.got.lock().unwrap().get(n - 1) {
                return x.clone();
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("no delivery #{n}: {:?}", self.got.lock().unwrap());
            }
        }
    }

    /// The `n`th delivery if it arrives within `wait`; for a test that
    /// moves an injected clock until a retry falls due.
    pub async fn nth_within(&self, n: usize, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(x) = self.got.lock().unwrap().get(n - 1) {
                return Some(x.clone());
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

/// Starts nines on loopback with `services_yaml` as its whole configuration
/// (written under `dir/config`), its data under `dir/data`, no background
/// SLO evaluation, and `clock`.
pub async fn start_with_config(
    dir: &Path,
    services_yaml: &str,
    alertmanager: Option<&Path>,
    clock: Arc<dyn nines::clock::Clock>,
) -> nines::serve::Running {
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
            alertmanager_config: alertmanager.map(Path::to_path_buf),
            smtp: None,
            delivery_timeout: nines::serve::DEFAULT_DELIVERY_TIMEOUT,
            page_limit: None,
            pace_machines: true,
        },
        clock,
    )
    .await
    .unwrap()
}

/// Posts alerts to Alertmanager's API v2 and expects them accepted.
pub async fn post_alerts(url: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v2/alerts"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// GETs a URL and reads its JSON.
pub async fn get(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The test virtualenv's Python (scripts/test makes it), or
/// `NINES_TEST_PYTHON`, if it can import `modules` (comma-separated).
pub fn python_with(modules: &str) -> Option<std::path::PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv/bin/python");
    let py = std::env::var_os("NINES_TEST_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or(venv);
    let ok = Command::new(&py)
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

/// Waits until `probe` gives `Some`, looking again each time one of the
/// `servers` has written something the API shows (alerts committed, a
/// dispatcher pass, a delivery recorded): woken by nines, not by a timer.
/// Panics with `what` after 20 s.
pub async fn until_progress<T, F, Fut>(
    servers: &[&nines::serve::AppState],
    what: &str,
    probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    until_progress_within(Duration::from_secs(20), servers, what, probe).await
}

/// [`until_progress`], giving up after `within`.
pub async fn until_progress_within<T, F, Fut>(
    within: Duration,
    servers: &[&nines::serve::AppState],
    what: &str,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut rx: Vec<_> = servers
        .iter()
        .map(|s| s.alerts.progress.subscribe())
        .collect();
    loop {
        // Marked seen before looking, so a write in between still wakes us.
        for r in &mut rx {
            r.borrow_and_update();
        }
        if let Some(v) = probe().await {
            return v;
        }
        let changed = futures_select(&mut rx);
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            panic!("never got {what}");
        }
    }
}

/// The first of `rx` to change.
async fn futures_select(rx: &mut [tokio::sync::watch::Receiver<u64>]) {
    let (tx, mut done) = tokio::sync::mpsc::channel::<()>(1);
    let waits: Vec<_> = rx
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if r.changed().await.is_ok() {
                    let _ = tx.send(()).await;
                }
            })
        })
        .collect();
    let _ = done.recv().await;
    for w in waits {
        w.abort();
    }
}
