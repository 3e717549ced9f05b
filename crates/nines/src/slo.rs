//! The SLO engine inside the server: pushed SLI data in (durable before it
//! is acknowledged), budgets and burn rates out, alert state changes logged
//! and counted, and the deploy gate.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;
use nines_core::burn::human_window;
use nines_core::engine::{AlertEvent, Engine, Evaluation, Increment, ObjectiveStatus, Observation};
use nines_core::model::{BudgetingMethod, Catalog};
use nines_core::series::Counts;
use nines_store::{BatchOutcome, BucketRow, GateOverride, NewGateOverride, Store};
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::serve::AppState;

/// The most events one ingest request may carry.
pub const MAX_EVENTS_PER_BATCH: usize = 100_000;
/// How many state changes `/api/v1/alerts` remembers.
const RECENT_ALERTS: usize = 1000;

/// Remaining-budget thresholds of an SLO's budget policy, set with the
/// annotations `nines/at-risk-below` and `nines/freeze-below` (ratios or
/// percentages): at risk under 25 % left, frozen when nothing is left.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetPolicy {
    pub at_risk_below: f64,
    pub freeze_below: f64,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        BudgetPolicy {
            at_risk_below: 0.25,
            freeze_below: 0.0,
        }
    }
}

fn parse_share(s: &str) -> Option<f64> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => t.parse::<f64>().ok()?,
    };
    (v.is_finite() && (-10.0..=1.0).contains(&v)).then_some(v)
}

impl BudgetPolicy {
    pub fn of(catalog: &Catalog, slo: &str) -> BudgetPolicy {
        let mut p = BudgetPolicy::default();
        if let Some(s) = catalog.slos.get(slo) {
            let a = &s.meta.annotations;
            if let Some(v) = a.get("nines/at-risk-below").and_then(|v| parse_share(v)) {
                p.at_risk_below = v;
            }
            if let Some(v) = a.get("nines/freeze-below").and_then(|v| parse_share(v)) {
                p.freeze_below = v;
            }
        }
        p
    }

    pub fn state(&self, remaining: f64, no_data: bool) -> &'static str {
        if no_data {
            "no_data"
        } else if remaining <= self.freeze_below {
            "exhausted"
        } else if remaining < self.at_risk_below {
            "at_risk"
        } else {
            "healthy"
        }
    }
}

