//! Recurrence rules (RFC 5545 `RRULE`), the subset a calendar of
//! maintenance windows or rotations needs, on the wall clock of a time zone.
//!
//! Supported: `FREQ` (DAILY, WEEKLY, MONTHLY, YEARLY), `INTERVAL`, `COUNT`,
//! `UNTIL`, `BYMONTH`, `BYMONTHDAY` (negative counts from the month's end),
//! `BYDAY` (with an ordinal such as `-1SU` in MONTHLY and YEARLY rules),
//! `BYHOUR`, `BYMINUTE`, `WKST`. Anything else is refused by name rather
//! than ignored, so a rule never means less than it says.
//!
//! Occurrences are computed on local dates and times in the rule's zone
//! (`DTSTART` gives the time of day when `BYHOUR`/`BYMINUTE` do not), so
//! "every Sunday 02:00 Europe/Paris" stays at 02:00 local across daylight
//! saving. A local time that does not exist (the spring-forward gap) is
//! taken with the offset before the gap, which moves it forward by the
//! gap's length, and an ambiguous one (the autumn fold) is its first
//! instant: RFC 5545 section 3.3.5. Occurrences before `DTSTART` are not
//! part of the set; `DTSTART` itself is, only if the rule produces it.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// Why a rule is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurError {
    #[error("the rule is empty: write e.g. FREQ=WEEKLY;BYDAY=SU")]
    Empty,
    #[error("`{0}` is not NAME=VALUE: write parts such as FREQ=WEEKLY;BYDAY=SU separated by `;`")]
    Part(String),
    #[error("FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)")]
    NoFreq,
    #[error("FREQ={0} is not supported: use DAILY, WEEKLY, MONTHLY or YEARLY")]
    Freq(String),
    #[error("{name} appears twice")]
    Repeated { name: String },
    #[error("{name}={value} is not valid: {why}")]
    Value {
        name: String,
        value: String,
        why: String,
    },
    #[error("{0} is not supported by nines' recurrence rules")]
    Unsupported(String),
    #[error("COUNT and UNTIL cannot both be given")]
    CountAndUntil,
    #[error("BYDAY with a position (like {0}) is only allowed with FREQ=MONTHLY or FREQ=YEARLY")]
    PositionalDay(String),
    #[error("BYMONTHDAY is not allowed with FREQ=WEEKLY")]
    MonthDayWeekly,
    #[error("the rule never occurs from {0} on")]
    Never(String),
}

/// When a rule stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// An instant (`UNTIL=20261231T230000Z`).
    Instant(Timestamp),
    /// A local date or date-time in the rule's zone (`UNTIL=20261231`).
    Local(DateTime),
}

/// A parsed `RRULE` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub freq: Freq,
    pub interval: u32,
    pub count: Option<u32>,
    pub until: Option<Until>,
    pub by_month: Vec<i8>,
    pub by_month_day: Vec<i8>,
    /// `(position, weekday)`: `-1SU` is `(Some(-1), Sunday)`.
    pub by_day: Vec<(Option<i8>, Weekday)>,
    pub by_hour: Vec<i8>,
    pub by_minute: Vec<i8>,
    pub week_start: Weekday,
    /// The rule as written, for display and storage.
    pub text: String,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

fn list(name: &str, value: &str, lo: i8, hi: i8, zero: bool) -> Result<Vec<i8>, RecurError> {
    let bad = |why: String| RecurError::Value {
        name: name.to_owned(),
        value: value.to_owned(),
        why,
    };
    let mut out = Vec::new();
    for part in value.split(',') {
        let n: i8 = part
            .trim()
            .parse()
            .map_err(|_| bad(format!("`{part}` is not a number")))?;
        if n < lo || n > hi || (n == 0 && !zero) {
            let range = if lo < 0 {
                format!("{lo} to {hi}, not 0")
            } else {
                format!("{lo} to {hi}")
            };
            return Err(bad(format!("{n} is out of range ({range})")));
        }
        if !out.contains(&n) {
            out.push(n);
        }
    }
    Ok(out)
}

