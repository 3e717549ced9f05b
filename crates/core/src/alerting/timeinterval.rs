//! Named time intervals (`time_intervals`, `mute_time_intervals`) with
//! Alertmanager 0.25's meaning: when a route is muted, or active.
//!
//! Everything is evaluated on the wall clock of the interval's time zone
//! (UTC when none is given), so `09:00`-`17:00` follows the local day across
//! daylight-saving changes, as in Alertmanager. The zone itself is looked up
//! by the caller (the configuration loader): this module reads no files.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Why a part of a time interval is not valid. The messages are
/// Alertmanager's where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeIntervalError {
    #[error("couldn't parse timestamp {0}, invalid format: write HH:MM, from 00:00 to 24:00")]
    Time(String),
    #[error("start time cannot be equal or greater than end time")]
    TimeOrder,
    #[error(
        "{0} is not a valid weekday: write a day name such as monday, or a range such as monday:friday"
    )]
    Weekday(String),
    #[error("start day cannot be before end day")]
    WeekdayOrder,
    #[error(
        "{0} is not a valid day of the month: write 1 to 31, or -1 to -31 counting from the end of the month"
    )]
    DayOfMonth(String),
    #[error("end day must be negative if start day is negative")]
    DayOfMonthSigns,
    #[error("end day {end} is always before start day {begin}")]
    DayOfMonthOrder { begin: i32, end: i32 },
    #[error("{0} is not a valid month: write a month name such as january, or 1 to 12")]
    Month(String),
    #[error("end month {end} is before start month {begin}")]
    MonthOrder { begin: String, end: String },
    #[error("{0} is not a valid year")]
    Year(String),
    #[error("end year {end} is before start year {begin}")]
    YearOrder { begin: i32, end: i32 },
    #[error("couldn't parse range {0}, invalid format")]
    Range(String),
}

/// Minutes of the day, `[start, end)`, 0 to 1440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDayRange {
    start: u16,
    end: u16,
}

impl TimeOfDayRange {
    /// From `start_time` and `end_time` in `HH:MM` (`24:00` allowed as an
    /// end); the start must be before the end.
    pub fn parse(start: &str, end: &str) -> Result<TimeOfDayRange, TimeIntervalError> {
        let start = parse_hhmm(start)?;
        let end = parse_hhmm(end)?;
        if start >= end {
            return Err(TimeIntervalError::TimeOrder);
        }
        Ok(TimeOfDayRange { start, end })
    }

    pub fn start_minute(self) -> u16 {
        self.start
    }

    pub fn end_minute(self) -> u16 {
        self.end
    }

    fn contains(self, minute: u16) -> bool {
        self.start <= minute && minute < self.end
    }
}

/// Alertmanager's `^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)`.
fn parse_hhmm(s: &str) -> Result<u16, TimeIntervalError> {
    let bad = || TimeIntervalError::Time(s.to_string());
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return Err(bad());
    }
    let hours = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
    let minutes = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
    if hours > 23 || minutes > 59 {
        return Err(bad());
    }
    Ok(hours * 60 + minutes)
}

/// Splits `a:b` (or `a`, meaning `a:a`), lowercased, as Alertmanager does.
fn split_range(s: &str) -> Result<(String, String), TimeIntervalError> {
    let lower = s.to_lowercase();
    let mut parts = lower.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), None, _) => Ok((a.to_string(), a.to_string())),
        (Some(a), Some(b), None) => Ok((a.to_string(), b.to_string())),
        _ => Err(TimeIntervalError::Range(lower.clone())),
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Days of the week, inclusive, 0 = Sunday to 6 = Saturday. A range cannot
/// wrap around the week: write `saturday` and `sunday` as two entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayRange {
    begin: u8,
    end: u8,
}

impl WeekdayRange {
    /// `monday`, `monday:friday`; names only, any case.
    pub fn parse(s: &str) -> Result<WeekdayRange, TimeIntervalError> {
        let (a, b) = split_range(s)?;
        let day = |d: &str| {
            WEEKDAYS
                .iter()
                .position(|w| *w == d)
                .map(|i| i as u8)
                .ok_or_else(|| TimeIntervalError::Weekday(d.to_string()))
        };
        let (begin, end) = (day(&a)?, day(&b)?);
        if begin > end {
            return Err(TimeIntervalError::WeekdayOrder);
        }
        Ok(WeekdayRange { begin, end })
    }