/// The engine and what the server remembers about it.
pub struct SloRuntime {
    engine: Mutex<Engine>,
    recent: Mutex<Vec<AlertEvent>>,
    /// When each objective (by series key) entered "exhausted", read back
    /// from the store at start-up so that a restart does not move it.
    exhausted_since: Mutex<BTreeMap<String, Timestamp>>,
    /// Changes to `exhausted_since` not yet in the store (`None`: left
    /// "exhausted"); written after each evaluation, kept until written.
    unsaved: Mutex<BTreeMap<String, Option<Timestamp>>>,
    /// Held while writing them, so that two evaluations cannot write one
    /// series' changes out of order.
    saving: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SloRuntime {
    /// Builds the engine for `catalog` and replays the stored buckets it
    /// can still use.
    pub async fn load(
        catalog: &Catalog,
        store: &dyn Store,
        now: Timestamp,
    ) -> Result<SloRuntime, nines_store::StoreError> {
        let mut engine = Engine::new(catalog);
        let since = nines_core::series::minute_of(now) - engine.max_retention_minutes();
        let rows = store.sli_buckets_since(since).await?;
        let mut replayed = 0usize;
        for row in &rows {
            if let Some(series) = engine.series_index(&row.series) {
                let inc = Increment {
                    series,
                    minute: row.minute,
                    counts: Counts::new(row.good, row.total),
                };
                if engine.apply(&inc, row.maintenance).is_ok() {
                    replayed += 1;
                }
            }
        }
        tracing::info!(
            buckets = replayed,
            stored = rows.len(),
            "SLI buckets replayed"
        );
        let mut exhausted_since = BTreeMap::new();
        let mut unsaved = BTreeMap::new();
        for row in store.budget_exhaustions().await? {
            if engine.series_index(&row.series).is_some() {
                exhausted_since.insert(row.series, row.since);
            } else {
                // The objective is gone from the configuration: should it
                // come back, its budget's state starts afresh.
                unsaved.insert(row.series, None);
            }
        }
        Ok(SloRuntime {
            engine: Mutex::new(engine),
            recent: Mutex::new(Vec::new()),
            exhausted_since: Mutex::new(exhausted_since),
            unsaved: Mutex::new(unsaved),
            saving: tokio::sync::Mutex::new(()),
        })
    }

    /// Takes over the changes `old` (the runtime a reload replaces) has not
    /// written yet, so that none is lost between two runtimes.
    pub fn adopt_unsaved(&self, old: &SloRuntime) {
        let pending = std::mem::take(&mut *lock(&old.unsaved));
        let engine = lock(&self.engine);
        let mut since = lock(&self.exhausted_since);
        let mut unsaved = lock(&self.unsaved);
        for (key, value) in pending {
            if engine.series_index(&key).is_some() {
                match value {
                    Some(t) => since.insert(key.clone(), t),
                    None => since.remove(&key),
                };
            }
            unsaved.insert(key, value);
        }
    }

    /// Writes the changes of "exhausted" since the last call. A change that
    /// cannot be written is kept for the next call, unless a newer one
    /// replaced it meanwhile.
    pub async fn save_exhaustions(&self, store: &dyn Store) {
        let _saving = self.saving.lock().await;
        let pending = lock(&self.unsaved).clone();
        for (key, value) in pending {
            match store.set_budget_exhausted(&key, value).await {
                Ok(()) => {
                    let mut unsaved = lock(&self.unsaved);
                    if unsaved.get(&key) == Some(&value) {
                        unsaved.remove(&key);
                    }
                }
                Err(e) => {
                    tracing::error!(series = %key, error = %e, "budget exhaustion not stored; the next evaluation tries again");
                }
            }
        }
    }

    /// Every SLI the engine is fed by: its name, whether it takes measured
    /// values, and the lowest value limit among its objectives.
    pub fn sli_catalog(&self) -> Vec<(String, bool, f64)> {
        let engine = lock(&self.engine);
        engine
            .sli_names()
            .map(|s| {
                let limit = engine
                    .sli_thresholds(s)
                    .iter()
                    .map(|(_, v)| *v)
                    .fold(f64::INFINITY, f64::min);
                (
                    s.to_owned(),
                    engine.sli_takes_values(s),
                    if limit.is_finite() { limit } else { 100.0 },
                )
            })
            .collect()
    }

    pub fn status(&self, now: Timestamp) -> Vec<ObjectiveStatus> {
        lock(&self.engine).status(now)
    }

    /// What spans of time cost the objectives of `service`'s SLOs.
    pub fn cost(
        &self,
        service: &str,
        spans: &[(Timestamp, Timestamp)],
        now: Timestamp,
    ) -> Vec<nines_core::engine::SpanCost> {
        lock(&self.engine).cost(service, spans, now)
    }

    /// What an observation adds to each series it feeds, by series key.
    pub fn plan(
        &self,
        sli: &str,
        at: Timestamp,
        obs: Observation,
        now: Timestamp,
    ) -> Result<Vec<(String, Increment)>, nines_core::engine::IngestError> {
        let engine = lock(&self.engine);
        Ok(engine
            .plan(sli, at, obs, now)?
            .into_iter()
            .map(|inc| (engine.series_key(inc.series), inc))
            .collect())
    }

    /// Applies stored counts to the series named `key`, if this
    /// configuration still has it.
    pub fn apply_row(&self, key: &str, minute: i64, counts: Counts, maintenance: bool) {
        let mut engine = lock(&self.engine);
        if let Some(series) = engine.series_index(key) {
            // Already stored: a minute that fell out of the window meanwhile
            // simply no longer counts.
            let _ = engine.apply(
                &Increment {
                    series,
                    minute,
                    counts,
                },
                maintenance,
            );
        }
    }

    /// Tells the engine what the pulls found: for each pulled SLI, since
    /// when its pull has found nothing (`None` when it finds data).
    pub fn set_pull_empty(&self, pulls: impl IntoIterator<Item = (String, Option<Timestamp>)>) {
        let mut engine = lock(&self.engine);
        for (sli, since) in pulls {
            engine.set_pull_empty(&sli, since);
        }
    }

    /// Evaluates every SLO at `now`; returns the alerts that changed state
    /// (burn rates and no data), after logging them.
    pub fn evaluate(&self, catalog: &Catalog, now: Timestamp) -> Evaluation {
        let (evaluation, statuses) = {
            let mut engine = lock(&self.engine);
            (engine.evaluate_all(now), engine.status(now))
        };
        let events = &evaluation.burn;
        {
            let mut since = lock(&self.exhausted_since);
            let mut unsaved = lock(&self.unsaved);
            for s in &statuses {
                let key = format!("{}/{}", s.slo, s.objective);
                let policy = BudgetPolicy::of(catalog, &s.slo);
                let exhausted = policy.state(s.budget.remaining_ratio(), s.no_data) == "exhausted";
                // Only entering and leaving are written, not every evaluation.
                if exhausted && !since.contains_key(&key) {
                    since.insert(key.clone(), now);
                    unsaved.insert(key, Some(now));
                } else if !exhausted && since.remove(&key).is_some() {
                    unsaved.insert(key, None);
                }
            }
        }
        for e in &evaluation.no_data {
            tracing::warn!(
                slo = %e.slo,
                service = %e.service,
                severity = e.status.rule.urgency.as_str(),
                state = e.state.as_str(),
                since = %e.status.since.map(|t| t.to_string()).unwrap_or_default(),
                pulled_empty = e.status.pulled_empty,
                "no-data alert {}", e.state.as_str()
            );
        }
        for e in events {
            tracing::warn!(
                slo = %e.slo,
                service = %e.service,
                severity = e.urgency.as_str(),
                state = e.state.as_str(),
                rule = %e.rule,
                long_burn = e.long_burn.unwrap_or(0.0),
                short_burn = e.short_burn.unwrap_or(0.0),
                budget_consumed = e.budget_consumed,
                "burn-rate alert {}", e.state.as_str()
            );
        }
        let mut recent = lock(&self.recent);
        recent.extend(events.iter().cloned());
        let excess = recent.len().saturating_sub(RECENT_ALERTS);
        recent.drain(..excess);
        drop(recent);
        evaluation
    }

    fn exhausted_since(&self, key: &str) -> Option<Timestamp> {
        lock(&self.exhausted_since).get(key).copied()
    }
}

fn ratio(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn method_name(m: BudgetingMethod) -> &'static str {
    match m {
        BudgetingMethod::Occurrences => "Occurrences",
        BudgetingMethod::Timeslices => "Timeslices",
        BudgetingMethod::RatioTimeslices => "RatioTimeslices",
    }
}

fn status_json(s: &ObjectiveStatus, policy: &BudgetPolicy, since: Option<Timestamp>) -> Value {
    let b = &s.budget;
    let slices = s.method != BudgetingMethod::Occurrences;
    let budget = json!({
        "total": ratio(b.total_events()),
        "consumed": ratio(b.consumed_events()),
        "remaining": ratio(b.remaining_events()),
        "unit": if slices { "time slices" } else { "events" },
        "consumed_ratio": ratio(b.consumed_ratio()),
        "remaining_ratio": ratio(b.remaining_ratio()),
        "total_s": ratio(s.target.budget() * s.period_s),
        "remaining_s": ratio(s.target.budget() * s.period_s * b.remaining_ratio()),
    });
    json!({
        "slo": s.slo,
        "service": s.service,
        "objective": s.objective,
        "display_name": s.display_name,
        "target": s.target.ratio(),
        "budgeting_method": method_name(s.method),
        "window": {"start": s.window_start.to_string(), "end": s.window_end.to_string(), "period_s": s.period_s},
        "sli": s.with_maintenance.sli(),
        "sli_without_maintenance": s.without_maintenance.sli(),
        "maintenance": if s.excludes_maintenance { "excluded" } else { "counted" },
        "good": s.budget.counts.good,
        "total": s.budget.counts.total,
        "budget": budget,
        "burn_rates": s.burn_rates.iter().map(|r| json!({
            "rule": r.rule,
            "severity": r.urgency.as_str(),
            "long_window": human_window(r.long_window_s),
            "short_window": r.short_window_s.map(human_window),
            "long": r.verdict.long_burn,
            "short": r.verdict.short_burn,
            "threshold": ratio(r.threshold),
            "holds": r.verdict.holds,
        })).collect::<Vec<_>>(),
        "firing": s.firing.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
        "no_data": s.no_data,
        "no_data_alert": s.no_data_alert.map(|n| json!({
            "window": human_window(n.rule.window_s),
            "severity": n.rule.urgency.as_str(),
            "silent": n.silent,
            "firing": n.firing,
            "since": n.since.map(|t| t.to_string()),
            "pulled_empty": n.pulled_empty,
        })),
        "policy": policy.state(b.remaining_ratio(), s.no_data),
        "exhausted_since": since.map(|t| t.to_string()),
    })
}

/// The figures of every objective that `keep` selects, as the API shows them.
fn objectives_json(state: &AppState, keep: impl Fn(&ObjectiveStatus) -> bool) -> Vec<Value> {
    let config = state.current();
    let slo = state.slo();
    slo.status(state.clock.now())
        .iter()
        .filter(|s| keep(s))
        .map(|s| {
            let since = slo.exhausted_since(&format!("{}/{}", s.slo, s.objective));
            status_json(s, &BudgetPolicy::of(&config.catalog, &s.slo), since)
        })
        .collect()
}

/// For a composite SLO (objectives with their own indicators), the
/// figures of the whole, weighted by `compositeWeight`; `null` otherwise.
fn composite_json(state: &AppState, name: &str) -> Value {
    let config = state.current();
    let Some(slo) = config.catalog.slos.get(name) else {
        return Value::Null;
    };
    if slo.objectives.iter().all(|o| o.indicator.is_none()) {
        return Value::Null;
    }
    let statuses = state.slo().status(state.clock.now());
    let parts: Vec<(f64, nines_core::budget::ErrorBudget)> = statuses
        .iter()
        .filter(|s| s.slo == name)
        .filter_map(|s| {
            let weight = slo.objectives.get(s.objective)?.composite_weight;
            Some((weight, s.budget))
        })
        .collect();
    let c = nines_core::budget::CompositeBudget::of(&parts);
    json!({
        "sli": c.sli,
        "budget_consumed_ratio": ratio(c.consumed_ratio),
        "budget_remaining_ratio": ratio(c.remaining_ratio()),
        "weights": parts.iter().map(|(w, _)| w).collect::<Vec<_>>(),
    })
}

pub async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({ "slos": objectives_json(&state, |_| true) }))
}

