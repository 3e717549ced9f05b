//! Reading an existing Alertmanager 0.25 configuration (`alertmanager.yml`)
//! so that a team can point nines at the file it already has.
//!
//! What nines can honour is carried over with Alertmanager's meaning and
//! defaults (the routing tree, inhibition, time intervals, and the webhook,
//! email, Slack and PagerDuty receivers). What Alertmanager accepts but nines
//! does not do (other integrations, HTTP client settings, Go templates) is
//! not an error: each comes back as a located warning saying what is dropped
//! and what nines does instead. What Alertmanager itself refuses (unknown
//! keys, undefined receivers or time intervals, bad matchers, regexes,
//! durations or URLs, ...) refuses the file, with every problem located.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use jiff::SignedDuration;
use jiff::tz::TimeZone;
use nines_core::alerting::inhibit::InhibitRule;
use nines_core::alerting::labels::valid_label_name;
use nines_core::alerting::matcher::{MatchOp, Matcher, parse_matchers};
use nines_core::alerting::route::{GroupBy, Route, RouteTree};
use nines_core::alerting::timeinterval::{
    DayOfMonthRange, MonthRange, TimeInterval, TimeOfDayRange, TimeRange, WeekdayRange, YearRange,
};

use crate::diag::{Diagnostic, Pos, closest};
use crate::yaml::{self, Node, NodeKind};
use crate::{LoadError, MAX_FILE_BYTES};

/// Alertmanager's default PagerDuty Events API v2 endpoint.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// An Alertmanager configuration, as far as nines carries it over.
#[derive(Clone)]
pub struct AlertmanagerConfig {
    pub global: GlobalConfig,
    /// The routing tree as written (options unset where the file does not
    /// set them); [`AlertmanagerConfig::route_tree`] is the resolved form.
    pub route: Route,
    pub route_tree: RouteTree,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// `time_intervals` and the older `mute_time_intervals`, one namespace.
    pub time_intervals: Vec<TimeInterval>,
    /// The `templates` globs, as written (not read: see the warnings).
    pub templates: Vec<String>,
    /// What was not carried over, each with its position and a sentence
    /// saying what nines does instead.
    pub warnings: Vec<Diagnostic>,
    file: PathBuf,
    source: String,
}

impl AlertmanagerConfig {
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    pub fn time_interval(&self, name: &str) -> Option<&TimeInterval> {
        self.time_intervals.iter().find(|t| t.name == name)
    }

    /// A diagnostic with its source line.
    pub fn render(&self, d: &Diagnostic) -> String {
        d.render((d.file == self.file).then_some(self.source.as_str()))
    }
}

/// The `global` section, with Alertmanager's defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// How long an alert without an end time stays firing (default 5m).
    pub resolve_timeout: SignedDuration,
    pub smtp_from: Option<String>,
    /// Default `localhost`.
    pub smtp_hello: String,
    /// `host:port`.
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<String>,
    pub smtp_auth_password_file: Option<String>,
    /// Default true.
    pub smtp_require_tls: bool,
    pub slack_api_url: Option<String>,
    pub slack_api_url_file: Option<String>,
    /// Default [`DEFAULT_PAGERDUTY_URL`].
    pub pagerduty_url: String,
}

impl Default for GlobalConfig {
    fn default() -> GlobalConfig {
        GlobalConfig {
            resolve_timeout: SignedDuration::from_secs(5 * 60),
            smtp_from: None,
            smtp_hello: "localhost".into(),
            smtp_smarthost: None,
            smtp_auth_username: None,
            smtp_auth_password: None,
            smtp_auth_password_file: None,
            smtp_require_tls: true,
            slack_api_url: None,
            slack_api_url_file: None,
            pagerduty_url: DEFAULT_PAGERDUTY_URL.into(),
        }
    }
}

/// A named receiver with the integrations nines carries over. A receiver
/// with none is valid (Alertmanager's way to drop notifications).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub email_configs: Vec<EmailConfig>,
    pub slack_configs: Vec<SlackConfig>,
    pub pagerduty_configs: Vec<PagerdutyConfig>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    /// Default true.
    pub send_resolved: bool,
    /// At most this many alerts per notification; 0 means all.
    pub max_alerts: u64,
}

/// An email integration, with the `global.smtp_*` defaults already applied.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    pub to: String,
    pub from: String,
    /// `host:port`.
    pub smarthost: String,
    pub hello: String,
    pub auth_username: Option<String>,
    pub auth_password: Option<String>,
    pub auth_password_file: Option<String>,
    pub require_tls: bool,
    /// Default false.
    pub send_resolved: bool,
    /// Header names in canonical form (`Reply-To`); values without
    /// templates only.
    pub headers: Vec<(String, String)>,
}

/// A Slack integration, with `global.slack_api_url(_file)` applied. Text
/// fields holding Go templates are left out (see the warnings).
#[derive(Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// Exactly one of `api_url` and `api_url_file` is set.
    pub api_url: Option<String>,
    pub api_url_file: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub title: Option<String>,
    pub text: Option<String>,
    /// Default false.
    pub send_resolved: bool,
}

/// A PagerDuty integration, with `global.pagerduty_url` applied. At least
/// one of the four keys is set; `routing_key` is for the Events API v2,
/// `service_key` for v1.
#[derive(Clone, PartialEq, Eq)]
pub struct PagerdutyConfig {
    pub routing_key: Option<String>,
    pub routing_key_file: Option<String>,
    pub service_key: Option<String>,
    pub service_key_file: Option<String>,
    pub url: String,
    /// Unset means Alertmanager's `error`.
    pub severity: Option<String>,
    /// Default true.
    pub send_resolved: bool,
}

/// Shown instead of secrets (passwords, keys, and URLs, which for webhooks
/// and Slack often carry a token) when a configuration is debug-printed, as
/// Alertmanager prints `<secret>`, so that logging a configuration leaks none.
const SECRET: &str = "<secret>";

fn secret(value: &Option<String>) -> Option<&'static str> {
    value.as_ref().map(|_| SECRET)
}

/// Without the source text, which holds the secrets.
impl std::fmt::Debug for AlertmanagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerConfig")
            .field("file", &self.file)
            .field("global", &self.global)
            .field("route", &self.route)
            .field("receivers", &self.receivers)
            .field("inhibit_rules", &self.inhibit_rules)
            .field("time_intervals", &self.time_intervals)
            .field("templates", &self.templates)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for GlobalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalConfig")
            .field("resolve_timeout", &self.resolve_timeout)
            .field("smtp_from", &self.smtp_from)
            .field("smtp_hello", &self.smtp_hello)
            .field("smtp_smarthost", &self.smtp_smarthost)
            .field("smtp_auth_username", &self.smtp_auth_username)
            .field("smtp_auth_password", &secret(&self.smtp_auth_password))
            .field("smtp_auth_password_file", &self.smtp_auth_password_file)
            .field("smtp_require_tls", &self.smtp_require_tls)
            .field("slack_api_url", &secret(&self.slack_api_url))
            .field("slack_api_url_file", &self.slack_api_url_file)
            .field("pagerduty_url", &self.pagerduty_url)
            .finish()
    }
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &SECRET)
            .field("send_resolved", &self.send_resolved)
            .field("max_alerts", &self.max_alerts)
            .finish()
    }
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailConfig")
            .field("to", &self.to)
            .field("from", &self.from)
            .field("smarthost", &self.smarthost)
            .field("hello", &self.hello)
            .field("auth_username", &self.auth_username)
            .field("auth_password", &secret(&self.auth_password))
            .field("auth_password_file", &self.auth_password_file)
            .field("require_tls", &self.require_tls)
            .field("send_resolved", &self.send_resolved)
            .field("headers", &self.headers)
            .finish()
    }
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("api_url", &secret(&self.api_url))
            .field("api_url_file", &self.api_url_file)
            .field("channel", &self.channel)
            .field("username", &self.username)
            .field("title", &self.title)
            .field("text", &self.text)
            .field("send_resolved", &self.send_resolved)
            .finish()
    }
}

