//! Availability arithmetic: targets, allowed downtime, and how availabilities
//! compose in series and in parallel.
//!
//! Every figure is a plain `f64` ratio in `[0, 1]`; callers decide how many
//! digits to show. Rounding is left to the edges so that composition stays
//! exact to the precision of `f64`.

use std::fmt;

/// Seconds in the reference periods used for downtime, with the conventions
/// printed beside every figure: a 30-day month, a 365.25-day year, and a
/// quarter of a year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Days28,
    Days30,
    Quarter,
    Year,
}

impl Period {
    pub const ALL: [Period; 6] = [
        Period::Day,
        Period::Week,
        Period::Days28,
        Period::Days30,
        Period::Quarter,
        Period::Year,
    ];

    pub fn seconds(self) -> f64 {
        const DAY: f64 = 86_400.0;
        match self {
            Period::Day => DAY,
            Period::Week => 7.0 * DAY,
            Period::Days28 => 28.0 * DAY,
            Period::Days30 => 30.0 * DAY,
            Period::Quarter => 365.25 * DAY / 4.0,
            Period::Year => 365.25 * DAY,
        }
    }

    /// The stable key used in machine-readable output.
    pub fn key(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Days28 => "28d",
            Period::Days30 => "30d",
            Period::Quarter => "quarter",
            Period::Year => "year",
        }
    }

    /// The label a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "per day",
            Period::Week => "per week",
            Period::Days28 => "per 28 days",
            Period::Days30 => "per 30-day month",
            Period::Quarter => "per quarter",
            Period::Year => "per year",
        }
    }
}

/// The conventions behind [`Period::seconds`], stated wherever downtime is shown.
pub const PERIOD_CONVENTIONS: &str =
    "day = 24 h; month = 30 days; year = 365.25 days; quarter = year / 4";

/// A ratio of good to total in `[0, 1]`: what a service achieves, or is
/// expected to achieve once its dependencies are taken into account.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Availability(f64);

impl Availability {
    pub const PERFECT: Availability = Availability(1.0);

    /// Accepts any finite ratio in `[0, 1]`.
    pub fn new(ratio: f64) -> Result<Availability, TargetError> {
        if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
            Ok(Availability(ratio))
        } else {
            Err(TargetError::OutOfRange(ratio))
        }
    }

    pub fn ratio(self) -> f64 {
        self.0
    }

    pub fn percent(self) -> f64 {
        self.0 * 100.0
    }

    pub fn unavailability(self) -> f64 {
        1.0 - self.0
    }

    /// Downtime allowed over `period`, in seconds.
    pub fn downtime_seconds(self, period: Period) -> f64 {
        self.unavailability() * period.seconds()
    }

    /// Components that must all work: availabilities multiply.
    pub fn serial<I: IntoIterator<Item = Availability>>(parts: I) -> Availability {
        Availability(parts.into_iter().map(|a| a.0).product())
    }

    /// Redundant components of which one is enough: the group fails only
    /// when every member fails, assuming their failures are independent.
    pub fn parallel<I: IntoIterator<Item = Availability>>(parts: I) -> Availability {
        let all_down: f64 = parts.into_iter().map(|a| a.unavailability()).product();
        Availability(1.0 - all_down)
    }
}

impl From<Target> for Availability {
    fn from(t: Target) -> Availability {
        Availability(t.ratio)
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} %", format_percent(self.percent()))
    }
}

/// An objective: the share of good events or time that must be reached,
/// strictly between 0 and 1. A target of 1 would leave no error budget at
/// all, so it cannot be constructed.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Target {
    ratio: f64,
    /// Kept separately so that `1 - ratio` does not lose the digits a person
    /// wrote (`99.95` gives a budget of exactly `0.0005`, not `0.000499…`).
    budget: f64,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TargetError {
    #[error("a target must be a number between 0 and 1 (or a percentage below 100), got {0}")]
    OutOfRange(f64),
    #[error("a target of 100 % leaves no error budget: nothing may ever fail; use at most 99.999…")]
    NoBudget,
    #[error("a target of 0 allows everything to fail: it measures nothing")]
    Zero,
    #[error(
        "`{0}` is ambiguous: write 1% for one percent, or a ratio below 1 such as 0.99 for 99 %"
    )]
    AmbiguousOne(String),
    #[error("`{0}` is not a target: write 99.95, 99.95%, 0.9995, or words such as \"three nines\"")]
    Unreadable(String),
}