pub async fn one(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !state.current().catalog.slos.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_slo",
            format!("no SLO named `{name}`; GET /api/v1/slos lists them"),
        ));
    }
    let objectives = objectives_json(&state, |s| s.slo == name);
    Ok(Json(json!({
        "slo": name,
        "objectives": objectives,
        "composite": composite_json(&state, &name),
    })))
}

pub async fn alerts(State(state): State<Arc<AppState>>) -> Json<Value> {
    let slo = state.slo();
    let recent = lock(&slo.recent).clone();
    Json(json!({
        "alerts": recent.iter().rev().map(|e| json!({
            "at": e.at.to_string(),
            "slo": e.slo,
            "service": e.service,
            "objective": e.objective,
            "severity": e.urgency.as_str(),
            "state": e.state.as_str(),
            "rule": e.rule,
            "long_window_s": e.long_window_s,
            "short_window_s": e.short_window_s,
            "long_burn_rate": e.long_burn,
            "short_burn_rate": e.short_burn,
            "threshold": ratio(e.threshold),
            "budget_consumed": ratio(e.budget_consumed),
            "time_to_exhaustion_s": e.time_to_exhaustion_s,
        })).collect::<Vec<_>>()
    }))
}

fn override_json(o: &GateOverride) -> Value {
    json!({
        "id": o.id,
        "service": o.service,
        "reason": o.reason,
        "by": o.created_by,
        "created_at": o.created_at.to_string(),
        "expires_at": o.expires_at.to_string(),
    })
}