impl std::fmt::Debug for PagerdutyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PagerdutyConfig")
            .field("routing_key", &secret(&self.routing_key))
            .field("routing_key_file", &self.routing_key_file)
            .field("service_key", &secret(&self.service_key))
            .field("service_key_file", &self.service_key_file)
            .field("url", &self.url)
            .field("severity", &self.severity)
            .field("send_resolved", &self.send_resolved)
            .finish()
    }
}

/// Reads an `alertmanager.yml` file.
pub fn load_alertmanager(path: &Path) -> Result<AlertmanagerConfig, LoadError> {
    let unreadable = |reason: String| LoadError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let meta = fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.is_dir() {
        return Err(unreadable(
            "is a directory; give the alertmanager.yml file itself".into(),
        ));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(unreadable(format!(
            "the file is {:.1} MB; a configuration may be at most {} MiB",
            meta.len() as f64 / 1e6,
            MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    let bytes = fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not valid UTF-8 text".into()))?;
    load_texts(path, text)
}

/// Reads Alertmanager configuration text, as if it were the file `name`.
pub fn load_alertmanager_str(src: &str, name: &str) -> Result<AlertmanagerConfig, LoadError> {
    load_texts(Path::new(name), src.to_owned())
}

fn load_texts(path: &Path, text: String) -> Result<AlertmanagerConfig, LoadError> {
    let mut d = Decoder {
        file: path,
        diags: Vec::new(),
    };
    let result = match yaml::parse(&text) {
        Err(e) => {
            d.diags.push(e.in_file(path));
            None
        }
        Ok(docs) => {
            if let Some(second) = docs.get(1) {
                d.warn(
                    second.root.pos,
                    "only the first YAML document is read, as Alertmanager does; this one and any after it are ignored",
                );
            }
            let null = Node {
                pos: Pos::new(1, 1),
                kind: NodeKind::Null,
            };
            let root = docs
                .first()
                .map_or(null, |doc| expand_merge_keys(&doc.root));
            d.config(&root)
        }
    };
    let mut diags = d.diags;
    diags.sort_by_key(|a| a.pos);
    let mut sources = BTreeMap::new();
    sources.insert(path.to_path_buf(), text);
    match result {
        Some(parts) if !diags.iter().any(Diagnostic::is_error) => {
            let Some((file, source)) = sources.pop_first() else {
                unreachable!("one source was inserted above")
            };
            Ok(AlertmanagerConfig {
                global: parts.global,
                route: parts.route,
                route_tree: parts.route_tree,
                receivers: parts.receivers,
                inhibit_rules: parts.inhibit_rules,
                time_intervals: parts.time_intervals,
                templates: parts.templates,
                warnings: diags,
                file,
                source,
            })
        }
        _ => Err(LoadError::Invalid {
            diagnostics: diags,
            sources,
        }),
    }
}

/// A Prometheus duration (`model.ParseDuration`, which Alertmanager uses):
/// whole numbers with units in decreasing order, each at most once, from
/// `y` (365 days) and `w` down to `ms`, such as `1h30m`; `0` alone is zero.
pub fn parse_prometheus_duration(s: &str) -> Result<SignedDuration, String> {
    match s {
        "0" => return Ok(SignedDuration::ZERO),
        "" => return Err("empty duration string".into()),
        _ => {}
    }
    let bad = || format!("not a valid duration string: {s:?}");
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000),
        ("w", 7 * 86_400_000),
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let mut rest = s;
    let mut next_unit = 0;
    let mut millis: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| "duration out of range".to_string())?;
        rest = &rest[digits..];
        let unit = if rest.starts_with("ms") {
            "ms"
        } else {
            rest.get(..1).ok_or_else(bad)?
        };
        let at = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(bad)?
            + next_unit;
        next_unit = at + 1;
        rest = &rest[unit.len()..];
        millis = n
            .checked_mul(UNITS[at].1)
            .and_then(|x| x.checked_add(millis))
            .filter(|x| *x <= i64::MAX / 1_000_000)
            .ok_or_else(|| "duration out of range".to_string())?;
    }
    Ok(SignedDuration::from_millis(millis))
}

/// Everything read, before it is put together.
struct Parts {
    global: GlobalConfig,
    route: Route,
    route_tree: RouteTree,
    receivers: Vec<Receiver>,
    inhibit_rules: Vec<InhibitRule>,
    time_intervals: Vec<TimeInterval>,
    templates: Vec<String>,
}

struct Decoder<'a> {
    file: &'a Path,
    diags: Vec<Diagnostic>,
}

/// A mapping whose keys were checked.
struct Fields<'n> {
    node: &'n Node,
}

impl<'n> Fields<'n> {
    /// The value of `key`; an explicit null counts as absent, as in
    /// Alertmanager.
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.node.get(key).filter(|n| !n.is_null())
    }

    /// Where `key` is written, or the mapping when it is absent.
    fn key_pos(&self, key: &str) -> Pos {
        self.node
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_scalar() == Some(key)))
            .map_or(self.node.pos, |(k, _)| k.pos)
    }
}

const TOP_FIELDS: &[&str] = &[
    "global",
    "route",
    "inhibit_rules",
    "receivers",
    "templates",
    "mute_time_intervals",
    "time_intervals",
];

const GLOBAL_FIELDS: &[&str] = &[
    "resolve_timeout",
    "http_config",
    "smtp_from",
    "smtp_hello",
    "smtp_smarthost",
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_secret",
    "smtp_auth_identity",
    "smtp_require_tls",
    "slack_api_url",
    "slack_api_url_file",
    "pagerduty_url",
    "opsgenie_api_url",
    "opsgenie_api_key",
    "opsgenie_api_key_file",
    "wechat_api_url",
    "wechat_api_secret",
    "wechat_api_corp_id",
    "victorops_api_url",
    "victorops_api_key",
    "victorops_api_key_file",
    "telegram_api_url",
    "webex_api_url",
];

const ROUTE_FIELDS: &[&str] = &[
    "receiver",
    "group_by",
    "match",
    "match_re",
    "matchers",
    "mute_time_intervals",
    "active_time_intervals",
    "continue",
    "routes",
    "group_wait",
    "group_interval",
    "repeat_interval",
];

const INHIBIT_FIELDS: &[&str] = &[
    "source_match",
    "source_match_re",
    "source_matchers",
    "target_match",
    "target_match_re",
    "target_matchers",
    "equal",
];

/// Receiver kinds Alertmanager has and nines does not, with the product
/// name for the warning. `msteams_configs` arrived in Alertmanager 0.26; it
/// is accepted (and dropped) so that newer files load too.
const OTHER_RECEIVER_KINDS: &[(&str, &str)] = &[
    ("opsgenie_configs", "Opsgenie"),
    ("victorops_configs", "VictorOps"),
    ("pushover_configs", "Pushover"),
    ("wechat_configs", "WeChat"),
    ("telegram_configs", "Telegram"),
    ("sns_configs", "Amazon SNS"),
    ("webex_configs", "Webex"),
    ("discord_configs", "Discord"),
    ("msteams_configs", "Microsoft Teams"),
];

const HTTP_CONFIG_FIELDS: &[&str] = &[
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "proxy_url",
    "proxy_connect_header",
    "tls_config",
    "follow_redirects",
    "enable_http2",
];

const WEBHOOK_FIELDS: &[&str] = &["send_resolved", "http_config", "url", "max_alerts"];

const EMAIL_FIELDS: &[&str] = &[
    "send_resolved",
    "to",
    "from",
    "hello",
    "smarthost",
    "auth_username",
    "auth_password",
    "auth_password_file",
    "auth_secret",
    "auth_identity",
    "headers",
    "html",
    "text",
    "require_tls",
    "tls_config",
];

