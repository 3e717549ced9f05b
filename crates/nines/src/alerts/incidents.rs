//! Incidents: alerts grouped (by the routing's group key), opened,
//! acknowledged and resolved, each change on a timeline; and the decision of
//! what to notify, written to the outbox in the same transaction.
//!
//! Flushing is incremental: only groups whose alerts changed are looked at,
//! each at its due time (`group_wait` for a new group, `group_interval`
//! after its last notification, `repeat_interval` to remind), so holding many
//! quiet alerts costs nothing.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use nines_core::alerting::dependency::Cause;
use nines_core::alerting::labels::{Common, LabelSet};
use nines_core::alerting::maintenance::Window;
use nines_core::alerting::model::Severity;
use nines_store::{IncidentRow, IncidentWrite, NewIncidentEvent, NewNotification, StoreError};
use serde_json::{Value, json};

use super::routing::{GroupRef, Routing, Target};
use super::{AlertHub, Held, HubState};
use super::{Fingerprints, sorted};

/// A group: its receiver, its group key, and which of its incidents: 0 for
/// the one new alerts join, or the id of an earlier incident still open
/// that a later one superseded (its `groupWindow` had passed), which keeps
/// its own alerts.
type GroupId = (Arc<str>, Arc<str>, i64);

/// The earlier open incident of a group whose window had passed when the
/// group's next alert came: the next incident supersedes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Predecessor {
    id: i64,
    opened_at: Timestamp,
}

/// One aggregation group: the alerts of one receiver and group key.
#[derive(Debug)]
struct Group {
    r: GroupRef,
    members: Fingerprints,
    /// The firing alerts of the last notification.
    notified: Fingerprints,
    /// Alerts that started firing, and that stopped, since the incident's
    /// timeline last recorded them (kept as deltas: a pass costs what
    /// changed, not the size of the group).
    joined: Fingerprints,
    left: Fingerprints,
    /// The firing set changed since the last notification.
    dirty: bool,
    /// When the last notification was decided.
    last_flush: Option<Timestamp>,
    /// When the next notification may be decided.
    due: Option<Timestamp>,
    /// Alerts of this group changed since the last pass.
    touched: bool,
    /// The members firing now (not resolved, silenced or inhibited), kept
    /// up to date from the alerts that change.
    firing: Fingerprints,
    /// The members still firing but held by a maintenance window: they page
    /// nobody, and keep an open incident open (it resolves when they do).
    held: Fingerprints,
    /// The members still firing but impacted by a dependency that fails
    /// (dependency-aware routing): they page nobody, and keep an open
    /// incident open, as held ones do.
    impacted: Fingerprints,
    /// Alerts of dependent services that this group's alerts hold back, as
    /// the incident's timeline last recorded them.
    held_back: BTreeSet<u64>,
    /// Adopted at start-up: the first pass takes the firing alerts as known
    /// and notified, without writing them again.
    restored: bool,
    /// The acknowledgement timed out: the next pass triggers the incident
    /// again.
    unack: bool,
    incident: Option<IncidentRow>,
    /// When escalation looks at this group's open incident next (its
    /// service's escalation policy, `alerts/escalate.rs`); `None`: not
    /// before the incident changes.
    esc_at: Option<Timestamp>,
    /// The incident that resolved while alerts told as firing had not yet
    /// been told as resolved (a mute held the route): the next
    /// notification tells of them, as Alertmanager's would.
    resolved: Option<IncidentRow>,
    /// The incident that this group's incident supersedes (see
    /// `Incidents::place`).
    after: Option<Predecessor>,
    /// A later incident of the group took over its new alerts: this one
    /// keeps those it has (forgetting none while open), and opens no other
    /// incident once it resolves.
    superseded: bool,
    /// Counts the changes of `firing` (see `Outcome::changes`).
    changes: u64,
    /// When the incident's timeline last told alerts joining, and when the
    /// alerts that joined since are told (see [`Group::joins_wait`]).
    joins_told_at: Option<Timestamp>,
    joins_due: Option<Timestamp>,
    /// The number of the incident's last pass that told alerts joining or
    /// leaving (`seq` of its `alerts_joined` and `alerts_left` entries; the
    /// incident's body keeps the one of its last notification as
    /// `notifiedSeq`).
    seq: u64,
    /// Adopted at start-up: what the incident's timeline told (see
    /// [`Told`]); `None` for a timeline that cannot say.
    recovered: Option<Told>,
}

/// What an open incident's timeline told of its alerts, read back at
/// start-up: the alerts told firing (joined and not left since), those
/// firing at its last notification, and the number of its last entry.
/// Against what fires after the restart, the difference is owed: alerts
/// that joined or left, were committed, and whose pass nines did not get
/// to write before it stopped (killed, or the machine lost), and a
/// notification decided by none.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Told {
    firing: Fingerprints,
    notified: Fingerprints,
    seq: u64,
}

impl Told {
    /// The kinds of timeline entries that tell alerts joining and leaving.
    pub const KINDS: &[&str] = &["alerts_joined", "alerts_left"];

    /// Folds the `alerts_joined` and `alerts_left` entries of a timeline
    /// (oldest first; others are skipped), given the `notifiedSeq` of its
    /// incident's body. `None` when an entry does not list every alert it
    /// tells (written before entries did).
    pub fn of<'a>(
        timeline: impl IntoIterator<Item = &'a nines_store::IncidentEvent>,
        notified_seq: u64,
    ) -> Option<Told> {
        let mut told = Told::default();
        for e in timeline {
            let joined = match e.kind.as_str() {
                "alerts_joined" => true,
                "alerts_left" => false,
                _ => continue,
            };
            let body: Value = serde_json::from_str(&e.body).ok()?;
            let seq = body["seq"].as_u64()?;
            let fps = body["fingerprints"].as_array()?;
            if fps.len() as u64 != body["count"].as_u64()? {
                return None;
            }
            if seq > notified_seq && told.seq <= notified_seq {
                told.notified = told.firing.clone();
            }
            for fp in fps {
                let fp = u64::from_str_radix(fp.as_str()?, 16).ok()?;
                if joined {
                    told.firing.insert(fp);
                } else {
                    told.firing.remove(&fp);
                }
            }
            told.seq = told.seq.max(seq);
        }
        if told.seq <= notified_seq {
            told.notified = told.firing.clone();
        }
        Some(told)
    }
}

/// Alerts joining an open incident, and nothing else, are told on its
/// timeline at most this often (one entry for those of the second), unless
/// a notification goes out sooner.
const JOINS_EVERY: SignedDuration = SignedDuration::from_secs(1);

/// What a pass over one group decided, applied once it is written.
#[derive(Debug, Default)]
struct Outcome {
    notified: bool,
    /// The notification decided is to be delivered then, not at once.
    deferred: Option<Timestamp>,
    forget: Vec<u64>,
    /// The dependents held back, as now recorded.
    held_back: BTreeSet<u64>,
    /// The alerts told as joined and as left (owed again if the write
    /// fails).
    told: (Fingerprints, Fingerprints),
    /// The group's count of changes when it was decided.
    changes: u64,
    /// What was firing when it was decided (notified, if it notified).
    firing: Fingerprints,
}

/// At most this many passes' writes are under way at once; the next pass
/// waits for them (a store that falls behind slows the dispatcher down).
const MAX_IN_FLIGHT: usize = 16;

/// The groups whose write is under way.
fn writing(inflight: &VecDeque<InFlight>) -> BTreeSet<&GroupId> {
    inflight
        .iter()
        .flat_map(|f| f.writes.iter().map(|(id, ..)| id))
        .collect()
}

/// A pass's write, under way (see [`Incidents::flush`]).
#[derive(Debug)]
struct InFlight {
    writes: Vec<(GroupId, IncidentWrite, Outcome)>,
    /// The acknowledgement deadlines the pass took.
    expired: Vec<(Timestamp, i64)>,
    /// The webhooks sent ahead of it.
    ahead: Vec<String>,
    now: Timestamp,
    /// `Incidents::failures` when it was decided: a write decided before a
    /// failure was applied does not end that failure's back-off.
    failures: u64,
    /// The write's outcome, sent before it wakes the dispatcher.
    result: tokio::sync::oneshot::Receiver<Result<Vec<i64>, StoreError>>,
    done: Option<Result<Vec<i64>, StoreError>>,
}

impl InFlight {
    /// Whether the write is done (its outcome is then kept here).
    fn ready(&mut self) -> bool {
        use tokio::sync::oneshot::error::TryRecvError;
        if self.done.is_none() {
            match self.result.try_recv() {
                Ok(r) => self.done = Some(r),
                // Its task is gone without a word: it did not write.
                Err(TryRecvError::Closed) => self.done = Some(Err(StoreError::Closed)),
                Err(TryRecvError::Empty) => {}
            }
        }
        self.done.is_some()
    }
}

/// What every group's pass reads.
struct PassCx<'a> {
    st: &'a HubState,
    routing: &'a Routing,
    windows: &'a [&'a Window],
    external_url: &'a str,
    /// Impacted alerts and their root causes.
    impacts: &'a BTreeMap<u64, Vec<Cause>>,
    /// The open incident of each root-cause alert.
    root_incidents: &'a BTreeMap<u64, i64>,
}

impl Group {
    /// Records that `fp` fires now or not; returns whether that changed.
    fn set_firing(&mut self, fp: u64, firing: bool) -> bool {
        let changed = if firing {
            self.firing.insert(fp)
        } else {
            self.firing.remove(&fp)
        };
        if changed {
            // An alert that joined while its joining was held back (see
            // `joins_wait`) and stops firing is told as both, not as
            // neither.
            if !firing && self.joins_due.is_some() && self.joined.contains(&fp) {
                self.left.insert(fp);
            } else {
                let (into, out) = if firing {
                    (&mut self.joined, &mut self.left)
                } else {
                    (&mut self.left, &mut self.joined)
                };
                if !out.remove(&fp) {
                    into.insert(fp);
                }
            }
            self.dirty = true;
            self.changes += 1;
        }
        changed
    }

    fn new(r: GroupRef) -> Group {
        Group {
            r,
            members: Fingerprints::default(),
            notified: Fingerprints::default(),
            joined: Fingerprints::default(),
            left: Fingerprints::default(),
            dirty: false,
            last_flush: None,
            due: None,
            touched: false,
            firing: Fingerprints::default(),
            held: Fingerprints::default(),
            impacted: Fingerprints::default(),
            held_back: BTreeSet::new(),
            restored: false,
            unack: false,
            incident: None,
            esc_at: None,
            resolved: None,
            after: None,
            superseded: false,
            changes: 0,
            joins_told_at: None,
            joins_due: None,
            seq: 0,
            recovered: None,
        }
    }

    /// Nothing of it is left to keep: no alert, no open incident, no
    /// resolution owed.
    fn forgettable(&self) -> bool {
        self.members.is_empty() && self.incident.is_none() && self.resolved.is_none()
    }

    /// Its open incident resolves at its next pass: nothing of it fires,
    /// is held or is impacted any more, and it resolves by itself.
    fn resolves_now(&self) -> bool {
        self.r.auto_resolve
            && self
                .incident
                .as_ref()
                .is_some_and(|i| i.state != "resolved")
            && self.firing.is_empty()
            && self.held.is_empty()
            && self.impacted.is_empty()
    }

    /// When the pass of a group whose only change is alerts joining its
    /// open incident may wait until, to tell them in one timeline entry
    /// with those that join next: the incident told alerts joining less
    /// than [`JOINS_EVERY`] ago, and nothing else is owed (no alert left,
    /// no acknowledgement timed out, nothing held back by a dependency, no
    /// notification due before then). `None`: pass it now. Under a steady
    /// stream of alerts this is most passes, and each costs a write.
    fn joins_wait(&self, now: Timestamp, no_impacts: bool) -> Option<Timestamp> {
        let told = self.joins_told_at?;
        let quiet_otherwise = !self.joined.is_empty()
            && self.left.is_empty()
            && !self.unack
            && !self.restored
            && !self.superseded
            && self.after.is_none()
            && self.held_back.is_empty()
            && no_impacts
            && self.r.group_window.is_none()
            && self
                .incident
                .as_ref()
                .is_some_and(|i| i.id != 0 && i.state != "resolved");
        if !quiet_otherwise {
            return None;
        }
        let mut at = told.checked_add(JOINS_EVERY).ok()?;
        if let Some(d) = self.due {
            at = at.min(d);
        }
        // A change may notify once its update interval has passed.
        if let Some(l) = self.last_flush.filter(|_| self.dirty)
            && let Ok(t) = l.checked_add(self.r.update_interval(self.firing.len()))
        {
            at = at.min(t);
        }
        (at > now).then_some(at)
    }

