//! From a schedule's wall clock to instants, with daylight-saving changes
//! made explicit.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

/// The instants at which the wall clock of `tz` shows `dt`, earliest first.
///
/// Usually one (returned twice). In the hour that a fall-back repeats, both
/// times the clock shows it. For a time that a spring-forward skips, the
/// instant the clocks jump: a 02:30 handoff on that night happens at 03:00,
/// the first moment that exists after it. This keeps the mapping from wall
/// clock to instants non-decreasing, which is what lets turns tile time
/// without overlaps. A time beyond what jiff can represent maps to
/// [`Timestamp::MAX`] (never).
pub(crate) fn instants(tz: &TimeZone, dt: DateTime) -> (Timestamp, Timestamp) {
    let never = (Timestamp::MAX, Timestamp::MAX);
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => match offset.to_timestamp(dt) {
            Ok(t) => (t, t),
            Err(_) => never,
        },
        AmbiguousOffset::Fold { before, after } => {
            match (before.to_timestamp(dt), after.to_timestamp(dt)) {
                (Ok(a), Ok(b)) => (a.min(b), a.max(b)),
                _ => never,
            }
        }
        AmbiguousOffset::Gap { after, .. } => {
            // With the offset after the gap, the time lands before the
            // transition; the transition that follows is the jump.
            let Ok(early) = after.to_timestamp(dt) else {
                return never;
            };
            let jump = tz
                .following(early)
                .next()
                .map_or(early, |tr| tr.timestamp());
            (jump, jump)
        }
    }
}

/// The first instant at which the wall clock of `tz` shows `dt`.
pub(crate) fn first_instant(tz: &TimeZone, dt: DateTime) -> Timestamp {
    instants(tz, dt).0
}

/// Seconds since Monday 00:00 on the wall clock of `tz` at `t`.
pub(crate) fn second_of_week(tz: &TimeZone, t: Timestamp) -> i64 {
    let dt = tz.to_datetime(t);
    i64::from(dt.weekday().to_monday_zero_offset()) * 86_400
        + i64::from(dt.hour()) * 3600
        + i64::from(dt.minute()) * 60
        + i64::from(dt.second())
}