    pub fn begin(self) -> u8 {
        self.begin
    }

    pub fn end(self) -> u8 {
        self.end
    }
}

/// Days of the month, inclusive; negative days count from the end of the
/// month (-1 is the last day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOfMonthRange {
    begin: i32,
    end: i32,
}

impl DayOfMonthRange {
    /// `1`, `1:15`, `-1`, `-7:-1`, `25:-1`. Refused like Alertmanager: 0 or
    /// beyond ±31, a negative start with a positive end, and ranges empty in
    /// every month.
    pub fn parse(s: &str) -> Result<DayOfMonthRange, TimeIntervalError> {
        let (a, b) = split_range(s)?;
        let day = |d: &str| {
            d.parse::<i32>()
                .ok()
                .filter(|n| *n != 0 && (-31..=31).contains(n))
                .ok_or_else(|| TimeIntervalError::DayOfMonth(d.to_string()))
        };
        let (begin, end) = (day(&a)?, day(&b)?);
        if begin < 0 && end > 0 {
            return Err(TimeIntervalError::DayOfMonthSigns);
        }
        // With the shortest month (28 days), as Alertmanager checks.
        let at_least = |d: i32| if d < 0 { 28 + d } else { d };
        if at_least(begin) > at_least(end) {
            return Err(TimeIntervalError::DayOfMonthOrder { begin, end });
        }
        Ok(DayOfMonthRange { begin, end })
    }

    pub fn begin(self) -> i32 {
        self.begin
    }

    pub fn end(self) -> i32 {
        self.end
    }

    /// Alertmanager's rule, clamping included: negative days are resolved
    /// against the month's length; a start beyond the month matches nothing.
    fn contains(self, day: i32, days_in_month: i32) -> bool {
        let resolve = |d: i32| if d < 0 { days_in_month + d + 1 } else { d };
        let (begin, end) = (resolve(self.begin), resolve(self.end));
        if begin > days_in_month {
            return false;
        }
        let clamp = |d: i32| d.clamp(-days_in_month, days_in_month);
        clamp(begin) <= day && day <= clamp(end)
    }
}

/// Months, inclusive, 1 = January.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRange {
    begin: u8,
    end: u8,
}

impl MonthRange {
    /// `january`, `1`, `january:march`, `4:6`, any case.
    pub fn parse(s: &str) -> Result<MonthRange, TimeIntervalError> {
        let (a, b) = split_range(s)?;
        // Alertmanager accepts any number here (a month 13 never matches);
        // nines refuses what cannot be a month.
        let month = |m: &str| {
            MONTHS
                .iter()
                .position(|n| *n == m)
                .map(|i| i as u8 + 1)
                .or_else(|| m.parse::<u8>().ok().filter(|n| (1..=12).contains(n)))
                .ok_or_else(|| TimeIntervalError::Month(m.to_string()))
        };
        let (begin, end) = (month(&a)?, month(&b)?);
        if begin > end {
            return Err(TimeIntervalError::MonthOrder {
                begin: MONTHS[usize::from(begin - 1)].to_string(),
                end: MONTHS[usize::from(end - 1)].to_string(),
            });
        }
        Ok(MonthRange { begin, end })
    }

    pub fn begin(self) -> u8 {
        self.begin
    }

    pub fn end(self) -> u8 {
        self.end
    }
}

/// Years, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRange {
    begin: i32,
    end: i32,
}

impl YearRange {
    /// `2024`, `2024:2026`.
    pub fn parse(s: &str) -> Result<YearRange, TimeIntervalError> {
        let (a, b) = split_range(s)?;
        let year = |y: &str| {
            y.parse::<i32>()
                .ok()
                .ok_or_else(|| TimeIntervalError::Year(y.to_string()))
        };
        let (begin, end) = (year(&a)?, year(&b)?);
        if begin > end {
            return Err(TimeIntervalError::YearOrder { begin, end });
        }
        Ok(YearRange { begin, end })
    }

    pub fn begin(self) -> i32 {
        self.begin
    }

