//! Prometheus Alertmanager API v2, on the wire as Alertmanager 0.25 speaks
//! it, so Prometheus and amtool talk to nines unchanged.
//!
//! Errors follow Alertmanager's two styles, because its clients decode them:
//! schema errors are `{"code": N, "message": "..."}` with 422 (or 400 for a
//! body that is not JSON), and validation errors are a bare JSON string with
//! 400. nines does better where Alertmanager does not: a batch with any
//! invalid alert is refused whole, a body over the limit is a 413, and
//! deleting an unknown silence is a 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use nines_core::alerting::inhibit::InhibitRule;
use nines_core::alerting::labels::{Fingerprint, LabelSet};
use nines_core::alerting::maintenance::Window;
use nines_core::alerting::matcher::{Matcher, matches_all, parse_matchers};
use nines_core::alerting::model::{AlertInput, Source};
use nines_core::alerting::silence::{Change, Silence};
use serde::Deserialize;
use serde_json::{Value, json};

use super::routing::Routing;
use super::{AlertHub, Held, HubState, service_of};
use crate::serve::AppState;

/// Possible root causes by service (dependency-aware routing).
type Causes = BTreeMap<String, Vec<nines_core::alerting::dependency::CauseAlert>>;

/// An Alertmanager-style error response.
pub struct AmError(StatusCode, Value);

impl IntoResponse for AmError {
    fn into_response(self) -> Response {
        let mut body = self.1.to_string();
        body.push('\n');
        (self.0, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

/// 400 with a bare JSON string, as Alertmanager's handlers answer.
fn invalid(message: impl Into<String>) -> AmError {
    AmError(StatusCode::BAD_REQUEST, Value::String(message.into()))
}

/// A schema error, as Alertmanager's API layer answers.
fn schema(status: StatusCode, code: u32, message: impl Into<String>) -> AmError {
    AmError(status, json!({ "code": code, "message": message.into() }))
}

fn unavailable(e: &nines_store::StoreError) -> AmError {
    tracing::error!(error = %e, "alert store error");
    AmError(
        StatusCode::SERVICE_UNAVAILABLE,
        Value::String(format!(
            "nines could not store this; nothing was acknowledged: {e}"
        )),
    )
}

fn require_json(headers: &HeaderMap) -> Result<(), AmError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let mime = ct.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(schema(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            415,
            format!("unsupported media type {ct:?}, only [application/json] are allowed"),
        ))
    }
}

/// A JSON body as Alertmanager's API layer reads it: 415 unless JSON, 422
/// when empty, 400 when it does not parse. Invalid UTF-8 is replaced, as
/// Alertmanager does, rather than refused.
fn read_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
    what: &str,
    hint: &str,
) -> Result<T, AmError> {
    parse_body(headers, &text_of(body), what, hint)
}

/// A body as text: borrowed when it is UTF-8 (checked a word at a time,
/// faster than the lossy reading), else read lossily (a byte that is not
/// UTF-8 becomes U+FFFD).
fn text_of(body: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(body) {
        Ok(text) => text.into(),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// [`read_body`] of a body already text, into values that may borrow it.
fn parse_body<'a, T: Deserialize<'a>>(
    headers: &HeaderMap,
    text: &'a str,
    what: &str,
    hint: &str,
) -> Result<T, AmError> {
    require_json(headers)?;
    if text.trim().is_empty() {
        return Err(schema(
            StatusCode::UNPROCESSABLE_ENTITY,
            602,
            format!("{what} in body is required"),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        schema(
            StatusCode::BAD_REQUEST,
            400,
            format!("parsing {what} body failed, because {e}{hint}"),
        )
    })
}

/// Alertmanager's date-time: RFC 3339 with milliseconds, in UTC.
pub fn format_time(t: Timestamp) -> String {
    let dt = t.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    format!(
        "{}T{:02}:{:02}:{:02}.{:03}Z",
        dt.date(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.subsec_nanosecond() / 1_000_000
    )
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), in Unix seconds; it and
/// anything before it mean "not set".
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// RFC 3339; like Alertmanager, a time without an offset is read as UTC.
pub fn parse_time(field: &str, s: &str) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!("{field} {s:?} is not a time: use RFC 3339, like 2026-11-21T15:04:05Z")
        })
}

#[derive(Deserialize)]
struct PostableAlert<'a> {
    #[serde(borrow)]
    labels: Option<Pairs<'a>>,
    #[serde(borrow)]
    annotations: Option<Pairs<'a>>,
    #[serde(rename = "startsAt", borrow)]
    starts_at: Option<Text<'a>>,
    #[serde(rename = "endsAt", borrow)]
    ends_at: Option<Text<'a>>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
}

