//! Decoding a batch of SLI events (`POST /api/v1/sli/events`).
//!
//! Two readers of one format. The fast one deserializes straight into typed,
//! borrowed events (no `serde_json::Value` tree, SLI names borrowed from the
//! body, repeated timestamps parsed once); it gives up at the first thing it
//! does not like. The careful one reads a `Value` tree and says exactly what
//! is wrong and where (`events[3].good: must be a finite number, zero or
//! more`). A batch that the fast reader refuses is read again by the careful
//! one, so a good batch costs the fast path and a bad one still gets its
//! precise message. A property test checks that both accept the same
//! batches with the same result.

use std::borrow::Cow;
use std::collections::HashMap;

use jiff::Timestamp;
use nines_core::engine::Observation;
use serde::Deserialize;
use serde_json::Value;

use crate::http::ApiError;

/// One event, read and checked, not yet judged by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    pub sli: Cow<'a, str>,
    pub at: Timestamp,
    pub obs: Observation,
}

/// A batch, read and checked.
#[derive(Debug, PartialEq)]
pub struct Batch<'a> {
    pub events: Vec<Event<'a>>,
    /// `idempotency_key` from the body (the header, if any, wins).
    pub key: Option<Cow<'a, str>>,
}

/// Reads a batch: the fast way, else the careful way with its error.
pub fn read(body: &[u8], now: Timestamp, max_events: usize) -> Result<Batch<'_>, ApiError> {
    if let Some(b) = fast(body, now, max_events) {
        return Ok(b);
    }
    careful(body, now, max_events)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastBatch<'a> {
    #[serde(borrow)]
    events: Vec<FastEvent<'a>>,
    #[serde(borrow, default)]
    idempotency_key: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastEvent<'a> {
    #[serde(borrow)]
    sli: Cow<'a, str>,
    #[serde(borrow, default)]
    timestamp: Option<FastTime<'a>>,
    #[serde(default)]
    good: Option<f64>,
    #[serde(default)]
    bad: Option<f64>,
    #[serde(default)]
    total: Option<f64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    value: Option<f64>,
}

/// A timestamp as sent: RFC 3339 text or Unix seconds.
enum FastTime<'a> {
    Text(Cow<'a, str>),
    Seconds(f64),
}

impl<'de: 'a, 'a> Deserialize<'de> for FastTime<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FastTime<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 string or Unix seconds")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(FastTime::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(FastTime::Text(Cow::Owned(v.to_owned())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(FastTime::Seconds(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(FastTime::Seconds(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(FastTime::Seconds(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// Unix seconds as a timestamp, as both readers take them.
fn from_seconds(x: f64) -> Option<Timestamp> {
    if !x.is_finite() {
        return None;
    }
    Timestamp::from_millisecond((x * 1000.0) as i64).ok()
}

/// The observation the fields make, or why not (the careful reader's
/// words; the fast one only needs to know that something is wrong).
fn judge_fields(
    good: Option<f64>,
    bad: Option<f64>,
    total: Option<f64>,
    success: Option<bool>,
    value: Option<f64>,
) -> Result<Observation, (&'static str, String)> {
    let forms = [
        total.is_some() || good.is_some() || bad.is_some(),
        success.is_some(),
        value.is_some(),
    ];
    if forms.iter().filter(|f| **f).count() != 1 {
        return Err((
            "",
            "give exactly one of: good (or bad) with total, success, or value".to_owned(),
        ));
    }
    if let Some(ok) = success {
        return Ok(Observation::Success(ok));
    }
    if let Some(v) = value {
        return Ok(Observation::Value(v));
    }
    let total = total.ok_or(("total", "is required with good or bad".to_owned()))?;
    let good = match (good, bad) {
        (Some(_), Some(_)) => return Err(("", "give good or bad, not both".to_owned())),
        (Some(g), None) => g,
        (None, Some(b)) => {
            if b > total {
                return Err(("bad", format!("{b} is more than total {total}")));
            }
            total - b
        }
        (None, None) => return Err(("", "give good or bad with total".to_owned())),
    };
    if good > total {
        return Err(("good", format!("{good} is more than total {total}")));
    }
    Ok(Observation::Counts { good, total })
}

