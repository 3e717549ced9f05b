//! iCalendar (RFC 5545), the small part of it nines needs: writing on-call
//! shifts as a feed people subscribe to in their calendar app, and reading
//! the events of a feed to import as a schedule layer.
//!
//! Written by hand: a feed of timed events needs a dozen properties, line
//! folding and escaping, which is less code than adapting a general
//! library's model (and keeps chrono out of the build).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// Longest line, in octets, before it is folded (RFC 5545 section 3.1).
const FOLD_AT: usize = 75;

/// One event of a calendar to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Stable across requests, so calendar apps update the event in place.
    pub uid: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub summary: String,
    pub description: Option<String>,
    /// Written as `X-NINES-PERSON`, which an import reads back.
    pub person: Option<String>,
}

/// A whole `VCALENDAR` (CRLF line ends, long lines folded at 75 octets),
/// every time in UTC. `stamp` is when it was generated (`DTSTAMP`).
pub fn write(name: &str, stamp: Timestamp, events: &[Event]) -> String {
    let mut out = String::new();
    let stamp = utc(stamp);
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//nines//on-call schedules//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    line(&mut out, &format!("X-WR-CALNAME:{}", escape(name)));
    for e in events {
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}", escape(&e.uid)));
        line(&mut out, &format!("DTSTAMP:{stamp}"));
        line(&mut out, &format!("DTSTART:{}", utc(e.start)));
        line(&mut out, &format!("DTEND:{}", utc(e.end)));
        line(&mut out, &format!("SUMMARY:{}", escape(&e.summary)));
        if let Some(d) = &e.description {
            line(&mut out, &format!("DESCRIPTION:{}", escape(d)));
        }
        if let Some(p) = &e.person {
            line(&mut out, &format!("X-NINES-PERSON:{}", escape(p)));
        }
        line(&mut out, "TRANSP:TRANSPARENT");
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// TEXT escaping: backslash, semicolon, comma and newlines.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `content` folded into lines of at most 75 octets (a fold is
/// CRLF then a space, and never splits a UTF-8 character).
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        if width + c.len_utf8() > FOLD_AT {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

/// A time as an event gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// UTC (`...Z`), or a local time whose `TZID` was resolved.
    Instant(Timestamp),
    /// Floating local time, or a whole day (`VALUE=DATE`): on the wall clock
    /// of whoever reads it (for an import, the schedule's zone).
    Civil(DateTime),
}

impl Moment {
    pub fn resolve(self, tz: &TimeZone) -> Option<Timestamp> {
        match self {
            Moment::Instant(t) => Some(t),
            Moment::Civil(dt) => tz.to_ambiguous_timestamp(dt).compatible().ok(),
        }
    }
}

/// One event read from a feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadEvent {
    /// The line of its `BEGIN:VEVENT` (unfolded lines count as written).
    pub line: usize,
    pub summary: Option<String>,
    pub person: Option<String>,
    pub start: Moment,
    pub end: Moment,
}

/// A problem in a feed, at a line of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    pub line: usize,
    pub message: String,
}

/// The events of a feed. Recurring events (`RRULE`, `RDATE`) are refused
/// with the line that makes them recur; other components (`VTIMEZONE`,
/// `VTODO`, ...) are skipped, and a `TZID` is looked up in the time zone
/// database by name.
pub fn read(text: &str) -> Result<Vec<ReadEvent>, Vec<ReadError>> {
    let mut errors = Vec::new();
    let mut events = Vec::new();
    let mut current: Option<Draft> = None;
    let mut depth_other = 0usize;
    let mut saw_calendar = false;
    for (line_no, content) in unfold(text) {
        let Some((name, params, value)) = split(&content) else {
            errors.push(ReadError {
                line: line_no,
                message: format!(
                    "`{}` is not an iCalendar content line (NAME:value)",
                    shorten(&content)
                ),
            });
            continue;
        };
        let upper = name.to_ascii_uppercase();
        match (upper.as_str(), value.to_ascii_uppercase().as_str()) {
            ("BEGIN", "VCALENDAR") => {
                saw_calendar = true;
                continue;
            }
            ("END", "VCALENDAR") => continue,
            ("BEGIN", "VEVENT") if current.is_none() && depth_other == 0 => {
                current = Some(Draft::new(line_no));
                continue;
            }
            ("END", "VEVENT") if depth_other == 0 => {
                if let Some(d) = current.take() {
                    match d.finish() {
                        Ok(e) => events.push(e),
                        Err(e) => errors.push(e),
                    }
                }
                continue;
            }
            ("BEGIN", _) => {
                depth_other += 1;
                continue;
            }
            ("END", _) => {
                depth_other = depth_other.saturating_sub(1);
                continue;
            }
            _ => {}
        }
        let Some(d) = current.as_mut() else { continue };
        if depth_other > 0 {
            continue; // a VALARM inside the event
        }
        let result = match upper.as_str() {
            "SUMMARY" => {
                d.summary = Some(unescape(value).trim().to_owned());
                Ok(())
            }
            "X-NINES-PERSON" => {
                d.person = Some(unescape(value).trim().to_owned());
                Ok(())
            }
            "DTSTART" => {
                moment(&params, value).map(|m| d.start = Some((m, is_date(&params, value))))
            }
            "DTEND" => moment(&params, value).map(|m| d.end = Some(m)),
            "DURATION" => duration(value).map(|s| d.duration = Some(s)),
            "RRULE" | "RDATE" => Err(format!(
                "event {upper} (a recurring event) is not supported in an import; expand it into single events, or export the calendar without recurrence"
            )),
            _ => Ok(()),
        };
        if let Err(message) = result {
            errors.push(ReadError {
                line: line_no,
                message,
            });
        }
    }
    if !saw_calendar && errors.is_empty() {
        errors.push(ReadError {
            line: 1,
            message: "no BEGIN:VCALENDAR: this is not an iCalendar file".into(),
        });
    }
    if current.is_some() {
        errors.push(ReadError {
            line: current.map_or(1, |d| d.line),
            message: "this event has no END:VEVENT".into(),
        });
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(errors)
    }
}

