//! OpenSLO's duration shorthand (`5m`, `1h`, `28d`, `4w`, `1M`, `1Q`, `1Y`).
//!
//! Fixed units (seconds to weeks) have a length; calendar units (month,
//! quarter, year) only make sense aligned to a calendar, so they have none.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DurationUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl DurationUnit {
    fn from_char(c: char) -> Option<DurationUnit> {
        Some(match c {
            's' => DurationUnit::Second,
            'm' => DurationUnit::Minute,
            'h' => DurationUnit::Hour,
            'd' => DurationUnit::Day,
            'w' => DurationUnit::Week,
            'M' => DurationUnit::Month,
            'Q' => DurationUnit::Quarter,
            'Y' => DurationUnit::Year,
            _ => return None,
        })
    }

    fn as_char(self) -> char {
        match self {
            DurationUnit::Second => 's',
            DurationUnit::Minute => 'm',
            DurationUnit::Hour => 'h',
            DurationUnit::Day => 'd',
            DurationUnit::Week => 'w',
            DurationUnit::Month => 'M',
            DurationUnit::Quarter => 'Q',
            DurationUnit::Year => 'Y',
        }
    }

    /// Seconds in one unit, for units of fixed length.
    pub fn fixed_seconds(self) -> Option<u64> {
        Some(match self {
            DurationUnit::Second => 1,
            DurationUnit::Minute => 60,
            DurationUnit::Hour => 3600,
            DurationUnit::Day => 86_400,
            DurationUnit::Week => 7 * 86_400,
            DurationUnit::Month | DurationUnit::Quarter | DurationUnit::Year => return None,
        })
    }

    pub fn is_calendar(self) -> bool {
        self.fixed_seconds().is_none()
    }
}

/// A positive count of one unit. Zero and negative lengths cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DurationShorthand {
    count: u32,
    unit: DurationUnit,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "`{0}` is not a duration: write a whole number and a unit, such as 30s, 5m, 1h, 28d, 4w, 1M, 1Q or 1Y"
    )]
    Unreadable(String),
    #[error("`{0}`: a duration must be longer than zero")]
    Zero(String),
    #[error("`{0}` is too long")]
    TooLong(String),
}

impl DurationShorthand {
    pub fn new(count: u32, unit: DurationUnit) -> Option<DurationShorthand> {
        (count > 0).then_some(DurationShorthand { count, unit })
    }

    pub fn parse(s: &str) -> Result<DurationShorthand, DurationError> {
        let t = s.trim();
        let unread = || DurationError::Unreadable(s.to_owned());
        let unit_char = t.chars().last().ok_or_else(unread)?;
        let unit = DurationUnit::from_char(unit_char).ok_or_else(unread)?;
        let digits = &t[..t.len() - unit_char.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(unread());
        }
        let count: u32 = digits
            .parse()
            .map_err(|_| DurationError::TooLong(s.to_owned()))?;
        if count == 0 {
            return Err(DurationError::Zero(s.to_owned()));
        }
        let d = DurationShorthand { count, unit };
        // Bound fixed durations to 100 years so that later sums cannot overflow.
        if d.seconds().is_some_and(|secs| secs > 100 * 366 * 86_400) {
            return Err(DurationError::TooLong(s.to_owned()));
        }
        Ok(d)
    }

    pub fn count(self) -> u32 {
        self.count
    }

    pub fn unit(self) -> DurationUnit {
        self.unit
    }

    /// The length in seconds, for fixed units.
    pub fn seconds(self) -> Option<u64> {
        self.unit.fixed_seconds().map(|s| s * u64::from(self.count))
    }
}

impl fmt::Display for DurationShorthand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.count, self.unit.as_char())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openslo_shorthand() {
        let d = DurationShorthand::parse("28d").unwrap();
        assert_eq!(d.seconds(), Some(28 * 86_400));
        assert_eq!(d.to_string(), "28d");
        assert_eq!(DurationShorthand::parse("5m").unwrap().seconds(), Some(300));
        let m = DurationShorthand::parse("1M").unwrap();
        assert_eq!(m.unit(), DurationUnit::Month);
        assert_eq!(m.seconds(), None);
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "m", "5", "5x", "-5m", "1.5h", "5 m", "ms"] {
            assert!(
                matches!(
                    DurationShorthand::parse(bad),
                    Err(DurationError::Unreadable(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            DurationShorthand::parse("0d"),
            Err(DurationError::Zero(_))
        ));
        assert!(matches!(
            DurationShorthand::parse("99999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            DurationShorthand::parse("40000w"),
            Err(DurationError::TooLong(_))
        ));
    }
}
