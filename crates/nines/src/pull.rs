//! SLIs pulled from a Prometheus-compatible query API (Prometheus, Thanos,
//! Mimir, VictoriaMetrics): each minute, the SLI's queries are evaluated at
//! the end of the minute just closed and the results go into the same
//! durable buckets as pushed data.
//!
//! How query results become counts:
//! - ratio SLI, `counter: true`: the queries return monotonically increasing
//!   totals (`sum(http_requests_total)`); a minute counts the increase since
//!   the previous minute (a decrease is a counter reset: the new value is the
//!   increase). The first minute only sets the baseline.
//! - ratio SLI, `counter: false`: the queries return per-second rates
//!   (`sum(rate(http_requests_total[1m]))`); a minute counts rate x 60.
//! - `raw` ratio: the query returns the ratio itself; one minute counts as
//!   one event of that ratio.
//! - threshold SLI: the query returns a measured value (a p99 latency), one
//!   observation per minute, judged by each objective's `op` and `value`.
//!
//! An empty result is "no data" for that minute: nothing is recorded and the
//! SLI's pull status says so.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use nines_core::engine::Observation;
use nines_core::model::{Catalog, MetricSource, Numerator, RawType, SliMetric, Value};
use nines_core::series::Counts;
use nines_store::{BatchOutcome, BucketRow};
use serde_json::json;

use crate::serve::AppState;

const TIMEOUT: Duration = Duration::from_secs(5);
const ATTEMPTS: u32 = 3;