    /// The group key its notifications carry: the routing's, and for an
    /// incident that superseded an earlier one, that one's id after it, so
    /// that receivers keyed on it (Alertmanager webhook receivers) see the
    /// new incident as a new group.
    fn notify_key(&self) -> std::borrow::Cow<'_, str> {
        match self.after {
            Some(p) => format!("{}#after-{}", self.r.key, p.id).into(),
            None => (*self.r.key).into(),
        }
    }

    /// A change since the last notification may go out now: its update
    /// interval (see [`GroupRef::update_interval`]) has passed.
    fn change_due(&self, now: Timestamp) -> bool {
        self.dirty
            && self.last_flush.is_some_and(|last| {
                last.checked_add(self.r.update_interval(self.firing.len()))
                    .is_ok_and(|at| at <= now)
            })
    }

    /// When this group may notify next: `group_wait` after it first had a
    /// firing alert, its update interval after its last notification if
    /// the firing set changed since, `repeat_interval` after it to remind.
    fn schedule(&mut self, now: Timestamp) {
        let changed = self.dirty;
        self.due = match self.last_flush {
            None if !self.firing.is_empty() => Some(
                self.due
                    .unwrap_or_else(|| now.saturating_add(self.r.group_wait).unwrap_or(now)),
            ),
            None => None,
            Some(last) if changed => Some(
                last.saturating_add(self.r.update_interval(self.firing.len()))
                    .unwrap_or(now),
            ),
            Some(last) if !self.firing.is_empty() => {
                Some(last.saturating_add(self.r.repeat_interval).unwrap_or(now))
            }
            Some(_) => None,
        };
        // A due time already past means the pass held the notification (a
        // mute time interval): look again in a second, not in a busy loop.
        let soon = now
            .saturating_add(SignedDuration::from_secs(1))
            .unwrap_or(now);
        if self.due.is_some_and(|d| d < now) {
            self.due = Some(soon);
        }
    }

    fn pass(
        &mut self,
        cx: &PassCx<'_>,
        due: bool,
        now: Timestamp,
    ) -> Option<(IncidentWrite, Outcome)> {
        let (st, routing, windows) = (cx.st, cx.routing, cx.windows);
        if std::mem::take(&mut self.restored) {
            match self.recovered.take() {
                // After a restart: what fires now against what the
                // timeline told is owed to it, and a notification is owed
                // if what fires is not what the last one told (alerts
                // committed whose pass was not written, or that ended
                // while nines was down).
                Some(told) => {
                    self.joined = self.firing.difference(&told.firing).copied().collect();
                    self.left = told.firing.difference(&self.firing).copied().collect();
                    self.dirty = self.firing != told.notified;
                    self.notified = told.notified;
                }
                // A timeline that does not say: what fires now is taken as
                // what the incident knew.
                None => {
                    self.joined.clear();
                    self.left.clear();
                    self.notified = self.firing.clone();
                    self.dirty = false;
                }
            }
        }
        // An open incident with nothing firing (its alerts ended while
        // nines was down) is resolved too.
        let unack = std::mem::take(&mut self.unack)
            && self
                .incident
                .as_ref()
                .is_some_and(|i| i.state == "acknowledged");
        // Alerts held by a maintenance window, or impacted by a failing
        // dependency, keep their incident open.
        let all_quiet = self.firing.is_empty() && self.held.is_empty() && self.impacted.is_empty();
        // The dependents this group's alerts hold back now.
        let holding: BTreeSet<u64> = if cx.impacts.is_empty() {
            BTreeSet::new()
        } else {
            cx.impacts
                .iter()
                .filter(|(_, causes)| {
                    causes
                        .iter()
                        .flat_map(|c| &c.alerts)
                        .any(|fp| self.members.contains(&fp.0))
                })
                .map(|(fp, _)| *fp)
                .collect()
        };
        let record = unack
            || !self.joined.is_empty()
            || !self.left.is_empty()
            || (holding != self.held_back && (self.incident.is_some() || !self.firing.is_empty()))
            || (all_quiet && self.incident.is_some() && self.r.auto_resolve);
        let notify_change = due && self.dirty;
        // An acknowledged incident does not remind: someone is on it.
        let acknowledged = self
            .incident
            .as_ref()
            .is_some_and(|i| i.state == "acknowledged")
            && !unack;
        let remind = due
            && !notify_change
            && !acknowledged
            && !self.firing.is_empty()
            && self
                .last_flush
                .is_some_and(|l| l.saturating_add(self.r.repeat_interval).unwrap_or(l) <= now);
        // A route's mute (or outside its active) time interval holds the
        // notification; the incident is still updated.
        let muted = routing.muted(&self.r, now);
        let notify = (notify_change || remind) && !muted;
        // An incident resolving by itself decides the notification that
        // tells its alerts resolved now, in the same write as the
        // resolution (so a restart cannot lose it), to be delivered at the
        // group's next interval, when Alertmanager would send it.
        let resolving = !notify
            && !muted
            && all_quiet
            && self.incident.is_some()
            && self.r.auto_resolve
            && !self.notified.is_empty();
        let deferred = resolving.then(|| {
            self.last_flush
                .and_then(|l| {
                    l.checked_add(self.r.update_interval(self.firing.len()))
                        .ok()
                })
                .map_or(now, |t| t.max(now))
        });
        let notify = notify || resolving;
        if !record && !notify {
            return None;
        }
        // The firing alerts themselves are looked up only when an incident
        // opens or a notification goes out: a pass costs what changed.
        let all_firing = || -> Vec<&Held> {
            sorted(&self.firing)
                .iter()
                .filter_map(|fp| st.alerts.get(fp))
                .collect()
        };
        let mut events = Vec::new();
        let mut inc = match self.incident.clone() {
            Some(inc) => inc,
            // A service with dependencies opens its incident only once its
            // correlation window is over (its group_wait is at least that
            // long): a dependency that alerts meanwhile takes the page.
            None if !self.firing.is_empty()
                && !self.superseded
                && !due
                && routing.graph.has_dependencies(&self.r.service) =>
            {
                return None;
            }
            None if !self.firing.is_empty() && !self.superseded => {
                let firing = all_firing();
                let first = firing.first()?;
                let title = first.alert.annotations.get("summary").map_or_else(
                    || {
                        format!(
                            "{} on {}",
                            first.alert.labels.value("alertname"),
                            first.service
                        )
                    },
                    str::to_owned,
                );
                events.push(event(now, "opened", "nines", json!({"title": title})));
                if let Some(p) = self.after {
                    // Opened apart from an earlier incident of the group:
                    // say why, on the new one's timeline.
                    let window = self
                        .r
                        .group_window
                        .map(|d| format!("{d:#}"))
                        .unwrap_or_default();
                    events.push(event(
                        now,
                        "supersedes",
                        "nines",
                        json!({
                            "incident": p.id,
                            "window": window,
                            "text": format!(
                                "a new incident, not part of incident #{}: {} started at {}, more than {window} (the group window) after #{} opened at {}; #{} keeps its own alerts",
                                p.id,
                                first.alert.labels.value("alertname"),
                                first.alert.starts_at,
                                p.id,
                                p.opened_at,
                                p.id,
                            ),
                        }),
                    ));
                }
                IncidentRow {
                    id: 0,
                    group_key: self.r.key.to_string(),
                    service: first.service.clone(),
                    state: "triggered".to_owned(),
                    urgency: urgency(&firing).to_owned(),
                    opened_at: now,
                    updated_at: now,
                    resolved_at: None,
                    body: json!({"title": title}).to_string(),
                    supersedes: self.after.map(|p| p.id),
                }
            }
            // Nothing fires and no incident is open: only a resolution may
            // still be owed.
            None => match self.resolved.clone() {
                Some(inc) if notify => inc,
                _ => return None,
            },
        };
        // One timeline entry per pass for the alerts that joined, one for
        // those that left (resolved, silenced or inhibited), numbered.
        let joined = sorted(&self.joined);
        let left = sorted(&self.left);
        let seq = self.seq + u64::from(!joined.is_empty() || !left.is_empty());
        let held = &self.held;
        let impacted = &self.impacted;
        let describe = |fps: Vec<u64>| {
            let shown: Vec<Value> = fps
                .iter()
                .take(20)
                .map(|fp| {
                    let h = st.alerts.get(fp);
                    let labels = h.map(|h| super::map(&h.alert.labels));
                    let mut v = json!({"fingerprint": format!("{fp:016x}"), "labels": labels});
                    // Left because a maintenance window holds it: say which.
                    if let Some(h) = h.filter(|_| held.contains(fp)) {
                        let by: Vec<String> =
                            super::maintenance::holding(windows, routing, h).collect();
                        v["heldBy"] = json!(by);
                    }
                    // Left because a dependency fails: say which, and link
                    // its incident.
                    if let Some(causes) = cx.impacts.get(fp).filter(|_| impacted.contains(fp)) {
                        v["impactedBy"] =
                            json!(causes.iter().map(Cause::describe).collect::<Vec<_>>());
                        let roots: BTreeSet<i64> = causes
                            .iter()
                            .flat_map(|c| &c.alerts)
                            .filter_map(|a| cx.root_incidents.get(&a.0).copied())
                            .collect();
                        if !roots.is_empty() {
                            v["rootIncidents"] = json!(roots);
                        }
                    }
                    v
                })
                .collect();
            // Every alert told, for a restart to know what was (see
            // `Told`); the first ones shown with their labels.
            let all: Vec<String> = fps.iter().map(|fp| format!("{fp:016x}")).collect();
            json!({"count": fps.len(), "alerts": shown, "fingerprints": all, "seq": seq})
        };
        if !joined.is_empty() {
            events.push(event(now, "alerts_joined", "nines", describe(joined)));
        }
        if !left.is_empty() {
            events.push(event(now, "alerts_left", "nines", describe(left)));
        }
        self.seq = seq;
        let mut notices = Vec::new();
        if holding != self.held_back {
            let (before, r) = (&self.held_back, &self.r);
            notices = record_held_back(cx, r, &mut inc, &mut events, before, &holding, now);
        }
        if unack {
            inc.state = "triggered".to_owned();
            let mut body = body_of(&inc);
            if let Some(o) = body.as_object_mut() {
                o.remove("ackDeadline");
                // Escalation starts over from this trigger.
                o.insert("triggeredAt".to_owned(), json!(now.to_string()));
            }
            inc.body = body.to_string();
            let after = self
                .r
                .ack_timeout
                .map(|d| format!("{:#}", d))
                .unwrap_or_default();
            events.push(event(
                now,
                "unacknowledged",
                "nines",
                json!({"reason": format!("acknowledged but not resolved within its acknowledgement timeout ({after})")}),
            ));
        }
        if all_quiet && inc.state != "resolved" && self.r.auto_resolve {
            inc.state = "resolved".to_owned();
            inc.resolved_at = Some(now);
            events.push(event(
                now,
                "resolved",
                "nines",
                json!({"reason": "all its alerts resolved"}),
            ));
        }
        inc.updated_at = now;
        if inc.id == 0 || notify {
            let mut body = body_of(&inc);
            if inc.id == 0 {
                body["receiver"] = json!(self.r.receiver);
                body["groupLabels"] = super::map(&self.r.labels);
            }
            // What this notification tells is what the timeline has told
            // through this pass (see `Told`).
            if notify {
                body["notifiedSeq"] = json!(self.seq);
            }
            inc.body = body.to_string();
        }
        // Alerts that fired at the last notification and have resolved since
        // go out as resolved.
        let newly_resolved: Vec<u64> = if notify {
            sorted(self.notified.difference(&self.firing))
                .into_iter()
                .filter(|fp| st.alerts.get(fp).is_some_and(|h| h.alert.resolved_at(now)))
                .collect()
        } else {
            Vec::new()
        };
        let mut notifications = if notify {
            // The decision names the alerts; it need not read them.
            let firing: Vec<u64> = sorted(&self.firing)
                .into_iter()
                .filter(|fp| st.alerts.contains_key(fp))
                .collect();
            notifications_of(
                cx.external_url,
                routing,
                self,
                &firing,
                &newly_resolved,
                now,
            )
        } else {
            Vec::new()
        };
        for n in &mut notifications {
            n.not_before = deferred;
        }
        notifications.extend(notices);
        // Resolved members are forgotten once a notification has told of
        // them, or when none ever will; an incident superseded keeps every
        // alert it has while open, so that one sent again still finds it.
        let keeps = self.superseded && inc.state != "resolved";
        let forget: Vec<u64> = if (notify || self.firing.is_empty()) && !keeps {
            self.members
                .iter()
                .filter(|fp| st.alerts.get(fp).is_none_or(|h| h.alert.resolved_at(now)))
                // One told as firing waits for the notification that tells
                // it resolved.
                .filter(|fp| notify || !self.notified.contains(fp))
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        Some((
            IncidentWrite {
                incident: inc,
                events,
                notifications,
            },
            Outcome {
                notified: notify,
                deferred,
                forget,
                held_back: holding,
                ..Outcome::default()
            },
        ))
    }
}