/// A JSON object of strings, its pairs in the order given, borrowed from
/// the body where they need no unescaping (a label set is made from them
/// without a map or a copy of each name and value on the way).
struct Pairs<'a>(Vec<(Text<'a>, Text<'a>)>);

/// A JSON string, borrowed where it can be.
struct Text<'a>(std::borrow::Cow<'a, str>);

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(v.to_owned().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(v.into()))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Pairs<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Pairs<'a>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
                while let Some(pair) = map.next_entry()? {
                    pairs.push(pair);
                }
                Ok(Pairs(pairs))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The last time a request's alerts gave in one field, and what it reads
/// as: the alerts of one request mostly share their `startsAt` (and
/// `endsAt`), so each different text is parsed once.
struct TimeMemo<'a>(Option<(Text<'a>, Option<Timestamp>)>);

impl<'a> TimeMemo<'a> {
    /// The time in `v` (none if absent); Go clients (amtool) send the zero
    /// time for "not set".
    fn read(&mut self, field: &str, v: Option<Text<'a>>) -> Result<Option<Timestamp>, String> {
        let Some(v) = v else { return Ok(None) };
        if let Some((last, t)) = &self.0
            && last.as_ref() == v.as_ref()
        {
            return Ok(*t);
        }
        let t = parse_time(field, v.as_ref())?;
        let t = Some(t).filter(|t| t.as_second() > GO_ZERO_TIME_SECONDS);
        self.0 = Some((v, t));
        Ok(t)
    }
}

/// A URI as Alertmanager's schema checks it: no spaces, valid escapes.
fn valid_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if !(i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit())
                {
                    return false;
                }
                i += 3;
            }
            c if c.is_ascii_whitespace() || c.is_ascii_control() => return false,
            _ => i += 1,
        }
    }
    true
}

/// `POST /api/v2/alerts`.
pub async fn post_alerts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AmError> {
    let text = text_of(&body);
    let posted: Option<Vec<PostableAlert>> =
        parse_body(&headers, &text, "alerts", ": send a JSON array of alerts")?;
    let posted = posted.unwrap_or_default();
    for (i, a) in posted.iter().enumerate() {
        if a.labels.is_none() {
            return Err(schema(
                StatusCode::UNPROCESSABLE_ENTITY,
                602,
                format!("{i}.labels in body is required"),
            ));
        }
        if let Some(u) = &a.generator_url
            && !valid_uri(u)
        {
            return Err(schema(
                StatusCode::UNPROCESSABLE_ENTITY,
                601,
                format!("{i}.generatorURL in body must be of type uri: {u:?}"),
            ));
        }
    }
    let now = state.clock.now();
    let hub = &state.alerts;
    let catalog = &state.current().catalog;
    let mut errors = Vec::new();
    let mut held = Vec::with_capacity(posted.len());
    let (mut starts, mut ends) = (TimeMemo(None), TimeMemo(None));
    for (i, a) in posted.into_iter().enumerate() {
        let mut pairs = a.labels.map(|p| p.0).unwrap_or_default();
        let labels = match LabelSet::from_pairs(&mut pairs) {
            Ok(l) => l,
            Err(e) => {
                errors.push(format!("alert {i}: {e}"));
                continue;
            }
        };
        let (starts_at, ends_at) = match (
            starts.read("startsAt", a.starts_at),
            ends.read("endsAt", a.ends_at),
        ) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(e), _) | (_, Err(e)) => {
                errors.push(format!("alert {i}: {e}"));
                continue;
            }
        };
        let input = AlertInput {
            labels,
            annotations: LabelSet::free_pairs(&mut a.annotations.map(|p| p.0).unwrap_or_default()),
            starts_at,
            ends_at,
            generator_url: a.generator_url.unwrap_or_default(),
            source: Source::Alertmanager,
        };
        match input.into_alert(now, state.routing().resolve_timeout) {
            Ok(alert) => {
                let service = service_of(catalog, &alert.labels);
                held.push(Held::new(alert, service));
            }
            Err(e) => errors.push(format!("alert {i}: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(format!(
            "{}; nothing in this batch was accepted",
            errors.join("; ")
        )));
    }
    let n = held.len();
    hub.submit(held).await.map_err(|e| unavailable(&e))?;
    state.metrics.alerts_received.inc_by(n as u64);
    Ok(StatusCode::OK.into_response())
}

