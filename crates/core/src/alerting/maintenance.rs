//! Maintenance windows: a change made on purpose pages nobody.
//!
//! A window covers services (named, or every service of a team) and/or the
//! alerts a label selector matches, for one span (immediate or scheduled)
//! or for every occurrence of a recurrence rule in a time zone. While it is
//! active its alerts are recorded and shown as suppressed by it; nobody is
//! paged for them. When it ends, alerts still firing are notified as new.
//!
//! Nothing here reads the clock: every question takes `now`.

use jiff::{SignedDuration, Timestamp};

use super::labels::LabelSet;
use super::matcher::{Matcher, matches_all};
use crate::recur::Recurrence;

/// What a window covers. An alert is covered when its service is named,
/// its service's owner team is named, or the selector (when given) matches
/// all its labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub services: Vec<String>,
    pub teams: Vec<String>,
    pub matchers: Vec<Matcher>,
}

impl Scope {
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.teams.is_empty() && self.matchers.is_empty()
    }

    /// Whether an alert of `service` (owned by `team`) with `labels` is covered.
    pub fn covers(&self, service: &str, team: Option<&str>, labels: &LabelSet) -> bool {
        self.services.iter().any(|s| s == service)
            || team.is_some_and(|t| self.teams.iter().any(|x| x == t))
            || (!self.matchers.is_empty() && matches_all(&self.matchers, labels))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Not started yet (its next occurrence is ahead).
    Pending,
    Active,
    /// Over: no occurrence is left.
    Expired,
    /// Cancelled before it ever started.
    Cancelled,
}

impl WindowState {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowState::Pending => "pending",
            WindowState::Active => "active",
            WindowState::Expired => "expired",
            WindowState::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Window {
    pub id: String,
    pub scope: Scope,
    /// The start of the (first) occurrence.
    pub starts_at: Timestamp,
    /// The end of the (first) occurrence: every occurrence lasts as long.
    pub ends_at: Timestamp,
    /// Repeats with this rule (anchored at `starts_at` in its zone).
    pub recurrence: Option<Recurrence>,
    /// Nothing is held from this instant on (ended early, or cancelled).
    pub stopped_at: Option<Timestamp>,
    /// An occurrence ended early: `(its start, when it was ended)`. The
    /// following occurrences of a recurring window still happen.
    pub cut: Option<(Timestamp, Timestamp)>,
    pub description: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set by a client so that a retried request does not open a second
    /// window.
    pub idempotency_key: Option<String>,
}

/// Why a window cannot be opened (or changed) as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("a window must end after it starts (starts {starts_at}, ends {ends_at})")]
    EndsBeforeStart {
        starts_at: Timestamp,
        ends_at: Timestamp,
    },
    #[error(
        "a window of {asked:#} is longer than the maximum of {max:#} (the server's --max-maintenance)"
    )]
    TooLong {
        asked: SignedDuration,
        max: SignedDuration,
    },
    #[error("a window must cover something: name services, teams or a label selector")]
    NoScope,
    #[error("a one-off window can't end in the past (ends {ends_at}, now {now})")]
    EndsInPast { ends_at: Timestamp, now: Timestamp },
    #[error("say why (a reason or description): it is shown on every alert the window holds")]
    NoReason,
}

impl Window {
    /// Checks a window as asked: it ends after it starts, each occurrence
    /// is at most `max` long, a one-off window is not already over, and it
    /// covers something.
    pub fn validate(&self, max: SignedDuration, now: Timestamp) -> Result<(), WindowError> {
        if self.ends_at <= self.starts_at {
            return Err(WindowError::EndsBeforeStart {
                starts_at: self.starts_at,
                ends_at: self.ends_at,
            });
        }
        let asked = self.duration();
        if asked > max {
            return Err(WindowError::TooLong { asked, max });
        }
        if self.recurrence.is_none() && self.ends_at <= now {
            return Err(WindowError::EndsInPast {
                ends_at: self.ends_at,
                now,
            });
        }
        if self.scope.is_empty() {
            return Err(WindowError::NoScope);
        }
        if self.description.trim().is_empty() {
            return Err(WindowError::NoReason);
        }
        Ok(())
    }

    /// How long each occurrence lasts.
    pub fn duration(&self) -> SignedDuration {
        self.ends_at.duration_since(self.starts_at)
    }

    /// The end of the occurrence that starts at `start`, once cut short
    /// or stopped.
    fn end_of(&self, start: Timestamp) -> Timestamp {
        let mut end = start.checked_add(self.duration()).unwrap_or(Timestamp::MAX);
        if let Some((s, at)) = self.cut
            && s == start
        {
            end = end.min(at);
        }
        if let Some(stop) = self.stopped_at {
            end = end.min(stop);
        }
        end
    }