#[derive(Clone, Debug, PartialEq)]
struct Query {
    base_url: String,
    promql: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Plan {
    Ratio {
        counter: bool,
        good: Option<Query>,
        bad: Option<Query>,
        total: Query,
    },
    Raw {
        raw_type: RawType,
        query: Query,
    },
    Threshold(Query),
}

/// The Prometheus query behind a metric source: its `spec.query`, against
/// the URL of its DataSource (`connectionDetails.url`) or its own `spec.url`.
fn query_of(catalog: &Catalog, m: &MetricSource) -> Option<Query> {
    let promql = m
        .spec
        .get("query")
        .or_else(|| m.spec.get("promql"))
        .and_then(Value::as_str)?
        .to_owned();
    let source = m
        .source_ref
        .as_ref()
        .and_then(|r| catalog.data_sources.get(r));
    let is_prometheus = |k: &str| k.eq_ignore_ascii_case("prometheus");
    let kind_ok = m.kind.as_deref().is_some_and(is_prometheus)
        || source.is_some_and(|s| is_prometheus(&s.kind));
    if !kind_ok {
        return None;
    }
    let base_url = source
        .and_then(|s| s.connection_details.get("url").and_then(Value::as_str))
        .or_else(|| m.spec.get("url").and_then(Value::as_str))?
        .trim_end_matches('/')
        .to_owned();
    Some(Query { base_url, promql })
}

/// Every SLI of the catalog that can be pulled, by name.
fn plans(catalog: &Catalog) -> BTreeMap<String, Plan> {
    let mut out = BTreeMap::new();
    let indicators = catalog.slos.values().flat_map(|slo| {
        slo.indicator
            .iter()
            .chain(slo.objectives.iter().filter_map(|o| o.indicator.as_ref()))
    });
    for sli in indicators {
        let plan = match &sli.metric {
            SliMetric::Ratio {
                counter,
                numerator,
                total,
            } => {
                let total = query_of(catalog, total);
                let (good, bad) = match numerator {
                    Numerator::Good(m) => (query_of(catalog, m), None),
                    Numerator::Bad(m) => (None, query_of(catalog, m)),
                };
                match total {
                    Some(total) if good.is_some() || bad.is_some() => Some(Plan::Ratio {
                        counter: *counter,
                        good,
                        bad,
                        total,
                    }),
                    _ => None,
                }
            }
            SliMetric::RawRatio { raw_type, raw } => {
                query_of(catalog, raw).map(|query| Plan::Raw {
                    raw_type: *raw_type,
                    query,
                })
            }
            SliMetric::Threshold(m) => query_of(catalog, m).map(Plan::Threshold),
        };
        if let Some(p) = plan {
            out.insert(sli.meta.name.clone(), p);
        }
    }
    out
}

/// Whether a catalog has anything to pull.
pub fn has_pulled_slis(catalog: &Catalog) -> bool {
    !plans(catalog).is_empty()
}

#[derive(Clone, Debug, PartialEq)]
pub struct PullStatus {
    /// `ok`, `baseline`, `no_data` or `error`.
    pub state: &'static str,
    pub minute: i64,
    pub detail: Option<String>,
    /// The first minute of the current run of empty results.
    pub no_data_since: Option<i64>,
}

/// What one pull of one SLI found.
enum Pulled {
    Data(Observation),
    /// The query returned no series.
    Empty,
    /// A counter's first value: the next minute counts from it.
    Baseline,
}

/// What the puller remembers between minutes.
#[derive(Default)]
pub struct Puller {
    client: std::sync::OnceLock<reqwest::Client>,
    /// The recent values of each counter query, by the minute they close.
    baselines: Mutex<HashMap<String, BTreeMap<i64, f64>>>,
    status: Mutex<BTreeMap<String, PullStatus>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Puller {
    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(TIMEOUT)
                .connect_timeout(TIMEOUT)
                .build()
                .unwrap_or_default()
        })
    }

    pub fn status(&self) -> BTreeMap<String, PullStatus> {
        lock(&self.status).clone()
    }

    /// For every SLI `catalog` pulls, since when its pulls have found
    /// nothing (`None` when they find data, or have not run yet). SLIs no
    /// longer pulled are left out, whatever their last pull found.
    pub fn empty_since(&self, catalog: &Catalog) -> Vec<(String, Option<Timestamp>)> {
        let status = lock(&self.status);
        plans(catalog)
            .into_keys()
            .map(|sli| {
                let since = status
                    .get(&sli)
                    .and_then(|s| s.no_data_since)
                    .and_then(|m| Timestamp::from_second(m * 60).ok());
                (sli, since)
            })
            .collect()
    }

    /// One instant query, retried with exponential backoff and jitter.
    /// `Ok(None)` is an empty result.
    async fn instant(&self, q: &Query, at: Timestamp) -> Result<Option<f64>, String> {
        let url = format!(
            "{}/api/v1/query?query={}&time={}",
            q.base_url,
            crate::client::urlencode(&q.promql),
            at.as_second()
        );
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // 200 ms, 400 ms, ... plus up to half as much again, derived
                // from the query so that many SLIs do not retry in step.
                let base = 200u64 << (attempt - 1);
                let jitter = q.promql.len() as u64 * 37 % (base / 2 + 1);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            let sent = self.client().get(&url).send().await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last_error = format!("{url}: {e}");
                    continue;
                }
            };
            let status = response.status();
            let body: serde_json::Value = match response.json().await {
                Ok(b) => b,
                Err(e) => {
                    last_error = format!("{url} answered {status} with no JSON: {e}");
                    continue;
                }
            };
            if body["status"] != "success" {
                // A bad query will not get better by retrying.
                return Err(format!(
                    "{} for `{}`: {}",
                    body["errorType"].as_str().unwrap_or("error"),
                    q.promql,
                    body["error"].as_str().unwrap_or("no message")
                ));
            }
            return Ok(sum_of(&body["data"]));
        }
        Err(last_error)
    }

    /// Pulls every SLI for `minute` (the minute that starts at `minute * 60`)
    /// and records what it finds, durably, once per SLI and minute.
    pub async fn pull_minute(&self, state: &AppState, minute: i64) {
        let config = state.current();
        let at = Timestamp::from_second((minute + 1) * 60).unwrap_or(Timestamp::UNIX_EPOCH);
        for (sli, plan) in plans(&config.catalog) {
            let outcome = self.observe(&sli, &plan, minute, at).await;
            let previous = lock(&self.status).get(&sli).and_then(|s| s.no_data_since);
            let (found, detail) = match outcome {
                Ok(Pulled::Data(obs)) => match record(state, &sli, minute, obs).await {
                    Ok(()) => ("ok", None),
                    Err(e) => ("error", Some(e)),
                },
                Ok(Pulled::Empty) => ("no_data", None),
                Ok(Pulled::Baseline) => ("baseline", None),
                Err(e) => ("error", Some(e)),
            };
            let no_data_since = match found {
                "no_data" => Some(previous.map_or(minute, |p| p.min(minute))),
                "error" => previous,
                _ => None,
            };
            let status = PullStatus {
                state: found,
                minute,
                detail,
                no_data_since,
            };
            if status.state != "ok" {
                tracing::warn!(sli = %sli, minute, state = status.state, detail = status.detail.as_deref().unwrap_or(""), "SLI pull");
            }
            state.metrics.record_pull(&sli, status.state);
            lock(&self.status).insert(sli, status);
        }
    }

    async fn observe(
        &self,
        sli: &str,
        plan: &Plan,
        minute: i64,
        at: Timestamp,
    ) -> Result<Pulled, String> {
        let found = |obs: Option<Observation>| obs.map_or(Pulled::Empty, Pulled::Data);
        match plan {
            Plan::Threshold(q) => Ok(found(self.instant(q, at).await?.map(Observation::Value))),
            Plan::Raw { raw_type, query } => Ok(found(self.instant(query, at).await?.map(|r| {
                let r = r.clamp(0.0, 1.0);
                let good = match raw_type {
                    RawType::Success => r,
                    RawType::Failure => 1.0 - r,
                };
                Observation::Counts { good, total: 1.0 }
            }))),
            Plan::Ratio {
                counter,
                good,
                bad,
                total,
            } => {
                let numerator = good.as_ref().or(bad.as_ref()).ok_or("no numerator")?;
                let (Some(n), Some(t)) = (
                    self.instant(numerator, at).await?,
                    self.instant(total, at).await?,
                ) else {
                    return Ok(Pulled::Empty);
                };
                let (n, t) = if *counter {
                    let nd = self.increase(&format!("{sli}/numerator"), minute, n);
                    let td = self.increase(&format!("{sli}/total"), minute, t);
                    match (nd, td) {
                        (Some(nd), Some(td)) => (nd, td),
                        _ => return Ok(Pulled::Baseline),
                    }
                } else {
                    (n * 60.0, t * 60.0)
                };
                let total = t.max(0.0);
                let bad_or_good = n.clamp(0.0, total);
                let good = if good.is_some() {
                    bad_or_good
                } else {
                    total - bad_or_good
                };
                Ok(Pulled::Data(Observation::Counts { good, total }))
            }
        }
    }

    /// The increase of a counter over `minute`, from the value at the end of
    /// the previous minute; `None` without a baseline.
    fn increase(&self, key: &str, minute: i64, value: f64) -> Option<f64> {
        let mut baselines = lock(&self.baselines);
        let values = baselines.entry(key.to_owned()).or_default();
        values.insert(minute, value);
        // A few minutes are kept so that a minute pulled again still finds
        // the one before it.
        values.retain(|m, _| *m >= minute - 5);
        let previous = *values.get(&(minute - 1))?;
        Some(if value >= previous {
            value - previous
        } else {
            value
        })
    }
}