/// Query parameters: `name=value` pairs, `filter` repeated.
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct AlertFilter {
    active: bool,
    silenced: bool,
    inhibited: bool,
    matchers: Vec<Matcher>,
    /// A regular expression over receiver names, anchored.
    receiver: Option<Matcher>,
}

fn parse_bool(name: &str, v: &str) -> Result<bool, AmError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(schema(
            StatusCode::BAD_REQUEST,
            400,
            format!("{name} in query must be of type boolean: {v:?}"),
        )),
    }
}

fn alert_filter(raw: Option<&str>) -> Result<AlertFilter, AmError> {
    let mut f = AlertFilter {
        active: true,
        silenced: true,
        inhibited: true,
        matchers: Vec::new(),
        receiver: None,
    };
    for (k, v) in query_pairs(raw) {
        match k.as_str() {
            "active" => f.active = parse_bool("active", &v)?,
            "silenced" => f.silenced = parse_bool("silenced", &v)?,
            "inhibited" => f.inhibited = parse_bool("inhibited", &v)?,
            "unprocessed" => {
                parse_bool("unprocessed", &v)?;
            }
            "filter" => {
                let ms = parse_matchers(&v).map_err(|e| invalid(e.to_string()))?;
                f.matchers.extend(ms);
            }
            "receiver" => {
                let m = Matcher::new(
                    "receiver",
                    nines_core::alerting::matcher::MatchOp::Regex,
                    v.clone(),
                )
                .map_err(|e| invalid(format!("failed to parse receiver param: {e}")))?;
                f.receiver = Some(m);
            }
            _ => {}
        }
    }
    Ok(f)
}