const SLACK_FIELDS: &[&str] = &[
    "send_resolved",
    "http_config",
    "api_url",
    "api_url_file",
    "channel",
    "username",
    "color",
    "title",
    "title_link",
    "pretext",
    "text",
    "fields",
    "short_fields",
    "footer",
    "fallback",
    "callback_id",
    "icon_emoji",
    "icon_url",
    "image_url",
    "thumb_url",
    "link_names",
    "mrkdwn_in",
    "actions",
];

/// Slack fields nines' own message layout replaces.
const SLACK_LAYOUT_FIELDS: &[&str] = &[
    "color",
    "title_link",
    "pretext",
    "fields",
    "short_fields",
    "footer",
    "fallback",
    "callback_id",
    "icon_emoji",
    "icon_url",
    "image_url",
    "thumb_url",
    "link_names",
    "mrkdwn_in",
    "actions",
];

const PAGERDUTY_FIELDS: &[&str] = &[
    "send_resolved",
    "http_config",
    "routing_key",
    "routing_key_file",
    "service_key",
    "service_key_file",
    "url",
    "client",
    "client_url",
    "description",
    "details",
    "images",
    "links",
    "source",
    "severity",
    "class",
    "component",
    "group",
];

/// PagerDuty event fields nines fills itself.
const PAGERDUTY_LAYOUT_FIELDS: &[&str] = &[
    "client",
    "client_url",
    "description",
    "details",
    "images",
    "links",
    "source",
    "class",
    "component",
    "group",
];

const TIME_RANGE_FIELDS: &[&str] = &[
    "times",
    "weekdays",
    "days_of_month",
    "months",
    "years",
    "location",
];

/// Whether a value is a Go template that Alertmanager would expand.
fn is_template(s: &str) -> bool {
    s.contains("{{")
}

