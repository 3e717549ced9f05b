//! `nines check` semantics: what is accepted, and the exact diagnostics for
//! what is not (snapshots under `snapshots/`).

use std::fs;
use std::path::Path;

use nines_config::{LoadError, load, load_str};
use nines_core::model::{
    BudgetingMethod, Channel, Dependency, Numerator, SliMetric, TimeWindow, WebhookFormat,
};

fn errors(name: &str, text: &str) -> String {
    match load_str(name, text) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e.render(),
    }
}

#[test]
fn the_shipped_example_is_valid_and_complete() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop");
    let loaded = load(&root).unwrap_or_else(|e| panic!("{}", e.render()));
    let c = &loaded.catalog;
    assert_eq!(loaded.files.len(), 4);
    assert_eq!(c.schedules["payments-primary"].zone_name, "Europe/Paris");
    assert_eq!(c.people["dave"].teams, vec!["platform"]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(c.slos.len(), 3);
    assert_eq!(c.teams["payments"].members.len(), 2);
    let checkout = &c.services["checkout"];
    assert_eq!(checkout.owner.as_deref(), Some("payments"));
    assert_eq!(
        checkout.meta.description.as_deref(),
        Some("The page where customers pay.")
    );
    assert!(
        matches!(&checkout.dependencies[2], Dependency::Group { members, .. } if members.len() == 2)
    );
    let slo = &c.slos["checkout-availability"];
    assert_eq!(
        slo.alert_policies[0].conditions[0].burn_rate.threshold,
        14.4
    );
    assert_eq!(
        slo.alert_policies[0].notification_targets[0].target,
        "email"
    );
    assert!(matches!(
        &slo.indicator.as_ref().unwrap().metric,
        SliMetric::Ratio {
            numerator: Numerator::Good(_),
            counter: true,
            ..
        }
    ));
    let latency = &c.slos["checkout-latency"];
    assert_eq!(latency.budgeting_method, BudgetingMethod::Timeslices);
    assert!(
        matches!(&latency.time_window, TimeWindow::Calendar { time_zone, .. } if time_zone == "Europe/Paris")
    );
    assert_eq!(
        c.slos["payments-api-availability"].objectives[0]
            .target
            .budget(),
        0.0005
    );
}