/// One alert as `GET /api/v2/alerts` shows it, or `None` when filtered out.
fn gettable(
    st: &HubState,
    h: &Held,
    f: &AlertFilter,
    receivers: &[String],
    inhibit: (&[InhibitRule], &[(Fingerprint, &LabelSet)]),
    windows: (&[&Window], &Routing, &Causes),
    now: Timestamp,
) -> Option<Value> {
    let a = &h.alert;
    if a.resolved_at(now) || !matches_all(&f.matchers, &a.labels) {
        return None;
    }
    if let Some(r) = &f.receiver
        && !receivers.iter().any(|n| r.matches(n))
    {
        return None;
    }
    // Silences, then the maintenance windows holding the alert.
    let silenced_by = AlertHub::suppressed_by(st, windows.0, windows.1, h, now);
    let mut inhibited_by: Vec<String> = if inhibit.1.is_empty() {
        Vec::new()
    } else {
        nines_core::alerting::inhibit::inhibited_by(inhibit.0, &a.labels, inhibit.1.iter().copied())
            .into_iter()
            .map(|fp| fp.to_string())
            .collect()
    };
    // Held back by dependency-aware routing: the root causes' alerts.
    for cause in HubState::impacted_by(h, windows.1, windows.2, now) {
        for fp in cause.alerts {
            let fp = fp.to_string();
            if !inhibited_by.contains(&fp) {
                inhibited_by.push(fp);
            }
        }
    }
    let suppressed = !silenced_by.is_empty() || !inhibited_by.is_empty();
    if (!f.silenced && !silenced_by.is_empty())
        || (!f.inhibited && !inhibited_by.is_empty())
        || (!f.active && !suppressed)
    {
        return None;
    }
    Some(json!({
        "annotations": super::map(&a.annotations),
        "endsAt": format_time(a.ends_at),
        "fingerprint": a.fingerprint.to_string(),
        "receivers": receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": format_time(a.starts_at),
        "status": {
            "inhibitedBy": inhibited_by,
            "silencedBy": silenced_by,
            "state": if suppressed { "suppressed" } else { "active" },
        },
        "updatedAt": format_time(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": super::map(&a.labels),
    }))
}

fn json_response(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

/// `GET /api/v2/alerts`.
pub async fn get_alerts(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AmError> {
    let f = alert_filter(raw.as_deref())?;
    let now = state.clock.now();
    let routing = state.routing();
    let mut out: Vec<(u64, Value)> = state.alerts.read(|st| {
        let sources = st.inhibit_sources(&routing.inhibit_rules, now);
        let windows = super::maintenance::active(st, now);
        let causes = st.dependency_causes(&routing, None, now);
        st.alerts
            .iter()
            .filter_map(|(fp, h)| {
                let receivers = routing.receivers(&h.alert.labels, &h.service);
                gettable(
                    st,
                    h,
                    &f,
                    &receivers,
                    (&routing.inhibit_rules, &sources),
                    (&windows, &routing, &causes),
                    now,
                )
                .map(|v| (*fp, v))
            })
            .collect()
    });
    out.sort_by_key(|(fp, _)| *fp);
    Ok(json_response(Value::Array(
        out.into_iter().map(|(_, v)| v).collect(),
    )))
}

/// `GET /api/v2/alerts/groups`.
pub async fn get_groups(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AmError> {
    let f = alert_filter(raw.as_deref())?;
    let now = state.clock.now();
    let routing = state.routing();
    type Shown = (LabelSet, Vec<(u64, Value)>);
    let mut groups: BTreeMap<(String, String), Shown> = BTreeMap::new();
    state.alerts.read(|st| {
        let sources = st.inhibit_sources(&routing.inhibit_rules, now);
        let windows = super::maintenance::active(st, now);
        let causes = st.dependency_causes(&routing, None, now);
        for (fp, h) in &st.alerts {
            for g in routing.groups(&h.alert.labels, &h.service) {
                let receivers = vec![g.receiver.to_string()];
                if let Some(v) = gettable(
                    st,
                    h,
                    &f,
                    &receivers,
                    (&routing.inhibit_rules, &sources),
                    (&windows, &routing, &causes),
                    now,
                ) {
                    groups
                        .entry((g.receiver.to_string(), g.key.to_string()))
                        .or_insert_with(|| (g.labels.clone(), Vec::new()))
                        .1
                        .push((*fp, v));
                }
            }
        }
    });
    let out: Vec<Value> = groups
        .into_iter()
        .map(|((receiver, _), (labels, mut alerts))| {
            alerts.sort_by_key(|(fp, _)| *fp);
            json!({
                "alerts": alerts.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
                "labels": super::map(&labels),
                "receiver": {"name": receiver},
            })
        })
        .collect();
    Ok(json_response(Value::Array(out)))
}

/// `GET /api/v2/receivers`.
pub async fn get_receivers(State(state): State<Arc<AppState>>) -> Response {
    let names = state.routing().receiver_names();
    json_response(Value::Array(
        names.into_iter().map(|n| json!({"name": n})).collect(),
    ))
}

/// `GET /api/v2/status`.
pub async fn get_status(State(state): State<Arc<AppState>>) -> Response {
    let routing = state.routing();
    json_response(json!({
        "cluster": {"name": "", "peers": [], "status": "disabled"},
        "config": {"original": routing.original()},
        "uptime": format_time(state.started_at),
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": concat!("nines-", env!("CARGO_PKG_VERSION")),
        },
    }))
}

#[derive(Deserialize)]
struct ApiMatcher {
    name: Option<String>,
    value: Option<String>,
    #[serde(rename = "isRegex")]
    is_regex: Option<bool>,
    #[serde(rename = "isEqual")]
    is_equal: Option<bool>,
}

#[derive(Deserialize)]
struct PostableSilence {
    id: Option<String>,
    matchers: Option<Vec<ApiMatcher>>,
    #[serde(rename = "startsAt")]
    starts_at: Option<String>,
    #[serde(rename = "endsAt")]
    ends_at: Option<String>,
    #[serde(rename = "createdBy")]
    created_by: Option<String>,
    comment: Option<String>,
}

fn silence_json(s: &Silence, now: Timestamp) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now).as_str()},
        "updatedAt": format_time(s.updated_at),
        "comment": s.comment,
        "createdBy": s.created_by,
        "endsAt": format_time(s.ends_at),
        "matchers": s.matchers.iter().map(|m| json!({
            "isEqual": m.is_equal(), "isRegex": m.is_regex(), "name": m.name, "value": m.value,
        })).collect::<Vec<_>>(),
        "startsAt": format_time(s.starts_at),
    })
}

