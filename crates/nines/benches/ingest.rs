//! SLI ingest end to end: HTTP batches into the real server (port 0, a
//! temporary SQLite store, `synchronous=FULL`), each batch committed before
//! its answer. Prints events per second and server-side figures; asserts
//! nothing. `cargo bench -p nines --bench ingest [-- BATCH CLIENTS SECONDS]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nines::clock::SystemClock;
use nines::serve::{self, Options};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let batch: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(4);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    nines::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let tmp = std::env::temp_dir().join(format!("nines-bench-{}", std::process::id()));
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
        let running = serve::start(
            Options {
                config_path: root,
                data_dir: tmp.join("data"),
                store_url: None,
                listen: "127.0.0.1:0".parse().unwrap(),
                max_body_bytes: 64 * 1024 * 1024,
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
        .unwrap();
        let url = format!("http://{}/api/v1/sli/events", running.addr);
        // Events spread over the last few minutes, as many senders would send them.
        let now = jiff::Timestamp::now();
        let body = {
            let events: Vec<serde_json::Value> = (0..batch)
                .map(|i| {
                    let at = now - jiff::SignedDuration::from_secs((i % 180) as i64);
                    if i % 2 == 0 {
                        serde_json::json!({"sli": "checkout-requests", "timestamp": at.to_string(), "good": 99, "total": 100})
                    } else {
                        serde_json::json!({"sli": "payments-api-requests", "timestamp": at.to_string(), "success": i % 97 != 0})
                    }
                })
                .collect();
            axum::body::Bytes::from(serde_json::to_vec(&serde_json::json!({ "events": events })).unwrap())
        };
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (url, body) = (url.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut sent = 0usize;
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                    latencies.push(t.elapsed());
                    sent += 1;
                }
                (sent, latencies)
            }));
        }
        let mut batches = 0;
        let mut latencies = Vec::new();
        for t in tasks {
            let (n, l) = t.await.unwrap();
            batches += n;
            latencies.extend(l);
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
        println!(
            "ingest: {} events in {} batches of {} from {} clients in {:.1}s: {:.0} events/s; batch latency p50 {:?}, p99 {:?}",
            batches * batch,
            batches,
            batch,
            clients,
            elapsed,
            (batches * batch) as f64 / elapsed,
            p(0.5),
            p(0.99)
        );
        running.shutdown().await.unwrap();
        let _ = std::fs::remove_dir_all(tmp);
    });
}