/// Shaped like the OpenSLO specification's own examples, oddities included:
/// an `alertPolicies:` with no value, a metric `spec:` holding only a
/// comment, `op` on a ratio objective, a calendar window of `1m`, a
/// three-space list indent, names in CamelCase, and an SLO with neither
/// budgetingMethod nor timeWindow.
#[test]
fn accepts_documents_shaped_like_the_openslo_examples() {
    let text = r#"
# latency, threshold metric with an empty spec
apiVersion: openslo/v1
kind: SLO
metadata:
  name: search-slo
  displayName: Searching time
spec:
  description: Searches stay under half a second.
  service: web-shop
  indicator:
    metadata:
      name: search-latency
    spec:
      thresholdMetric:
        metricSource:
          type: Any
          spec:
            # nothing here
  timeWindow:
   - duration: 2w
     isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good experience
      op: lt
      value: 500
      target: 0.99
  alertPolicies:
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: uptime
spec:
  service: web-availability
  indicator:
    metadata:
      name: uptime-ratio
    spec:
      ratioMetric:
        good:
          metricSource:
            type: Any
            spec:
              query: Any
        total:
          metricSource:
            type: Any
            spec:
              query: Any
  timeWindow:
    - duration: 1m
      isRolling: false
      calendar:
        startTime: 2022-01-01 12:00:00
        timeZone: America/New_York
  budgetingMethod: Timeslices
  objectives:
    - displayName: Internal
      op: gt
      target: 0.995
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
    - displayName: SLA
      target: 0.99
      timeSliceTarget: 0.99
      timeSliceWindow: 1m
  alertPolicies:
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: FooSlo
spec:
  service: foo
  indicator:
    metadata:
      name: foo-error
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            metricSourceRef: DatadogSource
            type: Datadog
            spec:
              query: sum:trace.http.request.hits.by_http_status{http.status_code:200}.as_count()
        total:
          metricSource:
            metricSourceRef: DatadogSource
            type: Datadog
            spec:
              query: sum:trace.http.request.hits.by_http_status{*}.as_count()
  objectives:
    - displayName: Foo Total Errors
      target: 0.98
---
apiVersion: openslo/v1
kind: DataSource
metadata:
  name: DatadogSource
spec:
  type: Datadog
  connectionDetails:
    apiKey: not-a-real-key
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: CpuPolicy
spec:
  alertWhenBreaching: true
  alertWhenResolved: false
  conditions:
    - kind: AlertCondition
      metadata:
        name: cpu-usage-breach
      spec:
        severity: page
        condition:
          kind: burnrate
          op: lte
          threshold: 2
          lookbackWindow: 1h
          alertAfter: 5m
  notificationTargets:
    - targetRef: OnCallMail
---
apiVersion: openslo/v1
kind: AlertNotificationTarget
metadata:
  name: OnCallMail
spec:
  description: "Mail to the on-call group"
  target: email
---
apiVersion: openslo/v1
kind: AlertCondition
metadata:
  name: slow-burn
spec:
  severity: ticket
  condition:
    op: gte
    threshold: 1
    lookbackWindow: 3d
    alertAfter: 0m
---
apiVersion: openslo/v1
kind: Service
metadata:
  name: web-shop
spec:
"#;
    let loaded = load_str("openslo.yaml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let c = &loaded.catalog;
    assert_eq!(c.slos.len(), 3);
    assert_eq!(c.slos["uptime"].objectives.len(), 2);
    assert_eq!(
        c.slos["FooSlo"].budgeting_method,
        BudgetingMethod::Occurrences
    );
    assert!(
        c.services.contains_key("web-availability"),
        "SLOs may name undeclared services"
    );
    assert_eq!(c.alert_conditions["slow-burn"].burn_rate.alert_after, None);
    let warnings: Vec<_> = loaded.warnings.iter().map(|w| w.message.as_str()).collect();
    insta::assert_debug_snapshot!("openslo_examples_warnings", warnings);
}

#[test]
fn a_file_may_hold_a_list_of_objects_or_several_documents() {
    let list = "- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: openslo/v1\n  kind: Service\n  metadata: {name: b}\n";
    assert_eq!(
        load_str("list.yaml", list).unwrap().catalog.services.len(),
        2
    );
    let docs = "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: a}\n---\napiVersion: openslo/v1\nkind: Service\nmetadata: {name: b}\n---\n";
    assert_eq!(
        load_str("docs.yaml", docs).unwrap().catalog.services.len(),
        2
    );
}

const SLO_HEAD: &str =
    "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: api\nspec:\n  service: api\n";

#[test]
fn diagnoses_an_unknown_indicator_ref() {
    let text = format!(
        "{SLO_HEAD}  indicatorRef: api-requets\n  timeWindow: [{{duration: 28d, isRolling: true}}]\n  budgetingMethod: Occurrences\n  objectives: [{{target: 0.99}}]\n---\napiVersion: openslo/v1\nkind: SLI\nmetadata: {{name: api-requests}}\nspec:\n  ratioMetric:\n    good: {{metricSource: {{type: Prometheus, spec: {{query: up}}}}}}\n    total: {{metricSource: {{type: Prometheus, spec: {{query: up}}}}}}\n"
    );
    insta::assert_snapshot!("unknown_indicator_ref", errors("slo.yaml", &text));
}

#[test]
fn diagnoses_a_target_above_one() {
    let text = format!(
        "{SLO_HEAD}  indicatorRef: x\n  timeWindow: [{{duration: 28d, isRolling: true}}]\n  budgetingMethod: Occurrences\n  objectives:\n    - target: 1.2\n"
    );
    insta::assert_snapshot!("target_above_one", errors("slo.yaml", &text));
}

#[test]
fn diagnoses_a_time_window_with_two_entries() {
    let text = format!(
        "{SLO_HEAD}  indicatorRef: x\n  timeWindow:\n    - duration: 28d\n      isRolling: true\n    - duration: 7d\n      isRolling: true\n  budgetingMethod: Occurrences\n  objectives: [{{target: 0.99}}]\n"
    );
    insta::assert_snapshot!("two_time_windows", errors("slo.yaml", &text));
}

#[test]
fn diagnoses_a_dependency_cycle() {
    let svc = |name: &str, dep: &str| {
        format!(
            "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  availability: 99.9\n  dependencies:\n    - service: {dep}\n---\n"
        )
    };
    let text = format!("{}{}{}", svc("a", "b"), svc("b", "c"), svc("c", "a"));
    insta::assert_snapshot!("dependency_cycle", errors("graph.yaml", &text));
}

#[test]
fn diagnoses_duplicate_names_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let svc = "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: api\n";
    fs::write(dir.path().join("a.yaml"), svc).unwrap();
    fs::write(dir.path().join("b.yml"), format!("# again\n{svc}")).unwrap();
    let err = load(dir.path()).unwrap_err().render();
    let err = err.replace(&dir.path().display().to_string(), "[dir]");
    insta::assert_snapshot!("duplicate_name", err);
}

