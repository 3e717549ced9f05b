//! Who to wake: when a database and the services above it alert together,
//! only the database's owner is paged; the database's incident says who was
//! held back and why; once the database recovers, a dependent that still
//! fails pages its own owner. Time runs on an injected clock.

mod common;

use std::sync::Arc;

use common::{get, post_alerts, receiver};
use jiff::{SignedDuration, Timestamp};
use nines::clock::{Clock as _, ManualClock};
use serde_json::{Value, json};

/// Each team has an Alertmanager-format webhook; payments also has a
/// generic JSON one (`payments_json`), which takes low-urgency notices.
fn config(platform: u16, payments: u16, web: u16, payments_json: u16) -> String {
    let team = |name: &str, port: u16| {
        let json = if name == "payments" {
            format!("    - webhook: http://127.0.0.1:{payments_json}/json\n      format: json\n")
        } else {
            String::new()
        };
        format!(
            "---
apiVersion: nines/v1
kind: Team
metadata: {{name: {name}}}
spec:
  notify:
    - webhook: http://127.0.0.1:{port}/{name}
{json}"
        )
    };
    let service = |name: &str, owner: &str, deps: &[&str]| {
        let deps: String = deps
            .iter()
            .map(|d| format!("\n    - service: {d}"))
            .collect();
        let deps = if deps.is_empty() {
            String::new()
        } else {
            format!("\n  dependencies:{deps}")
        };
        format!(
            "---
apiVersion: nines/v1
kind: Service
metadata: {{name: {name}}}
spec:
  owner: {owner}{deps}
"
        )
    };
    [
        team("platform", platform),
        team("payments", payments),
        team("web", web),
        service("db-primary", "platform", &[]),
        service("payments-api", "payments", &["db-primary"]),
        service("checkout", "payments", &["payments-api", "db-primary"]),
        service("search", "web", &["db-primary"]),
    ]
    .concat()
}

fn alert(service: &str, alertname: &str) -> Value {
    json!({"labels": {"alertname": alertname, "service": service, "severity": "critical"}})
}