/// Alerts by when they stop firing unless refreshed, in buckets of a
/// second: most alerts of a pass end in the same few seconds, and a bucket
/// takes one in a hash insert where one ordered set of every alert took a
/// tree's (2 % of the CPU per alert at batch 100). An alert refreshed with
/// the same end is kept once, with an earlier one the earliest is kept (it
/// is looked at then, and put back for its end if it is still firing).
#[derive(Debug, Default)]
struct Expiry(BTreeMap<i64, super::ByFingerprint<Timestamp>>);

impl Expiry {
    fn insert(&mut self, at: Timestamp, fp: u64) {
        let bucket = self.0.entry(at.as_second()).or_default();
        bucket
            .entry(fp)
            .and_modify(|t| *t = (*t).min(at))
            .or_insert(at);
    }

    /// The alerts whose end has come by `now`, in the order of their ends.
    fn take_due(&mut self, now: Timestamp) -> Vec<u64> {
        let mut due: Vec<(Timestamp, u64)> = Vec::new();
        while let Some(mut bucket) = self.0.first_entry() {
            if *bucket.key() > now.as_second() {
                break;
            }
            if *bucket.key() < now.as_second() {
                due.extend(bucket.remove().into_iter().map(|(fp, at)| (at, fp)));
                continue;
            }
            // The second of `now`: only those ended by now.
            bucket.get_mut().retain(|fp, at| {
                let ended = *at <= now;
                if ended {
                    due.push((*at, *fp));
                }
                !ended
            });
            if bucket.get().is_empty() {
                bucket.remove();
            }
            break;
        }
        due.sort_unstable();
        due.into_iter().map(|(_, fp)| fp).collect()
    }
}

#[derive(Debug, Default)]
pub struct Incidents {
    groups: BTreeMap<GroupId, Group>,
    /// Firing alerts that match some inhibit rule's source matchers.
    sources: BTreeSet<u64>,
    /// Alerts that may be root causes for dependency-aware routing (see
    /// `HubState::may_cause`).
    dep_sources: BTreeSet<u64>,
    /// Alerts impacted by a failing dependency, with their root causes.
    impacts: BTreeMap<u64, Vec<Cause>>,
    /// Firing alerts by the time they stop firing unless refreshed.
    expiry: Expiry,
    /// When a silence starts or ends next: everything is looked at again.
    next_full: Option<Timestamp>,
    /// Alerts changed since the last pass, as they were told (one may be
    /// there more than once: the pass sorts them and keeps each once; a
    /// list takes them faster than a set did).
    changed: Vec<u64>,
    /// How many `changed` held when it was last made to keep each once.
    changed_kept: usize,
    all_changed: bool,
    /// Acknowledged incidents by the time their acknowledgement runs out.
    ack_deadlines: BTreeSet<(Timestamp, i64)>,
    /// The earliest deferred notification in the outbox, to wake the
    /// delivery worker for (see `Outcome::deferred`).
    deferred: Option<Timestamp>,
    /// Groups whose open incident escalation looks at, by when (see
    /// `Group::esc_at`): a pass visits only those due, and none at all
    /// when no escalation policy is configured.
    escalations: BTreeSet<(Timestamp, GroupId)>,
    /// Earlier incidents to tell, on their timeline, which later incident
    /// took their group's new alerts (its id is known once it is written).
    owed_notes: BTreeSet<(GroupId, i64)>,
    /// The passes' writes under way, oldest first, until they are applied
    /// (in that order; each is written once the one before it is done).
    inflight: VecDeque<InFlight>,
    /// Done when the latest write under way is: the next one waits for it.
    last_write: Option<tokio::sync::oneshot::Receiver<()>>,
    /// How many writes have failed, as applied (see `InFlight::failures`).
    failures: u64,
    /// A write failed: everything is looked at again then.
    retry_at: Option<Timestamp>,
    /// The groups an alert joins, by route, service and group labels, for
    /// the routing in force (see `regroup`).
    memo: Option<(Arc<Routing>, super::routing::GroupMemo)>,
    pub external_url: String,
}

/// The memo of groups is started over past this many (group labels of many
/// values, such as `instance`, would grow it without end).
const MEMO_MAX: usize = 10_000;

/// The size past which the alerts changed between two passes are kept
/// each once as they come (see `Incidents::mark_changed`).
const CHANGED_COMPACT_AT: usize = 1 << 16;

/// What a person asks of an incident.
#[derive(Debug, Clone)]
pub enum Action {
    Ack,
    Resolve,
    Note(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no incident {0}")]
    NotFound(i64),
    #[error("incident {id} is already {state}")]
    Conflict { id: i64, state: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Records on a root cause's incident which alerts of dependent services it
/// now holds back (their owners are not paged, and why) and which it no
/// longer does, and keeps the current list in the incident's body
/// (`heldBack`: who was not paged and why). Returns the low-urgency
/// notices to the channels of each service newly held back (its own and
/// its owner team's): they page nobody.
fn record_held_back(
    cx: &PassCx<'_>,
    root: &GroupRef,
    inc: &mut IncidentRow,
    events: &mut Vec<NewIncidentEvent>,
    before: &BTreeSet<u64>,
    holding: &BTreeSet<u64>,
    now: Timestamp,
) -> Vec<NewNotification> {
    let mut notices = Vec::new();
    let reason = |fp: &u64| -> String {
        cx.impacts.get(fp).map_or_else(String::new, |cs| {
            let causes: Vec<String> = cs.iter().map(Cause::describe).collect();
            format!("depends on {}, which is failing", causes.join(" and "))
        })
    };
    let service_of = |fp: &u64| cx.st.alerts.get(fp).map_or("?", |h| h.service.as_str());
    let entry = |fp: &u64| -> Value {
        let service = service_of(fp);
        json!({
            "fingerprint": format!("{fp:016x}"),
            "service": service,
            "owner": cx.routing.owner(service),
            "labels": cx.st.alerts.get(fp).map(|h| super::map(&h.alert.labels)),
            "reason": reason(fp),
        })
    };
    // Per service: its owner, how many of its alerts, why.
    let per_service = |fps: &mut dyn Iterator<Item = &u64>| {
        let mut out: BTreeMap<&str, (Option<&str>, usize, String)> = BTreeMap::new();
        for fp in fps {
            let service = service_of(fp);
            let e = out
                .entry(service)
                .or_insert_with(|| (cx.routing.owner(service), 0, reason(fp)));
            e.1 += 1;
        }
        out
    };
    let added: Vec<&u64> = holding.difference(before).collect();
    if !added.is_empty() {
        let text: Vec<String> = per_service(&mut added.iter().copied())
            .into_iter()
            .map(|(service, (owner, n, why))| {
                let owner = owner.map_or_else(|| "no owner".to_owned(), |o| format!("team {o}"));
                format!(
                    "{service} ({owner}, {n} alert{}): {why}",
                    if n == 1 { "" } else { "s" }
                )
            })
            .collect();
        events.push(event(
            now,
            "held_back",
            "nines",
            json!({
                "count": added.len(),
                "alerts": added.iter().take(20).map(|fp| entry(fp)).collect::<Vec<_>>(),
                "text": format!("not paged: {}", text.join("; ")),
            }),
        ));
        // Services held back for the first time since they were last
        // released get a notice; one already held back does not again.
        let known: BTreeSet<&str> = before.iter().map(service_of).collect();
        let paged = cx
            .routing
            .owner(&root.service)
            .map_or_else(String::new, |o| {
                format!(", whose owner (team {o}) is paged")
            });
        // A new incident has no id until it is written: the notice then
        // takes the id of the incident it is delivered for.
        let incident = (inc.id != 0).then_some(inc.id);
        for (service, (_, n, why)) in per_service(&mut added.iter().copied()) {
            if known.contains(service) {
                continue;
            }
            let text = format!(
                "{service} is impacted by {}{paged}: {n} of its alerts {} held back and nobody is paged for {}; {why}. If {} still firing one correlation window after the cause recovers, it pages as usual.",
                root.service,
                if n == 1 { "is" } else { "are" },
                if n == 1 { "it" } else { "them" },
                if n == 1 { "it is" } else { "they are" },
            );
            let targets = cx
                .routing
                .services
                .get(service)
                .map(|s| s.targets.as_slice())
                .unwrap_or_default();
            notices.extend(super::channels::notice_notifications(
                targets,
                &super::channels::Notice {
                    text,
                    service: service.to_owned(),
                    incident,
                    external_url: cx.external_url.to_owned(),
                },
                &format!("{}\n{service}", root.key),
                now,
            ));
        }
    }
    let released: Vec<&u64> = before.difference(holding).collect();
    if !released.is_empty() {
        let services: Vec<&str> = per_service(&mut released.iter().copied())
            .into_keys()
            .collect();
        events.push(event(
            now,
            "released",
            "nines",
            json!({
                "count": released.len(),
                "alerts": released.iter().take(20).map(|fp| json!({
                    "fingerprint": format!("{fp:016x}"),
                    "service": service_of(fp),
                })).collect::<Vec<_>>(),
                "text": format!(
                    "no longer held back: {} (resolved, or no longer impacted: an alert still firing pages its own owner)",
                    services.join(", ")
                ),
            }),
        ));
    }
    let mut body = body_of(inc);
    let list: Vec<Value> = per_service(&mut holding.iter())
        .into_iter()
        .map(|(service, (owner, n, why))| {
            json!({"service": service, "owner": owner, "alerts": n, "reason": why})
        })
        .collect();
    if let Some(o) = body.as_object_mut() {
        if list.is_empty() {
            o.remove("heldBack");
            o.remove("heldBackAlerts");
        } else {
            o.insert("heldBack".to_owned(), Value::Array(list));
            let fps: Vec<String> = holding.iter().map(|fp| format!("{fp:016x}")).collect();
            o.insert("heldBackAlerts".to_owned(), json!(fps));
        }
    }
    inc.body = body.to_string();
    notices
}

/// The dependents an incident recorded as held back (after a restart).
fn body_held_back(body: &Value) -> BTreeSet<u64> {
    fingerprints(&body["heldBackAlerts"])
}

/// The alerts a superseded incident had when its successor opened (after a
/// restart).
fn body_alerts(body: &Value) -> BTreeSet<u64> {
    fingerprints(&body["alerts"])
}

fn fingerprints(list: &Value) -> BTreeSet<u64> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| u64::from_str_radix(v.as_str()?, 16).ok())
        .collect()
}

fn event(at: Timestamp, kind: &str, actor: &str, body: Value) -> NewIncidentEvent {
    NewIncidentEvent {
        at,
        kind: kind.to_owned(),
        actor: actor.to_owned(),
        body: body.to_string(),
    }
}

/// An incident's JSON body (title, receiver, group labels, ack deadline).
fn body_of(inc: &IncidentRow) -> Value {
    serde_json::from_str(&inc.body).unwrap_or_else(|_| json!({}))
}

fn urgency(alerts: &[&Held]) -> &'static str {
    let worst = alerts
        .iter()
        .map(|h| Severity::from_label(h.alert.labels.get("severity").unwrap_or("warning")))
        .min()
        .unwrap_or(Severity::Warning);
    if worst <= Severity::Error {
        "high"
    } else {
        "low"
    }
}