/// The sum of an instant query's samples; `None` when it has none.
fn sum_of(data: &serde_json::Value) -> Option<f64> {
    let parse = |v: &serde_json::Value| v[1].as_str().and_then(|s| s.parse::<f64>().ok());
    match data["resultType"].as_str() {
        Some("scalar") => parse(&data["result"]).filter(|x| x.is_finite()),
        Some("vector") => {
            let values: Vec<f64> = data["result"]
                .as_array()?
                .iter()
                .filter_map(|s| parse(&s["value"]))
                .filter(|x| x.is_finite())
                .collect();
            (!values.is_empty()).then(|| values.iter().sum())
        }
        _ => None,
    }
}

/// Stores one pulled observation under a key per SLI and minute, so that a
/// minute pulled twice (a restart, two nodes) counts once, then applies it.
async fn record(state: &AppState, sli: &str, minute: i64, obs: Observation) -> Result<(), String> {
    let _gate = state.ingest_gate.read().await;
    let now = state.clock.now();
    let at = Timestamp::from_second(minute * 60).map_err(|e| e.to_string())?;
    let slo = state.slo();
    let rows: Vec<BucketRow> = {
        let incs = slo.plan(sli, at, obs, now).map_err(|e| e.to_string())?;
        let mut maintenance = crate::alerts::maintenance::MaintenanceOf::new(state);
        incs.into_iter()
            .map(|(series, inc)| BucketRow {
                maintenance: maintenance.at(&series, inc.minute),
                series,
                minute: inc.minute,
                good: inc.counts.good,
                total: inc.counts.total,
            })
            .collect()
    };
    let key = format!("pull:{sli}:{minute}");
    match state
        .store
        .record_sli_batch(Some(&key), now, &rows)
        .await
        .map_err(|e| e.to_string())?
    {
        BatchOutcome::Duplicate { .. } => Ok(()),
        BatchOutcome::Applied { .. } => {
            for row in &rows {
                slo.apply_row(
                    &row.series,
                    row.minute,
                    Counts::new(row.good, row.total),
                    false,
                );
            }
            Ok(())
        }
    }
}

/// `GET /api/v1/sli/sources`: the pull status of every pulled SLI.
pub async fn sources(
    axum::extract::State(state): axum::extract::State<std::sync::Arc<AppState>>,
) -> axum::Json<serde_json::Value> {
    let status = state.puller.status();
    let config = state.current();
    let items: Vec<serde_json::Value> = plans(&config.catalog)
        .keys()
        .map(|sli| {
            let s = status.get(sli);
            json!({
                "sli": sli,
                "source": "prometheus",
                "state": s.map_or("pending", |s| s.state),
                "minute": s.map(|s| Timestamp::from_second(s.minute * 60).map(|t| t.to_string()).unwrap_or_default()),
                "detail": s.and_then(|s| s.detail.clone()),
                "no_data_since": s.and_then(|s| s.no_data_since).map(|m| Timestamp::from_second(m * 60).map(|t| t.to_string()).unwrap_or_default()),
            })
        })
        .collect();
    axum::Json(json!({ "sources": items }))
}
