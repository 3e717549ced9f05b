//! One kind of alert for every source: Alertmanager clients, PagerDuty
//! clients, the SLO engine, heartbeats.

use jiff::{SignedDuration, Timestamp};

use super::labels::{Fingerprint, LabelSet};

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `POST /api/v2/alerts` (Prometheus, amtool, any Alertmanager client).
    Alertmanager,
    /// `POST /v2/enqueue` (PagerDuty Events API v2 clients).
    PagerDuty,
    /// nines' own burn-rate alerts.
    Slo,
    /// A missed heartbeat.
    Heartbeat,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::PagerDuty => "pagerduty",
            Source::Slo => "slo",
            Source::Heartbeat => "heartbeat",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "alertmanager" => Source::Alertmanager,
            "pagerduty" => Source::PagerDuty,
            "slo" => Source::Slo,
            "heartbeat" => Source::Heartbeat,
            _ => return None,
        })
    }
}

/// How bad, in PagerDuty's four words (Alertmanager's `severity` label is
/// read into the same words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    /// PagerDuty's exact words.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "critical" => Severity::Critical,
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            _ => return None,
        })
    }

    /// The conventional Prometheus `severity` label values, loosely: `page`
    /// and `critical` are critical, `ticket` and `warning` warnings.
    pub fn from_label(s: &str) -> Severity {
        match s.to_ascii_lowercase().as_str() {
            "critical" | "page" | "fatal" | "emergency" | "high" => Severity::Critical,
            "error" | "err" | "major" => Severity::Error,
            "info" | "informational" | "none" | "low" => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// An alert as nines holds it. Its identity is the fingerprint of its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub fingerprint: Fingerprint,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Timestamp,
    /// When the alert stops firing; in the future while it fires.
    pub ends_at: Timestamp,
    /// True when `ends_at` was not given by the sender but defaulted from the
    /// resolve timeout: such an end may be pushed later by a newer update.
    pub timeout: bool,
    pub updated_at: Timestamp,
    pub generator_url: String,
    pub source: Source,
}

impl Alert {
    /// Resolved at `now`: its end has passed.
    pub fn resolved_at(&self, now: Timestamp) -> bool {
        self.ends_at <= now
    }

    /// Folds a newer report of the same alert into this one, as Alertmanager
    /// does: when the two overlap in time, the newer one wins except that the
    /// earliest start is kept, and an explicit later end is not shortened by
    /// a defaulted one. When they do not overlap (the alert resolved and
    /// fired again), the newer report replaces the old one.
    pub fn merge(&self, newer: Alert, now: Timestamp) -> Alert {
        let overlaps = (newer.ends_at > self.starts_at && newer.ends_at < self.ends_at)
            || (newer.starts_at > self.starts_at && newer.starts_at < self.ends_at)
            || (newer.starts_at <= self.starts_at && newer.ends_at >= self.ends_at);
        if !overlaps {
            return newer;
        }
        let mut res = newer;
        if self.starts_at < res.starts_at {
            res.starts_at = self.starts_at;
        }
        if res.resolved_at(now) {
            if self.resolved_at(now) && self.ends_at > res.ends_at {
                res.ends_at = self.ends_at;
                res.timeout = self.timeout;
            }
        } else if self.ends_at > res.ends_at && !self.timeout {
            res.ends_at = self.ends_at;
            res.timeout = false;
        }
        res
    }
}

/// What a sender gave for one alert, before defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertInput {
    pub labels: LabelSet,
    pub annotations: LabelSet,
    pub starts_at: Option<Timestamp>,
    pub ends_at: Option<Timestamp>,
    pub generator_url: String,
    pub source: Source,
}

/// Why an alert was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    #[error("start time must be before end time (startsAt {starts_at}, endsAt {ends_at})")]
    EndsBeforeStart {
        starts_at: Timestamp,
        ends_at: Timestamp,
    },
}

impl AlertInput {
    /// Applies Alertmanager's defaults: a missing start is `now`; a missing
    /// end is `now + resolve_timeout` (and marked as a timeout). As in
    /// Alertmanager, an alert starting after that defaulted end is refused.
    pub fn into_alert(
        self,
        now: Timestamp,
        resolve_timeout: SignedDuration,
    ) -> Result<Alert, AlertError> {
        // As Alertmanager: a resolution sent without its start starts when it ends.
        let starts_at = self.starts_at.or(self.ends_at).unwrap_or(now);
        let (ends_at, timeout) = match self.ends_at {
            Some(end) => (end, false),
            None => (now.saturating_add(resolve_timeout).unwrap_or(now), true),
        };
        if ends_at < starts_at {
            return Err(AlertError::EndsBeforeStart { starts_at, ends_at });
        }
        Ok(Alert {
            fingerprint: self.labels.fingerprint(),
            labels: self.labels,
            annotations: self.annotations,
            starts_at,
            ends_at,
            timeout,
            updated_at: now,
            generator_url: self.generator_url,
            source: self.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn input(start: Option<i64>, end: Option<i64>) -> AlertInput {
        AlertInput {
            labels: LabelSet::new([("alertname".to_string(), "A".to_string())]).unwrap(),
            annotations: LabelSet::default(),
            starts_at: start.map(ts),
            ends_at: end.map(ts),
            generator_url: String::new(),
            source: Source::Alertmanager,
        }
    }

    const FIVE_MIN: SignedDuration = SignedDuration::from_secs(300);

    #[test]
    fn defaults_follow_alertmanager() {
        let a = input(None, None).into_alert(ts(0), FIVE_MIN).unwrap();
        assert_eq!((a.starts_at, a.ends_at, a.timeout), (ts(0), ts(300), true));
        let e = input(Some(10), Some(5))
            .into_alert(ts(0), FIVE_MIN)
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("start time must be before end time")
        );
        // An end equal to the start is accepted: a resolved alert.
        let r = input(Some(5), Some(5))
            .into_alert(ts(10), FIVE_MIN)
            .unwrap();
        assert!(r.resolved_at(ts(10)));
    }

    #[test]
    fn merge_keeps_the_earliest_start_and_pushes_a_defaulted_end() {
        let old = input(Some(-100), None).into_alert(ts(0), FIVE_MIN).unwrap();
        let newer = input(Some(-50), None).into_alert(ts(60), FIVE_MIN).unwrap();
        let m = old.merge(newer, ts(60));
        assert_eq!(m.starts_at, ts(-100));
        assert_eq!(m.ends_at, ts(360));
        assert_eq!(m.updated_at, ts(60));
    }

    #[test]
    fn merge_resolves_and_a_new_firing_after_resolution_starts_over() {
        let old = input(Some(-100), None).into_alert(ts(0), FIVE_MIN).unwrap();
        let resolve = input(None, Some(30)).into_alert(ts(30), FIVE_MIN).unwrap();
        let m = old.merge(resolve, ts(30));
        assert_eq!(m.starts_at, ts(-100));
        assert!(m.resolved_at(ts(30)));
        let again = input(Some(1000), None)
            .into_alert(ts(1000), FIVE_MIN)
            .unwrap();
        let m2 = m.merge(again, ts(1000));
        assert_eq!(m2.starts_at, ts(1000));
        assert!(!m2.resolved_at(ts(1000)));
    }
}
