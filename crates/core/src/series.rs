//! SLI data as one-minute buckets, summed over any window without a rescan
//! of raw events.
//!
//! Buckets are grouped by hour. Each hour keeps its total, the total of
//! the hours kept before it, and, once data arrives in it, the running
//! total of its sixty minutes. A window sum is then a handful of
//! subtractions whatever its length: the part of its first hour, the whole
//! hours between (two prefix totals), the part of its last hour. Data for
//! the newest hour, the usual case, updates its minute's running totals and
//! its hour; late data also updates the prefix totals of the hours after
//! it.
//!
//! Counts of events are whole numbers, which `f64` holds exactly up to
//! 2^53, so these sums are exactly the plain sums of the buckets (a
//! property test checks it). Fractional counts (summed slice ratios,
//! log-normal shares) can differ from the plain sums in their last bits.

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

impl std::ops::Sub for Counts {
    type Output = Counts;
    fn sub(self, o: Counts) -> Counts {
        Counts {
            good: self.good - o.good,
            total: self.total - o.total,
        }
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
    /// The sum of the hours kept before this one (zero for the first).
    before: Counts,
    /// `running[k]`: the sum of minutes `0..=k`; absent while the hour has
    /// no data.
    running: Option<Box<[Counts; 60]>>,
}

impl Hour {
    /// The sum of minutes `[a, b)` of this hour, `a < b <= 60`.
    fn minutes(&self, a: usize, b: usize) -> Counts {
        if a == 0 && b == 60 {
            return self.sum;
        }
        match &self.running {
            None => Counts::ZERO,
            Some(r) if a == 0 => r[b - 1],
            Some(r) => r[b - 1] - r[a - 1],
        }
    }
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
            // Empty hours in front leave every prefix total as it is.
            for _ in 0..needed {
                self.hours.push_front(Hour::default());
            }
            self.first = hour_start;
        }
        while hour_start >= self.end() {
            let before = self.hours.back().map_or(Counts::ZERO, |h| h.before + h.sum);
            self.hours.push_back(Hour {
                before,
                ..Hour::default()
            });
        }
        let mut dropped = false;
        while self.hours.len() as i64 > self.retention_hours {
            self.hours.pop_front();
            self.first += 60;
            dropped = true;
        }
        if dropped {
            // Recomputed rather than shifted, so that prefix totals stay
            // sums of what is kept and never accumulate rounding.
            let mut before = Counts::ZERO;
            for h in &mut self.hours {
                h.before = before;
                before += h.sum;
            }
        }
        if hour_start < self.first {
            return Err(SeriesError::TooOld {
                minute,
                retention_minutes: self.retention_minutes(),
            });
        }
        let index = ((hour_start - self.first) / 60) as usize;
        let hour = &mut self.hours[index];
        hour.sum += c;
        let running = hour
            .running
            .get_or_insert_with(|| Box::new([Counts::ZERO; 60]));
        for r in &mut running[(minute - hour_start) as usize..] {
            *r += c;
        }
        for later in self.hours.range_mut(index + 1..) {
            later.before += c;
        }
        Ok(())
    }

    /// The sum of minutes `[from, to)`; minutes never seen count as zero.
    pub fn sum(&self, from: Minute, to: Minute) -> Counts {
        let from = from.max(self.first);
        let to = to.min(self.end());
        if from >= to {
            return Counts::ZERO;
        }
        // `first` is a multiple of 60, so offsets from it are hours and minutes.
        let (a, z) = (from - self.first, to - 1 - self.first);
        let (ah, am) = ((a / 60) as usize, (a % 60) as usize);
        let (zh, zm) = ((z / 60) as usize, (z % 60) as usize);
        if ah == zh {
            return self.hours[ah].minutes(am, zm + 1);
        }
        let head = self.hours[ah].minutes(am, 60);
        let between = self.hours[zh].before - self.hours[ah + 1].before;
        let tail = self.hours[zh].minutes(0, zm + 1);
        head + between + tail
    }

    /// The newest minute before `to` with events in it, if any is kept.
    pub fn last_with_data(&self, to: Minute) -> Option<Minute> {
        let to = to.min(self.end());
        if to <= self.first {
            return None;
        }
        let last = ((to - 1 - self.first) / 60) as usize;
        for h in (0..=last).rev() {
            let hour = &self.hours[h];
            let Some(running) = &hour.running else {
                continue;
            };
            let start = self.first + 60 * h as i64;
            let stop = ((to - start).min(60)) as usize;
            // The newest minute whose running total grew.
            for m in (0..stop).rev() {
                let previous = if m == 0 { 0.0 } else { running[m - 1].total };
                if running[m].total > previous {
                    return Some(start + m as i64);
                }
            }
        }
        None
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

        /// The prefix-total sums equal the plain sums of the buckets kept,
        /// exactly, while retention drops old hours and late data lands
        /// behind the newest: every window of every length is checked.
        #[test]
        fn prefix_sums_equal_plain_bucket_sums_as_hours_are_dropped(
            writes in proptest::collection::vec((0i64..3000, 0u32..1000, 0u32..1000), 1..300),
            queries in proptest::collection::vec((-100i64..3100, 0i64..3200), 1..40),
        ) {
            let mut s = Series::new(600);
            let mut naive = std::collections::BTreeMap::<Minute, Counts>::new();
            for (m, g, b) in &writes {
                let c = Counts::new(f64::from(*g), f64::from(g + b));
                if s.add(*m, c).is_ok() {
                    *naive.entry(*m).or_default() += c;
                }
            }
            let plain = |from: Minute, to: Minute| {
                naive
                    .range(from.max(s.first)..to.max(from.max(s.first)))
                    .fold(Counts::ZERO, |a, (_, c)| a + *c)
            };
            for (from, len) in queries {
                prop_assert_eq!(s.sum(from, from + len), plain(from, from + len));
            }
            // The newest minute with data agrees too.
            let newest = naive.iter().rev().find(|(m, c)| **m >= s.first && c.total > 0.0);
            prop_assert_eq!(s.last_with_data(i64::MAX), newest.map(|(m, _)| *m));
        }

        /// Fractional counts (slice ratios, log-normal shares) agree with
        /// the plain sums to rounding.
        #[test]
        fn fractional_sums_agree_with_plain_sums_to_rounding(
            writes in proptest::collection::vec((0i64..1500, 0.0f64..1.0, 0.0f64..1.0), 1..200),
            from in 0i64..1500,
            len in 0i64..1500,
        ) {
            let mut s = Series::new(5000);
            let mut naive = vec![Counts::ZERO; 1500];
            for (m, g, b) in &writes {
                let c = Counts::new(*g, g + b);
                s.add(*m, c).unwrap();
                naive[*m as usize] += c;
            }
            let to = (from + len).min(1500);
            let expected = naive[from as usize..to as usize].iter().fold(Counts::ZERO, |a, c| a + *c);
            let got = s.sum(from, to);
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + y.abs());
            prop_assert!(close(got.good, expected.good) && close(got.total, expected.total), "{:?} {:?}", got, expected);
        }
    }
}