/// Whether a change may ship on `service`: frozen when any of its SLOs'
/// budget policies says so, unless an override is in force.
pub async fn gate(state: &AppState, service: &str, slo: Option<&str>) -> Result<Value, ApiError> {
    let config = state.current();
    if !config.catalog.services.contains_key(service) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_service",
            format!("no service named `{service}`"),
        ));
    }
    if let Some(name) = slo
        && config
            .catalog
            .slos
            .get(name)
            .is_none_or(|s| s.service != service)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_slo",
            format!("service `{service}` has no SLO named `{name}`"),
        ));
    }
    let now = state.clock.now();
    let statuses = state.slo().status(now);
    let mut frozen_by = Vec::new();
    let mut checked = Vec::new();
    for s in statuses
        .iter()
        .filter(|s| s.service == service && slo.is_none_or(|n| n == s.slo))
    {
        let policy = BudgetPolicy::of(&config.catalog, &s.slo);
        let verdict = policy.state(s.budget.remaining_ratio(), s.no_data);
        let key = format!("{}/{}", s.slo, s.objective);
        let entry = json!({
            "slo": s.slo,
            "objective": s.objective,
            "policy": verdict,
            "remaining_ratio": ratio(s.budget.remaining_ratio()),
            "exhausted_since": state.slo().exhausted_since(&key).map(|t| t.to_string()),
        });
        if verdict == "exhausted" {
            frozen_by.push(entry.clone());
        }
        checked.push(entry);
    }
    let overrides = state
        .store
        .gate_overrides_in_force(service, now)
        .await
        .map_err(|e| ApiError::store(&e))?;
    let decision = match (frozen_by.is_empty(), overrides.first()) {
        (true, _) => "go",
        (false, Some(_)) => "go",
        (false, None) => "frozen",
    };
    Ok(json!({
        "service": service,
        "decision": decision,
        "at": now.to_string(),
        "frozen_by": frozen_by,
        "override": overrides.first().filter(|_| !frozen_by.is_empty()).map(override_json),
        "checked": checked,
    }))
}