fn parse_until(value: &str) -> Result<Until, RecurError> {
    let bad = || RecurError::Value {
        name: "UNTIL".to_owned(),
        value: value.to_owned(),
        why:
            "write a date (20261231) or a date-time (20261231T230000Z, or without Z for local time)"
                .to_owned(),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (date, time, utc) = match value.split_once('T') {
        None => (value, None, false),
        Some((d, t)) => match t.strip_suffix('Z') {
            Some(t) => (d, Some(t), true),
            None => (d, Some(t), false),
        },
    };
    if date.len() != 8 || !digits(date) {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i16>().map_err(|_| bad());
    let d = Date::new(
        num(&date[..4])?,
        num(&date[4..6])? as i8,
        num(&date[6..])? as i8,
    )
    .map_err(|_| bad())?;
    let t = match time {
        // A date alone includes that whole day.
        None => Time::new(23, 59, 59, 0).map_err(|_| bad())?,
        Some(t) if t.len() == 6 && digits(t) => Time::new(
            num(&t[..2])? as i8,
            num(&t[2..4])? as i8,
            num(&t[4..])? as i8,
            0,
        )
        .map_err(|_| bad())?,
        Some(_) => return Err(bad()),
    };
    let dt = d.to_datetime(t);
    if utc {
        Ok(Until::Instant(
            dt.to_zoned(TimeZone::UTC).map_err(|_| bad())?.timestamp(),
        ))
    } else {
        Ok(Until::Local(dt))
    }
}

impl Rule {
    /// Parses an `RRULE` value (`FREQ=WEEKLY;BYDAY=SU`), with or without
    /// the `RRULE:` prefix. Names are case-insensitive.
    pub fn parse(text: &str) -> Result<Rule, RecurError> {
        let body = text.trim();
        let body = body
            .strip_prefix("RRULE:")
            .or_else(|| body.strip_prefix("rrule:"))
            .unwrap_or(body);
        if body.is_empty() {
            return Err(RecurError::Empty);
        }
        let mut seen: Vec<String> = Vec::new();
        let mut freq = None;
        let mut rule = Rule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            by_month: Vec::new(),
            by_month_day: Vec::new(),
            by_day: Vec::new(),
            by_hour: Vec::new(),
            by_minute: Vec::new(),
            week_start: Weekday::Monday,
            text: body.to_owned(),
        };
        for part in body.split(';').filter(|p| !p.trim().is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| RecurError::Part(part.to_owned()))?;
            let name = name.trim().to_ascii_uppercase();
            let value = value.trim().to_ascii_uppercase();
            if seen.contains(&name) {
                return Err(RecurError::Repeated { name });
            }
            seen.push(name.clone());
            let bad = |why: &str| RecurError::Value {
                name: name.clone(),
                value: value.clone(),
                why: why.to_owned(),
            };
            match name.as_str() {
                "FREQ" => {
                    freq = Some(match value.as_str() {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        _ => return Err(RecurError::Freq(value)),
                    })
                }
                "INTERVAL" => {
                    rule.interval = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| bad("write a whole number from 1 to 1000"))?
                }
                "COUNT" => {
                    rule.count = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| bad("write a whole number of at least 1"))?,
                    )
                }
                "UNTIL" => rule.until = Some(parse_until(&value)?),
                "BYMONTH" => rule.by_month = list(&name, &value, 1, 12, false)?,
                "BYMONTHDAY" => rule.by_month_day = list(&name, &value, -31, 31, false)?,
                "BYHOUR" => rule.by_hour = list(&name, &value, 0, 23, true)?,
                "BYMINUTE" => rule.by_minute = list(&name, &value, 0, 59, true)?,
                "WKST" => {
                    rule.week_start =
                        weekday(&value).ok_or_else(|| bad("write MO, TU, WE, TH, FR, SA or SU"))?
                }
                "BYDAY" => {
                    for d in value.split(',') {
                        let d = d.trim();
                        let split = d.len().saturating_sub(2);
                        let (pos, day) = d.split_at(split);
                        let wd = weekday(day).ok_or_else(|| {
                            bad(&format!("`{d}` is not a day: write MO..SU, optionally after a position such as 1MO or -1SU"))
                        })?;
                        let pos = if pos.is_empty() {
                            None
                        } else {
                            let n: i8 = pos
                                .trim_start_matches('+')
                                .parse()
                                .ok()
                                .filter(|n: &i8| *n != 0 && (-53..=53).contains(n))
                                .ok_or_else(|| {
                                    bad(&format!(
                                        "`{d}`: the position must be 1 to 53 or -1 to -53"
                                    ))
                                })?;
                            Some(n)
                        };
                        if !rule.by_day.contains(&(pos, wd)) {
                            rule.by_day.push((pos, wd));
                        }
                    }
                }
                "BYSECOND" | "BYYEARDAY" | "BYWEEKNO" | "BYSETPOS" | "RSCALE" | "SKIP" => {
                    return Err(RecurError::Unsupported(name));
                }
                _ => return Err(RecurError::Unsupported(format!("the rule part {name}"))),
            }
        }
        rule.freq = freq.ok_or(RecurError::NoFreq)?;
        if rule.count.is_some() && rule.until.is_some() {
            return Err(RecurError::CountAndUntil);
        }
        let positional = matches!(rule.freq, Freq::Monthly | Freq::Yearly);
        if let Some((Some(n), d)) = rule.by_day.iter().find(|(p, _)| p.is_some())
            && !positional
        {
            return Err(RecurError::PositionalDay(format!("{n}{}", day_code(*d))));
        }
        if rule.freq == Freq::Weekly && !rule.by_month_day.is_empty() {
            return Err(RecurError::MonthDayWeekly);
        }
        rule.by_hour.sort_unstable();
        rule.by_minute.sort_unstable();
        Ok(rule)
    }
}

