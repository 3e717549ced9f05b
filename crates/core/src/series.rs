//! SLI data as one-minute buckets, summed over any window without a rescan
//! of raw events.
//!
//! Buckets are grouped by hour: each hour keeps its total, and its sixty
//! minutes only once data arrives in it. A window sum adds whole hours and
//! the minutes at its two edges, so a 28-day window costs about 670
//! additions however much traffic it saw, and late data costs one update of
//! its minute and of its hour.

use std::collections::VecDeque;

/// Good and total events (or time) counted over some span.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    pub good: f64,
    pub total: f64,
}

impl Counts {
    pub const ZERO: Counts = Counts {
        good: 0.0,
        total: 0.0,
    };

    pub fn new(good: f64, total: f64) -> Counts {
        Counts { good, total }
    }

    pub fn bad(self) -> f64 {
        self.total - self.good
    }

    /// The share of good events, or `None` when nothing was counted.
    pub fn ratio(self) -> Option<f64> {
        (self.total > 0.0).then(|| self.good / self.total)
    }

    /// The share of bad events, or `None` when nothing was counted.
    pub fn error_ratio(self) -> Option<f64> {
        (self.total > 0.0).then(|| self.bad() / self.total)
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            good: self.good + o.good,
            total: self.total + o.total,
        }
    }
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.good += o.good;
        self.total += o.total;
    }
}

/// A minute since the Unix epoch: bucket `m` holds events in
/// `[m * 60 s, (m + 1) * 60 s)`.
pub type Minute = i64;

pub fn minute_of(t: jiff::Timestamp) -> Minute {
    t.as_second().div_euclid(60)
}

/// The minutes `[from, to)` that a window of `length_s` seconds ending at
/// `t` covers: the minutes that started before `t`, back to `t - length`.
pub fn window_minutes(t: jiff::Timestamp, length_s: i64) -> (Minute, Minute) {
    // A fraction of a second into a minute is inside it.
    let secs = t.as_second() + i64::from(t.subsec_nanosecond() > 0);
    let end = (secs + 59).div_euclid(60);
    (end - length_s.div_euclid(60).max(1), end)
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error("minute {minute} is older than the {retention_minutes} minutes kept")]
    TooOld {
        minute: Minute,
        retention_minutes: i64,
    },
}

#[derive(Clone, Debug, Default)]
struct Hour {
    sum: Counts,
    minutes: Option<Box<[Counts; 60]>>,
}

#[derive(Clone, Debug)]
pub struct Series {
    /// The first minute of `hours[0]`; a multiple of 60.
    first: Minute,
    hours: VecDeque<Hour>,
    retention_hours: i64,
}

impl Series {
    /// Keeps at least `retention_minutes` of history behind the newest data.
    pub fn new(retention_minutes: i64) -> Series {
        Series {
            first: 0,
            hours: VecDeque::new(),
            retention_hours: retention_minutes.div_euclid(60) + 2,
        }
    }

    pub fn retention_minutes(&self) -> i64 {
        self.retention_hours * 60
    }

    /// The newest minute that may hold data (the end of the last hour kept).
    fn end(&self) -> Minute {
        self.first + 60 * self.hours.len() as i64
    }

    /// Adds counts to one minute. Data newer than anything seen extends the
    /// series and forgets what falls out of retention; data older than the
    /// retention is refused.
    pub fn add(&mut self, minute: Minute, c: Counts) -> Result<(), SeriesError> {
        let hour_start = minute.div_euclid(60) * 60;
        if self.hours.is_empty() {
            self.first = hour_start;
            self.hours.push_back(Hour::default());
        }
        if hour_start < self.first {
            let needed = (self.first - hour_start) / 60;
            if self.hours.len() as i64 + needed > self.retention_hours {
                return Err(SeriesError::TooOld {
                    minute,
                    retention_minutes: self.retention_minutes(),
                });
            }
            for _ in 0..needed {
                self.hours.push_front(Hour::default());
            }
            self.first = hour_start;
        }
        while hour_start >= self.end() {
            self.hours.push_back(Hour::default());
        }
        while self.hours.len() as i64 > self.retention_hours {
            self.hours.pop_front();
            self.first += 60;
        }
        if hour_start < self.first {
            return Err(SeriesError::TooOld {
                minute,
                retention_minutes: self.retention_minutes(),
            });
        }
        let hour = &mut self.hours[((hour_start - self.first) / 60) as usize];
        hour.sum += c;
        let minutes = hour
            .minutes
            .get_or_insert_with(|| Box::new([Counts::ZERO; 60]));
        minutes[(minute - hour_start) as usize] += c;
        Ok(())
    }