fn required<T>(v: Option<T>, field: &str) -> Result<T, AmError> {
    v.ok_or_else(|| {
        schema(
            StatusCode::UNPROCESSABLE_ENTITY,
            602,
            format!("{field} in body is required"),
        )
    })
}

/// `POST /api/v2/silences`: create, or update by `id`.
pub async fn post_silences(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AmError> {
    let p: PostableSilence = read_body(&headers, &body, "silence", "")?;
    let api_matchers = required(p.matchers, "matchers")?;
    if api_matchers.is_empty() {
        return Err(schema(
            StatusCode::UNPROCESSABLE_ENTITY,
            612,
            "matchers in body should have at least 1 items",
        ));
    }
    let starts = required(p.starts_at, "startsAt")?;
    let ends = required(p.ends_at, "endsAt")?;
    let created_by = required(p.created_by, "createdBy")?;
    let comment = required(p.comment, "comment")?;
    let mut matchers = Vec::with_capacity(api_matchers.len());
    for (i, m) in api_matchers.into_iter().enumerate() {
        let name = required(m.name, &format!("matchers.{i}.name"))?;
        let value = required(m.value, &format!("matchers.{i}.value"))?;
        let is_regex = required(m.is_regex, &format!("matchers.{i}.isRegex"))?;
        matchers.push(
            Matcher::from_api(name, value, is_regex, m.is_equal.unwrap_or(true))
                .map_err(|e| invalid(format!("silence invalid: invalid label matcher {i}: {e}")))?,
        );
    }
    let starts_at = parse_time("startsAt", &starts).map_err(invalid)?;
    let ends_at = parse_time("endsAt", &ends).map_err(invalid)?;
    let now = state.clock.now();
    let new = Silence {
        id: String::new(),
        matchers,
        starts_at,
        ends_at,
        updated_at: now,
        created_by,
        comment,
    };
    let existing = match p.id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => Some(
            state
                .alerts
                .read(|st| st.silences.get(id).cloned())
                .ok_or_else(|| {
                    AmError(
                        StatusCode::NOT_FOUND,
                        Value::String(format!("silence {id} not found")),
                    )
                })?,
        ),
        None => None,
    };
    let change = Silence::set(existing.as_ref(), new, new_silence_id(), now)
        .map_err(|e| invalid(format!("Failed to create silence: {e}")))?;
    let (id, writes) = match change {
        Change::Put(s) => (s.id.clone(), vec![s]),
        Change::Replace { expired, created } => (created.id.clone(), vec![expired, created]),
    };
    state
        .alerts
        .put_silences(&writes)
        .await
        .map_err(|e| unavailable(&e))?;
    Ok(json_response(json!({ "silenceID": id })))
}