async fn open_incidents(url: &str) -> Vec<Value> {
    get(&format!("{url}/api/v1/incidents?state=open")).await["incidents"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The alerts of `service` as `GET /api/v2/alerts` shows them.
async fn am_alerts(url: &str, service: &str) -> Vec<Value> {
    get(&format!("{url}/api/v2/alerts"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["service"] == service)
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_root_causes_owner_is_paged_and_the_incident_says_who_was_held_back() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (platform, payments, web, json) = (receiver(0), receiver(0), receiver(0), receiver(0));
    let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = common::start_with_config(
        dir.path(),
        &config(platform.port, payments.port, web.port, json.port),
        None,
        clock.clone(),
    )
    .await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    let secs = |s: i64| SignedDuration::from_secs(s);

    // Checkout alerts first: it has dependencies, so it waits its
    // correlation window (1m by default) before it opens an incident.
    post_alerts(&url, json!([alert("checkout", "CheckoutErrors")])).await;
    state.dispatch().await.unwrap();
    assert!(open_incidents(&url).await.is_empty());

    // 20 s later the database and the two other services above it alert.
    clock.advance(secs(20));
    post_alerts(
        &url,
        json!([
            alert("db-primary", "PostgresDown"),
            alert("payments-api", "PaymentsErrors"),
            alert("search", "SearchErrors"),
        ]),
    )
    .await;
    state.dispatch().await.unwrap();
    let (_, page) = platform.nth(1).await;
    assert_eq!(page["status"], "firing");
    assert_eq!(page["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(page["alerts"][0]["labels"]["service"], "db-primary");
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "only the database has an incident: {open:?}");
    let db = &open[0];
    assert_eq!(db["service"], "db-primary");

    // Who was not paged, and why.
    let held = db["held_back"].as_array().unwrap();
    let by_service = |s: &str| {
        held.iter()
            .find(|h| h["service"] == s)
            .unwrap_or_else(|| panic!("{s} is not listed as held back: {held:?}"))
            .clone()
    };
    assert_eq!(held.len(), 3, "{held:?}");
    let checkout = by_service("checkout");
    assert_eq!(checkout["owner"], "payments");
    assert_eq!(checkout["alerts"], 1);
    assert_eq!(
        checkout["reason"],
        "depends on db-primary, which is failing"
    );
    assert_eq!(by_service("search")["owner"], "web");
    assert_eq!(
        by_service("payments-api")["reason"],
        "depends on db-primary, which is failing"
    );
    let id = db["id"].as_i64().unwrap();

    // The payments team is told, at low urgency and on the channel that
    // takes notices (its JSON webhook), that checkout and payments-api are
    // impacted; its Alertmanager webhook gets nothing (Alertmanager sends
    // nothing for an inhibited alert either).
    let mut notices: Vec<Value> = vec![json.nth(1).await.1, json.nth(2).await.1];
    notices.sort_by_key(|n| n["service"].as_str().unwrap().to_owned());
    assert_eq!(notices[0]["kind"], "notice", "{notices:?}");
    assert_eq!(notices[0]["service"], "checkout");
    assert_eq!(notices[1]["service"], "payments-api");
    let text = notices[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("checkout is impacted by db-primary, whose owner (team platform) is paged: 1 of its alerts is held back and nobody is paged for it"),
        "{text}"
    );
    assert_eq!(notices[0]["incident"], id);
    assert_eq!(payments.count(), 0, "a notice pages nobody");
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    let entry = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "held_back")
        .unwrap_or_else(|| panic!("no held_back entry: {shown}"))
        .clone();
    assert_eq!(entry["details"]["count"], 3);
    let text = entry["details"]["text"].as_str().unwrap();
    assert!(
        text.starts_with("not paged: checkout (team payments, 1 alert): depends on db-primary"),
        "{text}"
    );
    assert!(text.contains("search (team web, 1 alert)"), "{text}");

    // In the Alertmanager view the dependents are suppressed, inhibited by
    // the database's alert.
    let db_fp = am_alerts(&url, "db-primary").await[0]["fingerprint"].clone();
    for s in ["checkout", "payments-api", "search"] {
        let a = &am_alerts(&url, s).await[0];
        assert_eq!(a["status"]["state"], "suppressed", "{s}: {a}");
        assert_eq!(a["status"]["inhibitedBy"], json!([db_fp]), "{s}: {a}");
    }

    // Past the correlation window the dependents are still held back: no
    // incident opens for them.
    clock.advance(secs(60));
    state.dispatch().await.unwrap();
    assert_eq!(open_incidents(&url).await.len(), 1);

    // Across a restart nothing changes: the dependents are still held back
    // (recomputed from the stored alerts), and the root incident does not
    // record them a second time.
    running.shutdown().await.unwrap();
    let running = common::start_with_config(
        dir.path(),
        &config(platform.port, payments.port, web.port, json.port),
        None,
        clock.clone(),
    )
    .await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();
    state.dispatch().await.unwrap();
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["held_back"].as_array().unwrap().len(), 3);
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    let recorded = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "held_back")
        .count();
    assert_eq!(recorded, 1, "{shown}");
    assert_eq!(
        am_alerts(&url, "search").await[0]["status"]["state"],
        "suppressed"
    );

    // The database recovers, and with it payments-api and search; checkout
    // keeps failing on its own.
    clock.advance(secs(40));
    let now = clock.now().to_string();
    let mut resolved = Vec::new();
    for (s, name) in [
        ("db-primary", "PostgresDown"),
        ("payments-api", "PaymentsErrors"),
        ("search", "SearchErrors"),
    ] {
        let mut a = alert(s, name);
        a["endsAt"] = json!(now);
        resolved.push(a);
    }
    post_alerts(&url, Value::Array(resolved)).await;
    state.dispatch().await.unwrap();
    assert!(
        open_incidents(&url).await.is_empty(),
        "the database's incident resolved"
    );
    // A recovered cause still counts for one correlation window: checkout
    // is not paged in the moment it may take to recover too.
    clock.advance(secs(30));
    state.dispatch().await.unwrap();
    assert!(open_incidents(&url).await.is_empty());
    assert_eq!(
        am_alerts(&url, "checkout").await[0]["status"]["state"],
        "suppressed"
    );

    // A window after the recovery checkout is looked at again: still
    // firing, it is its own problem, and after its own correlation window
    // it pages its owner.
    clock.advance(secs(31));
    state.dispatch().await.unwrap();
    assert_eq!(
        am_alerts(&url, "checkout").await[0]["status"]["state"],
        "active"
    );
    clock.advance(secs(60));
    state.dispatch().await.unwrap();
    let (_, own) = payments.nth(1).await;
    assert_eq!(own["alerts"][0]["labels"]["service"], "checkout");
    let (_, own_json) = json.nth(3).await;
    assert_eq!(own_json["kind"], "incident", "{own_json}");
    assert_eq!(
        json.count(),
        3,
        "one notice per impacted service, not one per pass"
    );
    assert_eq!(
        payments.count(),
        1,
        "the payments team's first page is checkout's own, after the database recovered"
    );
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["service"], "checkout");
    assert_eq!(
        web.count(),
        0,
        "search recovered with the database: web was never paged"
    );
    let (_, end) = platform.nth(2).await;
    assert_eq!(
        end["status"], "resolved",
        "the database's resolution: {end}"
    );

    // The database's timeline says the dependents were released.
    let shown = get(&format!("{url}/api/v1/incidents/{id}")).await;
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"released"), "{kinds:?}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_that_failed_more_than_a_window_before_its_dependency_has_its_own_problem() {
    nines::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (platform, payments, web, json) = (receiver(0), receiver(0), receiver(0), receiver(0));
    let t0: Timestamp = "2026-12-01T10:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(t0));
    let running = common::start_with_config(
        dir.path(),
        &config(platform.port, payments.port, web.port, json.port),
        None,
        clock.clone(),
    )
    .await;
    let url = format!("http://{}", running.addr);
    let state = running.state.clone();

    // search fails on its own and, nothing below it failing within its
    // window, pages its owner.
    post_alerts(&url, json!([alert("search", "SearchErrors")])).await;
    state.dispatch().await.unwrap();
    clock.advance(SignedDuration::from_secs(60));
    state.dispatch().await.unwrap();
    let (_, page) = web.nth(1).await;
    assert_eq!(page["alerts"][0]["labels"]["service"], "search");

    // The database fails 110 s after search did: too late to be its cause.
    clock.advance(SignedDuration::from_secs(50));
    post_alerts(&url, json!([alert("db-primary", "PostgresDown")])).await;
    state.dispatch().await.unwrap();
    platform.nth(1).await;
    let open = open_incidents(&url).await;
    assert_eq!(open.len(), 2, "{open:?}");
    let db = open.iter().find(|i| i["service"] == "db-primary").unwrap();
    assert_eq!(db["held_back"], json!([]), "{db}");
    let search = &am_alerts(&url, "search").await[0];
    assert_eq!(search["status"]["state"], "active", "{search}");
    assert_eq!(search["status"]["inhibitedBy"], json!([]));

    // Another alert of search that starts now is held back by the database.
    post_alerts(&url, json!([alert("search", "SearchSlow")])).await;
    state.dispatch().await.unwrap();
    let slow = am_alerts(&url, "search")
        .await
        .into_iter()
        .find(|a| a["labels"]["alertname"] == "SearchSlow")
        .unwrap();
    assert_eq!(slow["status"]["state"], "suppressed", "{slow}");
    let db = get(&format!("{url}/api/v1/incidents/{}", db["id"])).await;
    assert_eq!(db["held_back"][0]["service"], "search", "{db}");
    assert_eq!(web.count(), 1, "only search's own first page");
    running.shutdown().await.unwrap();
}
