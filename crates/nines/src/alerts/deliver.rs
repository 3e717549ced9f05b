//! Delivers the outbox: each notification at least once, with a short
//! timeout, bounded retries with exponential backoff and jitter, the
//! idempotency key on every request, and each attempt on the incident's
//! timeline.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nines_store::{Attempt, NewIncidentEvent, Notification};
use serde_json::json;

use super::breaker::{self, Admit, Transition};
use super::channels::{self, Outgoing};
use super::early::{Claim, Sent};
use super::routing::Target;
use super::{digest, fallback};
use crate::serve::AppState;

/// Attempts before giving up on a notification.
const MAX_ATTEMPTS: i64 = 12;
const FIRST_BACKOFF: SignedDuration = SignedDuration::from_secs(1);
const MAX_BACKOFF: SignedDuration = SignedDuration::from_secs(300);

/// The wait before attempt `n + 1` (n ≥ 1): doubling from one second up to
/// five minutes, less a random part of up to a fifth so retries spread.
pub fn backoff(attempts: i64, jitter: f64) -> SignedDuration {
    let exp = attempts.clamp(1, 20) - 1;
    let base = FIRST_BACKOFF.as_secs_f64() * 2f64.powi(exp as i32);
    let capped = base.min(MAX_BACKOFF.as_secs_f64());
    SignedDuration::from_secs_f64(capped * (1.0 - 0.2 * jitter.clamp(0.0, 1.0)))
}

/// The HTTP client of deliveries: a receiver that has not answered within
/// `timeout` counts as failed, and the attempt is retried.
pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("nines/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls")
}

/// Why an attempt failed; a permanent failure (an SMTP server refusing
/// the recipient) is not retried.
pub(super) struct Failure {
    pub error: String,
    pub permanent: bool,
}

impl Failure {
    fn retry(error: impl Into<String>) -> Failure {
        Failure {
            error: error.into(),
            permanent: false,
        }
    }
}

/// A request that got no answer, in words: the error and its causes,
/// without the URL (a Slack URL is a secret; the target is named beside
/// the error anyway).
fn transport_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

