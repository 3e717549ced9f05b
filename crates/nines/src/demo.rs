//! `nines demo`: the server on the example configuration, fed with
//! synthetic traffic that has a bad spell in it, so that a newcomer sees
//! SLIs, budgets moving, a burn-rate alert and a frozen gate within a
//! minute or two. Every request it sends is labelled as demo traffic, and
//! its data lives in a throw-away directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::clock::{Clock, SystemClock};
use crate::serve::{self, Options, Signals};

/// Synthetic requests per second per SLI.
const RATE: f64 = 20.0;
/// History written before the live traffic starts, so windows have data.
const HISTORY_MINUTES: i64 = 6 * 60;
/// The error ratio outside the bad spell: well inside every example budget.
const CLEAN: f64 = 0.0001;
/// When the bad spell starts and how long it lasts, from the demo's start.
const BAD_FROM_S: i64 = 30;
const BAD_FOR_S: i64 = 180;

pub struct DemoArgs {
    pub config: PathBuf,
    pub listen: std::net::SocketAddr,
}

fn events_for(
    sli: &str,
    values: bool,
    threshold: f64,
    at: Timestamp,
    seconds: f64,
    error_ratio: f64,
) -> Vec<Value> {
    let stamp = at.to_string();
    if values {
        // A handful of measured values: good ones well under the limit, bad
        // ones well over it.
        let n = (seconds / 12.0).ceil().max(1.0) as usize;
        let bad = (n as f64 * error_ratio).round() as usize;
        (0..n)
            .map(|i| {
                let v = if i < bad {
                    threshold * 3.0
                } else {
                    threshold * 0.4
                };
                json!({"sli": sli, "timestamp": stamp, "value": v})
            })
            .collect()
    } else {
        let total = (RATE * seconds).round();
        vec![
            json!({"sli": sli, "timestamp": stamp, "good": total * (1.0 - error_ratio), "total": total}),
        ]
    }
}

async fn push(client: &reqwest::Client, base: &str, events: Vec<Value>) {
    for chunk in events.chunks(5000) {
        let r = client
            .post(format!("{base}/api/v1/sli/events"))
            .header("user-agent", "nines-demo (synthetic traffic)")
            .json(&json!({ "events": chunk }))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                tracing::warn!(%status, "demo traffic refused: {body}");
            }
            Err(e) => tracing::warn!(error = %e, "demo traffic not sent"),
        }
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let signals = Signals::install()?;
    let data_dir = std::env::temp_dir().join(format!("nines-demo-{}", std::process::id()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let running = serve::start(
        Options {
            config_path: args.config.clone(),
            data_dir: data_dir.clone(),
            store_url: None,
            listen: args.listen,
            max_body_bytes: 8 * 1024 * 1024,
            max_maintenance: crate::serve::DEFAULT_MAX_MAINTENANCE,
            eval_interval: Some(Duration::from_secs(5)),
            alertmanager_config: None,
            smtp: None,
            delivery_timeout: crate::serve::DEFAULT_DELIVERY_TIMEOUT,
            page_limit: None,
            pace_machines: true,
        },
        clock.clone(),
    )
    .await?;
    let base = format!("http://{}", running.addr);
    let slis = running.state.slo().sli_catalog();
    tracing::info!(
        "DEMO: synthetic traffic ({RATE}/s per SLI, {} SLIs), data in {} (deleted at exit)",
        slis.len(),
        data_dir.display()
    );
    tracing::info!(
        "DEMO: open {base}/ ; a bad spell starts in {BAD_FROM_S}s for {}m; then try `nines gate --service checkout --server {base}`",
        BAD_FOR_S / 60
    );
    let client = reqwest::Client::new();
    let start = clock.now();
    // History: clean traffic over the last hours, one batch per SLI.
    let mut history = Vec::new();
    for (sli, values, threshold) in &slis {
        for m in (1..=HISTORY_MINUTES).rev() {
            let at = start - SignedDuration::from_mins(m);
            history.extend(events_for(sli, *values, *threshold, at, 60.0, CLEAN));
        }
    }
    push(&client, &base, history).await;
    running.state.evaluate().await;
    let feeder = {
        let base = base.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let now = clock.now();
                let since = (now.as_second() - start.as_second()).max(0);
                let bad = (BAD_FROM_S..BAD_FROM_S + BAD_FOR_S).contains(&since);
                if since == BAD_FROM_S || (bad && since % 60 < 5) {
                    tracing::warn!("DEMO: bad spell in progress (synthetic errors)");
                }
                let mut events = Vec::new();
                for (sli, values, threshold) in &slis {
                    let errors = if bad { 0.4 } else { CLEAN };
                    events.extend(events_for(sli, *values, *threshold, now, 5.0, errors));
                }
                push(&client, &base, events).await;
            }
        })
    };
    let outcome = serve::run_until_signalled(running, signals).await;
    feeder.abort();
    let _ = std::fs::remove_dir_all(&data_dir);
    outcome
}
