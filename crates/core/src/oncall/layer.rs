//! One layer of a schedule: who it puts on call, turn by turn, and when it
//! is in force at all.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::OnCallError;
use super::zone::{first_instant, instants, second_of_week};

/// Minutes in a week; a [`Window`] lies within one, from Monday 00:00.
pub const WEEK_MINUTES: u32 = 7 * 1440;

/// How long each member's turn lasts, counted on the schedule's wall clock:
/// a daily turn handed off at 09:00 is handed off at 09:00 every day, so the
/// turn that spans a daylight-saving change lasts 23 or 25 hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Turn {
    minutes: i64,
}

impl Turn {
    pub const DAILY: Turn = Turn { minutes: 1440 };
    pub const WEEKLY: Turn = Turn { minutes: 7 * 1440 };
    /// Shorter turns are almost certainly a typo (and would make a year of
    /// shifts needlessly long).
    pub const MIN_MINUTES: i64 = 60;
    pub const MAX_MINUTES: i64 = 366 * 1440;

    pub fn from_minutes(minutes: i64) -> Result<Turn, OnCallError> {
        if !(Self::MIN_MINUTES..=Self::MAX_MINUTES).contains(&minutes) {
            return Err(OnCallError::TurnLength { minutes });
        }
        Ok(Turn { minutes })
    }

    pub fn minutes(self) -> i64 {
        self.minutes
    }
}

/// A stretch of the week, on the schedule's wall clock, in which a layer is
/// in force, as minutes from Monday 00:00: `from < to <= WEEK_MINUTES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    from: u32,
    to: u32,
}

impl Window {
    pub fn new(from: u32, to: u32) -> Result<Window, OnCallError> {
        if to > WEEK_MINUTES || from >= to {
            return Err(OnCallError::Window { from, to });
        }
        Ok(Window { from, to })
    }

    /// The same hours every day of the week, as seven windows; `to` may be
    /// 1440 (midnight at the end of the day).
    pub fn daily(from: u32, to: u32) -> Result<Vec<Window>, OnCallError> {
        if to > 1440 || from >= to {
            return Err(OnCallError::Window { from, to });
        }
        (0..7)
            .map(|day| Window::new(day * 1440 + from, day * 1440 + to))
            .collect()
    }

    pub fn from_minute(self) -> u32 {
        self.from
    }

    pub fn to_minute(self) -> u32 {
        self.to
    }

    pub(crate) fn contains(self, second_of_week: i64) -> bool {
        i64::from(self.from) * 60 <= second_of_week && second_of_week < i64::from(self.to) * 60
    }
}

/// Members taking turns in order, from `start` (the first handoff, on the
/// schedule's wall clock), each for one [`Turn`].
#[derive(Clone, Debug, PartialEq)]
pub struct Rotation {
    start: DateTime,
    end: Option<DateTime>,
    turn: Turn,
    members: Vec<String>,
}