pub(super) async fn post(
    http: &reqwest::Client,
    url: &str,
    idempotency_key: &str,
    body: Vec<u8>,
) -> Result<(), Failure> {
    let response = http
        .post(url)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", idempotency_key)
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::retry(transport_error(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    // What the receiver says goes on the timeline (PagerDuty names the
    // invalid field), cut short.
    let said: String = response
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let said = said.trim();
    let error = if said.is_empty() {
        format!("the receiver answered {status}")
    } else {
        format!("the receiver answered {status}: {said}")
    };
    // A request the receiver refuses (4xx) would be refused again, as
    // Alertmanager judges too; timeouts and rate limits are worth a retry.
    let permanent = status.is_client_error()
        && status != reqwest::StatusCode::REQUEST_TIMEOUT
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS;
    Err(Failure { error, permanent })
}

async fn send(
    http: &reqwest::Client,
    n: &Notification,
    out: Outgoing,
    timeout: Duration,
) -> Result<(), Failure> {
    match out {
        Outgoing::Http { url, body } => post(http, &url, &n.idempotency_key, body).await,
        Outgoing::Email { server, email } => channels::email::send(&server, &email, timeout)
            .await
            .map_err(|f| Failure {
                error: f.message,
                permanent: f.permanent,
            }),
        Outgoing::Nothing(_) => Ok(()),
    }
}

/// What `note` sends now: its target (looked up in the routing in force
/// when its address is not all it needs), rendered from its decision.
async fn outgoing(
    state: &Arc<AppState>,
    note: &Notification,
) -> Result<channels::Rendered, Failure> {
    let routing = state.routing();
    let target = match note.channel.as_str() {
        channels::WEBHOOK => Target::Webhook {
            url: note.target.clone(),
            send_resolved: true,
            max_alerts: 0,
        },
        channels::JSON => Target::Json {
            url: note.target.clone(),
            send_resolved: true,
            max_alerts: 0,
        },
        kind => routing.find_target(kind, &note.target).ok_or_else(|| {
            Failure::retry(format!(
                "no {kind} target {} in the configuration in force (removed by a reload?)",
                note.target
            ))
        })?,
    };
    // Alertmanager's webhook body carries no incident.
    let incident = match note.incident_id {
        Some(id) if note.channel != channels::WEBHOOK => state
            .store
            .incident(id)
            .await
            .map_err(|e| Failure::retry(format!("cannot read incident {id}: {e}")))?,
        _ => None,
    };
    let config = state.current();
    let runbook = incident
        .as_ref()
        .and_then(|i| config.catalog.services.get(&i.service))
        .and_then(|s| s.runbook.as_deref());
    state
        .alerts
        .read(|st| {
            channels::render(
                st,
                note,
                &target,
                incident.as_ref(),
                runbook,
                state.smtp.as_ref(),
            )
        })
        .map_err(|error| Failure {
            error,
            permanent: false,
        })
}

/// Where an outgoing notification connects, for its circuit breaker:
/// the URL, or the SMTP server. Never shown (a Slack URL is a secret).
fn endpoint(out: &Outgoing) -> Option<String> {
    match out {
        Outgoing::Http { url, .. } => Some(url.clone()),
        Outgoing::Email { server, .. } => Some(format!("smtp://{}", server.describe())),
        Outgoing::Nothing(_) => None,
    }
}

/// One delivery attempt's outcome: counted, timed and logged together.
fn emit(
    state: &AppState,
    note: &Notification,
    result: &'static str,
    error: &str,
    took: Option<Duration>,
) {
    let m = &state.metrics;
    m.notification_attempts
        .get_or_create(&crate::metrics::DeliveryLabels {
            channel: note.channel.clone(),
            result,
        })
        .inc();
    if let Some(t) = took {
        m.notification_duration
            .get_or_create(&crate::metrics::ChannelLabel {
                channel: note.channel.clone(),
            })
            .observe(t.as_secs_f64());
    }
    if error.is_empty() {
        tracing::debug!(channel = %note.channel, target = %note.target, attempt = note.attempts + 1, result, "notification");
    } else if result == "held" {
        // Not attempted behind an open breaker: its opening was warned of
        // once, and the metric counts each; a warning each would flood
        // the log with one line per notification of a storm.
        tracing::debug!(channel = %note.channel, target = %note.target, attempt = note.attempts + 1, result, %error, "notification held");
    } else {
        tracing::warn!(channel = %note.channel, target = %note.target, attempt = note.attempts + 1, result, %error, "notification not delivered");
    }
}

/// The breakers' state on `/metrics`, and a breaker opening or closing in
/// the log, together.
fn emit_breaker(state: &AppState, note: &Notification, t: Option<Transition>) {
    emit_breaker_change(state, &note.channel, &note.target, t);
}

/// [`emit_breaker`] for a channel and a target.
pub(super) fn emit_breaker_change(
    state: &AppState,
    channel: &str,
    target: &str,
    t: Option<Transition>,
) {
    let Some(t) = t else { return };
    match t {
        Transition::Opened => tracing::warn!(
            channel = %channel, target = %target,
            "circuit breaker opened after {} consecutive failures; next probe in {:#}",
            breaker::THRESHOLD, breaker::COOL_DOWN
        ),
        Transition::Closed => {
            tracing::info!(channel = %channel, target = %target, "circuit breaker closed")
        }
    }
    let open = state
        .breakers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .open_by_channel();
    for (channel, n) in open {
        state
            .metrics
            .notification_breakers_open
            .get_or_create(&crate::metrics::ChannelLabel { channel })
            .set(n);
    }
}

/// A notification to send now, or one sent while its decision committed.
enum Sending {
    Now(
        reqwest::Client,
        Notification,
        Option<String>,
        Result<Outgoing, Failure>,
        Vec<String>,
    ),
    Ahead(Notification, Option<String>, Sent),
}

/// Delivers what is due now; returns how many were attempted (a webhook
/// still on its way from the dispatcher is not).
pub async fn deliver_due(state: &Arc<AppState>, http: &reqwest::Client) -> usize {
    let now = state.clock.now();
    // Those still on their way from the dispatcher are passed over, and
    // do not take the places of others.
    let ahead = u32::try_from(state.alerts.early.len()).unwrap_or(u32::MAX);
    let due = match state
        .store
        .due_notifications(now, ahead.saturating_add(64))
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return 0;
        }
    };
    let mut n = 0;
    let mut sends = Vec::with_capacity(due.len());
    let mut held = Vec::new();
    let mut results: Vec<Settled> = Vec::with_capacity(due.len());
    for note in due {
        // A webhook sent while its decision committed is recorded now (or,
        // still on its way, when its outcome wakes this worker).
        let ahead = match state.alerts.early.claim(&note.idempotency_key) {
            Claim::InFlight => continue,
            Claim::Sent(s) => Some(s),
            Claim::No => None,
        };
        n += 1;
        if let Some(sent) = ahead {
            // Its breaker heard of it when it was sent.
            sends.push(Sending::Ahead(note, None, sent));
            continue;
        }
        // A person's page limit may hold a page for their digest.
        if let Some(h) = digest::hold(state, &note, now).await {
            results.push(Settled {
                event: h.event,
                attempt: h.attempt,
                follow: Some(h.follow),
                then: Then::HeldForDigest {
                    person: h.person,
                    until: h.until,
                },
                note,
            });
            continue;
        }
        let http = http.clone();
        // The body is rendered now from the decision kept in the outbox.
        let (out, fallbacks) = match outgoing(state, &note).await {
            Ok(r) => (Ok(r.outgoing), r.template_fallbacks),
            Err(f) => (Err(f), Vec::new()),
        };
        let point = out.as_ref().ok().and_then(endpoint);
        if let Some(p) = &point {
            let admit = state
                .breakers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .admit(&note.channel, p, now);
            if let Admit::Wait { until, failures } = admit {
                held.push((note, until, failures));
                continue;
            }
        }
        sends.push(Sending::Now(http, note, point, out, fallbacks));
    }
    let timeout = state.delivery_timeout;
    let sends = sends.into_iter().map(|s| async move {
        match s {
            Sending::Ahead(note, point, sent) => (
                note,
                point,
                false,
                Some(sent.took),
                sent.outcome,
                Vec::new(),
            ),
            Sending::Now(http, note, point, out, fallbacks) => {
                let skipped = matches!(out, Ok(Outgoing::Nothing(_)));
                let started = std::time::Instant::now();
                let outcome = match out {
                    Ok(out) => send(&http, &note, out, timeout).await,
                    Err(f) => Err(f),
                };
                let took = point.is_some().then(|| started.elapsed());
                (note, point, skipped, took, outcome, fallbacks)
            }
        }
    });
    let routing = state.routing();
    for (note, until, failures) in held {
        // Not attempted: the endpoint's breaker is open. Said on the
        // timeline, and tried again when the breaker may be probed; a
        // page's fallback contacts are paged at once.
        let error = format!(
            "not attempted: the circuit breaker of {} is open after {failures} consecutive failures; next try at {until}",
            note.target
        );
        emit(state, &note, "held", &error, None);
        let follow = fallback_of(state, &routing, &note, &error, now).await;
        let attempt = Attempt::Retry {
            at: now,
            error,
            next_attempt_at: until,
        };
        results.push(Settled::attempted(
            note,
            attempt,
            "notification_retry",
            follow,
        ));
    }
    for (note, point, skipped, took, outcome, fallbacks) in futures_join_all(sends).await {
        let at = state.clock.now();
        let attempts = note.attempts + 1;
        if let Some(p) = &point {
            // A permanent refusal is an answer: the endpoint is up.
            let ok = !matches!(
                &outcome,
                Err(Failure {
                    permanent: false,
                    ..
                })
            );
            let t = state
                .breakers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(&note.channel, p, ok, at);
            emit_breaker(state, &note, t);
        }
        let (attempt, kind, result) = match outcome {
            Ok(()) if skipped => (
                Attempt::Delivered { at },
                "notification_delivered",
                "skipped",
            ),
            Ok(()) => (
                Attempt::Delivered { at },
                "notification_delivered",
                "delivered",
            ),
            Err(Failure { error, permanent }) if permanent || attempts >= MAX_ATTEMPTS => (
                Attempt::GaveUp { at, error },
                "notification_failed",
                "failed",
            ),
            Err(Failure { error, .. }) => {
                let jitter = (at.subsec_nanosecond() as f64 / 1e9).fract();
                let next = at.saturating_add(backoff(attempts, jitter)).unwrap_or(at);
                (
                    Attempt::Retry {
                        at,
                        error,
                        next_attempt_at: next,
                    },
                    "notification_retry",
                    "retry",
                )
            }
        };
        let error = attempt_error(&attempt);
        emit(state, &note, result, error, took);
        for f in &fallbacks {
            tracing::warn!(channel = %note.channel, target = %note.target, fallback = %f, "notification template not used");
        }
        // A page to a primary contact that keeps failing goes to the
        // person's fallback contacts too.
        let failing = match &attempt {
            Attempt::GaveUp { .. } => fallback::keeps_failing(attempts, true, false),
            Attempt::Retry { .. } => fallback::keeps_failing(attempts, false, false),
            _ => false,
        };
        let follow = if failing {
            fallback_of(state, &routing, &note, error, at).await
        } else {
            None
        };
        results.push(
            Settled::attempted(note, attempt, kind, follow).with_template_fallbacks(&fallbacks),
        );
    }
    for s in results {
        let recorded = match &s.follow {
            None => state
                .store
                .record_attempt(s.note.id, &s.attempt, Some(&s.event))
                .await
                .map(|()| false),
            Some(f) => {
                state
                    .store
                    .record_attempt_with(s.note.id, &s.attempt, Some(&s.event), f)
                    .await
            }
        };
        match recorded {
            Ok(new) => emit_decided(state, &s, new),
            Err(e) => tracing::error!(error = %e, "cannot record a delivery attempt"),
        }
    }
    state
        .breakers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .prune();
    state.alerts.progressed();
    n
}

