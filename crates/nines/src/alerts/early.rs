//! Alertmanager webhooks sent while the transaction that decides them
//! commits, instead of after it.
//!
//! A notification is decided into the outbox in the same transaction as the
//! incident change it reports, and the delivery worker records every attempt
//! there. An Alertmanager webhook due at once need not wait for that commit
//! to leave: its body is made of the alerts alone (no incident id), so the
//! dispatcher renders it as it decides it and hands it here, and the attempt
//! is recorded by the delivery worker once the outbox row it belongs to is
//! committed and due ([`Early::claim`]). Until then the row is not sent
//! again. If the commit fails, its keys are forgotten and the dispatcher's
//! next pass decides the notification again: a receiver may hear of a
//! change twice (webhooks are delivered at least once), never not at all.
//! While the store refuses the dispatcher's writes nothing is sent ahead
//! (each retry would send it again); webhooks then leave from the outbox.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nines_store::IncidentWrite;

use super::HubState;
use super::breaker::Admit;
use super::channels;
use super::deliver::{Failure, post};
use crate::serve::AppState;

/// The webhooks sent ahead of their commit, by idempotency key.
#[derive(Default)]
pub struct Early {
    sends: Mutex<HashMap<String, State>>,
    spawn: OnceLock<Spawner>,
    /// Set while the store refuses the dispatcher's writes: every pass
    /// would decide (and send) the same webhook again.
    suspended: std::sync::atomic::AtomicBool,
}

enum State {
    Sending,
    Sent(Sent),
}

/// The outcome of a webhook sent ahead, for the delivery worker to record.
pub(super) struct Sent {
    pub took: Duration,
    pub outcome: Result<(), Failure>,
}

/// Starts sending a webhook (set by the server, see [`connect`]).
/// Returns `false` if it could not (the server is gone).
type Spawner = Box<dyn Fn(Send) -> bool + std::marker::Send + Sync>;

/// A webhook to send now.
pub struct Send {
    key: String,
    url: String,
    body: Vec<u8>,
}

/// What became of an outbox row's notification sent ahead.
pub(super) enum Claim {
    /// Not sent ahead: the delivery worker sends it.
    No,
    /// Still on its way: its outcome wakes the delivery worker.
    InFlight,
    Sent(Sent),
}

impl Early {
    fn connect(&self, spawn: Spawner) {
        let _ = self.spawn.set(spawn);
    }

    /// Takes the Alertmanager webhooks among `writes` that are due at
    /// `now` to send ahead: renders them and marks them on their way (so
    /// that the delivery worker, should their write be done first, does not
    /// send them too). Returns their keys (to [`forget`](Self::forget) if
    /// the writes fail) and the webhooks, for [`launch`](Self::launch).
    pub fn start(
        &self,
        st: &HubState,
        writes: &[IncidentWrite],
        now: Timestamp,
    ) -> (Vec<String>, Vec<Send>) {
        let mut keys = Vec::new();
        let mut out = Vec::new();
        if self.spawn.get().is_none() || self.suspended.load(std::sync::atomic::Ordering::Relaxed) {
            return (keys, out);
        }
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        for n in writes.iter().flat_map(|w| &w.notifications) {
            if n.channel != channels::WEBHOOK || n.first_attempt_at() > now {
                continue;
            }
            let Some(body) = channels::webhook_body(st, &n.body) else {
                continue;
            };
            sends.insert(n.idempotency_key.clone(), State::Sending);
            keys.push(n.idempotency_key.clone());
            out.push(Send {
                key: n.idempotency_key.clone(),
                url: n.target.clone(),
                body,
            });
        }
        (keys, out)
    }

    /// Sends the webhooks [`start`](Self::start) took, each on a task of
    /// its own; a key whose webhook could not leave is taken out of `keys`
    /// (the delivery worker sends it). The dispatcher calls this after it
    /// started its write, so that the last webhook started is the task its
    /// thread runs next (tokio runs the task woken last first), not the
    /// write, which waits for the alerts' commit anyway.
    pub fn launch(&self, sends: Vec<Send>, keys: &mut Vec<String>) {
        // `start` took none without a spawner.
        let Some(spawn) = self.spawn.get() else {
            return;
        };
        let mut gone = Vec::new();
        for send in sends {
            let key = send.key.clone();
            if !spawn(send) {
                gone.push(key);
            }
        }
        if !gone.is_empty() {
            self.forget(&gone);
            keys.retain(|k| !gone.contains(k));
        }
    }

    /// Stops sending ahead (a write of the dispatcher failed), or starts
    /// again (one succeeded); meanwhile webhooks leave from the outbox.
    pub fn suspend(&self, yes: bool) {
        self.suspended
            .store(yes, std::sync::atomic::Ordering::Relaxed);
    }

    /// Forgets webhooks whose decisions were not written: their outcome,
    /// if it comes, is dropped.
    pub fn forget(&self, keys: &[String]) {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        for k in keys {
            sends.remove(k);
        }
    }

    /// Whether the notification with this key is on its way.
    pub(super) fn in_flight(&self, key: &str) -> bool {
        let sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        matches!(sends.get(key), Some(State::Sending))
    }

    /// How many are sent ahead and not yet recorded.
    pub(super) fn len(&self) -> usize {
        self.sends.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Takes the outcome of the notification with this key, if it was sent
    /// ahead and has one.
    pub(super) fn claim(&self, key: &str) -> Claim {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        match sends.get(key) {
            None => Claim::No,
            Some(State::Sending) => Claim::InFlight,
            Some(State::Sent(_)) => match sends.remove(key) {
                Some(State::Sent(s)) => Claim::Sent(s),
                _ => Claim::No,
            },
        }
    }

    /// Keeps an outcome, unless its key was forgotten meanwhile.
    fn finish(&self, key: &str, sent: Sent) {
        let mut sends = self.sends.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sends.get_mut(key) {
            *s = State::Sent(sent);
        }
    }
}

/// Makes the dispatcher's webhooks leave from `state`'s server: each at
/// once and on its own task, unless its endpoint's circuit breaker is open
/// (then the delivery worker holds it as it holds any other).
pub fn connect(state: &Arc<AppState>, http: reqwest::Client) {
    let weak = Arc::downgrade(state);
    state.alerts.early.connect(Box::new(move |send: Send| {
        let Some(state) = weak.upgrade() else {
            return false;
        };
        let now = state.clock.now();
        let admit = state
            .breakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .admit(channels::WEBHOOK, &send.url, now);
        if let Admit::Wait { .. } = admit {
            state.alerts.early.forget(std::slice::from_ref(&send.key));
            state.outbox_wake.notify_one();
            return true;
        }
        tokio::spawn(deliver(state, http.clone(), send));
        true
    }));
}

async fn deliver(state: Arc<AppState>, http: reqwest::Client, send: Send) {
    let started = Instant::now();
    let outcome = post(&http, &send.url, &send.key, send.body).await;
    // The breaker hears of it now, whether or not the decision is written
    // (a probe that failed to count would hold it open).
    let ok = !matches!(
        &outcome,
        Err(Failure {
            permanent: false,
            ..
        })
    );
    let at = state.clock.now();
    let t = state
        .breakers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .record(channels::WEBHOOK, &send.url, ok, at);
    super::deliver::emit_breaker_change(&state, channels::WEBHOOK, &send.url, t);
    let sent = Sent {
        took: started.elapsed(),
        outcome,
    };
    state.alerts.early.finish(&send.key, sent);
    state.outbox_wake.notify_one();
}