impl Incidents {
    /// Groups the alerts already held, and adopts the open incidents of
    /// their groups, after a start-up.
    /// `told` has their timeline entries of [`Told::KINDS`], oldest first.
    pub fn restore(
        &mut self,
        open: Vec<IncidentRow>,
        told: Vec<nines_store::IncidentEvent>,
        routing: &Routing,
    ) {
        let mut timelines: BTreeMap<i64, Vec<nines_store::IncidentEvent>> = BTreeMap::new();
        for e in told {
            timelines.entry(e.incident_id).or_default().push(e);
        }
        self.all_changed = true;
        // A group's latest open incident is the one new alerts join; the
        // earlier ones were superseded, and get back the alerts written
        // with them when their successor opened (`flush`).
        let receiver_of = |row: &IncidentRow| {
            body_of(row)["receiver"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        let mut latest: BTreeMap<(String, String), i64> = BTreeMap::new();
        for row in &open {
            let e = latest
                .entry((receiver_of(row), row.group_key.clone()))
                .or_insert(row.id);
            *e = (*e).max(row.id);
        }
        let opened: BTreeMap<i64, Timestamp> = open.iter().map(|r| (r.id, r.opened_at)).collect();
        // An earlier incident not yet told which one took over (nines
        // stopped between the two writes) is told at the next pass.
        let told: BTreeMap<i64, i64> = open
            .iter()
            .map(|r| (r.id, body_of(r)["supersededBy"].as_i64().unwrap_or(0)))
            .collect();
        let owed: Vec<(i64, i64)> = open
            .iter()
            .filter_map(|r| Some((r.supersedes?, r.id)))
            .filter(|(p, n)| told.get(p).is_some_and(|t| t < n))
            .collect();
        for row in open {
            let body = body_of(&row);
            let told = Told::of(
                timelines.get(&row.id).into_iter().flatten(),
                body["notifiedSeq"].as_u64().unwrap_or(0),
            );
            let receiver: Arc<str> = body["receiver"].as_str().unwrap_or_default().into();
            let key: Arc<str> = row.group_key.as_str().into();
            let slot =
                if latest.get(&(receiver.to_string(), row.group_key.clone())) == Some(&row.id) {
                    0
                } else {
                    row.id
                };
            let id: GroupId = (receiver.clone(), key.clone(), slot);
            for (_, n) in owed.iter().filter(|(p, _)| *p == row.id) {
                self.owed_notes.insert((id.clone(), *n));
            }
            let policy = routing
                .services
                .get(&row.service)
                .map(|s| s.policy.clone())
                .unwrap_or_default();
            if row.state == "acknowledged"
                && let Some(t) = body["ackDeadline"]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
            {
                self.ack_deadlines.insert((t, row.id));
            }
            if !routing.catalog.escalation_policies.is_empty() {
                // Escalation looks at every open incident at the first pass.
                self.escalations.insert((Timestamp::MIN, id.clone()));
            }
            let after = row.supersedes.map(|p| Predecessor {
                id: p,
                opened_at: opened.get(&p).copied().unwrap_or(row.opened_at),
            });
            self.groups.insert(
                id,
                Group {
                    r: GroupRef {
                        receiver,
                        key,
                        labels: LabelSet::free(super::unmap(body.get("groupLabels"))),
                        group_wait: SignedDuration::ZERO,
                        group_interval: SignedDuration::from_secs(60),
                        repeat_interval: SignedDuration::from_secs(4 * 3600),
                        mute_time_intervals: Vec::new(),
                        active_time_intervals: Vec::new(),
                        service: row.service.clone(),
                        ack_timeout: policy.ack_timeout,
                        auto_resolve: policy.auto_resolve,
                        group_window: policy.group_window,
                        machines_only: false,
                    },
                    members: body_alerts(&body).into_iter().collect(),
                    joined: Fingerprints::default(),
                    left: Fingerprints::default(),
                    dirty: false,
                    notified: Fingerprints::default(),
                    last_flush: Some(row.updated_at),
                    due: None,
                    touched: true,
                    firing: Fingerprints::default(),
                    held: Fingerprints::default(),
                    impacted: Fingerprints::default(),
                    held_back: body_held_back(&body),
                    restored: true,
                    unack: false,
                    incident: Some(row),
                    esc_at: Some(Timestamp::MIN),
                    resolved: None,
                    after,
                    superseded: slot != 0,
                    changes: 0,
                    joins_told_at: None,
                    joins_due: None,
                    seq: told.as_ref().map_or(0, |t| t.seq),
                    recovered: told,
                },
            );
        }
    }

    /// A notification in the outbox comes due at `t`: the pass at or after
    /// it says so, for the caller to wake the delivery worker.
    pub fn defer_until(&mut self, t: Timestamp) {
        self.deferred = Some(self.deferred.map_or(t, |d| d.min(t)));
    }

    pub fn mark_changed(&mut self, fingerprints: impl IntoIterator<Item = u64>) {
        self.changed.extend(fingerprints);
        // Passes held off (a write failing) while the same alerts change
        // again and again: the list keeps each once past a size.
        if self.changed.len() >= CHANGED_COMPACT_AT && self.changed.len() >= 2 * self.changed_kept {
            self.changed.sort_unstable();
            self.changed.dedup();
            self.changed_kept = self.changed.len();
        }
    }

    pub fn mark_all_changed(&mut self) {
        self.all_changed = true;
    }

    /// The open incident an alert is part of.
    pub fn incident_of(&self, fingerprint: u64) -> Option<i64> {
        self.groups
            .values()
            .filter(|g| g.members.contains(&fingerprint))
            .find_map(|g| {
                g.incident
                    .as_ref()
                    .filter(|i| i.state != "resolved")
                    .map(|i| i.id)
            })
    }

    /// The earliest time a group is due, for the dispatcher's sleep.
    pub fn next_due(&self) -> Option<Timestamp> {
        // A group whose write is under way is timed again once it is
        // applied (the write wakes the dispatcher).
        let writing = writing(&self.inflight);
        let ack = self
            .ack_deadlines
            .first()
            .map(|(t, _)| *t)
            .into_iter()
            .chain(self.retry_at);
        let escalation = self
            .escalations
            .iter()
            .find(|(_, id)| !writing.contains(id))
            .map(|(t, _)| *t);
        // The earliest group not being written (whether it is, looked up
        // only for a time earlier than the earliest so far).
        let mut group: Option<Timestamp> = None;
        for (id, g) in &self.groups {
            let Some(t) = g.due.into_iter().chain(g.joins_due).min() else {
                continue;
            };
            if group.is_none_or(|best| t < best) && !writing.contains(id) {
                group = Some(t);
            }
        }
        group
            .into_iter()
            .chain(escalation)
            .chain(ack)
            .chain(self.deferred)
            .min()
            // No pass runs before `retry_at`: not sooner, nor in a loop.
            .map(|t| self.retry_at.map_or(t, |r| t.max(r)))
    }

    /// Acknowledgements that ran out: their groups trigger again and notify
    /// at once. Returns the deadlines taken, to put back if the pass fails.
    fn expire_acks(&mut self, now: Timestamp) -> Vec<(Timestamp, i64)> {
        let mut taken = Vec::new();
        while let Some(&(at, id)) = self.ack_deadlines.first() {
            if at > now {
                break;
            }
            self.ack_deadlines.pop_first();
            taken.push((at, id));
            for g in self.groups.values_mut() {
                if g.incident
                    .as_ref()
                    .is_some_and(|i| i.id == id && i.state == "acknowledged")
                {
                    g.unack = true;
                    g.touched = true;
                    g.dirty = true;
                    g.due = Some(now);
                }
            }
        }
        taken
    }

    /// Which incident of its group `r` an alert joins (see `GroupId`): the
    /// open one it is part of already; else the group's latest open one,
    /// unless that has a group window and the alert started after it ended:
    /// then a new incident of the group, the latest moving aside with the
    /// alerts it has. Judged by the alert's start, which a report sent
    /// again, retried or out of order never moves later (the earliest start
    /// is kept), so the same alert never opens a second incident, and the
    /// judgement after a restart is the same. A resolved alert never opens
    /// one.
    fn place(&mut self, fp: u64, h: &Held, r: &GroupRef, now: Timestamp) -> GroupId {
        let current: GroupId = (r.receiver.clone(), r.key.clone(), 0);
        // The incident the alert is part of, the latest open one, and the
        // groups that hold the alert (one, but for an alert moving): the
        // group's ids run from `current` (0) to those of the incidents it
        // moved aside (their ids, above 0), next to each other.
        let mut part_of = None;
        let mut latest: Option<(&GroupId, &IncidentRow)> = None;
        let mut holders: Vec<GroupId> = Vec::new();
        let of_group = self
            .groups
            .range(&current..)
            .take_while(|(id, _)| id.0 == r.receiver && id.1 == r.key);
        for (id, g) in of_group {
            let member = g.members.contains(&fp);
            if member {
                holders.push(id.clone());
            }
            if let Some(inc) = &g.incident {
                if member {
                    part_of = Some(id.clone());
                }
                if latest.is_none_or(|(_, l)| inc.id > l.id) {
                    latest = Some((id, inc));
                }
            }
        }
        let latest = latest.map(|(id, inc)| (id.clone(), inc.id, inc.opened_at));
        let window_over = |opened_at: Timestamp| {
            r.group_window
                .and_then(|w| opened_at.checked_add(w).ok())
                .is_some_and(|end| h.alert.starts_at > end)
                && !h.alert.resolved_at(now)
        };
        let chosen = match (part_of, latest) {
            (Some(id), _) => id,
            (None, Some((id, _, opened_at))) if !window_over(opened_at) => id,
            (None, latest) => {
                let after = latest.as_ref().map(|(_, id, opened_at)| Predecessor {
                    id: *id,
                    opened_at: *opened_at,
                });
                if latest.as_ref().is_some_and(|(id, ..)| *id == current) {
                    // The group's incident has had its window: it moves
                    // aside with its alerts, and the next one forms.
                    if let (Some(mut old), Some(p)) = (self.groups.remove(&current), after) {
                        old.superseded = true;
                        let moved: GroupId = (r.receiver.clone(), r.key.clone(), p.id);
                        if let Some(t) = old.esc_at {
                            self.escalations.insert((t, moved.clone()));
                        }
                        self.groups.insert(moved, old);
                    }
                }
                let g = self
                    .groups
                    .entry(current.clone())
                    .or_insert_with(|| Group::new(r.clone()));
                if g.incident.is_none() {
                    g.after = after;
                }
                current
            }
        };
        // An alert moving (one whose start was moved earlier, or whose
        // incident was resolved by hand) leaves the group it was in.
        for id in holders.into_iter().filter(|id| *id != chosen) {
            if let Some(g) = self.groups.get_mut(&id) {
                g.members.remove(&fp);
                g.set_firing(fp, false);
                g.held.remove(&fp);
                g.impacted.remove(&fp);
                g.touched = true;
            }
        }
        chosen
    }

    /// Assigns changed alerts to their groups, keeps each group's firing set
    /// up to date, and schedules the groups. Only the alerts that changed
    /// are looked at, unless silences changed, a silence starts or ends, or
    /// an alert that may inhibit others changed: then every alert is.
    fn regroup(
        &mut self,
        st: &HubState,
        routing: &Arc<Routing>,
        windows: &[&Window],
        now: Timestamp,
    ) {
        let mut full =
            std::mem::take(&mut self.all_changed) || self.next_full.is_some_and(|t| t <= now);
        // In fingerprint order, as a group's members are shown: which of
        // two alerts new in one pass a group takes first does not hang on
        // the hash.
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_unstable();
        changed.dedup();
        self.changed_kept = 0;
        // Alerts whose end has come without a refresh resolve by themselves.
        changed.extend(self.expiry.take_due(now));
        let rules = &routing.inhibit_rules;
        let is_source = |h: &Held| {
            rules.iter().any(|r| {
                nines_core::alerting::matcher::matches_all(&r.source_matchers, &h.alert.labels)
            })
        };
        if !full && !rules.is_empty() {
            full = changed
                .iter()
                .any(|fp| st.alerts.get(fp).is_some_and(&is_source) || self.sources.contains(fp));
        }
        // A possible root cause that changed changes what its dependents'
        // alerts are impacted by: every alert is looked at again.
        let graph = &routing.graph;
        let longest = routing
            .correlation_windows()
            .last()
            .copied()
            .unwrap_or_default();
        let may_cause = |h: &Held| HubState::may_cause(h, routing, longest, now);
        if !full && !graph.is_empty() {
            full = changed.iter().any(|fp| {
                st.alerts.get(fp).is_some_and(may_cause) || self.dep_sources.contains(fp)
            });
        }
        if full {
            changed = sorted(st.alerts.keys());
            self.sources = st
                .alerts
                .iter()
                .filter(|(_, h)| !h.alert.resolved_at(now) && is_source(h))
                .map(|(fp, _)| *fp)
                .collect();
            self.dep_sources = if graph.is_empty() {
                BTreeSet::new()
            } else {
                st.alerts
                    .iter()
                    .filter(|(_, h)| may_cause(h))
                    .map(|(fp, _)| *fp)
                    .collect()
            };
            // A root cause that resolved stops holding its dependents back
            // one correlation window later: look again then.
            let windows_of_deps = routing.correlation_windows().to_vec();
            let recovered = self
                .dep_sources
                .iter()
                .filter_map(|fp| st.alerts.get(fp))
                .filter(|h| h.alert.resolved_at(now))
                .flat_map(|h| {
                    windows_of_deps
                        .iter()
                        .filter_map(|w| h.alert.ends_at.checked_add(*w).ok())
                })
                .filter(|t| *t > now)
                .min();
            let windows = super::maintenance::next_change(st, now);
            self.next_full = st
                .silences
                .values()
                .flat_map(|s| [s.starts_at, s.ends_at])
                .filter(|t| *t > now)
                .chain(windows)
                .chain(recovered)
                .min();
            for g in self.groups.values_mut() {
                let gone: Vec<u64> = g
                    .firing
                    .iter()
                    .filter(|fp| !st.alerts.contains_key(fp))
                    .copied()
                    .collect();
                for fp in gone {
                    g.set_firing(fp, false);
                }
                g.held.retain(|fp| st.alerts.contains_key(fp));
                g.impacted.retain(|fp| st.alerts.contains_key(fp));
                g.touched = true;
            }
            self.impacts.retain(|fp, _| st.alerts.contains_key(fp));
        }
        let causes = st.dependency_causes(routing, Some(&self.dep_sources), now);
        // Root-cause alerts whose dependents changed: their groups record it.
        let mut touch_causes: BTreeSet<u64> = BTreeSet::new();
        let sources: Vec<(nines_core::alerting::labels::Fingerprint, &LabelSet)> = self
            .sources
            .iter()
            .filter_map(|fp| st.alerts.get(fp))
            .map(|h| (h.alert.labels.fingerprint(), &h.alert.labels))
            .collect();
        // The groups made for earlier passes, while the routing is the same
        // (the memo holds it, so it cannot be another at the same address).
        let mut memo = match self.memo.take() {
            Some((r, m)) if Arc::ptr_eq(&r, routing) => m,
            _ => super::routing::GroupMemo::default(),
        };
        for fp in changed {
            if memo.size() >= MEMO_MAX {
                memo = super::routing::GroupMemo::default();
            }
            let Some(h) = st.alerts.get(&fp) else {
                for g in self.groups.values_mut() {
                    if g.set_firing(fp, false) | g.held.remove(&fp) | g.impacted.remove(&fp) {
                        g.touched = true;
                    }
                }
                if let Some(old) = self.impacts.remove(&fp) {
                    touch_causes.extend(old.iter().flat_map(|c| &c.alerts).map(|a| a.0));
                }
                continue;
            };
            let resolved = h.alert.resolved_at(now);
            let held = !resolved
                && super::maintenance::holding(windows, routing, h)
                    .next()
                    .is_some();
            let causes = if held || causes.is_empty() {
                Vec::new()
            } else {
                HubState::impacted_by(h, routing, &causes, now)
            };
            let impacted = !causes.is_empty();
            let before = if impacted {
                self.impacts.insert(fp, causes.clone())
            } else {
                self.impacts.remove(&fp)
            };
            if before.as_ref() != impacted.then_some(&causes) {
                touch_causes.extend(
                    before
                        .iter()
                        .flatten()
                        .chain(&causes)
                        .flat_map(|c| &c.alerts)
                        .map(|a| a.0),
                );
            }
            let firing = !resolved
                && !held
                && !impacted
                && AlertHub::silenced_by(st, &h.alert.labels, now).is_empty()
                && (sources.is_empty()
                    || !nines_core::alerting::inhibit::is_inhibited(
                        rules,
                        &h.alert.labels,
                        sources.iter().copied(),
                    ));
            if !resolved && h.alert.ends_at < Timestamp::MAX {
                self.expiry.insert(h.alert.ends_at, fp);
            }
            for r in routing.groups_memo(&h.alert.labels, &h.service, &mut memo) {
                let id = self.place(fp, h, r, now);
                let g = self
                    .groups
                    .entry(id)
                    .or_insert_with(|| Group::new(r.clone()));
                // Timings and intervals follow the routing in force.
                if g.r != *r {
                    g.r = r.clone();
                }
                g.members.insert(fp);
                g.touched = true;
                g.set_firing(fp, firing);
                if held {
                    g.held.insert(fp);
                } else {
                    g.held.remove(&fp);
                }
                if impacted {
                    g.impacted.insert(fp);
                } else {
                    g.impacted.remove(&fp);
                }
                if g.last_flush.is_none() && g.due.is_none() {
                    g.due = Some(now.saturating_add(g.r.group_wait).unwrap_or(now));
                }
            }
        }
        self.memo = Some((routing.clone(), memo));
        if !touch_causes.is_empty() {
            for g in self.groups.values_mut() {
                if g.members.iter().any(|fp| touch_causes.contains(fp)) {
                    g.touched = true;
                }
            }
        }
    }

    /// Whether a notification of group `g` is due (a change whose interval
    /// has passed goes out now, unless a mute holds the route; then `due`
    /// looks again later).
    fn due(g: &Group, routing: &Routing, now: Timestamp) -> bool {
        g.due.is_some_and(|d| d <= now) || (g.change_due(now) && !routing.muted(&g.r, now))
    }

    /// One pass: every group whose alerts changed updates its incident at
    /// once (opened by the first firing alert, alerts joining and resolving
    /// on the timeline, resolved when none fires); groups whose notification
    /// is due (`group_wait`, `group_interval`, `repeat_interval`) notify.
    /// Everything is written in one transaction, which this pass starts and
    /// does not wait for: Alertmanager webhooks due now leave at once, the
    /// write wakes the delivery worker (`outbox`) and the dispatcher when it
    /// is done, and what it decided counts from then on ([`Self::finish`]),
    /// so that the next pass need not wait for the disk. A group whose
    /// write is under way passes again only once it is applied. Escalations
    /// due run once the changed alerts are grouped, before the groups are
    /// passed ([`Self::escalate`]). Returns whether a deferred
    /// notification came due or a page went to the outbox (for the caller
    /// to wake the delivery worker).
    pub async fn flush(
        &mut self,
        hub: &Arc<AlertHub>,
        routing: &Arc<Routing>,
        now: Timestamp,
        outbox: &Arc<tokio::sync::Notify>,
        coalesce: bool,
    ) -> Result<bool, StoreError> {
        self.finish_ready(hub, routing, now).await;
        // A write failed a moment ago: the store is not asked again before
        // `retry_at` (new alerts are still committed meanwhile).
        match self.retry_at {
            Some(t) if t > now => return Ok(false),
            Some(_) => self.retry_at = None,
            None => {}
        }
        // A group whose write is under way is applied first if it is
        // about to be looked at anyway: an acknowledgement of its incident
        // timing out, its escalation coming due, or a group window that may
        // move it aside.
        if !self.inflight.is_empty() {
            let expiring: BTreeSet<i64> = self
                .ack_deadlines
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| *id)
                .collect();
            let escalating: BTreeSet<&GroupId> = self
                .escalations
                .iter()
                .take_while(|(t, _)| *t <= now)
                .map(|(_, id)| id)
                .collect();
            let first = self
                .inflight
                .iter()
                .flat_map(|f| &f.writes)
                .any(|(id, w, _)| {
                    expiring.contains(&w.incident.id)
                        || escalating.contains(id)
                        || self
                            .groups
                            .get(id)
                            .is_some_and(|g| g.r.group_window.is_some())
                });
            if first {
                self.finish(hub, routing, now).await;
            }
        }
        // Superseded incidents are told which one took over, before this
        // pass decides anything (a note is a write of the earlier
        // incident's row, which a write of this pass could overwrite).
        if let Err(e) = self.tell_superseded(hub, now).await {
            tracing::error!(error = %e, "telling superseded incidents failed; retrying");
        }
        // What this pass decides, it decides knowing the failures applied
        // so far (see `InFlight::failures`).
        let failures = self.failures;
        let mut writes: Vec<(GroupId, IncidentWrite, Outcome)> = Vec::new();
        let external_url = self.external_url.clone();
        let expired = self.expire_acks(now);
        // A deferred notification came due: the delivery worker, asleep on
        // its own clock, is woken by the caller.
        let came_due = self.deferred.is_some_and(|t| t <= now);
        if came_due {
            self.deferred = None;
        }
        // Which of the alerts looked at may still be taken back: those of
        // batches after `before`, up to `seen`.
        let mut before = 0;
        // Another routing than the last pass's (a reload): escalation looks
        // at every open incident again (a policy may have been added for
        // its service).
        if self
            .memo
            .as_ref()
            .is_some_and(|(r, _)| !Arc::ptr_eq(r, routing))
            && !routing.catalog.escalation_policies.is_empty()
        {
            for (id, g) in &mut self.groups {
                if g.incident.is_some() {
                    g.esc_at = Some(now);
                    self.escalations.insert((now, id.clone()));
                }
            }
        }
        hub.read(|st| {
            before = hub.settled_done();
            let windows = super::maintenance::active(st, now);
            self.regroup(st, routing, &windows, now);
        });
        // Escalations due go before this pass decides (and after the
        // alerts are grouped, so that a page carries what fires now):
        // escalation passes over a group whose write is under way, and a
        // group whose alerts change on every pass would otherwise always
        // have one when escalation looks (after the pass), and never page
        // its next step. A failed escalation is retried on its own; this
        // pass goes on.
        let paged = match self.escalate(hub, routing, now).await {
            Ok(paged) => paged,
            Err(e) => {
                tracing::error!(error = %e, "escalation failed; retrying in a second");
                false
            }
        };
        // A group whose write is under way is passed once it is applied,
        // even if its alerts changed since (it stays touched, and the write
        // wakes the dispatcher when it is done): what changes meanwhile is
        // told in one write, not one per alert, and the pass goes on for
        // the other groups instead of waiting for the disk.
        let writing = writing(&self.inflight);
        let mut seen = 0;
        let mut empties: Vec<GroupId> = Vec::new();
        hub.read(|st| {
            seen = st.applied;
            let windows = super::maintenance::active(st, now);
            // The open incident of each root-cause alert, to link the
            // incidents of the alerts it holds back.
            let mut root_incidents = BTreeMap::new();
            if !self.impacts.is_empty() {
                let roots: BTreeSet<u64> = self
                    .impacts
                    .values()
                    .flatten()
                    .flat_map(|c| &c.alerts)
                    .map(|a| a.0)
                    .collect();
                for g in self.groups.values() {
                    if let Some(inc) = &g.incident {
                        for fp in roots.iter().filter(|fp| g.members.contains(fp)) {
                            root_incidents.entry(*fp).or_insert(inc.id);
                        }
                    }
                }
            }
            let cx = PassCx {
                st,
                routing,
                windows: &windows,
                external_url: &external_url,
                impacts: &self.impacts,
                root_incidents: &root_incidents,
            };
            for (id, g) in self.groups.iter_mut() {
                // Most groups have nothing to look at (a pass costs what
                // changed, not the number of groups): what `due` reads,
                // first.
                if !g.touched && !g.dirty && g.due.is_none_or(|d| d > now) {
                    continue;
                }
                if writing.contains(id) {
                    continue;
                }
                let due = Self::due(g, routing, now);
                if !g.touched && !due {
                    continue;
                }
                // Alerts joining, and nothing else: told with the next
                // ones, once a second (the group stays touched).
                if coalesce
                    && !due
                    && let Some(at) = g.joins_wait(now, cx.impacts.is_empty())
                {
                    g.joins_due = Some(at);
                    continue;
                }
                g.touched = false;
                g.joins_due = None;
                match g.pass(&cx, due, now) {
                    Some((w, mut outcome)) => {
                        if !g.joined.is_empty() {
                            g.joins_told_at = Some(now);
                        }
                        // The changes told go with the write; the next
                        // pass starts from those that come after.
                        outcome.told = (std::mem::take(&mut g.joined), std::mem::take(&mut g.left));
                        outcome.changes = g.changes;
                        if outcome.notified {
                            outcome.firing = g.firing.clone();
                        }
                        writes.push((id.clone(), w, outcome));
                    }
                    None => {
                        // A group owing a resolution (held by a mute)
                        // keeps its members for that notification.
                        if g.incident.is_none() && g.resolved.is_none() {
                            g.members.retain(|fp| {
                                st.alerts.get(fp).is_some_and(|h| !h.alert.resolved_at(now))
                            });
                            if g.members.is_empty() {
                                empties.push(id.clone());
                            }
                        }
                        g.schedule(now);
                    }
                }
            }
        });
        // Groups left with nothing are forgotten (only those looked at: a
        // group empties only in a pass over it).
        for id in empties {
            self.groups.remove(&id);
        }
        if writes.is_empty() {
            return Ok(came_due || paged);
        }
        // A new incident superseding an earlier one carries the earlier
        // one's alerts, as applied.
        if writes
            .iter()
            .any(|(_, w, _)| w.incident.id == 0 && w.incident.supersedes.is_some())
        {
            self.finish(hub, routing, now).await;
        }
        self.keep_superseded_alerts(&mut writes);
        let batch: Vec<IncidentWrite> = writes.iter().map(|(_, w, _)| w.clone()).collect();
        let notified = batch.iter().any(|w| !w.notifications.is_empty());
        // Alertmanager webhooks due now leave while this commits: taken
        // now, sent once the write is started (see `Early::launch`).
        let (mut ahead, mut sends) = hub.read(|st| hub.early.start(st, &batch, now));
        // Writes are written and applied in the order they were decided;
        // this pass does not wait for the ones under way (the next alert's
        // pass need not wait for the disk either), unless too many are.
        if self.inflight.len() >= MAX_IN_FLIGHT {
            hub.early.launch(std::mem::take(&mut sends), &mut ahead);
            self.finish(hub, routing, now).await;
        }
        let (tx, result) = tokio::sync::oneshot::channel();
        let (done, last_write) = tokio::sync::oneshot::channel();
        {
            let (hub, outbox) = (hub.clone(), outbox.clone());
            let before_this = self.last_write.replace(last_write);
            tokio::spawn(async move {
                if let Some(w) = before_this {
                    let _ = w.await;
                }
                // Nothing decided from alerts whose commit failed is written.
                let written = match hub.settle(seen, before).await {
                    Ok(()) => hub.write_incidents(batch).await,
                    Err(e) => Err(e),
                };
                if written.is_ok() {
                    if notified {
                        outbox.notify_one();
                    }
                    hub.progressed();
                }
                // The dispatcher applies it (or looks at everything again).
                let _ = tx.send(written);
                let _ = done.send(());
                hub.wake.notify_one();
            });
        }
        hub.early.launch(sends, &mut ahead);
        self.inflight.push_back(InFlight {
            writes,
            expired,
            ahead,
            now,
            failures,
            result,
            done: None,
        });
        Ok(came_due || paged)
    }

    /// Waits for every write under way and applies what each decided, in
    /// order (see [`Self::apply_written`]); `now` is when they are applied.
    pub async fn finish(&mut self, hub: &AlertHub, routing: &Routing, now: Timestamp) {
        while let Some(f) = self.inflight.pop_front() {
            self.apply_written(f, hub, routing, now).await;
        }
    }

    /// Applies the writes under way that are done, oldest first, up to the
    /// first that is not.
    async fn finish_ready(&mut self, hub: &AlertHub, routing: &Routing, now: Timestamp) {
        while self.inflight.front_mut().is_some_and(InFlight::ready) {
            if let Some(f) = self.inflight.pop_front() {
                self.apply_written(f, hub, routing, now).await;
            }
        }
    }

    /// Waits for a write and applies what it decided; if it failed, nothing
    /// of it counts: its changes are owed again and every alert is looked
    /// at again. (Superseded incidents are told which one took over at the
    /// start of the next pass.) `applied` is the time now: a failure's
    /// back-off counts from when it is known, not from when the write was
    /// decided (a write that waited out SQLite's busy timeout failed
    /// seconds later).
    async fn apply_written(
        &mut self,
        f: InFlight,
        hub: &AlertHub,
        routing: &Routing,
        applied: Timestamp,
    ) {
        let written = match f.done {
            Some(w) => w,
            None => f.result.await.unwrap_or(Err(StoreError::Closed)),
        };
        let now = f.now;
        match written {
            Ok(ids) => {
                // A write decided before a failure was known says nothing
                // of the store since: only a later one ends the back-off.
                if f.failures == self.failures {
                    hub.early.suspend(false);
                    self.retry_at = None;
                }
                self.apply(f.writes, ids, routing, now);
            }
            Err(e) => {
                tracing::error!(error = %e, "writing incidents failed; looking at every alert again in a second");
                self.failures += 1;
                hub.early.suspend(true);
                hub.early.forget(&f.ahead);
                // The timed-out acknowledgements are looked at again.
                self.ack_deadlines.extend(f.expired);
                for (key, _, outcome) in f.writes {
                    if let Some(g) = self.groups.get_mut(&key) {
                        let (mut joined, mut left) = outcome.told;
                        // One told as both (it joined and stopped firing
                        // while its joining was held back) is owed as both.
                        let both: Vec<u64> = joined.intersection(&left).copied().collect();
                        for fp in both {
                            joined.remove(&fp);
                            left.remove(&fp);
                            g.joined.insert(fp);
                            g.left.insert(fp);
                        }
                        for fp in joined {
                            if !g.left.remove(&fp) {
                                g.joined.insert(fp);
                            }
                        }
                        for fp in left {
                            if !g.joined.remove(&fp) {
                                g.left.insert(fp);
                            }
                        }
                        g.touched = true;
                    }
                }
                // Not at once: a store that refuses writes is not asked
                // again in a busy loop (a change to an alert still is).
                self.mark_all_changed();
                self.retry_at = now
                    .max(applied)
                    .checked_add(SignedDuration::from_secs(1))
                    .ok();
            }
        }
    }

    /// What a written pass decided counts: the new incidents have their
    /// ids, the groups notified remember what they told (alerts that
    /// changed since are still a change).
    fn apply(
        &mut self,
        writes: Vec<(GroupId, IncidentWrite, Outcome)>,
        ids: Vec<i64>,
        routing: &Routing,
        now: Timestamp,
    ) {
        // Incidents that superseded an earlier one: the earlier one is told
        // which, now that they have their ids.
        for ((key, w, _), id) in writes.iter().zip(&ids) {
            if let (0, Some(p)) = (w.incident.id, w.incident.supersedes) {
                self.owed_notes
                    .insert(((key.0.clone(), key.1.clone(), p), *id));
            }
        }
        let mut empties = Vec::new();
        for ((key, w, outcome), id) in writes.into_iter().zip(ids) {
            if let Some(g) = self.groups.get_mut(&key) {
                let mut inc = w.incident;
                inc.id = id;
                // Escalation looks again when the incident opened or its
                // state changed (not for alerts joining it).
                let moved = g
                    .incident
                    .as_ref()
                    .is_none_or(|old| old.id != inc.id || old.state != inc.state);
                if outcome.notified {
                    g.notified = outcome.firing;
                    g.dirty = g.changes != outcome.changes;
                    g.last_flush = Some(now);
                }
                if let Some(t) = outcome.deferred {
                    self.deferred = Some(self.deferred.map_or(t, |d| d.min(t)));
                }
                // The incident changed: escalation looks at it this pass.
                if moved && !routing.catalog.escalation_policies.is_empty() {
                    g.esc_at = Some(now);
                    self.escalations.insert((now, key.clone()));
                }
                for fp in outcome.forget {
                    // Unless it fired again meanwhile.
                    if !g.firing.contains(&fp) && !g.held.contains(&fp) && !g.impacted.contains(&fp)
                    {
                        g.members.remove(&fp);
                    }
                }
                g.held_back = outcome.held_back;
                if inc.state == "resolved" {
                    // Alerts told as firing and not told resolved since.
                    let owed =
                        !outcome.notified && g.notified.iter().any(|fp| !g.firing.contains(fp));
                    g.resolved = owed.then(|| inc.clone());
                    g.incident = None;
                } else {
                    g.resolved = None;
                    g.incident = Some(inc);
                }
                g.schedule(now);
                if g.forgettable() {
                    empties.push(key);
                }
            }
        }
        for id in empties {
            self.groups.remove(&id);
        }
    }

    /// An incident opening as the successor of an earlier one still open
    /// (its group window had passed) is written with the earlier one's
    /// alerts (`alerts` in its body), so that after a restart each alert is
    /// given back to the incident it was part of (`restore`).
    fn keep_superseded_alerts(&self, writes: &mut Vec<(GroupId, IncidentWrite, Outcome)>) {
        let earlier: Vec<GroupId> = writes
            .iter()
            .filter(|(_, w, _)| w.incident.id == 0)
            .filter_map(|(key, w, _)| Some((key.0.clone(), key.1.clone(), w.incident.supersedes?)))
            .collect();
        for key in earlier {
            let Some(g) = self.groups.get(&key) else {
                continue;
            };
            let Some(row) = &g.incident else {
                continue;
            };
            let at = match writes.iter().position(|(k, ..)| *k == key) {
                Some(at) => at,
                None => {
                    let write = IncidentWrite {
                        incident: row.clone(),
                        events: Vec::new(),
                        notifications: Vec::new(),
                    };
                    let outcome = Outcome {
                        held_back: g.held_back.clone(),
                        ..Outcome::default()
                    };
                    writes.push((key.clone(), write, outcome));
                    writes.len() - 1
                }
            };
            let inc = &mut writes[at].1.incident;
            let mut body = body_of(inc);
            let alerts: Vec<String> = sorted(&g.members)
                .iter()
                .map(|fp| format!("{fp:016x}"))
                .collect();
            body["alerts"] = json!(alerts);
            inc.body = body.to_string();
        }
    }

    /// Writes, on the timeline of each earlier incident that a later one
    /// superseded, which one took its group's new alerts and why. Kept for
    /// the next pass if the write fails (and, after a restart, found again
    /// from the later incident's `supersedes`).
    async fn tell_superseded(&mut self, hub: &AlertHub, now: Timestamp) -> Result<(), StoreError> {
        if self.owed_notes.is_empty() {
            return Ok(());
        }
        let mut writes: Vec<((GroupId, i64), IncidentWrite)> = Vec::new();
        // A group whose write is under way is told once it is applied.
        let (later, owed): (BTreeSet<_>, BTreeSet<_>) = {
            let writing = writing(&self.inflight);
            std::mem::take(&mut self.owed_notes)
                .into_iter()
                .partition(|(key, _)| writing.contains(key))
        };
        self.owed_notes = later;
        for (key, next) in owed {
            // One resolved meanwhile keeps its timeline as it is: the later
            // incident's own says why it opened apart.
            let Some(g) = self.groups.get(&key) else {
                continue;
            };
            let Some(inc) = &g.incident else {
                continue;
            };
            let mut inc = inc.clone();
            let mut body = body_of(&inc);
            body["supersededBy"] = json!(next);
            inc.body = body.to_string();
            inc.updated_at = now;
            let window =
                g.r.group_window
                    .map(|d| format!("{d:#}"))
                    .unwrap_or_default();
            let text = format!(
                "later alerts of this group opened incident #{next}: they started more than {window} (the group window) after this incident opened; this one keeps its own alerts, and resolves when they do"
            );
            let ev = event(
                now,
                "superseded",
                "nines",
                json!({"incident": next, "window": window, "text": text}),
            );
            let write = IncidentWrite {
                incident: inc,
                events: vec![ev],
                notifications: Vec::new(),
            };
            writes.push(((key, next), write));
        }
        if writes.is_empty() {
            return Ok(());
        }
        let batch: Vec<IncidentWrite> = writes.iter().map(|(_, w)| w.clone()).collect();
        if let Err(e) = hub.store.write_incidents(&batch).await {
            // The pass itself was written: the notes stay owed and are
            // written on a later pass.
            tracing::warn!(error = %e, "writing a superseded incident's note failed; retrying on the next pass");
            self.owed_notes
                .extend(writes.into_iter().map(|(owed, _)| owed));
            return Ok(());
        }
        for ((key, _), w) in writes {
            if let Some(g) = self.groups.get_mut(&key) {
                g.incident = Some(w.incident);
            }
        }
        Ok(())
    }

    /// Runs escalation policies: each open incident of a service with one
    /// whose time has come pages the people of its current step (once per
    /// step and trigger), with the pages, the timeline entries and the
    /// escalation state in one transaction. Returns whether anything went
    /// to the outbox.
    pub async fn escalate(
        &mut self,
        hub: &AlertHub,
        routing: &Routing,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        if routing.catalog.escalation_policies.is_empty() {
            self.escalations.clear();
            return Ok(false);
        }
        // A write failed a moment ago: not before `retry_at` (see `flush`).
        if self.retry_at.is_some_and(|t| t > now) {
            return Ok(false);
        }
        let mut due: Vec<GroupId> = Vec::new();
        let retry = now.checked_add(SignedDuration::from_secs(1)).unwrap_or(now);
        // A group whose write is under way is looked at once it is applied
        // (which makes escalation look again).
        let writing = writing(&self.inflight);
        let mut later = Vec::new();
        while let Some((t, id)) = self.escalations.first().cloned() {
            if t > now {
                break;
            }
            self.escalations.pop_first();
            if writing.contains(&id) {
                later.push((t, id));
                continue;
            }
            let Some(g) = self.groups.get_mut(&id) else {
                continue;
            };
            // Looked at once per due time: the group's latest.
            if g.esc_at != Some(t) {
                continue;
            }
            // Nothing fires any more: this pass resolves it (looked at
            // again in a second, should it not).
            if g.resolves_now() {
                g.esc_at = Some(retry);
                later.push((retry, id));
                continue;
            }
            let has_policy = g
                .incident
                .as_ref()
                .is_some_and(|i| routing.catalog.escalation_policy_of(&i.service).is_some());
            g.esc_at = None;
            if has_policy && !due.contains(&id) {
                due.push(id);
            }
        }
        self.escalations.extend(later);
        if due.is_empty() {
            return Ok(false);
        }
        // Overrides added at run time count: from a week back, the longest
        // an escalation chain can look back.
        let from = now
            .checked_sub(SignedDuration::from_hours(24 * 7))
            .unwrap_or(now);
        let overrides = match hub.store.schedule_overrides(None, from).await {
            Ok(o) => super::escalate::overrides(&o),
            Err(e) => {
                self.escalate_again(&due, retry);
                return Err(e);
            }
        };
        let roster = nines_core::oncall::Roster::new(&routing.catalog).with_overrides(&overrides);
        let external_url = self.external_url.clone();
        let mut writes: Vec<(GroupId, IncidentWrite)> = Vec::new();
        hub.read(|st| {
            for id in &due {
                let Some(g) = self.groups.get_mut(id) else {
                    continue;
                };
                let Some(inc) = g.incident.as_ref() else {
                    continue;
                };
                let firing: Vec<String> = g
                    .firing
                    .iter()
                    .filter_map(|fp| st.alerts.get(fp))
                    .map(|h| h.alert.fingerprint.to_string())
                    .collect();
                let e = super::escalate::escalate(
                    routing,
                    &roster,
                    &g.r,
                    inc,
                    &firing,
                    &external_url,
                    now,
                );
                g.esc_at = e.wake;
                if let Some(t) = e.wake {
                    self.escalations.insert((t, id.clone()));
                }
                if let Some(w) = e.write {
                    writes.push((id.clone(), w));
                }
            }
        });
        if writes.is_empty() {
            return Ok(false);
        }
        let batch: Vec<IncidentWrite> = writes.iter().map(|(_, w)| w.clone()).collect();
        let paged = batch.iter().any(|w| !w.notifications.is_empty());
        if let Err(e) = hub.store.write_incidents(&batch).await {
            // Nothing was written: look again in a second (not in a busy
            // loop).
            let ids: Vec<GroupId> = writes.into_iter().map(|(id, _)| id).collect();
            self.escalate_again(&ids, retry);
            return Err(e);
        }
        for (id, w) in writes {
            if let Some(g) = self.groups.get_mut(&id) {
                g.incident = Some(w.incident);
            }
        }
        Ok(paged)
    }

    /// Escalation looks at these groups again at `at` (what it decided for
    /// them was not written).
    fn escalate_again(&mut self, ids: &[GroupId], at: Timestamp) {
        for id in ids {
            if let Some(g) = self.groups.get_mut(id) {
                g.esc_at = Some(at);
                self.escalations.insert((at, id.clone()));
            }
        }
    }

    /// Acknowledges, resolves or annotates an incident, durably.
    pub async fn act(
        &mut self,
        hub: &AlertHub,
        routing: &Routing,
        id: i64,
        action: Action,
        by: &str,
        now: Timestamp,
    ) -> Result<IncidentRow, ActionError> {
        // The last pass's write first: this one follows it.
        self.finish(hub, routing, now).await;
        let Some(mut inc) = hub.store.incident(id).await? else {
            return Err(ActionError::NotFound(id));
        };
        let ack_timeout = self
            .groups
            .values()
            .find(|g| g.incident.as_ref().is_some_and(|i| i.id == id))
            .and_then(|g| g.r.ack_timeout);
        let mut deadline = None;
        let ev = match &action {
            Action::Ack => {
                if inc.state != "triggered" {
                    return Err(ActionError::Conflict {
                        id,
                        state: inc.state,
                    });
                }
                inc.state = "acknowledged".to_owned();
                let mut body = body_of(&inc);
                deadline = ack_timeout.and_then(|d| now.checked_add(d).ok());
                if let (Some(t), Some(o)) = (deadline, body.as_object_mut()) {
                    o.insert("ackDeadline".to_owned(), json!(t.to_string()));
                }
                inc.body = body.to_string();
                match (deadline, ack_timeout) {
                    (Some(t), Some(d)) => event(
                        now,
                        "acknowledged",
                        by,
                        json!({"timeout": format!("{d:#}"), "until": t.to_string()}),
                    ),
                    _ => event(now, "acknowledged", by, json!({})),
                }
            }
            Action::Resolve => {
                if inc.state == "resolved" {
                    return Err(ActionError::Conflict {
                        id,
                        state: inc.state,
                    });
                }
                inc.state = "resolved".to_owned();
                inc.resolved_at = Some(now);
                event(now, "resolved", by, json!({}))
            }
            Action::Note(text) => event(now, "note", by, json!({"text": text})),
        };
        inc.updated_at = now;
        // What a person did is forwarded to the channels that keep an
        // incident's state (PagerDuty, the JSON event), in the same write.
        let notifications = match (
            &action,
            self.groups
                .values()
                .find(|g| g.incident.as_ref().is_some_and(|i| i.id == id)),
        ) {
            (Action::Ack | Action::Resolve, Some(g)) => super::channels::action_notifications(
                routing,
                &g.r,
                &inc,
                by,
                &self.external_url,
                now,
            ),
            _ => Vec::new(),
        };
        hub.store
            .write_incidents(&[IncidentWrite {
                incident: inc.clone(),
                events: vec![ev],
                notifications,
            }])
            .await?;
        for (key, g) in self.groups.iter_mut() {
            if g.incident.as_ref().is_some_and(|i| i.id == id) {
                // A superseded incident resolved by hand opens no other:
                // its alerts still firing join their group's latest.
                if g.superseded && inc.state == "resolved" {
                    self.changed.extend(g.members.iter().copied());
                    hub.wake.notify_one();
                }
                g.incident = (inc.state != "resolved").then(|| inc.clone());
                g.esc_at = Some(now);
                self.escalations.insert((now, key.clone()));
            }
        }
        // A group resolved by hand with nothing left in it is forgotten (no
        // pass looks at it again: the next alert of its key forms a new
        // group, with its group_wait).
        self.groups.retain(|_, g| !g.forgettable());
        if let Some(t) = deadline {
            self.ack_deadlines.insert((t, id));
            // The dispatcher sleeps until its next due time: wake it to
            // count this deadline.
            hub.wake.notify_one();
        }
        hub.progressed();
        Ok(inc)
    }
}

/// What a notification's decision says besides its alerts.
struct DecisionHead<'a> {
    receiver: &'a str,
    group_key: &'a str,
    group_labels: &'a LabelSet,
    external_url: &'a str,
    max_alerts: usize,
    /// Rendered by a channel for people or JSON events (`"kind":
    /// "incident"`), not as an Alertmanager webhook.
    incident: bool,
}