struct Draft {
    line: usize,
    summary: Option<String>,
    person: Option<String>,
    start: Option<(Moment, bool)>,
    end: Option<Moment>,
    duration: Option<jiff::SignedDuration>,
}

impl Draft {
    fn new(line: usize) -> Draft {
        Draft {
            line,
            summary: None,
            person: None,
            start: None,
            end: None,
            duration: None,
        }
    }

    fn finish(self) -> Result<ReadEvent, ReadError> {
        let fail = |message: &str| ReadError {
            line: self.line,
            message: message.to_owned(),
        };
        let Some((start, all_day)) = self.start else {
            return Err(fail("this event has no DTSTART"));
        };
        let end = match (self.end, self.duration) {
            (Some(e), _) => e,
            (None, Some(d)) => match start {
                Moment::Instant(t) => {
                    Moment::Instant(t.checked_add(d).map_err(|_| fail("DURATION is too long"))?)
                }
                Moment::Civil(dt) => Moment::Civil(
                    dt.checked_add(d)
                        .map_err(|_| fail("DURATION is too long"))?,
                ),
            },
            // RFC 5545: a whole-day event without an end lasts the day.
            (None, None) if all_day => match start {
                Moment::Civil(dt) => Moment::Civil(
                    dt.checked_add(jiff::SignedDuration::from_hours(24))
                        .map_err(|_| fail("date out of range"))?,
                ),
                m => m,
            },
            (None, None) => {
                return Err(fail(
                    "this event has no DTEND or DURATION, so it lasts no time",
                ));
            }
        };
        Ok(ReadEvent {
            line: self.line,
            summary: self.summary,
            person: self.person,
            start,
            end,
        })
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Content lines with folds undone, each with the line it starts on.
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = out.last_mut()
        {
            last.1.push_str(rest);
            continue;
        }
        if raw.trim().is_empty() {
            continue;
        }
        out.push((i + 1, raw.to_owned()));
    }
    out
}

/// A property's parameters, names upper-cased.
type Params = Vec<(String, String)>;

/// `NAME;P1=v1;P2="v2":value` into its name, parameters and value.
fn split(content: &str) -> Option<(&str, Params, &str)> {
    // The value starts at the first colon outside a quoted parameter value.
    let mut quoted = false;
    let mut colon = None;
    for (i, c) in content.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let (head, value) = (&content[..colon], &content[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let params = parts
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_ascii_uppercase(), v.trim_matches('"').to_owned()))
        .collect();
    Some((name, params, value))
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn param<'p>(params: &'p [(String, String)], key: &str) -> Option<&'p str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn is_date(params: &[(String, String)], value: &str) -> bool {
    param(params, "VALUE").is_some_and(|v| v.eq_ignore_ascii_case("DATE")) || value.len() == 8
}

/// A DATE-TIME or DATE value, with its TZID if any.
fn moment(params: &[(String, String)], value: &str) -> Result<Moment, String> {
    let value = value.trim();
    if is_date(params, value) {
        let d = Date::strptime("%Y%m%d", value)
            .map_err(|_| format!("`{value}` is not a date (YYYYMMDD)"))?;
        return Ok(Moment::Civil(d.to_datetime(jiff::civil::Time::midnight())));
    }
    let (local, is_utc) = match value.strip_suffix(['Z', 'z']) {
        Some(l) => (l, true),
        None => (value, false),
    };
    let dt = DateTime::strptime("%Y%m%dT%H%M%S", local)
        .map_err(|_| format!("`{value}` is not a date-time (YYYYMMDDTHHMMSS, Z for UTC)"))?;
    if is_utc {
        return dt
            .to_zoned(TimeZone::UTC)
            .map(|z| Moment::Instant(z.timestamp()))
            .map_err(|e| e.to_string());
    }
    match param(params, "TZID") {
        Some(tzid) => {
            let name = tzid.trim_start_matches('/');
            let tz = TimeZone::get(name).map_err(|_| {
                format!("unknown time zone `{tzid}` in TZID; nines reads IANA zone names such as Europe/Paris")
            })?;
            tz.to_ambiguous_timestamp(dt)
                .compatible()
                .map(Moment::Instant)
                .map_err(|e| e.to_string())
        }
        None => Ok(Moment::Civil(dt)),
    }
}

