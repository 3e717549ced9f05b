//! Support hours: the stretches of the week, on a zone's wall clock, in
//! which a service's low-urgency incidents may notify anyone (PagerDuty's
//! support hours). Outside them a low-urgency notification waits; a
//! high-urgency one never does.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::Window;
use super::escalation::EscalationError;
use super::layer::WEEK_MINUTES;
use super::zone::{instants, second_of_week};

/// When a service is supported: windows of the week on the wall clock of
/// one zone. Never empty.
#[derive(Clone, Debug, PartialEq)]
pub struct SupportHours {
    zone: TimeZone,
    zone_name: String,
    windows: Vec<Window>,
}

impl SupportHours {
    /// `zone_name` is the IANA name `zone` was read from, kept for display.
    pub fn new(
        zone: TimeZone,
        zone_name: impl Into<String>,
        windows: Vec<Window>,
    ) -> Result<SupportHours, EscalationError> {
        if windows.is_empty() {
            return Err(EscalationError::NoSupportHours);
        }
        Ok(SupportHours {
            zone,
            zone_name: zone_name.into(),
            windows,
        })
    }

    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    pub fn windows(&self) -> &[Window] {
        &self.windows
    }

    /// Whether `t` falls inside support hours.
    pub fn contains(&self, t: Timestamp) -> bool {
        let s = second_of_week(&self.zone, t);
        self.windows.iter().any(|w| w.contains(s))
    }