/// The fallback pages of a page that keeps failing: the person's fallback
/// contacts, else the fallback people of the escalation policy of the
/// incident's service.
async fn fallback_of(
    state: &AppState,
    routing: &super::routing::Routing,
    note: &Notification,
    error: &str,
    at: Timestamp,
) -> Option<nines_store::FollowUp> {
    fallback::page_of(note)?;
    let mut policy = Vec::new();
    if let Some(id) = note.incident_id
        && let Ok(Some(inc)) = state.store.incident(id).await
        && let Some(p) = routing.catalog.escalation_policy_of(&inc.service)
    {
        policy = p.fallback().to_vec();
    }
    fallback::decide(routing, note, &policy, error, at)
}

fn attempt_error(attempt: &Attempt) -> &str {
    match attempt {
        Attempt::Retry { error, .. } | Attempt::GaveUp { error, .. } => error.as_str(),
        Attempt::Held { note, .. } => note.as_str(),
        Attempt::Delivered { .. } => "",
    }
}

/// What follows a recorded attempt, for its log line and counter.
enum Then {
    Nothing,
    /// A page to a primary contact kept failing; its fallback pages, if
    /// `follow` has any, were decided.
    MaybeFallback,
    HeldForDigest {
        person: String,
        until: Timestamp,
    },
}