impl Rotation {
    pub fn new(
        start: DateTime,
        turn: Turn,
        members: Vec<String>,
        end: Option<DateTime>,
    ) -> Result<Rotation, OnCallError> {
        if members.is_empty() {
            return Err(OnCallError::NoMembers);
        }
        if let Some(end) = end
            && end <= start
        {
            return Err(OnCallError::EndsBeforeStart {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(Rotation {
            start,
            end,
            turn,
            members,
        })
    }

    pub fn start(&self) -> DateTime {
        self.start
    }

    pub fn end(&self) -> Option<DateTime> {
        self.end
    }

    pub fn turn(&self) -> Turn {
        self.turn
    }

    pub fn members(&self) -> &[String] {
        &self.members
    }

    /// When turn `k` begins (turn 0 at `start`).
    fn boundary(&self, tz: &TimeZone, k: i64) -> Timestamp {
        k.checked_mul(self.turn.minutes)
            .and_then(|m| self.start.checked_add(SignedDuration::from_mins(m)).ok())
            .map_or(Timestamp::MAX, |dt| first_instant(tz, dt))
    }

    fn end_instant(&self, tz: &TimeZone) -> Timestamp {
        self.end.map_or(Timestamp::MAX, |e| first_instant(tz, e))
    }

    /// The turn in progress at `t`, if the rotation runs then.
    pub fn turn_at(&self, tz: &TimeZone, t: Timestamp) -> Option<i64> {
        if t >= self.end_instant(tz) {
            return None;
        }
        self.index_at(tz, t)
    }

    /// The turn that would be in progress at `t` if the rotation had no end.
    fn index_at(&self, tz: &TimeZone, t: Timestamp) -> Option<i64> {
        if t < self.boundary(tz, 0) {
            return None;
        }
        // The wall clock gives the turn to within one; the instants settle it.
        let elapsed = self.start.duration_until(tz.to_datetime(t)).as_mins();
        let mut k = elapsed.div_euclid(self.turn.minutes).max(0);
        while self.boundary(tz, k + 1) <= t {
            k += 1;
        }
        while k > 0 && self.boundary(tz, k) > t {
            k -= 1;
        }
        Some(k)
    }

    /// Who holds turn `k`.
    pub fn member(&self, k: i64) -> &str {
        let n = self.members.len() as i64;
        &self.members[k.rem_euclid(n) as usize]
    }

    /// The span of turn `k`.
    pub fn turn_span(&self, tz: &TimeZone, k: i64) -> (Timestamp, Timestamp) {
        let end = self.boundary(tz, k + 1).min(self.end_instant(tz));
        (self.boundary(tz, k), end)
    }
}

/// A span of time one person covers, as imported from a calendar feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedShift {
    pub person: String,
    pub start: Timestamp,
    pub end: Timestamp,
}

impl FixedShift {
    pub fn new(
        person: String,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<FixedShift, OnCallError> {
        if end <= start {
            return Err(OnCallError::EndsBeforeStart {
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        Ok(FixedShift { person, start, end })
    }
}

/// Who a layer puts on call.
#[derive(Clone, Debug, PartialEq)]
pub enum Coverage {
    Rotation(Rotation),
    /// Fixed shifts (an imported calendar); where several cover an instant,
    /// the one that starts last wins.
    Shifts(Vec<FixedShift>),
}

/// One layer of a schedule. Later layers take precedence over earlier ones
/// wherever they have someone on call.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub name: String,
    pub coverage: Coverage,
    /// When the layer is in force; empty means always.
    pub restrictions: Vec<Window>,
}

impl Layer {
    /// Whom this layer puts on call at `t`.
    pub fn on_call_at(&self, tz: &TimeZone, t: Timestamp) -> Option<&str> {
        if !self.restrictions.is_empty() {
            let s = second_of_week(tz, t);
            if !self.restrictions.iter().any(|w| w.contains(s)) {
                return None;
            }
        }
        match &self.coverage {
            Coverage::Rotation(r) => r.turn_at(tz, t).map(|k| r.member(k)),
            Coverage::Shifts(shifts) => shifts
                .iter()
                .filter(|s| s.start <= t && t < s.end)
                .max_by_key(|s| s.start)
                .map(|s| s.person.as_str()),
        }
    }

    /// Every person this layer can put on call.
    pub fn people(&self) -> Vec<&str> {
        match &self.coverage {
            Coverage::Rotation(r) => r.members.iter().map(String::as_str).collect(),
            Coverage::Shifts(s) => s.iter().map(|s| s.person.as_str()).collect(),
        }
    }

    /// Adds every instant in `(from, until)` at which this layer's answer
    /// may change.
    pub(crate) fn breakpoints(
        &self,
        tz: &TimeZone,
        from: Timestamp,
        until: Timestamp,
        out: &mut Vec<Timestamp>,
    ) {
        let mut push = |t: Timestamp| {
            if from < t && t < until {
                out.push(t);
            }
        };
        match &self.coverage {
            Coverage::Rotation(r) => {
                push(r.end_instant(tz));
                let mut k = r.index_at(tz, from).map_or(0, |k| k + 1);
                loop {
                    let b = r.boundary(tz, k);
                    if b >= until || b >= r.end_instant(tz) {
                        break;
                    }
                    push(b);
                    k += 1;
                }
            }
            Coverage::Shifts(shifts) => {
                for s in shifts {
                    push(s.start);
                    push(s.end);
                }
            }
        }
        if self.restrictions.is_empty() {
            return;
        }
        // Window edges fall on the wall clock; a day either side covers any
        // offset from UTC.
        let last = tz.to_datetime(until).date().tomorrow().unwrap_or(Date::MAX);
        let mut day = tz.to_datetime(from).date().yesterday().unwrap_or(Date::MIN);
        while day <= last {
            let wd = day.weekday().to_monday_zero_offset() as u32;
            for w in &self.restrictions {
                for edge in [w.from % WEEK_MINUTES, w.to % WEEK_MINUTES] {
                    if edge / 1440 == wd {
                        let m = edge % 1440;
                        let dt = day.at((m / 60) as i8, (m % 60) as i8, 0, 0);
                        let (a, b) = instants(tz, dt);
                        push(a);
                        push(b);
                    }
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        // When the clocks go back, the wall clock crosses window edges
        // backwards at the transition itself.
        for tr in tz.following(from) {
            if tr.timestamp() >= until {
                break;
            }
            push(tr.timestamp());
        }
    }
}