    /// The first instant at or after `t` inside support hours: `t` itself
    /// when it is inside.
    ///
    /// Support hours begin when the wall clock reaches the start of a
    /// window, or when a daylight-saving change makes it jump into one (a
    /// window from 02:30 on the night the clocks go from 02:00 to 03:00
    /// begins at the jump). Both kinds of instant are looked at over the
    /// next two weeks, which is more than any weekly window needs.
    pub fn next_in_support_hours(&self, t: Timestamp) -> Timestamp {
        if self.contains(t) {
            return t;
        }
        let mut best = Timestamp::MAX;
        let consider = |best: &mut Timestamp, c: Timestamp| {
            if c > t && c < *best && self.contains(c) {
                *best = c;
            }
        };
        // A day before covers any offset from UTC.
        let mut day = self
            .zone
            .to_datetime(t)
            .date()
            .yesterday()
            .unwrap_or(Date::MIN);
        for _ in 0..16 {
            let weekday = day.weekday().to_monday_zero_offset() as u32;
            for w in &self.windows {
                let edge = w.from_minute() % WEEK_MINUTES;
                if edge / 1440 != weekday {
                    continue;
                }
                let m = edge % 1440;
                let (a, b) = instants(&self.zone, day.at((m / 60) as i8, (m % 60) as i8, 0, 0));
                consider(&mut best, a);
                consider(&mut best, b);
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        for tr in self.zone.following(t).take(64) {
            let c = tr.timestamp();
            if c >= best {
                break;
            }
            consider(&mut best, c);
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Monday to Friday, `from` to `to` (minutes of the day), in `zone`.
    fn weekdays(zone: &str, from: u32, to: u32) -> SupportHours {
        let days = Window::daily(from, to).unwrap();
        SupportHours::new(TimeZone::get(zone).unwrap(), zone, days[..5].to_vec()).unwrap()
    }

    #[test]
    fn inside_support_hours_nothing_waits() {
        let h = weekdays("Europe/Paris", 9 * 60, 18 * 60);
        // Tuesday 6 January 2026, 10:00 in Paris (+01:00).
        let t = ts("2026-01-06T09:00:00Z");
        assert!(h.contains(t));
        assert_eq!(h.next_in_support_hours(t), t);
        // 18:00 is the end: outside.
        assert!(!h.contains(ts("2026-01-06T17:00:00Z")));
        assert_eq!(
            h.next_in_support_hours(ts("2026-01-06T17:00:00Z")),
            ts("2026-01-07T08:00:00Z")
        );
    }

    #[test]
    fn a_friday_evening_waits_for_monday_across_the_spring_change() {
        // Paris goes from +01:00 to +02:00 on Sunday 29 March 2026: Friday
        // 19:00 is 18:00Z, and Monday 09:00 is 07:00Z, not 08:00Z.
        let h = weekdays("Europe/Paris", 9 * 60, 18 * 60);
        assert_eq!(
            h.next_in_support_hours(ts("2026-03-27T18:00:00Z")),
            ts("2026-03-30T07:00:00Z")
        );
        // And back at +01:00 after 25 October 2026: Friday 23 October 20:00
        // (18:00Z) waits for Monday 26 October 09:00, 08:00Z.
        assert_eq!(
            h.next_in_support_hours(ts("2026-10-23T18:00:00Z")),
            ts("2026-10-26T08:00:00Z")
        );
    }

    #[test]
    fn hours_that_start_in_a_skipped_hour_start_at_the_jump() {
        // Every day from 02:30 to 04:00; on 29 March 2026 the Paris clocks
        // jump from 02:00 to 03:00 (01:00Z): support hours begin at the
        // jump, 03:00 local.
        let windows = Window::daily(150, 240).unwrap();
        let h = SupportHours::new(
            TimeZone::get("Europe/Paris").unwrap(),
            "Europe/Paris",
            windows,
        )
        .unwrap();
        assert_eq!(
            h.next_in_support_hours(ts("2026-03-29T00:30:00Z")),
            ts("2026-03-29T01:00:00Z")
        );
        // The day before, 02:30 is 01:30Z.
        assert_eq!(
            h.next_in_support_hours(ts("2026-03-27T23:00:00Z")),
            ts("2026-03-28T01:30:00Z")
        );
    }

    #[test]
    fn hours_in_a_repeated_hour_start_the_first_time_the_clock_shows_them() {
        // On 25 October 2026 Paris shows 02:00-03:00 twice (00:00Z-01:00Z at
        // +02:00, then 01:00Z-02:00Z at +01:00). Hours from 02:30 begin at
        // the first 02:30, 00:30Z, and are over (04:00 local) at 03:00Z.
        let windows = Window::daily(150, 240).unwrap();
        let h = SupportHours::new(
            TimeZone::get("Europe/Paris").unwrap(),
            "Europe/Paris",
            windows,
        )
        .unwrap();
        assert_eq!(
            h.next_in_support_hours(ts("2026-10-24T22:00:00Z")),
            ts("2026-10-25T00:30:00Z")
        );
        assert!(h.contains(ts("2026-10-25T02:59:00Z")));
        assert!(!h.contains(ts("2026-10-25T03:00:00Z")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]

        /// The answer is inside support hours, and no minute before it (from
        /// `t`) is.
        #[test]
        fn the_next_instant_is_the_first_one_inside(
            ws in proptest::collection::vec((0u32..WEEK_MINUTES / 15, 1u32..100), 1..4),
            start_min in 0i64..366 * 1440,
        ) {
            let windows: Vec<Window> = ws
                .into_iter()
                .filter_map(|(from, len)| {
                    let from = from * 15;
                    Window::new(from, (from + len * 15).min(WEEK_MINUTES)).ok()
                })
                .collect();
            let h = SupportHours::new(TimeZone::get("Europe/Paris").unwrap(), "Europe/Paris", windows)
                .unwrap();
            let t = ts("2026-01-01T00:00:00Z") + jiff::SignedDuration::from_mins(start_min);
            let next = h.next_in_support_hours(t);
            proptest::prop_assert!(next >= t);
            proptest::prop_assert!(next < Timestamp::MAX);
            proptest::prop_assert!(h.contains(next));
            let mut m = t;
            while m < next {
                proptest::prop_assert!(!h.contains(m), "{} is inside, before {}", m, next);
                m += jiff::SignedDuration::from_mins(1);
            }
        }
    }

    #[test]
    fn empty_support_hours_cannot_be_built() {
        assert_eq!(
            SupportHours::new(TimeZone::UTC, "UTC", Vec::new()),
            Err(EscalationError::NoSupportHours)
        );
    }
}