impl Decoder<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(pos, message).in_file(self.file));
    }

    fn error_help(&mut self, pos: Pos, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::error(pos, message)
                .with_help(help)
                .in_file(self.file),
        );
    }

    fn warn(&mut self, pos: Pos, message: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(pos, message).in_file(self.file));
    }

    /// Checks that `node` is a mapping of `allowed` keys; an unknown key is
    /// an error, as Alertmanager's strict decoding makes it.
    fn fields<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Fields<'n>> {
        let Some(entries) = node.as_map() else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.type_name()),
            );
            return None;
        };
        for (key, _) in entries {
            let k = key.as_scalar().unwrap_or("");
            if !allowed.contains(&k) {
                let help = match closest(k, allowed.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("{what} accepts: {}", allowed.join(", ")),
                };
                self.error_help(
                    key.pos,
                    format!("unknown field `{k}` in {what} (Alertmanager refuses it too)"),
                    help,
                );
            }
        }
        Some(Fields { node })
    }

    /// A scalar as text (Alertmanager reads `123` as "123" where it wants a
    /// string).
    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.kind {
            NodeKind::Scalar(s, _) => Some(s.clone()),
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// An optional string; "" counts as absent, as in Alertmanager.
    fn opt_string(&mut self, f: &Fields, key: &str, what: &str) -> Option<String> {
        f.get(key)
            .and_then(|n| self.string(n, &format!("{what} `{key}`")))
            .filter(|s| !s.is_empty())
    }

    /// An optional string that nines uses as written: a Go template is
    /// dropped with a warning saying what nines uses instead.
    fn literal(&mut self, f: &Fields, key: &str, what: &str, instead: &str) -> Option<String> {
        let value = self.opt_string(f, key, what)?;
        if is_template(&value) {
            self.warn(
                f.key_pos(key),
                format!(
                    "{what} `{key}` is a Go template, which nines does not expand; it is not carried over and {instead}"
                ),
            );
            return None;
        }
        Some(value)
    }

    /// YAML 1.1 booleans, as Alertmanager's YAML library reads them.
    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            NodeKind::Scalar(s, true) => match s.as_str() {
                "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "y" | "Y" | "on" | "On"
                | "ON" => Some(true),
                "false" | "False" | "FALSE" | "no" | "No" | "NO" | "n" | "N" | "off" | "Off"
                | "OFF" => Some(false),
                _ => {
                    self.error(
                        node.pos,
                        format!("{what} must be true or false, found {s:?}"),
                    );
                    None
                }
            },
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be true or false, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn opt_bool(&mut self, f: &Fields, key: &str, what: &str) -> Option<bool> {
        f.get(key)
            .and_then(|n| self.bool(n, &format!("{what} `{key}`")))
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<SignedDuration> {
        let s = self.string(node, what)?;
        match parse_prometheus_duration(&s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error_help(
                    node.pos,
                    format!("{what}: {e}"),
                    "write a whole number and a unit, largest first: 30s, 5m, 1h30m, 4h, 1d, 1w (units y, w, d, h, m, s, ms)",
                );
                None
            }
        }
    }

    fn opt_duration(&mut self, f: &Fields, key: &str, what: &str) -> Option<SignedDuration> {
        f.get(key)
            .and_then(|n| self.duration(n, &format!("{what} `{key}`")))
    }

    fn list<'n>(&mut self, node: &'n Node, what: &str) -> &'n [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => &[],
            _ => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", node.type_name()),
                );
                &[]
            }
        }
    }

    fn opt_list<'n>(&mut self, f: &Fields<'n>, key: &str, what: &str) -> &'n [Node] {
        match f.get(key) {
            Some(n) => self.list(n, &format!("{what} `{key}`")),
            None => &[],
        }
    }

    /// A list of strings, each with its position.
    fn strings(&mut self, f: &Fields, key: &str, what: &str) -> Vec<(String, Pos)> {
        let what = format!("{what} `{key}`");
        self.opt_list(f, key, &what)
            .iter()
            .filter_map(|n| {
                self.string(n, &format!("an entry of {what}"))
                    .map(|s| (s, n.pos))
            })
            .collect()
    }

    /// A mapping of strings to strings, in file order, with positions.
    fn string_map(&mut self, f: &Fields, key: &str, what: &str) -> Vec<(String, String, Pos)> {
        let Some(node) = f.get(key) else {
            return Vec::new();
        };
        let what = format!("{what} `{key}`");
        let Some(entries) = node.as_map() else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.type_name()),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = k.as_scalar().unwrap_or_default().to_string();
            let value = if v.is_null() {
                Some(String::new())
            } else {
                self.string(v, &format!("{what} `{name}`"))
            };
            if let Some(value) = value {
                out.push((name, value, k.pos));
            }
        }
        out
    }

    /// An http(s) URL with a host, as Alertmanager's URL type requires.
    fn url(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.string(node, what)?;
        match url_problem(&s) {
            None => Some(s),
            Some(problem) => {
                self.error(node.pos, format!("{what}: {problem}"));
                None
            }
        }
    }

    fn opt_url(&mut self, f: &Fields, key: &str, what: &str) -> Option<String> {
        f.get(key)
            .and_then(|n| self.url(n, &format!("{what} `{key}`")))
    }

    /// A `host:port` address, as Alertmanager's `HostPort` requires.
    fn host_port(&mut self, f: &Fields, key: &str, what: &str) -> Option<String> {
        let node = f.get(key)?;
        let s = self.string(node, &format!("{what} `{key}`"))?;
        if s.is_empty() {
            return None;
        }
        if let Some(problem) = host_port_problem(&s) {
            self.error_help(
                node.pos,
                format!("{what} `{key}`: address {s}: {problem}"),
                "write a host and a port, such as smtp.example.com:587",
            );
            return None;
        }
        Some(s)
    }

    /// `http_config` is read for its keys (Alertmanager refuses unknown
    /// ones) and otherwise dropped with a warning.
    fn http_config(&mut self, f: &Fields, what: &str, consequence: &str) {
        let Some(node) = f.get("http_config") else {
            return;
        };
        if self
            .fields(node, &format!("{what} `http_config`"), HTTP_CONFIG_FIELDS)
            .is_some()
        {
            self.warn(
                f.key_pos("http_config"),
                format!(
                    "{what} `http_config` (authentication, proxy, TLS settings) is not carried over: {consequence}"
                ),
            );
        }
    }

    fn config(&mut self, root: &Node) -> Option<Parts> {
        if root.is_null() {
            self.error_help(
                root.pos,
                "no route provided in config",
                "an Alertmanager configuration needs at least a `route` with a `receiver`, and that receiver under `receivers`",
            );
            return None;
        }
        let f = self.fields(root, "the Alertmanager configuration", TOP_FIELDS)?;
        let global = match f.get("global") {
            Some(g) => self.global(g),
            None => Some(GlobalConfig::default()),
        };
        let global_ok = global.is_some();
        let global = global.unwrap_or_default();

        let templates: Vec<String> = self
            .strings(&f, "templates", "the configuration")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        if !templates.is_empty() {
            self.warn(
                f.key_pos("templates"),
                "`templates` files are not carried over: nines does not read Go template files, and its notifications use nines' own message layout",
            );
        }

        // Time intervals first: routes refer to them.
        let mut time_intervals: Vec<TimeInterval> = Vec::new();
        let mut interval_names: Vec<String> = Vec::new();
        for key in ["mute_time_intervals", "time_intervals"] {
            for node in self.opt_list(&f, key, "the configuration") {
                let Some((name, interval)) = self.time_interval(node, key) else {
                    continue;
                };
                if interval_names.contains(&name) {
                    let what = if key == "time_intervals" {
                        "time interval"
                    } else {
                        "mute time interval"
                    };
                    self.error(node.pos, format!("{what} {name:?} is not unique"));
                    continue;
                }
                interval_names.push(name);
                if let Some(interval) = interval {
                    time_intervals.push(interval);
                }
            }
        }

        let mut receivers: Vec<Receiver> = Vec::new();
        let mut receiver_names: Vec<String> = Vec::new();
        for node in self.opt_list(&f, "receivers", "the configuration") {
            let Some((name, receiver)) = self.receiver(node, &global) else {
                continue;
            };
            if receiver_names.contains(&name) {
                self.error(
                    node.pos,
                    format!("notification config name {name:?} is not unique"),
                );
                continue;
            }
            receiver_names.push(name);
            if let Some(r) = receiver {
                receivers.push(r);
            }
        }

        let mut inhibit_rules = Vec::new();
        for node in self.opt_list(&f, "inhibit_rules", "the configuration") {
            if let Some(rule) = self.inhibit_rule(node) {
                inhibit_rules.push(rule);
            }
        }

        let Some(route_node) = f.get("route") else {
            self.error_help(
                root.pos,
                "no route provided in config",
                "add a `route` with a default `receiver`",
            );
            return None;
        };
        let refs = Refs {
            receivers: &receiver_names,
            intervals: &interval_names,
        };
        let route = self.route(route_node, true, &refs)?;
        let route_tree = match RouteTree::new(&route) {
            Ok(tree) => tree,
            Err(e) => {
                self.error(route_node.pos, e.to_string());
                return None;
            }
        };
        global_ok.then_some(Parts {
            global,
            route,
            route_tree,
            receivers,
            inhibit_rules,
            time_intervals,
            templates,
        })
    }

    fn global(&mut self, node: &Node) -> Option<GlobalConfig> {
        let what = "global";
        let f = self.fields(node, what, GLOBAL_FIELDS)?;
        let mut g = GlobalConfig::default();
        if let Some(d) = self.opt_duration(&f, "resolve_timeout", what) {
            g.resolve_timeout = d;
        }
        g.smtp_from = self.opt_string(&f, "smtp_from", what);
        if let Some(h) = self.opt_string(&f, "smtp_hello", what) {
            g.smtp_hello = h;
        }
        g.smtp_smarthost = self.host_port(&f, "smtp_smarthost", what);
        g.smtp_auth_username = self.opt_string(&f, "smtp_auth_username", what);
        g.smtp_auth_password = self.opt_string(&f, "smtp_auth_password", what);
        g.smtp_auth_password_file = self.opt_string(&f, "smtp_auth_password_file", what);
        if g.smtp_auth_password.is_some() && g.smtp_auth_password_file.is_some() {
            self.error(
                f.key_pos("smtp_auth_password_file"),
                "at most one of smtp_auth_password & smtp_auth_password_file must be configured",
            );
        }
        if let Some(b) = self.opt_bool(&f, "smtp_require_tls", what) {
            g.smtp_require_tls = b;
        }
        g.slack_api_url = self.opt_url(&f, "slack_api_url", what);
        g.slack_api_url_file = self.opt_string(&f, "slack_api_url_file", what);
        if g.slack_api_url.is_some() && g.slack_api_url_file.is_some() {
            self.error(
                f.key_pos("slack_api_url_file"),
                "at most one of slack_api_url & slack_api_url_file must be configured",
            );
        }
        if let Some(u) = self.opt_url(&f, "pagerduty_url", what) {
            g.pagerduty_url = u;
        }
        for key in [
            "opsgenie_api_url",
            "wechat_api_url",
            "victorops_api_url",
            "telegram_api_url",
            "webex_api_url",
        ] {
            self.opt_url(&f, key, what);
        }
        self.http_config(
            &f,
            what,
            "nines makes its HTTP requests with its own client settings",
        );
        for key in ["smtp_auth_secret", "smtp_auth_identity"] {
            if f.get(key).is_some() {
                self.warn(
                    f.key_pos(key),
                    format!(
                        "global `{key}` is not carried over: nines authenticates to the SMTP server with the username and password only"
                    ),
                );
            }
        }
        for (prefix, product) in [
            ("opsgenie_", "Opsgenie"),
            ("wechat_", "WeChat"),
            ("victorops_", "VictorOps"),
            ("telegram_", "Telegram"),
            ("webex_", "Webex"),
        ] {
            for key in GLOBAL_FIELDS.iter().filter(|k| k.starts_with(prefix)) {
                if f.get(key).is_some() {
                    self.warn(
                        f.key_pos(key),
                        format!(
                            "global `{key}` is not carried over: nines has no {product} integration, so nothing uses it"
                        ),
                    );
                }
            }
        }
        Some(g)
    }

    /// A receiver: its name, and the receiver when every integration could
    /// be read.
    fn receiver(
        &mut self,
        node: &Node,
        global: &GlobalConfig,
    ) -> Option<(String, Option<Receiver>)> {
        let mut allowed: Vec<&str> = vec![
            "name",
            "webhook_configs",
            "email_configs",
            "slack_configs",
            "pagerduty_configs",
        ];
        allowed.extend(OTHER_RECEIVER_KINDS.iter().map(|(k, _)| *k));
        let f = self.fields(node, "a receiver", &allowed)?;
        let name = self.opt_string(&f, "name", "a receiver");
        let Some(name) = name else {
            self.error(node.pos, "missing name in receiver");
            return None;
        };
        let what = format!("receiver `{name}`");
        let errors_before = self.error_count();
        let mut r = Receiver {
            name: name.clone(),
            ..Receiver::default()
        };
        for n in self.opt_list(&f, "webhook_configs", &what) {
            if let Some(c) = self.webhook(n, &what) {
                r.webhook_configs.push(c);
            }
        }
        for n in self.opt_list(&f, "email_configs", &what) {
            if let Some(c) = self.email(n, &what, global) {
                r.email_configs.push(c);
            }
        }
        for n in self.opt_list(&f, "slack_configs", &what) {
            if let Some(c) = self.slack(n, &what, global) {
                r.slack_configs.push(c);
            }
        }
        for n in self.opt_list(&f, "pagerduty_configs", &what) {
            if let Some(c) = self.pagerduty(n, &what, global) {
                r.pagerduty_configs.push(c);
            }
        }
        let carried = r.webhook_configs.len()
            + r.email_configs.len()
            + r.slack_configs.len()
            + r.pagerduty_configs.len();
        for (key, product) in OTHER_RECEIVER_KINDS {
            let n = self.opt_list(&f, key, &what).len();
            if n == 0 {
                continue;
            }
            let entries = if n == 1 { "entry" } else { "entries" };
            let newer = if *key == "msteams_configs" {
                " (an Alertmanager 0.26 field)"
            } else {
                ""
            };
            let rest = if carried > 0 {
                format!("`{name}` notifies through its other integrations only")
            } else {
                format!(
                    "`{name}` is left with no integration, so alerts routed to it notify no one"
                )
            };
            self.warn(
                f.key_pos(key),
                format!(
                    "{what}: `{key}`{newer} ({n} {entries}) is not carried over: nines has no {product} integration; {rest}"
                ),
            );
        }
        let ok = self.error_count() == errors_before;
        Some((name, ok.then_some(r)))
    }

    fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.is_error()).count()
    }

    fn webhook(&mut self, node: &Node, receiver: &str) -> Option<WebhookConfig> {
        let what = format!("{receiver} webhook config");
        let f = self.fields(node, &what, WEBHOOK_FIELDS)?;
        let url = match f.get("url") {
            Some(n) => self.url(n, &format!("{what} `url`")),
            None => {
                self.error(node.pos, "missing URL in webhook config");
                None
            }
        };
        let send_resolved = self.opt_bool(&f, "send_resolved", &what).unwrap_or(true);
        let max_alerts = match f.get("max_alerts") {
            Some(n) => match &n.kind {
                NodeKind::Scalar(s, true) if s.parse::<u64>().is_ok() => s.parse().ok(),
                _ => {
                    self.error(
                        n.pos,
                        format!(
                            "{what} `max_alerts` must be a whole number, 0 or more (0 sends every alert), found {}",
                            n.as_scalar().unwrap_or(n.type_name())
                        ),
                    );
                    None
                }
            },
            None => Some(0),
        };
        self.http_config(
            &f,
            &what,
            "nines posts to this URL without them (no basic auth, bearer token, proxy or client certificate)",
        );
        Some(WebhookConfig {
            url: url?,
            send_resolved,
            max_alerts: max_alerts?,
        })
    }

    fn email(&mut self, node: &Node, receiver: &str, global: &GlobalConfig) -> Option<EmailConfig> {
        let what = format!("{receiver} email config");
        let f = self.fields(node, &what, EMAIL_FIELDS)?;
        let errors_before = self.error_count();
        let to = self.opt_string(&f, "to", &what);
        if to.is_none() {
            self.error(node.pos, "missing to address in email config");
        }
        let smarthost = self
            .host_port(&f, "smarthost", &what)
            .or_else(|| global.smtp_smarthost.clone());
        if smarthost.is_none() && errors_before == self.error_count() {
            self.error_help(
                node.pos,
                "no global SMTP smarthost set",
                "set `smarthost` here or `smtp_smarthost` under `global`",
            );
        }
        let from = self
            .opt_string(&f, "from", &what)
            .or_else(|| global.smtp_from.clone());
        if from.is_none() {
            self.error_help(
                node.pos,
                "no global mail from address set",
                "set `from` here or `smtp_from` under `global`",
            );
        }
        let hello = self
            .opt_string(&f, "hello", &what)
            .unwrap_or_else(|| global.smtp_hello.clone());
        let auth_username = self
            .opt_string(&f, "auth_username", &what)
            .or_else(|| global.smtp_auth_username.clone());
        let mut auth_password = self.opt_string(&f, "auth_password", &what);
        let mut auth_password_file = self.opt_string(&f, "auth_password_file", &what);
        if auth_password.is_some() && auth_password_file.is_some() {
            self.error(
                f.key_pos("auth_password_file"),
                "at most one of auth_password & auth_password_file must be configured",
            );
        }
        if auth_password.is_none() && auth_password_file.is_none() {
            auth_password = global.smtp_auth_password.clone();
            auth_password_file = global.smtp_auth_password_file.clone();
        }
        let require_tls = self
            .opt_bool(&f, "require_tls", &what)
            .unwrap_or(global.smtp_require_tls);
        let send_resolved = self.opt_bool(&f, "send_resolved", &what).unwrap_or(false);

        let mut headers: Vec<(String, String)> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (name, value, pos) in self.string_map(&f, "headers", &what) {
            let canonical = canonical_header(&name);
            if seen.contains(&canonical) {
                self.error(
                    pos,
                    format!("duplicate header {canonical:?} in email config"),
                );
                continue;
            }
            seen.push(canonical.clone());
            if is_template(&value) {
                let instead = if canonical == "Subject" {
                    "nines writes its own subject"
                } else {
                    "nines leaves the header out"
                };
                self.warn(
                    pos,
                    format!(
                        "{what} header `{canonical}` is a Go template, which nines does not expand; it is not carried over and {instead}"
                    ),
                );
                continue;
            }
            headers.push((canonical, value));
        }

        for (key, sentence) in [
            ("html", "nines sends its own message body"),
            ("text", "nines sends its own message body"),
            (
                "tls_config",
                "nines uses STARTTLS as `require_tls` says, with the system's trusted certificates",
            ),
            (
                "auth_secret",
                "nines authenticates with the username and password only",
            ),
            (
                "auth_identity",
                "nines authenticates with the username and password only",
            ),
        ] {
            if f.get(key).is_some() {
                self.warn(
                    f.key_pos(key),
                    format!("{what} `{key}` is not carried over: {sentence}"),
                );
            }
        }
        for (key, value) in [("to", &to), ("from", &from)] {
            if value.as_deref().is_some_and(is_template) {
                self.warn(
                    f.key_pos(key),
                    format!(
                        "{what} `{key}` is a Go template, which nines does not expand; this email config is not carried over, so nines sends no email for it"
                    ),
                );
                return None;
            }
        }
        Some(EmailConfig {
            to: to?,
            from: from?,
            smarthost: smarthost?,
            hello,
            auth_username,
            auth_password,
            auth_password_file,
            require_tls,
            send_resolved,
            headers,
        })
    }

    fn slack(&mut self, node: &Node, receiver: &str, global: &GlobalConfig) -> Option<SlackConfig> {
        let what = format!("{receiver} slack config");
        let f = self.fields(node, &what, SLACK_FIELDS)?;
        let mut api_url = self.opt_url(&f, "api_url", &what);
        let mut api_url_file = self.opt_string(&f, "api_url_file", &what);
        let bad_url = f.get("api_url").is_some() && api_url.is_none();
        if api_url.is_some() && api_url_file.is_some() {
            self.error(
                f.key_pos("api_url_file"),
                "at most one of api_url & api_url_file must be configured",
            );
        }
        if api_url.is_none() && api_url_file.is_none() && !bad_url {
            api_url = global.slack_api_url.clone();
            api_url_file = global.slack_api_url_file.clone();
            if api_url.is_none() && api_url_file.is_none() {
                self.error_help(
                    node.pos,
                    "no global Slack API URL set either inline or in a file",
                    "set `api_url` here or `slack_api_url` under `global`",
                );
                return None;
            }
        }
        let channel = self.literal(
            &f,
            "channel",
            &what,
            "nines posts to the incoming webhook's default channel",
        );
        let username = self.literal(
            &f,
            "username",
            &what,
            "nines posts under the incoming webhook's default name",
        );
        let title = self.literal(&f, "title", &what, "nines writes its own title");
        let text = self.literal(&f, "text", &what, "nines writes its own text");
        let send_resolved = self.opt_bool(&f, "send_resolved", &what).unwrap_or(false);
        for key in SLACK_LAYOUT_FIELDS {
            if f.get(key).is_some() {
                self.warn(
                    f.key_pos(key),
                    format!(
                        "{what} `{key}` is not carried over: nines' Slack messages use their own layout"
                    ),
                );
            }
        }
        self.http_config(
            &f,
            &what,
            "nines posts to Slack with its own client settings",
        );
        if bad_url {
            return None;
        }
        Some(SlackConfig {
            api_url,
            api_url_file,
            channel,
            username,
            title,
            text,
            send_resolved,
        })
    }

    fn pagerduty(
        &mut self,
        node: &Node,
        receiver: &str,
        global: &GlobalConfig,
    ) -> Option<PagerdutyConfig> {
        let what = format!("{receiver} pagerduty config");
        let f = self.fields(node, &what, PAGERDUTY_FIELDS)?;
        let routing_key = self.opt_string(&f, "routing_key", &what);
        let routing_key_file = self.opt_string(&f, "routing_key_file", &what);
        let service_key = self.opt_string(&f, "service_key", &what);
        let service_key_file = self.opt_string(&f, "service_key_file", &what);
        if routing_key.is_none()
            && routing_key_file.is_none()
            && service_key.is_none()
            && service_key_file.is_none()
        {
            self.error_help(
                node.pos,
                "missing service or routing key in PagerDuty config",
                "set `routing_key` (Events API v2) or `service_key` (v1)",
            );
            return None;
        }
        if routing_key.is_some() && routing_key_file.is_some() {
            self.error(
                f.key_pos("routing_key_file"),
                "at most one of routing_key & routing_key_file must be configured",
            );
        }
        if service_key.is_some() && service_key_file.is_some() {
            self.error(
                f.key_pos("service_key_file"),
                "at most one of service_key & service_key_file must be configured",
            );
        }
        let url_given = f.get("url").is_some();
        let url = self.opt_url(&f, "url", &what);
        if url_given && url.is_none() {
            return None;
        }
        let url = url.unwrap_or_else(|| global.pagerduty_url.clone());
        let severity = self.literal(
            &f,
            "severity",
            &what,
            "nines sends Alertmanager's default severity, `error`",
        );
        let send_resolved = self.opt_bool(&f, "send_resolved", &what).unwrap_or(true);
        for key in PAGERDUTY_LAYOUT_FIELDS {
            if f.get(key).is_some() {
                self.warn(
                    f.key_pos(key),
                    format!(
                        "{what} `{key}` is not carried over: nines fills the PagerDuty event from the alert group itself"
                    ),
                );
            }
        }
        for (key, value) in [("routing_key", &routing_key), ("service_key", &service_key)] {
            if value.as_deref().is_some_and(is_template) {
                self.warn(
                    f.key_pos(key),
                    format!(
                        "{what} `{key}` is a Go template, which nines does not expand; this PagerDuty config is not carried over, so nines sends nothing for it"
                    ),
                );
                return None;
            }
        }
        self.http_config(
            &f,
            &what,
            "nines posts to PagerDuty with its own client settings",
        );
        Some(PagerdutyConfig {
            routing_key,
            routing_key_file,
            service_key,
            service_key_file,
            url,
            severity,
            send_resolved,
        })
    }

    /// A label name in a `match`/`match_re` map, a `group_by` or an `equal`
    /// list.
    fn label_name(&mut self, name: &str, pos: Pos, message: String) -> bool {
        if valid_label_name(name) {
            return true;
        }
        self.error_help(
            pos,
            message,
            "a label name is letters, digits and `_`, not starting with a digit",
        );
        false
    }

    /// `match`, `match_re` and `matchers` (with the given prefix, "" for
    /// routes, `source_`/`target_` for inhibit rules), as matchers. Like
    /// Alertmanager 0.25, a `match_re` value becomes the anchored expression
    /// `^(?:value)$`, which is how it appears in route and group keys.
    fn matchers(&mut self, f: &Fields, prefix: &str, what: &str) -> Option<Vec<Matcher>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (regex, key) in [
            (false, format!("{prefix}match")),
            (true, format!("{prefix}match_re")),
        ] {
            for (name, value, pos) in self.string_map(f, &key, what) {
                if !self.label_name(&name, pos, format!("invalid label name {name:?}")) {
                    ok = false;
                    continue;
                }
                let built = if regex {
                    Matcher::new(name.as_str(), MatchOp::Regex, value.as_str()).and_then(|_| {
                        Matcher::new(name.as_str(), MatchOp::Regex, format!("^(?:{value})$"))
                    })
                } else {
                    Matcher::new(name.as_str(), MatchOp::Equal, value.as_str())
                };
                match built {
                    Ok(m) => out.push(m),
                    Err(e) => {
                        self.error(pos, format!("{what} `{key}` {name}: {e}"));
                        ok = false;
                    }
                }
            }
        }
        let key = format!("{prefix}matchers");
        for (text, pos) in self.strings(f, &key, what) {
            match parse_matchers(&text) {
                Ok(ms) => out.extend(ms),
                Err(e) => {
                    self.error_help(
                        pos,
                        format!("{what} `{key}`: {e}"),
                        "write matchers as in Alertmanager: 'severity=\"critical\"', 'service=~\"api|web\"', 'env!=dev'",
                    );
                    ok = false;
                }
            }
        }
        out.sort();
        ok.then_some(out)
    }

    fn route(&mut self, node: &Node, is_root: bool, refs: &Refs) -> Option<Route> {
        let what = if is_root { "the root route" } else { "a route" };
        let f = self.fields(node, what, ROUTE_FIELDS)?;
        let errors_before = self.error_count();

        let receiver = self.opt_string(&f, "receiver", what);
        if let Some(r) = &receiver
            && !refs.receivers.contains(r)
        {
            let help = match closest(r, refs.receivers.iter().map(String::as_str)) {
                Some(c) => format!("did you mean `{c}`?"),
                None if refs.receivers.is_empty() => "define it under `receivers`".to_string(),
                None => format!("defined receivers: {}", refs.receivers.join(", ")),
            };
            self.error_help(
                f.key_pos("receiver"),
                format!("undefined receiver {r:?} used in route"),
                help,
            );
        }
        if is_root && receiver.is_none() {
            self.error(node.pos, "root route must specify a default receiver");
        }

        let group_by = match f.get("group_by") {
            None => None,
            Some(_) => self.group_by(&f, what),
        };
        let group_wait = self.opt_duration(&f, "group_wait", what);
        let group_interval = self.opt_duration(&f, "group_interval", what);
        let repeat_interval = self.opt_duration(&f, "repeat_interval", what);
        for (key, d) in [
            ("group_interval", group_interval),
            ("repeat_interval", repeat_interval),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                self.error(f.key_pos(key), format!("{key} cannot be zero"));
            }
        }
        let matchers = self.matchers(&f, "", what).unwrap_or_default();
        let continue_matching = self.opt_bool(&f, "continue", what).unwrap_or(false);

        let mut intervals = Vec::new();
        for key in ["mute_time_intervals", "active_time_intervals"] {
            let mut names = Vec::new();
            for (name, pos) in self.strings(&f, key, what) {
                if !refs.intervals.contains(&name) {
                    let help = match closest(&name, refs.intervals.iter().map(String::as_str)) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "define it under `time_intervals`".to_string(),
                    };
                    self.error_help(
                        pos,
                        format!("undefined time interval {name:?} used in route"),
                        help,
                    );
                }
                names.push(name);
            }
            intervals.push(names);
        }
        let active_time_intervals = intervals.pop().unwrap_or_default();
        let mute_time_intervals = intervals.pop().unwrap_or_default();

        if is_root {
            let root_rules = [
                (
                    !matchers.is_empty()
                        || ["match", "match_re", "matchers"]
                            .iter()
                            .any(|k| f.get(k).is_some()),
                    "matchers",
                    "root route must not have any matchers",
                ),
                (
                    !mute_time_intervals.is_empty(),
                    "mute_time_intervals",
                    "root route must not have any mute time intervals",
                ),
                (
                    !active_time_intervals.is_empty(),
                    "active_time_intervals",
                    "root route must not have any active time intervals",
                ),
                (
                    continue_matching,
                    "continue",
                    "cannot have continue in root route",
                ),
            ];
            for (broken, key, message) in root_rules {
                if broken {
                    let key = if key == "matchers" {
                        ["matchers", "match", "match_re"]
                            .into_iter()
                            .find(|k| f.get(k).is_some())
                            .unwrap_or("matchers")
                    } else {
                        key
                    };
                    self.error_help(
                        f.key_pos(key),
                        message,
                        "the root route receives every alert; put this on a child route under `routes`",
                    );
                }
            }
        }

        let mut routes = Vec::new();
        let mut children_ok = true;
        for child in self.opt_list(&f, "routes", what) {
            match self.route(child, false, refs) {
                Some(r) => routes.push(r),
                None => children_ok = false,
            }
        }
        (children_ok && self.error_count() == errors_before).then_some(Route {
            receiver,
            group_by,
            group_wait,
            group_interval,
            repeat_interval,
            matchers,
            continue_matching,
            routes,
            mute_time_intervals,
            active_time_intervals,
        })
    }

    fn group_by(&mut self, f: &Fields, what: &str) -> Option<GroupBy> {
        let entries = self.strings(f, "group_by", what);
        let mut labels: Vec<String> = Vec::new();
        let mut all = false;
        let mut ok = true;
        for (name, pos) in &entries {
            if name == "..." {
                all = true;
                continue;
            }
            if !self.label_name(
                name,
                *pos,
                format!("invalid label name {name:?} in group_by list"),
            ) {
                ok = false;
                continue;
            }
            if labels.contains(name) {
                self.error(*pos, format!("duplicated label {name:?} in group_by"));
                ok = false;
                continue;
            }
            labels.push(name.clone());
        }
        if all && !labels.is_empty() {
            self.error(
                f.key_pos("group_by"),
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            );
            return None;
        }
        if !ok {
            return None;
        }
        if all {
            return Some(GroupBy::All);
        }
        if labels.is_empty() {
            // Alertmanager 0.25 reads `group_by: []` as not set: the route
            // keeps its parent's grouping.
            return None;
        }
        Some(GroupBy::Labels(labels))
    }

    fn inhibit_rule(&mut self, node: &Node) -> Option<InhibitRule> {
        let what = "an inhibit rule";
        let f = self.fields(node, what, INHIBIT_FIELDS)?;
        let source_matchers = self.matchers(&f, "source_", what);
        let target_matchers = self.matchers(&f, "target_", what);
        let mut equal = Vec::new();
        let mut ok = true;
        for (name, pos) in self.strings(&f, "equal", what) {
            if self.label_name(&name, pos, format!("{name:?} is not a valid label name")) {
                equal.push(name);
            } else {
                ok = false;
            }
        }
        let rule = InhibitRule {
            source_matchers: source_matchers?,
            target_matchers: target_matchers?,
            equal,
        };
        ok.then_some(rule)
    }

    /// A named interval: its name, and the interval when it could be read.
    fn time_interval(&mut self, node: &Node, list: &str) -> Option<(String, Option<TimeInterval>)> {
        let singular = if list == "time_intervals" {
            "time interval"
        } else {
            "mute time interval"
        };
        let what = format!("a {singular}");
        let f = self.fields(node, &what, &["name", "time_intervals"])?;
        let Some(name) = self.opt_string(&f, "name", &what) else {
            self.error(node.pos, format!("missing name in {singular}"));
            return None;
        };
        let what = format!("{singular} `{name}`");
        let mut ranges = Vec::new();
        let mut ok = true;
        for n in self.opt_list(&f, "time_intervals", &what) {
            match self.time_range(n, &what) {
                Some(r) => ranges.push(r),
                None => ok = false,
            }
        }
        let interval = TimeInterval {
            name: name.clone(),
            ranges,
        };
        Some((name, ok.then_some(interval)))
    }

    fn time_range(&mut self, node: &Node, interval: &str) -> Option<TimeRange> {
        let what = format!("a range of {interval}");
        let f = self.fields(node, &what, TIME_RANGE_FIELDS)?;
        let mut ok = true;

        let times = match f.get("times") {
            None => None,
            Some(n) => {
                let mut out = Vec::new();
                for t in self.list(n, &format!("{what} `times`")) {
                    let Some(tf) = self.fields(t, "a `times` entry", &["start_time", "end_time"])
                    else {
                        ok = false;
                        continue;
                    };
                    let start = self.opt_string(&tf, "start_time", "a `times` entry");
                    let end = self.opt_string(&tf, "end_time", "a `times` entry");
                    let (Some(start), Some(end)) = (start, end) else {
                        self.error(t.pos, "both start and end times must be provided");
                        ok = false;
                        continue;
                    };
                    match TimeOfDayRange::parse(&start, &end) {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            self.error(t.pos, e.to_string());
                            ok = false;
                        }
                    }
                }
                Some(out)
            }
        };
        let weekdays = self.ranges(&f, "weekdays", &what, &mut ok, WeekdayRange::parse);
        let days_of_month =
            self.ranges(&f, "days_of_month", &what, &mut ok, DayOfMonthRange::parse);
        let months = self.ranges(&f, "months", &what, &mut ok, MonthRange::parse);
        let years = self.ranges(&f, "years", &what, &mut ok, YearRange::parse);
        let location = match f.get("location") {
            None => None,
            Some(n) => {
                let name = self.string(n, &format!("{what} `location`"))?;
                match time_zone(&name) {
                    Some(tz) => Some(tz),
                    None => {
                        self.error_help(
                            n.pos,
                            format!("unknown time zone {name}"),
                            "use an IANA zone name such as Europe/Paris, America/New_York or UTC",
                        );
                        ok = false;
                        None
                    }
                }
            }
        };
        ok.then_some(TimeRange {
            times,
            weekdays,
            days_of_month,
            months,
            years,
            location,
        })
    }

    fn ranges<T, E: std::fmt::Display>(
        &mut self,
        f: &Fields,
        key: &str,
        what: &str,
        ok: &mut bool,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Option<Vec<T>> {
        f.get(key)?;
        let mut out = Vec::new();
        for (s, pos) in self.strings(f, key, what) {
            match parse(&s) {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.error(pos, format!("{what} `{key}`: {e}"));
                    *ok = false;
                }
            }
        }
        Some(out)
    }
}