fn new_silence_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn check_uuid(id: &str) -> Result<(), AmError> {
    uuid::Uuid::parse_str(id).map(|_| ()).map_err(|_| {
        schema(
            StatusCode::UNPROCESSABLE_ENTITY,
            601,
            format!("silenceID in path must be of type uuid: {id:?}"),
        )
    })
}

/// `GET /api/v2/silences`.
pub async fn get_silences(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, AmError> {
    let mut matchers = Vec::new();
    for (k, v) in query_pairs(raw.as_deref()) {
        if k == "filter" {
            matchers.extend(parse_matchers(&v).map_err(|e| invalid(e.to_string()))?);
        }
    }
    let now = state.clock.now();
    let mut list: Vec<Silence> = state.alerts.read(|st| {
        st.silences
            .values()
            .filter(|s| {
                // A filter keeps silences that have a matcher equal to each
                // filter matcher's name and value, as Alertmanager does.
                matchers.iter().all(|f| {
                    s.matchers
                        .iter()
                        .any(|m| m.name == f.name && f.matches(&m.value))
                })
            })
            .cloned()
            .collect()
    });
    // Alertmanager's order: active by end, then pending by start, then
    // expired, most recently ended first.
    use nines_core::alerting::silence::SilenceState::*;
    list.sort_by(|a, b| {
        let rank = |s: &Silence| match s.state(now) {
            Active => 0,
            Pending => 1,
            Expired => 2,
        };
        rank(a).cmp(&rank(b)).then_with(|| match a.state(now) {
            Active => a.ends_at.cmp(&b.ends_at),
            Pending => a.starts_at.cmp(&b.starts_at),
            Expired => b.ends_at.cmp(&a.ends_at),
        })
    });
    Ok(json_response(Value::Array(
        list.iter().map(|s| silence_json(s, now)).collect(),
    )))
}

/// `GET /api/v2/silence/{id}`.
pub async fn get_silence(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    check_uuid(&id)?;
    let now = state.clock.now();
    match state.alerts.read(|st| st.silences.get(&id).cloned()) {
        Some(s) => Ok(json_response(silence_json(&s, now))),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires it. Unknown ids are a 404.
pub async fn delete_silence(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, AmError> {
    check_uuid(&id)?;
    let now = state.clock.now();
    let Some(s) = state.alerts.read(|st| st.silences.get(&id).cloned()) else {
        return Err(AmError(
            StatusCode::NOT_FOUND,
            Value::String(format!("silence {id} not found")),
        ));
    };
    let expired = s.expired(now);
    if expired != s {
        state
            .alerts
            .put_silences(&[expired])
            .await
            .map_err(|e| unavailable(&e))?;
    }
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_print_like_alertmanager() {
        let t = parse_time("startsAt", "2026-11-21T15:19:42.095Z").unwrap();
        assert_eq!(format_time(t), "2026-11-21T15:19:42.095Z");
        let no_zone = parse_time("startsAt", "2024-01-01T00:00:00").unwrap();
        assert_eq!(format_time(no_zone), "2024-01-01T00:00:00.000Z");
        let offset = parse_time("startsAt", "2024-01-01T02:00:00+02:00").unwrap();
        assert_eq!(offset, no_zone);
        assert!(
            parse_time("startsAt", "yesterday")
                .unwrap_err()
                .contains("yesterday")
        );
    }

    #[test]
    fn uris_and_queries() {
        assert!(valid_uri("http://prometheus:9090/graph?g0.expr=up%3D%3D0"));
        assert!(valid_uri(""));
        assert!(!valid_uri("not a url %%%"));
        assert!(!valid_uri("http://x/%4"));
        let q = query_pairs(Some(
            "filter=alertname%3D%22Foo%22&filter=a%3Db&active=false&x",
        ));
        assert_eq!(q[0], ("filter".into(), "alertname=\"Foo\"".into()));
        assert_eq!(q[1], ("filter".into(), "a=b".into()));
        assert_eq!(q[2], ("active".into(), "false".into()));
        assert_eq!(percent_decode("a+b%2"), "a b%2");
    }
}
