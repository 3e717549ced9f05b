//! Alert intake: every source's alerts in one model, committed before they
//! are acknowledged, held in memory for queries, silenced, grouped into
//! incidents and notified.
//!
//! Writes go through one intake task ([`intake`]): it takes every request
//! waiting, merges their alerts against the current state in arrival order,
//! commits them in one transaction (group commit), then updates the state
//! and answers each request. Readers take a snapshot under a short lock.

pub mod am;
pub mod api;
pub mod breaker;
pub mod channels;
pub mod deliver;
pub mod digest;
pub mod early;
pub mod escalate;
pub mod fallback;
pub mod heartbeat;
pub mod incidents;
mod intake;
pub mod maintenance;
pub mod pagerduty;
pub mod routing;
pub mod slo;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::maintenance::Window;
use nines_core::alerting::model::{Alert, Source};
use nines_core::alerting::silence::Silence;
use nines_core::model::Catalog;
use nines_store::{AlertRow, SilenceRow, Store, StoreError};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

/// The service of alerts that name no configured service: visible, never dropped.
pub const UNROUTED: &str = "unrouted";

/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: SignedDuration = SignedDuration::from_secs(300);

/// How long resolved alerts stay queryable in memory (and in the store).
const KEEP_RESOLVED: SignedDuration = SignedDuration::from_secs(3600);

/// An alert as held: the alert and the service it belongs to, boxed. The
/// map of every alert (`HubState::alerts`) then moves a pointer, not the
/// whole alert (about 200 bytes), each time it grows, and its empty slots
/// cost a pointer each: its growth was 4 % of the CPU per alert at batch
/// 100.
#[derive(Debug, Clone)]
pub struct Held(Box<HeldAlert>);

#[derive(Debug, Clone)]
pub struct HeldAlert {
    pub alert: Alert,
    pub service: String,
}

impl Held {
    pub fn new(alert: Alert, service: String) -> Held {
        Held(Box::new(HeldAlert { alert, service }))
    }

    /// The alert and its service, out of the box.
    pub fn into_parts(self) -> (Alert, String) {
        let HeldAlert { alert, service } = *self.0;
        (alert, service)
    }
}

impl std::ops::Deref for Held {
    type Target = HeldAlert;
    fn deref(&self) -> &HeldAlert {
        &self.0
    }
}

impl std::ops::DerefMut for Held {
    fn deref_mut(&mut self) -> &mut HeldAlert {
        &mut self.0
    }
}

/// A map keyed by alert fingerprint, hashed by foldhash (a fingerprint is
/// already a hash; SipHash on it was a few per cent of the CPU per alert).
pub type ByFingerprint<V> = HashMap<u64, V, foldhash::fast::RandomState>;

/// A set of alert fingerprints, hashed as [`ByFingerprint`]. A group's
/// members, its firing alerts and their changes are these: an alert joining
/// is a few inserts, and a B-tree's were a tenth of the CPU per alert at
/// batch 100. Their order is the hash's, so whatever shows them (a
/// notification, a timeline entry) sorts them first ([`sorted`]).
pub type Fingerprints = std::collections::HashSet<u64, foldhash::fast::RandomState>;

/// The fingerprints of `set` in ascending order.
pub fn sorted<'a>(set: impl IntoIterator<Item = &'a u64>) -> Vec<u64> {
    let mut out: Vec<u64> = set.into_iter().copied().collect();
    out.sort_unstable();
    out
}

#[derive(Default)]
pub struct HubState {
    pub alerts: ByFingerprint<Held>,
    pub silences: BTreeMap<String, Silence>,
    /// Maintenance windows, by id (every one ever opened: they are few,
    /// and each keeps its cost in error budget).
    pub windows: BTreeMap<String, Window>,
    /// The last intake batch put in `alerts` (its commit may be under way;
    /// see [`AlertHub::settled_done`]).
    pub applied: u64,
}

/// How far the intake's commits have come: every batch up to `done` is
/// committed or (its commit failed) taken back out of memory; `failed`
/// holds the last batches taken back (at most [`Settled::KEPT`]), and
/// every earlier one is below `forgotten`.
#[derive(Debug, Clone, Default)]
pub struct Settled {
    pub done: u64,
    pub failed: std::collections::VecDeque<u64>,
    pub forgotten: u64,
}