#[test]
fn diagnoses_syntax_type_kind_field_and_key_errors() {
    insta::assert_snapshot!(
        "syntax_error",
        errors("bad.yaml", "apiVersion: openslo/v1\nkind: [Service\n")
    );
    insta::assert_snapshot!(
        "wrong_type",
        errors(
            "bad.yaml",
            "apiVersion: openslo/v1\nkind: AlertPolicy\nmetadata: {name: p}\nspec:\n  alertWhenNoData: sometimes\n  conditions: [{conditionRef: c}]\n"
        )
    );
    insta::assert_snapshot!(
        "unknown_kind",
        errors(
            "bad.yaml",
            "apiVersion: openslo/v1\nkind: Slo\nmetadata: {name: p}\n"
        )
    );
    insta::assert_snapshot!(
        "unknown_field",
        errors(
            "bad.yaml",
            "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: p}\nspec:\n  descripton: typo\n"
        )
    );
    insta::assert_snapshot!(
        "duplicate_key",
        errors(
            "bad.yaml",
            "apiVersion: openslo/v1\nkind: Service\nmetadata:\n  name: p\n  name: q\n"
        )
    );
    insta::assert_snapshot!(
        "old_api_version",
        errors(
            "bad.yaml",
            "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: p}\n"
        )
    );
}

#[test]
fn reports_every_problem_not_just_the_first() {
    let text = "apiVersion: nines/v1\nkind: Team\nmetadata: {name: t}\nspec:\n  timeZone: Mars/Olympus\n  members:\n    - name: a\n      contacts: [{type: pager, address: x}]\n    - name: b\n      contacts: [{type: email, address: not-an-email}]\n";
    insta::assert_snapshot!("team_problems", errors("team.yaml", text));
}

#[test]
fn a_ten_megabyte_document_gets_a_diagnostic_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let mut text = String::from(
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: huge}\nspec:\n  description: \"",
    );
    text.push_str(&"x".repeat(10 * 1024 * 1024));
    text.push_str("\"\n");
    fs::write(&path, text).unwrap();
    let err = load(&path).unwrap_err().render();
    assert!(
        err.contains("huge.yaml:1:1: error: file is 10.5 MB; a config file may be at most 4 MiB"),
        "{err}"
    );
}

#[test]
fn unreadable_input_is_not_a_diagnostic() {
    let missing = load(Path::new("/definitely/not/here.yaml")).unwrap_err();
    assert!(matches!(missing, LoadError::Unreadable { .. }));
    let empty = tempfile::tempdir().unwrap();
    let err = load(empty.path()).unwrap_err();
    assert!(
        err.render().contains("holds no .yaml or .yml file"),
        "{}",
        err.render()
    );
}