    /// The sum of minutes `[from, to)`; minutes never seen count as zero.
    pub fn sum(&self, from: Minute, to: Minute) -> Counts {
        let from = from.max(self.first);
        let to = to.min(self.end());
        let mut total = Counts::ZERO;
        let mut m = from;
        while m < to {
            let hour_start = m.div_euclid(60) * 60;
            let hour = &self.hours[((hour_start - self.first) / 60) as usize];
            let hour_end = hour_start + 60;
            if m == hour_start && to >= hour_end {
                total += hour.sum;
                m = hour_end;
                continue;
            }
            let stop = to.min(hour_end);
            if let Some(minutes) = &hour.minutes {
                for c in &minutes[(m - hour_start) as usize..(stop - hour_start) as usize] {
                    total += *c;
                }
            }
            m = stop;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sums_whole_hours_and_edges() {
        let mut s = Series::new(3 * 24 * 60);
        for m in 0..600 {
            s.add(m, Counts::new(1.0, 2.0)).unwrap();
        }
        assert_eq!(s.sum(0, 600), Counts::new(600.0, 1200.0));
        assert_eq!(s.sum(30, 150), Counts::new(120.0, 240.0));
        assert_eq!(s.sum(-100, 10), Counts::new(10.0, 20.0));
        assert_eq!(s.sum(590, 5000), Counts::new(10.0, 20.0));
    }

    #[test]
    fn late_data_lands_in_its_minute_and_old_data_is_refused() {
        let mut s = Series::new(120);
        s.add(1000, Counts::new(1.0, 1.0)).unwrap();
        s.add(900, Counts::new(0.0, 1.0)).unwrap();
        assert_eq!(s.sum(900, 901), Counts::new(0.0, 1.0));
        s.add(10_000, Counts::new(1.0, 1.0)).unwrap();
        assert!(matches!(
            s.add(1000, Counts::new(1.0, 1.0)),
            Err(SeriesError::TooOld { .. })
        ));
        assert_eq!(s.sum(0, 10_001), Counts::new(1.0, 1.0));
    }

    #[test]
    fn windows_end_at_the_evaluation_time() {
        let t: jiff::Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let (from, to) = window_minutes(t, 300);
        assert_eq!(to - from, 5);
        assert_eq!(to, minute_of(t));
        let mid: jiff::Timestamp = "2026-01-01T00:10:30Z".parse().unwrap();
        assert_eq!(window_minutes(mid, 300).1, minute_of(mid) + 1);
        let just_in: jiff::Timestamp = "2026-01-01T00:10:00.001Z".parse().unwrap();
        assert_eq!(window_minutes(just_in, 300).1, minute_of(just_in) + 1);
    }

    proptest! {
        #[test]
        fn a_window_sum_equals_the_sum_of_its_buckets(
            writes in proptest::collection::vec((0i64..2000, 0u32..50, 0u32..50), 1..200),
            from in 0i64..2000,
            len in 0i64..2000,
        ) {
            let mut s = Series::new(5000);
            let mut naive = vec![Counts::ZERO; 2000];
            for (m, g, b) in &writes {
                let c = Counts::new(f64::from(*g), f64::from(g + b));
                s.add(*m, c).unwrap();
                naive[*m as usize] += c;
            }
            let to = (from + len).min(2000);
            let expected = naive[from as usize..to as usize].iter().fold(Counts::ZERO, |a, c| a + *c);
            prop_assert_eq!(s.sum(from, to), expected);
        }
    }
}