    /// The spans `[start, end)` of the occurrences that overlap
    /// `[from, to)`, in order, as cut or stopped. A span of zero length (an
    /// occurrence stopped before it began) is left out.
    pub fn spans(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, Timestamp)> {
        let mut out = Vec::new();
        let mut push = |s: Timestamp| {
            let e = self.end_of(s);
            if s < e && s < to && e > from {
                out.push((s, e));
            }
        };
        match &self.recurrence {
            None => push(self.starts_at),
            Some(r) => {
                let d = self.duration();
                for s in r.iter() {
                    if s >= to || self.stopped_at.is_some_and(|stop| s >= stop) {
                        break;
                    }
                    if s.checked_add(d).is_ok_and(|e| e > from) {
                        push(s);
                    }
                }
            }
        }
        out
    }

    /// The occurrence active at `now`, as `(start, end)`.
    pub fn active_span(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let t = now
            .checked_add(SignedDuration::from_nanos(1))
            .unwrap_or(now);
        self.spans(now, t)
            .into_iter()
            .find(|(s, e)| *s <= now && now < *e)
    }

    pub fn is_active(&self, now: Timestamp) -> bool {
        self.active_span(now).is_some()
    }

    /// The next occurrence that starts after `now`, as `(start, end)`.
    pub fn next_span(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.recurrence {
            None => (self.starts_at > now && self.end_of(self.starts_at) > self.starts_at)
                .then(|| (self.starts_at, self.end_of(self.starts_at))),
            Some(r) => r
                .iter()
                .skip_while(|s| *s <= now)
                .take_while(|s| self.stopped_at.is_none_or(|stop| *s < stop))
                .map(|s| (s, self.end_of(s)))
                .find(|(s, e)| s < e),
        }
    }

    pub fn state(&self, now: Timestamp) -> WindowState {
        if self.is_active(now) {
            return WindowState::Active;
        }
        if self.next_span(now).is_some() {
            return WindowState::Pending;
        }
        let began = self.starts_at < now && self.stopped_at.is_none_or(|s| s > self.starts_at);
        if began {
            WindowState::Expired
        } else {
            WindowState::Cancelled
        }
    }