/// One notification's attempt (or hold), ready to be recorded.
struct Settled {
    note: Notification,
    attempt: Attempt,
    event: NewIncidentEvent,
    follow: Option<nines_store::FollowUp>,
    then: Then,
}

impl Settled {
    /// A template that could not be rendered is said where the delivery
    /// is: its part went out in the default form.
    fn with_template_fallbacks(mut self, fallbacks: &[String]) -> Settled {
        if !fallbacks.is_empty()
            && let Ok(mut body) = serde_json::from_str::<serde_json::Value>(&self.event.body)
        {
            body["template_fallbacks"] = json!(fallbacks);
            self.event.body = body.to_string();
        }
        self
    }

    fn attempted(
        note: Notification,
        attempt: Attempt,
        kind: &str,
        follow: Option<nines_store::FollowUp>,
    ) -> Settled {
        let at = match &attempt {
            Attempt::Retry { at, .. }
            | Attempt::GaveUp { at, .. }
            | Attempt::Delivered { at }
            | Attempt::Held { at, .. } => *at,
        };
        let event = NewIncidentEvent {
            at,
            kind: kind.to_owned(),
            actor: "nines".to_owned(),
            body: json!({
                "channel": note.channel, "target": note.target, "attempt": note.attempts + 1,
                "idempotency_key": note.idempotency_key, "error": attempt_error(&attempt),
            })
            .to_string(),
        };
        let then = if follow.is_some() {
            Then::MaybeFallback
        } else {
            Then::Nothing
        };
        Settled {
            note,
            attempt,
            event,
            follow,
            then,
        }
    }
}