#[test]
fn invalid_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    fs::write(
        &path,
        b"apiVersion: openslo/v1\nkind: Service\nmetadata: {name: caf\xe9}\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err().render();
    assert!(
        err.contains("latin1.yaml:3:1: error: the file is not valid UTF-8 text"),
        "{err}"
    );
}

#[test]
fn the_digest_changes_with_the_content_only() {
    let a = load_str(
        "a.yaml",
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: a}\n",
    )
    .unwrap();
    let again = load_str(
        "a.yaml",
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: a}\n",
    )
    .unwrap();
    let other = load_str(
        "a.yaml",
        "apiVersion: openslo/v1\nkind: Service\nmetadata: {name: b}\n",
    )
    .unwrap();
    assert_eq!(a.digest, again.digest);
    assert_ne!(a.digest, other.digest);
}

#[test]
fn a_service_and_a_team_say_how_incidents_group_and_where_they_go() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  owner: web
  incidents:
    groupBy: [alertname, region]
    groupWait: 0s
    groupInterval: 5m
    repeatInterval: 4h
    ackTimeout: 30m
    autoResolve: false
    groupWindow: 30m
  notify:
    - webhook: https://hooks.example.com/api
      maxAlerts: 20
---
apiVersion: nines/v1
kind: Team
metadata: {name: web}
spec:
  notify:
    - webhook: http://127.0.0.1:9099/hook
      sendResolved: false
";
    let loaded = load_str("x.yaml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let api = &loaded.catalog.services["api"];
    let p = &api.incidents;
    assert_eq!(p.group_by, ["alertname", "region"]);
    assert_eq!(p.group_wait, Some(jiff::SignedDuration::ZERO));
    assert_eq!(p.group_interval, Some(jiff::SignedDuration::from_mins(5)));
    assert_eq!(p.repeat_interval, Some(jiff::SignedDuration::from_hours(4)));
    assert_eq!(p.ack_timeout, Some(jiff::SignedDuration::from_mins(30)));
    assert!(!p.auto_resolve);
    assert_eq!(p.group_window, Some(jiff::SignedDuration::from_mins(30)));
    assert_eq!(
        api.notify[0].channel,
        Channel::Webhook {
            url: "https://hooks.example.com/api".to_owned(),
            format: WebhookFormat::Alertmanager
        }
    );
    assert!(api.notify[0].send_resolved, "sendResolved defaults to true");
    assert_eq!(api.notify[0].max_alerts, 20);
    let web = &loaded.catalog.teams["web"];
    assert!(!web.notify[0].send_resolved);
    // Unset, a service's incidents resolve by themselves.
    let plain = load_str(
        "y.yaml",
        "apiVersion: nines/v1\nkind: Service\nmetadata: {name: b}\nspec: {}\n",
    )
    .unwrap();
    assert!(plain.catalog.services["b"].incidents.auto_resolve);
    // Unset, an open incident takes every new alert of its group.
    assert_eq!(plain.catalog.services["b"].incidents.group_window, None);
}

#[test]
fn diagnoses_bad_incident_settings_and_webhooks() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  incidents:
    groupBy: [alert-name]
    groupInterval: 1M
    ackTimeout: 0m
    autoResolve: sometimes
    groupWindow: 0m
  notify:
    - webhook: ftp://example.com/x
    - webhook: https://hooks.example.com/x
      maxAlerts: -1
    - url: https://hooks.example.com/y
";
    insta::assert_snapshot!("incident_settings_problems", errors("svc.yaml", text));
}

#[test]
fn a_group_window_is_a_positive_fixed_length() {
    let text = |window: &str| {
        format!(
            "apiVersion: nines/v1\nkind: Service\nmetadata: {{name: api}}\nspec:\n  incidents:\n    groupWindow: {window}\n"
        )
    };
    for (window, says) in [
        (
            "-30m",
            "svc.yaml:6:18: error: Service spec.incidents.groupWindow",
        ),
        (
            "0s",
            "svc.yaml:6:18: error: Service spec.incidents.groupWindow: `0s`: a duration must be longer than zero",
        ),
        (
            "1M",
            "svc.yaml:6:18: error: Service spec.incidents.groupWindow must have a fixed length, found `1M`",
        ),
    ] {
        let err = errors("svc.yaml", &text(window));
        assert!(err.contains(says), "{window}: {err}");
    }
}