impl Target {
    /// A ratio in `(0, 1)`, such as OpenSLO's `target: 0.999`.
    pub fn from_ratio(ratio: f64) -> Result<Target, TargetError> {
        Self::check_ratio(ratio)?;
        Ok(Target {
            ratio,
            budget: 1.0 - ratio,
        })
    }

    /// A percentage in `(0, 100)`, such as OpenSLO's `targetPercent: 99.9`.
    pub fn from_percent(percent: f64) -> Result<Target, TargetError> {
        if !percent.is_finite() || !(0.0..=100.0).contains(&percent) {
            return Err(TargetError::OutOfRange(percent));
        }
        Target::from_ratio(percent / 100.0).map(|t| Target {
            budget: (100.0 - percent) / 100.0,
            ..t
        })
    }

    /// A decimal ratio written as text (`0.9995`); keeps the written digits
    /// exact in the budget.
    pub fn from_ratio_text(text: &str) -> Result<Target, TargetError> {
        let d = Decimal::parse(text).ok_or_else(|| TargetError::Unreadable(text.to_owned()))?;
        let t = Target::from_ratio(d.value())?;
        Ok(Target {
            budget: d.complement(0).unwrap_or(t.budget),
            ..t
        })
    }

    /// A decimal percentage written as text (`99.95`).
    pub fn from_percent_text(text: &str) -> Result<Target, TargetError> {
        let d = Decimal::parse(text).ok_or_else(|| TargetError::Unreadable(text.to_owned()))?;
        let t = Target::from_percent(d.value())?;
        Ok(Target {
            budget: d.complement(2).unwrap_or(t.budget),
            ..t
        })
    }

    /// Reads the ways people write targets: `99.95`, `99.95%`, `0.9995`,
    /// `three nines`, `3 nines`, `three and a half nines` (99.95 %).
    ///
    /// A bare number below 1 is a ratio and a bare number above 1 is a
    /// percentage; a bare `1` is refused because both readings are plausible.
    pub fn parse(input: &str) -> Result<Target, TargetError> {
        let text = input.trim();
        let lower = text.to_ascii_lowercase();
        if let Some(t) = parse_nines(&lower) {
            return t;
        }
        if let Some(p) = lower.strip_suffix('%') {
            return Target::from_percent_text(p.trim());
        }
        let d = Decimal::parse(&lower).ok_or_else(|| TargetError::Unreadable(text.to_owned()))?;
        let v = d.value();
        if v == 1.0 {
            Err(TargetError::AmbiguousOne(text.to_owned()))
        } else if v < 1.0 {
            Target::from_ratio_text(&lower)
        } else {
            Target::from_percent_text(&lower)
        }
    }

    fn check_ratio(ratio: f64) -> Result<(), TargetError> {
        if !ratio.is_finite() || !(0.0..=1.0).contains(&ratio) {
            Err(TargetError::OutOfRange(ratio))
        } else if ratio == 1.0 {
            Err(TargetError::NoBudget)
        } else if ratio == 0.0 {
            Err(TargetError::Zero)
        } else {
            Ok(())
        }
    }

    pub fn ratio(self) -> f64 {
        self.ratio
    }

    pub fn percent(self) -> f64 {
        self.ratio * 100.0
    }

    /// The error budget as a ratio: the share of events or time allowed to be bad.
    pub fn budget(self) -> f64 {
        self.budget
    }

    /// Downtime allowed over `period`, in seconds.
    pub fn downtime_seconds(self, period: Period) -> f64 {
        self.budget * period.seconds()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} %", format_percent(self.percent()))
    }
}

/// A decimal number as written, kept as digits so that its complement to
/// 1 (or to 100) can be computed without binary rounding.
struct Decimal {
    digits: u128,
    scale: u32,
}

impl Decimal {
    fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        if s.is_empty() || s.len() > 30 {
            return None;
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits: u128 = format!("{int}{frac}").parse().ok()?;
        Some(Decimal {
            digits,
            scale: frac.len() as u32,
        })
    }

    fn value(&self) -> f64 {
        self.digits as f64 / 10f64.powi(self.scale as i32)
    }