/// Applies YAML merge keys (`<<: *defaults`), which Alertmanager's YAML
/// library honours: the merged mapping's entries are added unless the
/// mapping sets them itself; with a list of mappings, earlier ones win.
fn expand_merge_keys(node: &Node) -> Node {
    let kind = match &node.kind {
        NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(expand_merge_keys).collect()),
        NodeKind::Map(entries) => {
            let mut own: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
            let mut merged: Vec<(Node, Node)> = Vec::new();
            for (key, value) in entries {
                let is_merge = matches!(&key.kind, NodeKind::Scalar(k, true) if k == "<<");
                let sources: Vec<&Node> = match &value.kind {
                    NodeKind::Map(_) if is_merge => vec![value],
                    NodeKind::Seq(items)
                        if is_merge && items.iter().all(|i| i.as_map().is_some()) =>
                    {
                        items.iter().collect()
                    }
                    _ => {
                        own.push((key.clone(), expand_merge_keys(value)));
                        continue;
                    }
                };
                for source in sources {
                    if let NodeKind::Map(from) = expand_merge_keys(source).kind {
                        for (k, v) in from {
                            if !merged.iter().any(|(m, _)| m.as_scalar() == k.as_scalar()) {
                                merged.push((k, v));
                            }
                        }
                    }
                }
            }
            for (k, v) in merged {
                if !own.iter().any(|(o, _)| o.as_scalar() == k.as_scalar()) {
                    own.push((k, v));
                }
            }
            NodeKind::Map(own)
        }
        other => other.clone(),
    };
    Node {
        pos: node.pos,
        kind,
    }
}