/// A fallback used or a page held for a digest, once recorded: counted
/// and logged together.
fn emit_decided(state: &AppState, s: &Settled, new: bool) {
    let label = crate::metrics::ChannelLabel {
        channel: s.note.channel.clone(),
    };
    match &s.then {
        Then::Nothing => {}
        Then::MaybeFallback if new => {
            state.metrics.page_fallbacks.get_or_create(&label).inc();
            let to: Vec<&str> = s
                .follow
                .iter()
                .flat_map(|f| &f.notifications)
                .map(|n| n.target.as_str())
                .collect();
            tracing::warn!(
                channel = %s.note.channel, target = %s.note.target, attempt = s.note.attempts + 1,
                fallback = %to.join(", "),
                "a page kept failing: sent to the person's fallback contacts"
            );
        }
        Then::MaybeFallback => {}
        Then::HeldForDigest { person, until } => {
            state
                .metrics
                .pages_held_for_digest
                .get_or_create(&label)
                .inc();
            tracing::info!(
                channel = %s.note.channel, target = %s.note.target, %person, %until,
                "page held for the person's digest by their page limit"
            );
        }
    }
}

/// Runs `futures` concurrently and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        match h.await {
            Ok(v) => out.push(v),
            Err(e) => tracing::error!(error = %e, "a delivery task failed"),
        }
    }
    out
}