fn day_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Monday => "MO",
        Weekday::Tuesday => "TU",
        Weekday::Wednesday => "WE",
        Weekday::Thursday => "TH",
        Weekday::Friday => "FR",
        Weekday::Saturday => "SA",
        Weekday::Sunday => "SU",
    }
}

/// A rule anchored at a first local date-time in a zone: the recurrence set.
#[derive(Debug, Clone)]
pub struct Recurrence {
    pub rule: Rule,
    pub zone: TimeZone,
    pub start: DateTime,
    start_at: Timestamp,
    until: Option<Timestamp>,
}

/// How far ahead a rule is searched for its next occurrence before it is
/// judged never to occur again: eight of its periods, and at least eight
/// years (a February 29th may be eight years away).
fn horizon_days(rule: &Rule) -> i64 {
    let per = match rule.freq {
        Freq::Daily => 1,
        Freq::Weekly => 7,
        Freq::Monthly => 31,
        Freq::Yearly => 366,
    };
    (i64::from(rule.interval) * per * 8).max(366 * 8 + 2)
}

/// The local instant of `dt` in `zone` (RFC 5545: a gap moves forward, a
/// fold takes the first).
fn instant(zone: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    zone.to_ambiguous_zoned(dt)
        .compatible()
        .ok()
        .map(|z| z.timestamp())
}

impl Recurrence {
    /// Anchors `rule` at `start` (an instant, read on `zone`'s wall clock).
    /// Refuses a rule that never occurs from there.
    pub fn new(rule: Rule, zone: TimeZone, start: Timestamp) -> Result<Recurrence, RecurError> {
        let local = start.to_zoned(zone.clone()).datetime();
        Recurrence::from_local(rule, zone, local)
    }

    /// Anchors `rule` at a local date-time of `zone` (RFC 5545's DTSTART
    /// with a TZID). The wall-clock time is kept as written even when it
    /// does not exist on the first day (a spring-forward gap): later
    /// occurrences are at that time of day.
    pub fn from_local(
        rule: Rule,
        zone: TimeZone,
        local: DateTime,
    ) -> Result<Recurrence, RecurError> {
        // Sub-second precision is not part of a calendar.
        let local = local.with().subsec_nanosecond(0).build().unwrap_or(local);
        let start_at = instant(&zone, local).ok_or_else(|| RecurError::Never(local.to_string()))?;
        let until = match rule.until {
            None => None,
            Some(Until::Instant(t)) => Some(t),
            Some(Until::Local(dt)) => instant(&zone, dt),
        };
        let r = Recurrence {
            rule,
            zone,
            start: local,
            start_at,
            until,
        };
        if r.iter().next().is_none() {
            return Err(RecurError::Never(local.to_string()));
        }
        Ok(r)
    }