/// A notification's decision as stored in the outbox (see
/// [`notifications_of`]), written piece by piece: with a large group it is
/// mostly fingerprints, one list of them each second, and a JSON `Value`
/// of strings cost an allocation for each.
fn decision_body(
    head: &DecisionHead<'_>,
    firing: impl ExactSizeIterator<Item = u64>,
    resolved: impl ExactSizeIterator<Item = u64>,
) -> String {
    let list = |out: &mut Vec<u8>, fps: &mut dyn Iterator<Item = u64>| {
        out.push(b'[');
        for (i, fp) in fps.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'"');
            super::write_hex16(out, fp);
            out.push(b'"');
        }
        out.push(b']');
    };
    let mut out: Vec<u8> = Vec::with_capacity(256 + 19 * (firing.len() + resolved.len()));
    out.extend_from_slice(b"{\"receiver\":");
    put(&mut out, head.receiver);
    out.extend_from_slice(b",\"groupKey\":");
    put(&mut out, head.group_key);
    out.extend_from_slice(b",\"groupLabels\":");
    put(&mut out, &super::LabelMap(head.group_labels));
    out.extend_from_slice(b",\"externalURL\":");
    put(&mut out, head.external_url);
    out.extend_from_slice(b",\"firing\":");
    list(&mut out, &mut { firing });
    out.extend_from_slice(b",\"resolved\":");
    list(&mut out, &mut { resolved });
    out.extend_from_slice(b",\"maxAlerts\":");
    out.extend_from_slice(head.max_alerts.to_string().as_bytes());
    if head.incident {
        out.extend_from_slice(b",\"kind\":\"incident\"");
    }
    out.push(b'}');
    // Only JSON was written, from `str`s and ASCII.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The notifications of one flush: one per target of the group's receiver
