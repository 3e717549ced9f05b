//! Reading alertmanager.yml files: the shipped example, the peer benchmark's
//! configuration, what refuses a file and what only warns.
//!
//! Routing expectations were recorded with Alertmanager 0.25's own tools
//! (`amtool config routes test`, and group keys from a real Alertmanager
//! 0.25 posting to a webhook); they are kept here as data, so these tests
//! need neither.

use std::path::Path;

use jiff::SignedDuration;
use nines_config::alertmanager::{
    AlertmanagerConfig, DEFAULT_PAGERDUTY_URL, load_alertmanager, load_alertmanager_str,
};
use nines_core::alerting::inhibit::inhibited_by;
use nines_core::alerting::labels::LabelSet;
use nines_core::alerting::matcher::{MatchOp, Matcher};
use nines_core::alerting::route::GroupBy;

fn example_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/alertmanager/alertmanager.yml")
}

fn example() -> AlertmanagerConfig {
    load_alertmanager(&example_path()).unwrap_or_else(|e| panic!("{}", e.render()))
}

/// `a=1 b=2` as a label set.
fn labels(s: &str) -> LabelSet {
    LabelSet::new(s.split_whitespace().map(|kv| {
        let (k, v) = kv.split_once('=').unwrap();
        (k.to_string(), v.to_string())
    }))
    .unwrap()
}

fn load(src: &str) -> AlertmanagerConfig {
    load_alertmanager_str(src, "am.yml").unwrap_or_else(|e| panic!("{}", e.render()))
}

/// The rendered errors of a file that must be refused.
fn refused(src: &str) -> String {
    match load_alertmanager_str(src, "am.yml") {
        Ok(_) => panic!("accepted:\n{src}"),
        Err(e) => e.render(),
    }
}

fn warnings(c: &AlertmanagerConfig) -> Vec<String> {
    c.warnings.iter().map(|d| d.headline()).collect()
}

const MINIMAL: &str = "route:\n  receiver: a\nreceivers:\n  - name: a\n";