    pub fn end(self) -> i32 {
        self.end
    }
}

/// One entry of a named interval (Alertmanager's `timeinterval.TimeInterval`):
/// an instant is inside when every given list has a range containing it. A
/// list that is `None` does not constrain; a list given but empty (`[]`)
/// contains nothing, as in Alertmanager.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeRange {
    pub times: Option<Vec<TimeOfDayRange>>,
    pub weekdays: Option<Vec<WeekdayRange>>,
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    pub months: Option<Vec<MonthRange>>,
    pub years: Option<Vec<YearRange>>,
    /// The zone the other fields are read in; `None` is UTC.
    pub location: Option<TimeZone>,
}

impl TimeRange {
    pub fn contains(&self, at: Timestamp) -> bool {
        let dt: DateTime = match &self.location {
            Some(zone) => zone.to_datetime(at),
            None => TimeZone::UTC.to_datetime(at),
        };
        let minute = dt.hour() as u16 * 60 + dt.minute() as u16;
        let day = i32::from(dt.day());
        let days_in_month = i32::from(dt.date().days_in_month());
        let month = dt.month() as u8;
        let weekday = dt.weekday().to_sunday_zero_offset() as u8;
        let year = i32::from(dt.year());

        fn any<T>(list: &Option<Vec<T>>, f: impl Fn(&T) -> bool) -> bool {
            list.as_ref().is_none_or(|l| l.iter().any(f))
        }
        any(&self.times, |t| t.contains(minute))
            && any(&self.days_of_month, |d| d.contains(day, days_in_month))
            && any(&self.months, |m| m.begin <= month && month <= m.end)
            && any(&self.weekdays, |w| w.begin <= weekday && weekday <= w.end)
            && any(&self.years, |y| y.begin <= year && year <= y.end)
    }
}

/// A named list of time ranges; contains an instant when any range does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeInterval {
    pub name: String,
    pub ranges: Vec<TimeRange>,
}

impl TimeInterval {
    pub fn contains(&self, at: Timestamp) -> bool {
        self.ranges.iter().any(|r| r.contains(at))
    }
}