/// `POST /api/v1/gate/{service}/overrides`: lets changes ship on a frozen
/// service, for a reason, for a while (at most a week).
pub async fn create_override(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !state.current().catalog.services.contains_key(&service) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_service",
            format!("no service named `{service}`"),
        ));
    }
    let bad = |m: String| ApiError::bad_request("invalid_override", m);
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(bad(
            "the body must be an object with `reason` and `for`".into()
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["reason", "for", "by"].contains(&k.as_str()))
    {
        return Err(bad(format!(
            "unknown field `{k}`; an override has reason, for and by"
        )));
    }
    let reason = obj
        .get("reason")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|r| !r.is_empty() && r.len() <= 500)
        .ok_or_else(|| {
            bad(
                "`reason` is required: say why this change must ship (at most 500 characters)"
                    .into(),
            )
        })?;
    let length = obj
        .get("for")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`for` is required: how long the override lasts, such as 2h".into()))?;
    let seconds = nines_core::duration::DurationShorthand::parse(length)
        .map_err(|e| bad(format!("for: {e}")))?
        .seconds()
        .filter(|s| (60..=7 * 86_400).contains(s))
        .ok_or_else(|| bad(format!("for: `{length}` must be between 1m and 7d")))?;
    let by = match obj.get("by") {
        None | Some(Value::Null) => "unknown".to_owned(),
        Some(Value::String(b)) if !b.trim().is_empty() && b.len() <= 200 => b.trim().to_owned(),
        Some(_) => return Err(bad("`by` must be a name of at most 200 characters".into())),
    };
    let now = state.clock.now();
    let created = state
        .store
        .record_gate_override(&NewGateOverride {
            service: service.clone(),
            reason: reason.to_owned(),
            created_by: by,
            created_at: now,
            expires_at: now
                .checked_add(jiff::SignedDuration::from_secs(seconds as i64))
                .unwrap_or(now),
        })
        .await
        .map_err(|e| ApiError::store(&e))?;
    tracing::warn!(service = %service, reason = %created.reason, by = %created.created_by, expires_at = %created.expires_at, "deploy gate override");
    Ok((StatusCode::CREATED, Json(override_json(&created))))
}