impl Settled {
    const KEPT: usize = 64;

    /// Records that batch `seq` is settled.
    pub(super) fn settle(&mut self, seq: u64, failed: bool) {
        self.done = seq;
        if failed {
            if self.failed.len() == Self::KEPT
                && let Some(f) = self.failed.pop_front()
            {
                self.forgotten = f + 1;
            }
            self.failed.push_back(seq);
        }
    }

    /// Whether a batch after `after` and up to `seen` was taken back (or
    /// may have been: one forgotten).
    pub fn any_failed(&self, after: u64, seen: u64) -> bool {
        after < self.forgotten || self.failed.iter().any(|f| *f > after && *f <= seen)
    }
}

pub struct AlertHub {
    state: RwLock<HubState>,
    /// Alerts committed since the incident dispatcher last looked.
    changed: std::sync::Mutex<Vec<u64>>,
    /// Set when silences changed: every alert is looked at again.
    all_changed: std::sync::atomic::AtomicBool,
    /// Wakes the incident dispatcher.
    pub wake: tokio::sync::Notify,
    /// Counts the writes that change what the API shows: alerts put in
    /// memory and committed,
    /// dispatcher passes, deliveries recorded, a person's action. Whoever
    /// waits for the server to have done something (a test, say) waits on
    /// this rather than polling.
    pub progress: tokio::sync::watch::Sender<u64>,
    intake: mpsc::Sender<intake::Job>,
    store: Arc<dyn Store>,
    /// Serialises changes to maintenance windows (read, change, write).
    pub window_lock: tokio::sync::Mutex<()>,
    /// Alertmanager webhooks sent while their decisions commit.
    pub early: early::Early,
    /// Which intake batches are settled (committed or taken back).
    settled: tokio::sync::watch::Sender<Settled>,
}

impl AlertHub {
    /// Loads the alerts still firing or recently resolved and the silences
    /// from the store, and starts the intake task.
    pub async fn load(store: Arc<dyn Store>, now: Timestamp) -> Result<Arc<AlertHub>, StoreError> {
        let mut state = HubState::default();
        let since = now.saturating_sub(KEEP_RESOLVED).unwrap_or(now);
        for row in store.alerts_ending_after(since).await? {
            match decode_alert(&row) {
                Ok(held) => {
                    state.alerts.insert(row.fingerprint, held);
                }
                Err(e) => {
                    tracing::error!(fingerprint = row.fingerprint, error = %e, "skipping an unreadable stored alert")
                }
            }
        }
        for row in store.silences().await? {
            match decode_silence(&row) {
                Ok(s) => {
                    state.silences.insert(s.id.clone(), s);
                }
                Err(e) => {
                    tracing::error!(id = %row.id, error = %e, "skipping an unreadable stored silence")
                }
            }
        }
        for row in store.windows().await? {
            match maintenance::decode_window(&row) {
                Ok(w) => {
                    state.windows.insert(w.id.clone(), w);
                }
                Err(e) => {
                    tracing::error!(id = %row.id, error = %e, "skipping an unreadable stored maintenance window")
                }
            }
        }
        tracing::info!(
            alerts = state.alerts.len(),
            silences = state.silences.len(),
            windows = state.windows.len(),
            "alert state loaded"
        );
        let (tx, rx) = mpsc::channel(4096);
        let hub = Arc::new(AlertHub {
            state: RwLock::new(state),
            changed: std::sync::Mutex::new(Vec::new()),
            all_changed: std::sync::atomic::AtomicBool::new(true),
            wake: tokio::sync::Notify::new(),
            progress: tokio::sync::watch::Sender::new(0),
            intake: tx,
            store,
            window_lock: tokio::sync::Mutex::new(()),
            early: early::Early::default(),
            settled: tokio::sync::watch::Sender::new(Settled::default()),
        });
        tokio::spawn(intake::run(hub.clone(), rx));
        Ok(hub)
    }