/// A DURATION value: `P1D`, `PT12H`, `P1W`, `PT1H30M`, ...
fn duration(value: &str) -> Result<jiff::SignedDuration, String> {
    let bad = || format!("`{value}` is not a duration such as PT12H, P1D or P1W");
    let v = value.trim();
    let v = v.strip_prefix('+').unwrap_or(v);
    if v.starts_with('-') {
        return Err(format!("`{value}`: an event cannot last a negative time"));
    }
    let mut rest = v.strip_prefix('P').ok_or_else(bad)?;
    let mut secs: i64 = 0;
    let mut in_time = false;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('T') {
            in_time = true;
            rest = r;
            continue;
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits >= rest.len() {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        let unit = match (in_time, rest.as_bytes()[digits]) {
            (false, b'W') => 7 * 86_400,
            (false, b'D') => 86_400,
            (true, b'H') => 3600,
            (true, b'M') => 60,
            (true, b'S') => 1,
            _ => return Err(bad()),
        };
        secs = n
            .checked_mul(unit)
            .and_then(|s| s.checked_add(secs))
            .ok_or_else(bad)?;
        rest = &rest[digits + 1..];
    }
    Ok(jiff::SignedDuration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_lines_are_folded_escaped_and_end_in_crlf() {
        let e = Event {
            uid: "primary-1767254400-alice@nines".into(),
            start: "2026-01-01T08:00:00Z".parse().unwrap(),
            end: "2026-01-02T08:00:00Z".parse().unwrap(),
            summary: "On call: alice; payments, primary".into(),
            description: Some(format!("{}\nline two é", "x".repeat(90))),
            person: Some("alice".into()),
        };
        let text = write(
            "payments, primary",
            "2026-01-01T00:00:00Z".parse().unwrap(),
            &[e],
        );
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for l in text.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
            assert!(!l.contains('\n'));
        }
        assert!(text.contains("X-WR-CALNAME:payments\\, primary\r\n"));
        assert!(text.contains("SUMMARY:On call: alice\\; payments\\, primary\r\n"));
        assert!(text.contains("DTSTART:20260101T080000Z\r\n"));
        assert!(text.contains("DTSTAMP:20260101T000000Z\r\n"));
        // Reading it back undoes the folding and escaping.
        let events = read(&text).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].person.as_deref(), Some("alice"));
        assert_eq!(
            events[0].summary.as_deref(),
            Some("On call: alice; payments, primary")
        );
        assert_eq!(
            events[0].start,
            Moment::Instant("2026-01-01T08:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn a_fold_never_splits_a_character() {
        let mut out = String::new();
        line(&mut out, &format!("SUMMARY:{}", "é".repeat(60)));
        for l in out.split("\r\n") {
            assert!(l.len() <= 75);
        }
        assert_eq!(unfold(&out)[0].1, format!("SUMMARY:{}", "é".repeat(60)));
    }

    #[test]
    fn events_are_read_in_every_time_form() {
        let text = "BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n\
BEGIN:VEVENT\r\nSUMMARY:alice\r\nDTSTART;TZID=Europe/Paris:20260329T090000\r\nDURATION:PT12H\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nSUMMARY: bob \r\nDTSTART;VALUE=DATE:20260401\r\nBEGIN:VALARM\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nSUMMARY:carol\r\nDTSTART:20260402T090000\r\nDTEND:20260402T180000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let events = read(text).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(
            events[0].start,
            Moment::Instant("2026-03-29T07:00:00Z".parse().unwrap())
        );
        assert_eq!(
            events[0].end,
            Moment::Instant("2026-03-29T19:00:00Z".parse().unwrap())
        );
        assert_eq!(events[1].summary.as_deref(), Some("bob"));
        assert_eq!(
            events[1].end,
            Moment::Civil("2026-04-02T00:00".parse().unwrap())
        );
        assert_eq!(
            events[2].start,
            Moment::Civil("2026-04-02T09:00".parse().unwrap())
        );
        assert_eq!(events[2].line, 20);
    }

    #[test]
    fn recurring_events_are_refused_at_their_line() {
        let text = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:alice\nDTSTART:20260101T090000Z\nDTEND:20260102T090000Z\nRRULE:FREQ=WEEKLY\nEND:VEVENT\nEND:VCALENDAR\n";
        let errors = read(text).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 6);
        assert!(errors[0].message.contains("RRULE"), "{}", errors[0].message);
    }

    #[test]
    fn broken_events_are_named() {
        let errors = read("BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nDTSTART:2026\nEND:VEVENT\nBEGIN:VEVENT\nDTSTART:20260101T000000Z\nEND:VEVENT\n").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 2, 6], "{errors:?}");
        assert!(read("hello").is_err());
    }
}