#[test]
fn a_routing_key_names_one_integration() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  integrations: [{name: prometheus, routingKey: k0123}]
---
apiVersion: nines/v1
kind: Service
metadata: {name: web}
spec:
  integrations: [{name: grafana, routingKey: k0123}]
";
    let err = errors("svc.yaml", text);
    assert!(
        err.contains(
            "integration `grafana` of service `web` uses the routing key of integration `prometheus` of service `api`"
        ),
        "{err}"
    );
}

#[test]
fn heartbeats_expect_a_ping_every_period() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: backups}
spec:
  heartbeats:
    - {name: nightly, every: 1d, grace: 2h}
    - {name: queue, every: 5m, severity: warning}
    - {name: probe, every: 30s}
";
    let loaded = load_str("x.yaml", text).unwrap_or_else(|e| panic!("{}", e.render()));
    let h = &loaded.catalog.services["backups"].heartbeats;
    assert_eq!(h[0].every, jiff::SignedDuration::from_hours(24));
    assert_eq!(h[0].grace, jiff::SignedDuration::from_hours(2));
    assert_eq!(h[0].severity, "critical");
    assert_eq!(
        h[1].grace,
        jiff::SignedDuration::from_mins(5),
        "grace: the period, at most 5m"
    );
    assert_eq!(h[1].severity, "warning");
    assert_eq!(h[2].grace, jiff::SignedDuration::from_secs(30));
}

#[test]
fn diagnoses_bad_heartbeats() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: backups}
spec:
  heartbeats:
    - {name: nightly, every: 0s}
    - {name: weekly}
    - {name: monthly, every: 1M}
    - {name: loud, every: 1h, severity: sev1}
    - {name: twice, every: 1h}
    - {name: twice, every: 2h}
";
    insta::assert_snapshot!("heartbeat_problems", errors("hb.yaml", text));
}

#[test]
fn notify_entries_name_a_channel_with_secrets_from_the_environment_or_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pd-key"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  notify:
    - webhook: https://hooks.example.com/api
      format: json
    - slack: https://hooks.slack.com/services/T0/B0/XYZ
      sendResolved: false
    - email: oncall@example.com
      maxAlerts: 5
    - pagerduty: {routingKey: {fromFile: pd-key}}
    - pagerduty:
        routingKey: {fromEnv: PATH}
        url: http://127.0.0.1:9/
",
    )
    .unwrap();
    let loaded = nines_config::load(dir.path()).unwrap_or_else(|e| panic!("{}", e.render()));
    let n = &loaded.catalog.services["api"].notify;
    assert_eq!(
        n[0].channel,
        Channel::Webhook {
            url: "https://hooks.example.com/api".to_owned(),
            format: WebhookFormat::Json
        }
    );
    assert!(matches!(&n[1].channel, Channel::Slack { url } if url.expose().ends_with("/XYZ")));
    assert!(!n[1].send_resolved);
    assert_eq!(
        n[2].channel,
        Channel::Email {
            to: "oncall@example.com".to_owned()
        }
    );
    assert_eq!(n[2].max_alerts, 5);
    let Channel::PagerDuty { routing_key, url } = &n[3].channel else {
        panic!("{:?}", n[3]);
    };
    assert_eq!(routing_key.expose(), "0123456789abcdef0123456789abcdef");
    assert_eq!(url, "https://events.pagerduty.com");
    let Channel::PagerDuty { routing_key, url } = &n[4].channel else {
        panic!("{:?}", n[4]);
    };
    assert_eq!(routing_key.expose(), std::env::var("PATH").unwrap());
    assert_eq!(url, "http://127.0.0.1:9");
    // Secrets never show when the configuration is printed.
    let shown = format!("{:?}", loaded.catalog.services["api"]);
    assert!(!shown.contains("0123456789abcdef"), "{shown}");
    assert!(!shown.contains("XYZ"), "{shown}");
    assert!(shown.contains("<secret>"), "{shown}");
}

