//! Who gets paged: an alert for a service pages the person on call for its
//! owner at that moment, through their contact method, with why they were
//! chosen; the next step pages when nobody acknowledges; an
//! acknowledgement stops escalation; a restart neither repeats nor skips a
//! page; a low-urgency incident waits for the service's support hours.
//! Time runs on an injected clock.

mod common;

use std::sync::Arc;

use common::{get, post_alerts, receiver};
use jiff::{SignedDuration, Timestamp};
use nines::clock::ManualClock;
use serde_json::{Value, json};

fn config(alice: u16, bob: u16) -> String {
    format!(
        "apiVersion: nines/v1
kind: Person
metadata: {{name: alice}}
spec:
  timeZone: Europe/Paris
  contacts: [{{type: webhook, address: 'http://127.0.0.1:{alice}/alice'}}]
---
apiVersion: nines/v1
kind: Person
metadata: {{name: bob}}
spec:
  timeZone: Europe/Paris
  contacts: [{{type: webhook, address: 'http://127.0.0.1:{bob}/bob'}}]
---
apiVersion: nines/v1
kind: Team
metadata: {{name: payments}}
spec:
  timeZone: Europe/Paris
  members: [{{name: alice}}, {{name: bob}}]
  escalationPolicy: payments
---
apiVersion: nines/v1
kind: Schedule
metadata: {{name: payments-primary}}
spec:
  team: payments
  layers:
    - name: weekly
      start: 2026-11-30T09:00
      turn: weekly
      members: [alice, bob]
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  rules:
    - delay: 10m
      targets: [{{schedule: payments-primary}}]
    - delay: 10m
      targets: [{{person: bob}}]
---
apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  owner: payments
  incidents: {{ackTimeout: 30m}}
---
apiVersion: nines/v1
kind: Service
metadata: {{name: payments-api}}
spec:
  owner: payments
  supportHours: {{timeZone: Europe/Paris, days: mon-fri, from: '09:00', to: '18:00'}}
"
    )
}

/// The `n`th distinct page a receiver got (deliveries are at least once:
/// one repeated under its idempotency key counts once).
async fn nth_page(r: &common::Receiver, n: usize) -> Value {
    let mut seen: Vec<String> = Vec::new();
    for k in 1.. {
        let (key, body) = r.nth(k).await;
        if !seen.contains(&key) {
            seen.push(key);
            if seen.len() == n {
                return body;
            }
        }
    }
    unreachable!()
}

fn kinds(incident: &Value) -> Vec<String> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_person_on_call_is_paged_then_the_next_step_until_someone_acknowledges() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (receiver(0), receiver(0));
    // Tuesday 2026-12-01 03:00 in Paris: alice's week, at night.
    let t0: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let cfg = config(alice.port, bob.port);
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(
        &url,
        // Firing for the whole test, as a Prometheus re-sending it would keep it.
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "annotations": {"summary": "checkout answers 500"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();

    // Step 1: alice, on call in payments-primary, through her webhook: an
    // actionable page that says why her.
    let (key, page) = alice.nth(1).await;
    assert!(key.starts_with("nines-page-1-"), "{key}");
    assert_eq!(page["kind"], "incident", "{page}");
    assert_eq!(page["status"], "firing");
    assert_eq!(page["urgency"], "high");
    assert_eq!(page["alerts"][0]["labels"]["alertname"], "CheckoutDown");
    let why = page["why"].as_str().unwrap();
    assert!(
        why.starts_with("escalation step 1 of 2 of policy payments")
            && why.contains("on call in schedule payments-primary, layer weekly"),
        "{why}"
    );
    assert!(
        page["links"]["acknowledge"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/incidents/1/ack")
    );
    assert_eq!(bob.count(), 0);

    // A restart before the next step repeats nothing.
    running.shutdown().await.unwrap();
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    state.dispatch().await.unwrap();

    // Nobody acknowledges within 10 minutes: step 2 pages bob.
    clock.advance(SignedDuration::from_mins(10));
    state.dispatch().await.unwrap();
    let second = nth_page(&bob, 1).await;
    assert!(
        second["why"]
            .as_str()
            .unwrap()
            .starts_with("escalation step 2 of 2 of policy payments"),
        "{second}"
    );
    // At least once, once per idempotency key: a delivery in flight when
    // nines stopped may arrive again, under the same key.
    let keys = |r: &common::Receiver| {
        let mut k: Vec<String> = r
            .got
            .lock()
            .unwrap()
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        k.dedup();
        k
    };
    assert_eq!(
        keys(&alice).len(),
        1,
        "alice was paged once, across the restart"
    );

    // bob acknowledges: escalation stops; the chain would have run out at
    // +20m and nobody is paged again.
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/incidents/1/ack"))
        .json(&json!({"by": "bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    clock.advance(SignedDuration::from_mins(15));
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let k = kinds(&shown);
    assert_eq!(k.iter().filter(|k| *k == "paged").count(), 2, "{k:?}");
    assert!(!k.contains(&"escalation_exhausted".to_owned()), "{k:?}");
    let paged: Vec<&Value> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "paged")
        .collect();
    assert_eq!(paged[0]["details"]["person"], "alice");
    assert_eq!(paged[1]["details"]["person"], "bob");

    // The acknowledgement times out (30m) with the incident still open: it
    // triggers again and escalation starts over from the first step.
    clock.advance(SignedDuration::from_mins(16));
    state.dispatch().await.unwrap();
    let again = nth_page(&alice, 2).await;
    assert!(
        again["why"]
            .as_str()
            .unwrap()
            .starts_with("escalation step 1 of 2"),
        "{again}"
    );
    // Then nobody acknowledges: step 2, then the chain is exhausted.
    clock.advance(SignedDuration::from_mins(10));
    state.dispatch().await.unwrap();
    nth_page(&bob, 2).await;
    clock.advance(SignedDuration::from_mins(10));
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let exhausted = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalation_exhausted")
        .unwrap_or_else(|| panic!("{shown}"))
        .clone();
    assert!(
        exhausted["details"]["text"]
            .as_str()
            .unwrap()
            .contains("nobody acknowledged"),
        "{exhausted}"
    );
    assert_eq!(keys(&alice).len() + keys(&bob).len(), 4);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_low_urgency_incident_waits_for_support_hours_and_never_wakes_anyone_at_night() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (receiver(0), receiver(0));
    // Tuesday 03:00 in Paris.
    let t0: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = common::start_with_config(
        dir.path(),
        &config(alice.port, bob.port),
        None,
        clock.clone(),
    )
    .await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    post_alerts(
        &url,
        json!([{"labels": {"alertname": "SlowRefunds", "service": "payments-api", "severity": "warning"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    let open = get(&format!("{url}/api/v1/incidents")).await;
    assert_eq!(open["incidents"][0]["urgency"], "low");
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let deferred = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalation_deferred")
        .unwrap_or_else(|| panic!("{shown}"))
        .clone();
    assert_eq!(
        deferred["details"]["until"], "2026-12-01T08:00:00Z",
        "09:00 in Paris"
    );

    // At 08:59 Paris time still nobody; at 09:00 alice is paged.
    clock.advance(SignedDuration::from_mins(5 * 60 + 59));
    state.dispatch().await.unwrap();
    assert_eq!(alice.count(), 0);
    clock.advance(SignedDuration::from_mins(1));
    state.dispatch().await.unwrap();
    let (_, page) = alice.nth(1).await;
    assert_eq!(page["urgency"], "low");
    assert_eq!(bob.count(), 0);
    running.shutdown().await.unwrap();
}