fn fast(body: &[u8], now: Timestamp, max_events: usize) -> Option<Batch<'_>> {
    let b: FastBatch<'_> = serde_json::from_slice(body).ok()?;
    if b.events.len() > max_events {
        return None;
    }
    let count = |x: Option<f64>| match x {
        Some(v) if !(v.is_finite() && v >= 0.0) => None,
        v => Some(v),
    };
    // Senders stamp many events alike: parse each distinct text once.
    let mut times: HashMap<&str, Timestamp> = HashMap::new();
    let mut events = Vec::with_capacity(b.events.len());
    for e in &b.events {
        let obs = judge_fields(
            count(e.good)?,
            count(e.bad)?,
            count(e.total)?,
            e.success,
            match e.value {
                Some(v) if !v.is_finite() => return None,
                v => v,
            },
        )
        .ok()?;
        let at = match &e.timestamp {
            None => now,
            Some(FastTime::Seconds(x)) => from_seconds(*x)?,
            Some(FastTime::Text(t)) => match times.get(t.as_ref()) {
                Some(at) => *at,
                None => {
                    let at: Timestamp = t.parse().ok()?;
                    if let Cow::Borrowed(s) = t {
                        times.insert(s, at);
                    }
                    at
                }
            },
        };
        events.push(Event {
            sli: e.sli.clone(),
            at,
            obs,
        });
    }
    Some(Batch {
        events,
        key: b.idempotency_key,
    })
}

fn field_err(path: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_event", format!("{path}: {message}"))
}

fn number(v: &Value, path: &str) -> Result<Option<f64>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => Err(field_err(path, "must be a finite number, zero or more")),
        },
        _ => Err(field_err(path, "must be a number")),
    }
}

fn timestamp(v: &Value, path: &str, now: Timestamp) -> Result<Timestamp, ApiError> {
    match v {
        Value::Null => Ok(now),
        Value::String(s) => s.parse::<Timestamp>().map_err(|_| {
            field_err(
                path,
                format!("`{s}` is not an RFC 3339 timestamp such as 2026-11-21T10:00:00Z"),
            )
        }),
        Value::Number(n) => n
            .as_f64()
            .and_then(from_seconds)
            .ok_or_else(|| field_err(path, "is not a Unix time in seconds")),
        _ => Err(field_err(
            path,
            "must be an RFC 3339 string or Unix seconds",
        )),
    }
}

/// One event of a batch, in the engine's terms.
fn observation(e: &Value, path: &str) -> Result<Observation, ApiError> {
    let known = [
        "sli",
        "timestamp",
        "good",
        "bad",
        "total",
        "success",
        "value",
    ];
    let Some(map) = e.as_object() else {
        return Err(field_err(path, "must be an object"));
    };
    if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(field_err(
            &format!("{path}.{k}"),
            format!("unknown field; an event has {}", known.join(", ")),
        ));
    }
    let get = |k: &str| map.get(k).unwrap_or(&Value::Null);
    let good = number(get("good"), &format!("{path}.good"))?;
    let bad = number(get("bad"), &format!("{path}.bad"))?;
    let total = number(get("total"), &format!("{path}.total"))?;
    let value = match get("value") {
        Value::Null => None,
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() => Some(x),
            _ => {
                return Err(field_err(
                    &format!("{path}.value"),
                    "must be a finite number",
                ));
            }
        },
        _ => return Err(field_err(&format!("{path}.value"), "must be a number")),
    };
    let success = match get("success") {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        _ => {
            return Err(field_err(
                &format!("{path}.success"),
                "must be true or false",
            ));
        }
    };
    judge_fields(good, bad, total, success, value).map_err(|(field, message)| {
        if field.is_empty() {
            field_err(path, message)
        } else {
            field_err(&format!("{path}.{field}"), message)
        }
    })
}

