//! The one writer of alerts: group commit across requests. The incident
//! dispatcher's updates of stored incidents join the same commit (SQLite
//! syncs once for both), see [`AlertHub::write_incidents`]. The intake
//! merges each batch, puts it in memory, hands it to the committer
//! ([`commit`]), wakes the dispatcher and takes the next: a batch's
//! requests are answered once it is durable, and a failed commit takes it
//! back out of memory with every batch after it.

use std::sync::Arc;

use nines_store::{AlertRow, IncidentWrite, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::{AlertHub, ByFingerprint, Held, encode_alert};

/// At most this many alerts go into one transaction; more wait for the next.
const MAX_GROUP: usize = 20_000;

/// At most this many alerts are in memory and not yet committed.
const MAX_UNCOMMITTED: usize = 4 * MAX_GROUP;

/// How long a commit waits, at most, for as many requests as the last one
/// answered. Clients that send one request after another (most of them:
/// Prometheus, wrk, a script) come back a fraction of a millisecond after
/// their answer; without the wait they would split into two cohorts that
/// take turns, each paying a sync to disk, where one sync can carry both
/// (a group commit delay, like PostgreSQL's `commit_delay` or MySQL's
/// `binlog_group_commit_sync_delay`). A request on its own, or one whose
/// client does not come back, waits at most this long for its 2xx (tokio's
/// timer rounds the deadline up to its next millisecond: 1.5 ms at worst);
/// its alerts count at once all the same (they are in memory).
const GATHER: std::time::Duration = std::time::Duration::from_micros(500);

pub(super) enum Job {
    /// Alerts to commit; the reply comes once they are durable.
    Alerts {
        alerts: Vec<Held>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Updates of stored incidents (their timeline and notifications), to
    /// commit with whatever alerts wait.
    Updates {
        writes: Vec<IncidentWrite>,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
}

impl Job {
    fn alerts(&self) -> usize {
        match self {
            Job::Alerts { alerts, .. } => alerts.len(),
            Job::Updates { .. } => 0,
        }
    }
}

pub(super) async fn run(hub: Arc<AlertHub>, mut rx: mpsc::Receiver<Job>) {
    let uncommitted = Arc::new(tokio::sync::Semaphore::new(MAX_UNCOMMITTED));
    let (to_commit, committing) = mpsc::unbounded_channel();
    tokio::spawn(commit(hub.clone(), committing));
    while let Some(first) = rx.recv().await {
        let mut count = first.alerts();
        let mut jobs = vec![first];
        while count < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.alerts();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut updates = Vec::new();
        for job in &mut jobs {
            if let Job::Updates { writes, .. } = job {
                updates.append(writes);
            }
        }
        // The alerts count before their commit ends: the dispatcher may
        // group and notify them while the disk syncs (a notification is a
        // message, not a promise; the 2xx still waits for the commit). The
        // next requests are merged and put in memory meanwhile too; the
        // committer writes what waits in one transaction. A commit that
        // fails takes back its batches and every one after them. At most
        // `MAX_UNCOMMITTED` alerts wait for their commit: then the intake
        // waits too, and so do the requests.
        let permit = uncommitted
            .clone()
            .acquire_many_owned(u32::try_from(count.clamp(1, MAX_UNCOMMITTED)).unwrap_or(1))
            .await
            .ok();
        let mut alert_replies = Vec::new();
        let mut update_replies = Vec::new();
        let mut incoming = Vec::with_capacity(count);
        for job in jobs {
            match job {
                Job::Alerts { reply, alerts } => {
                    incoming.push(alerts);
                    alert_replies.push(reply);
                }
                Job::Updates { reply, .. } => update_replies.push(reply),
            }
        }
        let mut commit = Commit {
            seq: 0,
            rows: Vec::new(),
            order: Vec::new(),
            replaced: Vec::new(),
            updates,
            alert_replies,
            update_replies,
            _permit: permit,
        };
        // Merged and put in memory under one lock: a take-back by the
        // committer cannot come between (what was merged over it would
        // bring a refused request's data back).
        hub.write(|st| {
            // Merge in arrival order against what is known; later reports
            // of the same alert in this group merge over earlier ones. The
            // alerts move out of the requests: a new alert is kept as it
            // came, not copied.
            let mut at: ByFingerprint<usize> =
                ByFingerprint::with_capacity_and_hasher(count, Default::default());
            let mut merged: Vec<Held> = Vec::with_capacity(count);
            for h in incoming.into_iter().flatten() {
                let fp = h.alert.fingerprint.0;
                let now = h.alert.updated_at;
                match at.get(&fp) {
                    Some(&i) => {
                        let (alert, service) = h.into_parts();
                        merged[i] = Held::new(merged[i].alert.merge(alert, now), service);
                    }
                    None => {
                        at.insert(fp, merged.len());
                        merged.push(match st.alerts.get(&fp) {
                            Some(old) => {
                                let (alert, service) = h.into_parts();
                                Held::new(old.alert.merge(alert, now), service)
                            }
                            None => h,
                        });
                    }
                }
            }
            commit.order = merged.iter().map(|h| h.alert.fingerprint.0).collect();
            let mut service = None;
            commit.rows = merged
                .iter()
                .map(|h| encode_alert(h, &mut service))
                .collect();
            if !commit.rows.is_empty() {
                st.applied += 1;
                commit.seq = st.applied;
                commit.replaced = merged
                    .into_iter()
                    .map(|h| {
                        let fp = h.alert.fingerprint.0;
                        (fp, st.alerts.insert(fp, h))
                    })
                    .collect();
            }
            // Queued under the lock, so that a committer taking back what
            // is in memory and uncommitted finds every such batch queued.
            // The committer first, then the dispatcher: tokio runs the task
            // woken last first on this thread, and the dispatcher may
            // notify at once (a webhook leaves before the commit ends);
            // the committer mostly waits for the disk, and another thread
            // can take it meanwhile.
            let changed = !commit.order.is_empty();
            if changed {
                hub.note_changed(commit.order.iter().copied());
            }
            let _ = to_commit.send(commit);
            if changed {
                hub.wake.notify_one();
            }
        });
        // What the API shows changed (the alerts are listed already).
        hub.progressed();
    }
}

/// A batch in memory, to commit.
struct Commit {
    /// Its number (see `HubState::applied`); 0 without alerts.
    seq: u64,
    rows: Vec<AlertRow>,
    order: Vec<u64>,
    /// What each alert replaced in memory, to put back if it fails.
    replaced: Vec<(u64, Option<Held>)>,
    updates: Vec<IncidentWrite>,
    alert_replies: Vec<Reply>,
    update_replies: Vec<Reply>,
    /// Its place among the alerts waiting for their commit.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

fn unavailable(outcome: &Result<(), StoreError>) -> Result<(), StoreError> {
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => Err(StoreError::Unavailable {
            target: "alert intake".to_owned(),
            error: e.to_string().into(),
        }),
    }
}

/// Commits what the intake put in memory, in order: every batch waiting in
/// one transaction (group commit), then answers their requests.
async fn commit(hub: Arc<AlertHub>, mut rx: mpsc::UnboundedReceiver<Commit>) {
    // Requests the last commit answered: their clients usually send again
    // at once (see `GATHER`).
    let mut answered = 0;
    while let Some(first) = rx.recv().await {
        let mut count = first.rows.len();
        let mut requests = first.alert_replies.len();
        let mut batches = vec![first];
        // Every batch waiting, then (see `GATHER`) those still to come from
        // the clients the last commit answered. The dispatcher's updates
        // alone are not a client's request: they neither wait nor count.
        let until = tokio::time::Instant::now() + GATHER;
        while count < MAX_GROUP {
            let next = match rx.try_recv() {
                Ok(c) => Some(c),
                Err(_) if requests > 0 && requests < answered => {
                    tokio::time::timeout_at(until, rx.recv())
                        .await
                        .ok()
                        .flatten()
                }
                Err(_) => None,
            };
            let Some(c) = next else { break };
            count += c.rows.len();
            requests += c.alert_replies.len();
            batches.push(c);
        }
        if requests > 0 {
            answered = requests;
        }
        // A later batch's row of an alert is merged over the earlier one's.
        let mut at: ByFingerprint<usize> =
            ByFingerprint::with_capacity_and_hasher(count, Default::default());
        let mut rows: Vec<AlertRow> = Vec::with_capacity(count);
        let mut updates = Vec::new();
        for b in &mut batches {
            for row in std::mem::take(&mut b.rows) {
                match at.get(&row.fingerprint) {
                    Some(&i) => rows[i] = row,
                    None => {
                        at.insert(row.fingerprint, rows.len());
                        rows.push(row);
                    }
                }
            }
            updates.append(&mut b.updates);
        }
        let (mut alerts, updated) = hub.store.write_alerts_and_updates(&rows, &updates).await;
        if alerts.is_err() && updated.is_err() && !rows.is_empty() && !updates.is_empty() {
            // They shared a transaction: an update that failed (the
            // dispatcher retries it) must not fail the alerts with it.
            alerts = hub.store.write_alerts(&rows).await;
        }
        let mut later = Vec::new();
        if alerts.is_err() && !rows.is_empty() {
            // Back out of memory: these batches, and those put in memory
            // after them (merged over them), newest first.
            hub.write(|st| {
                while let Ok(c) = rx.try_recv() {
                    later.push(c);
                }
                for b in later.iter_mut().rev().chain(batches.iter_mut().rev()) {
                    for (fp, old) in std::mem::take(&mut b.replaced).into_iter().rev() {
                        match old {
                            Some(old) => st.alerts.insert(fp, old),
                            None => st.alerts.remove(&fp),
                        };
                    }
                }
            });
            for b in batches.iter().chain(&later) {
                hub.changed(b.order.iter().copied());
            }
        }
        let failed = alerts.is_err() && !rows.is_empty();
        hub.settled.send_modify(|s| {
            for b in batches.iter().chain(&later).filter(|b| b.seq > 0) {
                s.settle(b.seq, failed);
            }
        });
        if !rows.is_empty() {
            hub.progressed();
        }
        let not_tried: Result<(), StoreError> = Err(StoreError::Unavailable {
            target: "alert intake".to_owned(),
            error: "an earlier write failed; nothing of this one was written".into(),
        });
        for b in batches {
            for r in b.alert_replies {
                let _ = r.send(unavailable(&alerts));
            }
            for r in b.update_replies {
                let _ = r.send(unavailable(&updated));
            }
        }
        for b in later {
            for r in b.alert_replies.into_iter().chain(b.update_replies) {
                let _ = r.send(unavailable(&not_tried));
            }
        }
    }
}