/// Names the routes may refer to.
struct Refs<'a> {
    receivers: &'a [String],
    intervals: &'a [String],
}

/// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" the system's
/// zone, anything else an IANA name.
fn time_zone(name: &str) -> Option<TimeZone> {
    match name {
        "" | "UTC" => Some(TimeZone::UTC),
        "Local" => Some(TimeZone::system()),
        _ => TimeZone::get(name).ok(),
    }
}

/// Why `s` is not an http(s) URL with a host (Alertmanager's `URL` type),
/// or `None`.
fn url_problem(s: &str) -> Option<String> {
    if s.chars().any(|c| c.is_control() || c == ' ') {
        return Some(format!(
            "{s:?} is not a valid URL (spaces or control characters)"
        ));
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return Some(format!("unsupported scheme \"\" for URL {s:?}"));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Some(format!("unsupported scheme {scheme:?} for URL"));
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Some("missing host for URL".into());
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.starts_with('[') {
        host.split_once(']')
            .map_or("", |(h, _)| h.trim_start_matches('['))
    } else {
        host.split(':').next().unwrap_or("")
    };
    if host.is_empty() {
        return Some("missing host for URL".into());
    }
    None
}

/// Why `s` is not `host:port` (Go's `net.SplitHostPort`), or `None`.
fn host_port_problem(s: &str) -> Option<&'static str> {
    let port = if let Some(rest) = s.strip_prefix('[') {
        let Some((_, after)) = rest.split_once(']') else {
            return Some("missing ']' in address");
        };
        match after.strip_prefix(':') {
            Some(port) => port,
            None => return Some("missing port in address"),
        }
    } else {
        let Some((host, port)) = s.rsplit_once(':') else {
            return Some("missing port in address");
        };
        if host.contains(':') {
            return Some("too many colons in address");
        }
        port
    };
    if port.is_empty() {
        return Some("missing port in address");
    }
    None
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: `reply-to` becomes `Reply-To`;
/// a key with characters outside a header token is left as it is.
fn canonical_header(key: &str) -> String {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if key.is_empty() || !key.chars().all(token) {
        return key.to_string();
    }
    let mut upper = true;
    key.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations() {
        let ok = |s: &str, secs: i64| {
            assert_eq!(
                parse_prometheus_duration(s),
                Ok(SignedDuration::from_secs(secs)),
                "{s}"
            )
        };
        ok("0", 0);
        ok("0s", 0);
        ok("30s", 30);
        ok("5m", 300);
        ok("1h30m", 5400);
        ok("1d1h", 90_000);
        ok("1w", 604_800);
        ok("1y", 365 * 86_400);
        assert_eq!(
            parse_prometheus_duration("1s500ms"),
            Ok(SignedDuration::from_millis(1500))
        );
        for bad in [
            "", "5x", "30", "1m1h", "1h1h", "-5m", "1.5h", "5 m", "m", "5mm", "1ms1s",
        ] {
            assert!(parse_prometheus_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_prometheus_duration("5x").unwrap_err(),
            "not a valid duration string: \"5x\""
        );
        assert!(parse_prometheus_duration("99999999999y").is_err());
    }

    #[test]
    fn urls_and_addresses() {
        assert_eq!(url_problem("http://127.0.0.1:9099/hook"), None);
        assert_eq!(url_problem("https://user:pw@[::1]:443/x?y#z"), None);
        assert_eq!(
            url_problem("ftp://x/").as_deref(),
            Some("unsupported scheme \"ftp\" for URL")
        );
        assert_eq!(
            url_problem("http:///x").as_deref(),
            Some("missing host for URL")
        );
        assert!(url_problem("localhost:9099").is_some());
        assert!(url_problem("http://a b/").is_some());
        assert_eq!(host_port_problem("smtp.example.com:587"), None);
        assert_eq!(host_port_problem("[::1]:25"), None);
        assert_eq!(host_port_problem("x"), Some("missing port in address"));
        assert_eq!(host_port_problem("x:"), Some("missing port in address"));
    }

    #[test]
    fn header_names_are_canonical() {
        assert_eq!(canonical_header("reply-to"), "Reply-To");
        assert_eq!(canonical_header("SUBJECT"), "Subject");
        assert_eq!(canonical_header("x-custom-id"), "X-Custom-Id");
        assert_eq!(canonical_header("bad key"), "bad key");
    }
}

/// Keys whose values Alertmanager treats as secrets (`<secret>` in its
/// own `/api/v2/status`): passwords, keys, tokens, and URLs that carry one.
const SECRET_KEYS: [&str; 17] = [
    "smtp_auth_password",
    "smtp_auth_secret",
    "auth_password",
    "auth_secret",
    "slack_api_url",
    "api_url",
    "url",
    "routing_key",
    "service_key",
    "password",
    "credentials",
    "bearer_token",
    "api_key",
    "api_secret",
    "token",
    "bot_token",
    "webhook_url",
];

/// `text` (an alertmanager.yml) with the values of secret keys replaced by
/// `<secret>`, as Alertmanager shows its configuration: for
/// `GET /api/v2/status`, which must not hand out routing keys or passwords.
/// Block (`key: value`) and flow (`{key: value, ...}`) mappings are both
/// covered; a key's name in a comment is left alone.
pub fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, eol) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&redact_line(body));
        out.push_str(eol);
    }
    out
}

