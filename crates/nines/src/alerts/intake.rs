//! The one writer of alerts: group commit across requests. The incident
//! dispatcher's updates of stored incidents join the same commit (SQLite
//! syncs once for both), see [`AlertHub::write_incidents`]. A batch is in
//! memory (and the dispatcher woken) while its commit runs; its requests
//! are answered once it is durable, and a failed commit takes it back.

use std::collections::HashMap;
use std::sync::Arc;

use nines_store::{IncidentWrite, StoreError};
use tokio::sync::{mpsc, oneshot};

use super::{AlertHub, Held, encode_alert};

/// At most this many alerts go into one transaction; more wait for the next.
const MAX_GROUP: usize = 20_000;

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
        // Merge in arrival order against what is known; later reports of
        // the same alert in this group merge over earlier ones.
        let mut merged: HashMap<u64, Held> = HashMap::with_capacity(count);
        let mut order: Vec<u64> = Vec::with_capacity(count);
        hub.read(|st| {
            // The alerts move out of the jobs (each job is then only its
            // reply): a new alert is kept as it came, not copied.
            for job in &mut jobs {
                let Job::Alerts { alerts, .. } = job else {
                    continue;
                };
                for h in std::mem::take(alerts) {
                    let fp = h.alert.fingerprint.0;
                    let now = h.alert.updated_at;
                    let next = match merged.get(&fp).or_else(|| st.alerts.get(&fp)) {
                        Some(old) => Held::new(old.alert.merge(h.alert, now), h.service),
                        None => h,
                    };
                    if merged.insert(fp, next).is_none() {
                        order.push(fp);
                    }
                }
            }
        });
        let rows: Vec<_> = order.iter().map(|fp| encode_alert(&merged[fp])).collect();
        let mut updates = Vec::new();
        for job in &mut jobs {
            if let Job::Updates { writes, .. } = job {
                updates.append(writes);
            }
        }
        // The alerts count before their commit ends: the dispatcher may
        // group and notify them while the disk syncs (a notification is a
        // message, not a promise; the 2xx still waits for the commit). A
        // commit that fails takes them back, and the dispatcher looks again.
        let (seq, replaced): (u64, Vec<(u64, Option<Held>)>) = if rows.is_empty() {
            (0, Vec::new())
        } else {
            let applied = hub.write(|st| {
                st.applied += 1;
                let replaced = merged
                    .into_iter()
                    .map(|(fp, h)| (fp, st.alerts.insert(fp, h)))
                    .collect();
                (st.applied, replaced)
            });
            hub.changed(order.iter().copied());
            applied
        };
        let (mut alerts, updated) = hub.store.write_alerts_and_updates(&rows, &updates).await;
        if alerts.is_err() && updated.is_err() && !rows.is_empty() && !updates.is_empty() {
            // They shared a transaction: an update that failed (the
            // dispatcher retries it) must not fail the alerts with it.
            alerts = hub.store.write_alerts(&rows).await;
        }
        if !rows.is_empty() {
            if alerts.is_err() {
                hub.write(|st| {
                    for (fp, old) in replaced {
                        match old {
                            Some(old) => st.alerts.insert(fp, old),
                            None => st.alerts.remove(&fp),
                        };
                    }
                });
                hub.changed(order);
            }
            let failed = alerts.is_err();
            hub.settled.send_modify(|s| s.settle(seq, failed));
            hub.progressed();
        }
        let unavailable = |outcome: &Result<(), StoreError>| match outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(StoreError::Unavailable {
                target: "alert intake".to_owned(),
                error: e.to_string().into(),
            }),
        };
        for job in jobs {
            let _ = match job {
                Job::Alerts { reply, .. } => reply.send(unavailable(&alerts)),
                Job::Updates { reply, .. } => reply.send(unavailable(&updated)),
            };
        }
    }
}