    /// Reads the state under the lock.
    pub fn read<T>(&self, f: impl FnOnce(&HubState) -> T) -> T {
        f(&self.state.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn write<T>(&self, f: impl FnOnce(&mut HubState) -> T) -> T {
        f(&mut self.state.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// Commits `alerts` (merged with what is known of them) and returns once
    /// they are durable. The whole batch is committed or none of it.
    pub async fn submit(&self, alerts: Vec<Held>) -> Result<(), StoreError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        self.intake
            .send(intake::Job::Alerts { alerts, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)?
    }

    /// Writes incident writes as [`Store::write_incidents`] does, returning
    /// their ids. Updates of stored incidents go through the intake, so
    /// that they share a commit with the alerts waiting there.
    pub async fn write_incidents(
        &self,
        writes: Vec<nines_store::IncidentWrite>,
    ) -> Result<Vec<i64>, StoreError> {
        if writes.is_empty() || writes.iter().any(|w| w.incident.id == 0) {
            return self.store.write_incidents(&writes).await;
        }
        let ids = writes.iter().map(|w| w.incident.id).collect();
        let (reply, done) = oneshot::channel();
        self.intake
            .send(intake::Job::Updates { writes, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        done.await.map_err(|_| StoreError::Closed)??;
        Ok(ids)
    }

    /// Stores silences (a new or changed one, and one expired by a change),
    /// then makes them count.
    pub async fn put_silences(&self, silences: &[Silence]) -> Result<(), StoreError> {
        for s in silences {
            self.store.put_silence(&encode_silence(s)).await?;
        }
        self.write(|st| {
            for s in silences {
                st.silences.insert(s.id.clone(), s.clone());
            }
        });
        self.all_changed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
        Ok(())
    }

    /// Stores a maintenance window (a new one, or a change to one), then
    /// makes it count. A new window whose idempotency key is taken is not
    /// stored: the window opened with that key is returned instead, with
    /// `false`.
    pub async fn put_window(&self, w: &Window, new: bool) -> Result<(Window, bool), StoreError> {
        let row = maintenance::encode_window(w);
        let (w, created) = if new {
            let stored = self.store.create_window(&row).await?;
            if stored.id == w.id {
                (w.clone(), true)
            } else {
                let found =
                    maintenance::decode_window(&stored).map_err(|e| StoreError::Corrupt {
                        what: format!("maintenance window {}: {e}", stored.id),
                    })?;
                return Ok((found, false));
            }
        } else {
            if !self.store.update_window(&row).await? {
                return Err(StoreError::Corrupt {
                    what: format!("maintenance window {} is missing", w.id),
                });
            }
            (w.clone(), false)
        };
        self.write(|st| {
            st.windows.insert(w.id.clone(), w.clone());
        });
        self.all_changed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
        Ok((w, created))
    }

    /// The last intake batch settled; read under the state's lock with
    /// [`HubState::applied`], it says which alerts in memory may still be
    /// taken back (those of the batches after it).
    pub fn settled_done(&self) -> u64 {
        self.settled.borrow().done
    }

    /// Waits until the batches up to `seen` are settled, and fails if one
    /// after `before` (the batches settled when the pass began) and up to
    /// `seen` was taken back: what was decided from them must not be
    /// written (it is decided again from what is left).
    pub async fn settle(&self, seen: u64, before: u64) -> Result<(), StoreError> {
        let mut rx = self.settled.subscribe();
        let failed = rx
            .wait_for(|s| s.done >= seen)
            .await
            .map_err(|_| StoreError::Closed)?
            .any_failed(before, seen);
        if failed {
            return Err(StoreError::Unavailable {
                target: "alert intake".to_owned(),
                error: "alerts this pass looked at were not committed; it is done again".into(),
            });
        }
        Ok(())
    }

    /// Says that something the API shows may have changed (see `progress`).
    pub fn progressed(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Records that these alerts changed (in memory: their commit may be
    /// under way), and wakes the dispatcher.
    fn changed(&self, fps: impl IntoIterator<Item = u64>) {
        self.note_changed(fps);
        self.wake.notify_one();
    }

    /// Notes alerts changed for the dispatcher's next pass, without waking it.
    fn note_changed(&self, fps: impl IntoIterator<Item = u64>) {
        self.changed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(fps);
    }

    /// The alerts changed since the last call, or `None` for "all of them".
    pub fn take_changed(&self) -> Option<Vec<u64>> {
        let list = std::mem::take(&mut *self.changed.lock().unwrap_or_else(|e| e.into_inner()));
        if self
            .all_changed
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            None
        } else {
            Some(list)
        }
    }

    /// The ids of the silences muting `labels` at `now`.
    pub fn silenced_by(state: &HubState, labels: &LabelSet, now: Timestamp) -> Vec<String> {
        state
            .silences
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// The ids of the silences muting an alert, then of the maintenance
    /// windows (among `active`) holding it: what Alertmanager's API shows
    /// in `silencedBy`.
    pub fn suppressed_by(
        state: &HubState,
        active: &[&Window],
        routing: &routing::Routing,
        h: &Held,
        now: Timestamp,
    ) -> Vec<String> {
        let mut ids = Self::silenced_by(state, &h.alert.labels, now);
        ids.extend(maintenance::holding(active, routing, h));
        ids
    }

    /// Forgets alerts resolved long ago and silences expired long ago.
    pub async fn prune(&self, now: Timestamp) -> Result<(), StoreError> {
        let before = now.saturating_sub(KEEP_RESOLVED).unwrap_or(now);
        self.store.prune_alerts(before).await?;
        self.store.prune_silences(before).await?;
        self.write(|st| {
            st.alerts.retain(|_, h| h.alert.ends_at >= before);
            st.silences.retain(|_, s| s.ends_at >= before);
        });
        Ok(())
    }
}

impl HubState {
    /// Whether `h` may be a root cause for dependency-aware routing at
    /// `now`: an alert that pages, of a service others depend on, firing or
    /// resolved less than the longest correlation window ago.
    pub fn may_cause(
        h: &Held,
        routing: &routing::Routing,
        longest: SignedDuration,
        now: Timestamp,
    ) -> bool {
        routing.graph.is_depended_on(&h.service)
            && nines_core::alerting::dependency::can_cause(h.alert.labels.get("severity"))
            && h.alert
                .ends_at
                .saturating_add(longest)
                .unwrap_or(h.alert.ends_at)
                > now
    }

    /// The possible root causes among `fps` (or every alert), by service.
    pub fn dependency_causes(
        &self,
        routing: &routing::Routing,
        fps: Option<&std::collections::BTreeSet<u64>>,
        now: Timestamp,
    ) -> BTreeMap<String, Vec<nines_core::alerting::dependency::CauseAlert>> {
        let mut out: BTreeMap<String, Vec<_>> = BTreeMap::new();
        if routing.graph.is_empty() {
            return out;
        }
        let longest = routing
            .correlation_windows()
            .last()
            .copied()
            .unwrap_or_default();
        let mut add = |h: &Held| {
            if Self::may_cause(h, routing, longest, now) {
                out.entry(h.service.clone()).or_default().push(
                    nines_core::alerting::dependency::CauseAlert {
                        fingerprint: h.alert.fingerprint,
                        starts_at: h.alert.starts_at,
                        ends_at: h.alert.ends_at,
                    },
                );
            }
        };
        match fps {
            Some(fps) => fps
                .iter()
                .filter_map(|fp| self.alerts.get(fp))
                .for_each(&mut add),
            None => self.alerts.values().for_each(&mut add),
        }
        out
    }

    /// The root causes an alert is impacted by, given `causes` (see
    /// [`HubState::dependency_causes`]); empty when it is not.
    pub fn impacted_by(
        h: &Held,
        routing: &routing::Routing,
        causes: &BTreeMap<String, Vec<nines_core::alerting::dependency::CauseAlert>>,
        now: Timestamp,
    ) -> Vec<nines_core::alerting::dependency::Cause> {
        if causes.is_empty() || h.alert.resolved_at(now) {
            return Vec::new();
        }
        routing.graph.root_causes(
            &h.service,
            h.alert.starts_at,
            causes,
            routing.correlation_window(&h.service),
            now,
        )
    }

    /// The firing alerts that could inhibit others under `rules` (those
    /// matching some rule's source matchers), computed once per pass.
    pub fn inhibit_sources(
        &self,
        rules: &[nines_core::alerting::inhibit::InhibitRule],
        now: Timestamp,
    ) -> Vec<(nines_core::alerting::labels::Fingerprint, &LabelSet)> {
        if rules.is_empty() {
            return Vec::new();
        }
        self.alerts
            .values()
            .filter(|h| !h.alert.resolved_at(now))
            .filter(|h| {
                rules.iter().any(|r| {
                    nines_core::alerting::matcher::matches_all(&r.source_matchers, &h.alert.labels)
                })
            })
            .map(|h| (h.alert.labels.fingerprint(), &h.alert.labels))
            .collect()
    }
}

/// The configured service an alert belongs to: the first whose alert label
/// (by default `service=<name>`) the alert carries, else [`UNROUTED`].
pub fn service_of(catalog: &Catalog, labels: &LabelSet) -> String {
    for (name, svc) in &catalog.services {
        let (label, value) = &svc.alert_label;
        if labels.get(label) == Some(value.as_str()) {
            return name.clone();
        }
    }
    UNROUTED.to_owned()
}

/// Writes `t` as [`am::format_time`] does (`2026-11-21T10:00:00.123Z`),
/// without allocating; only years of four digits are written by hand.
pub(crate) fn write_time(out: &mut Vec<u8>, t: Timestamp) {
    let dt = jiff::tz::Offset::UTC.to_datetime(t);
    let year = dt.year();
    if !(0..=9999).contains(&year) {
        out.extend_from_slice(am::format_time(t).as_bytes());
        return;
    }
    let digits = |out: &mut Vec<u8>, v: u32, n: u32| {
        for i in (0..n).rev() {
            out.push(b'0' + (v / 10u32.pow(i) % 10) as u8);
        }
    };
    digits(out, year as u32, 4);
    out.push(b'-');
    digits(out, dt.month() as u32, 2);
    out.push(b'-');
    digits(out, dt.day() as u32, 2);
    out.push(b'T');
    digits(out, dt.hour() as u32, 2);
    out.push(b':');
    digits(out, dt.minute() as u32, 2);
    out.push(b':');
    digits(out, dt.second() as u32, 2);
    out.push(b'.');
    digits(out, (dt.subsec_nanosecond() / 1_000_000) as u32, 3);
    out.push(b'Z');
}

/// Writes `v` as 16 lowercase hex digits (a fingerprint's rendering).
pub(crate) fn write_hex16(out: &mut Vec<u8>, v: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..16).rev() {
        out.push(HEX[((v >> (i * 4)) & 0xf) as usize]);
    }
}

/// A label set serialized as a JSON object without building a `Value`.
pub struct LabelMap<'a>(pub &'a LabelSet);

impl serde::Serialize for LabelMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        // No length: serde_json does not need it, and it is a walk.
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.0.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

fn map(set: &LabelSet) -> Value {
    Value::Object(set.iter().map(|(k, v)| (k.to_owned(), json!(v))).collect())
}

fn unmap(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// An alert's stored row: its body written by hand straight from the
/// alert, `{"labels", "annotations", "generatorURL", "timeout"}` (what
/// serde_json would write for it, with none of its per-entry machinery:
/// that was 6 % of the CPU per alert at batch 100). `service` is the
/// service's name to share when it is the alert's (the alerts of one write
/// mostly have a few services), else it is made and kept there.
pub fn encode_alert(h: &Held, service: &mut Option<Arc<str>>) -> AlertRow {
    let a = &h.alert;
    let shared = match service {
        Some(s) if **s == *h.service => s.clone(),
        _ => {
            let s: Arc<str> = h.service.as_str().into();
            *service = Some(s.clone());
            s
        }
    };
    // Each name and value quoted, separated: a few bytes more than the
    // sets' text.
    let sets = a.labels.text_len() + a.annotations.text_len();
    let mut body = String::with_capacity(64 + a.generator_url.len() + sets + sets / 4);
    body.push_str("{\"labels\":");
    push_json_map(&mut body, &a.labels);
    body.push_str(",\"annotations\":");
    push_json_map(&mut body, &a.annotations);
    body.push_str(",\"generatorURL\":");
    push_json_str(&mut body, &a.generator_url);
    body.push_str(if a.timeout {
        ",\"timeout\":true}"
    } else {
        ",\"timeout\":false}"
    });
    AlertRow {
        fingerprint: a.fingerprint.0,
        source: source_name(a.source),
        service: shared,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        updated_at: a.updated_at,
        body: body.into(),
    }
}

/// `set` as a JSON object, as serde_json writes a map of strings.
fn push_json_map(out: &mut String, set: &LabelSet) {
    out.push('{');
    for (i, (k, v)) in set.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(out, k);
        out.push(':');
        push_json_str(out, v);
    }
    out.push('}');
}

/// `s` as a JSON string, escaped as serde_json escapes it: `"` and `\`,
/// and control characters (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00XX`).
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    json_str_pieces(s, |piece| out.push_str(piece));
    out.push('"');
}

/// [`push_json_str`] into bytes (a webhook body).
pub(crate) fn write_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    json_str_pieces(s, |piece| out.extend_from_slice(piece.as_bytes()));
    out.push(b'"');
}

/// Hands `s`, escaped for a JSON string (without its quotes), to `piece`
/// in pieces: runs of `s` that need no escape, and escapes. Label names
/// and values rarely need one: the runs are found eight bytes at a time.
fn json_str_pieces(s: &str, mut piece: impl FnMut(&str)) {
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = start + clean_prefix(&bytes[start..]);
        // `i` is at the end or at an ASCII byte: a character boundary.
        piece(&s[start..i]);
        let Some(&b) = bytes.get(i) else {
            return;
        };
        let mut hex = [b'\\', b'u', b'0', b'0', 0, 0];
        piece(match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                hex[4] = DIGITS[usize::from(b >> 4)];
                hex[5] = DIGITS[usize::from(b & 0xf)];
                std::str::from_utf8(&hex).unwrap_or_default()
            }
        });
        start = i + 1;
    }
}

/// How many bytes at the start of `b` a JSON string holds as they are (no
/// `"`, `\` or control character).
fn clean_prefix(b: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether a byte of `x` is zero (exact for the word as a whole).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    let mut i = 0;
    for chunk in b.chunks_exact(8) {
        let x = u64::from_ne_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        // A byte below 0x20 (a control character), or 0x22, or 0x5c.
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
        if below_space || has_zero(x ^ (ONES * 0x22)) || has_zero(x ^ (ONES * 0x5c)) {
            break;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .unwrap_or(b.len() - i)
}

/// A source's name as a row holds it, made once per source (see
/// [`AlertRow::source`]).
fn source_name(source: Source) -> Arc<str> {
    use std::sync::LazyLock;
    static NAMES: LazyLock<[Arc<str>; 4]> = LazyLock::new(|| {
        [
            Source::Alertmanager,
            Source::PagerDuty,
            Source::Slo,
            Source::Heartbeat,
        ]
        .map(|s| Arc::from(s.as_str()))
    });
    let name = source.as_str();
    NAMES
        .iter()
        .find(|n| &***n == name)
        .cloned()
        .unwrap_or_else(|| Arc::from(name))
}

fn decode_alert(row: &AlertRow) -> Result<Held, String> {
    let body: Value = serde_json::from_str(&row.body).map_err(|e| e.to_string())?;
    let labels = LabelSet::any(unmap(body.get("labels"))).map_err(|e| e.to_string())?;
    Ok(Held::new(
        Alert {
            fingerprint: nines_core::alerting::labels::Fingerprint(row.fingerprint),
            labels,
            annotations: LabelSet::free(unmap(body.get("annotations"))),
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            timeout: body
                .get("timeout")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            updated_at: row.updated_at,
            generator_url: body
                .get("generatorURL")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            source: Source::parse(&row.source)
                .ok_or_else(|| format!("unknown source {:?}", row.source))?,
        },
        row.service.to_string(),
    ))
}

fn encode_silence(s: &Silence) -> SilenceRow {
    SilenceRow {
        id: s.id.clone(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        updated_at: s.updated_at,
        body: json!({
            "matchers": s.matchers.iter().map(|m| json!({
                "name": m.name, "value": m.value, "isRegex": m.is_regex(), "isEqual": m.is_equal(),
            })).collect::<Vec<_>>(),
            "createdBy": s.created_by,
            "comment": s.comment,
        })
        .to_string(),
    }
}

fn decode_silence(row: &SilenceRow) -> Result<Silence, String> {
    let body: Value = serde_json::from_str(&row.body).map_err(|e| e.to_string())?;
    let mut matchers = Vec::new();
    for m in body
        .get("matchers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| {
            m.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let b = |k: &str, d: bool| m.get(k).and_then(Value::as_bool).unwrap_or(d);
        matchers.push(
            nines_core::alerting::matcher::Matcher::from_api(
                s("name"),
                s("value"),
                b("isRegex", false),
                b("isEqual", true),
            )
            .map_err(|e| e.to_string())?,
        );
    }
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(Silence {
        id: row.id.clone(),
        matchers,
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        updated_at: row.updated_at,
        created_by: text("createdBy"),
        comment: text("comment"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> Held {
        let labels = LabelSet::new([
            ("service".to_owned(), "checkout".to_owned()),
            ("alertname".to_owned(), "Quote \" and \\ é".to_owned()),
        ])
        .unwrap();
        let alert = nines_core::alerting::model::AlertInput {
            labels,
            annotations: LabelSet::free([
                ("summary".to_owned(), "line\nbreak".to_owned()),
                ("a".to_owned(), String::new()),
            ]),
            starts_at: Some("2026-11-21T10:00:00Z".parse().unwrap()),
            ends_at: None,
            generator_url: "http://prometheus/graph?g0.expr=up".to_owned(),
            source: Source::Alertmanager,
        }
        .into_alert(
            "2026-11-21T10:00:01Z".parse().unwrap(),
            DEFAULT_RESOLVE_TIMEOUT,
        )
        .unwrap();
        Held::new(alert, "checkout".to_owned())
    }

    #[test]
    fn times_and_fingerprints_are_written_as_they_are_formatted() {
        for t in [
            "2026-11-21T10:00:00Z",
            "2026-11-21T10:00:00.123456789Z",
            "1970-01-01T00:00:00.999Z",
            "0001-01-01T00:00:00Z",
            "0999-12-31T23:59:59.001Z",
            "9999-12-30T21:59:59.999Z",
            "-000001-06-01T00:00:00Z",
            "2024-02-29T07:08:09.05Z",
        ] {
            let t: Timestamp = t.parse().unwrap();
            let mut out = Vec::new();
            write_time(&mut out, t);
            assert_eq!(String::from_utf8(out).unwrap(), am::format_time(t));
        }
        for v in [0, 1, 0xdead_beef, u64::MAX, 5_799_056_148_416_392_346] {
            let mut out = Vec::new();
            write_hex16(&mut out, v);
            let fp = nines_core::alerting::labels::Fingerprint(v);
            assert_eq!(String::from_utf8(out).unwrap(), fp.to_string());
        }
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let every_ascii: String = (0_u8..0x80).map(char::from).collect();
        for s in [
            "",
            "plain",
            "quote \" and backslash \\ and slash /",
            "line\nfeed\r\ttab\u{8}\u{c}\u{0}\u{1f}\u{7f}",
            "é, 漢字, 🚨 and \u{2028}",
            "eight b\"then sixteen\\ clean bytes, a tab\tat the end\n",
            &every_ascii,
        ] {
            let mut out = String::new();
            push_json_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
            let mut bytes = Vec::new();
            write_json_str(&mut bytes, s);
            assert_eq!(String::from_utf8(bytes).unwrap(), out);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_escaped_as_serde_json_escapes_it(s in "(?s).{0,40}", ascii in "[\\x00-\\x7f]{0,40}") {
            for s in [&s, &ascii] {
                let mut out = String::new();
                push_json_str(&mut out, s);
                proptest::prop_assert_eq!(out, serde_json::to_string(s).unwrap());
            }
        }
    }

    #[test]
    fn a_stored_alert_body_is_what_it_was_as_a_value_tree_and_reads_back() {
        let mut h = held();
        h.alert.annotations = LabelSet::free([
            ("summary".to_owned(), "\"quoted\"\nand\\ 🚨".to_owned()),
            ("naïve key".to_owned(), String::new()),
        ]);
        let mut service = None;
        let row = encode_alert(&h, &mut service);
        // The next alert of the same service shares its name.
        let again = encode_alert(&h, &mut service);
        assert!(Arc::ptr_eq(&row.service, &again.service));
        let mut other = held();
        other.service = "another".to_owned();
        assert_eq!(&*encode_alert(&other, &mut service).service, "another");
        let a = &h.alert;
        let as_value = json!({
            "labels": map(&a.labels),
            "annotations": map(&a.annotations),
            "generatorURL": a.generator_url,
            "timeout": a.timeout,
        })
        .to_string();
        assert_eq!(&*row.body, as_value);
        let back = decode_alert(&row).unwrap();
        assert_eq!(back.alert, h.alert);
        assert_eq!(back.service, h.service);
    }
}
