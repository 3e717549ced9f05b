//! `nines simulate` through the real binary: the SRE Workbook's figures,
//! and the shipped example scenario.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn simulate(config: &Path, scenario: &Path) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["simulate", "--json", "--config"])
        .arg(config)
        .arg("--scenario")
        .arg(scenario)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const SLO: &str = "apiVersion: openslo/v1
kind: SLO
metadata: {name: api}
spec:
  service: api
  indicator:
    metadata: {name: requests}
    spec:
      ratioMetric:
        good: {metricSource: {type: push, spec: {}}}
        total: {metricSource: {type: push, spec: {}}}
  timeWindow: [{duration: 30d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.999}]
";

fn workbook(errors: &str, until: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slo.yaml"), SLO).unwrap();
    let scenario = dir.path().join("scenario.yml");
    std::fs::write(
        &scenario,
        format!(
            "duration: {until}\nslis:\n  requests:\n    - {{from: -1d, to: 0, rate: 100, errorRatio: 0}}\n{errors}"
        ),
    )
    .unwrap();
    simulate(&dir.path().join("slo.yaml"), &scenario)
}

fn first(events: &[Value], rule: &str, state: &str) -> f64 {
    events
        .iter()
        .find(|e| e["rule"] == rule && e["state"] == state)
        .unwrap_or_else(|| panic!("no {state} {rule} in {events:?}"))["at_s"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_full_outage_pages_within_one_step_of_the_workbook_time() {
    let events = workbook("    - {from: 0, to: 1h, rate: 100, errorRatio: 1}\n", "2h");
    let page = first(&events, "page-1h", "firing");
    assert!((51.84..51.84 + 60.0).contains(&page), "{page}");
    let e = events.iter().find(|e| e["state"] == "firing").unwrap();
    assert_eq!(e["severity"], "page");
    assert_eq!(e["slo"], "api");
    assert_eq!(e["long_window_s"], 3600);
    assert_eq!(e["short_window_s"], 300);
    assert!(e["long_burn_rate"].as_f64().unwrap() >= 14.4);
    // At a burn rate of 1000 the whole 30-day budget lasts 43.2 minutes.
    let tte = e["time_to_exhaustion_s"].as_f64().unwrap();
    assert!(
        tte < 43.2 * 60.0 * 1000.0 / e["long_burn_rate"].as_f64().unwrap() + 1.0,
        "{tte}"
    );
}

#[test]
fn fifteen_percent_errors_page_after_5_76_minutes_and_resolve() {
    let events = workbook(
        "    - {from: 0, to: 10m, rate: 100, errorRatio: 0.15}\n    - {from: 10m, to: 3h, rate: 100, errorRatio: 0}\n",
        "3h",
    );
    let fired = first(&events, "page-1h", "firing");
    assert!((345.6..345.6 + 60.0).contains(&fired), "{fired}");
    let resolved = first(&events, "page-1h", "resolved");
    assert!(resolved > fired && resolved <= 16.0 * 60.0, "{resolved}");
}

#[test]
fn the_example_scenario_pages_for_the_bad_deploy_and_opens_a_ticket_for_the_leak() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let events = simulate(
        &root.join("examples/shop"),
        &root.join("examples/scenarios/bad-deploy.yaml"),
    );
    let alerts: Vec<&Value> = events.iter().filter(|e| e["type"] == "alert").collect();
    for a in &alerts {
        for key in ["at_s", "slo", "severity", "state"] {
            assert!(!a[key].is_null(), "{key} missing in {a}");
        }
    }
    let deploy = alerts
        .iter()
        .find(|a| a["slo"] == "checkout-availability" && a["state"] == "firing")
        .unwrap();
    assert!(
        (3 * 86_400 + 7200..3 * 86_400 + 7200 + 40 * 60)
            .contains(&deploy["at_s"].as_i64().unwrap())
    );
    assert!(
        alerts
            .iter()
            .any(|a| a["slo"] == "payments-api-availability"
                && a["severity"] == "ticket"
                && a["state"] == "firing")
    );
    assert!(
        !alerts
            .iter()
            .any(|a| a["slo"] == "payments-api-availability" && a["severity"] == "page")
    );
    let summary = events
        .iter()
        .find(|e| e["type"] == "summary" && e["slo"] == "checkout-availability")
        .unwrap();
    // The migration is in a maintenance window: the SLI without it is better.
    assert!(summary["sli_without_maintenance"].as_f64() > summary["sli"].as_f64());
}

#[test]
fn an_unknown_sli_in_the_scenario_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("slo.yaml"), SLO).unwrap();
    let scenario = dir.path().join("s.yml");
    std::fs::write(
        &scenario,
        "duration: 1h\nslis:\n  nope:\n    - {from: 0, to: 1h, rate: 1, errorRatio: 0}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["simulate", "--config"])
        .arg(dir.path().join("slo.yaml"))
        .arg("--scenario")
        .arg(&scenario)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`nope`") && err.contains("requests"), "{err}");
}