/// (and, without an alertmanager.yml, of its service and owner team), each
/// a decision that `channels::render` turns into its channel's body at
/// delivery.
fn notifications_of(
    external_url: &str,
    routing: &Routing,
    g: &Group,
    firing: &[u64],
    resolved: &[u64],
    now: Timestamp,
) -> Vec<NewNotification> {
    let targets = routing.targets(&g.r);
    let mut out = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let resolved = if target.send_resolved() {
            resolved
        } else {
            &[]
        };
        if firing.is_empty() && resolved.is_empty() {
            continue;
        }
        // The outbox keeps the decision (which alerts, in which state), not
        // the rendered body: a group's notification carries every alert of
        // the group, and writing that whole body for each notification made
        // the outbox the cost. The channel renders the body at delivery.
        let key = g.notify_key();
        let body = decision_body(
            &DecisionHead {
                receiver: &g.r.receiver,
                group_key: &key,
                group_labels: &g.r.labels,
                external_url,
                max_alerts: target.max_alerts(),
                // Alertmanager webhooks keep the decision they always had.
                incident: !matches!(target, Target::Webhook { .. }),
            },
            firing.iter().copied(),
            resolved.iter().copied(),
        );
        out.push(NewNotification {
            // The same decision always has the same key, so a receiver can
            // drop a duplicate delivery; two decisions for one group in the
            // same instant (a page, then its resolution) differ by their
            // alerts.
            idempotency_key: format!(
                "nines-{}-{}-{}-{i}",
                fnv(&key),
                now.as_microsecond(),
                &fnv(&body)[..8]
            ),
            channel: target.channel().to_owned(),
            target: target.address(),
            body,
            created_at: now,
            not_before: None,
        });
    }
    out
}