pub async fn gate_handler(
    State(state): State<Arc<AppState>>,
    Path(service): Path<String>,
    axum::extract::Query(q): axum::extract::Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if let Some(k) = q.keys().find(|k| k.as_str() != "slo") {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("unknown query parameter `{k}`; the gate takes `slo`"),
        ));
    }
    gate(&state, &service, q.get("slo").map(String::as_str))
        .await
        .map(Json)
}

/// `POST /api/v1/sli/events`: a batch of SLI events, refused whole if any
/// event is wrong, committed to the store before the answer, counted once
/// per idempotency key.
pub async fn ingest(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Judge every event before anything counts: a batch is refused whole,
    // so a client can retry it as it is.
    let batch = crate::ingest::read(&body, state.clock.now(), MAX_EVENTS_PER_BATCH)?;
    let key = match headers.get("idempotency-key") {
        Some(h) => Some(
            h.to_str()
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_batch",
                        "the Idempotency-Key header must be text",
                    )
                })?
                .to_owned(),
        ),
        None => batch.key.as_deref().map(str::to_owned),
    };
    if key.as_ref().is_some_and(|k| k.is_empty() || k.len() > 200) {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "an idempotency key has 1 to 200 characters",
        ));
    }
    // Shared with other batches, exclusive with a reload's replay: see AppState.
    let _gate = state.ingest_gate.read().await;
    let now = state.clock.now();
    let slo = state.slo();
    let mut rows: Vec<BucketRow> = {
        let engine = lock(&slo.engine);
        let mut planner = engine.planner(now);
        let mut buckets: std::collections::HashMap<(usize, i64), Counts> =
            std::collections::HashMap::new();
        let mut incs = Vec::new();
        for (i, e) in batch.events.iter().enumerate() {
            incs.clear();
            planner
                .plan(&e.sli, e.at, e.obs, &mut incs)
                .map_err(|err| {
                    ApiError::bad_request("invalid_event", format!("events[{i}]: {err}"))
                })?;
            for inc in &incs {
                *buckets.entry((inc.series, inc.minute)).or_default() += inc.counts;
            }
        }
        buckets
            .into_iter()
            .map(|((series, minute), c)| BucketRow {
                series: engine.series_key(series),
                minute,
                maintenance: false,
                good: c.good,
                total: c.total,
            })
            .collect()
    };
    // In a stable order (series, then minute), as the store writes them.
    rows.sort_by(|a, b| (&a.series, a.minute).cmp(&(&b.series, b.minute)));
    let events = &batch.events;
    let mut maintenance = crate::alerts::maintenance::MaintenanceOf::new(&state);
    for row in &mut rows {
        row.maintenance = maintenance.at(&row.series, row.minute);
    }
    let outcome = state
        .store
        .record_sli_batch(key.as_deref(), now, &rows)
        .await
        .map_err(|e| ApiError::store(&e))?;
    match outcome {
        BatchOutcome::Duplicate { first_received_at } => Ok((
            StatusCode::OK,
            Json(json!({
                "accepted": 0,
                "duplicate": true,
                "first_received_at": first_received_at.to_string(),
                "message": "this idempotency key was already applied; nothing was counted again",
            })),
        )),
        BatchOutcome::Applied { .. } => {
            // The engine of the configuration in force now, which a reload
            // may have replaced since the batch was judged.
            let slo = state.slo();
            for row in &rows {
                slo.apply_row(
                    &row.series,
                    row.minute,
                    Counts::new(row.good, row.total),
                    row.maintenance,
                );
            }
            Ok((
                StatusCode::OK,
                Json(
                    json!({ "accepted": events.len(), "buckets": rows.len(), "duplicate": false }),
                ),
            ))
        }
    }
}