/// Whether a route's notifications are held back at `at`: when one of its
/// mute intervals contains `at`, or when it has active intervals and none
/// contains `at` (Alertmanager's time-mute and time-active stages). Names not
/// in `intervals` contain nothing (the configuration loader refuses them).
pub fn muted_at(
    mute_time_intervals: &[String],
    active_time_intervals: &[String],
    intervals: &[TimeInterval],
    at: Timestamp,
) -> bool {
    let contains = |name: &String| {
        intervals
            .iter()
            .filter(|i| i.name == *name)
            .any(|i| i.contains(at))
    };
    mute_time_intervals.iter().any(contains)
        || (!active_time_intervals.is_empty() && !active_time_intervals.iter().any(contains))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn paris() -> TimeZone {
        TimeZone::get("Europe/Paris")
            .or_else(|_| TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3"))
            .unwrap()
    }

    fn times(start: &str, end: &str) -> Option<Vec<TimeOfDayRange>> {
        Some(vec![TimeOfDayRange::parse(start, end).unwrap()])
    }

    #[test]
    fn parses_like_alertmanager() {
        let t = TimeOfDayRange::parse("09:30", "24:00").unwrap();
        assert_eq!((t.start_minute(), t.end_minute()), (570, 1440));
        for bad in ["9:30", "24:01", "12:60", "25:00", "ab:cd", "", "12:3"] {
            assert!(TimeOfDayRange::parse(bad, "24:00").is_err(), "{bad}");
        }
        assert_eq!(
            TimeOfDayRange::parse("10:00", "10:00"),
            Err(TimeIntervalError::TimeOrder)
        );

        let w = WeekdayRange::parse("Monday:FRIDAY").unwrap();
        assert_eq!((w.begin(), w.end()), (1, 5));
        assert_eq!(WeekdayRange::parse("sunday").unwrap().begin(), 0);
        assert_eq!(
            WeekdayRange::parse("saturday:sunday"),
            Err(TimeIntervalError::WeekdayOrder)
        );
        assert!(WeekdayRange::parse("1").is_err());
        assert!(WeekdayRange::parse("mon").is_err());
        assert!(matches!(
            WeekdayRange::parse("monday:tuesday:friday"),
            Err(TimeIntervalError::Range(_))
        ));

        let d = DayOfMonthRange::parse("-7:-1").unwrap();
        assert_eq!((d.begin(), d.end()), (-7, -1));
        assert!(DayOfMonthRange::parse("25:-1").is_ok());
        assert!(DayOfMonthRange::parse("0").is_err());
        assert!(DayOfMonthRange::parse("32").is_err());
        assert_eq!(
            DayOfMonthRange::parse("-3:5"),
            Err(TimeIntervalError::DayOfMonthSigns)
        );
        assert_eq!(
            DayOfMonthRange::parse("10:5"),
            Err(TimeIntervalError::DayOfMonthOrder { begin: 10, end: 5 })
        );
        // 28 + (-10) = 18 > 15: empty even in February.
        assert!(DayOfMonthRange::parse("20:-10").is_err());

        let m = MonthRange::parse("March:6").unwrap();
        assert_eq!((m.begin(), m.end()), (3, 6));
        assert_eq!(
            MonthRange::parse("december:january")
                .unwrap_err()
                .to_string(),
            "end month january is before start month december"
        );
        assert!(MonthRange::parse("13").is_err());
        assert!(MonthRange::parse("sept").is_err());

        assert_eq!(YearRange::parse("2024:2026").unwrap().end(), 2026);
        assert!(YearRange::parse("2026:2024").is_err());
        assert!(YearRange::parse("twenty").is_err());
    }

    #[test]
    fn an_empty_range_is_always_and_an_empty_list_never() {
        let always = TimeRange::default();
        assert!(always.contains(ts("2024-05-01T12:00:00Z")));
        let never = TimeRange {
            weekdays: Some(vec![]),
            ..TimeRange::default()
        };
        assert!(!never.contains(ts("2024-05-01T12:00:00Z")));
        assert!(!TimeInterval::default().contains(ts("2024-05-01T12:00:00Z")));
    }

    #[test]
    fn office_hours_in_utc_by_default() {
        let office = TimeRange {
            times: times("09:00", "17:00"),
            weekdays: Some(vec![WeekdayRange::parse("monday:friday").unwrap()]),
            ..TimeRange::default()
        };
        // Wednesday 2024-05-01.
        assert!(office.contains(ts("2024-05-01T09:00:00Z")));
        assert!(office.contains(ts("2024-05-01T16:59:59Z")));
        assert!(!office.contains(ts("2024-05-01T17:00:00Z")));
        assert!(!office.contains(ts("2024-05-01T08:59:59Z")));
        // Saturday.
        assert!(!office.contains(ts("2024-05-04T10:00:00Z")));
    }

    #[test]
    fn spring_forward_in_paris() {
        // 2024-03-31: at 02:00 CET the clocks jump to 03:00 CEST
        // (01:00 UTC). Local 02:00-03:00 does not exist that day.
        let zone = Some(paris());
        let night = TimeRange {
            times: times("02:00", "03:00"),
            location: zone.clone(),
            ..TimeRange::default()
        };
        for t in [
            "2024-03-31T00:59:59Z",
            "2024-03-31T01:00:00Z",
            "2024-03-31T01:30:00Z",
        ] {
            assert!(!night.contains(ts(t)), "{t}");
        }
        // The day before, it is an ordinary hour (01:00-02:00 UTC in CET).
        assert!(night.contains(ts("2024-03-30T01:30:00Z")));

        // 01:00-04:00 local lasts two real hours that night.
        let wide = TimeRange {
            times: times("01:00", "04:00"),
            location: zone,
            ..TimeRange::default()
        };
        assert!(!wide.contains(ts("2024-03-30T23:59:59Z")));
        assert!(wide.contains(ts("2024-03-31T00:00:00Z"))); // 01:00 CET
        assert!(wide.contains(ts("2024-03-31T01:59:59Z"))); // 03:59:59 CEST
        assert!(!wide.contains(ts("2024-03-31T02:00:00Z"))); // 04:00 CEST
    }

    #[test]
    fn fall_back_in_paris() {
        // 2024-10-27: at 03:00 CEST the clocks go back to 02:00 CET, so local
        // 02:00-03:00 happens twice: 00:00-01:00 UTC and 01:00-02:00 UTC.
        let night = TimeRange {
            times: times("02:00", "03:00"),
            weekdays: Some(vec![WeekdayRange::parse("sunday").unwrap()]),
            location: Some(paris()),
            ..TimeRange::default()
        };
        assert!(!night.contains(ts("2024-10-26T23:59:59Z")));
        assert!(night.contains(ts("2024-10-27T00:00:00Z")));
        assert!(night.contains(ts("2024-10-27T01:00:00Z")));
        assert!(night.contains(ts("2024-10-27T01:59:59Z")));
        assert!(!night.contains(ts("2024-10-27T02:00:00Z")));
    }

    #[test]
    fn the_day_is_the_local_day() {
        // Saturday 23:30 UTC is Sunday 00:30 in Paris (winter).
        let sunday = TimeRange {
            weekdays: Some(vec![WeekdayRange::parse("sunday").unwrap()]),
            location: Some(paris()),
            ..TimeRange::default()
        };
        assert!(sunday.contains(ts("2024-03-02T23:30:00Z")));
        assert!(!sunday.contains(ts("2024-03-02T22:30:00Z")));
        let utc_sunday = TimeRange {
            location: None,
            ..sunday.clone()
        };
        assert!(!utc_sunday.contains(ts("2024-03-02T23:30:00Z")));

        // New Year in Paris is still December 31 in UTC.
        let jan_2025 = TimeRange {
            months: Some(vec![MonthRange::parse("january").unwrap()]),
            years: Some(vec![YearRange::parse("2025").unwrap()]),
            location: Some(paris()),
            ..TimeRange::default()
        };
        assert!(jan_2025.contains(ts("2024-12-31T23:30:00Z")));
        assert!(!jan_2025.contains(ts("2024-12-31T22:30:00Z")));
    }

    #[test]
    fn days_of_month_from_the_end_and_clamped() {
        let last = TimeRange {
            days_of_month: Some(vec![DayOfMonthRange::parse("-1").unwrap()]),
            ..TimeRange::default()
        };
        assert!(last.contains(ts("2024-02-29T12:00:00Z"))); // leap year
        assert!(!last.contains(ts("2024-02-28T12:00:00Z")));
        assert!(last.contains(ts("2023-02-28T12:00:00Z")));
        assert!(last.contains(ts("2024-04-30T12:00:00Z")));

        let end_of_month = TimeRange {
            days_of_month: Some(vec![DayOfMonthRange::parse("25:31").unwrap()]),
            ..TimeRange::default()
        };
        assert!(end_of_month.contains(ts("2023-02-28T12:00:00Z")));
        assert!(end_of_month.contains(ts("2023-02-25T00:00:00Z")));
        assert!(!end_of_month.contains(ts("2023-03-01T00:00:00Z")));

        // The 31st does not exist in April: nothing matches.
        let the_31st = TimeRange {
            days_of_month: Some(vec![DayOfMonthRange::parse("31").unwrap()]),
            ..TimeRange::default()
        };
        assert!(!the_31st.contains(ts("2024-04-30T12:00:00Z")));
        assert!(the_31st.contains(ts("2024-05-31T12:00:00Z")));
    }

    #[test]
    fn routes_muted_and_active() {
        let weekend = TimeInterval {
            name: "weekend".into(),
            ranges: vec![TimeRange {
                weekdays: Some(vec![
                    WeekdayRange::parse("saturday").unwrap(),
                    WeekdayRange::parse("sunday").unwrap(),
                ]),
                ..TimeRange::default()
            }],
        };
        let intervals = [weekend];
        let saturday = ts("2024-05-04T10:00:00Z");
        let monday = ts("2024-05-06T10:00:00Z");
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(muted_at(&names(&["weekend"]), &[], &intervals, saturday));
        assert!(!muted_at(&names(&["weekend"]), &[], &intervals, monday));
        assert!(!muted_at(&[], &names(&["weekend"]), &intervals, saturday));
        assert!(muted_at(&[], &names(&["weekend"]), &intervals, monday));
        assert!(!muted_at(&[], &[], &intervals, monday));
    }
}