/// A notification decided for a webhook, as `notifications_of` writes it
/// into the outbox. Fingerprints are hex digits, so they are borrowed from
/// the stored text rather than copied.
#[derive(serde::Deserialize)]
struct Decision<'a> {
    #[serde(default)]
    receiver: Value,
    #[serde(rename = "groupKey", default)]
    group_key: Value,
    #[serde(rename = "groupLabels", default)]
    group_labels: Value,
    #[serde(rename = "externalURL", default)]
    external_url: Value,
    #[serde(borrow)]
    firing: Vec<&'a str>,
    #[serde(borrow, default)]
    resolved: Vec<&'a str>,
    #[serde(rename = "maxAlerts", default)]
    max_alerts: Option<u64>,
}

/// The Alertmanager webhook body (version 4) of a notification decided as
/// `decision` (see `notifications_of`), from the alerts as held now, or
/// `None` when `decision` is not such a decision (then the stored body is
/// sent as it is). Alerts forgotten since (long resolved) are left out.
pub fn render_webhook(st: &HubState, decision: &str) -> Option<Vec<u8>> {
    let decision: Decision<'_> = serde_json::from_str(decision).ok()?;
    let held = |fps: &[&str]| -> Vec<&Held> {
        fps.iter()
            .filter_map(|v| v.parse::<nines_core::alerting::labels::Fingerprint>().ok())
            .filter_map(|fp| st.alerts.get(&fp.0))
            .collect()
    };
    let firing = held(&decision.firing);
    let resolved = held(&decision.resolved);
    let max_alerts = decision.max_alerts.unwrap_or(0) as usize;
    let total = firing.len() + resolved.len();
    let (shown, truncated) = if max_alerts > 0 && total > max_alerts {
        (max_alerts, total - max_alerts)
    } else {
        (total, 0)
    };
    // Written piece by piece in Alertmanager's key order (each alert's
    // part: see `write_alert`).
    let mut out: Vec<u8> = Vec::with_capacity(256 + shown * 320);
    out.extend_from_slice(b"{\"receiver\":");
    put(&mut out, &decision.receiver);
    out.extend_from_slice(if firing.is_empty() {
        b",\"status\":\"resolved\",\"alerts\":["
    } else {
        b",\"status\":\"firing\",\"alerts\":["
    });
    // The common labels and annotations (of every alert, shown or not)
    // are found in the same walk through the alerts as they are written:
    // a group's alerts are each read once, not three times.
    let alerts = firing
        .iter()
        .map(|h| (h, true))
        .chain(resolved.iter().map(|h| (h, false)));
    let mut common_labels = Common::default();
    let mut common_annotations = Common::default();
    for (i, (h, is_firing)) in alerts.enumerate() {
        if i >= shown {
            common_labels.add(&h.alert.labels);
            common_annotations.add(&h.alert.annotations);
            continue;
        }
        if i > 0 {
            out.push(b',');
        }
        write_alert(
            &mut out,
            &h.alert,
            is_firing,
            (&mut common_labels, &mut common_annotations),
        );
    }
    let (common_labels, common_annotations) = (common_labels.finish(), common_annotations.finish());
    out.extend_from_slice(b"],\"groupLabels\":");
    put(&mut out, &decision.group_labels);
    out.extend_from_slice(b",\"commonLabels\":");
    put(&mut out, &super::LabelMap(&common_labels));
    out.extend_from_slice(b",\"commonAnnotations\":");
    put(&mut out, &super::LabelMap(&common_annotations));
    out.extend_from_slice(b",\"externalURL\":");
    put(&mut out, &decision.external_url);
    out.extend_from_slice(b",\"version\":\"4\",\"groupKey\":");
    put(&mut out, &decision.group_key);
    out.extend_from_slice(b",\"truncatedAlerts\":");
    out.extend_from_slice(truncated.to_string().as_bytes());
    out.push(b'}');
    Some(out)
}