fn careful(body: &[u8], now: Timestamp, max_events: usize) -> Result<Batch<'static>, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
    })?;
    let Some(obj) = doc.as_object() else {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "the body must be an object with `events`",
        ));
    };
    if let Some(k) = obj
        .keys()
        .find(|k| !["events", "idempotency_key"].contains(&k.as_str()))
    {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("unknown field `{k}`; a batch has `events` and an optional `idempotency_key`"),
        ));
    }
    let key = match obj.get("idempotency_key") {
        Some(Value::String(s)) => Some(Cow::Owned(s.clone())),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_batch",
                "idempotency_key must be a string",
            ));
        }
    };
    let Some(list) = obj.get("events").and_then(Value::as_array) else {
        return Err(ApiError::bad_request(
            "invalid_batch",
            "`events` must be a list of events",
        ));
    };
    if list.len() > max_events {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!(
                "{} events in one batch; at most {max_events}: split it",
                list.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(list.len());
    for (i, e) in list.iter().enumerate() {
        let path = format!("events[{i}]");
        let obs = observation(e, &path)?;
        let sli = match e.get("sli") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(field_err(
                    &format!("{path}.sli"),
                    "must be the name of an SLI",
                ));
            }
        };
        let at = timestamp(
            e.get("timestamp").unwrap_or(&Value::Null),
            &format!("{path}.timestamp"),
            now,
        )?;
        events.push(Event {
            sli: Cow::Owned(sli),
            at,
            obs,
        });
    }
    Ok(Batch { events, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> Timestamp {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    /// A JSON value for one field of an event: right, wrong or absent.
    fn field() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            3 => Just(None),
            1 => Just(Some(Value::Null)),
            3 => (0u32..200).prop_map(|n| Some(serde_json::json!(n))),
            1 => (-5.0f64..5.0).prop_map(|x| Some(serde_json::json!(x))),
            1 => Just(Some(serde_json::json!("7"))),
            1 => any::<bool>().prop_map(|b| Some(serde_json::json!(b))),
        ]
    }

    fn time() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            2 => Just(None),
            1 => Just(Some(Value::Null)),
            2 => Just(Some(serde_json::json!("2026-12-01T09:59:00Z"))),
            1 => Just(Some(serde_json::json!("2026-12-01T09:58:30.5+01:00"))),
            1 => Just(Some(serde_json::json!("yesterday"))),
            1 => Just(Some(serde_json::json!(1_796_119_000))),
            1 => Just(Some(serde_json::json!(1_796_119_000.25))),
            1 => Just(Some(serde_json::json!(true))),
        ]
    }

    fn event() -> impl Strategy<Value = Value> {
        (
            prop_oneof![
                Just(Some(serde_json::json!("requests"))),
                Just(Some(serde_json::json!("a\\\"b"))),
                Just(None),
                Just(Some(serde_json::json!(3)))
            ],
            time(),
            (field(), field(), field(), field(), field()),
            prop::bool::weighted(0.05),
        )
            .prop_map(|(sli, ts, (good, bad, total, success, value), extra)| {
                let mut m = serde_json::Map::new();
                for (k, v) in [
                    ("sli", sli),
                    ("timestamp", ts),
                    ("good", good),
                    ("bad", bad),
                    ("total", total),
                    ("success", success),
                    ("value", value),
                ] {
                    if let Some(v) = v {
                        m.insert(k.to_owned(), v);
                    }
                }
                if extra {
                    m.insert("extra".to_owned(), Value::Null);
                }
                Value::Object(m)
            })
    }

    proptest! {
        /// The fast reader accepts only what the careful one accepts, and
        /// reads it the same.
        #[test]
        fn the_fast_reader_agrees_with_the_careful_one(
            events in prop::collection::vec(event(), 0..6),
            key in prop_oneof![Just(None), Just(Some(serde_json::json!("k-1"))), Just(Some(serde_json::json!(5)))],
        ) {
            let mut doc = serde_json::json!({"events": events});
            if let Some(k) = key {
                doc["idempotency_key"] = k;
            }
            let body = serde_json::to_vec(&doc).unwrap();
            let slow = careful(&body, now(), 100).map_err(|e| e.message);
            // Refused by the fast reader, a batch goes to the careful one,
            // which may still accept it; accepted, both read it the same.
            if let Some(f) = fast(&body, now(), 100) {
                prop_assert_eq!(Ok(f), slow);
            }
        }
    }

    #[test]
    fn a_good_batch_takes_the_fast_way_and_a_bad_one_gets_its_field_named() {
        let body = br#"{"events":[{"sli":"requests","good":9,"total":10,"timestamp":"2026-12-01T09:59:00Z"},{"sli":"requests","success":true,"timestamp":"2026-12-01T09:59:00Z"}],"idempotency_key":"b-1"}"#;
        let b = fast(body, now(), 10).expect("fast");
        assert_eq!(b.events.len(), 2);
        assert!(matches!(b.events[0].sli, Cow::Borrowed("requests")));
        assert_eq!(
            b.events[1].at,
            "2026-12-01T09:59:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(b.key.as_deref(), Some("b-1"));
        let bad = br#"{"events":[{"sli":"requests","good":9,"total":10},{"sli":"requests","good":-1,"total":10}]}"#;
        assert!(fast(bad, now(), 10).is_none());
        let err = read(bad, now(), 10).unwrap_err().message;
        assert!(
            err.contains("events[1].good: must be a finite number, zero or more"),
            "{err}"
        );
        let over = br#"{"events":[{"sli":"requests","good":11,"total":10}]}"#;
        let err = read(over, now(), 10).unwrap_err().message;
        assert!(
            err.contains("events[0].good: 11 is more than total 10"),
            "{err}"
        );
    }
}