    /// `(1 - value)` when `shift` is 0, `(100 - value) / 100` when it is 2.
    fn complement(&self, shift: u32) -> Option<f64> {
        let scale = self.scale + shift;
        let one = 10u128
            .checked_pow(self.scale)?
            .checked_mul(10u128.pow(shift))?;
        let rest = one.checked_sub(self.digits)?;
        Some(rest as f64 / 10f64.powi(scale as i32))
    }
}

fn parse_nines(s: &str) -> Option<Result<Target, TargetError>> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let (count, half) = match words.as_slice() {
        [n, "nines" | "nine"] => {
            if let Some(base) = n.strip_suffix(".5") {
                (number_word(base)?, true)
            } else {
                (number_word(n)?, false)
            }
        }
        [n, "and", "a", "half", "nines"] => (number_word(n)?, true),
        _ => return None,
    };
    if count == 0 || count > 12 {
        return Some(Err(TargetError::Unreadable(s.to_owned())));
    }
    // "three nines" is 99.9 %: `count` nines in a row, optionally followed by a 5.
    let mut text = String::from("0.");
    text.push_str(&"9".repeat(count as usize));
    if half {
        text.push('5');
    }
    Some(Target::from_ratio_text(&text))
}

fn number_word(w: &str) -> Option<u32> {
    const WORDS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    if let Some(i) = WORDS.iter().position(|x| *x == w) {
        return Some(i as u32 + 1);
    }
    w.parse().ok()
}

/// A percentage with as many digits as it needs and no float noise:
/// `99.98000100000001` shows as `99.980001`.
pub fn format_percent(p: f64) -> String {
    let rounded = format!("{p:.10}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    trimmed.to_owned()
}

/// A duration in seconds, the way a person reads it: `8.64s`, `4m 19.2s`,
/// `8h 45m 57.6s`, `3d 15h 39m 36s`, `864ms`.
pub fn format_seconds(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "n/a".to_owned();
    }
    if secs == 0.0 {
        return "0s".to_owned();
    }
    if secs < 1.0 {
        let ms = secs * 1000.0;
        return if ms < 1.0 {
            format!("{}µs", trim_number(secs * 1e6, 1))
        } else {
            format!("{}ms", trim_number(ms, 1))
        };
    }
    if secs < 60.0 {
        return format!("{}s", trim_number(secs, 2));
    }
    // Round to a tenth of a second first, so that 59.96 s shows as 1m, not 60s.
    let tenths = (secs * 10.0).round() as u64;
    let (whole, tenth) = (tenths / 10, tenths % 10);
    let (d, h, m, s) = (
        whole / 86_400,
        whole % 86_400 / 3600,
        whole % 3600 / 60,
        whole % 60,
    );
    let mut parts = Vec::new();
    if d > 0 {
        parts.push(format!("{d}d"));
    }
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || tenth > 0 {
        if tenth > 0 {
            parts.push(format!("{s}.{tenth}s"));
        } else {
            parts.push(format!("{s}s"));
        }
    }
    parts.join(" ")
}