#[test]
fn the_example_loads_without_errors_or_warnings() {
    let c = example();
    assert!(c.warnings.is_empty(), "{:?}", warnings(&c));
    assert_eq!(c.global.resolve_timeout, SignedDuration::from_secs(300));
    assert_eq!(
        c.global.smtp_smarthost.as_deref(),
        Some("smtp.example.com:587")
    );
    let names: Vec<&str> = c.receivers.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ops-webhook",
            "audit-webhook",
            "dba-email",
            "dba-pager",
            "frontend-slack"
        ]
    );

    let ops = &c.receiver("ops-webhook").unwrap().webhook_configs[0];
    assert_eq!(ops.url, "http://ops-bridge.internal:8080/alerts");
    assert!(
        ops.send_resolved,
        "webhooks send resolved alerts by default"
    );
    assert_eq!(ops.max_alerts, 50);
    let audit = &c.receiver("audit-webhook").unwrap().webhook_configs[0];
    assert!(!audit.send_resolved);
    assert_eq!(audit.max_alerts, 0);

    // Email: the global SMTP settings fill what the config does not set.
    let email = &c.receiver("dba-email").unwrap().email_configs[0];
    assert_eq!(email.to, "dba-team@example.com");
    assert_eq!(email.from, "alertmanager@example.com");
    assert_eq!(email.smarthost, "smtp.example.com:587");
    assert_eq!(email.hello, "localhost");
    assert_eq!(email.auth_username.as_deref(), Some("alertmanager"));
    assert_eq!(email.auth_password, None);
    assert_eq!(
        email.auth_password_file.as_deref(),
        Some("/etc/alertmanager/smtp-password")
    );
    assert!(email.require_tls);
    assert!(email.send_resolved);
    assert_eq!(
        email.headers,
        [("Reply-To".to_string(), "dba-lead@example.com".to_string())]
    );

    let pd = &c.receiver("dba-pager").unwrap().pagerduty_configs[0];
    assert_eq!(
        pd.routing_key.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(pd.url, DEFAULT_PAGERDUTY_URL);
    assert_eq!(pd.severity.as_deref(), Some("critical"));
    assert!(pd.send_resolved);

    let slack = &c.receiver("frontend-slack").unwrap().slack_configs[0];
    assert_eq!(
        slack.api_url.as_deref(),
        Some("https://hooks.slack.com/services/T000/B000/XXXXXXXX")
    );
    assert_eq!(slack.channel.as_deref(), Some("#frontend-alerts"));
    assert_eq!(slack.username.as_deref(), Some("alertmanager"));
    assert_eq!(slack.title.as_deref(), Some("Frontend alert"));
    assert_eq!(slack.text, None);
    assert!(slack.send_resolved);

    assert_eq!(c.inhibit_rules.len(), 2);
    assert_eq!(c.inhibit_rules[0].equal, ["alertname", "cluster"]);
    assert_eq!(
        c.inhibit_rules[1].source_matchers,
        [Matcher::new("alertname", MatchOp::Equal, "ClusterDown").unwrap()]
    );
    assert_eq!(c.time_intervals.len(), 1);
    assert!(c.templates.is_empty());

    // Debug output (logs) shows no secret.
    let printed = format!("{c:?}");
    for secret in [
        "0123456789abcdef0123456789abcdef",
        "XXXXXXXX",
        "ops-bridge.internal",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    assert!(printed.contains("<secret>"));
}

#[test]
fn the_example_routes_as_amtool_does() {
    let c = example();
    let tree = &c.route_tree;
    // `amtool config routes test --config.file=examples/alertmanager/alertmanager.yml LABELS`
    // with Alertmanager 0.25.0.
    let amtool: &[(&str, &[&str])] = &[
        ("alertname=X", &["audit-webhook"]),
        (
            "alertname=X service=postgres severity=critical",
            &["audit-webhook", "dba-pager"],
        ),
        (
            "alertname=X service=mysql severity=warning",
            &["audit-webhook", "dba-email"],
        ),
        ("alertname=X service=mysql", &["audit-webhook", "dba-email"]),
        (
            "alertname=X team=frontend env=prod",
            &["audit-webhook", "frontend-slack", "ops-webhook"],
        ),
        (
            "alertname=X team=frontend env=dev",
            &["audit-webhook", "ops-webhook"],
        ),
        ("team=frontend env=prod", &["frontend-slack", "ops-webhook"]),
        ("service=postgres", &["dba-email"]),
        ("team=frontend service=postgres", &["dba-email"]),
        (
            "alertname=X team=frontend env=staging service=mysql severity=critical",
            &["audit-webhook", "dba-pager"],
        ),
    ];
    for (input, want) in amtool {
        let got: Vec<&str> = tree
            .route(&labels(input))
            .iter()
            .map(|r| r.options.receiver.as_str())
            .collect();
        assert_eq!(got, *want, "{input}");
    }

    // Options resolved from the parents.
    let pager = tree.get(&[1, 0]).unwrap();
    assert_eq!(pager.options.receiver, "dba-pager");
    assert_eq!(pager.options.group_wait, SignedDuration::from_secs(10));
    assert_eq!(pager.options.group_interval, SignedDuration::from_secs(300));
    assert_eq!(
        pager.options.repeat_interval,
        SignedDuration::from_secs(3600)
    );
    assert_eq!(
        pager.options.group_by,
        GroupBy::Labels(vec![
            "alertname".into(),
            "cluster".into(),
            "instance".into()
        ])
    );
    let warning = tree.get(&[1, 1]).unwrap();
    assert_eq!(warning.options.receiver, "dba-email");
    assert_eq!(warning.options.mute_time_intervals, ["nights-and-weekends"]);
    assert_eq!(
        warning.options.repeat_interval,
        SignedDuration::from_secs(4 * 3600)
    );
    assert_eq!(tree.get(&[0]).unwrap().options.group_by, GroupBy::All);
    assert_eq!(
        tree.get(&[3]).unwrap().options.group_interval,
        SignedDuration::from_secs(600)
    );
}

#[test]
fn the_example_gives_alertmanagers_group_keys() {
    let c = example();
    // `groupKey` of the webhook payloads a real Alertmanager 0.25 sent for
    // these alerts, with this route tree.
    let recorded: &[(&str, &[&str])] = &[
        (
            "alertname=BenchAlert service=postgres severity=critical cluster=c1 instance=db1",
            &[
                r#"{}/{alertname=~".+"}:{alertname="BenchAlert", cluster="c1", instance="db1", service="postgres", severity="critical"}"#,
                r#"{}/{service=~"postgres|mysql"}/{severity="critical"}:{alertname="BenchAlert", cluster="c1", instance="db1"}"#,
            ],
        ),
        (
            "alertname=X team=frontend env=prod cluster=c1 service=web",
            &[
                r#"{}/{alertname=~".+"}:{alertname="X", cluster="c1", env="prod", service="web", team="frontend"}"#,
                // `match_re` values appear anchored, as 0.25 stores them.
                r#"{}/{env=~"^(?:prod|staging)$",team="frontend"}:{alertname="X", cluster="c1", service="web"}"#,
                r#"{}/{team="frontend"}:{alertname="X", cluster="c1", service="web"}"#,
            ],
        ),
        (
            "alertname=Y team=frontend env=dev",
            &[
                r#"{}/{alertname=~".+"}:{alertname="Y", env="dev", team="frontend"}"#,
                r#"{}/{team="frontend"}:{alertname="Y"}"#,
            ],
        ),
    ];
    for (input, want) in recorded {
        let alert = labels(input);
        let got: Vec<String> = c
            .route_tree
            .route(&alert)
            .iter()
            .map(|r| r.group_key(&r.group_labels(&alert)))
            .collect();
        assert_eq!(got, *want, "{input}");
    }
    // Go quoting in the group labels.
    let odd = LabelSet::new([
        ("alertname".to_string(), "Q\"uote".to_string()),
        ("cluster".to_string(), "é\u{1}".to_string()),
    ])
    .unwrap();
    let routes = c.route_tree.route(&odd);
    assert_eq!(routes.len(), 1);
    assert_eq!(
        routes[0].group_key(&routes[0].group_labels(&odd)),
        r#"{}/{alertname=~".+"}:{alertname="Q\"uote", cluster="é\x01"}"#
    );
}

#[test]
fn the_example_time_interval_and_inhibition() {
    let c = example();
    let nights = c.time_interval("nights-and-weekends").unwrap();
    let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    // Wednesday 2024-05-01, Paris is UTC+2.
    assert!(nights.contains(at("2024-05-01T05:59:00Z"))); // 07:59
    assert!(!nights.contains(at("2024-05-01T06:00:00Z"))); // 08:00
    assert!(!nights.contains(at("2024-05-01T17:59:00Z"))); // 19:59
    assert!(nights.contains(at("2024-05-01T18:00:00Z"))); // 20:00
    assert!(nights.contains(at("2024-05-04T12:00:00Z"))); // Saturday

    let crit = labels("alertname=DiskFull cluster=c1 severity=critical");
    let warn = labels("alertname=DiskFull cluster=c1 severity=warning");
    let down = labels("alertname=ClusterDown cluster=c2");
    let other = labels("alertname=Latency cluster=c2 severity=warning");
    let firing: Vec<_> = [&crit, &warn, &down, &other]
        .into_iter()
        .map(|l| (l.fingerprint(), l))
        .collect();
    let rules = &c.inhibit_rules;
    assert_eq!(
        inhibited_by(rules, &warn, firing.iter().copied()),
        [crit.fingerprint()]
    );
    assert_eq!(
        inhibited_by(rules, &other, firing.iter().copied()),
        [down.fingerprint()]
    );
    // ClusterDown matches both sides of the second rule: it does not mute
    // itself.
    assert!(inhibited_by(rules, &down, firing.iter().copied()).is_empty());
    assert!(inhibited_by(rules, &crit, firing.iter().copied()).is_empty());
}

/// /work/shared/peers/am.yml, the configuration of the peer benchmark.
const BENCH_AM: &str = r#"# Alertmanager config used by the peer benchmark (peers/bench-am.sh).
# The webhook sink (peers/webhook_sink.py) listens on 127.0.0.1:9099 by default.
# If you change SINK_PORT, start-alertmanager.sh rewrites the port in a copy of
# this file (it substitutes the literal "127.0.0.1:9099").
global:
  resolve_timeout: 5m

route:
  receiver: bench-webhook
  group_by: ['alertname', 'service']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h

receivers:
  - name: bench-webhook
    webhook_configs:
      - url: http://127.0.0.1:9099/hook
        send_resolved: true
        # max_alerts: 0   # 0 = no limit (default); every notification carries the whole group

# Example inhibition: a firing severity=critical alert mutes severity=warning
# alerts that have the same alertname and service.
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: ['alertname', 'service']
"#;

fn check_bench(c: &AlertmanagerConfig) {
    assert!(c.warnings.is_empty(), "{:?}", warnings(c));
    assert_eq!(c.global.resolve_timeout, SignedDuration::from_secs(300));
    let root = c.route_tree.root();
    assert_eq!(root.options.receiver, "bench-webhook");
    assert_eq!(
        root.options.group_by,
        GroupBy::Labels(vec!["alertname".into(), "service".into()])
    );
    assert_eq!(root.options.group_wait, SignedDuration::ZERO);
    assert_eq!(root.options.group_interval, SignedDuration::from_secs(1));
    assert_eq!(
        root.options.repeat_interval,
        SignedDuration::from_secs(3600)
    );
    let hook = &c.receiver("bench-webhook").unwrap().webhook_configs;
    assert_eq!(hook.len(), 1);
    assert_eq!(hook[0].url, "http://127.0.0.1:9099/hook");
    assert!(hook[0].send_resolved);
    assert_eq!(hook[0].max_alerts, 0);

    let alert = labels("alertname=BenchAlert service=svc-00 id=42 severity=warning");
    let routes = c.route_tree.route(&alert);
    assert_eq!(routes.len(), 1);
    assert_eq!(
        routes[0].group_key(&routes[0].group_labels(&alert)),
        r#"{}:{alertname="BenchAlert", service="svc-00"}"#
    );

    assert_eq!(c.inhibit_rules.len(), 1);
    let rule = &c.inhibit_rules[0];
    assert_eq!(
        rule.source_matchers,
        [Matcher::new("severity", MatchOp::Equal, "critical").unwrap()]
    );
    assert_eq!(
        rule.target_matchers,
        [Matcher::new("severity", MatchOp::Equal, "warning").unwrap()]
    );
    assert_eq!(rule.equal, ["alertname", "service"]);
    let crit = labels("alertname=BenchAlert service=svc-00 severity=critical");
    let crit_elsewhere = labels("alertname=BenchAlert service=svc-01 severity=critical");
    assert!(rule.inhibits(&crit, &alert));
    assert!(!rule.inhibits(&crit_elsewhere, &alert));
}

#[test]
fn the_benchmark_configuration_comes_through() {
    check_bench(&load(BENCH_AM));
    // The shared file itself, where this machine has it.
    let shared = Path::new("/work/shared/peers/am.yml");
    if shared.exists() {
        check_bench(&load_alertmanager(shared).unwrap_or_else(|e| panic!("{}", e.render())));
    }
}

#[test]
fn errors_are_located_like_the_rest_of_the_project() {
    let cases: &[(&str, &str)] = &[
        (
            "route:\n  receiver: a\n  routes:\n    - receiver: b\nreceivers:\n  - name: a\n",
            "am.yml:4:7: error: undefined receiver \"b\" used in route",
        ),
        (
            "route:\n  receiver: a\n  routes:\n    - mute_time_intervals: [nope]\nreceivers:\n  - name: a\n",
            "am.yml:4:29: error: undefined time interval \"nope\" used in route",
        ),
        (
            "route:\n  receiver: a\n  routes:\n    - matchers: ['{foo']\nreceivers:\n  - name: a\n",
            "am.yml:4:18: error: a route `matchers`: bad matcher format: foo (at character 5): expected an operator",
        ),
        (
            "route:\n  receiver: a\n  routes:\n    - match_re: {service: '('}\nreceivers:\n  - name: a\n",
            "am.yml:4:18: error: a route `match_re` service: invalid regular expression \"(\"",
        ),
        (
            "route:\n  receiver: a\n  group_wait: 5x\nreceivers:\n  - name: a\n",
            "am.yml:3:15: error: the root route `group_wait`: not a valid duration string: \"5x\"",
        ),
        (
            "route:\n  group_by: [alertname]\nreceivers:\n  - name: a\n",
            "am.yml:2:3: error: root route must specify a default receiver",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n  - name: a\n",
            "am.yml:5:5: error: notification config name \"a\" is not unique",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: ftp://x/\n",
            "am.yml:6:14: error: receiver `a` webhook config `url`: unsupported scheme \"ftp\" for URL",
        ),
        (
            "route:\n  receiver: a\n  bogus: 1\nreceivers:\n  - name: a\n",
            "am.yml:3:3: error: unknown field `bogus` in the root route",
        ),
        (
            "route:\n  receiver: a\n  continue: true\nreceivers:\n  - name: a\n",
            "am.yml:3:3: error: cannot have continue in root route",
        ),
        (
            "route:\n  receiver: a\n  routes:\n    - group_interval: 0s\nreceivers:\n  - name: a\n",
            "am.yml:4:7: error: group_interval cannot be zero",
        ),
        (
            "route:\n  receiver: a\n  group_by: ['...', alertname]\nreceivers:\n  - name: a\n",
            "am.yml:3:3: error: cannot have wildcard group_by (`...`) and other other labels",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\ninhibit_rules:\n  - equal: ['a-b']\n",
            "am.yml:6:13: error: \"a-b\" is not a valid label name",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    email_configs:\n      - to: x@example.com\n",
            "am.yml:6:9: error: no global SMTP smarthost set",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    slack_configs:\n      - channel: '#x'\n",
            "am.yml:6:9: error: no global Slack API URL set either inline or in a file",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    pagerduty_configs:\n      - severity: x\n",
            "am.yml:6:9: error: missing service or routing key in PagerDuty config",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n  - name: t\n    time_intervals:\n      - weekdays: ['saturday:sunday']\n",
            "am.yml:8:20: error: a range of time interval `t` `weekdays`: start day cannot be before end day",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n  - name: t\n    time_intervals:\n      - location: Nowhere/City\n",
            "am.yml:8:19: error: unknown time zone Nowhere/City",
        ),
        (
            "route:\n  receiver: a\nreceivers:\n  - name: a\ntime_intervals:\n  - name: t\nmute_time_intervals:\n  - name: t\n",
            "am.yml:6:5: error: time interval \"t\" is not unique",
        ),
        (
            "# nothing\n",
            "am.yml:1:1: error: no route provided in config",
        ),
    ];
    let mut failures = Vec::new();
    for (src, want) in cases {
        let got = refused(src);
        if !got.starts_with(want) {
            failures.push(format!("want {want}\n got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let got = refused(
        "route:\n  receiver: nobody\n  group_wait: soon\nreceivers:\n  - name: a\n    webhook_configs:\n      - {}\n",
    );
    assert!(
        got.contains("am.yml:2:3: error: undefined receiver \"nobody\""),
        "{got}"
    );
    assert!(
        got.contains("am.yml:3:15: error: the root route `group_wait`"),
        "{got}"
    );
    assert!(
        got.contains("am.yml:7:9: error: missing URL in webhook config"),
        "{got}"
    );
}

#[test]
fn what_nines_does_not_carry_over_is_a_warning() {
    let c = load(
        r#"global:
  opsgenie_api_key: secret
  http_config:
    proxy_url: http://proxy:3128
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: team
receivers:
  - name: team
    opsgenie_configs:
      - api_key: x
    webhook_configs:
      - url: https://hooks.example.com/a
        http_config:
          basic_auth: {username: u, password: p}
    email_configs:
      - to: '{{ .GroupLabels.team }}@example.com'
        from: am@example.com
        smarthost: smtp:25
      - to: oncall@example.com
        from: am@example.com
        smarthost: smtp:25
        html: '{{ template "email.custom.html" . }}'
        headers:
          subject: '[{{ .Status }}] {{ .GroupLabels.alertname }}'
    slack_configs:
      - api_url: https://hooks.slack.com/services/x
        title: '{{ .CommonAnnotations.summary }}'
        color: danger
    pagerduty_configs:
      - routing_key: abc
        severity: '{{ .CommonLabels.severity }}'
        description: '{{ .CommonAnnotations.summary }}'
  - name: teams-only
    msteams_configs:
      - webhook_url: https://example.webhook.office.com/x
"#,
    );
    let w = warnings(&c);
    let expect = [
        "am.yml:2:3: warning: global `opsgenie_api_key` is not carried over: nines has no Opsgenie integration",
        "am.yml:3:3: warning: global `http_config` (authentication, proxy, TLS settings) is not carried over",
        "am.yml:5:1: warning: `templates` files are not carried over: nines does not read Go template files",
        "am.yml:10:5: warning: receiver `team`: `opsgenie_configs` (1 entry) is not carried over: nines has no Opsgenie integration; `team` notifies through its other integrations only",
        "am.yml:14:9: warning: receiver `team` webhook config `http_config` (authentication, proxy, TLS settings) is not carried over: nines posts to this URL without them",
        "am.yml:17:9: warning: receiver `team` email config `to` is a Go template, which nines does not expand; this email config is not carried over",
        "am.yml:23:9: warning: receiver `team` email config `html` is not carried over: nines sends its own message body",
        "am.yml:25:11: warning: receiver `team` email config header `Subject` is a Go template, which nines does not expand; it is not carried over and nines writes its own subject",
        "am.yml:28:9: warning: receiver `team` slack config `title` is a Go template",
        "am.yml:29:9: warning: receiver `team` slack config `color` is not carried over: nines' Slack messages use their own layout",
        "am.yml:32:9: warning: receiver `team` pagerduty config `severity` is a Go template, which nines does not expand; it is not carried over and nines sends Alertmanager's default severity, `error`",
        "am.yml:33:9: warning: receiver `team` pagerduty config `description` is not carried over",
        "am.yml:35:5: warning: receiver `teams-only`: `msteams_configs` (an Alertmanager 0.26 field) (1 entry) is not carried over: nines has no Microsoft Teams integration; `teams-only` is left with no integration, so alerts routed to it notify no one",
    ];
    for want in expect {
        assert!(
            w.iter().any(|got| got.starts_with(want)),
            "missing {want}\nin {w:#?}"
        );
    }
    assert_eq!(w.len(), expect.len(), "{w:#?}");

    let team = c.receiver("team").unwrap();
    assert_eq!(team.webhook_configs.len(), 1);
    assert_eq!(team.email_configs.len(), 1, "the templated `to` is dropped");
    assert!(team.email_configs[0].headers.is_empty());
    assert_eq!(team.slack_configs[0].title, None);
    assert_eq!(team.pagerduty_configs[0].severity, None);
    assert!(c.receiver("teams-only").unwrap().webhook_configs.is_empty());
    assert_eq!(c.templates, ["/etc/alertmanager/*.tmpl"]);
}

#[test]
fn older_syntax_and_alertmanager_quirks() {
    let c = load(
        r#"route:
  receiver: a
  group_by: [alertname]
  routes:
    - match: {team: db}
      match_re: {env: 'prod|stag.*'}
      matchers: ['severity=~"critical|warning", instance!=""']
      group_by: []
      continue: yes
    - matchers: [alertname="Watchdog"]
      receiver: b
      group_by: ['...']
receivers:
  - name: a
  - name: b
  - name: 42
    webhook_configs:
      - url: http://x:1/
        send_resolved: off
"#,
    );
    let tree = &c.route_tree;
    let first = tree.get(&[0]).unwrap();
    // One string may hold several matchers; `match_re` is anchored; all are
    // sorted as Alertmanager sorts them.
    assert_eq!(
        first.key,
        r#"{}/{env=~"^(?:prod|stag.*)$",instance!="",severity=~"critical|warning",team="db"}"#
    );
    assert!(first.continue_matching, "YAML 1.1 `yes`");
    // `group_by: []` keeps the parent's grouping in Alertmanager 0.25.
    assert_eq!(
        first.options.group_by,
        GroupBy::Labels(vec!["alertname".into()])
    );
    assert_eq!(tree.get(&[1]).unwrap().options.group_by, GroupBy::All);
    // A numeric name is a string to Alertmanager; `off` is false.
    let numeric = c.receiver("42").unwrap();
    assert!(!numeric.webhook_configs[0].send_resolved);
    let hit = tree.route(&labels("alertname=Watchdog"));
    assert_eq!(hit[0].options.receiver, "b");
}

#[test]
fn refuses_what_alertmanager_refuses_in_receivers() {
    let with =
        |receiver: &str| format!("route:\n  receiver: a\nreceivers:\n  - name: a\n{receiver}");
    let cases = [
        (
            "    webhook_configs:\n      - url: http://x/\n        max_alerts: -1\n",
            "max_alerts` must be a whole number",
        ),
        (
            "    email_configs:\n      - to: x@y\n        smarthost: nohost\n        from: a@b\n",
            "address nohost: missing port in address",
        ),
        (
            "    email_configs:\n      - to: x@y\n        smarthost: h:25\n        from: a@b\n        headers: {subject: a, Subject: b}\n",
            "duplicate header \"Subject\" in email config",
        ),
        (
            "    slack_configs:\n      - api_url: https://x/\n        api_url_file: /f\n",
            "at most one of api_url & api_url_file must be configured",
        ),
        ("    opsgenie_configs: oops\n", "must be a list"),
        (
            "    webhook_configs:\n      - url: http://x/\n        http_config: {bogus: 1}\n",
            "unknown field `bogus`",
        ),
        ("  - name: ''\n", "missing name in receiver"),
    ];
    for (receiver, want) in cases {
        let src = with(receiver);
        let got = refused(&src);
        assert!(got.contains(want), "want {want}\n got {got}");
    }
    assert!(load(MINIMAL).receivers[0].webhook_configs.is_empty());
}

#[test]
fn grouping_recorded_from_alertmanager() {
    // Group keys a real Alertmanager 0.25 sent for this file: `group_by: []`
    // keeps the parent's grouping; `['...']` groups by every label.
    let c = load(
        r#"route:
  receiver: a
  group_by: [alertname]
  group_wait: 0s
  routes:
    - matchers: ['team="db"']
      group_by: []
    - matchers: ['team="web"']
      group_by: ['...']
receivers:
  - name: a
    webhook_configs:
      - url: 'http://127.0.0.1:19099/a'
"#,
    );
    for (input, want) in [
        (
            "alertname=A team=db instance=i1",
            r#"{}/{team="db"}:{alertname="A"}"#,
        ),
        (
            "alertname=B team=web instance=i2",
            r#"{}/{team="web"}:{alertname="B", instance="i2", team="web"}"#,
        ),
    ] {
        let alert = labels(input);
        let routes = c.route_tree.route(&alert);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].group_key(&routes[0].group_labels(&alert)), want);
    }
}

#[test]
fn inhibition_recorded_from_alertmanager() {
    // `status.inhibitedBy` and fingerprints from a real Alertmanager 0.25
    // given these alerts. It reports one source where several inhibit.
    let c = load(
        r#"route:
  receiver: a
receivers:
  - name: a
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['alertname="Disk"']
    equal: ['host']
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: ['cluster']
"#,
    );
    let sda = labels("alertname=Disk severity=critical host=h dev=sda");
    let sdb = labels("alertname=Disk severity=critical host=h dev=sdb");
    let w = labels("alertname=W severity=warning");
    let w2 = labels("alertname=W2 severity=warning cluster=c1");
    let down = labels("alertname=HostDown severity=critical host=h");
    let fp = |l: &LabelSet| l.fingerprint().to_string();
    assert_eq!(fp(&sda), "8476d24c5cf26ca4");
    assert_eq!(fp(&sdb), "de7b8ee36c8933b5");
    assert_eq!(fp(&w), "91363749ac89a3f2");
    assert_eq!(fp(&w2), "2ceeb83d12faba06");
    assert_eq!(fp(&down), "0e73d9ad222b257e");

    let by = |target: &LabelSet, firing: &[&LabelSet]| -> Vec<String> {
        inhibited_by(
            &c.inhibit_rules,
            target,
            firing.iter().map(|l| (l.fingerprint(), *l)),
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    };
    // Before HostDown: the two Disk alerts match both sides of the first
    // rule and do not mute each other; W (no cluster) is muted by a critical
    // alert without a cluster either; W2 is not.
    let firing = [&sda, &sdb, &w, &w2];
    assert!(by(&sda, &firing).is_empty());
    assert!(by(&sdb, &firing).is_empty());
    assert_eq!(by(&w, &firing), ["8476d24c5cf26ca4", "de7b8ee36c8933b5"]);
    assert!(by(&w2, &firing).is_empty());
    // HostDown mutes both Disk alerts, which still mute W.
    let firing = [&sda, &sdb, &w, &w2, &down];
    assert_eq!(by(&sda, &firing), ["0e73d9ad222b257e"]);
    assert_eq!(by(&sdb, &firing), ["0e73d9ad222b257e"]);
    assert_eq!(
        by(&w, &firing),
        ["0e73d9ad222b257e", "8476d24c5cf26ca4", "de7b8ee36c8933b5"]
    );
    assert!(by(&down, &firing).is_empty());
}

#[test]
fn go_regex_meaning_recorded_with_amtool() {
    // `amtool config routes test` (0.25.0) on this file: Go's `\d` and `\w`
    // are ASCII, `\<` is a literal `<`, `\Q...\E` quotes.
    let c = load(
        r#"route:
  receiver: root
  routes:
    - matchers: ['a=~"\\d+"']
      receiver: digits
    - matchers: ['a=~"\\w+"']
      receiver: word
    - matchers: ['a=~"x\\<y"']
      receiver: lt
    - matchers: ['a=~"\\Q1.5\\E"']
      receiver: quoted
receivers: [{name: root}, {name: digits}, {name: word}, {name: lt}, {name: quoted}]
"#,
    );
    for (value, want) in [
        ("123", "digits"),
        ("٣", "root"),
        ("é", "root"),
        ("abc", "word"),
        ("x<y", "lt"),
        ("1.5", "quoted"),
        ("105", "digits"),
    ] {
        let got = c.route_tree.route(&labels(&format!("a={value}")));
        assert_eq!(got[0].options.receiver, want, "a={value}");
    }
}

#[test]
fn yaml_merge_keys_work_as_in_alertmanager() {
    let c = load(
        r#"route:
  receiver: a
  routes:
    - &db {receiver: a, group_wait: 10s, matchers: ['team="db"']}
    - <<: *db
      group_wait: 1s
    - <<: [{group_interval: 1m}, *db]
      receiver: b
receivers:
  - name: a
  - name: b
"#,
    );
    let tree = &c.route_tree;
    assert_eq!(
        tree.get(&[1]).unwrap().options.group_wait,
        SignedDuration::from_secs(1)
    );
    assert_eq!(tree.get(&[1]).unwrap().key, r#"{}/{team="db"}"#);
    let third = tree.get(&[2]).unwrap();
    assert_eq!(third.options.receiver, "b");
    assert_eq!(third.options.group_wait, SignedDuration::from_secs(10));
    assert_eq!(third.options.group_interval, SignedDuration::from_secs(60));
}