fn redact_line(line: &str) -> String {
    let code_end = comment_start(line).unwrap_or(line.len());
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    // Bytes before `copied` are in `out`; keys are ASCII, so every cut
    // falls on a character boundary.
    let mut copied = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < code_end {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        let boundary = i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'{' | b',' | b'-');
        let key = SECRET_KEYS.iter().find(|k| {
            boundary
                && bytes[i..code_end].starts_with(k.as_bytes())
                && bytes.get(i + k.len()) == Some(&b':')
        });
        let Some(key) = key else {
            i += 1;
            continue;
        };
        let value_start = i + key.len() + 1;
        // The value ends at the end of the line (block style) or at the
        // next `,` or `}` outside quotes (flow style).
        let mut j = value_start;
        let mut quote = None;
        while j < code_end {
            let b = bytes[j];
            match quote {
                Some(q) if b == q => quote = None,
                Some(_) => {}
                None if b == b'\'' || b == b'"' => quote = Some(b),
                None if depth > 0 && (b == b',' || b == b'}') => break,
                None => {}
            }
            j += 1;
        }
        if line[value_start..j].trim().is_empty() {
            // A mapping follows on the next lines: nothing to hide here.
            i = j;
            continue;
        }
        out.push_str(&line[copied..value_start]);
        out.push_str(" <secret>");
        if j == code_end && code_end < line.len() {
            out.push(' ');
        }
        copied = j;
        i = j;
    }
    out.push_str(&line[copied..]);
    out
}