    /// When this window next starts or ends after `now` (what makes the
    /// dispatcher look at every alert again).
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        let end = self.active_span(now).map(|(_, e)| e);
        let start = self.next_span(now).map(|(s, _)| s);
        match (end, start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether this window holds an alert of `service` (owned by `team`)
    /// with `labels` at `now`.
    pub fn holds(
        &self,
        service: &str,
        team: Option<&str>,
        labels: &LabelSet,
        now: Timestamp,
    ) -> bool {
        self.scope.covers(service, team, labels) && self.is_active(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recur::Rule;
    use jiff::tz::TimeZone;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn window(start: &str, end: &str) -> Window {
        Window {
            id: "w".into(),
            scope: Scope {
                services: vec!["api".into()],
                ..Scope::default()
            },
            starts_at: at(start),
            ends_at: at(end),
            recurrence: None,
            stopped_at: None,
            cut: None,
            description: "deploy v1.4".into(),
            created_by: "ci".into(),
            created_at: at(start),
            updated_at: at(start),
            idempotency_key: None,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        LabelSet::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
        .unwrap()
    }

    #[test]
    fn a_one_off_window_holds_its_services_until_it_ends() {
        let w = window("2026-11-21T10:00:00Z", "2026-11-21T10:05:00Z");
        let l = labels(&[("alertname", "HighErrors")]);
        assert_eq!(w.state(at("2026-11-21T09:59:59Z")), WindowState::Pending);
        assert!(w.holds("api", None, &l, at("2026-11-21T10:00:00Z")));
        assert!(!w.holds("worker", None, &l, at("2026-11-21T10:00:00Z")));
        assert!(!w.holds("api", None, &l, at("2026-11-21T10:05:00Z")));
        assert_eq!(w.state(at("2026-11-21T10:05:00Z")), WindowState::Expired);
        assert_eq!(
            w.next_change(at("2026-11-21T09:00:00Z")),
            Some(at("2026-11-21T10:00:00Z"))
        );
        assert_eq!(
            w.next_change(at("2026-11-21T10:01:00Z")),
            Some(at("2026-11-21T10:05:00Z"))
        );
        assert_eq!(w.next_change(at("2026-11-21T10:06:00Z")), None);
    }

    #[test]
    fn ended_early_or_cancelled() {
        let mut w = window("2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z");
        w.stopped_at = Some(at("2026-11-21T10:20:00Z"));
        assert!(w.is_active(at("2026-11-21T10:19:59Z")));
        assert!(!w.is_active(at("2026-11-21T10:20:00Z")));
        assert_eq!(w.state(at("2026-11-21T10:30:00Z")), WindowState::Expired);
        let mut w = window("2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z");
        w.stopped_at = Some(at("2026-11-21T09:00:00Z"));
        assert_eq!(w.state(at("2026-11-21T09:30:00Z")), WindowState::Cancelled);
        assert!(!w.is_active(at("2026-11-21T10:30:00Z")));
        assert_eq!(w.next_change(at("2026-11-21T09:30:00Z")), None);
    }

    #[test]
    fn a_recurring_window_holds_every_sunday_at_two_in_paris_across_dst() {
        let paris = TimeZone::get("Europe/Paris").unwrap();
        let first = at("2026-10-18T00:00:00Z"); // 02:00 CEST
        let rule = Rule::parse("FREQ=WEEKLY;BYDAY=SU").unwrap();
        let mut w = window("2026-10-18T00:00:00Z", "2026-10-18T01:00:00Z");
        w.recurrence = Some(Recurrence::new(rule, paris, first).unwrap());
        // 25 October: 02:00 CEST is 00:00Z. 1 November: 02:00 CET is 01:00Z.
        assert!(w.is_active(at("2026-10-25T00:30:00Z")));
        assert!(!w.is_active(at("2026-11-01T00:30:00Z")));
        assert!(w.is_active(at("2026-11-01T01:30:00Z")));
        assert!(!w.is_active(at("2026-11-01T02:00:00Z")));
        assert_eq!(w.state(at("2026-11-01T02:00:00Z")), WindowState::Pending);
        assert_eq!(
            w.next_change(at("2026-11-01T02:00:00Z")),
            Some(at("2026-11-08T01:00:00Z"))
        );
        // Ending this week's occurrence early keeps next week's.
        w.cut = Some((at("2026-11-08T01:00:00Z"), at("2026-11-08T01:10:00Z")));
        assert!(!w.is_active(at("2026-11-08T01:20:00Z")));
        assert!(w.is_active(at("2026-11-15T01:20:00Z")));
        assert_eq!(
            w.spans(at("2026-11-08T00:00:00Z"), at("2026-11-16T00:00:00Z")),
            [
                (at("2026-11-08T01:00:00Z"), at("2026-11-08T01:10:00Z")),
                (at("2026-11-15T01:00:00Z"), at("2026-11-15T02:00:00Z")),
            ]
        );
        // Stopping the series.
        w.stopped_at = Some(at("2026-11-10T00:00:00Z"));
        assert!(!w.is_active(at("2026-11-15T01:20:00Z")));
        assert_eq!(w.state(at("2026-11-12T00:00:00Z")), WindowState::Expired);
    }

    #[test]
    fn scopes_cover_services_teams_and_selectors() {
        let l = labels(&[("alertname", "Down"), ("cluster", "eu-1")]);
        let by_team = Scope {
            teams: vec!["payments".into()],
            ..Scope::default()
        };
        assert!(by_team.covers("checkout", Some("payments"), &l));
        assert!(!by_team.covers("checkout", Some("platform"), &l));
        assert!(!by_team.covers("checkout", None, &l));
        let by_labels = Scope {
            matchers: vec![Matcher::from_api("cluster", "eu-.*", true, true).unwrap()],
            ..Scope::default()
        };
        assert!(by_labels.covers("anything", None, &l));
        assert!(!by_labels.covers("anything", None, &labels(&[("cluster", "us-1")])));
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        let now = at("2026-11-21T09:00:00Z");
        let max = SignedDuration::from_hours(24 * 7);
        let w = window("2026-11-21T10:00:00Z", "2026-11-21T09:30:00Z");
        assert!(matches!(
            w.validate(max, now),
            Err(WindowError::EndsBeforeStart { .. })
        ));
        let w = window("2026-11-21T10:00:00Z", "2026-12-21T10:00:00Z");
        let e = w.validate(max, now).unwrap_err().to_string();
        assert!(e.contains("longer than the maximum of 168h"), "{e}");
        let mut w = window("2026-11-21T10:00:00Z", "2026-11-21T11:00:00Z");
        w.scope = Scope::default();
        assert_eq!(w.validate(max, now), Err(WindowError::NoScope));
        let w = window("2026-11-21T07:00:00Z", "2026-11-21T08:00:00Z");
        assert!(matches!(
            w.validate(max, now),
            Err(WindowError::EndsInPast { .. })
        ));
    }
}