    /// The occurrences, in order, from the first.
    pub fn iter(&self) -> Occurrences<'_> {
        Occurrences {
            r: self,
            day: self.start.date(),
            pending: Vec::new(),
            emitted: 0,
            done: false,
        }
    }

    /// The last occurrence starting at or before `t`, and the first after.
    pub fn around(&self, t: Timestamp) -> (Option<Timestamp>, Option<Timestamp>) {
        let mut last = None;
        for s in self.iter() {
            if s > t {
                return (last, Some(s));
            }
            last = Some(s);
        }
        (last, None)
    }

    fn date_matches(&self, d: Date) -> bool {
        let r = &self.rule;
        let s = self.start.date();
        let n = i64::from(r.interval);
        let in_period = match r.freq {
            Freq::Daily => (d - s).get_days().rem_euclid(n as i32) == 0 && d >= s,
            Freq::Weekly => {
                let ws = |x: Date| {
                    let back = x.weekday().since(r.week_start);
                    x.checked_sub(i64::from(back).days()).unwrap_or(x)
                };
                let weeks = (ws(d) - ws(s)).get_days() / 7;
                i64::from(weeks).rem_euclid(n) == 0
            }
            Freq::Monthly => {
                let m = |x: Date| i64::from(x.year()) * 12 + i64::from(x.month());
                (m(d) - m(s)).rem_euclid(n) == 0
            }
            Freq::Yearly => (i64::from(d.year()) - i64::from(s.year())).rem_euclid(n) == 0,
        };
        if !in_period {
            return false;
        }
        if !r.by_month.is_empty() && !r.by_month.contains(&d.month()) {
            return false;
        }
        let last = d.days_in_month();
        if !r.by_month_day.is_empty()
            && !r.by_month_day.iter().any(|&m| {
                if m > 0 {
                    d.day() == m
                } else {
                    i16::from(d.day()) == i16::from(last) + 1 + i16::from(m)
                }
            })
        {
            return false;
        }
        if !r.by_day.is_empty() {
            let in_year = r.freq == Freq::Yearly && r.by_month.is_empty();
            let ok = r.by_day.iter().any(|&(pos, wd)| {
                if d.weekday() != wd {
                    return false;
                }
                let Some(p) = pos else { return true };
                let (nth, from_end) = if in_year {
                    let doy = i32::from(d.day_of_year());
                    let len = i32::from(d.days_in_year());
                    ((doy - 1) / 7 + 1, (len - doy) / 7 + 1)
                } else {
                    let day = i32::from(d.day());
                    ((day - 1) / 7 + 1, (i32::from(last) - day) / 7 + 1)
                };
                if p > 0 {
                    nth == i32::from(p)
                } else {
                    from_end == -i32::from(p)
                }
            });
            if !ok {
                return false;
            }
        }
        // RFC 5545's defaults: a rule with no day part repeats on the
        // start's weekday, day of the month, or day of the year.
        if r.by_day.is_empty() && r.by_month_day.is_empty() {
            match r.freq {
                Freq::Daily => {}
                Freq::Weekly => return d.weekday() == s.weekday(),
                Freq::Monthly => return d.day() == s.day(),
                Freq::Yearly => {
                    return d.day() == s.day()
                        && (!r.by_month.is_empty() || d.month() == s.month());
                }
            }
        }
        true
    }

    fn times_of(&self, d: Date) -> Vec<DateTime> {
        let r = &self.rule;
        let hours = if r.by_hour.is_empty() {
            vec![self.start.hour()]
        } else {
            r.by_hour.clone()
        };
        let minutes = if r.by_minute.is_empty() {
            vec![self.start.minute()]
        } else {
            r.by_minute.clone()
        };
        let mut out = Vec::new();
        for &h in &hours {
            for &m in &minutes {
                if let Ok(t) = Time::new(h, m, self.start.second(), 0) {
                    out.push(d.to_datetime(t));
                }
            }
        }
        out
    }
}

/// The occurrences of a [`Recurrence`], in order.
pub struct Occurrences<'a> {
    r: &'a Recurrence,
    day: Date,
    pending: Vec<Timestamp>,
    emitted: u32,
    done: bool,
}