fn trim_number(x: f64, decimals: usize) -> String {
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn reads_every_notation_of_the_same_target() {
        for s in [
            "99.95",
            "99.95%",
            "99.95 %",
            "0.9995",
            "three and a half nines",
            "3.5 nines",
        ] {
            let t = Target::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(close(t.ratio(), 0.9995), "{s}");
            assert_eq!(t.budget(), 0.0005, "{s}");
        }
        assert_eq!(Target::parse("three nines").unwrap().budget(), 0.001);
        assert_eq!(Target::parse("Four Nines").unwrap().budget(), 0.0001);
        assert_eq!(Target::parse("5 nines").unwrap().budget(), 0.00001);
    }

    #[test]
    fn refuses_targets_without_budget_or_meaning() {
        assert_eq!(Target::parse("100"), Err(TargetError::NoBudget));
        assert_eq!(Target::parse("100%"), Err(TargetError::NoBudget));
        assert!(matches!(
            Target::parse("1"),
            Err(TargetError::AmbiguousOne(_))
        ));
        assert!(matches!(
            Target::parse("1.2"),
            Ok(t) if close(t.ratio(), 0.012)
        ));
        assert!(matches!(
            Target::from_ratio(1.2),
            Err(TargetError::OutOfRange(_))
        ));
        assert!(matches!(
            Target::parse("120"),
            Err(TargetError::OutOfRange(_))
        ));
        assert_eq!(Target::parse("0"), Err(TargetError::Zero));
        assert!(matches!(
            Target::parse("-5"),
            Err(TargetError::Unreadable(_))
        ));
        assert!(matches!(
            Target::parse("lots"),
            Err(TargetError::Unreadable(_))
        ));
        assert!(matches!(
            Target::parse("zero nines"),
            Err(TargetError::Unreadable(_))
        ));
        assert!(matches!(
            Target::from_ratio(f64::NAN),
            Err(TargetError::OutOfRange(_))
        ));
    }

    #[test]
    fn downtime_matches_the_published_figures() {
        let t = Target::parse("99.99").unwrap();
        // 99.99 % is 52.6 min a year and 4.32 min a 30-day month.
        assert!(close(t.downtime_seconds(Period::Year), 3155.76));
        assert!(close(t.downtime_seconds(Period::Days30), 259.2));
        assert!(close(t.downtime_seconds(Period::Day), 8.64));
        assert!(close(t.downtime_seconds(Period::Quarter), 788.94));
        assert!(close(t.downtime_seconds(Period::Days28), 241.92));
        assert!(close(t.downtime_seconds(Period::Week), 60.48));
    }

    #[test]
    fn composition_matches_the_talk() {
        let a = Availability::from(Target::parse("99.99").unwrap());
        let serial = Availability::serial([a, a]);
        assert!(close(serial.ratio(), 0.99980001));
        let b = Availability::from(Target::parse("99.9").unwrap());
        let parallel = Availability::parallel([b, b]);
        assert!(close(parallel.ratio(), 0.999999));
    }

    #[test]
    fn formats_durations_for_people() {
        assert_eq!(format_seconds(8.64), "8.64s");
        assert_eq!(format_seconds(259.2), "4m 19.2s");
        assert_eq!(format_seconds(3155.76), "52m 35.8s");
        assert_eq!(format_seconds(59.96), "59.96s");
        assert_eq!(format_seconds(59.99), "59.99s");
        assert_eq!(format_seconds(60.0), "1m");
        assert_eq!(format_seconds(0.0864), "86.4ms");
        assert_eq!(format_seconds(315_576.0), "3d 15h 39m 36s");
        assert_eq!(format_seconds(0.0), "0s");
        assert_eq!(format_percent(99.98000100000001), "99.980001");
        assert_eq!(format_percent(99.9), "99.9");
    }

    proptest! {
        #[test]
        fn serial_never_beats_its_weakest_part(xs in proptest::collection::vec(0.0f64..=1.0, 1..8)) {
            let parts: Vec<_> = xs.iter().map(|x| Availability::new(*x).unwrap()).collect();
            let s = Availability::serial(parts.iter().copied());
            let weakest = xs.iter().cloned().fold(1.0, f64::min);
            prop_assert!(s.ratio() <= weakest + 1e-12);
            prop_assert!(s.ratio() >= 0.0);
        }

        #[test]
        fn parallel_never_falls_below_its_strongest_part(xs in proptest::collection::vec(0.0f64..=1.0, 1..8)) {
            let parts: Vec<_> = xs.iter().map(|x| Availability::new(*x).unwrap()).collect();
            let p = Availability::parallel(parts.iter().copied());
            let strongest = xs.iter().cloned().fold(0.0, f64::max);
            prop_assert!(p.ratio() + 1e-12 >= strongest);
            prop_assert!(p.ratio() <= 1.0);
        }

        #[test]
        fn downtime_scales_with_the_period(pct in 0.001f64..99.999) {
            let t = Target::from_percent(pct).unwrap();
            let day = t.downtime_seconds(Period::Day);
            prop_assert!(close(t.downtime_seconds(Period::Week), 7.0 * day));
            prop_assert!(close(t.downtime_seconds(Period::Year), 4.0 * t.downtime_seconds(Period::Quarter)));
            prop_assert!(close(t.budget() + t.ratio(), 1.0));
        }

        #[test]
        fn percent_and_ratio_notations_agree(digits in 1u32..9999) {
            let ratio_text = format!("0.{digits:04}");
            let r = Target::parse(&ratio_text).unwrap();
            let pct_text = format!("{}%", r.percent());
            let p = Target::parse(&pct_text).unwrap();
            prop_assert!(close(r.ratio(), p.ratio()));
        }
    }
}