#[test]
fn diagnoses_bad_channels() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  notify:
    - email: not-an-address
    - slack: hooks.slack.com/services/T0/B0/XYZ
    - pagerduty: {routingKey: {fromEnv: NINES_TEST_SURELY_UNSET_VARIABLE}}
    - pagerduty: {routingKey: {fromFile: no/such/file}}
    - pagerduty: {routingKey: {fromEnv: A, fromFile: b}}
    - pagerduty: {routingKey: k, url: events.pagerduty.com}
    - pagerduty: {url: https://events.pagerduty.com}
    - webhook: https://hooks.example.com/x
      format: xml
    - email: a@example.com
      format: json
    - webhook: https://hooks.example.com/x
      slack: https://hooks.slack.com/x
    - sendResolved: true
";
    insta::assert_snapshot!("channel_problems", errors("svc.yaml", text));
}

#[test]
fn notify_entries_take_templates_inline_or_from_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/page.html"),
        "<h1>{{ incident.title }}</h1>\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  notify:
    - email: oncall@example.com
      template:
        subject: '[{{ status|upper }}] {{ incident.title }}'
      templateFile: {html: templates/page.html}
    - slack: https://hooks.slack.com/services/T0/B0/XYZ
      template: {text: '{{ incident.service }} is {{ status }}'}
    - pagerduty: {routingKey: k}
      template: {summary: '{{ incident.title }}'}
---
apiVersion: nines/v1
kind: Team
metadata: {name: ops}
spec:
  notify:
    - email: ops@example.com
      template: {text: '{{ incident.title }}'}
",
    )
    .unwrap();
    let loaded = nines_config::load(dir.path()).unwrap_or_else(|e| panic!("{}", e.render()));
    let n = &loaded.catalog.services["api"].notify;
    assert_eq!(
        n[0].templates.subject.as_deref(),
        Some("[{{ status|upper }}] {{ incident.title }}")
    );
    assert_eq!(
        n[0].templates.html.as_deref(),
        Some("<h1>{{ incident.title }}</h1>\n")
    );
    assert_eq!(n[0].templates.text, None);
    assert_eq!(
        n[1].templates.text.as_deref(),
        Some("{{ incident.service }} is {{ status }}")
    );
    assert_eq!(
        n[2].templates.summary.as_deref(),
        Some("{{ incident.title }}")
    );
    let team = &loaded.catalog.teams["ops"].notify;
    assert_eq!(
        team[0].templates.text.as_deref(),
        Some("{{ incident.title }}")
    );
}

#[test]
fn diagnoses_bad_templates() {
    let text = "apiVersion: nines/v1
kind: Service
metadata: {name: api}
spec:
  notify:
    - email: oncall@example.com
      template:
        subject: '{{ incident.title '
        text: |
          {{ incident.title }}
          {% if why %}{{ why|shout }}{% endif %}
    - webhook: https://hooks.example.com/nines
      format: json
      template: {text: '{{ incident.title }}'}
    - webhook: https://hooks.example.com/am
      template: {text: '{{ incident.title }}'}
    - slack: https://hooks.slack.com/services/T0/B0/XYZ
      template: {subject: '{{ incident.title }}', blocks: '[]'}
    - pagerduty: {routingKey: k}
      template: {summary: '{{ incident.title }}', text: x}
    - email: a@example.com
      templateFile: {html: no/such/template.html}
    - email: b@example.com
      template: {text: a}
      templateFile: {text: no/such/template.txt}
    - email: c@example.com
      template: 'subject: {{ x }}'
    - email: d@example.com
      template: {subject: '{{ incidnet.title }}', text: '{{ incident.titel }}'}
";
    insta::assert_snapshot!("template_problems", errors("svc.yaml", text));
}