/// Where a `#` comment starts (outside quotes, after a space or at the
/// start).
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut quote = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') => {
                return Some(i);
            }
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod redact_tests {
    use super::redact_secrets;

    #[test]
    fn secrets_are_replaced_in_block_and_flow_mappings() {
        let text = "global:
  smtp_auth_password: 'hunter2' # the password
  slack_api_url: https://hooks.slack.com/services/T/B/X
  resolve_timeout: 5m
receivers:
  - name: pager
    pagerduty_configs:
      - routing_key: 0123abcd
        severity: critical
      - {routing_key: 'k,ey', send_resolved: false}
    webhook_configs: [{url: 'http://hook/x?token=t', max_alerts: 5}]
# routing_key: in a comment
  - name: é-receiver
";
        let shown = redact_secrets(text);
        for secret in ["hunter2", "hooks.slack.com", "0123abcd", "k,ey", "token=t"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            shown,
            "global:
  smtp_auth_password: <secret> # the password
  slack_api_url: <secret>
  resolve_timeout: 5m
receivers:
  - name: pager
    pagerduty_configs:
      - routing_key: <secret>
        severity: critical
      - {routing_key: <secret>, send_resolved: false}
    webhook_configs: [{url: <secret>, max_alerts: 5}]
# routing_key: in a comment
  - name: é-receiver
"
        );
    }
}