/// Appends `v` as JSON.
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing into a Vec cannot fail, and these values always serialize.
    let _ = serde_json::to_writer(out, v);
}

/// Writes an alert's object in a webhook body, its `status` and `endsAt`
/// as of now, straight from the alert each time a body is rendered. It used
/// to be rendered once and kept with the alert (about 300 bytes per alert,
/// a fifth of nines' memory with many alerts held); writing it costs little
/// more than copying it did: the label sets are written as they are held,
/// and times and the fingerprint by hand, with no allocation.
fn write_alert<'a>(
    out: &mut Vec<u8>,
    a: &'a nines_core::alerting::model::Alert,
    firing: bool,
    common: (&mut Common<'a>, &mut Common<'a>),
) {
    out.extend_from_slice(if firing {
        b"{\"status\":\"firing\",\"labels\":"
    } else {
        b"{\"status\":\"resolved\",\"labels\":"
    });
    write_set(out, &a.labels, common.0);
    out.extend_from_slice(b",\"annotations\":");
    write_set(out, &a.annotations, common.1);
    out.extend_from_slice(b",\"startsAt\":\"");
    super::write_time(out, a.starts_at);
    out.extend_from_slice(b"\",\"endsAt\":\"");
    if firing {
        out.extend_from_slice(b"0001-01-01T00:00:00Z");
    } else {
        super::write_time(out, a.ends_at);
    }
    out.extend_from_slice(b"\",\"generatorURL\":");
    super::write_json_str(out, &a.generator_url);
    out.extend_from_slice(b",\"fingerprint\":\"");
    super::write_hex16(out, a.fingerprint.0);
    out.extend_from_slice(b"\"}");
}

/// Writes `set` as a JSON object, narrowing `common` in the same walk.
fn write_set<'a>(out: &mut Vec<u8>, set: &'a LabelSet, common: &mut Common<'a>) {
    out.push(b'{');
    let mut first = true;
    common.add_each(set, |name, value| {
        if !first {
            out.push(b',');
        }
        first = false;
        super::write_json_str(out, name);
        out.push(b':');
        super::write_json_str(out, value);
    });
    out.push(b'}');
}

fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(kind: &str, seq: u64, fps: &[u64]) -> nines_store::IncidentEvent {
        let all: Vec<String> = fps.iter().map(|fp| format!("{fp:016x}")).collect();
        nines_store::IncidentEvent {
            id: 0,
            incident_id: 1,
            at: Timestamp::UNIX_EPOCH,
            kind: kind.to_owned(),
            actor: "nines".to_owned(),
            body: json!({"count": fps.len(), "alerts": [], "fingerprints": all, "seq": seq})
                .to_string(),
        }
    }

    fn set(fps: &[u64]) -> Fingerprints {
        fps.iter().copied().collect()
    }

    #[test]
    fn alerts_end_in_the_order_of_their_ends_and_none_before_its_end() {
        let t = |s: &str| -> Timestamp { s.parse().unwrap() };
        let mut e = Expiry::default();
        e.insert(t("2026-12-02T10:00:01.700Z"), 3);
        e.insert(t("2026-12-02T10:00:01.200Z"), 2);
        e.insert(t("2026-12-02T10:00:00.900Z"), 1);
        e.insert(t("2026-12-02T10:00:05Z"), 5);
        // Refreshed with the same end: once. With an earlier one: looked
        // at then.
        e.insert(t("2026-12-02T10:00:05Z"), 5);
        e.insert(t("2026-12-02T10:00:01.500Z"), 3);
        e.insert(t("1969-12-31T23:59:59.500Z"), 9);
        assert_eq!(e.take_due(t("1969-12-31T23:59:59.400Z")), Vec::<u64>::new());
        assert_eq!(e.take_due(t("1970-01-01T00:00:00Z")), [9]);
        assert_eq!(e.take_due(t("2026-12-02T10:00:01.300Z")), [1, 2]);
        assert_eq!(e.take_due(t("2026-12-02T10:00:01.300Z")), Vec::<u64>::new());
        assert_eq!(e.take_due(t("2026-12-02T10:00:04.999Z")), [3]);
        assert_eq!(e.take_due(t("2026-12-02T10:00:05Z")), [5]);
        assert!(e.0.is_empty());
    }

    #[test]
    fn a_timeline_says_what_was_told_firing_and_what_its_last_notification_told() {
        let timeline = [
            told("alerts_joined", 1, &[1, 2]),
            told("opened", 0, &[]),
            // One pass: 3 joined, 1 left.
            told("alerts_joined", 2, &[3]),
            told("alerts_left", 2, &[1]),
            told("alerts_joined", 3, &[4]),
        ];
        let at = |seq| Told::of(&timeline, seq).unwrap();
        assert_eq!(at(2).firing, set(&[2, 3, 4]));
        assert_eq!(at(2).notified, set(&[2, 3]));
        assert_eq!(at(2).seq, 3);
        // Notified at the first pass, at the last, and never.
        assert_eq!(at(1).notified, set(&[1, 2]));
        assert_eq!(at(3).notified, set(&[2, 3, 4]));
        assert_eq!(at(0).notified, set(&[]));
        // Numbered from where the group's count stood (its later incident
        // goes on from it): none notified before its first notification.
        assert_eq!(
            Told::of(&timeline[2..], 1).unwrap().notified,
            Fingerprints::default()
        );
    }

    #[test]
    fn a_timeline_that_does_not_list_every_alert_it_told_says_nothing() {
        let mut short = told("alerts_joined", 1, &[1, 2]);
        short.body = json!({"count": 3, "fingerprints": ["1", "2"], "seq": 1}).to_string();
        assert_eq!(Told::of(&[short], 1), None);
        let mut old = told("alerts_joined", 1, &[1]);
        old.body = json!({"count": 1, "alerts": [{"fingerprint": "1"}]}).to_string();
        assert_eq!(Told::of(&[old], 0), None);
        assert_eq!(Told::of(&[], 0), Some(Told::default()));
    }

    #[test]
    fn a_decision_is_written_as_its_json_value_would_be() {
        let labels = LabelSet::new([
            ("alertname".to_owned(), "Disk \"full\"".to_owned()),
            ("service".to_owned(), "chéckout".to_owned()),
        ])
        .unwrap();
        for incident in [false, true] {
            let head = DecisionHead {
                receiver: "team-a",
                group_key: "{}:{alertname=\"Disk\"}",
                group_labels: &labels,
                external_url: "http://nines:9393",
                max_alerts: 7,
                incident,
            };
            let (firing, resolved) = (vec![1_u64, u64::MAX, 0xabc], vec![42_u64]);
            let mut want = json!({
                "receiver": head.receiver,
                "groupKey": head.group_key,
                "groupLabels": super::super::map(&labels),
                "externalURL": head.external_url,
                "firing": firing.iter().map(|f| format!("{f:016x}")).collect::<Vec<_>>(),
                "resolved": resolved.iter().map(|f| format!("{f:016x}")).collect::<Vec<_>>(),
                "maxAlerts": 7,
            });
            if incident {
                want["kind"] = json!("incident");
            }
            let got = decision_body(&head, firing.iter().copied(), resolved.iter().copied());
            assert_eq!(got, want.to_string());
            let none = decision_body(&head, std::iter::empty(), std::iter::empty());
            assert!(none.contains("\"firing\":[],\"resolved\":[]"), "{none}");
        }
    }
}