impl Iterator for Occurrences<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        if self.done {
            return None;
        }
        let horizon = horizon_days(&self.r.rule);
        let mut empty_days = 0;
        while self.pending.is_empty() {
            if empty_days > horizon {
                self.done = true;
                return None;
            }
            let d = self.day;
            self.day = match d.tomorrow() {
                Ok(n) => n,
                Err(_) => {
                    self.done = true;
                    return None;
                }
            };
            if self.r.date_matches(d) {
                let mut ts: Vec<Timestamp> = self
                    .r
                    .times_of(d)
                    .into_iter()
                    .filter_map(|dt| instant(&self.r.zone, dt))
                    .filter(|t| *t >= self.r.start_at)
                    .collect();
                ts.sort_unstable();
                ts.dedup();
                ts.reverse();
                self.pending = ts;
            }
            if self.pending.is_empty() {
                empty_days += 1;
            }
        }
        let t = self.pending.pop()?;
        if self.r.until.is_some_and(|u| t > u)
            || self.r.rule.count.is_some_and(|c| self.emitted >= c)
        {
            self.done = true;
            return None;
        }
        self.emitted += 1;
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris").unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn first(rule: &str, zone: TimeZone, start: &str, n: usize) -> Vec<String> {
        let r = Recurrence::new(Rule::parse(rule).unwrap(), zone, at(start)).unwrap();
        r.iter().take(n).map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_weekly_window_keeps_its_local_hour_across_both_transitions() {
        // Sunday 02:00 Paris. 2026-03-29 is the spring-forward day: 02:00
        // does not exist and becomes 03:00 CEST (01:00Z). 2026-10-25 is the
        // fall-back day: 02:00 happens twice and the first (CEST, 00:00Z)
        // is taken.
        let got = first("FREQ=WEEKLY;BYDAY=SU", paris(), "2026-03-22T01:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-03-22T01:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-04-05T00:00:00Z"
            ]
        );
        let got = first("FREQ=WEEKLY;BYDAY=SU", paris(), "2026-10-18T00:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-10-18T00:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-11-01T01:00:00Z"
            ]
        );
    }

    #[test]
    fn positions_count_from_either_end_of_the_month() {
        // The last Sunday of each month at 03:00 UTC, from January 2026.
        let got = first(
            "FREQ=MONTHLY;BYDAY=-1SU;BYHOUR=3;BYMINUTE=0",
            TimeZone::UTC,
            "2026-01-01T00:00:00Z",
            3,
        );
        assert_eq!(
            got,
            [
                "2026-01-25T03:00:00Z",
                "2026-02-22T03:00:00Z",
                "2026-03-29T03:00:00Z"
            ]
        );
        let got = first(
            "FREQ=MONTHLY;BYDAY=1MO,3MO",
            TimeZone::UTC,
            "2026-11-01T09:30:00Z",
            3,
        );
        assert_eq!(
            got,
            [
                "2026-11-02T09:30:00Z",
                "2026-11-16T09:30:00Z",
                "2026-12-07T09:30:00Z"
            ]
        );
        let got = first(
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            TimeZone::UTC,
            "2026-01-31T22:00:00Z",
            3,
        );
        assert_eq!(
            got,
            [
                "2026-01-31T22:00:00Z",
                "2026-02-28T22:00:00Z",
                "2026-03-31T22:00:00Z"
            ]
        );
    }

    #[test]
    fn defaults_follow_the_start_and_skip_days_that_do_not_exist() {
        // Monthly on the 31st skips the months without one (RFC 5545).
        let got = first("FREQ=MONTHLY", TimeZone::UTC, "2026-01-31T12:00:00Z", 3);
        assert_eq!(
            got,
            [
                "2026-01-31T12:00:00Z",
                "2026-03-31T12:00:00Z",
                "2026-05-31T12:00:00Z"
            ]
        );
        // Every other day across a year boundary.
        let got = first(
            "FREQ=DAILY;INTERVAL=2",
            TimeZone::UTC,
            "2026-12-30T08:00:00Z",
            3,
        );
        assert_eq!(
            got,
            [
                "2026-12-30T08:00:00Z",
                "2027-01-01T08:00:00Z",
                "2027-01-03T08:00:00Z"
            ]
        );
        // Yearly on February 29th: leap years only.
        let got = first("FREQ=YEARLY", TimeZone::UTC, "2028-02-29T00:00:00Z", 2);
        assert_eq!(got, ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]);
        // Every two weeks on Tuesday and Thursday.
        let got = first(
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            TimeZone::UTC,
            "2026-11-17T10:00:00Z",
            4,
        );
        assert_eq!(
            got,
            [
                "2026-11-17T10:00:00Z",
                "2026-11-19T10:00:00Z",
                "2026-12-01T10:00:00Z",
                "2026-12-03T10:00:00Z"
            ]
        );
    }

    #[test]
    fn count_and_until_end_the_set() {
        let got = first(
            "FREQ=DAILY;COUNT=2",
            TimeZone::UTC,
            "2026-01-01T00:00:00Z",
            5,
        );
        assert_eq!(got.len(), 2);
        // UNTIL is inclusive; a local UNTIL is read in the zone.
        let got = first(
            "FREQ=DAILY;UNTIL=20260103T010000",
            paris(),
            "2026-01-01T00:00:00Z",
            5,
        );
        assert_eq!(
            got,
            [
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
                "2026-01-03T00:00:00Z"
            ]
        );
        let r = Recurrence::new(
            Rule::parse("FREQ=DAILY;BYHOUR=6,18").unwrap(),
            TimeZone::UTC,
            at("2026-01-01T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            r.around(at("2026-01-02T07:00:00Z")),
            (
                Some(at("2026-01-02T06:00:00Z")),
                Some(at("2026-01-02T18:00:00Z"))
            )
        );
        assert_eq!(r.around(at("2026-01-01T00:00:00Z")).0, None);
    }

    #[test]
    fn rules_that_cannot_be_honoured_are_refused_by_name() {
        let never = |rule: &str, start: &str| {
            Recurrence::new(Rule::parse(rule).unwrap(), TimeZone::UTC, at(start)).unwrap_err()
        };
        assert!(matches!(
            never(
                "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                "2026-01-01T00:00:00Z"
            ),
            RecurError::Never(_)
        ));
        assert!(matches!(
            never("FREQ=DAILY;UNTIL=20250101", "2026-01-01T00:00:00Z"),
            RecurError::Never(_)
        ));
        // Every fourth year from 2025 on February 29th: never a leap year.
        assert!(matches!(
            never(
                "FREQ=YEARLY;INTERVAL=4;BYMONTH=2;BYMONTHDAY=29",
                "2025-01-01T00:00:00Z"
            ),
            RecurError::Never(_)
        ));
        let e = |s: &str| Rule::parse(s).unwrap_err().to_string();
        assert_eq!(e(""), "the rule is empty: write e.g. FREQ=WEEKLY;BYDAY=SU");
        assert!(e("BYDAY=SU").contains("FREQ is required"));
        assert!(e("FREQ=HOURLY").contains("not supported"));
        assert!(e("FREQ=WEEKLY;BYSETPOS=1").contains("BYSETPOS"));
        assert!(e("FREQ=WEEKLY;BYDAY=XX").contains("`XX` is not a day"));
        assert!(e("FREQ=WEEKLY;BYDAY=1SU").contains("only allowed with FREQ=MONTHLY"));
        assert!(e("FREQ=DAILY;COUNT=2;UNTIL=20260101").contains("COUNT and UNTIL"));
        assert!(e("FREQ=DAILY;BYHOUR=24").contains("out of range"));
        assert!(e("FREQ=DAILY;FREQ=WEEKLY").contains("appears twice"));
        assert!(e("FREQ=DAILY;UNTIL=2026").contains("write a date"));
        assert!(e("FREQ").contains("is not NAME=VALUE"));
        assert_eq!(
            Rule::parse("rrule:freq=weekly;byday=su").unwrap().freq,
            Freq::Weekly
        );
    }

    proptest::proptest! {
        /// A daily rule at a local hour gives one occurrence per local day,
        /// at that local hour whenever the hour exists, in any zone.
        #[test]
        fn daily_rules_land_on_their_local_hour(
            day in 0i64..3000,
            hour in 0i8..24,
            zone in proptest::sample::select(vec!["Europe/Paris", "America/New_York", "Australia/Sydney", "UTC"]),
        ) {
            let tz = TimeZone::get(zone).unwrap();
            let d = Date::new(2024, 1, 1).unwrap().checked_add(day.days()).unwrap();
            // Anchored at the local hour (DTSTART with a TZID), which may
            // not exist on the first day: an instant in a gap would mean
            // the hour after it, every day.
            let start = d.to_datetime(Time::new(hour, 0, 0, 0).unwrap());
            let r = Recurrence::from_local(Rule::parse("FREQ=DAILY").unwrap(), tz.clone(), start).unwrap();
            let mut prev_date = None;
            for t in r.iter().take(40) {
                let local = t.to_zoned(tz.clone()).datetime();
                if let Some(p) = prev_date {
                    proptest::prop_assert_eq!(local.date(), Date::tomorrow(p).unwrap());
                }
                prev_date = Some(local.date());
                // In a gap the hour moves forward by the gap; otherwise it
                // is the hour asked for.
                let asked = local.date().to_datetime(Time::new(hour, 0, 0, 0).unwrap());
                let gap = matches!(
                    tz.to_ambiguous_zoned(asked).offset(),
                    jiff::tz::AmbiguousOffset::Gap { .. }
                );
                if !gap {
                    proptest::prop_assert_eq!(local.hour(), hour);
                }
            }
        }
    }
}