/// The earliest pending attempt after `now`, for the worker's sleep.
pub async fn next_attempt(state: &AppState) -> Option<Timestamp> {
    // A cheap probe: the store orders by next attempt.
    let far = state
        .clock
        .now()
        .saturating_add(SignedDuration::from_secs(3600))
        .ok()?;
    // Those on their way from the dispatcher wake the worker themselves.
    let early = &state.alerts.early;
    state
        .store
        .due_notifications(
            far,
            u32::try_from(early.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        )
        .await
        .ok()?
        .into_iter()
        .find(|n| !early.in_flight(&n.idempotency_key))
        .map(|n| n.next_attempt_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::{Held, HubState, LabelMap};
    use nines_core::alerting::labels::LabelSet;
    use nines_core::alerting::model::{AlertInput, Source};
    use serde_json::Value;

    /// The body as it was rendered before fragments were cached, through
    /// derived serializers; the fast path must give the same bytes.
    fn reference(st: &HubState, decision: &Value) -> String {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct WebhookOut<'a> {
            receiver: &'a Value,
            status: &'static str,
            alerts: Vec<AlertOut<'a>>,
            group_labels: &'a Value,
            common_labels: LabelMap<'a>,
            common_annotations: LabelMap<'a>,
            #[serde(rename = "externalURL")]
            external_url: &'a Value,
            version: &'static str,
            group_key: &'a Value,
            truncated_alerts: usize,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct AlertOut<'a> {
            status: &'static str,
            labels: LabelMap<'a>,
            annotations: LabelMap<'a>,
            starts_at: String,
            ends_at: String,
            #[serde(rename = "generatorURL")]
            generator_url: &'a str,
            fingerprint: String,
        }
        fn of(h: &Held, firing: bool) -> AlertOut<'_> {
            let a = &h.alert;
            AlertOut {
                status: if firing { "firing" } else { "resolved" },
                labels: LabelMap(&a.labels),
                annotations: LabelMap(&a.annotations),
                starts_at: crate::alerts::am::format_time(a.starts_at),
                ends_at: if firing {
                    "0001-01-01T00:00:00Z".to_owned()
                } else {
                    crate::alerts::am::format_time(a.ends_at)
                },
                generator_url: &a.generator_url,
                fingerprint: a.fingerprint.to_string(),
            }
        }
        let held = |key: &str| -> Vec<&Held> {
            decision[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| {
                    v.as_str()?
                        .parse::<nines_core::alerting::labels::Fingerprint>()
                        .ok()
                })
                .filter_map(|fp| st.alerts.get(&fp.0))
                .collect()
        };
        let firing = held("firing");
        let resolved = held("resolved");
        let mut alerts: Vec<AlertOut<'_>> = firing.iter().map(|h| of(h, true)).collect();
        alerts.extend(resolved.iter().map(|h| of(h, false)));
        let common_labels =
            LabelSet::common(firing.iter().chain(&resolved).map(|h| &h.alert.labels));
        let common_annotations =
            LabelSet::common(firing.iter().chain(&resolved).map(|h| &h.alert.annotations));
        let max_alerts = decision["maxAlerts"].as_u64().unwrap_or(0) as usize;
        let total = alerts.len();
        let truncated = if max_alerts > 0 && total > max_alerts {
            alerts.truncate(max_alerts);
            total - max_alerts
        } else {
            0
        };
        serde_json::to_string(&WebhookOut {
            receiver: &decision["receiver"],
            status: if firing.is_empty() {
                "resolved"
            } else {
                "firing"
            },
            alerts,
            group_labels: &decision["groupLabels"],
            common_labels: LabelMap(&common_labels),
            common_annotations: LabelMap(&common_annotations),
            external_url: &decision["externalURL"],
            version: "4",
            group_key: &decision["groupKey"],
            truncated_alerts: truncated,
        })
        .unwrap()
    }

    fn alert(i: u32, ends: Option<&str>) -> Held {
        let labels = LabelSet::new([
            ("alertname".to_owned(), "Bench \"quoted\" \\ é".to_owned()),
            ("service".to_owned(), "svc-01".to_owned()),
            ("id".to_owned(), format!("a-{i}")),
        ])
        .unwrap();
        let mut annotations = vec![("summary".to_owned(), format!("line\nbreak {i}"))];
        if i.is_multiple_of(2) {
            annotations.push(("runbook".to_owned(), "http://x/</script>".to_owned()));
        }
        let a = AlertInput {
            labels,
            annotations: LabelSet::free(annotations),
            starts_at: Some("2026-11-21T10:00:00.123456Z".parse().unwrap()),
            ends_at: ends.map(|e| e.parse().unwrap()),
            generator_url: if i.is_multiple_of(3) {
                String::new()
            } else {
                format!("http://prom/graph?g0={i}")
            },
            source: Source::Alertmanager,
        }
        .into_alert(
            "2026-11-21T10:00:01Z".parse().unwrap(),
            SignedDuration::from_secs(300),
        )
        .unwrap();
        Held::new(a, "svc-01".to_owned())
    }

    #[test]
    fn webhook_bodies_written_from_the_alerts_are_byte_for_byte_what_they_were() {
        let mut st = HubState::default();
        let mut fps = Vec::new();
        for i in 0..7 {
            let ends = (i >= 5).then_some("2026-11-21T10:00:30.5Z");
            let h = alert(i, ends);
            fps.push(h.alert.fingerprint.to_string());
            st.alerts.insert(h.alert.fingerprint.0, h);
        }
        let group_labels = serde_json::json!({"service": "svc-01", "alertname": "x"});
        for (firing, resolved, max) in [
            (&fps[..5], &fps[5..], 0),
            (&fps[..5], &fps[5..], 3),
            (&fps[..0], &fps[5..], 0),
            (&fps[..1], &fps[..0], 0),
            (&fps[..0], &fps[..0], 0),
        ] {
            let mut firing = firing.to_vec();
            // Unknown and invalid fingerprints are left out.
            firing.push("00000000000000ff".to_owned());
            firing.push("not hex".to_owned());
            let decision = serde_json::json!({
                "receiver": "web \"hook\"",
                "groupKey": "{}:{alertname=\"x\"}",
                "groupLabels": group_labels,
                "externalURL": "http://nines:9093",
                "firing": firing,
                "resolved": resolved,
                "maxAlerts": max,
            });
            let text = decision.to_string();
            let body = crate::alerts::incidents::render_webhook(&st, &text).unwrap();
            assert_eq!(String::from_utf8(body).unwrap(), reference(&st, &decision));
        }
        // What is not a decision is sent as it is.
        let st = HubState::default();
        assert!(crate::alerts::incidents::render_webhook(&st, "{\"alerts\":[]}").is_none());
        assert!(crate::alerts::incidents::render_webhook(&st, "not json").is_none());
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes_with_jitter_below() {
        assert_eq!(backoff(1, 0.0), SignedDuration::from_secs(1));
        assert_eq!(backoff(2, 0.0), SignedDuration::from_secs(2));
        assert_eq!(backoff(5, 0.0), SignedDuration::from_secs(16));
        assert_eq!(backoff(30, 0.0), SignedDuration::from_secs(300));
        assert_eq!(backoff(2, 1.0), SignedDuration::from_secs_f64(1.6));
    }
}
