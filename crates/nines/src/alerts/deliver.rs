//! Delivers the outbox: each notification at least once, with a short
//! timeout, bounded retries with exponential backoff and jitter, the
//! idempotency key on every request, and each attempt on the incident's
//! timeline.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use nines_store::{Attempt, NewIncidentEvent, Notification};
use serde_json::json;

use crate::serve::AppState;

/// A receiver that has not answered within this is counted as failed.
const TIMEOUT: Duration = Duration::from_secs(10);
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

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("nines/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client with rustls")
}

async fn send(http: &reqwest::Client, n: &Notification, body: String) -> Result<(), String> {
    let response = http
        .post(&n.target)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", &n.idempotency_key)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("{e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

/// Delivers what is due now; returns how many were attempted.
pub async fn deliver_due(state: &Arc<AppState>, http: &reqwest::Client) -> usize {
    let now = state.clock.now();
    let due = match state.store.due_notifications(now, 64).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the outbox");
            return 0;
        }
    };
    let n = due.len();
    let sends = due.into_iter().map(|note| {
        let http = http.clone();
        // A webhook's body is rendered now from the decision kept in the outbox.
        let body = match serde_json::from_str::<serde_json::Value>(&note.body) {
            Ok(decision) if note.channel == "webhook" && decision.get("firing").is_some() => state
                .alerts
                .read(|st| super::incidents::render_webhook(st, &decision)),
            _ => note.body.clone(),
        };
        async move {
            let outcome = send(&http, &note, body).await;
            (note, outcome)
        }
    });
    for (note, outcome) in futures_join_all(sends).await {
        let at = state.clock.now();
        let attempts = note.attempts + 1;
        let (attempt, kind) = match outcome {
            Ok(()) => (Attempt::Delivered { at }, "notification_delivered"),
            Err(error) if attempts >= MAX_ATTEMPTS => {
                (Attempt::GaveUp { at, error }, "notification_failed")
            }
            Err(error) => {
                let jitter = (at.subsec_nanosecond() as f64 / 1e9).fract();
                let next = at.saturating_add(backoff(attempts, jitter)).unwrap_or(at);
                (
                    Attempt::Retry {
                        at,
                        error,
                        next_attempt_at: next,
                    },
                    "notification_retry",
                )
            }
        };
        let error = match &attempt {
            Attempt::Retry { error, .. } | Attempt::GaveUp { error, .. } => error.clone(),
            Attempt::Delivered { .. } => String::new(),
        };
        if !error.is_empty() {
            tracing::warn!(target = %note.target, attempt = attempts, %error, "notification not delivered");
        }
        let ev = NewIncidentEvent {
            at,
            kind: kind.to_owned(),
            actor: "nines".to_owned(),
            body: json!({
                "channel": note.channel, "target": note.target, "attempt": attempts,
                "idempotency_key": note.idempotency_key, "error": error,
            })
            .to_string(),
        };
        if let Err(e) = state
            .store
            .record_attempt(note.id, &attempt, Some(&ev))
            .await
        {
            tracing::error!(error = %e, "cannot record a delivery attempt");
        }
    }
    n
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
    state
        .store
        .due_notifications(far, 1)
        .await
        .ok()?
        .first()
        .map(|n| n.next_attempt_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes_with_jitter_below() {
        assert_eq!(backoff(1, 0.0), SignedDuration::from_secs(1));
        assert_eq!(backoff(2, 0.0), SignedDuration::from_secs(2));
        assert_eq!(backoff(5, 0.0), SignedDuration::from_secs(16));
        assert_eq!(backoff(30, 0.0), SignedDuration::from_secs(300));
        assert_eq!(backoff(2, 1.0), SignedDuration::from_secs_f64(1.6));
    }
}
