//! The one writer of alerts: group commit across requests.

use std::collections::HashMap;
use std::sync::Arc;

use nines_store::StoreError;
use tokio::sync::{mpsc, oneshot};

use super::{AlertHub, Held, encode_alert};

/// At most this many alerts go into one transaction; more wait for the next.
const MAX_GROUP: usize = 20_000;

pub(super) struct Job {
    pub alerts: Vec<Held>,
    pub reply: oneshot::Sender<Result<(), StoreError>>,
}

pub(super) async fn run(hub: Arc<AlertHub>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut count = first.alerts.len();
        let mut jobs = vec![first];
        while count < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.alerts.len();
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
                for h in std::mem::take(&mut job.alerts) {
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
        let outcome = hub.store.write_alerts(&rows).await;
        if outcome.is_ok() {
            hub.write(|st| {
                for (fp, h) in merged {
                    st.alerts.insert(fp, h);
                }
            });
            hub.changed(order);
            hub.progressed();
        }
        for job in jobs {
            let reply = match &outcome {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable {
                    target: "alert intake".to_owned(),
                    error: e.to_string().into(),
                }),
            };
            let _ = job.reply.send(reply);
        }
    }
}
