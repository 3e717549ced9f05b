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

/// A server on a data dir of its own, on [`config`] with alice's and
/// bob's receivers, its clock at Tuesday 2026-12-01 03:00 in Paris (alice's
/// week, at night).
struct OnCall {
    dir: tempfile::TempDir,
    alice: common::Receiver,
    bob: common::Receiver,
    clock: Arc<ManualClock>,
    cfg: String,
    running: nines::serve::Running,
    url: String,
}

async fn on_call() -> OnCall {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (receiver(0), receiver(0));
    let t0: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let cfg = config(alice.port, bob.port);
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    OnCall {
        dir,
        alice,
        bob,
        clock,
        cfg,
        running,
        url,
    }
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
    let OnCall {
        dir,
        alice,
        bob,
        clock,
        cfg,
        running,
        url,
    } = on_call().await;
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
    let OnCall {
        dir: _dir,
        alice,
        bob,
        clock,
        running,
        url,
        ..
    } = on_call().await;
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

/// alice, paged by the payments policy for checkout (high urgency when
/// critical) and batch (one incident per alert name), with `contacts` and
/// `extra` lines in her spec.
fn paging_config(contacts: &str, extra: &str) -> String {
    format!(
        "apiVersion: nines/v1
kind: Person
metadata: {{name: alice}}
spec:
  timeZone: Europe/Paris
  contacts:
{contacts}
{extra}
---
apiVersion: nines/v1
kind: Team
metadata: {{name: payments}}
spec:
  timeZone: Europe/Paris
  members: [{{name: alice}}]
  escalationPolicy: payments
---
apiVersion: nines/v1
kind: EscalationPolicy
metadata: {{name: payments}}
spec:
  rules:
    - delay: 30m
      targets: [{{person: alice}}]
---
apiVersion: nines/v1
kind: Service
metadata: {{name: checkout}}
spec:
  owner: payments
---
apiVersion: nines/v1
kind: Service
metadata: {{name: batch}}
spec:
  owner: payments
  incidents: {{groupBy: [alertname]}}
"
    )
}

fn timeline_of<'a>(incident: &'a Value, kind: &str) -> Vec<&'a Value> {
    incident["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

async fn metrics(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_primary_contact_keeps_failing_goes_to_the_fallback_contact_once() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // alice's primary webhook is broken for good; her fallback works.
    let (primary, fallback) = (common::refusing("400 Bad Request"), receiver(0));
    let clock = Arc::new(ManualClock::new("2026-12-01T02:00:00Z".parse().unwrap()));
    let cfg = paging_config(
        &format!(
            "    - {{type: webhook, address: 'http://127.0.0.1:{}/alice'}}
    - {{type: webhook, address: 'http://127.0.0.1:{}/alice-phone', fallback: true}}",
            primary.port, fallback.port
        ),
        "",
    );
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "annotations": {"summary": "checkout answers 500"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();

    // The page goes to the primary only; it refuses it, and the fallback
    // gets the same page, saying why it came there.
    let (key, _) = primary.nth(1).await;
    assert!(key.starts_with("nines-page-1-"), "{key}");
    let (key, page) = fallback.nth(1).await;
    assert!(key.starts_with("nines-fallback-1-"), "{key}");
    assert_eq!(page["kind"], "incident");
    assert_eq!(page["alerts"][0]["labels"]["alertname"], "CheckoutDown");
    let why = page["why"].as_str().unwrap();
    assert!(
        why.starts_with("escalation step 1 of 1")
            && why.contains(&format!(
                "the page to http://127.0.0.1:{}/alice kept failing (the receiver answered 400 Bad Request)",
                primary.port
            )),
        "{why}"
    );

    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let used = timeline_of(&shown, "fallback_used");
    assert_eq!(used.len(), 1, "{shown}");
    let d = &used[0]["details"];
    assert_eq!(d["person"], "alice");
    assert_eq!(
        d["failed"]["target"],
        format!("http://127.0.0.1:{}/alice", primary.port)
    );
    assert_eq!(
        d["targets"][0],
        format!("http://127.0.0.1:{}/alice-phone", fallback.port)
    );
    assert!(
        d["text"]
            .as_str()
            .unwrap()
            .contains("paged alice's fallback contact(s)"),
        "{d}"
    );
    assert_eq!(timeline_of(&shown, "notification_failed").len(), 1);
    assert!(
        metrics(&url)
            .await
            .contains("nines_page_fallbacks_total{channel=\"json\"} 1"),
    );
    // Nothing more: the primary gave up, the fallback was decided once.
    assert_eq!((primary.count(), fallback.count()), (1, 1));
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pages_for_one_person_gives_the_first_pages_then_one_digest() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let alice = receiver(0);
    let t0: Timestamp = "2026-12-01T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let cfg = paging_config(
        &format!(
            "    - {{type: webhook, address: 'http://127.0.0.1:{}/alice'}}",
            alice.port
        ),
        "  pageLimit: {pages: 2, window: 5m}",
    );
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    // Four low-urgency incidents at once: two pages go out, two are held.
    let burst: Vec<Value> = (1..=4)
        .map(|i| {
            json!({"labels": {"alertname": format!("Job{i}Failing"), "service": "batch", "severity": "warning"},
                   "annotations": {"summary": format!("job {i} is failing")},
                   "endsAt": "2026-12-01T12:00:00Z"})
        })
        .collect();
    post_alerts(&url, Value::Array(burst)).await;
    state.dispatch().await.unwrap();
    alice.nth(2).await;

    // A high-urgency incident's first page is never held behind the digest.
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "annotations": {"summary": "checkout answers 500"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    let (_, page) = alice.nth(3).await;
    assert_eq!(
        (&page["kind"], &page["urgency"]),
        (&json!("incident"), &json!("high"))
    );
    assert_eq!(page["alerts"][0]["labels"]["alertname"], "CheckoutDown");
    assert_eq!(alice.count(), 3);

    // The held pages are on their incidents' timelines.
    let mut held = Vec::new();
    for id in 1..=4 {
        let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
        for e in timeline_of(&shown, "held_for_digest") {
            let text = e["details"]["text"].as_str().unwrap().to_owned();
            assert!(
                text.starts_with("held for the digest of alice at 2026-12-01T02:05:00Z"),
                "{text}"
            );
            held.push(id);
        }
    }
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        metrics(&url)
            .await
            .contains("nines_pages_held_for_digest_total{channel=\"json\"} 2"),
    );

    // A restart before the window ends loses nothing: the digest is in
    // the outbox, due at the end of the window.
    running.shutdown().await.unwrap();
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let state = running.state.clone();
    clock.advance(SignedDuration::from_mins(5));
    state.outbox_wake.notify_one();
    let (key, digest) = alice.nth(4).await;
    assert!(key.starts_with("nines-digest-alice-"), "{key}");
    assert_eq!(digest["kind"], "digest", "{digest}");
    assert_eq!(digest["person"], "alice");
    let listed = digest["incidents"].as_array().unwrap();
    let ids: Vec<i64> = listed.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, held, "{digest}");
    for i in listed {
        assert_eq!(i["urgency"], "low");
        assert_eq!(i["service"], "batch");
        assert!(i["title"].as_str().unwrap().contains("is failing"), "{i}");
        assert!(
            i["links"]["incident"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/api/v1/incidents/{}", i["id"])),
            "{i}"
        );
    }
    assert_eq!(alice.count(), 4);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_fails_three_times_goes_to_the_fallback_and_the_primary_is_still_retried() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (primary, fallback) = (common::refusing("503 Service Unavailable"), receiver(0));
    let clock = Arc::new(ManualClock::new("2026-12-01T02:00:00Z".parse().unwrap()));
    let cfg = paging_config(
        &format!(
            "    - {{type: webhook, address: 'http://127.0.0.1:{}/alice'}}
    - {{type: webhook, address: 'http://127.0.0.1:{}/alice-phone', fallback: true}}",
            primary.port, fallback.port
        ),
        "",
    );
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    primary.nth(1).await;
    // Each retry falls due when the clock passes its backoff; the clock
    // moves until the receiver sees it (the worker may record an attempt
    // a moment after the receiver answered).
    let attempt = |n: usize| {
        let (primary, clock, state) = (&primary, clock.clone(), state.clone());
        async move {
            for _ in 0..50 {
                clock.advance(SignedDuration::from_secs(30));
                state.outbox_wake.notify_one();
                if primary
                    .nth_within(n, std::time::Duration::from_millis(200))
                    .await
                    .is_some()
                {
                    return;
                }
            }
            panic!("no attempt #{n}");
        }
    };
    attempt(2).await;
    assert_eq!(
        fallback.count(),
        0,
        "two failures are not yet a primary that keeps failing"
    );
    attempt(3).await;
    let (key, page) = fallback.nth(1).await;
    assert!(key.starts_with("nines-fallback-1-"), "{key}");
    assert!(
        page["why"]
            .as_str()
            .unwrap()
            .contains("kept failing (the receiver answered 503 Service Unavailable)"),
        "{page}"
    );
    // The primary is still retried; the fallback is not decided again.
    attempt(4).await;
    attempt(5).await;
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let used = timeline_of(&shown, "fallback_used");
    assert_eq!(used.len(), 1, "{shown}");
    assert_eq!(used[0]["details"]["failed"]["attempts"], 3);
    assert_eq!(fallback.count(), 1);

    // Five failures in a row opened the endpoint's circuit breaker: the
    // next incident's page is not even attempted there and goes to the
    // fallback at once.
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "JobFailing", "service": "batch", "severity": "critical"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    let (key, page) = fallback.nth(2).await;
    assert!(key.starts_with("nines-fallback-2-"), "{key}");
    assert!(
        page["why"].as_str().unwrap().contains("circuit breaker"),
        "{page}"
    );
    assert_eq!(primary.count(), 5, "not attempted behind the open breaker");
    assert!(
        metrics(&url)
            .await
            .contains("nines_page_fallbacks_total{channel=\"json\"} 2"),
    );
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_fallback_contacts_the_policys_fallback_person_is_paged() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (alice, dave) = (common::refusing("410 Gone"), receiver(0));
    let clock = Arc::new(ManualClock::new("2026-12-01T02:00:00Z".parse().unwrap()));
    let cfg = paging_config(
        &format!(
            "    - {{type: webhook, address: 'http://127.0.0.1:{}/alice'}}",
            alice.port
        ),
        "",
    )
    .replace(
        "spec:\n  rules:",
        "spec:\n  fallback: [{person: dave}]\n  rules:",
    );
    let cfg = format!(
        "{cfg}---
apiVersion: nines/v1
kind: Person
metadata: {{name: dave}}
spec:
  contacts: [{{type: webhook, address: 'http://127.0.0.1:{}/dave'}}]
",
        dave.port
    );
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    alice.nth(1).await;
    let (key, page) = dave.nth(1).await;
    assert!(key.starts_with("nines-fallback-1-"), "{key}");
    assert_eq!(page["alerts"][0]["labels"]["alertname"], "CheckoutDown");
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    let used = timeline_of(&shown, "fallback_used");
    assert_eq!(used.len(), 1, "{shown}");
    assert_eq!(
        used[0]["details"]["fallback"],
        "the escalation policy's fallback dave"
    );
    assert_eq!(used[0]["details"]["person"], "alice");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_due_step_is_paged_before_the_change_that_comes_with_it() {
    // The server's own dispatcher does not wait for its writes, and
    // escalation passes over a group whose write is under way: were the
    // change decided first, a group whose alerts change on every pass
    // would always have one, and its next step would wait for the alerts
    // to stop changing. The step due goes first.
    let OnCall {
        dir: _dir,
        alice,
        bob,
        clock,
        running,
        url,
        ..
    } = on_call().await;
    let state = running.state.clone();
    let alert = |instance: &str| {
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout", "instance": instance},
                "endsAt": "2026-12-01T12:00:00Z"}])
    };
    post_alerts(&url, alert("a")).await;
    state.dispatch().await.unwrap();
    alice.nth(1).await;

    // Step 2 is due when another alert joins: the server's dispatcher (not
    // the test) passes it. Held off meanwhile: a pass woken by the end of
    // alice's write must not come between the clock and the alert (it
    // would page step 2 before b, which is not the case this test makes).
    let held = state.incidents.lock().await;
    clock.advance(SignedDuration::from_mins(10));
    post_alerts(&url, alert("b")).await;
    drop(held);
    let page = nth_page(&bob, 1).await;
    assert!(
        page["why"]
            .as_str()
            .unwrap()
            .starts_with("escalation step 2 of 2"),
        "{page}"
    );
    // The page carries what fires now, b included.
    assert_eq!(page["alerts"].as_array().unwrap().len(), 2, "{page}");
    let shown = common::until_progress(&[&state], "b joined", || async {
        let shown = get(&format!("{url}/api/v1/incidents/1")).await;
        (kinds(&shown)
            .iter()
            .filter(|k| *k == "alerts_joined")
            .count()
            == 2)
            .then_some(shown)
    })
    .await;
    let k = kinds(&shown);
    let paged_bob = k.iter().rposition(|k| k == "paged").unwrap();
    let b_joined = k.iter().rposition(|k| k == "alerts_joined").unwrap();
    assert!(paged_bob < b_joined, "{k:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_due_while_nines_was_down_is_not_paged_for_alerts_that_ended_meanwhile() {
    let OnCall {
        dir,
        alice,
        bob,
        clock,
        cfg,
        running,
        url,
    } = on_call().await;
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout"},
                "endsAt": "2026-12-01T02:05:00Z"}]),
    )
    .await;
    running.state.dispatch().await.unwrap();
    alice.nth(1).await;
    running.shutdown().await.unwrap();

    // nines is down while the alert ends (02:05) and step 2 comes due
    // (02:10): once back, the incident resolves, and nobody is paged.
    clock.advance(SignedDuration::from_mins(15));
    let running = common::start_with_config(dir.path(), &cfg, None, clock.clone()).await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    state.dispatch().await.unwrap();
    let shown = get(&format!("{url}/api/v1/incidents/1")).await;
    assert_eq!(shown["state"], "resolved", "{shown}");
    let k = kinds(&shown);
    assert_eq!(k.iter().filter(|k| *k == "paged").count(), 1, "{k:?}");
    assert_eq!(bob.count(), 0);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_added_by_a_reload_pages_for_an_incident_already_open() {
    let OnCall {
        dir,
        alice,
        clock: _clock,
        cfg,
        running,
        url,
        ..
    } = on_call().await;
    let state = running.state.clone();
    // Without its team's escalation policy, checkout's incident pages
    // nobody.
    let without = cfg.replace("  escalationPolicy: payments\n", "");
    assert_ne!(without, cfg);
    std::fs::write(dir.path().join("config/services.yaml"), &without).unwrap();
    state.reload().await.unwrap();
    post_alerts(
        &url,
        json!([{"labels": {"alertname": "CheckoutDown", "service": "checkout"},
                "endsAt": "2026-12-01T12:00:00Z"}]),
    )
    .await;
    state.dispatch().await.unwrap();
    assert_eq!(open_count(&url).await, 1);
    assert_eq!(alice.count(), 0);

    // The policy comes back with a reload: the open incident escalates,
    // with no change to its alerts.
    std::fs::write(dir.path().join("config/services.yaml"), &cfg).unwrap();
    state.reload().await.unwrap();
    state.dispatch().await.unwrap();
    let page = nth_page(&alice, 1).await;
    assert!(
        page["why"]
            .as_str()
            .unwrap()
            .starts_with("escalation step 1 of 2"),
        "{page}"
    );
    running.shutdown().await.unwrap();
}

async fn open_count(url: &str) -> usize {
    get(&format!("{url}/api/v1/incidents?state=open")).await["incidents"]
        .as_array()
        .map_or(0, Vec::len)
}
